//! Dependency edges are design decisions: each crate may depend only on the
//! Haven crates below it (core ← crypto ← store ← server ← cli).

use std::path::Path;

const LAYERS: [&str; 14] = [
    "haven-core",
    "haven-codes",
    "haven-safeguards",
    "haven-deid",
    "haven-crypto",
    "haven-fhir",
    "haven-policy",
    "haven-store",
    "haven-audit",
    "haven-detect",
    "haven-agent",
    "haven-web",
    "haven-server",
    "haven-cli",
];

/// The `haven-*` crates named in a manifest's `[dependencies]` section.
fn haven_dependencies(manifest: &str) -> Vec<String> {
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some(name) = line.split(['=', '.', ' ']).next().filter(|n| n.starts_with("haven-")) {
            out.push(name.to_string());
        }
    }
    out
}

#[test]
fn crates_depend_only_downwards() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut seen = 0;
    for entry in std::fs::read_dir(crates).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let Some(level) = LAYERS.iter().position(|l| *l == name) else {
            panic!("crate {name} has no place in the layering; add it to LAYERS (and ARCHITECTURE.md)");
        };
        seen += 1;
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        for dep in haven_dependencies(&manifest) {
            let dep_level = LAYERS
                .iter()
                .position(|l| *l == dep)
                .unwrap_or_else(|| panic!("{name} depends on {dep}, which has no place in LAYERS"));
            assert!(dep_level < level, "{name} must not depend on {dep}: dependencies point down only");
        }
    }
    assert_eq!(seen, LAYERS.len());
    assert_eq!(
        haven_dependencies("[dependencies]\nhaven-core.workspace = true\n[dev-dependencies]\nhaven-cli = 1"),
        ["haven-core"]
    );
}
