//! Generic image operations on `ndarray` images: one function per operation, named
//! after the textbook term, each with a known-answer test on a tiny literal image.
//!
//! Nothing here knows about spines, DICOM or patient geometry; [`crate::spine`] and
//! [`crate::report`] build on these. Where `imageproc` or `ndarray` already has the
//! operation with the same result it is called (binary morphology); where not, the
//! function says why it is written here.
//!
//! | operation | function |
//! |---|---|
//! | Gaussian smoothing (separable, per-axis sigma) | [`gaussian_kernel`], [`convolve_axis`], [`gaussian_blur`] |
//! | second derivatives and their eigen-decomposition | [`hessian`], [`eigen_sym2`] |
//! | edge-preserving smoothing | [`perona_malik`] |
//! | order statistics, noise level | [`percentile`], [`noise_sigma`] |
//! | bilinear / trilinear interpolation | [`bilinear`], [`trilinear`], [`trilinear_sum`] |
//! | image resizing (RGB) | [`resize`] |
//! | connected-component labelling (4-connected) | [`Labelling`], [`connected_components`] |
//! | binary morphology, hole filling, overlap | [`closing`], [`dilation`], [`erosion`], [`fill_holes`], [`overlap_coefficient`] |
//! | non-maximum suppression | [`local_maxima`] |

mod filter;
mod interpolate;
mod label;
mod mask;
mod peaks;
mod resize;
mod stats;

pub use filter::{
    convolve_axis, eigen_sym2, gaussian_blur, gaussian_kernel, hessian, perona_malik,
};
pub use interpolate::{Blend, Taps, bilinear, in_footprint, trilinear, trilinear_sum};
pub use label::{Component, ComponentStats, Labelling, connected_components};
pub use mask::{closing, dilation, erosion, fill_holes, overlap_coefficient};
pub use peaks::local_maxima;
pub use resize::resize;
pub use stats::{noise_sigma, percentile};
