//! Hand-made vertebrae with round numbers for the step tests.

use super::builder::Builder;
use super::chain::stack_above;
use super::pathology::LevelSpec;
use super::spec::VertSpec;
use super::{Anatomy, Pathology, Region, Vertebra};
use crate::phantom::shapes::Frame;

/// Body half-height, half-width, half-depth; canal half-width and depth; pedicle
/// half-width and half-height of [`lumbar_spec`].
pub(super) const H: f64 = 12.5;
pub(super) const CW: f64 = 11.0;
pub(super) const DEPTH: f64 = 15.0;
pub(super) const PW: f64 = 6.0;
pub(super) const PH: f64 = 7.5;
/// Flat posterior wall: 0.88 × the half-depth 16 mm.
pub(super) const V_POST: f64 = 0.88 * 16.0;

pub(super) fn lumbar_spec(name: &str) -> VertSpec {
    VertSpec {
        name: name.into(),
        region: Region::Lumbar,
        h: H,
        a: 24.0,
        b: 16.0,
        cw: CW,
        depth: DEPTH,
        pw: [PW, PW],
        ph: [PH, PH],
    }
}

pub(super) fn level(d: f64, wedge_deg: f64) -> LevelSpec {
    LevelSpec {
        name: "L4-L5".into(),
        reported: true,
        mobile: true,
        d,
        wedge_deg,
        knobs: [Pathology::NONE; 2],
        gap: [5.0; 2],
    }
}

/// Two identical upright lumbar vertebrae, the lower one centred at the origin, a
/// disc of height `d` between them: (upper, lower, disc frame).
pub(super) fn pair(d: f64) -> (Vertebra, Vertebra, Frame) {
    let low = Frame::aligned([0.0; 3]);
    let (disc, up) = stack_above(&low, H, H, &level(d, 0.0), 0.0, 0.0);
    (
        lumbar_spec("L4").place(up),
        lumbar_spec("L5").place(low),
        disc,
    )
}

/// The primitives built so far, in air.
pub(super) fn scene(b: Builder) -> Anatomy {
    Anatomy::test_scene(b.prims)
}
