//! Grade and flag of one neural foramen from its measurements.
//!
//! There is no accepted absolute cut-off for foraminal area, so the grade comes from
//! the evidence that exists in the literature (shared/domain.md). Each rule proposes a
//! grade; the result is the highest proposal, and the rule that proposed it is
//! reported (ties go to the earlier rule in this list):
//!
//! 1. **Lee fat obliteration** (Lee et al., AJR 2010;194:1095), when the directions of
//!    perineural fat obliteration around the root are known (MR T1): root collapse or
//!    deformity → severe; fat obliterated in all four directions → moderate; in two
//!    opposing directions (superior + inferior, or anterior + posterior) → mild;
//!    otherwise normal.
//! 2. **Hasegawa** (Hasegawa et al., JBJS Am 1995;77:32): nerve-root compression in 4 of
//!    5 foramina with foraminal height ≤ 15 mm and in 8 of 10 with posterior disc height
//!    ≤ 4 mm. Both criteria → moderate; either one → mild.
//! 3. **Relative narrowing** against the neighbouring levels on the same side, as the
//!    Spinal Cord Toolbox does for cord compression: `ratio = 1 - a / mean(neighbours)`.
//!    `ratio ≥ relative_severe` → severe, `≥ relative_moderate` → moderate,
//!    `≥ relative_mild` → mild. The default fractions are project choices, not
//!    literature values.
//! 4. **Absolute area**, off by default (`severe_area_mm2 = None`): an opt-in project
//!    threshold below which the foramen is called severe.
//!
//! Without a finite minimum area the grade is `indeterminate`. A foramen is `flagged`
//! when its grade is at least `flag_min_grade` (default moderate). Foraminal area
//! changes by up to ~44% with posture (AJR 1999;172:1095): a grade is automated
//! research output, not a diagnosis, and requires clinical correlation.

use serde::{Deserialize, Serialize};

use crate::spine::foramen::FatRim;

/// Perineural fat thinner than this between the root and the foramen boundary counts as
/// obliterated in that direction (mm).
pub const FAT_RIM_MIN_MM: f64 = 1.0;

/// A root whose area on the minimum-area plane is below this fraction of the series'
/// typical (median) root is taken as collapsed or deformed (Lee grade 3).
pub const ROOT_DEFORMED_RATIO: f64 = 0.5;

/// Ordinal grade; `Indeterminate` when the foramen could not be measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Grade {
    Normal,
    Mild,
    Moderate,
    Severe,
    Indeterminate,
}

impl Grade {
    /// Severity rank for comparisons (indeterminate ranks below normal).
    pub fn rank(self) -> u8 {
        match self {
            Grade::Indeterminate => 0,
            Grade::Normal => 1,
            Grade::Mild => 2,
            Grade::Moderate => 3,
            Grade::Severe => 4,
        }
    }

    /// The grade named by [`Grade::as_str`].
    pub fn parse(name: &str) -> Option<Grade> {
        [
            Grade::Normal,
            Grade::Mild,
            Grade::Moderate,
            Grade::Severe,
            Grade::Indeterminate,
        ]
        .into_iter()
        .find(|g| g.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Grade::Normal => "normal",
            Grade::Mild => "mild",
            Grade::Moderate => "moderate",
            Grade::Severe => "severe",
            Grade::Indeterminate => "indeterminate",
        }
    }
}

/// The rule that decided the grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// No finite minimum area: indeterminate.
    NoMeasurement,
    LeeFatObliteration,
    Hasegawa,
    RelativeNarrowing,
    AbsoluteArea,
    /// Measured, and no rule found narrowing.
    NoneFired,
}

/// Directions (in the sagittal image, relative to the root) in which perineural fat is
/// obliterated, and whether the root is collapsed or deformed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FatObliteration {
    pub superior: bool,
    pub inferior: bool,
    pub anterior: bool,
    pub posterior: bool,
    pub root_deformed: bool,
}

/// What the grading looks at. `None` = not available.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ForamenMeasurements {
    pub min_area_mm2: Option<f64>,
    pub height_mm: Option<f64>,
    pub posterior_disc_height_mm: Option<f64>,
    /// `1 - a / mean(neighbours)` (see [`neighbour_ratio`]).
    pub neighbour_ratio: Option<f64>,
    pub fat_obliteration: Option<FatObliteration>,
}

/// Configurable thresholds; defaults from shared/domain.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Hasegawa 1995: foraminal height at or below this is suspicious.
    pub hasegawa_height_mm: f64,
    /// Hasegawa 1995: posterior disc height at or below this is suspicious.
    pub hasegawa_posterior_disc_height_mm: f64,
    pub relative_mild: f64,
    pub relative_moderate: f64,
    pub relative_severe: f64,
    /// Opt-in absolute threshold (mm²) for severe; `None` by default.
    pub severe_area_mm2: Option<f64>,
    pub flag_min_grade: Grade,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            hasegawa_height_mm: 15.0,
            hasegawa_posterior_disc_height_mm: 4.0,
            relative_mild: 0.25,
            relative_moderate: 0.4,
            relative_severe: 0.6,
            severe_area_mm2: None,
            flag_min_grade: Grade::Moderate,
        }
    }
}

/// Why a thresholds file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ThresholdsError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid thresholds file: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl Thresholds {
    /// Reads a thresholds file: JSON when the name ends in `.json`, TOML otherwise.
    /// Missing keys keep their defaults; unknown keys are an error (a typo must not
    /// silently fall back to a default).
    pub fn from_file(path: &std::path::Path) -> Result<Thresholds, ThresholdsError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ThresholdsError::Io {
            path: p.clone(),
            source,
        })?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let t: Thresholds = if is_json {
            serde_json::from_str(&text).map_err(|e| ThresholdsError::Parse {
                path: p.clone(),
                message: e.to_string(),
            })?
        } else {
            toml::from_str(&text).map_err(|e| ThresholdsError::Parse {
                path: p.clone(),
                message: e.to_string(),
            })?
        };
        t.validate()
            .map_err(|message| ThresholdsError::Invalid { path: p, message })?;
        Ok(t)
    }

    /// Checks that the values make sense together.
    pub fn validate(&self) -> Result<(), String> {
        let finite_pos = |v: f64| v.is_finite() && v > 0.0;
        if !finite_pos(self.hasegawa_height_mm)
            || !finite_pos(self.hasegawa_posterior_disc_height_mm)
        {
            return Err("Hasegawa heights must be positive numbers of millimetres".into());
        }
        if !(0.0 < self.relative_mild
            && self.relative_mild <= self.relative_moderate
            && self.relative_moderate <= self.relative_severe
            && self.relative_severe < 1.0)
        {
            return Err(
                "relative narrowing fractions must satisfy 0 < mild <= moderate <= severe < 1"
                    .into(),
            );
        }
        if self.severe_area_mm2.is_some_and(|a| !finite_pos(a)) {
            return Err("severe_area_mm2 must be a positive number of mm²".into());
        }
        if self.flag_min_grade == Grade::Indeterminate {
            return Err("flag_min_grade must be mild, moderate or severe (or normal)".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grading {
    pub grade: Grade,
    pub flagged: bool,
    pub rule: Rule,
}

/// Relative narrowing `1 - area / mean(neighbours)` over the neighbours that exist;
/// `None` without neighbours or with a non-positive mean.
pub fn neighbour_ratio(
    area_mm2: f64,
    above_mm2: Option<f64>,
    below_mm2: Option<f64>,
) -> Option<f64> {
    let n: Vec<f64> = [above_mm2, below_mm2]
        .into_iter()
        .flatten()
        .filter(|a| a.is_finite())
        .collect();
    if n.is_empty() || !area_mm2.is_finite() {
        return None;
    }
    let mean = n.iter().sum::<f64>() / n.len() as f64;
    (mean > 0.0).then(|| 1.0 - area_mm2 / mean)
}

/// The median root area over a series' foramina (roots of zero area left out): what
/// [`fat_obliteration`] compares each root with.
pub fn typical_root_area(root_areas_mm2: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    let mut roots: Vec<f64> = root_areas_mm2
        .into_iter()
        .filter_map(|a| a.filter(|a| *a > 0.0))
        .collect();
    roots.sort_by(f64::total_cmp);
    roots.get(roots.len() / 2).copied()
}

/// The directions in which the fat rim is obliterated (thinner than
/// [`FAT_RIM_MIN_MM`] before the boundary), and root deformity against the series'
/// typical root; `None` when no root was seen.
pub fn fat_obliteration(
    rim: Option<&FatRim>,
    root_area_mm2: Option<f64>,
    typical_root_mm2: Option<f64>,
) -> Option<FatObliteration> {
    let rim = rim?;
    let thin = |t: Option<f64>| t.is_some_and(|t| t < FAT_RIM_MIN_MM);
    Some(FatObliteration {
        superior: thin(rim.superior),
        inferior: thin(rim.inferior),
        anterior: thin(rim.anterior),
        posterior: thin(rim.posterior),
        root_deformed: match (root_area_mm2, typical_root_mm2) {
            (Some(a), Some(t)) => a < ROOT_DEFORMED_RATIO * t,
            _ => false,
        },
    })
}

fn lee(f: &FatObliteration) -> Grade {
    if f.root_deformed {
        Grade::Severe
    } else if f.superior && f.inferior && f.anterior && f.posterior {
        Grade::Moderate
    } else if (f.superior && f.inferior) || (f.anterior && f.posterior) {
        Grade::Mild
    } else {
        Grade::Normal
    }
}

/// Applies the rules of the module documentation.
pub fn grade(m: &ForamenMeasurements, t: &Thresholds) -> Grading {
    let finite = |v: Option<f64>| v.filter(|x| x.is_finite());
    let Some(area) = finite(m.min_area_mm2) else {
        return Grading {
            grade: Grade::Indeterminate,
            flagged: false,
            rule: Rule::NoMeasurement,
        };
    };
    let mut proposals: Vec<(Grade, Rule)> = Vec::new();
    if let Some(f) = &m.fat_obliteration {
        proposals.push((lee(f), Rule::LeeFatObliteration));
    }
    let low_height = finite(m.height_mm).is_some_and(|h| h <= t.hasegawa_height_mm);
    let low_disc = finite(m.posterior_disc_height_mm)
        .is_some_and(|h| h <= t.hasegawa_posterior_disc_height_mm);
    let hasegawa = match (low_height, low_disc) {
        (true, true) => Grade::Moderate,
        (true, false) | (false, true) => Grade::Mild,
        _ => Grade::Normal,
    };
    proposals.push((hasegawa, Rule::Hasegawa));
    if let Some(r) = finite(m.neighbour_ratio) {
        let g = if r >= t.relative_severe {
            Grade::Severe
        } else if r >= t.relative_moderate {
            Grade::Moderate
        } else if r >= t.relative_mild {
            Grade::Mild
        } else {
            Grade::Normal
        };
        proposals.push((g, Rule::RelativeNarrowing));
    }
    if let Some(limit) = t.severe_area_mm2
        && area <= limit
    {
        proposals.push((Grade::Severe, Rule::AbsoluteArea));
    }
    let (grade, rule) = proposals
        .iter()
        .fold((Grade::Normal, Rule::NoneFired), |best, &(g, r)| {
            if g.rank() > best.0.rank() {
                (g, r)
            } else {
                best
            }
        });
    Grading {
        grade,
        flagged: grade.rank() >= t.flag_min_grade.rank(),
        rule,
    }
}

/// Confidence (0-1, as in `report.json`) at or above which a result is presented as
/// high (green in `report.html`). A presentation band only: grading never reads it.
pub const CONFIDENCE_HIGH: f64 = 0.7;

/// Confidence at or above which, below [`CONFIDENCE_HIGH`], a result is presented as
/// moderate; below it, as low (red, bold).
pub const CONFIDENCE_MODERATE: f64 = 0.4;

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(area: f64) -> ForamenMeasurements {
        ForamenMeasurements {
            min_area_mm2: Some(area),
            height_mm: Some(20.0),
            posterior_disc_height_mm: Some(8.0),
            ..Default::default()
        }
    }

    #[test]
    fn missing_area_is_indeterminate() {
        let g = grade(&ForamenMeasurements::default(), &Thresholds::default());
        assert_eq!(
            (g.grade, g.rule, g.flagged),
            (Grade::Indeterminate, Rule::NoMeasurement, false)
        );
        let g = grade(&measured(f64::NAN), &Thresholds::default());
        assert_eq!(g.grade, Grade::Indeterminate);
    }

    #[test]
    fn healthy_foramen_is_normal_and_unflagged() {
        let g = grade(&measured(120.0), &Thresholds::default());
        assert_eq!(
            (g.grade, g.rule, g.flagged),
            (Grade::Normal, Rule::NoneFired, false)
        );
    }

    #[test]
    fn hasegawa_criteria() {
        let t = Thresholds::default();
        let mut m = measured(80.0);
        m.height_mm = Some(15.0); // "<= 15 mm" includes the limit
        assert_eq!(grade(&m, &t).grade, Grade::Mild);
        m.posterior_disc_height_mm = Some(4.0);
        let g = grade(&m, &t);
        assert_eq!(
            (g.grade, g.rule, g.flagged),
            (Grade::Moderate, Rule::Hasegawa, true)
        );
        m.height_mm = Some(15.1);
        assert_eq!(grade(&m, &t).grade, Grade::Mild);
    }

    #[test]
    fn lee_fat_obliteration_grades() {
        let t = Thresholds::default();
        let mut m = measured(60.0);
        let mut f = FatObliteration {
            superior: true,
            inferior: true,
            ..Default::default()
        };
        m.fat_obliteration = Some(f);
        assert_eq!(grade(&m, &t).grade, Grade::Mild);
        f.superior = false;
        f.anterior = true; // not opposing
        m.fat_obliteration = Some(f);
        assert_eq!(grade(&m, &t).grade, Grade::Normal);
        f = FatObliteration {
            superior: true,
            inferior: true,
            anterior: true,
            posterior: true,
            root_deformed: false,
        };
        m.fat_obliteration = Some(f);
        assert_eq!(grade(&m, &t).grade, Grade::Moderate);
        f.root_deformed = true;
        m.fat_obliteration = Some(f);
        let g = grade(&m, &t);
        assert_eq!((g.grade, g.rule), (Grade::Severe, Rule::LeeFatObliteration));
    }

    #[test]
    fn relative_narrowing_ratio_and_grade() {
        // 1 - 40 / mean(100, 120) = 1 - 40/110 = 0.636...
        let r = neighbour_ratio(40.0, Some(100.0), Some(120.0)).unwrap();
        assert!((r - (1.0 - 40.0 / 110.0)).abs() < 1e-12);
        assert_eq!(neighbour_ratio(40.0, None, None), None);
        assert_eq!(neighbour_ratio(40.0, Some(80.0), None), Some(0.5));
        let mut m = measured(40.0);
        m.neighbour_ratio = Some(r);
        let g = grade(&m, &Thresholds::default());
        assert_eq!((g.grade, g.rule), (Grade::Severe, Rule::RelativeNarrowing));
        m.neighbour_ratio = Some(0.3);
        assert_eq!(grade(&m, &Thresholds::default()).grade, Grade::Mild);
    }

    #[test]
    fn absolute_area_is_opt_in() {
        let m = measured(20.0);
        assert_eq!(grade(&m, &Thresholds::default()).grade, Grade::Normal);
        let t = Thresholds {
            severe_area_mm2: Some(30.0),
            ..Default::default()
        };
        let g = grade(&m, &t);
        assert_eq!((g.grade, g.rule), (Grade::Severe, Rule::AbsoluteArea));
    }

    #[test]
    fn thresholds_deserialise_with_defaults() {
        let t: Thresholds = serde_json::from_str(r#"{"hasegawa_height_mm": 14.0}"#).unwrap();
        assert_eq!(t.hasegawa_height_mm, 14.0);
        assert_eq!(t.hasegawa_posterior_disc_height_mm, 4.0);
        assert_eq!(t.flag_min_grade, Grade::Moderate);
    }

    #[test]
    fn thresholds_files_in_toml_and_json_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let toml_path = dir.path().join("t.toml");
        std::fs::write(
            &toml_path,
            "hasegawa_height_mm = 14.0\nflag_min_grade = \"mild\"\n",
        )
        .unwrap();
        let t = Thresholds::from_file(&toml_path).unwrap();
        assert_eq!(t.hasegawa_height_mm, 14.0);
        assert_eq!(t.flag_min_grade, Grade::Mild);
        assert_eq!(t.relative_severe, Thresholds::default().relative_severe);
        let json_path = dir.path().join("t.json");
        std::fs::write(&json_path, r#"{"severe_area_mm2": 40}"#).unwrap();
        assert_eq!(
            Thresholds::from_file(&json_path).unwrap().severe_area_mm2,
            Some(40.0)
        );
    }

    #[test]
    fn bad_thresholds_files_are_rejected_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.toml");
        std::fs::write(&p, "hasegawa_hieght_mm = 14.0\n").unwrap();
        let e = Thresholds::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("hasegawa_hieght_mm"), "{e}");
        std::fs::write(&p, "relative_mild = 0.7\nrelative_moderate = 0.4\n").unwrap();
        assert!(matches!(
            Thresholds::from_file(&p),
            Err(ThresholdsError::Invalid { .. })
        ));
        assert!(matches!(
            Thresholds::from_file(&dir.path().join("missing.toml")),
            Err(ThresholdsError::Io { .. })
        ));
    }
}
