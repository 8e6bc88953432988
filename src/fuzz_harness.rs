//! Entry points shared by the `cargo fuzz` targets in `fuzz/` and by the regression
//! test that replays every input the fuzzers ever crashed on (`tests/robustness.rs`).
//! Not part of the stable API.

use std::path::PathBuf;

use ndarray::Array3;

use crate::dicom::assemble;
use crate::dicom::discover;
use crate::series::group_series;
use crate::volume::{Geometry, Modality, Volume};

/// Separates the files of one input: the header target reads several files at once so
/// that series assembly sees conflicting headers.
pub const FILE_SEPARATOR: &[u8] = b"\xF0\x0D\xFE\xED";

/// Header parsing, series grouping, selection and, for usable series, decoding and
/// volume assembly, on files cut from `data`. Files are written to a fresh temporary
/// folder (set `TMPDIR=/dev/shm` to keep them in memory).
pub fn header_and_series(data: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else { return };
    let mut paths: Vec<PathBuf> = Vec::new();
    for (i, chunk) in split(data).into_iter().take(6).enumerate() {
        let p = dir.path().join(format!("f{i}.dcm"));
        if std::fs::write(&p, chunk).is_ok() {
            paths.push(p);
        }
    }
    let found = discover::discover(&[dir.path().to_path_buf()], &|| {});
    let series = group_series(found.instances);
    let _ = crate::selection::select(&series, None);
    for s in &series {
        if let (Some(plan), Some(m)) = (&s.plan, s.modality_kind()) {
            let _ = assemble(plan, m);
        }
    }
}

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(at) = rest
        .windows(FILE_SEPARATOR.len())
        .position(|w| w == FILE_SEPARATOR)
    {
        out.push(&rest[..at]);
        rest = &rest[at + FILE_SEPARATOR.len()..];
    }
    out.push(rest);
    out
}

/// Levels and foramina on a small arbitrary volume decoded from `data`: the first bytes
/// choose modality, size, spacing and orientation, the rest are voxel values.
pub fn pipeline(data: &[u8]) {
    if data.len() < 12 {
        return;
    }
    let modality = if data[0] & 1 == 0 {
        Modality::MR
    } else {
        Modality::CT
    };
    let n = 2 + data[1] as usize % 12;
    let rows = 8 + data[2] as usize % 90;
    let cols = 8 + data[3] as usize % 90;
    let ps = 0.2 + data[4] as f64 / 32.0;
    let thickness = 0.5 + data[5] as f64 / 24.0;
    let tilt = (data[6] as f64 - 128.0) / 256.0;
    let scale = 1.0 + data[7] as f32 * 8.0;
    let body = &data[12..];
    let voxels = Array3::from_shape_fn((n, rows, cols), |(k, i, j)| {
        if body.is_empty() {
            return 0.0;
        }
        let b = body[(k * rows * cols + i * cols + j) % body.len()];
        let v = b as f32 * scale / 255.0;
        if modality == Modality::CT {
            v - 1024.0
        } else {
            v
        }
    });
    let Some(geometry) = Geometry::new(
        [0.0, -100.0, 100.0],
        [tilt, 1.0, 0.0],
        [0.0, tilt, -1.0],
        [ps, ps, thickness],
        thickness,
    ) else {
        return;
    };
    let volume = Volume {
        voxels,
        geometry,
        modality,
    };
    let weighting = (data[8] & 1 == 1).then_some(crate::volume::Weighting::T2);
    // Through the driver, as `foramen measure` runs a series: analysis, report entry,
    // grading (no output folders).
    let entry = crate::pipeline::run_volume(
        crate::report::SeriesEntry::for_file("fuzz", volume.modality, weighting),
        crate::report::output::Source::File {
            path: std::path::Path::new("fuzz"),
        },
        weighting,
        || Ok(volume),
        &crate::pipeline::MeasureOptions::default(),
    );
    std::hint::black_box(entry);
}

#[cfg(test)]
mod tests {
    #[test]
    fn split_cuts_on_the_separator() {
        let mut d = b"abc".to_vec();
        d.extend_from_slice(super::FILE_SEPARATOR);
        d.extend_from_slice(b"de");
        assert_eq!(super::split(&d), vec![&b"abc"[..], &b"de"[..]]);
    }
}
