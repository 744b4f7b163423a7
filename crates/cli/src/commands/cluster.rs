//! `vasooli cluster`: a partition's owner (or its standby), the cluster's state, the
//! partition map. See docs/CLUSTER.md.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::NaiveDate;
use clap::Subcommand;
use serde_json::json;
use vasooli_cluster::{
    valid_partition_name, ClusterConfig, ClusterError, ClusterLog, Leases, PartitionMap,
    ProgressBoard, Replica, ReplicaProgress, Snapshots,
};
use vasooli_engine::Engine;

use crate::{Cli, Failure};

type Outcome = Result<(), Failure>;

/// The cluster's servers, as every cluster command takes them.
#[derive(clap::Args, Debug)]
pub struct Servers {
    /// The cluster's servers, comma-separated (e.g. --servers
    /// nats://10.0.0.1:4222,nats://10.0.0.2:4222).
    #[arg(
        long = "servers",
        value_name = "URL[,URL..]",
        value_delimiter = ',',
        required = true
    )]
    pub urls: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum ClusterAction {
    /// Owns a partition: waits for its lease as a standby, takes it, catches up, fences the
    /// former owner and serves the HTTP API, every write going through the partition's log.
    #[command(
        after_help = "Example: vasooli cluster owner --servers nats://127.0.0.1:4222 --partition north --data north-a --addr 127.0.0.1:8080"
    )]
    Owner {
        #[command(flatten)]
        servers: Servers,
        /// The partition to own (e.g. --partition north).
        #[arg(long, value_name = "P")]
        partition: String,
        /// The address the API listens on once this process owns the partition (with
        /// --standby-reads, from when it stands by, for reads); port 0 picks a free one (e.g.
        /// --addr 127.0.0.1:8080).
        #[arg(long, default_value = "127.0.0.1:8080", value_name = "IP:PORT")]
        addr: String,
        /// How long the lease lasts unless renewed, in seconds; it is renewed every third of
        /// it (e.g. --lease-seconds 10).
        #[arg(long, default_value_t = 10, value_name = "N")]
        lease_seconds: u64,
        /// Also serves this process's replica metrics (`/metrics`, no token) on this address
        /// from the start, while it stands by as well as once it owns the partition; port 0
        /// picks a free one (e.g. --metrics-addr 127.0.0.1:9464).
        #[arg(long, value_name = "IP:PORT")]
        metrics_addr: Option<String>,
        /// While another process owns the partition, serves the API's reads on --addr from
        /// this process's copy, kept up with the log; writes answer 503. Once it owns the
        /// partition the same server goes on, taking writes.
        #[arg(long)]
        standby_reads: bool,
    },
    /// Every partition's owner, lease expiry and last sequence; how far each server's copy
    /// of the log has read.
    Status {
        #[command(flatten)]
        servers: Servers,
        /// Prints one JSON object instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Imports a CSV file into the partitions: each row goes to the owner of its division's
    /// partition; every part is checked before any is written.
    #[command(
        after_help = "Example: vasooli cluster import --servers nats://127.0.0.1:4222 bills bills-2026-10.csv"
    )]
    Import {
        #[command(flatten)]
        servers: Servers,
        /// What the file holds: offices, consumers, bills, payments or mobiles.
        #[arg(value_name = "KIND")]
        kind: String,
        /// The CSV file, with a header row.
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
    },
    /// Appends a JSON Lines file of commands to the partitions, routed as `cluster import`
    /// routes a CSV file.
    #[command(
        after_help = "Example: vasooli cluster append --servers nats://127.0.0.1:4222 commands.jsonl"
    )]
    Append {
        #[command(flatten)]
        servers: Servers,
        /// The JSON Lines file, one command a line.
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
    },
    /// Serves one HTTP API for every partition: each request goes to the owner of the
    /// partition it concerns, through the cluster; rankings and awards come from every
    /// partition's figures, a nightly run runs on every partition.
    #[command(
        after_help = "Example: vasooli cluster gateway --servers nats://127.0.0.1:4222 --addr 127.0.0.1:8000"
    )]
    Gateway {
        #[command(flatten)]
        servers: Servers,
        /// The address the API listens on; port 0 picks a free one (e.g. --addr
        /// 127.0.0.1:8000).
        #[arg(long, default_value = "127.0.0.1:8000", value_name = "IP:PORT")]
        addr: String,
    },
    /// Moves a division and its events to another partition: both partitions' logs are
    /// written again without and with it, while their owners are stopped.
    #[command(
        after_help = "Example: vasooli cluster move --servers nats://127.0.0.1:4222 D-DDN-RURAL --to south"
    )]
    Move {
        #[command(flatten)]
        servers: Servers,
        /// The division's code (e.g. D-DDN-RURAL).
        #[arg(value_name = "DIVISION")]
        division: String,
        /// The partition it moves to (e.g. --to south).
        #[arg(long, value_name = "PARTITION")]
        to: String,
        /// Gives up this move, cut off before it switched over: its record in the cluster
        /// goes, and both partitions go on with the logs they had.
        #[arg(long)]
        abandon: bool,
    },
    /// Assigns a division to a partition (the partition map).
    Assign {
        #[command(flatten)]
        servers: Servers,
        /// The division's code (e.g. D-DDN-1).
        #[arg(value_name = "DIVISION")]
        division: String,
        /// The partition (e.g. north).
        #[arg(value_name = "PARTITION")]
        partition: String,
    },
}

pub fn run(cli: &Cli, action: &ClusterAction) -> Outcome {
    match action {
        ClusterAction::Owner {
            servers,
            partition,
            addr,
            lease_seconds,
            metrics_addr,
            standby_reads,
        } => owner(
            cli,
            &servers.urls,
            partition,
            addr,
            *lease_seconds,
            metrics_addr.as_deref(),
            *standby_reads,
        ),
        ClusterAction::Status { servers, json } => status(&servers.urls, *json),
        ClusterAction::Import {
            servers,
            kind,
            file,
        } => crate::commands::routed::import(&servers.urls, kind, file),
        ClusterAction::Append { servers, file } => {
            crate::commands::routed::append(&servers.urls, file)
        }
        ClusterAction::Assign {
            servers,
            division,
            partition,
        } => assign(&servers.urls, division, partition),
        ClusterAction::Move {
            servers,
            division,
            to,
            abandon,
        } => crate::commands::moving::run(cli, &servers.urls, division, to, *abandon),
        ClusterAction::Gateway { servers, addr } => {
            let policy = crate::commands::load_policy(cli)?;
            crate::commands::gateway::run(&servers.urls, addr, policy)
        }
    }
}

/// Refuses a name that cannot be a partition or division (exit 3).
pub(crate) fn check_name(what: &str, name: &str) -> Outcome {
    if valid_partition_name(name) {
        Ok(())
    } else {
        Err(Failure::Rejected(vec![format!(
            "{what} `{name}`: use 1 to 64 ASCII letters, digits, '-' or '_'"
        )]))
    }
}

/// Refuses a server list that names no `nats://host:port` URL (exit 3).
pub(crate) fn check_servers(servers: &[String]) -> Outcome {
    let bad: Vec<String> = servers
        .iter()
        .filter(|s| !is_server_url(s.trim()))
        .map(|s| format!("--servers: `{s}` is not a server URL (nats://HOST:PORT)"))
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(Failure::Rejected(bad))
    }
}

/// `nats://HOST:PORT` (the scheme may be left out).
fn is_server_url(s: &str) -> bool {
    let rest = s.strip_prefix("nats://").unwrap_or(s);
    rest.rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
}

pub(crate) fn cluster_failure(e: ClusterError) -> Failure {
    Failure::Runtime(anyhow::anyhow!(e))
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
        .map_err(Failure::Runtime)
}

pub(crate) fn config(servers: &[String], retry_for: Duration) -> ClusterConfig {
    let mut config = ClusterConfig::new(servers.iter().map(|s| s.trim().to_string()));
    config.retry_for = retry_for;
    config
}

/// This process's name as a lease holder: unique among the processes that contend.
fn holder_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("process-{}-{nanos:08x}", std::process::id())
}

fn owner(
    cli: &Cli,
    servers: &[String],
    partition: &str,
    addr: &str,
    lease_seconds: u64,
    metrics_addr: Option<&str>,
    standby_reads: bool,
) -> Outcome {
    check_servers(servers)?;
    check_name("--partition", partition)?;
    let addr: std::net::SocketAddr = addr
        .parse()
        .map_err(|e| Failure::Usage(format!("--addr: `{addr}`: {e}")))?;
    let metrics_addr: Option<std::net::SocketAddr> = metrics_addr
        .map(|a| {
            a.parse()
                .map_err(|e| Failure::Usage(format!("--metrics-addr: `{a}`: {e}")))
        })
        .transpose()?;
    if lease_seconds == 0 || lease_seconds > 3600 {
        return Err(Failure::Usage(format!(
            "--lease-seconds: {lease_seconds} is not between 1 and 3600"
        )));
    }
    let policy = crate::commands::load_policy(cli)?;
    let ttl = Duration::from_secs(lease_seconds);
    let runtime = runtime()?;
    let handle = runtime.handle().clone();
    let data = cli.data.clone();
    let data_dir = cli.data.clone();
    let partition = partition.to_string();
    let outcome = runtime.block_on(async move {
        // Ctrl-C or SIGTERM stops a standby as well as an owner: listened for from the start.
        let mut stop = crate::signals::StopSignals::listen().context("listening for signals")?;
        // Operations are retried through a leader's election (a few seconds), or for as long
        // as a lease lasts when that is longer.
        let log = ClusterLog::connect(config(servers, ttl.max(Duration::from_secs(10))))
            .await
            .map_err(cluster_failure)?;
        let leases = Leases::open(&log).await.map_err(cluster_failure)?;
        let map = PartitionMap::open(&log).await.map_err(cluster_failure)?;
        let store = tokio::task::spawn_blocking(move || vasooli_store::Store::open(&data))
            .await
            .map_err(|e| Failure::Runtime(e.into()))?
            .map_err(|e| Failure::Runtime(e.into()))?;
        // Not while a move of a division in or out of the partition is under way: it decides
        // which log the partition has.
        let mut told = false;
        while let Some(the_move) = crate::commands::moving::under_way(&map, &partition)
            .await
            .map_err(cluster_failure)?
        {
            if !told {
                outln!("waiting for {the_move} to end");
                told = true;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.recv() => return Ok(()),
            }
        }
        // The directory follows the partition's log of one generation: the current one.
        let generation = map.generation(&partition).await.map_err(cluster_failure)?;
        crate::commands::moving::check_directory(&data_dir, &store, &partition, generation)?;
        // An empty directory starts from the partition's latest snapshot, if it has one.
        let snapshots = Snapshots::open(&log).await.map_err(cluster_failure)?;
        if let Some(info) = crate::commands::snapshot::load_into_empty(
            &snapshots, &partition, generation, &store, &data_dir,
        )
        .await
        .map_err(Failure::Runtime)?
        {
            outln!(
                "loaded the snapshot of partition {partition} at sequence {} ({} events)",
                info.covered,
                info.position
            );
        }
        let replica = Arc::new(
            Replica::with_store(log.clone(), &partition, store).with_generation(generation),
        );
        let holder = holder_name();
        let owning = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let _metrics = match metrics_addr {
            Some(at) => Some(
                serve_replica_metrics(at, Arc::clone(&replica), Arc::clone(&owning))
                    .await
                    .map_err(Failure::Runtime)?,
            ),
            None => None,
        };
        let progress = ProgressBoard::open(&log).await.map_err(cluster_failure)?;
        let reporter = report_progress(
            progress.clone(),
            Arc::clone(&replica),
            holder.clone(),
            Arc::clone(&owning),
            &data_dir,
        );
        // The partition's API tokens follow the cluster's copy while this process stands by.
        let token_board = vasooli_cluster::TokenBoard::open(&log)
            .await
            .map_err(cluster_failure)?;
        let token_table = replica
            .store()
            .table(vasooli_server::tokens::TOKENS_TREE)
            .map_err(|e| Failure::Runtime(e.into()))?;
        let poll = (ttl / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
        let mut announced = false;
        // With --standby-reads: the engine and server that serve reads while standing by.
        let mut standby: Option<StandbyServer> = None;
        let mut lease = loop {
            // A move of a division wrote the partition's log again: this directory follows
            // the former one, which nothing appends to any more.
            let now = map.generation(&partition).await.map_err(cluster_failure)?;
            if now != generation {
                if let Some(standby) = standby.take() {
                    standby.stop().await;
                }
                return Err(Failure::Runtime(anyhow::anyhow!(
                    "{}",
                    crate::commands::moving::rebuilt(&partition, generation, now)
                )));
            }
            // The lease, or who holds the partition: its owner, or a move of a division in or
            // out of it (the mover holds the lease; this covers a mover cut off, whose lease
            // ran out).
            let acquired = match crate::commands::moving::under_way(&map, &partition)
                .await
                .map_err(cluster_failure)?
            {
                Some(the_move) => Err(the_move),
                None => match leases.acquire(&partition, &holder, ttl).await {
                    Ok(lease) => Ok(lease),
                    Err(ClusterError::LeaseHeld { holder: held, .. }) => Err(held),
                    Err(e) => return Err(cluster_failure(e)),
                },
            };
            match acquired {
                Ok(lease) => {
                    // A move may have begun, or ended, since: the partition is taken over on
                    // the log this directory follows, with no move under way. Otherwise the
                    // lease goes back, and the next pass says why.
                    let checked = async {
                        Ok::<_, ClusterError>((
                            map.generation(&partition).await?,
                            crate::commands::moving::under_way(&map, &partition).await?,
                        ))
                    }
                    .await;
                    if matches!(&checked, Ok((now, None)) if *now == generation) {
                        break lease;
                    }
                    if let Err(e) = leases.release(lease).await {
                        tracing::warn!("giving the lease of partition {partition} back: {e}");
                    }
                    checked.map_err(cluster_failure)?;
                }
                Err(held) => {
                    if !announced {
                        outln!("standby for partition {partition}, owner {held}");
                        announced = true;
                    }
                    // A standby keeps up, so that taking over replays little.
                    let caught = replica.catch_up().await.map_err(cluster_failure)?;
                    let tokens_copied = match crate::commands::token_copies::copy_to_table(
                        &token_board,
                        &partition,
                        &token_table,
                    )
                    .await
                    {
                        // Current once the cluster keeps the partition's table.
                        Ok(_) => token_board.kept(&partition).await.unwrap_or(false),
                        Err(e) => {
                            tracing::warn!("copying the tokens from the cluster: {e:#}");
                            false
                        }
                    };
                    match &standby {
                        Some(standby) => {
                            standby.owned_by(&held);
                            if caught.commits > 0 {
                                standby.caught_up();
                            }
                        }
                        // Reads are served once the copy and the partition's tokens are
                        // current, never with this directory's own tokens.
                        None if standby_reads && tokens_copied => {
                            standby = Some(
                                StandbyServer::start(&replica, policy.clone(), addr, &held).await?,
                            );
                        }
                        None => {}
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(poll) => {}
                        _ = stop.recv() => {
                            if let Some(standby) = standby.take() {
                                standby.stop().await;
                            }
                            return Ok(());
                        }
                    }
                }
            }
        };
        // Renewed every third of its term; a failed renewal stops this owner's writes. The
        // task gives the lease back when asked, to be released on a clean stop.
        let (release_tx, mut release_rx) = tokio::sync::oneshot::channel::<()>();
        let renewal = {
            let leases = leases.clone();
            let replica = Arc::clone(&replica);
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(ttl / 3) => {}
                        _ = &mut release_rx => return Some(lease),
                    }
                    if let Err(e) = leases.renew(&mut lease).await {
                        replica.stop(format!("the lease could not be renewed: {e}"));
                        return None;
                    }
                }
            })
        };
        owning.store(true, std::sync::atomic::Ordering::Relaxed);
        // Everything from the fencing on: how it ended (a reason when this process lost the
        // partition), or why it failed.
        let owned: Result<Option<String>, Failure> = async {
            let seq = replica.fence().await.map_err(cluster_failure)?;
            // The tokens the former owner kept (revocations included), or, for the partition's
            // first owner, this directory's.
            crate::commands::token_copies::take_over(&token_board, &partition, &token_table)
                .await
                .map_err(Failure::Runtime)?;
            let token_copier = crate::commands::token_copies::keep_copying(
                token_board.clone(),
                leases.clone(),
                holder.clone(),
                partition.clone(),
                token_table.clone(),
            );
            outln!("owner of partition {partition} at sequence {seq}");
            let store = replica.store().clone();
            let marks = Arc::new(ClusterNightlyMarks {
                map: map.clone(),
                partition: partition.clone(),
                runtime: handle.clone(),
            });
            // Consumers, camps and grievances only in this partition's divisions, as the
            // partition map says (looked up again every two seconds).
            let scope = Arc::new(ClusterScope {
                partition: partition.clone(),
                assigned: std::sync::RwLock::new(
                    map.assignments()
                        .await
                        .map_err(cluster_failure)?
                        .into_iter()
                        .collect(),
                ),
            });
            let refresh = tokio::spawn({
                let (map, scope) = (map.clone(), Arc::clone(&scope));
                async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        match map.assignments().await {
                            Ok(assigned) => {
                                *scope.assigned.write().unwrap_or_else(|e| e.into_inner()) =
                                    assigned.into_iter().collect();
                            }
                            Err(e) => tracing::warn!("reading the partition map: {e}"),
                        }
                    }
                }
            });
            let engine_scope = Arc::clone(&scope);
            let (state, serving) = match standby.take() {
                // The standby's engine goes on as the owner's: it reads what the catch-up and the
                // fencing entry added, and takes the partition's rules before any write reaches
                // it (the store refuses writes until they are routed through the log, below).
                Some(standby) => {
                    let standby = standby.taking_over();
                    standby.state.close_writes(format!(
                    "this process is taking partition {partition} over; it takes writes in a moment"
                ));
                    let engine = standby.state.engine().clone();
                    tokio::task::spawn_blocking(move || {
                        engine.write(|e| {
                            e.set_nightly_marks(marks);
                            e.set_scope(engine_scope);
                            e.read_written()
                        })
                    })
                    .await
                    .map_err(|e| Failure::Runtime(e.into()))?
                    .and_then(|read| read)
                    .map_err(|e| Failure::Runtime(e.into()))?;
                    let serving = (standby.stop, standby.server, standby.local);
                    (standby.state, Some(serving))
                }
                None => {
                    let state = tokio::task::spawn_blocking(move || {
                        let mut engine =
                            Engine::with_store(store, policy).map_err(|e| anyhow::anyhow!(e))?;
                        engine.set_nightly_marks(marks);
                        engine.set_scope(engine_scope);
                        vasooli_server::AppState::from_engine(engine)
                    })
                    .await
                    .map_err(|e| Failure::Runtime(e.into()))?
                    .map_err(Failure::Runtime)?;
                    (state, None)
                }
            };
            replica.route_store_appends(handle.clone());
            // A nightly run the former owner started and did not finish is finished first: run
            // again on its date, it appends what is missing.
            if let Some(date) = map
                .unfinished_nightly(&partition)
                .await
                .map_err(cluster_failure)?
            {
                let engine = state.engine().clone();
                let as_of = NaiveDate::parse_from_str(&date, "%Y-%m-%d");
                let resumed = tokio::task::spawn_blocking(move || {
                    let as_of = as_of.map_err(|e| anyhow::anyhow!("the mark `{date}`: {e}"))?;
                    // A mark older than the last run was left by an owner fenced before it ran:
                    // a later run superseded it.
                    let last = engine.read(|e| e.world().last_nightly)?;
                    if last.is_some_and(|last| last > as_of) {
                        return Ok((as_of, None));
                    }
                    engine
                        .nightly(as_of, |_| Ok::<(), vasooli_engine::EngineError>(()))
                        .map(|summary| (as_of, Some(summary)))
                        .map_err(|e| anyhow::anyhow!(e))
                })
                .await
                .map_err(|e| Failure::Runtime(e.into()))?;
                match resumed {
                    Ok((_, None)) => map
                        .mark_nightly(&partition, None)
                        .await
                        .map_err(cluster_failure)?,
                    Ok((as_of, Some(summary))) => outln!(
                        "finished the nightly run of {as_of} left unfinished: {} events appended",
                        summary.appended
                    ),
                    // Marked still: the next owner tries again.
                    Err(e) => errln!("warning: the unfinished nightly run was not finished: {e:#}"),
                }
            }
            // After each nightly run: the figures for headquarters, and a snapshot.
            let publisher = tokio::spawn(after_nightly_runs(
                vasooli_cluster::FiguresBoard::open(&log)
                    .await
                    .map_err(cluster_failure)?,
                snapshots.clone(),
                state.engine().clone(),
                Arc::clone(&replica),
                data_dir.clone(),
            ));
            // Routed imports reach this process through the cluster while it owns the partition.
            let answered = Arc::new(crate::commands::routed::Answered::default());
            state.metrics.set_extra(Arc::new({
                let (replica, answered, partition) = (
                    Arc::clone(&replica),
                    Arc::clone(&answered),
                    partition.clone(),
                );
                move || partition_metrics(&partition, &replica, &answered)
            }));
            let answering = {
                let engine = state.engine().clone();
                let answered = Arc::clone(&answered);
                // Requests the gateway hands on are answered by this process's own API.
                let app = vasooli_server::router(state.clone());
                let max = log.request_bytes_max();
                log.answer_as_owner(&partition, move |body| {
                    let (engine, answered, app) =
                        (engine.clone(), Arc::clone(&answered), app.clone());
                    async move {
                        if crate::commands::gateway::is_http(&body) {
                            return crate::commands::gateway::answer(app, body, max).await;
                        }
                        tokio::task::spawn_blocking(move || {
                            crate::commands::routed::answer(&engine, &body, &answered)
                        })
                        .await
                        .unwrap_or_else(|e| {
                            format!(r#"{{"answer":"failed","message":"the request failed: {e}"}}"#)
                                .into_bytes()
                        })
                    }
                })
                .await
                .map_err(cluster_failure)?
            };
            // Other commands against this directory are handed to this process, as to `serve`.
            let socket = match crate::attach::listen(&data_dir, state.engine()) {
                Ok(listening) => Some(listening),
                Err(e) => {
                    tracing::warn!("commands cannot be handed to this owner: {e:#}");
                    None
                }
            };
            let (stop_tx, mut server) = match serving {
                // The standby's server goes on, taking writes from now on.
                Some((stop_tx, server, local)) => {
                    state.open_writes();
                    outln!("listening on http://{local}");
                    (stop_tx, server)
                }
                None => {
                    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
                    let server =
                        tokio::spawn(vasooli_server::serve_state(state, addr, async move {
                            let _ = stop_rx.await;
                        }));
                    (stop_tx, server)
                }
            };
            let reason = tokio::select! {
                served = &mut server => {
                    return match served {
                        Ok(Ok(())) => Ok(None),
                        Ok(Err(e)) => Err(Failure::Runtime(e)),
                        Err(e) => Err(Failure::Runtime(e.into())),
                    };
                }
                _ = stop.recv() => None,
                reason = replica.wait_stopped() => Some(reason),
            };
            let _ = stop_tx.send(());
            publisher.abort();
            refresh.abort();
            reporter.abort();
            token_copier.abort();
            drop(answering);
            if let Some(socket) = socket {
                let _ = tokio::task::spawn_blocking(move || drop(socket)).await;
            }
            // Requests in flight finish; a connection that lingers does not hold the exit up.
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
            Ok(reason)
        }
        .await;
        let failed = match owned {
            Ok(Some(reason)) => {
                return Err(Failure::Runtime(anyhow::anyhow!(
                    "{reason}; this process no longer owns partition {partition}"
                )))
            }
            Ok(None) => None,
            Err(failure) => Some(failure),
        };
        // Stopped on purpose, or failed while it still held the partition (its engine would
        // not open, its API could not listen): the lease is given up, so a standby takes
        // over at once rather than when it runs out.
        reporter.abort();
        let _ = progress.withdraw(&partition, &holder).await;
        let _ = release_tx.send(());
        if let Ok(Some(lease)) = renewal.await {
            if let Err(e) = leases.release(lease).await {
                tracing::warn!("releasing the lease of partition {partition}: {e}");
            }
        }
        match failed {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    });
    // The runtime's blocking threads may wait on a request that will not come back.
    runtime.shutdown_timeout(Duration::from_secs(1));
    outcome
}

fn status(servers: &[String], as_json: bool) -> Outcome {
    check_servers(servers)?;
    let runtime = runtime()?;
    let (partitions, replicas, assignments, progress) = runtime
        .block_on(async {
            let log = ClusterLog::connect(config(servers, Duration::from_secs(10))).await?;
            let leases = Leases::open(&log).await?;
            let map = PartitionMap::open(&log).await?;
            let assignments = map.assignments().await?;
            let mut names = leases.names().await?;
            names.extend(assignments.iter().map(|(_, p)| p.clone()));
            names.extend(map.rebuilt().await?);
            names.sort();
            names.dedup();
            let mut partitions = Vec::new();
            for name in names {
                let holder = leases.holder(&name).await?;
                let generation = map.generation(&name).await?;
                let last = log
                    .last_seq(&vasooli_cluster::log_name(&name, generation))
                    .await?;
                partitions.push((name, holder, last, generation));
            }
            let replicas = log.replica_states().await?;
            let progress = ProgressBoard::open(&log).await?.list().await?;
            Ok::<_, ClusterError>((partitions, replicas, assignments, progress))
        })
        .map_err(cluster_failure)?;
    // How far a replica is behind its partition's last sequence in the log.
    let behind_log = |r: &ReplicaProgress| {
        partitions
            .iter()
            .find(|(name, _, _, _)| *name == r.partition)
            .map(|(_, _, last, _)| last.saturating_sub(r.covered))
    };
    let rfc3339 = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| t.to_string())
    };
    if as_json {
        let value = json!({
            "partitions": partitions.iter().map(|(name, holder, last, generation)| json!({
                "partition": name,
                "owner": holder.as_ref().map(|(h, _)| h.clone()),
                "lease_expires": holder.as_ref().map(|(_, t)| rfc3339(*t)),
                "last_sequence": last,
                "generation": generation,
                "divisions": assignments.iter().filter(|(_, p)| p == name).map(|(d, _)| d.clone()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "replicas": progress.iter().map(|r| json!({
                "partition": r.partition,
                "holder": r.holder,
                "role": r.role,
                "covered": r.covered,
                "behind": behind_log(r),
                "directory": r.directory,
            })).collect::<Vec<_>>(),
            "servers": replicas.iter().map(|r| json!({
                "server": r.server,
                "leader": r.leader,
                "current": r.current,
                "lag": behind(r),
            })).collect::<Vec<_>>(),
        });
        outln!(
            "{}",
            serde_json::to_string_pretty(&value).context("writing JSON")?
        );
        return Ok(());
    }
    let mut rows = vec![vec![
        "partition".to_string(),
        "owner".to_string(),
        "lease_expires".to_string(),
        "last_sequence".to_string(),
        "divisions".to_string(),
    ]];
    for (name, holder, last, _) in &partitions {
        let divisions: Vec<&str> = assignments
            .iter()
            .filter(|(_, p)| p == name)
            .map(|(d, _)| d.as_str())
            .collect();
        rows.push(vec![
            name.clone(),
            holder.as_ref().map_or("-".to_string(), |(h, _)| h.clone()),
            holder
                .as_ref()
                .map_or("-".to_string(), |(_, t)| rfc3339(*t)),
            last.to_string(),
            if divisions.is_empty() {
                "-".to_string()
            } else {
                divisions.join(",")
            },
        ]);
    }
    print_table(&rows);
    if !progress.is_empty() {
        outln!("");
        let mut rows = vec![vec![
            "partition".to_string(),
            "holder".to_string(),
            "role".to_string(),
            "covered".to_string(),
            "behind".to_string(),
            "directory".to_string(),
        ]];
        for r in &progress {
            rows.push(vec![
                r.partition.clone(),
                r.holder.clone(),
                r.role.clone(),
                r.covered.to_string(),
                behind_log(r).map_or("-".to_string(), |b| b.to_string()),
                r.directory.clone(),
            ]);
        }
        print_table(&rows);
    }
    outln!("");
    let mut rows = vec![vec![
        "server".to_string(),
        "role".to_string(),
        "current".to_string(),
        "behind".to_string(),
    ]];
    for r in &replicas {
        rows.push(vec![
            r.server.clone(),
            if r.leader { "leader" } else { "follower" }.to_string(),
            if r.current { "yes" } else { "no" }.to_string(),
            behind(r).map_or("-".to_string(), |l| l.to_string()),
        ]);
    }
    print_table(&rows);
    Ok(())
}

/// Operations a server's copy is behind the leader's: the server reports none when it is
/// current.
fn behind(r: &vasooli_cluster::ReplicaState) -> Option<u64> {
    r.lag.or(r.current.then_some(0))
}

/// Left-aligned columns, two spaces apart.
fn print_table(rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |v| v.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, value) in row.iter().enumerate() {
            if c + 1 < row.len() {
                line.push_str(&format!("{value:<width$}  ", width = widths[c]));
            } else {
                line.push_str(value);
            }
        }
        outln!("{line}");
    }
}

fn assign(servers: &[String], division: &str, partition: &str) -> Outcome {
    check_servers(servers)?;
    check_name("division", division)?;
    check_name("partition", partition)?;
    let runtime = runtime()?;
    runtime
        .block_on(async {
            let log = ClusterLog::connect(config(servers, Duration::from_secs(10))).await?;
            PartitionMap::open(&log)
                .await?
                .assign(division, partition)
                .await
        })
        .map_err(cluster_failure)?;
    outln!("division {division} assigned to partition {partition}");
    Ok(())
}

/// Records an owner's nightly runs in the cluster ([`PartitionMap::mark_nightly`]), so that
/// the next owner finishes one this owner leaves unfinished. Called on the engine's blocking
/// threads, never on the runtime's workers.
struct ClusterNightlyMarks {
    map: PartitionMap,
    partition: String,
    runtime: tokio::runtime::Handle,
}

impl ClusterNightlyMarks {
    fn mark(&self, as_of: Option<NaiveDate>) -> Result<(), vasooli_store::StoreError> {
        let date = as_of.map(|d| d.format("%Y-%m-%d").to_string());
        self.runtime
            .block_on(self.map.mark_nightly(&self.partition, date.as_deref()))
            .map_err(|e| vasooli_store::StoreError::Replication {
                partition: self.partition.clone(),
                cause: e.to_string(),
                stale: false,
            })
    }
}

impl vasooli_engine::NightlyMarks for ClusterNightlyMarks {
    fn started(&self, as_of: NaiveDate) -> Result<(), vasooli_store::StoreError> {
        self.mark(Some(as_of))
    }

    fn finished(&self, _as_of: NaiveDate) -> Result<(), vasooli_store::StoreError> {
        self.mark(None)
    }
}

/// The divisions an owner may record consumers, camps and grievances in: those the partition
/// map assigns to its partition.
struct ClusterScope {
    partition: String,
    /// Division -> partition, as last read.
    assigned: std::sync::RwLock<std::collections::HashMap<String, String>>,
}

impl vasooli_engine::Scope for ClusterScope {
    fn holds(&self, division: &str) -> Result<(), String> {
        let assigned = self.assigned.read().unwrap_or_else(|e| e.into_inner());
        match assigned.get(division) {
            Some(p) if *p == self.partition => Ok(()),
            Some(p) => Err(format!(
                "division {division} is in partition {p}, not {}: send it to that partition's \
                 owner (vasooli cluster import routes a file)",
                self.partition
            )),
            None => Err(format!(
                "division {division} is in no partition (vasooli cluster assign)"
            )),
        }
    }
}

/// Reports this process's progress on the partition (its role and the last sequence its
/// directory covers) every second, until the task is aborted.
fn report_progress(
    board: ProgressBoard,
    replica: Arc<Replica>,
    holder: String,
    owning: Arc<std::sync::atomic::AtomicBool>,
    dir: &std::path::Path,
) -> tokio::task::JoinHandle<()> {
    let dir = crate::out::resolve(dir);
    let directory = std::fs::canonicalize(&dir)
        .unwrap_or(dir)
        .display()
        .to_string();
    tokio::spawn(async move {
        loop {
            let role = if owning.load(std::sync::atomic::Ordering::Relaxed) {
                "owner"
            } else {
                "standby"
            };
            match replica.covered() {
                Ok(covered) => {
                    let report = ReplicaProgress {
                        partition: replica.partition().to_string(),
                        holder: holder.clone(),
                        role: role.to_string(),
                        covered,
                        directory: directory.clone(),
                    };
                    if let Err(e) = board.report(&report).await {
                        tracing::debug!("reporting progress: {e}");
                    }
                }
                Err(e) => tracing::warn!("reading the covered sequence: {e}"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

/// With `--standby-reads`: the API served from a standby's copy of the partition, every write
/// refused, until the process owns the partition and the same server takes writes.
struct StandbyServer {
    state: vasooli_server::AppState,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// The address it listens on.
    local: std::net::SocketAddr,
    partition: String,
    /// Who owns the partition, as the refusals say.
    owner: Arc<std::sync::Mutex<String>>,
    /// Wakes the task that reads what the catch-ups apply into the served world.
    wake: Arc<tokio::sync::Notify>,
    reader: Option<AbortOnDrop>,
}

impl StandbyServer {
    /// Opens the engine on the replica's store, makes the store refuse every write and the
    /// API every write request (naming `owner`), binds `addr` and serves the API there.
    async fn start(
        replica: &Arc<Replica>,
        policy: vasooli_domain::Policy,
        addr: std::net::SocketAddr,
        owner: &str,
    ) -> Result<StandbyServer, Failure> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("--addr: listening on {addr}"))
            .map_err(Failure::Runtime)?;
        let local = listener
            .local_addr()
            .context("the address listened on")
            .map_err(Failure::Runtime)?;
        let partition = replica.partition().to_string();
        let owner = Arc::new(std::sync::Mutex::new(owner.to_string()));
        let store = replica.store().clone();
        store.append_through(Arc::new(StandbyRefusal {
            partition: partition.clone(),
            owner: Arc::clone(&owner),
        }));
        let state = tokio::task::spawn_blocking(move || {
            let engine = Engine::with_store(store, policy).map_err(|e| anyhow::anyhow!(e))?;
            vasooli_server::AppState::from_engine(engine)
        })
        .await
        .map_err(|e| Failure::Runtime(e.into()))?
        .map_err(Failure::Runtime)?;
        state.close_writes(standby_refusal(&partition, &lock(&owner)));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(vasooli_server::serve_listener(
            listener,
            state.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        outln!("serving reads on http://{local} while standing by");
        let wake = Arc::new(tokio::sync::Notify::new());
        let reader = AbortOnDrop(tokio::spawn(read_into_world(
            state.clone(),
            Arc::clone(&wake),
        )));
        Ok(StandbyServer {
            state,
            stop,
            server,
            local,
            partition,
            owner,
            wake,
            reader: Some(reader),
        })
    }

    /// The partition's owner is `owner` (as the lease says): refusals name it.
    fn owned_by(&self, owner: &str) {
        let mut known = lock(&self.owner);
        if *known != owner {
            *known = owner.to_string();
            self.state
                .close_writes(standby_refusal(&self.partition, owner));
        }
    }

    /// A catch-up applied entries: the served world reads them soon after.
    fn caught_up(&self) {
        self.wake.notify_one();
    }

    /// This process took the lease: the world stops following the catch-ups on its own
    /// (the owner reads them in under the write lock), and writes stay refused until the
    /// caller opens them.
    fn taking_over(mut self) -> StandbyServer {
        self.reader = None;
        self
    }

    /// Stops serving: requests in flight finish (for up to 5 s).
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.server).await;
    }
}

/// What a standby answers a write: it stands by, and who owns the partition.
fn standby_refusal(partition: &str, owner: &str) -> String {
    format!(
        "this process stands by for partition {partition}; {owner} owns it and takes its writes"
    )
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Reads into a standby's served world what the catch-ups add to its store: when woken, and
/// every second whatever happened (so a read that failed is tried again).
async fn read_into_world(state: vasooli_server::AppState, wake: Arc<tokio::sync::Notify>) {
    loop {
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let engine = state.engine().clone();
        if engine.log_position() >= state.store().last_position() {
            continue;
        }
        let read = tokio::task::spawn_blocking(move || engine.write(|e| e.read_written())).await;
        match read {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e)) | Err(e)) => {
                tracing::warn!("reading the log into the standby's world: {e}")
            }
            Err(e) => tracing::warn!("reading the log into the standby's world: {e}"),
        }
    }
}

/// The store's hook while a standby serves reads: no write is recorded, since only the
/// partition's owner may append to its log.
struct StandbyRefusal {
    partition: String,
    owner: Arc<std::sync::Mutex<String>>,
}

impl vasooli_store::AppendThrough for StandbyRefusal {
    fn append(
        &self,
        _: vasooli_store::NewCommit,
    ) -> Result<vasooli_store::CommitReceipt, vasooli_store::StoreError> {
        Err(vasooli_store::StoreError::Replication {
            partition: self.partition.clone(),
            cause: standby_refusal(&self.partition, &lock(&self.owner)),
            stale: false,
        })
    }
}

/// Serves `--metrics-addr`: a task answering `GET /metrics` with [`replica_metrics`] until
/// the returned handle is dropped. Prints the address it listens on.
async fn serve_replica_metrics(
    at: std::net::SocketAddr,
    replica: Arc<Replica>,
    owning: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<AbortOnDrop> {
    let listener = tokio::net::TcpListener::bind(at)
        .await
        .with_context(|| format!("--metrics-addr: listening on {at}"))?;
    outln!("metrics on http://{}/metrics", listener.local_addr()?);
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (replica, owning) = (Arc::clone(&replica), Arc::clone(&owning));
            async move {
                let owner = owning.load(std::sync::atomic::Ordering::Relaxed);
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    replica_metrics(&replica, owner).await,
                )
            }
        }),
    );
    // Served as the API is, with its caps on each connection.
    Ok(AbortOnDrop(tokio::spawn(async move {
        if let Err(e) = vasooli_server::serve_app(listener, app, std::future::pending()).await {
            tracing::warn!("serving the replica's metrics: {e}");
        }
    })))
}

/// A task stopped when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A replica's metrics, owner or standby: its role, the last sequence of the partition's log
/// its directory covers, the log's last sequence and how far behind it the directory is
/// (left out while the cluster does not answer, within two seconds).
async fn replica_metrics(replica: &Replica, owner: bool) -> String {
    let partition = replica.partition();
    let mut out = String::from(
        "# HELP vasooli_replica_owner Whether this process owns the partition (1) or stands by (0).\n\
         # TYPE vasooli_replica_owner gauge\n",
    );
    out.push_str(&format!(
        "vasooli_replica_owner{{partition=\"{partition}\"}} {}\n",
        u8::from(owner)
    ));
    let Ok(covered) = replica.covered() else {
        return out;
    };
    out.push_str(&format!(
        "# HELP vasooli_replica_covered_sequence The last sequence of the partition's log \
         applied to this process's directory.\n\
         # TYPE vasooli_replica_covered_sequence gauge\n\
         vasooli_replica_covered_sequence{{partition=\"{partition}\"}} {covered}\n"
    ));
    let last = tokio::time::timeout(
        Duration::from_secs(2),
        replica.log().last_seq(replica.log_name()),
    )
    .await;
    if let Ok(Ok(last)) = last {
        out.push_str(&format!(
            "# HELP vasooli_replica_last_sequence The partition log's last sequence.\n\
             # TYPE vasooli_replica_last_sequence gauge\n\
             vasooli_replica_last_sequence{{partition=\"{partition}\"}} {last}\n\
             # HELP vasooli_replica_behind_entries Entries of the partition's log this \
             process's directory has not applied yet.\n\
             # TYPE vasooli_replica_behind_entries gauge\n\
             vasooli_replica_behind_entries{{partition=\"{partition}\"}} {}\n",
            last.saturating_sub(covered)
        ));
    }
    out
}

/// An owner's lines of the metrics exposition: the sequence its directory covers, and the
/// requests it answered through the cluster.
fn partition_metrics(
    partition: &str,
    replica: &Replica,
    answered: &crate::commands::routed::Answered,
) -> String {
    let mut out = String::from(
        "# HELP vasooli_partition_covered_sequence The last sequence of the partition's log \
         applied to this owner's directory.\n\
         # TYPE vasooli_partition_covered_sequence gauge\n",
    );
    if let Ok(covered) = replica.covered() {
        out.push_str(&format!(
            "vasooli_partition_covered_sequence{{partition=\"{partition}\"}} {covered}\n"
        ));
    }
    out.push_str(&answered.render(partition));
    out
}

/// While this process owns the partition: after each nightly run (looked for every half
/// second, and the latest one at the start), publishes the partition's figures for
/// headquarters and uploads a snapshot. What fails is tried again.
async fn after_nightly_runs(
    board: vasooli_cluster::FiguresBoard,
    snapshots: Snapshots,
    engine: vasooli_engine::SharedEngine,
    replica: Arc<Replica>,
    dir: std::path::PathBuf,
) {
    let partition = replica.partition().to_string();
    let (mut published, mut snapshotted) = (None, None);
    loop {
        // Off the runtime's workers: a read waits while a write is read into the world.
        let reader = engine.clone();
        let seen = tokio::task::spawn_blocking(move || {
            reader.read(|e| {
                let world = e.world();
                world
                    .last_nightly
                    .map(|as_of| (as_of, world.last_nightly_position))
            })
        })
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();
        if let Some((as_of, _)) = seen {
            if published != seen {
                match crate::commands::hq::publish_figures(&board, &engine, &partition, as_of).await
                {
                    Ok(()) => {
                        tracing::info!("published the figures of the nightly run of {as_of}");
                        published = seen;
                    }
                    Err(e) => tracing::warn!("{e}"),
                }
            }
            if snapshotted != seen {
                match crate::commands::snapshot::upload(&snapshots, &replica, &dir).await {
                    Ok(info) => {
                        tracing::info!(
                            "uploaded the snapshot of partition {partition} at sequence {} ({} events, {} bytes)",
                            info.covered,
                            info.position,
                            info.bytes
                        );
                        snapshotted = seen;
                    }
                    Err(e) => tracing::warn!("uploading the snapshot: {e:#}"),
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
