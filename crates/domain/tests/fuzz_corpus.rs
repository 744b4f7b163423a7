//! The domain's fuzz targets' corpora and crashers, replayed through their checks.

#[path = "../../../tests/common/fuzz_replay.rs"]
mod fuzz_replay;

use vasooli_domain::fuzzing;

#[test]
fn every_corpus_file_passes_its_target_checks() {
    fuzz_replay::replay(&[
        ("import_csv", fuzzing::import_csv_any),
        ("json_commands", fuzzing::json_commands),
        ("policy_toml", fuzzing::policy_toml),
        ("event_codec", fuzzing::event_codec),
        ("journal", fuzzing::journal_bytes),
    ]);
}
