//! How far a foramen's measurements can be trusted.

use super::ForamenResult;
use crate::volume::{Modality, Weighting};

/// Confidence from image quality and the evidence behind the measurement: the level
/// label's confidence, lowered for thick slices, T2 instead of T1, low fat/boundary
/// contrast on the minimum-area plane and a foramen seen on one plane only; rounded to
/// hundredths, with a note per reason.
pub(super) fn confidence(
    res: &mut ForamenResult,
    disc_confidence: f64,
    modality: Modality,
    weighting: Option<Weighting>,
) {
    let mut c = disc_confidence.clamp(0.0, 1.0);
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
    if modality == Modality::MR && weighting == Some(Weighting::T2) {
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
    if disc_confidence < 0.5 {
        notes.push("uncertain level label".into());
    }
    res.confidence = (c * 100.0).round() / 100.0;
    res.confidence_notes = notes;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spine::foramen::roi::{RoiFrame, SlicePlane};
    use crate::spine::foramen::segment::SliceSegmentation;
    use crate::spine::foramen::{Side, SliceResult, unmeasured};
    use ndarray::Array2;

    fn result(thickness_mm: f64, cnr: f64, planes: usize) -> ForamenResult {
        let slice = SliceResult {
            plane: SlicePlane {
                index: 0,
                position_mm: 0.0,
                point: [0.0; 3],
                normal: [1.0, 0.0, 0.0],
                thickness_mm,
                source_pixel_mm: 0.5,
            },
            roi: RoiFrame {
                origin: [0.0; 3],
                up: [0.0, 0.0, 1.0],
                back: [0.0, 1.0, 0.0],
                pixel_mm: 0.5,
                rows: 2,
                cols: 2,
            },
            seg: SliceSegmentation {
                mask: Array2::from_elem((2, 2), true),
                root: Array2::from_elem((2, 2), false),
                area_mm2: 1.0,
                fat_area_mm2: 1.0,
                fat_ref: 100.0,
                boundary_ref: 10.0,
                cnr,
                score: 1.0,
            },
            image: Array2::zeros((2, 2)),
        };
        let mut r = unmeasured("L4-L5", Side::Left, "test");
        r.slices = vec![slice; planes];
        r.min_slice = Some(0);
        r
    }

    #[test]
    fn every_weakness_lowers_the_confidence_by_its_factor() {
        // 0.9 · (1 - 0.1·(5 - 4)) · 0.85 · (2/4) · 0.75 = 0.2581875 → 0.26.
        let mut r = result(5.0, 2.0, 1);
        confidence(&mut r, 0.9, Modality::MR, Some(Weighting::T2));
        assert_eq!(r.confidence, 0.26);
        assert_eq!(
            r.confidence_notes,
            vec![
                "thick slices (5.0 mm)",
                "T2 instead of T1",
                "low fat/boundary contrast (CNR 2.0)",
                "foramen seen on one plane only"
            ]
        );
        // CT, thin slices, good contrast, two planes: only the label's confidence.
        let mut r = result(1.0, 9.0, 2);
        confidence(&mut r, 0.4, Modality::CT, Some(Weighting::T2));
        assert_eq!(r.confidence, 0.4);
        assert_eq!(r.confidence_notes, vec!["uncertain level label"]);
        // Very low contrast is floored at 0.3; very thick slices at 0.5.
        let mut r = result(20.0, 0.1, 2);
        confidence(&mut r, 1.0, Modality::MR, Some(Weighting::T1));
        assert_eq!(r.confidence, 0.15);
        // No minimum plane: nothing to trust.
        let mut r = unmeasured("L4-L5", Side::Left, "test");
        confidence(&mut r, 1.0, Modality::MR, None);
        assert_eq!(r.confidence, 0.0);
    }
}
