//! Per-foramen variants from real-scan situations that broke the foramen rules (issue
//! 18 item 4): the root tight under the upper pedicle, a dark fat-poor foramen, and
//! outline shapes (class, height, width) drawn from the real-scan reference readings.
//! Drawn from their own random stream (6) and only with `PhantomOptions::variants`, so
//! that every other draw, and the cases without variants, stay as they were.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;

use super::uni;

/// Outline class of a foramen on its min-area sagittal plane, as classified in the
/// reference readings (docs/phantom.md, "Variants").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShapeClass {
    /// Widest near mid-height, narrowing to both ends (69 % of the readings).
    Oval,
    /// Inverted teardrop / keyhole head: wide arch under the pedicle, narrow lower tail
    /// behind the disc (21 %).
    Teardrop,
    /// Inverted U: wide down to a broad floor, rounded roof (10 %).
    InvertedU,
}

/// Reference-derived distribution of one class: share of the readings, height and
/// width (mean, sd, p5, p95 in mm), and its profile ([`crate::phantom::shapes::Shape::Profile`]:
/// apex, base, linear base). From `tools/reference_shape_stats.py` over the 183 outlined
/// foramina of `fixtures/reference/foramina/*.json`.
pub struct ClassStats {
    pub class: ShapeClass,
    pub share: f64,
    pub height_mm: [f64; 4],
    pub width_mm: [f64; 4],
    pub profile: (f64, f64, bool),
}

pub const CLASS_STATS: [ClassStats; 3] = [
    ClassStats {
        class: ShapeClass::Oval,
        share: 126.0 / 183.0,
        height_mm: [15.5, 2.8, 11.5, 20.0],
        width_mm: [9.4, 1.7, 6.5, 12.5],
        profile: (0.5, 0.0, false),
    },
    ClassStats {
        class: ShapeClass::Teardrop,
        share: 39.0 / 183.0,
        height_mm: [18.3, 2.4, 14.5, 22.0],
        width_mm: [8.4, 1.4, 5.0, 10.0],
        profile: (0.65, 0.3, true),
    },
    ClassStats {
        class: ShapeClass::InvertedU,
        share: 18.0 / 183.0,
        height_mm: [15.9, 2.8, 11.0, 19.0],
        width_mm: [9.9, 1.0, 8.5, 11.5],
        profile: (0.35, 0.55, false),
    },
];

impl ShapeClass {
    pub fn stats(self) -> &'static ClassStats {
        &CLASS_STATS[self as usize]
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ShapeClass::Oval => "oval",
            ShapeClass::Teardrop => "teardrop",
            ShapeClass::InvertedU => "inverted_u",
        }
    }
}

/// Outline target of a shaped foramen. The drawn outline is `height_mm / 0.85` tall with
/// its top 15 % inside the upper pedicle (the roof is the pedicle's inferior cortex);
/// bone that reaches further in still carves it, so the truth may be smaller.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ShapeTarget {
    pub class: ShapeClass,
    pub height_mm: f64,
    pub width_mm: f64,
}

/// Fraction of the drawn outline above the roof (inside the pedicle).
pub const ROOF_HIDDEN: f64 = 0.15;

/// Fat partly replaced by veins / fibrosis (intermediate signal, inside the foramen).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FatPoor {
    /// Perineural sleeve of intermediate tissue around the root, mm beyond its radius.
    pub sleeve_mm: f64,
    /// Venous band in the lower foramen: from the floor (top of the lower pedicle) up to
    /// this fraction of the way to the root's lowest point.
    pub band_fraction: f64,
}

pub const SLEEVE_MM: (f64, f64) = (0.8, 1.6);
pub const BAND_FRACTION: (f64, f64) = (0.4, 0.8);
/// Signal of the intermediate tissue: `fat + blend · (root - fat)`, per case.
pub const SOFT_BLEND: (f64, f64) = (0.5, 0.8);

/// The variants of one foramen (any combination; all `false` / `None` = plain).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ForamenVariant {
    /// The exiting root lies tight under the upper pedicle's inferior cortex.
    pub root_on_pedicle: bool,
    pub fat_poor: Option<FatPoor>,
    pub shape: Option<ShapeTarget>,
}

impl ForamenVariant {
    /// Names of the variant kinds present (for per-kind figures).
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut k = Vec::new();
        if self.root_on_pedicle {
            k.push("root_on_pedicle");
        }
        if self.fat_poor.is_some() {
            k.push("fat_poor");
        }
        if let Some(s) = self.shape {
            k.push(match s.class {
                ShapeClass::Oval => "shape_oval",
                ShapeClass::Teardrop => "shape_teardrop",
                ShapeClass::InvertedU => "shape_inverted_u",
            });
        }
        if k.is_empty() {
            k.push("none_drawn");
        }
        k
    }
}

/// Probabilities of each kind per foramen (independent).
pub const P_ROOT_ON_PEDICLE: f64 = 0.6;
pub const P_FAT_POOR: f64 = 0.4;
pub const P_SHAPE: f64 = 0.6;

/// Levels (by index in the anatomy, thoracic included) a draw covers.
const MAX_LEVELS: usize = 16;

/// The variants of every foramen of a case and the intermediate tissue's signal.
#[derive(Debug, Clone, Default)]
pub struct VariantDraw {
    /// `fat + soft_blend · (root - fat)`; 0 without variants.
    pub soft_blend: f64,
    /// By level index, then [`super::Side::index`]; empty = no variants.
    pub foramina: Vec<[ForamenVariant; 2]>,
}

fn truncated_normal(rng: &mut ChaCha8Rng, [mean, sd, lo, hi]: [f64; 4]) -> f64 {
    let n = Normal::new(mean, sd).unwrap_or_else(|_| Normal::new(mean, 0.0).expect("sd 0"));
    n.sample(rng).clamp(lo, hi)
}

impl VariantDraw {
    pub const NONE: VariantDraw = VariantDraw {
        soft_blend: 0.0,
        foramina: Vec::new(),
    };

    /// Draws the variants of every foramen. Every foramen draws the same number of
    /// values whatever it gets, so one foramen's draw never shifts another's.
    pub fn sample(rng: &mut ChaCha8Rng) -> VariantDraw {
        let soft_blend = uni(rng, SOFT_BLEND.0, SOFT_BLEND.1);
        let foramina = (0..MAX_LEVELS)
            .map(|_| [0, 1].map(|_| ForamenVariant::sample(rng)))
            .collect();
        VariantDraw {
            soft_blend,
            foramina,
        }
    }

    /// The variant of the foramen of level `level` on side index `side`.
    pub fn get(&self, level: usize, side: usize) -> Option<ForamenVariant> {
        self.foramina.get(level).map(|f| f[side])
    }
}

impl ForamenVariant {
    fn sample(rng: &mut ChaCha8Rng) -> ForamenVariant {
        let root = rng.random_bool(P_ROOT_ON_PEDICLE);
        let fat_poor = rng.random_bool(P_FAT_POOR);
        let sleeve = uni(rng, SLEEVE_MM.0, SLEEVE_MM.1);
        let band = uni(rng, BAND_FRACTION.0, BAND_FRACTION.1);
        let shaped = rng.random_bool(P_SHAPE);
        let x: f64 = rng.random_range(0.0..1.0);
        let mut acc = 0.0;
        let mut stats = &CLASS_STATS[0];
        for c in &CLASS_STATS {
            acc += c.share;
            stats = c;
            if x < acc {
                break;
            }
        }
        let height = truncated_normal(rng, stats.height_mm);
        let width = truncated_normal(rng, stats.width_mm);
        ForamenVariant {
            root_on_pedicle: root,
            fat_poor: fat_poor.then_some(FatPoor {
                sleeve_mm: sleeve,
                band_fraction: band,
            }),
            shape: shaped.then_some(ShapeTarget {
                class: stats.class,
                height_mm: height,
                width_mm: width,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn class_shares_sum_to_one_and_ranges_hold_their_means() {
        let total: f64 = CLASS_STATS.iter().map(|c| c.share).sum();
        assert!((total - 1.0).abs() < 1e-12);
        for c in &CLASS_STATS {
            assert_eq!(c.class.stats().class, c.class);
            for [m, _, lo, hi] in [c.height_mm, c.width_mm] {
                assert!(lo < m && m < hi, "{:?}", c.class);
            }
        }
    }

    #[test]
    fn drawn_shapes_follow_the_reference_distributions() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut n = [0usize; 3];
        let mut heights = [Vec::new(), Vec::new(), Vec::new()];
        let mut total = 0;
        for _ in 0..4000 {
            let v = ForamenVariant::sample(&mut rng);
            let Some(s) = v.shape else { continue };
            total += 1;
            let st = s.class.stats();
            n[s.class as usize] += 1;
            heights[s.class as usize].push(s.height_mm);
            // Within the class's p5..p95 range (the truncation).
            assert!(s.height_mm >= st.height_mm[2] && s.height_mm <= st.height_mm[3]);
            assert!(s.width_mm >= st.width_mm[2] && s.width_mm <= st.width_mm[3]);
            if let Some(f) = v.fat_poor {
                assert!((SLEEVE_MM.0..=SLEEVE_MM.1).contains(&f.sleeve_mm));
                assert!((BAND_FRACTION.0..=BAND_FRACTION.1).contains(&f.band_fraction));
            }
        }
        // About 60 % shaped; class shares within 3 points of the readings'.
        assert!((total as f64 / 4000.0 - P_SHAPE).abs() < 0.03, "{total}");
        for c in &CLASS_STATS {
            let share = n[c.class as usize] as f64 / total as f64;
            assert!((share - c.share).abs() < 0.03, "{:?}: {share}", c.class);
            let h = &heights[c.class as usize];
            let mean = h.iter().sum::<f64>() / h.len() as f64;
            // Truncation at p5/p95 moves the mean little.
            assert!((mean - c.height_mm[0]).abs() < 0.5, "{:?}: {mean}", c.class);
        }
    }

    #[test]
    fn every_foramen_draws_alike_so_draws_do_not_shift() {
        let a = VariantDraw::sample(&mut ChaCha8Rng::seed_from_u64(3));
        let b = VariantDraw::sample(&mut ChaCha8Rng::seed_from_u64(3));
        assert_eq!(a.foramina, b.foramina);
        assert_eq!(a.foramina.len(), MAX_LEVELS);
        assert!((SOFT_BLEND.0..=SOFT_BLEND.1).contains(&a.soft_blend));
        assert!(VariantDraw::NONE.get(0, 0).is_none());
    }
}
