//! `vasooli cluster move`: moves a division, with every event of its consumers, camps and
//! grievances, from the partition holding it to another. See docs/CLUSTER.md ("Moving a
//! division").
//!
//! Both partitions' logs are written again, each as a new generation (a subject of its own),
//! from their events as the partitions' stores hold them; the partition map then names the
//! new generations and the division's new partition at once for the processes that read it.
//! The move holds both partitions' leases throughout, so nothing else writes to either, and
//! records itself in the cluster first, so that a move cut off is finished by running it
//! again and neither partition is taken over meanwhile.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use vasooli_cluster::{
    envelope, ClusterError, ClusterLog, Leases, PartitionMap, Replica, Snapshots,
};
use vasooli_domain::division_move::{plan_move, MovePlan, Recorded};
use vasooli_store::{NewCommit, Store};

use super::cluster::{check_name, check_servers, cluster_failure, config, runtime};
use crate::{Cli, Failure};

type Outcome = Result<(), Failure>;

/// How long the move's leases last unless renewed (every third of it).
const LEASE: Duration = Duration::from_secs(60);
/// At most this many events in one entry of a rebuilt log (as the engine's commits).
const ENTRY_EVENTS: usize = 10_000;

/// The move under way, as recorded in the cluster (key `move` of the partition map's
/// bucket): `DIVISION FROM TO FROM_GENERATION TO_GENERATION`.
#[derive(Debug, PartialEq)]
struct Intent {
    division: String,
    from: String,
    to: String,
    from_generation: u64,
    to_generation: u64,
}

impl Intent {
    fn parse(text: &str) -> Option<Intent> {
        let parts: Vec<&str> = text.split(' ').collect();
        match parts[..] {
            [division, from, to, fg, tg] => Some(Intent {
                division: division.to_string(),
                from: from.to_string(),
                to: to.to_string(),
                from_generation: fg.parse().ok()?,
                to_generation: tg.parse().ok()?,
            }),
            _ => None,
        }
    }

    fn text(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.division, self.from, self.to, self.from_generation, self.to_generation
        )
    }
}

fn rejected(line: String) -> Failure {
    Failure::Rejected(vec![line])
}

pub fn run(cli: &Cli, servers: &[String], division: &str, to: &str) -> Outcome {
    check_servers(servers)?;
    check_name("division", division)?;
    check_name("partition", to)?;
    let work = crate::out::resolve(&cli.data).join(format!("move-{division}"));
    let runtime = runtime()?;
    let outcome = runtime.block_on(move_division(servers, division, to, &work));
    runtime.shutdown_timeout(Duration::from_secs(1));
    outcome
}

async fn move_division(servers: &[String], division: &str, to: &str, work: &Path) -> Outcome {
    let log = ClusterLog::connect(config(servers, Duration::from_secs(30)))
        .await
        .map_err(cluster_failure)?;
    let map = PartitionMap::open(&log).await.map_err(cluster_failure)?;
    let leases = Leases::open(&log).await.map_err(cluster_failure)?;
    let under_way = map.move_under_way().await.map_err(cluster_failure)?;
    let intent = match under_way.as_deref().map(|t| (t, Intent::parse(t))) {
        Some((_, Some(i))) if i.division == division && i.to == to => i,
        Some((text, _)) => {
            return Err(rejected(format!(
                "another move is under way (`{text}`): run it again to finish it first"
            )))
        }
        None => {
            let from = map
                .partition_of(division)
                .await
                .map_err(cluster_failure)?
                .ok_or_else(|| {
                    rejected(format!(
                        "division {division} is in no partition: give it one with `vasooli \
                         cluster assign`"
                    ))
                })?;
            if from == to {
                return Err(rejected(format!(
                    "division {division} is in partition {to} already"
                )));
            }
            Intent {
                division: division.to_string(),
                to: to.to_string(),
                from_generation: map.generation(&from).await.map_err(cluster_failure)? + 1,
                to_generation: map.generation(to).await.map_err(cluster_failure)? + 1,
                from,
            }
        }
    };
    let held = Held::take(&leases, &intent).await?;
    let moved = moving(&log, &map, &intent, &held, work).await;
    held.give_back(&leases).await;
    let moved = moved?;
    std::fs::remove_dir_all(work).ok();
    match moved {
        None => outln!(
            "division {division} moved to partition {to}: partition {} held nothing of it",
            intent.from
        ),
        Some(done) => {
            outln!(
                "division {division} moved from partition {} to {to}: {} events of {} consumers",
                intent.from,
                done.moved,
                done.consumers
            );
            for (partition, generation, events) in [
                (&intent.from, intent.from_generation, done.stays),
                (&intent.to, intent.to_generation, done.joined),
            ] {
                outln!("partition {partition}: log generation {generation}, {events} events");
            }
            outln!(
                "start the owners and standbys of partitions {} and {to} again on empty directories",
                intent.from
            );
        }
    }
    Ok(())
}

/// What a move wrote: events moved, consumers moved, and each log's events.
struct Moved {
    moved: usize,
    consumers: usize,
    stays: usize,
    joined: usize,
}

/// Both partitions' leases, renewed every third of their term while the move runs.
struct Held {
    lost: Arc<AtomicBool>,
    renewal: Option<tokio::task::JoinHandle<Vec<vasooli_cluster::Lease>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Held {
    async fn take(leases: &Leases, intent: &Intent) -> Result<Held, Failure> {
        let holder = format!("move-{}-{}", intent.division, std::process::id());
        let mut taken = Vec::new();
        for partition in [&intent.from, &intent.to] {
            match leases.acquire(partition, &holder, LEASE).await {
                Ok(lease) => taken.push(lease),
                Err(e) => {
                    for lease in taken {
                        let _ = leases.release(lease).await;
                    }
                    return Err(match e {
                        ClusterError::LeaseHeld { holder, .. } => rejected(format!(
                            "partition {partition} is owned by {holder}: stop its owner and its \
                             standbys before moving a division (the move takes the partition's \
                             lease while it runs)"
                        )),
                        e => cluster_failure(e),
                    });
                }
            }
        }
        let lost = Arc::new(AtomicBool::new(false));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let renewal = tokio::spawn({
            let (leases, lost) = (leases.clone(), Arc::clone(&lost));
            let mut held = taken;
            async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(LEASE / 3) => {}
                        _ = &mut stopped => return held,
                    }
                    for lease in &mut held {
                        if let Err(e) = leases.renew(lease).await {
                            tracing::warn!("renewing the lease of {}: {e}", lease.name);
                            lost.store(true, Ordering::SeqCst);
                        }
                    }
                }
            }
        });
        Ok(Held {
            lost,
            renewal: Some(renewal),
            stop: Some(stop),
        })
    }

    /// Whether both leases are still this move's.
    fn still_held(&self) -> Result<(), Failure> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(Failure::Runtime(anyhow::anyhow!(
                "the move lost a partition's lease; nothing was switched over: run it again"
            )));
        }
        Ok(())
    }

    async fn give_back(mut self, leases: &Leases) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let held = match self.renewal.take() {
            Some(renewal) => renewal.await.unwrap_or_default(),
            None => Vec::new(),
        };
        for lease in held {
            if let Err(e) = leases.release(lease).await {
                tracing::warn!("releasing a lease after the move: {e}");
            }
        }
    }
}

/// The move itself, once both leases are held: `None` when the division held nothing.
async fn moving(
    log: &ClusterLog,
    map: &PartitionMap,
    intent: &Intent,
    held: &Held,
    work: &Path,
) -> Result<Option<Moved>, Failure> {
    let Intent { from, to, .. } = intent;
    for partition in [from, to] {
        if let Some(date) = map
            .unfinished_nightly(partition)
            .await
            .map_err(cluster_failure)?
        {
            return Err(rejected(format!(
                "the nightly run of {date} in partition {partition} is unfinished: start its \
                 owner to finish it, then move the division"
            )));
        }
    }
    map.mark_move(Some(intent.text()))
        .await
        .map_err(cluster_failure)?;
    let (from_now, to_now) = (
        map.generation(from).await.map_err(cluster_failure)?,
        map.generation(to).await.map_err(cluster_failure)?,
    );
    // A move cut off after it began to switch over wrote both logs whole: it only finishes.
    let switching = from_now == intent.from_generation || to_now == intent.to_generation;
    let mut done = None;
    if !switching {
        std::fs::remove_dir_all(work).ok();
        let snapshots = Snapshots::open(log).await.map_err(cluster_failure)?;
        let from_events = read_partition(log, &snapshots, from, from_now, &work.join(from)).await?;
        let to_events = read_partition(log, &snapshots, to, to_now, &work.join(to)).await?;
        let division = intent.division.clone();
        let (from_name, to_name) = (from.clone(), to.clone());
        let plan = tokio::task::spawn_blocking(move || {
            plan_move(&division, (&from_name, from_events), (&to_name, to_events))
        })
        .await
        .map_err(|e| Failure::Runtime(e.into()))?
        .map_err(rejected)?;
        let Some(MovePlan {
            stays,
            joined,
            moved,
            consumers,
        }) = plan
        else {
            finish(log, map, intent, false).await?;
            return Ok(None);
        };
        let (stays_count, joined_count) = (stays.len(), joined.len());
        for (partition, generation, events) in [
            (from, intent.from_generation, stays),
            (to, intent.to_generation, joined),
        ] {
            let name = vasooli_cluster::log_name(partition, generation);
            let count = events.len() as u64;
            write_log(log, &name, events).await?;
            // Read back into a store of its own: every event is there, once.
            let check = work.join(&name);
            let replica = replica(log, partition, generation, &check)?;
            replica.catch_up().await.map_err(cluster_failure)?;
            let found = replica.store().last_position();
            if found != count {
                return Err(Failure::Runtime(anyhow::anyhow!(
                    "log {name} reads back {found} events of the {count} written; nothing was \
                     switched over: run the move again"
                )));
            }
        }
        done = Some(Moved {
            moved,
            consumers,
            stays: stays_count,
            joined: joined_count,
        });
    }
    held.still_held()?;
    finish(log, map, intent, true).await?;
    if done.is_none() {
        outln!("finished the move cut off before: both partitions' logs were written whole");
    }
    Ok(done)
}

/// Switches over: the new generations (when the logs were rebuilt), the division's
/// partition, the figures each partition published before (a new owner publishes again),
/// and the end of the move.
async fn finish(
    log: &ClusterLog,
    map: &PartitionMap,
    intent: &Intent,
    rebuilt: bool,
) -> Result<(), Failure> {
    let Intent { from, to, .. } = intent;
    if rebuilt {
        map.set_generation(from, intent.from_generation)
            .await
            .map_err(cluster_failure)?;
        map.set_generation(to, intent.to_generation)
            .await
            .map_err(cluster_failure)?;
    }
    map.assign(&intent.division, to)
        .await
        .map_err(cluster_failure)?;
    if rebuilt {
        // Figures published before the move name the partitions' former divisions.
        let log_figures = vasooli_cluster::FiguresBoard::open(log)
            .await
            .map_err(cluster_failure)?;
        for partition in [from, to] {
            log_figures
                .withdraw_all(partition)
                .await
                .map_err(cluster_failure)?;
        }
    }
    map.mark_move(None).await.map_err(cluster_failure)
}

/// A replica of `partition`'s log of `generation` in the empty directory `dir`.
fn replica(
    log: &ClusterLog,
    partition: &str,
    generation: u64,
    dir: &Path,
) -> Result<Replica, Failure> {
    let store = Store::open(dir).map_err(|e| Failure::Runtime(e.into()))?;
    Ok(Replica::with_store(log.clone(), partition, store).with_generation(generation))
}

/// Every event `partition`'s log of `generation` holds, as a store fed from it holds them
/// (its latest snapshot, then the log after it), with their recorded times.
async fn read_partition(
    log: &ClusterLog,
    snapshots: &Snapshots,
    partition: &str,
    generation: u64,
    dir: &Path,
) -> Result<Vec<Recorded>, Failure> {
    let replica = replica(log, partition, generation, dir)?;
    crate::commands::snapshot::load_into_empty(
        snapshots,
        partition,
        generation,
        replica.store(),
        dir,
    )
    .await
    .map_err(Failure::Runtime)?;
    replica.catch_up().await.map_err(cluster_failure)?;
    let store = replica.store().clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Recorded>> {
        let mut events = Vec::new();
        for recorded in store.read_all(1) {
            let recorded = recorded?;
            let event = vasooli_domain::codec::decode_event(&recorded.payload)
                .with_context(|| format!("position {}", recorded.position))?;
            events.push((event, recorded.recorded_at_ms));
        }
        Ok(events)
    })
    .await
    .map_err(|e| Failure::Runtime(e.into()))?
    .with_context(|| format!("reading partition {partition}"))
    .map_err(Failure::Runtime)
}

/// Writes `events` as the log `name` (emptied first: a move cut off may have begun it), in
/// entries of at most [`ENTRY_EVENTS`] events and half the servers' largest message.
async fn write_log(log: &ClusterLog, name: &str, events: Vec<Recorded>) -> Result<(), Failure> {
    log.purge(name).await.map_err(cluster_failure)?;
    let bytes_max = log.request_bytes_max() / 2;
    let mut last = 0;
    let mut pending = events.into_iter().peekable();
    while pending.peek().is_some() {
        let (mut chunk, mut bytes) = (Vec::new(), 0usize);
        while let Some((event, at)) = pending.peek() {
            let stored = vasooli_engine::engine::stored_event(event, *at)
                .map_err(|e| Failure::Runtime(e.into()))?;
            let size = stored.payload.len() + stored.stream.len() + 64;
            if !chunk.is_empty() && (chunk.len() == ENTRY_EVENTS || bytes + size > bytes_max) {
                break;
            }
            bytes += size;
            chunk.push(stored);
            pending.next();
        }
        let id = envelope::new_commit_id();
        let entry = envelope::encode(&id, &NewCommit::new(chunk))
            .map_err(|e| Failure::Runtime(anyhow::anyhow!("log {name}: {e}")))?;
        last = log
            .append(name, &id, entry.into(), last)
            .await
            .map_err(cluster_failure)?;
    }
    Ok(())
}

/// The move under way that concerns `partition`, said in words, if one is.
pub async fn under_way(
    map: &PartitionMap,
    partition: &str,
) -> Result<Option<String>, ClusterError> {
    Ok(map.move_under_way().await?.and_then(|text| {
        let intent = Intent::parse(&text)?;
        (intent.from == partition || intent.to == partition).then(|| {
            format!(
                "the move of division {} from {} to {}",
                intent.division, intent.from, intent.to
            )
        })
    }))
}

/// Why a directory following `partition`'s log of `had` cannot follow it at `now`.
pub fn rebuilt(partition: &str, had: u64, now: u64) -> String {
    format!(
        "partition {partition}'s log is at generation {now} (a division moved), and this \
         directory follows generation {had}: start this process again on an empty directory"
    )
}

/// Written in a cluster owner's data directory: the partition and the generation of its log
/// the directory follows.
const GENERATION_FILE: &str = "cluster-generation";

/// Checks that the data directory `dir` (holding `store`) follows `partition`'s log of
/// `generation`, and records it in an empty one. A directory with events and no record
/// follows the first generation (it was made before any move).
pub fn check_directory(
    dir: &Path,
    store: &Store,
    partition: &str,
    generation: u64,
) -> Result<(), Failure> {
    let file = crate::out::resolve(dir).join(GENERATION_FILE);
    let recorded = match std::fs::read_to_string(&file) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Failure::Runtime(anyhow::anyhow!("{}: {e}", file.display()))),
    };
    let empty = store.last_position() == 0
        && store
            .covered_sequence()
            .map_err(|e| Failure::Runtime(e.into()))?
            == 0;
    let had = match recorded.as_deref().map(str::trim) {
        Some(text) => {
            let (name, number) = text.split_once(' ').unwrap_or((text, ""));
            let number: u64 = number.parse().map_err(|_| {
                Failure::Runtime(anyhow::anyhow!(
                    "{}: `{text}` is not a partition and a generation",
                    file.display()
                ))
            })?;
            if name != partition {
                return Err(Failure::Runtime(anyhow::anyhow!(
                    "{} holds partition {name}, not {partition}",
                    dir.display()
                )));
            }
            number
        }
        None if empty => {
            let text = format!("{partition} {generation}\n");
            std::fs::write(&file, text)
                .and_then(|()| std::fs::File::open(&file)?.sync_all())
                .with_context(|| format!("writing {}", file.display()))?;
            generation
        }
        None => 0,
    };
    if had != generation {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "{}",
            rebuilt(partition, had, generation)
        )));
    }
    Ok(())
}
