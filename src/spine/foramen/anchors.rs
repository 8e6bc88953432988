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

/// Column of the posterior wall of the disc and bodies on every row of a level's plane
/// (smoothed, foramen-bright image, pixel `px`, disc spacing `s`, disc row `i0`; the
/// ROI's column 0 is the disc centre). On each row the wall is the first strong
/// intensity step (at least half the row's strongest) 0.35-0.8 `s` behind the disc
/// centre (the disc or body margin against the foramen, whatever the sign of the step);
/// the rows crossing the disc give the level's wall `w0` (median), and a row whose step
/// lies more than 3 mm from `w0` (a pedicle row: the body runs on into the pedicle) takes
/// `w0`. Median over 5 rows.
pub(super) fn posterior_wall(sm: &Array2<f32>, px: f64, s: f64, i0: f64) -> Vec<f64> {
    let (h, w) = sm.dim();
    let k = ((1.0 / px).round() as usize).max(1);
    let c0 = ((0.35 * s / px) as usize).max(k);
    let c1 = ((0.8 * s / px) as usize).min(w.saturating_sub(k + 1));
    let found: Vec<Option<f64>> = (0..h)
        .map(|i| {
            if c0 > c1 {
                return None;
            }
            let g: Vec<f32> = (c0..=c1)
                .map(|j| (sm[[i, j + k]] - sm[[i, j - k]]).abs())
                .collect();
            if g.iter().any(|x| !x.is_finite()) {
                return None;
            }
            let max = g.iter().copied().fold(0.0f32, f32::max);
            if max <= 0.0 {
                return None;
            }
            let first = g.iter().position(|&x| x >= 0.5 * max)?;
            // The top of that step.
            let mut j = first;
            while j + 1 < g.len() && g[j + 1] >= g[j] {
                j += 1;
            }
            Some((c0 + j) as f64)
        })
        .collect();
    let band = (0.15 * s / px).max(2.0);
    let mut near: Vec<f64> = found
        .iter()
        .enumerate()
        .filter(|(i, _)| (*i as f64 - i0).abs() <= band)
        .filter_map(|(_, f)| *f)
        .collect();
    near.sort_by(f64::total_cmp);
    let w0 = near.get(near.len() / 2).copied().unwrap_or(0.5 * s / px);
    let tol = 3.0 / px;
    let raw: Vec<f64> = found
        .iter()
        .map(|f| f.filter(|x| (x - w0).abs() <= tol).unwrap_or(w0))
        .collect();
    (0..h)
        .map(|i| {
            let mut win: Vec<f64> = raw[i.saturating_sub(2)..(i + 3).min(h)].to_vec();
            win.sort_by(f64::total_cmp);
            win[win.len() / 2]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wall_is_the_disc_margin_and_pedicle_rows_keep_the_level_wall() {
        // s = 40 mm, 1 mm pixels: disc (300) up to column 20 on rows 15..25, fat (1000)
        // behind it; rows above 15 are "pedicle": marrow (600) running on to column 30.
        let img = Array2::from_shape_fn((40, 44), |(i, j)| match (i, j) {
            (15..=25, 0..20) => 300.0,
            (15..=25, _) => 1000.0,
            (_, 0..30) => 600.0,
            _ => 1000.0,
        });
        let wall = posterior_wall(&img, 1.0, 40.0, 20.0);
        // Step between columns 19 and 20, seen from j ± 1: columns 19 and 20 equal;
        // the first maximum is 19.
        assert!((wall[20] - 19.0).abs() <= 1.0, "{}", wall[20]);
        // Pedicle rows: their step (29-30) is > 3 mm from the disc's: the level wall.
        assert!((wall[5] - wall[20]).abs() <= 1.0, "{}", wall[5]);
    }
}
