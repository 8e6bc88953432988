//! Step 9: vestigial discs between the fused sacral segments (S1-S2, sometimes S2-S3).
//!
//! In young adults the S1-S2 junction often keeps a remnant of its disc: a thin band,
//! bright on T2 like a nucleus, inside the sacrum, usually only in the anterior part of
//! the body and tilted with the sacrum (steeper than L5-S1). On real scans a level chain
//! that ran on from L5-S1 took it for a mobile disc and shifted every name, so the
//! phantom draws it in some cases. It is drawn from its own random stream (see
//! [`RemnantDraw::sample`]): a case's other anatomy is the same with or without it.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::builder::Builder;
use super::{P_REMNANT, P_REMNANT_RIM, Tissue, Vertebra, uni};
use crate::phantom::shapes::{Frame, Shape};
use crate::volume::geometry::Vec3;

/// Sclerotic endplate lines around the remnant (cortical bone), mm.
pub const REMNANT_RIM_MM: f64 = 0.8;
/// The remnant stays this far inside the junction's mean body outline in width, mm.
const INSET_U_MM: f64 = 2.5;
/// ... and in depth, mm.
const INSET_V_MM: f64 = 2.0;

/// Shape of one remnant before it is placed: full thickness (mm) and the anterior
/// fraction of the body depth it reaches back to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RemnantSize {
    pub thickness_mm: f64,
    pub anterior_fraction: f64,
}

/// Which sacral junctions keep a remnant in a case.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RemnantDraw {
    pub s1_s2: Option<RemnantSize>,
    /// Only together with an S1-S2 remnant.
    pub s2_s3: Option<RemnantSize>,
}

impl RemnantDraw {
    /// No remnant (the sacrum fully fused).
    pub const NONE: RemnantDraw = RemnantDraw {
        s1_s2: None,
        s2_s3: None,
    };

    /// S1-S2 in half of the cases (1.5-4 mm thick, anterior 50-90 % of the depth); S2-S3
    /// in a third of those (1.5-2.5 mm, 50-80 %). Every value is drawn whether used or
    /// not, so the draws never shift.
    pub fn sample(rng: &mut ChaCha8Rng) -> RemnantDraw {
        let s1_s2 = rng.random_bool(0.5);
        let a = RemnantSize {
            thickness_mm: uni(rng, 1.5, 4.0),
            anterior_fraction: uni(rng, 0.5, 0.9),
        };
        let s2_s3 = rng.random_bool(1.0 / 3.0);
        let b = RemnantSize {
            thickness_mm: uni(rng, 1.5, 2.5),
            anterior_fraction: uni(rng, 0.5, 0.8),
        };
        RemnantDraw {
            s1_s2: s1_s2.then_some(a),
            s2_s3: (s1_s2 && s2_s3).then_some(b),
        }
    }
}

/// A placed remnant: a flat band in the junction's level frame (w across the band).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SacralRemnant {
    /// "S1-S2" or "S2-S3".
    pub junction: String,
    /// Centre of the junction (the band is centred on it across its thickness).
    pub center_mm: Vec3,
    /// Unit normal of the band (the junction's superior axis).
    pub axis: Vec3,
    /// Posterior direction in the band's plane.
    pub posterior: Vec3,
    pub thickness_mm: f64,
    pub half_width_mm: f64,
    /// Anterior extent: from the junction centre forward, mm.
    pub half_depth_mm: f64,
    /// The band's back edge, mm behind the junction centre (negative = in front).
    pub back_edge_mm: f64,
    pub anterior_fraction: f64,
}

impl SacralRemnant {
    /// Whether `p` lies inside the band itself (disc tissue, without its bony rim).
    pub fn contains(&self, p: Vec3) -> bool {
        band_shape(self, 0.0).contains(p)
    }

    /// Local (u, v, w) of `p`: across, posterior, along the axis from the centre.
    pub fn to_local(&self, p: Vec3) -> Vec3 {
        self.frame().to_local(p)
    }

    fn frame(&self) -> Frame {
        let u = crate::volume::geometry::cross(self.posterior, self.axis);
        Frame {
            origin: self.center_mm,
            axes: [u, self.posterior, self.axis],
        }
    }
}

/// The band grown by `rim` mm on every side: `|u/a|^4 + |v/b|^3 <= 1`, `|w| <= t/2`,
/// `v <= back edge`.
fn band_shape(r: &SacralRemnant, rim: f64) -> Shape {
    Shape::SuperQuadric {
        frame: r.frame(),
        radii_mm: [
            r.half_width_mm + rim,
            r.half_depth_mm + rim,
            r.thickness_mm / 2.0 + rim,
        ],
        exps: [4, 3, 0],
        v_max_mm: r.back_edge_mm + rim,
    }
}

impl Builder {
    /// The remnant of the fused junction between `up` and `low` (level frame `frame`):
    /// a nucleus-like band inside the mean body outline, reaching from the front back
    /// over `size.anterior_fraction` of the depth, wrapped in a thin cortical rim. Both
    /// outrank marrow: the band lies inside the bone ends.
    pub(super) fn sacral_remnant(
        &mut self,
        junction: &str,
        up: &Vertebra,
        low: &Vertebra,
        frame: &Frame,
        size: RemnantSize,
    ) -> SacralRemnant {
        let a = 0.5 * (up.half_width_mm + low.half_width_mm) - INSET_U_MM;
        let b = 0.5 * (up.half_depth_mm + low.half_depth_mm) - INSET_V_MM;
        let v_post = 0.5 * (up.v_post_mm + low.v_post_mm);
        // Front of the band at -b; the body's depth runs from -b to the posterior wall.
        let back = -b + size.anterior_fraction * (b + v_post);
        let r = SacralRemnant {
            junction: junction.to_string(),
            center_mm: frame.origin,
            axis: frame.axes[2],
            posterior: frame.axes[1],
            thickness_mm: size.thickness_mm,
            half_width_mm: a,
            half_depth_mm: b,
            back_edge_mm: back,
            anterior_fraction: size.anterior_fraction,
        };
        self.push(
            Tissue::Cortical,
            P_REMNANT_RIM,
            band_shape(&r, REMNANT_RIM_MM),
        );
        self.push(Tissue::Nucleus, P_REMNANT, band_shape(&r, 0.0));
        r
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::super::test_support::{V_POST, pair, scene};
    use super::*;

    fn size() -> RemnantSize {
        RemnantSize {
            thickness_mm: 3.0,
            anterior_fraction: 0.6,
        }
    }

    #[test]
    fn band_is_nucleus_in_the_front_of_the_junction_with_a_bony_rim() {
        // Two bodies 24 × 16 mm (half), posterior wall at 14.08; junction at the disc
        // centre. Band: half-width 21.5, half-depth 14, back edge -14 + 0.6 · 28.08.
        let (up, low, frame) = pair(1.5);
        let mut b = Builder::default();
        b.vertebra(&up);
        b.vertebra(&low);
        let r = b.sacral_remnant("S1-S2", &up, &low, &frame, size());
        let back = -14.0 + 0.6 * (14.0 + V_POST);
        assert!((r.back_edge_mm - back).abs() < 1e-12);
        assert!((r.half_width_mm - 21.5).abs() < 1e-12);
        let a = scene(b);
        let at = |u: f64, v: f64, w: f64| frame.to_world([u, v, w]);
        // Inside: centre, near the front, just in front of the back edge, near its faces.
        for (u, v, w) in [
            (0.0, 0.0, 0.0),
            (0.0, -13.5, 0.0),
            (0.0, back - 0.2, 1.4),
            (20.0, -2.0, -1.4),
        ] {
            assert_eq!(a.label(at(u, v, w)), Tissue::Nucleus, "{u} {v} {w}");
            assert!(r.contains(at(u, v, w)));
        }
        // The rim: 0.8 mm of cortical bone across the faces and behind the back edge.
        assert_eq!(a.label(at(0.0, 0.0, 1.5 + 0.4)), Tissue::Cortical);
        assert_eq!(a.label(at(0.0, back + 0.4, 0.0)), Tissue::Cortical);
        // Outside the rim: the marrow of the bodies, also behind the band (partial depth).
        assert_eq!(a.label(at(0.0, 0.0, 1.5 + 1.5)), Tissue::Marrow);
        assert_eq!(a.label(at(0.0, 0.0, -1.5 - 1.5)), Tissue::Marrow);
        assert_eq!(a.label(at(0.0, back + 2.0, 3.0)), Tissue::Marrow);
        assert!(!r.contains(at(0.0, back + 0.2, 0.0)));
    }

    #[test]
    fn band_follows_a_tilted_junction() {
        let (up, low, frame) = pair(1.5);
        let tilted = frame.turned(0, 40f64.to_radians());
        let mut b = Builder::default();
        let r = b.sacral_remnant("S1-S2", &up, &low, &tilted, size());
        let a = scene(b);
        // 10 mm in front of the centre and 1.2 mm off the tilted plane is inside; the
        // same point in the untilted frame lies 10·sin 40° ≈ 6.4 mm off the band.
        let p = tilted.to_world([0.0, -10.0, 1.2]);
        assert_eq!(a.label(p), Tissue::Nucleus);
        let q = frame.to_world([0.0, -10.0, 1.2]);
        assert_eq!(a.label(q), Tissue::Air);
        let cos = crate::volume::geometry::dot(r.axis, frame.axes[2]);
        assert!((cos - 40f64.to_radians().cos()).abs() < 1e-12);
    }

    #[test]
    fn remnant_is_steeper_than_l5_s1_and_lies_between_s1_and_s2() {
        use super::super::Anatomy;
        use crate::phantom::Severity;
        // Anterior tilt of an axis from the vertical in the sagittal plane (anterior = -y).
        let tilt = |a: Vec3| (-a[1]).atan2(a[2]).to_degrees();
        let draw = RemnantDraw {
            s1_s2: Some(size()),
            s2_s3: Some(size()),
        };
        for seed in 0..30 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let a = Anatomy::sample(&mut rng, Severity::Normal, 5, &draw, &Default::default());
            let names: Vec<&str> = a
                .sacral_remnants
                .iter()
                .map(|r| r.junction.as_str())
                .collect();
            assert_eq!(names, ["S1-S2", "S2-S3"]);
            let r = &a.sacral_remnants[0];
            let l5s1 = a.levels.iter().find(|l| l.name == "L5-S1").unwrap();
            let t = (tilt(r.axis), tilt(l5s1.frame.axes[2]));
            assert!(t.0 > t.1 + 0.5, "seed {seed}: {t:?}");
            // Between the S1 and S2 body centres, along the S1 axis.
            let s1 = a.vertebrae.iter().find(|v| v.name == "S1").unwrap();
            let w = s1.frame.to_local(r.center_mm)[2];
            assert!(
                (-s1.half_height_mm - 2.0..-s1.half_height_mm).contains(&w),
                "{w}"
            );
        }
    }

    #[test]
    fn draw_is_half_the_cases_in_range_and_s2_s3_only_with_s1_s2() {
        let (mut n, mut n23) = (0, 0);
        for seed in 0..400 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let d = RemnantDraw::sample(&mut rng);
            if let Some(s) = d.s1_s2 {
                n += 1;
                assert!((1.5..=4.0).contains(&s.thickness_mm));
                assert!((0.5..=0.9).contains(&s.anterior_fraction));
            }
            if let Some(s) = d.s2_s3 {
                n23 += 1;
                assert!(d.s1_s2.is_some());
                assert!((1.5..=2.5).contains(&s.thickness_mm));
            }
        }
        // Binomial(400, 0.5): 200 ± 30 (3 σ); S2-S3 a third of those.
        assert!((170..=230).contains(&n), "{n}");
        assert!(
            (n23 as f64 / n as f64 - 1.0 / 3.0).abs() < 0.12,
            "{n23}/{n}"
        );
    }
}
