//! The machines stay pure: no runtime, no clock, no sockets, no ports' calls.

const FORBIDDEN: &[&str] = &[
    "tokio",
    "Instant::now",
    "SystemTime",
    "std::net",
    "std::fs",
    "async fn",
    ".await",
    "metrics::",
];

/// Modules of this crate that do I/O (split so this list is no import of them).
const DRIVERS: &[&str] = &["outbox", "room_task", "engine", "session", "tasks", "disk_store"];

#[test]
fn the_machines_use_no_runtime_clock_or_io() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/machine");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("src/machine is readable") {
        let path = entry.expect("a directory entry").path();
        // Tests may read the clock to have a starting point.
        if path
            .file_name()
            .is_some_and(|name| name == "purity.rs" || name.to_string_lossy().ends_with("_tests.rs"))
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a source file");
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for word in FORBIDDEN {
                assert!(
                    !code.contains(word),
                    "{}:{}: `{word}` in a pure machine: {line}",
                    path.display(),
                    number + 1
                );
            }
        }
        for module in DRIVERS {
            let import = format!("crate::{module}");
            assert!(
                !text.contains(&import),
                "{}: a pure machine uses `{import}`",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 2, "found the machines' sources");
}
