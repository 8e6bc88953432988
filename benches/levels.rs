//! Phantom generation and level localisation/labelling on a realistic sagittal MR T1
//! series: 15 slices of 512×512 (issue 3: generation well under 1 s; issue 4:
//! labelling under 100 ms on 2 cores; issue 5: the whole measurement, levels and
//! foramina, after decoding, under 150 ms).

use criterion::{Criterion, criterion_group, criterion_main};
use foramen::grading::Thresholds;
use foramen::measure::localize_auto;
use foramen::phantom::{PhantomOptions, generate};
use foramen::series::Weighting;
use foramen::spine::foramen::{ForamenInput, measure_foramina};

fn options() -> PhantomOptions {
    PhantomOptions::reference_mr_t1_15x512()
}

fn levels(c: &mut Criterion) {
    let opts = options();
    c.bench_function("phantom: generate 15x512x512 MR T1 with truth", |b| {
        b.iter(|| generate(&opts).unwrap())
    });
    let case = generate(&opts).unwrap();
    c.bench_function("levels: localise + label 15x512x512 MR T1", |b| {
        b.iter(|| localize_auto(&case.volume, Some(Weighting::T1)).unwrap())
    });
    let (model, _) = localize_auto(&case.volume, Some(Weighting::T1)).unwrap();
    let thresholds = Thresholds::default();
    let input = ForamenInput {
        volume: &case.volume,
        localization: &model.localization,
        weighting: Some(Weighting::T1),
        thresholds: &thresholds,
    };
    c.bench_function("foramina: segment + measure 15x512x512 MR T1", |b| {
        b.iter(|| measure_foramina(&input))
    });
    c.bench_function("measure: levels + foramina 15x512x512 MR T1", |b| {
        b.iter(|| {
            let (model, _) = localize_auto(&case.volume, Some(Weighting::T1)).unwrap();
            measure_foramina(&ForamenInput {
                localization: &model.localization,
                ..input.clone()
            })
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = levels
}
criterion_main!(benches);
