//! Read paths: rebuilding in-memory heads on open, streaming the global log, and
//! reading one stream through the chunk index.

use std::sync::{Arc, RwLock};

use crate::codec::{self, ChunkWire, EventWire};
use crate::files::LogTree;
use crate::keyindex::{self, KeyIndex};
use crate::layout::{self, CHUNK_END};
use crate::{RecordedEvent, Recover, Shared, StoreError, StreamIndex};

fn corrupt(position: u64, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        position,
        reason: reason.to_string(),
    }
}

/// Decodes a chunk value stored under the key for `position`, checking it claims that position.
/// A compressed chunk is expanded into `plain`, which the events then borrow from.
pub(crate) fn decode_chunk<'a>(
    position: u64,
    bytes: &'a [u8],
    plain: &'a mut Vec<u8>,
) -> Result<ChunkWire<'a>, StoreError> {
    let chunk: ChunkWire<'_> = codec::open_chunk(bytes, plain).map_err(|r| corrupt(position, r))?;
    if chunk.first_position != position {
        return Err(corrupt(
            position,
            format!(
                "chunk stored under position {position} claims first position {}",
                chunk.first_position
            ),
        ));
    }
    if chunk.events.is_empty() {
        return Err(corrupt(position, "empty chunk"));
    }
    Ok(chunk)
}

/// What reading stored chunks one after another reuses: a chunk's bytes read from the
/// chunk file, and a compressed chunk's body expanded.
#[derive(Default)]
pub(crate) struct ChunkBuffers {
    read: Vec<u8>,
    plain: Vec<u8>,
}

/// Decodes the chunk `tree` keeps under `position` as `value` (where it is in the chunk file,
/// or, in older logs, the chunk itself), as [`decode_chunk`] does.
pub(crate) fn stored_chunk<'a>(
    tree: &LogTree,
    position: u64,
    value: &'a [u8],
    buffers: &'a mut ChunkBuffers,
) -> Result<ChunkWire<'a>, StoreError> {
    let bytes = tree.chunk(position, value, &mut buffers.read)?;
    decode_chunk(position, bytes, &mut buffers.plain)
}

fn to_recorded(position: u64, ev: &EventWire<'_>) -> RecordedEvent {
    RecordedEvent {
        position,
        stream: ev.stream.to_owned(),
        stream_version: ev.stream_version,
        event_type: ev.event_type.to_owned(),
        payload: ev.payload.to_vec(),
        recorded_at_ms: ev.recorded_at_ms,
    }
}

/// Loads the checkpoint and replays the log after it (and after the key index's runs,
/// whichever is earlier): returns the heads and the last position, and puts the keys the
/// runs do not hold into `keys`' memtable, writing it as a run whenever it holds
/// `memtable_entries` (a key index rebuilt from the whole log never sits in memory whole).
pub(crate) fn rebuild_index(
    tree: &LogTree,
    keys: &RwLock<KeyIndex>,
    memtable_entries: usize,
) -> Result<(StreamIndex, u64), StoreError> {
    crate::heads::convert_old_heads(tree)?;
    let (checkpoint, streams) = crate::heads::marker(tree)?;
    let streams = streams.ok_or_else(|| corrupt(checkpoint, "stream heads not converted"))?;
    let mut index = crate::heads::load(tree, checkpoint, streams)?;
    let covered = keys.read_recovered().covered();
    let (last, tail_keys) = replay_log(
        tree,
        keys,
        memtable_entries,
        &mut index,
        checkpoint,
        covered,
    )?;
    ends_after(last, checkpoint, covered)?;
    keys.write_recovered().insert(tail_keys);
    Ok((index, last))
}

/// The position the stream heads' checkpoint marker records (0 without one).
fn heads_checkpoint(tree: &sled::Tree) -> Result<u64, StoreError> {
    Ok(crate::heads::marker(tree)?.0)
}

/// Refuses a log that ends before what its heads' checkpoint or its key index recorded it
/// held: events were lost.
fn ends_after(last: u64, checkpoint: u64, covered: u64) -> Result<(), StoreError> {
    if last < checkpoint.max(covered) {
        return Err(corrupt(
            last + 1,
            format!(
                "log ends at {last}, before its checkpoint ({checkpoint}) or key index ({covered})"
            ),
        ));
    }
    Ok(())
}

/// Where the log in `tree` ends, checked as an open for writing checks it against the heads'
/// checkpoint and the key index (see [`last_position`]).
pub(crate) fn checked_last_position(tree: &LogTree) -> Result<u64, StoreError> {
    let last = last_position(tree)?;
    ends_after(
        last,
        heads_checkpoint(tree)?,
        crate::keyindex::covered_on_disk(tree)?,
    )?;
    Ok(last)
}

/// Replays the log after the checkpoint or what the key index covers, whichever is earlier,
/// into `index` and `keys` (see [`rebuild_index`]); returns the last position and the keys
/// read since the memtable last took them.
fn replay_log(
    tree: &LogTree,
    keys: &RwLock<KeyIndex>,
    memtable_entries: usize,
    index: &mut StreamIndex,
    checkpoint: u64,
    covered: u64,
) -> Result<(u64, Vec<(u64, u64)>), StoreError> {
    let from = checkpoint.min(covered);
    let mut last = from;
    let mut tail_keys = Vec::new();
    let mut buffers = ChunkBuffers::default();
    let start = layout::chunk_key(from + 1);
    for item in tree.range(&start[..]..&CHUNK_END[..]) {
        let (key, value) = item?;
        let position = layout::chunk_key_position(&key)
            .ok_or_else(|| corrupt(last + 1, "malformed chunk key"))?;
        if position != last + 1 {
            return Err(corrupt(
                last + 1,
                format!(
                    "log gap on open: expected position {}, found {position}",
                    last + 1
                ),
            ));
        }
        let chunk = stored_chunk(tree, position, &value, &mut buffers)?;
        replay_chunk(index, &mut tail_keys, &chunk, position, checkpoint, covered);
        last = position + chunk.events.len() as u64 - 1;
        if tail_keys.len() >= 4096 {
            let mut index = keys.write_recovered();
            index.insert(tail_keys.drain(..));
            if index.memtable_len() >= memtable_entries {
                drop(index);
                KeyIndex::write_run(keys, tree, last)?;
            }
        }
    }
    Ok((last, tail_keys))
}

/// Where the log in `tree` ends: the last event of its last chunk (0 for an empty log).
pub(crate) fn last_position(tree: &LogTree) -> Result<u64, StoreError> {
    let start = layout::chunk_key(0);
    let Some(item) = tree.range(&start[..]..&CHUNK_END[..]).next_back() else {
        return Ok(0);
    };
    let (key, value) = item?;
    let position =
        layout::chunk_key_position(&key).ok_or_else(|| corrupt(0, "malformed chunk key"))?;
    let mut buffers = ChunkBuffers::default();
    let chunk = stored_chunk(tree, position, &value, &mut buffers)?;
    match chunk.events.len() as u64 {
        0 => Err(corrupt(position, "the last chunk holds no events")),
        n => Ok(position + n - 1),
    }
}

/// Replays one chunk at `position`: its events after the checkpoint move their streams'
/// heads on, and its keyed events after what the key index covers join `tail_keys`.
fn replay_chunk(
    index: &mut StreamIndex,
    tail_keys: &mut Vec<(u64, u64)>,
    chunk: &ChunkWire<'_>,
    position: u64,
    checkpoint: u64,
    covered: u64,
) {
    for (i, ev) in chunk.events.iter().enumerate() {
        let p = position + i as u64;
        if p > covered {
            if let Some(k) = &ev.key {
                tail_keys.push((keyindex::key_hash(k.namespace, k.key), p));
            }
        }
        if p > checkpoint {
            let id = match index.id(ev.stream) {
                Some(id) => {
                    index.heads[id as usize].version = ev.stream_version;
                    id
                }
                None => index.add_stream(ev.stream, ev.stream_version),
            };
            index.push_tail_chunk(id, position);
        }
    }
}

/// Iterator over the global log, see [`crate::Store::read_all`].
pub struct ReadAll {
    /// The log's tree, or why it could not be had (yielded as the first item).
    tree: Result<LogTree, Option<StoreError>>,
    from: u64,
    /// Last position to yield: the durable last position when the iterator was created.
    cap: u64,
    iter: Option<sled::Iter>,
    buffered: std::vec::IntoIter<RecordedEvent>,
    /// Position the next chunk must start at; catches gaps while streaming.
    expected_next: Option<u64>,
    done: bool,
    /// Reused from chunk to chunk.
    buffers: ChunkBuffers,
}

impl ReadAll {
    pub(crate) fn new(shared: &Arc<Shared>, from_position: u64) -> ReadAll {
        let from = from_position.max(1);
        let cap = shared.last_position();
        ReadAll {
            tree: shared.tree().map_err(Some),
            from,
            cap,
            iter: None,
            buffered: Vec::new().into_iter(),
            expected_next: None,
            done: from > cap,
            buffers: ChunkBuffers::default(),
        }
    }

    /// Decodes the next chunk into `buffered`; `Ok(false)` at the end.
    fn load_next_chunk(&mut self) -> Result<bool, StoreError> {
        let tree = match &mut self.tree {
            Ok(tree) => tree,
            Err(e) => return e.take().map_or(Ok(false), Err),
        };
        if self.iter.is_none() {
            // Start at the chunk containing `from`: the last chunk key <= from.
            let start = match tree
                .range(layout::chunk_key(0)..=layout::chunk_key(self.from))
                .next_back()
            {
                Some(item) => item?.0.to_vec(),
                None => layout::chunk_key(0).to_vec(),
            };
            self.iter = Some(tree.range(&start[..]..&CHUNK_END[..]));
        }
        let Some(iter) = self.iter.as_mut() else {
            return Ok(false);
        };
        let Some(item) = iter.next() else {
            return Ok(false);
        };
        let (key, value) = item?;
        let expected = self.expected_next.unwrap_or(self.from);
        let position = layout::chunk_key_position(&key)
            .ok_or_else(|| corrupt(expected, "malformed chunk key"))?;
        if position > self.cap {
            return Ok(false);
        }
        if let Some(next) = self.expected_next {
            if position != next {
                return Err(corrupt(
                    next,
                    format!("log gap: expected position {next}, found {position}"),
                ));
            }
        }
        let chunk = stored_chunk(tree, position, &value, &mut self.buffers)?;
        let mut out = Vec::with_capacity(chunk.events.len());
        for (i, ev) in chunk.events.iter().enumerate() {
            let p = position + i as u64;
            if p >= self.from && p <= self.cap {
                out.push(to_recorded(p, ev));
            }
        }
        self.expected_next = Some(position + chunk.events.len() as u64);
        self.buffered = out.into_iter();
        Ok(true)
    }
}

impl Iterator for ReadAll {
    type Item = Result<RecordedEvent, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(ev) = self.buffered.next() {
                return Some(Ok(ev));
            }
            if self.done {
                return None;
            }
            match self.load_next_chunk() {
                Ok(true) => continue,
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    // Fused after an error: the caller decides whether to resume elsewhere.
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Reads every event of `stream`, visiting only the chunks known to contain it.
pub(crate) fn read_stream(shared: &Shared, stream: &str) -> Result<Vec<RecordedEvent>, StoreError> {
    let tree = shared.tree()?;
    let (mut chunks, cap) = {
        // Both sources are read under the lock so a concurrent checkpoint cannot make
        // chunks vanish between them; duplicates from overlap are removed below.
        let index = shared.index.read_recovered();
        let cap = shared.last_position();
        let mut chunks = Vec::new();
        if let Some(id) = index.id(stream) {
            chunks = crate::heads::chunks_of(&tree, id, index.checkpoint_position)?;
            chunks.extend_from_slice(&index.heads[id as usize].tail_chunks);
        }
        (chunks, cap)
    };
    chunks.sort_unstable();
    chunks.dedup();
    let mut out = Vec::new();
    let mut buffers = ChunkBuffers::default();
    for position in chunks.into_iter().filter(|p| *p <= cap) {
        let bytes = tree
            .get(layout::chunk_key(position))?
            .ok_or_else(|| corrupt(position, format!("chunk of stream {stream:?} missing")))?;
        let chunk = stored_chunk(&tree, position, &bytes, &mut buffers)?;
        for (i, ev) in chunk.events.iter().enumerate() {
            let p = position + i as u64;
            if ev.stream == stream && p <= cap {
                out.push(to_recorded(p, ev));
            }
        }
    }
    Ok(out)
}
