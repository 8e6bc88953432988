//! Foramen accuracy on generated phantoms (issue 5's phantom criteria).
//!
//! `cargo run --release --example eval_phantoms -- [--cases N] [--first-case I] [--first-seed S] [--by-position] [-v]`
//!
//! Cases from 40 on (`--first-case 40`) have the foramen variants of issue 18 item 4;
//! `--variants-off` runs the same cases without them (same anatomy otherwise).
//!
//! See `foramen::phantom::eval` for the cases and the criteria. `--by-position`
//! compares each truth foramen with the one found at its disc's position (labelling
//! errors aside); `-v` prints every foramen.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|s| s.parse::<u64>().ok())
    };
    let cases = arg("--cases").unwrap_or(40) as usize;
    let first_case = arg("--first-case").unwrap_or(0) as usize;
    let first = arg("--first-seed").unwrap_or(5000);
    let by_position = args.iter().any(|a| a == "--by-position");
    let verbose = args.iter().any(|a| a == "-v");
    let variants_off = args.iter().any(|a| a == "--variants-off");
    let opts: Vec<_> = (first_case..first_case + cases)
        .map(|i| {
            let mut o = foramen::phantom::eval::case_options(first, i);
            o.variants &= !variants_off;
            (i, o)
        })
        .collect();
    let s = foramen::phantom::eval::evaluate_options(&opts, by_position, verbose);
    for l in &s.lines {
        println!("{l}");
    }
    println!();
    println!(
        "matched {}",
        if by_position {
            "by disc position"
        } else {
            "by level name (end to end)"
        }
    );
    println!("{}", s.report());
}
