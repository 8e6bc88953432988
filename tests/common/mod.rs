//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use foramen::volume::{Geometry, Modality, Volume};
use ndarray::Array3;

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether an external tool is on PATH. Outside CI a missing tool prints a skip note;
/// in CI (`CI=true`) it fails the test, so CI really runs it.
pub fn require_tool(tool: &str, package: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            !in_ci(),
            "{tool} is required in CI (Debian package {package}); .ci/run must install it"
        );
        eprintln!(
            "SKIP: {tool} not found (install Debian package {package}); test skipped outside CI"
        );
    }
    found
}

/// Third-party test data fetched by tools/fetch-test-data.sh (never committed).
pub fn third_party_data() -> Option<PathBuf> {
    let dir = std::env::var_os("FORAMEN_TEST_DATA")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/foramen-test-data"))
        })?;
    if dir.join(".complete").exists() {
        return Some(dir);
    }
    assert!(
        !in_ci(),
        "third-party test data missing in {}: .ci/run must run tools/fetch-test-data.sh",
        dir.display()
    );
    eprintln!(
        "SKIP: third-party test data not found in {}; run tools/fetch-test-data.sh",
        dir.display()
    );
    None
}

/// Runs the binary. Every report a `measure` run writes is checked against the
/// published JSON Schema (docs/report.schema.json), so all tests exercise the contract.
pub fn foramen(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_foramen"))
        .args(args)
        .output()
        .expect("run foramen");
    if args.contains(&"measure")
        && let Some(i) = args.iter().position(|a| *a == "--out" || *a == "-o")
        && let Some(dir) = args.get(i + 1)
    {
        let report = Path::new(dir).join("report.json");
        if report.exists() {
            assert_report_valid(&report);
        }
    }
    out
}

pub fn report_schema() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.schema.json");
    serde_json::from_slice(&std::fs::read(&path).expect("read docs/report.schema.json"))
        .expect("docs/report.schema.json is JSON")
}

/// Schema violations of a report (empty when it is valid).
pub fn schema_errors(report: &serde_json::Value) -> Vec<String> {
    let validator = jsonschema::validator_for(&report_schema()).expect("the schema compiles");
    validator
        .iter_errors(report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

pub fn assert_report_valid(path: &Path) {
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("read report")).expect("report is JSON");
    let errors = schema_errors(&report);
    assert!(
        errors.is_empty(),
        "{} does not match docs/report.schema.json:\n{}",
        path.display(),
        errors.join("\n")
    );
}

pub fn foramen_json(args: &[&str]) -> (Output, serde_json::Value) {
    let out = foramen(args);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, json)
}

/// A test volume whose voxel values are integers (so they survive 12-bit storage
/// exactly) and differ between slices, rows and columns (so any misordering shows).
pub fn test_volume(modality: Modality, geometry: Geometry, shape: (usize, usize, usize)) -> Volume {
    let voxels = Array3::from_shape_fn(shape, |(k, i, j)| {
        let v = (k * 397 + i * 13 + j * 7) % 4000;
        match modality {
            Modality::MR => v as f32,
            Modality::CT => v as f32 - 1024.0,
        }
    });
    Volume {
        voxels,
        geometry,
        modality,
    }
}

pub fn sagittal_geometry() -> Geometry {
    // Columns run posterior, rows run down: a typical sagittal acquisition.
    Geometry::new(
        [24.0, -110.5, 140.25],
        [0.0, 1.0, 0.0],
        [0.0, 0.0, -1.0],
        [4.4, 0.75, 0.8],
        4.0,
    )
    .unwrap()
}

pub fn axial_geometry() -> Geometry {
    Geometry::new(
        [0.0; 3],
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [4.0, 0.8, 0.8],
        4.0,
    )
    .unwrap()
}

pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir_files(dir);
    v.sort();
    v
}

fn walkdir_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walkdir_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Floors of a phantom foramen evaluation (`foramen::phantom::eval`): found foramina,
/// areas within tolerance, median area error (fraction, exclusive), heights within
/// 1.5 mm (percent of the found) and grades equal to the truth.
pub struct FloorsEval {
    pub found: usize,
    pub area_ok: usize,
    pub median_error: f64,
    pub height_pct: usize,
    pub grades: usize,
}

/// Fails, with the evaluation's report, when `s` falls under any of the floors.
pub fn assert_floors(s: &foramen::phantom::eval::EvalSummary, f: &FloorsEval) {
    let report = s.report();
    assert!(
        s.found >= f.found,
        "found {} < {}\n{report}",
        s.found,
        f.found
    );
    assert!(
        s.area_ok >= f.area_ok,
        "areas within tolerance {} < {}\n{report}",
        s.area_ok,
        f.area_ok
    );
    assert!(
        s.median_abs_area_error < f.median_error,
        "median area error {:.1}% >= {:.0}%\n{report}",
        100.0 * s.median_abs_area_error,
        100.0 * f.median_error
    );
    assert!(
        s.height_ok * 100 >= s.height_n * f.height_pct,
        "heights within 1.5 mm under {}%\n{report}",
        f.height_pct
    );
    assert!(
        s.grade_ok >= f.grades,
        "grades {} < {}\n{report}",
        s.grade_ok,
        f.grades
    );
}
