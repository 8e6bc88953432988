//! Spine analysis: canonical sagittal frame, disc and vertebra localisation, level
//! labelling, foramen segmentation and measurement. Pure functions of a
//! [`crate::volume::Volume`]; nothing here prints, parses flags or grades.
//!
//! [`analyse`] is the one way in: every caller (the pipeline driver, the evaluation
//! examples, the fuzz harness) goes through it, so an input format needs only a reader
//! that makes a `Volume`.

pub mod canonical;
pub mod discs;
pub mod filters;
pub mod foramen;
pub mod levels;

use std::time::Instant;

use crate::volume::{Modality, Volume, Weighting};
use discs::DiscContrast;
use foramen::{ForamenInput, ForamenResult, measure_foramina};
use levels::{LocalizeError, SpineModel, localize};

/// What the analysis needs besides the voxels.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnalysisOptions {
    /// MR weighting from the header (or the user); decides the expected disc contrast
    /// and how the foramen's fat is read.
    pub weighting: Option<Weighting>,
    /// Stop after the levels (level-labelling evaluations and benches).
    pub levels_only: bool,
    /// Give up between stages once this instant has passed.
    pub deadline: Option<Instant>,
}

/// Everything the analysis found in one volume.
pub struct Analysis {
    /// The working planes and the labelled discs and vertebrae.
    pub model: SpineModel,
    /// Set when the discs' contrast contradicted the header's weighting.
    pub contrast_warning: Option<String>,
    /// One result per level and side found (empty with `levels_only`).
    pub foramina: Vec<ForamenResult>,
}

#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("levels could not be found: {0}")]
    Levels(#[from] LocalizeError),
    /// The deadline passed after the named stage.
    #[error("time limit exceeded after {0}")]
    TimeLimit(&'static str),
}

/// Finds and names the levels, then segments and measures the foramina at each.
pub fn analyse(volume: &Volume, opts: &AnalysisOptions) -> Result<Analysis, AnalysisError> {
    // The opposite contrast is also tried on MR (see `localize`).
    let expected = match (volume.modality, opts.weighting) {
        (Modality::MR, Some(Weighting::T2 | Weighting::STIR)) => DiscContrast::Brighter,
        _ => DiscContrast::Darker,
    };
    let (model, contrast_warning) = localize(volume, expected)?;
    if opts.deadline.is_some_and(|d| Instant::now() > d) {
        return Err(AnalysisError::TimeLimit("finding the levels"));
    }
    let foramina = if opts.levels_only {
        Vec::new()
    } else {
        measure_foramina(&ForamenInput {
            volume,
            localization: &model.localization,
            weighting: opts.weighting,
        })
    };
    Ok(Analysis {
        model,
        contrast_warning,
        foramina,
    })
}
