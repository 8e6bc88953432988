//! Cohort runs of `foramen measure`: studies measured a bounded number at a time, each
//! one's result appended to `studies.jsonl` (and its rows to a partial CSV) as soon as
//! it is done; `--resume` skips the studies an interrupted run finished; `--shard K/N`
//! measures one deterministic part of the input; [`merge`] joins the parts.
//! Design and formats: docs/scaling.md.

pub mod journal;
pub mod merge;
pub mod shard;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use crate::dicom::discover;
use crate::pipeline::{
    MeasureOptions, build_report, grade_entry, run_study, select_studies, study_groups,
    take_volume_files,
};
use crate::report::Report;
pub use crate::report::ShardInfo;

use crate::series::{group_series, study_key};
use journal::{JOURNAL, JournalWriter, LINE_SCHEMA, StudyLine};
pub use shard::{Shard, ShardError, shard_of, studies_digest};

#[derive(Debug, thiserror::Error)]
pub enum CohortError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "study {0} has no line in studies.jsonl after measurement (was the file changed during the run?)"
    )]
    Missing(String),
}

#[derive(Debug, Clone, Default)]
pub struct CohortOptions {
    pub measure: MeasureOptions,
    /// Output folder: `studies.jsonl` and the partial CSV are written there.
    pub out: PathBuf,
    pub shard: Option<Shard>,
    /// Keep the studies of an earlier run's journal whose fingerprint still matches.
    pub resume: bool,
    /// Studies being measured at once (bounds memory); 0: twice the worker threads.
    pub max_in_flight: usize,
}

/// The outcome of [`run`].
#[derive(Debug)]
pub struct CohortRun {
    pub report: Report,
    /// DICOM instances found in the whole input (every shard's).
    pub instances_found: usize,
    /// Studies taken from the journal of an earlier run.
    pub studies_resumed: usize,
    /// Studies measured by this run.
    pub studies_measured: usize,
    /// Unreadable journal lines ignored on resume (a line cut short by a kill is one).
    pub journal_lines_ignored: usize,
    /// With `--resume`: studies whose QC decisions were dropped because they changed.
    pub qc_dropped: Vec<String>,
}

/// Digest of everything besides the input files that changes a study's analysis: the
/// build, series override, identifier policy and salt, and which files are written.
/// Not the grading thresholds: studies read back from the journal are re-graded with
/// the run's thresholds ([`grade_entry`]), so a new threshold file re-grades without
/// re-segmenting.
pub fn options_digest(opts: &MeasureOptions) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        // Length-prefixed, so that fields cannot run into each other.
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(env!("CARGO_PKG_VERSION").as_bytes());
    field(option_env!("FORAMEN_GIT_COMMIT").unwrap_or("").as_bytes());
    field(opts.series.as_deref().unwrap_or("").as_bytes());
    field(&[
        u8::from(opts.outputs.qc_dir.is_some()),
        u8::from(opts.outputs.masks_dir.is_some()),
        u8::from(opts.ids.include),
    ]);
    let dicom = opts.outputs.dicom_dir.as_deref().unwrap_or(Path::new(""));
    field(dicom.as_os_str().as_encoded_bytes());
    field(&opts.ids.salt);
    field(opts.modality.map_or("", |m| m.as_str()).as_bytes());
    field(opts.weighting.map_or("", |w| w.as_str()).as_bytes());
    h.finalize().into()
}

/// `sha256:` + hex SHA-256 over the study's files (sorted paths, sizes, modification
/// times in ns) and the options digest: a changed, added or removed file, or other
/// options, make another fingerprint, and the study is measured again.
pub fn study_fingerprint(paths: &[PathBuf], options: &[u8; 32]) -> String {
    let mut paths: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    paths.sort_unstable();
    let mut h = Sha256::new();
    h.update(options);
    for p in paths {
        let bytes = p.as_os_str().as_encoded_bytes();
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
        let (size, mtime) = std::fs::metadata(p).map_or((u64::MAX, 0), |m| {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            (m.len(), mtime)
        });
        h.update(size.to_le_bytes());
        h.update(mtime.to_le_bytes());
    }
    format!("sha256:{}", shard::hex(&h.finalize()))
}

/// Grades journal entries with this run's thresholds (they may have been measured by
/// an earlier run with others). Series that were not measured keep their entries.
fn regrade(series: &mut [crate::report::SeriesEntry], thresholds: &crate::grading::Thresholds) {
    for e in series
        .iter_mut()
        .filter(|e| e.status == crate::report::Status::Measured)
    {
        grade_entry(e, thresholds);
    }
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> CohortError {
    let path = path.to_path_buf();
    move |source| CohortError::Io { what, path, source }
}

/// Measures every study of `inputs` (of the shard, if any), streaming results to the
/// journal in `opts.out`, and returns the report of all of them, in the same order and
/// with the same content as [`crate::pipeline::measure`] would give. `on_study(done,
/// total)` is called as studies finish.
pub fn run(
    inputs: &[PathBuf],
    opts: &CohortOptions,
    on_file: &(dyn Fn() + Sync),
    on_study: &(dyn Fn(usize, usize) + Sync),
) -> Result<CohortRun, CohortError> {
    let started = SystemTime::now();
    let mut found = discover::discover(inputs, on_file);
    let mut files = take_volume_files(&mut found.skipped);
    let instances_found = found.instances.len();
    let shard_info = opts.shard.map(|shard| {
        let mut all: BTreeSet<String> = found.instances.iter().map(study_key).collect();
        all.extend(files.iter().map(|f| crate::pipeline::file_uid(f)));
        let info = ShardInfo {
            k: shard.k,
            n: shard.n,
            input_studies: all.len(),
            input_digest: studies_digest(all.iter().map(String::as_str)),
        };
        found.instances.retain(|h| shard.contains(&study_key(h)));
        files.retain(|f| shard.contains(&crate::pipeline::file_uid(f)));
        // Files that are no study's are reported once, by shard 0.
        if shard.k != 0 {
            found.skipped.clear();
        }
        info
    });
    let instances_read = found.instances.len();
    let series = group_series(std::mem::take(&mut found.instances));
    let selections = select_studies(&series, &files, &opts.measure);
    let groups = study_groups(&series, &files, &selections);
    let options = options_digest(&opts.measure);
    let fingerprints: Vec<String> = groups
        .par_iter()
        .map(|(_, input)| study_fingerprint(&input.paths(), &options))
        .collect();

    let journal_path = opts.out.join(JOURNAL);
    let recovered = if opts.resume {
        journal::recover(&journal_path).map_err(io_err("reading", &journal_path))?
    } else {
        journal::Recovered::default()
    };
    let mut writer = JournalWriter::open(&opts.out, recovered.valid_len)
        .map_err(io_err("opening", &journal_path))?;
    let is_done = |g: usize| {
        recovered
            .fingerprints
            .get(&groups[g].0.study_instance_uid)
            .is_some_and(|fp| *fp == fingerprints[g])
    };
    let index: HashMap<&str, usize> = groups
        .iter()
        .enumerate()
        .map(|(g, (sel, _))| (sel.study_instance_uid.as_str(), g))
        .collect();
    let todo: Vec<usize> = (0..groups.len()).filter(|&g| !is_done(g)).collect();
    let resumed = groups.len() - todo.len();
    if resumed > 0 {
        // The partial CSV starts again with the rows of the studies kept.
        let mut written = HashSet::new();
        let mut failed = None;
        journal::for_each_line(&journal_path, |mut line| {
            let Some(&g) = index.get(line.study_instance_uid.as_str()) else {
                return;
            };
            if failed.is_none()
                && is_done(g)
                && line.fingerprint == fingerprints[g]
                && written.insert(g)
            {
                regrade(&mut line.series, &opts.measure.thresholds);
                failed = writer.write_rows(groups[g].0, &line.series).err();
            }
        })
        .map_err(io_err("reading", &journal_path))?;
        if let Some(e) = failed {
            return Err(io_err("writing", writer.paths().1)(e));
        }
        tracing::info!(
            "resuming: {resumed} of {} studies already done",
            groups.len()
        );
    }

    // Worker threads each hold one study at a time and run it on the rayon pool, so at
    // most `in_flight` studies (volumes, masks, images) exist at once whatever the
    // cohort size, and `--jobs` still bounds the CPU used.
    let in_flight = match opts.max_in_flight {
        0 => 2 * rayon::current_num_threads(),
        n => n,
    }
    .clamp(1, todo.len().max(1));
    let next = AtomicUsize::new(0);
    let total = groups.len();
    let mut done = resumed;
    let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, StudyLine)>(in_flight);
    let written: Result<(), CohortError> = std::thread::scope(|scope| {
        for _ in 0..in_flight {
            let tx = tx.clone();
            let (next, todo, groups, fingerprints) = (&next, &todo, &groups, &fingerprints);
            scope.spawn(move || {
                while let Some(&g) = todo.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let (sel, input) = &groups[g];
                    let series = rayon::scope(|_| run_study(sel, input, &opts.measure));
                    let line = StudyLine {
                        schema: LINE_SCHEMA.into(),
                        study_instance_uid: sel.study_instance_uid.clone(),
                        fingerprint: fingerprints[g].clone(),
                        series,
                    };
                    if tx.send((g, line)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (g, line) in rx {
            writer
                .append(groups[g].0, &line)
                .map_err(io_err("writing", &journal_path))?;
            done += 1;
            on_study(done, total);
        }
        Ok(())
    });
    written?;
    drop(writer);

    // The report, in report order, from the journal (resumed and new studies alike).
    let mut loaded: HashMap<usize, Vec<crate::report::SeriesEntry>> = HashMap::new();
    journal::for_each_line(&journal_path, |mut line| {
        if let Some(&g) = index.get(line.study_instance_uid.as_str())
            && line.fingerprint == fingerprints[g]
        {
            regrade(&mut line.series, &opts.measure.thresholds);
            loaded.insert(g, line.series);
        }
    })
    .map_err(io_err("reading", &journal_path))?;
    let mut entries = Vec::with_capacity(series.len());
    for (g, (sel, _)) in groups.iter().enumerate() {
        let Some(e) = loaded.remove(&g) else {
            return Err(CohortError::Missing(sel.study_instance_uid.clone()));
        };
        entries.extend(e);
    }
    let mut report = build_report(
        started,
        &opts.measure,
        instances_read,
        selections.clone(),
        entries,
        &found.skipped,
    );
    report.provenance.shard = shard_info;
    let qc_dropped = if opts.resume {
        let unchanged: HashSet<&str> = (0..groups.len())
            .filter(|&g| is_done(g))
            .map(|g| groups[g].0.study_instance_uid.as_str())
            .collect();
        carry_qc(&opts.out, &mut report, &unchanged)
    } else {
        Vec::new()
    };
    Ok(CohortRun {
        report,
        instances_found,
        studies_resumed: resumed,
        studies_measured: todo.len(),
        journal_lines_ignored: recovered.bad_lines,
        qc_dropped,
    })
}

/// `--resume`: the QC decisions of the report already in `out` (an earlier run's) are
/// kept for the studies taken unchanged from the journal; the others lose them, with a
/// warning each (returned and logged).
fn carry_qc(out: &Path, report: &mut Report, unchanged: &HashSet<&str>) -> Vec<String> {
    let path = out.join("report.json");
    let old: Report = match std::fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(
                    "{}: not readable ({e}); no QC decisions kept",
                    path.display()
                );
                return Vec::new();
            }
        },
        Err(_) => return Vec::new(),
    };
    let dropped = crate::report::review::carry_over(&old, report, unchanged);
    for w in &dropped {
        tracing::warn!("{w}");
    }
    dropped
}
