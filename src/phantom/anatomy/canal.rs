//! Step 7: the canal contents of each vertebra: epidural fat and the thecal sac (CSF),
//! which narrows through S1 and ends at S2.

use super::builder::Builder;
use super::{P_CANAL, P_CSF, Region, Tissue, Vertebra};
use crate::phantom::shapes::{Frame, Shape};

impl Builder {
    /// Canal contents of `v`, reaching over half of the taller neighbouring disc
    /// (heights `d_above`, `d_below`) plus 3 mm so that consecutive segments overlap.
    /// Nothing below S2.
    pub(super) fn canal(&mut self, v: &Vertebra, d_above: f64, d_below: f64) {
        if v.region == Region::Sacral && v.name != "S1" && v.name != "S2" {
            return;
        }
        let reach = v.half_height_mm + d_above.max(d_below) / 2.0 + 3.0;
        let depth = v.canal_depth_mm;
        let canal = Frame {
            origin: v.frame.to_world([0.0, v.v_post_mm + depth / 2.0, 0.0]),
            axes: v.frame.axes,
        };
        self.push(
            Tissue::EpiduralFat,
            P_CANAL,
            Shape::SuperQuadric {
                frame: canal,
                radii_mm: [v.canal_half_width_mm + 0.5, depth / 2.0 + 0.5, reach],
                exps: [2, 2, 8],
                v_max_mm: f64::INFINITY,
            },
        );
        let sac_scale = sac_scale(v);
        self.push(
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
}

/// Size of the thecal sac relative to the lumbar canal: tapering through S1 to S2.
fn sac_scale(v: &Vertebra) -> f64 {
    if v.name == "S2" {
        0.35
    } else if v.name == "S1" {
        0.7
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{CW, DEPTH, H, V_POST, lumbar_spec, scene};
    use super::*;

    fn canal_of(name: &str, region: Region) -> super::super::Anatomy {
        let mut s = lumbar_spec(name);
        s.region = region;
        let mut b = Builder::default();
        b.canal(&s.place(Frame::aligned([0.0; 3])), 10.0, 8.0);
        scene(b)
    }

    #[test]
    fn thecal_sac_lies_in_epidural_fat_and_reaches_over_half_the_discs() {
        let a = canal_of("L3", Region::Lumbar);
        let v = V_POST + DEPTH / 2.0;
        assert_eq!(a.label([0.0, v - 0.3, 0.0]), Tissue::Csf);
        // Sac half-width CW - 2, fat half-width CW + 0.5.
        assert_eq!(a.label([CW - 1.0, v, 0.0]), Tissue::EpiduralFat);
        assert_eq!(a.label([CW + 1.0, v, 0.0]), Tissue::Air);
        // Reach: half-height + half the taller disc (10 mm) + 3 mm.
        assert_eq!(a.label([0.0, v - 0.3, H + 7.9]), Tissue::Csf);
        assert_eq!(a.label([0.0, v - 0.3, -(H + 8.2)]), Tissue::Air);
    }

    #[test]
    fn sac_narrows_at_s2_and_ends_there() {
        let v = V_POST + DEPTH / 2.0;
        // S2: sac half-width 0.35 × (CW - 2) = 3.15 mm.
        let s2 = canal_of("S2", Region::Sacral);
        assert_eq!(s2.label([2.5, v - 0.3, 0.0]), Tissue::Csf);
        assert_eq!(s2.label([3.5, v - 0.3, 0.0]), Tissue::EpiduralFat);
        assert!(canal_of("S3", Region::Sacral).prims.is_empty());
    }
}
