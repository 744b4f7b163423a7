//! The natural-key index: which position recorded a natural key, without one sled key per
//! natural key.
//!
//! sled splits a leaf at 17 values whatever their size, and its page table costs memory
//! for every page, in memory or not: a sled key per natural key cost about 50 bytes of
//! resident memory per keyed event (3 GiB to open a log of 67 M keyed events). So the
//! index is a small log-structured tree of its own:
//!
//! - every event carries its natural key inside its chunk, so the log itself is the
//!   durable record of every key;
//! - an entry of the index is `(hash of namespace and key, position)`, stored in about ten
//!   bytes (each hash as its distance from the one before, see [`codec::seal_key_block`]);
//! - entries of keys recorded after the last *run* are held in memory (the memtable, a hash
//!   map) and re-read from the log's tail on open;
//! - when the memtable reaches its bound it is written to sled as a sorted *run* of
//!   blocks of [`BLOCK_ENTRIES`] entries; every [`TIER_RUNS`] runs of one level are merged
//!   into one run of the next level, so a log holds a few runs per level and a handful of
//!   levels;
//! - in memory each run keeps a blocked Bloom filter (16 bits per entry, one cache line per
//!   probe) and the first hash of each block, so looking up a key not recorded costs one
//!   cache line per run and, one time in about six hundred, a block read;
//! - a hash found is a candidate only: the event at its position is read and its stored
//!   key compared, so hash collisions cost a read, never a wrong answer.
//!
//! Crash safety: a run's blocks are written before the manifest (`Mkeyindex`) lists it,
//! and the blocks of runs merged away are removed only after the manifest stopped listing
//! them; sled recovers a prefix of the writes, so the manifest never lists a run whose
//! blocks are missing. Blocks of runs the manifest does not list are removed on open.
//! Logs written before this index (one `K` key per natural key, chunks without keys) are
//! still read: their `K` entries are consulted after the runs.

use std::collections::hash_map::Entry;

use crate::codec::{self, KeyIndexWire, KeyRunWire, KeyWire};
use crate::fasthash::FastMap;
use crate::files::{LogTree, RunFiles, RunWriter};
use crate::layout;
use crate::read::{stored_chunk, ChunkBuffers};
use crate::{KeyEntry, Recover, StoreError};

/// Entries per block of a run (about ten bytes each, at most 4 KiB as format 1 stored them).
pub(crate) const BLOCK_ENTRIES: usize = 256;
/// Runs of one level merged into one run of the next.
pub(crate) const TIER_RUNS: usize = 4;
/// Bloom filter bits per entry.
const BLOOM_BITS_PER_ENTRY: u64 = 16;
/// Bits set per key, all in one 512-bit line.
const BLOOM_PROBES: u32 = 7;
/// Most sled writes per batch while writing or removing a run (sled keeps every node
/// version replaced during a batch until it ends).
const RUN_BATCH_KEYS: usize = 1024;

/// Version of [`key_hash`], recorded in the manifest: runs made with another hash are
/// treated as damaged, so the index is rebuilt from the log.
pub(crate) const KEY_HASH_VERSION: u32 = 1;

/// Hash of a natural key, stored in the index: stable across versions (it is on disk), so
/// it is spelled out here rather than taken from a hasher that might change. Each 8-byte
/// word is mixed in with a multiply and a xor-shift, so that a difference anywhere reaches
/// every bit before the next word comes (a multiply alone carries differences only
/// upwards, and keys differing in a few digits then collided a few times in a hundred).
pub(crate) fn key_hash(namespace: &str, key: &str) -> u64 {
    let mut h: u64 = 0x243f_6a88_85a3_08d3;
    let mut add = |word: u64| {
        h = (h ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 32;
        h = h.wrapping_mul(0xd6e8_feb8_6659_fd93);
        h ^= h >> 29;
    };
    for part in [namespace.as_bytes(), key.as_bytes()] {
        add(part.len() as u64);
        let mut words = part.chunks_exact(8);
        for word in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(word);
            add(u64::from_le_bytes(b));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            add(u64::from_le_bytes(b));
        }
    }
    fmix64(h)
}

/// Counts one index entry into `(count, sum of fingerprints)`: `verify` tallies the log's
/// keyed events and the runs' entries, which agree only if the runs hold exactly those.
pub(crate) fn tally(total: &mut (u64, u64), hash: u64, position: u64) {
    let fingerprint = fmix64(hash ^ fmix64(position.wrapping_add(0x9e37_79b9_7f4a_7c15)));
    total.0 += 1;
    total.1 = total.1.wrapping_add(fingerprint);
}

/// MurmurHash3's finaliser: every output bit depends on every input bit.
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// A Bloom filter whose probes for one key all fall in one 64-byte line.
#[derive(Debug)]
struct Bloom {
    lines: Vec<Line>,
}

#[derive(Debug, Clone, Copy, Default)]
#[repr(align(64))]
struct Line([u64; 8]);

impl Bloom {
    fn with_entries(entries: u64) -> Bloom {
        let lines = (entries * BLOOM_BITS_PER_ENTRY).div_ceil(512).max(1);
        Bloom {
            lines: vec![Line::default(); lines as usize],
        }
    }

    /// The line and the bits of `hash`.
    fn probes(&self, hash: u64) -> (usize, u64) {
        let line = (((hash >> 32) * self.lines.len() as u64) >> 32) as usize;
        (line, fmix64(hash ^ 0x9e37_79b9_7f4a_7c15))
    }

    fn insert(&mut self, hash: u64) {
        let (line, mut bits) = self.probes(hash);
        let words = &mut self.lines[line].0;
        for _ in 0..BLOOM_PROBES {
            let bit = (bits & 511) as usize;
            words[bit >> 6] |= 1 << (bit & 63);
            bits >>= 9;
        }
    }

    fn may_contain(&self, hash: u64) -> bool {
        let (line, mut bits) = self.probes(hash);
        let words = &self.lines[line].0;
        for _ in 0..BLOOM_PROBES {
            let bit = (bits & 511) as usize;
            if words[bit >> 6] & (1 << (bit & 63)) == 0 {
                return false;
            }
            bits >>= 9;
        }
        true
    }

    fn bytes(&self) -> usize {
        self.lines.len() * std::mem::size_of::<Line>()
    }
}

/// One run in memory: what finds a hash's block without reading the others.
#[derive(Debug)]
struct Run {
    id: u64,
    level: u32,
    entries: u64,
    /// First hash of every block.
    fences: Vec<u64>,
    bloom: Bloom,
}

impl Run {
    fn wire(&self) -> KeyRunWire {
        KeyRunWire {
            id: self.id,
            level: self.level,
            entries: self.entries,
            blocks: self.fences.len() as u64,
        }
    }
}

/// Builds a run block by block while its entries arrive in order.
struct RunBuilder {
    run: Run,
    block: Vec<(u64, u64)>,
    /// The run's file, once its first block is written to one.
    file: Option<RunWriter>,
    batch: sled::Batch,
    in_batch: usize,
    last: Option<(u64, u64)>,
}

impl RunBuilder {
    fn new(id: u64, level: u32, expected_entries: u64) -> RunBuilder {
        RunBuilder {
            run: Run {
                id,
                level,
                entries: 0,
                fences: Vec::new(),
                bloom: Bloom::with_entries(expected_entries),
            },
            block: Vec::with_capacity(BLOCK_ENTRIES),
            file: None,
            batch: sled::Batch::default(),
            in_batch: 0,
            last: None,
        }
    }

    fn push(&mut self, tree: &LogTree, entry: (u64, u64)) -> Result<(), StoreError> {
        if self.last.is_some_and(|last| last >= entry) {
            return Err(StoreError::Corrupt {
                position: entry.1,
                reason: format!("key index run {} out of order", self.run.id),
            });
        }
        self.last = Some(entry);
        if self.block.is_empty() {
            self.run.fences.push(entry.0);
        }
        self.block.push(entry);
        self.run.bloom.insert(entry.0);
        self.run.entries += 1;
        if self.block.len() == BLOCK_ENTRIES {
            self.finish_block(tree)?;
        }
        Ok(())
    }

    fn finish_block(&mut self, tree: &LogTree) -> Result<(), StoreError> {
        let number = self.run.fences.len() as u32 - 1;
        let mut value = Vec::with_capacity(16 + self.block.len() * 12);
        codec::seal_key_block(&self.block, &mut value);
        let key = layout::key_block(self.run.id, number);
        if tree.in_files() {
            if self.file.is_none() {
                self.file = Some(tree.runs().create(self.run.id)?);
            }
            let file = self.file.as_mut().expect("just made");
            self.batch.insert(&key[..], &file.push(&value)?[..]);
        } else {
            self.batch.insert(&key[..], value);
        }
        self.block.clear();
        self.in_batch += 1;
        if self.in_batch == RUN_BATCH_KEYS {
            tree.apply_batch(std::mem::take(&mut self.batch))?;
            self.in_batch = 0;
        }
        Ok(())
    }

    /// Writes the last block; the run is durable when this returns, before any manifest
    /// lists it. (Its pointers go to sled as its blocks are made, before the file is
    /// synced: until a manifest lists the run they are orphans, removed on open.)
    fn finish(mut self, tree: &LogTree) -> Result<Run, StoreError> {
        if !self.block.is_empty() {
            self.finish_block(tree)?;
        }
        if let Some(file) = self.file.take() {
            file.finish()?;
        }
        if self.in_batch > 0 {
            tree.apply_batch(std::mem::take(&mut self.batch))?;
        }
        Ok(self.run)
    }
}

/// Reads one run's entries in order.
struct RunReader {
    iter: sled::Iter,
    runs: std::sync::Arc<RunFiles>,
    run_id: u64,
    block: Vec<(u64, u64)>,
    next: usize,
    read: Vec<u8>,
}

impl RunReader {
    fn new(tree: &LogTree, run_id: u64) -> RunReader {
        RunReader {
            iter: tree.range(layout::key_block(run_id, 0)..layout::key_block(run_id + 1, 0)),
            runs: std::sync::Arc::clone(tree.runs()),
            run_id,
            block: Vec::new(),
            next: 0,
            read: Vec::new(),
        }
    }

    fn peek(&mut self) -> Result<Option<(u64, u64)>, StoreError> {
        while self.next == self.block.len() {
            let Some(item) = self.iter.next() else {
                return Ok(None);
            };
            let (_, value) = item?;
            self.block = stored_block(&self.runs, self.run_id, &value, &mut self.read)?;
            self.next = 0;
        }
        Ok(Some(self.block[self.next]))
    }
}

fn corrupt_run(run_id: u64, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        position: 0,
        reason: format!("key index run {run_id}: {reason}"),
    }
}

/// Decodes a block's entries (a block of either format, see [`codec::open_key_block`]).
pub(crate) fn decode_block(run_id: u64, bytes: &[u8]) -> Result<Vec<(u64, u64)>, StoreError> {
    codec::open_key_block(bytes).map_err(|r| corrupt_run(run_id, r))
}

/// Decodes the block of run `run_id` that sled keeps as `value` (where it is in the run's
/// file, or, in older logs, the block itself), reading it into `read` when it is in the file.
pub(crate) fn stored_block(
    runs: &RunFiles,
    run_id: u64,
    value: &[u8],
    read: &mut Vec<u8>,
) -> Result<Vec<(u64, u64)>, StoreError> {
    decode_block(run_id, runs.resolve(run_id, value, read)?)
}

/// The index. Shared behind a lock: the writer thread is its only mutator.
#[derive(Debug, Default)]
pub(crate) struct KeyIndex {
    /// Every key recorded after `covered` (durable ones only): hash -> position ...
    memtable: FastMap<u64, u64>,
    /// ... and `(hash, position)` of the rare further keys with a hash already there.
    memtable_more: Vec<(u64, u64)>,
    /// Oldest first; levels never increase towards the newest.
    runs: Vec<Run>,
    /// The runs hold every key recorded at positions up to this.
    covered: u64,
    next_run_id: u64,
    /// The log has format-1 `K` entries, consulted after the runs.
    legacy: bool,
}

/// Figures about the index, for benchmarks and docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyIndexStats {
    pub memtable_entries: usize,
    pub runs: usize,
    pub run_entries: u64,
    /// Bytes held in memory by the runs' filters and block fences.
    pub filter_bytes: usize,
    /// The runs hold every key recorded up to this position; opening the store re-reads
    /// the keys after it from the log.
    pub covered: u64,
}

impl KeyIndex {
    /// Loads the manifest and every listed run's filters; removes blocks of unlisted runs.
    /// A damaged manifest or run is not fatal: the index is dropped (every block removed)
    /// and rebuilt from the keys stored in the log, which the open's replay does.
    pub(crate) fn open(tree: &LogTree) -> Result<KeyIndex, StoreError> {
        let legacy = tree
            .scan_prefix([layout::KEY_PREFIX])
            .next()
            .transpose()?
            .is_some();
        match KeyIndex::load(tree) {
            Ok((mut index, orphans)) => {
                remove_keys(tree, orphans)?;
                for run in tree.runs().on_disk()? {
                    if !index.runs.iter().any(|r| r.id == run) {
                        // Garbage only: a failure leaves it for the next open.
                        if let Err(e) = tree.runs().remove(run) {
                            tracing::warn!(error = %e, run, "an unlisted key index run's file was not removed");
                        }
                    }
                }
                index.legacy = legacy;
                Ok(index)
            }
            Err(StoreError::Corrupt { reason, .. }) => {
                tracing::error!(%reason, "key index damaged; rebuilding it from the log");
                // Every block goes before the manifest does, so run ids start again at 0
                // (a crash part-way leaves the damaged manifest, and this runs again).
                let blocks = tree
                    .scan_prefix([layout::KEY_BLOCK_PREFIX])
                    .keys()
                    .collect::<Result<Vec<_>, _>>()?;
                remove_keys(tree, blocks)?;
                tree.remove(layout::KEY_INDEX_KEY)?;
                // Run files go after the manifest: the blocks naming them are gone already.
                tree.flush()?;
                for run in tree.runs().on_disk()? {
                    tree.runs().remove(run)?;
                }
                Ok(KeyIndex {
                    legacy,
                    ..KeyIndex::default()
                })
            }
            Err(other) => Err(other),
        }
    }

    /// The index the manifest describes, and the keys of blocks it does not list.
    fn load(tree: &LogTree) -> Result<(KeyIndex, Vec<sled::IVec>), StoreError> {
        let manifest = read_manifest(tree)?;
        let mut runs: Vec<RunBuilder> = manifest
            .runs
            .iter()
            .map(|w| RunBuilder::new(w.id, w.level, w.entries))
            .collect();
        let orphans = load_blocks(tree, &mut runs)?;
        for (builder, wire) in runs.iter().zip(&manifest.runs) {
            if builder.run.entries != wire.entries || builder.run.fences.len() as u64 != wire.blocks
            {
                return Err(corrupt_run(
                    wire.id,
                    format!(
                        "{} entries in {} blocks where the manifest lists {} in {}",
                        builder.run.entries,
                        builder.run.fences.len(),
                        wire.entries,
                        wire.blocks
                    ),
                ));
            }
        }
        let index = KeyIndex {
            memtable: FastMap::default(),
            memtable_more: Vec::new(),
            runs: runs.into_iter().map(|b| b.run).collect(),
            covered: manifest.covered,
            next_run_id: manifest.next_run_id,
            legacy: false,
        };
        Ok((index, orphans))
    }

    /// Position up to which the runs hold every key.
    pub(crate) fn covered(&self) -> u64 {
        self.covered
    }

    pub(crate) fn memtable_len(&self) -> usize {
        self.memtable.len() + self.memtable_more.len()
    }

    /// Records durable keys (positions after `covered`).
    pub(crate) fn insert(&mut self, entries: impl IntoIterator<Item = (u64, u64)>) {
        for (hash, position) in entries {
            match self.memtable.entry(hash) {
                Entry::Occupied(_) => self.memtable_more.push((hash, position)),
                Entry::Vacant(slot) => {
                    slot.insert(position);
                }
            }
        }
    }

    pub(crate) fn stats(&self) -> KeyIndexStats {
        KeyIndexStats {
            memtable_entries: self.memtable_len(),
            runs: self.runs.len(),
            run_entries: self.runs.iter().map(|r| r.entries).sum(),
            filter_bytes: self
                .runs
                .iter()
                .map(|r| r.bloom.bytes() + r.fences.len() * 8)
                .sum(),
            covered: self.covered,
        }
    }

    /// Positions recorded under `hash`: candidates, to be confirmed against the log.
    fn positions_of(&self, tree: &LogTree, hash: u64) -> Result<Vec<u64>, StoreError> {
        let mut out: Vec<u64> = Vec::new();
        let mut read = Vec::new();
        if let Some(&first) = self.memtable.get(&hash) {
            out.push(first);
            // Only a hash already in the map has further positions.
            out.extend(
                self.memtable_more
                    .iter()
                    .filter(|(h, _)| *h == hash)
                    .map(|&(_, position)| position),
            );
        }
        for run in self.runs.iter().rev() {
            if !run.bloom.may_contain(hash) {
                continue;
            }
            // Entries with this hash start in the last block whose first hash is below it,
            // or in the first block starting with it, and may run on over later blocks.
            let first_at_or_above = run.fences.partition_point(|f| *f < hash);
            let mut block = first_at_or_above.saturating_sub(1);
            while block < run.fences.len()
                && (block < first_at_or_above || run.fences[block] <= hash)
            {
                let bytes = tree
                    .get(layout::key_block(run.id, block as u32))?
                    .ok_or_else(|| corrupt_run(run.id, format!("block {block} missing")))?;
                out.extend(
                    stored_block(tree.runs(), run.id, &bytes, &mut read)?
                        .into_iter()
                        .filter(|(h, _)| *h == hash)
                        .map(|(_, position)| position),
                );
                block += 1;
            }
        }
        Ok(out)
    }

    /// Where `namespace`/`key` was recorded, if it was.
    pub(crate) fn find(
        &self,
        tree: &LogTree,
        namespace: &str,
        key: &str,
    ) -> Result<Option<KeyEntry>, StoreError> {
        self.find_hashed(tree, key_hash(namespace, key), namespace, key)
    }

    /// [`KeyIndex::find`] of a key whose [`key_hash`] is `hash`.
    pub(crate) fn find_hashed(
        &self,
        tree: &LogTree,
        hash: u64,
        namespace: &str,
        key: &str,
    ) -> Result<Option<KeyEntry>, StoreError> {
        for position in self.positions_of(tree, hash)? {
            if let Some(entry) = recorded_key(tree, position, namespace, key)? {
                return Ok(Some(entry));
            }
        }
        if self.legacy {
            if let Some(bytes) = tree.get(layout::natural_key(namespace, key))? {
                let wire: KeyWire<'_> =
                    codec::open_envelope(&bytes).map_err(|reason| StoreError::Corrupt {
                        position: 0,
                        reason: format!("key index entry {namespace}/{key}: {reason}"),
                    })?;
                return Ok(Some(KeyEntry {
                    content_hash: wire.content_hash,
                    stream: wire.stream.to_owned(),
                    position: wire.position,
                }));
            }
        }
        Ok(None)
    }

    /// Writes the memtable as a run (merging runs as their levels fill) and a manifest
    /// covering up to `position`, the last durable position, whose keys are all in the
    /// memtable. Called by the writer only, between groups; the new state is published under
    /// `lock` once written, and blocks of merged runs are removed after that.
    pub(crate) fn write_run(
        lock: &std::sync::RwLock<KeyIndex>,
        tree: &LogTree,
        position: u64,
    ) -> Result<(), StoreError> {
        // The writer is the only mutator, so what it reads here stays true while it writes.
        let (mut next_id, flushed) = KeyIndex::flush_memtable(lock, tree)?;
        // Ids of the old runs merged away, and the newest run: the one just written, or the
        // one it was merged into.
        let mut merged_away: Vec<u64> = Vec::new();
        let new_run =
            KeyIndex::merge_full_levels(lock, tree, flushed, &mut next_id, &mut merged_away)?;
        let manifest = {
            let index = lock.read_recovered();
            let mut runs: Vec<KeyRunWire> = index
                .runs
                .iter()
                .filter(|r| !merged_away.contains(&r.id))
                .map(Run::wire)
                .collect();
            runs.extend(new_run.iter().map(Run::wire));
            KeyIndexWire {
                hash_version: KEY_HASH_VERSION,
                covered: position,
                next_run_id: next_id,
                runs,
            }
        };
        // An error here stops the writer (like any failed write); the new blocks are
        // orphans then, removed on the next open.
        let bytes = codec::seal(&manifest).map_err(StoreError::Codec)?;
        tree.insert(layout::KEY_INDEX_KEY, bytes)?;
        {
            let mut index = lock.write_recovered();
            index.runs.retain(|r| !merged_away.contains(&r.id));
            index.runs.extend(new_run);
            index.next_run_id = next_id;
            index.covered = position;
            // Every entry in the memtable is durable, so at or before `position`.
            index.memtable.retain(|_, p| *p > position);
            index.memtable_more.retain(|&(_, p)| p > position);
        }
        if !merged_away.is_empty() {
            // The files of the runs merged away go only once no durable manifest lists them.
            tree.flush()?;
        }
        for id in merged_away {
            // Only garbage is left behind by a failure here; open removes it.
            if let Err(e) = remove_run(tree, id) {
                tracing::error!(error = %e, run = id, "removing a merged key index run failed");
            }
        }
        Ok(())
    }

    /// Writes the memtable's entries, sorted, as a run of level 0; returns the next run id
    /// and the run (none when the memtable is empty: the manifest only moves `covered` on).
    fn flush_memtable(
        lock: &std::sync::RwLock<KeyIndex>,
        tree: &LogTree,
    ) -> Result<(u64, Option<Run>), StoreError> {
        let index = lock.read_recovered();
        if index.memtable_len() == 0 {
            return Ok((index.next_run_id, None));
        }
        let mut entries: Vec<(u64, u64)> = index
            .memtable
            .iter()
            .map(|(&hash, &position)| (hash, position))
            .chain(index.memtable_more.iter().copied())
            .collect();
        entries.sort_unstable();
        let mut builder = RunBuilder::new(index.next_run_id, 0, entries.len() as u64);
        for entry in entries {
            builder.push(tree, entry)?;
        }
        Ok((index.next_run_id + 1, Some(builder.finish(tree)?)))
    }

    /// While the newest run's level holds `TIER_RUNS` runs with it, merges them into one run
    /// of the next level; returns the newest run, and adds the ids merged away to
    /// `merged_away`.
    fn merge_full_levels(
        lock: &std::sync::RwLock<KeyIndex>,
        tree: &LogTree,
        mut new_run: Option<Run>,
        next_id: &mut u64,
        merged_away: &mut Vec<u64>,
    ) -> Result<Option<Run>, StoreError> {
        while let Some(newest) = &new_run {
            let level = newest.level;
            // The old runs still listed at the tail with the newest run's level.
            let mut inputs: Vec<(u64, u64)> = lock
                .read_recovered()
                .runs
                .iter()
                .filter(|r| !merged_away.contains(&r.id))
                .rev()
                .take_while(|r| r.level == level)
                .map(|r| (r.id, r.entries))
                .collect();
            if inputs.len() + 1 < TIER_RUNS {
                break;
            }
            inputs.reverse();
            inputs.push((newest.id, newest.entries));
            let run = merge_runs(tree, &inputs, *next_id, level + 1)?;
            *next_id += 1;
            merged_away.extend(inputs.iter().map(|(id, _)| *id));
            new_run = Some(run);
        }
        Ok(new_run)
    }
}

/// Merges the runs `inputs` (id, entries) into run `id` of `level`, in key order.
fn merge_runs(
    tree: &LogTree,
    inputs: &[(u64, u64)],
    id: u64,
    level: u32,
) -> Result<Run, StoreError> {
    let total: u64 = inputs.iter().map(|(_, n)| n).sum();
    let mut readers: Vec<RunReader> = inputs
        .iter()
        .map(|(id, _)| RunReader::new(tree, *id))
        .collect();
    let mut builder = RunBuilder::new(id, level, total);
    loop {
        let mut best: Option<(usize, (u64, u64))> = None;
        for (i, reader) in readers.iter_mut().enumerate() {
            if let Some(entry) = reader.peek()? {
                if best.is_none_or(|(_, b)| entry < b) {
                    best = Some((i, entry));
                }
            }
        }
        let Some((i, entry)) = best else { break };
        readers[i].next += 1;
        builder.push(tree, entry)?;
    }
    let run = builder.finish(tree)?;
    if run.entries != total {
        return Err(corrupt_run(
            run.id,
            format!("merged {} entries from runs holding {total}", run.entries),
        ));
    }
    Ok(run)
}

/// Position up to which the key index's runs on disk hold every key (0 without any).
pub(crate) fn covered_on_disk(tree: &sled::Tree) -> Result<u64, StoreError> {
    Ok(read_manifest(tree)?.covered)
}

/// The key index's manifest (an empty one when there is none), made with this key hash.
fn read_manifest(tree: &sled::Tree) -> Result<KeyIndexWire, StoreError> {
    let manifest = match tree.get(layout::KEY_INDEX_KEY)? {
        Some(bytes) => {
            codec::open_envelope::<KeyIndexWire>(&bytes).map_err(|r| StoreError::Corrupt {
                position: 0,
                reason: format!("key index manifest: {r}"),
            })?
        }
        None => KeyIndexWire {
            hash_version: KEY_HASH_VERSION,
            covered: 0,
            next_run_id: 0,
            runs: Vec::new(),
        },
    };
    if manifest.hash_version != KEY_HASH_VERSION {
        return Err(corrupt_run(
            0,
            format!("runs made with key hash {}", manifest.hash_version),
        ));
    }
    Ok(manifest)
}

/// Reads every block into the fences, bloom filter and count of its run in `runs`; returns
/// the keys of blocks of runs not listed there.
fn load_blocks(tree: &LogTree, runs: &mut [RunBuilder]) -> Result<Vec<sled::IVec>, StoreError> {
    let mut orphans = Vec::new();
    let mut read = Vec::new();
    for item in tree.scan_prefix([layout::KEY_BLOCK_PREFIX]) {
        let (key, value) = item?;
        let Some((run_id, block)) = layout::key_block_parts(&key) else {
            return Err(corrupt_run(0, "malformed block key"));
        };
        let Some(slot) = runs.iter().position(|r| r.run.id == run_id) else {
            orphans.push(key);
            continue;
        };
        let run = &mut runs[slot].run;
        if block as usize != run.fences.len() {
            return Err(corrupt_run(
                run_id,
                format!("block {block} out of sequence"),
            ));
        }
        let entries = stored_block(tree.runs(), run_id, &value, &mut read)?;
        run.fences.push(entries[0].0);
        for (hash, _) in &entries {
            run.bloom.insert(*hash);
        }
        run.entries += entries.len() as u64;
    }
    Ok(orphans)
}

fn remove_keys(tree: &sled::Tree, keys: Vec<sled::IVec>) -> Result<(), StoreError> {
    layout::apply_in_batches(tree, keys, RUN_BATCH_KEYS, |batch, key| batch.remove(key))?;
    Ok(())
}

fn remove_run(tree: &LogTree, id: u64) -> Result<(), StoreError> {
    let blocks = tree
        .range(layout::key_block(id, 0)..layout::key_block(id + 1, 0))
        .keys()
        .collect::<Result<Vec<_>, _>>()?;
    remove_keys(tree, blocks)?;
    tree.runs().remove(id)
}

/// The key recorded with the event at `position`, if it is `namespace`/`key`.
fn recorded_key(
    tree: &LogTree,
    position: u64,
    namespace: &str,
    key: &str,
) -> Result<Option<KeyEntry>, StoreError> {
    let Some(item) = tree
        .range(layout::chunk_key(0)..=layout::chunk_key(position))
        .next_back()
    else {
        return Err(StoreError::Corrupt {
            position,
            reason: "key index points before the log".to_owned(),
        });
    };
    let (chunk_key, bytes) = item?;
    let first = layout::chunk_key_position(&chunk_key).ok_or_else(|| StoreError::Corrupt {
        position,
        reason: "malformed chunk key".to_owned(),
    })?;
    let mut buffers = ChunkBuffers::default();
    let chunk = stored_chunk(tree, first, &bytes, &mut buffers)?;
    let Some(event) = chunk.events.get((position - first) as usize) else {
        return Err(StoreError::Corrupt {
            position,
            reason: "key index points at no event".to_owned(),
        });
    };
    Ok(event
        .key
        .filter(|k| k.namespace == namespace && k.key == key)
        .and_then(|_| event.content_hash())
        .map(|content_hash| KeyEntry {
            content_hash,
            stream: event.stream.to_owned(),
            position,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{ChunkWireV1, EventWireV1};
    use crate::{NewCommit, NewEvent, Store, StoreOptions};

    /// Many entries under one hash, across blocks, in a run and in the memtable: every
    /// position comes back, and none of its neighbours'.
    #[test]
    fn every_candidate_of_a_hash_is_found_across_blocks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path()).expect("sled");
        let tree = db.open_tree("t").expect("tree");
        // Its blocks in a run file, as the store writes them.
        let tree = LogTree::open(dir.path(), tree, Some(true)).expect("files");
        let hash = 1u64 << 40;
        let mut entries: Vec<(u64, u64)> = Vec::new();
        for p in 0..300 {
            entries.push((hash - 1, 10_000 + p));
            entries.push((hash + 1, 20_000 + p));
        }
        // 600 entries with the same hash straddle at least three 256-entry blocks.
        entries.extend((0..600).map(|p| (hash, 30_000 + p)));
        entries.push((0, 1));
        entries.push((u64::MAX, 2));
        entries.sort_unstable();
        let mut builder = RunBuilder::new(0, 0, entries.len() as u64);
        for e in &entries {
            builder.push(&tree, *e).expect("push");
        }
        let run = builder.finish(&tree).expect("finish");
        assert_eq!(run.fences.len(), entries.len().div_ceil(BLOCK_ENTRIES));
        let mut index = KeyIndex {
            runs: vec![run],
            ..KeyIndex::default()
        };
        index.insert([(hash, 40_000), (hash + 2, 40_001)]);
        let mut found = index.positions_of(&tree, hash).expect("search");
        found.sort_unstable();
        let mut expected: Vec<u64> = (30_000..30_600).collect();
        expected.push(40_000);
        assert_eq!(found, expected);
        assert_eq!(
            index.positions_of(&tree, hash + 1).expect("search").len(),
            300
        );
        assert_eq!(
            index.positions_of(&tree, hash - 1).expect("search").len(),
            300
        );
        assert_eq!(
            index.positions_of(&tree, hash + 2).expect("search"),
            vec![40_001]
        );
        assert_eq!(index.positions_of(&tree, 0).expect("search"), vec![1]);
        assert_eq!(
            index.positions_of(&tree, u64::MAX).expect("search"),
            vec![2]
        );
        assert!(index
            .positions_of(&tree, hash + 3)
            .expect("search")
            .is_empty());
        // Out of order entries are refused rather than written.
        let mut builder = RunBuilder::new(1, 0, 2);
        builder.push(&tree, (5, 5)).expect("push");
        assert!(builder.push(&tree, (5, 5)).is_err());
        assert!(builder.push(&tree, (4, 9)).is_err());
    }

    #[test]
    fn the_key_hash_is_stable() {
        // On disk in every run: a change here makes existing runs unreadable.
        assert_eq!(key_hash("receipt", "R-1"), 0xd970_4a6c_88b7_ba80);
        assert_ne!(key_hash("ab", "c"), key_hash("a", "bc"));
        assert_ne!(key_hash("bill", ""), key_hash("bill\0", ""));
    }

    /// Runs whose blocks are of format 1 (16 fixed bytes an entry) still answer, merge
    /// with runs of the current format into runs of the current format (here until none
    /// is left), and pass verify.
    #[test]
    fn runs_of_format_1_blocks_still_answer_and_merge() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = StoreOptions {
            key_memtable_entries: 3,
            ..StoreOptions::default()
        };
        let paid = |n: u64| {
            NewEvent::new("acct-1", "Paid", vec![n as u8, 1], 1).with_key(
                "receipt",
                format!("R-{n}"),
                n,
            )
        };
        {
            // Blocks inside sled, as logs made before the run files keep them.
            let inside = StoreOptions {
                blocks_in_files: false,
                ..options
            };
            let store = Store::open_with(dir.path(), inside).expect("open");
            for n in 0..12u64 {
                store.append(NewCommit::new(vec![paid(n)])).expect("append");
            }
            store.flush().expect("flush");
            let tree = store.raw_db().open_tree(layout::LOG_TREE).expect("tree");
            let blocks: Vec<_> = tree
                .scan_prefix([layout::KEY_BLOCK_PREFIX])
                .collect::<Result<_, _>>()
                .expect("blocks");
            assert!(!blocks.is_empty());
            for (key, value) in blocks {
                assert_eq!(value[0], codec::KEY_BLOCK_FORMAT);
                let old = codec::seal_format_1_key_block(&decode_block(0, &value).expect("block"));
                assert_eq!(old[0], 1);
                tree.insert(key, old).expect("rewrite");
            }
            store.flush().expect("flush");
        }
        let store = Store::open_with(dir.path(), options).expect("reopen");
        // More keys: runs of the new format, merged with the old ones as levels fill.
        for n in 12..80u64 {
            store.append(NewCommit::new(vec![paid(n)])).expect("append");
        }
        for n in 0..80u64 {
            let entry = store
                .lookup_key("receipt", &format!("R-{n}"))
                .expect("lookup")
                .expect("recorded");
            assert_eq!((entry.position, entry.content_hash), (n + 1, n));
        }
        let r = store
            .append(NewCommit::new(vec![paid(3), paid(30)]))
            .expect("append");
        assert_eq!((r.appended, r.duplicates), (0, 2));
        store.flush().expect("flush");
        let tree = store.raw_db().open_tree(layout::LOG_TREE).expect("tree");
        let log = store.inner.shared.tree().expect("log");
        let mut read = Vec::new();
        let formats: std::collections::BTreeSet<u8> = tree
            .scan_prefix([layout::KEY_BLOCK_PREFIX])
            .map(|item| {
                let (key, value) = item.expect("block");
                assert_eq!(value.len(), 13, "a block in a run file");
                let (run, _) = layout::key_block_parts(&key).expect("a block key");
                log.runs()
                    .resolve(run, &value, &mut read)
                    .expect("its file")[0]
            })
            .collect();
        // The old runs were merged away into runs of the current format, in files.
        assert_eq!(
            formats,
            std::collections::BTreeSet::from([codec::KEY_BLOCK_FORMAT])
        );
        assert!(store.verify().expect("verify").is_ok());
    }

    /// Runs made with another key hash would answer "not recorded" for every key they
    /// hold: the manifest says which hash made them, and another one rebuilds the index.
    #[test]
    fn runs_of_another_key_hash_are_rebuilt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = StoreOptions {
            key_memtable_entries: 2,
            ..StoreOptions::default()
        };
        let store = Store::open_with(dir.path(), options).expect("open");
        for n in 0..10u64 {
            let event = NewEvent::new("acct-1", "Paid", vec![n as u8], 1).with_key(
                "receipt",
                format!("R-{n}"),
                n,
            );
            store.append(NewCommit::new(vec![event])).expect("append");
        }
        store.flush().expect("flush");
        let tree = store.raw_db().open_tree(layout::LOG_TREE).expect("tree");
        let bytes = tree
            .get(layout::KEY_INDEX_KEY)
            .expect("get")
            .expect("manifest");
        let mut manifest: KeyIndexWire = codec::open_envelope(&bytes).expect("decode");
        assert_eq!(manifest.hash_version, KEY_HASH_VERSION);
        assert!(!manifest.runs.is_empty());
        // As another hash would have made them: every entry's hash differs.
        let blocks: Vec<_> = tree
            .scan_prefix([layout::KEY_BLOCK_PREFIX])
            .collect::<Result<_, _>>()
            .expect("blocks");
        let log = store.inner.shared.tree().expect("log");
        let mut read = Vec::new();
        for (key, value) in blocks {
            let (run, _) = layout::key_block_parts(&key).expect("a block key");
            let entries: Vec<(u64, u64)> = stored_block(log.runs(), run, &value, &mut read)
                .expect("block")
                .into_iter()
                .map(|(hash, position)| (!hash, position))
                .collect();
            tree.insert(key, codec::seal_format_1_key_block(&entries))
                .expect("insert");
        }
        manifest.hash_version = KEY_HASH_VERSION + 1;
        tree.insert(layout::KEY_INDEX_KEY, codec::seal(&manifest).expect("seal"))
            .expect("insert");
        drop((tree, log));
        drop(store);
        let store = Store::open_with(dir.path(), options).expect("reopen");
        for n in 0..10u64 {
            let entry = store
                .lookup_key("receipt", &format!("R-{n}"))
                .expect("lookup")
                .expect("found after the rebuild");
            assert_eq!((entry.position, entry.content_hash), (n + 1, n));
        }
        let repeat = NewEvent::new("acct-1", "Paid", vec![3], 1).with_key("receipt", "R-3", 3);
        let r = store.append(NewCommit::new(vec![repeat])).expect("append");
        assert_eq!((r.appended, r.duplicates), (0, 1));
        assert!(store.verify().expect("verify").is_ok());
    }

    /// Keys like the domain's (numbers differing in a few digits, parts joined by `|`)
    /// must not collide: a collision costs a log read on every lookup of either key.
    #[test]
    fn structured_keys_do_not_collide() {
        let mut hashes: Vec<u64> = Vec::new();
        for n in 0..200_000u64 {
            hashes.push(key_hash("receipt", &format!("R{n:09}")));
            hashes.push(key_hash("bill", &format!("B2504-{n}")));
            hashes.push(key_hash("surcharge", &format!("B2504-{}|{}", n / 4, n % 4)));
            hashes.push(key_hash("sms", &format!("SMS-2026-03-31-UK{n:010}")));
        }
        let all = hashes.len();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), all, "{} collisions", all - hashes.len());
    }

    #[test]
    fn the_bloom_filter_has_no_false_negatives_and_few_false_positives() {
        let mut bloom = Bloom::with_entries(100_000);
        for n in 0..100_000u64 {
            bloom.insert(key_hash("receipt", &format!("R-{n}")));
        }
        for n in 0..100_000u64 {
            assert!(bloom.may_contain(key_hash("receipt", &format!("R-{n}"))));
        }
        let false_positives = (100_000..200_000u64)
            .filter(|n| bloom.may_contain(key_hash("receipt", &format!("R-{n}"))))
            .count();
        // 16 bits and 7 probes per key in 512-bit lines: about 0.1 %.
        assert!(false_positives < 300, "{false_positives} false positives");
        assert!(
            false_positives > 30,
            "{false_positives}: are probes being made?"
        );
    }

    /// A log written before chunks were compressed, or before they left out shared times
    /// and payload hashes: its format-2 and format-3 chunks still read, by position and by
    /// stream, their keys still count, and new chunks follow them.
    #[test]
    fn a_log_of_uncompressed_chunks_still_reads_and_dedupes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paid = |account: u64, n: u64| {
            NewEvent::new(
                format!("acct-{account}"),
                "Paid",
                format!("payment {n} of account {account}").into_bytes(),
                n as i64,
            )
            .with_key("receipt", format!("R-{n}"), n)
        };
        {
            let store = Store::open(dir.path()).expect("open");
            for n in 0..40u64 {
                store
                    .append(NewCommit::new(vec![paid(n % 3, n), paid(7, 1000 + n)]))
                    .expect("append");
            }
            store.flush().expect("flush");
            let tree = store.raw_db().open_tree(layout::LOG_TREE).expect("tree");
            let chunks: Vec<_> = tree
                .scan_prefix([layout::CHUNK_PREFIX])
                .collect::<Result<_, _>>()
                .expect("chunks");
            assert_eq!(chunks.len(), 40);
            let log = store.inner.shared.tree().expect("log");
            let (mut plain, mut read) = (Vec::new(), Vec::new());
            for (n, (key, value)) in chunks.into_iter().enumerate() {
                let position = layout::chunk_key_position(&key).expect("a chunk key");
                let value = log.chunk(position, &value, &mut read).expect("in the file");
                assert_eq!(value[0], codec::CHUNK_FORMAT_VERSION);
                let chunk = codec::open_chunk(value, &mut plain).expect("chunk");
                // Every other chunk as format 2 wrote it, the rest as format 3.
                let old = if n % 2 == 0 {
                    codec::seal_plain_chunk(&codec::to_v2(&chunk))
                } else {
                    codec::seal_v3_chunk(&codec::to_v2(&chunk))
                };
                assert_eq!(old[0], if n % 2 == 0 { 2 } else { 3 });
                if n % 2 == 0 {
                    assert!(old.len() > value.len(), "compressed chunks are smaller");
                }
                tree.insert(key, old).expect("rewrite");
            }
            store.flush().expect("flush");
        }
        let store = Store::open(dir.path()).expect("reopen");
        let events: Vec<_> = store.read_all(1).map(|e| e.expect("read")).collect();
        assert_eq!(events.len(), 80);
        assert_eq!(events[79].payload, b"payment 1039 of account 7");
        let stream = store.read_stream("acct-1").expect("stream");
        assert_eq!(stream.len(), 13);
        assert_eq!(stream[12].payload, b"payment 37 of account 1");
        let r = store
            .append(NewCommit::new(vec![paid(1, 37)]))
            .expect("repeat");
        assert_eq!((r.appended, r.duplicates), (0, 1));
        let r = store
            .append(NewCommit::new(vec![paid(1, 40)]))
            .expect("new");
        assert_eq!((r.appended, r.first_position), (1, 81));
        let stream = store.read_stream("acct-1").expect("stream");
        assert_eq!(stream.len(), 14);
        assert_eq!(stream[13].payload, b"payment 40 of account 1");
        let report = store.verify().expect("verify");
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(report.events, 81);
    }

    /// A log written before events carried their keys: format-1 chunks and one sled key
    /// per natural key. It still reads, and its keys still count.
    #[test]
    fn a_format_1_log_still_reads_and_dedupes() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let db = sled::open(dir.path().join("log")).expect("sled");
            let tree = db.open_tree(layout::LOG_TREE).expect("tree");
            let chunk = ChunkWireV1 {
                commit_first: 1,
                commit_last: 2,
                first_position: 1,
                events: vec![
                    EventWireV1 {
                        stream: "acct-1",
                        stream_version: 1,
                        event_type: "Paid",
                        recorded_at_ms: 5,
                        payload: b"old payment",
                    },
                    EventWireV1 {
                        stream: "acct-2",
                        stream_version: 1,
                        event_type: "Note",
                        recorded_at_ms: 6,
                        payload: b"old note",
                    },
                ],
            };
            tree.insert(layout::chunk_key(1), codec::seal(&chunk).expect("seal"))
                .expect("chunk");
            let entry = KeyWire {
                content_hash: 77,
                stream: "acct-1",
                position: 1,
            };
            tree.insert(
                layout::natural_key("receipt", "R-1"),
                codec::seal(&entry).expect("seal"),
            )
            .expect("key");
            db.flush().expect("flush");
        }
        // A memtable of one key: the new keys go to runs while the old ones stay in `K`.
        let options = StoreOptions {
            key_memtable_entries: 1,
            ..StoreOptions::default()
        };
        let store = Store::open_with(dir.path(), options).expect("open");
        let events: Vec<_> = store.read_all(1).map(|e| e.expect("read")).collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].payload, b"old note");
        let entry = store
            .lookup_key("receipt", "R-1")
            .expect("lookup")
            .expect("found");
        assert_eq!((entry.content_hash, entry.position), (77, 1));
        let paid = |hash: u64, key: &str| {
            NewEvent::new("acct-1", "Paid", b"new".to_vec(), 7).with_key("receipt", key, hash)
        };
        let r = store
            .append(NewCommit::new(vec![paid(77, "R-1")]))
            .expect("dup");
        assert_eq!((r.appended, r.duplicates), (0, 1));
        assert!(store.append(NewCommit::new(vec![paid(78, "R-1")])).is_err());
        let r = store
            .append(NewCommit::new(vec![paid(1, "R-2")]))
            .expect("new");
        assert_eq!((r.appended, r.first_position), (1, 3));
        assert_eq!(store.stream_version("acct-1"), Some(2));
        let entry = store
            .lookup_key("receipt", "R-2")
            .expect("lookup")
            .expect("found");
        assert_eq!(
            (entry.content_hash, entry.stream.as_str(), entry.position),
            (1, "acct-1", 3)
        );
        let report = store.verify().expect("verify");
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(report.events, 3);
        store.flush().expect("flush");
        let stats = store.key_index_stats();
        assert_eq!((stats.runs, stats.run_entries, stats.covered), (1, 1, 3));
        drop(store);
        let store = Store::open_with(dir.path(), options).expect("reopen");
        for (key, position) in [("R-1", 1), ("R-2", 3)] {
            let entry = store
                .lookup_key("receipt", key)
                .expect("lookup")
                .expect("found");
            assert_eq!(entry.position, position);
        }
        assert!(store.verify().expect("verify").is_ok());
    }
}
