//! Ordering the slices of a series in space, checking that they form one regular
//! stack, and decoding them into a [`Volume`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use ndarray::{Array3, ArrayViewMut2, s};
use rayon::prelude::*;
use serde::Serialize;

use crate::dicom::{DicomError, InstanceHeader, error_chain, pixels};
use crate::volume::geometry::{self, Geometry, Vec3, cross, dot, normalize};
use crate::volume::{Modality, Volume};

/// Why a set of instances does not form one regular slice stack.
#[derive(Debug, thiserror::Error)]
pub enum AssemblyError {
    #[error("no image frames")]
    Empty,
    #[error("{count} of {total} frames lack {attribute} ({files})")]
    MissingGeometry {
        attribute: &'static str,
        count: usize,
        total: usize,
        files: String,
    },
    #[error("{attribute} is not a finite number in {files}")]
    NotFinite {
        attribute: &'static str,
        files: String,
    },
    #[error(
        "series too large: {slices} x {rows} x {columns} voxels exceed the limit of {MAX_VOXELS}"
    )]
    TooLarge {
        slices: usize,
        rows: usize,
        columns: usize,
    },
    #[error("mixed image sizes within the series ({sizes})")]
    MixedSizes { sizes: String },
    #[error("mixed orientations within the series (normals differ by up to {max_angle_deg:.1}°)")]
    MixedOrientations { max_angle_deg: f64 },
    #[error("mixed pixel spacings within the series ({spacings})")]
    MixedPixelSpacing { spacings: String },
    #[error(
        "{duplicates} slices share a position with another slice (repeated acquisitions, echoes or duplicated files?)"
    )]
    DuplicatePositions { duplicates: usize },
    #[error(
        "irregular slice spacing: gaps range from {min_gap_mm:.2} to {max_gap_mm:.2} mm (missing slices?)"
    )]
    IrregularSpacing { min_gap_mm: f64, max_gap_mm: f64 },
    #[error("invalid geometry: {0}")]
    InvalidGeometry(&'static str),
    #[error("{0}")]
    Decode(#[from] DicomError),
    #[error("{path}: decoded frame {frame} is missing or has the wrong size")]
    FrameShape { path: PathBuf, frame: u32 },
}

/// One frame of one file, placed in the stack.
#[derive(Debug, Clone, Serialize)]
pub struct SlicePlacement {
    pub path: PathBuf,
    pub frame: u32,
    pub position_mm: Vec3,
    /// Position along the stack normal, `ImagePositionPatient · normal` (mm).
    pub along_normal_mm: f64,
}

/// The spatial layout of a series, worked out from headers alone.
#[derive(Debug, Clone, Serialize)]
pub struct StackPlan {
    pub geometry: Geometry,
    pub rows: usize,
    pub columns: usize,
    /// Slices in ascending order along the normal.
    pub slices: Vec<SlicePlacement>,
    /// Non-fatal observations (e.g. in-plane offsets between slices).
    pub warnings: Vec<String>,
}

const ORIENTATION_TOLERANCE_DEG: f64 = 1.0;
/// Largest volume assembled (2^28 voxels, 1 GiB as f32): a 1000-slice 512x512 CT fits;
/// a header cannot make us allocate more.
pub const MAX_VOXELS: usize = 1 << 28;

/// Up to eight file names, then a count of the rest.
fn file_list<'a>(paths: impl Iterator<Item = &'a std::path::Path>) -> String {
    let mut names: Vec<String> = paths
        .map(|p| {
            p.file_name()
                .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
        })
        .collect();
    names.dedup();
    let n = names.len();
    if n > 8 {
        names.truncate(8);
        names.push(format!("and {} more", n - 8));
    }
    names.join(", ")
}
/// Relative tolerance on gaps between slices: headers round positions to ~0.01 mm.
const GAP_TOLERANCE: f64 = 0.1;

/// Orders the frames of `instances` along their common normal and checks that they
/// form one regular stack. Slice order comes from ImagePositionPatient only, never from
/// InstanceNumber or file names.
pub fn plan_stack(instances: &[InstanceHeader]) -> Result<StackPlan, AssemblyError> {
    let frames: Vec<(&InstanceHeader, u32)> = instances
        .iter()
        .flat_map(|h| (0..h.frames.len().max(1) as u32).map(move |f| (h, f)))
        .filter(|(h, _)| h.is_image())
        .collect();
    let total = frames.len();
    if total == 0 {
        return Err(AssemblyError::Empty);
    }
    let geom = |h: &InstanceHeader, f: u32| h.frames.get(f as usize).or(h.frames.first()).cloned();
    let missing = |pred: &dyn Fn(&crate::dicom::FrameGeometry) -> bool| {
        frames
            .iter()
            .filter(|(h, f)| geom(h, *f).is_none_or(|g| !pred(&g)))
            .map(|(h, _)| h.path.as_path())
            .collect::<Vec<_>>()
    };
    for (attribute, pred) in [
        (
            "ImagePositionPatient",
            &(|g: &crate::dicom::FrameGeometry| g.position_mm.is_some()) as &dyn Fn(&_) -> bool,
        ),
        (
            "ImageOrientationPatient",
            &|g: &crate::dicom::FrameGeometry| g.orientation.is_some(),
        ),
        ("PixelSpacing", &|g: &crate::dicom::FrameGeometry| {
            g.pixel_spacing_mm.is_some()
        }),
    ] {
        let bad = missing(pred);
        if !bad.is_empty() {
            return Err(AssemblyError::MissingGeometry {
                attribute,
                count: bad.len(),
                total,
                files: file_list(bad.into_iter()),
            });
        }
    }
    let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
    for (attribute, pred) in [
        (
            "ImagePositionPatient",
            &(|g: &crate::dicom::FrameGeometry| g.position_mm.is_none_or(|p| finite(&p)))
                as &dyn Fn(&_) -> bool,
        ),
        (
            "ImageOrientationPatient",
            &|g: &crate::dicom::FrameGeometry| g.orientation.is_none_or(|o| finite(&o)),
        ),
        ("PixelSpacing", &|g: &crate::dicom::FrameGeometry| {
            g.pixel_spacing_mm.is_none_or(|s| finite(&s))
        }),
    ] {
        let bad = missing(pred);
        if !bad.is_empty() {
            return Err(AssemblyError::NotFinite {
                attribute,
                files: file_list(bad.into_iter()),
            });
        }
    }

    let mut sizes: Vec<(u16, u16)> = frames
        .iter()
        .map(|(h, _)| (h.rows.unwrap_or(0), h.columns.unwrap_or(0)))
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.len() > 1 {
        let sizes = sizes
            .iter()
            .map(|(r, c)| format!("{r}x{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(AssemblyError::MixedSizes { sizes });
    }
    let (rows, columns) = (sizes[0].0 as usize, sizes[0].1 as usize);
    if rows == 0 || columns == 0 {
        return Err(AssemblyError::InvalidGeometry("zero rows or columns"));
    }
    if total.saturating_mul(rows).saturating_mul(columns) > MAX_VOXELS {
        return Err(AssemblyError::TooLarge {
            slices: total,
            rows,
            columns,
        });
    }

    let (first_h, first_f) = frames[0];
    let g0 = geom(first_h, first_f).expect("checked above");
    let iop = g0.orientation.expect("checked above");
    let row_dir = [iop[0], iop[1], iop[2]];
    let col_dir = [iop[3], iop[4], iop[5]];
    let normal = normalize(cross(row_dir, col_dir)).ok_or(AssemblyError::InvalidGeometry(
        "ImageOrientationPatient directions are parallel or zero",
    ))?;
    let mut max_angle_deg: f64 = 0.0;
    let mut spacings: Vec<[f64; 2]> = Vec::new();
    let mut placed = Vec::with_capacity(total);
    for (h, f) in &frames {
        let g = geom(h, *f).expect("checked above");
        let o = g.orientation.expect("checked above");
        let n = normalize(cross([o[0], o[1], o[2]], [o[3], o[4], o[5]])).ok_or(
            AssemblyError::InvalidGeometry(
                "ImageOrientationPatient directions are parallel or zero",
            ),
        )?;
        let r = normalize([o[0], o[1], o[2]]).unwrap_or([0.0; 3]);
        let angle = dot(n, normal).clamp(-1.0, 1.0).acos().to_degrees();
        let row_angle = dot(r, normalize(row_dir).unwrap_or([0.0; 3]))
            .clamp(-1.0, 1.0)
            .acos()
            .to_degrees();
        max_angle_deg = max_angle_deg.max(angle).max(row_angle);
        let ps = g.pixel_spacing_mm.expect("checked above");
        if !(ps[0] > 0.0 && ps[1] > 0.0 && ps[0] < 1000.0 && ps[1] < 1000.0) {
            return Err(AssemblyError::InvalidGeometry(
                "PixelSpacing must be positive (and under 1 m)",
            ));
        }
        if !spacings
            .iter()
            .any(|s| (s[0] - ps[0]).abs() <= 1e-3 * s[0] && (s[1] - ps[1]).abs() <= 1e-3 * s[1])
        {
            spacings.push(ps);
        }
        let p = g.position_mm.expect("checked above");
        placed.push((
            SlicePlacement {
                path: h.path.clone(),
                frame: *f,
                position_mm: p,
                along_normal_mm: dot(p, normal),
            },
            h.instance_number,
            g,
        ));
    }
    if max_angle_deg > ORIENTATION_TOLERANCE_DEG {
        return Err(AssemblyError::MixedOrientations { max_angle_deg });
    }
    if spacings.len() > 1 {
        let spacings = spacings
            .iter()
            .map(|s| format!("{:.3}x{:.3}", s[0], s[1]))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(AssemblyError::MixedPixelSpacing { spacings });
    }
    let pixel_spacing = spacings[0];
    if !(pixel_spacing.iter().all(|s| s.is_finite() && *s > 0.0)) {
        return Err(AssemblyError::InvalidGeometry(
            "PixelSpacing must be positive",
        ));
    }

    // Position order; ties broken by instance number, path and frame so the result never
    // depends on the order files were listed or read in.
    placed.sort_by(|a, b| {
        a.0.along_normal_mm
            .total_cmp(&b.0.along_normal_mm)
            .then(a.1.cmp(&b.1))
            .then(a.0.path.cmp(&b.0.path))
            .then(a.0.frame.cmp(&b.0.frame))
    });
    let gaps: Vec<f64> = placed
        .windows(2)
        .map(|w| w[1].0.along_normal_mm - w[0].0.along_normal_mm)
        .collect();
    let thickness = placed[0].2.slice_thickness_mm.filter(|t| *t > 0.0);
    let mut warnings = Vec::new();
    let slice_spacing = if gaps.is_empty() {
        thickness
            .or(placed[0].2.spacing_between_slices_mm)
            .unwrap_or(1.0)
            .abs()
    } else {
        let mut sorted = gaps.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        let duplicates = gaps
            .iter()
            .filter(|g| **g < 1e-3_f64.max(0.01 * median))
            .count();
        if duplicates > 0 {
            return Err(AssemblyError::DuplicatePositions { duplicates });
        }
        let (min_gap_mm, max_gap_mm) = (sorted[0], sorted[sorted.len() - 1]);
        if max_gap_mm - min_gap_mm > GAP_TOLERANCE * median {
            return Err(AssemblyError::IrregularSpacing {
                min_gap_mm,
                max_gap_mm,
            });
        }
        let mean = (placed[placed.len() - 1].0.along_normal_mm - placed[0].0.along_normal_mm)
            / gaps.len() as f64;
        if let Some(sbs) = placed[0].2.spacing_between_slices_mm
            && (sbs.abs() - mean).abs() > GAP_TOLERANCE * mean
        {
            warnings.push(format!(
                "SpacingBetweenSlices says {sbs:.2} mm but slice positions are {mean:.2} mm apart; positions are used"
            ));
        }
        mean
    };
    // A straight stack has every slice origin on the line origin + t·normal.
    let origin = placed[0].0.position_mm;
    let max_offset = placed
        .iter()
        .map(|(s, _, _)| {
            let d = geometry::sub(s.position_mm, origin);
            let along = dot(d, normal);
            geometry::norm(geometry::sub(d, geometry::scale(normal, along)))
        })
        .fold(0.0, f64::max);
    if max_offset > 0.5 * pixel_spacing[0].min(pixel_spacing[1]) {
        warnings.push(format!(
            "slice origins are offset in-plane by up to {max_offset:.2} mm (gantry tilt or sheared stack); the volume assumes a straight stack"
        ));
    }
    let geometry = Geometry::new(
        origin,
        row_dir,
        col_dir,
        [slice_spacing, pixel_spacing[0], pixel_spacing[1]],
        thickness.unwrap_or(slice_spacing),
    )
    .ok_or(AssemblyError::InvalidGeometry(
        "degenerate orientation or non-positive spacing",
    ))?;
    Ok(StackPlan {
        geometry,
        rows,
        columns,
        slices: placed.into_iter().map(|(s, _, _)| s).collect(),
        warnings,
    })
}

/// Decodes the slices of a planned stack, in parallel, into a volume of physical values.
///
/// Each file is decoded once (multi-frame files hold many slices) straight into its
/// slices of the volume and dropped, so a series never sits in memory twice.
pub fn assemble(plan: &StackPlan, modality: Modality) -> Result<Volume, AssemblyError> {
    // The slices each file fills, files in path order.
    let mut by_path: BTreeMap<&PathBuf, Vec<(usize, u32)>> = BTreeMap::new();
    for (k, s) in plan.slices.iter().enumerate() {
        by_path.entry(&s.path).or_default().push((k, s.frame));
    }
    let mut voxels = Array3::<f32>::zeros((plan.slices.len(), plan.rows, plan.columns));
    let mut views: Vec<Option<ArrayViewMut2<f32>>> = voxels.outer_iter_mut().map(Some).collect();
    let jobs: Vec<_> = by_path
        .into_iter()
        .map(|(path, slices)| {
            let targets: Vec<(usize, u32, ArrayViewMut2<f32>)> = slices
                .into_iter()
                .filter_map(|(k, f)| Some((k, f, views[k].take()?)))
                .collect();
            (path, targets)
        })
        .collect();
    // Per file: its decode error, or the first slice whose frame is missing or of the
    // wrong size.
    let outcomes: Vec<Result<Option<usize>, DicomError>> = jobs
        .into_par_iter()
        .map(|(path, targets)| {
            let frames = pixels::decode_frames(path)?;
            let (n, r, c) = frames.dim();
            let mut bad = None;
            for (k, f, mut view) in targets {
                if f as usize >= n || r != plan.rows || c != plan.columns {
                    bad = Some(bad.map_or(k, |b: usize| b.min(k)));
                    continue;
                }
                view.assign(&frames.slice(s![f as usize, .., ..]));
            }
            Ok(bad)
        })
        .collect();
    // Same precedence as reading everything first: the first decode error in path
    // order, then the first bad frame in slice order.
    let mut first_bad: Option<usize> = None;
    for o in outcomes {
        if let Some(k) = o? {
            first_bad = Some(first_bad.map_or(k, |b| b.min(k)));
        }
    }
    if let Some(k) = first_bad {
        let s = &plan.slices[k];
        return Err(AssemblyError::FrameShape {
            path: s.path.clone(),
            frame: s.frame,
        });
    }
    Ok(Volume {
        voxels,
        geometry: plan.geometry.clone(),
        modality,
    })
}

impl AssemblyError {
    /// One-line message including the source chain.
    pub fn message(&self) -> String {
        error_chain(self)
    }
}
