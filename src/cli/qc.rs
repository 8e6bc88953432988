//! `foramen qc apply`: reviewers' decision files (exported from report.html) into
//! report.json and measurements.csv.

use std::path::PathBuf;

use foramen::report::review::{QcError, apply_to_dir};

use super::{Context, exit};

#[derive(clap::Args, Debug)]
pub struct QcArgs {
    #[command(subcommand)]
    command: QcCommand,
}

#[derive(clap::Subcommand, Debug)]
enum QcCommand {
    /// Write the verdicts of one or more decision files (`qc-decisions.json`, one per
    /// reviewer) into OUT_DIR/report.json and OUT_DIR/measurements.csv; with two or more
    /// reviewers, print their agreement (Cohen's kappa). Replaces decisions applied before.
    Apply(ApplyArgs),
}

#[derive(clap::Args, Debug)]
struct ApplyArgs {
    /// The output folder of `foramen measure` (holding report.json).
    #[arg(value_name = "OUT_DIR")]
    out: PathBuf,
    /// Decision files (format foramen.qc/1, docs/qc.md), one per reviewer.
    #[arg(required = true, value_name = "DECISIONS.json")]
    decisions: Vec<PathBuf>,
    /// Seconds to wait for another run writing to OUT_DIR (exit 5 after).
    #[arg(long, value_name = "SECONDS", default_value_t = 600.0)]
    lock_wait: f64,
}

pub fn run(ctx: &Context, args: QcArgs) -> anyhow::Result<u8> {
    let QcCommand::Apply(args) = args.command;
    if !args.out.join("report.json").is_file() {
        eprintln!(
            "foramen: qc apply: {} has no report.json (give the --out folder of `foramen measure`)",
            args.out.display()
        );
        return Ok(exit::USAGE);
    }
    let Some(_lock) = super::lock_output(&args.out, args.lock_wait)? else {
        return Ok(exit::BUSY);
    };
    let (_, summary) = match apply_to_dir(&args.out, &args.decisions) {
        Ok(r) => r,
        Err(e @ QcError::Write { .. }) => return Err(anyhow::Error::new(e).context("qc apply")),
        Err(e) => {
            eprintln!("foramen: qc apply: {e}; nothing was changed");
            return Ok(exit::QC_REJECTED);
        }
    };
    if !ctx.quiet {
        for f in &summary.files {
            eprintln!(
                "foramen: {}: {} item(s): {} pass, {} fail, {} unsure",
                f.reviewer, f.items, f.pass, f.fail, f.unsure
            );
        }
        for a in &summary.agreement {
            let kappa = a
                .kappa
                .map_or("undefined".to_string(), |k| format!("{k:.3}"));
            eprintln!(
                "foramen: agreement {} / {}: {} item(s) reviewed by both, Cohen's kappa {kappa}",
                a.reviewers[0], a.reviewers[1], a.items
            );
        }
        eprintln!(
            "foramen: decisions written to {} and {}",
            args.out.join("report.json").display(),
            args.out.join("measurements.csv").display()
        );
    }
    Ok(exit::OK)
}
