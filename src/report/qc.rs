//! Quick-look PNG images with the research-use banner burnt in.

use std::path::Path;

use ab_glyph::{FontRef, PxScale};
use image::{Rgb, RgbImage, imageops};
use imageproc::drawing::{
    draw_filled_rect_mut, draw_hollow_circle_mut, draw_line_segment_mut, draw_text_mut, text_size,
};
use imageproc::rect::Rect;
use ndarray::Array2;

use super::LevelEntry;
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

/// Copies `src` into `dst` at (x, y), clipped, a row at a time (`imageops::replace`
/// goes pixel by pixel through generic accessors).
fn paste(dst: &mut RgbImage, src: &RgbImage, x: u32, y: u32) {
    if x >= dst.width() || y >= dst.height() {
        return;
    }
    let w = src.width().min(dst.width() - x) as usize;
    let rows = src.height().min(dst.height() - y) as usize;
    let (ds, ss) = (3 * dst.width() as usize, 3 * src.width() as usize);
    let (d, s) = (&mut **dst, &**src);
    for r in 0..rows {
        let at = (y as usize + r) * ds + 3 * x as usize;
        d[at..at + 3 * w].copy_from_slice(&s[r * ss..r * ss + 3 * w]);
    }
}

/// Adds the banner above and a caption below an image.
pub fn frame(img: &RgbImage, caption: &str) -> RgbImage {
    let f = font();
    let scale = PxScale::from((img.width() as f32 / 28.0).clamp(13.0, 22.0));
    let band = (scale.y * 1.6) as u32;
    let mut out = RgbImage::from_pixel(img.width(), img.height() + 2 * band, Rgb([0, 0, 0]));
    paste(&mut out, img, 0, band);
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
    let mut img = rescale(&base, w, h, true);
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
    use image::ImageEncoder as _;
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    // Quick-look images are regenerated by a re-run: no fsync.
    crate::atomic_file::write_atomic_unsynced(path, |w| {
        // Fast deflate: several times quicker than the default for ~10% larger files,
        // which keeps image output a small share of a measurement run.
        PngEncoder::new_with_quality(w, CompressionType::Fast, FilterType::Adaptive)
            .write_image(
                img.as_raw(),
                img.width(),
                img.height(),
                image::ExtendedColorType::Rgb8,
            )
            .map_err(std::io::Error::other)
    })
}

/// Nearest or bilinear resizing, kept at its old path for callers.
pub use crate::imageops::resize as rescale;

/// The resampled plane with the foramen outline in red and the root in green
/// (checkered, so the image stays visible under it).
fn outlined(s: &crate::spine::foramen::SliceResult) -> RgbImage {
    let mut tile = to_rgb(&s.image);
    let (h, w) = s.seg.mask.dim();
    // The mask and image come from the same grid; guard anyway rather than panic.
    if (tile.height() as usize, tile.width() as usize) != (h, w) || s.seg.root.dim() != (h, w) {
        return tile;
    }
    for i in 0..h {
        for j in 0..w {
            let edge = s.seg.mask[[i, j]]
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
                tile.put_pixel(j as u32, i as u32, OUTLINE);
            } else if s.seg.root[[i, j]] && (i + j) % 2 == 0 {
                tile.put_pixel(j as u32, i as u32, ROOT);
            }
        }
    }
    tile
}

/// Colours of the foramen outline, the root and the measured height and width.
const OUTLINE: Rgb<u8> = Rgb([255, 40, 40]);
const ROOT: Rgb<u8> = Rgb([60, 220, 90]);
const HEIGHT: Rgb<u8> = Rgb([255, 220, 0]);
const WIDTH: Rgb<u8> = Rgb([0, 200, 255]);

/// The minimum-area plane of every foramen, right side on the top row and left below,
/// levels L1-L2 to L5-S1 left to right: the foramen outline in red, the root in green,
/// the level, side, area and grade under each tile.
pub fn foramina_image(
    results: &[crate::spine::foramen::ForamenResult],
    levels: &[LevelEntry],
    caption: &str,
) -> RgbImage {
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
                let tile = outlined(s);
                let zoom = (TILE as f64 / tile.width().max(tile.height()) as f64).min(4.0);
                let tile = rescale(
                    &tile,
                    (tile.width() as f64 * zoom) as u32,
                    (tile.height() as f64 * zoom) as u32,
                    false,
                );
                paste(&mut out, &tile, x0, y0);
                text2 = format!(
                    "{:.0} mm2, {} ({:.2})",
                    res.min_area_mm2.unwrap_or(f64::NAN),
                    grade_of(levels, res).0,
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

/// Side of the enlarged plane in an overlay (px).
const OVERLAY_PX: f64 = 360.0;

/// One overlay per measured foramen on its minimum-area plane, named `{level}_{side}`:
/// outline and root as in the montage, the measured height (yellow) and width (cyan)
/// with their values, and the level, side, area, grade and confidence below.
pub fn foramen_overlays(
    results: &[crate::spine::foramen::ForamenResult],
    levels: &[LevelEntry],
    caption: &str,
) -> Vec<(String, RgbImage)> {
    use rayon::prelude::*;
    // Collected in input order whatever the thread count.
    results
        .par_iter()
        .filter_map(|r| {
            let s = r.slices.get(r.min_slice?)?;
            if s.image.is_empty() {
                return None;
            }
            Some((
                format!("{}_{}", r.level, r.side.as_str()),
                frame(&overlay(r, s, grade_of(levels, r)), caption),
            ))
        })
        .collect()
}

/// The caption burnt into every QC image of a series.
pub fn caption(entry: &super::SeriesEntry, midline_x_mm: f64) -> String {
    format!(
        "{} #{} {} | midline x {:.1} mm",
        entry.modality,
        entry.series_number.map_or("-".into(), |n| n.to_string()),
        entry.series_description,
        midline_x_mm
    )
}

/// Every QC image of a series, named: `midsagittal`, `foramina` (the montage) and one
/// `{level}_{side}` overlay per measured foramen.
pub fn series_images(
    analysis: &crate::spine::Analysis,
    entry: &super::SeriesEntry,
) -> Vec<(String, RgbImage)> {
    let caption = caption(entry, analysis.model.localization.midline_x_mm);
    let levels = &entry.levels;
    let ((mid, montage), overlays) = rayon::join(
        || {
            rayon::join(
                || midsagittal_image(&analysis.model, &caption),
                || foramina_image(&analysis.foramina, levels, &caption),
            )
        },
        || foramen_overlays(&analysis.foramina, levels, &caption),
    );
    let mut images = vec![("midsagittal".into(), mid), ("foramina".into(), montage)];
    images.extend(overlays);
    images
}

/// QC images as PNG files (the default of `foramen measure`).
pub struct PngOutput {
    pub dir: std::path::PathBuf,
}

impl super::output::SeriesOutput for PngOutput {
    fn needs_images(&self) -> bool {
        true
    }
    fn write(&self, ctx: &super::output::SeriesContext) -> Vec<super::output::Recorded> {
        use super::output::Recorded;
        use rayon::prelude::*;
        ctx.images
            .par_iter()
            .map(|(key, img)| {
                let name = format!("{}_{key}.png", ctx.stem);
                match write_png(img, &self.dir.join(&name)) {
                    Ok(()) => Recorded::QcImage(format!("qc/{name}")),
                    Err(e) => Recorded::Warning(format!("QC image not written: {e}")),
                }
            })
            .collect()
    }
}

/// The grade and flag the report gives a foramen (graded after the analysis).
fn grade_of<'a>(
    levels: &'a [LevelEntry],
    r: &crate::spine::foramen::ForamenResult,
) -> (&'a str, bool) {
    levels
        .iter()
        .find(|l| l.level == r.level && l.side == r.side.as_str())
        .map_or(("indeterminate", false), |l| (&*l.grade, l.flagged))
}

fn overlay(
    r: &crate::spine::foramen::ForamenResult,
    s: &crate::spine::foramen::SliceResult,
    (grade, flagged): (&str, bool),
) -> RgbImage {
    let full = outlined(s);
    // Crop to the foramen with a margin of surrounding anatomy, so that it fills the
    // overlay; the whole plane is in the montage.
    let (x0, y0, cw, ch) = (s.seg.mask.dim() == s.image.dim())
        .then(|| crop_box(&s.seg.mask, s.roi.pixel_mm, OVERLAY_MARGIN_MM))
        .flatten()
        .unwrap_or((0, 0, full.width(), full.height()));
    let tile = imageops::crop_imm(&full, x0, y0, cw, ch).to_image();
    let (w0, h0) = (tile.width().max(1), tile.height().max(1));
    let zoom = (OVERLAY_PX / w0.max(h0) as f64).clamp(1.0, 10.0);
    let (w, h) = (
        ((w0 as f64 * zoom).round() as u32).max(1),
        ((h0 as f64 * zoom).round() as u32).max(1),
    );
    let big = rescale(&tile, w, h, false);
    // Room below the plane for three lines of text; wide enough for the caption.
    const TEXT: u32 = 62;
    let mut img = RgbImage::from_pixel(w.max(400), h + TEXT, Rgb([0, 0, 0]));
    paste(&mut img, &big, 0, 0);
    let f = font();
    let scale = PxScale::from(15.0);
    // Fractional ROI (row, column) to image (x, y): pixel k covers [k, k + 1) · zoom.
    let (sx, sy) = (w as f64 / w0 as f64, h as f64 / h0 as f64);
    let to_xy = |p| {
        let (i, j) = s.roi.pixel_of(p);
        (
            ((j - x0 as f64 + 0.5) * sx) as f32,
            ((i - y0 as f64 + 0.5) * sy) as f32,
        )
    };
    for (line, value, colour, name) in [
        (r.height_line, r.height_mm, HEIGHT, "H"),
        (r.width_line, r.width_mm, WIDTH, "W"),
    ] {
        let (Some([a, b]), Some(v)) = (line, value) else {
            continue;
        };
        let (a, b) = (to_xy(a), to_xy(b));
        // Ends off the plane (or not numbers) would only be clipped: leave them out.
        let on = |p: (f32, f32)| {
            p.0.is_finite()
                && p.1.is_finite()
                && p.0.abs() <= 2.0 * w as f32
                && p.1.abs() <= 2.0 * h as f32
        };
        if !on(a) || !on(b) {
            continue;
        }
        measure_line(&mut img, a, b, colour);
        // The value beside the top end of the height and below the front end of the
        // width, away from where the two lines usually cross.
        let label = format!("{name} {v:.1} mm");
        let (tw, th) = text_size(scale, &f, &label);
        let vertical = (b.1 - a.1).abs() > (b.0 - a.0).abs();
        let (x, y) = if vertical {
            (a.0.max(b.0) + 8.0, a.1.min(b.1) + 4.0)
        } else {
            (a.0.min(b.0), a.1.max(b.1) + 8.0)
        };
        let x = x.clamp(2.0, (w as f32 - tw as f32 - 2.0).max(2.0)) as i32;
        let y = y.clamp(2.0, (h as f32 - th as f32 - 4.0).max(2.0)) as i32;
        draw_filled_rect_mut(
            &mut img,
            Rect::at(x - 2, y - 1).of_size(tw + 4, th + 5),
            Rgb([0, 0, 0]),
        );
        draw_text_mut(&mut img, colour, x, y, scale, &f, &label);
    }
    let mm = |v: Option<f64>| v.map_or("not measured".into(), |v| format!("{v:.1} mm"));
    let lines = [
        format!(
            "{} {}: min area {} mm2",
            r.level,
            r.side.as_str(),
            r.min_area_mm2.map_or("-".into(), |a| format!("{a:.1}"))
        ),
        format!("height {}, width {}", mm(r.height_mm), mm(r.width_mm)),
        format!(
            "grade {}{}, confidence {:.2}",
            grade,
            if flagged { " (flagged)" } else { "" },
            r.confidence
        ),
    ];
    for (k, text) in lines.iter().enumerate() {
        draw_text_mut(
            &mut img,
            Rgb([235, 235, 235]),
            4,
            h as i32 + 3 + 19 * k as i32,
            scale,
            &f,
            text,
        );
    }
    img
}

/// Anatomy kept around the foramen in an overlay (mm).
const OVERLAY_MARGIN_MM: f64 = 10.0;

/// Bounding box `(x, y, width, height)` of the mask grown by `margin_mm`, inside the
/// grid; `None` for an empty mask.
fn crop_box(mask: &Array2<bool>, pixel_mm: f64, margin_mm: f64) -> Option<(u32, u32, u32, u32)> {
    let (h, w) = mask.dim();
    let (mut r0, mut r1, mut c0, mut c1) = (usize::MAX, 0, usize::MAX, 0);
    for ((i, j), &m) in mask.indexed_iter() {
        if m {
            (r0, r1, c0, c1) = (r0.min(i), r1.max(i), c0.min(j), c1.max(j));
        }
    }
    if r0 == usize::MAX || !pixel_mm.is_finite() || pixel_mm <= 0.0 {
        return None;
    }
    let m = (margin_mm / pixel_mm).round().clamp(0.0, 10_000.0) as usize;
    let (r0, c0) = (r0.saturating_sub(m), c0.saturating_sub(m));
    let (r1, c1) = ((r1 + m).min(h - 1), (c1 + m).min(w - 1));
    Some((
        c0 as u32,
        r0 as u32,
        (c1 - c0 + 1) as u32,
        (r1 - r0 + 1) as u32,
    ))
}

/// A 3-px measurement line with end ticks across it.
fn measure_line(img: &mut RgbImage, a: (f32, f32), b: (f32, f32), colour: Rgb<u8>) {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len = (dx * dx + dy * dy).sqrt().max(1e-3);
    let (nx, ny) = (-dy / len, dx / len);
    for k in [-1.0f32, 0.0, 1.0] {
        draw_line_segment_mut(
            img,
            (a.0 + nx * k, a.1 + ny * k),
            (b.0 + nx * k, b.1 + ny * k),
            colour,
        );
    }
    for p in [a, b] {
        draw_line_segment_mut(
            img,
            (p.0 - nx * 6.0, p.1 - ny * 6.0),
            (p.0 + nx * 6.0, p.1 + ny * 6.0),
            colour,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spine::foramen::rays::{NRAY, SliceSegmentation};
    use crate::spine::foramen::roi::{RoiFrame, SlicePlane};
    use crate::spine::foramen::{ForamenResult, Side, SliceResult, unmeasured};

    /// A 60 × 50 plane with an elliptical foramen and a small root inside it.
    fn synthetic() -> ForamenResult {
        let (h, w) = (60usize, 50usize);
        let inside = |i: usize, j: usize, ri: f64, rj: f64| {
            let (di, dj) = ((i as f64 - 30.0) / ri, (j as f64 - 25.0) / rj);
            di * di + dj * dj <= 1.0
        };
        let mask = Array2::from_shape_fn((h, w), |(i, j)| inside(i, j, 20.0, 10.0));
        let root = Array2::from_shape_fn((h, w), |(i, j)| inside(i, j, 5.0, 3.0));
        let image = Array2::from_shape_fn((h, w), |(i, j)| {
            if mask[[i, j]] {
                900.0
            } else {
                200.0 + j as f32
            }
        });
        let roi = RoiFrame {
            origin: [10.0, 0.0, 0.0],
            up: [0.0, 0.0, 1.0],
            back: [0.0, 1.0, 0.0],
            pixel_mm: 0.5,
            rows: h,
            cols: w,
        };
        let plane = SlicePlane {
            index: 3,
            position_mm: 10.0,
            point: [10.0, 0.0, 0.0],
            normal: [1.0, 0.0, 0.0],
            thickness_mm: 4.0,
            source_pixel_mm: 0.5,
        };
        let seg = SliceSegmentation {
            mask,
            root,
            area_mm2: 150.0,
            fat_area_mm2: 130.0,
            fat_ref: 900.0,
            boundary_ref: 200.0,
            cnr: 8.0,
            score: 1.0,
            seed: (0.0, 0.0),
            radii: [0.0; NRAY],
            open: [false; NRAY],
            closed: true,
        };
        let mut r = unmeasured("L4-L5", Side::Left, "placeholder");
        r.reason = None;
        r.slices = vec![SliceResult {
            plane,
            roi,
            seg,
            image,
        }];
        r.min_slice = Some(0);
        r.min_area_mm2 = Some(150.0);
        r.height_mm = Some(20.5);
        r.width_mm = Some(10.5);
        // Column 25 from row 10 to 50, row 30 from column 15 to 35 (outer pixel edges).
        r.height_line = Some([roi.point(9.5, 25.0), roi.point(50.5, 25.0)]);
        r.width_line = Some([roi.point(30.0, 14.5), roi.point(30.0, 35.5)]);
        r.confidence = 0.8;
        r
    }

    fn count(img: &RgbImage, c: Rgb<u8>) -> usize {
        img.pixels().filter(|p| **p == c).count()
    }

    #[test]
    fn overlay_has_banner_outline_and_measurement_lines() {
        let results = vec![synthetic(), unmeasured("L5-S1", Side::Right, "not found")];
        let out = foramen_overlays(&results, &[], "caption");
        assert_eq!(out.len(), 1, "only measured foramina get an overlay");
        let (key, img) = &out[0];
        assert_eq!(key, "L4-L5_left");
        assert!(
            img.width() >= 300 && img.height() >= 360,
            "{:?}",
            img.dimensions()
        );
        // Banner band: the top rows are mostly the banner red (text covers a little).
        let banner = Rgb([150, 20, 20]);
        let top = (0..img.width())
            .filter(|&x| *img.get_pixel(x, 1) == banner)
            .count();
        assert!(top as f64 > 0.9 * img.width() as f64, "banner pixels {top}");
        // The outline survives the enlargement: its perimeter, at ~7× zoom.
        assert!(
            count(img, OUTLINE) > 500,
            "outline pixels {}",
            count(img, OUTLINE)
        );
        assert!(count(img, ROOT) > 50);
        assert!(count(img, HEIGHT) > 100, "height line");
        assert!(count(img, WIDTH) > 100, "width line");
        // The height line is vertical through the middle column of the plane.
        let zoom = OVERLAY_PX / 60.0;
        let band = (img.height() - (60.0 * zoom) as u32 - 62) / 2;
        let x = ((25.5) * zoom) as u32;
        let y = band + (30.0 * zoom) as u32 - 20;
        assert_eq!(*img.get_pixel(x, y), HEIGHT);
    }

    #[test]
    fn crop_keeps_the_margin_inside_the_grid() {
        let mut mask = Array2::from_elem((60, 50), false);
        assert_eq!(crop_box(&mask, 0.5, 2.0), None);
        mask[[30, 25]] = true;
        // 2 mm = 4 px each side.
        assert_eq!(crop_box(&mask, 0.5, 2.0), Some((21, 26, 9, 9)));
        mask[[1, 48]] = true;
        assert_eq!(crop_box(&mask, 0.5, 2.0), Some((21, 0, 29, 35)));
        assert_eq!(crop_box(&mask, 0.0, 2.0), None);
    }

    #[test]
    fn overlay_without_lines_still_renders() {
        let mut r = synthetic();
        r.height_line = None;
        r.width_line = Some([[f64::NAN; 3], [0.0; 3]]);
        let out = foramen_overlays(&[r], &[], "c");
        assert_eq!(out.len(), 1);
        assert_eq!(count(&out[0].1, HEIGHT), 0);
        assert_eq!(count(&out[0].1, WIDTH), 0);
        assert!(count(&out[0].1, OUTLINE) > 500);
    }
}
