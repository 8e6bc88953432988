//! The dcmtk `storescp --exec-on-eostudy` recipe of docs/pacs.md: storescp receives a
//! study and runs `foramen measure` on it through the documented hook script.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn storescp_end_of_study_hook_measures_the_study() {
    if !common::require_tool("storescp", "dcmtk") || !common::require_tool("storescu", "dcmtk") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (incoming, results) = (tmp.path().join("in"), tmp.path().join("results"));
    std::fs::create_dir_all(&incoming).unwrap();
    std::fs::create_dir_all(&results).unwrap();
    // The hook script of docs/pacs.md, with this build's binary and the temp folders.
    let hook = tmp.path().join("foramen-hook.sh");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nset -u\nstudy_dir=$1\nout=\"{results}/$(basename \"$study_dir\")\"\n\
             \"{bin}\" measure \"$study_dir\" --out \"$out\" --dicom-out \"$out/dicom\" \\\n  \
             --json-stdout --lock-wait 600 -q >> \"{results}/summary.jsonl\"\n",
            results = results.display(),
            bin = env!("CARGO_BIN_EXE_foramen"),
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _scp = Kill(
        Command::new("storescp")
            .args(["-aet", "SPINECLI", "-od"])
            .arg(&incoming)
            .args([
                "+xa",
                "-ss",
                "st",
                "--eostudy-timeout",
                "2",
                "--exec-on-eostudy",
            ])
            .arg(format!("{} #p", hook.display()))
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start storescp"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "storescp did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    let series = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/phantom/mr-t1/series");
    let sent = Command::new("storescu")
        .args(["-aet", "TESTSCU", "-aec", "SPINECLI", "+sd", "127.0.0.1"])
        .arg(port.to_string())
        .arg(&series)
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );

    // The end-of-study timeout fires, the hook runs, its summary line appears.
    let summary = results.join("summary.jsonl");
    let deadline = Instant::now() + Duration::from_secs(60);
    let line = loop {
        if let Ok(text) = std::fs::read_to_string(&summary)
            && let Some(line) = text.lines().next()
        {
            break line.to_string();
        }
        assert!(Instant::now() < deadline, "the hook did not run");
        std::thread::sleep(Duration::from_millis(200));
    };
    let v: serde_json::Value = serde_json::from_str(&line).expect("one JSON line");
    assert_eq!(v["status"], "measured", "{line}");
    assert_eq!(v["series_measured"], 1);
    let report = Path::new(v["report"].as_str().unwrap());
    common::assert_report_valid(report);
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap();
    assert_eq!(r["series"][0]["num_instances"], 13);
    assert!(
        v["dicom_files"].as_u64().unwrap() >= 3,
        "SR, SEG and key images"
    );
}
