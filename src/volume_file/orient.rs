//! From a voxel grid with an affine (i fastest on disk) to the project's
//! `[slice, row, column]` [`Volume`] with exact LPS geometry.
//!
//! Layout choice: the analysis measures sagittal stacks natively (no interpolation
//! across slices) and reformats anything else (`spine::canonical`), and the series
//! rules accept MR only when sagittal. NIfTI files are often reoriented (e.g. to RAS,
//! as the SCT lumbar fixture is: its 38 sagittal planes are voxel axis i), and
//! `dim_info` is unreliable (that fixture says slice_dim = k). So the slice axis is
//! the acquisition's slice direction when one voxel axis is clearly thicker than the
//! others (a 2-D acquisition: analysed as its DICOM series would be), else the voxel
//! axis nearest patient left-right; of the other two, rows follow the
//! one nearest head-feet (flipped to run toward the feet) and columns the remaining
//! one (flipped to run posterior), like a standard DICOM sagittal series (IOP
//! 0\1\0\0\0\-1). Slices are then ordered to ascend along `row_dir × col_dir`, as
//! [`Geometry`] requires. Only axis permutations and flips are applied: every voxel
//! keeps its exact position, whatever the obliquity.

use std::path::Path;

use ndarray::{Array3, Axis};

use super::{Decoded, VolumeFileError, check_finite};
use crate::volume::geometry::{add, cross, dot, norm, normalize, scale};
use crate::volume::{Geometry, Modality, Plane, Volume};

/// Largest |cos| between two voxel axes accepted (as [`Geometry::new`]): ~0.57°.
const MAX_AXIS_COS: f64 = 0.01;
/// A voxel axis this much coarser than the next is taken as a 2-D acquisition's
/// slice direction.
const THICK_AXIS_RATIO: f64 = 1.25;

/// A volume laid out for the analysis, with what was done to get there.
#[derive(Debug, Clone)]
pub struct Oriented {
    pub volume: Volume,
    pub acquisition_plane: Option<Plane>,
    pub notes: Vec<String>,
    /// Which voxel axis (0 = i, 1 = j, 2 = k) became slice, row and column.
    pub axes: [usize; 3],
    /// Whether each of those was reversed.
    pub flipped: [bool; 3],
}

fn invalid(path: &Path, reason: impl Into<String>) -> VolumeFileError {
    VolumeFileError::InvalidGeometry {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reorders a decoded grid into a [`Volume`] (see the module docs for the layout).
pub fn to_volume(
    path: &Path,
    mut d: Decoded,
    modality: Modality,
) -> Result<Oriented, VolumeFileError> {
    let mut notes = Vec::new();
    let [nx, ny, nz] = d.dims;
    if d.values.len() != nx * ny * nz {
        return Err(VolumeFileError::BadDimensions {
            path: path.to_path_buf(),
            reason: format!("{} values for {nx} x {ny} x {nz} voxels", d.values.len()),
        });
    }
    check_finite(path, &mut d.values, &mut notes)?;
    let names = ["i", "j", "k"];
    let mut spacing = [0.0; 3];
    let mut dirs = [[0.0; 3]; 3];
    for a in 0..3 {
        let v = d.axes_lps[a];
        spacing[a] = norm(v);
        dirs[a] = normalize(v)
            .filter(|_| v.iter().all(|x| x.is_finite()) && spacing[a] < 1000.0)
            .ok_or_else(|| {
                invalid(
                    path,
                    format!(
                        "voxel axis {} has step {v:?} mm (zero, not finite or over 1 m)",
                        names[a]
                    ),
                )
            })?;
    }
    if !d.origin_lps.iter().all(|x| x.is_finite()) {
        return Err(invalid(path, "origin is not finite"));
    }
    let mut worst: f64 = 0.0;
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        worst = worst.max(dot(dirs[a], dirs[b]).abs());
    }
    if worst > MAX_AXIS_COS {
        return Err(invalid(
            path,
            format!(
                "voxel axes are not perpendicular (sheared or degenerate affine; axes {:.2}° off square)",
                worst.clamp(-1.0, 1.0).asin().to_degrees()
            ),
        ));
    }
    if worst > 1e-4 {
        notes.push(format!(
            "voxel axes {:.3}° off square: treated as perpendicular",
            worst.asin().to_degrees()
        ));
    }

    // Slice axis: a 2-D acquisition's slice direction (the clearly thickest axis), so
    // the analysis sees the acquired slices as it would from the DICOM series (an
    // axial CT is resliced the same way); otherwise the axis nearest left-right (ties
    // go to the later axis: k is the usual slice axis of converters).
    let thick = thick_axis(spacing);
    let slice = thick.unwrap_or_else(|| {
        (0..3)
            .max_by(|&a, &b| dirs[a][0].abs().total_cmp(&dirs[b][0].abs()))
            .unwrap_or(2)
    });
    let others: Vec<usize> = (0..3).filter(|&a| a != slice).collect();
    // Rows run toward the feet when an in-plane axis is near head-feet (sagittal,
    // coronal), else posterior (axial); columns take the other axis.
    let along = |a: usize| {
        if dirs[others[0]][2].abs().max(dirs[others[1]][2].abs()) >= 0.5 {
            dirs[a][2].abs()
        } else {
            dirs[a][1].abs()
        }
    };
    let (row, col) = if along(others[1]) > along(others[0]) {
        (others[1], others[0])
    } else {
        (others[0], others[1])
    };
    let (flip_row, flip_col) = if dirs[row][2].abs() >= 0.5 {
        (dirs[row][2] > 0.0, dirs[col][1] < 0.0)
    } else {
        // Axial: rows posterior, columns toward the patient's left (as DICOM axials).
        (dirs[row][1] < 0.0, dirs[col][0] < 0.0)
    };
    let row_step = if flip_row {
        scale(dirs[row], -1.0)
    } else {
        dirs[row]
    };
    let col_step = if flip_col {
        scale(dirs[col], -1.0)
    } else {
        dirs[col]
    };
    // Geometry: row_dir = direction of increasing column index, col_dir = of rows.
    let normal = cross(col_step, row_step);
    let flip_slice = dot(dirs[slice], normal) < 0.0;

    let axes = [slice, row, col];
    let flipped = [flip_slice, flip_row, flip_col];
    let mut origin = d.origin_lps;
    for (&a, &f) in axes.iter().zip(&flipped) {
        if f {
            origin = add(origin, scale(d.axes_lps[a], (d.dims[a] - 1) as f64));
        }
    }
    let geometry = Geometry::new(
        origin,
        col_step,
        row_step,
        [spacing[slice], spacing[row], spacing[col]],
        spacing[slice],
    )
    .ok_or_else(|| invalid(path, "degenerate directions or spacing"))?;

    // On disk i is fastest: an ndarray of shape (nz, ny, nx) holds voxel axis a at
    // ndarray axis 2 - a.
    let grid = Array3::from_shape_vec((nz, ny, nx), std::mem::take(&mut d.values))
        .map_err(|e| invalid(path, e.to_string()))?;
    let mut voxels = grid.permuted_axes([2 - slice, 2 - row, 2 - col]);
    for (n, &f) in flipped.iter().enumerate() {
        if f {
            voxels.invert_axis(Axis(n));
        }
    }
    let voxels = if voxels.is_standard_layout() {
        voxels
    } else {
        voxels.as_standard_layout().into_owned()
    };

    let acquisition_plane = thick.map(|a| Plane::from_normal(dirs[a]));
    let plane = geometry.plane();
    if let Some(p) = acquisition_plane
        && p != plane
    {
        notes.push(format!(
            "the thickest voxel axis ({:.2} mm) is {p}: probably a {p} acquisition, presented as {plane} slices",
            spacing.iter().copied().fold(0.0, f64::max)
        ));
    }
    notes.push("slice thickness not recorded in the file: taken as the slice spacing".into());
    Ok(Oriented {
        volume: Volume {
            voxels,
            geometry,
            modality,
        },
        acquisition_plane,
        notes,
        axes,
        flipped,
    })
}

/// The voxel axis clearly coarser than both others, if any.
fn thick_axis(spacing: [f64; 3]) -> Option<usize> {
    let a = (0..3).max_by(|&a, &b| spacing[a].total_cmp(&spacing[b]))?;
    (0..3)
        .filter(|&b| b != a)
        .all(|b| spacing[a] >= THICK_AXIS_RATIO * spacing[b])
        .then_some(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::Vec3;

    fn decoded(dims: [usize; 3], origin: Vec3, axes: [Vec3; 3]) -> Decoded {
        let n = dims[0] * dims[1] * dims[2];
        Decoded {
            values: (0..n).map(|v| v as f32).collect(),
            dims,
            origin_lps: origin,
            axes_lps: axes,
            notes: vec![],
        }
    }

    /// Every voxel of the volume holds its file index, so its position can be checked
    /// against the affine directly.
    fn check_every_voxel(d: &Decoded, o: &Oriented) {
        let [nx, ny, _] = d.dims;
        let g = &o.volume.geometry;
        for ((s, r, c), v) in o.volume.voxels.indexed_iter() {
            let idx = *v as usize;
            let (i, j, k) = (idx % nx, (idx / nx) % ny, idx / (nx * ny));
            let mut want = d.origin_lps;
            for (a, n) in [i, j, k].into_iter().enumerate() {
                want = add(want, scale(d.axes_lps[a], n as f64));
            }
            let got = g.index_to_lps([s as f64, r as f64, c as f64]);
            for x in 0..3 {
                assert!((got[x] - want[x]).abs() < 1e-6, "{got:?} vs {want:?}");
            }
        }
    }

    #[test]
    fn ras_sagittal_grid_becomes_standard_sagittal_stack() {
        // RAS-stored (i → x in LPS is -x): 5 planes of 3 mm, j anterior, k superior.
        let d = decoded(
            [5, 6, 7],
            [10.0, 20.0, 30.0],
            [[-3.0, 0.0, 0.0], [0.0, -0.5, 0.0], [0.0, 0.0, 0.7]],
        );
        let o = to_volume(Path::new("x"), d.clone(), Modality::MR).unwrap();
        assert_eq!(o.volume.shape(), (5, 7, 6));
        assert_eq!(o.axes, [0, 2, 1]);
        let g = &o.volume.geometry;
        assert_eq!(g.row_dir, [0.0, 1.0, 0.0]);
        assert_eq!(g.col_dir, [0.0, 0.0, -1.0]);
        assert_eq!(g.normal, [-1.0, 0.0, 0.0]);
        assert_eq!(g.spacing_mm, [3.0, 0.7, 0.5]);
        assert_eq!(g.plane(), Plane::Sagittal);
        assert_eq!(o.acquisition_plane, Some(Plane::Sagittal));
        check_every_voxel(&d, &o);
    }

    #[test]
    fn axial_grid_keeps_exact_positions_and_names_its_acquisition_plane() {
        let d = decoded(
            [6, 5, 4],
            [-5.0, 7.0, -100.0],
            [[0.8, 0.0, 0.0], [0.0, 0.8, 0.0], [0.0, 0.0, 3.0]],
        );
        let o = to_volume(Path::new("x"), d.clone(), Modality::CT).unwrap();
        assert_eq!(o.acquisition_plane, Some(Plane::Axial));
        // The acquired axial slices stay slices (as the DICOM series would give them),
        // rows run posterior and columns to the patient's left.
        let g = &o.volume.geometry;
        assert_eq!(g.plane(), Plane::Axial);
        assert_eq!(g.spacing_mm, [3.0, 0.8, 0.8]);
        assert_eq!(g.row_dir, [1.0, 0.0, 0.0]);
        assert_eq!(g.col_dir, [0.0, 1.0, 0.0]);
        check_every_voxel(&d, &o);
    }

    #[test]
    fn oblique_rotation_maps_every_voxel() {
        // 20° about z, then 10° about x.
        let (a, b) = (20f64.to_radians(), 10f64.to_radians());
        let rz = |v: Vec3| {
            [
                v[0] * a.cos() - v[1] * a.sin(),
                v[0] * a.sin() + v[1] * a.cos(),
                v[2],
            ]
        };
        let rx = |v: Vec3| {
            [
                v[0],
                v[1] * b.cos() - v[2] * b.sin(),
                v[1] * b.sin() + v[2] * b.cos(),
            ]
        };
        let ax = |v: Vec3, s: f64| scale(rx(rz(v)), s);
        let d = decoded(
            [4, 5, 6],
            [1.0, 2.0, 3.0],
            [
                ax([0.0, 1.0, 0.0], 0.6),
                ax([0.0, 0.0, 1.0], 0.9),
                ax([1.0, 0.0, 0.0], 2.5),
            ],
        );
        let o = to_volume(Path::new("x"), d.clone(), Modality::MR).unwrap();
        assert_eq!(o.axes[0], 2, "k runs nearest left-right");
        check_every_voxel(&d, &o);
    }

    #[test]
    fn sheared_and_degenerate_axes_are_refused() {
        let d = decoded(
            [2, 2, 2],
            [0.0; 3],
            [[1.0, 0.0, 0.0], [0.2, 1.0, 0.0], [0.0, 0.0, 1.0]],
        );
        assert!(matches!(
            to_volume(Path::new("x"), d, Modality::MR),
            Err(VolumeFileError::InvalidGeometry { .. })
        ));
        let d = decoded(
            [2, 2, 2],
            [0.0; 3],
            [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]],
        );
        assert!(matches!(
            to_volume(Path::new("x"), d, Modality::MR),
            Err(VolumeFileError::InvalidGeometry { .. })
        ));
    }

    #[test]
    fn thick_axis_needs_a_clear_margin() {
        assert_eq!(thick_axis([1.0, 1.0, 1.0]), None);
        assert_eq!(thick_axis([1.0, 1.1, 1.0]), None);
        assert_eq!(thick_axis([0.5, 4.0, 0.5]), Some(1));
    }
}
