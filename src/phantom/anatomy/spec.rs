//! Step 1: the sizes of every vertebra, top to bottom (T10..T12, L1..Ln, S1..S4), and
//! their placement in a frame with the pedicles.

use rand_chacha::ChaCha8Rng;

use super::{Pedicle, Region, Side, Vertebra, lerp, uni};
use crate::phantom::shapes::Frame;

/// Sizes of one vertebra before it is placed (mm; half-sizes of the body).
pub(super) struct VertSpec {
    pub name: String,
    pub region: Region,
    /// Body half-height.
    pub h: f64,
    /// Body half-width.
    pub a: f64,
    /// Body half-depth.
    pub b: f64,
    /// Canal half-width (= medial margin of the pedicles).
    pub cw: f64,
    /// Canal depth behind the body wall.
    pub depth: f64,
    /// Pedicle half-widths, by [`Side::index`].
    pub pw: [f64; 2],
    /// Pedicle half-heights, by [`Side::index`].
    pub ph: [f64; 2],
}

/// All vertebrae, top to bottom. The random draws happen in this order.
pub(super) fn vertebra_specs(
    rng: &mut ChaCha8Rng,
    body_scale: f64,
    n_lumbar: usize,
) -> Vec<VertSpec> {
    let mut specs = thoracic(rng, body_scale);
    specs.extend(lumbar(rng, body_scale, n_lumbar));
    specs.extend(sacral(body_scale));
    specs
}

/// T10..T12: small bodies, narrow pedicles.
fn thoracic(rng: &mut ChaCha8Rng, body_scale: f64) -> Vec<VertSpec> {
    let mut specs = Vec::new();
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
    specs
}

/// L1..Ln, growing downward; left and right pedicles differ by up to ±7 %.
fn lumbar(rng: &mut ChaCha8Rng, body_scale: f64, n_lumbar: usize) -> Vec<VertSpec> {
    // Transverse pedicle half-widths from L5 upward (L5 pedicles are the widest).
    let pw_from_bottom = [8.5, 6.5, 5.2, 4.5, 4.3, 4.1];
    let mut specs = Vec::new();
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
    specs
}

/// S1..S4: fixed sizes shrinking downward (no random draws).
fn sacral(body_scale: f64) -> Vec<VertSpec> {
    let sacral = [
        ("S1", 13.0, 25.5, 18.0, 7.5),
        ("S2", 10.0, 20.0, 13.0, 4.0),
        ("S3", 8.0, 15.0, 10.0, 3.0),
        ("S4", 6.0, 10.0, 8.0, 2.5),
    ];
    sacral
        .into_iter()
        .map(|(name, h, a, b, pw)| VertSpec {
            name: name.to_string(),
            region: Region::Sacral,
            h: body_scale * h,
            a: body_scale * a,
            b: body_scale * b,
            cw: if name == "S1" { 12.0 } else { 9.0 },
            depth: if name == "S1" { 12.0 } else { 8.0 },
            pw: [pw, pw],
            ph: [7.5, 7.5],
        })
        .collect()
}

impl VertSpec {
    /// The vertebra with its body centred at `frame`'s origin. The flat posterior body
    /// wall is at 0.88 of the half-depth.
    pub(super) fn place(&self, frame: Frame) -> Vertebra {
        let v_post = 0.88 * self.b;
        Vertebra {
            name: self.name.clone(),
            region: self.region,
            frame,
            half_height_mm: self.h,
            half_width_mm: self.a,
            half_depth_mm: self.b,
            v_post_mm: v_post,
            canal_half_width_mm: self.cw,
            canal_depth_mm: self.depth,
            pedicles: Side::BOTH.map(|side| self.pedicle(side, v_post)),
        }
    }

    /// Pedicle on `side`: its medial margin is the canal wall, its top 0.5 mm below the
    /// top of the body, its centre 2.5 mm behind the body wall.
    fn pedicle(&self, side: Side, v_post: f64) -> Pedicle {
        let k = side.index();
        Pedicle {
            centre_u_mm: side.sign() * (self.cw + self.pw[k]),
            half_width_mm: self.pw[k],
            half_height_mm: self.ph[k],
            half_length_mm: 9.0,
            centre_v_mm: v_post + 2.5,
            centre_w_mm: self.h - self.ph[k] - 0.5,
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::super::test_support::{CW, H, PH, PW, lumbar_spec};
    use super::*;

    #[test]
    fn pedicles_start_at_the_canal_wall_just_below_the_body_top() {
        let v = lumbar_spec("L3").place(Frame::aligned([0.0; 3]));
        for side in Side::BOTH {
            let p = v.pedicles[side.index()];
            assert_eq!(p.centre_u_mm.signum(), side.sign());
            assert!((p.medial_mm() - CW).abs() < 1e-12);
            assert!((p.lateral_mm() - (CW + 2.0 * PW)).abs() < 1e-12);
            assert!((p.centre_w_mm + PH - (H - 0.5)).abs() < 1e-12);
            assert!((p.centre_v_mm - (v.v_post_mm + 2.5)).abs() < 1e-12);
        }
        assert!((v.v_post_mm - 0.88 * 16.0).abs() < 1e-12);
    }

    #[test]
    fn chain_runs_t10_to_s4_with_lumbar_bodies_wider_than_their_pedicles() {
        for n in 4..=6 {
            for seed in 0..20 {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let specs = vertebra_specs(&mut rng, 1.0, n);
                let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
                assert_eq!(names.len(), 3 + n + 4);
                assert_eq!(&names[..3], ["T10", "T11", "T12"]);
                assert_eq!(names[3 + n - 1], format!("L{n}"));
                assert_eq!(&names[3 + n..], ["S1", "S2", "S3", "S4"]);
                let lumbar: Vec<&VertSpec> = specs
                    .iter()
                    .filter(|s| s.region == Region::Lumbar)
                    .collect();
                for s in &lumbar {
                    assert!(s.a >= s.cw + 2.0 * s.pw[0].max(s.pw[1]) + 3.0 - 1e-9);
                }
                // L5-like lowest pedicles (8.5 mm ± 7 %) are wider than all above (≤ 6.5 mm + 7 %).
                let widest = |s: &VertSpec| s.pw[0].min(s.pw[1]);
                let last = lumbar[n - 1];
                assert!(
                    lumbar[..n - 1]
                        .iter()
                        .all(|s| s.pw[0].max(s.pw[1]) < widest(last))
                );
            }
        }
    }
}
