//! `foramen scan` driven as a user would: the real binary on a folder.

mod common;

use common::{foramen, foramen_json, sagittal_geometry, test_volume};
use foramen::dicom::write::{FileNaming, SeriesWriteSpec, write_series};
use foramen::volume::Modality;
use sha2::{Digest, Sha256};

/// A study folder as found in the wild: two series, odd names, junk alongside.
fn study_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut t1 = SeriesWriteSpec::synthetic("cli-study", "SAG T1 TSE");
    t1.study_instance_uid = "2.25.42".into();
    t1.naming = FileNaming::Bare;
    t1.shuffle_instance_numbers = Some(3);
    let sag = test_volume(Modality::MR, sagittal_geometry(), (11, 32, 24));
    write_series(&sag, &t1, &d.join("export/SE0001")).unwrap();
    let mut ax = SeriesWriteSpec::synthetic("cli-study-ax", "AX T2");
    ax.study_instance_uid = "2.25.42".into();
    ax.series_number = 2;
    let axial = common::axial_geometry();
    write_series(
        &test_volume(Modality::MR, axial, (6, 16, 16)),
        &ax,
        &d.join("export/SE0002"),
    )
    .unwrap();
    std::fs::write(d.join("export/empty.dcm"), b"").unwrap();
    std::fs::write(d.join("export/notes.DCM"), b"report text, not DICOM").unwrap();
    dir
}

fn tree_digest(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    common::files_under(dir)
        .into_iter()
        .map(|p| {
            let h = Sha256::digest(std::fs::read(&p).unwrap()).to_vec();
            (p, h)
        })
        .collect()
}

#[test]
fn scan_json_describes_each_series_and_skipped_file() {
    let dir = study_folder();
    let before = tree_digest(dir.path());
    let (out, json) = foramen_json(&["scan", "--json", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let series = json["series"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    let sag = series
        .iter()
        .find(|s| s["series_description"] == "SAG T1 TSE")
        .unwrap();
    for key in [
        "series_instance_uid",
        "plane",
        "modality",
        "weighting",
        "num_slices",
        "rows",
        "columns",
        "pixel_spacing_mm",
        "slice_thickness_mm",
        "usable",
        "reason",
    ] {
        assert!(sag.get(key).is_some(), "missing {key}");
    }
    assert_eq!(sag["plane"], "sagittal");
    assert_eq!(sag["modality"], "MR");
    assert_eq!(sag["weighting"], "t1");
    assert_eq!(sag["num_slices"], 11);
    assert_eq!(
        (sag["rows"].as_u64(), sag["columns"].as_u64()),
        (Some(32), Some(24))
    );
    assert_eq!(sag["pixel_spacing_mm"], serde_json::json!([0.75, 0.8]));
    assert_eq!(sag["slice_thickness_mm"], 4.0);
    assert_eq!(sag["usable"], true, "{}", sag["reason"]);
    let ax = series
        .iter()
        .find(|s| s["series_description"] == "AX T2")
        .unwrap();
    assert_eq!(ax["plane"], "axial");
    assert_eq!(ax["weighting"], "t2");
    assert_eq!(ax["usable"], false);
    assert_eq!(
        ax["reason"],
        "axial MR: foramina are measured on sagittal series"
    );
    assert_eq!(json["files_seen"], 11 + 6 + 2);
    let kinds: Vec<&str> = json["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reason"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["empty", "not_dicom"]);
    assert!(
        json["disclaimer"]
            .as_str()
            .unwrap()
            .contains("clinical correlation")
    );
    assert_eq!(
        tree_digest(dir.path()),
        before,
        "the input tree must not change"
    );
}

#[test]
fn scan_output_does_not_depend_on_thread_count() {
    let dir = study_folder();
    let p = dir.path().to_str().unwrap();
    let one = foramen(&["--jobs", "1", "scan", "--json", p]);
    let two = foramen(&["--jobs", "2", "scan", "--json", p]);
    assert!(one.status.success());
    assert_eq!(one.stdout, two.stdout);
}

#[test]
fn table_output_and_exit_codes() {
    let dir = study_folder();
    let out = foramen(&["scan", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SAG T1 TSE"), "{text}");
    assert!(
        text.contains("no: axial MR: foramina are measured on sagittal series"),
        "{text}"
    );
    assert!(text.contains("skipped, empty file: 1"), "{text}");
    assert!(text.contains("clinical correlation"));

    // Nothing readable: exit 1 with a message on stderr.
    let junk = tempfile::tempdir().unwrap();
    std::fs::write(junk.path().join("a.dcm"), b"nope").unwrap();
    let out = foramen(&["scan", junk.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no readable DICOM"));
    // Usage errors: exit 2.
    assert_eq!(foramen(&["scan"]).status.code(), Some(2));
    assert_eq!(foramen(&["scan", "--bogus", "x"]).status.code(), Some(2));
    let out = foramen(&["scan", "/definitely/not/here"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}
