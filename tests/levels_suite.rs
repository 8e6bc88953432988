//! Level labelling on the varied phantom suite (MR T1, MR T2, CT sagittal, CT axial,
//! every severity, transitional cases). Truth comes from the phantom's model. The full
//! 48-case figure is `cargo run --release --example eval_levels`.
//!
//! Issue 17's phantom criterion (every non-transitional disc right, every transitional
//! case warned, no confident wrong disc without a warning) is NOT met today
//! (docs/validation.md, third session on issue 17): the floors below are the figures
//! measured when they were set, so that any further regression trips them. Raise them,
//! up to the criterion, as the labeller improves.

use foramen::phantom::eval_levels::evaluate_levels;

#[test]
fn phantom_suite_levels_do_not_regress() {
    // 24 cases from seed 1000: 20 non-transitional, 4 transitional (every sixth).
    let s = evaluate_levels(24, 1000, true);
    let report = s.report();
    eprintln!("{report}");
    assert_eq!(s.normal_cases, 20, "{report}");
    assert_eq!(s.transitional_cases, 4, "{report}");
    // Measured when set (fourth session on issue 17): 19/20 cases and 95/100 discs
    // right, 0/4 transitional warned, 3 wrong discs with confidence >= 0.5 and no warning.
    assert!(
        s.all_right >= 19,
        "cases with every disc right {} < 19\n{report}",
        s.all_right
    );
    assert!(
        s.discs_right >= 95,
        "discs right {} < 95\n{report}",
        s.discs_right
    );
    assert!(
        s.silent_wrong <= 3,
        "silent wrong discs {} > 3\n{report}",
        s.silent_wrong
    );
}
