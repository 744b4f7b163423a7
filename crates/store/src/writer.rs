//! The single writer thread: group commit.
//!
//! Owning the write path in one thread makes validation (expected versions, natural
//! keys) race-free without locks around sled, and lets many concurrent callers share one
//! `flush`, which is the dominant cost of a durable append.

use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

use crate::codec::{self, CheckpointWire, ChunkWire, EventWire, KeyWire, StreamWire};
use crate::fasthash::FastMap;
use crate::layout;
use crate::{
    CommitReceipt, ExpectedVersion, NewCommit, Shared, StoreError, StreamIndex,
    CHECKPOINT_EVERY_COMMITS, CHECKPOINT_EVERY_EVENTS, MAX_CHUNK_BYTES, MAX_COMMIT_PAYLOAD_BYTES,
    MAX_EVENTS_PER_CHUNK, MAX_EVENTS_PER_COMMIT, MAX_GROUP_COMMITS, MAX_GROUP_EVENTS,
    MAX_NAME_BYTES, MAX_PAYLOAD_BYTES,
};

/// A sled key and value waiting to go into the group's batch.
type KeyValue = (Vec<u8>, Vec<u8>);

type AppendReply = SyncSender<Result<CommitReceipt, StoreError>>;

/// Requests to the writer thread.
pub(crate) enum Command {
    Append(NewCommit, AppendReply),
    /// Checkpoint heads and flush everything.
    Flush(SyncSender<Result<(), StoreError>>),
    /// Checkpoint, flush and exit.
    Shutdown,
}

/// Fixed per-event overhead counted towards `MAX_CHUNK_BYTES` besides names and payload.
const EVENT_OVERHEAD_BYTES: usize = 16;

pub(crate) fn run(shared: Arc<Shared>, rx: Receiver<Command>) {
    let mut writer = Writer {
        shared,
        commits_since_checkpoint: 0,
        events_since_checkpoint: 0,
    };
    loop {
        let first = match rx.recv() {
            Ok(command) => command,
            Err(_) => break,
        };
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
        while control.is_none()
            && group.len() < MAX_GROUP_COMMITS
            && group_events < MAX_GROUP_EVENTS
        {
            match rx.try_recv() {
                Ok(Command::Append(commit, reply)) => {
                    group_events += commit.events.len();
                    group.push((commit, reply));
                }
                Ok(other) => control = Some(other),
                Err(_) => break,
            }
        }
        if !group.is_empty() {
            if let Err(e) = writer.write_group(group) {
                // After a failed write or flush sled's state is unknown; stop accepting
                // work so callers get `Closed` instead of appends on a broken log.
                tracing::error!(error = %e, "store write failed; writer stopping");
                return;
            }
        }
        match control {
            Some(Command::Flush(reply)) => {
                let _ = reply.send(writer.checkpoint_and_flush());
            }
            Some(Command::Shutdown) => break,
            _ => {}
        }
    }
    if let Err(e) = writer.checkpoint_and_flush() {
        tracing::error!(error = %e, "final store checkpoint failed");
    }
}

struct Writer {
    shared: Arc<Shared>,
    commits_since_checkpoint: u64,
    events_since_checkpoint: u64,
}

/// Effects of the commits accepted so far in the current group, not yet published.
/// Stream names are borrowed from the queued commits, which live until the group is done,
/// so the hot path allocates no per-event strings.
struct GroupState<'g> {
    next_position: u64,
    versions: FastMap<&'g str, u64>,
    /// Natural keys written by earlier commits of the group: sled key -> content hash.
    keys: FastMap<Vec<u8>, u64>,
    /// (stream, chunk first position) for every stream of every new chunk.
    new_chunks: Vec<(&'g str, u64)>,
    batch: sled::Batch,
    writes: usize,
    accepted_commits: u64,
    appended_events: u64,
}

/// A validated commit, encoded but not yet added to the group.
struct Staged<'g> {
    receipt: CommitReceipt,
    writes: Vec<KeyValue>,
    versions: Vec<(&'g str, u64)>,
    keys: Vec<(Vec<u8>, u64)>,
    new_chunks: Vec<(&'g str, u64)>,
}

impl GroupState<'_> {
    fn new(next_position: u64) -> Self {
        GroupState {
            next_position,
            versions: FastMap::default(),
            keys: FastMap::default(),
            new_chunks: Vec::new(),
            batch: sled::Batch::default(),
            writes: 0,
            accepted_commits: 0,
            appended_events: 0,
        }
    }
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
    let name = MAX_NAME_BYTES as u64;
    limit(
        "events per commit",
        MAX_EVENTS_PER_COMMIT as u64,
        commit.events.len() as u64,
    )?;
    let mut total = 0u64;
    for ev in &commit.events {
        limit("stream name bytes", name, ev.stream.len() as u64)?;
        limit("event type bytes", name, ev.event_type.len() as u64)?;
        limit(
            "payload bytes",
            MAX_PAYLOAD_BYTES as u64,
            ev.payload.len() as u64,
        )?;
        if let Some(key) = &ev.key {
            limit("key namespace bytes", name, key.namespace.len() as u64)?;
            limit("key bytes", name, key.key.len() as u64)?;
        }
        total += ev.payload.len() as u64;
    }
    limit("commit payload bytes", MAX_COMMIT_PAYLOAD_BYTES, total)?;
    for (stream, _) in &commit.expectations {
        limit("stream name bytes", name, stream.len() as u64)?;
    }
    Ok(())
}

fn codec_err(e: String) -> StoreError {
    StoreError::Codec(e)
}

impl Writer {
    fn write_group(&mut self, group: Vec<(NewCommit, AppendReply)>) -> Result<(), StoreError> {
        let shared = Arc::clone(&self.shared);
        let (commits, replies): (Vec<NewCommit>, Vec<AppendReply>) = group.into_iter().unzip();
        let index = shared
            .index
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut st = GroupState::new(shared.last_position() + 1);
        let mut outcomes = Vec::with_capacity(commits.len());
        for commit in &commits {
            let outcome = self.stage(&index, &st, commit).map(|staged| {
                let receipt = staged.receipt;
                for (k, v) in staged.writes {
                    st.batch.insert(k, v);
                    st.writes += 1;
                }
                st.versions.extend(staged.versions);
                st.keys.extend(staged.keys);
                st.new_chunks.extend(staged.new_chunks);
                st.accepted_commits += 1;
                st.appended_events += receipt.appended as u64;
                if receipt.appended > 0 {
                    st.next_position = receipt.last_position + 1;
                }
                receipt
            });
            outcomes.push(outcome);
        }
        let new_last = st.next_position - 1;

        let mut checkpointed = false;
        if st.writes > 0 {
            self.commits_since_checkpoint += st.accepted_commits;
            self.events_since_checkpoint += st.appended_events;
            if self.commits_since_checkpoint >= CHECKPOINT_EVERY_COMMITS
                || self.events_since_checkpoint >= CHECKPOINT_EVERY_EVENTS
            {
                match checkpoint_entries(&shared, &index, &st, new_last) {
                    Ok(entries) => {
                        for (k, v) in entries {
                            st.batch.insert(k, v);
                        }
                        checkpointed = true;
                    }
                    // The log itself is fine; heads are rebuilt from a longer tail next open.
                    Err(e) => tracing::error!(error = %e, "skipping stream head checkpoint"),
                }
            }
        }
        drop(index);

        if st.writes > 0 {
            let written = shared
                .tree
                .apply_batch(std::mem::take(&mut st.batch))
                .map_err(StoreError::from)
                .and_then(|()| shared.db.flush().map(|_| ()).map_err(StoreError::from));
            if let Err(e) = written {
                for (outcome, reply) in outcomes.into_iter().zip(replies) {
                    let _ = reply.send(outcome.and(Err(e.duplicate())));
                }
                return Err(e);
            }
            self.publish(&st, new_last, checkpointed);
        }
        for (outcome, reply) in outcomes.into_iter().zip(replies) {
            let _ = reply.send(outcome);
        }
        // `commits` (borrowed by `st`) is freed only now, after every caller was answered.
        drop(st);
        drop(commits);
        Ok(())
    }

    /// Makes a durable group visible to readers.
    fn publish(&mut self, st: &GroupState<'_>, new_last: u64, checkpointed: bool) {
        {
            let mut index = self
                .shared
                .index
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for (stream, version) in &st.versions {
                match index.versions.get_mut(*stream) {
                    Some(v) => *v = *version,
                    None => {
                        index.versions.insert((*stream).to_owned(), *version);
                    }
                }
            }
            if checkpointed {
                index.tail_chunks.clear();
                index.checkpoint_position = new_last;
            } else {
                for (stream, chunk) in &st.new_chunks {
                    let chunks = match index.tail_chunks.get_mut(*stream) {
                        Some(c) => c,
                        None => index.tail_chunks.entry((*stream).to_owned()).or_default(),
                    };
                    if chunks.last() != Some(chunk) {
                        chunks.push(*chunk);
                    }
                }
            }
        }
        if checkpointed {
            self.commits_since_checkpoint = 0;
            self.events_since_checkpoint = 0;
        }
        self.shared.publish_position(new_last);
    }

    /// Validates one commit against the store plus the group so far and encodes it.
    fn stage<'g>(
        &self,
        index: &StreamIndex,
        st: &GroupState<'g>,
        commit: &'g NewCommit,
    ) -> Result<Staged<'g>, StoreError> {
        check_limits(commit)?;
        let current = |stream: &str| -> Option<u64> {
            st.versions
                .get(stream)
                .or_else(|| index.versions.get(stream))
                .copied()
        };
        for (stream, expected) in &commit.expectations {
            let actual = current(stream);
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

        // Natural keys: decide which events are kept.
        let mut keep = vec![true; commit.events.len()];
        let mut duplicates = 0usize;
        let mut commit_keys: FastMap<Vec<u8>, u64> = FastMap::default();
        // (event index, sled key) of keys this commit will record, in event order.
        let mut new_keys: Vec<(usize, Vec<u8>)> = Vec::new();
        for (i, ev) in commit.events.iter().enumerate() {
            let Some(nk) = &ev.key else { continue };
            let k = layout::natural_key(&nk.namespace, &nk.key);
            let existing = match commit_keys.get(&k).or_else(|| st.keys.get(&k)) {
                Some(h) => Some(*h),
                None => match self.shared.tree.get(&k)? {
                    Some(bytes) => {
                        let wire: KeyWire<'_> =
                            codec::open_envelope(&bytes).map_err(|r| StoreError::Corrupt {
                                position: 0,
                                reason: format!("key index entry {}/{}: {r}", nk.namespace, nk.key),
                            })?;
                        Some(wire.content_hash)
                    }
                    None => None,
                },
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
                None => {
                    commit_keys.insert(k.clone(), nk.content_hash);
                    new_keys.push((i, k));
                }
            }
        }
        let appended = keep.iter().filter(|k| **k).count();
        if appended == 0 {
            let last = st.next_position - 1;
            return Ok(Staged {
                receipt: CommitReceipt {
                    first_position: last,
                    last_position: last,
                    appended: 0,
                    duplicates,
                },
                writes: Vec::new(),
                versions: Vec::new(),
                keys: Vec::new(),
                new_chunks: Vec::new(),
            });
        }

        let commit_first = st.next_position;
        let commit_last = commit_first + appended as u64 - 1;
        // Per stream: version so far and the last chunk recorded for it.
        // Sized up front: growing it event by event showed up as rehashing in profiles.
        let mut heads: FastMap<&'g str, (u64, u64)> = FastMap::with_capacity_and_hasher(
            appended.min(MAX_EVENTS_PER_CHUNK),
            Default::default(),
        );
        let mut writes = Vec::new();
        let mut new_chunks = Vec::new();
        let mut key_writes = Vec::with_capacity(new_keys.len());
        let mut new_keys = new_keys.into_iter().peekable();
        let mut chunk = ChunkWire {
            commit_first,
            commit_last,
            first_position: commit_first,
            events: Vec::with_capacity(appended.min(MAX_EVENTS_PER_CHUNK)),
        };
        let mut chunk_bytes = 0usize;
        let mut position = commit_first;
        let mut encoded = Vec::new();
        for (i, ev) in commit.events.iter().enumerate() {
            if !keep[i] {
                continue;
            }
            let head = heads
                .entry(ev.stream.as_str())
                .or_insert_with(|| (current(&ev.stream).unwrap_or(0), 0));
            head.0 += 1;
            if head.1 != chunk.first_position {
                head.1 = chunk.first_position;
                new_chunks.push((ev.stream.as_str(), chunk.first_position));
            }
            chunk.events.push(EventWire {
                stream: &ev.stream,
                stream_version: head.0,
                event_type: &ev.event_type,
                recorded_at_ms: ev.recorded_at_ms,
                payload: &ev.payload,
            });
            chunk_bytes +=
                ev.payload.len() + ev.stream.len() + ev.event_type.len() + EVENT_OVERHEAD_BYTES;
            if new_keys.peek().map(|(idx, _)| *idx) == Some(i) {
                if let Some((_, k)) = new_keys.next() {
                    let value = codec::seal(&KeyWire {
                        content_hash: ev.key.as_ref().map_or(0, |nk| nk.content_hash),
                        stream: &ev.stream,
                        position,
                    })
                    .map_err(codec_err)?;
                    key_writes.push((k, value));
                }
            }
            position += 1;
            if chunk.events.len() >= MAX_EVENTS_PER_CHUNK || chunk_bytes >= MAX_CHUNK_BYTES {
                codec::seal_into(&chunk, &mut encoded).map_err(codec_err)?;
                writes.push((
                    layout::chunk_key(chunk.first_position).to_vec(),
                    std::mem::take(&mut encoded),
                ));
                chunk.first_position = position;
                chunk.events.clear();
                chunk_bytes = 0;
            }
        }
        if !chunk.events.is_empty() {
            codec::seal_into(&chunk, &mut encoded).map_err(codec_err)?;
            writes.push((layout::chunk_key(chunk.first_position).to_vec(), encoded));
        }
        let versions = heads
            .into_iter()
            .map(|(stream, (version, _))| (stream, version))
            .collect();
        // `commit_keys` holds exactly the keys this commit records.
        let keys = commit_keys.into_iter().collect();
        writes.extend(key_writes);
        Ok(Staged {
            receipt: CommitReceipt {
                first_position: commit_first,
                last_position: commit_last,
                appended,
                duplicates,
            },
            writes,
            versions,
            keys,
            new_chunks,
        })
    }

    /// Checkpoints heads (if anything changed since the last checkpoint) and flushes the db.
    fn checkpoint_and_flush(&mut self) -> Result<(), StoreError> {
        let shared = Arc::clone(&self.shared);
        let last = shared.last_position();
        let needs_checkpoint = {
            let index = shared
                .index
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            index.checkpoint_position != last || !index.tail_chunks.is_empty()
        };
        if needs_checkpoint {
            let batch = {
                let index = shared
                    .index
                    .read()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let st = GroupState::new(last + 1);
                let mut batch = sled::Batch::default();
                for (k, v) in checkpoint_entries(&shared, &index, &st, last)? {
                    batch.insert(k, v);
                }
                batch
            };
            shared.tree.apply_batch(batch)?;
            shared.db.flush()?;
            {
                let mut index = shared
                    .index
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                index.tail_chunks.clear();
                index.checkpoint_position = last;
            }
            self.commits_since_checkpoint = 0;
            self.events_since_checkpoint = 0;
        } else {
            shared.db.flush()?;
        }
        Ok(())
    }
}

/// Sled writes for the heads of every stream touched since the last checkpoint
/// (including the pending group `st`) and for the checkpoint marker at `position`.
fn checkpoint_entries(
    shared: &Shared,
    index: &StreamIndex,
    st: &GroupState<'_>,
    position: u64,
) -> Result<Vec<KeyValue>, StoreError> {
    let mut touched: FastMap<&str, Vec<u64>> = FastMap::default();
    for (stream, chunks) in &index.tail_chunks {
        touched
            .entry(stream.as_str())
            .or_default()
            .extend_from_slice(chunks);
    }
    for (stream, chunk) in &st.new_chunks {
        touched.entry(*stream).or_default().push(*chunk);
    }
    let mut out = Vec::with_capacity(touched.len() + 1);
    for (stream, tail) in touched {
        let key = layout::stream_key(stream);
        let mut chunks = match shared.tree.get(&key)? {
            Some(bytes) => {
                let head: StreamWire =
                    codec::open_envelope(&bytes).map_err(|r| StoreError::Corrupt {
                        position: index.checkpoint_position,
                        reason: format!("stream head {stream:?}: {r}"),
                    })?;
                head.chunks
            }
            None => Vec::new(),
        };
        for c in tail {
            if chunks.last().is_none_or(|last| *last < c) {
                chunks.push(c);
            }
        }
        let version = st
            .versions
            .get(stream)
            .or_else(|| index.versions.get(stream))
            .copied()
            .unwrap_or(0);
        out.push((
            key,
            codec::seal(&StreamWire { version, chunks }).map_err(codec_err)?,
        ));
    }
    out.push((
        layout::CHECKPOINT_KEY.to_vec(),
        codec::seal(&CheckpointWire { position }).map_err(codec_err)?,
    ));
    Ok(out)
}
