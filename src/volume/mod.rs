//! Voxel volumes in physical units with their patient-space geometry: the data every
//! input reader produces (DICOM: [`crate::dicom::assemble`]) and the analysis consumes.

pub mod geometry;

use ndarray::Array3;
use serde::Serialize;

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

/// MR contrast weighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Weighting {
    T1,
    T2,
    PD,
    STIR,
    Unknown,
}

impl Weighting {
    pub fn as_str(self) -> &'static str {
        match self {
            Weighting::T1 => "t1",
            Weighting::T2 => "t2",
            Weighting::PD => "pd",
            Weighting::STIR => "stir",
            Weighting::Unknown => "unknown",
        }
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
