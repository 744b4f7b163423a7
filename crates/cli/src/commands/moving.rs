//! `vasooli cluster move`: moves a division, with every event of its consumers, camps and
//! grievances, from the partition holding it to another. See docs/CLUSTER.md ("Moving a
//! division").
//!
//! Both partitions' logs are written again, each as a new generation (a subject of its own),
//! from their events as the partitions' stores hold them; the partition map then names the
//! new generations and the division's new partition. The move holds both partitions' leases
//! throughout and fences their logs, so nothing else writes to either; it records itself in
//! the cluster before it writes, so that a move cut off is finished by running it again (or
//! given up with `--abandon` before it switched over), and neither partition is taken over
//! meanwhile. Each run of a move has an id of its own, in its record, its leases' holder
//! name and nowhere else: a run that was paused past its leases finds its record replaced and
//! its leases taken, and writes only to logs no one follows.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use vasooli_cluster::{
    envelope, ClusterError, ClusterLog, FiguresBoard, Lease, Leases, PartitionMap, Replica,
    Snapshots,
};
use vasooli_domain::division_move::{plan_move, MovePlan, Recorded};
use vasooli_projections::figures::{move_division_figures, PartitionFigures};
use vasooli_store::{NewCommit, Store};

use super::cluster::{check_name, check_servers, cluster_failure, config, runtime};
use crate::{Cli, Failure};

type Outcome = Result<(), Failure>;

/// How long the move's leases last unless renewed (every third of it).
const LEASE: Duration = Duration::from_secs(60);
/// At most this many events in one entry of a rebuilt log (as the engine's commits).
const ENTRY_EVENTS: usize = 10_000;

/// The move under way, as recorded in the cluster (key `move` of the partition map's
/// bucket): `DIVISION FROM TO FROM_GENERATION TO_GENERATION RUN`.
#[derive(Clone, Debug, PartialEq)]
struct Intent {
    division: String,
    from: String,
    to: String,
    from_generation: u64,
    to_generation: u64,
    /// The run that recorded it.
    run: String,
}

impl Intent {
    fn parse(text: &str) -> Option<Intent> {
        let parts: Vec<&str> = text.split(' ').collect();
        match parts[..] {
            [division, from, to, fg, tg, run] => Some(Intent {
                division: division.to_string(),
                from: from.to_string(),
                to: to.to_string(),
                from_generation: fg.parse().ok()?,
                to_generation: tg.parse().ok()?,
                run: run.to_string(),
            }),
            _ => None,
        }
    }

    /// Whether its switch-over began: a partition's log is at the generation it names, given
    /// both partitions' `generations` now.
    fn switched(&self, generations: [(u64, Option<u64>); 2]) -> bool {
        generations[0].0 == self.from_generation || generations[1].0 == self.to_generation
    }

    fn text(&self) -> String {
        format!(
            "{} {} {} {} {} {}",
            self.division, self.from, self.to, self.from_generation, self.to_generation, self.run
        )
    }
}

fn rejected(line: String) -> Failure {
    Failure::Rejected(vec![line])
}

pub fn run(cli: &Cli, servers: &[String], division: &str, to: &str, abandon: bool) -> Outcome {
    check_servers(servers)?;
    check_name("division", division)?;
    check_name("partition", to)?;
    let work = crate::out::resolve(&cli.data).join(format!("move-{division}"));
    let runtime = runtime()?;
    let outcome = runtime.block_on(async {
        let log = ClusterLog::connect(config(servers, Duration::from_secs(30)))
            .await
            .map_err(cluster_failure)?;
        let map = PartitionMap::open(&log).await.map_err(cluster_failure)?;
        let leases = Leases::open(&log).await.map_err(cluster_failure)?;
        let resumed = recorded(&map, division, to).await?;
        let from = match &resumed {
            Some(intent) => intent.from.clone(),
            None if abandon => {
                return Err(rejected(format!(
                    "no move of division {division} to partition {to} is under way"
                )))
            }
            None => from_partition(&map, division, to).await?,
        };
        // This run's id: 12 hex digits of a new commit id (random).
        let run = envelope::commit_id_hex(&envelope::new_commit_id())[..12].to_string();
        let held = Held::take(&leases, division, &run, &from, to).await?;
        let ended = if abandon {
            abandoning(&map, division, to, resumed, &held).await
        } else {
            moving(&log, &map, division, &from, to, resumed, &held, &run, &work).await
        };
        held.give_back().await;
        std::fs::remove_dir_all(&work).ok();
        report(division, &from, to, ended?);
        Ok(())
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    outcome
}

/// The partition holding `division`, which must not be `to`.
async fn from_partition(map: &PartitionMap, division: &str, to: &str) -> Result<String, Failure> {
    let from = map
        .partition_of(division)
        .await
        .map_err(cluster_failure)?
        .ok_or_else(|| {
            rejected(format!(
                "division {division} is in no partition: give it one with `vasooli cluster assign`"
            ))
        })?;
    if from == to {
        return Err(rejected(format!(
            "division {division} is in partition {to} already"
        )));
    }
    Ok(from)
}

/// The move of `division` to `to` recorded as under way, if that is the one recorded;
/// another move recorded is a refusal.
async fn recorded(map: &PartitionMap, division: &str, to: &str) -> Result<Option<Intent>, Failure> {
    match map.move_under_way().await.map_err(cluster_failure)? {
        None => Ok(None),
        Some(text) => match Intent::parse(&text) {
            Some(i) if i.division == division && i.to == to => Ok(Some(i)),
            Some(i) => Err(rejected(format!(
                "the move of division {} from partition {} to {} is under way: run `vasooli \
                 cluster move --servers URL[,URL..] {} --to {}` again to finish it, or give it \
                 up with --abandon, first",
                i.division, i.from, i.to, i.division, i.to
            ))),
            None => Err(rejected(format!(
                "the cluster records a move under way that this version does not read \
                 (`{text}`)"
            ))),
        },
    }
}

/// Both partitions' generations and the revisions of their keys, as the partition map has
/// them now.
async fn generations(
    map: &PartitionMap,
    from: &str,
    to: &str,
) -> Result<[(u64, Option<u64>); 2], Failure> {
    Ok([
        map.generation_revision(from)
            .await
            .map_err(cluster_failure)?,
        map.generation_revision(to).await.map_err(cluster_failure)?,
    ])
}

/// How a move ended.
enum Ended {
    /// The division held nothing in the giving partition: only the partition map changed.
    Nothing,
    /// Both logs written and switched over.
    Moved { intent: Intent, counts: Counts },
    /// A move cut off after it began to switch over, finished.
    Finished { intent: Intent },
    /// A move cut off before it switched over, given up.
    Abandoned,
}

/// What a move wrote: events moved, consumers moved, and each log's events.
struct Counts {
    moved: usize,
    consumers: usize,
    stays: usize,
    joined: usize,
}

fn report(division: &str, from: &str, to: &str, ended: Ended) {
    match ended {
        Ended::Nothing => {
            outln!(
                "division {division} moved to partition {to}: partition {from} held nothing of it"
            );
            return;
        }
        Ended::Abandoned => {
            outln!(
                "gave up the move of division {division} from partition {from} to {to}: nothing \
                 was switched over"
            );
            return;
        }
        Ended::Moved { intent, counts } => {
            outln!(
                "division {division} moved from partition {from} to {to}: {} events of {} \
                 consumers",
                counts.moved,
                counts.consumers
            );
            outln!(
                "partition {from}: log generation {}, {} events",
                intent.from_generation,
                counts.stays
            );
            outln!(
                "partition {to}: log generation {}, {} events",
                intent.to_generation,
                counts.joined
            );
        }
        Ended::Finished { intent } => {
            outln!(
                "finished moving division {division} from partition {from} to {to}: both logs \
                 had been written whole (generations {} and {})",
                intent.from_generation,
                intent.to_generation
            );
        }
    }
    outln!(
        "start the owners and standbys of partitions {from} and {to} again on empty directories"
    );
}

/// Gives up a move cut off before it switched over, holding both leases (so not one that
/// runs still).
async fn abandoning(
    map: &PartitionMap,
    division: &str,
    to: &str,
    resumed: Option<Intent>,
    held: &Held,
) -> Result<Ended, Failure> {
    let recorded_now = recorded(map, division, to).await?;
    let Some(intent) = resumed.filter(|i| recorded_now.as_ref() == Some(i)) else {
        return Err(rejected(
            "the record of the move changed meanwhile: look again with `vasooli cluster status`"
                .to_string(),
        ));
    };
    if intent.switched(generations(map, &intent.from, &intent.to).await?) {
        return Err(rejected(format!(
            "the move of division {division} to partition {to} began to switch over: run it \
             again to finish it"
        )));
    }
    held.confirm("nothing was given up").await?;
    // A run of the move paused meanwhile finds the generations written since it read them,
    // and switches nothing over.
    for partition in [&intent.from, &intent.to] {
        map.touch_generation(partition)
            .await
            .map_err(cluster_failure)?;
    }
    map.end_move(&intent.text())
        .await
        .map_err(cluster_failure)?;
    Ok(Ended::Abandoned)
}

/// The first generation after `after` whose log is empty (a move cut off may have begun
/// one, and no log is ever emptied).
async fn free_generation(
    log: &ClusterLog,
    partition: &str,
    after: u64,
) -> Result<u64, ClusterError> {
    let mut generation = after + 1;
    while log
        .last_seq(&vasooli_cluster::log_name(partition, generation))
        .await?
        > 0
    {
        generation += 1;
    }
    Ok(generation)
}

/// The move itself, once both leases are held.
#[allow(clippy::too_many_arguments)]
async fn moving(
    log: &ClusterLog,
    map: &PartitionMap,
    division: &str,
    from: &str,
    to: &str,
    resumed: Option<Intent>,
    held: &Held,
    run: &str,
    work: &Path,
) -> Result<Ended, Failure> {
    // With the leases held, what was read before holds still.
    if recorded(map, division, to).await? != resumed
        || (resumed.is_none() && from_partition(map, division, to).await? != from)
    {
        return Err(rejected(
            "the partition map changed while the move began: run it again".to_string(),
        ));
    }
    let now = generations(map, from, to).await?;
    let revisions = now.map(|(_, revision)| revision);
    if let Some(intent) = &resumed {
        if intent.switched(now) {
            held.confirm("the switch-over was not finished: run the move again")
                .await?;
            finish(log, map, intent, revisions).await?;
            return Ok(Ended::Finished {
                intent: intent.clone(),
            });
        }
    }
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
    let [(from_now, _), (to_now, _)] = now;
    std::fs::remove_dir_all(work).ok();
    let snapshots = Snapshots::open(log).await.map_err(cluster_failure)?;
    let from_events = read_partition(log, &snapshots, from, from_now, &work.join(from)).await?;
    let to_events = read_partition(log, &snapshots, to, to_now, &work.join(to)).await?;
    let (name, from_name, to_name) = (division.to_string(), from.to_string(), to.to_string());
    let started = Instant::now();
    let plan = tokio::task::spawn_blocking(move || {
        plan_move(&name, (&from_name, from_events), (&to_name, to_events))
    })
    .await
    .map_err(|e| Failure::Runtime(e.into()))?
    .map_err(rejected)?;
    errln!("planned ({})", seconds(started));
    let Some(MovePlan {
        stays,
        joined,
        moved,
        consumers,
        ..
    }) = plan
    else {
        held.confirm("the partition map was not changed: run the move again")
            .await?;
        map.assign(division, to).await.map_err(cluster_failure)?;
        if let Some(intent) = &resumed {
            map.end_move(&intent.text())
                .await
                .map_err(cluster_failure)?;
        }
        return Ok(Ended::Nothing);
    };
    let intent = Intent {
        division: division.to_string(),
        from: from.to_string(),
        to: to.to_string(),
        from_generation: free_generation(log, from, from_now)
            .await
            .map_err(cluster_failure)?,
        to_generation: free_generation(log, to, to_now)
            .await
            .map_err(cluster_failure)?,
        run: run.to_string(),
    };
    // This run records itself, in place of the run it takes over from.
    if let Some(before) = &resumed {
        map.end_move(&before.text())
            .await
            .map_err(cluster_failure)?;
    }
    let text = intent.text();
    if !map.begin_move(&text).await.map_err(cluster_failure)?
        && map
            .move_under_way()
            .await
            .map_err(cluster_failure)?
            .as_deref()
            != Some(&text)
    {
        return Err(rejected(
            "another move began meanwhile: run this one again once it ended".to_string(),
        ));
    }
    let counts = Counts {
        moved,
        consumers,
        stays: stays.len(),
        joined: joined.len(),
    };
    let written = async {
        for (partition, generation, events) in [
            (from, intent.from_generation, stays),
            (to, intent.to_generation, joined),
        ] {
            let name = vasooli_cluster::log_name(partition, generation);
            let count = events.len() as u64;
            let started = Instant::now();
            let entries = write_log(log, &name, events).await?;
            errln!(
                "wrote log {name}: {count} events in {entries} entries ({})",
                seconds(started)
            );
            // Read back into a store of its own: every event is there, once.
            let started = Instant::now();
            let replica = replica(log, partition, generation, &work.join(&name))?;
            replica.catch_up().await.map_err(cluster_failure)?;
            let found = replica.store().last_position();
            errln!(
                "read log {name} back: {found} events ({})",
                seconds(started)
            );
            if found != count {
                return Err(Failure::Runtime(anyhow::anyhow!(
                    "log {name} reads back {found} events of the {count} written"
                )));
            }
        }
        held.confirm("nothing was switched over").await
    }
    .await;
    if let Err(failure) = written {
        // Nothing was switched over: the partitions go on with the logs they had.
        return Err(match map.end_move(&text).await {
            Ok(()) => failure,
            Err(e) => Failure::Runtime(anyhow::anyhow!(
                "{}; and the record of the move could not be removed ({e}): run the move again, \
                 or give it up with --abandon",
                failure_text(&failure)
            )),
        });
    }
    finish(log, map, &intent, revisions).await?;
    Ok(Ended::Moved { intent, counts })
}

/// A failure's message, for a line that adds to it.
fn failure_text(failure: &Failure) -> String {
    match failure {
        Failure::Runtime(e) => format!("{e:#}"),
        Failure::Usage(line) => line.clone(),
        Failure::Rejected(lines) => lines.join("; "),
    }
}

/// Switches over, once the record is found to be this move's still: the new generations
/// (each on condition that its key is at the `revisions` this run read, under its leases:
/// not after another run took the move over or it was given up), the division's partition,
/// the figures both partitions published (the division's move from one's documents to the
/// other's), and the end of the move. Each step may be done again: a run cut off in the
/// middle is finished by the next.
async fn finish(
    log: &ClusterLog,
    map: &PartitionMap,
    intent: &Intent,
    revisions: [Option<u64>; 2],
) -> Outcome {
    let Intent { from, to, .. } = intent;
    if map.move_under_way().await.map_err(cluster_failure)? != Some(intent.text()) {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "the record of this move was replaced or removed meanwhile: it switches nothing over"
        )));
    }
    for ((partition, generation), revision) in
        [(from, intent.from_generation), (to, intent.to_generation)]
            .into_iter()
            .zip(revisions)
    {
        if !map
            .set_generation_if(partition, generation, revision)
            .await
            .map_err(cluster_failure)?
        {
            return Err(Failure::Runtime(anyhow::anyhow!(
                "partition {partition}'s generation was written since this run read it (the \
                 move was taken over by another run or given up): this run switches nothing \
                 more over"
            )));
        }
    }
    map.assign(&intent.division, to)
        .await
        .map_err(cluster_failure)?;
    move_figures(log, intent).await?;
    map.end_move(&intent.text()).await.map_err(cluster_failure)
}

/// Moves the division's figures from every document the giving partition published to the
/// receiving partition's document of the same period (written first: cut off between the
/// two, headquarters refuses the period as published twice, and the next run finishes it).
/// A receiving partition that published nothing gets a document for each period; one that
/// published other periods but not this one keeps lacking it (headquarters refused the
/// period before the move, and still does), and the giving partition's document stays as it
/// was. A document that does not read is left as it is, with a warning.
async fn move_figures(log: &ClusterLog, intent: &Intent) -> Outcome {
    let board = FiguresBoard::open(log).await.map_err(cluster_failure)?;
    let read = |bytes: Option<Vec<u8>>, partition: &str, period: &str| {
        let bytes = bytes?;
        match serde_json::from_slice::<PartitionFigures>(&bytes) {
            Ok(figures) => Some(figures),
            Err(e) => {
                errln!(
                    "warning: the figures of partition {partition} for {period} do not read \
                     ({e}): left as they are"
                );
                None
            }
        }
    };
    let write = |figures: &PartitionFigures| {
        serde_json::to_vec(figures).map_err(|e| Failure::Runtime(e.into()))
    };
    let to_published = board.published(&intent.to).await.map_err(cluster_failure)?;
    for period in board
        .published(&intent.from)
        .await
        .map_err(cluster_failure)?
    {
        let found = board
            .read(&intent.from, &period)
            .await
            .map_err(cluster_failure)?;
        let Some(mut from) = read(found, &intent.from, &period) else {
            continue;
        };
        let to = if to_published.contains(&period) {
            let found = board
                .read(&intent.to, &period)
                .await
                .map_err(cluster_failure)?;
            match read(found, &intent.to, &period) {
                Some(to) => Some(to),
                None => continue,
            }
        } else if to_published.is_empty() {
            None
        } else {
            continue;
        };
        let to = move_division_figures(&intent.division, &mut from, to, &intent.to);
        board
            .publish(&intent.to, &period, write(&to)?)
            .await
            .map_err(cluster_failure)?;
        board
            .publish(&intent.from, &period, write(&from)?)
            .await
            .map_err(cluster_failure)?;
    }
    Ok(())
}

/// Both partitions' leases, renewed every third of their term while the move runs.
struct Held {
    leases: Leases,
    held: Arc<tokio::sync::Mutex<Vec<Lease>>>,
    renewal: tokio::task::JoinHandle<()>,
}

impl Held {
    async fn take(
        leases: &Leases,
        division: &str,
        run: &str,
        from: &str,
        to: &str,
    ) -> Result<Held, Failure> {
        let holder = format!("move-{division}-{run}");
        let mut taken = Vec::new();
        for partition in [from, to] {
            match leases.acquire(partition, &holder, LEASE).await {
                Ok(lease) => taken.push(lease),
                Err(e) => {
                    for lease in taken {
                        let _ = leases.release(lease).await;
                    }
                    return Err(match e {
                        ClusterError::LeaseHeld { holder, .. } if holder.starts_with("move-") => {
                            rejected(format!(
                                "partition {partition} is held by another run of a move \
                                 ({holder}): wait for it to end or, if it was cut off, for its \
                                 lease to run out (at most a minute), then run the move again"
                            ))
                        }
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
        let held = Arc::new(tokio::sync::Mutex::new(taken));
        let renewal = tokio::spawn({
            let (leases, held) = (leases.clone(), Arc::clone(&held));
            async move {
                loop {
                    tokio::time::sleep(LEASE / 3).await;
                    for lease in held.lock().await.iter_mut() {
                        if let Err(e) = leases.renew(lease).await {
                            tracing::warn!("renewing the lease of {}: {e}", lease.name);
                        }
                    }
                }
            }
        });
        Ok(Held {
            leases: leases.clone(),
            held,
            renewal,
        })
    }

    /// Renews both leases now: a success proves nobody took either since this run took it
    /// (a renewal swaps on the revision the run last wrote). A failure says `what_then`.
    async fn confirm(&self, what_then: &str) -> Outcome {
        for lease in self.held.lock().await.iter_mut() {
            self.leases.renew(lease).await.map_err(|e| {
                Failure::Runtime(anyhow::anyhow!(
                    "the move lost the lease of partition {} ({e}); {what_then}",
                    lease.name
                ))
            })?;
        }
        Ok(())
    }

    /// Stops the renewals (none is in flight: each holds the lock throughout) and releases
    /// both leases.
    async fn give_back(self) {
        let mut held = self.held.lock().await;
        self.renewal.abort();
        for lease in held.drain(..) {
            if let Err(e) = self.leases.release(lease).await {
                tracing::warn!("releasing a lease after the move: {e}");
            }
        }
    }
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
/// (its latest snapshot, then the log after it), with their recorded times. The log is
/// fenced first (an empty entry appended on condition of its last), so that a former owner
/// that has not yet noticed it lost the partition can append nothing after what is read.
async fn read_partition(
    log: &ClusterLog,
    snapshots: &Snapshots,
    partition: &str,
    generation: u64,
    dir: &Path,
) -> Result<Vec<Recorded>, Failure> {
    let started = Instant::now();
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
    replica.fence().await.map_err(cluster_failure)?;
    let store = replica.store().clone();
    let events = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Recorded>> {
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
    .map_err(Failure::Runtime);
    if let Ok(events) = &events {
        errln!(
            "read partition {partition}: {} events ({})",
            events.len(),
            seconds(started)
        );
    }
    events
}

/// The time since `started`, as `N.N s`.
fn seconds(started: Instant) -> String {
    format!("{:.1} s", started.elapsed().as_secs_f64())
}

/// Writes `events` as the log `name`, which must be empty; returns how many entries. Entries
/// hold at most [`ENTRY_EVENTS`] events and half the servers' largest message; the first is
/// appended on condition that the log is empty and each next on condition of the one
/// before, so that two runs never write one log.
async fn write_log(log: &ClusterLog, name: &str, events: Vec<Recorded>) -> Result<u64, Failure> {
    let bytes_max = log.request_bytes_max() / 2;
    let (mut last, mut entries) = (0, 0);
    let (mut chunk, mut bytes) = (Vec::new(), 0usize);
    for (event, at) in events {
        let stored = vasooli_engine::engine::stored_event(&event, at)
            .map_err(|e| Failure::Runtime(e.into()))?;
        let size = stored.payload.len() + stored.stream.len() + 64;
        if !chunk.is_empty() && (chunk.len() == ENTRY_EVENTS || bytes + size > bytes_max) {
            last = append_entry(log, name, std::mem::take(&mut chunk), last).await?;
            (entries, bytes) = (entries + 1, 0);
        }
        bytes += size;
        chunk.push(stored);
    }
    if !chunk.is_empty() {
        append_entry(log, name, chunk, last).await?;
        entries += 1;
    }
    Ok(entries)
}

/// Appends `events` as one entry of the log `name`, on condition that its last entry is
/// `last`; the entry's sequence.
async fn append_entry(
    log: &ClusterLog,
    name: &str,
    events: Vec<vasooli_store::NewEvent>,
    last: u64,
) -> Result<u64, Failure> {
    let id = envelope::new_commit_id();
    let entry = envelope::encode(&id, &NewCommit::new(events))
        .map_err(|e| Failure::Runtime(anyhow::anyhow!("log {name}: {e}")))?;
    log.append(name, &id, entry.into(), last)
        .await
        .map_err(cluster_failure)
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
        // An empty directory follows the current log, whatever it followed before.
        Some(_) | None if empty => {
            let text = format!("{partition} {generation}\n");
            std::fs::write(&file, text)
                .and_then(|()| std::fs::File::open(&file)?.sync_all())
                .with_context(|| format!("writing {}", file.display()))?;
            generation
        }
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
