//! `foramen compare` on fixture reports: the CI regression recipe of docs/report.md.

mod common;

use std::path::Path;

use serde_json::Value;

fn measure_fixtures(dir: &Path) -> Value {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/phantom");
    let run = common::foramen(&[
        "measure",
        fx.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
        "--no-qc",
    ]);
    assert_eq!(run.status.code(), Some(0));
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap()
}

fn compare(a: &Path, b: &Path) -> (i32, String) {
    let out = common::foramen(&["compare", a.to_str().unwrap(), b.to_str().unwrap()]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_rerun_matches_and_a_moved_area_is_caught() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let mut report = measure_fixtures(first.path());
    measure_fixtures(second.path());
    let (a, b) = (
        first.path().join("report.json"),
        second.path().join("report.json"),
    );
    // Deterministic pipeline: a second run is within the regression tolerance.
    let (code, text) = compare(&b, &a);
    assert_eq!(code, 0, "{text}");

    // Move one measured area by 30%: compare must fail and name it.
    let (si, li) = report["series"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .find_map(|(si, s)| {
            s["levels"]
                .as_array()
                .unwrap()
                .iter()
                .position(|l| l["min_area_mm2"].is_number())
                .map(|li| (si, li))
        })
        .expect("a measured foramen in the fixtures");
    let level = &mut report["series"][si]["levels"][li];
    let area = level["min_area_mm2"].as_f64().unwrap();
    level["min_area_mm2"] = serde_json::json!(area * 1.3);
    let name = format!(
        "{} {}",
        level["level"].as_str().unwrap(),
        level["side"].as_str().unwrap()
    );
    let moved = first.path().join("moved.json");
    std::fs::write(&moved, serde_json::to_vec(&report).unwrap()).unwrap();
    let (code, text) = compare(&moved, &a);
    assert_eq!(code, 1, "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("DIFFERS"))
        .expect("a difference line");
    let mut words = line.split_whitespace();
    assert_eq!(
        format!("{} {}", words.next().unwrap(), words.next().unwrap()),
        name
    );
    assert!(line.contains("min_area_mm2"));
}

#[test]
fn against_truth_it_counts_the_areas_outside_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    let report = measure_fixtures(dir.path());
    let truth_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/phantom/mr-t1/truth.json");
    let truth: Value = serde_json::from_slice(&std::fs::read(&truth_path).unwrap()).unwrap();
    let series = report["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["modality"] == "MR")
        .unwrap();
    // Independent count with the documented truth tolerance: max(15%, 12 mm²).
    let expected = truth["levels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            let got = series["levels"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["level"] == t["level"] && l["side"] == t["side"])
                .and_then(|l| l["min_area_mm2"].as_f64());
            let want = t["min_area_mm2"].as_f64().unwrap();
            !got.is_some_and(|g| (g - want).abs() <= (0.15 * want).max(12.0))
        })
        .count();
    let (code, text) = compare(&dir.path().join("report.json"), &truth_path);
    let counted = text
        .lines()
        .filter(|l| l.contains("min_area_mm2") && l.contains("DIFFERS"))
        .count();
    assert_eq!(counted, expected, "{text}");
    assert!(
        text.contains("10 foramina compared against truth"),
        "{text}"
    );
    assert_eq!(code, if text.contains(": 0 value(s)") { 0 } else { 1 });
}

#[test]
fn unreadable_or_foreign_files_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.json");
    std::fs::write(&other, br#"{"schema": "something/else"}"#).unwrap();
    let (code, _) = compare(&other, &other);
    assert_eq!(code, 2);
    let (code, _) = compare(&dir.path().join("missing.json"), &other);
    assert_eq!(code, 2);
}
