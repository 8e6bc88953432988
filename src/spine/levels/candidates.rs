//! Disc candidates: local maxima of the plane-weighted band response of one contrast.

use ndarray::Array2;

use super::super::canonical::CanonicalStack;
use super::super::discs::{Candidate, DiscContrast, DiscParams, PlaneResponse, local_maxima};
use super::super::filters::percentile;
use super::LocalizeError;

/// Disc candidates of one contrast: local maxima of the plane-weighted composite
/// response. Returns the candidates (strongest first) and the plane weights.
pub(crate) fn contrast_candidates(
    stack: &CanonicalStack,
    all_responses: &[PlaneResponse],
    contrast: DiscContrast,
    params: &DiscParams,
    focus_x_mm: Option<f64>,
) -> Result<(Vec<Candidate>, Vec<f64>), LocalizeError> {
    let px = stack.pixel_mm;
    let responses: Vec<&(Array2<f32>, Array2<[f32; 2]>)> =
        all_responses.iter().map(|r| r.get(contrast)).collect();
    // Planes through the vertebral bodies carry most of the disc response; weight them.
    let strength: Vec<f64> = responses
        .iter()
        .enumerate()
        .map(|(k, (r, _))| {
            if focus_x_mm.is_some_and(|x| (stack.plane_x_mm(k) - x).abs() > FOCUS_HALF_WIDTH_MM) {
                return 0.0;
            }
            let v: Vec<f32> = r.iter().copied().filter(|v| *v > 0.0).collect();
            let p = percentile(&v, 99.0).unwrap_or(0.0) as f64;
            v.iter()
                .filter(|x| **x as f64 >= 0.5 * p)
                .map(|x| *x as f64)
                .sum::<f64>()
        })
        .collect();
    let smax = strength.iter().fold(0.0f64, |m, v| m.max(*v));
    if smax <= 0.0 {
        return Err(LocalizeError::NoDiscs);
    }
    let weights: Vec<f64> = strength.iter().map(|s| (s / smax).powi(2)).collect();
    let (_, h, w) = stack.dim();
    let mut composite = Array2::<f32>::zeros((h, w));
    let mut normal_sum = Array2::<[f32; 2]>::from_elem((h, w), [0.0, 0.0]);
    let wsum: f64 = weights.iter().sum();
    for ((resp, normals), wk) in responses.iter().map(|r| (&r.0, &r.1)).zip(&weights) {
        let wk = *wk as f32;
        if wk < 0.05 {
            continue;
        }
        for ((r, c), v) in resp.indexed_iter() {
            let n = normals[[r, c]];
            if *v <= 0.0 {
                continue;
            }
            composite[[r, c]] += wk * v / wsum as f32;
            let acc = &mut normal_sum[[r, c]];
            acc[0] += wk * v * n[0];
            acc[1] += wk * v * n[1];
        }
    }
    let cmax = composite.iter().fold(0.0f32, |m, v| m.max(*v));
    let peaks = local_maxima(&composite, params.nms_radius_mm / px, 0.08 * cmax);
    let cands: Vec<Candidate> = peaks
        .iter()
        .take(48)
        .map(|&(r, c, v)| {
            let n = normal_sum[[r, c]];
            let len = ((n[0] * n[0] + n[1] * n[1]) as f64).sqrt().max(1e-12);
            let normal = [n[0] as f64 / len, n[1] as f64 / len];
            // The peak can sit anywhere along the band; its centre is the middle of the
            // stretch where the response stays above a third of the peak.
            let (cr, cc) = band_centre(&composite, (r as f64, c as f64), normal, px);
            Candidate {
                r: cr,
                c: cc,
                normal,
                response: v as f64,
            }
        })
        .collect();
    if cands.is_empty() {
        return Err(LocalizeError::NoDiscs);
    }
    Ok((cands, weights))
}

/// Middle of the stretch along the band (perpendicular to `normal`) through `p` where
/// `resp` stays above a third of its value at `p` (at most 30 mm each way).
fn band_centre(resp: &Array2<f32>, p: (f64, f64), normal: [f64; 2], px: f64) -> (f64, f64) {
    let (h, w) = resp.dim();
    let t = [-normal[1], normal[0]];
    let at = |s: f64| -> Option<f32> {
        let (r, c) = ((p.0 + s * t[0]).round(), (p.1 + s * t[1]).round());
        (r >= 0.0 && c >= 0.0 && (r as usize) < h && (c as usize) < w)
            .then(|| resp[[r as usize, c as usize]])
    };
    let peak = at(0.0).unwrap_or(0.0);
    let limit = 30.0 / px;
    let walk = |dir: f64| {
        let mut s = 0.0;
        while s < limit && at(dir * (s + 0.5)).is_some_and(|v| v >= peak / 3.0) {
            s += 0.5;
        }
        dir * s
    };
    let mid = 0.5 * (walk(-1.0) + walk(1.0));
    (p.0 + mid * t[0], p.1 + mid * t[1])
}

/// Half the left-right extent of the planes through the vertebral bodies that carry
/// disc evidence (lumbar bodies are 40-50 mm wide).
pub(crate) const FOCUS_HALF_WIDTH_MM: f64 = 20.0;
