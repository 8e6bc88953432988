//! Write a series, read it back from disk, and check the volume and geometry are the
//! ones we wrote, whatever the file names, InstanceNumbers and transfer syntax.

mod common;

use common::{sagittal_geometry, test_volume};
use foramen::dicom::assemble;
use foramen::dicom::assemble::plan_stack;
use foramen::dicom::discover;
use foramen::dicom::write::{FileNaming, OutputTransferSyntax, SeriesWriteSpec, write_series};
use foramen::series::group_series;
use foramen::volume::geometry::{cross, normalize};
use foramen::volume::{Geometry, Modality, Plane};
use rand::{Rng, SeedableRng};

fn round_trip(
    volume: &foramen::volume::Volume,
    spec: &SeriesWriteSpec,
) -> (foramen::series::Series, foramen::volume::Volume) {
    let dir = tempfile::tempdir().unwrap();
    write_series(volume, spec, dir.path()).unwrap();
    let found = discover(&[dir.path().to_path_buf()], &|| {});
    assert!(found.skipped.is_empty(), "{:?}", found.skipped);
    let mut series = group_series(found.instances);
    assert_eq!(series.len(), 1);
    let s = series.remove(0);
    let plan = plan_stack(&s.instances).unwrap();
    let back = assemble(&plan, s.modality_kind().unwrap()).unwrap();
    (s, back)
}

fn assert_geometry_close(a: &Geometry, b: &Geometry) {
    let close = |x: &[f64], y: &[f64], tol: f64| x.iter().zip(y).all(|(p, q)| (p - q).abs() < tol);
    assert!(
        close(&a.origin_mm, &b.origin_mm, 1e-4),
        "{:?} vs {:?}",
        a.origin_mm,
        b.origin_mm
    );
    assert!(
        close(&a.row_dir, &b.row_dir, 1e-5) && close(&a.col_dir, &b.col_dir, 1e-5),
        "{a:?} vs {b:?}"
    );
    assert!(
        close(&a.spacing_mm, &b.spacing_mm, 1e-4),
        "{:?} vs {:?}",
        a.spacing_mm,
        b.spacing_mm
    );
}

#[test]
fn every_output_transfer_syntax_round_trips_exactly() {
    let g = sagittal_geometry();
    for ts in [
        OutputTransferSyntax::ExplicitLittle,
        OutputTransferSyntax::ImplicitLittle,
        OutputTransferSyntax::ExplicitBig,
        OutputTransferSyntax::Deflated,
        OutputTransferSyntax::Rle,
    ] {
        for modality in [Modality::MR, Modality::CT] {
            let v = test_volume(modality, g.clone(), (5, 24, 20));
            let mut spec = SeriesWriteSpec::synthetic(&format!("{ts:?}{modality}"), "SAG T1 test");
            spec.transfer_syntax = ts;
            let (s, back) = round_trip(&v, &spec);
            assert_eq!(back.voxels, v.voxels, "{ts:?} {modality}");
            assert_geometry_close(&back.geometry, &g);
            assert_eq!(s.plane, Some(Plane::Sagittal));
            assert_eq!(s.num_slices, 5);
            assert_eq!(s.transfer_syntax_uid, ts.uid());
        }
    }
}

#[test]
fn slice_order_comes_from_positions_not_names_or_instance_numbers() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for case in 0..6 {
        // A random orientation within 25° of sagittal, random origin and spacing.
        let tilt = |rng: &mut rand_chacha::ChaCha8Rng| rng.random_range(-0.4..0.4);
        let row = normalize([tilt(&mut rng), 1.0, tilt(&mut rng)]).unwrap();
        let n = normalize([1.0, tilt(&mut rng) * 0.5, tilt(&mut rng) * 0.5]).unwrap();
        let col = normalize(cross(n, row)).unwrap();
        let row = normalize(cross(col, n)).unwrap();
        let origin = [
            rng.random_range(-50.0..50.0),
            rng.random_range(-200.0..0.0),
            rng.random_range(0.0..300.0),
        ];
        let spacing = [
            rng.random_range(2.5..6.0),
            rng.random_range(0.4..1.0),
            rng.random_range(0.4..1.0),
        ];
        let g = Geometry::new(origin, row, col, spacing, spacing[0] * 0.9).unwrap();
        let v = test_volume(Modality::MR, g.clone(), (7, 16, 18));
        let mut spec = SeriesWriteSpec::synthetic(&format!("order{case}"), "SAG T1");
        spec.naming = FileNaming::SopUid; // random-looking names: listing order is arbitrary
        spec.shuffle_instance_numbers = Some(case);
        let (_, back) = round_trip(&v, &spec);
        assert_eq!(back.voxels, v.voxels, "case {case}");
        assert_geometry_close(&back.geometry, &g);
    }
}

#[test]
fn missing_and_duplicate_slices_are_reported() {
    let g = sagittal_geometry();
    let v = test_volume(Modality::MR, g, (6, 8, 8));
    let dir = tempfile::tempdir().unwrap();
    let paths = write_series(&v, &SeriesWriteSpec::synthetic("gap", "SAG T1"), dir.path()).unwrap();
    // A missing slice in the middle: irregular spacing.
    std::fs::remove_file(&paths[2]).unwrap();
    let s = group_series(discover(&[dir.path().to_path_buf()], &|| {}).instances).remove(0);
    assert!(!s.usable);
    let reason = s.reason.unwrap();
    assert!(reason.contains("irregular slice spacing"), "{reason}");
}

#[test]
fn mixed_sizes_and_orientations_are_inconsistent_geometry() {
    let dir = tempfile::tempdir().unwrap();
    let g = sagittal_geometry();
    let a = test_volume(Modality::MR, g.clone(), (3, 8, 8));
    let spec = SeriesWriteSpec::synthetic("mixed", "SAG T1");
    write_series(&a, &spec, &dir.path().join("a")).unwrap();
    // Same series UID, other slices of another size.
    let mut g2 = g.clone();
    g2.origin_mm[0] += 30.0;
    let b = test_volume(Modality::MR, g2, (3, 10, 8));
    write_series(&b, &spec, &dir.path().join("b")).unwrap();
    let s = group_series(discover(&[dir.path().to_path_buf()], &|| {}).instances).remove(0);
    assert_eq!(s.num_slices, 6);
    assert!(!s.usable);
    assert!(
        s.reason.as_deref().unwrap().contains("mixed image sizes"),
        "{:?}",
        s.reason
    );
}

#[test]
fn axial_mr_and_single_slices_are_not_usable() {
    let axial = common::axial_geometry();
    let (s, _) = round_trip(
        &test_volume(Modality::MR, axial.clone(), (4, 8, 8)),
        &SeriesWriteSpec::synthetic("ax", "AX T2"),
    );
    assert_eq!(s.plane, Some(Plane::Axial));
    assert_eq!(
        s.reason.as_deref(),
        Some("axial MR: foramina are measured on sagittal series")
    );
    let (s, _) = round_trip(
        &test_volume(Modality::CT, axial, (4, 8, 8)),
        &SeriesWriteSpec::synthetic("axct", "AX CT"),
    );
    assert!(s.usable, "axial CT is usable (resliced): {:?}", s.reason);
    let (s, _) = round_trip(
        &test_volume(Modality::MR, sagittal_geometry(), (1, 8, 8)),
        &SeriesWriteSpec::synthetic("one", "SAG T1"),
    );
    assert_eq!(s.reason.as_deref(), Some("single slice"));
}

#[test]
fn written_files_pass_dciodvfy_and_dcmdump() {
    if !common::require_tool("dciodvfy", "dicom3tools") || !common::require_tool("dcmdump", "dcmtk")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (modality, ts) in [
        (Modality::MR, OutputTransferSyntax::ExplicitLittle),
        (Modality::CT, OutputTransferSyntax::ImplicitLittle),
        (Modality::MR, OutputTransferSyntax::Rle),
    ] {
        let v = test_volume(modality, sagittal_geometry(), (2, 16, 12));
        let mut spec =
            SeriesWriteSpec::synthetic(&format!("vfy{modality}{ts:?}"), "SAG T1 validator check");
        spec.transfer_syntax = ts;
        if modality == Modality::MR {
            spec.mr = Some(foramen::dicom::write::MrAcquisition {
                repetition_time_ms: 550.0,
                echo_time_ms: 12.0,
                inversion_time_ms: None,
                flip_angle_deg: 90.0,
                field_strength_t: 1.5,
                echo_train_length: 3,
            });
        }
        let out = dir.path().join(format!("{modality}{ts:?}"));
        for p in write_series(&v, &spec, &out).unwrap() {
            let o = std::process::Command::new("dciodvfy")
                .arg(&p)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&o.stderr).to_string()
                + &String::from_utf8_lossy(&o.stdout);
            let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("Error")).collect();
            assert!(
                errors.is_empty(),
                "dciodvfy on {} ({modality} {ts:?}):\n{text}",
                p.display()
            );
            let o = std::process::Command::new("dcmdump")
                .arg(&p)
                .output()
                .unwrap();
            assert!(o.status.success(), "dcmdump failed on {}", p.display());
        }
    }
}
