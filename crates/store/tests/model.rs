//! Property test: the store behaves like a simple in-memory model of the log, across
//! random commits, natural keys, expectations, flushes and reopens.

use std::collections::HashMap;

use proptest::prelude::*;
use vasooli_store::{
    ExpectedVersion, NewCommit, NewEvent, RecordedEvent, Store, StoreError, StoreOptions,
};

const STREAMS: usize = 4;
/// Keys drawn often (repeats, duplicates and conflicts) and keys drawn from a wider set
/// (enough distinct keys for the key index to write and merge runs).
const KEYS: usize = 6;
const MORE_KEYS: usize = 300;

#[derive(Debug, Clone)]
struct GenEvent {
    stream: usize,
    payload_len: usize,
    key: Option<(usize, u64)>,
}

#[derive(Debug, Clone)]
enum Expect {
    Any,
    NoStream,
    /// The model's current version (should pass).
    Current,
    Exact(u64),
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        events: Vec<GenEvent>,
        expect: Option<(usize, Expect)>,
    },
    Flush,
    Reopen,
}

fn event_strategy() -> impl Strategy<Value = GenEvent> {
    (
        0..STREAMS,
        prop_oneof![0..64usize, 0..2000usize, 0..10_000usize],
        proptest::option::weighted(0.4, (prop_oneof![0..KEYS, 0..MORE_KEYS], 0..2u64)),
    )
        .prop_map(|(stream, payload_len, key)| GenEvent {
            stream,
            payload_len,
            key,
        })
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let expect = prop_oneof![
        Just(Expect::Any),
        Just(Expect::NoStream),
        Just(Expect::Current),
        Just(Expect::Current),
        (0..4u64).prop_map(Expect::Exact),
    ];
    prop_oneof![
        8 => (
            proptest::collection::vec(event_strategy(), 0..12),
            proptest::option::of((0..STREAMS, expect)),
        )
            .prop_map(|(events, expect)| Op::Append { events, expect }),
        1 => Just(Op::Flush),
        2 => Just(Op::Reopen),
    ]
}

#[derive(Default)]
struct Model {
    events: Vec<RecordedEvent>,
    versions: HashMap<String, u64>,
    keys: HashMap<String, u64>,
}

fn stream_name(i: usize) -> String {
    format!("stream-{i}")
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Ok { appended: usize, duplicates: usize },
    WrongVersion,
    KeyConflict,
}

impl Model {
    /// Applies a commit to the model and returns what the store must answer.
    fn apply(&mut self, commit: &NewCommit) -> Outcome {
        for (stream, expected) in &commit.expectations {
            let actual = self.versions.get(stream).copied();
            let ok = match expected {
                ExpectedVersion::Any => true,
                ExpectedVersion::NoStream => actual.is_none(),
                ExpectedVersion::Exact(n) => actual.unwrap_or(0) == *n,
            };
            if !ok {
                return Outcome::WrongVersion;
            }
        }
        let mut seen: HashMap<String, u64> = HashMap::new();
        let mut keep = Vec::new();
        let mut duplicates = 0;
        for e in &commit.events {
            match &e.key {
                None => keep.push(true),
                Some(k) => {
                    let existing = seen.get(&k.key).or_else(|| self.keys.get(&k.key));
                    match existing {
                        Some(h) if *h == k.content_hash => {
                            duplicates += 1;
                            keep.push(false);
                        }
                        Some(_) => return Outcome::KeyConflict,
                        None => {
                            seen.insert(k.key.clone(), k.content_hash);
                            keep.push(true);
                        }
                    }
                }
            }
        }
        self.keys.extend(seen);
        let mut appended = 0;
        for (e, keep) in commit.events.iter().zip(keep) {
            if !keep {
                continue;
            }
            let v = self.versions.entry(e.stream.clone()).or_insert(0);
            *v += 1;
            self.events.push(RecordedEvent {
                position: self.events.len() as u64 + 1,
                stream: e.stream.clone(),
                stream_version: *v,
                event_type: e.event_type.clone(),
                payload: e.payload.clone(),
                recorded_at_ms: e.recorded_at_ms,
            });
            appended += 1;
        }
        Outcome::Ok {
            appended,
            duplicates,
        }
    }
}

fn check(store: &Store, model: &Model) {
    let all: Vec<_> = store
        .read_all(0)
        .collect::<Result<_, _>>()
        .expect("read_all");
    assert_eq!(all, model.events);
    assert_eq!(store.last_position(), model.events.len() as u64);
    for i in 0..STREAMS {
        let name = stream_name(i);
        assert_eq!(
            store.stream_version(&name),
            model.versions.get(&name).copied()
        );
        let expected: Vec<_> = model
            .events
            .iter()
            .filter(|e| e.stream == name)
            .cloned()
            .collect();
        assert_eq!(store.read_stream(&name).expect("read_stream"), expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_model(
        ops in proptest::collection::vec(op_strategy(), 1..25),
        memtable in prop_oneof![Just(1usize), Just(2), Just(5), Just(1 << 20)],
        checkpoint_every in prop_oneof![Just(1u64), Just(3), Just(10), Just(u64::MAX)],
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        // Heads checkpointed after every group, every few events, or only on flush and close.
        let options = StoreOptions {
            key_memtable_entries: memtable,
            checkpoint_every_events: checkpoint_every,
            ..StoreOptions::default()
        };
        let mut store = Store::open_with(dir.path(), options).expect("open");
        let mut model = Model::default();
        let mut counter = 0u64;
        for op in ops {
            match op {
                Op::Flush => store.flush().expect("flush"),
                Op::Reopen => {
                    drop(store);
                    store = Store::open_with(dir.path(), options).expect("reopen");
                    check(&store, &model);
                }
                Op::Append { events, expect } => {
                    let events: Vec<NewEvent> = events
                        .iter()
                        .map(|g| {
                            counter += 1;
                            let mut payload = counter.to_le_bytes().to_vec();
                            payload.resize(g.payload_len.max(8), (counter % 251) as u8);
                            let mut e = NewEvent::new(
                                stream_name(g.stream),
                                format!("Type{}", counter % 3),
                                payload,
                                counter as i64 - 1000,
                            );
                            if let Some((k, h)) = g.key {
                                e = e.with_key("ns", format!("key-{k}"), h);
                            }
                            e
                        })
                        .collect();
                    let mut commit = NewCommit::new(events);
                    if let Some((s, exp)) = expect {
                        let name = stream_name(s);
                        let exp = match exp {
                            Expect::Any => ExpectedVersion::Any,
                            Expect::NoStream => ExpectedVersion::NoStream,
                            Expect::Current => {
                                ExpectedVersion::Exact(model.versions.get(&name).copied().unwrap_or(0))
                            }
                            Expect::Exact(n) => ExpectedVersion::Exact(n),
                        };
                        commit = commit.expect(name, exp);
                    }
                    let before = model.events.len() as u64;
                    let want = model.apply(&commit);
                    let got = match store.append(commit) {
                        Ok(r) => {
                            if r.appended > 0 {
                                prop_assert_eq!(r.first_position, before + 1);
                                prop_assert_eq!(r.last_position, before + r.appended as u64);
                            } else {
                                prop_assert_eq!((r.first_position, r.last_position), (before, before));
                            }
                            Outcome::Ok { appended: r.appended, duplicates: r.duplicates }
                        }
                        Err(StoreError::WrongExpectedVersion { .. }) => Outcome::WrongVersion,
                        Err(StoreError::KeyConflict { .. }) => Outcome::KeyConflict,
                        Err(other) => panic!("unexpected error: {other}"),
                    };
                    prop_assert_eq!(got, want);
                }
            }
        }
        check(&store, &model);
        for (key, hash) in &model.keys {
            let entry = store.lookup_key("ns", key).expect("lookup").expect("key recorded");
            prop_assert_eq!(entry.content_hash, *hash);
            let event = &model.events[entry.position as usize - 1];
            prop_assert_eq!(&event.stream, &entry.stream);
        }
        for k in 0..MORE_KEYS {
            let key = format!("key-{k}");
            if !model.keys.contains_key(&key) {
                prop_assert_eq!(store.lookup_key("ns", &key).expect("lookup"), None);
            }
        }
        let stats = store.key_index_stats();
        prop_assert_eq!(
            stats.run_entries + stats.memtable_entries as u64,
            model.keys.len() as u64
        );
        let report = store.verify().expect("verify");
        prop_assert!(report.is_ok(), "{:?}", report);
        prop_assert_eq!(report.last_position, model.events.len() as u64);
    }
}
