//! A store whose appends a hook takes over (cluster mode: the partition's replicated log):
//! `append` and `submit` go to the hook, `append_local` does not, and a hook that cannot
//! take a commit answers with a one-line error naming the partition and the cause.

use std::sync::{Arc, Mutex};

use vasooli_store::{AppendThrough, CommitReceipt, NewCommit, NewEvent, Store, StoreError};

/// A log of commits held in memory: each taken commit is numbered and applied to the store
/// with its number as covered sequence; once `refuse` is set, nothing is taken.
struct MemoryLog {
    store: Store,
    taken: Mutex<Vec<NewCommit>>,
    refuse: Mutex<Option<String>>,
}

impl AppendThrough for MemoryLog {
    fn append(&self, commit: NewCommit) -> Result<CommitReceipt, StoreError> {
        if let Some(cause) = self.refuse.lock().unwrap().clone() {
            return Err(StoreError::Replication {
                partition: "north".to_string(),
                cause,
                stale: true,
            });
        }
        let mut taken = self.taken.lock().unwrap();
        taken.push(commit.clone());
        let seq = taken.len() as u64;
        self.store.append_local(commit.covering(seq))
    }
}

fn event(n: u32) -> NewCommit {
    NewCommit::new(vec![NewEvent::new(
        "s",
        "E",
        format!("event {n}").into_bytes(),
        0,
    )])
}

#[test]
fn appends_go_through_the_hook_and_local_appends_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let log = Arc::new(MemoryLog {
        store: store.clone(),
        taken: Mutex::new(Vec::new()),
        refuse: Mutex::new(None),
    });
    store.append_through(log.clone());

    let receipt = store.append(event(1)).unwrap();
    assert_eq!((receipt.first_position, receipt.appended), (1, 1));
    // A clone shares the hook; submit answers at once with the hook's answer.
    let pending = store.clone().submit(event(2)).unwrap();
    assert_eq!(pending.wait().unwrap().last_position, 2);
    assert_eq!(log.taken.lock().unwrap().len(), 2);
    assert_eq!(store.covered_sequence().unwrap(), 2);

    // A local append bypasses the hook: the log did not see it.
    store.append_local(event(3)).unwrap();
    assert_eq!(log.taken.lock().unwrap().len(), 2);
    assert_eq!(store.last_position(), 3);

    // Refused: one line naming the partition and the cause; nothing written.
    *log.refuse.lock().unwrap() = Some("another owner appended since".to_string());
    let e = store.append(event(4)).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, StoreError::Replication { stale: true, .. }));
    assert!(
        text.contains("partition north") && text.contains("another owner appended since"),
        "{text}"
    );
    assert!(!text.contains('\n'), "{text}");
    assert!(store.submit(event(5)).unwrap().wait().is_err());
    assert_eq!(store.last_position(), 3);

    // Without the hook, appends are local again.
    store.clear_append_through();
    store.append(event(6)).unwrap();
    assert_eq!(store.last_position(), 4);
    assert_eq!(log.taken.lock().unwrap().len(), 2);
    let payloads: Vec<String> = store
        .read_stream("s")
        .unwrap()
        .into_iter()
        .map(|e| String::from_utf8(e.payload).unwrap())
        .collect();
    assert_eq!(payloads, ["event 1", "event 2", "event 3", "event 6"]);
}
