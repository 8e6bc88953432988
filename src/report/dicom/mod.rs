//! DICOM results returned to a PACS (`--dicom-out`): a TID 1500 measurement report
//! (SR), a segmentation (SEG) and Secondary Capture key images, all in the source
//! study with new series.
//!
//! UIDs derive from the source series UID, the object kind and the tool version, so a
//! re-run on the same input files the same objects again (an idempotent PACS hook).
//! Only ContentDate/ContentTime change between runs; they are "now" in UTC, or
//! `SOURCE_DATE_EPOCH` when that is set (reproducible runs).

mod outline;
mod sc;
mod seg;
mod sr;

use std::path::{Path, PathBuf};

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject, OpenFileOptions};
use image::RgbImage;

use crate::dicom::assemble::StackPlan;
pub(crate) use crate::dicom::elements::{ds, put_seq, put_str, put_strs, put_u16};
use crate::dicom::error_chain;
use crate::dicom::uid::derived_uid;
use crate::report::SeriesEntry;
use crate::series::Series;
use crate::spine::foramen::{ForamenResult, SliceResult};
use crate::volume::Volume;
use crate::volume::geometry::Plane;

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
    #[error("could not read patient and study attributes from {path}: {message}")]
    Source { path: PathBuf, message: String },
    #[error("series {series} has no instances")]
    NoInstances { series: String },
    #[error("{what} not written: {why}")]
    Unsupported { what: &'static str, why: String },
}

/// Shown in every object: header attributes and an SR TEXT item.
pub const DISCLAIMER: &str =
    "Automated research output, not a diagnosis; requires clinical correlation";
/// Fits a LO (64 characters) such as SeriesDescription.
pub const SHORT_DISCLAIMER: &str = "research output, requires clinical correlation";
pub const TOOL: &str = "foramen";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Private coding scheme for concepts without a standard code we could verify.
pub const PRIVATE_SCHEME: &str = "99FORAMEN";

/// A coded concept `(value, scheme, meaning)`.
#[derive(Debug, Clone, Copy)]
pub struct Code(pub &'static str, pub &'static str, pub &'static str);

impl Code {
    pub fn item(self) -> InMemDicomObject {
        let mut o = InMemDicomObject::new_empty();
        put_str(&mut o, tags::CODE_VALUE, VR::SH, self.0);
        put_str(&mut o, tags::CODING_SCHEME_DESIGNATOR, VR::SH, self.1);
        put_str(&mut o, tags::CODE_MEANING, VR::LO, self.2);
        o
    }
}

/// Neural foramen as anatomy (finding site, segmented property type): no SNOMED code
/// for it could be verified offline, so it is private rather than guessed.
pub const NEURAL_FORAMEN: Code = Code("NF", PRIVATE_SCHEME, "Neural foramen");
pub const LEFT: Code = Code("7771000", "SCT", "Left");
pub const RIGHT: Code = Code("24028007", "SCT", "Right");
pub const LATERALITY: Code = Code("272741003", "SCT", "Laterality");

/// The patient, study and timing attributes shared by every output of one series.
pub(crate) struct Common {
    /// Patient and study elements copied from the source, in tag order.
    copied: Vec<DataElement<InMemDicomObject>>,
    utf8: bool,
    pub study_uid: String,
    pub frame_of_reference_uid: Option<String>,
    pub content_date: String,
    pub content_time: String,
}

/// Patient and study attributes copied from the source (Type 2 when absent there).
const COPIED: [(Tag, VR); 10] = [
    (tags::STUDY_DATE, VR::DA),
    (tags::STUDY_TIME, VR::TM),
    (tags::ACCESSION_NUMBER, VR::SH),
    (tags::REFERRING_PHYSICIAN_NAME, VR::PN),
    (tags::STUDY_DESCRIPTION, VR::LO),
    (tags::PATIENT_NAME, VR::PN),
    (tags::PATIENT_ID, VR::LO),
    (tags::PATIENT_BIRTH_DATE, VR::DA),
    (tags::PATIENT_SEX, VR::CS),
    (tags::STUDY_ID, VR::SH),
];

impl Common {
    fn read(input: &ResultsInput) -> Result<Common, ResultsError> {
        let series = input.series;
        let first = series
            .instances
            .first()
            .ok_or_else(|| ResultsError::NoInstances {
                series: series.series_instance_uid.clone(),
            })?;
        let src = OpenFileOptions::new()
            .read_until(tags::PIXEL_DATA)
            .open_file(&first.path)
            .map_err(|e| ResultsError::Source {
                path: first.path.clone(),
                message: error_chain(&e),
            })?;
        let mut copied = Vec::new();
        let mut utf8 = false;
        for (tag, vr) in COPIED {
            match src.get(tag) {
                Some(e) => {
                    // Decoded to Unicode on reading: re-encoded as UTF-8 when needed.
                    if e.to_str().is_ok_and(|s| !s.is_ascii()) {
                        utf8 = true;
                    }
                    copied.push(e.clone());
                }
                None if tag == tags::STUDY_DESCRIPTION => {}
                None => copied.push(DataElement::new(tag, vr, PrimitiveValue::Empty)),
            }
        }
        let (content_date, content_time) = now_utc();
        Ok(Common {
            copied,
            utf8,
            study_uid: series.study_instance_uid.clone(),
            frame_of_reference_uid: first.frame_of_reference_uid.clone(),
            content_date,
            content_time,
        })
    }

    /// Puts the attributes every output shares: character set, patient, study,
    /// equipment, content date/time, and the series with its disclaimer.
    pub fn put_header(
        &self,
        o: &mut InMemDicomObject,
        sop_class: &str,
        sop_instance: &str,
        series: &NewSeries,
    ) {
        let NewSeries {
            modality,
            uid: series_uid,
            number: series_number,
            description,
        } = *series;
        put_str(
            o,
            tags::SPECIFIC_CHARACTER_SET,
            VR::CS,
            if self.utf8 {
                "ISO_IR 192"
            } else {
                "ISO_IR 100"
            },
        );
        put_str(o, tags::SOP_CLASS_UID, VR::UI, sop_class);
        put_str(o, tags::SOP_INSTANCE_UID, VR::UI, sop_instance);
        for e in &self.copied {
            o.put(e.clone());
        }
        put_str(o, tags::STUDY_INSTANCE_UID, VR::UI, &self.study_uid);
        put_str(o, tags::SERIES_INSTANCE_UID, VR::UI, series_uid);
        put_str(o, tags::MODALITY, VR::CS, modality);
        put_str(o, tags::SERIES_NUMBER, VR::IS, &series_number.to_string());
        // LO holds 64 characters: keep the disclaimer whole, cut the description.
        let room = 64 - SHORT_DISCLAIMER.len() - 3;
        let description: String = description.chars().take(room).collect();
        put_str(
            o,
            tags::SERIES_DESCRIPTION,
            VR::LO,
            &format!("{description} - {SHORT_DISCLAIMER}"),
        );
        put_str(o, tags::CONTENT_DATE, VR::DA, &self.content_date);
        put_str(o, tags::CONTENT_TIME, VR::TM, &self.content_time);
        put_str(o, tags::MANUFACTURER, VR::LO, TOOL);
        put_str(o, tags::MANUFACTURER_MODEL_NAME, VR::LO, TOOL);
        put_str(o, tags::SOFTWARE_VERSIONS, VR::LO, VERSION);
    }
}

/// The new series an output object goes into.
#[derive(Clone, Copy)]
pub(crate) struct NewSeries<'a> {
    pub modality: &'a str,
    pub uid: &'a str,
    pub number: i32,
    /// Short: the disclaimer is appended and the whole must fit 64 characters.
    pub description: &'a str,
}

/// Deterministic UID of one output object.
pub fn result_uid(source_series_uid: &str, kind: &str) -> String {
    derived_uid(&["foramen-result", source_series_uid, kind, VERSION])
}

/// The source instance and frame (0-based) of volume slice `k`, as
/// `(sop class, sop instance, frame, frames in the instance)`.
pub(crate) struct SourceFrame<'a> {
    pub sop_class: &'a str,
    pub sop_instance: &'a str,
    pub frame: u32,
    pub multi_frame: bool,
}

impl SourceFrame<'_> {
    /// A ReferencedSOPSequence / SourceImageSequence item.
    pub fn reference(&self) -> InMemDicomObject {
        let mut o = InMemDicomObject::new_empty();
        put_str(
            &mut o,
            tags::REFERENCED_SOP_CLASS_UID,
            VR::UI,
            self.sop_class,
        );
        put_str(
            &mut o,
            tags::REFERENCED_SOP_INSTANCE_UID,
            VR::UI,
            self.sop_instance,
        );
        if self.multi_frame {
            put_str(
                &mut o,
                tags::REFERENCED_FRAME_NUMBER,
                VR::IS,
                &(self.frame + 1).to_string(),
            );
        }
        o
    }
}

pub(crate) fn source_frame<'a>(input: &'a ResultsInput, k: usize) -> Option<SourceFrame<'a>> {
    let placement = input.plan.slices.get(k)?;
    let inst = input
        .series
        .instances
        .iter()
        .find(|i| i.path == placement.path)?;
    Some(SourceFrame {
        sop_class: &inst.sop_class_uid,
        sop_instance: &inst.sop_instance_uid,
        frame: placement.frame,
        multi_frame: inst.number_of_frames > 1,
    })
}

/// Whether a segmented plane lies exactly on volume slice `plane.index` of a native
/// sagittal stack, so that its pixels can be referred to a source image.
pub(crate) fn on_native_slice(input: &ResultsInput, s: &SliceResult) -> bool {
    let g = &input.volume.geometry;
    if g.plane() != Plane::Sagittal || s.plane.index >= input.plan.slices.len() {
        return false;
    }
    let k = s.plane.index as f64;
    [
        (0.0, 0.0),
        (s.roi.rows as f64, 0.0),
        (0.0, s.roi.cols as f64),
    ]
    .iter()
    .all(|&(i, j)| (g.lps_to_index(s.roi.point(i, j))[0] - k).abs() < 1e-3)
}

/// `"L4-L5 left"`.
pub(crate) fn tracking_label(f: &ForamenResult) -> String {
    format!("{} {}", f.level, f.side.as_str())
}

/// Foramina with a measurement, in report order.
pub(crate) fn measured(foramina: &[ForamenResult]) -> Vec<&ForamenResult> {
    foramina
        .iter()
        .filter(|f| f.min_area_mm2.is_some() && f.min_slice.is_some())
        .collect()
}

/// `--dicom-out`: SR, SEG and key images in the source study (DICOM inputs only).
pub struct DicomOutput {
    pub dir: PathBuf,
}

impl crate::report::output::SeriesOutput for DicomOutput {
    fn needs_images(&self) -> bool {
        true
    }
    fn write(
        &self,
        ctx: &crate::report::output::SeriesContext,
    ) -> Vec<crate::report::output::Recorded> {
        use crate::report::output::{Recorded, Source};
        let Source::Dicom { series, plan } = ctx.source else {
            return vec![Recorded::Warning(
                "DICOM results not written: the input is not a DICOM series".into(),
            )];
        };
        // Key images: the levels, the montage of every foramen, and the flagged
        // foramina on their own (a PACS reader pages through these).
        let flagged: Vec<String> = ctx
            .entry
            .levels
            .iter()
            .filter(|l| l.flagged)
            .map(|l| format!("{}_{}", l.level, l.side))
            .collect();
        let keys: Vec<(String, RgbImage)> = ctx
            .images
            .iter()
            .filter(|(k, _)| k == "midsagittal" || k == "foramina" || flagged.contains(k))
            .cloned()
            .collect();
        let input = ResultsInput {
            series,
            plan,
            volume: ctx.volume,
            foramina: &ctx.analysis.foramina,
            entry: ctx.entry,
            key_images: &keys,
        };
        match write_results(&input, &self.dir) {
            Ok(written) => written
                .files
                .iter()
                .map(|f| Recorded::DicomFile(f.display().to_string()))
                .chain(written.warnings.into_iter().map(Recorded::Warning))
                .collect(),
            Err(e) => vec![Recorded::Warning(format!("DICOM results not written: {e}"))],
        }
    }
}

/// Writes the DICOM result objects of one series into `dir`; returns the files written.
///
/// A SEG that cannot be made correct (reformatted planes) is left out with a
/// `tracing` warning; the SR and key images are still written.
pub fn write_results(input: &ResultsInput, dir: &Path) -> Result<Written, ResultsError> {
    let common = Common::read(input)?;
    let stem = crate::report::file_stem(&input.series.series_instance_uid);
    let mut files = Vec::new();
    let mut warnings = Vec::new();
    if let Some(obj) = sr::build(input, &common)? {
        let path = dir.join(format!("{stem}_sr.dcm"));
        write_part10(obj, &path)?;
        files.push(path);
    }
    match seg::build(input, &common) {
        Ok(Some(obj)) => {
            let path = dir.join(format!("{stem}_seg.dcm"));
            write_part10(obj, &path)?;
            files.push(path);
        }
        Ok(None) => {}
        Err(e @ ResultsError::Unsupported { .. }) => {
            tracing::warn!("series {}: {e}", input.series.series_instance_uid);
            warnings.push(format!("DICOM SEG not written: {e}"));
        }
        Err(e) => return Err(e),
    }
    for (k, obj) in sc::build(input, &common)?.into_iter().enumerate() {
        let path = dir.join(format!("{stem}_sc_{}.dcm", k + 1));
        write_part10(obj, &path)?;
        files.push(path);
    }
    Ok(Written { files, warnings })
}

/// The files written, and why an object was left out.
#[derive(Debug, Default)]
pub struct Written {
    pub files: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

fn write_part10(obj: InMemDicomObject, path: &Path) -> Result<(), ResultsError> {
    let err = |message: String| ResultsError::Write {
        path: path.to_path_buf(),
        message,
    };
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(dicom_dictionary_std::uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .implementation_class_uid(crate::IMPLEMENTATION_CLASS_UID)
                .implementation_version_name(crate::IMPLEMENTATION_VERSION_NAME),
        )
        .map_err(|e| err(error_chain(&e)))?;
    // Regenerated by a re-run (serve writes its done marker, synced, only after these).
    crate::atomic_file::write_atomic_unsynced(path, |w| {
        file.write_all(w)
            .map_err(|e| std::io::Error::other(error_chain(&e)))
    })
    .map_err(|e| err(e.to_string()))
}

/// Items of (Referenced SOP Class UID, Referenced SOP Instance UID), sorted, each once.
pub(crate) fn sop_refs<'a>(
    refs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<InMemDicomObject> {
    let mut refs: Vec<(&str, &str)> = refs.into_iter().collect();
    refs.sort_unstable();
    refs.dedup();
    refs.into_iter()
        .map(|(class, inst)| {
            let mut r = InMemDicomObject::new_empty();
            put_str(&mut r, tags::REFERENCED_SOP_CLASS_UID, VR::UI, class);
            put_str(&mut r, tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, inst);
            r
        })
        .collect()
}

/// CodingSchemeIdentificationSequence entry documenting [`PRIVATE_SCHEME`].
pub(crate) fn private_scheme_item() -> InMemDicomObject {
    let mut o = InMemDicomObject::new_empty();
    put_str(
        &mut o,
        tags::CODING_SCHEME_DESIGNATOR,
        VR::SH,
        PRIVATE_SCHEME,
    );
    put_str(
        &mut o,
        tags::CODING_SCHEME_NAME,
        VR::ST,
        "foramen private codes (see docs/dicom-outputs.md)",
    );
    put_str(
        &mut o,
        tags::CODING_SCHEME_RESPONSIBLE_ORGANIZATION,
        VR::ST,
        "foramen project",
    );
    o
}

/// UTC `(YYYYMMDD, HHMMSS)` of now, or of `SOURCE_DATE_EPOCH` when set.
fn now_utc() -> (String, String) {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok());
    let t = secs.map_or_else(std::time::SystemTime::now, |s| {
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(s)
    });
    date_time(t)
}

/// DICOM DA and TM of a time, from its RFC 3339 form (`YYYY-MM-DDTHH:MM:SSZ`).
fn date_time(t: std::time::SystemTime) -> (String, String) {
    let text = humantime::format_rfc3339_seconds(t).to_string();
    let digits = |part: &str| part.chars().filter(char::is_ascii_digit).collect();
    let (date, time) = text.split_once('T').unwrap_or((&text, ""));
    (digits(date), digits(time))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)
    }

    #[test]
    fn civil_dates() {
        assert_eq!(date_time(at(0)), ("19700101".into(), "000000".into()));
        assert_eq!(
            date_time(at(1_709_210_096)),
            ("20240229".into(), "123456".into())
        );
        assert_eq!(
            date_time(at(951_782_400)),
            ("20000229".into(), "000000".into())
        );
    }

    #[test]
    fn non_ascii_names_survive_as_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.dcm");
        let mut o = InMemDicomObject::new_empty();
        put_str(&mut o, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
        put_str(&mut o, tags::SOP_CLASS_UID, VR::UI, sr::COMPREHENSIVE_SR);
        put_str(&mut o, tags::SOP_INSTANCE_UID, VR::UI, "2.25.1");
        put_str(&mut o, tags::PATIENT_NAME, VR::PN, "Müller^Jörg=山田^太郎");
        write_part10(o, &path).unwrap();
        let back = dicom_object::open_file(&path).unwrap();
        assert_eq!(
            back.element(tags::PATIENT_NAME).unwrap().to_str().unwrap(),
            "Müller^Jörg=山田^太郎"
        );
    }

    #[test]
    fn result_uids_are_stable_and_distinct() {
        let a = result_uid("1.2.3", "sr-series");
        assert_eq!(a, result_uid("1.2.3", "sr-series"));
        assert_ne!(a, result_uid("1.2.3", "seg-series"));
        assert!(crate::dicom::uid::is_valid_uid(&a));
    }
}
