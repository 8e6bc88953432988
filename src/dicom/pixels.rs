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
    let obj = super::header::open_part10(path, has_preamble, false)?;
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
