//! A sagittal working stack in a canonical frame: every image slice resampled onto a
//! square grid whose rows run from head to feet and whose columns run from anterior to
//! posterior, whatever the acquisition's orientation. Axial volumes are resliced
//! (multiplanar reformat) onto sagittal planes the same way.

use ndarray::{Array2, Array3, s};
use rayon::prelude::*;

use crate::imageops::{Blend, bilinear, trilinear};
use crate::volume::geometry::{Vec3, add, cross, dot, normalize, scale, sub};
use crate::volume::{Plane, Volume};

/// Sagittal planes, resampled: `data[[k, r, c]]` is at
/// `centres[k] + r·pixel_mm·down + c·pixel_mm·back`.
#[derive(Debug, Clone)]
pub struct CanonicalStack {
    pub data: Array3<f32>,
    pub pixel_mm: f64,
    /// Unit in-plane direction of increasing row (toward the feet).
    pub down: Vec3,
    /// Unit in-plane direction of increasing column (toward the back).
    pub back: Vec3,
    /// Unit plane normal (toward the patient's left, +x).
    pub normal: Vec3,
    /// Patient position of pixel (0, 0) of each plane.
    pub centres: Vec<Vec3>,
    /// Distance between planes (mm) and each plane's thickness (mm).
    pub plane_spacing_mm: f64,
    pub plane_thickness_mm: f64,
}

impl CanonicalStack {
    pub fn dim(&self) -> (usize, usize, usize) {
        self.data.dim()
    }

    /// Patient position of a (fractional) canonical pixel on plane `k` (may be fractional).
    pub fn to_lps(&self, k: f64, r: f64, c: f64) -> Vec3 {
        let n = self.centres.len();
        let k0 = (k.floor().max(0.0) as usize).min(n.saturating_sub(1));
        let base = add(
            self.centres[k0],
            scale(
                self.normal,
                (k - k0 as f64) * self.plane_spacing_mm * self.normal_sign(),
            ),
        );
        add(
            base,
            add(
                scale(self.down, r * self.pixel_mm),
                scale(self.back, c * self.pixel_mm),
            ),
        )
    }

    /// Sign of the step between consecutive plane centres along `normal`.
    fn normal_sign(&self) -> f64 {
        if self.centres.len() > 1 && dot(sub(self.centres[1], self.centres[0]), self.normal) < 0.0 {
            -1.0
        } else {
            1.0
        }
    }

    /// Averages groups of adjacent planes into slabs at least `target_mm` thick (thin
    /// slices are noisy and many; discs and bodies are tens of millimetres wide).
    pub fn slabs(self, target_mm: f64) -> CanonicalStack {
        let group = ((target_mm / self.plane_spacing_mm).floor() as usize).max(1);
        if group == 1 {
            return self;
        }
        let (n, h, w) = self.dim();
        let m = n.div_ceil(group);
        let mut data = Array3::<f32>::zeros((m, h, w));
        let mut centres = Vec::with_capacity(m);
        for j in 0..m {
            let ks: Vec<usize> = (j * group..((j + 1) * group).min(n)).collect();
            for r in 0..h {
                for c in 0..w {
                    let (mut sum, mut cnt) = (0.0f32, 0u32);
                    for &k in &ks {
                        let v = self.data[[k, r, c]];
                        if v.is_finite() {
                            sum += v;
                            cnt += 1;
                        }
                    }
                    data[[j, r, c]] = if cnt > 0 { sum / cnt as f32 } else { f32::NAN };
                }
            }
            let mut centre = [0.0; 3];
            for &k in &ks {
                centre = add(centre, scale(self.centres[k], 1.0 / ks.len() as f64));
            }
            centres.push(centre);
        }
        CanonicalStack {
            data,
            centres,
            plane_spacing_mm: self.plane_spacing_mm * group as f64,
            plane_thickness_mm: self.plane_spacing_mm * group as f64,
            ..self.clone_header()
        }
    }

    fn clone_header(&self) -> CanonicalStack {
        CanonicalStack {
            data: Array3::zeros((0, 0, 0)),
            pixel_mm: self.pixel_mm,
            down: self.down,
            back: self.back,
            normal: self.normal,
            centres: Vec::new(),
            plane_spacing_mm: self.plane_spacing_mm,
            plane_thickness_mm: self.plane_thickness_mm,
        }
    }

    /// Left-right position (patient x, mm) of plane `k`.
    pub fn plane_x_mm(&self, k: usize) -> f64 {
        self.centres[k][0]
    }
}

/// Stacks equally sized planes into a `[plane, row, column]` array.
fn stack_planes(planes: Vec<Array2<f32>>, h: usize, w: usize) -> Array3<f32> {
    let mut data = Array3::<f32>::zeros((planes.len(), h, w));
    for (k, p) in planes.into_iter().enumerate() {
        data.slice_mut(s![k, .., ..]).assign(&p);
    }
    data
}

/// In-plane unit directions (down, back) of a plane with normal `n`.
fn plane_axes(n: Vec3) -> Option<(Vec3, Vec3)> {
    let down = normalize(sub([0.0, 0.0, -1.0], scale(n, -n[2])))?;
    let back = normalize(cross(n, down))?;
    // cross(n, down) points ±y depending on the sign of n; make it posterior.
    let back = if back[1] < 0.0 {
        scale(back, -1.0)
    } else {
        back
    };
    Some((down, back))
}

/// Resamples a sagittal volume slice by slice (no interpolation across slices, which may
/// be thick) onto the canonical frame at `pixel_mm`, with Gaussian pre-smoothing when
/// the grid is coarser than the native pixels (anti-aliasing).
fn from_sagittal(v: &Volume, pixel_mm: f64) -> Option<CanonicalStack> {
    let g = &v.geometry;
    let (n, rows, cols) = v.shape();
    let normal = if g.normal[0] >= 0.0 {
        g.normal
    } else {
        scale(g.normal, -1.0)
    };
    let (down, back) = plane_axes(g.normal)?;
    // Extent of the native image projected on (down, back).
    let corners = [
        [0.0, 0.0],
        [rows as f64 - 1.0, 0.0],
        [0.0, cols as f64 - 1.0],
        [rows as f64 - 1.0, cols as f64 - 1.0],
    ];
    let o = g.slice_origin_mm(0);
    let proj: Vec<(f64, f64)> = corners
        .iter()
        .map(|[r, c]| {
            let p = g.index_to_lps([0.0, *r, *c]);
            (dot(sub(p, o), down), dot(sub(p, o), back))
        })
        .collect();
    let (dmin, dmax) = proj
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (bmin, bmax) = proj
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let h = ((dmax - dmin) / pixel_mm).floor() as usize + 1;
    let w = ((bmax - bmin) / pixel_mm).floor() as usize + 1;
    if h < 8 || w < 8 || h > 4096 || w > 4096 {
        return None;
    }
    let sigma_r = (0.5 * (pixel_mm / g.spacing_mm[1] - 1.0)).max(0.0);
    let sigma_c = (0.5 * (pixel_mm / g.spacing_mm[2] - 1.0)).max(0.0);
    let planes: Vec<Array2<f32>> = (0..n)
        .into_par_iter()
        .map(|k| {
            let native = v.voxels.slice(s![k, .., ..]);
            let smoothed = if sigma_r > 0.3 || sigma_c > 0.3 {
                crate::imageops::gaussian_blur(native, sigma_r, sigma_c)
            } else {
                native.to_owned()
            };
            let view = smoothed.view();
            let origin_k = g.slice_origin_mm(k);
            Array2::from_shape_fn((h, w), |(r, c)| {
                let p = add(
                    origin_k,
                    add(
                        scale(down, dmin + r as f64 * pixel_mm),
                        scale(back, bmin + c as f64 * pixel_mm),
                    ),
                );
                let idx = g.lps_to_index(p);
                bilinear(view, idx[1], idx[2], Blend::Weighted).unwrap_or(f32::NAN)
            })
        })
        .collect();
    let data = stack_planes(planes, h, w);
    let centres: Vec<Vec3> = (0..n)
        .map(|k| {
            add(
                g.slice_origin_mm(k),
                add(scale(down, dmin), scale(back, bmin)),
            )
        })
        .collect();
    Some(CanonicalStack {
        data,
        pixel_mm,
        down,
        back,
        normal,
        centres,
        plane_spacing_mm: g.spacing_mm[0],
        plane_thickness_mm: g.slice_thickness_mm,
    })
}

/// Reslices an axial (or any non-sagittal) volume onto true sagittal planes spaced
/// `plane_spacing_mm` apart, with trilinear interpolation.
fn reslice(v: &Volume, pixel_mm: f64, plane_spacing_mm: f64) -> Option<CanonicalStack> {
    let g = &v.geometry;
    let (n, rows, cols) = v.shape();
    let normal = [1.0, 0.0, 0.0];
    let (down, back) = ([0.0, 0.0, -1.0], [0.0, 1.0, 0.0]);
    // Bounding box of the volume in patient space.
    let mut lo = [f64::MAX; 3];
    let mut hi = [f64::MIN; 3];
    for k in [0.0, n as f64 - 1.0] {
        for r in [0.0, rows as f64 - 1.0] {
            for c in [0.0, cols as f64 - 1.0] {
                let p = g.index_to_lps([k, r, c]);
                for d in 0..3 {
                    lo[d] = lo[d].min(p[d]);
                    hi[d] = hi[d].max(p[d]);
                }
            }
        }
    }
    let np = ((hi[0] - lo[0]) / plane_spacing_mm).floor() as usize + 1;
    let h = ((hi[2] - lo[2]) / pixel_mm).floor() as usize + 1;
    let w = ((hi[1] - lo[1]) / pixel_mm).floor() as usize + 1;
    if np < 2 || h < 8 || w < 8 || h > 4096 || w > 4096 || np > 2048 {
        return None;
    }
    let vox = &v.voxels;
    let sample = |p: Vec3| -> f32 {
        trilinear(vox.view(), g.lps_to_index(p), Blend::Lerp).unwrap_or(f32::NAN)
    };
    let planes: Vec<Array2<f32>> = (0..np)
        .into_par_iter()
        .map(|k| {
            let x = lo[0] + k as f64 * plane_spacing_mm;
            Array2::from_shape_fn((h, w), |(r, c)| {
                sample([x, lo[1] + c as f64 * pixel_mm, hi[2] - r as f64 * pixel_mm])
            })
        })
        .collect();
    let data = stack_planes(planes, h, w);
    let centres = (0..np)
        .map(|k| [lo[0] + k as f64 * plane_spacing_mm, lo[1], hi[2]])
        .collect();
    Some(CanonicalStack {
        data,
        pixel_mm,
        down,
        back,
        normal,
        centres,
        plane_spacing_mm,
        plane_thickness_mm: plane_spacing_mm,
    })
}

/// The canonical sagittal stack of a volume: native slices for sagittal series, a
/// reformat for others. `None` when the geometry cannot give a usable stack.
pub fn canonical_stack(
    v: &Volume,
    pixel_mm: f64,
    reslice_spacing_mm: f64,
) -> Option<CanonicalStack> {
    match v.geometry.plane() {
        Plane::Sagittal => from_sagittal(v, pixel_mm),
        _ => reslice(v, pixel_mm, reslice_spacing_mm),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::{Geometry, Modality};

    /// A volume whose voxel value is a linear function of patient position.
    fn linear_volume(g: Geometry, shape: (usize, usize, usize)) -> Volume {
        let f = |p: Vec3| (2.0 * p[0] + 3.0 * p[1] - 5.0 * p[2]) as f32;
        let voxels = Array3::from_shape_fn(shape, |(k, r, c)| {
            f(g.index_to_lps([k as f64, r as f64, c as f64]))
        });
        Volume {
            voxels,
            geometry: g,
            modality: Modality::CT,
        }
    }

    fn check_linear(st: &CanonicalStack, tol: f32) {
        let f = |p: Vec3| (2.0 * p[0] + 3.0 * p[1] - 5.0 * p[2]) as f32;
        let (n, h, w) = st.dim();
        let mut checked = 0;
        for k in 0..n {
            // Away from the borders, where anti-alias smoothing replicates edge pixels.
            for r in (4..h.saturating_sub(4)).step_by(7) {
                for c in (4..w.saturating_sub(4)).step_by(5) {
                    let v = st.data[[k, r, c]];
                    if v.is_finite() {
                        let expected = f(st.to_lps(k as f64, r as f64, c as f64));
                        assert!(
                            (v - expected).abs() < tol,
                            "{v} vs {expected} at {k},{r},{c}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 50);
    }

    #[test]
    fn sagittal_resampling_maps_pixels_to_the_right_patient_positions() {
        // Rows run posterior and columns run up: a transposed, flipped acquisition.
        let g = Geometry::new(
            [10.0, -40.0, -30.0],
            [0.0, 0.0, 1.0],
            [0.0, 1.0, 0.0],
            [3.0, 0.5, 0.7],
            3.0,
        )
        .unwrap();
        let st = canonical_stack(&linear_volume(g, (4, 60, 50)), 1.0, 1.0).unwrap();
        assert!((st.down[2] + 1.0).abs() < 1e-9 && (st.back[1] - 1.0).abs() < 1e-9);
        check_linear(&st, 1e-2);
    }

    #[test]
    fn axial_reslice_is_exact_for_linear_fields() {
        let g = Geometry::new(
            [-20.0, -30.0, -10.0],
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [2.0, 0.8, 0.8],
            2.0,
        )
        .unwrap();
        let st = canonical_stack(&linear_volume(g, (12, 40, 50)), 1.0, 2.0).unwrap();
        assert_eq!(st.normal, [1.0, 0.0, 0.0]);
        check_linear(&st, 1e-2);
    }
}
