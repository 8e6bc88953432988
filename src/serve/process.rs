//! Measuring a stable series with the library pipeline and writing its results.

use std::path::{Path, PathBuf};

use crate::atomic_file::OutputLock;
use crate::grading::Thresholds;
use crate::pipeline::{MeasureOptions, measure, qc_dir};
use crate::report::ids::{IdPolicy, folder_salt};
use crate::report::output::OutputOptions;
use crate::report::{Report, Status};

use super::store::{self, DONE_SCHEMA, DoneMarker, Layout, SeriesKey};

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("another run holds the lock on {0}")]
    Busy(PathBuf),
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ProcessError {
    let path = path.to_path_buf();
    move |source| ProcessError::Io { what, path, source }
}

/// Writes report.json, measurements.csv and report.html into `dir` (each atomically).
pub fn write_report_files(report: &Report, dir: &Path) -> Result<(), ProcessError> {
    crate::report::write_all(report, dir).map_err(|(path, e)| io("writing", &path)(e))
}

/// What processing a series produced.
#[derive(Debug)]
pub struct Outcome {
    pub results_dir: PathBuf,
    pub dicom_dir: PathBuf,
    pub marker: DoneMarker,
}

/// Measures the series in `incoming/<key>` into `results/<key>` and then writes the
/// done marker (last, so a crash before it means the series is processed again).
pub fn process_series(layout: &Layout, key: &SeriesKey) -> Result<Outcome, ProcessError> {
    let input = layout.series_incoming(key);
    let snapshot = store::snapshot(&input).map_err(io("reading", &input))?;
    let dir = layout.series_results(key);
    std::fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
    let Some(_lock) = OutputLock::acquire(&dir, std::time::Duration::from_secs(600))
        .map_err(io("locking", &dir))?
    else {
        return Err(ProcessError::Busy(dir));
    };
    // One salt for the whole --out folder, so keys join across series.
    let salt = folder_salt(&layout.out).map_err(io("reading the salt in", &layout.out))?;
    let dicom_dir = dir.join("dicom");
    let opts = MeasureOptions {
        series: None,
        outputs: OutputOptions {
            qc_dir: Some(qc_dir(&dir)),
            masks_dir: None,
            dicom_dir: Some(dicom_dir.clone()),
        },
        thresholds: Thresholds::default(),
        time_limit: Some(std::time::Duration::from_secs(300)),
        modality: None,
        weighting: None,
        ids: IdPolicy {
            include: false,
            salt,
        },
    };
    let (report, instances_read) = measure(&[input], &opts, &|| {});
    write_report_files(&report, &dir)?;
    let marker = DoneMarker {
        schema: DONE_SCHEMA.into(),
        snapshot,
        instances_read,
        statuses: report
            .series
            .iter()
            .map(|s| status_name(s.status).to_string())
            .collect(),
        disclaimer: crate::DISCLAIMER.into(),
    };
    store::write_done(layout, key, &marker).map_err(io("writing", &dir.join(store::DONE_FILE)))?;
    Ok(Outcome {
        results_dir: dir,
        dicom_dir,
        marker,
    })
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Measured => "measured",
        Status::Failed => "failed",
        Status::Skipped => "skipped",
    }
}
