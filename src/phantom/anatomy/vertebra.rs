//! Step 4: the bones of one vertebra (body, pedicles, pars, transverse processes,
//! lamina, spinous process; sacral crest and alae) and the ligamentum flavum below the
//! lamina. The articular processes belong to the foramen they bound (module `foramen`).

use super::builder::Builder;
use super::{P_LIGAMENT, Region, Side, Tissue, Vertebra};
use crate::phantom::shapes::Shape;

impl Builder {
    pub(super) fn vertebra(&mut self, v: &Vertebra) {
        self.body(v);
        // Only S1 of the sacrum has pedicles.
        let posterior = v.region != Region::Sacral || v.name == "S1";
        let lamina_v = lamina_v_mm(v);
        if v.region == Region::Sacral {
            self.sacral_crest(v, lamina_v);
            for side in Side::BOTH {
                self.sacral_ala(v, side);
            }
        }
        if !posterior {
            return;
        }
        for side in Side::BOTH {
            self.pedicle(v, side);
            if v.region == Region::Sacral {
                continue;
            }
            self.pars(v, side);
            if v.region == Region::Lumbar {
                self.transverse_process(v, side);
            }
        }
        if v.region == Region::Sacral {
            return;
        }
        self.lamina(v, lamina_v);
        self.spinous_process(v, lamina_v);
        self.ligamentum_flavum(v, lamina_v);
    }

    /// Body: `|u/a|^4 + |v/b|^3 + |w/h|^10 <= 1` cut by the flat posterior wall, with a
    /// 1.3 mm cortex.
    fn body(&mut self, v: &Vertebra) {
        let (h, a, b) = (v.half_height_mm, v.half_width_mm, v.half_depth_mm);
        self.bone(v.frame, [a, b, h], [4, 3, 10], v.v_post_mm, 1.3);
    }

    /// Median sacral crest / fused laminae.
    fn sacral_crest(&mut self, v: &Vertebra, lamina_v: f64) {
        let h = v.half_height_mm;
        let f = self.local(v, [0.0, lamina_v - 1.0, -1.0]);
        self.bone(
            f,
            [v.canal_half_width_mm + 5.0, 4.0, h + 3.0],
            [4, 2, 4],
            f64::INFINITY,
            1.0,
        );
    }

    /// Lateral mass (ala) of a sacral segment; S1's is large and reaches below the
    /// pedicle.
    fn sacral_ala(&mut self, v: &Vertebra, side: Side) {
        let (h, a) = (v.half_height_mm, v.half_width_mm);
        let sign = side.sign();
        let p = v.pedicles[side.index()];
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

    /// Pedicle: oval in the sagittal plane, nearly box-like across, 1.1 mm cortex.
    fn pedicle(&mut self, v: &Vertebra, side: Side) {
        let p = v.pedicles[side.index()];
        let f = self.local(v, [p.centre_u_mm, p.centre_v_mm, p.centre_w_mm]);
        self.bone(
            f,
            [p.half_width_mm, p.half_length_mm, p.half_height_mm],
            [8, 2, 2],
            f64::INFINITY,
            1.1,
        );
    }

    /// Pars interarticularis joining pedicle, lamina and inferior articular process.
    /// Its front (~9 mm behind the body wall) bounds the head of the keyhole.
    fn pars(&mut self, v: &Vertebra, side: Side) {
        let p = v.pedicles[side.index()];
        let f = self.local(
            v,
            [
                side.sign() * (p.centre_u_mm.abs() - 0.5),
                v.v_post_mm + 13.5,
                p.centre_w_mm - 1.0,
            ],
        );
        self.bone(
            f,
            [p.half_width_mm + 0.5, 4.5, 8.5],
            [4, 2, 2],
            f64::INFINITY,
            1.0,
        );
    }

    /// Transverse process, lateral to the pedicle (lumbar only).
    fn transverse_process(&mut self, v: &Vertebra, side: Side) {
        let p = v.pedicles[side.index()];
        let f = self.local(
            v,
            [
                side.sign() * (p.lateral_mm() + 13.0),
                v.v_post_mm + 5.5,
                p.centre_w_mm,
            ],
        );
        self.bone(f, [14.0, 3.5, 5.0], [2, 2, 2], f64::INFINITY, 1.0);
    }

    /// Lamina across the back of the canal, between the pedicle axes.
    fn lamina(&mut self, v: &Vertebra, lamina_v: f64) {
        let ped_u = v.pedicles[1]
            .centre_u_mm
            .abs()
            .max(v.pedicles[0].centre_u_mm.abs());
        let f = self.local(v, [0.0, lamina_v, 1.0]);
        self.bone(f, [ped_u, 3.5, 11.0], [4, 2, 4], f64::INFINITY, 1.0);
    }

    fn spinous_process(&mut self, v: &Vertebra, lamina_v: f64) {
        let f = self.local(v, [0.0, lamina_v + 18.0, -2.0]);
        self.bone(f, [3.2, 17.0, 8.5], [2, 4, 4], f64::INFINITY, 1.0);
    }

    /// Ligamentum flavum lining the back of the canal below the lamina.
    fn ligamentum_flavum(&mut self, v: &Vertebra, lamina_v: f64) {
        let f = self.local(v, [0.0, lamina_v - 4.5, -v.half_height_mm - 2.0]);
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
}

/// Local v of the lamina's centre: 3.5 mm behind the back of the canal.
fn lamina_v_mm(v: &Vertebra) -> f64 {
    v.v_post_mm + v.canal_depth_mm + 3.5
}

#[cfg(test)]
mod tests {
    use super::super::spec::VertSpec;
    use super::super::test_support::{CW, DEPTH, H, PH, PW, V_POST, lumbar_spec, scene};
    use super::*;
    use crate::phantom::shapes::Frame;

    fn built(spec: &VertSpec) -> super::super::Anatomy {
        let mut b = Builder::default();
        b.vertebra(&spec.place(Frame::aligned([0.0; 3])));
        scene(b)
    }

    #[test]
    fn body_is_marrow_inside_a_cortical_shell_cut_by_the_posterior_wall() {
        let a = built(&lumbar_spec("L3"));
        assert_eq!(a.label([0.0, 0.0, 0.0]), Tissue::Marrow);
        // Cortex 1.3 mm at the endplate and at the flat posterior wall.
        assert_eq!(a.label([0.0, 0.0, H - 0.5]), Tissue::Cortical);
        assert_eq!(a.label([0.0, 0.0, H + 0.5]), Tissue::Air);
        assert_eq!(a.label([0.0, V_POST - 0.5, 0.0]), Tissue::Cortical);
        assert_eq!(a.label([0.0, V_POST + 0.5, 0.0]), Tissue::Air);
    }

    #[test]
    fn pedicle_is_bone_from_the_canal_wall_outward() {
        let a = built(&lumbar_spec("L3"));
        let (v, w) = (V_POST + 2.5, H - PH - 0.5);
        for s in [-1.0, 1.0] {
            assert_eq!(a.label([s * (CW + PW), v, w]), Tissue::Marrow);
            // Inside the 1.1 mm cortex at the medial margin; the canal is open.
            assert_eq!(a.label([s * (CW + 0.5), v, w]), Tissue::Cortical);
            assert_eq!(a.label([s * (CW - 0.5), v, w]), Tissue::Air);
            // Above the pedicle's top (0.5 mm below the body top) over the canal side.
            assert_eq!(a.label([s * (CW + PW), v, H - 0.2]), Tissue::Air);
        }
    }

    #[test]
    fn only_lumbar_vertebrae_have_transverse_processes() {
        // 13 mm lateral to the pedicle, 5.5 mm behind the body wall, at pedicle height.
        let p = [CW + 2.0 * PW + 13.0, V_POST + 5.5, H - PH - 0.5];
        assert_eq!(built(&lumbar_spec("L3")).label(p), Tissue::Marrow);
        let mut t = lumbar_spec("T12");
        t.region = Region::Thoracic;
        assert_eq!(built(&t).label(p), Tissue::Air);
    }

    #[test]
    fn ligamentum_flavum_lines_the_back_of_the_canal_below_the_lamina() {
        let a = built(&lumbar_spec("L3"));
        let lamina_v = V_POST + DEPTH + 3.5;
        assert_eq!(a.label([0.0, lamina_v, 1.0]), Tissue::Marrow);
        assert_eq!(a.label([0.0, lamina_v - 4.5, -H - 2.0]), Tissue::Ligament);
        assert_eq!(a.label([CW + 0.5, lamina_v - 4.5, -H - 2.0]), Tissue::Air);
    }

    #[test]
    fn sacral_segments_below_s1_are_body_crest_and_alae_only() {
        let mut s = lumbar_spec("S2");
        s.region = Region::Sacral;
        let a = built(&s);
        // Body, crest and two alae, each cortex + marrow; no pedicles, no ligament.
        assert_eq!(a.prims.len(), 8);
        assert!(a.prims.iter().all(|p| p.label != Tissue::Ligament));
        s.name = "S1".into();
        // S1 adds the two pedicles.
        assert_eq!(built(&s).prims.len(), 12);
    }
}
