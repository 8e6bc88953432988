//! Small image operations on `ndarray` images, in physical units.
//!
//! imageproc's `gaussian_blur_f32` takes one sigma for both axes and works on
//! `ImageBuffer`s; our working images are `Array2<f32>` with known (possibly unequal)
//! pixel spacing, and the Hessian needs exact Gaussian derivatives, so these few
//! separable filters are written here.

use ndarray::{Array2, ArrayView2, Axis};

/// Sampled, normalised Gaussian kernel with radius 3σ (at least one tap each side).
pub fn gaussian_kernel(sigma_px: f64) -> Vec<f32> {
    if sigma_px <= 0.0 {
        return vec![1.0];
    }
    let radius = (3.0 * sigma_px).ceil().max(1.0) as i64;
    let k: Vec<f64> = (-radius..=radius)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma_px * sigma_px)).exp())
        .collect();
    let sum: f64 = k.iter().sum();
    k.iter().map(|v| (v / sum) as f32).collect()
}

/// 1-D convolution along `axis` with edge replication.
pub fn convolve_axis(a: ArrayView2<f32>, kernel: &[f32], axis: Axis) -> Array2<f32> {
    let r = kernel.len() / 2;
    let mut out = Array2::<f32>::zeros(a.raw_dim());
    let n = a.len_of(axis);
    if n == 0 {
        return out;
    }
    if axis == Axis(0) && a.ncols() > 1 {
        // Along columns, lanes are strided in memory: accumulate whole rows instead, so
        // every pass reads and writes contiguous memory.
        for i in 0..n {
            let mut row = out.row_mut(i);
            for (t, w) in kernel.iter().enumerate() {
                let j = (i + t).saturating_sub(r).min(n - 1);
                row.scaled_add(*w, &a.row(j));
            }
        }
        return out;
    }
    // Each lane is copied once into a padded buffer (no bounds clamping per tap).
    let mut padded = vec![0.0f32; n + 2 * r];
    let mut acc = vec![0.0f32; n];
    for (lane_in, mut lane_out) in a.lanes(axis).into_iter().zip(out.lanes_mut(axis)) {
        let first = lane_in[0];
        let last = lane_in[n - 1];
        padded[..r].fill(first);
        for (dst, src) in padded[r..r + n].iter_mut().zip(lane_in.iter()) {
            *dst = *src;
        }
        padded[r + n..].fill(last);
        // Tap by tap over the whole lane: independent outputs vectorise, where a dot
        // product per output is one long chain of dependent adds. Each output still
        // sums its taps in kernel order from -0.0, exactly as `Iterator::sum` did, so
        // results are bit-identical.
        let contiguous = lane_out.as_slice_mut().is_some();
        let sums: &mut [f32] = match lane_out.as_slice_mut() {
            Some(s) => s,
            None => &mut acc,
        };
        sums.fill(-0.0);
        for (t, w) in kernel.iter().enumerate() {
            for (o, x) in sums.iter_mut().zip(&padded[t..t + n]) {
                *o += x * w;
            }
        }
        if !contiguous {
            lane_out.assign(&ndarray::aview1(&acc));
        }
    }
    out
}

/// Gaussian blur with separate sigmas (in pixels) along rows (axis 0) and columns (axis 1).
pub fn gaussian_blur(a: ArrayView2<f32>, sigma_rows_px: f64, sigma_cols_px: f64) -> Array2<f32> {
    let t = convolve_axis(a, &gaussian_kernel(sigma_rows_px), Axis(0));
    convolve_axis(t.view(), &gaussian_kernel(sigma_cols_px), Axis(1))
}

/// Second derivatives `(d²/dr², d²/dc², d²/drdc)` of an image (per pixel², central
/// differences), edges replicated.
pub fn hessian(a: ArrayView2<f32>) -> (Array2<f32>, Array2<f32>, Array2<f32>) {
    let (h, w) = a.dim();
    let at = |i: isize, j: isize| {
        a[[
            i.clamp(0, h as isize - 1) as usize,
            j.clamp(0, w as isize - 1) as usize,
        ]]
    };
    let mut rr = Array2::zeros((h, w));
    let mut cc = Array2::zeros((h, w));
    let mut rc = Array2::zeros((h, w));
    for i in 0..h as isize {
        for j in 0..w as isize {
            let c = at(i, j);
            rr[[i as usize, j as usize]] = at(i + 1, j) - 2.0 * c + at(i - 1, j);
            cc[[i as usize, j as usize]] = at(i, j + 1) - 2.0 * c + at(i, j - 1);
            rc[[i as usize, j as usize]] =
                0.25 * (at(i + 1, j + 1) - at(i + 1, j - 1) - at(i - 1, j + 1) + at(i - 1, j - 1));
        }
    }
    (rr, cc, rc)
}

/// Eigen-decomposition of a symmetric 2×2 matrix `[[a, b], [b, c]]`: returns
/// `(λ1, λ2, e1)` with `|λ1| >= |λ2|` and `e1` the unit eigenvector of `λ1` as (r, c).
pub fn eigen_sym2(a: f32, b: f32, c: f32) -> (f32, f32, [f32; 2]) {
    let tr = a + c;
    let det_term = ((a - c) * (a - c) + 4.0 * b * b).sqrt();
    let l_plus = 0.5 * (tr + det_term);
    let l_minus = 0.5 * (tr - det_term);
    let (l1, l2) = if l_plus.abs() >= l_minus.abs() {
        (l_plus, l_minus)
    } else {
        (l_minus, l_plus)
    };
    // (A - λ1 I) e = 0 → e ∝ (b, λ1 - a); for a diagonal matrix, the matching axis.
    let (er, ec) = if b.abs() > 1e-12 {
        (b, l1 - a)
    } else if (l1 - a).abs() <= (l1 - c).abs() {
        (1.0, 0.0)
    } else {
        (0.0, 1.0)
    };
    let n = (er * er + ec * ec).sqrt().max(1e-20);
    (l1, l2, [er / n, ec / n])
}

/// Percentile (0..=100) of the finite values, by selection; `None` when there are none.
pub fn percentile(values: &[f32], p: f64) -> Option<f32> {
    let mut v: Vec<f32> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let k = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    let k = k.min(v.len() - 1);
    v.select_nth_unstable_by(k, f32::total_cmp);
    Some(v[k])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn kernel_is_normalised_and_symmetric() {
        let k = gaussian_kernel(2.0);
        assert_eq!(k.len(), 13);
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(k[0], k[12]);
    }

    #[test]
    fn blur_preserves_constants_and_spreads_impulses() {
        let c = Array2::from_elem((9, 7), 3.0f32);
        assert!(
            gaussian_blur(c.view(), 1.5, 0.7)
                .iter()
                .all(|v| (v - 3.0).abs() < 1e-5)
        );
        let mut d = Array2::zeros((21, 21));
        d[[10, 10]] = 1.0;
        let b = gaussian_blur(d.view(), 2.0, 2.0);
        assert!((b.sum() - 1.0).abs() < 1e-4);
        // Second moment of a blurred impulse along rows is sigma².
        let var: f32 = b
            .indexed_iter()
            .map(|((i, _), v)| v * ((i as f32 - 10.0).powi(2)))
            .sum();
        assert!((var - 4.0).abs() < 0.05, "{var}");
    }

    #[test]
    fn row_convolution_is_bit_identical_to_a_dot_product_per_pixel() {
        // The former implementation: one in-order dot product per output pixel.
        fn reference(a: ArrayView2<f32>, kernel: &[f32]) -> Array2<f32> {
            let r = kernel.len() as isize / 2;
            let w = a.ncols() as isize;
            Array2::from_shape_fn(a.raw_dim(), |(i, j)| {
                kernel
                    .iter()
                    .enumerate()
                    .map(|(t, k)| {
                        a[[i, (j as isize + t as isize - r).clamp(0, w - 1) as usize]] * k
                    })
                    .sum()
            })
        }
        for (h, w, sigma) in [(5, 1, 0.7), (9, 40, 1.3), (3, 17, 4.0), (6, 64, 0.5)] {
            let a = Array2::from_shape_fn((h, w), |(i, j)| {
                ((i * 131 + j * 71) % 97) as f32 * 0.37 - 11.0
            });
            let k = gaussian_kernel(sigma);
            let got = convolve_axis(a.view(), &k, Axis(1));
            let want = reference(a.view(), &k);
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(g, w)| g.to_bits() == w.to_bits()),
                "{h}x{w} sigma {sigma}"
            );
        }
    }

    #[test]
    fn hessian_of_quadratic() {
        // f = 2 r² + 3 c² + r c  → f_rr = 4, f_cc = 6, f_rc = 1.
        let f = Array2::from_shape_fn((7, 7), |(r, c)| {
            let (r, c) = (r as f32, c as f32);
            2.0 * r * r + 3.0 * c * c + r * c
        });
        let (rr, cc, rc) = hessian(f.view());
        assert!(
            (rr[[3, 3]] - 4.0).abs() < 1e-4
                && (cc[[3, 3]] - 6.0).abs() < 1e-4
                && (rc[[3, 3]] - 1.0).abs() < 1e-4
        );
    }

    #[test]
    fn eigen_of_diagonal_and_rotated_matrices() {
        let (l1, l2, e) = eigen_sym2(5.0, 0.0, -1.0);
        assert_eq!((l1, l2), (5.0, -1.0));
        assert_eq!(e, [1.0, 0.0]);
        let (l1, _, e) = eigen_sym2(-1.0, 0.0, 5.0);
        assert_eq!(l1, 5.0);
        assert_eq!(e, [0.0, 1.0]);
        // [[2,1],[1,2]]: λ = 3 along (1,1)/√2.
        let (l1, l2, e) = eigen_sym2(2.0, 1.0, 2.0);
        assert!((l1 - 3.0).abs() < 1e-6 && (l2 - 1.0).abs() < 1e-6);
        assert!((e[0].abs() - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6 && e[0] * e[1] > 0.0);
        let m = array![[1.0f32, 2.0], [3.0, 4.0]];
        assert_eq!(percentile(m.as_slice().unwrap(), 50.0), Some(3.0));
    }
}
