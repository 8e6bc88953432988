//! Level-labelling accuracy on generated phantoms: the evaluation behind
//! `examples/eval_levels.rs` and the regression test `tests/levels_suite.rs`.
//!
//! Each case of the varied suite (MR T1, MR T2, CT sagittal, CT axial; all severities;
//! SNR 8-30; every sixth case transitional) is localised and every truth disc compared
//! with the found disc of the same name: correct when it is nearer to that truth disc
//! than to any other and within 15 mm of it in the sagittal plane. Transitional cases
//! must carry a warning naming the lumbar-type count.

use crate::phantom::output::suite_case;
use crate::phantom::{PhantomOptions, generate};
use crate::spine::{AnalysisOptions, analyse};

/// Figures of one run.
#[derive(Debug, Clone, Default)]
pub struct LevelsSummary {
    pub normal_cases: usize,
    /// Non-transitional cases with every disc right.
    pub all_right: usize,
    pub discs_total: usize,
    pub discs_right: usize,
    pub transitional_cases: usize,
    pub transitional_warned: usize,
    /// Wrong discs with confidence >= 0.5 in a series without any warning.
    pub silent_wrong: usize,
    /// Median localisation time per case (ms).
    pub median_ms: f64,
    /// One line per case (with the discs when `verbose` and the case failed).
    pub lines: Vec<String>,
}

/// Runs `cases` suite cases from seed `first`.
pub fn evaluate_levels(cases: usize, first: u64, verbose: bool) -> LevelsSummary {
    let base = PhantomOptions {
        seed: first,
        ..Default::default()
    };
    let mut s = LevelsSummary::default();
    let mut times = Vec::new();
    let in_plane =
        |a: [f64; 3], b: [f64; 3]| ((a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
    for i in 0..cases {
        let opts = suite_case(&base, i);
        let case = generate(&opts).expect("valid suite options");
        let transitional = case.truth.transitional;
        let label = format!(
            "case {i:2} seed {} {:?} {:?} {:?} {:?} L{}",
            opts.seed, opts.modality, opts.weighting, opts.plane, opts.severity, opts.lumbar_count
        );
        let start = std::time::Instant::now();
        let result = analyse(
            &case.volume,
            &AnalysisOptions {
                weighting: opts.series_weighting(),
                levels_only: true,
                deadline: None,
            },
        );
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        let Ok(analysis) = result else {
            s.lines.push(format!(
                "{label}: FAILED {}",
                result.err().map(|e| e.to_string()).unwrap_or_default()
            ));
            if transitional {
                s.transitional_cases += 1;
            } else {
                s.normal_cases += 1;
                s.discs_total += case.truth.discs.len();
            }
            continue;
        };
        let loc = &analysis.model.localization;
        let mut wrong = Vec::new();
        for t in &case.truth.discs {
            let found = loc.discs.iter().find(|d| d.level == t.level);
            let good = found.is_some_and(|d| {
                let nearest = case.truth.discs.iter().min_by(|a, b| {
                    in_plane(a.center_mm, d.center_mm)
                        .total_cmp(&in_plane(b.center_mm, d.center_mm))
                });
                nearest.is_some_and(|n| n.level == t.level)
                    && in_plane(t.center_mm, d.center_mm) < 15.0
            });
            if !good {
                wrong.push(t.level.clone());
                if found.is_some_and(|d| d.confidence >= 0.5) && loc.labeling_warnings.is_empty() {
                    s.silent_wrong += 1;
                }
            }
        }
        if transitional {
            s.transitional_cases += 1;
            let warned = loc.labeling_warnings.iter().any(|w| {
                w.contains("transitional")
                    || w.contains("lumbar-type")
                    || w.contains("sacralis")
                    || w.contains("lumbaris")
            });
            if warned {
                s.transitional_warned += 1;
            }
        } else {
            s.normal_cases += 1;
            s.discs_total += case.truth.discs.len();
            s.discs_right += case.truth.discs.len() - wrong.len();
            if wrong.is_empty() {
                s.all_right += 1;
            }
        }
        let n = case.truth.discs.len();
        s.lines.push(format!(
            "{label}: {}/{n} discs correct{}{}",
            n - wrong.len(),
            if wrong.is_empty() {
                String::new()
            } else {
                format!(", wrong/missing {wrong:?}")
            },
            if loc.labeling_warnings.is_empty() {
                String::new()
            } else {
                format!(" | warnings: {}", loc.labeling_warnings.join("; "))
            }
        ));
        if verbose && !wrong.is_empty() {
            for t in &case.truth.discs {
                let c = t.center_mm;
                s.lines.push(format!(
                    "    truth {:7} x {:6.1} y {:6.1} z {:6.1}",
                    t.level, c[0], c[1], c[2]
                ));
            }
            for r in &case.truth.anatomy.sacral_remnants {
                let c = r.center_mm;
                s.lines.push(format!(
                    "    remnant {:5} x {:6.1} y {:6.1} z {:6.1}",
                    r.junction, c[0], c[1], c[2]
                ));
            }
            for d in &loc.discs {
                let c = d.center_mm;
                s.lines.push(format!(
                    "    found {:7} x {:6.1} y {:6.1} z {:6.1} tilt {:5.1} conf {:.2} height {:?}",
                    d.level, c[0], c[1], c[2], d.tilt_deg, d.confidence, d.height_mm
                ));
            }
        }
    }
    times.sort_by(f64::total_cmp);
    s.median_ms = times.get(times.len() / 2).copied().unwrap_or(0.0);
    s
}

impl LevelsSummary {
    pub fn report(&self) -> String {
        let mut out = self.lines.join("\n");
        out.push_str(&format!(
            "\n\nnon-transitional cases with every disc correct: {}/{}\ndiscs correct: {}/{}\ntransitional cases with a transitional warning: {}/{}\nwrong discs with confidence >= 0.5 and no warning: {}\nlocalisation time per case: median {:.0} ms\n",
            self.all_right,
            self.normal_cases,
            self.discs_right,
            self.discs_total,
            self.transitional_warned,
            self.transitional_cases,
            self.silent_wrong,
            self.median_ms
        ));
        out
    }
}
