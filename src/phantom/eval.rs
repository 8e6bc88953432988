//! Foramen accuracy on generated phantoms: the evaluation behind
//! `examples/eval_phantoms.rs` and the regression tests `tests/foramen_eval.rs` and
//! `tests/foramen_variants.rs`.
//!
//! Cases cycle through MR T1, MR T2, CT sagittal and CT axial; severities normal,
//! mixed, severe, random; SNR 8-30; slice thickness 3-5 mm. Cases from
//! [`FIRST_VARIANT_CASE`] on add the foramen variants from real-scan failures (root on
//! the pedicle, fat-poor, reference-derived shapes), with figures per variant kind. Each case is rendered,
//! localised and measured as `foramen measure` does, and every truth foramen is compared
//! with the reported one of the same level and side (or, with `by_position`, with the
//! one found at the truth disc's position, which separates segmentation from labelling
//! errors). Correct area: within 10 % of the truth, or 6 mm² under 60 mm².

use crate::grading::Thresholds;
use crate::phantom::anatomy::Side as TruthSide;
use crate::phantom::output::suite_case;
use crate::phantom::{PhantomOptions, PhantomPlane, Severity, generate};
use crate::spine::foramen::Side;
use crate::spine::{AnalysisOptions, analyse};

/// Figures of one group of foramina (one variant kind, or the plain cases).
#[derive(Debug, Clone, Default)]
pub struct KindFigures {
    pub total: usize,
    pub found: usize,
    pub area_ok: usize,
    pub height_ok: usize,
    pub height_n: usize,
    /// |found - truth| / truth of the found foramina.
    pub errors: Vec<f64>,
}

impl KindFigures {
    pub fn median_abs_area_error(&self) -> f64 {
        let mut e = self.errors.clone();
        e.sort_by(f64::total_cmp);
        e.get(e.len() / 2).copied().unwrap_or(f64::NAN)
    }
}

/// First case of the suite with the foramen variants on (see [`case_options`]).
pub const FIRST_VARIANT_CASE: usize = 40;

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
    /// Per variant kind (`plain` = cases without variants; a foramen with several
    /// kinds counts in each).
    pub by_kind: std::collections::BTreeMap<String, KindFigures>,
}

/// Options of case `i` of the suite. Cases from [`FIRST_VARIANT_CASE`] on have the
/// foramen variants on (normal and mixed severities, MR T1 / T2 / CT sagittal / CT
/// axial, sagittal slices 3-5 mm); the cases before are as they always were.
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
    if i >= FIRST_VARIANT_CASE {
        let j = i - FIRST_VARIANT_CASE;
        o.variants = true;
        o.severity = [Severity::Normal, Severity::Mixed][(j / 4) % 2];
        // T1 4, T2 4, CT 5, axial; T1 3, T2 5, CT 3.5, axial (mm).
        o.slice_thickness_mm = (o.plane == PhantomPlane::Sagittal)
            .then(|| [4.0, 4.0, 5.0, 4.0, 3.0, 5.0, 3.5, 4.0][j % 8]);
    }
    o
}

/// Runs `cases` cases from seed `first`.
pub fn evaluate(cases: usize, first: u64, by_position: bool, verbose: bool) -> EvalSummary {
    evaluate_cases(0..cases, first, by_position, verbose)
}

/// Runs the cases `range` of the suite from seed `first` (e.g. the variant cases
/// `FIRST_VARIANT_CASE..FIRST_VARIANT_CASE + 8`).
pub fn evaluate_cases(
    range: std::ops::Range<usize>,
    first: u64,
    by_position: bool,
    verbose: bool,
) -> EvalSummary {
    let cases: Vec<(usize, PhantomOptions)> = range.map(|i| (i, case_options(first, i))).collect();
    evaluate_options(&cases, by_position, verbose)
}

/// Runs the given cases (suite index, options), e.g. the variant cases with the
/// variants turned off, to compare like with like.
pub fn evaluate_options(
    cases_opts: &[(usize, PhantomOptions)],
    by_position: bool,
    verbose: bool,
) -> EvalSummary {
    let cases = cases_opts.len();
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
    let mut by_kind = std::collections::BTreeMap::<String, KindFigures>::new();
    for (i, opts) in cases_opts.iter().cloned() {
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
            let kinds: Vec<&str> = t.variant.map_or(vec!["plain"], |v| v.kinds());
            for k in &kinds {
                by_kind.entry(k.to_string()).or_default().total += 1;
            }
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
                        "    {} {:5} [{}]: truth {ta:6.1} | not found: {}",
                        t.level,
                        side.as_str(),
                        kinds.join(","),
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
            let h_ok = match (r.height_mm, t.height_mm) {
                (Some(h), Some(th)) => {
                    height_n += 1;
                    let ok = (h - th).abs() <= 1.5;
                    height_ok += ok as usize;
                    Some(ok)
                }
                _ => None,
            };
            for k in &kinds {
                let f = by_kind.entry(k.to_string()).or_default();
                f.found += 1;
                f.area_ok += ok as usize;
                f.errors.push((err / ta).abs());
                if let Some(h) = h_ok {
                    f.height_n += 1;
                    f.height_ok += h as usize;
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
                    "    {} {:5} [{}]: truth {ta:6.1} got {a:6.1} ({:+5.1}%){} | h {:.1}/{:.1} w {:.1}/{:.1} pdh {:.1}/{:.1} | grade {}/{} ({:?}) | truth [{}] got [{}]",
                    t.level,
                    side.as_str(),
                    kinds.join(","),
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
        by_kind,
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
        ) + &self.kind_report()
    }

    /// One line per variant kind (empty when the run had no variant cases).
    pub fn kind_report(&self) -> String {
        if self.by_kind.keys().all(|k| k == "plain") {
            return String::new();
        }
        let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
        let mut s =
            String::from("\nper kind (found, area ok, median error, heights within 1.5 mm):");
        for (k, f) in &self.by_kind {
            s += &format!(
                "\n  {k:18} n {:3}: found {:3} ({:5.1}%), area ok {:3} ({:5.1}%), median {:5.1}%, heights {}/{} ({:.1}%)",
                f.total,
                f.found,
                pct(f.found, f.total),
                f.area_ok,
                pct(f.area_ok, f.total),
                100.0 * f.median_abs_area_error(),
                f.height_ok,
                f.height_n,
                pct(f.height_ok, f.height_n),
            );
        }
        s
    }
}
