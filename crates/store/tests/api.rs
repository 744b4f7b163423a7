//! Behavioural tests of the public store API.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use vasooli_store::{
    payload_hash, ExpectedVersion, NewCommit, NewEvent, RecordedEvent, Store, StoreError,
    StoreOptions, CHUNK_EVENTS_MAX, COMMIT_EVENTS_MAX, LOG_TREE,
};

fn ev(stream: &str, ty: &str, payload: &str) -> NewEvent {
    NewEvent::new(stream, ty, payload.as_bytes().to_vec(), 1_700_000_000_000)
}

fn read_all(store: &Store, from: u64) -> Vec<RecordedEvent> {
    store
        .read_all(from)
        .collect::<Result<Vec<_>, _>>()
        .expect("read_all")
}

#[test]
fn round_trip_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let commits = vec![
        vec![ev("acct-1", "Billed", "b1"), ev("acct-2", "Billed", "b2")],
        vec![ev("acct-1", "Paid", "p1")],
        vec![
            ev("acct-3", "Billed", "b3"),
            ev("acct-1", "Disconnected", "d1"),
            ev("acct-3", "Paid", ""),
        ],
    ];
    let mut expected = Vec::new();
    {
        let store = Store::open(dir.path()).expect("open");
        assert_eq!(store.last_position(), 0);
        assert_eq!(store.stream_version("acct-1"), None);
        let mut versions = std::collections::HashMap::new();
        for events in &commits {
            let r = store
                .append(NewCommit::new(events.clone()))
                .expect("append");
            assert_eq!(r.appended, events.len());
            assert_eq!(r.last_position - r.first_position + 1, events.len() as u64);
            for (i, e) in events.iter().enumerate() {
                let v = versions.entry(e.stream.clone()).or_insert(0u64);
                *v += 1;
                expected.push(RecordedEvent {
                    position: r.first_position + i as u64,
                    stream: e.stream.clone(),
                    stream_version: *v,
                    event_type: e.event_type.clone(),
                    payload: e.payload.clone(),
                    recorded_at_ms: e.recorded_at_ms,
                });
            }
        }
        assert_eq!(read_all(&store, 0), expected);
        assert_eq!(store.last_position(), 6);
    }
    let store = Store::open(dir.path()).expect("reopen");
    assert_eq!(store.last_position(), 6);
    assert_eq!(store.stream_version("acct-1"), Some(3));
    assert_eq!(store.stream_version("acct-2"), Some(1));
    assert_eq!(store.stream_version("acct-3"), Some(2));
    assert_eq!(store.stream_version("nope"), None);
    assert_eq!(read_all(&store, 0), expected);
    assert_eq!(read_all(&store, 4), expected[3..].to_vec());
    assert!(read_all(&store, 7).is_empty());
    let acct1: Vec<_> = expected
        .iter()
        .filter(|e| e.stream == "acct-1")
        .cloned()
        .collect();
    assert_eq!(store.read_stream("acct-1").expect("read_stream"), acct1);
    assert!(store.read_stream("nope").expect("read_stream").is_empty());
    // Appending continues the numbering after reopen.
    let r = store
        .append(NewCommit::new(vec![ev("acct-2", "Paid", "p2")]))
        .expect("append");
    assert_eq!((r.first_position, r.last_position), (7, 7));
    assert_eq!(store.stream_version("acct-2"), Some(2));
    let report = store.verify().expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(
        (report.commits, report.events, report.last_position),
        (4, 7, 7)
    );
}

#[test]
fn read_stream_across_checkpoints_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut expected_a = Vec::new();
    for round in 0..3 {
        let store = Store::open(dir.path()).expect("open");
        for i in 0..5 {
            let payload = format!("r{round} i{i}");
            let r = store
                .append(NewCommit::new(vec![
                    ev("a", "T", &payload),
                    ev("b", "T", &payload),
                ]))
                .expect("append");
            expected_a.push((r.first_position, payload));
            if i == 2 {
                // Checkpoint in the middle: heads move from memory into sled.
                store.flush().expect("flush");
            }
        }
        let got: Vec<_> = store
            .read_stream("a")
            .expect("read_stream")
            .into_iter()
            .map(|e| (e.position, String::from_utf8(e.payload).expect("utf8")))
            .collect();
        assert_eq!(got, expected_a);
        let versions: Vec<u64> = store
            .read_stream("b")
            .expect("read_stream")
            .iter()
            .map(|e| e.stream_version)
            .collect();
        assert_eq!(versions, (1..=expected_a.len() as u64).collect::<Vec<_>>());
    }
}

#[test]
fn expected_version_race_has_exactly_one_winner() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    const THREADS: usize = 8;
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = store.clone();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let expected = if t % 2 == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Exact(0)
                };
                barrier.wait();
                store.append(
                    NewCommit::new(vec![ev("race", "Opened", &format!("t{t}"))])
                        .expect("race", expected),
                )
            })
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("join"))
        .collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    for r in results.iter().filter(|r| r.is_err()) {
        assert!(
            matches!(
                r,
                Err(StoreError::WrongExpectedVersion { stream, actual: Some(1), .. }) if stream == "race"
            ),
            "{r:?}"
        );
    }
    assert_eq!(store.stream_version("race"), Some(1));

    // Rounds of racing Exact(n): each round exactly one thread advances the stream.
    const ROUNDS: u64 = 15;
    for round in 1..=ROUNDS {
        let barrier = Arc::new(Barrier::new(4));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let store = store.clone();
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    barrier.wait();
                    store.append(
                        NewCommit::new(vec![ev("race", "Step", &format!("{round}/{t}"))])
                            .expect("race", ExpectedVersion::Exact(round)),
                    )
                })
            })
            .collect();
        let oks = handles
            .into_iter()
            .map(|h| h.join().expect("join"))
            .filter(|r| r.is_ok())
            .count();
        assert_eq!(oks, 1, "round {round}");
        assert_eq!(store.stream_version("race"), Some(round + 1));
    }
    assert_eq!(store.last_position(), ROUNDS + 1);
    // An expectation on another stream is checked too, and failure writes nothing.
    let err = store
        .append(
            NewCommit::new(vec![ev("race", "Step", "x")])
                .expect("race", ExpectedVersion::Any)
                .expect("other", ExpectedVersion::Exact(3)),
        )
        .expect_err("must fail");
    assert!(matches!(
        err,
        StoreError::WrongExpectedVersion { actual: None, .. }
    ));
    assert_eq!(store.last_position(), ROUNDS + 1);
}

#[test]
fn concurrent_appends_are_gap_free() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            thread::spawn(move || {
                for i in 0..50 {
                    let n = 1 + (i % 3);
                    let events = (0..n)
                        .map(|k| ev(&format!("s{t}"), "E", &format!("{t}-{i}-{k}")))
                        .collect();
                    store.append(NewCommit::new(events)).expect("append");
                }
            })
        })
        .collect();
    // verify and read_all see consistent snapshots while appends are in flight.
    while !handles.iter().all(|h| h.is_finished()) {
        let report = store.verify().expect("verify");
        assert!(report.is_ok(), "{report:?}");
        let n = read_all(&store, 1).len() as u64;
        assert!(n >= report.last_position);
    }
    for h in handles {
        h.join().expect("join");
    }
    let all = read_all(&store, 1);
    assert_eq!(all.len() as u64, store.last_position());
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.position, i as u64 + 1);
    }
    for t in 0..4 {
        let s = store.read_stream(&format!("s{t}")).expect("read_stream");
        let versions: Vec<u64> = s.iter().map(|e| e.stream_version).collect();
        assert_eq!(versions, (1..=s.len() as u64).collect::<Vec<_>>());
    }
    assert!(store.verify().expect("verify").is_ok());
}

/// A key whose content hash is the payload's own (`payload_hash`, as the engine hashes its
/// events) is stored without it: it still answers lookups with that hash, dedupes the same
/// event and refuses other content, also once read back from disk; a key whose hash is
/// anything else keeps it.
#[test]
fn keys_hashed_by_their_payload_keep_their_hash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let own = |payload: &str, key: &str| {
        ev("acct-5", "Paid", payload).with_key("payment", key, payload_hash(payload.as_bytes()))
    };
    {
        let store = Store::open(dir.path()).expect("open");
        let r = store
            .append(NewCommit::new(vec![
                own("p1", "TXN-1"),
                ev("acct-5", "Paid", "p2").with_key("payment", "TXN-2", 7),
            ]))
            .expect("append");
        assert_eq!(r.appended, 2);
        store.flush().expect("flush");
    }
    let store = Store::open(dir.path()).expect("reopen");
    let entry = store
        .lookup_key("payment", "TXN-1")
        .expect("lookup")
        .expect("present");
    assert_eq!(
        (entry.content_hash, entry.position),
        (payload_hash(b"p1"), 1)
    );
    let entry = store
        .lookup_key("payment", "TXN-2")
        .expect("lookup")
        .expect("present");
    assert_eq!((entry.content_hash, entry.position), (7, 2));
    let r = store
        .append(NewCommit::new(vec![own("p1", "TXN-1")]))
        .expect("duplicate");
    assert_eq!((r.appended, r.duplicates), (0, 1));
    let err = store
        .append(NewCommit::new(vec![own("p1 changed", "TXN-1")]))
        .expect_err("conflict");
    assert!(matches!(err, StoreError::KeyConflict { .. }), "{err:?}");
    // The hash the payload tells is not taken for one handed in that differs.
    let err = store
        .append(NewCommit::new(vec![ev("acct-5", "Paid", "p2").with_key(
            "payment",
            "TXN-2",
            payload_hash(b"p2"),
        )]))
        .expect_err("conflict");
    assert!(matches!(err, StoreError::KeyConflict { .. }), "{err:?}");
    assert_eq!(store.last_position(), 2);
    assert!(store.verify().expect("verify").is_ok());
}

#[test]
fn natural_keys_dedupe_and_conflict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let keyed = |payload: &str, key: &str, hash: u64| {
        ev("acct-9", "Paid", payload).with_key("payment", key, hash)
    };

    let r = store
        .append(NewCommit::new(vec![keyed("p1", "TXN-1", 11)]))
        .expect("first");
    assert_eq!((r.appended, r.duplicates, r.first_position), (1, 0, 1));
    let entry = store
        .lookup_key("payment", "TXN-1")
        .expect("lookup")
        .expect("present");
    assert_eq!(
        (entry.content_hash, entry.stream.as_str(), entry.position),
        (11, "acct-9", 1)
    );
    assert_eq!(store.lookup_key("payment", "TXN-2").expect("lookup"), None);
    assert_eq!(store.lookup_key("other-ns", "TXN-1").expect("lookup"), None);

    // Same key, same hash: skipped.
    let r = store
        .append(NewCommit::new(vec![keyed("p1 again", "TXN-1", 11)]))
        .expect("duplicate");
    assert_eq!((r.appended, r.duplicates), (0, 1));
    assert_eq!((r.first_position, r.last_position), (1, 1));
    assert_eq!(store.last_position(), 1);

    // Same key, different hash: the whole commit is rejected.
    let err = store
        .append(NewCommit::new(vec![
            ev("acct-9", "Billed", "unrelated"),
            keyed("p1 changed", "TXN-1", 12),
        ]))
        .expect_err("conflict");
    assert!(
        matches!(&err, StoreError::KeyConflict { namespace, key } if namespace == "payment" && key == "TXN-1"),
        "{err:?}"
    );
    assert_eq!(store.last_position(), 1);
    assert_eq!(store.stream_version("acct-9"), Some(1));

    // Within one commit: same hash twice -> second skipped; mixed with an existing duplicate.
    let r = store
        .append(NewCommit::new(vec![
            keyed("p2", "TXN-2", 22),
            keyed("p2 dup", "TXN-2", 22),
            keyed("p1 dup", "TXN-1", 11),
            ev("acct-9", "Note", "n"),
        ]))
        .expect("in-commit dup");
    assert_eq!((r.appended, r.duplicates), (2, 2));
    assert_eq!((r.first_position, r.last_position), (2, 3));
    // Within one commit: different hashes -> conflict, nothing written.
    let err = store
        .append(NewCommit::new(vec![
            keyed("p3", "TXN-3", 33),
            keyed("p3 other", "TXN-3", 34),
        ]))
        .expect_err("in-commit conflict");
    assert!(matches!(err, StoreError::KeyConflict { .. }));
    assert_eq!(store.last_position(), 3);
    assert_eq!(store.lookup_key("payment", "TXN-3").expect("lookup"), None);

    // Namespaces are length-prefixed: ("ab","c") and ("a","bc") are distinct keys.
    store
        .append(NewCommit::new(vec![
            ev("x", "T", "1").with_key("ab", "c", 1)
        ]))
        .expect("ab/c");
    let r = store
        .append(NewCommit::new(vec![
            ev("x", "T", "2").with_key("a", "bc", 2)
        ]))
        .expect("a/bc");
    assert_eq!(r.appended, 1);

    // Concurrent duplicates in flight: exactly one is appended.
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let store = store.clone();
            thread::spawn(move || {
                store
                    .append(NewCommit::new(vec![
                        ev("acct-9", "Paid", "p4").with_key("payment", "TXN-4", 44)
                    ]))
                    .expect("append")
            })
        })
        .collect();
    let appended: usize = handles
        .into_iter()
        .map(|h| h.join().expect("join").appended)
        .sum();
    assert_eq!(appended, 1);

    // The key index is durable.
    drop(store);
    let store = Store::open(dir.path()).expect("reopen");
    let r = store
        .append(NewCommit::new(vec![keyed("p2 again", "TXN-2", 22)]))
        .expect("dup after reopen");
    assert_eq!((r.appended, r.duplicates), (0, 1));
    assert!(matches!(
        store.append(NewCommit::new(vec![keyed("x", "TXN-2", 23)])),
        Err(StoreError::KeyConflict { .. })
    ));
    assert!(store.verify().expect("verify").is_ok());
}

/// Keys beyond the memtable go to sorted runs, which merge as they accumulate;
/// lookups, duplicates, conflicts, reopening and `verify` all see the same keys.
#[test]
fn natural_keys_in_runs_behave_like_keys_in_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions {
        key_memtable_entries: 1_000,
        ..StoreOptions::default()
    };
    let store = Store::open_with(dir.path(), options).expect("open");
    let keyed = |n: u64, hash: u64| {
        ev(&format!("acct-{}", n % 97), "Paid", &format!("payment {n}")).with_key(
            "receipt",
            format!("R-{n}"),
            hash,
        )
    };
    // 26 commits of 1,000 keys (one unkeyed event in each): 26 memtable flushes, and
    // merges of every 4 runs of a level into one of the next.
    for commit in 0..26u64 {
        let mut events: Vec<_> = (0..1_000).map(|i| keyed(commit * 1_000 + i, i)).collect();
        events.push(ev("notes", "Note", "unkeyed"));
        let r = store.append(NewCommit::new(events)).expect("append");
        assert_eq!((r.appended, r.duplicates), (1_001, 0));
    }
    // The writer writes a full memtable after answering; a flush queues behind that.
    store.flush().expect("flush");
    let stats = store.key_index_stats();
    // 26 = 16 + 4 + 4 + 1 + 1: one run of level 2, two of level 1, two of level 0.
    assert_eq!((stats.runs, stats.run_entries), (5, 26_000), "{stats:?}");
    assert_eq!(stats.memtable_entries, 0);
    let position_of = |n: u64| n + n / 1_000 + 1;
    let check = |store: &Store| {
        for n in (0..26_000u64).step_by(37).chain([0, 999, 1_000, 25_999]) {
            let entry = store
                .lookup_key("receipt", &format!("R-{n}"))
                .expect("lookup")
                .unwrap_or_else(|| panic!("R-{n} recorded"));
            assert_eq!(entry.position, position_of(n), "R-{n}");
            assert_eq!(entry.content_hash, n % 1_000);
            assert_eq!(entry.stream, format!("acct-{}", n % 97));
        }
        for missing in ["R-26000", "R-", "R-00", "r-1"] {
            assert_eq!(store.lookup_key("receipt", missing).expect("lookup"), None);
        }
        assert_eq!(store.lookup_key("bill", "R-5").expect("lookup"), None);
    };
    check(&store);
    // Repeats of keys held in runs: skipped with the same hash, refused with another.
    let r = store
        .append(NewCommit::new(
            (0..26_000)
                .step_by(100)
                .map(|n| keyed(n, n % 1_000))
                .collect(),
        ))
        .expect("duplicates");
    assert_eq!((r.appended, r.duplicates), (0, 260));
    let last = store.last_position();
    assert!(matches!(
        store.append(NewCommit::new(vec![keyed(26_001, 1), keyed(5_005, 6)])),
        Err(StoreError::KeyConflict { key, .. }) if key == "R-5005"
    ));
    assert_eq!(store.last_position(), last);
    assert!(store.verify().expect("verify").is_ok());

    // Reopened: the runs come back from sled, the keys after them from the log.
    drop(store);
    let store = Store::open_with(dir.path(), options).expect("reopen");
    assert_eq!(store.key_index_stats(), stats);
    check(&store);
    // And with the default memtable, which never writes a run in this test.
    drop(store);
    let store = Store::open(dir.path()).expect("reopen with defaults");
    check(&store);
    let report = store.verify().expect("verify");
    assert!(report.is_ok(), "{report:?}");

    // Not one sled key per natural key: a few hundred blocks of runs.
    let tree = store.raw_db().open_tree(LOG_TREE).expect("tree");
    assert_eq!(tree.scan_prefix(b"K").count(), 0);
    let blocks = tree.scan_prefix(b"I").count();
    assert!((100..=200).contains(&blocks), "{blocks} blocks");

    // A damaged block is reported by verify and by a lookup that needs it.
    let (key, value) = tree
        .scan_prefix(b"I")
        .nth(blocks / 2)
        .expect("a block")
        .expect("read");
    let mut bad = value.to_vec();
    let at = bad.len() - 3;
    bad[at] ^= 0x10;
    tree.insert(&key, bad).expect("damage");
    let report = store.verify().expect("verify");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.reason.contains("key index run")),
        "{report:?}"
    );
    tree.insert(&key, value).expect("repair");
    assert!(store.verify().expect("verify").is_ok());

    // Blocks of a run the manifest does not list (a crash while writing one) are
    // removed on open and change nothing.
    let mut orphan = vec![b'I'];
    orphan.extend_from_slice(&u64::MAX.to_be_bytes()[..7]);
    orphan.extend_from_slice(&[0xfe, 0, 0, 0, 0]);
    tree.insert(&orphan, b"not a block".to_vec())
        .expect("orphan");
    drop(tree);
    drop(store);
    let store = Store::open_with(dir.path(), options).expect("reopen");
    let tree = store.raw_db().open_tree(LOG_TREE).expect("tree");
    assert_eq!(tree.get(&orphan).expect("get"), None);
    check(&store);
    assert!(store.verify().expect("verify").is_ok());

    // A block damaged while the store was closed: the index is rebuilt from the keys the
    // log holds, and the store opens and answers as before.
    let (key, value) = tree
        .scan_prefix(b"I")
        .nth(7)
        .expect("a block")
        .expect("read");
    let mut bad = value.to_vec();
    bad[6] ^= 0x01;
    tree.insert(&key, bad).expect("damage");
    drop(tree);
    drop(store);
    let store = Store::open_with(dir.path(), options).expect("opens despite the damage");
    let stats = store.key_index_stats();
    assert_eq!(
        stats.run_entries + stats.memtable_entries as u64,
        26_000,
        "{stats:?}"
    );
    check(&store);
    let report = store.verify().expect("verify");
    assert!(report.is_ok(), "{report:?}");
}

/// The position up to which the index's runs hold every key follows the log, also when
/// few or no events have keys, so that opening the store never re-reads more of the log
/// than the tail after the last checkpoint.
#[test]
fn the_key_index_keeps_up_with_a_log_of_few_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    for i in 0..5 {
        store
            .append(NewCommit::new(vec![ev("a", "T", &format!("{i}"))]))
            .expect("append");
    }
    store.flush().expect("flush");
    let stats = store.key_index_stats();
    assert_eq!((stats.runs, stats.covered), (0, 5), "{stats:?}");
    store
        .append(NewCommit::new(vec![
            ev("a", "T", "keyed").with_key("ns", "k", 1)
        ]))
        .expect("append");
    drop(store);
    let store = Store::open(dir.path()).expect("reopen");
    let stats = store.key_index_stats();
    assert_eq!((stats.runs, stats.run_entries, stats.covered), (1, 1, 6));
    assert_eq!(stats.memtable_entries, 0);
    assert_eq!(
        store
            .lookup_key("ns", "k")
            .expect("lookup")
            .map(|e| e.position),
        Some(6)
    );
}

#[test]
fn multi_chunk_commit_is_atomic_and_complete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = CHUNK_EVENTS_MAX * 2 + 123;
    {
        let store = Store::open(dir.path()).expect("open");
        store
            .append(NewCommit::new(vec![ev("pre", "T", "before")]))
            .expect("append");
        let events: Vec<_> = (0..n)
            .map(|i| {
                ev(
                    &format!("c{}", i % 7),
                    "Imported",
                    &format!("event {i} of {n}"),
                )
            })
            .collect();
        let r = store.append(NewCommit::new(events)).expect("big append");
        assert_eq!((r.first_position, r.last_position), (2, n as u64 + 1));
        // A failing big commit writes nothing at all.
        let mut events: Vec<_> = (0..n)
            .map(|i| ev("c0", "Imported", &format!("rejected {i}")))
            .collect();
        events.push(ev("c0", "Imported", "k").with_key("ns", "k", 1));
        events.push(ev("c0", "Imported", "k").with_key("ns", "k", 2));
        assert!(store.append(NewCommit::new(events)).is_err());
        assert_eq!(store.last_position(), n as u64 + 1);
    }
    let store = Store::open(dir.path()).expect("reopen");
    let all = read_all(&store, 2);
    assert_eq!(all.len(), n);
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.position, i as u64 + 2);
        assert_eq!(e.payload, format!("event {i} of {n}").into_bytes());
    }
    // Reading from the middle of a chunk starts at exactly that position.
    let mid = CHUNK_EVENTS_MAX as u64 + 17;
    assert_eq!(
        store
            .read_all(mid)
            .next()
            .expect("some")
            .expect("ok")
            .position,
        mid
    );
    let c3 = store.read_stream("c3").expect("read_stream");
    assert_eq!(c3.len(), (0..n).filter(|i| i % 7 == 3).count());
    let report = store.verify().expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!((report.commits, report.events), (2, n as u64 + 1));
}

#[test]
fn oversized_commit_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let events = vec![ev("s", "T", ""); COMMIT_EVENTS_MAX + 1];
    assert!(matches!(
        store.append(NewCommit::new(events)),
        Err(StoreError::LimitExceeded { .. })
    ));
    let long = "x".repeat(vasooli_store::NAME_BYTES_MAX + 1);
    assert!(matches!(
        store.append(NewCommit::new(vec![ev(&long, "T", "")])),
        Err(StoreError::LimitExceeded { .. })
    ));
    assert_eq!(store.last_position(), 0);
}

/// Key and value of the log chunk starting at `position` (layout: `C` + big-endian position).
fn chunk_entry(store: &Store, position: u64) -> (sled::IVec, sled::IVec) {
    let tree = store.raw_db().open_tree(LOG_TREE).expect("tree");
    let mut key = vec![b'C'];
    key.extend_from_slice(&position.to_be_bytes());
    let value = tree.get(&key).expect("get").expect("chunk present");
    (key.into(), value)
}

#[test]
fn corruption_is_reported_not_panicked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let first = store
        .append(NewCommit::new(vec![
            ev("a", "T", "one"),
            ev("b", "T", "two"),
        ]))
        .expect("append");
    let second = store
        .append(NewCommit::new(vec![
            ev("a", "T", "three"),
            ev("a", "T", "four"),
        ]))
        .expect("append");
    store
        .append(NewCommit::new(vec![ev("c", "T", "five")]))
        .expect("append");
    assert!(store.verify().expect("verify").is_ok());

    let tree = store.raw_db().open_tree(LOG_TREE).expect("tree");
    let (key, good) = chunk_entry(&store, second.first_position);
    let mut bad = good.to_vec();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x5a;
    tree.insert(&key, bad).expect("corrupt");

    let report = store.verify().expect("verify");
    assert_eq!(
        report.problems.first().map(|p| p.position),
        Some(second.first_position),
        "{report:?}"
    );
    let results: Vec<_> = store.read_all(1).collect();
    assert_eq!(results.len(), first.appended + 1);
    assert!(results[..first.appended].iter().all(|r| r.is_ok()));
    assert!(matches!(
        results.last(),
        Some(Err(StoreError::Corrupt { position, .. })) if *position == second.first_position
    ));
    assert!(matches!(
        store.read_stream("a"),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(store.read_stream("c").is_ok());

    // Any garbage in place of the value: problems, never a panic.
    let mut rng_state = 0x1234_5678_u64;
    for len in [0usize, 1, 4, 5, 6, 17, 300] {
        let garbage: Vec<u8> = (0..len)
            .map(|_| {
                rng_state = rng_state.wrapping_mul(6364136223846793005).wrapping_add(1);
                (rng_state >> 33) as u8
            })
            .collect();
        tree.insert(&key, garbage).expect("garbage");
        let report = store.verify().expect("verify");
        assert_eq!(
            report.problems.first().map(|p| p.position),
            Some(second.first_position)
        );
        assert!(store.read_all(0).any(|r| r.is_err()));
    }
    // A valid envelope under the wrong key is caught as well.
    let (_, third) = chunk_entry(&store, second.last_position + 1);
    tree.insert(&key, third).expect("misplace");
    let report = store.verify().expect("verify");
    assert_eq!(
        report.problems.first().map(|p| p.position),
        Some(second.first_position)
    );

    // Damaged tail after close: opening fails cleanly, verify_dir still reports.
    tree.insert(&key, good).expect("restore");
    assert!(store.verify().expect("verify").is_ok());
    drop(tree);
    drop(store);
    {
        // sled's background threads release the directory lock shortly after the store
        // is dropped (`Store::open` waits for it the same way).
        let started = Instant::now();
        let db = loop {
            match sled::open(dir.path().join("log")) {
                Ok(db) => break db,
                Err(e) if started.elapsed() < Duration::from_secs(5) => {
                    assert!(e.to_string().contains("could not acquire lock"), "{e}");
                    thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("sled: {e}"),
            }
        };
        let tree = db.open_tree(LOG_TREE).expect("tree");
        let mut k = vec![b'C'];
        k.extend_from_slice(&second.first_position.to_be_bytes());
        let mut v = tree.get(&k).expect("get").expect("value").to_vec();
        let last = v.len() - 1;
        v[last] ^= 1;
        tree.insert(&k, v).expect("corrupt");
        db.flush().expect("flush");
    }
    match Store::open(dir.path()) {
        Err(StoreError::Corrupt { .. }) => {}
        Ok(store) => {
            // The checkpoint covered the damaged commit: reads must still fail cleanly.
            assert!(store.read_all(0).any(|r| r.is_err()));
        }
        Err(other) => panic!("unexpected error {other}"),
    }
    let report = vasooli_store::verify_dir(dir.path()).expect("verify_dir");
    assert_eq!(
        report.problems.first().map(|p| p.position),
        Some(second.first_position)
    );
}

#[test]
fn subscription_wakes_on_append() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let sub = store.subscribe();
    // Times out when nothing happens.
    let t0 = Instant::now();
    assert_eq!(sub.wait_beyond(0, Duration::from_millis(50)), 0);
    assert!(t0.elapsed() >= Duration::from_millis(50));

    let waiter = thread::spawn(move || {
        let t0 = Instant::now();
        let pos = sub.wait_beyond(0, Duration::from_secs(20));
        (pos, t0.elapsed())
    });
    thread::sleep(Duration::from_millis(100));
    store
        .append(NewCommit::new(vec![ev("s", "T", "x"), ev("s", "T", "y")]))
        .expect("append");
    let (pos, waited) = waiter.join().expect("join");
    assert_eq!(pos, 2);
    assert!(
        waited < Duration::from_secs(10),
        "woke by timeout: {waited:?}"
    );
    // Already beyond: returns at once.
    assert_eq!(store.subscribe().wait_beyond(1, Duration::from_secs(20)), 2);
}

/// Where chunks are kept inside sled (logs made before the chunk file), they are small
/// enough that sled keeps every leaf of the log inline in its segments: a leaf holds up to
/// 17 values, and one above a quarter of a segment goes to a file of its own under
/// `blobs/`, which sled's cache then counts by its pointer's size and hardly ever evicts
/// (reading such a log keeps all of it in memory).
#[test]
fn a_big_log_keeps_its_chunks_inline_in_sled() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Runs of the key index written and merged along the way must stay inline too.
    let options = StoreOptions {
        key_memtable_entries: 2_000,
        blocks_in_files: false,
        ..StoreOptions::default()
    };
    let store = Store::open_with(dir.path(), options).expect("open");
    // 40 MiB of events (200 bytes each) in commits of 10,000 across 1,000 streams, every
    // tenth with a natural key: enough leaves of chunks for sled to have split many times.
    // The payloads are pseudo-random hex digits, which LZ4 cannot shrink (it only finds
    // repeats), so every chunk is as big as the limit lets it be.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut payload = move || -> String {
        (0..200)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from_digit((state >> 60) as u32, 16).expect("a hex digit")
            })
            .collect()
    };
    let mut stored_bytes = 0;
    for commit in 0..20 {
        let events: Vec<_> = (0..10_000)
            .map(|i| {
                let n = commit * 10_000 + i;
                let event = ev(&format!("acct-{}", n % 1000), "Billed", &payload());
                if n % 10 == 0 {
                    event.with_key("bill", format!("B{n}"), 1)
                } else {
                    event
                }
            })
            .collect();
        store.append(NewCommit::new(events)).expect("append");
    }
    store.flush().expect("flush");
    for item in store.raw_db().open_tree(LOG_TREE).expect("log tree").iter() {
        let (key, value) = item.expect("read");
        if key.first() == Some(&b'C') {
            stored_bytes += value.len();
        }
    }
    // The chunks were stored about as big as their events: nothing shrank them.
    assert!(stored_bytes > 40_000_000, "{stored_bytes} bytes of chunks");
    let blobs = dir.path().join("log").join("blobs");
    let files: Vec<_> = std::fs::read_dir(&blobs)
        .expect("sled creates blobs/ when it opens")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert!(files.is_empty(), "sled wrote blob files: {files:?}");
    assert_eq!(read_all(&store, 1).len(), 200_000);
}
