//! Neural foramen segmentation and measurement, left and right at every lumbar level.
//!
//! For each level found by [`crate::spine::levels`], every image plane on either side
//! of the midline within reach of the foramen is resampled in a frame aligned with the
//! disc ([`roi`]), and the foramen is segmented on it ([`segment`]). The planes that
//! pass through the foramen are those where a closed foramen is found: medial to the
//! pedicles the fat opens into the canal, lateral to them into the paraspinal space, so
//! the closed planes are the ones between the pedicle margins. Measurements follow
//! shared/domain.md: the per-plane area profile, the minimum area, and on the
//! minimum-area plane the height, the width at the disc mid-plane, the posterior disc
//! height, the fat fraction and the directions of perineural fat obliteration.

pub mod roi;
pub mod segment;

use ndarray::Array2;
use rayon::prelude::*;
use serde::Serialize;

use crate::spine::levels::{LUMBAR_LEVELS, Localization};
use crate::volume::Weighting;
use crate::volume::geometry::{add, cross, dot, norm, normalize, scale, sub};
use crate::volume::{Modality, Vec3, Volume};
use roi::{RoiFrame, SlicePlane, slice_planes};
use segment::{SegmentParams, SliceSegmentation, segment};

/// Thickness of the perineural fat between the root and the foramen boundary, in the
/// four directions of the sagittal image (mm); `None` in a direction where the walk from
/// the root centre leaves the image or meets root again before the boundary. Whether
/// that is "obliterated" is for `crate::grading` to say.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FatRim {
    pub superior: Option<f64>,
    pub inferior: Option<f64>,
    pub anterior: Option<f64>,
    pub posterior: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Left,
    Right,
}

impl Side {
    pub const BOTH: [Side; 2] = [Side::Left, Side::Right];
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }
}

/// The segmentation of one foramen on one plane, kept for overlays and mask output.
#[derive(Debug, Clone)]
pub struct SliceResult {
    pub plane: SlicePlane,
    pub roi: RoiFrame,
    pub seg: SliceSegmentation,
    /// Resampled image (foramen-bright convention), for overlays.
    pub image: Array2<f32>,
}

/// Everything measured for one level and side.
#[derive(Debug, Clone)]
pub struct ForamenResult {
    pub level: String,
    pub side: Side,
    /// Planes through the foramen, ordered by position.
    pub slices: Vec<SliceResult>,
    /// Index into `slices` of the minimum-area plane.
    pub min_slice: Option<usize>,
    pub min_area_mm2: Option<f64>,
    pub height_mm: Option<f64>,
    pub width_mm: Option<f64>,
    /// Ends of the measured height and width (patient LPS, mm), for overlays.
    pub height_line: Option<[Vec3; 2]>,
    pub width_line: Option<[Vec3; 2]>,
    pub posterior_disc_height_mm: Option<f64>,
    pub fat_fraction: Option<f64>,
    /// Perineural fat around the root; `None` when no root is seen.
    pub fat_rim: Option<FatRim>,
    pub root_area_mm2: Option<f64>,
    pub confidence: f64,
    pub confidence_notes: Vec<String>,
    pub reason: Option<String>,
}

/// What the caller knows about the series.
#[derive(Debug, Clone)]
pub struct ForamenInput<'a> {
    pub volume: &'a Volume,
    pub localization: &'a Localization,
    pub weighting: Option<Weighting>,
}

/// Region around a disc searched for its foramina, in units of the local disc spacing
/// `S`: posterior offset from the disc centre `a`, height above it `b`.
const ROI_A: (f64, f64) = (0.0, 1.25);
const ROI_B: (f64, f64) = (-0.65, 0.9);
/// Lateral reach of the search from the disc centre (fractions of `S`).
const LATERAL: (f64, f64) = (0.25, 1.0);
/// Positional prior of the foramen centre in the ROI (fractions of `S`) and its spread:
/// behind the posterior disc margin, level with the upper half of the disc.
const PRIOR: (f64, f64) = (0.5, 0.15);
const PRIOR_SIGMA: (f64, f64) = (0.25, 0.3);

/// How far from the disc row the foramen's front is looked for when measuring the
/// posterior disc height (fraction of the disc spacing).
const PDH_FRONT_REACH: f64 = 0.3;

/// Local anatomical scale: mean distance from a disc to its neighbours (mm).
fn disc_spacing(loc: &Localization, i: usize) -> f64 {
    let d = &loc.discs;
    let mut s = Vec::new();
    if i > 0 {
        s.push(norm(sub(d[i].center_mm, d[i - 1].center_mm)));
    }
    if i + 1 < d.len() {
        s.push(norm(sub(d[i + 1].center_mm, d[i].center_mm)));
    }
    if s.is_empty() {
        35.0
    } else {
        s.iter().sum::<f64>() / s.len() as f64
    }
}

/// Left-right offset (mm, along `normal`) of the mirror plane of the posterior elements
/// around a disc from the disc centre the level search reported. The foramina are
/// searched on either side of the midline, and a disc centre a few millimetres off to one
/// side shifts both search windows; the pedicles, canal and facets are close to
/// mirror-symmetric, so the plane about which the image best matches its mirror image is
/// taken as the midline. Sampled on a millimetre grid from the image alone.
fn midline_offset(v: &Volume, disc: &crate::spine::levels::Disc, s: f64, normal: Vec3) -> f64 {
    let up = scale(disc.axis, -1.0);
    let Some(up) = normalize(sub(up, scale(normal, dot(up, normal)))) else {
        return 0.0;
    };
    let mut back = cross(normal, up);
    if back[1] < 0.0 {
        back = scale(back, -1.0);
    }
    let (du, dvw) = (1.0, 1.5);
    let reach = (1.4 * s / du).round() as i64;
    let nu = (2 * reach + 1) as usize;
    let vs: Vec<f64> = (0..)
        .map(|k| -0.2 * s + k as f64 * dvw)
        .take_while(|&x| x <= 1.25 * s)
        .collect();
    let ws: Vec<f64> = (0..)
        .map(|k| -0.6 * s + k as f64 * dvw)
        .take_while(|&x| x <= 0.6 * s)
        .collect();
    // grid[u][k] over the (v, w) samples k.
    let grid: Vec<Vec<f32>> = (0..nu)
        .map(|iu| {
            let u = (iu as i64 - reach) as f64 * du;
            let mut col = Vec::with_capacity(vs.len() * ws.len());
            for &vv in &vs {
                for &ww in &ws {
                    let p = add(
                        disc.center_mm,
                        add(scale(normal, u), add(scale(back, vv), scale(up, ww))),
                    );
                    col.push(roi::sample_at(v, p));
                }
            }
            col
        })
        .collect();
    // Mirror about half-index m/2 (0.5 mm steps): columns m - k and k.
    let u_min = (3.0 / du).round() as i64;
    let u_max = (1.0 * s / du).round() as i64;
    let shift_max = (0.4 * s / du * 2.0).round() as i64;
    let mut best = (f64::NEG_INFINITY, 0i64);
    for m2 in -shift_max..=shift_max {
        // Mirror centre in grid units: c = m2 / 2.
        let (mut n, mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0f64, 0.0, 0.0, 0.0, 0.0, 0.0);
        for d in u_min..=u_max {
            // Pairs c - d' and c + d' with c = m2/2: indices (m2 - t) and t, t = ceil.
            let hi = (m2 + 2 * d + 1).div_euclid(2);
            let lo = m2 - hi;
            let (ih, il) = (hi + reach, lo + reach);
            if ih < 0 || il < 0 || ih as usize >= nu || il as usize >= nu {
                continue;
            }
            for (a, b) in grid[ih as usize].iter().zip(&grid[il as usize]) {
                if a.is_finite() && b.is_finite() {
                    let (a, b) = (*a as f64, *b as f64);
                    n += 1.0;
                    sa += a;
                    sb += b;
                    saa += a * a;
                    sbb += b * b;
                    sab += a * b;
                }
            }
        }
        if n < 100.0 {
            continue;
        }
        let cov = sab / n - sa / n * sb / n;
        let va = saa / n - (sa / n).powi(2);
        let vb = sbb / n - (sb / n).powi(2);
        let r = cov / (va * vb).sqrt().max(1e-12);
        if r > best.0 {
            best = (r, m2);
        }
    }
    if best.0.is_finite() {
        best.1 as f64 * 0.5 * du
    } else {
        0.0
    }
}

struct Job {
    level: usize,
    side: Side,
    plane: SlicePlane,
}

/// Segments and measures every foramen of the lumbar levels found.
pub fn measure_foramina(input: &ForamenInput) -> Vec<ForamenResult> {
    let loc = input.localization;
    let v = input.volume;
    let is_ct = v.modality == Modality::CT;
    let planes = slice_planes(v);
    // Disc centres moved onto the midline of the posterior elements (see
    // `midline_offset`); the spacing stays that of the level search. The midline is
    // smooth along the spine, so each disc takes the median of the midlines found at it
    // and its two neighbours either side (one level's symmetry can lock onto the wrong
    // structure when its disc centre is far off).
    let discs: Vec<crate::spine::levels::Disc> = match planes.first() {
        Some(p0) => {
            let n = p0.normal;
            let mids: Vec<f64> = loc
                .discs
                .par_iter()
                .enumerate()
                .map(|(i, d)| dot(d.center_mm, n) + midline_offset(v, d, disc_spacing(loc, i), n))
                .collect();
            loc.discs
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let mut near: Vec<f64> =
                        mids[i.saturating_sub(2)..(i + 3).min(mids.len())].to_vec();
                    near.sort_by(f64::total_cmp);
                    let m = near[near.len() / 2];
                    let mut d = d.clone();
                    d.center_mm = add(d.center_mm, scale(n, m - dot(d.center_mm, n)));
                    d
                })
                .collect()
        }
        None => loc.discs.clone(),
    };
    let mut jobs = Vec::new();
    let mut level_info = Vec::new();
    for name in LUMBAR_LEVELS {
        let Some(di) = loc.discs.iter().position(|d| d.level == name) else {
            level_info.push(None);
            continue;
        };
        let s = disc_spacing(loc, di);
        level_info.push(Some((di, s)));
        for plane in &planes {
            let d = &discs[di];
            let offset = dot(sub(plane.point, d.center_mm), plane.normal);
            if offset.abs() < LATERAL.0 * s || offset.abs() > LATERAL.1 * s {
                continue;
            }
            jobs.push(Job {
                level: level_info.len() - 1,
                side: if offset > 0.0 {
                    Side::Left
                } else {
                    Side::Right
                },
                plane: *plane,
            });
        }
    }
    let segs: Vec<Option<SliceResult>> = jobs
        .par_iter()
        .map(|job| {
            let (di, s) = level_info[job.level]?;
            let (roi, image) = level_roi(&job.plane, &discs[di], s, v)?;
            let px = roi.pixel_mm;
            let params = SegmentParams {
                is_ct,
                pixel_mm: px,
                spacing_mm: s,
                prior_centre: ((ROI_B.1 - PRIOR.1) * s / px, (PRIOR.0 - ROI_A.0) * s / px),
                prior_sigma: (PRIOR_SIGMA.1 * s / px, PRIOR_SIGMA.0 * s / px),
            };
            let seg = segment(&image, &params)?;
            Some(SliceResult {
                plane: job.plane,
                roi,
                seg,
                image,
            })
        })
        .collect();

    // Segmented planes by level and side (moved, not copied: they carry images).
    let mut found: Vec<[Vec<SliceResult>; 2]> = (0..LUMBAR_LEVELS.len())
        .map(|_| [Vec::new(), Vec::new()])
        .collect();
    for (job, seg) in jobs.iter().zip(segs) {
        if let Some(r) = seg {
            found[job.level][(job.side == Side::Right) as usize].push(r);
        }
    }
    let mut results = Vec::new();
    for ((li, name), mut sides) in LUMBAR_LEVELS.iter().enumerate().zip(found) {
        let Some((di, s)) = level_info[li] else {
            for side in Side::BOTH {
                results.push(unmeasured(
                    name,
                    side,
                    "level not found in the field of view",
                ));
            }
            continue;
        };
        let disc = &discs[di];
        // The plane nearest the disc centre, for the posterior disc height (shared by
        // both sides: the level's grids are aligned across planes).
        let mid = planes
            .iter()
            .min_by(|a, b| {
                dot(sub(a.point, disc.center_mm), a.normal)
                    .abs()
                    .total_cmp(&dot(sub(b.point, disc.center_mm), b.normal).abs())
            })
            .and_then(|p| level_roi(p, disc, s, v))
            .map(|(_, image)| image);
        for side in Side::BOTH {
            let planes_here = std::mem::take(&mut sides[(side == Side::Right) as usize]);
            results.push(measure_one(
                name,
                side,
                planes_here,
                s,
                disc,
                mid.as_ref(),
                input,
            ));
        }
    }
    results
}

/// A foramen that could not be measured: no measurements, `indeterminate`, a reason.
pub fn unmeasured(level: &str, side: Side, reason: &str) -> ForamenResult {
    ForamenResult {
        level: level.to_string(),
        side,
        slices: Vec::new(),
        min_slice: None,
        min_area_mm2: None,
        height_mm: None,
        width_mm: None,
        height_line: None,
        width_line: None,
        posterior_disc_height_mm: None,
        fat_fraction: None,
        fat_rim: None,
        root_area_mm2: None,
        confidence: 0.0,
        confidence_notes: Vec::new(),
        reason: Some(reason.to_string()),
    }
}

fn measure_one(
    name: &str,
    side: Side,
    mut found: Vec<SliceResult>,
    s: f64,
    disc: &crate::spine::levels::Disc,
    mid: Option<&Array2<f32>>,
    input: &ForamenInput,
) -> ForamenResult {
    if found.is_empty() {
        return unmeasured(
            name,
            side,
            "no closed foramen found on the planes beside this disc",
        );
    }
    found.sort_by(|a, b| a.plane.position_mm.total_cmp(&b.plane.position_mm));
    // The planes through one foramen show overlapping regions (the ROI grids of a
    // level are aligned across planes); a closed fat region elsewhere (canal, between
    // transverse processes) does not overlap them. Keep the run of linked neighbouring
    // planes with the largest total score.
    let slices = overlapping_run(found);
    // Of those, the planes between the pedicle margins have bone right above and below
    // the foramen; planes beyond them show a partial-volume ghost or an open region.
    // Where the lower boundary is disc rather than pedicle on every plane (lordotic
    // levels, narrowed foramina), planes capped by the upper pedicle alone are used, with
    // lower confidence.
    let caps: Vec<(bool, bool)> = slices
        .iter()
        .map(|r| bounded_by_bone(r, input.volume.modality == Modality::CT))
        .collect();
    let both = caps.iter().any(|c| c.0 && c.1);
    let roof_only = !both && caps.iter().any(|c| c.0);
    if !both && !roof_only {
        return unmeasured(
            name,
            side,
            "no plane shows the foramen closed by the pedicles above and below",
        );
    }
    let slices: Vec<SliceResult> = slices
        .into_iter()
        .zip(caps)
        .filter(|(_, c)| c.0 && (c.1 || roof_only))
        .map(|(r, _)| r)
        .collect();
    // Thin planes (reformats, thin-slice series): the outermost plane at each end
    // straddles the pedicle margin, where the partial pedicle makes the region
    // unreliable; the minimum is taken over the planes between them.
    let thin = slices.len() >= 5
        && slices
            .windows(2)
            .all(|w| (w[1].plane.position_mm - w[0].plane.position_mm).abs() < 1.5);
    let range = if thin {
        1..slices.len() - 1
    } else {
        0..slices.len()
    };
    let Some((min_i, min_r)) = slices[range.clone()]
        .iter()
        .enumerate()
        .map(|(i, r)| (i + range.start, r))
        .min_by(|a, b| a.1.seg.area_mm2.total_cmp(&b.1.seg.area_mm2))
    else {
        return unmeasured(name, side, "no consistent foramen across planes");
    };
    let px = min_r.roi.pixel_mm;
    let mask = &min_r.seg.mask;
    let height = height_extent(mask);
    let i0 = min_r.roi.pixel_of(disc.center_mm).0.round();
    let width = width_extent(mask, px, i0);
    let height_line = height.map(|e| extent_ends(&min_r.roi, true, e));
    let width_line = width.map(|e| extent_ends(&min_r.roi, false, e));
    let height = height.map(|(_, a, b)| (b - a + 1) as f64 * px);
    let width = width.map(|(_, a, b)| (b - a + 1) as f64 * px);
    let pdh = posterior_disc_height(min_r, mid, i0, s);
    let t1 = input.volume.modality == Modality::MR && input.weighting != Some(Weighting::T2);
    let root_area = min_r.seg.root.iter().filter(|&&m| m).count() as f64 * px * px;
    let rim = fat_rim(&min_r.seg, px);
    let mut res = ForamenResult {
        level: name.to_string(),
        side,
        min_slice: Some(min_i),
        min_area_mm2: Some(min_r.seg.area_mm2),
        height_mm: height,
        width_mm: width,
        height_line,
        width_line,
        posterior_disc_height_mm: pdh,
        fat_fraction: t1.then(|| min_r.seg.fat_area_mm2 / min_r.seg.area_mm2.max(1e-9)),
        fat_rim: rim,
        root_area_mm2: Some(root_area),
        confidence: 1.0,
        confidence_notes: Vec::new(),
        reason: None,
        slices,
    };
    confidence(&mut res, disc, input);
    if roof_only {
        res.confidence = (res.confidence * 0.6 * 100.0).round() / 100.0;
        res.confidence_notes
            .push("no bone seen below the foramen (lower pedicle not identified)".into());
    }
    res
}

/// Fraction of the smaller of two masks covered by the other.
fn overlap(a: &Array2<bool>, b: &Array2<bool>) -> f64 {
    if a.dim() != b.dim() {
        return 0.0;
    }
    let (mut na, mut nb, mut both) = (0usize, 0usize, 0usize);
    ndarray::Zip::from(a).and(b).for_each(|&x, &y| {
        na += x as usize;
        nb += y as usize;
        both += (x && y) as usize;
    });
    both as f64 / na.min(nb).max(1) as f64
}

/// Minimum overlap and area ratio linking the foramen regions of neighbouring planes:
/// a fragment inside the foramen's footprint overlaps it but is much smaller.
const LINK_OVERLAP: f64 = 0.5;
const LINK_AREA_RATIO: f64 = 0.3;

fn linked(a: &SliceSegmentation, b: &SliceSegmentation) -> bool {
    let ratio = a.area_mm2.min(b.area_mm2) / a.area_mm2.max(b.area_mm2).max(1e-9);
    ratio >= LINK_AREA_RATIO && overlap(&a.mask, &b.mask) >= LINK_OVERLAP
}

/// The run of consecutive planes (sorted by position) whose masks overlap their
/// neighbour's, with the largest total score (size and position of the regions).
fn overlapping_run(slices: Vec<SliceResult>) -> Vec<SliceResult> {
    if slices.len() < 2 {
        return slices;
    }
    let step = slices
        .windows(2)
        .map(|w| (w[1].plane.position_mm - w[0].plane.position_mm).abs())
        .fold(f64::INFINITY, f64::min)
        .max(1e-6);
    let area = |r: &[SliceResult]| r.iter().map(|x| x.seg.score).sum::<f64>();
    let mut best = (0, 1);
    let mut start = 0;
    for i in 1..=slices.len() {
        let broken = i == slices.len()
            || (slices[i].plane.position_mm - slices[i - 1].plane.position_mm).abs() > 1.5 * step
            || !linked(&slices[i].seg, &slices[i - 1].seg);
        if broken {
            if area(&slices[start..i]) > area(&slices[best.0..best.1]) {
                best = (start, i);
            }
            start = i;
        }
    }
    slices
        .into_iter()
        .skip(best.0)
        .take(best.1 - best.0)
        .collect()
}

/// Whether the foramen on this plane is capped by bone (above, below) (the pedicles):
/// along the central columns of the region, a bone signature within a few millimetres
/// of its top and bottom edges. Bone: above 200 HU on CT; on MR the signal void of
/// cortex (under a third of the fat signal) followed by marrow (at least half).
fn bounded_by_bone(r: &SliceResult, is_ct: bool) -> (bool, bool) {
    let px = r.roi.pixel_mm;
    let (h, w) = r.image.dim();
    let mask = &r.seg.mask;
    let fat = r.seg.fat_ref;
    let cols: Vec<usize> = (0..w).filter(|&j| (0..h).any(|i| mask[[i, j]])).collect();
    let (Some(&j0), Some(&j1)) = (cols.first(), cols.last()) else {
        return (false, false);
    };
    let span = j1 - j0;
    let (a, b) = (j0 + span / 5, j1 - span / 5);
    let reach = (5.0 / px).round() as i64;
    let is_bone_run = |vals: &[f32]| -> bool {
        if is_ct {
            vals.iter().any(|&v| v <= -200.0)
        } else {
            let dip = vals.iter().position(|&v| v <= fat / 3.0);
            dip.is_some_and(|k| vals[k..].iter().any(|&v| v >= 0.5 * fat && v <= 1.25 * fat))
        }
    };
    let side = |dir: i64| -> bool {
        let (mut yes, mut n) = (0, 0);
        for j in (a..=b).step_by(((1.0 / px).round() as usize).max(1)) {
            let rows: Vec<usize> = (0..h).filter(|&i| mask[[i, j]]).collect();
            let Some(&edge) = (if dir < 0 { rows.first() } else { rows.last() }) else {
                continue;
            };
            let vals: Vec<f32> = (1..=reach)
                .map(|k| edge as i64 + dir * k)
                .take_while(|&i| i >= 0 && i < h as i64)
                .map(|i| r.image[[i as usize, j]])
                .filter(|v| v.is_finite())
                .collect();
            n += 1;
            if is_bone_run(&vals) {
                yes += 1;
            }
        }
        n > 0 && yes * 2 >= n
    };
    (side(-1), side(1))
}

/// The level's region of interest on one plane (the grid of a level is the same on
/// every plane, shifted along the normal) and its image in foramen-bright units (CT
/// negated).
fn level_roi(
    plane: &SlicePlane,
    disc: &crate::spine::levels::Disc,
    s: f64,
    v: &Volume,
) -> Option<(RoiFrame, Array2<f32>)> {
    let roi = RoiFrame::new(
        plane,
        disc.center_mm,
        scale(disc.axis, -1.0),
        (ROI_A.0 * s, ROI_A.1 * s),
        (ROI_B.0 * s, ROI_B.1 * s),
        plane.source_pixel_mm.clamp(0.25, 0.5),
    )?;
    let mut image = roi.sample(v);
    if v.modality == Modality::CT {
        image.mapv_inplace(|x| -x);
    }
    Some((roi, image))
}

/// Largest extent along the disc axis (rows) over the columns of the mask: the first
/// column with the longest extent and its top and bottom rows `(column, top, bottom)`.
fn height_extent(mask: &Array2<bool>) -> Option<(usize, usize, usize)> {
    let (h, w) = mask.dim();
    let mut best: Option<(usize, usize, usize)> = None;
    for j in 0..w {
        let rows: Vec<usize> = (0..h).filter(|&i| mask[[i, j]]).collect();
        if let (Some(&a), Some(&b)) = (rows.first(), rows.last()) {
            // Strictly longer only: the first column wins ties.
            if best.is_none_or(|(_, ba, bb)| b - a > bb - ba) {
                best = Some((j, a, b));
            }
        }
    }
    best
}

/// Patient-space ends of an extent `(line, first, last)` along the rows (`down`) or
/// columns: from the outer edge of the first pixel to that of the last, so the
/// distance is the `(last - first + 1)` pixels the measurement counts.
fn extent_ends(roi: &RoiFrame, down: bool, (k, a, b): (usize, usize, usize)) -> [Vec3; 2] {
    let (k, a, b) = (k as f64, a as f64 - 0.5, b as f64 + 0.5);
    if down {
        [roi.point(a, k), roi.point(b, k)]
    } else {
        [roi.point(k, a), roi.point(k, b)]
    }
}

/// Antero-posterior extent on the row of the disc mid-plane (nearest row with mask
/// pixels within 1 mm): `(row, first column, last column)`.
fn width_extent(mask: &Array2<bool>, px: f64, i0: f64) -> Option<(usize, usize, usize)> {
    let (h, w) = mask.dim();
    let reach = (1.0 / px).ceil() as i64;
    for d in 0..=reach {
        for i in [i0 as i64 + d, i0 as i64 - d] {
            if i < 0 || i >= h as i64 {
                continue;
            }
            let cols: Vec<usize> = (0..w).filter(|&j| mask[[i as usize, j]]).collect();
            if let (Some(&a), Some(&b)) = (cols.first(), cols.last()) {
                return Some((i as usize, a, b));
            }
        }
    }
    None
}

/// Posterior disc height, as the distance between the endplate planes at the
/// posterior disc margin (the foramen's front on the disc mid-plane row). Endplates are
/// rounded toward the rim, so each endplate is followed over the central part of the
/// disc (10-55 % of the way from the disc centre to the margin), a straight line is
/// fitted to each, and the distance between the two lines is taken at the margin (the
/// lordotic wedge makes it differ from the central height).
fn posterior_disc_height(
    r: &SliceResult,
    mid: Option<&Array2<f32>>,
    i0: f64,
    s: f64,
) -> Option<f64> {
    let px = r.roi.pixel_mm;
    let (h, _) = r.image.dim();
    // Endplates are followed on the plane through the disc centre when there is one
    // (on a lateral plane the rounded lateral rims of the bodies widen the gap); the
    // margin is the foramen's front on this plane. The grids of one level are aligned.
    let image = mid.filter(|m| m.dim() == r.image.dim()).unwrap_or(&r.image);
    let i0 = i0 as i64;
    if i0 < 0 || i0 >= h as i64 {
        return None;
    }
    // Column of the disc centre: the ROI starts at ROI_A.0·S behind it.
    let centre = -ROI_A.0 * s / px;
    // The foramen's front on the disc row, or on the nearest row: a narrowed foramen
    // can lie wholly above the disc row (its front is then the upper body's margin).
    let reach = (PDH_FRONT_REACH * s / px).ceil() as i64;
    let front = (0..=reach)
        .flat_map(|d| [i0 - d, i0 + d])
        .filter(|&i| i >= 0 && i < h as i64)
        .find_map(|i| (0..r.roi.cols).find(|&j| r.seg.mask[[i as usize, j]]))?
        as f64;
    let span = front - centre;
    if span < 4.0 / px {
        return None;
    }
    let (j0, j1) = (
        (centre + 0.1 * span).max(0.0).round() as usize,
        (centre + 0.55 * span).round() as usize,
    );
    let pairs: Vec<(f64, f64, f64)> = (j0..=j1)
        .filter_map(|j| endplates_at_column(image, px, j, i0, s).map(|(u, d)| (j as f64, u, d)))
        .collect();
    // Columns whose gap is far from the others' took a step inside a body (or across a
    // collapsed disc) for the endplate: dropped (median and MAD of the gaps).
    let mut gaps: Vec<f64> = pairs.iter().map(|p| p.2 - p.1).collect();
    gaps.sort_by(f64::total_cmp);
    let med = *gaps.get(gaps.len() / 2)?;
    let mut dev: Vec<f64> = gaps.iter().map(|g| (g - med).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let mad = dev[dev.len() / 2];
    let keep = 3.0 * mad + 1.0 / px;
    let kept: Vec<&(f64, f64, f64)> = pairs
        .iter()
        .filter(|p| (p.2 - p.1 - med).abs() <= keep)
        .collect();
    let ups: Vec<(f64, f64)> = kept.iter().map(|p| (p.0, p.1)).collect();
    let downs: Vec<(f64, f64)> = kept.iter().map(|p| (p.0, p.2)).collect();
    if ups.len() < 4 {
        return None;
    }
    let fit = |pts: &[(f64, f64)], x: f64| {
        let n = pts.len() as f64;
        let (mx, my) = (
            pts.iter().map(|p| p.0).sum::<f64>() / n,
            pts.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        my + if sxx > 0.0 { sxy / sxx } else { 0.0 } * (x - mx)
    };
    let gap = (fit(&downs, front) - fit(&ups, front)) * px;
    (gap > 0.0).then_some(gap)
}

/// Rows (fractional) of the upper and lower endplates on one column of the resampled
/// plane: the half-level crossings from the disc (around row `i0`) toward the darker
/// endplate bone (in foramen-bright units bone is dark on MR and CT).
fn endplates_at_column(
    image: &Array2<f32>,
    px: f64,
    j: usize,
    i0: i64,
    s: f64,
) -> Option<(f64, f64)> {
    let (h, _) = image.dim();
    let col: Vec<f32> = (0..h).map(|i| image[[i, j]]).collect();
    let near = (0.75 / px).round() as i64;
    let centre: Vec<f32> = ((i0 - near).max(0)..=(i0 + near).min(h as i64 - 1))
        .map(|i| col[i as usize])
        .filter(|v| v.is_finite())
        .collect();
    let d0 = crate::spine::filters::percentile(&centre, 50.0)?;
    let reach = (0.35 * s / px).round() as i64;
    // The endplate surface is where the intensity falls fastest from the disc toward
    // the darkest point (the cortex): the steepest step between them, refined to a
    // fraction of a pixel with a parabola. (A half-level crossing is biased outward
    // when the thin cortex is blurred by the slice thickness.)
    let crossing = |dir: i64| -> Option<f64> {
        let idx: Vec<i64> = (0..=reach)
            .map(|k| i0 + dir * k)
            .filter(|&i| i >= 0 && i < h as i64)
            .collect();
        let vals: Vec<f32> = idx.iter().map(|&i| col[i as usize]).collect();
        if vals.iter().any(|v| !v.is_finite()) || vals.len() < 3 {
            return None;
        }
        let (kmin, lowest) =
            vals.iter().enumerate().fold(
                (0, f32::INFINITY),
                |b, (k, &v)| if v < b.1 { (k, v) } else { b },
            );
        if lowest >= d0 || kmin == 0 {
            return None;
        }
        // Steps between consecutive samples, from the centre outward to the minimum.
        let steps: Vec<f32> = (0..kmin).map(|k| vals[k] - vals[k + 1]).collect();
        let (ks, _) =
            steps.iter().enumerate().fold(
                (0, f32::NEG_INFINITY),
                |b, (k, &v)| if v > b.1 { (k, v) } else { b },
            );
        // Parabola through the neighbouring steps; the step k sits between k and k + 1.
        let (a, b, c) = (
            if ks > 0 { steps[ks - 1] } else { steps[ks] },
            steps[ks],
            if ks + 1 < steps.len() {
                steps[ks + 1]
            } else {
                steps[ks]
            },
        );
        let denom = a - 2.0 * b + c;
        let shift = if denom.abs() > 1e-12 {
            (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
        } else {
            0.0
        };
        let k = ks as f64 + 0.5 + shift as f64;
        Some(i0 as f64 + dir as f64 * k)
    };
    Some((crossing(-1)?, crossing(1)?))
}

/// Fat between the root centre and the foramen boundary along the four image
/// directions (see [`FatRim`]); `None` when no root is seen.
fn fat_rim(seg: &SliceSegmentation, px: f64) -> Option<FatRim> {
    let (h, w) = seg.root.dim();
    let (mut si, mut sj, mut n) = (0.0, 0.0, 0usize);
    for ((i, j), &m) in seg.root.indexed_iter() {
        if m {
            si += i as f64;
            sj += j as f64;
            n += 1;
        }
    }
    if n == 0 {
        return None;
    }
    let (ci, cj) = (
        (si / n as f64).round() as i64,
        (sj / n as f64).round() as i64,
    );
    let walk = |di: i64, dj: i64| -> Option<f64> {
        let (mut i, mut j) = (ci, cj);
        let mut fat = 0usize;
        let mut left_root = false;
        loop {
            i += di;
            j += dj;
            if i < 0 || j < 0 || i >= h as i64 || j >= w as i64 {
                return None;
            }
            let (iu, ju) = (i as usize, j as usize);
            if !seg.mask[[iu, ju]] {
                return Some(fat as f64 * px);
            }
            if seg.root[[iu, ju]] {
                if left_root {
                    // Root again after fat: not a boundary.
                    return None;
                }
                continue;
            }
            left_root = true;
            fat += 1;
        }
    };
    Some(FatRim {
        superior: walk(-1, 0),
        inferior: walk(1, 0),
        anterior: walk(0, -1),
        posterior: walk(0, 1),
    })
}

/// Confidence from image quality and the evidence behind the measurement.
fn confidence(res: &mut ForamenResult, disc: &crate::spine::levels::Disc, input: &ForamenInput) {
    let mut c = disc.confidence.clamp(0.0, 1.0);
    let mut notes = Vec::new();
    let Some(min) = res.min_slice.map(|i| &res.slices[i]) else {
        res.confidence = 0.0;
        return;
    };
    let thick = min.plane.thickness_mm;
    if thick > 4.0 {
        c *= (1.0 - 0.1 * (thick - 4.0)).max(0.5);
        notes.push(format!("thick slices ({thick:.1} mm)"));
    }
    if input.volume.modality == Modality::MR && input.weighting == Some(Weighting::T2) {
        c *= 0.85;
        notes.push("T2 instead of T1".into());
    }
    if min.seg.cnr < 4.0 {
        c *= (min.seg.cnr / 4.0).clamp(0.3, 1.0);
        notes.push(format!(
            "low fat/boundary contrast (CNR {:.1})",
            min.seg.cnr
        ));
    }
    if res.slices.len() < 2 {
        c *= 0.75;
        notes.push("foramen seen on one plane only".into());
    }
    if disc.confidence < 0.5 {
        notes.push("uncertain level label".into());
    }
    res.confidence = (c * 100.0).round() / 100.0;
    res.confidence_notes = notes;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(px: f64) -> RoiFrame {
        RoiFrame {
            origin: [1.0, 2.0, 3.0],
            up: [0.0, 0.0, 1.0],
            back: [0.0, 1.0, 0.0],
            pixel_mm: px,
            rows: 20,
            cols: 20,
        }
    }

    #[test]
    fn extent_lines_are_as_long_as_the_measurements() {
        let px = 0.4;
        let mut mask = Array2::from_elem((20, 20), false);
        // Column 5 spans rows 3..=12 (10 px), column 6 rows 4..=10; row 8 spans 5..=14.
        for i in 3..=12 {
            mask[[i, 5]] = true;
        }
        for i in 4..=10 {
            mask[[i, 6]] = true;
        }
        for j in 5..=14 {
            mask[[8, j]] = true;
        }
        let h = height_extent(&mask).unwrap();
        assert_eq!(h, (5, 3, 12));
        let w = width_extent(&mask, px, 8.4).unwrap();
        assert_eq!(w, (8, 5, 14));
        let roi = frame(px);
        let [a, b] = extent_ends(&roi, true, h);
        assert!((norm(sub(b, a)) - 10.0 * px).abs() < 1e-9);
        // Along the rows: the line runs down the disc axis (-up).
        assert!((sub(b, a)[2] + 10.0 * px).abs() < 1e-9);
        let [a, b] = extent_ends(&roi, false, w);
        assert!((norm(sub(b, a)) - 10.0 * px).abs() < 1e-9);
        assert!((sub(b, a)[1] - 10.0 * px).abs() < 1e-9);
        assert!(height_extent(&Array2::from_elem((3, 3), false)).is_none());
    }
}
