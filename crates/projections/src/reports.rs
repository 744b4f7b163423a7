//! Headquarters' reports (docs/RULES.md): office performance metrics, rankings and
//! awards, the mobile registration campaign, and the camp and grievance report.
//!
//! Every function here is pure: it reads a `World` and the `Policy` and returns rows. The
//! figures depend only on events whose business dates fall on or before the dates asked
//! about, never on when or whether the nightly run ran: surcharges, the one kind of event the
//! nightly run makes that touches money, are left out of the arrears used here.
//!
//! The utility has millions of consumers, so a report makes one pass over them, sums figures
//! per subdivision and then rolls those sums up the office tree. Every sum is additive, which
//! also lets a large pass be split across threads and merged.
//!
//! Each row type names its columns once, in `COLUMNS`, and `to_record` pairs them with the
//! formatted values, so the CLI's table and CSV and the HTTP API's JSON are written from one
//! place.

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::{BTreeMap, HashMap, HashSet};
use vasooli_domain::period::Period;
use vasooli_domain::policy::{Policy, RankingWeights};
use vasooli_domain::state::{Connection, Consumer, Grievance, Office, StoredConsumer, Text, World};
use vasooli_domain::types::{Channel, GrievanceCategory, Level, MobileSource};
use vasooli_domain::Money;

/// A mobile number registered for more active consumers than this is flagged as shared
/// (docs/RULES.md): often a field agent's own number.
pub const SHARED_MOBILE_CONSUMERS_MAX: usize = 5;

/// The designation whose presence at camps the camp report measures.
const SDO_DESIGNATION: &str = "SDO";

/// Below this many consumers one thread is quicker than starting several.
const PARALLEL_CONSUMERS_MIN: usize = 100_000;

/// The most worker threads one pass over consumers uses.
const THREADS_MAX: usize = 16;

/// The levels that receive awards, in the order they are listed.
const AWARD_LEVELS: [Level; 3] = [Level::Circle, Level::Division, Level::Subdivision];

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

/// Formats a percentage or score with exactly two decimals, rounding half away from zero
/// (docs/RULES.md; `Decimal::round_dp` would round half to even).
pub fn format_pct(value: Decimal) -> String {
    let mut rounded = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    // A tiny negative value rounds to zero; "-0.00" would only confuse a reader.
    if rounded.is_zero() {
        rounded.set_sign_positive(true);
    }
    rounded.rescale(2);
    rounded.to_string()
}

/// A value rounded to two decimals, half away from zero, as it is shown.
fn round2(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

fn pct_text(value: Option<Decimal>) -> Option<String> {
    value.map(format_pct)
}

fn money_text(value: Money) -> Option<String> {
    Some(value.to_string())
}

fn count_text(value: u64) -> Option<String> {
    Some(value.to_string())
}

/// Pairs a row's column names with its values, which the caller lists in the same order.
fn record(
    columns: &'static [&'static str],
    values: Vec<Option<String>>,
) -> Vec<(&'static str, Option<String>)> {
    debug_assert_eq!(columns.len(), values.len(), "one value per column");
    columns.iter().copied().zip(values).collect()
}

/// `part / whole × 100`, unrounded; `None` when `whole` is zero (or, unreachably for real
/// amounts, when the division overflows).
fn percentage(part: Decimal, whole: Decimal) -> Option<Decimal> {
    if whole.is_zero() {
        return None;
    }
    part.checked_mul(Decimal::ONE_HUNDRED)?.checked_div(whole)
}

fn money_percentage(part: Money, whole: Money) -> Option<Decimal> {
    percentage(part.to_decimal(), whole.to_decimal())
}

fn count_percentage(part: u64, whole: u64) -> Option<Decimal> {
    percentage(Decimal::from(part), Decimal::from(whole))
}

// ---------------------------------------------------------------------------------------------
// Per-consumer figures
// ---------------------------------------------------------------------------------------------

/// A period as its two inclusive bounds, so that each test of a date is two comparisons.
#[derive(Clone, Copy, Debug)]
struct Span {
    first: NaiveDate,
    last: NaiveDate,
}

impl Span {
    fn of(period: Period) -> Span {
        Span {
            first: period.first_day(),
            last: period.last_day(),
        }
    }

    fn contains(self, date: NaiveDate) -> bool {
        self.first <= date && date <= self.last
    }
}

/// Principal arrears as of `date` (docs/RULES.md): the ledger's overdue arrears with
/// surcharges left out.
///
/// Charges are allocated in due-date order, so the charges overdue on `date` (due before it)
/// are a prefix of the allocation order. Every charge is non-negative, so the unpaid parts of
/// a prefix add up to `max(0, prefix total − total credits)`. That gives the same figure as
/// `ledger::ledger_as_of(.., Charges::PrincipalOnly, ..)` without building and sorting the
/// ledger, which matters when the report covers millions of consumers.
fn principal_arrears(consumer: &Consumer, date: NaiveDate) -> Money {
    let mut overdue_charges = Money::ZERO;
    let mut credits = Money::ZERO;
    for bill in consumer
        .bills
        .iter()
        .filter(|b| b.issued_on <= date && b.due_on < date)
    {
        overdue_charges += bill.amount_as_of(date).max(Money::ZERO);
    }
    for adjustment in consumer.adjustments.iter().filter(|a| a.posted_on <= date) {
        if adjustment.amount.is_positive() {
            // A debit adjustment is due on the day it is posted.
            if adjustment.posted_on < date {
                overdue_charges += adjustment.amount;
            }
        } else {
            credits -= adjustment.amount;
        }
    }
    for payment in consumer.payments.iter().filter(|p| p.counts_on(date)) {
        credits += payment.amount;
    }
    for dispute in consumer.disputes.iter().filter(|d| d.on <= date) {
        credits += dispute.deposit;
    }
    (overdue_charges - credits).max(Money::ZERO)
}

/// What a bill adds to `billed` in a period: its amount if issued in the period, plus the
/// change each revision dated in the period made.
///
/// Revisions take effect in date order, later-logged first among the same date last (as
/// `Bill::amount_as_of` reads them), so the amount just before a revision is the one the
/// revision before it in that order left. The changes then add up to the amount in force.
fn bill_billed_in(bill: &vasooli_domain::state::Bill, span: Span) -> Money {
    let mut billed = if span.contains(bill.issued_on) {
        bill.amount
    } else {
        Money::ZERO
    };
    if bill.revisions.is_empty() {
        return billed;
    }
    let mut order: Vec<usize> = (0..bill.revisions.len()).collect();
    order.sort_by_key(|&i| (bill.revisions[i].revised_on, i));
    let mut previous_amount = bill.amount;
    for i in order {
        let revision = &bill.revisions[i];
        if span.contains(revision.revised_on) {
            billed += revision.new_amount - previous_amount;
        }
        previous_amount = revision.new_amount;
    }
    billed
}

/// Connected by `date` and not permanently disconnected as of it: the consumers the mobile
/// campaign and the mobile coverage metric count.
fn is_active(consumer: &Consumer, date: NaiveDate) -> bool {
    consumer.connected_on <= date
        && !matches!(
            consumer.connection_as_of(date),
            Connection::PermanentlyDisconnected { .. }
        )
}

/// How a grievance registered in a period counts towards its resolution share (docs/RULES.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GrievanceOutcome {
    /// Resolved within `resolution_days`, on or before the period's last day.
    InTime,
    /// Its `resolution_days` ran out before the period's last day without a resolution in time
    /// (never resolved, resolved late, or resolved only after the period).
    Late,
}

/// `None` when the grievance was not registered in the period, or is still within its time
/// at the period's end and so is left out.
fn grievance_outcome(
    grievance: &Grievance,
    span: Span,
    resolution_days: i64,
) -> Option<GrievanceOutcome> {
    if !span.contains(grievance.registered_on) {
        return None;
    }
    // Resolutions after the period's last day are not known as of that day.
    let resolved_on = grievance.resolved_on.filter(|r| *r <= span.last);
    if resolved_on.is_some_and(|r| (r - grievance.registered_on).num_days() <= resolution_days) {
        return Some(GrievanceOutcome::InTime);
    }
    // The deadline is registered_on + resolution_days; it has run out by the last day when it
    // falls before it. On the deadline itself there is still time to resolve.
    if (span.last - grievance.registered_on).num_days() > resolution_days {
        Some(GrievanceOutcome::Late)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// One pass over consumers, summed per subdivision
// ---------------------------------------------------------------------------------------------

/// Subdivisions by position, so that per-subdivision sums live in a plain vector.
struct Subdivisions<'w> {
    codes: Vec<&'w Office>,
    index: HashMap<&'w str, usize>,
}

impl<'w> Subdivisions<'w> {
    fn from_offices(offices: Vec<&'w Office>) -> Subdivisions<'w> {
        let index = offices
            .iter()
            .enumerate()
            .map(|(i, office)| (office.code.as_str(), i))
            .collect();
        Subdivisions {
            codes: offices,
            index,
        }
    }

    /// Every subdivision of the utility, in code order.
    fn all(world: &'w World) -> Subdivisions<'w> {
        Subdivisions::from_offices(
            world
                .offices
                .values()
                .filter(|o| o.level == Level::Subdivision)
                .collect(),
        )
    }

    /// The subdivisions at or below an office, in code order; none for an unknown office.
    fn under(world: &'w World, office_code: &str) -> Subdivisions<'w> {
        Subdivisions::from_offices(
            world
                .subdivisions_under(office_code)
                .iter()
                .filter_map(|code| world.offices.get(code))
                .collect(),
        )
    }

    fn len(&self) -> usize {
        self.codes.len()
    }

    fn position(&self, code: &str) -> Option<usize> {
        self.index.get(code).copied()
    }
}

fn threads_for(consumers: usize) -> usize {
    if consumers < PARALLEL_CONSUMERS_MIN {
        return 1;
    }
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(THREADS_MAX)
}

/// Folds every consumer into an accumulator, split over up to `threads` threads whose
/// results are merged. The result does not depend on the number of threads as long as
/// `merge` is the sum that `fold` builds.
fn fold_consumers<T, I, F, M>(
    consumers: &[StoredConsumer],
    threads: usize,
    init: I,
    fold: F,
    merge: M,
) -> T
where
    T: Send,
    I: Fn() -> T + Sync,
    F: Fn(&mut T, &Consumer) + Sync,
    M: Fn(&mut T, T),
{
    let run = |part: &[StoredConsumer]| {
        let mut accumulator = init();
        for consumer in part {
            fold(&mut accumulator, &consumer.consumer());
        }
        accumulator
    };
    if threads <= 1 || consumers.len() < 2 {
        return run(consumers);
    }
    let chunk = consumers.len().div_ceil(threads);
    let parts: Vec<T> = std::thread::scope(|scope| {
        let run = &run;
        let handles: Vec<_> = consumers
            .chunks(chunk)
            .map(|part| scope.spawn(move || run(part)))
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut parts = parts.into_iter();
    let mut total = parts.next().unwrap_or_else(&init);
    for part in parts {
        merge(&mut total, part);
    }
    total
}

/// The additive figures behind an office's metrics for one period: one subdivision's (or,
/// summed, one office's). Partitions of a utility each publish their subdivisions' figures,
/// and headquarters ranks the offices from their sum (see [`crate::figures`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Totals {
    pub billed: Money,
    pub collected: Money,
    pub collected_digital: Money,
    pub opening_arrears: Money,
    pub closing_arrears: Money,
    pub consumers_active: u64,
    pub consumers_with_mobile: u64,
    pub grievances_in_time: u64,
    pub grievances_counted: u64,
}

impl Totals {
    /// Takes away figures [`Totals::add`] added before (a changed consumer's old share).
    pub fn subtract(&mut self, other: &Totals) {
        self.billed -= other.billed;
        self.collected -= other.collected;
        self.collected_digital -= other.collected_digital;
        self.opening_arrears -= other.opening_arrears;
        self.closing_arrears -= other.closing_arrears;
        self.consumers_active -= other.consumers_active;
        self.consumers_with_mobile -= other.consumers_with_mobile;
        self.grievances_in_time -= other.grievances_in_time;
        self.grievances_counted -= other.grievances_counted;
    }

    /// Adds another part's figures (every figure is a sum).
    pub fn add(&mut self, other: &Totals) {
        self.billed += other.billed;
        self.collected += other.collected;
        self.collected_digital += other.collected_digital;
        self.opening_arrears += other.opening_arrears;
        self.closing_arrears += other.closing_arrears;
        self.consumers_active += other.consumers_active;
        self.consumers_with_mobile += other.consumers_with_mobile;
        self.grievances_in_time += other.grievances_in_time;
        self.grievances_counted += other.grievances_counted;
    }

    fn add_consumer(&mut self, consumer: &Consumer, span: Span) {
        for bill in &consumer.bills {
            self.billed += bill_billed_in(bill, span);
        }
        for payment in &consumer.payments {
            // A reversal is subtracted in the period it is dated in, which need not be the
            // period the payment was counted in.
            let mut net = Money::ZERO;
            if span.contains(payment.paid_on) {
                net += payment.amount;
            }
            if payment.reversed_on.is_some_and(|r| span.contains(r)) {
                net -= payment.amount;
            }
            self.collected += net;
            if payment.channel.is_digital() {
                self.collected_digital += net;
            }
        }
        if let Some(day_before) = span.first.pred_opt() {
            self.opening_arrears += principal_arrears(consumer, day_before);
        }
        self.closing_arrears += principal_arrears(consumer, span.last);
        if is_active(consumer, span.last) {
            self.consumers_active += 1;
            if consumer.mobile_as_of(span.last).is_some() {
                self.consumers_with_mobile += 1;
            }
        }
    }

    fn add_grievance(&mut self, outcome: GrievanceOutcome) {
        self.grievances_counted += 1;
        if outcome == GrievanceOutcome::InTime {
            self.grievances_in_time += 1;
        }
    }
}

/// The totals of every subdivision in `subdivisions` for one period.
fn subdivision_totals(
    world: &World,
    policy: &Policy,
    span: Span,
    subdivisions: &Subdivisions,
    threads: usize,
) -> Vec<Totals> {
    let mut totals = consumer_totals(world, &[span], subdivisions, threads)
        .pop()
        .expect("one span's totals");
    add_grievances(world, policy, span, subdivisions, &mut totals);
    totals
}

/// The consumers' share of the totals of every subdivision in `subdivisions` (all but the
/// grievances), for each of `spans` in one pass over the consumers.
fn consumer_totals(
    world: &World,
    spans: &[Span],
    subdivisions: &Subdivisions,
    threads: usize,
) -> Vec<Vec<Totals>> {
    fold_consumers(
        &world.consumers,
        threads,
        || vec![vec![Totals::default(); subdivisions.len()]; spans.len()],
        |totals: &mut Vec<Vec<Totals>>, consumer| {
            if let Some(i) = subdivisions.position(&consumer.subdivision) {
                for (span_totals, span) in totals.iter_mut().zip(spans) {
                    span_totals[i].add_consumer(consumer, *span);
                }
            }
        },
        |totals, part| {
            for (span_totals, span_part) in totals.iter_mut().zip(&part) {
                for (total, figures) in span_totals.iter_mut().zip(span_part) {
                    total.add(figures);
                }
            }
        },
    )
}

/// Adds the grievances' share of the totals of every subdivision in `subdivisions`.
fn add_grievances(
    world: &World,
    policy: &Policy,
    span: Span,
    subdivisions: &Subdivisions,
    totals: &mut [Totals],
) {
    for grievance in world.grievances.values() {
        let Some(i) = subdivisions.position(&grievance.subdivision) else {
            continue;
        };
        if let Some(outcome) = grievance_outcome(grievance, span, policy.grievances.resolution_days)
        {
            totals[i].add_grievance(outcome);
        }
    }
}

/// Totals by subdivision code, leaving out those that are all zero (they add nothing to any
/// office).
fn by_code(subdivisions: &Subdivisions, totals: Vec<Totals>) -> BTreeMap<String, Totals> {
    subdivisions
        .codes
        .iter()
        .zip(totals)
        .filter(|(_, totals)| *totals != Totals::default())
        .map(|(office, totals)| (office.code.clone(), totals))
        .collect()
}

/// The consumers' share of every subdivision's figures (all but the grievances), for each of
/// `periods`, in one pass over the world's consumers: with [`grievance_figures`], what
/// [`subdivision_figures`] gives. The share is a sum over consumers, each depending on that
/// consumer's history alone, so the share of a world whose consumers changed is the share
/// before, less the changed consumers' share before, plus their share after.
pub fn consumer_figures(world: &World, periods: &[Period]) -> Vec<BTreeMap<String, Totals>> {
    let subdivisions = Subdivisions::all(world);
    let spans: Vec<Span> = periods.iter().map(|p| Span::of(*p)).collect();
    consumer_totals(
        world,
        &spans,
        &subdivisions,
        threads_for(world.consumers.len()),
    )
    .into_iter()
    .map(|totals| by_code(&subdivisions, totals))
    .collect()
}

/// The grievances' share of every subdivision's figures for `period` (see
/// [`consumer_figures`]).
pub fn grievance_figures(
    world: &World,
    policy: &Policy,
    period: Period,
) -> BTreeMap<String, Totals> {
    let subdivisions = Subdivisions::all(world);
    let mut totals = vec![Totals::default(); subdivisions.len()];
    add_grievances(world, policy, Span::of(period), &subdivisions, &mut totals);
    by_code(&subdivisions, totals)
}

// ---------------------------------------------------------------------------------------------
// Office metrics and the score
// ---------------------------------------------------------------------------------------------

/// One office's performance in one period (docs/RULES.md). Percentages are unrounded;
/// `None` is a null metric.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfficeMetrics {
    pub office_code: String,
    pub office_name: String,
    pub billed: Money,
    pub collected: Money,
    /// Digital-channel payments in the period less digital reversals in it.
    pub collected_digital: Money,
    pub collection_efficiency_pct: Option<Decimal>,
    pub opening_arrears: Money,
    pub closing_arrears: Money,
    pub arrears_reduction_pct: Option<Decimal>,
    pub digital_share_pct: Option<Decimal>,
    /// Consumers connected by the period's last day and not permanently disconnected.
    pub consumers_active: u64,
    pub consumers_with_mobile: u64,
    pub mobile_coverage_pct: Option<Decimal>,
    pub grievances_resolved_in_time: u64,
    /// Grievances that count: resolved in time, or out of time by the period's end.
    pub grievances_counted: u64,
    pub grievance_resolution_pct: Option<Decimal>,
    pub score: Decimal,
}

impl OfficeMetrics {
    fn from_totals(office: &Office, totals: &Totals, weights: &RankingWeights) -> OfficeMetrics {
        let collection_efficiency_pct = money_percentage(totals.collected, totals.billed);
        let arrears_reduction_pct = money_percentage(
            totals.opening_arrears - totals.closing_arrears,
            totals.opening_arrears,
        );
        let digital_share_pct = money_percentage(totals.collected_digital, totals.collected);
        let mobile_coverage_pct =
            count_percentage(totals.consumers_with_mobile, totals.consumers_active);
        let grievance_resolution_pct =
            count_percentage(totals.grievances_in_time, totals.grievances_counted);
        let score = weighted_score(&[
            (collection_efficiency_pct, weights.collection_efficiency),
            (arrears_reduction_pct, weights.arrears_reduction),
            (grievance_resolution_pct, weights.grievance_resolution),
            (digital_share_pct, weights.digital_share),
            (mobile_coverage_pct, weights.mobile_coverage),
        ]);
        OfficeMetrics {
            office_code: office.code.clone(),
            office_name: office.name.clone(),
            billed: totals.billed,
            collected: totals.collected,
            collected_digital: totals.collected_digital,
            collection_efficiency_pct,
            opening_arrears: totals.opening_arrears,
            closing_arrears: totals.closing_arrears,
            arrears_reduction_pct,
            digital_share_pct,
            consumers_active: totals.consumers_active,
            consumers_with_mobile: totals.consumers_with_mobile,
            mobile_coverage_pct,
            grievances_resolved_in_time: totals.grievances_in_time,
            grievances_counted: totals.grievances_counted,
            grievance_resolution_pct,
            score,
        }
    }
}

/// Score = 100 × Σ wᵢ·cᵢ / Σ wᵢ over the metrics that are not null, with
/// cᵢ = clamp(metricᵢ, 0, 100) / 100. A null metric drops out of both sums, so the others are
/// re-weighted rather than the office being marked down for, say, having no grievances.
/// Written as Σ wᵢ·clamp(metricᵢ) / Σ wᵢ, which is the same figure with one division.
fn weighted_score(parts: &[(Option<Decimal>, u32)]) -> Decimal {
    let mut weighted_sum = Decimal::ZERO;
    let mut weight_sum = 0u64;
    for (metric, weight) in parts {
        if let Some(value) = metric {
            weighted_sum +=
                Decimal::from(*weight) * (*value).clamp(Decimal::ZERO, Decimal::ONE_HUNDRED);
            weight_sum += u64::from(*weight);
        }
    }
    if weight_sum == 0 {
        return Decimal::ZERO;
    }
    weighted_sum / Decimal::from(weight_sum)
}

/// Sums subdivision totals into the offices of `level`, in code order. Offices with no
/// consumers get zero totals and appear with null metrics; a subdivision the office tree does
/// not know is left out.
fn roll_up<'t>(
    offices: &BTreeMap<String, Office>,
    policy: &Policy,
    totals: impl IntoIterator<Item = (&'t str, &'t Totals)>,
    level: Level,
) -> Vec<OfficeMetrics> {
    let at_level: Vec<&Office> = offices.values().filter(|o| o.level == level).collect();
    let position: HashMap<&str, usize> = at_level
        .iter()
        .enumerate()
        .map(|(i, office)| (office.code.as_str(), i))
        .collect();
    let mut sums = vec![Totals::default(); at_level.len()];
    for (subdivision, figures) in totals {
        let Some(office) = ancestor_at(offices, subdivision, level) else {
            continue;
        };
        if let Some(&i) = position.get(office.code.as_str()) {
            sums[i].add(figures);
        }
    }
    at_level
        .iter()
        .zip(&sums)
        .map(|(office, totals)| OfficeMetrics::from_totals(office, totals, &policy.ranking.weights))
        .collect()
}

/// The office of `level` at or above `code`.
pub(crate) fn ancestor_at<'o>(
    offices: &'o BTreeMap<String, Office>,
    code: &str,
    level: Level,
) -> Option<&'o Office> {
    let mut office = offices.get(code)?;
    // The tree has four levels; a longer climb is a cycle (the tree may come from files).
    for _ in 0..Level::ALL.len() {
        if office.level == level {
            return Some(office);
        }
        office = offices.get(office.parent.as_ref()?)?;
    }
    (office.level == level).then_some(office)
}

/// [`subdivision_figures`] of each of `periods`, in order, from one pass over the consumers.
pub fn subdivision_figures_of(
    world: &World,
    policy: &Policy,
    periods: &[Period],
) -> Vec<BTreeMap<String, Totals>> {
    consumer_figures(world, periods)
        .into_iter()
        .zip(periods)
        .map(|(mut figures, period)| {
            for (code, totals) in grievance_figures(world, policy, *period) {
                figures.entry(code).or_default().add(&totals);
            }
            figures
        })
        .collect()
}

/// Every subdivision's totals for `period`, in code order, leaving out subdivisions whose
/// figures are all zero (they add nothing to any office).
pub fn subdivision_figures(
    world: &World,
    policy: &Policy,
    period: Period,
) -> BTreeMap<String, Totals> {
    let subdivisions = Subdivisions::all(world);
    let totals = subdivision_totals(
        world,
        policy,
        Span::of(period),
        &subdivisions,
        threads_for(world.consumers.len()),
    );
    by_code(&subdivisions, totals)
}

/// The metrics of every office of `level` for `period`, in office code order, including
/// offices that billed nothing.
pub fn office_metrics(
    world: &World,
    policy: &Policy,
    period: Period,
    level: Level,
) -> Vec<OfficeMetrics> {
    let figures = subdivision_figures(world, policy, period);
    roll_up(&world.offices, policy, parts(&figures), level)
}

// ---------------------------------------------------------------------------------------------
// Rankings
// ---------------------------------------------------------------------------------------------

/// One line of the `rankings` output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RankingRow {
    pub period: Period,
    pub level: Level,
    /// 1 for the best office.
    pub rank: usize,
    pub office_code: String,
    pub office_name: String,
    pub billed: Money,
    pub collected: Money,
    pub collection_efficiency_pct: Option<Decimal>,
    pub opening_arrears: Money,
    pub closing_arrears: Money,
    pub arrears_reduction_pct: Option<Decimal>,
    pub digital_share_pct: Option<Decimal>,
    pub mobile_coverage_pct: Option<Decimal>,
    pub grievance_resolution_pct: Option<Decimal>,
    pub score: Decimal,
}

impl RankingRow {
    pub const COLUMNS: &'static [&'static str] = &[
        "period",
        "level",
        "rank",
        "office_code",
        "office_name",
        "billed",
        "collected",
        "collection_efficiency_pct",
        "opening_arrears",
        "closing_arrears",
        "arrears_reduction_pct",
        "digital_share_pct",
        "mobile_coverage_pct",
        "grievance_resolution_pct",
        "score",
    ];

    fn new(period: Period, level: Level, rank: usize, metrics: OfficeMetrics) -> RankingRow {
        RankingRow {
            period,
            level,
            rank,
            office_code: metrics.office_code,
            office_name: metrics.office_name,
            billed: metrics.billed,
            collected: metrics.collected,
            collection_efficiency_pct: metrics.collection_efficiency_pct,
            opening_arrears: metrics.opening_arrears,
            closing_arrears: metrics.closing_arrears,
            arrears_reduction_pct: metrics.arrears_reduction_pct,
            digital_share_pct: metrics.digital_share_pct,
            mobile_coverage_pct: metrics.mobile_coverage_pct,
            grievance_resolution_pct: metrics.grievance_resolution_pct,
            score: metrics.score,
        }
    }

    /// The row's values in `COLUMNS` order, formatted for output; `None` is null.
    pub fn to_record(&self) -> Vec<(&'static str, Option<String>)> {
        record(
            Self::COLUMNS,
            vec![
                Some(self.period.to_string()),
                Some(self.level.as_str().to_string()),
                Some(self.rank.to_string()),
                Some(self.office_code.clone()),
                Some(self.office_name.clone()),
                money_text(self.billed),
                money_text(self.collected),
                pct_text(self.collection_efficiency_pct),
                money_text(self.opening_arrears),
                money_text(self.closing_arrears),
                pct_text(self.arrears_reduction_pct),
                pct_text(self.digital_share_pct),
                pct_text(self.mobile_coverage_pct),
                pct_text(self.grievance_resolution_pct),
                Some(format_pct(self.score)),
            ],
        )
    }
}

/// Ranks offices: those that billed nothing are left out; the rest go by score descending,
/// then collection efficiency descending, then office code, all on unrounded values.
fn rank(period: Period, level: Level, metrics: Vec<OfficeMetrics>) -> Vec<RankingRow> {
    let mut ranked: Vec<OfficeMetrics> = metrics
        .into_iter()
        .filter(|m| !m.billed.is_zero())
        .collect();
    ranked.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then_with(|| {
                b.collection_efficiency_pct
                    .cmp(&a.collection_efficiency_pct)
            })
            .then_with(|| a.office_code.cmp(&b.office_code))
    });
    ranked
        .into_iter()
        .enumerate()
        .map(|(i, metrics)| RankingRow::new(period, level, i + 1, metrics))
        .collect()
}

/// The rankings of the offices of `level` for `period`.
pub fn rankings(world: &World, policy: &Policy, period: Period, level: Level) -> Vec<RankingRow> {
    rank(period, level, office_metrics(world, policy, period, level))
}

/// The rankings of the offices of `level` for `period` from subdivision figures (those of
/// [`subdivision_figures`], or their sum over a utility's partitions) and the office tree.
pub fn rankings_from(
    offices: &BTreeMap<String, Office>,
    policy: &Policy,
    period: Period,
    level: Level,
    figures: &BTreeMap<String, Totals>,
) -> Vec<RankingRow> {
    let metrics = roll_up(offices, policy, parts(figures), level);
    rank(period, level, metrics)
}

// ---------------------------------------------------------------------------------------------
// Awards
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Award {
    Gold,
    Silver,
    Bronze,
    MostImproved,
}

impl Award {
    /// The awards for ranks 1, 2 and 3.
    const PODIUM: [Award; 3] = [Award::Gold, Award::Silver, Award::Bronze];

    pub fn as_str(self) -> &'static str {
        match self {
            Award::Gold => "gold",
            Award::Silver => "silver",
            Award::Bronze => "bronze",
            Award::MostImproved => "most_improved",
        }
    }
}

/// One line of the `awards` output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwardRow {
    pub period: Period,
    pub level: Level,
    pub award: Award,
    pub office_code: String,
    pub office_name: String,
    pub score: Decimal,
    /// Score now less score in the previous period; `None` when the office was not ranked
    /// in the previous period.
    pub score_change: Option<Decimal>,
}

impl AwardRow {
    pub const COLUMNS: &'static [&'static str] = &[
        "period",
        "level",
        "award",
        "office_code",
        "office_name",
        "score",
        "score_change",
    ];

    /// The row's values in `COLUMNS` order, formatted for output; `None` is null.
    pub fn to_record(&self) -> Vec<(&'static str, Option<String>)> {
        record(
            Self::COLUMNS,
            vec![
                Some(self.period.to_string()),
                Some(self.level.as_str().to_string()),
                Some(self.award.as_str().to_string()),
                Some(self.office_code.clone()),
                Some(self.office_name.clone()),
                Some(format_pct(self.score)),
                pct_text(self.score_change),
            ],
        )
    }
}

/// The awards for `period`: at each of circle, division and subdivision, gold, silver and
/// bronze for ranks 1 to 3, then `most_improved` for the largest score gain over the previous
/// period of the same kind among offices ranked in both (ties to the lower office code).
///
/// A gain must be above 0.00 as shown (two decimals): when no office improved there is no
/// `most_improved` at that level.
pub fn awards(world: &World, policy: &Policy, period: Period) -> Vec<AwardRow> {
    let [current, previous] = <[_; 2]>::try_from(subdivision_figures_of(
        world,
        policy,
        &[period, period.previous()],
    ))
    .expect("the figures of two periods");
    awards_from(&world.offices, policy, period, &current, &previous)
}

/// A map of subdivision figures as [`roll_up`] reads them.
fn parts(figures: &BTreeMap<String, Totals>) -> impl Iterator<Item = (&str, &Totals)> {
    figures.iter().map(|(code, totals)| (code.as_str(), totals))
}

/// [`awards`] from subdivision figures of `period` and of the period before it (those of
/// [`subdivision_figures`], or their sum over a utility's partitions) and the office tree.
pub fn awards_from(
    offices: &BTreeMap<String, Office>,
    policy: &Policy,
    period: Period,
    current: &BTreeMap<String, Totals>,
    previous: &BTreeMap<String, Totals>,
) -> Vec<AwardRow> {
    let previous_period = period.previous();
    let mut rows = Vec::new();
    for level in AWARD_LEVELS {
        let ranked_now = rank(
            period,
            level,
            roll_up(offices, policy, parts(current), level),
        );
        let scores_before: HashMap<String, Decimal> = rank(
            previous_period,
            level,
            roll_up(offices, policy, parts(previous), level),
        )
        .into_iter()
        .map(|row| (row.office_code, row.score))
        .collect();
        let change = |row: &RankingRow| scores_before.get(&row.office_code).map(|b| row.score - b);
        let award_row = |award: Award, row: &RankingRow| AwardRow {
            period,
            level,
            award,
            office_code: row.office_code.clone(),
            office_name: row.office_name.clone(),
            score: row.score,
            score_change: change(row),
        };
        for (award, row) in Award::PODIUM.into_iter().zip(&ranked_now) {
            rows.push(award_row(award, row));
        }
        let most_improved = ranked_now
            .iter()
            .filter_map(|row| change(row).map(|gain| (row, gain)))
            .filter(|(_, gain)| round2(*gain) > Decimal::ZERO)
            .max_by(|(row_a, gain_a), (row_b, gain_b)| {
                gain_a
                    .cmp(gain_b)
                    .then_with(|| row_b.office_code.cmp(&row_a.office_code))
            });
        if let Some((row, _)) = most_improved {
            rows.push(award_row(Award::MostImproved, row));
        }
    }
    rows
}

// ---------------------------------------------------------------------------------------------
// Mobile registration campaign
// ---------------------------------------------------------------------------------------------

/// One line of the `campaign` output: a subdivision's mobile registration coverage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampaignRow {
    pub office_code: String,
    pub office_name: String,
    pub active_consumers: u64,
    pub with_mobile: u64,
    pub mobile_coverage_pct: Option<Decimal>,
    /// Distinct shared numbers (registered for more than `SHARED_MOBILE_CONSUMERS_MAX` active
    /// consumers across the utility) that this subdivision's active consumers use.
    pub shared_mobiles: u64,
}

/// Undelivered reports in a row after which a number is flagged for re-verification.
pub const UNDELIVERED_IN_A_ROW_TO_REVERIFY: usize = 3;

/// How many of the last delivery reports on messages sent to `mobile` said undelivered in a
/// row (in the order the messages were queued), and the operator's reason in the last one.
pub fn undelivered_in_a_row(
    consumer: &vasooli_domain::state::Consumer,
    mobile: &str,
) -> (usize, String) {
    let mut reports: Vec<(u64, bool, &str)> = consumer
        .sms
        .iter()
        .filter(|m| m.mobile.as_str() == mobile)
        .filter_map(|m| {
            m.delivery
                .as_ref()
                .map(|d| (m.position, d.delivered, d.reason.as_str()))
        })
        .collect();
    reports.sort_by_key(|(position, _, _)| *position);
    let run = reports
        .iter()
        .rev()
        .take_while(|(_, delivered, _)| !delivered)
        .count();
    let last_reason = reports.last().map(|r| r.2.to_string()).unwrap_or_default();
    (run, last_reason)
}

/// One line of `vasooli campaign --reverify`: an active consumer whose current number's last
/// [`UNDELIVERED_IN_A_ROW_TO_REVERIFY`] or more delivery reports all said undelivered, so the
/// number is probably wrong or dead and should be verified with the consumer again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReverifyRow {
    pub office_code: String,
    pub account_no: String,
    /// The number, masked as in the outbox.
    pub mobile: String,
    pub undelivered_in_a_row: usize,
    /// The operator's reason in the last report.
    pub last_reason: String,
}

impl ReverifyRow {
    pub const COLUMNS: &'static [&'static str] = &[
        "office_code",
        "account_no",
        "mobile",
        "undelivered_in_a_row",
        "last_reason",
    ];

    pub fn to_record(&self) -> Vec<(&'static str, Option<String>)> {
        record(
            Self::COLUMNS,
            vec![
                Some(self.office_code.clone()),
                Some(self.account_no.clone()),
                Some(self.mobile.clone()),
                Some(self.undelivered_in_a_row.to_string()),
                Some(self.last_reason.clone()),
            ],
        )
    }
}

/// The consumers below `office_code` (active as of `as_of`) whose current number keeps
/// failing, by subdivision and account; empty for an unknown office.
pub fn mobiles_to_reverify(world: &World, office_code: &str, as_of: NaiveDate) -> Vec<ReverifyRow> {
    let subdivisions = Subdivisions::under(world, office_code);
    let mut rows = Vec::new();
    for stored in &world.consumers {
        if subdivisions.position(&stored.subdivision).is_none() || stored.connected_on > as_of {
            continue;
        }
        let consumer = stored.consumer();
        if !is_active(&consumer, as_of) {
            continue;
        }
        let Some(mobile) = consumer.mobile_as_of(as_of) else {
            continue;
        };
        let (run, last_reason) = undelivered_in_a_row(&consumer, mobile);
        if run >= UNDELIVERED_IN_A_ROW_TO_REVERIFY {
            rows.push(ReverifyRow {
                office_code: stored.subdivision.to_string(),
                account_no: consumer.account_no.to_string(),
                mobile: vasooli_domain::mobile::mask_mobile(mobile),
                undelivered_in_a_row: run,
                last_reason,
            });
        }
    }
    rows.sort_by(|a, b| (&a.office_code, &a.account_no).cmp(&(&b.office_code, &b.account_no)));
    rows
}

impl CampaignRow {
    pub const COLUMNS: &'static [&'static str] = &[
        "office_code",
        "office_name",
        "active_consumers",
        "with_mobile",
        "mobile_coverage_pct",
        "shared_mobiles",
    ];

    /// The row's values in `COLUMNS` order, formatted for output; `None` is null.
    pub fn to_record(&self) -> Vec<(&'static str, Option<String>)> {
        record(
            Self::COLUMNS,
            vec![
                Some(self.office_code.clone()),
                Some(self.office_name.clone()),
                count_text(self.active_consumers),
                count_text(self.with_mobile),
                pct_text(self.mobile_coverage_pct),
                count_text(self.shared_mobiles),
            ],
        )
    }
}

/// How many active consumers use each number as of `as_of`, across the whole utility.
fn active_mobile_counts(world: &World, as_of: NaiveDate) -> HashMap<Text, usize> {
    let mut counts: HashMap<Text, usize> = HashMap::new();
    for stored in world.consumers.iter().filter(|c| c.connected_on <= as_of) {
        let consumer = stored.consumer();
        if !is_active(&consumer, as_of) {
            continue;
        }
        if let Some(mobile) = consumer.mobile_as_of(as_of) {
            *counts.entry(mobile.into()).or_default() += 1;
        }
    }
    counts
}

/// Numbers registered (as of `as_of`) for more than `SHARED_MOBILE_CONSUMERS_MAX` active
/// consumers, with how many use each. Such numbers are accepted but flagged: often they are a
/// field agent's own number rather than the consumers'.
pub fn shared_mobile_numbers(world: &World, as_of: NaiveDate) -> BTreeMap<String, usize> {
    active_mobile_counts(world, as_of)
        .into_iter()
        .filter(|(_, count)| *count > SHARED_MOBILE_CONSUMERS_MAX)
        .map(|(mobile, count)| (mobile.to_string(), count))
        .collect()
}

/// Mobile coverage as of `as_of` for each subdivision at or below `office_code`, in code
/// order; empty for an unknown office.
pub fn campaign(world: &World, office_code: &str, as_of: NaiveDate) -> Vec<CampaignRow> {
    let subdivisions = Subdivisions::under(world, office_code);
    if subdivisions.len() == 0 {
        return Vec::new();
    }
    // Sharing is judged across the whole utility: an agent's number may span subdivisions.
    let counts = active_mobile_counts(world, as_of);
    let mut active = vec![0u64; subdivisions.len()];
    let mut with_mobile = vec![0u64; subdivisions.len()];
    let mut shared_in: HashSet<(usize, Text)> = HashSet::new();
    for stored in &world.consumers {
        let Some(i) = subdivisions.position(&stored.subdivision) else {
            continue;
        };
        if stored.connected_on > as_of {
            continue;
        }
        let consumer = stored.consumer();
        if !is_active(&consumer, as_of) {
            continue;
        }
        active[i] += 1;
        if let Some(mobile) = consumer.mobile_as_of(as_of) {
            with_mobile[i] += 1;
            if counts
                .get(mobile)
                .is_some_and(|n| *n > SHARED_MOBILE_CONSUMERS_MAX)
            {
                shared_in.insert((i, mobile.into()));
            }
        }
    }

    let mut shared = vec![0u64; subdivisions.len()];
    for (i, _) in &shared_in {
        shared[*i] += 1;
    }
    subdivisions
        .codes
        .iter()
        .enumerate()
        .map(|(i, office)| CampaignRow {
            office_code: office.code.clone(),
            office_name: office.name.clone(),
            active_consumers: active[i],
            with_mobile: with_mobile[i],
            mobile_coverage_pct: count_percentage(with_mobile[i], active[i]),
            shared_mobiles: shared[i],
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Camps and grievances
// ---------------------------------------------------------------------------------------------

/// One line of the `camps` output: a subdivision's camps and grievances in a period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CampRow {
    pub office_code: String,
    pub office_name: String,
    /// Camps whose scheduled day falls in the period.
    pub camps_scheduled: u64,
    /// Camps held in the period, whenever they were scheduled for.
    pub camps_held: u64,
    pub camps_held_with_sdo: u64,
    pub held_with_sdo_pct: Option<Decimal>,
    /// Grievances registered in the period, and the same split by category.
    pub grievances: u64,
    pub grievances_new_connection: u64,
    pub grievances_metering: u64,
    pub grievances_billing: u64,
    pub grievances_supply: u64,
    pub grievances_other: u64,
    pub grievance_resolution_pct: Option<Decimal>,
    /// Payments through the `camp` channel in the period, less such reversals in it.
    pub camp_collections: Money,
    pub mobiles_registered_at_camps: u64,
}

impl CampRow {
    pub const COLUMNS: &'static [&'static str] = &[
        "office_code",
        "office_name",
        "camps_scheduled",
        "camps_held",
        "held_with_sdo_pct",
        "grievances",
        "grievances_new_connection",
        "grievances_metering",
        "grievances_billing",
        "grievances_supply",
        "grievances_other",
        "grievance_resolution_pct",
        "camp_collections",
        "mobiles_registered_at_camps",
    ];

    fn empty(office: &Office) -> CampRow {
        CampRow {
            office_code: office.code.clone(),
            office_name: office.name.clone(),
            camps_scheduled: 0,
            camps_held: 0,
            camps_held_with_sdo: 0,
            held_with_sdo_pct: None,
            grievances: 0,
            grievances_new_connection: 0,
            grievances_metering: 0,
            grievances_billing: 0,
            grievances_supply: 0,
            grievances_other: 0,
            grievance_resolution_pct: None,
            camp_collections: Money::ZERO,
            mobiles_registered_at_camps: 0,
        }
    }

    /// The row's values in `COLUMNS` order, formatted for output; `None` is null.
    pub fn to_record(&self) -> Vec<(&'static str, Option<String>)> {
        record(
            Self::COLUMNS,
            vec![
                Some(self.office_code.clone()),
                Some(self.office_name.clone()),
                count_text(self.camps_scheduled),
                count_text(self.camps_held),
                pct_text(self.held_with_sdo_pct),
                count_text(self.grievances),
                count_text(self.grievances_new_connection),
                count_text(self.grievances_metering),
                count_text(self.grievances_billing),
                count_text(self.grievances_supply),
                count_text(self.grievances_other),
                pct_text(self.grievance_resolution_pct),
                money_text(self.camp_collections),
                count_text(self.mobiles_registered_at_camps),
            ],
        )
    }
}

/// Designations are typed by hand at camps, so "sdo" and " SDO " count as the SDO too.
fn sdo_was_present(officers_present: &[String]) -> bool {
    officers_present
        .iter()
        .any(|officer| officer.trim().eq_ignore_ascii_case(SDO_DESIGNATION))
}

/// The camp and grievance report for `period`, one row per subdivision at or below
/// `office_code`, in code order; empty for an unknown office.
pub fn camps_report(
    world: &World,
    policy: &Policy,
    office_code: &str,
    period: Period,
) -> Vec<CampRow> {
    let subdivisions = Subdivisions::under(world, office_code);
    if subdivisions.len() == 0 {
        return Vec::new();
    }
    let span = Span::of(period);
    let mut rows: Vec<CampRow> = subdivisions
        .codes
        .iter()
        .map(|o| CampRow::empty(o))
        .collect();

    count_camps(world, &subdivisions, span, &mut rows);
    let grievance_totals = count_grievances(world, policy, &subdivisions, span, &mut rows);
    let at_camps = camp_collections_and_mobiles(world, &subdivisions, span);

    for ((row, grievances), (collections, mobiles)) in
        rows.iter_mut().zip(&grievance_totals).zip(at_camps)
    {
        row.held_with_sdo_pct = count_percentage(row.camps_held_with_sdo, row.camps_held);
        row.grievance_resolution_pct =
            count_percentage(grievances.grievances_in_time, grievances.grievances_counted);
        row.camp_collections = collections;
        row.mobiles_registered_at_camps = mobiles;
    }
    rows
}

/// Camps scheduled and held (and held with the SDO present) in the period, per subdivision.
fn count_camps(world: &World, subdivisions: &Subdivisions, span: Span, rows: &mut [CampRow]) {
    for camp in world.camps.values() {
        let Some(i) = subdivisions.position(&camp.subdivision) else {
            continue;
        };
        let row = &mut rows[i];
        if span.contains(camp.on) {
            row.camps_scheduled += 1;
        }
        if camp.held_on.is_some_and(|h| span.contains(h)) {
            row.camps_held += 1;
            if sdo_was_present(&camp.officers_present) {
                row.camps_held_with_sdo += 1;
            }
        }
    }
}

/// Grievances registered in the period by category, per subdivision; what counts towards the
/// resolution percentage.
fn count_grievances(
    world: &World,
    policy: &Policy,
    subdivisions: &Subdivisions,
    span: Span,
    rows: &mut [CampRow],
) -> Vec<Totals> {
    let mut grievance_totals = vec![Totals::default(); subdivisions.len()];
    for grievance in world.grievances.values() {
        let Some(i) = subdivisions.position(&grievance.subdivision) else {
            continue;
        };
        if !span.contains(grievance.registered_on) {
            continue;
        }
        let row = &mut rows[i];
        row.grievances += 1;
        match grievance.category {
            GrievanceCategory::NewConnection => row.grievances_new_connection += 1,
            GrievanceCategory::Metering => row.grievances_metering += 1,
            GrievanceCategory::Billing => row.grievances_billing += 1,
            GrievanceCategory::Supply => row.grievances_supply += 1,
            GrievanceCategory::Other => row.grievances_other += 1,
        }
        if let Some(outcome) = grievance_outcome(grievance, span, policy.grievances.resolution_days)
        {
            grievance_totals[i].add_grievance(outcome);
        }
    }
    grievance_totals
}

/// Collections at camps (less their reversals) and mobiles registered at camps in the period,
/// per subdivision.
fn camp_collections_and_mobiles(
    world: &World,
    subdivisions: &Subdivisions,
    span: Span,
) -> Vec<(Money, u64)> {
    fold_consumers(
        &world.consumers,
        threads_for(world.consumers.len()),
        || vec![(Money::ZERO, 0u64); subdivisions.len()],
        |sums: &mut Vec<(Money, u64)>, consumer| {
            let Some(i) = subdivisions.position(&consumer.subdivision) else {
                return;
            };
            for payment in consumer
                .payments
                .iter()
                .filter(|p| p.channel == Channel::Camp)
            {
                if span.contains(payment.paid_on) {
                    sums[i].0 += payment.amount;
                }
                if payment.reversed_on.is_some_and(|r| span.contains(r)) {
                    sums[i].0 -= payment.amount;
                }
            }
            sums[i].1 += consumer
                .mobiles
                .iter()
                .filter(|m| m.source == Some(MobileSource::Camp) && span.contains(m.registered_on))
                .count() as u64;
        },
        |sums, part| {
            for (sum, (money, count)) in sums.iter_mut().zip(part) {
                sum.0 += money;
                sum.1 += count;
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;
    use vasooli_domain::event::*;
    use vasooli_domain::ledger::{ledger_as_of, Charges};
    use vasooli_domain::types::{Category, Language};

    fn d(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("test date")
    }

    fn rupees(text: &str) -> Money {
        Money::parse(text).expect("test amount")
    }

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).expect("test decimal")
    }

    fn month(text: &str) -> Period {
        text.parse().expect("test period")
    }

    /// Builds a `World` the way the engine does: by applying events in log order.
    struct Log {
        world: World,
        position: u64,
    }

    impl Log {
        /// Zone Z1 with circle C1 over division D1 (S1, S2) and division D2 (S3), and
        /// circle C2 over division D3 (S4).
        fn new() -> Log {
            let mut log = Log {
                world: World::default(),
                position: 0,
            };
            log.office("Z1", "देहरादून क्षेत्र", Level::Zone, None);
            log.office("C1", "Dehradun Circle", Level::Circle, Some("Z1"));
            log.office("C2", "Haridwar Circle", Level::Circle, Some("Z1"));
            log.office("D1", "Dehradun Urban", Level::Division, Some("C1"));
            log.office("D2", "Dehradun Rural", Level::Division, Some("C1"));
            log.office("D3", "Roorkee", Level::Division, Some("C2"));
            log.office("S1", "राजपुर", Level::Subdivision, Some("D1"));
            log.office("S2", "Clock Tower", Level::Subdivision, Some("D1"));
            log.office("S3", "Doiwala", Level::Subdivision, Some("D2"));
            log.office("S4", "Roorkee Town", Level::Subdivision, Some("D3"));
            log
        }

        fn apply(&mut self, event: Event) {
            self.position += 1;
            self.world.apply(self.position, &event);
        }

        fn office(&mut self, code: &str, name: &str, level: Level, parent: Option<&str>) {
            self.apply(Event::OfficeRegistered(OfficeRegistered {
                code: code.into(),
                name: name.into(),
                level,
                parent: parent.map(Into::into),
            }));
        }

        fn consumer(
            &mut self,
            account: &str,
            subdivision: &str,
            connected_on: &str,
            mobile: Option<&str>,
        ) {
            self.apply(Event::ConsumerRegistered(ConsumerRegistered {
                account_no: account.into(),
                name: format!("Consumer {account}"),
                category: Category::Domestic,
                subdivision: subdivision.into(),
                load_watts: 2_000,
                connected_on: d(connected_on),
                mobile: mobile.map(Into::into),
                language: Language::Hi,
                address: None,
            }));
        }

        fn mobile(&mut self, account: &str, mobile: &str, on: &str, source: MobileSource) {
            self.apply(Event::MobileRegistered(MobileRegistered {
                account_no: account.into(),
                mobile: mobile.into(),
                registered_on: d(on),
                source,
            }));
        }

        fn bill(
            &mut self,
            bill_no: &str,
            account: &str,
            issued_on: &str,
            due_on: &str,
            amount: &str,
        ) {
            self.apply(Event::BillIssued(BillIssued {
                bill_no: bill_no.into(),
                account_no: account.into(),
                period: issued_on[..7].into(),
                issued_on: d(issued_on),
                due_on: d(due_on),
                amount: rupees(amount),
            }));
        }

        fn revise(&mut self, bill_no: &str, account: &str, on: &str, new_amount: &str) {
            self.apply(Event::BillRevised(BillRevised {
                bill_no: bill_no.into(),
                account_no: account.into(),
                revised_on: d(on),
                new_amount: rupees(new_amount),
                reason: "meter reading corrected".into(),
            }));
        }

        fn pay(&mut self, receipt: &str, account: &str, amount: &str, on: &str, channel: Channel) {
            self.apply(Event::PaymentReceived(PaymentReceived {
                receipt_no: receipt.into(),
                account_no: account.into(),
                amount: rupees(amount),
                paid_on: d(on),
                channel,
            }));
        }

        fn reverse(&mut self, receipt: &str, account: &str, on: &str) {
            self.apply(Event::PaymentReversed(PaymentReversed {
                receipt_no: receipt.into(),
                account_no: account.into(),
                reversed_on: d(on),
                reason: "cheque bounced".into(),
            }));
        }

        fn permanently_disconnect(&mut self, account: &str, on: &str) {
            self.apply(Event::PermanentlyDisconnected(PermanentlyDisconnected {
                account_no: account.into(),
                on: d(on),
            }));
        }

        fn grievance(
            &mut self,
            id: &str,
            subdivision: &str,
            category: GrievanceCategory,
            on: &str,
        ) {
            self.apply(Event::GrievanceRegistered(GrievanceRegistered {
                grievance_id: id.into(),
                subdivision: subdivision.into(),
                account_no: None,
                camp_id: None,
                category,
                registered_on: d(on),
            }));
        }

        fn resolve(&mut self, id: &str, on: &str) {
            self.apply(Event::GrievanceResolved(GrievanceResolved {
                grievance_id: id.into(),
                resolved_on: d(on),
                note: "done".into(),
            }));
        }

        fn camp(&mut self, id: &str, subdivision: &str, on: &str) {
            self.apply(Event::CampScheduled(CampScheduled {
                camp_id: id.into(),
                subdivision: subdivision.into(),
                on: d(on),
                venue: "Panchayat Bhawan".into(),
            }));
        }

        fn camp_held(&mut self, id: &str, on: &str, officers: &[&str]) {
            self.apply(Event::CampHeld(CampHeld {
                camp_id: id.into(),
                held_on: d(on),
                officers_present: officers.iter().map(|o| o.to_string()).collect(),
            }));
        }
    }

    fn metrics_of<'a>(metrics: &'a [OfficeMetrics], code: &str) -> &'a OfficeMetrics {
        metrics
            .iter()
            .find(|m| m.office_code == code)
            .unwrap_or_else(|| panic!("no metrics for {code}"))
    }

    fn pct(value: Option<Decimal>) -> Option<String> {
        value.map(format_pct)
    }

    fn order(rows: &[RankingRow]) -> Vec<(usize, &str)> {
        rows.iter()
            .map(|r| (r.rank, r.office_code.as_str()))
            .collect()
    }

    /// A consumer billed, revised, paid and reversed across the boundary of October 2026.
    fn october_world() -> Log {
        let mut log = Log::new();
        log.consumer("A1", "S1", "2025-04-01", Some("9876500001"));
        log.bill("B1", "A1", "2026-09-05", "2026-09-20", "1000.00");
        log.pay("P4", "A1", "90.00", "2026-09-25", Channel::Card);
        log.reverse("P4", "A1", "2026-10-03");
        log.bill("B2", "A1", "2026-10-05", "2026-10-20", "1200.00");
        log.pay("P1", "A1", "600.00", "2026-10-08", Channel::Upi);
        log.revise("B2", "A1", "2026-10-10", "1000.00");
        log.revise("B1", "A1", "2026-10-12", "900.00");
        log.pay("P2", "A1", "400.00", "2026-10-15", Channel::CounterCheque);
        log.apply(Event::SurchargeLevied(SurchargeLevied {
            account_no: "A1".into(),
            bill_no: "B1".into(),
            anniversary: 1,
            levied_on: d("2026-10-20"),
            amount: rupees("12.50"),
        }));
        log.reverse("P2", "A1", "2026-10-25");
        log.pay("P3", "A1", "150.00", "2026-10-31", Channel::CounterCash);
        log.revise("B2", "A1", "2026-11-03", "900.00");
        // Mobile coverage: A2 and A5 are active without a mobile on 31 October (A5's comes
        // later); A3 connects after October; A4 is permanently disconnected in it.
        log.consumer("A2", "S1", "2025-04-01", None);
        log.consumer("A3", "S1", "2026-11-05", Some("9876500003"));
        log.consumer("A4", "S1", "2025-04-01", Some("9876500004"));
        log.permanently_disconnect("A4", "2026-10-15");
        log.consumer("A5", "S1", "2025-04-01", None);
        log.mobile("A5", "9876500005", "2026-11-01", MobileSource::Field);
        log
    }

    /// Billed counts bills issued in the period and the change of revisions dated in it;
    /// collected counts payments in it less reversals dated in it, whenever the payment was.
    #[test]
    fn billed_collected_and_efficiency() {
        let log = october_world();
        let metrics = office_metrics(
            &log.world,
            &Policy::default(),
            month("2026-10"),
            Level::Subdivision,
        );
        let s1 = metrics_of(&metrics, "S1");
        // 1200.00 issued, −200.00 (B2 to 1000.00), −100.00 (B1 to 900.00); November's revision is out.
        assert_eq!(s1.billed, rupees("900.00"));
        // 600.00 + 150.00, less the reversal of September's 90.00; P2 was paid and reversed in October.
        assert_eq!(s1.collected, rupees("660.00"));
        assert_eq!(s1.collected_digital, rupees("510.00"));
        assert_eq!(pct(s1.collection_efficiency_pct).as_deref(), Some("73.33"));
        assert_eq!(pct(s1.digital_share_pct).as_deref(), Some("77.27"));
        // As of 30 September: B1 1000.00 less P4 90.00. The surcharge is left out throughout.
        assert_eq!(s1.opening_arrears, rupees("910.00"));
        // As of 31 October: B1 900.00 + B2 1000.00 less P1 600.00 and P3 150.00.
        assert_eq!(s1.closing_arrears, rupees("1150.00"));
        assert_eq!(pct(s1.arrears_reduction_pct).as_deref(), Some("-26.37"));
        assert_eq!((s1.consumers_with_mobile, s1.consumers_active), (1, 3));
        assert_eq!(pct(s1.mobile_coverage_pct).as_deref(), Some("33.33"));
        assert_eq!(s1.grievance_resolution_pct, None);
        // (40 × 73.33… + 25 × 0 + 10 × 77.27… + 10 × 33.33…) / 85: the negative arrears
        // reduction counts as 0, and the null grievance metric drops out of the weights.
        assert_eq!(format_pct(s1.score), "47.52");

        let s2 = metrics_of(&metrics, "S2");
        assert_eq!(
            (s2.billed, s2.collection_efficiency_pct),
            (Money::ZERO, None)
        );
        assert_eq!(s2.score, Decimal::ZERO);

        // The office totals roll up: D1 holds S1 and S2; C2 has nothing.
        let divisions = office_metrics(
            &log.world,
            &Policy::default(),
            month("2026-10"),
            Level::Division,
        );
        assert_eq!(metrics_of(&divisions, "D1").billed, rupees("900.00"));
        assert_eq!(metrics_of(&divisions, "D1").score, s1.score);
        assert_eq!(metrics_of(&divisions, "D2").billed, Money::ZERO);
        assert_eq!(divisions.len(), 3);
    }

    /// A revision adds the change from the amount in force just before it, taking revisions
    /// in date order even when they were logged out of it. Opening arrears are as of the day
    /// before the period, so a bill due on that day is not yet overdue in them.
    #[test]
    fn revisions_in_date_order_and_opening_arrears_the_day_before() {
        let mut log = Log::new();
        log.consumer("A7", "S2", "2025-04-01", None);
        log.bill("B7", "A7", "2026-09-05", "2026-09-20", "1000.00");
        // Logged first but dated later: in force from 5 November.
        log.revise("B7", "A7", "2026-11-05", "800.00");
        // Logged second, dated in October: 1000.00 to 900.00.
        log.revise("B7", "A7", "2026-10-10", "900.00");
        log.consumer("A8", "S3", "2025-04-01", None);
        log.bill("B8", "A8", "2026-09-15", "2026-09-30", "500.00");
        let policy = Policy::default();
        let october = office_metrics(&log.world, &policy, month("2026-10"), Level::Subdivision);
        let november = office_metrics(&log.world, &policy, month("2026-11"), Level::Subdivision);
        assert_eq!(metrics_of(&october, "S2").billed, rupees("-100.00"));
        assert_eq!(metrics_of(&november, "S2").billed, rupees("-100.00"));
        let s3 = metrics_of(&october, "S3");
        assert_eq!(
            (s3.opening_arrears, s3.closing_arrears),
            (Money::ZERO, rupees("500.00"))
        );
        assert_eq!(s3.arrears_reduction_pct, None);
    }

    /// The closed form for principal arrears gives the ledger's figure on every day.
    #[test]
    fn principal_arrears_match_the_ledger() {
        let mut log = october_world();
        log.apply(Event::AdjustmentPosted(AdjustmentPosted {
            adjustment_no: "ADJ1".into(),
            account_no: "A1".into(),
            posted_on: d("2026-10-06"),
            amount: rupees("250.00"),
            reason: "reconnection fee".into(),
        }));
        log.apply(Event::AdjustmentPosted(AdjustmentPosted {
            adjustment_no: "ADJ2".into(),
            account_no: "A1".into(),
            posted_on: d("2026-11-10"),
            amount: rupees("-75.00"),
            reason: "surcharge waiver".into(),
        }));
        log.apply(Event::DisputeRaised(DisputeRaised {
            account_no: "A1".into(),
            on: d("2026-11-15"),
            deposit: rupees("300.00"),
            bill_no: Some("B2".into()),
        }));
        log.pay("P9", "A1", "5000.00", "2026-12-10", Channel::Bbps);
        let consumer = log.world.consumer("A1").expect("A1");
        let mut date = d("2026-08-25");
        while date <= d("2027-01-10") {
            let ledger = ledger_as_of(&consumer, date, Charges::PrincipalOnly, &[]);
            assert_eq!(
                principal_arrears(&consumer, date),
                ledger.overdue_arrears,
                "{date}"
            );
            date = date.succ_opt().expect("date");
        }
    }

    /// Two offices alike in all but the digital share: that metric alone decides, even
    /// against office code order.
    #[test]
    fn one_metric_decides_the_order() {
        let mut log = Log::new();
        for (account, subdivision, channel) in [
            ("A1", "S1", Channel::CounterCash),
            ("A2", "S2", Channel::Upi),
        ] {
            log.consumer(account, subdivision, "2025-04-01", Some("9876500001"));
            log.bill(
                &format!("B{account}"),
                account,
                "2026-10-05",
                "2026-10-20",
                "1000.00",
            );
            log.pay(
                &format!("R{account}"),
                account,
                "1000.00",
                "2026-10-10",
                channel,
            );
        }
        let rows = rankings(
            &log.world,
            &Policy::default(),
            month("2026-10"),
            Level::Subdivision,
        );
        assert_eq!(order(&rows), vec![(1, "S2"), (2, "S1")]);
        // Arrears and grievances are null: (40 × 100 + 10 × 100 + 10 × 100) / 60 and
        // (40 × 100 + 10 × 0 + 10 × 100) / 60.
        assert_eq!(format_pct(rows[0].score), "100.00");
        assert_eq!(format_pct(rows[1].score), "83.33");
        assert_eq!(rows[1].arrears_reduction_pct, None);
        assert_eq!(pct(rows[1].digital_share_pct).as_deref(), Some("0.00"));
    }

    /// A null metric leaves the weights: with no grievances the score is over 40 + 25 + 10 +
    /// 10 = 85, not 100; one grievance resolved in time brings its 15 back.
    #[test]
    fn null_metrics_are_reweighted() {
        let mut log = Log::new();
        for (account, subdivision) in [("A1", "S1"), ("A2", "S2")] {
            log.consumer(account, subdivision, "2025-04-01", Some("9876500001"));
            log.consumer(&format!("{account}X"), subdivision, "2025-04-01", None);
            log.bill(
                &format!("{account}-09"),
                account,
                "2026-09-05",
                "2026-09-20",
                "1000.00",
            );
            log.bill(
                &format!("{account}-10"),
                account,
                "2026-10-05",
                "2026-10-20",
                "1000.00",
            );
            log.pay(
                &format!("{account}-R"),
                account,
                "1500.00",
                "2026-10-25",
                Channel::Upi,
            );
        }
        log.grievance("G1", "S2", GrievanceCategory::Billing, "2026-10-02");
        log.resolve("G1", "2026-10-09");
        let metrics = office_metrics(
            &log.world,
            &Policy::default(),
            month("2026-10"),
            Level::Subdivision,
        );
        let s1 = metrics_of(&metrics, "S1");
        // Efficiency 150 (counted as 100), arrears 1000.00 → 500.00 (50), digital 100, mobiles 1 of 2 (50).
        assert_eq!(pct(s1.collection_efficiency_pct).as_deref(), Some("150.00"));
        assert_eq!(pct(s1.arrears_reduction_pct).as_deref(), Some("50.00"));
        assert_eq!(pct(s1.mobile_coverage_pct).as_deref(), Some("50.00"));
        assert_eq!(s1.grievance_resolution_pct, None);
        // (40 × 100 + 25 × 50 + 10 × 100 + 10 × 50) / 85 = 6750 / 85.
        assert_eq!(format_pct(s1.score), "79.41");
        let s2 = metrics_of(&metrics, "S2");
        assert_eq!(pct(s2.grievance_resolution_pct).as_deref(), Some("100.00"));
        // (6750 + 15 × 100) / 100.
        assert_eq!(format_pct(s2.score), "82.50");
    }

    /// Equal scores fall to collection efficiency (unrounded, above 100 too), then to office
    /// code; an office that billed nothing is not ranked at all.
    #[test]
    fn ties_break_on_efficiency_then_code_and_unbilled_offices_are_left_out() {
        let mut log = Log::new();
        for (account, subdivision, paid) in [
            ("A1", "S1", "1000.00"),
            ("A2", "S2", "1200.00"),
            ("A3", "S3", "1000.00"),
        ] {
            log.consumer(account, subdivision, "2025-04-01", Some("9876500001"));
            log.bill(
                &format!("B{account}"),
                account,
                "2026-10-05",
                "2026-10-20",
                "1000.00",
            );
            log.pay(
                &format!("R{account}"),
                account,
                paid,
                "2026-10-10",
                Channel::CounterCash,
            );
        }
        // S4 collects but bills nothing in October.
        log.consumer("A4", "S4", "2025-04-01", Some("9876500004"));
        log.pay("RA4", "A4", "300.00", "2026-10-10", Channel::Upi);

        let rows = rankings(
            &log.world,
            &Policy::default(),
            month("2026-10"),
            Level::Subdivision,
        );
        assert_eq!(order(&rows), vec![(1, "S2"), (2, "S1"), (3, "S3")]);
        assert!(rows.iter().all(|r| r.score == rows[0].score));
        assert_eq!(
            pct(rows[0].collection_efficiency_pct).as_deref(),
            Some("120.00")
        );

        let metrics = office_metrics(
            &log.world,
            &Policy::default(),
            month("2026-10"),
            Level::Subdivision,
        );
        let s4 = metrics_of(&metrics, "S4");
        assert_eq!((s4.billed, s4.collected), (Money::ZERO, rupees("300.00")));
        assert_eq!(s4.collection_efficiency_pct, None);

        // At circle level C2 holds only S4, so only C1 is ranked.
        let circles = rankings(
            &log.world,
            &Policy::default(),
            month("2026-10"),
            Level::Circle,
        );
        assert_eq!(order(&circles), vec![(1, "C1")]);
    }

    /// Scores of September and October 2026, everyone paying in full (so arrears and
    /// grievances are null and the score is (40 × efficiency + 10 × digital + 10 × mobile) /
    /// 60): S1 100 → 83.33, S2 83.33 → 100, S3 91.67 → 91.67, S5 unranked → 100. S2 improves
    /// most; S5 has no change because it was not ranked in September.
    #[test]
    fn awards_with_most_improved() {
        let mut log = Log::new();
        for (account, subdivision) in [("A1", "S1"), ("A2", "S2"), ("A3", "S3")] {
            log.consumer(account, subdivision, "2025-04-01", Some("9876500001"));
        }
        // S5, a subdivision that starts billing in October, joins D1.
        log.office("S5", "ऋषिकेश", Level::Subdivision, Some("D1"));
        log.consumer("A5", "S5", "2026-09-01", Some("9876500005"));
        // September: S1 all digital, S2 all cash, S3 half and half; S5 not billed yet.
        log.bill("A1-09", "A1", "2026-09-05", "2026-09-20", "1000.00");
        log.bill("A2-09", "A2", "2026-09-05", "2026-09-20", "1000.00");
        log.bill("A3-09", "A3", "2026-09-05", "2026-09-20", "1000.00");
        log.pay("R1-09", "A1", "1000.00", "2026-09-10", Channel::Upi);
        log.pay("R2-09", "A2", "1000.00", "2026-09-10", Channel::CounterCash);
        log.pay("R3-09", "A3", "500.00", "2026-09-10", Channel::Upi);
        log.pay("R3-09B", "A3", "500.00", "2026-09-10", Channel::CounterCash);
        // October: S1 and S2 swap, S3 as before, S5 all digital.
        for account in ["A1", "A2", "A3", "A5"] {
            log.bill(
                &format!("{account}-10"),
                account,
                "2026-10-05",
                "2026-10-20",
                "1000.00",
            );
        }
        log.pay("R1-10", "A1", "1000.00", "2026-10-10", Channel::CounterCash);
        log.pay("R2-10", "A2", "1000.00", "2026-10-10", Channel::Upi);
        log.pay("R3-10", "A3", "500.00", "2026-10-10", Channel::Upi);
        log.pay("R3-10B", "A3", "500.00", "2026-10-10", Channel::CounterCash);
        log.pay("R5-10", "A5", "1000.00", "2026-10-10", Channel::App);
        let rows = awards(&log.world, &Policy::default(), month("2026-10"));
        let listed: Vec<(Level, &str, &str, String, Option<String>)> = rows
            .iter()
            .map(|r| {
                (
                    r.level,
                    r.award.as_str(),
                    r.office_code.as_str(),
                    format_pct(r.score),
                    pct(r.score_change),
                )
            })
            .collect();
        let row = |level, award, code: &'static str, score: &str, change: Option<&str>| {
            (
                level,
                award,
                code,
                score.to_string(),
                change.map(str::to_string),
            )
        };
        assert_eq!(
            listed,
            vec![
                // C1 holds everything: September digital 1500 of 3000, October 2500 of 4000.
                row(Level::Circle, "gold", "C1", "93.75", Some("2.08")),
                row(Level::Circle, "most_improved", "C1", "93.75", Some("2.08")),
                // D1 (S1, S2, S5): September 1000 of 2000 digital, October 2000 of 3000.
                row(Level::Division, "gold", "D1", "94.44", Some("2.78")),
                row(Level::Division, "silver", "D2", "91.67", Some("0.00")),
                row(
                    Level::Division,
                    "most_improved",
                    "D1",
                    "94.44",
                    Some("2.78")
                ),
                // S2 and S5 tie at 100 with equal efficiency: code order.
                row(Level::Subdivision, "gold", "S2", "100.00", Some("16.67")),
                row(Level::Subdivision, "silver", "S5", "100.00", None),
                row(Level::Subdivision, "bronze", "S3", "91.67", Some("0.00")),
                row(
                    Level::Subdivision,
                    "most_improved",
                    "S2",
                    "100.00",
                    Some("16.67")
                ),
            ]
        );
        let record = rows[6].to_record();
        assert_eq!(record[6], ("score_change", None));
        assert_eq!(record[4], ("office_name", Some("ऋषिकेश".to_string())));
    }

    /// September as in `awards_with_most_improved`; in October every office keeps or loses
    /// score (S1 from all digital to all cash: 100 → 83.33; S2 and S3 as before), so no
    /// office improved and no level has a `most_improved`, while the podium stands.
    #[test]
    fn no_most_improved_when_no_office_gained() {
        let mut log = Log::new();
        for (account, subdivision) in [("A1", "S1"), ("A2", "S2"), ("A3", "S3")] {
            log.consumer(account, subdivision, "2025-04-01", Some("9876500001"));
        }
        for month_no in ["09", "10"] {
            for account in ["A1", "A2", "A3"] {
                log.bill(
                    &format!("{account}-{month_no}"),
                    account,
                    &format!("2026-{month_no}-05"),
                    &format!("2026-{month_no}-20"),
                    "1000.00",
                );
            }
            let a1 = if month_no == "09" {
                Channel::Upi
            } else {
                Channel::CounterCash
            };
            let paid_on = format!("2026-{month_no}-10");
            log.pay(&format!("R1-{month_no}"), "A1", "1000.00", &paid_on, a1);
            log.pay(
                &format!("R2-{month_no}"),
                "A2",
                "1000.00",
                &paid_on,
                Channel::CounterCash,
            );
            log.pay(
                &format!("R3-{month_no}"),
                "A3",
                "500.00",
                &paid_on,
                Channel::Upi,
            );
            log.pay(
                &format!("R3B-{month_no}"),
                "A3",
                "500.00",
                &paid_on,
                Channel::CounterCash,
            );
        }
        let rows = awards(&log.world, &Policy::default(), month("2026-10"));
        assert!(rows.iter().all(|r| r.award.as_str() != "most_improved"));
        let podium: Vec<(&str, &str, String)> = rows
            .iter()
            .filter(|r| r.level == Level::Subdivision)
            .map(|r| {
                (
                    r.award.as_str(),
                    r.office_code.as_str(),
                    pct(r.score_change).unwrap(),
                )
            })
            .collect();
        assert_eq!(
            podium,
            vec![
                ("gold", "S3", "0.00".to_string()),
                ("silver", "S1", "-16.67".to_string()),
                ("bronze", "S2", "0.00".to_string()),
            ]
        );
    }

    /// Of grievances registered in October with 15 days to resolve: two in time (one on the
    /// 15th day), two out of time (one resolved late, one never), three still within their
    /// time on 31 October (one resolved only in November) and so left out.
    #[test]
    fn grievance_resolution_counts_in_time_late_and_leaves_out_open_ones() {
        let mut log = Log::new();
        let g = GrievanceCategory::Supply;
        log.grievance("G8", "S1", g, "2026-09-25");
        log.resolve("G8", "2026-10-01");
        log.grievance("G1", "S1", GrievanceCategory::Billing, "2026-10-01");
        log.grievance("G2", "S1", GrievanceCategory::Metering, "2026-10-02");
        log.grievance("G3", "S1", GrievanceCategory::NewConnection, "2026-10-03");
        log.grievance("G4", "S1", g, "2026-10-05");
        log.resolve("G1", "2026-10-10");
        log.grievance("G6", "S1", GrievanceCategory::Other, "2026-10-16");
        log.resolve("G2", "2026-10-17");
        log.resolve("G3", "2026-10-19");
        log.grievance("G5", "S1", g, "2026-10-20");
        log.grievance("G7", "S1", g, "2026-10-20");
        log.grievance("G9", "S2", g, "2026-10-05");
        log.resolve("G7", "2026-11-02");
        let policy = Policy::default();
        let metrics = office_metrics(&log.world, &policy, month("2026-10"), Level::Subdivision);
        let s1 = metrics_of(&metrics, "S1");
        assert_eq!(
            (s1.grievances_resolved_in_time, s1.grievances_counted),
            (2, 4)
        );
        assert_eq!(pct(s1.grievance_resolution_pct).as_deref(), Some("50.00"));
        // S2's one grievance ran out of time unresolved.
        assert_eq!(
            pct(metrics_of(&metrics, "S2").grievance_resolution_pct).as_deref(),
            Some("0.00")
        );
        assert_eq!(metrics_of(&metrics, "S3").grievance_resolution_pct, None);

        // The camp report counts every grievance registered in the period by category, and
        // the same resolution share.
        let rows = camps_report(&log.world, &policy, "D1", month("2026-10"));
        let s1 = &rows[0];
        assert_eq!(s1.office_code, "S1");
        assert_eq!(
            (
                s1.grievances,
                s1.grievances_new_connection,
                s1.grievances_metering,
                s1.grievances_billing,
                s1.grievances_supply,
                s1.grievances_other
            ),
            (7, 1, 1, 1, 3, 1)
        );
        assert_eq!(pct(s1.grievance_resolution_pct).as_deref(), Some("50.00"));

        // November counts only grievances registered in November: none.
        let november = office_metrics(&log.world, &policy, month("2026-11"), Level::Subdivision);
        assert_eq!(metrics_of(&november, "S1").grievances_counted, 0);
        // Over the quarter to December, G5, G6 and G7 have run out or been resolved in time.
        let quarter: Period = "FY2026-27-Q3".parse().expect("quarter");
        let q3 = office_metrics(&log.world, &policy, quarter, Level::Subdivision);
        let s1 = metrics_of(&q3, "S1");
        // In time: G1, G2, G7 (13 days); late: G3, G4, G5, G6.
        assert_eq!(
            (s1.grievances_resolved_in_time, s1.grievances_counted),
            (3, 7)
        );
    }

    /// One number used by six active consumers across two subdivisions is flagged in both;
    /// five active users (a sixth permanently disconnected, or not yet connected) is not.
    #[test]
    fn campaign_flags_shared_mobiles() {
        let mut log = Log::new();
        let shared = "9000000001";
        for (account, subdivision) in [
            ("C1", "S1"),
            ("C2", "S1"),
            ("C3", "S1"),
            ("C4", "S1"),
            ("C5", "S2"),
            ("C6", "S2"),
        ] {
            log.consumer(account, subdivision, "2025-04-01", Some(shared));
        }
        for account in ["C7", "C8", "C9", "C10", "C11", "C12"] {
            log.consumer(account, "S1", "2025-04-01", Some("9000000002"));
        }
        log.permanently_disconnect("C12", "2026-10-01");
        for account in ["C13", "C14", "C15", "C16", "C17"] {
            log.consumer(account, "S2", "2025-04-01", Some("9000000003"));
        }
        log.consumer("C18", "S2", "2026-12-01", Some("9000000003"));
        // C19 used the shared number until it registered its own.
        log.consumer("C19", "S1", "2025-04-01", Some(shared));
        log.mobile("C19", "9000000009", "2026-10-01", MobileSource::Camp);
        log.consumer("C20", "S2", "2025-04-01", None);
        log.consumer("C21", "S1", "2025-04-01", None);
        log.consumer("C22", "S3", "2025-04-01", Some("9000000004"));

        let as_of = d("2026-10-31");
        let expected_shared: BTreeMap<String, usize> =
            [(shared.to_string(), 6)].into_iter().collect();
        assert_eq!(shared_mobile_numbers(&log.world, as_of), expected_shared);
        // In mid-September C19 still used it and C12 was still connected.
        let september: BTreeMap<String, usize> =
            [(shared.to_string(), 7), ("9000000002".to_string(), 6)]
                .into_iter()
                .collect();
        assert_eq!(
            shared_mobile_numbers(&log.world, d("2026-09-15")),
            september
        );

        let rows = campaign(&log.world, "D1", as_of);
        let summary: Vec<(&str, u64, u64, Option<String>, u64)> = rows
            .iter()
            .map(|r| {
                (
                    r.office_code.as_str(),
                    r.active_consumers,
                    r.with_mobile,
                    pct(r.mobile_coverage_pct),
                    r.shared_mobiles,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                // C1-C4, C7-C11, C19, C21 active; C21 without a mobile.
                ("S1", 11, 10, Some("90.91".to_string()), 1),
                // C5, C6, C13-C17, C20 active; C18 not yet connected.
                ("S2", 8, 7, Some("87.50".to_string()), 1),
            ]
        );
        let whole = campaign(&log.world, "Z1", as_of);
        assert_eq!(
            whole
                .iter()
                .map(|r| r.office_code.as_str())
                .collect::<Vec<_>>(),
            ["S1", "S2", "S3", "S4"]
        );
        assert_eq!(
            (whole[2].shared_mobiles, whole[3].mobile_coverage_pct),
            (0, None)
        );
        assert!(campaign(&log.world, "NOPE", as_of).is_empty());
        assert_eq!(
            rows[0].to_record()[1],
            ("office_name", Some("राजपुर".to_string()))
        );
    }

    /// Camps count by scheduled day and by held day separately; the SDO share is of camps
    /// held in the period; camp collections net out camp reversals.
    #[test]
    fn camps_report_counts_camps_sdo_share_and_camp_collections() {
        let mut log = Log::new();
        log.camp("K5", "S1", "2026-09-28");
        log.camp_held("K5", "2026-10-01", &["JE"]);
        log.camp("K1", "S1", "2026-10-05");
        log.camp_held("K1", "2026-10-05", &["SDO", "JE"]);
        log.camp("K2", "S1", "2026-10-12");
        log.camp_held("K2", "2026-10-12", &["JE"]);
        log.camp("K3", "S1", "2026-10-20");
        log.camp_held("K3", "2026-10-21", &["EE", "sdo "]);
        log.camp("K4", "S1", "2026-10-28");
        log.camp("K6", "S2", "2026-10-10");
        log.camp("K7", "S3", "2026-10-10");
        log.camp_held("K7", "2026-10-10", &["SDO"]);

        log.consumer("A1", "S1", "2025-04-01", None);
        log.consumer("A2", "S1", "2025-04-01", None);
        log.consumer("A3", "S2", "2025-04-01", None);
        log.pay("R1", "A1", "250.00", "2026-10-05", Channel::Camp);
        log.pay("R2", "A1", "100.00", "2026-10-12", Channel::Camp);
        log.reverse("R2", "A1", "2026-10-14");
        log.pay("R3", "A2", "300.00", "2026-10-12", Channel::Upi);
        log.pay("R4", "A2", "80.00", "2026-09-28", Channel::Camp);
        log.mobile("A1", "9876500001", "2026-10-05", MobileSource::Camp);
        log.mobile("A2", "9876500002", "2026-10-12", MobileSource::Field);
        log.mobile("A3", "9876500003", "2026-09-28", MobileSource::Camp);

        let rows = camps_report(&log.world, &Policy::default(), "D1", month("2026-10"));
        assert_eq!(rows.len(), 2);
        let (s1, s2) = (&rows[0], &rows[1]);
        assert_eq!(
            (s1.camps_scheduled, s1.camps_held, s1.camps_held_with_sdo),
            (4, 4, 2)
        );
        assert_eq!(pct(s1.held_with_sdo_pct).as_deref(), Some("50.00"));
        assert_eq!(s1.camp_collections, rupees("250.00"));
        assert_eq!(s1.mobiles_registered_at_camps, 1);
        assert_eq!(
            (s2.camps_scheduled, s2.camps_held, s2.held_with_sdo_pct),
            (1, 0, None)
        );
        assert_eq!(
            (s2.camp_collections, s2.mobiles_registered_at_camps),
            (Money::ZERO, 0)
        );

        let record = s1.to_record();
        let columns: Vec<&str> = record.iter().map(|(c, _)| *c).collect();
        assert_eq!(columns, CampRow::COLUMNS);
        assert_eq!(record[4], ("held_with_sdo_pct", Some("50.00".to_string())));
        assert_eq!(record[11], ("grievance_resolution_pct", None));
        assert_eq!(record[12], ("camp_collections", Some("250.00".to_string())));
        assert_eq!(s2.to_record()[4], ("held_with_sdo_pct", None));
    }

    /// Percentages round half away from zero and always show two decimals.
    #[test]
    fn percentages_print_with_two_decimals() {
        assert_eq!(format_pct(dec("2.345")), "2.35");
        assert_eq!(format_pct(dec("2.335")), "2.34");
        assert_eq!(format_pct(dec("-2.345")), "-2.35");
        assert_eq!(format_pct(dec("5")), "5.00");
        assert_eq!(format_pct(dec("-0.001")), "0.00");
        assert_eq!(format_pct(Decimal::ONE_HUNDRED / Decimal::from(3)), "33.33");
        assert_eq!(format_pct(dec("99.995")), "100.00");
    }

    /// A ranking row lists every column in order, with amounts as text and nulls as `None`.
    #[test]
    fn ranking_record_has_the_columns_in_order() {
        let log = october_world();
        let rows = rankings(
            &log.world,
            &Policy::default(),
            month("2026-10"),
            Level::Subdivision,
        );
        assert_eq!(rows.len(), 1);
        let record = rows[0].to_record();
        let expected: Vec<(&str, Option<&str>)> = vec![
            ("period", Some("2026-10")),
            ("level", Some("subdivision")),
            ("rank", Some("1")),
            ("office_code", Some("S1")),
            ("office_name", Some("राजपुर")),
            ("billed", Some("900.00")),
            ("collected", Some("660.00")),
            ("collection_efficiency_pct", Some("73.33")),
            ("opening_arrears", Some("910.00")),
            ("closing_arrears", Some("1150.00")),
            ("arrears_reduction_pct", Some("-26.37")),
            ("digital_share_pct", Some("77.27")),
            ("mobile_coverage_pct", Some("33.33")),
            ("grievance_resolution_pct", None),
            ("score", Some("47.52")),
        ];
        let actual: Vec<(&str, Option<&str>)> =
            record.iter().map(|(c, v)| (*c, v.as_deref())).collect();
        assert_eq!(actual, expected);
    }

    /// Splitting the pass over consumers across threads gives the same sums as one thread.
    #[test]
    fn threaded_totals_equal_single_threaded() {
        let mut log = Log::new();
        for i in 0..60 {
            let account = format!("N{i}");
            let subdivision = ["S1", "S2", "S3", "S4"][i % 4];
            let mobile = (i % 3 != 0).then_some("9876500001");
            log.consumer(&account, subdivision, "2025-04-01", mobile);
            log.bill(
                &format!("{account}-09"),
                &account,
                "2026-09-05",
                "2026-09-20",
                &format!("{}.50", 500 + i),
            );
            log.bill(
                &format!("{account}-10"),
                &account,
                "2026-10-05",
                "2026-10-20",
                "700.00",
            );
            let channel = if i % 2 == 0 {
                Channel::Upi
            } else {
                Channel::CounterCash
            };
            log.pay(
                &format!("{account}-R"),
                &account,
                &format!("{}.25", 300 + 7 * i),
                "2026-10-11",
                channel,
            );
        }
        let subdivisions = Subdivisions::all(&log.world);
        let span = Span::of(month("2026-10"));
        let one = subdivision_totals(&log.world, &Policy::default(), span, &subdivisions, 1);
        let four = subdivision_totals(&log.world, &Policy::default(), span, &subdivisions, 4);
        assert_eq!(one, four);
        assert!(one.iter().all(|t| t.billed.is_positive()));
        // Many periods in one pass, each as on its own.
        let periods = [
            month("2026-10"),
            month("2026-09"),
            "FY2026-27".parse().unwrap(),
        ];
        let apart: Vec<_> = periods
            .iter()
            .map(|p| subdivision_figures(&log.world, &Policy::default(), *p))
            .collect();
        assert_eq!(
            subdivision_figures_of(&log.world, &Policy::default(), &periods),
            apart
        );
        assert!(!apart[0].is_empty(), "October has figures");
    }
}
