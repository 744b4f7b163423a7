//! A partition's owner writing through its store (the hook of `Replica::route_store_appends`)
//! and a new owner fencing it, against a real three-server JetStream cluster on loopback.
//! Without a server binary the test fails when `CI` is set and is skipped otherwise.

use std::sync::Arc;
use std::time::Duration;

use vasooli_cluster::testing::TestCluster;
use vasooli_cluster::{ClusterConfig, ClusterLog, Replica};
use vasooli_store::{NewCommit, NewEvent, RecordedEvent, Store, StoreError};

fn commit(n: u64, hash: u64) -> NewCommit {
    NewCommit::new(vec![NewEvent::new(
        format!("consumer-{n}"),
        "Paid",
        format!("payment {n}").into_bytes(),
        1_700_000_000_000 + n as i64,
    )
    .with_key("receipt", format!("R-{n}"), hash)])
}

/// `store.append(commit)` on a blocking thread, as the engine's writes run.
async fn append(
    store: &Store,
    commit: NewCommit,
) -> Result<vasooli_store::CommitReceipt, StoreError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.append(commit))
        .await
        .expect("the append task")
}

fn events(store: &Store) -> Vec<RecordedEvent> {
    store.read_all(1).collect::<Result<_, _>>().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_appends_go_through_the_log_and_a_fenced_owner_writes_no_more() {
    let Some(cluster) = TestCluster::start().await else {
        return;
    };
    let mut config = ClusterConfig::new(cluster.urls());
    config.retry_for = Duration::from_secs(10);
    let log = ClusterLog::connect(config).await.expect("connect");
    let partition = "north";
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let runtime = tokio::runtime::Handle::current();

    // A owns the partition: its store's appends go through the log.
    let a = Arc::new(Replica::open(log.clone(), partition, dirs.0.path()).unwrap());
    let a_fence = a.fence().await.expect("A fences");
    assert_eq!(a_fence, 1);
    a.route_store_appends(runtime.clone());
    let receipt = append(a.store(), commit(1, 1)).await.expect("A appends");
    assert_eq!(receipt.appended, 1);
    assert_eq!(log.last_seq(partition).await.unwrap(), 2);
    assert_eq!(a.covered().unwrap(), 2);
    // submit answers with the log's outcome too.
    let store = a.store().clone();
    let submitted = tokio::task::spawn_blocking(move || store.submit(commit(2, 2))?.wait())
        .await
        .unwrap()
        .expect("A submits");
    assert_eq!(submitted.appended, 1);
    assert_eq!(log.last_seq(partition).await.unwrap(), 3);
    // A commit the store refuses (the same key, other content) answers as the store would;
    // its entry stays in the log, covered by every replica alike.
    match append(a.store(), commit(2, 99)).await {
        Err(StoreError::KeyConflict { key, .. }) => assert_eq!(key, "R-2"),
        other => panic!("the conflicting commit was taken: {other:?}"),
    }
    assert_eq!(a.covered().unwrap(), 4);
    assert!(a.stopped().is_none());

    // B takes over: catches up, then fences.
    let b = Arc::new(Replica::open(log.clone(), partition, dirs.1.path()).unwrap());
    let b_fence = b.fence().await.expect("B fences");
    assert_eq!(b_fence, 5);
    assert_eq!(b.covered().unwrap(), 5);
    assert_eq!(events(b.store()), events(a.store()));

    // A's next append names sequence 4 as the last: refused, nothing applied.
    let before = events(a.store());
    let e = append(a.store(), commit(3, 3))
        .await
        .expect_err("the fenced owner's append");
    assert!(
        matches!(e, StoreError::Replication { stale: true, .. }),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains("partition north") && !text.contains('\n'),
        "{text}"
    );
    assert!(a.stopped().is_some());
    assert_eq!(events(a.store()), before);
    // From then on A refuses at once, without asking the log.
    assert!(matches!(
        append(a.store(), commit(4, 4)).await,
        Err(StoreError::Replication { stale: true, .. })
    ));
    assert_eq!(log.last_seq(partition).await.unwrap(), 5);

    // B writes; A, as a standby again, applies it.
    b.route_store_appends(runtime);
    append(b.store(), commit(3, 3)).await.expect("B appends");
    assert_eq!(log.last_seq(partition).await.unwrap(), 6);
    let caught = a.catch_up().await.expect("A catches up");
    assert_eq!((caught.commits, caught.covered), (2, 6));
    assert_eq!(events(a.store()), events(b.store()));
    assert_eq!(events(b.store()).len(), 3);
}
