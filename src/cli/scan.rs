//! `foramen scan`: list series and their usability.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use foramen::dicom::{Discovery, discover};
use foramen::series::{Series, group_series};
use serde::Serialize;

use super::{Context, exit};

#[derive(clap::Args, Debug)]
pub struct ScanArgs {
    /// Files or folders to scan (recursively; any file names).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Print one JSON document on stdout instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct ScanReport<'a> {
    schema: &'static str,
    tool: Tool,
    disclaimer: &'static str,
    files_seen: usize,
    dicom_instances: usize,
    series: &'a [Series],
    skipped: &'a [foramen::dicom::SkippedFile],
    skipped_by_reason: BTreeMap<&'static str, usize>,
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

pub fn run(ctx: &Context, args: ScanArgs) -> anyhow::Result<u8> {
    if let Err(e) = super::check_inputs(&args.paths) {
        eprintln!("foramen: {e}");
        return Ok(exit::USAGE);
    }
    let pb = ctx.progress("reading headers");
    let found: Discovery = discover(&args.paths, &|| pb.inc(1));
    pb.finish_and_clear();
    let dicom_instances = found.instances.len();
    for s in &found.skipped {
        tracing::info!("skipped {}: {}", s.path.display(), s.reason);
    }
    let series = group_series(found.instances);
    let mut by_reason = BTreeMap::new();
    for s in &found.skipped {
        *by_reason.entry(s.reason.category()).or_insert(0) += 1;
    }
    let report = ScanReport {
        schema: "foramen.scan/1",
        tool: Tool {
            name: "foramen",
            version: env!("CARGO_PKG_VERSION"),
        },
        disclaimer: foramen::DISCLAIMER,
        files_seen: found.files_seen,
        dicom_instances,
        series: &series,
        skipped: &found.skipped,
        skipped_by_reason: by_reason,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report).context("writing JSON to stdout")?;
        writeln!(out)?;
    } else {
        print_table(&mut out, &report, ctx.verbose > 0).context("writing to stdout")?;
    }
    if dicom_instances == 0 {
        eprintln!(
            "foramen: no readable DICOM instance found in {} file(s)",
            found.files_seen
        );
        return Ok(exit::FAILURE);
    }
    Ok(exit::OK)
}

fn fmt_opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

fn print_table(out: &mut impl Write, r: &ScanReport, all_skipped: bool) -> std::io::Result<()> {
    let mut study = None;
    for s in r.series {
        if study != Some(&s.study_instance_uid) {
            writeln!(out, "study {}", s.study_instance_uid)?;
            writeln!(
                out,
                "  {:>4}  {:<28} {:<3} {:<9} {:<7} {:>11} {:>11} {:>6}  usable",
                "#", "description", "mod", "plane", "weight", "slices×dims", "spacing mm", "thick"
            )?;
            study = Some(&s.study_instance_uid);
        }
        let desc: String = s.series_description.chars().take(28).collect();
        let dims = format!(
            "{}×{}×{}",
            s.num_slices,
            fmt_opt(s.rows),
            fmt_opt(s.columns)
        );
        let spacing = s
            .pixel_spacing_mm
            .map_or("-".into(), |p| format!("{:.3}×{:.3}", p[0], p[1]));
        let usable = match (&s.usable, &s.reason) {
            (true, _) => "yes".to_string(),
            (false, Some(r)) => format!("no: {r}"),
            (false, None) => "no".to_string(),
        };
        writeln!(
            out,
            "  {:>4}  {:<28} {:<3} {:<9} {:<7} {:>11} {:>11} {:>6}  {}",
            fmt_opt(s.series_number),
            desc,
            s.modality,
            fmt_opt(s.plane),
            s.weighting.map_or("-", |w| w.as_str()),
            dims,
            spacing,
            s.slice_thickness_mm
                .map_or("-".into(), |t| format!("{t:.2}")),
            usable
        )?;
        writeln!(
            out,
            "        series {} ({})",
            s.series_instance_uid, s.transfer_syntax
        )?;
        for w in &s.warnings {
            writeln!(out, "        warning: {w}")?;
        }
    }
    let usable = r.series.iter().filter(|s| s.usable).count();
    writeln!(out)?;
    writeln!(
        out,
        "{} files read: {} DICOM instances in {} series ({} usable), {} skipped",
        r.files_seen,
        r.dicom_instances,
        r.series.len(),
        usable,
        r.skipped.len()
    )?;
    for (reason, n) in &r.skipped_by_reason {
        writeln!(out, "  skipped, {reason}: {n}")?;
    }
    const SHOWN: usize = 50;
    for s in r
        .skipped
        .iter()
        .take(if all_skipped { usize::MAX } else { SHOWN })
    {
        writeln!(out, "  skipped {}: {}", s.path.display(), s.reason)?;
    }
    if !all_skipped && r.skipped.len() > SHOWN {
        writeln!(
            out,
            "  ... and {} more (use -v or --json to list all)",
            r.skipped.len() - SHOWN
        )?;
    }
    writeln!(out, "\n{}", foramen::DISCLAIMER)?;
    Ok(())
}
