//! Step 3: stacking the vertebrae and discs into frames (S1 placed with the sacral
//! slope, the lumbar and thoracic chain upward, the sacrum downward), then the
//! whole-spine pose.

use rand_chacha::ChaCha8Rng;

use super::pathology::LevelSpec;
use super::spec::VertSpec;
use super::uni;
use crate::phantom::shapes::Frame;
use crate::volume::geometry::{Vec3, add, scale, sub};

/// Frames of the vertebral bodies (origin at the body centre) and of the discs (origin
/// at the disc centre, halfway between the endplates), before the pose. `s1` is the
/// index of S1.
pub(super) fn stack(
    rng: &mut ChaCha8Rng,
    specs: &[VertSpec],
    lspecs: &[LevelSpec],
    s1: usize,
    sacral_slope_deg: f64,
) -> (Vec<Frame>, Vec<Frame>) {
    let n_vert = specs.len();
    let mut frames = vec![Frame::aligned([0.0; 3]); n_vert];
    let mut disc_frames = vec![Frame::aligned([0.0; 3]); n_vert - 1];
    frames[s1] = Frame::aligned([0.0; 3]).turned(0, sacral_slope_deg.to_radians());
    for i in (0..s1).rev() {
        // Level i lies between vertebra i (upper) and i+1 (lower).
        let coronal = uni(rng, -1.5, 1.5).to_radians();
        let axial = uni(rng, -1.0, 1.0).to_radians();
        let (disc, up) = stack_above(
            &frames[i + 1],
            specs[i + 1].h,
            specs[i].h,
            &lspecs[i],
            coronal,
            axial,
        );
        disc_frames[i] = disc;
        frames[i] = up;
    }
    for i in s1..n_vert - 1 {
        let (disc, low) = stack_below(&frames[i], specs[i].h, specs[i + 1].h, &lspecs[i]);
        disc_frames[i] = disc;
        frames[i + 1] = low;
    }
    (frames, disc_frames)
}

/// The disc and the upper body above a lower body of half-height `low_h`: the upper
/// body is tilted back by the level's wedge (lordosis), sideways by `coronal` and
/// twisted by `axial` (radians); the disc frame takes half of each turn. Returns (disc
/// frame, upper body frame).
pub(super) fn stack_above(
    low: &Frame,
    low_h: f64,
    up_h: f64,
    ls: &LevelSpec,
    coronal: f64,
    axial: f64,
) -> (Frame, Frame) {
    let alpha = ls.wedge_deg.to_radians();
    let e_low = add(low.origin, scale(low.axes[2], low_h));
    let disc = low
        .turned(0, -alpha / 2.0)
        .turned(1, coronal / 2.0)
        .turned(2, axial / 2.0);
    let up = low.turned(0, -alpha).turned(1, coronal).turned(2, axial);
    let c_disc = add(e_low, scale(disc.axes[2], ls.d / 2.0));
    let e_up = add(e_low, scale(disc.axes[2], ls.d));
    (
        disc.with_origin(c_disc),
        up.with_origin(add(e_up, scale(up.axes[2], up_h))),
    )
}

/// The disc and the lower body below an upper (sacral) body of half-height `up_h`,
/// curving kyphotically by the level's (negative) wedge. Returns (disc frame, lower
/// body frame).
pub(super) fn stack_below(up: &Frame, up_h: f64, low_h: f64, ls: &LevelSpec) -> (Frame, Frame) {
    let alpha = ls.wedge_deg.to_radians();
    let e_up = sub(up.origin, scale(up.axes[2], up_h));
    let disc = up.turned(0, alpha / 2.0);
    let low = up.turned(0, alpha);
    let c_disc = sub(e_up, scale(disc.axes[2], ls.d / 2.0));
    let e_low = sub(e_up, scale(disc.axes[2], ls.d));
    (
        disc.with_origin(c_disc),
        low.with_origin(sub(e_low, scale(low.axes[2], low_h))),
    )
}

/// Rigid pose of the whole spine: rotation about `centre` (the middle lumbar body),
/// axial then coronal, then translation of `centre` to `target`.
pub(super) struct Pose {
    centre: Vec3,
    axial: f64,
    coronal: f64,
    target: Vec3,
}

impl Pose {
    pub(super) fn sample(rng: &mut ChaCha8Rng, centre: Vec3) -> Pose {
        let axial = uni(rng, -4.0, 4.0).to_radians();
        let coronal = uni(rng, -3.0, 3.0).to_radians();
        let target = [
            uni(rng, -8.0, 8.0),
            uni(rng, -40.0, 10.0),
            uni(rng, -40.0, 40.0),
        ];
        Pose {
            centre,
            axial,
            coronal,
            target,
        }
    }

    pub(super) fn apply(&self, f: &Frame) -> Frame {
        let g = f
            .rotated_about(self.centre, [0.0, 0.0, 1.0], self.axial)
            .rotated_about(self.centre, [0.0, 1.0, 0.0], self.coronal);
        g.with_origin(add(sub(g.origin, self.centre), self.target))
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::super::test_support::level;
    use super::super::{Anatomy, disc_height_at};
    use super::*;
    use crate::phantom::Severity;
    use crate::volume::geometry::{dot, norm};

    fn close(a: Vec3, b: Vec3) -> bool {
        (0..3).all(|k| (a[k] - b[k]).abs() < 1e-9)
    }

    #[test]
    fn straight_stack_puts_the_endplates_one_disc_apart() {
        let low = Frame::aligned([0.0; 3]);
        let (disc, up) = stack_above(&low, 12.0, 11.0, &level(10.0, 0.0), 0.0, 0.0);
        assert!(close(disc.origin, [0.0, 0.0, 17.0]));
        assert!(close(up.origin, [0.0, 0.0, 33.0]));
        let (disc, low2) = stack_below(&up, 11.0, 12.0, &level(10.0, 0.0));
        assert!(close(disc.origin, [0.0, 0.0, 17.0]));
        assert!(close(low2.origin, [0.0; 3]));
    }

    #[test]
    fn lordotic_wedge_tilts_the_upper_body_back_and_the_disc_half_as_much() {
        let low = Frame::aligned([0.0; 3]);
        let a = 10f64.to_radians();
        let (disc, up) = stack_above(&low, 12.0, 11.0, &level(10.0, 10.0), 0.0, 0.0);
        assert!(close(up.axes[2], [0.0, a.sin(), a.cos()]));
        assert!(close(disc.axes[2], [0.0, (a / 2.0).sin(), (a / 2.0).cos()]));
        // The upper body's inferior endplate centre is one disc height along the disc axis.
        let e_up = sub(up.origin, scale(up.axes[2], 11.0));
        assert!(close(
            e_up,
            add([0.0, 0.0, 12.0], scale(disc.axes[2], 10.0))
        ));
    }

    #[test]
    fn pose_moves_the_centre_to_the_target_rigidly() {
        let pose = Pose {
            centre: [1.0, 2.0, 3.0],
            axial: 0.3,
            coronal: -0.2,
            target: [5.0, 6.0, 7.0],
        };
        let c = pose.apply(&Frame::aligned([1.0, 2.0, 3.0]));
        assert!(close(c.origin, [5.0, 6.0, 7.0]));
        let p = pose.apply(&Frame::aligned([11.0, 2.0, 3.0]));
        assert!((norm(sub(p.origin, c.origin)) - 10.0).abs() < 1e-9);
        for i in 0..3 {
            for j in 0..3 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((dot(p.axes[i], p.axes[j]) - want).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn sampled_spines_have_their_disc_heights_at_the_disc_centres() {
        for (seed, n) in [(1, 5), (2, 4), (3, 6)] {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let a = Anatomy::sample(
                &mut rng,
                Severity::Mixed,
                n,
                &Default::default(),
                &Default::default(),
            );
            for l in &a.levels {
                let (up, low) = (&a.vertebrae[l.upper], &a.vertebrae[l.lower]);
                let d = disc_height_at(up, low, &l.frame, 0.0, 0.0);
                assert!((d - l.disc_height_mm).abs() < 1e-9, "{}: {d}", l.name);
            }
        }
    }
}
