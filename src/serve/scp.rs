//! One association: negotiation, DIMSE command sets (implicit VR little endian,
//! parsed here because dicom-ul works at PDU level), C-ECHO and C-STORE.

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};

use dicom_ul::association::server::AccessControl;
use dicom_ul::pdu::{
    AssociationRJServiceUserReason, PDataValue, PDataValueType, PresentationContextResultReason,
    UserIdentity,
};
use dicom_ul::{Pdu, ServerAssociationOptions};

use super::store::{self, Layout, Received, SeriesKey, trim_uid};

/// DIMSE command fields (PS3.7 E.1).
pub mod command {
    pub const C_STORE_RQ: u16 = 0x0001;
    pub const C_ECHO_RQ: u16 = 0x0030;
    pub const RESPONSE_BIT: u16 = 0x8000;
    /// CommandDataSetType value meaning "no data set follows".
    pub const NO_DATASET: u16 = 0x0101;
}

/// DIMSE status codes we send.
pub mod status {
    pub const SUCCESS: u16 = 0x0000;
    pub const UNRECOGNIZED_OPERATION: u16 = 0x0211;
    pub const SOP_CLASS_NOT_SUPPORTED: u16 = 0x0122;
    /// Out of resources (storage failed on this side).
    pub const OUT_OF_RESOURCES: u16 = 0xA700;
    /// Cannot understand (the data set is unusable).
    pub const CANNOT_UNDERSTAND: u16 = 0xC000;
}

/// The command-set fields this SCP uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DimseCommand {
    pub command_field: u16,
    pub message_id: u16,
    pub affected_sop_class_uid: Option<String>,
    pub affected_sop_instance_uid: Option<String>,
    pub has_dataset: bool,
    /// Status (responses only).
    pub status: Option<u16>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DimseError {
    #[error("command set truncated at byte {0}")]
    Truncated(usize),
    #[error("command element ({0:04X},{1:04X}) has a bad length {2}")]
    BadLength(u16, u16, u32),
    #[error("command set has no CommandField")]
    NoCommandField,
}

/// Parses a command set (implicit VR little endian, group 0000 only).
pub fn parse_command(bytes: &[u8]) -> Result<DimseCommand, DimseError> {
    let mut cmd = DimseCommand {
        has_dataset: true,
        ..DimseCommand::default()
    };
    let mut field = None;
    let mut pos = 0usize;
    while pos < bytes.len() {
        let Some(head) = bytes.get(pos..pos + 8) else {
            return Err(DimseError::Truncated(pos));
        };
        let group = u16::from_le_bytes([head[0], head[1]]);
        let elem = u16::from_le_bytes([head[2], head[3]]);
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let start = pos + 8;
        // Undefined lengths (0xFFFFFFFF) are not allowed in a command set.
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| start.checked_add(l))
            .filter(|&e| e <= bytes.len())
            .ok_or(DimseError::BadLength(group, elem, len))?;
        let value = &bytes[start..end];
        let us = || -> Result<u16, DimseError> {
            match value {
                [a, b] => Ok(u16::from_le_bytes([*a, *b])),
                _ => Err(DimseError::BadLength(group, elem, len)),
            }
        };
        let ui = || trim_uid(&String::from_utf8_lossy(value)).to_string();
        if group == 0x0000 {
            match elem {
                0x0002 => cmd.affected_sop_class_uid = Some(ui()),
                0x0100 => field = Some(us()?),
                0x0110 => cmd.message_id = us()?,
                0x0800 => cmd.has_dataset = us()? != command::NO_DATASET,
                0x0900 => cmd.status = Some(us()?),
                0x1000 => cmd.affected_sop_instance_uid = Some(ui()),
                _ => {}
            }
        }
        pos = end;
    }
    cmd.command_field = field.ok_or(DimseError::NoCommandField)?;
    Ok(cmd)
}

/// Encodes a command set: group length first, then the elements in tag order.
pub fn encode_command(elements: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut sorted: Vec<_> = elements.iter().collect();
    sorted.sort_by_key(|(e, _)| *e);
    for (elem, value) in sorted {
        let mut v = value.clone();
        if v.len() % 2 == 1 {
            v.push(0); // UI padding
        }
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&elem.to_le_bytes());
        body.extend_from_slice(&(v.len() as u32).to_le_bytes());
        body.extend_from_slice(&v);
    }
    let mut out = Vec::with_capacity(body.len() + 12);
    out.extend_from_slice(&[0, 0, 0, 0, 4, 0, 0, 0]);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// The response to `rq` with `status`.
pub fn response(rq: &DimseCommand, status: u16) -> Vec<u8> {
    let us = |v: u16| v.to_le_bytes().to_vec();
    let mut el = vec![
        (0x0100, us(rq.command_field | command::RESPONSE_BIT)),
        (0x0120, us(rq.message_id)),
        (0x0800, us(command::NO_DATASET)),
        (0x0900, us(status)),
    ];
    if let Some(c) = &rq.affected_sop_class_uid {
        el.push((0x0002, c.as_bytes().to_vec()));
    }
    if let Some(i) = &rq.affected_sop_instance_uid {
        el.push((0x1000, i.as_bytes().to_vec()));
    }
    encode_command(&el)
}

/// Calling AE allow-list (empty: anyone).
#[derive(Debug, Clone)]
pub struct AllowList(pub Vec<String>);

impl AccessControl for AllowList {
    fn check_access(
        &self,
        _this_ae_title: &str,
        calling_ae_title: &str,
        _called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        let calling = calling_ae_title.trim();
        if self.0.is_empty() || self.0.iter().any(|a| a.trim() == calling) {
            Ok(())
        } else {
            Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized)
        }
    }
}

/// What one association did (for the log line).
#[derive(Debug, Default)]
pub struct Summary {
    pub calling_ae: String,
    pub stored: usize,
    pub failed: usize,
    pub echoes: usize,
    pub bytes: u64,
    pub sop_classes: std::collections::BTreeSet<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScpError {
    #[error("association not established: {0}")]
    Establish(String),
    #[error("association: {0}")]
    Protocol(String),
    #[error("association exceeded --max-bytes-per-association ({0} bytes)")]
    TooLarge(u64),
}

/// Settings an association needs.
pub struct ScpConfig<'a> {
    pub aet: &'a str,
    pub allow: &'a AllowList,
    pub max_pdu: u32,
    pub max_bytes: u64,
    pub idle_timeout: std::time::Duration,
    pub layout: &'a Layout,
    pub shutdown: &'a AtomicBool,
    /// Called after each instance is durably stored.
    pub on_stored: &'a (dyn Fn(&SeriesKey) + Sync),
}

/// Runs one association to its end; never panics on what the peer sends.
pub fn handle(stream: TcpStream, cfg: &ScpConfig<'_>) -> Result<Summary, ScpError> {
    let mut opts = ServerAssociationOptions::new()
        .ae_access_control(cfg.allow.clone())
        .ae_title(cfg.aet)
        .max_pdu_length(cfg.max_pdu)
        .strict(true)
        .read_timeout(cfg.idle_timeout)
        .write_timeout(cfg.idle_timeout);
    for uid in super::ABSTRACT_SYNTAXES {
        opts = opts.with_abstract_syntax(*uid);
    }
    for uid in super::TRANSFER_SYNTAXES {
        opts = opts.with_transfer_syntax(*uid);
    }
    let mut assoc = opts
        .establish(stream)
        .map_err(|e| ScpError::Establish(e.to_string()))?;
    let mut sum = Summary {
        calling_ae: dicom_ul::association::Association::peer_ae_title(&assoc)
            .trim()
            .to_string(),
        ..Summary::default()
    };
    let mut cmd_buf: Vec<u8> = Vec::new();
    let mut data_buf: Vec<u8> = Vec::new();
    let mut pending: Option<(u8, DimseCommand)> = None;
    loop {
        if cfg.shutdown.load(Ordering::Relaxed) {
            let _ = assoc.abort();
            return Err(ScpError::Protocol("aborted: server shutting down".into()));
        }
        let pdu = match assoc.receive() {
            Ok(p) => p,
            Err(e) => return Err(ScpError::Protocol(e.to_string())),
        };
        match pdu {
            Pdu::PData { data } => {
                for pdv in data {
                    sum.bytes += pdv.data.len() as u64;
                    if sum.bytes > cfg.max_bytes {
                        let _ = assoc.abort();
                        return Err(ScpError::TooLarge(cfg.max_bytes));
                    }
                    let pc = pdv.presentation_context_id;
                    match pdv.value_type {
                        PDataValueType::Command => {
                            cmd_buf.extend_from_slice(&pdv.data);
                            if !pdv.is_last {
                                continue;
                            }
                            let cmd = match parse_command(&cmd_buf) {
                                Ok(c) => c,
                                Err(e) => {
                                    let _ = assoc.abort();
                                    return Err(ScpError::Protocol(e.to_string()));
                                }
                            };
                            cmd_buf.clear();
                            if cmd.has_dataset {
                                data_buf.clear();
                                pending = Some((pc, cmd));
                            } else {
                                let st = if cmd.command_field == command::C_ECHO_RQ {
                                    sum.echoes += 1;
                                    status::SUCCESS
                                } else {
                                    status::UNRECOGNIZED_OPERATION
                                };
                                send_response(&mut assoc, pc, &cmd, st)?;
                            }
                        }
                        PDataValueType::Data => {
                            if pending.is_none() {
                                let _ = assoc.abort();
                                return Err(ScpError::Protocol(
                                    "data set without a command".into(),
                                ));
                            }
                            data_buf.extend_from_slice(&pdv.data);
                            if !pdv.is_last {
                                continue;
                            }
                            let Some((pc, cmd)) = pending.take() else {
                                continue;
                            };
                            let st = if cmd.command_field == command::C_STORE_RQ {
                                store(&assoc, pc, &cmd, &data_buf, cfg, &mut sum)
                            } else {
                                status::UNRECOGNIZED_OPERATION
                            };
                            data_buf = Vec::new();
                            send_response(&mut assoc, pc, &cmd, st)?;
                        }
                    }
                }
            }
            Pdu::ReleaseRQ => {
                let _ = assoc.send(&Pdu::ReleaseRP);
                return Ok(sum);
            }
            Pdu::AbortRQ { .. } => {
                return Err(ScpError::Protocol("aborted by the peer".into()));
            }
            other => {
                let _ = assoc.abort();
                return Err(ScpError::Protocol(format!(
                    "unexpected PDU {}",
                    other.short_description()
                )));
            }
        }
    }
}

/// A P-DATA PDU carrying one whole DIMSE command set.
pub fn command_pdu(pc: u8, data: Vec<u8>) -> Pdu {
    Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: pc,
            value_type: PDataValueType::Command,
            is_last: true,
            data,
        }],
    }
}

fn send_response(
    assoc: &mut dicom_ul::ServerAssociation<TcpStream>,
    pc: u8,
    rq: &DimseCommand,
    st: u16,
) -> Result<(), ScpError> {
    assoc
        .send(&command_pdu(pc, response(rq, st)))
        .map_err(|e| ScpError::Protocol(format!("sending response: {e}")))
}

/// Stores one C-STORE data set; returns the DIMSE status to answer with.
fn store(
    assoc: &dicom_ul::ServerAssociation<TcpStream>,
    pc: u8,
    cmd: &DimseCommand,
    dataset: &[u8],
    cfg: &ScpConfig<'_>,
    sum: &mut Summary,
) -> u16 {
    let Some(ctx) = assoc
        .presentation_contexts()
        .iter()
        .find(|c| c.id == pc && c.reason == PresentationContextResultReason::Acceptance)
    else {
        sum.failed += 1;
        return status::SOP_CLASS_NOT_SUPPORTED;
    };
    let sop_class = cmd
        .affected_sop_class_uid
        .as_deref()
        .unwrap_or(&ctx.abstract_syntax);
    let Some(sop_instance) = cmd.affected_sop_instance_uid.as_deref() else {
        sum.failed += 1;
        return status::CANNOT_UNDERSTAND;
    };
    let rcv = Received {
        sop_class_uid: sop_class,
        sop_instance_uid: sop_instance,
        transfer_syntax: &ctx.transfer_syntax,
        calling_ae: &sum.calling_ae,
        dataset,
    };
    match store::store_instance(cfg.layout, &rcv) {
        Ok(stored) => {
            sum.stored += 1;
            sum.sop_classes.insert(trim_uid(sop_class).to_string());
            tracing::debug!(
                "stored {} from {} ({} bytes)",
                stored.path.display(),
                sum.calling_ae,
                dataset.len()
            );
            (cfg.on_stored)(&stored.key);
            status::SUCCESS
        }
        Err(e) => {
            sum.failed += 1;
            tracing::warn!("instance from {} not stored: {e}", sum.calling_ae);
            if e.is_bad_data() {
                status::CANNOT_UNDERSTAND
            } else {
                status::OUT_OF_RESOURCES
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_rq() -> Vec<u8> {
        encode_command(&[
            (0x0002, b"1.2.840.10008.5.1.4.1.1.4".to_vec()),
            (0x0100, 0x0001u16.to_le_bytes().to_vec()),
            (0x0110, 7u16.to_le_bytes().to_vec()),
            (0x0700, 0u16.to_le_bytes().to_vec()),
            (0x0800, 0u16.to_le_bytes().to_vec()),
            (0x1000, b"1.2.3.4.5".to_vec()),
        ])
    }

    #[test]
    fn parses_a_store_request() {
        let cmd = parse_command(&store_rq()).unwrap();
        assert_eq!(cmd.command_field, command::C_STORE_RQ);
        assert_eq!(cmd.message_id, 7);
        assert!(cmd.has_dataset);
        assert_eq!(
            cmd.affected_sop_class_uid.as_deref(),
            Some("1.2.840.10008.5.1.4.1.1.4")
        );
        // Odd-length UID was padded with NUL on encoding and trimmed on parsing.
        assert_eq!(cmd.affected_sop_instance_uid.as_deref(), Some("1.2.3.4.5"));
    }

    #[test]
    fn echo_has_no_dataset_and_response_round_trips() {
        let rq = encode_command(&[
            (0x0002, b"1.2.840.10008.1.1".to_vec()),
            (0x0100, 0x0030u16.to_le_bytes().to_vec()),
            (0x0110, 1u16.to_le_bytes().to_vec()),
            (0x0800, 0x0101u16.to_le_bytes().to_vec()),
        ]);
        let cmd = parse_command(&rq).unwrap();
        assert!(!cmd.has_dataset);
        let rsp = parse_command(&response(&cmd, status::SUCCESS)).unwrap();
        assert_eq!(rsp.command_field, 0x8030);
        assert!(!rsp.has_dataset);
        assert_eq!(rsp.status, Some(status::SUCCESS));
        // Group length counts every byte after it.
        let r = response(&cmd, 0);
        assert_eq!(
            u32::from_le_bytes([r[8], r[9], r[10], r[11]]) as usize,
            r.len() - 12
        );
    }

    #[test]
    fn hostile_command_sets_are_errors_not_panics() {
        let good = store_rq();
        for cut in 0..good.len() {
            let _ = parse_command(&good[..cut]);
        }
        assert_eq!(parse_command(&good[..5]), Err(DimseError::Truncated(0)));
        let mut huge = vec![0, 0, 0, 1];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            parse_command(&huge),
            Err(DimseError::BadLength(0, 0x0100, u32::MAX))
        ));
        // CommandField with a 4-byte value.
        let bad = encode_command(&[(0x0100, vec![1, 0, 0, 0])]);
        assert!(parse_command(&bad).is_err());
        assert_eq!(parse_command(&[]), Err(DimseError::NoCommandField));
    }

    #[test]
    fn allow_list() {
        let any = AllowList(vec![]);
        assert!(any.check_access("FORAMEN", "X", "FORAMEN", None).is_ok());
        let only = AllowList(vec!["ONLYME".into()]);
        assert!(only.check_access("FORAMEN", "ONLYME ", "Y", None).is_ok());
        assert!(only.check_access("FORAMEN", "TESTSCU", "Y", None).is_err());
    }
}
