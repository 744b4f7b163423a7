//! When the writer checkpoints stream heads: on its own after enough events however many
//! streams they touch, and on `flush`; and that a checkpoint of more heads than one sled
//! batch takes (written a slice at a time) gives every stream its events back.

use vasooli_store::{NewCommit, NewEvent, Store, StoreOptions, LOG_TREE};

const PER_COMMIT: usize = 10_000;

/// Appends events number `events`, event `i` on the stream `s{i % streams}`, in commits of
/// [`PER_COMMIT`].
fn append(store: &Store, events: std::ops::Range<usize>, streams: usize) {
    let mut i = events.start;
    while i < events.end {
        let n = PER_COMMIT.min(events.end - i);
        let batch = (i..i + n)
            .map(|j| {
                let payload = (j as u64).to_le_bytes().to_vec();
                NewEvent::new(format!("s{}", j % streams), "T", payload, 0)
            })
            .collect();
        store.append(NewCommit::new(batch)).expect("append");
        i += n;
    }
}

/// Whether the log holds a checkpoint marker and how many stream heads it holds.
fn checkpointed(store: &Store) -> (bool, usize) {
    let tree = store.raw_db().open_tree(LOG_TREE).expect("tree");
    let marker = tree.get(b"Mcheckpoint").expect("get").is_some();
    (marker, tree.scan_prefix(b"S").count())
}

/// Stream `s{k}` holds events `k`, `k + streams`, ... below `events`, at versions 1, 2, ...
fn assert_stream(store: &Store, k: usize, streams: usize, events: usize) {
    let stream = format!("s{k}");
    let got: Vec<(u64, u64)> = store
        .read_stream(&stream)
        .expect("read")
        .iter()
        .map(|e| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&e.payload);
            (e.stream_version, u64::from_le_bytes(b))
        })
        .collect();
    let want: Vec<(u64, u64)> = (k..events)
        .step_by(streams)
        .enumerate()
        .map(|(v, j)| (v as u64 + 1, j as u64))
        .collect();
    assert_eq!(got, want, "stream {stream}");
}

#[test]
fn many_streams_are_checkpointed_at_the_events_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A bound below the default's, which would take a minute to reach here.
    let bound = 2_000_000;
    let options = StoreOptions {
        checkpoint_every_events: bound as u64,
        ..StoreOptions::default()
    };
    let store = Store::open_with(dir.path(), options).expect("open");
    // More streams than a checkpoint's sled batch holds many times over.
    let streams = 300_000;
    append(&store, 0..bound - PER_COMMIT, streams);
    assert_eq!(checkpointed(&store), (false, 0));
    // The group that takes the events to the bound writes every head touched.
    append(&store, bound - PER_COMMIT..bound, streams);
    assert_eq!(checkpointed(&store), (true, streams));
    // Reopened, the heads give every stream its version and events.
    drop(store);
    let store = Store::open(dir.path()).expect("reopen");
    for k in [0, 1, 4095, 4096, 4097, 150_000, streams - 1] {
        assert_stream(&store, k, streams, bound);
    }
    // s0 holds events 0, 300,000, ..., 1,800,000; the last stream one fewer.
    assert_eq!(store.stream_version("s0"), Some(7));
    assert_eq!(store.stream_version("s299999"), Some(6));
}

#[test]
fn few_streams_are_not_checkpointed_before_the_events_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    // Many events over a few streams: no checkpoint yet, since each would rewrite the
    // same few heads.
    append(&store, 0..500_000, 1_000);
    assert_eq!(checkpointed(&store), (false, 0));
    store.flush().expect("flush");
    assert_eq!(checkpointed(&store), (true, 1_000));
    assert_eq!(store.stream_version("s999"), Some(500));
}

#[test]
fn a_flush_checkpoints_heads_in_slices_and_later_chunks_join_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let streams = 10_007;
    {
        let store = Store::open(dir.path()).expect("open");
        // Three slices of heads, written by the flush; then more chunks for every stream,
        // merged into the same heads by the checkpoint on close.
        append(&store, 0..30_000, streams);
        store.flush().expect("flush");
        assert_eq!(checkpointed(&store), (true, streams));
        append(&store, 30_000..50_000, streams);
    }
    let store = Store::open(dir.path()).expect("reopen");
    for k in [0, 1, 4095, 4096, 8191, 8192, streams - 1] {
        assert_stream(&store, k, streams, 50_000);
    }
    let report = store.verify().expect("verify");
    assert!(report.is_ok(), "{report:?}");
}
