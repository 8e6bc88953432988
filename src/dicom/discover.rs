//! Finding DICOM files under a set of paths, whatever their names, and reading their
//! headers in parallel.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::header::{InstanceHeader, read_header};
use super::{DicomError, error_chain};

/// SOP Class UID of a DICOMDIR (Media Storage Directory Storage).
const DICOMDIR_SOP_CLASS: &str = "1.2.840.10008.1.3.10";

/// Why a file did not yield a DICOM instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum SkipReason {
    /// Zero-length file.
    Empty,
    /// Neither a Part-10 file (no `DICM` marker) nor a recognisable raw data set.
    NotDicom,
    /// A raw data set without the Part-10 file meta header (no transfer syntax stated).
    NoFileMeta,
    /// A DICOMDIR: an index of other files, not an instance itself.
    DicomDir,
    /// The path could not be read (permissions, broken link, symlink loop...).
    Io(String),
    /// A Part-10 file whose header could not be parsed.
    Unreadable(String),
    /// An MR or CT image whose header contradicts its pixel data (missing or absurd
    /// Rows, Columns, bits, frames; PixelData too short...): it cannot be decoded.
    InvalidImage(String),
    /// Not a regular file (a FIFO, socket or device): never opened, so never waited on.
    NotRegularFile(String),
    /// Same SOPInstanceUID and content as another file that was kept.
    Duplicate(String),
}

impl SkipReason {
    /// Short category used for counts in summaries.
    pub fn category(&self) -> &'static str {
        match self {
            SkipReason::Empty => "empty file",
            SkipReason::NotDicom => "not DICOM",
            SkipReason::NoFileMeta => "DICOM without file meta header",
            SkipReason::DicomDir => "DICOMDIR index",
            SkipReason::Io(_) => "unreadable path",
            SkipReason::Unreadable(_) => "corrupt DICOM header",
            SkipReason::InvalidImage(_) => "invalid image",
            SkipReason::NotRegularFile(_) => "not a regular file",
            SkipReason::Duplicate(_) => "duplicate instance",
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::Empty => f.write_str("empty file"),
            SkipReason::NotDicom => f.write_str("not a DICOM file (no 'DICM' marker at byte 0 or 128)"),
            SkipReason::NoFileMeta => f.write_str(
                "DICOM data set without the Part-10 file meta header (transfer syntax unknown); convert with dcmtk `dcmconv` first",
            ),
            SkipReason::DicomDir => f.write_str("DICOMDIR (a media index, not an image); files are found by scanning instead"),
            SkipReason::Io(m) => write!(f, "could not read: {m}"),
            SkipReason::Unreadable(m) => write!(f, "corrupt or unsupported DICOM header: {m}"),
            SkipReason::InvalidImage(m) => write!(f, "image cannot be decoded: {m}"),
            SkipReason::NotRegularFile(kind) => {
                write!(f, "not a regular file ({kind}): not opened")
            }
            SkipReason::Duplicate(of) => write!(f, "duplicate of {of} (same SOPInstanceUID and size)"),
        }
    }
}

/// A path that was looked at and not used.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedFile {
    pub path: PathBuf,
    pub reason: SkipReason,
}

/// Outcome of scanning a set of paths.
#[derive(Debug, Default, Serialize)]
pub struct Discovery {
    /// Number of regular files looked at.
    pub files_seen: usize,
    /// Headers of every readable DICOM instance, in path order.
    pub instances: Vec<InstanceHeader>,
    /// Everything else, in path order, with the reason.
    pub skipped: Vec<SkippedFile>,
}

/// What the first bytes of a file say about it.
pub(crate) enum Sniff {
    Part10 { has_preamble: bool },
    RawDataSet,
    Empty,
    Other,
}

pub(crate) fn sniff(path: &Path) -> std::io::Result<Sniff> {
    let mut buf = [0u8; 132];
    let mut file = File::open(path)?;
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(if n == 0 {
        Sniff::Empty
    } else if n == 132 && &buf[128..132] == b"DICM" {
        Sniff::Part10 { has_preamble: true }
    } else if n >= 4 && &buf[..4] == b"DICM" {
        Sniff::Part10 {
            has_preamble: false,
        }
    } else if n >= 8 && looks_like_raw_dataset(&buf[..n]) {
        Sniff::RawDataSet
    } else {
        Sniff::Other
    })
}

/// A raw (meta-less) data set starts with a little-endian tag of group 0x0008 (or
/// 0x0002 / 0x0000 command group) with an element number that is not absurd.
fn looks_like_raw_dataset(b: &[u8]) -> bool {
    let group = u16::from_le_bytes([b[0], b[1]]);
    let element = u16::from_le_bytes([b[2], b[3]]);
    matches!(group, 0x0000 | 0x0002 | 0x0008) && element < 0x2000
}

/// Lists every regular file under `paths` (recursively, following links), sorted and
/// deduplicated; unreadable entries become [`SkippedFile`]s.
pub fn list_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<SkippedFile>) {
    let mut files = BTreeSet::new();
    let mut skipped = Vec::new();
    for root in paths {
        // follow_links: study folders are often assembled from symlinks; walkdir
        // detects loops and reports them as errors, which we record.
        for entry in walkdir::WalkDir::new(root).follow_links(true) {
            match entry {
                Ok(e) if e.file_type().is_file() => {
                    files.insert(e.into_path());
                }
                Ok(e) if e.file_type().is_dir() => {}
                Ok(e) => {
                    // A FIFO would block the reader forever, a device never ends.
                    skipped.push(SkippedFile {
                        reason: SkipReason::NotRegularFile(file_kind(&e.file_type()).into()),
                        path: e.into_path(),
                    });
                }
                Err(err) => {
                    let path = err
                        .path()
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|| root.clone());
                    skipped.push(SkippedFile {
                        path,
                        reason: SkipReason::Io(error_chain(&err)),
                    });
                }
            }
        }
    }
    (files.into_iter().collect(), skipped)
}

fn file_kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "named pipe";
        }
        if t.is_socket() {
            return "socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "device";
        }
    }
    let _ = t;
    "special file"
}

/// Reads one file: its header when it is a readable DICOM instance, the reason otherwise.
pub fn examine(path: &Path) -> Result<InstanceHeader, SkipReason> {
    let kind = sniff(path).map_err(|e| SkipReason::Io(e.to_string()))?;
    let has_preamble = match kind {
        Sniff::Empty => return Err(SkipReason::Empty),
        Sniff::Other => return Err(SkipReason::NotDicom),
        Sniff::RawDataSet => return Err(SkipReason::NoFileMeta),
        Sniff::Part10 { has_preamble } => has_preamble,
    };
    match read_header(path, has_preamble) {
        Ok(h) if h.sop_class_uid == DICOMDIR_SOP_CLASS => Err(SkipReason::DicomDir),
        Ok(h) => match h.storage_problem() {
            Some(problem) => Err(SkipReason::InvalidImage(problem)),
            None => Ok(h),
        },
        Err(DicomError::Parse { message, .. }) | Err(DicomError::Panic { message, .. }) => {
            Err(SkipReason::Unreadable(message))
        }
        Err(e) => Err(SkipReason::Unreadable(error_chain(&e))),
    }
}

/// Finds and reads the headers of all DICOM files under `paths`, in parallel.
/// `on_file` is called once per file examined (for progress display).
pub fn discover(paths: &[PathBuf], on_file: &(dyn Fn() + Sync)) -> Discovery {
    let (files, mut skipped) = list_files(paths);
    let results: Vec<(PathBuf, Result<InstanceHeader, SkipReason>)> = files
        .par_iter()
        .map(|p| {
            let r = examine(p);
            on_file();
            (p.clone(), r)
        })
        .collect();
    let mut instances = Vec::with_capacity(results.len());
    for (path, r) in results {
        match r {
            Ok(h) => instances.push(h),
            Err(reason) => skipped.push(SkippedFile { path, reason }),
        }
    }
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Discovery {
        files_seen: files.len(),
        instances,
        skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_non_dicom_and_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.dcm");
        std::fs::write(&empty, b"").unwrap();
        let text = dir.path().join("notes.dcm");
        std::fs::write(
            &text,
            b"this is not a DICOM file, just text with a .dcm name",
        )
        .unwrap();
        let raw = dir.path().join("raw");
        // (0008,0005) CS 'ISO_IR 100' in explicit VR little endian, no meta header.
        std::fs::write(&raw, b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100").unwrap();
        assert_eq!(examine(&empty).unwrap_err(), SkipReason::Empty);
        assert_eq!(examine(&text).unwrap_err(), SkipReason::NotDicom);
        assert_eq!(examine(&raw).unwrap_err(), SkipReason::NoFileMeta);
        let mut truncated = vec![0u8; 128];
        truncated.extend_from_slice(b"DICM\x02\x00\x00\x00UL\x04\x00");
        let t = dir.path().join("truncated");
        std::fs::write(&t, &truncated).unwrap();
        assert!(matches!(
            examine(&t).unwrap_err(),
            SkipReason::Unreadable(_)
        ));
    }

    #[test]
    fn lists_files_recursively_sorted_and_deduplicated() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/z"), b"x").unwrap();
        std::fs::write(dir.path().join("a/y.IMA"), b"x").unwrap();
        let roots = vec![dir.path().to_path_buf(), dir.path().join("a/y.IMA")];
        let (files, skipped) = list_files(&roots);
        assert!(skipped.is_empty());
        assert_eq!(
            files,
            vec![dir.path().join("a/b/z"), dir.path().join("a/y.IMA")]
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_and_missing_paths_are_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("d/loop")).unwrap();
        let (_, skipped) = list_files(&[dir.path().to_path_buf(), dir.path().join("missing")]);
        assert!(skipped.iter().any(|s| s.path.ends_with("missing")));
        assert!(
            skipped
                .iter()
                .any(|s| matches!(&s.reason, SkipReason::Io(m) if m.contains("loop"))),
            "{skipped:?}"
        );
    }
}
