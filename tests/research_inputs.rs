//! NIfTI and MetaImage inputs end to end through the binary: the real SCT lumbar T2
//! fixture, mixed and broken inputs, `--dicom-out` refused, and the dcm2niix round trip
//! (phantom DICOM series converted by dcm2niix measure like the DICOM they came from).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use foramen::phantom::output::{WriteOptions, write_case};
use foramen::phantom::{PhantomOptions, PhantomPlane, generate};
use foramen::volume::Modality;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn report(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("report.json")).expect("report.json"))
        .expect("report parses")
}

#[test]
fn the_real_sct_lumbar_t2_is_measured_without_a_sacrum_to_anchor_on() {
    let out = tempfile::tempdir().unwrap();
    let input = root().join("fixtures/real/t2_lumbar.nii.gz");
    let run = common::foramen(&[
        "measure",
        &input.to_string_lossy(),
        "--out",
        &out.path().to_string_lossy(),
    ]);
    assert!(
        run.status.code() == Some(0) || run.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let r = report(out.path());
    let s = &r["series"][0];
    assert_eq!(s["status"], "measured", "{s}");
    assert_eq!(s["modality"], "MR");
    // TE 120 ms T2 TSE; the file name says t2.
    assert_eq!(s["weighting"], "t2");
    assert!(
        s["source_file"]
            .as_str()
            .unwrap()
            .ends_with("t2_lumbar.nii.gz")
    );
    assert!(
        s["study_instance_uid"]
            .as_str()
            .unwrap()
            .starts_with("2.25.")
    );
    // The scan covers about T9/T10 to L3 (read on the image, see fixtures/real/README.md):
    // no sacrum, so no label may be given with confidence, and the report must say why.
    let discs = s["discs"].as_array().unwrap();
    assert!(!discs.is_empty(), "no disc found at all");
    for d in discs {
        assert!(
            d["confidence"].as_f64().unwrap() < 0.5,
            "confident label without a sacrum in view: {d}"
        );
    }
    let warnings: Vec<&str> = s["labeling_warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w.as_str())
        .collect();
    assert!(
        warnings.iter().any(|w| w.contains("sacrum")),
        "no warning about the sacrum: {warnings:?}"
    );
    // Nothing from a DICOM header is invented.
    assert!(s["patient_key"].is_null() && s["patient_id"].is_null());
}

#[test]
fn volume_files_mix_with_dicom_and_a_broken_one_does_not_stop_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    // A gzip stream cut in the middle, and a NIfTI header whose data is missing.
    let real = std::fs::read(root().join("fixtures/real/t2_lumbar.nii.gz")).unwrap();
    std::fs::write(input.join("cut.nii.gz"), &real[..real.len() / 3]).unwrap();
    std::fs::write(input.join("short.nii"), vec![0u8; 100]).unwrap();
    let out = tmp.path().join("out");
    let run = common::foramen(&[
        "measure",
        &root().join("fixtures/phantom/mr-t1").to_string_lossy(),
        &input.to_string_lossy(),
        "--out",
        &out.to_string_lossy(),
        "--no-qc",
    ]);
    assert!(
        run.status.code() == Some(1) || run.status.code() == Some(0),
        "{:?} {}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    let r = report(&out);
    let series = r["series"].as_array().unwrap();
    let by_file = |name: &str| {
        series
            .iter()
            .find(|s| s["source_file"].as_str().is_some_and(|f| f.ends_with(name)))
            .unwrap_or_else(|| panic!("{name} not in the report"))
    };
    for name in ["cut.nii.gz", "short.nii"] {
        let s = by_file(name);
        assert_eq!(s["status"], "failed", "{s}");
        let reason = s["reason"].as_str().unwrap();
        assert!(reason.starts_with("could not read the file"), "{reason}");
    }
    // The DICOM study was measured all the same.
    assert!(
        series
            .iter()
            .any(|s| s["source_file"].is_null() && s["status"] == "measured")
    );
    // Research files are read, not listed as skipped non-DICOM files.
    let skipped = r["skipped_files"].as_array().unwrap();
    assert!(
        !skipped
            .iter()
            .any(|f| f["path"].as_str().unwrap().contains(".nii")),
        "{skipped:?}"
    );
}

#[test]
fn dicom_outputs_are_refused_for_volume_files() {
    let tmp = tempfile::tempdir().unwrap();
    let run = common::foramen(&[
        "measure",
        &root()
            .join("fixtures/real/t2_lumbar.nii.gz")
            .to_string_lossy(),
        "--out",
        &tmp.path().join("out").to_string_lossy(),
        "--dicom-out",
        &tmp.path().join("dicom").to_string_lossy(),
    ]);
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("--dicom-out") && err.contains("t2_lumbar.nii.gz"),
        "{err}"
    );
    assert!(!tmp.path().join("out/report.json").exists());
}

/// A phantom case written as DICOM, optionally with the whole patient rotated about the
/// head-feet axis (an oblique acquisition).
fn write_phantom(opts: &PhantomOptions, oblique_deg: f64, dir: &Path) {
    let mut case = generate(opts).unwrap();
    if oblique_deg != 0.0 {
        let (s, c) = oblique_deg.to_radians().sin_cos();
        let rot = |v: [f64; 3]| [c * v[0] - s * v[1], s * v[0] + c * v[1], v[2]];
        let g = &mut case.volume.geometry;
        *g = foramen::volume::Geometry::new(
            rot(g.origin_mm),
            rot(g.row_dir),
            rot(g.col_dir),
            g.spacing_mm,
            g.slice_thickness_mm,
        )
        .unwrap();
    }
    write_case(&case, opts, &WriteOptions::default(), dir).unwrap();
}

fn measured(dir: &Path, input: &Path) -> serde_json::Value {
    let run = common::foramen(&[
        "-q",
        "measure",
        &input.to_string_lossy(),
        "--out",
        &dir.to_string_lossy(),
        "--no-qc",
    ]);
    assert!(
        run.status.code() == Some(0) || run.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let r = report(dir);
    r["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "measured")
        .cloned()
        .unwrap_or_else(|| panic!("nothing measured in {}: {r}", input.display()))
}

#[test]
fn dcm2niix_conversions_measure_like_their_dicom() {
    if !common::require_tool("dcm2niix", "dcm2niix") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mr_t1 = PhantomOptions::default();
    let cases: Vec<(&str, PhantomOptions, f64)> = vec![
        ("mr-t1-sagittal", mr_t1.clone(), 0.0),
        (
            "mr-t2-sagittal",
            PhantomOptions {
                weighting: foramen::phantom::Weighting::T2,
                seed: 2,
                ..mr_t1.clone()
            },
            0.0,
        ),
        (
            "mr-t1-oblique",
            PhantomOptions {
                seed: 3,
                ..mr_t1.clone()
            },
            12.0,
        ),
        (
            "ct-sagittal",
            PhantomOptions {
                modality: Modality::CT,
                seed: 4,
                ..mr_t1.clone()
            },
            0.0,
        ),
        (
            "ct-oblique",
            PhantomOptions {
                modality: Modality::CT,
                seed: 5,
                ..mr_t1.clone()
            },
            -10.0,
        ),
        (
            "ct-axial",
            PhantomOptions {
                modality: Modality::CT,
                plane: PhantomPlane::Axial,
                seed: 6,
                ..mr_t1.clone()
            },
            0.0,
        ),
    ];
    let mut compared_areas = 0;
    for (name, opts, oblique) in &cases {
        let dicom = tmp.path().join(name).join("dicom");
        write_phantom(opts, *oblique, &dicom);
        let nii = tmp.path().join(name).join("nii");
        std::fs::create_dir_all(&nii).unwrap();
        let conv = Command::new("dcm2niix")
            .args(["-z", "y", "-b", "y", "-f", "case", "-o"])
            .arg(&nii)
            .arg(&dicom)
            .output()
            .expect("run dcm2niix");
        assert!(
            conv.status.success(),
            "dcm2niix on {name}: {}",
            String::from_utf8_lossy(&conv.stdout)
        );
        let file = nii.join("case.nii.gz");
        assert!(file.exists(), "{name}: dcm2niix wrote no case.nii.gz");
        let a = measured(&tmp.path().join(name).join("out-dicom"), &dicom);
        let b = measured(&tmp.path().join(name).join("out-nii"), &file);
        assert_eq!(a["modality"], b["modality"], "{name}");
        let (da, db) = (
            a["discs"].as_array().unwrap(),
            b["discs"].as_array().unwrap(),
        );
        assert_eq!(da.len(), db.len(), "{name}: discs {da:?} vs {db:?}");
        for (x, y) in da.iter().zip(db) {
            assert_eq!(x["level"], y["level"], "{name}");
            let d: f64 = (0..3)
                .map(|k| {
                    (x["center_mm"][k].as_f64().unwrap() - y["center_mm"][k].as_f64().unwrap())
                        .powi(2)
                })
                .sum::<f64>()
                .sqrt();
            assert!(
                d <= 0.5,
                "{name} {}: disc centres {d:.2} mm apart",
                x["level"]
            );
        }
        for (x, y) in a["levels"]
            .as_array()
            .unwrap()
            .iter()
            .zip(b["levels"].as_array().unwrap())
        {
            assert_eq!((&x["level"], &x["side"]), (&y["level"], &y["side"]));
            match (x["min_area_mm2"].as_f64(), y["min_area_mm2"].as_f64()) {
                (Some(p), Some(q)) => {
                    assert!(
                        (p - q).abs() <= 0.02 * p.max(q),
                        "{name} {} {}: area {p} vs {q}",
                        x["level"],
                        x["side"]
                    );
                    compared_areas += 1;
                }
                (None, None) => {}
                (p, q) => panic!(
                    "{name} {} {}: measured on one input only ({p:?} vs {q:?})",
                    x["level"], x["side"]
                ),
            }
        }
    }
    assert!(compared_areas >= 30, "only {compared_areas} areas compared");
}

#[test]
fn scan_lists_volume_files_with_their_geometry() {
    let run = common::foramen(&[
        "scan",
        &root().join("fixtures/real").to_string_lossy(),
        "--json",
    ]);
    assert_eq!(run.status.code(), Some(0));
    let j: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let v = &j["volume_files"][0];
    assert!(v["path"].as_str().unwrap().ends_with("t2_lumbar.nii.gz"));
    assert_eq!(v["usable"], true);
    assert_eq!(v["modality"], "MR");
    // 38 sagittal planes of 257 x 201 voxels at 1 mm (the file's header, see
    // fixtures/real/README.md); the planes become slices.
    assert_eq!(v["shape"][0], 38);
    assert_eq!(v["spacing_mm"], serde_json::json!([1.0, 1.0, 1.0]));
}
