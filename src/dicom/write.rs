//! Writing a [`Volume`] as a Part-10 MR or CT image series (one file per slice).

use std::path::{Path, PathBuf};

use super::elements::{ds, put_str, put_strs, put_u16};
use dicom_core::value::{PixelFragmentSequence, PrimitiveValue};
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::uid::derived_uid;
use super::{DicomError, error_chain};
use crate::volume::{Modality, Volume};

/// Transfer syntaxes the writer can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OutputTransferSyntax {
    #[default]
    ExplicitLittle,
    ImplicitLittle,
    ExplicitBig,
    Deflated,
    Rle,
}

impl OutputTransferSyntax {
    pub fn uid(self) -> &'static str {
        match self {
            OutputTransferSyntax::ExplicitLittle => uids::EXPLICIT_VR_LITTLE_ENDIAN,
            OutputTransferSyntax::ImplicitLittle => uids::IMPLICIT_VR_LITTLE_ENDIAN,
            OutputTransferSyntax::ExplicitBig => "1.2.840.10008.1.2.2",
            OutputTransferSyntax::Deflated => uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
            OutputTransferSyntax::Rle => uids::RLE_LOSSLESS,
        }
    }
}

/// How output files are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FileNaming {
    /// `IM0001.dcm`, `IM0002.dcm`, ... in slice order.
    #[default]
    Numbered,
    /// `<SOPInstanceUID>.dcm`.
    SopUid,
    /// `IM0001`, ... without extension, as many PACS exports do.
    Bare,
}

/// MR acquisition parameters written into the MR Image module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MrAcquisition {
    pub repetition_time_ms: f64,
    pub echo_time_ms: f64,
    pub inversion_time_ms: Option<f64>,
    pub flip_angle_deg: f64,
    pub field_strength_t: f64,
    pub echo_train_length: u32,
}

/// Everything about a series except its voxels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeriesWriteSpec {
    pub study_instance_uid: String,
    pub series_instance_uid: String,
    pub frame_of_reference_uid: String,
    pub series_number: i32,
    pub series_description: String,
    pub study_description: String,
    pub study_id: String,
    pub study_date: String,
    pub study_time: String,
    pub patient_name: String,
    pub patient_id: String,
    pub body_part_examined: String,
    pub manufacturer: String,
    pub mr: Option<MrAcquisition>,
    pub transfer_syntax: OutputTransferSyntax,
    pub naming: FileNaming,
    /// Shuffle InstanceNumbers (seeded) so readers cannot rely on them for slice order.
    pub shuffle_instance_numbers: Option<u64>,
}

impl SeriesWriteSpec {
    /// A spec with deterministic UIDs derived from `key` and obviously synthetic
    /// patient identity.
    pub fn synthetic(key: &str, description: &str) -> SeriesWriteSpec {
        SeriesWriteSpec {
            study_instance_uid: derived_uid(&["foramen-study", key]),
            series_instance_uid: derived_uid(&["foramen-series", key]),
            frame_of_reference_uid: derived_uid(&["foramen-frame-of-reference", key]),
            series_number: 1,
            series_description: description.to_string(),
            study_description: "LUMBAR SPINE (synthetic phantom)".into(),
            study_id: "1".into(),
            study_date: "20260101".into(),
            study_time: "120000".into(),
            patient_name: "PHANTOM^FORAMEN".into(),
            patient_id: "PHANTOM".into(),
            body_part_examined: "LSPINE".into(),
            manufacturer: "foramen phantom".into(),
            mr: None,
            transfer_syntax: OutputTransferSyntax::ExplicitLittle,
            naming: FileNaming::Numbered,
            shuffle_instance_numbers: None,
        }
    }
}

/// Stored pixel encoding chosen for a modality: MR as unsigned 12-bit values, CT as
/// HU + 1024 in unsigned 12 bits (RescaleIntercept -1024), values clamped to range.
struct Encoding {
    offset: f32,
    bits_stored: u16,
}

impl Encoding {
    fn for_volume(v: &Volume) -> Encoding {
        match v.modality {
            Modality::MR => {
                let max = v.voxels.iter().fold(0.0f32, |m, x| m.max(*x));
                Encoding {
                    offset: 0.0,
                    bits_stored: if max < 4095.5 { 12 } else { 16 },
                }
            }
            Modality::CT => Encoding {
                offset: 1024.0,
                bits_stored: 12,
            },
        }
    }

    fn store(&self, v: f32) -> u16 {
        let max = ((1u32 << self.bits_stored) - 1) as f32;
        (v + self.offset).round().clamp(0.0, max) as u16
    }
}

/// Writes `volume` as one file per slice into `dir` (created if needed), atomically
/// per file. Returns the written paths in slice order.
pub fn write_series(
    volume: &Volume,
    spec: &SeriesWriteSpec,
    dir: &Path,
) -> Result<Vec<PathBuf>, DicomError> {
    std::fs::create_dir_all(dir).map_err(|source| DicomError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let (n, rows, cols) = volume.shape();
    if rows > u16::MAX as usize || cols > u16::MAX as usize {
        return Err(DicomError::InvalidAttribute {
            path: dir.to_path_buf(),
            attribute: "Rows/Columns",
            value: format!("{rows}x{cols}"),
            why: "larger than 65535",
        });
    }
    let enc = Encoding::for_volume(volume);
    let mut instance_numbers: Vec<usize> = (1..=n).collect();
    if let Some(seed) = spec.shuffle_instance_numbers {
        instance_numbers.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    }
    (0..n)
        .into_par_iter()
        .map(|k| {
            // Position in the key: two stacks written under one series UID stay distinct.
            let position = format!("{:?}", volume.geometry.slice_origin_mm(k));
            let sop_uid = derived_uid(&[
                "foramen-sop",
                &spec.series_instance_uid,
                &k.to_string(),
                &position,
            ]);
            let obj = slice_object(volume, spec, &enc, k, instance_numbers[k], &sop_uid);
            let name = match spec.naming {
                FileNaming::Numbered => format!("IM{:04}.dcm", k + 1),
                FileNaming::SopUid => format!("{sop_uid}.dcm"),
                FileNaming::Bare => format!("IM{:04}", k + 1),
            };
            let path = dir.join(name);
            write_part10(obj, spec.transfer_syntax, &path)?;
            Ok(path)
        })
        .collect()
}

fn slice_object(
    volume: &Volume,
    spec: &SeriesWriteSpec,
    enc: &Encoding,
    k: usize,
    instance_number: usize,
    sop_uid: &str,
) -> InMemDicomObject {
    let g = &volume.geometry;
    let (_, rows, cols) = volume.shape();
    let mut o = InMemDicomObject::new_empty();
    let (sop_class, modality) = match volume.modality {
        Modality::MR => (uids::MR_IMAGE_STORAGE, "MR"),
        Modality::CT => (uids::CT_IMAGE_STORAGE, "CT"),
    };
    put_str(&mut o, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 100");
    put_strs(
        &mut o,
        tags::IMAGE_TYPE,
        VR::CS,
        vec![
            "DERIVED".into(),
            "PRIMARY".into(),
            if volume.modality == Modality::CT {
                "AXIAL"
            } else {
                "OTHER"
            }
            .into(),
        ],
    );
    put_str(&mut o, tags::SOP_CLASS_UID, VR::UI, sop_class);
    put_str(&mut o, tags::SOP_INSTANCE_UID, VR::UI, sop_uid);
    for (tag, value) in [
        (tags::STUDY_DATE, &spec.study_date),
        (tags::SERIES_DATE, &spec.study_date),
        (tags::CONTENT_DATE, &spec.study_date),
    ] {
        put_str(&mut o, tag, VR::DA, value);
    }
    for (tag, value) in [
        (tags::STUDY_TIME, &spec.study_time),
        (tags::SERIES_TIME, &spec.study_time),
        (tags::CONTENT_TIME, &spec.study_time),
    ] {
        put_str(&mut o, tag, VR::TM, value);
    }
    put_str(&mut o, tags::ACCESSION_NUMBER, VR::SH, "");
    put_str(&mut o, tags::MODALITY, VR::CS, modality);
    put_str(&mut o, tags::MANUFACTURER, VR::LO, &spec.manufacturer);
    put_str(&mut o, tags::REFERRING_PHYSICIAN_NAME, VR::PN, "");
    put_str(
        &mut o,
        tags::STUDY_DESCRIPTION,
        VR::LO,
        &spec.study_description,
    );
    put_str(
        &mut o,
        tags::SERIES_DESCRIPTION,
        VR::LO,
        &spec.series_description,
    );
    put_str(&mut o, tags::PATIENT_NAME, VR::PN, &spec.patient_name);
    put_str(&mut o, tags::PATIENT_ID, VR::LO, &spec.patient_id);
    put_str(&mut o, tags::PATIENT_BIRTH_DATE, VR::DA, "");
    put_str(&mut o, tags::PATIENT_SEX, VR::CS, "O");
    put_str(
        &mut o,
        tags::BODY_PART_EXAMINED,
        VR::CS,
        &spec.body_part_examined,
    );
    put_str(
        &mut o,
        tags::SLICE_THICKNESS,
        VR::DS,
        &ds(g.slice_thickness_mm),
    );
    if let Some(mr) = &spec.mr {
        let ir = mr.inversion_time_ms.is_some();
        put_strs(
            &mut o,
            tags::SCANNING_SEQUENCE,
            VR::CS,
            if ir {
                vec!["IR".into(), "SE".into()]
            } else {
                vec!["SE".into()]
            },
        );
        put_str(&mut o, tags::SEQUENCE_VARIANT, VR::CS, "SK");
        put_str(&mut o, tags::SCAN_OPTIONS, VR::CS, "");
        put_str(&mut o, tags::MR_ACQUISITION_TYPE, VR::CS, "2D");
        put_str(
            &mut o,
            tags::REPETITION_TIME,
            VR::DS,
            &ds(mr.repetition_time_ms),
        );
        put_str(&mut o, tags::ECHO_TIME, VR::DS, &ds(mr.echo_time_ms));
        if let Some(ti) = mr.inversion_time_ms {
            put_str(&mut o, tags::INVERSION_TIME, VR::DS, &ds(ti));
        }
        put_str(
            &mut o,
            tags::MAGNETIC_FIELD_STRENGTH,
            VR::DS,
            &ds(mr.field_strength_t),
        );
        put_str(
            &mut o,
            tags::SPACING_BETWEEN_SLICES,
            VR::DS,
            &ds(g.spacing_mm[0]),
        );
        put_str(
            &mut o,
            tags::ECHO_TRAIN_LENGTH,
            VR::IS,
            &mr.echo_train_length.to_string(),
        );
        put_str(&mut o, tags::FLIP_ANGLE, VR::DS, &ds(mr.flip_angle_deg));
    }
    if volume.modality == Modality::CT {
        put_str(&mut o, tags::KVP, VR::DS, "120");
    }
    put_str(&mut o, tags::PATIENT_POSITION, VR::CS, "HFS");
    put_str(
        &mut o,
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        &spec.study_instance_uid,
    );
    put_str(
        &mut o,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        &spec.series_instance_uid,
    );
    put_str(&mut o, tags::STUDY_ID, VR::SH, &spec.study_id);
    put_str(
        &mut o,
        tags::SERIES_NUMBER,
        VR::IS,
        &spec.series_number.to_string(),
    );
    put_str(&mut o, tags::ACQUISITION_NUMBER, VR::IS, "1");
    put_str(
        &mut o,
        tags::INSTANCE_NUMBER,
        VR::IS,
        &instance_number.to_string(),
    );
    let ipp = g.slice_origin_mm(k);
    put_strs(
        &mut o,
        tags::IMAGE_POSITION_PATIENT,
        VR::DS,
        ipp.iter().map(|v| ds(*v)).collect(),
    );
    put_strs(
        &mut o,
        tags::IMAGE_ORIENTATION_PATIENT,
        VR::DS,
        g.image_orientation().iter().map(|v| ds(*v)).collect(),
    );
    put_str(
        &mut o,
        tags::FRAME_OF_REFERENCE_UID,
        VR::UI,
        &spec.frame_of_reference_uid,
    );
    put_str(&mut o, tags::POSITION_REFERENCE_INDICATOR, VR::LO, "");
    put_str(
        &mut o,
        tags::SLICE_LOCATION,
        VR::DS,
        &ds(g.slice_position_mm(k as f64)),
    );
    put_u16(&mut o, tags::SAMPLES_PER_PIXEL, 1);
    put_str(
        &mut o,
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "MONOCHROME2",
    );
    put_u16(&mut o, tags::ROWS, rows as u16);
    put_u16(&mut o, tags::COLUMNS, cols as u16);
    put_strs(
        &mut o,
        tags::PIXEL_SPACING,
        VR::DS,
        vec![ds(g.spacing_mm[1]), ds(g.spacing_mm[2])],
    );
    put_u16(&mut o, tags::BITS_ALLOCATED, 16);
    put_u16(&mut o, tags::BITS_STORED, enc.bits_stored);
    put_u16(&mut o, tags::HIGH_BIT, enc.bits_stored - 1);
    put_u16(&mut o, tags::PIXEL_REPRESENTATION, 0);
    if volume.modality == Modality::CT {
        put_str(
            &mut o,
            tags::RESCALE_INTERCEPT,
            VR::DS,
            &ds(-enc.offset as f64),
        );
        put_str(&mut o, tags::RESCALE_SLOPE, VR::DS, "1");
        put_str(&mut o, tags::RESCALE_TYPE, VR::LO, "HU");
        put_strs(&mut o, tags::WINDOW_CENTER, VR::DS, vec!["400".into()]);
        put_strs(&mut o, tags::WINDOW_WIDTH, VR::DS, vec!["1800".into()]);
    }
    put_str(&mut o, tags::BURNED_IN_ANNOTATION, VR::CS, "NO");
    let pixels: Vec<u16> = volume
        .voxels
        .index_axis(ndarray::Axis(0), k)
        .iter()
        .map(|v| enc.store(*v))
        .collect();
    o.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(pixels.into()),
    ));
    o
}

/// Writes one object as a Part-10 file in the requested transfer syntax, via a
/// temporary file in the same directory and a rename.
fn write_part10(
    mut obj: InMemDicomObject,
    ts: OutputTransferSyntax,
    path: &Path,
) -> Result<(), DicomError> {
    let enc_err = |message: String| DicomError::Decode {
        path: path.to_path_buf(),
        message,
    };
    if ts == OutputTransferSyntax::Rle {
        let (rows, cols) = (
            obj.get(tags::ROWS)
                .and_then(|e| e.to_int::<usize>().ok())
                .unwrap_or(0),
            obj.get(tags::COLUMNS)
                .and_then(|e| e.to_int::<usize>().ok())
                .unwrap_or(0),
        );
        let pixels: Vec<u16> = obj
            .get(tags::PIXEL_DATA)
            .and_then(|e| e.value().primitive())
            .and_then(|v| v.to_multi_int::<u16>().ok())
            .unwrap_or_default();
        if pixels.len() != rows * cols {
            return Err(enc_err(
                "pixel data size does not match Rows x Columns".into(),
            ));
        }
        let frame = super::rle::encode_frame_u16(&pixels, cols);
        obj.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            PixelFragmentSequence::new(Vec::<u32>::new(), vec![frame]),
        ));
    }
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(ts.uid())
                .implementation_class_uid(crate::IMPLEMENTATION_CLASS_UID)
                .implementation_version_name(crate::IMPLEMENTATION_VERSION_NAME),
        )
        .map_err(|e| enc_err(error_chain(&e)))?;
    crate::atomic_file::write_atomic(path, |w| {
        file.write_all(w)
            .map_err(|e| std::io::Error::other(error_chain(&e)))
    })
    .map_err(|source| DicomError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(())
}
