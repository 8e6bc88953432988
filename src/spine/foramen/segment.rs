//! Segmentation of one foramen on one resampled plane.
//!
//! The image is taken in a "foramen-bright" convention (MR as is: perineural fat is the
//! brightest tissue around the foramen on T1 and bright on T2; CT negated, so fat at
//! about -100 HU is brighter than soft tissue and bone). Steps:
//!
//! 1. edge-preserving smoothing (Perona-Malik diffusion, conductance from the image's
//!    own noise level);
//! 2. a threshold sweep (maximally-stable-region style): at each level the connected
//!    components that are closed (do not touch the region border), have a plausible
//!    size and lie where a foramen can be are scored by size and by a positional prior;
//!    the best one seeds the segmentation and gives the fat level `fat_ref`;
//! 3. the fat mask is regrown at a threshold derived from `fat_ref` (between fat and
//!    the next darker tissue), closed morphologically with a disk of a root's size (the
//!    keyhole mouth, and the root where it lies in a notch of the fat; cortex excluded),
//!    holes filled, and pockets of non-bone tissue mostly surrounded by fat (the root
//!    where it touches a pedicle) added;
//! 4. the boundary is placed at the local half level between `fat_ref` and the tissue
//!    just outside (partial-volume edge), on a grid finer than the source pixels, so the
//!    area is not a count of whole source pixels.

use imageproc::distance_transform::Norm;
use ndarray::Array2;

use crate::imageops::{
    Labelling, closing, connected_components, dilation, erosion, fill_holes, gaussian_blur,
    noise_sigma, percentile, perona_malik,
};

/// Smallest section (mm²) taken for a nerve root (a root is 4-7 mm across).
const MIN_ROOT_MM2: f64 = 3.0;
/// Radius of the closing that takes a root lying in a notch of the fat into the foramen
/// (mm): a root is 4-7 mm across, so notches up to about 8 mm wide are bridged.
const ROOT_CLOSE_MM: f64 = 4.0;

/// What the segmentation needs to know about the plane and the anatomy around it.
#[derive(Debug, Clone, Copy)]
pub struct SegmentParams {
    pub is_ct: bool,
    /// ROI pixel (mm).
    pub pixel_mm: f64,
    /// Local spacing between disc centres (mm): the anatomical scale.
    pub spacing_mm: f64,
    /// Expected foramen centre (row, col) in ROI pixels and the spread of that prior.
    pub prior_centre: (f64, f64),
    pub prior_sigma: (f64, f64),
}

#[derive(Debug, Clone)]
pub struct SliceSegmentation {
    /// Foramen (fat, root and vessels) at the partial-volume edge.
    pub mask: Array2<bool>,
    /// The part of `mask` that is not fat (root / ganglion).
    pub root: Array2<bool>,
    pub area_mm2: f64,
    pub fat_area_mm2: f64,
    /// Fat signal inside the foramen and typical boundary tissue (foramen-bright units).
    pub fat_ref: f32,
    pub boundary_ref: f32,
    /// Contrast of fat against its boundary over the noise level.
    pub cnr: f64,
    /// How foramen-like the seed region was (size, position prior).
    pub score: f64,
}

/// Segments the foramen on one plane; `None` when no closed foramen-like region is
/// found (e.g. the plane is medial or lateral to the pedicles).
pub fn segment(img: &Array2<f32>, p: &SegmentParams) -> Option<SliceSegmentation> {
    let (h, w) = img.dim();
    if h < 8 || w < 8 {
        return None;
    }
    let floor = img
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f32::INFINITY, f32::min);
    if !floor.is_finite() {
        return None;
    }
    let raw = img.mapv(|v| if v.is_finite() { v } else { floor });
    let sigma = noise_sigma(&raw);
    let px2 = p.pixel_mm * p.pixel_mm;
    let s = p.spacing_mm;

    // 2. Threshold sweep, on a more strongly smoothed copy so that noise does not
    // break the foramen into fragments.
    let sm_px = 0.7 / p.pixel_mm;
    let g = gaussian_blur(raw.view(), sm_px, sm_px);
    let values: Vec<f32> = g.iter().copied().collect();
    let thresholds: Vec<f32> = if p.is_ct {
        // -HU: from -90 HU (pure fat) up to +10 HU (fat against soft tissue).
        (0..=6).map(|k| 90.0 - 16.0 * k as f32).collect()
    } else {
        let hi = percentile(&values, 99.0)?;
        (0..=7).map(|k| hi * (0.95 - 0.065 * k as f32)).collect()
    };
    // Brightest tissue near the expected foramen (MR): fat on T1, fat or fluid on T2.
    let bright = {
        let (ci, cj) = p.prior_centre;
        let (si, sj) = p.prior_sigma;
        let near: Vec<f32> = g
            .indexed_iter()
            .filter(|((i, j), _)| {
                let di = (*i as f64 - ci) / si;
                let dj = (*j as f64 - cj) / sj;
                di * di + dj * dj <= 4.0
            })
            .map(|(_, v)| *v)
            .collect();
        percentile(&near, 99.5).unwrap_or(f32::NEG_INFINITY)
    };
    let min_area = 3.0 / px2;
    let max_area = 0.3 * s * s / px2;
    // (score, threshold, pixels, fat level) of the best seed so far.
    type Seed = (f64, f32, Vec<(usize, usize)>, f32);
    let mut best: Option<Seed> = None;
    for &t in &thresholds {
        let lab = Labelling::new(h, w, |i, j| g[[i, j]] >= t);
        for (id, c) in lab.comps.iter().enumerate() {
            let n = c.area as f64;
            if c.border || n < min_area || n > max_area {
                continue;
            }
            let centroid = (c.sum_i / n, c.sum_j / n);
            let di = (centroid.0 - p.prior_centre.0) / p.prior_sigma.0;
            let dj = (centroid.1 - p.prior_centre.1) / p.prior_sigma.1;
            let score = (n * px2).sqrt() * (-0.5 * (di * di + dj * dj)).exp();
            if best.as_ref().is_some_and(|b| score <= b.0) {
                continue;
            }
            let pixels = lab.pixels(id);
            let inside: Vec<f32> = pixels.iter().map(|&(i, j)| g[[i, j]]).collect();
            let fat = percentile(&inside, 75.0).unwrap_or(t);
            // On MR a threshold far below the region's own fat level has let a darker
            // tissue class (marrow) in; and a region well below the brightest tissue
            // around the expected foramen is marrow (of a pedicle or articular process),
            // not fat.
            if !p.is_ct && (t < 0.8 * fat || fat < 0.85 * bright) {
                continue;
            }
            best = Some((score, t, pixels, fat));
        }
    }
    let (score, _, seed, _) = best?;

    // The rest works on a window around the seed (most of the region of interest is
    // far from it): its bounding box grown by half its size and at least 6 mm.
    let (mut i0, mut i1, mut j0, mut j1) = (h, 0, w, 0);
    for &(i, j) in &seed {
        i0 = i0.min(i);
        i1 = i1.max(i);
        j0 = j0.min(j);
        j1 = j1.max(j);
    }
    let margin_i = ((i1 - i0) / 2).max((6.0 / p.pixel_mm).ceil() as usize);
    let margin_j = ((j1 - j0) / 2).max((6.0 / p.pixel_mm).ceil() as usize);
    let (wi0, wi1) = (i0.saturating_sub(margin_i), (i1 + margin_i + 1).min(h));
    let (wj0, wj1) = (j0.saturating_sub(margin_j), (j1 + margin_j + 1).min(w));
    let sub = raw.slice(ndarray::s![wi0..wi1, wj0..wj1]).to_owned();
    let sub_seed: Vec<(usize, usize)> = seed.iter().map(|&(i, j)| (i - wi0, j - wj0)).collect();
    let part = refine(&sub, &sub_seed, p, sigma, floor, score)?;
    let embed = |m: &Array2<bool>| {
        let mut full = Array2::from_elem((h, w), false);
        full.slice_mut(ndarray::s![wi0..wi1, wj0..wj1]).assign(m);
        full
    };
    Some(SliceSegmentation {
        mask: embed(&part.mask),
        root: embed(&part.root),
        ..part
    })
}

/// Steps 3 and 4 on a window around the seed.
fn refine(
    raw: &Array2<f32>,
    seed: &[(usize, usize)],
    p: &SegmentParams,
    sigma: f64,
    floor: f32,
    score: f64,
) -> Option<SliceSegmentation> {
    let (h, w) = raw.dim();
    let px2 = p.pixel_mm * p.pixel_mm;
    let f = perona_malik(raw, (2.0 * sigma) as f32, 4);
    let seed_vals: Vec<f32> = seed.iter().map(|&(i, j)| f[[i, j]]).collect();
    let fat_ref = percentile(&seed_vals, 60.0)?;

    // 3. Regrow between fat and the next darker tissue.
    let t_final = if p.is_ct {
        // Halfway between the measured fat and soft tissue (about +50 HU).
        0.5 * (fat_ref + -50.0)
    } else {
        // Marrow is ~0.7 of fat on T1 and T2: halfway between.
        0.86 * fat_ref
    };
    let grown = {
        let mask = f.mapv(|v| v >= t_final);
        let mut seed_mask = Array2::from_elem((h, w), false);
        for &(i, j) in seed {
            seed_mask[[i, j]] = true;
        }
        let mut out = Array2::from_elem((h, w), false);
        let mut area = 0usize;
        let mut border = false;
        for c in connected_components(&mask) {
            if c.pixels.iter().any(|&(i, j)| seed_mask[[i, j]]) {
                border |= c.touches_border;
                area += c.pixels.len();
                for (i, j) in c.pixels {
                    out[[i, j]] = true;
                }
            }
        }
        if border || area as f64 > 2.0 * seed.len() as f64 + 20.0 / px2 || area == 0 {
            seed_mask
        } else {
            out
        }
    };
    let bone_like = |v: f32| {
        if p.is_ct {
            v < -200.0
        } else {
            v < 0.25 * fat_ref
        }
    };
    // Closing with a disk of a root's size: a root against a pedicle or articular
    // process is a notch in the fat that its own contacts cannot tell from the bone
    // beside it (marrow is not dark); the closing takes the notch in. Bone (cortex)
    // that the closing bridges is left out.
    let close_r = ((ROOT_CLOSE_MM / p.pixel_mm).round() as u8).max(1);
    let closed = closing(&grown, Norm::L2, close_r);
    let closed = Array2::from_shape_fn((h, w), |(i, j)| {
        grown[[i, j]] || (closed[[i, j]] && !bone_like(f[[i, j]]))
    });
    let filled = fill_holes(&(&closed | &grown));

    // Pockets of non-bone tissue mostly bordered by fat: the root against a pedicle.
    let mut region = filled.clone();
    let candidates =
        Array2::from_shape_fn((h, w), |(i, j)| !filled[[i, j]] && !bone_like(f[[i, j]]));
    let max_pocket = std::f64::consts::PI * 4.0 * 4.0 / px2;
    for c in connected_components(&candidates) {
        if c.touches_border || c.pixels.len() as f64 > max_pocket {
            continue;
        }
        let (mut fat_contacts, mut other) = (0usize, 0usize);
        for &(i, j) in &c.pixels {
            for (di, dj) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
                let (ni, nj) = ((i as i64 + di) as usize, (j as i64 + dj) as usize);
                if candidates[[ni, nj]] {
                    continue;
                }
                if filled[[ni, nj]] {
                    fat_contacts += 1;
                } else {
                    other += 1;
                }
            }
        }
        if fat_contacts >= other {
            for (i, j) in c.pixels {
                region[[i, j]] = true;
            }
        }
    }

    // 4. Partial-volume edge: boundary tissue level near each edge pixel.
    let band = ((p.pixel_mm.recip() * 1.0).ceil() as u8).max(1);
    let outer = dilation(&region, Norm::LInf, band);
    let inner = erosion(&region, Norm::LInf, band);
    let r = band as i64 + 2;
    let ring: Vec<f32> = {
        let ring2 = dilation(&region, Norm::LInf, band + 2);
        ndarray::Zip::from(&f)
            .and(&ring2)
            .and(&outer)
            .fold(Vec::new(), |mut acc, &v, &a, &b| {
                if a && !b {
                    acc.push(v);
                }
                acc
            })
    };
    let boundary_ref = percentile(&ring, 50.0)
        .or_else(|| {
            // No ring inside the window: everything outside the band.
            let outside: Vec<f32> =
                ndarray::Zip::from(&f)
                    .and(&outer)
                    .fold(Vec::new(), |mut acc, &v, &o| {
                        if !o {
                            acc.push(v);
                        }
                        acc
                    });
            percentile(&outside, 50.0)
        })
        .unwrap_or(floor);
    let root_pixels = Array2::from_shape_fn((h, w), |(i, j)| {
        region[[i, j]] && !grown[[i, j]] && f[[i, j]] < t_final
    });
    let mut mask = Array2::from_elem((h, w), false);
    for i in 0..h {
        for j in 0..w {
            if !outer[[i, j]] {
                continue;
            }
            if inner[[i, j]] || root_pixels[[i, j]] {
                mask[[i, j]] = true;
                continue;
            }
            // Local outside level: a low percentile of the tissue beyond the band.
            let mut local = Vec::new();
            for ni in (i as i64 - r).max(0)..=(i as i64 + r).min(h as i64 - 1) {
                for nj in (j as i64 - r).max(0)..=(j as i64 + r).min(w as i64 - 1) {
                    let (ni, nj) = (ni as usize, nj as usize);
                    if !outer[[ni, nj]] {
                        local.push(f[[ni, nj]]);
                    }
                }
            }
            let out = percentile(&local, 30.0)
                .unwrap_or(boundary_ref)
                .min(t_final);
            let level = 0.5 * (fat_ref + out);
            mask[[i, j]] = f[[i, j]] >= level && (region[[i, j]] || touches(&region, i, j));
        }
    }
    let mask = fill_holes(&mask);
    // The root is the largest non-fat component inside the foramen, if it is at least
    // a few mm² (smaller specks are noise or partial volume, counted as foramen).
    let root = {
        let candidates =
            Array2::from_shape_fn((h, w), |(i, j)| mask[[i, j]] && root_pixels[[i, j]]);
        let mut root = Array2::from_elem((h, w), false);
        if let Some(c) = connected_components(&candidates)
            .into_iter()
            .max_by_key(|c| c.pixels.len())
            .filter(|c| c.pixels.len() as f64 * px2 >= MIN_ROOT_MM2)
        {
            for (i, j) in c.pixels {
                root[[i, j]] = true;
            }
        }
        root
    };
    let n = mask.iter().filter(|&&m| m).count();
    let n_root = root.iter().filter(|&&m| m).count();
    if n == 0 {
        return None;
    }
    let cnr = if sigma > 0.0 {
        (fat_ref - boundary_ref) as f64 / sigma
    } else {
        f64::INFINITY
    };
    Some(SliceSegmentation {
        area_mm2: n as f64 * px2,
        fat_area_mm2: (n - n_root) as f64 * px2,
        mask,
        root,
        fat_ref,
        boundary_ref,
        cnr,
        score,
    })
}

/// Whether pixel (i, j) is within the band around `region` (8-neighbourhood reach of
/// two pixels): keeps the edge from jumping to unrelated bright tissue.
fn touches(region: &Array2<bool>, i: usize, j: usize) -> bool {
    let (h, w) = region.dim();
    for ni in i.saturating_sub(2)..=(i + 2).min(h - 1) {
        for nj in j.saturating_sub(2)..=(j + 2).min(w - 1) {
            if region[[ni, nj]] {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bright disk (fat) in a dark frame with a darker ring (cortex) and a small
    /// intermediate blob (root) inside, rendered with partial volume by supersampling.
    fn disk_image(radius_px: f64, px_mm: f64) -> Array2<f32> {
        let n = 80;
        let c = 40.0;
        Array2::from_shape_fn((n, n), |(i, j)| {
            let mut acc = 0.0;
            for a in 0..8 {
                for b in 0..8 {
                    let y = i as f64 + (a as f64 + 0.5) / 8.0 - 0.5 - c;
                    let x = j as f64 + (b as f64 + 0.5) / 8.0 - 0.5 - c;
                    let r = (x * x + y * y).sqrt();
                    let root = ((x + 2.0).powi(2) + (y + 3.0).powi(2)).sqrt() < 2.5 / px_mm;
                    acc += if r < radius_px {
                        if root { 450.0 } else { 1000.0 }
                    } else if r < radius_px + 2.0 / px_mm {
                        50.0
                    } else {
                        700.0
                    };
                }
            }
            (acc / 64.0) as f32
        })
    }

    fn params(px: f64) -> SegmentParams {
        SegmentParams {
            is_ct: false,
            pixel_mm: px,
            spacing_mm: 35.0,
            prior_centre: (40.0, 40.0),
            prior_sigma: (20.0, 20.0),
        }
    }

    #[test]
    fn disk_area_is_measured_to_within_three_percent_or_two_mm2_including_the_root() {
        for (r_px, px) in [(12.3, 0.5), (17.8, 0.5), (9.6, 0.4)] {
            let img = disk_image(r_px, px);
            let seg = segment(&img, &params(px)).expect("a closed bright disk is found");
            let truth = std::f64::consts::PI * (r_px * px).powi(2);
            let err = (seg.area_mm2 - truth).abs();
            assert!(
                err < (0.03 * truth).max(2.0),
                "r {r_px}: {:.1} vs {truth:.1}",
                seg.area_mm2
            );
            // The root is inside and counted as foramen, not fat.
            assert!(seg.root.iter().any(|&m| m));
            assert!(seg.fat_area_mm2 < seg.area_mm2);
        }
    }

    #[test]
    fn an_open_region_is_not_a_foramen() {
        // Bright everywhere left of a vertical line: touches the border.
        let img = Array2::from_shape_fn((60, 60), |(_, j)| if j < 30 { 1000.0 } else { 100.0 });
        assert!(segment(&img, &params(0.5)).is_none());
    }
}
