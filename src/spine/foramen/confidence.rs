//! How far a foramen's measurements can be trusted.

use super::ForamenResult;
use crate::volume::{Modality, Weighting};

/// What the ray segmentation saw of one foramen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Evidence {
    /// A closed ring on at least one plane (otherwise the least open plane is reported).
    pub closed: bool,
    /// Fraction of open rays on the minimum-area plane.
    pub open_fraction: f64,
    /// Planes kept (the closed run).
    pub planes: usize,
    /// Largest area change between neighbouring kept planes (fraction).
    pub area_jump: f64,
    /// Fat-marrow contrast relative to fat-dark (see `Anchors::contrast`).
    pub contrast: f64,
}

/// Below this fat-marrow contrast the boundary between foramen and bone is faint.
const FAINT: f64 = 0.25;
/// Neighbouring planes disagree above this area jump.
const JUMP: f64 = super::JUMP;
/// Confidence ceiling without a closed ring.
const OPEN_CAP: f64 = 0.3;
/// Confidence of the best-supported measurement. The confidence is meant as the chance
/// that the area lies within 20 % of a careful reading (docs/reference-protocol.md). On
/// the development reference the best class of foramina (closed ring, area like the
/// spine's others, label sure) agreed 54-61 % of the time, and two readers agreed
/// only 42 % of the time (docs/validation.md), so no foramen is reported above this.
const CEILING: f64 = 0.65;
/// Level label confidence → factor: the measurement belongs to the level only as far as
/// the label is right (real discs: right 99 % at label confidence ≥ 0.5, 86 % at
/// 0.25-0.5, 76 % below).
fn label_factor(disc_confidence: f64) -> f64 {
    if disc_confidence >= 0.5 {
        1.0
    } else if disc_confidence >= 0.25 {
        0.85
    } else {
        0.75
    }
}

/// Confidence from image quality and the evidence behind the measurement: the ceiling,
/// lowered for an uncertain level label, thick slices, T2 instead of T1, low
/// fat/boundary contrast, a ring not closed (capped at 0.3), closed on one plane only and
/// planes that disagree, and an area outside the usual range of lumbar foramina; rounded to
/// hundredths, a note per reason. A partly open
/// minimum plane is noted without a factor: on the development reference it did not
/// predict disagreement. [`weigh_against_spine`] then compares the area with the
/// spine's other foramina.
pub(super) fn confidence(
    res: &mut ForamenResult,
    disc_confidence: f64,
    modality: Modality,
    weighting: Option<Weighting>,
    ev: &Evidence,
) {
    let mut c = CEILING * label_factor(disc_confidence.clamp(0.0, 1.0));
    let mut notes = Vec::new();
    let Some(min) = res.min_slice.and_then(|i| res.slices.get(i)) else {
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
    if ev.contrast < FAINT {
        c *= 0.7;
        notes.push(format!(
            "faint boundary (fat-marrow contrast {:.2})",
            ev.contrast
        ));
    }
    if !ev.closed {
        c = c.min(OPEN_CAP * (1.0 - ev.open_fraction).clamp(0.0, 1.0));
        notes.push(format!(
            "ring not closed on any plane (least open: {:.0} % of rays open)",
            100.0 * ev.open_fraction
        ));
    } else {
        if ev.planes < 2 {
            c *= 0.9;
            notes.push("ring closed on one plane only".into());
        }
        if ev.open_fraction > 0.0 {
            notes.push("ring partly open on the minimum plane".into());
        }
    }
    if ev.planes >= 2 && ev.area_jump > JUMP {
        c *= 0.8;
        notes.push(format!(
            "planes disagree (area jump {:.0} %)",
            100.0 * ev.area_jump
        ));
    }
    if let Some(a) = res.min_area_mm2.filter(|&a| a > 0.0) {
        let f = usual_range_factor(a);
        c *= f;
        if f < NOTE_BELOW {
            notes.push(format!(
                "area {a:.0} mm² outside the usual {:.0}-{:.0} mm² of lumbar foramina: a narrowed or large foramen, or an outline that stopped short or leaked; check the overlay",
                USUAL_MM2.0, USUAL_MM2.1
            ));
        }
    }
    if disc_confidence < 0.5 {
        notes.push("uncertain level label".into());
    }
    res.confidence = (c * 100.0).round() / 100.0;
    res.confidence_notes = notes;
}

/// Spread (standard deviation of the log area ratio) of a spine's foramina about their
/// median: they are alike within about 20 %.
const SPINE_SPREAD: f64 = 0.2;
/// Usual range of a lumbar foramen's area (mm²): published series give about 100-160
/// (shared/domain.md), widened below by 20 % for small adults.
const USUAL_MM2: (f64, f64) = (80.0, 160.0);

/// Confidence factor for an area outside [`USUAL_MM2`]: `exp(-ln²(a / bound) / (2 ·
/// 0.2²))` beyond the nearer bound, 1 inside. On the development reference, foramina
/// measured over 140 mm² or under 80 mm² agreed with the reading 0-6 % of the time even
/// at confidence ≥ 0.5 (80-140 mm²: 61-81 %): a whole spine's outlines can leak or stop
/// short together, which the comparison with the spine's median cannot see.
fn usual_range_factor(a: f64) -> f64 {
    let bound = a.clamp(USUAL_MM2.0, USUAL_MM2.1);
    (-(a / bound).ln().powi(2) / (2.0 * SPINE_SPREAD * SPINE_SPREAD)).exp()
}
/// A note is added when the factor falls under this (area outside ~0.77-1.3 × median).
const NOTE_BELOW: f64 = 0.7;

/// The foramina of one spine are alike in size (they grow gently from L1-L2 to L4-L5);
/// one far smaller or larger than the others is either a narrowed foramen or an outline
/// that stopped short or leaked, and the image alone does not say which. The confidence
/// is multiplied by `exp(-ln²(a / median) / (2 · 0.2²))` (the median of the measured
/// L1-L2..L4-L5 foramina; development reference: agreement with the reading 55-57 % at
/// 0.8-1.1 × median, 33-37 % at 0.6-0.8 and 1.1-1.2 ×, ≤ 13 % beyond), with a note when
/// the factor is under 0.7; the area and grade are not changed. Needs at least four
/// measured foramina at L1-L2..L4-L5 for the median.
pub(super) fn weigh_against_spine(results: &mut [ForamenResult]) {
    let mut areas: Vec<f64> = results
        .iter()
        .filter(|r| r.level != "L5-S1")
        .filter_map(|r| r.min_area_mm2)
        .collect();
    if areas.len() < 4 {
        return;
    }
    areas.sort_by(f64::total_cmp);
    let median = areas[areas.len() / 2];
    if median <= 0.0 {
        return;
    }
    for r in results.iter_mut() {
        let Some(a) = r.min_area_mm2.filter(|&a| a > 0.0) else {
            continue;
        };
        let ratio = a / median;
        let f = (-ratio.ln().powi(2) / (2.0 * SPINE_SPREAD * SPINE_SPREAD)).exp();
        r.confidence = (r.confidence * f * 100.0).round() / 100.0;
        if f < NOTE_BELOW {
            r.confidence_notes.push(format!(
                "area {ratio:.2} times this spine's median foramen ({median:.0} mm²): a narrowed foramen or an outline that stopped short or leaked; check the overlay"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spine::foramen::rays::{NRAY, SliceSegmentation};
    use crate::spine::foramen::roi::{RoiFrame, SlicePlane};
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
                seed: (0.0, 0.0),
                radii: [0.0; NRAY],
                open: [false; NRAY],
                closed: true,
            },
            image: Array2::zeros((2, 2)),
        };
        let mut r = unmeasured("L4-L5", Side::Left, "test");
        r.slices = vec![slice; planes];
        r.min_slice = Some(0);
        r
    }

    fn ev(planes: usize) -> Evidence {
        Evidence {
            closed: true,
            open_fraction: 0.0,
            planes,
            area_jump: 0.1,
            contrast: 0.5,
        }
    }

    #[test]
    fn every_weakness_lowers_the_confidence_by_its_factor() {
        // Label sure (0.9 ≥ 0.5): 0.65 · (1 - 0.1·(5 - 4)) · 0.85 · (2/4) · 0.9
        // = 0.2237625 → 0.22.
        let mut r = result(5.0, 2.0, 1);
        confidence(&mut r, 0.9, Modality::MR, Some(Weighting::T2), &ev(1));
        assert_eq!(r.confidence, 0.22);
        assert_eq!(
            r.confidence_notes,
            vec![
                "thick slices (5.0 mm)",
                "T2 instead of T1",
                "low fat/boundary contrast (CNR 2.0)",
                "ring closed on one plane only"
            ]
        );
        // CT, thin slices, good contrast, two planes: the ceiling and the label's factor
        // (0.25 ≤ 0.4 < 0.5): 0.65 · 0.85 = 0.5525 → 0.55.
        let mut r = result(1.0, 9.0, 2);
        confidence(&mut r, 0.4, Modality::CT, Some(Weighting::T2), &ev(2));
        assert_eq!(r.confidence, 0.55);
        assert_eq!(r.confidence_notes, vec!["uncertain level label"]);
        // Very low contrast is floored at 0.3; very thick slices at 0.5:
        // 0.65 · 0.5 · 0.3 = 0.0975 → 0.1.
        let mut r = result(20.0, 0.1, 2);
        confidence(&mut r, 1.0, Modality::MR, Some(Weighting::T1), &ev(2));
        assert_eq!(r.confidence, 0.1);
        // No minimum plane: nothing to trust.
        let mut r = unmeasured("L4-L5", Side::Left, "test");
        confidence(&mut r, 1.0, Modality::MR, None, &ev(2));
        assert_eq!(r.confidence, 0.0);
    }

    #[test]
    fn an_open_ring_a_faint_boundary_and_disagreeing_planes_lower_it() {
        // Not closed, 20 % of rays open: capped at 0.3 · 0.8 = 0.24.
        let mut r = result(1.0, 9.0, 1);
        let open = Evidence {
            closed: false,
            open_fraction: 0.2,
            ..ev(1)
        };
        confidence(&mut r, 1.0, Modality::MR, Some(Weighting::T1), &open);
        assert_eq!(r.confidence, 0.24);
        assert!(r.confidence_notes[0].starts_with("ring not closed"));
        // Closed, faint (×0.7), area jump 50 % (×0.8), min plane partly open (noted, no
        // factor): 0.65 · 0.7 · 0.8 = 0.364 → 0.36.
        let mut r = result(1.0, 9.0, 3);
        let weak = Evidence {
            closed: true,
            open_fraction: 0.05,
            planes: 3,
            area_jump: 0.5,
            contrast: 0.1,
        };
        confidence(&mut r, 1.0, Modality::MR, Some(Weighting::T1), &weak);
        assert_eq!(r.confidence, 0.36);
        assert_eq!(r.confidence_notes.len(), 3);
    }

    #[test]
    fn an_area_outside_the_usual_range_lowers_it() {
        // By hand: 200 mm² → exp(-ln²(1.25) / 0.08) = 0.537; 60 → exp(-ln²(0.75) / 0.08)
        // = 0.355; 80, 120 and 160 → 1.
        assert!((usual_range_factor(200.0) - 0.5367).abs() < 1e-3);
        assert!((usual_range_factor(60.0) - 0.3554).abs() < 1e-3);
        for a in [80.0, 120.0, 160.0] {
            assert_eq!(usual_range_factor(a), 1.0);
        }
        // In `confidence`: CT, thin, two planes, label sure: 0.65 × 0.537 = 0.349 → 0.35,
        // with a note; at 120 mm² 0.65 and no note.
        let mut r = result(1.0, 9.0, 2);
        r.min_area_mm2 = Some(200.0);
        confidence(&mut r, 0.9, Modality::CT, None, &ev(2));
        assert_eq!(r.confidence, 0.35);
        assert!(r.confidence_notes[0].starts_with("area 200 mm² outside the usual 80-160"));
        r.min_area_mm2 = Some(120.0);
        confidence(&mut r, 0.9, Modality::CT, None, &ev(2));
        assert_eq!(r.confidence, 0.65);
        assert!(r.confidence_notes.is_empty());
    }

    #[test]
    fn an_area_far_from_the_spines_median_is_doubted_and_kept() {
        // Factor exp(-ln²(a / median) / 0.08), worked by hand: 1.1x → 0.893, 1.2x →
        // 0.660, 0.3x → 1.4e-8, 1.5x → 0.128, 0.75x → 0.355.
        let mk = |level: &str, area: Option<f64>| {
            let mut r = unmeasured(level, Side::Left, "x");
            r.min_area_mm2 = area;
            r.confidence = 0.8;
            r
        };
        // Median of L1-L2..L4-L5 areas 100, 100, 110, 120, 30 is 100.
        let mut rs = vec![
            mk("L1-L2", Some(100.0)),
            mk("L2-L3", Some(100.0)),
            mk("L3-L4", Some(110.0)),
            mk("L4-L5", Some(120.0)),
            mk("L4-L5", Some(30.0)),
            mk("L5-S1", Some(150.0)),
            mk("L5-S1", Some(75.0)),
            mk("L1-L2", None),
        ];
        weigh_against_spine(&mut rs);
        let conf: Vec<f64> = rs.iter().map(|r| r.confidence).collect();
        assert_eq!(conf, vec![0.8, 0.8, 0.71, 0.53, 0.0, 0.1, 0.28, 0.8]);
        assert_eq!(rs[4].min_area_mm2, Some(30.0));
        assert!(rs[4].confidence_notes[0].contains("0.30 times"));
        // A note only under a factor of 0.7: 1.1x has none, 1.2x has one.
        assert!(rs[2].confidence_notes.is_empty());
        assert!(rs[3].confidence_notes[0].contains("1.20 times"));
        // Too few foramina for a median: nothing changes.
        let mut few = vec![mk("L1-L2", Some(100.0)), mk("L2-L3", Some(10.0))];
        weigh_against_spine(&mut few);
        assert!(few.iter().all(|r| r.confidence == 0.8));
    }
}
