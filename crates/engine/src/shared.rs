//! The engine shared by many callers (the server's requests): reads run side by side under a
//! read lock; writes go to one write thread that executes every write waiting as one group
//! sharing one durable commit, then answers each caller; a checkpoint thread saves the world
//! in quiet moments. Everything here blocks: an async caller runs it on its blocking pool.

use crate::engine::{write_checkpoint, Engine, EngineError, ExecuteReport, Input};
use crate::nightly::{self, NightlySummary};
use parking_lot::{RwLock, RwLockUpgradableReadGuard, RwLockWriteGuard};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// How far the world may run ahead of its checkpoint while writes never pause.
const CHECKPOINT_BUSY_LAG_EVENTS: u64 = 4_000_000;
/// Most writes waiting for the write thread; callers wait beyond it.
const WRITE_QUEUE_MAX: usize = 4096;
/// Most writes executed as one group.
const WRITE_GROUP_MAX: usize = 512;
/// How often the checkpoint thread looks at the world's lag.
const CHECKPOINT_POLL: Duration = Duration::from_secs(1);

type Prepare = Box<dyn FnOnce(&Engine) -> Option<Vec<Input>> + Send>;
type Reply = Box<dyn FnOnce(Result<ExecuteReport, EngineError>) + Send>;

/// A write waiting for the write thread: `prepare` makes its inputs under the write lock
/// (answering the caller itself when it refuses), `reply` takes the group's answer for it.
struct WriteJob {
    prepare: Prepare,
    reply: Reply,
}

/// An engine shared between threads; cheap to clone.
#[derive(Clone)]
pub struct SharedEngine {
    engine: Arc<RwLock<Engine>>,
    jobs: SyncSender<WriteJob>,
    position: Arc<AtomicU64>,
    /// Set when a writer panicked holding the engine: its world may be half-changed, so
    /// nothing uses it again.
    poisoned: Arc<AtomicBool>,
}

impl std::fmt::Debug for SharedEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedEngine")
            .field("position", &self.log_position())
            .finish_non_exhaustive()
    }
}

/// Sole access to a shared engine, held until dropped (a command of the CLI handed to the
/// running server works through it). Dropping it publishes the log position it reached.
pub struct Exclusive {
    guard: parking_lot::ArcRwLockWriteGuard<parking_lot::RawRwLock, Engine>,
    position: Arc<AtomicU64>,
    poisoned: Arc<AtomicBool>,
}

impl std::ops::Deref for Exclusive {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        &self.guard
    }
}

impl std::ops::DerefMut for Exclusive {
    fn deref_mut(&mut self) -> &mut Engine {
        &mut self.guard
    }
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        self.position
            .store(self.guard.world().position, Ordering::Relaxed);
        if std::thread::panicking() {
            self.poisoned.store(true, Ordering::Relaxed);
        }
    }
}

/// Marks the engine poisoned when dropped during a panic (a writer died half-way).
struct PanicWatch<'a>(&'a AtomicBool);

impl Drop for PanicWatch<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

fn poisoned_error() -> EngineError {
    EngineError::Corrupt("the engine lock is poisoned".into())
}

impl SharedEngine {
    /// Shares `engine`, starting its write and checkpoint threads (they end with the last
    /// handle).
    pub fn start(engine: Engine) -> SharedEngine {
        let position = Arc::new(AtomicU64::new(engine.world().position));
        let engine = Arc::new(RwLock::new(engine));
        let poisoned = Arc::new(AtomicBool::new(false));
        let (jobs, queue) = sync_channel(WRITE_QUEUE_MAX);
        {
            let (engine, position, poisoned) =
                (Arc::downgrade(&engine), position.clone(), poisoned.clone());
            std::thread::Builder::new()
                .name("vasooli-writes".into())
                .spawn(move || run_writes(engine, position, poisoned, queue))
                .expect("the write thread starts");
        }
        {
            let (checkpoints, poisoned) = (Arc::downgrade(&engine), poisoned.clone());
            std::thread::Builder::new()
                .name("vasooli-checkpoints".into())
                .spawn(move || run_checkpoints(checkpoints, poisoned))
                .expect("the checkpoint thread starts");
        }
        SharedEngine {
            engine,
            jobs,
            position,
            poisoned,
        }
    }

    /// The log position the world (what readers see) has reached, as of the last write: a
    /// write is read into the world before it is acknowledged, so this covers every
    /// acknowledged write. (The log itself may be ahead while a write is being made durable.)
    pub fn log_position(&self) -> u64 {
        self.position.load(Ordering::Relaxed)
    }

    /// Runs `f` with shared access to the engine.
    pub fn read<T>(&self, f: impl FnOnce(&Engine) -> T) -> Result<T, EngineError> {
        self.check_poison()?;
        let guard = self.engine.read();
        Ok(f(&guard))
    }

    fn check_poison(&self) -> Result<(), EngineError> {
        match self.poisoned.load(Ordering::Relaxed) {
            true => Err(poisoned_error()),
            false => Ok(()),
        }
    }

    /// Sole access to the engine until the answer is dropped: every read and write of the
    /// server waits meanwhile.
    pub fn exclusive(&self) -> Result<Exclusive, EngineError> {
        self.check_poison()?;
        Ok(Exclusive {
            guard: self.engine.write_arc(),
            position: self.position.clone(),
            poisoned: self.poisoned.clone(),
        })
    }

    /// Runs `f` with sole access to the engine; the log position follows what it appended.
    pub fn write<T>(&self, f: impl FnOnce(&mut Engine) -> T) -> Result<T, EngineError> {
        self.check_poison()?;
        let mut guard = self.engine.write();
        let watch = PanicWatch(&self.poisoned);
        let out = f(&mut guard);
        drop(watch);
        self.position
            .store(guard.world().position, Ordering::Relaxed);
        Ok(out)
    }

    /// The nightly run for `as_of`, after `check` (which may refuse it) has seen the world.
    /// Readers go on while the run decides and appends; they wait only while its events are
    /// read into the world, and see the world from before the run or from after it. Other
    /// writes wait for the whole run.
    pub fn nightly<E: From<EngineError>>(
        &self,
        as_of: chrono::NaiveDate,
        check: impl FnOnce(&Engine) -> Result<(), E>,
    ) -> Result<NightlySummary, E> {
        self.check_poison()?;
        let started = Instant::now();
        let guard = self.engine.upgradable_read();
        let watch = PanicWatch(&self.poisoned);
        check(&guard)?;
        let decided = nightly::decide_and_append(&guard, as_of, nightly::NIGHTLY_BLOCK_CONSUMERS);
        let mut guard = RwLockUpgradableReadGuard::upgrade(guard);
        let completed = nightly::complete(&mut guard, decided, started);
        self.position
            .store(guard.world().position, Ordering::Relaxed);
        // The run's agenda is saved with readers going on; other writes wait for it.
        let guard = RwLockWriteGuard::downgrade_to_upgradable(guard);
        guard.save_agenda();
        drop(watch);
        Ok(completed?)
    }

    /// Runs `write` (a bulk load, [`Engine::write_checked`]) holding the engine's one write
    /// slot, with shared access: readers go on meanwhile and see the world from before it;
    /// they wait only while what it wrote is read into the world, and then see all of it.
    /// Other writes wait for the whole load.
    pub fn bulk<T>(
        &self,
        write: impl FnOnce(&Engine) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        self.check_poison()?;
        let guard = self.engine.upgradable_read();
        let watch = PanicWatch(&self.poisoned);
        let written = write(&guard);
        let mut guard = RwLockUpgradableReadGuard::upgrade(guard);
        // Whatever was written, even by a load that failed part-way, is read in, so the
        // world never lags the log.
        let read = guard.read_written();
        self.position
            .store(guard.world().position, Ordering::Relaxed);
        drop(watch);
        let written = written?;
        read?;
        Ok(written)
    }

    /// Executes the inputs `prepare` makes (holding the engine's one write slot, so it may
    /// judge them against the world, which no other write changes meanwhile; reads go on)
    /// together with whatever other writes are waiting: one durable commit serves them all,
    /// and each gets its own answer once it is durable.
    pub fn execute<E>(
        &self,
        prepare: impl FnOnce(&Engine) -> Result<Vec<Input>, E> + Send + 'static,
    ) -> Result<ExecuteReport, E>
    where
        E: From<EngineError> + Send + 'static,
    {
        let (answer, answered) = sync_channel::<Result<ExecuteReport, E>>(1);
        let refused = answer.clone();
        let job = WriteJob {
            prepare: Box::new(move |engine| match prepare(engine) {
                Ok(inputs) => Some(inputs),
                Err(e) => {
                    let _ = refused.send(Err(e));
                    None
                }
            }),
            reply: Box::new(move |result| {
                let _ = answer.send(result.map_err(E::from));
            }),
        };
        let stopped = || E::from(EngineError::Corrupt("the write thread has stopped".into()));
        self.jobs.send(job).map_err(|_| stopped())?;
        answered.recv().map_err(|_| stopped())?
    }

    /// Saves a checkpoint when the world is ahead of the last one (on the way out, so the
    /// next start replays little).
    pub fn checkpoint_now(&self) -> Result<(), EngineError> {
        self.check_poison()?;
        let mut guard = self.engine.write();
        if guard.checkpoint_lag() > 0 {
            guard.save_checkpoint()?;
        }
        Ok(())
    }
}

/// The write thread: takes every write waiting (up to [`WRITE_GROUP_MAX`]), executes them as
/// one group (reads wait only while its commit is read into the world), answers each, and
/// goes back for the writes that queued meanwhile. Under load the groups grow, so concurrent
/// writers share flushes.
fn run_writes(
    engine: Weak<RwLock<Engine>>,
    position: Arc<AtomicU64>,
    poisoned: Arc<AtomicBool>,
    queue: Receiver<WriteJob>,
) {
    // Checkpoints are the checkpoint thread's, off the write path.
    if let Some(engine) = engine.upgrade() {
        engine.write().defer_checkpoints(true);
    }
    while let Ok(first) = queue.recv() {
        let mut jobs = vec![first];
        while jobs.len() < WRITE_GROUP_MAX {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let Some(engine) = engine.upgrade() else {
            return;
        };
        if poisoned.load(Ordering::Relaxed) {
            for job in jobs {
                (job.reply)(Err(poisoned_error()));
            }
            continue;
        }
        // Checking the group and making its commit durable change nothing in memory, so
        // readers go on meanwhile (an upgradable lock shares with readers, not with another
        // writer); only reading the commit into the world takes the engine alone, and a
        // reader sees the world from before the commit or from after it.
        let guard = engine.upgradable_read();
        let watch = PanicWatch(&poisoned);
        let mut batches = Vec::with_capacity(jobs.len());
        let mut replies = Vec::with_capacity(jobs.len());
        for job in jobs {
            if let Some(inputs) = (job.prepare)(&guard) {
                batches.push(inputs);
                replies.push(job.reply);
            }
        }
        let mut plan = guard.plan_group(batches);
        guard.write_planned(&mut plan);
        let mut guard = RwLockUpgradableReadGuard::upgrade(guard);
        let mut finished = guard.read_group(plan);
        position.store(guard.world().position, Ordering::Relaxed);
        // A batch that goes alone (a big request, or one whose keys the log already holds)
        // is checked and written with readers going on too, and read in before the next.
        let mut guard = RwLockWriteGuard::downgrade_to_upgradable(guard);
        for (index, inputs) in std::mem::take(&mut finished.alone) {
            let written = guard.write_alone(inputs);
            let mut writing = RwLockUpgradableReadGuard::upgrade(guard);
            let read = writing.read_written();
            position.store(writing.world().position, Ordering::Relaxed);
            guard = RwLockWriteGuard::downgrade_to_upgradable(writing);
            finished.results[index] = Some(read.and(written));
        }
        let results = finished.answers();
        drop(watch);
        drop(guard);
        for (reply, result) in replies.into_iter().zip(results) {
            reply(result);
        }
    }
}

/// The checkpoint thread. Encoding the world takes a read lock, so writes wait for it (about
/// a second for a world of 1.3 M events), and a checkpoint is therefore taken in a quiet
/// moment: once the world has run
/// [`CHECKPOINT_LAG_EVENTS_MAX`](crate::engine::CHECKPOINT_LAG_EVENTS_MAX) events ahead of
/// its checkpoint and nothing was written for a second; under writes that never pause, once
/// it has run [`CHECKPOINT_BUSY_LAG_EVENTS`] ahead (a restart then replays at most that many
/// events). The parts go to their file as they are encoded, so the process holds one at a
/// time; the file is made durable and named in the projections' own database holding no
/// lock, so the log's flushes are not held up. Ends with the engine.
fn run_checkpoints(engine: Weak<RwLock<Engine>>, poisoned: Arc<AtomicBool>) {
    let lag_max = crate::engine::CHECKPOINT_LAG_EVENTS_MAX;
    let mut last_seen = None;
    loop {
        std::thread::sleep(CHECKPOINT_POLL);
        let Some(engine) = engine.upgrade() else {
            return;
        };
        if poisoned.load(Ordering::Relaxed) {
            return;
        }
        let (lag, position) = {
            let guard = engine.read();
            (guard.checkpoint_lag(), guard.store().last_position())
        };
        let quiet = last_seen == Some(position);
        last_seen = Some(position);
        if (quiet && lag >= lag_max) || lag >= CHECKPOINT_BUSY_LAG_EVENTS {
            checkpoint_off_lock(&engine);
        }
    }
}

/// Encodes the world under a read lock (into its file of parts) and makes it durable and
/// names it holding none.
fn checkpoint_off_lock(engine: &RwLock<Engine>) {
    let started = Instant::now();
    let encoded = {
        let guard = engine.read();
        guard
            .encode_checkpoint()
            .map(|encoded| (encoded, guard.projections_db().clone()))
    };
    let encoded_in = started.elapsed();
    let saved = encoded.and_then(|(encoded, projections)| {
        let (position, size) = (encoded.position, encoded.len());
        write_checkpoint(&projections, encoded)?;
        tracing::info!(
            position,
            bytes = size,
            encode_ms = encoded_in.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "checkpoint saved"
        );
        Ok(position)
    });
    match saved {
        Ok(position) => {
            engine.read().checkpoint_written(position);
        }
        Err(e) => tracing::error!("saving the checkpoint failed: {e}"),
    }
}
