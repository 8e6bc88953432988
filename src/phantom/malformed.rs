//! A corpus of malformed and hostile inputs, generated from a small valid MR series.
//!
//! Every file is written byte by byte by a minimal explicit-VR little-endian encoder of
//! its own (not by dicom-rs, the reader under test), so a defect is exactly the one
//! named. The corpus drives `tests/robustness.rs`, seeds the fuzzers in `fuzz/`, and can
//! be written to disk with `foramen phantom --malformed DIR`. See docs/robustness.md.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A patient name no output of foramen may contain (reports and logs carry no names).
pub const SENTINEL_PATIENT_NAME: &str = "SENTINEL^LEAKCHECK";

/// What a correct reader does with a corpus file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Not an instance at all: listed in the report's skipped files with a reason.
    SkippedFile,
    /// A readable header that cannot be measured on: its series is reported unusable
    /// (or failed) with a reason, or the file is skipped.
    Unusable,
    /// May or may not be readable (random damage): anything but a crash or a hang.
    Any,
}

/// One generated file: relative path, content, what is wrong with it.
#[derive(Debug, Clone)]
pub struct CorpusFile {
    pub name: String,
    pub bytes: Vec<u8>,
    pub defect: String,
    pub expect: Expect,
}

impl CorpusFile {
    /// The SeriesInstanceUID this file was written with (read back from its bytes: the
    /// generator writes it as one explicit-VR `UI` element).
    pub fn series_instance_uid(&self) -> Option<String> {
        let at = find_tag(&self.bytes, (0x0020, 0x000E), 0)?;
        if self.bytes.get(at + 4..at + 6)? != b"UI" {
            return None;
        }
        let len = u16::from_le_bytes([self.bytes[at + 6], *self.bytes.get(at + 7)?]) as usize;
        let v = self.bytes.get(at + 8..at + 8 + len)?;
        Some(
            String::from_utf8_lossy(v)
                .trim_end_matches('\0')
                .to_string(),
        )
    }
}

const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
const MR_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.4";
const UID_ROOT: &str = "1.2.826.0.1.3680043.10.1403.9";

type Tag = (u16, u16);

/// VRs with a 2-byte reserved field and a 4-byte length in explicit VR encoding.
fn long_form(vr: &[u8; 2]) -> bool {
    matches!(
        vr,
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
    )
}

/// Encodes one explicit VR little-endian element with the given stated length.
fn element_with_len(tag: Tag, vr: &[u8; 2], value: &[u8], len: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + value.len());
    out.extend_from_slice(&tag.0.to_le_bytes());
    out.extend_from_slice(&tag.1.to_le_bytes());
    out.extend_from_slice(vr);
    if long_form(vr) {
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&len.to_le_bytes());
    } else {
        out.extend_from_slice(&(len as u16).to_le_bytes());
    }
    out.extend_from_slice(value);
    out
}

/// Encodes one element, padding text values to even length as the standard requires.
fn element(tag: Tag, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
    let mut v = value.to_vec();
    if v.len() % 2 == 1 {
        v.push(if vr == b"UI" || vr == b"OB" { 0 } else { b' ' });
    }
    let len = v.len() as u32;
    element_with_len(tag, vr, &v, len)
}

fn text(tag: Tag, vr: &[u8; 2], s: &str) -> (Tag, Vec<u8>) {
    (tag, element(tag, vr, s.as_bytes()))
}

fn us(tag: Tag, v: u16) -> (Tag, Vec<u8>) {
    (tag, element(tag, b"US", &v.to_le_bytes()))
}

/// A sequence of defined length holding `items` (each already encoded elements).
fn sequence(tag: Tag, items: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::new();
    for item in items {
        body.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
        body.extend_from_slice(&(item.len() as u32).to_le_bytes());
        body.extend_from_slice(item);
    }
    let len = body.len() as u32;
    element_with_len(tag, b"SQ", &body, len)
}

/// One instance: its data set elements keyed by tag (sorted on encoding).
#[derive(Clone)]
struct Instance {
    elements: Vec<(Tag, Vec<u8>)>,
    transfer_syntax: String,
    sop_instance_uid: String,
}

/// Where and how big a slice is.
#[derive(Clone)]
struct SliceSpec {
    study: String,
    series: String,
    sop: String,
    series_number: u16,
    index: usize,
    rows: u16,
    cols: u16,
}

impl SliceSpec {
    fn new(key: &str, index: usize) -> SliceSpec {
        let h = key
            .bytes()
            .fold(7u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32));
        SliceSpec {
            study: format!("{UID_ROOT}.1.{}", h % 100_000),
            series: format!("{UID_ROOT}.2.{}", h % 100_000),
            sop: format!("{UID_ROOT}.3.{}.{index}", h % 100_000),
            series_number: (h % 900 + 100) as u16,
            index,
            rows: 32,
            cols: 32,
        }
    }
}

fn instance(s: &SliceSpec) -> Instance {
    // Sagittal slices 4 mm apart along patient x, 1 mm pixels.
    let x = -8.0 + 4.0 * s.index as f64;
    let mut pixels = Vec::with_capacity(s.rows as usize * s.cols as usize * 2);
    for r in 0..s.rows as usize {
        for c in 0..s.cols as usize {
            let v = ((r * 37 + c * 11 + s.index * 101) % 1000) as u16;
            pixels.extend_from_slice(&v.to_le_bytes());
        }
    }
    let elements = vec![
        text((0x0008, 0x0016), b"UI", MR_STORAGE),
        text((0x0008, 0x0018), b"UI", &s.sop),
        text((0x0008, 0x0060), b"CS", "MR"),
        text((0x0008, 0x103E), b"LO", "SAG T1 malformed corpus"),
        text((0x0010, 0x0010), b"PN", SENTINEL_PATIENT_NAME),
        text((0x0010, 0x0020), b"LO", "CORPUS"),
        text((0x0018, 0x0050), b"DS", "4"),
        text((0x0018, 0x0080), b"DS", "500"),
        text((0x0018, 0x0081), b"DS", "10"),
        text((0x0020, 0x000D), b"UI", &s.study),
        text((0x0020, 0x000E), b"UI", &s.series),
        text((0x0020, 0x0011), b"IS", &s.series_number.to_string()),
        text((0x0020, 0x0013), b"IS", &(s.index + 1).to_string()),
        text((0x0020, 0x0032), b"DS", &format!("{x}\\-100\\100")),
        text((0x0020, 0x0037), b"DS", "0\\1\\0\\0\\0\\-1"),
        text((0x0020, 0x0052), b"UI", &format!("{}.9", s.study)),
        us((0x0028, 0x0002), 1),
        text((0x0028, 0x0004), b"CS", "MONOCHROME2"),
        us((0x0028, 0x0010), s.rows),
        us((0x0028, 0x0011), s.cols),
        text((0x0028, 0x0030), b"DS", "1\\1"),
        us((0x0028, 0x0100), 16),
        us((0x0028, 0x0101), 12),
        us((0x0028, 0x0102), 11),
        us((0x0028, 0x0103), 0),
        ((0x7FE0, 0x0010), element((0x7FE0, 0x0010), b"OW", &pixels)),
    ];
    Instance {
        elements,
        transfer_syntax: EXPLICIT_LE.into(),
        sop_instance_uid: s.sop.clone(),
    }
}

impl Instance {
    fn set(&mut self, tag: Tag, encoded: Vec<u8>) -> &mut Self {
        self.elements.retain(|(t, _)| *t != tag);
        self.elements.push((tag, encoded));
        self
    }

    fn set_text(&mut self, tag: Tag, vr: &[u8; 2], s: &str) -> &mut Self {
        let (t, e) = text(tag, vr, s);
        self.set(t, e)
    }

    fn remove(&mut self, tag: Tag) -> &mut Self {
        self.elements.retain(|(t, _)| *t != tag);
        self
    }

    /// The data set bytes, elements in tag order (raw fragments sort by their key).
    fn dataset(&self) -> Vec<u8> {
        let mut els = self.elements.clone();
        els.sort_by_key(|(t, _)| *t);
        els.into_iter().flat_map(|(_, e)| e).collect()
    }

    /// The Part-10 file: preamble, `DICM`, file meta group, data set.
    fn file(&self) -> Vec<u8> {
        let mut meta = Vec::new();
        meta.extend(element((0x0002, 0x0001), b"OB", &[0, 1]));
        meta.extend(element((0x0002, 0x0002), b"UI", MR_STORAGE.as_bytes()));
        meta.extend(element(
            (0x0002, 0x0003),
            b"UI",
            self.sop_instance_uid.as_bytes(),
        ));
        meta.extend(element(
            (0x0002, 0x0010),
            b"UI",
            self.transfer_syntax.as_bytes(),
        ));
        meta.extend(element(
            (0x0002, 0x0012),
            b"UI",
            format!("{UID_ROOT}.0").as_bytes(),
        ));
        let mut out = vec![0u8; 128];
        out.extend_from_slice(b"DICM");
        out.extend(element(
            (0x0002, 0x0000),
            b"UL",
            &(meta.len() as u32).to_le_bytes(),
        ));
        out.extend(meta);
        if self.transfer_syntax == DEFLATED {
            use std::io::Write as _;
            let mut enc =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            // Writing to a Vec cannot fail.
            let _ = enc.write_all(&self.dataset());
            out.extend(enc.finish().unwrap_or_default());
        } else {
            out.extend(self.dataset());
        }
        out
    }
}

/// Byte offset of the first occurrence of `tag`'s header at or after `from`.
fn find_tag(bytes: &[u8], tag: Tag, from: usize) -> Option<usize> {
    let mut pat = Vec::new();
    pat.extend_from_slice(&tag.0.to_le_bytes());
    pat.extend_from_slice(&tag.1.to_le_bytes());
    bytes
        .windows(4)
        .skip(from)
        .position(|w| w == pat.as_slice())
        .map(|p| p + from)
}

const PATIENT_NAME: Tag = (0x0010, 0x0010);
const ROWS: Tag = (0x0028, 0x0010);
const COLUMNS: Tag = (0x0028, 0x0011);
const PIXEL_DATA: Tag = (0x7FE0, 0x0010);
const PIXEL_SPACING: Tag = (0x0028, 0x0030);

/// The whole corpus, deterministic.
pub fn corpus() -> Vec<CorpusFile> {
    let mut out = Vec::new();
    let mut push = |name: String, bytes: Vec<u8>, defect: &str, expect: Expect| {
        out.push(CorpusFile {
            name,
            bytes,
            defect: defect.to_string(),
            expect,
        })
    };

    // A good 5-slice series the damaged copies are cut from; it stays in the corpus so
    // a test can check that good files next to bad ones are still read.
    let good: Vec<Instance> = (0..5)
        .map(|k| instance(&SliceSpec::new("good", k)))
        .collect();
    for (k, inst) in good.iter().enumerate() {
        push(
            format!("good/IM{k}.dcm"),
            inst.file(),
            "none (valid reference slice)",
            Expect::Any,
        );
    }
    // Damaged copies come from a slice of their own series, so they never spoil `good`.
    let damaged = instance(&SliceSpec::new("damaged", 2));
    let base = damaged.file();
    let pixel_at = find_tag(&base, PIXEL_DATA, 132).unwrap_or(base.len());
    let name_at = find_tag(&base, PATIENT_NAME, 132).unwrap_or(132);

    // Truncations: inside the preamble, the marker, the meta group, an element header,
    // an element value, the pixel data header and the pixel data.
    let cuts = [
        1,
        64,
        130,
        134,
        140,
        150,
        name_at + 3,
        name_at + 10,
        pixel_at + 2,
        pixel_at + 10,
        pixel_at + 13,
        pixel_at + (base.len() - pixel_at) / 4,
        pixel_at + (base.len() - pixel_at) / 2,
        base.len() - 1,
    ];
    for cut in cuts {
        push(
            format!("truncated/at_{cut:05}.dcm"),
            base[..cut.min(base.len())].to_vec(),
            &format!("truncated at byte {cut} of {}", base.len()),
            Expect::SkippedFile,
        );
    }

    // Seeded bit flips and byte garbage in the header region.
    let mut rng = ChaCha8Rng::seed_from_u64(0x0F0A_A3E7);
    for i in 0..24 {
        let mut b = base.clone();
        let flips = 1 + i % 4;
        for _ in 0..flips {
            let at = rng.random_range(128..pixel_at + 12);
            b[at] ^= 1 << rng.random_range(0..8);
        }
        push(
            format!("bitflip/flip_{i:02}.dcm"),
            b,
            &format!("{flips} random bit flips in the header"),
            Expect::Any,
        );
    }
    for i in 0..6 {
        let mut b = base.clone();
        let at = rng.random_range(132..pixel_at);
        let n = rng.random_range(4..40usize).min(b.len() - at);
        for x in &mut b[at..at + n] {
            *x = rng.random();
        }
        push(
            format!("bitflip/garbage_{i}.dcm"),
            b,
            &format!("{n} random bytes at offset {at}"),
            Expect::Any,
        );
    }

    // Lying lengths: values longer than the file (4 GB in a 2 KB file), an odd length,
    // a meta group length past the end.
    let lie = |tag: Tag, vr: &[u8; 2], value: &[u8], len: u32| {
        let mut inst = damaged.clone();
        inst.set(tag, element_with_len(tag, vr, value, len));
        inst.file()
    };
    push(
        "length/pixel_data_4gb.dcm".into(),
        lie(PIXEL_DATA, b"OW", &[0; 64], 0xFFFF_FFF0),
        "PixelData states 4 GB in a small file",
        Expect::SkippedFile,
    );
    push(
        "length/patient_name_65535.dcm".into(),
        lie(PATIENT_NAME, b"PN", b"X^Y ", 0xFFFF),
        "PatientName states 65535 bytes",
        Expect::SkippedFile,
    );
    {
        let mut inst = damaged.clone();
        inst.set(
            PATIENT_NAME,
            element_with_len(PATIENT_NAME, b"UT", b"X^Y ", 0xFFFF_FFF0),
        );
        inst.transfer_syntax = DEFLATED.into();
        push(
            "length/deflated_4gb.dcm".into(),
            inst.file(),
            "a 4 GB length inside a deflated data set",
            Expect::SkippedFile,
        );
        let mut inst = damaged.clone();
        inst.transfer_syntax = DEFLATED.into();
        let mut b = inst.file();
        let n = b.len();
        b.truncate(n - n / 3);
        push(
            "truncated/deflated_stream.dcm".into(),
            b,
            "deflated data set cut short",
            Expect::SkippedFile,
        );
    }
    push(
        "length/text_value_odd.dcm".into(),
        lie((0x0008, 0x103E), b"LO", b"ODD", 3),
        "odd value length (3) for a text element",
        Expect::Any,
    );
    push(
        "length/sequence_4gb.dcm".into(),
        lie((0x0008, 0x1140), b"SQ", &[], 0xFFFF_FFF0),
        "a sequence states 4 GB",
        Expect::SkippedFile,
    );
    {
        let mut b = base.clone();
        // (0002,0000) value sits after preamble, marker, 8-byte header.
        b[140..144].copy_from_slice(&0x7FFF_FFF0u32.to_le_bytes());
        push(
            "length/meta_group_2gb.dcm".into(),
            b,
            "file meta group length states 2 GB",
            Expect::SkippedFile,
        );
    }
    {
        let mut inst = damaged.clone();
        let item_len = 0xFFFF_FF00u32;
        let mut body = vec![0xFE, 0xFF, 0x00, 0xE0];
        body.extend_from_slice(&item_len.to_le_bytes());
        body.extend(element((0x0008, 0x1150), b"UI", MR_STORAGE.as_bytes()));
        let len = body.len() as u32;
        inst.set(
            (0x0008, 0x1140),
            element_with_len((0x0008, 0x1140), b"SQ", &body, len),
        );
        push(
            "length/item_4gb.dcm".into(),
            inst.file(),
            "a sequence item states 4 GB",
            Expect::SkippedFile,
        );
    }

    // Wrong value representations.
    let wrong_vr = |tag: Tag, vr: &[u8; 2], value: &[u8]| {
        let mut inst = damaged.clone();
        inst.set(tag, element(tag, vr, value));
        inst.file()
    };
    push(
        "vr/rows_as_float.dcm".into(),
        wrong_vr(ROWS, b"FL", &32.0f32.to_le_bytes()),
        "Rows encoded as FL instead of US",
        Expect::Any,
    );
    push(
        "vr/rows_as_text.dcm".into(),
        wrong_vr(ROWS, b"DS", b"32"),
        "Rows encoded as DS text",
        Expect::Any,
    );
    push(
        "vr/spacing_as_binary.dcm".into(),
        wrong_vr(PIXEL_SPACING, b"US", &[1, 0, 1, 0]),
        "PixelSpacing encoded as US binary",
        Expect::Any,
    );
    push(
        "vr/invalid_vr_code.dcm".into(),
        wrong_vr((0x0008, 0x103E), b"ZZ", b"NOT A VR"),
        "an element with VR 'ZZ'",
        Expect::Any,
    );
    push(
        "vr/pixel_data_as_sequence.dcm".into(),
        wrong_vr(PIXEL_DATA, b"SQ", &[0; 16]),
        "PixelData encoded as SQ",
        Expect::Unusable,
    );
    push(
        "vr/rows_one_byte.dcm".into(),
        wrong_vr(ROWS, b"US", &[32]),
        "Rows (US) with a 1-byte value",
        Expect::Any,
    );

    // Undefined-length sequences and items never closed, and deep nesting.
    {
        let mut inst = damaged.clone();
        let mut raw = element_with_len((0x0008, 0x1140), b"SQ", &[], 0xFFFF_FFFF);
        raw.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        raw.extend(element((0x0008, 0x1150), b"UI", MR_STORAGE.as_bytes()));
        inst.set((0x0008, 0x1140), raw);
        // Everything after it (geometry, pixels) is inside the unclosed item.
        push(
            "sequence/undefined_never_closed.dcm".into(),
            inst.file(),
            "undefined-length sequence and item with no delimiters",
            Expect::Unusable,
        );
        let mut only = damaged.clone();
        only.elements.retain(|(t, _)| *t < (0x0008, 0x1140));
        let mut raw = element_with_len((0x0008, 0x1140), b"SQ", &[], 0xFFFF_FFFF);
        raw.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        only.set((0x0008, 0x1140), raw);
        push(
            "sequence/undefined_at_eof.dcm".into(),
            only.file(),
            "file ends inside an undefined-length sequence",
            Expect::SkippedFile,
        );
    }
    for depth in [40usize, 2000] {
        let mut inst = damaged.clone();
        let mut raw = Vec::new();
        for _ in 0..depth {
            raw.extend(element_with_len((0x0008, 0x1140), b"SQ", &[], 0xFFFF_FFFF));
            raw.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        }
        for _ in 0..depth {
            raw.extend_from_slice(&[0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
            raw.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        }
        inst.set((0x0008, 0x1140), raw);
        push(
            format!("sequence/nested_{depth}.dcm"),
            inst.file(),
            &format!("sequences nested {depth} deep (undefined lengths)"),
            Expect::SkippedFile,
        );
    }
    {
        let mut inner = element((0x0008, 0x1150), b"UI", MR_STORAGE.as_bytes());
        for _ in 0..200 {
            inner = sequence((0x0008, 0x1140), &[inner]);
        }
        let mut inst = damaged.clone();
        inst.set((0x0008, 0x1140), inner);
        push(
            "sequence/nested_200_defined.dcm".into(),
            inst.file(),
            "sequences nested 200 deep (defined lengths)",
            Expect::SkippedFile,
        );
    }

    // Series with a missing or absurd attribute on every slice: the series is unusable
    // and the report says why.
    type Mutate = fn(&mut Instance);
    let series_cases: Vec<(&str, &str, Mutate)> = vec![
        ("no_pixel_spacing", "PixelSpacing missing", |i| {
            i.remove(PIXEL_SPACING);
        }),
        ("no_orientation", "ImageOrientationPatient missing", |i| {
            i.remove((0x0020, 0x0037));
        }),
        ("no_position", "ImagePositionPatient missing", |i| {
            i.remove((0x0020, 0x0032));
        }),
        ("no_rows", "Rows missing", |i| {
            i.remove(ROWS);
        }),
        ("no_bits_allocated", "BitsAllocated missing", |i| {
            i.remove((0x0028, 0x0100));
        }),
        ("no_pixel_data", "PixelData missing", |i| {
            i.remove(PIXEL_DATA);
        }),
        (
            "no_uids",
            "Study, Series and SOP Instance UIDs empty",
            |i| {
                i.set_text((0x0020, 0x000D), b"UI", "")
                    .set_text((0x0020, 0x000E), b"UI", "")
                    .set_text((0x0008, 0x0018), b"UI", "");
            },
        ),
        (
            "pixel_data_short",
            "PixelData shorter than Rows x Columns",
            |i| {
                i.set(PIXEL_DATA, element(PIXEL_DATA, b"OW", &[7; 600]));
            },
        ),
        (
            "pixel_data_long",
            "PixelData longer than Rows x Columns",
            |i| {
                i.set(PIXEL_DATA, element(PIXEL_DATA, b"OW", &[7; 4096]));
            },
        ),
        (
            "bits_stored_gt_allocated",
            "BitsStored 16 > BitsAllocated 8",
            |i| {
                i.set(
                    (0x0028, 0x0100),
                    element((0x0028, 0x0100), b"US", &8u16.to_le_bytes()),
                )
                .set(
                    (0x0028, 0x0101),
                    element((0x0028, 0x0101), b"US", &16u16.to_le_bytes()),
                );
            },
        ),
        ("bits_allocated_zero", "BitsAllocated 0", |i| {
            i.set(
                (0x0028, 0x0100),
                element((0x0028, 0x0100), b"US", &0u16.to_le_bytes()),
            );
        }),
        (
            "bits_allocated_12",
            "BitsAllocated 12 (not a multiple of 8)",
            |i| {
                i.set(
                    (0x0028, 0x0100),
                    element((0x0028, 0x0100), b"US", &12u16.to_le_bytes()),
                );
            },
        ),
        ("rows_zero", "Rows 0", |i| {
            i.set(ROWS, element(ROWS, b"US", &0u16.to_le_bytes()));
        }),
        (
            "rows_cols_65535",
            "Rows and Columns 65535 with 2 KB of pixels",
            |i| {
                i.set(ROWS, element(ROWS, b"US", &u16::MAX.to_le_bytes()))
                    .set(COLUMNS, element(COLUMNS, b"US", &u16::MAX.to_le_bytes()));
            },
        ),
        ("frames_huge", "NumberOfFrames 2147483647", |i| {
            i.set_text((0x0028, 0x0008), b"IS", "2147483647");
        }),
        ("frames_negative", "NumberOfFrames -5", |i| {
            i.set_text((0x0028, 0x0008), b"IS", "-5");
        }),
        ("spacing_zero", "PixelSpacing 0\\0", |i| {
            i.set_text(PIXEL_SPACING, b"DS", "0\\0");
        }),
        ("spacing_negative", "PixelSpacing -0.5\\-0.5", |i| {
            i.set_text(PIXEL_SPACING, b"DS", "-0.5\\-0.5");
        }),
        ("spacing_nan", "PixelSpacing NaN\\NaN", |i| {
            i.set_text(PIXEL_SPACING, b"DS", "NaN\\NaN");
        }),
        ("spacing_huge", "PixelSpacing 1e300", |i| {
            i.set_text(PIXEL_SPACING, b"DS", "1e300\\1e300");
        }),
        ("position_inf", "ImagePositionPatient with Inf", |i| {
            i.set_text((0x0020, 0x0032), b"DS", "Inf\\-100\\100");
        }),
        (
            "orientation_zero",
            "ImageOrientationPatient all zero",
            |i| {
                i.set_text((0x0020, 0x0037), b"DS", "0\\0\\0\\0\\0\\0");
            },
        ),
        (
            "orientation_parallel",
            "row and column directions parallel",
            |i| {
                i.set_text((0x0020, 0x0037), b"DS", "0\\1\\0\\0\\1\\0");
            },
        ),
        ("thickness_nan", "SliceThickness NaN", |i| {
            i.set_text((0x0018, 0x0050), b"DS", "NaN");
        }),
        ("rescale_nan", "RescaleSlope NaN", |i| {
            i.set_text((0x0028, 0x1053), b"DS", "NaN")
                .set_text((0x0028, 0x1052), b"DS", "Inf");
        }),
        ("three_samples", "SamplesPerPixel 3 with MONOCHROME2", |i| {
            i.set(
                (0x0028, 0x0002),
                element((0x0028, 0x0002), b"US", &3u16.to_le_bytes()),
            );
        }),
        ("unknown_transfer_syntax", "transfer syntax 1.2.3.4", |i| {
            i.transfer_syntax = "1.2.3.4".into();
        }),
        (
            "jpeg_garbage",
            "JPEG baseline transfer syntax, fragments are junk",
            |i| {
                i.transfer_syntax = "1.2.840.10008.1.2.4.50".into();
                let mut raw = element_with_len(PIXEL_DATA, b"OB", &[], 0xFFFF_FFFF);
                raw.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
                raw.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 8, 0, 0, 0]);
                raw.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0x00, 1, 2, 3, 4]);
                raw.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
                i.set(PIXEL_DATA, raw);
            },
        ),
        (
            "jpeg2000_no_fragments",
            "JPEG 2000 transfer syntax, no fragments",
            |i| {
                i.transfer_syntax = "1.2.840.10008.1.2.4.90".into();
                let mut raw = element_with_len(PIXEL_DATA, b"OB", &[], 0xFFFF_FFFF);
                raw.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
                raw.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
                i.set(PIXEL_DATA, raw);
            },
        ),
        (
            "jpeg2000_huge_siz",
            "JPEG 2000 codestream declaring 60000x60000",
            |i| {
                i.transfer_syntax = "1.2.840.10008.1.2.4.90".into();
                let mut cs = vec![0xFF, 0x4F, 0xFF, 0x51, 0x00, 0x29, 0x00, 0x00];
                cs.extend(60_000u32.to_be_bytes());
                cs.extend(60_000u32.to_be_bytes());
                cs.extend([0u8; 16]);
                cs.extend([0x00, 0x01, 0x07, 0x01, 0x01, 0xFF, 0xD9]);
                cs.push(0);
                let mut raw = element_with_len(PIXEL_DATA, b"OB", &[], 0xFFFF_FFFF);
                raw.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
                raw.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
                raw.extend((cs.len() as u32).to_le_bytes());
                raw.extend(cs);
                raw.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
                i.set(PIXEL_DATA, raw);
            },
        ),
        (
            "rle_garbage",
            "RLE transfer syntax, segment table is junk",
            |i| {
                i.transfer_syntax = "1.2.840.10008.1.2.5".into();
                let mut raw = element_with_len(PIXEL_DATA, b"OB", &[], 0xFFFF_FFFF);
                raw.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
                raw.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 72, 0, 0, 0]);
                let mut seg = vec![0u8; 72];
                seg[0] = 15; // 15 segments claimed
                seg[4] = 0xFF;
                seg[5] = 0xFF;
                seg[6] = 0xFF;
                seg[7] = 0x7F;
                raw.extend(seg);
                raw.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
                i.set(PIXEL_DATA, raw);
            },
        ),
        (
            "undefined_length_native",
            "native PixelData with undefined length",
            |i| {
                let mut raw = element_with_len(PIXEL_DATA, b"OW", &[], 0xFFFF_FFFF);
                raw.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
                raw.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
                i.set(PIXEL_DATA, raw);
            },
        ),
    ];
    // Nine slices 4 mm apart: wide enough to be selected for measurement, so the
    // defects reach decoding and analysis instead of stopping at "slab too thin".
    for (key, defect, mutate) in series_cases {
        for k in 0..9 {
            let mut inst = instance(&SliceSpec::new(key, k));
            mutate(&mut inst);
            push(
                format!("series/{key}/IM{k}.dcm"),
                inst.file(),
                defect,
                Expect::Unusable,
            );
        }
    }

    // Series-level inconsistencies.
    for k in 0..9 {
        let mut s = SliceSpec::new("mixed_size", k);
        if k == 4 {
            s.rows = 48;
            s.cols = 40;
        }
        push(
            format!("series/mixed_size/IM{k}.dcm"),
            instance(&s).file(),
            "slices of different sizes in one series",
            Expect::Unusable,
        );
    }
    for k in 0..9 {
        let mut s = SliceSpec::new("duplicate_sop", k);
        if k == 5 {
            s.sop = SliceSpec::new("duplicate_sop", 4).sop;
        }
        push(
            format!("series/duplicate_sop/IM{k}.dcm"),
            instance(&s).file(),
            "two different slices with one SOPInstanceUID",
            Expect::Unusable,
        );
    }
    {
        let dup = instance(&SliceSpec::new("duplicate_copy", 1)).file();
        for k in 0..9 {
            push(
                format!("series/duplicate_copy/IM{k}.dcm"),
                instance(&SliceSpec::new("duplicate_copy", k)).file(),
                "none (slice of a series with a duplicated file)",
                Expect::Any,
            );
        }
        push(
            "series/duplicate_copy/copy_of_IM1.dcm".into(),
            dup,
            "byte-identical copy of another slice (same SOPInstanceUID)",
            Expect::Any,
        );
    }
    for k in 0..9 {
        let mut s = SliceSpec::new("split_study", k);
        if k % 2 == 1 {
            s.study = format!("{}.2", s.study);
        }
        push(
            format!("series/split_study/IM{k}.dcm"),
            instance(&s).file(),
            "one SeriesInstanceUID in two studies",
            Expect::Unusable,
        );
    }

    // Things that are not DICOM at all.
    push(
        "other/empty.dcm".into(),
        Vec::new(),
        "empty file",
        Expect::SkippedFile,
    );
    push(
        "other/report.dcm".into(),
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
            .to_vec(),
        "a PDF named .dcm",
        Expect::SkippedFile,
    );
    push(
        "other/notes.dcm".into(),
        b"patient came back for follow-up\n".to_vec(),
        "a text file named .dcm",
        Expect::SkippedFile,
    );
    push(
        "other/zeros.dcm".into(),
        vec![0u8; 4096],
        "4 KB of zero bytes",
        Expect::SkippedFile,
    );
    push(
        "other/dicm_only.dcm".into(),
        {
            let mut b = vec![0u8; 128];
            b.extend_from_slice(b"DICM");
            b
        },
        "preamble and DICM marker, nothing else",
        Expect::SkippedFile,
    );
    push(
        "other/raw_dataset_no_meta.dcm".into(),
        damaged.dataset(),
        "a data set without the Part-10 file meta header",
        Expect::SkippedFile,
    );
    push(
        "other/random.bin".into(),
        {
            let mut b = vec![0u8; 3000];
            rng.fill(&mut b[..]);
            b
        },
        "3000 random bytes",
        Expect::SkippedFile,
    );
    out
}

/// Writes the corpus under `dir`, plus what only a file system can hold: a symlink
/// loop, a dangling link, a FIFO named `.dcm` and an unreadable folder (on Unix).
/// Returns the written regular files with their descriptions.
pub fn write_corpus(dir: &Path) -> std::io::Result<Vec<(PathBuf, CorpusFile)>> {
    let mut written = Vec::new();
    for f in corpus() {
        let path = dir.join(&f.name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &f.bytes)?;
        written.push((path, f));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let fs_dir = dir.join("filesystem");
        std::fs::create_dir_all(&fs_dir)?;
        symlink("loop_b", fs_dir.join("loop_a"))?;
        symlink("loop_a", fs_dir.join("loop_b"))?;
        symlink("does-not-exist.dcm", fs_dir.join("dangling.dcm"))?;
        symlink("..", fs_dir.join("parent_loop"))?;
        symlink("/dev/zero", fs_dir.join("zero_device.dcm"))?;
        let fifo = fs_dir.join("pipe.dcm");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes())
            .map_err(std::io::Error::other)?;
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a file system entry.
        if unsafe { libc::mkfifo(c.as_ptr(), 0o644) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let locked = fs_dir.join("no_permission");
        std::fs::create_dir_all(&locked)?;
        std::fs::write(locked.join("hidden.dcm"), &corpus()[0].bytes)?;
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000))?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_is_deterministic_and_names_are_unique() {
        let a = corpus();
        let b = corpus();
        assert_eq!(a.len(), b.len());
        let mut names = std::collections::BTreeSet::new();
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.bytes, y.bytes, "{}", x.name);
            assert!(names.insert(x.name.clone()), "duplicate {}", x.name);
        }
        assert!(a.len() > 100);
    }

    #[test]
    fn good_slices_are_read_by_the_real_reader() {
        let dir = tempfile::tempdir().unwrap();
        let f = &corpus()[0];
        let p = dir.path().join("a.dcm");
        std::fs::write(&p, &f.bytes).unwrap();
        let h = crate::dicom::discover::examine(&p).unwrap();
        assert_eq!(h.rows, Some(32));
        assert_eq!(h.modality, "MR");
        let px = crate::dicom::pixels::decode_frames(&p).unwrap();
        assert_eq!(px.shape(), &[1, 32, 32]);
        assert_eq!(px[[0, 1, 2]], (37 + 22) as f32);
    }
}
