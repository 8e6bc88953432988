//! The header attributes of one DICOM instance that grouping, classification and
//! volume assembly need, read without touching the pixel data.

use std::path::{Path, PathBuf};

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject};
use serde::Serialize;

use super::DicomError;
pub use super::precheck::PixelDataLength;
use crate::volume::Vec3;

/// Geometry of one frame (one image plane) as stated by its header.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameGeometry {
    /// ImagePositionPatient: centre of the first transmitted pixel (mm, LPS).
    pub position_mm: Option<Vec3>,
    /// ImageOrientationPatient: row then column direction cosines.
    pub orientation: Option<[f64; 6]>,
    /// PixelSpacing as `[between rows, between columns]` (mm).
    pub pixel_spacing_mm: Option<[f64; 2]>,
    pub slice_thickness_mm: Option<f64>,
    pub spacing_between_slices_mm: Option<f64>,
}

/// MR acquisition timing used to infer the contrast weighting.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MrTiming {
    pub repetition_time_ms: Option<f64>,
    pub echo_time_ms: Option<f64>,
    pub inversion_time_ms: Option<f64>,
    pub scanning_sequence: Option<String>,
    pub sequence_variant: Option<String>,
    pub sequence_name: Option<String>,
}

/// Header of one DICOM instance (possibly multi-frame).
#[derive(Debug, Clone, Serialize)]
pub struct InstanceHeader {
    pub path: PathBuf,
    pub transfer_syntax_uid: String,
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub study_instance_uid: Option<String>,
    pub series_instance_uid: Option<String>,
    pub frame_of_reference_uid: Option<String>,
    pub modality: String,
    pub series_number: Option<i64>,
    pub series_description: String,
    pub study_description: String,
    /// PatientID and AccessionNumber: kept for the report's salted keys (or verbatim
    /// with `--include-ids`), never logged.
    pub patient_id: Option<String>,
    pub accession_number: Option<String>,
    pub image_type: Vec<String>,
    pub instance_number: Option<i64>,
    pub rows: Option<u16>,
    pub columns: Option<u16>,
    pub samples_per_pixel: Option<u16>,
    pub bits_allocated: Option<u16>,
    pub bits_stored: Option<u16>,
    pub photometric_interpretation: String,
    pub number_of_frames: u32,
    /// One entry per frame (a single entry for classic single-frame instances).
    pub frames: Vec<FrameGeometry>,
    pub mr: MrTiming,
    /// What the length walk saw of PixelData (its length is checked against Rows,
    /// Columns, frames and BitsAllocated before anything is decoded).
    pub pixel_data: PixelDataLength,
    /// A NumberOfFrames below 1 as stated (`number_of_frames` then says 1).
    pub invalid_number_of_frames: Option<i64>,
}

/// Largest Rows or Columns accepted for decoding: four times the largest MR or CT
/// matrices in use (1024), and a bound on what a header can make us allocate.
pub const MAX_ROWS_COLUMNS: u16 = 4096;
/// Largest Rows × Columns × frames of one file (as for a series: 1 GiB as f32).
pub const MAX_PIXELS_PER_FILE: u64 = 1 << 28;
/// Largest NumberOfFrames accepted for decoding.
pub const MAX_FRAMES: u32 = 4096;

impl InstanceHeader {
    /// Whether the instance claims to carry a grey-scale image.
    pub fn is_image(&self) -> bool {
        self.rows.is_some() && self.columns.is_some()
    }

    /// Why the pixel data of an MR or CT instance cannot be decoded as the header
    /// describes it, checked from the header alone (nothing is allocated). Other
    /// modalities (SR, SEG, documents...) are judged at series level instead.
    pub fn storage_problem(&self) -> Option<String> {
        if !matches!(self.modality.as_str(), "MR" | "CT") {
            return None;
        }
        let has_pixels = !matches!(self.pixel_data, PixelDataLength::Absent);
        if !has_pixels && self.rows.is_none() && self.columns.is_none() {
            return None; // an MR/CT object without an image (e.g. spectroscopy, raw data)
        }
        if !has_pixels {
            return Some("image header without PixelData".into());
        }
        let (Some(rows), Some(cols)) = (self.rows, self.columns) else {
            return Some(format!(
                "{} missing",
                if self.rows.is_none() {
                    "Rows"
                } else {
                    "Columns"
                }
            ));
        };
        if rows == 0 || cols == 0 {
            return Some(format!("Rows x Columns is {rows}x{cols}"));
        }
        if rows > MAX_ROWS_COLUMNS || cols > MAX_ROWS_COLUMNS {
            return Some(format!(
                "Rows x Columns {rows}x{cols} exceeds the {MAX_ROWS_COLUMNS}x{MAX_ROWS_COLUMNS} limit"
            ));
        }
        if let Some(n) = self.invalid_number_of_frames {
            return Some(format!("NumberOfFrames {n}"));
        }
        if self.number_of_frames > MAX_FRAMES {
            return Some(format!(
                "NumberOfFrames {} exceeds the limit of {MAX_FRAMES}",
                self.number_of_frames
            ));
        }
        let pixels = u64::from(rows) * u64::from(cols) * u64::from(self.number_of_frames);
        if pixels > MAX_PIXELS_PER_FILE {
            return Some(format!(
                "{rows}x{cols} x {} frames exceeds the limit of {MAX_PIXELS_PER_FILE} pixels per file",
                self.number_of_frames
            ));
        }
        let Some(allocated) = self.bits_allocated else {
            return Some("BitsAllocated missing".into());
        };
        if !matches!(allocated, 8 | 16 | 32) {
            return Some(format!(
                "BitsAllocated {allocated} (grey-scale images use 8, 16 or 32)"
            ));
        }
        match self.bits_stored {
            None => return Some("BitsStored missing".into()),
            Some(0) => return Some("BitsStored is 0".into()),
            Some(stored) if stored > allocated => {
                return Some(format!(
                    "BitsStored {stored} exceeds BitsAllocated {allocated}"
                ));
            }
            Some(_) => {}
        }
        let samples = self.samples_per_pixel.unwrap_or(1);
        if samples == 0 || samples > 4 {
            return Some(format!("SamplesPerPixel {samples}"));
        }
        if samples != 1 && self.photometric_interpretation.starts_with("MONOCHROME") {
            return Some(format!(
                "SamplesPerPixel {samples} contradicts {}",
                self.photometric_interpretation
            ));
        }
        let encapsulated_syntax =
            super::transfer_syntax::is_encapsulated(&self.transfer_syntax_uid);
        match (self.pixel_data, encapsulated_syntax) {
            (PixelDataLength::Native(_), Some(true)) => {
                return Some(format!(
                    "transfer syntax {} is compressed but PixelData is not encapsulated",
                    super::transfer_syntax::name(&self.transfer_syntax_uid)
                ));
            }
            (PixelDataLength::Encapsulated, Some(false)) => {
                return Some(format!(
                    "PixelData is encapsulated but the transfer syntax ({}) is not",
                    super::transfer_syntax::name(&self.transfer_syntax_uid)
                ));
            }
            (PixelDataLength::Native(len), _) => {
                let need = u64::from(rows)
                    * u64::from(cols)
                    * u64::from(self.number_of_frames)
                    * u64::from(samples)
                    * u64::from(allocated / 8);
                if len < need {
                    return Some(format!(
                        "PixelData holds {len} bytes but {rows}x{cols} x {} frame(s) at {allocated} bits need {need}",
                        self.number_of_frames
                    ));
                }
            }
            _ => {}
        }
        None
    }
}

fn trimmed(s: &str) -> String {
    s.trim_matches(|c: char| c == '\0' || c.is_whitespace())
        .to_string()
}

fn get_str(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let e = obj.get(tag)?;
    // A text attribute read with VR UN (implicit VR with a private or unknown tag)
    // arrives as bytes; show it as text rather than as a list of numbers.
    let v = match e.value().primitive() {
        Some(dicom_core::PrimitiveValue::U8(bytes)) => {
            bytes.iter().map(|b| *b as char).collect::<String>()
        }
        _ => e.to_str().ok()?.into_owned(),
    };
    let t = trimmed(&v);
    (!t.is_empty()).then_some(t)
}

fn get_strs(obj: &InMemDicomObject, tag: Tag) -> Vec<String> {
    obj.get(tag)
        .and_then(|e| {
            e.to_multi_str()
                .ok()
                .map(|v| v.iter().map(|s| trimmed(s)).collect())
        })
        .unwrap_or_default()
}

fn get_f64(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    let v = obj.get(tag)?.to_multi_float64().ok()?;
    v.first().copied().filter(|x| x.is_finite())
}

fn get_f64s<const N: usize>(obj: &InMemDicomObject, tag: Tag) -> Option<[f64; N]> {
    let v = obj.get(tag)?.to_multi_float64().ok()?;
    let arr: [f64; N] = v.get(..N)?.try_into().ok()?;
    arr.iter().all(|x| x.is_finite()).then_some(arr)
}

fn get_int(obj: &InMemDicomObject, tag: Tag) -> Option<i64> {
    obj.get(tag)?.to_int::<i64>().ok()
}

fn get_u16(obj: &InMemDicomObject, tag: Tag) -> Option<u16> {
    obj.get(tag)?.to_int::<u16>().ok()
}

/// First item of sequence `tag` in `obj`.
fn first_item(obj: &InMemDicomObject, tag: Tag) -> Option<&InMemDicomObject> {
    obj.get(tag)?.items()?.first()
}

/// Looks an attribute up inside a functional group macro (`group` sequence), first in
/// the frame's own item, then in the shared item (PS3.3 C.7.6.16).
fn functional<T>(
    per_frame: Option<&InMemDicomObject>,
    shared: Option<&InMemDicomObject>,
    group: Tag,
    get: impl Fn(&InMemDicomObject) -> Option<T>,
) -> Option<T> {
    [per_frame, shared]
        .into_iter()
        .flatten()
        .find_map(|fg| first_item(fg, group).and_then(&get))
}

fn frame_geometry(
    obj: &InMemDicomObject,
    per_frame: Option<&InMemDicomObject>,
    shared: Option<&InMemDicomObject>,
) -> FrameGeometry {
    let in_groups = per_frame.is_some() || shared.is_some();
    let f = |group, g: &dyn Fn(&InMemDicomObject) -> Option<f64>| {
        functional(per_frame, shared, group, g).or_else(|| if in_groups { None } else { g(obj) })
    };
    let position_mm = functional(per_frame, shared, tags::PLANE_POSITION_SEQUENCE, |o| {
        get_f64s::<3>(o, tags::IMAGE_POSITION_PATIENT)
    })
    .or_else(|| get_f64s::<3>(obj, tags::IMAGE_POSITION_PATIENT));
    let orientation = functional(per_frame, shared, tags::PLANE_ORIENTATION_SEQUENCE, |o| {
        get_f64s::<6>(o, tags::IMAGE_ORIENTATION_PATIENT)
    })
    .or_else(|| get_f64s::<6>(obj, tags::IMAGE_ORIENTATION_PATIENT));
    let pixel_spacing_mm = functional(per_frame, shared, tags::PIXEL_MEASURES_SEQUENCE, |o| {
        get_f64s::<2>(o, tags::PIXEL_SPACING)
    })
    .or_else(|| get_f64s::<2>(obj, tags::PIXEL_SPACING));
    let slice_thickness_mm = f(tags::PIXEL_MEASURES_SEQUENCE, &|o| {
        get_f64(o, tags::SLICE_THICKNESS)
    })
    .or_else(|| get_f64(obj, tags::SLICE_THICKNESS));
    let spacing_between_slices_mm = f(tags::PIXEL_MEASURES_SEQUENCE, &|o| {
        get_f64(o, tags::SPACING_BETWEEN_SLICES)
    })
    .or_else(|| get_f64(obj, tags::SPACING_BETWEEN_SLICES));
    FrameGeometry {
        position_mm,
        orientation,
        pixel_spacing_mm,
        slice_thickness_mm,
        spacing_between_slices_mm,
    }
}

fn mr_timing(obj: &InMemDicomObject, shared: Option<&InMemDicomObject>) -> MrTiming {
    let seq_or_top = |group: Tag, tag: Tag| {
        get_f64(obj, tag).or_else(|| functional(None, shared, group, |o| get_f64(o, tag)))
    };
    MrTiming {
        repetition_time_ms: seq_or_top(
            tags::MR_TIMING_AND_RELATED_PARAMETERS_SEQUENCE,
            tags::REPETITION_TIME,
        ),
        echo_time_ms: get_f64(obj, tags::ECHO_TIME).or_else(|| {
            functional(None, shared, tags::MR_ECHO_SEQUENCE, |o| {
                get_f64(o, tags::EFFECTIVE_ECHO_TIME)
            })
        }),
        inversion_time_ms: get_f64(obj, tags::INVERSION_TIME).or_else(|| {
            functional(None, shared, tags::MR_MODIFIER_SEQUENCE, |o| {
                get_f64(o, tags::INVERSION_TIMES)
            })
        }),
        scanning_sequence: get_str(obj, tags::SCANNING_SEQUENCE),
        sequence_variant: get_str(obj, tags::SEQUENCE_VARIANT),
        sequence_name: get_str(obj, tags::SEQUENCE_NAME)
            .or_else(|| get_str(obj, tags::PULSE_SEQUENCE_NAME)),
    }
}

/// Extracts the header of an already-opened object (pixel data need not be loaded).
pub fn from_object(path: &Path, obj: &DefaultDicomObject) -> InstanceHeader {
    let meta = obj.meta();
    let ds: &InMemDicomObject = obj;
    let stated_frames = get_int(ds, tags::NUMBER_OF_FRAMES);
    let invalid_number_of_frames = stated_frames.filter(|n| *n < 1);
    let number_of_frames = stated_frames.filter(|n| *n >= 1).unwrap_or(1);
    let number_of_frames = u32::try_from(number_of_frames).unwrap_or(u32::MAX);
    let shared = first_item(ds, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
    let per_frame_items = ds
        .get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .and_then(|e| e.items());
    let frames = match per_frame_items {
        Some(items) if !items.is_empty() => items
            .iter()
            .map(|item| frame_geometry(ds, Some(item), shared))
            .collect(),
        _ => vec![frame_geometry(ds, None, shared)],
    };
    let sop_class_uid = get_str(ds, tags::SOP_CLASS_UID)
        .unwrap_or_else(|| trimmed(meta.media_storage_sop_class_uid()));
    let sop_instance_uid = get_str(ds, tags::SOP_INSTANCE_UID)
        .unwrap_or_else(|| trimmed(meta.media_storage_sop_instance_uid()));
    InstanceHeader {
        path: path.to_path_buf(),
        transfer_syntax_uid: trimmed(meta.transfer_syntax()),
        sop_class_uid,
        sop_instance_uid,
        study_instance_uid: get_str(ds, tags::STUDY_INSTANCE_UID),
        series_instance_uid: get_str(ds, tags::SERIES_INSTANCE_UID),
        frame_of_reference_uid: get_str(ds, tags::FRAME_OF_REFERENCE_UID),
        modality: get_str(ds, tags::MODALITY).unwrap_or_default(),
        series_number: get_int(ds, tags::SERIES_NUMBER),
        series_description: get_str(ds, tags::SERIES_DESCRIPTION).unwrap_or_default(),
        study_description: get_str(ds, tags::STUDY_DESCRIPTION).unwrap_or_default(),
        patient_id: get_str(ds, tags::PATIENT_ID).filter(|s| !s.is_empty()),
        accession_number: get_str(ds, tags::ACCESSION_NUMBER).filter(|s| !s.is_empty()),
        image_type: get_strs(ds, tags::IMAGE_TYPE),
        instance_number: get_int(ds, tags::INSTANCE_NUMBER),
        rows: get_u16(ds, tags::ROWS),
        columns: get_u16(ds, tags::COLUMNS),
        samples_per_pixel: get_u16(ds, tags::SAMPLES_PER_PIXEL),
        bits_allocated: get_u16(ds, tags::BITS_ALLOCATED),
        bits_stored: get_u16(ds, tags::BITS_STORED),
        photometric_interpretation: get_str(ds, tags::PHOTOMETRIC_INTERPRETATION)
            .unwrap_or_default(),
        number_of_frames,
        frames,
        mr: mr_timing(ds, shared),
        pixel_data: PixelDataLength::Unknown,
        invalid_number_of_frames,
    }
}

/// Opens a Part-10 file after checking that no element length overruns the file
/// (see [`super::precheck`]); with `header_only`, parsing stops before the pixel data.
pub fn open_part10(
    path: &Path,
    has_preamble: bool,
    header_only: bool,
) -> Result<DefaultDicomObject, DicomError> {
    open_part10_checked(path, has_preamble, header_only).map(|(obj, _)| obj)
}

/// [`open_part10`], also returning what the length walk saw of the pixel data.
pub fn open_part10_checked(
    path: &Path,
    has_preamble: bool,
    header_only: bool,
) -> Result<(DefaultDicomObject, PixelDataLength), DicomError> {
    use dicom_object::{OpenFileOptions, file::ReadPreamble};
    let parse_err = |message: String| DicomError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let checked =
        super::precheck::check_file(path, if has_preamble { 132 } else { 4 }).map_err(parse_err)?;
    let data_end = checked.data_end;
    let preamble = if has_preamble {
        ReadPreamble::Always
    } else {
        ReadPreamble::Never
    };
    let file = std::fs::File::open(path).map_err(|source| DicomError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    // Only the checked bytes go to the parser: some writers leave padding or junk after
    // the pixel data (e.g. megabytes of zeros) that is not part of the image.
    let reader = std::io::BufReader::new(std::io::Read::take(file, data_end));
    let opened = super::catch_panic(|| {
        let options = OpenFileOptions::new().read_preamble(preamble);
        let options = if header_only {
            options.read_until(tags::PIXEL_DATA)
        } else {
            options
        };
        options.from_reader(reader)
    })
    .map_err(|message| DicomError::Panic {
        path: path.to_path_buf(),
        message,
    })?;
    opened
        .map(|obj| (obj, checked.pixel_data))
        .map_err(|e| parse_err(super::error_chain(&e)))
}

/// Reads the header of one Part-10 file, stopping before the pixel data.
pub fn read_header(path: &Path, has_preamble: bool) -> Result<InstanceHeader, DicomError> {
    let (obj, pixel_data) = open_part10_checked(path, has_preamble, true)?;
    let mut h = from_object(path, &obj);
    h.pixel_data = pixel_data;
    Ok(h)
}
