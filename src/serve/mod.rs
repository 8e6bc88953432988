//! `foramen serve`: a DICOM C-STORE SCP. Instances are written to disk first; a series
//! is measured once nothing new has arrived for it for `stable_after`.
//!
//! Nothing derived from received data is ever executed; file names come from
//! sanitised UIDs only.

pub mod process;
pub mod scp;
pub mod send;
pub mod store;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use store::{Layout, SeriesKey};

/// Verification and the storage SOP classes we accept.
pub const ABSTRACT_SYNTAXES: &[&str] = &[
    "1.2.840.10008.1.1",             // Verification
    "1.2.840.10008.5.1.4.1.1.4",     // MR Image
    "1.2.840.10008.5.1.4.1.1.4.1",   // Enhanced MR Image
    "1.2.840.10008.5.1.4.1.1.4.3",   // Enhanced MR Color Image
    "1.2.840.10008.5.1.4.1.1.4.4",   // Legacy Converted Enhanced MR
    "1.2.840.10008.5.1.4.1.1.2",     // CT Image
    "1.2.840.10008.5.1.4.1.1.2.1",   // Enhanced CT Image
    "1.2.840.10008.5.1.4.1.1.2.2",   // Legacy Converted Enhanced CT
    "1.2.840.10008.5.1.4.1.1.7",     // Secondary Capture
    "1.2.840.10008.5.1.4.1.1.7.1",   // Multi-frame Single Bit SC
    "1.2.840.10008.5.1.4.1.1.7.2",   // Multi-frame Grayscale Byte SC
    "1.2.840.10008.5.1.4.1.1.7.3",   // Multi-frame Grayscale Word SC
    "1.2.840.10008.5.1.4.1.1.7.4",   // Multi-frame True Color SC
    "1.2.840.10008.5.1.4.1.1.88.11", // Basic Text SR
    "1.2.840.10008.5.1.4.1.1.88.22", // Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.33", // Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.88.34", // Comprehensive 3D SR
    "1.2.840.10008.5.1.4.1.1.88.59", // Key Object Selection
    "1.2.840.10008.5.1.4.1.1.66.4",  // Segmentation
];

/// Transfer syntaxes we accept; data sets are stored as received.
pub const TRANSFER_SYNTAXES: &[&str] = &[
    "1.2.840.10008.1.2",       // Implicit VR Little Endian
    "1.2.840.10008.1.2.1",     // Explicit VR Little Endian
    "1.2.840.10008.1.2.1.99",  // Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.2",     // Explicit VR Big Endian
    "1.2.840.10008.1.2.5",     // RLE Lossless
    "1.2.840.10008.1.2.4.50",  // JPEG Baseline
    "1.2.840.10008.1.2.4.51",  // JPEG Extended
    "1.2.840.10008.1.2.4.57",  // JPEG Lossless
    "1.2.840.10008.1.2.4.70",  // JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80",  // JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  // JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90",  // JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91",  // JPEG 2000
    "1.2.840.10008.1.2.4.201", // HTJ2K Lossless
    "1.2.840.10008.1.2.4.202", // HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.4.203", // HTJ2K
];

/// Smallest and largest accepted `--max-pdu` (PS3.8 allows any; these keep memory bounded).
pub const MIN_PDU: u32 = 4096;
pub const MAX_PDU: u32 = 4 * 1024 * 1024;

/// Connections being rejected at once (each holds a thread for at most a few seconds).
const MAX_REJECTING: usize = 16;

/// A remote AE to send results to: `AET@HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub aet: String,
    pub host: String,
    pub port: u16,
}

impl std::str::FromStr for Peer {
    type Err = String;
    fn from_str(s: &str) -> Result<Peer, String> {
        let bad = || format!("expected AET@HOST:PORT, got {s:?}");
        let (aet, addr) = s.split_once('@').ok_or_else(bad)?;
        let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        if aet.is_empty() || aet.len() > 16 || host.is_empty() || port == 0 {
            return Err(bad());
        }
        Ok(Peer {
            aet: aet.to_string(),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
        })
    }
}

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub bind: IpAddr,
    pub port: u16,
    pub aet: String,
    /// Calling AE titles allowed to associate (empty: any).
    pub allow_aets: Vec<String>,
    pub out: PathBuf,
    pub stable_after: Duration,
    pub max_pdu: u32,
    pub max_associations: usize,
    pub max_bytes_per_association: u64,
    /// Associations idle this long are closed.
    pub idle_timeout: Duration,
    pub send_to: Option<Peer>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("invalid option: {0}")]
    Option(String),
    #[error("listening on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("creating {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("accepting connections: {0}")]
    Accept(#[source] std::io::Error),
}

impl ServeOptions {
    fn check(&self) -> Result<(), ServeError> {
        let bad = |m: &str| Err(ServeError::Option(m.to_string()));
        if self.aet.is_empty() || self.aet.len() > 16 {
            return bad("--aet must be 1 to 16 characters");
        }
        if self.allow_aets.iter().any(|a| a.is_empty() || a.len() > 16) {
            return bad("--allow-aet must be 1 to 16 characters");
        }
        if !(MIN_PDU..=MAX_PDU).contains(&self.max_pdu) {
            return bad("--max-pdu out of range");
        }
        if self.max_associations == 0 {
            return bad("--max-associations must be at least 1");
        }
        if self.max_bytes_per_association == 0 {
            return bad("--max-bytes-per-association must be at least 1");
        }
        Ok(())
    }
}

/// Series waiting to become stable: when their last instance arrived, and a counter
/// that tells whether more arrived while one was being measured.
#[derive(Default)]
struct Pending {
    series: HashMap<SeriesKey, (Instant, u64)>,
    counter: u64,
}

impl Pending {
    fn touch(&mut self, key: &SeriesKey, at: Instant) {
        self.counter += 1;
        self.series.insert(key.clone(), (at, self.counter));
    }
}

/// Runs the server until `shutdown` becomes true (the CLI sets it on SIGINT/SIGTERM).
pub fn run(opts: &ServeOptions, shutdown: Arc<AtomicBool>) -> Result<(), ServeError> {
    opts.check()?;
    let layout = Layout::new(&opts.out);
    for dir in [layout.incoming(), layout.results()] {
        std::fs::create_dir_all(&dir).map_err(|source| ServeError::Create {
            path: dir.clone(),
            source,
        })?;
    }
    let addr = SocketAddr::new(opts.bind, opts.port);
    let listener = TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
    // Non-blocking accept so the loop notices `shutdown` promptly.
    listener
        .set_nonblocking(true)
        .map_err(|source| ServeError::Bind { addr, source })?;
    tracing::info!(
        "listening on {} as {} (incoming and results under {})",
        listener.local_addr().unwrap_or(addr),
        opts.aet,
        opts.out.display()
    );

    let pending = Arc::new(Mutex::new(Pending::default()));
    // Anything received before a restart and not measured since is measured now.
    {
        let now = Instant::now();
        let mut p = lock(&pending);
        for key in store::scan_incoming(&layout) {
            if store::needs_processing(&layout, &key) {
                tracing::info!("series {key} pending from an earlier run");
                p.touch(&key, now);
            }
        }
    }
    let scheduler = {
        let (pending, shutdown, layout, opts) = (
            pending.clone(),
            shutdown.clone(),
            layout.clone(),
            opts.clone(),
        );
        std::thread::Builder::new()
            .name("foramen-scheduler".into())
            .spawn(move || scheduler(&pending, &shutdown, &layout, &opts))
            .map_err(ServeError::Accept)?
    };

    let active = Arc::new(AtomicUsize::new(0));
    let rejecting = Arc::new(AtomicUsize::new(0));
    let allow = Arc::new(scp::AllowList(opts.allow_aets.clone()));
    while !shutdown.load(Ordering::Relaxed) {
        let (stream, peer) = match listener.accept() {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Transient (e.g. out of file descriptors): log, back off, go on.
                tracing::warn!("accept failed: {e}");
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        };
        let _ = stream.set_nonblocking(false);
        if active.load(Ordering::SeqCst) >= opts.max_associations {
            // Rejections are answered politely while few; a flood is just dropped.
            if rejecting.load(Ordering::SeqCst) < MAX_REJECTING {
                tracing::warn!("association from {peer} rejected: too many associations");
                rejecting.fetch_add(1, Ordering::SeqCst);
                let rejecting = rejecting.clone();
                std::thread::spawn(move || {
                    let _guard = Decrement(&rejecting);
                    reject_busy(stream)
                });
            } else {
                tracing::warn!("connection from {peer} dropped: too many associations");
            }
            continue;
        }
        active.fetch_add(1, Ordering::SeqCst);
        let (active, allow, shutdown, layout, pending, opts) = (
            active.clone(),
            allow.clone(),
            shutdown.clone(),
            layout.clone(),
            pending.clone(),
            opts.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name("foramen-association".into())
            .spawn(move || {
                let _guard = Decrement(&active);
                let on_stored = |key: &SeriesKey| lock(&pending).touch(key, Instant::now());
                let cfg = scp::ScpConfig {
                    aet: &opts.aet,
                    allow: &allow,
                    max_pdu: opts.max_pdu,
                    max_bytes: opts.max_bytes_per_association,
                    idle_timeout: opts.idle_timeout,
                    layout: &layout,
                    shutdown: &shutdown,
                    on_stored: &on_stored,
                };
                match scp::handle(stream, &cfg) {
                    Ok(s) => log_summary(&peer, &s, "released"),
                    Err(scp::ScpError::Establish(e)) => {
                        tracing::info!("association from {peer} not established: {e}")
                    }
                    Err(e) => tracing::warn!("association from {peer} ended: {e}"),
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("could not start an association thread: {e}");
        }
    }
    tracing::info!("shutting down");
    // In-flight associations get a moment to finish; the rest are abandoned (every
    // stored file is complete, so nothing half-written is left behind).
    let deadline = Instant::now() + Duration::from_secs(3);
    while active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    while !scheduler.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

struct Decrement<'a>(&'a AtomicUsize);

impl Drop for Decrement<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicked holder leaves plain data behind; keep going with it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn log_summary(peer: &SocketAddr, s: &scp::Summary, how: &str) {
    tracing::info!(
        "association from {} ({peer}) {how}: {} stored, {} failed, {} echo, {} bytes, SOP classes [{}]",
        s.calling_ae,
        s.stored,
        s.failed,
        s.echoes,
        s.bytes,
        s.sop_classes.iter().cloned().collect::<Vec<_>>().join(", ")
    );
}

/// Answers an association request beyond `--max-associations` with a transient
/// rejection (local limit exceeded), so the sender retries later.
fn reject_busy(mut stream: TcpStream) {
    use dicom_ul::pdu::{
        AssociationRJ, AssociationRJResult, AssociationRJServiceProviderPresentationReason,
        AssociationRJSource,
    };
    use std::io::{Read, Write};
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    // Reads the request header and body (bounded) so the peer is not reset mid-write.
    let mut head = [0u8; 6];
    if stream.read_exact(&mut head).is_err() {
        return;
    }
    let len = u32::from_be_bytes([head[2], head[3], head[4], head[5]]).min(64 * 1024);
    let _ = std::io::copy(
        &mut (&mut stream).take(u64::from(len)),
        &mut std::io::sink(),
    );
    let pdu = dicom_ul::Pdu::AssociationRJ(AssociationRJ {
        result: AssociationRJResult::Transient,
        source: AssociationRJSource::ServiceProviderPresentation(
            AssociationRJServiceProviderPresentationReason::LocalLimitExceeded,
        ),
    });
    let mut buf = Vec::new();
    if dicom_ul::write_pdu(&mut buf, &pdu).is_ok() {
        let _ = stream.write_all(&buf);
    }
}

/// Measures each series once it has been quiet for `stable_after`, one at a time.
fn scheduler(
    pending: &Mutex<Pending>,
    shutdown: &AtomicBool,
    layout: &Layout,
    opts: &ServeOptions,
) {
    let tick = (opts.stable_after / 4).clamp(Duration::from_millis(50), Duration::from_millis(500));
    // After a failure, wait at least this long before trying the series again.
    let retry = opts.stable_after.max(Duration::from_secs(30));
    while !shutdown.load(Ordering::Relaxed) {
        std::thread::sleep(tick);
        let now = Instant::now();
        let due = {
            let p = lock(pending);
            p.series
                .iter()
                .filter(|(_, (at, _))| now.duration_since(*at) >= opts.stable_after)
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, (_, g))| (k.clone(), *g))
        };
        let Some((key, generation)) = due else {
            continue;
        };
        let result = crate::dicom::catch_panic(|| process::process_series(layout, &key));
        let ok = match result {
            Ok(Ok(outcome)) => {
                tracing::info!(
                    "series {key}: {} instances measured ({}); results in {}",
                    outcome.marker.snapshot.instances,
                    outcome.marker.statuses.join(", "),
                    outcome.results_dir.display()
                );
                if let Some(peer) = &opts.send_to {
                    match send::send_dir(&outcome.dicom_dir, peer, &opts.aet) {
                        Ok(n) => {
                            tracing::info!("series {key}: {n} result files sent to {}", peer.aet)
                        }
                        Err(e) => tracing::warn!(
                            "series {key}: sending results to {} failed: {e}",
                            peer.aet
                        ),
                    }
                }
                true
            }
            Ok(Err(e)) => {
                tracing::error!("series {key} not processed (will retry): {e}");
                false
            }
            Err(msg) => {
                tracing::error!("series {key}: internal error (will retry): {msg}");
                false
            }
        };
        let mut p = lock(pending);
        let unchanged = p.series.get(&key).is_some_and(|(_, g)| *g == generation);
        if unchanged {
            if ok {
                p.series.remove(&key);
            } else if let Some(entry) = p.series.get_mut(&key) {
                // Retry later; `at` in the future keeps the sort order sane.
                entry.0 = Instant::now() + retry.saturating_sub(opts.stable_after);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_parsing() {
        let p: Peer = "PACS@10.0.0.5:104".parse().unwrap();
        assert_eq!(
            p,
            Peer {
                aet: "PACS".into(),
                host: "10.0.0.5".into(),
                port: 104
            }
        );
        let v6: Peer = "X@[::1]:11112".parse().unwrap();
        assert_eq!(v6.host, "::1");
        for bad in [
            "PACS",
            "@h:1",
            "A@h",
            "A@h:0",
            "A@h:x",
            "A@:5",
            "AAAAAAAAAAAAAAAAA@h:1",
        ] {
            assert!(bad.parse::<Peer>().is_err(), "{bad}");
        }
    }
}
