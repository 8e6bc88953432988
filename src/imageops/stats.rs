//! Order statistics and noise estimation.

use ndarray::Array2;

/// Percentile (0..=100) of the finite values by selection, without interpolation: the
/// value of rank `round(p/100 · (n - 1))` (0-based) in ascending order; `None` when
/// there are no finite values.
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

/// Noise standard deviation from the median absolute deviation of each interior pixel
/// from the mean of its 4 neighbours (robust to edges): for white noise of deviation σ,
/// `c - mean4` has deviation `σ·√1.25` and its median absolute value is `0.6745` of that.
/// 0 for an image without interior pixels.
pub fn noise_sigma(img: &Array2<f32>) -> f64 {
    let (h, w) = img.dim();
    let mut d = Vec::with_capacity(h * w);
    for i in 1..h.saturating_sub(1) {
        for j in 1..w.saturating_sub(1) {
            let c = img[[i, j]];
            let m = 0.25 * (img[[i - 1, j]] + img[[i + 1, j]] + img[[i, j - 1]] + img[[i, j + 1]]);
            if (c - m).is_finite() {
                d.push((c - m).abs());
            }
        }
    }
    percentile(&d, 50.0).map_or(0.0, |m| m as f64 / 0.6745 / 1.25f64.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn percentile_is_the_value_of_the_rounded_rank() {
        let v = [4.0f32, f32::NAN, 1.0, 3.0, 2.0];
        // Finite values sorted: 1, 2, 3, 4; rank round(p/100 · 3).
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&v, 50.0), Some(3.0)); // rank round(1.5) = 2
        assert_eq!(percentile(&v, 40.0), Some(2.0)); // rank round(1.2) = 1
        assert_eq!(percentile(&v, 100.0), Some(4.0));
        assert_eq!(percentile(&v, 250.0), Some(4.0));
        assert_eq!(percentile(&[f32::INFINITY, f32::NAN], 50.0), None);
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn noise_of_a_single_spike_and_of_a_ramp() {
        // One interior pixel: |4 - 0| = 4, so σ = 4 / 0.6745 / √1.25 = 5.30424.
        let s = array![[0.0f32, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 0.0]];
        assert!((noise_sigma(&s) - 5.30424).abs() < 1e-4);
        // A linear ramp equals the mean of its 4 neighbours: no noise.
        let ramp = Array2::from_shape_fn((5, 6), |(i, j)| (2 * i + 3 * j) as f32);
        assert_eq!(noise_sigma(&ramp), 0.0);
        assert_eq!(noise_sigma(&array![[1.0f32, 2.0], [3.0, 4.0]]), 0.0);
    }

    #[test]
    fn noise_of_gaussian_white_noise_is_its_sigma() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let img = Array2::from_shape_fn((100, 100), |_| {
            // Sum of uniforms: roughly Gaussian with sigma 10.
            let s: f64 = (0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0;
            (500.0 + 10.0 * s) as f32
        });
        let s = noise_sigma(&img);
        assert!((s - 10.0).abs() < 1.5, "{s}");
    }
}
