//! Durable, append-only event log on sled.
//!
//! The store knows envelopes and bytes, never domain types: payloads are opaque, and
//! natural keys are opaque `(namespace, key, content_hash)` triples handed in by the
//! domain layer for idempotent imports.
//!
//! Design in one paragraph: every commit gets gap-free global positions; its events are
//! encoded into chunks of at most [`CHUNK_BYTES_MAX`] (6 KiB), each compressed into one sled
//! value keyed by the chunk's first position (big-endian). A single writer thread owns the
//! write path and does group commit: it drains queued commits, validates each (expected
//! versions, natural keys) against the state left by the ones before it, writes all accepted
//! ones with one atomic `apply_batch`, calls `flush` once and then answers every caller.
//! Stream heads live in memory and are checkpointed into the same tree every so often;
//! opening the store loads the checkpoint and replays the log tail after it.
//! See `docs/STORE.md` for the on-disk format.

mod codec;
mod files;
pub use codec::{decode_commit, encode_commit, payload_hash, CodecError};
mod dirlock;
mod error;
mod fasthash;
#[doc(hidden)]
pub mod fuzzing;
mod heads;
mod keyindex;
mod layout;
mod read;
mod side;
mod snapshots;
mod verify;
mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use dirlock::{describe_holder, wait_sled_closed, DirLock, LOCK_FILE};
pub use error::{StorageFault, StoreError};
pub use files::{CHUNKS_FILE, RUNS_DIR};
pub use keyindex::KeyIndexStats;
pub use read::ReadAll;
pub use side::{PartsFile, PartsWriter, SideDb, SideTable, PARTS_DIR};
pub use verify::{Problem, VerifyReport};
pub use writer::PROBE_FREE_BYTES;

/// Capacity of the queue between callers of [`Store::append`] and the writer thread.
/// When it is full, callers block: this is the store's back-pressure.
pub const WRITE_QUEUE_BOUND: usize = 1024;
/// Most commits the writer folds into one group (one batch, one flush).
pub const GROUP_COMMITS_MAX: usize = 256;
/// The writer stops draining the queue once a group holds this many events, so one
/// flush never waits on an unbounded amount of work (a single bigger commit still goes
/// through alone).
pub const GROUP_EVENTS_MAX: usize = 250_000;
/// Largest commit accepted, in events.
pub const COMMIT_EVENTS_MAX: usize = 4_000_000;
/// Largest commit accepted, in payload bytes summed over its events.
pub const COMMIT_PAYLOAD_BYTES_MAX: u64 = 2 * 1024 * 1024 * 1024;
/// Most events stored in one sled value. Chunks of small events close on
/// [`CHUNK_BYTES_MAX`] first (at 133 events at most); chunks of older logs hold up to this.
pub const CHUNK_EVENTS_MAX: usize = 4096;
/// A chunk is closed before its encoded events would exceed this many bytes (a single
/// bigger event gets a chunk of its own). sled 0.34 keeps a leaf node inline in its log only
/// below a quarter of its 512 KiB segment (131,052 bytes with the message header), and a
/// leaf holds up to 17 values before it splits; a bigger leaf goes to a blob file of its
/// own, which sled's cache counts at its pointer's size and so hardly ever evicts: with
/// 120 KiB chunks, reading a log kept every chunk it had read in memory. With values of
/// 4,000 bytes a full leaf stays inline and reading 4.8 GB of them held about 0.5 GiB. The
/// limit counts the events' bytes before the chunk is compressed, so a chunk of
/// incompressible events is no bigger (a leaf of 17 is then about 100 KB, still inline);
/// the engine's chunks take about 1.3 KB each once compressed. 6 KiB rather than 4 KiB
/// (set before the chunks were compressed) keeps sled's log about 7 % smaller, as sled
/// rewrites a leaf as it fills and splits whatever the size of its values.
/// See docs/STORE.md.
pub const CHUNK_BYTES_MAX: usize = 6 * 1024;
/// Largest payload of a single event.
pub const PAYLOAD_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Longest stream name, event type, key namespace or key, in bytes.
pub const NAME_BYTES_MAX: usize = 1024;
/// Stream heads are checkpointed after this many commits since the last checkpoint...
pub const CHECKPOINT_EVERY_COMMITS: u64 = 65_536;
/// ...or after this many events, whichever comes first. Bounds the tail replayed when the
/// store is opened after a crash (a clean close checkpoints): at 2,750,000 streams an open
/// replayed 11,000,000 events in 12.7 s, heads' load included. A checkpoint writes the head
/// of every stream touched since the last one, so its cost per event is the streams touched
/// over the events between checkpoints; where streams are millions (a utility's consumers,
/// each billed once a month) the heads do not fit in sled's cache and a checkpoint reads
/// back most of the tree's leaves that hold heads, whatever share of the streams it covers.
/// At 2,750,000 streams one checkpoint costs about 26 s, and 11,000,000 events appended in
/// 102 s with a checkpoint every 2,000,000 of them against 39 s with one every 8,000,000
/// (see docs/STORE.md). A checkpoint holds the ids of the streams it covers (4 bytes each)
/// and one slice of their heads at a time; the tails it writes (a chunk position per
/// stream and chunk, at most one per event) are bounded by this many events.
pub const CHECKPOINT_EVERY_EVENTS: u64 = 16_000_000;

/// Default of [`StoreOptions::snapshot_after_events`]. sled 0.34 writes the snapshot of its
/// page table only while it opens a database, after replaying every log segment written
/// since the snapshot before; so the first open after a bulk write replays all of it (5 to
/// 19 s after a full-size load, as the first command a user runs). A store that appended
/// at least this many events closes by opening its database once more, taking that replay
/// on itself (see docs/STORE.md, "sled's page-table snapshot at close").
pub const SNAPSHOT_AFTER_EVENTS: u64 = 1_000_000;
/// The key index writes its memtable as a run, however few keys it holds, once the keys
/// not in runs trail the log by this many events (so that open re-reads at most this much).
pub const KEY_INDEX_LAG_EVENTS_MAX: u64 = 1_000_000;
/// `verify` stops collecting problems after this many (it still counts the whole log).
pub const REPORTED_PROBLEMS_MAX: usize = 1000;

/// Name of the sled tree holding the log (chunks, key index, heads). Every tree name
/// starting with `log_` is reserved for the store.
pub const LOG_TREE: &str = layout::LOG_TREE;
/// Streams whose heads share one block on disk (a sled entry of names, one of versions, and
/// the chunk lists checkpoints add): stream `i`, in the order streams first appear in the
/// log, lives in block `i / HEAD_BLOCK_STREAMS`.
pub const HEAD_BLOCK_STREAMS: u32 = heads::BLOCK_STREAMS;

/// Sled page cache size. Replay and appends stream through; a modest cache is enough.
const SLED_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// What the caller expects a stream's version to be before its commit is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must have no events.
    NoStream,
    /// The stream's version must be exactly this (`Exact(0)` = the stream has no events).
    Exact(u64),
}

/// Idempotency key of an event: same `(namespace, key)` with the same hash is a duplicate
/// (skipped), with a different hash a conflict (whole commit rejected). Any hash will do; a
/// `content_hash` that is [`payload_hash`] of the event's payload costs the chunk one byte
/// instead of ten.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NaturalKey {
    pub namespace: String,
    pub key: String,
    pub content_hash: u64,
}

/// An event to append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    pub stream: String,
    pub event_type: String,
    pub payload: Vec<u8>,
    pub recorded_at_ms: i64,
    pub key: Option<NaturalKey>,
}

impl NewEvent {
    /// An event without a natural key.
    pub fn new(
        stream: impl Into<String>,
        event_type: impl Into<String>,
        payload: Vec<u8>,
        recorded_at_ms: i64,
    ) -> NewEvent {
        NewEvent {
            stream: stream.into(),
            event_type: event_type.into(),
            payload,
            recorded_at_ms,
            key: None,
        }
    }

    /// Attaches a natural key.
    pub fn with_key(
        mut self,
        namespace: impl Into<String>,
        key: impl Into<String>,
        content_hash: u64,
    ) -> NewEvent {
        self.key = Some(NaturalKey {
            namespace: namespace.into(),
            key: key.into(),
            content_hash,
        });
        self
    }
}

/// An all-or-nothing unit of appends, possibly spanning several streams.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCommit {
    pub events: Vec<NewEvent>,
    pub expectations: Vec<(String, ExpectedVersion)>,
    /// The sequence of a replicated log this commit applies, in cluster mode: written in
    /// the same atomic batch as the commit's events, also when all of them are
    /// duplicates, and read back by [`Store::covered_sequence`]. `None` outside cluster
    /// mode.
    #[serde(default)]
    pub covers: Option<u64>,
}

impl NewCommit {
    pub fn new(events: Vec<NewEvent>) -> NewCommit {
        NewCommit {
            events,
            expectations: Vec::new(),
            covers: None,
        }
    }

    /// Marks the commit as applying sequence `seq` of a replicated log.
    pub fn covering(mut self, seq: u64) -> NewCommit {
        self.covers = Some(seq);
        self
    }

    pub fn expect(mut self, stream: impl Into<String>, expected: ExpectedVersion) -> NewCommit {
        self.expectations.push((stream.into(), expected));
        self
    }
}

/// Takes over a store's appends in cluster mode (see [`Store::append_through`]): appends
/// the commit to the replicated log and applies it to the store with
/// [`Store::append_local`]. Called from the thread that appends, which may block; never
/// from an async task.
pub trait AppendThrough: Send + Sync + 'static {
    /// Appends `commit`; [`StoreError::Replication`] when the log refused it or could not
    /// be reached.
    fn append(&self, commit: NewCommit) -> Result<CommitReceipt, StoreError>;
}

/// A commit handed to the writer by [`Store::submit`], not yet answered.
#[must_use = "a submitted commit's answer says whether it was written"]
pub struct PendingCommit {
    reply: std::sync::mpsc::Receiver<writer::Answer>,
    dir: std::path::PathBuf,
}

impl PendingCommit {
    /// Waits until the commit is durable on disk (or refused). The commit the writer hands
    /// back is freed here, on the caller's thread.
    pub fn wait(self) -> Result<CommitReceipt, StoreError> {
        let (outcome, commit) = self.reply.recv().map_err(|_| StoreError::Closed)?;
        drop(commit);
        outcome.map_err(|e| e.in_dir(&self.dir))
    }
}

/// Natural-key index entry: where the first event with that key was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    pub content_hash: u64,
    pub stream: String,
    pub position: u64,
}

/// Outcome of a successful append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitReceipt {
    /// Position of the first appended event (the current last position if none was appended).
    pub first_position: u64,
    /// Position of the last appended event (the current last position if none was appended).
    pub last_position: u64,
    pub appended: usize,
    /// Events skipped because their natural key was already recorded with the same hash.
    pub duplicates: usize,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedEvent {
    pub position: u64,
    pub stream: String,
    pub stream_version: u64,
    pub event_type: String,
    pub payload: Vec<u8>,
    pub recorded_at_ms: i64,
}

/// Taking a lock whose previous holder panicked: every lock of the store guards state that
/// is whole between statements, so a poisoned one is used as it is.
pub(crate) trait Recover<T> {
    fn read_recovered(&self) -> std::sync::RwLockReadGuard<'_, T>;
    fn write_recovered(&self) -> std::sync::RwLockWriteGuard<'_, T>;
}

impl<T> Recover<T> for RwLock<T> {
    fn read_recovered(&self) -> std::sync::RwLockReadGuard<'_, T> {
        self.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_recovered(&self) -> std::sync::RwLockWriteGuard<'_, T> {
        self.write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Per-stream state shared between the writer (sole mutator) and readers.
///
/// Streams are numbered in the order they first appear in the log (see `heads` for a log
/// converted from the older layout), so the writer resolves
/// a stream name once per event and then works on plain vectors instead of several
/// string-keyed hash maps; the head blocks on disk keep that order (stream `i` is in block
/// `i / HEAD_BLOCK_STREAMS`, see `heads`).
///
/// A utility has a stream per consumer, millions of them, so names are kept once, end to end
/// in one string, and found by their hash: 30 to 40 bytes a stream rather than the 90 of a
/// map of boxed names beside a list of boxed names.
#[derive(Debug, Default)]
pub(crate) struct StreamIndex {
    /// Hash of a stream's name -> id (index into `names` and `heads`) of the first stream
    /// with that hash.
    ids: fasthash::FastMap<u64, u32>,
    /// Streams whose name's hash an earlier stream has already (names are compared, so a
    /// collision costs a comparison, never a wrong stream).
    ids_more: fasthash::FastMap<Box<str>, u32>,
    names: StreamNames,
    pub heads: Vec<StreamHead>,
    /// Ids whose `tail_chunks` is not empty, in no particular order.
    pub touched: Vec<u32>,
    /// Position up to which the head blocks in sled are exact.
    pub checkpoint_position: u64,
    /// Streams the head blocks in sled hold (ids below it are named on disk).
    pub checkpoint_streams: u32,
    /// Each head block's count of chunk-list entries, as the open read it (the writer keeps
    /// its own from there).
    pub lists: Vec<u32>,
}

/// In-memory head of one stream.
#[derive(Debug, Default, Clone)]
pub(crate) struct StreamHead {
    /// Current version (number of events); streams only exist once they have one.
    pub version: u64,
    /// Chunks written after the checkpoint (ascending first positions).
    pub tail_chunks: Vec<u64>,
}

/// Stream names end to end: name `i` is `text[ends[i - 1]..ends[i]]`.
#[derive(Debug, Default)]
struct StreamNames {
    text: String,
    ends: Vec<u64>,
}

impl StreamNames {
    fn get(&self, id: u32) -> &str {
        let id = id as usize;
        let start = id.checked_sub(1).map_or(0, |i| self.ends[i]) as usize;
        &self.text[start..self.ends[id] as usize]
    }

    fn push(&mut self, name: &str) {
        self.text.push_str(name);
        self.ends.push(self.text.len() as u64);
    }
}

fn stream_hash(stream: &str) -> u64 {
    use std::hash::BuildHasher;
    fasthash::FastState::default().hash_one(stream)
}

impl StreamIndex {
    pub(crate) fn id(&self, stream: &str) -> Option<u32> {
        let id = *self.ids.get(&stream_hash(stream))?;
        if self.names.get(id) == stream {
            Some(id)
        } else {
            self.ids_more.get(stream).copied()
        }
    }

    /// The name of stream `id`.
    pub(crate) fn name(&self, id: u32) -> &str {
        self.names.get(id)
    }

    pub(crate) fn version(&self, stream: &str) -> Option<u64> {
        self.id(stream).map(|id| self.heads[id as usize].version)
    }

    /// Adds a stream not yet known; returns its id.
    pub(crate) fn add_stream(&mut self, stream: &str, version: u64) -> u32 {
        let id = self.heads.len() as u32;
        match self.ids.entry(stream_hash(stream)) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(id);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.ids_more.insert(stream.into(), id);
            }
        }
        self.names.push(stream);
        self.heads.push(StreamHead {
            version,
            tail_chunks: Vec::new(),
        });
        id
    }

    /// Records that chunk `chunk` holds events of stream `id` (chunks arrive in ascending order).
    pub(crate) fn push_tail_chunk(&mut self, id: u32, chunk: u64) {
        let tail = &mut self.heads[id as usize].tail_chunks;
        if tail.last() != Some(&chunk) {
            if tail.is_empty() {
                self.touched.push(id);
            }
            tail.push(chunk);
        }
    }

    /// Forgets the tail lists after a checkpoint covering them.
    pub(crate) fn clear_tails(&mut self) {
        for id in std::mem::take(&mut self.touched) {
            self.heads[id as usize].tail_chunks = Vec::new();
        }
    }
}

/// State shared by the store handles, the writer thread, readers and subscriptions.
pub(crate) struct Shared {
    /// The data directory the log lives in (as `log/`).
    pub dir: std::path::PathBuf,
    /// The open sled database; `None` while the writer reopens it after a failed write
    /// (sled refuses every write after one failed, until it is opened again).
    pub sled: RwLock<Option<SledDb>>,
    /// Last durable position; only advanced after the flush covering it.
    pub last_position: AtomicU64,
    pub index: RwLock<StreamIndex>,
    /// The natural-key index; the writer is its only mutator.
    pub keys: RwLock<keyindex::KeyIndex>,
    /// Keys the memtable holds before the writer writes it as a run.
    pub key_memtable_entries: usize,
    /// Events between checkpoints of the stream heads (see [`StoreOptions`]).
    pub checkpoint_every_events: u64,
    /// Events appended since the open after which closing refreshes sled's snapshot (see
    /// [`StoreOptions`]).
    pub snapshot_after_events: u64,
    /// Whether chunks and key-index blocks go to files (see [`StoreOptions::blocks_in_files`]).
    pub blocks_in_files: bool,
    /// Set when a write failed, cleared when one succeeds.
    pub degraded: std::sync::atomic::AtomicBool,
    notify_lock: Mutex<()>,
    notify: Condvar,
}

/// An open sled database and the log's tree in it.
pub(crate) struct SledDb {
    pub db: sled::Db,
    pub tree: files::LogTree,
}

impl Shared {
    /// The state of a log open in `dir` that ends at `last_position`, with its stream heads
    /// and key index, kept with `options` (each at least 1).
    fn new(
        dir: &Path,
        sled: SledDb,
        last_position: u64,
        index: StreamIndex,
        keys: RwLock<keyindex::KeyIndex>,
        options: StoreOptions,
    ) -> Shared {
        Shared {
            dir: dir.to_path_buf(),
            sled: RwLock::new(Some(sled)),
            last_position: AtomicU64::new(last_position),
            index: RwLock::new(index),
            keys,
            key_memtable_entries: options.key_memtable_entries.max(1),
            checkpoint_every_events: options.checkpoint_every_events.max(1),
            snapshot_after_events: options.snapshot_after_events.max(1),
            blocks_in_files: options.blocks_in_files,
            degraded: std::sync::atomic::AtomicBool::new(false),
            notify_lock: Mutex::new(()),
            notify: Condvar::new(),
        }
    }

    /// The log's tree, unless the database is being reopened.
    pub(crate) fn tree(&self) -> Result<files::LogTree, StoreError> {
        match &*self.sled.read_recovered() {
            Some(s) => Ok(s.tree.clone()),
            None => Err(self.reopening()),
        }
    }

    /// The database, unless it is being reopened.
    pub(crate) fn db(&self) -> Result<sled::Db, StoreError> {
        match &*self.sled.read_recovered() {
            Some(s) => Ok(s.db.clone()),
            None => Err(self.reopening()),
        }
    }

    fn reopening(&self) -> StoreError {
        StoreError::Storage {
            dir: self.dir.clone(),
            fault: StorageFault::Unavailable,
            source: std::io::Error::other("the log is being reopened after a failed write"),
        }
    }

    /// Publishes a new durable last position and wakes subscribers.
    pub(crate) fn publish_position(&self, position: u64) {
        self.last_position.store(position, Ordering::Release);
        // Taking the lock orders this notification after any waiter's check, so a
        // waiter cannot miss it (see `Subscription::wait_beyond`).
        let _guard = self
            .notify_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.notify.notify_all();
    }

    pub(crate) fn last_position(&self) -> u64 {
        self.last_position.load(Ordering::Acquire)
    }
}

struct Inner {
    shared: Arc<Shared>,
    /// Where [`Store::append`] and [`Store::submit`] hand commits in cluster mode.
    through: RwLock<Option<Arc<dyn AppendThrough>>>,
    tx: SyncSender<writer::Command>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// The data directory's lock, held while the store is open (dropped last).
    _lock: DirLock,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The writer checkpoints heads and flushes before exiting.
        let _ = self.tx.send(writer::Command::Shutdown);
        let handle = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(handle) = handle {
            if handle.join().is_err() {
                tracing::error!("store writer thread panicked");
            }
        }
    }
}

/// Handle to an open store. Cheap to clone; the store closes when the last clone drops.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("last_position", &self.last_position())
            .finish()
    }
}

/// How long `open` waits for the previous holder of the directory's lock to let go: sled's
/// background threads release it shortly after the last handle drops.
const OPEN_LOCK_WAIT: Duration = Duration::from_secs(5);

pub(crate) fn open_sled(path: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    let started = std::time::Instant::now();
    // The directory a user knows: the data directory, not its `log/` inside.
    let named = if path.file_name().is_some_and(|n| n == "log") {
        path.parent().unwrap_or(path)
    } else {
        path
    };
    loop {
        let locked = match snapshots::prepare(path) {
            Ok(snapshots::Prepared::Ready) => {
                match sled::Config::new()
                    .path(path)
                    .cache_capacity(cache_bytes)
                    .open()
                {
                    Ok(db) => return Ok(db),
                    Err(sled::Error::Io(e)) if e.kind() == std::io::ErrorKind::Other => {
                        // sled reports a lock held by another as a bare `Other` error: ask
                        // the lock itself whether that was it.
                        match snapshots::prepare(path) {
                            Ok(snapshots::Prepared::Locked) => true,
                            _ => return Err(StoreError::Sled(sled::Error::Io(e)).in_dir(named)),
                        }
                    }
                    Err(e) => return Err(StoreError::from(e).in_dir(named)),
                }
            }
            Ok(snapshots::Prepared::Locked) => true,
            Err(e) => return Err(e.in_dir(named)),
        };
        if locked {
            if started.elapsed() >= OPEN_LOCK_WAIT {
                return Err(StoreError::in_use(named));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Settings of an open store; [`Store::open`] takes the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Natural keys held in memory before they are written to sled as a sorted run of
    /// the key index (about 10 bytes each on disk, about 40 in memory). Smaller values write
    /// runs (and merge them) more often; tests use a handful to exercise that.
    pub key_memtable_entries: usize,
    /// Events appended between two checkpoints of the stream heads (default
    /// [`CHECKPOINT_EVERY_EVENTS`]): more makes a bulk load faster where streams are
    /// millions and lengthens the log tail replayed when the store is opened after a crash
    /// (a clean close checkpoints).
    pub checkpoint_every_events: u64,
    /// Events appended between opening and closing the store from which the close opens
    /// sled's database once more, so that sled writes the snapshot of its page table then
    /// rather than at the next open (default [`SNAPSHOT_AFTER_EVENTS`]): the next command
    /// opens without replaying what this one wrote. `u64::MAX` never does.
    pub snapshot_after_events: u64,
    /// Whether the log's chunks and the key index's blocks go to files of the store's own
    /// beside sled (the default; see `docs/STORE.md`) or, as logs made before them kept
    /// them, inside sled: kept for comparison and for tests of such logs, which are read
    /// either way.
    pub blocks_in_files: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            key_memtable_entries: KEY_MEMTABLE_ENTRIES,
            checkpoint_every_events: CHECKPOINT_EVERY_EVENTS,
            snapshot_after_events: SNAPSHOT_AFTER_EVENTS,
            blocks_in_files: true,
        }
    }
}

/// Default of [`StoreOptions::key_memtable_entries`].
pub const KEY_MEMTABLE_ENTRIES: usize = 1 << 20;

impl Store {
    /// Opens (creating if missing) the store in `dir`; the sled database lives in `dir/log`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(dir, StoreOptions::default())
    }

    /// [`Store::open`] with other settings.
    pub fn open_with(dir: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io(e).in_dir(dir))?;
        let lock = DirLock::take(dir)?;
        Store::open_under(dir, options, lock)
    }

    /// Opens the store in the directory whose lock the caller already holds (a command that
    /// checks a directory and then replaces its data keeps the lock throughout).
    pub fn open_locked(lock: &DirLock) -> Result<Store, StoreError> {
        Store::open_under(lock.dir(), StoreOptions::default(), lock.clone())
    }

    fn open_under(dir: &Path, options: StoreOptions, lock: DirLock) -> Result<Store, StoreError> {
        assert_eq!(lock.dir(), dir, "the lock held is the directory's own");
        let (sled, keys, index, last_position) = open_log(
            dir,
            options.key_memtable_entries.max(1),
            options.blocks_in_files,
        )
        .map_err(|e| e.in_dir(dir))?;
        let keys = RwLock::new(keys);
        let shared = Arc::new(Shared::new(dir, sled, last_position, index, keys, options));
        let (tx, rx) = sync_channel(WRITE_QUEUE_BOUND);
        let writer_shared = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("vasooli-store-writer".into())
            .spawn(move || writer::run(writer_shared, rx))?;
        Ok(Store {
            inner: Arc::new(Inner {
                shared,
                through: RwLock::new(None),
                tx,
                writer: Mutex::new(Some(handle)),
                _lock: lock,
            }),
        })
    }

    /// `Ok` while writes succeed; after a failed write, the fault that stopped it until a
    /// write (or this probe, which writes a few bytes) succeeds again. Once space is back the
    /// store works again by itself: the writer reopens the database after a failed write.
    pub fn probe(&self) -> Result<(), StoreError> {
        let (reply_tx, reply_rx) = sync_channel(1);
        self.inner
            .tx
            .send(writer::Command::Probe(reply_tx))
            .map_err(|_| StoreError::Closed)?;
        reply_rx.recv().map_err(|_| StoreError::Closed)?
    }

    /// Whether the last write failed (and no write succeeded since).
    pub fn degraded(&self) -> bool {
        self.inner.shared.degraded.load(Ordering::Acquire)
    }

    /// The data directory the store was opened in.
    pub fn dir(&self) -> &Path {
        &self.inner.shared.dir
    }

    /// A table of another crate's in the log's database (names must not start with
    /// `log_`). Its writes become durable with the next append, [`Store::flush`] or
    /// [`SideTable::flush`].
    pub fn table(&self, name: &str) -> Result<SideTable, StoreError> {
        SideTable::in_log_db(&self.inner.shared, name)
    }

    /// The sled database itself, for the store's own tests, which damage it on purpose.
    #[doc(hidden)]
    pub fn raw_db(&self) -> sled::Db {
        self.inner.shared.db().expect("the log is open")
    }

    /// Appends a commit atomically; returns once it is durable on disk. With a hook set by
    /// [`Store::append_through`], the hook takes the commit instead (and applies it to this
    /// store through [`Store::append_local`] once the replicated log took it).
    pub fn append(&self, commit: NewCommit) -> Result<CommitReceipt, StoreError> {
        if let Some(through) = self.through() {
            return through.append(commit);
        }
        self.append_local(commit)
    }

    /// Appends a commit to this store alone, whatever hook is set: how a replica applies
    /// the entries of its partition's log.
    pub fn append_local(&self, commit: NewCommit) -> Result<CommitReceipt, StoreError> {
        self.submit_local(commit)?.wait()
    }

    /// Hands every later [`Store::append`] and [`Store::submit`] to `through` (cluster mode:
    /// the partition's replicated log). Every clone of this store shares the hook.
    pub fn append_through(&self, through: Arc<dyn AppendThrough>) {
        *self.inner.through.write_recovered() = Some(through);
    }

    /// Removes the hook set by [`Store::append_through`]: appends are local again.
    pub fn clear_append_through(&self) {
        *self.inner.through.write_recovered() = None;
    }

    fn through(&self) -> Option<Arc<dyn AppendThrough>> {
        self.inner.through.read_recovered().clone()
    }

    /// Hands a commit to the writer and returns at once; [`PendingCommit::wait`] answers as
    /// [`Store::append`] would. Commits are written in the order they are submitted. A caller
    /// that must not see a later commit written after an earlier one failed waits for each
    /// before submitting the next, and does its other work (preparing the next commit,
    /// reading the last one) while the writer writes.
    ///
    /// With a hook set by [`Store::append_through`], the hook takes the commit at once and
    /// the answer is ready when this returns.
    ///
    /// The written commit comes back with its answer and is freed by `wait` (or when the
    /// `PendingCommit` is dropped), on the caller's thread: a caller holding many answers
    /// unread holds their commits too.
    pub fn submit(&self, commit: NewCommit) -> Result<PendingCommit, StoreError> {
        if let Some(through) = self.through() {
            let (reply_tx, reply) = sync_channel(1);
            let _ = reply_tx.send((through.append(commit), None));
            return Ok(PendingCommit {
                reply,
                dir: self.inner.shared.dir.clone(),
            });
        }
        self.submit_local(commit)
    }

    fn submit_local(&self, commit: NewCommit) -> Result<PendingCommit, StoreError> {
        let (reply_tx, reply) = sync_channel(1);
        self.inner
            .tx
            .send(writer::Command::Append(commit, reply_tx))
            .map_err(|_| StoreError::Closed)?;
        Ok(PendingCommit {
            reply,
            dir: self.inner.shared.dir.clone(),
        })
    }

    /// Position of the last durable event; 0 when the log is empty.
    pub fn last_position(&self) -> u64 {
        self.inner.shared.last_position()
    }

    /// Version of `stream` (its number of events), `None` if it has none.
    pub fn stream_version(&self, stream: &str) -> Option<u64> {
        let index = self.inner.shared.index.read_recovered();
        index.version(stream)
    }

    /// All events at positions `>= from_position`, in order, up to the last position
    /// durable when this is called. Decodes one chunk at a time, so memory stays bounded.
    pub fn read_all(&self, from_position: u64) -> ReadAll {
        ReadAll::new(&self.inner.shared, from_position)
    }

    /// All events of `stream`, in version order.
    pub fn read_stream(&self, stream: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        read::read_stream(&self.inner.shared, stream)
    }

    /// The highest replicated-log sequence a commit has covered (see
    /// [`NewCommit::covers`]); 0 when none has.
    pub fn covered_sequence(&self) -> Result<u64, StoreError> {
        let shared = &self.inner.shared;
        let value = shared.tree()?.get(layout::COVERED_KEY)?;
        match value {
            None => Ok(0),
            Some(bytes) => layout::covered_from(&bytes).map_err(|e| StoreError::Corrupt {
                position: shared.last_position(),
                reason: format!("covered sequence: {e}"),
            }),
        }
    }

    /// Where the natural key was first recorded, if it was.
    pub fn lookup_key(&self, namespace: &str, key: &str) -> Result<Option<KeyEntry>, StoreError> {
        let shared = &self.inner.shared;
        let entry = shared
            .keys
            .read_recovered()
            .find(&shared.tree()?, namespace, key)?;
        // An entry of a commit whose flush has not completed is not reported yet (only
        // format-1 entries can be ahead: the key index holds durable keys only).
        Ok(entry.filter(|e| e.position <= shared.last_position()))
    }

    /// Figures about the natural-key index.
    pub fn key_index_stats(&self) -> KeyIndexStats {
        self.inner.shared.keys.read_recovered().stats()
    }

    /// A handle for waiting on new commits.
    pub fn subscribe(&self) -> Subscription {
        Subscription {
            shared: Arc::clone(&self.inner.shared),
        }
    }

    /// Walks the whole log and index and reports every inconsistency found.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let shared = &self.inner.shared;
        verify::verify_tree(&shared.tree()?, Some(shared.last_position()))
            .map_err(|e| e.in_dir(&shared.dir))
    }

    /// Checkpoints stream heads and flushes the whole database (including other crates'
    /// trees) to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        let (reply_tx, reply_rx) = sync_channel(1);
        if self
            .inner
            .tx
            .send(writer::Command::Flush(reply_tx))
            .is_err()
        {
            let shared = &self.inner.shared;
            shared
                .db()?
                .flush()
                .map_err(|e| StoreError::from(e).in_dir(&shared.dir))?;
            return Ok(());
        }
        reply_rx
            .recv()
            .map_err(|_| StoreError::Closed)?
            .map_err(|e| e.in_dir(&self.inner.shared.dir))
    }
}

/// Read-only access to a data directory's log, for a command that reads a few streams'
/// worth and the tail after a checkpoint: it opens the database and finds where the log
/// ends, and does not load the stream heads or the natural-key index (which a [`Store`]
/// loads to append, in time and memory that grow with the log). It takes the directory's
/// lock as [`Store::open`] does, so nothing appends while it reads.
pub struct LogReader {
    shared: Arc<Shared>,
    _lock: DirLock,
}

impl LogReader {
    /// Opens the log in `dir` for reading (creating the directory if missing, as
    /// [`Store::open`] does: an empty log).
    pub fn open(dir: &Path) -> Result<LogReader, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io(e).in_dir(dir))?;
        let lock = DirLock::take(dir)?;
        let opened = (|| {
            let db = open_log_db(dir)?;
            let tree = open_log_tree(dir, &db, None)?;
            let last = read::checked_last_position(&tree)?;
            Ok::<_, StoreError>((SledDb { db, tree }, last))
        })();
        let (sled, last_position) = opened.map_err(|e| e.in_dir(dir))?;
        // No heads and no key index: a reader never looks them up.
        let shared = Arc::new(Shared::new(
            dir,
            sled,
            last_position,
            StreamIndex::default(),
            RwLock::new(keyindex::KeyIndex::default()),
            StoreOptions::default(),
        ));
        Ok(LogReader {
            shared,
            _lock: lock,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Position of the log's last event; 0 when it is empty.
    pub fn last_position(&self) -> u64 {
        self.shared.last_position()
    }

    /// Every event from `from_position` on, in order (as [`Store::read_all`]).
    pub fn read_all(&self, from_position: u64) -> ReadAll {
        ReadAll::new(&self.shared, from_position)
    }
}

/// What reading a log in order needs: a [`Store`] or a [`LogReader`].
pub trait LogRead {
    /// Position of the last event.
    fn last_position(&self) -> u64;
    /// Every event from `from_position` on, in order.
    fn read_all(&self, from_position: u64) -> ReadAll;
}

impl LogRead for Store {
    fn last_position(&self) -> u64 {
        Store::last_position(self)
    }
    fn read_all(&self, from_position: u64) -> ReadAll {
        Store::read_all(self, from_position)
    }
}

impl LogRead for LogReader {
    fn last_position(&self) -> u64 {
        LogReader::last_position(self)
    }
    fn read_all(&self, from_position: u64) -> ReadAll {
        LogReader::read_all(self, from_position)
    }
}

/// Verifies a store directory without opening it as a [`Store`] (which replays the log
/// tail and fails on a damaged tail). Must not be used while a `Store` has it open.
pub fn verify_dir(dir: &Path) -> Result<VerifyReport, StoreError> {
    // Waits for the lock like `open`, in case a store on `dir` was just dropped.
    let verified = (|| {
        let db = open_log_db(dir)?;
        let tree = open_log_tree(dir, &db, None)?;
        verify::verify_tree(&tree, None)
    })();
    verified.map_err(|e| e.in_dir(dir))
}

/// Opens the sled database of the log in `dir/log`, with the store's cache.
pub(crate) fn open_log_db(dir: &Path) -> Result<sled::Db, StoreError> {
    open_sled(&dir.join("log"), SLED_CACHE_BYTES)
}

/// The log's tree in `db` (the database of `dir/log`), with its files: to write, new chunks
/// and blocks going to them when `in_files`, or with `None` to read only.
fn open_log_tree(
    dir: &Path,
    db: &sled::Db,
    in_files: Option<bool>,
) -> Result<files::LogTree, StoreError> {
    files::LogTree::open(&dir.join("log"), db.open_tree(layout::LOG_TREE)?, in_files)
}

/// Opens the log in `dir/log` to write it and rebuilds what the store keeps in memory.
pub(crate) fn open_log(
    dir: &Path,
    memtable_entries: usize,
    in_files: bool,
) -> Result<(SledDb, keyindex::KeyIndex, StreamIndex, u64), StoreError> {
    let db = open_log_db(dir)?;
    let tree = open_log_tree(dir, &db, Some(in_files))?;
    // Cut off what no chunk owns, only once the last chunk reads back where sled says it
    // is (a damaged pointer must not cut the file short).
    match read::last_position(&tree) {
        Ok(_) => tree.chunks().trim()?,
        Err(e) => {
            tracing::warn!(error = %e, "the log's last chunk does not read back; its file is left as it is")
        }
    }
    let keys = RwLock::new(keyindex::KeyIndex::open(&tree)?);
    let (index, last_position) = read::rebuild_index(&tree, &keys, memtable_entries)?;
    let keys = keys.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok((SledDb { db, tree }, keys, index, last_position))
}

/// Waits for commits landing in the store.
#[derive(Clone)]
pub struct Subscription {
    shared: Arc<Shared>,
}

impl Subscription {
    /// Blocks until the last position exceeds `position` or `timeout` elapses; returns the
    /// last position at that moment.
    pub fn wait_beyond(&self, position: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let shared = &self.shared;
        let mut guard = shared
            .notify_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        loop {
            let current = shared.last_position();
            if current > position {
                return current;
            }
            let now = Instant::now();
            if now >= deadline {
                return current;
            }
            guard = match shared.notify.wait_timeout(guard, deadline - now) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Current last durable position.
    pub fn last_position(&self) -> u64 {
        self.shared.last_position()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_found_by_name_also_when_their_hashes_collide() {
        let mut index = StreamIndex::default();
        let names: Vec<String> = (0..10_000).map(|i| format!("consumer-UK{i:07}")).collect();
        for (i, name) in names.iter().enumerate() {
            assert_eq!(index.add_stream(name, i as u64 + 1), i as u32);
        }
        // "other" collides with the first stream: its hash already names stream 0.
        index.ids.insert(stream_hash("other"), 0);
        let other = index.add_stream("other", 7);
        assert_eq!(other, 10_000);
        assert!(index.ids_more.contains_key("other"));
        assert_eq!(index.id("other"), Some(other));
        assert_eq!(index.version("other"), Some(7));
        for (i, name) in names.iter().enumerate() {
            assert_eq!(index.id(name), Some(i as u32), "{name}");
            assert_eq!(index.name(i as u32), name);
            assert_eq!(index.version(name), Some(i as u64 + 1));
        }
        assert_eq!(index.name(other), "other");
        assert_eq!(index.id("consumer-UK0010000"), None);
        assert_eq!(index.id(""), None);
        assert_eq!(index.add_stream("", 1), 10_001);
        assert_eq!(index.id(""), Some(10_001));
    }
}
