//! Image planes that can pass through a foramen, and regions of interest resampled on
//! them in a frame aligned with the disc (rows run down the disc axis, columns run
//! posteriorly).

use ndarray::{Array2, Array3, Axis};

use crate::imageops::{Blend, bilinear, trilinear_sum};
use crate::volume::geometry::{Vec3, add, cross, dot, normalize, scale, sub};
use crate::volume::{Plane, Volume};

/// One plane on which foramina are segmented: a native sagittal slice, or for other
/// acquisitions a sagittal reformat plane through a column of voxel centres.
#[derive(Debug, Clone, Copy)]
pub struct SlicePlane {
    /// Slice index (sagittal) or column index (reformat).
    pub index: usize,
    /// `ImagePositionPatient · normal` of the plane, as DICOM viewers show it; for a
    /// reformat the normal of a standard sagittal image (-x).
    pub position_mm: f64,
    pub point: Vec3,
    /// Unit normal, oriented toward the patient's left (+x).
    pub normal: Vec3,
    pub thickness_mm: f64,
    /// In-plane pixel spacing of the source data along the plane (mm).
    pub source_pixel_mm: f64,
}

/// The planes of a volume along its left-right axis.
pub fn slice_planes(v: &Volume) -> Vec<SlicePlane> {
    let g = &v.geometry;
    let (n, _, cols) = v.shape();
    if g.plane() == Plane::Sagittal {
        let sign = if g.normal[0] >= 0.0 { 1.0 } else { -1.0 };
        (0..n)
            .map(|k| SlicePlane {
                index: k,
                position_mm: g.slice_position_mm(k as f64),
                point: g.slice_origin_mm(k),
                normal: scale(g.normal, sign),
                thickness_mm: if g.slice_thickness_mm > 0.0 {
                    g.slice_thickness_mm
                } else {
                    g.spacing_mm[0]
                },
                source_pixel_mm: g.spacing_mm[1].min(g.spacing_mm[2]),
            })
            .collect()
    } else {
        // Reformat: a plane through each column of voxel centres, across the row
        // direction that is most left-right.
        let sign = if g.row_dir[0] >= 0.0 { 1.0 } else { -1.0 };
        let normal = scale(g.row_dir, sign);
        let viewer_normal = cross([0.0, 1.0, 0.0], [0.0, 0.0, -1.0]);
        (0..cols)
            .map(|j| {
                let point = g.index_to_lps([0.0, 0.0, j as f64]);
                SlicePlane {
                    index: j,
                    position_mm: dot(point, viewer_normal),
                    point,
                    normal,
                    thickness_mm: g.spacing_mm[2],
                    source_pixel_mm: g.spacing_mm[1].min(g.spacing_mm[0]),
                }
            })
            .collect()
    }
}

/// A square-pixel grid on a plane: pixel `(i, j)` is at
/// `origin + j·pixel_mm·back − i·pixel_mm·up`.
#[derive(Debug, Clone, Copy)]
pub struct RoiFrame {
    pub origin: Vec3,
    pub up: Vec3,
    pub back: Vec3,
    pub pixel_mm: f64,
    pub rows: usize,
    pub cols: usize,
}

impl RoiFrame {
    /// A frame on `plane` around `centre` (projected onto the plane), with `up` the
    /// projection of `up_hint`, spanning `a` mm posteriorly and `b` mm upward.
    pub fn new(
        plane: &SlicePlane,
        centre: Vec3,
        up_hint: Vec3,
        a: (f64, f64),
        b: (f64, f64),
        pixel_mm: f64,
    ) -> Option<RoiFrame> {
        let n = plane.normal;
        let c = sub(centre, scale(n, dot(sub(centre, plane.point), n)));
        let up = normalize(sub(up_hint, scale(n, dot(up_hint, n))))?;
        let mut back = normalize(cross(n, up))?;
        if back[1] < 0.0 {
            back = scale(back, -1.0);
        }
        let rows = ((b.1 - b.0) / pixel_mm).ceil() as usize + 1;
        let cols = ((a.1 - a.0) / pixel_mm).ceil() as usize + 1;
        let origin = add(c, add(scale(back, a.0), scale(up, b.1)));
        Some(RoiFrame {
            origin,
            up,
            back,
            pixel_mm,
            rows,
            cols,
        })
    }

    pub fn point(&self, i: f64, j: f64) -> Vec3 {
        add(
            self.origin,
            add(
                scale(self.back, j * self.pixel_mm),
                scale(self.up, -i * self.pixel_mm),
            ),
        )
    }

    /// Fractional (row, column) of a patient point's projection on the plane.
    pub fn pixel_of(&self, p: Vec3) -> (f64, f64) {
        let d = sub(p, self.origin);
        (
            -dot(d, self.up) / self.pixel_mm,
            dot(d, self.back) / self.pixel_mm,
        )
    }

    /// Resamples the volume on the grid (trilinear; NaN outside the data). The voxel
    /// index is an affine function of (i, j), so it is stepped rather than recomputed.
    pub fn sample(&self, v: &Volume) -> Array2<f32> {
        let g = &v.geometry;
        let base = g.lps_to_index(self.origin);
        let di = sub(g.lps_to_index(self.point(1.0, 0.0)), base);
        let dj = sub(g.lps_to_index(self.point(0.0, 1.0)), base);
        // On a native sagittal plane the slice index is constant and whole: bilinear.
        let in_plane =
            di[0].abs() < 1e-9 && dj[0].abs() < 1e-9 && (base[0] - base[0].round()).abs() < 1e-6;
        let mut out = Array2::<f32>::from_elem((self.rows, self.cols), f32::NAN);
        for i in 0..self.rows {
            let row = add(base, scale(di, i as f64));
            for j in 0..self.cols {
                let idx = add(row, scale(dj, j as f64));
                out[[i, j]] = if in_plane {
                    bilinear_slice(&v.voxels, base[0].round(), idx[1], idx[2])
                } else {
                    trilinear(&v.voxels, idx)
                };
            }
        }
        out
    }
}

/// The volume at a patient point (trilinear; NaN outside the data).
pub fn sample_at(v: &Volume, p: Vec3) -> f32 {
    trilinear(&v.voxels, v.geometry.lps_to_index(p))
}

/// Bilinear interpolation on whole slice `k` at fractional (row, column); NaN outside.
fn bilinear_slice(a: &Array3<f32>, k: f64, r: f64, c: f64) -> f32 {
    if k < 0.0 || k > (a.len_of(Axis(0)) as f64 - 1.0) {
        return f32::NAN;
    }
    bilinear(a.index_axis(Axis(0), k as usize), r, c, Blend::Weighted).unwrap_or(f32::NAN)
}

/// Trilinear interpolation at a fractional `[slice, row, column]`; NaN outside.
fn trilinear(a: &Array3<f32>, idx: Vec3) -> f32 {
    trilinear_sum(a.view(), idx).unwrap_or(f32::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::{Geometry, Modality};
    use proptest::prelude::*;

    fn sagittal_volume() -> Volume {
        let g = Geometry::new(
            [12.0, -60.0, 80.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, -1.0],
            [4.0, 0.7, 0.7],
            4.0,
        )
        .unwrap();
        let voxels = Array3::from_shape_fn((5, 200, 180), |(k, r, c)| {
            let p = g.index_to_lps([k as f64, r as f64, c as f64]);
            (p[1] * 2.0 - p[2]) as f32
        });
        Volume {
            voxels,
            geometry: g,
            modality: Modality::MR,
        }
    }

    #[test]
    fn sagittal_planes_are_the_slices_with_a_leftward_normal() {
        let v = sagittal_volume();
        let planes = slice_planes(&v);
        assert_eq!(planes.len(), 5);
        // Normal (0,1,0)×(0,0,-1) = (-1,0,0): flipped to +x.
        assert_eq!(planes[0].normal, [1.0, 0.0, 0.0]);
        assert!((planes[1].position_mm - planes[0].position_mm).abs() - 4.0 < 1e-9);
    }

    proptest! {
        /// A linear field is reproduced exactly by trilinear sampling on any in-plane
        /// frame, and `pixel_of` inverts `point`.
        #[test]
        fn roi_samples_linear_fields_and_inverts(
            k in 0usize..5, tilt in -0.5f64..0.5, i in 0.0f64..40.0, j in 0.0f64..40.0,
        ) {
            let v = sagittal_volume();
            let plane = slice_planes(&v)[k];
            let centre = [20.0, 0.0, 20.0];
            let up = [0.0, tilt.sin(), tilt.cos()];
            let roi = RoiFrame::new(&plane, centre, up, (-10.0, 20.0), (-15.0, 15.0), 0.5)
                .unwrap();
            let img = roi.sample(&v);
            let (ii, jj) = (i as usize, j as usize);
            let p = roi.point(ii as f64, jj as f64);
            let expected = (p[1] * 2.0 - p[2]) as f32;
            prop_assert!((img[[ii, jj]] - expected).abs() < 1e-2);
            let (r, c) = roi.pixel_of(roi.point(i, j));
            prop_assert!((r - i).abs() < 1e-9 && (c - j).abs() < 1e-9);
            // On the plane.
            prop_assert!(dot(sub(p, plane.point), plane.normal).abs() < 1e-9);
        }
    }
}
