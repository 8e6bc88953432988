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
    /// Files or folders to scan (recursively; any file names): DICOM, and NIfTI or
    /// MetaImage volumes (.nii, .nii.gz, .mha, .mhd).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Modality of NIfTI/MetaImage files (default: BIDS sidecar, else guessed).
    #[arg(long, value_name = "mr|ct", value_parser = super::parse_modality)]
    modality: Option<foramen::volume::Modality>,
    /// MR weighting of NIfTI/MetaImage files (default: BIDS sidecar or file name).
    #[arg(long, value_name = "t1|t2|pd|stir", value_parser = super::parse_weighting)]
    weighting: Option<foramen::volume::Weighting>,
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
    /// NIfTI and MetaImage files: one series each.
    volume_files: &'a [foramen::volume_file::VolumeFileSummary],
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
    let mut found: Discovery = discover(&args.paths, &|| pb.inc(1));
    pb.finish_and_clear();
    let files = foramen::pipeline::take_volume_files(&mut found.skipped);
    let volume_files: Vec<_> = files
        .iter()
        .map(|f| foramen::volume_file::summarise(f, args.modality, args.weighting))
        .collect();
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
        volume_files: &volume_files,
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
    if dicom_instances == 0 && volume_files.is_empty() {
        eprintln!(
            "foramen: no readable DICOM instance or volume file found in {} file(s)",
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
    for v in r.volume_files {
        writeln!(out, "file {}", v.path.display())?;
        writeln!(
            out,
            "        {} {} {} {} spacing {} mm  usable: {}",
            v.format.unwrap_or("?"),
            v.modality.unwrap_or("-"),
            v.weighting.unwrap_or("-"),
            v.shape
                .map_or("-".into(), |s| format!("{}×{}×{}", s[0], s[1], s[2])),
            v.spacing_mm.map_or("-".into(), |s| format!(
                "{:.2}×{:.2}×{:.2}",
                s[0], s[1], s[2]
            )),
            match (&v.usable, &v.reason) {
                (true, _) => "yes".to_string(),
                (false, Some(r)) => format!("no: {r}"),
                (false, None) => "no".to_string(),
            }
        )?;
        if let Some(b) = &v.modality_basis {
            writeln!(out, "        modality from {b}")?;
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
