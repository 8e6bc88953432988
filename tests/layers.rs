//! Data flows one way: input readers → volume → analysis → grading → report → driver →
//! runners. This test reads every library source file and fails when a top-level
//! module imports one of a higher stage (a backward import) or one it is not allowed to
//! know about, so a cycle between top-level modules cannot come back.

use std::collections::BTreeMap;
use std::path::Path;

/// Top-level library modules by stage: a module may use modules of its own stage or a
/// lower one. The phantom is a leaf: only the binary (src/cli, src/main.rs) and the
/// phantom itself may use it.
const STAGES: &[(&str, u8)] = &[
    ("atomic_file", 0),
    ("volume", 0),
    ("imageops", 0),
    ("dicom", 1),
    ("series", 2),
    ("volume_file", 3),
    ("selection", 3),
    ("spine", 4),
    ("grading", 5),
    ("report", 6),
    ("pipeline", 7),
    ("cohort", 8),
    ("serve", 8),
    ("fuzz_harness", 9),
    ("phantom", 10),
];

fn stage(module: &str) -> Option<u8> {
    STAGES.iter().find(|(m, _)| *m == module).map(|(_, s)| *s)
}

/// Every `crate::<module>` named in the code of a source text (comment lines left out:
/// a doc comment may say where data goes next).
fn crate_refs(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .flat_map(|l| [l, "\n"])
        .collect();
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.push(name);
        }
        rest = after;
    }
    out
}

fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_string())
}

#[test]
fn no_module_imports_a_later_stage() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut seen_modules = 0;
    for entry in walkdir::WalkDir::new(&src) {
        let entry = entry.expect("readable src tree");
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let Some(module) = top_module(&src, path) else {
            continue;
        };
        // The binary and the crate root sit above every stage.
        if matches!(module.as_str(), "cli" | "main" | "lib") {
            continue;
        }
        let own = stage(&module).unwrap_or_else(|| {
            panic!("src/{module}: a new top-level module needs a stage in tests/layers.rs")
        });
        seen_modules += 1;
        let text = std::fs::read_to_string(path).expect("readable source");
        for used in crate_refs(&text) {
            // Items of the crate root (DISCLAIMER, UIDs) are shared constants.
            let Some(theirs) = stage(&used) else { continue };
            let leaf_breach = used == "phantom" && module != "phantom";
            if theirs > own || leaf_breach {
                violations
                    .entry(format!("{}", path.strip_prefix(&src).unwrap().display()))
                    .or_default()
                    .push(format!(
                        "{module} (stage {own}) uses {used} (stage {theirs})"
                    ));
            }
        }
    }
    assert!(
        seen_modules > 20,
        "too few source files read: {seen_modules}"
    );
    assert!(
        violations.is_empty(),
        "backward imports:\n{}",
        violations
            .iter()
            .map(|(f, v)| format!("  {f}: {}", v.join("; ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_reference_scanner_sees_what_it_must() {
    // The check must be able to fail: a later-stage reference is found.
    let refs = crate_refs("use crate::report::Report;\nlet m = crate::pipeline::measure;");
    assert_eq!(refs, ["report", "pipeline"]);
    assert!(crate_refs("/// see [`crate::pipeline`]\n//! crate::cohort").is_empty());
    assert!(stage("report") > stage("spine"));
    assert!(crate_refs("use super::x; let y = crate_like::z;").is_empty());
}
