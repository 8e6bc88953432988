//! measurements.csv loads with the right types in pandas and DuckDB (the third-party
//! venv of tools/fetch-test-data.sh) and carries the same numbers as report.json.

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

#[test]
fn cohort_csv_loads_in_pandas_and_duckdb_with_the_report_numbers() {
    let Some(data) = common::third_party_data() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/phantom");
    let run = common::foramen(&[
        "measure",
        fx.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
        "--no-qc",
    ]);
    assert_eq!(run.status.code(), Some(0));
    let csv = dir.path().join("measurements.csv");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/check_csv.py");
    let out = Command::new(data.join("venv/bin/python"))
        .arg(&script)
        .arg(&csv)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();

    // One row per study × level × side, no duplicates.
    let studies = report["studies"].as_array().unwrap().len();
    assert_eq!(got["rows"].as_u64().unwrap() as usize, studies * 10);
    assert_eq!(got["duplicates"], 0);
    let cols: Vec<&str> = got["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(cols, foramen::report::csv::header());

    for (col, pandas, duck) in [
        ("min_area_mm2", "float64", "DOUBLE"),
        ("height_mm", "float64", "DOUBLE"),
        ("confidence", "float64", "DOUBLE"),
        ("flagged", "bool", "BOOLEAN"),
        ("series_number", "int64", "BIGINT"),
    ] {
        assert_eq!(got["pandas_dtypes"][col], pandas, "pandas type of {col}");
        assert_eq!(got["duckdb_types"][col], duck, "DuckDB type of {col}");
    }

    // The numbers are the report's, matched by study, level and side.
    let mut flagged = 0;
    for s in report["series"].as_array().unwrap() {
        if s["status"] != "measured" {
            continue;
        }
        for l in s["levels"].as_array().unwrap() {
            flagged += l["flagged"].as_bool().unwrap() as u64;
            let row = got["areas"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| {
                    r[0] == s["study_instance_uid"] && r[1] == l["level"] && r[2] == l["side"]
                })
                .expect("a row for every measured level and side");
            match (l["min_area_mm2"].as_f64(), row[3].as_f64()) {
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-9),
                (None, None) => {}
                other => panic!("area mismatch {other:?}"),
            }
        }
    }
    assert_eq!(got["duckdb_flagged"].as_u64().unwrap(), flagged);
}
