//! Quick-look PNG images with the research-use banner burnt in.

use std::path::Path;

use ab_glyph::{FontRef, PxScale};
use image::{Rgb, RgbImage, imageops};
use imageproc::drawing::{
    draw_filled_rect_mut, draw_hollow_circle_mut, draw_line_segment_mut, draw_text_mut, text_size,
};
use imageproc::rect::Rect;
use ndarray::Array2;

use crate::spine::filters::percentile;
use crate::spine::levels::SpineModel;

/// The banner on every image.
pub const BANNER: &str = "Research use - requires clinical correlation";

static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

fn font() -> FontRef<'static> {
    FontRef::try_from_slice(FONT_BYTES).expect("the bundled font is valid")
}

/// Grey-scale to RGB with a window from robust percentiles of the finite values.
fn to_rgb(img: &Array2<f32>) -> RgbImage {
    let vals: Vec<f32> = img
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v != 0.0)
        .collect();
    let lo = percentile(&vals, 1.0).unwrap_or(0.0);
    let hi = percentile(&vals, 99.5).unwrap_or(1.0).max(lo + 1e-6);
    let (h, w) = img.dim();
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let v = img[[y as usize, x as usize]];
        let g = if v.is_finite() {
            ((v - lo) / (hi - lo) * 255.0).clamp(0.0, 255.0) as u8
        } else {
            0
        };
        Rgb([g, g, g])
    })
}

fn confidence_colour(c: f64) -> Rgb<u8> {
    if c >= 0.7 {
        Rgb([60, 220, 90])
    } else if c >= 0.4 {
        Rgb([245, 200, 40])
    } else {
        Rgb([240, 70, 60])
    }
}

/// Adds the banner above and a caption below an image.
pub fn frame(img: &RgbImage, caption: &str) -> RgbImage {
    let f = font();
    let scale = PxScale::from((img.width() as f32 / 28.0).clamp(13.0, 22.0));
    let band = (scale.y * 1.6) as u32;
    let mut out = RgbImage::from_pixel(img.width(), img.height() + 2 * band, Rgb([0, 0, 0]));
    imageops::replace(&mut out, img, 0, band as i64);
    draw_filled_rect_mut(
        &mut out,
        Rect::at(0, 0).of_size(img.width(), band),
        Rgb([150, 20, 20]),
    );
    let (tw, _) = text_size(scale, &f, BANNER);
    draw_text_mut(
        &mut out,
        Rgb([255, 255, 255]),
        ((img.width() as i32 - tw as i32) / 2).max(2),
        (band as f32 * 0.18) as i32,
        scale,
        &f,
        BANNER,
    );
    draw_text_mut(
        &mut out,
        Rgb([220, 220, 220]),
        4,
        (img.height() + band) as i32 + (band as f32 * 0.18) as i32,
        scale,
        &f,
        caption,
    );
    out
}

/// The midsagittal plane with each disc marked, its level name and confidence.
pub fn midsagittal_image(model: &SpineModel, caption: &str) -> RgbImage {
    let loc = &model.localization;
    let k = loc.midsagittal_plane.min(model.planes.len() - 1);
    let base = to_rgb(&model.planes[k]);
    // Enlarge so that text is legible: aim for ~700 px tall.
    let zoom = (700.0 / base.height() as f64).clamp(1.0, 4.0);
    let (w, h) = (
        (base.width() as f64 * zoom) as u32,
        (base.height() as f64 * zoom) as u32,
    );
    let mut img = imageops::resize(&base, w, h, imageops::FilterType::Triangle);
    let f = font();
    let scale = PxScale::from(16.0);
    let px = model.stack.pixel_mm;
    for d in &loc.discs {
        let [_, r, c] = d.canonical;
        let (x, y) = ((c * zoom) as f32, (r * zoom) as f32);
        let colour = confidence_colour(d.confidence);
        // The disc plane: perpendicular to the spine axis, ±20 mm.
        let n = [
            d.axis[0] * model.stack.down[0]
                + d.axis[1] * model.stack.down[1]
                + d.axis[2] * model.stack.down[2],
            d.axis[0] * model.stack.back[0]
                + d.axis[1] * model.stack.back[1]
                + d.axis[2] * model.stack.back[2],
        ];
        let half = (20.0 / px * zoom) as f32;
        let (tr, tc) = (-n[1] as f32, n[0] as f32);
        draw_line_segment_mut(
            &mut img,
            (x - tc * half, y - tr * half),
            (x + tc * half, y + tr * half),
            colour,
        );
        draw_hollow_circle_mut(&mut img, (x as i32, y as i32), 4, colour);
        let label = format!("{} ({:.2})", d.level, d.confidence);
        draw_text_mut(
            &mut img,
            colour,
            (x + half + 6.0) as i32,
            (y - 8.0) as i32,
            scale,
            &f,
            &label,
        );
    }
    frame(&img, caption)
}

/// Writes an image as PNG atomically.
pub fn write_png(img: &RgbImage, path: &Path) -> std::io::Result<()> {
    crate::atomic_file::write_atomic(path, |w| {
        let mut buf = std::io::Cursor::new(Vec::new());
        img.write_to(&mut buf, image::ImageFormat::Png)
            .map_err(std::io::Error::other)?;
        w.write_all(buf.get_ref())
    })
}

/// The minimum-area plane of every foramen, right side on the top row and left below,
/// levels L1-L2 to L5-S1 left to right: the foramen outline in red, the root in green,
/// the level, side, area and grade under each tile.
pub fn foramina_image(results: &[crate::spine::foramen::ForamenResult], caption: &str) -> RgbImage {
    use crate::spine::foramen::Side;
    use crate::spine::levels::LUMBAR_LEVELS;
    const TILE: u32 = 200;
    const LABEL: u32 = 36;
    let f = font();
    let scale = PxScale::from(14.0);
    let mut out = RgbImage::from_pixel(
        TILE * LUMBAR_LEVELS.len() as u32,
        2 * (TILE + LABEL),
        Rgb([0, 0, 0]),
    );
    for (row, side) in [Side::Right, Side::Left].into_iter().enumerate() {
        for (col, level) in LUMBAR_LEVELS.iter().enumerate() {
            let (x0, y0) = (col as u32 * TILE, row as u32 * (TILE + LABEL));
            let r = results.iter().find(|r| r.level == *level && r.side == side);
            let text2;
            let text1 = format!("{level} {}", side.as_str());
            if let Some((res, s)) = r.and_then(|r| r.min_slice.map(|i| (r, &r.slices[i]))) {
                let mut tile = to_rgb(&s.image);
                let (h, w) = s.seg.mask.dim();
                for i in 0..h {
                    for j in 0..w {
                        let m = s.seg.mask[[i, j]];
                        let edge = m
                            && [(0i64, 1i64), (0, -1), (1, 0), (-1, 0)]
                                .iter()
                                .any(|(di, dj)| {
                                    let (ni, nj) = (i as i64 + di, j as i64 + dj);
                                    ni < 0
                                        || nj < 0
                                        || ni >= h as i64
                                        || nj >= w as i64
                                        || !s.seg.mask[[ni as usize, nj as usize]]
                                });
                        if edge {
                            tile.put_pixel(j as u32, i as u32, Rgb([255, 40, 40]));
                        } else if s.seg.root[[i, j]] && (i + j) % 2 == 0 {
                            tile.put_pixel(j as u32, i as u32, Rgb([60, 220, 90]));
                        }
                    }
                }
                let zoom = (TILE as f64 / tile.width().max(tile.height()) as f64).min(4.0);
                let tile = imageops::resize(
                    &tile,
                    (tile.width() as f64 * zoom) as u32,
                    (tile.height() as f64 * zoom) as u32,
                    imageops::FilterType::Nearest,
                );
                imageops::replace(&mut out, &tile, x0 as i64, y0 as i64);
                text2 = format!(
                    "{:.0} mm2, {} ({:.2})",
                    res.min_area_mm2.unwrap_or(f64::NAN),
                    res.grading.grade.as_str(),
                    res.confidence
                );
            } else {
                text2 = "not measured".to_string();
            }
            for (k, text) in [text1, text2].iter().enumerate() {
                draw_text_mut(
                    &mut out,
                    Rgb([230, 230, 230]),
                    x0 as i32 + 4,
                    (y0 + TILE) as i32 + 2 + 16 * k as i32,
                    scale,
                    &f,
                    text,
                );
            }
        }
    }
    frame(&out, caption)
}

/// One overlay per measured foramen on its minimum-area plane, named `{level}_{side}`.
pub fn foramen_overlays(
    _results: &[crate::spine::foramen::ForamenResult],
    _caption: &str,
) -> Vec<(String, RgbImage)> {
    Vec::new()
}
