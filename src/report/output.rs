//! The outputs of a run behind one interface, so the driver (`crate::pipeline`) calls
//! them without naming them.
//!
//! - A [`SeriesOutput`] is written while a series' analysis is still in memory (masks,
//!   QC images, DICOM results) and says what it wrote as [`Recorded`] items.
//! - A [`RunOutput`] is written once from the finished [`Report`] (report.json,
//!   measurements.csv, report.html).
//!
//! A new output is one file implementing the trait plus one line in
//! [`series_outputs`] or [`RUN_OUTPUTS`].

use std::path::{Path, PathBuf};

use image::RgbImage;
use rayon::prelude::*;

use super::{Report, SeriesEntry};
use crate::dicom::StackPlan;
use crate::series::Series;
use crate::spine::Analysis;
use crate::volume::Volume;

/// Where a series came from, for outputs that refer back to it.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// A DICOM series and the slice stack it was assembled from.
    Dicom {
        series: &'a Series,
        plan: &'a StackPlan,
    },
    /// A single research-format file (NIfTI, MetaImage).
    File { path: &'a Path },
}

/// What a per-series output may look at.
pub struct SeriesContext<'a> {
    pub source: Source<'a>,
    pub volume: &'a Volume,
    pub analysis: &'a Analysis,
    /// The series' report entry, measurements rounded and graded.
    pub entry: &'a SeriesEntry,
    /// Safe file-name stem of the series.
    pub stem: &'a str,
    /// Rendered QC images (`{name}`, image), present when an output asked for them.
    pub images: &'a [(String, RgbImage)],
}

/// One thing an output wrote, or could not write, for the series' report entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    QcImage(String),
    MaskFile(String),
    DicomFile(String),
    Warning(String),
}

impl SeriesEntry {
    /// Notes what an output wrote in the entry.
    pub fn record(&mut self, r: Recorded) {
        match r {
            Recorded::QcImage(p) => self.qc_images.push(p),
            Recorded::MaskFile(p) => self.mask_file = Some(p),
            Recorded::DicomFile(p) => self.dicom_files.push(p),
            Recorded::Warning(w) => self.labeling_warnings.push(w),
        }
    }
}

/// An output written per series, while its analysis is in memory.
pub trait SeriesOutput: Send + Sync {
    /// Whether it needs the QC images ([`SeriesContext::images`]).
    fn needs_images(&self) -> bool {
        false
    }
    fn write(&self, ctx: &SeriesContext) -> Vec<Recorded>;
}

/// Which per-series outputs a run writes, and where.
#[derive(Debug, Clone, Default)]
pub struct OutputOptions {
    /// Folder for QC images (`None`: no images).
    pub qc_dir: Option<PathBuf>,
    /// Folder for foramen mask files (`None`: no masks).
    pub masks_dir: Option<PathBuf>,
    /// Folder for DICOM results (SR, SEG, key images; `None`: none).
    pub dicom_dir: Option<PathBuf>,
}

/// The per-series outputs the options ask for, in the order their records appear.
pub fn series_outputs(opts: &OutputOptions) -> Vec<Box<dyn SeriesOutput>> {
    let mut v: Vec<Box<dyn SeriesOutput>> = Vec::new();
    if let Some(dir) = &opts.masks_dir {
        v.push(Box::new(super::masks::MaskOutput { dir: dir.clone() }));
    }
    if let Some(dir) = &opts.qc_dir {
        v.push(Box::new(super::qc::PngOutput { dir: dir.clone() }));
    }
    if let Some(dir) = &opts.dicom_dir {
        v.push(Box::new(super::dicom::DicomOutput { dir: dir.clone() }));
    }
    v
}

/// Writes every output (in parallel: within one series this stage would otherwise run
/// on a single core) and records what they wrote, in the outputs' order.
pub fn write_series_outputs(
    outputs: &[Box<dyn SeriesOutput>],
    ctx: &SeriesContext,
    entry: &mut SeriesEntry,
) {
    let records: Vec<Vec<Recorded>> = outputs.par_iter().map(|o| o.write(ctx)).collect();
    for r in records.into_iter().flatten() {
        entry.record(r);
    }
}

/// An output written once per run from the report.
pub trait RunOutput: Sync {
    /// The file written into the output folder.
    fn file_name(&self) -> &'static str;
    fn write(&self, report: &Report, dir: &Path) -> std::io::Result<()>;
}

struct Json;
struct Csv;
struct Html;

impl RunOutput for Json {
    fn file_name(&self) -> &'static str {
        "report.json"
    }
    fn write(&self, report: &Report, dir: &Path) -> std::io::Result<()> {
        super::write_json(report, dir)
    }
}

impl RunOutput for Csv {
    fn file_name(&self) -> &'static str {
        "measurements.csv"
    }
    fn write(&self, report: &Report, dir: &Path) -> std::io::Result<()> {
        super::csv::write_csv(report, dir)
    }
}

impl RunOutput for Html {
    fn file_name(&self) -> &'static str {
        "report.html"
    }
    fn write(&self, report: &Report, dir: &Path) -> std::io::Result<()> {
        super::html::write_html(report, dir)
    }
}

/// The run-level outputs, in the order they are written.
pub const RUN_OUTPUTS: &[&dyn RunOutput] = &[&Json, &Csv, &Html];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_land_in_their_fields() {
        let mut e: SeriesEntry =
            serde_json::from_value(crate::report::tests::minimal_entry_json()).unwrap();
        e.record(Recorded::QcImage("qc/a.png".into()));
        e.record(Recorded::MaskFile("masks/m.json".into()));
        e.record(Recorded::DicomFile("d/x.dcm".into()));
        e.record(Recorded::Warning("w".into()));
        assert_eq!(e.qc_images, ["qc/a.png"]);
        assert_eq!(e.mask_file.as_deref(), Some("masks/m.json"));
        assert_eq!(e.dicom_files, ["d/x.dcm"]);
        assert_eq!(e.labeling_warnings, ["w"]);
    }

    #[test]
    fn only_the_asked_outputs_are_made() {
        assert!(series_outputs(&OutputOptions::default()).is_empty());
        let all = series_outputs(&OutputOptions {
            qc_dir: Some("q".into()),
            masks_dir: Some("m".into()),
            dicom_dir: Some("d".into()),
        });
        assert_eq!(all.len(), 3);
        assert_eq!(all.iter().filter(|o| o.needs_images()).count(), 2);
        let names: Vec<&str> = RUN_OUTPUTS.iter().map(|o| o.file_name()).collect();
        assert_eq!(names, ["report.json", "measurements.csv", "report.html"]);
    }
}
