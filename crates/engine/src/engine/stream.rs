//! A bulk import streamed through a spool on disk, so that its memory is bounded by a window
//! rather than by the file.
//!
//! One pass checks every row against the world and the rows before it, as a one-batch import
//! does, but writes each accepted event to a spool file in the data directory instead of
//! holding it, and each natural key to one of [`SPOOL_KEY_BUCKETS`] bucket files. A key
//! used twice in the file is found afterwards, one bucket at a time: a repeat with the same
//! content is a duplicate (skipped), with other content a conflict, exactly as a one-batch
//! import answers it. Only when no row is refused and no key conflicts with the log are the
//! spooled events appended, in commits, in the file's order; so a bad row anywhere still
//! means nothing from the file is written, and a crash part-way leaves whole commits that
//! rerunning the import completes (every imported fact has a natural key).
//!
//! Streamed imports take the commands a CSV import makes (offices, consumers, bills,
//! payments, mobiles), whose rules ask of earlier rows of the same file only whether a
//! consumer or office is registered: so the batch keeps those and no event of the file.

use super::{
    conflict, Batch, Engine, EngineError, ExecuteReport, Input, RowError, COMMIT_CHUNK_EVENTS,
};
use rustc_hash::FxHashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use vasooli_domain::event::EventKey;
use vasooli_domain::types::KeyNamespace;
use vasooli_domain::Command;
use vasooli_store::{StorageFault, StoreError};

/// Bucket files a streamed import spreads its natural keys over: finding repeats holds one
/// bucket in memory, about 1/256 of the file's keys (some 40,000 of a 10-million-row file).
pub const SPOOL_KEY_BUCKETS: usize = 256;
/// What each spool file buffers before writing.
const SPOOL_BUFFER_BYTES: usize = 8 * 1024;
/// What the directory of a streamed import's spool is named with in the data directory; one
/// left behind by a crash is removed when the data directory is next opened for writing.
pub const SPOOL_PREFIX: &str = ".import-spool-";

/// Whether a streamed import takes `command`: the commands of CSV imports.
pub fn streamable(command: &Command) -> bool {
    matches!(
        command,
        Command::RegisterOffice { .. }
            | Command::RegisterConsumer { .. }
            | Command::IssueBill { .. }
            | Command::ReceivePayment { .. }
            | Command::RegisterMobile { .. }
    )
}

/// What the first pass made of a row with a natural key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Outcome {
    /// Its event was spooled.
    Accepted = 0,
    /// Refused for a reason that stands whatever came before it (a date out of its window,
    /// an office out of scope, an unknown account or office).
    RefusedFixed = 1,
    /// Refused by a rule that an earlier accepted row with the same key and other content
    /// would have preempted: a one-batch import reports that row as a conflict instead.
    RefusedReplaceable = 2,
}

impl Outcome {
    fn from_byte(byte: u8) -> Option<Outcome> {
        match byte {
            0 => Some(Outcome::Accepted),
            1 => Some(Outcome::RefusedFixed),
            2 => Some(Outcome::RefusedReplaceable),
            _ => None,
        }
    }
}

/// A natural key as the first pass met it.
struct KeyRecord {
    namespace: KeyNamespace,
    key: String,
    content_hash: u64,
    /// The row (0-based, in the input's order).
    row: u32,
    /// The spooled event's index (accepted rows only).
    event: u32,
    outcome: Outcome,
    location: String,
}

/// The spool of one streamed import: a directory in the data directory, removed when dropped.
pub(super) struct Spool {
    dir: tempfile::TempDir,
    events: BufWriter<File>,
    buckets: Vec<BufWriter<File>>,
    /// Events spooled.
    spooled: u32,
    /// The first write that failed: the import stops with it once the pass ends.
    failed: Option<std::io::Error>,
}

impl Clone for Spool {
    fn clone(&self) -> Spool {
        unreachable!("a streamed import's batch is never tried on a copy")
    }
}

fn storage(dir: &Path, source: std::io::Error) -> EngineError {
    EngineError::Store(StoreError::Storage {
        dir: dir.to_path_buf(),
        fault: StorageFault::of(&source),
        source,
    })
}

impl Spool {
    pub(super) fn create(data_dir: &Path) -> Result<Spool, EngineError> {
        let dir = tempfile::Builder::new()
            .prefix(SPOOL_PREFIX)
            .tempdir_in(data_dir)
            .map_err(|e| storage(data_dir, e))?;
        let open = |name: String| {
            File::create(dir.path().join(name))
                .map(|f| BufWriter::with_capacity(SPOOL_BUFFER_BYTES, f))
                .map_err(|e| storage(dir.path(), e))
        };
        let events = open("events".into())?;
        let buckets = (0..SPOOL_KEY_BUCKETS)
            .map(|b| open(format!("keys-{b:03}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Spool {
            dir,
            events,
            buckets,
            spooled: 0,
            failed: None,
        })
    }

    fn note_failure(&mut self, result: std::io::Result<()>) {
        if let Err(e) = result {
            self.failed.get_or_insert(e);
        }
    }

    /// Spools an accepted event (the `spooled`th, counting from 0).
    pub(super) fn push_event(&mut self, payload: &[u8]) {
        self.spooled += 1;
        let written = self
            .events
            .write_all(&(payload.len() as u32).to_le_bytes())
            .and_then(|()| self.events.write_all(payload));
        self.note_failure(written);
    }

    /// Notes a row's natural key in its bucket.
    fn push_key(&mut self, record: &KeyRecord) {
        let bucket = bucket_of(record.namespace, &record.key);
        let mut bytes = Vec::with_capacity(26 + record.key.len() + record.location.len());
        bytes.push(record.namespace.index());
        bytes.push(record.outcome as u8);
        bytes.extend_from_slice(&record.content_hash.to_le_bytes());
        bytes.extend_from_slice(&record.row.to_le_bytes());
        bytes.extend_from_slice(&record.event.to_le_bytes());
        bytes.extend_from_slice(&(record.key.len() as u32).to_le_bytes());
        bytes.extend_from_slice(record.key.as_bytes());
        bytes.extend_from_slice(&(record.location.len() as u32).to_le_bytes());
        bytes.extend_from_slice(record.location.as_bytes());
        let written = self.buckets[bucket].write_all(&bytes);
        self.note_failure(written);
    }

    /// Ends the first pass: every spool file written out, or the first failure.
    fn finish(&mut self) -> Result<(), EngineError> {
        let mut flushed = self.events.flush();
        for bucket in &mut self.buckets {
            flushed = flushed.and(bucket.flush());
        }
        self.note_failure(flushed);
        match self.failed.take() {
            Some(e) => Err(storage(self.dir.path(), e)),
            None => Ok(()),
        }
    }

    /// The key records of bucket `bucket`, in the order the rows came.
    fn bucket(&self, bucket: usize) -> Result<Vec<KeyRecord>, EngineError> {
        let path = self.dir.path().join(format!("keys-{bucket:03}"));
        let bytes = std::fs::read(&path).map_err(|e| storage(self.dir.path(), e))?;
        let damaged =
            || EngineError::Corrupt(format!("{}: a key record is cut short", path.display()));
        let mut records = Vec::new();
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            let (record, after) = read_key_record(rest).ok_or_else(damaged)?;
            records.push(record);
            rest = after;
        }
        Ok(records)
    }

    /// The spooled events, in order, in commits of at most [`COMMIT_CHUNK_EVENTS`], without
    /// those whose index is in `skipped` (sorted).
    fn chunks(&self, skipped: Vec<u32>) -> Result<SpooledChunks, EngineError> {
        let path = self.dir.path().join("events");
        let file = File::open(&path).map_err(|e| storage(self.dir.path(), e))?;
        Ok(SpooledChunks {
            reader: BufReader::with_capacity(1 << 20, file),
            dir: self.dir.path().to_path_buf(),
            next: 0,
            spooled: self.spooled,
            skipped: skipped.into_iter().peekable(),
        })
    }
}

fn read_u32(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = bytes.split_at_checked(4)?;
    Some((u32::from_le_bytes(head.try_into().ok()?), rest))
}

fn read_key_record(bytes: &[u8]) -> Option<(KeyRecord, &[u8])> {
    let (head, rest) = bytes.split_at_checked(2)?;
    let namespace = KeyNamespace::from_index(head[0])?;
    let outcome = Outcome::from_byte(head[1])?;
    let (hash, rest) = rest.split_at_checked(8)?;
    let content_hash = u64::from_le_bytes(hash.try_into().ok()?);
    let (row, rest) = read_u32(rest)?;
    let (event, rest) = read_u32(rest)?;
    let (key_len, rest) = read_u32(rest)?;
    let (key, rest) = rest.split_at_checked(key_len as usize)?;
    let (location_len, rest) = read_u32(rest)?;
    let (location, rest) = rest.split_at_checked(location_len as usize)?;
    let record = KeyRecord {
        namespace,
        key: String::from_utf8(key.to_vec()).ok()?,
        content_hash,
        row,
        event,
        outcome,
        location: String::from_utf8(location.to_vec()).ok()?,
    };
    Some((record, rest))
}

fn bucket_of(namespace: KeyNamespace, key: &str) -> usize {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&[namespace.index()]);
    hasher.update(key.as_bytes());
    hasher.finalize() as usize % SPOOL_KEY_BUCKETS
}

/// The spooled events read back in commits.
struct SpooledChunks {
    reader: BufReader<File>,
    dir: std::path::PathBuf,
    next: u32,
    spooled: u32,
    skipped: std::iter::Peekable<std::vec::IntoIter<u32>>,
}

impl SpooledChunks {
    fn read_one(&mut self) -> std::io::Result<Vec<u8>> {
        let mut len = [0u8; 4];
        self.reader.read_exact(&mut len)?;
        let mut payload = vec![0u8; u32::from_le_bytes(len) as usize];
        self.reader.read_exact(&mut payload)?;
        Ok(payload)
    }
}

impl Iterator for SpooledChunks {
    type Item = Result<Vec<Vec<u8>>, EngineError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut chunk = Vec::new();
        while self.next < self.spooled && chunk.len() < COMMIT_CHUNK_EVENTS {
            let index = self.next;
            self.next += 1;
            let payload = match self.read_one() {
                Ok(payload) => payload,
                Err(e) => return Some(Err(storage(&self.dir, e))),
            };
            if self.skipped.peek() == Some(&index) {
                self.skipped.next();
                continue;
            }
            chunk.push(payload);
        }
        (!chunk.is_empty()).then_some(Ok(chunk))
    }
}

/// What the first pass found.
#[derive(Default)]
struct FirstPass {
    read: usize,
    duplicates: usize,
    /// Refused rows and their errors, in the input's order; `None` once a later look at the
    /// row's key has taken the error back (it repeats an accepted row exactly).
    errors: Vec<(u32, Option<RowError>)>,
}

/// A streamed import checked whole: what to append, or why nothing may be.
pub(super) struct Resolved {
    pub read: usize,
    pub duplicates: usize,
    /// Events to append.
    pub total: usize,
    chunks: SpooledChunks,
}

impl Batch<'_> {
    /// The first pass: every input checked and its event spooled, as [`Batch::check`] does
    /// with the batch in memory.
    fn check_streamed(
        &mut self,
        inputs: impl IntoIterator<Item = Input>,
    ) -> Result<FirstPass, EngineError> {
        let mut pass = FirstPass::default();
        for input in inputs {
            let row = u32::try_from(pass.read).map_err(|_| {
                EngineError::Usage(format!("an import may hold at most {} rows", u32::MAX))
            })?;
            pass.read += 1;
            let command = match input.command {
                Ok(c) => c,
                Err(field_errors) => {
                    for e in field_errors {
                        let error = super::field_error(&input.location, e);
                        pass.errors.push((row, Some(error)));
                    }
                    continue;
                }
            };
            if !streamable(&command) {
                return Err(EngineError::Usage(format!(
                    "{}: a `{}` command is not one a file import takes",
                    input.location,
                    command.type_name()
                )));
            }
            let accepted = self.accept_staged(&command, &input.location);
            let key = self.last_key.take();
            let spool = self.spool.as_mut().expect("a streamed batch has a spool");
            let outcome = match accepted {
                Ok(super::Accepted::Event) => Outcome::Accepted,
                Ok(super::Accepted::Duplicate) => {
                    pass.duplicates += 1;
                    continue;
                }
                Err(((kind, field, reason), replaceable)) => {
                    pass.errors.push((
                        row,
                        Some(RowError {
                            location: input.location.clone(),
                            field,
                            reason,
                            kind,
                        }),
                    ));
                    if replaceable {
                        Outcome::RefusedReplaceable
                    } else {
                        Outcome::RefusedFixed
                    }
                }
            };
            if let Some((EventKey { namespace, key }, content_hash)) = key {
                let event = match outcome {
                    Outcome::Accepted => spool.spooled - 1,
                    _ => u32::MAX,
                };
                spool.push_key(&KeyRecord {
                    namespace,
                    key,
                    content_hash,
                    row,
                    event,
                    outcome,
                    location: input.location,
                });
            }
        }
        Ok(pass)
    }

    /// The second pass, one bucket of keys at a time: repeats within the file become
    /// duplicates or conflicts as a one-batch import makes them, then keys the log holds with
    /// other content become conflicts. What to append, or every error.
    fn resolve_streamed(&mut self, mut pass: FirstPass) -> Result<Resolved, EngineError> {
        // Held apart while the log's keys are looked up; put back for the append.
        let mut spool = self.spool.take().expect("a streamed batch has a spool");
        spool.finish()?;
        let mut conflicts: Vec<(u32, RowError)> = Vec::new();
        let mut stored: Vec<(u32, RowError)> = Vec::new();
        let mut skipped: Vec<u32> = Vec::new();
        for bucket in 0..SPOOL_KEY_BUCKETS {
            let mut first: FxHashMap<(KeyNamespace, String), (u64, u32, String)> =
                FxHashMap::default();
            for record in spool.bucket(bucket)? {
                let earlier = first
                    .get(&(record.namespace, record.key.clone()))
                    .map(|(hash, _, _)| *hash);
                let conflict_error = |record: &KeyRecord| {
                    let (kind, field, reason) = conflict(record.namespace, &record.key);
                    RowError {
                        location: record.location.clone(),
                        field,
                        reason,
                        kind,
                    }
                };
                match (earlier, record.outcome) {
                    (None, Outcome::Accepted) => {
                        first.insert(
                            (record.namespace, record.key),
                            (record.content_hash, record.event, record.location),
                        );
                    }
                    (None, _) => {}
                    (Some(hash), Outcome::Accepted) if hash == record.content_hash => {
                        skipped.push(record.event);
                        pass.duplicates += 1;
                    }
                    (Some(_), Outcome::Accepted) => {
                        conflicts.push((record.row, conflict_error(&record)));
                    }
                    (Some(hash), _) if hash == record.content_hash => {
                        *error_of(&mut pass.errors, record.row)? = None;
                        pass.duplicates += 1;
                    }
                    (Some(_), Outcome::RefusedReplaceable) => {
                        *error_of(&mut pass.errors, record.row)? = Some(conflict_error(&record));
                    }
                    (Some(_), Outcome::RefusedFixed) => {}
                }
            }
            for ((namespace, key), (hash, event, location)) in first {
                let Some(entry) = self.stored_key(namespace, &key) else {
                    continue;
                };
                if entry.content_hash != hash {
                    let (kind, field, reason) = conflict(namespace, &key);
                    stored.push((
                        event,
                        RowError {
                            location,
                            field,
                            reason,
                            kind,
                        },
                    ));
                }
            }
        }
        let mut errors: Vec<(u32, RowError)> = pass
            .errors
            .into_iter()
            .filter_map(|(row, error)| error.map(|e| (row, e)))
            .collect();
        errors.extend(conflicts);
        // Stable: a row's own errors keep their order.
        errors.sort_by_key(|(row, _)| *row);
        if errors.is_empty() {
            // Keys the log holds with other content, only once every row passed (as a
            // one-batch import asks), in the file's order.
            stored.sort_by_key(|(event, _)| *event);
            errors = stored;
        }
        if !errors.is_empty() {
            return Err(EngineError::Rejected(
                errors.into_iter().map(|(_, e)| e).collect(),
            ));
        }
        skipped.sort_unstable();
        let total = spool.spooled as usize - skipped.len();
        let chunks = spool.chunks(skipped)?;
        self.spool = Some(spool);
        Ok(Resolved {
            read: pass.read,
            duplicates: pass.duplicates,
            total,
            chunks,
        })
    }
}

/// The error of `row` among a first pass's errors: a refused row with a key has exactly one
/// (a key file that says otherwise is damaged).
fn error_of(
    errors: &mut [(u32, Option<RowError>)],
    row: u32,
) -> Result<&mut Option<RowError>, EngineError> {
    let at = errors.partition_point(|(r, _)| *r < row);
    match errors.get_mut(at) {
        Some((r, error)) if *r == row => Ok(error),
        _ => Err(EngineError::Corrupt(format!(
            "the import's spool names row {row} as refused, but it was not"
        ))),
    }
}

impl Engine {
    /// Checks a streamed import whole (see the module's notes): what to append, and the
    /// spool it is read from (removed when dropped). What the check kept of the file's rows
    /// (the offices and consumers it registers) is let go before anything is written.
    fn check_streamed(
        &self,
        inputs: impl IntoIterator<Item = Input>,
    ) -> Result<(Spool, Resolved), EngineError> {
        let mut batch = self.batch();
        batch.spool = Some(Spool::create(self.store.dir())?);
        let pass = batch.check_streamed(inputs)?;
        let resolved = batch.resolve_streamed(pass)?;
        let spool = batch.spool.take().expect("a streamed batch has a spool");
        Ok((spool, resolved))
    }

    /// A file import (the commands of [`streamable`]), streamed: memory is bounded by a
    /// window rather than the file, whatever its size. All or nothing, as
    /// [`Engine::execute_with_progress`]; the events are appended in commits, each read into
    /// the world while the next is written.
    pub fn import_streamed(
        &mut self,
        inputs: impl IntoIterator<Item = Input>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<ExecuteReport, EngineError> {
        let (spool, resolved) = self.check_streamed(inputs)?;
        let Resolved {
            read,
            duplicates,
            total,
            mut chunks,
        } = resolved;
        let report = self.write_in_parts(&mut chunks, total, read, duplicates, progress);
        drop(spool);
        report
    }

    /// [`Engine::import_streamed`] with shared access, as [`Engine::write_checked`]: the
    /// world is left as it was, for the caller to read what was written with
    /// [`Engine::read_written`].
    pub fn write_streamed(
        &self,
        inputs: impl IntoIterator<Item = Input>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<ExecuteReport, EngineError> {
        let (_spool, resolved) = self.check_streamed(inputs)?;
        let Resolved {
            read,
            duplicates,
            total,
            mut chunks,
        } = resolved;
        self.append_parts(&mut chunks, total, read, duplicates, progress)
    }
}

/// Removes the spools of imports a crash cut off in `data_dir` (only the one process holding
/// the directory imports into it).
pub(super) fn remove_stale_spools(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(SPOOL_PREFIX)
        {
            if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                tracing::warn!(path = %entry.path().display(), "an old import spool was not removed: {e}");
            }
        }
    }
}
