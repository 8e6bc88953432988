//! Binary segmentation (SEG) of the foramina on the source image grid: one segment per
//! measured level and side, one frame per segment and source slice it touches.

use std::collections::BTreeMap;

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::{
    Code, Common, DISCLAIMER, LEFT, NEURAL_FORAMEN, NewSeries, RIGHT, ResultsError, ResultsInput,
    SHORT_DISCLAIMER, TOOL, VERSION, ds, measured, on_native_slice, private_scheme_item, put_seq,
    put_str, put_strs, put_u16, result_uid, source_frame, tracking_label,
};
use crate::spine::foramen::{Side, SliceResult};

pub const SEGMENTATION: &str = "1.2.840.10008.5.1.4.1.1.66.4";
pub const SERIES_NUMBER: i32 = 9902;

const ANATOMICAL_STRUCTURE: Code = Code("91723000", "SCT", "Anatomical Structure");
const SEGMENTATION_DERIVATION: Code = Code("113076", "DCM", "Segmentation");
const SOURCE_PURPOSE: Code = Code(
    "121322",
    "DCM",
    "Source image for image processing operation",
);

/// Rasterises one plane's mask onto source slice `k`, nearest neighbour from the ROI
/// grid. Only pixels around the ROI are visited.
fn rasterise(input: &ResultsInput, s: &SliceResult, k: usize, frame: &mut [bool]) {
    let (rows, cols) = (input.plan.rows, input.plan.columns);
    let g = &input.volume.geometry;
    let (rmax, cmax) = (s.roi.rows as f64, s.roi.cols as f64);
    let corners = [(0.0, 0.0), (rmax, 0.0), (0.0, cmax), (rmax, cmax)]
        .map(|(i, j)| g.lps_to_index(s.roi.point(i, j)));
    let lo = |d: usize| corners.iter().map(|c| c[d]).fold(f64::INFINITY, f64::min);
    let hi = |d: usize| {
        corners
            .iter()
            .map(|c| c[d])
            .fold(f64::NEG_INFINITY, f64::max)
    };
    let clamp = |v: f64, n: usize| v.clamp(0.0, n.saturating_sub(1) as f64) as usize;
    let (r0, r1) = (
        clamp(lo(1).floor() - 1.0, rows),
        clamp(hi(1).ceil() + 1.0, rows),
    );
    let (c0, c1) = (
        clamp(lo(2).floor() - 1.0, cols),
        clamp(hi(2).ceil() + 1.0, cols),
    );
    let (mh, mw) = s.seg.mask.dim();
    for r in r0..=r1 {
        for c in c0..=c1 {
            let (i, j) = s
                .roi
                .pixel_of(g.index_to_lps([k as f64, r as f64, c as f64]));
            let (i, j) = (i.round(), j.round());
            if i >= 0.0
                && j >= 0.0
                && (i as usize) < mh
                && (j as usize) < mw
                && s.seg.mask[[i as usize, j as usize]]
            {
                frame[r * cols + c] = true;
            }
        }
    }
}

fn tag_value(t: Tag) -> PrimitiveValue {
    PrimitiveValue::Tags(vec![t].into())
}

/// The SEG of one series; `None` when nothing was measured, `Unsupported` when a
/// plane is not a native source slice (a reformat has no source image to refer to).
pub fn build(
    input: &ResultsInput,
    common: &Common,
) -> Result<Option<InMemDicomObject>, ResultsError> {
    let foramina = measured(input.foramina);
    if foramina.is_empty() {
        return Ok(None);
    }
    let unsupported = |why: String| ResultsError::Unsupported { what: "SEG", why };
    let frame_of_reference = common
        .frame_of_reference_uid
        .clone()
        .ok_or_else(|| unsupported("the source has no FrameOfReferenceUID".into()))?;
    let (rows, cols) = (input.plan.rows, input.plan.columns);
    if rows == 0 || cols == 0 || rows > u16::MAX as usize || cols > u16::MAX as usize {
        return Err(unsupported(format!("image size {rows}x{cols}")));
    }
    // (segment number, slice) -> pixels.
    let mut frames: BTreeMap<(u16, usize), Vec<bool>> = BTreeMap::new();
    for (n, f) in foramina.iter().enumerate() {
        for s in &f.slices {
            if !on_native_slice(input, s) {
                return Err(unsupported(
                    "the foramina were segmented on reformatted planes, not on source slices"
                        .into(),
                ));
            }
            let k = s.plane.index;
            let frame = frames
                .entry((n as u16 + 1, k))
                .or_insert_with(|| vec![false; rows * cols]);
            rasterise(input, s, k, frame);
        }
    }
    frames.retain(|_, px| px.iter().any(|&b| b));
    if frames.is_empty() {
        return Ok(None);
    }

    let src_uid = &input.series.series_instance_uid;
    let mut o = InMemDicomObject::new_empty();
    common.put_header(
        &mut o,
        SEGMENTATION,
        &result_uid(src_uid, "seg-instance"),
        &NewSeries {
            modality: "SEG",
            uid: &result_uid(src_uid, "seg-series"),
            number: SERIES_NUMBER,
            description: "Foramen SEG",
        },
    );
    put_str(&mut o, tags::DEVICE_SERIAL_NUMBER, VR::LO, VERSION);
    put_str(&mut o, tags::INSTANCE_NUMBER, VR::IS, "1");
    put_strs(
        &mut o,
        tags::IMAGE_TYPE,
        VR::CS,
        vec!["DERIVED".into(), "PRIMARY".into()],
    );
    put_str(&mut o, tags::IMAGE_COMMENTS, VR::LT, DISCLAIMER);
    put_str(&mut o, tags::CONTENT_LABEL, VR::CS, "FORAMEN");
    put_str(&mut o, tags::CONTENT_DESCRIPTION, VR::LO, SHORT_DISCLAIMER);
    put_str(&mut o, tags::CONTENT_CREATOR_NAME, VR::PN, "");
    put_str(&mut o, tags::SEGMENTATION_TYPE, VR::CS, "BINARY");
    put_str(&mut o, tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00");
    put_str(
        &mut o,
        tags::FRAME_OF_REFERENCE_UID,
        VR::UI,
        &frame_of_reference,
    );
    put_str(&mut o, tags::POSITION_REFERENCE_INDICATOR, VR::LO, "");
    put_seq(
        &mut o,
        tags::CODING_SCHEME_IDENTIFICATION_SEQUENCE,
        vec![private_scheme_item()],
    );

    let segments = foramina
        .iter()
        .enumerate()
        .map(|(n, f)| {
            let mut s = InMemDicomObject::new_empty();
            put_u16(&mut s, tags::SEGMENT_NUMBER, n as u16 + 1);
            put_str(
                &mut s,
                tags::SEGMENT_LABEL,
                VR::LO,
                &format!("{} foramen", tracking_label(f)),
            );
            put_str(&mut s, tags::SEGMENT_ALGORITHM_TYPE, VR::CS, "AUTOMATIC");
            put_str(&mut s, tags::SEGMENT_ALGORITHM_NAME, VR::LO, TOOL);
            put_seq(
                &mut s,
                tags::SEGMENTED_PROPERTY_CATEGORY_CODE_SEQUENCE,
                vec![ANATOMICAL_STRUCTURE.item()],
            );
            let mut ty = NEURAL_FORAMEN.item();
            let side = if f.side == Side::Left { LEFT } else { RIGHT };
            put_seq(
                &mut ty,
                tags::SEGMENTED_PROPERTY_TYPE_MODIFIER_CODE_SEQUENCE,
                vec![side.item()],
            );
            put_seq(
                &mut s,
                tags::SEGMENTED_PROPERTY_TYPE_CODE_SEQUENCE,
                vec![ty],
            );
            s
        })
        .collect();
    put_seq(&mut o, tags::SEGMENT_SEQUENCE, segments);

    // Dimensions: segment number, then position along the stack.
    let organization = result_uid(src_uid, "seg-dimension-organization");
    let mut org = InMemDicomObject::new_empty();
    put_str(
        &mut org,
        tags::DIMENSION_ORGANIZATION_UID,
        VR::UI,
        &organization,
    );
    put_seq(&mut o, tags::DIMENSION_ORGANIZATION_SEQUENCE, vec![org]);
    let dims = [
        (
            tags::REFERENCED_SEGMENT_NUMBER,
            tags::SEGMENT_IDENTIFICATION_SEQUENCE,
            "Segment",
        ),
        (
            tags::IMAGE_POSITION_PATIENT,
            tags::PLANE_POSITION_SEQUENCE,
            "Position",
        ),
    ]
    .into_iter()
    .map(|(pointer, group, label)| {
        let mut d = InMemDicomObject::new_empty();
        d.put(DataElement::new(
            tags::DIMENSION_INDEX_POINTER,
            VR::AT,
            tag_value(pointer),
        ));
        d.put(DataElement::new(
            tags::FUNCTIONAL_GROUP_POINTER,
            VR::AT,
            tag_value(group),
        ));
        put_str(
            &mut d,
            tags::DIMENSION_ORGANIZATION_UID,
            VR::UI,
            &organization,
        );
        put_str(&mut d, tags::DIMENSION_DESCRIPTION_LABEL, VR::LO, label);
        d
    })
    .collect();
    put_seq(&mut o, tags::DIMENSION_INDEX_SEQUENCE, dims);

    let g = &input.volume.geometry;
    let mut shared = InMemDicomObject::new_empty();
    let mut measures = InMemDicomObject::new_empty();
    put_strs(
        &mut measures,
        tags::PIXEL_SPACING,
        VR::DS,
        vec![ds(g.spacing_mm[1]), ds(g.spacing_mm[2])],
    );
    let thickness = if g.slice_thickness_mm > 0.0 {
        g.slice_thickness_mm
    } else {
        g.spacing_mm[0]
    };
    put_str(&mut measures, tags::SLICE_THICKNESS, VR::DS, &ds(thickness));
    put_str(
        &mut measures,
        tags::SPACING_BETWEEN_SLICES,
        VR::DS,
        &ds(g.spacing_mm[0]),
    );
    put_seq(&mut shared, tags::PIXEL_MEASURES_SEQUENCE, vec![measures]);
    let mut orientation = InMemDicomObject::new_empty();
    put_strs(
        &mut orientation,
        tags::IMAGE_ORIENTATION_PATIENT,
        VR::DS,
        g.image_orientation().iter().map(|v| ds(*v)).collect(),
    );
    put_seq(
        &mut shared,
        tags::PLANE_ORIENTATION_SEQUENCE,
        vec![orientation],
    );
    put_seq(
        &mut o,
        tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
        vec![shared],
    );

    let mut per_frame = Vec::with_capacity(frames.len());
    let mut referenced: Vec<(String, String)> = Vec::new();
    for &(segment, k) in frames.keys() {
        let source = source_frame(input, k)
            .ok_or_else(|| unsupported(format!("no source instance for slice {k}")))?;
        referenced.push((
            source.sop_class.to_string(),
            source.sop_instance.to_string(),
        ));
        let mut fg = InMemDicomObject::new_empty();
        let mut src = source.reference();
        put_seq(
            &mut src,
            tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE,
            vec![SOURCE_PURPOSE.item()],
        );
        let mut derivation = InMemDicomObject::new_empty();
        put_seq(
            &mut derivation,
            tags::DERIVATION_CODE_SEQUENCE,
            vec![SEGMENTATION_DERIVATION.item()],
        );
        put_seq(&mut derivation, tags::SOURCE_IMAGE_SEQUENCE, vec![src]);
        put_seq(&mut fg, tags::DERIVATION_IMAGE_SEQUENCE, vec![derivation]);
        let mut content = InMemDicomObject::new_empty();
        content.put(DataElement::new(
            tags::DIMENSION_INDEX_VALUES,
            VR::UL,
            PrimitiveValue::U32(vec![u32::from(segment), k as u32 + 1].into()),
        ));
        put_seq(&mut fg, tags::FRAME_CONTENT_SEQUENCE, vec![content]);
        let mut position = InMemDicomObject::new_empty();
        put_strs(
            &mut position,
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            input.plan.slices[k]
                .position_mm
                .iter()
                .map(|v| ds(*v))
                .collect(),
        );
        put_seq(&mut fg, tags::PLANE_POSITION_SEQUENCE, vec![position]);
        let mut ident = InMemDicomObject::new_empty();
        put_u16(&mut ident, tags::REFERENCED_SEGMENT_NUMBER, segment);
        put_seq(&mut fg, tags::SEGMENT_IDENTIFICATION_SEQUENCE, vec![ident]);
        per_frame.push(fg);
    }
    put_seq(
        &mut o,
        tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
        per_frame,
    );
    put_str(
        &mut o,
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        &frames.len().to_string(),
    );

    let instances = super::sop_refs(referenced.iter().map(|(c, i)| (c.as_str(), i.as_str())));
    let mut series_ref = InMemDicomObject::new_empty();
    put_str(&mut series_ref, tags::SERIES_INSTANCE_UID, VR::UI, src_uid);
    put_seq(
        &mut series_ref,
        tags::REFERENCED_INSTANCE_SEQUENCE,
        instances,
    );
    put_seq(&mut o, tags::REFERENCED_SERIES_SEQUENCE, vec![series_ref]);

    put_u16(&mut o, tags::SAMPLES_PER_PIXEL, 1);
    put_str(
        &mut o,
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "MONOCHROME2",
    );
    put_u16(&mut o, tags::ROWS, rows as u16);
    put_u16(&mut o, tags::COLUMNS, cols as u16);
    put_u16(&mut o, tags::BITS_ALLOCATED, 1);
    put_u16(&mut o, tags::BITS_STORED, 1);
    put_u16(&mut o, tags::HIGH_BIT, 0);
    put_u16(&mut o, tags::PIXEL_REPRESENTATION, 0);
    let n = frames.len() * rows * cols;
    let mut packed = vec![0u8; n.div_ceil(8).next_multiple_of(2)];
    let mut at = 0;
    for frame in frames.values() {
        pack_bits_into(frame, at, &mut packed);
        at += frame.len();
    }
    o.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::U8(packed.into()),
    ));
    Ok(Some(o))
}

/// Packs bits with the first pixel in the least significant bit, frames back to back
/// (PS3.5 8.1.1), padded to an even number of bytes.
#[cfg(test)]
fn pack_bits<'a>(bits: impl Iterator<Item = &'a bool>, n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n.div_ceil(8).next_multiple_of(2)];
    let bits: Vec<bool> = bits.copied().collect();
    pack_bits_into(&bits, 0, &mut out);
    out
}

/// ORs `bits` into `out` from bit `start` on (LSB first, frames back to back). Mostly
/// zeros: only set bits are visited.
fn pack_bits_into(bits: &[bool], start: usize, out: &mut [u8]) {
    for (i, _) in bits.iter().enumerate().filter(|(_, b)| **b) {
        let k = start + i;
        out[k / 8] |= 1 << (k % 8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_pack_lsb_first_and_pad_to_even() {
        let bits = [
            true, false, false, false, false, false, false, false, false, true,
        ];
        assert_eq!(pack_bits(bits.iter(), bits.len()), vec![0x01, 0x02]);
        assert_eq!(pack_bits([true].iter(), 1), vec![0x01, 0x00]);
    }
}
