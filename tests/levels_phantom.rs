//! Level names on phantoms with a vestigial S1-S2 disc (issue #17, "the phantom learns
//! from real failures").
//!
//! On real T2 scans of young volunteers the level chain ran on from L5-S1 into the
//! sacrum: the thin, T2-bright remnant of the S1-S2 disc (and further sacral junctions)
//! was taken for a mobile disc, and every name shifted by one. Each case here has that
//! remnant (checked from the truth); the disc named L5-S1 must lie within 6 mm of the
//! truth L5-S1 (sagittal-plane distance), and every truth disc L1-L2..L5-S1 must be
//! found under its own name within 6 mm. MR T2 (where the remnant is brightest), MR T1
//! and CT, at 1 mm and at 4 mm slices. Seeds above 900000: the disc detector was trained
//! on 500000-600012 and the other suites use 1000+ and 5000+.
//!
//! `LEVELS_PHANTOM_VERBOSE=1` prints every found disc of every case.

use foramen::phantom::{PhantomOptions, Severity, Weighting, generate};
use foramen::spine::{AnalysisOptions, analyse};
use foramen::volume::Modality;

/// Sagittal-plane distance a named disc may lie from its truth (mm).
const TOLERANCE_MM: f64 = 6.0;

/// Seeds from 900000 up whose sacrum keeps an S1-S2 remnant (the test checks that they
/// still do), with thin and thick, short and deep remnants; 900002 and 900026 also have
/// an S2-S3 one.
const SEEDS: [u64; 9] = [
    900001, 900002, 900005, 900011, 900013, 900017, 900021, 900026, 900029,
];

/// Cases the labeller (main at 6c0fee9, WIP detector weights) names wrongly: (seed,
/// modality, weighting (T1 for CT), thickness). Each is the regression itself: the whole
/// chain one level low, "L5-S1" on the S1-S2 junction. They fail the same way with the
/// remnant switched off (the fused S1-S2 junction's 1.5 mm disc line, drawn in every
/// case, is enough), so the remnant is not their only cause. Reported on issue #17;
/// remove an entry once the labeller passes it (the test prints which ones do).
const KNOWN_FAILING: &[(u64, Modality, Weighting, u32)] = &[
    // Measured with the detector labeller (MR) and the band labeller (CT) when the
    // remnant was added: the chain takes the S1-S2 junction for L5-S1 (every name one
    // level too high). docs/validation.md, third session on issue 17. Since the fourth
    // session each of them must carry a warning or stay under 0.5 (never silent).
    (900002, Modality::MR, Weighting::T1, 1),
    (900011, Modality::MR, Weighting::T1, 4),
    (900013, Modality::MR, Weighting::T1, 1),
    (900017, Modality::CT, Weighting::T1, 1),
    (900021, Modality::MR, Weighting::T2, 1),
    (900021, Modality::MR, Weighting::T1, 4),
    (900026, Modality::MR, Weighting::T1, 1),
];

#[derive(Clone, Copy)]
struct Case {
    seed: u64,
    modality: Modality,
    weighting: Weighting,
    /// Slice thickness, mm (1 or 4).
    thickness: u32,
    severity: Severity,
}

impl Case {
    fn label(&self) -> String {
        let contrast = match (self.modality, self.weighting) {
            (Modality::CT, _) => "CT".to_string(),
            (_, w) => format!("MR {w:?}"),
        };
        format!("seed {} {contrast} {} mm", self.seed, self.thickness)
    }

    fn options(&self) -> PhantomOptions {
        let base = PhantomOptions {
            seed: self.seed,
            modality: self.modality,
            weighting: self.weighting,
            severity: self.severity,
            // The truth foramen areas are not used here: a coarse grid is enough.
            truth_step_mm: 0.5,
            ..Default::default()
        };
        if self.thickness == 1 {
            // A 1 mm volume: 41 contiguous slices (±20 mm about the canal), 0.9 mm pixels.
            PhantomOptions {
                slice_thickness_mm: Some(1.0),
                slice_gap_mm: Some(0.0),
                num_slices: Some(41),
                rows: Some(320),
                columns: Some(320),
                pixel_spacing_mm: Some(0.9),
                ..base
            }
        } else {
            // A clinical 4 mm series; the rest of the acquisition is sampled.
            PhantomOptions {
                slice_thickness_mm: Some(4.0),
                ..base
            }
        }
    }
}

fn cases() -> Vec<Case> {
    let kinds = [
        (Modality::MR, Weighting::T2),
        (Modality::MR, Weighting::T1),
        (Modality::CT, Weighting::T1),
    ];
    let mut out = Vec::new();
    // Each seed is seen at both thicknesses, with contrasts rotating over the seeds so
    // every contrast × thickness pair has three seeds.
    for (i, &seed) in SEEDS.iter().enumerate() {
        for (j, thickness) in [1, 4].into_iter().enumerate() {
            let (modality, weighting) = kinds[(i + j) % 3];
            out.push(Case {
                seed,
                modality,
                weighting,
                thickness,
                // Young volunteers: mostly normal discs; every other seed mixed.
                severity: if i % 2 == 0 {
                    Severity::Normal
                } else {
                    Severity::Mixed
                },
            });
        }
    }
    out
}

fn in_plane(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// Problems with the names of one case (empty = right).
fn check(case: &Case, verbose: bool) -> Vec<String> {
    let phantom = generate(&case.options()).expect("valid options");
    let truth = &phantom.truth;
    let remnant = truth
        .anatomy
        .sacral_remnants
        .iter()
        .find(|r| r.junction == "S1-S2")
        .unwrap_or_else(|| panic!("{}: the case has no S1-S2 remnant", case.label()));
    let analysis = match analyse(
        &phantom.volume,
        &AnalysisOptions {
            weighting: case.options().series_weighting(),
            levels_only: true,
            deadline: None,
        },
    ) {
        Ok(a) => a,
        Err(e) => return vec![format!("analysis failed: {e}")],
    };
    let loc = &analysis.model.localization;
    if verbose {
        let sizes: Vec<String> = truth
            .anatomy
            .sacral_remnants
            .iter()
            .map(|r| {
                format!(
                    "{} {:.1} mm thick, anterior {:.0} %",
                    r.junction,
                    r.thickness_mm,
                    100.0 * r.anterior_fraction
                )
            })
            .collect();
        println!("{}: remnants {}", case.label(), sizes.join(", "));
        for t in &truth.discs {
            println!(
                "    truth {:7} y {:6.1} z {:6.1}",
                t.level, t.center_mm[1], t.center_mm[2]
            );
        }
        println!(
            "    truth {:7} y {:6.1} z {:6.1} (remnant)",
            remnant.junction, remnant.center_mm[1], remnant.center_mm[2]
        );
        for d in &loc.discs {
            println!(
                "    found {:7} y {:6.1} z {:6.1} tilt {:5.1} h {:?} conf {:.2}",
                d.level,
                d.center_mm[1],
                d.center_mm[2],
                d.tilt_deg,
                d.height_mm.map(|h| (h * 10.0).round() / 10.0),
                d.confidence
            );
        }
        for w in &loc.labeling_warnings {
            println!("    warning: {w}");
        }
    }
    let mut problems = Vec::new();
    for t in &truth.discs {
        match loc.discs.iter().find(|d| d.level == t.level) {
            None => problems.push(format!("{} not found", t.level)),
            Some(d) => {
                let dist = in_plane(d.center_mm, t.center_mm);
                if dist > TOLERANCE_MM {
                    let at_remnant = in_plane(d.center_mm, remnant.center_mm);
                    problems.push(format!(
                        "{} found {dist:.1} mm from its truth ({at_remnant:.1} mm from the S1-S2 remnant)",
                        t.level
                    ));
                }
            }
        }
    }
    // A misnamed case must at least not be silent: a warning, or every disc under 0.5.
    if !problems.is_empty()
        && loc.labeling_warnings.is_empty()
        && loc.discs.iter().any(|d| d.confidence >= 0.5)
    {
        problems.push(SILENT.to_string());
    }
    problems
}

/// Marks a misnamed case reported with confidence >= 0.5 and no warning.
const SILENT: &str = "SILENT: misnamed with confidence >= 0.5 and no labelling warning";

#[test]
fn s1_s2_remnant_is_not_taken_for_a_mobile_disc() {
    let verbose = std::env::var_os("LEVELS_PHANTOM_VERBOSE").is_some();
    let mut unexpected = Vec::new();
    let mut fixed = Vec::new();
    for case in cases() {
        let problems = check(&case, verbose);
        let known =
            KNOWN_FAILING.contains(&(case.seed, case.modality, case.weighting, case.thickness));
        let verdict = match (problems.is_empty(), known) {
            (true, false) => "ok",
            (true, true) => "ok (listed as failing: remove it from KNOWN_FAILING)",
            (false, true) => "FAILS (known)",
            (false, false) => "FAILS",
        };
        println!("{}: {verdict} {}", case.label(), problems.join("; "));
        let silent = problems.iter().any(|p| p == SILENT);
        if (!problems.is_empty() && !known) || silent {
            unexpected.push(format!("{}: {}", case.label(), problems.join("; ")));
        }
        if problems.is_empty() && known {
            fixed.push(case.label());
        }
    }
    assert!(
        unexpected.is_empty(),
        "levels misnamed next to an S1-S2 remnant (unlisted, or listed but silent):\n{}",
        unexpected.join("\n")
    );
    if !fixed.is_empty() {
        println!("now passing, remove from KNOWN_FAILING: {fixed:?}");
    }
}
