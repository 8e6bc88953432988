//! Header scan, decoding and volume assembly of a realistic sagittal MR series
//! (15 slices of 512×512), written to a temporary folder once.

use criterion::{Criterion, criterion_group, criterion_main};
use foramen::dicom::discover;
use foramen::dicom::write::{SeriesWriteSpec, write_series};
use foramen::series::group_series;
use foramen::volume::assemble::plan_stack;
use foramen::volume::{Geometry, Modality, Volume, assemble};
use ndarray::Array3;

fn series_dir() -> tempfile::TempDir {
    let g = Geometry::new(
        [30.0, -150.0, 120.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.0, -1.0],
        [4.0, 0.6, 0.6],
        4.0,
    )
    .unwrap();
    let voxels = Array3::from_shape_fn((15, 512, 512), |(k, i, j)| {
        ((k * 31 + i * 7 + j * 3) % 4000) as f32
    });
    let v = Volume {
        voxels,
        geometry: g,
        modality: Modality::MR,
    };
    let dir = tempfile::tempdir().unwrap();
    write_series(
        &v,
        &SeriesWriteSpec::synthetic("bench", "SAG T1"),
        dir.path(),
    )
    .unwrap();
    dir
}

fn ingest(c: &mut Criterion) {
    let dir = series_dir();
    let paths = vec![dir.path().to_path_buf()];
    c.bench_function("header scan + grouping, 15 files", |b| {
        b.iter(|| group_series(discover(&paths, &|| {}).instances))
    });
    let series = group_series(discover(&paths, &|| {}).instances).remove(0);
    let plan = plan_stack(&series.instances).unwrap();
    c.bench_function("decode + assemble 15x512x512 MR", |b| {
        b.iter(|| assemble(&plan, Modality::MR).unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = ingest
}
criterion_main!(benches);
