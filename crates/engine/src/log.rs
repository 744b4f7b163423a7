//! The log as a whole: checking it (`vasooli verify`), writing it out as JSON Lines
//! (`export`) and loading such an export into an empty data directory (`restore`).

use crate::engine::{restore_events, Engine, EngineError};
use std::io::Write;
use std::path::Path;
use vasooli_domain::codec::decode_event;
use vasooli_domain::event::Event;
use vasooli_domain::Policy;
use vasooli_store::Store;

/// A sound log's figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogFigures {
    pub events: u64,
    pub commits: u64,
    pub last_position: u64,
}

/// Why the log is not sound: every problem the store found (position, reason), the first
/// first; or the first event that does not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsound {
    pub problems: Vec<(u64, String)>,
}

/// Checks the whole log of `dir` without opening it as a store (a damaged tail that stops
/// the store opening is still named): checksums, positions, versions, and that every event
/// decodes as an event.
pub fn verify_log(dir: &Path) -> Result<Result<LogFigures, Unsound>, EngineError> {
    let report = vasooli_store::verify_dir(dir)?;
    if !report.problems.is_empty() {
        let problems = report
            .problems
            .iter()
            .map(|p| (p.position, p.reason.clone()))
            .collect();
        return Ok(Err(Unsound { problems }));
    }
    // The store vouches for the envelopes; check every event also decodes as an event.
    let store = Store::open(dir)?;
    let mut events = 0u64;
    for recorded in store.read_all(1) {
        let recorded = recorded?;
        if let Err(e) = decode_event(&recorded.payload) {
            return Ok(Err(Unsound {
                problems: vec![(recorded.position, e.to_string())],
            }));
        }
        events += 1;
    }
    Ok(Ok(LogFigures {
        events,
        commits: report.commits,
        last_position: report.last_position,
    }))
}

/// Writes the whole log of `dir` to `out`, one event a line in position order; the same log
/// exports byte for byte the same. Returns how many events.
pub fn export_log(dir: &Path, out: &mut dyn Write) -> Result<u64, EngineError> {
    let store = Store::open(dir)?;
    export_store(&store, u64::MAX, out)
}

/// [`export_log`] of an open store, up to position `upto` (a cluster snapshot: the events
/// its covered sequence reflects).
pub fn export_store(store: &Store, upto: u64, out: &mut dyn Write) -> Result<u64, EngineError> {
    let mut count = 0u64;
    let io = |e: std::io::Error| EngineError::Store(e.into());
    for recorded in store.read_all(1) {
        let recorded = recorded?;
        if recorded.position > upto {
            break;
        }
        let event = decode_event(&recorded.payload)
            .map_err(|e| EngineError::Corrupt(format!("position {}: {e}", recorded.position)))?;
        let line = serde_json::json!({
            "position": recorded.position,
            "stream": recorded.stream,
            "stream_version": recorded.stream_version,
            "recorded_at_ms": recorded.recorded_at_ms,
            "event": event,
        });
        serde_json::to_writer(&mut *out, &line).map_err(|e| io(e.into()))?;
        out.write_all(b"\n").map_err(io)?;
        count += 1;
    }
    out.flush().map_err(io)?;
    Ok(count)
}

/// Reads an export (`name` for the messages): each event with its recorded time, or every
/// problem found (`NAME:LINE: reason`, at most about 1,000).
pub fn parse_export(
    name: &str,
    input: impl std::io::BufRead,
) -> Result<Vec<(Event, i64)>, Vec<String>> {
    use serde_json::Value;
    let mut events: Vec<(Event, i64)> = Vec::new();
    let mut errors = Vec::new();
    for (index, line) in input.lines().enumerate() {
        let line_no = index + 1;
        let line = line.map_err(|e| vec![format!("{name}:{line_no}: {e}")])?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str::<Value>(&line)
            .map_err(|e| format!("column {}: not valid JSON: {e}", e.column()))
            .and_then(|v| {
                let expected = events.len() as u64 + 1;
                if v.get("position").and_then(Value::as_u64) != Some(expected) {
                    return Err(format!("position: expected {expected}"));
                }
                let at = v
                    .get("recorded_at_ms")
                    .and_then(Value::as_i64)
                    .ok_or("recorded_at_ms: is required")?;
                let event: Event =
                    serde_json::from_value(v.get("event").cloned().unwrap_or(Value::Null))
                        .map_err(|e| format!("event: {e}"))?;
                Ok((event, at))
            });
        match parsed {
            Ok(e) => events.push(e),
            Err(reason) => {
                errors.push(format!("{name}:{line_no}: {reason}"));
                if errors.len() > 1000 {
                    break;
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(events)
    } else {
        Err(errors)
    }
}

/// Loads exported events (with their recorded times) into the empty data directory `dir`
/// and builds the projections from them.
pub fn restore_log(
    dir: &Path,
    policy: Policy,
    events: Vec<(Event, i64)>,
) -> Result<(), EngineError> {
    let store = Store::open(dir)?;
    if store.last_position() != 0 {
        return Err(EngineError::Usage(format!(
            "{} is not empty; restore loads into an empty data directory",
            dir.display()
        )));
    }
    restore_events(&store, events)?;
    let mut engine = Engine::with_store(store, policy)?;
    engine.rebuild()?;
    Ok(())
}

/// A running checksum of a log's events (position, stream, recorded time, payload), in
/// position order, with the last position it covers. The demo records it in the directory
/// it makes, so that a later demo can tell whether anything else was written there since.
#[derive(Clone, Debug, Default)]
pub struct LogDigest {
    hasher: crc32fast::Hasher,
    position: u64,
}

impl LogDigest {
    /// The digest of the whole log of `store`.
    pub fn of(store: &Store) -> Result<LogDigest, EngineError> {
        let mut digest = LogDigest::default();
        digest.update(store)?;
        Ok(digest)
    }

    /// Takes in the events appended to `store` since the digest's last position.
    pub fn update(&mut self, store: &Store) -> Result<(), EngineError> {
        for recorded in store.read_all(self.position + 1) {
            let recorded = recorded?;
            debug_assert_eq!(
                recorded.position,
                self.position + 1,
                "positions are gap-free"
            );
            self.hasher.update(&recorded.position.to_be_bytes());
            self.hasher.update(recorded.stream.as_bytes());
            self.hasher.update(&recorded.recorded_at_ms.to_be_bytes());
            self.hasher
                .update(&(recorded.payload.len() as u64).to_be_bytes());
            self.hasher.update(&recorded.payload);
            self.position = recorded.position;
        }
        Ok(())
    }

    /// How many events the digest covers (the log's last position when it was taken).
    pub fn events(&self) -> u64 {
        self.position
    }

    /// The checksum of those events.
    pub fn checksum(&self) -> u32 {
        self.hasher.clone().finalize()
    }
}
