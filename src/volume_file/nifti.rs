//! NIfTI-1 single files (`.nii`, gzip-compressed or not).
//!
//! The 348-byte header is parsed by the `nifti` crate (byte order detected from
//! `dim[0]`). The voxel data is read here rather than through the crate's in-memory
//! volume, which reserves the header's claimed size up front: every size the header
//! states is checked against [`MAX_VOXELS`](crate::dicom::assemble::MAX_VOXELS) and
//! the file size first, and compressed data is only ever held as far as it decodes.
//! The crate is used without its `ndarray` feature (which would pull the same ndarray
//! 0.17, but we need none of it).
//!
//! Geometry (NIfTI-1 standard, `nifti1.h` comments on methods 2 and 3): the sform when
//! `sform_code > 0`, else the qform when `qform_code > 0`, else refused: no guessing
//! from `pixdim`. World space is RAS+; DICOM patient space is LPS, so x and y are
//! negated.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::{Decoded, Sample, VolumeFileError, check_voxel_count, decode_samples, stream_error};
use crate::volume::Vec3;

/// Header plus the 4-byte extension flag: the smallest valid `vox_offset` of a `.nii`.
const MIN_VOX_OFFSET: u64 = 352;
/// After the voxel data, at most this much more is decoded to reach the gzip CRC.
const MAX_TRAILING_DECODE: u64 = 16 << 20;

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn sample_type(path: &Path, code: i16) -> Result<Sample, VolumeFileError> {
    let non_scalar = |what: &str| VolumeFileError::NonScalar {
        path: path.to_path_buf(),
        what: what.to_string(),
    };
    let unsupported = |name| VolumeFileError::UnsupportedDatatype {
        path: path.to_path_buf(),
        name,
    };
    Ok(match code {
        2 => Sample::U8,
        4 => Sample::I16,
        8 => Sample::I32,
        16 => Sample::F32,
        64 => Sample::F64,
        256 => Sample::I8,
        512 => Sample::U16,
        768 => Sample::U32,
        1024 => Sample::I64,
        1280 => Sample::U64,
        32 | 1792 | 2048 => return Err(non_scalar("complex-valued voxels")),
        128 => return Err(non_scalar("RGB colour voxels")),
        2304 => return Err(non_scalar("RGBA colour voxels")),
        1 => return Err(unsupported("DT_BINARY (1 bit per voxel)")),
        1536 => return Err(unsupported("DT_FLOAT128")),
        _ => {
            return Err(VolumeFileError::UnknownDatatype {
                path: path.to_path_buf(),
                code: code.to_string(),
            });
        }
    })
}

/// Rotation matrix of a qform quaternion (b, c, d), as `nifti1_io.c`
/// `nifti_quatern_to_mat44`: `a = sqrt(1 - b² - c² - d²)`, and a 180° rotation when
/// rounding makes that negative.
fn quaternion_matrix(b: f64, c: f64, d: f64) -> [[f64; 3]; 3] {
    let mut a = 1.0 - (b * b + c * c + d * d);
    let (mut b, mut c, mut d) = (b, c, d);
    if a < 1e-7 {
        let s = 1.0 / (b * b + c * c + d * d).sqrt();
        (b, c, d) = (b * s, c * s, d * s);
        a = 0.0;
    } else {
        a = a.sqrt();
    }
    [
        [
            a * a + b * b - c * c - d * d,
            2.0 * (b * c - a * d),
            2.0 * (b * d + a * c),
        ],
        [
            2.0 * (b * c + a * d),
            a * a + c * c - b * b - d * d,
            2.0 * (c * d - a * b),
        ],
        [
            2.0 * (b * d - a * c),
            2.0 * (c * d + a * b),
            a * a + d * d - c * c - b * b,
        ],
    ]
}

/// Reads a `.nii` or `.nii.gz` file (gzip detected from its magic bytes).
pub fn read_nifti(path: &Path) -> Result<Decoded, VolumeFileError> {
    let p = || path.to_path_buf();
    let unreadable = |source| VolumeFileError::Unreadable { path: p(), source };
    let mut file = File::open(path).map_err(unreadable)?;
    let file_len = file.metadata().map_err(unreadable)?.len();
    let mut magic = [0u8; 2];
    let got = read_full(&mut file, &mut magic).map_err(unreadable)?;
    file.seek(SeekFrom::Start(0)).map_err(unreadable)?;
    let gz = got == 2 && magic == [0x1f, 0x8b];
    let mut reader: Box<dyn Read> = if gz {
        Box::new(MultiGzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let stream_err = |e: io::Error| stream_error(path, gz.then_some("gzip"), e);
    let not_nifti = |reason: String| VolumeFileError::NotNifti { path: p(), reason };

    let mut hdr = [0u8; 348];
    let got = read_full(&mut reader, &mut hdr).map_err(stream_err)?;
    if got < hdr.len() {
        return Err(not_nifti(format!(
            "{got} bytes, shorter than the 348-byte header"
        )));
    }
    let size_le = i32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
    let size_be = i32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
    if size_le == 540 || size_be == 540 {
        return Err(VolumeFileError::UnsupportedVariant {
            path: p(),
            format: "NIfTI",
            reason: "NIfTI-2 (540-byte header): convert to NIfTI-1".into(),
        });
    }
    if size_le != 348 && size_be != 348 {
        return Err(not_nifti(format!("sizeof_hdr is {size_le}, not 348")));
    }
    let h = ::nifti::NiftiHeader::from_reader(&hdr[..]).map_err(|e| not_nifti(e.to_string()))?;
    match &h.magic {
        b"n+1\0" => {}
        b"ni1\0" => {
            return Err(VolumeFileError::UnsupportedVariant {
                path: p(),
                format: "NIfTI",
                reason: "separate .hdr/.img pair (magic ni1): convert to a single .nii".into(),
            });
        }
        m => return Err(not_nifti(format!("magic {m:?} is not \"n+1\""))),
    }
    let big_endian = h.endianness == ::nifti::Endianness::Big;
    let mut notes = Vec::new();

    // Dimensions are signed 16-bit in the standard; the crate reads them unsigned.
    let bad_dims = |reason: String| VolumeFileError::BadDimensions { path: p(), reason };
    let ndim = h.dim[0] as usize;
    if !(1..=7).contains(&ndim) {
        return Err(bad_dims(format!("dim[0] = {} (must be 1 to 7)", h.dim[0])));
    }
    for n in 1..=ndim {
        if h.dim[n] == 0 || h.dim[n] > i16::MAX as u16 {
            return Err(bad_dims(format!("dim[{n}] = {}", h.dim[n] as i16)));
        }
    }
    let dim = |n: usize| if n <= ndim { h.dim[n] as u64 } else { 1 };
    if dim(4) > 1 {
        return Err(VolumeFileError::FourD {
            path: p(),
            volumes: dim(4),
        });
    }
    if (5..=7).any(|n| dim(n) > 1) {
        return Err(VolumeFileError::NonScalar {
            path: p(),
            what: format!(
                "{} components per voxel (dim[5..7], intent code {})",
                dim(5) * dim(6) * dim(7),
                h.intent_code
            ),
        });
    }
    let dims = [dim(1), dim(2), dim(3)];
    let total = check_voxel_count(path, dims)?;
    let sample = sample_type(path, h.datatype)?;
    if h.bitpix as usize != 8 * sample.size() {
        notes.push(format!(
            "bitpix {} disagrees with datatype {} ({} bits): the datatype is used",
            h.bitpix,
            h.datatype,
            8 * sample.size()
        ));
    }
    let data_bytes = (total * sample.size()) as u64;

    let bad_header = |reason: String| VolumeFileError::BadHeader { path: p(), reason };
    let vo = h.vox_offset;
    if !vo.is_finite() || vo < 0.0 || vo.fract() != 0.0 || vo > 1e12 {
        return Err(bad_header(format!("vox_offset {vo} is not a byte offset")));
    }
    let vox_offset = if vo == 0.0 {
        // Seen in the wild (e.g. the SCT lumbar T2); nibabel reads such files the same way.
        notes.push("vox_offset 0 read as 352 (data right after the header)".into());
        MIN_VOX_OFFSET
    } else if (vo as u64) < MIN_VOX_OFFSET {
        return Err(bad_header(format!(
            "vox_offset {vo} lies inside the 352-byte header"
        )));
    } else {
        vo as u64
    };
    let expected = vox_offset + data_bytes;
    let mismatch = |found: u64| VolumeFileError::DataSizeMismatch {
        path: p(),
        expected,
        found,
    };
    if !gz && file_len < expected {
        return Err(mismatch(file_len));
    }
    // Extensions (or padding) between the header and the data are skipped.
    let skip = vox_offset - hdr.len() as u64;
    let skipped = io::copy(&mut (&mut reader).take(skip), &mut io::sink()).map_err(stream_err)?;
    if skipped < skip {
        return Err(mismatch(hdr.len() as u64 + skipped));
    }
    let mut raw = Vec::new();
    if !gz {
        // Checked against the file size above.
        raw.try_reserve_exact(data_bytes as usize)
            .map_err(|e| unreadable(io::Error::other(e)))?;
    }
    (&mut reader)
        .take(data_bytes)
        .read_to_end(&mut raw)
        .map_err(stream_err)?;
    if (raw.len() as u64) < data_bytes {
        return Err(mismatch(vox_offset + raw.len() as u64));
    }
    if gz {
        // Decode to the end so the gzip CRC is checked (catches corrupt data).
        io::copy(
            &mut (&mut reader).take(MAX_TRAILING_DECODE),
            &mut io::sink(),
        )
        .map_err(stream_err)?;
    }
    let mut values = decode_samples(&raw, sample, big_endian);
    drop(raw);

    // Scaling: slope 0 means none (standard); NaN as well (nibabel, and the SCT fixture).
    let (slope, inter) = (h.scl_slope as f64, h.scl_inter as f64);
    if slope.is_finite() && slope != 0.0 {
        let inter = if inter.is_finite() { inter } else { 0.0 };
        if slope != 1.0 || inter != 0.0 {
            for v in &mut values {
                *v = (*v as f64 * slope + inter) as f32;
            }
            notes.push(format!("scl_slope {slope} and scl_inter {inter} applied"));
        }
    }

    let to_mm = match h.xyzt_units & 7 {
        0 => {
            notes.push("spatial units unspecified: millimetres assumed".into());
            1.0
        }
        1 => 1000.0,
        2 => 1.0,
        3 => 1e-3,
        u => return Err(bad_header(format!("spatial unit code {u}"))),
    };
    // Columns of the 3x3 part (one per voxel axis) and the offset, in RAS.
    let (mut axes, mut origin): ([Vec3; 3], Vec3) = if h.sform_code > 0 {
        let rows = [h.srow_x, h.srow_y, h.srow_z].map(|r| r.map(|v| v as f64));
        notes.push(format!("geometry from the sform (code {})", h.sform_code));
        (
            [0, 1, 2].map(|a| [rows[0][a], rows[1][a], rows[2][a]]),
            [rows[0][3], rows[1][3], rows[2][3]],
        )
    } else if h.qform_code > 0 {
        let [b, c, d, x, y, z] = [
            h.quatern_b,
            h.quatern_c,
            h.quatern_d,
            h.quatern_x,
            h.quatern_y,
            h.quatern_z,
        ]
        .map(|v| v as f64);
        if ![b, c, d].iter().all(|v| v.is_finite()) {
            return Err(VolumeFileError::InvalidGeometry {
                path: p(),
                reason: "qform quaternion is not finite".into(),
            });
        }
        let r = quaternion_matrix(b, c, d);
        let qfac = if h.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
        let mut step = [0.0; 3];
        for a in 0..3 {
            let s = h.pixdim[a + 1] as f64;
            step[a] = if s > 0.0 && s.is_finite() {
                s
            } else if dims[a] == 1 {
                notes.push(format!(
                    "pixdim[{}] = {s} on a single-voxel axis: 1 mm used",
                    a + 1
                ));
                1.0
            } else {
                return Err(VolumeFileError::InvalidGeometry {
                    path: p(),
                    reason: format!("pixdim[{}] = {s} is not a positive spacing", a + 1),
                });
            };
        }
        step[2] *= qfac;
        notes.push(format!(
            "geometry from the qform (code {}; sform_code 0)",
            h.qform_code
        ));
        (
            [0, 1, 2].map(|a| [r[0][a] * step[a], r[1][a] * step[a], r[2][a] * step[a]]),
            [x, y, z],
        )
    } else {
        return Err(VolumeFileError::NoOrientation { path: p() });
    };
    // Units to mm, then RAS → LPS.
    for v in axes.iter_mut().chain(std::iter::once(&mut origin)) {
        *v = [-v[0] * to_mm, -v[1] * to_mm, v[2] * to_mm];
    }
    Ok(Decoded {
        values,
        dims: dims.map(|d| d as usize),
        origin_lps: origin,
        axes_lps: axes,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{orient, read_volume};
    use super::*;
    use crate::volume::Modality;
    use crate::volume::geometry::{add, scale};

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn values(n: usize) -> Vec<u8> {
        i16_bytes((0..n).map(|v| v as i16))
    }

    /// LPS position of NIfTI voxel (i, j, k) worked out by hand from a RAS affine.
    fn lps_of(rows: [[f64; 4]; 3], ijk: [f64; 3]) -> Vec3 {
        let ras: Vec<f64> = rows
            .iter()
            .map(|r| r[0] * ijk[0] + r[1] * ijk[1] + r[2] * ijk[2] + r[3])
            .collect();
        [-ras[0], -ras[1], ras[2]]
    }

    /// The volume voxel holding file voxel (i, j, k) sits where the affine says.
    fn assert_maps(path: &Path, rows: [[f64; 4]; 3], dims: [usize; 3]) {
        let d = read_nifti(path).unwrap();
        let o = orient::to_volume(path, d, Modality::MR).unwrap();
        let g = &o.volume.geometry;
        let mut checked = 0;
        for ((s, r, c), v) in o.volume.voxels.indexed_iter() {
            let idx = *v as usize;
            let ijk = [
                idx % dims[0],
                (idx / dims[0]) % dims[1],
                idx / (dims[0] * dims[1]),
            ];
            let want = lps_of(rows, ijk.map(|x| x as f64));
            let got = g.index_to_lps([s as f64, r as f64, c as f64]);
            for x in 0..3 {
                assert!(
                    (got[x] - want[x]).abs() < 1e-4,
                    "{ijk:?}: {got:?} vs {want:?}"
                );
            }
            checked += 1;
        }
        assert_eq!(checked, dims[0] * dims[1] * dims[2]);
    }

    #[test]
    fn sform_with_rotation_maps_voxels_to_lps() {
        // 30° about the RAS z axis, spacings 0.5 / 0.8 / 3.0 mm, and an offset.
        let (c, s) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
        let rows = [
            [0.5 * c, -0.8 * s, 0.0, -20.0],
            [0.5 * s, 0.8 * c, 0.0, 35.5],
            [0.0, 0.0, 3.0, -110.0],
        ];
        let spec = NiftiSpec {
            srow: rows.map(|r| r.map(|v| v as f32)),
            ..Default::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "rot.nii", &spec.file(&values(24)));
        let rows32 = spec.srow.map(|r| r.map(|v| v as f64));
        assert_maps(&p, rows32, [4, 3, 2]);
        // Spot check by hand: voxel (1, 2, 1) = R·(0.5, 1.6, 3) + t in RAS.
        let want_ras = [
            -20.0 + 0.5 * c - 1.6 * s,
            35.5 + 0.5 * s + 1.6 * c,
            -110.0 + 3.0,
        ];
        let got = lps_of(rows, [1.0, 2.0, 1.0]);
        assert!((got[0] + want_ras[0]).abs() < 1e-9 && (got[1] + want_ras[1]).abs() < 1e-9);
        // The same file gzipped reads identically.
        let pz = write(dir.path(), "rot.nii.gz", &gzip(&spec.file(&values(24))));
        assert_maps(&pz, rows32, [4, 3, 2]);
    }

    #[test]
    fn qform_quaternion_with_qfac() {
        // 90° about z: quaternion (a, b, c, d) = (cos45°, 0, 0, sin45°); qfac -1 flips k.
        let h = std::f32::consts::FRAC_1_SQRT_2;
        let spec = NiftiSpec {
            sform_code: 0,
            qform_code: 1,
            quatern: [0.0, 0.0, h, 10.0, -20.0, 30.0],
            pixdim: [-1.0, 0.7, 0.9, 2.0, 1.0, 1.0, 1.0, 1.0],
            ..Default::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "q.nii", &spec.file(&values(24)));
        // R = [[0,-1,0],[1,0,0],[0,0,1]]; columns scaled by 0.7, 0.9, -2.0.
        let rows = [
            [0.0, -0.9, 0.0, 10.0],
            [0.7, 0.0, 0.0, -20.0],
            [0.0, 0.0, -2.0, 30.0],
        ];
        assert_maps(&p, rows, [4, 3, 2]);
    }

    #[test]
    fn scl_slope_and_inter_are_applied_and_zero_slope_means_none() {
        let dir = tempfile::tempdir().unwrap();
        let spec = NiftiSpec {
            scl_slope: 2.0,
            scl_inter: -1024.0,
            ..Default::default()
        };
        let p = write(dir.path(), "s.nii", &spec.file(&values(24)));
        let d = read_nifti(&p).unwrap();
        assert_eq!(d.values[0], -1024.0);
        assert_eq!(d.values[23], 23.0 * 2.0 - 1024.0);
        let spec = NiftiSpec {
            scl_slope: 0.0,
            scl_inter: 50.0,
            ..Default::default()
        };
        let p = write(dir.path(), "s0.nii", &spec.file(&values(24)));
        assert_eq!(read_nifti(&p).unwrap().values[23], 23.0);
    }

    #[test]
    fn datatypes_and_big_endian() {
        let dir = tempfile::tempdir().unwrap();
        // float64 voxels
        let spec = NiftiSpec {
            datatype: 64,
            bitpix: 64,
            ..Default::default()
        };
        let data: Vec<u8> = (0..24)
            .flat_map(|v| (v as f64 * 0.25).to_le_bytes())
            .collect();
        let p = write(dir.path(), "f.nii", &spec.file(&data));
        assert_eq!(read_nifti(&p).unwrap().values[5], 1.25);
        // uint8 voxels
        let spec = NiftiSpec {
            datatype: 2,
            bitpix: 8,
            ..Default::default()
        };
        let p = write(dir.path(), "u.nii", &spec.file(&[200u8; 24]));
        assert_eq!(read_nifti(&p).unwrap().values[0], 200.0);
        // Big-endian int16: swap every header field and the data.
        let le = NiftiSpec::default().file(&values(24));
        let mut be = le.clone();
        let swap = |b: &mut [u8], at: usize, n: usize| b[at..at + n].reverse();
        swap(&mut be, 0, 4);
        for n in 0..8 {
            swap(&mut be, 40 + 2 * n, 2);
            swap(&mut be, 76 + 4 * n, 4);
        }
        for at in [70, 72, 252, 254] {
            swap(&mut be, at, 2);
        }
        for at in [108, 112, 116] {
            swap(&mut be, at, 4);
        }
        for n in 0..12 {
            swap(&mut be, 280 + 4 * n, 4);
        }
        for n in 0..24 {
            swap(&mut be, 352 + 2 * n, 2);
        }
        let p = write(dir.path(), "be.nii", &be);
        let d = read_nifti(&p).unwrap();
        assert_eq!(d.values[7], 7.0);
        assert_eq!(d.axes_lps[0], [-1.0, 0.0, 0.0]);
    }

    /// Every malformed case gives its named error.
    #[test]
    fn malformed_files_give_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let good = NiftiSpec::default().file(&values(24));
        let read = |name: &str, bytes: &[u8]| read_nifti(&write(dir.path(), name, bytes));
        use VolumeFileError as E;

        let gz = gzip(&good);
        let r = read("trunc.nii.gz", &gz[..gz.len() / 2]);
        assert!(
            matches!(r, Err(E::TruncatedCompression { codec: "gzip", .. })),
            "{r:?}"
        );
        // A wrong CRC: every byte decodes, the checksum does not match.
        let mut bad = gz.clone();
        let n = bad.len();
        bad[n - 8] ^= 0xff;
        let r = read("corrupt.nii.gz", &bad);
        assert!(matches!(r, Err(E::CorruptCompression { .. })), "{r:?}");

        let r = read("short.nii", &good[..good.len() - 10]);
        assert!(
            matches!(
                r,
                Err(E::DataSizeMismatch {
                    expected: 400,
                    found: 390,
                    ..
                })
            ),
            "{r:?}"
        );
        // The same lie inside a well-formed gzip stream.
        let r = read("short.nii.gz", &gzip(&good[..good.len() - 10]));
        assert!(matches!(r, Err(E::DataSizeMismatch { .. })), "{r:?}");

        let huge = NiftiSpec {
            dim: [3, 30000, 30000, 30000, 1, 1, 1, 1],
            ..Default::default()
        };
        let r = read("huge.nii", &huge.file(&values(24)));
        assert!(matches!(r, Err(E::TooLarge { .. })), "{r:?}");
        // Under the voxel cap but far beyond the file: refused before any allocation.
        let big = NiftiSpec {
            dim: [3, 512, 512, 512, 1, 1, 1, 1],
            ..Default::default()
        };
        let r = read("big.nii", &big.file(&values(24)));
        assert!(matches!(r, Err(E::DataSizeMismatch { .. })), "{r:?}");
        let r = read("bigz.nii.gz", &gzip(&big.file(&values(24))));
        assert!(matches!(r, Err(E::DataSizeMismatch { .. })), "{r:?}");

        let four = NiftiSpec {
            dim: [4, 4, 3, 1, 2, 1, 1, 1],
            ..Default::default()
        };
        let r = read("4d.nii", &four.file(&values(24)));
        assert!(matches!(r, Err(E::FourD { volumes: 2, .. })), "{r:?}");
        let vector = NiftiSpec {
            dim: [5, 4, 3, 1, 1, 2, 1, 1],
            ..Default::default()
        };
        let r = read("vec.nii", &vector.file(&values(24)));
        assert!(matches!(r, Err(E::NonScalar { .. })), "{r:?}");
        let zero = NiftiSpec {
            dim: [3, 4, 0, 2, 1, 1, 1, 1],
            ..Default::default()
        };
        let r = read("zero.nii", &zero.file(&values(24)));
        assert!(matches!(r, Err(E::BadDimensions { .. })), "{r:?}");
        let neg = NiftiSpec {
            dim: [3, 4, -3, 2, 1, 1, 1, 1],
            ..Default::default()
        };
        let r = read("neg.nii", &neg.file(&values(24)));
        assert!(matches!(r, Err(E::BadDimensions { .. })), "{r:?}");

        let rgb = NiftiSpec {
            datatype: 128,
            bitpix: 24,
            ..Default::default()
        };
        let r = read("rgb.nii", &rgb.file(&[0u8; 72]));
        assert!(matches!(r, Err(E::NonScalar { .. })), "{r:?}");
        let complex = NiftiSpec {
            datatype: 32,
            bitpix: 64,
            ..Default::default()
        };
        let r = read("cplx.nii", &complex.file(&[0u8; 192]));
        assert!(matches!(r, Err(E::NonScalar { .. })), "{r:?}");
        let unknown = NiftiSpec {
            datatype: 77,
            ..Default::default()
        };
        let r = read("dt.nii", &unknown.file(&values(24)));
        assert!(matches!(r, Err(E::UnknownDatatype { .. })), "{r:?}");

        let unoriented = NiftiSpec {
            sform_code: 0,
            qform_code: 0,
            ..Default::default()
        };
        let r = read("noxform.nii", &unoriented.file(&values(24)));
        assert!(matches!(r, Err(E::NoOrientation { .. })), "{r:?}");

        let pair = NiftiSpec {
            magic: *b"ni1\0",
            ..Default::default()
        };
        let r = read("pair.nii", &pair.file(&values(24)));
        assert!(matches!(r, Err(E::UnsupportedVariant { .. })), "{r:?}");
        let nifti2 = NiftiSpec {
            sizeof_hdr: 540,
            ..Default::default()
        };
        let r = read("n2.nii", &nifti2.file(&values(24)));
        assert!(matches!(r, Err(E::UnsupportedVariant { .. })), "{r:?}");
        let r = read("text.nii", b"this is not an image at all");
        assert!(matches!(r, Err(E::NotNifti { .. })), "{r:?}");
        let r = read("garbage.nii", &[7u8; 400]);
        assert!(matches!(r, Err(E::NotNifti { .. })), "{r:?}");
        let offset = NiftiSpec {
            vox_offset: 100.0,
            ..Default::default()
        };
        let r = read("off.nii", &offset.file(&values(24)));
        assert!(matches!(r, Err(E::BadHeader { .. })), "{r:?}");
        let r = read_nifti(&dir.path().join("absent.nii"));
        assert!(matches!(r, Err(E::Unreadable { .. })), "{r:?}");

        // NaN voxels: many are refused, through the full reader.
        let float = NiftiSpec {
            datatype: 16,
            bitpix: 32,
            ..Default::default()
        };
        let nan: Vec<u8> = (0..24)
            .flat_map(|v| if v < 3 { f32::NAN } else { v as f32 }.to_le_bytes())
            .collect();
        let r = read_volume(&write(dir.path(), "nan.nii", &float.file(&nan)), None, None);
        assert!(
            matches!(
                r,
                Err(E::NonFinite {
                    count: 3,
                    total: 24,
                    ..
                })
            ),
            "{r:?}"
        );
    }

    #[test]
    fn extensions_are_skipped_and_zero_offset_means_352() {
        let dir = tempfile::tempdir().unwrap();
        let spec = NiftiSpec {
            vox_offset: 368.0,
            ..Default::default()
        };
        let mut data = vec![0u8; 16];
        data.extend(values(24));
        let p = write(dir.path(), "ext.nii", &spec.file(&data));
        assert_eq!(read_nifti(&p).unwrap().values[4], 4.0);
        let spec = NiftiSpec {
            vox_offset: 0.0,
            ..Default::default()
        };
        let p = write(dir.path(), "zero.nii", &spec.file(&values(24)));
        let d = read_nifti(&p).unwrap();
        assert_eq!(d.values[4], 4.0);
        assert!(d.notes.iter().any(|n| n.contains("vox_offset 0")));
    }

    #[test]
    fn metres_are_converted_to_millimetres() {
        let dir = tempfile::tempdir().unwrap();
        let spec = NiftiSpec {
            xyzt_units: 1,
            srow: [
                [0.001, 0.0, 0.0, 0.01],
                [0.0, 0.001, 0.0, 0.0],
                [0.0, 0.0, 0.002, 0.0],
            ],
            ..Default::default()
        };
        let p = write(dir.path(), "m.nii", &spec.file(&values(24)));
        let d = read_nifti(&p).unwrap();
        let at = add(d.origin_lps, scale(d.axes_lps[2], 1.0));
        assert!(
            (at[0] + 10.0).abs() < 1e-4 && (at[2] - 2.0).abs() < 1e-4,
            "{at:?}"
        );
    }
}
