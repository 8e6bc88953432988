//! Neural foramen segmentation and measurement, left and right at every lumbar level.
//!
//! For each level found by [`crate::spine::levels`], the image planes on either side of
//! the midline where the pedicles lie are resampled in a frame aligned with the disc
//! ([`roi`]), and the foramen is segmented on each by rays cast from the root and
//! stopped by bone, cortex and the posterior wall of the disc ([`rays`]; intensity
//! anchors and the wall from `anchors`). Seeds (and, on thin planes, ray radii) are
//! median-filtered across neighbouring planes. The planes that pass through the foramen
//! are the longest run of planes whose ring is closed, above and below by the pedicles:
//! medial to them the fat opens into the canal, lateral to them into the paraspinal
//! space; the minimum is read on the most medial of them, as the reference protocol
//! does. Measurements follow
//! shared/domain.md: the per-plane area profile, the minimum area, and on the
//! minimum-area plane the height, the width at the disc mid-plane, the posterior disc
//! height, the fat fraction and the directions of perineural fat obliteration.

mod anchors;
mod confidence;
mod measure;
mod midline;
pub mod rays;
pub mod roi;

use ndarray::Array2;
use rayon::prelude::*;
use serde::Serialize;

use crate::imageops::{gaussian_blur, noise_sigma, percentile};
use crate::spine::levels::{LUMBAR_LEVELS, Localization};
use crate::volume::Weighting;
use crate::volume::geometry::{add, dot, norm, scale, sub};
use crate::volume::{Modality, Vec3, Volume};
use confidence::{Evidence, confidence, weigh_against_spine};
use measure::{extent_ends, fat_rim, height_extent, posterior_disc_height, width_extent};
use midline::midline_offset;
pub use rays::SliceSegmentation;
use rays::{Anchors, NRAY};
use roi::{RoiFrame, SlicePlane, slice_planes};

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

/// Planes searched for a foramen: lateral offset from the midline disc centre, in
/// units of `S` (the lumbar pedicles lie 9-21 mm out at S ≈ 35 mm).
const PLANES: (f64, f64) = (0.25, 0.6);
/// The seed window: behind the posterior wall (mm) and around a row above the disc
/// centre (centre, half-height, mm): the root leaves under the upper pedicle.
const SEED_BACK: f64 = 10.0;
const SEED_UP: (f64, f64) = (3.0, 7.0);
/// Rays stop this far (mm) in front of the posterior wall found on each row.
const WALL_MARGIN: f64 = 2.0;
/// The foramen lies within this depth (mm) behind the posterior wall of the body and
/// disc: the superior articular process closes it behind. Adult lumbar foramina are at
/// most ~13 mm deep (the 149 reference outlines at L1-L2..L4-L5: 5-12.5 mm, median 9.5);
/// a ray running further has passed the articular process through a gap in its
/// cortex (facet fluid, the fat behind the joint on T2) and is cut there, not closed.
/// Measured on the real reference, L1-L2..L4-L5 within 20 %: none 253/723, 14 mm 274,
/// 11 mm 281 but the phantom fell from 202 to 175/400 (its foramina are deeper).
const MAX_DEPTH_MM: f64 = 14.0;
/// Smoothing of the plane before the rays (σ, mm): where the rays stop.
const SMOOTH_MM: f64 = 0.7;
/// Lighter smoothing (σ, mm) of the plane on which the edge is placed once a ray has
/// stopped: at 0.7 mm the thin cortex blurs and its half level moves ~0.3 mm into the
/// foramen (phantom: areas 6-10 % short on every modality).
const EDGE_MM: f64 = 0.35;
/// The minimum is taken over this many of the most medial closed planes.
const MEDIAL_PLANES: usize = 2;
/// The most medial closed plane is left out of the minimum when its area is under this
/// fraction of the next plane's: it straddles the medial pedicle margin (partial volume
/// of the pedicle), not the foramen.
const PARTIAL: f64 = 0.7;
/// Fat level: this percentile of the smoothed plane within 6 mm of the seed (the root
/// and boundary take up less than half of that disk; a higher percentile is biased
/// upward by noise and by brighter CSF or disc on T2).
const FAT_PERCENTILE: f64 = 75.0;
/// Planes at most this far apart (mm) share their ray radii (3-plane median).
const THIN_MM: f64 = 2.0;
/// A closed ring smaller than this (mm²) is noise, not a foramen.
const MIN_AREA_MM2: f64 = 15.0;
/// Neighbouring planes disagree when the area jumps by more than this fraction.
const JUMP: f64 = 0.35;

struct Job {
    level: usize,
    side: Side,
    /// Planes on this side, medial to lateral.
    planes: Vec<SlicePlane>,
}

/// Segments and measures every foramen of the lumbar levels found.
pub fn measure_foramina(input: &ForamenInput) -> Vec<ForamenResult> {
    let loc = input.localization;
    let v = input.volume;
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
        for side in Side::BOTH {
            let d = &discs[di];
            let mut here: Vec<(f64, SlicePlane)> = planes
                .iter()
                .filter_map(|p| {
                    let o = dot(sub(p.point, d.center_mm), p.normal);
                    let on_side = (o > 0.0) == (side == Side::Left);
                    (on_side && o.abs() >= PLANES.0 * s && o.abs() <= PLANES.1 * s)
                        .then_some((o.abs(), *p))
                })
                .collect();
            here.sort_by(|a, b| a.0.total_cmp(&b.0));
            jobs.push(Job {
                level: level_info.len() - 1,
                side,
                planes: here.into_iter().map(|x| x.1).collect(),
            });
        }
    }
    let mut results: Vec<ForamenResult> = jobs
        .par_iter()
        .map(|job| {
            let name = LUMBAR_LEVELS[job.level];
            let Some((di, s)) = level_info[job.level] else {
                return unmeasured(name, job.side, "level not found in the field of view");
            };
            let disc = &discs[di];
            // The plane nearest the disc centre, for the posterior disc height.
            let mid = planes
                .iter()
                .min_by(|a, b| {
                    dot(sub(a.point, disc.center_mm), a.normal)
                        .abs()
                        .total_cmp(&dot(sub(b.point, disc.center_mm), b.normal).abs())
                })
                .and_then(|p| level_roi(p, disc, s, v))
                .map(|(_, image)| image);
            measure_one(name, job.side, &job.planes, s, disc, mid.as_ref(), input)
        })
        .collect();
    weigh_against_spine(&mut results);
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

/// One plane prepared for the rays.
struct Prepared {
    plane: SlicePlane,
    roi: RoiFrame,
    image: Array2<f32>,
    smooth: Array2<f32>,
    /// Lightly smoothed plane, for the edge position ([`EDGE_MM`]).
    fine: Array2<f32>,
    noise: f64,
    wall: Vec<f64>,
    seed: (f64, f64),
    /// Where the seed was looked for (rows, columns; half-open).
    window: ((usize, usize), (usize, usize)),
}

fn prepare(
    plane: &SlicePlane,
    disc: &crate::spine::levels::Disc,
    s: f64,
    v: &Volume,
) -> Option<Prepared> {
    let (roi, image) = level_roi(plane, disc, s, v)?;
    let px = roi.pixel_mm;
    let finite: Vec<f32> = image.iter().copied().filter(|x| x.is_finite()).collect();
    let fill = percentile(&finite, 50.0)?;
    let filled = image.mapv(|x| if x.is_finite() { x } else { fill });
    let noise = noise_sigma(&filled);
    // Outside the data stays unknown: a ray running into it is open.
    let blur = |sigma_mm: f64| {
        let mut b = gaussian_blur(filled.view(), sigma_mm / px, sigma_mm / px);
        ndarray::Zip::from(&mut b).and(&image).for_each(|s, &x| {
            if !x.is_finite() {
                *s = f32::NAN;
            }
        });
        b
    };
    let smooth = blur(SMOOTH_MM);
    let fine = blur(EDGE_MM);
    let i0 = roi.pixel_of(disc.center_mm).0;
    let wall = anchors::posterior_wall(&smooth, px, s, i0);
    let (h, w) = smooth.dim();
    let r0 = i0 - SEED_UP.0 / px;
    let wr = (i0.round().max(0.0) as usize).min(h - 1);
    let wc = wall[wr];
    let rows = (
        (r0 - SEED_UP.1 / px).max(0.0) as usize,
        ((r0 + SEED_UP.1 / px).max(0.0) as usize).min(h),
    );
    let cols = (
        wc.max(0.0) as usize,
        ((wc + SEED_BACK / px).max(0.0) as usize).min(w),
    );
    let seed = rays::ring_seed(&smooth, px, rows, cols)?;
    let wall = wall.iter().map(|c| c - WALL_MARGIN / px).collect();
    Some(Prepared {
        plane: *plane,
        roi,
        image,
        smooth,
        fine,
        noise,
        wall,
        seed: (seed.0 as f64, seed.1 as f64),
        window: (rows, cols),
    })
}

/// The fat level of one plane: the upper quartile of the smoothed plane within 6 mm of
/// its seed ([`FAT_PERCENTILE`]).
fn local_fat(p: &Prepared) -> Option<f64> {
    let r = (6.0 / p.roi.pixel_mm).round() as i64;
    let (si, sj) = (p.seed.0 as i64, p.seed.1 as i64);
    let (h, w) = p.smooth.dim();
    let vals: Vec<f32> = ((si - r).max(0)..=(si + r).min(h as i64 - 1))
        .flat_map(|i| ((sj - r).max(0)..=(sj + r).min(w as i64 - 1)).map(move |j| (i, j)))
        .map(|(i, j)| p.smooth[[i as usize, j as usize]])
        .collect();
    percentile(&vals, FAT_PERCENTILE).map(f64::from)
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// Median of `v[i - 1], v[i], v[i + 1]`, the ends repeated beyond the ends (so an end
/// entry keeps its own value unless both others agree against it).
fn median3<T: Copy>(v: &[T], i: usize, f: impl Fn(T) -> f64) -> f64 {
    let n = v.len();
    let w = [f(v[i.saturating_sub(1)]), f(v[i]), f(v[(i + 1).min(n - 1)])];
    median(w.to_vec()).unwrap_or(w[1])
}

fn measure_one(
    name: &str,
    side: Side,
    planes: &[SlicePlane],
    s: f64,
    disc: &crate::spine::levels::Disc,
    mid: Option<&Array2<f32>>,
    input: &ForamenInput,
) -> ForamenResult {
    let v = input.volume;
    let mut prep: Vec<Prepared> = planes
        .iter()
        .filter_map(|p| prepare(p, disc, s, v))
        .collect();
    if prep.is_empty() {
        return unmeasured(
            name,
            side,
            "no plane beside this disc to search for a foramen",
        );
    }
    // The root runs continuously through the foramen: seeds median-filtered over three
    // neighbouring planes (the grids of one level are aligned across planes).
    let seeds: Vec<(f64, f64)> = prep.iter().map(|p| p.seed).collect();
    for (i, p) in prep.iter_mut().enumerate() {
        p.seed = (median3(&seeds, i, |x| x.0), median3(&seeds, i, |x| x.1));
    }
    // Anchors: fat = upper quartile within 6 mm of the seeds, darkest tissue = 5th
    // percentile of the planes, marrow from the bodies (medians over planes).
    let fat = median(prep.iter().filter_map(local_fat).collect());
    let dark = median(
        prep.iter()
            .filter_map(|p| percentile(p.smooth.as_slice().unwrap_or(&[]), 5.0).map(f64::from))
            .collect(),
    );
    let (Some(fat), Some(dark)) = (fat, dark) else {
        return unmeasured(name, side, "no image data around the foramen");
    };
    let marrow = anchors::marrow_level(v, disc, s)
        .map(f64::from)
        .unwrap_or(0.5 * (fat + dark));
    let anchors = Anchors {
        marrow: marrow as f32,
        fat: fat as f32,
        dark: dark as f32,
    };
    // Each plane's fat may be darker than the level's: partial volume with bone in a
    // narrow foramen on thick slices, or brighter CSF near other planes' seeds on T2 (the
    // median then sits above this plane's fat, and fat falls under `T`). The plane's own
    // level is used, no higher than the level's and no lower than halfway to marrow.
    let plane_anchors = |p: &Prepared| Anchors {
        fat: local_fat(p).map_or(anchors.fat, |f| {
            // max/min, not clamp: on a faint image marrow may exceed fat.
            (f as f32)
                .max(0.5 * (anchors.fat + anchors.marrow))
                .min(anchors.fat)
        }),
        ..anchors
    };
    let cast_at = |p: &Prepared, a: &Anchors| {
        let px = p.roi.pixel_mm;
        let depth = (WALL_MARGIN + MAX_DEPTH_MM) / px;
        rays::cast(&p.smooth, &p.fine, px, p.seed, a, &p.wall, depth)
    };
    let mut plane_anch: Vec<Anchors> = prep.iter().map(plane_anchors).collect();
    let mut cast: Vec<rays::Rays> = prep
        .iter()
        .zip(&plane_anch)
        .map(|(p, a)| cast_at(p, a))
        .collect();
    // A seed from which most rays meet no fat within a root's radius is on a root pressed
    // against bone, or on the bone beside a narrowed foramen (an osteophyte, the cortex):
    // from there the rays would cross that bone as if it were the root. A root is never
    // as dark as cortex (below `Td`: MR T1/T2 and CT alike), so such a plane is seeded
    // again in the fat itself, the brightest point of the seed window.
    for ((p, c), a) in prep.iter_mut().zip(&mut cast).zip(&mut plane_anch) {
        let (si, sj) = (p.seed.0 as usize, p.seed.1 as usize);
        let on_cortex = p.smooth.get((si, sj)).is_some_and(|&v| v < anchors.td());
        if 2 * c.rooted >= NRAY || !on_cortex {
            continue;
        }
        if let Some(s) = rays::fat_seed(&p.smooth, p.window.0, p.window.1) {
            p.seed = (s.0 as f64, s.1 as f64);
            *a = plane_anchors(p);
            *c = cast_at(p, a);
        }
    }
    // Smoothness: circular median over 3 rays (15°; 5 rays clip the pointed lower end
    // of the teardrop: phantom heights ~1 mm short), then over 3 planes per ray.
    let circ: Vec<[f64; NRAY]> = cast
        .iter()
        .map(|r| rays::circular_median(&r.radii, rays::RAY_MEDIAN))
        .collect();
    // Across planes only where they are close (≤ 2 mm): a foramen's outline changes
    // little over that distance, but much across thick slices.
    let thin = prep
        .windows(2)
        .all(|w| (w[1].plane.position_mm - w[0].plane.position_mm).abs() <= THIN_MM);
    let mut slices: Vec<SliceResult> = Vec::with_capacity(prep.len());
    for (i, p) in prep.into_iter().enumerate() {
        let mut radii = circ[i];
        if thin {
            for (k, r) in radii.iter_mut().enumerate() {
                *r = median3(&circ, i, |c| c[k]);
            }
        }
        let seg = rays::finish(
            &p.smooth,
            p.roi.pixel_mm,
            p.seed,
            radii,
            cast[i].open,
            &plane_anch[i],
            p.noise,
        );
        slices.push(SliceResult {
            plane: p.plane,
            roi: p.roi,
            seg,
            image: p.image,
        });
    }
    // The pedicle-bracketed range: the longest run of consecutive closed planes.
    let ok: Vec<bool> = slices
        .iter()
        .map(|r| r.seg.closed && r.seg.area_mm2 >= MIN_AREA_MM2)
        .collect();
    let areas: Vec<f64> = slices.iter().map(|r| r.seg.area_mm2).collect();
    let best = closed_run(&ok, &areas, thin);
    let closed = best.1 > best.0;
    let (kept, min_area, open_frac) = if closed {
        let run: Vec<SliceResult> = slices.drain(best.0..best.1).collect();
        // The reading protocol's plane: the smallest area of the most medial closed
        // plane and the next one (docs/reference-protocol.md). The lateral end of the
        // run is not used: a plane beyond the lateral pedicle margin can close on the
        // transverse process or psoas, and the fat narrows there.
        let skip =
            usize::from(run.len() >= 2 && run[0].seg.area_mm2 < PARTIAL * run[1].seg.area_mm2);
        let (k, a) = run
            .iter()
            .enumerate()
            .skip(skip)
            .take(MEDIAL_PLANES)
            .map(|(k, r)| (k, r.seg.area_mm2))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, run[0].seg.area_mm2));
        let of = 1.0 - run[k].seg.score;
        (run_with_min(run, k), a, of)
    } else {
        // No closed ring: the least open plane, flagged.
        let Some(k) = (0..slices.len()).min_by(|&a, &b| {
            let (x, y) = (&slices[a].seg, &slices[b].seg);
            (1.0 - x.score)
                .total_cmp(&(1.0 - y.score))
                .then(x.area_mm2.total_cmp(&y.area_mm2))
        }) else {
            return unmeasured(
                name,
                side,
                "no plane beside this disc to search for a foramen",
            );
        };
        let r = slices.swap_remove(k);
        let (a, of) = (r.seg.area_mm2, 1.0 - r.seg.score);
        (run_with_min(vec![r], 0), a, of)
    };
    let (slices, min_i) = kept;
    let jump = slices
        .windows(2)
        .map(|w| (w[1].seg.area_mm2 - w[0].seg.area_mm2).abs() / w[0].seg.area_mm2.max(1.0))
        .fold(0.0, f64::max);
    let evidence = Evidence {
        closed,
        open_fraction: open_frac,
        planes: slices.len(),
        area_jump: jump,
        contrast: anchors.contrast(),
    };
    let min_r = &slices[min_i];
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
    let t1 = v.modality == Modality::MR && input.weighting != Some(Weighting::T2);
    let root_area = min_r.seg.root.iter().filter(|&&m| m).count() as f64 * px * px;
    let rim = fat_rim(&min_r.seg, px);
    let fat_fraction = t1.then(|| min_r.seg.fat_area_mm2 / min_r.seg.area_mm2.max(1e-9));
    let mut res = ForamenResult {
        level: name.to_string(),
        side,
        min_slice: Some(min_i),
        min_area_mm2: Some(min_area),
        height_mm: height,
        width_mm: width,
        height_line,
        width_line,
        posterior_disc_height_mm: pdh,
        fat_fraction,
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
        v.modality,
        input.weighting,
        &evidence,
    );
    res
}

/// The planes that pass through the foramen: the longest run of consecutive planes with
/// a closed ring (`ok`; on a tie the one of larger total area), as a half-open index
/// range (empty when there is none). On thin
/// planes (≤ 2 mm apart) the foramen's outline changes smoothly, so an area that jumps
/// by more than `JUMP` between neighbours marks another structure and splits the run:
/// medial to the pedicle margin a smaller ring closes in the lateral recess (phantom CT
/// at 0.7 mm: half the area over 2-4 planes).
fn closed_run(ok: &[bool], areas: &[f64], thin: bool) -> (usize, usize) {
    let joined = |i: usize| {
        let (a, b) = (areas[i - 1], areas[i]);
        !thin || (a - b).abs() <= JUMP * a.min(b)
    };
    let mut best = (0usize, 0usize);
    let mut start: Option<usize> = None;
    for i in 0..=ok.len() {
        let here = ok.get(i).copied().unwrap_or(false);
        if let Some(a) = start
            && (!here || !joined(i))
        {
            // Longest; on a tie the larger rings (the recess ring is the smaller).
            let sum = |r: (usize, usize)| areas[r.0..r.1].iter().sum::<f64>();
            let (len, best_len) = (i - a, best.1 - best.0);
            if len > best_len || (len == best_len && sum((a, i)) > sum(best)) {
                best = (a, i);
            }
            start = None;
        }
        if here && start.is_none() {
            start = Some(i);
        }
    }
    best
}

/// The planes sorted by position and the index of plane `k` among them.
fn run_with_min(run: Vec<SliceResult>, k: usize) -> (Vec<SliceResult>, usize) {
    let pos = run[k].plane.position_mm;
    let mut run = run;
    run.sort_by(|a, b| a.plane.position_mm.total_cmp(&b.plane.position_mm));
    let i = run
        .iter()
        .position(|r| r.plane.position_mm == pos)
        .unwrap_or(0);
    (run, i)
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

#[cfg(test)]
mod tests {
    use super::closed_run;

    #[test]
    fn the_closed_run_is_the_longest_and_splits_at_area_jumps_on_thin_planes() {
        let ok = [false, true, true, true, true, true, true, false, true];
        // Medial planes 64, 65, 72 (a recess ring), then the foramen 138-142.
        let areas = [0.0, 64.0, 65.0, 72.0, 138.0, 140.0, 142.0, 0.0, 90.0];
        // Thin planes: 72 -> 138 jumps by 92 % > 35 %, so the run splits into two parts
        // of 3 planes; the one of larger area (the foramen) is kept. A longer run wins
        // whatever its area.
        assert_eq!(closed_run(&ok, &areas, true), (4, 7));
        let ok2 = [true, true, true, true, true, true, true];
        let areas2 = [64.0, 65.0, 72.0, 70.0, 140.0, 142.0, 139.0];
        assert_eq!(closed_run(&ok2, &areas2, true), (0, 4));
        // Thick planes: no split, the whole run of closed planes.
        assert_eq!(closed_run(&ok, &areas, false), (1, 7));
        // Nothing closed: an empty range.
        assert_eq!(closed_run(&[false, false], &[10.0, 10.0], true), (0, 0));
    }
}
