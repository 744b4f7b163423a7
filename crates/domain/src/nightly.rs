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
        if let Some(change) = Change::of(position, &event) {
            self.consumer.to_mut().apply(change);
        }
        self.events.push(event);
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
    let mut decided = Decided {
        consumer: Cow::Borrowed(consumer),
        events: Vec::new(),
    };
    levy_surcharges(&mut decided, world, as_of, policy);
    if let Some(broken) = broken_plan(&decided.consumer, as_of) {
        decided.apply(0, broken);
    }
    let Decided {
        consumer: view,
        mut events,
    } = decided;
    let ledger = ledger_as_of(&view, as_of, Charges::All, &[]);
    let stage = climb_ladder(&view, &ledger, as_of, policy, &mut events);
    let messages = queue_for_consumer(world, &view, as_of, policy, &events, camps_ahead);
    events.extend(messages);
    Decision {
        events,
        stage,
        overdue_arrears: ledger.overdue_arrears,
    }
}

/// Levies each surcharge due by `as_of` that no earlier run assessed.
fn levy_surcharges(decided: &mut Decided<'_>, world: &World, as_of: NaiveDate, policy: &Policy) {
    let previous_run = world.last_nightly;
    let previous_position = world.last_nightly_position;
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

/// The plan in force broken by `as_of`: its instalments due 15 days or more before are not
/// all paid.
fn broken_plan(consumer: &Consumer, as_of: NaiveDate) -> Option<Event> {
    let plan = consumer.plan_in_force(as_of)?;
    let cutoff = as_of.checked_sub_days(Days::new(15)).unwrap_or(as_of);
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
