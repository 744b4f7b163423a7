//! Bulk batches (a large import): validated whole, written in commits of
//! `COMMIT_CHUNK_EVENTS`, with progress reported, all or nothing on bad rows and conflicts,
//! and a repeat that skips everything by natural key.

use serde_json::{json, Value};
use vasooli_domain::{Command, Policy};
use vasooli_projections::engine::COMMIT_CHUNK_EVENTS;
use vasooli_projections::{Engine, EngineError, ErrorKind, Input};

fn inputs(commands: &[Value]) -> Vec<Input> {
    commands
        .iter()
        .enumerate()
        .map(|(i, c)| Input {
            location: format!("payments.csv:{}", i + 2),
            command: Command::from_json(c),
        })
        .collect()
}

fn setup(engine: &mut Engine) {
    let commands = vec![
        json!({"type": "register_office", "code": "Z1", "name": "Zone", "level": "zone"}),
        json!({"type": "register_office", "code": "C1", "name": "Circle", "level": "circle", "parent": "Z1"}),
        json!({"type": "register_office", "code": "DV1", "name": "Division", "level": "division", "parent": "C1"}),
        json!({"type": "register_office", "code": "SD1", "name": "Subdivision", "level": "subdivision", "parent": "DV1"}),
        json!({"type": "register_consumer", "account_no": "A1", "name": "One", "category": "domestic",
               "subdivision": "SD1", "load_kw": "2.5", "connected_on": "2025-04-01"}),
        json!({"type": "register_consumer", "account_no": "A2", "name": "Two", "category": "domestic",
               "subdivision": "SD1", "load_kw": "2.5", "connected_on": "2025-04-01"}),
    ];
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
        .map(|c| c.payments.len())
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
    match engine.execute(inputs(&commands)) {
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
    match engine.execute(inputs(&commands)) {
        Err(EngineError::Rejected(errors)) => {
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].location, format!("payments.csv:{}", rows() + 2));
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(engine.store().last_position(), before, "nothing written");
}
