//! Level labelling on the varied phantom suite (MR T1, MR T2, CT sagittal, CT axial,
//! every severity, transitional cases): issue 17's phantom criterion, every
//! non-transitional disc right and every transitional case warned. Truth comes from the
//! phantom's model. The full 48-case figure is `cargo run --release --example
//! eval_levels` (docs/validation.md).

use foramen::phantom::eval_levels::evaluate_levels;

#[test]
fn phantom_suite_levels_are_right_and_transitional_cases_warned() {
    // 24 cases from seed 1000: 20 non-transitional, 4 transitional (every sixth).
    let s = evaluate_levels(24, 1000, true);
    let report = s.report();
    eprintln!("{report}");
    assert_eq!(s.normal_cases + s.transitional_cases, 24, "{report}");
    assert_eq!(
        s.all_right, s.normal_cases,
        "a non-transitional case has a wrong disc\n{report}"
    );
    assert_eq!(s.silent_wrong, 0, "{report}");
    assert_eq!(
        s.transitional_warned, s.transitional_cases,
        "a transitional case without a warning\n{report}"
    );
}
