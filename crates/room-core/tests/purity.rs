//! room-core stays pure (DESIGN.md, STYLE.md 1): no I/O, no clock, no runtime.
//! The dependency list and the sources are checked, so a change that breaks
//! the contract fails `cargo test -p room-core` rather than a later review.

use std::fs;
use std::path::Path;

/// The only crates room-core may depend on outside tests.
const ALLOWED: [&str; 3] = ["serde", "serde_json", "thiserror"];

/// Paths that would bring time, I/O, threads, randomness or a runtime into the core.
const FORBIDDEN: [&str; 11] = [
    "std::time",
    "Instant::now",
    "SystemTime",
    "std::fs",
    "std::net",
    "std::io",
    "std::thread",
    "std::env",
    "tokio",
    "rand::",
    "std::process",
];

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn room_core_depends_only_on_serde_serde_json_and_thiserror() {
    let manifest = fs::read_to_string(manifest_dir().join("Cargo.toml")).expect("read Cargo.toml");
    let mut section = String::new();
    let mut normal_deps = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_owned();
            continue;
        }
        let is_normal = section == "[dependencies]"
            || section.starts_with("[target.") && section.ends_with(".dependencies]");
        if is_normal && let Some((name, _)) = line.split_once('=') {
            normal_deps.push(name.trim().trim_end_matches(".workspace").to_owned());
        }
    }
    for dep in &normal_deps {
        assert!(
            ALLOWED.contains(&dep.as_str()),
            "room-core must stay pure, but depends on {dep}"
        );
    }
    assert!(
        !normal_deps.is_empty(),
        "no [dependencies] found: the check is broken"
    );
}

#[test]
fn room_core_sources_use_no_clock_io_or_runtime() {
    let mut stack = vec![manifest_dir().join("src")];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = fs::read_to_string(&path).expect("read source");
            files += 1;
            for word in FORBIDDEN {
                assert!(!text.contains(word), "{} uses {word}", path.display());
            }
        }
    }
    assert!(files > 5, "found only {files} source files: the check is broken");
}
