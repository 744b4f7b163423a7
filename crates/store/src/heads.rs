//! The stream heads on disk: each stream's version and the chunks holding its events, kept
//! in blocks of [`BLOCK_STREAMS`] streams so that a checkpoint covering millions of streams
//! writes thousands of sled entries rather than millions.
//!
//! Streams are numbered in the order they first appear in the log (in a log converted from
//! the older layout, the streams it held then come first, in the order of their names), and
//! stream `id` lives in block `id / BLOCK_STREAMS`:
//!
//! - `N` + block: the block's names (written when the block gains a stream);
//! - `H` + block: the block's versions, and how many checkpoints added an `L` entry to it
//!   since its entries were last merged;
//! - `L` + block + checkpoint position + part: the chunks each stream of the block touched
//!   got from that checkpoint (the chunks since the one before), in parts of at most about
//!   [`LIST_PART_BYTES`]. Once more than [`LISTS_MAX`] checkpoints added one, the next merges
//!   the block's small entries into one.
//! - `Mheads`: the position the heads are exact as of, and how many streams they hold.
//!
//! A checkpoint writes its blocks in batches of about [`BATCH_ENTRIES`], then the marker. A crash in between
//! leaves some blocks newer than the marker, which is harmless: opening reads the first
//! `streams` names and versions the marker gives and replays the log after its position,
//! which sets each version from the events and lists the chunks again; chunk lists are
//! merged and deduplicated when read, and `read_stream` keeps only its stream's events.
//!
//! Logs written before head blocks hold a `S` entry per stream and an `Mcheckpoint` marker;
//! [`convert_old_heads`] rewrites them as blocks when such a log is opened for writing.

use std::collections::BTreeMap;

use crate::codec::{
    self, CheckpointWire, HeadBlockWire, HeadsWire, ListBlockWire, ListWire, NameBlockWire,
    StreamWire,
};
use crate::fasthash::FastMap;
use crate::layout::{self, HEAD_BLOCK_PREFIX, LIST_PREFIX, NAME_BLOCK_PREFIX};
use crate::{StoreError, StreamIndex};

/// Streams in one block.
pub(crate) const BLOCK_STREAMS: u32 = 128;

/// `L` entries a block may have before a checkpoint merges them into one.
pub(crate) const LISTS_MAX: u32 = 8;

/// Most entries one batch of a checkpoint writes (sled keeps every node version replaced
/// during a batch until it ends), as the writer's group batch holds at most
/// `CHECKPOINT_BATCH_ENTRIES` of them; a block's entries are never split between batches.
const BATCH_ENTRIES: usize = 4096;

/// Bytes a chunk takes in a stored list at most (a gap of up to 2^32 positions).
const LIST_BYTES_PER_CHUNK: usize = 5;

/// Most bytes of chunk lists in one `L` entry: a block's lists are split into parts of
/// about this size, so that a leaf of sled's tree (up to 17 values) stays far below the
/// size at which sled stores it as a file of its own (as the log's chunks do).
const LIST_PART_BYTES: usize = 4096;

/// An `L` entry at least this big is not merged again: merging is for the small entries
/// each checkpoint adds, and a block's history settles into parts of about
/// [`LIST_PART_BYTES`].
const LIST_SETTLED_BYTES: usize = LIST_PART_BYTES / 2;

type KeyValue = (Vec<u8>, Vec<u8>);

fn corrupt(position: u64, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        position,
        reason: reason.to_string(),
    }
}

fn codec_err(e: codec::CodecError) -> StoreError {
    StoreError::Codec(e)
}

/// Blocks holding `streams` streams.
pub(crate) fn blocks_for(streams: u64) -> u32 {
    streams.div_ceil(u64::from(BLOCK_STREAMS)) as u32
}

/// A stream's chunk list as stored: the first position, then the gaps.
pub(crate) fn list_wire(slot: u32, chunks: &[u64]) -> Option<ListWire> {
    let (&first, rest) = chunks.split_first()?;
    let mut previous = first;
    let gaps = rest
        .iter()
        .map(|&c| {
            let gap = c - previous;
            previous = c;
            gap
        })
        .collect();
    Some(ListWire { slot, first, gaps })
}

/// The chunk positions a stored list holds; `None` if they overflow.
pub(crate) fn list_chunks(list: &ListWire) -> Option<Vec<u64>> {
    let mut out = Vec::with_capacity(list.gaps.len() + 1);
    let mut at = list.first;
    out.push(at);
    for gap in &list.gaps {
        at = at.checked_add(*gap)?;
        out.push(at);
    }
    Some(out)
}

/// A block's chunk lists (by slot, each ascending without repeats) as `L` entries of about
/// [`LIST_PART_BYTES`] each; a long list continues in the next part.
fn list_parts(lists: &BTreeMap<u32, Vec<u64>>) -> Vec<ListBlockWire> {
    let mut parts = Vec::new();
    let mut part = ListBlockWire {
        streams: Vec::new(),
    };
    let mut bytes = 0;
    for (&slot, chunks) in lists {
        let mut rest = chunks.as_slice();
        while !rest.is_empty() {
            // A stream's list costs its slot, first chunk and count, then a gap per chunk.
            let mut size = codec::varint_len(u64::from(slot)) + codec::varint_len(rest[0]) + 5;
            let mut take = 1;
            while take < rest.len() && bytes + size < LIST_PART_BYTES {
                size += codec::varint_len(rest[take] - rest[take - 1]);
                take += 1;
            }
            part.streams.extend(list_wire(slot, &rest[..take]));
            bytes += size;
            rest = &rest[take..];
            if bytes >= LIST_PART_BYTES {
                parts.push(std::mem::replace(
                    &mut part,
                    ListBlockWire {
                        streams: Vec::new(),
                    },
                ));
                bytes = 0;
            }
        }
    }
    if !part.streams.is_empty() {
        parts.push(part);
    }
    parts
}

/// Part `part` of a block's chunk lists as its key numbers it: a block whose lists fill
/// more than 65,535 parts (256 MiB) is refused rather than written over itself.
fn part_number(part: usize, block: u32) -> Result<u16, StoreError> {
    u16::try_from(part).map_err(|_| {
        StoreError::Codec(codec::CodecError::Encode(format!(
            "the chunk lists of stream block {block} fill more than 65,535 parts"
        )))
    })
}

/// Streams `block * BLOCK_STREAMS ..` of `streams`, as many as the block holds.
pub(crate) fn block_count(block: u32, streams: u64) -> usize {
    let start = u64::from(block) * u64::from(BLOCK_STREAMS);
    (streams - start).min(u64::from(BLOCK_STREAMS)) as usize
}

/// Reads block `block`'s names and versions, handing the first `count` streams' to
/// `stream` in order; returns the block's count of `L` entries. The inner error says what is
/// wrong with the block (missing, damaged, too short) or what `stream` refused.
pub(crate) fn visit_block(
    tree: &sled::Tree,
    block: u32,
    count: usize,
    mut stream: impl FnMut(&str, u64) -> Result<(), String>,
) -> Result<Result<u32, String>, StoreError> {
    let Some(names) = tree.get(layout::block_key(NAME_BLOCK_PREFIX, block))? else {
        return Ok(Err(format!("stream names of block {block} missing")));
    };
    let Some(head) = tree.get(layout::block_key(HEAD_BLOCK_PREFIX, block))? else {
        return Ok(Err(format!("stream versions of block {block} missing")));
    };
    let names = match codec::open_envelope::<NameBlockWire<'_>>(&names) {
        Ok(n) => n.names,
        Err(r) => return Ok(Err(format!("stream names of block {block}: {r}"))),
    };
    let head = match codec::open_envelope::<HeadBlockWire>(&head) {
        Ok(h) => h,
        Err(r) => return Ok(Err(format!("stream versions of block {block}: {r}"))),
    };
    if names.len() < count || head.versions.len() < count {
        return Ok(Err(format!(
            "block {block} holds fewer than its {count} streams"
        )));
    }
    for (name, version) in names.iter().zip(&head.versions).take(count) {
        if let Err(r) = stream(name, *version) {
            return Ok(Err(r));
        }
    }
    Ok(Ok(head.lists))
}

/// The chunk lists of one `L` entry of block `block`, by slot; the error says what is wrong
/// with it.
pub(crate) fn decode_lists(block: u32, value: &[u8]) -> Result<Vec<(u32, Vec<u64>)>, String> {
    let lists: ListBlockWire =
        codec::open_envelope(value).map_err(|r| format!("chunk lists of block {block}: {r}"))?;
    lists
        .streams
        .iter()
        .map(|list| {
            list_chunks(list)
                .map(|chunks| (list.slot, chunks))
                .ok_or_else(|| format!("chunk list of block {block} overflows"))
        })
        .collect()
}

/// Appends block `block`'s entries for a checkpoint at `position`: its chunk `lists` (by
/// slot, each ascending without repeats) in parts, its versions and count of `L` entries,
/// and its names when given.
fn block_entries(
    block: u32,
    position: u64,
    lists: &BTreeMap<u32, Vec<u64>>,
    head: &HeadBlockWire,
    names: Option<Vec<&str>>,
    out: &mut Vec<KeyValue>,
) -> Result<(), StoreError> {
    for (part, lists) in list_parts(lists).iter().enumerate() {
        let key = layout::list_key(block, position, part_number(part, block)?);
        out.push((key.to_vec(), codec::seal(lists).map_err(codec_err)?));
    }
    let value = codec::seal(head).map_err(codec_err)?;
    out.push((layout::block_key(HEAD_BLOCK_PREFIX, block).to_vec(), value));
    if let Some(names) = names {
        let value = codec::seal(&NameBlockWire { names }).map_err(codec_err)?;
        out.push((layout::block_key(NAME_BLOCK_PREFIX, block).to_vec(), value));
    }
    Ok(())
}

/// The heads' marker, in either layout: the position the heads are exact as of and, for
/// head blocks, how many streams they hold (`None` for a log still in `S` entries).
pub(crate) fn marker(tree: &sled::Tree) -> Result<(u64, Option<u64>), StoreError> {
    if let Some(bytes) = tree.get(layout::HEADS_KEY)? {
        let m: HeadsWire = codec::open_envelope(&bytes)
            .map_err(|r| corrupt(0, format!("stream heads' marker: {r}")))?;
        return Ok((m.position, Some(m.streams)));
    }
    Ok(match tree.get(layout::CHECKPOINT_KEY)? {
        Some(bytes) => {
            let cp: CheckpointWire = codec::open_envelope(&bytes)
                .map_err(|r| corrupt(0, format!("checkpoint marker: {r}")))?;
            (cp.position, None)
        }
        None => (0, Some(0)),
    })
}

/// Reads the heads the marker describes into a fresh index: streams `0..streams` with
/// their names and versions, and each block's count of `L` entries.
pub(crate) fn load(
    tree: &sled::Tree,
    position: u64,
    streams: u64,
) -> Result<StreamIndex, StoreError> {
    let mut index = StreamIndex {
        checkpoint_position: position,
        checkpoint_streams: streams as u32,
        ..StreamIndex::default()
    };
    for block in 0..blocks_for(streams) {
        let lists = visit_block(tree, block, block_count(block, streams), |name, version| {
            if index.id(name).is_some() {
                return Err(format!("stream {name:?} named twice"));
            }
            index.add_stream(name, version);
            Ok(())
        })?
        .map_err(|r| corrupt(position, r))?;
        index.lists.push(lists);
    }
    Ok(index)
}

/// The chunks the `L` entries list for stream `id` (ascending, without repeats).
pub(crate) fn chunks_of(tree: &sled::Tree, id: u32, position: u64) -> Result<Vec<u64>, StoreError> {
    let (block, slot) = (id / BLOCK_STREAMS, id % BLOCK_STREAMS);
    let mut chunks = Vec::new();
    for item in tree.scan_prefix(layout::block_key(LIST_PREFIX, block)) {
        let (_, value) = item?;
        let lists = decode_lists(block, &value).map_err(|r| corrupt(position, r))?;
        for (_, listed) in lists.into_iter().filter(|(s, _)| *s == slot) {
            chunks.extend(listed);
        }
    }
    chunks.sort_unstable();
    chunks.dedup();
    Ok(chunks)
}

/// The stream heads a checkpoint writes: the blocks holding a stream touched since the last
/// checkpoint (the index's tail lists plus a pending group's `new_chunks`) or a stream not
/// yet named on disk, and the marker.
///
/// What it holds is the touched ids and one slice of blocks, however many streams it covers.
pub(crate) struct CheckpointPlan {
    /// Touched stream ids, ascending.
    ids: Vec<u32>,
    /// Chunks a pending group adds, by stream id (ascending first positions).
    group_chunks: FastMap<u32, Vec<u64>>,
    /// The blocks written, ascending: block number, its count of `L` entries after the
    /// checkpoint, and whether the checkpoint merges them.
    blocks: Vec<(u32, u32, bool)>,
    /// Streams the heads hold after the checkpoint (a pending group's new ones included).
    streams: u32,
    /// Streams whose names are on disk already.
    named: u32,
    /// The chunks listed for the touched streams, in all.
    chunks: usize,
    position: u64,
}

impl CheckpointPlan {
    /// Plans the checkpoint at `position` of `streams` streams; `lists` holds each block's
    /// count of `L` entries and is brought up to date (it only tells when to merge, so a
    /// checkpoint that then fails leaves it harmlessly off).
    pub(crate) fn new(
        index: &StreamIndex,
        new_chunks: &[(u32, u64)],
        streams: u32,
        lists: &mut Vec<u32>,
        position: u64,
    ) -> CheckpointPlan {
        let mut ids = index.touched.clone();
        let mut chunks: usize = ids
            .iter()
            .filter_map(|&id| index.heads.get(id as usize))
            .map(|h| h.tail_chunks.len())
            .sum();
        chunks += new_chunks.len();
        let mut group_chunks: FastMap<u32, Vec<u64>> = FastMap::default();
        for &(id, chunk) in new_chunks {
            let list = group_chunks.entry(id).or_default();
            let tail = index.heads.get(id as usize).map(|h| &h.tail_chunks);
            if list.is_empty() && tail.is_none_or(|t| t.is_empty()) {
                ids.push(id);
            }
            list.push(chunk);
        }
        ids.sort_unstable();
        let named = index.checkpoint_streams.min(streams);
        let mut touched_blocks: Vec<u32> = ids.iter().map(|id| id / BLOCK_STREAMS).collect();
        touched_blocks.dedup();
        // Blocks with a stream not yet named on disk.
        let unnamed = named / BLOCK_STREAMS..blocks_for(u64::from(streams));
        let mut block_numbers: Vec<u32> = touched_blocks.iter().copied().chain(unnamed).collect();
        block_numbers.sort_unstable();
        block_numbers.dedup();
        if lists.len() < blocks_for(u64::from(streams)) as usize {
            lists.resize(blocks_for(u64::from(streams)) as usize, 0);
        }
        let blocks = block_numbers
            .into_iter()
            .map(|b| {
                let count = &mut lists[b as usize];
                let merge = touched_blocks.binary_search(&b).is_ok() && {
                    *count += 1;
                    *count > LISTS_MAX
                };
                if merge {
                    *count = 1;
                }
                (b, *count, merge)
            })
            .collect();
        CheckpointPlan {
            ids,
            group_chunks,
            blocks,
            streams,
            named,
            chunks,
            position,
        }
    }

    /// Most sled writes of the checkpoint, about: a block's `H` and `N`, the parts of the
    /// lists it adds, and the marker.
    pub(crate) fn entries(&self) -> usize {
        let parts = (self.chunks * LIST_BYTES_PER_CHUNK).div_ceil(LIST_PART_BYTES);
        self.blocks.len() * 3 + parts + 1
    }

    /// Whether the checkpoint merges some block's `L` entries (it then removes the merged
    /// ones after writing the rest, so it cannot go in a group's batch).
    pub(crate) fn merges(&self) -> bool {
        self.blocks.iter().any(|b| b.2)
    }

    /// The chunks stream `id` got since the last checkpoint, ascending.
    fn tail(&self, index: &StreamIndex, id: u32) -> Vec<u64> {
        let tail = index
            .heads
            .get(id as usize)
            .map(|h| h.tail_chunks.as_slice());
        let group = self.group_chunks.get(&id).map(Vec::as_slice);
        let mut chunks: Vec<u64> = Vec::new();
        for &c in tail
            .unwrap_or_default()
            .iter()
            .chain(group.unwrap_or_default())
        {
            if chunks.last().is_none_or(|last| *last < c) {
                chunks.push(c);
            }
        }
        chunks
    }

    /// Appends the writes of `blocks` to `out`, and the `L` entries their merges replace to
    /// `removals`. `name` and `version` give a stream id's name and current version.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn block_writes<'a>(
        &self,
        tree: &sled::Tree,
        index: &StreamIndex,
        blocks: &[(u32, u32, bool)],
        name: impl Fn(u32) -> &'a str,
        version: impl Fn(u32) -> u64,
        out: &mut Vec<KeyValue>,
        removals: &mut Vec<Vec<u8>>,
    ) -> Result<(), StoreError> {
        for &(block, count, merge) in blocks {
            let start = block * BLOCK_STREAMS;
            let end = (start + BLOCK_STREAMS).min(self.streams);
            let from = self.ids.partition_point(|id| *id < start);
            let to = self.ids.partition_point(|id| *id < end);
            let mut lists: BTreeMap<u32, Vec<u64>> = self.ids[from..to]
                .iter()
                .map(|&id| (id - start, self.tail(index, id)))
                .collect();
            let mut merged = Vec::new();
            if merge {
                for item in tree.scan_prefix(layout::block_key(LIST_PREFIX, block)) {
                    let (old_key, value) = item?;
                    if value.len() >= LIST_SETTLED_BYTES {
                        continue;
                    }
                    let old = decode_lists(block, &value).map_err(|r| corrupt(self.position, r))?;
                    for (slot, chunks) in old {
                        lists.entry(slot).or_default().extend(chunks);
                    }
                    merged.push(old_key.to_vec());
                }
            }
            for chunks in lists.values_mut() {
                chunks.sort_unstable();
                chunks.dedup();
            }
            let head = HeadBlockWire {
                versions: (start..end).map(&version).collect(),
                lists: count,
            };
            let names = (end > self.named).then(|| (start..end).map(&name).collect());
            let written = out.len();
            block_entries(block, self.position, &lists, &head, names, out)?;
            // An entry merged here and written again under the same key stays.
            merged.retain(|k| out[written..].iter().all(|(key, _)| key != k));
            removals.extend(merged);
        }
        Ok(())
    }

    /// Every write of the checkpoint, for a group's batch (only when it [`merges`] nothing).
    ///
    /// [`merges`]: CheckpointPlan::merges
    pub(crate) fn all_writes<'a>(
        &self,
        tree: &sled::Tree,
        index: &StreamIndex,
        name: impl Fn(u32) -> &'a str,
        version: impl Fn(u32) -> u64,
    ) -> Result<Vec<KeyValue>, StoreError> {
        let mut out = Vec::with_capacity(self.entries());
        let mut removals = Vec::new();
        self.block_writes(
            tree,
            index,
            &self.blocks,
            name,
            version,
            &mut out,
            &mut removals,
        )?;
        debug_assert!(
            removals.is_empty(),
            "a plan that merges is written on its own"
        );
        out.push(self.marker()?);
        Ok(out)
    }

    /// The marker, written after every block.
    pub(crate) fn marker(&self) -> Result<KeyValue, StoreError> {
        let value = codec::seal(&HeadsWire {
            position: self.position,
            streams: u64::from(self.streams),
        })
        .map_err(codec_err)?;
        Ok((layout::HEADS_KEY.to_vec(), value))
    }

    /// Writes the blocks a slice at a time, then the marker, then removes the `L` entries
    /// merged into others (only once the entries holding their chunks are written, so that
    /// a reader never finds a block's lists missing).
    pub(crate) fn write<'a>(
        &self,
        tree: &sled::Tree,
        index: &StreamIndex,
        name: impl Fn(u32) -> &'a str + Copy,
        version: impl Fn(u32) -> u64 + Copy,
    ) -> Result<(), StoreError> {
        let mut entries = Vec::new();
        let mut removals = Vec::new();
        for (i, block) in self.blocks.iter().enumerate() {
            let block = std::slice::from_ref(block);
            self.block_writes(
                tree,
                index,
                block,
                name,
                version,
                &mut entries,
                &mut removals,
            )?;
            if entries.len() >= BATCH_ENTRIES || i + 1 == self.blocks.len() {
                let mut batch = sled::Batch::default();
                for (k, v) in entries.drain(..) {
                    batch.insert(k, v);
                }
                tree.apply_batch(batch)?;
            }
        }
        let (k, v) = self.marker()?;
        tree.insert(k, v)?;
        // The checkpoint holds from here: entries left by a failed removal only list chunks
        // twice (a later checkpoint at the same position must not think it failed, and
        // write over the merged entries when their sources are partly gone).
        if let Err(e) = layout::apply_in_batches(tree, removals, BATCH_ENTRIES, |batch, key| {
            batch.remove(key)
        }) {
            tracing::warn!(error = %e, "removing merged chunk lists failed; they stay");
        }
        Ok(())
    }
}

/// Rewrites the heads of a log written before head blocks (a `S` entry per stream, the
/// `Mcheckpoint` marker) as blocks, streams numbered in the order of their names, then
/// removes the old entries. Idempotent: a crash part-way leaves the old marker, and the
/// next open converts again; a crash after the new marker leaves old entries, removed then.
pub(crate) fn convert_old_heads(tree: &sled::Tree) -> Result<(), StoreError> {
    let has_old = tree.scan_prefix([layout::STREAM_PREFIX]).next().is_some()
        || tree.get(layout::CHECKPOINT_KEY)?.is_some();
    if !has_old {
        return Ok(());
    }
    if tree.get(layout::HEADS_KEY)?.is_none() {
        let (position, _) = marker(tree)?;
        let mut streams = 0u64;
        let mut block = Block::default();
        let mut writes: Vec<KeyValue> = Vec::new();
        for item in tree.scan_prefix([layout::STREAM_PREFIX]) {
            let (key, value) = item?;
            let name = std::str::from_utf8(&key[1..])
                .map_err(|_| corrupt(position, "stream head key is not UTF-8"))?;
            let head: StreamWire = codec::open_envelope(&value)
                .map_err(|r| corrupt(position, format!("stream head {name:?}: {r}")))?;
            let mut chunks = head.chunks;
            chunks.sort_unstable();
            chunks.dedup();
            block.push(name, head.version, &chunks);
            streams += 1;
            if block.names.len() == BLOCK_STREAMS as usize {
                block.take_writes(blocks_for(streams) - 1, position, &mut writes)?;
                if writes.len() >= BATCH_ENTRIES {
                    layout::apply_in_batches(
                        tree,
                        writes.drain(..),
                        BATCH_ENTRIES,
                        |b, (k, v)| b.insert(k, v),
                    )?;
                }
            }
        }
        if !block.names.is_empty() {
            block.take_writes(blocks_for(streams) - 1, position, &mut writes)?;
        }
        layout::apply_in_batches(tree, writes, BATCH_ENTRIES, |b, (k, v)| b.insert(k, v))?;
        let value = codec::seal(&HeadsWire { position, streams }).map_err(codec_err)?;
        tree.insert(layout::HEADS_KEY, value)?;
    }
    // The old entries go a slice at a time, never all their keys in memory at once.
    loop {
        let old: Vec<sled::IVec> = tree
            .scan_prefix([layout::STREAM_PREFIX])
            .keys()
            .take(4096)
            .collect::<Result<_, _>>()?;
        if old.is_empty() {
            break;
        }
        layout::apply_in_batches(tree, old, 4096, |batch, key| batch.remove(key))?;
    }
    tree.remove(layout::CHECKPOINT_KEY)?;
    Ok(())
}

/// One block being converted from `S` entries.
#[derive(Default)]
struct Block {
    names: Vec<String>,
    versions: Vec<u64>,
    lists: BTreeMap<u32, Vec<u64>>,
}

impl Block {
    fn push(&mut self, name: &str, version: u64, chunks: &[u64]) {
        let slot = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.versions.push(version);
        if !chunks.is_empty() {
            self.lists.insert(slot, chunks.to_vec());
        }
    }

    /// Adds the block's writes as block `number` of a checkpoint at `position`, and empties it.
    fn take_writes(
        &mut self,
        number: u32,
        position: u64,
        out: &mut Vec<KeyValue>,
    ) -> Result<(), StoreError> {
        let block = std::mem::take(self);
        let head = HeadBlockWire {
            versions: block.versions,
            lists: u32::from(!block.lists.is_empty()),
        };
        let names = block.names.iter().map(String::as_str).collect();
        block_entries(number, position, &block.lists, &head, Some(names), out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewCommit, NewEvent, Store};

    /// Rewrites a store's head blocks in the older layout: a `S` entry per stream with its
    /// version and whole chunk list, and the `Mcheckpoint` marker.
    fn to_old_layout(tree: &sled::Tree) {
        let (position, streams) = marker(tree).expect("marker");
        let index = load(tree, position, streams.expect("head blocks")).expect("load");
        for (id, head) in index.heads.iter().enumerate() {
            let name = index.name(id as u32);
            let chunks = chunks_of(tree, id as u32, position).expect("chunks");
            let mut key = vec![layout::STREAM_PREFIX];
            key.extend_from_slice(name.as_bytes());
            let value = codec::seal(&StreamWire {
                version: head.version,
                chunks,
            })
            .expect("seal");
            tree.insert(key, value).expect("insert");
        }
        for prefix in [HEAD_BLOCK_PREFIX, NAME_BLOCK_PREFIX, LIST_PREFIX] {
            for key in tree.scan_prefix([prefix]).keys() {
                tree.remove(key.expect("key")).expect("remove");
            }
        }
        tree.remove(layout::HEADS_KEY).expect("remove");
        let value = codec::seal(&CheckpointWire { position }).expect("seal");
        tree.insert(layout::CHECKPOINT_KEY, value).expect("insert");
    }

    fn append(store: &Store, events: std::ops::Range<u64>, streams: u64) {
        let batch = events
            .map(|i| {
                NewEvent::new(
                    format!("s{}", i % streams),
                    "T",
                    i.to_le_bytes().to_vec(),
                    0,
                )
            })
            .collect();
        store.append(NewCommit::new(batch)).expect("append");
    }

    /// The payloads of stream `s{k}`'s events.
    fn events_of(store: &Store, k: u64) -> Vec<u64> {
        let events = store.read_stream(&format!("s{k}")).expect("read");
        events
            .iter()
            .enumerate()
            .map(|(v, e)| {
                assert_eq!(e.stream_version, v as u64 + 1);
                u64::from_le_bytes(e.payload[..].try_into().expect("8 bytes"))
            })
            .collect()
    }

    #[test]
    fn a_log_with_a_head_per_stream_is_converted_to_blocks_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let streams = 300;
        {
            let store = Store::open(dir.path()).expect("open");
            append(&store, 0..2_000, streams);
            store.flush().expect("flush");
            append(&store, 2_000..3_000, streams);
            store.flush().expect("flush");
            let tree = store.raw_db().open_tree(layout::LOG_TREE).expect("tree");
            to_old_layout(&tree);
            assert!(tree.get(layout::HEADS_KEY).expect("get").is_none());
            assert_eq!(tree.scan_prefix([layout::STREAM_PREFIX]).count(), 300);
        }
        let want = |k: u64, end: u64| (k..end).step_by(streams as usize).collect::<Vec<u64>>();
        {
            let store = Store::open(dir.path()).expect("reopen");
            let tree = store.raw_db().open_tree(layout::LOG_TREE).expect("tree");
            assert_eq!(tree.scan_prefix([layout::STREAM_PREFIX]).count(), 0);
            assert!(tree.get(layout::CHECKPOINT_KEY).expect("get").is_none());
            assert_eq!(marker(&tree).expect("marker"), (3_000, Some(300)));
            for k in [0, 1, 127, 128, 299] {
                assert_eq!(events_of(&store, k), want(k, 3_000), "s{k}");
            }
            assert_eq!(store.stream_version("s299"), Some(10));
            let report = store.verify().expect("verify");
            assert!(report.is_ok(), "{report:?}");
            // The converted heads take new events as any others.
            append(&store, 3_000..3_500, streams);
        }
        let store = Store::open(dir.path()).expect("reopen");
        for k in [0, 199, 200, 299] {
            assert_eq!(events_of(&store, k), want(k, 3_500), "s{k}");
        }
        assert_eq!(store.stream_version("s199"), Some(12));
        assert_eq!(store.stream_version("s200"), Some(11));
    }

    #[test]
    fn a_conversion_cut_short_is_finished_on_the_next_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        append(&store, 0..1_000, 200);
        store.flush().expect("flush");
        let tree = store.raw_db().open_tree(layout::LOG_TREE).expect("tree");
        to_old_layout(&tree);
        // Cut short after the blocks were written but before the marker: the blocks are
        // written again from the `S` entries.
        convert_old_heads(&tree).expect("convert");
        let blocks_written: Vec<_> = tree.scan_prefix([HEAD_BLOCK_PREFIX]).collect();
        to_old_layout(&tree);
        for (key, value) in blocks_written.into_iter().map(Result::unwrap) {
            tree.insert(key, value).expect("insert");
        }
        convert_old_heads(&tree).expect("convert again");
        assert_eq!(marker(&tree).expect("marker"), (1_000, Some(200)));
        // Cut short after the marker: the `S` entries left are removed.
        let mut key = vec![layout::STREAM_PREFIX];
        key.extend_from_slice(b"s7");
        tree.insert(
            key,
            codec::seal(&StreamWire {
                version: 1,
                chunks: vec![1],
            })
            .expect("seal"),
        )
        .expect("insert");
        convert_old_heads(&tree).expect("convert after the marker");
        assert_eq!(tree.scan_prefix([layout::STREAM_PREFIX]).count(), 0);
        let index = load(&tree, 1_000, 200).expect("load");
        assert_eq!(index.heads.len(), 200);
        assert_eq!(index.version("s7"), Some(5));
        // Its five events (positions 8, 208, ..., 808) are in five chunks of at most 133.
        let chunks = chunks_of(&tree, index.id("s7").expect("s7"), 1_000).expect("chunks");
        assert_eq!(chunks.len(), 5, "{chunks:?}");
        assert!(chunks
            .iter()
            .zip([8, 208, 408, 608, 808])
            .all(|(c, p)| *c <= p && p - c < 133));
    }

    /// A store in `dir` holding 1,000 events over 300 streams (three blocks), checkpointed,
    /// and its log's tree.
    fn checkpointed_store(dir: &std::path::Path) -> (Store, sled::Tree) {
        let store = Store::open(dir).expect("open");
        append(&store, 0..1_000, 300);
        store.flush().expect("flush");
        let report = store.verify().expect("verify");
        assert!(report.is_ok(), "{report:?}");
        let tree = store.raw_db().open_tree(layout::LOG_TREE).expect("tree");
        (store, tree)
    }

    /// Opening `dir` fails as corrupt, for a reason that says `what`.
    fn assert_refused(dir: &std::path::Path, what: &str) {
        match Store::open(dir) {
            Err(StoreError::Corrupt { reason, .. }) => assert!(reason.contains(what), "{reason}"),
            other => panic!("opened: {:?}", other.map(|s| s.last_position())),
        }
    }

    #[test]
    fn a_missing_or_damaged_head_block_is_reported_and_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (store, tree) = checkpointed_store(dir.path());
            // The names of streams 128..256 gone; a chunk list of block 2 damaged.
            tree.remove(layout::block_key(NAME_BLOCK_PREFIX, 1))
                .expect("remove");
            let key = tree
                .scan_prefix(layout::block_key(LIST_PREFIX, 2))
                .keys()
                .next()
                .expect("an entry")
                .expect("key");
            let mut value = tree.get(&key).expect("get").expect("value").to_vec();
            *value.last_mut().expect("bytes") ^= 0xFF;
            tree.insert(key, value).expect("insert");
            let report = store.verify().expect("verify");
            let reasons: Vec<&str> = report.problems.iter().map(|p| p.reason.as_str()).collect();
            assert_eq!(report.problems.len(), 2, "{reasons:?}");
            assert!(reasons[0].contains("block 1 missing"), "{reasons:?}");
            assert!(reasons[1].contains("chunk lists of block 2"), "{reasons:?}");
        }
        assert_refused(dir.path(), "names of block 1 missing");
    }

    #[test]
    fn a_block_naming_streams_of_another_is_reported_and_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (store, tree) = checkpointed_store(dir.path());
            // Block 1 given block 0's names: streams s0.. named twice, s128.. not at all.
            let names = tree
                .get(layout::block_key(NAME_BLOCK_PREFIX, 0))
                .expect("get")
                .expect("block 0");
            tree.insert(layout::block_key(NAME_BLOCK_PREFIX, 1), names)
                .expect("insert");
            let report = store.verify().expect("verify");
            assert!(
                report
                    .problems
                    .iter()
                    .any(|p| p.reason.contains("named twice")),
                "{report:?}"
            );
        }
        assert_refused(dir.path(), "named twice");
    }

    #[test]
    fn long_chunk_lists_are_split_into_parts_and_read_back_whole() {
        let mut lists = BTreeMap::new();
        // One stream with 5,000 chunks far apart, then two short ones.
        lists.insert(3, (0..5_000u64).map(|i| 1 + i * 70_000).collect::<Vec<_>>());
        lists.insert(4, vec![5, 6]);
        lists.insert(127, vec![u64::MAX - 1]);
        let parts = list_parts(&lists);
        assert!(parts.len() > 5, "{} parts", parts.len());
        let mut back: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
        for part in &parts {
            let sealed = codec::seal(part).expect("seal");
            assert!(
                sealed.len() <= LIST_PART_BYTES + 64,
                "{} bytes",
                sealed.len()
            );
            for list in &part.streams {
                back.entry(list.slot)
                    .or_default()
                    .extend(list_chunks(list).expect("no overflow"));
            }
        }
        assert_eq!(back, lists);
    }
}
