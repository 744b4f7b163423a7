//! A commit as stored in the replicated log.
//!
//! Every entry is `[format version: u8][crc32 of the body: u32 LE][body]`, like the
//! store's own values; the body is the 16-byte commit id followed by the commit as the
//! store encodes it for carrying ([`vasooli_store::encode_commit`]: its events and
//! expectations, in an envelope of its own). What a commit covers locally
//! ([`NewCommit::covers`]) is not part of it: a replica sets it to the entry's sequence
//! when applying.

use vasooli_store::{CodecError, NewCommit};

/// Format of the entries this version writes.
pub const ENVELOPE_VERSION: u8 = 1;

/// Header: the format byte and the CRC.
const HEADER_LEN: usize = 5;

/// Names a commit in the log: the `Nats-Msg-Id` it is appended with, so that a retried
/// append is not stored twice.
pub type CommitId = [u8; 16];

/// A fresh random commit id.
pub fn new_commit_id() -> CommitId {
    rand::random()
}

/// The id as 32 lowercase hex digits (its `Nats-Msg-Id`).
pub fn commit_id_hex(id: &CommitId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why an entry does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("entry too short ({0} bytes)")]
    TooShort(usize),
    #[error("unknown entry format {0}")]
    UnknownVersion(u8),
    #[error("crc mismatch (stored {stored:08x}, computed {computed:08x})")]
    Crc { stored: u32, computed: u32 },
    #[error("commit: {0}")]
    Commit(#[from] CodecError),
}

/// The log entry of `commit` named `id`.
pub fn encode(id: &CommitId, commit: &NewCommit) -> Result<Vec<u8>, EnvelopeError> {
    let encoded = vasooli_store::encode_commit(commit)?;
    let mut out = Vec::with_capacity(HEADER_LEN + id.len() + encoded.len());
    out.extend_from_slice(&[ENVELOPE_VERSION, 0, 0, 0, 0]);
    out.extend_from_slice(id);
    out.extend_from_slice(&encoded);
    let crc = crc32fast::hash(&out[HEADER_LEN..]);
    out[1..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// The commit id and commit of a log entry (the commit covers nothing yet).
pub fn decode(bytes: &[u8]) -> Result<(CommitId, NewCommit), EnvelopeError> {
    if bytes.first().is_some_and(|v| *v != ENVELOPE_VERSION) {
        return Err(EnvelopeError::UnknownVersion(bytes[0]));
    }
    if bytes.len() < HEADER_LEN + 16 {
        return Err(EnvelopeError::TooShort(bytes.len()));
    }
    let stored = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    let computed = crc32fast::hash(&bytes[HEADER_LEN..]);
    if stored != computed {
        return Err(EnvelopeError::Crc { stored, computed });
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&bytes[HEADER_LEN..HEADER_LEN + 16]);
    let commit = vasooli_store::decode_commit(&bytes[HEADER_LEN + 16..])?;
    Ok((id, commit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vasooli_store::{ExpectedVersion, NewEvent};

    fn sample() -> NewCommit {
        NewCommit::new(vec![
            NewEvent::new(
                "consumer-1",
                "Billed",
                b"{\"amount\":10}".to_vec(),
                1_700_000_000_000,
            ),
            NewEvent::new("consumer-2", "Paid", vec![0, 1, 2, 255], -5)
                .with_key("receipt", "R-1", 42),
        ])
        .expect("consumer-1", ExpectedVersion::Exact(3))
        .expect("consumer-2", ExpectedVersion::NoStream)
    }

    #[test]
    fn an_entry_decodes_to_the_commit_it_was_made_of_without_what_it_covers() {
        let id = new_commit_id();
        let commit = sample().covering(99);
        let bytes = encode(&id, &commit).expect("encode");
        assert_eq!(bytes[0], ENVELOPE_VERSION);
        let (read_id, read) = decode(&bytes).expect("decode");
        assert_eq!(read_id, id);
        assert_eq!(read.events, commit.events);
        assert_eq!(read.expectations, commit.expectations);
        assert_eq!(read.covers, None);
    }

    #[test]
    fn a_damaged_entry_is_refused_with_its_reason() {
        let bytes = encode(&[7; 16], &sample()).expect("encode");
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            let err = decode(&bad).expect_err("a flipped bit is noticed");
            if i == 0 {
                assert_eq!(err, EnvelopeError::UnknownVersion(bytes[0] ^ 0x40));
            } else {
                assert!(matches!(err, EnvelopeError::Crc { .. }), "byte {i}: {err}");
            }
        }
        assert!(matches!(
            decode(&bytes[..3]),
            Err(EnvelopeError::TooShort(3))
        ));
        // A body that is no commit, under a correct header, is refused by the store's codec.
        let mut other = bytes[..HEADER_LEN + 16].to_vec();
        other.extend_from_slice(&[9, 9, 9]);
        let crc = crc32fast::hash(&other[HEADER_LEN..]);
        other[1..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(decode(&other), Err(EnvelopeError::Commit(_))));
    }

    #[test]
    fn commit_ids_are_distinct_and_printed_as_hex() {
        let a = new_commit_id();
        let b = new_commit_id();
        assert_ne!(a, b);
        assert_eq!(commit_id_hex(&[0xab; 16]), "ab".repeat(16));
    }
}
