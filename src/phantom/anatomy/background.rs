//! Step 8: the trunk around the spine, where no primitive applies: a table of the spine
//! curve, the habitus, and the background label (air, subcutaneous fat, muscle, vessels,
//! retroperitoneal fat, bowel).

use rand_chacha::ChaCha8Rng;

use super::{Anatomy, Habitus, SPINE_TABLE_STEP_MM, Tissue, Vertebra, lerp, uni, wave};
use crate::volume::geometry::Vec3;

/// `(z0, table)`: x of the canal centre and y of the posterior body wall every
/// [`SPINE_TABLE_STEP_MM`] from `z0`, linear between the walls' tops, middles and
/// bottoms.
pub(super) fn spine_table(vertebrae: &[Vertebra]) -> (f64, Vec<[f64; 2]>) {
    let mut spine_lut: Vec<[f64; 3]> = Vec::new();
    for v in vertebrae {
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
    (spine_table_z0, spine_table)
}

impl Habitus {
    /// Trunk size and fat, with the vessels' lower ends at the centres of the bodies
    /// above S1 (`s1` = its index) and the body front from the middle body `mid`.
    pub(super) fn sample(
        rng: &mut ChaCha8Rng,
        vertebrae: &[Vertebra],
        s1: usize,
        mid: usize,
    ) -> Habitus {
        let mid_v = &vertebrae[mid];
        Habitus {
            back_depth_mm: uni(rng, 50.0, 90.0),
            trunk_half_width_mm: uni(rng, 130.0, 170.0),
            trunk_half_depth_mm: uni(rng, 95.0, 130.0),
            subcutaneous_fat_mm: uni(rng, 8.0, 32.0),
            aorta_bifurcation_z_mm: vertebrae[s1 - 2].frame.origin[2],
            ivc_confluence_z_mm: vertebrae[s1 - 1].frame.origin[2],
            body_front_v_mm: -(mid_v.v_post_mm + mid_v.half_depth_mm),
            bowel_phase: [uni(rng, 0.0, 6.3), uni(rng, 0.0, 6.3), uni(rng, 0.0, 6.3)],
        }
    }

    /// 1/W², 1/D² of the trunk outline and of its inner (fat-free) outline.
    pub(super) fn trunk_inv2(&self) -> [f64; 4] {
        let (w, d, t) = (
            self.trunk_half_width_mm,
            self.trunk_half_depth_mm,
            self.subcutaneous_fat_mm,
        );
        [
            1.0 / (w * w),
            1.0 / (d * d),
            1.0 / ((w - t) * (w - t)),
            1.0 / ((d - t) * (d - t)),
        ]
    }
}

impl Anatomy {
    /// `(x of the canal centre, y of the posterior body wall)` at height `z`, from a
    /// table at 1 mm steps (direct indexing: this runs for most sub-samples).
    #[inline]
    pub(super) fn spine_at(&self, z: f64) -> (f64, f64) {
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
}

#[cfg(test)]
mod tests {
    use super::super::test_support::lumbar_spec;
    use super::*;
    use crate::phantom::shapes::Frame;

    /// Trunk 300 × 220 mm with 20 mm of subcutaneous fat, the back 70 mm behind the
    /// spine's posterior wall, which runs straight at x = 5, y = -3.
    fn trunk() -> Anatomy {
        let h = Habitus {
            back_depth_mm: 70.0,
            trunk_half_width_mm: 150.0,
            trunk_half_depth_mm: 110.0,
            subcutaneous_fat_mm: 20.0,
            aorta_bifurcation_z_mm: 0.0,
            ivc_confluence_z_mm: 10.0,
            body_front_v_mm: -30.0,
            bowel_phase: [0.0; 3],
        };
        let mut a = Anatomy::test_scene(Vec::new());
        a.trunk_inv2 = h.trunk_inv2();
        a.habitus = h;
        a.spine_table = vec![[5.0, -3.0]; 4];
        a.spine_table_z0 = -100.0;
        a
    }

    /// Background at (u, v) from the spine's posterior wall, height z.
    fn at(a: &Anatomy, u: f64, v: f64, z: f64) -> Tissue {
        a.background([5.0 + u, -3.0 + v, z])
    }

    #[test]
    fn skin_subcutaneous_fat_and_back_muscles() {
        let a = trunk();
        assert_eq!(at(&a, 0.0, 75.0, 0.0), Tissue::Air);
        assert_eq!(at(&a, 0.0, 65.0, 0.0), Tissue::Fat);
        assert_eq!(at(&a, 0.0, 30.0, 0.0), Tissue::Muscle);
        // Psoas beside the bodies.
        assert_eq!(at(&a, 30.0, -20.0, 0.0), Tissue::Muscle);
        assert_eq!(at(&a, 160.0, 0.0, 0.0), Tissue::Air);
    }

    #[test]
    fn vessels_end_at_the_bifurcation_and_confluence() {
        let a = trunk();
        // Aorta 14 mm left, 12 mm in front of the body front (-30).
        assert_eq!(at(&a, 14.0, -42.0, 5.0), Tissue::Vessel);
        assert_eq!(at(&a, 14.0, -42.0, -5.0), Tissue::Fat);
        // IVC 20 mm right, 13 mm in front.
        assert_eq!(at(&a, -20.0, -43.0, 15.0), Tissue::Vessel);
        assert_eq!(at(&a, -20.0, -43.0, 5.0), Tissue::Fat);
        assert!(matches!(
            at(&a, 0.0, -80.0, 0.0),
            Tissue::Fat | Tissue::Abdomen
        ));
    }

    #[test]
    fn spine_table_follows_the_posterior_walls() {
        // Two upright bodies 40 mm apart, the upper 10 mm further left.
        let (l, u) = (lumbar_spec("L5"), lumbar_spec("L4"));
        let vs = [
            l.place(Frame::aligned([0.0, 0.0, 0.0])),
            u.place(Frame::aligned([10.0, 0.0, 40.0])),
        ];
        let (z0, table) = spine_table(&vs);
        assert_eq!(z0, -12.5);
        // 65 mm of spine at 1 mm, plus the two ends.
        assert_eq!(table.len(), 67);
        let mut a = Anatomy::test_scene(Vec::new());
        a.spine_table = table;
        a.spine_table_z0 = z0;
        let (x, y) = a.spine_at(0.0);
        assert!(x.abs() < 1e-12 && (y - vs[0].v_post_mm).abs() < 1e-12);
        // Halfway between the lower top (z 12.5, x 0) and the upper bottom (z 27.5, x 10).
        assert!((a.spine_at(20.0).0 - 5.0).abs() < 1e-12);
        assert!((a.spine_at(45.0).0 - 10.0).abs() < 1e-12);
        // Clamped beyond the ends.
        assert!((a.spine_at(500.0).0 - 10.0).abs() < 1e-12);
    }
}
