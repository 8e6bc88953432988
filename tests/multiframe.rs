//! Enhanced (multi-frame) MR: geometry from per-frame and shared functional groups.

mod common;

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use foramen::dicom::assemble;
use foramen::dicom::assemble::plan_stack;
use foramen::dicom::discover;
use foramen::series::group_series;
use foramen::volume::Plane;

fn item(elements: Vec<DataElement<InMemDicomObject>>) -> InMemDicomObject {
    InMemDicomObject::from_element_iter(elements)
}

fn ds(values: &[f64]) -> PrimitiveValue {
    PrimitiveValue::Strs(
        values
            .iter()
            .map(|v| format!("{v}"))
            .collect::<Vec<_>>()
            .into(),
    )
}

fn seq(tag: dicom_core::Tag, items: Vec<InMemDicomObject>) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::SQ, DataSetSequence::from(items))
}

#[test]
fn enhanced_mr_frames_are_ordered_by_their_plane_positions() {
    let (rows, cols, frames) = (6usize, 5usize, 4usize);
    // Frames stored out of spatial order: x positions 8, 0, 12, 4 (normal is -x here).
    let xs = [8.0, 0.0, 12.0, 4.0];
    let mut o = InMemDicomObject::new_empty();
    o.put(DataElement::new(
        tags::SOP_CLASS_UID,
        VR::UI,
        PrimitiveValue::from(uids::ENHANCED_MR_IMAGE_STORAGE),
    ));
    o.put(DataElement::new(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from("2.25.1001"),
    ));
    o.put(DataElement::new(
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from("2.25.1002"),
    ));
    o.put(DataElement::new(
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from("2.25.1003"),
    ));
    o.put(DataElement::new(
        tags::MODALITY,
        VR::CS,
        PrimitiveValue::from("MR"),
    ));
    o.put(DataElement::new(
        tags::SERIES_DESCRIPTION,
        VR::LO,
        PrimitiveValue::from("sag t1 enhanced"),
    ));
    o.put(DataElement::new(
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        PrimitiveValue::from(frames.to_string()),
    ));
    o.put(DataElement::new(
        tags::ROWS,
        VR::US,
        PrimitiveValue::from(rows as u16),
    ));
    o.put(DataElement::new(
        tags::COLUMNS,
        VR::US,
        PrimitiveValue::from(cols as u16),
    ));
    o.put(DataElement::new(
        tags::SAMPLES_PER_PIXEL,
        VR::US,
        PrimitiveValue::from(1u16),
    ));
    o.put(DataElement::new(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        PrimitiveValue::from("MONOCHROME2"),
    ));
    o.put(DataElement::new(
        tags::BITS_ALLOCATED,
        VR::US,
        PrimitiveValue::from(16u16),
    ));
    o.put(DataElement::new(
        tags::BITS_STORED,
        VR::US,
        PrimitiveValue::from(12u16),
    ));
    o.put(DataElement::new(
        tags::HIGH_BIT,
        VR::US,
        PrimitiveValue::from(11u16),
    ));
    o.put(DataElement::new(
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(0u16),
    ));
    let shared = item(vec![
        seq(
            tags::PIXEL_MEASURES_SEQUENCE,
            vec![item(vec![
                DataElement::new(tags::PIXEL_SPACING, VR::DS, ds(&[0.7, 0.9])),
                DataElement::new(tags::SLICE_THICKNESS, VR::DS, ds(&[3.5])),
            ])],
        ),
        seq(
            tags::PLANE_ORIENTATION_SEQUENCE,
            vec![item(vec![DataElement::new(
                tags::IMAGE_ORIENTATION_PATIENT,
                VR::DS,
                ds(&[0.0, 1.0, 0.0, 0.0, 0.0, -1.0]),
            )])],
        ),
        seq(
            tags::MR_TIMING_AND_RELATED_PARAMETERS_SEQUENCE,
            vec![item(vec![DataElement::new(
                tags::REPETITION_TIME,
                VR::FD,
                PrimitiveValue::from(500.0f64),
            )])],
        ),
    ]);
    o.put(seq(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, vec![shared]));
    let per_frame = xs
        .iter()
        .map(|x| {
            item(vec![seq(
                tags::PLANE_POSITION_SEQUENCE,
                vec![item(vec![DataElement::new(
                    tags::IMAGE_POSITION_PATIENT,
                    VR::DS,
                    ds(&[*x, -100.0, 50.0]),
                )])],
            )])
        })
        .collect();
    o.put(seq(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, per_frame));
    // Each frame is filled with its own x position, so order is visible in the values.
    let pixels: Vec<u16> = xs
        .iter()
        .flat_map(|x| std::iter::repeat_n(*x as u16 * 10, rows * cols))
        .collect();
    o.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(pixels.into()),
    ));
    let file = o
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    file.write_to_file(dir.path().join("enhanced")).unwrap();

    let s = group_series(discover(&[dir.path().to_path_buf()], &|| {}).instances).remove(0);
    assert_eq!(s.num_slices, 4);
    assert_eq!(s.num_instances, 1);
    assert_eq!(s.plane, Some(Plane::Sagittal));
    assert_eq!(s.pixel_spacing_mm, Some([0.7, 0.9]));
    assert_eq!(s.slice_thickness_mm, Some(3.5));
    assert_eq!(s.spacing_between_slices_mm, Some(4.0));
    let v = assemble(
        &plan_stack(&s.instances).unwrap(),
        s.modality_kind().unwrap(),
    )
    .unwrap();
    // normal = (0,1,0) x (0,0,-1) = (-1,0,0): ascending along the normal is descending x.
    let firsts: Vec<f32> = (0..4).map(|k| v.voxels[[k, 0, 0]]).collect();
    assert_eq!(firsts, vec![120.0, 80.0, 40.0, 0.0]);
    assert_eq!(v.geometry.origin_mm, [12.0, -100.0, 50.0]);
}
