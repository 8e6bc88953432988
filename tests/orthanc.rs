//! Orthanc as the PACS, end to end: (a) Orthanc → `foramen serve` → results back to
//! Orthanc by C-STORE; (b) Orthanc's Lua `OnStableSeries` runs `foramen measure` and
//! posts the results back. Orthanc, storescu, curl and unzip are external tools.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A child process killed when dropped, so a failing test leaves nothing running.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    l.local_addr().unwrap().port()
}

fn fixture_series() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/phantom/mr-t1/series")
}

/// The Debian package installs Orthanc in /usr/sbin, which is not on every user's PATH.
fn orthanc_bin() -> PathBuf {
    let sbin = Path::new("/usr/sbin/Orthanc");
    if sbin.exists() {
        sbin.to_path_buf()
    } else {
        PathBuf::from("Orthanc")
    }
}

fn have_tools() -> bool {
    // Evaluate all, so a CI run reports every missing tool at once.
    [
        orthanc_bin().is_absolute() || common::require_tool("Orthanc", "orthanc"),
        common::require_tool("storescu", "dcmtk"),
        common::require_tool("curl", "curl"),
        common::require_tool("unzip", "unzip"),
    ]
    .iter()
    .all(|&found| found)
}

struct Orthanc {
    _proc: Proc,
    http: u16,
    dicom: u16,
    log: PathBuf,
}

impl Orthanc {
    /// Starts Orthanc with its database in `dir` and waits until its REST API answers.
    fn start(dir: &Path, modalities: Value, lua: Option<&Path>) -> Orthanc {
        let (http, dicom) = (free_port(), free_port());
        let mut config = json!({
            "Name": "FORAMEN-TEST",
            "StorageDirectory": dir.join("db"),
            "IndexDirectory": dir.join("db"),
            "Plugins": [],
            "HttpPort": http,
            "DicomPort": dicom,
            "DicomAet": "ORTHANC",
            "RemoteAccessAllowed": false,
            "AuthenticationEnabled": false,
            "DicomAlwaysAllowStore": true,
            "DicomCheckCalledAet": false,
            "DicomModalities": modalities,
            "StableAge": 1,
        });
        if let Some(lua) = lua {
            config["LuaScripts"] = json!([lua]);
        }
        let path = dir.join("orthanc.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        let log = dir.join("orthanc.log");
        let logf = std::fs::File::create(&log).unwrap();
        // The Lua hook's script finds the REST API through this variable.
        let child = Command::new(orthanc_bin())
            .arg(&path)
            .env("FORAMEN_TEST_ORTHANC_HTTP", http.to_string())
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(logf.try_clone().unwrap())
            .stderr(logf)
            .spawn()
            .expect("start Orthanc");
        let orthanc = Orthanc {
            _proc: Proc(child),
            http,
            dicom,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while orthanc.try_get("/system").is_none() {
            assert!(
                Instant::now() < deadline,
                "Orthanc did not start; log:\n{}",
                orthanc.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        orthanc
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn try_get(&self, path: &str) -> Option<Value> {
        let out = Command::new("curl")
            .args(["-sf", &self.url(path)])
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    fn get(&self, path: &str) -> Value {
        self.try_get(path)
            .unwrap_or_else(|| panic!("GET {path} failed; log:\n{}", self.log_text()))
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        let out = Command::new("curl")
            .args(["-sf", "-X", "POST", &self.url(path), "-d"])
            .arg(body.to_string())
            .output()
            .expect("run curl");
        assert!(
            out.status.success(),
            "POST {path} failed: {}; log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_text()
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// Every series, with its main tags (`?expand`).
    fn series(&self) -> Vec<Value> {
        self.get("/series?expand")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn storescu(&self, dir: &Path) {
        let out = Command::new("storescu")
            .args(["-aet", "TESTSCU", "-aec", "ORTHANC", "+sd", "127.0.0.1"])
            .arg(self.dicom.to_string())
            .arg(dir)
            .output()
            .expect("run storescu");
        assert!(
            out.status.success(),
            "storescu to Orthanc: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The one MR series (the fixture), as (Orthanc series id, Orthanc study id).
    fn source_series(&self) -> (String, String) {
        let all = self.series();
        let mr: Vec<&Value> = all
            .iter()
            .filter(|s| s["MainDicomTags"]["Modality"] == "MR")
            .collect();
        assert_eq!(mr.len(), 1, "one MR series in Orthanc: {all:?}");
        assert_eq!(mr[0]["Instances"].as_array().map(Vec::len), Some(13));
        let id = mr[0]["ID"].as_str().unwrap().to_string();
        let study = mr[0]["ParentStudy"].as_str().unwrap().to_string();
        (id, study)
    }

    fn study_uid_of_series(&self, series: &Value) -> String {
        let instance = series["Instances"][0]
            .as_str()
            .expect("series has an instance");
        let tags = self.get(&format!("/instances/{instance}/simplified-tags"));
        tags["StudyInstanceUID"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Polls until the study holds a series of every modality in `want` (besides the
    /// source); returns those series and when SR first appeared.
    fn wait_for_results(
        &self,
        study: &str,
        source: &str,
        want: &[&str],
        timeout: Duration,
    ) -> (Vec<Value>, Instant) {
        let deadline = Instant::now() + timeout;
        let mut sr_seen = None;
        loop {
            let results: Vec<Value> = self
                .series()
                .into_iter()
                .filter(|s| s["ParentStudy"] == study && s["ID"] != source)
                .collect();
            let has = |m: &str| results.iter().any(|s| s["MainDicomTags"]["Modality"] == m);
            if sr_seen.is_none() && has("SR") {
                sr_seen = Some(Instant::now());
            }
            if want.iter().all(|m| has(m)) {
                return (results, sr_seen.unwrap());
            }
            assert!(
                Instant::now() < deadline,
                "results not in Orthanc within {timeout:?}; series in study: {results:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The result series are in the same study (same StudyInstanceUID) as the source.
    fn check_same_study(&self, results: &[Value], source: &str) {
        let source_uid = self.study_uid_of_series(&self.get(&format!("/series/{source}")));
        assert!(!source_uid.is_empty());
        for s in results {
            assert_eq!(self.study_uid_of_series(s), source_uid, "{s}");
        }
    }
}

fn modalities(results: &[Value]) -> Vec<String> {
    let mut m: Vec<String> = results
        .iter()
        .map(|s| {
            s["MainDicomTags"]["Modality"]
                .as_str()
                .unwrap_or("?")
                .to_string()
        })
        .collect();
    m.sort();
    m
}

fn dcm_count(dir: &Path) -> usize {
    if !dir.exists() {
        return 0;
    }
    common::files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "dcm"))
        .count()
}

fn instance_count(results: &[Value]) -> usize {
    results
        .iter()
        .map(|s| s["Instances"].as_array().map_or(0, Vec::len))
        .sum()
}

/// Orthanc sends a series to `foramen serve`, which measures it and C-STOREs the SR,
/// SEG and SC back into the same study in Orthanc.
#[test]
fn orthanc_routes_to_serve_and_gets_results_back() {
    if !have_tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let serve_port = free_port();
    let orthanc = Orthanc::start(
        tmp.path(),
        json!({ "foramen": ["FORAMEN", "127.0.0.1", serve_port] }),
        None,
    );
    let serve_out = tmp.path().join("serve");
    let stable_after = 1;
    let serve = Proc(
        Command::new(env!("CARGO_BIN_EXE_foramen"))
            .args([
                "serve",
                "--port",
                &serve_port.to_string(),
                "--aet",
                "FORAMEN",
            ])
            .args(["--stable-after", &stable_after.to_string()])
            .arg("--out")
            .arg(&serve_out)
            .arg("--send-to")
            .arg(format!("ORTHANC@127.0.0.1:{}", orthanc.dicom))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start foramen serve"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", serve_port)).is_err() {
        assert!(Instant::now() < deadline, "foramen serve did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }

    orthanc.storescu(&fixture_series());
    let (source, study) = orthanc.source_series();
    let started = Instant::now();
    orthanc.post(
        "/modalities/foramen/store",
        &json!({ "Resources": [source], "Synchronous": true }),
    );
    // Synchronous: the last instance has reached foramen when the call returns.
    let sent = Instant::now();
    assert_eq!(dcm_count(&serve_out.join("incoming")), 13);

    let (_, sr_at) = orthanc.wait_for_results(&study, &source, &["SR"], Duration::from_secs(60));
    let after_stable = sr_at.duration_since(sent).as_secs_f64() - stable_after as f64;
    eprintln!(
        "Orthanc → foramen serve → Orthanc: C-STORE of 13 instances {:.2} s; SR in Orthanc \
         {:.2} s after the series was stable (--stable-after {stable_after})",
        sent.duration_since(started).as_secs_f64(),
        after_stable
    );
    assert!(
        after_stable < 30.0,
        "SR took {after_stable:.1} s after stable"
    );

    // Everything foramen wrote to dicom/ arrives (SR, SEG, SC).
    let deadline = Instant::now() + Duration::from_secs(30);
    let done = loop {
        let done: Vec<PathBuf> = common::files_under(&serve_out.join("results"))
            .into_iter()
            .filter(|p| p.file_name().is_some_and(|n| n == "done.json"))
            .collect();
        if !done.is_empty() {
            assert_eq!(done.len(), 1, "{done:?}");
            break done;
        }
        assert!(
            Instant::now() < deadline,
            "foramen serve wrote no done.json"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let expected = dcm_count(&done[0].parent().unwrap().join("dicom"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let all = loop {
        let (all, _) = orthanc.wait_for_results(&study, &source, &["SR"], Duration::ZERO);
        if instance_count(&all) == expected {
            break all;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {expected} result instances in Orthanc",
            instance_count(&all)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let mods = modalities(&all);
    eprintln!("result series in Orthanc: {mods:?} ({expected} instances)");
    for m in ["SR", "SEG", "OT"] {
        assert!(mods.iter().any(|x| x == m), "no {m} series: {mods:?}");
    }
    orthanc.check_same_study(&all, &source);
    drop(serve);
}

/// Orthanc's Lua `OnStableSeries` starts a detached script that exports the series,
/// runs `foramen measure` on it and posts the DICOM results back to Orthanc.
#[test]
fn orthanc_lua_hook_measures_and_posts_back() {
    if !have_tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let hook_out = tmp.path().join("hook-out");
    std::fs::create_dir_all(&hook_out).unwrap();
    let hook = tmp.path().join("orthanc-foramen.sh");
    let lua = tmp.path().join("onstable.lua");
    // The REST port is chosen when Orthanc starts; the script gets it from the
    // environment Orthanc passes on.
    let script = format!(
        r#"#!/bin/sh
# $1: an Orthanc series id (checked by the Lua caller).
set -u
id=$1
out='{out}'
url="http://127.0.0.1:$FORAMEN_TEST_ORTHANC_HTTP"
work="$out/work-$id"
mkdir -p "$work"
curl -sf -o "$work/series.zip" "$url/series/$id/archive" || exit 1
unzip -q "$work/series.zip" -d "$work/series" || exit 1
'{bin}' measure "$work/series" --out "$out/$id" --dicom-out "$out/$id/dicom" \
  --json-stdout -q > "$out/$id.part" 2> "$out/$id.err"
# Published only when complete, so the test never reads half a line.
mv "$out/$id.part" "$out/$id.json"
find "$out/$id/dicom" -name '*.dcm' | while read -r f; do
  curl -sf -X POST --data-binary "@$f" "$url/instances" > /dev/null
done
"#,
        out = hook_out.display(),
        bin = env!("CARGO_BIN_EXE_foramen"),
    );
    std::fs::write(&hook, script).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // Only MR/CT series are measured: the SR/SEG/OT results posted back also become
    // stable and must not start the hook again. Detached ('&') or Orthanc deadlocks.
    let lua_text = format!(
        r#"function OnStableSeries(seriesId, tags, metadata)
   if string.match(seriesId, '^[%w%-]+$') == nil then return end
   local m = tags['Modality']
   if m ~= 'MR' and m ~= 'CT' then return end
   os.execute({hook:?} .. ' ' .. seriesId .. ' >/dev/null 2>&1 &')
end
"#,
        hook = hook.display().to_string(),
    );
    std::fs::write(&lua, lua_text).unwrap();

    let orthanc = Orthanc::start(tmp.path(), json!({}), Some(&lua));
    let started = Instant::now();
    orthanc.storescu(&fixture_series());
    let stored = Instant::now();
    let (source, study) = orthanc.source_series();

    let json_path = hook_out.join(format!("{source}.json"));
    let deadline = Instant::now() + Duration::from_secs(90);
    while !json_path.exists() {
        assert!(
            Instant::now() < deadline,
            "hook produced no {}; hook stderr: {}; Orthanc log:\n{}",
            json_path.display(),
            std::fs::read_to_string(hook_out.join(format!("{source}.err"))).unwrap_or_default(),
            orthanc.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = std::fs::read_to_string(&json_path).unwrap();
    let line: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!("hook output is not one JSON line ({e}): {text}");
    });
    assert_eq!(line["status"], "measured", "{line}");
    common::assert_report_valid(&hook_out.join(&source).join("report.json"));

    let (results, sr_at) = orthanc.wait_for_results(
        &study,
        &source,
        &["SR", "SEG", "OT"],
        Duration::from_secs(60),
    );
    eprintln!(
        "Orthanc Lua hook: storescu {:.2} s; SR back in Orthanc {:.2} s after the last \
         instance was stored (StableAge 1)",
        stored.duration_since(started).as_secs_f64(),
        sr_at.duration_since(stored).as_secs_f64()
    );
    orthanc.check_same_study(&results, &source);
    // Posting the results back must not have run the hook on them (they become stable
    // StableAge after they arrive).
    std::thread::sleep(Duration::from_secs(3));
    let runs = std::fs::read_dir(&hook_out)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".json")
        })
        .count();
    assert_eq!(runs, 1, "the hook ran once, for the MR series only");
}
