//! The in-memory state built from events: offices, consumers with their full history, camps
//! and grievances. `World::apply` is the one place an event changes state; everything "as of a
//! date" is computed from this history by the pure functions in `ledger` and `ladder`.

use crate::event::*;
use crate::money::Money;
use crate::types::*;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// A short text kept in the world: up to 24 bytes are held inline (account, bill and
/// receipt numbers, periods, mobiles), so a consumer's history costs no heap per string.
pub type Text = compact_str::CompactString;

/// A list kept in the world: one pointer wide, and an empty list allocates nothing.
pub type List<T> = thin_vec::ThinVec<T>;

/// Pushes onto a world list growing it by a few places at a time rather than doubling:
/// histories grow by one event at a time and are read far more than written, so the
/// spare places doubling leaves behind (a third of every list on average) are not worth it.
pub fn push_compact<T>(list: &mut List<T>, item: T) {
    if list.len() == list.capacity() {
        list.reserve_exact(LIST_GROWTH);
    }
    list.push(item);
}

const LIST_GROWTH: usize = 4;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Office {
    pub code: String,
    pub name: String,
    pub level: Level,
    pub parent: Option<String>,
    pub children: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MobileRegistration {
    #[serde(with = "crate::codec::date")]
    pub registered_on: NaiveDate,
    pub mobile: Text,
    /// `None` for the number given at registration.
    pub source: Option<MobileSource>,
}

/// A bill's month, `YYYY-MM` (checked when the bill was issued), kept as one number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BillMonth(u32);

impl BillMonth {
    /// Reads `YYYY-MM`; `None` for anything else.
    pub fn parse(text: &str) -> Option<BillMonth> {
        let bytes = text.as_bytes();
        let digits = |range: std::ops::Range<usize>| {
            bytes[range]
                .iter()
                .fold(0u32, |n, b| n * 10 + u32::from(b - b'0'))
        };
        let well_formed = bytes.len() == 7
            && bytes[4] == b'-'
            && bytes
                .iter()
                .enumerate()
                .all(|(i, b)| i == 4 || b.is_ascii_digit());
        if !well_formed {
            return None;
        }
        let month = digits(5..7);
        (1..=12)
            .contains(&month)
            .then_some(BillMonth(digits(0..4) * 100 + month))
    }

    /// The month of a bill recorded in the log. The command that issued it checked the form;
    /// earlier versions also let a sign through before the month (`2026-+7`), read here as
    /// that month. Anything else is a log written by other software: kept as month 0 of year 0.
    fn of_bill(text: &str) -> BillMonth {
        BillMonth::parse(text)
            .or_else(|| {
                let (year, month) = text.split_once('-')?;
                let month: u32 = month.parse().ok()?;
                (year.len() == 4 && year.bytes().all(|b| b.is_ascii_digit()))
                    .then_some(())
                    .and((1..=12).contains(&month).then_some(()))
                    .map(|()| BillMonth(year.parse::<u32>().unwrap_or(0) * 100 + month))
            })
            .unwrap_or(BillMonth(0))
    }
}

impl std::fmt::Display for BillMonth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.0 / 100, self.0 % 100)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Revision {
    #[serde(with = "crate::codec::date")]
    pub revised_on: NaiveDate,
    pub new_amount: Money,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Bill {
    pub bill_no: Text,
    pub period: BillMonth,
    #[serde(with = "crate::codec::date")]
    pub issued_on: NaiveDate,
    #[serde(with = "crate::codec::date")]
    pub due_on: NaiveDate,
    pub amount: Money,
    pub revisions: List<Revision>,
    /// Log position: the tie-breaker of the allocation order.
    pub position: u64,
}

impl Bill {
    /// The bill's amount as of a date: the latest revision dated on or before it.
    pub fn amount_as_of(&self, date: NaiveDate) -> Money {
        self.revisions
            .iter()
            .filter(|r| r.revised_on <= date)
            .max_by_key(|r| r.revised_on)
            .map_or(self.amount, |r| r.new_amount)
    }

    /// The amount now (after every revision).
    pub fn current_amount(&self) -> Money {
        self.revisions.last().map_or(self.amount, |r| r.new_amount)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Surcharge {
    /// The bill it is levied on: its place in the consumer's `bills`.
    pub bill: u32,
    pub anniversary: u32,
    #[serde(with = "crate::codec::date")]
    pub levied_on: NaiveDate,
    pub amount: Money,
    pub position: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Adjustment {
    pub adjustment_no: Text,
    #[serde(with = "crate::codec::date")]
    pub posted_on: NaiveDate,
    pub amount: Money,
    pub reason: String,
    pub position: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Payment {
    pub receipt_no: Text,
    pub amount: Money,
    #[serde(with = "crate::codec::date")]
    pub paid_on: NaiveDate,
    pub channel: Channel,
    #[serde(with = "crate::codec::date_opt")]
    pub reversed_on: Option<NaiveDate>,
    pub position: u64,
}

impl Payment {
    /// Counts as a credit as of `date`: paid by then and not reversed by then.
    pub fn counts_on(&self, date: NaiveDate) -> bool {
        self.paid_on <= date && self.reversed_on.is_none_or(|r| r > date)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Case {
    pub notice_no: Text,
    #[serde(with = "crate::codec::date")]
    pub issued_on: NaiveDate,
    pub overdue_arrears_at_issue: Money,
    #[serde(with = "crate::codec::date_opt")]
    pub served_on: Option<NaiveDate>,
    pub mode: Option<NoticeMode>,
    #[serde(with = "crate::codec::date_opt")]
    pub closed_on: Option<NaiveDate>,
    pub close_reason: Option<CaseCloseReason>,
}

impl Case {
    pub fn open_on(&self, date: NaiveDate) -> bool {
        self.issued_on <= date && self.closed_on.is_none_or(|c| c > date)
    }
    pub fn served_by(&self, date: NaiveDate) -> Option<NaiveDate> {
        self.served_on.filter(|s| *s <= date)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConnectionChange {
    Disconnected { order_no: Text },
    Reconnected,
    PermanentlyDisconnected,
    RecoveryCertificate { rc_no: Text },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConnectionEvent {
    #[serde(with = "crate::codec::date")]
    pub on: NaiveDate,
    pub change: ConnectionChange,
    /// Log position: tells a change recorded after a nightly run from one the run saw.
    pub position: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Dispute {
    #[serde(with = "crate::codec::date")]
    pub on: NaiveDate,
    pub deposit: Money,
    pub bill_no: Option<Text>,
    #[serde(with = "crate::codec::date_opt")]
    pub resolved_on: Option<NaiveDate>,
}

impl Dispute {
    pub fn in_force_on(&self, date: NaiveDate) -> bool {
        self.on <= date && self.resolved_on.is_none_or(|r| r > date)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    pub plan_id: Text,
    #[serde(with = "crate::codec::date")]
    pub granted_on: NaiveDate,
    pub installments: Vec<Installment>,
    #[serde(with = "crate::codec::date_opt")]
    pub broken_on: Option<NaiveDate>,
}

impl Plan {
    pub fn total(&self) -> Money {
        self.installments.iter().map(|i| i.amount).sum()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SmsMessage {
    pub message_id: Text,
    pub mobile: Text,
    pub template: Text,
    pub dlt_template_id: Text,
    pub language: Language,
    pub text: String,
    #[serde(with = "crate::codec::date")]
    pub queued_on: NaiveDate,
    pub attempts: u32,
    pub last_outcome: Option<SmsOutcome>,
    pub last_detail: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Consumer {
    pub account_no: Text,
    pub name: Text,
    pub category: Category,
    pub subdivision: Text,
    pub load_watts: i64,
    #[serde(with = "crate::codec::date")]
    pub connected_on: NaiveDate,
    pub language: Language,
    pub mobiles: List<MobileRegistration>,
    pub bills: List<Bill>,
    pub surcharges: List<Surcharge>,
    pub adjustments: List<Adjustment>,
    pub payments: List<Payment>,
    pub cases: List<Case>,
    pub connection: List<ConnectionEvent>,
    pub disputes: List<Dispute>,
    pub plans: List<Plan>,
    pub sms: List<SmsMessage>,
    /// Log position of the registration.
    pub position: u64,
}

/// The consumer's connection as of a date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connection {
    Connected,
    Disconnected { since: NaiveDate },
    PermanentlyDisconnected { since: NaiveDate, rc_issued: bool },
}

impl Consumer {
    pub fn from_registration(e: &ConsumerRegistered, position: u64) -> Consumer {
        Consumer {
            account_no: e.account_no.as_str().into(),
            name: e.name.as_str().into(),
            category: e.category,
            subdivision: e.subdivision.as_str().into(),
            load_watts: e.load_watts,
            connected_on: e.connected_on,
            language: e.language,
            mobiles: e
                .mobile
                .iter()
                .map(|m| MobileRegistration {
                    registered_on: e.connected_on,
                    mobile: m.as_str().into(),
                    source: None,
                })
                .collect(),
            bills: List::new(),
            surcharges: List::new(),
            adjustments: List::new(),
            payments: List::new(),
            cases: List::new(),
            connection: List::new(),
            disputes: List::new(),
            plans: List::new(),
            sms: List::new(),
            position,
        }
    }

    /// The number registered as of a date: the latest registration on or before it.
    pub fn mobile_as_of(&self, date: NaiveDate) -> Option<&str> {
        self.mobiles
            .iter()
            .filter(|m| m.registered_on <= date)
            .max_by_key(|m| m.registered_on)
            .map(|m| m.mobile.as_str())
    }

    pub fn connection_as_of(&self, date: NaiveDate) -> Connection {
        let mut state = Connection::Connected;
        for event in self.connection.iter().filter(|c| c.on <= date) {
            state = match (&event.change, &state) {
                (ConnectionChange::Disconnected { .. }, _) => {
                    Connection::Disconnected { since: event.on }
                }
                (ConnectionChange::Reconnected, _) => Connection::Connected,
                (ConnectionChange::PermanentlyDisconnected, _) => {
                    Connection::PermanentlyDisconnected {
                        since: event.on,
                        rc_issued: false,
                    }
                }
                (
                    ConnectionChange::RecoveryCertificate { .. },
                    Connection::PermanentlyDisconnected { since, .. },
                ) => Connection::PermanentlyDisconnected {
                    since: *since,
                    rc_issued: true,
                },
                (ConnectionChange::RecoveryCertificate { .. }, other) => other.clone(),
            };
        }
        state
    }

    pub fn open_case(&self, date: NaiveDate) -> Option<&Case> {
        self.cases.iter().rev().find(|c| c.open_on(date))
    }

    pub fn dispute_in_force(&self, date: NaiveDate) -> Option<&Dispute> {
        self.disputes.iter().rev().find(|d| d.in_force_on(date))
    }

    /// Payments counted as of `date` that were paid on or after `since`.
    pub fn payments_between(&self, since: NaiveDate, date: NaiveDate) -> Money {
        self.payments
            .iter()
            .filter(|p| p.paid_on >= since && p.counts_on(date))
            .map(|p| p.amount)
            .sum()
    }

    /// The instalment plan in force on a date: granted, not broken, not yet paid off.
    pub fn plan_in_force(&self, date: NaiveDate) -> Option<&Plan> {
        self.plans.iter().rev().find(|plan| {
            plan.granted_on <= date
                && plan.broken_on.is_none_or(|b| b > date)
                && self.payments_between(plan.granted_on, date) < plan.total()
        })
    }

    pub fn bill(&self, bill_no: &str) -> Option<&Bill> {
        self.bills.iter().find(|b| b.bill_no == bill_no)
    }

    /// The place of a bill in `bills`.
    pub fn bill_index(&self, bill_no: &str) -> Option<u32> {
        self.bills
            .iter()
            .position(|b| b.bill_no == bill_no)
            .map(|i| i as u32)
    }

    /// The number of the bill a surcharge is levied on.
    pub fn surcharge_bill_no(&self, surcharge: &Surcharge) -> &str {
        let bill = self.bills.get(surcharge.bill as usize);
        debug_assert!(
            bill.is_some(),
            "a surcharge points at a bill of its consumer"
        );
        bill.map_or("", |b| b.bill_no.as_str())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Camp {
    pub camp_id: String,
    pub subdivision: String,
    #[serde(with = "crate::codec::date")]
    pub on: NaiveDate,
    pub venue: String,
    #[serde(with = "crate::codec::date_opt")]
    pub held_on: Option<NaiveDate>,
    pub officers_present: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Grievance {
    pub grievance_id: String,
    pub subdivision: String,
    pub account_no: Option<String>,
    pub camp_id: Option<String>,
    pub category: GrievanceCategory,
    #[serde(with = "crate::codec::date")]
    pub registered_on: NaiveDate,
    #[serde(with = "crate::codec::date_opt")]
    pub resolved_on: Option<NaiveDate>,
}

/// Everything the engine knows, built by applying events in log order.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct World {
    pub offices: BTreeMap<String, Office>,
    pub consumers: Vec<Consumer>,
    pub account_index: HashMap<Text, u32>,
    pub camps: BTreeMap<String, Camp>,
    pub grievances: BTreeMap<String, Grievance>,
    /// The last nightly run: its date and log position.
    #[serde(with = "crate::codec::date_opt")]
    pub last_nightly: Option<NaiveDate>,
    pub last_nightly_position: u64,
    /// Position of the last event applied.
    pub position: u64,
}

impl World {
    pub fn consumer(&self, account_no: &str) -> Option<&Consumer> {
        self.account_index
            .get(account_no)
            .map(|i| &self.consumers[*i as usize])
    }

    fn consumer_mut(&mut self, account_no: &str) -> Option<&mut Consumer> {
        let index = *self.account_index.get(account_no)?;
        Some(&mut self.consumers[index as usize])
    }

    /// Every subdivision at or below an office, in code order.
    pub fn subdivisions_under(&self, code: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![code.to_string()];
        while let Some(code) = stack.pop() {
            if let Some(office) = self.offices.get(&code) {
                if office.level == Level::Subdivision {
                    out.push(office.code.clone());
                }
                stack.extend(office.children.iter().cloned());
            }
        }
        out.sort();
        out
    }

    /// The office at `level` above (or at) an office, if any.
    pub fn ancestor_at(&self, code: &str, level: Level) -> Option<&Office> {
        let mut office = self.offices.get(code)?;
        loop {
            if office.level == level {
                return Some(office);
            }
            office = self.offices.get(office.parent.as_ref()?)?;
        }
    }

    /// Whether `code` is `ancestor` or lies below it.
    pub fn is_within(&self, code: &str, ancestor: &str) -> bool {
        let mut current = self.offices.get(code);
        while let Some(office) = current {
            if office.code == ancestor {
                return true;
            }
            current = office.parent.as_ref().and_then(|p| self.offices.get(p));
        }
        false
    }

    /// Applies one event at its log position. Events are trusted here: they were validated
    /// before they were appended. An event about an unknown consumer is ignored.
    pub fn apply(&mut self, position: u64, event: &Event) {
        debug_assert!(position > self.position, "events apply in log order");
        self.position = position;
        match event {
            Event::OfficeRegistered(e) => {
                if let Some(parent) = e.parent.as_ref().and_then(|p| self.offices.get_mut(p)) {
                    if !parent.children.contains(&e.code) {
                        parent.children.push(e.code.clone());
                    }
                }
                self.offices.insert(
                    e.code.clone(),
                    Office {
                        code: e.code.clone(),
                        name: e.name.clone(),
                        level: e.level,
                        parent: e.parent.clone(),
                        children: Vec::new(),
                    },
                );
            }
            Event::ConsumerRegistered(e) => {
                if !self.account_index.contains_key(e.account_no.as_str()) {
                    self.account_index
                        .insert(e.account_no.as_str().into(), self.consumers.len() as u32);
                    self.consumers
                        .push(Consumer::from_registration(e, position));
                }
            }
            Event::CampScheduled(e) => {
                self.camps.insert(
                    e.camp_id.clone(),
                    Camp {
                        camp_id: e.camp_id.clone(),
                        subdivision: e.subdivision.clone(),
                        on: e.on,
                        venue: e.venue.clone(),
                        held_on: None,
                        officers_present: Vec::new(),
                    },
                );
            }
            Event::CampHeld(e) => {
                if let Some(camp) = self.camps.get_mut(&e.camp_id) {
                    camp.held_on = Some(e.held_on);
                    camp.officers_present = e.officers_present.clone();
                }
            }
            Event::GrievanceRegistered(e) => {
                self.grievances.insert(
                    e.grievance_id.clone(),
                    Grievance {
                        grievance_id: e.grievance_id.clone(),
                        subdivision: e.subdivision.clone(),
                        account_no: e.account_no.clone(),
                        camp_id: e.camp_id.clone(),
                        category: e.category,
                        registered_on: e.registered_on,
                        resolved_on: None,
                    },
                );
            }
            Event::GrievanceResolved(e) => {
                if let Some(g) = self.grievances.get_mut(&e.grievance_id) {
                    g.resolved_on = Some(e.resolved_on);
                }
            }
            Event::NightlyRunCompleted(e) => {
                self.last_nightly = Some(e.as_of);
                self.last_nightly_position = position;
            }
            other => {
                let Some(account) = other.account_no() else {
                    return;
                };
                if let Some(consumer) = self.consumer_mut(account) {
                    apply_to_consumer(consumer, position, other);
                }
            }
        }
    }
}

fn apply_to_consumer(c: &mut Consumer, position: u64, event: &Event) {
    match event {
        Event::MobileRegistered(e) => push_compact(
            &mut c.mobiles,
            MobileRegistration {
                registered_on: e.registered_on,
                mobile: e.mobile.as_str().into(),
                source: Some(e.source),
            },
        ),
        Event::BillIssued(e) => push_compact(
            &mut c.bills,
            Bill {
                bill_no: e.bill_no.as_str().into(),
                period: BillMonth::of_bill(&e.period),
                issued_on: e.issued_on,
                due_on: e.due_on,
                amount: e.amount,
                revisions: List::new(),
                position,
            },
        ),
        Event::BillRevised(e) => {
            if let Some(bill) = c.bills.iter_mut().find(|b| b.bill_no == e.bill_no) {
                push_compact(
                    &mut bill.revisions,
                    Revision {
                        revised_on: e.revised_on,
                        new_amount: e.new_amount,
                    },
                );
            }
        }
        Event::PaymentReceived(e) => push_compact(
            &mut c.payments,
            Payment {
                receipt_no: e.receipt_no.as_str().into(),
                amount: e.amount,
                paid_on: e.paid_on,
                channel: e.channel,
                reversed_on: None,
                position,
            },
        ),
        Event::PaymentReversed(e) => {
            if let Some(p) = c.payments.iter_mut().find(|p| p.receipt_no == e.receipt_no) {
                p.reversed_on = Some(e.reversed_on);
            }
        }
        Event::AdjustmentPosted(e) => push_compact(
            &mut c.adjustments,
            Adjustment {
                adjustment_no: e.adjustment_no.as_str().into(),
                posted_on: e.posted_on,
                amount: e.amount,
                reason: e.reason.clone(),
                position,
            },
        ),
        Event::SurchargeLevied(e) => {
            // The nightly run levies only on bills in the history.
            if let Some(bill) = c.bill_index(&e.bill_no) {
                push_compact(
                    &mut c.surcharges,
                    Surcharge {
                        bill,
                        anniversary: e.anniversary,
                        levied_on: e.levied_on,
                        amount: e.amount,
                        position,
                    },
                );
            }
        }
        Event::NoticeIssued(e) => push_compact(
            &mut c.cases,
            Case {
                notice_no: e.notice_no.as_str().into(),
                issued_on: e.issued_on,
                overdue_arrears_at_issue: e.overdue_arrears,
                served_on: None,
                mode: None,
                closed_on: None,
                close_reason: None,
            },
        ),
        Event::NoticeServed(e) => {
            if let Some(case) = c.cases.iter_mut().find(|k| k.notice_no == e.notice_no) {
                case.served_on = Some(e.served_on);
                case.mode = Some(e.mode);
            }
        }
        Event::CaseClosed(e) => {
            if let Some(case) = c.cases.iter_mut().find(|k| k.notice_no == e.notice_no) {
                if case.closed_on.is_none() {
                    case.closed_on = Some(e.closed_on);
                    case.close_reason = Some(e.reason);
                }
            }
        }
        Event::Disconnected(e) => push_compact(
            &mut c.connection,
            ConnectionEvent {
                on: e.on,
                change: ConnectionChange::Disconnected {
                    order_no: e.order_no.as_str().into(),
                },
                position,
            },
        ),
        Event::Reconnected(e) => {
            push_compact(
                &mut c.connection,
                ConnectionEvent {
                    on: e.on,
                    change: ConnectionChange::Reconnected,
                    position,
                },
            );
            // A reconnection closes the case that led to the disconnection.
            for case in c
                .cases
                .iter_mut()
                .filter(|k| k.closed_on.is_none() && k.issued_on <= e.on)
            {
                case.closed_on = Some(e.on);
                case.close_reason = Some(CaseCloseReason::Reconnected);
            }
        }
        Event::PermanentlyDisconnected(e) => push_compact(
            &mut c.connection,
            ConnectionEvent {
                on: e.on,
                change: ConnectionChange::PermanentlyDisconnected,
                position,
            },
        ),
        Event::RecoveryCertificateIssued(e) => push_compact(
            &mut c.connection,
            ConnectionEvent {
                on: e.on,
                change: ConnectionChange::RecoveryCertificate {
                    rc_no: e.rc_no.as_str().into(),
                },
                position,
            },
        ),
        Event::DisputeRaised(e) => push_compact(
            &mut c.disputes,
            Dispute {
                on: e.on,
                deposit: e.deposit,
                bill_no: e.bill_no.as_deref().map(Text::from),
                resolved_on: None,
            },
        ),
        Event::DisputeResolved(e) => {
            if let Some(d) = c
                .disputes
                .iter_mut()
                .rev()
                .find(|d| d.resolved_on.is_none())
            {
                d.resolved_on = Some(e.on);
            }
        }
        Event::InstallmentPlanGranted(e) => push_compact(
            &mut c.plans,
            Plan {
                plan_id: e.plan_id.as_str().into(),
                granted_on: e.granted_on,
                installments: e.installments.clone(),
                broken_on: None,
            },
        ),
        Event::InstallmentPlanBroken(e) => {
            if let Some(p) = c.plans.iter_mut().find(|p| p.plan_id == e.plan_id) {
                p.broken_on = Some(e.on);
            }
        }
        Event::SmsQueued(e) => push_compact(
            &mut c.sms,
            SmsMessage {
                message_id: e.message_id.as_str().into(),
                mobile: e.mobile.as_str().into(),
                template: e.template.as_str().into(),
                dlt_template_id: e.dlt_template_id.as_str().into(),
                language: e.language,
                text: e.text.clone(),
                queued_on: e.queued_on,
                attempts: 0,
                last_outcome: None,
                last_detail: String::new(),
            },
        ),
        Event::SmsAttempted(e) => {
            if let Some(m) = c.sms.iter_mut().find(|m| m.message_id == e.message_id) {
                m.attempts = m.attempts.max(e.attempt);
                m.last_outcome = Some(e.outcome);
                m.last_detail = e.detail.clone();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bill_month_reads_and_prints_yyyy_mm_only() {
        for text in ["2025-04", "1999-12", "2026-01"] {
            assert_eq!(BillMonth::parse(text).unwrap().to_string(), text);
        }
        for text in [
            "2025-13", "2025-00", "2025-4", "25-04", "2025/04", "20a5-04", "2025-+4", "+025-04", "",
        ] {
            assert_eq!(BillMonth::parse(text), None, "{text}");
        }
        assert!(BillMonth::parse("2025-12") < BillMonth::parse("2026-01"));
    }

    #[test]
    fn a_bill_month_in_the_log_with_a_sign_reads_as_that_month() {
        assert_eq!(BillMonth::of_bill("2026-+7").to_string(), "2026-07");
        assert_eq!(BillMonth::of_bill("2026-07").to_string(), "2026-07");
        assert_eq!(BillMonth::of_bill("July").to_string(), "0000-00");
    }

    #[test]
    fn world_lists_grow_a_few_places_at_a_time() {
        let mut list: List<u32> = List::new();
        assert_eq!(list.capacity(), 0);
        for n in 0..9 {
            push_compact(&mut list, n);
        }
        assert_eq!(list.len(), 9);
        assert_eq!(list.capacity(), 12);
        assert_eq!(
            list.iter().copied().collect::<Vec<_>>(),
            (0..9).collect::<Vec<_>>()
        );
    }
}
