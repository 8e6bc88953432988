//! Small helpers for building data sets with dicom-object, shared by the series writer
//! (phantoms) and the DICOM results writer.

use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_object::InMemDicomObject;

pub(crate) fn put_str(o: &mut InMemDicomObject, tag: Tag, vr: VR, value: &str) {
    o.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
}

pub(crate) fn put_strs(o: &mut InMemDicomObject, tag: Tag, vr: VR, values: Vec<String>) {
    o.put(DataElement::new(
        tag,
        vr,
        PrimitiveValue::Strs(values.into()),
    ));
}

pub(crate) fn put_u16(o: &mut InMemDicomObject, tag: Tag, value: u16) {
    o.put(DataElement::new(tag, VR::US, PrimitiveValue::from(value)));
}

pub(crate) fn put_seq(o: &mut InMemDicomObject, tag: Tag, items: Vec<InMemDicomObject>) {
    o.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
}

/// A decimal string (DS) of at most 16 characters.
pub(crate) fn ds(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    let s = if s == "-0" { "0" } else { s };
    s.chars().take(16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_are_short_and_trimmed() {
        assert_eq!(ds(1.5), "1.5");
        assert_eq!(ds(-0.0000001), "0");
        assert_eq!(ds(2.0), "2");
        assert!(ds(-123456789.123456).len() <= 16);
    }
}
