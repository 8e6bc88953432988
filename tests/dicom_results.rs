//! `foramen measure --dicom-out` on the phantom fixtures: every object passes
//! dciodvfy, the SR passes pixelmed's DicomSRValidator and reads back in dcmtk's
//! dsrdump with the report's values, the SEG frames match the mask areas, the UIDs
//! file under the source study with new series, and a re-run gives the same UIDs.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{foramen, require_tool};
use dicom_dictionary_std::tags;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/phantom")
}

struct Run {
    _dir: tempfile::TempDir,
    report: Value,
    files: Vec<PathBuf>,
}

fn run_once(out: &Path) -> (Value, Vec<PathBuf>) {
    let dicom = out.join("dicom");
    let run = foramen(&[
        "measure",
        fixtures().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--dicom-out",
        dicom.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "measure failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    (report, common::files_under(&dicom))
}

/// One measure run shared by the tests (the binary is slow in debug builds).
fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (report, files) = run_once(dir.path());
        Run {
            _dir: dir,
            report,
            files,
        }
    })
}

fn measured_series(report: &Value) -> Vec<&Value> {
    report["series"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !s["levels"].as_array().unwrap().is_empty())
        .filter(|s| {
            s["levels"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["min_area_mm2"].is_number())
        })
        .collect()
}

fn kind(path: &Path) -> &'static str {
    let name = path.file_name().unwrap().to_str().unwrap();
    if name.ends_with("_sr.dcm") {
        "sr"
    } else if name.ends_with("_seg.dcm") {
        "seg"
    } else if name.contains("_sc_") {
        "sc"
    } else {
        "other"
    }
}

fn open(path: &Path) -> dicom_object::DefaultDicomObject {
    dicom_object::open_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn text(obj: &dicom_object::DefaultDicomObject, tag: dicom_core::Tag) -> String {
    obj.element(tag)
        .unwrap()
        .to_str()
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn every_measured_series_gets_sr_seg_and_key_images() {
    let r = run();
    let series = measured_series(&r.report);
    assert!(!series.is_empty());
    for s in series {
        let files: Vec<&str> = s["dicom_files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        let kinds: BTreeSet<&str> = files.iter().map(|f| kind(Path::new(f))).collect();
        assert_eq!(
            kinds,
            BTreeSet::from(["sc", "seg", "sr"]),
            "{files:?} {:?}",
            s["labeling_warnings"]
        );
        for f in files {
            assert!(Path::new(f).is_file(), "{f}");
        }
    }
}

#[test]
fn dciodvfy_finds_no_errors() {
    if !require_tool("dciodvfy", "dicom3tools") {
        return;
    }
    let r = run();
    assert!(!r.files.is_empty());
    for f in &r.files {
        let out = Command::new("dciodvfy").arg(f).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("Error")).collect();
        assert!(
            errors.is_empty() && out.status.code() == Some(0),
            "{}:\n{text}",
            f.display()
        );
    }
}

#[test]
fn sr_passes_pixelmed_template_validation() {
    if !require_tool("DicomSRValidator", "pixelmed-apps") {
        return;
    }
    for f in run().files.iter().filter(|f| kind(f) == "sr") {
        let out = Command::new("DicomSRValidator")
            .arg(f)
            .env(
                "JAVA_TOOL_OPTIONS",
                "-Djdk.xml.xpathExprOpLimit=0 -Djdk.xml.xpathExprGrpLimit=0 \
                 -Djdk.xml.xpathTotalOpLimit=0",
            )
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("Found Root Template TID_1500"),
            "{}:\n{text}",
            f.display()
        );
        let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("Error")).collect();
        assert!(errors.is_empty(), "{}:\n{text}", f.display());
    }
}

/// Numbers on the dsrdump lines that name `concept`, in order.
fn values_of(dump: &str, concept: &str) -> Vec<f64> {
    dump.lines()
        .filter(|l| l.contains(&format!("(NUM:(,,\"{concept}\")")) || l.contains(concept))
        .filter(|l| l.contains("NUM:"))
        .filter_map(|l| {
            let after = l.split("=\"").nth(1)?;
            after.split('"').next()?.parse().ok()
        })
        .collect()
}

#[test]
fn dsrdump_reads_the_measurement_groups_and_values() {
    if !require_tool("dsrdump", "dcmtk") {
        return;
    }
    let r = run();
    for s in measured_series(&r.report) {
        let sr = s["dicom_files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| PathBuf::from(f.as_str().unwrap()))
            .find(|f| kind(f) == "sr")
            .expect("an SR");
        let out = Command::new("dsrdump").arg(&sr).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dump = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(dump.contains("Imaging Measurement Report"), "{dump}");
        assert!(dump.contains("requires clinical correlation"), "{dump}");
        let mut expected_areas = Vec::new();
        for l in s["levels"].as_array().unwrap() {
            let Some(area) = l["min_area_mm2"].as_f64() else {
                continue;
            };
            let label = format!(
                "{} {}",
                l["level"].as_str().unwrap(),
                l["side"].as_str().unwrap()
            );
            assert!(
                dump.contains(&format!("\"{label}\"")),
                "{label} missing:\n{dump}"
            );
            expected_areas.push(area);
        }
        let areas = values_of(&dump, "Area");
        assert_eq!(areas.len(), expected_areas.len(), "{dump}");
        for (a, e) in areas.iter().zip(&expected_areas) {
            assert!((a - e).abs() < 0.051, "SR area {a} vs report {e}");
        }
    }
}

#[test]
fn outputs_file_under_the_source_study_with_new_series() {
    let r = run();
    for s in measured_series(&r.report) {
        let study = s["study_instance_uid"].as_str().unwrap();
        let source_series = s["series_instance_uid"].as_str().unwrap();
        let mut series_by_kind: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for f in s["dicom_files"].as_array().unwrap() {
            let f = PathBuf::from(f.as_str().unwrap());
            let obj = open(&f);
            assert_eq!(text(&obj, tags::STUDY_INSTANCE_UID), study);
            let series = text(&obj, tags::SERIES_INSTANCE_UID);
            assert_ne!(series, source_series);
            assert!(text(&obj, tags::SERIES_DESCRIPTION).contains("requires clinical correlation"));
            series_by_kind.entry(kind(&f)).or_default().insert(series);
        }
        let all: BTreeSet<&String> = series_by_kind.values().flatten().collect();
        assert_eq!(all.len(), series_by_kind.len(), "one new series per kind");
    }
}

#[test]
fn seg_pixel_counts_match_the_mask_areas() {
    let Some(data) = common::third_party_data() else {
        return;
    };
    let python = data.join("venv/bin/python");
    let r = run();
    for s in measured_series(&r.report) {
        let seg = s["dicom_files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| PathBuf::from(f.as_str().unwrap()))
            .find(|f| kind(f) == "seg")
            .expect("a SEG");
        // Pixels per segment label, decoded by pydicom (an independent reader).
        let script = r#"
import json, sys
import numpy as np
import pydicom
ds = pydicom.dcmread(sys.argv[1])
px = ds.pixel_array.reshape(int(ds.NumberOfFrames), ds.Rows, ds.Columns)
labels = {int(s.SegmentNumber): s.SegmentLabel for s in ds.SegmentSequence}
counts = {}
for i, fg in enumerate(ds.PerFrameFunctionalGroupsSequence):
    n = int(fg.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
    counts[labels[n]] = counts.get(labels[n], 0) + int(px[i].sum())
sp = [float(v) for v in ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing]
print(json.dumps({"counts": counts, "pixel_area": sp[0] * sp[1]}))
"#;
        let out = Command::new(&python)
            .arg("-c")
            .arg(script)
            .arg(&seg)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let pixel_area = v["pixel_area"].as_f64().unwrap();
        let counts = v["counts"].as_object().unwrap();
        let mut checked = 0;
        for l in s["levels"].as_array().unwrap() {
            if l["min_area_mm2"].is_null() {
                continue;
            }
            let label = format!(
                "{} {} foramen",
                l["level"].as_str().unwrap(),
                l["side"].as_str().unwrap()
            );
            let mask_mm2: f64 = l["slice_areas_mm2"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["area_mm2"].as_f64().unwrap())
                .sum();
            let seg_mm2 = counts[&label].as_f64().unwrap() * pixel_area;
            // Nearest-neighbour resampling from the ROI grid to the source grid.
            assert!(
                (seg_mm2 - mask_mm2).abs() <= 0.15 * mask_mm2 + 2.0 * pixel_area,
                "{label}: SEG {seg_mm2:.1} mm2 vs masks {mask_mm2:.1} mm2"
            );
            checked += 1;
        }
        assert!(checked > 0);
    }
}

#[test]
fn a_second_run_gives_the_same_uids() {
    let first = run();
    let dir = tempfile::tempdir().unwrap();
    let (_, files) = run_once(dir.path());
    let uids = |files: &[PathBuf]| -> Vec<(String, String, String)> {
        files
            .iter()
            .map(|f| {
                let o = open(f);
                (
                    f.file_name().unwrap().to_string_lossy().to_string(),
                    text(&o, tags::SOP_INSTANCE_UID),
                    text(&o, tags::SERIES_INSTANCE_UID),
                )
            })
            .collect()
    };
    assert_eq!(uids(&first.files), uids(&files));
}
