//! Research volume files: NIfTI-1 (`.nii`, `.nii.gz`) and MetaImage (`.mha`, `.mhd`
//! with its data file) read into a [`Volume`] with exact patient geometry.
//!
//! Both formats describe voxel `(i, j, k)` (i fastest on disk) by an affine map to
//! physical space; [`orient`] turns that into the project's `[slice, row, column]`
//! layout in DICOM LPS millimetres. Modality and MR weighting come from the caller,
//! else from a BIDS sidecar JSON next to the file, else (modality only) from the
//! voxel values, and the result says which.

pub mod malformed;
pub mod metaimage;
pub mod nifti;
pub mod orient;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::dicom::MrTiming;
use crate::dicom::assemble::MAX_VOXELS;
use crate::series::infer_weighting;
use crate::volume::Weighting;
use crate::volume::{Modality, Plane, Vec3, Volume};

/// Why a volume file cannot be read. Every variant names its reason; none is a panic.
#[derive(Debug, thiserror::Error)]
pub enum VolumeFileError {
    #[error("{path}: cannot read file: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: unknown volume file extension (expected .nii, .nii.gz, .mha or .mhd; DICOM goes through the folder reader)"
    )]
    UnknownExtension { path: PathBuf },
    #[error("{path}: not a NIfTI-1 file: {reason}")]
    NotNifti { path: PathBuf, reason: String },
    #[error("{path}: unsupported {format} variant: {reason}")]
    UnsupportedVariant {
        path: PathBuf,
        format: &'static str,
        reason: String,
    },
    #[error("{path}: {codec} stream is truncated (file cut short?)")]
    TruncatedCompression { path: PathBuf, codec: &'static str },
    #[error("{path}: compressed data is corrupt: {message}")]
    CorruptCompression { path: PathBuf, message: String },
    #[error(
        "{path}: header promises {expected} bytes of voxel data but the file holds only {found}"
    )]
    DataSizeMismatch {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error("{path}: invalid dimensions: {reason}")]
    BadDimensions { path: PathBuf, reason: String },
    #[error(
        "{path}: {nx} x {ny} x {nz} voxels exceed the limit of {limit}",
        limit = MAX_VOXELS
    )]
    TooLarge {
        path: PathBuf,
        nx: u64,
        ny: u64,
        nz: u64,
    },
    #[error(
        "{path}: 4-D data ({volumes} volumes, e.g. a time series or several echoes): extract one 3-D volume first"
    )]
    FourD { path: PathBuf, volumes: u64 },
    #[error("{path}: not a scalar image ({what}): only grey-scale volumes are measured")]
    NonScalar { path: PathBuf, what: String },
    #[error("{path}: unknown voxel data type {code}")]
    UnknownDatatype { path: PathBuf, code: String },
    #[error("{path}: unsupported voxel data type {name}")]
    UnsupportedDatatype { path: PathBuf, name: &'static str },
    #[error(
        "{path}: no patient orientation: sform_code and qform_code are both 0, so voxel positions are unknown (refusing to guess)"
    )]
    NoOrientation { path: PathBuf },
    #[error("{path}: invalid geometry: {reason}")]
    InvalidGeometry { path: PathBuf, reason: String },
    #[error(
        "{path}: {count} of {total} voxels are NaN or infinite (more than 0.1%): masked or corrupt data"
    )]
    NonFinite {
        path: PathBuf,
        count: usize,
        total: usize,
    },
    #[error("{path}: invalid header: {reason}")]
    BadHeader { path: PathBuf, reason: String },
    #[error("{path}: voxel data file {data} is missing or unreadable: {source}")]
    MissingDataFile {
        path: PathBuf,
        data: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl VolumeFileError {
    /// Stable snake_case name of the variant (for reports, corpora and exit reasons).
    pub fn kind(&self) -> &'static str {
        match self {
            VolumeFileError::Unreadable { .. } => "unreadable",
            VolumeFileError::UnknownExtension { .. } => "unknown_extension",
            VolumeFileError::NotNifti { .. } => "not_nifti",
            VolumeFileError::UnsupportedVariant { .. } => "unsupported_variant",
            VolumeFileError::TruncatedCompression { .. } => "truncated_compression",
            VolumeFileError::CorruptCompression { .. } => "corrupt_compression",
            VolumeFileError::DataSizeMismatch { .. } => "data_size_mismatch",
            VolumeFileError::BadDimensions { .. } => "bad_dimensions",
            VolumeFileError::TooLarge { .. } => "too_large",
            VolumeFileError::FourD { .. } => "four_d",
            VolumeFileError::NonScalar { .. } => "non_scalar",
            VolumeFileError::UnknownDatatype { .. } => "unknown_datatype",
            VolumeFileError::UnsupportedDatatype { .. } => "unsupported_datatype",
            VolumeFileError::NoOrientation { .. } => "no_orientation",
            VolumeFileError::InvalidGeometry { .. } => "invalid_geometry",
            VolumeFileError::NonFinite { .. } => "non_finite",
            VolumeFileError::BadHeader { .. } => "bad_header",
            VolumeFileError::MissingDataFile { .. } => "missing_data_file",
        }
    }

    /// One-line message including the source chain.
    pub fn message(&self) -> String {
        crate::dicom::error_chain(self)
    }
}

/// File format of a research volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeFormat {
    Nifti,
    MetaImage,
}

impl VolumeFormat {
    /// The format named by a path's extension (case-insensitive), if any.
    pub fn from_path(path: &Path) -> Option<VolumeFormat> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        if name.ends_with(".nii") || name.ends_with(".nii.gz") {
            Some(VolumeFormat::Nifti)
        } else if name.ends_with(".mha") || name.ends_with(".mhd") {
            Some(VolumeFormat::MetaImage)
        } else {
            None
        }
    }
}

/// A volume read from a research file, with where its modality and weighting came from.
#[derive(Debug, Clone)]
pub struct ResearchVolume {
    pub volume: Volume,
    pub source: PathBuf,
    pub format: VolumeFormat,
    /// True when the modality was inferred from the voxel values (no argument, no sidecar).
    pub modality_guessed: bool,
    /// Where the modality came from, for the report.
    pub modality_basis: String,
    /// MR weighting (`None` for CT); `Some(Weighting::Unknown)` when nothing said.
    pub weighting: Option<Weighting>,
    pub weighting_basis: String,
    /// Plane of the thickest voxel axis when it is clearly thicker than the others (a 2-D
    /// acquisition's slice direction); `None` for near-isotropic data. The volume itself
    /// is always laid out as sagittal-most slices (see [`orient`]), so a caller that
    /// refuses e.g. axial MR must look here, not at `volume.geometry.plane()`.
    pub acquisition_plane: Option<Plane>,
    /// Non-fatal observations (assumed units, replaced voxels, scaling applied...).
    pub notes: Vec<String>,
}

/// Voxels in file order (`i` fastest) and the affine that places them.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// `nx * ny * nz` values, index `i + nx * (j + ny * k)`, physical units applied.
    pub values: Vec<f32>,
    /// `[nx, ny, nz]`.
    pub dims: [usize; 3],
    /// Patient LPS mm of the centre of voxel (0, 0, 0).
    pub origin_lps: Vec3,
    /// LPS mm step for one voxel along i, j and k (direction × spacing).
    pub axes_lps: [Vec3; 3],
    pub notes: Vec<String>,
}

/// Voxels whose value is NaN/inf tolerated (replaced) before refusing: 1 in 1000.
const MAX_NON_FINITE_FRACTION: f64 = 1e-3;

/// Checks `[nx, ny, nz]` against [`MAX_VOXELS`]; returns the voxel count.
pub(crate) fn check_voxel_count(path: &Path, dims: [u64; 3]) -> Result<usize, VolumeFileError> {
    let total = dims[0]
        .checked_mul(dims[1])
        .and_then(|v| v.checked_mul(dims[2]));
    match total {
        Some(t) if t <= MAX_VOXELS as u64 => Ok(t as usize),
        _ => Err(VolumeFileError::TooLarge {
            path: path.to_path_buf(),
            nx: dims[0],
            ny: dims[1],
            nz: dims[2],
        }),
    }
}

/// Maps an I/O error while decoding a `codec` stream (`None`: not compressed).
pub(crate) fn stream_error(
    path: &Path,
    codec: Option<&'static str>,
    e: std::io::Error,
) -> VolumeFileError {
    use std::io::ErrorKind;
    match (codec, e.kind()) {
        (Some(codec), ErrorKind::UnexpectedEof) => VolumeFileError::TruncatedCompression {
            path: path.to_path_buf(),
            codec,
        },
        (Some(_), ErrorKind::InvalidInput | ErrorKind::InvalidData) => {
            VolumeFileError::CorruptCompression {
                path: path.to_path_buf(),
                message: e.to_string(),
            }
        }
        _ => VolumeFileError::Unreadable {
            path: path.to_path_buf(),
            source: e,
        },
    }
}

/// Voxel storage types shared by both formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sample {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
}

impl Sample {
    pub(crate) fn size(self) -> usize {
        match self {
            Sample::U8 | Sample::I8 => 1,
            Sample::U16 | Sample::I16 => 2,
            Sample::U32 | Sample::I32 | Sample::F32 => 4,
            Sample::U64 | Sample::I64 | Sample::F64 => 8,
        }
    }
}

/// Decodes raw samples to f32. `bytes.len()` must be a multiple of the sample size.
pub(crate) fn decode_samples(bytes: &[u8], sample: Sample, big_endian: bool) -> Vec<f32> {
    macro_rules! conv {
        ($t:ty, $n:expr) => {
            bytes
                .chunks_exact($n)
                .map(|c| {
                    let a: [u8; $n] = c.try_into().unwrap_or([0; $n]);
                    (if big_endian {
                        <$t>::from_be_bytes(a)
                    } else {
                        <$t>::from_le_bytes(a)
                    }) as f32
                })
                .collect()
        };
    }
    match sample {
        Sample::U8 => bytes.iter().map(|&b| b as f32).collect(),
        Sample::I8 => bytes.iter().map(|&b| b as i8 as f32).collect(),
        Sample::U16 => conv!(u16, 2),
        Sample::I16 => conv!(i16, 2),
        Sample::U32 => conv!(u32, 4),
        Sample::I32 => conv!(i32, 4),
        Sample::U64 => conv!(u64, 8),
        Sample::I64 => conv!(i64, 8),
        Sample::F32 => conv!(f32, 4),
        Sample::F64 => conv!(f64, 8),
    }
}

/// Refuses data with many NaN/inf voxels; replaces a few (at most 0.1%) by the lowest
/// finite value (background), with a note. The analysis treats NaN as "outside the
/// volume", so letting them through would silently punch holes in the anatomy.
pub(crate) fn check_finite(
    path: &Path,
    values: &mut [f32],
    notes: &mut Vec<String>,
) -> Result<(), VolumeFileError> {
    let total = values.len();
    let count = values.iter().filter(|v| !v.is_finite()).count();
    if count == 0 {
        return Ok(());
    }
    if count as f64 > MAX_NON_FINITE_FRACTION * total as f64 || count == total {
        return Err(VolumeFileError::NonFinite {
            path: path.to_path_buf(),
            count,
            total,
        });
    }
    let min = values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f32::INFINITY, f32::min);
    for v in values.iter_mut().filter(|v| !v.is_finite()) {
        *v = min;
    }
    notes.push(format!(
        "{count} NaN/infinite voxels replaced by the lowest value ({min})"
    ));
    Ok(())
}

/// CT when at least 1% of voxels are below -500 (air in Hounsfield units) and some
/// exceed 1000 (cortical bone); MR magnitudes are never that negative.
pub fn looks_like_ct(values: &[f32]) -> bool {
    let below = values.iter().filter(|v| **v < -500.0).count();
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    !values.is_empty() && below as f64 >= 0.01 * values.len() as f64 && max > 1000.0
}

/// What a BIDS-style sidecar JSON (`<stem>.json`, as dcm2niix writes) says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sidecar {
    pub modality: Option<Modality>,
    pub description: String,
    pub timing: MrTiming,
}

/// The file name without its volume extension: `a/sub-01_T2w.nii.gz` → `sub-01_T2w`.
pub fn file_stem(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    for ext in [".nii.gz", ".nii", ".mha", ".mhd"] {
        if lower.ends_with(ext) {
            return name[..name.len() - ext.len()].to_string();
        }
    }
    name
}

/// Reads `<stem>.json` beside `path`. `Ok(None)` when there is none; an unparsable
/// sidecar is reported as a note by the caller.
pub fn read_sidecar(path: &Path) -> Result<Option<Sidecar>, String> {
    let json_path = path.with_file_name(format!("{}.json", file_stem(path)));
    let text = match std::fs::read(&json_path) {
        Ok(t) if t.len() <= 4 << 20 => t,
        Ok(_) => {
            return Err(format!(
                "{}: sidecar over 4 MiB ignored",
                json_path.display()
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", json_path.display())),
    };
    let v: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| format!("{}: not valid JSON: {e}", json_path.display()))?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").trim();
    // BIDS times are in seconds; the weighting rules use milliseconds.
    let ms = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_f64())
            .filter(|x| x.is_finite() && *x > 0.0)
            .map(|x| x * 1000.0)
    };
    let description = [s("SeriesDescription"), s("ProtocolName")]
        .into_iter()
        .filter(|d| !d.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let join = |k: &str| match v.get(k) {
        Some(serde_json::Value::Array(a)) => Some(
            a.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join("\\"),
        ),
        Some(serde_json::Value::String(x)) => Some(x.clone()),
        _ => None,
    };
    Ok(Some(Sidecar {
        modality: Modality::from_code(s("Modality")),
        description,
        timing: MrTiming {
            repetition_time_ms: ms("RepetitionTime"),
            echo_time_ms: ms("EchoTime"),
            inversion_time_ms: ms("InversionTime"),
            scanning_sequence: join("ScanningSequence"),
            sequence_variant: join("SequenceVariant"),
            sequence_name: join("SequenceName"),
        },
    }))
}

/// Reads a NIfTI or MetaImage volume (by extension). `modality` and `weighting`, when
/// given, override anything the file or its sidecar say.
pub fn read_volume(
    path: &Path,
    modality: Option<Modality>,
    weighting: Option<Weighting>,
) -> Result<ResearchVolume, VolumeFileError> {
    let format =
        VolumeFormat::from_path(path).ok_or_else(|| VolumeFileError::UnknownExtension {
            path: path.to_path_buf(),
        })?;
    let decoded = match format {
        VolumeFormat::Nifti => nifti::read_nifti(path)?,
        VolumeFormat::MetaImage => metaimage::read_metaimage(path)?,
    };
    let mut notes = decoded.notes.clone();
    let sidecar = match read_sidecar(path) {
        Ok(s) => s,
        Err(e) => {
            notes.push(format!("sidecar ignored: {e}"));
            None
        }
    };
    let (modality, modality_guessed, modality_basis) = match (modality, &sidecar) {
        (Some(m), _) => (m, false, "given by the caller".to_string()),
        (
            None,
            Some(Sidecar {
                modality: Some(m), ..
            }),
        ) => (*m, false, "sidecar JSON Modality".to_string()),
        _ => {
            let ct = looks_like_ct(&decoded.values);
            let m = if ct { Modality::CT } else { Modality::MR };
            let why = if ct {
                "guessed from the voxel values (air below -500 and bone above 1000: Hounsfield units)"
            } else {
                "guessed from the voxel values (no Hounsfield-like air and bone)"
            };
            (m, true, why.to_string())
        }
    };
    let (weighting, weighting_basis) = match (modality, weighting) {
        (Modality::CT, _) => (None, "CT".to_string()),
        (Modality::MR, Some(w)) => (Some(w), "given by the caller".to_string()),
        (Modality::MR, None) => {
            // The file name counts as a description: BIDS suffixes (_T1w, _T2w) and
            // names like t2_lumbar say what the sequence was.
            let stem = file_stem(path);
            let (desc, timing) = match &sidecar {
                Some(s) => (format!("{} {stem}", s.description), s.timing.clone()),
                None => (stem, MrTiming::default()),
            };
            let (w, basis) = infer_weighting(&desc, &timing);
            let basis = if basis.starts_with("series description") {
                format!("file name / sidecar description {desc:?}")
            } else if sidecar.is_some() {
                format!("sidecar timing: {basis}")
            } else {
                "nothing in the file name or a sidecar".to_string()
            };
            (Some(w), basis)
        }
    };
    let oriented = orient::to_volume(path, decoded, modality)?;
    notes.extend(oriented.notes);
    Ok(ResearchVolume {
        volume: oriented.volume,
        source: path.to_path_buf(),
        format,
        modality_guessed,
        modality_basis,
        weighting,
        weighting_basis,
        acquisition_plane: oriented.acquisition_plane,
        notes,
    })
}

#[cfg(test)]
pub(crate) mod test_support {
    pub use super::malformed::{NiftiSpec, gzip, i16_bytes};
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn ct_guess_needs_air_and_bone() {
        let mut v = vec![40.0f32; 1000];
        assert!(!looks_like_ct(&v));
        v[..20].fill(-1000.0);
        assert!(!looks_like_ct(&v), "air without bone");
        v[500] = 1500.0;
        assert!(looks_like_ct(&v));
        v[..20].fill(0.0);
        v[..5].fill(-1000.0);
        assert!(!looks_like_ct(&v), "0.5% air is not enough");
    }

    #[test]
    fn stems_drop_volume_extensions() {
        assert_eq!(file_stem(Path::new("/a/sub-01_T2w.nii.gz")), "sub-01_T2w");
        assert_eq!(file_stem(Path::new("x.MHA")), "x");
        assert_eq!(file_stem(Path::new("x.nii")), "x");
    }

    #[test]
    fn finite_check_replaces_a_few_and_refuses_many() {
        let p = Path::new("x.nii");
        let mut v = vec![5.0f32; 2000];
        v[3] = f32::NAN;
        v[7] = 2.0;
        let mut notes = Vec::new();
        check_finite(p, &mut v, &mut notes).unwrap();
        assert_eq!(v[3], 2.0);
        assert_eq!(notes.len(), 1);
        let mut v = vec![5.0f32; 2000];
        v[..3].fill(f32::INFINITY);
        assert!(matches!(
            check_finite(p, &mut v, &mut notes),
            Err(VolumeFileError::NonFinite {
                count: 3,
                total: 2000,
                ..
            })
        ));
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// 4 x 3 x 2 int16 volume with values `v`.
    fn tiny(v: impl Fn(usize) -> i16) -> Vec<u8> {
        NiftiSpec::default().file(&i16_bytes((0..24).map(v)))
    }

    #[test]
    fn modality_and_weighting_sources_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "sub-01_T1w.nii", &tiny(|i| i as i16));
        // Nothing but the values and the BIDS suffix.
        let r = read_volume(&p, None, None).unwrap();
        assert_eq!(r.volume.modality, Modality::MR);
        assert!(r.modality_guessed);
        assert_eq!(r.weighting, Some(Weighting::T1));
        // A sidecar: its Modality wins over the guess, its timing over nothing.
        let p = write(dir.path(), "scan.nii", &tiny(|i| i as i16));
        write(
            dir.path(),
            "scan.json",
            br#"{"Modality": "MR", "EchoTime": 0.1, "RepetitionTime": 3.5}"#,
        );
        let r = read_volume(&p, None, None).unwrap();
        assert!(!r.modality_guessed);
        assert_eq!(r.weighting, Some(Weighting::T2), "{}", r.weighting_basis);
        // Explicit arguments win over everything.
        let r = read_volume(&p, Some(Modality::MR), Some(Weighting::PD)).unwrap();
        assert_eq!(r.weighting, Some(Weighting::PD));
        let r = read_volume(&p, Some(Modality::CT), None).unwrap();
        assert_eq!((r.volume.modality, r.weighting), (Modality::CT, None));
        // Hounsfield-like values with no other information: guessed CT.
        let p = write(
            dir.path(),
            "anon.nii",
            &tiny(|i| {
                if i < 6 {
                    -1000
                } else if i == 10 {
                    1400
                } else {
                    30
                }
            }),
        );
        let r = read_volume(&p, None, None).unwrap();
        assert_eq!(r.volume.modality, Modality::CT);
        assert!(r.modality_guessed);
        // A broken sidecar is a note, not a failure.
        write(dir.path(), "anon.json", b"{not json");
        let r = read_volume(&p, None, None).unwrap();
        assert!(r.notes.iter().any(|n| n.contains("sidecar ignored")));
    }

    #[test]
    fn unknown_extension_is_refused() {
        assert!(matches!(
            read_volume(Path::new("x.dcm"), None, None),
            Err(VolumeFileError::UnknownExtension { .. })
        ));
        assert!(matches!(
            read_volume(Path::new("/nonexistent/x.nii"), None, None),
            Err(VolumeFileError::Unreadable { .. })
        ));
    }
}
