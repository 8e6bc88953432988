//! Ingest stages on generated series of realistic sizes (see `common`): header scan and
//! grouping, decoding alone, decoding + volume assembly, and for the axial CT the
//! reslicing to sagittal planes that localisation starts with.

mod common;

use common::{Size, read_series, series_dir, volume};
use criterion::{Criterion, criterion_group, criterion_main};
use foramen::dicom::assemble;
use foramen::dicom::{discover, pixels};
use foramen::series::group_series;
use foramen::spine::canonical::canonical_stack;
use foramen::spine::levels::{LOCALIZATION_PIXEL_MM, RESLICE_SPACING_MM};
use rayon::prelude::*;

fn ingest(c: &mut Criterion) {
    for size in Size::ALL {
        let dir = series_dir(size);
        let paths = vec![dir.clone()];
        let mut g = c.benchmark_group(size.label());
        g.bench_function("header scan + grouping", |b| {
            b.iter(|| group_series(discover(&paths, &|| {}).instances))
        });
        let series = read_series(&dir);
        let files: Vec<_> = series.instances.iter().map(|h| h.path.clone()).collect();
        g.bench_function("decode", |b| {
            b.iter(|| {
                files
                    .par_iter()
                    .map(|p| pixels::decode_frames(p).unwrap())
                    .collect::<Vec<_>>()
            })
        });
        let plan = series.plan.as_ref().unwrap();
        let modality = series.modality_kind().unwrap();
        g.bench_function("decode + assemble", |b| {
            b.iter(|| assemble(plan, modality).unwrap())
        });
        if size == Size::CtAx200 {
            let (_, v) = volume(size);
            g.bench_function("reslice to sagittal", |b| {
                b.iter(|| canonical_stack(&v, LOCALIZATION_PIXEL_MM, RESLICE_SPACING_MM).unwrap())
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = ingest
}
criterion_main!(benches);
