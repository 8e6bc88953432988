//! `--send-to`: C-STORE SCU for the DICOM result files (SR, SEG, SC) of a series.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dicom_ul::ClientAssociationOptions;
use dicom_ul::Pdu;
use dicom_ul::pdu::{PDataValueType, PresentationContextResultReason};

use super::Peer;
use super::scp::{command, encode_command, parse_command, status};
use super::store::trim_uid;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("reading {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("association with {0}: {1}")]
    Association(String, String),
    #[error("{0} was not accepted by the peer (no matching presentation context)")]
    NotAccepted(PathBuf),
    #[error("peer answered status {status:#06x} for {path}")]
    Status { path: PathBuf, status: u16 },
}

struct Outgoing {
    path: PathBuf,
    sop_class: String,
    sop_instance: String,
    transfer_syntax: String,
    dataset: Vec<u8>,
}

fn load(path: &Path) -> Result<Outgoing, SendError> {
    let err = |m: String| SendError::Read {
        path: path.to_path_buf(),
        message: m,
    };
    let obj = dicom_object::open_file(path).map_err(|e| err(e.to_string()))?;
    let meta = obj.meta();
    let mut dataset = Vec::new();
    obj.write_dataset(&mut dataset)
        .map_err(|e| err(e.to_string()))?;
    Ok(Outgoing {
        path: path.to_path_buf(),
        sop_class: trim_uid(&meta.media_storage_sop_class_uid).to_string(),
        sop_instance: trim_uid(&meta.media_storage_sop_instance_uid).to_string(),
        transfer_syntax: trim_uid(&meta.transfer_syntax).to_string(),
        dataset,
    })
}

/// Sends every `.dcm` file under `dir` in one association; returns how many were
/// stored. An empty or missing folder sends nothing (and opens no association).
pub fn send_dir(dir: &Path, peer: &Peer, calling_aet: &str) -> Result<usize, SendError> {
    let mut paths: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "dcm"))
        .map(|e| e.into_path())
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Ok(0);
    }
    let files = paths
        .iter()
        .map(|p| load(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut contexts: Vec<(String, String)> = files
        .iter()
        .map(|f| (f.sop_class.clone(), f.transfer_syntax.clone()))
        .collect();
    contexts.sort();
    contexts.dedup();
    let mut opts = ClientAssociationOptions::new()
        .calling_ae_title(calling_aet.to_string())
        .called_ae_title(peer.aet.clone())
        .read_timeout(Duration::from_secs(60))
        .write_timeout(Duration::from_secs(60))
        .connection_timeout(Duration::from_secs(10));
    for (class, ts) in &contexts {
        opts = opts.with_presentation_context(class.clone(), vec![ts.clone()]);
    }
    let who = format!("{}@{}:{}", peer.aet, peer.host, peer.port);
    let assoc_err =
        |e: dicom_ul::association::Error| SendError::Association(who.clone(), e.to_string());
    let mut assoc = opts
        .establish((peer.host.as_str(), peer.port))
        .map_err(assoc_err)?;
    let mut sent = 0;
    let result = (|| {
        for (n, f) in files.iter().enumerate() {
            let Some(pc) = assoc
                .presentation_contexts()
                .iter()
                .find(|pc| {
                    pc.reason == PresentationContextResultReason::Acceptance
                        && trim_uid(&pc.abstract_syntax) == f.sop_class
                        && trim_uid(&pc.transfer_syntax) == f.transfer_syntax
                })
                .map(|pc| pc.id)
            else {
                return Err(SendError::NotAccepted(f.path.clone()));
            };
            let message_id = (n % 0xFFFF) as u16 + 1;
            let cmd = encode_command(&[
                (0x0002, f.sop_class.as_bytes().to_vec()),
                (0x0100, command::C_STORE_RQ.to_le_bytes().to_vec()),
                (0x0110, message_id.to_le_bytes().to_vec()),
                (0x0700, 0u16.to_le_bytes().to_vec()),
                (0x0800, 0u16.to_le_bytes().to_vec()),
                (0x1000, f.sop_instance.as_bytes().to_vec()),
            ]);
            assoc
                .send(&super::scp::command_pdu(pc, cmd))
                .map_err(assoc_err)?;
            {
                let mut w = assoc.send_pdata(pc);
                w.write_all(&f.dataset)
                    .and_then(|_| w.finish())
                    .map_err(|e| SendError::Association(who.clone(), e.to_string()))?;
            }
            let rsp = match assoc.receive().map_err(assoc_err)? {
                Pdu::PData { data } => data
                    .into_iter()
                    .filter(|v| v.value_type == PDataValueType::Command)
                    .flat_map(|v| v.data)
                    .collect::<Vec<u8>>(),
                other => {
                    return Err(SendError::Association(
                        who.clone(),
                        format!("unexpected {}", other.short_description()),
                    ));
                }
            };
            let st = parse_command(&rsp)
                .map_err(|e| SendError::Association(who.clone(), e.to_string()))?
                .status
                .unwrap_or(status::CANNOT_UNDERSTAND);
            // 0xB000-0xBFFF are warnings: the instance was stored.
            if st != status::SUCCESS && (st & 0xF000) != 0xB000 {
                return Err(SendError::Status {
                    path: f.path.clone(),
                    status: st,
                });
            }
            sent += 1;
        }
        Ok(())
    })();
    match result {
        Ok(()) => {
            let _ = assoc.release();
            Ok(sent)
        }
        Err(e) => {
            let _ = assoc.abort();
            Err(e)
        }
    }
}
