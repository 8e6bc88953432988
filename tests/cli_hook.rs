//! `foramen measure` as a PACS export hook: one-line JSON summary, documented exit
//! codes, idempotent re-runs, and an output-folder lock.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/phantom")
}

fn hook(input: &Path, out: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec![
        "measure",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json-stdout",
        "--no-qc",
    ];
    args.extend_from_slice(extra);
    let run = common::foramen(&args);
    let stdout = String::from_utf8(run.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one line on stdout: {stdout:?}");
    (
        run.status.code().unwrap(),
        serde_json::from_str(stdout.trim()).expect("the line is JSON"),
    )
}

#[test]
fn summary_line_and_idempotent_reruns() {
    let dir = tempfile::tempdir().unwrap();
    let (code, line) = hook(&fixtures(), dir.path(), &[]);
    assert_eq!(code, 0);
    assert_eq!(line["status"], "measured");
    assert_eq!(line["exit_code"], 0);
    assert_eq!(line["series_measured"], 2);
    assert!(
        line["disclaimer"]
            .as_str()
            .unwrap()
            .contains("clinical correlation")
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    let measured = report["series"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["levels"].as_array().unwrap())
        .filter(|l| l["min_area_mm2"].is_number())
        .count();
    assert_eq!(
        line["foramina_measured"].as_u64().unwrap() as usize,
        measured
    );
    for key in ["report", "csv", "html"] {
        assert!(Path::new(line[key].as_str().unwrap()).exists(), "{key}");
    }

    // The same series again into the same folder: the same rows, not twice as many,
    // and the same measurements.
    let csv1 = std::fs::read(dir.path().join("measurements.csv")).unwrap();
    let (code, _) = hook(&fixtures(), dir.path(), &[]);
    assert_eq!(code, 0);
    let csv2 = std::fs::read(dir.path().join("measurements.csv")).unwrap();
    assert_eq!(
        csv1, csv2,
        "a re-run must reproduce measurements.csv exactly"
    );
    let again: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    let strip = |mut r: Value| {
        r.as_object_mut().unwrap().remove("provenance");
        for s in r["series"].as_array_mut().unwrap() {
            s.as_object_mut().unwrap().remove("processing_ms");
        }
        r
    };
    assert_eq!(strip(report), strip(again));
}

#[test]
fn exit_codes_tell_measured_from_nothing_measurable_and_no_input() {
    let dir = tempfile::tempdir().unwrap();
    // One slice of a series: DICOM, but nothing that can be measured.
    let one = dir.path().join("one");
    std::fs::create_dir_all(&one).unwrap();
    let first = common::files_under(&fixtures().join("mr-t1/series"))
        .into_iter()
        .next()
        .unwrap();
    std::fs::copy(&first, one.join("x.dcm")).unwrap();
    let (code, line) = hook(&one, &dir.path().join("out1"), &[]);
    assert_eq!(code, 3);
    assert_eq!(line["status"], "nothing_measurable");

    let junk = dir.path().join("junk");
    std::fs::create_dir_all(&junk).unwrap();
    std::fs::write(junk.join("a.dcm"), b"not dicom").unwrap();
    let (code, line) = hook(&junk, &dir.path().join("out2"), &[]);
    assert_eq!(code, 1);
    assert_eq!(line["status"], "no_input");
}

#[test]
fn a_second_run_waits_for_the_lock_or_gives_up_with_exit_5() {
    let dir = tempfile::tempdir().unwrap();
    let held = foramen::atomic_file::OutputLock::acquire(dir.path(), Duration::ZERO)
        .unwrap()
        .expect("lock");
    let run = common::foramen(&[
        "measure",
        fixtures().to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
        "--no-qc",
        "--lock-wait",
        "0.3",
    ]);
    assert_eq!(run.status.code(), Some(5));
    assert!(!dir.path().join("report.json").exists());
    drop(held);

    // Two hooks at once on one folder: both finish, and the report is whole.
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_foramen"))
            .args(["measure", fixtures().to_str().unwrap(), "--out"])
            .arg(dir.path())
            .args(["--no-qc", "-q"])
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(), spawn());
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    common::assert_report_valid(&dir.path().join("report.json"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}
