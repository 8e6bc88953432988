//! Comprehensive SR following TID 1500 (Measurement Report), one TID 1410 (Planar ROI
//! Measurements) group per measured foramen.

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::outline::outline;
use super::{
    Code, Common, DISCLAIMER, LATERALITY, LEFT, NEURAL_FORAMEN, NewSeries, PRIVATE_SCHEME, RIGHT,
    ResultsError, ResultsInput, TOOL, VERSION, ds, measured, on_native_slice, private_scheme_item,
    put_seq, put_str, result_uid, source_frame, tracking_label,
};
use crate::grading::Grade;
use crate::spine::foramen::{ForamenResult, Side};
use crate::volume::Modality;

pub const COMPREHENSIVE_SR: &str = "1.2.840.10008.5.1.4.1.1.88.33";

/// Series number of the SR (the SEG and key images follow it).
pub const SERIES_NUMBER: i32 = 9901;

const REPORT: Code = Code("126000", "DCM", "Imaging Measurement Report");
const LANGUAGE: Code = Code("121049", "DCM", "Language of Content Item and Descendants");
const EN_US: Code = Code("en-US", "RFC5646", "English (United States)");
const OBSERVER_TYPE: Code = Code("121005", "DCM", "Observer Type");
const DEVICE: Code = Code("121007", "DCM", "Device");
const DEVICE_UID: Code = Code("121012", "DCM", "Device Observer UID");
const DEVICE_NAME: Code = Code("121013", "DCM", "Device Observer Name");
const DEVICE_MANUFACTURER: Code = Code("121014", "DCM", "Device Observer Manufacturer");
const DEVICE_MODEL: Code = Code("121015", "DCM", "Device Observer Model Name");
const PROCEDURE: Code = Code("121058", "DCM", "Procedure reported");
// CID 100 has no lumbar-spine procedures; these are its MR / CT entries.
const MR_PROCEDURE: Code = Code("25056-3", "LN", "MRI unspecified body region");
const CT_PROCEDURE: Code = Code("25045-6", "LN", "CT unspecified body region");
const MEASUREMENTS: Code = Code("126010", "DCM", "Imaging Measurements");
const GROUP: Code = Code("125007", "DCM", "Measurement Group");
const TRACKING_ID: Code = Code("112039", "DCM", "Tracking Identifier");
const TRACKING_UID: Code = Code("112040", "DCM", "Tracking Unique Identifier");
const IMAGE_REGION: Code = Code("111030", "DCM", "Image Region");
const FINDING_SITE: Code = Code("363698007", "SCT", "Finding Site");
const AREA: Code = Code("42798000", "SCT", "Area");
const HEIGHT: Code = Code("121207", "DCM", "Height");
const WIDTH: Code = Code("103355008", "SCT", "Width");
const MM: Code = Code("mm", "UCUM", "mm");
const MM2: Code = Code("mm2", "UCUM", "mm2");
const ALGORITHM_NAME: Code = Code("111001", "DCM", "Algorithm Name");
const ALGORITHM_VERSION: Code = Code("111003", "DCM", "Algorithm Version");
const QUALITATIVE: Code = Code("C0034375", "UMLS", "Qualitative Evaluations");
const COMMENT: Code = Code("121106", "DCM", "Comment");
const FINDING: Code = Code("121071", "DCM", "Finding");
// The grade as a finding (TID 1410 row 3b). A SNOMED Severity modifier is "not in
// template" for pixelmed, and no standard stenosis-grade codes fit, hence private.
const GRADE_NORMAL: Code = Code("FS0", PRIVATE_SCHEME, "No foraminal stenosis");
const GRADE_MILD: Code = Code("FS1", PRIVATE_SCHEME, "Mild foraminal stenosis");
const GRADE_MODERATE: Code = Code("FS2", PRIVATE_SCHEME, "Moderate foraminal stenosis");
const GRADE_SEVERE: Code = Code("FS3", PRIVATE_SCHEME, "Severe foraminal stenosis");

fn item(relationship: Option<&str>, value_type: &str, concept: Option<Code>) -> InMemDicomObject {
    let mut o = InMemDicomObject::new_empty();
    if let Some(r) = relationship {
        put_str(&mut o, tags::RELATIONSHIP_TYPE, VR::CS, r);
    }
    put_str(&mut o, tags::VALUE_TYPE, VR::CS, value_type);
    if let Some(c) = concept {
        put_seq(&mut o, tags::CONCEPT_NAME_CODE_SEQUENCE, vec![c.item()]);
    }
    o
}

fn container(
    rel: Option<&str>,
    concept: Code,
    children: Vec<InMemDicomObject>,
) -> InMemDicomObject {
    let mut o = item(rel, "CONTAINER", Some(concept));
    put_str(&mut o, tags::CONTINUITY_OF_CONTENT, VR::CS, "SEPARATE");
    put_seq(&mut o, tags::CONTENT_SEQUENCE, children);
    o
}

fn template(o: &mut InMemDicomObject, id: &str) {
    let mut t = InMemDicomObject::new_empty();
    put_str(&mut t, tags::MAPPING_RESOURCE, VR::CS, "DCMR");
    put_str(&mut t, tags::TEMPLATE_IDENTIFIER, VR::CS, id);
    put_seq(o, tags::CONTENT_TEMPLATE_SEQUENCE, vec![t]);
}

fn text(rel: &str, concept: Code, value: &str) -> InMemDicomObject {
    let mut o = item(Some(rel), "TEXT", Some(concept));
    put_str(&mut o, tags::TEXT_VALUE, VR::UT, value);
    o
}

fn code(rel: &str, concept: Code, value: Code) -> InMemDicomObject {
    let mut o = item(Some(rel), "CODE", Some(concept));
    put_seq(&mut o, tags::CONCEPT_CODE_SEQUENCE, vec![value.item()]);
    o
}

fn uidref(rel: &str, concept: Code, value: &str) -> InMemDicomObject {
    let mut o = item(Some(rel), "UIDREF", Some(concept));
    put_str(&mut o, tags::UID, VR::UI, value);
    o
}

fn num(concept: Code, value: f64, unit: Code) -> InMemDicomObject {
    let mut o = item(Some("CONTAINS"), "NUM", Some(concept));
    let mut mv = InMemDicomObject::new_empty();
    put_seq(
        &mut mv,
        tags::MEASUREMENT_UNITS_CODE_SEQUENCE,
        vec![unit.item()],
    );
    // The report's precision (report.json rounds to 0.1 as well).
    put_str(
        &mut mv,
        tags::NUMERIC_VALUE,
        VR::DS,
        &ds((value * 10.0).round() / 10.0),
    );
    put_seq(&mut o, tags::MEASURED_VALUE_SEQUENCE, vec![mv]);
    o
}

fn grade_code(g: Grade) -> Option<Code> {
    match g {
        Grade::Normal => Some(GRADE_NORMAL),
        Grade::Mild => Some(GRADE_MILD),
        Grade::Moderate => Some(GRADE_MODERATE),
        Grade::Severe => Some(GRADE_SEVERE),
        Grade::Indeterminate => None,
    }
}

/// The closed outline of the minimum-area plane's mask in source image pixel
/// coordinates (column, row; (0, 0) is the top-left corner of the first pixel), with
/// the source frame it lies on. `None` for planes that are not native source slices.
fn image_region(input: &ResultsInput, f: &ForamenResult) -> Option<InMemDicomObject> {
    let s = f.slices.get(f.min_slice?)?;
    if !on_native_slice(input, s) {
        return None;
    }
    let source = source_frame(input, s.plane.index)?;
    let corners = outline(&s.seg.mask)?;
    let g = &input.volume.geometry;
    let mut data = Vec::with_capacity(corners.len() * 2);
    for (r, c) in corners {
        // Corner (r, c) of the ROI grid sits half a pixel before pixel centre (r, c).
        let p = s.roi.point(r as f64 - 0.5, c as f64 - 0.5);
        let idx = g.lps_to_index(p);
        data.push((idx[2] + 0.5) as f32);
        data.push((idx[1] + 0.5) as f32);
    }
    let mut o = item(Some("CONTAINS"), "SCOORD", Some(IMAGE_REGION));
    put_str(&mut o, tags::GRAPHIC_TYPE, VR::CS, "POLYLINE");
    o.put(DataElement::new(
        tags::GRAPHIC_DATA,
        VR::FL,
        PrimitiveValue::F32(data.into()),
    ));
    let mut image = item(Some("SELECTED FROM"), "IMAGE", None);
    put_seq(
        &mut image,
        tags::REFERENCED_SOP_SEQUENCE,
        vec![source.reference()],
    );
    put_seq(&mut o, tags::CONTENT_SEQUENCE, vec![image]);
    Some(o)
}

fn measurement_group(input: &ResultsInput, f: &ForamenResult) -> InMemDicomObject {
    let series_uid = &input.series.series_instance_uid;
    let label = tracking_label(f);
    let mut children = vec![
        text("HAS OBS CONTEXT", TRACKING_ID, &label),
        uidref(
            "HAS OBS CONTEXT",
            TRACKING_UID,
            &result_uid(series_uid, &format!("tracking {label}")),
        ),
    ];
    let grade = input
        .entry
        .levels
        .iter()
        .find(|l| l.level == f.level && l.side == f.side.as_str())
        .and_then(|l| Grade::parse(&l.grade));
    if let Some(g) = grade.and_then(grade_code) {
        children.push(code("CONTAINS", FINDING, g));
    }
    if let Some(region) = image_region(input, f) {
        children.push(region);
    }
    let mut site = code("HAS CONCEPT MOD", FINDING_SITE, NEURAL_FORAMEN);
    let side = if f.side == Side::Left { LEFT } else { RIGHT };
    put_seq(
        &mut site,
        tags::CONTENT_SEQUENCE,
        vec![code("HAS CONCEPT MOD", LATERALITY, side)],
    );
    children.push(site);
    if let Some(a) = f.min_area_mm2 {
        children.push(num(AREA, a, MM2));
    }
    if let Some(h) = f.height_mm {
        children.push(num(HEIGHT, h, MM));
    }
    if let Some(w) = f.width_mm {
        children.push(num(WIDTH, w, MM));
    }
    let mut o = container(Some("CONTAINS"), GROUP, children);
    template(&mut o, "1410");
    o
}

/// The SR of one series, or `None` when no foramen was measured.
pub fn build(
    input: &ResultsInput,
    common: &Common,
) -> Result<Option<InMemDicomObject>, ResultsError> {
    let foramina = measured(input.foramina);
    if foramina.is_empty() {
        return Ok(None);
    }
    let series = input.series;
    let src_uid = &series.series_instance_uid;
    let mut o = InMemDicomObject::new_empty();
    common.put_header(
        &mut o,
        COMPREHENSIVE_SR,
        &result_uid(src_uid, "sr-instance"),
        &NewSeries {
            modality: "SR",
            uid: &result_uid(src_uid, "sr-series"),
            number: SERIES_NUMBER,
            description: "Foramen SR",
        },
    );
    put_str(&mut o, tags::INSTANCE_NUMBER, VR::IS, "1");
    put_seq(
        &mut o,
        tags::REFERENCED_PERFORMED_PROCEDURE_STEP_SEQUENCE,
        vec![],
    );
    put_seq(&mut o, tags::PERFORMED_PROCEDURE_CODE_SEQUENCE, vec![]);
    let complete = input.foramina.iter().all(|f| f.min_area_mm2.is_some());
    put_str(
        &mut o,
        tags::COMPLETION_FLAG,
        VR::CS,
        if complete { "COMPLETE" } else { "PARTIAL" },
    );
    put_str(&mut o, tags::VERIFICATION_FLAG, VR::CS, "UNVERIFIED");
    put_seq(
        &mut o,
        tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE,
        vec![evidence(input)],
    );
    put_seq(
        &mut o,
        tags::CODING_SCHEME_IDENTIFICATION_SEQUENCE,
        vec![private_scheme_item()],
    );

    // Root container (TID 1500).
    let procedure = match input.volume.modality {
        Modality::MR => MR_PROCEDURE,
        Modality::CT => CT_PROCEDURE,
    };
    let mut algorithm = vec![
        text("HAS CONCEPT MOD", ALGORITHM_NAME, TOOL),
        text("HAS CONCEPT MOD", ALGORITHM_VERSION, VERSION),
    ];
    let mut groups: Vec<InMemDicomObject> = foramina
        .iter()
        .map(|f| measurement_group(input, f))
        .collect();
    algorithm.append(&mut groups);
    let children = vec![
        code("HAS CONCEPT MOD", LANGUAGE, EN_US),
        code("HAS OBS CONTEXT", OBSERVER_TYPE, DEVICE),
        uidref(
            "HAS OBS CONTEXT",
            DEVICE_UID,
            &crate::dicom::uid::derived_uid(&["foramen-device", TOOL]),
        ),
        text("HAS OBS CONTEXT", DEVICE_NAME, TOOL),
        text("HAS OBS CONTEXT", DEVICE_MANUFACTURER, TOOL),
        text("HAS OBS CONTEXT", DEVICE_MODEL, TOOL),
        code("HAS CONCEPT MOD", PROCEDURE, procedure),
        container(Some("CONTAINS"), MEASUREMENTS, algorithm),
        container(
            Some("CONTAINS"),
            QUALITATIVE,
            vec![text("CONTAINS", COMMENT, DISCLAIMER)],
        ),
    ];
    put_str(&mut o, tags::VALUE_TYPE, VR::CS, "CONTAINER");
    put_seq(
        &mut o,
        tags::CONCEPT_NAME_CODE_SEQUENCE,
        vec![REPORT.item()],
    );
    put_str(&mut o, tags::CONTINUITY_OF_CONTENT, VR::CS, "SEPARATE");
    template(&mut o, "1500");
    put_seq(&mut o, tags::CONTENT_SEQUENCE, children);
    Ok(Some(o))
}

/// All source instances, as the evidence the report is based on.
fn evidence(input: &ResultsInput) -> InMemDicomObject {
    let items = super::sop_refs(
        input
            .series
            .instances
            .iter()
            .map(|i| (i.sop_class_uid.as_str(), i.sop_instance_uid.as_str())),
    );
    let mut series = InMemDicomObject::new_empty();
    put_str(
        &mut series,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        &input.series.series_instance_uid,
    );
    put_seq(&mut series, tags::REFERENCED_SOP_SEQUENCE, items);
    let mut study = InMemDicomObject::new_empty();
    put_str(
        &mut study,
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        &input.series.study_instance_uid,
    );
    put_seq(&mut study, tags::REFERENCED_SERIES_SEQUENCE, vec![series]);
    study
}
