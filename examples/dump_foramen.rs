//! Debug view of the foramen outlines of one phantom suite case (the cases of
//! `eval_phantoms`): writes each measured plane of each foramen, zoomed ×6, with the ray
//! outline (red; open rays yellow) and the seed (green), to
//! `$TMPDIR/foramen-dump/caseN_LEVEL_SIDE_k.png`, and prints the areas.
//!
//! `cargo run --release --example dump_foramen -- CASE [FIRST_SEED] [LEVEL]`

use foramen::phantom::eval::case_options;
use foramen::phantom::generate;
use foramen::spine::foramen::rays::polygon;
use foramen::spine::{AnalysisOptions, analyse};
use image::{Rgb, RgbImage};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let i: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let first: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5000);
    let only = args.get(3).cloned();
    let opts = case_options(first, i);
    let case = generate(&opts).expect("valid");
    let a = analyse(
        &case.volume,
        &AnalysisOptions {
            weighting: opts.series_weighting(),
            ..Default::default()
        },
    )
    .expect("analysed");
    let dir = std::env::temp_dir().join("foramen-dump");
    std::fs::create_dir_all(&dir).expect("dir");
    const Z: u32 = 6;
    for r in &a.foramina {
        if only.as_ref().is_some_and(|l| *l != r.level) {
            continue;
        }
        let t = case
            .truth
            .levels
            .iter()
            .find(|t| t.level == r.level && t.side.as_str() == r.side.as_str());
        println!(
            "{} {}: min {:?} conf {:.2} truth {:?} planes {:?}",
            r.level,
            r.side.as_str(),
            r.min_area_mm2.map(|x| x.round()),
            r.confidence,
            t.and_then(|t| t.min_area_mm2).map(|x| x.round()),
            r.slices
                .iter()
                .map(|s| (
                    (s.plane.position_mm * 10.0).round() / 10.0,
                    s.seg.area_mm2.round()
                ))
                .collect::<Vec<_>>()
        );
        for (k, s) in r.slices.iter().enumerate() {
            let img = &s.image;
            let (h, w) = img.dim();
            let mut v: Vec<f32> = img.iter().copied().filter(|x| x.is_finite()).collect();
            v.sort_by(f32::total_cmp);
            let (lo, hi) = (v[v.len() / 100], v[v.len() * 995 / 1000]);
            let mut out = RgbImage::from_fn(w as u32 * Z, h as u32 * Z, |x, y| {
                let p = img[[(y / Z) as usize, (x / Z) as usize]];
                let g = (((p - lo) / (hi - lo)).clamp(0.0, 1.0) * 255.0) as u8;
                Rgb([g, g, g])
            });
            let px = s.roi.pixel_mm;
            let poly = polygon(s.seg.seed, &s.seg.radii, px);
            let n = poly.len();
            for q in 0..n {
                let (p0, p1) = (poly[q], poly[(q + 1) % n]);
                let col = if s.seg.open[q] {
                    Rgb([255, 220, 0])
                } else {
                    Rgb([255, 0, 0])
                };
                for t in 0..=40 {
                    let f = t as f64 / 40.0;
                    let (rr, cc) = (p0.0 + f * (p1.0 - p0.0), p0.1 + f * (p1.1 - p0.1));
                    let (x, y) = ((cc * Z as f64) as i64, (rr * Z as f64) as i64);
                    if x >= 0 && y >= 0 && (x as u32) < out.width() && (y as u32) < out.height() {
                        out.put_pixel(x as u32, y as u32, col);
                    }
                }
            }
            let (sr, sc) = s.seg.seed;
            for d in -3i64..=3 {
                for (x, y) in [
                    (sc * Z as f64 + d as f64, sr * Z as f64),
                    (sc * Z as f64, sr * Z as f64 + d as f64),
                ] {
                    if x >= 0.0 && y >= 0.0 && (x as u32) < out.width() && (y as u32) < out.height()
                    {
                        out.put_pixel(x as u32, y as u32, Rgb([0, 255, 0]));
                    }
                }
            }
            let f = dir.join(format!(
                "case{i}_{}_{}_{k}{}.png",
                r.level,
                r.side.as_str(),
                if r.min_slice == Some(k) { "_min" } else { "" }
            ));
            out.save(&f).expect("png");
        }
    }
}
