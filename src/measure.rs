//! The `measure` pipeline: discovery → series selection → volume → localisation →
//! report entries. Writes nothing but the QC images it is asked for; the caller writes
//! the report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use crate::dicom::discover::{self, discover};
use crate::grading::Thresholds;
use crate::report::{
    DiscEntry, LevelEntry, Report, SeriesEntry, SkippedEntry, SliceArea, Status, Tool,
    VertebraEntry,
};
use crate::selection::{StudySelection, select};
use crate::series::{Series, Weighting, group_series};
use crate::spine::discs::DiscContrast;
use crate::spine::foramen::{ForamenInput, ForamenResult, Side, measure_foramina, unmeasured};
use crate::spine::levels::{LUMBAR_LEVELS, LocalizeError, SpineModel, localize};
use crate::volume::{Modality, assemble};

#[derive(Debug, Clone, Default)]
pub struct MeasureOptions {
    /// Measure this series instead of the preferred one.
    pub series: Option<String>,
    /// Folder for QC images (`None`: no images).
    pub qc_dir: Option<PathBuf>,
    /// Folder for foramen mask files (`None`: no masks).
    pub masks_dir: Option<PathBuf>,
    /// Folder for DICOM results (SR, SEG, key images; `None`: none).
    pub dicom_dir: Option<PathBuf>,
    pub thresholds: Thresholds,
    /// Patient and accession identifiers: salted keys, or verbatim.
    pub ids: crate::report::ids::IdPolicy,
    /// Per-series time limit, checked between stages (`None`: none).
    pub time_limit: Option<std::time::Duration>,
}

/// Localises with the disc contrast the series' modality and weighting imply (the
/// opposite one is also tried on MR, see [`localize`]).
pub fn localize_auto(
    volume: &crate::volume::Volume,
    weighting: Option<Weighting>,
) -> Result<(SpineModel, Option<String>), LocalizeError> {
    let expected = match (volume.modality, weighting) {
        (Modality::MR, Some(Weighting::T2 | Weighting::STIR)) => DiscContrast::Brighter,
        _ => DiscContrast::Darker,
    };
    localize(volume, expected)
}

fn round(v: Option<f64>, digits: i32) -> Option<f64> {
    let f = 10f64.powi(digits);
    v.filter(|x| x.is_finite()).map(|x| (x * f).round() / f)
}

/// Report entries of a series that could not be measured at all.
fn level_entries(reason: &str) -> Vec<LevelEntry> {
    LUMBAR_LEVELS
        .iter()
        .flat_map(|l| Side::BOTH.map(|side| level_entry(&unmeasured(l, side, reason))))
        .collect()
}

/// Report entries from the foramen results (left then right at each level).
fn foramen_entries(results: &[ForamenResult]) -> Vec<LevelEntry> {
    LUMBAR_LEVELS
        .iter()
        .flat_map(|level| {
            Side::BOTH.map(|side| {
                match results.iter().find(|r| r.level == *level && r.side == side) {
                    Some(r) => level_entry(r),
                    None => level_entry(&unmeasured(level, side, "not analysed")),
                }
            })
        })
        .collect()
}

/// One report entry, rounded to the precision the measurement has.
fn level_entry(r: &ForamenResult) -> LevelEntry {
    LevelEntry {
        level: r.level.clone(),
        side: r.side.as_str().into(),
        min_area_mm2: round(r.min_area_mm2, 1),
        height_mm: round(r.height_mm, 1),
        width_mm: round(r.width_mm, 1),
        posterior_disc_height_mm: round(r.posterior_disc_height_mm, 1),
        fat_fraction: round(r.fat_fraction, 2),
        fat_obliteration: r.fat_obliteration,
        root_area_mm2: round(r.root_area_mm2, 1),
        neighbour_ratio: round(r.neighbour_ratio, 2),
        grade: r.grading.grade.as_str().into(),
        flagged: r.grading.flagged,
        rule: r.grading.rule,
        confidence: r.confidence,
        confidence_notes: r.confidence_notes.clone(),
        min_area_slice_position_mm: round(r.min_slice.map(|i| r.slices[i].plane.position_mm), 2),
        slice_areas_mm2: r
            .slices
            .iter()
            .map(|s| SliceArea {
                slice_position_mm: (s.plane.position_mm * 100.0).round() / 100.0,
                area_mm2: (s.seg.area_mm2 * 10.0).round() / 10.0,
            })
            .collect(),
        reason: r.reason.clone(),
    }
}

/// Measures one selected series; never panics on bad input (errors become `failed`).
pub fn measure_series(series: &Series, opts: &MeasureOptions) -> SeriesEntry {
    let start = Instant::now();
    // A bug in the analysis must cost one series, not the cohort run.
    let mut entry =
        crate::dicom::catch_panic(|| analyse_series(series, opts)).unwrap_or_else(|msg| {
            tracing::error!(
                "internal error while analysing series {} (please report it): {msg}",
                series.series_instance_uid
            );
            failed(
                SeriesEntry::new(series, Status::Failed, None),
                format!("internal error while analysing this series (please report it): {msg}"),
            )
        });
    entry.processing_ms = Some(start.elapsed().as_millis() as u64);
    entry
}

/// The identifiers of a series as the policy allows them in the report.
fn series_ids(
    series: &Series,
    policy: &crate::report::ids::IdPolicy,
) -> crate::report::ids::SeriesIds {
    let first = series.instances.first();
    policy.series_ids(
        first.and_then(|h| h.patient_id.as_deref()),
        first.and_then(|h| h.accession_number.as_deref()),
    )
}

fn failed(mut e: SeriesEntry, reason: String) -> SeriesEntry {
    e.status = Status::Failed;
    e.reason = Some(reason);
    e.levels = level_entries("the series could not be analysed");
    e
}

fn analyse_series(series: &Series, opts: &MeasureOptions) -> SeriesEntry {
    let start = Instant::now();
    let mut entry = SeriesEntry::new(series, Status::Measured, None);
    let fail = failed;
    let (Some(plan), Some(modality)) = (&series.plan, series.modality_kind()) else {
        return fail(
            entry,
            series
                .reason
                .clone()
                .unwrap_or_else(|| "no usable slice stack".into()),
        );
    };
    // Stages cannot be interrupted, but each is bounded by the input limits (voxel
    // count, image size); the check keeps one pathological series from holding up a
    // cohort run for long.
    let over_time = |stage: &str| {
        opts.time_limit
            .filter(|limit| start.elapsed() > *limit)
            .map(|limit| {
                format!(
                    "time limit of {:.0} s exceeded after {stage} ({:.1} s)",
                    limit.as_secs_f64(),
                    start.elapsed().as_secs_f64()
                )
            })
    };
    let volume = match assemble(plan, modality) {
        Ok(v) => v,
        Err(e) => return fail(entry, format!("could not load the volume: {}", e.message())),
    };
    if let Some(why) = over_time("loading the volume") {
        return fail(entry, why);
    }
    let (model, contrast_warning) = match localize_auto(&volume, series.weighting) {
        Ok(m) => m,
        Err(e) => return fail(entry, format!("levels could not be found: {e}")),
    };
    if let Some(why) = over_time("finding the levels") {
        return fail(entry, why);
    }
    let loc = &model.localization;
    entry.discs = loc
        .discs
        .iter()
        .map(|d| DiscEntry {
            level: d.level.clone(),
            center_mm: d.center_mm.map(|v| (v * 100.0).round() / 100.0),
            confidence: d.confidence,
            tilt_deg: (d.tilt_deg * 10.0).round() / 10.0,
            height_mm: d.height_mm.map(|h| (h * 10.0).round() / 10.0),
        })
        .collect();
    entry.vertebrae = loc
        .vertebrae
        .iter()
        .map(|v| VertebraEntry {
            name: v.name.clone(),
            center_mm: v.center_mm.map(|x| (x * 100.0).round() / 100.0),
        })
        .collect();
    entry.lumbar_count = loc.lumbar_count;
    entry.labeling_warnings = loc.labeling_warnings.clone();
    if let Some(w) = contrast_warning {
        entry.labeling_warnings.push(w);
    }
    if series.weighting == Some(Weighting::T2) {
        entry.labeling_warnings.push(
            "T2-weighted series used (no usable sagittal T1): foraminal fat is less conspicuous"
                .into(),
        );
    }
    entry.midline_x_mm = Some((loc.midline_x_mm * 100.0).round() / 100.0);
    let foramina = measure_foramina(&ForamenInput {
        volume: &volume,
        localization: loc,
        weighting: series.weighting,
        thresholds: &opts.thresholds,
    });
    entry.levels = foramen_entries(&foramina);
    if let Some(why) = over_time("measuring the foramina") {
        entry
            .labeling_warnings
            .push(format!("{why}: no images written"));
        return entry;
    }
    let stem = crate::report::file_stem(&series.series_instance_uid);
    if let Some(dir) = &opts.masks_dir {
        let path = dir.join(format!("{stem}_masks.json"));
        match crate::report::masks::write_masks(&series.series_instance_uid, &foramina, &path) {
            Ok(()) => entry.mask_file = Some(format!("masks/{stem}_masks.json")),
            Err(e) => entry
                .labeling_warnings
                .push(format!("mask file not written: {e}")),
        }
    }
    if opts.qc_dir.is_some() || opts.dicom_dir.is_some() {
        let caption = format!(
            "{} #{} {} | midline x {:.1} mm",
            series.modality,
            series.series_number.map_or("-".into(), |n| n.to_string()),
            series.series_description,
            loc.midline_x_mm
        );
        // Images, then PNG files and DICOM results, built in parallel: within one
        // series this stage would otherwise run on a single core.
        let ((mid, montage), overlays) = rayon::join(
            || {
                rayon::join(
                    || crate::report::qc::midsagittal_image(&model, &caption),
                    || crate::report::qc::foramina_image(&foramina, &caption),
                )
            },
            || crate::report::qc::foramen_overlays(&foramina, &caption),
        );
        let mut images: Vec<(String, image::RgbImage)> =
            vec![("midsagittal".into(), mid), ("foramina".into(), montage)];
        images.extend(overlays);
        // Key images: the levels, the montage of every foramen, and the flagged
        // foramina on their own (a PACS reader pages through these).
        let flagged: Vec<String> = entry
            .levels
            .iter()
            .filter(|l| l.flagged)
            .map(|l| format!("{}_{}", l.level, l.side))
            .collect();
        let keys: Vec<(String, image::RgbImage)> = images
            .iter()
            .filter(|(k, _)| k == "midsagittal" || k == "foramina" || flagged.contains(k))
            .cloned()
            .collect();
        let (pngs, dicom) = rayon::join(
            || {
                let Some(dir) = &opts.qc_dir else {
                    return Vec::new();
                };
                images
                    .par_iter()
                    .map(|(key, img)| {
                        let name = format!("{stem}_{key}.png");
                        crate::report::qc::write_png(img, &dir.join(&name))
                            .map(|()| format!("qc/{name}"))
                            .map_err(|e| format!("QC image not written: {e}"))
                    })
                    .collect::<Vec<_>>()
            },
            || {
                let dir = opts.dicom_dir.as_ref()?;
                let input = crate::dicom::results::ResultsInput {
                    series,
                    plan,
                    volume: &volume,
                    foramina: &foramina,
                    entry: &entry,
                    key_images: &keys,
                };
                Some(crate::dicom::results::write_results(&input, dir))
            },
        );
        for png in pngs {
            match png {
                Ok(path) => entry.qc_images.push(path),
                Err(e) => entry.labeling_warnings.push(e),
            }
        }
        match dicom {
            Some(Ok(written)) => {
                entry.dicom_files = written
                    .files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect();
                entry.labeling_warnings.extend(written.warnings);
            }
            Some(Err(e)) => entry
                .labeling_warnings
                .push(format!("DICOM results not written: {e}")),
            None => {}
        }
    }
    tracing::info!(
        "series {}: {} discs in {} ms",
        series.series_instance_uid,
        entry.discs.len(),
        start.elapsed().as_millis()
    );
    entry
}

/// The series of each study, in report order, with the study's selection.
pub fn study_groups<'a>(
    series: &'a [Series],
    selections: &'a [StudySelection],
) -> Vec<(&'a StudySelection, Vec<&'a Series>)> {
    let mut by_study: std::collections::HashMap<&str, Vec<&Series>> =
        std::collections::HashMap::new();
    for s in series {
        by_study
            .entry(s.study_instance_uid.as_str())
            .or_default()
            .push(s);
    }
    selections
        .iter()
        .map(|sel| {
            let members = by_study
                .remove(sel.study_instance_uid.as_str())
                .unwrap_or_default();
            (sel, members)
        })
        .collect()
}

/// Report entries of one study's series (`series` in report order): the selected
/// series measured, every other one skipped with the reason of the selection.
pub fn measure_study(
    selection: &StudySelection,
    series: &[&Series],
    opts: &MeasureOptions,
) -> Vec<SeriesEntry> {
    series
        .iter()
        .map(|s| {
            let mut e =
                if selection.selected_series.as_deref() == Some(s.series_instance_uid.as_str()) {
                    measure_series(s, opts)
                } else {
                    let reason = selection
                        .choices
                        .iter()
                        .find(|c| c.series_instance_uid == s.series_instance_uid)
                        .map(|c| c.reason.clone());
                    SeriesEntry::new(s, Status::Skipped, reason)
                };
            e.ids = series_ids(s, &opts.ids);
            e
        })
        .collect()
}

/// The report of a run from its parts (entries in report order).
pub fn build_report(
    started: std::time::SystemTime,
    opts: &MeasureOptions,
    instances_read: usize,
    studies: Vec<StudySelection>,
    series: Vec<SeriesEntry>,
    skipped: &[discover::SkippedFile],
) -> Report {
    let skipped_files = skipped
        .iter()
        .map(|f| SkippedEntry {
            path: f.path.display().to_string(),
            reason: f.reason.to_string(),
        })
        .collect();
    let mut provenance = crate::report::Provenance::new(started, opts.ids.include);
    provenance.instances_read = instances_read;
    Report {
        schema: crate::report::SCHEMA.into(),
        tool: Tool::default(),
        disclaimer: crate::DISCLAIMER.into(),
        provenance,
        thresholds: opts.thresholds.clone(),
        studies,
        series,
        skipped_files,
    }
}

/// Runs the whole pipeline over `inputs`, in memory (one study folder at a time, as
/// `foramen serve` does; cohorts go through [`crate::cohort::run`]).
pub fn measure(
    inputs: &[PathBuf],
    opts: &MeasureOptions,
    on_file: &(dyn Fn() + Sync),
) -> (Report, usize) {
    let started = std::time::SystemTime::now();
    let found = discover(inputs, on_file);
    let instances = found.instances.len();
    let series = group_series(found.instances);
    let selections: Vec<StudySelection> = select(&series, opts.series.as_deref());
    let groups = study_groups(&series, &selections);
    let entries: Vec<SeriesEntry> = groups
        .par_iter()
        .flat_map_iter(|(sel, members)| measure_study(sel, members, opts))
        .collect();
    let report = build_report(
        started,
        opts,
        instances,
        selections.clone(),
        entries,
        &found.skipped,
    );
    (report, instances)
}

/// Output folder layout.
pub fn qc_dir(out: &Path) -> PathBuf {
    out.join("qc")
}

pub fn masks_dir(out: &Path) -> PathBuf {
    out.join("masks")
}

pub fn dicom_dir(out: &Path) -> PathBuf {
    out.join("dicom")
}
