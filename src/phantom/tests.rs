//! Tests of the phantom as a whole. Cases are rendered small (coarse pixels) so that
//! the suite stays fast in debug builds; the truth does not depend on the pixel grid.

use super::anatomy::{Anatomy, Prim, Side, Tissue};
use super::render::{render_partial_volume, sample_contrast};
use super::shapes::{Frame, Shape};
use super::*;
use crate::grading::Grade;
use crate::volume::geometry::{Geometry, add, dot, scale, sub};
use anatomy::sacrum::{RemnantDraw, RemnantSize};
use anatomy::variant::VariantDraw;

fn small(seed: u64) -> PhantomOptions {
    PhantomOptions {
        seed,
        rows: Some(80),
        columns: Some(80),
        pixel_spacing_mm: Some(3.5),
        truth_step_mm: 0.2,
        ..Default::default()
    }
}

#[test]
fn same_seed_gives_identical_volume_and_truth() {
    let a = generate(&small(5)).unwrap();
    let b = generate(&small(5)).unwrap();
    assert_eq!(a.volume.voxels, b.volume.voxels);
    assert_eq!(a.volume.geometry, b.volume.geometry);
    let ja = serde_json::to_string(&a.truth).unwrap();
    assert_eq!(ja, serde_json::to_string(&b.truth).unwrap());
    // A different seed is a different case.
    let c = generate(&small(6)).unwrap();
    assert_ne!(ja, serde_json::to_string(&c.truth).unwrap());
}

#[test]
fn result_does_not_depend_on_thread_count() {
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| generate(&small(9)).unwrap())
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(one.volume.voxels, two.volume.voxels);
    assert_eq!(
        serde_json::to_string(&one.truth).unwrap(),
        serde_json::to_string(&two.truth).unwrap()
    );
}

#[test]
fn truth_areas_are_in_the_normal_and_severe_ranges() {
    // domain.md: normal lumbar foramina ~90-160 mm²; severe narrowing goes down to
    // ~15 mm². Normal cases: median of all foramina within 90-160 and none closed.
    let mut normal = Vec::new();
    for seed in 0..3 {
        let o = PhantomOptions {
            severity: Severity::Normal,
            ..small(seed)
        };
        for l in generate(&o).unwrap().truth.levels {
            normal.push(l.min_area_mm2.expect("every foramen is crossed by a slice"));
        }
    }
    normal.sort_by(f64::total_cmp);
    let median = normal[normal.len() / 2];
    assert!(
        (90.0..=160.0).contains(&median),
        "median {median}: {normal:?}"
    );
    assert!(
        normal[0] > 40.0,
        "a normal case has a closed foramen: {normal:?}"
    );
    // Severe cases: the narrowest foramen of each case is far below the normal range.
    for seed in 0..3 {
        let o = PhantomOptions {
            severity: Severity::Severe,
            ..small(seed)
        };
        let case = generate(&o).unwrap();
        let min = case
            .truth
            .levels
            .iter()
            .filter_map(|l| l.min_area_mm2)
            .fold(f64::INFINITY, f64::min);
        assert!(min < 50.0, "seed {seed}: narrowest {min}");
        assert!(case.truth.levels.iter().any(|l| l.grade == Grade::Severe));
    }
}

#[test]
fn left_foramina_lie_at_larger_x() {
    let case = generate(&small(3)).unwrap();
    let g = &case.volume.geometry;
    for disc in &case.truth.discs {
        let x_of = |side: Side| {
            let l = case
                .truth
                .levels
                .iter()
                .find(|l| l.level == disc.level && l.side == side)
                .unwrap();
            let k = l.min_area_slice_index.unwrap();
            // x where the slice's centre plane passes the disc centre's (y, z).
            let o = g.slice_origin_mm(k);
            let n = g.normal;
            let c = disc.center_mm;
            c[0] - dot(sub(c, o), n) / n[0]
        };
        let (left, right) = (x_of(Side::Left), x_of(Side::Right));
        assert!(
            left > disc.center_mm[0] + 5.0,
            "{}: left {left}",
            disc.level
        );
        assert!(
            right < disc.center_mm[0] - 5.0,
            "{}: right {right}",
            disc.level
        );
    }
    let json = serde_json::to_value(&case.truth).unwrap();
    assert_eq!(json["levels"][0]["side"], "right");
    assert_eq!(json["levels"][1]["side"], "left");
    assert_eq!(json["schema"], "foramen.truth/1");
}

#[test]
fn voxel_half_inside_a_slab_gets_half_the_contrast() {
    // Fat (value 1000) fills x >= 0; air (0) elsewhere. Sagittal slices 4 mm thick,
    // centred at x = 0, +1, +3, -3 mm: the footprint fractions are 1/2, 3/4, 1, 0.
    let slab = Shape::SuperQuadric {
        frame: Frame::aligned([100.0, 0.0, 0.0]),
        radii_mm: [100.0, 500.0, 500.0],
        exps: [0, 0, 0],
        v_max_mm: f64::INFINITY,
    };
    let anat = Anatomy::test_scene(vec![Prim::new(Tissue::Fat, 50, slab)]);
    let mut values = [0.0f32; anatomy::TISSUE_COUNT];
    values[Tissue::Fat.index()] = 1000.0;
    // row_dir +y, col_dir -z: normal -x, so slice k sits at x = x0 - k * spacing.
    for (x_mm, expected) in [(0.0, 500.0), (1.0, 750.0), (3.0, 1000.0), (-3.0, 0.0)] {
        let g = Geometry::new(
            [x_mm, -5.0, 5.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, -1.0],
            [4.0, 0.5, 0.5],
            4.0,
        )
        .unwrap();
        let v = render_partial_volume(&anat, &g, (1, 4, 4), &values);
        // Midpoint sub-samples at 6 positions through 4 mm resolve a planar boundary to
        // half a position (1/12 of the contrast); allow 1/7.
        for &x in v.iter() {
            assert!(
                (x - expected).abs() <= 1000.0 / 7.0 + 1e-3,
                "x {x_mm}: {x} vs {expected}"
            );
        }
    }
    // Symmetric sub-samples: the half-inside voxel is exactly between its neighbours'
    // extremes, not snapped to 0 or 1000 as point sampling would give.
    let g = Geometry::new(
        [0.3, -5.0, 5.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.0, -1.0],
        [4.0, 0.5, 0.5],
        4.0,
    )
    .unwrap();
    let v = render_partial_volume(&anat, &g, (1, 2, 2), &values);
    assert!(v.iter().all(|&x| x > 300.0 && x < 800.0), "{v:?}");
}

#[test]
fn ct_values_are_hounsfield_units() {
    let o = PhantomOptions {
        modality: Modality::CT,
        ct_noise_hu: Some(0.0),
        ..small(4)
    };
    let case = generate(&o).unwrap();
    let v = &case.volume.voxels;
    let (min, max) = v
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(min >= -1024.0 && max <= 3071.0);
    assert!(
        v.iter().all(|x| x.fract() == 0.0),
        "stored values are integers"
    );
    // Air outside the patient is exactly -1000 HU without noise; bone reaches cortical HU.
    assert!(v.iter().any(|&x| x == -1000.0));
    assert!(max > 500.0, "no bone: max {max}");
    // The middle of the L3 body is cancellous bone, 150-300 HU.
    let l3 = case
        .truth
        .vertebrae
        .iter()
        .find(|v| v.name == "L3")
        .unwrap();
    let idx = case.volume.geometry.lps_to_index(l3.center_mm);
    let at = v[[
        idx[0].round() as usize,
        idx[1].round() as usize,
        idx[2].round() as usize,
    ]];
    assert!((150.0..=300.0).contains(&at), "L3 centre {at} HU");
    assert!(case.mr_timing.is_none());
}

#[test]
fn mr_contrast_follows_the_weighting() {
    use Tissue::*;
    for seed in 0..20 {
        let t1 = sample_contrast(&small(seed), &mut super::stream(seed, 3)).table();
        let at = |t: &[f32; anatomy::TISSUE_COUNT], x: Tissue| t[x.index()];
        // T1: fat > marrow > root > {muscle, disc} > CSF > cortical bone.
        assert!(at(&t1, Fat) > at(&t1, Marrow));
        assert!(at(&t1, Marrow) > at(&t1, Root));
        assert!(at(&t1, Root) > at(&t1, Annulus));
        assert!(at(&t1, Annulus) > at(&t1, Csf) && at(&t1, Muscle) > at(&t1, Csf));
        assert!(at(&t1, Csf) > at(&t1, Cortical));
        let o = PhantomOptions {
            weighting: Weighting::T2,
            ..small(seed)
        };
        let t2 = sample_contrast(&o, &mut super::stream(seed, 3)).table();
        // T2: CSF brightest, nucleus bright, annulus and muscle dark.
        assert!(Tissue::ALL.iter().all(|&x| at(&t2, Csf) >= at(&t2, x)));
        assert!(at(&t2, Nucleus) > at(&t2, Annulus) && at(&t2, Nucleus) > at(&t2, Muscle));
    }
}

#[test]
fn mr_volume_fits_twelve_bits_and_has_timing() {
    let case = generate(&small(2)).unwrap();
    assert!(
        case.volume
            .voxels
            .iter()
            .all(|&x| (0.0..=4095.0).contains(&x) && x.fract() == 0.0)
    );
    let t = case.mr_timing.unwrap();
    assert!(
        t.repetition_time_ms < 800.0 && t.echo_time_ms < 20.0,
        "T1: short TR/TE"
    );
    assert_eq!(case.volume.geometry.plane(), crate::volume::Plane::Sagittal);
    let (ns, nr, nc) = case.volume.shape();
    assert!((11..=21).contains(&ns) && nr == 80 && nc == 80);
    assert!(case.series_description.contains("T1"));
}

#[test]
fn invalid_options_are_errors_not_panics() {
    let bad = [
        PhantomOptions {
            rows: Some(0),
            ..Default::default()
        },
        PhantomOptions {
            columns: Some(100_000),
            ..Default::default()
        },
        PhantomOptions {
            num_slices: Some(0),
            ..Default::default()
        },
        PhantomOptions {
            lumbar_count: 3,
            ..Default::default()
        },
        PhantomOptions {
            snr: 0.0,
            ..Default::default()
        },
        PhantomOptions {
            snr: f64::NAN,
            ..Default::default()
        },
        PhantomOptions {
            pixel_spacing_mm: Some(f64::NAN),
            ..Default::default()
        },
        PhantomOptions {
            slice_thickness_mm: Some(-1.0),
            ..Default::default()
        },
        PhantomOptions {
            slice_thickness_mm: Some(2.0),
            slice_gap_mm: Some(-2.0),
            ..Default::default()
        },
        PhantomOptions {
            plane: PhantomPlane::Axial,
            ..Default::default()
        },
        PhantomOptions {
            truth_step_mm: 0.0,
            ..Default::default()
        },
        PhantomOptions {
            modality: Modality::CT,
            ct_noise_hu: Some(-1.0),
            ..Default::default()
        },
        PhantomOptions {
            rows: Some(2048),
            columns: Some(2048),
            num_slices: Some(2048),
            ..Default::default()
        },
    ];
    for o in bad {
        assert!(generate(&o).is_err(), "{o:?}");
    }
}

#[test]
fn transitional_anatomy_is_named_and_flagged() {
    for (count, names) in [
        (4u8, vec!["L1-L2", "L2-L3", "L3-L4", "L4-S1"]),
        (
            6,
            vec!["L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-L6", "L6-S1"],
        ),
    ] {
        let o = PhantomOptions {
            lumbar_count: count,
            ..small(1)
        };
        let t = generate(&o).unwrap().truth;
        assert!(t.transitional);
        let got: Vec<&str> = t.discs.iter().map(|d| d.level.as_str()).collect();
        assert_eq!(got, names);
        assert_eq!(t.levels.len(), 2 * names.len());
    }
    assert!(!generate(&small(1)).unwrap().truth.transitional);
}

#[test]
fn axial_ct_has_reslice_truth_planes() {
    let o = PhantomOptions {
        modality: Modality::CT,
        plane: PhantomPlane::Axial,
        rows: Some(64),
        columns: Some(96),
        pixel_spacing_mm: Some(2.0),
        slice_thickness_mm: Some(4.0),
        truth_step_mm: 0.2,
        ..Default::default()
    };
    let case = generate(&o).unwrap();
    assert_eq!(case.volume.geometry.plane(), crate::volume::Plane::Axial);
    assert!(case.series_description.starts_with("AX CT"));
    for l in &case.truth.levels {
        let through: Vec<_> = l
            .slice_areas_mm2
            .iter()
            .filter(|s| s.through_foramen)
            .collect();
        // Planes every 2 mm across a foramen 7-17 mm wide (pedicle width).
        assert!(
            through.len() >= 2,
            "{} {:?}: {}",
            l.level,
            l.side,
            through.len()
        );
        assert!(l.min_area_mm2.is_some());
    }
}

#[test]
fn min_area_is_the_minimum_over_through_slices() {
    let case = generate(&small(8)).unwrap();
    for l in &case.truth.levels {
        let min = l
            .slice_areas_mm2
            .iter()
            .filter(|s| s.through_foramen)
            .map(|s| s.area_mm2)
            .fold(f64::INFINITY, f64::min);
        assert_eq!(l.min_area_mm2, Some(min));
        let (h, w) = (l.height_mm.unwrap(), l.width_mm.unwrap());
        // A region of area A fits in its height x width box only if A <= h * (AP extent);
        // the AP extent is at most ~25 mm (envelope depth).
        assert!(h > 0.0 && min <= h * 25.0, "{h} {min}");
        assert!((0.0..25.0).contains(&w));
        assert!(l.posterior_disc_height_mm > 0.5 && l.posterior_disc_height_mm < 15.0);
    }
}

/// Release timing of the reference case (15 slices of 512 × 512); run with
/// `cargo test --release -- --ignored timing`.
#[test]
#[ignore]
fn timing_of_a_15_slice_512_case() {
    let o = PhantomOptions {
        rows: Some(512),
        columns: Some(512),
        num_slices: Some(15),
        ..Default::default()
    };
    let _ = generate(&o).unwrap();
    let t = std::time::Instant::now();
    let n = 5;
    for seed in 0..n {
        generate(&PhantomOptions { seed, ..o.clone() }).unwrap();
    }
    let s = t.elapsed().as_secs_f64() / n as f64;
    println!(
        "mean generation time {s:.3} s ({} threads)",
        rayon::current_num_threads()
    );
    assert!(s < 1.0, "{s} s");
}

/// First seeds (from 0) whose remnant stream draws an S1-S2 remnant and none.
fn remnant_seeds() -> (u64, u64) {
    let has = |seed: u64| {
        RemnantDraw::sample(&mut super::stream(seed, 5))
            .s1_s2
            .is_some()
    };
    let with = (0..20).find(|&s| has(s)).expect("a seed with a remnant");
    let without = (0..20).find(|&s| !has(s)).expect("a seed without");
    (with, without)
}

#[test]
fn sacral_remnant_comes_from_its_own_stream_and_changes_only_the_sacrum() {
    let (with, without) = remnant_seeds();
    let o = small(with);
    let case = generate(&o).unwrap();
    let base = generate_with(&o, &RemnantDraw::NONE, &VariantDraw::NONE).unwrap();
    let remnants = &case.truth.anatomy.sacral_remnants;
    assert_eq!(remnants[0].junction, "S1-S2");
    assert!(base.truth.anatomy.sacral_remnants.is_empty());
    // Same discs, vertebrae and foramina: L5-S1 stays the lowest disc.
    let json = |t: &Truth| {
        [
            serde_json::to_string(&t.levels).unwrap(),
            serde_json::to_string(&t.discs).unwrap(),
            serde_json::to_string(&t.vertebrae).unwrap(),
        ]
    };
    assert_eq!(json(&case.truth), json(&base.truth));
    assert_eq!(case.truth.discs.last().unwrap().level, "L5-S1");
    // The image differs only within a voxel footprint of a remnant and its rim.
    let g = &case.volume.geometry;
    let reach = (2.0 * (0.5 * g.spacing_mm[1]).powi(2) + (0.5 * g.slice_thickness_mm).powi(2))
        .sqrt()
        + anatomy::sacrum::REMNANT_RIM_MM
        + 0.01;
    let mut changed = 0;
    for (idx, (a, b)) in case
        .volume
        .voxels
        .indexed_iter()
        .zip(base.volume.voxels.iter())
        .map(|((i, a), b)| (i, (a, b)))
    {
        if a == b {
            continue;
        }
        changed += 1;
        let p = g.index_to_lps([idx.0 as f64, idx.1 as f64, idx.2 as f64]);
        let near = remnants.iter().any(|r| {
            let [u, v, w] = r.to_local(p);
            w.abs() <= r.thickness_mm / 2.0 + reach
                && u.abs() <= r.half_width_mm + reach
                && v <= r.back_edge_mm + reach
                && v >= -r.half_depth_mm - reach
        });
        assert!(
            near,
            "voxel {idx:?} at {p:?} changed away from the remnants"
        );
    }
    assert!(changed > 0, "the remnant is not in the image");

    // A seed whose stream says no: no remnant, the image of the fully fused sacrum.
    let o = small(without);
    let case = generate(&o).unwrap();
    assert!(case.truth.anatomy.sacral_remnants.is_empty());
    assert_eq!(
        case.volume.voxels,
        generate_with(&o, &RemnantDraw::NONE, &VariantDraw::NONE)
            .unwrap()
            .volume
            .voxels
    );
}

#[test]
fn sacral_remnant_is_bright_on_t2_dark_on_t1_and_soft_tissue_on_ct() {
    let draw = RemnantDraw {
        s1_s2: Some(RemnantSize {
            thickness_mm: 3.0,
            anterior_fraction: 0.8,
        }),
        s2_s3: None,
    };
    let anat = Anatomy::sample(
        &mut super::stream(3, 1),
        Severity::Normal,
        5,
        &draw,
        &VariantDraw::NONE,
    );
    let r = &anat.sacral_remnants[0];
    // One 1 mm sagittal slice through the remnant's centre, 0.25 mm pixels, 20 × 20 mm.
    let (n, px) = (81usize, 0.25);
    let half = (n / 2) as f64 * px;
    let origin = [r.center_mm[0], r.center_mm[1] - half, r.center_mm[2] + half];
    let g = Geometry::new(
        origin,
        [0.0, 1.0, 0.0],
        [0.0, 0.0, -1.0],
        [1.0, px, px],
        1.0,
    )
    .unwrap();
    // The centre of the band, and marrow 4 mm beyond its rim on each side (along its
    // axis, 3 mm in front of its centre to stay clear of the back edge).
    let along = |w: f64| {
        let p = add(r.center_mm, add(scale(r.axis, w), scale(r.posterior, -3.0)));
        let i = g.lps_to_index(p);
        [0, i[1].round() as usize, i[2].round() as usize]
    };
    let off = 1.5 + anatomy::sacrum::REMNANT_RIM_MM + 4.0;
    for (modality, weighting) in [
        (Modality::MR, Weighting::T2),
        (Modality::MR, Weighting::T1),
        (Modality::CT, Weighting::T1),
    ] {
        let o = PhantomOptions {
            modality,
            weighting,
            ..small(3)
        };
        let table = sample_contrast(&o, &mut super::stream(3, 3)).table();
        let img = render_partial_volume(&anat, &g, (1, n, n), &table);
        let at = |w: f64| img[along(w)];
        let (band, above, below) = (at(0.0), at(off), at(-off));
        assert_eq!(band, table[Tissue::Nucleus.index()]);
        assert_eq!(above, table[Tissue::Marrow.index()]);
        assert_eq!(below, table[Tissue::Marrow.index()]);
        let label = format!("{modality:?} {weighting:?}: band {band}, marrow {above}");
        match (modality, weighting) {
            (Modality::MR, Weighting::T2) => assert!(band > 1.3 * above, "{label}"),
            (Modality::MR, _) => assert!(band < 0.8 * above, "{label}"),
            _ => assert!(band < 100.0 && above > 140.0, "{label}"),
        }
    }
}

/// A variant draw giving every foramen `v` (intermediate tissue at blend 0.65).
fn all_foramina(v: anatomy::variant::ForamenVariant) -> VariantDraw {
    VariantDraw {
        soft_blend: 0.65,
        foramina: vec![[v; 2]; 16],
    }
}

const PLAIN: anatomy::variant::ForamenVariant = anatomy::variant::ForamenVariant {
    root_on_pedicle: false,
    fat_poor: None,
    shape: None,
};

#[test]
fn variants_come_from_their_own_stream_and_are_off_by_default() {
    let o = small(8);
    assert!(!o.variants);
    let plain = generate(&o).unwrap();
    assert!(plain.truth.levels.iter().all(|l| l.variant.is_none()));
    let json = serde_json::to_value(&plain.truth).unwrap();
    assert!(json["options"].get("variants").is_none());
    assert!(json["levels"][0].get("variant").is_none());
    // The plain-variant draw changes nothing in the truth but the `variant` tags.
    let tagged = generate_with(
        &o,
        &RemnantDraw::sample(&mut stream(8, 5)),
        &all_foramina(PLAIN),
    )
    .unwrap();
    assert_eq!(tagged.volume.voxels, plain.volume.voxels);
    for (a, b) in tagged.truth.levels.iter().zip(&plain.truth.levels) {
        assert_eq!(a.variant, Some(PLAIN));
        assert_eq!(a.min_area_mm2, b.min_area_mm2);
        assert_eq!(a.fat_fraction, b.fat_fraction);
    }
    // With the option on, the discs and vertebrae stay those of the seed.
    let on = generate(&PhantomOptions {
        variants: true,
        ..small(8)
    })
    .unwrap();
    assert!(on.truth.levels.iter().all(|l| l.variant.is_some()));
    assert_eq!(
        serde_json::to_string(&on.truth.discs).unwrap(),
        serde_json::to_string(&plain.truth.discs).unwrap()
    );
}

#[test]
fn fat_poor_foramina_keep_their_truth_area_and_lose_fat() {
    use anatomy::variant::FatPoor;
    let o = PhantomOptions {
        severity: Severity::Normal,
        ..small(12)
    };
    let remnants = RemnantDraw::NONE;
    let plain = generate_with(&o, &remnants, &all_foramina(PLAIN)).unwrap();
    let poor = generate_with(
        &o,
        &remnants,
        &all_foramina(anatomy::variant::ForamenVariant {
            fat_poor: Some(FatPoor {
                sleeve_mm: 1.2,
                band_fraction: 0.6,
            }),
            ..PLAIN
        }),
    )
    .unwrap();
    for (p, q) in plain.truth.levels.iter().zip(&poor.truth.levels) {
        // Veins / fibrosis count in the foramen (domain.md): the same area.
        let (a, b) = (p.min_area_mm2.unwrap(), q.min_area_mm2.unwrap());
        assert!((a - b).abs() < 1e-9, "{} {:?}: {a} vs {b}", p.level, p.side);
        let (fp, fq) = (p.fat_fraction.unwrap(), q.fat_fraction.unwrap());
        eprintln!("{} {:?}: fat fraction {fp:.2} -> {fq:.2}", p.level, p.side);
        assert!(fq < fp - 0.2, "{} {:?}: {fp} -> {fq}", p.level, p.side);
    }
    // Its signal lies between root and fat.
    let t = poor.truth.contrast.table();
    let (fat, root, soft) = (
        t[Tissue::ForaminalFat.index()],
        t[Tissue::Root.index()],
        t[Tissue::ForaminalSoft.index()],
    );
    assert!((soft - (fat + 0.65 * (root - fat))).abs() < 1e-3);
    assert!(soft < fat && soft > root);
}

#[test]
fn shaped_foramina_take_the_drawn_height_and_area_under_the_pedicle() {
    use anatomy::variant::{ROOF_HIDDEN, ShapeClass, ShapeTarget};
    let o = PhantomOptions {
        severity: Severity::Normal,
        ..small(14)
    };
    for (class, h) in [
        (ShapeClass::Oval, 12.0),
        (ShapeClass::Teardrop, 15.0),
        (ShapeClass::InvertedU, 13.0),
    ] {
        let width = 9.0;
        let case = generate_with(
            &o,
            &RemnantDraw::NONE,
            &all_foramina(anatomy::variant::ForamenVariant {
                shape: Some(ShapeTarget {
                    class,
                    height_mm: h,
                    width_mm: width,
                }),
                ..PLAIN
            }),
        )
        .unwrap();
        // The oval's visible part: an ellipse of half-axes W/2 and H/(1-0.15)/2 less
        // its top 15 % (a segment cut 0.7 semi-axes from the centre: (acos 0.7 -
        // 0.7·sqrt(0.51)) / π = 9.4 % of it).
        let b = 0.5 * h / (1.0 - ROOF_HIDDEN);
        // The cut's distance from the centre, in semi-axes.
        let x = 1.0 - 2.0 * ROOF_HIDDEN;
        let segment = (x.acos() - x * (1.0 - x * x).sqrt()) / std::f64::consts::PI;
        let oval_area = std::f64::consts::PI * 0.5 * width * b * (1.0 - segment);
        let (mut on_height, mut on_area) = (0, 0);
        for l in &case.truth.levels {
            let th = l.height_mm.unwrap();
            // Bone may carve it (lower), nothing makes it taller.
            assert!(th <= h + 0.5, "{class:?} {} {:?}: {th}", l.level, l.side);
            // The teardrop's narrow tail is shaved by the disc and the articular process.
            let tol = if class == ShapeClass::Teardrop {
                1.5
            } else {
                0.5
            };
            on_height += ((th - h).abs() <= tol) as usize;
            let a = l.min_area_mm2.unwrap();
            on_area += ((a / oval_area - 1.0).abs() < 0.05) as usize;
        }
        assert!(
            on_height >= 7,
            "{class:?}: {on_height}/10 at the drawn height"
        );
        if class == ShapeClass::Oval {
            assert!(on_area >= 7, "{on_area}/10 near {oval_area:.1} mm2");
        }
    }
}

#[test]
fn root_on_pedicle_leaves_no_fat_above_the_root_in_the_truth() {
    let o = PhantomOptions {
        severity: Severity::Normal,
        ..small(16)
    };
    let on = generate_with(
        &o,
        &RemnantDraw::NONE,
        &all_foramina(anatomy::variant::ForamenVariant {
            root_on_pedicle: true,
            ..PLAIN
        }),
    )
    .unwrap();
    let plain = generate_with(&o, &RemnantDraw::NONE, &all_foramina(PLAIN)).unwrap();
    let superior = |c: &PhantomCase| {
        c.truth
            .levels
            .iter()
            .filter(|l| l.fat_obliteration.is_some_and(|f| f.superior))
            .count()
    };
    // Fat above the root is obliterated on the min-area plane of (nearly) every
    // foramen with the variant, of (nearly) none without it.
    assert!(superior(&on) >= 9, "{}", superior(&on));
    assert!(superior(&plain) <= 1, "{}", superior(&plain));
}

#[test]
fn thick_slices_blur_the_pedicle_margin_across_the_slice() {
    // Bone = 1000, everything else 0; one sagittal slice whose normal is the L4
    // vertebra's u axis, centred on the medial margin of its right pedicle (a flat
    // face of the box-like pedicle) at the pedicle's centre (v, w).
    let anat = Anatomy::sample(
        &mut super::stream(4, 1),
        Severity::Normal,
        5,
        &RemnantDraw::NONE,
        &VariantDraw::NONE,
    );
    let l4 = anat.vertebrae.iter().find(|v| v.name == "L4").unwrap();
    let p = l4.pedicles[Side::Right.index()];
    let mut values = [0.0f32; anatomy::TISSUE_COUNT];
    values[Tissue::Cortical.index()] = 1000.0;
    values[Tissue::Marrow.index()] = 1000.0;
    let at = |offset_mm: f64, thickness: f64| {
        // Toward the canal (medially) is +u on the right side.
        let u = p.centre_u_mm + p.half_width_mm + offset_mm;
        let c = l4.frame.to_world([u, p.centre_v_mm, p.centre_w_mm]);
        let (row, col) = (l4.frame.axes[1], scale(l4.frame.axes[2], -1.0));
        let origin = sub(c, add(scale(row, 0.25), scale(col, 0.25)));
        let g = Geometry::new(origin, row, col, [thickness, 0.5, 0.5], thickness).unwrap();
        let v = render_partial_volume(&anat, &g, (1, 2, 2), &values);
        v.iter().map(|&x| x as f64).sum::<f64>() / 4.0
    };
    // Thin slice: bone on one side of the margin, none on the other.
    assert!(at(-1.0, 0.5) > 990.0 && at(1.0, 0.5) < 10.0);
    // 5 mm slab centred on the margin: half bone; shifted 1.25 mm: a quarter / three
    // quarters (to within the 1/8 of a through-slice sample and the pedicle's curvature).
    assert!((at(0.0, 5.0) - 500.0).abs() < 100.0, "{}", at(0.0, 5.0));
    assert!((at(-1.25, 5.0) - 750.0).abs() < 100.0, "{}", at(-1.25, 5.0));
    assert!((at(1.25, 5.0) - 250.0).abs() < 100.0, "{}", at(1.25, 5.0));
}

#[test]
fn t2_renders_fat_and_csf_bright_and_the_root_dark() {
    for seed in 0..6 {
        let anat = Anatomy::sample(
            &mut super::stream(seed, 1),
            Severity::Normal,
            5,
            &RemnantDraw::NONE,
            &VariantDraw::NONE,
        );
        let o = PhantomOptions {
            weighting: Weighting::T2,
            ..small(seed)
        };
        let values = sample_contrast(&o, &mut super::stream(seed, 3)).table();
        // A 1 mm slice, 0.25 mm pixels, around a point: the voxel there.
        let render_at = |c: crate::volume::geometry::Vec3| {
            let g = Geometry::new(
                sub(c, [0.0, 0.125, -0.125]),
                [0.0, 1.0, 0.0],
                [0.0, 0.0, -1.0],
                [1.0, 0.25, 0.25],
                1.0,
            )
            .unwrap();
            let v = render_partial_volume(&anat, &g, (1, 2, 2), &values);
            v.iter().map(|&x| x as f64).sum::<f64>() / 4.0
        };
        let level = anat.levels.iter().find(|l| l.name == "L3-L4").unwrap();
        let f = &level.foramina.as_ref().unwrap()[Side::Left.index()];
        // The root where it crosses the middle of the foramen.
        let [a, b] = f.root_axis;
        let mid = scale(add(f.axis[0], f.axis[1]), 0.5);
        let n = level.frame.axes[0];
        let t = dot(sub(mid, a), n) / dot(sub(b, a), n);
        let root_c = add(a, scale(sub(b, a), t));
        let up = level.frame.axes[2];
        let fat_c = add(root_c, scale(up, -(f.root_radius_mm + 2.0)));
        let l3 = &anat.vertebrae[level.upper];
        let csf_c = l3
            .frame
            .to_world([0.0, l3.v_post_mm + 0.5 * l3.canal_depth_mm, 0.0]);
        assert_eq!(anat.label(root_c), Tissue::Root);
        assert_eq!(anat.label(fat_c), Tissue::ForaminalFat);
        assert_eq!(anat.label(csf_c), Tissue::Csf);
        let (root, fat, csf) = (render_at(root_c), render_at(fat_c), render_at(csf_c));
        assert!(
            fat > 1.5 * root && csf > 2.4 * root,
            "seed {seed}: root {root} fat {fat} csf {csf}"
        );
    }
}

#[test]
fn reference_shapes_apply_only_to_normal_and_mild_foramina() {
    use anatomy::PathologyClass;
    use anatomy::variant::{ShapeClass, ShapeTarget};
    let o = PhantomOptions {
        severity: Severity::Severe,
        ..small(3)
    };
    let case = generate_with(
        &o,
        &RemnantDraw::NONE,
        &all_foramina(anatomy::variant::ForamenVariant {
            shape: Some(ShapeTarget {
                class: ShapeClass::Oval,
                height_mm: 15.0,
                width_mm: 9.0,
            }),
            ..PLAIN
        }),
    )
    .unwrap();
    let mut narrowed = 0;
    for l in &case.truth.levels {
        let shaped = l.variant.unwrap().shape.is_some();
        assert_eq!(
            shaped,
            l.pathology.class <= PathologyClass::Mild,
            "{}",
            l.level
        );
        narrowed += !shaped as usize;
    }
    assert!(narrowed >= 2, "a severe case has narrowed foramina");
}
