//! DICOM RLE Lossless encoding (PS3.5 Annex G).
//!
//! dicom-rs decodes RLE but cannot encode it, and no maintained crate encodes DICOM's
//! segment layout, so the phantom writer uses this small encoder. Round trips are tested
//! against dicom-rs' decoder.

/// Encodes one frame of 16-bit samples (`columns` per row) as an RLE frame: a 64-byte
/// header then two PackBits segments (most significant bytes first).
pub fn encode_frame_u16(pixels: &[u16], columns: usize) -> Vec<u8> {
    let columns = columns.max(1);
    let high: Vec<u8> = pixels.iter().map(|p| (p >> 8) as u8).collect();
    let low: Vec<u8> = pixels.iter().map(|p| (p & 0xff) as u8).collect();
    let segments = [packbits_rows(&high, columns), packbits_rows(&low, columns)];
    let mut out = Vec::with_capacity(64 + segments.iter().map(Vec::len).sum::<usize>());
    out.extend_from_slice(&(segments.len() as u32).to_le_bytes());
    let mut offset = 64u32;
    for i in 0..15 {
        let value = if i < segments.len() { offset } else { 0 };
        out.extend_from_slice(&value.to_le_bytes());
        if i < segments.len() {
            offset += segments[i].len() as u32;
        }
    }
    for s in &segments {
        out.extend_from_slice(s);
    }
    out
}

/// PackBits over each row separately (runs never cross a row boundary, G.3.1),
/// padded to an even length.
fn packbits_rows(bytes: &[u8], columns: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() / 2 + 16);
    for row in bytes.chunks(columns) {
        packbits(row, &mut out);
    }
    if out.len() % 2 == 1 {
        out.push(0x80); // a no-op header byte as padding
    }
    out
}

fn packbits(data: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < data.len() {
        let mut run = 1;
        while i + run < data.len() && run < 128 && data[i + run] == data[i] {
            run += 1;
        }
        if run >= 2 {
            out.push((257 - run) as u8);
            out.push(data[i]);
            i += run;
            continue;
        }
        // Literal run until the next pair of equal bytes (or 128 bytes).
        let start = i;
        while i < data.len() && i - start < 128 && !(i + 1 < data.len() && data[i] == data[i + 1]) {
            i += 1;
        }
        out.push((i - start - 1) as u8);
        out.extend_from_slice(&data[start..i]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A straightforward PackBits decoder, written from the spec, to check the encoder.
    fn unpack(seg: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < seg.len() {
            let h = seg[i] as i8;
            i += 1;
            if h >= 0 {
                let n = h as usize + 1;
                out.extend_from_slice(&seg[i..i + n]);
                i += n;
            } else if h != -128 {
                let n = (-(h as i32) + 1) as usize;
                out.extend(std::iter::repeat_n(seg[i], n));
                i += 1;
            }
        }
        out
    }

    #[test]
    fn packbits_round_trips() {
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![7],
            vec![1, 1],
            vec![1, 2, 3, 3, 3, 3, 4, 5, 5],
            (0..300).map(|i| (i % 7) as u8).collect(),
            vec![9; 300],
        ];
        for c in cases {
            let mut out = Vec::new();
            packbits(&c, &mut out);
            assert_eq!(unpack(&out), c);
        }
    }

    #[test]
    fn frame_header_points_at_segments() {
        let px: Vec<u16> = (0..12).map(|i| i * 300).collect();
        let f = encode_frame_u16(&px, 4);
        assert_eq!(u32::from_le_bytes(f[0..4].try_into().unwrap()), 2);
        let o1 = u32::from_le_bytes(f[4..8].try_into().unwrap()) as usize;
        let o2 = u32::from_le_bytes(f[8..12].try_into().unwrap()) as usize;
        assert_eq!(o1, 64);
        let high = unpack(&f[o1..o2]);
        let low = unpack(&f[o2..]);
        let back: Vec<u16> = high
            .iter()
            .zip(&low)
            .map(|(h, l)| (*h as u16) << 8 | *l as u16)
            .collect();
        assert_eq!(back, px);
    }
}
