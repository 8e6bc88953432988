//! Cohort runs of the real binary on a generated cohort: `--jobs`, kill and `--resume`,
//! `--shard K/N` + `merge`, and what merge must refuse. Every run is compared with one
//! uninterrupted `--jobs 1` run of the same input (docs/scaling.md).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::foramen;
use serde_json::Value;

const STUDIES: usize = 8;

/// A small generated cohort (8 studies, MR and CT, 13 slices of 160×160) plus the
/// phantoms' truth.json files, which are not DICOM and become skipped files.
fn cohort() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let n = STUDIES.to_string();
        let run = foramen(&[
            "phantom",
            "--suite",
            &n,
            "--out",
            dir.join("in").to_str().unwrap(),
            "--slices",
            "13",
            "--rows",
            "160",
            "--columns",
            "160",
            "--pixel-spacing",
            "1.6",
            "-q",
        ]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        std::fs::write(dir.join("salt"), "cohort-test-salt").unwrap();
        dir
    })
}

fn input() -> PathBuf {
    cohort().join("in")
}

fn salt() -> PathBuf {
    cohort().join("salt")
}

fn measure_args<'a>(jobs: &'a str, inp: &'a str, out: &'a str, salt: &'a str) -> Vec<&'a str> {
    vec![
        "--jobs",
        jobs,
        "measure",
        inp,
        "--out",
        out,
        "--id-salt-file",
        salt,
        "-q",
    ]
}

fn measure(jobs: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    let (inp, salt) = (input(), salt());
    let mut args = measure_args(
        jobs,
        inp.to_str().unwrap(),
        out.to_str().unwrap(),
        salt.to_str().unwrap(),
    );
    args.extend_from_slice(extra);
    foramen(&args)
}

/// The uninterrupted `--jobs 1` run everything else is compared with.
fn reference() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = tempfile::tempdir().unwrap().keep().join("ref");
        let run = measure("1", &out, &[]);
        assert_eq!(
            run.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        out
    })
}

fn report(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap()
}

/// report.json without what may differ between equal runs: the provenance timings and
/// thread count, and each series' `processing_ms`.
fn comparable(dir: &Path) -> Value {
    let mut r = report(dir);
    let p = r["provenance"].as_object_mut().unwrap();
    for key in ["started_utc", "wall_ms", "threads", "run_id"] {
        assert!(p.remove(key).is_some(), "provenance.{key} missing");
    }
    for s in r["series"].as_array_mut().unwrap() {
        s.as_object_mut().unwrap().remove("processing_ms");
    }
    r
}

/// report.html without the start time and run id (the run-dependent text on the page).
fn html(dir: &Path) -> String {
    let run_id = report(dir)["provenance"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let page = std::fs::read_to_string(dir.join("report.html"))
        .unwrap()
        .replace(&run_id, "RUN_ID");
    let at = page.find("run started ").expect("start time on the page");
    let end = at + page[at..].find(" UTC").unwrap();
    format!("{}{}", &page[..at], &page[end..])
}

fn assert_same_outputs(a: &Path, b: &Path) {
    assert_eq!(comparable(a), comparable(b), "report.json differs");
    assert_eq!(
        std::fs::read_to_string(a.join("measurements.csv")).unwrap(),
        std::fs::read_to_string(b.join("measurements.csv")).unwrap(),
        "measurements.csv differs"
    );
    assert!(html(a) == html(b), "report.html differs");
}

fn journal_lines(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("studies.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn reference_run_covers_every_study_in_order() {
    let r = report(reference());
    let studies: Vec<&str> = r["studies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["study_instance_uid"].as_str().unwrap())
        .collect();
    assert_eq!(studies.len(), STUDIES);
    let mut sorted = studies.clone();
    sorted.sort_unstable();
    assert_eq!(studies, sorted, "studies are reported in UID order");
    let series: Vec<&str> = r["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["study_instance_uid"].as_str().unwrap())
        .collect();
    assert_eq!(
        series, sorted,
        "one series per phantom study, in study order"
    );
    let measured = r["series"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "measured")
        .count();
    assert!(measured >= STUDIES / 2, "only {measured} series measured");
    assert_eq!(r["skipped_files"].as_array().unwrap().len(), STUDIES);
    assert!(r["provenance"].get("shard").is_none());
    // The journal holds every study once; the partial CSV is gone once the final one
    // is written, and its rows are those of the final CSV.
    let lines = journal_lines(reference());
    assert_eq!(lines.len(), STUDIES);
    for l in &lines {
        assert_eq!(l["schema"], "foramen.study/1");
        assert!(l["fingerprint"].as_str().unwrap().starts_with("sha256:"));
    }
    assert!(!reference().join("measurements.partial.csv").exists());
    let csv = std::fs::read_to_string(reference().join("measurements.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 10 * STUDIES);
}

#[test]
fn jobs_1_and_2_write_identical_outputs() {
    let out = tempfile::tempdir().unwrap();
    let run = measure("2", out.path(), &[]);
    assert!(run.status.success());
    assert_eq!(report(out.path())["provenance"]["threads"], 2);
    assert_eq!(report(reference())["provenance"]["threads"], 1);
    assert_same_outputs(reference(), out.path());
}

#[test]
fn a_killed_run_resumes_to_the_same_outputs() {
    let out = tempfile::tempdir().unwrap();
    let (inp, salt) = (input(), salt());
    let args = measure_args(
        "1",
        inp.to_str().unwrap(),
        out.path().to_str().unwrap(),
        salt.to_str().unwrap(),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_foramen"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let journal = out.path().join("studies.jsonl");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let lines = std::fs::read_to_string(&journal)
            .map(|t| t.matches('\n').count())
            .unwrap_or(0);
        if lines >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no journal lines after 60 s");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !out.path().join("report.json").exists(),
        "killed before the report"
    );
    let before = journal_lines_complete(&journal);
    assert!(
        before.len() >= 2 && before.len() < STUDIES,
        "{}",
        before.len()
    );
    // The rows of the finished studies are on disk too.
    let partial = std::fs::read_to_string(out.path().join("measurements.partial.csv")).unwrap();
    // (the rows are written just after the journal line: a kill may fall in between)
    assert!(partial.lines().count() > 10 * (before.len() - 1));

    let run = measure("1", out.path(), &["--resume"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_same_outputs(reference(), out.path());
    // The studies finished before the kill were not measured again: their lines are
    // kept (with their timings), and only the other studies were added.
    let after = journal_lines(out.path());
    assert_eq!(after.len(), STUDIES);
    assert_eq!(&after[..before.len()], &before[..]);
    let r = report(out.path());
    for line in &before {
        let s = r["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["study_instance_uid"] == line["study_instance_uid"])
            .unwrap();
        assert_eq!(s["processing_ms"], line["series"][0]["processing_ms"]);
    }
}

/// The complete lines of a journal (a kill may leave half a line at the end).
fn journal_lines_complete(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let end = text.rfind('\n').map_or(0, |i| i + 1);
    text[..end]
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn resume_tolerates_a_line_cut_short() {
    let out = tempfile::tempdir().unwrap();
    let full = std::fs::read_to_string(reference().join("studies.jsonl")).unwrap();
    let lines: Vec<&str> = full.lines().collect();
    // Three whole lines and half of the fourth, as a kill during a write leaves them.
    let cut = format!(
        "{}\n{}\n{}\n{}",
        lines[0],
        lines[1],
        lines[2],
        &lines[3][..lines[3].len() / 2]
    );
    std::fs::write(out.path().join("studies.jsonl"), cut).unwrap();
    // QC images of the kept studies, as the interrupted run would have left them.
    copy_dir(&reference().join("qc"), &out.path().join("qc"));
    let run = measure("2", out.path(), &["--resume"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_same_outputs(reference(), out.path());
    let after = journal_lines(out.path());
    // The 3 whole lines kept as they were, the cut one gone, the other 5 studies added.
    assert_eq!(after.len(), STUDIES);
    for (i, line) in lines[..3].iter().enumerate() {
        assert_eq!(after[i], serde_json::from_str::<Value>(line).unwrap());
    }

    // Without --resume the journal starts afresh.
    let again = measure("2", out.path(), &["--no-qc"]);
    assert!(again.status.success());
    assert_eq!(journal_lines(out.path()).len(), STUDIES);
}

/// The StudyInstanceUID of a DICOM file.
fn study_uid(file: &Path) -> String {
    let obj = dicom_object::open_file(file).unwrap();
    obj.element(dicom_dictionary_std::tags::STUDY_INSTANCE_UID)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches('\0')
        .to_string()
}

#[test]
fn a_changed_study_is_measured_again_on_resume() {
    // Its own two-study cohort: the test changes a file.
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("in");
    let made = foramen(&[
        "phantom",
        "--suite",
        "2",
        "--out",
        inp.to_str().unwrap(),
        "--slices",
        "13",
        "--rows",
        "160",
        "--columns",
        "160",
        "--pixel-spacing",
        "1.6",
        "-q",
    ]);
    assert!(made.status.success());
    let out = dir.path().join("out");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "measure",
            inp.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--no-qc",
            "-q",
        ];
        args.extend_from_slice(extra);
        let r = foramen(&args);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    };
    run(&[]);
    let first = journal_lines(&out);
    assert_eq!(first.len(), 2);
    // Nothing changed: nothing is measured again.
    run(&["--resume"]);
    assert_eq!(journal_lines(&out), first);
    // One file of case 0 is re-sent (new modification time): its study is redone.
    let file = common::files_under(&inp.join("case-000/series"))[0].clone();
    let changed = study_uid(&file);
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(later)
        .unwrap();
    run(&["--resume"]);
    let after = journal_lines(&out);
    assert_eq!(after.len(), 3);
    assert_eq!(&after[..2], &first[..]);
    assert_eq!(after[2]["study_instance_uid"], changed.as_str());
    let old = first
        .iter()
        .find(|l| l["study_instance_uid"] == changed.as_str())
        .unwrap();
    assert_ne!(after[2]["fingerprint"], old["fingerprint"]);
    // The report has each study once.
    assert_eq!(report(&out)["series"].as_array().unwrap().len(), 2);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

/// The three shard runs of the cohort (shared by the merge tests).
fn shards() -> &'static [PathBuf] {
    static DIRS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    DIRS.get_or_init(|| {
        let base = tempfile::tempdir().unwrap().keep();
        (0..3)
            .map(|k| {
                let out = base.join(format!("shard{k}"));
                let shard = format!("{k}/3");
                let run = measure("2", &out, &["--shard", &shard]);
                assert!(
                    run.status.success(),
                    "{}",
                    String::from_utf8_lossy(&run.stderr)
                );
                out
            })
            .collect()
    })
}

fn merge(dirs: &[PathBuf], out: &Path) -> std::process::Output {
    let mut args = vec!["merge"];
    args.extend(dirs.iter().map(|d| d.to_str().unwrap()));
    args.extend(["--out", out.to_str().unwrap()]);
    foramen(&args)
}

#[test]
fn shards_merge_to_the_single_run() {
    let dirs = shards();
    let mut seen = Vec::new();
    for (k, dir) in dirs.iter().enumerate() {
        let r = report(dir);
        common::assert_report_valid(&dir.join("report.json"));
        let shard = &r["provenance"]["shard"];
        assert_eq!(
            (shard["k"].as_u64(), shard["n"].as_u64()),
            (Some(k as u64), Some(3))
        );
        assert_eq!(shard["input_studies"], STUDIES);
        // Files that are no study's are reported by shard 0 only.
        let skipped = r["skipped_files"].as_array().unwrap().len();
        assert_eq!(skipped, if k == 0 { STUDIES } else { 0 });
        seen.extend(
            r["studies"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["study_instance_uid"].as_str().unwrap().to_string()),
        );
    }
    seen.sort();
    let all: Vec<String> = report(reference())["studies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["study_instance_uid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, all, "every study in exactly one shard");

    let out = tempfile::tempdir().unwrap();
    let run = merge(
        &[dirs[2].clone(), dirs[0].clone(), dirs[1].clone()],
        out.path(),
    );
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    common::assert_report_valid(&out.path().join("report.json"));
    assert_same_outputs(reference(), out.path());
    // The QC images were brought along (report.html embeds them: compared above).
    for s in report(out.path())["series"].as_array().unwrap() {
        for img in s["qc_images"].as_array().unwrap() {
            assert!(out.path().join(img.as_str().unwrap()).is_file(), "{img}");
        }
    }
}

/// A shard's report.json, edited by `f`, in a new folder.
fn edited_shard(k: usize, f: impl FnOnce(&mut Value)) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(format!("edited{k}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut r = report(&shards()[k]);
    f(&mut r);
    std::fs::write(dir.join("report.json"), serde_json::to_vec(&r).unwrap()).unwrap();
    copy_dir(&shards()[k].join("qc"), &dir.join("qc"));
    (tmp, dir)
}

#[test]
fn merge_refuses_missing_and_duplicated_parts() {
    let dirs = shards();
    let out = tempfile::tempdir().unwrap();
    let check = |parts: &[PathBuf], needle: &str| {
        let run = merge(parts, out.path());
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(6), "{err}");
        assert!(err.contains(needle), "{needle:?} not in {err}");
        assert!(!out.path().join("report.json").exists());
    };
    check(
        &[dirs[0].clone(), dirs[2].clone()],
        "shard(s) 1 of 3 missing",
    );
    check(
        &[
            dirs[0].clone(),
            dirs[1].clone(),
            dirs[2].clone(),
            dirs[1].clone(),
        ],
        "shard 1/3 is given twice",
    );
    // A study of shard 0 also in shard 2's output.
    let donor = report(&dirs[0]);
    assert!(
        !donor["studies"].as_array().unwrap().is_empty(),
        "shard 0 is empty"
    );
    let (_t, dup) = edited_shard(2, |r| {
        let st = donor["studies"][0].clone();
        r["studies"].as_array_mut().unwrap().push(st);
    });
    check(
        &[dirs[0].clone(), dirs[1].clone(), dup],
        "is in two shards' outputs",
    );
    // A study missing from its shard's output.
    let (_t, short) = edited_shard(0, |r| {
        r["studies"].as_array_mut().unwrap().remove(0);
    });
    check(
        &[short, dirs[1].clone(), dirs[2].clone()],
        "studies but the input had 8",
    );
    // A report that is not a shard's.
    let run = merge(&[reference().to_path_buf()], out.path());
    assert_eq!(run.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--shard"));
}

#[test]
fn bad_shard_arguments_are_usage_errors() {
    let out = tempfile::tempdir().unwrap();
    for bad in ["3/3", "1/0", "x/2", "1", "-1/2"] {
        let arg = format!("--shard={bad}");
        let run = measure("1", out.path(), &[&arg]);
        assert_eq!(run.status.code(), Some(2), "--shard {bad}");
        assert!(
            String::from_utf8_lossy(&run.stderr).contains("--shard"),
            "{bad}"
        );
    }
    assert!(!out.path().join("report.json").exists());
}
