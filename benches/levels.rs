//! Phantom generation and level localisation/labelling on a realistic sagittal MR T1
//! series: 15 slices of 512×512 (issue 3: generation well under 1 s; issue 4:
//! labelling under 100 ms on 2 cores).

use criterion::{Criterion, criterion_group, criterion_main};
use foramen::measure::localize_auto;
use foramen::phantom::{PhantomOptions, generate};
use foramen::series::Weighting;

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
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = levels
}
criterion_main!(benches);
