//! A small learned disc-centre detector: a convolutional network run on the sagittal
//! planes near the midline, giving a map of where intervertebral disc centres are.
//!
//! Why a learned step: band filters respond to every bright or dark band of the right
//! thickness (posterior elements, the canal's edges, bowel, sacral segments), and the
//! rules that told discs from the rest were tuned to the look of our own data. The
//! network learns what a disc is from its context (the column of bodies above and
//! below, the canal behind, the sacrum under L5-S1) on data we may redistribute: the
//! SPIDER T2 slices (CC BY 4.0, van der Graaf et al. 2024) and our own phantom with
//! randomised contrast, noise, bias field and slab thickness. It is trained by
//! `examples/train_discnet.rs`; the weights are embedded (`discnet.safetensors`).
//! Level naming stays in the anatomical rules of the rest of this module.
//!
//! The network is fully convolutional (a three-scale U-Net with dilated context at the
//! bottom), input one normalised plane resampled to [`NET_PIXEL_MM`], output one logit
//! per pixel: high within ~4 mm of a disc centre.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, VarBuilder, conv2d};
use ndarray::Array2;

use crate::imageops::{Blend, bilinear};

/// Pixel size of the network's input and output (mm).
pub const NET_PIXEL_MM: f64 = 2.5;
/// Input and output sizes are multiples of this (three poolings).
const STRIDE: usize = 8;

/// The trained weights (see `examples/train_discnet.rs`).
static WEIGHTS: &[u8] = include_bytes!("discnet.safetensors");

/// One convolution of the network: weight-file name, input and output channels, kernel
/// size, dilation.
struct Layer(&'static str, usize, usize, usize, usize);

/// Channel widths of the three scales and the bottom.
const WIDTHS: [usize; 4] = [8, 16, 32, 32];

/// The convolutions in the order both forward passes index them: two per encoder
/// scale (`e1`-`e4`), one per decoder scale after upsampling and concatenation with the
/// skip (`d3`-`d1`), and the 1×1 head.
const LAYERS: [Layer; 12] = {
    let [a, b, c, d] = WIDTHS;
    [
        Layer("e1a", 1, a, 3, 1),
        Layer("e1b", a, a, 3, 1),
        Layer("e2a", a, b, 3, 1),
        Layer("e2b", b, b, 3, 1),
        Layer("e3a", b, c, 3, 1),
        Layer("e3b", c, c, 3, 1),
        // Dilated at the coarsest scale: the context (bodies above and below, the
        // sacrum) spans 10-20 cm.
        Layer("e4a", c, d, 3, 2),
        Layer("e4b", d, d, 3, 4),
        Layer("d3", d + c, c, 3, 1),
        Layer("d2", c + b, b, 3, 1),
        Layer("d1", b + a, a, 3, 1),
        Layer("head", a, 1, 1, 1),
    ]
};

/// The disc-centre network (candle: training, and the reference of [`DiscMap`]).
pub struct DiscNet {
    convs: Vec<Conv2d>,
}

impl DiscNet {
    /// Builds the network on `vb` (fresh variables for training, or loaded weights).
    pub fn new(vb: VarBuilder) -> candle_core::Result<DiscNet> {
        let convs = LAYERS
            .iter()
            .map(|&Layer(name, i, o, k, dilation)| {
                let cfg = Conv2dConfig {
                    padding: dilation * (k / 2),
                    dilation,
                    ..Default::default()
                };
                conv2d(i, o, k, cfg, vb.pp(name))
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(DiscNet { convs })
    }

    /// The embedded trained network.
    pub fn embedded() -> candle_core::Result<DiscNet> {
        let vb = VarBuilder::from_buffered_safetensors(WEIGHTS.to_vec(), DType::F32, &Device::Cpu)?;
        DiscNet::new(vb)
    }

    /// Logits (N×1×H×W) for a batch of inputs (N×1×H×W, H and W multiples of 8).
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let c = &self.convs;
        let two = |i: usize, x: &Tensor| -> candle_core::Result<Tensor> {
            c[i + 1].forward(&c[i].forward(x)?.relu()?)?.relu()
        };
        let up_cat = |x: &Tensor, skip: &Tensor| -> candle_core::Result<Tensor> {
            let (_, _, h, w) = skip.dims4()?;
            Tensor::cat(&[&x.upsample_nearest2d(h, w)?, skip], 1)
        };
        let s1 = two(0, x)?;
        let s2 = two(2, &s1.max_pool2d(2)?)?;
        let s3 = two(4, &s2.max_pool2d(2)?)?;
        let s4 = two(6, &s3.max_pool2d(2)?)?;
        let u3 = c[8].forward(&up_cat(&s4, &s3)?)?.relu()?;
        let u2 = c[9].forward(&up_cat(&u3, &s2)?)?.relu()?;
        let u1 = c[10].forward(&up_cat(&u2, &s1)?)?.relu()?;
        c[11].forward(&u1)
    }

    /// Disc-centre probabilities (0-1) for one input plane by candle's forward pass (the
    /// training path; results depend on the CPU, see [`DiscMap`]).
    pub fn probabilities(&self, input: &Array2<f32>) -> candle_core::Result<Array2<f32>> {
        let (h, w) = input.dim();
        let (hp, wp) = padded_size(h, w);
        let x = Tensor::from_vec(pad(input, hp, wp), (1, 1, hp, wp), &Device::Cpu)?;
        let p = candle_nn::ops::sigmoid(&self.forward(&x)?)?;
        let p = p.flatten_all()?.to_vec1::<f32>()?;
        Ok(Array2::from_shape_fn((h, w), |(r, c)| p[r * wp + c]))
    }
}

/// Input size rounded up to the network's stride.
fn padded_size(h: usize, w: usize) -> (usize, usize) {
    (h.div_ceil(STRIDE) * STRIDE, w.div_ceil(STRIDE) * STRIDE)
}

/// `input` zero-padded at the bottom and right to `hp` rows of `wp`, row-major.
fn pad(input: &Array2<f32>, hp: usize, wp: usize) -> Vec<f32> {
    let mut padded = vec![0f32; hp * wp];
    for ((r, c), v) in input.indexed_iter() {
        padded[r * wp + c] = *v;
    }
    padded
}

/// One convolution's weights, `[out][in][k][k]`, and biases.
struct ConvW {
    cin: usize,
    cout: usize,
    k: usize,
    dilation: usize,
    w: Vec<f32>,
    b: Vec<f32>,
}

/// Feature maps `[channel][row][column]`.
struct Maps {
    c: usize,
    h: usize,
    w: usize,
    v: Vec<f32>,
}

impl ConvW {
    /// "Same" convolution (zero padding `dilation * (k / 2)`), then ReLU if asked.
    /// Each output is summed in one fixed order (input channel, kernel row, kernel
    /// column, bias first), so the result does not depend on the CPU or thread count.
    fn apply(&self, x: &Maps, relu: bool) -> Maps {
        use rayon::prelude::*;
        let (h, w, k, d) = (x.h, x.w, self.k, self.dilation as isize);
        let half = (k / 2) as isize;
        let mut out = vec![0f32; self.cout * h * w];
        out.par_chunks_mut(h * w)
            .enumerate()
            .for_each(|(o, plane)| {
                plane.fill(self.b[o]);
                for i in 0..self.cin {
                    let src = &x.v[i * h * w..(i + 1) * h * w];
                    for ky in 0..k {
                        let dy = (ky as isize - half) * d;
                        for kx in 0..k {
                            let dx = (kx as isize - half) * d;
                            let wt = self.w[((o * self.cin + i) * k + ky) * k + kx];
                            // Output columns whose tap lies inside the image.
                            let x0 = (-dx).max(0) as usize;
                            let x1 = (w as isize - dx).clamp(0, w as isize) as usize;
                            if x0 >= x1 {
                                continue;
                            }
                            for y in 0..h {
                                let sy = y as isize + dy;
                                if sy < 0 || sy >= h as isize {
                                    continue;
                                }
                                let srow = &src[sy as usize * w..(sy as usize + 1) * w];
                                let drow = &mut plane[y * w + x0..y * w + x1];
                                let s0 = (x0 as isize + dx) as usize;
                                for (a, &b) in drow.iter_mut().zip(&srow[s0..s0 + (x1 - x0)]) {
                                    *a += wt * b;
                                }
                            }
                        }
                    }
                }
                if relu {
                    plane.iter_mut().for_each(|v| *v = v.max(0.0));
                }
            });
        Maps {
            c: self.cout,
            h,
            w,
            v: out,
        }
    }
}

impl Maps {
    /// 2×2 max pooling (sizes are even: multiples of [`STRIDE`] above the bottom).
    fn pool(&self) -> Maps {
        let (h, w) = (self.h / 2, self.w / 2);
        let mut v = vec![0f32; self.c * h * w];
        for c in 0..self.c {
            let src = &self.v[c * self.h * self.w..];
            for y in 0..h {
                for x in 0..w {
                    let at = |yy: usize, xx: usize| src[yy * self.w + xx];
                    v[(c * h + y) * w + x] = at(2 * y, 2 * x)
                        .max(at(2 * y, 2 * x + 1))
                        .max(at(2 * y + 1, 2 * x))
                        .max(at(2 * y + 1, 2 * x + 1));
                }
            }
        }
        Maps { c: self.c, h, w, v }
    }

    /// Nearest-neighbour upsampling to the skip's size, then the skip's channels after
    /// this one's (as `Tensor::cat(&[up, skip], 1)`).
    fn up_cat(&self, skip: &Maps) -> Maps {
        let (h, w) = (skip.h, skip.w);
        let mut v = Vec::with_capacity((self.c + skip.c) * h * w);
        for c in 0..self.c {
            let src = &self.v[c * self.h * self.w..];
            for y in 0..h {
                let sy = y * self.h / h;
                v.extend((0..w).map(|x| src[sy * self.w + x * self.w / w]));
            }
        }
        v.extend_from_slice(&skip.v);
        Maps {
            c: self.c + skip.c,
            h,
            w,
            v,
        }
    }
}

/// The disc detector for inference: the embedded weights run by plain loops.
///
/// Why not candle's forward pass: its convolutions go through `gemm`, whose blocking
/// follows the CPU's cache sizes, so the sums (and every disc position and foramen
/// outline downstream) differed in the last bits from one machine to another. Here
/// each output is summed in a fixed order, so a series gives the same report on any
/// x86-64 or ARM machine and thread count.
pub struct DiscMap {
    convs: Vec<ConvW>,
}

impl DiscMap {
    /// The embedded trained network ([`LAYERS`]).
    pub fn embedded() -> candle_core::Result<DiscMap> {
        let t = candle_core::safetensors::load_buffer(WEIGHTS, &Device::Cpu)?;
        let get = |name: &str, what: &str, len: usize| -> candle_core::Result<Vec<f32>> {
            let x = t
                .get(&format!("{name}.{what}"))
                .ok_or_else(|| candle_core::Error::Msg(format!("discnet: no {name}.{what}")))?;
            let v = x.flatten_all()?.to_vec1::<f32>()?;
            if v.len() != len {
                return Err(candle_core::Error::Msg(format!(
                    "discnet: {name}.{what} has {} values, not {len}",
                    v.len()
                )));
            }
            Ok(v)
        };
        let convs = LAYERS
            .iter()
            .map(|&Layer(name, cin, cout, k, dilation)| {
                Ok(ConvW {
                    cin,
                    cout,
                    k,
                    dilation,
                    w: get(name, "weight", cout * cin * k * k)?,
                    b: get(name, "bias", cout)?,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(DiscMap { convs })
    }

    /// Disc-centre probabilities (0-1) for one input plane (values from [`net_input`]),
    /// same size as the input.
    pub fn probabilities(&self, input: &Array2<f32>) -> Array2<f32> {
        let (h, w) = input.dim();
        let (hp, wp) = padded_size(h, w);
        let x = Maps {
            c: 1,
            h: hp,
            w: wp,
            v: pad(input, hp, wp),
        };
        let cv = &self.convs;
        let two = |i: usize, x: &Maps| cv[i + 1].apply(&cv[i].apply(x, true), true);
        let s1 = two(0, &x);
        let s2 = two(2, &s1.pool());
        let s3 = two(4, &s2.pool());
        let s4 = two(6, &s3.pool());
        let u3 = cv[8].apply(&s4.up_cat(&s3), true);
        let u2 = cv[9].apply(&u3.up_cat(&s2), true);
        let u1 = cv[10].apply(&u2.up_cat(&s1), true);
        let logit = cv[11].apply(&u1, false);
        // The logistic in f64 and rounded once: libm's single-precision exp may differ
        // in the last bit between CPU-specific variants.
        Array2::from_shape_fn((h, w), |(r, c)| {
            let z = f64::from(logit.v[r * wp + c]);
            (1.0 / (1.0 + (-z).exp())) as f32
        })
    }
}

/// The network's input from a normalised localisation plane (values as
/// `spine::discs::normalised_planes` gives them, pixel `pixel_mm`): resampled to
/// [`NET_PIXEL_MM`] and mapped to a common range (MR tissue ~1, CT shifted so soft
/// tissue is ~1 too).
pub fn net_input(plane: &Array2<f32>, pixel_mm: f64, is_ct: bool) -> Array2<f32> {
    let r = resample(plane, pixel_mm, NET_PIXEL_MM);
    r.mapv(|v| {
        let v = if is_ct { v + 1.0 } else { v };
        if v.is_finite() {
            v.clamp(0.0, 4.0)
        } else {
            0.0
        }
    })
}

/// Bilinear resampling of an image from `from_mm` pixels to `to_mm` pixels (same field
/// of view, pixel centres aligned at the first pixel).
pub fn resample(img: &Array2<f32>, from_mm: f64, to_mm: f64) -> Array2<f32> {
    let (h, w) = img.dim();
    let f = to_mm / from_mm;
    let (ho, wo) = (
        ((h as f64) / f).floor().max(1.0) as usize,
        ((w as f64) / f).floor().max(1.0) as usize,
    );
    // Averaging before decimation would be kinder to aliasing; discs are 3-6 net pixels
    // thick, so bilinear taps are enough here.
    Array2::from_shape_fn((ho, wo), |(r, c)| {
        bilinear(img.view(), r as f64 * f, c as f64 * f, Blend::Lerp).unwrap_or(0.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resample_halves_a_ramp() {
        // A ramp of 1 per pixel at 1 mm becomes 2 per pixel at 2 mm.
        let img = Array2::from_shape_fn((10, 10), |(r, c)| (r + 10 * c) as f32);
        let out = resample(&img, 1.0, 2.0);
        assert_eq!(out.dim(), (5, 5));
        assert_eq!(out[[2, 3]], (4 + 60) as f32);
    }

    #[test]
    fn the_plain_forward_pass_matches_candles() {
        // candle's forward pass is the independent reference (the one training uses).
        let net = DiscNet::embedded().unwrap();
        let map = DiscMap::embedded().unwrap();
        // A structured input (bands like discs, a gradient, odd size to exercise the
        // padding), so the logits span a wide range.
        let input = Array2::from_shape_fn((61, 43), |(r, c)| {
            let band = if (r / 5) % 3 == 0 { 1.6 } else { 0.7 };
            band + 0.01 * c as f32 + 0.3 * ((r * 7 + c * 3) % 11) as f32 / 11.0
        });
        let want = net.probabilities(&input).unwrap();
        let got = map.probabilities(&input);
        assert_eq!(got.dim(), want.dim());
        let worst = got
            .iter()
            .zip(want.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "largest difference {worst}");
        let spread =
            want.iter().fold(0.0f32, |m, v| m.max(*v)) - want.iter().fold(1.0f32, |m, v| m.min(*v));
        assert!(
            spread > 0.05,
            "the input hardly moves the network: {spread}"
        );
    }

    #[test]
    fn the_embedded_network_loads_and_keeps_the_size() {
        let net = DiscNet::embedded().unwrap();
        let input = Array2::from_elem((37, 45), 1.0f32);
        let p = net.probabilities(&input).unwrap();
        assert_eq!(p.dim(), (37, 45));
        let p = DiscMap::embedded().unwrap().probabilities(&input);
        assert_eq!(p.dim(), (37, 45));
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}
