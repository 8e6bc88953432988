//! Rough per-stage timing of level localisation on a 15×512×512 MR T1 phantom
//! (`cargo run --release --example profile_levels`).

use std::time::Instant;

use foramen::phantom::{PhantomOptions, generate};
use foramen::spine::canonical::canonical_stack;
use foramen::spine::discs::{DiscParams, disc_responses, normalised_planes};
use rayon::prelude::*;

fn main() {
    let opts = PhantomOptions::reference_mr_t1_15x512();
    let v = generate(&opts).unwrap().volume;
    let params = DiscParams::default();
    for _ in 0..3 {
        let t = Instant::now();
        let stack = canonical_stack(&v, 1.5, 2.0).unwrap().slabs(3.0);
        let t1 = t.elapsed();
        let planes = normalised_planes(&stack, false, params.bias_sigma_mm);
        let t2 = t.elapsed();
        let resp: Vec<_> = planes
            .par_iter()
            .map(|p| disc_responses(p, 1.5, &params))
            .collect();
        let t3 = t.elapsed();
        let full =
            foramen::spine::levels::localize(&v, foramen::spine::discs::DiscContrast::Darker)
                .unwrap();
        let t4 = t.elapsed();
        println!(
            "resample {:?}, normalise {:?}, responses {:?}, whole localize {:?} ({} planes, {} discs)",
            t1,
            t2 - t1,
            t3 - t2,
            t4 - t3,
            resp.len(),
            full.0.localization.discs.len()
        );
    }
}
