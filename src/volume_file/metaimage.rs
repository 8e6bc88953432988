//! MetaImage (`.mha` with the data inline, `.mhd` with a separate data file).
//!
//! Written here: crates.io has no MetaImage reader (`cargo info` finds no `metaimage`,
//! `mhd` or `mha` crate), and the format is a short `Key = Value` text header.
//!
//! Geometry follows ITK (`Modules/IO/Meta/src/itkMetaImageIO.cxx`,
//! `ReadImageInformation`): physical space is LPS millimetres; the `n`-th group of
//! NDims numbers in `TransformMatrix` is the direction cosine vector of voxel axis `n`
//! (`SetDirection(n, transformMatrix[n*NDims .. n*NDims+NDims])`), so a point is
//! `Offset + Σ_n TransformMatrix[n] · ElementSpacing[n] · index[n]`. Checked with
//! SimpleITK 2.5.7: an image whose x axis points to +y writes `TransformMatrix = 0 1 0 ...`.
//! Like ITK, `AnatomicalOrientation` is not used for geometry (only checked, as a note).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use flate2::read::ZlibDecoder;

use super::{Decoded, Sample, VolumeFileError, check_voxel_count, decode_samples, stream_error};
use crate::volume::Vec3;

/// Headers are a few hundred bytes; the data-file line must come within this.
const MAX_HEADER_BYTES: usize = 1 << 20;

/// The header's fields (keys case-insensitive) and where the inline data starts.
#[derive(Debug, Clone)]
struct Header {
    fields: HashMap<String, String>,
    /// Byte length of the header text including the `ElementDataFile` line.
    len: u64,
}

fn parse_header(path: &Path, bytes: &[u8]) -> Result<Header, VolumeFileError> {
    let bad = |reason: String| VolumeFileError::BadHeader {
        path: path.to_path_buf(),
        reason,
    };
    let mut fields = HashMap::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let end = bytes[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|e| at + e + 1);
        let line_bytes = &bytes[at..end.unwrap_or(bytes.len())];
        let line = std::str::from_utf8(line_bytes)
            .map_err(|_| bad(format!("non-text byte in header line at offset {at}")))?
            .trim();
        at = end.unwrap_or(bytes.len());
        if line.is_empty() {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| bad(format!("line {line:?} is not `Key = Value`")))?;
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim().to_string();
        let last = key == "elementdatafile";
        fields.insert(key, value);
        if last {
            if end.is_none() && bytes.len() >= MAX_HEADER_BYTES {
                break;
            }
            return Ok(Header {
                fields,
                len: at as u64,
            });
        }
    }
    Err(bad(
        "no ElementDataFile line (not a MetaImage header, or cut short)".into(),
    ))
}

impl Header {
    fn get(&self, keys: &[&str]) -> Option<&str> {
        keys.iter()
            .find_map(|k| self.fields.get(&k.to_ascii_lowercase()))
            .map(String::as_str)
    }

    fn numbers(
        &self,
        path: &Path,
        keys: &[&str],
        n: usize,
    ) -> Result<Option<Vec<f64>>, VolumeFileError> {
        let Some(v) = self.get(keys) else {
            return Ok(None);
        };
        let nums: Result<Vec<f64>, _> = v.split_whitespace().map(str::parse::<f64>).collect();
        match nums {
            Ok(nums) if nums.len() == n && nums.iter().all(|x| x.is_finite()) => Ok(Some(nums)),
            _ => Err(VolumeFileError::BadHeader {
                path: path.to_path_buf(),
                reason: format!("{} = {v:?}: expected {n} finite numbers", keys[0]),
            }),
        }
    }

    fn flag(&self, keys: &[&str]) -> bool {
        self.get(keys)
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }
}

fn sample_type(path: &Path, name: &str) -> Result<Sample, VolumeFileError> {
    Ok(match name.to_ascii_uppercase().as_str() {
        "MET_UCHAR" => Sample::U8,
        "MET_CHAR" => Sample::I8,
        "MET_USHORT" => Sample::U16,
        "MET_SHORT" => Sample::I16,
        // MetaIO's MET_ValueTypeSize: (U)LONG are 4 bytes, (U)LONG_LONG 8.
        "MET_UINT" | "MET_ULONG" => Sample::U32,
        "MET_INT" | "MET_LONG" => Sample::I32,
        "MET_ULONG_LONG" => Sample::U64,
        "MET_LONG_LONG" => Sample::I64,
        "MET_FLOAT" => Sample::F32,
        "MET_DOUBLE" => Sample::F64,
        n if n.ends_with("_ARRAY") || n == "MET_FLOAT_MATRIX" => {
            return Err(VolumeFileError::NonScalar {
                path: path.to_path_buf(),
                what: format!("ElementType {n}"),
            });
        }
        n => {
            return Err(VolumeFileError::UnknownDatatype {
                path: path.to_path_buf(),
                code: n.to_string(),
            });
        }
    })
}

/// The axis letters ITK writes in `AnatomicalOrientation`: each names the side the axis
/// comes *from* (RAI = x toward L, y toward P, z toward S, i.e. LPS).
fn orientation_letter(dir: Vec3) -> char {
    let a = (0..3)
        .max_by(|&a, &b| dir[a].abs().total_cmp(&dir[b].abs()))
        .unwrap_or(0);
    match (a, dir[a] >= 0.0) {
        (0, true) => 'R',
        (0, false) => 'L',
        (1, true) => 'A',
        (1, false) => 'P',
        (2, true) => 'I',
        _ => 'S',
    }
}

/// Reads a `.mha` or `.mhd` file.
pub fn read_metaimage(path: &Path) -> Result<Decoded, VolumeFileError> {
    let p = || path.to_path_buf();
    let unreadable = |source| VolumeFileError::Unreadable { path: p(), source };
    let bad = |reason: String| VolumeFileError::BadHeader { path: p(), reason };
    let mut file = File::open(path).map_err(unreadable)?;
    let mut head = Vec::new();
    (&mut file)
        .take(MAX_HEADER_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(unreadable)?;
    let h = parse_header(path, &head)?;
    drop(head);
    let mut notes = Vec::new();

    if let Some(t) = h.get(&["ObjectType"])
        && !t.eq_ignore_ascii_case("image")
    {
        return Err(bad(format!("ObjectType {t:?} is not Image")));
    }
    let ndims: usize = h
        .get(&["NDims"])
        .ok_or_else(|| bad("no NDims".into()))?
        .parse()
        .map_err(|_| bad("NDims is not a number".into()))?;
    if !(2..=16).contains(&ndims) {
        return Err(VolumeFileError::BadDimensions {
            path: p(),
            reason: format!("NDims = {ndims}"),
        });
    }
    let size = h
        .numbers(path, &["DimSize"], ndims)?
        .ok_or_else(|| bad("no DimSize".into()))?;
    if size
        .iter()
        .any(|s| *s < 1.0 || s.fract() != 0.0 || *s > 1e9)
    {
        return Err(VolumeFileError::BadDimensions {
            path: p(),
            reason: format!("DimSize = {size:?}"),
        });
    }
    let size: Vec<u64> = size.iter().map(|s| *s as u64).collect();
    let extra: u64 = size.iter().skip(3).product();
    if extra > 1 {
        return Err(VolumeFileError::FourD {
            path: p(),
            volumes: extra,
        });
    }
    let channels = h.get(&["ElementNumberOfChannels"]).unwrap_or("1");
    if channels.trim() != "1" {
        return Err(VolumeFileError::NonScalar {
            path: p(),
            what: format!("{channels} channels per voxel"),
        });
    }
    let sample = sample_type(
        path,
        h.get(&["ElementType"])
            .ok_or_else(|| bad("no ElementType".into()))?,
    )?;
    let dims = [size[0], size[1], size.get(2).copied().unwrap_or(1)];
    let total = check_voxel_count(path, dims)?;
    let data_bytes = (total * sample.size()) as u64;

    // Geometry, in ndims space, then embedded in 3-D (a 2-D image lies at z = 0).
    let spacing = match h.numbers(path, &["ElementSpacing"], ndims)? {
        Some(s) => s,
        None => match h.numbers(path, &["ElementSize"], ndims)? {
            Some(s) => s,
            None => {
                notes.push("no ElementSpacing: 1 mm assumed".into());
                vec![1.0; ndims]
            }
        },
    };
    let origin = h
        .numbers(path, &["Offset", "Origin", "Position"], ndims)?
        .unwrap_or_else(|| vec![0.0; ndims]);
    let matrix = match h.numbers(
        path,
        &["TransformMatrix", "Rotation", "Orientation"],
        ndims * ndims,
    )? {
        Some(m) => m,
        None => {
            notes.push("no TransformMatrix: identity (LPS-aligned axes) assumed".into());
            (0..ndims * ndims)
                .map(|n| if n % (ndims + 1) == 0 { 1.0 } else { 0.0 })
                .collect()
        }
    };
    let take3 = |v: &[f64]| -> Vec3 { [0, 1, 2].map(|d| v.get(d).copied().unwrap_or(0.0)) };
    let mut axes_lps = [[0.0; 3]; 3];
    for (a, axis) in axes_lps.iter_mut().enumerate() {
        let dir = if a < ndims {
            take3(&matrix[a * ndims..(a + 1) * ndims])
        } else {
            [0.0, 0.0, 1.0]
        };
        let s = spacing.get(a).copied().unwrap_or(1.0);
        *axis = dir.map(|x| x * s);
    }
    let origin_lps = take3(&origin);
    if let Some(o) = h.get(&["AnatomicalOrientation"]) {
        let expected: String = axes_lps.iter().map(|a| orientation_letter(*a)).collect();
        let o = o.to_ascii_uppercase();
        if o.len() >= 3 && o != "?" && !o.starts_with('?') && o[..3] != expected {
            notes.push(format!(
                "AnatomicalOrientation {o} disagrees with TransformMatrix ({expected}); TransformMatrix used, as ITK does"
            ));
        }
    }

    if h.get(&["BinaryData"]).is_some() && !h.flag(&["BinaryData"]) {
        return Err(VolumeFileError::UnsupportedVariant {
            path: p(),
            format: "MetaImage",
            reason: "ASCII voxel data (BinaryData = False)".into(),
        });
    }
    let big_endian = h.flag(&["BinaryDataByteOrderMSB", "ElementByteOrderMSB"]);
    let compressed = h.flag(&["CompressedData"]);
    let data_file = h.get(&["ElementDataFile"]).unwrap_or("").to_string();
    let (data_path, start): (PathBuf, u64) = if data_file.eq_ignore_ascii_case("LOCAL") {
        (p(), h.len)
    } else if data_file.is_empty()
        || data_file.contains('%')
        || data_file.to_ascii_uppercase().starts_with("LIST")
    {
        return Err(VolumeFileError::UnsupportedVariant {
            path: p(),
            format: "MetaImage",
            reason: format!("ElementDataFile {data_file:?}: only LOCAL or one data file"),
        });
    } else {
        let dp = path.parent().unwrap_or(Path::new(".")).join(&data_file);
        let skip = match h.get(&["HeaderSize"]) {
            None => 0,
            Some(v) => match v.parse::<i64>() {
                Ok(n) if n >= 0 => n as u64,
                // -1: the data are the last bytes of the file.
                Ok(-1) if !compressed => u64::MAX,
                _ => return Err(bad(format!("HeaderSize {v:?}"))),
            },
        };
        (dp, skip)
    };
    let mut data = if data_path == path {
        file
    } else {
        File::open(&data_path).map_err(|source| VolumeFileError::MissingDataFile {
            path: p(),
            data: data_path.clone(),
            source,
        })?
    };
    let data_len = data.metadata().map_err(unreadable)?.len();
    let start = if start == u64::MAX {
        data_len.saturating_sub(data_bytes)
    } else {
        start
    };
    let mismatch = |expected: u64, found: u64| VolumeFileError::DataSizeMismatch {
        path: data_path.clone(),
        expected,
        found,
    };
    data.seek(SeekFrom::Start(start.min(data_len)))
        .map_err(unreadable)?;
    let mut raw = Vec::new();
    if compressed {
        let limit = match h.get(&["CompressedDataSize"]) {
            Some(v) => {
                let n: u64 = v
                    .parse()
                    .map_err(|_| bad(format!("CompressedDataSize {v:?}")))?;
                if start + n > data_len {
                    return Err(mismatch(start + n, data_len));
                }
                n
            }
            None => data_len.saturating_sub(start),
        };
        let mut z = ZlibDecoder::new(BufReader::new(data.take(limit)));
        (&mut z)
            .take(data_bytes)
            .read_to_end(&mut raw)
            .map_err(|e| stream_error(path, Some("zlib"), e))?;
        if (raw.len() as u64) < data_bytes {
            return Err(mismatch(data_bytes, raw.len() as u64));
        }
    } else {
        if data_len < start + data_bytes {
            return Err(mismatch(start + data_bytes, data_len));
        }
        raw.try_reserve_exact(data_bytes as usize)
            .map_err(|e| unreadable(io::Error::other(e)))?;
        BufReader::new(data)
            .take(data_bytes)
            .read_to_end(&mut raw)
            .map_err(unreadable)?;
        if (raw.len() as u64) < data_bytes {
            return Err(mismatch(start + data_bytes, start + raw.len() as u64));
        }
    }
    let values = decode_samples(&raw, sample, big_endian);
    Ok(Decoded {
        values,
        dims: dims.map(|d| d as usize),
        origin_lps,
        axes_lps,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{orient, read_volume};
    use super::*;
    use crate::volume::Modality;
    use crate::volume::geometry::{add, scale};

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// A SPIDER-style header: MET_SHORT, sagittal slices along x, rotated.
    fn spider_header(extra: &str, data_file: &str) -> String {
        format!(
            "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n\
             CompressedData = False\n\
             TransformMatrix = 0 0.9848077530 -0.1736481777 0 0.1736481777 0.9848077530 1 0 0\n\
             Offset = -35.5 -120.25 40\nCenterOfRotation = 0 0 0\nAnatomicalOrientation = AIR\n\
             ElementSpacing = 0.6 0.7 3.3\nDimSize = 4 3 2\nElementType = MET_SHORT\n{extra}\
             ElementDataFile = {data_file}\n"
        )
    }

    fn shorts(n: usize) -> Vec<u8> {
        (0..n as i16).flat_map(|v| (v * 10).to_le_bytes()).collect()
    }

    /// LPS position of voxel (i, j, k) by hand from the SPIDER header above.
    fn spider_point(i: f64, j: f64, k: f64) -> Vec3 {
        let (c, s) = (0.984_807_753_0, 0.173_648_177_7);
        [
            -35.5 + k * 3.3,
            -120.25 + i * 0.6 * c + j * 0.7 * s,
            40.0 - i * 0.6 * s + j * 0.7 * c,
        ]
    }

    #[test]
    fn spider_style_mha_has_the_right_geometry() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = spider_header("", "LOCAL").into_bytes();
        bytes.extend(shorts(24));
        let p = write(dir.path(), "1_t2.mha", &bytes);
        let d = read_metaimage(&p).unwrap();
        assert!(d.notes.is_empty(), "{:?}", d.notes);
        let o = orient::to_volume(&p, d, Modality::MR).unwrap();
        // x runs mostly posterior (columns), y mostly superior (rows, flipped), z left-right.
        assert_eq!(o.volume.shape(), (2, 3, 4));
        assert_eq!(o.axes, [2, 1, 0]);
        assert!(o.flipped[1]);
        let g = &o.volume.geometry;
        assert_eq!(g.plane(), crate::volume::Plane::Sagittal);
        for ((sl, r, c), v) in o.volume.voxels.indexed_iter() {
            let idx = (*v / 10.0) as usize;
            let (i, j, k) = (idx % 4, (idx / 4) % 3, idx / 12);
            let want = spider_point(i as f64, j as f64, k as f64);
            let got = g.index_to_lps([sl as f64, r as f64, c as f64]);
            for x in 0..3 {
                assert!((got[x] - want[x]).abs() < 1e-6, "{got:?} vs {want:?}");
            }
        }
        // Through the full reader: the values say MR, the name says T2.
        let r = read_volume(&p, None, None).unwrap();
        assert_eq!(r.volume.modality, Modality::MR);
        assert_eq!(r.weighting, Some(crate::volume::Weighting::T2));
    }

    #[test]
    fn mhd_with_raw_file_big_endian_and_zlib() {
        let dir = tempfile::tempdir().unwrap();
        // Separate data file with a 5-byte preamble, big-endian.
        let be: Vec<u8> = (0..24i16).flat_map(|v| (v * 10).to_be_bytes()).collect();
        let mut raw = vec![9u8; 5];
        raw.extend(&be);
        write(dir.path(), "vol.raw", &raw);
        let hdr = spider_header("HeaderSize = 5\n", "vol.raw").replace(
            "BinaryDataByteOrderMSB = False",
            "BinaryDataByteOrderMSB = True",
        );
        let p = write(dir.path(), "vol.mhd", hdr.as_bytes());
        let d = read_metaimage(&p).unwrap();
        assert_eq!(d.values[7], 70.0);
        // HeaderSize = -1: the data are the file's last bytes.
        let hdr =
            spider_header("HeaderSize = -1\n", "vol.raw").replace("MSB = False", "MSB = True");
        let p = write(dir.path(), "tail.mhd", hdr.as_bytes());
        assert_eq!(read_metaimage(&p).unwrap().values[23], 230.0);
        // zlib-compressed inline data.
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&shorts(24)).unwrap();
        let zdata = z.finish().unwrap();
        let mut bytes = spider_header(&format!("CompressedDataSize = {}\n", zdata.len()), "LOCAL")
            .replace("CompressedData = False", "CompressedData = True")
            .into_bytes();
        bytes.extend(&zdata);
        let p = write(dir.path(), "z.mha", &bytes);
        let d = read_metaimage(&p).unwrap();
        assert_eq!(d.values[23], 230.0);
        let at = add(d.origin_lps, scale(d.axes_lps[2], 1.0));
        assert!((at[0] - (-35.5 + 3.3)).abs() < 1e-9);
    }

    #[test]
    fn malformed_metaimages_give_named_errors() {
        use VolumeFileError as E;
        let dir = tempfile::tempdir().unwrap();
        let mha = |name: &str, hdr: String, data: &[u8]| {
            let mut b = hdr.into_bytes();
            b.extend_from_slice(data);
            read_metaimage(&write(dir.path(), name, &b))
        };
        let r = mha("short.mha", spider_header("", "LOCAL"), &shorts(20));
        assert!(matches!(r, Err(E::DataSizeMismatch { .. })), "{r:?}");
        let r = read_metaimage(&write(
            dir.path(),
            "noraw.mhd",
            spider_header("", "missing.raw").as_bytes(),
        ));
        assert!(matches!(r, Err(E::MissingDataFile { .. })), "{r:?}");
        let r = mha(
            "4d.mha",
            spider_header("", "LOCAL")
                .replace("NDims = 3", "NDims = 4")
                .replace("DimSize = 4 3 2", "DimSize = 4 3 2 5")
                .replace("ElementSpacing = 0.6 0.7 3.3", "ElementSpacing = 0.6 0.7 3.3 1")
                .replace(
                    "TransformMatrix = 0 0.9848077530 -0.1736481777 0 0.1736481777 0.9848077530 1 0 0",
                    "TransformMatrix = 1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1",
                )
                .replace("Offset = -35.5 -120.25 40", "Offset = 0 0 0 0"),
            &shorts(120),
        );
        assert!(matches!(r, Err(E::FourD { volumes: 5, .. })), "{r:?}");
        let r = mha(
            "rgb.mha",
            spider_header("ElementNumberOfChannels = 3\n", "LOCAL"),
            &shorts(72),
        );
        assert!(matches!(r, Err(E::NonScalar { .. })), "{r:?}");
        let r = mha(
            "type.mha",
            spider_header("", "LOCAL").replace("MET_SHORT", "MET_QUATERNION"),
            &shorts(24),
        );
        assert!(matches!(r, Err(E::UnknownDatatype { .. })), "{r:?}");
        let r = mha(
            "huge.mha",
            spider_header("", "LOCAL").replace("DimSize = 4 3 2", "DimSize = 100000 100000 100000"),
            &shorts(24),
        );
        assert!(matches!(r, Err(E::TooLarge { .. })), "{r:?}");
        let r = mha(
            "big.mha",
            spider_header("", "LOCAL").replace("DimSize = 4 3 2", "DimSize = 512 512 512"),
            &shorts(24),
        );
        assert!(matches!(r, Err(E::DataSizeMismatch { .. })), "{r:?}");
        let r = mha("nodata.mha", "NDims = 3\nDimSize = 2 2 2\n".into(), &[]);
        assert!(matches!(r, Err(E::BadHeader { .. })), "{r:?}");
        let r = mha(
            "badnum.mha",
            spider_header("", "LOCAL")
                .replace("ElementSpacing = 0.6 0.7 3.3", "ElementSpacing = 0.6 x 3.3"),
            &shorts(24),
        );
        assert!(matches!(r, Err(E::BadHeader { .. })), "{r:?}");
        let r = mha(
            "sheared.mha",
            spider_header("", "LOCAL").replace(
                "TransformMatrix = 0 0.9848077530 -0.1736481777 0 0.1736481777 0.9848077530 1 0 0",
                "TransformMatrix = 1 0 0 0.5 1 0 0 0 1",
            ),
            &shorts(24),
        );
        let r = r
            .and_then(|d| orient::to_volume(Path::new("sheared.mha"), d, Modality::MR).map(|_| ()));
        assert!(matches!(r, Err(E::InvalidGeometry { .. })), "{r:?}");
        // Truncated zlib stream.
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&shorts(24)).unwrap();
        let zdata = z.finish().unwrap();
        let r = mha(
            "trunc.mha",
            spider_header("", "LOCAL").replace("CompressedData = False", "CompressedData = True"),
            &zdata[..zdata.len() / 2],
        );
        assert!(
            matches!(r, Err(E::TruncatedCompression { codec: "zlib", .. })),
            "{r:?}"
        );
        let r = mha(
            "ascii.mha",
            spider_header("", "LOCAL").replace("BinaryData = True", "BinaryData = False"),
            b"1 2 3",
        );
        assert!(matches!(r, Err(E::UnsupportedVariant { .. })), "{r:?}");
    }

    #[test]
    fn disagreeing_anatomical_orientation_is_noted() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = spider_header("", "LOCAL")
            .replace("= AIR", "= RAI")
            .into_bytes();
        bytes.extend(shorts(24));
        let d = read_metaimage(&write(dir.path(), "o.mha", &bytes)).unwrap();
        assert!(d.notes.iter().any(|n| n.contains("AnatomicalOrientation")));
    }
}
