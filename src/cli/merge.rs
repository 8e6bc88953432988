//! `foramen merge`: one report from the output folders of `measure --shard K/N` runs.

use std::path::PathBuf;

use super::{Context, exit};

#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The output folders of the shard runs (every shard 0..N-1 exactly once).
    #[arg(required = true, value_name = "SHARD_OUT")]
    shards: Vec<PathBuf>,
    /// Folder for the merged report.json, measurements.csv, report.html and qc/ images.
    #[arg(long, short, value_name = "DIR")]
    out: PathBuf,
    /// Seconds to wait for another run writing to the same --out folder (exit 5 after).
    #[arg(long, value_name = "SECONDS", default_value_t = 600.0)]
    lock_wait: f64,
}

pub fn run(ctx: &Context, args: MergeArgs) -> anyhow::Result<u8> {
    if let Err(e) = super::check_inputs(&args.shards) {
        eprintln!("foramen: {e}");
        return Ok(exit::USAGE);
    }
    let Some(_lock) = super::lock_output(&args.out, args.lock_wait)? else {
        return Ok(exit::BUSY);
    };
    let report = match foramen::cohort::merge::merge(&args.shards, &args.out) {
        Ok(r) => r,
        Err(e) if e.is_inconsistency() => {
            eprintln!("foramen: merge: {e}");
            return Ok(exit::SHARDS_INCOMPLETE);
        }
        Err(e) => return Err(anyhow::Error::new(e).context("merge")),
    };
    foramen::report::write_all(&report, &args.out).map_err(|(path, e)| {
        anyhow::Error::new(e).context(format!("writing {}", path.display()))
    })?;
    if !ctx.quiet {
        eprintln!(
            "foramen: merged {} shard(s): {} studies, {} series; report in {}",
            args.shards.len(),
            report.studies.len(),
            report.series.len(),
            args.out.join("report.json").display()
        );
    }
    Ok(exit::OK)
}
