//! Synthetic lumbar spine phantom with exact ground truth.
//!
//! [`generate`] samples an anatomy from a seed (labelled implicit model in patient LPS
//! mm, [`anatomy`]), plans an acquisition, renders it with partial-volume integration,
//! contrast, bias field and noise ([`render`]), and computes the truth of every lumbar
//! foramen from the model on each image slice's centre plane ([`truth`]). Deterministic
//! for given options, independent of the number of threads. See docs/phantom.md.
//!
//! ```no_run
//! use foramen::phantom::{PhantomOptions, generate};
//! let case = generate(&PhantomOptions { seed: 7, ..Default::default() }).unwrap();
//! println!("{}", serde_json::to_string_pretty(&case.truth).unwrap());
//! ```

pub mod anatomy;
pub mod eval;
pub mod eval_levels;
pub mod malformed;
pub mod output;
pub mod render;
pub mod shapes;
pub mod truth;

#[cfg(test)]
mod tests;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::grading::Thresholds;
use crate::volume::{Modality, Volume};
use anatomy::sacrum::{RemnantDraw, SacralRemnant};
use anatomy::variant::VariantDraw;
use anatomy::{Anatomy, Habitus, Region};
use render::{Acquisition, BiasField, Contrast};
use truth::LevelTruth;

/// How narrowed the foramina of a case are drawn (per level and side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// All foramina normal, a few mildly narrowed.
    Normal,
    /// Mostly normal upper levels, any grade at L4-L5 / L5-S1.
    Mixed,
    /// Severe narrowing at the two lowest levels, moderate to severe elsewhere.
    Severe,
    /// Every knob uniform over its full range.
    Random,
}

/// MR contrast weighting (ignored for CT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Weighting {
    T1,
    T2,
}

/// Orientation of the slices. `Axial` is for CT only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PhantomPlane {
    Sagittal,
    Axial,
}

/// Options of one case. `None` acquisition fields are sampled from the seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhantomOptions {
    pub modality: Modality,
    pub weighting: Weighting,
    pub seed: u64,
    /// MR: mean fat signal / noise σ (`f64::INFINITY` = noiseless). Ignored for CT.
    pub snr: f64,
    /// CT: Gaussian noise σ in HU (`None` = sampled 8-25 HU). Ignored for MR.
    pub ct_noise_hu: Option<f64>,
    pub severity: Severity,
    pub plane: PhantomPlane,
    /// 5 normally; 4 or 6 = lumbosacral transitional anatomy (`transitional` in truth).
    pub lumbar_count: u8,
    pub rows: Option<usize>,
    pub columns: Option<usize>,
    pub pixel_spacing_mm: Option<f64>,
    pub slice_thickness_mm: Option<f64>,
    pub slice_gap_mm: Option<f64>,
    pub num_slices: Option<usize>,
    /// Grid pitch (mm) of the truth-area supersampling.
    pub truth_step_mm: f64,
    /// Grading thresholds used for the expected grade in the truth.
    pub thresholds: Thresholds,
    /// Per-foramen variants from real-scan failures (root on the pedicle, fat-poor,
    /// reference-derived shapes; docs/phantom.md), from their own random stream (6).
    /// Off by default: without it a case is exactly what it was before variants existed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub variants: bool,
}

impl Default for PhantomOptions {
    fn default() -> PhantomOptions {
        PhantomOptions {
            modality: Modality::MR,
            weighting: Weighting::T1,
            seed: 1,
            snr: 20.0,
            ct_noise_hu: None,
            severity: Severity::Mixed,
            plane: PhantomPlane::Sagittal,
            lumbar_count: 5,
            rows: None,
            columns: None,
            pixel_spacing_mm: None,
            slice_thickness_mm: None,
            slice_gap_mm: None,
            num_slices: None,
            truth_step_mm: 0.1,
            thresholds: Thresholds::default(),
            variants: false,
        }
    }
}

impl PhantomOptions {
    /// The weighting a series header of this case states (MR only), as the pipeline
    /// reads it.
    pub fn series_weighting(&self) -> Option<crate::volume::Weighting> {
        match (self.modality, self.weighting) {
            (Modality::MR, Weighting::T1) => Some(crate::volume::Weighting::T1),
            (Modality::MR, Weighting::T2) => Some(crate::volume::Weighting::T2),
            _ => None,
        }
    }

    /// The reference case for speed figures: sagittal MR T1, 15 slices of 512×512 at
    /// 0.6 mm, 4 mm thick (seed 7).
    pub fn reference_mr_t1_15x512() -> PhantomOptions {
        PhantomOptions {
            seed: 7,
            rows: Some(512),
            columns: Some(512),
            pixel_spacing_mm: Some(0.6),
            num_slices: Some(15),
            slice_thickness_mm: Some(4.0),
            ..Default::default()
        }
    }
}

/// MR acquisition parameters consistent with the rendered contrast (spin echo).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MrTiming {
    pub repetition_time_ms: f64,
    pub echo_time_ms: f64,
    pub inversion_time_ms: Option<f64>,
    pub flip_angle_deg: f64,
    pub field_strength_t: f64,
    /// DICOM ScanningSequence.
    pub scanning_sequence: String,
    pub echo_train_length: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiscTruth {
    pub level: String,
    pub center_mm: [f64; 3],
    /// Disc height at its centre along the disc axis.
    pub height_mm: f64,
    /// Lordotic wedge angle between the endplates.
    pub wedge_deg: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct VertebraTruth {
    pub name: String,
    pub center_mm: [f64; 3],
    /// Unit superior axis of the body.
    pub axis: [f64; 3],
}

#[derive(Debug, Clone, Serialize)]
pub struct AnatomyTruth {
    pub sacral_slope_deg: f64,
    pub lordosis_deg: f64,
    pub body_scale: f64,
    pub habitus: Habitus,
    /// Vestigial discs inside the sacrum (S1-S2, S2-S3); not mobile discs, not in
    /// `discs`.
    pub sacral_remnants: Vec<SacralRemnant>,
}

/// Everything `truth.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct Truth {
    pub schema: &'static str,
    pub seed: u64,
    pub options: PhantomOptions,
    pub lumbar_count: u8,
    pub transitional: bool,
    pub modality: Modality,
    pub series: Acquisition,
    /// How the per-slice truth planes are defined for this series.
    pub truth_planes: &'static str,
    pub truth_step_mm: f64,
    pub anatomy: AnatomyTruth,
    pub contrast: Contrast,
    pub bias_field: Option<BiasField>,
    pub discs: Vec<DiscTruth>,
    pub vertebrae: Vec<VertebraTruth>,
    pub levels: Vec<LevelTruth>,
    pub disclaimer: &'static str,
}

/// One generated case.
#[derive(Debug, Clone)]
pub struct PhantomCase {
    /// MR: integer-valued arbitrary units in 0..=4095; CT: integer HU in -1024..=3071.
    pub volume: Volume,
    pub mr_timing: Option<MrTiming>,
    pub series_description: String,
    pub truth: Truth,
}

#[derive(Debug, thiserror::Error)]
pub enum PhantomError {
    #[error("invalid phantom option `{name}`: {reason}")]
    InvalidOption { name: &'static str, reason: String },
    #[error(
        "the requested series has {voxels} voxels, more than the limit of {limit}; use fewer rows, columns or slices"
    )]
    TooLarge { voxels: u128, limit: u128 },
}

/// Largest series generated (f32 voxels: 1 GiB).
pub const MAX_VOXELS: u128 = 1 << 28;

fn check_range(name: &'static str, v: Option<f64>, lo: f64, hi: f64) -> Result<(), PhantomError> {
    match v {
        Some(x) if !(x.is_finite() && x >= lo && x <= hi) => Err(PhantomError::InvalidOption {
            name,
            reason: format!("{x} is outside {lo}..={hi}"),
        }),
        _ => Ok(()),
    }
}

fn check_count(
    name: &'static str,
    v: Option<usize>,
    lo: usize,
    hi: usize,
) -> Result<(), PhantomError> {
    match v {
        Some(n) if n < lo || n > hi => Err(PhantomError::InvalidOption {
            name,
            reason: format!("{n} is outside {lo}..={hi}"),
        }),
        _ => Ok(()),
    }
}

fn validate(o: &PhantomOptions) -> Result<(), PhantomError> {
    if !(4..=6).contains(&o.lumbar_count) {
        return Err(PhantomError::InvalidOption {
            name: "lumbar_count",
            reason: format!(
                "{} lumbar vertebrae; use 5, or 4 / 6 for transitional anatomy",
                o.lumbar_count
            ),
        });
    }
    if o.modality == Modality::MR && (o.snr.is_nan() || o.snr <= 0.0) {
        return Err(PhantomError::InvalidOption {
            name: "snr",
            reason: format!("{} must be positive (infinity = no noise)", o.snr),
        });
    }
    if o.modality == Modality::MR && o.plane == PhantomPlane::Axial {
        return Err(PhantomError::InvalidOption {
            name: "plane",
            reason: "axial phantoms are CT only".into(),
        });
    }
    check_range("ct_noise_hu", o.ct_noise_hu, 0.0, 500.0)?;
    check_count("rows", o.rows, 16, 2048)?;
    check_count("columns", o.columns, 16, 2048)?;
    check_count("num_slices", o.num_slices, 1, 2048)?;
    check_range("pixel_spacing_mm", o.pixel_spacing_mm, 0.05, 5.0)?;
    check_range("slice_thickness_mm", o.slice_thickness_mm, 0.1, 20.0)?;
    check_range("slice_gap_mm", o.slice_gap_mm, -10.0, 50.0)?;
    check_range("truth_step_mm", Some(o.truth_step_mm), 0.01, 1.0)?;
    Ok(())
}

/// Random stream `stream` of the case seed: anatomy (1), acquisition (2), contrast (3),
/// MR timing (4), sacral remnants (5) and foramen variants (6) draw from separate
/// streams, so overriding the acquisition keeps the same anatomy, and the remnants and
/// variants, added later, left every other draw as it was.
fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Generates one case. Deterministic for given options.
pub fn generate(opts: &PhantomOptions) -> Result<PhantomCase, PhantomError> {
    let variants = if opts.variants {
        VariantDraw::sample(&mut stream(opts.seed, 6))
    } else {
        VariantDraw::NONE
    };
    generate_with(
        opts,
        &RemnantDraw::sample(&mut stream(opts.seed, 5)),
        &variants,
    )
}

/// [`generate`] with the sacral remnants and the foramen variants given instead of
/// drawn.
fn generate_with(
    opts: &PhantomOptions,
    remnants: &RemnantDraw,
    variants: &VariantDraw,
) -> Result<PhantomCase, PhantomError> {
    validate(opts)?;
    let anat = Anatomy::sample(
        &mut stream(opts.seed, 1),
        opts.severity,
        opts.lumbar_count,
        remnants,
        variants,
    );
    let acq = render::plan(&anat, opts, &mut stream(opts.seed, 2))?;
    let voxels = acq.slices as u128 * acq.rows as u128 * acq.columns as u128;
    if voxels > MAX_VOXELS || voxels == 0 {
        return Err(PhantomError::TooLarge {
            voxels,
            limit: MAX_VOXELS,
        });
    }
    let mut rng_c = stream(opts.seed, 3);
    let mut contrast = render::sample_contrast(opts, &mut rng_c);
    if !variants.foramina.is_empty() {
        contrast.add_foraminal_soft(variants.soft_blend);
    }
    let g = acq.geometry.clone();
    let mid = anat
        .vertebrae
        .iter()
        .filter(|v| v.region == Region::Lumbar)
        .nth(opts.lumbar_count as usize / 2)
        .map_or([0.0; 3], |v| v.frame.to_world([0.0, v.v_post_mm, 0.0]));
    let bias = (opts.modality == Modality::MR).then(|| BiasField::sample(mid, &mut rng_c));
    let noise_seed = rng_c.random::<u64>();
    let planes = truth::truth_planes(&acq);
    // Image and truth are independent: let rayon interleave them.
    let (voxels, result) = rayon::join(
        || {
            let mut voxels = render::render_textured(
                &anat,
                &g,
                (acq.slices, acq.rows, acq.columns),
                &contrast.table(),
                contrast.marrow_texture,
            );
            render::apply_noise(
                &mut voxels,
                &g,
                opts.modality,
                bias.as_ref(),
                contrast.noise_sigma,
                noise_seed,
            );
            voxels
        },
        || truth::compute(&anat, &planes, opts.truth_step_mm, &opts.thresholds),
    );

    let mut rng_t = stream(opts.seed, 4);
    let mr_timing = (opts.modality == Modality::MR).then(|| {
        let field = if rng_t.random_bool(0.5) { 1.5 } else { 3.0 };
        let (tr, te, etl) = match opts.weighting {
            Weighting::T1 => (
                rng_t.random_range(450.0..700.0),
                rng_t.random_range(8.0..14.0),
                3,
            ),
            Weighting::T2 => (
                rng_t.random_range(2800.0..4500.0),
                rng_t.random_range(85.0..115.0),
                17,
            ),
        };
        MrTiming {
            repetition_time_ms: f64::round(tr),
            echo_time_ms: f64::round(te * 10.0) / 10.0,
            inversion_time_ms: None,
            flip_angle_deg: 90.0,
            field_strength_t: field,
            scanning_sequence: "SE".into(),
            echo_train_length: etl,
        }
    });
    let series_description = match (opts.modality, opts.weighting, opts.plane) {
        (Modality::MR, Weighting::T1, _) => "SAG T1 TSE (foramen phantom)",
        (Modality::MR, Weighting::T2, _) => "SAG T2 TSE (foramen phantom)",
        (Modality::CT, _, PhantomPlane::Sagittal) => "SAG CT BONE (foramen phantom)",
        (Modality::CT, _, PhantomPlane::Axial) => "AX CT BONE (foramen phantom)",
    }
    .to_string();

    let discs = anat
        .levels
        .iter()
        .filter(|l| l.reported)
        .map(|l| DiscTruth {
            level: l.name.clone(),
            center_mm: l.frame.origin,
            height_mm: l.disc_height_mm,
            wedge_deg: l.wedge_deg,
        })
        .collect();
    let vertebrae = anat
        .vertebrae
        .iter()
        .map(|v| VertebraTruth {
            name: v.name.clone(),
            center_mm: v.frame.origin,
            axis: v.frame.axes[2],
        })
        .collect();
    let truth = Truth {
        schema: "foramen.truth/1",
        seed: opts.seed,
        options: opts.clone(),
        lumbar_count: opts.lumbar_count,
        transitional: opts.lumbar_count != 5,
        modality: opts.modality,
        truth_planes: match opts.plane {
            PhantomPlane::Sagittal => "centre plane of each image slice",
            PhantomPlane::Axial => {
                "sagittal planes x = const through each column centre of the axial grid (normal -x)"
            }
        },
        truth_step_mm: opts.truth_step_mm,
        series: acq,
        anatomy: AnatomyTruth {
            sacral_slope_deg: anat.sacral_slope_deg,
            lordosis_deg: anat.lordosis_deg,
            body_scale: anat.body_scale,
            habitus: anat.habitus.clone(),
            sacral_remnants: anat.sacral_remnants.clone(),
        },
        contrast,
        bias_field: bias,
        discs,
        vertebrae,
        levels: result.levels,
        disclaimer: "Synthetic phantom for testing automated research software; not patient data. \
                     Measurements of real images are not a diagnosis and require clinical correlation.",
    };
    Ok(PhantomCase {
        volume: Volume {
            voxels,
            geometry: g,
            modality: opts.modality,
        },
        mr_timing,
        series_description,
        truth,
    })
}
