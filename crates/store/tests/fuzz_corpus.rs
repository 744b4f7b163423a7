//! The store's fuzz targets' corpora and crashers, replayed through their checks.

#[path = "../../../tests/common/fuzz_replay.rs"]
mod fuzz_replay;

use vasooli_store::fuzzing;

#[test]
fn every_corpus_file_passes_its_target_checks() {
    fuzz_replay::replay(&[
        ("store_chunk", fuzzing::chunk),
        ("checkpoint", fuzzing::checkpoint),
    ]);
}
