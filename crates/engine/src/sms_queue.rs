//! Queues the SMS of docs/RULES.md ("SMS") during the nightly run.
//!
//! A message is queued for a trigger (a bill issued, a reminder date, a payment, a notice, a
//! disconnection or reconnection, a camp ahead) dated after the previous run (or in the last
//! week, on the first run) and on or before this run's date, for consumers with a mobile on
//! that date. A recorded trigger (a bill, a payment, a disconnection or reconnection) that was
//! appended after the previous run is queued too when it is dated on or before this run's date
//! and within the last week: a disconnection recorded after the run of its own day, or a
//! payment posted a few days late, still gets its message, while an old backlog imported late
//! does not. Reminders and camp announcements follow the calendar only.
//! Each message id is derived from its trigger, and an id already queued (by an earlier run or
//! earlier in this one) is never queued again, so a rerun queues no duplicate.

use chrono::{Days, NaiveDate};
use vasooli_domain::event::{Event, SmsQueued};
use vasooli_domain::ledger::{ledger_as_of, ChargeKind, Charges};
use vasooli_domain::sms::render;
use vasooli_domain::state::{Camp, ConnectionChange, Consumer, World};
use vasooli_domain::types::Language;
use vasooli_domain::Policy;

/// How far back the first run looks for triggers.
pub const FIRST_RUN_WINDOW_DAYS: u64 = 7;

pub fn queue_for_consumer(
    world: &World,
    consumer: &Consumer,
    as_of: NaiveDate,
    policy: &Policy,
    decided: &[Event],
    camps_ahead: &[&Camp],
) -> Vec<Event> {
    let Some(mobile) = consumer.mobile_as_of(as_of) else {
        return Vec::new();
    };
    let after = world
        .last_nightly
        .unwrap_or_else(|| as_of - Days::new(FIRST_RUN_WINDOW_DAYS));
    let in_window = |d: NaiveDate| d > after && d <= as_of;
    // Appended after the previous run's completion, so that run could not have seen it. The
    // first run has no previous one and keeps to its window rather than messaging all history.
    let recorded_since_last_run =
        |position: u64| world.last_nightly.is_some() && position > world.last_nightly_position;
    // A late-recorded trigger is still news only for a week; an old backlog imported late is
    // not messaged.
    let late_from = as_of - Days::new(FIRST_RUN_WINDOW_DAYS);
    let recorded_due = |d: NaiveDate, position: u64| {
        in_window(d) || (d > late_from && d <= as_of && recorded_since_last_run(position))
    };
    let mut out: Vec<Event> = Vec::new();
    let mut queue = |id: String, template: &str, vars: Vec<(&str, String)>, on: NaiveDate| {
        let queued_already = consumer.sms.iter().any(|m| m.message_id == id)
            || out
                .iter()
                .any(|e| matches!(e, Event::SmsQueued(m) if m.message_id == id));
        if queued_already {
            return;
        }
        let Some(t) = policy.sms.templates.get(template) else {
            return;
        };
        let text = match consumer.language {
            Language::Hi => render(&t.hi, &vars),
            Language::En => render(&t.en, &vars),
        };
        out.push(Event::SmsQueued(SmsQueued {
            message_id: id,
            account_no: consumer.account_no.to_string(),
            mobile: mobile.to_string(),
            template: template.to_string(),
            dlt_template_id: t.dlt_template_id.clone(),
            language: consumer.language,
            text,
            queued_on: on.max(after.succ_opt().unwrap_or(on)).min(as_of),
        }));
    };
    let account = consumer.account_no.clone();
    for bill in &consumer.bills {
        if recorded_due(bill.issued_on, bill.position) {
            queue(
                format!("{account}-bill-{}", bill.bill_no),
                "bill",
                vec![
                    ("account", account.to_string()),
                    ("period", bill.period.to_string()),
                    ("amount", bill.amount_as_of(as_of).to_string()),
                    ("due", bill.due_on.to_string()),
                ],
                bill.issued_on,
            );
        }
        let Some(remind_on) = bill
            .due_on
            .checked_sub_days(Days::new(policy.sms.reminder_days_before_due.max(0) as u64))
        else {
            continue;
        };
        if in_window(remind_on) && remind_on >= bill.issued_on {
            let ledger = ledger_as_of(consumer, remind_on, Charges::All, &[]);
            let unpaid = ledger
                .charges
                .iter()
                .find(|c| matches!(&c.kind, ChargeKind::Bill { bill_no, .. } if *bill_no == bill.bill_no))
                .map(|c| c.unpaid)
                .unwrap_or_default();
            if unpaid.is_positive() {
                queue(
                    format!("{account}-reminder-{}", bill.bill_no),
                    "reminder",
                    vec![
                        ("account", account.to_string()),
                        ("amount", unpaid.to_string()),
                        ("due", bill.due_on.to_string()),
                    ],
                    remind_on,
                );
            }
        }
    }
    for p in consumer
        .payments
        .iter()
        .filter(|p| recorded_due(p.paid_on, p.position))
    {
        queue(
            format!("{account}-receipt-{}", p.receipt_no),
            "receipt",
            vec![
                ("account", account.to_string()),
                ("amount", p.amount.to_string()),
                ("date", p.paid_on.to_string()),
                ("receipt", p.receipt_no.to_string()),
            ],
            p.paid_on,
        );
    }
    for e in decided {
        if let Event::NoticeIssued(n) = e {
            queue(
                format!("{account}-notice-{}", n.notice_no),
                "notice",
                vec![
                    ("account", account.to_string()),
                    ("amount", n.overdue_arrears.to_string()),
                    ("notice", n.notice_no.clone()),
                ],
                n.issued_on,
            );
        }
    }
    for c in consumer
        .connection
        .iter()
        .filter(|c| recorded_due(c.on, c.position))
    {
        let arrears = ledger_as_of(consumer, c.on, Charges::All, &[]).overdue_arrears;
        let (kind, template) = match c.change {
            ConnectionChange::Disconnected { .. } => ("disconnection", "disconnection"),
            ConnectionChange::Reconnected => ("reconnection", "reconnection"),
            _ => continue,
        };
        queue(
            format!("{account}-{kind}-{}", c.on.format("%Y%m%d")),
            template,
            vec![
                ("account", account.to_string()),
                ("amount", arrears.to_string()),
                ("date", c.on.to_string()),
            ],
            c.on,
        );
    }
    let lead = Days::new(policy.sms.camp_notice_days_before.max(0) as u64);
    for camp in camps_ahead
        .iter()
        .filter(|c| c.subdivision == consumer.subdivision)
    {
        let Some(announce_on) = camp.on.checked_sub_days(lead) else {
            continue;
        };
        if in_window(announce_on) {
            queue(
                format!("{account}-camp-{}", camp.camp_id),
                "camp",
                vec![("venue", camp.venue.clone()), ("date", camp.on.to_string())],
                announce_on,
            );
        }
    }
    out
}

/// The camps announced in this run's window, by subdivision: computed once per run so that
/// queueing for each consumer looks only at its own subdivision's camps.
pub fn camps_ahead_by_subdivision<'a>(
    world: &'a World,
    as_of: NaiveDate,
    policy: &Policy,
) -> std::collections::HashMap<&'a str, Vec<&'a Camp>> {
    let after = world
        .last_nightly
        .unwrap_or_else(|| as_of - Days::new(FIRST_RUN_WINDOW_DAYS));
    let lead = Days::new(policy.sms.camp_notice_days_before.max(0) as u64);
    let mut map: std::collections::HashMap<&str, Vec<&Camp>> = std::collections::HashMap::new();
    for camp in world.camps.values() {
        let Some(announce_on) = camp.on.checked_sub_days(lead) else {
            continue;
        };
        if announce_on > after && announce_on <= as_of {
            map.entry(camp.subdivision.as_str()).or_default().push(camp);
        }
    }
    map
}
