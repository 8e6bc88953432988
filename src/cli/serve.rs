//! `foramen serve`: arguments → [`foramen::serve::run`], stopped by SIGINT/SIGTERM.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context as _;
use foramen::serve::{MAX_PDU, MIN_PDU, Peer, ServeOptions};

use super::{Context, exit};

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// TCP port to listen on.
    #[arg(long, default_value_t = 11112)]
    port: u16,
    /// Our AE title.
    #[arg(long, value_name = "AET", default_value = "FORAMEN")]
    aet: String,
    /// Address to listen on (default: loopback only).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Calling AE title allowed to send (repeatable; none given: any).
    #[arg(long = "allow-aet", value_name = "AET")]
    allow_aet: Vec<String>,
    /// Folder for incoming/ (received instances) and results/ (reports).
    #[arg(long, short, value_name = "DIR")]
    out: PathBuf,
    /// Measure a series once no instance of it has arrived for this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    stable_after: f64,
    /// Largest PDU accepted, in bytes (4096 to 4194304).
    #[arg(long, value_name = "BYTES", default_value_t = 16384,
          value_parser = clap::value_parser!(u32).range(i64::from(MIN_PDU)..=i64::from(MAX_PDU)))]
    max_pdu: u32,
    /// Concurrent associations; more are rejected (transient, the sender may retry).
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    max_associations: u16,
    /// Bytes one association may send before it is aborted (also bounds memory).
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 30,
          value_parser = clap::value_parser!(u64).range(1..=(64u64 << 30)))]
    max_bytes_per_association: u64,
    /// Close associations idle for this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    idle_timeout: u64,
    /// After measuring, C-STORE the DICOM results (SR, SEG, SC) to this AE.
    #[arg(long, value_name = "AET@HOST:PORT")]
    send_to: Option<Peer>,
}

pub fn run(ctx: &Context, args: ServeArgs) -> anyhow::Result<u8> {
    let stable_after = match Duration::try_from_secs_f64(args.stable_after) {
        Ok(d) => d,
        Err(_) => {
            eprintln!("foramen: --stable-after must be a number of seconds >= 0");
            return Ok(exit::USAGE);
        }
    };
    let opts = ServeOptions {
        bind: args.bind,
        port: args.port,
        aet: args.aet,
        allow_aets: args.allow_aet,
        out: args.out,
        stable_after,
        max_pdu: args.max_pdu,
        max_associations: usize::from(args.max_associations),
        max_bytes_per_association: args.max_bytes_per_association,
        idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
        send_to: args.send_to,
    };
    let shutdown = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, shutdown.clone())
            .context("installing the signal handler")?;
    }
    if !ctx.quiet {
        eprintln!(
            "foramen: serving {} on {}:{}; results in {} ({})",
            opts.aet,
            opts.bind,
            opts.port,
            opts.out.join("results").display(),
            foramen::DISCLAIMER
        );
    }
    match foramen::serve::run(&opts, shutdown) {
        Ok(()) => Ok(exit::OK),
        Err(e @ foramen::serve::ServeError::Option(_)) => {
            eprintln!("foramen: {e}");
            Ok(exit::USAGE)
        }
        Err(e) => Err(e.into()),
    }
}
