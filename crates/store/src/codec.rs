//! On-disk encoding of everything the store writes into sled.
//!
//! Every stored value is an envelope `[format version: u8][crc32 of the rest: u32 LE][body]`.
//! The body is encoded with bincode 2 (a chunk's compressed with LZ4 first; a key-index
//! block's as LEB128 varints, see [`seal_key_block`]); this module is the only place that
//! names bincode, so the body codec can be replaced by bumping [`FORMAT_VERSION`] and
//! teaching [`open_envelope`] to dispatch on it, without touching the rest of the crate.
//!
//! Wire structs borrow their strings and payloads on decode so that scanning a chunk
//! (for `read_stream` filtering or `verify`) does not allocate per event.

use bincode::{BorrowDecode, Encode};

/// Format of every envelope written by this version of the crate, chunks and key-index
/// blocks excepted ([`CHUNK_FORMAT_VERSION`], [`KEY_BLOCK_FORMAT`]).
pub(crate) const FORMAT_VERSION: u8 = 1;

/// Format of the chunk envelopes this version writes: 4, a body compressed as one LZ4
/// block (see [`ChunkBuilder::finish_into`]) whose events carry their times as distances
/// from the chunk's first event, and their keys' content hashes only where the hash is not
/// [`payload_hash`] of the payload. Chunks of format 3 (a format-2 body compressed the same
/// way), of format 2 (events with every time and hash in full, stored as they are) and of
/// format 1 (events without keys) still decode, see [`open_chunk`].
pub(crate) const CHUNK_FORMAT_VERSION: u8 = 4;

/// Format of a format-2 chunk body compressed as one LZ4 block.
const CHUNK_V2_COMPRESSED_FORMAT: u8 = 3;

/// Format of a chunk body stored as it is, events with their natural keys.
const CHUNK_PLAIN_FORMAT: u8 = 2;

/// Largest body a compressed chunk may claim. A chunk holds at most `CHUNK_BYTES_MAX` of
/// events or one event (a payload of at most `PAYLOAD_BYTES_MAX` and four names of at most
/// `NAME_BYTES_MAX`), so this is far above any chunk written; it only keeps a corrupt
/// length from allocating more.
const CHUNK_PLAIN_BYTES_MAX: usize = 32 * 1024 * 1024;

/// Most bytes an LZ4 block can expand to per byte of it: a match's length grows by at most
/// 255 for each byte spent on it (one more keeps the bound loose). A length claimed beyond
/// this for the block at hand is refused before anything is allocated.
const LZ4_EXPANSION_MAX: usize = 256;

/// Envelope header: one format byte plus a 4-byte CRC.
const HEADER_LEN: usize = 5;

/// Upper bound on bytes a single body may make the decoder claim (allocate).
/// It only guards against corrupt length prefixes turning into giant allocations;
/// legitimate chunks are far smaller (see `CHUNK_BYTES_MAX` and `PAYLOAD_BYTES_MAX`).
const DECODE_LIMIT_BYTES: usize = 256 * 1024 * 1024;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT_BYTES>()
}

/// One stored event inside a chunk. Its position is implicit: chunk first position + index.
/// Decoded, `recorded_at_ms` is the event's time; in a format-4 body it is the distance
/// from the chunk's first event's time (wrapping), mostly 0, which takes one byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct EventWire<'a> {
    pub stream: &'a str,
    pub stream_version: u64,
    pub event_type: &'a str,
    pub recorded_at_ms: i64,
    pub payload: &'a [u8],
    /// The event's natural key: the key index holds only its hash and position, and a
    /// lookup confirms a candidate against this.
    pub key: Option<EventKeyWire<'a>>,
}

impl EventWire<'_> {
    /// The content hash of the event's natural key, if it has one.
    pub(crate) fn content_hash(&self) -> Option<u64> {
        self.key
            .map(|k| k.content_hash.unwrap_or_else(|| payload_hash(self.payload)))
    }
}

/// A natural key as stored with its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct EventKeyWire<'a> {
    pub namespace: &'a str,
    pub key: &'a str,
    /// `None` when the content hash is [`payload_hash`] of the event's payload (as the
    /// engine hashes its events), so that eight bytes of noise are not stored with each
    /// event; read it with [`EventWire::content_hash`].
    pub content_hash: Option<u64>,
}

/// The content hash a natural key is stored without: the 64-bit FNV-1a hash of the
/// payload, which is what the engine hands in as the content hash of its events' keys.
/// A key with any other content hash keeps it in its chunk.
pub fn payload_hash(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
    })
}

/// One sled value of the log, decoded: a run of consecutive positions belonging to one
/// commit. A commit spans `commit_first..=commit_last`; big commits are split into several
/// chunks, all written in the same atomic batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChunkWire<'a> {
    pub commit_first: u64,
    pub commit_last: u64,
    pub first_position: u64,
    pub events: Vec<EventWire<'a>>,
}

/// A format-4 chunk body: the events' times are distances from `recorded_base_ms`, the
/// first event's time.
#[derive(Debug, Clone, PartialEq, Eq, BorrowDecode)]
struct ChunkBodyV4<'a> {
    commit_first: u64,
    commit_last: u64,
    first_position: u64,
    recorded_base_ms: i64,
    events: Vec<EventWire<'a>>,
}

/// An event of a format-2 or format-3 chunk: its time and its key's content hash in full.
#[derive(Debug, Clone, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct EventWireV2<'a> {
    pub stream: &'a str,
    pub stream_version: u64,
    pub event_type: &'a str,
    pub recorded_at_ms: i64,
    pub payload: &'a [u8],
    pub key: Option<EventKeyWireV2<'a>>,
}

/// A natural key of a format-2 or format-3 chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct EventKeyWireV2<'a> {
    pub namespace: &'a str,
    pub key: &'a str,
    pub content_hash: u64,
}

/// A format-2 chunk body (format 3 compresses the same).
#[derive(Debug, Clone, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct ChunkWireV2<'a> {
    pub commit_first: u64,
    pub commit_last: u64,
    pub first_position: u64,
    pub events: Vec<EventWireV2<'a>>,
}

impl<'a> From<ChunkWireV2<'a>> for ChunkWire<'a> {
    fn from(old: ChunkWireV2<'a>) -> ChunkWire<'a> {
        ChunkWire {
            commit_first: old.commit_first,
            commit_last: old.commit_last,
            first_position: old.first_position,
            events: old
                .events
                .into_iter()
                .map(|e| EventWire {
                    stream: e.stream,
                    stream_version: e.stream_version,
                    event_type: e.event_type,
                    recorded_at_ms: e.recorded_at_ms,
                    payload: e.payload,
                    key: e.key.map(|k| EventKeyWire {
                        namespace: k.namespace,
                        key: k.key,
                        content_hash: Some(k.content_hash),
                    }),
                })
                .collect(),
        }
    }
}

/// An event of a format-1 chunk (no natural key).
#[derive(Debug, Clone, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct EventWireV1<'a> {
    pub stream: &'a str,
    pub stream_version: u64,
    pub event_type: &'a str,
    pub recorded_at_ms: i64,
    pub payload: &'a [u8],
}

/// A format-1 chunk.
#[derive(Debug, Clone, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct ChunkWireV1<'a> {
    pub commit_first: u64,
    pub commit_last: u64,
    pub first_position: u64,
    pub events: Vec<EventWireV1<'a>>,
}

/// One block of a key-index run as format 1 stored it: up to `keyindex::BLOCK_ENTRIES`
/// entries of 16 bytes (key hash, then position, both u64 big-endian), in ascending order.
/// Blocks are now written in [`KEY_BLOCK_FORMAT`] ([`seal_key_block`]); these still decode.
#[derive(Debug, Clone, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct KeyBlockWire<'a> {
    pub entries: &'a [u8],
}

/// Bytes of one entry of a format-1 key-index block.
const KEY_ENTRY_BYTES: usize = 16;

/// Format of the key-index blocks this version writes: `[2][crc32 of the rest][body]`,
/// where the body is the number of entries, then each entry's hash as its distance from
/// the hash before (a block's first hash from 0) and its position, every number an
/// unsigned LEB128 varint. A block's hashes are sorted and close together, so a distance
/// takes five to seven bytes where the hash took eight, and a position three or four.
pub(crate) const KEY_BLOCK_FORMAT: u8 = 2;

/// Most entries a key-index block may claim (far above what one holds); keeps a damaged
/// count from allocating more.
const KEY_BLOCK_ENTRIES_MAX: u64 = 1 << 16;

/// Appends `n` as an unsigned LEB128 varint.
fn put_leb128(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads an unsigned LEB128 varint from the front of `bytes`, moving past it: none when it
/// is cut short or does not fit 64 bits.
fn take_leb128(bytes: &mut &[u8]) -> Option<u64> {
    let mut n = 0u64;
    for (i, &byte) in bytes.iter().enumerate().take(10) {
        let bits = u64::from(byte & 0x7f);
        if i == 9 && bits > 1 {
            return None;
        }
        n |= bits << (7 * i);
        if byte & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Some(n);
        }
    }
    None
}

/// `entries` if each is above the one before (as a run writes them), else why not.
fn ascending(entries: Vec<(u64, u64)>) -> Result<Vec<(u64, u64)>, CodecError> {
    if entries.windows(2).any(|pair| pair[1] <= pair[0]) {
        return Err(CodecError::Decode(
            "a key-index block whose entries are out of order".into(),
        ));
    }
    Ok(entries)
}

/// Seals a key-index block of `entries` (`(key hash, position)`, ascending) in
/// [`KEY_BLOCK_FORMAT`] into `out` (cleared first).
pub(crate) fn seal_key_block(entries: &[(u64, u64)], out: &mut Vec<u8>) {
    debug_assert!(
        entries.windows(2).all(|pair| pair[0] < pair[1]),
        "a key-index block's entries ascend"
    );
    begin_envelope(out, KEY_BLOCK_FORMAT);
    put_leb128(out, entries.len() as u64);
    let mut before = 0u64;
    for &(hash, position) in entries {
        put_leb128(out, hash.wrapping_sub(before));
        put_leb128(out, position);
        before = hash;
    }
    end_envelope(out);
}

/// The entries of a key-index block of either format, in their order: at least one, each
/// above the one before. Never panics on arbitrary bytes.
pub(crate) fn open_key_block(bytes: &[u8]) -> Result<Vec<(u64, u64)>, CodecError> {
    match bytes.first() {
        Some(&KEY_BLOCK_FORMAT) => {
            let (_, mut body) = check_envelope(bytes)?;
            let cut = || CodecError::Decode("a key-index block cut short".into());
            let count = take_leb128(&mut body).ok_or_else(cut)?;
            if count == 0 || count > KEY_BLOCK_ENTRIES_MAX || count > body.len() as u64 {
                return Err(CodecError::Decode(format!(
                    "a key-index block of {count} entries in {} bytes",
                    body.len()
                )));
            }
            let mut entries = Vec::with_capacity(count as usize);
            let mut hash = 0u64;
            for _ in 0..count {
                let gap = take_leb128(&mut body).ok_or_else(cut)?;
                hash = hash
                    .checked_add(gap)
                    .ok_or_else(|| CodecError::Decode("a key-index hash beyond 64 bits".into()))?;
                let position = take_leb128(&mut body).ok_or_else(cut)?;
                entries.push((hash, position));
            }
            if !body.is_empty() {
                return Err(CodecError::Trailing(body.len()));
            }
            ascending(entries)
        }
        _ => {
            let wire: KeyBlockWire<'_> = open_envelope(bytes)?;
            if wire.entries.is_empty() || !wire.entries.len().is_multiple_of(KEY_ENTRY_BYTES) {
                return Err(CodecError::Decode(format!(
                    "a key-index block of {} bytes",
                    wire.entries.len()
                )));
            }
            let entries = wire
                .entries
                .chunks_exact(KEY_ENTRY_BYTES)
                .map(|e| {
                    let mut h = [0u8; 8];
                    let mut p = [0u8; 8];
                    h.copy_from_slice(&e[..8]);
                    p.copy_from_slice(&e[8..]);
                    (u64::from_be_bytes(h), u64::from_be_bytes(p))
                })
                .collect();
            ascending(entries)
        }
    }
}

/// One run of the key index, as listed in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct KeyRunWire {
    pub id: u64,
    pub level: u32,
    pub entries: u64,
    pub blocks: u64,
}

/// The key index's manifest: its runs hold the key of every keyed event at positions up
/// to `covered`; keys after it are re-read from the log on open.
#[derive(Debug, Clone, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct KeyIndexWire {
    /// Which `key_hash` the runs' entries were made with (`keyindex::KEY_HASH_VERSION`).
    pub hash_version: u32,
    pub covered: u64,
    pub next_run_id: u64,
    pub runs: Vec<KeyRunWire>,
}

/// Natural-key index entry of format-1 logs (one sled key per natural key); read only.
#[derive(Debug, Clone, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct KeyWire<'a> {
    pub content_hash: u64,
    pub stream: &'a str,
    pub position: u64,
}

/// Checkpointed head of one stream: its version and the first positions of every chunk
/// (up to the checkpoint) that holds an event of the stream, which is what makes
/// `read_stream` avoid a full log scan.
#[derive(Debug, Clone, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct StreamWire {
    pub version: u64,
    pub chunks: Vec<u64>,
}

/// Checkpoint marker: heads in the `S` entries are exact as of this position.
#[derive(Debug, Clone, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct CheckpointWire {
    pub position: u64,
}

/// The stream heads' marker: the `H`, `N` and `L` entries describe streams `0..streams`
/// (in the order they first appeared in the log) as of `position`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct HeadsWire {
    pub position: u64,
    pub streams: u64,
}

/// The versions of one block of streams (`heads::BLOCK_STREAMS` of them, the last block
/// fewer), and how many `L` entries the block has, which tells a checkpoint when to merge
/// them.
#[derive(Debug, Clone, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct HeadBlockWire {
    pub versions: Vec<u64>,
    pub lists: u32,
}

/// The names of one block of streams, in the order of their ids.
#[derive(Debug, Clone, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct NameBlockWire<'a> {
    pub names: Vec<&'a str>,
}

/// Chunks holding events of some streams of one block: what one checkpoint added, or
/// several merged.
#[derive(Debug, Clone, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct ListBlockWire {
    pub streams: Vec<ListWire>,
}

/// The chunks of one stream, by its place in its block: the first chunk's position, then
/// the distance of each next one from the one before (ascending).
#[derive(Debug, Clone, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct ListWire {
    pub slot: u32,
    pub first: u64,
    pub gaps: Vec<u64>,
}

/// Bytes the body codec takes for the integer `n` (bincode's variable-length integers), to
/// size what is about to be encoded.
pub(crate) fn varint_len(n: u64) -> usize {
    match n {
        0..=250 => 1,
        251..=0xFFFF => 3,
        0x1_0000..=0xFFFF_FFFF => 5,
        _ => 9,
    }
}

/// The replicated-log sequence the commits so far cover (cluster mode).
#[derive(Debug, Clone, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct CoveredWire {
    pub sequence: u64,
}

/// A commit's events and expectations, as [`encode_commit`] writes them.
#[derive(serde::Serialize)]
struct CommitRef<'a> {
    events: &'a [crate::NewEvent],
    expectations: &'a [(String, crate::ExpectedVersion)],
}

#[derive(serde::Deserialize)]
struct CommitOwned {
    events: Vec<crate::NewEvent>,
    expectations: Vec<(String, crate::ExpectedVersion)>,
}

/// A commit as bytes, for carrying it outside the store (cluster mode's replicated log):
/// an envelope like the store's values, `[format version u8][crc32 of the body][body]`,
/// whose body holds the commit's events and expectations. What the commit covers
/// ([`crate::NewCommit::covers`]) is not carried.
pub fn encode_commit(commit: &crate::NewCommit) -> Result<Vec<u8>, CodecError> {
    let body = CommitRef {
        events: &commit.events,
        expectations: &commit.expectations,
    };
    let mut out = Vec::new();
    begin_envelope(&mut out, FORMAT_VERSION);
    let encoded = bincode::serde::encode_to_vec(&body, config())
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    out.extend_from_slice(&encoded);
    end_envelope(&mut out);
    Ok(out)
}

/// The commit [`encode_commit`] made `bytes` of (covering nothing). Never panics on
/// arbitrary bytes.
pub fn decode_commit(bytes: &[u8]) -> Result<crate::NewCommit, CodecError> {
    if bytes.first().is_some_and(|v| *v != FORMAT_VERSION) {
        return Err(CodecError::UnknownVersion(bytes[0]));
    }
    let (_, body) = check_envelope(bytes)?;
    let (commit, used): (CommitOwned, usize) = bincode::serde::decode_from_slice(body, config())
        .map_err(|e| CodecError::Decode(e.to_string()))?;
    if used != body.len() {
        return Err(CodecError::Trailing(body.len() - used));
    }
    let mut out = crate::NewCommit::new(commit.events);
    out.expectations = commit.expectations;
    Ok(out)
}

/// Why a stored value does not encode or decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("value too short ({0} bytes)")]
    TooShort(usize),
    #[error("crc mismatch (stored {stored:08x}, computed {computed:08x})")]
    Crc { stored: u32, computed: u32 },
    #[error("unknown format version {0}")]
    UnknownVersion(u8),
    #[error("unknown chunk format version {0}")]
    UnknownChunkVersion(u8),
    /// The bincode decoder's reason.
    #[error("decode: {0}")]
    Decode(String),
    #[error("{0} trailing bytes after body")]
    Trailing(usize),
    /// A compressed chunk whose block does not expand to the length it claims.
    #[error("compressed chunk: {0}")]
    Compressed(String),
    /// The bincode encoder's reason.
    #[error("{0}")]
    Encode(String),
}

/// Encodes `value` into a fresh envelope.
pub(crate) fn seal<T: Encode>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64);
    seal_into(value, &mut out)?;
    Ok(out)
}

/// Encodes `value` into `out` (cleared first), reusing its allocation.
pub(crate) fn seal_into<T: Encode>(value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    seal_versioned(value, FORMAT_VERSION, out)
}

fn seal_versioned<T: Encode>(value: &T, version: u8, out: &mut Vec<u8>) -> Result<(), CodecError> {
    begin_envelope(out, version);
    bincode::encode_into_std_write(value, out, config())
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    end_envelope(out);
    Ok(())
}

/// Starts an envelope of format `version` in `out` (cleared first): the format byte and
/// room for the CRC, which [`end_envelope`] fills once the body follows.
fn begin_envelope(out: &mut Vec<u8>, version: u8) {
    out.clear();
    out.push(version);
    out.extend_from_slice(&[0u8; 4]);
}

/// Ends an envelope [`begin_envelope`] started: the CRC of the body written after it.
fn end_envelope(out: &mut [u8]) {
    let crc = crc32fast::hash(&out[HEADER_LEN..]);
    out[1..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
}

/// Builds a chunk envelope event by event, without collecting [`EventWire`]s first.
/// The body's bytes are those of a format-4 body (bincode encodes a `Vec` as its length
/// followed by the elements, and a struct as its fields in order).
#[derive(Debug, Default)]
pub(crate) struct ChunkBuilder {
    events: Vec<u8>,
    count: u64,
    /// The first event's time, from which the others' are stored as distances.
    recorded_base_ms: i64,
    /// The uncompressed body, reused from chunk to chunk of the builder's commit.
    plain: Vec<u8>,
    /// The compressed block, reused too: a block can take more than the body while it is
    /// written, and the chunk's own value is then allocated at its exact size.
    block: Vec<u8>,
}

impl ChunkBuilder {
    pub(crate) fn len(&self) -> usize {
        self.count as usize
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub(crate) fn push(&mut self, event: &EventWire<'_>) -> Result<(), CodecError> {
        if self.count == 0 {
            self.recorded_base_ms = event.recorded_at_ms;
        }
        let stored = EventWire {
            recorded_at_ms: event.recorded_at_ms.wrapping_sub(self.recorded_base_ms),
            ..*event
        };
        bincode::encode_into_std_write(stored, &mut self.events, config())
            .map_err(|e| CodecError::Encode(e.to_string()))?;
        self.count += 1;
        Ok(())
    }

    /// Writes the envelope of the chunk holding the pushed events into `out` (cleared
    /// first) and empties the builder: `[4][crc32 of the rest][body length: u32 LE][the body
    /// as one LZ4 block]`, where the body is a format-4 one ([`ChunkBodyV4`]).
    pub(crate) fn finish_into(
        &mut self,
        commit_first: u64,
        commit_last: u64,
        first_position: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        self.plain.clear();
        self.plain.reserve(5 * 9 + self.events.len());
        bincode::encode_into_std_write(
            (
                commit_first,
                commit_last,
                first_position,
                self.recorded_base_ms,
                self.count,
            ),
            &mut self.plain,
            config(),
        )
        .map_err(|e| CodecError::Encode(e.to_string()))?;
        self.plain.extend_from_slice(&self.events);
        let plain_len = u32::try_from(self.plain.len())
            .ok()
            .filter(|n| *n as usize <= CHUNK_PLAIN_BYTES_MAX)
            .ok_or_else(|| CodecError::Encode(format!("a chunk of {} bytes", self.plain.len())))?;
        self.block.resize(
            lz4_flex::block::get_maximum_output_size(self.plain.len()),
            0,
        );
        let compressed = lz4_flex::block::compress_into(&self.plain, &mut self.block)
            .map_err(|e| CodecError::Encode(e.to_string()))?;
        begin_envelope(out, CHUNK_FORMAT_VERSION);
        out.reserve_exact(4 + compressed);
        out.extend_from_slice(&plain_len.to_le_bytes());
        out.extend_from_slice(&self.block[..compressed]);
        end_envelope(out);
        self.events.clear();
        self.count = 0;
        Ok(())
    }
}

/// Seals `chunk` as format 2 stored it, its body uncompressed: how logs written before
/// chunks were compressed hold them (for tests that make such a log).
#[cfg(test)]
pub(crate) fn seal_plain_chunk(chunk: &ChunkWireV2<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    seal_versioned(chunk, CHUNK_PLAIN_FORMAT, &mut out).expect("a chunk encodes");
    out
}

/// `chunk` as formats 2 and 3 held it, every content hash in full (for tests that make
/// such a log).
#[cfg(test)]
pub(crate) fn to_v2<'a>(chunk: &ChunkWire<'a>) -> ChunkWireV2<'a> {
    ChunkWireV2 {
        commit_first: chunk.commit_first,
        commit_last: chunk.commit_last,
        first_position: chunk.first_position,
        events: chunk
            .events
            .iter()
            .map(|e| EventWireV2 {
                stream: e.stream,
                stream_version: e.stream_version,
                event_type: e.event_type,
                recorded_at_ms: e.recorded_at_ms,
                payload: e.payload,
                key: e.key.map(|k| EventKeyWireV2 {
                    namespace: k.namespace,
                    key: k.key,
                    content_hash: e.content_hash().expect("a key"),
                }),
            })
            .collect(),
    }
}

/// Seals a key-index block of `entries`, in the order given, as format 1 stored it: 16
/// fixed bytes an entry (for tests that make such a log).
#[cfg(test)]
pub(crate) fn seal_format_1_key_block(entries: &[(u64, u64)]) -> Vec<u8> {
    let fixed: Vec<u8> = entries
        .iter()
        .flat_map(|(h, p)| h.to_be_bytes().into_iter().chain(p.to_be_bytes()))
        .collect();
    seal(&KeyBlockWire { entries: &fixed }).expect("a format-1 block seals")
}

/// Seals `chunk` as format 3 stored it: a format-2 body compressed as one LZ4 block (for
/// tests that make such a log).
#[cfg(test)]
pub(crate) fn seal_v3_chunk(chunk: &ChunkWireV2<'_>) -> Vec<u8> {
    let plain = seal_plain_chunk(chunk);
    let body = &plain[HEADER_LEN..];
    let mut out = Vec::new();
    begin_envelope(&mut out, CHUNK_V2_COMPRESSED_FORMAT);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&lz4_flex::block::compress(body));
    end_envelope(&mut out);
    out
}

/// Checks the envelope's CRC; returns its format byte and body. Never panics.
fn check_envelope(bytes: &[u8]) -> Result<(u8, &[u8]), CodecError> {
    if bytes.len() < HEADER_LEN {
        return Err(CodecError::TooShort(bytes.len()));
    }
    let mut crc_bytes = [0u8; 4];
    crc_bytes.copy_from_slice(&bytes[1..HEADER_LEN]);
    let stored = u32::from_le_bytes(crc_bytes);
    let body = &bytes[HEADER_LEN..];
    let actual = crc32fast::hash(body);
    if stored != actual {
        return Err(CodecError::Crc {
            stored,
            computed: actual,
        });
    }
    Ok((bytes[0], body))
}

fn decode_body<'a, T: BorrowDecode<'a, ()>>(body: &'a [u8]) -> Result<T, CodecError> {
    let (value, used) = bincode::borrow_decode_from_slice(body, config())
        .map_err(|e| CodecError::Decode(e.to_string()))?;
    if used != body.len() {
        return Err(CodecError::Trailing(body.len().saturating_sub(used)));
    }
    Ok(value)
}

/// Checks the envelope and decodes its body. Never panics on arbitrary bytes.
pub(crate) fn open_envelope<'a, T: BorrowDecode<'a, ()>>(bytes: &'a [u8]) -> Result<T, CodecError> {
    if bytes.first().is_some_and(|v| *v != FORMAT_VERSION) {
        return Err(CodecError::UnknownVersion(bytes[0]));
    }
    let (_, body) = check_envelope(bytes)?;
    decode_body(body)
}

/// Checks a chunk envelope of any format and decodes it, expanding a compressed body into
/// `plain` (cleared first) and borrowing from it; the others borrow from `bytes`. Never
/// panics on arbitrary bytes.
pub(crate) fn open_chunk<'a>(
    bytes: &'a [u8],
    plain: &'a mut Vec<u8>,
) -> Result<ChunkWire<'a>, CodecError> {
    match bytes.first() {
        None => Err(CodecError::TooShort(0)),
        Some(&CHUNK_FORMAT_VERSION) => {
            expand(check_envelope(bytes)?.1, plain)?;
            let body: ChunkBodyV4<'_> = decode_body(plain)?;
            let mut events = body.events;
            for event in &mut events {
                event.recorded_at_ms = body.recorded_base_ms.wrapping_add(event.recorded_at_ms);
            }
            Ok(ChunkWire {
                commit_first: body.commit_first,
                commit_last: body.commit_last,
                first_position: body.first_position,
                events,
            })
        }
        Some(&CHUNK_V2_COMPRESSED_FORMAT) => {
            expand(check_envelope(bytes)?.1, plain)?;
            decode_body::<ChunkWireV2<'_>>(plain).map(ChunkWire::from)
        }
        Some(&CHUNK_PLAIN_FORMAT) => {
            decode_body::<ChunkWireV2<'_>>(check_envelope(bytes)?.1).map(ChunkWire::from)
        }
        Some(1) => decode_format_1(check_envelope(bytes)?.1),
        Some(other) => Err(CodecError::UnknownChunkVersion(*other)),
    }
}

/// Expands a compressed chunk's body (`[length: u32 LE][LZ4 block]`) into `plain`.
fn expand(body: &[u8], plain: &mut Vec<u8>) -> Result<(), CodecError> {
    let Some((len, block)) = body.split_first_chunk::<4>() else {
        return Err(CodecError::TooShort(body.len() + HEADER_LEN));
    };
    let len = u32::from_le_bytes(*len) as usize;
    if len > CHUNK_PLAIN_BYTES_MAX {
        return Err(CodecError::Compressed(format!(
            "claims {len} bytes, more than a chunk holds"
        )));
    }
    if len
        > block
            .len()
            .saturating_mul(LZ4_EXPANSION_MAX)
            .saturating_add(64)
    {
        return Err(CodecError::Compressed(format!(
            "claims {len} bytes from a block of {}, more than it can expand to",
            block.len()
        )));
    }
    plain.clear();
    plain.resize(len, 0);
    match lz4_flex::block::decompress_into(block, plain) {
        Ok(n) if n == len => Ok(()),
        Ok(n) => Err(CodecError::Compressed(format!(
            "expands to {n} bytes, not the {len} it claims"
        ))),
        Err(e) => Err(CodecError::Compressed(e.to_string())),
    }
}

/// Decodes a format-1 chunk's body: its events carry no natural key.
fn decode_format_1(body: &[u8]) -> Result<ChunkWire<'_>, CodecError> {
    let old: ChunkWireV1<'_> = decode_body(body)?;
    Ok(ChunkWire {
        commit_first: old.commit_first,
        commit_last: old.commit_last,
        first_position: old.first_position,
        events: old
            .events
            .into_iter()
            .map(|e| EventWire {
                stream: e.stream,
                stream_version: e.stream_version,
                event_type: e.event_type,
                recorded_at_ms: e.recorded_at_ms,
                payload: e.payload,
                key: None,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_len_is_what_the_codec_writes() {
        for n in [
            0,
            1,
            250,
            251,
            0xFFFF,
            0x1_0000,
            0xFFFF_FFFF,
            0x1_0000_0000,
            u64::MAX,
        ] {
            let sealed = seal(&HeadsWire {
                position: n,
                streams: 7,
            })
            .expect("seal");
            assert_eq!(sealed.len(), HEADER_LEN + varint_len(n) + 1, "{n}");
        }
    }

    /// A key-index block comes back as it went in, whatever its hashes and positions; a
    /// format-1 block still reads; damage of any kind is refused, never a panic.
    #[test]
    fn key_blocks_round_trip_and_refuse_damage() {
        let mut spread: Vec<(u64, u64)> = (0..256u64)
            .map(|i| {
                (
                    i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                    (i * 7_919) % 98_000_000,
                )
            })
            .collect();
        spread.sort_unstable();
        let blocks: Vec<Vec<(u64, u64)>> = vec![
            vec![(0, 0)],
            vec![(u64::MAX, u64::MAX)],
            vec![(5, 1), (5, 9), (6, 2), (u64::MAX - 1, 0), (u64::MAX, 3)],
            spread.clone(),
        ];
        let mut out = Vec::new();
        for entries in &blocks {
            seal_key_block(entries, &mut out);
            assert_eq!(out[0], KEY_BLOCK_FORMAT);
            assert_eq!(&open_key_block(&out).expect("decode"), entries);
            for i in 0..out.len() {
                let mut bad = out.clone();
                bad[i] ^= 0x41;
                assert!(open_key_block(&bad).is_err(), "flip at {i}");
            }
            for cut in 0..out.len() {
                assert!(open_key_block(&out[..cut]).is_err(), "cut at {cut}");
            }
            // As format 1 stored it.
            let old = seal_format_1_key_block(entries);
            assert_eq!(&open_key_block(&old).expect("decode format 1"), entries);
        }
        // Blocks of entries out of order are refused, in either format: hashes going down,
        // a position going down under one hash, an entry repeated.
        for entries in [[(5u64, 0u64), (3, 0)], [(5, 9), (5, 1)], [(5, 1), (5, 1)]] {
            let old = seal_format_1_key_block(&entries);
            assert!(open_key_block(&old).is_err(), "{entries:?} as format 1");
        }
        for bytes in [[2u8, 5, 9, 0, 1], [2, 5, 1, 0, 1]] {
            let block = crate::fuzzing::envelope(&[&[KEY_BLOCK_FORMAT][..], &bytes[..]].concat());
            assert!(open_key_block(&block).is_err(), "{bytes:?} as format 2");
        }
        // 256 keys of a run of a hundred million, at positions below 2^27: the hash's
        // distance takes 6 bytes of LEB128 where the hash took 8, the position 4 where it
        // took 8.
        let mut big: Vec<(u64, u64)> = (0..256u64)
            .map(|i| {
                (
                    (1 << 62) + i * (1 << 37) + (i * i % 1000),
                    (i * 524_287) % (1 << 27),
                )
            })
            .collect();
        big.sort_unstable();
        seal_key_block(&big, &mut out);
        assert!(
            out.len() <= HEADER_LEN + 2 + 8 + 4 + 255 * 10,
            "{} bytes",
            out.len()
        );
        assert!(out.len() < 256 * 16 * 2 / 3, "{} bytes", out.len());
        // Bodies that are no block, each with a right CRC.
        let body =
            |bytes: &[u8]| crate::fuzzing::envelope(&[&[KEY_BLOCK_FORMAT][..], bytes].concat());
        let eleven = [0xff; 11];
        for (bytes, what) in [
            (&[0u8][..], "no entries"),
            (&[3, 1, 1][..], "more entries than bytes"),
            (&[2, 1, 1, 1][..], "an entry cut short"),
            (&[1, 1, 1, 0][..], "a byte left over"),
            (
                &[
                    1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0,
                ][..],
                "a varint beyond 64 bits",
            ),
            (&eleven[..], "a varint that never ends"),
            (
                &[
                    2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 1, 0,
                ][..],
                "hashes that add up beyond 64 bits",
            ),
            (
                &[0xff, 0xff, 0xff, 0xff, 0x0f][..],
                "a count beyond any block",
            ),
        ] {
            assert!(open_key_block(&body(bytes)).is_err(), "{what}");
        }
        // The largest hash, as one distance: 64 bits in ten bytes.
        assert_eq!(
            open_key_block(&body(&[
                1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 7
            ]))
            .expect("decode"),
            vec![(u64::MAX, 7)]
        );
    }

    #[test]
    fn each_fault_of_a_stored_value_has_its_own_kind() {
        let sealed = seal(&CheckpointWire { position: 42 }).expect("encode");
        let back: CheckpointWire = open_envelope(&sealed).expect("decode");
        assert_eq!(back.position, 42);
        assert_eq!(
            open_envelope::<CheckpointWire>(&sealed[..3]).err(),
            Some(CodecError::TooShort(3))
        );
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(matches!(
            open_envelope::<CheckpointWire>(&flipped),
            Err(CodecError::Crc { .. })
        ));
        let mut other_version = sealed.clone();
        other_version[0] = 99;
        assert_eq!(
            open_envelope::<CheckpointWire>(&other_version).err(),
            Some(CodecError::UnknownVersion(99))
        );
        let mut plain = Vec::new();
        assert_eq!(
            open_chunk(&[], &mut plain).err(),
            Some(CodecError::TooShort(0))
        );
        assert_eq!(
            open_chunk(&[77, 0, 0, 0, 0], &mut plain).err(),
            Some(CodecError::UnknownChunkVersion(77))
        );
    }

    use super::seal_plain_chunk as seal_chunk;

    /// A chunk as this version writes it: compressed.
    fn build_chunk(chunk: &ChunkWire<'_>) -> Vec<u8> {
        let mut builder = ChunkBuilder::default();
        for event in &chunk.events {
            builder.push(event).expect("push");
        }
        let mut out = Vec::new();
        builder
            .finish_into(
                chunk.commit_first,
                chunk.commit_last,
                chunk.first_position,
                &mut out,
            )
            .expect("finish");
        out
    }

    /// Seals `body` as a format-3 envelope with a correct CRC.
    fn compressed_envelope(body: &[u8]) -> Vec<u8> {
        crate::fuzzing::envelope(&[&[CHUNK_FORMAT_VERSION][..], body].concat())
    }

    /// `chunk` with every content hash spelled out, as formats 2 and 3 decode.
    fn hashes_in_full<'a>(chunk: &ChunkWire<'a>) -> ChunkWire<'a> {
        ChunkWire::from(to_v2(chunk))
    }

    #[test]
    fn chunk_round_trip_and_damage_detected() {
        let chunk = ChunkWire {
            commit_first: 5,
            commit_last: 6,
            first_position: 5,
            events: vec![
                EventWire {
                    stream: "s",
                    stream_version: 1,
                    event_type: "t",
                    recorded_at_ms: -3,
                    payload: b"hello",
                    key: Some(EventKeyWire {
                        namespace: "receipt",
                        key: "R-1",
                        content_hash: Some(u64::MAX - 3),
                    }),
                },
                EventWire {
                    stream: "s",
                    stream_version: 2,
                    event_type: "t",
                    recorded_at_ms: 1_750_000_000_000,
                    payload: b"again",
                    key: Some(EventKeyWire {
                        namespace: "receipt",
                        key: "R-2",
                        content_hash: None,
                    }),
                },
            ],
        };
        assert_eq!(chunk.events[1].content_hash(), Some(payload_hash(b"again")));
        let mut plain = Vec::new();
        for (bytes, expected) in [
            (build_chunk(&chunk), chunk.clone()),
            (seal_chunk(&to_v2(&chunk)), hashes_in_full(&chunk)),
            (seal_v3_chunk(&to_v2(&chunk)), hashes_in_full(&chunk)),
        ] {
            let back = open_chunk(&bytes, &mut plain).expect("decode");
            assert_eq!(back, expected);
            // Either way, each event's key has the same content hash.
            let hashes = |c: &ChunkWire<'_>| -> Vec<_> {
                c.events.iter().map(|e| e.content_hash()).collect()
            };
            assert_eq!(hashes(&back), hashes(&chunk));
            for i in 0..bytes.len() {
                let mut bad = bytes.clone();
                bad[i] ^= 0x41;
                assert!(open_chunk(&bad, &mut plain).is_err(), "flip at {i}");
            }
            assert!(open_chunk(&bytes[..3], &mut plain).is_err());
        }
        assert_eq!(build_chunk(&chunk)[0], 4);
        assert_eq!(seal_v3_chunk(&to_v2(&chunk))[0], 3);
        assert_eq!(seal_chunk(&to_v2(&chunk))[0], 2);
    }

    /// What format 4 saves on each event, against format 3: the time (eight bytes of nine
    /// when the event shares its chunk's first time) and a content hash the payload tells
    /// (nine bytes of ten); the chunk spends up to nine on its first time.
    #[test]
    fn a_format_4_body_stores_shared_times_and_payload_hashes_in_a_byte() {
        let payloads: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 50]).collect();
        let keys: Vec<String> = (0..40).map(|i| format!("UK{i:08}:2026-03")).collect();
        let chunk = ChunkWire {
            commit_first: 100,
            commit_last: 139,
            first_position: 100,
            events: (0..40)
                .map(|i| EventWire {
                    stream: &keys[i][..10],
                    stream_version: 3,
                    event_type: "bill_issued",
                    recorded_at_ms: 1_796_544_236_322,
                    payload: &payloads[i],
                    key: Some(EventKeyWire {
                        namespace: "bill",
                        key: &keys[i],
                        content_hash: None,
                    }),
                })
                .collect(),
        };
        let built = build_chunk(&chunk);
        let mut plain_v4 = Vec::new();
        let back = open_chunk(&built, &mut plain_v4).expect("decode");
        assert_eq!(back, chunk);
        let v2 = seal_chunk(&to_v2(&chunk));
        let plain_v2 = &v2[HEADER_LEN..];
        assert_eq!(plain_v4.len() + 16 * 40 - 9, plain_v2.len());
    }

    #[test]
    fn a_compressed_chunk_that_does_not_expand_as_it_claims_is_refused() {
        let chunk = ChunkWire {
            commit_first: 1,
            commit_last: 1,
            first_position: 1,
            events: vec![EventWire {
                stream: "consumer-UK0001",
                stream_version: 1,
                event_type: "bill_issued",
                recorded_at_ms: 1_750_000_000_000,
                payload: &[7; 300],
                key: None,
            }],
        };
        let built = build_chunk(&chunk);
        let body = &built[HEADER_LEN..];
        let claimed = u32::from_le_bytes(body[..4].try_into().expect("4 bytes"));
        // The events repeat, so the block is shorter than what it expands to.
        assert!(body.len() < claimed as usize, "{} >= {claimed}", body.len());
        let mut plain = Vec::new();
        let with_length = |len: u32| {
            let mut b = len.to_le_bytes().to_vec();
            b.extend_from_slice(&body[4..]);
            compressed_envelope(&b)
        };
        for len in [claimed - 1, claimed + 1, 0] {
            assert!(
                matches!(
                    open_chunk(&with_length(len), &mut plain),
                    Err(CodecError::Compressed(_))
                ),
                "claimed {len}"
            );
        }
        // A length beyond any chunk is refused before anything is allocated.
        plain = Vec::new();
        assert!(matches!(
            open_chunk(&with_length(u32::MAX), &mut plain),
            Err(CodecError::Compressed(_))
        ));
        assert_eq!(plain.capacity(), 0);
        // A short block claiming more than any block of its size expands to: refused before
        // anything is allocated.
        let mut empty = Vec::new();
        assert!(matches!(
            open_chunk(
                &compressed_envelope(&[0, 0, 0, 2, 0x1f, 0xff, 0xff, 0xff, 0xff, 0]),
                &mut empty
            ),
            Err(CodecError::Compressed(_))
        ));
        assert_eq!(empty.capacity(), 0);
        // Too short to hold a length; a block that is no LZ4 block.
        assert!(open_chunk(&compressed_envelope(&[1, 0]), &mut plain).is_err());
        assert!(open_chunk(&compressed_envelope(&[9, 0, 0, 0, 0xff, 0xff]), &mut plain).is_err());
        // The right length decodes.
        assert_eq!(
            open_chunk(&with_length(claimed), &mut plain).expect("decode"),
            chunk
        );
    }

    /// The biggest event the store takes, alone in its chunk: a payload of
    /// `PAYLOAD_BYTES_MAX` and four names of `NAME_BYTES_MAX`, its payload incompressible
    /// (the block outgrows the body) or all zeros (LZ4's highest ratio).
    #[test]
    fn the_biggest_event_round_trips_compressible_or_not() {
        let name = "n".repeat(crate::NAME_BYTES_MAX);
        let mut noise = vec![0u8; crate::PAYLOAD_BYTES_MAX];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for b in &mut noise {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let zeros = vec![0u8; crate::PAYLOAD_BYTES_MAX];
        let mut plain = Vec::new();
        for payload in [&noise, &zeros] {
            let chunk = ChunkWire {
                commit_first: 1,
                commit_last: 1,
                first_position: 1,
                events: vec![EventWire {
                    stream: &name,
                    stream_version: 1,
                    event_type: &name,
                    recorded_at_ms: 0,
                    payload,
                    key: Some(EventKeyWire {
                        namespace: &name,
                        key: &name,
                        content_hash: Some(1),
                    }),
                }],
            };
            let built = build_chunk(&chunk);
            assert_eq!(open_chunk(&built, &mut plain).expect("decode"), chunk);
            assert!(plain.len() > crate::PAYLOAD_BYTES_MAX);
        }
    }

    #[test]
    fn format_1_chunks_still_decode_without_keys() {
        let old = ChunkWireV1 {
            commit_first: 7,
            commit_last: 9,
            first_position: 8,
            events: vec![EventWireV1 {
                stream: "consumer-1",
                stream_version: 4,
                event_type: "bill_issued",
                recorded_at_ms: 1_700_000_000_000,
                payload: b"old",
            }],
        };
        let bytes = seal(&old).expect("encode");
        assert_eq!(bytes[0], 1);
        let mut plain = Vec::new();
        let back = open_chunk(&bytes, &mut plain).expect("decode");
        assert_eq!(
            (back.commit_first, back.commit_last, back.first_position),
            (7, 9, 8)
        );
        assert_eq!(
            back.events,
            vec![EventWire {
                stream: "consumer-1",
                stream_version: 4,
                event_type: "bill_issued",
                recorded_at_ms: 1_700_000_000_000,
                payload: b"old",
                key: None,
            }]
        );
        // A format-2 body is not a format-1 chunk, whatever its CRC says, nor a format-3 or
        // format-4 one.
        let mut relabelled = seal_chunk(&to_v2(&back));
        let mut scratch = Vec::new();
        for format in [1, 3, 4] {
            relabelled[0] = format;
            assert!(open_chunk(&relabelled, &mut scratch).is_err(), "{format}");
        }
        // Other envelopes do not accept the chunk format.
        assert!(open_envelope::<CheckpointWire>(&seal_chunk(&to_v2(&back))).is_err());
    }

    #[test]
    fn chunk_builder_matches_chunk_wire() {
        let payloads: Vec<Vec<u8>> = (0..300usize)
            .map(|i| vec![(i % 251) as u8; (i * 37) % 700])
            .collect();
        let streams: Vec<String> = (0..300usize).map(|i| format!("s-{}", i * i)).collect();
        let events: Vec<EventWire<'_>> = (0..300usize)
            .map(|i| EventWire {
                stream: &streams[i],
                stream_version: (i as u64) << (i % 60),
                event_type: if i % 2 == 0 { "A" } else { "SomethingLonger" },
                // Times far apart both ways: a distance that wraps still comes back.
                recorded_at_ms: match i % 5 {
                    0 => -(i as i64),
                    1 => i64::MIN + i as i64,
                    2 => i64::MAX - i as i64,
                    _ => (i as i64) << 40,
                },
                payload: &payloads[i],
                key: (i % 3 != 1).then(|| EventKeyWire {
                    namespace: "ns",
                    key: &streams[(i * 7) % 300],
                    content_hash: (i % 2 == 0)
                        .then(|| (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                }),
            })
            .collect();
        let mut builder = ChunkBuilder::default();
        let mut out = Vec::new();
        for (n, from) in [
            (1usize, 0usize),
            (2, 1),
            (250, 2),
            (251, 3),
            (300, 0),
            (5, 7),
        ] {
            for ev in &events[from..from + n.min(300 - from)] {
                builder.push(ev).expect("push");
            }
            assert_eq!(builder.len(), n.min(300 - from));
            builder
                .finish_into(1 << 33, (1 << 33) + 70_000, 300, &mut out)
                .expect("finish");
            assert!(builder.is_empty());
            let (format, _) = check_envelope(&out).expect("envelope");
            assert_eq!(format, CHUNK_FORMAT_VERSION);
            let mut plain = Vec::new();
            let back = open_chunk(&out, &mut plain).expect("decode");
            assert_eq!(
                back,
                ChunkWire {
                    commit_first: 1 << 33,
                    commit_last: (1 << 33) + 70_000,
                    first_position: 300,
                    events: events[from..from + n.min(300 - from)].to_vec(),
                },
                "{n} events from {from}"
            );
        }
    }
}
