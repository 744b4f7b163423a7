//! The shared engine (the server's): reads go on while a write is checked and made durable,
//! and a reader sees the world from before a commit or from after it, never a part of one.

use serde_json::{json, Value};
use std::sync::mpsc::{channel, sync_channel};
use std::time::Duration;
use vasooli_domain::Policy;
use vasooli_engine::{Engine, EngineError, Input, SharedEngine};

/// A bound on waiting for an answer that must come: reached only if it never comes.
const ANSWER_WAIT_MAX: Duration = Duration::from_secs(60);

mod common;

fn inputs(commands: &[Value]) -> Vec<Input> {
    common::inputs_from("request", commands)
}

fn shared_engine(dir: &std::path::Path) -> SharedEngine {
    let mut engine = Engine::open(dir, Policy::default()).unwrap();
    let setup = common::offices_and_consumers(&["A1"]);
    engine.execute(inputs(&setup)).expect("setup accepted");
    SharedEngine::start(engine)
}

fn payment(n: usize) -> Value {
    json!({"type": "receive_payment", "receipt_no": format!("R{n:05}"), "account_no": "A1",
           "amount": "1.00", "paid_on": "2026-05-01", "channel": "upi"})
}

fn payments_of_a1(engine: &Engine) -> usize {
    engine
        .world()
        .consumer("A1")
        .map_or(0, |c| c.payments.len())
}

/// A1's payments as a reader on another thread sees them, which must be answered while
/// `meanwhile` holds.
fn read_on_another_thread(shared: &SharedEngine, meanwhile: &str) -> usize {
    let (answer, answered) = channel();
    let reader = shared.clone();
    std::thread::spawn(move || {
        let _ = answer.send(reader.read(payments_of_a1));
    });
    answered
        .recv_timeout(ANSWER_WAIT_MAX)
        .unwrap_or_else(|_| panic!("a read is answered while {meanwhile}"))
        .unwrap()
}

#[test]
fn a_read_is_answered_while_a_write_is_being_checked() {
    let dir = tempfile::tempdir().unwrap();
    let shared = shared_engine(dir.path());
    let (started, write_started) = sync_channel::<()>(1);
    let (release, released) = sync_channel::<()>(1);
    let writer = {
        let shared = shared.clone();
        std::thread::spawn(move || {
            shared.execute(move |_engine: &Engine| {
                started.send(()).unwrap();
                // The write holds its place (judging its inputs against the world) until the
                // test lets it go.
                released.recv().unwrap();
                Ok::<_, EngineError>(inputs(&[payment(1)]))
            })
        })
    };
    write_started
        .recv_timeout(ANSWER_WAIT_MAX)
        .expect("the write starts");
    let seen = read_on_another_thread(&shared, "the write is in progress");
    assert_eq!(seen, 0, "the world from before the write");
    release.send(()).unwrap();
    let report = writer.join().unwrap().expect("the write is accepted");
    assert_eq!(report.appended, 1);
    assert_eq!(shared.read(payments_of_a1).unwrap(), 1);
}

#[test]
fn reads_during_writes_see_whole_commits_only() {
    const WRITES: usize = 30;
    const PER_WRITE: usize = 7;
    let dir = tempfile::tempdir().unwrap();
    let shared = shared_engine(dir.path());
    let writer = {
        let shared = shared.clone();
        std::thread::spawn(move || {
            for w in 0..WRITES {
                let batch: Vec<Value> =
                    (0..PER_WRITE).map(|i| payment(w * PER_WRITE + i)).collect();
                shared
                    .execute(move |_: &Engine| Ok::<_, EngineError>(inputs(&batch)))
                    .expect("a write is accepted");
            }
        })
    };
    let mut last = 0;
    let mut reads = 0;
    loop {
        let done = writer.is_finished();
        let seen = shared.read(payments_of_a1).unwrap();
        reads += 1;
        assert_eq!(
            seen % PER_WRITE,
            0,
            "read {reads} saw part of a commit: {seen}"
        );
        assert!(seen >= last, "read {reads} went back from {last} to {seen}");
        last = seen;
        if done {
            break;
        }
    }
    writer.join().unwrap();
    assert_eq!(shared.read(payments_of_a1).unwrap(), WRITES * PER_WRITE);
}

/// `consumers` consumers in SD1, each with a bill long overdue on 2026-06-30.
fn overdue_utility(dir: &std::path::Path, consumers: usize) -> SharedEngine {
    let shared = shared_engine(dir);
    let mut commands = Vec::new();
    for n in 0..consumers {
        commands.push(
            json!({"type": "register_consumer", "account_no": format!("B{n:04}"),
            "name": "Consumer", "category": "domestic", "subdivision": "SD1", "load_kw": "2.0",
            "connected_on": "2025-04-01"}),
        );
        commands.push(json!({"type": "issue_bill", "bill_no": format!("BL{n:04}"),
            "account_no": format!("B{n:04}"), "period": "2026-03", "issued_on": "2026-04-05",
            "due_on": "2026-04-20", "amount": "5000.00"}));
    }
    shared
        .execute(move |_: &Engine| Ok::<_, EngineError>(inputs(&commands)))
        .expect("the utility is accepted");
    shared
}

/// The last run's date and how many consumers have a notice.
fn run_and_notices(engine: &Engine) -> (Option<chrono::NaiveDate>, usize) {
    let notices = engine
        .world()
        .consumers
        .iter()
        .filter(|c| !c.consumer().cases.is_empty())
        .count();
    (engine.world().last_nightly, notices)
}

#[test]
fn reads_go_on_during_a_nightly_run_and_see_it_whole_or_not_at_all() {
    const CONSUMERS: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let shared = overdue_utility(dir.path(), CONSUMERS);
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 6, 30).unwrap();
    let (started, run_started) = sync_channel::<()>(1);
    let (release, released) = sync_channel::<()>(1);
    let runner = {
        let shared = shared.clone();
        std::thread::spawn(move || {
            shared.nightly(as_of, move |_: &Engine| {
                started.send(()).unwrap();
                released.recv().unwrap();
                Ok::<_, EngineError>(())
            })
        })
    };
    run_started
        .recv_timeout(ANSWER_WAIT_MAX)
        .expect("the run starts");
    let (answer, answered) = channel();
    {
        let shared = shared.clone();
        std::thread::spawn(move || {
            let _ = answer.send(shared.read(run_and_notices));
        });
    }
    let seen = answered
        .recv_timeout(ANSWER_WAIT_MAX)
        .expect("a read is answered while the run is in progress")
        .unwrap();
    assert_eq!(seen, (None, 0), "the world from before the run");
    release.send(()).unwrap();
    // Reads while the run decides, appends and is read in: before it, or all of it.
    let mut reads = 0;
    loop {
        let done = runner.is_finished();
        let seen = shared.read(run_and_notices).unwrap();
        reads += 1;
        assert!(
            seen == (None, 0) || seen == (Some(as_of), CONSUMERS),
            "read {reads} saw a part of the run: {seen:?}"
        );
        if done {
            break;
        }
    }
    let summary = runner.join().unwrap().expect("the run completes");
    assert_eq!(summary.notices, CONSUMERS);
    assert_eq!(
        shared.read(run_and_notices).unwrap(),
        (Some(as_of), CONSUMERS)
    );
}

#[test]
fn a_bulk_load_is_read_around_and_then_seen_whole() {
    const PAYMENTS: usize = 25_000;
    let dir = tempfile::tempdir().unwrap();
    let shared = shared_engine(dir.path());
    let (started, load_started) = sync_channel::<()>(1);
    let (release, released) = sync_channel::<()>(1);
    let loader = {
        let shared = shared.clone();
        std::thread::spawn(move || {
            let rows: Vec<Value> = (0..PAYMENTS).map(payment).collect();
            shared.bulk(|engine| {
                let mut paused = false;
                engine.write_checked(inputs(&rows), &mut |done, _total| {
                    // Halfway through writing, the load waits until the test lets it go.
                    if !paused && done > 0 {
                        paused = true;
                        started.send(()).unwrap();
                        released.recv().unwrap();
                    }
                })
            })
        })
    };
    load_started
        .recv_timeout(ANSWER_WAIT_MAX)
        .expect("the load writes a first part");
    let seen = read_on_another_thread(&shared, "the load is being written");
    assert_eq!(
        seen, 0,
        "the world from before the load, though part of it is durable"
    );
    release.send(()).unwrap();
    let report = loader.join().unwrap().expect("the load is accepted");
    assert_eq!((report.read, report.appended), (PAYMENTS, PAYMENTS));
    assert_eq!(shared.read(payments_of_a1).unwrap(), PAYMENTS);

    // A load with a bad row writes nothing.
    let mut rows: Vec<Value> = (PAYMENTS..PAYMENTS + 10).map(payment).collect();
    rows[7]["amount"] = json!("-5");
    let refused = shared.bulk(|engine| engine.write_checked(inputs(&rows), &mut |_, _| {}));
    assert!(
        matches!(refused, Err(EngineError::Rejected(_))),
        "{refused:?}"
    );
    assert_eq!(shared.read(payments_of_a1).unwrap(), PAYMENTS);
    let position = shared.log_position();
    assert_eq!(
        shared.read(|e| e.store().last_position()).unwrap(),
        position
    );
}

#[test]
fn a_request_too_big_to_share_a_commit_is_written_alone_and_seen_whole() {
    // More inputs than a shared group takes from one request, alongside small requests.
    const BIG: usize = vasooli_engine::engine::GROUP_BATCH_INPUTS_MAX * 3;
    let dir = tempfile::tempdir().unwrap();
    let shared = shared_engine(dir.path());
    let big: Vec<Value> = (0..BIG).map(payment).collect();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let shared = shared.clone();
            let batch: Vec<Value> = match w {
                0 => big.clone(),
                // The first small request repeats one of the big one's payments: whichever
                // comes second skips it as already recorded.
                1 => vec![payment(BIG + 1), payment(0)],
                n => vec![payment(BIG + n * 2), payment(BIG + n * 2 + 1)],
            };
            std::thread::spawn(move || {
                shared.execute(move |_: &Engine| Ok::<_, EngineError>(inputs(&batch)))
            })
        })
        .collect();
    let mut last = 0;
    while !writers.iter().all(|w| w.is_finished()) {
        let seen = shared.read(payments_of_a1).unwrap();
        assert!(seen >= last, "a read went back from {last} to {seen}");
        assert!(
            !(20..BIG).contains(&seen),
            "a read saw part of the big request: {seen}"
        );
        last = seen;
    }
    let reports: Vec<_> = writers
        .into_iter()
        .map(|w| w.join().unwrap().expect("every request is accepted"))
        .collect();
    assert_eq!(reports[0].read, BIG);
    let appended: usize = reports.iter().map(|r| r.appended).sum();
    let skipped: usize = reports.iter().map(|r| r.duplicates).sum();
    assert_eq!((appended, skipped), (BIG + 5, 1));
    assert_eq!(shared.read(payments_of_a1).unwrap(), BIG + 5);
    assert_eq!(
        shared.log_position(),
        shared.read(|e| e.store().last_position()).unwrap()
    );
}

mod property {
    //! Reads during any sequence of writes (requests, which share commits, and bulk loads,
    //! written in several commits) see the state before or after each write, never a mix.

    use super::*;
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// One write: payments to A1 and to A2, as one request or as a bulk load.
    #[derive(Clone, Debug)]
    struct Write {
        a1: usize,
        a2: usize,
        bulk: bool,
    }

    fn write() -> impl Strategy<Value = Write> {
        prop_oneof![
            (0..6usize, 0..6usize).prop_map(|(a1, a2)| Write {
                a1,
                a2,
                bulk: false
            }),
            (0..6usize, 0..6usize).prop_map(|(a1, a2)| Write { a1, a2, bulk: true }),
            // A bulk load past one commit of `COMMIT_CHUNK_EVENTS`.
            (0..50usize).prop_map(|extra| Write {
                a1: vasooli_engine::engine::COMMIT_CHUNK_EVENTS / 2 + extra,
                a2: vasooli_engine::engine::COMMIT_CHUNK_EVENTS / 2 + 1,
                bulk: true,
            }),
        ]
    }

    fn payments(write: &Write, first: usize) -> Vec<Value> {
        let to = |account: &str, n: usize| {
            json!({"type": "receive_payment", "receipt_no": format!("R{n:07}"),
                   "account_no": account, "amount": "1.00", "paid_on": "2026-05-01",
                   "channel": "upi"})
        };
        (0..write.a1)
            .map(|i| to("A1", first + i))
            .chain((0..write.a2).map(|i| to("A2", first + write.a1 + i)))
            .collect()
    }

    /// What a reader sees: A1's and A2's payments and the world's position.
    fn seen(engine: &Engine) -> (usize, usize, u64) {
        let count = |account: &str| {
            engine
                .world()
                .consumer(account)
                .map_or(0, |c| c.payments.len())
        };
        (count("A1"), count("A2"), engine.world().position)
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 12,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn reads_during_writes_see_each_write_whole_or_not_at_all(
            writes in prop::collection::vec(write(), 1..6),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut engine = Engine::open(dir.path(), Policy::default()).unwrap();
            let setup = common::offices_and_consumers(&["A1", "A2"]);
            engine.execute(inputs(&setup)).expect("setup accepted");
            let shared = SharedEngine::start(engine);
            let done = Arc::new(AtomicBool::new(false));
            let reader = {
                let shared = shared.clone();
                let done = Arc::clone(&done);
                std::thread::spawn(move || {
                    let mut states = Vec::new();
                    while !done.load(Ordering::Acquire) {
                        states.push(shared.read(seen).unwrap());
                    }
                    states
                })
            };
            // The state after each prefix of the writes, as the writer goes.
            let mut after = vec![shared.read(seen).unwrap()];
            let mut first = 0;
            for write in &writes {
                let batch = payments(write, first);
                first += batch.len();
                if write.bulk {
                    shared
                        .bulk(|engine| engine.write_streamed(inputs(&batch), &mut |_, _| {}))
                        .expect("a load is accepted");
                } else {
                    shared
                        .execute(move |_: &Engine| Ok::<_, EngineError>(inputs(&batch)))
                        .expect("a write is accepted");
                }
                after.push(shared.read(seen).unwrap());
            }
            done.store(true, Ordering::Release);
            let states = reader.join().unwrap();
            prop_assert!(!states.is_empty());
            for (k, write) in writes.iter().enumerate() {
                prop_assert_eq!(after[k + 1].0, after[k].0 + write.a1);
                prop_assert_eq!(after[k + 1].1, after[k].1 + write.a2);
            }
            let mut last = 0;
            for state in states {
                let at = after.iter().position(|s| *s == state);
                prop_assert!(at.is_some(), "a read saw {:?}, between the states {:?}", state, after);
                let at = at.unwrap_or_default();
                prop_assert!(at >= last, "a read went back to {:?}", state);
                last = at;
            }
        }
    }
}
