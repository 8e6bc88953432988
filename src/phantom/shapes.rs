//! Geometric primitives of the phantom: local frames, inside tests, bounding boxes
//! and the supersampled area of a region in a plane.

use crate::volume::geometry::{Vec3, add, cross, dot, scale, sub};

/// Rotates `v` about the unit vector `axis` by `angle_rad` (right-handed, Rodrigues).
pub fn rotate(v: Vec3, axis: Vec3, angle_rad: f64) -> Vec3 {
    let (s, c) = angle_rad.sin_cos();
    add(
        add(scale(v, c), scale(cross(axis, v), s)),
        scale(axis, dot(axis, v) * (1.0 - c)),
    )
}

/// An orthonormal right-handed local frame. For anatomy, `axes[0]` = u (toward the
/// patient's left), `axes[1]` = v (posterior), `axes[2]` = w (superior, along the spine).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    pub origin: Vec3,
    pub axes: [Vec3; 3],
}

impl Frame {
    /// Frame aligned with the patient LPS axes.
    pub fn aligned(origin: Vec3) -> Frame {
        Frame {
            origin,
            axes: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        }
    }

    #[inline]
    pub fn to_local(&self, p: Vec3) -> Vec3 {
        let d = sub(p, self.origin);
        [
            dot(d, self.axes[0]),
            dot(d, self.axes[1]),
            dot(d, self.axes[2]),
        ]
    }

    pub fn dir_to_world(&self, l: Vec3) -> Vec3 {
        add(
            scale(self.axes[0], l[0]),
            add(scale(self.axes[1], l[1]), scale(self.axes[2], l[2])),
        )
    }

    pub fn to_world(&self, l: Vec3) -> Vec3 {
        add(self.origin, self.dir_to_world(l))
    }

    /// The frame turned about its own axis `k` by `angle_rad` (origin kept).
    pub fn turned(&self, k: usize, angle_rad: f64) -> Frame {
        let axis = self.axes[k];
        Frame {
            origin: self.origin,
            axes: self.axes.map(|a| rotate(a, axis, angle_rad)),
        }
    }

    /// The frame rotated rigidly about the world line through `centre` along `axis`.
    pub fn rotated_about(&self, centre: Vec3, axis: Vec3, angle_rad: f64) -> Frame {
        Frame {
            origin: add(centre, rotate(sub(self.origin, centre), axis, angle_rad)),
            axes: self.axes.map(|a| rotate(a, axis, angle_rad)),
        }
    }

    pub fn with_origin(&self, origin: Vec3) -> Frame {
        Frame {
            origin,
            axes: self.axes,
        }
    }
}

/// Axis-aligned bounding box in patient mm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aabb {
    pub min: Vec3,
    pub max: Vec3,
}

impl Aabb {
    pub fn empty() -> Aabb {
        Aabb {
            min: [f64::INFINITY; 3],
            max: [f64::NEG_INFINITY; 3],
        }
    }

    pub fn include(&mut self, p: Vec3) {
        for ((lo, hi), v) in self.min.iter_mut().zip(self.max.iter_mut()).zip(p) {
            *lo = lo.min(v);
            *hi = hi.max(v);
        }
    }

    pub fn grown(&self, margin_mm: f64) -> Aabb {
        Aabb {
            min: self.min.map(|v| v - margin_mm),
            max: self.max.map(|v| v + margin_mm),
        }
    }

    #[inline]
    pub fn contains(&self, p: Vec3) -> bool {
        p[0] >= self.min[0]
            && p[0] <= self.max[0]
            && p[1] >= self.min[1]
            && p[1] <= self.max[1]
            && p[2] >= self.min[2]
            && p[2] <= self.max[2]
    }

    pub fn intersects(&self, o: &Aabb) -> bool {
        (0..3).all(|k| self.min[k] <= o.max[k] && o.min[k] <= self.max[k])
    }

    pub fn corners(&self) -> [Vec3; 8] {
        let (a, b) = (self.min, self.max);
        [
            [a[0], a[1], a[2]],
            [b[0], a[1], a[2]],
            [a[0], b[1], a[2]],
            [b[0], b[1], a[2]],
            [a[0], a[1], b[2]],
            [b[0], a[1], b[2]],
            [a[0], b[1], b[2]],
            [b[0], b[1], b[2]],
        ]
    }
}

/// `x^e` for the small integer exponents the shapes use (no `powf` in the hot loop).
#[inline]
fn ipow(x: f64, e: u8) -> f64 {
    match e {
        2 => x * x,
        3 => x * x * x,
        4 => {
            let y = x * x;
            y * y
        }
        6 => {
            let y = x * x * x;
            y * y
        }
        8 => {
            let y = x * x;
            let z = y * y;
            z * z
        }
        _ => x.powi(e as i32),
    }
}

/// Inside test of one primitive.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Superquadric `Σ |l_k / r_k|^e_k <= 1` in a local frame, cut by `v <= v_max_mm`
    /// (flat posterior wall of a vertebral body). An exponent of 0 makes that axis a
    /// hard bound `|l_k| <= r_k` (a prism). Always convex.
    SuperQuadric {
        frame: Frame,
        radii_mm: Vec3,
        exps: [u8; 3],
        v_max_mm: f64,
    },
    /// All points within `radius_mm` of the segment `a`-`b` (a swept tube).
    Capsule { a: Vec3, b: Vec3, radius_mm: f64 },
    /// Prism of superelliptic cross-section in the frame's u-v plane, between two
    /// half-spaces `(p - point) · normal >= 0` (a disc between two endplates).
    Slab {
        frame: Frame,
        radii_mm: [f64; 2],
        exp: u8,
        v_max_mm: f64,
        half_height_mm: f64,
        planes: [(Vec3, Vec3); 2],
    },
    /// A foramen-like outline in the frame's v-w plane extruded along u (`|u| <=
    /// half_u_mm`): `|v| <= half_width_mm · f(s)` with `s = w / height_mm + 1/2` from 0
    /// (bottom) to 1 (top). `f` rises from `base` at `s = 0` to 1 at `s = apex`
    /// (linearly, or as an elliptic quarter with `linear_base` false), then falls as an
    /// elliptic cap to 0 at `s = 1`. `f` is concave, so the shape is convex.
    Profile {
        frame: Frame,
        half_u_mm: f64,
        half_width_mm: f64,
        height_mm: f64,
        apex: f64,
        base: f64,
        linear_base: bool,
    },
    /// Points inside both shapes (convex when both are).
    Intersection(Box<Shape>, Box<Shape>),
}

/// The width factor `f(s)` of [`Shape::Profile`]; `None` outside `0..=1`.
pub fn profile_factor(s: f64, apex: f64, base: f64, linear_base: bool) -> Option<f64> {
    if !(0.0..=1.0).contains(&s) {
        return None;
    }
    Some(if s >= apex {
        let x = (s - apex) / (1.0 - apex).max(1e-9);
        (1.0 - x * x).max(0.0).sqrt()
    } else {
        let x = (apex - s) / apex.max(1e-9);
        let g = if linear_base {
            1.0 - x
        } else {
            (1.0 - x * x).max(0.0).sqrt()
        };
        base + (1.0 - base) * g
    })
}

impl Shape {
    #[inline]
    pub fn contains(&self, p: Vec3) -> bool {
        match self {
            Shape::SuperQuadric {
                frame,
                radii_mm,
                exps,
                v_max_mm,
            } => {
                let l = frame.to_local(p);
                if l[1] > *v_max_mm {
                    return false;
                }
                let mut s = 0.0;
                for k in 0..3 {
                    let t = l[k].abs() / radii_mm[k];
                    if exps[k] == 0 {
                        // Exponent 0 = flat faces: a hard |l| <= r bound on this axis.
                        if t > 1.0 {
                            return false;
                        }
                        continue;
                    }
                    s += ipow(t, exps[k]);
                    if s > 1.0 {
                        return false;
                    }
                }
                true
            }
            Shape::Capsule { a, b, radius_mm } => {
                let ab = sub(*b, *a);
                let ap = sub(p, *a);
                let len2 = dot(ab, ab);
                let t = if len2 > 0.0 {
                    (dot(ap, ab) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let d = sub(ap, scale(ab, t));
                dot(d, d) <= radius_mm * radius_mm
            }
            Shape::Slab {
                frame,
                radii_mm,
                exp,
                v_max_mm,
                planes,
                ..
            } => {
                for (point, normal) in planes {
                    if dot(sub(p, *point), *normal) < 0.0 {
                        return false;
                    }
                }
                let l = frame.to_local(p);
                l[1] <= *v_max_mm
                    && ipow(l[0].abs() / radii_mm[0], *exp) + ipow(l[1].abs() / radii_mm[1], *exp)
                        <= 1.0
            }
            Shape::Profile {
                frame,
                half_u_mm,
                half_width_mm,
                height_mm,
                apex,
                base,
                linear_base,
            } => {
                let l = frame.to_local(p);
                if l[0].abs() > *half_u_mm {
                    return false;
                }
                profile_factor(l[2] / height_mm + 0.5, *apex, *base, *linear_base)
                    .is_some_and(|f| l[1].abs() <= half_width_mm * f)
            }
            Shape::Intersection(a, b) => a.contains(p) && b.contains(p),
        }
    }

    /// A box that contains the shape (loose for rotated shapes).
    pub fn aabb(&self) -> Aabb {
        let mut bb = Aabb::empty();
        match self {
            Shape::SuperQuadric {
                frame, radii_mm, ..
            } => oriented_box(&mut bb, frame, *radii_mm),
            Shape::Capsule { a, b, radius_mm } => {
                bb.include(*a);
                bb.include(*b);
                bb = bb.grown(*radius_mm);
            }
            Shape::Slab {
                frame,
                radii_mm,
                half_height_mm,
                ..
            } => oriented_box(&mut bb, frame, [radii_mm[0], radii_mm[1], *half_height_mm]),
            Shape::Profile {
                frame,
                half_u_mm,
                half_width_mm,
                height_mm,
                ..
            } => oriented_box(
                &mut bb,
                frame,
                [*half_u_mm, *half_width_mm, 0.5 * height_mm],
            ),
            Shape::Intersection(a, b) => {
                let (a, b) = (a.aabb(), b.aabb());
                bb = Aabb {
                    min: [0, 1, 2].map(|k| a.min[k].max(b.min[k])),
                    max: [0, 1, 2].map(|k| a.max[k].min(b.max[k])),
                };
            }
        }
        bb
    }

    /// Corners of a box holding the shape, oriented with the shape's frame.
    pub fn box_corners(&self) -> Vec<Vec3> {
        match self {
            Shape::SuperQuadric {
                frame, radii_mm, ..
            } => {
                let mut out = Vec::with_capacity(8);
                for su in [-1.0, 1.0] {
                    for sv in [-1.0, 1.0] {
                        for sw in [-1.0, 1.0] {
                            out.push(frame.to_world([
                                su * radii_mm[0],
                                sv * radii_mm[1],
                                sw * radii_mm[2],
                            ]));
                        }
                    }
                }
                out
            }
            Shape::Profile {
                frame,
                half_u_mm,
                half_width_mm,
                height_mm,
                ..
            } => Shape::SuperQuadric {
                frame: *frame,
                radii_mm: [*half_u_mm, *half_width_mm, 0.5 * height_mm],
                exps: [0, 0, 0],
                v_max_mm: f64::INFINITY,
            }
            .box_corners(),
            _ => self.aabb().corners().to_vec(),
        }
    }
}

fn oriented_box(bb: &mut Aabb, frame: &Frame, half: Vec3) {
    for su in [-1.0, 1.0] {
        for sv in [-1.0, 1.0] {
            for sw in [-1.0, 1.0] {
                bb.include(frame.to_world([su * half[0], sv * half[1], sw * half[2]]));
            }
        }
    }
}

/// A rectangle of a plane, sampled on a regular grid: `origin + s·s_dir + r·r_dir`
/// for `s` in `s_range_mm`, `r` in `r_range_mm`.
#[derive(Debug, Clone, Copy)]
pub struct PlaneWindow {
    pub origin: Vec3,
    pub s_dir: Vec3,
    pub r_dir: Vec3,
    pub s_range_mm: [f64; 2],
    pub r_range_mm: [f64; 2],
}

impl PlaneWindow {
    /// Grid point centres at `step_mm` (midpoint rule): calls `f(s, r, point)` for
    /// each. Returns the cell area in mm².
    pub fn for_each_point(&self, step_mm: f64, mut f: impl FnMut(f64, f64, Vec3)) -> f64 {
        let ns = ((self.s_range_mm[1] - self.s_range_mm[0]) / step_mm)
            .ceil()
            .max(0.0) as usize;
        let nr = ((self.r_range_mm[1] - self.r_range_mm[0]) / step_mm)
            .ceil()
            .max(0.0) as usize;
        for i in 0..nr {
            let r = self.r_range_mm[0] + (i as f64 + 0.5) * step_mm;
            let row0 = add(self.origin, scale(self.r_dir, r));
            for j in 0..ns {
                let s = self.s_range_mm[0] + (j as f64 + 0.5) * step_mm;
                f(s, r, add(row0, scale(self.s_dir, s)));
            }
        }
        step_mm * step_mm
    }

    /// Box holding the window (a flat rectangle in space).
    pub fn aabb(&self) -> Aabb {
        let mut bb = Aabb::empty();
        for s in self.s_range_mm {
            for r in self.r_range_mm {
                bb.include(add(
                    self.origin,
                    add(scale(self.s_dir, s), scale(self.r_dir, r)),
                ));
            }
        }
        bb
    }

    /// Area (mm²) of `{p in window : inside(p)}` by midpoint-rule supersampling.
    pub fn area_mm2(&self, step_mm: f64, inside: impl Fn(Vec3) -> bool) -> f64 {
        let mut n = 0usize;
        let cell = self.for_each_point(step_mm, |_, _, p| n += inside(p) as usize);
        n as f64 * cell
    }

    /// The window of the plane through `origin` spanned by `s_dir`, `r_dir` that covers
    /// the projection of `bb`, or `None` when the plane misses the box.
    pub fn covering(origin: Vec3, s_dir: Vec3, r_dir: Vec3, bb: &Aabb) -> Option<PlaneWindow> {
        PlaneWindow::covering_points(origin, s_dir, r_dir, &bb.corners())
    }

    /// As [`PlaneWindow::covering`], for the convex hull of `corners` (e.g. the 8
    /// corners of an oriented box: a tighter window than its axis-aligned box).
    pub fn covering_points(
        origin: Vec3,
        s_dir: Vec3,
        r_dir: Vec3,
        corners: &[Vec3],
    ) -> Option<PlaneWindow> {
        let n = cross(s_dir, r_dir);
        let (mut dmin, mut dmax) = (f64::INFINITY, f64::NEG_INFINITY);
        let (mut s0, mut s1, mut r0, mut r1) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for &c in corners {
            let d = sub(c, origin);
            let (dn, ds, dr) = (dot(d, n), dot(d, s_dir), dot(d, r_dir));
            dmin = dmin.min(dn);
            dmax = dmax.max(dn);
            s0 = s0.min(ds);
            s1 = s1.max(ds);
            r0 = r0.min(dr);
            r1 = r1.max(dr);
        }
        (dmin <= 0.0 && dmax >= 0.0).then_some(PlaneWindow {
            origin,
            s_dir,
            r_dir,
            s_range_mm: [s0, s1],
            r_range_mm: [r0, r1],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::geometry::normalize;

    #[test]
    fn supersampled_ellipse_area_matches_pi_a_b() {
        // Elliptic cylinder along x with semi-axes 7 mm (y) and 4.5 mm (z), cut by a plane
        // tilted 20° about z: the section is an ellipse of area π·a·b / cos(20°).
        let (a, b) = (7.0, 4.5);
        let cyl = Shape::SuperQuadric {
            frame: Frame::aligned([3.0, -2.0, 10.0]),
            radii_mm: [1e6, a, b],
            exps: [2, 2, 2],
            v_max_mm: f64::INFINITY,
        };
        let tilt = 20f64.to_radians();
        let normal = [tilt.cos(), tilt.sin(), 0.0];
        let s_dir = normalize(cross([0.0, 0.0, 1.0], normal)).unwrap();
        let r_dir = cross(normal, s_dir);
        let bb = Aabb {
            min: [-20.0, -20.0, -5.0],
            max: [20.0, 20.0, 25.0],
        };
        let w = PlaneWindow::covering([3.0, -2.0, 10.0], s_dir, r_dir, &bb).unwrap();
        let area = w.area_mm2(0.05, |p| cyl.contains(p));
        let expected = std::f64::consts::PI * a * b / tilt.cos();
        assert!((area / expected - 1.0).abs() < 0.01, "{area} vs {expected}");
    }

    #[test]
    fn capsule_and_slab_inside_tests() {
        let c = Shape::Capsule {
            a: [0.0, 0.0, 0.0],
            b: [10.0, 0.0, 0.0],
            radius_mm: 2.0,
        };
        assert!(c.contains([5.0, 1.9, 0.0]));
        assert!(!c.contains([5.0, 2.1, 0.0]));
        assert!(c.contains([11.9, 0.0, 0.0]));
        assert!(!c.contains([12.1, 0.0, 0.0]));
        let s = Shape::Slab {
            frame: Frame::aligned([0.0; 3]),
            radii_mm: [10.0, 5.0],
            exp: 2,
            v_max_mm: 3.0,
            half_height_mm: 5.0,
            planes: [
                ([0.0, 0.0, -2.0], [0.0, 0.0, 1.0]),
                ([0.0, 0.0, 2.0], [0.0, 0.0, -1.0]),
            ],
        };
        assert!(s.contains([0.0, 2.9, 1.9]));
        assert!(!s.contains([0.0, 3.1, 0.0]), "cut by v_max");
        assert!(!s.contains([0.0, 0.0, 2.1]), "outside the upper plane");
        assert!(s.aabb().contains([9.0, -4.0, 4.0]));
    }

    #[test]
    fn profile_shapes_have_their_drawn_width_profile_and_area() {
        // Oval: an ellipse of half-axes 4.5 (v) and 8 (w): area π·4.5·8.
        let oval = Shape::Profile {
            frame: Frame::aligned([0.0; 3]),
            half_u_mm: 5.0,
            half_width_mm: 4.5,
            height_mm: 16.0,
            apex: 0.5,
            base: 0.0,
            linear_base: false,
        };
        let w = PlaneWindow::covering(
            [0.0; 3],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, -1.0],
            &oval.aabb().grown(1.0),
        )
        .unwrap();
        let area = w.area_mm2(0.02, |p| oval.contains(p));
        let expected = std::f64::consts::PI * 4.5 * 8.0;
        assert!(
            (area / expected - 1.0).abs() < 0.005,
            "{area} vs {expected}"
        );
        assert!(!oval.contains([5.1, 0.0, 0.0]), "cut at |u| = 5");
        // Teardrop with a linear base: full width at s = apex (w = 0.3 · 20 - 10 = -4),
        // base 0.25 of it at the bottom (s = 0.1 → 0.25 + 0.75 · (1 - (0.6 - 0.1)/0.6)).
        let tear = Shape::Profile {
            frame: Frame::aligned([0.0; 3]),
            half_u_mm: 5.0,
            half_width_mm: 4.0,
            height_mm: 20.0,
            apex: 0.6,
            base: 0.25,
            linear_base: true,
        };
        assert!(tear.contains([0.0, 3.99, 2.0]) && !tear.contains([0.0, 4.01, 2.0]));
        let f = 0.25 + 0.75 * (1.0 - 0.5 / 0.6);
        assert!(tear.contains([0.0, 4.0 * f - 0.01, -8.0]));
        assert!(!tear.contains([0.0, 4.0 * f + 0.01, -8.0]));
        assert!(!tear.contains([0.0, 0.0, -10.01]) && !tear.contains([0.0, 0.0, 10.01]));
        // Concave profile: the midpoint of two inside points is inside.
        let pts = [
            [0.0, 3.0, 1.0],
            [0.0, -1.0, -9.0],
            [4.0, 0.5, 9.0],
            [-4.0, -2.0, -3.0],
        ];
        for a in pts {
            for b in pts {
                if tear.contains(a) && tear.contains(b) {
                    assert!(tear.contains(scale(add(a, b), 0.5)));
                }
            }
        }
    }

    #[test]
    fn intersection_holds_points_in_both_and_a_tight_box() {
        let a = Shape::Capsule {
            a: [0.0; 3],
            b: [10.0, 0.0, 0.0],
            radius_mm: 2.0,
        };
        let b = Shape::SuperQuadric {
            frame: Frame::aligned([0.0, 0.0, -5.0]),
            radii_mm: [100.0, 100.0, 5.0],
            exps: [0, 0, 0],
            v_max_mm: f64::INFINITY,
        };
        let i = Shape::Intersection(Box::new(a), Box::new(b));
        assert!(i.contains([5.0, 0.0, -1.0]) && !i.contains([5.0, 0.0, 1.0]));
        assert!(!i.contains([5.0, 0.0, -2.5]));
        let bb = i.aabb();
        assert_eq!(bb.max[2], 0.0);
        assert_eq!(bb.min[0], -2.0);
    }

    #[test]
    fn turning_a_frame_keeps_it_orthonormal_and_right_handed() {
        let f = Frame::aligned([1.0, 2.0, 3.0])
            .turned(0, 0.3)
            .turned(1, -0.2)
            .turned(2, 0.1);
        let n = cross(f.axes[0], f.axes[1]);
        assert!(n.iter().zip(f.axes[2]).all(|(a, b)| (a - b).abs() < 1e-12));
        let p = [4.0, -5.0, 6.0];
        let back = f.to_world(f.to_local(p));
        assert!((0..3).all(|k| (back[k] - p[k]).abs() < 1e-12));
        // Turning about u by +θ tilts w toward -v (anterior), like Rx(θ).
        let g = Frame::aligned([0.0; 3]).turned(0, 0.5);
        assert!((g.axes[2][1] + 0.5f64.sin()).abs() < 1e-12);
    }
}
