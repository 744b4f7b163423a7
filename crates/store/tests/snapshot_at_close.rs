//! sled 0.34 writes the snapshot of its page table only while it opens a database. A store
//! that appended many events opens its database once more when it closes, so that the
//! snapshot covers what it wrote and the next command's open has nothing to replay; a store
//! that appended fewer leaves the snapshot to the next open.

use std::path::Path;
use vasooli_store::{NewCommit, NewEvent, Store, StoreOptions};

/// The name of the newest finished snapshot in the log's directory (`snap.` and the log
/// position it covers, in hexadecimal digits of a fixed width, so names sort by position),
/// if there is one (a new database has none until an open finds something to replay).
fn newest_snapshot(dir: &Path) -> Option<String> {
    std::fs::read_dir(dir.join("log"))
        .expect("the log's directory")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.starts_with("snap.") && !name.ends_with(".generating"))
        .max()
}

/// Opens the store in `dir`, appends `events` events on ten streams, closes it, and
/// returns the newest snapshot before and after the close.
fn append_and_close(
    dir: &Path,
    snapshot_after_events: u64,
    events: usize,
) -> (Option<String>, Option<String>) {
    let options = StoreOptions {
        snapshot_after_events,
        ..StoreOptions::default()
    };
    let store = Store::open_with(dir, options).expect("open");
    for commit in 0..events / 100 {
        let batch = (0..100)
            .map(|i| {
                let n = commit * 100 + i;
                NewEvent::new(format!("s{}", n % 10), "T", vec![7; 40], 0)
            })
            .collect();
        store.append(NewCommit::new(batch)).expect("append");
    }
    let before = newest_snapshot(dir);
    drop(store);
    (before, newest_snapshot(dir))
}

#[test]
fn a_store_that_appended_many_events_leaves_a_snapshot_covering_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (before, after) = append_and_close(dir.path(), 1_000, 5_000);
    assert!(after > before, "{after:?} should be newer than {before:?}");
    // The next open finds nothing to replay, so it writes no newer snapshot; and the log
    // is whole.
    let store = Store::open(dir.path()).expect("open again");
    assert_eq!(store.last_position(), 5_000);
    assert_eq!(store.read_stream("s3").expect("read").len(), 500);
    assert_eq!(newest_snapshot(dir.path()), after);
}

#[test]
fn a_store_that_appended_fewer_leaves_the_snapshot_to_the_next_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (before, after) = append_and_close(dir.path(), 1_000_000, 5_000);
    assert_eq!(after, before);
    let store = Store::open(dir.path()).expect("open again");
    assert_eq!(store.last_position(), 5_000);
    assert!(
        newest_snapshot(dir.path()) > before,
        "the open replays and snapshots"
    );
}
