//! Disc candidates: local maxima of the plane-weighted band response of one contrast.

use ndarray::Array2;

use super::super::canonical::CanonicalStack;
use super::super::discs::{Candidate, DiscContrast, DiscParams, PlaneResponse, local_maxima};
use super::super::filters::percentile;
use super::LocalizeError;
use super::detector::{DiscMap, NET_PIXEL_MM, net_input};
use crate::imageops::{Blend, bilinear};

/// Disc candidates of one contrast: local maxima of the plane-weighted composite
/// response. Returns the candidates (strongest first) and the plane weights.
pub(crate) fn contrast_candidates(
    stack: &CanonicalStack,
    all_responses: &[PlaneResponse],
    contrast: DiscContrast,
    params: &DiscParams,
    focus_x_mm: Option<f64>,
    detector: Option<&DetectorMap>,
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
            band_strength(r)
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
    if let Some(map) = detector {
        let cands = detector_candidates(&map.mean, &normal_sum, px, params);
        if cands.is_empty() {
            return Err(LocalizeError::NoDiscs);
        }
        return Ok((cands, weights));
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

/// How much strong band response a plane holds: the sum of its responses of at least
/// half the plane's 99th percentile (planes through the vertebral bodies hold most).
fn band_strength(resp: &Array2<f32>) -> f64 {
    let v: Vec<f32> = resp.iter().copied().filter(|v| *v > 0.0).collect();
    let p = percentile(&v, 99.0).unwrap_or(0.0) as f64;
    v.iter()
        .filter(|x| **x as f64 >= 0.5 * p)
        .map(|x| *x as f64)
        .sum()
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

/// Lowest detector probability taken as a disc candidate: the chain and the anatomical
/// checks decide among the candidates; a low bar keeps faint real discs (a degenerated
/// dark disc, partial volume at 4 mm) in play.
const DETECTOR_MIN_PROB: f32 = 0.2;

/// Disc candidates from the detector's probability map (on the localisation grid):
/// its peaks, each centred on the probability-weighted mean within 4 mm, with the disc
/// normal from the band filters' composite normal field around it (the detector gives
/// positions, the band filters orientations), and the peak probability as response.
fn detector_candidates(
    prob: &Array2<f32>,
    normal_sum: &Array2<[f32; 2]>,
    px: f64,
    params: &DiscParams,
) -> Vec<Candidate> {
    let (h, w) = prob.dim();
    let rad = (4.0 / px).ceil() as isize;
    local_maxima(prob, params.nms_radius_mm / px, DETECTOR_MIN_PROB)
        .into_iter()
        .take(48)
        .map(|(r, c, v)| {
            let (mut sw, mut sr, mut sc) = (0.0f64, 0.0f64, 0.0f64);
            let mut n = [0.0f64; 2];
            for dr in -rad..=rad {
                for dc in -rad..=rad {
                    let (rr, cc) = (r as isize + dr, c as isize + dc);
                    if rr < 0 || cc < 0 || rr as usize >= h || cc as usize >= w {
                        continue;
                    }
                    let (rr, cc) = (rr as usize, cc as usize);
                    let p = prob[[rr, cc]] as f64;
                    if p >= 0.5 * v as f64 {
                        sw += p;
                        sr += p * rr as f64;
                        sc += p * cc as f64;
                    }
                    let ns = normal_sum[[rr, cc]];
                    n[0] += ns[0] as f64;
                    n[1] += ns[1] as f64;
                }
            }
            let len = (n[0] * n[0] + n[1] * n[1]).sqrt();
            // Without band evidence nearby the disc is taken as square to the rows.
            let normal = if len > 1e-9 {
                [n[0] / len, n[1] / len]
            } else {
                [1.0, 0.0]
            };
            Candidate {
                r: sr / sw.max(1e-12),
                c: sc / sw.max(1e-12),
                normal,
                response: v as f64,
            }
        })
        .collect()
}

/// Half-width (mm) of the slab of planes around the spine's estimated midline that the
/// detector is run on: the vertebral bodies and discs fill at least ±15 mm.
const DETECTOR_HALF_WIDTH_MM: f64 = 9.0;
/// At most this many planes are run (evenly spread over the slab), for speed.
const DETECTOR_MAX_PLANES: usize = 3;

/// The disc detector's output for one series.
pub(crate) struct DetectorMap {
    /// Mean probability over the planes run, on the localisation grid.
    pub(crate) mean: Array2<f32>,
    /// Each plane run (stack plane index) with its map at [`NET_PIXEL_MM`].
    pub(crate) planes: Vec<(usize, Array2<f32>)>,
    /// Localisation pixel over net pixel.
    scale: f64,
}

impl DetectorMap {
    /// Plane position (fractional stack index) of a disc at localisation pixel (r, c):
    /// the detector planes weighted by their probability there (a disc is centred on
    /// the plane where it is seen best), `None` where no plane sees it.
    pub(crate) fn plane_at(&self, r: f64, c: f64) -> Option<f64> {
        let (mut sw, mut sk) = (0.0, 0.0);
        for (k, m) in &self.planes {
            let p = bilinear(m.view(), r * self.scale, c * self.scale, Blend::Lerp).unwrap_or(0.0)
                as f64;
            let w = p * p;
            sw += w;
            sk += w * *k as f64;
        }
        (sw > 1e-6).then(|| sk / sw)
    }
}

/// The disc detector's probability map on the localisation grid: the mean of its maps
/// on the planes near the midline, which is estimated from where the band filters
/// respond most (the discs and bodies dominate the middle planes of any sagittal
/// series). `None` when the network cannot be loaded or run.
pub(crate) fn detector_map(
    stack: &CanonicalStack,
    planes: &[Array2<f32>],
    all_responses: &[PlaneResponse],
    is_ct: bool,
) -> Option<DetectorMap> {
    use rayon::prelude::*;
    let net = DiscMap::embedded().ok()?;
    let strength: Vec<f64> = all_responses
        .iter()
        .map(|r| band_strength(&r.darker.0) + band_strength(&r.brighter.0))
        .collect();
    let smax = strength.iter().fold(0.0f64, |m, v| m.max(*v));
    if smax <= 0.0 || planes.is_empty() {
        return None;
    }
    let (mut sw, mut sx) = (0.0, 0.0);
    for (k, s) in strength.iter().enumerate() {
        let wk = (s / smax).powi(4);
        sw += wk;
        sx += wk * stack.plane_x_mm(k);
    }
    let centre_x = sx / sw;
    let mut near: Vec<usize> = (0..planes.len())
        .filter(|&k| (stack.plane_x_mm(k) - centre_x).abs() <= DETECTOR_HALF_WIDTH_MM)
        .collect();
    if near.is_empty() {
        let k = (0..planes.len())
            .min_by(|&a, &b| {
                (stack.plane_x_mm(a) - centre_x)
                    .abs()
                    .total_cmp(&(stack.plane_x_mm(b) - centre_x).abs())
            })
            .unwrap_or(0);
        near.push(k);
    }
    if near.len() > DETECTOR_MAX_PLANES {
        let n = near.len();
        near = (0..DETECTOR_MAX_PLANES)
            .map(|i| near[i * (n - 1) / (DETECTOR_MAX_PLANES - 1)])
            .collect();
    }
    let px = stack.pixel_mm;
    let (h, w) = planes[0].dim();
    let maps: Vec<Array2<f32>> = near
        .par_iter()
        .map(|&k| net.probabilities(&net_input(&planes[k], px, is_ct)))
        .collect();
    let f = px / NET_PIXEL_MM;
    let mut mean = Array2::<f32>::zeros((h, w));
    for m in &maps {
        for ((r, c), v) in mean.indexed_iter_mut() {
            *v += bilinear(m.view(), r as f64 * f, c as f64 * f, Blend::Lerp).unwrap_or(0.0);
        }
    }
    mean /= maps.len() as f32;
    Some(DetectorMap {
        mean,
        planes: near.iter().copied().zip(maps).collect(),
        scale: f,
    })
}
