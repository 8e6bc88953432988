//! The one driver: runs a series (load → [`crate::spine::analyse`] → report entry →
//! grading → outputs) under a time limit and a panic guard, a study (the selected
//! series measured, the others listed with the reason), and a whole input in memory
//! ([`measure`], for `foramen serve`). `foramen measure` runs studies through the
//! cohort runner ([`crate::cohort::run`]), which calls [`run_study`]; the fuzz harness
//! calls [`run_volume`]. Writes nothing itself: the outputs behind
//! [`crate::report::output`] do.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use crate::dicom::assemble;
use crate::dicom::discover::{self, discover};
use crate::grading::{self, ForamenMeasurements, Thresholds};
use crate::report::output::{self, OutputOptions, SeriesContext, Source};
use crate::report::{
    DiscEntry, LevelEntry, Report, SeriesEntry, SkippedEntry, SliceArea, Status, Tool,
    VertebraEntry,
};
use crate::selection::{StudySelection, select};
use crate::series::{Series, group_series};
use crate::spine::foramen::{ForamenResult, Side, unmeasured};
use crate::spine::levels::LUMBAR_LEVELS;
use crate::spine::{Analysis, AnalysisError, AnalysisOptions, analyse};
use crate::volume::{Volume, Weighting};

#[derive(Debug, Clone, Default)]
pub struct MeasureOptions {
    /// Measure this series instead of the preferred one.
    pub series: Option<String>,
    /// Which per-series files are written, and where.
    pub outputs: OutputOptions,
    pub thresholds: Thresholds,
    /// Patient and accession identifiers: salted keys, or verbatim.
    pub ids: crate::report::ids::IdPolicy,
    /// Per-series time limit, checked between stages (`None`: none).
    pub time_limit: Option<std::time::Duration>,
    /// Modality of research-format files (NIfTI, MetaImage), which do not record it
    /// (`--modality`); else a BIDS sidecar, else guessed from the values.
    pub modality: Option<crate::volume::Modality>,
    /// MR weighting of research-format files (`--weighting`); else a BIDS sidecar or
    /// the file name.
    pub weighting: Option<Weighting>,
}

/// The input of one study: the DICOM series of a study, or one research-format file
/// (one file is one study and one series).
#[derive(Debug, Clone)]
pub enum StudyInput<'a> {
    Dicom(Vec<&'a Series>),
    File(&'a Path),
}

impl StudyInput<'_> {
    /// The files the study's results depend on (for `--resume` fingerprints).
    pub fn paths(&self) -> Vec<PathBuf> {
        match self {
            StudyInput::Dicom(series) => series
                .iter()
                .flat_map(|s| s.instances.iter().map(|h| h.path.clone()))
                .collect(),
            StudyInput::File(p) => {
                // A MetaImage header may keep its voxels in a file beside it, and any
                // file may have a BIDS sidecar.
                let mut v = vec![p.to_path_buf()];
                for ext in ["raw", "json"] {
                    let side = p.with_extension(ext);
                    if side.exists() {
                        v.push(side);
                    }
                }
                v
            }
        }
    }
}

/// The research-format files (`.nii`, `.nii.gz`, `.mha`, `.mhd`) named in `inputs` or
/// found under its folders, sorted, each once: for checks before a run (runs take them
/// from the discovery, [`take_volume_files`]).
pub fn find_volume_files(inputs: &[PathBuf]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = inputs
        .iter()
        .flat_map(|p| {
            walkdir::WalkDir::new(p)
                .follow_links(true)
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                .map(walkdir::DirEntry::into_path)
                .filter(|p| crate::volume_file::VolumeFormat::from_path(p).is_some())
        })
        .collect();
    files.sort();
    files.dedup();
    files
}

/// The UID standing for a research-format file's study and series in the report (a
/// `2.25` UID derived from the path as given: stable across runs, unique per file; the
/// path itself is in `source_file`).
pub fn file_uid(path: &Path) -> String {
    crate::dicom::uid::derived_uid(&["foramen research-format file", &path.display().to_string()])
}

/// The selection of a research-format file's study: the file is the one series.
pub fn file_selection(path: &Path) -> StudySelection {
    let source = file_uid(path);
    StudySelection {
        study_instance_uid: source.clone(),
        selected_series: Some(source.clone()),
        summary: "research-format file: one file is one series".into(),
        choices: vec![crate::selection::Choice {
            series_instance_uid: source,
            series_number: None,
            series_description: String::new(),
            selected: true,
            reason: "the only series of the file".into(),
        }],
    }
}

/// Measures one research-format file (NIfTI, MetaImage) as one series.
pub fn run_file(path: &Path, opts: &MeasureOptions) -> SeriesEntry {
    let uid = file_uid(path);
    let source = path.display().to_string();
    let read = crate::dicom::catch_panic(|| {
        crate::volume_file::read_volume(path, opts.modality, opts.weighting)
    });
    let read = read
        .map_err(|msg| format!("internal error while reading this file (please report it): {msg}"))
        .and_then(|r| r.map_err(|e| format!("could not read the file: {e}")));
    let rv = match read {
        Ok(rv) => rv,
        Err(reason) => {
            let mut entry = SeriesEntry::for_file(&uid, crate::volume::Modality::MR, None);
            entry.modality = String::new();
            entry.source_file = Some(source);
            return failed(entry, reason);
        }
    };
    let mut entry = SeriesEntry::for_file(&uid, rv.volume.modality, rv.weighting);
    entry.source_file = Some(source);
    entry.num_instances = 1;
    entry.input_notes.push(format!(
        "{} file; modality {} ({}){}",
        rv.format.as_str(),
        rv.volume.modality,
        rv.modality_basis,
        if rv.volume.modality == crate::volume::Modality::MR {
            format!("; weighting {}", rv.weighting_basis)
        } else {
            String::new()
        }
    ));
    if rv.modality_guessed {
        entry.input_notes.push(format!(
            "modality guessed as {} from the voxel values: pass --modality to set it",
            rv.volume.modality
        ));
    }
    entry.input_notes.extend(rv.notes.iter().cloned());
    // The same rule as for DICOM series: thick axial MR cannot be resliced to
    // sagittal planes fine enough for the foramina.
    if rv.volume.modality == crate::volume::Modality::MR
        && rv.acquisition_plane == Some(crate::volume::Plane::Axial)
    {
        return failed(
            entry,
            "axial MR acquisition: the foramina need sagittal planes (a sagittal MR series or any CT)"
                .into(),
        );
    }
    let weighting = rv.weighting;
    let volume = rv.volume;
    run_volume(
        entry,
        Source::File { path },
        weighting,
        move || Ok(volume),
        opts,
    )
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

/// Report entries from the foramen results (left then right at each level), with the
/// measurements that follow from the whole series: fat obliteration (root against the
/// series' typical root) and the ratio to the neighbouring levels.
fn foramen_entries(results: &[ForamenResult]) -> Vec<LevelEntry> {
    let typical_root = grading::typical_root_area(results.iter().map(|r| r.root_area_mm2));
    let area_of = |level: &str, side: Side| {
        results
            .iter()
            .find(|r| r.level == level && r.side == side)
            .and_then(|r| r.min_area_mm2)
    };
    LUMBAR_LEVELS
        .iter()
        .enumerate()
        .flat_map(|(i, level)| {
            Side::BOTH.map(|side| {
                match results.iter().find(|r| r.level == *level && r.side == side) {
                    Some(r) => {
                        let mut e = level_entry(r);
                        e.fat_obliteration = grading::fat_obliteration(
                            r.fat_rim.as_ref(),
                            r.root_area_mm2,
                            typical_root,
                        );
                        let above = (i > 0)
                            .then(|| area_of(LUMBAR_LEVELS[i - 1], side))
                            .flatten();
                        let below = LUMBAR_LEVELS.get(i + 1).and_then(|n| area_of(n, side));
                        e.neighbour_ratio = round(
                            r.min_area_mm2
                                .and_then(|a| grading::neighbour_ratio(a, above, below)),
                            2,
                        );
                        e
                    }
                    None => level_entry(&unmeasured(level, side, "not analysed")),
                }
            })
        })
        .collect()
}

/// One report entry, rounded to the precision the measurement has; graded later
/// ([`grade_entry`]).
fn level_entry(r: &ForamenResult) -> LevelEntry {
    let ungraded = grading::grade(&ForamenMeasurements::default(), &Thresholds::default());
    LevelEntry {
        level: r.level.clone(),
        side: r.side.as_str().into(),
        min_area_mm2: round(r.min_area_mm2, 1),
        height_mm: round(r.height_mm, 1),
        width_mm: round(r.width_mm, 1),
        posterior_disc_height_mm: round(r.posterior_disc_height_mm, 1),
        fat_fraction: round(r.fat_fraction, 2),
        fat_obliteration: None,
        root_area_mm2: round(r.root_area_mm2, 1),
        neighbour_ratio: None,
        grade: ungraded.grade.as_str().into(),
        flagged: ungraded.flagged,
        rule: ungraded.rule,
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
        review: None,
    }
}

/// Grades every foramen of a series entry from the measurements the report shows,
/// with `thresholds`: the only place grades are made, for a fresh series and for one
/// read back from a journal (`--resume` with other thresholds re-grades, no
/// re-segmentation).
pub fn grade_entry(entry: &mut SeriesEntry, thresholds: &Thresholds) {
    grade_levels(&mut entry.levels, thresholds);
}

/// The report entries of a series' foramina, graded (for evaluations that look at the
/// grades without running the whole driver).
pub fn graded_levels(foramina: &[ForamenResult], thresholds: &Thresholds) -> Vec<LevelEntry> {
    let mut levels = foramen_entries(foramina);
    grade_levels(&mut levels, thresholds);
    levels
}

fn grade_levels(levels: &mut [LevelEntry], thresholds: &Thresholds) {
    for l in levels {
        let g = grading::grade(
            &ForamenMeasurements {
                min_area_mm2: l.min_area_mm2,
                height_mm: l.height_mm,
                posterior_disc_height_mm: l.posterior_disc_height_mm,
                neighbour_ratio: l.neighbour_ratio,
                fat_obliteration: l.fat_obliteration,
            },
            thresholds,
        );
        l.grade = g.grade.as_str().into();
        l.flagged = g.flagged;
        l.rule = g.rule;
    }
}

/// Measures one selected DICOM series; never panics on bad input (errors become
/// `failed`).
pub fn run_series(series: &Series, opts: &MeasureOptions) -> SeriesEntry {
    let entry = SeriesEntry::new(series, Status::Measured, None);
    let (Some(plan), Some(modality)) = (&series.plan, series.modality_kind()) else {
        let reason = series
            .reason
            .clone()
            .unwrap_or_else(|| "no usable slice stack".into());
        return failed(entry, reason);
    };
    run_volume(
        entry,
        Source::Dicom { series, plan },
        series.weighting,
        || assemble(plan, modality).map_err(|e| e.message()),
        opts,
    )
}

/// The driver for one series of any input format: loads the volume with `load`,
/// analyses it, fills `entry`, grades it and writes the outputs, under the time limit
/// and a panic guard (a bug in the analysis must cost one series, not the cohort run).
pub fn run_volume(
    entry: SeriesEntry,
    source: Source,
    weighting: Option<Weighting>,
    load: impl FnOnce() -> Result<Volume, String>,
    opts: &MeasureOptions,
) -> SeriesEntry {
    let start = Instant::now();
    let uid = entry.series_instance_uid.clone();
    let fallback = entry.clone();
    let mut entry = crate::dicom::catch_panic(move || {
        analyse_series(entry, source, weighting, load, opts, start)
    })
    .unwrap_or_else(|msg| {
        tracing::error!("internal error while analysing series {uid} (please report it): {msg}");
        failed(
            SeriesEntry {
                status: Status::Failed,
                ..fallback
            },
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

fn analyse_series(
    mut entry: SeriesEntry,
    source: Source,
    weighting: Option<Weighting>,
    load: impl FnOnce() -> Result<Volume, String>,
    opts: &MeasureOptions,
    start: Instant,
) -> SeriesEntry {
    // Stages cannot be interrupted, but each is bounded by the input limits (voxel
    // count, image size); the check keeps one pathological series from holding up a
    // cohort run for long.
    let over_time = |stage: &str| {
        opts.time_limit
            .filter(|limit| start.elapsed() > *limit)
            .map(|limit| time_limit_message(limit, stage, start))
    };
    let volume = match load() {
        Ok(v) => v,
        Err(e) => return failed(entry, format!("could not load the volume: {e}")),
    };
    if let Some(why) = over_time("loading the volume") {
        return failed(entry, why);
    }
    let analysis = match analyse(
        &volume,
        &AnalysisOptions {
            weighting,
            levels_only: false,
            deadline: opts.time_limit.map(|l| start + l),
        },
    ) {
        Ok(a) => a,
        Err(AnalysisError::TimeLimit(stage)) => {
            let limit = opts.time_limit.unwrap_or_default();
            return failed(entry, time_limit_message(limit, stage, start));
        }
        Err(e) => return failed(entry, e.to_string()),
    };
    fill_entry(&mut entry, &analysis, weighting);
    grade_entry(&mut entry, &opts.thresholds);
    if let Some(why) = over_time("measuring the foramina") {
        entry
            .labeling_warnings
            .push(format!("{why}: no images written"));
        return entry;
    }
    let outputs = output::series_outputs(&opts.outputs);
    let images = if outputs.iter().any(|o| o.needs_images()) {
        crate::report::qc::series_images(&analysis, &entry)
    } else {
        Vec::new()
    };
    let stem = crate::report::file_stem(&entry.series_instance_uid);
    let snapshot = entry.clone();
    let ctx = SeriesContext {
        source,
        volume: &volume,
        analysis: &analysis,
        entry: &snapshot,
        stem: &stem,
        images: &images,
    };
    output::write_series_outputs(&outputs, &ctx, &mut entry);
    tracing::info!(
        "series {}: {} discs in {} ms",
        entry.series_instance_uid,
        entry.discs.len(),
        start.elapsed().as_millis()
    );
    entry
}

fn time_limit_message(limit: std::time::Duration, stage: &str, start: Instant) -> String {
    format!(
        "time limit of {:.0} s exceeded after {stage} ({:.1} s)",
        limit.as_secs_f64(),
        start.elapsed().as_secs_f64()
    )
}

/// The report entry's discs, vertebrae, warnings and (ungraded) foramina from the
/// analysis.
fn fill_entry(entry: &mut SeriesEntry, analysis: &Analysis, weighting: Option<Weighting>) {
    let loc = &analysis.model.localization;
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
    if let Some(w) = &analysis.contrast_warning {
        entry.labeling_warnings.push(w.clone());
    }
    if weighting == Some(Weighting::T2) {
        entry.labeling_warnings.push(
            "T2-weighted series used (no usable sagittal T1): foraminal fat is less conspicuous"
                .into(),
        );
    }
    entry.midline_x_mm = Some((loc.midline_x_mm * 100.0).round() / 100.0);
    entry.levels = foramen_entries(&analysis.foramina);
}

/// The input of each study, in report order, with the study's selection: the DICOM
/// studies' series, or the research-format file a selection names (see
/// [`file_selection`]).
pub fn study_groups<'a>(
    series: &'a [Series],
    files: &'a [PathBuf],
    selections: &'a [StudySelection],
) -> Vec<(&'a StudySelection, StudyInput<'a>)> {
    let mut by_study: std::collections::HashMap<&str, Vec<&Series>> =
        std::collections::HashMap::new();
    for s in series {
        by_study
            .entry(s.study_instance_uid.as_str())
            .or_default()
            .push(s);
    }
    let by_file: std::collections::HashMap<String, &Path> =
        files.iter().map(|f| (file_uid(f), f.as_path())).collect();
    selections
        .iter()
        .map(|sel| {
            let uid = sel.study_instance_uid.as_str();
            let input = match (by_study.remove(uid), by_file.get(uid)) {
                (None, Some(path)) => StudyInput::File(path),
                (members, _) => StudyInput::Dicom(members.unwrap_or_default()),
            };
            (sel, input)
        })
        .collect()
}

/// The studies of the inputs: DICOM studies as [`select`] chose their series, then one
/// per research-format file.
pub fn select_studies(
    series: &[Series],
    files: &[PathBuf],
    opts: &MeasureOptions,
) -> Vec<StudySelection> {
    let mut selections = select(series, opts.series.as_deref());
    selections.extend(files.iter().map(|f| file_selection(f)));
    selections
}

/// Takes the research-format files out of the discovery's skipped files and returns
/// them sorted: the DICOM walk already found them (as not DICOM), so the input is walked
/// once. A MetaImage's raw voxels and a BIDS sidecar beside a volume leave the skipped
/// list too (they belong to their volume).
pub fn take_volume_files(skipped: &mut Vec<discover::SkippedFile>) -> Vec<PathBuf> {
    let is_volume = |p: &Path| crate::volume_file::VolumeFormat::from_path(p).is_some();
    let mut files: Vec<PathBuf> = skipped
        .iter()
        .filter(|f| is_volume(&f.path))
        .map(|f| f.path.clone())
        .collect();
    files.sort();
    files.dedup();
    let companions: std::collections::HashSet<PathBuf> = files
        .iter()
        .flat_map(|v| ["raw", "json"].map(|e| v.with_extension(e)))
        .collect();
    skipped.retain(|f| !is_volume(&f.path) && !companions.contains(&f.path));
    files
}

/// Report entries of one study's series (`series` in report order): the selected
/// series measured, every other one skipped with the reason of the selection.
pub fn run_study(
    selection: &StudySelection,
    input: &StudyInput,
    opts: &MeasureOptions,
) -> Vec<SeriesEntry> {
    let series = match input {
        StudyInput::Dicom(series) => series,
        StudyInput::File(path) => return vec![run_file(path, opts)],
    };
    series
        .iter()
        .map(|s| {
            let mut e =
                if selection.selected_series.as_deref() == Some(s.series_instance_uid.as_str()) {
                    run_series(s, opts)
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
        qc: None,
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
    let mut found = discover(inputs, on_file);
    let files = take_volume_files(&mut found.skipped);
    let instances = found.instances.len();
    let series = group_series(found.instances);
    let selections = select_studies(&series, &files, opts);
    let groups = study_groups(&series, &files, &selections);
    let entries: Vec<SeriesEntry> = groups
        .par_iter()
        .flat_map_iter(|(sel, input)| run_study(sel, input, opts))
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
