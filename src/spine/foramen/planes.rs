//! Which segmented planes belong to the foramen: the run of planes whose regions
//! overlap their neighbours', and of those the planes capped by bone (the pedicles).

use super::SliceResult;
use super::segment::SliceSegmentation;
use crate::imageops::overlap_coefficient;

/// Minimum overlap and area ratio linking the foramen regions of neighbouring planes:
/// a fragment inside the foramen's footprint overlaps it but is much smaller.
const LINK_OVERLAP: f64 = 0.5;
const LINK_AREA_RATIO: f64 = 0.3;

fn linked(a: &SliceSegmentation, b: &SliceSegmentation) -> bool {
    let ratio = a.area_mm2.min(b.area_mm2) / a.area_mm2.max(b.area_mm2).max(1e-9);
    ratio >= LINK_AREA_RATIO && overlap_coefficient(&a.mask, &b.mask) >= LINK_OVERLAP
}

/// The run of consecutive planes (sorted by position) whose masks overlap their
/// neighbour's, with the largest total score (size and position of the regions).
pub(super) fn overlapping_run(slices: Vec<SliceResult>) -> Vec<SliceResult> {
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
pub(super) fn bounded_by_bone(r: &SliceResult, is_ct: bool) -> (bool, bool) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spine::foramen::roi::{RoiFrame, SlicePlane};
    use ndarray::Array2;

    /// A plane at `position_mm` whose foramen is the '#' pixels of `rows` (1 mm pixels).
    fn slice(position_mm: f64, rows: &[&str], score: f64, image: Array2<f32>) -> SliceResult {
        let mask = Array2::from_shape_fn((rows.len(), rows[0].len()), |(i, j)| {
            rows[i].as_bytes()[j] == b'#'
        });
        let area = mask.iter().filter(|&&m| m).count() as f64;
        SliceResult {
            plane: SlicePlane {
                index: 0,
                position_mm,
                point: [position_mm, 0.0, 0.0],
                normal: [1.0, 0.0, 0.0],
                thickness_mm: 1.0,
                source_pixel_mm: 1.0,
            },
            roi: RoiFrame {
                origin: [0.0; 3],
                up: [0.0, 0.0, 1.0],
                back: [0.0, 1.0, 0.0],
                pixel_mm: 1.0,
                rows: mask.nrows(),
                cols: mask.ncols(),
            },
            seg: SliceSegmentation {
                root: Array2::from_elem(mask.dim(), false),
                mask,
                area_mm2: area,
                fat_area_mm2: area,
                fat_ref: 100.0,
                boundary_ref: 10.0,
                cnr: 10.0,
                score,
            },
            image,
        }
    }

    fn run(planes: &[(f64, &str, f64)]) -> Vec<f64> {
        let slices = planes
            .iter()
            .map(|&(p, m, s)| slice(p, &[m], s, Array2::zeros((1, m.len()))))
            .collect();
        overlapping_run(slices)
            .iter()
            .map(|r| r.plane.position_mm)
            .collect()
    }

    #[test]
    fn the_linked_run_with_the_largest_total_score_is_kept() {
        // 0-1 overlap (3 of 3 pixels), 1-2 do not, 2-3 overlap (2 of 2): two runs,
        // scores 2 and 2.5.
        let planes = [
            (0.0, "####....", 1.0),
            (1.0, "###.....", 1.0),
            (2.0, "......##", 1.5),
            (3.0, ".....###", 1.0),
        ];
        assert_eq!(run(&planes), vec![2.0, 3.0]);
        let mut weaker = planes;
        weaker[3].2 = 0.4;
        assert_eq!(run(&weaker), vec![0.0, 1.0]);
        // Equal totals: the first run stays.
        assert_eq!(run(&[(0.0, "##..", 1.0), (1.0, "..##", 1.0)]), vec![0.0]);
    }

    #[test]
    fn a_gap_in_position_or_a_small_fragment_breaks_the_run() {
        // Steps of 1 mm, then 2 mm (> 1.5 steps): the last plane stands alone.
        let gap = [(0.0, "####", 1.0), (1.0, "####", 1.0), (3.0, "####", 5.0)];
        assert_eq!(run(&gap), vec![3.0]);
        // Fully inside but a quarter of the size (< 0.3): not the same region.
        let fragment = [(0.0, "########", 1.0), (1.0, "##......", 1.5)];
        assert_eq!(run(&fragment), vec![1.0]);
        let third = [(0.0, "######..", 1.0), (1.0, "##......", 1.5)];
        assert_eq!(run(&third), vec![0.0, 1.0]);
        assert_eq!(run(&[(4.0, "#", 1.0)]), vec![4.0]);
    }

    #[test]
    fn bone_above_and_below_the_foramen() {
        let rows = [
            ".....", ".....", ".....", ".....", "#####", "#####", "#####", "#####", ".....",
            ".....", ".....", ".....",
        ];
        // CT (negated HU): cortex at -1000 above on 3 of the 5 columns, soft tissue
        // (-30) everywhere below: capped above (a majority), not below.
        let ct = Array2::from_shape_fn(
            (12, 5),
            |(i, j)| {
                if i < 4 && j % 2 == 0 { -1000.0 } else { -30.0 }
            },
        );
        assert_eq!(
            bounded_by_bone(&slice(0.0, &rows, 1.0, ct), true),
            (true, false)
        );
        let ct = Array2::from_shape_fn(
            (12, 5),
            |(i, j)| {
                if i < 4 && j < 2 { -1000.0 } else { -30.0 }
            },
        );
        assert_eq!(
            bounded_by_bone(&slice(0.0, &rows, 1.0, ct), true),
            (false, false)
        );
        // MR with fat at 100: above, a void (20) then marrow (70); below, only the void.
        let mr = Array2::from_shape_fn((12, 5), |(i, _)| match i {
            3 | 8.. => 20.0,
            0..=2 => 70.0,
            _ => 100.0,
        });
        assert_eq!(
            bounded_by_bone(&slice(0.0, &rows, 1.0, mr), false),
            (true, false)
        );
        // Marrow without the void before it is not bone.
        let mr = Array2::from_shape_fn((12, 5), |(i, _)| if i < 4 { 70.0 } else { 100.0 });
        assert_eq!(
            bounded_by_bone(&slice(0.0, &rows, 1.0, mr), false),
            (false, false)
        );
    }
}
