//! `studies.jsonl`: one JSON line per finished study, appended and synced as studies
//! complete, so that an interrupted run keeps what it measured (`--resume`).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::report::{SeriesEntry, Text};
use crate::selection::StudySelection;

/// File name of the journal in the output folder.
pub const JOURNAL: &str = "studies.jsonl";
/// Rows of the studies finished so far, in completion order (replaced by the sorted
/// measurements.csv at the end of the run).
pub const PARTIAL_CSV: &str = "measurements.partial.csv";
/// Layout of one journal line.
pub const LINE_SCHEMA: &str = "foramen.study/1";

/// One finished study.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudyLine {
    pub schema: Text,
    pub study_instance_uid: String,
    /// [`super::study_fingerprint`] of the study's input files and the run's options.
    pub fingerprint: String,
    /// Every series of the study, in report order (as in report.json `series[]`).
    pub series: Vec<SeriesEntry>,
}

/// Just the keys of a line (resume needs no more).
#[derive(Deserialize)]
struct LineKey {
    study_instance_uid: String,
    fingerprint: String,
}

/// What an earlier run left in the journal.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Study UID → fingerprint of its last complete line.
    pub fingerprints: HashMap<String, String>,
    /// Length of the journal up to its last complete line.
    pub valid_len: u64,
    /// Lines that could not be read (a line cut short by a kill is one).
    pub bad_lines: usize,
}

/// Reads the keys of every complete line; a last line without its newline (the run was
/// killed while writing it) and unreadable lines are counted and ignored.
pub fn recover(path: &Path) -> io::Result<Recovered> {
    let mut out = Recovered::default();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let mut pos = 0u64;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            out.bad_lines += 1;
            break;
        }
        pos += n as u64;
        out.valid_len = pos;
        match serde_json::from_slice::<LineKey>(&line) {
            Ok(k) => {
                out.fingerprints.insert(k.study_instance_uid, k.fingerprint);
            }
            Err(_) => out.bad_lines += 1,
        }
    }
    Ok(out)
}

/// Calls `f` with every complete, readable line, in file order.
pub fn for_each_line(path: &Path, mut f: impl FnMut(StudyLine)) -> io::Result<()> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 || line.last() != Some(&b'\n') {
            return Ok(());
        }
        if let Ok(l) = serde_json::from_slice::<StudyLine>(&line) {
            f(l);
        }
    }
}

/// Appends lines to the journal and rows to the partial CSV, syncing both per study.
pub struct JournalWriter {
    journal: File,
    journal_path: PathBuf,
    csv: ::csv::Writer<File>,
    csv_path: PathBuf,
}

impl JournalWriter {
    /// Opens the journal in `dir`: keeps its first `keep` bytes (0: a new journal) and
    /// starts a new partial CSV.
    pub fn open(dir: &Path, keep: u64) -> io::Result<JournalWriter> {
        std::fs::create_dir_all(dir)?;
        let journal_path = dir.join(JOURNAL);
        let journal = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&journal_path)?;
        // Drop a line cut short by a kill, so the next line starts on its own.
        journal.set_len(keep)?;
        let mut journal = OpenOptions::new().append(true).open(&journal_path)?;
        journal.flush()?;
        let csv_path = dir.join(PARTIAL_CSV);
        let mut csv = ::csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(File::create(&csv_path)?);
        csv.write_record(crate::report::csv::header())?;
        csv.flush()?;
        Ok(JournalWriter {
            journal,
            journal_path,
            csv,
            csv_path,
        })
    }

    /// Writes the CSV rows of a study (used for the studies an earlier run finished).
    pub fn write_rows(&mut self, study: &StudySelection, series: &[SeriesEntry]) -> io::Result<()> {
        let version = env!("CARGO_PKG_VERSION");
        let refs: Vec<&SeriesEntry> = series.iter().collect();
        for row in crate::report::csv::study_rows(study, &refs, version) {
            self.csv.serialize(row)?;
        }
        Ok(())
    }

    /// Appends one finished study and syncs it to disk before returning.
    pub fn append(&mut self, study: &StudySelection, line: &StudyLine) -> io::Result<()> {
        let mut text = serde_json::to_vec(line).map_err(io::Error::other)?;
        text.push(b'\n');
        // One write per line: a kill leaves at most one partial line, at the end.
        self.journal.write_all(&text)?;
        self.journal.sync_data()?;
        self.write_rows(study, &line.series)?;
        self.csv.flush()?;
        self.csv.get_ref().sync_data()
    }

    pub fn paths(&self) -> (&Path, &Path) {
        (&self.journal_path, &self.csv_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(uid: &str, fp: &str) -> String {
        let l = StudyLine {
            schema: LINE_SCHEMA.into(),
            study_instance_uid: uid.into(),
            fingerprint: fp.into(),
            series: Vec::new(),
        };
        serde_json::to_string(&l).unwrap() + "\n"
    }

    #[test]
    fn a_cut_last_line_is_ignored_and_dropped_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL);
        let (a, b, c) = (line("1.1", "x"), line("1.2", "y"), line("1.3", "z"));
        let cut = &c[..c.len() / 2];
        std::fs::write(&path, format!("{a}{b}not json\n{cut}")).unwrap();
        let r = recover(&path).unwrap();
        assert_eq!(r.fingerprints.len(), 2);
        assert_eq!(r.fingerprints["1.2"], "y");
        assert_eq!(r.bad_lines, 2);
        let whole = (a.len() + b.len() + "not json\n".len()) as u64;
        assert_eq!(r.valid_len, whole);
        let w = JournalWriter::open(dir.path(), r.valid_len).unwrap();
        drop(w);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
        let mut seen = Vec::new();
        for_each_line(&path, |l| seen.push(l.study_instance_uid)).unwrap();
        assert_eq!(seen, ["1.1", "1.2"]);
    }

    #[test]
    fn later_lines_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL);
        std::fs::write(&path, line("1.1", "old") + &line("1.1", "new")).unwrap();
        assert_eq!(recover(&path).unwrap().fingerprints["1.1"], "new");
        assert!(
            recover(&dir.path().join("none"))
                .unwrap()
                .fingerprints
                .is_empty()
        );
    }
}
