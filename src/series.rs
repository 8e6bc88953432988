//! Grouping instances into studies and series, and describing each series: plane,
//! MR weighting, size, spacing, and whether foramina can be measured on it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::dicom::assemble::{StackPlan, plan_stack};
use crate::dicom::transfer_syntax;
use crate::dicom::uid::derived_uid;
use crate::dicom::{InstanceHeader, MrTiming};
use crate::volume::{Modality, Plane, Weighting};

/// How instances were grouped into this series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Grouping {
    /// By StudyInstanceUID and SeriesInstanceUID, as stated in the files.
    Uids,
    /// The files lack their UIDs: grouped on frame of reference, geometry and description.
    Derived,
}

/// One series, with everything `scan` reports and `measure` needs to choose from.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub study_instance_uid: String,
    pub series_instance_uid: String,
    pub grouping: Grouping,
    pub modality: String,
    pub series_number: Option<i64>,
    pub series_description: String,
    pub plane: Option<Plane>,
    /// MR only.
    pub weighting: Option<Weighting>,
    /// What the weighting was inferred from.
    pub weighting_basis: Option<String>,
    pub rows: Option<u16>,
    pub columns: Option<u16>,
    /// Image planes in the series (frames of multi-frame files count one each).
    pub num_slices: usize,
    pub num_instances: usize,
    /// `[between rows, between columns]` in mm.
    pub pixel_spacing_mm: Option<[f64; 2]>,
    pub slice_thickness_mm: Option<f64>,
    /// Measured from the slice positions (not the SpacingBetweenSlices attribute).
    pub spacing_between_slices_mm: Option<f64>,
    /// Extent of the stack across slices, first to last slice centre plus one thickness (mm).
    pub coverage_mm: Option<f64>,
    pub transfer_syntax_uid: String,
    pub transfer_syntax: String,
    pub usable: bool,
    /// Why the series cannot be used (when `usable` is false).
    pub reason: Option<String>,
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub instances: Vec<InstanceHeader>,
    #[serde(skip)]
    pub plan: Option<StackPlan>,
}

impl Series {
    pub fn modality_kind(&self) -> Option<Modality> {
        Modality::from_code(&self.modality)
    }
}

/// Minimum extent across a sagittal slab for both foramina (15-30 mm either side of the
/// midline, domain.md) to be covered at least in part.
pub const MIN_SAGITTAL_COVERAGE_MM: f64 = 30.0;
/// Thicker slices blur the foramen (typically 2-5 slices per side at 3-4 mm).
pub const THICK_SLICE_MM: f64 = 5.0;

fn tokens(s: &str) -> Vec<String> {
    s.to_ascii_uppercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// Infers the MR weighting from the series description first (what the technologist
/// named it), then from the timing parameters.
pub fn infer_weighting(description: &str, timing: &MrTiming) -> (Weighting, String) {
    let toks = tokens(description);
    let has = |p: &str| toks.iter().any(|t| t.starts_with(p));
    let stir = has("STIR") || has("TIRM");
    let t1 = has("T1");
    let t2 = has("T2");
    let pd = toks
        .iter()
        .any(|t| t == "PD" || t == "PDW" || t.starts_with("PD_"));
    let by_name = match (stir, t1, t2, pd) {
        (true, _, _, _) => Some(Weighting::STIR),
        (false, true, false, _) => Some(Weighting::T1),
        (false, false, true, _) => Some(Weighting::T2),
        (false, false, false, true) => Some(Weighting::PD),
        _ => None,
    };
    if let Some(w) = by_name {
        return (w, format!("series description {description:?}"));
    }
    let (tr, te, ti) = (
        timing.repetition_time_ms,
        timing.echo_time_ms,
        timing.inversion_time_ms,
    );
    let basis = format!(
        "TR {} ms, TE {} ms{}",
        tr.map_or("?".into(), |v| format!("{v:.0}")),
        te.map_or("?".into(), |v| format!("{v:.0}")),
        ti.map_or(String::new(), |v| format!(", TI {v:.0} ms"))
    );
    // Short-tau inversion recovery nulls fat with TI ≈ 0.69·T1(fat): 100-250 ms at 1.5-3 T.
    if let Some(ti) = ti
        && (80.0..=300.0).contains(&ti)
    {
        return (Weighting::STIR, basis);
    }
    let w = match (tr, te) {
        (Some(tr), Some(te)) if tr <= 1000.0 && te <= 30.0 => Weighting::T1,
        (Some(tr), Some(te)) if tr >= 1500.0 && te >= 60.0 => Weighting::T2,
        (Some(tr), Some(te)) if tr >= 1500.0 && te <= 40.0 => Weighting::PD,
        _ => Weighting::Unknown,
    };
    (w, basis)
}

fn is_localizer(h: &InstanceHeader) -> bool {
    h.image_type
        .iter()
        .any(|t| t.eq_ignore_ascii_case("LOCALIZER"))
        || tokens(&h.series_description).iter().any(|t| {
            matches!(
                t.as_str(),
                "LOC"
                    | "LOCALIZER"
                    | "LOCALISER"
                    | "SCOUT"
                    | "SURVEY"
                    | "SCANOGRAM"
                    | "TOPOGRAM"
                    | "3PLANE"
            )
        })
}

const SECONDARY_CAPTURE_PREFIX: &str = "1.2.840.10008.5.1.4.1.1.7";

/// Why a series cannot be measured on, checked in order of how fundamental the problem is.
fn unusable_reason(s: &Series, plan: &Result<StackPlan, String>) -> Option<String> {
    let first = s.instances.first()?;
    let modality = match s.modality_kind() {
        Some(m) => m,
        None if s.modality.is_empty() => {
            return Some("no Modality: only MR and CT series are measured".into());
        }
        None => {
            return Some(format!(
                "modality {}: only MR and CT series are measured",
                s.modality
            ));
        }
    };
    if !first.is_image() {
        return Some(format!("not an image (SOP class {})", first.sop_class_uid));
    }
    if first.sop_class_uid.starts_with(SECONDARY_CAPTURE_PREFIX) {
        return Some("secondary capture: a derived picture, not an acquisition".into());
    }
    if s.instances.iter().any(is_localizer) {
        return Some("localizer".into());
    }
    if first.samples_per_pixel.unwrap_or(1) != 1
        || !first.photometric_interpretation.starts_with("MONOCHROME")
    {
        return Some(format!(
            "colour image ({}): only grey-scale images are measured",
            first.photometric_interpretation
        ));
    }
    if !transfer_syntax::can_decode_pixels(&s.transfer_syntax_uid) {
        return Some(format!(
            "transfer syntax {} ({}) cannot be decoded by this build{}",
            s.transfer_syntax,
            s.transfer_syntax_uid,
            transfer_syntax::unsupported_hint(&s.transfer_syntax_uid)
        ));
    }
    if let Err(e) = plan {
        return Some(format!("inconsistent geometry: {e}"));
    }
    if s.num_slices == 1 {
        return Some("single slice".into());
    }
    match (modality, s.plane) {
        (_, Some(Plane::Sagittal)) => {}
        (Modality::CT, Some(Plane::Axial)) => {}
        (Modality::MR, Some(p)) => {
            return Some(format!("{p} MR: foramina are measured on sagittal series"));
        }
        (Modality::CT, Some(p)) => {
            return Some(format!(
                "{p} CT: foramina are measured on sagittal CT or on axial CT resliced to sagittal"
            ));
        }
        (_, None) => return Some("no plane: orientation unknown".into()),
    }
    if s.weighting == Some(Weighting::STIR) {
        return Some(
            "STIR (fat-suppressed): perineural fat, the foramen's landmark, is not visible".into(),
        );
    }
    if s.plane == Some(Plane::Sagittal)
        && let Some(cov) = s.coverage_mm
        && cov < MIN_SAGITTAL_COVERAGE_MM
    {
        return Some(format!(
            "slab covers only {cov:.0} mm left-right; both foramina need at least {MIN_SAGITTAL_COVERAGE_MM:.0} mm"
        ));
    }
    None
}

/// The StudyInstanceUID an instance is grouped under (derived when the header has none),
/// so that work can be partitioned by study before grouping.
pub fn study_key(h: &InstanceHeader) -> String {
    match &h.study_instance_uid {
        Some(study) if h.series_instance_uid.is_some() => study.clone(),
        _ => series_key(h).0,
    }
}

fn series_key(h: &InstanceHeader) -> (String, String, Grouping) {
    let round = |v: f64| format!("{:.3}", v);
    match (&h.study_instance_uid, &h.series_instance_uid) {
        (Some(study), Some(series)) => (study.clone(), series.clone(), Grouping::Uids),
        (study, series) => {
            let g = h.frames.first();
            let iop = g
                .and_then(|g| g.orientation)
                .map(|o| o.map(round).join("\\"))
                .unwrap_or_default();
            let ps = g
                .and_then(|g| g.pixel_spacing_mm)
                .map(|p| p.map(round).join("\\"))
                .unwrap_or_default();
            let for_uid = h.frame_of_reference_uid.clone().unwrap_or_default();
            let study = study
                .clone()
                .unwrap_or_else(|| derived_uid(&["study", &for_uid, &h.study_description]));
            let size = format!("{:?}x{:?}", h.rows, h.columns);
            let series = series.clone().unwrap_or_else(|| {
                derived_uid(&[
                    "series",
                    &study,
                    &for_uid,
                    &h.modality,
                    &iop,
                    &ps,
                    &size,
                    &h.series_description,
                ])
            });
            (study, series, Grouping::Derived)
        }
    }
}

/// Groups instances into series (sorted by study, series number, series UID) and
/// describes each one.
pub fn group_series(instances: Vec<InstanceHeader>) -> Vec<Series> {
    let mut groups: BTreeMap<(String, String), (Grouping, Vec<InstanceHeader>)> = BTreeMap::new();
    for h in instances {
        let (study, series, grouping) = series_key(&h);
        groups
            .entry((study, series))
            .or_insert_with(|| (grouping, Vec::new()))
            .1
            .push(h);
    }
    let mut studies_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (study, series) in groups.keys() {
        studies_of
            .entry(series.clone())
            .or_default()
            .push(study.clone());
    }
    let mut out: Vec<Series> = groups
        .into_iter()
        .map(|((study, series), (grouping, instances))| {
            let mut s = describe(study, series, grouping, instances);
            if let Some(studies) = studies_of.get(&s.series_instance_uid)
                && studies.len() > 1
            {
                s.warnings.push(format!(
                    "SeriesInstanceUID also appears in {} other studies: its files were split by StudyInstanceUID",
                    studies.len() - 1
                ));
            }
            s
        })
        .collect();
    out.sort_by(|a, b| {
        a.study_instance_uid
            .cmp(&b.study_instance_uid)
            .then(a.series_number.cmp(&b.series_number))
            .then(a.series_instance_uid.cmp(&b.series_instance_uid))
    });
    out
}

fn describe(
    study: String,
    series_uid: String,
    grouping: Grouping,
    mut instances: Vec<InstanceHeader>,
) -> Series {
    let mut warnings = Vec::new();
    if grouping == Grouping::Derived {
        warnings.push(
            "StudyInstanceUID or SeriesInstanceUID missing: grouped by frame of reference, geometry and description".into(),
        );
    }
    // The same SOP instance stored twice (re-sends, copies) must not become two slices.
    instances.sort_by(|a, b| a.path.cmp(&b.path));
    let mut kept: std::collections::HashMap<String, PathBuf> = std::collections::HashMap::new();
    let mut dropped: Vec<String> = Vec::new();
    instances.retain(|h| {
        if h.sop_instance_uid.is_empty() {
            return true;
        }
        match kept.get(&h.sop_instance_uid) {
            Some(first) => {
                dropped.push(format!(
                    "{} (same as {})",
                    h.path.display(),
                    first.display()
                ));
                false
            }
            None => {
                kept.insert(h.sop_instance_uid.clone(), h.path.clone());
                true
            }
        }
    });
    if !dropped.is_empty() {
        warnings.push(format!(
            "{} files ignored for repeating another file's SOPInstanceUID: {}",
            dropped.len(),
            dropped.join("; ")
        ));
    }
    let first = instances[0].clone();
    let mut ts: Vec<&str> = instances
        .iter()
        .map(|h| h.transfer_syntax_uid.as_str())
        .collect();
    ts.sort_unstable();
    ts.dedup();
    if ts.len() > 1 {
        warnings.push(format!(
            "instances use {} different transfer syntaxes",
            ts.len()
        ));
    }
    // Report the syntax that cannot be decoded, if any, since it decides usability.
    let ts_uid = ts
        .iter()
        .find(|u| !transfer_syntax::can_decode_pixels(u))
        .unwrap_or(&ts[0])
        .to_string();
    let plan = plan_stack(&instances).map_err(|e| e.message());
    let num_slices: usize = instances
        .iter()
        .filter(|h| h.is_image())
        .map(|h| h.frames.len().max(1))
        .sum();
    let g0 = first.frames.first();
    let (plane, spacing_between, coverage) = match &plan {
        Ok(p) => {
            warnings.extend(p.warnings.iter().cloned());
            let n = p.slices.len() as f64;
            let cov = (n - 1.0) * p.geometry.spacing_mm[0] + p.geometry.slice_thickness_mm;
            (
                Some(p.geometry.plane()),
                (p.slices.len() > 1).then_some(p.geometry.spacing_mm[0]),
                Some(cov),
            )
        }
        Err(_) => {
            let plane = g0.and_then(|g| g.orientation).map(|o| {
                Plane::from_normal(crate::volume::geometry::cross(
                    [o[0], o[1], o[2]],
                    [o[3], o[4], o[5]],
                ))
            });
            (plane, None, None)
        }
    };
    let (weighting, weighting_basis) = if first.modality == "MR" {
        let (w, basis) = infer_weighting(&first.series_description, &first.mr);
        (Some(w), Some(basis))
    } else {
        (None, None)
    };
    let thickness = g0.and_then(|g| g.slice_thickness_mm);
    if let Some(t) = thickness
        && t > THICK_SLICE_MM
    {
        warnings.push(format!(
            "thick slices ({t:.1} mm): foraminal measurements will be blurred"
        ));
    }
    let mut s = Series {
        study_instance_uid: study,
        series_instance_uid: series_uid,
        grouping,
        modality: first.modality.clone(),
        series_number: first.series_number,
        series_description: first.series_description.clone(),
        plane,
        weighting,
        weighting_basis,
        rows: first.rows,
        columns: first.columns,
        num_slices,
        num_instances: instances.len(),
        pixel_spacing_mm: g0.and_then(|g| g.pixel_spacing_mm),
        slice_thickness_mm: thickness,
        spacing_between_slices_mm: spacing_between,
        coverage_mm: coverage,
        transfer_syntax: transfer_syntax::name(&ts_uid),
        transfer_syntax_uid: ts_uid,
        usable: false,
        reason: None,
        warnings,
        instances,
        plan: None,
    };
    s.reason = unusable_reason(&s, &plan);
    s.usable = s.reason.is_none();
    s.plan = plan.ok();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(tr: f64, te: f64, ti: Option<f64>) -> MrTiming {
        MrTiming {
            repetition_time_ms: Some(tr),
            echo_time_ms: Some(te),
            inversion_time_ms: ti,
            ..Default::default()
        }
    }

    #[test]
    fn weighting_from_description_then_timing() {
        assert_eq!(
            infer_weighting("SAG T1 TSE", &MrTiming::default()).0,
            Weighting::T1
        );
        assert_eq!(
            infer_weighting("t2_tse_sag_384", &MrTiming::default()).0,
            Weighting::T2
        );
        assert_eq!(
            infer_weighting("Sag STIR", &timing(4000.0, 60.0, Some(150.0))).0,
            Weighting::STIR
        );
        assert_eq!(
            infer_weighting("T2W_TIRM", &MrTiming::default()).0,
            Weighting::STIR
        );
        assert_eq!(
            infer_weighting("SAG FSE", &timing(550.0, 12.0, None)).0,
            Weighting::T1
        );
        assert_eq!(
            infer_weighting("SAG FSE", &timing(3500.0, 100.0, None)).0,
            Weighting::T2
        );
        assert_eq!(
            infer_weighting("SAG FSE", &timing(3000.0, 20.0, None)).0,
            Weighting::PD
        );
        assert_eq!(
            infer_weighting("SAG IR", &timing(3500.0, 40.0, Some(160.0))).0,
            Weighting::STIR
        );
        assert_eq!(
            infer_weighting("", &MrTiming::default()).0,
            Weighting::Unknown
        );
        // A description naming both contrasts is ambiguous: timing decides.
        assert_eq!(
            infer_weighting("T1 T2 combo", &timing(500.0, 10.0, None)).0,
            Weighting::T1
        );
    }
}
