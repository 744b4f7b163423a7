//! Key layout of the single sled tree holding the log.
//!
//! Log chunks, the natural-key index, stream heads and the checkpoint marker all live in
//! ONE tree so that a whole group of commits (plus an optional checkpoint) is written by a
//! single `apply_batch`, which sled applies atomically, also across crashes.
//!
//! | prefix | key rest                                   | value            |
//! |--------|--------------------------------------------|------------------|
//! | `C`    | first position, u64 big-endian             | where the chunk is in `log/chunks` (`files::pointer`); in older logs the chunk itself (`ChunkBuilder`, read with `open_chunk`) |
//! | `I`    | key-index run id u64 BE, block number u32 BE | where the block is in the run's file (`files::pointer`); in older logs the block itself (`seal_key_block`, read with `open_key_block`) |
//! | `K`    | namespace length u32 BE, namespace, key    | `KeyWire` (format-1 logs only; no longer written) |
//! | `H`    | block number u32 BE                        | `HeadBlockWire`  |
//! | `N`    | block number u32 BE                        | `NameBlockWire`  |
//! | `L`    | block number u32 BE, checkpoint position u64 BE, part u16 BE | `ListBlockWire` |
//! | `M`    | `heads`                                    | `HeadsWire`      |
//! | `S`    | stream name                                | `StreamWire` (logs written before head blocks; converted on open) |
//! | `M`    | `checkpoint`                               | `CheckpointWire` (the same) |
//! | `M`    | `keyindex`                                 | `KeyIndexWire`   |
//! | `M`    | `covered`                                  | `CoveredWire`    |
//!
//! Big-endian positions make sled's byte order equal to position order. The bytes of chunks
//! and key-index blocks live in files beside sled (see `files.rs`), written and synced
//! before the batch naming them.

/// Name of the sled tree holding the log. Other crates must not use names starting with `log_`.
pub(crate) const LOG_TREE: &str = "log_v1";

pub(crate) const CHUNK_PREFIX: u8 = b'C';
pub(crate) const KEY_PREFIX: u8 = b'K';
pub(crate) const STREAM_PREFIX: u8 = b'S';
pub(crate) const CHECKPOINT_KEY: &[u8] = b"Mcheckpoint";
pub(crate) const HEAD_BLOCK_PREFIX: u8 = b'H';
pub(crate) const NAME_BLOCK_PREFIX: u8 = b'N';
pub(crate) const LIST_PREFIX: u8 = b'L';
pub(crate) const HEADS_KEY: &[u8] = b"Mheads";
pub(crate) const KEY_BLOCK_PREFIX: u8 = b'I';
pub(crate) const KEY_INDEX_KEY: &[u8] = b"Mkeyindex";
/// The highest replicated-log sequence applied (cluster mode), written with the commit
/// that applied it.
pub(crate) const COVERED_KEY: &[u8] = b"Mcovered";

/// The value stored under [`COVERED_KEY`] for sequence `seq`.
pub(crate) fn covered_value(seq: u64) -> Vec<u8> {
    crate::codec::seal(&crate::codec::CoveredWire { sequence: seq })
        .expect("a sequence always encodes")
}

/// The sequence a [`COVERED_KEY`] value holds.
pub(crate) fn covered_from(value: &[u8]) -> Result<u64, crate::codec::CodecError> {
    crate::codec::open_envelope::<crate::codec::CoveredWire>(value).map(|w| w.sequence)
}

/// Length of a key-index block key: prefix, run id u64, block number u32.
pub(crate) const KEY_BLOCK_KEY_LEN: usize = 13;

pub(crate) fn key_block(run_id: u64, block: u32) -> [u8; KEY_BLOCK_KEY_LEN] {
    let mut k = [0u8; KEY_BLOCK_KEY_LEN];
    k[0] = KEY_BLOCK_PREFIX;
    k[1..9].copy_from_slice(&run_id.to_be_bytes());
    k[9..].copy_from_slice(&block.to_be_bytes());
    k
}

/// Run id and block number of a key-index block key.
pub(crate) fn key_block_parts(key: &[u8]) -> Option<(u64, u32)> {
    if key.len() != KEY_BLOCK_KEY_LEN || key[0] != KEY_BLOCK_PREFIX {
        return None;
    }
    let mut run = [0u8; 8];
    let mut block = [0u8; 4];
    run.copy_from_slice(&key[1..9]);
    block.copy_from_slice(&key[9..]);
    Some((u64::from_be_bytes(run), u32::from_be_bytes(block)))
}

/// Applies `items` to `tree` in batches of at most `per_batch` (sled holds every node
/// version replaced during one `apply_batch` until it ends, a few KiB per key, so big
/// writes go in several batches; sled recovers a prefix of them after a crash).
pub(crate) fn apply_in_batches<T>(
    tree: &sled::Tree,
    items: impl IntoIterator<Item = T>,
    per_batch: usize,
    mut add: impl FnMut(&mut sled::Batch, T),
) -> sled::Result<()> {
    let mut batch = sled::Batch::default();
    let mut in_batch = 0;
    for item in items {
        add(&mut batch, item);
        in_batch += 1;
        if in_batch == per_batch {
            tree.apply_batch(std::mem::take(&mut batch))?;
            in_batch = 0;
        }
    }
    if in_batch > 0 {
        tree.apply_batch(batch)?;
    }
    Ok(())
}

/// Length of a chunk key: prefix plus a u64.
pub(crate) const CHUNK_KEY_LEN: usize = 9;

pub(crate) fn chunk_key(first_position: u64) -> [u8; CHUNK_KEY_LEN] {
    let mut k = [0u8; CHUNK_KEY_LEN];
    k[0] = CHUNK_PREFIX;
    k[1..].copy_from_slice(&first_position.to_be_bytes());
    k
}

/// Position encoded in a chunk key, or `None` if the key is not a well-formed chunk key.
pub(crate) fn chunk_key_position(key: &[u8]) -> Option<u64> {
    if key.len() != CHUNK_KEY_LEN || key[0] != CHUNK_PREFIX {
        return None;
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&key[1..]);
    Some(u64::from_be_bytes(b))
}

/// Exclusive upper bound of all chunk keys.
pub(crate) const CHUNK_END: [u8; 1] = [CHUNK_PREFIX + 1];

pub(crate) fn natural_key(namespace: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + 4 + namespace.len() + key.len());
    k.push(KEY_PREFIX);
    // Length-prefixing the namespace keeps ("a","bc") and ("ab","c") distinct.
    k.extend_from_slice(&(namespace.len() as u32).to_be_bytes());
    k.extend_from_slice(namespace.as_bytes());
    k.extend_from_slice(key.as_bytes());
    k
}

/// Key of block `block`'s entry under `prefix` (`H`, `N`, or the start of its `L` entries).
pub(crate) fn block_key(prefix: u8, block: u32) -> [u8; 5] {
    let mut k = [0u8; 5];
    k[0] = prefix;
    k[1..].copy_from_slice(&block.to_be_bytes());
    k
}

/// Key of part `part` of the chunk lists block `block` got from the checkpoint at `position`.
pub(crate) fn list_key(block: u32, position: u64, part: u16) -> [u8; 15] {
    let mut k = [0u8; 15];
    k[..5].copy_from_slice(&block_key(LIST_PREFIX, block));
    k[5..13].copy_from_slice(&position.to_be_bytes());
    k[13..].copy_from_slice(&part.to_be_bytes());
    k
}

/// Block number, checkpoint position and part of an `L` key.
pub(crate) fn list_key_parts(key: &[u8]) -> Option<(u32, u64, u16)> {
    if key.len() != 15 || key[0] != LIST_PREFIX {
        return None;
    }
    let block = u32::from_be_bytes(key[1..5].try_into().ok()?);
    let position = u64::from_be_bytes(key[5..13].try_into().ok()?);
    Some((
        block,
        position,
        u16::from_be_bytes(key[13..].try_into().ok()?),
    ))
}
