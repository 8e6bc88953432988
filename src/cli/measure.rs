//! `foramen measure`: levels and foramina for every study in the input.

use std::path::PathBuf;

use anyhow::Context as _;
use foramen::cohort::{CohortOptions, Shard};
use foramen::grading::Thresholds;
use foramen::pipeline::{MeasureOptions, masks_dir, qc_dir};
use foramen::report::Status;
use foramen::report::ids::{self, IdPolicy};
use foramen::report::output::OutputOptions;

use super::{Context, exit};

#[derive(clap::Args, Debug)]
pub struct MeasureArgs {
    /// DICOM files or folders (recursively; any file names; several studies allowed),
    /// and research-format volumes (.nii, .nii.gz, .mha, .mhd: one file is one series).
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Modality of NIfTI/MetaImage inputs, which do not record it (default: a BIDS
    /// sidecar JSON, else guessed from the values, said in the report).
    #[arg(long, value_name = "mr|ct", value_parser = super::parse_modality)]
    modality: Option<foramen::volume::Modality>,
    /// MR weighting of NIfTI/MetaImage inputs (default: a BIDS sidecar JSON or the
    /// file name, e.g. _T1w, _T2w).
    #[arg(long, value_name = "t1|t2|pd|stir", value_parser = super::parse_weighting)]
    weighting: Option<foramen::volume::Weighting>,
    /// Output folder for report.json and qc/ images (created if needed).
    #[arg(long, short, value_name = "DIR")]
    out: PathBuf,
    /// Measure this SeriesInstanceUID instead of the preferred series of its study.
    #[arg(long, value_name = "UID")]
    series: Option<String>,
    /// Do not write QC images.
    #[arg(long)]
    no_qc: bool,
    /// Grading thresholds (TOML, or JSON when the name ends in .json); keys not given
    /// keep their defaults. See docs/grading.md.
    #[arg(long, value_name = "FILE")]
    thresholds: Option<PathBuf>,
    /// Also write the foramen masks of every series to DIR/masks/ (compact JSON).
    #[arg(long)]
    masks: bool,
    /// Also write DICOM results to DIR: a TID 1500 measurement report (SR), a
    /// segmentation (SEG) and Secondary Capture key images, in the source study.
    #[arg(long, value_name = "DIR")]
    dicom_out: Option<PathBuf>,
    /// Put PatientID and AccessionNumber in the report verbatim (default: salted keys
    /// only). Patient names and birth dates are never written.
    #[arg(long)]
    include_ids: bool,
    /// File holding the salt of the identifier keys (share it across runs and shards
    /// to join their rows). Default: $FORAMEN_ID_SALT, else a random salt kept in
    /// OUT/.foramen-id-salt.
    #[arg(long, value_name = "FILE")]
    id_salt_file: Option<PathBuf>,
    /// Print a one-line JSON summary on stdout (for export hooks and scripts).
    #[arg(long)]
    json_stdout: bool,
    /// Seconds to wait for another run writing to the same --out folder (exit 5 after).
    #[arg(long, value_name = "SECONDS", default_value_t = 600.0)]
    lock_wait: f64,
    /// Give up on a series that has taken longer than this (checked between pipeline
    /// stages; the series is reported failed and the run goes on).
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0)]
    series_time_limit: f64,
    /// Keep the studies an interrupted run recorded in OUT/studies.jsonl (same input
    /// files and options) and measure only the others. See docs/scaling.md.
    #[arg(long)]
    resume: bool,
    /// Measure only shard K of N (0 <= K < N): the studies whose UID hashes to K.
    /// Join the shards' output folders with `foramen merge`.
    #[arg(long, value_name = "K/N")]
    shard: Option<Shard>,
}

/// The salt of the identifier keys: `--id-salt-file`, `$FORAMEN_ID_SALT`, or the
/// output folder's own.
fn id_salt(args: &MeasureArgs) -> anyhow::Result<Vec<u8>> {
    if let Some(path) = &args.id_salt_file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return ids::salt_from_text(&text).with_context(|| format!("{} is empty", path.display()));
    }
    if let Some(text) = std::env::var_os("FORAMEN_ID_SALT") {
        return ids::salt_from_text(&text.to_string_lossy()).context("FORAMEN_ID_SALT is empty");
    }
    Ok(ids::folder_salt(&args.out)?)
}

pub fn run(ctx: &Context, args: MeasureArgs) -> anyhow::Result<u8> {
    if let Err(e) = super::check_inputs(&args.inputs) {
        eprintln!("foramen: {e}");
        return Ok(exit::USAGE);
    }
    if let Some(dir) = &args.dicom_out
        && let Some(file) = foramen::pipeline::find_volume_files(&args.inputs).first()
    {
        eprintln!(
            "foramen: --dicom-out {} returns results into the source DICOM study, but {} is a \
             NIfTI/MetaImage file with no study to return them to: measure such files \
             without --dicom-out",
            dir.display(),
            file.display()
        );
        return Ok(exit::USAGE);
    }
    let Some(_lock) = super::lock_output(&args.out, args.lock_wait)? else {
        return Ok(exit::BUSY);
    };
    let thresholds = match &args.thresholds {
        Some(path) => match Thresholds::from_file(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("foramen: {e}");
                return Ok(exit::USAGE);
            }
        },
        None => Thresholds::default(),
    };
    let salt = match id_salt(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("foramen: identifier salt: {e}");
            return Ok(exit::USAGE);
        }
    };
    let opts = MeasureOptions {
        ids: IdPolicy {
            include: args.include_ids,
            salt,
        },
        series: args.series.clone(),
        outputs: OutputOptions {
            qc_dir: (!args.no_qc).then(|| qc_dir(&args.out)),
            masks_dir: args.masks.then(|| masks_dir(&args.out)),
            dicom_dir: args.dicom_out.clone(),
        },
        thresholds,
        time_limit: std::time::Duration::try_from_secs_f64(args.series_time_limit.max(0.001)).ok(),
        modality: args.modality,
        weighting: args.weighting,
    };
    let cohort = CohortOptions {
        measure: opts,
        out: args.out.clone(),
        shard: args.shard,
        resume: args.resume,
        max_in_flight: 0,
    };
    let pb = ctx.progress("reading headers");
    let studies_pb = std::sync::OnceLock::new();
    let run = foramen::cohort::run(&args.inputs, &cohort, &|| pb.inc(1), &|done, total| {
        let bar = studies_pb.get_or_init(|| {
            pb.finish_and_clear();
            ctx.study_progress(total as u64)
        });
        bar.set_position(done as u64);
    })?;
    pb.finish_and_clear();
    if let Some(bar) = studies_pb.get() {
        bar.finish_and_clear();
    }
    if run.studies_resumed > 0 || run.journal_lines_ignored > 0 {
        tracing::warn!(
            "resumed {} studies from {}; measured {}; {} unreadable journal line(s) ignored",
            run.studies_resumed,
            foramen::cohort::journal::JOURNAL,
            run.studies_measured,
            run.journal_lines_ignored
        );
    }
    let report = run.report;
    let instances = run.instances_found;
    foramen::report::write_all(&report, &args.out).map_err(|(path, e)| {
        anyhow::Error::new(e).context(format!("writing {}", path.display()))
    })?;
    // The sorted measurements.csv replaces the rows written as studies finished.
    let partial = args.out.join(foramen::cohort::journal::PARTIAL_CSV);
    std::fs::remove_file(&partial).with_context(|| format!("removing {}", partial.display()))?;
    let measured = report
        .series
        .iter()
        .filter(|s| s.status == Status::Measured)
        .count();
    let failed: Vec<_> = report
        .series
        .iter()
        .filter(|s| s.status == Status::Failed)
        .collect();
    for s in &failed {
        eprintln!(
            "foramen: series {} failed: {}",
            s.series_instance_uid,
            s.reason.as_deref().unwrap_or("unknown")
        );
    }
    for sel in &report.studies {
        tracing::info!("study {}: {}", sel.study_instance_uid, sel.summary);
    }
    if !ctx.quiet {
        eprintln!(
            "foramen: {} studies, {} series measured, {} failed; report in {}",
            report.studies.len(),
            measured,
            failed.len(),
            args.out.join("report.json").display()
        );
    }
    let code = if instances == 0 {
        exit::FAILURE
    } else if measured > 0 || (args.shard.is_some() && report.studies.is_empty()) {
        // A shard that owns no study of the input did its part.
        exit::OK
    } else if !failed.is_empty() {
        exit::FAILED_ALL
    } else {
        exit::NOTHING_MEASURABLE
    };
    if args.json_stdout {
        println!("{}", summary_line(&report, &args.out, code));
    }
    Ok(code)
}

/// The `--json-stdout` line: what a hook needs to decide what to do next.
fn summary_line(report: &foramen::report::Report, out: &std::path::Path, code: u8) -> String {
    let count = |st: Status| report.series.iter().filter(|s| s.status == st).count();
    let levels = || report.series.iter().flat_map(|s| s.levels.iter());
    let status = match code {
        exit::OK => "measured",
        exit::NOTHING_MEASURABLE => "nothing_measurable",
        exit::FAILED_ALL => "failed",
        _ => "no_input",
    };
    serde_json::json!({
        "schema": "foramen.summary/1",
        "status": status,
        "exit_code": code,
        "report": out.join("report.json"),
        "csv": out.join("measurements.csv"),
        "html": out.join("report.html"),
        "studies": report.studies.len(),
        "series_measured": count(Status::Measured),
        "series_failed": count(Status::Failed),
        "series_skipped": count(Status::Skipped),
        "foramina_measured": levels().filter(|l| l.min_area_mm2.is_some()).count(),
        "foramina_flagged": levels().filter(|l| l.flagged).count(),
        "dicom_files": report.series.iter().map(|s| s.dicom_files.len()).sum::<usize>(),
        "wall_ms": report.provenance.wall_ms,
        "disclaimer": report.disclaimer,
    })
    .to_string()
}
