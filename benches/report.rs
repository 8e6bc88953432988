//! Report writing: report.json and measurements.csv of one measured MR T1 series and
//! of a 200-series cohort report (the same entry repeated; serialisation cost only
//! depends on the number of entries).

mod common;

use common::{Size, series_dir};
use criterion::{Criterion, criterion_group, criterion_main};
use foramen::pipeline::{MeasureOptions, measure};
use foramen::report::{csv::write_csv, write_json};

fn report(c: &mut Criterion) {
    let (one, _) = measure(
        &[series_dir(Size::MrT1Sag15)],
        &MeasureOptions::default(),
        &|| {},
    );
    let mut cohort = one.clone();
    cohort.series = std::iter::repeat_n(one.series[0].clone(), 200).collect();
    cohort.studies = std::iter::repeat_n(one.studies[0].clone(), 200).collect();
    let out = tempfile::tempdir().unwrap();
    for (name, r) in [("1 series", &one), ("200 series", &cohort)] {
        let mut g = c.benchmark_group(format!("report {name}"));
        g.bench_function("report.json", |b| {
            b.iter(|| write_json(r, out.path()).unwrap())
        });
        g.bench_function("measurements.csv", |b| {
            b.iter(|| write_csv(r, out.path()).unwrap())
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = report
}
criterion_main!(benches);
