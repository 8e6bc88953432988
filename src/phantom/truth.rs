//! Ground truth from the analytic model, supersampled on each truth plane (never from
//! the rendered image). Definitions: docs/phantom.md and shared/domain.md.

use rayon::prelude::*;
use serde::Serialize;

use super::anatomy::variant::ForamenVariant;
use super::anatomy::{Anatomy, Pathology, Role, Side, Tissue, disc_height_at};
use super::render::Acquisition;
use super::shapes::{PlaneWindow, Shape};
use crate::grading::{self, FatObliteration, ForamenMeasurements, Grade, Rule, Thresholds};
use crate::volume::geometry::{Vec3, add, cross, dot, scale, sub};

/// Fat rim (mm) around the root below which fat counts as obliterated in a direction.
pub use crate::grading::FAT_RIM_MIN_MM;
/// Root section on the truth plane below this fraction of its undeformed section
/// counts as root collapse / deformity (Lee grade 3).
pub const ROOT_DEFORMED_FRACTION: f64 = 0.7;

/// One plane on which truth areas are computed.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TruthPlane {
    pub index: usize,
    /// `origin · normal` with `normal = s_dir × r_dir`, as ImagePositionPatient · normal.
    pub position_mm: f64,
    pub origin_mm: Vec3,
    pub s_dir: Vec3,
    pub r_dir: Vec3,
}

/// Sagittal series: each slice's centre plane. Axial series: the sagittal planes a
/// reslice at the in-plane pixel spacing would produce, i.e. one plane through each
/// column centre `x_j`, oriented like a standard sagittal image (rows +y, columns -z,
/// normal -x).
pub fn truth_planes(acq: &Acquisition) -> Vec<TruthPlane> {
    let g = &acq.geometry;
    if acq.plane == "sagittal" {
        (0..acq.slices)
            .map(|k| TruthPlane {
                index: k,
                position_mm: g.slice_position_mm(k as f64),
                origin_mm: g.slice_origin_mm(k),
                s_dir: g.row_dir,
                r_dir: g.col_dir,
            })
            .collect()
    } else {
        let (s_dir, r_dir) = ([0.0, 1.0, 0.0], [0.0, 0.0, -1.0]);
        let normal = cross(s_dir, r_dir);
        (0..acq.columns)
            .map(|j| {
                let origin = g.index_to_lps([0.0, 0.0, j as f64]);
                TruthPlane {
                    index: j,
                    position_mm: dot(origin, normal),
                    origin_mm: origin,
                    s_dir,
                    r_dir,
                }
            })
            .collect()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SliceArea {
    pub slice_index: usize,
    pub slice_position_mm: f64,
    pub area_mm2: f64,
    /// The plane crosses the foramen's medial-lateral axis between the pedicle
    /// margins; only these slices compete for `min_area_mm2`.
    pub through_foramen: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct LevelTruth {
    pub level: String,
    pub side: Side,
    pub min_area_mm2: Option<f64>,
    pub min_area_slice_index: Option<usize>,
    pub height_mm: Option<f64>,
    pub width_mm: Option<f64>,
    pub posterior_disc_height_mm: f64,
    pub fat_fraction: Option<f64>,
    pub fat_obliteration: Option<FatObliteration>,
    pub neighbour_ratio: Option<f64>,
    pub slice_areas_mm2: Vec<SliceArea>,
    pub grade: Grade,
    pub flagged: bool,
    pub rule: Rule,
    pub pathology: Pathology,
    /// Opt-in variant of this foramen (absent without `variants`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<ForamenVariant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum In {
    Fat,
    Root,
    /// Veins / fibrosis replacing fat (fat-poor variant): in the foramen, not fat.
    Soft,
    /// Inside the envelope but bone, disc or ligament.
    Excluded,
    Outside,
}

struct ForamenProbe<'a> {
    anat: &'a Anatomy,
    env: usize,
    /// Higher-priority primitives that meet the envelope.
    above: Vec<u32>,
}

impl ForamenProbe<'_> {
    fn new(anat: &Anatomy, env: usize) -> ForamenProbe<'_> {
        let bb = anat.prims[env].aabb;
        let above = (0..env)
            .filter(|&i| {
                let p = &anat.prims[i];
                p.role == Role::Tissue && p.aabb.intersects(&bb)
            })
            .map(|i| i as u32)
            .collect();
        ForamenProbe { anat, env, above }
    }

    /// The same probe with only the primitives that meet `window` (every point of
    /// the envelope on that plane lies in it).
    fn narrowed(&self, window: &PlaneWindow) -> ForamenProbe<'_> {
        let bb = window.aabb().grown(0.01);
        ForamenProbe {
            anat: self.anat,
            env: self.env,
            above: self
                .above
                .iter()
                .copied()
                .filter(|&i| self.anat.prims[i as usize].aabb.intersects(&bb))
                .collect(),
        }
    }

    /// The part of `plane` that can hold the envelope.
    fn window(&self, plane: &TruthPlane) -> Option<PlaneWindow> {
        let corners = self.anat.prims[self.env].shape.box_corners();
        PlaneWindow::covering_points(plane.origin_mm, plane.s_dir, plane.r_dir, &corners)
    }

    #[inline]
    fn at(&self, p: Vec3) -> In {
        let env = &self.anat.prims[self.env];
        if !env.aabb.contains(p) || !env.shape.contains(p) {
            return In::Outside;
        }
        for &i in &self.above {
            let prim = &self.anat.prims[i as usize];
            if prim.aabb.contains(p) && prim.shape.contains(p) {
                return match prim.label {
                    Tissue::Root => In::Root,
                    Tissue::ForaminalSoft => In::Soft,
                    _ => In::Excluded,
                };
            }
        }
        In::Fat
    }
}

/// Area of the foramen (fat + root) of one envelope on one plane.
fn plane_area(probe: &ForamenProbe, plane: &TruthPlane, step_mm: f64) -> f64 {
    match probe.window(plane) {
        Some(w) => {
            let probe = probe.narrowed(&w);
            w.area_mm2(step_mm, |p| {
                matches!(probe.at(p), In::Fat | In::Root | In::Soft)
            })
        }
        None => 0.0,
    }
}

struct SliceDetail {
    height_mm: f64,
    width_mm: f64,
    fat_fraction: f64,
    obliteration: FatObliteration,
}

/// Height, width, fat fraction and fat obliteration on the min-area plane.
fn slice_detail(
    probe: &ForamenProbe,
    plane: &TruthPlane,
    step_mm: f64,
    level_frame: &super::shapes::Frame,
    root: ([Vec3; 2], f64),
) -> SliceDetail {
    let window = probe.window(plane);
    let narrowed = window.as_ref().map(|w| probe.narrowed(w));
    let probe = narrowed.as_ref().unwrap_or(probe);
    let w_axis = level_frame.axes[2];
    let (ds, dr) = (dot(w_axis, plane.s_dir), dot(w_axis, plane.r_dir));
    let dn = (ds * ds + dr * dr).sqrt().max(1e-9);
    let (ds, dr) = (ds / dn, dr / dn);
    // In-plane perpendicular, oriented posteriorly.
    let (mut es, mut er) = (-dr, ds);
    let e_world = add(scale(plane.s_dir, es), scale(plane.r_dir, er));
    if dot(e_world, level_frame.axes[1]) < 0.0 {
        es = -es;
        er = -er;
    }
    let up_world = add(scale(plane.s_dir, ds), scale(plane.r_dir, dr));
    let post_world = add(scale(plane.s_dir, es), scale(plane.r_dir, er));

    const BIN_MM: f64 = 0.25;
    let mut bins: std::collections::BTreeMap<i64, (f64, f64)> = Default::default();
    let (mut e_min, mut e_max) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut n_fat, mut n_root, mut n_soft, mut n_root_nominal) = (0usize, 0usize, 0usize, 0usize);
    let env = &probe.anat.prims[probe.env];
    let root_shape = Shape::Capsule {
        a: root.0[0],
        b: root.0[1],
        radius_mm: root.1,
    };
    if let Some(win) = window {
        win.for_each_point(step_mm, |s, r, p| {
            let state = probe.at(p);
            if root_shape.contains(p) && env.shape.contains(p) {
                n_root_nominal += 1;
            }
            match state {
                In::Fat => n_fat += 1,
                In::Root => n_root += 1,
                In::Soft => n_soft += 1,
                In::Excluded | In::Outside => return,
            }
            let pd = s * ds + r * dr;
            let pe = s * es + r * er;
            let b = bins
                .entry((pe / BIN_MM).floor() as i64)
                .or_insert((f64::INFINITY, f64::NEG_INFINITY));
            b.0 = b.0.min(pd);
            b.1 = b.1.max(pd);
            // Width: the band of the disc mid-plane.
            if dot(sub(p, level_frame.origin), w_axis).abs() < 0.5 * step_mm {
                e_min = e_min.min(pe);
                e_max = e_max.max(pe);
            }
        });
    }
    let height_mm = bins
        .values()
        .map(|(lo, hi)| hi - lo + step_mm)
        .fold(0.0, f64::max);
    let width_mm = if e_max >= e_min {
        e_max - e_min + step_mm
    } else {
        0.0
    };
    let total = n_fat + n_root + n_soft;
    let fat_fraction = if total > 0 {
        n_fat as f64 / total as f64
    } else {
        0.0
    };

    // Fat around the root where the root axis crosses the plane.
    let normal = cross(plane.s_dir, plane.r_dir);
    let [a, b] = root.0;
    let denom = dot(sub(b, a), normal);
    let mut obl = FatObliteration::default();
    let t = if denom.abs() > 1e-9 {
        dot(sub(plane.origin_mm, a), normal) / denom
    } else {
        -1.0
    };
    if (0.0..=1.0).contains(&t) {
        let c = add(a, scale(sub(b, a), t));
        let deformed =
            n_root_nominal > 0 && (n_root as f64) < ROOT_DEFORMED_FRACTION * n_root_nominal as f64;
        obl.root_deformed = deformed || probe.at(c) != In::Root;
        let dirs = [
            up_world,
            scale(up_world, -1.0),
            scale(post_world, -1.0),
            post_world,
        ];
        let mut flags = [false; 4];
        for (flag, dir) in flags.iter_mut().zip(dirs) {
            *flag = fat_obliterated(probe, c, dir);
        }
        obl.superior = flags[0];
        obl.inferior = flags[1];
        obl.anterior = flags[2];
        obl.posterior = flags[3];
    }
    SliceDetail {
        height_mm,
        width_mm,
        fat_fraction,
        obliteration: obl,
    }
}

/// Walks from the root centre along `dir`: out of the root, through fat, to the first
/// boundary. Obliterated when the fat run is thinner than [`FAT_RIM_MIN_MM`] and the
/// boundary is bone, disc or ligament (not the open envelope edge). Veins / fibrosis
/// (fat-poor variant) are walked through without counting as fat.
fn fat_obliterated(probe: &ForamenProbe, c: Vec3, dir: Vec3) -> bool {
    const STEP: f64 = 0.05;
    let mut in_root = true;
    let mut fat_mm = 0.0;
    for n in 1..800 {
        let p = add(c, scale(dir, n as f64 * STEP));
        match probe.at(p) {
            In::Root if in_root => {}
            In::Soft => in_root = false,
            In::Fat => {
                in_root = false;
                fat_mm += STEP;
                if fat_mm >= FAT_RIM_MIN_MM {
                    return false;
                }
            }
            In::Root => return false,
            In::Excluded => return true,
            In::Outside => return false,
        }
    }
    false
}

/// Whether the plane separates the two ends of `segment` (or contains one).
fn crosses(plane: &TruthPlane, segment: [Vec3; 2]) -> bool {
    let n = cross(plane.s_dir, plane.r_dir);
    let a = dot(sub(segment[0], plane.origin_mm), n);
    let b = dot(sub(segment[1], plane.origin_mm), n);
    a * b <= 0.0
}

pub struct TruthResult {
    pub levels: Vec<LevelTruth>,
}

/// Truth for every reported level and side.
pub fn compute(
    anat: &Anatomy,
    planes: &[TruthPlane],
    step_mm: f64,
    thresholds: &Thresholds,
) -> TruthResult {
    let mut jobs = Vec::new();
    for (li, level) in anat.levels.iter().enumerate() {
        if let (true, Some(f)) = (level.reported, &level.foramina) {
            for side in Side::BOTH {
                jobs.push((li, side, f[side.index()].clone()));
            }
        }
    }
    let mut levels: Vec<LevelTruth> = jobs
        .par_iter()
        .map(|(li, side, foramen)| {
            let level = &anat.levels[*li];
            let probe = ForamenProbe::new(anat, foramen.envelope);
            let slice_areas: Vec<SliceArea> = planes
                .iter()
                .filter_map(|pl| {
                    let a = plane_area(&probe, pl, step_mm);
                    (a > 0.0).then_some(SliceArea {
                        slice_index: pl.index,
                        slice_position_mm: pl.position_mm,
                        area_mm2: a,
                        through_foramen: crosses(pl, foramen.axis),
                    })
                })
                .collect();
            let min = slice_areas
                .iter()
                .filter(|s| s.through_foramen)
                .min_by(|a, b| a.area_mm2.total_cmp(&b.area_mm2))
                .map(|s| (s.slice_index, s.area_mm2));
            let detail = min.and_then(|(idx, _)| {
                planes.iter().find(|p| p.index == idx).map(|pl| {
                    slice_detail(
                        &probe,
                        pl,
                        step_mm,
                        &level.frame,
                        (foramen.root_axis, foramen.root_radius_mm),
                    )
                })
            });
            let (up, low) = (&anat.vertebrae[level.upper], &anat.vertebrae[level.lower]);
            let env_u = match &anat.prims[foramen.envelope].shape {
                Shape::SuperQuadric { frame, .. } | Shape::Profile { frame, .. } => {
                    level.frame.to_local(frame.origin)[0]
                }
                _ => side.sign() * up.pedicles[side.index()].centre_u_mm.abs(),
            };
            let v_margin = up
                .posterior_margin_v_mm(env_u)
                .min(low.posterior_margin_v_mm(env_u));
            let pdh = disc_height_at(up, low, &level.frame, env_u, v_margin);
            LevelTruth {
                level: level.name.clone(),
                side: *side,
                min_area_mm2: min.map(|m| m.1),
                min_area_slice_index: min.map(|m| m.0),
                height_mm: detail.as_ref().map(|d| d.height_mm),
                width_mm: detail.as_ref().map(|d| d.width_mm),
                posterior_disc_height_mm: pdh,
                fat_fraction: detail.as_ref().map(|d| d.fat_fraction),
                fat_obliteration: detail.as_ref().map(|d| d.obliteration),
                neighbour_ratio: None,
                slice_areas_mm2: slice_areas,
                grade: Grade::Indeterminate,
                flagged: false,
                rule: Rule::NoMeasurement,
                pathology: foramen.pathology,
                variant: foramen.variant,
            }
        })
        .collect();

    // Relative narrowing against the reported neighbours on the same side, then grades.
    let area_of = |levels: &[LevelTruth], name: &str, side: Side| {
        levels
            .iter()
            .find(|l| l.level == name && l.side == side)
            .and_then(|l| l.min_area_mm2)
    };
    let names: Vec<String> = anat
        .levels
        .iter()
        .filter(|l| l.reported)
        .map(|l| l.name.clone())
        .collect();
    let snapshot = levels.clone();
    for l in levels.iter_mut() {
        let i = names.iter().position(|n| *n == l.level).unwrap_or(0);
        let above = (i > 0)
            .then(|| area_of(&snapshot, &names[i - 1], l.side))
            .flatten();
        let below = names.get(i + 1).and_then(|n| area_of(&snapshot, n, l.side));
        l.neighbour_ratio = l
            .min_area_mm2
            .and_then(|a| grading::neighbour_ratio(a, above, below));
        let g = grading::grade(
            &ForamenMeasurements {
                min_area_mm2: l.min_area_mm2,
                height_mm: l.height_mm,
                posterior_disc_height_mm: Some(l.posterior_disc_height_mm),
                neighbour_ratio: l.neighbour_ratio,
                fat_obliteration: l.fat_obliteration,
            },
            thresholds,
        );
        l.grade = g.grade;
        l.flagged = g.flagged;
        l.rule = g.rule;
    }
    TruthResult { levels }
}
