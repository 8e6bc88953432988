//! Command-line interface. Parses arguments, sets up logging and threads, calls the
//! library, and prints results. Computes nothing itself.

mod compare;
mod measure;
mod merge;
mod phantom;
mod qc;
mod scan;
mod serve;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes (documented in docs/cli.md).
pub mod exit {
    /// Success (some files may have been skipped).
    pub const OK: u8 = 0;
    /// Nothing readable in the input, or a fatal I/O error.
    pub const FAILURE: u8 = 1;
    /// Invalid command line (clap uses 2 as well).
    pub const USAGE: u8 = 2;
    /// DICOM was read but no series is suitable for measurement.
    pub const NOTHING_MEASURABLE: u8 = 3;
    /// Every series selected for measurement failed.
    pub const FAILED_ALL: u8 = 4;
    /// Another run held the output folder's lock for longer than `--lock-wait`.
    pub const BUSY: u8 = 5;
    /// `merge`: a shard is missing, given twice, or the shards do not cover the input
    /// exactly once (a study missing or in two shards).
    pub const SHARDS_INCOMPLETE: u8 = 6;
    /// `qc apply`: a decision file is malformed, of another run, or names items the
    /// report does not have (nothing was changed).
    pub const QC_REJECTED: u8 = 7;
}

#[derive(Parser, Debug)]
#[command(
    name = "foramen",
    version,
    about = "Measure lumbar neural foramina on sagittal DICOM series (research use; requires clinical correlation)",
    after_help = foramen::DISCLAIMER
)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors on stderr; no progress bar.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(short = 'j', long, global = true, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the DICOM series under the given files or folders, and whether each one can
    /// be used for foramen measurement.
    Scan(scan::ScanArgs),
    /// Find the lumbar levels (L1-L2 .. L5-S1) in each study's best series and write
    /// report.json and QC images to --out.
    Measure(measure::MeasureArgs),
    /// Join the output folders of `measure --shard K/N` runs into one report (checks
    /// that every shard is present and every study reported exactly once).
    Merge(merge::MergeArgs),
    /// Write a synthetic lumbar spine series (MR T1/T2 or CT, sagittal or axial) with its
    /// exact ground truth (truth.json).
    Phantom(phantom::PhantomArgs),
    /// Compare a report with a phantom truth.json or an earlier report; exits 1 when
    /// any measurement moved beyond tolerance (CI regression).
    Compare(compare::CompareArgs),
    /// Receive DICOM over the network (C-STORE SCP) and measure each series once stable.
    Serve(serve::ServeArgs),
    /// Quality-control review: carry the verdicts exported from report.html into the
    /// report and CSV (`qc apply OUT_DIR DECISIONS.json...`).
    Qc(qc::QcArgs),
}

/// Global options every subcommand sees.
pub struct Context {
    pub verbose: u8,
    pub quiet: bool,
}

impl Context {
    /// A progress indicator on stderr, only when it is a terminal and not `--quiet`.
    pub fn progress(&self, message: &'static str) -> indicatif::ProgressBar {
        if self.quiet || !std::io::stderr().is_terminal() {
            return indicatif::ProgressBar::hidden();
        }
        let pb = indicatif::ProgressBar::new_spinner().with_message(message);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {msg}: {human_pos} files ({per_sec})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        pb
    }
}

impl Context {
    /// A progress bar over studies, only when stderr is a terminal and not `--quiet`.
    pub fn study_progress(&self, total: u64) -> indicatif::ProgressBar {
        if self.quiet || !std::io::stderr().is_terminal() {
            return indicatif::ProgressBar::hidden();
        }
        let pb = indicatif::ProgressBar::new(total);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "measuring {bar:30} {pos}/{len} studies ({per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match (quiet, verbose) {
        // Other crates (dicom-rs) log per-file oddities at warn level; those become
        // visible from -vv on, ours from -v.
        (true, _) => "error",
        (false, 0) => "error,foramen=warn",
        (false, 1) => "error,foramen=info",
        (false, 2) => "warn,foramen=debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("FORAMEN_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}

pub fn main() -> ExitCode {
    // dicom-rs errors capture a backtrace each; with RUST_BACKTRACE=1 set (as on many
    // machines) that makes probing thousands of non-DICOM files slow. Only library
    // backtraces are switched off; panics still honour RUST_BACKTRACE.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: called first thing in main, before any other thread exists.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    init_logging(cli.verbose, cli.quiet);
    foramen::dicom::install_panic_hook();
    if let Some(jobs) = cli.jobs
        && let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs as usize)
            .build_global()
    {
        tracing::warn!("could not set up {jobs} worker threads: {e}");
    }
    let ctx = Context {
        verbose: cli.verbose,
        quiet: cli.quiet,
    };
    let result = match cli.command {
        Command::Scan(args) => scan::run(&ctx, args),
        Command::Measure(args) => measure::run(&ctx, args),
        Command::Merge(args) => merge::run(&ctx, args),
        Command::Phantom(args) => phantom::run(&ctx, args),
        Command::Compare(args) => compare::run(&ctx, args),
        Command::Serve(args) => serve::run(&ctx, args),
        Command::Qc(args) => qc::run(&ctx, args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("foramen: error: {}", error_chain(&e));
            ExitCode::from(exit::FAILURE)
        }
    }
}

/// `a: b: c` from an anyhow error chain (never `{:?}`, which would print backtraces).
pub fn error_chain(e: &anyhow::Error) -> String {
    e.chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

/// Creates the output folder and takes its lock, waiting up to `lock_wait` seconds for
/// another run; `None` (after saying so on stderr) when it stayed busy.
pub fn lock_output(
    out: &std::path::Path,
    lock_wait: f64,
) -> anyhow::Result<Option<foramen::atomic_file::OutputLock>> {
    use anyhow::Context as _;
    std::fs::create_dir_all(out)
        .with_context(|| format!("creating output folder {}", out.display()))?;
    let wait = std::time::Duration::try_from_secs_f64(lock_wait.max(0.0))
        .unwrap_or(std::time::Duration::MAX);
    let lock = foramen::atomic_file::OutputLock::acquire(out, wait)
        .with_context(|| format!("locking output folder {}", out.display()))?;
    if lock.is_none() {
        eprintln!(
            "foramen: another run is writing to {} (waited {lock_wait} s)",
            out.display()
        );
    }
    Ok(lock)
}

/// Paths given on the command line must exist; anything else is a usage error.
pub fn check_inputs(paths: &[PathBuf]) -> anyhow::Result<()> {
    for p in paths {
        if std::fs::symlink_metadata(p).is_err() {
            anyhow::bail!("input {} does not exist", p.display());
        }
    }
    Ok(())
}

/// `--modality`: `mr` or `ct`.
pub fn parse_modality(s: &str) -> Result<foramen::volume::Modality, String> {
    foramen::volume::Modality::from_code(&s.to_ascii_uppercase())
        .ok_or_else(|| format!("unknown modality {s:?} (expected mr or ct)"))
}

/// `--weighting`: `t1`, `t2`, `pd` or `stir`.
pub fn parse_weighting(s: &str) -> Result<foramen::volume::Weighting, String> {
    use foramen::volume::Weighting;
    [Weighting::T1, Weighting::T2, Weighting::PD, Weighting::STIR]
        .into_iter()
        .find(|w| w.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| format!("unknown weighting {s:?} (expected t1, t2, pd or stir)"))
}
