//! Intervertebral disc detection on a canonical sagittal stack.
//!
//! A disc is a flat band (6-15 mm thick, 30-50 mm long) between two vertebral bodies:
//! darker than marrow on T1 and CT, brighter on T2. Across the band the image has a
//! strong curvature, along it almost none, so the Hessian's dominant eigenvalue (scaled
//! by σ², Lindeberg's normalised derivatives) responds to discs at any tilt, and its
//! eigenvector gives the disc normal, i.e. the local direction of the spine. Candidates
//! are the local maxima of that response averaged over the planes; the spine is the best
//! chain of candidates with vertebra-like spacing along their normals (dynamic programming).

use ndarray::{Array2, Axis, s};
use rayon::prelude::*;

use super::canonical::CanonicalStack;
/// Non-maximum suppression, kept at its old path for callers.
pub use crate::imageops::local_maxima;
use crate::imageops::{Blend, bilinear, eigen_sym2, gaussian_blur, hessian, percentile};

/// Whether discs are darker or brighter than the vertebral bodies around them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscContrast {
    /// T1, PD, CT.
    Darker,
    /// T2.
    Brighter,
}

/// A disc candidate on the composite response image (canonical pixels).
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    pub r: f64,
    pub c: f64,
    /// Unit normal (r, c), pointing down (toward the feet).
    pub normal: [f64; 2],
    pub response: f64,
}

/// Tunables, all in millimetres or relative units (never pixels).
#[derive(Debug, Clone)]
pub struct DiscParams {
    /// Hessian scales (mm): a band of thickness t responds most at σ ≈ t/(2√3).
    pub scales_mm: Vec<f64>,
    /// Window for local intensity normalisation (bias field), mm.
    pub bias_sigma_mm: f64,
    /// Non-maximum suppression radius, mm.
    pub nms_radius_mm: f64,
    /// Disc normals must lie within this angle of the head-feet axis.
    pub max_tilt_deg: f64,
    /// Spacing between consecutive disc centres (one body plus one disc), mm.
    pub min_step_mm: f64,
    pub max_step_mm: f64,
    /// Largest angle between the step to the next disc and either disc's normal.
    pub max_step_angle_deg: f64,
    /// Largest ratio between consecutive steps.
    pub max_step_ratio: f64,
    /// Discs closer than this to the top or bottom of the image are not considered.
    pub border_mm: f64,
    /// A chain with at least this many discs is preferred to any shorter one.
    pub min_chain_discs: usize,
}

impl Default for DiscParams {
    fn default() -> Self {
        DiscParams {
            scales_mm: vec![2.5, 4.0],
            bias_sigma_mm: 25.0,
            nms_radius_mm: 12.0,
            max_tilt_deg: 60.0,
            min_step_mm: 18.0,
            max_step_mm: 58.0,
            max_step_angle_deg: 40.0,
            max_step_ratio: 1.5,
            border_mm: 9.0,
            min_chain_discs: 4,
        }
    }
}

/// Divides an image by its local mean over tissue (a Gaussian window of `sigma_px`),
/// removing smooth bias fields; air (below `air`) and missing pixels become 0.
/// The local mean is computed on a 4× coarser grid (a bias field is smooth).
pub fn normalise_bias(img: &Array2<f32>, air: f32, sigma_px: f64) -> Array2<f32> {
    let (h, w) = img.dim();
    let f = 4usize;
    let (hc, wc) = (h.div_ceil(f), w.div_ceil(f));
    let mut sum = Array2::<f32>::zeros((hc, wc));
    let mut cnt = Array2::<f32>::zeros((hc, wc));
    for ((r, c), v) in img.indexed_iter() {
        if v.is_finite() && *v > air {
            sum[[r / f, c / f]] += v;
            cnt[[r / f, c / f]] += 1.0;
        }
    }
    let sigma_c = sigma_px / f as f64;
    let sum = gaussian_blur(sum.view(), sigma_c, sigma_c);
    let cnt = gaussian_blur(cnt.view(), sigma_c, sigma_c);
    Array2::from_shape_fn((h, w), |(r, c)| {
        let v = img[[r, c]];
        if !v.is_finite() || v <= air {
            return 0.0;
        }
        // Bilinear interpolation of the coarse local mean (coordinates clamped to the
        // coarse pixel centres, so always inside).
        let fr = ((r as f64 + 0.5) / f as f64 - 0.5).clamp(0.0, (hc - 1) as f64);
        let fc = ((c as f64 + 0.5) / f as f64 - 0.5).clamp(0.0, (wc - 1) as f64);
        let m = |a: &Array2<f32>| bilinear(a.view(), fr, fc, Blend::Lerp).unwrap_or(0.0);
        let mean = m(&sum) / m(&cnt).max(1e-6);
        if mean > 0.0 { v / mean } else { 0.0 }
    })
}

/// Normalised planes: MR divided by its local tissue mean; CT mapped from HU so that
/// soft tissue is ~0 and cancellous bone ~1 (HU clipped to [-200, 1200]).
pub fn normalised_planes(
    stack: &CanonicalStack,
    is_ct: bool,
    bias_sigma_mm: f64,
) -> Vec<Array2<f32>> {
    let n = stack.data.len_of(Axis(0));
    let all: Vec<f32> = stack
        .data
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let air = if is_ct {
        -500.0
    } else {
        0.1 * percentile(&all, 98.0).unwrap_or(0.0)
    };
    (0..n)
        .into_par_iter()
        .map(|k| {
            let plane = stack.data.slice(s![k, .., ..]).to_owned();
            if is_ct {
                plane.mapv(|v| {
                    if v.is_finite() {
                        (v.clamp(-200.0, 1200.0) - 40.0) / 250.0
                    } else {
                        0.0
                    }
                })
            } else {
                normalise_bias(&plane, air, bias_sigma_mm / stack.pixel_mm)
            }
        })
        .collect()
}

/// Disc responses of one normalised plane for both contrasts (dark bands, bright
/// bands): the best scale-normalised Hessian band response with the band's normal
/// within `max_tilt` of the head-feet axis, and that normal (r, c) per pixel.
pub struct PlaneResponse {
    pub darker: (Array2<f32>, Array2<[f32; 2]>),
    pub brighter: (Array2<f32>, Array2<[f32; 2]>),
}

impl PlaneResponse {
    pub fn get(&self, contrast: DiscContrast) -> &(Array2<f32>, Array2<[f32; 2]>) {
        match contrast {
            DiscContrast::Darker => &self.darker,
            DiscContrast::Brighter => &self.brighter,
        }
    }
}

pub fn disc_responses(plane: &Array2<f32>, pixel_mm: f64, params: &DiscParams) -> PlaneResponse {
    let (h, w) = plane.dim();
    let new = || {
        (
            Array2::<f32>::zeros((h, w)),
            Array2::from_elem((h, w), [1.0f32, 0.0]),
        )
    };
    let (mut dark, mut bright) = (new(), new());
    let cos_tilt = params.max_tilt_deg.to_radians().cos() as f32;
    for &sigma_mm in &params.scales_mm {
        let sigma_px = sigma_mm / pixel_mm;
        let smooth = gaussian_blur(plane.view(), sigma_px, sigma_px);
        let (rr, cc, rc) = hessian(smooth.view());
        let norm = (sigma_px * sigma_px) as f32;
        for r in 0..h {
            for c in 0..w {
                let (l1, l2, e) = eigen_sym2(rr[[r, c]], rc[[r, c]], cc[[r, c]]);
                if l1 == 0.0 || e[0].abs() < cos_tilt {
                    continue;
                }
                // Elongated bands only: a blob curves equally in both directions.
                let v = norm * l1.abs() * (1.0 - (l2.abs() / l1.abs()).min(1.0));
                // A dark band curves upward across it (λ1 > 0), a bright one downward.
                let target = if l1 > 0.0 { &mut dark } else { &mut bright };
                if v > target.0[[r, c]] {
                    target.0[[r, c]] = v;
                    target.1[[r, c]] = if e[0] >= 0.0 { e } else { [-e[0], -e[1]] };
                }
            }
        }
    }
    // Near the image border the smoothing replicates edge pixels, which fakes bands,
    // and a disc cut by the top or bottom of the field of view cannot be used anyway.
    let margin_c =
        (params.scales_mm.iter().fold(0.0f64, |m, v| m.max(*v)) / pixel_mm).ceil() as usize;
    let margin_r = (params.border_mm / pixel_mm).ceil() as usize;
    for map in [&mut dark.0, &mut bright.0] {
        for ((r, c), v) in map.indexed_iter_mut() {
            if r < margin_r || c < margin_c || r + margin_r >= h || c + margin_c >= w {
                *v = 0.0;
            }
        }
    }
    PlaneResponse {
        darker: dark,
        brighter: bright,
    }
}

/// Disc response for one contrast (see [`disc_responses`]).
pub fn disc_response(
    plane: &Array2<f32>,
    contrast: DiscContrast,
    pixel_mm: f64,
    params: &DiscParams,
) -> (Array2<f32>, Array2<[f32; 2]>) {
    let r = disc_responses(plane, pixel_mm, params);
    match contrast {
        DiscContrast::Darker => r.darker,
        DiscContrast::Brighter => r.brighter,
    }
}

fn angle_between(a: [f64; 2], b: [f64; 2]) -> f64 {
    let na = (a[0] * a[0] + a[1] * a[1]).sqrt();
    let nb = (b[0] * b[0] + b[1] * b[1]).sqrt();
    ((a[0] * b[0] + a[1] * b[1]) / (na * nb).max(1e-12))
        .clamp(-1.0, 1.0)
        .acos()
        .to_degrees()
}

/// The best chain of candidates from head to feet (dynamic programming over pairs):
/// each step must be vertebra-sized and run along both discs' normals, consecutive steps
/// must be of similar length and direction. Score: sum of responses minus a per-disc
/// cost (`node_cost`, so that weak spurious candidates do not lengthen the chain) and
/// bending penalties.
pub fn best_chain(
    cands: &[Candidate],
    pixel_mm: f64,
    params: &DiscParams,
    node_cost: f64,
) -> Vec<usize> {
    best_chain_with(cands, pixel_mm, params, node_cost, &|_, _| None)
}

/// Largest angle between consecutive disc normals when a vertebral body lies between
/// them (40° otherwise).
pub const BODY_NORMAL_ANGLE_DEG: f64 = 55.0;

/// [`best_chain`] with what the segment between two candidates says about them:
/// `segment(i, j)` is `None` without such evidence, else the extra cost of the step
/// `i → j` (candidate indices), 0 when the segment looks like a vertebral body. Two
/// discs around a body-like segment may differ more in tilt (a normal estimated from a
/// band next to other structures can be off), up to [`BODY_NORMAL_ANGLE_DEG`].
pub fn best_chain_with(
    cands: &[Candidate],
    pixel_mm: f64,
    params: &DiscParams,
    node_cost: f64,
    segment: &dyn Fn(usize, usize) -> Option<f64>,
) -> Vec<usize> {
    let n = cands.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| cands[a].r.total_cmp(&cands[b].r));
    // Allowed steps with their direction (mm) and extra cost, computed once.
    let steps: Vec<Option<([f64; 2], f64)>> = (0..n * n)
        .map(|ab| {
            let (a, b) = (ab / n, ab % n);
            let (ca, cb) = (&cands[a], &cands[b]);
            let d = [(cb.r - ca.r) * pixel_mm, (cb.c - ca.c) * pixel_mm];
            let len = (d[0] * d[0] + d[1] * d[1]).sqrt();
            if d[0] <= 0.0 || len < params.min_step_mm || len > params.max_step_mm {
                return None;
            }
            // The lumbosacral disc is wedge-shaped and tilted by the sacral slope: the
            // step down to a disc may deviate more from that disc's normal than from the
            // one above.
            let normals = angle_between(ca.normal, cb.normal);
            if normals > BODY_NORMAL_ANGLE_DEG
                || angle_between(d, ca.normal) > params.max_step_angle_deg
                || angle_between(d, cb.normal) > params.max_step_angle_deg + 15.0
            {
                return None;
            }
            let cost = segment(a, b);
            if normals > 40.0 && cost.is_none_or(|c| c > 0.0) {
                return None;
            }
            Some((d, cost.unwrap_or(0.0)))
        })
        .collect();
    let step_ok = |a: usize, b: usize| steps[a * n + b].map(|(d, _)| d);
    // A lumbar field of view shows several discs, and a short chain of strong bands
    // (pelvic or abdominal structures) can outscore the weaker discs of the spine: the
    // chain kept is the best one with at least `min_chain_discs` discs when there is
    // one. Chains are tracked by length class: 2, 3, ..., min_chain_discs or more.
    let long = params.min_chain_discs.max(2);
    let class_of = |len: usize| len.min(long);
    // best[(i, j, class)]: best score of a chain of that length class ending with the
    // step i → j, and the candidate before i with the class of the chain ending there.
    type Key = (usize, usize, usize);
    let mut best: std::collections::HashMap<Key, (f64, Option<(usize, usize)>)> =
        std::collections::HashMap::new();
    // Best end of any chain, and of a long one.
    let mut top: Option<(Key, f64)> = None;
    let mut top_long: Option<(Key, f64)> = None;
    for (oj, &j) in order.iter().enumerate() {
        for &i in &order[..oj] {
            let Some(d_ij) = step_ok(i, j) else { continue };
            let cost_ij = steps[i * n + j].map_or(0.0, |(_, c)| c);
            let base = cands[i].response + cands[j].response - 2.0 * node_cost - cost_ij;
            let mut scores: Vec<(f64, Option<(usize, usize)>)> =
                vec![(f64::NEG_INFINITY, None); long + 1];
            scores[class_of(2)] = (base, None);
            for &k in &order[..oj] {
                let Some(d_ki) = step_ok(k, i) else { continue };
                let l_ki = (d_ki[0] * d_ki[0] + d_ki[1] * d_ki[1]).sqrt();
                let l_ij = (d_ij[0] * d_ij[0] + d_ij[1] * d_ij[1]).sqrt();
                let ratio = l_ij.max(l_ki) / l_ij.min(l_ki);
                let bend = angle_between(d_ki, d_ij);
                if ratio > params.max_step_ratio || bend > 45.0 {
                    continue;
                }
                let penalty = node_cost * ((ratio - 1.0) + bend / 45.0);
                for class in 2..=long {
                    let Some(&(prev, _)) = best.get(&(k, i, class)) else {
                        continue;
                    };
                    let s = prev + cands[j].response - node_cost - penalty - cost_ij;
                    let to = class_of(class + 1);
                    if s > scores[to].0 {
                        scores[to] = (s, Some((k, class)));
                    }
                }
            }
            for (class, score) in scores.into_iter().enumerate().skip(2) {
                if score.0 == f64::NEG_INFINITY {
                    continue;
                }
                best.insert((i, j, class), score);
                if top.is_none_or(|(_, t)| score.0 > t) {
                    top = Some(((i, j, class), score.0));
                }
                if class == long && top_long.is_none_or(|(_, t)| score.0 > t) {
                    top_long = Some(((i, j, class), score.0));
                }
            }
        }
    }
    let Some(((mut i, mut j, mut class), _)) = top_long.or(top) else {
        return cands
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.response.total_cmp(&b.1.response))
            .map(|(k, _)| vec![k])
            .unwrap_or_default();
    };
    let mut chain = vec![j, i];
    while let Some(&(_, Some((k, prev_class)))) = best.get(&(i, j, class)) {
        chain.push(k);
        class = prev_class;
        j = i;
        i = k;
    }
    chain.reverse();
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic column: bright bodies separated by dark bands 10 mm thick every
    /// 38 mm, tilted by `tilt_deg`, on a 1 mm grid.
    fn column(tilt_deg: f64) -> Array2<f32> {
        let t = tilt_deg.to_radians();
        Array2::from_shape_fn((260, 160), |(r, c)| {
            let (r, c) = (r as f64, c as f64);
            // Coordinates along the spine axis (u) and across it (v), centred at column 80.
            let u = r * t.cos() + (c - 80.0) * t.sin();
            let v = -(r * t.sin()) + (c - 80.0) * t.cos();
            if v.abs() > 22.0 {
                return 0.6;
            }
            let phase = (u - 30.0).rem_euclid(38.0);
            if phase < 10.0 { 0.5 } else { 1.0 }
        })
    }

    #[test]
    fn finds_evenly_spaced_discs_and_their_tilt() {
        for tilt in [0.0, 25.0] {
            let img = column(tilt);
            let params = DiscParams::default();
            let (resp, normals) = disc_response(&img, DiscContrast::Darker, 1.0, &params);
            let peaks = local_maxima(
                &resp,
                params.nms_radius_mm,
                0.05 * resp.iter().fold(0.0f32, |m, v| m.max(*v)),
            );
            let cands: Vec<Candidate> = peaks
                .iter()
                .take(30)
                .map(|&(r, c, v)| {
                    let nrm = normals[[r, c]];
                    Candidate {
                        r: r as f64,
                        c: c as f64,
                        normal: [nrm[0] as f64, nrm[1] as f64],
                        response: v as f64,
                    }
                })
                .collect();
            let max = cands.iter().map(|c| c.response).fold(0.0, f64::max);
            let chain = best_chain(&cands, 1.0, &params, 0.2 * max);
            assert!(chain.len() >= 5, "tilt {tilt}: {} discs", chain.len());
            for w in chain.windows(2) {
                let (a, b) = (cands[w[0]], cands[w[1]]);
                let step = ((b.r - a.r).powi(2) + (b.c - a.c).powi(2)).sqrt();
                let pts: Vec<_> = chain.iter().map(|&i| (cands[i].r, cands[i].c)).collect();
                assert!(
                    (step - 38.0).abs() < 3.0,
                    "tilt {tilt}: step {step} {pts:?}"
                );
            }
            let n = cands[chain[2]].normal;
            let got = n[1].atan2(n[0]).to_degrees();
            assert!(
                (got + tilt).abs() < 5.0 || (got - tilt).abs() < 5.0,
                "tilt {tilt}: normal at {got}°"
            );
        }
    }

    #[test]
    fn prefers_a_long_chain_of_weak_discs_to_a_short_strong_one() {
        // Four weak discs 37.5 mm apart (the spine) and, further down and to the side,
        // two strong bands 37.5 mm apart (a pelvic structure): the pair alone outscores
        // the four, but a lumbar spine shows at least `min_chain_discs` discs.
        let cand = |r: f64, c: f64, response: f64| Candidate {
            r,
            c,
            normal: [1.0, 0.0],
            response,
        };
        let mut cands: Vec<Candidate> = (0..4).map(|i| cand(25.0 * i as f64, 50.0, 0.5)).collect();
        cands.push(cand(110.0, 150.0, 1.0));
        cands.push(cand(135.0, 150.0, 1.0));
        let params = DiscParams::default();
        assert_eq!(best_chain(&cands, 1.5, &params, 0.3), vec![0, 1, 2, 3]);
        // Without the preference the strong pair wins.
        let short = DiscParams {
            min_chain_discs: 2,
            ..DiscParams::default()
        };
        assert_eq!(best_chain(&cands, 1.5, &short, 0.3), vec![4, 5]);
    }

    #[test]
    fn bias_normalisation_flattens_a_smooth_gain() {
        let img = Array2::from_shape_fn((120, 100), |(r, c)| {
            100.0 * (1.0 + 0.01 * r as f32) * (1.0 + 0.005 * c as f32)
        });
        let n = normalise_bias(&img, 1.0, 20.0);
        let inner = n.slice(s![20..100, 20..80]);
        let (lo, hi) = inner
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
        assert!(lo > 0.93 && hi < 1.07, "{lo} {hi}");
    }

    #[test]
    fn disc_response_of_a_parabolic_trough_is_its_scale_normalised_curvature() {
        // f = 0.01·(r - 30)²: blurring a quadratic adds a constant, so f_rr = 0.02,
        // f_cc = f_rc = 0 away from the borders; λ1 = 0.02, λ2 = 0, normal (1, 0). The
        // response σ²·|λ1|·(1 - |λ2|/|λ1|) is largest at the coarser scale: 4² · 0.02.
        // Curving upward, it is a dark band.
        let img = Array2::from_shape_fn((61, 61), |(r, _)| 0.01 * (r as f32 - 30.0).powi(2));
        let params = DiscParams::default();
        let resp = disc_responses(&img, 1.0, &params);
        let (dark, normals) = resp.get(DiscContrast::Darker);
        assert!((dark[[30, 30]] - 0.32).abs() < 1e-3, "{}", dark[[30, 30]]);
        assert_eq!(normals[[30, 30]], [1.0, 0.0]);
        assert_eq!(resp.get(DiscContrast::Brighter).0[[30, 30]], 0.0);
        // Within the border margin (9 mm) nothing responds.
        assert_eq!(dark[[5, 30]], 0.0);
        // The same trough upside down is a bright band.
        let resp = disc_responses(&img.mapv(|v| -v), 1.0, &params);
        assert!((resp.get(DiscContrast::Brighter).0[[30, 30]] - 0.32).abs() < 1e-3);
        assert_eq!(resp.get(DiscContrast::Darker).0[[30, 30]], 0.0);
    }
}
