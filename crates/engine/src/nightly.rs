//! The nightly finance run: a pipeline of stages over every consumer for one date.
//!
//! 1. surcharges: levy each unassessed anniversary in date order (docs/RULES.md);
//! 2. plans: record instalment plans broken by this date;
//! 3. ladder: close cases whose arrears fell below the threshold, open cases (issue notices)
//!    where the criteria are met;
//! 4. sms: queue the SMS messages for consumers with a mobile;
//! 5. completion: record the run, so the next one knows what was assessed.
//!
//! Each stage decides from the consumer's history plus the events earlier stages decided for
//! it, in the domain's pure [`decide_consumer`] (through [`decide_consumer_ahead`], which also
//! looks a day ahead for the next run's agenda); the events are then appended and the world
//! brought up to date from the log.

use crate::engine::{Engine, EngineError};
use crate::sms_queue;
use chrono::NaiveDate;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;
use vasooli_domain::codec::encode_event;
use vasooli_domain::event::*;
pub use vasooli_domain::nightly::{decide_consumer, decide_consumer_ahead, DayAfter, Decision};
use vasooli_domain::state::{Camp, Consumer, StoredConsumer, World};
use vasooli_domain::types::Stage;
use vasooli_domain::{Money, Policy};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NightlySummary {
    pub as_of: Option<NaiveDate>,
    pub events_read: u64,
    pub appended: usize,
    pub surcharges: usize,
    pub notices: usize,
    pub cases_closed: usize,
    pub plans_broken: usize,
    pub sms_queued: usize,
    pub stages: BTreeMap<&'static str, usize>,
    /// Consumers the run decided; the others had nothing due by its date and nothing
    /// recorded since the last run (its agenda), and were taken as that run left them.
    pub visited: usize,
    /// The run's money, for the summary finance reads.
    pub money: NightlyMoney,
    pub elapsed_ms: u128,
}

/// The rupees behind a nightly run's counts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NightlyMoney {
    /// The first day counted: the day after the previous run's date, `None` for a first run
    /// (everything up to the run's date counts). A rerun of the same date starts the day
    /// after it, and so counts no bills or payments.
    pub since: Option<NaiveDate>,
    /// Bills issued in the window, at their current amounts.
    pub billed: Money,
    /// Payments made in the window and not reversed by the run's date.
    pub collected: Money,
    /// Surcharges this run levied.
    pub surcharge_levied: Money,
    /// Overdue arrears of the consumers at each stage, after the run.
    pub arrears_by_stage: BTreeMap<&'static str, Money>,
}

/// Most threads the run decides consumers on.
pub const NIGHTLY_THREADS_MAX: usize = 16;

/// What one thread decided for its share of the consumers.
#[derive(Default)]
struct Share {
    events: Vec<(Event, Vec<u8>)>,
    stages: BTreeMap<&'static str, usize>,
    money: NightlyMoney,
    /// The agenda's entry of each consumer of the share, in order.
    agenda: Vec<AgendaEntry>,
    /// Consumers decided (the rest were skipped by the agenda).
    visited: usize,
    error: Option<String>,
}

/// What a nightly run learned of each consumer, so that the next run decides only the
/// consumers with something due by its date ([`vasooli_domain::nightly::next_visit`]),
/// something recorded since (their journal grew), or a camp announced in their subdivision,
/// and takes the rest as they were: no events, the same stage and overdue arrears, nothing
/// billed or collected in its window. Where a consumer's date was the day after the run's,
/// the run looked that day ahead ([`decide_consumer_ahead`]) and, when nothing happens then,
/// the entry holds that day's stage, arrears and next date instead. It holds for the run
/// after the one that made it only (its date and log position) under the same policy; any
/// other run visits everyone.
#[derive(Clone, Debug)]
pub struct Agenda {
    as_of: NaiveDate,
    /// The world's `last_nightly_position` once the run was read in.
    position: u64,
    /// [`policy_fingerprint`] of the policy it was decided under.
    policy: u32,
    entries: Vec<AgendaEntry>,
}

/// One consumer's line of the agenda.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AgendaEntry {
    /// The consumer's journal length after the run ([`JOURNAL_UNSETTLED`] until the run is
    /// read into the world).
    journal_len: u32,
    /// The first date something may be due.
    next: NaiveDate,
    /// The stage it ended at, or is at on the day after ([`AgendaEntry::day_after`]); `None`:
    /// not connected by the run's date, counted nowhere.
    stage: Option<Stage>,
    overdue_arrears: Money,
    /// The entry is what a run on the day after the run's date decides ([`DayAfter`]): nothing,
    /// the stage and overdue arrears above. It holds for the runs after that date, not for a
    /// rerun, which decides the consumer: a rerun of that date, or of a later run's date when
    /// the later run skipped the consumer and carried the entry over (only cautious there).
    day_after: bool,
}

impl AgendaEntry {
    /// The entry of a consumer the run decided: what the run on the day after would decide,
    /// when the run looked ahead and found nothing, or else what this run decided.
    fn decided(decision: &Decision, day_after: Option<DayAfter>) -> AgendaEntry {
        let (next, stage, overdue_arrears) = match day_after {
            Some(d) => (d.next_visit, d.stage, d.overdue_arrears),
            None => (
                decision.next_visit,
                decision.stage,
                decision.overdue_arrears,
            ),
        };
        AgendaEntry {
            journal_len: JOURNAL_UNSETTLED,
            next,
            stage: Some(stage),
            overdue_arrears,
            day_after: day_after.is_some(),
        }
    }
}

impl Share {
    /// Counts a consumer at the stage and overdue arrears its entry holds (one the agenda
    /// skipped, or one not yet connected), and keeps the entry for the next run.
    fn count(&mut self, entry: AgendaEntry) {
        self.count_at(entry.stage, entry.overdue_arrears);
        self.agenda.push(entry);
    }

    /// Counts a consumer at `stage` with `overdue_arrears` (`None`: counted nowhere).
    fn count_at(&mut self, stage: Option<Stage>, overdue_arrears: Money) {
        if let Some(stage) = stage {
            *self.stages.entry(stage.as_str()).or_insert(0) += 1;
            *self
                .money
                .arrears_by_stage
                .entry(stage.as_str())
                .or_default() += overdue_arrears;
        }
    }
}

/// A journal length not known yet: the consumer was decided by a run not yet read in.
const JOURNAL_UNSETTLED: u32 = u32::MAX;

impl Agenda {
    /// The agenda that holds for a run on the world as it is under `policy`, if any.
    fn for_run<'a>(agenda: Option<&'a Agenda>, world: &World, policy: u32) -> Option<&'a Agenda> {
        agenda.filter(|a| {
            world.last_nightly == Some(a.as_of)
                && world.last_nightly_position == a.position
                && a.policy == policy
        })
    }

    /// The entry of the consumer at `index`, when it may be skipped: it changed in nothing
    /// and nothing is due by `as_of`.
    fn skips(
        &self,
        index: usize,
        stored: &StoredConsumer,
        as_of: NaiveDate,
    ) -> Option<AgendaEntry> {
        let entry = *self.entries.get(index)?;
        let unchanged = entry.journal_len as usize == stored.journal_len();
        let holds = entry.next > as_of && (!entry.day_after || as_of > self.as_of);
        (unchanged && holds).then_some(entry)
    }

    /// Completes the agenda of a run just read into `world`; false when the world is not
    /// the run's (it is then not kept).
    pub(crate) fn settle(&mut self, world: &World) -> bool {
        if world.last_nightly != Some(self.as_of) || self.entries.len() > world.consumers.len() {
            return false;
        }
        self.position = world.last_nightly_position;
        for (entry, stored) in self.entries.iter_mut().zip(&world.consumers) {
            if entry.journal_len == JOURNAL_UNSETTLED {
                let Ok(len) = u32::try_from(stored.journal_len()) else {
                    return false;
                };
                entry.journal_len = len;
            }
        }
        true
    }
}

/// The rules an agenda was made by: change it whenever [`vasooli_domain::nightly::next_visit`]
/// or a rule of the run that it follows changes, or the order of [`Stage::ALL`] (an entry
/// stores a stage by its place there), so that an agenda a build with other rules saved is
/// not followed (the next run then visits every consumer and saves a new one).
const AGENDA_RULES_VERSION: u32 = 2;

/// A fingerprint of the rules and the policy an agenda was made under: the CRC-32 of the
/// rules' version and the policy's TOML.
fn policy_fingerprint(policy: &Policy) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&AGENDA_RULES_VERSION.to_le_bytes());
    hasher.update(policy.to_toml().as_bytes());
    hasher.finalize()
}

/// The key of the saved agenda's head in the projections' database. Its parts are in a file
/// beside the database ([`AGENDA_PARTS_FILE`]), where each ends in the head.
const AGENDA_KEY: &[u8] = b"nightly-agenda-2";
/// The name of the saved agenda's file of parts ([`vasooli_store::SideDb::write_parts`]).
pub(crate) const AGENDA_PARTS_FILE: &str = "nightly-agenda-2";
/// What the keys of every layout of the saved agenda start with: an agenda of the layout
/// before (`nightly-agenda`, its parts in the database) is not read (the next run visits
/// everyone, as after a policy change) and is removed when the next is saved.
const AGENDA_KEY_PREFIX: &[u8] = b"nightly-agenda";
/// Consumers per saved part of the agenda.
const AGENDA_PART_ENTRIES: usize = 65_536;
/// Bytes of one saved entry: journal length, next date, stage (its index, or
/// [`AGENDA_NO_STAGE`]; with [`AGENDA_DAY_AFTER`] set for an entry of the day after),
/// overdue arrears.
const AGENDA_ENTRY_BYTES: usize = 4 + 4 + 1 + 8;
/// The stage byte of an entry with no stage.
const AGENDA_NO_STAGE: u8 = u8::MAX;
/// The bit of the stage byte set for an entry of the day after ([`AgendaEntry::day_after`]).
const AGENDA_DAY_AFTER: u8 = 0x80;

/// Saves `agenda` durably, as a checkpoint is: its parts in a file of a new generation, then
/// the head naming it, then the files and keys of the one before are removed. A crash leaves
/// the old agenda or the new one.
pub(crate) fn save_agenda(
    projections: &vasooli_store::SideDb,
    agenda: &Agenda,
) -> Result<(), EngineError> {
    use chrono::Datelike;
    let table = projections.table();
    let generation = projections.generate_id()?;
    let parts = agenda.entries.chunks(AGENDA_PART_ENTRIES).map(|chunk| {
        let mut bytes = Vec::with_capacity(chunk.len() * AGENDA_ENTRY_BYTES + 4);
        for entry in chunk {
            bytes.extend_from_slice(&entry.journal_len.to_le_bytes());
            bytes.extend_from_slice(&entry.next.num_days_from_ce().to_le_bytes());
            let stage = entry.stage.map_or(AGENDA_NO_STAGE, Stage::index);
            bytes.push(if entry.day_after {
                stage | AGENDA_DAY_AFTER
            } else {
                stage
            });
            bytes.extend_from_slice(&entry.overdue_arrears.paise().to_le_bytes());
        }
        Ok::<_, EngineError>(crate::engine::sealed(bytes))
    });
    // Until the head is written, a failure drops the writer, which removes the file.
    let mut written = projections.write_parts(AGENDA_PARTS_FILE, generation, parts)?;
    let head = (
        generation,
        written.ends().to_vec(),
        agenda.entries.len() as u64,
        agenda.as_of.num_days_from_ce(),
        agenda.position,
        agenda.policy,
    );
    let head = vasooli_domain::codec::encode_value(&head)
        .map_err(|e| EngineError::Corrupt(e.to_string()))?;
    written.keep();
    table.insert(AGENDA_KEY, head)?;
    projections.flush()?;
    crate::engine::remove_other_generations(
        projections,
        AGENDA_KEY_PREFIX,
        AGENDA_KEY,
        AGENDA_PARTS_FILE,
        generation,
    );
    Ok(())
}

/// The saved agenda, when there is a whole one.
pub(crate) fn load_agenda(projections: &vasooli_store::SideDb) -> Option<Agenda> {
    let table = projections.table();
    let head = table.get(AGENDA_KEY).ok()??;
    let (generation, ends, count, as_of, position, policy): (u64, Vec<u64>, u64, i32, u64, u32) =
        vasooli_domain::codec::decode_value(&head).ok()?;
    let as_of = NaiveDate::from_num_days_from_ce_opt(as_of)?;
    let file = projections.read_parts(AGENDA_PARTS_FILE, generation).ok()?;
    // No more entries than the file holds, whatever the head says.
    let room = file.len() / AGENDA_ENTRY_BYTES as u64;
    let mut entries = Vec::with_capacity(usize::try_from(count.min(room)).ok()?);
    for part in 0..ends.len() {
        let sealed = file.part(&ends, part).ok()?;
        let bytes = crate::engine::unsealed(&sealed)?;
        for entry in bytes.chunks(AGENDA_ENTRY_BYTES) {
            let entry: &[u8; AGENDA_ENTRY_BYTES] = entry.try_into().ok()?;
            let next = i32::from_le_bytes(entry[4..8].try_into().ok()?);
            entries.push(AgendaEntry {
                journal_len: u32::from_le_bytes(entry[0..4].try_into().ok()?),
                next: NaiveDate::from_num_days_from_ce_opt(next)?,
                stage: match entry[8] {
                    AGENDA_NO_STAGE => None,
                    byte => Some(Stage::from_index(byte & !AGENDA_DAY_AFTER)?),
                },
                overdue_arrears: Money::from_paise(i64::from_le_bytes(
                    entry[9..17].try_into().ok()?,
                )),
                day_after: entry[8] != AGENDA_NO_STAGE && entry[8] & AGENDA_DAY_AFTER != 0,
            });
        }
    }
    (entries.len() as u64 == count).then_some(Agenda {
        as_of,
        position,
        policy,
        entries,
    })
}

/// Decides the consumers of `consumers` (the world's from index `first`) that `agenda` does
/// not skip, and takes the skipped ones as the agenda has them.
fn decide_share(
    world: &World,
    first: usize,
    consumers: &[StoredConsumer],
    as_of: NaiveDate,
    policy: &Policy,
    camps: &HashMap<&str, Vec<&Camp>>,
    agenda: Option<&Agenda>,
) -> Share {
    let mut share = Share::default();
    let since = window_start(world, as_of);
    for (offset, stored) in consumers.iter().enumerate() {
        let camp_announced = camps.contains_key(stored.subdivision.as_str());
        let skipped = agenda
            .filter(|_| !camp_announced)
            .and_then(|a| a.skips(first + offset, stored, as_of));
        if let Some(entry) = skipped {
            share.count(entry);
            continue;
        }
        share.visited += 1;
        if stored.connected_on > as_of {
            share.count(AgendaEntry {
                journal_len: JOURNAL_UNSETTLED,
                next: stored.connected_on,
                stage: None,
                overdue_arrears: Money::ZERO,
                day_after: false,
            });
            continue;
        }
        let consumer = &stored.consumer();
        let camps_ahead = camps
            .get(consumer.subdivision.as_str())
            .map_or(&[][..], Vec::as_slice);
        let (decision, day_after) =
            decide_consumer_ahead(world, consumer, as_of, policy, camps_ahead);
        count_money(&mut share.money, consumer, &decision, since, as_of);
        share.count_at(Some(decision.stage), decision.overdue_arrears);
        share
            .agenda
            .push(AgendaEntry::decided(&decision, day_after));
        for event in decision.events {
            match encode_event(&event) {
                Ok(payload) => share.events.push((event, payload)),
                Err(e) => {
                    share.error = Some(e.to_string());
                    return share;
                }
            }
        }
    }
    share
}

/// The first day whose bills and payments a run on `as_of` counts: the day after the previous
/// run, or none for a first run. A rerun of the same date counts nothing new.
fn window_start(world: &World, as_of: NaiveDate) -> Option<NaiveDate> {
    match world.last_nightly {
        Some(last) if last >= as_of => Some(as_of.succ_opt().unwrap_or(as_of)),
        Some(last) => last.succ_opt(),
        None => None,
    }
}

/// Adds one consumer's bills, payments and levies to `money` (its arrears are counted by
/// stage with [`Share::count_at`]).
fn count_money(
    money: &mut NightlyMoney,
    consumer: &Consumer,
    decision: &Decision,
    since: Option<NaiveDate>,
    as_of: NaiveDate,
) {
    let within = |date: NaiveDate| date <= as_of && since.is_none_or(|s| date >= s);
    for bill in consumer.bills.iter().filter(|b| within(b.issued_on)) {
        money.billed += bill.amount_as_of(as_of);
    }
    for payment in consumer.payments.iter() {
        if within(payment.paid_on) && payment.counts_on(as_of) {
            money.collected += payment.amount;
        }
    }
    for event in &decision.events {
        if let Event::SurchargeLevied(levy) = event {
            money.surcharge_levied += levy.amount;
        }
    }
}

pub fn run(engine: &mut Engine, as_of: NaiveDate) -> Result<NightlySummary, EngineError> {
    run_in_blocks(engine, as_of, NIGHTLY_BLOCK_CONSUMERS)
}

/// [`run`], deciding `block` consumers between appends (at least one).
pub fn run_in_blocks(
    engine: &mut Engine,
    as_of: NaiveDate,
    block: usize,
) -> Result<NightlySummary, EngineError> {
    let started = Instant::now();
    let decided = decide_and_append(engine, as_of, block);
    let completed = complete(engine, decided, started);
    engine.save_agenda();
    completed
}

/// Ends a run [`decide_and_append`] answered `decided` for: whatever was appended (all of the
/// run, or the part before a failure) is read into the world, so the world never lags the
/// log, the run's agenda is kept when it ended well, and then the run's answer is given.
pub fn complete(
    engine: &mut Engine,
    decided: Result<NightlySummary, EngineError>,
    started: Instant,
) -> Result<NightlySummary, EngineError> {
    let finished = finish(engine);
    engine.settle_agenda(decided.is_ok() && finished.is_ok());
    let mut summary = decided?;
    finished?;
    summary.elapsed_ms = started.elapsed().as_millis();
    Ok(summary)
}

/// The run's decisions, appended to the log in durable commits, with the world left as it
/// was: every reader still sees the world from before the run. [`finish`] then reads the
/// run into the world at once. (A server runs this part sharing the engine with its readers.)
pub fn decide_and_append(
    engine: &Engine,
    as_of: NaiveDate,
    block: usize,
) -> Result<NightlySummary, EngineError> {
    let block = block.max(1);
    if let Some(e) = vasooli_domain::dates::check_nightly(as_of, engine.today()) {
        return Err(EngineError::Rejected(vec![crate::RowError {
            location: String::new(),
            field: e.field,
            reason: e.reason,
            kind: crate::ErrorKind::Unprocessable,
        }]));
    }
    let world = engine.world();
    if let Some(last) = world.last_nightly {
        if as_of < last {
            return Err(EngineError::Usage(format!(
                "--as-of {as_of} is before the last nightly run's date {last}"
            )));
        }
    }
    if let Some(marks) = engine.nightly_marks() {
        marks.started(as_of)?;
    }
    let new_date = world.last_nightly != Some(as_of);
    let consumers = world.consumers.len();
    let mut summary = NightlySummary {
        as_of: Some(as_of),
        events_read: world.position,
        ..Default::default()
    };
    summary.money.since = window_start(world, as_of);
    // Consumers are decided in blocks, each appended before the next is decided, so the run
    // holds one block's events at a time however large the utility. Consumers are
    // independent of each other (a block's events change no other consumer) and the run's own
    // record comes last, so the decisions and the log are the same as deciding everyone at
    // once, and a run cut off part-way is completed by running it again.
    let policy_print = policy_fingerprint(engine.policy());
    let agenda = Agenda::for_run(engine.agenda(), world, policy_print);
    let mut next_agenda = Agenda {
        as_of,
        position: 0,
        policy: policy_print,
        entries: Vec::with_capacity(consumers),
    };
    let mut from = 0;
    loop {
        let to = consumers.min(from + block);
        let decided = decide_block(
            world,
            engine.policy(),
            from..to,
            as_of,
            &mut summary,
            agenda,
            &mut next_agenda.entries,
        )?;
        summary.appended += decided.len();
        engine.append_commits(&decided)?;
        from = to;
        if from >= consumers {
            break;
        }
    }
    if new_date || summary.appended > 0 {
        let done = Event::NightlyRunCompleted(NightlyRunCompleted { as_of });
        let payload = encode_event(&done).map_err(|e| EngineError::Corrupt(e.to_string()))?;
        engine.append_commits(&[(done, payload)])?;
        summary.appended += 1;
    }
    if let Some(marks) = engine.nightly_marks() {
        if let Err(e) = marks.finished(as_of) {
            tracing::warn!("the end of the nightly run of {as_of} was not recorded: {e}");
        }
    }
    engine.stage_agenda(next_agenda);
    Ok(summary)
}

/// Reads what [`decide_and_append`] appended into the world (and saves a checkpoint when
/// one is due).
pub fn finish(engine: &mut Engine) -> Result<(), EngineError> {
    engine.catch_up()?;
    engine.maybe_checkpoint()
}

/// Consumers decided between appends (see [`run`]).
pub const NIGHTLY_BLOCK_CONSUMERS: usize = 25_000;

/// Decides the consumers in `range` on threads (those `agenda` does not skip) and joins their
/// events in consumer order, so the log does not depend on the thread count; counts stages
/// and events into `summary`, and the consumers' agenda entries into `entries`.
fn decide_block(
    world: &World,
    policy: &Policy,
    range: std::ops::Range<usize>,
    as_of: NaiveDate,
    summary: &mut NightlySummary,
    agenda: Option<&Agenda>,
    entries: &mut Vec<AgendaEntry>,
) -> Result<Vec<(Event, Vec<u8>)>, EngineError> {
    let start = range.start;
    let camps = sms_queue::camps_ahead_by_subdivision(world, as_of, policy);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, NIGHTLY_THREADS_MAX);
    let block = &world.consumers[range];
    let chunk = block.len().div_ceil(threads).max(1);
    let camps = &camps;
    let shares: Vec<Share> = std::thread::scope(|scope| {
        let handles: Vec<_> = block
            .chunks(chunk)
            .enumerate()
            .map(|(n, part)| {
                let first = start + n * chunk;
                scope.spawn(move || decide_share(world, first, part, as_of, policy, camps, agenda))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| Share {
                    error: Some("a nightly worker panicked".into()),
                    ..Share::default()
                })
            })
            .collect()
    });
    let mut decided: Vec<(Event, Vec<u8>)> = Vec::new();
    for share in shares {
        if let Some(e) = share.error {
            return Err(EngineError::Corrupt(e));
        }
        for (stage, count) in share.stages {
            *summary.stages.entry(stage).or_insert(0) += count;
        }
        entries.extend(share.agenda);
        summary.visited += share.visited;
        let money = &mut summary.money;
        money.billed += share.money.billed;
        money.collected += share.money.collected;
        money.surcharge_levied += share.money.surcharge_levied;
        for (stage, arrears) in share.money.arrears_by_stage {
            *money.arrears_by_stage.entry(stage).or_default() += arrears;
        }
        for (event, _) in &share.events {
            match event {
                Event::SurchargeLevied(_) => summary.surcharges += 1,
                Event::NoticeIssued(_) => summary.notices += 1,
                Event::CaseClosed(_) => summary.cases_closed += 1,
                Event::InstallmentPlanBroken(_) => summary.plans_broken += 1,
                Event::SmsQueued(_) => summary.sms_queued += 1,
                _ => {}
            }
        }
        decided.extend(share.events);
    }
    Ok(decided)
}
