//! Level-labelling accuracy on generated phantoms (issue 4's phantom criterion).
//!
//! `cargo run --release --example eval_levels -- [CASES] [FIRST_SEED]`
//!
//! For each case of the varied suite (MR T1, MR T2, CT sagittal, CT axial; all
//! severities; SNR 8-30; every sixth case transitional), localises the levels on the
//! rendered volume and compares every truth disc with the found disc of the same name:
//! correct when it is nearer to that truth disc than to any other and within 15 mm of it
//! in the sagittal plane. Transitional cases must carry a warning.

use foramen::phantom::output::suite_case;
use foramen::phantom::{PhantomOptions, generate};
use foramen::spine::{AnalysisOptions, analyse};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cases: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(32);
    let first: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let base = PhantomOptions {
        seed: first,
        ..Default::default()
    };
    let (
        mut all_ok,
        mut normal_cases,
        mut trans_cases,
        mut trans_warned,
        mut discs_ok,
        mut discs_total,
    ) = (0, 0, 0, 0, 0, 0);
    let mut silent = 0;
    let mut times = Vec::new();
    for i in 0..cases {
        let opts = suite_case(&base, i);
        let case = generate(&opts).expect("valid suite options");
        let weighting = opts.series_weighting();
        let start = std::time::Instant::now();
        let result = analyse(
            &case.volume,
            &AnalysisOptions {
                weighting,
                levels_only: true,
                deadline: None,
            },
        )
        .map(|a| (a.model, a.contrast_warning));
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        let label = format!(
            "{:?} {:?} {:?} {:?} L{}",
            opts.modality, opts.weighting, opts.plane, opts.severity, opts.lumbar_count
        );
        let Ok((model, note)) = result else {
            println!(
                "case {i:2} seed {} {label}: FAILED {}",
                opts.seed,
                result.err().map(|e| e.to_string()).unwrap_or_default()
            );
            if !case.truth.transitional {
                normal_cases += 1;
            }
            continue;
        };
        let loc = &model.localization;
        let mut wrong = Vec::new();
        let mut ok = 0;
        for t in &case.truth.discs {
            let found = loc.discs.iter().find(|d| d.level == t.level);
            // Correct: the found disc of that name is nearest to this truth disc (discs
            // are ~30 mm apart) and within 15 mm of it in the sagittal plane.
            let in_plane =
                |a: [f64; 3], b: [f64; 3]| ((a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt();
            let good = found.is_some_and(|d| {
                let nearest = case.truth.discs.iter().min_by(|a, b| {
                    in_plane(a.center_mm, d.center_mm)
                        .total_cmp(&in_plane(b.center_mm, d.center_mm))
                });
                nearest.is_some_and(|n| n.level == t.level)
                    && in_plane(t.center_mm, d.center_mm) < 15.0
            });
            if good {
                ok += 1;
            } else {
                wrong.push(t.level.clone());
                if found.is_some_and(|d| d.confidence >= 0.5) && loc.labeling_warnings.is_empty() {
                    silent += 1;
                }
            }
        }
        if std::env::var_os("EVAL_VERBOSE").is_some() && !wrong.is_empty() {
            for t in &case.truth.discs {
                println!(
                    "    truth {:7} x {:6.1} y {:6.1} z {:6.1}",
                    t.level, t.center_mm[0], t.center_mm[1], t.center_mm[2]
                );
            }
            for d in &loc.discs {
                println!(
                    "    found {:7} x {:6.1} y {:6.1} z {:6.1} tilt {:5.1} resp {:.4} h {:?} conf {:.2}",
                    d.level,
                    d.center_mm[0],
                    d.center_mm[1],
                    d.center_mm[2],
                    d.tilt_deg,
                    d.response,
                    d.height_mm.map(|h| (h * 10.0).round() / 10.0),
                    d.confidence
                );
            }
        }
        let warned = !loc.labeling_warnings.is_empty() || note.is_some();
        if case.truth.transitional {
            trans_cases += 1;
            if warned
                && loc.labeling_warnings.iter().any(|w| {
                    w.contains("transitional")
                        || w.contains("lumbar-type")
                        || w.contains("sacralis")
                        || w.contains("lumbaris")
                })
            {
                trans_warned += 1;
            }
        } else {
            normal_cases += 1;
            discs_total += case.truth.discs.len();
            discs_ok += ok;
            if wrong.is_empty() {
                all_ok += 1;
            }
        }
        println!(
            "case {i:2} seed {} {label}: {ok}/{} discs correct{}{}",
            opts.seed,
            case.truth.discs.len(),
            if wrong.is_empty() {
                String::new()
            } else {
                format!(", wrong/missing {wrong:?}")
            },
            if loc.labeling_warnings.is_empty() {
                String::new()
            } else {
                format!(" | warnings: {}", loc.labeling_warnings.join("; "))
            }
        );
    }
    times.sort_by(f64::total_cmp);
    println!();
    println!("non-transitional cases with every disc correct: {all_ok}/{normal_cases}");
    println!("discs correct: {discs_ok}/{discs_total}");
    println!("transitional cases with a transitional warning: {trans_warned}/{trans_cases}");
    println!("wrong discs with confidence >= 0.5 and no warning: {silent}");
    println!(
        "localisation time per case: median {:.0} ms (min {:.0}, max {:.0})",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
}
