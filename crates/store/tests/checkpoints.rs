//! When the writer checkpoints stream heads: on its own after enough events however many
//! streams they touch, and on `flush`; that a checkpoint of more blocks of heads than one
//! sled batch takes (written a slice at a time) gives every stream its events back; and
//! that a block's chunk lists, added to at every checkpoint, are merged.

use vasooli_store::{NewCommit, NewEvent, Store, StoreOptions, HEAD_BLOCK_STREAMS, LOG_TREE};

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

/// Whether the log holds the heads' marker, and how many blocks of stream heads.
fn checkpointed(store: &Store) -> (bool, usize) {
    let tree = store.raw_db().open_tree(LOG_TREE).expect("tree");
    let marker = tree.get(b"Mheads").expect("get").is_some();
    (marker, tree.scan_prefix(b"H").count())
}

/// Blocks holding the heads of `streams` streams.
fn blocks(streams: usize) -> usize {
    streams.div_ceil(HEAD_BLOCK_STREAMS as usize)
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
    // The group that takes the events to the bound writes every head touched, in blocks,
    // more of them than one of the checkpoint's batches holds.
    append(&store, bound - PER_COMMIT..bound, streams);
    assert_eq!(checkpointed(&store), (true, blocks(streams)));
    // Reopened, the heads give every stream its version and events.
    drop(store);
    let store = Store::open(dir.path()).expect("reopen");
    for k in [0, 1, 127, 128, 4095, 4096, 4097, 150_000, streams - 1] {
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
    assert_eq!(checkpointed(&store), (true, blocks(1_000)));
    assert_eq!(store.stream_version("s999"), Some(500));
}

#[test]
fn a_flush_checkpoints_heads_in_slices_and_later_chunks_join_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    // More blocks of heads than one of the checkpoint's batches holds (4,096 entries, a
    // block taking three or more).
    let streams = 300_007;
    {
        let store = Store::open(dir.path()).expect("open");
        // Two slices of blocks, written by the flush; then more chunks for every stream,
        // joined to the same blocks by the checkpoint on close.
        append(&store, 0..streams, streams);
        store.flush().expect("flush");
        assert_eq!(checkpointed(&store), (true, blocks(streams)));
        append(&store, streams..2 * streams + 500, streams);
    }
    let store = Store::open(dir.path()).expect("reopen");
    for k in [
        0,
        1,
        127,
        128,
        499,
        500,
        4096,
        131_072,
        299_999,
        streams - 1,
    ] {
        assert_stream(&store, k, streams, 2 * streams + 500);
    }
    assert_eq!(store.stream_version("s499"), Some(3));
    assert_eq!(store.stream_version("s500"), Some(2));
    let report = store.verify().expect("verify");
    assert!(report.is_ok(), "{report:?}");
}

#[test]
fn a_block_checkpointed_many_times_has_its_chunk_lists_merged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let streams = 300;
    let rounds = 30;
    let lists = |store: &Store| {
        let tree = store.raw_db().open_tree(LOG_TREE).expect("tree");
        tree.scan_prefix(b"L").count()
    };
    let mut most = 0;
    {
        let store = Store::open(dir.path()).expect("open");
        // Each flush checkpoints the three blocks again with a chunk list each.
        for round in 0..rounds {
            append(&store, round * streams..(round + 1) * streams, streams);
            store.flush().expect("flush");
            most = most.max(lists(&store));
            assert_stream(&store, 7, streams, (round + 1) * streams);
        }
    }
    // Merged along the way: never more than nine entries a block (eight, and the one a
    // checkpoint adds before merging them at the next).
    assert!(most <= 9 * blocks(streams), "{most} chunk list entries");
    assert!(
        most > blocks(streams),
        "the blocks never had more than one list"
    );
    let store = Store::open(dir.path()).expect("reopen");
    for k in [0, 7, 127, 128, 255, 256, streams - 1] {
        assert_stream(&store, k, streams, rounds * streams);
    }
    assert_eq!(store.stream_version("s7"), Some(rounds as u64));
    let report = store.verify().expect("verify");
    assert!(report.is_ok(), "{report:?}");
}
