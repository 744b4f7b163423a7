//! Replays every committed fuzz corpus file and crasher (`fuzz/corpus/<target>/`,
//! `fuzz/seeds/<target>/`, `fuzz/artifacts/<target>/`) through the same checks the fuzz
//! targets run, so a regression shows under a plain `cargo test`. Included by the domain's and
//! the store's `fuzz_corpus` tests, each with its own crate's targets.

use std::path::Path;

/// A target's check: panics when the input breaks a property.
pub type Check = fn(&[u8]);

/// Runs every file of each target through its check; a target with no files fails too.
pub fn replay(targets: &[(&str, Check)]) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for (target, check) in targets {
        let mut replayed = 0;
        for dir in ["corpus", "seeds", "artifacts"] {
            let Ok(entries) = std::fs::read_dir(fuzz.join(dir).join(target)) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("a directory entry").path();
                let bytes = std::fs::read(&path).expect("a corpus file reads");
                let outcome = std::panic::catch_unwind(|| check(&bytes));
                assert!(
                    outcome.is_ok(),
                    "{target}: {} fails its checks",
                    path.display()
                );
                replayed += 1;
            }
        }
        assert!(
            replayed > 0,
            "{target}: no corpus files under {}",
            fuzz.display()
        );
    }
}
