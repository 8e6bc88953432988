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
    // Measured when set: 70/80 found, 53/80 areas within tolerance, median area error
    // 3.0 %, heights 55/70 within 1.5 mm, grades 49/80.
    assert!(s.found >= 68, "found {} < 68\n{report}", s.found);
    assert!(
        s.area_ok >= 51,
        "areas within tolerance {} < 51\n{report}",
        s.area_ok
    );
    assert!(
        s.median_abs_area_error < 0.045,
        "median area error {:.1}% >= 4.5%\n{report}",
        100.0 * s.median_abs_area_error
    );
    assert!(
        s.height_ok * 100 >= s.height_n * 75,
        "heights within 1.5 mm under 75%\n{report}"
    );
    assert!(s.grade_ok >= 47, "grades {} < 47\n{report}", s.grade_ok);
}
