//! Voxel volumes in physical units with their patient-space geometry, and their
//! assembly from the slices of a DICOM series.

pub mod assemble;
pub mod geometry;

use ndarray::Array3;
use serde::Serialize;

pub use assemble::{AssemblyError, assemble};
pub use geometry::{Geometry, Plane, Vec3};

/// Imaging modality, as far as measurement cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
pub enum Modality {
    /// Magnetic resonance: arbitrary units, contrast depends on the weighting.
    MR,
    /// Computed tomography: Hounsfield units.
    CT,
}

impl Modality {
    pub fn as_str(self) -> &'static str {
        match self {
            Modality::MR => "MR",
            Modality::CT => "CT",
        }
    }

    pub fn from_code(code: &str) -> Option<Modality> {
        match code.trim() {
            "MR" => Some(Modality::MR),
            "CT" => Some(Modality::CT),
            _ => None,
        }
    }
}

impl std::fmt::Display for Modality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stack of parallel slices in physical units (rescale slope/intercept applied:
/// Hounsfield units for CT), indexed `[slice, row, column]`.
#[derive(Debug, Clone)]
pub struct Volume {
    pub voxels: Array3<f32>,
    pub geometry: Geometry,
    pub modality: Modality,
}

impl Volume {
    /// `(slices, rows, columns)`.
    pub fn shape(&self) -> (usize, usize, usize) {
        self.voxels.dim()
    }
}
