//! Choosing, per study, the series to measure foramina on.
//!
//! Preference (issue 4): sagittal T1 MR, then sagittal T2 MR, then other sagittal MR,
//! then sagittal CT, then axial CT (resliced). Within a class: more slices across the
//! spine, thinner slices, finer pixels, then the lowest series number.

use serde::{Deserialize, Serialize};

use crate::series::Series;
use crate::volume::Weighting;
use crate::volume::{Modality, Plane};

/// Why a series was or was not chosen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Choice {
    pub series_instance_uid: String,
    pub series_number: Option<i64>,
    pub series_description: String,
    pub selected: bool,
    pub reason: String,
}

/// The selection for one study.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudySelection {
    pub study_instance_uid: String,
    /// Series chosen for measurement, if any.
    pub selected_series: Option<String>,
    /// One line saying which series was used and why the others were not.
    pub summary: String,
    pub choices: Vec<Choice>,
}

/// Preference class of a usable series (lower is better), with its name.
pub fn class(s: &Series) -> Option<(u8, &'static str)> {
    if !s.usable {
        return None;
    }
    match (s.modality_kind()?, s.plane?, s.weighting) {
        (Modality::MR, Plane::Sagittal, Some(Weighting::T1)) => Some((0, "sagittal T1 MR")),
        (Modality::MR, Plane::Sagittal, Some(Weighting::T2)) => Some((1, "sagittal T2 MR")),
        (Modality::MR, Plane::Sagittal, _) => Some((2, "sagittal MR of unknown weighting")),
        (Modality::CT, Plane::Sagittal, _) => Some((3, "sagittal CT")),
        (Modality::CT, Plane::Axial, _) => Some((4, "axial CT (resliced to sagittal)")),
        _ => None,
    }
}

fn rank_key(s: &Series) -> (u8, i64, i64, i64, i64) {
    let (c, _) = class(s).unwrap_or((u8::MAX, ""));
    // Thickness in half-millimetre steps: 3.0 and 3.3 mm count as equally thin.
    let thickness = (s.slice_thickness_mm.unwrap_or(99.0) * 2.0).round() as i64;
    let pixel_um = s
        .pixel_spacing_mm
        .map_or(99_999, |p| (p[0].max(p[1]) * 1000.0) as i64);
    (
        c,
        thickness,
        -(s.num_slices as i64),
        pixel_um,
        s.series_number.unwrap_or(i64::MAX),
    )
}

/// Selects one series per study from `series` (which may span several studies).
/// `forced` names a series to use regardless of preference.
pub fn select(series: &[Series], forced: Option<&str>) -> Vec<StudySelection> {
    let mut studies: Vec<&str> = series
        .iter()
        .map(|s| s.study_instance_uid.as_str())
        .collect();
    studies.sort_unstable();
    studies.dedup();
    studies
        .into_iter()
        .map(|study| {
            let members: Vec<&Series> = series
                .iter()
                .filter(|s| s.study_instance_uid == study)
                .collect();
            let chosen: Option<&Series> = match forced {
                Some(uid) => members
                    .iter()
                    .copied()
                    .find(|s| s.series_instance_uid == uid),
                None => members
                    .iter()
                    .copied()
                    .filter(|s| class(s).is_some())
                    .min_by_key(|s| rank_key(s)),
            };
            let summary = match (chosen, forced) {
                (Some(c), Some(_)) => format!(
                    "series {} chosen on the command line (--series)",
                    describe(c)
                ),
                (Some(c), None) => {
                    let (cls, name) = class(c).expect("chosen from usable");
                    let note = if cls == 1 {
                        "; T2 used because no usable sagittal T1 exists (lower confidence)"
                    } else {
                        ""
                    };
                    format!("{name} series {} used{note}", describe(c))
                }
                (None, Some(uid)) => format!("the requested series {uid} is not in this study"),
                (None, None) => "no series suitable for foramen measurement".to_string(),
            };
            let choices = members
                .iter()
                .map(|s| {
                    let selected = chosen.is_some_and(|c| std::ptr::eq(c, *s));
                    let reason = if selected {
                        "selected".to_string()
                    } else if let Some(r) = &s.reason {
                        r.clone()
                    } else if forced.is_some() {
                        "another series was requested with --series".to_string()
                    } else {
                        let c = chosen.expect("a usable series exists, so one was chosen");
                        let (_, name) = class(c).unwrap_or((0, "another series"));
                        format!("{name} series {} preferred", describe(c))
                    };
                    Choice {
                        series_instance_uid: s.series_instance_uid.clone(),
                        series_number: s.series_number,
                        series_description: s.series_description.clone(),
                        selected,
                        reason,
                    }
                })
                .collect();
            StudySelection {
                study_instance_uid: study.to_string(),
                selected_series: chosen.map(|c| c.series_instance_uid.clone()),
                summary,
                choices,
            }
        })
        .collect()
}

fn describe(s: &Series) -> String {
    match (s.series_number, s.series_description.is_empty()) {
        (Some(n), false) => format!("#{n} \"{}\"", s.series_description),
        (Some(n), true) => format!("#{n}"),
        (None, false) => format!("\"{}\"", s.series_description),
        (None, true) => s.series_instance_uid.clone(),
    }
}
