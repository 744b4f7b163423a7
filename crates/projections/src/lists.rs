//! The officers' lists as of the last nightly run: defaulters, worklists and the consumer
//! statement (docs/RULES.md; their columns in docs/CLI.md).

use chrono::NaiveDate;

use std::str::FromStr;
use vasooli_domain::ladder::{ladder_as_of, LadderView};
use vasooli_domain::ledger::{ledger_as_of, Charges, LedgerView};
use vasooli_domain::state::{Connection, Consumer, SmsMessage, StoredConsumer, World};
use vasooli_domain::types::{Level, SmsDelivery, SmsStatus, Stage, WorklistKind};
use vasooli_domain::{Money, Policy};

/// Columns of the defaulter list, in order.
pub const DEFAULTER_COLUMNS: &[&str] = &[
    "account_no",
    "name",
    "category",
    "subdivision",
    "division",
    "circle",
    "mobile_registered",
    "overdue_arrears",
    "oldest_due_on",
    "days_overdue",
    "aging_bucket",
    "last_payment_on",
    "last_payment_amount",
    "stage",
    "notice_no",
    "notice_served_on",
    "disconnection_allowed_on",
    "hold",
];

/// Most rows one list returns.
pub const LIST_ROWS_MAX: usize = 10_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerRow {
    pub account_no: String,
    pub name: String,
    pub category: String,
    pub subdivision: String,
    pub division: String,
    pub circle: String,
    pub mobile_registered: bool,
    pub overdue_arrears: Money,
    pub oldest_due_on: Option<NaiveDate>,
    pub days_overdue: i64,
    pub aging_bucket: &'static str,
    pub last_payment_on: Option<NaiveDate>,
    pub last_payment_amount: Option<Money>,
    pub stage: Stage,
    pub notice_no: Option<String>,
    pub notice_served_on: Option<NaiveDate>,
    pub disconnection_allowed_on: Option<NaiveDate>,
    pub hold: String,
    pub worklist: Option<WorklistKind>,
    pub language: vasooli_domain::types::Language,
}

impl ConsumerRow {
    pub fn to_record(&self) -> Vec<(&'static str, Option<String>)> {
        let d = |x: Option<NaiveDate>| x.map(|d| d.to_string());
        vec![
            ("account_no", Some(self.account_no.clone())),
            ("name", Some(self.name.clone())),
            ("category", Some(self.category.clone())),
            ("subdivision", Some(self.subdivision.clone())),
            ("division", Some(self.division.clone())),
            ("circle", Some(self.circle.clone())),
            (
                "mobile_registered",
                Some(if self.mobile_registered { "yes" } else { "no" }.to_string()),
            ),
            ("overdue_arrears", Some(self.overdue_arrears.to_string())),
            ("oldest_due_on", d(self.oldest_due_on)),
            ("days_overdue", Some(self.days_overdue.to_string())),
            ("aging_bucket", Some(self.aging_bucket.to_string())),
            ("last_payment_on", d(self.last_payment_on)),
            (
                "last_payment_amount",
                self.last_payment_amount.map(|m| m.to_string()),
            ),
            ("stage", Some(self.stage.to_string())),
            ("notice_no", self.notice_no.clone()),
            ("notice_served_on", d(self.notice_served_on)),
            ("disconnection_allowed_on", d(self.disconnection_allowed_on)),
            ("hold", Some(self.hold.clone())),
        ]
    }
}

/// The ledger and ladder of one consumer as of a date.
pub fn assess<'a>(
    consumer: &'a Consumer,
    date: NaiveDate,
    policy: &Policy,
) -> (LedgerView<'a>, LadderView) {
    let ledger = ledger_as_of(consumer, date, Charges::All, &[]);
    let ladder = ladder_as_of(consumer, &ledger, date, policy);
    (ledger, ladder)
}

pub fn consumer_row(
    world: &World,
    consumer: &Consumer,
    date: NaiveDate,
    policy: &Policy,
) -> ConsumerRow {
    let (ledger, ladder) = assess(consumer, date, policy);
    row_from(world, consumer, date, &ledger, &ladder)
}

pub(crate) fn row_from(
    world: &World,
    consumer: &Consumer,
    date: NaiveDate,
    ledger: &LedgerView,
    ladder: &LadderView,
) -> ConsumerRow {
    let office_at = |level| {
        world
            .ancestor_at(&consumer.subdivision, level)
            .map(|o| o.code.clone())
            .unwrap_or_default()
    };
    let last_payment = consumer
        .payments
        .iter()
        .filter(|p| p.counts_on(date))
        .max_by_key(|p| (p.paid_on, p.position));
    ConsumerRow {
        account_no: consumer.account_no.to_string(),
        name: consumer.name.to_string(),
        category: consumer.category.to_string(),
        subdivision: consumer.subdivision.to_string(),
        division: office_at(Level::Division),
        circle: office_at(Level::Circle),
        mobile_registered: consumer.mobile_as_of(date).is_some(),
        overdue_arrears: ledger.overdue_arrears,
        oldest_due_on: ledger.oldest_overdue_due_on,
        days_overdue: ledger.days_overdue,
        aging_bucket: ledger.aging_bucket(),
        last_payment_on: last_payment.map(|p| p.paid_on),
        last_payment_amount: last_payment.map(|p| p.amount),
        stage: ladder.stage,
        notice_no: ladder.notice_no.clone(),
        notice_served_on: ladder.notice_served_on,
        disconnection_allowed_on: ladder.disconnection_allowed_on,
        hold: ladder
            .holds
            .iter()
            .map(|h| h.as_str())
            .collect::<Vec<_>>()
            .join(";"),
        worklist: ladder.worklist,
        language: consumer.language,
    }
}

/// The consumers below an office, in account order.
pub fn consumers_under<'a>(world: &'a World, office: &str) -> Vec<&'a StoredConsumer> {
    let subdivisions = world.subdivisions_under(office);
    let mut list: Vec<&StoredConsumer> = world
        .consumers
        .iter()
        .filter(|c| {
            subdivisions
                .binary_search_by(|s| s.as_str().cmp(&c.subdivision))
                .is_ok()
        })
        .collect();
    list.sort_by(|a, b| a.account_no.cmp(&b.account_no));
    list
}

#[derive(Clone, Debug, Default)]
pub struct DefaulterFilter {
    pub min_arrears: Option<Money>,
    pub stage: Option<Stage>,
    pub limit: Option<usize>,
    pub offset: usize,
}

fn sort_rows(rows: &mut [ConsumerRow]) {
    rows.sort_by(|a, b| {
        b.overdue_arrears
            .cmp(&a.overdue_arrears)
            .then_with(|| a.account_no.cmp(&b.account_no))
    });
}

pub fn check_office(world: &World, office: &str) -> Result<(), String> {
    if world.offices.contains_key(office) {
        Ok(())
    } else {
        Err(format!("no office has code {office}"))
    }
}

/// The defaulter list below an office as of `date`.
pub fn defaulters(
    world: &World,
    policy: &Policy,
    office: &str,
    date: NaiveDate,
    filter: &DefaulterFilter,
) -> Result<Vec<ConsumerRow>, String> {
    check_office(world, office)?;
    let min = filter
        .min_arrears
        .unwrap_or(policy.defaulters.min_overdue_arrears);
    let mut rows: Vec<ConsumerRow> = consumers_under(world, office)
        .into_iter()
        .filter(|c| c.connected_on <= date)
        .filter_map(|stored| {
            let c = &stored.consumer();
            let (ledger, ladder) = assess(c, date, policy);
            let keep = ledger.overdue_arrears >= min
                && ledger.overdue_arrears.is_positive()
                && filter.stage.is_none_or(|s| s == ladder.stage);
            keep.then(|| row_from(world, c, date, &ledger, &ladder))
        })
        .collect();
    sort_rows(&mut rows);
    Ok(page(rows, filter.offset, filter.limit))
}

fn page<T>(rows: Vec<T>, offset: usize, limit: Option<usize>) -> Vec<T> {
    rows.into_iter()
        .skip(offset)
        .take(limit.unwrap_or(LIST_ROWS_MAX))
        .collect()
}

/// A worklist below an office as of `date`.
pub fn worklist(
    world: &World,
    policy: &Policy,
    office: &str,
    kind: WorklistKind,
    date: NaiveDate,
    limit: Option<usize>,
    offset: usize,
) -> Result<Vec<ConsumerRow>, String> {
    check_office(world, office)?;
    let mut rows: Vec<ConsumerRow> = consumers_under(world, office)
        .into_iter()
        .filter(|c| c.connected_on <= date)
        .filter_map(|stored| {
            let c = &stored.consumer();
            let (ledger, ladder) = assess(c, date, policy);
            let on_list = match kind {
                WorklistKind::NoMobile => {
                    c.mobile_as_of(date).is_none()
                        && !matches!(
                            c.connection_as_of(date),
                            Connection::PermanentlyDisconnected { .. }
                        )
                }
                other => ladder.worklist == Some(other),
            };
            on_list.then(|| row_from(world, c, date, &ledger, &ladder))
        })
        .collect();
    sort_rows(&mut rows);
    Ok(page(rows, offset, limit))
}

pub fn worklist_record(
    row: &ConsumerRow,
    kind: WorklistKind,
) -> Vec<(&'static str, Option<String>)> {
    let mut record = row.to_record();
    record.push(("kind", Some(kind.to_string())));
    record
}

pub fn parse_stage(text: &str) -> Result<Stage, String> {
    Stage::from_str(text)
}

/// An SMS message's status in the outbox.
pub fn sms_status(m: &SmsMessage) -> SmsStatus {
    use vasooli_domain::types::SmsOutcome;
    match m.last_outcome {
        _ if m.rejected => SmsStatus::Failed,
        Some(SmsOutcome::Sent) => SmsStatus::Sent,
        Some(_) if m.attempts >= crate::lists::SMS_ATTEMPTS_MAX => SmsStatus::Failed,
        _ => SmsStatus::Queued,
    }
}

/// What the gateway's delivery report said, or `None` before one.
pub fn sms_delivery(m: &SmsMessage) -> Option<SmsDelivery> {
    m.delivery.as_ref().map(|d| {
        if d.delivered {
            SmsDelivery::Delivered
        } else {
            SmsDelivery::Undelivered
        }
    })
}

/// Attempts after which a message counts as failed.
pub const SMS_ATTEMPTS_MAX: u32 = 5;
