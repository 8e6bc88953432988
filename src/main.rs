//! The `foramen` command-line tool: argument parsing and orchestration only; all work is
//! done by the library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
