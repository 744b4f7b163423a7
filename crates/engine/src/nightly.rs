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
//! it, in the domain's pure [`decide_consumer`]; the events are then appended and the world
//! brought up to date from the log.

use crate::engine::{Engine, EngineError};
use crate::sms_queue;
use chrono::NaiveDate;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;
use vasooli_domain::codec::encode_event;
use vasooli_domain::event::*;
pub use vasooli_domain::nightly::{decide_consumer, Decision};
use vasooli_domain::state::{Camp, Consumer, StoredConsumer, World};
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
    error: Option<String>,
}

fn decide_share(
    world: &World,
    consumers: &[StoredConsumer],
    as_of: NaiveDate,
    policy: &Policy,
    camps: &HashMap<&str, Vec<&Camp>>,
) -> Share {
    let mut share = Share::default();
    let since = window_start(world, as_of);
    for stored in consumers {
        if stored.connected_on > as_of {
            continue;
        }
        let consumer = &stored.consumer();
        let camps_ahead = camps
            .get(consumer.subdivision.as_str())
            .map_or(&[][..], Vec::as_slice);
        let decision = decide_consumer(world, consumer, as_of, policy, camps_ahead);
        let stage = decision.stage.as_str();
        *share.stages.entry(stage).or_insert(0) += 1;
        count_money(&mut share.money, consumer, &decision, since, as_of);
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

/// Adds one consumer's bills, payments, levies and arrears to `money`.
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
    *money
        .arrears_by_stage
        .entry(decision.stage.as_str())
        .or_default() += decision.overdue_arrears;
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
    complete(engine, decided, started)
}

/// Ends a run [`decide_and_append`] answered `decided` for: whatever was appended (all of the
/// run, or the part before a failure) is read into the world, so the world never lags the
/// log, and then the run's answer is given.
pub fn complete(
    engine: &mut Engine,
    decided: Result<NightlySummary, EngineError>,
    started: Instant,
) -> Result<NightlySummary, EngineError> {
    let finished = finish(engine);
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
    let mut from = 0;
    loop {
        let to = consumers.min(from + block);
        let decided = decide_block(world, engine.policy(), from..to, as_of, &mut summary)?;
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

/// Decides the consumers in `range` on threads and joins their events in consumer order, so
/// the log does not depend on the thread count; counts stages and events into `summary`.
fn decide_block(
    world: &World,
    policy: &Policy,
    range: std::ops::Range<usize>,
    as_of: NaiveDate,
    summary: &mut NightlySummary,
) -> Result<Vec<(Event, Vec<u8>)>, EngineError> {
    let camps = sms_queue::camps_ahead_by_subdivision(world, as_of, policy);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, NIGHTLY_THREADS_MAX);
    let block = &world.consumers[range];
    let chunk = block.len().div_ceil(threads).max(1);
    let shares: Vec<Share> = std::thread::scope(|scope| {
        let handles: Vec<_> = block
            .chunks(chunk)
            .map(|part| scope.spawn(|| decide_share(world, part, as_of, policy, &camps)))
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
