//! Atomic file output: write to a temporary file in the target directory, then rename,
//! so a reader never sees a half-written file.

use std::io::{self, Write};
use std::path::Path;

/// Writes a file atomically through `write`, readable by all (reports are meant to be
/// shared; temp files would otherwise keep their owner-only mode). The parent directory
/// is created if needed.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    write_atomic_mode(path, 0o644, write)
}

/// [`write_atomic`] without the fsync: readers still never see a partial file, but after
/// a power loss the file may be missing or empty. For outputs that a re-run regenerates
/// (images, DICOM results), where the fsync would be a large share of their cost.
pub fn write_atomic_unsynced(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    write_atomic_inner(path, 0o644, false, write)
}

/// [`write_atomic`] with the Unix permission bits of the new file (ignored elsewhere).
pub fn write_atomic_mode(
    path: &Path,
    mode: u32,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    write_atomic_inner(path, mode, true, write)
}

fn write_atomic_inner(
    path: &Path,
    mode: u32,
    sync: bool,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".foramen-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut tmp = builder.tempfile_in(dir)?;
    {
        let mut w = io::BufWriter::new(tmp.as_file_mut());
        write(&mut w)?;
        w.flush()?;
    }
    if sync {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Name of the lock file in an output folder.
pub const LOCK_FILE: &str = ".foramen.lock";

/// An exclusive lock on an output folder, held until dropped, so two runs writing to the
/// same folder (e.g. two PACS hook invocations) take turns instead of interleaving.
/// The lock is advisory (`flock`) and released by the OS if the process dies.
#[derive(Debug)]
pub struct OutputLock {
    _file: std::fs::File,
}

impl OutputLock {
    /// Waits up to `wait` for the lock; `Ok(None)` when another run still holds it.
    pub fn acquire(dir: &Path, wait: std::time::Duration) -> io::Result<Option<OutputLock>> {
        use fs4::fs_std::FileExt as _;
        std::fs::create_dir_all(dir)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))?;
        let deadline = std::time::Instant::now() + wait;
        loop {
            if file.try_lock_exclusive()? {
                return Ok(Some(OutputLock { _file: file }));
            }
            if std::time::Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_lock_is_exclusive_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let zero = std::time::Duration::ZERO;
        let held = OutputLock::acquire(dir.path(), zero).unwrap();
        assert!(held.is_some());
        // flock locks belong to the open file description: a second open must wait.
        assert!(OutputLock::acquire(dir.path(), zero).unwrap().is_none());
        drop(held);
        assert!(OutputLock::acquire(dir.path(), zero).unwrap().is_some());
    }

    #[test]
    fn replaces_content_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/report.json");
        write_atomic(&p, |w| w.write_all(b"one")).unwrap();
        write_atomic(&p, |w| w.write_all(b"two")).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let failed = write_atomic(&p, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("boom"))
        });
        assert!(failed.is_err());
        assert_eq!(
            std::fs::read(&p).unwrap(),
            b"two",
            "a failed write must not clobber the old file"
        );
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
