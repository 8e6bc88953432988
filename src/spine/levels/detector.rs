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

/// The disc-centre network.
pub struct DiscNet {
    e1: [Conv2d; 2],
    e2: [Conv2d; 2],
    e3: [Conv2d; 2],
    e4: [Conv2d; 2],
    d3: Conv2d,
    d2: Conv2d,
    d1: Conv2d,
    head: Conv2d,
}

fn conv(
    i: usize,
    o: usize,
    k: usize,
    dilation: usize,
    vb: VarBuilder,
) -> candle_core::Result<Conv2d> {
    let cfg = Conv2dConfig {
        padding: dilation * (k / 2),
        dilation,
        ..Default::default()
    };
    conv2d(i, o, k, cfg, vb)
}

impl DiscNet {
    /// Channel widths of the three scales and the bottom.
    const WIDTHS: [usize; 4] = [8, 16, 32, 32];

    /// Builds the network on `vb` (fresh variables for training, or loaded weights).
    pub fn new(vb: VarBuilder) -> candle_core::Result<DiscNet> {
        let [a, b, c, d] = Self::WIDTHS;
        Ok(DiscNet {
            e1: [
                conv(1, a, 3, 1, vb.pp("e1a"))?,
                conv(a, a, 3, 1, vb.pp("e1b"))?,
            ],
            e2: [
                conv(a, b, 3, 1, vb.pp("e2a"))?,
                conv(b, b, 3, 1, vb.pp("e2b"))?,
            ],
            e3: [
                conv(b, c, 3, 1, vb.pp("e3a"))?,
                conv(c, c, 3, 1, vb.pp("e3b"))?,
            ],
            // Dilated at the coarsest scale: the context (bodies above and below, the
            // sacrum) spans 10-20 cm.
            e4: [
                conv(c, d, 3, 2, vb.pp("e4a"))?,
                conv(d, d, 3, 4, vb.pp("e4b"))?,
            ],
            d3: conv(d + c, c, 3, 1, vb.pp("d3"))?,
            d2: conv(c + b, b, 3, 1, vb.pp("d2"))?,
            d1: conv(b + a, a, 3, 1, vb.pp("d1"))?,
            head: conv(a, 1, 1, 1, vb.pp("head"))?,
        })
    }

    /// The embedded trained network.
    pub fn embedded() -> candle_core::Result<DiscNet> {
        let vb = VarBuilder::from_buffered_safetensors(WEIGHTS.to_vec(), DType::F32, &Device::Cpu)?;
        DiscNet::new(vb)
    }

    /// Logits (N×1×H×W) for a batch of inputs (N×1×H×W, H and W multiples of 8).
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let two = |c: &[Conv2d; 2], x: &Tensor| -> candle_core::Result<Tensor> {
            c[1].forward(&c[0].forward(x)?.relu()?)?.relu()
        };
        let up_cat = |x: &Tensor, skip: &Tensor| -> candle_core::Result<Tensor> {
            let (_, _, h, w) = skip.dims4()?;
            Tensor::cat(&[&x.upsample_nearest2d(h, w)?, skip], 1)
        };
        let s1 = two(&self.e1, x)?;
        let s2 = two(&self.e2, &s1.max_pool2d(2)?)?;
        let s3 = two(&self.e3, &s2.max_pool2d(2)?)?;
        let s4 = two(&self.e4, &s3.max_pool2d(2)?)?;
        let u3 = self.d3.forward(&up_cat(&s4, &s3)?)?.relu()?;
        let u2 = self.d2.forward(&up_cat(&u3, &s2)?)?.relu()?;
        let u1 = self.d1.forward(&up_cat(&u2, &s1)?)?.relu()?;
        self.head.forward(&u1)
    }

    /// Disc-centre probabilities (0-1) for one input plane (values from [`net_input`]),
    /// same size as the input.
    pub fn probabilities(&self, input: &Array2<f32>) -> candle_core::Result<Array2<f32>> {
        let (h, w) = input.dim();
        let (hp, wp) = (h.div_ceil(STRIDE) * STRIDE, w.div_ceil(STRIDE) * STRIDE);
        let mut padded = vec![0f32; hp * wp];
        for ((r, c), v) in input.indexed_iter() {
            padded[r * wp + c] = *v;
        }
        let x = Tensor::from_vec(padded, (1, 1, hp, wp), &Device::Cpu)?;
        let p = candle_nn::ops::sigmoid(&self.forward(&x)?)?;
        let p = p.flatten_all()?.to_vec1::<f32>()?;
        Ok(Array2::from_shape_fn((h, w), |(r, c)| p[r * wp + c]))
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
    fn the_embedded_network_loads_and_keeps_the_size() {
        let net = DiscNet::embedded().unwrap();
        let input = Array2::from_elem((37, 45), 1.0f32);
        let p = net.probabilities(&input).unwrap();
        assert_eq!(p.dim(), (37, 45));
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
    }
}
