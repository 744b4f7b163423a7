//! When the writer checkpoints stream heads on its own (not on `flush` or close): after
//! enough events, or after enough distinct streams, whichever comes first.

use vasooli_store::{
    NewCommit, NewEvent, Store, CHECKPOINT_EVERY_EVENTS, CHECKPOINT_EVERY_STREAMS, LOG_TREE,
};

const PER_COMMIT: usize = 10_000;

/// Appends events number `events`, event `i` on the stream `s{i % streams}`, in commits of
/// [`PER_COMMIT`].
fn append(store: &Store, events: std::ops::Range<usize>, streams: usize) {
    let mut i = events.start;
    while i < events.end {
        let n = PER_COMMIT.min(events.end - i);
        let batch = (i..i + n)
            .map(|j| NewEvent::new(format!("s{}", j % streams), "T", vec![1, 2, 3], 0))
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

#[test]
fn many_streams_are_checkpointed_before_the_events_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let streams = CHECKPOINT_EVERY_STREAMS + PER_COMMIT;
    assert!((streams as u64) < CHECKPOINT_EVERY_EVENTS);
    // Just under the bound: nothing checkpointed yet.
    append(&store, 0..CHECKPOINT_EVERY_STREAMS - PER_COMMIT, streams);
    assert_eq!(checkpointed(&store), (false, 0));
    // The group that takes the touched streams past the bound writes their heads.
    append(
        &store,
        CHECKPOINT_EVERY_STREAMS - PER_COMMIT..CHECKPOINT_EVERY_STREAMS + PER_COMMIT,
        streams,
    );
    let (marker, heads) = checkpointed(&store);
    assert!(marker, "no checkpoint after {streams} streams");
    assert_eq!(heads, CHECKPOINT_EVERY_STREAMS);
    // Reopened, the heads give every stream its version and events.
    drop(store);
    let store = Store::open(dir.path()).expect("reopen");
    assert_eq!(store.stream_version("s0"), Some(1));
    assert_eq!(store.read_stream("s7").expect("read").len(), 1);
}

#[test]
fn few_streams_are_not_checkpointed_before_the_events_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    // Many more events than the streams bound, over a few streams: no checkpoint yet,
    // since each would rewrite the same few heads.
    append(&store, 0..2 * CHECKPOINT_EVERY_STREAMS, 1_000);
    assert_eq!(checkpointed(&store), (false, 0));
    store.flush().expect("flush");
    assert_eq!(checkpointed(&store), (true, 1_000));
    assert_eq!(
        store.stream_version("s999"),
        Some((2 * CHECKPOINT_EVERY_STREAMS / 1_000) as u64)
    );
}
