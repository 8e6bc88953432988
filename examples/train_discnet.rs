//! Trains the disc-centre detector of `src/spine/levels/detector.rs` and writes its
//! weights to `src/spine/levels/discnet.safetensors`.
//!
//! ```text
//! tools/train-discnet.sh [ITERATIONS]     # finds the SPIDER data, then runs this
//! cargo run --release --example train_discnet -- SPIDER_T2_SPACE_DIR [ITERATIONS]
//! ```
//!
//! Training data, all redistributable: the SPIDER T2 SPACE sagittal slices with their
//! disc masks (van der Graaf et al., Sci Data 2024, CC BY 4.0; 33 of the 41 cases, the
//! other 8 held out), and phantom cases of every kind (MR T1/T2, CT; seeds from
//! 500000, away from the evaluation suites). Targets are Gaussian spots (σ 4 mm) at disc
//! centres: SPIDER's labelled discs (L5-S1 upward; a vestigial S1-S2 disc is not
//! labelled, so the network learns that it is not a mobile disc) and the phantom's
//! truth discs. Every sample is augmented: crop, rotation, scale, gamma, contrast
//! inversion, noise, blur, slab averaging. Everything is seeded: the same command gives
//! the same weights. It never sees VB2/VB3 (their licence is unverified); they, the
//! SCT volume and the held-out cases are how it is judged (tools/eval-real.sh).
//!
//! Runs in about 35 minutes on 2 cores (2000 iterations).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use foramen::imageops::{Blend, bilinear, connected_components, gaussian_blur, local_maxima};
use foramen::phantom::{PhantomOptions, PhantomPlane, Severity, Weighting, generate};
use foramen::spine::canonical::canonical_stack;
use foramen::spine::discs::{normalise_bias, normalised_planes};
use foramen::spine::levels::detector::{DiscNet, NET_PIXEL_MM, net_input};
use foramen::volume::{Modality, geometry::dot, geometry::sub};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One training plane: net input and disc centres (row, col in net pixels).
struct Item {
    image: Array2<f32>,
    discs: Vec<(f64, f64)>,
}

const CROP: usize = 112;
const SIGMA_MM: f64 = 4.0;
/// Typical lumbar disc-centre spacing (mm), used to give SPIDER's PNGs a scale.
const DISC_SPACING_MM: f64 = 37.0;
const HELD_OUT_SPIDER: usize = 8;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let spider = PathBuf::from(
        args.get(1)
            .map(String::as_str)
            .unwrap_or("/work/data/spider/Data/t2_SPACE"),
    );
    let iterations: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let out =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/spine/levels/discnet.safetensors");

    let (spider_train, spider_test) = load_spider(&spider)?;
    eprintln!(
        "SPIDER: {} training planes, {} held-out planes",
        spider_train.len(),
        spider_test.len()
    );
    let phantom_train = phantom_items(500_000, 48);
    let phantom_test = phantom_items(600_000, 12);
    eprintln!(
        "phantom: {} training planes, {} held-out planes",
        phantom_train.len(),
        phantom_test.len()
    );
    let train: Vec<&Item> = spider_train.iter().chain(phantom_train.iter()).collect();

    let dev = Device::Cpu;
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
    let net = DiscNet::new(vb)?;
    let mut opt = AdamW::new(
        vm.all_vars(),
        ParamsAdamW {
            lr: 2e-3,
            weight_decay: 1e-4,
            ..Default::default()
        },
    )?;
    let mut rng = ChaCha8Rng::seed_from_u64(20261205);
    let batch = 8;
    let mut running = 0.0;
    for it in 0..iterations {
        if it == iterations * 7 / 10 {
            opt.set_learning_rate(5e-4);
        }
        let mut xs: Vec<f32> = Vec::with_capacity(batch * CROP * CROP);
        let mut ys: Vec<f32> = Vec::with_capacity(batch * CROP * CROP);
        for _ in 0..batch {
            // Half SPIDER, half phantom: the phantom is the only source of T1 and CT.
            let item = if rng.random_bool(0.5) {
                train[rng.random_range(0..spider_train.len())]
            } else {
                train[spider_train.len() + rng.random_range(0..phantom_train.len())]
            };
            let (x, y) = augment(item, &mut rng);
            xs.extend(x.iter());
            ys.extend(y.iter());
        }
        let x = Tensor::from_vec(xs, (batch, 1, CROP, CROP), &dev)?;
        let y = Tensor::from_vec(ys, (batch, 1, CROP, CROP), &dev)?;
        let logits = net.forward(&x)?;
        // Disc centres are a small fraction of the pixels: weight them up.
        let w = ((&y * 20.0)? + 1.0)?;
        // Weighted binary cross-entropy on the probabilities.
        let p = candle_nn::ops::sigmoid(&logits)?;
        let eps = 1e-6;
        let l = ((&y * (&p + eps)?.log()?)? + ((1.0 - &y)? * ((1.0 - &p)? + eps)?.log()?)?)?;
        let loss = (l * w)?.neg()?.mean_all()?;
        opt.backward_step(&loss)?;
        running += loss.to_scalar::<f32>()? as f64;
        if (it + 1) % 50 == 0 {
            eprintln!("iteration {:5}: loss {:.4}", it + 1, running / 50.0);
            running = 0.0;
        }
        if (it + 1) % 500 == 0 || it + 1 == iterations {
            vm.save(&out)?;
        }
    }
    vm.save(&out)?;
    eprintln!("weights written to {}", out.display());
    for (name, items) in [
        ("SPIDER held out", &spider_test),
        ("phantom held out", &phantom_test),
    ] {
        let (tp, fp, fn_) = detection_counts(&net, items)?;
        println!(
            "{name}: {} planes, discs found {tp}/{} (recall {:.3}), false peaks {fp} (precision {:.3})",
            items.len(),
            tp + fn_,
            tp as f64 / (tp + fn_).max(1) as f64,
            tp as f64 / (tp + fp).max(1) as f64
        );
    }
    Ok(())
}

/// Peaks of the probability map above 0.5 (non-maximum suppression over 10 mm) against
/// the true centres (within 6 mm): (true positives, false positives, misses).
fn detection_counts(net: &DiscNet, items: &[Item]) -> anyhow::Result<(usize, usize, usize)> {
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for item in items {
        let p = net.probabilities(&item.image)?;
        let peaks = local_maxima(&p, 10.0 / NET_PIXEL_MM, 0.5);
        let tol = 6.0 / NET_PIXEL_MM;
        let mut used = vec![false; item.discs.len()];
        for &(r, c, _) in &peaks {
            let hit = item.discs.iter().enumerate().position(|(i, d)| {
                !used[i] && ((d.0 - r as f64).powi(2) + (d.1 - c as f64).powi(2)).sqrt() <= tol
            });
            match hit {
                Some(i) => {
                    used[i] = true;
                    tp += 1;
                }
                None => fp += 1,
            }
        }
        fn_ += used.iter().filter(|u| !**u).count();
    }
    Ok((tp, fp, fn_))
}

/// A random crop of `item` with geometric and intensity augmentation, and its target.
fn augment(item: &Item, rng: &mut ChaCha8Rng) -> (Vec<f32>, Vec<f32>) {
    let (h, w) = item.image.dim();
    let angle = rng.random_range(-0.25f64..0.25);
    let scale = rng.random_range(0.85f64..1.18);
    let (ca, sa) = (angle.cos() * scale, angle.sin() * scale);
    // Centre of the crop: mostly near a disc, so every batch has positives.
    let (cr, cc) = if !item.discs.is_empty() && rng.random_bool(0.8) {
        let d = item.discs[rng.random_range(0..item.discs.len())];
        (
            d.0 + rng.random_range(-40.0..40.0),
            d.1 + rng.random_range(-25.0..25.0),
        )
    } else {
        (
            rng.random_range(0.0..h as f64),
            rng.random_range(0.0..w as f64),
        )
    };
    let half = CROP as f64 / 2.0;
    // Output pixel (i, j) samples the source at centre + R·(i - half, j - half).
    let src = |i: f64, j: f64| {
        let (di, dj) = (i - half, j - half);
        (cr + ca * di - sa * dj, cc + sa * di + ca * dj)
    };
    let invert = rng.random_bool(0.2);
    let gamma = rng.random_range(0.7f32..1.4);
    let gain = rng.random_range(0.8f32..1.25);
    let noise = rng.random_range(0.0f32..0.12);
    let blur = rng.random_range(0.0f64..1.2);
    let image = if blur > 0.3 {
        gaussian_blur(item.image.view(), blur, blur * 0.6)
    } else {
        item.image.clone()
    };
    // A smooth multiplicative bias across the crop.
    let (bx, by) = (
        rng.random_range(-0.3f32..0.3),
        rng.random_range(-0.3f32..0.3),
    );
    let normal = rand_distr::Normal::new(0.0f32, 1.0).expect("valid");
    let mut x = vec![0f32; CROP * CROP];
    for i in 0..CROP {
        for j in 0..CROP {
            let (r, c) = src(i as f64, j as f64);
            let mut v = bilinear(image.view(), r, c, Blend::Lerp).unwrap_or(0.0);
            if v > 0.0 {
                if invert {
                    v = (2.0 - v).max(0.05);
                }
                let bias =
                    1.0 + bx * (i as f32 / CROP as f32 - 0.5) + by * (j as f32 / CROP as f32 - 0.5);
                v = gain * bias * (v / 2.0).max(0.0).powf(gamma) * 2.0;
                v += noise * rng.sample(normal);
            }
            x[i * CROP + j] = v.clamp(0.0, 4.0);
        }
    }
    // A field of view that ends close below (or above) the spine: small-field lumbar
    // series often cut through S1 just under the lumbosacral disc. The image beyond a
    // random row is blank, and discs whose centre is not in view are not targets.
    let cut_below = rng
        .random_bool(0.35)
        .then(|| rng.random_range(half * 0.6..CROP as f64));
    let cut_above = rng
        .random_bool(0.15)
        .then(|| rng.random_range(0.0..half * 1.4));
    for i in 0..CROP {
        let fi = i as f64;
        if cut_below.is_some_and(|c| fi >= c) || cut_above.is_some_and(|c| fi < c) {
            x[i * CROP..(i + 1) * CROP].fill(0.0);
        }
    }
    // Inverse map of the disc centres into the crop.
    let det = ca * ca + sa * sa;
    let s = SIGMA_MM / NET_PIXEL_MM;
    let mut y = vec![0f32; CROP * CROP];
    for &(r, c) in &item.discs {
        let (dr, dc) = (r - cr, c - cc);
        let i = (ca * dr + sa * dc) / det + half;
        let j = (-sa * dr + ca * dc) / det + half;
        if cut_below.is_some_and(|c| i >= c - 2.0) || cut_above.is_some_and(|c| i < c + 2.0) {
            continue;
        }
        let (i0, i1) = (
            (i - 3.0 * s).floor().max(0.0) as usize,
            ((i + 3.0 * s).ceil().max(0.0) as usize).min(CROP),
        );
        let (j0, j1) = (
            (j - 3.0 * s).floor().max(0.0) as usize,
            ((j + 3.0 * s).ceil().max(0.0) as usize).min(CROP),
        );
        for a in i0..i1 {
            for b in j0..j1 {
                let d2 = (a as f64 - i).powi(2) + (b as f64 - j).powi(2);
                let g = (-d2 / (2.0 * s * s)).exp() as f32;
                y[a * CROP + b] = y[a * CROP + b].max(g);
            }
        }
    }
    (x, y)
}

/// SPIDER planes: the slices through the disc column of every case (training and held
/// out), each scaled from the case's disc spacing.
fn load_spider(dir: &Path) -> anyhow::Result<(Vec<Item>, Vec<Item>)> {
    let images = dir.join("images");
    let mut cases: std::collections::BTreeMap<String, Vec<(u32, PathBuf)>> = Default::default();
    for e in std::fs::read_dir(&images)? {
        let p = e?.path();
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let Some((case, rest)) = name.split_once("_t2_SPACE_slice") else {
            continue;
        };
        let Some(k) = rest
            .strip_suffix(".png")
            .and_then(|k| k.parse::<u32>().ok())
        else {
            continue;
        };
        cases.entry(case.to_string()).or_default().push((k, p));
    }
    let mut names: Vec<String> = cases.keys().cloned().collect();
    // A fixed, seeded split by case.
    let mut rng = ChaCha8Rng::seed_from_u64(41);
    for i in (1..names.len()).rev() {
        let j = rng.random_range(0..=i);
        names.swap(i, j);
    }
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (n, case) in names.iter().enumerate() {
        let mut slices = cases[case].clone();
        slices.sort();
        let loaded: Vec<(Array2<f32>, Array2<u8>)> = slices
            .iter()
            .filter_map(|(_, p)| {
                let img = image::open(p).ok()?.to_luma8();
                let mask = image::open(dir.join("masks").join(p.file_name()?))
                    .ok()?
                    .to_luma8();
                let (w, h) = img.dimensions();
                let a = Array2::from_shape_fn((h as usize, w as usize), |(r, c)| {
                    img.get_pixel(c as u32, r as u32)[0] as f32
                });
                let m = Array2::from_shape_fn((h as usize, w as usize), |(r, c)| {
                    mask.get_pixel(c as u32, r as u32)[0]
                });
                Some((a, m))
            })
            .collect();
        let disc_area: Vec<usize> = loaded
            .iter()
            .map(|(_, m)| m.iter().filter(|v| **v == 29).count())
            .collect();
        let max_area = disc_area.iter().copied().max().unwrap_or(0);
        if max_area == 0 {
            continue;
        }
        // Scale from the central slice's disc spacing.
        let mid = disc_area.iter().position(|a| *a == max_area).unwrap_or(0);
        let centres = disc_centres(&loaded[mid].1, 0.2);
        if centres.len() < 3 {
            continue;
        }
        let mut steps: Vec<f64> = centres
            .windows(2)
            .map(|w| ((w[1].0 - w[0].0).powi(2) + (w[1].1 - w[0].1).powi(2)).sqrt())
            .collect();
        steps.sort_by(f64::total_cmp);
        let px_mm = DISC_SPACING_MM / steps[steps.len() / 2];
        let items = if n < HELD_OUT_SPIDER {
            &mut test
        } else {
            &mut train
        };
        for (k, (img, mask)) in loaded.iter().enumerate() {
            // Slices through the disc column only (lateral ones cut the discs' edges).
            if disc_area[k] * 2 < max_area {
                continue;
            }
            // 1-3 adjacent slices averaged: thicker slabs' partial volume.
            for slab in 1..=2usize {
                let ks: Vec<usize> = (k..(k + slab).min(loaded.len())).collect();
                let mut avg = Array2::<f32>::zeros(img.dim());
                for &j in &ks {
                    avg += &loaded[j].0;
                }
                avg /= ks.len() as f32;
                let air = 0.1 * percentile(&avg, 98.0);
                let norm = normalise_bias(&avg, air, 25.0 / px_mm);
                let image = net_input(&norm, px_mm, false);
                let f = px_mm / NET_PIXEL_MM;
                let discs = disc_centres(mask, 0.25)
                    .into_iter()
                    .map(|(r, c)| (r * f, c * f))
                    .collect();
                items.push(Item { image, discs });
            }
        }
    }
    Ok((train, test))
}

fn percentile(a: &Array2<f32>, p: f64) -> f32 {
    let mut v: Vec<f32> = a.iter().copied().collect();
    v.sort_by(f32::total_cmp);
    v[((p / 100.0) * (v.len() - 1) as f64) as usize]
}

/// Centroids of the disc components (mask value 29) at least `min_frac` of the largest,
/// head to feet.
fn disc_centres(mask: &Array2<u8>, min_frac: f64) -> Vec<(f64, f64)> {
    let bin = mask.mapv(|v| v == 29);
    let acc: Vec<(f64, f64, usize)> = connected_components(&bin)
        .iter()
        .map(|comp| {
            let n = comp.pixels.len();
            let (sr, sc) = comp
                .pixels
                .iter()
                .fold((0.0, 0.0), |a, p| (a.0 + p.0 as f64, a.1 + p.1 as f64));
            (sr, sc, n)
        })
        .collect();
    let max = acc.iter().map(|a| a.2).max().unwrap_or(0);
    let mut out: Vec<(f64, f64)> = acc
        .iter()
        .filter(|a| a.2 > 0 && a.2 as f64 >= min_frac * max as f64)
        .map(|a| (a.0 / a.2 as f64, a.1 / a.2 as f64))
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// Phantom planes within 12 mm of the midline of `count` cases of every kind, with
/// every mobile disc as a target.
fn phantom_items(first_seed: u64, count: usize) -> Vec<Item> {
    let mut items = Vec::new();
    for i in 0..count {
        let mut rng = ChaCha8Rng::seed_from_u64(first_seed + i as u64);
        let (modality, weighting) = match i % 3 {
            0 => (Modality::MR, Weighting::T1),
            1 => (Modality::MR, Weighting::T2),
            _ => (Modality::CT, Weighting::T1),
        };
        let opts = PhantomOptions {
            seed: first_seed + i as u64,
            modality,
            weighting,
            plane: PhantomPlane::Sagittal,
            snr: rng.random_range(6.0..30.0),
            severity: [
                Severity::Normal,
                Severity::Mixed,
                Severity::Severe,
                Severity::Random,
            ][i % 4],
            lumbar_count: if i % 7 == 3 {
                4
            } else if i % 7 == 5 {
                6
            } else {
                5
            },
            slice_thickness_mm: Some(rng.random_range(1.0..5.0)),
            ..Default::default()
        };
        let Ok(case) = generate(&opts) else { continue };
        let Some(stack) = canonical_stack(&case.volume, 1.5, 2.0) else {
            continue;
        };
        let is_ct = modality == Modality::CT;
        let planes = normalised_planes(&stack, is_ct, 25.0);
        let mid_x = case.truth.discs.iter().map(|d| d.center_mm[0]).sum::<f64>()
            / case.truth.discs.len().max(1) as f64;
        for (k, plane) in planes.iter().enumerate() {
            if (stack.plane_x_mm(k) - mid_x).abs() > 12.0 {
                continue;
            }
            let image = net_input(plane, stack.pixel_mm, is_ct);
            let origin = stack.to_lps(k as f64, 0.0, 0.0);
            let discs = disc_targets(&case.truth)
                .into_iter()
                .map(|centre| {
                    let rel = sub(centre, origin);
                    (
                        dot(rel, stack.down) / NET_PIXEL_MM,
                        dot(rel, stack.back) / NET_PIXEL_MM,
                    )
                })
                .collect();
            items.push(Item { image, discs });
        }
    }
    items
}

/// Every mobile disc the phantom draws: the truth's lumbar discs (L5-S1 included) and,
/// above them, midpoints of consecutive thoracic and thoracolumbar vertebrae (drawn as
/// discs but not listed in the truth). The fused sacral junctions are not discs.
fn disc_targets(truth: &foramen::phantom::Truth) -> Vec<[f64; 3]> {
    let mut out: Vec<[f64; 3]> = truth.discs.iter().map(|d| d.center_mm).collect();
    let mobile: Vec<&foramen::phantom::VertebraTruth> = truth
        .vertebrae
        .iter()
        .filter(|v| v.name.starts_with('T') || v.name.starts_with('L'))
        .collect();
    for w in mobile.windows(2) {
        let level = format!("{}-{}", w[0].name, w[1].name);
        if truth.discs.iter().any(|d| d.level == level) {
            continue;
        }
        out.push(std::array::from_fn(|i| {
            (w[0].center_mm[i] + w[1].center_mm[i]) / 2.0
        }));
    }
    out
}
