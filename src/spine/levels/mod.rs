//! Finding the discs and vertebral bodies of the lumbar spine and naming the levels.
//!
//! Levels are named by counting discs up from the sacrum (L5-S1 is the lowest mobile
//! disc). The sacrum is recognised by what lies below the lowest disc (bone, no further
//! disc, field of view reaching far enough) and by that disc's tilt (the sacral slope,
//! typically 25-50° from horizontal). Whatever cannot be established lowers confidence
//! and adds a warning; nothing is guessed silently.

use ndarray::Array2;
use rayon::prelude::*;
use serde::Serialize;

mod candidates;
mod chain;
pub mod detector;
mod lower_end;
mod naming;
pub mod verify;

use super::canonical::{CanonicalStack, canonical_stack};
use super::discs::{DiscContrast, DiscParams, PlaneResponse, disc_responses, normalised_planes};
use crate::volume::geometry::Vec3;
use crate::volume::{Modality, Volume};
use chain::chain_for;

/// The five lumbar levels reported, head to feet.
pub const LUMBAR_LEVELS: [&str; 5] = ["L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"];

/// Names of discs counted up from the sacrum.
pub(crate) const NAMES_FROM_SACRUM: [&str; 10] = [
    "L5-S1", "L4-L5", "L3-L4", "L2-L3", "L1-L2", "T12-L1", "T11-T12", "T10-T11", "T9-T10", "T8-T9",
];
pub(crate) const VERTEBRAE_FROM_SACRUM: [&str; 10] = [
    "L5", "L4", "L3", "L2", "L1", "T12", "T11", "T10", "T9", "T8",
];

#[derive(Debug, Clone, Serialize)]
pub struct Disc {
    /// Level name ("L4-L5"), counted from the sacrum.
    pub level: String,
    pub center_mm: Vec3,
    /// Unit direction of the spine axis at the disc (toward the feet), patient LPS.
    pub axis: Vec3,
    /// Angle of the disc plane from horizontal in the sagittal plane (degrees; positive
    /// when the disc's anterior edge is lower, as at L5-S1).
    pub tilt_deg: f64,
    /// Disc height at its centre (mm), when both endplates were found.
    pub height_mm: Option<f64>,
    pub confidence: f64,
    #[serde(skip)]
    pub response: f64,
    /// Position in the canonical stack (plane, row, column), for overlays.
    #[serde(skip)]
    pub canonical: [f64; 3],
}

#[derive(Debug, Clone, Serialize)]
pub struct Vertebra {
    pub name: String,
    pub center_mm: Vec3,
}

/// Result of localisation and labelling for one series.
#[derive(Debug, Clone, Serialize)]
pub struct Localization {
    /// All discs found, head to feet (thoracic ones included).
    pub discs: Vec<Disc>,
    pub vertebrae: Vec<Vertebra>,
    /// Left-right position of the spinal midline (patient x, mm).
    pub midline_x_mm: f64,
    /// Index of the canonical plane closest to the midline.
    pub midsagittal_plane: usize,
    pub sacrum_in_view: bool,
    /// Lumbar-type vertebrae above the sacrum, when the evidence allows counting them.
    pub lumbar_count: Option<u8>,
    pub labeling_warnings: Vec<String>,
    /// Sum of the chain's disc responses: compares contrasts on the same image.
    #[serde(skip)]
    pub chain_score: f64,
    /// The lower end of the chain is in doubt: fewer than five lumbar discs, or the
    /// lowest disc does not look lumbosacral (tilt, contrast, field of view, thickness).
    #[serde(skip)]
    pub lower_end_doubt: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LocalizeError {
    #[error("the volume could not be resampled to sagittal planes (degenerate geometry or size)")]
    Geometry,
    #[error("no intervertebral disc found")]
    NoDiscs,
    #[error("only {0} disc(s) found: too few to identify the levels")]
    TooFewDiscs(usize),
}

/// Grid spacing of the localisation stack (mm): discs are 6-15 mm thick.
pub const LOCALIZATION_PIXEL_MM: f64 = 1.5;
/// Sagittal plane spacing when an axial volume is resliced (mm).
pub const RESLICE_SPACING_MM: f64 = 2.0;

/// Everything localisation computed that later stages (foramina, overlays) reuse.
pub struct SpineModel {
    pub stack: CanonicalStack,
    /// Normalised planes (bias-corrected MR; scaled HU for CT).
    pub planes: Vec<Array2<f32>>,
    pub localization: Localization,
}

/// Range of disc tilts (degrees from horizontal, positive with the anterior edge lower)
/// that a lumbar disc can show in a sagittal plane.
const PLAUSIBLE_TILT_DEG: (f64, f64) = (-30.0, 60.0);

/// Localisation stacks are averaged into slabs about this thick (mm).
const SLAB_MM: f64 = 3.0;

/// Finds discs and vertebrae in a volume and names the levels. `expected` is the disc
/// contrast the series' header implies; for MR the opposite contrast is tried too and
/// kept when it gives a clearly better spine (header weightings are often wrong or
/// missing), with a warning saying so.
pub fn localize(
    volume: &Volume,
    expected: DiscContrast,
) -> Result<(SpineModel, Option<String>), LocalizeError> {
    localize_with(volume, expected, CandidateSource::Detector)
}

/// Where disc candidates come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateSource {
    /// The learned disc-centre detector ([`detector`]) on MR; the band filters on CT
    /// and when the network cannot be run.
    Detector,
    /// Peaks of the band filters only (the method before the detector; kept as the
    /// fallback and for comparison).
    BandFilters,
}

/// [`localize`] with a chosen candidate source.
pub fn localize_with(
    volume: &Volume,
    expected: DiscContrast,
    source: CandidateSource,
) -> Result<(SpineModel, Option<String>), LocalizeError> {
    let params = DiscParams::default();
    let full = canonical_stack(volume, LOCALIZATION_PIXEL_MM, RESLICE_SPACING_MM)
        .ok_or(LocalizeError::Geometry)?;
    let stack = full.slabs(SLAB_MM);
    let px = stack.pixel_mm;
    let planes = normalised_planes(
        &stack,
        volume.modality == Modality::CT,
        params.bias_sigma_mm,
    );
    let responses: Vec<PlaneResponse> = planes
        .par_iter()
        .map(|p| disc_responses(p, px, &params))
        .collect();
    let is_ct = volume.modality == Modality::CT;
    // The detector learnt CT only from the phantom and has not been checked on real CT:
    // CT keeps the band candidates (bone against disc is a strong, stable contrast).
    let detector = match source {
        CandidateSource::Detector if !is_ct => {
            candidates::detector_map(&stack, &planes, &responses, is_ct)
        }
        _ => None,
    };
    let evidence = Evidence {
        stack: &stack,
        all_responses: &responses,
        params: &params,
        is_ct,
        focus_x_mm: None,
        detector: detector.as_ref(),
    };
    // Discs are a midline structure. When the first pass leaves the lower end in doubt,
    // candidates are taken again from the planes through the vertebral bodies only
    // (around the midline the first pass found): bands in lateral planes (psoas, pelvis,
    // bowel) can blur the lower discs' positions and tilts until the chain cannot step
    // onto them. The second pass is kept when it resolves the doubt.
    let (loc, warning) = localize_pass(&planes, &evidence, expected)?;
    let (loc, warning) = if loc.lower_end_doubt {
        let focused = Evidence {
            focus_x_mm: Some(loc.midline_x_mm),
            ..evidence
        };
        match localize_pass(&planes, &focused, expected) {
            Ok(second) if !second.0.lower_end_doubt => second,
            _ => (loc, warning),
        }
    } else {
        (loc, warning)
    };
    Ok((
        SpineModel {
            stack,
            planes,
            localization: loc,
        },
        warning,
    ))
}

/// One localisation pass: the chain of the expected contrast and, on MR, of the
/// opposite one, keeping the more plausible spine.
fn localize_pass(
    planes: &[Array2<f32>],
    evidence: &Evidence,
    expected: DiscContrast,
) -> Result<(Localization, Option<String>), LocalizeError> {
    let first = chain_for(planes, evidence, expected);
    if evidence.is_ct {
        return first.map(|loc| (loc, None));
    }
    let other = match expected {
        DiscContrast::Darker => DiscContrast::Brighter,
        DiscContrast::Brighter => DiscContrast::Darker,
    };
    let second = chain_for(planes, evidence, other);
    let name = |c: DiscContrast| {
        if c == DiscContrast::Brighter {
            "brighter"
        } else {
            "darker"
        }
    };
    // Bodies and discs alternate, so a chain can also run through the bodies when the
    // contrast is taken the wrong way round; real discs are thin bands (their measured
    // height well under half the spacing), bodies are not.
    let plausibility = |l: &Localization| {
        let steps: Vec<f64> = l
            .discs
            .windows(2)
            .map(|w| dist(w[0].center_mm, w[1].center_mm))
            .collect();
        let mut sorted = steps.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(35.0);
        let thin = l
            .discs
            .iter()
            .filter(|d| d.height_mm.is_some_and(|h| h <= 0.4 * median))
            .count();
        // Lumbar discs in a sagittal plane are tilted between a little against the
        // lordosis and the sacral slope; bands steeply tilted the other way (the
        // anterior edge far higher) are pelvic or abdominal structures.
        let upright = l
            .discs
            .iter()
            .filter(|d| (PLAUSIBLE_TILT_DEG.0..=PLAUSIBLE_TILT_DEG.1).contains(&d.tilt_deg))
            .count();
        l.chain_score * (0.25 + thin as f64 / l.discs.len() as f64) * upright as f64
            / l.discs.len() as f64
    };
    // With the detector both chains stand on the same disc centres, and the image says
    // directly which way the contrast goes: the disc centres against the vertebral body
    // centres between them. When that is clear it decides; otherwise plausibility does.
    let seen = first
        .as_ref()
        .ok()
        .filter(|_| evidence.detector.is_some())
        .and_then(|l| seen_contrast(planes, &l.discs));
    let take_other = |a: &Localization, b: &Localization| match seen {
        Some(c) => c == other,
        None => plausibility(b) > 1.1 * plausibility(a),
    };
    let (loc, warning) = match (first, second) {
        (Ok(a), Ok(b)) if take_other(&a, &b) => (
            b,
            Some(format!(
                "discs are {} than the vertebral bodies, unlike the series' stated weighting; localised with the contrast seen in the image",
                name(other)
            )),
        ),
        (Ok(a), _) => (a, None),
        (Err(_), Ok(b)) => (
            b,
            Some(format!(
                "discs were only found as {} than the bodies, unlike the series' stated weighting",
                name(other)
            )),
        ),
        (Err(e), Err(_)) => return Err(e),
    };
    Ok((loc, warning))
}

/// Disc centres against body centres (half-way between consecutive discs) differing
/// by less than this fraction do not tell the contrast.
const SEEN_CONTRAST_MARGIN: f32 = 0.15;

/// Which way the discs differ from the vertebral bodies on the planes the chain runs
/// through: the median over the chain of the mean intensity in a 3x3 patch at each
/// disc centre, against the same at each body centre. `None` when unclear.
fn seen_contrast(planes: &[Array2<f32>], discs: &[Disc]) -> Option<DiscContrast> {
    if discs.len() < 3 || planes.is_empty() {
        return None;
    }
    let patch = |p: [f64; 3]| -> Option<f32> {
        let k = (p[0].round().max(0.0) as usize).min(planes.len() - 1);
        let img = &planes[k];
        let (h, w) = img.dim();
        let (r, c) = (p[1].round(), p[2].round());
        if r < 1.0 || c < 1.0 || r + 1.0 >= h as f64 || c + 1.0 >= w as f64 {
            return None;
        }
        let (r, c) = (r as usize, c as usize);
        let v: Vec<f32> = (r - 1..=r + 1)
            .flat_map(|i| (c - 1..=c + 1).map(move |j| img[[i, j]]))
            .filter(|x| x.is_finite())
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f32>() / v.len() as f32)
    };
    let median = |mut v: Vec<f32>| -> Option<f32> {
        v.sort_by(f32::total_cmp);
        v.get(v.len() / 2).copied()
    };
    let disc = median(discs.iter().filter_map(|d| patch(d.canonical)).collect())?;
    let body = median(
        discs
            .windows(2)
            .filter_map(|w| {
                let (a, b) = (w[0].canonical, w[1].canonical);
                patch(std::array::from_fn(|i| (a[i] + b[i]) / 2.0))
            })
            .collect(),
    )?;
    let scale = disc.abs().max(body.abs());
    if scale <= 0.0 || (disc - body).abs() < SEEN_CONTRAST_MARGIN * scale {
        return None;
    }
    Some(if disc < body {
        DiscContrast::Darker
    } else {
        DiscContrast::Brighter
    })
}

/// The image evidence shared by the chain-building steps of one series.
#[derive(Clone, Copy)]
pub(crate) struct Evidence<'a> {
    pub(crate) stack: &'a CanonicalStack,
    pub(crate) all_responses: &'a [PlaneResponse],
    pub(crate) params: &'a DiscParams,
    pub(crate) is_ct: bool,
    /// Patient x (mm) of the spine's midline once known: candidates then come from the
    /// planes within [`FOCUS_HALF_WIDTH_MM`] of it.
    pub(crate) focus_x_mm: Option<f64>,
    /// The disc detector's probability map (localisation grid): when present, disc
    /// candidates are its peaks instead of the band filters' ([`detector`]).
    pub(crate) detector: Option<&'a candidates::DetectorMap>,
}

pub(crate) fn dist(a: Vec3, b: Vec3) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::lower_end::thin_lowest_disc;
    use super::naming::count_lumbar;
    use super::*;
    use crate::volume::Geometry;
    use ndarray::Array3;

    #[test]
    fn the_contrast_seen_is_discs_against_the_bodies_between_them() {
        // One plane: rows 0..100, discs at rows 10, 40, 70 (value d), bodies between
        // them (value b).
        let plane = |d: f32, b: f32| {
            Array2::from_shape_fn((100, 20), |(r, _)| {
                if [10, 40, 70].iter().any(|&z| (r as i32 - z).abs() <= 2) {
                    d
                } else {
                    b
                }
            })
        };
        let discs: Vec<Disc> = [10.0, 40.0, 70.0]
            .iter()
            .map(|&r| Disc {
                level: String::new(),
                center_mm: [0.0; 3],
                axis: [0.0, 0.0, -1.0],
                tilt_deg: 0.0,
                height_mm: None,
                confidence: 1.0,
                response: 1.0,
                canonical: [0.0, r, 10.0],
            })
            .collect();
        let seen = |d, b| seen_contrast(&[plane(d, b)], &discs);
        assert_eq!(seen(0.4, 1.0), Some(DiscContrast::Darker));
        assert_eq!(seen(1.5, 1.0), Some(DiscContrast::Brighter));
        // Within 15 % of each other: not told.
        assert_eq!(seen(0.9, 1.0), None);
        // Two discs are not a chain.
        assert_eq!(seen_contrast(&[plane(0.4, 1.0)], &discs[..2]), None);
    }

    /// A toy lumbar column on T1-like contrast: bright bodies 28 mm tall, dark discs
    /// 9 mm tall, every 37 mm, the lowest disc tilted 30° like a lumbosacral disc, a
    /// sacral block below it, soft tissue around. Returns the volume and the disc
    /// centres (z, head to feet).
    fn toy_spine() -> (Volume, Vec<f64>) {
        let (n, rows, cols) = (9usize, 330usize, 200usize);
        // Rows run down from z = 165, columns run posterior from y = -100; 1 mm pixels.
        let g = Geometry::new(
            [-16.0, -100.0, 165.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, -1.0],
            [4.0, 1.0, 1.0],
            4.0,
        )
        .unwrap();
        let disc_z: Vec<f64> = (0..6).map(|i| 120.0 - 37.0 * i as f64).collect();
        let lowest = *disc_z.last().unwrap();
        let tilt = 30f64.to_radians();
        let voxels = Array3::from_shape_fn((n, rows, cols), |(_, r, c)| {
            let (z, y) = (165.0 - r as f64, -100.0 + c as f64);
            // Column of bodies 40 mm deep centred at y = 0.
            if y.abs() > 20.0 {
                return 300.0;
            }
            // Lumbosacral disc and sacrum: below a plane through the lowest disc tilted
            // 30° with its anterior edge lower (the sacral slope).
            let z_plane = lowest + (y * tilt.tan());
            if z < z_plane + 4.5 {
                return if z > z_plane - 4.5 { 250.0 } else { 650.0 };
            }
            if disc_z[..5].iter().any(|d| (z - d).abs() < 4.5) {
                250.0
            } else {
                650.0
            }
        });
        (
            Volume {
                voxels,
                geometry: g,
                modality: Modality::MR,
            },
            disc_z,
        )
    }

    /// Discs head to feet whose spacings, from the sacrum up, are `from_bottom`.
    fn discs_with_spacings(from_bottom: &[f64]) -> (Vec<Disc>, Vec<f64>) {
        let steps: Vec<f64> = from_bottom.iter().rev().copied().collect();
        let mut z = 0.0;
        let mut discs = vec![z];
        for s in &steps {
            z -= s;
            discs.push(z);
        }
        let discs = discs
            .into_iter()
            .map(|z| Disc {
                level: String::new(),
                center_mm: [0.0, 0.0, z],
                axis: [0.0, 0.0, -1.0],
                tilt_deg: 0.0,
                height_mm: Some(9.0),
                confidence: 1.0,
                response: 1.0,
                canonical: [0.0; 3],
            })
            .collect();
        (discs, steps)
    }

    #[test]
    fn lumbar_count_needs_a_clear_thoracolumbar_drop() {
        // Lumbar vertebrae ~35 mm apart, thoracic ~28 mm (a 20% drop).
        let cases: Vec<(Vec<f64>, Option<u8>)> = vec![
            // Five lumbar vertebrae, then three thoracic.
            (
                vec![36.0, 35.0, 34.0, 34.0, 33.0, 28.0, 27.5, 27.0],
                Some(5),
            ),
            // Four lumbar (sacralised L5): the drop is above the fourth.
            (
                vec![36.0, 35.0, 34.0, 33.5, 28.0, 27.5, 27.0, 27.0],
                Some(4),
            ),
            // A steady decrease gives no clearly better split than the usual one.
            (vec![37.0, 35.0, 33.0, 31.0, 29.0, 27.0, 25.0], Some(5)),
            // A drop above the second vertebra is noise, not two lumbar vertebrae.
            (vec![40.0, 39.0, 30.0, 31.0, 30.0, 31.0], None),
        ];
        for (spacings, expected) in cases {
            let (discs, steps) = discs_with_spacings(&spacings);
            let mut warnings = Vec::new();
            let got = count_lumbar(&discs, &steps, &mut warnings);
            assert_eq!(got, expected, "{spacings:?}: {warnings:?}");
            let transitional = warnings.iter().any(|w| w.contains("lumbar-type"));
            assert_eq!(
                transitional,
                expected.is_some_and(|k| k != 5),
                "{spacings:?}: {warnings:?}"
            );
        }
    }

    #[test]
    fn a_far_thinner_lowest_disc_is_said() {
        let (mut discs, _) = discs_with_spacings(&[35.0, 35.0, 34.0, 33.0]);
        let mut warnings = Vec::new();
        assert!(!thin_lowest_disc(&discs, &mut warnings), "{warnings:?}");
        // An S1-S2 remnant or rudimentary disc of 3.5 mm under discs of 9 mm.
        discs.last_mut().unwrap().height_mm = Some(3.5);
        assert!(thin_lowest_disc(&discs, &mut warnings));
        assert!(warnings[0].contains("far thinner"), "{warnings:?}");
        // Merely thinner (6 mm against 9 mm) is common at L5-S1 and not said.
        discs.last_mut().unwrap().height_mm = Some(6.0);
        assert!(!thin_lowest_disc(&discs, &mut Vec::new()));
    }

    // The toy column is a cartoon (uniform soft tissue, blocks for bodies) that the
    // detector was never meant to read; these two tests check the chain, naming and
    // lower-end logic on band-filter candidates. The detector path is tested on the
    // phantom suite (tests/levels_phantom.rs) and measured on real scans.
    #[test]
    fn names_discs_counting_up_from_the_sacrum() {
        let (v, disc_z) = toy_spine();
        let (model, _) =
            localize_with(&v, DiscContrast::Darker, CandidateSource::BandFilters).unwrap();
        let loc = &model.localization;
        let names: Vec<&str> = loc.discs.iter().map(|d| d.level.as_str()).collect();
        assert_eq!(
            names,
            vec!["T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"],
            "{loc:#?}"
        );
        for (d, z) in loc.discs.iter().zip(&disc_z) {
            assert!(
                (d.center_mm[2] - z).abs() < 4.0,
                "{} at z {:.1}, expected {z}",
                d.level,
                d.center_mm[2]
            );
            assert!(
                d.center_mm[1].abs() < 8.0,
                "{} off the column: y {:.1}",
                d.level,
                d.center_mm[1]
            );
        }
        let l5s1 = loc.discs.last().unwrap();
        assert!((l5s1.tilt_deg - 30.0).abs() < 8.0, "tilt {}", l5s1.tilt_deg);
        assert!(loc.sacrum_in_view);
        // The toy has no midline structure across slices: the midline is within the slab.
        assert!(
            (-16.0..=16.0).contains(&loc.midline_x_mm) || (-48.0..=0.0).contains(&loc.midline_x_mm)
        );
    }

    #[test]
    fn a_cut_off_sacrum_is_said_and_lowers_confidence() {
        let (mut v, _) = toy_spine();
        // Cut the image 3 mm below the lowest disc's centre: no sacrum in view.
        let keep = (165.0 - (120.0 - 37.0 * 5.0) + 3.0) as usize;
        v.voxels = v.voxels.slice(ndarray::s![.., ..keep, ..]).to_owned();
        let (model, _) =
            localize_with(&v, DiscContrast::Darker, CandidateSource::BandFilters).unwrap();
        let loc = &model.localization;
        // Either the cut lumbosacral disc is found and the missing sacrum reported, or it
        // is not found and the lowest disc found is reported as not lumbosacral-looking.
        let said = loc.labeling_warnings.iter().any(|w| {
            w.contains("sacrum not in the field of view")
                || w.contains("unlike a lumbosacral disc")
                || w.contains("opposite contrast")
        });
        assert!(said, "{:?} {:#?}", loc.labeling_warnings, loc.discs);
        assert!(
            loc.discs.iter().all(|d| d.confidence <= 0.5 + 1e-9),
            "{loc:#?}"
        );
    }
}
