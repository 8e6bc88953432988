//! Foramen accuracy on generated phantoms (issue 5's phantom criteria).
//!
//! `cargo run --release --example eval_phantoms -- [--cases N] [--first-seed S] [--by-position] [-v]`
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
    let first = arg("--first-seed").unwrap_or(5000);
    let by_position = args.iter().any(|a| a == "--by-position");
    let verbose = args.iter().any(|a| a == "-v");
    let s = foramen::phantom::eval::evaluate(cases, first, by_position, verbose);
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
