//! Analysis stages on decoded series of realistic sizes (see `common`): level
//! localisation + labelling, foramen segmentation + measurement, and both together;
//! plus phantom generation (issue 3: well under 1 s; issue 4: labelling of the MR T1
//! under 100 ms on 2 cores; issue 5: levels + foramina after decoding under 150 ms).

mod common;

use common::{Size, volume};
use criterion::{Criterion, criterion_group, criterion_main};
use foramen::phantom::{PhantomOptions, generate};
use foramen::spine::foramen::{ForamenInput, measure_foramina};
use foramen::spine::{AnalysisOptions, analyse};

fn levels(c: &mut Criterion) {
    let opts = PhantomOptions::reference_mr_t1_15x512();
    c.bench_function("phantom: generate 15x512x512 MR T1 with truth", |b| {
        b.iter(|| generate(&opts).unwrap())
    });
    for size in Size::ALL {
        let (series, v) = volume(size);
        let weighting = series.weighting;
        let mut g = c.benchmark_group(size.label());
        let levels_only = AnalysisOptions {
            weighting,
            levels_only: true,
            deadline: None,
        };
        g.bench_function("levels: localise + label", |b| {
            b.iter(|| analyse(&v, &levels_only).unwrap())
        });
        let model = analyse(&v, &levels_only).unwrap().model;
        // The foramen stage alone, on the levels found once (stage timing).
        let input = ForamenInput {
            volume: &v,
            localization: &model.localization,
            weighting,
        };
        g.bench_function("foramina: segment + measure", |b| {
            b.iter(|| measure_foramina(&input))
        });
        g.bench_function("levels + foramina", |b| {
            b.iter(|| {
                analyse(
                    &v,
                    &AnalysisOptions {
                        levels_only: false,
                        ..levels_only
                    },
                )
                .unwrap()
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = levels
}
criterion_main!(benches);
