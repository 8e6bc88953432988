//! On-disk storage of received instances and the pending/processed bookkeeping.
//!
//! Layout under `--out`:
//! `incoming/<study>/<series>/<sop>.dcm` (as received) and
//! `results/<study>/<series>/` (report files, `dicom/`, `done.json`), every name
//! sanitised with [`crate::report::file_stem`] so no UID can escape the folder.

use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, OpenFileOptions, file::ReadPreamble};
use serde::{Deserialize, Serialize};

use crate::report::file_stem;

/// Name of the marker written once a series has been measured.
pub const DONE_FILE: &str = "done.json";

/// Where everything lives under the `--out` folder.
#[derive(Debug, Clone)]
pub struct Layout {
    pub out: PathBuf,
}

/// A series, by its sanitised folder names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub study: String,
    pub series: String,
}

impl SeriesKey {
    /// Sanitises both UIDs (hostile values map to harmless single path components).
    pub fn new(study_uid: &str, series_uid: &str) -> SeriesKey {
        SeriesKey {
            study: file_stem(study_uid),
            series: file_stem(series_uid),
        }
    }
}

impl std::fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.study, self.series)
    }
}

impl Layout {
    pub fn new(out: &Path) -> Layout {
        Layout {
            out: out.to_path_buf(),
        }
    }
    pub fn incoming(&self) -> PathBuf {
        self.out.join("incoming")
    }
    pub fn results(&self) -> PathBuf {
        self.out.join("results")
    }
    pub fn series_incoming(&self, key: &SeriesKey) -> PathBuf {
        self.incoming().join(&key.study).join(&key.series)
    }
    pub fn series_results(&self, key: &SeriesKey) -> PathBuf {
        self.results().join(&key.study).join(&key.series)
    }
    pub fn instance_path(&self, key: &SeriesKey, sop_instance_uid: &str) -> PathBuf {
        self.series_incoming(key)
            .join(format!("{}.dcm", file_stem(sop_instance_uid)))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid file meta information: {0}")]
    Meta(String),
    #[error("data set could not be parsed: {0}")]
    Parse(String),
    #[error("data set has no {0}")]
    MissingUid(&'static str),
    #[error("{0} is not a valid UID (digits and dots only)")]
    InvalidUid(&'static str),
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl StoreError {
    /// Whether the sender is at fault (bad data) rather than this machine (disk).
    pub fn is_bad_data(&self) -> bool {
        !matches!(self, StoreError::Io { .. })
    }
}

/// One instance as it arrived on an association.
#[derive(Debug)]
pub struct Received<'a> {
    pub sop_class_uid: &'a str,
    pub sop_instance_uid: &'a str,
    pub transfer_syntax: &'a str,
    pub calling_ae: &'a str,
    /// The data set bytes, encoded in `transfer_syntax`.
    pub dataset: &'a [u8],
}

/// Where an instance was stored.
#[derive(Debug, Clone)]
pub struct Stored {
    pub key: SeriesKey,
    pub path: PathBuf,
}

/// Trailing padding of UI values (NUL) and of text values (space).
pub fn trim_uid(s: &str) -> &str {
    s.trim_matches(|c: char| c == '\0' || c.is_whitespace())
}

/// Writes one instance (preamble, file meta with the negotiated transfer syntax, data
/// set bytes as received) atomically and durably; returns only once it is on disk.
pub fn store_instance(layout: &Layout, rcv: &Received<'_>) -> Result<Stored, StoreError> {
    // The file meta only takes real UIDs (dicom-rs refuses to read anything else back).
    for (name, uid) in [
        ("Affected SOP Class UID", rcv.sop_class_uid),
        ("Affected SOP Instance UID", rcv.sop_instance_uid),
    ] {
        if !is_valid_uid(trim_uid(uid)) {
            return Err(StoreError::InvalidUid(name));
        }
    }
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(trim_uid(rcv.sop_class_uid))
        .media_storage_sop_instance_uid(trim_uid(rcv.sop_instance_uid))
        .transfer_syntax(trim_uid(rcv.transfer_syntax))
        .implementation_class_uid(crate::IMPLEMENTATION_CLASS_UID)
        .implementation_version_name(crate::IMPLEMENTATION_VERSION_NAME)
        .source_application_entity_title(rcv.calling_ae.trim())
        .build()
        .map_err(|e| StoreError::Meta(e.to_string()))?;
    let mut bytes = Vec::with_capacity(rcv.dataset.len() + 512);
    bytes.extend_from_slice(&[0u8; 128]);
    bytes.extend_from_slice(b"DICM");
    meta.write(&mut bytes)
        .map_err(|e| StoreError::Meta(e.to_string()))?;
    bytes.extend_from_slice(rcv.dataset);

    // Lengths and nesting are checked before dicom-rs sees the bytes (a lying length
    // allocates, deep nesting overflows the stack: docs/robustness.md).
    crate::dicom::precheck::check_bytes(&bytes, 132).map_err(StoreError::Parse)?;
    // Only the header is parsed: it names the study and series folder.
    let obj = crate::dicom::catch_panic(|| {
        OpenFileOptions::new()
            .read_preamble(ReadPreamble::Never)
            .read_until(tags::PIXEL_DATA)
            .from_reader(&bytes[128..])
    })
    .map_err(|m| StoreError::Parse(format!("internal error in the DICOM parser: {m}")))?
    .map_err(|e| StoreError::Parse(chain(&e)))?;
    let text = |tag, name| -> Result<String, StoreError> {
        let v = obj
            .element_opt(tag)
            .ok()
            .flatten()
            .and_then(|e| e.to_str().ok())
            .map(|s| trim_uid(&s).to_string())
            .unwrap_or_default();
        if v.is_empty() {
            Err(StoreError::MissingUid(name))
        } else {
            Ok(v)
        }
    };
    let study = text(tags::STUDY_INSTANCE_UID, "StudyInstanceUID")?;
    let series = text(tags::SERIES_INSTANCE_UID, "SeriesInstanceUID")?;
    let key = SeriesKey::new(&study, &series);
    let path = layout.instance_path(&key, trim_uid(rcv.sop_instance_uid));
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    crate::atomic_file::write_atomic(&path, |w| w.write_all(&bytes)).map_err(io_err(&path))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir).map_err(io_err(dir))?;
    }
    Ok(Stored { key, path })
}

/// PS3.5 9.1 UID syntax, loosely: 1 to 64 of digits and dots.
pub fn is_valid_uid(uid: &str) -> bool {
    !uid.is_empty() && uid.len() <= 64 && uid.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// `a: b: c` from an error and its sources (dicom-rs puts the detail in the sources).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Makes a rename in `dir` durable (the file itself is synced by `write_atomic`).
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// What the incoming folder of a series holds right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Number of `.dcm` files.
    pub instances: usize,
    /// Newest modification time among them (ns since the Unix epoch): re-sent
    /// instances overwrite files without changing the count, but do change this.
    pub newest_mtime_ns: u64,
}

pub fn snapshot(dir: &Path) -> io::Result<Snapshot> {
    let mut snap = Snapshot::default();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Skips temp files of writes in progress (".foramen-*.tmp").
        if name.starts_with('.') || !name.ends_with(".dcm") {
            continue;
        }
        let meta = entry.metadata()?;
        if !meta.is_file() {
            continue;
        }
        snap.instances += 1;
        let ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        snap.newest_mtime_ns = snap.newest_mtime_ns.max(ns);
    }
    Ok(snap)
}

/// The `done.json` marker of a measured series.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DoneMarker {
    pub schema: String,
    /// What was in the incoming folder when it was measured.
    pub snapshot: Snapshot,
    /// Instances the measurement read.
    pub instances_read: usize,
    /// Series status counts, e.g. "measured".
    pub statuses: Vec<String>,
    pub disclaimer: String,
}

pub const DONE_SCHEMA: &str = "foramen.serve-done/1";

pub fn read_done(layout: &Layout, key: &SeriesKey) -> Option<DoneMarker> {
    let bytes = std::fs::read(layout.series_results(key).join(DONE_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

pub fn write_done(layout: &Layout, key: &SeriesKey, marker: &DoneMarker) -> io::Result<()> {
    let path = layout.series_results(key).join(DONE_FILE);
    crate::atomic_file::write_atomic(&path, |w| {
        serde_json::to_writer_pretty(&mut *w, marker).map_err(io::Error::other)?;
        w.write_all(b"\n")
    })
}

/// Whether a series has instances not covered by its done marker.
pub fn needs_processing(layout: &Layout, key: &SeriesKey) -> bool {
    let Ok(snap) = snapshot(&layout.series_incoming(key)) else {
        return false;
    };
    if snap.instances == 0 {
        return false;
    }
    read_done(layout, key).is_none_or(|d| d.snapshot != snap)
}

/// Every series folder under `incoming/` (for the scan at start-up).
pub fn scan_incoming(layout: &Layout) -> Vec<SeriesKey> {
    let mut keys = Vec::new();
    let Ok(studies) = std::fs::read_dir(layout.incoming()) else {
        return keys;
    };
    for study in studies.flatten() {
        if !study.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(series) = std::fs::read_dir(study.path()) else {
            continue;
        };
        for s in series.flatten() {
            if s.file_type().is_ok_and(|t| t.is_dir()) {
                keys.push(SeriesKey {
                    study: study.file_name().to_string_lossy().into_owned(),
                    series: s.file_name().to_string_lossy().into_owned(),
                });
            }
        }
    }
    keys.sort();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Component;

    #[test]
    fn hostile_uids_stay_inside_the_incoming_folder() {
        let layout = Layout::new(Path::new("/srv/out"));
        for (study, series, sop) in [
            ("../../etc", "../x", "../../../passwd"),
            ("/abs/path", "..", "."),
            ("", "\0\0", "a/b\\c:d"),
            ("1.2.3", "1.2.3.4", &"9".repeat(500) as &str),
        ] {
            let key = SeriesKey::new(study, series);
            let p = layout.instance_path(&key, sop);
            let rel = p.strip_prefix(layout.incoming()).expect("under incoming");
            let parts: Vec<_> = rel.components().collect();
            assert_eq!(parts.len(), 3, "{p:?}");
            assert!(
                parts.iter().all(|c| matches!(c, Component::Normal(_))),
                "{p:?}"
            );
            let r = layout.series_results(&key);
            assert!(r.starts_with(layout.results()), "{r:?}");
            assert_eq!(
                r.strip_prefix(layout.results())
                    .unwrap()
                    .components()
                    .count(),
                2
            );
        }
    }

    fn dataset(study: &str, series: &str) -> Vec<u8> {
        use dicom_core::{DataElement, PrimitiveValue, VR};
        use dicom_object::InMemDicomObject;
        let obj = InMemDicomObject::from_element_iter([
            DataElement::new(
                tags::STUDY_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from(study),
            ),
            DataElement::new(
                tags::SERIES_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from(series),
            ),
        ]);
        let mut out = Vec::new();
        let ts = dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased();
        obj.write_dataset_with_ts(&mut out, &ts).unwrap();
        out
    }

    #[test]
    fn hostile_instance_is_stored_under_sanitised_names() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(&dir.path().join("out"));
        let data = dataset("../../../evil", "/tmp/abs");
        let rcv = Received {
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.4",
            sop_instance_uid: "../../x",
            transfer_syntax: "1.2.840.10008.1.2.1",
            calling_ae: "TEST",
            dataset: &data,
        };
        // A SOP Instance UID that is not a UID is refused (not stored at all).
        assert!(matches!(
            store_instance(&layout, &rcv),
            Err(StoreError::InvalidUid(_))
        ));
        assert!(!layout.incoming().exists());
        let rcv = Received {
            sop_instance_uid: "1.2.3.4\0",
            ..rcv
        };
        let stored = store_instance(&layout, &rcv).unwrap();
        assert_eq!(
            stored.path,
            layout.incoming().join("_.._.._evil/_tmp_abs/1.2.3.4.dcm")
        );
        let back = dicom_object::open_file(&stored.path).unwrap();
        assert_eq!(
            trim_uid(back.meta().transfer_syntax()),
            "1.2.840.10008.1.2.1"
        );
        let missing = dataset("", "1.2");
        let rcv = Received {
            dataset: &missing,
            ..rcv
        };
        assert!(matches!(
            store_instance(&layout, &rcv),
            Err(StoreError::MissingUid("StudyInstanceUID"))
        ));
    }

    #[test]
    fn uid_padding_is_trimmed() {
        assert_eq!(trim_uid("1.2.3\0"), "1.2.3");
        assert_eq!(trim_uid(" 1.2 "), "1.2");
    }

    #[test]
    fn snapshot_ignores_temp_files_and_marker_tracks_it() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let key = SeriesKey::new("1.2", "1.2.3");
        let inc = layout.series_incoming(&key);
        std::fs::create_dir_all(&inc).unwrap();
        std::fs::write(inc.join("a.dcm"), b"x").unwrap();
        std::fs::write(inc.join(".foramen-x.tmp"), b"x").unwrap();
        assert_eq!(snapshot(&inc).unwrap().instances, 1);
        assert!(needs_processing(&layout, &key));
        let marker = DoneMarker {
            schema: DONE_SCHEMA.into(),
            snapshot: snapshot(&inc).unwrap(),
            instances_read: 1,
            statuses: vec![],
            disclaimer: crate::DISCLAIMER.into(),
        };
        write_done(&layout, &key, &marker).unwrap();
        assert!(!needs_processing(&layout, &key));
        std::fs::write(inc.join("b.dcm"), b"x").unwrap();
        assert!(needs_processing(&layout, &key));
        assert_eq!(scan_incoming(&layout), vec![key]);
    }
}
