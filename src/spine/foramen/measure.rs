//! Measurements on the minimum-area plane: height and width extents, posterior disc
//! height, perineural fat around the root.

use ndarray::Array2;

use super::rays::SliceSegmentation;
use super::roi::RoiFrame;
use super::{FatRim, ROI_A, SliceResult};
use crate::imageops::percentile;
use crate::volume::Vec3;

/// How far from the disc row the foramen's front is looked for when measuring the
/// posterior disc height (fraction of the disc spacing).
const PDH_FRONT_REACH: f64 = 0.3;

/// Largest extent along the disc axis (rows) over the columns of the mask: the first
/// column with the longest extent and its top and bottom rows `(column, top, bottom)`.
pub(super) fn height_extent(mask: &Array2<bool>) -> Option<(usize, usize, usize)> {
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
pub(super) fn extent_ends(
    roi: &RoiFrame,
    down: bool,
    (k, a, b): (usize, usize, usize),
) -> [Vec3; 2] {
    let (k, a, b) = (k as f64, a as f64 - 0.5, b as f64 + 0.5);
    if down {
        [roi.point(a, k), roi.point(b, k)]
    } else {
        [roi.point(k, a), roi.point(k, b)]
    }
}

/// Antero-posterior extent on the row of the disc mid-plane (nearest row with mask
/// pixels within 1 mm): `(row, first column, last column)`.
pub(super) fn width_extent(mask: &Array2<bool>, px: f64, i0: f64) -> Option<(usize, usize, usize)> {
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
pub(super) fn posterior_disc_height(
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
    let d0 = percentile(&centre, 50.0)?;
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
pub(super) fn fat_rim(seg: &SliceSegmentation, px: f64) -> Option<FatRim> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spine::foramen::rays::NRAY;
    use crate::volume::geometry::{norm, sub};

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

    fn seg(mask: &[&str]) -> SliceSegmentation {
        // '#' fat, 'R' root, '.' outside the foramen.
        let at = |i: usize, j: usize| mask[i].as_bytes()[j];
        let dim = (mask.len(), mask[0].len());
        SliceSegmentation {
            mask: Array2::from_shape_fn(dim, |(i, j)| at(i, j) != b'.'),
            root: Array2::from_shape_fn(dim, |(i, j)| at(i, j) == b'R'),
            area_mm2: 0.0,
            fat_area_mm2: 0.0,
            fat_ref: 100.0,
            boundary_ref: 10.0,
            cnr: 10.0,
            score: 1.0,
            seed: (0.0, 0.0),
            radii: [0.0; NRAY],
            open: [false; NRAY],
            closed: true,
        }
    }

    #[test]
    fn fat_rim_counts_fat_pixels_from_the_root_to_the_boundary() {
        let s = seg(&[
            ".......", //
            ".#####.", //
            ".#R###.", //
            ".#####.", //
            ".#####.", //
            ".#####.", //
            ".......",
        ]);
        // Root at (2, 2): 1 fat pixel above, 3 below, 1 in front, 3 behind; 0.5 mm pixels.
        assert_eq!(
            fat_rim(&s, 0.5),
            Some(FatRim {
                superior: Some(0.5),
                inferior: Some(1.5),
                anterior: Some(0.5),
                posterior: Some(1.5),
            })
        );
        // Root met again after fat (inferior), and a walk leaving the image (superior):
        // no boundary in those directions.
        let s = seg(&[
            "..#....", //
            ".###...", //
            ".#R#...", //
            ".#R#...", //
            ".###...", //
            ".#R#...", //
            ".###...",
        ]);
        // Centre: rows (2 + 3 + 5) / 3 = 3.33 → 3, column 2.
        let rim = fat_rim(&s, 1.0).unwrap();
        assert_eq!(rim.superior, None); // root (row 2), fat (rows 1, 0), then off the image
        assert_eq!(rim.inferior, None); // fat (row 4), then root (row 5) again
        assert_eq!((rim.anterior, rim.posterior), (Some(1.0), Some(1.0)));
        assert_eq!(fat_rim(&seg(&["###"]), 1.0), None);
    }

    #[test]
    fn endplates_are_at_the_steepest_fall_refined_by_a_parabola() {
        // A column symmetric about row 12: disc 100 up to 2 rows away, then 60, 10, the
        // cortex (0) at 5 rows and marrow (50) beyond. Steps outward: 0, 0, 40, 50, 10;
        // the largest (50) lies between 3 and 4 rows out, and the parabola through
        // 40, 50, 10 peaks 0.5·(40 - 10)/(40 - 100 + 10) = -0.3 from it: 3.2 rows.
        let profile = |d: usize| match d {
            0..=2 => 100.0,
            3 => 60.0,
            4 => 10.0,
            5 => 0.0,
            _ => 50.0,
        };
        let img = Array2::from_shape_fn((25, 3), |(i, _)| {
            profile((i as i64 - 12).unsigned_abs() as usize)
        });
        let (up, down) = endplates_at_column(&img, 1.0, 1, 12, 35.0).unwrap();
        assert!(
            (up - 8.8).abs() < 1e-6 && (down - 15.2).abs() < 1e-6,
            "{up} {down}"
        );
        // Nothing darker than the disc: no endplate.
        let flat = Array2::from_elem((25, 3), 100.0f32);
        assert!(endplates_at_column(&flat, 1.0, 1, 12, 35.0).is_none());
    }
}
