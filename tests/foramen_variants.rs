//! The phantom variants from real-scan failures (issue 18 item 4): the root tight under
//! the pedicle, dark fat-poor foramina and reference-derived outline shapes, on MR T1 /
//! T2 (4 mm), CT sagittal (5 mm) and CT axial. Ground truth comes from the phantom's
//! model. The floors sit a little under the figures measured when they were set
//! (docs/validation.md, "#18 item 4"): poor figures, on purpose, so that the cases that
//! broke the old rules on real scans are in CI and a further regression trips them.

mod common;

use foramen::phantom::eval::{FIRST_VARIANT_CASE, case_options, evaluate_cases};
use foramen::phantom::{PhantomPlane, Weighting};
use foramen::volume::Modality;

const CASES: usize = 8;

#[test]
fn variant_cases_cover_both_contrasts_ct_and_thick_slices() {
    let opts: Vec<_> = (FIRST_VARIANT_CASE..FIRST_VARIANT_CASE + CASES)
        .map(|i| case_options(5000, i))
        .collect();
    assert!(opts.iter().all(|o| o.variants));
    let has = |m: Modality, w: Weighting, p: PhantomPlane| {
        opts.iter()
            .any(|o| o.modality == m && (m == Modality::CT || o.weighting == w) && o.plane == p)
    };
    assert!(has(Modality::MR, Weighting::T1, PhantomPlane::Sagittal));
    assert!(has(Modality::MR, Weighting::T2, PhantomPlane::Sagittal));
    assert!(has(Modality::CT, Weighting::T1, PhantomPlane::Sagittal));
    assert!(has(Modality::CT, Weighting::T1, PhantomPlane::Axial));
    let thick: Vec<f64> = opts.iter().filter_map(|o| o.slice_thickness_mm).collect();
    assert!(thick.contains(&4.0) && thick.contains(&5.0) && thick.contains(&3.0));
    // MR T2 at 4 mm (partial-volume pedicles).
    assert!(opts.iter().any(|o| o.modality == Modality::MR
        && o.weighting == Weighting::T2
        && o.slice_thickness_mm == Some(4.0)));
    // The plain suite stays as it was.
    assert!((0..FIRST_VARIANT_CASE).all(|i| !case_options(5000, i).variants));
}

#[test]
fn phantom_variant_accuracy_does_not_regress() {
    let s = evaluate_cases(
        FIRST_VARIANT_CASE..FIRST_VARIANT_CASE + CASES,
        5000,
        true,
        false,
    );
    let report = s.report();
    eprintln!("{report}");
    assert_eq!(s.total, 80, "{report}");
    // Every kind is in the suite.
    for kind in [
        "root_on_pedicle",
        "fat_poor",
        "shape_oval",
        "shape_teardrop",
        "shape_inverted_u",
    ] {
        let n = s.by_kind.get(kind).map_or(0, |k| k.total);
        assert!(n >= 5, "{kind}: {n} foramina\n{report}");
    }
    // Measured when set (3-ray median ray segmentation, 8 cases from 40): 80/80 found,
    // 18/80 areas within tolerance, median area error 24.1 %, heights 28/80, grades
    // 29/80; the same cases without the variants: 80/80, 39/80, 10.1 %, 55/80, 39/80.
    // After the lightly smoothed edge, the seed moved off cortex, the per-plane fat
    // level and the split runs (issue 18, fifth session): 80/80, 21/80, 24.0 %, 33/80,
    // 33/80; floors raised to just under.
    common::assert_floors(
        &s,
        &common::FloorsEval {
            found: 76,
            area_ok: 19,
            median_error: 0.27,
            height_pct: 38,
            grades: 30,
        },
    );
}
