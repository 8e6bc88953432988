//! What the ray segmentation takes from the anatomy around a level: the marrow level of
//! the two vertebral bodies and the posterior wall of the disc and bodies per row.

use ndarray::Array2;

use super::roi::sample_at;
use crate::imageops::percentile;
use crate::spine::levels::Disc;
use crate::volume::geometry::{add, scale};
use crate::volume::{Modality, Volume};

/// Marrow level (foramen-bright units): the median of an 8 mm cube (1 mm grid) at each
/// vertebral body's centre, half a disc spacing above and below the disc centre; the
/// median of the two. `None` when neither body is in the data.
pub(super) fn marrow_level(v: &Volume, disc: &Disc, s: f64) -> Option<f32> {
    let sign = if v.modality == Modality::CT {
        -1.0
    } else {
        1.0
    };
    let mut meds = Vec::new();
    for dir in [-0.5, 0.5] {
        let c = add(disc.center_mm, scale(disc.axis, dir * s));
        let mut vals = Vec::with_capacity(729);
        for a in -4..=4 {
            for b in -4..=4 {
                for d in -4..=4 {
                    let p = add(c, [a as f64, b as f64, d as f64]);
                    vals.push(sign * sample_at(v, p));
                }
            }
        }
        if let Some(m) = percentile(&vals, 50.0) {
            meds.push(m);
        }
    }
    match meds.as_slice() {
        [] => None,
        [m] => Some(*m),
        [a, b, ..] => Some(0.5 * (a + b)),
    }
}

/// Column of the posterior wall of the disc on every row of a level's plane (smoothed,
/// foramen-bright image, pixel `px`, disc spacing `s`, disc row `i0`; the ROI's column 0
/// is the disc centre). On the rows crossing the disc (±0.1 `S`), walking back from
/// 0.25 `S` behind the disc centre, the wall is where the image leaves the disc's own
/// level (median at 0.1-0.25 `S`) by more than a quarter of the plane's range for
/// 1 mm: the annulus, or the fat or bone behind the disc, whatever their signal. It errs
/// forward (a dark annulus inside a bright T2 disc), which only lets rays run further
/// before the disc stops them. Rows away from the disc take the median of the disc rows
/// (the bodies' walls are in line with the disc's).
pub(super) fn posterior_wall(sm: &Array2<f32>, px: f64, s: f64, i0: f64) -> Vec<f64> {
    let (h, w) = sm.dim();
    let fallback = vec![0.25 * s / px; h];
    let finite: Vec<f32> = sm.iter().copied().filter(|x| x.is_finite()).collect();
    let (Some(lo), Some(hi)) = (percentile(&finite, 5.0), percentile(&finite, 95.0)) else {
        return fallback;
    };
    let thr = 0.25 * (hi - lo);
    let band = ((0.1 * s / px).round() as i64).max(1);
    let run = ((1.0 / px).round() as usize).max(1);
    let (d0, d1) = ((0.1 * s / px) as usize, (0.25 * s / px) as usize);
    let mut walls = Vec::new();
    for i in (i0.round() as i64 - band)..=(i0.round() as i64 + band) {
        if i < 0 || i >= h as i64 || d1 >= w {
            continue;
        }
        let row: Vec<f32> = (0..w).map(|j| sm[[i as usize, j]]).collect();
        let Some(disc) = percentile(&row[d0..=d1], 50.0) else {
            continue;
        };
        let off = |j: usize| row[j].is_finite() && (row[j] - disc).abs() > thr;
        if let Some(j) = (d1..w.saturating_sub(run)).find(|&j| (j..j + run).all(off)) {
            walls.push(j as f64);
        }
    }
    walls.sort_by(f64::total_cmp);
    match walls.get(walls.len() / 2) {
        Some(&w0) => vec![w0; h],
        None => fallback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wall_is_where_the_disc_ends_whatever_the_signal_behind_it() {
        // s = 40 mm, 1 mm pixels, disc row 20: disc (300) up to column 20 on rows
        // 15..25, then fat (1000) or (another plane) bone (50); marrow (600) elsewhere.
        for behind in [1000.0f32, 50.0] {
            let img = Array2::from_shape_fn((40, 44), |(i, j)| match (i, j) {
                (15..=25, 0..20) => 300.0,
                (15..=25, _) => behind,
                _ => 600.0,
            });
            let wall = posterior_wall(&img, 1.0, 40.0, 20.0);
            assert_eq!(wall.len(), 40);
            assert!(wall.iter().all(|&w| w == 20.0), "{:?}", &wall[..3]);
        }
        // No disc contrast at all: the fallback 0.25 S.
        let flat = Array2::from_elem((40, 44), 500.0f32);
        assert_eq!(posterior_wall(&flat, 1.0, 40.0, 20.0)[0], 10.0);
    }
}
