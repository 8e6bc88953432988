//! A bounds check of every element length in a Part-10 file, done before dicom-rs
//! parses it.
//!
//! dicom-rs allocates (and zero-fills) an element's stated length before reading its
//! value, so a lying length field (a 3.7 GB value in a 40 KB file) costs gigabytes of
//! memory and tens of seconds. This walker reads only element headers and seeks over
//! values, so it costs a few kilobytes of I/O, and rejects any element whose stated
//! length runs past the end of the file or of its enclosing sequence item.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

const UNDEFINED: u32 = 0xFFFF_FFFF;
const ITEM: (u16, u16) = (0xFFFE, 0xE000);
const ITEM_END: (u16, u16) = (0xFFFE, 0xE00D);
const SEQUENCE_END: (u16, u16) = (0xFFFE, 0xE0DD);
const PIXEL_DATA: (u16, u16) = (0x7FE0, 0x0010);
/// Explicit VRs with a 2-byte length field (PS3.5 7.1.2).
const SHORT_VRS: [&[u8; 2]; 21] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"PN",
    b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
];
/// Largest inflated size of a deflated data set (4 GiB, the most any length field can
/// address); the walk streams, so this bounds time, not memory.
const MAX_INFLATED: u64 = 1 << 32;

/// A reader that can only skip forward: enough for the walk over a data set (only the
/// file meta walk looks back, and it is never deflated).
struct ForwardOnly<R>(R);

impl<R: Read> Read for ForwardOnly<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> Seek for ForwardOnly<R> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        match pos {
            SeekFrom::Current(n) if n >= 0 => {
                let skipped =
                    std::io::copy(&mut (&mut self.0).take(n as u64), &mut std::io::sink())?;
                if skipped < n as u64 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                Ok(0)
            }
            _ => Err(std::io::Error::other("backward seek in a deflated stream")),
        }
    }
}

/// Real data sets nest sequences a handful of levels deep.
const MAX_DEPTH: usize = 32;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    ExplicitLe,
    ImplicitLe,
    ExplicitBe,
}

struct Walker<R> {
    r: R,
    pos: u64,
    len: u64,
    pixel_data: PixelDataLength,
}

/// What the walk saw of the top-level PixelData element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PixelDataLength {
    /// No PixelData element.
    Absent,
    /// Native (uncompressed) pixel data of this many bytes.
    Native(u64),
    /// Encapsulated (compressed) fragments.
    Encapsulated,
    /// Not walked (deflated data set).
    Unknown,
}

/// The outcome of a successful walk.
#[derive(Debug, Clone, Copy)]
pub struct Checked {
    /// Offset where the data set ends (bytes after it are padding or junk).
    pub data_end: u64,
    pub pixel_data: PixelDataLength,
}

type Check<T> = Result<T, String>;
/// Tag, explicit VR (if any) and stated length.
type ElementHeader = ((u16, u16), Option<[u8; 2]>, u32);

impl<R: Read + Seek> Walker<R> {
    fn bytes<const N: usize>(&mut self) -> Check<[u8; N]> {
        let mut b = [0u8; N];
        self.r
            .read_exact(&mut b)
            .map_err(|_| format!("file ends inside an element header at byte {}", self.pos))?;
        self.pos += N as u64;
        Ok(b)
    }

    fn u16(&mut self, be: bool) -> Check<u16> {
        let b = self.bytes::<2>()?;
        Ok(if be {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    fn u32(&mut self, be: bool) -> Check<u32> {
        let b = self.bytes::<4>()?;
        Ok(if be {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    fn skip(&mut self, n: u64) -> Check<()> {
        self.r
            .seek(SeekFrom::Current(n as i64))
            .map_err(|e| e.to_string())?;
        self.pos += n;
        Ok(())
    }

    /// Reads one element header: tag, explicit VR (if any) and length.
    fn header(&mut self, enc: Encoding) -> Check<ElementHeader> {
        let be = enc == Encoding::ExplicitBe;
        let group = self.u16(be)?;
        // Item and delimiter tags are always little endian in LE syntaxes, and have no VR.
        let element = self.u16(be)?;
        let tag = (group, element);
        if group == 0xFFFE || enc == Encoding::ImplicitLe {
            return Ok((tag, None, self.u32(be)?));
        }
        let vr = self.bytes::<2>()?;
        let long = matches!(
            &vr,
            b"OB"
                | b"OD"
                | b"OF"
                | b"OL"
                | b"OV"
                | b"OW"
                | b"SQ"
                | b"SV"
                | b"UC"
                | b"UN"
                | b"UR"
                | b"UT"
                | b"UV"
        );
        // An unknown VR makes readers disagree on the length field's size (dcmtk reads
        // 2 bytes, dicom-rs 4, and then allocates what those 4 bytes say): refuse it.
        if !long && !SHORT_VRS.contains(&&vr) {
            return Err(format!(
                "element ({group:04X},{element:04X}) has an invalid VR {:?} at byte {}",
                String::from_utf8_lossy(&vr),
                self.pos - 2
            ));
        }
        let length = if long {
            self.skip(2)?;
            self.u32(be)?
        } else {
            self.u16(be)? as u32
        };
        Ok((tag, Some(vr), length))
    }

    fn check_len(&self, tag: (u16, u16), length: u32, end: u64) -> Check<()> {
        if self.pos + length as u64 > end {
            return Err(format!(
                "element ({:04X},{:04X}) claims {length} bytes but only {} remain{}",
                tag.0,
                tag.1,
                end.saturating_sub(self.pos),
                if end < self.len {
                    " in its sequence item"
                } else {
                    " in the file"
                }
            ));
        }
        Ok(())
    }

    /// Walks elements until `end` or the `stop` delimiter. At top level, returns the
    /// offset just past the PixelData element when there is one.
    fn elements(
        &mut self,
        enc: Encoding,
        end: u64,
        depth: usize,
        stop: (u16, u16),
    ) -> Check<Option<u64>> {
        if depth > MAX_DEPTH {
            return Err(format!("sequences nested more than {MAX_DEPTH} deep"));
        }
        while self.pos < end {
            let (tag, vr, length) = self.header(enc)?;
            if tag == stop {
                return Ok(None);
            }
            if depth == 0 && tag == PIXEL_DATA {
                if length == UNDEFINED {
                    self.fragments(enc)?;
                    self.pixel_data = PixelDataLength::Encapsulated;
                } else {
                    self.check_len(tag, length, end)?;
                    self.skip(length as u64)?;
                    self.pixel_data = PixelDataLength::Native(length as u64);
                }
                return Ok(Some(self.pos));
            }
            let is_sq = vr.as_ref() == Some(b"SQ") || (length == UNDEFINED && tag.0 != 0xFFFE);
            if length == UNDEFINED {
                if !is_sq && vr.is_some() && vr.as_ref() != Some(b"UN") {
                    return Err(format!(
                        "element ({:04X},{:04X}) has undefined length but is not a sequence",
                        tag.0, tag.1
                    ));
                }
                // UN of undefined length holds an implicit VR little endian sequence
                // (PS3.5 6.2.2).
                let inner = if vr.as_ref() == Some(b"UN") {
                    Encoding::ImplicitLe
                } else {
                    enc
                };
                self.items(inner, end, depth + 1, None)?;
            } else {
                self.check_len(tag, length, end)?;
                if is_sq && length > 0 {
                    let item_end = self.pos + length as u64;
                    self.items(enc, item_end, depth + 1, Some(item_end))?;
                } else {
                    self.skip(length as u64)?;
                }
            }
        }
        if self.pos != end {
            return Err(format!(
                "element lengths overrun their sequence item by {} bytes",
                self.pos - end
            ));
        }
        Ok(None)
    }

    /// Walks the fragments of encapsulated pixel data up to its sequence delimiter.
    fn fragments(&mut self, enc: Encoding) -> Check<()> {
        loop {
            let (tag, _, length) = self.header(enc)?;
            match tag {
                SEQUENCE_END => return Ok(()),
                ITEM if length != UNDEFINED => {
                    self.check_len(tag, length, self.len)?;
                    self.skip(length as u64)?;
                }
                _ => {
                    return Err(format!(
                        "unexpected element ({:04X},{:04X}) among the pixel data fragments",
                        tag.0, tag.1
                    ));
                }
            }
        }
    }

    /// Walks the items of a sequence. `defined_end` is set for defined-length sequences.
    fn items(
        &mut self,
        enc: Encoding,
        outer_end: u64,
        depth: usize,
        defined_end: Option<u64>,
    ) -> Check<()> {
        let end = defined_end.unwrap_or(outer_end);
        loop {
            if defined_end.is_some() && self.pos >= end {
                return Ok(());
            }
            if self.pos >= self.len {
                return Err(
                    "file ends inside an undefined-length sequence (no sequence delimiter)".into(),
                );
            }
            let (tag, _, length) = self.header(enc)?;
            match tag {
                SEQUENCE_END => return Ok(()),
                ITEM if length == UNDEFINED => {
                    self.elements(enc, end.min(self.len), depth, ITEM_END)?;
                }
                ITEM => {
                    self.check_len(tag, length, end)?;
                    let item_end = self.pos + length as u64;
                    self.elements(enc, item_end, depth, ITEM_END)?;
                }
                _ => {
                    return Err(format!(
                        "unexpected element ({:04X},{:04X}) inside a sequence",
                        tag.0, tag.1
                    ));
                }
            }
        }
    }
}

/// Checks that no element length in the file overruns the file. `data_start` is the
/// offset of the file meta group (132 with a preamble, 4 without). Returns the offset
/// where the data set ends: just past the top-level PixelData when there is one (bytes
/// after it are padding or junk), the file length otherwise.
pub fn check_lengths(path: &Path, data_start: u64) -> Result<u64, String> {
    check_file(path, data_start).map(|c| c.data_end)
}

/// [`check_lengths`], also reporting what was seen of the pixel data.
pub fn check_file(path: &Path, data_start: u64) -> Result<Checked, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    check_reader(BufReader::with_capacity(16 * 1024, file), len, data_start)
}

/// [`check_file`] on a Part-10 file held in memory (e.g. received over the network).
pub fn check_bytes(bytes: &[u8], data_start: u64) -> Result<Checked, String> {
    check_reader(std::io::Cursor::new(bytes), bytes.len() as u64, data_start)
}

fn check_reader<R: Read + Seek>(r: R, len: u64, data_start: u64) -> Result<Checked, String> {
    let mut w = Walker {
        r,
        pos: 0,
        len,
        pixel_data: PixelDataLength::Absent,
    };
    w.skip(data_start)?;
    // File meta: explicit VR little endian; its group length bounds it, but we walk
    // element by element to find the transfer syntax.
    let mut ts = String::new();
    let mut group_end: Option<u64> = None;
    loop {
        let start = w.pos;
        if start + 4 > len {
            break;
        }
        let group = w.u16(false)?;
        w.r.seek(SeekFrom::Current(-2)).map_err(|e| e.to_string())?;
        w.pos -= 2;
        if group != 0x0002 {
            break;
        }
        let (tag, _, length) = w.header(Encoding::ExplicitLe)?;
        if length == UNDEFINED {
            return Err("file meta element with undefined length".into());
        }
        w.check_len(tag, length, len)?;
        if tag == (0x0002, 0x0000) && length == 4 {
            let b = w.bytes::<4>()?;
            group_end = Some(w.pos + u64::from(u32::from_le_bytes(b)));
        } else if tag == (0x0002, 0x0010) {
            let mut v = vec![0u8; length as usize];
            w.r.read_exact(&mut v).map_err(|e| e.to_string())?;
            w.pos += length as u64;
            ts = String::from_utf8_lossy(&v)
                .trim_end_matches(['\0', ' '])
                .to_string();
        } else {
            w.skip(length as u64)?;
        }
    }
    // dicom-rs takes the data set to start where the group length says: if the meta
    // elements end elsewhere, it reads the data set from the wrong offset (and trusts
    // whatever lengths it finds there).
    if let Some(end) = group_end
        && end != w.pos
    {
        return Err(format!(
            "file meta group length ends the group at byte {end} but its elements end at byte {}",
            w.pos
        ));
    }
    let enc = match ts.as_str() {
        "1.2.840.10008.1.2" => Encoding::ImplicitLe,
        "1.2.840.10008.1.2.2" => Encoding::ExplicitBe,
        // Deflated: the lengths are inside the compressed stream. dicom-rs would trust
        // them just the same, so the inflated data set is walked as a stream.
        "1.2.840.10008.1.2.1.99" => {
            let start = w.pos;
            let mut r = w.r;
            let inflated = std::io::copy(
                &mut flate2::read::DeflateDecoder::new(&mut r).take(MAX_INFLATED + 1),
                &mut std::io::sink(),
            )
            .map_err(|e| format!("deflated data set cannot be inflated: {e}"))?;
            if inflated > MAX_INFLATED {
                return Err(format!(
                    "deflated data set inflates to more than {} MB",
                    MAX_INFLATED >> 20
                ));
            }
            r.seek(SeekFrom::Start(start)).map_err(|e| e.to_string())?;
            let mut inner = Walker {
                r: ForwardOnly(flate2::read::DeflateDecoder::new(r)),
                pos: 0,
                len: inflated,
                pixel_data: PixelDataLength::Absent,
            };
            inner.elements(Encoding::ExplicitLe, inflated, 0, (0xFFFF, 0xFFFF))?;
            return Ok(Checked {
                data_end: len,
                pixel_data: inner.pixel_data,
            });
        }
        // JPIP referenced deflate: the pixel data is elsewhere.
        "1.2.840.10008.1.2.4.95" => {
            return Ok(Checked {
                data_end: len,
                pixel_data: PixelDataLength::Unknown,
            });
        }
        _ => Encoding::ExplicitLe,
    };
    let data_end = w.elements(enc, len, 0, (0xFFFF, 0xFFFF))?.unwrap_or(len);
    Ok(Checked {
        data_end,
        pixel_data: w.pixel_data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explicit_le(tag: (u16, u16), vr: &[u8; 2], value: &[u8], stated: Option<u32>) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&tag.0.to_le_bytes());
        v.extend_from_slice(&tag.1.to_le_bytes());
        v.extend_from_slice(vr);
        let len = stated.unwrap_or(value.len() as u32);
        if matches!(vr, b"OB" | b"OW" | b"SQ" | b"UN" | b"UT") {
            v.extend_from_slice(&[0, 0]);
            v.extend_from_slice(&len.to_le_bytes());
        } else {
            v.extend_from_slice(&(len as u16).to_le_bytes());
        }
        v.extend_from_slice(value);
        v
    }

    fn file(body: &[u8]) -> tempfile::NamedTempFile {
        let mut bytes = vec![0u8; 128];
        bytes.extend_from_slice(b"DICM");
        bytes.extend(explicit_le(
            (0x0002, 0x0010),
            b"UI",
            b"1.2.840.10008.1.2.1\0",
            None,
        ));
        bytes.extend_from_slice(body);
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), bytes).unwrap();
        f
    }

    #[test]
    fn accepts_consistent_lengths_and_stops_at_pixel_data() {
        let mut body = explicit_le((0x0008, 0x0060), b"CS", b"MR", None);
        // An undefined-length sequence with one undefined-length item.
        body.extend(explicit_le((0x0008, 0x1140), b"SQ", &[], Some(UNDEFINED)));
        body.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        body.extend(explicit_le((0x0008, 0x1150), b"UI", b"1.2\0", None));
        body.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        body.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        body.extend(explicit_le((0x7FE0, 0x0010), b"OW", &[1, 0, 2, 0], None));
        let f = file(&body);
        let end = check_lengths(f.path(), 132).unwrap();
        // Trailing junk after the pixel data is not part of the data set.
        let len = std::fs::metadata(f.path()).unwrap().len();
        assert_eq!(end, len);
        let mut with_junk = std::fs::read(f.path()).unwrap();
        with_junk.extend_from_slice(&[0u8; 100]);
        std::fs::write(f.path(), with_junk).unwrap();
        assert_eq!(check_lengths(f.path(), 132).unwrap(), len);
    }

    #[test]
    fn rejects_lying_lengths() {
        let body = explicit_le((0x0008, 0x0008), b"UN", b"abc", Some(4_000_000_000));
        let err = check_lengths(file(&body).path(), 132).unwrap_err();
        assert!(err.contains("claims 4000000000 bytes"), "{err}");
        let body = explicit_le((0x7FE0, 0x0010), b"OW", &[0; 8], Some(1 << 30));
        assert!(check_lengths(file(&body).path(), 132).is_err());
    }

    fn deflated_file(body: &[u8]) -> tempfile::NamedTempFile {
        use std::io::Write as _;
        let mut bytes = vec![0u8; 128];
        bytes.extend_from_slice(b"DICM");
        bytes.extend(explicit_le(
            (0x0002, 0x0010),
            b"UI",
            b"1.2.840.10008.1.2.1.99\0",
            None,
        ));
        let mut enc =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(body).unwrap();
        bytes.extend(enc.finish().unwrap());
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), bytes).unwrap();
        f
    }

    #[test]
    fn rejects_a_meta_group_length_that_disagrees_with_the_elements() {
        // Found by the header fuzzer: dicom-rs starts the data set where the group
        // length says, here inside zeros, and allocated 1.1 GB for a 2 KB file.
        let ts = explicit_le((0x0002, 0x0010), b"UI", b"1.2.840.10008.1.2.1\0", None);
        let mut bytes = vec![0u8; 128];
        bytes.extend_from_slice(b"DICM");
        let wrong = ts.len() as u32 + 40;
        bytes.extend(explicit_le(
            (0x0002, 0x0000),
            b"UL",
            &wrong.to_le_bytes(),
            None,
        ));
        bytes.extend(&ts);
        bytes.extend(explicit_le((0x0008, 0x0060), b"CS", b"MR", None));
        bytes.extend([0u8; 64]);
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), &bytes).unwrap();
        let err = check_lengths(f.path(), 132).unwrap_err();
        assert!(err.contains("group length"), "{err}");
        // The same file with the right group length passes.
        let right = ts.len() as u32;
        let at = 132 + 8;
        bytes[at..at + 4].copy_from_slice(&right.to_le_bytes());
        bytes.truncate(bytes.len() - 64);
        std::fs::write(f.path(), &bytes).unwrap();
        check_lengths(f.path(), 132).unwrap();
    }

    #[test]
    fn walks_inside_deflated_data_sets() {
        let mut body = explicit_le((0x0008, 0x0060), b"CS", b"MR", None);
        body.extend(explicit_le((0x7FE0, 0x0010), b"OW", &[1, 0, 2, 0], None));
        let ok = check_file(deflated_file(&body).path(), 132).unwrap();
        assert_eq!(ok.pixel_data, PixelDataLength::Native(4));
        // A lying length hidden by the compression is found all the same.
        let mut body = explicit_le((0x0008, 0x0060), b"CS", b"MR", None);
        body.extend(explicit_le(
            (0x0008, 0x0008),
            b"UN",
            b"abc",
            Some(4_000_000_000),
        ));
        let err = check_file(deflated_file(&body).path(), 132).unwrap_err();
        assert!(err.contains("claims 4000000000 bytes"), "{err}");
    }

    #[test]
    fn rejects_invalid_vrs_whose_length_readers_disagree_on() {
        // Found by the header fuzzer: dicom-rs read 4 length bytes here and allocated
        // 3.7 GB for a 5.7 KB file.
        let mut body = explicit_le((0x0008, 0x0060), b"CS", b"MR", None);
        body.extend_from_slice(&[0x08, 0xFF, 0x0D, 0xE0, 0, 0, 0xFE, 0xFF, 0xDD, 0xE0]);
        let err = check_lengths(file(&body).path(), 132).unwrap_err();
        assert!(err.contains("invalid VR"), "{err}");
    }

    #[test]
    fn walks_undefined_length_un_as_implicit_vr() {
        let mut body = explicit_le((0x0009, 0x1010), b"UN", &[], Some(UNDEFINED));
        body.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        // Implicit VR element inside: tag, 4-byte length, value.
        body.extend_from_slice(&[0x09, 0x00, 0x11, 0x10, 2, 0, 0, 0, b'A', b' ']);
        body.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        body.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        body.extend(explicit_le((0x7FE0, 0x0010), b"OW", &[1, 0], None));
        check_lengths(file(&body).path(), 132).unwrap();
    }

    #[test]
    fn rejects_unterminated_and_deep_sequences() {
        let mut body = explicit_le((0x0008, 0x1140), b"SQ", &[], Some(UNDEFINED));
        body.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert!(check_lengths(file(&body).path(), 132).is_err());
        let mut deep = Vec::new();
        for _ in 0..40 {
            deep.extend(explicit_le((0x0008, 0x1140), b"SQ", &[], Some(UNDEFINED)));
            deep.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        }
        let err = check_lengths(file(&deep).path(), 132).unwrap_err();
        assert!(err.contains("nested"), "{err}");
    }
}
