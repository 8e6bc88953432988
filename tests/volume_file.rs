//! NIfTI and MetaImage files written by other tools (nibabel, SimpleITK) and a real
//! scan, read with `foramen::volume_file`. Every expected number below was printed by
//! the writing tool itself (nibabel 5.4.2 / SimpleITK 2.5.7), not by this reader.

use std::path::Path;

use foramen::volume::Weighting;
use foramen::volume::{Modality, Plane, Vec3};
use foramen::volume_file::{ResearchVolume, read_volume};

/// The volume voxel at patient position `lps` must sit exactly on a voxel centre and
/// hold `value`.
fn assert_voxel(r: &ResearchVolume, lps: Vec3, value: f32) {
    let g = &r.volume.geometry;
    let idx = g.lps_to_index(lps);
    let rounded = idx.map(|x| x.round());
    for d in 0..3 {
        assert!(
            (idx[d] - rounded[d]).abs() < 1e-3,
            "{lps:?} falls between voxels: {idx:?}"
        );
    }
    let (n, h, w) = r.volume.shape();
    let [s, row, c] = rounded;
    assert!(
        s >= 0.0
            && row >= 0.0
            && c >= 0.0
            && (s as usize) < n
            && (row as usize) < h
            && (c as usize) < w,
        "{lps:?} outside the volume: {idx:?}"
    );
    let got = r.volume.voxels[[s as usize, row as usize, c as usize]];
    assert_eq!(got, value, "value at {lps:?} (volume index {rounded:?})");
}

#[test]
fn nibabel_oblique_nifti_with_scaling() {
    // Written by nibabel: int16 5x4x3, sform = Rz(10°)·Rx(25°)·diag(3.5, 0.6, 0.7) +
    // (12.5, -40.25, 7) (code 2), scl_slope 0.5, scl_inter -3. nibabel's own
    // get_fdata() and sform, RAS → LPS by negating x and y:
    let path = Path::new("tests/data/volume_file/nibabel_oblique.nii.gz");
    let r = read_volume(path, Some(Modality::MR), None).unwrap();
    assert_eq!(
        r.volume.shape().0,
        5,
        "i (3.5 mm, nearest left-right) is the slice axis"
    );
    assert_voxel(&r, [-12.5, 40.25, 7.0], -3.0);
    assert_voxel(
        &r,
        [-26.106768675148487, 36.795032382011414, 9.029543727636337],
        26.5,
    );
    assert_voxel(
        &r,
        [-19.350597947835922, 38.79027786850929, 7.887986391782761],
        11.0,
    );
    let sp = r.volume.geometry.spacing_mm;
    assert!((sp[0] - 3.5).abs() < 1e-5, "{sp:?}");
    assert_eq!(r.acquisition_plane, Some(Plane::Sagittal));
}

#[test]
fn simpleitk_rotated_compressed_mha() {
    // Written by SimpleITK: MET_SHORT 4x3x2, spacing (0.625, 0.75, 4), origin
    // (-30, -110.5, 60.25), directions x → (0, cos12°, -sin12°), y → (0, sin12°, cos12°),
    // z → (1, 0, 0), zlib-compressed. Values and TransformIndexToPhysicalPoint from SimpleITK:
    let path = Path::new("tests/data/volume_file/sitk_rotated.mha");
    let r = read_volume(path, None, None).unwrap();
    assert!(r.modality_guessed);
    assert_eq!(r.volume.modality, Modality::MR);
    assert_eq!(r.volume.geometry.plane(), Plane::Sagittal);
    assert_voxel(&r, [-30.0, -110.5, 60.25], -20.0);
    assert_voxel(&r, [-26.0, -108.35410571239747, 61.32738698081741], 141.0);
    assert_voxel(&r, [-30.0, -109.57679021331472, 61.587276594339606], 43.0);
}

#[test]
fn sct_lumbar_t2_real_scan() {
    // fixtures/real/README.md: SCT tutorial data (MIT). Header read with nibabel 5.4.2:
    // int16 38x257x201, pixdim 1 1 1, sform_code 1 (scanner), srow_x (1, 0, 0, -12.195187),
    // srow_y (0, 1, -2.05e-10, -150.9378), srow_z (0, 2.05e-10, 1, -512.30255), RAS;
    // scl_slope NaN (no scaling), vox_offset 0. Voxel values and LPS positions from
    // nibabel's dataobj and sform (x, y negated):
    let path = Path::new("fixtures/real/t2_lumbar.nii.gz");
    let r = read_volume(path, None, None).unwrap();
    // i (left-right) becomes the slice axis, k (superior) the rows, j (anterior) the columns.
    assert_eq!(r.volume.shape(), (38, 201, 257));
    assert_eq!(r.volume.geometry.plane(), Plane::Sagittal);
    for s in r.volume.geometry.spacing_mm {
        assert!((s - 1.0).abs() < 1e-6);
    }
    assert_voxel(
        &r,
        [12.195186614990234, 150.93780517578125, -512.3025512695312],
        0.0,
    );
    assert_voxel(
        &r,
        [
            -24.804813385009766,
            -105.06219478319807,
            -312.30255121702476,
        ],
        1.0,
    );
    assert_voxel(
        &r,
        [-6.804813385009766, 22.937805196291592, -412.302551243278],
        70.0,
    );
    assert_voxel(
        &r,
        [7.195186614990234, -49.06219481191255, -452.30255122851054],
        68.0,
    );
    // nibabel: the voxel values sum to 72,599,485 and peak at 455.
    let sum: f64 = r.volume.voxels.iter().map(|v| *v as f64).sum();
    assert_eq!(sum, 72_599_485.0);
    assert_eq!(r.volume.voxels.iter().copied().fold(0.0, f32::max), 455.0);
    // MR by its values; T2 by its file name.
    assert_eq!(r.volume.modality, Modality::MR);
    assert!(r.modality_guessed);
    assert_eq!(r.weighting, Some(Weighting::T2));
    assert_eq!(r.acquisition_plane, None, "1 mm isotropic");
}
