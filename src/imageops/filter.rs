//! Linear and edge-preserving filters and second derivatives.
//!
//! imageproc's `gaussian_blur_f32` takes one sigma for both axes and works on
//! `ImageBuffer`s; our working images are `Array2<f32>` with known (possibly unequal)
//! pixel spacing, and the Hessian needs exact Gaussian derivatives, so these few
//! separable filters are written here.

use ndarray::{Array2, ArrayView2, Axis};

/// Sampled, normalised Gaussian kernel: taps `exp(-i² / 2σ²)` for `i` in `-R..=R`,
/// `R = ceil(3σ)` (at least 1), divided by their sum; `[1]` for `σ <= 0`.
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

/// 1-D convolution (correlation with a kernel of odd length `2R + 1`, centre at `R`)
/// along `axis`: `out[i] = Σ_t k[t] · a[clamp(i + t - R)]`, edges replicated.
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

/// Gaussian blur: the separable convolution with [`gaussian_kernel`]s of separate
/// sigmas (in pixels) along rows (axis 0), then columns (axis 1); edges replicated.
pub fn gaussian_blur(a: ArrayView2<f32>, sigma_rows_px: f64, sigma_cols_px: f64) -> Array2<f32> {
    let t = convolve_axis(a, &gaussian_kernel(sigma_rows_px), Axis(0));
    convolve_axis(t.view(), &gaussian_kernel(sigma_cols_px), Axis(1))
}

/// Hessian: second derivatives `(d²/dr², d²/dc², d²/drdc)` of an image (per pixel²) by
/// central differences, `f(r+1) - 2f(r) + f(r-1)` and
/// `(f(r+1,c+1) - f(r+1,c-1) - f(r-1,c+1) + f(r-1,c-1)) / 4`; edges replicated.
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

/// Perona-Malik anisotropic diffusion: `iterations` explicit steps of
/// `u ← u + 0.2 · Σ_n g(u_n - u) (u_n - u)` over the 4 neighbours inside the image, with
/// the rational conductance `g(d) = 1 / (1 + (d/k)²)` (cheaper than the exponential
/// one). Unchanged when `k <= 0` or the image is smaller than 3×3. Written here because
/// imageproc's edge-preserving filters work on 8-bit images only, and ours are `f32`.
pub fn perona_malik(img: &Array2<f32>, k: f32, iterations: usize) -> Array2<f32> {
    let (h, w) = img.dim();
    let mut a = img.clone();
    if k <= 0.0 || h < 3 || w < 3 {
        return a;
    }
    let g = |d: f32| 1.0 / (1.0 + (d / k) * (d / k));
    for _ in 0..iterations {
        let prev = a.clone();
        for i in 0..h {
            for j in 0..w {
                let c = prev[[i, j]];
                let mut flux = 0.0;
                for (di, dj) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
                    let (ni, nj) = (i as i64 + di, j as i64 + dj);
                    if ni < 0 || nj < 0 || ni >= h as i64 || nj >= w as i64 {
                        continue;
                    }
                    let d = prev[[ni as usize, nj as usize]] - c;
                    flux += g(d) * d;
                }
                a[[i, j]] = c + 0.2 * flux;
            }
        }
    }
    a
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
    }

    #[test]
    fn kernel_of_sigma_one_has_the_sampled_gaussian_taps() {
        // exp(-i²/2) for i = 0..3: 1, 0.6065307, 0.1353353, 0.0111090; sum 2.5059499.
        let want = [0.0044330, 0.0540056, 0.2420362, 0.3990503];
        let k = gaussian_kernel(1.0);
        assert_eq!(k.len(), 7);
        for (i, w) in want.iter().enumerate() {
            assert!(
                (k[i] - w).abs() < 1e-6 && (k[6 - i] - w).abs() < 1e-6,
                "{k:?}"
            );
        }
        assert_eq!(gaussian_kernel(0.0), vec![1.0]);
        // Radius at least one tap: exp(-1/(2·0.01)) ≈ 2e-22 beside a centre of 1.
        assert_eq!(gaussian_kernel(0.1).len(), 3);
    }

    #[test]
    fn convolution_replicates_edges_along_either_axis() {
        let k = [0.25f32, 0.5, 0.25];
        // [1, 2, 3] padded to [1, 1, 2, 3, 3]: 1.25, 2, 2.75 (exact in binary).
        let row = array![[1.0f32, 2.0, 3.0], [0.0, 0.0, 4.0]];
        assert_eq!(
            convolve_axis(row.view(), &k, Axis(1)),
            array![[1.25f32, 2.0, 2.75], [0.0, 1.0, 3.0]]
        );
        // Along the columns: each column [a, b] padded to [a, a, b, b].
        assert_eq!(
            convolve_axis(row.view(), &k, Axis(0)),
            array![[0.75f32, 1.5, 3.25], [0.25, 0.5, 3.75]]
        );
        // A single column takes the lane path.
        let col = array![[1.0f32], [2.0], [3.0]];
        assert_eq!(
            convolve_axis(col.view(), &k, Axis(0)),
            array![[1.25f32], [2.0], [2.75]]
        );
    }

    #[test]
    fn blur_of_an_impulse_is_the_outer_product_of_the_kernels() {
        let mut d = Array2::<f32>::zeros((9, 9));
        d[[4, 4]] = 1.0;
        let b = gaussian_blur(d.view(), 1.0, 0.0);
        // No blur along the columns: column 4 is the sigma-1 kernel, the rest zero.
        let k = gaussian_kernel(1.0);
        for i in 0..9 {
            let want = if (1..=7).contains(&i) { k[i - 1] } else { 0.0 };
            assert_eq!(b[[i, 4]], want);
            assert_eq!(b[[i, 3]], 0.0);
        }
    }

    #[test]
    fn hessian_of_a_saddle_and_a_spike() {
        // f = r·c on 3×3: f_rc = (4 - 0 - 0 + 0)/4 = 1 at the centre, f_rr = f_cc = 0.
        let f = array![[0.0f32, 0.0, 0.0], [0.0, 1.0, 2.0], [0.0, 2.0, 4.0]];
        let (rr, cc, rc) = hessian(f.view());
        assert_eq!((rr[[1, 1]], cc[[1, 1]], rc[[1, 1]]), (0.0, 0.0, 1.0));
        // Corner (2, 2), edges replicated: f_rr = 4 - 2·4 + 2 = -2, f_cc likewise,
        // f_rc = (4 - 2 - 2 + 1)/4 = 0.25.
        assert_eq!((rr[[2, 2]], cc[[2, 2]], rc[[2, 2]]), (-2.0, -2.0, 0.25));
        // A spike: -2 along each axis at the spike, +1 beside it.
        let s = array![[0.0f32, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]];
        let (rr, cc, rc) = hessian(s.view());
        assert_eq!((rr[[1, 1]], cc[[1, 1]], rc[[1, 1]]), (-2.0, -2.0, 0.0));
        assert_eq!((rr[[0, 1]], cc[[1, 0]]), (1.0, 1.0));
    }

    #[test]
    fn perona_malik_step_on_a_spike_and_at_an_edge() {
        // One step, k = 1: the spike loses 0.2·4·g(-1)·1 = 0.4 (g(±1) = 1/2), each
        // 4-neighbour gains 0.2·(1/2)·1 = 0.1, the corners nothing: mass is kept.
        let s = array![[0.0f32, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]];
        let out = perona_malik(&s, 1.0, 1);
        let want = array![[0.0f32, 0.1, 0.0], [0.1, 0.6, 0.1], [0.0, 0.1, 0.0]];
        assert!(
            out.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-7),
            "{out}"
        );
        // A step of 10 with k = 1 barely moves (g(10) = 1/101): 0.2·10/101 = 0.0198.
        let e = array![[0.0f32, 0.0, 10.0], [0.0, 0.0, 10.0], [0.0, 0.0, 10.0]];
        let out = perona_malik(&e, 1.0, 1);
        assert!((out[[1, 1]] - 0.2 * 10.0 / 101.0).abs() < 1e-6, "{out}");
        // No conductance or too small an image: unchanged.
        assert_eq!(perona_malik(&s, 0.0, 3), s);
        assert_eq!(
            perona_malik(&array![[0.0f32, 5.0]], 1.0, 3),
            array![[0.0f32, 5.0]]
        );
    }
}
