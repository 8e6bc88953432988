//! Records the git commit the binary was built from (for report provenance), when the
//! source is a git checkout and git is available; otherwise nothing.

use std::process::Command;

fn main() {
    for p in [
        ".git/HEAD",
        ".git/index",
        ".git/packed-refs",
        ".git/refs/heads",
    ] {
        if std::path::Path::new(p).exists() {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    if let Some(commit) = run(&["rev-parse", "--short=12", "HEAD"]).filter(|c| !c.is_empty()) {
        let dirty =
            run(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
        let suffix = if dirty { "-modified" } else { "" };
        println!("cargo:rustc-env=FORAMEN_GIT_COMMIT={commit}{suffix}");
    }
}
