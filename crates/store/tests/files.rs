//! The log's chunks and the key index's runs in the store's own files beside sled
//! (`log/chunks`, `log/keys/<run>.run`): sled keeps only where each is; bytes a crash leaves
//! after the last chunk are cut off; files of runs merged away or never listed go; logs
//! whose chunks and blocks are inside sled still read, and grow in the files; damage is
//! reported, not panicked on.

use std::path::Path;
use vasooli_store::{
    NewCommit, NewEvent, RecordedEvent, Store, StoreError, StoreOptions, CHUNKS_FILE, LOG_TREE,
    RUNS_DIR,
};

fn keyed(i: u64) -> NewEvent {
    NewEvent::new(
        format!("acct-{}", i % 13),
        "Billed",
        format!("bill {i} of a consumer, with some words to it").into_bytes(),
        1_700_000_000_000 + i as i64,
    )
    .with_key("bill", format!("B{i:06}"), i)
}

/// Appends events `from..to` in commits of `per_commit`.
fn append(store: &Store, from: u64, to: u64, per_commit: u64) {
    let mut i = from;
    while i < to {
        let end = (i + per_commit).min(to);
        store
            .append(NewCommit::new((i..end).map(keyed).collect()))
            .expect("append");
        i = end;
    }
}

fn all(store: &Store) -> Vec<RecordedEvent> {
    store
        .read_all(1)
        .collect::<Result<Vec<_>, _>>()
        .expect("read the log")
}

fn chunks_file(dir: &Path) -> std::path::PathBuf {
    dir.join("log").join(CHUNKS_FILE)
}

/// The values sled keeps under chunk keys.
fn chunk_values(store: &Store) -> Vec<Vec<u8>> {
    store
        .raw_db()
        .open_tree(LOG_TREE)
        .expect("tree")
        .scan_prefix([b'C'])
        .map(|item| item.expect("read").1.to_vec())
        .collect()
}

fn check(events: &[RecordedEvent], count: u64) {
    assert_eq!(events.len() as u64, count);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.position, i as u64 + 1);
        assert_eq!(
            e.payload,
            format!("bill {i} of a consumer, with some words to it").into_bytes()
        );
    }
}

#[test]
fn chunks_go_to_the_file_and_sled_keeps_only_where_they_are() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    append(&store, 0, 5_000, 700);
    store.flush().expect("flush");
    let values = chunk_values(&store);
    assert!(values.len() > 8, "{} chunks", values.len());
    assert!(
        values.iter().all(|v| v.len() == 13),
        "every chunk value is a 13-byte pointer"
    );
    let file_len = std::fs::metadata(chunks_file(dir.path()))
        .expect("file")
        .len();
    // 5,000 events of about 80 bytes, compressed: tens of KB, in the file rather than sled.
    assert!(file_len > 20_000, "{file_len} bytes in the chunk file");
    check(&all(&store), 5_000);
    assert_eq!(store.read_stream("acct-3").expect("stream").len(), 385);
    drop(store);

    let store = Store::open(dir.path()).expect("reopen");
    check(&all(&store), 5_000);
    // A natural key is found through the file after a reopen too.
    let r = store
        .append(NewCommit::new(vec![keyed(4_321)]))
        .expect("repeat");
    assert_eq!((r.appended, r.duplicates), (0, 1));
    assert!(store.verify().expect("verify").is_ok());
}

#[test]
fn bytes_after_the_last_chunk_are_cut_off_and_written_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(dir.path()).expect("open");
        append(&store, 0, 2_000, 300);
    }
    let file = chunks_file(dir.path());
    let whole = std::fs::metadata(&file).expect("file").len();
    // What a group cut off between its chunks' write and its batch leaves behind.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .expect("open the chunk file");
        f.write_all(&[0xab; 5_000]).expect("write");
    }
    let store = Store::open(dir.path()).expect("reopen");
    assert_eq!(std::fs::metadata(&file).expect("file").len(), whole);
    check(&all(&store), 2_000);
    append(&store, 2_000, 3_000, 250);
    drop(store);
    let store = Store::open(dir.path()).expect("reopen");
    check(&all(&store), 3_000);
    assert!(store.verify().expect("verify").is_ok());
}

#[test]
fn a_log_whose_chunks_are_inside_sled_reads_and_grows_in_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inside = StoreOptions {
        blocks_in_files: false,
        ..StoreOptions::default()
    };
    {
        let store = Store::open_with(dir.path(), inside).expect("open");
        append(&store, 0, 1_500, 400);
        assert!(chunk_values(&store).iter().all(|v| v.len() > 13));
    }
    assert_eq!(
        std::fs::metadata(chunks_file(dir.path()))
            .map(|m| m.len())
            .unwrap_or(0),
        0
    );
    {
        let store = Store::open(dir.path()).expect("open");
        check(&all(&store), 1_500);
        append(&store, 1_500, 2_500, 400);
        let values = chunk_values(&store);
        assert!(values.iter().any(|v| v.len() == 13) && values.iter().any(|v| v.len() > 13));
        check(&all(&store), 2_500);
    }
    // And back: a chunk inside sled after chunks in the file, then the file again.
    {
        let store = Store::open_with(dir.path(), inside).expect("open");
        append(&store, 2_500, 2_800, 100);
    }
    let store = Store::open(dir.path()).expect("open");
    append(&store, 2_800, 3_000, 100);
    drop(store);
    let store = Store::open(dir.path()).expect("open");
    check(&all(&store), 3_000);
    assert_eq!(store.read_stream("acct-0").expect("stream").len(), 231);
    assert!(store.verify().expect("verify").is_ok());
}

#[test]
fn a_damaged_chunk_file_is_reported_not_panicked() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(dir.path()).expect("open");
        append(&store, 0, 3_000, 1_000);
    }
    let file = chunks_file(dir.path());
    let mut bytes = std::fs::read(&file).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(&file, &bytes).expect("write");
    let store = Store::open(dir.path()).expect("a flipped byte mid-log does not stop an open");
    let report = store.verify().expect("verify");
    assert!(!report.is_ok(), "{report:?}");
    let results: Vec<_> = store.read_all(1).collect();
    let bad = results
        .iter()
        .find_map(|r| match r {
            Err(StoreError::Corrupt { position, .. }) => Some(*position),
            Err(other) => panic!("not reported as damage: {other}"),
            Ok(_) => None,
        })
        .expect("the damaged chunk is reported");
    assert_eq!(
        report.problems.first().map(|p| p.position),
        Some(bad),
        "{report:?}"
    );
    drop(store);

    // Cut short: the log's last chunk is past the file's end, and opening says so.
    std::fs::write(&file, &bytes[..mid]).expect("write");
    let err = match Store::open(dir.path()) {
        Ok(_) => panic!("a chunk file cut short is noticed on open"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(&format!("holds {mid} bytes")) && err.contains("last chunk ends at byte"),
        "{err}"
    );
    // Nothing was cut or written: the file is as it was left.
    assert_eq!(std::fs::metadata(&file).expect("file").len(), mid as u64);
}

#[test]
fn a_chunk_file_that_cannot_be_written_stops_an_open_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Store::open(dir.path()).expect("open");
        append(&store, 0, 100, 100);
    }
    // In its place, something no file can be opened over (root ignores permissions).
    let file = chunks_file(dir.path());
    std::fs::remove_file(&file).expect("remove");
    std::fs::create_dir(&file).expect("a directory where the file was");
    let err = match Store::open(dir.path()) {
        Ok(_) => panic!("a chunk file that cannot be opened to write is noticed on open"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(&file.display().to_string()) && err.to_lowercase().contains("directory"),
        "{err}"
    );
}

/// The runs that have a file in `dir`'s log.
fn run_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = match std::fs::read_dir(dir.join("log").join(RUNS_DIR)) {
        Ok(entries) => entries.map(|e| e.expect("entry").path()).collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

fn lookups(store: &Store, count: u64) {
    for i in (0..count).step_by(7) {
        let entry = store
            .lookup_key("bill", &format!("B{i:06}"))
            .expect("lookup")
            .unwrap_or_else(|| panic!("B{i:06} recorded"));
        assert_eq!((entry.position, entry.content_hash), (i + 1, i));
    }
    assert!(store
        .lookup_key("bill", &format!("B{count:06}"))
        .expect("lookup")
        .is_none());
}

#[test]
fn key_index_runs_live_in_files_of_their_own_and_merged_ones_go() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A small memtable: many runs written, and merged four at a time.
    let options = StoreOptions {
        key_memtable_entries: 100,
        ..StoreOptions::default()
    };
    let store = Store::open_with(dir.path(), options).expect("open");
    append(&store, 0, 3_000, 50);
    store.flush().expect("flush");
    let stats = store.key_index_stats();
    assert!(stats.runs >= 2, "{stats:?}");
    // One file a listed run, and none of the runs merged away.
    assert_eq!(run_files(dir.path()).len(), stats.runs, "{stats:?}");
    let tree = store.raw_db().open_tree(LOG_TREE).expect("tree");
    let blocks: Vec<_> = tree
        .scan_prefix([b'I'])
        .map(|item| item.expect("read").1.len())
        .collect();
    assert!(!blocks.is_empty() && blocks.iter().all(|len| *len == 13));
    drop(tree);
    lookups(&store, 3_000);
    assert!(store.verify().expect("verify").is_ok());
    drop(store);
    let store = Store::open_with(dir.path(), options).expect("reopen");
    assert_eq!(store.key_index_stats().runs, stats.runs);
    lookups(&store, 3_000);
    // A repeat is found through the files.
    let r = store
        .append(NewCommit::new(vec![keyed(1_234), keyed(2_999)]))
        .expect("repeat");
    assert_eq!((r.appended, r.duplicates), (0, 2));
}

#[test]
fn an_unlisted_run_file_goes_and_a_damaged_one_rebuilds_the_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions {
        key_memtable_entries: 200,
        ..StoreOptions::default()
    };
    let runs = {
        let store = Store::open_with(dir.path(), options).expect("open");
        append(&store, 0, 2_000, 100);
        store.key_index_stats().runs
    };
    // What a crash while writing a run leaves: a file no manifest lists.
    let keys = dir.path().join("log").join(RUNS_DIR);
    let orphan = keys.join("00000000000fffff.run");
    std::fs::write(&orphan, b"half a run").expect("write");
    let store = Store::open_with(dir.path(), options).expect("reopen");
    assert!(
        !orphan.exists(),
        "an unlisted run's file is removed on open"
    );
    // (Opening may write a run of the keys after the last one.)
    assert!(runs >= 1);
    assert_eq!(run_files(dir.path()).len(), store.key_index_stats().runs);
    lookups(&store, 2_000);

    // A byte flipped in a run's file: verify names the run, and a lookup needing the
    // block fails rather than answering wrong.
    let file = run_files(dir.path()).pop().expect("a run file");
    let mut bytes = std::fs::read(&file).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x21;
    std::fs::write(&file, &bytes).expect("write");
    let report = store.verify().expect("verify");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.reason.contains("key index run")),
        "{report:?}"
    );
    let failed = (0..2_000u64)
        .filter(|i| store.lookup_key("bill", &format!("B{i:06}")).is_err())
        .count();
    assert!(failed > 0, "a lookup reading the damaged block fails");
    drop(store);
    // Opened again, the index is rebuilt from the keys the log holds.
    let store = Store::open_with(dir.path(), options).expect("opens despite the damage");
    let stats = store.key_index_stats();
    assert_eq!(
        stats.run_entries + stats.memtable_entries as u64,
        2_000,
        "{stats:?}"
    );
    lookups(&store, 2_000);
    assert!(store.verify().expect("verify").is_ok());
    assert_eq!(run_files(dir.path()).len(), stats.runs);
}
