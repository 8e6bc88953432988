//! Whole-pipeline throughput on a generated cohort (issue 9).
//!
//! `cargo run --release --example bench -- --studies N [--jobs J] [--ct] [--runs R]`
//!
//! Generates N studies once (phantom sagittal MR T1, 15×512×512; with `--ct` every
//! second study is a sagittal CT, 20×512×512) under `$TMPDIR/foramen-bench/`, then, in
//! process:
//! 1. one study, read + decode + analyse + report.json (`measure` + `write_json`), R
//!    times: median wall time;
//! 2. the cohort, the same plus measurements.csv, R times: median series per second;
//! 3. the cohort stage by stage: discover/header, decode + assembly, levels, foramina,
//!    report, as shares of the wall time;
//! 4. a header scan (discover + grouping) of 10,000 small DICOM files, warm cache.
//!
//! Peak RSS is VmHWM from /proc/self/status, reset before each part
//! (`echo 5 > /proc/self/clear_refs`), so generation does not count.

#[path = "../benches/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use foramen::dicom::assemble;
use foramen::dicom::discover;
use foramen::dicom::write::{SeriesWriteSpec, write_series};
use foramen::phantom::PhantomOptions;
use foramen::pipeline::{MeasureOptions, measure};
use foramen::report::{csv::write_csv, write_json};
use foramen::selection::select;
use foramen::series::group_series;
use foramen::spine::foramen::{ForamenInput, measure_foramina};
use foramen::spine::{AnalysisOptions, analyse};
use foramen::volume::{Geometry, Modality, Volume};
use ndarray::Array3;
use rayon::prelude::*;

#[derive(Parser)]
struct Args {
    /// Number of studies in the cohort.
    #[arg(long, default_value_t = 200)]
    studies: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Every second study is a sagittal CT (20×512×512) instead of MR T1.
    #[arg(long)]
    ct: bool,
    /// Repetitions of each timed part (the median is printed).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Files in the header-scan folder (0: skip).
    #[arg(long, default_value_t = 10_000)]
    header_files: usize,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Resets the peak-RSS mark (Linux ≥ 4.0); false where that is not possible.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak resident set size since the last reset, MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU time (user + system) of this process so far, from /proc/self/stat (Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start at state (field 3).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on every Linux platform Rust supports.
    Some(ticks / 100.0)
}

fn rss_text() -> String {
    peak_rss_mib().map_or("n/a".into(), |m| format!("{m:.0} MiB"))
}

fn study_options(i: usize, ct: bool) -> PhantomOptions {
    let size = if ct && i % 2 == 1 {
        common::Size::CtSag20
    } else {
        common::Size::MrT1Sag15
    };
    PhantomOptions {
        seed: 1000 + i as u64,
        ..size.options()
    }
}

/// The cohort folder: `case-NNNN/series/*.dcm`, generated once.
fn cohort(studies: usize, ct: bool) -> PathBuf {
    let root =
        common::cache_root().join(format!("cohort-{}{}", studies, if ct { "-ct" } else { "" }));
    (0..studies).into_par_iter().for_each(|i| {
        common::cached_case(&study_options(i, ct), &root.join(format!("case-{i:04}")));
    });
    root
}

/// `n` small files (64×64, 100 per series) for the header-scan figure.
fn header_folder(n: usize) -> PathBuf {
    let root = common::cache_root().join(format!("headers-{n}"));
    let done = root.join("complete");
    if done.is_file() {
        return root;
    }
    let per_series = 100;
    (0..n.div_ceil(per_series)).into_par_iter().for_each(|s| {
        let k = per_series.min(n - s * per_series);
        let g = Geometry::new(
            [0.0, -100.0, 100.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, -1.0],
            [1.0, 1.0, 1.0],
            1.0,
        )
        .unwrap();
        let v = Volume {
            voxels: Array3::from_shape_fn((k, 64, 64), |(a, b, c)| ((a + b + c) % 1000) as f32),
            geometry: g,
            modality: Modality::MR,
        };
        let spec = SeriesWriteSpec::synthetic(&format!("headers-{s}"), "SAG T1");
        write_series(&v, &spec, &root.join(format!("s{s:03}"))).unwrap();
    });
    std::fs::write(&done, b"").unwrap();
    root
}

/// Runs `f` `runs` times; returns the median wall time and the last result.
fn timed<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed());
    }
    (median(times), last.unwrap())
}

/// read + decode + analyse + report.json (and measurements.csv with `csv`).
fn pipeline(input: &Path, out: &Path, csv: bool) -> usize {
    let (report, _) = measure(&[input.to_path_buf()], &MeasureOptions::default(), &|| {});
    write_json(&report, out).unwrap();
    if csv {
        write_csv(&report, out).unwrap();
    }
    report
        .series
        .iter()
        .filter(|s| s.status == foramen::report::Status::Measured)
        .count()
}

fn main() {
    let args = Args::parse();
    if let Some(j) = args.jobs {
        rayon::ThreadPoolBuilder::new()
            .num_threads(j)
            .build_global()
            .unwrap();
    }
    println!(
        "foramen bench: {} studies{}, {} threads, {} runs per figure",
        args.studies,
        if args.ct {
            " (every second one CT)"
        } else {
            ""
        },
        rayon::current_num_threads(),
        args.runs
    );
    let t = Instant::now();
    let root = cohort(args.studies, args.ct);
    println!(
        "cohort ready in {:.1} s: {}",
        t.elapsed().as_secs_f64(),
        root.display()
    );
    let out = tempfile::tempdir().unwrap();

    // 1. One study.
    let first = root.join("case-0000");
    pipeline(&first, out.path(), false); // warm the page cache
    reset_peak_rss();
    let (one, measured) = timed(args.runs, || pipeline(&first, out.path(), false));
    println!(
        "single study (MR T1 15x512x512): {:.0} ms median wall, read + decode + analyse + report.json ({measured} series measured), peak RSS {}",
        ms(one),
        rss_text()
    );

    // 2. The cohort.
    reset_peak_rss();
    let cpu0 = cpu_seconds();
    let (all, measured) = timed(args.runs, || pipeline(&root, out.path(), true));
    println!(
        "cohort: {measured} series in {:.2} s median wall = {:.1} series/s, peak RSS {}",
        all.as_secs_f64(),
        measured as f64 / all.as_secs_f64(),
        rss_text()
    );
    // CPU time is far less sensitive than wall time to other load on a shared machine.
    if let (Some(a), Some(b)) = (cpu0, cpu_seconds()) {
        let per_series = (b - a) / (args.runs.max(1) * measured.max(1)) as f64;
        println!(
            "cohort CPU time: {:.0} ms per series (user + system) = {:.1} series/s on {} idle cores",
            per_series * 1e3,
            rayon::current_num_threads() as f64 / per_series,
            rayon::current_num_threads()
        );
    }

    // 3. Stage by stage: per-series stage times are thread times, scaled to the wall
    // time of the parallel part.
    let t = Instant::now();
    let found = discover(std::slice::from_ref(&root), &|| {});
    let series = group_series(found.instances);
    let selections = select(&series, None);
    let discover_wall = t.elapsed();
    let chosen: Vec<_> = selections
        .iter()
        .filter_map(|s| s.selected_series.as_ref())
        .filter_map(|uid| series.iter().find(|s| &s.series_instance_uid == uid))
        .collect();
    let t = Instant::now();
    let per_series: Vec<[Duration; 3]> = chosen
        .par_iter()
        .map(|s| {
            let t0 = Instant::now();
            let v = assemble(s.plan.as_ref().unwrap(), s.modality_kind().unwrap()).unwrap();
            let t1 = Instant::now();
            let levels_only = AnalysisOptions {
                weighting: s.weighting,
                levels_only: true,
                deadline: None,
            };
            let Ok(foramen::spine::Analysis { model, .. }) = analyse(&v, &levels_only) else {
                return [t1 - t0, t1.elapsed(), Duration::ZERO];
            };
            let t2 = Instant::now();
            let r = measure_foramina(&ForamenInput {
                volume: &v,
                localization: &model.localization,
                weighting: s.weighting,
            });
            std::hint::black_box(r);
            [t1 - t0, t2 - t1, t2.elapsed()]
        })
        .collect();
    let parallel_wall = t.elapsed();
    let (report, _) = measure(
        std::slice::from_ref(&root),
        &MeasureOptions::default(),
        &|| {},
    );
    let t = Instant::now();
    write_json(&report, out.path()).unwrap();
    write_csv(&report, out.path()).unwrap();
    let report_wall = t.elapsed();
    let sums: Vec<f64> = (0..3)
        .map(|i| per_series.iter().map(|d| d[i].as_secs_f64()).sum())
        .collect();
    let total_sum: f64 = sums.iter().sum::<f64>().max(1e-9);
    let stage_wall: Vec<f64> = sums
        .iter()
        .map(|s| parallel_wall.as_secs_f64() * s / total_sum)
        .collect();
    let wall = [
        discover_wall.as_secs_f64(),
        stage_wall[0],
        stage_wall[1],
        stage_wall[2],
        report_wall.as_secs_f64(),
    ];
    let total: f64 = wall.iter().sum();
    println!("cohort stage by stage ({:.2} s in all):", total);
    for (name, w) in [
        "discover + headers + selection",
        "decode + assembly",
        "levels",
        "foramina",
        "report.json + measurements.csv",
    ]
    .iter()
    .zip(wall)
    {
        println!(
            "  {name:<32} {:>8.0} ms  {:>5.1} %",
            w * 1e3,
            100.0 * w / total
        );
    }

    // 4. Header scan.
    if args.header_files > 0 {
        let dir = header_folder(args.header_files);
        let paths = vec![dir];
        let scan = || {
            let d = discover(&paths, &|| {});
            (d.instances.len(), group_series(d.instances).len())
        };
        scan(); // warm cache
        reset_peak_rss();
        let (t, (files, groups)) = timed(args.runs, scan);
        println!(
            "header scan + grouping: {files} files ({groups} series) in {:.2} s median wall (warm cache), peak RSS {}",
            t.as_secs_f64(),
            rss_text()
        );
    }
}
