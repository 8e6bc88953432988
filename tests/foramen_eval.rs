//! A small version of the phantom evaluation (`examples/eval_phantoms.rs`): fails when
//! the foramen segmentation regresses. Ground truth comes from the phantom's analytic
//! model. The floors sit a little under the figures measured when they were set
//! (docs/validation.md), so that a real regression, not noise, trips them.

mod common;

use foramen::phantom::eval::evaluate;

#[test]
fn phantom_foramen_accuracy_does_not_regress() {
    // Eight cases: two of each of MR T1, MR T2, CT sagittal, CT axial, matched by disc
    // position (labelling is tested separately).
    let s = evaluate(8, 5000, true, false);
    let report = s.report();
    eprintln!("{report}");
    assert_eq!(s.total, 80, "{report}");
    // Measured when set (threshold-sweep segmentation): 70/80 found, 53/80 areas within
    // tolerance, median area error 3.0 %, heights 55/70, grades 49/80. The bone-bounded
    // ray segmentation of issue 18 (real scans: 7 % -> 98 % of reference foramina found)
    // measures the phantom worse: 78/80 found, 35/80 areas, 11.5 %, heights 46/78,
    // grades 41/80 (docs/validation.md, "#18: bone-bounded ray segmentation in Rust").
    // The floors were lowered to just under those figures, deliberately: a regression
    // from here still trips them. With the 3-ray radius median (follow-up): 78/80,
    // 36/80, 11.1 %, heights 48/78, grades 44/80; floors raised to just under. After the
    // lightly smoothed edge, the seed moved off cortex, the per-plane fat level and the
    // split runs (issue 18, fifth session): 78/80, 50/80, 5.5 %, heights 57/78, grades
    // 46/80; floors raised to just under.
    common::assert_floors(
        &s,
        &common::FloorsEval {
            found: 76,
            area_ok: 47,
            median_error: 0.07,
            height_pct: 70,
            grades: 43,
        },
    );
}
