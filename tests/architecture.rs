//! The architecture's invariants that a machine can check (docs/ARCHITECTURE.md): which crate
//! may depend on which, that only the store names sled, that the pure crates do no I/O, that
//! only the two codecs name bincode, and that the repository carries its own reference (no
//! file points to documents outside it). Each check reads the workspace's own manifests,
//! sources and files, so a change that breaks an invariant fails here before review.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The workspace root (this test file lives in `tests/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every member crate: its directory name and its `[dependencies]` (not dev-dependencies).
fn crates() -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(root().join("crates")).expect("crates/") {
        let dir = entry.expect("an entry").path();
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).expect("a manifest");
        let manifest: toml::Table = manifest.parse().expect("the manifest parses");
        let deps = manifest
            .get("dependencies")
            .and_then(|d| d.as_table())
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        out.insert(name, deps);
    }
    out
}

/// The Rust sources of a crate's `src/`, with their paths.
fn sources(krate: &str) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![root().join("crates").join(krate).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("a source dir") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = fs::read_to_string(&path).expect("a source");
                out.push((path, text));
            }
        }
    }
    out
}

#[test]
fn the_workspace_has_the_crates_the_architecture_names() {
    let names: Vec<String> = crates().into_keys().collect();
    for expected in [
        "cli",
        "demo",
        "domain",
        "engine",
        "projections",
        "render",
        "server",
        "sms",
        "store",
    ] {
        assert!(
            names.contains(&expected.to_string()),
            "{expected} missing from {names:?}"
        );
    }
}

/// Architecture Invariant: only the store depends on sled: no other crate lists it among its
/// dependencies or names it in code (`sled::`, `use sled`) in its sources.
#[test]
fn no_crate_but_the_store_depends_on_sled() {
    for (name, deps) in crates() {
        if name == "store" {
            continue;
        }
        assert!(
            !deps.contains(&"sled".to_string()),
            "{name} depends on sled"
        );
        for (path, text) in sources(&name) {
            for usage in ["sled::", "use sled", "extern crate sled"] {
                assert!(
                    !text.contains(usage),
                    "{} names sled in code (`{usage}`)",
                    path.display()
                );
            }
        }
    }
    assert!(crates()["store"].contains(&"sled".to_string()));
}

/// Architecture Invariant: dependencies point one way. Each crate may depend only on the
/// workspace crates listed for it.
#[test]
fn workspace_dependencies_point_one_way() {
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("domain", &[][..]),
        ("store", &[][..]),
        ("projections", &["vasooli-domain"][..]),
        (
            "engine",
            &["vasooli-domain", "vasooli-projections", "vasooli-store"][..],
        ),
        ("render", &["vasooli-domain", "vasooli-projections"][..]),
        (
            "demo",
            &[
                "vasooli-domain",
                "vasooli-engine",
                "vasooli-projections",
                "vasooli-store",
            ][..],
        ),
        (
            "sms",
            &["vasooli-domain", "vasooli-engine", "vasooli-projections"][..],
        ),
        ("cluster", &["vasooli-store"][..]),
    ]);
    for (name, deps) in crates() {
        let Some(allowed) = allowed.get(name.as_str()) else {
            continue; // the adapters (server, cli) may use any library crate
        };
        for dep in deps.iter().filter(|d| d.starts_with("vasooli-")) {
            assert!(allowed.contains(&dep.as_str()), "{name} depends on {dep}");
        }
    }
    // No library crate depends on an adapter.
    for (name, deps) in crates() {
        if name != "cli" {
            assert!(
                !deps.contains(&"vasooli-cli".to_string()),
                "{name} depends on the cli"
            );
        }
        if !["cli", "server"].contains(&name.as_str()) {
            assert!(
                !deps.contains(&"vasooli-server".to_string()),
                "{name} depends on the server"
            );
        }
    }
}

/// Architecture Invariant: the domain and the read models do no I/O. Their manifests name no
/// crate that does I/O, and their sources touch no file, socket, environment or clock.
#[test]
fn the_pure_crates_do_no_io() {
    let io_crates = [
        "sled",
        "tokio",
        "axum",
        "reqwest",
        "hyper",
        "mio",
        "tower",
        "tower-http",
    ];
    let io_calls = [
        "std::fs",
        "std::net",
        "std::env",
        "std::process",
        "SystemTime",
        "Instant::now",
        "Utc::now",
        "Local::now",
        "stdin()",
        "stdout()",
    ];
    for krate in ["domain", "projections"] {
        for dep in &crates()[krate] {
            assert!(
                !io_crates.contains(&dep.as_str()),
                "{krate} depends on {dep}"
            );
        }
        for (path, text) in sources(krate) {
            for call in io_calls {
                assert!(!text.contains(call), "{} uses {call}", path.display());
            }
        }
    }
}

/// Architecture Invariant: only the two codecs (the domain's events, the store's envelopes)
/// name bincode, so another codec can replace it behind a new format version. Only the
/// domain's and the store's manifests list it.
#[test]
fn only_the_codecs_name_bincode() {
    for (name, deps) in crates() {
        let listed = deps.contains(&"bincode".to_string());
        assert_eq!(
            listed,
            name == "domain" || name == "store",
            "{name}: bincode listed: {listed}"
        );
    }
    for (name, _) in crates() {
        for (path, text) in sources(&name) {
            let codec =
                path.ends_with("domain/src/codec.rs") || path.ends_with("store/src/codec.rs");
            if !codec {
                assert!(
                    !text.contains("bincode"),
                    "{} names bincode",
                    path.display()
                );
            }
        }
    }
}

/// The files of the repository, as paths relative to its root: what git tracks plus new files
/// it does not ignore, or, outside a git checkout, every file but those under `target/`,
/// `.git/` and the default data directory `vasooli-data/`.
fn repository_files() -> Vec<PathBuf> {
    let listed = std::process::Command::new("git")
        .arg("-C")
        .arg(root())
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output();
    if let Ok(output) = listed {
        if output.status.success() && !output.stdout.is_empty() {
            return output
                .stdout
                .split(|b| *b == 0)
                .filter(|p| !p.is_empty())
                .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
                .filter(|p| root().join(p).is_file())
                .collect();
        }
    }
    let mut out = Vec::new();
    let mut dirs = vec![PathBuf::new()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(root().join(&dir)).expect("a directory") {
            let entry = entry.expect("an entry");
            let relative = dir.join(entry.file_name());
            let skipped = ["target", ".git", "vasooli-data"]
                .iter()
                .any(|s| relative == Path::new(s));
            if skipped {
                continue;
            }
            if entry.path().is_dir() {
                dirs.push(relative);
            } else {
                out.push(relative);
            }
        }
    }
    out
}

/// Architecture Invariant: the repository carries its own reference. No file points to the
/// documents of an outside specification (a shared specification directory and its domain,
/// interface and style files); the rules, interfaces and style are written down in `docs/` in
/// the project's own words. The names are assembled here so that this file does not match
/// itself.
#[test]
fn no_file_points_outside_the_repository() {
    let names: Vec<String> = [
        ["shared", "/spec"],
        ["DOMAIN", ".md"],
        ["INTERFACES", ".md"],
        ["STYLE", ".md"],
    ]
    .iter()
    .map(|parts| parts.concat())
    .collect();
    let files = repository_files();
    assert!(
        files.iter().any(|f| f == Path::new("README.md")),
        "the file list misses README.md: {} files",
        files.len()
    );
    let mut found = Vec::new();
    for file in &files {
        let Ok(bytes) = fs::read(root().join(file)) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        for name in &names {
            for (index, line) in text.lines().enumerate() {
                if line.contains(name.as_str()) {
                    found.push(format!("{}:{}: {name}", file.display(), index + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "files point outside the repository:\n{}",
        found.join("\n")
    );
}

/// The code map of docs/ARCHITECTURE.md names every crate of the workspace.
#[test]
fn the_code_map_names_every_crate() {
    let map = fs::read_to_string(root().join("docs/ARCHITECTURE.md")).expect("the architecture");
    for name in crates().into_keys() {
        assert!(
            map.contains(&format!("`crates/{name}`")),
            "docs/ARCHITECTURE.md does not map crates/{name}"
        );
    }
}
