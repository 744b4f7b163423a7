//! Store throughput and space benchmark (plain `main`, prints a table).
//!
//! Compares, on the same generated events, the store's durable append and replay with
//! raw sled baselines: one key per event, and one value per commit. Run with
//! `cargo bench -p vasooli-store --bench store_bench`; set `STORE_BENCH_EVENTS` to change
//! the event count (default 1,000,000), `STORE_BENCH_STREAMS` the number of streams they are
//! spread over (default 10,000), `STORE_BENCH_ONLY_STORE=1` to skip the raw sled
//! baselines, `STORE_BENCH_LIST=1` to list the store's files with their sizes,
//! `STORE_BENCH_CHECKPOINT_EVENTS` the events between checkpoints of the stream heads.

use std::path::Path;
use std::time::Instant;

use vasooli_store::{payload_hash, NewCommit, NewEvent, Store, StoreOptions, LOG_TREE};

/// The allocator the `vasooli` binary uses, so that the store is measured as it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_EVENTS: usize = 1_000_000;
const EVENTS_PER_COMMIT: usize = 10_000;
/// Distinct streams the events are spread over (consumer accounts), unless
/// `STORE_BENCH_STREAMS` says otherwise.
const DEFAULT_STREAMS: usize = 10_000;

fn streams() -> usize {
    static STREAMS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *STREAMS.get_or_init(|| {
        std::env::var("STORE_BENCH_STREAMS")
            .ok()
            .and_then(|v| v.replace('_', "").parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or(DEFAULT_STREAMS)
    })
}
/// The store's settings: the defaults, with `STORE_BENCH_CHECKPOINT_EVENTS` as the events
/// between checkpoints of the stream heads when it is set.
fn options() -> StoreOptions {
    let mut options = StoreOptions::default();
    if let Some(n) = std::env::var("STORE_BENCH_CHECKPOINT_EVENTS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
    {
        options.checkpoint_every_events = n;
    }
    options
}

const EVENT_TYPES: [&str; 3] = ["BillIssued", "PaymentReceived", "NoticeServed"];

struct Row {
    name: &'static str,
    events: usize,
    seconds: f64,
    disk_bytes: Option<u64>,
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn list(path: &Path) {
    for e in std::fs::read_dir(path)
        .expect("read_dir")
        .filter_map(Result::ok)
    {
        let m = e.metadata().expect("metadata");
        if m.is_dir() {
            list(&e.path());
        } else {
            println!("  {:>12} {}", m.len(), e.path().display());
        }
    }
}

/// Deterministic event `i`: payload of 28–60 bytes.
fn make_event(i: usize) -> NewEvent {
    let mut payload = format!(
        "{{\"amt\":{},\"ref\":\"R{:06}\"",
        (i * 7919) % 1_000_000,
        i % 1_000_000
    );
    let pad = (i * 31) % 33;
    payload.push_str(",\"n\":\"");
    payload.extend(std::iter::repeat_n('x', pad));
    payload.push_str("\"}");
    NewEvent::new(
        format!("consumer-{}", (i * 2_654_435_761) % streams()),
        EVENT_TYPES[i % EVENT_TYPES.len()],
        payload.into_bytes(),
        1_700_000_000_000 + i as i64,
    )
}

/// Simple length-prefixed encoding used by the raw sled baselines.
fn raw_encode(e: &NewEvent, out: &mut Vec<u8>) {
    out.extend_from_slice(&(e.stream.len() as u16).to_le_bytes());
    out.extend_from_slice(e.stream.as_bytes());
    out.extend_from_slice(&(e.event_type.len() as u16).to_le_bytes());
    out.extend_from_slice(e.event_type.as_bytes());
    out.extend_from_slice(&e.recorded_at_ms.to_le_bytes());
    out.extend_from_slice(&(e.payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&e.payload);
}

/// A chunk's bytes: where sled keeps where the chunk is in `log/chunks` (13 bytes: `0xFC`,
/// the offset and the length, big-endian), the length it names; else the value's own.
fn chunk_bytes(value: &[u8]) -> u64 {
    match value {
        [0xFC, _, _, _, _, _, _, _, _, a, b, c, d] => {
            u64::from(u32::from_be_bytes([*a, *b, *c, *d]))
        }
        _ => value.len() as u64,
    }
}

fn main() {
    let n: usize = std::env::var("STORE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(DEFAULT_EVENTS);
    let events: Vec<NewEvent> = (0..n).map(make_event).collect();
    let payload_bytes: usize = events.iter().map(|e| e.payload.len()).sum();
    let raw_bytes: usize = events
        .iter()
        .map(|e| {
            let mut v = Vec::new();
            raw_encode(e, &mut v);
            v.len()
        })
        .sum();
    println!(
        "events: {n} over {} streams, commits of {EVENTS_PER_COMMIT}, payload avg {:.1} B, raw encoded {raw_bytes} B",
        streams(),
        payload_bytes as f64 / n as f64
    );
    let root = tempfile::tempdir().expect("tempdir");
    let mut rows = Vec::new();

    // (a) store durable append.
    let store_dir = root.path().join("store");
    let commits: Vec<NewCommit> = events
        .chunks(EVENTS_PER_COMMIT)
        .map(|c| NewCommit::new(c.to_vec()))
        .collect();
    let encoded_bytes;
    {
        let store = Store::open_with(&store_dir, options()).expect("open");
        let t0 = Instant::now();
        for commit in commits {
            store.append(commit).expect("append");
        }
        let seconds = t0.elapsed().as_secs_f64();
        assert_eq!(store.last_position(), n as u64);
        let t0 = Instant::now();
        store.flush().expect("flush");
        println!(
            "(a) then flush, a checkpoint of every head touched since the last: {:.1} s",
            t0.elapsed().as_secs_f64()
        );
        let tree = store.raw_db().open_tree(LOG_TREE).expect("tree");
        encoded_bytes = tree
            .scan_prefix(b"C")
            .map(|kv| kv.map(|(_, v)| chunk_bytes(&v)).expect("scan"))
            .sum::<u64>();
        // Printed at once as well: the keyed case that follows takes as long again.
        println!(
            "(a) Store::append durable: {seconds:.1} s, {:.0} events/s",
            n as f64 / seconds
        );
        rows.push(Row {
            name: "(a) Store::append durable",
            events: n,
            seconds,
            disk_bytes: None,
        });
    }
    let store_disk = dir_size(&store_dir);
    if std::env::var_os("STORE_BENCH_LIST").is_some() {
        list(&store_dir);
    }
    rows[0].disk_bytes = Some(store_disk);

    // (b) store replay with envelope decoding.
    {
        let store = Store::open_with(&store_dir, options()).expect("reopen");
        let t0 = Instant::now();
        let mut count = 0usize;
        let mut bytes = 0usize;
        for e in store.read_all(1) {
            let e = e.expect("read");
            count += 1;
            bytes += e.payload.len();
        }
        let seconds = t0.elapsed().as_secs_f64();
        assert_eq!((count, bytes), (n, payload_bytes));
        rows.push(Row {
            name: "(b) Store::read_all replay",
            events: n,
            seconds,
            disk_bytes: None,
        });
    }

    // (b') opening after a crash that lost the heads' checkpoint: the whole log is the tail
    // that open replays (after a real crash it is at most the events between checkpoints).
    {
        vasooli_store::wait_sled_closed(&store_dir.join("log")).expect("closed");
        let db = sled::open(store_dir.join("log")).expect("sled");
        db.open_tree(LOG_TREE)
            .expect("tree")
            .remove(b"Mheads")
            .expect("remove the marker");
        db.flush().expect("flush");
        drop(db);
        let t0 = Instant::now();
        let store = Store::open_with(&store_dir, options()).expect("reopen");
        let seconds = t0.elapsed().as_secs_f64();
        assert_eq!(store.last_position(), n as u64);
        rows.push(Row {
            name: "(b') open replaying the whole log",
            events: n,
            seconds,
            disk_bytes: None,
        });
    }

    // (a') the same events, each with a natural key (as almost every event of the domain
    // has): what the key index costs beside (a), and beside one sled key per event (c).
    let keyed_dir = root.path().join("store_keyed");
    {
        let store = Store::open_with(&keyed_dir, options()).expect("open");
        let commits: Vec<NewCommit> = events
            .chunks(EVENTS_PER_COMMIT)
            .enumerate()
            .map(|(c, chunk)| {
                NewCommit::new(
                    chunk
                        .iter()
                        .enumerate()
                        .map(|(i, e)| {
                            let n = c * EVENTS_PER_COMMIT + i;
                            // Hashed as the engine hashes its events' content.
                            let hash = payload_hash(&e.payload);
                            e.clone().with_key("receipt", format!("R{n:09}"), hash)
                        })
                        .collect(),
                )
            })
            .collect();
        let t0 = Instant::now();
        for commit in commits {
            let r = store.append(commit).expect("append");
            assert_eq!(r.duplicates, 0);
        }
        store.flush().expect("flush");
        let seconds = t0.elapsed().as_secs_f64();
        assert_eq!(store.last_position(), n as u64);
        let keys = store.key_index_stats();
        println!(
            "(a') key index: {} runs, {} keys in runs, {} in memory, filters {} B",
            keys.runs, keys.run_entries, keys.memtable_entries, keys.filter_bytes
        );
        rows.push(Row {
            name: "(a') Store::append, every event keyed",
            events: n,
            seconds,
            disk_bytes: None,
        });
    }
    rows.last_mut().expect("row").disk_bytes = Some(dir_size(&keyed_dir));

    if std::env::var_os("STORE_BENCH_ONLY_STORE").is_some() {
        print_rows(&rows);
        println!(
            "store: encoded {encoded_bytes} B, {store_disk} B on disk, ratio {:.2}",
            store_disk as f64 / encoded_bytes as f64
        );
        return;
    }
    // (c) raw sled, one key per event.
    let per_event_dir = root.path().join("raw_per_event");
    {
        let db = sled::open(&per_event_dir).expect("sled");
        let tree = db.open_tree("events").expect("tree");
        let t0 = Instant::now();
        let mut position = 0u64;
        for chunk in events.chunks(EVENTS_PER_COMMIT) {
            let mut batch = sled::Batch::default();
            for e in chunk {
                position += 1;
                let mut v = Vec::with_capacity(96);
                raw_encode(e, &mut v);
                batch.insert(&position.to_be_bytes(), v);
            }
            tree.apply_batch(batch).expect("batch");
            db.flush().expect("flush");
        }
        rows.push(Row {
            name: "(c) raw sled, key per event",
            events: n,
            seconds: t0.elapsed().as_secs_f64(),
            disk_bytes: None,
        });
    }
    rows.last_mut().expect("row").disk_bytes = Some(dir_size(&per_event_dir));

    // (d) raw sled, one value per commit.
    let per_commit_dir = root.path().join("raw_per_commit");
    {
        let db = sled::open(&per_commit_dir).expect("sled");
        let tree = db.open_tree("commits").expect("tree");
        let t0 = Instant::now();
        let mut position = 1u64;
        for chunk in events.chunks(EVENTS_PER_COMMIT) {
            let mut v = Vec::with_capacity(chunk.len() * 96);
            for e in chunk {
                raw_encode(e, &mut v);
            }
            tree.insert(position.to_be_bytes(), v).expect("insert");
            db.flush().expect("flush");
            position += chunk.len() as u64;
        }
        rows.push(Row {
            name: "(d) raw sled, value per commit",
            events: n,
            seconds: t0.elapsed().as_secs_f64(),
            disk_bytes: None,
        });
    }
    rows.last_mut().expect("row").disk_bytes = Some(dir_size(&per_commit_dir));

    // (e) raw replay: iterate the raw trees (no decoding).
    for (name, dir, tree_name) in [
        ("(e) raw replay, key per event", &per_event_dir, "events"),
        (
            "(e) raw replay, value per commit",
            &per_commit_dir,
            "commits",
        ),
    ] {
        let db = sled::open(dir).expect("sled");
        let tree = db.open_tree(tree_name).expect("tree");
        let t0 = Instant::now();
        let mut bytes = 0usize;
        for kv in tree.iter() {
            bytes += kv.expect("iter").1.len();
        }
        assert_eq!(bytes, raw_bytes);
        rows.push(Row {
            name,
            events: n,
            seconds: t0.elapsed().as_secs_f64(),
            disk_bytes: None,
        });
    }

    print_rows(&rows);
    println!();
    println!(
        "store: encoded {encoded_bytes} B in chunk values, {store_disk} B on disk, disk/encoded = {:.2}",
        store_disk as f64 / encoded_bytes as f64
    );
}

fn print_rows(rows: &[Row]) {
    println!();
    println!(
        "{:<40} {:>12} {:>14} {:>14}",
        "case", "seconds", "events/s", "disk bytes"
    );
    for r in rows {
        println!(
            "{:<40} {:>12.3} {:>14.0} {:>14}",
            r.name,
            r.seconds,
            r.events as f64 / r.seconds,
            r.disk_bytes
                .map_or_else(|| "-".to_string(), |b| b.to_string())
        );
    }
}
