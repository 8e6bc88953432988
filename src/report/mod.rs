//! The measurement report: the data model of `report.json` (contract in
//! ../shared/domain.md and docs/report.md) and the files written for it.

pub mod compare;
pub mod csv;
pub mod dicom;
pub mod html;
pub mod ids;
pub mod masks;
pub mod output;
pub mod qc;
pub mod review;

use std::path::Path;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::selection::StudySelection;
use crate::volume::Vec3;

/// Text that is usually a constant of this build but is owned when read back from a
/// report or `studies.jsonl` (resume, merge).
pub type Text = Cow<'static, str>;

/// Version of the report layout; bumped when a field is renamed or removed.
pub const SCHEMA: &str = "foramen.report/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: Text,
    pub version: Text,
}

impl Default for Tool {
    fn default() -> Self {
        Tool {
            name: Cow::Borrowed("foramen"),
            version: Cow::Borrowed(env!("CARGO_PKG_VERSION")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Measured,
    Skipped,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiscEntry {
    pub level: String,
    pub center_mm: Vec3,
    pub confidence: f64,
    pub tilt_deg: f64,
    pub height_mm: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VertebraEntry {
    pub name: String,
    pub center_mm: Vec3,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SliceArea {
    pub slice_position_mm: f64,
    pub area_mm2: f64,
}

/// One level and side.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LevelEntry {
    pub level: String,
    pub side: Text,
    pub min_area_mm2: Option<f64>,
    pub height_mm: Option<f64>,
    pub width_mm: Option<f64>,
    pub posterior_disc_height_mm: Option<f64>,
    /// MR T1 only: fraction of the foramen area with fat signal.
    pub fat_fraction: Option<f64>,
    /// Directions around the root in which the perineural fat is obliterated.
    pub fat_obliteration: Option<crate::grading::FatObliteration>,
    pub root_area_mm2: Option<f64>,
    /// `1 - area / mean(neighbouring levels, same side)`.
    pub neighbour_ratio: Option<f64>,
    pub grade: Text,
    pub flagged: bool,
    /// The grading rule that decided the grade.
    pub rule: crate::grading::Rule,
    pub confidence: f64,
    /// What lowered the confidence.
    pub confidence_notes: Vec<String>,
    /// Position of the minimum-area plane (`ImagePositionPatient · normal`, mm).
    pub min_area_slice_position_mm: Option<f64>,
    pub slice_areas_mm2: Vec<SliceArea>,
    /// Why the foramen was not measured (when `min_area_mm2` is null).
    pub reason: Option<String>,
    /// Reviewers' verdicts on this foramen (`foramen qc apply`; absent before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<review::ItemReview>,
}

/// One series of the input, measured or not.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeriesEntry {
    pub study_instance_uid: String,
    pub series_instance_uid: String,
    /// Salted patient/accession keys (plain identifiers only with `--include-ids`).
    #[serde(flatten)]
    pub ids: ids::SeriesIds,
    pub series_number: Option<i64>,
    pub series_description: String,
    pub modality: String,
    pub weighting: Option<String>,
    pub status: Status,
    pub reason: Option<String>,
    pub num_instances: usize,
    /// Wall time spent analysing this series (ms); null when it was not analysed.
    pub processing_ms: Option<u64>,
    pub discs: Vec<DiscEntry>,
    pub vertebrae: Vec<VertebraEntry>,
    pub lumbar_count: Option<u8>,
    pub labeling_warnings: Vec<String>,
    pub midline_x_mm: Option<f64>,
    pub levels: Vec<LevelEntry>,
    /// Files written for this series, relative to the output folder.
    pub qc_images: Vec<String>,
    /// Foramen mask file relative to the output folder (`--masks`).
    pub mask_file: Option<String>,
    /// DICOM result files, under the `--dicom-out` folder as given.
    pub dicom_files: Vec<String>,
    /// The research-format file (NIfTI, MetaImage) this series was read from, as found
    /// (its UID fields hold a UID derived from this path). Absent for DICOM series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_file: Option<String>,
    /// How a research-format file was read: format, where modality and weighting came
    /// from (argument, BIDS sidecar, file name, or guessed), scaling and geometry notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_notes: Vec<String>,
    /// Reviewers' verdicts on the series' level labelling (`foramen qc apply`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labelling_review: Option<review::ItemReview>,
}

impl SeriesEntry {
    pub fn new(
        series: &crate::series::Series,
        status: Status,
        reason: Option<String>,
    ) -> SeriesEntry {
        SeriesEntry {
            series_number: series.series_number,
            series_description: series.series_description.clone(),
            modality: series.modality.clone(),
            weighting: series.weighting.map(|w| w.as_str().to_string()),
            num_instances: series.num_instances,
            ..SeriesEntry::blank(
                &series.study_instance_uid,
                &series.series_instance_uid,
                status,
                reason,
            )
        }
    }
}

impl SeriesEntry {
    /// The entry of a series read from one research-format file (NIfTI, MetaImage),
    /// with `uid` for its study and series; there are no patient identifiers.
    pub fn for_file(
        uid: &str,
        modality: crate::volume::Modality,
        weighting: Option<crate::volume::Weighting>,
    ) -> SeriesEntry {
        SeriesEntry {
            series_number: None,
            series_description: String::new(),
            modality: modality.as_str().to_string(),
            weighting: weighting.map(|w| w.as_str().to_string()),
            num_instances: 1,
            ..SeriesEntry::blank(uid, uid, Status::Measured, None)
        }
    }

    /// An entry with the identity fields given and nothing measured or written yet (the
    /// one place every field gets its starting value).
    fn blank(study_uid: &str, series_uid: &str, status: Status, reason: Option<String>) -> Self {
        SeriesEntry {
            study_instance_uid: study_uid.to_string(),
            series_instance_uid: series_uid.to_string(),
            ids: ids::SeriesIds::default(),
            series_number: None,
            series_description: String::new(),
            modality: String::new(),
            weighting: None,
            status,
            reason,
            num_instances: 0,
            processing_ms: None,
            discs: Vec::new(),
            vertebrae: Vec::new(),
            lumbar_count: None,
            labeling_warnings: Vec::new(),
            midline_x_mm: None,
            levels: Vec::new(),
            qc_images: Vec::new(),
            mask_file: None,
            dicom_files: Vec::new(),
            source_file: None,
            input_notes: Vec::new(),
            labelling_review: None,
        }
    }
}

/// A file that was not DICOM or could not be read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SkippedEntry {
    pub path: String,
    pub reason: String,
}

/// How and when the report was made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provenance {
    /// Identifies this run's outputs: QC decision files name it (docs/qc.md). Reports
    /// written before it existed read back with an empty one.
    #[serde(default)]
    pub run_id: String,
    pub tool_version: Text,
    /// Commit the binary was built from (`-modified` when the tree had changes).
    pub git_commit: Option<Text>,
    /// Start of the run, UTC, RFC 3339.
    pub started_utc: String,
    /// Wall time of the whole run up to the report (ms).
    pub wall_ms: u64,
    /// Worker threads available to the run.
    pub threads: usize,
    /// DICOM instances read.
    pub instances_read: usize,
    /// `salted-keys` (default) or `included` (`--include-ids`).
    pub identifiers: Text,
    /// How the keys are made.
    pub key_scheme: Text,
    /// With `--shard K/N`: which part of the input this report covers (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
}

impl Provenance {
    pub fn new(started: std::time::SystemTime, include_ids: bool) -> Provenance {
        Provenance {
            run_id: new_run_id(started),
            tool_version: Cow::Borrowed(env!("CARGO_PKG_VERSION")),
            git_commit: option_env!("FORAMEN_GIT_COMMIT").map(Cow::Borrowed),
            started_utc: humantime::format_rfc3339_seconds(started).to_string(),
            wall_ms: started.elapsed().map_or(0, |d| d.as_millis() as u64),
            threads: rayon::current_num_threads(),
            instances_read: 0,
            identifiers: Cow::Borrowed(if include_ids {
                "included"
            } else {
                "salted-keys"
            }),
            key_scheme: Cow::Borrowed(
                "hmac-sha256 of the identifier with the run's salt, first 64 bits in hex",
            ),
            shard: None,
        }
    }
}

/// `<start, UTC, compact>-<16 random hex digits>`: unique per run, and sorts by time.
fn new_run_id(started: std::time::SystemTime) -> String {
    let t: String = humantime::format_rfc3339_seconds(started)
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("{t}-{:016x}", rand::random::<u64>())
}

/// What a shard's report records so that `foramen merge` can check completeness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub k: u32,
    pub n: u32,
    /// Studies in the whole input (all shards).
    pub input_studies: usize,
    /// [`studies_digest`] of the whole input's StudyInstanceUIDs.
    pub input_digest: String,
}

/// `report.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema: Text,
    pub tool: Tool,
    pub disclaimer: Text,
    pub provenance: Provenance,
    /// The grading thresholds in force (defaults or `--thresholds FILE`).
    pub thresholds: crate::grading::Thresholds,
    pub studies: Vec<StudySelection>,
    pub series: Vec<SeriesEntry>,
    pub skipped_files: Vec<SkippedEntry>,
    /// The QC decisions applied (`foramen qc apply`; absent before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qc: Option<review::QcSummary>,
}

/// Writes `report.json` into `dir` atomically.
pub fn write_json(report: &Report, dir: &Path) -> std::io::Result<()> {
    crate::atomic_file::write_atomic(&dir.join("report.json"), |w| {
        serde_json::to_writer_pretty(&mut *w, report).map_err(std::io::Error::other)?;
        w.write_all(b"\n")
    })
}

/// Writes every run-level output ([`output::RUN_OUTPUTS`]: report.json,
/// measurements.csv, report.html) into `dir`, each atomically (the sequence shared by
/// `foramen measure` and `foramen serve`). The error names the file that could not be
/// written.
pub fn write_all(report: &Report, dir: &Path) -> Result<(), (std::path::PathBuf, std::io::Error)> {
    for out in output::RUN_OUTPUTS {
        out.write(report, dir)
            .map_err(|e| (dir.join(out.file_name()), e))?;
    }
    Ok(())
}

/// A safe file-name stem for a series (UIDs are digits and dots; anything else is
/// replaced so a hostile UID cannot escape the output folder).
pub fn file_stem(series_uid: &str) -> String {
    let s: String = series_uid
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let s = s.trim_matches('.').to_string();
    if s.is_empty() { "series".into() } else { s }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The smallest series entry that deserialises (for tests of other modules).
    pub(crate) fn minimal_entry_json() -> serde_json::Value {
        serde_json::json!({
            "study_instance_uid": "1.2", "series_instance_uid": "1.2.3",
            "series_number": null, "series_description": "", "modality": "MR",
            "weighting": null, "status": "measured", "reason": null, "num_instances": 1,
            "processing_ms": null, "discs": [], "vertebrae": [], "lumbar_count": null,
            "labeling_warnings": [], "midline_x_mm": null, "levels": [], "qc_images": [],
            "mask_file": null, "dicom_files": []
        })
    }

    #[test]
    fn file_stems_cannot_escape() {
        assert_eq!(file_stem("1.2.3"), "1.2.3");
        assert_eq!(file_stem("../../etc/x"), "_.._etc_x");
        assert_eq!(file_stem(".."), "series");
    }
}
