//! Step 6: one neural foramen (level and side): the articular processes and the facet
//! capsule that bound it from behind, the disc bulge and endplate osteophytes that
//! narrow it from the front, the envelope of foraminal fat, and the exiting root.

use rand_chacha::ChaCha8Rng;

use super::builder::Builder;
use super::variant::{FatPoor, ForamenVariant, ROOF_HIDDEN, ShapeTarget};
use super::{
    Foramen, P_ANNULUS, P_CORTEX, P_ENVELOPE, P_LIGAMENT, P_MOULD, P_ROOT, P_SOFT, Pathology,
    Pedicle, Region, Role, Side, Tissue, Vertebra, uni,
};
use crate::phantom::shapes::{Frame, Shape};
use crate::volume::geometry::{Vec3, add, dot, normalize, scale, sub};

/// The exiting root descends this many mm per mm laterally.
const ROOT_SLOPE: f64 = 0.25;

/// What every structure of one foramen is placed from.
struct Site<'a> {
    side: Side,
    /// [`Side::sign`].
    sign: f64,
    up: &'a Vertebra,
    low: &'a Vertebra,
    /// Disc mid frame.
    frame: &'a Frame,
    /// Pedicles of the upper and the lower vertebra on this side.
    pu: Pedicle,
    pl: Pedicle,
    /// AP gap (mm) between the posterior body wall and the superior articular process.
    gap: f64,
    /// Facet hypertrophy, mm.
    fac: f64,
    /// |u| of the medial and lateral end of the envelope.
    u0: f64,
    u1: f64,
}

impl<'a> Site<'a> {
    fn new(
        side: Side,
        up: &'a Vertebra,
        low: &'a Vertebra,
        frame: &'a Frame,
        knobs: &Pathology,
        gap: f64,
    ) -> Site<'a> {
        let k = side.index();
        let (pu, pl) = (up.pedicles[k], low.pedicles[k]);
        let (u0, u1) = envelope_span(&pu, &pl);
        Site {
            side,
            sign: side.sign(),
            up,
            low,
            frame,
            pu,
            pl,
            gap,
            fac: knobs.facet_hypertrophy_mm,
            u0,
            u1,
        }
    }

    /// Local v of the posterior disc margin (mean of the two body walls).
    fn v_post(&self) -> f64 {
        0.5 * (self.up.v_post_mm + self.low.v_post_mm)
    }

    /// Mean |u| of the two pedicle axes.
    fn ped_u(&self) -> f64 {
        0.5 * (self.pu.centre_u_mm.abs() + self.pl.centre_u_mm.abs())
    }
}

/// |u| of the envelope's medial and lateral ends: between the pedicle margins common to
/// both pedicles (at least 2 mm apart), shrunk by 4 % at each end so that the pedicles
/// are near full height over it.
fn envelope_span(pu: &Pedicle, pl: &Pedicle) -> (f64, f64) {
    let u_med = pu.medial_mm().max(pl.medial_mm());
    let u_lat = pu.lateral_mm().min(pl.lateral_mm()).max(u_med + 2.0);
    let shrink = 0.04 * (u_lat - u_med);
    (u_med + shrink, u_lat - shrink)
}

/// The exiting root's centre in the middle of the envelope, in the upper vertebra's
/// frame: under the upper pedicle, halfway through the AP gap.
#[derive(Clone, Copy)]
struct RootPlace {
    radius_mm: f64,
    mid_u: f64,
    v: f64,
    w: f64,
}

impl RootPlace {
    /// The clearance under the pedicle is 1.2 mm at the envelope's medial end and grows
    /// laterally as the root descends, so that it stays clear over the whole envelope.
    fn sample(rng: &mut ChaCha8Rng, s: &Site) -> RootPlace {
        let (u0, u1, pu) = (s.u0, s.u1, s.pu);
        let radius = uni(rng, 2.3, 3.0);
        let mid_u = 0.5 * (u0 + u1);
        let root_v = s.up.v_post_mm + 0.5 * (s.gap + 4.5);
        let root_w =
            pu.centre_w_mm - pu.half_height_mm - radius - 1.2 - ROOT_SLOPE * 0.5 * (u1 - u0);
        RootPlace {
            radius_mm: radius,
            mid_u,
            v: root_v,
            w: root_w,
        }
    }

    /// Variant: the same root raised until it touches the upper pedicle's inferior
    /// cortex at the envelope's middle (0.3 mm into it, so that no fat sliver is left
    /// over most of the span; the bone outranks the root there), and run level through
    /// the foramen.
    fn against_pedicle(&self, s: &Site) -> RootPlace {
        let r = self.radius_mm;
        // Highest centre whose circle (in the v-w plane) stays under the pedicle.
        let mut w = f64::INFINITY;
        for n in 0..=200 {
            let dv = r * (n as f64 / 100.0 - 1.0);
            if let Some(bottom) = pedicle_bottom_w(&s.pu, self.mid_u, self.v + dv) {
                w = w.min(bottom - (r * r - dv * dv).max(0.0).sqrt());
            }
        }
        RootPlace {
            w: if w.is_finite() { w + 0.3 } else { self.w },
            ..*self
        }
    }

    /// Lower-frame height 1 mm below the root's lowest point in the envelope; the
    /// posterior structures reach above it only with facet hypertrophy > 1.5 mm.
    fn below_root(&self, s: &Site) -> f64 {
        let (u0, u1) = (s.u0, s.u1);
        s.low.frame.to_local(s.up.frame.to_world([
            s.sign * u1,
            self.v,
            self.w - self.radius_mm - ROOT_SLOPE * 0.5 * (u1 - u0) - 1.0,
        ]))[2]
    }
}

/// Local w (vertebra frame) of the inferior surface of pedicle `p` at `|u| = u_abs`
/// and `v`, or `None` where the pedicle does not reach (superquadric exponents 8, 2, 2
/// over half-width, half-length, half-height: see `vertebra.rs`).
pub(super) fn pedicle_bottom_w(p: &Pedicle, u_abs: f64, v: f64) -> Option<f64> {
    let tu = (u_abs - p.centre_u_mm.abs()) / p.half_width_mm;
    let tv = (v - p.centre_v_mm) / p.half_length_mm;
    let inside = 1.0 - tu.powi(8) - tv * tv;
    (inside > 0.0).then(|| p.centre_w_mm - p.half_height_mm * inside.sqrt())
}

impl Builder {
    /// Adds the structures of the foramen of `level` on `side` between `up` and `low`
    /// (disc mid frame `frame`). The returned foramen's envelope index is set when the
    /// primitives are sorted.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn foramen(
        &mut self,
        level: usize,
        side: Side,
        up: &Vertebra,
        low: &Vertebra,
        frame: &Frame,
        (knobs, gap): (Pathology, f64),
        variant: Option<ForamenVariant>,
        rng: &mut ChaCha8Rng,
    ) -> Foramen {
        let s = Site::new(side, up, low, frame, &knobs, gap);
        let root = RootPlace::sample(rng, &s);
        // The posterior structures keep their place whatever the variant does to the root.
        let below_root = root.below_root(&s);
        // Facet hypertrophy beyond 1.5 mm raises the posterior structures into the root.
        let rise = 3.0 * (s.fac - 1.5).max(0.0);
        if low.region != Region::Sacral || low.name == "S1" {
            self.superior_articular_process(&s, below_root, rise);
        }
        self.inferior_articular_process(&s);
        if s.fac > 0.8 {
            self.facet_capsule(&s, below_root, rise);
        }
        if knobs.bulge_mm > 0.2 {
            self.bulge(&s, knobs.bulge_mm);
        }
        if knobs.osteophyte_mm > 0.2 {
            self.osteophytes(&s, knobs.osteophyte_mm);
        }
        let Some(variant) = variant else {
            let axis = self.envelope(level, &s, None);
            let root_axis = self.root(&s, &root, false);
            return Foramen {
                side,
                pathology: knobs,
                gap_mm: gap,
                axis,
                envelope: usize::MAX,
                root_axis,
                root_radius_mm: root.radius_mm,
                variant: None,
            };
        };
        let root = if variant.root_on_pedicle {
            root.against_pedicle(&s)
        } else {
            root
        };
        let shaped = variant.shape.map(|t| shaped_outline(&s, &root, t));
        let axis = self.envelope(level, &s, shaped.clone());
        let root_axis = self.root(&s, &root, variant.root_on_pedicle);
        if let Some(fp) = variant.fat_poor {
            let env = shaped.unwrap_or_else(|| envelope_shape(&s).1);
            self.fat_poor(&s, &root, root_axis, env, fp);
        }
        Foramen {
            side,
            pathology: knobs,
            gap_mm: gap,
            axis,
            envelope: usize::MAX,
            root_axis,
            root_radius_mm: root.radius_mm,
            variant: Some(variant),
        }
    }

    /// Fat-poor variant: veins / fibrosis (intermediate signal) replace the fat in a
    /// sleeve around the root and in a band over the floor of the foramen, both clipped
    /// to the foramen's envelope `env` (so all of it counts in the foramen).
    fn fat_poor(
        &mut self,
        s: &Site,
        root: &RootPlace,
        root_axis: [Vec3; 2],
        env: Shape,
        fp: FatPoor,
    ) {
        let sleeve = Shape::Capsule {
            a: root_axis[0],
            b: root_axis[1],
            radius_mm: root.radius_mm + fp.sleeve_mm,
        };
        self.push(
            Tissue::ForaminalSoft,
            P_SOFT,
            Shape::Intersection(Box::new(sleeve), Box::new(env.clone())),
        );
        // Band: the envelope below `cut` (disc frame w), from the floor up.
        let frame = s.frame;
        let floor = frame.to_local(s.low.frame.to_world([
            s.pl.centre_u_mm,
            s.pl.centre_v_mm,
            s.pl.centre_w_mm + s.pl.half_height_mm,
        ]))[2];
        let root_bottom = frame.to_local(s.up.frame.to_world([
            s.sign * root.mid_u,
            root.v,
            root.w - root.radius_mm,
        ]))[2];
        let cut = floor + fp.band_fraction * (root_bottom - floor).max(0.0);
        let below = Shape::SuperQuadric {
            frame: frame.with_origin(frame.to_world([0.0, 0.0, cut - 50.0])),
            radii_mm: [200.0, 200.0, 50.0],
            exps: [0, 0, 0],
            v_max_mm: f64::INFINITY,
        };
        self.push(
            Tissue::ForaminalSoft,
            P_SOFT,
            Shape::Intersection(Box::new(below), Box::new(env)),
        );
    }

    /// Superior articular process of the lower vertebra: its anterior face is the
    /// posterior wall of the lower foramen, `gap - facet` behind the body wall. Its tip
    /// stays below the root (lordotic levels bring the posterior elements close) and
    /// rises into it by `rise`.
    fn superior_articular_process(&mut self, s: &Site, below_root: f64, rise: f64) {
        let (low, pl, fac) = (s.low, s.pl, s.fac);
        let rv = 4.5 + 0.5 * fac;
        let rw = 8.5 + 0.9 * fac;
        let sap_v = low.v_post_mm + s.gap - fac + rv;
        let top = (low.half_height_mm + 10.5).min(below_root) + rise;
        let f = self.local(
            low,
            [s.sign * (pl.centre_u_mm.abs() + 0.5), sap_v, top - rw],
        );
        self.bone(
            f,
            [pl.half_width_mm + 1.5 + fac / 3.0, rv, rw],
            [4, 2, 2],
            f64::INFINITY,
            1.0,
        );
    }

    /// Inferior articular process of the upper vertebra, behind the superior one (the
    /// facet joint), thickened forward with facet hypertrophy.
    fn inferior_articular_process(&mut self, s: &Site) {
        let (up, pu, fac) = (s.up, s.pu, s.fac);
        let f = self.local(
            up,
            [
                s.sign * (pu.centre_u_mm.abs() - 0.5),
                up.v_post_mm + s.gap + 10.0 - 1.3 * fac,
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
    }

    /// Ligamentum flavum / facet capsule in front of the facet joint, thickened with
    /// facet hypertrophy: narrows the head of the keyhole from behind.
    fn facet_capsule(&mut self, s: &Site, below_root: f64, rise: f64) {
        let (low, pl, fac) = (s.low, s.pl, s.fac);
        let rw = 4.0 + 0.8 * fac;
        let top = (low.half_height_mm + 14.0).min(below_root) + rise;
        let f = self.local(
            low,
            [
                s.sign * pl.centre_u_mm.abs(),
                low.v_post_mm + s.gap + 2.5 - 0.6 * fac,
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

    /// Posterolateral disc bulge (annulus) reaching `bulge_mm` behind the disc margin,
    /// as high as the disc there plus 1.2 mm above and below.
    fn bulge(&mut self, s: &Site, bulge_mm: f64) {
        let (up, low, frame, pu, pl) = (s.up, s.low, s.frame, s.pu, s.pl);
        let (v_post, ped_u) = (s.v_post(), s.ped_u());
        let d_here = {
            let q = frame.to_world([s.sign * ped_u, v_post, 0.0]);
            let lo = low.frame.to_local(q)[2] - low.half_height_mm;
            let hi = up.frame.to_local(q)[2] + up.half_height_mm;
            (lo.abs() + hi.abs()).max(1.0)
        };
        let f = frame.with_origin(frame.to_world([s.sign * ped_u, v_post - 3.0, 0.0]));
        self.push(
            Tissue::Annulus,
            P_ANNULUS,
            Shape::SuperQuadric {
                frame: f,
                radii_mm: [
                    pu.half_width_mm.max(pl.half_width_mm) + 4.0,
                    3.0 + bulge_mm,
                    d_here / 2.0 + 1.2,
                ],
                exps: [2, 2, 2],
                v_max_mm: f64::INFINITY,
            },
        );
    }

    /// Posterior endplate osteophytes: on the lower body's superior endplate reaching
    /// `o` mm behind its wall, on the upper body's inferior endplate 0.6 of that.
    fn osteophytes(&mut self, s: &Site, o: f64) {
        let (up, low, pl) = (s.up, s.low, s.pl);
        let ped_u = s.ped_u();
        for (vert, w, scale_o) in [
            (low, low.half_height_mm - 0.5, 1.0),
            (up, -up.half_height_mm + 0.5, 0.6),
        ] {
            let f = self.local(vert, [s.sign * ped_u, vert.v_post_mm - 1.0, w]);
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

    /// Envelope of foraminal fat between the pedicle margins, from 6 mm inside the
    /// bodies to 10 mm behind the superior articular process, from the lower pedicle's
    /// centre to 1.5 mm below the upper one's. Returns the foramen's medial-lateral axis.
    /// With a `shaped` outline (variant), that outline is the envelope and the plain
    /// envelope's space around it is filled with fibrous tissue (the mould).
    fn envelope(&mut self, level: usize, s: &Site, shaped: Option<Shape>) -> [Vec3; 2] {
        let (plain_axis, plain) = envelope_shape(s);
        let role = Role::Envelope(level, s.side);
        let Some(outline) = shaped else {
            self.push_role(Tissue::ForaminalFat, P_ENVELOPE, role, plain);
            return plain_axis;
        };
        // The axis runs through the outline's centre: the planes that cross it are the
        // ones through the shaped foramen.
        let axis = match &outline {
            Shape::Profile { frame, .. } => {
                let c = s.frame.to_local(frame.origin);
                [s.u0, s.u1].map(|u| s.frame.to_world([s.sign * u, c[1], c[2]]))
            }
            _ => plain_axis,
        };
        self.push_role(Tissue::ForaminalFat, P_ENVELOPE, role, outline);
        self.push(Tissue::Ligament, P_MOULD, plain);
        axis
    }

    /// Exiting root: a capsule through the root place, running laterally and down
    /// [`ROOT_SLOPE`] mm per mm, from the lateral edge of the thecal sac to 30 mm
    /// beyond. Returns its axis. `level_in_foramen` (variant, root on the pedicle): the
    /// root runs level to 3 mm past the envelope's lateral end, then descends in a
    /// second capsule; the first is the returned axis.
    fn root(&mut self, s: &Site, r: &RootPlace, level_in_foramen: bool) -> [Vec3; 2] {
        let up = s.up;
        let p_mid = up.frame.to_world([s.sign * r.mid_u, r.v, r.w]);
        let slope = if level_in_foramen { 0.0 } else { ROOT_SLOPE };
        let dir =
            normalize(up.frame.dir_to_world([s.sign, -0.05, -slope])).unwrap_or(up.frame.axes[0]);
        // Medially the root starts at the lateral edge of the thecal sac.
        let to_sac = (r.mid_u - (up.canal_half_width_mm - 2.5)).max(2.0)
            / dot(dir, up.frame.axes[0]).abs().max(0.3);
        let reach = if level_in_foramen {
            0.5 * (s.u1 - s.u0) + 3.0
        } else {
            30.0
        };
        let root_axis = [
            sub(p_mid, scale(dir, to_sac)),
            add(p_mid, scale(dir, reach)),
        ];
        self.push(
            Tissue::Root,
            P_ROOT,
            Shape::Capsule {
                a: root_axis[0],
                b: root_axis[1],
                radius_mm: r.radius_mm,
            },
        );
        if level_in_foramen {
            let down = normalize(up.frame.dir_to_world([s.sign, -0.05, -ROOT_SLOPE]))
                .unwrap_or(up.frame.axes[0]);
            self.push(
                Tissue::Root,
                P_ROOT,
                Shape::Capsule {
                    a: root_axis[1],
                    b: add(root_axis[1], scale(down, 30.0 - reach)),
                    radius_mm: r.radius_mm,
                },
            );
        }
        root_axis
    }
}

/// The plain envelope (see [`Builder::envelope`]) and the foramen's medial-lateral axis.
fn envelope_shape(s: &Site) -> ([Vec3; 2], Shape) {
    let (up, low, frame, pu, pl) = (s.up, s.low, s.frame, s.pu, s.pl);
    let (sign, u0, u1) = (s.sign, s.u0, s.u1);
    let v_post = s.v_post();
    let c_up = frame.to_local(
        up.frame
            .to_world([pu.centre_u_mm, pu.centre_v_mm, pu.centre_w_mm]),
    );
    let c_low =
        frame.to_local(
            low.frame
                .to_world([pl.centre_u_mm, pl.centre_v_mm, pl.centre_w_mm]),
        );
    let (w0, w1) = (c_low[2], c_up[2] - 1.5);
    let (v0, v1) = (v_post - 6.0, v_post + s.gap + 10.0);
    let (vc, wc) = (0.5 * (v0 + v1), 0.5 * (w0 + w1));
    let env_frame = frame.with_origin(frame.to_world([sign * 0.5 * (u0 + u1), vc, wc]));
    let axis = [
        frame.to_world([sign * u0, vc, wc]),
        frame.to_world([sign * u1, vc, wc]),
    ];
    (
        axis,
        Shape::SuperQuadric {
            frame: env_frame,
            radii_mm: [0.5 * (u1 - u0), 0.5 * (v1 - v0), 0.5 * (w1 - w0)],
            exps: [0, 3, 3],
            v_max_mm: f64::INFINITY,
        },
    )
}

/// Shape variant: the class outline of `t` in the disc frame, across the envelope's
/// span, centred in AP on the root, its roof the upper pedicle's inferior cortex above
/// the root: `height / (1 - ROOF_HIDDEN)` tall with the top [`ROOF_HIDDEN`] of it
/// inside the pedicle. Bone still carves it where it reaches further in.
fn shaped_outline(s: &Site, root: &RootPlace, t: ShapeTarget) -> Shape {
    let frame = s.frame;
    let roof_w_up = pedicle_bottom_w(&s.pu, root.mid_u, root.v)
        .unwrap_or(s.pu.centre_w_mm - s.pu.half_height_mm);
    let roof = frame.to_local(
        s.up.frame
            .to_world([s.sign * root.mid_u, root.v, roof_w_up]),
    );
    let total = t.height_mm / (1.0 - ROOF_HIDDEN);
    let centre_w = roof[2] + ROOF_HIDDEN * total - 0.5 * total;
    let centre_u = s.sign * 0.5 * (s.u0 + s.u1);
    let (apex, base, linear_base) = t.class.stats().profile;
    Shape::Profile {
        frame: frame.with_origin(frame.to_world([centre_u, roof[1], centre_w])),
        half_u_mm: 0.5 * (s.u1 - s.u0),
        half_width_mm: 0.5 * t.width_mm,
        height_mm: total,
        apex,
        base,
        linear_base,
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::super::test_support::{CW, H, PH, PW, V_POST, pair, scene};
    use super::super::{Anatomy, PathologyClass};
    use super::*;
    use crate::volume::geometry::{add, scale, sub};

    const GAP: f64 = 5.0;

    fn pedicle(u: f64, hw: f64) -> Pedicle {
        Pedicle {
            centre_u_mm: u,
            half_width_mm: hw,
            half_height_mm: 7.0,
            half_length_mm: 9.0,
            centre_v_mm: 0.0,
            centre_w_mm: 0.0,
        }
    }

    #[test]
    fn envelope_spans_the_common_pedicle_margins_shrunk_by_4_percent() {
        // Margins 10..20 and 10..22: common 10..20, shrunk by 0.4 at each end.
        let (u0, u1) = envelope_span(&pedicle(15.0, 5.0), &pedicle(-16.0, 6.0));
        assert!((u0 - 10.4).abs() < 1e-12 && (u1 - 19.6).abs() < 1e-12);
        // No common span (8..12 and 18..22): 2 mm from the larger medial margin.
        let (u0, u1) = envelope_span(&pedicle(10.0, 2.0), &pedicle(20.0, 2.0));
        assert!((u0 - 18.08).abs() < 1e-12 && (u1 - 19.92).abs() < 1e-12);
    }

    fn knobs(bulge: f64, osteophyte: f64, facet: f64) -> Pathology {
        Pathology {
            class: PathologyClass::Normal,
            disc_height_loss: 0.0,
            bulge_mm: bulge,
            osteophyte_mm: osteophyte,
            facet_hypertrophy_mm: facet,
        }
    }

    /// Upper and lower vertebra with their disc and the foramina of both sides, 10 mm
    /// disc, 5 mm AP gap. Returns the scene, the foramina and the disc frame.
    fn build(k: Pathology) -> (Anatomy, Vec<Foramen>, Frame) {
        let (up, low, frame) = pair(10.0);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut b = Builder::default();
        b.vertebra(&up);
        b.vertebra(&low);
        b.disc(&up, &low, &frame, 10.0, true);
        let f = Side::BOTH
            .map(|side| b.foramen(0, side, &up, &low, &frame, (k, GAP), None, &mut rng))
            .to_vec();
        (scene(b), f, frame)
    }

    /// As [`build`], with the given variant on both sides.
    fn build_variant(v: ForamenVariant) -> (Anatomy, Vec<Foramen>) {
        let (up, low, frame) = pair(10.0);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut b = Builder::default();
        b.vertebra(&up);
        b.vertebra(&low);
        b.disc(&up, &low, &frame, 10.0, true);
        let f = Side::BOTH
            .map(|side| {
                b.foramen(
                    0,
                    side,
                    &up,
                    &low,
                    &frame,
                    (knobs(0.0, 0.0, 0.0), GAP),
                    Some(v),
                    &mut rng,
                )
            })
            .to_vec();
        (scene(b), f)
    }

    const PLAIN: ForamenVariant = ForamenVariant {
        root_on_pedicle: false,
        fat_poor: None,
        shape: None,
    };

    /// The point of the root axis at |x| = `x_abs`.
    fn on_axis(axis: [Vec3; 2], x_abs: f64) -> Vec3 {
        let [a, b] = axis;
        let t = (x_abs - a[0].abs()) / (b[0].abs() - a[0].abs());
        add(a, scale(sub(b, a), t))
    }

    #[test]
    fn root_on_pedicle_touches_the_inferior_cortex_without_fat_between() {
        let (a, f) = build_variant(ForamenVariant {
            root_on_pedicle: true,
            ..PLAIN
        });
        let (mid_u, half_span) = (CW + PW, 0.92 * PW);
        for fo in &f {
            // Over the middle 70 % of the span (the pedicle's margins round off beyond).
            for k in [-0.7, -0.35, 0.0, 0.35, 0.7] {
                let c = on_axis(fo.root_axis, mid_u + k * half_span);
                assert_eq!(a.label(c), Tissue::Root, "{k}");
                // Straight up from the root centre: root, at most 0.1 mm of fat (far
                // under a voxel), then cortex.
                let (mut z, mut fat) = (0.0, 0.0);
                let cortex = loop {
                    let l = a.label([c[0], c[1], c[2] + z]);
                    if l == Tissue::ForaminalFat {
                        fat += 0.01;
                    } else if l != Tissue::Root || z > 6.0 {
                        break l;
                    }
                    z += 0.01;
                };
                assert_eq!(cortex, Tissue::Cortical, "{k} at {z}");
                assert!(fat <= 0.1, "{k}: {fat} mm of fat above the root");
                assert!(z <= fo.root_radius_mm + 0.1, "{k}: {z}");
            }
        }
        // The plain root keeps its 1.2 mm (or more) of fat under the pedicle.
        let (a, f) = build_variant(PLAIN);
        let c = on_axis(f[1].root_axis, mid_u);
        let r = f[1].root_radius_mm;
        assert_eq!(a.label([c[0], c[1], c[2] + r + 0.6]), Tissue::ForaminalFat);
    }

    #[test]
    fn fat_poor_foramen_has_a_soft_sleeve_and_a_soft_floor_band_inside_the_envelope() {
        let fp = FatPoor {
            sleeve_mm: 1.0,
            band_fraction: 0.5,
        };
        let (a, f) = build_variant(ForamenVariant {
            fat_poor: Some(fp),
            ..PLAIN
        });
        let mid_u = CW + PW;
        for fo in &f {
            let c = on_axis(fo.root_axis, mid_u);
            let r = fo.root_radius_mm;
            // In front of the root: the 1 mm sleeve, then fat.
            assert_eq!(
                a.label([c[0], c[1] - r - 0.85, c[2]]),
                Tissue::ForaminalSoft
            );
            assert_eq!(a.label([c[0], c[1] - r - 1.15, c[2]]), Tissue::ForaminalFat);
            // Band: from the floor (lower pedicle top, H - 0.5) half-way up to the root's
            // lowest point, behind the disc margin.
            let floor = H - 0.5;
            let cut = floor + 0.5 * (c[2] - r - floor);
            let v = V_POST + 2.5;
            assert_eq!(a.label([c[0], v, cut - 0.2]), Tissue::ForaminalSoft);
            assert_eq!(a.label([c[0], v, cut + 0.2]), Tissue::ForaminalFat);
            // Clipped to the envelope: nothing soft in the canal or beyond the span.
            assert_ne!(
                a.label([c[0].signum() * (CW - 3.0), c[1], c[2]]),
                Tissue::ForaminalSoft
            );
            assert_ne!(
                a.label([c[0].signum() * (CW + 2.0 * PW + 1.0), v, cut - 1.0]),
                Tissue::ForaminalSoft
            );
        }
    }

    #[test]
    fn shaped_foramen_is_the_class_outline_under_the_pedicle_in_a_fibrous_mould() {
        use super::super::variant::ShapeClass;
        let t = ShapeTarget {
            class: ShapeClass::Oval,
            height_mm: 14.0,
            width_mm: 8.0,
        };
        let (a, f) = build_variant(ForamenVariant {
            shape: Some(t),
            ..PLAIN
        });
        let mid_u = CW + PW;
        for fo in &f {
            let x = on_axis(fo.root_axis, mid_u)[0];
            let root_v = V_POST + 0.5 * (GAP + 4.5);
            // Roof: the pedicle's inferior cortex above the root's v (upper frame).
            let p = up_pedicle();
            let roof = upper(0.0, 0.0, pedicle_bottom_w(&p, mid_u, root_v).unwrap())[2];
            // Floor of the outline 14 mm under the roof, on its centre line.
            assert_eq!(
                a.label([x, root_v, roof - 14.0 + 0.3]),
                Tissue::ForaminalFat
            );
            assert_eq!(a.label([x, root_v, roof - 14.0 - 0.3]), Tissue::Ligament);
            // Widest at the ellipse's centre, half the width either side of the root's v.
            let total = 14.0 / (1.0 - ROOF_HIDDEN);
            let centre = roof + ROOF_HIDDEN * total - 0.5 * total;
            assert_eq!(a.label([x, root_v - 3.9, centre]), Tissue::ForaminalFat);
            assert_eq!(a.label([x, root_v - 4.1, centre]), Tissue::Ligament);
        }
    }

    fn up_pedicle() -> Pedicle {
        let (up, _, _) = pair(10.0);
        up.pedicles[1]
    }

    /// Upper vertebra frame (the pair is upright: its origin is 2 H + 10 above the lower one).
    fn upper(u: f64, v: f64, w: f64) -> Vec3 {
        [u, v, w + 2.0 * H + 10.0]
    }

    #[test]
    fn root_passes_under_the_upper_pedicle_in_foraminal_fat() {
        let (a, f, _) = build(knobs(0.0, 0.0, 0.0));
        // Identical pedicles: the envelope is centred on the pedicle axis, its half-span
        // 0.92 × the pedicle half-width.
        let (mid_u, half_span) = (CW + PW, 0.92 * PW);
        let bottom = H - 2.0 * PH - 0.5;
        for (side, fo) in Side::BOTH.iter().zip(&f) {
            let u = side.sign() * mid_u;
            let r = fo.root_radius_mm;
            assert_eq!(
                a.label(upper(u, V_POST + 2.5, bottom + 0.5)),
                Tissue::Cortical
            );
            assert_eq!(
                a.label(upper(u, V_POST + 2.5, bottom - 0.5)),
                Tissue::ForaminalFat
            );
            // Root centre halfway through the gap, r + 1.2 mm + the slope over half the
            // span below the pedicle.
            let root_v = V_POST + 0.5 * (GAP + 4.5);
            let root_w = bottom - r - 1.2 - ROOT_SLOPE * half_span;
            assert_eq!(a.label(upper(u, root_v, root_w)), Tissue::Root);
            assert_eq!(a.label(upper(u, root_v, root_w + r - 0.3)), Tissue::Root);
            // Clear of the pedicle above its top.
            assert_eq!(
                a.label(upper(u, root_v, root_w + r + 0.3)),
                Tissue::ForaminalFat
            );
            // It starts medially at the sac's edge (2.5 mm inside the canal wall) and
            // runs laterally and down.
            let [m, l] = fo.root_axis;
            assert!((m[0].abs() - (CW - 2.5)).abs() < 1e-9, "{m:?}");
            assert!(l[0].abs() > m[0].abs() && l[2] < m[2]);
        }
    }

    /// v (behind the lower body wall) of the front of the bone in the disc space, at the
    /// superior articular process's u.
    fn front_of_bone_in_disc_space(a: &Anatomy) -> f64 {
        let u = CW + PW + 0.5;
        let mut front = f64::INFINITY;
        // From just above the lower pedicle to just below the upper body.
        let mut w = H + 0.1;
        while w < H + 10.0 {
            let mut v = V_POST + 0.5;
            while v < front.min(V_POST + GAP + 3.0) {
                if matches!(a.label([u, v, w]), Tissue::Cortical | Tissue::Marrow) {
                    front = v;
                    break;
                }
                v += 0.01;
            }
            w += 0.1;
        }
        front - V_POST
    }

    #[test]
    fn superior_articular_process_is_gap_minus_hypertrophy_behind_the_body_wall() {
        for fac in [0.0, 1.0] {
            let (a, _, _) = build(knobs(0.0, 0.0, fac));
            let front = front_of_bone_in_disc_space(&a);
            assert!((front - (GAP - fac)).abs() < 0.03, "facet {fac}: {front}");
        }
    }

    #[test]
    fn bulge_and_osteophyte_fill_the_front_of_the_foramen() {
        let u = CW + PW;
        let (a, _, disc) = build(knobs(0.0, 0.0, 0.0));
        let behind_disc = disc.to_world([u, V_POST + 2.5, 0.0]);
        // Just above the lower endplate's corner, 1.5 mm behind the wall.
        let on_endplate = [u, V_POST + 1.5, H - 0.2];
        assert_eq!(a.label(behind_disc), Tissue::ForaminalFat);
        assert_eq!(a.label(on_endplate), Tissue::ForaminalFat);
        // A 3 mm bulge reaches 3 mm behind the disc margin; a 2 mm osteophyte 1 + 2 mm
        // behind the wall from 1 mm in front of it.
        let (a, _, _) = build(knobs(3.0, 2.0, 0.0));
        assert_eq!(a.label(behind_disc), Tissue::Annulus);
        assert_eq!(a.label(on_endplate), Tissue::Cortical);
    }
}
