//! The single writer thread: group commit.
//!
//! Owning the write path in one thread makes validation (expected versions, natural
//! keys) race-free without locks around sled, and lets many concurrent callers share one
//! `flush`, which is the dominant cost of a durable append.

use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

use crate::codec::{payload_hash, ChunkBuilder, EventKeyWire, EventWire};
use crate::fasthash::FastMap;
use crate::files::{self, LogTree};
use crate::heads::CheckpointPlan;
use crate::keyindex::{self, KeyIndex};
use crate::layout;
use crate::{
    CommitReceipt, ExpectedVersion, NaturalKey, NewCommit, Recover, Shared, StoreError,
    StreamIndex, CHECKPOINT_EVERY_COMMITS, CHUNK_BYTES_MAX, CHUNK_EVENTS_MAX, COMMIT_EVENTS_MAX,
    COMMIT_PAYLOAD_BYTES_MAX, GROUP_COMMITS_MAX, GROUP_EVENTS_MAX, KEY_INDEX_LAG_EVENTS_MAX,
    NAME_BYTES_MAX, PAYLOAD_BYTES_MAX,
};

/// A sled key and value waiting to go into the group's batch.
type KeyValue = (Vec<u8>, Vec<u8>);

/// The writer's answer to an append, with the commit handed back (once written) for the
/// caller to free: the writer thread, which bounds a bulk load, does not spend its time
/// freeing what another thread allocated.
pub(crate) type Answer = (Result<CommitReceipt, StoreError>, Option<NewCommit>);

type AppendReply = SyncSender<Answer>;

/// Requests to the writer thread.
pub(crate) enum Command {
    Append(NewCommit, AppendReply),
    /// Checkpoint heads and flush everything.
    Flush(SyncSender<Result<(), StoreError>>),
    /// Reopen the database if a write failed, then write a few bytes durably: clears the
    /// degraded mark when that works.
    Probe(SyncSender<Result<(), StoreError>>),
    /// Checkpoint, flush and exit.
    Shutdown,
}

/// Free space a probe wants to see before it says writes may work again (a few group
/// commits' worth: sled writes in segments of 512 KiB).
pub const PROBE_FREE_BYTES: u64 = 4 << 20;

/// Tree of the log's database the probe writes to (names `log_*` are the store's).
const PROBE_TREE: &str = "log_probe";

/// Upper bound of an encoded event's bytes besides names and payload: five varints
/// (three lengths, the version and the timestamp) of at most 9 bytes each, and the tag
/// saying whether a natural key follows.
const EVENT_OVERHEAD_BYTES: usize = 46;
/// Upper bound of a natural key's bytes in a chunk besides its namespace and key: two
/// lengths and the content hash, varints of at most 9 bytes each, and the tag saying
/// whether the hash is stored.
const KEY_OVERHEAD_BYTES: usize = 28;

pub(crate) fn run(shared: Arc<Shared>, rx: Receiver<Command>) {
    let mut writer = Writer::new(shared);
    loop {
        let first = match rx.recv() {
            Ok(command) => command,
            Err(_) => break,
        };
        let (group, control) = gather(first, &rx);
        if !group.is_empty() {
            writer.append_group(group);
        }
        match control {
            Some(Command::Flush(reply)) => {
                let flushed = writer.usable().and_then(|()| writer.checkpoint_and_flush());
                if let Err(e) = &flushed {
                    writer.failed(e);
                }
                let _ = reply.send(flushed);
            }
            Some(Command::Probe(reply)) => {
                let probed = writer.usable().and_then(|()| writer.probe());
                match &probed {
                    Ok(()) => writer.recovered(),
                    Err(e) => writer.failed(e),
                }
                let _ = reply.send(probed);
            }
            Some(Command::Shutdown) => break,
            _ => {}
        }
    }
    if writer.broken {
        return;
    }
    if let Err(e) = writer.checkpoint_and_flush() {
        tracing::error!(error = %e, "final store checkpoint failed");
        return;
    }
    writer.refresh_snapshot();
}

/// The appends waiting after `first`, up to a group's bounds, and the first command that
/// is not an append (which ends the group).
fn gather(
    first: Command,
    rx: &Receiver<Command>,
) -> (Vec<(NewCommit, AppendReply)>, Option<Command>) {
    let mut group: Vec<(NewCommit, AppendReply)> = Vec::new();
    let mut group_events = 0usize;
    let mut control = None;
    match first {
        Command::Append(commit, reply) => {
            group_events += commit.events.len();
            group.push((commit, reply));
        }
        other => control = Some(other),
    }
    while control.is_none() && group.len() < GROUP_COMMITS_MAX && group_events < GROUP_EVENTS_MAX {
        match rx.try_recv() {
            Ok(Command::Append(commit, reply)) => {
                group_events += commit.events.len();
                group.push((commit, reply));
            }
            Ok(other) => control = Some(other),
            Err(_) => break,
        }
    }
    (group, control)
}

struct Writer {
    shared: Arc<Shared>,
    commits_since_checkpoint: u64,
    events_since_checkpoint: u64,
    /// The writer's view of every stream, indexed by stream id like `StreamIndex::heads`
    /// and followed by the streams first seen in the current group. Versions here include
    /// the commits accepted so far in the group; readers see them at `publish`.
    heads: Vec<Head>,
    /// Number of the commit being staged / of the current group, for the stamps in `Head`.
    commit_seq: u64,
    group_seq: u64,
    /// A write failed and the database could not be reopened yet.
    broken: bool,
    /// The log's last position when the writer started.
    opened_at: u64,
    /// Each head block's count of chunk-list entries (see [`crate::heads`]).
    lists: Vec<u32>,
}

/// Writer-side state of one stream.
#[derive(Debug, Default, Clone, Copy)]
struct Head {
    version: u64,
    /// First position of the last chunk recorded for the stream (0: none yet).
    last_chunk: u64,
    /// `commit_seq` of the last commit that touched the stream (for undo).
    commit_stamp: u64,
    /// `group_seq` of the last group that touched the stream (for publishing).
    group_stamp: u64,
}

/// Effects of the commits accepted so far in the current group, not yet published.
/// Stream names are borrowed from the queued commits, which live until the group is done,
/// so the hot path allocates no per-event strings.
struct GroupState<'g> {
    /// The log's tree for this group.
    tree: LogTree,
    /// The group's chunks, one after another, to append to the chunk file before its batch
    /// (empty when chunks go inside sled).
    chunk_bytes: Vec<u8>,
    /// Where `chunk_bytes` go in the chunk file.
    chunk_file_end: u64,
    next_position: u64,
    /// Streams known to the shared index when the group started; ids from here on are
    /// streams first seen in this group, named by `new_names`.
    known: u32,
    new_names: Vec<&'g str>,
    new_ids: FastMap<&'g str, u32>,
    /// Ids whose version changed in the group.
    touched: Vec<u32>,
    /// Natural keys written by earlier commits of the group.
    keys: KeysSeen<'g>,
    /// (key hash, position) of every natural key written in the group, for the key index.
    key_entries: Vec<(u64, u64)>,
    /// (stream id, chunk first position) for every stream of every new chunk.
    new_chunks: Vec<(u32, u64)>,
    batch: sled::Batch,
    writes: usize,
    accepted_commits: u64,
    appended_events: u64,
}

impl<'g> GroupState<'g> {
    fn new(tree: LogTree, next_position: u64, known: usize) -> Self {
        let chunk_file_end = tree.chunks().end();
        GroupState {
            tree,
            chunk_bytes: Vec::new(),
            chunk_file_end,
            next_position,
            known: known as u32,
            new_names: Vec::new(),
            new_ids: FastMap::default(),
            touched: Vec::new(),
            keys: KeysSeen::default(),
            key_entries: Vec::new(),
            new_chunks: Vec::new(),
            batch: sled::Batch::default(),
            writes: 0,
            accepted_commits: 0,
            appended_events: 0,
        }
    }

    fn lookup(&self, index: &StreamIndex, stream: &str) -> Option<u32> {
        index
            .id(stream)
            .or_else(|| self.new_ids.get(stream).copied())
    }

    fn name<'a>(&'a self, index: &'a StreamIndex, id: u32) -> &'a str {
        match id.checked_sub(self.known) {
            Some(i) => self.new_names[i as usize],
            None => index.name(id),
        }
    }
}

/// What a commit changed in the group and writer state before it failed, to roll back.
struct Undo {
    touched: usize,
    key_entries: usize,
    new_chunks: usize,
    new_names: usize,
    heads: Vec<(u32, Head)>,
}

fn limit(what: &'static str, limit: u64, actual: u64) -> Result<(), StoreError> {
    if actual > limit {
        return Err(StoreError::LimitExceeded {
            what,
            limit,
            actual,
        });
    }
    Ok(())
}

fn check_limits(commit: &NewCommit) -> Result<(), StoreError> {
    let name = NAME_BYTES_MAX as u64;
    limit(
        "events per commit",
        COMMIT_EVENTS_MAX as u64,
        commit.events.len() as u64,
    )?;
    let mut total = 0u64;
    for ev in &commit.events {
        limit("stream name bytes", name, ev.stream.len() as u64)?;
        limit("event type bytes", name, ev.event_type.len() as u64)?;
        limit(
            "payload bytes",
            PAYLOAD_BYTES_MAX as u64,
            ev.payload.len() as u64,
        )?;
        if let Some(key) = &ev.key {
            limit("key namespace bytes", name, key.namespace.len() as u64)?;
            limit("key bytes", name, key.key.len() as u64)?;
        }
        total += ev.payload.len() as u64;
    }
    limit("commit payload bytes", COMMIT_PAYLOAD_BYTES_MAX, total)?;
    for (stream, _) in &commit.expectations {
        limit("stream name bytes", name, stream.len() as u64)?;
    }
    Ok(())
}

fn codec_err(e: crate::codec::CodecError) -> StoreError {
    StoreError::Codec(e)
}

impl Writer {
    fn new(shared: Arc<Shared>) -> Writer {
        let (heads, tail, lists) = {
            let index = shared.index.read_recovered();
            let heads = index
                .heads
                .iter()
                .map(|h| Head {
                    version: h.version,
                    ..Head::default()
                })
                .collect();
            (
                heads,
                shared.last_position() - index.checkpoint_position,
                index.lists.clone(),
            )
        };
        Writer {
            commits_since_checkpoint: 0,
            // The tail replayed on open counts towards the next checkpoint, so that crashes
            // one after another never let the tail grow past the bound.
            events_since_checkpoint: tail,
            heads,
            commit_seq: 0,
            group_seq: 0,
            broken: false,
            opened_at: shared.last_position(),
            lists,
            shared,
        }
    }

    /// At a clean close, after a long write: closes the log's database and opens it once
    /// more, so that sled replays what was written and writes the snapshot of its page table
    /// now (it writes one only while opening), rather than the next command's open doing so.
    fn refresh_snapshot(&mut self) {
        let appended = self.shared.last_position().saturating_sub(self.opened_at);
        if appended < self.shared.snapshot_after_events {
            return;
        }
        drop(self.shared.sled.write_recovered().take());
        match crate::open_log_db(&self.shared.dir) {
            Ok(db) => drop(db),
            // The next open replays the log's tail instead, as it would have.
            Err(e) => tracing::warn!(error = %e, "the log's page-table snapshot was not refreshed"),
        }
    }

    /// Writes a group of appends, or answers each with why the writer cannot.
    fn append_group(&mut self, group: Vec<(NewCommit, AppendReply)>) {
        match self.usable() {
            Ok(()) => {
                if let Err(e) = self.write_group(group) {
                    self.failed(&e);
                } else {
                    self.recovered();
                }
            }
            Err(e) => {
                for (_, reply) in group {
                    let _ = reply.send((Err(e.duplicate()), None));
                }
            }
        }
    }
    /// Reopens the database first if an earlier write failed. While the disk has less than
    /// [`PROBE_FREE_BYTES`] free it does not try (sled's recovery itself writes, so the open
    /// would fail) and keeps the old database for reads.
    fn usable(&mut self) -> Result<(), StoreError> {
        if self.broken {
            if self.shared.sled.read_recovered().is_some() {
                self.enough_space()?;
            }
            self.reopen()?;
        }
        Ok(())
    }

    /// `Err(Full)` when the data directory's disk has less than [`PROBE_FREE_BYTES`] free.
    fn enough_space(&self) -> Result<(), StoreError> {
        let dir = &self.shared.dir;
        let free = fs2::available_space(dir).map_err(|e| StoreError::Io(e).in_dir(dir))?;
        if free < PROBE_FREE_BYTES {
            return Err(StoreError::Storage {
                dir: dir.clone(),
                fault: crate::StorageFault::Full,
                source: std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    format!("{free} bytes free, fewer than {PROBE_FREE_BYTES}"),
                ),
            });
        }
        Ok(())
    }

    /// After a failed write or flush: sled refuses every later write of that database until
    /// it is opened again, and what it holds in memory may be ahead of the disk. So the
    /// database is closed and opened again from disk (now, and if that fails before the
    /// next command), and what the store keeps in memory is rebuilt from it.
    fn failed(&mut self, e: &StoreError) {
        self.shared
            .degraded
            .store(true, std::sync::atomic::Ordering::Release);
        // The callers get the error; the log says what the store does about it.
        tracing::info!(error = %e, "store write failed; reopening the log");
        self.broken = true;
        if e.storage_fault() == Some(crate::StorageFault::Full) {
            // Reopened once there is room again (see `usable`); reads go on meanwhile.
            return;
        }
        if let Err(e) = self.reopen() {
            tracing::info!(error = %e, "reopening the log failed; trying again at the next write");
        }
    }

    fn recovered(&mut self) {
        self.shared
            .degraded
            .store(false, std::sync::atomic::Ordering::Release);
    }

    fn reopen(&mut self) -> Result<(), StoreError> {
        let shared = Arc::clone(&self.shared);
        self.broken = true;
        // Dropping the old database first releases its lock (sled's threads let go of it
        // shortly after; `open_sled` waits for that).
        drop(shared.sled.write_recovered().take());
        let (sled, keys, index, last) = crate::open_log(
            &shared.dir,
            shared.key_memtable_entries,
            shared.blocks_in_files,
        )
        .map_err(|e| e.in_dir(&shared.dir))?;
        self.heads = index
            .heads
            .iter()
            .map(|h| Head {
                version: h.version,
                ..Head::default()
            })
            .collect();
        self.commits_since_checkpoint = 0;
        self.events_since_checkpoint = last.saturating_sub(index.checkpoint_position);
        self.lists = index.lists.clone();
        *shared.keys.write_recovered() = keys;
        *shared.index.write_recovered() = index;
        *shared.sled.write_recovered() = Some(sled);
        if last != shared.last_position() {
            tracing::warn!(
                before = shared.last_position(),
                after = last,
                "the reopened log ends elsewhere than the store believed"
            );
        }
        shared.publish_position(last);
        self.broken = false;
        tracing::info!("log reopened");
        Ok(())
    }

    /// A small durable write, to learn whether writes work again; on a disk with less than
    /// [`PROBE_FREE_BYTES`] free it fails without writing (a few bytes often still fit in
    /// space sled has already claimed, so their write proves little).
    fn probe(&mut self) -> Result<(), StoreError> {
        self.enough_space()?;
        let db = self.shared.db()?;
        let tree = db.open_tree(PROBE_TREE)?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        tree.insert(b"probe", stamp.to_be_bytes().to_vec())?;
        db.flush()?;
        Ok(())
    }

    fn write_group(&mut self, group: Vec<(NewCommit, AppendReply)>) -> Result<(), StoreError> {
        let shared = Arc::clone(&self.shared);
        let (commits, replies): (Vec<NewCommit>, Vec<AppendReply>) = group.into_iter().unzip();
        let (tree, db) = match shared.tree().and_then(|tree| Ok((tree, shared.db()?))) {
            Ok(both) => both,
            Err(e) => {
                // Every caller hears why, not only that the writer went away.
                for reply in replies {
                    let _ = reply.send((Err(e.duplicate()), None));
                }
                return Err(e);
            }
        };
        let index = shared.index.read_recovered();
        let keys = shared.keys.read_recovered();
        self.group_seq += 1;
        debug_assert_eq!(self.heads.len(), index.heads.len());
        let mut st = GroupState::new(tree.clone(), shared.last_position() + 1, index.heads.len());
        let outcomes = self.stage_group(&index, &keys, &mut st, &commits);
        let new_last = st.next_position - 1;
        // A checkpoint too big for the group's batch, written after it.
        let (mut checkpointed, separate_checkpoint) = if st.writes > 0 {
            self.group_checkpoint(&tree, &index, &mut st, new_last)
        } else {
            (false, None)
        };
        drop(keys);

        if st.writes > 0 {
            let batch = std::mem::take(&mut st.batch);
            let heads = &self.heads;
            let separate = separate_checkpoint.map(|plan| {
                let (st, index, tree) = (&st, &index, &tree);
                move || {
                    plan.write(
                        tree,
                        index,
                        |id| st.name(index, id),
                        |id| heads[id as usize].version,
                    )
                }
            });
            // The chunks are durable before the batch that names them.
            let written = tree
                .chunks()
                .append(st.chunk_file_end, &st.chunk_bytes)
                .and_then(|()| write_batch(&tree, &db, batch, separate, &mut checkpointed));
            drop(index);
            if let Err(e) = written {
                for (outcome, reply) in outcomes.into_iter().zip(replies) {
                    let _ = reply.send((outcome.and(Err(e.duplicate())), None));
                }
                return Err(e);
            }
            self.publish(&st, new_last, checkpointed);
        } else {
            drop(index);
        }
        // `st` borrows the commits; each goes back with its answer, for its caller to free.
        drop(st);
        for ((outcome, reply), commit) in outcomes.into_iter().zip(replies).zip(commits) {
            let _ = reply.send((outcome, Some(commit)));
        }
        write_run_if_due(&shared, &tree)
    }

    /// Stages every commit of the group in order, adding the writes of those accepted to
    /// the group's batch; returns each commit's outcome.
    fn stage_group<'g>(
        &mut self,
        index: &StreamIndex,
        keys: &KeyIndex,
        st: &mut GroupState<'g>,
        commits: &'g [NewCommit],
    ) -> Vec<Result<CommitReceipt, StoreError>> {
        let mut outcomes = Vec::with_capacity(commits.len());
        for commit in commits {
            let outcome = self
                .stage(index, keys, st, commit)
                .map(|(receipt, writes, keys)| {
                    // Every write a commit stages is one of its chunks.
                    for (k, v) in writes {
                        if st.tree.in_files() {
                            // The chunk goes to the file; sled keeps where.
                            let offset = st.chunk_file_end + st.chunk_bytes.len() as u64;
                            st.chunk_bytes.extend_from_slice(&v);
                            let len = u32::try_from(v.len()).expect("a chunk is under 4 GiB");
                            st.batch.insert(k, &files::pointer(offset, len)[..]);
                        } else {
                            st.batch.insert(k, v);
                        }
                        st.writes += 1;
                    }
                    st.keys.extend(keys);
                    // Cluster mode: the log sequence applied goes in the same batch.
                    if let Some(seq) = commit.covers {
                        st.batch
                            .insert(layout::COVERED_KEY, layout::covered_value(seq));
                        st.writes += 1;
                    }
                    st.accepted_commits += 1;
                    st.appended_events += receipt.appended as u64;
                    if receipt.appended > 0 {
                        st.next_position = receipt.last_position + 1;
                    }
                    receipt
                });
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Counts the group towards the next checkpoint; when one is due, puts its stream head
    /// entries in the group's batch, or returns its plan when too many for it (written
    /// after the group's batch, a slice at a time). Returns whether the heads are
    /// checkpointed with the group.
    fn group_checkpoint(
        &mut self,
        tree: &sled::Tree,
        index: &StreamIndex,
        st: &mut GroupState<'_>,
        new_last: u64,
    ) -> (bool, Option<CheckpointPlan>) {
        self.commits_since_checkpoint += st.accepted_commits;
        self.events_since_checkpoint += st.appended_events;
        if self.commits_since_checkpoint < CHECKPOINT_EVERY_COMMITS
            && self.events_since_checkpoint < self.shared.checkpoint_every_events
        {
            return (false, None);
        }
        let heads = &self.heads;
        let plan = CheckpointPlan::new(
            index,
            &st.new_chunks,
            heads.len() as u32,
            &mut self.lists,
            new_last,
        );
        if plan.entries() > CHECKPOINT_BATCH_ENTRIES || plan.merges() {
            return (true, Some(plan));
        }
        let writes = plan.all_writes(
            tree,
            index,
            |id| st.name(index, id),
            |id| heads[id as usize].version,
        );
        match writes {
            Ok(entries) => {
                for (k, v) in entries {
                    st.batch.insert(k, v);
                }
                (true, None)
            }
            // The log itself is fine; heads are rebuilt from a longer tail next open.
            Err(e) => {
                tracing::error!(error = %e, "skipping stream head checkpoint");
                (false, None)
            }
        }
    }

    /// Makes a durable group visible to readers.
    fn publish(&mut self, st: &GroupState<'_>, new_last: u64, checkpointed: bool) {
        {
            let mut index = self.shared.index.write_recovered();
            for name in &st.new_names {
                index.add_stream(name, 0);
            }
            debug_assert_eq!(index.heads.len(), self.heads.len());
            for &id in &st.touched {
                index.heads[id as usize].version = self.heads[id as usize].version;
            }
            if checkpointed {
                index.clear_tails();
                index.checkpoint_position = new_last;
                index.checkpoint_streams = index.heads.len() as u32;
            } else {
                for &(id, chunk) in &st.new_chunks {
                    index.push_tail_chunk(id, chunk);
                }
            }
        }
        if !st.key_entries.is_empty() {
            self.shared
                .keys
                .write_recovered()
                .insert(st.key_entries.iter().copied());
        }
        if checkpointed {
            self.commits_since_checkpoint = 0;
            self.events_since_checkpoint = 0;
        }
        self.shared.publish_position(new_last);
    }

    /// Validates one commit against the store plus the group so far and encodes it.
    /// On success the commit's stream effects are already applied to `st` and
    /// `self.heads`; returns its receipt, sled writes and new natural keys.
    #[allow(clippy::type_complexity)]
    fn stage<'g>(
        &mut self,
        index: &StreamIndex,
        keys: &KeyIndex,
        st: &mut GroupState<'g>,
        commit: &'g NewCommit,
    ) -> Result<(CommitReceipt, Vec<KeyValue>, KeysSeen<'g>), StoreError> {
        check_limits(commit)?;
        self.check_expectations(index, st, commit)?;
        // Natural keys: decide which events are kept.
        let mut keep = vec![true; commit.events.len()];
        let mut hashes = vec![0u64; commit.events.len()];
        let (duplicates, commit_keys) = new_keys(keys, st, commit, &mut keep, &mut hashes)?;
        let appended = keep.iter().filter(|k| **k).count();
        if appended == 0 {
            let last = st.next_position - 1;
            let receipt = CommitReceipt {
                first_position: last,
                last_position: last,
                appended: 0,
                duplicates,
            };
            return Ok((receipt, Vec::new(), KeysSeen::default()));
        }

        self.commit_seq += 1;
        let mut undo = Undo {
            touched: st.touched.len(),
            key_entries: st.key_entries.len(),
            new_chunks: st.new_chunks.len(),
            new_names: st.new_names.len(),
            heads: Vec::new(),
        };
        match self.encode(index, st, commit, &keep, &hashes, appended, &mut undo) {
            Ok(writes) => {
                let receipt = CommitReceipt {
                    first_position: st.next_position,
                    last_position: st.next_position + appended as u64 - 1,
                    appended,
                    duplicates,
                };
                // `commit_keys` holds exactly the keys this commit records.
                Ok((receipt, writes, commit_keys))
            }
            Err(e) => {
                self.roll_back(st, undo);
                Err(e)
            }
        }
    }

    /// Checks the versions the commit expects of its streams.
    fn check_expectations(
        &self,
        index: &StreamIndex,
        st: &GroupState<'_>,
        commit: &NewCommit,
    ) -> Result<(), StoreError> {
        for (stream, expected) in &commit.expectations {
            let actual = st
                .lookup(index, stream)
                .map(|id| self.heads[id as usize].version);
            let ok = match expected {
                ExpectedVersion::Any => true,
                ExpectedVersion::NoStream => actual.is_none(),
                ExpectedVersion::Exact(n) => actual.unwrap_or(0) == *n,
            };
            if !ok {
                return Err(StoreError::WrongExpectedVersion {
                    stream: stream.clone(),
                    expected: *expected,
                    actual,
                });
            }
        }
        Ok(())
    }

    /// Rolls back the stream effects of a commit that failed while encoding.
    fn roll_back(&mut self, st: &mut GroupState<'_>, undo: Undo) {
        for (id, head) in undo.heads.into_iter().rev() {
            if let Some(slot) = self.heads.get_mut(id as usize) {
                *slot = head;
            }
        }
        st.touched.truncate(undo.touched);
        st.key_entries.truncate(undo.key_entries);
        st.new_chunks.truncate(undo.new_chunks);
        for name in st.new_names.drain(undo.new_names..) {
            st.new_ids.remove(name);
        }
        self.heads.truncate(st.known as usize + st.new_names.len());
    }

    /// Assigns stream versions to the kept events of a validated commit and encodes its
    /// chunks; every kept event with a natural key records a new one.
    #[allow(clippy::too_many_arguments)]
    fn encode<'g>(
        &mut self,
        index: &StreamIndex,
        st: &mut GroupState<'g>,
        commit: &'g NewCommit,
        keep: &[bool],
        key_hashes: &[u64],
        appended: usize,
        undo: &mut Undo,
    ) -> Result<Vec<KeyValue>, StoreError> {
        let commit_first = st.next_position;
        let commit_last = commit_first + appended as u64 - 1;
        let mut writes = Vec::with_capacity(appended / 16 + 2);
        let mut chunks = Chunks::new(commit_first, commit_last);
        let mut position = commit_first;
        // The last stream resolved: consecutive events of one stream skip the lookup.
        let mut last: Option<(&'g str, u32)> = None;
        for (i, ev) in commit.events.iter().enumerate() {
            if !keep[i] {
                continue;
            }
            let stream = ev.stream.as_str();
            let event_bytes = event_bytes(ev);
            // Close the chunk before it would outgrow the limit (a single bigger event
            // gets a chunk of its own).
            if chunks.full(event_bytes) {
                chunks.close(&mut writes, position)?;
            }
            let id = match last {
                Some((name, id)) if name == stream => id,
                _ => {
                    let id = self.resolve(index, st, stream);
                    last = Some((stream, id));
                    id
                }
            };
            let stream_version = self.advance(st, undo, id, chunks.first);
            chunks
                .chunk
                .push(&event_wire(ev, stream_version))
                .map_err(codec_err)?;
            chunks.bytes += event_bytes;
            if ev.key.is_some() {
                st.key_entries.push((key_hashes[i], position));
            }
            position += 1;
        }
        chunks.finish(&mut writes)?;
        Ok(writes)
    }

    /// Moves stream `id` on by one version for an event in the chunk starting at
    /// `chunk_first`, noting what to undo, publish and checkpoint; returns the new version.
    #[inline]
    fn advance(
        &mut self,
        st: &mut GroupState<'_>,
        undo: &mut Undo,
        id: u32,
        chunk_first: u64,
    ) -> u64 {
        let head = &mut self.heads[id as usize];
        if head.commit_stamp != self.commit_seq {
            undo.heads.push((id, *head));
            head.commit_stamp = self.commit_seq;
        }
        if head.group_stamp != self.group_seq {
            head.group_stamp = self.group_seq;
            st.touched.push(id);
        }
        head.version += 1;
        if head.last_chunk != chunk_first {
            head.last_chunk = chunk_first;
            st.new_chunks.push((id, chunk_first));
        }
        head.version
    }

    /// Id of `stream`, adding it as a stream new in this group if it is unknown.
    fn resolve<'g>(
        &mut self,
        index: &StreamIndex,
        st: &mut GroupState<'g>,
        stream: &'g str,
    ) -> u32 {
        if let Some(id) = st.lookup(index, stream) {
            return id;
        }
        let id = st.known + st.new_names.len() as u32;
        st.new_names.push(stream);
        st.new_ids.insert(stream, id);
        self.heads.push(Head::default());
        id
    }
    /// Checkpoints heads (if anything changed since the last checkpoint) and flushes the db.
    fn checkpoint_and_flush(&mut self) -> Result<(), StoreError> {
        let shared = Arc::clone(&self.shared);
        let tree = shared.tree()?;
        let db = shared.db()?;
        let last = shared.last_position();
        let covered = shared.keys.read_recovered().covered();
        if covered < last {
            // So that the next open re-reads no keys from the log. The log is intact if
            // this fails (the keys are re-read on open): go on to the checkpoint and flush.
            if let Err(e) = KeyIndex::write_run(&shared.keys, &tree, last) {
                tracing::error!(error = %e, "writing the key index's memtable failed");
            }
        }
        let checkpointed = {
            let index = shared.index.read_recovered();
            if index.checkpoint_position == last && index.touched.is_empty() {
                false
            } else {
                let streams = index.heads.len() as u32;
                let plan = CheckpointPlan::new(&index, &[], streams, &mut self.lists, last);
                plan.write(
                    &tree,
                    &index,
                    |id| index.name(id),
                    |id| index.heads[id as usize].version,
                )?;
                true
            }
        };
        db.flush()?;
        if checkpointed {
            {
                let mut index = shared.index.write_recovered();
                index.clear_tails();
                index.checkpoint_position = last;
                index.checkpoint_streams = index.heads.len() as u32;
            }
            self.commits_since_checkpoint = 0;
            self.events_since_checkpoint = 0;
        }
        Ok(())
    }
}

/// Most keys in one checkpoint batch. sled keeps every node version replaced during an
/// `apply_batch` allocated until the batch ends (a few KiB per key), so checkpointing the
/// heads of 100,000 streams in one batch cost hundreds of MiB.
const CHECKPOINT_BATCH_ENTRIES: usize = 4096;

/// Natural keys recorded by the events of a group, or of a commit, so far: found by their
/// key hash (the key index's) without copying them, a second key with a hash already
/// taken kept in `more`.
#[derive(Default)]
struct KeysSeen<'g> {
    first: FastMap<u64, &'g NaturalKey>,
    more: Vec<(u64, &'g NaturalKey)>,
}

impl<'g> KeysSeen<'g> {
    /// The content hash recorded with `key`, whose key hash is `hash`, if it was recorded.
    fn get(&self, hash: u64, key: &NaturalKey) -> Option<u64> {
        let same = |k: &&NaturalKey| k.namespace == key.namespace && k.key == key.key;
        match self.first.get(&hash) {
            None => None,
            Some(k) if same(k) => Some(k.content_hash),
            Some(_) => self
                .more
                .iter()
                .find(|(h, k)| *h == hash && same(k))
                .map(|(_, k)| k.content_hash),
        }
    }

    /// Records `key` (not recorded yet), whose key hash is `hash`.
    fn insert(&mut self, hash: u64, key: &'g NaturalKey) {
        match self.first.entry(hash) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(key);
            }
            std::collections::hash_map::Entry::Occupied(_) => self.more.push((hash, key)),
        }
    }

    /// Records the keys of `other` (none of them recorded here).
    fn extend(&mut self, other: KeysSeen<'g>) {
        for (hash, key) in other.first.into_iter().chain(other.more) {
            self.insert(hash, key);
        }
    }
}

/// Decides which of the commit's events are kept: an event whose natural key is recorded
/// (in the store, the group or the commit) with the same content is a duplicate and is
/// dropped, with another content a conflict. Returns the duplicates and the keys the commit
/// records, and puts each keyed event's key hash in `hashes`.
fn new_keys<'g>(
    keys: &KeyIndex,
    st: &GroupState<'g>,
    commit: &'g NewCommit,
    keep: &mut [bool],
    hashes: &mut [u64],
) -> Result<(usize, KeysSeen<'g>), StoreError> {
    let mut duplicates = 0usize;
    let mut commit_keys = KeysSeen::default();
    for (i, ev) in commit.events.iter().enumerate() {
        let Some(nk) = &ev.key else { continue };
        let hash = keyindex::key_hash(&nk.namespace, &nk.key);
        hashes[i] = hash;
        let existing = match commit_keys.get(hash, nk).or_else(|| st.keys.get(hash, nk)) {
            Some(h) => Some(h),
            None => keys
                .find_hashed(&st.tree, hash, &nk.namespace, &nk.key)?
                .map(|entry| entry.content_hash),
        };
        match existing {
            Some(h) if h == nk.content_hash => {
                keep[i] = false;
                duplicates += 1;
            }
            Some(_) => {
                return Err(StoreError::KeyConflict {
                    namespace: nk.namespace.clone(),
                    key: nk.key.clone(),
                })
            }
            None => commit_keys.insert(hash, nk),
        }
    }
    Ok((duplicates, commit_keys))
}

/// How an event is encoded in its chunk, at `stream_version`.
#[inline]
fn event_wire(ev: &crate::NewEvent, stream_version: u64) -> EventWire<'_> {
    EventWire {
        stream: &ev.stream,
        stream_version,
        event_type: &ev.event_type,
        recorded_at_ms: ev.recorded_at_ms,
        payload: &ev.payload,
        key: ev.key.as_ref().map(|nk| EventKeyWire {
            namespace: &nk.namespace,
            key: &nk.key,
            // Stored only where the payload does not tell it.
            content_hash: (nk.content_hash != payload_hash(&ev.payload)).then_some(nk.content_hash),
        }),
    }
}

/// Upper bound of an event's bytes in a chunk.
#[inline]
fn event_bytes(ev: &crate::NewEvent) -> usize {
    let key_bytes = ev.key.as_ref().map_or(0, |nk| {
        nk.namespace.len() + nk.key.len() + KEY_OVERHEAD_BYTES
    });
    ev.payload.len() + ev.stream.len() + ev.event_type.len() + key_bytes + EVENT_OVERHEAD_BYTES
}

/// The chunk of a commit being filled, and the buffer chunks are encoded into.
struct Chunks {
    chunk: ChunkBuilder,
    commit_first: u64,
    commit_last: u64,
    /// First position of the chunk.
    first: u64,
    /// Upper bound of the chunk's bytes so far.
    bytes: usize,
    encoded: Vec<u8>,
}

impl Chunks {
    fn new(commit_first: u64, commit_last: u64) -> Chunks {
        Chunks {
            chunk: ChunkBuilder::default(),
            commit_first,
            commit_last,
            first: commit_first,
            bytes: 0,
            encoded: Vec::new(),
        }
    }

    /// Whether the chunk is to be closed before an event of `event_bytes` joins it: it
    /// holds the most events a chunk may, or it would outgrow the limit with the event.
    #[inline]
    fn full(&self, event_bytes: usize) -> bool {
        self.chunk.len() >= CHUNK_EVENTS_MAX
            || (!self.chunk.is_empty() && self.bytes + event_bytes > CHUNK_BYTES_MAX)
    }

    /// Encodes the chunk into `writes`; the next one starts at `next_first`.
    fn close(&mut self, writes: &mut Vec<KeyValue>, next_first: u64) -> Result<(), StoreError> {
        self.chunk
            .finish_into(
                self.commit_first,
                self.commit_last,
                self.first,
                &mut self.encoded,
            )
            .map_err(codec_err)?;
        writes.push((
            layout::chunk_key(self.first).to_vec(),
            std::mem::take(&mut self.encoded),
        ));
        self.first = next_first;
        self.bytes = 0;
        Ok(())
    }

    /// Encodes the last chunk, if it holds events, into `writes`.
    fn finish(mut self, writes: &mut Vec<KeyValue>) -> Result<(), StoreError> {
        if !self.chunk.is_empty() {
            let next_first = self.first;
            self.close(writes, next_first)?;
        }
        Ok(())
    }
}

/// Applies the group's batch, then writes the checkpoint too big for it, and flushes.
/// A failed separate checkpoint is no failure of the group: it only clears `checkpointed`.
fn write_batch(
    tree: &sled::Tree,
    db: &sled::Db,
    batch: sled::Batch,
    separate_checkpoint: Option<impl FnOnce() -> Result<(), StoreError>>,
    checkpointed: &mut bool,
) -> Result<(), StoreError> {
    tree.apply_batch(batch)
        .map_err(StoreError::from)
        .and_then(|()| {
            if let Some(write) = separate_checkpoint {
                if let Err(e) = write() {
                    // Heads are rebuilt from a longer tail next open.
                    tracing::error!(error = %e, "stream head checkpoint failed");
                    *checkpointed = false;
                }
            }
            db.flush().map(|_| ()).map_err(StoreError::from)
        })
}

/// A full memtable becomes a run; and however few keys it holds, the keys after the runs
/// are written (or the manifest moved on, if there are none) once they trail the log by
/// `KEY_INDEX_LAG_EVENTS_MAX`, which bounds what open re-reads.
fn write_run_if_due(shared: &Shared, tree: &LogTree) -> Result<(), StoreError> {
    let (memtable, covered) = {
        let keys = shared.keys.read_recovered();
        (keys.memtable_len(), keys.covered())
    };
    let last = shared.last_position();
    if memtable >= shared.key_memtable_entries || last - covered >= KEY_INDEX_LAG_EVENTS_MAX {
        // A failure stops the writer like a failed group: the log is intact, and the
        // keys are re-read from it on the next open.
        KeyIndex::write_run(&shared.keys, tree, last)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer stores a key's content hash only where the payload does not tell it; the
    /// times, stored as distances, come back whole.
    #[test]
    fn a_payload_hash_and_a_shared_time_are_not_stored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::Store::open(dir.path()).expect("open");
        let own = crate::NewEvent::new("acct-1", "Paid", b"p1".to_vec(), 1_796_544_236_322)
            .with_key("receipt", "R-1", payload_hash(b"p1"));
        let other = crate::NewEvent::new("acct-1", "Paid", b"p2".to_vec(), 1_796_544_236_322)
            .with_key("receipt", "R-2", 7);
        let later = crate::NewEvent::new("acct-1", "Paid", b"p3".to_vec(), 1_796_544_236_329);
        store
            .append(NewCommit::new(vec![own, other, later]))
            .expect("append");
        store.flush().expect("flush");
        let tree = store.raw_db().open_tree(layout::LOG_TREE).expect("tree");
        let (key, value) = tree
            .scan_prefix([layout::CHUNK_PREFIX])
            .next()
            .expect("a chunk")
            .expect("read");
        let position = layout::chunk_key_position(&key).expect("a chunk key");
        let log = store.inner.shared.tree().expect("log");
        let mut read = Vec::new();
        let value = log.chunk(position, &value, &mut read).expect("in the file");
        assert_eq!(value[0], crate::codec::CHUNK_FORMAT_VERSION);
        let mut plain = Vec::new();
        let chunk = crate::codec::open_chunk(value, &mut plain).expect("decode");
        let hashes: Vec<_> = chunk
            .events
            .iter()
            .map(|e| e.key.map(|k| k.content_hash))
            .collect();
        assert_eq!(hashes, vec![Some(None), Some(Some(7)), None]);
        let times: Vec<i64> = chunk.events.iter().map(|e| e.recorded_at_ms).collect();
        assert_eq!(
            times,
            vec![1_796_544_236_322, 1_796_544_236_322, 1_796_544_236_329]
        );
    }

    /// Keys are told apart by their text, not by their hash: two keys that share a hash
    /// each keep their own content hash, and a third with that hash is not taken for either.
    #[test]
    fn keys_seen_tell_apart_keys_that_share_a_hash() {
        let key = |namespace: &str, key: &str, content_hash: u64| NaturalKey {
            namespace: namespace.into(),
            key: key.into(),
            content_hash,
        };
        let (a, b, c) = (
            key("bill", "A", 1),
            key("bill", "B", 2),
            key("receipt", "A", 3),
        );
        let mut seen = KeysSeen::default();
        seen.insert(7, &a);
        let mut later = KeysSeen::default();
        later.insert(7, &b);
        later.insert(9, &c);
        seen.extend(later);
        assert_eq!(seen.get(7, &a), Some(1));
        assert_eq!(seen.get(7, &b), Some(2));
        assert_eq!(seen.get(9, &c), Some(3));
        // The same text under another hash, or another text under a hash taken: not seen.
        assert_eq!(seen.get(8, &a), None);
        assert_eq!(seen.get(7, &c), None);
        assert_eq!(seen.get(9, &a), None);
    }
}
