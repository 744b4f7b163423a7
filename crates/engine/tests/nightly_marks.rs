//! A nightly run tells its marks (a partition owner's record in the cluster) when it starts,
//! before it appends anything, and when it has ended; a mark that cannot be made stops the
//! run with nothing appended.

use chrono::NaiveDate;
use serde_json::json;
use std::sync::{Arc, Mutex};
use vasooli_domain::Policy;
use vasooli_engine::{Engine, EngineError, NightlyMarks};
use vasooli_store::{Store, StoreError};

mod common;

/// Notes each call with the store's last position at the time.
struct Recorder {
    store: Store,
    calls: Mutex<Vec<(String, u64)>>,
    refuse: bool,
}

impl NightlyMarks for Recorder {
    fn started(&self, as_of: NaiveDate) -> Result<(), StoreError> {
        let position = self.store.last_position();
        self.calls
            .lock()
            .unwrap()
            .push((format!("started {as_of}"), position));
        if self.refuse {
            return Err(StoreError::Replication {
                partition: "north".into(),
                cause: "no quorum".into(),
                stale: false,
            });
        }
        Ok(())
    }

    fn finished(&self, as_of: NaiveDate) -> Result<(), StoreError> {
        let position = self.store.last_position();
        self.calls
            .lock()
            .unwrap()
            .push((format!("finished {as_of}"), position));
        Ok(())
    }
}

fn engine_with_an_overdue_bill(dir: &std::path::Path) -> Engine {
    let mut engine = Engine::open(dir, Policy::default()).unwrap();
    let mut setup = common::offices_and_consumers(&["A1"]);
    setup.push(
        json!({"type": "issue_bill", "bill_no": "B1", "account_no": "A1",
        "period": "2026-03", "issued_on": "2026-03-05", "due_on": "2026-03-20",
        "amount": "5000.00"}),
    );
    engine
        .execute(common::inputs_from("setup", &setup))
        .expect("setup accepted");
    engine
}

/// The engine of [`engine_with_an_overdue_bill`], telling a recorder (which refuses the
/// start when `refuse`).
fn recorded(dir: &std::path::Path, refuse: bool) -> (Engine, Arc<Recorder>) {
    let mut engine = engine_with_an_overdue_bill(dir);
    let recorder = Arc::new(Recorder {
        store: engine.store().clone(),
        calls: Mutex::new(Vec::new()),
        refuse,
    });
    engine.set_nightly_marks(recorder.clone());
    (engine, recorder)
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

#[test]
fn a_run_is_marked_before_it_appends_and_unmarked_once_it_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let (mut engine, recorder) = recorded(dir.path(), false);
    let before = engine.store().last_position();
    let summary = engine.nightly(date("2026-06-30")).expect("the run");
    assert!(summary.appended > 1, "the run levied and recorded itself");
    let after = engine.store().last_position();
    assert_eq!(after, before + summary.appended as u64);
    assert_eq!(
        *recorder.calls.lock().unwrap(),
        [
            ("started 2026-06-30".to_string(), before),
            ("finished 2026-06-30".to_string(), after),
        ]
    );
}

#[test]
fn a_run_whose_mark_cannot_be_made_appends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut engine, recorder) = recorded(dir.path(), true);
    let before = engine.store().last_position();
    let refused = engine.nightly(date("2026-06-30"));
    assert!(
        matches!(
            refused,
            Err(EngineError::Store(StoreError::Replication { .. }))
        ),
        "{refused:?}"
    );
    assert_eq!(engine.store().last_position(), before);
    assert_eq!(engine.world().last_nightly, None);
    assert_eq!(recorder.calls.lock().unwrap().len(), 1, "no end is told");
}
