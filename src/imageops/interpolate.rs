//! Linear interpolation of sampled images: bilinear (2-D) and trilinear (3-D).
//!
//! Sample `i` of an axis stands for the footprint `[i - 0.5, i + 0.5]`; a coordinate
//! outside the footprints of all samples is outside the image ([`in_footprint`]), one
//! inside them but beyond the outermost sample centre takes the edge value (clamped).
//! All interpolators share the same neighbours and fractions ([`Taps`]); they differ
//! only in how the neighbours are blended, because the callers' recorded outputs were
//! made with different (equally valid) rounding: see [`Blend`] and [`trilinear_sum`].

use ndarray::{ArrayView2, ArrayView3};

/// Whether coordinate `x` lies within the footprints `[-0.5, n - 0.5]` of an axis of `n`
/// samples (false for NaN and for an empty axis).
#[inline]
pub fn in_footprint(n: usize, x: f64) -> bool {
    n > 0 && x >= -0.5 && x <= n as f64 - 0.5
}

/// The two samples around coordinate `x` on an axis of `n >= 1` samples and the
/// fraction of the way from the first to the second: `x` is clamped to `[0, n - 1]`,
/// `lo = floor(x)`, `hi = min(lo + 1, n - 1)`, `t = x - lo`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Taps {
    pub lo: usize,
    pub hi: usize,
    pub t: f64,
}

impl Taps {
    #[inline]
    pub fn new(n: usize, x: f64) -> Taps {
        let max = n.saturating_sub(1);
        let x = x.clamp(0.0, max as f64);
        let lo = x.floor() as usize;
        Taps {
            lo,
            hi: (lo + 1).min(max),
            t: x - lo as f64,
        }
    }
}

/// How two neighbouring values `a`, `b` are blended at fraction `t` (in `f32`). The two
/// forms are equal in exact arithmetic but round differently; each caller keeps the form
/// its recorded outputs were made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blend {
    /// `a·(1 - t) + b·t`: the weighted mean; exact at `t = 0` and `t = 1`.
    Weighted,
    /// `a + (b - a)·t`: one multiplication; exact at `t = 0`.
    Lerp,
}

impl Blend {
    #[inline]
    pub fn mix(self, a: f32, b: f32, t: f32) -> f32 {
        match self {
            Blend::Weighted => a * (1.0 - t) + b * t,
            Blend::Lerp => a + (b - a) * t,
        }
    }
}

/// Bilinear from two axes' taps: the rows `lo` and `hi` are blended along the columns,
/// then the two results along the rows.
#[inline]
fn blend2(at: impl Fn(usize, usize) -> f32, r: Taps, c: Taps, blend: Blend) -> f32 {
    let tc = c.t as f32;
    let top = blend.mix(at(r.lo, c.lo), at(r.lo, c.hi), tc);
    let bottom = blend.mix(at(r.hi, c.lo), at(r.hi, c.hi), tc);
    blend.mix(top, bottom, r.t as f32)
}

/// Bilinear interpolation of `img` at fractional `(row, column)`: the values of the
/// four surrounding pixels blended along the columns, then along the rows. `None`
/// outside the image's pixel footprints ([`in_footprint`]); edge values beyond the
/// outermost pixel centres.
#[inline]
pub fn bilinear(img: ArrayView2<f32>, r: f64, c: f64, blend: Blend) -> Option<f32> {
    let (h, w) = img.dim();
    if !(in_footprint(h, r) && in_footprint(w, c)) {
        return None;
    }
    Some(blend2(
        |i, j| img[[i, j]],
        Taps::new(h, r),
        Taps::new(w, c),
        blend,
    ))
}

/// Trilinear interpolation of `vol` at fractional `[slice, row, column]`: bilinear on
/// the two surrounding slices, blended between them. `None` outside the voxel
/// footprints.
#[inline]
pub fn trilinear(vol: ArrayView3<f32>, idx: [f64; 3], blend: Blend) -> Option<f32> {
    let (n, h, w) = vol.dim();
    if !(in_footprint(n, idx[0]) && in_footprint(h, idx[1]) && in_footprint(w, idx[2])) {
        return None;
    }
    let (k, r, c) = (
        Taps::new(n, idx[0]),
        Taps::new(h, idx[1]),
        Taps::new(w, idx[2]),
    );
    let plane = |kk: usize| blend2(|i, j| vol[[kk, i, j]], r, c, blend);
    Some(blend.mix(plane(k.lo), plane(k.hi), k.t as f32))
}

/// Trilinear interpolation as the sum over the eight surrounding voxels of
/// `weight · value`, with the weights (products of `1 - t` and `t` per axis) and the
/// sum in `f64`, and voxels of zero weight left out (so a missing, NaN, voxel beside
/// a sample point on a voxel plane does not make the sample missing). `None` outside
/// the voxel footprints. Kept beside [`trilinear`] because this is the form the
/// foramen's regions of interest and midline were recorded with; the two differ in
/// the last bits and in that NaN behaviour.
#[inline]
pub fn trilinear_sum(vol: ArrayView3<f32>, idx: [f64; 3]) -> Option<f32> {
    let dims = vol.dim();
    let dims = [dims.0, dims.1, dims.2];
    let mut taps = [Taps {
        lo: 0,
        hi: 0,
        t: 0.0,
    }; 3];
    for d in 0..3 {
        if !in_footprint(dims[d], idx[d]) {
            return None;
        }
        taps[d] = Taps::new(dims[d], idx[d]);
    }
    let [tk, tr, tc] = taps;
    let mut sum = 0.0f64;
    for (k, wk) in [(tk.lo, 1.0 - tk.t), (tk.hi, tk.t)] {
        for (r, wr) in [(tr.lo, 1.0 - tr.t), (tr.hi, tr.t)] {
            for (c, wc) in [(tc.lo, 1.0 - tc.t), (tc.hi, tc.t)] {
                let wgt = wk * wr * wc;
                if wgt > 0.0 {
                    sum += wgt * vol[[k, r, c]] as f64;
                }
            }
        }
    }
    Some(sum as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, array};

    #[test]
    fn taps_clamp_to_the_outermost_samples() {
        assert_eq!(
            Taps::new(4, 1.25),
            Taps {
                lo: 1,
                hi: 2,
                t: 0.25
            }
        );
        assert_eq!(
            Taps::new(4, 3.0),
            Taps {
                lo: 3,
                hi: 3,
                t: 0.0
            }
        );
        assert_eq!(
            Taps::new(4, 3.4),
            Taps {
                lo: 3,
                hi: 3,
                t: 0.0
            }
        );
        assert_eq!(
            Taps::new(4, -0.4),
            Taps {
                lo: 0,
                hi: 1,
                t: 0.0
            }
        );
        assert_eq!(
            Taps::new(1, 0.3),
            Taps {
                lo: 0,
                hi: 0,
                t: 0.0
            }
        );
        assert!(in_footprint(4, -0.5) && in_footprint(4, 3.5));
        assert!(!in_footprint(4, -0.51) && !in_footprint(4, 3.51) && !in_footprint(4, f64::NAN));
    }

    #[test]
    fn bilinear_on_a_two_by_two_image() {
        let img = array![[0.0f32, 1.0], [2.0, 3.0]];
        for blend in [Blend::Weighted, Blend::Lerp] {
            let at = |r, c| bilinear(img.view(), r, c, blend);
            // Centre: the mean of the four; along the top row a quarter of the way: 0.25.
            assert_eq!(at(0.5, 0.5), Some(1.5));
            assert_eq!(at(0.0, 0.25), Some(0.25));
            assert_eq!(at(0.75, 0.0), Some(1.5));
            assert_eq!(at(1.0, 1.0), Some(3.0));
            // Inside the footprint beyond the centres: edge value; outside: none.
            assert_eq!(at(-0.5, 1.5), Some(1.0));
            assert_eq!(at(-0.6, 0.0), None);
            assert_eq!(at(0.0, 1.6), None);
        }
    }

    #[test]
    fn blends_round_differently() {
        assert_eq!(Blend::Weighted.mix(2.0, 6.0, 0.25), 3.0);
        assert_eq!(Blend::Lerp.mix(2.0, 6.0, 0.25), 3.0);
        // 0.3·0.3 + 0.9·0.7 = 0.72 exactly; in f32 (each step rounded to the nearest f32)
        // the weighted form gives the f32 nearest 0.72 (0.72000003), the lerp the one
        // below it (0.71999997).
        let (a, b, t) = (0.3f32, 0.9f32, 0.7f32);
        assert_eq!(Blend::Weighted.mix(a, b, t), 0.72);
        assert_eq!(Blend::Lerp.mix(a, b, t), 0.719_999_97);
    }

    #[test]
    fn trilinear_reproduces_a_linear_field() {
        // v = 4k + 2r + c on a 2×2×2 cube: at (0.5, 0.25, 0.75) it is 2 + 0.5 + 0.75.
        let v = Array3::from_shape_fn((2, 2, 2), |(k, r, c)| (4 * k + 2 * r + c) as f32);
        let p = [0.5, 0.25, 0.75];
        assert_eq!(trilinear(v.view(), p, Blend::Lerp), Some(3.25));
        assert_eq!(trilinear(v.view(), p, Blend::Weighted), Some(3.25));
        assert_eq!(trilinear_sum(v.view(), p), Some(3.25));
        assert_eq!(trilinear_sum(v.view(), [1.0, 1.0, 1.0]), Some(7.0));
        assert_eq!(trilinear(v.view(), [1.5, 0.0, 0.0], Blend::Lerp), Some(4.0));
        assert_eq!(trilinear_sum(v.view(), [1.6, 0.0, 0.0]), None);
        assert_eq!(trilinear(v.view(), [0.0, -0.7, 0.0], Blend::Lerp), None);
        // A single slice: no blending across slices.
        let one = Array3::from_shape_fn((1, 2, 2), |(_, r, c)| (2 * r + c) as f32);
        assert_eq!(trilinear_sum(one.view(), [0.2, 0.5, 0.5]), Some(1.5));
    }

    #[test]
    fn only_the_weighted_sum_ignores_a_missing_voxel_of_zero_weight() {
        let mut v = Array3::from_elem((2, 2, 2), 1.0f32);
        v[[1, 1, 1]] = f32::NAN;
        // On the plane k = 0 the voxel at k = 1 has weight 0.
        assert_eq!(trilinear_sum(v.view(), [0.0, 0.5, 0.5]), Some(1.0));
        assert!(trilinear(v.view(), [0.0, 0.5, 0.5], Blend::Weighted).is_some_and(f32::is_nan));
        assert!(trilinear_sum(v.view(), [0.5, 0.5, 0.5]).is_some_and(f32::is_nan));
    }
}
