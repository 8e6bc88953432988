//! Writing a phantom case to disk: the DICOM series and `truth.json`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{PhantomCase, PhantomOptions, PhantomPlane, Severity, Weighting};
use crate::dicom::DicomError;
use crate::dicom::write::{
    FileNaming, MrAcquisition, OutputTransferSyntax, SeriesWriteSpec, write_series,
};
use crate::volume::Modality;

/// How the files of a case are written.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct WriteOptions {
    pub transfer_syntax: OutputTransferSyntax,
    pub naming: FileNaming,
    /// Shuffle InstanceNumbers so that readers cannot rely on them.
    pub shuffle_instance_numbers: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteCaseError {
    #[error("{0}")]
    Dicom(#[from] DicomError),
    #[error("could not write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A key that identifies a case's content, so its UIDs are stable across runs.
fn case_key(opts: &PhantomOptions) -> String {
    let key = format!(
        "{:?}|{:?}|{}|{}|{:?}|{:?}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        opts.modality,
        opts.weighting,
        opts.seed,
        opts.snr,
        opts.severity,
        opts.plane,
        opts.lumbar_count,
        opts.rows,
        opts.columns,
        opts.pixel_spacing_mm,
        opts.slice_thickness_mm,
        opts.slice_gap_mm,
        opts.num_slices
    );
    // Appended only when on, so the UIDs of cases without variants stay as they were.
    if opts.variants {
        key + "|variants"
    } else {
        key
    }
}

/// Writes `dir/series/*.dcm` and `dir/truth.json`. Returns the DICOM paths.
pub fn write_case(
    case: &PhantomCase,
    opts: &PhantomOptions,
    write: &WriteOptions,
    dir: &Path,
) -> Result<Vec<PathBuf>, WriteCaseError> {
    let mut spec = SeriesWriteSpec::synthetic(&case_key(opts), &case.series_description);
    spec.series_number = match (opts.modality, opts.weighting) {
        (Modality::MR, Weighting::T1) => 3,
        (Modality::MR, Weighting::T2) => 4,
        (Modality::CT, _) => 2,
    };
    spec.patient_id = format!("PHANTOM-{}", opts.seed);
    spec.mr = case.mr_timing.as_ref().map(|t| MrAcquisition {
        repetition_time_ms: t.repetition_time_ms,
        echo_time_ms: t.echo_time_ms,
        inversion_time_ms: t.inversion_time_ms,
        flip_angle_deg: t.flip_angle_deg,
        field_strength_t: t.field_strength_t,
        echo_train_length: t.echo_train_length,
    });
    spec.transfer_syntax = write.transfer_syntax;
    spec.naming = write.naming;
    spec.shuffle_instance_numbers = write.shuffle_instance_numbers.then_some(opts.seed);
    let paths = write_series(&case.volume, &spec, &dir.join("series"))?;
    let truth_path = dir.join("truth.json");
    crate::atomic_file::write_atomic(&truth_path, |w| {
        serde_json::to_writer_pretty(&mut *w, &case.truth).map_err(std::io::Error::other)?;
        w.write_all(b"\n")
    })
    .map_err(|source| WriteCaseError::Io {
        path: truth_path,
        source,
    })?;
    Ok(paths)
}

/// Options of case `i` of a varied suite starting at `base`: cycles MR T1, MR T2, CT
/// sagittal and CT axial, all severities, SNR 8-30, and every sixth case transitional
/// (alternately 4 and 6 lumbar vertebrae).
pub fn suite_case(base: &PhantomOptions, i: usize) -> PhantomOptions {
    let mut o = base.clone();
    o.seed = base.seed.wrapping_add(i as u64);
    let (modality, weighting, plane) = match i % 4 {
        0 => (Modality::MR, Weighting::T1, PhantomPlane::Sagittal),
        1 => (Modality::MR, Weighting::T2, PhantomPlane::Sagittal),
        2 => (Modality::CT, Weighting::T1, PhantomPlane::Sagittal),
        _ => (Modality::CT, Weighting::T1, PhantomPlane::Axial),
    };
    o.modality = modality;
    o.weighting = weighting;
    o.plane = plane;
    o.severity = [
        Severity::Normal,
        Severity::Mixed,
        Severity::Severe,
        Severity::Random,
    ][(i / 4) % 4];
    // SNR from 8 to 30 in a fixed, seed-independent pattern.
    o.snr = 8.0 + ((i * 7) % 23) as f64;
    o.lumbar_count = if i % 6 == 5 {
        if (i / 6).is_multiple_of(2) { 6 } else { 4 }
    } else {
        5
    };
    o
}
