//! `foramen compare`: differences between a report and truth or an earlier report.

use std::path::PathBuf;

use anyhow::Context as _;
use foramen::report::compare::{Tolerance, compare, table};

use super::{Context, exit};

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// report.json to check.
    #[arg(value_name = "REPORT")]
    report: PathBuf,
    /// A phantom truth.json, or an earlier report.json of the same input.
    #[arg(value_name = "TRUTH_OR_REPORT")]
    reference: PathBuf,
    /// Compare this series of REPORT (needed when several could match the truth).
    #[arg(long, value_name = "UID")]
    series: Option<String>,
    /// Area tolerance, percent of the reference (default 2 between reports, 15
    /// against truth); the larger of this and --area-tol-mm2 applies.
    #[arg(long, value_name = "PCT")]
    area_tol_pct: Option<f64>,
    /// Area tolerance in mm² (default 1 between reports, 12 against truth).
    #[arg(long, value_name = "MM2")]
    area_tol_mm2: Option<f64>,
    /// Height and width tolerance in mm (default 0.5 between reports, 2 against truth).
    #[arg(long, value_name = "MM")]
    length_tol_mm: Option<f64>,
    /// Confidence tolerance between reports (default 0.05).
    #[arg(long, value_name = "X")]
    confidence_tol: Option<f64>,
    /// Print every compared row, not only the differences.
    #[arg(long)]
    all: bool,
    /// Print the comparison as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn read(path: &PathBuf) -> anyhow::Result<serde_json::Value> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not JSON", path.display()))
}

pub fn run(_ctx: &Context, args: CompareArgs) -> anyhow::Result<u8> {
    let (report, reference) = match (read(&args.report), read(&args.reference)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("foramen: {}", super::error_chain(&e));
            return Ok(exit::USAGE);
        }
    };
    let is_truth = reference["schema"]
        .as_str()
        .is_some_and(|s| s.starts_with("foramen.truth/"));
    let base = if is_truth {
        Tolerance::TRUTH
    } else {
        Tolerance::REGRESSION
    };
    let tol = Tolerance {
        area_rel: args.area_tol_pct.map_or(base.area_rel, |p| p / 100.0),
        area_abs_mm2: args.area_tol_mm2.unwrap_or(base.area_abs_mm2),
        length_mm: args.length_tol_mm.unwrap_or(base.length_mm),
        confidence: args.confidence_tol.unwrap_or(base.confidence),
    };
    let c = match compare(&report, &reference, args.series.as_deref(), Some(tol)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("foramen: {e}");
            return Ok(exit::USAGE);
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        print!("{}", table(&c, args.all));
        println!(
            "{} foramina compared against {}: {} value(s) beyond tolerance (area ±max({}%, {} mm²), lengths ±{} mm)",
            c.compared,
            c.against,
            c.failures(),
            tol.area_rel * 100.0,
            tol.area_abs_mm2,
            tol.length_mm
        );
    }
    Ok(if c.failures() == 0 {
        exit::OK
    } else {
        exit::FAILURE
    })
}
