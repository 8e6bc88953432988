//! Shared setup of the stage benches and `examples/bench.rs`: generated phantom series
//! of realistic sizes, written to disk once and reused across runs.
//!
//! Generation of the 200-slice axial CT takes tens of seconds, so each series is cached
//! under `$TMPDIR/foramen-bench/<name>` (written to a temporary folder, then renamed, so
//! an interrupted run never leaves a half-written series behind).

#![allow(dead_code)] // each bench uses a different part

use std::path::{Path, PathBuf};

use foramen::dicom::assemble;
use foramen::dicom::discover;
use foramen::phantom::output::{WriteOptions, write_case};
use foramen::phantom::{PhantomOptions, PhantomPlane, generate};
use foramen::series::{Series, group_series};
use foramen::volume::{Modality, Volume};

/// The series sizes the speed figures are given for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// Sagittal MR T1, 15 slices of 512×512 at 0.6 mm, 4 mm thick.
    MrT1Sag15,
    /// Sagittal CT, 20 slices of 512×512 at 0.6 mm, 2.5 mm apart.
    CtSag20,
    /// Axial CT, 200 slices of 512×512 at 0.7 mm, 1 mm apart (resliced to sagittal).
    CtAx200,
}

impl Size {
    pub const ALL: [Size; 3] = [Size::MrT1Sag15, Size::CtSag20, Size::CtAx200];

    /// Short label used in bench names.
    pub fn label(self) -> &'static str {
        match self {
            Size::MrT1Sag15 => "MR T1 sag 15x512x512",
            Size::CtSag20 => "CT sag 20x512x512",
            Size::CtAx200 => "CT axial 200x512x512",
        }
    }

    fn dir_name(self) -> &'static str {
        match self {
            Size::MrT1Sag15 => "mr-t1-sag-15x512",
            Size::CtSag20 => "ct-sag-20x512",
            Size::CtAx200 => "ct-ax-200x512",
        }
    }

    pub fn options(self) -> PhantomOptions {
        let base = PhantomOptions {
            // Truth is not used by the benches: a coarse grid keeps generation short.
            truth_step_mm: 0.5,
            ..PhantomOptions::reference_mr_t1_15x512()
        };
        match self {
            Size::MrT1Sag15 => base,
            Size::CtSag20 => PhantomOptions {
                modality: Modality::CT,
                num_slices: Some(20),
                slice_thickness_mm: Some(2.5),
                ..base
            },
            Size::CtAx200 => PhantomOptions {
                modality: Modality::CT,
                plane: PhantomPlane::Axial,
                num_slices: Some(200),
                pixel_spacing_mm: Some(0.7),
                slice_thickness_mm: Some(1.0),
                ..base
            },
        }
    }
}

/// Root of the cached bench data.
pub fn cache_root() -> PathBuf {
    std::env::temp_dir().join("foramen-bench")
}

/// Writes phantom `opts` into `dir` (as `dir/series/*.dcm` + `dir/truth.json`) unless
/// a complete copy is already there.
pub fn cached_case(opts: &PhantomOptions, dir: &Path) -> PathBuf {
    let series = dir.join("series");
    if dir.join("truth.json").is_file() {
        return series;
    }
    let parent = dir.parent().expect("cache dir has a parent");
    std::fs::create_dir_all(parent).expect("create bench cache");
    let tmp = tempfile::tempdir_in(parent).expect("temp dir in bench cache");
    let case = generate(opts).expect("phantom");
    write_case(&case, opts, &WriteOptions::default(), tmp.path()).expect("write phantom");
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(tmp.keep(), dir).expect("move bench series into place");
    series
}

/// Folder holding the DICOM files of a series of this size (generated on first use).
pub fn series_dir(size: Size) -> PathBuf {
    cached_case(&size.options(), &cache_root().join(size.dir_name()))
}

/// The headers of the series in `dir`, grouped (the series `measure` would pick).
pub fn read_series(dir: &Path) -> Series {
    let mut series = group_series(discover(&[dir.to_path_buf()], &|| {}).instances);
    assert_eq!(series.len(), 1, "one series in {}", dir.display());
    series.remove(0)
}

/// The decoded volume of a series of this size, as the pipeline sees it.
pub fn volume(size: Size) -> (Series, Volume) {
    let series = read_series(&series_dir(size));
    let plan = series.plan.as_ref().expect("regular stack");
    let v = assemble(plan, series.modality_kind().expect("MR or CT")).expect("decode");
    (series, v)
}
