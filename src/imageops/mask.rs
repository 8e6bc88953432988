//! Operations on binary masks (`Array2<bool>`): morphology, hole filling, overlap.

use image::{GrayImage, Luma};
use imageproc::distance_transform::Norm;
use ndarray::Array2;

use super::label::connected_components;

fn to_gray(mask: &Array2<bool>) -> GrayImage {
    let (h, w) = mask.dim();
    GrayImage::from_fn(w as u32, h as u32, |x, y| {
        Luma([if mask[[y as usize, x as usize]] {
            255
        } else {
            0
        }])
    })
}

fn from_gray(img: &GrayImage) -> Array2<bool> {
    let (w, h) = img.dimensions();
    Array2::from_shape_fn((h as usize, w as usize), |(i, j)| {
        img.get_pixel(j as u32, i as u32)[0] > 0
    })
}

/// Binary dilation by the ball of radius `k` in `norm` (imageproc's): a pixel is set
/// when some set pixel lies within distance `k`.
pub fn dilation(mask: &Array2<bool>, norm: Norm, k: u8) -> Array2<bool> {
    from_gray(&imageproc::morphology::dilate(&to_gray(mask), norm, k))
}

/// Binary erosion by the ball of radius `k` in `norm` (imageproc's): a pixel stays set
/// when no unset pixel lies within distance `k` (pixels beyond the image border do not
/// count as unset).
pub fn erosion(mask: &Array2<bool>, norm: Norm, k: u8) -> Array2<bool> {
    from_gray(&imageproc::morphology::erode(&to_gray(mask), norm, k))
}

/// Binary closing (dilation, then erosion) by the ball of radius `k` in `norm`
/// (imageproc's): fills gaps and notches narrower than the ball.
pub fn closing(mask: &Array2<bool>, norm: Norm, k: u8) -> Array2<bool> {
    from_gray(&imageproc::morphology::close(&to_gray(mask), norm, k))
}

/// Hole filling: the mask plus every 4-connected background component that does not
/// touch the image border.
pub fn fill_holes(mask: &Array2<bool>) -> Array2<bool> {
    let inv = mask.mapv(|m| !m);
    let mut out = mask.clone();
    for c in connected_components(&inv) {
        if !c.touches_border {
            for (i, j) in c.pixels {
                out[[i, j]] = true;
            }
        }
    }
    out
}

/// Overlap coefficient (Szymkiewicz-Simpson) `|A ∩ B| / min(|A|, |B|)`: the fraction of
/// the smaller mask covered by the other; 0 for masks of different shapes or when one
/// is empty.
pub fn overlap_coefficient(a: &Array2<bool>, b: &Array2<bool>) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(rows: &[&str]) -> Array2<bool> {
        Array2::from_shape_fn((rows.len(), rows[0].len()), |(i, j)| {
            rows[i].as_bytes()[j] == b'#'
        })
    }

    #[test]
    fn dilation_and_erosion_by_a_square_and_a_cross() {
        let dot = mask(&[".....", ".....", "..#..", ".....", "....."]);
        let square = mask(&[".....", ".###.", ".###.", ".###.", "....."]);
        let cross = mask(&[".....", "..#..", ".###.", "..#..", "....."]);
        assert_eq!(dilation(&dot, Norm::LInf, 1), square);
        assert_eq!(dilation(&dot, Norm::L1, 1), cross);
        assert_eq!(erosion(&square, Norm::LInf, 1), dot);
        assert_eq!(erosion(&cross, Norm::L1, 1), dot);
    }

    #[test]
    fn closing_bridges_gaps_narrower_than_the_ball() {
        // A 3×3 square fits into no background pixel of a 2-column gap, but into every
        // pixel of a 3-column one. (Two background rows and columns round the blobs:
        // the border counts as foreground for the erosion.)
        let gap = mask(&[
            "..........",
            "..........",
            "..##..##..",
            "..##..##..",
            "..........",
            "..........",
        ]);
        let bridged = mask(&[
            "..........",
            "..........",
            "..######..",
            "..######..",
            "..........",
            "..........",
        ]);
        assert_eq!(closing(&gap, Norm::LInf, 1), bridged);
        let wide = mask(&[
            "...........",
            "...........",
            "..##...##..",
            "..##...##..",
            "...........",
            "...........",
        ]);
        assert_eq!(closing(&wide, Norm::LInf, 1), wide);
    }

    #[test]
    fn holes_are_filled_but_not_bays_open_to_the_border() {
        let ring = mask(&["#####", "#...#", "#.#.#", "#...#", "#####"]);
        assert!(fill_holes(&ring).iter().all(|&m| m));
        // The bay reaches the border through column 2 of the top row.
        let bay = mask(&["##.##", "#...#", "#...#", "#####"]);
        assert_eq!(fill_holes(&bay), bay);
    }

    #[test]
    fn overlap_is_relative_to_the_smaller_mask() {
        let a = mask(&["####", "####"]);
        let b = mask(&["..##", "...."]);
        let c = mask(&["...#", "...#"]);
        assert_eq!(overlap_coefficient(&a, &b), 1.0);
        assert_eq!(overlap_coefficient(&b, &c), 0.5);
        assert_eq!(overlap_coefficient(&a, &mask(&["....", "...."])), 0.0);
        assert_eq!(overlap_coefficient(&a, &mask(&["##"])), 0.0);
    }
}
