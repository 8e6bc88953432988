//! # foramen
//!
//! Reads lumbar-spine sagittal DICOM series (MR and CT), finds the intervertebral
//! levels, segments the left and right neural foramina and measures them.
//!
//! **Research use only.** Every output is automated research output, not a diagnosis,
//! and requires clinical correlation.
//!
//! Data flows one way: [`dicom`] (find and read files) → [`series`] (group and
//! classify) → [`volume`] (voxels with patient geometry) → analysis → report.
//!
//! ```no_run
//! use std::path::PathBuf;
//! let found = foramen::dicom::discover(&[PathBuf::from("fixtures/phantom")], &|| {});
//! for s in foramen::series::group_series(found.instances) {
//!     println!("{} {} usable={}", s.series_instance_uid, s.modality, s.usable);
//! }
//! ```

pub mod atomic_file;
pub mod cohort;
pub mod dicom;
#[doc(hidden)]
pub mod fuzz_harness;
pub mod grading;
pub mod imageops;
pub mod phantom;
pub mod pipeline;
pub mod report;
pub mod selection;
pub mod series;
pub mod serve;
pub mod spine;
pub mod volume;
pub mod volume_file;

/// The sentence every report, image and DICOM object carries.
pub const DISCLAIMER: &str =
    "Automated research output, not a diagnosis: requires clinical correlation.";

/// Implementation Class UID written in the file meta of every DICOM file we create.
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.186376516745396287446512633839741650563";
/// Implementation Version Name (SH, at most 16 characters).
pub const IMPLEMENTATION_VERSION_NAME: &str = concat!(
    "FORAMEN_",
    env!("CARGO_PKG_VERSION_MAJOR"),
    "_",
    env!("CARGO_PKG_VERSION_MINOR")
);
