//! Hostile and broken input (docs/robustness.md): the generated malformed corpus, next
//! to a good phantom series, through `scan`, `measure` and `serve`; and every input the
//! fuzzers ever crashed on, replayed through the same harness.

mod common;

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use foramen::phantom::malformed::{CorpusFile, Expect, SENTINEL_PATIENT_NAME, write_corpus};

/// Longest any one command may take on the corpus (the contract says no hang over 30 s).
const HANG_LIMIT: Duration = Duration::from_secs(30);

/// Runs the binary with a hard time limit; a hang fails the test instead of blocking it.
fn run_limited(args: &[&std::ffi::OsStr]) -> (Output, Duration) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_foramen"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start foramen");
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > HANG_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("foramen {args:?} did not finish within {HANG_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    };
    (out, start.elapsed())
}

fn assert_no_crash(what: &str, out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "{what} panicked:\n{stderr}");
    assert!(out.status.code().is_some(), "{what} killed by a signal");
    assert!(!stderr.contains("panicked at"), "{what}:\n{stderr}");
    assert!(
        !stderr.contains(SENTINEL_PATIENT_NAME) && !stderr.contains("LEAKCHECK"),
        "{what} printed a patient name"
    );
}

/// Every entry under `dir` without following links: type, bytes, link target, mode.
fn tree_digest(dir: &Path) -> BTreeMap<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).follow_links(false) {
        let Ok(e) = e else { continue };
        let md = e.path().symlink_metadata().unwrap();
        let mode = md.permissions().mode();
        let what = if md.file_type().is_symlink() {
            format!("link {:?}", std::fs::read_link(e.path()).unwrap())
        } else if md.is_file() {
            let bytes = std::fs::read(e.path()).unwrap();
            format!("file {} {:x}", bytes.len(), fnv(&bytes))
        } else {
            format!("{:?}", md.file_type())
        };
        out.insert(
            e.path().to_path_buf(),
            format!("{what} mode {mode:o} mtime {:?}", md.modified().ok()),
        );
    }
    out
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let dest = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// The corpus plus a measurable phantom series (the checked-in MR T1 fixture).
fn corpus_tree(root: &Path) -> (PathBuf, Vec<(PathBuf, CorpusFile)>) {
    let input = root.join("input");
    let files = write_corpus(&input).expect("write the corpus");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/phantom/mr-t1"),
        &input.join("phantom"),
    );
    (input, files)
}

fn unlock(input: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let locked = input.join("filesystem/no_permission");
    let _ = std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755));
}

#[test]
fn scan_and_measure_survive_the_corpus_name_every_bad_file_and_leave_the_input_alone() {
    let root = tempfile::tempdir().unwrap();
    let (input, files) = corpus_tree(root.path());
    let before = tree_digest(&input);
    let out = root.path().join("out");

    let (scan, took) = run_limited(&["scan".as_ref(), input.as_os_str(), "--json".as_ref()]);
    assert_no_crash("scan", &scan);
    assert_eq!(scan.status.code(), Some(0), "scan found series");
    eprintln!("scan of the corpus: {took:?}");

    let (measure, took) = run_limited(&[
        "measure".as_ref(),
        input.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--dicom-out".as_ref(),
        root.path().join("dicom-out").as_os_str(),
        "--masks".as_ref(),
    ]);
    assert_no_crash("measure", &measure);
    eprintln!("measure of the corpus: {took:?}");
    assert_eq!(
        measure.status.code(),
        Some(0),
        "the good phantom series is measured: {}",
        String::from_utf8_lossy(&measure.stderr)
    );
    let report_path = out.join("report.json");
    common::assert_report_valid(&report_path);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();

    // The rest of the run completed: the phantom next to the junk was measured.
    let series = report["series"].as_array().unwrap();
    assert!(
        series.iter().any(|s| s["status"] == "measured"
            && s["series_description"]
                .as_str()
                .is_some_and(|d| d.contains("phantom"))),
        "phantom series measured"
    );

    let skipped: BTreeMap<String, String> = report["skipped_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (path, reason) in &skipped {
        assert!(reason.len() > 5, "{path}: empty reason");
    }
    let key = |p: &Path| p.display().to_string();
    for (path, f) in &files {
        match f.expect {
            Expect::SkippedFile => assert!(
                skipped.contains_key(&key(path)),
                "{} ({}) is not listed as skipped",
                f.name,
                f.defect
            ),
            Expect::Unusable => {
                if skipped.contains_key(&key(path)) {
                    continue;
                }
                let uid = f
                    .series_instance_uid()
                    .expect("generated with a series UID");
                if uid.is_empty() {
                    // Grouped under a derived UID (with a warning); checked by the
                    // series assembly tests.
                    continue;
                }
                let entries: Vec<_> = series
                    .iter()
                    .filter(|s| s["series_instance_uid"] == uid.as_str())
                    .collect();
                assert!(
                    !entries.is_empty(),
                    "{} ({}): neither skipped nor in a series",
                    f.name,
                    f.defect
                );
                for s in entries {
                    assert_ne!(s["status"], "measured", "{} ({})", f.name, f.defect);
                    assert!(
                        s["reason"].as_str().is_some_and(|r| !r.is_empty()),
                        "{} ({}): series without a reason",
                        f.name,
                        f.defect
                    );
                }
            }
            Expect::Any => {}
        }
    }
    // File system oddities are reported, never opened (a FIFO would hang the run).
    for name in ["pipe.dcm", "zero_device.dcm", "loop_a", "dangling.dcm"] {
        let p = input.join("filesystem").join(name);
        assert!(skipped.contains_key(&key(&p)), "{name} not reported");
    }

    // No patient name in anything written.
    for f in common::files_under(&out) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("LEAKCHECK"),
            "{} contains the patient name",
            f.display()
        );
    }

    // Inputs untouched: same entries, bytes, modes and modification times.
    let after = tree_digest(&input);
    assert_eq!(before, after, "the input tree changed");
    unlock(&input);
}

#[test]
fn every_corpus_file_alone_is_handled_within_the_time_limit() {
    // One file per run: a file must not need the others to be reported correctly.
    let root = tempfile::tempdir().unwrap();
    let (input, files) = corpus_tree(root.path());
    let mut slowest = Duration::ZERO;
    for (path, f) in files.iter().filter(|(_, f)| f.expect != Expect::Any) {
        let (out, took) = run_limited(&["scan".as_ref(), path.as_os_str(), "--json".as_ref()]);
        assert_no_crash(&f.name, &out);
        slowest = slowest.max(took);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let listed =
            json["skipped"].as_array().unwrap().len() + json["series"].as_array().unwrap().len();
        assert_eq!(listed, 1, "{}: {}", f.name, json);
    }
    eprintln!("slowest single-file scan: {slowest:?}");
    unlock(&input);
}

/// Bytes of the data set of a generated file (after the file meta group), or the
/// whole file when it has none.
fn dataset_of(bytes: &[u8]) -> Vec<u8> {
    if bytes.len() >= 144 && &bytes[128..132] == b"DICM" {
        let gl = u32::from_le_bytes([bytes[140], bytes[141], bytes[142], bytes[143]]) as usize;
        let start = 144usize.saturating_add(gl).min(bytes.len());
        return bytes[start..].to_vec();
    }
    bytes.to_vec()
}

/// Sends one data set as a C-STORE on its own association; returns the status, or
/// `None` when the server ended the association (which is allowed).
fn store_raw(port: u16, n: usize, dataset: &[u8]) -> Option<u16> {
    use dicom_ul::ClientAssociationOptions;
    use dicom_ul::Pdu;
    use dicom_ul::pdu::{PDataValueType, PresentationContextResultReason};
    use foramen::serve::scp::{command, encode_command, parse_command};
    const MR: &str = "1.2.840.10008.5.1.4.1.1.4";
    const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
    let mut assoc = ClientAssociationOptions::new()
        .calling_ae_title("CORPUS")
        .called_ae_title("FORAMEN")
        .with_presentation_context(MR, vec![EXPLICIT_LE])
        .read_timeout(Duration::from_secs(20))
        .write_timeout(Duration::from_secs(20))
        .establish(("127.0.0.1", port))
        .expect("association accepted");
    let pc = assoc
        .presentation_contexts()
        .iter()
        .find(|pc| pc.reason == PresentationContextResultReason::Acceptance)
        .map(|pc| pc.id)
        .expect("MR storage accepted");
    let sop = format!("1.2.826.0.1.3680043.10.1403.77.{n}");
    let cmd = encode_command(&[
        (0x0002, MR.as_bytes().to_vec()),
        (0x0100, command::C_STORE_RQ.to_le_bytes().to_vec()),
        (0x0110, 1u16.to_le_bytes().to_vec()),
        (0x0700, 0u16.to_le_bytes().to_vec()),
        (0x0800, 0u16.to_le_bytes().to_vec()),
        (0x1000, sop.as_bytes().to_vec()),
    ]);
    assoc
        .send(&foramen::serve::scp::command_pdu(pc, cmd))
        .ok()?;
    {
        let mut w = assoc.send_pdata(pc);
        w.write_all(dataset).ok()?;
        w.finish().ok()?;
    }
    let status = match assoc.receive().ok()? {
        Pdu::PData { data } => {
            let bytes: Vec<u8> = data
                .into_iter()
                .filter(|v| v.value_type == PDataValueType::Command)
                .flat_map(|v| v.data)
                .collect();
            parse_command(&bytes).ok()?.status
        }
        _ => None,
    };
    let _ = assoc.release();
    status
}

#[test]
fn serve_survives_the_corpus_over_the_network() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let stderr_path = root.path().join("serve.stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_foramen"))
        .args(["serve", "--port", &port.to_string(), "--stable-after", "1"])
        .arg("--out")
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("start foramen serve");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let files = foramen::phantom::malformed::corpus();
    let mut answered = 0;
    let start = Instant::now();
    for (n, f) in files.iter().enumerate() {
        let t = Instant::now();
        if store_raw(port, n, &dataset_of(&f.bytes)).is_some() {
            answered += 1;
        }
        assert!(t.elapsed() < HANG_LIMIT, "{} hung the association", f.name);
        assert!(
            child.try_wait().unwrap().is_none(),
            "serve exited after {}",
            f.name
        );
    }
    eprintln!(
        "{answered} of {} corpus data sets answered with a status in {:?}",
        files.len(),
        start.elapsed()
    );
    // Still serving: a well-formed slice is stored after all that.
    let good = &files[0];
    assert_eq!(good.expect, Expect::Any, "{}", good.name);
    assert_eq!(store_raw(port, 99_999, &dataset_of(&good.bytes)), Some(0));
    // Give the scheduler time to process what it stored, then stop it.
    std::thread::sleep(Duration::from_secs(4));
    let mut guard = Kill(child);
    assert!(guard.0.try_wait().unwrap().is_none(), "serve still running");
    // SAFETY: sending SIGTERM to our own child process.
    unsafe { libc::kill(guard.0.id() as i32, libc::SIGTERM) };
    let _ = guard.0.wait();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(!stderr.contains("panicked at"), "{stderr}");
    assert!(!stderr.contains("LEAKCHECK"), "serve logged a patient name");
    // Nothing was written outside the output folder.
    let mut names: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["out", "serve.stderr"]);
    for f in common::files_under(&out) {
        assert!(
            !String::from_utf8_lossy(&std::fs::read(&f).unwrap()).contains("LEAKCHECK")
                || f.starts_with(out.join("incoming")),
            "{} contains the patient name",
            f.display()
        );
    }
}

#[test]
fn fuzzer_findings_replay_without_panicking() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut n = 0;
    for (target, run) in [
        (
            "header",
            foramen::fuzz_harness::header_and_series as fn(&[u8]),
        ),
        ("pipeline", foramen::fuzz_harness::pipeline as fn(&[u8])),
    ] {
        let Ok(entries) = std::fs::read_dir(dir.join(target)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for p in paths {
            let bytes = std::fs::read(&p).unwrap();
            let result = std::panic::catch_unwind(|| run(&bytes));
            assert!(result.is_ok(), "{} panics again", p.display());
            n += 1;
        }
    }
    // The corpus itself goes through the header harness too (as the fuzzers' seeds).
    for f in foramen::phantom::malformed::corpus() {
        foramen::fuzz_harness::header_and_series(&f.bytes);
        n += 1;
    }
    assert!(n > 100);
    // Out-of-memory findings must stay fixed too: none of this may need a gigabyte.
    // (Other tests in this binary run their work in child processes, not counted here.)
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let peak_mb = usage.ru_maxrss / 1024;
    assert!(
        peak_mb < 1024,
        "replaying the findings peaked at {peak_mb} MB"
    );
}

#[test]
fn an_unreadable_folder_is_reported_not_fatal() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let input = root.path().join("input");
    write_corpus(&input).unwrap();
    for e in walkdir::WalkDir::new(&input).follow_links(false) {
        let e = e.unwrap();
        if e.file_type().is_dir() && !e.path().ends_with("no_permission") {
            std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    // Root reads any folder: run as `nobody` so the permission bits apply. `nobody`
    // may not reach the target folder (under root's home in the usual container
    // setup), so it runs a copy of the binary in the world-readable temp folder.
    let as_root = unsafe { libc::geteuid() } == 0;
    let bin = if as_root {
        let copy = root.path().join("foramen");
        std::fs::copy(env!("CARGO_BIN_EXE_foramen"), &copy).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
        copy
    } else {
        std::path::PathBuf::from(env!("CARGO_BIN_EXE_foramen"))
    };
    let mut cmd = Command::new(&bin);
    cmd.arg("scan").arg(&input).arg("--json");
    if as_root {
        cmd.uid(65534).gid(65534);
    }
    let out = cmd.output().unwrap();
    assert_no_crash("scan as an unprivileged user", &out);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    let locked = json["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"].as_str().unwrap().contains("no_permission"))
        .unwrap_or_else(|| panic!("unreadable folder not listed: {json}"));
    assert!(
        locked["reason"]["detail"]
            .as_str()
            .unwrap()
            .contains("ermission denied"),
        "{locked}"
    );
    unlock(&input);
}
