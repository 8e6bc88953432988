//! Image formation: acquisition geometry, tissue contrast, partial-volume integration
//! over each voxel's footprint, bias field and noise.

use ndarray::Array3;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use serde::Serialize;

use super::anatomy::{Anatomy, Region, TISSUE_COUNT, Tissue, wave};
use super::shapes::{Aabb, Frame};
use super::{PhantomError, PhantomOptions, PhantomPlane, Weighting};
use crate::volume::Modality;
use crate::volume::geometry::{Geometry, Vec3, add, scale};

/// Acquisition of the rendered series.
#[derive(Debug, Clone, Serialize)]
pub struct Acquisition {
    pub plane: &'static str,
    pub rows: usize,
    pub columns: usize,
    pub slices: usize,
    pub pixel_spacing_mm: f64,
    pub slice_thickness_mm: f64,
    pub slice_gap_mm: f64,
    pub geometry: Geometry,
}

fn uni(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    rng.random_range(lo..=hi)
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

fn invalid(name: &'static str, reason: impl Into<String>) -> PhantomError {
    PhantomError::InvalidOption {
        name,
        reason: reason.into(),
    }
}

/// Plans the acquisition: options where given, otherwise sampled within realistic
/// ranges (docs/phantom.md).
pub fn plan(
    anat: &Anatomy,
    opts: &PhantomOptions,
    rng: &mut ChaCha8Rng,
) -> Result<Acquisition, PhantomError> {
    let lumbar: Vec<_> = anat
        .vertebrae
        .iter()
        .filter(|v| v.region == Region::Lumbar)
        .collect();
    let top = lumbar[0];
    let s1 = anat
        .vertebrae
        .iter()
        .find(|v| v.name == "S1")
        .unwrap_or(lumbar[lumbar.len() - 1]);
    let mid = lumbar[lumbar.len() / 2];
    let canal_x = mid.frame.origin[0];
    match opts.plane {
        PhantomPlane::Sagittal => {
            let thickness = opts
                .slice_thickness_mm
                .unwrap_or_else(|| pick(rng, &[3.0, 3.5, 4.0, 4.0, 4.5, 5.0]));
            let gap = opts
                .slice_gap_mm
                .unwrap_or_else(|| thickness * pick(rng, &[0.0, 0.0, 0.1, 0.2]));
            let rows = opts
                .rows
                .unwrap_or_else(|| pick(rng, &[256, 320, 384, 448, 512, 512, 576, 640]));
            let pixel = match opts.pixel_spacing_mm {
                Some(p) => p,
                None => (uni(rng, 240.0, 340.0) / rows as f64).clamp(0.4, 1.0),
            };
            let columns = match opts.columns {
                Some(c) => c,
                None => {
                    let ratio = pick(rng, &[1.0, 1.0, 0.875, 0.8125, 0.75]);
                    (((rows as f64 * ratio) / 16.0).round() as usize * 16).clamp(256, 640)
                }
            };
            let spacing = thickness + gap;
            if spacing <= 0.0 {
                return Err(invalid(
                    "slice_gap_mm",
                    "slice thickness plus gap must be positive",
                ));
            }
            let lateral = lumbar
                .iter()
                .flat_map(|v| v.pedicles.iter().map(|p| p.lateral_mm()))
                .fold(0.0, f64::max);
            let slices = match opts.num_slices {
                Some(n) => n,
                None => {
                    let need = ((2.0 * (lateral + 4.0)) / spacing).ceil() as usize + 1;
                    (need + rng.random_range(0..=2)).clamp(11, 21)
                }
            };
            // Small obliquity of the stack: yaw about z, roll about y, in-plane about x.
            let frame = Frame::aligned([0.0; 3])
                .turned(2, uni(rng, -3.0, 3.0).to_radians())
                .turned(1, uni(rng, -3.0, 3.0).to_radians())
                .turned(0, uni(rng, -4.0, 4.0).to_radians());
            let row_dir = frame.axes[1];
            let col_dir = scale(frame.axes[2], -1.0);
            let fov_y = columns as f64 * pixel;
            let z_mid = 0.5 * (top.frame.origin[2] + s1.frame.origin[2]);
            let y_wall = mid.frame.to_world([0.0, mid.v_post_mm, 0.0])[1];
            let centre = [
                canal_x + uni(rng, -3.0, 3.0),
                y_wall - 0.12 * fov_y + uni(rng, -15.0, 15.0),
                z_mid + uni(rng, -12.0, 12.0),
            ];
            let normal = crate::volume::geometry::cross(row_dir, col_dir);
            let origin = add(
                centre,
                add(
                    scale(row_dir, -0.5 * (columns as f64 - 1.0) * pixel),
                    add(
                        scale(col_dir, -0.5 * (rows as f64 - 1.0) * pixel),
                        scale(normal, -0.5 * (slices as f64 - 1.0) * spacing),
                    ),
                ),
            );
            let geometry =
                Geometry::new(origin, row_dir, col_dir, [spacing, pixel, pixel], thickness)
                    .ok_or_else(|| invalid("pixel_spacing_mm", "degenerate geometry"))?;
            Ok(Acquisition {
                plane: "sagittal",
                rows,
                columns,
                slices,
                pixel_spacing_mm: pixel,
                slice_thickness_mm: thickness,
                slice_gap_mm: gap,
                geometry,
            })
        }
        PhantomPlane::Axial => {
            let thickness = opts
                .slice_thickness_mm
                .unwrap_or_else(|| pick(rng, &[1.25, 1.5, 2.0]));
            let gap = opts.slice_gap_mm.unwrap_or(0.0);
            let spacing = thickness + gap;
            if spacing <= 0.0 {
                return Err(invalid(
                    "slice_gap_mm",
                    "slice thickness plus gap must be positive",
                ));
            }
            let rows = opts.rows.unwrap_or(512);
            let columns = opts.columns.unwrap_or(512);
            let pixel = opts
                .pixel_spacing_mm
                .unwrap_or_else(|| uni(rng, 0.68, 0.82));
            let z_top = top.frame.to_world([0.0, 0.0, top.half_height_mm])[2] + 8.0;
            let z_bottom = s1.frame.to_world([0.0, 0.0, -s1.half_height_mm])[2] - 5.0;
            let slices = match opts.num_slices {
                Some(n) => n,
                None => ((z_top - z_bottom) / spacing).ceil() as usize + 1,
            };
            let centre_xy = [
                canal_x + uni(rng, -10.0, 10.0),
                mid.frame.origin[1] + uni(rng, -20.0, 20.0),
            ];
            let origin = [
                centre_xy[0] - 0.5 * (columns as f64 - 1.0) * pixel,
                centre_xy[1] - 0.5 * (rows as f64 - 1.0) * pixel,
                z_bottom,
            ];
            let geometry = Geometry::new(
                origin,
                [1.0, 0.0, 0.0],
                [0.0, 1.0, 0.0],
                [spacing, pixel, pixel],
                thickness,
            )
            .ok_or_else(|| invalid("pixel_spacing_mm", "degenerate geometry"))?;
            Ok(Acquisition {
                plane: "axial",
                rows,
                columns,
                slices,
                pixel_spacing_mm: pixel,
                slice_thickness_mm: thickness,
                slice_gap_mm: gap,
                geometry,
            })
        }
    }
}

/// Per-case tissue values (MR arbitrary units before bias and noise, or CT HU).
#[derive(Debug, Clone, Serialize)]
pub struct Contrast {
    /// Value per tissue, indexed like [`Tissue::ALL`].
    pub values: Vec<(Tissue, f32)>,
    /// MR: mean fat signal (the SNR reference); CT: fat HU.
    pub fat_signal: f64,
    /// Noise standard deviation: MR Rician σ, CT Gaussian HU.
    pub noise_sigma: f64,
    /// Smooth heterogeneity of the marrow value.
    pub marrow_texture: MarrowTexture,
}

/// Marrow value × `1 + amplitude · t(p)`, `t` a smooth pattern in -1..1 with features
/// of ~5-15 mm (red/yellow marrow heterogeneity). Evaluated at voxel centres.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MarrowTexture {
    pub amplitude: f64,
    pub phases: [f64; 3],
}

impl MarrowTexture {
    pub const NONE: MarrowTexture = MarrowTexture {
        amplitude: 0.0,
        phases: [0.0; 3],
    };

    fn sample(rng: &mut ChaCha8Rng) -> MarrowTexture {
        MarrowTexture {
            amplitude: uni(rng, 0.04, 0.1),
            phases: [uni(rng, 0.0, 6.3), uni(rng, 0.0, 6.3), uni(rng, 0.0, 6.3)],
        }
    }

    #[inline]
    fn factor(&self, p: Vec3) -> f64 {
        if self.amplitude == 0.0 {
            return 1.0;
        }
        let [a, b, c] = self.phases;
        let t = wave(0.53 * p[0] + 0.31 * p[2] + a)
            * wave(0.47 * p[1] + b + 0.7 * wave(0.21 * p[2]))
            + 0.5 * wave(0.37 * p[2] - 0.29 * p[1] + c);
        1.0 + self.amplitude * (t / 1.5)
    }
}

impl Contrast {
    /// Adds the value of the fat-poor variant's veins / fibrosis, `fat + blend · (root -
    /// fat)` (no random draw: the cases without variants keep their contrast stream).
    pub fn add_foraminal_soft(&mut self, blend: f64) {
        let table = self.table();
        let (fat, root) = (
            table[Tissue::ForaminalFat.index()] as f64,
            table[Tissue::Root.index()] as f64,
        );
        self.values
            .push((Tissue::ForaminalSoft, (fat + blend * (root - fat)) as f32));
    }

    pub fn table(&self) -> [f32; TISSUE_COUNT] {
        let mut t = [0.0f32; TISSUE_COUNT];
        for (tissue, v) in &self.values {
            t[tissue.index()] = *v;
        }
        t
    }
}

/// Samples the tissue values of one case.
pub fn sample_contrast(opts: &PhantomOptions, rng: &mut ChaCha8Rng) -> Contrast {
    use Tissue::*;
    match opts.modality {
        Modality::MR => {
            // Relative signal (fat = 1 on T1, CSF = 1 on T2), see docs/phantom.md.
            // The tissues of every case (the variants' tissue is added after the draws).
            let nominal: [(Tissue, f64); 14] = match opts.weighting {
                Weighting::T1 => [
                    (Air, 0.0),
                    (Fat, 1.0),
                    (Muscle, 0.32),
                    (Abdomen, 0.45),
                    (Vessel, 0.08),
                    (Cortical, 0.05),
                    (Marrow, 0.72),
                    (Annulus, 0.30),
                    (Nucleus, 0.38),
                    (Csf, 0.14),
                    (EpiduralFat, 1.0),
                    (ForaminalFat, 1.0),
                    (Root, 0.45),
                    (Ligament, 0.26),
                ],
                Weighting::T2 => [
                    (Air, 0.0),
                    (Fat, 0.7),
                    (Muscle, 0.22),
                    (Abdomen, 0.4),
                    (Vessel, 0.06),
                    (Cortical, 0.04),
                    (Marrow, 0.5),
                    (Annulus, 0.2),
                    (Nucleus, 0.85),
                    (Csf, 1.0),
                    (EpiduralFat, 0.7),
                    (ForaminalFat, 0.7),
                    (Root, 0.32),
                    (Ligament, 0.14),
                ],
            };
            let reference = uni(rng, 900.0, 1600.0);
            let fat_factor = uni(rng, 0.9, 1.1);
            let values: Vec<(Tissue, f32)> = nominal
                .iter()
                .map(|&(t, v)| {
                    let f = match t {
                        Fat | EpiduralFat | ForaminalFat => fat_factor,
                        Air => 1.0,
                        // The T2 reference: CSF stays the brightest tissue.
                        Csf if opts.weighting == Weighting::T2 => 1.0,
                        _ => uni(rng, 0.85, 1.15),
                    };
                    (t, (v * f * reference) as f32)
                })
                .collect();
            let fat_signal = nominal[1].1 * fat_factor * reference;
            let noise_sigma = if opts.snr.is_finite() {
                fat_signal / opts.snr
            } else {
                0.0
            };
            Contrast {
                values,
                fat_signal,
                noise_sigma,
                marrow_texture: MarrowTexture::sample(rng),
            }
        }
        Modality::CT => {
            let fat = uni(rng, -115.0, -85.0);
            let values: Vec<(Tissue, f32)> = [
                (Air, -1000.0),
                (Fat, fat),
                (Muscle, uni(rng, 40.0, 60.0)),
                (Abdomen, uni(rng, 25.0, 45.0)),
                (Vessel, uni(rng, 35.0, 50.0)),
                (Cortical, uni(rng, 700.0, 1200.0)),
                (Marrow, uni(rng, 150.0, 300.0)),
                (Annulus, uni(rng, 75.0, 100.0)),
                (Nucleus, uni(rng, 65.0, 85.0)),
                (Csf, uni(rng, 3.0, 15.0)),
                (EpiduralFat, fat),
                (ForaminalFat, fat),
                (Root, uni(rng, 30.0, 45.0)),
                (Ligament, uni(rng, 55.0, 75.0)),
            ]
            .map(|(t, v)| (t, v as f32))
            .to_vec();
            let noise_sigma = opts.ct_noise_hu.unwrap_or_else(|| uni(rng, 8.0, 25.0));
            Contrast {
                values,
                fat_signal: fat,
                noise_sigma,
                marrow_texture: MarrowTexture::sample(rng),
            }
        }
    }
}

/// Sub-sample offsets of a voxel footprint (world mm) and how many of them form the
/// quick homogeneity check.
struct Footprint {
    offsets: Vec<Vec3>,
    check: Vec<usize>,
    /// Smaller check where only the smooth, large-scale background can occur: both
    /// slab faces and the middle.
    check_background: Vec<usize>,
}

/// Stratified sub-samples of a voxel footprint: `nt` positions through the slice
/// (pitch ≤ 0.7 mm) times `m = max(nr, nc)` in-plane positions on an `nr × nc` grid
/// (pitch ≤ 0.35 mm), arranged as Latin squares: consecutive through-slice positions
/// use different in-plane cells, so every cell is covered while the sample count
/// grows with `nt · m` rather than `nt · nr · nc`. Their mean is the footprint average.
fn footprint(g: &Geometry) -> Footprint {
    let [_, sr, sc] = g.spacing_mm;
    let thickness = g.slice_thickness_mm;
    let nt = ((thickness / 0.7).ceil() as usize).clamp(2, 10);
    let nr = ((sr / 0.35).ceil() as usize).clamp(1, 4);
    let nc = ((sc / 0.35).ceil() as usize).clamp(1, 4);
    let m = nr.max(nc);
    let frac = |i: usize, n: usize| (i as f64 + 0.5) / n as f64 - 0.5;
    let mut offsets = Vec::with_capacity(nt * m);
    for t in 0..nt {
        for q in 0..m {
            let (r, c) = (q % nr, (q + t) % nc);
            offsets.push(add(
                scale(g.normal, frac(t, nt) * thickness),
                add(
                    scale(g.col_dir, frac(r, nr) * sr),
                    scale(g.row_dir, frac(c, nc) * sc),
                ),
            ));
        }
    }
    // Check set: the first sample of every through-slice position.
    let check = (0..nt).map(|t| t * m).collect();
    let mut check_background = vec![0, (nt / 2) * m + m / 2, nt * m - 1];
    check_background.dedup();
    Footprint {
        offsets,
        check,
        check_background,
    }
}

/// Side of the top-level tiles (voxels); tiles are split down to `MIN_TILE`.
const TILE: usize = 16;
const MIN_TILE: usize = 2;

struct Renderer<'a> {
    anat: &'a Anatomy,
    g: &'a Geometry,
    fp: Footprint,
    values: &'a [f32; TISSUE_COUNT],
    texture: MarrowTexture,
    half_t: f64,
}

impl Renderer<'_> {
    /// Renders voxels `[k, r0..r1, c0..c1]` into `out` (row stride `stride`, origin
    /// at `(or, oc)`): culls `cand` to the block, fills it at once when one convex
    /// primitive holds the whole footprint, splits it, or samples its voxels.
    #[allow(clippy::too_many_arguments)]
    fn block(
        &self,
        k: usize,
        r: [usize; 2],
        c: [usize; 2],
        cand: &[u32],
        out: &mut [f32],
        stride: usize,
        origin: [usize; 2],
    ) {
        let (anat, g) = (self.anat, self.g);
        let mut corners = [[0.0; 3]; 8];
        let mut n = 0;
        for dk in [-self.half_t, self.half_t] {
            for i in [r[0] as f64 - 0.5, r[1] as f64 - 0.5] {
                for j in [c[0] as f64 - 0.5, c[1] as f64 - 0.5] {
                    corners[n] = g.index_to_lps([k as f64 + dk, i, j]);
                    n += 1;
                }
            }
        }
        let mut bb = Aabb::empty();
        corners.iter().for_each(|p| bb.include(*p));
        let bb = bb.grown(0.05);
        let mut cand: Vec<u32> = cand
            .iter()
            .copied()
            .filter(|&i| anat.prims[i as usize].aabb.intersects(&bb))
            .collect();
        // All primitives are convex: one that holds the 8 corners holds the whole
        // footprint, and nothing of lower priority can show through it.
        if let Some(pos) = cand.iter().position(|&i| {
            corners
                .iter()
                .all(|p| anat.prims[i as usize].shape.contains(*p))
        }) {
            if pos == 0 {
                let label = anat.prims[cand[0] as usize].label;
                let v = self.values[label.index()];
                for i in r[0]..r[1] {
                    let row = (i - origin[0]) * stride;
                    if label == Tissue::Marrow {
                        for j in c[0]..c[1] {
                            let f = self
                                .texture
                                .factor(g.index_to_lps([k as f64, i as f64, j as f64]));
                            out[row + j - origin[1]] = (v as f64 * f) as f32;
                        }
                    } else {
                        out[row + c[0] - origin[1]..row + c[1] - origin[1]].fill(v);
                    }
                }
                return;
            }
            cand.truncate(pos + 1);
        }
        let (h, w) = (r[1] - r[0], c[1] - c[0]);
        if !cand.is_empty() && (h > MIN_TILE || w > MIN_TILE) {
            let rm = r[0] + h.div_ceil(2);
            let cm = c[0] + w.div_ceil(2);
            for rr in [[r[0], rm], [rm, r[1]]] {
                for cc in [[c[0], cm], [cm, c[1]]] {
                    if rr[0] < rr[1] && cc[0] < cc[1] {
                        self.block(k, rr, cc, &cand, out, stride, origin);
                    }
                }
            }
            return;
        }
        let fp = &self.fp;
        let check = if cand.is_empty() {
            &fp.check_background
        } else {
            &fp.check
        };
        let mut labels = [Tissue::Air; 64];
        let mut known = [false; 64];
        let full = fp.offsets.len() <= 64;
        for i in r[0]..r[1] {
            for j in c[0]..c[1] {
                let centre = g.index_to_lps([k as f64, i as f64, j as f64]);
                let first = anat.label_with(add(centre, fp.offsets[check[0]]), &cand);
                let mut homogeneous = true;
                if full {
                    known.fill(false);
                    labels[check[0]] = first;
                    known[check[0]] = true;
                }
                for &s in &check[1..] {
                    let l = anat.label_with(add(centre, fp.offsets[s]), &cand);
                    if full {
                        labels[s] = l;
                        known[s] = true;
                    }
                    if l != first {
                        homogeneous = false;
                        break;
                    }
                }
                // Texture factor only where marrow shows (it costs a few waves).
                let mut marrow: Option<f64> = None;
                let mut value_of = |l: Tissue| {
                    let v = self.values[l.index()] as f64;
                    if l == Tissue::Marrow {
                        v * *marrow.get_or_insert_with(|| self.texture.factor(centre))
                    } else {
                        v
                    }
                };
                let value = if homogeneous {
                    value_of(first) as f32
                } else {
                    // Mixed footprint: supersample it fully, reusing the check samples.
                    let mut sum = 0.0f64;
                    for (n, off) in fp.offsets.iter().enumerate() {
                        let l = if full && known[n] {
                            labels[n]
                        } else {
                            anat.label_with(add(centre, *off), &cand)
                        };
                        sum += value_of(l);
                    }
                    (sum / fp.offsets.len() as f64) as f32
                };
                out[(i - origin[0]) * stride + j - origin[1]] = value;
            }
        }
    }
}

/// Tissue-fraction-weighted mean of `values` over every voxel footprint
/// (in-plane pixel × slice thickness): a quick check at a few sub-samples, and full
/// supersampling where they disagree. Blocks of voxels whose whole footprint lies in
/// one primitive are filled without sampling.
pub fn render_partial_volume(
    anat: &Anatomy,
    g: &Geometry,
    dims: (usize, usize, usize),
    values: &[f32; TISSUE_COUNT],
) -> Array3<f32> {
    render_textured(anat, g, dims, values, MarrowTexture::NONE)
}

/// [`render_partial_volume`] with the marrow heterogeneity of `texture`.
pub fn render_textured(
    anat: &Anatomy,
    g: &Geometry,
    dims: (usize, usize, usize),
    values: &[f32; TISSUE_COUNT],
    texture: MarrowTexture,
) -> Array3<f32> {
    let (ns, nr, nc) = dims;
    let half_t = 0.5 * g.slice_thickness_mm / g.spacing_mm[0];
    let renderer = Renderer {
        anat,
        g,
        fp: footprint(g),
        values,
        texture,
        half_t,
    };
    // Primitives meeting each slice's slab, to cull the tiles from.
    let slice_cands: Vec<Vec<u32>> = (0..ns)
        .into_par_iter()
        .map(|k| {
            let mut bb = Aabb::empty();
            for dk in [-half_t, half_t] {
                for i in [-0.5, nr as f64 - 0.5] {
                    for j in [-0.5, nc as f64 - 0.5] {
                        bb.include(g.index_to_lps([k as f64 + dk, i, j]));
                    }
                }
            }
            anat.candidates(&bb.grown(0.1))
        })
        .collect();
    let tiles: Vec<(usize, usize, usize)> = (0..ns)
        .flat_map(|k| {
            (0..nr.div_ceil(TILE))
                .flat_map(move |ti| (0..nc.div_ceil(TILE)).map(move |tj| (k, ti * TILE, tj * TILE)))
        })
        .collect();
    let rendered: Vec<Vec<f32>> = tiles
        .par_iter()
        .map(|&(k, r0, c0)| {
            let r1 = (r0 + TILE).min(nr);
            let c1 = (c0 + TILE).min(nc);
            let mut out = vec![0.0f32; (r1 - r0) * (c1 - c0)];
            renderer.block(
                k,
                [r0, r1],
                [c0, c1],
                &slice_cands[k],
                &mut out,
                c1 - c0,
                [r0, c0],
            );
            out
        })
        .collect();
    let mut vol = Array3::<f32>::zeros((ns, nr, nc));
    for (&(k, r0, c0), buf) in tiles.iter().zip(&rendered) {
        let c1 = (c0 + TILE).min(nc);
        let w = c1 - c0;
        for (n, v) in buf.iter().enumerate() {
            vol[[k, r0 + n / w, c0 + n % w]] = *v;
        }
    }
    vol
}

/// Smooth multiplicative receive-field: a low-order polynomial in the exponent, with
/// higher sensitivity posteriorly (spine coil under the patient's back).
#[derive(Debug, Clone, Serialize)]
pub struct BiasField {
    pub centre_mm: Vec3,
    /// Coefficients of x, y, z, x², z², y·z (coordinates in units of 150 mm).
    pub coefficients: [f64; 6],
}

impl BiasField {
    pub fn sample(centre_mm: Vec3, rng: &mut ChaCha8Rng) -> BiasField {
        BiasField {
            centre_mm,
            coefficients: [
                uni(rng, -0.08, 0.08),
                uni(rng, 0.15, 0.35),
                uni(rng, -0.12, 0.12),
                uni(rng, -0.1, 0.05),
                uni(rng, -0.15, 0.05),
                uni(rng, -0.08, 0.08),
            ],
        }
    }

    pub fn at(&self, p: Vec3) -> f64 {
        let x = (p[0] - self.centre_mm[0]) / 150.0;
        let y = (p[1] - self.centre_mm[1]) / 150.0;
        let z = (p[2] - self.centre_mm[2]) / 150.0;
        let c = self.coefficients;
        (c[0] * x + c[1] * y + c[2] * z + c[3] * x * x + c[4] * z * z + c[5] * y * z).exp()
    }
}

/// Seed of the noise stream of one image row, independent of thread scheduling.
fn row_seed(seed: u64, k: usize, i: usize) -> u64 {
    // SplitMix64 finaliser over the (seed, slice, row) triple.
    let mut z = seed ^ ((k as u64) << 32) ^ (i as u64) ^ 0x9E37_79B9_7F4A_7C15;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Applies bias (MR), noise (Rician for MR, Gaussian for CT), rounding and clamping
/// to the stored range, in place.
pub fn apply_noise(
    vol: &mut Array3<f32>,
    g: &Geometry,
    modality: Modality,
    bias: Option<&BiasField>,
    sigma: f64,
    seed: u64,
) {
    let normal = Normal::new(0.0, sigma.max(0.0))
        .unwrap_or_else(|_| Normal::new(0.0, 0.0).expect("zero sigma is valid"));
    let (_, nr, nc) = vol.dim();
    if nr == 0 || nc == 0 {
        return;
    }
    let Some(data) = vol.as_slice_mut() else {
        return;
    };
    data.par_chunks_mut(nc).enumerate().for_each(|(n, row)| {
        let (k, i) = (n / nr, n % nr);
        let mut rng = ChaCha8Rng::seed_from_u64(row_seed(seed, k, i));
        // The bias field is smooth: evaluate it every BIAS_STEP columns and interpolate.
        const BIAS_STEP: usize = 8;
        let knots: Vec<f64> = match bias {
            Some(b) => (0..=nc.div_ceil(BIAS_STEP))
                .map(|n| b.at(g.index_to_lps([k as f64, i as f64, (n * BIAS_STEP) as f64])))
                .collect(),
            None => Vec::new(),
        };
        for (j, v) in row.iter_mut().enumerate() {
            let s = if knots.is_empty() {
                *v as f64
            } else {
                let (n, t) = (j / BIAS_STEP, (j % BIAS_STEP) as f64 / BIAS_STEP as f64);
                *v as f64 * (knots[n] * (1.0 - t) + knots[n + 1] * t)
            };
            let out = match modality {
                Modality::MR => {
                    let (n1, n2) = if sigma > 0.0 {
                        (normal.sample(&mut rng), normal.sample(&mut rng))
                    } else {
                        (0.0, 0.0)
                    };
                    ((s + n1).powi(2) + n2 * n2)
                        .sqrt()
                        .round()
                        .clamp(0.0, 4095.0)
                }
                Modality::CT => {
                    let n = if sigma > 0.0 {
                        normal.sample(&mut rng)
                    } else {
                        0.0
                    };
                    (s + n).round().clamp(-1024.0, 3071.0)
                }
            };
            *v = out as f32;
        }
    });
}
