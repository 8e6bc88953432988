//! The DICOM input stage: finding files, parsing headers, decoding pixel data and
//! assembling a series into a [`crate::volume::Volume`]; plus the low-level Part-10
//! writing that the phantom and the DICOM results (`crate::report::dicom`) build on.
//! Built on the dicom-rs crates; imports nothing but [`crate::volume`] and
//! [`crate::atomic_file`].

pub mod assemble;
pub mod discover;
pub(crate) mod elements;
pub mod header;
pub mod pixels;
pub mod precheck;
pub mod rle;
pub mod transfer_syntax;
pub mod uid;
pub mod write;

pub use assemble::{AssemblyError, StackPlan, assemble, plan_stack};
pub use discover::{Discovery, SkipReason, SkippedFile, discover};
pub use header::{FrameGeometry, InstanceHeader, MrTiming};

use std::path::PathBuf;

/// Errors from reading one DICOM file or decoding its pixels.
#[derive(Debug, thiserror::Error)]
pub enum DicomError {
    #[error("could not read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not parse {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: missing required attribute {attribute}")]
    MissingAttribute {
        path: PathBuf,
        attribute: &'static str,
    },
    #[error("{path}: invalid {attribute} {value:?}: {why}")]
    InvalidAttribute {
        path: PathBuf,
        attribute: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("{path}: transfer syntax {name} ({uid}) cannot be decoded by this build{hint}")]
    UnsupportedTransferSyntax {
        path: PathBuf,
        uid: String,
        name: String,
        hint: &'static str,
    },
    #[error("could not decode pixel data of {path}: {message}")]
    Decode { path: PathBuf, message: String },
    #[error("internal error in the DICOM decoder while reading {path}: {message}")]
    Panic { path: PathBuf, message: String },
}

/// Formats an error and its `source()` chain on one line, `a: b: c`.
///
/// dicom-rs errors carry backtraces; `{:?}` would print them (and this machine sets
/// `RUST_BACKTRACE=1`), so we only ever show `Display` output.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        source = s.source();
    }
    out
}

/// How many [`catch_panic`] scopes are running (on any thread: a scope's work may run
/// on rayon workers).
static CATCHING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Installs a panic hook that stays quiet for panics a [`catch_panic`] scope turns into
/// an error (that error is reported with the file or series it concerns) and defers to
/// the default hook otherwise. Called once by the binary.
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if CATCHING.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            tracing::debug!("caught internal error: {info}");
        } else {
            default(info);
        }
    }));
}

struct Scope;

impl Scope {
    fn enter() -> Scope {
        CATCHING.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Scope
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        CATCHING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Runs `f`, turning a panic (inside a third-party decoder, or a bug in the analysis of
/// one series) into an error value so that one hostile file cannot abort a cohort run.
pub fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let _scope = Scope::enter();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string())
    })
}
