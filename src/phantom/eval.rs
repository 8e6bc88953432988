//! Foramen accuracy on generated phantoms: the evaluation behind
//! `examples/eval_phantoms.rs` and the regression test `tests/foramen_eval.rs`.
//!
//! Cases cycle through MR T1, MR T2, CT sagittal and CT axial; severities normal,
//! mixed, severe, random; SNR 8-30; slice thickness 3-5 mm. Each case is rendered,
//! localised and measured as `foramen measure` does, and every truth foramen is compared
//! with the reported one of the same level and side (or, with `by_position`, with the
//! one found at the truth disc's position, which separates segmentation from labelling
//! errors). Correct area: within 10 % of the truth, or 6 mm² under 60 mm².

use crate::grading::Thresholds;
use crate::phantom::anatomy::Side as TruthSide;
use crate::phantom::output::suite_case;
use crate::phantom::{PhantomOptions, PhantomPlane, generate};
use crate::spine::foramen::Side;
use crate::spine::{AnalysisOptions, analyse};

/// Accuracy figures of one evaluation run.
#[derive(Debug, Clone, Default)]
pub struct EvalSummary {
    pub cases: usize,
    pub total: usize,
    pub found: usize,
    pub area_ok: usize,
    /// Median of |found - truth| / truth over the found foramina.
    pub median_abs_area_error: f64,
    pub height_ok: usize,
    pub height_n: usize,
    pub grade_ok: usize,
    pub confusion: std::collections::BTreeMap<(String, String), usize>,
    /// Median time of the analysis (levels and foramina) per case (ms).
    pub foramen_ms: f64,
    /// One line per case, and per foramen when `verbose`.
    pub lines: Vec<String>,
}

/// Options of case `i` of the suite.
pub fn case_options(first: u64, i: usize) -> PhantomOptions {
    // The varied suite of `foramen phantom --suite` without transitional anatomy (the
    // truth then names other levels), with slice thickness 3-5 mm on sagittal series.
    let base = PhantomOptions {
        seed: first,
        ..Default::default()
    };
    let mut o = suite_case(&base, i);
    o.lumbar_count = 5;
    o.slice_thickness_mm =
        (o.plane == PhantomPlane::Sagittal).then(|| [3.0, 3.5, 4.0, 4.5, 5.0][(i / 2) % 5]);
    o
}

/// Runs `cases` cases from seed `first`.
pub fn evaluate(cases: usize, first: u64, by_position: bool, verbose: bool) -> EvalSummary {
    let thresholds = Thresholds::default();
    let mut lines: Vec<String> = Vec::new();
    macro_rules! out {
        ($($t:tt)*) => { lines.push(format!($($t)*)) };
    }

    let (mut total, mut found, mut area_ok, mut height_ok, mut height_n, mut grade_ok) =
        (0, 0, 0, 0, 0, 0);
    let mut errors = Vec::new();
    let mut times = Vec::new();
    let mut confusion = std::collections::BTreeMap::<(String, String), usize>::new();
    for i in 0..cases {
        let opts = case_options(first, i);
        let case = generate(&opts).expect("valid options");
        let weighting = opts.series_weighting();
        let label = format!(
            "{:?} {:?} {:?} {:?} snr {} thick {:.1}",
            opts.modality,
            opts.weighting,
            opts.plane,
            opts.severity,
            opts.snr,
            case.volume.geometry.slice_thickness_mm
        );
        let start = std::time::Instant::now();
        // Truth level -> name of the found disc at that position (labelling aside).
        let mut physical = std::collections::HashMap::<String, String>::new();
        let analysis = analyse(
            &case.volume,
            &AnalysisOptions {
                weighting,
                ..Default::default()
            },
        );
        let (results, graded) = match analysis {
            Ok(analysis) => {
                let in_plane = |a: [f64; 3], b: [f64; 3]| {
                    ((a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
                };
                for d in &analysis.model.localization.discs {
                    if let Some(t) = case.truth.discs.iter().min_by(|a, b| {
                        in_plane(a.center_mm, d.center_mm)
                            .total_cmp(&in_plane(b.center_mm, d.center_mm))
                    }) && in_plane(t.center_mm, d.center_mm) < 15.0
                    {
                        physical.insert(t.level.clone(), d.level.clone());
                    }
                }
                times.push(start.elapsed().as_secs_f64() * 1000.0);
                let graded = crate::pipeline::graded_levels(&analysis.foramina, &thresholds);
                (analysis.foramina, graded)
            }
            Err(e) => {
                out!(
                    "case {i:2} seed {} {label}: localisation failed: {e}",
                    opts.seed
                );
                (Vec::new(), Vec::new())
            }
        };
        let grade_of = |r: &crate::spine::foramen::ForamenResult| {
            graded
                .iter()
                .find(|l| l.level == r.level && l.side == r.side.as_str())
                .map_or(
                    (
                        "indeterminate".to_string(),
                        crate::grading::Rule::NoMeasurement,
                    ),
                    |l| (l.grade.to_string(), l.rule),
                )
        };
        let (mut c_found, mut c_ok, mut c_n) = (0, 0, 0);
        for t in &case.truth.levels {
            let Some(ta) = t.min_area_mm2 else { continue };
            total += 1;
            c_n += 1;
            let side = match t.side {
                TruthSide::Left => Side::Left,
                TruthSide::Right => Side::Right,
            };
            let name = if by_position {
                physical.get(&t.level).cloned().unwrap_or_default()
            } else {
                t.level.clone()
            };
            let r = results.iter().find(|r| r.level == name && r.side == side);
            let Some(r) = r.filter(|r| r.min_area_mm2.is_some()) else {
                if verbose {
                    out!(
                        "    {} {:5}: truth {ta:6.1} | not found: {}",
                        t.level,
                        side.as_str(),
                        r.and_then(|r| r.reason.clone()).unwrap_or_default()
                    );
                }
                *confusion
                    .entry((t.grade.as_str().into(), "missing".into()))
                    .or_default() += 1;
                continue;
            };
            found += 1;
            c_found += 1;
            let a = r.min_area_mm2.unwrap_or(f64::NAN);
            let err = a - ta;
            let ok = err.abs() <= 0.1 * ta || (ta < 60.0 && err.abs() <= 6.0);
            if ok {
                area_ok += 1;
                c_ok += 1;
            }
            errors.push((err / ta).abs());
            if let (Some(h), Some(th)) = (r.height_mm, t.height_mm) {
                height_n += 1;
                if (h - th).abs() <= 1.5 {
                    height_ok += 1;
                }
            }
            let (grade, rule) = grade_of(r);
            if grade == t.grade.as_str() {
                grade_ok += 1;
            }
            *confusion
                .entry((t.grade.as_str().into(), grade.clone()))
                .or_default() += 1;
            if verbose {
                let tslice: Vec<String> = t
                    .slice_areas_mm2
                    .iter()
                    .map(|s| {
                        format!(
                            "{:.1}:{:.0}{}",
                            s.slice_position_mm,
                            s.area_mm2,
                            if s.through_foramen { "" } else { "x" }
                        )
                    })
                    .collect();
                let rslice: Vec<String> = r
                    .slices
                    .iter()
                    .map(|s| format!("{:.1}:{:.0}", s.plane.position_mm, s.seg.area_mm2))
                    .collect();
                out!(
                    "    {} {:5}: truth {ta:6.1} got {a:6.1} ({:+5.1}%){} | h {:.1}/{:.1} w {:.1}/{:.1} pdh {:.1}/{:.1} | grade {}/{} ({:?}) | truth [{}] got [{}]",
                    t.level,
                    side.as_str(),
                    100.0 * err / ta,
                    if ok { "" } else { " !" },
                    r.height_mm.unwrap_or(f64::NAN),
                    t.height_mm.unwrap_or(f64::NAN),
                    r.width_mm.unwrap_or(f64::NAN),
                    t.width_mm.unwrap_or(f64::NAN),
                    r.posterior_disc_height_mm.unwrap_or(f64::NAN),
                    t.posterior_disc_height_mm,
                    grade,
                    t.grade.as_str(),
                    rule,
                    tslice.join(" "),
                    rslice.join(" "),
                );
            }
        }
        out!(
            "case {i:2} seed {} {label}: found {c_found}/{c_n}, area ok {c_ok}/{c_n}",
            opts.seed
        );
    }
    errors.sort_by(f64::total_cmp);
    let mut f: Vec<f64> = times;
    f.sort_by(f64::total_cmp);
    EvalSummary {
        cases,
        total,
        found,
        area_ok,
        median_abs_area_error: errors.get(errors.len() / 2).copied().unwrap_or(f64::NAN),
        height_ok,
        height_n,
        grade_ok,
        confusion,
        foramen_ms: f.get(f.len() / 2).copied().unwrap_or(f64::NAN),
        lines,
    }
}

impl EvalSummary {
    /// The summary figures as printed by the example.
    pub fn report(&self) -> String {
        let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
        format!(
            "cases: {}, truth foramina: {}\nfound: {}/{} ({:.1}%)\nmin area within 10% (or 6 mm2 under 60 mm2): {}/{} ({:.1}%)\nmedian absolute area error: {:.1}%\nheight within 1.5 mm: {}/{} ({:.1}%)\ngrade equal to truth: {}/{} ({:.1}%)\ngrade confusion (truth -> reported): {:?}\nforamen stage per case: median {:.0} ms",
            self.cases,
            self.total,
            self.found,
            self.total,
            pct(self.found, self.total),
            self.area_ok,
            self.total,
            pct(self.area_ok, self.total),
            100.0 * self.median_abs_area_error,
            self.height_ok,
            self.height_n,
            pct(self.height_ok, self.height_n),
            self.grade_ok,
            self.total,
            pct(self.grade_ok, self.total),
            self.confusion,
            self.foramen_ms,
        )
    }
}
