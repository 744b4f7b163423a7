//! Bulk batches (a large import): validated whole, written in commits of
//! `COMMIT_CHUNK_EVENTS`, with progress reported, all or nothing on bad rows and conflicts,
//! and a repeat that skips everything by natural key.

use serde_json::{json, Value};
use vasooli_domain::Policy;
use vasooli_engine::engine::COMMIT_CHUNK_EVENTS;
use vasooli_engine::{Engine, EngineError, ErrorKind, Input};

mod common;

fn inputs(commands: &[Value]) -> Vec<Input> {
    common::inputs_from("payments.csv", commands)
}

fn setup(engine: &mut Engine) {
    let commands = common::offices_and_consumers(&["A1", "A2"]);
    engine.execute(inputs(&commands)).expect("setup accepted");
}

fn payment(n: usize, amount: &str) -> Value {
    json!({"type": "receive_payment", "receipt_no": format!("R{n:07}"),
           "account_no": if n.is_multiple_of(2) { "A1" } else { "A2" }, "amount": amount,
           "paid_on": "2026-05-01", "channel": "upi"})
}

/// Rows: 2.5 commits' worth of payments.
fn rows() -> usize {
    COMMIT_CHUNK_EVENTS * 5 / 2
}

#[test]
fn a_bulk_batch_is_written_in_commits_with_progress_and_repeats_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(dir.path(), Policy::default()).unwrap();
    setup(&mut engine);
    let before = engine.store().last_position();
    let commands: Vec<Value> = (0..rows()).map(|n| payment(n, "10.00")).collect();

    let mut calls = Vec::new();
    let report = engine
        .execute_with_progress(inputs(&commands), &mut |done, total| {
            calls.push((done, total))
        })
        .expect("accepted");
    assert_eq!(report.read, rows());
    assert_eq!(report.appended, rows());
    assert_eq!(report.duplicates, 0);
    assert_eq!(engine.store().last_position(), before + rows() as u64);
    // 0, then after each of the three commits.
    let expected = vec![
        (0, rows()),
        (COMMIT_CHUNK_EVENTS, rows()),
        (2 * COMMIT_CHUNK_EVENTS, rows()),
        (rows(), rows()),
    ];
    assert_eq!(calls, expected);
    // The world saw every payment.
    let payments: usize = engine
        .world()
        .consumers
        .iter()
        .map(|c| c.consumer().payments.len())
        .sum();
    assert_eq!(payments, rows());
    drop(engine);

    // Reopened, the same file again is all duplicates and writes nothing.
    let mut engine = Engine::open(dir.path(), Policy::default()).unwrap();
    let last = engine.store().last_position();
    let report = engine.execute(inputs(&commands)).expect("repeat accepted");
    assert_eq!(report.appended, 0);
    assert_eq!(report.duplicates, rows());
    assert_eq!(engine.store().last_position(), last);
}

#[test]
fn stored_conflicts_are_named_in_the_order_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(dir.path(), Policy::default()).unwrap();
    setup(&mut engine);
    // Receipts stored with other amounts, recorded in another order than the file's.
    let taken = [rows() - 3, 7, rows() / 2, 1];
    for n in taken {
        engine
            .execute(inputs(&[payment(n, "99.00")]))
            .expect("one payment");
    }
    let before = engine.store().last_position();
    let commands: Vec<Value> = (0..rows()).map(|n| payment(n, "10.00")).collect();
    match engine.execute_with_progress(inputs(&commands), &mut |_, _| {}) {
        Err(EngineError::Rejected(errors)) => {
            let mut lines = taken.to_vec();
            lines.sort();
            let expected: Vec<String> = lines
                .iter()
                .map(|n| format!("payments.csv:{}", n + 2))
                .collect();
            let named: Vec<String> = errors.iter().map(|e| e.location.clone()).collect();
            assert_eq!(named, expected);
            assert!(errors.iter().all(|e| e.kind == ErrorKind::Conflict));
        }
        other => panic!("expected conflicts, got {other:?}"),
    }
    assert_eq!(engine.store().last_position(), before, "nothing written");
}

#[test]
fn a_bulk_batch_with_one_stored_conflict_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(dir.path(), Policy::default()).unwrap();
    setup(&mut engine);
    // A receipt near the end of the coming batch is already stored with another amount.
    let late = rows() - 3;
    engine
        .execute(inputs(&[payment(late, "99.00")]))
        .expect("one payment");
    let before = engine.store().last_position();

    let commands: Vec<Value> = (0..rows()).map(|n| payment(n, "10.00")).collect();
    match engine.execute_with_progress(inputs(&commands), &mut |_, _| {}) {
        Err(EngineError::Rejected(errors)) => {
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].kind, ErrorKind::Conflict);
            assert_eq!(errors[0].location, format!("payments.csv:{}", late + 2));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(engine.store().last_position(), before, "nothing written");
}

#[test]
fn a_bulk_batch_with_one_bad_row_at_the_end_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(dir.path(), Policy::default()).unwrap();
    setup(&mut engine);
    let before = engine.store().last_position();
    let mut commands: Vec<Value> = (0..rows()).map(|n| payment(n, "10.00")).collect();
    commands.push(
        json!({"type": "receive_payment", "receipt_no": "RX", "account_no": "NOBODY",
                         "amount": "1.00", "paid_on": "2026-05-01", "channel": "upi"}),
    );
    match engine.execute_with_progress(inputs(&commands), &mut |_, _| {}) {
        Err(EngineError::Rejected(errors)) => {
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].location, format!("payments.csv:{}", rows() + 2));
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(engine.store().last_position(), before, "nothing written");
}

/// Concurrent requests executed as one group: each is answered as if executed alone in
/// order, a refused one writes nothing and does not stop the others, a repeat of the log is
/// answered as a duplicate, and the world equals a rebuild of the log.
#[test]
fn a_group_of_batches_answers_each_as_executed_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(dir.path(), Policy::default()).unwrap();
    setup(&mut engine);
    engine
        .execute(inputs(&[payment(1, "10.00")]))
        .expect("one payment");
    let before = engine.store().last_position();

    let unknown = json!({"type": "receive_payment", "receipt_no": "RX", "account_no": "NOBODY",
                         "amount": "1.00", "paid_on": "2026-05-01", "channel": "upi"});
    let batches = vec![
        inputs(&[payment(2, "20.00")]),                      // accepted
        inputs(&[payment(3, "30.00"), unknown]),             // refused whole: unknown account
        inputs(&[payment(1, "10.00")]),                      // repeats the log
        inputs(&[payment(4, "40.00"), payment(5, "50.00")]), // accepted
        inputs(&[payment(2, "99.00")]),                      // conflicts with the first batch
        inputs(&[payment(1, "11.00")]),                      // conflicts with the log
    ];
    let results = engine.execute_group(batches);
    assert_eq!(results.len(), 6);

    let report = |i: usize| results[i].as_ref().unwrap_or_else(|e| panic!("#{i}: {e}"));
    assert_eq!(
        (report(0).read, report(0).appended, report(0).duplicates),
        (1, 1, 0)
    );
    assert_eq!(
        (report(2).read, report(2).appended, report(2).duplicates),
        (1, 0, 1)
    );
    assert_eq!(
        (report(3).read, report(3).appended, report(3).duplicates),
        (2, 2, 0)
    );
    match &results[1] {
        Err(EngineError::Rejected(errors)) => {
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].location, "payments.csv:3");
            assert_eq!(errors[0].kind, ErrorKind::NotFound);
        }
        other => panic!("expected #1 refused, got {other:?}"),
    }
    for i in [4, 5] {
        match &results[i] {
            Err(EngineError::Rejected(errors)) => {
                assert_eq!(errors[0].kind, ErrorKind::Conflict, "#{i}: {errors:?}");
            }
            other => panic!("expected #{i} to conflict, got {other:?}"),
        }
    }
    // Three payments written: R2, R4, R5; nothing of the refused batch (R3).
    assert_eq!(engine.store().last_position(), before + 3);
    let receipts: Vec<String> = engine
        .world()
        .consumers
        .iter()
        .flat_map(|c| {
            c.consumer()
                .payments
                .into_iter()
                .map(|p| p.receipt_no.to_string())
        })
        .collect();
    let mut sorted = receipts.clone();
    sorted.sort();
    assert_eq!(sorted, ["R0000001", "R0000002", "R0000004", "R0000005"]);

    // The world matches a rebuild of the log.
    let paid: Vec<(String, usize)> = engine
        .world()
        .consumers
        .iter()
        .map(|c| (c.account_no.to_string(), c.consumer().payments.len()))
        .collect();
    engine.rebuild().unwrap();
    let rebuilt: Vec<(String, usize)> = engine
        .world()
        .consumers
        .iter()
        .map(|c| (c.account_no.to_string(), c.consumer().payments.len()))
        .collect();
    assert_eq!(paid, rebuilt);
}

/// The nightly run decides consumers in blocks, appending each before deciding the next; the
/// log it writes (every event, in order) and its summary are those of deciding everyone at
/// once, for a generated utility with surcharges, notices and SMS on every run.
#[test]
fn a_nightly_run_in_blocks_writes_the_log_of_one_block() {
    use vasooli_demo::{Generator, GeneratorConfig};
    use vasooli_engine::nightly::run_in_blocks;

    let generator = Generator::new(GeneratorConfig {
        consumers: 400,
        months: 4,
        ..GeneratorConfig::default()
    });
    let load = |engine: &mut Engine| load_generated(engine, &generator, 10_000);
    let payloads = |engine: &Engine| -> Vec<(String, Vec<u8>)> {
        engine
            .store()
            .read_all(1)
            .map(|r| {
                let r = r.expect("the log reads back");
                (r.stream, r.payload)
            })
            .collect()
    };
    let whole_dir = tempfile::tempdir().unwrap();
    let blocks_dir = tempfile::tempdir().unwrap();
    let mut whole = Engine::open(whole_dir.path(), Policy::default()).unwrap();
    let mut blocks = Engine::open(blocks_dir.path(), Policy::default()).unwrap();
    load(&mut whole);
    load(&mut blocks);
    let mut day = generator.end_date();
    let (mut surcharges, mut notices, mut sms) = (0, 0, 0);
    for _ in 0..3 {
        let a = run_in_blocks(&mut whole, day, usize::MAX).unwrap();
        let b = run_in_blocks(&mut blocks, day, 7).unwrap();
        assert_eq!(
            (a.appended, a.surcharges, a.notices),
            (b.appended, b.surcharges, b.notices)
        );
        assert_eq!(a.stages, b.stages);
        (surcharges, notices, sms) = (
            surcharges + a.surcharges,
            notices + a.notices,
            sms + a.sms_queued,
        );
        day = day + chrono::Days::new(20);
    }
    assert!(
        surcharges > 0 && notices > 0 && sms > 0,
        "{surcharges} {notices} {sms}"
    );
    let (a, b) = (payloads(&whole), payloads(&blocks));
    assert!(a.len() > 2_000, "the runs wrote a real log: {}", a.len());
    assert!(a == b, "the logs differ");
}

/// Loads a generated utility through the engine, `batch` commands at a time.
fn load_generated(engine: &mut Engine, generator: &vasooli_demo::Generator, batch: usize) {
    generator
        .for_each_batch(batch, &mut |commands| {
            engine
                .execute(Input::all_at("generated", commands))
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .expect("the generated utility loads");
}

/// Everything the world holds, as text, with where the account index finds each account.
fn world_text(engine: &Engine) -> String {
    let world = engine.world();
    let index: Vec<_> = world
        .consumers
        .iter()
        .map(|c| {
            let found = world.stored_consumer(&c.account_no).map(|f| f.position);
            (c.account_no.to_string(), found)
        })
        .collect();
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?} {} {}\n{index:?}",
        world.offices,
        world.consumers,
        world.camps,
        world.grievances,
        world.last_nightly,
        world.last_nightly_position,
        world.position
    )
}

/// A long catch-up (decoded on a second thread) builds the same world as the engine that
/// applied every batch as it wrote it, both when a directory is opened without a checkpoint
/// and on a rebuild; a short one (read on the calling thread) too.
#[test]
fn a_long_catch_up_builds_the_world_the_writes_built() {
    use vasooli_demo::{Generator, GeneratorConfig};

    let generator = Generator::new(GeneratorConfig {
        consumers: 2_500,
        months: 12,
        ..GeneratorConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open_deferring_checkpoints(dir.path(), Policy::default()).unwrap();
    load_generated(&mut engine, &generator, 20_000);
    engine.nightly(generator.end_date()).expect("nightly");
    let events = engine.store().last_position();
    assert!(events > 60_000, "a long tail: {events} events");
    let written = world_text(&engine);
    drop(engine);

    // Opened with no checkpoint: the whole log is replayed on two threads.
    let mut engine = Engine::open_deferring_checkpoints(dir.path(), Policy::default()).unwrap();
    let replayed = world_text(&engine);
    assert!(
        replayed == written,
        "the replayed world differs from the written one"
    );

    // A rebuild, the same way.
    assert_eq!(engine.rebuild().unwrap(), events);
    let rebuilt = world_text(&engine);
    assert!(
        rebuilt == written,
        "the rebuilt world differs from the written one"
    );

    // A short tail after a checkpoint is read on the calling thread.
    engine.save_checkpoint().unwrap();
    engine
        .nightly(generator.end_date().succ_opt().unwrap())
        .unwrap();
    let live = world_text(&engine);
    drop(engine);
    let engine = Engine::open_deferring_checkpoints(dir.path(), Policy::default()).unwrap();
    let reopened = world_text(&engine);
    assert!(reopened == live, "the world after a short catch-up differs");
}

/// A world checkpoint is written in parts, to a file beside the projections' database:
/// reopening loads it whole (nothing replayed), a second save leaves only its own file and
/// keys, and a checkpoint with a part cut short or damaged is ignored (the world is replayed
/// from the log instead).
#[test]
fn a_checkpoint_in_parts_loads_whole_and_a_damaged_one_is_replayed() {
    use vasooli_demo::{Generator, GeneratorConfig};
    use vasooli_engine::engine::{CHECKPOINT_ACCOUNT_BUCKETS, CHECKPOINT_PART_CONSUMERS};

    let consumers = 2 * CHECKPOINT_PART_CONSUMERS + 100;
    let generator = Generator::new(GeneratorConfig {
        consumers,
        months: 1,
        ..GeneratorConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open_deferring_checkpoints(dir.path(), Policy::default()).unwrap();
    load_generated(&mut engine, &generator, 50_000);
    assert_eq!(engine.world().consumers.len(), consumers);
    let encoded = engine.encode_checkpoint().unwrap();
    assert_eq!(
        encoded.part_count(),
        1 + 3,
        "the head and three blocks of consumers"
    );
    let encoded_len = encoded.len();
    // Encoded but never written: its file goes with it.
    drop(encoded);
    engine.save_checkpoint().unwrap();
    engine.save_checkpoint().unwrap();
    let written = world_text(&engine);
    let keys = |engine: &Engine| -> Vec<Vec<u8>> {
        engine
            .projections_db()
            .table()
            .keys_with_prefix(b"world-layout-")
            .unwrap()
    };
    assert_eq!(
        keys(&engine).len(),
        1 + 1 + CHECKPOINT_ACCOUNT_BUCKETS as usize + 1 + 1,
        "one head, and the last save's ends of its parts, its directories of accounts and \
         subdivisions, and its saved figures"
    );
    let projections_dir = dir.path().join(vasooli_engine::engine::PROJECTIONS_DIR);
    // The parts: one file, the last save's, holding the head and the three blocks.
    let parts_files = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(projections_dir.join(vasooli_store::PARTS_DIR))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    };
    let files = parts_files();
    assert_eq!(files.len(), 1, "{files:?}");
    let parts_len = std::fs::metadata(&files[0]).unwrap().len();
    // Opens the directory, which must replay the log to the same world rather than read
    // the checkpoint, for the reason given.
    let replayed = |why: &str| -> Engine {
        let engine = Engine::open(dir.path(), Policy::default()).unwrap();
        assert_eq!(world_text(&engine), written, "{why}");
        assert_eq!(
            engine.checkpoint_lag(),
            engine.store().last_position(),
            "replayed from the log: {why}"
        );
        engine
    };
    assert_eq!(parts_len as usize, encoded_len, "the encoded parts, whole");
    drop(engine);

    // Reopened: the checkpoint is the whole world, so no event is replayed.
    let engine = Engine::open(dir.path(), Policy::default()).unwrap();
    assert_eq!(world_text(&engine), written);
    assert_eq!(engine.checkpoint_lag(), 0, "loaded from the checkpoint");
    assert_eq!(
        engine
            .world()
            .consumer(&engine.world().consumers[consumers - 1].account_no)
            .map(|c| c.position),
        Some(engine.world().consumers[consumers - 1].position),
        "the account index is rebuilt"
    );
    drop(engine);
    let file = parts_files().pop().unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(parts_len - 10)
        .unwrap();

    // The last part cut short: the checkpoint is ignored and the log replayed.
    let engine = replayed("the last part cut short");

    // A byte of a part damaged (its compressed bytes, inside a block of consumers): the part
    // fails its CRC before anything is expanded, the checkpoint is ignored and the log
    // replayed, to the same world.
    let mut engine = engine;
    engine.save_checkpoint().unwrap();
    drop(engine);
    let files = parts_files();
    assert_eq!(files.len(), 1, "the cut file is gone: {files:?}");
    let mut bytes = std::fs::read(&files[0]).unwrap();
    assert_eq!(bytes.len() as u64, parts_len);
    // Three quarters into the file: inside the second block of consumers (the head is
    // small, the first two blocks hold 1,024 consumers each and the third 100, compressed
    // alike).
    let inside = bytes.len() * 3 / 4;
    bytes[inside] ^= 0x01;
    std::fs::write(&files[0], bytes).unwrap();
    let engine = replayed("a damaged part");

    // A file an interrupted checkpoint left, never named: ignored, and removed by the next.
    let mut engine = engine;
    engine.save_checkpoint().unwrap();
    drop(engine);
    let parts_dir = projections_dir.join(vasooli_store::PARTS_DIR);
    let orphan = parts_dir.join("world-layout-9.00000000000000ff");
    std::fs::write(&orphan, b"half a checkpoint").unwrap();
    let mut engine = Engine::open(dir.path(), Policy::default()).unwrap();
    assert_eq!(
        engine.checkpoint_lag(),
        0,
        "loaded from the named checkpoint"
    );
    engine.save_checkpoint().unwrap();
    assert!(!orphan.exists(), "the next checkpoint removed it");
    drop(engine);

    // The file the head names missing: the log is replayed, to the same world.
    let files = parts_files();
    assert_eq!(files.len(), 1, "{files:?}");
    std::fs::remove_file(&files[0]).unwrap();
    drop(replayed("the file missing"));
}

/// A checkpoint encoded earlier and written late (a server's checkpoint thread finishing
/// after its shutdown saved a newer one) does not replace the newer one on disk.
#[test]
fn an_older_checkpoint_written_late_does_not_replace_a_newer_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::open(dir.path(), Policy::default()).unwrap();
    setup(&mut engine);
    let older = engine.encode_checkpoint().unwrap();
    engine
        .execute(inputs(&[payment(1, "10.00")]))
        .expect("one payment");
    engine.save_checkpoint().unwrap();
    let newer = world_text(&engine);
    let written_before = older.position;
    vasooli_engine::engine::write_checkpoint(engine.projections_db(), older).unwrap();
    drop(engine);
    // The older one's parts, written to their file as they were encoded, were kept while the
    // newer checkpoint removed the other files, and removed once it was not written.
    let files: Vec<_> = std::fs::read_dir(
        dir.path()
            .join(vasooli_engine::engine::PROJECTIONS_DIR)
            .join(vasooli_store::PARTS_DIR),
    )
    .unwrap()
    .map(|e| e.unwrap().file_name())
    .filter(|name| name.to_string_lossy().starts_with("world-"))
    .collect();
    assert_eq!(files.len(), 1, "{files:?}");

    let engine = Engine::open(dir.path(), Policy::default()).unwrap();
    assert!(engine.world().position > written_before);
    assert_eq!(world_text(&engine), newer);
    assert_eq!(
        engine.checkpoint_lag(),
        0,
        "loaded from the newer checkpoint"
    );
}
