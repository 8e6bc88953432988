//! Finding the discs and vertebral bodies of the lumbar spine and naming the levels.
//!
//! Levels are named by counting discs up from the sacrum (L5-S1 is the lowest mobile
//! disc). The sacrum is recognised by what lies below the lowest disc (bone, no further
//! disc, field of view reaching far enough) and by that disc's tilt (the sacral slope,
//! typically 25-50° from horizontal). Whatever cannot be established lowers confidence
//! and adds a warning; nothing is guessed silently.

use ndarray::Array2;
use rayon::prelude::*;
use serde::Serialize;

use super::canonical::{CanonicalStack, canonical_stack};
use super::discs::{
    Candidate, DiscContrast, DiscParams, PlaneResponse, best_chain, best_chain_with,
    disc_responses, local_maxima, normalised_planes,
};
use super::filters::percentile;
use crate::volume::geometry::{Vec3, add, scale};
use crate::volume::{Modality, Volume};

/// The five lumbar levels reported, head to feet.
pub const LUMBAR_LEVELS: [&str; 5] = ["L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"];

/// Names of discs counted up from the sacrum.
const NAMES_FROM_SACRUM: [&str; 10] = [
    "L5-S1", "L4-L5", "L3-L4", "L2-L3", "L1-L2", "T12-L1", "T11-T12", "T10-T11", "T9-T10", "T8-T9",
];
const VERTEBRAE_FROM_SACRUM: [&str; 10] = [
    "L5", "L4", "L3", "L2", "L1", "T12", "T11", "T10", "T9", "T8",
];

#[derive(Debug, Clone, Serialize)]
pub struct Disc {
    /// Level name ("L4-L5"), counted from the sacrum.
    pub level: String,
    pub center_mm: Vec3,
    /// Unit direction of the spine axis at the disc (toward the feet), patient LPS.
    pub axis: Vec3,
    /// Angle of the disc plane from horizontal in the sagittal plane (degrees; positive
    /// when the disc's anterior edge is lower, as at L5-S1).
    pub tilt_deg: f64,
    /// Disc height at its centre (mm), when both endplates were found.
    pub height_mm: Option<f64>,
    pub confidence: f64,
    #[serde(skip)]
    pub response: f64,
    /// Position in the canonical stack (plane, row, column), for overlays.
    #[serde(skip)]
    pub canonical: [f64; 3],
}

#[derive(Debug, Clone, Serialize)]
pub struct Vertebra {
    pub name: String,
    pub center_mm: Vec3,
}

/// Result of localisation and labelling for one series.
#[derive(Debug, Clone, Serialize)]
pub struct Localization {
    /// All discs found, head to feet (thoracic ones included).
    pub discs: Vec<Disc>,
    pub vertebrae: Vec<Vertebra>,
    /// Left-right position of the spinal midline (patient x, mm).
    pub midline_x_mm: f64,
    /// Index of the canonical plane closest to the midline.
    pub midsagittal_plane: usize,
    pub sacrum_in_view: bool,
    /// Lumbar-type vertebrae above the sacrum, when the evidence allows counting them.
    pub lumbar_count: Option<u8>,
    pub labeling_warnings: Vec<String>,
    /// Sum of the chain's disc responses: compares contrasts on the same image.
    #[serde(skip)]
    pub chain_score: f64,
    /// The lower end of the chain is in doubt: fewer than five lumbar discs, or the
    /// lowest disc does not look lumbosacral (tilt, contrast, field of view, thickness).
    #[serde(skip)]
    pub lower_end_doubt: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LocalizeError {
    #[error("the volume could not be resampled to sagittal planes (degenerate geometry or size)")]
    Geometry,
    #[error("no intervertebral disc found")]
    NoDiscs,
    #[error("only {0} disc(s) found: too few to identify the levels")]
    TooFewDiscs(usize),
}

/// Grid spacing of the localisation stack (mm): discs are 6-15 mm thick.
pub const LOCALIZATION_PIXEL_MM: f64 = 1.5;
/// Sagittal plane spacing when an axial volume is resliced (mm).
pub const RESLICE_SPACING_MM: f64 = 2.0;

/// Everything localisation computed that later stages (foramina, overlays) reuse.
pub struct SpineModel {
    pub stack: CanonicalStack,
    /// Normalised planes (bias-corrected MR; scaled HU for CT).
    pub planes: Vec<Array2<f32>>,
    pub localization: Localization,
}

/// Range of disc tilts (degrees from horizontal, positive with the anterior edge lower)
/// that a lumbar disc can show in a sagittal plane.
const PLAUSIBLE_TILT_DEG: (f64, f64) = (-30.0, 60.0);

/// Localisation stacks are averaged into slabs about this thick (mm).
const SLAB_MM: f64 = 3.0;

/// Finds discs and vertebrae in a volume and names the levels. `expected` is the disc
/// contrast the series' header implies; for MR the opposite contrast is tried too and
/// kept when it gives a clearly better spine (header weightings are often wrong or
/// missing), with a warning saying so.
pub fn localize(
    volume: &Volume,
    expected: DiscContrast,
) -> Result<(SpineModel, Option<String>), LocalizeError> {
    let params = DiscParams::default();
    let full = canonical_stack(volume, LOCALIZATION_PIXEL_MM, RESLICE_SPACING_MM)
        .ok_or(LocalizeError::Geometry)?;
    let stack = full.slabs(SLAB_MM);
    let px = stack.pixel_mm;
    let planes = normalised_planes(
        &stack,
        volume.modality == Modality::CT,
        params.bias_sigma_mm,
    );
    let responses: Vec<PlaneResponse> = planes
        .par_iter()
        .map(|p| disc_responses(p, px, &params))
        .collect();
    let is_ct = volume.modality == Modality::CT;
    let evidence = Evidence {
        stack: &stack,
        all_responses: &responses,
        params: &params,
        is_ct,
        focus_x_mm: None,
    };
    // Discs are a midline structure. When the first pass leaves the lower end in doubt,
    // candidates are taken again from the planes through the vertebral bodies only
    // (around the midline the first pass found): bands in lateral planes (psoas, pelvis,
    // bowel) can blur the lower discs' positions and tilts until the chain cannot step
    // onto them. The second pass is kept when it resolves the doubt.
    let (loc, warning) = localize_pass(&planes, &evidence, expected)?;
    let (loc, warning) = if loc.lower_end_doubt {
        let focused = Evidence {
            focus_x_mm: Some(loc.midline_x_mm),
            ..evidence
        };
        match localize_pass(&planes, &focused, expected) {
            Ok(second) if !second.0.lower_end_doubt => second,
            _ => (loc, warning),
        }
    } else {
        (loc, warning)
    };
    Ok((
        SpineModel {
            stack,
            planes,
            localization: loc,
        },
        warning,
    ))
}

/// One localisation pass: the chain of the expected contrast and, on MR, of the
/// opposite one, keeping the more plausible spine.
fn localize_pass(
    planes: &[Array2<f32>],
    evidence: &Evidence,
    expected: DiscContrast,
) -> Result<(Localization, Option<String>), LocalizeError> {
    let first = chain_for(planes, evidence, expected);
    if evidence.is_ct {
        return first.map(|loc| (loc, None));
    }
    let other = match expected {
        DiscContrast::Darker => DiscContrast::Brighter,
        DiscContrast::Brighter => DiscContrast::Darker,
    };
    let second = chain_for(planes, evidence, other);
    let name = |c: DiscContrast| {
        if c == DiscContrast::Brighter {
            "brighter"
        } else {
            "darker"
        }
    };
    // Bodies and discs alternate, so a chain can also run through the bodies when the
    // contrast is taken the wrong way round; real discs are thin bands (their measured
    // height well under half the spacing), bodies are not.
    let plausibility = |l: &Localization| {
        let steps: Vec<f64> = l
            .discs
            .windows(2)
            .map(|w| dist(w[0].center_mm, w[1].center_mm))
            .collect();
        let mut sorted = steps.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(35.0);
        let thin = l
            .discs
            .iter()
            .filter(|d| d.height_mm.is_some_and(|h| h <= 0.4 * median))
            .count();
        // Lumbar discs in a sagittal plane are tilted between a little against the
        // lordosis and the sacral slope; bands steeply tilted the other way (the
        // anterior edge far higher) are pelvic or abdominal structures.
        let upright = l
            .discs
            .iter()
            .filter(|d| (PLAUSIBLE_TILT_DEG.0..=PLAUSIBLE_TILT_DEG.1).contains(&d.tilt_deg))
            .count();
        l.chain_score * (0.25 + thin as f64 / l.discs.len() as f64) * upright as f64
            / l.discs.len() as f64
    };
    let (loc, warning) = match (first, second) {
        (Ok(a), Ok(b)) if plausibility(&b) > 1.1 * plausibility(&a) => (
            b,
            Some(format!(
                "discs are {} than the vertebral bodies, unlike the series' stated weighting; localised with the contrast seen in the image",
                name(other)
            )),
        ),
        (Ok(a), _) => (a, None),
        (Err(_), Ok(b)) => (
            b,
            Some(format!(
                "discs were only found as {} than the bodies, unlike the series' stated weighting",
                name(other)
            )),
        ),
        (Err(e), Err(_)) => return Err(e),
    };
    Ok((loc, warning))
}

/// Disc chain and labels for one contrast.
/// Disc candidates of one contrast: local maxima of the plane-weighted composite
/// response. Returns the candidates (strongest first) and the plane weights.
fn contrast_candidates(
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

fn chain_for(
    planes: &[Array2<f32>],
    evidence: &Evidence,
    contrast: DiscContrast,
) -> Result<Localization, LocalizeError> {
    let Evidence {
        stack,
        all_responses,
        params,
        focus_x_mm,
        ..
    } = *evidence;
    let px = stack.pixel_mm;
    let responses: Vec<&(Array2<f32>, Array2<[f32; 2]>)> =
        all_responses.iter().map(|r| r.get(contrast)).collect();
    let (cands, weights) = contrast_candidates(stack, all_responses, contrast, params, focus_x_mm)?;
    let mut top: Vec<f64> = cands.iter().map(|c| c.response).collect();
    top.truncate(8);
    top.sort_by(f64::total_cmp);
    let node_cost = 0.3 * top[top.len() / 2];
    let mid_plane_image = midline_image(planes, &weights);
    // Discs lie across one column of vertebral bodies: once a first chain gives the
    // typical body (core brightness and texture), steps whose segment does not look
    // like that body cost extra, so the chain stays in the column instead of running
    // on through bowel, prevertebral fat or pelvic structures.
    let first = best_chain(&cands, px, params, node_cost);
    let cores: Vec<(f64, f64)> = first
        .windows(2)
        .filter_map(|w| body_core(&mid_plane_image, &cands[w[0]], &cands[w[1]], px))
        .collect();
    let chain = match BodyReference::from_cores(&cores) {
        Some(body) => best_chain_with(&cands, px, params, node_cost, &|i, j| {
            body_core(&mid_plane_image, &cands[i], &cands[j], px)
                .map(|core| BODY_COST * node_cost * body.oddness(core))
        }),
        None => first,
    };
    for (i, c) in cands.iter().enumerate() {
        tracing::debug!(
            "{contrast:?} candidate {i}: row {:.0} col {:.0} ({:.0} mm, {:.0} mm) normal ({:.2}, {:.2}) response {:.4}{}",
            c.r,
            c.c,
            c.r * px,
            c.c * px,
            c.normal[0],
            c.normal[1],
            c.response,
            if chain.contains(&i) { " [chain]" } else { "" }
        );
    }
    if chain.len() < 2 {
        return Err(LocalizeError::TooFewDiscs(chain.len()));
    }
    let mut picked: Vec<(Candidate, DiscContrast)> =
        chain.iter().map(|&i| (cands[i], contrast)).collect();
    let mut notes = Vec::new();
    trim_non_vertebral(&mut picked, &mid_plane_image, px, &mut notes);
    refine_lumbosacral(&mut picked, evidence, &cands, contrast, &mut notes);

    // Midline: response-weighted plane position of the chain's discs.
    let plane_of = |r: usize, c: usize| -> f64 {
        let (mut sw, mut sk) = (0.0, 0.0);
        let vals: Vec<f64> = responses.iter().map(|rn| rn.0[[r, c]] as f64).collect();
        let vmax = vals.iter().fold(0.0f64, |m, v| m.max(*v));
        for (k, v) in vals.iter().enumerate() {
            if *v >= 0.3 * vmax {
                sw += v;
                sk += v * k as f64;
            }
        }
        if sw > 0.0 {
            sk / sw
        } else {
            (responses.len() as f64 - 1.0) / 2.0
        }
    };
    let median_response = {
        let mut v: Vec<f64> = picked.iter().map(|(c, _)| c.response).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut discs: Vec<Disc> = picked
        .iter()
        .map(|(cd, disc_contrast)| {
            let k = plane_of(cd.r as usize, cd.c as usize);
            let axis = add(
                scale(stack.down, cd.normal[0]),
                scale(stack.back, cd.normal[1]),
            );
            let tilt_deg = cd.normal[1].atan2(cd.normal[0]).to_degrees();
            let height_mm = disc_height(&mid_plane_image, cd, px, *disc_contrast);
            Disc {
                level: String::new(),
                center_mm: stack.to_lps(k, cd.r, cd.c),
                axis,
                tilt_deg,
                height_mm,
                confidence: (cd.response / median_response).min(1.0),
                response: cd.response,
                canonical: [k, cd.r, cd.c],
            }
        })
        .collect();
    let mut ks: Vec<f64> = discs.iter().map(|d| d.canonical[0]).collect();
    ks.sort_by(f64::total_cmp);
    let mid_k = ks[ks.len() / 2];
    let midsagittal_plane = mid_k.round().clamp(0.0, (stack.dim().0 - 1) as f64) as usize;
    let midline_x_mm = stack.to_lps(mid_k, 0.0, 0.0)[0];

    let mut warnings = notes;
    let (sacrum_in_view, mut label_factor) = check_sacrum(&discs, stack, &mut warnings);
    // A lowest disc found only with the opposite contrast is a plausible but unproven
    // lumbosacral disc: the whole count rests on it.
    if picked.last().is_some_and(|(_, c)| *c != contrast) {
        label_factor *= 0.5;
    }
    let steps: Vec<f64> = discs
        .windows(2)
        .map(|w| dist(w[0].center_mm, w[1].center_mm))
        .collect();
    let lumbar_count = count_lumbar(&discs, &steps, &mut warnings);
    if thin_lowest_disc(&discs, &mut warnings) {
        label_factor *= 0.6;
    }
    let transitional = lumbar_count.is_some_and(|n| n != 5);
    let xs: Vec<f64> = discs.iter().rev().take(5).map(|d| d.center_mm[0]).collect();
    let x_range =
        xs.iter().fold(f64::MIN, |m, v| m.max(*v)) - xs.iter().fold(f64::MAX, |m, v| m.min(*v));
    if x_range > 12.0 {
        warnings.push(format!(
            "lumbar discs lie up to {x_range:.0} mm apart left-right: scoliosis or strong rotation; labels and foramina are less reliable"
        ));
    }
    let n = discs.len();
    for (from_bottom, d) in discs.iter_mut().rev().enumerate() {
        d.level = NAMES_FROM_SACRUM
            .get(from_bottom)
            .map_or_else(|| "?".to_string(), |s| s.to_string());
        let mut conf = d.confidence * label_factor;
        if transitional {
            conf *= 0.5;
        }
        if x_range > 12.0 {
            conf *= 0.8;
        }
        d.confidence = (conf * 100.0).round() / 100.0;
    }
    let lumbar_found = n.min(5);
    if lumbar_found < 5 {
        warnings.push(format!(
            "only {lumbar_found} of the 5 lumbar levels are in the field of view (or were found)"
        ));
    }
    for d in &discs {
        tracing::debug!(
            "{contrast:?} disc {}: z {:.1} response {:.4} height {:?} tilt {:.1}",
            d.level,
            d.center_mm[2],
            d.response,
            d.height_mm,
            d.tilt_deg
        );
    }
    let vertebrae = vertebrae(&discs, &steps, sacrum_in_view);
    Ok(Localization {
        discs,
        vertebrae,
        midline_x_mm,
        midsagittal_plane,
        sacrum_in_view,
        lumbar_count,
        labeling_warnings: warnings,
        lower_end_doubt: label_factor < 1.0 || lumbar_found < 5,
        chain_score: picked
            .iter()
            .filter(|(_, c)| *c == contrast)
            .map(|(c, _)| c.response)
            .sum(),
    })
}

/// Mean and standard deviation of the image in a box around the middle of the segment
/// between two discs (the vertebral body's core: ±6 mm along the axis, ±10 mm across).
fn body_core(img: &Array2<f32>, a: &Candidate, b: &Candidate, px: f64) -> Option<(f64, f64)> {
    let (h, w) = img.dim();
    let (mr, mc) = ((a.r + b.r) / 2.0, (a.c + b.c) / 2.0);
    let n = [
        (a.normal[0] + b.normal[0]) / 2.0,
        (a.normal[1] + b.normal[1]) / 2.0,
    ];
    let t = [-n[1], n[0]];
    let mut v = Vec::new();
    for i in -6..=6 {
        for j in -10..=10 {
            let (u, s) = (i as f64 / px, j as f64 / px);
            let (r, c) = (
                (mr + u * n[0] + s * t[0]).round(),
                (mc + u * n[1] + s * t[1]).round(),
            );
            if r >= 0.0 && c >= 0.0 && (r as usize) < h && (c as usize) < w {
                v.push(img[[r as usize, c as usize]] as f64);
            }
        }
    }
    if v.len() < 50 {
        return None;
    }
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
    Some((mean, var.sqrt()))
}

/// Largest extra cost of a step through a segment unlike the chain's bodies, in units
/// of the per-disc cost.
const BODY_COST: f64 = 3.0;

/// The typical vertebral body of a chain: median core brightness and texture, and how
/// much the core brightness varies between bodies.
struct BodyReference {
    mean: f64,
    sd: f64,
    spread: f64,
}

impl BodyReference {
    fn from_cores(cores: &[(f64, f64)]) -> Option<BodyReference> {
        if cores.len() < 3 {
            return None;
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let mean = median(cores.iter().map(|c| c.0).collect());
        let sd = median(cores.iter().map(|c| c.1).collect());
        let spread =
            median(cores.iter().map(|c| (c.0 - mean).abs()).collect()).max(0.05 * mean.abs());
        Some(BodyReference { mean, sd, spread })
    }

    /// 0 for a body-like core, rising to 1 for one whose brightness or texture is well
    /// outside the chain's bodies (the limits `trim_non_vertebral` uses mark 0.5).
    fn oddness(&self, (mean, sd): (f64, f64)) -> f64 {
        let by_mean = (mean - self.mean).abs() / (4.0 * self.spread + 0.15 * self.mean.abs());
        let by_texture = sd / (2.5 * self.sd.max(1e-6));
        (by_mean.max(by_texture) - 0.5).clamp(0.0, 1.0)
    }
}

/// Drops discs from the lower end of the chain while the segment above them does not
/// look like a vertebral body: the chain can run on through pelvic structures, whose
/// "bodies" differ in brightness from the vertebrae above or are far less uniform.
fn trim_non_vertebral(
    picked: &mut Vec<(Candidate, DiscContrast)>,
    img: &Array2<f32>,
    px: f64,
    notes: &mut Vec<String>,
) {
    let cores: Vec<Option<(f64, f64)>> = picked
        .windows(2)
        .map(|w| body_core(img, &w[0].0, &w[1].0, px))
        .collect();
    let upper: Vec<(f64, f64)> = cores
        .iter()
        .take(cores.len().div_ceil(2))
        .flatten()
        .copied()
        .collect();
    if upper.len() < 2 {
        return;
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ref_mean = median(upper.iter().map(|c| c.0).collect());
    let ref_sd = median(upper.iter().map(|c| c.1).collect());
    let spread =
        median(upper.iter().map(|c| (c.0 - ref_mean).abs()).collect()).max(0.05 * ref_mean.abs());
    let mut dropped = 0;
    while picked.len() > 3 {
        let k = picked.len() - 2;
        let Some((mean, sd)) = cores[k] else { break };
        let odd_mean = (mean - ref_mean).abs() > 4.0 * spread + 0.15 * ref_mean.abs();
        // Smoothed slabs can make bodies almost noise-free: texture counts as odd only
        // above a floor tied to the brightness (sclerosis next to a collapsed disc
        // roughens a body without making it non-vertebral).
        let odd_texture = sd > 2.5 * ref_sd.max(0.05 * ref_mean.abs()).max(1e-6);
        tracing::debug!(
            "trim: segment {k} core mean {mean:.3} sd {sd:.3}; reference mean {ref_mean:.3} sd {ref_sd:.3} spread {spread:.3}"
        );
        if !(odd_mean || odd_texture) {
            break;
        }
        picked.pop();
        dropped += 1;
    }
    if dropped > 0 {
        notes.push(format!(
            "{dropped} band(s) at the lower end are not separated by vertebra-like bone and were not taken as discs"
        ));
    }
}

/// The image evidence shared by the chain-building steps of one series.
#[derive(Clone, Copy)]
struct Evidence<'a> {
    stack: &'a CanonicalStack,
    all_responses: &'a [PlaneResponse],
    params: &'a DiscParams,
    is_ct: bool,
    /// Patient x (mm) of the spine's midline once known: candidates then come from the
    /// planes within [`FOCUS_HALF_WIDTH_MM`] of it.
    focus_x_mm: Option<f64>,
}

/// Half the left-right extent of the planes through the vertebral bodies that carry
/// disc evidence (lumbar bodies are 40-50 mm wide).
const FOCUS_HALF_WIDTH_MM: f64 = 20.0;

/// Corrects the lower end of the chain, where the lumbosacral disc differs most from
/// the others: a degenerated L5-S1 disc can show the opposite contrast (dark on T2)
/// and be missed, and an S1-S2 remnant below L5-S1 can be taken for a mobile disc.
fn refine_lumbosacral(
    picked: &mut Vec<(Candidate, DiscContrast)>,
    evidence: &Evidence,
    own: &[Candidate],
    contrast: DiscContrast,
    notes: &mut Vec<String>,
) {
    let Evidence {
        stack,
        all_responses,
        params,
        is_ct,
        focus_x_mm,
    } = *evidence;
    let px = stack.pixel_mm;
    let tilt = |c: &Candidate| c.normal[1].atan2(c.normal[0]).to_degrees();
    let step_mm =
        |a: &Candidate, b: &Candidate| ((b.r - a.r).powi(2) + (b.c - a.c).powi(2)).sqrt() * px;
    let median_of = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let median_response = median_of(picked.iter().map(|(c, _)| c.response).collect());
    // The lumbosacral disc is the most tilted mobile disc (sacral slope). Bands further
    // down (sacral segments, pelvic structures) are not mobile discs: the chain ends at
    // the first disc, from the top, whose tilt comes within 6° of the steepest one.
    let steepest = picked.iter().map(|(c, _)| tilt(c)).fold(f64::MIN, f64::max);
    if steepest >= 15.0
        && let Some(j) = picked
            .iter()
            .position(|(c, _)| tilt(c) >= (steepest - 6.0).max(15.0))
        && j + 1 < picked.len()
        && j >= 1
    {
        let dropped = picked.len() - 1 - j;
        notes.push(format!(
            "{dropped} band(s) below the most tilted disc ({:.0}°) taken for sacral segments or pelvic structures, not mobile discs",
            tilt(&picked[j].0)
        ));
        picked.truncate(j + 1);
        // The steepest disc is the lumbosacral one: nothing to search below it.
        return;
    }
    // An S1-S2 remnant: steeper than a lumbosacral disc above it, and weaker.
    if picked.len() >= 3 {
        let n = picked.len();
        let (low, prev) = (&picked[n - 1].0, &picked[n - 2].0);
        if tilt(prev) >= 22.0
            && tilt(low) - tilt(prev) >= 6.0
            && low.response < 0.75 * median_response
        {
            notes.push(format!(
                "a weak band {:.0}° steeper than the disc above it was taken for the S1-S2 remnant, not a mobile disc",
                tilt(low) - tilt(prev)
            ));
            picked.pop();
            return;
        }
    }
    // A missing lumbosacral disc: the lowest disc found is not tilted like one, and one
    // vertebra further down there is a band of either contrast.
    let (low, _) = picked[picked.len() - 1];
    if tilt(&low) >= 30.0 || picked.len() < 2 {
        return;
    }
    let steps: Vec<f64> = picked
        .windows(2)
        .map(|w| step_mm(&w[0].0, &w[1].0))
        .collect();
    let step = median_of(steps);
    let other = match contrast {
        DiscContrast::Darker => DiscContrast::Brighter,
        DiscContrast::Brighter => DiscContrast::Darker,
    };
    // On CT the opposite contrast is cortical bone (endplates), never a disc.
    let others = if is_ct {
        Vec::new()
    } else {
        contrast_candidates(stack, all_responses, other, params, focus_x_mm)
            .map(|(c, _)| c)
            .unwrap_or_default()
    };
    let reference = |set: &[Candidate]| median_of(set.iter().take(8).map(|c| c.response).collect());
    let (ref_own, ref_other) = (reference(own), reference(&others));
    let best = own
        .iter()
        .map(|c| (c, contrast, c.response / ref_own.max(1e-12)))
        .chain(
            others
                .iter()
                .map(|c| (c, other, c.response / ref_other.max(1e-12))),
        )
        .filter(|(c, _, rel)| {
            // One (possibly wedge-shaped, short) vertebra below, roughly along the axis.
            let d = [(c.r - low.r) * px, (c.c - low.c) * px];
            let len = (d[0] * d[0] + d[1] * d[1]).sqrt();
            let along = (d[0] * low.normal[0] + d[1] * low.normal[1]) / len.max(1e-9);
            let tilt_gain = tilt(c) - tilt(&low);
            (0.4 * step..=1.3 * step).contains(&len)
                && along >= 50f64.to_radians().cos()
                && *rel >= 0.3
                && (0.0..=45.0).contains(&tilt_gain)
                && tilt(c) >= 12.0
        })
        .max_by(|a, b| a.2.total_cmp(&b.2));
    tracing::debug!(
        "rescue below {:?}: step {step:.1} mm, tilt {:.1}, best {:?}",
        (low.r, low.c),
        tilt(&low),
        best.map(|(c, k, rel)| (c.r, c.c, tilt(c), k, rel, step_mm(&low, c)))
    );
    if let Some((c, found_contrast, _)) = best {
        if found_contrast != contrast {
            notes.push(format!(
                "the lowest disc appears with the opposite contrast to the others ({}): degenerated disc?",
                if found_contrast == DiscContrast::Darker { "darker than bone" } else { "brighter than bone" }
            ));
        }
        let mut c = *c;
        // Its response is on another scale; rank it as a typical disc of this chain.
        c.response = c.response.min(median_response);
        picked.push((c, found_contrast));
    }
}

fn dist(a: Vec3, b: Vec3) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// Weighted mean of the normalised planes around the midline, for profiles.
fn midline_image(planes: &[Array2<f32>], weights: &[f64]) -> Array2<f32> {
    let mut acc = Array2::<f32>::zeros(planes[0].dim());
    let mut total = 0.0f32;
    for (p, w) in planes.iter().zip(weights) {
        if *w >= 0.25 {
            acc.scaled_add(*w as f32, p);
            total += *w as f32;
        }
    }
    if total > 0.0 {
        acc /= total;
    }
    acc
}

/// Disc height along its normal: distance between the strongest intensity transitions
/// (endplates) on either side of the centre, on a profile averaged across ±5 mm.
fn disc_height(img: &Array2<f32>, cd: &Candidate, px: f64, contrast: DiscContrast) -> Option<f64> {
    let (h, w) = img.dim();
    let n = cd.normal;
    let t = [-n[1], n[0]];
    let step_mm = 0.25;
    let half_mm = 14.0;
    let m = (half_mm / step_mm) as i64;
    let sample = |r: f64, c: f64| -> Option<f32> {
        if r < 0.0 || c < 0.0 || r > (h - 1) as f64 || c > (w - 1) as f64 {
            return None;
        }
        let (r0, c0) = (r.floor() as usize, c.floor() as usize);
        let (r1, c1) = ((r0 + 1).min(h - 1), (c0 + 1).min(w - 1));
        let (fr, fc) = ((r - r0 as f64) as f32, (c - c0 as f64) as f32);
        Some(
            (img[[r0, c0]] * (1.0 - fc) + img[[r0, c1]] * fc) * (1.0 - fr)
                + (img[[r1, c0]] * (1.0 - fc) + img[[r1, c1]] * fc) * fr,
        )
    };
    let mut profile = Vec::with_capacity((2 * m + 1) as usize);
    for i in -m..=m {
        let u = i as f64 * step_mm / px;
        let mut acc = 0.0f32;
        let mut cnt = 0;
        for j in -4..=4 {
            let v = j as f64 * 1.25 / px;
            if let Some(x) = sample(cd.r + u * n[0] + v * t[0], cd.c + u * n[1] + v * t[1]) {
                acc += x;
                cnt += 1;
            }
        }
        if cnt == 0 {
            return None;
        }
        profile.push(acc / cnt as f32);
    }
    let sign = if contrast == DiscContrast::Darker {
        1.0
    } else {
        -1.0
    };
    // Derivative over ±0.75 mm.
    let d = 3usize;
    let deriv: Vec<f32> = (0..profile.len())
        .map(|i| {
            let (a, b) = (i.saturating_sub(d), (i + d).min(profile.len() - 1));
            sign * (profile[b] - profile[a])
        })
        .collect();
    let centre = m as usize;
    let min_half = (1.5 / step_mm) as usize;
    // Upper endplate: intensity falls into the disc (negative derivative for dark discs).
    let upper =
        (0..centre.saturating_sub(min_half)).min_by(|&a, &b| deriv[a].total_cmp(&deriv[b]))?;
    let lower =
        (centre + min_half..profile.len()).max_by(|&a, &b| deriv[a].total_cmp(&deriv[b]))?;
    if deriv[upper] >= 0.0 || deriv[lower] <= 0.0 {
        return None;
    }
    Some((lower - upper) as f64 * step_mm)
}

/// Checks that the lowest disc sits on a sacrum: enough field of view below it and a
/// sacral-slope tilt. Returns whether the sacrum is in view and a confidence factor for
/// the labels.
fn check_sacrum(discs: &[Disc], stack: &CanonicalStack, warnings: &mut Vec<String>) -> (bool, f64) {
    let lowest = discs.last().expect("at least two discs");
    let (_, h, w) = stack.dim();
    let px = stack.pixel_mm;
    // Distance from the lowest disc to the edge of the image along the spine axis.
    let n = [lowest.axis[0], lowest.axis[1], lowest.axis[2]];
    let (nr, nc) = (
        n[0] * stack.down[0] + n[1] * stack.down[1] + n[2] * stack.down[2],
        n[0] * stack.back[0] + n[1] * stack.back[1] + n[2] * stack.back[2],
    );
    let [_, r, c] = lowest.canonical;
    let mut below_mm = 0.0;
    while below_mm < 60.0 {
        let (rr, cc) = (r + nr * below_mm / px, c + nc * below_mm / px);
        if rr < 0.0 || cc < 0.0 || rr >= h as f64 || cc >= w as f64 {
            break;
        }
        below_mm += 1.0;
    }
    let mut factor: f64 = 1.0;
    let in_view = below_mm >= 18.0;
    if !in_view {
        warnings.push(format!(
            "sacrum not in the field of view (image ends {below_mm:.0} mm below the lowest disc): levels are counted from the lowest visible disc and may be shifted"
        ));
        factor = 0.3;
    }
    // The lumbosacral disc is the most tilted one (sacral slope ~25-50°).
    let tilt = lowest.tilt_deg;
    let max_other = discs[..discs.len() - 1]
        .iter()
        .map(|d| d.tilt_deg)
        .fold(f64::MIN, f64::max);
    if in_view && tilt < 12.0 {
        warnings.push(format!(
            "the lowest disc is nearly horizontal ({tilt:.0}°), unlike a lumbosacral disc: the sacrum may not have been recognised; labels uncertain"
        ));
        factor = factor.min(0.5);
    } else if in_view && tilt + 3.0 < max_other {
        warnings.push(format!(
            "the lowest disc ({tilt:.0}°) is less tilted than a disc above it ({max_other:.0}°): check the lumbosacral level"
        ));
        factor = factor.min(0.7);
    }
    (in_view, factor)
}

/// Counts lumbar-type vertebrae above the sacrum from the spacing of the discs (a
/// vertebra's body plus disc height): thoracic vertebrae are shorter and their discs
/// thinner, so the spacing drops at the thoracolumbar junction. The junction is the
/// split of the spacings (from the sacrum up) that best separates a taller lower group
/// from a shorter upper one; it is trusted only when the drop is clear (≥ 10%) and
/// both groups have at least two vertebrae. Returns `None` when it cannot be told.
fn count_lumbar(discs: &[Disc], steps: &[f64], warnings: &mut Vec<String>) -> Option<u8> {
    let n = discs.len();
    if n < 6 {
        return None;
    }
    // Vertebra i (from the sacrum up) spans steps[n - 2 - i].
    let from_bottom: Vec<f64> = (0..n - 1).map(|i| steps[n - 2 - i]).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let mut best: Option<(usize, f64)> = None;
    for k in 2..=from_bottom.len() - 2 {
        let (lower, upper) = (mean(&from_bottom[..k]), mean(&from_bottom[k..]));
        let drop = (lower - upper) / lower;
        if best.is_none_or(|(_, d)| drop > d) {
            best = Some((k, drop));
        }
    }
    let (k, drop) = best?;
    if drop < 0.10 {
        return None;
    }
    // Spacing also grows gently down a normal lumbar spine, so a split elsewhere than
    // above the fifth vertebra must be clearly better than that one to be believed; a
    // split leaving fewer than four or more than six lumbar-type vertebrae is not an
    // anatomical variant but noise in the spacings.
    if k != 5 {
        // Squared residuals of the two-group model split above vertebra `j`.
        let sse = |j: usize| {
            let (lower, upper) = (&from_bottom[..j], &from_bottom[j..]);
            let (ml, mu) = (mean(lower), mean(upper));
            lower.iter().map(|v| (v - ml).powi(2)).sum::<f64>()
                + upper.iter().map(|v| (v - mu).powi(2)).sum::<f64>()
        };
        // Without two vertebrae above the fifth, the usual count cannot be ruled out.
        let clearly_better = 5 <= from_bottom.len() - 2 && sse(k) <= 0.5 * sse(5);
        if !(4..=6).contains(&k) || !clearly_better {
            return None;
        }
        let kind = if k < 5 {
            "possible sacralised L5 (four lumbar vertebrae)"
        } else {
            "possible lumbarised S1 (six lumbar vertebrae)"
        };
        warnings.push(format!(
            "the vertebra spacing drops by {:.0}% above the {k}th vertebra from the sacrum: {k} lumbar-type vertebrae, {kind}; transitional anatomy makes level names uncertain (counted from the sacrum)",
            100.0 * drop
        ));
    }
    Some(k as u8)
}

/// A lowest disc far thinner than the lumbar discs above it is a rudimentary disc
/// (transitional anatomy), the S1-S2 junction taken for L5-S1, or a collapsed L5-S1:
/// the count from the sacrum rests on it, so it is said. Returns whether it was.
fn thin_lowest_disc(discs: &[Disc], warnings: &mut Vec<String>) -> bool {
    let mut above: Vec<f64> = discs
        .iter()
        .rev()
        .skip(1)
        .take(4)
        .filter_map(|d| d.height_mm)
        .collect();
    let Some(lowest) = discs.last().and_then(|d| d.height_mm) else {
        return false;
    };
    if above.len() < 2 {
        return false;
    }
    above.sort_by(f64::total_cmp);
    let median = above[above.len() / 2];
    if lowest >= 0.45 * median {
        return false;
    }
    warnings.push(format!(
        "the lowest disc is far thinner than the discs above ({lowest:.1} mm against {median:.1} mm): a rudimentary disc (transitional anatomy), the S1-S2 junction, or a collapsed L5-S1; check the lumbosacral level"
    ));
    true
}

fn vertebrae(discs: &[Disc], steps: &[f64], sacrum_in_view: bool) -> Vec<Vertebra> {
    let n = discs.len();
    let mut out = Vec::new();
    let median_step = {
        let mut v = steps.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    // Above the top disc: the vertebra whose lower endplate it touches.
    let top = &discs[0];
    let above = add(top.center_mm, scale(top.axis, -0.5 * median_step));
    if let Some(name) = VERTEBRAE_FROM_SACRUM.get(n - 1) {
        out.push(Vertebra {
            name: name.to_string(),
            center_mm: above,
        });
    }
    for j in 0..n - 1 {
        let from_bottom = n - 2 - j;
        if let Some(name) = VERTEBRAE_FROM_SACRUM.get(from_bottom) {
            let (a, b) = (discs[j].center_mm, discs[j + 1].center_mm);
            out.push(Vertebra {
                name: name.to_string(),
                center_mm: scale(add(a, b), 0.5),
            });
        }
    }
    if sacrum_in_view {
        let low = &discs[n - 1];
        out.push(Vertebra {
            name: "S1".into(),
            center_mm: add(low.center_mm, scale(low.axis, 0.45 * median_step)),
        });
    }
    // Head to feet, and only names that exist.
    out.sort_by(|a, b| b.center_mm[2].total_cmp(&a.center_mm[2]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::Geometry;
    use ndarray::Array3;

    /// A toy lumbar column on T1-like contrast: bright bodies 28 mm tall, dark discs
    /// 9 mm tall, every 37 mm, the lowest disc tilted 30° like a lumbosacral disc, a
    /// sacral block below it, soft tissue around. Returns the volume and the disc
    /// centres (z, head to feet).
    fn toy_spine() -> (Volume, Vec<f64>) {
        let (n, rows, cols) = (9usize, 330usize, 200usize);
        // Rows run down from z = 165, columns run posterior from y = -100; 1 mm pixels.
        let g = Geometry::new(
            [-16.0, -100.0, 165.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, -1.0],
            [4.0, 1.0, 1.0],
            4.0,
        )
        .unwrap();
        let disc_z: Vec<f64> = (0..6).map(|i| 120.0 - 37.0 * i as f64).collect();
        let lowest = *disc_z.last().unwrap();
        let tilt = 30f64.to_radians();
        let voxels = Array3::from_shape_fn((n, rows, cols), |(_, r, c)| {
            let (z, y) = (165.0 - r as f64, -100.0 + c as f64);
            // Column of bodies 40 mm deep centred at y = 0.
            if y.abs() > 20.0 {
                return 300.0;
            }
            // Lumbosacral disc and sacrum: below a plane through the lowest disc tilted
            // 30° with its anterior edge lower (the sacral slope).
            let z_plane = lowest + (y * tilt.tan());
            if z < z_plane + 4.5 {
                return if z > z_plane - 4.5 { 250.0 } else { 650.0 };
            }
            if disc_z[..5].iter().any(|d| (z - d).abs() < 4.5) {
                250.0
            } else {
                650.0
            }
        });
        (
            Volume {
                voxels,
                geometry: g,
                modality: Modality::MR,
            },
            disc_z,
        )
    }

    /// Discs head to feet whose spacings, from the sacrum up, are `from_bottom`.
    fn discs_with_spacings(from_bottom: &[f64]) -> (Vec<Disc>, Vec<f64>) {
        let steps: Vec<f64> = from_bottom.iter().rev().copied().collect();
        let mut z = 0.0;
        let mut discs = vec![z];
        for s in &steps {
            z -= s;
            discs.push(z);
        }
        let discs = discs
            .into_iter()
            .map(|z| Disc {
                level: String::new(),
                center_mm: [0.0, 0.0, z],
                axis: [0.0, 0.0, -1.0],
                tilt_deg: 0.0,
                height_mm: Some(9.0),
                confidence: 1.0,
                response: 1.0,
                canonical: [0.0; 3],
            })
            .collect();
        (discs, steps)
    }

    #[test]
    fn lumbar_count_needs_a_clear_thoracolumbar_drop() {
        // Lumbar vertebrae ~35 mm apart, thoracic ~28 mm (a 20% drop).
        let cases: Vec<(Vec<f64>, Option<u8>)> = vec![
            // Five lumbar vertebrae, then three thoracic.
            (
                vec![36.0, 35.0, 34.0, 34.0, 33.0, 28.0, 27.5, 27.0],
                Some(5),
            ),
            // Four lumbar (sacralised L5): the drop is above the fourth.
            (
                vec![36.0, 35.0, 34.0, 33.5, 28.0, 27.5, 27.0, 27.0],
                Some(4),
            ),
            // A steady decrease gives no clearly better split than the usual one.
            (vec![37.0, 35.0, 33.0, 31.0, 29.0, 27.0, 25.0], Some(5)),
            // A drop above the second vertebra is noise, not two lumbar vertebrae.
            (vec![40.0, 39.0, 30.0, 31.0, 30.0, 31.0], None),
        ];
        for (spacings, expected) in cases {
            let (discs, steps) = discs_with_spacings(&spacings);
            let mut warnings = Vec::new();
            let got = count_lumbar(&discs, &steps, &mut warnings);
            assert_eq!(got, expected, "{spacings:?}: {warnings:?}");
            let transitional = warnings.iter().any(|w| w.contains("lumbar-type"));
            assert_eq!(
                transitional,
                expected.is_some_and(|k| k != 5),
                "{spacings:?}: {warnings:?}"
            );
        }
    }

    #[test]
    fn a_far_thinner_lowest_disc_is_said() {
        let (mut discs, _) = discs_with_spacings(&[35.0, 35.0, 34.0, 33.0]);
        let mut warnings = Vec::new();
        assert!(!thin_lowest_disc(&discs, &mut warnings), "{warnings:?}");
        // An S1-S2 remnant or rudimentary disc of 3.5 mm under discs of 9 mm.
        discs.last_mut().unwrap().height_mm = Some(3.5);
        assert!(thin_lowest_disc(&discs, &mut warnings));
        assert!(warnings[0].contains("far thinner"), "{warnings:?}");
        // Merely thinner (6 mm against 9 mm) is common at L5-S1 and not said.
        discs.last_mut().unwrap().height_mm = Some(6.0);
        assert!(!thin_lowest_disc(&discs, &mut Vec::new()));
    }

    #[test]
    fn names_discs_counting_up_from_the_sacrum() {
        let (v, disc_z) = toy_spine();
        let (model, _) = localize(&v, DiscContrast::Darker).unwrap();
        let loc = &model.localization;
        let names: Vec<&str> = loc.discs.iter().map(|d| d.level.as_str()).collect();
        assert_eq!(
            names,
            vec!["T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"],
            "{loc:#?}"
        );
        for (d, z) in loc.discs.iter().zip(&disc_z) {
            assert!(
                (d.center_mm[2] - z).abs() < 4.0,
                "{} at z {:.1}, expected {z}",
                d.level,
                d.center_mm[2]
            );
            assert!(
                d.center_mm[1].abs() < 8.0,
                "{} off the column: y {:.1}",
                d.level,
                d.center_mm[1]
            );
        }
        let l5s1 = loc.discs.last().unwrap();
        assert!((l5s1.tilt_deg - 30.0).abs() < 8.0, "tilt {}", l5s1.tilt_deg);
        assert!(loc.sacrum_in_view);
        // The toy has no midline structure across slices: the midline is within the slab.
        assert!(
            (-16.0..=16.0).contains(&loc.midline_x_mm) || (-48.0..=0.0).contains(&loc.midline_x_mm)
        );
    }

    #[test]
    fn a_cut_off_sacrum_is_said_and_lowers_confidence() {
        let (mut v, _) = toy_spine();
        // Cut the image 3 mm below the lowest disc's centre: no sacrum in view.
        let keep = (165.0 - (120.0 - 37.0 * 5.0) + 3.0) as usize;
        v.voxels = v.voxels.slice(ndarray::s![.., ..keep, ..]).to_owned();
        let (model, _) = localize(&v, DiscContrast::Darker).unwrap();
        let loc = &model.localization;
        // Either the cut lumbosacral disc is found and the missing sacrum reported, or it
        // is not found and the lowest disc found is reported as not lumbosacral-looking.
        let said = loc.labeling_warnings.iter().any(|w| {
            w.contains("sacrum not in the field of view")
                || w.contains("unlike a lumbosacral disc")
                || w.contains("opposite contrast")
        });
        assert!(said, "{:?} {:#?}", loc.labeling_warnings, loc.discs);
        assert!(
            loc.discs.iter().all(|d| d.confidence <= 0.5 + 1e-9),
            "{loc:#?}"
        );
    }
}
