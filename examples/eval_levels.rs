//! Level-labelling accuracy on generated phantoms (issue 4's and 17's phantom
//! criterion): every non-transitional disc right, every transitional case warned.
//!
//! `cargo run --release --example eval_levels -- [CASES] [FIRST_SEED]`
//! (`EVAL_VERBOSE=1` also lists truth and found discs of failing cases). The scoring is
//! `foramen::phantom::eval_levels`; `tests/levels_suite.rs` runs a part of it in CI.

use foramen::phantom::eval_levels::evaluate_levels;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cases: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(48);
    let first: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let verbose = std::env::var_os("EVAL_VERBOSE").is_some();
    print!("{}", evaluate_levels(cases, first, verbose).report());
}
