//! The labelled implicit model of the lumbar spine: every tissue is a union of simple
//! primitives (superquadrics, capsules, slabs) with a priority; a point takes the label
//! of the highest-priority primitive that contains it, or a background label from a
//! smooth description of the trunk around the spine.
//!
//! [`Anatomy::sample`] builds the model in steps, one submodule each, in the order of
//! their random draws:
//!
//! | step | module | what |
//! |---|---|---|
//! | 1 | `spec` | sizes of T10..T12, L1..Ln, S1..S4 and the pedicles |
//! | 2 | `pathology` | per level: disc height, lordotic wedge, knobs of both foramina |
//! | 3 | `chain` | stacking bodies and discs into frames; whole-spine pose |
//! | 4 | `vertebra` | body, pedicles, pars, transverse and spinous processes, lamina, ligamentum flavum; sacral crest and alae |
//! | 5 | `disc` | annulus and nucleus |
//! | 6 | `foramen` | articular processes, facet capsule, bulge, osteophytes, foraminal fat envelope, exiting root |
//! | 7 | `canal` | epidural fat and thecal sac |
//! | 8 | `background` | trunk outline, subcutaneous fat, muscle, vessels, bowel |
//! | 9 | `sacrum` | vestigial S1-S2 (S2-S3) discs, from their own random stream |
//!
//! `variant` draws the opt-in per-foramen variants (own random stream) that step 6 uses.
//!
//! Byte-identical output for a seed is part of the contract (checked-in fixtures): keep
//! the order of the random draws, of the primitives and of every floating-point
//! operation when editing a step.

mod background;
mod builder;
mod canal;
mod chain;
mod disc;
mod foramen;
mod pathology;
pub mod sacrum;
mod spec;
#[cfg(test)]
mod test_support;
pub mod variant;
mod vertebra;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::Severity;
use super::shapes::{Aabb, Frame, Shape};
use crate::volume::geometry::{Vec3, dot, sub};
use builder::Builder;
use chain::Pose;
use pathology::LevelScales;
use sacrum::{RemnantDraw, SacralRemnant};
use variant::{ForamenVariant, VariantDraw};

/// Tissue labels. The order is the index into contrast tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tissue {
    Air,
    /// Subcutaneous, retroperitoneal and mesenteric fat.
    Fat,
    Muscle,
    /// Abdominal organs and bowel, lumped.
    Abdomen,
    /// Aorta and inferior vena cava (flow void on spin echo).
    Vessel,
    Cortical,
    Marrow,
    Annulus,
    Nucleus,
    Csf,
    EpiduralFat,
    /// Fat inside a foraminal envelope: part of the foramen.
    ForaminalFat,
    /// Exiting nerve root and ganglion: part of the foramen where inside an envelope.
    Root,
    /// Ligamentum flavum.
    Ligament,
    /// Veins / fibrosis replacing foraminal fat (fat-poor variant): part of the foramen
    /// where inside an envelope; signal between root and fat. Only in variant cases.
    ForaminalSoft,
}

pub const TISSUE_COUNT: usize = 15;

impl Tissue {
    pub const ALL: [Tissue; TISSUE_COUNT] = [
        Tissue::Air,
        Tissue::Fat,
        Tissue::Muscle,
        Tissue::Abdomen,
        Tissue::Vessel,
        Tissue::Cortical,
        Tissue::Marrow,
        Tissue::Annulus,
        Tissue::Nucleus,
        Tissue::Csf,
        Tissue::EpiduralFat,
        Tissue::ForaminalFat,
        Tissue::Root,
        Tissue::Ligament,
        Tissue::ForaminalSoft,
    ];

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Side of a foramen: `Left` is toward +x (patient left, LPS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Right,
    Left,
}

impl Side {
    pub const BOTH: [Side; 2] = [Side::Right, Side::Left];

    /// Sign of the local u (≈ x) coordinate on this side.
    pub fn sign(self) -> f64 {
        match self {
            Side::Right => -1.0,
            Side::Left => 1.0,
        }
    }

    pub fn index(self) -> usize {
        match self {
            Side::Right => 0,
            Side::Left => 1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Right => "right",
            Side::Left => "left",
        }
    }
}

/// How narrowed a foramen was meant to be when its knobs were drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PathologyClass {
    Normal,
    Mild,
    Moderate,
    Severe,
}

/// Pathology knobs of one foramen (level and side).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pathology {
    /// The class the knobs were sampled for (the truth grade comes from measurements).
    pub class: PathologyClass,
    /// Fraction of the nominal disc height lost at this level (shared by both sides).
    pub disc_height_loss: f64,
    /// Posterolateral disc bulge beyond the posterior body margin, mm.
    pub bulge_mm: f64,
    /// Posterior endplate osteophyte reaching into the foramen, mm.
    pub osteophyte_mm: f64,
    /// Forward growth of the superior articular process (and thickening of the inferior
    /// one), mm.
    pub facet_hypertrophy_mm: f64,
}

impl Pathology {
    /// No pathology: the knobs of fused levels.
    const NONE: Pathology = Pathology {
        class: PathologyClass::Normal,
        disc_height_loss: 0.0,
        bulge_mm: 0.0,
        osteophyte_mm: 0.0,
        facet_hypertrophy_mm: 0.0,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    Thoracic,
    Lumbar,
    Sacral,
}

#[derive(Debug, Clone, Copy)]
pub struct Pedicle {
    /// Signed u of the pedicle axis (negative = right).
    pub centre_u_mm: f64,
    pub half_width_mm: f64,
    pub half_height_mm: f64,
    pub half_length_mm: f64,
    pub centre_v_mm: f64,
    pub centre_w_mm: f64,
}

impl Pedicle {
    pub fn medial_mm(&self) -> f64 {
        self.centre_u_mm.abs() - self.half_width_mm
    }
    pub fn lateral_mm(&self) -> f64 {
        self.centre_u_mm.abs() + self.half_width_mm
    }
}

#[derive(Debug, Clone)]
pub struct Vertebra {
    pub name: String,
    pub region: Region,
    /// Origin at the body centre; u left, v posterior, w superior.
    pub frame: Frame,
    pub half_height_mm: f64,
    pub half_width_mm: f64,
    pub half_depth_mm: f64,
    /// Flat posterior wall of the body (local v).
    pub v_post_mm: f64,
    pub canal_half_width_mm: f64,
    pub canal_depth_mm: f64,
    /// Index by [`Side::index`].
    pub pedicles: [Pedicle; 2],
}

impl Vertebra {
    /// Local v of the posterior body margin at lateral offset `u` (superellipse
    /// `|u/a|^4 + |v/b|^3 = 1`, cut by the flat posterior wall).
    pub fn posterior_margin_v_mm(&self, u_mm: f64) -> f64 {
        let t = (u_mm.abs() / self.half_width_mm).min(1.0);
        (self.half_depth_mm * (1.0 - t * t * t * t).cbrt()).min(self.v_post_mm)
    }
}

#[derive(Debug, Clone)]
pub struct Foramen {
    pub side: Side,
    pub pathology: Pathology,
    /// AP gap (mm) between the posterior body wall and the superior articular process.
    pub gap_mm: f64,
    /// Index of the envelope primitive in [`Anatomy::prims`].
    pub envelope: usize,
    /// Medial-lateral axis of the foramen: through the envelope centre along the disc
    /// frame's u, from the medial to the lateral end of the envelope.
    pub axis: [Vec3; 2],
    /// Root axis (the capsule's segment).
    pub root_axis: [Vec3; 2],
    pub root_radius_mm: f64,
    /// Opt-in variant drawn for this foramen (`None` without variants).
    pub variant: Option<ForamenVariant>,
}

#[derive(Debug, Clone)]
pub struct Level {
    pub name: String,
    pub upper: usize,
    pub lower: usize,
    /// Disc mid frame (origin = disc centre).
    pub frame: Frame,
    pub disc_height_mm: f64,
    pub wedge_deg: f64,
    /// True for the lumbar levels reported in the truth.
    pub reported: bool,
    /// Mobile levels have foramina; fused sacral levels do not.
    pub foramina: Option<[Foramen; 2]>,
}

/// What a primitive is for; decides the foramen membership in the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Tissue,
    /// Foraminal envelope of (level index, side).
    Envelope(usize, Side),
}

#[derive(Debug, Clone)]
pub struct Prim {
    pub label: Tissue,
    pub priority: u8,
    pub role: Role,
    pub shape: Shape,
    pub aabb: Aabb,
}

const SPINE_TABLE_STEP_MM: f64 = 1.0;

// Priorities: higher wins where primitives overlap. A sacral remnant lies inside the
// bone ends, so it and its rim outrank marrow.
const P_REMNANT: u8 = 96;
const P_REMNANT_RIM: u8 = 95;
const P_MARROW: u8 = 90;
const P_CORTEX: u8 = 80;
const P_NUCLEUS: u8 = 70;
const P_ANNULUS: u8 = 65;
const P_LIGAMENT: u8 = 60;
const P_ROOT: u8 = 50;
/// Veins / fibrosis of a fat-poor foramen (variant): under the root, over the fat.
const P_SOFT: u8 = 45;
const P_ENVELOPE: u8 = 40;
/// Fibrous tissue filling the bony ring around a shaped (variant) foramen.
const P_MOULD: u8 = 35;
const P_CSF: u8 = 30;
const P_CANAL: u8 = 20;

/// Smooth description of the trunk around the spine, in coordinates relative to the
/// spine's posterior wall at the same height (see [`Anatomy::background`]).
#[derive(Debug, Clone, Serialize)]
pub struct Habitus {
    pub back_depth_mm: f64,
    pub trunk_half_width_mm: f64,
    pub trunk_half_depth_mm: f64,
    pub subcutaneous_fat_mm: f64,
    pub aorta_bifurcation_z_mm: f64,
    pub ivc_confluence_z_mm: f64,
    pub body_front_v_mm: f64,
    pub bowel_phase: [f64; 3],
}

#[derive(Debug, Clone)]
pub struct Anatomy {
    pub vertebrae: Vec<Vertebra>,
    pub levels: Vec<Level>,
    /// Sorted by descending priority.
    pub prims: Vec<Prim>,
    pub habitus: Habitus,
    /// (x of the canal centre, y of the posterior body wall) every
    /// [`SPINE_TABLE_STEP_MM`] from `spine_table_z0`.
    spine_table: Vec<[f64; 2]>,
    spine_table_z0: f64,
    /// 1/W², 1/D² of the trunk outline and of its inner (fat-free) outline.
    trunk_inv2: [f64; 4],
    pub lumbar_count: u8,
    pub sacral_slope_deg: f64,
    pub lordosis_deg: f64,
    pub body_scale: f64,
    /// Vestigial discs between fused sacral segments (none in a fully fused sacrum).
    pub sacral_remnants: Vec<SacralRemnant>,
}

/// A cheap sine-like wave of period 2π (piecewise parabola, within 6% of `sin`):
/// the background is evaluated tens of millions of times per case.
#[inline]
pub(crate) fn wave(x: f64) -> f64 {
    let t = x * (0.5 / std::f64::consts::PI);
    // floor without a libm call (the baseline x86-64 target lacks SSE4.1 `roundsd`).
    let i = t as i64 as f64;
    let f = if t < i { t - i + 1.0 } else { t - i };
    if f < 0.5 {
        16.0 * f * (0.5 - f)
    } else {
        -16.0 * (f - 0.5) * (1.0 - f)
    }
}

fn uni(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    rng.random_range(lo..=hi)
}

fn lerp(a: f64, b: f64, t: f64) -> f64 {
    a + (b - a) * t
}

impl Anatomy {
    /// Samples a spine from `rng`. `lumbar_count` must be 4, 5 or 6 (checked by the caller).
    /// `remnants` (drawn from another stream) adds vestigial sacral discs and changes
    /// nothing else; so do `variants` (empty = none) to the foramina they apply to.
    pub fn sample(
        rng: &mut ChaCha8Rng,
        severity: Severity,
        lumbar_count: u8,
        remnants: &RemnantDraw,
        variants: &VariantDraw,
    ) -> Anatomy {
        let n_lumbar = lumbar_count as usize;
        let body_scale = uni(rng, 0.88, 1.12);
        let disc_scale = uni(rng, 0.88, 1.12);
        let sacral_slope_deg = uni(rng, 32.0, 46.0);
        let lordosis_deg = sacral_slope_deg + uni(rng, 4.0, 16.0);

        let specs = spec::vertebra_specs(rng, body_scale, n_lumbar);
        let s1 = 3 + n_lumbar;
        let scales = LevelScales {
            body_scale,
            disc_scale,
            lordosis_deg,
        };
        let lspecs = pathology::level_specs(rng, &specs, s1, n_lumbar, severity, &scales);

        let (frames, disc_frames) = chain::stack(rng, &specs, &lspecs, s1, sacral_slope_deg);
        let mid = 3 + n_lumbar / 2;
        let pose = Pose::sample(rng, frames[mid].origin);
        let disc_frames: Vec<Frame> = disc_frames.iter().map(|f| pose.apply(f)).collect();
        let vertebrae: Vec<Vertebra> = specs
            .iter()
            .zip(&frames)
            .map(|(s, f)| s.place(pose.apply(f)))
            .collect();

        let mut b = Builder::default();
        for v in &vertebrae {
            b.vertebra(v);
        }
        let mut levels = Vec::new();
        for (i, ls) in lspecs.iter().enumerate() {
            let (up, low) = (&vertebrae[i], &vertebrae[i + 1]);
            let frame = disc_frames[i];
            b.disc(
                up,
                low,
                &frame,
                ls.d,
                ls.mobile && ls.knobs[0].disc_height_loss < 0.3,
            );
            let foramina = ls.mobile.then(|| {
                Side::BOTH.map(|side| {
                    let k = side.index();
                    // Reference shapes are of healthy foramina: a narrowed one keeps the
                    // outline its pathology carves.
                    let variant =
                        variants
                            .get(i, k)
                            .filter(|_| ls.reported)
                            .map(|v| ForamenVariant {
                                shape: v
                                    .shape
                                    .filter(|_| ls.knobs[k].class <= PathologyClass::Mild),
                                ..v
                            });
                    b.foramen(
                        i,
                        side,
                        up,
                        low,
                        &frame,
                        (ls.knobs[k], ls.gap[k]),
                        variant,
                        rng,
                    )
                })
            });
            levels.push(Level {
                name: ls.name.clone(),
                upper: i,
                lower: i + 1,
                frame,
                disc_height_mm: ls.d,
                wedge_deg: ls.wedge_deg,
                reported: ls.reported,
                foramina,
            });
        }
        for (i, v) in vertebrae.iter().enumerate() {
            let d_above = if i > 0 { lspecs[i - 1].d } else { 6.0 };
            let d_below = lspecs.get(i).map_or(2.0, |l| l.d);
            b.canal(v, d_above, d_below);
        }
        // Levels s1 and s1 + 1 join S1-S2 and S2-S3.
        let mut sacral_remnants = Vec::new();
        for (k, size) in [remnants.s1_s2, remnants.s2_s3].into_iter().enumerate() {
            if let Some(size) = size {
                let l = &levels[s1 + k];
                let (up, low) = (&vertebrae[l.upper], &vertebrae[l.lower]);
                sacral_remnants.push(b.sacral_remnant(&l.name, up, low, &l.frame, size));
            }
        }
        let prims = b.into_sorted(&mut levels);

        let (spine_table_z0, spine_table) = background::spine_table(&vertebrae);
        let habitus = Habitus::sample(rng, &vertebrae, s1, mid);
        Anatomy {
            trunk_inv2: habitus.trunk_inv2(),
            habitus,
            vertebrae,
            levels,
            prims,
            spine_table,
            spine_table_z0,
            lumbar_count,
            sacral_slope_deg,
            lordosis_deg,
            body_scale,
            sacral_remnants,
        }
    }
    /// Label at `p`, testing only the primitives listed in `candidates` (ascending
    /// indices into [`Anatomy::prims`], i.e. descending priority).
    #[inline]
    pub fn label_with(&self, p: Vec3, candidates: &[u32]) -> Tissue {
        for &i in candidates {
            let prim = &self.prims[i as usize];
            if prim.aabb.contains(p) && prim.shape.contains(p) {
                return prim.label;
            }
        }
        self.background(p)
    }

    /// Indices of the primitives whose box meets `bb`, in priority order.
    pub fn candidates(&self, bb: &Aabb) -> Vec<u32> {
        self.prims
            .iter()
            .enumerate()
            .filter(|(_, p)| p.aabb.intersects(bb))
            .map(|(i, _)| i as u32)
            .collect()
    }

    /// Label at `p` testing every primitive (slow; for tests and pictures).
    pub fn label(&self, p: Vec3) -> Tissue {
        for prim in &self.prims {
            if prim.aabb.contains(p) && prim.shape.contains(p) {
                return prim.label;
            }
        }
        self.background(p)
    }
}

impl Prim {
    pub fn new(label: Tissue, priority: u8, shape: Shape) -> Prim {
        Prim {
            label,
            priority,
            role: Role::Tissue,
            aabb: shape.aabb(),
            shape,
        }
    }
}

#[cfg(test)]
impl Anatomy {
    /// A scene of the given primitives in air, without a spine (for render tests).
    pub(crate) fn test_scene(mut prims: Vec<Prim>) -> Anatomy {
        prims.sort_by_key(|p| std::cmp::Reverse(p.priority));
        let habitus = Habitus {
            back_depth_mm: 0.0,
            trunk_half_width_mm: 1e-3,
            trunk_half_depth_mm: 1e-3,
            subcutaneous_fat_mm: 0.0,
            aorta_bifurcation_z_mm: 0.0,
            ivc_confluence_z_mm: 0.0,
            body_front_v_mm: 0.0,
            bowel_phase: [0.0; 3],
        };
        Anatomy {
            vertebrae: Vec::new(),
            levels: Vec::new(),
            prims,
            // Far outside the tiny trunk: the background is air everywhere.
            spine_table: vec![[1e6, 1e6], [1e6, 1e6]],
            spine_table_z0: 0.0,
            trunk_inv2: [1e6, 1e6, 1e6, 1e6],
            habitus,
            lumbar_count: 5,
            sacral_slope_deg: 0.0,
            lordosis_deg: 0.0,
            body_scale: 1.0,
            sacral_remnants: Vec::new(),
        }
    }
}

/// The disc mid-plane normal (local w of the level frame) in world coordinates.
pub fn level_axis(level: &Level) -> Vec3 {
    level.frame.axes[2]
}

/// Distance between the two endplate planes along the disc axis, at `(u, v)` of the
/// disc frame.
pub fn disc_height_at(up: &Vertebra, low: &Vertebra, frame: &Frame, u_mm: f64, v_mm: f64) -> f64 {
    let q = frame.to_world([u_mm, v_mm, 0.0]);
    let w = frame.axes[2];
    // Plane of the lower body's superior endplate and the upper body's inferior one.
    let hit = |vert: &Vertebra, sign: f64| -> f64 {
        let pt = vert.frame.to_world([0.0, 0.0, sign * vert.half_height_mm]);
        let n = vert.frame.axes[2];
        dot(sub(pt, q), n) / dot(w, n)
    };
    hit(up, -1.0) - hit(low, 1.0)
}
