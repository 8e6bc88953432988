//! Load figure for `foramen serve` (issue: 20 series sent concurrently from several
//! storescu processes are all received and measured, with bounded memory).
//!
//! `cargo build --release && cargo run --release --example serve_load -- [--series 20]
//! [--senders 4] [--stable-after 2]`. Needs dcmtk's `storescu`. Generates the phantom
//! series with `target/release/foramen phantom`, starts `foramen serve` on a free
//! loopback port, sends the series from the senders at once, waits for every
//! `done.json`, and prints counts, wall time, throughput and the server's peak RSS.
//! Exits non-zero if any series was not measured.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};

/// Kills the server when dropped, so an error path leaves nothing running.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn arg_value(args: &[String], name: &str, default: u64) -> anyhow::Result<u64> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("{name} needs a number")),
        None => Ok(default),
    }
}

/// A `/proc/<pid>/status` field in kB.
fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn files_named(dir: &Path, name: &str) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.file_name() == name)
        .map(|e| e.into_path())
        .collect()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n = arg_value(&args, "--series", 20)? as usize;
    let senders = (arg_value(&args, "--senders", 4)? as usize).clamp(1, n.max(1));
    let stable_after = arg_value(&args, "--stable-after", 2)?;

    // target/release/examples/serve_load → target/release/foramen
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .context("no parent folder")?
        .join("foramen");
    if !bin.exists() {
        bail!(
            "{} not found: run `cargo build --release` first",
            bin.display()
        );
    }
    let tmp = tempfile::tempdir()?;
    let cases = tmp.path().join("cases");

    // Phantoms: one process per core at a time (each is mostly single-threaded).
    let gen_start = Instant::now();
    let cores = std::thread::available_parallelism().map_or(2, |c| c.get());
    let dirs: Vec<PathBuf> = (1..=n).map(|k| cases.join(format!("case-{k}"))).collect();
    for (batch_no, batch) in dirs.chunks(cores).enumerate() {
        let children: Vec<Child> = batch
            .iter()
            .enumerate()
            .map(|(i, dir)| {
                let seed = batch_no * cores + i + 1;
                Command::new(&bin)
                    .args(["phantom", "-q", "-j", "1", "--seed", &seed.to_string()])
                    .arg("--out")
                    .arg(dir)
                    .spawn()
            })
            .collect::<Result<_, _>>()?;
        for mut c in children {
            if !c.wait()?.success() {
                bail!("foramen phantom failed");
            }
        }
    }
    let instances: usize = dirs
        .iter()
        .map(|d| std::fs::read_dir(d.join("series")).map_or(0, |r| r.count()))
        .sum();
    eprintln!(
        "generated {n} series ({instances} instances) in {:.1} s",
        gen_start.elapsed().as_secs_f64()
    );

    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let out = tmp.path().join("serve");
    let log = std::fs::File::create(tmp.path().join("serve.log"))?;
    let server = Server(
        Command::new(&bin)
            .args(["serve", "--port", &port.to_string(), "-q"])
            .args(["--stable-after", &stable_after.to_string()])
            .arg("--out")
            .arg(&out)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?,
    );
    let pid = server.0.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("foramen serve did not listen on {port}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    // Each sender is one storescu process (one association) with every k-th series.
    let start = Instant::now();
    let start_wall = SystemTime::now();
    let mut procs = Vec::new();
    for s in 0..senders {
        let mine: Vec<PathBuf> = dirs
            .iter()
            .skip(s)
            .step_by(senders)
            .map(|d| d.join("series"))
            .collect();
        let child = Command::new("storescu")
            .args(["-aet", &format!("LOAD{s}"), "-aec", "FORAMEN", "+sd"])
            .arg("127.0.0.1")
            .arg(port.to_string())
            .args(&mine)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("run storescu (dcmtk)")?;
        procs.push(child);
    }
    let mut send_failures = 0;
    for p in procs {
        let o = p.wait_with_output()?;
        if !o.status.success() {
            send_failures += 1;
            eprintln!("storescu failed: {}", String::from_utf8_lossy(&o.stderr));
        }
    }
    let sent_in = start.elapsed();

    let timeout = Duration::from_secs(300 + 30 * n as u64);
    let mut done = files_named(&out.join("results"), "done.json");
    while done.len() < n && start.elapsed() < timeout {
        std::thread::sleep(Duration::from_millis(200));
        done = files_named(&out.join("results"), "done.json");
    }
    // Peak resident memory of the server over the whole run, read before stopping it.
    let hwm_kb = proc_status_kb(pid, "VmHWM:").unwrap_or(0);
    drop(server);

    let received = std::fs::read_dir(out.join("incoming"))
        .map(|studies| {
            studies
                .filter_map(Result::ok)
                .map(|s| std::fs::read_dir(s.path()).map_or(0, |r| r.count()))
                .sum::<usize>()
        })
        .unwrap_or(0);
    let mut measured = 0;
    let mut last_done = start_wall;
    for d in &done {
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.with_file_name("report.json"))?)?;
        if report["series"][0]["status"] == "measured" {
            measured += 1;
        }
        last_done = last_done.max(std::fs::metadata(d)?.modified()?);
    }
    let wall = last_done.duration_since(start_wall)?.as_secs_f64();
    println!("series sent:      {n} ({instances} instances) from {senders} storescu processes");
    println!(
        "send time:        {:.1} s ({send_failures} senders failed)",
        sent_in.as_secs_f64()
    );
    println!("series received:  {received}");
    println!("series measured:  {measured}");
    println!(
        "wall time:        {wall:.1} s (first send to last done.json; --stable-after {stable_after})"
    );
    println!("throughput:       {:.2} series/s", measured as f64 / wall);
    println!("peak RSS (serve): {:.0} MB (VmHWM)", hwm_kb as f64 / 1024.0);
    if measured < n || send_failures > 0 {
        bail!("{measured} of {n} series measured");
    }
    Ok(())
}
