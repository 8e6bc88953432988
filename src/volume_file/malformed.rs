//! Malformed NIfTI and MetaImage files, each with the error the reader must give.
//!
//! The DICOM corpus (`phantom::malformed`) is fed to the folder pipeline, which would
//! only list these as "not DICOM"; this one is for `volume_file::read_volume` (and can
//! seed a fuzzer or be written out next to the DICOM corpus). Files are built byte by
//! byte here, not by the reader under test.

/// One malformed file: name (its extension picks the reader), bytes, what is wrong,
/// and the [`VolumeFileError::kind`](super::VolumeFileError::kind) expected.
#[derive(Debug, Clone)]
pub struct VolumeCorpusFile {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    pub defect: &'static str,
    pub expect: &'static str,
}

/// A little-endian NIfTI-1 header (348 bytes) + 4 bytes of extender, with the
/// fields the tests vary.
#[derive(Clone)]
pub struct NiftiSpec {
    pub dim: [i16; 8],
    pub datatype: i16,
    pub bitpix: i16,
    pub pixdim: [f32; 8],
    pub vox_offset: f32,
    pub scl_slope: f32,
    pub scl_inter: f32,
    pub xyzt_units: u8,
    pub qform_code: i16,
    pub sform_code: i16,
    pub quatern: [f32; 6],
    pub srow: [[f32; 4]; 3],
    pub magic: [u8; 4],
    pub sizeof_hdr: i32,
}

impl Default for NiftiSpec {
    fn default() -> Self {
        NiftiSpec {
            dim: [3, 4, 3, 2, 1, 1, 1, 1],
            datatype: 4,
            bitpix: 16,
            pixdim: [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
            vox_offset: 352.0,
            scl_slope: 0.0,
            scl_inter: 0.0,
            xyzt_units: 2,
            qform_code: 0,
            sform_code: 1,
            quatern: [0.0; 6],
            srow: [
                [1.0, 0.0, 0.0, 0.0],
                [0.0, 1.0, 0.0, 0.0],
                [0.0, 0.0, 1.0, 0.0],
            ],
            magic: *b"n+1\0",
            sizeof_hdr: 348,
        }
    }
}

impl NiftiSpec {
    /// Header bytes followed by `data` (a `.nii` file's contents).
    pub fn file(&self, data: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 352];
        let put = |h: &mut Vec<u8>, at: usize, b: &[u8]| h[at..at + b.len()].copy_from_slice(b);
        put(&mut h, 0, &self.sizeof_hdr.to_le_bytes());
        h[38] = b'r';
        for (n, d) in self.dim.iter().enumerate() {
            put(&mut h, 40 + 2 * n, &d.to_le_bytes());
        }
        put(&mut h, 70, &self.datatype.to_le_bytes());
        put(&mut h, 72, &self.bitpix.to_le_bytes());
        for (n, p) in self.pixdim.iter().enumerate() {
            put(&mut h, 76 + 4 * n, &p.to_le_bytes());
        }
        put(&mut h, 108, &self.vox_offset.to_le_bytes());
        put(&mut h, 112, &self.scl_slope.to_le_bytes());
        put(&mut h, 116, &self.scl_inter.to_le_bytes());
        h[123] = self.xyzt_units;
        put(&mut h, 252, &self.qform_code.to_le_bytes());
        put(&mut h, 254, &self.sform_code.to_le_bytes());
        for (n, q) in self.quatern.iter().enumerate() {
            put(&mut h, 256 + 4 * n, &q.to_le_bytes());
        }
        for (r, row) in self.srow.iter().enumerate() {
            for (n, v) in row.iter().enumerate() {
                put(&mut h, 280 + 16 * r + 4 * n, &v.to_le_bytes());
            }
        }
        put(&mut h, 344, &self.magic);
        h.extend_from_slice(data);
        h
    }
}

pub fn i16_bytes(values: impl IntoIterator<Item = i16>) -> Vec<u8> {
    values.into_iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = e.write_all(bytes);
    e.finish().unwrap_or_default()
}

fn mha(extra: &str, replace: (&str, &str), data: &[u8]) -> Vec<u8> {
    let hdr = format!(
        "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n\
         CompressedData = False\nTransformMatrix = 1 0 0 0 1 0 0 0 1\nOffset = 0 0 0\n\
         ElementSpacing = 0.5 0.5 3\nDimSize = 4 3 2\nElementType = MET_SHORT\n{extra}\
         ElementDataFile = LOCAL\n"
    )
    .replace(replace.0, replace.1);
    let mut b = hdr.into_bytes();
    b.extend_from_slice(data);
    b
}

/// The corpus (deterministic). Names are unique; none needs a second file.
pub fn corpus() -> Vec<VolumeCorpusFile> {
    let data = i16_bytes(0..24);
    let good = NiftiSpec::default().file(&data);
    let gz = gzip(&good);
    let spec = |f: &dyn Fn(&mut NiftiSpec)| {
        let mut s = NiftiSpec::default();
        f(&mut s);
        s.file(&data)
    };
    let mut bad_crc = gz.clone();
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 0xff;
    let f = |name, bytes, defect, expect| VolumeCorpusFile {
        name,
        bytes,
        defect,
        expect,
    };
    vec![
        f("good.nii", good.clone(), "none (valid 4x3x2 int16)", "ok"),
        f("good.nii.gz", gz.clone(), "none (gzip of good.nii)", "ok"),
        f(
            "good.mha",
            mha("", ("", ""), &data),
            "none (valid MET_SHORT)",
            "ok",
        ),
        f(
            "truncated.nii.gz",
            gz[..gz.len() / 2].to_vec(),
            "gzip stream cut in half",
            "truncated_compression",
        ),
        f(
            "bad_crc.nii.gz",
            bad_crc,
            "gzip CRC does not match the data",
            "corrupt_compression",
        ),
        f(
            "short_data.nii",
            good[..good.len() - 10].to_vec(),
            "last 10 data bytes missing",
            "data_size_mismatch",
        ),
        f(
            "short_data.nii.gz",
            gzip(&good[..good.len() - 10]),
            "well-formed gzip of a short file",
            "data_size_mismatch",
        ),
        f(
            "claims_512_cubed.nii",
            spec(&|s| s.dim = [3, 512, 512, 512, 1, 1, 1, 1]),
            "header claims 256 MiB, file has 48 bytes",
            "data_size_mismatch",
        ),
        f(
            "absurd_dims.nii",
            spec(&|s| s.dim = [3, 30000, 30000, 30000, 1, 1, 1, 1]),
            "2.7e13 voxels",
            "too_large",
        ),
        f(
            "zero_dim.nii",
            spec(&|s| s.dim = [3, 4, 0, 2, 1, 1, 1, 1]),
            "dim[2] = 0",
            "bad_dimensions",
        ),
        f(
            "negative_dim.nii",
            spec(&|s| s.dim = [3, 4, -3, 2, 1, 1, 1, 1]),
            "dim[2] = -3",
            "bad_dimensions",
        ),
        f(
            "dim0_9.nii",
            spec(&|s| s.dim[0] = 9),
            "dim[0] = 9 (both byte orders invalid)",
            "bad_dimensions",
        ),
        f(
            "four_d.nii",
            spec(&|s| s.dim = [4, 4, 3, 1, 2, 1, 1, 1]),
            "two volumes (dim[4] = 2)",
            "four_d",
        ),
        f(
            "vector.nii",
            spec(&|s| s.dim = [5, 4, 3, 1, 1, 2, 1, 1]),
            "two components per voxel",
            "non_scalar",
        ),
        f(
            "rgb.nii",
            spec(&|s| {
                s.datatype = 128;
                s.bitpix = 24;
            }),
            "RGB24 voxels",
            "non_scalar",
        ),
        f(
            "complex.nii",
            spec(&|s| {
                s.datatype = 32;
                s.bitpix = 64;
            }),
            "complex64 voxels",
            "non_scalar",
        ),
        f(
            "datatype_77.nii",
            spec(&|s| s.datatype = 77),
            "datatype code 77",
            "unknown_datatype",
        ),
        f(
            "float128.nii",
            spec(&|s| {
                s.datatype = 1536;
                s.bitpix = 128;
            }),
            "float128 voxels",
            "unsupported_datatype",
        ),
        f(
            "no_xform.nii",
            spec(&|s| {
                s.sform_code = 0;
                s.qform_code = 0;
            }),
            "sform_code and qform_code 0",
            "no_orientation",
        ),
        f(
            "singular_sform.nii",
            spec(&|s| s.srow[1] = [0.0; 4]),
            "sform with a zero column",
            "invalid_geometry",
        ),
        f(
            "sheared_sform.nii",
            spec(&|s| s.srow[0][1] = 0.3),
            "sheared sform",
            "invalid_geometry",
        ),
        f(
            "nan_sform.nii",
            spec(&|s| s.srow[2][3] = f32::NAN),
            "NaN origin",
            "invalid_geometry",
        ),
        f(
            "nan_voxels.nii",
            {
                let mut s = NiftiSpec {
                    datatype: 16,
                    bitpix: 32,
                    ..Default::default()
                };
                s.dim = [3, 4, 3, 2, 1, 1, 1, 1];
                let v: Vec<u8> = (0..24)
                    .flat_map(|v| if v % 5 == 0 { f32::NAN } else { v as f32 }.to_le_bytes())
                    .collect();
                s.file(&v)
            },
            "5 of 24 voxels NaN",
            "non_finite",
        ),
        f(
            "pair_magic.nii",
            spec(&|s| s.magic = *b"ni1\0"),
            "magic ni1 (.hdr/.img pair)",
            "unsupported_variant",
        ),
        f(
            "nifti2.nii",
            spec(&|s| s.sizeof_hdr = 540),
            "sizeof_hdr 540 (NIfTI-2)",
            "unsupported_variant",
        ),
        f(
            "bad_magic.nii",
            spec(&|s| s.magic = *b"abc\0"),
            "magic abc",
            "not_nifti",
        ),
        f(
            "tiny.nii",
            b"not an image".to_vec(),
            "11 bytes of text",
            "not_nifti",
        ),
        f(
            "vox_offset_100.nii",
            spec(&|s| s.vox_offset = 100.0),
            "vox_offset inside the header",
            "bad_header",
        ),
        f(
            "mha_short.mha",
            mha("", ("", ""), &data[..40]),
            "8 data bytes missing",
            "data_size_mismatch",
        ),
        f(
            "mha_missing_raw.mhd",
            mha("", ("LOCAL", "absent.raw"), &[]),
            "data file absent",
            "missing_data_file",
        ),
        f(
            "mha_4d.mha",
            mha("", ("DimSize = 4 3 2", "DimSize = 4 3 2 5"), &data),
            "NDims 3 but DimSize has 4 numbers",
            "bad_header",
        ),
        f(
            "mha_channels.mha",
            mha("ElementNumberOfChannels = 3\n", ("", ""), &data),
            "3 channels per voxel",
            "non_scalar",
        ),
        f(
            "mha_type.mha",
            mha("", ("MET_SHORT", "MET_STRING"), &data),
            "ElementType MET_STRING",
            "unknown_datatype",
        ),
        f(
            "mha_huge.mha",
            mha(
                "",
                ("DimSize = 4 3 2", "DimSize = 100000 100000 100000"),
                &data,
            ),
            "1e15 voxels",
            "too_large",
        ),
        f(
            "mha_no_datafile.mha",
            b"NDims = 3\nDimSize = 4 3 2\n".to_vec(),
            "no ElementDataFile line",
            "bad_header",
        ),
        f(
            "mha_zlib_truncated.mha",
            {
                use std::io::Write;
                let mut z =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                let _ = z.write_all(&data);
                let zd = z.finish().unwrap_or_default();
                mha(
                    "",
                    ("CompressedData = False", "CompressedData = True"),
                    &zd[..zd.len() / 2],
                )
            },
            "zlib stream cut in half",
            "truncated_compression",
        ),
        f(
            "mha_sheared.mha",
            mha(
                "",
                (
                    "TransformMatrix = 1 0 0 0 1 0 0 0 1",
                    "TransformMatrix = 1 0 0 0.5 1 0 0 0 1",
                ),
                &data,
            ),
            "sheared directions",
            "invalid_geometry",
        ),
        f(
            "mha_list.mha",
            mha("", ("LOCAL", "LIST"), &data),
            "ElementDataFile LIST (one file per slice)",
            "unsupported_variant",
        ),
        f(
            "mha_binary_junk.mha",
            vec![0xffu8; 64],
            "binary junk",
            "bad_header",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::read_volume;
    use super::*;

    #[test]
    fn every_corpus_file_gives_its_named_error() {
        let dir = tempfile::tempdir().unwrap();
        let files = corpus();
        let mut names = std::collections::BTreeSet::new();
        for f in &files {
            assert!(names.insert(f.name), "duplicate {}", f.name);
            let p = dir.path().join(f.name);
            std::fs::write(&p, &f.bytes).unwrap();
            let got = match read_volume(&p, None, None) {
                Ok(_) => "ok",
                Err(e) => e.kind(),
            };
            assert_eq!(got, f.expect, "{} ({})", f.name, f.defect);
        }
        assert!(files.len() > 30);
    }
}
