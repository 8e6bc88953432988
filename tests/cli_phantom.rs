//! `foramen phantom`: valid DICOM (checked by dciodvfy and dcmdump), geometry read back
//! as intended, truth.json per the contract, errors for bad options.

mod common;

use common::{foramen, foramen_json};

#[test]
fn phantom_series_are_valid_dicom_with_the_intended_geometry() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("case");
    let run = foramen(&[
        "phantom",
        "--out",
        out.to_str().unwrap(),
        "--seed",
        "5",
        "--rows",
        "200",
        "--columns",
        "240",
        "--pixel-spacing",
        "0.9",
        "--slices",
        "11",
        "--slice-thickness",
        "4",
        "--slice-gap",
        "0.5",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("truth.json")).unwrap()).unwrap();
    assert_eq!(truth["schema"], "foramen.truth/1");
    let levels = truth["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 10);
    for l in levels {
        assert!(["left", "right"].contains(&l["side"].as_str().unwrap()));
        assert!(
            l.get("min_area_mm2").is_some()
                && l.get("height_mm").is_some()
                && l.get("slice_areas_mm2").is_some()
        );
    }
    // Read back: the scan must see exactly the acquisition that was asked for.
    let (_, scan) = foramen_json(&["scan", "--json", out.to_str().unwrap()]);
    let s = &scan["series"][0];
    assert_eq!(s["plane"], "sagittal");
    assert_eq!(s["weighting"], "t1");
    assert_eq!(s["num_slices"], 11);
    assert_eq!(
        (s["rows"].as_u64(), s["columns"].as_u64()),
        (Some(200), Some(240))
    );
    assert_eq!(s["pixel_spacing_mm"], serde_json::json!([0.9, 0.9]));
    assert_eq!(s["slice_thickness_mm"], 4.0);
    assert!((s["spacing_between_slices_mm"].as_f64().unwrap() - 4.5).abs() < 1e-3);
    assert_eq!(s["usable"], true);

    if !common::require_tool("dciodvfy", "dicom3tools") || !common::require_tool("dcmdump", "dcmtk")
    {
        return;
    }
    for p in common::files_under(&out.join("series")) {
        let o = std::process::Command::new("dciodvfy")
            .arg(&p)
            .output()
            .unwrap();
        let text =
            String::from_utf8_lossy(&o.stderr).to_string() + &String::from_utf8_lossy(&o.stdout);
        assert!(
            !text.lines().any(|l| l.starts_with("Error")),
            "dciodvfy on {}:\n{text}",
            p.display()
        );
        assert!(
            std::process::Command::new("dcmdump")
                .arg(&p)
                .output()
                .unwrap()
                .status
                .success()
        );
    }
}

#[test]
fn ct_phantom_is_in_hounsfield_units_and_axial_ct_is_usable() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ct");
    let run = foramen(&[
        "phantom",
        "--out",
        out.to_str().unwrap(),
        "--modality",
        "ct",
        "--plane",
        "axial",
        "--seed",
        "2",
        "--rows",
        "160",
        "--columns",
        "160",
        "--pixel-spacing",
        "1.0",
        "--slices",
        "60",
        "--slice-thickness",
        "3",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let (_, scan) = foramen_json(&["scan", "--json", out.to_str().unwrap()]);
    let s = &scan["series"][0];
    assert_eq!(s["modality"], "CT");
    assert_eq!(s["plane"], "axial");
    assert_eq!(s["usable"], true, "{}", s["reason"]);
    // The files hold exactly the generator's HU volume (RescaleIntercept -1024 applied).
    let opts = foramen::phantom::PhantomOptions {
        modality: foramen::volume::Modality::CT,
        plane: foramen::phantom::PhantomPlane::Axial,
        seed: 2,
        rows: Some(160),
        columns: Some(160),
        pixel_spacing_mm: Some(1.0),
        num_slices: Some(60),
        slice_thickness_mm: Some(3.0),
        ..Default::default()
    };
    let expected = foramen::phantom::generate(&opts).unwrap().volume;
    let series = foramen::series::group_series(
        foramen::dicom::discover(&[out.join("series")], &|| {}).instances,
    )
    .remove(0);
    let plan = foramen::dicom::assemble::plan_stack(&series.instances).unwrap();
    let read = foramen::dicom::assemble(&plan, foramen::volume::Modality::CT).unwrap();
    assert_eq!(read.voxels, expected.voxels);
    let (lo, hi) = read
        .voxels
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    assert!(lo < -50.0 && hi > 300.0, "HU range {lo}..{hi}");
}

#[test]
fn invalid_phantom_options_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    let run = foramen(&["phantom", "--out", out.to_str().unwrap(), "--rows", "0"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("rows"));
    let run = foramen(&[
        "phantom",
        "--out",
        out.to_str().unwrap(),
        "--lumbar-count",
        "9",
    ]);
    assert_eq!(run.status.code(), Some(2));
}

#[test]
fn phantom_variants_flag_records_each_foramens_variant() {
    let dir = tempfile::tempdir().unwrap();
    let truth_of = |name: &str, extra: &[&str]| -> serde_json::Value {
        let out = dir.path().join(name);
        let mut args = vec![
            "phantom",
            "--out",
            out.to_str().unwrap(),
            "--seed",
            "9",
            "--rows",
            "96",
            "--columns",
            "96",
            "--pixel-spacing",
            "3",
            "--slices",
            "11",
        ];
        args.extend_from_slice(extra);
        let run = foramen(&args);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        serde_json::from_slice(&std::fs::read(out.join("truth.json")).unwrap()).unwrap()
    };
    let plain = truth_of("plain", &[]);
    let with = truth_of("variants", &["--variants"]);
    assert!(plain["options"].get("variants").is_none());
    assert_eq!(with["options"]["variants"], true);
    let levels = with["levels"].as_array().unwrap();
    assert!(levels.iter().all(|l| l["variant"].is_object()));
    assert!(plain["levels"][0].get("variant").is_none());
    // Same spine: the discs do not move.
    assert_eq!(plain["discs"], with["discs"]);
}
