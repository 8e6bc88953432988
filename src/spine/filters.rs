//! The image operations the spine analysis was written with, now in
//! [`crate::imageops`]; re-exported here so `spine::filters::...` paths keep working.

pub use crate::imageops::{
    convolve_axis, eigen_sym2, gaussian_blur, gaussian_kernel, hessian, percentile,
};
