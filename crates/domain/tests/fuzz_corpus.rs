//! Replays every committed fuzz corpus file and crasher (`fuzz/corpus/<target>/`,
//! `fuzz/seeds/<target>/`, `fuzz/artifacts/<target>/`) through the same checks the fuzz
//! targets run, so a regression shows under a plain `cargo test`.

use std::path::Path;
use vasooli_domain::fuzzing;

type Check = fn(&[u8]);

const TARGETS: &[(&str, Check)] = &[
    ("import_csv", fuzzing::import_csv_any),
    ("json_commands", fuzzing::json_commands),
    ("policy_toml", fuzzing::policy_toml),
    ("event_codec", fuzzing::event_codec),
    ("journal", fuzzing::journal_bytes),
];

#[test]
fn every_corpus_file_passes_its_target_checks() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for (target, check) in TARGETS {
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
