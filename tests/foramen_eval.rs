//! A small version of the phantom evaluation (`examples/eval_phantoms.rs`): fails when
//! the foramen segmentation regresses. Ground truth comes from the phantom's analytic
//! model. The floors sit a little under the figures measured when they were set
//! (docs/validation.md), so that a real regression, not noise, trips them.

use foramen::phantom::eval::evaluate;

#[test]
fn phantom_foramen_accuracy_does_not_regress() {
    // Eight cases: two of each of MR T1, MR T2, CT sagittal, CT axial.
    let s = evaluate(8, 5000, true, false);
    let report = s.report();
    eprintln!("{report}");
    assert_eq!(s.total, 80, "{report}");
    // Measured at 60/80 found, 41/80 areas within tolerance, median error 4.5 %,
    // heights 44/60, grades 34/80.
    assert!(s.found >= 54, "found {} < 54\n{report}", s.found);
    assert!(
        s.area_ok >= 36,
        "areas within tolerance {} < 36\n{report}",
        s.area_ok
    );
    assert!(
        s.median_abs_area_error < 0.08,
        "median area error {:.1}% >= 8%\n{report}",
        100.0 * s.median_abs_area_error
    );
    assert!(s.height_ok * 10 >= s.height_n * 6, "heights\n{report}");
    assert!(s.grade_ok >= 28, "grades {} < 28\n{report}", s.grade_ok);
}
