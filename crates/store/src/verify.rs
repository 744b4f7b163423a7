//! Offline consistency check of the whole log and its indexes.
//!
//! Works only from the bytes in sled (never from in-memory state) and turns every kind of
//! damage into a [`Problem`]; decoding goes through the checked envelope, so arbitrary
//! garbage yields problems, not panics.

use serde::{Deserialize, Serialize};

use crate::codec::{self, ChunkWire, EventWire, KeyIndexWire, KeyWire, StreamWire};
use crate::fasthash::FastMap;
use crate::files::LogTree;
use crate::heads;
use crate::keyindex;
use crate::layout::{self, CHUNK_END};
use crate::read::{self, decode_chunk};
use crate::{StoreError, REPORTED_PROBLEMS_MAX};

/// One inconsistency found by `verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// First position of the bad chunk, or the position a bad record refers to.
    pub position: u64,
    pub reason: String,
}

/// Result of walking the store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub commits: u64,
    pub events: u64,
    /// Last position found in the log.
    pub last_position: u64,
    /// Problems in log order (log problems first, then index problems); capped at
    /// [`REPORTED_PROBLEMS_MAX`].
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, position: u64, reason: impl Into<String>) {
        if self.problems.len() < REPORTED_PROBLEMS_MAX {
            self.problems.push(Problem {
                position,
                reason: reason.into(),
            });
        }
    }
}

/// Walks the log tree. `expected_last` is the last position the open store believes in.
pub(crate) fn verify_tree(
    tree: &LogTree,
    expected_last: Option<u64>,
) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport::default();
    // The key index's manifest, read before the log so that the keys it covers are
    // already in the log when it is walked.
    let manifest_bytes = tree.get(layout::KEY_INDEX_KEY)?;
    let manifest = read_manifest(manifest_bytes.as_deref(), &mut report);
    let covered = manifest.as_ref().map_or(0, |m| m.covered);
    let walk = walk_log(tree, expected_last, covered, &mut report)?;
    let last = walk.next - 1;
    report.last_position = last;
    if let Some(expected) = expected_last {
        if expected != last {
            report.problem(
                expected.min(last) + 1,
                format!("store reports last position {expected}, log ends at {last}"),
            );
        }
    }

    // Index entries beyond the snapshot belong to appends still in flight; so does a
    // manifest covering them (its runs hold keys this walk did not see).
    let in_flight = |position: u64| expected_last.is_some_and(|cap| position > cap);
    if let (Some(manifest), false) = (&manifest, in_flight(covered)) {
        let found = check_key_runs(tree, manifest, last, walk.log_keys)?;
        // A run written or merged while this walked is not damage: check again then.
        if !found.is_empty() && tree.get(layout::KEY_INDEX_KEY)? == manifest_bytes {
            for p in found {
                report.problem(p.position, p.reason);
            }
        }
    }
    check_key_entries(tree, last, &in_flight, &mut report)?;
    let Some((checkpoint, streams)) = check_checkpoint(tree, last, &in_flight, &mut report)? else {
        // A checkpoint is being written concurrently: heads are ahead of the snapshot.
        return Ok(report);
    };
    check_stream_heads(tree, checkpoint, last, &walk.versions, &mut report)?;
    let marker = tree.get(layout::HEADS_KEY)?;
    let before = report.problems.len();
    check_head_blocks(
        tree,
        checkpoint,
        streams,
        last,
        &in_flight,
        &walk.versions,
        &mut report,
    )?;
    // A checkpoint written meanwhile (the marker moved, or the log grew since the walk)
    // leaves blocks ahead of what the walk saw: what they say cannot be checked here.
    if report.problems.len() > before
        && (tree.get(layout::HEADS_KEY)? != marker || read::last_position(tree)? != last)
    {
        report.problems.truncate(before);
    }
    Ok(report)
}

/// Decodes the key index's manifest; a damaged one is a problem and counts as absent.
fn read_manifest(bytes: Option<&[u8]>, report: &mut VerifyReport) -> Option<KeyIndexWire> {
    match bytes.map(codec::open_envelope::<KeyIndexWire>) {
        None => None,
        Some(Ok(m)) => Some(m),
        Some(Err(reason)) => {
            report.problem(0, format!("key index manifest: {reason}"));
            None
        }
    }
}

/// What the walk over the log's chunks carries from one chunk to the next.
struct LogWalk {
    /// Position the next chunk should start at.
    next: u64,
    /// After an undecodable chunk its length is unknown: take the next chunk's position as
    /// given instead of reporting a second, derived gap.
    resync: bool,
    /// After damage, versions of streams first seen later cannot be checked from 1.
    lenient: bool,
    /// (commit_first, commit_last) of the commit whose chunks are being walked.
    open_commit: Option<(u64, u64)>,
    /// Last version seen of each stream.
    versions: FastMap<String, u64>,
    /// Last position the key index's manifest covers.
    covered: u64,
    /// Keyed events the runs must hold: count and sum of fingerprints.
    log_keys: (u64, u64),
}

/// Walks every chunk of the log up to `expected_last`, reporting gaps, damaged chunks,
/// broken commits and stream versions out of order.
fn walk_log(
    tree: &LogTree,
    expected_last: Option<u64>,
    covered: u64,
    report: &mut VerifyReport,
) -> Result<LogWalk, StoreError> {
    let mut walk = LogWalk {
        next: 1,
        resync: false,
        lenient: false,
        open_commit: None,
        versions: FastMap::default(),
        covered,
        log_keys: (0, 0),
    };
    let start = layout::chunk_key(0);
    let (mut plain, mut read) = (Vec::new(), Vec::new());
    for item in tree.range(&start[..]..&CHUNK_END[..]) {
        let (key, value) = item?;
        let Some(position) = layout::chunk_key_position(&key) else {
            report.problem(walk.next, format!("malformed chunk key {:?}", &key[..]));
            continue;
        };
        if expected_last.is_some_and(|cap| position > cap) {
            // Written by an append that is still in flight; not part of this snapshot.
            break;
        }
        let value = match tree.chunk(position, &value, &mut read) {
            Ok(value) => value,
            Err(StoreError::Corrupt { position, reason }) => {
                // As a chunk that does not decode: the walk goes on from the next one.
                report.problem(position, reason);
                walk.resync = true;
                walk.lenient = true;
                walk.open_commit = None;
                continue;
            }
            Err(e) => return Err(e),
        };
        walk.chunk(position, value, &mut plain, report)?;
    }
    if let Some((first, last)) = walk.open_commit {
        report.problem(first, format!("commit {first}..={last} is incomplete"));
    }
    Ok(walk)
}

impl LogWalk {
    /// Checks one chunk stored under `position`.
    fn chunk(
        &mut self,
        position: u64,
        value: &[u8],
        plain: &mut Vec<u8>,
        report: &mut VerifyReport,
    ) -> Result<(), StoreError> {
        if self.resync {
            self.resync = false;
        } else if position != self.next {
            let next = self.next;
            report.problem(
                next,
                format!("log gap: expected position {next}, found {position}"),
            );
            self.lenient = true;
        }
        let chunk = match decode_chunk(position, value, plain) {
            Ok(chunk) => chunk,
            Err(StoreError::Corrupt { reason, .. }) => {
                report.problem(position, reason);
                self.resync = true;
                self.lenient = true;
                self.open_commit = None;
                return Ok(());
            }
            Err(other) => return Err(other),
        };
        let len = chunk.events.len() as u64;
        let chunk_last = position.saturating_add(len - 1);
        self.commit(&chunk, position, chunk_last, report);
        for (i, ev) in chunk.events.iter().enumerate() {
            self.event(position + i as u64, ev, report);
        }
        report.events += len;
        self.next = chunk_last.saturating_add(1);
        if chunk_last >= chunk.commit_last {
            self.open_commit = None;
        }
        Ok(())
    }

    /// Checks that the chunk starts its commit or continues the open one, within its bounds.
    fn commit(
        &mut self,
        chunk: &ChunkWire<'_>,
        position: u64,
        chunk_last: u64,
        report: &mut VerifyReport,
    ) {
        if chunk.commit_first == position {
            if let Some((first, last)) = self.open_commit {
                report.problem(first, format!("commit {first}..={last} is incomplete"));
            }
            if chunk.commit_last < chunk.commit_first {
                report.problem(position, "commit ends before it starts");
            }
            self.open_commit = Some((chunk.commit_first, chunk.commit_last));
            report.commits += 1;
        } else if self.open_commit != Some((chunk.commit_first, chunk.commit_last)) {
            report.problem(
                position,
                format!(
                    "chunk continues commit {}..={} which did not start before it",
                    chunk.commit_first, chunk.commit_last
                ),
            );
            self.open_commit = Some((chunk.commit_first, chunk.commit_last));
        }
        if chunk_last > chunk.commit_last {
            report.problem(position, "chunk extends beyond its commit");
        }
    }

    /// Checks the stream version of the event at `p` and tallies its key.
    fn event(&mut self, p: u64, ev: &EventWire<'_>, report: &mut VerifyReport) {
        let (previous, slot) = match self.versions.get_mut(ev.stream) {
            Some(v) => (Some(*v), v),
            None => (None, self.versions.entry(ev.stream.to_owned()).or_insert(0)),
        };
        let expected = previous.unwrap_or(0) + 1;
        if ev.stream_version != expected && !(self.lenient && previous.is_none()) {
            report.problem(
                p,
                format!(
                    "stream {:?}: version {} where {expected} was expected",
                    ev.stream, ev.stream_version
                ),
            );
        }
        *slot = ev.stream_version;
        if let (Some(k), true) = (&ev.key, p <= self.covered) {
            keyindex::tally(
                &mut self.log_keys,
                keyindex::key_hash(k.namespace, k.key),
                p,
            );
        }
    }
}

/// Checks the key index's runs against the keyed events the log walk tallied; returns
/// what is wrong, to be reported only if the manifest did not change meanwhile.
fn check_key_runs(
    tree: &LogTree,
    manifest: &KeyIndexWire,
    last: u64,
    log_keys: (u64, u64),
) -> Result<Vec<Problem>, StoreError> {
    let covered = manifest.covered;
    let mut found = Vec::new();
    let run_keys = verify_runs(tree, manifest, &mut found)?;
    if covered > last {
        found.push(Problem {
            position: covered,
            reason: format!("key index covers up to {covered}, beyond the log (last {last})"),
        });
    } else if run_keys != log_keys {
        found.push(Problem {
            position: covered,
            reason: format!(
                "key index runs hold {} entries, the log has {} keyed events up to {covered}{}",
                run_keys.0,
                log_keys.0,
                if run_keys.0 == log_keys.0 {
                    " (but not the same ones)"
                } else {
                    ""
                }
            ),
        });
    }
    Ok(found)
}

/// Checks that every key index entry points into the log.
fn check_key_entries(
    tree: &sled::Tree,
    last: u64,
    in_flight: &impl Fn(u64) -> bool,
    report: &mut VerifyReport,
) -> Result<(), StoreError> {
    for item in tree.scan_prefix([layout::KEY_PREFIX]) {
        let (_, value) = item?;
        match codec::open_envelope::<KeyWire<'_>>(&value) {
            Ok(entry) if in_flight(entry.position) => {}
            Ok(entry) if entry.position == 0 || entry.position > last => report.problem(
                entry.position,
                format!("key index entry points beyond the log (last {last})"),
            ),
            Ok(_) => {}
            Err(reason) => report.problem(0, format!("key index entry: {reason}")),
        }
    }
    Ok(())
}

/// The heads' checkpoint position (0 without a usable one) and the streams its head blocks
/// hold (0 for a log whose heads are still `S` entries), or `None` when a checkpoint is
/// being written concurrently and the stream heads cannot be checked.
fn check_checkpoint(
    tree: &sled::Tree,
    last: u64,
    in_flight: &impl Fn(u64) -> bool,
    report: &mut VerifyReport,
) -> Result<Option<(u64, u64)>, StoreError> {
    let marker = match heads::marker(tree) {
        Ok((position, streams)) => Ok((position, streams.unwrap_or(0))),
        Err(StoreError::Corrupt { reason, .. }) => Err(reason),
        Err(e) => return Err(e),
    };
    Ok(match marker {
        Ok((position, _)) if in_flight(position) => None,
        Ok((position, _)) if position > last => {
            report.problem(position, format!("checkpoint beyond the log (last {last})"));
            Some((0, 0))
        }
        Ok(found) => Some(found),
        Err(reason) => {
            report.problem(0, reason);
            Some((0, 0))
        }
    })
}

/// Checks the head blocks of the first `streams` streams (names, versions against what the
/// log walk saw) and every chunk list.
fn check_head_blocks(
    tree: &sled::Tree,
    checkpoint: u64,
    streams: u64,
    last: u64,
    in_flight: &impl Fn(u64) -> bool,
    versions: &FastMap<String, u64>,
    report: &mut VerifyReport,
) -> Result<(), StoreError> {
    let mut seen: FastMap<String, ()> = FastMap::default();
    for block in 0..heads::blocks_for(streams) {
        let count = heads::block_count(block, streams);
        let mut found = Vec::new();
        let visited = heads::visit_block(tree, block, count, |name, version| {
            if seen.insert(name.to_owned(), ()).is_some() {
                found.push(format!("stream {name:?} named twice"));
            }
            let actual = versions.get(name).copied().unwrap_or(0);
            if version > actual {
                found.push(format!(
                    "stream head {name:?} at version {version} but log has {actual}"
                ));
            }
            Ok(())
        })?;
        found.extend(visited.err());
        for reason in found {
            report.problem(checkpoint, reason);
        }
    }
    for item in tree.scan_prefix([layout::LIST_PREFIX]) {
        let (key, value) = item?;
        let Some((block, position, _)) = layout::list_key_parts(&key) else {
            report.problem(checkpoint, "malformed chunk list key".to_owned());
            continue;
        };
        if in_flight(position) {
            continue;
        }
        match heads::decode_lists(block, &value) {
            Ok(lists) => {
                let chunks = lists.iter().flat_map(|(_, chunks)| chunks);
                if let Some(c) = chunks.into_iter().find(|c| **c == 0 || **c > last) {
                    report.problem(*c, format!("block {block} lists a missing chunk"));
                }
            }
            Err(reason) => report.problem(checkpoint, reason),
        }
    }
    Ok(())
}

/// Checks every stream head against the versions the log walk saw.
fn check_stream_heads(
    tree: &sled::Tree,
    checkpoint: u64,
    last: u64,
    versions: &FastMap<String, u64>,
    report: &mut VerifyReport,
) -> Result<(), StoreError> {
    for item in tree.scan_prefix([layout::STREAM_PREFIX]) {
        let (key, value) = item?;
        let name = String::from_utf8_lossy(&key[1..]).into_owned();
        match codec::open_envelope::<StreamWire>(&value) {
            Ok(head) => {
                let actual = versions.get(&name).copied().unwrap_or(0);
                if head.version > actual {
                    report.problem(
                        checkpoint,
                        format!(
                            "stream head {name:?} at version {} but log has {actual}",
                            head.version
                        ),
                    );
                }
                if let Some(c) = head.chunks.iter().find(|c| **c == 0 || **c > last) {
                    report.problem(*c, format!("stream head {name:?} lists a missing chunk"));
                }
            }
            Err(reason) => report.problem(checkpoint, format!("stream head {name:?}: {reason}")),
        }
    }
    Ok(())
}

/// Walks the blocks of every run the manifest lists; returns the count and fingerprint sum
/// of their entries and adds what is wrong with them to `found`.
fn verify_runs(
    tree: &LogTree,
    manifest: &KeyIndexWire,
    found: &mut Vec<Problem>,
) -> Result<(u64, u64), StoreError> {
    let mut total = (0u64, 0u64);
    let mut read = Vec::new();
    for run in &manifest.runs {
        let mut problem = |reason: String| {
            found.push(Problem {
                position: manifest.covered,
                reason: format!("key index run {}: {reason}", run.id),
            })
        };
        let mut blocks = 0u64;
        let mut entries = 0u64;
        let mut previous: Option<(u64, u64)> = None;
        let mut ordered = true;
        let mut in_range = true;
        let range = layout::key_block(run.id, 0)..layout::key_block(run.id + 1, 0);
        for item in tree.range(range) {
            let (key, value) = item?;
            if layout::key_block_parts(&key).map(|(_, b)| u64::from(b)) != Some(blocks) {
                problem(format!("block {blocks} missing or misnamed"));
                break;
            }
            blocks += 1;
            let decoded = match keyindex::stored_block(tree.runs(), run.id, &value, &mut read) {
                Ok(d) => d,
                Err(e) => {
                    problem(format!("block {}: {e}", blocks - 1));
                    continue;
                }
            };
            for entry in decoded {
                ordered &= previous.is_none_or(|p| p < entry);
                in_range &= entry.1 >= 1 && entry.1 <= manifest.covered;
                previous = Some(entry);
                entries += 1;
                keyindex::tally(&mut total, entry.0, entry.1);
            }
        }
        if !ordered {
            problem("entries out of order".to_owned());
        }
        if !in_range {
            problem(format!("an entry points outside 1..={}", manifest.covered));
        }
        if (entries, blocks) != (run.entries, run.blocks) {
            problem(format!(
                "{entries} entries in {blocks} blocks where the manifest lists {} in {}",
                run.entries, run.blocks
            ));
        }
    }
    Ok(total)
}
