//! On-disk encoding of everything the store writes into sled.
//!
//! Every stored value is an envelope `[format version: u8][crc32 of the rest: u32 LE][body]`.
//! The body is currently encoded with bincode 2; this module is the only place that
//! names bincode, so the body codec can be replaced by bumping [`FORMAT_VERSION`] and
//! teaching [`open_envelope`] to dispatch on it, without touching the rest of the crate.
//!
//! Wire structs borrow their strings and payloads on decode so that scanning a chunk
//! (for `read_stream` filtering or `verify`) does not allocate per event.

use bincode::{BorrowDecode, Encode};

/// Format of every envelope written by this version of the crate.
pub(crate) const FORMAT_VERSION: u8 = 1;

/// Envelope header: one format byte plus a 4-byte CRC.
const HEADER_LEN: usize = 5;

/// Upper bound on bytes a single body may make the decoder claim (allocate).
/// It only guards against corrupt length prefixes turning into giant allocations;
/// legitimate chunks are far smaller (see `MAX_CHUNK_BYTES` and `MAX_PAYLOAD_BYTES`).
const DECODE_LIMIT_BYTES: usize = 256 * 1024 * 1024;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT_BYTES>()
}

/// One stored event inside a chunk. Its position is implicit: chunk first position + index.
#[derive(Debug, Clone, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct EventWire<'a> {
    pub stream: &'a str,
    pub stream_version: u64,
    pub event_type: &'a str,
    pub recorded_at_ms: i64,
    pub payload: &'a [u8],
}

/// One sled value of the log: a run of consecutive positions belonging to one commit.
/// A commit spans `commit_first..=commit_last`; big commits are split into several chunks,
/// all written in the same atomic batch.
#[derive(Debug, Clone, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct ChunkWire<'a> {
    pub commit_first: u64,
    pub commit_last: u64,
    pub first_position: u64,
    pub events: Vec<EventWire<'a>>,
}

/// Durable natural-key index entry.
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

/// Encodes `value` into a fresh envelope.
pub(crate) fn seal<T: Encode>(value: &T) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(64);
    seal_into(value, &mut out)?;
    Ok(out)
}

/// Encodes `value` into `out` (cleared first), reusing its allocation.
pub(crate) fn seal_into<T: Encode>(value: &T, out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&[0u8; 4]);
    bincode::encode_into_std_write(value, out, config()).map_err(|e| e.to_string())?;
    let crc = crc32fast::hash(&out[HEADER_LEN..]);
    out[1..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Builds a chunk envelope event by event, without collecting [`EventWire`]s first.
/// The bytes are exactly those of `seal(&ChunkWire { .. })` (bincode encodes a `Vec` as
/// its length followed by the elements, and a struct as its fields in order).
#[derive(Debug, Default)]
pub(crate) struct ChunkBuilder {
    events: Vec<u8>,
    count: u64,
}

impl ChunkBuilder {
    pub(crate) fn len(&self) -> usize {
        self.count as usize
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub(crate) fn push(&mut self, event: &EventWire<'_>) -> Result<(), String> {
        bincode::encode_into_std_write(event, &mut self.events, config())
            .map_err(|e| e.to_string())?;
        self.count += 1;
        Ok(())
    }

    /// Writes the envelope of the chunk holding the pushed events into `out` (cleared
    /// first) and empties the builder.
    pub(crate) fn finish_into(
        &mut self,
        commit_first: u64,
        commit_last: u64,
        first_position: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        out.clear();
        out.reserve(HEADER_LEN + 4 * 9 + self.events.len());
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&[0u8; 4]);
        bincode::encode_into_std_write(
            (commit_first, commit_last, first_position, self.count),
            out,
            config(),
        )
        .map_err(|e| e.to_string())?;
        out.extend_from_slice(&self.events);
        let crc = crc32fast::hash(&out[HEADER_LEN..]);
        out[1..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
        self.events.clear();
        self.count = 0;
        Ok(())
    }
}

/// Checks the envelope and decodes its body. Never panics on arbitrary bytes.
pub(crate) fn open_envelope<'a, T: BorrowDecode<'a, ()>>(bytes: &'a [u8]) -> Result<T, String> {
    if bytes.len() < HEADER_LEN {
        return Err(format!("value too short ({} bytes)", bytes.len()));
    }
    if bytes[0] != FORMAT_VERSION {
        return Err(format!("unknown format version {}", bytes[0]));
    }
    let mut crc_bytes = [0u8; 4];
    crc_bytes.copy_from_slice(&bytes[1..HEADER_LEN]);
    let stored = u32::from_le_bytes(crc_bytes);
    let body = &bytes[HEADER_LEN..];
    let actual = crc32fast::hash(body);
    if stored != actual {
        return Err(format!(
            "crc mismatch (stored {stored:08x}, computed {actual:08x})"
        ));
    }
    let (value, used) =
        bincode::borrow_decode_from_slice(body, config()).map_err(|e| format!("decode: {e}"))?;
    if used != body.len() {
        return Err(format!(
            "{} trailing bytes after body",
            body.len().saturating_sub(used)
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_round_trip_and_damage_detected() {
        let chunk = ChunkWire {
            commit_first: 5,
            commit_last: 6,
            first_position: 5,
            events: vec![EventWire {
                stream: "s",
                stream_version: 1,
                event_type: "t",
                recorded_at_ms: -3,
                payload: b"hello",
            }],
        };
        let bytes = seal(&chunk).expect("encode");
        let back: ChunkWire<'_> = open_envelope(&bytes).expect("decode");
        assert_eq!(back, chunk);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x41;
            assert!(open_envelope::<ChunkWire<'_>>(&bad).is_err(), "flip at {i}");
        }
        assert!(open_envelope::<ChunkWire<'_>>(&bytes[..3]).is_err());
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
                recorded_at_ms: if i % 3 == 0 {
                    -(i as i64)
                } else {
                    (i as i64) << 40
                },
                payload: &payloads[i],
            })
            .collect();
        let mut builder = ChunkBuilder::default();
        let mut out = Vec::new();
        for n in [1usize, 2, 250, 251, 300] {
            for ev in &events[..n] {
                builder.push(ev).expect("push");
            }
            assert_eq!(builder.len(), n);
            builder
                .finish_into(1 << 33, (1 << 33) + 70_000, 300, &mut out)
                .expect("finish");
            assert!(builder.is_empty());
            let expected = seal(&ChunkWire {
                commit_first: 1 << 33,
                commit_last: (1 << 33) + 70_000,
                first_position: 300,
                events: events[..n].to_vec(),
            })
            .expect("seal");
            assert_eq!(out, expected, "{n} events");
        }
    }
}
