//! Secondary Capture key images (RGB, banner burnt in), one series per source series.

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::{
    Common, DISCLAIMER, NewSeries, ResultsError, ResultsInput, put_str, put_strs, put_u16,
    result_uid,
};

pub const SECONDARY_CAPTURE: &str = "1.2.840.10008.5.1.4.1.1.7";
pub const SERIES_NUMBER: i32 = 9903;

/// One object per key image, in input order.
pub fn build(input: &ResultsInput, common: &Common) -> Result<Vec<InMemDicomObject>, ResultsError> {
    let src_uid = &input.series.series_instance_uid;
    let series_uid = result_uid(src_uid, "sc-series");
    let mut out = Vec::with_capacity(input.key_images.len());
    for (k, (name, img)) in input.key_images.iter().enumerate() {
        let (w, h) = img.dimensions();
        if w == 0 || h == 0 || w > u16::MAX as u32 || h > u16::MAX as u32 {
            return Err(ResultsError::Unsupported {
                what: "key image",
                why: format!("{name} is {w}x{h} pixels"),
            });
        }
        let mut o = InMemDicomObject::new_empty();
        common.put_header(
            &mut o,
            SECONDARY_CAPTURE,
            &result_uid(src_uid, &format!("sc-instance {k} {name}")),
            &NewSeries {
                modality: "OT",
                uid: &series_uid,
                number: SERIES_NUMBER,
                description: "Foramen keys",
            },
        );
        put_strs(
            &mut o,
            tags::IMAGE_TYPE,
            VR::CS,
            vec!["DERIVED".into(), "SECONDARY".into()],
        );
        put_str(&mut o, tags::CONVERSION_TYPE, VR::CS, "WSD");
        // dciodvfy cannot evaluate the Type 2C condition for SC and wants it present;
        // empty says "unknown" (warning only), the spine being unpaired.
        put_str(&mut o, tags::LATERALITY, VR::CS, "");
        put_str(&mut o, tags::INSTANCE_NUMBER, VR::IS, &(k + 1).to_string());
        put_str(&mut o, tags::PATIENT_ORIENTATION, VR::CS, "");
        put_str(&mut o, tags::DERIVATION_DESCRIPTION, VR::ST, name);
        put_str(&mut o, tags::IMAGE_COMMENTS, VR::LT, DISCLAIMER);
        put_str(&mut o, tags::BURNED_IN_ANNOTATION, VR::CS, "YES");
        put_str(&mut o, tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00");
        put_u16(&mut o, tags::SAMPLES_PER_PIXEL, 3);
        put_str(&mut o, tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "RGB");
        put_u16(&mut o, tags::PLANAR_CONFIGURATION, 0);
        put_u16(&mut o, tags::ROWS, h as u16);
        put_u16(&mut o, tags::COLUMNS, w as u16);
        put_u16(&mut o, tags::BITS_ALLOCATED, 8);
        put_u16(&mut o, tags::BITS_STORED, 8);
        put_u16(&mut o, tags::HIGH_BIT, 7);
        put_u16(&mut o, tags::PIXEL_REPRESENTATION, 0);
        let mut pixels = img.as_raw().clone();
        if pixels.len() % 2 == 1 {
            pixels.push(0); // values have even length
        }
        o.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            PrimitiveValue::U8(pixels.into()),
        ));
        out.push(o);
    }
    Ok(out)
}
