//! Which transfer syntaxes this build can decode pixel data from.

use dicom_encoding::TransferSyntaxIndex;
use dicom_encoding::transfer_syntax::Codec;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

/// Human-readable name of a transfer syntax UID (the UID itself when unknown).
pub fn name(uid: &str) -> String {
    let uid = uid.trim_end_matches('\0').trim();
    TransferSyntaxRegistry
        .get(uid)
        .map(|ts| ts.name().to_string())
        .unwrap_or_else(|| format!("unknown transfer syntax {uid}"))
}

/// Whether pixel data in this transfer syntax can be decoded by this build.
pub fn can_decode_pixels(uid: &str) -> bool {
    let uid = uid.trim_end_matches('\0').trim();
    match TransferSyntaxRegistry.get(uid).map(|ts| ts.codec()) {
        Some(Codec::None) | Some(Codec::Dataset(Some(_))) => true,
        Some(Codec::EncapsulatedPixelData(reader, _)) => reader.is_some(),
        _ => false,
    }
}

/// Whether pixel data in this transfer syntax is encapsulated (compressed fragments);
/// `None` for an unknown syntax.
pub fn is_encapsulated(uid: &str) -> Option<bool> {
    let uid = uid.trim_end_matches('\0').trim();
    TransferSyntaxRegistry
        .get(uid)
        .map(|ts| matches!(ts.codec(), Codec::EncapsulatedPixelData(..)))
}

/// A hint for the user when a syntax is known but not built in.
pub fn unsupported_hint(uid: &str) -> &'static str {
    match uid.trim_end_matches('\0').trim() {
        "1.2.840.10008.1.2.4.80" | "1.2.840.10008.1.2.4.81" => {
            " (JPEG-LS needs the optional `jpegls` feature: cargo build --features jpegls, which requires cmake and a C++ compiler)"
        }
        "1.2.840.10008.1.2.4.51" => {
            " (12-bit lossy JPEG Extended has no pure-Rust decoder; transcode with dcmtk `dcmdjpeg` first)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodable_syntaxes() {
        for uid in [
            "1.2.840.10008.1.2",
            "1.2.840.10008.1.2.1",
            "1.2.840.10008.1.2.2",
            "1.2.840.10008.1.2.1.99",
            "1.2.840.10008.1.2.5",
            "1.2.840.10008.1.2.4.50",
            "1.2.840.10008.1.2.4.57",
            "1.2.840.10008.1.2.4.70",
            "1.2.840.10008.1.2.4.90",
            "1.2.840.10008.1.2.4.91",
        ] {
            assert!(can_decode_pixels(uid), "{uid} ({})", name(uid));
        }
        assert!(!can_decode_pixels("1.2.3.4"));
        assert_eq!(name("1.2.840.10008.1.2.1\0"), "Explicit VR Little Endian");
    }

    #[cfg(not(feature = "jpegls"))]
    #[test]
    fn jpeg_ls_needs_feature() {
        assert!(!can_decode_pixels("1.2.840.10008.1.2.4.80"));
        assert!(unsupported_hint("1.2.840.10008.1.2.4.80").contains("jpegls"));
    }
}
