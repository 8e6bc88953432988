//! Debug view of level localisation on one suite case (the cases of `eval_levels`):
//! writes a localisation plane with the truth discs (green) and the found discs (red)
//! to `$TMPDIR/foramen-dump-levels/caseN.png`.
//!
//! `cargo run --release --example dump_levels -- CASE [FIRST_SEED] [R,C,R,C...]`
//!
//! With pixel positions (rows, columns of the localisation stack) it prints both disc
//! responses and normals there on every plane. Environment: `PLANE=k` shows plane k
//! instead of the midline, `RESPONSE=1` the dark-band response instead of the image,
//! `RAW=1` the plane before bias normalisation, `COLUMN=c` prints a profile down column c.

use foramen::phantom::output::suite_case;
use foramen::phantom::{PhantomOptions, generate};
use foramen::spine::{AnalysisOptions, analyse};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let i: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let first: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let base = PhantomOptions {
        seed: first,
        ..Default::default()
    };
    let opts = suite_case(&base, i);
    let case = generate(&opts).expect("valid");
    let weighting = opts.series_weighting();
    let model = analyse(
        &case.volume,
        &AnalysisOptions {
            weighting,
            levels_only: true,
            deadline: None,
        },
    )
    .expect("localised")
    .model;
    let stack = &model.stack;
    let k = std::env::var("PLANE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(model.localization.midsagittal_plane);
    let resp_plane;
    let plane = if std::env::var_os("RAW").is_some() {
        resp_plane = model
            .stack
            .data
            .index_axis(ndarray::Axis(0), k)
            .mapv(|v| if v.is_finite() { v } else { 0.0 });
        &resp_plane
    } else if std::env::var_os("RESPONSE").is_some() {
        let params = foramen::spine::discs::DiscParams::default();
        let r =
            foramen::spine::discs::disc_responses(&model.planes[k], model.stack.pixel_mm, &params);
        resp_plane = r.get(foramen::spine::discs::DiscContrast::Darker).0.clone();
        &resp_plane
    } else {
        &model.planes[k]
    };
    let (h, w) = plane.dim();
    let mut vals: Vec<f32> = plane.iter().copied().collect();
    vals.sort_by(f32::total_cmp);
    let hi = vals[vals.len() * 99 / 100].max(1e-6);
    let mut img = image::RgbImage::new(w as u32, h as u32);
    for ((r, c), v) in plane.indexed_iter() {
        let g = ((v / hi).clamp(0.0, 1.0) * 255.0) as u8;
        img.put_pixel(c as u32, r as u32, image::Rgb([g, g, g]));
    }
    // LPS point -> (row, col) of the canonical stack.
    let to_rc = |p: [f64; 3]| {
        let o = stack.to_lps(0.0, 0.0, 0.0);
        let d = [p[0] - o[0], p[1] - o[1], p[2] - o[2]];
        let dot = |a: [f64; 3]| a[0] * d[0] + a[1] * d[1] + a[2] * d[2];
        (
            dot(stack.down) / stack.pixel_mm,
            dot(stack.back) / stack.pixel_mm,
        )
    };
    let mut mark = |p: [f64; 3], colour: [u8; 3], size: i64| {
        let (r, c) = to_rc(p);
        for dr in -size..=size {
            for dc in -size..=size {
                if dr.abs() == size || dc.abs() == size {
                    let (rr, cc) = (r as i64 + dr, c as i64 + dc);
                    if rr >= 0 && cc >= 0 && (rr as usize) < h && (cc as usize) < w {
                        img.put_pixel(cc as u32, rr as u32, image::Rgb(colour));
                    }
                }
            }
        }
    };
    for t in &case.truth.discs {
        mark(t.center_mm, [0, 255, 0], 4);
    }
    for d in &model.localization.discs {
        mark(d.center_mm, [255, 0, 0], 2);
    }
    let big = image::imageops::resize(
        &img,
        2 * w as u32,
        2 * h as u32,
        image::imageops::FilterType::Nearest,
    );
    if let Some(at) = args.get(3) {
        let params = foramen::spine::discs::DiscParams::default();
        let v: Vec<usize> = at.split(',').filter_map(|x| x.parse().ok()).collect();
        for (kk, p) in model.planes.iter().enumerate() {
            let resp = foramen::spine::discs::disc_responses(p, stack.pixel_mm, &params);
            let (rd, nd) = resp.get(foramen::spine::discs::DiscContrast::Darker);
            let (rb, nb) = resp.get(foramen::spine::discs::DiscContrast::Brighter);
            let mut line = format!("plane {kk:2} x {:6.1}:", stack.plane_x_mm(kk));
            for pair in v.chunks(2) {
                let (r, c) = (pair[0], pair[1]);
                line += &format!(
                    "  ({r},{c}) D {:.3} ({:.2},{:.2}) B {:.3} ({:.2},{:.2})",
                    rd[[r, c]],
                    nd[[r, c]][0],
                    nd[[r, c]][1],
                    rb[[r, c]],
                    nb[[r, c]][0],
                    nb[[r, c]][1]
                );
            }
            println!("{line}");
        }
    }
    if let Ok(col) = std::env::var("COLUMN") {
        let col: usize = col.parse().unwrap();
        for r in (120..190).step_by(2) {
            println!("row {r}: {:.3}", plane[[r, col]]);
        }
        for r in (140..176).step_by(4) {
            let line: Vec<String> = (0..plane.dim().1)
                .step_by(8)
                .map(|c| format!("{:4.0}", plane[[r, c]]))
                .collect();
            println!("r{r:3} {}", line.join(""));
        }
    }
    let dir = std::env::temp_dir().join("foramen-dump-levels");
    std::fs::create_dir_all(&dir).expect("create output folder");
    let out = dir.join(format!("case{i}.png"));
    big.save(&out).expect("write png");
    println!("{} plane {k} of {}", out.display(), model.planes.len());
}
