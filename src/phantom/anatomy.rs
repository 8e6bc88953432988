//! The labelled implicit model of the lumbar spine: every tissue is a union of simple
//! primitives (superquadrics, capsules, slabs) with a priority; a point takes the label
//! of the highest-priority primitive that contains it, or a background label from a
//! smooth description of the trunk around the spine.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::Severity;
use super::shapes::{Aabb, Frame, Shape};
use crate::volume::geometry::{Vec3, add, dot, normalize, scale, sub};

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
}

pub const TISSUE_COUNT: usize = 14;

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

// Priorities: higher wins where primitives overlap.
const SPINE_TABLE_STEP_MM: f64 = 1.0;

const P_MARROW: u8 = 90;
const P_CORTEX: u8 = 80;
const P_NUCLEUS: u8 = 70;
const P_ANNULUS: u8 = 65;
const P_LIGAMENT: u8 = 60;
const P_ROOT: u8 = 50;
const P_ENVELOPE: u8 = 40;
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

/// Knobs for one foramen of a given class. `loss` is per level and drawn separately.
fn sample_knobs(rng: &mut ChaCha8Rng, class: PathologyClass, random: bool) -> (f64, f64, f64, f64) {
    if random {
        return (
            uni(rng, 0.0, 0.75),
            uni(rng, 0.0, 5.5),
            uni(rng, 0.0, 3.2),
            uni(rng, 0.0, 4.6),
        );
    }
    // Ranges per class: (disc height loss, bulge, osteophyte, facet hypertrophy).
    let r = match class {
        PathologyClass::Normal => [(0.0, 0.08), (0.0, 0.8), (0.0, 0.0), (0.0, 0.5)],
        PathologyClass::Mild => [(0.1, 0.3), (0.8, 2.0), (0.0, 0.8), (0.5, 1.5)],
        PathologyClass::Moderate => [(0.3, 0.5), (2.4, 3.6), (0.5, 2.0), (1.8, 3.0)],
        PathologyClass::Severe => [(0.55, 0.75), (4.0, 5.5), (1.8, 3.2), (3.2, 4.6)],
    };
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

struct VertSpec {
    name: String,
    region: Region,
    h: f64,
    a: f64,
    b: f64,
    cw: f64,
    depth: f64,
    pw: [f64; 2],
    ph: [f64; 2],
}

impl Anatomy {
    /// Samples a spine from `rng`. `lumbar_count` must be 4, 5 or 6 (checked by the caller).
    pub fn sample(rng: &mut ChaCha8Rng, severity: Severity, lumbar_count: u8) -> Anatomy {
        let n_lumbar = lumbar_count as usize;
        let body_scale = uni(rng, 0.88, 1.12);
        let disc_scale = uni(rng, 0.88, 1.12);
        let sacral_slope_deg = uni(rng, 32.0, 46.0);
        let lordosis_deg = sacral_slope_deg + uni(rng, 4.0, 16.0);

        // ---- vertebra specs, top to bottom: T10..T12, L1..Ln, S1..S4
        let mut specs: Vec<VertSpec> = Vec::new();
        for (i, name) in ["T10", "T11", "T12"].iter().enumerate() {
            let t = i as f64 / 2.0;
            let ph = uni(rng, 7.5, 8.5);
            specs.push(VertSpec {
                name: name.to_string(),
                region: Region::Thoracic,
                h: body_scale * lerp(10.5, 11.5, t),
                a: body_scale * lerp(17.0, 19.0, t),
                b: body_scale * lerp(14.0, 15.0, t),
                cw: uni(rng, 8.5, 9.5),
                depth: uni(rng, 13.0, 15.0),
                pw: [3.5, 3.5],
                ph: [ph, ph],
            });
        }
        // Transverse pedicle half-widths from L5 upward (L5 pedicles are the widest).
        let pw_from_bottom = [8.5, 6.5, 5.2, 4.5, 4.3, 4.1];
        for i in 0..n_lumbar {
            let t = i as f64 / (n_lumbar - 1) as f64;
            let from_bottom = n_lumbar - 1 - i;
            let pw0 = pw_from_bottom[from_bottom] * body_scale.sqrt();
            let ph = body_scale * uni(rng, 7.0, 8.0);
            let cw = lerp(10.8, 12.5, t) * uni(rng, 0.94, 1.06);
            let pw = [pw0 * uni(rng, 0.93, 1.07), pw0 * uni(rng, 0.93, 1.07)];
            // The pedicles join the posterolateral corners of the body: keep the body
            // at least 3 mm wider than the pedicles' lateral margins.
            let a = (body_scale * lerp(22.5, 26.5, t)).max(cw + 2.0 * pw[0].max(pw[1]) + 3.0);
            specs.push(VertSpec {
                name: format!("L{}", i + 1),
                region: Region::Lumbar,
                h: body_scale * lerp(12.0, 13.2, t) * uni(rng, 0.96, 1.04),
                a,
                b: body_scale * lerp(15.0, 17.5, t),
                cw,
                depth: uni(rng, 13.5, 17.0),
                pw,
                ph: [ph * uni(rng, 0.96, 1.04), ph * uni(rng, 0.96, 1.04)],
            });
        }
        let sacral = [
            ("S1", 13.0, 25.5, 18.0, 7.5),
            ("S2", 10.0, 20.0, 13.0, 4.0),
            ("S3", 8.0, 15.0, 10.0, 3.0),
            ("S4", 6.0, 10.0, 8.0, 2.5),
        ];
        for (name, h, a, b, pw) in sacral {
            specs.push(VertSpec {
                name: name.to_string(),
                region: Region::Sacral,
                h: body_scale * h,
                a: body_scale * a,
                b: body_scale * b,
                cw: if name == "S1" { 12.0 } else { 9.0 },
                depth: if name == "S1" { 12.0 } else { 8.0 },
                pw: [pw, pw],
                ph: [7.5, 7.5],
            });
        }
        let n_vert = specs.len();
        let s1 = 3 + n_lumbar;

        // ---- levels (disc below each vertebra except the last): heights, wedges, knobs
        let lumbar_disc_from_bottom = [10.5, 11.0, 10.0, 9.0, 8.0, 7.5];
        let lordosis_share = [0.36, 0.26, 0.18, 0.12, 0.08, 0.05];
        let share_sum: f64 = lordosis_share[..n_lumbar].iter().sum();
        struct LevelSpec {
            name: String,
            reported: bool,
            mobile: bool,
            d: f64,
            wedge_deg: f64,
            knobs: [Pathology; 2],
            gap: [f64; 2],
        }
        let mut lspecs: Vec<LevelSpec> = Vec::new();
        let severe_level = rng.random_range(0..2usize);
        for i in 0..n_vert - 1 {
            let upper = &specs[i];
            let lower = &specs[i + 1];
            let name = format!("{}-{}", upper.name, lower.name);
            let reported = upper.region == Region::Lumbar;
            let mobile = upper.region != Region::Sacral;
            let (mut d, mut wedge) = match (upper.region, lower.region) {
                (Region::Thoracic, _) => (uni(rng, 5.0, 6.5), -2.0 + i as f64 * 0.8),
                (Region::Sacral, _) => (1.5, [-9.0, -13.0, -16.0][(i - s1).min(2)]),
                (Region::Lumbar, _) => {
                    let from_bottom = s1 - 1 - i;
                    (
                        lumbar_disc_from_bottom[from_bottom] * disc_scale * uni(rng, 0.92, 1.08),
                        lordosis_deg * lordosis_share[from_bottom] / share_sum,
                    )
                }
            };
            let mut knobs = [Pathology {
                class: PathologyClass::Normal,
                disc_height_loss: 0.0,
                bulge_mm: 0.0,
                osteophyte_mm: 0.0,
                facet_hypertrophy_mm: 0.0,
            }; 2];
            let mut gap = [0.0; 2];
            if mobile {
                let from_bottom = s1.saturating_sub(1 + i);
                let level_class = if !reported {
                    PathologyClass::Normal
                } else if severity == Severity::Severe && from_bottom == severe_level {
                    // A severe case always has one severely narrowed lower level.
                    PathologyClass::Severe
                } else {
                    sample_class(rng, severity, from_bottom)
                };
                let random = reported && severity == Severity::Random;
                let mut loss = 0.0f64;
                for (side, knob) in knobs.iter_mut().enumerate() {
                    // The two sides differ by at most one class.
                    let forced = severity == Severity::Severe && from_bottom == severe_level;
                    let class = if reported && !random && !forced && rng.random_bool(0.35) {
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
                d *= 1.0 - loss;
                // Degenerated discs lose lordosis, and the posterior height stays >= 1.2 mm.
                wedge *= 1.0 - 0.5 * loss;
                let v_post = 0.88 * lower.b;
                let max_wedge = 2.0 * ((d - 1.2).max(0.0) / (2.0 * v_post)).atan();
                wedge = wedge.min(max_wedge.to_degrees());
            }
            lspecs.push(LevelSpec {
                name,
                reported,
                mobile,
                d,
                wedge_deg: wedge,
                knobs,
                gap,
            });
        }

        // ---- frames: S1 first, lumbar/thoracic chain upward, sacrum downward
        let mut frames = vec![Frame::aligned([0.0; 3]); n_vert];
        let mut disc_frames = vec![Frame::aligned([0.0; 3]); n_vert - 1];
        frames[s1] = Frame::aligned([0.0; 3]).turned(0, sacral_slope_deg.to_radians());
        for i in (0..s1).rev() {
            // Level i lies between vertebra i (upper) and i+1 (lower).
            let low = frames[i + 1];
            let ls = &lspecs[i];
            let coronal = uni(rng, -1.5, 1.5).to_radians();
            let axial = uni(rng, -1.0, 1.0).to_radians();
            let alpha = ls.wedge_deg.to_radians();
            let e_low = add(low.origin, scale(low.axes[2], specs[i + 1].h));
            let disc = low
                .turned(0, -alpha / 2.0)
                .turned(1, coronal / 2.0)
                .turned(2, axial / 2.0);
            let up = low.turned(0, -alpha).turned(1, coronal).turned(2, axial);
            let c_disc = add(e_low, scale(disc.axes[2], ls.d / 2.0));
            let e_up = add(e_low, scale(disc.axes[2], ls.d));
            disc_frames[i] = disc.with_origin(c_disc);
            frames[i] = up.with_origin(add(e_up, scale(up.axes[2], specs[i].h)));
        }
        for i in s1..n_vert - 1 {
            let up = frames[i];
            let ls = &lspecs[i];
            let alpha = ls.wedge_deg.to_radians();
            let e_up = sub(up.origin, scale(up.axes[2], specs[i].h));
            let disc = up.turned(0, alpha / 2.0);
            let low = up.turned(0, alpha);
            let c_disc = sub(e_up, scale(disc.axes[2], ls.d / 2.0));
            let e_low = sub(e_up, scale(disc.axes[2], ls.d));
            disc_frames[i] = disc.with_origin(c_disc);
            frames[i + 1] = low.with_origin(sub(e_low, scale(low.axes[2], specs[i + 1].h)));
        }

        // ---- whole-spine pose: rotation about the middle lumbar body, then placement
        let mid = 3 + n_lumbar / 2;
        let centre = frames[mid].origin;
        let axial = uni(rng, -4.0, 4.0).to_radians();
        let coronal = uni(rng, -3.0, 3.0).to_radians();
        let target = [
            uni(rng, -8.0, 8.0),
            uni(rng, -40.0, 10.0),
            uni(rng, -40.0, 40.0),
        ];
        let pose = |f: &Frame| -> Frame {
            let g = f
                .rotated_about(centre, [0.0, 0.0, 1.0], axial)
                .rotated_about(centre, [0.0, 1.0, 0.0], coronal);
            g.with_origin(add(sub(g.origin, centre), target))
        };
        let frames: Vec<Frame> = frames.iter().map(pose).collect();
        let disc_frames: Vec<Frame> = disc_frames.iter().map(pose).collect();

        // ---- vertebrae
        let vertebrae: Vec<Vertebra> = specs
            .iter()
            .zip(&frames)
            .map(|(s, f)| {
                let v_post = 0.88 * s.b;
                let pedicles = [0, 1].map(|k| {
                    let sign = Side::BOTH[k].sign();
                    Pedicle {
                        centre_u_mm: sign * (s.cw + s.pw[k]),
                        half_width_mm: s.pw[k],
                        half_height_mm: s.ph[k],
                        half_length_mm: 9.0,
                        centre_v_mm: v_post + 2.5,
                        centre_w_mm: s.h - s.ph[k] - 0.5,
                    }
                });
                Vertebra {
                    name: s.name.clone(),
                    region: s.region,
                    frame: *f,
                    half_height_mm: s.h,
                    half_width_mm: s.a,
                    half_depth_mm: s.b,
                    v_post_mm: v_post,
                    canal_half_width_mm: s.cw,
                    canal_depth_mm: s.depth,
                    pedicles,
                }
            })
            .collect();

        let mut b = Builder { prims: Vec::new() };
        for v in &vertebrae {
            b.vertebra(v);
        }

        // ---- levels with discs, foramina and facets
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
                [0, 1].map(|k| {
                    let side = Side::BOTH[k];
                    b.foramen(i, side, up, low, &frame, ls.knobs[k], ls.gap[k], rng)
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

        // ---- canal contents per vertebra (sac ends at S2)
        for (i, v) in vertebrae.iter().enumerate() {
            if v.region == Region::Sacral && v.name != "S1" && v.name != "S2" {
                continue;
            }
            let d_above = if i > 0 { lspecs[i - 1].d } else { 6.0 };
            let d_below = lspecs.get(i).map_or(2.0, |l| l.d);
            let reach = v.half_height_mm + d_above.max(d_below) / 2.0 + 3.0;
            let depth = v.canal_depth_mm;
            let sac_scale = if v.name == "S2" {
                0.35
            } else if v.name == "S1" {
                0.7
            } else {
                1.0
            };
            let canal = Frame {
                origin: v.frame.to_world([0.0, v.v_post_mm + depth / 2.0, 0.0]),
                axes: v.frame.axes,
            };
            b.push(
                Tissue::EpiduralFat,
                P_CANAL,
                Shape::SuperQuadric {
                    frame: canal,
                    radii_mm: [v.canal_half_width_mm + 0.5, depth / 2.0 + 0.5, reach],
                    exps: [2, 2, 8],
                    v_max_mm: f64::INFINITY,
                },
            );
            b.push(
                Tissue::Csf,
                P_CSF,
                Shape::SuperQuadric {
                    frame: canal.with_origin(v.frame.to_world([
                        0.0,
                        v.v_post_mm + depth / 2.0 - 0.3,
                        0.0,
                    ])),
                    radii_mm: [
                        (v.canal_half_width_mm - 2.0) * sac_scale,
                        (depth / 2.0 - 1.8) * sac_scale.sqrt(),
                        reach,
                    ],
                    exps: [2, 2, 8],
                    v_max_mm: f64::INFINITY,
                },
            );
        }

        // ---- order by priority; find the envelopes again after sorting
        let mut prims = b.prims;
        prims.sort_by_key(|p| std::cmp::Reverse(p.priority));
        for (idx, p) in prims.iter().enumerate() {
            if let Role::Envelope(level, side) = p.role
                && let Some(f) = levels[level].foramina.as_mut()
            {
                f[side.index()].envelope = idx;
            }
        }

        // ---- background: spine curve table and habitus
        let mut spine_lut: Vec<[f64; 3]> = Vec::new();
        for v in &vertebrae {
            for w in [-v.half_height_mm, 0.0, v.half_height_mm] {
                let p = v.frame.to_world([0.0, v.v_post_mm, w]);
                spine_lut.push([p[2], p[0], p[1]]);
            }
        }
        spine_lut.sort_by(|a, b| a[0].total_cmp(&b[0]));
        spine_lut.dedup_by(|a, b| (a[0] - b[0]).abs() < 1e-6);
        let spine_table_z0 = spine_lut[0][0];
        let z_end = spine_lut[spine_lut.len() - 1][0];
        let n_table = ((z_end - spine_table_z0) / SPINE_TABLE_STEP_MM).ceil() as usize + 2;
        let spine_table: Vec<[f64; 2]> = (0..n_table)
            .map(|i| {
                let z = spine_table_z0 + i as f64 * SPINE_TABLE_STEP_MM;
                let j = spine_lut
                    .partition_point(|e| e[0] < z)
                    .clamp(1, spine_lut.len() - 1);
                let (a, b) = (spine_lut[j - 1], spine_lut[j]);
                let t = ((z - a[0]) / (b[0] - a[0])).clamp(0.0, 1.0);
                [lerp(a[1], b[1], t), lerp(a[2], b[2], t)]
            })
            .collect();
        let mid_v = &vertebrae[mid];
        let habitus = Habitus {
            back_depth_mm: uni(rng, 50.0, 90.0),
            trunk_half_width_mm: uni(rng, 130.0, 170.0),
            trunk_half_depth_mm: uni(rng, 95.0, 130.0),
            subcutaneous_fat_mm: uni(rng, 8.0, 32.0),
            aorta_bifurcation_z_mm: vertebrae[s1 - 2].frame.origin[2],
            ivc_confluence_z_mm: vertebrae[s1 - 1].frame.origin[2],
            body_front_v_mm: -(mid_v.v_post_mm + mid_v.half_depth_mm),
            bowel_phase: [uni(rng, 0.0, 6.3), uni(rng, 0.0, 6.3), uni(rng, 0.0, 6.3)],
        };
        Anatomy {
            habitus: habitus.clone(),
            vertebrae,
            levels,
            prims,
            spine_table,
            spine_table_z0,
            trunk_inv2: {
                let (w, d, t) = (
                    habitus.trunk_half_width_mm,
                    habitus.trunk_half_depth_mm,
                    habitus.subcutaneous_fat_mm,
                );
                [
                    1.0 / (w * w),
                    1.0 / (d * d),
                    1.0 / ((w - t) * (w - t)),
                    1.0 / ((d - t) * (d - t)),
                ]
            },
            lumbar_count,
            sacral_slope_deg,
            lordosis_deg,
            body_scale,
        }
    }

    /// `(x of the canal centre, y of the posterior body wall)` at height `z`, from a
    /// table at 1 mm steps (direct indexing: this runs for most sub-samples).
    #[inline]
    fn spine_at(&self, z: f64) -> (f64, f64) {
        let t = &self.spine_table;
        let f = ((z - self.spine_table_z0) / SPINE_TABLE_STEP_MM).clamp(0.0, (t.len() - 1) as f64);
        let i = (f as usize).min(t.len().saturating_sub(2));
        let w = f - i as f64;
        let (a, b) = (t[i], t[(i + 1).min(t.len() - 1)]);
        (lerp(a[0], b[0], w), lerp(a[1], b[1], w))
    }

    /// Label of the soft tissue around the spine where no primitive applies.
    #[inline]
    pub fn background(&self, p: Vec3) -> Tissue {
        let h = &self.habitus;
        let (xc, yp) = self.spine_at(p[2]);
        let u = p[0] - xc;
        let v = p[1] - yp;
        let dv = v - h.back_depth_mm + h.trunk_half_depth_mm;
        let [inv_w2, inv_d2, inv_wi2, inv_di2] = self.trunk_inv2;
        let e = u * u * inv_w2 + dv * dv * inv_d2;
        if e > 1.0 {
            return Tissue::Air;
        }
        if u * u * inv_wi2 + dv * dv * inv_di2 > 1.0 {
            return Tissue::Fat;
        }
        let au = u.abs();
        if au < 55.0 && (v > 3.0 || (v > -38.0 && au > 12.0)) {
            // Paraspinal muscles behind, psoas beside the bodies.
            return Tissue::Muscle;
        }
        let front = h.body_front_v_mm;
        if p[2] > h.aorta_bifurcation_z_mm
            && (u - 14.0).powi(2) + (v - front + 12.0).powi(2) < 100.0
        {
            return Tissue::Vessel;
        }
        if p[2] > h.ivc_confluence_z_mm && (u + 20.0).powi(2) + (v - front + 13.0).powi(2) < 121.0 {
            return Tissue::Vessel;
        }
        if v > front - 28.0 && au < 50.0 {
            return Tissue::Fat;
        }
        // Bowel and mesenteric fat as a smooth pseudo-random pattern.
        let [a, b, c] = h.bowel_phase;
        let f = wave(0.21 * p[1] + a + 1.7 * wave(0.045 * p[2] + 0.3 * wave(0.06 * p[0])))
            + wave(0.17 * p[2] + b + 1.5 * wave(0.05 * p[1]))
            + wave(0.13 * (p[1] + p[2]) + c + 0.9 * wave(0.08 * p[0]));
        if f > 1.2 {
            Tissue::Fat
        } else {
            Tissue::Abdomen
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
        }
    }
}

struct Builder {
    prims: Vec<Prim>,
}

impl Builder {
    fn push(&mut self, label: Tissue, priority: u8, shape: Shape) {
        self.push_role(label, priority, Role::Tissue, shape);
    }

    fn push_role(&mut self, label: Tissue, priority: u8, role: Role, shape: Shape) {
        let aabb = shape.aabb();
        self.prims.push(Prim {
            label,
            priority,
            role,
            shape,
            aabb,
        });
    }

    /// A bone: cortical outer shape and a marrow core `cortex_mm` inside it.
    fn bone(&mut self, frame: Frame, radii: Vec3, exps: [u8; 3], v_max: f64, cortex_mm: f64) {
        self.push(
            Tissue::Cortical,
            P_CORTEX,
            Shape::SuperQuadric {
                frame,
                radii_mm: radii,
                exps,
                v_max_mm: v_max,
            },
        );
        let inner = radii.map(|r| r - cortex_mm);
        if inner.iter().all(|&r| r > 0.8) {
            self.push(
                Tissue::Marrow,
                P_MARROW,
                Shape::SuperQuadric {
                    frame,
                    radii_mm: inner,
                    exps,
                    v_max_mm: v_max - cortex_mm,
                },
            );
        }
    }

    fn local(&self, v: &Vertebra, centre: Vec3) -> Frame {
        v.frame.with_origin(v.frame.to_world(centre))
    }

    fn vertebra(&mut self, v: &Vertebra) {
        let (h, a, b) = (v.half_height_mm, v.half_width_mm, v.half_depth_mm);
        self.bone(v.frame, [a, b, h], [4, 3, 10], v.v_post_mm, 1.3);
        let posterior = v.region != Region::Sacral || v.name == "S1";
        let lamina_v = v.v_post_mm + v.canal_depth_mm + 3.5;
        if v.region == Region::Sacral {
            // Median sacral crest / fused laminae and the lateral masses (alae).
            let f = self.local(v, [0.0, lamina_v - 1.0, -1.0]);
            self.bone(
                f,
                [v.canal_half_width_mm + 5.0, 4.0, h + 3.0],
                [4, 2, 4],
                f64::INFINITY,
                1.0,
            );
            for k in 0..2 {
                let sign = Side::BOTH[k].sign();
                let p = v.pedicles[k];
                let (cw, cv, ch) = if v.name == "S1" {
                    (
                        sign * (a * 0.75 + 12.0),
                        v.v_post_mm - 5.0,
                        p.centre_w_mm - 9.5,
                    )
                } else {
                    (sign * (a * 0.7 + 10.0), v.v_post_mm - 3.0, 0.0)
                };
                let f = self.local(v, [cw, cv, ch]);
                let r = if v.name == "S1" {
                    [21.0, 15.0, 16.0]
                } else {
                    [14.0, 12.0, h + 2.0]
                };
                self.bone(f, r, [2, 2, 2], f64::INFINITY, 1.2);
            }
        }
        if !posterior {
            return;
        }
        for k in 0..2 {
            let sign = Side::BOTH[k].sign();
            let p = v.pedicles[k];
            // Pedicle: oval in the sagittal plane, nearly box-like across.
            let f = self.local(v, [p.centre_u_mm, p.centre_v_mm, p.centre_w_mm]);
            self.bone(
                f,
                [p.half_width_mm, p.half_length_mm, p.half_height_mm],
                [8, 2, 2],
                f64::INFINITY,
                1.1,
            );
            if v.region == Region::Sacral {
                continue;
            }
            // Pars interarticularis joining pedicle, lamina and inferior articular process.
            let f = self.local(
                v,
                [
                    sign * (p.centre_u_mm.abs() - 0.5),
                    v.v_post_mm + 13.5,
                    p.centre_w_mm - 1.0,
                ],
            );
            // Its front (~9 mm behind the body wall) bounds the head of the keyhole.
            self.bone(
                f,
                [p.half_width_mm + 0.5, 4.5, 8.5],
                [4, 2, 2],
                f64::INFINITY,
                1.0,
            );
            if v.region == Region::Lumbar {
                // Transverse process.
                let f = self.local(
                    v,
                    [
                        sign * (p.lateral_mm() + 13.0),
                        v.v_post_mm + 5.5,
                        p.centre_w_mm,
                    ],
                );
                self.bone(f, [14.0, 3.5, 5.0], [2, 2, 2], f64::INFINITY, 1.0);
            }
        }
        if v.region == Region::Sacral {
            return;
        }
        let ped_u = v.pedicles[1]
            .centre_u_mm
            .abs()
            .max(v.pedicles[0].centre_u_mm.abs());
        let f = self.local(v, [0.0, lamina_v, 1.0]);
        self.bone(f, [ped_u, 3.5, 11.0], [4, 2, 4], f64::INFINITY, 1.0);
        let f = self.local(v, [0.0, lamina_v + 18.0, -2.0]);
        self.bone(f, [3.2, 17.0, 8.5], [2, 4, 4], f64::INFINITY, 1.0);
        // Ligamentum flavum lining the back of the canal below the lamina.
        let f = self.local(v, [0.0, lamina_v - 4.5, -h - 2.0]);
        self.push(
            Tissue::Ligament,
            P_LIGAMENT,
            Shape::SuperQuadric {
                frame: f,
                radii_mm: [v.canal_half_width_mm, 2.0, 9.0],
                exps: [4, 2, 4],
                v_max_mm: f64::INFINITY,
            },
        );
    }

    /// Disc between two bodies; `nucleus` = false for fused or degenerated ("black")
    /// discs.
    fn disc(&mut self, up: &Vertebra, low: &Vertebra, frame: &Frame, d: f64, nucleus: bool) {
        let a = 0.5 * (up.half_width_mm + low.half_width_mm);
        let b = 0.5 * (up.half_depth_mm + low.half_depth_mm);
        let v_post = 0.5 * (up.v_post_mm + low.v_post_mm);
        // Planes 1.5 mm inside the bodies: the disc fills the rounded rims; bone wins.
        let low_pt = low.frame.to_world([0.0, 0.0, low.half_height_mm - 1.5]);
        let up_pt = up.frame.to_world([0.0, 0.0, -up.half_height_mm + 1.5]);
        let w_low = low.frame.axes[2];
        let w_up = up.frame.axes[2];
        self.push(
            Tissue::Annulus,
            P_ANNULUS,
            Shape::Slab {
                frame: *frame,
                radii_mm: [a, b],
                exp: 4,
                v_max_mm: v_post + 0.4,
                half_height_mm: d / 2.0 + 8.0,
                planes: [(low_pt, w_low), (up_pt, scale(w_up, -1.0))],
            },
        );
        if nucleus {
            let f = frame.with_origin(frame.to_world([0.0, -1.5, 0.0]));
            self.push(
                Tissue::Nucleus,
                P_NUCLEUS,
                Shape::SuperQuadric {
                    frame: f,
                    radii_mm: [a * 0.55, b * 0.5, (d * 0.32).max(0.5)],
                    exps: [2, 2, 2],
                    v_max_mm: f64::INFINITY,
                },
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn foramen(
        &mut self,
        level: usize,
        side: Side,
        up: &Vertebra,
        low: &Vertebra,
        frame: &Frame,
        knobs: Pathology,
        gap: f64,
        rng: &mut ChaCha8Rng,
    ) -> Foramen {
        let k = side.index();
        let sign = side.sign();
        let (pu, pl) = (up.pedicles[k], low.pedicles[k]);
        let fac = knobs.facet_hypertrophy_mm;

        // Envelope span across: between the pedicle margins common to both pedicles.
        let u_med = pu.medial_mm().max(pl.medial_mm());
        let u_lat = pu.lateral_mm().min(pl.lateral_mm()).max(u_med + 2.0);
        let shrink = 0.04 * (u_lat - u_med);
        let (u0, u1) = (u_med + shrink, u_lat - shrink);

        // Exiting root: under the upper pedicle, running down and laterally. It
        // descends `SLOPE` mm per mm laterally: the clearance under the pedicle grows
        // medially so that it stays clear over the whole envelope.
        const SLOPE: f64 = 0.25;
        let radius = uni(rng, 2.3, 3.0);
        let mid_u = 0.5 * (u0 + u1);
        let root_v = up.v_post_mm + 0.5 * (gap + 4.5);
        let root_w = pu.centre_w_mm - pu.half_height_mm - radius - 1.2 - SLOPE * 0.5 * (u1 - u0);
        let p_mid = up.frame.to_world([sign * mid_u, root_v, root_w]);

        // Superior articular process of the lower vertebra: its anterior face is the
        // posterior wall of the lower foramen, `gap - facet` behind the body wall. Its
        // tip stays below the root (lordotic levels bring the posterior elements close),
        // and rises into it with facet hypertrophy beyond 1.5 mm.
        // Lower-frame height 1 mm below the root's lowest point in the envelope; the
        // posterior structures reach above it only with facet hypertrophy > 1.5 mm.
        let below_root = low.frame.to_local(up.frame.to_world([
            sign * u1,
            root_v,
            root_w - radius - SLOPE * 0.5 * (u1 - u0) - 1.0,
        ]))[2];
        let rise = 3.0 * (fac - 1.5).max(0.0);
        if low.region != Region::Sacral || low.name == "S1" {
            let rv = 4.5 + 0.5 * fac;
            let rw = 8.5 + 0.9 * fac;
            let sap_v = low.v_post_mm + gap - fac + rv;
            let top = (low.half_height_mm + 10.5).min(below_root) + rise;
            let f = self.local(low, [sign * (pl.centre_u_mm.abs() + 0.5), sap_v, top - rw]);
            self.bone(
                f,
                [pl.half_width_mm + 1.5 + fac / 3.0, rv, rw],
                [4, 2, 2],
                f64::INFINITY,
                1.0,
            );
        }
        // Inferior articular process of the upper vertebra, behind the SAP (facet joint).
        let f = self.local(
            up,
            [
                sign * (pu.centre_u_mm.abs() - 0.5),
                up.v_post_mm + gap + 10.0 - 1.3 * fac,
                -up.half_height_mm - 2.0,
            ],
        );
        self.bone(
            f,
            [pu.half_width_mm + 1.0, 4.5 + 0.3 * fac, 10.5],
            [4, 2, 2],
            f64::INFINITY,
            1.0,
        );

        // Ligamentum flavum / facet capsule in front of the facet joint, thickened with
        // facet hypertrophy: narrows the head of the keyhole from behind.
        if fac > 0.8 {
            let rw = 4.0 + 0.8 * fac;
            let top = (low.half_height_mm + 14.0).min(below_root) + rise;
            let f = self.local(
                low,
                [
                    sign * pl.centre_u_mm.abs(),
                    low.v_post_mm + gap + 2.5 - 0.6 * fac,
                    top - rw,
                ],
            );
            self.push(
                Tissue::Ligament,
                P_LIGAMENT,
                Shape::SuperQuadric {
                    frame: f,
                    radii_mm: [pl.half_width_mm + 2.0, 1.5 + 0.6 * fac, rw],
                    exps: [4, 2, 2],
                    v_max_mm: f64::INFINITY,
                },
            );
        }

        // Posterolateral bulge (disc material) and endplate osteophytes.
        let v_post = 0.5 * (up.v_post_mm + low.v_post_mm);
        let ped_u = 0.5 * (pu.centre_u_mm.abs() + pl.centre_u_mm.abs());
        let d_here = {
            let q = frame.to_world([sign * ped_u, v_post, 0.0]);
            let lo = low.frame.to_local(q)[2] - low.half_height_mm;
            let hi = up.frame.to_local(q)[2] + up.half_height_mm;
            (lo.abs() + hi.abs()).max(1.0)
        };
        if knobs.bulge_mm > 0.2 {
            let f = frame.with_origin(frame.to_world([sign * ped_u, v_post - 3.0, 0.0]));
            self.push(
                Tissue::Annulus,
                P_ANNULUS,
                Shape::SuperQuadric {
                    frame: f,
                    radii_mm: [
                        pu.half_width_mm.max(pl.half_width_mm) + 4.0,
                        3.0 + knobs.bulge_mm,
                        d_here / 2.0 + 1.2,
                    ],
                    exps: [2, 2, 2],
                    v_max_mm: f64::INFINITY,
                },
            );
        }
        if knobs.osteophyte_mm > 0.2 {
            let o = knobs.osteophyte_mm;
            for (vert, w, scale_o) in [
                (low, low.half_height_mm - 0.5, 1.0),
                (up, -up.half_height_mm + 0.5, 0.6),
            ] {
                let f = self.local(vert, [sign * ped_u, vert.v_post_mm - 1.0, w]);
                self.push(
                    Tissue::Cortical,
                    P_CORTEX,
                    Shape::SuperQuadric {
                        frame: f,
                        radii_mm: [
                            pl.half_width_mm + 2.0,
                            1.0 + o * scale_o,
                            2.0 + 0.4 * o * scale_o,
                        ],
                        exps: [2, 2, 2],
                        v_max_mm: f64::INFINITY,
                    },
                );
            }
        }

        // Envelope between the pedicle margins (shrunk so the pedicles are near full
        // height over it), from inside the bodies to behind the articular processes,
        // from the lower to the upper pedicle centre.
        let c_up =
            frame.to_local(
                up.frame
                    .to_world([pu.centre_u_mm, pu.centre_v_mm, pu.centre_w_mm]),
            );
        let c_low =
            frame.to_local(
                low.frame
                    .to_world([pl.centre_u_mm, pl.centre_v_mm, pl.centre_w_mm]),
            );
        let (w0, w1) = (c_low[2], c_up[2] - 1.5);
        let (v0, v1) = (v_post - 6.0, v_post + gap + 10.0);
        let (vc, wc) = (0.5 * (v0 + v1), 0.5 * (w0 + w1));
        let env_frame = frame.with_origin(frame.to_world([sign * 0.5 * (u0 + u1), vc, wc]));
        let axis = [
            frame.to_world([sign * u0, vc, wc]),
            frame.to_world([sign * u1, vc, wc]),
        ];
        self.push_role(
            Tissue::ForaminalFat,
            P_ENVELOPE,
            Role::Envelope(level, side),
            Shape::SuperQuadric {
                frame: env_frame,
                radii_mm: [0.5 * (u1 - u0), 0.5 * (v1 - v0), 0.5 * (w1 - w0)],
                exps: [0, 3, 3],
                v_max_mm: f64::INFINITY,
            },
        );

        let dir =
            normalize(up.frame.dir_to_world([sign, -0.05, -SLOPE])).unwrap_or(up.frame.axes[0]);
        // Medially the root starts at the lateral edge of the thecal sac.
        let to_sac = (mid_u - (up.canal_half_width_mm - 2.5)).max(2.0)
            / dot(dir, up.frame.axes[0]).abs().max(0.3);
        let root_axis = [sub(p_mid, scale(dir, to_sac)), add(p_mid, scale(dir, 30.0))];
        self.push(
            Tissue::Root,
            P_ROOT,
            Shape::Capsule {
                a: root_axis[0],
                b: root_axis[1],
                radius_mm: radius,
            },
        );
        Foramen {
            side,
            pathology: knobs,
            gap_mm: gap,
            axis,
            envelope: usize::MAX,
            root_axis,
            root_radius_mm: radius,
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
