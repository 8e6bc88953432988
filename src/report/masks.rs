//! Foramen masks as a compact, self-describing JSON file (`--masks`): for every level,
//! side and plane through the foramen, the resampling grid in patient coordinates and
//! the foramen and root masks run-length encoded. Enough to redraw the masks on the
//! source images or to rebuild them in patient space without this tool.

use std::path::Path;

use ndarray::Array2;
use serde::Serialize;

use crate::spine::foramen::ForamenResult;
use crate::volume::geometry::Vec3;

pub const MASKS_SCHEMA: &str = "foramen.masks/1";

#[derive(Serialize)]
struct MaskFile<'a> {
    schema: &'static str,
    disclaimer: &'static str,
    series_instance_uid: &'a str,
    /// How to read `foramen_rle` / `root_rle`: row-major over `rows × columns`, run
    /// lengths alternating outside / inside, starting with outside (possibly 0).
    encoding: &'static str,
    foramina: Vec<ForamenMasks>,
}

#[derive(Serialize)]
struct ForamenMasks {
    level: String,
    side: &'static str,
    planes: Vec<PlaneMask>,
}

#[derive(Serialize)]
struct PlaneMask {
    slice_position_mm: f64,
    /// Slice index (sagittal) or column index (reformat) of the source series.
    source_index: usize,
    /// Patient position (LPS mm) of mask pixel (0, 0); pixel (i, j) is at
    /// `origin + j·pixel_mm·column_direction + i·pixel_mm·row_direction`.
    origin_mm: Vec3,
    row_direction: Vec3,
    column_direction: Vec3,
    pixel_mm: f64,
    rows: usize,
    columns: usize,
    area_mm2: f64,
    minimum: bool,
    foramen_rle: Vec<u32>,
    root_rle: Vec<u32>,
}

/// Run lengths of a boolean mask in row-major order, starting with a `false` run.
pub fn rle(mask: &Array2<bool>) -> Vec<u32> {
    let mut out = Vec::new();
    let mut current = false;
    let mut run = 0u32;
    for &m in mask.iter() {
        if m == current {
            run += 1;
        } else {
            out.push(run);
            current = m;
            run = 1;
        }
    }
    out.push(run);
    out
}

/// Inverse of [`rle`].
pub fn unrle(runs: &[u32], rows: usize, cols: usize) -> Option<Array2<bool>> {
    let mut v = Vec::with_capacity(rows * cols);
    for (k, &r) in runs.iter().enumerate() {
        v.extend(std::iter::repeat_n(k % 2 == 1, r as usize));
    }
    Array2::from_shape_vec((rows, cols), v).ok()
}

/// Writes the masks of one series atomically.
pub fn write_masks(
    series_uid: &str,
    results: &[ForamenResult],
    path: &Path,
) -> std::io::Result<()> {
    let foramina = results
        .iter()
        .filter(|r| !r.slices.is_empty())
        .map(|r| ForamenMasks {
            level: r.level.clone(),
            side: r.side.as_str(),
            planes: r
                .slices
                .iter()
                .enumerate()
                .map(|(k, s)| PlaneMask {
                    slice_position_mm: s.plane.position_mm,
                    source_index: s.plane.index,
                    origin_mm: s.roi.origin,
                    row_direction: crate::volume::geometry::scale(s.roi.up, -1.0),
                    column_direction: s.roi.back,
                    pixel_mm: s.roi.pixel_mm,
                    rows: s.roi.rows,
                    columns: s.roi.cols,
                    area_mm2: s.seg.area_mm2,
                    minimum: r.min_slice == Some(k),
                    foramen_rle: rle(&s.seg.mask),
                    root_rle: rle(&s.seg.root),
                })
                .collect(),
        })
        .collect();
    let file = MaskFile {
        schema: MASKS_SCHEMA,
        disclaimer: crate::DISCLAIMER,
        series_instance_uid: series_uid,
        encoding: "rle-row-major-outside-first",
        foramina,
    };
    crate::atomic_file::write_atomic(path, |w| {
        serde_json::to_writer(&mut *w, &file).map_err(std::io::Error::other)
    })
}

/// `--masks`: one compact JSON file of masks per series.
pub struct MaskOutput {
    pub dir: std::path::PathBuf,
}

impl super::output::SeriesOutput for MaskOutput {
    fn write(&self, ctx: &super::output::SeriesContext) -> Vec<super::output::Recorded> {
        use super::output::Recorded;
        let name = format!("{}_masks.json", ctx.stem);
        let path = self.dir.join(&name);
        vec![match write_masks(
            &ctx.entry.series_instance_uid,
            &ctx.analysis.foramina,
            &path,
        ) {
            Ok(()) => Recorded::MaskFile(format!("masks/{name}")),
            Err(e) => Recorded::Warning(format!("mask file not written: {e}")),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn rle_round_trips(bits in proptest::collection::vec(any::<bool>(), 1..200), cols in 1usize..20) {
            let rows = bits.len() / cols;
            prop_assume!(rows > 0);
            let m = Array2::from_shape_vec((rows, cols), bits[..rows * cols].to_vec()).unwrap();
            let runs = rle(&m);
            prop_assert_eq!(runs.iter().map(|&r| r as usize).sum::<usize>(), rows * cols);
            prop_assert_eq!(unrle(&runs, rows, cols).unwrap(), m);
        }
    }
}
