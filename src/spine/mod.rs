//! Spine analysis: canonical sagittal frame, disc and vertebra localisation, level
//! labelling. Pure functions of a [`crate::volume::Volume`]; nothing here prints or
//! parses flags.

pub mod canonical;
pub mod discs;
pub mod filters;
pub mod foramen;
pub mod levels;
