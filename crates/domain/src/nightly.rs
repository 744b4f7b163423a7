//! The nightly run's decision for one consumer, a pure function of the world, the consumer
//! and the run's date (the engine runs it over every consumer and appends what it decides).
//!
//! 1. surcharges: levy each unassessed anniversary in date order (docs/RULES.md);
//! 2. plans: record an instalment plan broken by this date;
//! 3. ladder: close a case whose arrears fell below the threshold, open a case (issue a
//!    notice) where the criteria are met;
//! 4. sms: queue the SMS messages of the consumer's triggers (see `sms_triggers`).
//!
//! Each stage decides from the consumer's history plus what earlier stages decided for it:
//! the levies and a broken plan are applied to a copy of the consumer with
//! [`Consumer::apply`] before the later stages look at it.

use crate::aggregate::Change;
use crate::event::*;
use crate::ladder::{ladder_as_of, notice_number};
use crate::ledger::{ledger_as_of, surcharges_due, Charges, LedgerView};
use crate::money::Money;
use crate::policy::Policy;
use crate::sms_triggers::queue_for_consumer;
use crate::state::{Camp, Consumer, World};
use crate::types::Stage;
use chrono::{Days, NaiveDate};
use std::borrow::Cow;

/// What the run decided for one consumer.
pub struct Decision {
    pub events: Vec<Event>,
    /// The stage the consumer ends at.
    pub stage: Stage,
    /// The consumer's overdue arrears after the run's levies.
    pub overdue_arrears: Money,
    /// The first date after the run's on which a run could decide anything for the consumer,
    /// or count it otherwise, unless something is recorded for it meanwhile (see
    /// [`next_visit`]).
    pub next_visit: NaiveDate,
}

/// The events decided so far, and the consumer as the later stages must see it.
struct Decided<'a> {
    consumer: Cow<'a, Consumer>,
    events: Vec<Event>,
}

impl Decided<'_> {
    /// Records an event later stages must see: applied to (a copy of) the consumer.
    /// `position` places a levy among the consumer's charges.
    fn apply(&mut self, position: u64, event: Event) {
        apply_to(&mut self.consumer, position, &event);
        self.events.push(event);
    }
}

/// Applies an event at `position` to (a copy of) `consumer`, as the log will once it is
/// appended; events that change no history leave it borrowed.
fn apply_to(consumer: &mut Cow<'_, Consumer>, position: u64, event: &Event) {
    if let Some(change) = Change::of(position, event) {
        consumer.to_mut().apply(change);
    }
}

/// What a run needs of the run before it: its date and the log position of its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastRun {
    /// The previous run's date (`None`: this is the first run).
    pub on: Option<NaiveDate>,
    /// The log position of the previous run's record: a charge or trigger at an earlier
    /// position was there for that run to see.
    pub position: u64,
}

impl LastRun {
    /// The last run `world` has read in.
    pub fn of(world: &World) -> LastRun {
        LastRun {
            on: world.last_nightly,
            position: world.last_nightly_position,
        }
    }
}

/// The events the run decides for one consumer, and the stage it ends at.
pub fn decide_consumer(
    world: &World,
    consumer: &Consumer,
    as_of: NaiveDate,
    policy: &Policy,
    camps_ahead: &[&Camp],
) -> Decision {
    decide_view(LastRun::of(world), consumer, as_of, policy, camps_ahead).0
}

/// [`decide_consumer`] after `last`, with the consumer as its later stages saw it (the
/// levies and a broken plan applied: the first events of the decision, as many as the
/// number returned).
fn decide_view<'a>(
    last: LastRun,
    consumer: &'a Consumer,
    as_of: NaiveDate,
    policy: &Policy,
    camps_ahead: &[&Camp],
) -> (Decision, Cow<'a, Consumer>, usize) {
    let mut decided = Decided {
        consumer: Cow::Borrowed(consumer),
        events: Vec::new(),
    };
    levy_surcharges(&mut decided, last, as_of, policy);
    if let Some(broken) = broken_plan(&decided.consumer, as_of) {
        decided.apply(0, broken);
    }
    let Decided {
        consumer: view,
        mut events,
    } = decided;
    let ledger = ledger_as_of(&view, as_of, Charges::All, &[]);
    // The levies and a broken plan are on the view already; the later stages' events are not.
    let applied = events.len();
    let stage = climb_ladder(&view, &ledger, as_of, policy, &mut events);
    let messages = queue_for_consumer(last, &view, as_of, policy, &events, camps_ahead);
    events.extend(messages);
    let next_visit = next_visit(&view, as_of, policy, !events.is_empty());
    let decision = Decision {
        events,
        stage,
        overdue_arrears: ledger.overdue_arrears,
        next_visit,
    };
    (decision, view, applied)
}

/// Where a consumer's events of one run are placed in its history until they are in the log:
/// after everything already there (a run's levies are placed from here too, see
/// [`crate::ledger::levy`]).
pub(crate) const RUN_POSITIONS: u64 = u64::MAX - 1_000_000;

/// What the run on the day after a run's date decides for a consumer the run left as it
/// is, when that decides nothing and counts none of its bills or payments: the run after
/// may then skip the consumer as long as nothing is recorded for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayAfter {
    /// The stage it is at that day.
    pub stage: Stage,
    /// Its overdue arrears that day.
    pub overdue_arrears: Money,
    /// The first date after that day on which a run could decide or count anything for it
    /// ([`next_visit`]).
    pub next_visit: NaiveDate,
}

/// [`decide_consumer`], and when its next visit falls on the day after `as_of`, what a run
/// that day would decide for the consumer as this run leaves it (if nothing is recorded for
/// it meanwhile): a [`DayAfter`] when that is nothing, so that the run after this one need not
/// decide it again just because a levy falls overdue or a due date passes. Costs one more
/// decision for those consumers, on the consumer already read.
///
/// A rerun of the last run's date does not look ahead: it may append nothing, and then
/// records no completion, so the run after it sees the last run's record where it was, with
/// whatever was recorded since (a late payment, a bill) after it and still to be messaged.
pub fn decide_consumer_ahead(
    world: &World,
    consumer: &Consumer,
    as_of: NaiveDate,
    policy: &Policy,
    camps_ahead: &[&Camp],
) -> (Decision, Option<DayAfter>) {
    let last = LastRun::of(world);
    let (decision, mut view, applied) = decide_view(last, consumer, as_of, policy, camps_ahead);
    let rerun = last.on == Some(as_of);
    let day_after = as_of.succ_opt().filter(|d| *d == decision.next_visit);
    let Some(day_after) = day_after.filter(|_| !rerun) else {
        return (decision, None);
    };
    // The consumer as the run leaves it: every decided event applied, the `n`th at
    // `RUN_POSITIONS + n`, after everything already in the log and in the order the run
    // appends them (the levies are there already, placed the same way).
    for (n, event) in decision.events.iter().enumerate().skip(applied) {
        apply_to(&mut view, RUN_POSITIONS + n as u64, event);
    }
    // The run after this one: this one's record (a run on a new date always writes one)
    // follows every event so far. A camp announced in the consumer's subdivision makes that
    // run decide it anyway, so none is counted here.
    let after = LastRun {
        on: Some(as_of),
        position: u64::MAX,
    };
    let counted = view.bills.iter().any(|b| b.issued_on == day_after)
        || view.payments.iter().any(|p| p.paid_on == day_after);
    let (ahead, _, _) = decide_view(after, &view, day_after, policy, &[]);
    let quiet = ahead.events.is_empty() && !counted;
    let day_after = quiet.then_some(DayAfter {
        stage: ahead.stage,
        overdue_arrears: ahead.overdue_arrears,
        next_visit: ahead.next_visit,
    });
    (decision, day_after)
}

/// The first date after `as_of` on which the nightly run's decision for `consumer` (its
/// events, stage and overdue arrears) or what it counts of it (bills and payments in its
/// window) could differ from `as_of`'s, as long as nothing is recorded for it and the policy
/// and camps stay as they are: so a run on an earlier date may skip it.
///
/// Every rule of the run compares its date with a date of the consumer's history, or with
/// such a date moved by one of the policy's periods:
///
/// - every date of the history counts from its own day (a bill in the ledger and in the
///   run's window from its issue, a payment from its day, a case closed, a plan broken, a
///   dispute resolved, a mobile registered on theirs; an SMS trigger on its day);
/// - a charge (a bill, a surcharge, a debit adjustment) is overdue from the day after it
///   falls due, and counts towards the notice's minimum days overdue from its due date plus
///   those days;
/// - a bill's SMS reminder falls the policy's days before its due date, and each monthly
///   anniversary of its due date levies a surcharge while surcharges are levied;
/// - disconnection is allowed the day after a served notice's clear days, permanent
///   disconnection falls due the policy's days after a disconnection, and a plan breaks
///   15 days after an instalment falls due unpaid.
///
/// `acted`: the run decided events for the consumer; the day after is taken too.
pub fn next_visit(
    consumer: &Consumer,
    as_of: NaiveDate,
    policy: &Policy,
    acted: bool,
) -> NaiveDate {
    let surcharges = !policy.lps_rate().is_zero();
    let mut next = NaiveDate::MAX;
    let mut on = |date: NaiveDate, days: i64| {
        if let Some(date) = chrono::TimeDelta::try_days(days)
            .and_then(|delta| date.checked_add_signed(delta))
            .filter(|d| *d > as_of && *d < next)
        {
            next = date;
        }
    };
    let overdue_after = policy.notice.min_days_overdue;
    let reminder = -policy.sms.reminder_days_before_due.max(0);
    if acted {
        on(as_of, 1);
    }
    on(consumer.connected_on, 0);
    for mobile in consumer.mobiles.iter() {
        on(mobile.registered_on, 0);
    }
    // Every charge by its due date: a bill's, a surcharge's (the day it is levied) and a
    // debit adjustment's (the day it is posted).
    let charges_due = consumer
        .bills
        .iter()
        .map(|b| b.due_on)
        .chain(consumer.surcharges.iter().map(|s| s.levied_on))
        .chain(consumer.adjustments.iter().map(|a| a.posted_on));
    for due in charges_due {
        for days in [0, 1, overdue_after] {
            on(due, days);
        }
    }
    for bill in consumer.bills.iter() {
        on(bill.issued_on, 0);
        on(bill.due_on, reminder);
        if surcharges {
            if let Some(anniversary) = first_anniversary_after(bill.due_on, as_of) {
                on(anniversary, 0);
            }
        }
        for revision in bill.revisions.iter() {
            on(revision.revised_on, 0);
        }
    }
    for payment in consumer.payments.iter() {
        on(payment.paid_on, 0);
        if let Some(reversed) = payment.reversed_on {
            on(reversed, 0);
        }
    }
    for case in consumer.cases.iter() {
        on(case.issued_on, 0);
        if let Some(served) = case.served_on {
            on(served, 0);
            on(crate::ladder::disconnection_allowed_on(served, policy), 0);
        }
        if let Some(closed) = case.closed_on {
            on(closed, 0);
        }
    }
    for change in consumer.connection.iter() {
        on(change.on, 0);
        on(change.on, policy.permanent_disconnection.after_days);
    }
    for dispute in consumer.disputes.iter() {
        on(dispute.on, 0);
        if let Some(resolved) = dispute.resolved_on {
            on(resolved, 0);
        }
    }
    for plan in consumer.plans.iter() {
        on(plan.granted_on, 0);
        for installment in &plan.installments {
            on(installment.due_on, 0);
            on(installment.due_on, PLAN_GRACE_DAYS as i64);
        }
        if let Some(broken) = plan.broken_on {
            on(broken, 0);
        }
    }
    next
}

/// The first monthly anniversary of `date` after `after` (see [`crate::ledger::anniversary`]):
/// the one [`crate::ledger::first_anniversary_from`] names or the next.
fn first_anniversary_after(date: NaiveDate, after: NaiveDate) -> Option<NaiveDate> {
    let from = crate::ledger::first_anniversary_from(date, after);
    (from..from + 2)
        .filter_map(|k| crate::ledger::anniversary(date, k))
        .find(|d| *d > after)
}

/// Levies each surcharge due by `as_of` that no earlier run assessed.
fn levy_surcharges(decided: &mut Decided<'_>, last: LastRun, as_of: NaiveDate, policy: &Policy) {
    let previous_run = last.on;
    let previous_position = last.position;
    let consumer = decided.consumer.as_ref();
    let levies = surcharges_due(consumer, as_of, policy, |position| {
        if position < previous_position {
            previous_run
        } else {
            None
        }
    });
    let events: Vec<(u64, Event)> = levies
        .iter()
        .map(|s| {
            let levy = Event::SurchargeLevied(SurchargeLevied {
                account_no: consumer.account_no.to_string(),
                bill_no: consumer.surcharge_bill_no(s).to_string(),
                anniversary: s.anniversary,
                levied_on: s.levied_on,
                amount: s.amount,
            });
            (s.position, levy)
        })
        .collect();
    for (position, levy) in events {
        decided.apply(position, levy);
    }
}

/// Days after an instalment's due date that the plan holds unpaid.
const PLAN_GRACE_DAYS: u64 = 15;

/// The plan in force broken by `as_of`: its instalments due 15 days or more before are not
/// all paid.
fn broken_plan(consumer: &Consumer, as_of: NaiveDate) -> Option<Event> {
    let plan = consumer.plan_in_force(as_of)?;
    let cutoff = as_of
        .checked_sub_days(Days::new(PLAN_GRACE_DAYS))
        .unwrap_or(as_of);
    let owed_by_now: Money = plan
        .installments
        .iter()
        .filter(|i| i.due_on <= cutoff)
        .map(|i| i.amount)
        .sum();
    (consumer.payments_between(plan.granted_on, as_of) < owed_by_now).then(|| {
        Event::InstallmentPlanBroken(InstallmentPlanBroken {
            plan_id: plan.plan_id.to_string(),
            account_no: consumer.account_no.to_string(),
            on: as_of,
        })
    })
}

/// Closes the open case or opens one, as the ladder says; the stage the consumer ends at.
fn climb_ladder(
    view: &Consumer,
    ledger: &LedgerView,
    as_of: NaiveDate,
    policy: &Policy,
    events: &mut Vec<Event>,
) -> Stage {
    let ladder = ladder_as_of(view, ledger, as_of, policy);
    let mut stage = ladder.stage;
    if let Some(reason) = ladder.closes_case {
        if let Some(case) = view.open_case(as_of) {
            events.push(Event::CaseClosed(CaseClosed {
                notice_no: case.notice_no.to_string(),
                account_no: view.account_no.to_string(),
                closed_on: as_of,
                reason,
                lapsed: case.served_on.is_none(),
            }));
        }
    }
    if ladder.opens_case {
        let notice_no = notice_number(&view.account_no, view.cases.len() + 1);
        events.push(Event::NoticeIssued(NoticeIssued {
            notice_no,
            account_no: view.account_no.to_string(),
            issued_on: as_of,
            overdue_arrears: ledger.overdue_arrears,
            oldest_due_on: ledger.oldest_overdue_due_on.unwrap_or(as_of),
        }));
        stage = Stage::NoticeIssued;
    }
    stage
}
