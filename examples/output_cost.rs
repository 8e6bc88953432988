//! What writing every output costs on top of a measurement run (issue target: < 20 %).
//!
//! `cargo run --release --example output_cost -- [INPUT] [--runs N]` (default: the
//! checked-in fixtures, 7 runs). Prints the median wall time of a run that writes only
//! report.json and of one that also writes measurements.csv, report.html, QC overlays,
//! masks and DICOM results (SR, SEG, key images), and the overhead.

use std::path::PathBuf;
use std::time::Instant;

use foramen::pipeline::{MeasureOptions, measure};
use foramen::report::output::OutputOptions;

/// CPU time of this process so far (user + system, ms), from /proc (Linux; clock ticks
/// of 10 ms); robust to other load on the machine, unlike wall time.
fn cpu_ms() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) * 10.0)
        })
        .unwrap_or(f64::NAN)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let mut input = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"));
    let mut runs = 7;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).unwrap_or(runs),
            other => input = PathBuf::from(other),
        }
    }
    let tmp = tempfile::tempdir()?;
    let run = |full: bool, k: usize| -> anyhow::Result<(f64, f64)> {
        let out = tmp
            .path()
            .join(format!("{}-{k}", if full { "full" } else { "json" }));
        std::fs::create_dir_all(&out)?;
        let opts = MeasureOptions {
            outputs: OutputOptions {
                qc_dir: full.then(|| out.join("qc")),
                masks_dir: full.then(|| out.join("masks")),
                dicom_dir: full.then(|| out.join("dicom")),
            },
            ..Default::default()
        };
        let t = Instant::now();
        let c = cpu_ms();
        let (report, _) = measure(std::slice::from_ref(&input), &opts, &|| {});
        foramen::report::write_json(&report, &out)?;
        if full {
            foramen::report::csv::write_csv(&report, &out)?;
            foramen::report::html::write_html(&report, &out)?;
        }
        Ok((t.elapsed().as_secs_f64() * 1000.0, cpu_ms() - c))
    };
    // Warm the file cache and the allocator once.
    run(false, 99)?;
    let (mut json, mut full) = (Vec::new(), Vec::new());
    for k in 0..runs {
        json.push(run(false, k)?);
        full.push(run(true, k)?);
    }
    let wall = |v: &[(f64, f64)]| median(v.iter().map(|x| x.0).collect());
    let cpu = |v: &[(f64, f64)]| median(v.iter().map(|x| x.1).collect());
    let (a, b) = (wall(&json), wall(&full));
    let (ca, cb) = (cpu(&json), cpu(&full));
    println!("input: {} (medians of {runs} runs)", input.display());
    println!("                                   wall ms    CPU ms");
    println!("measure + report.json:            {a:8.1}  {ca:8.1}");
    println!("measure + all outputs:            {b:8.1}  {cb:8.1}");
    println!(
        "overhead of csv/html/png/masks/DICOM: wall {:+.1} %, CPU {:+.1} %",
        (b / a - 1.0) * 100.0,
        (cb / ca - 1.0) * 100.0
    );
    Ok(())
}
