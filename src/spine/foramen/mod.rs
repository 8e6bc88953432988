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

mod confidence;
mod measure;
mod midline;
mod planes;
pub mod roi;
pub mod segment;

use ndarray::Array2;
use rayon::prelude::*;
use serde::Serialize;

use crate::spine::levels::{LUMBAR_LEVELS, Localization};
use crate::volume::Weighting;
use crate::volume::geometry::{add, dot, norm, scale, sub};
use crate::volume::{Modality, Vec3, Volume};
use confidence::confidence;
use measure::{extent_ends, fat_rim, height_extent, posterior_disc_height, width_extent};
use midline::midline_offset;
use planes::{bounded_by_bone, overlapping_run};
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
                .map(|(i, d)| {
                    dot(d.center_mm, n)
                        + midline_offset(v, d.center_mm, d.axis, disc_spacing(loc, i), n)
                })
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
    confidence(
        &mut res,
        disc.confidence,
        input.volume.modality,
        input.weighting,
    );
    if roof_only {
        res.confidence = (res.confidence * 0.6 * 100.0).round() / 100.0;
        res.confidence_notes
            .push("no bone seen below the foramen (lower pedicle not identified)".into());
    }
    res
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
