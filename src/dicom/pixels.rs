//! Decoding pixel data into physical values.

use std::path::Path;

use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PixelDecoder};
use ndarray::{Array3, Axis};

use super::{DicomError, catch_panic, error_chain, transfer_syntax};

/// Decodes every frame of a file into `[frame, row, column]` physical values
/// (modality LUT / rescale slope and intercept applied: HU for CT).
pub fn decode_frames(path: &Path) -> Result<Array3<f32>, DicomError> {
    decode(path, ModalityLutOption::Default)
}

/// Decodes every frame into raw stored values (no rescale), `[frame, row, column]`.
pub fn decode_stored_values(path: &Path) -> Result<Array3<f32>, DicomError> {
    decode(path, ModalityLutOption::None)
}

fn decode(path: &Path, lut: ModalityLutOption) -> Result<Array3<f32>, DicomError> {
    let decode_err = |message: String| DicomError::Decode {
        path: path.to_path_buf(),
        message,
    };
    let has_preamble = match super::discover::sniff(path) {
        Ok(super::discover::Sniff::Part10 { has_preamble }) => has_preamble,
        Ok(_) => {
            return Err(DicomError::Parse {
                path: path.to_path_buf(),
                message: "not a Part-10 DICOM file".into(),
            });
        }
        Err(source) => {
            return Err(DicomError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let (obj, pixel_data) = super::header::open_part10_checked(path, has_preamble, false)?;
    // The same header checks as discovery, again: the file may have changed since, and
    // a lying Rows/Columns/frames must never reach the decoder's allocation.
    let mut header = super::header::from_object(path, &obj);
    header.pixel_data = pixel_data;
    if let Some(problem) = header.storage_problem() {
        return Err(decode_err(problem));
    }
    let ts = obj
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .trim()
        .to_string();
    if !transfer_syntax::can_decode_pixels(&ts) {
        return Err(DicomError::UnsupportedTransferSyntax {
            path: path.to_path_buf(),
            name: transfer_syntax::name(&ts),
            hint: transfer_syntax::unsupported_hint(&ts),
            uid: ts,
        });
    }
    if ts == RLE_LOSSLESS {
        check_rle(&obj, &header).map_err(decode_err)?;
    }
    let array = catch_panic(|| -> Result<_, String> {
        let decoded = obj.decode_pixel_data().map_err(|e| error_chain(&e))?;
        if decoded.samples_per_pixel() != 1 {
            return Err(format!(
                "{} samples per pixel ({}): only grey-scale images are supported",
                decoded.samples_per_pixel(),
                decoded.photometric_interpretation().as_str()
            ));
        }
        let options = ConvertOptions::new().with_modality_lut(lut);
        let a = decoded
            .to_ndarray_with_options::<f32>(&options)
            .map_err(|e| error_chain(&e))?;
        Ok(a.index_axis_move(Axis(3), 0))
    })
    .map_err(|m| DicomError::Panic {
        path: path.to_path_buf(),
        message: m,
    })?
    .map_err(decode_err)?;
    Ok(array)
}

const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// Checks the RLE segment tables before decoding: dicom-rs 0.10 indexes them without
/// bounds checks and panics on a damaged table (docs/robustness.md).
fn check_rle(
    obj: &dicom_object::DefaultDicomObject,
    h: &super::InstanceHeader,
) -> Result<(), String> {
    let fragments = obj
        .element(dicom_dictionary_std::tags::PIXEL_DATA)
        .ok()
        .and_then(|e| e.value().fragments())
        .ok_or("RLE pixel data without fragments")?;
    let frames = h.number_of_frames as usize;
    if fragments.len() < frames {
        return Err(format!(
            "RLE pixel data has {} fragments for {frames} frames",
            fragments.len()
        ));
    }
    let segments = usize::from(h.samples_per_pixel.unwrap_or(1))
        * usize::from(h.bits_allocated.unwrap_or(16) / 8);
    for (i, f) in fragments.iter().take(frames).enumerate() {
        let word = |k: usize| {
            f.get(4 * k..4 * k + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        };
        let (Some(n), true) = (word(0), f.len() >= 64) else {
            return Err(format!(
                "RLE frame {i}: fragment shorter than its 64-byte header"
            ));
        };
        if n != segments {
            return Err(format!(
                "RLE frame {i}: {n} segments where the header implies {segments}"
            ));
        }
        let mut last = 64;
        for k in 1..=n {
            let off = word(k).unwrap_or(usize::MAX);
            if off < last || off >= f.len() {
                return Err(format!(
                    "RLE frame {i}: segment {k} offset {off} outside the fragment ({} bytes)",
                    f.len()
                ));
            }
            last = off;
        }
    }
    Ok(())
}
