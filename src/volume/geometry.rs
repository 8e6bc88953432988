//! Patient-space geometry of a stack of parallel image slices.
//!
//! Conventions (DICOM PS3.3 C.7.6.2): patient coordinates are LPS millimetres
//! (+x left, +y posterior, +z superior). A voxel is addressed `[slice, row, column]`.
//! `row_dir` is the direction in which the *column index* grows (first triplet of
//! ImageOrientationPatient), `col_dir` the direction in which the *row index* grows
//! (second triplet), and `normal = row_dir × col_dir` the direction in which the slice
//! index grows. Slices are always stored in ascending order along `normal`.

use serde::Serialize;

/// A 3-vector in patient LPS millimetres (or a unit direction).
pub type Vec3 = [f64; 3];

pub fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub fn cross(a: Vec3, b: Vec3) -> Vec3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

pub fn norm(a: Vec3) -> f64 {
    dot(a, a).sqrt()
}

pub fn add(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

pub fn sub(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub fn scale(a: Vec3, s: f64) -> Vec3 {
    [a[0] * s, a[1] * s, a[2] * s]
}

/// Unit vector in the direction of `a`, or `None` for a (near-)zero vector.
pub fn normalize(a: Vec3) -> Option<Vec3> {
    let n = norm(a);
    (n.is_finite() && n > 1e-9).then(|| scale(a, 1.0 / n))
}

/// Anatomical plane of a slice stack, from the angle of its normal to the patient axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Plane {
    Sagittal,
    Coronal,
    Axial,
    Oblique,
}

impl Plane {
    /// A stack is sagittal/coronal/axial when its normal lies within
    /// [`Plane::MAX_AXIS_ANGLE_DEG`] of the patient x/y/z axis (domain.md), oblique otherwise.
    pub const MAX_AXIS_ANGLE_DEG: f64 = 30.0;

    pub fn from_normal(normal: Vec3) -> Plane {
        let Some(n) = normalize(normal) else {
            return Plane::Oblique;
        };
        let cos_limit = Self::MAX_AXIS_ANGLE_DEG.to_radians().cos();
        if n[0].abs() >= cos_limit {
            Plane::Sagittal
        } else if n[1].abs() >= cos_limit {
            Plane::Coronal
        } else if n[2].abs() >= cos_limit {
            Plane::Axial
        } else {
            Plane::Oblique
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Plane::Sagittal => "sagittal",
            Plane::Coronal => "coronal",
            Plane::Axial => "axial",
            Plane::Oblique => "oblique",
        }
    }
}

impl std::fmt::Display for Plane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Geometry of a regular slice stack: voxel index ↔ patient LPS millimetres.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Geometry {
    /// Patient position (mm) of the centre of voxel `[0, 0, 0]`.
    pub origin_mm: Vec3,
    /// Unit direction of increasing column index (ImageOrientationPatient[0..3]).
    pub row_dir: Vec3,
    /// Unit direction of increasing row index (ImageOrientationPatient[3..6]).
    pub col_dir: Vec3,
    /// Unit direction of increasing slice index, `row_dir × col_dir`.
    pub normal: Vec3,
    /// Voxel spacing in mm as `[slice, row, column]`: `row` is the distance between
    /// rows (PixelSpacing[0]), `column` the distance between columns (PixelSpacing[1]).
    pub spacing_mm: Vec3,
    /// Nominal slice thickness (mm); may differ from the slice spacing (gaps or overlap).
    pub slice_thickness_mm: f64,
}

impl Geometry {
    /// Builds a geometry, orthonormalising the two in-plane directions. Returns `None`
    /// when the directions are degenerate or a spacing is not a positive finite number.
    pub fn new(
        origin_mm: Vec3,
        row_dir: Vec3,
        col_dir: Vec3,
        spacing_mm: Vec3,
        slice_thickness_mm: f64,
    ) -> Option<Geometry> {
        let r = normalize(row_dir)?;
        // Gram-Schmidt: headers are written with ~6 significant digits.
        let c = normalize(sub(col_dir, scale(r, dot(r, col_dir))))?;
        if dot(r, normalize(col_dir)?).abs() > 0.01 {
            return None;
        }
        let normal = normalize(cross(r, c))?;
        if spacing_mm.iter().any(|s| !s.is_finite() || *s <= 0.0)
            || !origin_mm.iter().all(|v| v.is_finite())
        {
            return None;
        }
        Some(Geometry {
            origin_mm,
            row_dir: r,
            col_dir: c,
            normal,
            spacing_mm,
            slice_thickness_mm,
        })
    }

    pub fn plane(&self) -> Plane {
        Plane::from_normal(self.normal)
    }

    /// Patient position (mm) of a (possibly fractional) voxel index `[slice, row, column]`.
    pub fn index_to_lps(&self, index: Vec3) -> Vec3 {
        let [k, i, j] = index;
        let [ss, sr, sc] = self.spacing_mm;
        add(
            self.origin_mm,
            add(
                scale(self.row_dir, j * sc),
                add(scale(self.col_dir, i * sr), scale(self.normal, k * ss)),
            ),
        )
    }

    /// Fractional voxel index `[slice, row, column]` of a patient position (mm).
    /// Exact inverse of [`Geometry::index_to_lps`] because the axes are orthonormal.
    pub fn lps_to_index(&self, p: Vec3) -> Vec3 {
        let d = sub(p, self.origin_mm);
        let [ss, sr, sc] = self.spacing_mm;
        [
            dot(d, self.normal) / ss,
            dot(d, self.col_dir) / sr,
            dot(d, self.row_dir) / sc,
        ]
    }

    /// Position of slice `k` along the normal (mm), i.e. `ImagePositionPatient · normal`.
    pub fn slice_position_mm(&self, k: f64) -> f64 {
        dot(self.origin_mm, self.normal) + k * self.spacing_mm[0]
    }

    /// ImagePositionPatient (top-left voxel centre) of slice `k`.
    pub fn slice_origin_mm(&self, k: usize) -> Vec3 {
        self.index_to_lps([k as f64, 0.0, 0.0])
    }

    /// ImageOrientationPatient as six direction cosines.
    pub fn image_orientation(&self) -> [f64; 6] {
        let (r, c) = (self.row_dir, self.col_dir);
        [r[0], r[1], r[2], c[0], c[1], c[2]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sagittal() -> Geometry {
        // Typical sagittal: columns run posterior (+y), rows run inferior (-z).
        Geometry::new(
            [-20.0, -120.0, 150.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, -1.0],
            [4.0, 0.7, 0.6],
            4.0,
        )
        .unwrap()
    }

    #[test]
    fn sagittal_normal_points_along_x() {
        let g = sagittal();
        // (0,1,0) × (0,0,-1) = (-1,0,0): slices ascend toward the patient's right.
        assert_eq!(g.normal, [-1.0, 0.0, 0.0]);
        assert_eq!(g.plane(), Plane::Sagittal);
        let p = g.index_to_lps([2.0, 10.0, 5.0]);
        assert!((p[0] - (-20.0 - 8.0)).abs() < 1e-12);
        assert!((p[1] - (-120.0 + 3.0)).abs() < 1e-12);
        assert!((p[2] - (150.0 - 7.0)).abs() < 1e-12);
    }

    #[test]
    fn plane_uses_thirty_degree_cone() {
        let tilt = |deg: f64| [deg.to_radians().cos(), deg.to_radians().sin(), 0.0];
        assert_eq!(Plane::from_normal(tilt(29.0)), Plane::Sagittal);
        assert_eq!(Plane::from_normal(tilt(31.0)), Plane::Oblique);
        assert_eq!(Plane::from_normal(tilt(61.0)), Plane::Coronal);
        assert_eq!(Plane::from_normal([0.0, 0.1, -1.0]), Plane::Axial);
        assert_eq!(Plane::from_normal([0.0, 0.0, 0.0]), Plane::Oblique);
    }

    #[test]
    fn rejects_degenerate_directions_and_spacing() {
        assert!(Geometry::new([0.0; 3], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0; 3], 1.0).is_none());
        assert!(Geometry::new([0.0; 3], [0.0; 3], [0.0, 1.0, 0.0], [1.0; 3], 1.0).is_none());
        assert!(
            Geometry::new(
                [0.0; 3],
                [1.0, 0.0, 0.0],
                [0.0, 1.0, 0.0],
                [0.0, 1.0, 1.0],
                1.0
            )
            .is_none()
        );
        assert!(
            Geometry::new(
                [0.0; 3],
                [1.0, 0.0, 0.0],
                [0.0, 1.0, 0.0],
                [f64::NAN, 1.0, 1.0],
                1.0
            )
            .is_none()
        );
    }

    fn unit_vector() -> impl Strategy<Value = Vec3> {
        (0.0..std::f64::consts::TAU, -1.0f64..1.0).prop_map(|(phi, z)| {
            let r = (1.0 - z * z).sqrt();
            [r * phi.cos(), r * phi.sin(), z]
        })
    }

    proptest! {
        #[test]
        fn index_round_trips_through_patient_space(
            a in unit_vector(), b in unit_vector(),
            origin in prop::array::uniform3(-500.0f64..500.0),
            spacing in prop::array::uniform3(0.2f64..8.0),
            index in prop::array::uniform3(-5.0f64..700.0),
        ) {
            let c = cross(a, b);
            prop_assume!(norm(c) > 0.1);
            // An orthogonal pair from two random directions.
            let col = normalize(cross(c, a)).unwrap();
            let g = Geometry::new(origin, a, col, spacing, spacing[0]).unwrap();
            let back = g.lps_to_index(g.index_to_lps(index));
            for d in 0..3 {
                prop_assert!((back[d] - index[d]).abs() < 1e-7, "{back:?} vs {index:?}");
            }
            // Moving one voxel along an axis moves exactly that axis' spacing in mm.
            let p0 = g.index_to_lps(index);
            let p1 = g.index_to_lps([index[0], index[1] + 1.0, index[2]]);
            prop_assert!((norm(sub(p1, p0)) - spacing[1]).abs() < 1e-9);
            prop_assert!((dot(g.normal, g.row_dir)).abs() < 1e-9);
            prop_assert!((dot(g.normal, g.col_dir)).abs() < 1e-9);
        }
    }
}
