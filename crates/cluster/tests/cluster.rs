//! Cluster mode against a real three-server JetStream cluster on loopback.
//!
//! Each test starts its own three servers (see `vasooli_cluster::testing`); the tests run
//! one at a time. Without a server binary they fail when `CI` is set and are skipped
//! otherwise.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::TryStreamExt;
use vasooli_cluster::envelope::{self, CommitId};
use vasooli_cluster::testing::TestCluster;
use vasooli_cluster::{ClusterConfig, ClusterError, ClusterLog, Leases, PartitionMap, Replica};
use vasooli_store::{NewCommit, NewEvent, RecordedEvent, Store};

/// One cluster at a time: three servers each already share two cores with the build.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Every event of a replica's local store, in log order.
fn all_events(replica: &Replica) -> Vec<RecordedEvent> {
    replica
        .store()
        .read_all(1)
        .collect::<Result<_, _>>()
        .unwrap()
}

/// One test's cluster: the turn that runs these tests one at a time, three servers, and a
/// client of the log laid out under `stream`; `None` when no server binary is found (see
/// [`TestCluster::start`]).
async fn started(
    stream: &str,
) -> Option<(
    tokio::sync::MutexGuard<'static, ()>,
    TestCluster,
    ClusterLog,
)> {
    let turn = ONE_AT_A_TIME.lock().await;
    let cluster = TestCluster::start().await?;
    let log = ClusterLog::connect(config(&cluster, stream))
        .await
        .expect("connect");
    Some((turn, cluster, log))
}

fn config(cluster: &TestCluster, stream: &str) -> ClusterConfig {
    let mut config = ClusterConfig::new(cluster.urls());
    config.stream = stream.to_string();
    config.subject_prefix = format!("{}.log", stream.to_lowercase());
    config
}

/// Commit number `n` of a test: two events of one consumer, the payment keyed.
fn commit(n: u64) -> NewCommit {
    let consumer = format!("consumer-{}", n % 17);
    NewCommit::new(vec![
        NewEvent::new(
            consumer.clone(),
            "Billed",
            format!("bill {n}").into_bytes(),
            1_700_000_000_000 + n as i64,
        ),
        NewEvent::new(
            consumer,
            "Paid",
            format!("payment {n}").into_bytes(),
            1_700_000_000_000 + n as i64,
        )
        .with_key("receipt", format!("R-{n}"), n),
    ])
}

/// Commit `n` with both events keyed: applied a second time, all of it is skipped.
fn keyed_commit(n: u64) -> NewCommit {
    let mut c = commit(n);
    c.events[0].key = Some(vasooli_store::NaturalKey {
        namespace: "bill".to_string(),
        key: format!("B-{n}"),
        content_hash: n,
    });
    c
}

/// Every entry of `partition` read from the stream's leader: (sequence, commit id, commit).
async fn read_log(log: &ClusterLog, partition: &str) -> Vec<(u64, CommitId, NewCommit)> {
    let entries: Vec<(u64, Bytes)> = log
        .read_from(partition, 1)
        .try_collect()
        .await
        .expect("read the log");
    entries
        .into_iter()
        .map(|(seq, bytes)| {
            let (id, commit) = envelope::decode(&bytes).expect("an entry decodes");
            (seq, id, commit)
        })
        .collect()
}

/// Checks that each server's own copy of `partition` holds exactly `acked` (sequence, id),
/// in order: connects to each server alone and reads what it serves; a restarted server
/// is given time to catch up.
async fn assert_every_copy_holds(
    cluster: &TestCluster,
    stream: &str,
    partition: &str,
    acked: &[(u64, CommitId)],
) {
    for i in 0..3 {
        let mut alone = config(cluster, stream);
        alone.servers = vec![cluster.url(i)];
        let log = ClusterLog::connect(alone)
            .await
            .expect("connect to one server");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let copy: Vec<(u64, CommitId)> = log
                .read_served_copy(partition)
                .await
                .expect("read a server's copy")
                .into_iter()
                .map(|(seq, bytes)| (seq, envelope::decode(&bytes).expect("decodes").0))
                .collect();
            if copy == acked {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "server n{i} serves {} entries, {} acknowledged; first difference at {:?}",
                copy.len(),
                acked.len(),
                copy.iter().zip(acked).position(|(a, b)| a != b)
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let ids: HashSet<CommitId> = acked.iter().map(|(_, id)| *id).collect();
        assert_eq!(ids.len(), acked.len(), "no commit twice");
    }
}

/// With every server stopped, checks each server's files: the stream's message blocks on
/// each disk hold every acknowledged commit id exactly once (ids are 32 hex digits, in the
/// entry's `Nats-Msg-Id` header).
fn assert_every_disk_holds_each_once(
    cluster: &TestCluster,
    stream: &str,
    acked: &[(u64, CommitId)],
) {
    for i in 0..3 {
        assert!(!cluster.is_running(i));
        let files = cluster.stream_block_files(i, stream);
        assert!(!files.is_empty(), "n{i} keeps no blocks of {stream}");
        let mut text = String::new();
        for f in &files {
            text.push_str(&String::from_utf8_lossy(
                &std::fs::read(f).expect("read a block"),
            ));
        }
        for (seq, id) in acked {
            let hex = envelope::commit_id_hex(id);
            assert_eq!(
                text.matches(hex.as_str()).count(),
                1,
                "n{i}: commit {hex} (sequence {seq}) on disk"
            );
        }
    }
}

/// Replica states until every member of the stream's group is current (bounded).
async fn wait_all_current(log: &ClusterLog) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let states = log.replica_states().await.expect("replica states");
        if states.len() == 3 && states.iter().all(|s| s.current) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replicas not current: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_stream_leader_mid_append_loses_no_acknowledged_commit_and_doubles_none() {
    let Some((_turn, mut cluster, log)) = started("KILL").await else {
        return;
    };
    const COMMITS: u64 = 2000;
    let partition = "p1";
    // (sequence, commit id, when acknowledged) of every acknowledged append, in order.
    let acked: Arc<Mutex<Vec<(u64, CommitId, Instant)>>> = Arc::default();
    let writer = {
        let log = log.clone();
        let acked = Arc::clone(&acked);
        tokio::spawn(async move {
            let mut last = 0;
            for n in 0..COMMITS {
                let id = envelope::new_commit_id();
                let entry = envelope::encode(&id, &commit(n)).expect("encode");
                let seq = log
                    .append(partition, &id, Bytes::from(entry), last)
                    .await
                    .unwrap_or_else(|e| panic!("append {n}: {e}"));
                assert!(seq > last, "append {n}: sequence {seq} after {last}");
                last = seq;
                acked.lock().unwrap().push((seq, id, Instant::now()));
            }
        })
    };
    // Let a quarter go through, then kill whichever server leads the stream.
    let started = Instant::now();
    let deadline = started + Duration::from_secs(120);
    while acked.lock().unwrap().len() < (COMMITS / 4) as usize {
        assert!(Instant::now() < deadline, "appends too slow");
        assert!(!writer.is_finished(), "the writer stopped");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let before_kill = acked.lock().unwrap().len();
    let rate = before_kill as f64 / started.elapsed().as_secs_f64();
    let leader = log.leader().await.expect("leader");
    let victim = cluster
        .index_of(&leader)
        .expect("the leader is one of ours");
    let killed_at = Instant::now();
    cluster.kill(victim);
    writer.await.expect("every append acknowledged");
    let acked: Vec<(u64, CommitId, Instant)> = acked.lock().unwrap().clone();
    // The longest wait for an acknowledgement after the kill: the failover as the writer saw it.
    let failover = acked
        .windows(2)
        .filter(|w| w[1].2 > killed_at)
        .map(|w| w[1].2.saturating_duration_since(w[0].2.max(killed_at)))
        .max()
        .unwrap_or_default();
    eprintln!(
        "cluster figures: {rate:.0} appends/s at R3 with sync always ({before_kill} appends before the kill); \
         leader {leader} killed after {before_kill} acknowledged; longest wait for an acknowledgement after it: {failover:?}"
    );
    assert_ne!(
        log.leader().await.expect("new leader"),
        leader,
        "another server leads"
    );
    cluster.restart(victim).await;

    let acked: Vec<(u64, CommitId)> = acked.iter().map(|(s, id, _)| (*s, *id)).collect();
    assert_eq!(acked.len() as u64, COMMITS);
    let entries = read_log(&log, partition).await;
    let read: Vec<(u64, CommitId)> = entries.iter().map(|(s, id, _)| (*s, *id)).collect();
    assert_eq!(
        read, acked,
        "the log holds every acknowledged commit once, in order"
    );
    for (n, (_, _, c)) in entries.iter().enumerate() {
        assert_eq!(c.events, commit(n as u64).events, "entry {n}");
    }
    wait_all_current(&log).await;
    assert_every_copy_holds(&cluster, "KILL", partition, &acked).await;

    // A replica built from the log after the failover applies each commit once.
    let dir = tempfile::tempdir().unwrap();
    let replica = Replica::open(log.clone(), partition, dir.path()).expect("replica");
    let caught = replica.catch_up().await.expect("catch up");
    assert_eq!((caught.commits, caught.appended), (COMMITS, 2 * COMMITS));
    assert_eq!((caught.duplicates, caught.refused), (0, 0));
    assert_eq!(caught.covered, acked.last().unwrap().0);
    let paid = replica
        .store()
        .read_all(1)
        .filter(|e| e.as_ref().unwrap().event_type == "Paid")
        .count();
    assert_eq!(paid as u64, COMMITS);
    for n in [0, COMMITS / 2, COMMITS - 1] {
        assert!(replica
            .store()
            .lookup_key("receipt", &format!("R-{n}"))
            .unwrap()
            .is_some());
    }

    cluster.kill_all();
    assert_every_disk_holds_each_once(&cluster, "KILL", &acked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_and_restarting_all_three_servers_keeps_every_acknowledged_commit() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(mut cluster) = TestCluster::start().await else {
        return;
    };
    let partition = "p2";
    let mut acked = Vec::new();
    {
        let log = ClusterLog::connect(config(&cluster, "ALL"))
            .await
            .expect("connect");
        let mut last = 0;
        for n in 0..300 {
            let id = envelope::new_commit_id();
            let entry = envelope::encode(&id, &commit(n)).expect("encode");
            last = log
                .append(partition, &id, Bytes::from(entry), last)
                .await
                .expect("append");
            acked.push((last, id));
        }
    }
    // All three at once, without a chance to flush anything more.
    cluster.kill_all();
    cluster.start_all().await;
    let log = ClusterLog::connect(config(&cluster, "ALL"))
        .await
        .expect("reconnect");
    let read: Vec<(u64, CommitId)> = read_log(&log, partition)
        .await
        .iter()
        .map(|(s, id, _)| (*s, *id))
        .collect();
    assert_eq!(read, acked);
    assert_eq!(
        log.last_seq(partition).await.expect("last"),
        acked.last().unwrap().0
    );
    wait_all_current(&log).await;
    assert_every_copy_holds(&cluster, "ALL", partition, &acked).await;
    cluster.kill_all();
    assert_every_disk_holds_each_once(&cluster, "ALL", &acked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_owner_is_refused_and_applies_nothing_locally() {
    let Some((_turn, _servers, log)) = started("STALE").await else {
        return;
    };
    let leases = Leases::open(&log).await.expect("leases");
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ttl = Duration::from_secs(2);
    let partition = "dehradun-north";

    let mut lease_a = leases
        .acquire(partition, "owner-a", ttl)
        .await
        .expect("A takes the lease");
    let a = Replica::open(log.clone(), partition, dirs.0.path()).expect("A's store");
    let first = a.append(commit(1)).await.expect("A appends");
    assert_eq!(first.receipt.appended, 2);

    let b = Replica::open(log.clone(), partition, dirs.1.path()).expect("B's store");
    match leases.acquire(partition, "owner-b", ttl).await {
        Err(ClusterError::LeaseHeld { holder, .. }) => assert_eq!(holder, "owner-a"),
        other => panic!("B took a held lease: {other:?}"),
    }
    // A stops renewing (paused, cut off); its lease runs out by the cluster's clock.
    let deadline = Instant::now() + Duration::from_secs(20);
    let lease_b = loop {
        match leases.acquire(partition, "owner-b", ttl).await {
            Ok(lease) => break lease,
            Err(ClusterError::LeaseHeld { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await
            }
            Err(e) => panic!("B could not take the expired lease: {e}"),
        }
    };
    assert_eq!(lease_b.holder, "owner-b");
    let caught = b.catch_up().await.expect("B catches up");
    assert_eq!((caught.commits, caught.covered), (1, first.seq));
    let second = b.append(commit(2)).await.expect("B appends");
    assert!(second.seq > first.seq);

    // A wakes up and appends as if it still owned the partition.
    let a_events_before: Vec<RecordedEvent> =
        a.store().read_all(1).collect::<Result<_, _>>().unwrap();
    match a.append(commit(3)).await {
        Err(ClusterError::StaleWriter {
            partition: p,
            expected,
            actual,
        }) => {
            assert_eq!(p, partition);
            assert_eq!(expected, first.seq);
            assert_eq!(actual, Some(second.seq));
        }
        other => panic!("the stale append was not refused: {other:?}"),
    }
    let a_events_after: Vec<RecordedEvent> =
        a.store().read_all(1).collect::<Result<_, _>>().unwrap();
    assert_eq!(a_events_after, a_events_before, "A's store got nothing");
    assert_eq!(a.covered().unwrap(), first.seq);
    assert_eq!(log.last_seq(partition).await.unwrap(), second.seq);
    match leases.renew(&mut lease_a).await {
        Err(ClusterError::LeaseLost { holder, .. }) => assert_eq!(holder, "owner-a"),
        other => panic!("A renewed a lease B holds: {other:?}"),
    }
    // A, caught up, holds what B wrote: the log is the one truth.
    a.catch_up().await.expect("A catches up");
    let b_events: Vec<RecordedEvent> = b.store().read_all(1).collect::<Result<_, _>>().unwrap();
    let a_events: Vec<RecordedEvent> = a.store().read_all(1).collect::<Result<_, _>>().unwrap();
    assert_eq!(a_events, b_events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_catches_up_to_a_byte_identical_store_and_a_second_catch_up_applies_nothing() {
    let Some((_turn, _servers, log)) = started("CATCH").await else {
        return;
    };
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let partition = "p4";
    let owner = Replica::open(log.clone(), partition, dirs.0.path()).expect("owner");
    const N: u64 = 300;
    let started = Instant::now();
    for n in 0..N {
        owner.append(commit(n)).await.expect("append");
    }
    let append_time = started.elapsed();
    let standby = Replica::open(log.clone(), partition, dirs.1.path()).expect("standby");
    let started = Instant::now();
    let caught = standby.catch_up().await.expect("catch up");
    let catch_up_time = started.elapsed();
    eprintln!(
        "cluster figures: owner appended {N} commits (log + local store) in {append_time:?}; \
         the standby caught up {} commits in {catch_up_time:?} ({:.0} commits/s)",
        caught.commits,
        caught.commits as f64 / catch_up_time.as_secs_f64()
    );
    assert_eq!(caught.commits, N);
    assert_eq!(caught.appended, 2 * N);
    assert_eq!((caught.duplicates, caught.refused), (0, 0));
    assert_eq!(caught.covered, owner.covered().unwrap());
    assert_eq!(standby.covered().unwrap(), owner.covered().unwrap());
    let owner_events: Vec<RecordedEvent> =
        owner.store().read_all(1).collect::<Result<_, _>>().unwrap();
    let standby_events: Vec<RecordedEvent> = standby
        .store()
        .read_all(1)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(owner_events.len() as u64, 2 * N);
    assert_eq!(standby_events, owner_events);

    let again = standby.catch_up().await.expect("catch up again");
    assert_eq!((again.commits, again.appended), (0, 0));
    assert_eq!(again.covered, caught.covered);

    // Closed and opened again, the standby resumes after what it covers.
    let covered = standby.covered().unwrap();
    drop(standby);
    owner.append(commit(N)).await.expect("append");
    let standby = Replica::open(log.clone(), partition, dirs.1.path()).expect("reopen standby");
    assert_eq!(standby.covered().unwrap(), covered);
    let more = standby.catch_up().await.expect("catch up after reopening");
    assert_eq!((more.commits, more.appended), (1, 2));
    assert_eq!(all_events(&standby), all_events(&owner));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_published_again_after_the_dedupe_window_is_skipped_by_the_natural_key_index() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(cluster) = TestCluster::start().await else {
        return;
    };
    let mut cfg = config(&cluster, "DEDUPE");
    cfg.duplicate_window = Duration::from_secs(1);
    let log = ClusterLog::connect(cfg).await.expect("connect");
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let partition = "p5";
    let owner = Replica::open(log.clone(), partition, dirs.0.path()).expect("owner");
    let id = envelope::new_commit_id();
    let first = owner.append_as(&id, keyed_commit(7)).await.expect("append");
    assert_eq!((first.receipt.appended, first.receipt.duplicates), (2, 0));

    // Within the window JetStream drops the second append of the same commit id.
    let entry = Bytes::from(envelope::encode(&id, &keyed_commit(7)).unwrap());
    let again = log
        .append(partition, &id, entry.clone(), first.seq)
        .await
        .expect("append again");
    assert_eq!(again, first.seq, "deduplicated to the first entry");
    assert_eq!(log.last_seq(partition).await.unwrap(), first.seq);

    // After it, the same commit id makes a second entry.
    let deadline = Instant::now() + Duration::from_secs(15);
    let second = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        match owner.append_as(&id, keyed_commit(7)).await {
            Ok(appended) => break appended,
            Err(ClusterError::Refused { .. }) if Instant::now() < deadline => continue,
            Err(e) => panic!("append after the window: {e}"),
        }
    };
    assert!(second.seq > first.seq);
    // The store's permanent natural-key index skips both events.
    assert_eq!((second.receipt.appended, second.receipt.duplicates), (0, 2));
    let entries = read_log(&log, partition).await;
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[0].1, entries[1].1,
        "the same commit id twice in the log"
    );

    // A standby applying the log skips the repeated commit too.
    let standby = Replica::open(log.clone(), partition, dirs.1.path()).expect("standby");
    let caught = standby.catch_up().await.expect("catch up");
    assert_eq!(caught.commits, 2);
    assert_eq!((caught.appended, caught.duplicates), (2, 2));
    let owner_events = all_events(&owner);
    assert_eq!(all_events(&standby), owner_events);
    assert_eq!(
        owner_events.len(),
        2,
        "the bill and the payment are recorded once"
    );
    assert_eq!(standby.covered().unwrap(), second.seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_are_taken_renewed_released_refused_while_held_and_taken_over_after_expiry() {
    let Some((_turn, _servers, log)) = started("LEASE").await else {
        return;
    };
    let leases = Leases::open(&log).await.expect("leases");
    let ttl = Duration::from_secs(3);

    let mut a = leases.acquire("p6", "a", ttl).await.expect("a takes p6");
    assert_eq!(a.holder, "a");
    let first_expiry = a.expires_at;
    assert_eq!(
        leases
            .holder("p6")
            .await
            .unwrap()
            .map(|(h, _)| h)
            .as_deref(),
        Some("a")
    );
    match leases.acquire("p6", "b", ttl).await {
        Err(ClusterError::LeaseHeld {
            name,
            holder,
            expires_at,
        }) => {
            assert_eq!((name.as_str(), holder.as_str()), ("p6", "a"));
            assert_eq!(expires_at, a.expires_at);
        }
        other => panic!("b took a held lease: {other:?}"),
    }
    // Renewing keeps it past its first expiry.
    let revision = a.revision;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    leases.renew(&mut a).await.expect("renew");
    assert!(a.revision > revision);
    assert!(a.expires_at > first_expiry);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Past the first expiry (by the cluster's clock), still held thanks to the renewal.
    assert!(leases.cluster_now().await.unwrap() > first_expiry);
    assert!(matches!(
        leases.acquire("p6", "b", ttl).await,
        Err(ClusterError::LeaseHeld { .. })
    ));
    // Released, it is free at once.
    leases.release(a).await.expect("release");
    assert_eq!(leases.holder("p6").await.unwrap(), None);
    let b = leases
        .acquire("p6", "b", ttl)
        .await
        .expect("b takes the released lease");

    // Left to expire, it is taken over; its former holder cannot renew it.
    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    assert_eq!(leases.holder("p6").await.unwrap(), None);
    let c = leases
        .acquire("p6", "c", ttl)
        .await
        .expect("c takes the expired lease");
    assert!(c.revision > b.revision);
    let mut stale_b = b;
    assert!(matches!(
        leases.renew(&mut stale_b).await,
        Err(ClusterError::LeaseLost { .. })
    ));
    assert!(matches!(
        leases.release(stale_b).await,
        Err(ClusterError::LeaseLost { .. })
    ));
    // Each partition has a lease of its own.
    leases.acquire("p7", "a", ttl).await.expect("a takes p7");
    assert!(matches!(
        leases.acquire("bad name", "a", ttl).await,
        Err(ClusterError::InvalidName { .. })
    ));

    // The partition map.
    let map = PartitionMap::open(&log).await.expect("map");
    assert_eq!(map.partition_of("D101").await.unwrap(), None);
    map.assign("D101", "north").await.expect("assign");
    map.assign("D102", "south").await.expect("assign");
    assert_eq!(
        map.partition_of("D101").await.unwrap().as_deref(),
        Some("north")
    );
    map.assign("D101", "south").await.expect("move");
    assert_eq!(
        map.partition_of("D101").await.unwrap().as_deref(),
        Some("south")
    );
    assert_eq!(
        map.partition_of("D102").await.unwrap().as_deref(),
        Some("south")
    );
    assert!(matches!(
        map.assign("D 1", "north").await,
        Err(ClusterError::InvalidName { .. })
    ));

    // Generations: written on condition of the revision read, so a writer that read an older
    // one writes nothing.
    assert_eq!(map.generation_revision("north").await.unwrap(), (0, None));
    assert!(map.set_generation_if("north", 1, None).await.unwrap());
    let (one, read) = map.generation_revision("north").await.unwrap();
    assert_eq!((one, map.generation("north").await.unwrap()), (1, 1));
    assert!(!map.set_generation_if("north", 5, None).await.unwrap());
    map.touch_generation("north").await.unwrap();
    assert!(!map.set_generation_if("north", 2, read).await.unwrap());
    assert_eq!(map.generation("north").await.unwrap(), 1);
    let (_, now) = map.generation_revision("north").await.unwrap();
    assert!(map.set_generation_if("north", 2, now).await.unwrap());
    assert_eq!(map.generation("north").await.unwrap(), 2);
    assert_eq!(map.rebuilt().await.unwrap(), ["north"]);
    // One move at a time; a record is removed only by the move it names.
    assert!(map.begin_move("D101 north south 3 1 aa").await.unwrap());
    assert!(!map.begin_move("D102 south north 1 3 bb").await.unwrap());
    map.end_move("D102 south north 1 3 bb").await.unwrap();
    assert_eq!(
        map.move_under_way().await.unwrap().as_deref(),
        Some("D101 north south 3 1 aa")
    );
    map.end_move("D101 north south 3 1 aa").await.unwrap();
    assert_eq!(map.move_under_way().await.unwrap(), None);
    assert!(map.begin_move("D102 south north 1 3 bb").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_renewed_and_refused_through_the_election_after_its_buckets_leader_is_killed() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(mut cluster) = TestCluster::start().await else {
        return;
    };
    let cfg = config(&cluster, "FAIL");
    let log = ClusterLog::connect(cfg.clone()).await.expect("connect");
    let leases = Leases::open(&log).await.expect("leases");
    let ttl = Duration::from_secs(60);
    let mut lease = leases.acquire("p8", "a", ttl).await.expect("a takes p8");

    // Who leads the lease bucket's stream.
    let js = async_nats::jetstream::new(log.client().clone());
    let bucket_stream = format!("KV_{}", cfg.lease_bucket);
    let mut stream = js
        .get_stream(&bucket_stream)
        .await
        .expect("the bucket's stream");
    let info = stream.info().await.expect("info");
    let leader = info
        .cluster
        .as_ref()
        .and_then(|c| c.leader.clone())
        .expect("the bucket has a leader");
    let victim = cluster.index_of(&leader).expect("one of ours");
    cluster.kill(victim);

    // Renewing and a contender's refusal go through the election.
    let revision = lease.revision;
    leases
        .renew(&mut lease)
        .await
        .expect("renewed through the election");
    assert!(lease.revision > revision);
    match leases.acquire("p8", "b", ttl).await {
        Err(ClusterError::LeaseHeld { holder, .. }) => assert_eq!(holder, "a"),
        other => panic!("b took a's lease: {other:?}"),
    }
    cluster.restart(victim).await;
    leases.release(lease).await.expect("release");
    leases
        .acquire("p8", "b", ttl)
        .await
        .expect("b takes it once released");
}

#[test]
fn a_store_opened_as_a_replica_keeps_working_as_a_plain_store() {
    // Cluster bookkeeping does not change what a store reads back.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.append(commit(1).covering(5)).unwrap();
    assert_eq!(store.covered_sequence().unwrap(), 5);
    let events: Vec<RecordedEvent> = store.read_all(1).collect::<Result<_, _>>().unwrap();
    assert_eq!(events.len(), 2);
    assert!(store.verify().unwrap().problems.is_empty());
}
