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
    } else {
        check_codestreams(&obj, &header).map_err(decode_err)?;
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

/// Image size declared by a JPEG (SOFn, incl. JPEG-LS SOF55) or JPEG 2000 (SIZ)
/// codestream, `(rows, columns)`; `None` when no such marker is found early on.
fn codestream_size(f: &[u8]) -> Option<(u32, u32)> {
    let be16 = |i: usize| {
        f.get(i..i + 2)
            .map(|b| u32::from(u16::from_be_bytes([b[0], b[1]])))
    };
    let be32 = |i: usize| {
        f.get(i..i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    // JPEG 2000: SIZ follows SOC (FF4F FF51), possibly inside a JP2 box structure.
    // Only frame starts are looked at: SOC itself, or a JP2 signature box.
    let j2k_start = f.starts_with(&[0xFF, 0x4F, 0xFF, 0x51])
        || f.starts_with(&[0, 0, 0, 0x0C, 0x6A, 0x50, 0x20, 0x20]);
    if let Some(at) = j2k_start
        .then(|| {
            f.windows(4)
                .take(4096)
                .position(|w| w == [0xFF, 0x4F, 0xFF, 0x51])
        })
        .flatten()
    {
        let siz = at + 4; // Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz
        let (x, y) = (be32(siz + 4)?, be32(siz + 8)?);
        let (xo, yo) = (be32(siz + 12)?, be32(siz + 16)?);
        return Some((y.saturating_sub(yo), x.saturating_sub(xo)));
    }
    if f.starts_with(&[0xFF, 0xD8]) {
        let mut i = 2;
        while i + 4 <= f.len().min(1 << 16) {
            if f[i] != 0xFF {
                return None;
            }
            let marker = f[i + 1];
            if marker == 0xFF {
                i += 1; // fill byte
                continue;
            }
            let len = be16(i + 2)? as usize;
            let sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
            if sof || marker == 0xF7 {
                return Some((be16(i + 5)?, be16(i + 7)?));
            }
            i += 2 + len;
        }
    }
    None
}

/// Checks that each compressed frame declares the size the header does: decoders
/// allocate what the codestream says, whatever Rows and Columns say.
fn check_codestreams(
    obj: &dicom_object::DefaultDicomObject,
    h: &super::InstanceHeader,
) -> Result<(), String> {
    let Some(fragments) = obj
        .element(dicom_dictionary_std::tags::PIXEL_DATA)
        .ok()
        .and_then(|e| e.value().fragments())
    else {
        return Ok(()); // native pixel data: its length was checked with the header
    };
    let want = (
        u32::from(h.rows.unwrap_or(0)),
        u32::from(h.columns.unwrap_or(0)),
    );
    for (i, f) in fragments.iter().enumerate() {
        if let Some(got) = codestream_size(f)
            && got != want
        {
            return Err(format!(
                "compressed fragment {i} declares a {}x{} image but Rows x Columns is {}x{}",
                got.0, got.1, want.0, want.1
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_size_jpeg_and_jpeg2000_codestreams_declare() {
        // JPEG: SOI, APP0 (length 4), SOF0 with height 300, width 200.
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0, 0, 0xFF, 0xC0, 0x00, 0x0B, 8, 0x01, 0x2C, 0x00,
            0xC8, 1,
        ];
        assert_eq!(super::codestream_size(&jpeg), Some((300, 200)));
        // JPEG 2000: SOC, SIZ with Xsiz 640, Ysiz 480, no offsets.
        let mut j2k = vec![0xFF, 0x4F, 0xFF, 0x51, 0x00, 0x29, 0x00, 0x00];
        j2k.extend(640u32.to_be_bytes());
        j2k.extend(480u32.to_be_bytes());
        j2k.extend([0u8; 8]);
        assert_eq!(super::codestream_size(&j2k), Some((480, 640)));
        assert_eq!(super::codestream_size(b"not a codestream"), None);
    }
}
