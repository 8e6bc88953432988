//! Image resizing.

use image::RgbImage;

use super::interpolate::Blend;

/// Resizes an RGB image to `w × h`, nearest-neighbour (pixel replication, for masks
/// and outlines) or bilinear. Output pixel centre `k` maps to source coordinate
/// `(k + 0.5)·n0/n - 0.5`, clamped to the outermost source centres; nearest takes the
/// source pixel `floor((k + 0.5)·n0/n)`; bilinear values are rounded to nearest.
/// Written here because `image::imageops::resize` recomputes its filter weights per
/// pixel and was a fifth of a measurement run's time; the source coordinates are
/// computed once per row and column here.
pub fn resize(img: &RgbImage, w: u32, h: u32, bilinear: bool) -> RgbImage {
    let (w0, h0) = (img.width().max(1), img.height().max(1));
    if img.width() == 0 || img.height() == 0 || w == 0 || h == 0 {
        return RgbImage::new(w, h);
    }
    // Source coordinate of each output pixel centre.
    let coords = |n: u32, n0: u32| -> Vec<(u32, u32, f32)> {
        (0..n)
            .map(|k| {
                let f = ((k as f32 + 0.5) * n0 as f32 / n as f32 - 0.5).clamp(0.0, (n0 - 1) as f32);
                if bilinear {
                    let a = f.floor() as u32;
                    (a, (a + 1).min(n0 - 1), f - a as f32)
                } else {
                    let a = (((k as f32 + 0.5) * n0 as f32 / n as f32) as u32).min(n0 - 1);
                    (a, a, 0.0)
                }
            })
            .collect()
    };
    let (xs, ys) = (coords(w, w0), coords(h, h0));
    let src = img.as_raw();
    let stride = 3 * w0 as usize;
    let mut out = vec![0u8; 3 * w as usize * h as usize];
    let mix = |a: u8, b: u8, t: f32| Blend::Weighted.mix(a as f32, b as f32, t);
    for (y, &(ya, yb, fy)) in ys.iter().enumerate() {
        let row = &mut out[3 * w as usize * y..3 * w as usize * (y + 1)];
        let (ra, rb) = (ya as usize * stride, yb as usize * stride);
        for (x, &(xa, xb, fx)) in xs.iter().enumerate() {
            let (xa, xb) = (3 * xa as usize, 3 * xb as usize);
            for c in 0..3 {
                row[3 * x + c] = if bilinear {
                    let top = mix(src[ra + xa + c], src[ra + xb + c], fx);
                    let bot = mix(src[rb + xa + c], src[rb + xb + c], fx);
                    (Blend::Weighted.mix(top, bot, fy) + 0.5) as u8
                } else {
                    src[ra + xa + c]
                };
            }
        }
    }
    RgbImage::from_raw(w, h, out).unwrap_or_else(|| RgbImage::new(w, h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn nearest_replicates_and_bilinear_interpolates() {
        let mut img = RgbImage::new(2, 1);
        img.put_pixel(0, 0, Rgb([0, 0, 0]));
        img.put_pixel(1, 0, Rgb([200, 100, 50]));
        let n = resize(&img, 4, 2, false);
        assert_eq!(n.get_pixel(1, 1), &Rgb([0, 0, 0]));
        assert_eq!(n.get_pixel(2, 0), &Rgb([200, 100, 50]));
        let b = resize(&img, 4, 1, true);
        // Output centres at source x = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (to 1).
        assert_eq!(b.get_pixel(0, 0), &Rgb([0, 0, 0]));
        assert_eq!(b.get_pixel(1, 0), &Rgb([50, 25, 13]));
        assert_eq!(b.get_pixel(2, 0), &Rgb([150, 75, 38]));
        assert_eq!(b.get_pixel(3, 0), &Rgb([200, 100, 50]));
        assert_eq!(
            resize(&RgbImage::new(0, 0), 3, 3, true).dimensions(),
            (3, 3)
        );
    }
}
