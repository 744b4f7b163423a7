//! Properties checked on arbitrary stored values, shared by the fuzz targets in `fuzz/` and
//! the replay test that runs every committed corpus file under `cargo test`. The input is an
//! envelope whose CRC this module fixes first (a value with a wrong CRC is refused before
//! decoding, which would hide the decoder from the fuzzer).

use crate::codec::{
    self, CheckpointWire, ChunkBuilder, HeadBlockWire, HeadsWire, ListBlockWire, NameBlockWire,
    StreamWire,
};
use crate::heads;
use crate::read::decode_chunk;

/// Makes `bytes` an envelope with a correct CRC: its first byte is the format, the rest the
/// body.
pub(crate) fn envelope(bytes: &[u8]) -> Vec<u8> {
    let Some((&format, body)) = bytes.split_first() else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(format);
    out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// A stored chunk: one that decodes is rebuilt event by event into bytes that decode to the
/// same chunk; it is accepted under its own first position exactly when it holds events.
pub fn chunk(bytes: &[u8]) {
    let value = envelope(bytes);
    let mut plain = Vec::new();
    let Ok(chunk) = codec::open_chunk(&value, &mut plain) else {
        return;
    };
    let mut builder = ChunkBuilder::default();
    for event in &chunk.events {
        builder.push(event).expect("a decoded event encodes");
    }
    let mut again = Vec::new();
    builder
        .finish_into(
            chunk.commit_first,
            chunk.commit_last,
            chunk.first_position,
            &mut again,
        )
        .expect("a decoded chunk encodes");
    let mut plain_again = Vec::new();
    let back = codec::open_chunk(&again, &mut plain_again).expect("a rebuilt chunk decodes");
    assert_eq!(chunk, back, "decode(encode(chunk)) differs");
    let mut scratch = Vec::new();
    assert_eq!(
        decode_chunk(chunk.first_position, &value, &mut scratch).is_ok(),
        !chunk.events.is_empty(),
        "a chunk under its own position"
    );
    if chunk.first_position != u64::MAX {
        assert!(decode_chunk(chunk.first_position + 1, &value, &mut scratch).is_err());
    }
}

/// The stream heads' parts: the markers, a head block's versions, names and chunk lists,
/// and a stream head of the older layout. Each that decodes seals to bytes that decode to
/// the same value; the first input byte picks which. And the key index's blocks, of either
/// format: one that decodes seals to a block of the current format with the same entries.
pub fn checkpoint(bytes: &[u8]) {
    let Some((&pick, rest)) = bytes.split_first() else {
        return;
    };
    let value = envelope(rest);
    if let Ok(entries) = codec::open_key_block(&value) {
        let mut sealed = Vec::new();
        codec::seal_key_block(&entries, &mut sealed);
        assert_eq!(
            codec::open_key_block(&sealed).expect("a sealed block decodes"),
            entries
        );
    }
    /// A value that decodes seals to bytes that decode to the same value.
    macro_rules! round_trip {
        ($wire:ty) => {
            if let Ok(decoded) = codec::open_envelope::<$wire>(&value) {
                let sealed = codec::seal(&decoded).expect("a decoded value encodes");
                let back: $wire = codec::open_envelope(&sealed).expect("decodes");
                assert_eq!(decoded, back);
            }
        };
    }
    match pick % 6 {
        0 => round_trip!(CheckpointWire),
        1 => round_trip!(StreamWire),
        2 => round_trip!(HeadsWire),
        3 => round_trip!(HeadBlockWire),
        4 => round_trip!(NameBlockWire<'_>),
        _ => {
            round_trip!(ListBlockWire);
            if let Ok(lists) = codec::open_envelope::<ListBlockWire>(&value) {
                // A list's chunks, stored again, read back the same.
                for list in &lists.streams {
                    if let Some(chunks) = heads::list_chunks(list) {
                        let again = heads::list_wire(list.slot, &chunks).expect("not empty");
                        assert_eq!(&again, list);
                    }
                }
            }
        }
    }
}
