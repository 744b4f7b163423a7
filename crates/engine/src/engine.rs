//! The engine: the log, the world projected from it, and the policy in force.
//!
//! Commands are validated as a whole batch against the world plus what earlier commands of
//! the same batch decided, so a file with any bad row writes nothing. Accepted events are
//! appended in one durable commit and then read back from the log into the world, so the
//! world is always exactly what the log says. The world is checkpointed in sled (its own
//! tree) with the position it reflects; opening replays only the log's tail after it.

use crate::clock::Clock;
use crate::nightly;
use chrono::NaiveDate;
use rustc_hash::FxHashMap;
use std::borrow::Cow;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};
use thiserror::Error;
use vasooli_domain::aggregate::Change;
use vasooli_domain::codec::{content_hash, decode_event, decode_value, encode_event, encode_value};
use vasooli_domain::command::{FieldError, FieldErrorKind};
use vasooli_domain::dates::{check_after_connection, check_windows};
use vasooli_domain::decide::{self, build_event, built, Rejection, RejectionKind, StateView};
use vasooli_domain::event::{account_of_stream, Event, EventKey};
use vasooli_domain::partition::{Known, KnownOffice, Lookup};
use vasooli_domain::state::{Camp, Consumer, Grievance, SmsMessage, StoredConsumer, World};
use vasooli_domain::types::KeyNamespace;
use vasooli_domain::types::Level;
use vasooli_domain::{Command, Policy};
use vasooli_store::{
    LogRead, NaturalKey, NewCommit, NewEvent, SideDb, SideTable, Store, StoreError,
};

pub mod stream;

/// The projections' own database in the data directory. It is apart from the log's, so
/// writing a checkpoint of tens of MB never holds up a flush of the log.
pub const PROJECTIONS_DIR: &str = "projections";
/// Sled page cache of the projections' database: it holds a few large values.
const PROJECTIONS_CACHE_BYTES: u64 = 16 * 1024 * 1024;
/// The key of the world's checkpoint names the layout of `World` it was written with: change
/// it whenever a field of `World` or of anything it holds changes, so that a checkpoint of an
/// older layout is never misread (it is ignored, and the world is replayed from the log).
/// Layout 9 writes the parts to a file of their own beside the projections' database
/// ([`SideDb::write_parts`]), and where each ends under the generation's key; an older
/// binary would look for them in the database.
/// Parts are compressed with zstd (their ends under `zstd-part-ends`, [`compressed_ends_key`]);
/// those of checkpoints written before are not (`part-ends`), and still read.
const WORLD_KEY: &[u8] = b"world-layout-9";
/// The name of a checkpoint's file of parts.
const WORLD_PARTS_FILE: &str = "world-layout-9";
/// The zstd level a checkpoint's parts are compressed at: the fastest of the standard
/// levels, which halves them.
const WORLD_PART_LEVEL: i32 = 1;
/// Parts encoded but not yet compressed and written, while a checkpoint is encoded.
const WORLD_PARTS_IN_FLIGHT: usize = 2;
/// The layouts before, read still, their parts in the database: 8 (the same parts and
/// directories as 9) and 7 (its consumers in the world's order, without directories).
/// Loading one needs no replay, and the next checkpoint replaces it.
const LEGACY_WORLD_KEYS: [&[u8]; 2] = [b"world-layout-8", b"world-layout-7"];
/// What the keys of every layout's checkpoint start with.
const WORLD_KEY_PREFIX: &[u8] = b"world-layout-";
/// Consumers per part of a world checkpoint (about 1.3 MB encoded at 12 months' history).
pub const CHECKPOINT_PART_CONSUMERS: usize = 1_024;
/// Buckets of a checkpoint's account directory: which part holds each account, so that a
/// command about one consumer reads one part rather than the whole world (see
/// [`crate::view::ColdView`]). Every bucket is written, empty or not, so a missing one
/// means a checkpoint written without a directory.
pub const CHECKPOINT_ACCOUNT_BUCKETS: u32 = 1024;
/// A catch-up of at least this many events decodes on a second thread (see
/// [`Engine::catch_up`]).
const CATCH_UP_PIPELINE_EVENTS_MIN: u64 = 50_000;
/// Events per block handed from the decoding thread to the applying one.
const CATCH_UP_BLOCK_EVENTS: usize = 4_096;
/// Decoded blocks waiting to be applied, at most.
const CATCH_UP_BLOCKS_IN_FLIGHT: usize = 8;

/// A recorded event decoded, with its position.
pub(crate) fn decode_recorded(
    recorded: Result<vasooli_store::RecordedEvent, StoreError>,
) -> Result<(u64, Event), EngineError> {
    let recorded = recorded?;
    let event = decode_event(&recorded.payload)
        .map_err(|e| EngineError::Corrupt(format!("position {}: {e}", recorded.position)))?;
    Ok((recorded.position, event))
}

/// Batches bigger than this are executed on their own rather than in a group.
pub const GROUP_BATCH_INPUTS_MAX: usize = 1_000;
/// Events per commit when a bulk batch is written in parts (see
/// [`Engine::execute_with_progress`]).
pub const COMMIT_CHUNK_EVENTS: usize = 10_000;
/// Most commands one batch may hold.
pub const BATCH_COMMANDS_MAX: usize = 4_000_000;

/// Why a command or row was refused, in HTTP terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed or unknown key (400).
    Malformed,
    /// Breaks a rule (422).
    Unprocessable,
    /// Names an unknown office, account, bill... (404).
    NotFound,
    /// A natural key already used with different content (409).
    Conflict,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// Where: `FILE:LINE`, or an index for API batches.
    pub location: String,
    pub field: String,
    pub reason: String,
    pub kind: ErrorKind,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.location.is_empty(), self.field.is_empty()) {
            (true, true) => write!(f, "{}", self.reason),
            (true, false) => write!(f, "{}: {}", self.field, self.reason),
            (false, true) => write!(f, "{}: {}", self.location, self.reason),
            (false, false) => write!(f, "{}: {}: {}", self.location, self.field, self.reason),
        }
    }
}

#[derive(Debug, Error)]
pub enum EngineError {
    #[error("{} rejected: {}", if .0.len() == 1 { "1 record".to_string() } else { format!("{} records", .0.len()) }, .0.first().map(|e| e.to_string()).unwrap_or_default())]
    Rejected(Vec<RowError>),
    #[error("{0}")]
    Usage(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("corrupt: {0}")]
    Corrupt(String),
}

/// One command to execute, with where it came from.
#[derive(Clone)]
pub struct Input {
    pub location: String,
    pub command: Result<Command, Vec<FieldError>>,
}

impl Input {
    /// Commands built in code rather than parsed (a generated utility, the demo's officers),
    /// all reported at `location`.
    pub fn all_at(location: &str, commands: Vec<Command>) -> Vec<Input> {
        commands
            .into_iter()
            .map(|command| Input {
                location: location.to_string(),
                command: Ok(command),
            })
            .collect()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecuteReport {
    pub read: usize,
    pub appended: usize,
    pub duplicates: usize,
    /// The events appended (for the caller to describe), in order.
    pub last_position: u64,
}

pub struct Engine {
    store: Store,
    /// The projections' own database (checkpoints).
    projections: SideDb,
    world: World,
    policy: Policy,
    /// When set, checkpoints wait for `save_checkpoint` (bulk loads checkpoint once at the end).
    defer_checkpoints: bool,
    /// The log position the saved checkpoint reflects.
    checkpoint_position: std::sync::atomic::AtomicU64,
    /// Where today's date comes from (the date windows, reports before any nightly run).
    clock: Clock,
    /// Told when a nightly run starts and ends (a partition's owner records it in the
    /// cluster, so that a run it leaves unfinished is finished by the next owner).
    nightly_marks: Option<std::sync::Arc<dyn NightlyMarks>>,
    /// The divisions this engine may record consumers, camps and grievances in (a
    /// partition's owner: its partition's); every division when unset.
    scope: Option<std::sync::Arc<dyn Scope>>,
    /// Whether the nightly run visits only the consumers its agenda names (see
    /// [`nightly::Agenda`]) rather than every consumer.
    nightly_agenda: bool,
    /// The last run's agenda, read from the projections' database when first asked for.
    agenda: std::sync::OnceLock<Option<std::sync::Arc<nightly::Agenda>>>,
    /// The agenda of a run decided and appended, until it is read into the world.
    pending_agenda: std::sync::Mutex<Option<nightly::Agenda>>,
    /// The agenda in `agenda` is not saved yet.
    agenda_unsaved: std::sync::atomic::AtomicBool,
}

/// Which divisions an engine may record consumers, camps and grievances in: a partition's
/// owner holds only its partition's divisions, so that every subdivision's records are in one
/// partition.
pub trait Scope: Send + Sync {
    /// Why `division` is not this engine's, if it is not.
    fn holds(&self, division: &str) -> Result<(), String>;
}

/// Told when a nightly run starts (before it appends anything) and when it has ended (its
/// last commit durable).
pub trait NightlyMarks: Send + Sync {
    /// An error stops the run before it appends anything.
    fn started(&self, as_of: NaiveDate) -> Result<(), StoreError>;
    /// An error is only logged: the run is done, and the mark left behind makes the next
    /// owner run the date again, which appends nothing new.
    fn finished(&self, as_of: NaiveDate) -> Result<(), StoreError>;
}

/// How far the world may run ahead of its saved checkpoint: opening replays at most this many
/// events, and small writes do not each re-encode the whole world.
pub const CHECKPOINT_LAG_EVENTS_MAX: u64 = 200_000;

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Engine {
    /// Opens the data directory, loads the checkpointed world and replays the log's tail.
    pub fn open(dir: &Path, policy: Policy) -> Result<Engine, EngineError> {
        let store = Store::open(dir)?;
        Engine::with_store(store, policy)
    }

    /// Opens the data directory whose lock the caller holds (see [`vasooli_store::DirLock`]).
    pub fn open_locked(
        lock: &vasooli_store::DirLock,
        policy: Policy,
    ) -> Result<Engine, EngineError> {
        Engine::with_store(Store::open_locked(lock)?, policy)
    }

    pub fn with_store(store: Store, policy: Policy) -> Result<Engine, EngineError> {
        Engine::with_store_deferring(store, policy, false)
    }

    /// Opens the data directory for a bulk job with checkpoints deferred from the start (see
    /// [`Engine::defer_checkpoints`]): replaying a long log on open writes no checkpoint.
    pub fn open_deferring_checkpoints(dir: &Path, policy: Policy) -> Result<Engine, EngineError> {
        Engine::with_store_deferring(Store::open(dir)?, policy, true)
    }

    fn with_store_deferring(
        store: Store,
        policy: Policy,
        defer_checkpoints: bool,
    ) -> Result<Engine, EngineError> {
        stream::remove_stale_spools(store.dir());
        let projections = open_projections(store.dir())?;
        let world = load_checkpoint(&projections).unwrap_or_default();
        let world = if world.position > store.last_position() {
            World::default()
        } else {
            world
        };
        let mut engine = Engine {
            store,
            projections,
            world,
            policy,
            defer_checkpoints,
            checkpoint_position: std::sync::atomic::AtomicU64::new(0),
            clock: Clock::from_env_or_system(),
            nightly_marks: None,
            scope: None,
            nightly_agenda: true,
            agenda: std::sync::OnceLock::new(),
            pending_agenda: std::sync::Mutex::new(None),
            agenda_unsaved: std::sync::atomic::AtomicBool::new(false),
        };
        engine.checkpoint_written(engine.world.position);
        engine.catch_up()?;
        engine.maybe_checkpoint()?;
        Ok(engine)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// An empty batch of commands to check against this engine's world.
    fn batch(&self) -> Batch<'_> {
        Batch::new(
            &self.world,
            &self.store,
            &self.policy,
            self.clock.today(),
            self.scope.as_deref(),
        )
    }

    /// Whether the nightly run keeps and follows an agenda (the default), or visits every
    /// consumer every time; both decide the same (a property test holds them equal).
    pub fn set_nightly_agenda(&mut self, on: bool) {
        self.nightly_agenda = on;
    }

    /// The last nightly run's agenda, when the run keeps one.
    pub(crate) fn agenda(&self) -> Option<&nightly::Agenda> {
        if !self.nightly_agenda {
            return None;
        }
        self.agenda
            .get_or_init(|| nightly::load_agenda(&self.projections).map(std::sync::Arc::new))
            .as_deref()
    }

    /// Holds the agenda of a run being decided until the run is read into the world.
    pub(crate) fn stage_agenda(&self, agenda: nightly::Agenda) {
        *self
            .pending_agenda
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(agenda);
    }

    /// Once a run is read into the world: its agenda (when it ended well) completed with the
    /// consumers' journals as they now are and taken as the next run's (saved by
    /// [`Engine::save_agenda`]).
    pub(crate) fn settle_agenda(&mut self, ended_well: bool) {
        let staged = self
            .pending_agenda
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(mut agenda) = staged.filter(|_| ended_well && self.nightly_agenda) else {
            return;
        };
        if !agenda.settle(&self.world) {
            return;
        }
        self.agenda = std::sync::OnceLock::from(Some(std::sync::Arc::new(agenda)));
        self.agenda_unsaved
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Saves the last run's agenda to the projections' database, if it is not yet: shared
    /// access is enough, so a server's readers go on meanwhile. A failure only costs the
    /// next run in a new process a visit to every consumer.
    pub fn save_agenda(&self) {
        if !self
            .agenda_unsaved
            .swap(false, std::sync::atomic::Ordering::AcqRel)
        {
            return;
        }
        let Some(Some(agenda)) = self.agenda.get() else {
            return;
        };
        if let Err(e) = nightly::save_agenda(&self.projections, agenda) {
            tracing::warn!("the nightly run's agenda was not saved (the next run in a new process visits every consumer): {e}");
        }
    }

    /// Who is told when a nightly run starts and ends.
    pub fn set_nightly_marks(&mut self, marks: std::sync::Arc<dyn NightlyMarks>) {
        self.nightly_marks = Some(marks);
    }

    /// Limits the divisions consumers, camps and grievances may be recorded in.
    pub fn set_scope(&mut self, scope: std::sync::Arc<dyn Scope>) {
        self.scope = Some(scope);
    }

    pub fn nightly_marks(&self) -> Option<&dyn NightlyMarks> {
        self.nightly_marks.as_deref()
    }
    pub fn world(&self) -> &World {
        &self.world
    }
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Where the engine takes today's date from: `VASOOLI_TODAY` or the system clock (in
    /// India) unless set otherwise with [`Engine::set_clock`].
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Fixes where today's date comes from (tests, and a server given its clock).
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// Today's date in India by the engine's clock.
    pub fn today(&self) -> NaiveDate {
        self.clock.today()
    }

    /// Applies every event after the world's position; returns how many.
    ///
    /// A long tail (a rebuild, an open after a bulk load) is read and decoded on a second
    /// thread while this one applies, a block of events at a time; a short one is read here.
    /// Either way the events apply in log order, and on a damaged event the ones before it
    /// are applied and the error is returned.
    pub fn catch_up(&mut self) -> Result<u64, EngineError> {
        catch_up_world(&self.store, &mut self.world)
    }

    /// Writes the world and its position to the projections tree, durably, encoding,
    /// compressing and writing a part at a time (so a few parts' bytes are held at most).
    pub fn save_checkpoint(&mut self) -> Result<(), EngineError> {
        let position = self.world.position;
        save_world(&self.projections, &self.world)?;
        self.checkpoint_written(position);
        Ok(())
    }

    /// The world encoded for a checkpoint, its parts written to their file as they are
    /// encoded, not yet durable (see [`EncodedWorld`]). A server takes it under a read lock
    /// and writes it with [`write_checkpoint`] (syncing the file, then naming it) holding no
    /// lock, so writes wait only for the encoding and compressing, and the process holds a
    /// few parts at a time.
    pub fn encode_checkpoint(&self) -> Result<EncodedWorld, EngineError> {
        encode_world(&self.projections, &self.world)
    }

    /// Notes that a checkpoint of the world at `position` is on disk. Shared access is
    /// enough, so a server's checkpoint thread never waits for a write lock behind a long
    /// import (readers would queue behind it).
    pub fn checkpoint_written(&self, position: u64) {
        self.checkpoint_position
            .fetch_max(position, std::sync::atomic::Ordering::AcqRel);
    }

    /// The log position of the last checkpoint on disk.
    fn checkpoint_position(&self) -> u64 {
        self.checkpoint_position
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// The projections' database, for [`write_checkpoint`] from another thread.
    pub fn projections_db(&self) -> &SideDb {
        &self.projections
    }

    /// How many events the world has run ahead of its saved checkpoint.
    pub fn checkpoint_lag(&self) -> u64 {
        self.world
            .position
            .saturating_sub(self.checkpoint_position())
    }

    /// Drops every projection and replays the whole log from position 1, then saves a
    /// checkpoint (unless checkpoints are deferred: a benchmark or a bulk load saves its own).
    pub fn rebuild(&mut self) -> Result<u64, EngineError> {
        self.projections.table().clear()?;
        self.projections.flush()?;
        self.projections.clear_parts()?;
        self.agenda = std::sync::OnceLock::new();
        self.world = World::default();
        let count = self.catch_up()?;
        if !self.defer_checkpoints {
            self.save_checkpoint()?;
        }
        Ok(count)
    }

    /// Validates a batch as [`Engine::execute`] would, writing nothing: every problem found,
    /// for reporting them together with problems found before the engine (unparsable lines).
    pub fn validate(
        &self,
        inputs: impl IntoIterator<Item = Input>,
    ) -> Result<Vec<RowError>, EngineError> {
        let mut batch = self.batch();
        let checked = batch.check(inputs)?;
        let mut errors = checked.errors;
        if errors.is_empty() {
            errors = batch.stored_conflicts();
        }
        Ok(errors)
    }

    /// What this engine holds of `lookup`'s names, and its office tree: what a router learns
    /// from a partition before routing a batch (see [`vasooli_domain::partition`]).
    pub fn known(&self, lookup: &Lookup) -> Result<Known, EngineError> {
        let world = &self.world;
        let offices = if lookup.without_offices {
            Vec::new()
        } else {
            world
                .offices
                .values()
                .map(|o| KnownOffice {
                    code: o.code.clone(),
                    level: o.level,
                    parent: o.parent.clone(),
                })
                .collect()
        };
        let accounts = lookup
            .accounts
            .iter()
            .filter_map(|a| {
                let consumer = world.stored_consumer(a)?;
                Some((a.clone(), consumer.subdivision.to_string()))
            })
            .collect();
        let account_of = |namespace: KeyNamespace, keys: &std::collections::BTreeSet<String>| {
            let mut found = std::collections::BTreeMap::new();
            for key in keys {
                if let Some(entry) = self.store.lookup_key(namespace.as_str(), key)? {
                    if let Some(account) = account_of_stream(&entry.stream) {
                        found.insert(key.clone(), account.to_string());
                    }
                }
            }
            Ok::<_, EngineError>(found)
        };
        let bills = account_of(KeyNamespace::Bill, &lookup.bills)?;
        let receipts = account_of(KeyNamespace::Receipt, &lookup.receipts)?;
        // Where the accounts of the bills and receipts found live, which a revision or a
        // reversal names only through its bill or receipt.
        let mut accounts: std::collections::BTreeMap<String, String> = accounts;
        for account in bills.values().chain(receipts.values()) {
            if let Some(consumer) = world.stored_consumer(account) {
                accounts
                    .entry(account.clone())
                    .or_insert_with(|| consumer.subdivision.to_string());
            }
        }
        Ok(Known {
            offices,
            accounts,
            bills,
            receipts,
            camps: lookup
                .camps
                .iter()
                .filter_map(|c| Some((c.clone(), world.camps.get(c)?.subdivision.clone())))
                .collect(),
            grievances: lookup
                .grievances
                .iter()
                .filter_map(|g| Some((g.clone(), world.grievances.get(g)?.subdivision.clone())))
                .collect(),
        })
    }

    /// Validates a whole batch; writes all of it or nothing.
    pub fn execute(&mut self, inputs: Vec<Input>) -> Result<ExecuteReport, EngineError> {
        self.execute_batch(inputs, None)
    }

    /// Executes independent batches (concurrent API requests) with one durable commit for
    /// all of them, so they share a flush, and answers each on its own, as
    /// [`Engine::execute`] would: each batch is validated against the world plus the batches
    /// accepted before it, and a refused batch writes nothing and leaves the others alone.
    /// A batch holding a record the log already has (a repeat, a conflict) is executed by
    /// itself after the shared commit, so that its answer names what it repeats.
    ///
    /// The three steps are public for a caller that lets readers in meanwhile:
    /// [`Engine::plan_group`] and [`Engine::write_planned`] need only shared access (the world
    /// is not changed), [`Engine::finish_group`] sole access, for as long as reading the
    /// commit into the world takes.
    pub fn execute_group(
        &mut self,
        batches: Vec<Vec<Input>>,
    ) -> Vec<Result<ExecuteReport, EngineError>> {
        if batches.len() <= 1 {
            return batches
                .into_iter()
                .map(|inputs| self.execute(inputs))
                .collect();
        }
        let mut plan = self.plan_group(batches);
        self.write_planned(&mut plan);
        self.finish_group(plan)
    }

    /// Validates independent batches against the world, each seeing the ones accepted
    /// before it; nothing is written.
    pub fn plan_group(&self, batches: Vec<Vec<Input>>) -> GroupPlan {
        let mut plan = GroupPlan {
            results: batches.iter().map(|_| None).collect(),
            alone: Vec::new(),
            accepted: Vec::new(),
            payloads: Vec::new(),
            written: None,
        };
        let mut batch = self.batch();
        for (index, inputs) in batches.into_iter().enumerate() {
            if inputs.len() > GROUP_BATCH_INPUTS_MAX {
                plan.alone.push((index, inputs));
                continue;
            }
            let mut trial = batch.clone();
            let from = trial.events.len();
            let copy = inputs.clone();
            match trial.check(inputs) {
                Err(e) => plan.results[index] = Some(Err(e)),
                Ok(checked) if !checked.errors.is_empty() => {
                    plan.results[index] = Some(Err(EngineError::Rejected(checked.errors)))
                }
                Ok(_) if trial.any_stored_key(from) => plan.alone.push((index, copy)),
                Ok(checked) => {
                    let events = trial.events.len() - from;
                    plan.accepted
                        .push((index, checked.read, checked.duplicates, events, copy));
                    batch = trial;
                }
            }
        }
        plan.payloads = std::mem::take(&mut batch.events);
        plan
    }

    /// Appends the accepted batches of a plan as one durable commit. The world is not
    /// changed: readers still see it as it was until [`Engine::finish_group`].
    pub fn write_planned(&self, plan: &mut GroupPlan) {
        let payloads = std::mem::take(&mut plan.payloads);
        plan.written = Some(if payloads.is_empty() {
            Ok(())
        } else {
            new_events(&payloads).and_then(|commit| Ok(self.store.append(commit).map(|_| ())?))
        });
    }

    /// Reads a plan's commit into the world, executes the batches that must go alone, and
    /// answers every batch.
    pub fn finish_group(&mut self, plan: GroupPlan) -> Vec<Result<ExecuteReport, EngineError>> {
        let mut finished = self.read_group(plan);
        for (index, inputs) in std::mem::take(&mut finished.alone) {
            finished.results[index] = Some(self.execute(inputs));
        }
        answered(finished.results)
    }

    /// Executes one batch that had to go alone with shared access, as one commit: readers
    /// go on meanwhile; the caller reads it into the world with [`Engine::read_written`].
    pub fn write_alone(&self, inputs: Vec<Input>) -> Result<ExecuteReport, EngineError> {
        self.write_checked_in(inputs, usize::MAX, &mut |_, _| {})
    }

    /// Reads a plan's commit into the world and answers its batches; the batches that must
    /// go alone are left to the caller, in order ([`Engine::write_alone`]).
    pub fn read_group(&mut self, plan: GroupPlan) -> FinishedGroup {
        let GroupPlan {
            mut results,
            mut alone,
            accepted,
            written,
            ..
        } = plan;
        let written = written.unwrap_or_else(|| {
            Err(EngineError::Corrupt(
                "a planned group was answered without being written".into(),
            ))
        });
        match written {
            Ok(()) => {
                let caught_up = self.catch_up().and_then(|_| self.maybe_checkpoint());
                let last_position = self.store.last_position();
                for (index, read, duplicates, events, _) in accepted {
                    results[index] = Some(match &caught_up {
                        Ok(()) => Ok(ExecuteReport {
                            read,
                            appended: events,
                            duplicates,
                            last_position,
                        }),
                        Err(e) => Err(EngineError::Corrupt(e.to_string())),
                    });
                }
            }
            // Nothing of the shared commit was written: each batch on its own then.
            Err(_) => alone.extend(accepted.into_iter().map(|(index, .., copy)| (index, copy))),
        }
        alone.sort_by_key(|(index, _)| *index);
        FinishedGroup { results, alone }
    }

    /// [`Engine::execute`], calling `progress(written, total)` as the batch's events are
    /// written. Batches of up to [`COMMIT_CHUNK_EVENTS`] events are one commit. A bigger
    /// batch (a bulk import) is validated whole, its stored keys are checked for conflicts
    /// first, and it is then written in commits of that size, so memory stays bounded; a
    /// crash part-way leaves a prefix of whole commits, and running the same file again
    /// skips what is already there by its natural keys.
    ///
    /// `inputs` may be a lazy iterator (a file being parsed), so a large import never holds
    /// its rows and its events in memory at once.
    ///
    /// For bulk loads only (a CSV import, the demo): an API request is one commit however
    /// big, through [`Engine::execute`].
    pub fn execute_with_progress(
        &mut self,
        inputs: impl IntoIterator<Item = Input>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<ExecuteReport, EngineError> {
        self.execute_batch(inputs, Some(progress))
    }

    /// Checks every input against the world and the rest of the batch; the batch of events
    /// to write, with how many inputs were read and how many the batch already holds, or
    /// every row's error.
    fn checked(
        &self,
        inputs: impl IntoIterator<Item = Input>,
    ) -> Result<(Batch<'_>, usize, usize), EngineError> {
        let mut batch = self.batch();
        let Checked {
            read,
            duplicates,
            errors,
        } = batch.check(inputs)?;
        if !errors.is_empty() {
            return Err(EngineError::Rejected(errors));
        }
        Ok((batch, read, duplicates))
    }

    /// Validates a batch whole; with `progress` (a bulk load) writes more than
    /// [`COMMIT_CHUNK_EVENTS`] events in parts, else as one commit.
    fn execute_batch(
        &mut self,
        inputs: impl IntoIterator<Item = Input>,
        mut progress: Option<&mut dyn FnMut(usize, usize)>,
    ) -> Result<ExecuteReport, EngineError> {
        let (mut batch, read, duplicates) = self.checked(inputs)?;
        if let (Some(progress), true) =
            (progress.as_mut(), batch.events.len() > COMMIT_CHUNK_EVENTS)
        {
            let conflicts = batch.stored_conflicts();
            if !conflicts.is_empty() {
                return Err(EngineError::Rejected(conflicts));
            }
            let events = std::mem::take(&mut batch.events);
            drop(batch);
            let total = events.len();
            return self.write_in_parts(
                &mut HeldChunks::new(events, COMMIT_CHUNK_EVENTS),
                total,
                read,
                duplicates,
                progress,
            );
        }
        // One commit: the store skips what it already holds and refuses the whole commit if
        // a key is held with other content; only then are the keys looked up one by one to
        // name every conflicting record.
        let total = batch.events.len();
        let commit = new_events(&batch.events)?;
        let receipt = match self.store.append(commit) {
            Ok(receipt) => receipt,
            Err(StoreError::KeyConflict { namespace, key }) => {
                let mut errors = batch.stored_conflicts();
                if errors.is_empty() {
                    let (kind, field, reason) = stored_conflict(&namespace, &key);
                    errors.push(RowError {
                        location: String::new(),
                        field,
                        reason,
                        kind,
                    });
                }
                return Err(EngineError::Rejected(errors));
            }
            Err(e) => return Err(e.into()),
        };
        drop(batch);
        if let Some(progress) = progress {
            progress(total, total);
        }
        self.catch_up()?;
        self.maybe_checkpoint()?;
        Ok(ExecuteReport {
            read,
            appended: receipt.appended,
            duplicates: duplicates + receipt.duplicates,
            last_position: self.store.last_position(),
        })
    }

    /// A bulk load checked and written with shared access: the world is left as it was, so
    /// readers go on seeing it while the load is checked and written (the server's imports;
    /// see [`crate::SharedEngine::bulk`]), and the caller reads what was written into the
    /// world afterwards with [`Engine::read_written`]. All or nothing as
    /// [`Engine::execute_with_progress`]: a rejected row or a conflict with what the log holds
    /// writes nothing; a failure part-way leaves whole commits that rerunning completes.
    pub fn write_checked(
        &self,
        inputs: impl IntoIterator<Item = Input>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<ExecuteReport, EngineError> {
        self.write_checked_in(inputs, COMMIT_CHUNK_EVENTS, progress)
    }

    /// [`Engine::write_checked`] in commits of at most `part_events` events (`usize::MAX`:
    /// one commit, as an API request is).
    fn write_checked_in(
        &self,
        inputs: impl IntoIterator<Item = Input>,
        part_events: usize,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<ExecuteReport, EngineError> {
        let (mut batch, read, duplicates) = self.checked(inputs)?;
        let conflicts = batch.stored_conflicts();
        if !conflicts.is_empty() {
            return Err(EngineError::Rejected(conflicts));
        }
        let events = std::mem::take(&mut batch.events);
        drop(batch);
        let total = events.len();
        let mut chunks = HeldChunks::new(events, part_events);
        self.append_parts(&mut chunks, total, read, duplicates, progress)
    }

    /// Appends `total` events in the commits `chunks` makes, each durable before the next,
    /// leaving the world as it is; the report of `read` inputs of which `duplicates` were
    /// already skipped.
    fn append_parts(
        &self,
        chunks: &mut dyn Iterator<Item = Result<Vec<Vec<u8>>, EngineError>>,
        total: usize,
        read: usize,
        duplicates: usize,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<ExecuteReport, EngineError> {
        let mut tally = PartsWritten {
            total,
            ..PartsWritten::default()
        };
        progress(0, total);
        for chunk in chunks {
            let chunk = chunk?;
            let len = chunk.len();
            let receipt = self.store.append(into_new_events(chunk.into_iter())?)?;
            tally.appended += receipt.appended;
            tally.skipped += receipt.duplicates;
            tally.written += len;
            progress(tally.written, total);
        }
        Ok(tally.report(read, duplicates, self.store.last_position()))
    }

    /// Reads into the world what was written with shared access, and saves a checkpoint when
    /// one is due.
    pub fn read_written(&mut self) -> Result<(), EngineError> {
        self.catch_up()?;
        self.maybe_checkpoint()
    }

    /// Writes a bulk load's `total` events, in the commits `chunks` makes, reading each into
    /// the world. While the writer makes one commit durable, this thread prepares the next
    /// and reads the last one into the world; a commit is handed over only once the one
    /// before it is durable, so a failure leaves a prefix of whole commits, as one at a time
    /// would.
    fn write_in_parts(
        &mut self,
        chunks: &mut dyn Iterator<Item = Result<Vec<Vec<u8>>, EngineError>>,
        total: usize,
        read: usize,
        duplicates: usize,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<ExecuteReport, EngineError> {
        let mut tally = PartsWritten {
            total,
            ..PartsWritten::default()
        };
        progress(0, tally.total);
        let mut in_flight: Option<(vasooli_store::PendingCommit, usize)> = None;
        let outcome = self.write_parts(chunks, &mut in_flight, &mut tally, progress);
        if let Err(e) = outcome {
            // A commit handed over is written whatever happened here: wait for it and read
            // everything written into the world, so the world never lags the log.
            if let Some((pending, _)) = in_flight.take() {
                let _ = pending.wait();
            }
            let _ = self.catch_up();
            return Err(e);
        }
        self.catch_up()?;
        self.maybe_checkpoint()?;
        Ok(tally.report(read, duplicates, self.store.last_position()))
    }

    /// [`Engine::write_in_parts`]'s loop: prepares the next commit, waits for the one in
    /// flight, hands the next over, and reads the world up while it is written.
    fn write_parts(
        &mut self,
        chunks: &mut dyn Iterator<Item = Result<Vec<Vec<u8>>, EngineError>>,
        in_flight: &mut Option<(vasooli_store::PendingCommit, usize)>,
        tally: &mut PartsWritten,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<(), EngineError> {
        loop {
            let next = match chunks.next().transpose()? {
                None => None,
                Some(chunk) => {
                    let len = chunk.len();
                    Some((into_new_events(chunk.into_iter())?, len))
                }
            };
            if let Some((pending, len)) = in_flight.take() {
                let receipt = pending.wait()?;
                tally.appended += receipt.appended;
                tally.skipped += receipt.duplicates;
                tally.written += len;
                progress(tally.written, tally.total);
            }
            let Some((commit, len)) = next else {
                return Ok(());
            };
            *in_flight = Some((self.store.submit(commit)?, len));
            self.catch_up()?;
        }
    }

    /// Appends events the engine decided itself (the nightly run, SMS attempts) in durable
    /// commits of [`COMMIT_CHUNK_EVENTS`], in order, bringing the world up to date from the
    /// log after each. The nightly run's events are idempotent by natural key and by the
    /// world they were decided from, and its completion comes last, so a run cut off
    /// part-way is completed by running it again.
    pub(crate) fn append_events(
        &mut self,
        events: Vec<(Event, Vec<u8>)>,
    ) -> Result<(), EngineError> {
        self.append_decided(events)?;
        self.maybe_checkpoint()
    }

    /// [`Engine::append_events`] without the checkpoint, for a run that appends in parts and
    /// checkpoints once at its end.
    pub(crate) fn append_decided(
        &mut self,
        events: Vec<(Event, Vec<u8>)>,
    ) -> Result<(), EngineError> {
        // What was appended before a failure is read in too, so the world never lags the log.
        let appended = self.append_commits(&events);
        self.catch_up()?;
        appended
    }

    /// Appends events the engine decided in durable commits of about
    /// [`COMMIT_CHUNK_EVENTS`], in order, leaving the world as it is (the caller reads them
    /// in with [`Engine::catch_up`]).
    pub(crate) fn append_commits(&self, events: &[(Event, Vec<u8>)]) -> Result<(), EngineError> {
        // A commit ends only where the account changes, so one consumer's events (a notice
        // and its SMS, say) are never split between commits.
        let mut rest = events;
        while !rest.is_empty() {
            let mut end = rest.len().min(COMMIT_CHUNK_EVENTS);
            while end < rest.len() && same_account(&rest[end - 1].0, &rest[end].0) {
                end += 1;
            }
            append_commit(&self.store, &rest[..end])?;
            rest = &rest[end..];
        }
        Ok(())
    }

    /// Saves a checkpoint when the world has run far enough ahead of the last one.
    pub fn maybe_checkpoint(&mut self) -> Result<(), EngineError> {
        if !self.defer_checkpoints && self.checkpoint_lag() >= CHECKPOINT_LAG_EVENTS_MAX {
            self.save_checkpoint()?;
        }
        Ok(())
    }

    /// Defers checkpoints during a bulk load; the caller saves one at the end. The log stays
    /// durable after every append, and a crash only costs a longer replay on the next open.
    pub fn defer_checkpoints(&mut self, defer: bool) {
        self.defer_checkpoints = defer;
    }

    /// Records events the engine's own processes decided (SMS attempts, for one), skipping
    /// those whose natural key is already in the log with the same content.
    pub fn record(&mut self, events: Vec<Event>) -> Result<usize, EngineError> {
        let mut encoded = Vec::with_capacity(events.len());
        for event in events {
            let payload = encode_event(&event).map_err(|e| EngineError::Corrupt(e.to_string()))?;
            encoded.push((event, payload));
        }
        let before = self.store.last_position();
        self.append_events(encoded)?;
        Ok((self.store.last_position() - before) as usize)
    }

    /// The finance run for `as_of`.
    pub fn nightly(&mut self, as_of: NaiveDate) -> Result<nightly::NightlySummary, EngineError> {
        nightly::run(self, as_of)
    }

    /// The date reports that need no nightly run are computed as of (a statement, the mobile
    /// campaign): the last nightly run's, or before any run today's date in India (UTC+05:30),
    /// the utility's local date.
    pub fn report_date(&self) -> NaiveDate {
        report_date(&self.world, &self.clock)
    }

    /// A queued message's text, read from its `SmsQueued` event in the log (the world keeps
    /// where the text is, not the text).
    pub fn sms_text(&self, message: &SmsMessage) -> Result<String, SmsTextError> {
        sms_text(&self.store, message)
    }

    /// The date lists are computed as of: the last nightly run's.
    pub fn as_of(&self) -> Result<NaiveDate, EngineError> {
        as_of(&self.world)
    }
}

/// Brings `world` up to the log's end (see [`Engine::catch_up`]).
pub(crate) fn catch_up_world(
    store: &(impl LogRead + Sync),
    world: &mut World,
) -> Result<u64, EngineError> {
    let from = world.position + 1;
    let tail = store.last_position().saturating_sub(world.position);
    if tail < CATCH_UP_PIPELINE_EVENTS_MIN {
        let mut count = 0;
        for item in store.read_all(from).map(decode_recorded) {
            let (position, event) = item?;
            world.apply(position, &event);
            count += 1;
        }
        return Ok(count);
    }
    std::thread::scope(|scope| {
        let (blocks, decoded) = std::sync::mpsc::sync_channel(CATCH_UP_BLOCKS_IN_FLIGHT);
        scope.spawn(move || {
            let mut block = Vec::with_capacity(CATCH_UP_BLOCK_EVENTS);
            for item in store.read_all(from).map(decode_recorded) {
                match item {
                    Ok(item) => block.push(item),
                    Err(e) => {
                        let _ = blocks.send(Ok(block));
                        let _ = blocks.send(Err(e));
                        return;
                    }
                }
                if block.len() == CATCH_UP_BLOCK_EVENTS {
                    let full =
                        std::mem::replace(&mut block, Vec::with_capacity(CATCH_UP_BLOCK_EVENTS));
                    if blocks.send(Ok(full)).is_err() {
                        return;
                    }
                }
            }
            let _ = blocks.send(Ok(block));
        });
        let mut count = 0;
        for block in decoded {
            for (position, event) in block? {
                world.apply(position, &event);
                count += 1;
            }
        }
        Ok(count)
    })
}

/// [`Engine::as_of`] of `world`.
pub(crate) fn as_of(world: &World) -> Result<NaiveDate, EngineError> {
    world.last_nightly.ok_or_else(|| {
        EngineError::Usage("no nightly run yet: run `vasooli nightly --as-of DATE` first".into())
    })
}

/// [`Engine::report_date`] of `world` with `clock`.
pub(crate) fn report_date(world: &World, clock: &Clock) -> NaiveDate {
    world.last_nightly.unwrap_or_else(|| clock.today())
}

/// [`Engine::sms_text`] read from `store`.
pub(crate) fn sms_text(store: &impl LogRead, message: &SmsMessage) -> Result<String, SmsTextError> {
    let not_found = || SmsTextError::NotAtPosition {
        message_id: message.message_id.to_string(),
        position: message.position,
    };
    let recorded = store
        .read_all(message.position)
        .next()
        .ok_or_else(not_found)??;
    if recorded.position != message.position {
        return Err(not_found());
    }
    match decode_event(&recorded.payload)? {
        Event::SmsQueued(queued) if queued.message_id == message.message_id => Ok(queued.text),
        _ => Err(not_found()),
    }
}

/// Why a queued message's text could not be read from the log.
#[derive(Debug, thiserror::Error)]
pub enum SmsTextError {
    /// The message points at a position that does not hold its `SmsQueued` event.
    #[error("the text of SMS {message_id} is not at log position {position}")]
    NotAtPosition { message_id: String, position: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Decode(#[from] vasooli_domain::codec::CodecError),
}

/// Reads queued messages' texts for messages taken in log order with one pass over the log,
/// rather than a read per message (each of which decodes a whole chunk of events). A message
/// out of order is read on its own, and the pass starts again from the next one.
#[derive(Default)]
pub struct SmsTextCursor {
    events: Option<vasooli_store::ReadAll>,
}

impl SmsTextCursor {
    /// `message`'s text, as [`Engine::sms_text`].
    pub fn text(&mut self, engine: &Engine, message: &SmsMessage) -> Result<String, SmsTextError> {
        let events = self
            .events
            .get_or_insert_with(|| engine.store.read_all(message.position));
        for recorded in events.by_ref() {
            let recorded = recorded?;
            if recorded.position < message.position {
                continue;
            }
            if recorded.position == message.position {
                if let Ok(Event::SmsQueued(queued)) = decode_event(&recorded.payload) {
                    if queued.message_id == message.message_id.as_str() {
                        return Ok(queued.text);
                    }
                }
            }
            break;
        }
        self.events = None;
        engine.sms_text(message)
    }
}

/// Appends events as one commit (the store keeps a commit all-or-nothing however big).
fn append_commit(
    store: &Store,
    events: &[(Event, Vec<u8>)],
) -> Result<vasooli_store::CommitReceipt, StoreError> {
    let recorded_at_ms = now_ms();
    let new_events = events
        .iter()
        .map(|(event, payload)| new_event(event, payload.clone(), recorded_at_ms))
        .collect();
    store.append(NewCommit::new(new_events))
}

/// Whether two events belong to the same consumer.
fn same_account(a: &Event, b: &Event) -> bool {
    matches!((a.account_no(), b.account_no()), (Some(x), Some(y)) if x == y)
}

/// The store's records for a batch's encoded events, all stamped with one time.
fn new_events(payloads: &[Box<[u8]>]) -> Result<NewCommit, EngineError> {
    into_new_events(payloads.iter().map(|p| p.to_vec()))
}

/// [`new_events`] taking the payloads, so that none is copied.
fn into_new_events(payloads: impl Iterator<Item = Vec<u8>>) -> Result<NewCommit, EngineError> {
    let recorded_at_ms = now_ms();
    let mut events = Vec::with_capacity(payloads.size_hint().0);
    for payload in payloads {
        let event = decode_event(&payload).map_err(|e| EngineError::Corrupt(e.to_string()))?;
        events.push(new_event(&event, payload, recorded_at_ms));
    }
    Ok(NewCommit::new(events))
}

fn new_event(event: &Event, payload: Vec<u8>, recorded_at_ms: i64) -> NewEvent {
    let key = event.natural_key().map(|k| NaturalKey {
        namespace: k.namespace.as_str().to_string(),
        key: k.key,
        content_hash: content_hash(&payload),
    });
    NewEvent {
        stream: event.stream(),
        event_type: event.type_name().to_string(),
        payload,
        recorded_at_ms,
        key,
    }
}

/// A batch's events held in memory, taken from the front in commits of at most `size`
/// events, each dropped once handed over, so that the world grows as the batch shrinks.
struct HeldChunks {
    /// The events, last first.
    reversed: Vec<Box<[u8]>>,
    size: usize,
}

impl HeldChunks {
    fn new(mut events: Vec<Box<[u8]>>, size: usize) -> HeldChunks {
        events.reverse();
        HeldChunks {
            reversed: events,
            size: size.max(1),
        }
    }
}

impl Iterator for HeldChunks {
    type Item = Result<Vec<Vec<u8>>, EngineError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.reversed.is_empty() {
            return None;
        }
        let at = self.reversed.len().saturating_sub(self.size);
        let mut chunk = self.reversed.split_off(at);
        chunk.reverse();
        Some(Ok(chunk.into_iter().map(Vec::from).collect()))
    }
}

/// What a bulk load's commits came to so far.
#[derive(Default)]
struct PartsWritten {
    total: usize,
    written: usize,
    appended: usize,
    skipped: usize,
}

impl PartsWritten {
    /// The report of a load of `read` inputs, `duplicates` of them skipped before writing,
    /// once written up to `last_position`.
    fn report(&self, read: usize, duplicates: usize, last_position: u64) -> ExecuteReport {
        ExecuteReport {
            read,
            appended: self.appended,
            duplicates: duplicates + self.skipped,
            last_position,
        }
    }
}

/// A group read into the world ([`Engine::read_group`]): the answers so far, and the
/// batches still to execute one by one, in order.
pub struct FinishedGroup {
    pub results: Vec<Option<Result<ExecuteReport, EngineError>>>,
    pub alone: Vec<(usize, Vec<Input>)>,
}

impl FinishedGroup {
    /// Every batch's answer (a batch left unanswered is an error).
    pub fn answers(self) -> Vec<Result<ExecuteReport, EngineError>> {
        answered(self.results)
    }
}

/// Batches validated together by [`Engine::plan_group`], waiting to be written and answered.
pub struct GroupPlan {
    /// Answers decided already (refusals), by batch.
    results: Vec<Option<Result<ExecuteReport, EngineError>>>,
    /// Batches to execute on their own: (index, inputs).
    alone: Vec<(usize, Vec<Input>)>,
    /// Accepted batches: (index, read, duplicates, events, inputs).
    accepted: Vec<(usize, usize, usize, usize, Vec<Input>)>,
    /// The accepted batches' events, in order.
    payloads: Vec<Box<[u8]>>,
    /// Whether their shared commit was written, once tried.
    written: Option<Result<(), EngineError>>,
}

/// A world encoded for a checkpoint: part 0 is the world without its consumers, then one
/// part per [`CHECKPOINT_PART_CONSUMERS`] consumers, by subdivision, written to the file of
/// parts of a new generation but not yet made durable or named ([`write_checkpoint`] does
/// both; dropped unwritten, the file is removed). The account index is not stored (it is
/// rebuilt from the consumers on load).
pub struct EncodedWorld {
    /// The log position the world reflects.
    pub position: u64,
    generation: u64,
    parts: vasooli_store::PartsWriter,
    /// Where each account's and each subdivision's consumers are among the parts.
    pub directory: Directory,
}

/// A checkpoint's directories, so that a command about one consumer or one office reads the
/// parts that hold them rather than the whole world (see [`crate::view::ColdView`]).
#[derive(Default)]
pub struct Directory {
    /// For each of [`CHECKPOINT_ACCOUNT_BUCKETS`] buckets, the (account CRC, part) pairs of
    /// the consumers in it.
    pub accounts: Vec<Vec<u8>>,
    /// Each subdivision with the first and last part holding its consumers (a checkpoint
    /// writes consumers by subdivision).
    pub subdivisions: Vec<u8>,
    /// The consumers' share of every subdivision's figures for the periods around the last
    /// nightly run ([`crate::figures`]), so that rankings read cold need not read every
    /// consumer.
    pub figures: Vec<u8>,
}

impl EncodedWorld {
    /// Encoded bytes in all parts.
    pub fn len(&self) -> usize {
        self.parts.bytes() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// How many parts.
    pub fn part_count(&self) -> usize {
        self.parts.len()
    }
}

/// Encodes `world` for a checkpoint, writing each part to a new file of parts of the
/// projections' database as it is encoded ([`EncodedWorld`]).
fn encode_world(projections: &SideDb, world: &World) -> Result<EncodedWorld, EngineError> {
    let order = checkpoint_order(world);
    let generation = projections.generate_id()?;
    let mut parts = projections.begin_parts(WORLD_PARTS_FILE, generation)?;
    // This thread encodes the parts while another compresses and writes them.
    std::thread::scope(|scope| -> Result<(), EngineError> {
        let (encoded, to_write) = std::sync::mpsc::sync_channel::<Vec<u8>>(WORLD_PARTS_IN_FLIGHT);
        let parts = &mut parts;
        let writer = std::thread::Builder::new()
            .name("checkpoint-writer".into())
            .spawn_scoped(scope, move || -> Result<(), EngineError> {
                for part in to_write {
                    parts.push(&compressed_part(&part)?)?;
                }
                Ok(())
            })
            .map_err(|e| EngineError::Corrupt(format!("starting the checkpoint's writer: {e}")))?;
        let mut encoding = Ok(());
        for part in checkpoint_parts(world, &order) {
            match part {
                // A writer that stopped has its own error, taken below.
                Ok(part) => {
                    if encoded.send(part).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    encoding = Err(e);
                    break;
                }
            }
        }
        drop(encoded);
        let written = writer
            .join()
            .unwrap_or_else(|panicked| std::panic::resume_unwind(panicked));
        if let (Err(_), Err(e)) = (&encoding, &written) {
            tracing::warn!("writing the checkpoint's parts failed too: {e}");
        }
        encoding.and(written)
    })?;
    Ok(EncodedWorld {
        position: world.position,
        generation,
        parts,
        directory: directory(world, &order)?,
    })
}

/// The order a checkpoint writes the world's consumers in: by subdivision, and within one
/// in the world's order (registration), so that an office's consumers sit in few parts.
/// Loading the whole world puts them back in the world's order.
fn checkpoint_order(world: &World) -> Vec<u32> {
    let mut order: Vec<u32> = (0..world.consumers.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        let (a, b) = (&world.consumers[a as usize], &world.consumers[b as usize]);
        let (sa, sb) = (a.subdivision.as_str(), b.subdivision.as_str());
        sa.cmp(sb).then(a.position.cmp(&b.position))
    });
    order
}

/// The parts of a world's checkpoint, encoded one by one as they are taken: the consumers
/// in `order` ([`checkpoint_order`]). Each is compressed and sealed with
/// [`compressed_part`] before it is written.
fn checkpoint_parts<'w>(
    world: &'w World,
    order: &'w [u32],
) -> impl Iterator<Item = Result<Vec<u8>, EngineError>> + 'w {
    let corrupt = |e: vasooli_domain::codec::CodecError| EngineError::Corrupt(e.to_string());
    let head = World {
        offices: world.offices.clone(),
        consumers: Vec::new(),
        account_index: Default::default(),
        camps: world.camps.clone(),
        grievances: world.grievances.clone(),
        last_nightly: world.last_nightly,
        last_nightly_position: world.last_nightly_position,
        position: world.position,
        journal_growth: Default::default(),
    };
    std::iter::once(encode_value(&head).map_err(corrupt)).chain(
        order.chunks(CHECKPOINT_PART_CONSUMERS).map(move |block| {
            let block: Vec<&StoredConsumer> = block
                .iter()
                .map(|&i| &world.consumers[i as usize])
                .collect();
            encode_value(&block).map_err(corrupt)
        }),
    )
}

/// The bucket of the checkpoint's account directory `account_no` is listed in, and the
/// CRC-32 of its bytes that stands for it there (a fixed function, so that a checkpoint
/// reads the same whatever build wrote it).
fn account_bucket(account_no: &str) -> (u32, u32) {
    let crc = crc32fast::hash(account_no.as_bytes());
    (crc % CHECKPOINT_ACCOUNT_BUCKETS, crc)
}

/// The directories of a world's checkpoint whose consumers are written in `order`: for each
/// account bucket the (account CRC, part) pairs of its consumers, and each subdivision's
/// first and last part. Parts are numbered as the checkpoint numbers them (1 is the first
/// part of consumers).
fn directory(world: &World, order: &[u32]) -> Result<Directory, EngineError> {
    let corrupt = |e: vasooli_domain::codec::CodecError| EngineError::Corrupt(e.to_string());
    let mut buckets: Vec<Vec<(u32, u32)>> = vec![Vec::new(); CHECKPOINT_ACCOUNT_BUCKETS as usize];
    let mut subdivisions: Vec<(String, u32, u32)> = Vec::new();
    for (place, &index) in order.iter().enumerate() {
        let consumer = &world.consumers[index as usize];
        let part = 1 + (place / CHECKPOINT_PART_CONSUMERS) as u32;
        let (bucket, crc) = account_bucket(&consumer.account_no);
        buckets[bucket as usize].push((crc, part));
        match subdivisions.last_mut() {
            Some((code, _, last)) if code.as_str() == consumer.subdivision.as_str() => *last = part,
            _ => subdivisions.push((consumer.subdivision.to_string(), part, part)),
        }
    }
    Ok(Directory {
        accounts: buckets
            .iter()
            .map(|bucket| encode_value(bucket).map(sealed).map_err(corrupt))
            .collect::<Result<_, _>>()?,
        subdivisions: encode_value(&subdivisions).map(sealed).map_err(corrupt)?,
        figures: crate::figures::saved(world)?,
    })
}

/// The key of bucket `bucket` of checkpoint generation `generation`'s account directory.
fn account_bucket_key(generation: u64, bucket: u32) -> Vec<u8> {
    let mut key = generation_prefix(WORLD_KEY, generation);
    key.extend_from_slice(b"acct");
    key.extend_from_slice(&bucket.to_be_bytes());
    key
}

/// The key of checkpoint generation `generation`'s subdivision directory.
fn subdivisions_key(generation: u64) -> Vec<u8> {
    let mut key = generation_prefix(WORLD_KEY, generation);
    key.extend_from_slice(b"subdivisions");
    key
}

/// The key of checkpoint generation `generation`'s saved figures ([`crate::figures`]).
pub(crate) fn figures_key(generation: u64) -> Vec<u8> {
    let mut key = generation_prefix(WORLD_KEY, generation);
    key.extend_from_slice(crate::figures::FIGURES_KEY_NAME);
    key
}

/// A checkpoint part with the CRC-32 of its bytes after them. Journals are read back
/// without checks each time a consumer is needed, so a part is checked whole when loaded:
/// a damaged byte that still decoded would otherwise cut a consumer's history short.
pub(crate) fn sealed(mut bytes: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

/// The bytes of a part made by [`sealed`], if its CRC matches.
pub(crate) fn unsealed(part: &[u8]) -> Option<&[u8]> {
    let (bytes, crc) = part.split_at_checked(part.len().checked_sub(4)?)?;
    (crc32fast::hash(bytes).to_le_bytes() == crc).then_some(bytes)
}

/// A checkpoint part as written to its file: `bytes` compressed with zstd, then
/// [`sealed`], so that damage is found before anything is expanded.
fn compressed_part(bytes: &[u8]) -> Result<Vec<u8>, EngineError> {
    if bytes.len() as u64 > WORLD_PART_BYTES_MAX {
        // It would be refused on load, and every open would replay the log instead.
        return Err(EngineError::Corrupt(format!(
            "a checkpoint part of {} bytes, more than a part may hold ({WORLD_PART_BYTES_MAX})",
            bytes.len()
        )));
    }
    zstd::bulk::compress(bytes, WORLD_PART_LEVEL)
        .map(sealed)
        .map_err(|e| EngineError::Corrupt(format!("compressing a checkpoint part: {e}")))
}

/// The most a part may claim to expand to: a part holds [`CHECKPOINT_PART_CONSUMERS`]
/// consumers, a few MB.
const WORLD_PART_BYTES_MAX: u64 = 1 << 30;

/// The bytes of a part made by [`compressed_part`]: checked against its CRC, then expanded
/// into a buffer of the size its frame states (refused above [`WORLD_PART_BYTES_MAX`]).
fn expanded_part(part: &[u8]) -> Result<Vec<u8>, String> {
    let compressed = unsealed(part).ok_or("it fails its CRC")?;
    let size = match zstd::zstd_safe::get_frame_content_size(compressed) {
        Ok(Some(size)) if size <= WORLD_PART_BYTES_MAX => size as usize,
        Ok(Some(size)) => return Err(format!("it claims {size} bytes expanded")),
        _ => return Err("it is not a zstd frame that states its size".into()),
    };
    let bytes =
        zstd::bulk::decompress(compressed, size).map_err(|e| format!("it does not expand: {e}"))?;
    if bytes.len() != size {
        return Err(format!("{} bytes expanded, {size} stated", bytes.len()));
    }
    Ok(bytes)
}

/// The key of where each part of checkpoint generation `generation` ends in its file, for
/// the parts of checkpoints written before parts were compressed.
fn part_ends_key(generation: u64) -> Vec<u8> {
    let mut key = generation_prefix(WORLD_KEY, generation);
    key.extend_from_slice(b"part-ends");
    key
}

/// The key of where each part of checkpoint generation `generation` ends in its file, its
/// parts compressed ([`compressed_part`]).
fn compressed_ends_key(generation: u64) -> Vec<u8> {
    let mut key = generation_prefix(WORLD_KEY, generation);
    key.extend_from_slice(b"zstd-part-ends");
    key
}

/// Where a checkpoint's parts are read from: the file of its generation (this layout), or
/// the projections' database (the layouts before).
enum CheckpointParts {
    File {
        file: vasooli_store::PartsFile,
        ends: Vec<u64>,
        /// Parts compressed ([`compressed_part`]); checkpoints written before are not.
        compressed: bool,
    },
    Table {
        table: SideTable,
        layout: &'static [u8],
        generation: u64,
    },
}

impl CheckpointParts {
    /// The parts of the checkpoint of layout `layout`, generation `generation`, `count` of
    /// them.
    fn open(
        projections: &SideDb,
        layout: &'static [u8],
        generation: u64,
        count: u32,
    ) -> Result<CheckpointParts, String> {
        if layout != WORLD_KEY {
            return Ok(CheckpointParts::Table {
                table: projections.table(),
                layout,
                generation,
            });
        }
        let table = projections.table();
        let get = |key: Vec<u8>| table.get(&key).map_err(|e| e.to_string());
        let (ends, compressed) = match get(compressed_ends_key(generation))? {
            Some(ends) => (ends, true),
            None => (
                get(part_ends_key(generation))?.ok_or("the parts' ends are missing")?,
                false,
            ),
        };
        let ends = unsealed(&ends).ok_or("the parts' ends fail their CRC")?;
        let ends: Vec<u64> = decode_value(ends).map_err(|e| e.to_string())?;
        if ends.len() != count as usize {
            return Err(format!("{} parts' ends for {count} parts", ends.len()));
        }
        let file = projections
            .read_parts(WORLD_PARTS_FILE, generation)
            .map_err(|e| e.to_string())?;
        Ok(CheckpointParts::File {
            file,
            ends,
            compressed,
        })
    }

    /// Part `index`, checked against its CRC.
    fn part(&self, index: u32) -> Result<Vec<u8>, String> {
        let sealed = match self {
            CheckpointParts::File {
                file,
                ends,
                compressed,
            } => {
                let part = file.part(ends, index as usize).map_err(|e| e.to_string())?;
                if *compressed {
                    return expanded_part(&part);
                }
                part
            }
            CheckpointParts::Table {
                table,
                layout,
                generation,
            } => table
                .get(&part_key(layout, *generation, index))
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("part {index} is missing"))?,
        };
        let mut bytes = sealed;
        let len = unsealed(&bytes)
            .ok_or_else(|| format!("part {index} fails its CRC"))?
            .len();
        bytes.truncate(len);
        Ok(bytes)
    }
}

/// The key of part `part` of generation `generation` of a checkpoint of layout `layout` (or
/// of another value saved in parts under the head `layout`).
pub(crate) fn part_key(layout: &[u8], generation: u64, part: u32) -> Vec<u8> {
    let mut key = generation_prefix(layout, generation);
    key.extend_from_slice(&part.to_be_bytes());
    key
}

/// What every key of generation `generation` of a checkpoint of layout `layout` starts with:
/// its parts' and its directories'.
fn generation_prefix(layout: &[u8], generation: u64) -> Vec<u8> {
    let mut key = layout.to_vec();
    key.push(b'/');
    key.extend_from_slice(&generation.to_be_bytes());
    key
}

/// The current checkpoint: its generation, number of parts and log position.
pub(crate) fn checkpoint_head(projections: &SideTable) -> Option<(u64, u32, u64)> {
    head_of(projections, WORLD_KEY)
}

/// The head of the checkpoint of layout `layout`, if there is one.
fn head_of(projections: &SideTable, layout: &[u8]) -> Option<(u64, u32, u64)> {
    let bytes = projections.get(layout).ok()??;
    decode_value::<(u64, u32, u64)>(&bytes).ok()
}

/// One checkpoint write at a time in this process (a server's checkpoint thread and its
/// shutdown may both write).
static CHECKPOINT_WRITE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Writes an encoded world checkpoint ([`Engine::encode_checkpoint`]) durably to the
/// projections' database ([`Engine::projections_db`]).
///
/// The parts, in the file of their generation, are made durable before the head naming
/// that generation is written, so a crash at any point leaves either the previous checkpoint
/// whole or the new one whole. Then the previous generation's keys and file (and checkpoints
/// of older layouts) are removed. Writes are taken one at a time, each under a generation
/// number of its own, and a checkpoint older than the one on disk is not written.
pub fn write_checkpoint(
    projections: &SideDb,
    mut encoded: EncodedWorld,
) -> Result<(), EngineError> {
    let _one_at_a_time = CHECKPOINT_WRITE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let table = projections.table();
    let (position, generation) = (encoded.position, encoded.generation);
    if checkpoint_head(&table).is_some_and(|(_, _, on_disk)| on_disk > position) {
        return Ok(());
    }
    let ends = encoded.parts.finish()?;
    let directory = std::mem::take(&mut encoded.directory);
    // Until the head is written, a failure here drops the writer, which removes the file.
    let count = ends.len() as u32;
    let ends = encode_value(&ends).map_err(|e| EngineError::Corrupt(e.to_string()))?;
    table.insert(&compressed_ends_key(generation), sealed(ends))?;
    for (bucket, bytes) in directory.accounts.into_iter().enumerate() {
        table.insert(&account_bucket_key(generation, bucket as u32), bytes)?;
    }
    table.insert(&subdivisions_key(generation), directory.subdivisions)?;
    table.insert(&figures_key(generation), directory.figures)?;
    projections.flush()?;
    let head = encode_value(&(generation, count, position))
        .map_err(|e| EngineError::Corrupt(e.to_string()))?;
    encoded.parts.keep();
    table.insert(WORLD_KEY, head)?;
    projections.flush()?;
    remove_other_generations(
        projections,
        WORLD_KEY_PREFIX,
        WORLD_KEY,
        WORLD_PARTS_FILE,
        generation,
    );
    drop(encoded);
    Ok(())
}

/// Once the head `head` durably names generation `generation`: removes every key starting
/// with `prefix` but the head and the keys of that generation, and every file of parts
/// `parts_file` but that generation's (what a crash or an older layout left, and the
/// generation the head named before). A failure is only logged: what was saved is whole,
/// and the next save tidies again.
pub(crate) fn remove_other_generations(
    projections: &SideDb,
    prefix: &[u8],
    head: &[u8],
    parts_file: &str,
    generation: u64,
) {
    let table = projections.table();
    let current = generation_prefix(head, generation);
    let tidied = (|| -> Result<(), StoreError> {
        for key in table.keys_with_prefix(prefix)? {
            if key != head && !key.starts_with(&current) {
                table.remove(&key)?;
            }
        }
        projections.remove_parts(parts_file, Some(generation))?;
        projections.flush()
    })();
    if let Err(e) = tidied {
        let head = String::from_utf8_lossy(head);
        tracing::warn!("what {head} named before was not all removed: {e}");
    }
}

/// Writes a checkpoint of `world` (encoding, compressing and writing a part at a time).
pub(crate) fn save_world(projections: &SideDb, world: &World) -> Result<(), EngineError> {
    write_checkpoint(projections, encode_world(projections, world)?)
}

/// Whether the projections hold a checkpoint of any layout this build reads.
pub(crate) fn has_checkpoint(projections: &SideDb) -> bool {
    let table = projections.table();
    std::iter::once(WORLD_KEY)
        .chain(LEGACY_WORLD_KEYS)
        .any(|layout| head_of(&table, layout).is_some())
}

pub(crate) fn open_projections(dir: &Path) -> Result<SideDb, EngineError> {
    Ok(SideDb::open(
        &dir.join(PROJECTIONS_DIR),
        PROJECTIONS_CACHE_BYTES,
    )?)
}

pub(crate) fn load_checkpoint(projections: &SideDb) -> Option<World> {
    let table = projections.table();
    let (layout, (generation, count, _)) = std::iter::once(WORLD_KEY)
        .chain(LEGACY_WORLD_KEYS)
        .find_map(|layout| Some((layout, head_of(&table, layout)?)))?;
    let decoded = (|| -> Result<World, String> {
        let parts = CheckpointParts::open(projections, layout, generation, count)?;
        let part = |index: u32| {
            parts
                .part(index)
                .map_err(|e| format!("part {index} of {count}: {e}"))
        };
        let mut world: World = decode_value(&part(0)?).map_err(|e| e.to_string())?;
        // Every part after the first holds a part's worth of consumers (the last fewer):
        // reserved at once, so the list is not doubled past its length (at 2,750,000
        // consumers a doubled list has 4,194,304 places of 80 bytes, and both copies are
        // live while it grows). Checkpoints of older layouts with bigger parts reserve too
        // little and grow as before; a count too big to reserve is left to the parts.
        let _ = world.consumers.try_reserve_exact(
            (count as usize)
                .saturating_sub(1)
                .saturating_mul(CHECKPOINT_PART_CONSUMERS),
        );
        // Another thread reads and expands the parts while this one decodes them.
        std::thread::scope(|scope| -> Result<(), String> {
            let (read, expanded) = std::sync::mpsc::sync_channel(WORLD_PARTS_IN_FLIGHT);
            let part = &part;
            std::thread::Builder::new()
                .name("checkpoint-reader".into())
                .spawn_scoped(scope, move || {
                    for index in 1..count {
                        let bytes = part(index);
                        let failed = bytes.is_err();
                        if read.send(bytes).is_err() || failed {
                            return;
                        }
                    }
                })
                .map_err(|e| format!("starting the checkpoint's reader: {e}"))?;
            for bytes in expanded {
                let block: Vec<StoredConsumer> =
                    decode_value(&bytes?).map_err(|e| e.to_string())?;
                world.consumers.extend(block);
            }
            Ok(())
        })?;
        // Written by subdivision: back in the world's order (registration, as the log has
        // them). A checkpoint written in the world's order is already sorted.
        if !world.consumers.is_sorted_by_key(|c| c.position) {
            world.consumers.sort_unstable_by_key(|c| c.position);
        }
        world.index_accounts();
        Ok(world)
    })();
    match decoded {
        Ok(world) => Some(world),
        Err(e) => {
            tracing::warn!("projection checkpoint does not decode ({e}); rebuilding from the log");
            None
        }
    }
}

/// The consumers a cold read needs: some accounts, or those below an office.
#[derive(Clone, Copy, Debug)]
pub enum Wanted<'a> {
    Accounts(&'a [&'a str]),
    Office(&'a str),
}

/// The checkpointed world with only the consumers `wanted` asks for (and some others that
/// share their parts' places in the directories): its offices, camps, grievances and nightly
/// runs whole, and of the consumers' parts only those the directories list. `None` when
/// there is no checkpoint, or it has no directories, or a part it needs does not read back
/// whole: the caller then loads the whole world.
pub(crate) fn load_checkpoint_of(projections: &SideDb, wanted: Wanted<'_>) -> Option<World> {
    let table = projections.table();
    let (generation, count, _) = checkpoint_head(&table)?;
    let read = |key: &[u8]| -> Option<Vec<u8>> {
        let bytes = table.get(key).ok()??;
        unsealed(&bytes).map(<[u8]>::to_vec)
    };
    let source = CheckpointParts::open(projections, WORLD_KEY, generation, count).ok()?;
    let mut world: World = decode_value(&source.part(0).ok()?).ok()?;
    let mut parts = std::collections::BTreeSet::new();
    let keep: Box<dyn Fn(&StoredConsumer) -> bool> = match wanted {
        Wanted::Accounts(accounts) => {
            // Each bucket read once, however many of the accounts it lists.
            let mut crcs: std::collections::BTreeMap<u32, rustc_hash::FxHashSet<u32>> =
                Default::default();
            for account in accounts {
                let (bucket, crc) = account_bucket(account);
                crcs.entry(bucket).or_default().insert(crc);
            }
            for (bucket, crcs) in crcs {
                let listed: Vec<(u32, u32)> =
                    decode_value(&read(&account_bucket_key(generation, bucket))?).ok()?;
                parts.extend(
                    listed
                        .into_iter()
                        .filter(|(c, _)| crcs.contains(c))
                        .map(|(_, part)| part),
                );
            }
            let accounts: rustc_hash::FxHashSet<&str> = accounts.iter().copied().collect();
            Box::new(move |c| accounts.contains::<str>(&c.account_no))
        }
        Wanted::Office(office) => {
            let under: std::collections::BTreeSet<String> =
                world.subdivisions_under(office).into_iter().collect();
            let listed: Vec<(String, u32, u32)> =
                decode_value(&read(&subdivisions_key(generation))?).ok()?;
            for (code, first, last) in listed {
                if under.contains(&code) {
                    parts.extend(first..=last);
                }
            }
            Box::new(move |c| under.contains(c.subdivision.as_str()))
        }
    };
    let mut found: Vec<StoredConsumer> = Vec::new();
    for part in parts {
        if part == 0 || part >= count {
            return None;
        }
        let block: Vec<StoredConsumer> = decode_value(&source.part(part).ok()?).ok()?;
        found.extend(block.into_iter().filter(|c| keep(c)));
    }
    // In the world's order, as a whole load would have them.
    found.sort_unstable_by_key(|c| c.position);
    world.consumers = found;
    world.index_accounts();
    Some(world)
}

enum Accepted {
    Event,
    Duplicate,
}

/// What checking a batch's inputs found.
#[derive(Default)]
struct Checked {
    read: usize,
    duplicates: usize,
    errors: Vec<RowError>,
}

/// The world as a batch sees it: the world plus what the batch's earlier commands decided.
#[derive(Clone)]
struct Batch<'a> {
    world: &'a World,
    store: &'a Store,
    policy: &'a Policy,
    /// Today's date in India, for the date windows.
    today: NaiveDate,
    /// The divisions this engine may record consumers, camps and grievances in.
    scope: Option<&'a dyn Scope>,
    /// The accepted events, encoded: a bulk import holds a million of them, so they are kept
    /// as their compact payloads and decoded when a later command needs them.
    events: Vec<Box<[u8]>>,
    /// Where each event's command came from, for errors found at append.
    locations: Vec<Box<str>>,
    by_account: FxHashMap<String, Pending>,
    offices: FxHashMap<String, Level>,
    camps: FxHashMap<String, Camp>,
    grievances: FxHashMap<String, Grievance>,
    /// Natural keys of the batch: content hash and the event's index.
    keys: FxHashMap<(KeyNamespace, String), (u64, u32)>,
    /// A streamed import's spool: accepted events go to disk rather than to `events`, and
    /// repeats of a key within the batch are found after the whole input is checked (see
    /// [`stream`]).
    spool: Option<stream::Spool>,
    /// In a streamed batch, the natural key and content hash of the command
    /// [`Batch::accept_staged`] last saw (a batch in memory keeps its keys in `keys`).
    last_key: Option<(EventKey, u64)>,
}

/// A consumer's events in the batch.
#[derive(Clone, Default)]
struct Pending {
    registered: bool,
    /// The connection date, when the batch registers the consumer.
    connected_on: Option<NaiveDate>,
    events: Vec<u32>,
}

type Refusal = (ErrorKind, String, String);

impl<'a> Batch<'a> {
    fn new(
        world: &'a World,
        store: &'a Store,
        policy: &'a Policy,
        today: NaiveDate,
        scope: Option<&'a dyn Scope>,
    ) -> Batch<'a> {
        Batch {
            world,
            store,
            policy,
            today,
            scope,
            events: Vec::new(),
            locations: Vec::new(),
            by_account: FxHashMap::default(),
            offices: FxHashMap::default(),
            camps: FxHashMap::default(),
            grievances: FxHashMap::default(),
            keys: FxHashMap::default(),
            spool: None,
            last_key: None,
        }
    }

    /// The batch's event at `index`, decoded.
    fn event(&self, index: u32) -> Option<Event> {
        match decode_event(&self.events[index as usize]) {
            Ok(event) => Some(event),
            Err(e) => {
                tracing::error!("batch event {index} does not decode: {e}");
                None
            }
        }
    }

    /// Refuses a registration in a subdivision whose division `scope` does not hold. A
    /// subdivision this batch registers has no recorded division yet: refused too, so that
    /// no record escapes the check (offices go first, in a request of their own).
    fn check_scope(&self, scope: &dyn Scope, command: &Command) -> Result<(), Refusal> {
        let subdivision = match command {
            Command::RegisterConsumer { subdivision, .. }
            | Command::ScheduleCamp { subdivision, .. }
            | Command::RegisterGrievance { subdivision, .. } => subdivision,
            _ => return Ok(()),
        };
        let refuse = |reason: String| (ErrorKind::Unprocessable, "subdivision".to_string(), reason);
        match self.world.ancestor_at(subdivision, Level::Division) {
            Some(division) => scope.holds(&division.code).map_err(refuse),
            None if self.offices.contains_key(subdivision.as_str()) => Err(refuse(format!(
                "office {subdivision} is registered in this same request: register offices \
                 in a request of their own first"
            ))),
            // An unknown office: the rules refuse it.
            None => Ok(()),
        }
    }

    /// The consumer a bill or receipt of the batch belongs to.
    fn account_of_key(&self, namespace: KeyNamespace, key: &str) -> Option<String> {
        let (_, index) = self.keys.get(&(namespace, key.to_string()))?;
        self.event(*index)?.account_no().map(str::to_string)
    }

    /// Validates `inputs` into the batch: what is accepted is noted for the inputs after it.
    fn check(&mut self, inputs: impl IntoIterator<Item = Input>) -> Result<Checked, EngineError> {
        let mut checked = Checked::default();
        for input in inputs {
            checked.read += 1;
            if checked.read > BATCH_COMMANDS_MAX {
                return Err(EngineError::Usage(format!(
                    "a batch may hold at most {BATCH_COMMANDS_MAX} commands"
                )));
            }
            let command = match input.command {
                Ok(c) => c,
                Err(field_errors) => {
                    for e in field_errors {
                        checked.errors.push(field_error(&input.location, e));
                    }
                    continue;
                }
            };
            match self.accept(&command, &input.location) {
                Ok(Accepted::Event) => {}
                Ok(Accepted::Duplicate) => checked.duplicates += 1,
                Err((kind, field, reason)) => checked.errors.push(RowError {
                    location: input.location,
                    field,
                    reason,
                    kind,
                }),
            }
        }
        Ok(checked)
    }

    /// When the consumer `account_no` was connected, from the batch or the world.
    fn connected_on(&self, account_no: &str) -> Option<NaiveDate> {
        self.by_account
            .get(account_no)
            .and_then(|pending| pending.connected_on)
            .or_else(|| {
                self.world
                    .stored_consumer(account_no)
                    .map(|c| c.connected_on)
            })
    }

    /// Whether any event from `from` on has a natural key the log already holds.
    fn any_stored_key(&self, from: usize) -> bool {
        (from..self.events.len()).any(|index| {
            self.event(index as u32)
                .and_then(|e| e.natural_key())
                .is_some_and(|k| self.stored_key(k.namespace, &k.key).is_some())
        })
    }

    fn stored_key(&self, namespace: KeyNamespace, key: &str) -> Option<vasooli_store::KeyEntry> {
        match self.store.lookup_key(namespace.as_str(), key) {
            Ok(entry) => entry,
            Err(e) => {
                tracing::error!("key lookup failed: {e}");
                None
            }
        }
    }

    fn accept(&mut self, command: &Command, location: &str) -> Result<Accepted, Refusal> {
        self.accept_staged(command, location)
            .map_err(|(refusal, _)| refusal)
    }

    /// [`Batch::accept`], with each refusal told apart by whether an earlier accepted command
    /// of the batch with the same key and other content would have made it a conflict (a
    /// streamed import learns of such repeats only after the whole input is checked).
    fn accept_staged(
        &mut self,
        command: &Command,
        location: &str,
    ) -> Result<Accepted, (Refusal, bool)> {
        // The event the command would record, built once: its key and content tell a repeat
        // within the batch (same content: a duplicate; other content: a conflict), and it is
        // the event recorded when the rules pass.
        let candidate = build_event(self, command);
        let payload = candidate.as_ref().map(encode_event).transpose();
        let candidate_key = match (&candidate, &payload) {
            (Some(event), Ok(Some(payload))) => {
                event.natural_key().map(|key| (key, content_hash(payload)))
            }
            _ => None,
        };
        if self.spool.is_some() {
            self.last_key.clone_from(&candidate_key);
        }
        let mut batch_conflict = false;
        if let (Some((k, hash)), None) = (&candidate_key, &self.spool) {
            match self.keys.get(&(k.namespace, k.key.clone())).map(|(h, _)| h) {
                Some(h) if h == hash => return Ok(Accepted::Duplicate),
                Some(_) => batch_conflict = true,
                None => {}
            }
        }
        // Dates outside their windows are refused before anything is looked up: a broken
        // rule (422) answers before an unknown account (404).
        if let Some(e) = check_windows(command, &self.policy.dates, self.today)
            .into_iter()
            .next()
        {
            return Err(((ErrorKind::Unprocessable, e.field, e.reason), false));
        }
        if let Some(scope) = self.scope {
            self.check_scope(scope, command).map_err(|r| (r, false))?;
        }
        let event = match decide::check(self, command).and_then(|()| built(command, candidate)) {
            Ok(event) if !batch_conflict => event,
            Ok(_) => {
                let (k, _) = candidate_key.as_ref().expect("a conflict has a key");
                return Err((conflict(k.namespace, &k.key), true));
            }
            Err(r) => {
                let replaceable = r.kind != RejectionKind::NotFound;
                return self
                    .refused(r, candidate_key.as_ref(), batch_conflict)
                    .map_err(|refusal| (refusal, replaceable));
            }
        };
        let connected_on = (!self.policy.dates.before_connection_allowed)
            .then(|| event.account_no().and_then(|a| self.connected_on(a)))
            .flatten();
        if let Some(connected_on) = connected_on {
            if let Some(e) = check_after_connection(command, connected_on) {
                return Err(((ErrorKind::Unprocessable, e.field, e.reason), true));
            }
        }
        let payload = payload
            .map_err(|e| {
                (
                    (ErrorKind::Unprocessable, String::new(), e.to_string()),
                    true,
                )
            })?
            .expect("an event was built, so it was encoded");
        self.note(&event);
        if let Some(spool) = &mut self.spool {
            spool.push_event(&payload);
            return Ok(Accepted::Event);
        }
        let index = self.events.len() as u32;
        if let Some((k, hash)) = candidate_key {
            self.keys.insert((k.namespace, k.key), (hash, index));
        }
        self.events.push(payload.into_boxed_slice());
        self.locations.push(location.into());
        Ok(Accepted::Event)
    }

    /// What a command the rules refused comes to: a duplicate when the log holds its event
    /// already, a conflict when its key is taken, else the refusal.
    fn refused(
        &self,
        r: Rejection,
        candidate_key: Option<&(EventKey, u64)>,
        batch_conflict: bool,
    ) -> Result<Accepted, Refusal> {
        // A command the log already holds is a duplicate, whatever the rules would say of it
        // now (a notice already served, a payment already reversed).
        if let Some((k, hash)) = candidate_key {
            let stored = self.stored_key(k.namespace, &k.key);
            if stored.as_ref().is_some_and(|e| e.content_hash == *hash) {
                return Ok(Accepted::Duplicate);
            }
            // An unknown account or office answers before a reused key (404 before 409); a
            // refusal because the key is taken is the conflict.
            if r.kind != RejectionKind::NotFound && (batch_conflict || stored.is_some()) {
                return Err(conflict(k.namespace, &k.key));
            }
        }
        let kind = match r.kind {
            RejectionKind::NotFound => ErrorKind::NotFound,
            RejectionKind::Unprocessable => ErrorKind::Unprocessable,
        };
        Err((kind, r.field, r.reason))
    }

    /// Every event of the batch whose natural key the log holds with other content, in the
    /// batch's order. Read from the batch's keys and their content hashes, so that no event is
    /// decoded; only asked when the store refused the batch or before a bulk load is written.
    fn stored_conflicts(&self) -> Vec<RowError> {
        let mut found: Vec<(u32, RowError)> = Vec::new();
        for ((namespace, key), (hash, index)) in &self.keys {
            let Some(entry) = self.stored_key(*namespace, key) else {
                continue;
            };
            if entry.content_hash != *hash {
                let (kind, field, reason) = conflict(*namespace, key);
                let location = self.locations[*index as usize].to_string();
                found.push((
                    *index,
                    RowError {
                        location,
                        field,
                        reason,
                        kind,
                    },
                ));
            }
        }
        found.sort_by_key(|(index, _)| *index);
        found.into_iter().map(|(_, error)| error).collect()
    }

    /// Records what later commands of the batch must see.
    fn note(&mut self, event: &Event) {
        let index = self.events.len() as u32;
        match event {
            Event::OfficeRegistered(e) => {
                // The first registration stands (a streamed import meets a conflicting repeat
                // before it knows it is one).
                self.offices.entry(e.code.clone()).or_insert(e.level);
            }
            Event::CampScheduled(e) => {
                self.camps.insert(e.camp_id.clone(), Camp::scheduled(e));
            }
            Event::CampHeld(e) => {
                if let Some(mut camp) = self.camp(&e.camp_id).map(Cow::into_owned) {
                    camp.hold(e);
                    self.camps.insert(e.camp_id.clone(), camp);
                }
            }
            Event::GrievanceRegistered(e) => {
                self.grievances
                    .insert(e.grievance_id.clone(), Grievance::registered(e));
            }
            Event::GrievanceResolved(e) => {
                if let Some(mut g) = self.grievance(&e.grievance_id).map(Cow::into_owned) {
                    g.resolve(e);
                    self.grievances.insert(e.grievance_id.clone(), g);
                }
            }
            _ => {}
        }
        if let Some(account) = event.account_no() {
            // A streamed import's rules ask only whether a consumer is registered (see
            // [`stream::streamable`]), so it keeps no other event of a consumer.
            let streamed = self.spool.is_some();
            if streamed && !matches!(event, Event::ConsumerRegistered(_)) {
                return;
            }
            if !self.by_account.contains_key(account) {
                self.by_account
                    .insert(account.to_string(), Pending::default());
            }
            let pending = self
                .by_account
                .get_mut(account)
                .expect("inserted just now if it was missing");
            if let Event::ConsumerRegistered(e) = event {
                if !pending.registered {
                    pending.registered = true;
                    pending.connected_on = Some(e.connected_on);
                }
            }
            if !streamed {
                pending.events.push(index);
            }
        }
    }
}

/// A field of an input that does not make a command, as a row error at `location`.
fn field_error(location: &str, e: FieldError) -> RowError {
    let kind = match e.kind {
        FieldErrorKind::Malformed => ErrorKind::Malformed,
        FieldErrorKind::Invalid => ErrorKind::Unprocessable,
    };
    RowError {
        location: location.to_string(),
        field: e.field,
        reason: e.reason,
        kind,
    }
}

/// Every batch's answer (a batch left unanswered is an error, never silence).
fn answered(
    results: Vec<Option<Result<ExecuteReport, EngineError>>>,
) -> Vec<Result<ExecuteReport, EngineError>> {
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(EngineError::Corrupt("a batch was not answered".into()))))
        .collect()
}

fn conflict(namespace: KeyNamespace, key: &str) -> Refusal {
    conflict_on(namespace.field(), key)
}

/// A conflict the store reports under a namespace's stored name (one this version does not
/// know is reported on the account).
fn stored_conflict(namespace: &str, key: &str) -> Refusal {
    let field = namespace
        .parse::<KeyNamespace>()
        .map_or("account_no", KeyNamespace::field);
    conflict_on(field, key)
}

fn conflict_on(field: &str, key: &str) -> Refusal {
    (
        ErrorKind::Conflict,
        field.to_string(),
        format!("`{key}` is already recorded with different content"),
    )
}

impl StateView for Batch<'_> {
    fn office_level(&self, code: &str) -> Option<Level> {
        self.offices
            .get(code)
            .copied()
            .or_else(|| self.world.offices.get(code).map(|o| o.level))
    }

    fn has_consumer(&self, account_no: &str) -> bool {
        self.world.has_consumer(account_no)
            || self
                .by_account
                .get(account_no)
                .is_some_and(|pending| pending.registered)
    }

    fn consumer(&self, account_no: &str) -> Option<Cow<'_, Consumer>> {
        let pending = self.by_account.get(account_no);
        let base = self.world.stored_consumer(account_no);
        match (base, pending) {
            (Some(c), None) => Some(Cow::Owned(c.consumer())),
            (None, None) => None,
            (base, Some(pending)) => {
                // The consumer as the log holds it, with the batch's earlier events applied
                // as the world will apply them once they are written.
                let mut consumer = base.map(StoredConsumer::consumer);
                let start =
                    base.map_or(self.world.position, |c| self.world.position.max(c.position));
                for (offset, i) in pending.events.iter().enumerate() {
                    let Some(event) = self.event(*i) else {
                        continue;
                    };
                    let position = start + 1 + offset as u64;
                    match &mut consumer {
                        // A second registration changes nothing; events before the first
                        // are about no consumer yet.
                        None => consumer = Consumer::registered(position, &event),
                        Some(_) if matches!(event, Event::ConsumerRegistered(_)) => {}
                        Some(c) => {
                            if let Some(change) = Change::of(position, &event) {
                                c.apply(change);
                            }
                        }
                    }
                }
                consumer.map(Cow::Owned)
            }
        }
    }

    fn camp(&self, camp_id: &str) -> Option<Cow<'_, Camp>> {
        self.camps
            .get(camp_id)
            .map(Cow::Borrowed)
            .or_else(|| self.world.camps.get(camp_id).map(Cow::Borrowed))
    }

    fn grievance(&self, grievance_id: &str) -> Option<Cow<'_, Grievance>> {
        self.grievances
            .get(grievance_id)
            .map(Cow::Borrowed)
            .or_else(|| self.world.grievances.get(grievance_id).map(Cow::Borrowed))
    }

    fn account_of_bill(&self, bill_no: &str) -> Option<String> {
        self.account_of_key(KeyNamespace::Bill, bill_no)
            .or_else(|| {
                let entry = self.stored_key(KeyNamespace::Bill, bill_no)?;
                account_of_stream(&entry.stream).map(str::to_string)
            })
    }

    fn account_of_receipt(&self, receipt_no: &str) -> Option<String> {
        self.account_of_key(KeyNamespace::Receipt, receipt_no)
            .or_else(|| {
                let entry = self.stored_key(KeyNamespace::Receipt, receipt_no)?;
                account_of_stream(&entry.stream).map(str::to_string)
            })
    }

    fn policy(&self) -> &Policy {
        self.policy
    }
}

/// `event`, recorded at `recorded_at_ms`, as the store keeps it: its stream, type, encoded
/// payload and natural key.
pub fn stored_event(event: &Event, recorded_at_ms: i64) -> Result<NewEvent, EngineError> {
    let payload = encode_event(event).map_err(|e| EngineError::Corrupt(e.to_string()))?;
    let key = event.natural_key().map(|k| NaturalKey {
        namespace: k.namespace.as_str().to_string(),
        key: k.key,
        content_hash: content_hash(&payload),
    });
    Ok(NewEvent {
        stream: event.stream(),
        event_type: event.type_name().to_string(),
        payload,
        recorded_at_ms,
        key,
    })
}

/// Appends exported events to an empty store in their order, with their recorded times, so
/// that the restored log exports byte for byte as the original.
pub fn restore_events(store: &Store, events: Vec<(Event, i64)>) -> Result<(), EngineError> {
    let mut pending = events.into_iter().peekable();
    while pending.peek().is_some() {
        let mut chunk = Vec::new();
        for (event, recorded_at_ms) in pending.by_ref().take(COMMIT_CHUNK_EVENTS) {
            chunk.push(stored_event(&event, recorded_at_ms)?);
        }
        let before = store.last_position();
        let receipt = store.append(NewCommit::new(chunk))?;
        if receipt.duplicates > 0 {
            return Err(EngineError::Corrupt(format!(
                "the export repeats a natural key after position {before}; it does not restore position for position"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compressed_part_expands_to_its_bytes_and_damage_is_refused_before_expanding() {
        let bytes: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 977).to_le_bytes())
            .collect();
        let part = compressed_part(&bytes).unwrap();
        assert!(part.len() < bytes.len() / 2, "{} bytes", part.len());
        assert_eq!(expanded_part(&part).unwrap(), bytes);

        let mut flipped = part.clone();
        flipped[part.len() / 2] ^= 0x10;
        assert_eq!(expanded_part(&flipped).unwrap_err(), "it fails its CRC");
        assert!(expanded_part(&part[..3]).is_err(), "shorter than a CRC");

        // Sealed whole but not a frame, or a frame claiming more than a part may hold.
        let plain = sealed(bytes.clone());
        assert!(expanded_part(&plain).unwrap_err().contains("zstd frame"));
        let mut claim = zstd::bulk::compress(&bytes, WORLD_PART_LEVEL).unwrap();
        // The frame header after its magic number: single segment, an 8-byte content size.
        assert_eq!(&claim[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
        let descriptor = claim[4];
        assert_eq!(descriptor >> 6, 2, "a 4-byte content size");
        let at = if descriptor & 0x20 != 0 { 5 } else { 6 };
        claim[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let claimed = expanded_part(&sealed(claim)).unwrap_err();
        assert!(claimed.contains("claims"), "{claimed}");
    }
}
