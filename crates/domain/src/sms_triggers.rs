//! The SMS of docs/RULES.md ("SMS") the nightly run queues for one consumer.
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

use crate::event::{Event, SmsQueued};
use crate::ledger::{ledger_as_of, Charges};
use crate::nightly::LastRun;
use crate::policy::Policy;
use crate::sms::render;
use crate::state::{Bill, Camp, ConnectionChange, Consumer, World};
use crate::types::Language;
use chrono::{Days, NaiveDate};

/// How far back the first run looks for triggers.
pub const FIRST_RUN_WINDOW_DAYS: u64 = 7;

/// The messages one consumer's triggers queue on `as_of`; `decided` are the events the run
/// decided for it before (a notice it issues is a trigger).
pub fn queue_for_consumer(
    last: LastRun,
    consumer: &Consumer,
    as_of: NaiveDate,
    policy: &Policy,
    decided: &[Event],
    camps_ahead: &[&Camp],
) -> Vec<Event> {
    let Some(mobile) = consumer.mobile_as_of(as_of) else {
        return Vec::new();
    };
    let mut q = Queue {
        last,
        consumer,
        as_of,
        policy,
        mobile,
        after: last
            .on
            .unwrap_or_else(|| as_of - Days::new(FIRST_RUN_WINDOW_DAYS)),
        out: Vec::new(),
    };
    for bill in &consumer.bills {
        q.bill(bill);
    }
    q.payments();
    q.notices(decided);
    q.connection();
    q.camps(camps_ahead);
    q.out
}

/// The messages of one consumer, queued so far.
struct Queue<'a> {
    last: LastRun,
    consumer: &'a Consumer,
    as_of: NaiveDate,
    policy: &'a Policy,
    mobile: &'a str,
    /// Triggers dated after this day count.
    after: NaiveDate,
    out: Vec<Event>,
}

impl Queue<'_> {
    fn in_window(&self, d: NaiveDate) -> bool {
        d > self.after && d <= self.as_of
    }

    /// A recorded trigger dated `d` at log `position` is due: in the window, or appended
    /// after the previous run's completion (so that run could not have seen it) and dated in
    /// the last week. The first run has no previous one and keeps to its window rather than
    /// messaging all history; an old backlog imported late is not messaged.
    fn recorded_due(&self, d: NaiveDate, position: u64) -> bool {
        let recorded_since_last_run = self.last.on.is_some() && position > self.last.position;
        let late_from = self.as_of - Days::new(FIRST_RUN_WINDOW_DAYS);
        self.in_window(d) || (d > late_from && d <= self.as_of && recorded_since_last_run)
    }

    /// Queues a message unless its id is queued already.
    fn queue(&mut self, id: String, template: &str, vars: Vec<(&str, String)>, on: NaiveDate) {
        let queued_already = self.consumer.sms.iter().any(|m| m.message_id == id)
            || self
                .out
                .iter()
                .any(|e| matches!(e, Event::SmsQueued(m) if m.message_id == id));
        if queued_already {
            return;
        }
        let Some(t) = self.policy.sms.templates.get(template) else {
            return;
        };
        let consumer = self.consumer;
        let text = match consumer.language {
            Language::Hi => render(&t.hi, &vars),
            Language::En => render(&t.en, &vars),
        };
        let after = self.after;
        self.out.push(Event::SmsQueued(SmsQueued {
            message_id: id,
            account_no: consumer.account_no.to_string(),
            mobile: self.mobile.to_string(),
            template: template.to_string(),
            dlt_template_id: t.dlt_template_id.clone(),
            language: consumer.language,
            text,
            queued_on: on.max(after.succ_opt().unwrap_or(on)).min(self.as_of),
        }));
    }

    /// A bill issued, and the reminder before its due date while it is unpaid.
    fn bill(&mut self, bill: &Bill) {
        let account = self.consumer.account_no.to_string();
        if self.recorded_due(bill.issued_on, bill.position) {
            self.queue(
                format!("{account}-bill-{}", bill.bill_no),
                "bill",
                vec![
                    ("account", account.clone()),
                    ("period", bill.period.to_string()),
                    ("amount", bill.amount_as_of(self.as_of).to_string()),
                    ("due", bill.due_on.to_string()),
                ],
                bill.issued_on,
            );
        }
        let before = Days::new(self.policy.sms.reminder_days_before_due.max(0) as u64);
        let Some(remind_on) = bill.due_on.checked_sub_days(before) else {
            return;
        };
        if !(self.in_window(remind_on) && remind_on >= bill.issued_on) {
            return;
        }
        let ledger = ledger_as_of(self.consumer, remind_on, Charges::All, &[]);
        let unpaid = ledger.bill_unpaid(&bill.bill_no);
        if unpaid.is_positive() {
            self.queue(
                format!("{account}-reminder-{}", bill.bill_no),
                "reminder",
                vec![
                    ("account", account),
                    ("amount", unpaid.to_string()),
                    ("due", bill.due_on.to_string()),
                ],
                remind_on,
            );
        }
    }

    /// A receipt for each payment.
    fn payments(&mut self) {
        let consumer = self.consumer;
        let account = &consumer.account_no;
        for p in consumer.payments.iter() {
            if !self.recorded_due(p.paid_on, p.position) {
                continue;
            }
            self.queue(
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
    }

    /// A notice the run issues.
    fn notices(&mut self, decided: &[Event]) {
        let account = &self.consumer.account_no;
        for e in decided {
            if let Event::NoticeIssued(n) = e {
                self.queue(
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
    }

    /// A disconnection or a reconnection.
    fn connection(&mut self) {
        let consumer = self.consumer;
        let account = &consumer.account_no;
        for c in consumer.connection.iter() {
            if !self.recorded_due(c.on, c.position) {
                continue;
            }
            let arrears = ledger_as_of(consumer, c.on, Charges::All, &[]).overdue_arrears;
            let (kind, template) = match c.change {
                ConnectionChange::Disconnected { .. } => ("disconnection", "disconnection"),
                ConnectionChange::Reconnected => ("reconnection", "reconnection"),
                _ => continue,
            };
            self.queue(
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
    }

    /// A camp ahead in the consumer's subdivision, announced its lead days before.
    fn camps(&mut self, camps_ahead: &[&Camp]) {
        let consumer = self.consumer;
        let lead = Days::new(self.policy.sms.camp_notice_days_before.max(0) as u64);
        for camp in camps_ahead
            .iter()
            .filter(|c| c.subdivision == consumer.subdivision)
        {
            let Some(announce_on) = camp.on.checked_sub_days(lead) else {
                continue;
            };
            if self.in_window(announce_on) {
                self.queue(
                    format!("{}-camp-{}", consumer.account_no, camp.camp_id),
                    "camp",
                    vec![("venue", camp.venue.clone()), ("date", camp.on.to_string())],
                    announce_on,
                );
            }
        }
    }
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
