//! Non-maximum suppression.

use ndarray::Array2;

/// Local maxima (non-maximum suppression): the pixels `(row, column, value)` with value
/// at least `min_value` and no larger value within Euclidean distance `radius_px`
/// (ties go to the pixel first in raster order, so a plateau gives one peak), strongest
/// first (ties in raster order). Written here because imageproc's `suppress_non_maximum`
/// uses a square window and `u32`-ordered images.
pub fn local_maxima(
    resp: &Array2<f32>,
    radius_px: f64,
    min_value: f32,
) -> Vec<(usize, usize, f32)> {
    let (h, w) = resp.dim();
    let rad = radius_px.ceil().max(1.0) as isize;
    let mut peaks: Vec<(usize, usize, f32)> = Vec::new();
    for r in 0..h {
        for c in 0..w {
            let v = resp[[r, c]];
            if v < min_value {
                continue;
            }
            let mut is_max = true;
            'win: for dr in -rad..=rad {
                for dc in -rad..=rad {
                    let (rr, cc) = (r as isize + dr, c as isize + dc);
                    if (dr == 0 && dc == 0)
                        || rr < 0
                        || cc < 0
                        || rr >= h as isize
                        || cc >= w as isize
                    {
                        continue;
                    }
                    if (dr * dr + dc * dc) as f64 > radius_px * radius_px {
                        continue;
                    }
                    let u = resp[[rr as usize, cc as usize]];
                    // Ties broken by position so plateaus give one peak.
                    if u > v || (u == v && (rr, cc) < (r as isize, c as isize)) {
                        is_max = false;
                        break 'win;
                    }
                }
            }
            if is_max {
                peaks.push((r, c, v));
            }
        }
    }
    peaks.sort_by(|a, b| b.2.total_cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
    peaks
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn peaks_within_the_radius_suppress_weaker_ones() {
        let r = array![
            [0.0f32, 0.0, 0.0, 0.0, 0.0],
            [0.0, 5.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 2.0, 0.0],
            [0.0, 0.0, 0.0, 0.0, 3.0],
            [1.0, 0.0, 0.0, 0.0, 0.0],
        ];
        // Radius 1: (2, 3) and (3, 4) are diagonal neighbours, √2 apart: both peaks.
        assert_eq!(
            local_maxima(&r, 1.0, 0.5),
            vec![(1, 1, 5.0), (3, 4, 3.0), (2, 3, 2.0), (4, 0, 1.0)]
        );
        // Radius 1.5 reaches the diagonal: (2, 3) is suppressed by (3, 4).
        assert_eq!(
            local_maxima(&r, 1.5, 0.5),
            vec![(1, 1, 5.0), (3, 4, 3.0), (4, 0, 1.0)]
        );
        // Below the floor: not a peak.
        assert_eq!(local_maxima(&r, 1.0, 2.5), vec![(1, 1, 5.0), (3, 4, 3.0)]);
    }

    #[test]
    fn a_plateau_gives_its_first_pixel() {
        let r = array![[0.0f32, 4.0, 4.0], [0.0, 4.0, 0.0]];
        assert_eq!(local_maxima(&r, 1.0, 1.0), vec![(0, 1, 4.0)]);
    }
}
