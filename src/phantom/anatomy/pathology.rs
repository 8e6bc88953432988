//! Step 2: per level (the disc below each vertebra but the last) its height, its
//! lordotic wedge and the pathology knobs of its two foramina.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::spec::VertSpec;
use super::{Pathology, PathologyClass, Region, uni};
use crate::phantom::Severity;

/// Nominal lumbar disc heights (mm) from L5-S1 upward.
const LUMBAR_DISC_FROM_BOTTOM_MM: [f64; 6] = [10.5, 11.0, 10.0, 9.0, 8.0, 7.5];
/// Share of the lordosis per lumbar level from L5-S1 upward (normalised over the
/// lumbar levels present).
const LORDOSIS_SHARE: [f64; 6] = [0.36, 0.26, 0.18, 0.12, 0.08, 0.05];

/// One level before it is placed.
pub(super) struct LevelSpec {
    pub name: String,
    /// A lumbar level, reported in the truth.
    pub reported: bool,
    /// Not fused (has foramina).
    pub mobile: bool,
    /// Disc height at the centre, mm.
    pub d: f64,
    pub wedge_deg: f64,
    /// By [`super::Side::index`].
    pub knobs: [Pathology; 2],
    /// AP gap between the body wall and the superior articular process, by side.
    pub gap: [f64; 2],
}

/// Spine-wide draws the levels depend on.
pub(super) struct LevelScales {
    pub body_scale: f64,
    pub disc_scale: f64,
    pub lordosis_deg: f64,
}

/// All levels, top to bottom. `s1` is the index of S1 in `specs`.
pub(super) fn level_specs(
    rng: &mut ChaCha8Rng,
    specs: &[VertSpec],
    s1: usize,
    n_lumbar: usize,
    severity: Severity,
    scales: &LevelScales,
) -> Vec<LevelSpec> {
    let share_sum: f64 = LORDOSIS_SHARE[..n_lumbar].iter().sum();
    let severe_level = rng.random_range(0..2usize);
    let mut lspecs = Vec::new();
    for i in 0..specs.len() - 1 {
        let upper = &specs[i];
        let lower = &specs[i + 1];
        let reported = upper.region == Region::Lumbar;
        let mobile = upper.region != Region::Sacral;
        let (mut d, mut wedge) = match upper.region {
            Region::Thoracic => (uni(rng, 5.0, 6.5), -2.0 + i as f64 * 0.8),
            Region::Sacral => (1.5, [-9.0, -13.0, -16.0][(i - s1).min(2)]),
            Region::Lumbar => {
                let from_bottom = s1 - 1 - i;
                (
                    LUMBAR_DISC_FROM_BOTTOM_MM[from_bottom]
                        * scales.disc_scale
                        * uni(rng, 0.92, 1.08),
                    scales.lordosis_deg * LORDOSIS_SHARE[from_bottom] / share_sum,
                )
            }
        };
        let mut knobs = [Pathology::NONE; 2];
        let mut gap = [0.0; 2];
        if mobile {
            let from_bottom = s1.saturating_sub(1 + i);
            let forced = severity == Severity::Severe && from_bottom == severe_level;
            let level_class = if !reported {
                PathologyClass::Normal
            } else if forced {
                // A severe case always has one severely narrowed lower level.
                PathologyClass::Severe
            } else {
                sample_class(rng, severity, from_bottom)
            };
            let random = reported && severity == Severity::Random;
            let loss;
            (knobs, gap, loss) = foramen_knobs(
                rng,
                level_class,
                reported && !random && !forced,
                random,
                scales.body_scale,
            );
            (d, wedge) = degenerate(d, wedge, loss, lower.b);
        }
        lspecs.push(LevelSpec {
            name: format!("{}-{}", upper.name, lower.name),
            reported,
            mobile,
            d,
            wedge_deg: wedge,
            knobs,
            gap,
        });
    }
    lspecs
}

/// The knobs and AP gaps of both foramina of a mobile level of class `level_class`.
/// With `may_differ` each side moves one class up or down with probability 0.35. The
/// disc height loss is the larger of the two sides' draws (one disc).
fn foramen_knobs(
    rng: &mut ChaCha8Rng,
    level_class: PathologyClass,
    may_differ: bool,
    random: bool,
    body_scale: f64,
) -> ([Pathology; 2], [f64; 2], f64) {
    let mut knobs = [Pathology::NONE; 2];
    let mut gap = [0.0; 2];
    let mut loss = 0.0f64;
    for (side, knob) in knobs.iter_mut().enumerate() {
        // The two sides differ by at most one class.
        let class = if may_differ && rng.random_bool(0.35) {
            let c = level_class as i32 + if rng.random_bool(0.5) { 1 } else { -1 };
            [
                PathologyClass::Normal,
                PathologyClass::Mild,
                PathologyClass::Moderate,
                PathologyClass::Severe,
            ][c.clamp(0, 3) as usize]
        } else {
            level_class
        };
        let (l, bulge, osteo, facet) = sample_knobs(rng, class, random);
        loss = if side == 0 { l } else { loss.max(l) };
        *knob = Pathology {
            class,
            disc_height_loss: 0.0,
            bulge_mm: bulge,
            osteophyte_mm: osteo,
            facet_hypertrophy_mm: facet,
        };
        gap[side] = uni(rng, 4.0, 6.0) * body_scale.sqrt();
    }
    for k in knobs.iter_mut() {
        k.disc_height_loss = loss;
    }
    (knobs, gap, loss)
}

/// Disc height and wedge after losing the fraction `loss` of the height: degenerated
/// discs lose lordosis, and the posterior height (at the body wall, 0.88 of the lower
/// body's half-depth `lower_b`) stays at least 1.2 mm.
fn degenerate(d: f64, wedge_deg: f64, loss: f64, lower_b: f64) -> (f64, f64) {
    let mut d = d;
    let mut wedge = wedge_deg;
    d *= 1.0 - loss;
    wedge *= 1.0 - 0.5 * loss;
    let v_post = 0.88 * lower_b;
    let max_wedge = 2.0 * ((d - 1.2).max(0.0) / (2.0 * v_post)).atan();
    wedge = wedge.min(max_wedge.to_degrees());
    (d, wedge)
}

/// Knobs for one foramen of a given class: (disc height loss, bulge, osteophyte, facet
/// hypertrophy). `random` draws each uniformly over its full range.
fn sample_knobs(rng: &mut ChaCha8Rng, class: PathologyClass, random: bool) -> (f64, f64, f64, f64) {
    if random {
        return (
            uni(rng, 0.0, 0.75),
            uni(rng, 0.0, 5.5),
            uni(rng, 0.0, 3.2),
            uni(rng, 0.0, 4.6),
        );
    }
    let r = knob_ranges(class);
    let mut v = r.map(|(lo, hi)| uni(rng, lo, hi));
    // Combinations: in a narrowed foramen one of bulge / facet may be the main cause.
    if class == PathologyClass::Moderate {
        match rng.random_range(0..4) {
            0 => v[1] *= 0.4,
            1 => v[3] *= 0.4,
            _ => {}
        }
    }
    (v[0], v[1], v[2], v[3])
}

/// Ranges per class: (disc height loss, bulge, osteophyte, facet hypertrophy).
fn knob_ranges(class: PathologyClass) -> [(f64, f64); 4] {
    match class {
        PathologyClass::Normal => [(0.0, 0.08), (0.0, 0.8), (0.0, 0.0), (0.0, 0.5)],
        PathologyClass::Mild => [(0.1, 0.3), (0.8, 2.0), (0.0, 0.8), (0.5, 1.5)],
        PathologyClass::Moderate => [(0.3, 0.5), (2.4, 3.6), (0.5, 2.0), (1.8, 3.0)],
        PathologyClass::Severe => [(0.55, 0.75), (4.0, 5.5), (1.8, 3.2), (3.2, 4.6)],
    }
}

/// The class of a level `from_bottom` levels above L5-S1 (0 = L5-S1).
fn sample_class(rng: &mut ChaCha8Rng, severity: Severity, from_bottom: usize) -> PathologyClass {
    use PathologyClass::*;
    let classes = [Normal, Mild, Moderate, Severe];
    let weights: [f64; 4] = match severity {
        Severity::Normal => [0.85, 0.15, 0.0, 0.0],
        Severity::Severe => {
            if from_bottom < 2 {
                [0.0, 0.1, 0.3, 0.6]
            } else {
                [0.2, 0.3, 0.3, 0.2]
            }
        }
        Severity::Mixed => match from_bottom {
            0 | 1 => [0.35, 0.25, 0.22, 0.18],
            2 => [0.5, 0.25, 0.15, 0.1],
            _ => [0.7, 0.2, 0.07, 0.03],
        },
        Severity::Random => [0.25; 4],
    };
    let x: f64 = rng.random_range(0.0..1.0);
    let mut acc = 0.0;
    for (c, w) in classes.iter().zip(weights) {
        acc += w;
        if x < acc {
            return *c;
        }
    }
    Normal
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::super::spec::vertebra_specs;
    use super::*;

    #[test]
    fn degeneration_lowers_disc_and_wedge_by_the_loss() {
        let (d, w) = degenerate(10.0, 10.0, 0.5, 10.0);
        assert!((d - 5.0).abs() < 1e-12);
        assert!((w - 7.5).abs() < 1e-12);
    }

    #[test]
    fn a_steep_wedge_is_cut_to_keep_a_1_2_mm_posterior_disc() {
        // 3 mm disc with a 30° wedge: the posterior wall (8.8 mm behind the centre)
        // would cross; the wedge is cut so that the posterior height is 1.2 mm.
        let (d, w) = degenerate(3.0, 30.0, 0.0, 10.0);
        let posterior = d - 2.0 * 8.8 * (w.to_radians() / 2.0).tan();
        assert!((posterior - 1.2).abs() < 1e-9, "{posterior}");
    }

    #[test]
    fn knobs_lie_in_the_documented_class_ranges() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        use PathologyClass::*;
        // docs/phantom.md: loss, bulge, osteophyte, facet per class; moderate may scale
        // bulge or facet by 0.4.
        let ranges = [
            (Normal, [(0.0, 0.08), (0.0, 0.8), (0.0, 0.0), (0.0, 0.5)]),
            (Mild, [(0.1, 0.3), (0.8, 2.0), (0.0, 0.8), (0.5, 1.5)]),
            (Moderate, [(0.3, 0.5), (0.96, 3.6), (0.5, 2.0), (0.72, 3.0)]),
            (Severe, [(0.55, 0.75), (4.0, 5.5), (1.8, 3.2), (3.2, 4.6)]),
        ];
        for (class, r) in ranges {
            for _ in 0..200 {
                let (l, b, o, f) = sample_knobs(&mut rng, class, false);
                for (x, (lo, hi)) in [l, b, o, f].into_iter().zip(r) {
                    assert!(
                        x >= lo - 1e-12 && x <= hi + 1e-12,
                        "{class:?}: {x} not in {lo}..{hi}"
                    );
                }
            }
        }
    }

    #[test]
    fn severe_cases_have_a_severe_lower_level_and_one_loss_per_disc() {
        for seed in 0..30 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let specs = vertebra_specs(&mut rng, 1.0, 5);
            let scales = LevelScales {
                body_scale: 1.0,
                disc_scale: 1.0,
                lordosis_deg: 50.0,
            };
            let levels = level_specs(&mut rng, &specs, 8, 5, Severity::Severe, &scales);
            assert_eq!(levels.len(), specs.len() - 1);
            let names: Vec<&str> = levels.iter().map(|l| l.name.as_str()).collect();
            assert_eq!(names[7], "L5-S1");
            let severe = |l: &LevelSpec| l.knobs.iter().all(|k| k.class == PathologyClass::Severe);
            assert!(severe(&levels[6]) || severe(&levels[7]), "seed {seed}");
            for l in &levels {
                assert_eq!(l.knobs[0].disc_height_loss, l.knobs[1].disc_height_loss);
                if !l.mobile {
                    assert_eq!(l.d, 1.5);
                    assert_eq!(l.knobs, [Pathology::NONE; 2]);
                }
            }
        }
    }

    #[test]
    fn normal_cases_draw_only_normal_or_mild_levels() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..500 {
            let c = sample_class(&mut rng, Severity::Normal, 0);
            assert!(c <= PathologyClass::Mild);
        }
    }
}
