//! A small version of the phantom evaluation (`examples/eval_phantoms.rs`): fails when
//! the foramen segmentation regresses. Ground truth comes from the phantom's analytic
//! model. The floors sit a little under the figures measured when they were set
//! (docs/validation.md), so that a real regression, not noise, trips them.

use foramen::phantom::eval::evaluate;

#[test]
fn phantom_foramen_accuracy_does_not_regress() {
    // Eight cases: two of each of MR T1, MR T2, CT sagittal, CT axial, matched by disc
    // position (labelling is tested separately).
    let s = evaluate(8, 5000, true, false);
    let report = s.report();
    eprintln!("{report}");
    assert_eq!(s.total, 80, "{report}");
    // Measured when set: 70/80 found, 52/80 areas within tolerance, median area error
    // 3.3 %, heights 54/70 within 1.5 mm, grades 45/80.
    assert!(s.found >= 64, "found {} < 64\n{report}", s.found);
    assert!(
        s.area_ok >= 47,
        "areas within tolerance {} < 47\n{report}",
        s.area_ok
    );
    assert!(
        s.median_abs_area_error < 0.06,
        "median area error {:.1}% >= 6%\n{report}",
        100.0 * s.median_abs_area_error
    );
    assert!(
        s.height_ok * 100 >= s.height_n * 70,
        "heights within 1.5 mm under 70%\n{report}"
    );
    assert!(s.grade_ok >= 40, "grades {} < 40\n{report}", s.grade_ok);
}
