//! `foramen serve` end to end with dcmtk's echoscu and storescu on loopback.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `foramen serve`, killed when dropped (so failing tests clean up).
struct Server {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    l.local_addr().unwrap().port()
}

fn start(out: &Path, extra: &[&str]) -> Server {
    start_with(out, "1", extra)
}

fn start_with(out: &Path, stable_after: &str, extra: &[&str]) -> Server {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_foramen"))
        .args(["serve", "--port", &port.to_string()])
        .args(["--stable-after", stable_after])
        .arg("--out")
        .arg(out)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start foramen serve");
    let server = Server {
        child,
        port,
        out: out.to_path_buf(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not start listening");
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

fn fixture_series() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/phantom/mr-t1/series")
}

fn storescu(port: u16, aet: &str, dir: &Path) -> std::process::Output {
    Command::new("storescu")
        .args(["-aet", aet, "-aec", "FORAMEN", "+sd", "127.0.0.1"])
        .arg(port.to_string())
        .arg(dir)
        .output()
        .expect("run storescu")
}

/// storescu of `dir` must succeed.
fn send_ok(port: u16, aet: &str, dir: &Path) {
    let st = storescu(port, aet, dir);
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
}

fn dcm_files(dir: &Path) -> Vec<PathBuf> {
    if !dir.exists() {
        return vec![];
    }
    common::files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "dcm"))
        .collect()
}

/// The single results/<study>/<series> folder, once its report.json exists.
fn wait_for_report(out: &Path, timeout: Duration) -> PathBuf {
    let deadline = Instant::now() + timeout;
    loop {
        let reports: Vec<PathBuf> = common::files_under(&out.join("results"))
            .into_iter()
            .filter(|p| p.file_name().is_some_and(|n| n == "done.json"))
            .collect();
        if let Some(done) = reports.first() {
            assert_eq!(reports.len(), 1, "one series, one result: {reports:?}");
            return done.parent().unwrap().to_path_buf();
        }
        assert!(
            Instant::now() < deadline,
            "no results within {timeout:?}; files: {:?}",
            common::files_under(out)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn check_report(dir: &Path) {
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    let series = report["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{report}");
    assert_eq!(series[0]["status"], "measured", "{}", series[0]["reason"]);
    assert_eq!(series[0]["num_instances"], 13);
    common::assert_report_valid(&dir.join("report.json"));
    assert!(dir.join("measurements.csv").exists());
    assert!(dir.join("report.html").exists());
    let done: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("done.json")).unwrap()).unwrap();
    assert_eq!(done["snapshot"]["instances"], 13, "{done}");
}

/// echoscu to the server must succeed.
fn assert_echo(port: u16) {
    let st = Command::new("echoscu")
        .args(["-aec", "FORAMEN", "127.0.0.1", &port.to_string()])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
}

fn have_dcmtk() -> bool {
    common::require_tool("storescu", "dcmtk") && common::require_tool("echoscu", "dcmtk")
}

#[test]
fn echo_succeeds() {
    if !have_dcmtk() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let server = start(out.path(), &[]);
    assert_echo(server.port);
}

#[test]
fn stored_series_is_measured() {
    if !have_dcmtk() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let server = start(out.path(), &[]);
    send_ok(server.port, "TESTSCU", &fixture_series());
    assert_eq!(dcm_files(&server.out.join("incoming")).len(), 13);
    let dir = wait_for_report(&server.out, Duration::from_secs(60));
    check_report(&dir);
    // Stored as received: the negotiated transfer syntax (storescu inflates the deflated
    // fixture and sends explicit VR LE by default) and the same pixel bytes.
    let sent = dicom_object::open_file(fixture_series().join("IM0001.dcm")).unwrap();
    let uid = sent
        .meta()
        .media_storage_sop_instance_uid()
        .trim_end_matches('\0');
    let stored = dcm_files(&server.out.join("incoming"))
        .into_iter()
        .find(|p| p.file_stem().is_some_and(|s| s == uid))
        .expect("IM0001 stored under its SOPInstanceUID");
    let stored = dicom_object::open_file(stored).unwrap();
    assert_eq!(
        stored.meta().transfer_syntax().trim_end_matches('\0'),
        "1.2.840.10008.1.2.1"
    );
    let pixels = |o: &dicom_object::DefaultDicomObject| {
        o.element(dicom_dictionary_std::tags::PIXEL_DATA)
            .unwrap()
            .to_bytes()
            .unwrap()
            .to_vec()
    };
    assert_eq!(pixels(&stored), pixels(&sent));
}

/// Compressed and other transfer syntaxes are accepted and stored as negotiated.
#[test]
fn transfer_syntaxes_are_stored_as_received() {
    if !have_dcmtk() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let server = start_with(out.path(), "600", &[]);
    let src = fixture_series().join("IM0001.dcm");
    let cases: [(&str, &[&str], &str, &str); 5] = [
        ("dcmconv", &["+td"], "-xd", "1.2.840.10008.1.2.1.99"),
        ("dcmconv", &["+tb"], "-xb", "1.2.840.10008.1.2.2"),
        ("dcmcrle", &[], "-xr", "1.2.840.10008.1.2.5"),
        ("dcmcjpeg", &[], "-xs", "1.2.840.10008.1.2.4.70"),
        ("dcmcjpls", &[], "-xt", "1.2.840.10008.1.2.4.80"),
    ];
    for (tool, args, propose, ts) in cases {
        let file = work.path().join(format!("{}.dcm", &propose[1..]));
        let st = Command::new(tool)
            .args(args)
            .arg(&src)
            .arg(&file)
            .status()
            .unwrap();
        assert!(st.success(), "{tool}");
        let st = Command::new("storescu")
            .args(["-aec", "FORAMEN", propose, "127.0.0.1"])
            .arg(server.port.to_string())
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{ts}: {}",
            String::from_utf8_lossy(&st.stderr)
        );
        let stored = dcm_files(&server.out.join("incoming"));
        assert_eq!(stored.len(), 1, "same SOPInstanceUID: one file");
        let obj = dicom_object::open_file(&stored[0]).unwrap();
        assert_eq!(obj.meta().transfer_syntax().trim_end_matches('\0'), ts);
    }
}

#[test]
fn disallowed_calling_ae_is_rejected() {
    if !have_dcmtk() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let server = start(out.path(), &["--allow-aet", "ONLYME"]);
    let st = storescu(server.port, "TESTSCU", &fixture_series());
    assert!(!st.status.success(), "association should be rejected");
    std::thread::sleep(Duration::from_millis(300));
    assert!(dcm_files(&server.out.join("incoming")).is_empty());
    // The allowed one gets through.
    send_ok(server.port, "ONLYME", &fixture_series());
    assert_eq!(dcm_files(&server.out.join("incoming")).len(), 13);
}

#[test]
fn sending_twice_stores_once_and_reports_once() {
    if !have_dcmtk() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let server = start(out.path(), &[]);
    for _ in 0..2 {
        let st = storescu(server.port, "TESTSCU", &fixture_series());
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
    }
    assert_eq!(dcm_files(&server.out.join("incoming")).len(), 13);
    let dir = wait_for_report(&server.out, Duration::from_secs(60));
    check_report(&dir);
    let reports: Vec<_> = common::files_under(&server.out.join("results"))
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "report.json"))
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
}

#[test]
fn pending_series_is_processed_after_a_restart() {
    if !have_dcmtk() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    // Long stable time: the series is still pending when the process is killed.
    let mut server = start_with(out.path(), "600", &[]);
    send_ok(server.port, "TESTSCU", &fixture_series());
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    assert!(!out.path().join("results").read_dir().unwrap().any(|_| true));
    drop(server);
    let server = start(out.path(), &[]);
    let dir = wait_for_report(&server.out, Duration::from_secs(60));
    check_report(&dir);
}

#[test]
fn sigterm_exits_cleanly() {
    if !have_dcmtk() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let mut server = start(out.path(), &[]);
    let st = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(code) = server.child.try_wait().unwrap() {
            assert!(code.success(), "{code:?}");
            break;
        }
        assert!(Instant::now() < deadline, "did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `--send-to`: the DICOM results reach another SCP (a second `foramen serve`).
#[test]
fn results_are_sent_to_a_peer() {
    if !have_dcmtk() {
        return;
    }
    let recv_out = tempfile::tempdir().unwrap();
    let receiver = start_with(recv_out.path(), "600", &["--aet", "RECEIVER"]);
    let out = tempfile::tempdir().unwrap();
    let peer = format!("RECEIVER@127.0.0.1:{}", receiver.port);
    let server = start(out.path(), &["--send-to", &peer]);
    send_ok(server.port, "TESTSCU", &fixture_series());
    let dir = wait_for_report(&server.out, Duration::from_secs(60));
    let results = dcm_files(&dir.join("dicom"));
    assert!(!results.is_empty(), "the measurement wrote DICOM results");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = dcm_files(&receiver.out.join("incoming")).len();
        if got == results.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{got} of {} result files arrived",
            results.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An association that sends more than `--max-bytes-per-association` is aborted and
/// nothing of it is stored.
#[test]
fn byte_limit_aborts_the_association() {
    if !have_dcmtk() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let server = start(out.path(), &["--max-bytes-per-association", "10000"]);
    let st = storescu(server.port, "TESTSCU", &fixture_series());
    assert!(!st.status.success(), "the association should be aborted");
    assert!(dcm_files(&server.out.join("incoming")).is_empty());
}

/// Beyond `--max-associations`, requests are rejected (a silent connection holds the
/// only slot here).
#[test]
fn association_limit_rejects_extra_associations() {
    if !have_dcmtk() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let server = start(out.path(), &["--max-associations", "1"]);
    // Lets the start-up probe connection finish and free its slot.
    std::thread::sleep(Duration::from_millis(500));
    let _holder = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let st = Command::new("echoscu")
        .args(["-aec", "FORAMEN", "127.0.0.1", &server.port.to_string()])
        .output()
        .unwrap();
    assert!(
        !st.status.success(),
        "second association should be rejected"
    );
    drop(_holder);
    std::thread::sleep(Duration::from_millis(300));
    assert_echo(server.port);
}

/// Study and series UIDs that look like paths are sanitised: the file stays under
/// incoming/. A SOP Instance UID that is not a UID is refused.
#[test]
fn hostile_uids_cannot_escape_the_output_folder() {
    if !have_dcmtk() || !common::require_tool("dcmodify", "dcmtk") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    let modify = |name: &str, args: &[&str]| {
        let file = root.path().join(name);
        std::fs::copy(fixture_series().join("IM0002.dcm"), &file).unwrap();
        let st = Command::new("dcmodify")
            .arg("-nb")
            .args(args)
            .arg(&file)
            .status()
            .unwrap();
        assert!(st.success());
        file
    };
    let paths = modify(
        "paths.dcm",
        &[
            "-m",
            "StudyInstanceUID=../../../evil",
            "-m",
            "SeriesInstanceUID=/tmp/abs",
        ],
    );
    let bad_sop = modify("sop.dcm", &["-m", "SOPInstanceUID=../../x"]);
    let server = start_with(&out, "600", &[]);
    let send = |file: &Path| {
        Command::new("storescu")
            .args(["-aec", "FORAMEN", "127.0.0.1", &server.port.to_string()])
            .arg(file)
            .output()
            .unwrap()
    };
    let st = send(&paths);
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let st = send(&bad_sop);
    assert!(
        !st.status.success(),
        "an invalid SOP Instance UID is refused"
    );
    let stored = dcm_files(&out.join("incoming"));
    assert_eq!(stored.len(), 1, "{stored:?}");
    let rel = stored[0].strip_prefix(out.join("incoming")).unwrap();
    assert!(rel.starts_with("_.._.._evil/_tmp_abs"), "{rel:?}");
    // Nothing appeared next to the output folder.
    let mut names: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["out", "paths.dcm", "sop.dcm"]);
}

/// Received files under incoming/: every one a whole DICOM file (no partial or temp
/// files), checked with dcmtk's dcmdump, an independent reader.
fn assert_incoming_whole(out: &Path) {
    for f in common::files_under(&out.join("incoming")) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.ends_with(".dcm"), "unexpected file {}", f.display());
        let dump = Command::new("dcmdump").arg("-q").arg(&f).output().unwrap();
        assert!(dump.status.success(), "{} is not whole DICOM", f.display());
    }
}

#[test]
fn sender_killed_mid_series_loses_nothing_it_sent_and_a_resend_completes() {
    if !have_dcmtk() || !common::require_tool("dcmdump", "dcmtk") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // A larger series, so that the sender can be stopped part-way.
    let phantom = tmp.path().join("ph");
    let made = common::foramen(&[
        "phantom",
        "--out",
        phantom.to_str().unwrap(),
        "--seed",
        "5",
        "--slices",
        "40",
        "--rows",
        "512",
        "--columns",
        "512",
    ]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let series = phantom.join("series");
    let total = dcm_files(&series).len();
    let out = tmp.path().join("out");
    let server = start_with(&out, "2", &[]);
    let mut sender = Command::new("storescu")
        .args(["-aet", "TESTSCU", "-aec", "FORAMEN", "+sd", "127.0.0.1"])
        .arg(server.port.to_string())
        .arg(&series)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while dcm_files(&out.join("incoming")).len() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = sender.kill();
    let _ = sender.wait();
    let got = dcm_files(&out.join("incoming")).len();
    assert!(got >= 3, "nothing arrived before the sender was stopped");

    // The partial series is processed on its own (measured or failed, with a report);
    // by then every write has finished: only whole files, no temporary ones.
    let dir = wait_for_report(&out, Duration::from_secs(60));
    assert_incoming_whole(&out);
    let done: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("done.json")).unwrap()).unwrap();
    assert!(done["snapshot"]["instances"].as_u64().unwrap() as usize >= got);
    common::assert_report_valid(&dir.join("report.json"));

    // The whole series again: every instance once, and the report redone with all.
    let resend = storescu(server.port, "TESTSCU", &series);
    assert!(resend.status.success());
    assert_eq!(dcm_files(&out.join("incoming")).len(), total);
    assert_incoming_whole(&out);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
        if report["series"][0]["num_instances"].as_u64() == Some(total as u64)
            && dir.join("done.json").exists()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the resent series was not measured"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let results = common::files_under(&out.join("results"))
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "report.json"))
        .count();
    assert_eq!(results, 1, "one series, one report");
}

#[test]
fn two_studies_sent_at_once_are_kept_apart() {
    if !have_dcmtk() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let server = start(out.path(), &[]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/phantom");
    let send = |name: &str| {
        // -xr: the CT fixture is RLE-compressed.
        Command::new("storescu")
            .args([
                "-aet",
                "TESTSCU",
                "-aec",
                "FORAMEN",
                "-xr",
                "+sd",
                "127.0.0.1",
            ])
            .arg(server.port.to_string())
            .arg(root.join(name).join("series"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // Two associations at once, their instances interleaved on arrival.
    let (mut a, mut b) = (send("mr-t1"), send("ct"));
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let reports = loop {
        let r: Vec<PathBuf> = common::files_under(&out.path().join("results"))
            .into_iter()
            .filter(|p| p.file_name().is_some_and(|n| n == "done.json"))
            .collect();
        if r.len() == 2 {
            break r;
        }
        assert!(Instant::now() < deadline, "got {} results", r.len());
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut modalities = Vec::new();
    for done in reports {
        let dir = done.parent().unwrap();
        common::assert_report_valid(&dir.join("report.json"));
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
        let s = &report["series"].as_array().unwrap();
        assert_eq!(s.len(), 1, "one series per results folder");
        assert_eq!(s[0]["num_instances"], 13);
        assert_eq!(s[0]["status"], "measured", "{}", s[0]["reason"]);
        modalities.push(s[0]["modality"].as_str().unwrap().to_string());
    }
    modalities.sort();
    assert_eq!(modalities, ["CT", "MR"]);
}
