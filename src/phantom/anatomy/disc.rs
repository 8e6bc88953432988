//! Step 5: the intervertebral disc, annulus and nucleus.

use super::builder::Builder;
use super::{P_ANNULUS, P_NUCLEUS, Tissue, Vertebra};
use crate::phantom::shapes::{Frame, Shape};
use crate::volume::geometry::scale;

impl Builder {
    /// Disc of centre height `d` between two bodies; `nucleus` = false for fused or
    /// degenerated ("black") discs.
    pub(super) fn disc(
        &mut self,
        up: &Vertebra,
        low: &Vertebra,
        frame: &Frame,
        d: f64,
        nucleus: bool,
    ) {
        self.annulus(up, low, frame, d);
        if nucleus {
            self.nucleus(up, low, frame, d);
        }
    }

    /// Annulus: the slab between the two endplate planes inside the mean body
    /// cross-section. The planes lie 1.5 mm inside the bodies so that the disc fills
    /// their rounded rims; bone wins where they overlap.
    fn annulus(&mut self, up: &Vertebra, low: &Vertebra, frame: &Frame, d: f64) {
        let (a, b) = mean_radii(up, low);
        let v_post = 0.5 * (up.v_post_mm + low.v_post_mm);
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
    }

    /// Nucleus: an ellipsoid 1.5 mm in front of the disc centre, about half the disc's
    /// width and depth and a third of its height.
    fn nucleus(&mut self, up: &Vertebra, low: &Vertebra, frame: &Frame, d: f64) {
        let (a, b) = mean_radii(up, low);
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

/// Mean half-width and half-depth of the two bodies.
fn mean_radii(up: &Vertebra, low: &Vertebra) -> (f64, f64) {
    (
        0.5 * (up.half_width_mm + low.half_width_mm),
        0.5 * (up.half_depth_mm + low.half_depth_mm),
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{V_POST, pair, scene};
    use super::*;

    #[test]
    fn disc_has_a_nucleus_unless_degenerated_and_stops_at_the_posterior_wall() {
        let (up, low, frame) = pair(10.0);
        let at = |u: f64, v: f64, w: f64| frame.to_world([u, v, w]);
        let mut b = Builder::default();
        b.disc(&up, &low, &frame, 10.0, true);
        let a = scene(b);
        assert_eq!(a.label(at(0.0, 0.0, 0.0)), Tissue::Nucleus);
        assert_eq!(a.label(at(0.0, V_POST - 0.5, 0.0)), Tissue::Annulus);
        assert_eq!(a.label(at(0.0, V_POST + 1.0, 0.0)), Tissue::Air);
        // The endplate planes lie 1.5 mm inside the bodies.
        assert_eq!(a.label(at(0.0, 5.0, 5.0 + 1.0)), Tissue::Annulus);
        assert_eq!(a.label(at(0.0, 5.0, 5.0 + 2.0)), Tissue::Air);
        assert_eq!(a.label(at(0.0, 5.0, -5.0 - 2.0)), Tissue::Air);

        let mut b = Builder::default();
        b.disc(&up, &low, &frame, 10.0, false);
        assert_eq!(scene(b).label(at(0.0, 0.0, 0.0)), Tissue::Annulus);
    }
}
