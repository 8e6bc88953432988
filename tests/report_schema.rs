//! The published JSON Schema (docs/report.schema.json) against real reports. Every
//! `measure` run of the test suite is also validated (tests/common::foramen).

mod common;

use std::path::Path;

use serde_json::{Value, json};

fn fixture_report(dir: &Path, extra: &[&str]) -> Value {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/phantom");
    let mut args = vec![
        "measure",
        fx.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let run = common::foramen(&args);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap()
}

#[test]
fn schema_is_draft_2020_12_and_rejects_broken_reports() {
    let schema = common::report_schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let dir = tempfile::tempdir().unwrap();
    let report = fixture_report(dir.path(), &[]);
    assert!(common::schema_errors(&report).is_empty());

    // Each mutation breaks the contract of shared/domain.md and must be caught.
    type Mutation = Box<dyn Fn(&mut Value)>;
    let mutations: Vec<(&str, Mutation)> = vec![
        (
            "no disclaimer",
            Box::new(|r| {
                r.as_object_mut().unwrap().remove("disclaimer");
            }),
        ),
        (
            "unknown grade",
            Box::new(|r| {
                r["series"][0]["levels"][0]["grade"] = json!("terrible");
            }),
        ),
        (
            "side in other words",
            Box::new(|r| {
                r["series"][0]["levels"][0]["side"] = json!("L");
            }),
        ),
        (
            "area as text",
            Box::new(|r| {
                r["series"][0]["levels"][0]["min_area_mm2"] = json!("100");
            }),
        ),
        (
            "unmeasured without reason",
            Box::new(|r| {
                let l = &mut r["series"][0]["levels"][0];
                l["min_area_mm2"] = Value::Null;
                l["reason"] = Value::Null;
            }),
        ),
        (
            "a field not in the schema",
            Box::new(|r| {
                r["series"][0]["patient_name"] = json!("DOE^JOHN");
            }),
        ),
        (
            "confidence above 1",
            Box::new(|r| {
                r["series"][0]["levels"][1]["confidence"] = json!(1.5);
            }),
        ),
        (
            "wrong schema version",
            Box::new(|r| {
                r["schema"] = json!("foramen.report/0");
            }),
        ),
    ];
    for (what, mutate) in mutations {
        let mut broken = report.clone();
        mutate(&mut broken);
        assert!(
            !common::schema_errors(&broken).is_empty(),
            "schema accepted a report with {what}"
        );
    }
}

#[test]
fn identifiers_are_keys_by_default_and_plain_only_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let hashed = fixture_report(dir.path(), &[]);
    let text = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    let s = &hashed["series"][0];
    let key = s["patient_key"].as_str().expect("a patient key");
    assert!(key.starts_with("hmac-sha256:"));
    assert!(s["patient_id"].is_null());
    assert_eq!(hashed["provenance"]["identifiers"], "salted-keys");

    // Same output folder again: same salt, same keys (rows of repeated runs join).
    let again = fixture_report(dir.path(), &[]);
    assert_eq!(again["series"][0]["patient_key"], s["patient_key"]);

    let plain_dir = tempfile::tempdir().unwrap();
    let plain = fixture_report(plain_dir.path(), &["--include-ids"]);
    let pid = plain["series"][0]["patient_id"]
        .as_str()
        .expect("patient_id with --include-ids");
    assert!(!pid.is_empty());
    assert!(
        !text.contains(pid),
        "the plain PatientID leaked into a default report"
    );
    assert_eq!(plain["provenance"]["identifiers"], "included");
    // Another folder has another salt, hence other keys.
    assert_ne!(plain["series"][0]["patient_key"], s["patient_key"]);
}

#[test]
fn provenance_names_the_build_and_the_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let r = fixture_report(dir.path(), &[]);
    let p = &r["provenance"];
    assert_eq!(p["tool_version"], env!("CARGO_PKG_VERSION"));
    // Every file under fixtures/*/series/ is one DICOM instance.
    let dicoms =
        common::files_under(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/phantom"))
            .into_iter()
            .filter(|f| f.components().any(|c| c.as_os_str() == "series"))
            .count();
    assert_eq!(p["instances_read"].as_u64().unwrap() as usize, dicoms);
    for s in r["series"].as_array().unwrap() {
        assert!(s["processing_ms"].as_u64().is_some());
        assert!(s["num_instances"].as_u64().unwrap() > 0);
    }
}
