//! The checked-in fixtures are exactly what `foramen phantom` generates from the
//! arguments in fixtures/fixtures.json, so they can never drift from the generator.

mod common;

use std::path::Path;

#[test]
fn fixtures_regenerate_byte_for_byte() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/phantom");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("fixtures.json")).unwrap()).unwrap();
    let fixtures = manifest["fixtures"].as_object().unwrap();
    assert!(fixtures.len() >= 2);
    for (name, args) in fixtures {
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join(name);
        let mut argv = vec![
            "-q".to_string(),
            "phantom".into(),
            "--out".into(),
            dir.to_string_lossy().into_owned(),
        ];
        argv.extend(
            args.as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string()),
        );
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let run = common::foramen(&argv);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let fresh = common::files_under(&dir);
        let checked_in = common::files_under(&root.join(name));
        let rel = |v: &[std::path::PathBuf], base: &Path| -> Vec<String> {
            v.iter()
                .map(|p| p.strip_prefix(base).unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            rel(&fresh, &dir),
            rel(&checked_in, &root.join(name)),
            "{name}: file lists differ"
        );
        for (a, b) in fresh.iter().zip(&checked_in) {
            assert!(
                std::fs::read(a).unwrap() == std::fs::read(b).unwrap(),
                "{name}: {} differs from the generator's output",
                b.display()
            );
        }
    }
}
