//! `report.html`: one self-contained page per run (images embedded), readable offline.
//!
//! The page is a view of `report.json`: disclaimer, a summary table of every foramen
//! (left and right per level, coloured by grade), a legend, then one section per series
//! with its warnings, QC images and all numbers. It is built with maud templates
//! (`page`), which escape every splice, so text from the report (descriptions come from
//! DICOM headers) cannot become markup. Nothing is loaded from outside the file (a
//! Content-Security-Policy forbids it), and nothing time-dependent is added.
//!
//! Files: `page.rs` the templates, `format.rs` numbers, labels, classes and images,
//! `report.css` and `report.js` the inline stylesheet and script.

mod format;
mod page;
#[cfg(test)]
mod tests;

use std::io::Write;
use std::path::Path;

use super::Report;

/// Writes `report.html` into `dir` atomically; the QC images the report names are read
/// from `dir` and embedded.
pub fn write_html(report: &Report, dir: &Path) -> std::io::Result<()> {
    crate::atomic_file::write_atomic(&dir.join("report.html"), |w| write_page(w, report, dir))
}

/// The page. `dir` is where the QC images named by the report are read from.
pub fn render(report: &Report, dir: &Path) -> String {
    page::pieces(report, dir)
        .map(|piece| piece.into_string())
        .collect()
}

/// Streams the page piece by piece, so that only one series' images are in memory.
fn write_page(w: &mut dyn Write, report: &Report, dir: &Path) -> std::io::Result<()> {
    for piece in page::pieces(report, dir) {
        w.write_all(piece.into_string().as_bytes())?;
    }
    Ok(())
}
