//! Outputs stay what they were: `measure` on the checked-in fixtures and on a generated
//! phantom suite, with every output kind on (JSON, CSV, HTML, QC PNGs, masks, DICOM SR,
//! SEG and key images), is compared file by file with the digests in
//! `tests/golden/outputs.tsv`, recorded from the code before a refactoring.
//!
//! What legitimately changes from run to run is normalised first: start time, wall and
//! processing times, thread count, the commit, the output folder's and the checkout's
//! paths; in DICOM files
//! dates and times are blanked and every UID is replaced by the order of its first
//! appearance (our generated UIDs are fresh each run, the references between them are
//! not). Everything else is compared exactly.
//!
//! After a deliberate change of output, re-record with
//! `FORAMEN_BLESS_GOLDEN=1 cargo test --release --test golden` and say in the commit
//! message which outputs changed and why.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::{Tag, VR};
use sha2::{Digest, Sha256};

const MANIFEST: &str = "tests/golden/outputs.tsv";
const SUITE_CASES: &str = "10";

fn run(args: &[&str]) {
    // Another build may be measured, e.g. to record the digests from the code before a
    // change: FORAMEN_GOLDEN_BIN=/path/to/old/foramen FORAMEN_BLESS_GOLDEN=1.
    let out = match std::env::var_os("FORAMEN_GOLDEN_BIN") {
        Some(bin) => std::process::Command::new(bin)
            .args(args)
            .output()
            .expect("run FORAMEN_GOLDEN_BIN"),
        None => common::foramen(args),
    };
    assert!(
        out.status.success() || out.status.code() == Some(1),
        "foramen {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// report.json without what changes between identical runs.
fn normalise_report(bytes: &[u8], out: &str) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(bytes).expect("report.json parses");
    let prov = v["provenance"].as_object_mut().expect("provenance");
    for k in ["started_utc", "wall_ms", "threads", "git_commit", "run_id"] {
        prov.remove(k);
    }
    for s in v["series"].as_array_mut().expect("series") {
        s.as_object_mut()
            .expect("series entry")
            .remove("processing_ms");
    }
    serde_json::to_string_pretty(&v)
        .expect("serialises")
        .replace(out, "OUT")
        .replace(env!("CARGO_MANIFEST_DIR"), "ROOT")
        .into_bytes()
}

/// report.html with the start time, commit and output folder replaced.
fn normalise_html(bytes: &[u8], report: &serde_json::Value, out: &str) -> Vec<u8> {
    let mut text = String::from_utf8(bytes.to_vec()).expect("HTML is UTF-8");
    if let Some(t) = report["provenance"]["started_utc"].as_str() {
        text = text.replace(t, "STARTED");
    }
    if let Some(c) = report["provenance"]["git_commit"].as_str() {
        let short = c.get(..12).unwrap_or(c);
        let modified = format!("{short}-modified");
        text = text.replace(&modified, "COMMIT").replace(short, "COMMIT");
    }
    if let Some(id) = report["provenance"]["run_id"].as_str() {
        text = text.replace(id, "RUN_ID");
    }
    text.replace(out, "OUT")
        .replace(env!("CARGO_MANIFEST_DIR"), "ROOT")
        .into_bytes()
}

/// A canonical dump of a DICOM file: every element in order, nested sequences too,
/// with dates and times blanked and UIDs numbered by first appearance.
fn normalise_dicom(path: &Path) -> Vec<u8> {
    let obj = dicom_object::open_file(path).unwrap_or_else(|e| panic!("{}: {}", path.display(), e));
    let mut uids: HashMap<String, usize> = HashMap::new();
    let mut out = String::new();
    let meta = obj.meta();
    out.push_str(&format!(
        "meta {} {}\n",
        meta.transfer_syntax(),
        meta.media_storage_sop_class_uid()
    ));
    dump(obj.iter(), 0, &mut uids, &mut out);
    out.into_bytes()
}

fn dump<'a, I>(elements: I, depth: usize, uids: &mut HashMap<String, usize>, out: &mut String)
where
    I: Iterator<Item = &'a dicom_object::mem::InMemElement>,
{
    for e in elements {
        let tag: Tag = e.header().tag;
        let vr = e.header().vr;
        out.push_str(&format!("{:indent$}{tag} {vr:?} ", "", indent = depth * 2));
        match e.value() {
            Value::Sequence(seq) => {
                out.push_str(&format!("seq {}\n", seq.items().len()));
                for item in seq.items() {
                    out.push_str(&format!("{:indent$}item\n", "", indent = depth * 2 + 1));
                    dump(item.iter(), depth + 1, uids, out);
                }
            }
            Value::PixelSequence(px) => {
                let mut h = Sha256::new();
                for f in px.fragments() {
                    h.update(f);
                }
                out.push_str(&format!("fragments {}\n", hex(&h.finalize())));
            }
            Value::Primitive(p) => {
                let text = match (vr, p) {
                    (VR::DA | VR::TM | VR::DT, _) => "DATE-TIME".to_string(),
                    (VR::UI, p) => {
                        let s = p.to_str();
                        let s = s.trim_end_matches('\0').trim();
                        if s.starts_with("1.2.840.10008.") {
                            s.to_string()
                        } else {
                            let n = uids.len();
                            format!("UID#{}", uids.entry(s.to_string()).or_insert(n))
                        }
                    }
                    (_, PrimitiveValue::U8(b)) => format!("bytes {}", hex(&Sha256::digest(b))),
                    (_, PrimitiveValue::U16(w)) => {
                        let b: Vec<u8> = w.iter().flat_map(|x| x.to_le_bytes()).collect();
                        format!("words {}", hex(&Sha256::digest(&b)))
                    }
                    (_, p) => p.to_str().to_string(),
                };
                out.push_str(&text);
                out.push('\n');
            }
        }
    }
}

/// Normalised digest of every output file under `out`, keyed by `prefix/relative path`.
fn digests(out: &Path, prefix: &str, into: &mut BTreeMap<String, String>) {
    let out_str = out.to_string_lossy().into_owned();
    let report_bytes = std::fs::read(out.join("report.json")).expect("report.json written");
    let report: serde_json::Value = serde_json::from_slice(&report_bytes).expect("parses");
    for path in common::files_under(out) {
        let rel = path
            .strip_prefix(out)
            .expect("under out")
            .to_string_lossy()
            .into_owned();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        // The journal repeats report.json's series in completion order; the lock is empty.
        if name == "studies.jsonl" || name.starts_with('.') {
            continue;
        }
        let bytes = std::fs::read(&path).expect("readable");
        let normalised = match path.extension().and_then(|e| e.to_str()) {
            Some("json") if name == "report.json" => normalise_report(&bytes, &out_str),
            Some("html") => normalise_html(&bytes, &report, &out_str),
            Some("dcm") => normalise_dicom(&path),
            _ => bytes,
        };
        into.insert(format!("{prefix}/{rel}"), hex(&Sha256::digest(&normalised)));
    }
}

fn measure(inputs: &[PathBuf], out: &Path) {
    let o = out.to_string_lossy();
    let dicom = out.join("dicom");
    let inputs: Vec<String> = inputs
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["-q", "measure"];
    args.extend(inputs.iter().map(String::as_str));
    run(&[
        &args[..],
        &[
            "--out",
            &o,
            "--masks",
            "--dicom-out",
            &dicom.to_string_lossy(),
            "--id-salt-file",
            &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/golden/salt")
                .to_string_lossy(),
        ],
    ]
    .concat());
}

#[test]
fn outputs_match_the_recorded_digests() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().expect("temp dir");
    let suite = tmp.path().join("suite");
    run(&[
        "-q",
        "phantom",
        "--suite",
        SUITE_CASES,
        "--out",
        &suite.to_string_lossy(),
    ]);
    let mut got = BTreeMap::new();
    // The DICOM fixtures (the real NIfTI fixture has tests of its own).
    measure(
        &[
            root.join("fixtures/phantom/mr-t1"),
            root.join("fixtures/phantom/ct"),
        ],
        &tmp.path().join("fx"),
    );
    digests(&tmp.path().join("fx"), "fixtures", &mut got);
    measure(&[suite], &tmp.path().join("su"));
    digests(&tmp.path().join("su"), "suite", &mut got);
    assert!(got.len() > 50, "too few outputs: {}", got.len());

    let manifest = root.join(MANIFEST);
    if std::env::var_os("FORAMEN_BLESS_GOLDEN").is_some() {
        let text: String = got.iter().map(|(k, v)| format!("{k}\t{v}\n")).collect();
        std::fs::write(&manifest, text).expect("manifest written");
        return;
    }
    let text = std::fs::read_to_string(&manifest).expect("tests/golden/outputs.tsv");
    let want: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut diffs = Vec::new();
    for (k, v) in &want {
        match got.get(k) {
            None => diffs.push(format!("missing: {k}")),
            Some(g) if g != v => diffs.push(format!("changed: {k}")),
            _ => {}
        }
    }
    for k in got.keys().filter(|k| !want.contains_key(*k)) {
        diffs.push(format!("new: {k}"));
    }
    assert!(
        diffs.is_empty(),
        "{} of {} outputs differ from the recorded ones:\n{}",
        diffs.len(),
        want.len(),
        diffs.join("\n")
    );
}
