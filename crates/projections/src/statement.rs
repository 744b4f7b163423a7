//! One consumer's statement: the ledger with every charge's unpaid part, the credits, the
//! overdue arrears and where the consumer stands on the ladder, the notices and the SMS sent.
//! A typed value: the CLI prints it for people, the API answers it as JSON.

use crate::lists::{assess, row_from, sms_status, ConsumerRow};
use chrono::NaiveDate;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use vasooli_domain::ledger::{over_two_years, ChargeKind, CreditKind};
use vasooli_domain::sms::encoding_and_parts;
use vasooli_domain::state::SmsMessage;
use vasooli_domain::types::{SmsDelivery, SmsStatus};
use vasooli_domain::{Money, Policy, World};

/// A charge and what of it is unpaid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatementCharge {
    /// `bill`, `surcharge` or `adjustment`.
    pub kind: &'static str,
    /// The bill with its period, the surcharge's bill and anniversary, or the adjustment.
    pub reference: String,
    pub booked_on: NaiveDate,
    pub due_on: NaiveDate,
    pub amount: Money,
    pub unpaid: Money,
    pub overdue: bool,
    /// Due more than two years before the statement's date (s.56(2)).
    pub over_two_years: bool,
}

/// A credit: a payment, a deposit under protest, or a credit adjustment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatementCredit {
    /// `payment`, `deposit_under_protest` or `adjustment`.
    pub kind: &'static str,
    pub reference: String,
    pub on: NaiveDate,
    pub amount: Money,
}

/// A payment reversed on or before the statement's date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReversedPayment {
    pub receipt_no: String,
    pub amount: Money,
    pub paid_on: NaiveDate,
    pub reversed_on: Option<NaiveDate>,
}

/// A notice issued on or before the statement's date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatementNotice {
    pub notice_no: String,
    pub issued_on: NaiveDate,
    pub arrears_at_issue: Money,
    pub served_on: Option<NaiveDate>,
    pub mode: Option<String>,
    pub closed_on: Option<NaiveDate>,
    pub close_reason: Option<String>,
}

/// A queued message and how far it got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatementSms {
    pub message_id: String,
    pub template: String,
    pub queued_on: NaiveDate,
    pub status: SmsStatus,
    /// `GSM-7` or `UCS-2`.
    pub encoding: &'static str,
    pub parts: u32,
    pub text: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// The last attempt's status or error, or why the message was refused.
    pub detail: String,
    /// `delivered` or `undelivered` once the gateway reported; else empty.
    pub delivery: &'static str,
    /// The operator's reason from the delivery report.
    pub delivery_reason: String,
}

/// One consumer's statement as of a date. Serialized as one JSON object: the consumer's row
/// (the defaulter list's columns) followed by the statement's own fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub row: ConsumerRow,
    pub as_of: NaiveDate,
    pub language: &'static str,
    pub connected_on: NaiveDate,
    pub total_charges: Money,
    pub total_credits: Money,
    pub outstanding: Money,
    /// Credits beyond every charge, which will cover later charges.
    pub advance: Money,
    pub holds: Vec<&'static str>,
    pub worklist: Option<&'static str>,
    pub charges: Vec<StatementCharge>,
    pub credits: Vec<StatementCredit>,
    pub reversed_payments: Vec<ReversedPayment>,
    pub notices: Vec<StatementNotice>,
    pub sms: Vec<StatementSms>,
}

impl Serialize for Statement {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let record = self.row.to_record();
        let mut map = serializer.serialize_map(Some(record.len() + 14))?;
        for (key, value) in &record {
            map.serialize_entry(key, value)?;
        }
        map.serialize_entry("as_of", &self.as_of)?;
        map.serialize_entry("language", self.language)?;
        map.serialize_entry("connected_on", &self.connected_on)?;
        map.serialize_entry("total_charges", &self.total_charges)?;
        map.serialize_entry("total_credits", &self.total_credits)?;
        map.serialize_entry("outstanding", &self.outstanding)?;
        map.serialize_entry("advance", &self.advance)?;
        map.serialize_entry("holds", &self.holds)?;
        map.serialize_entry("worklist", &self.worklist)?;
        map.serialize_entry("charges", &self.charges)?;
        map.serialize_entry("credits", &self.credits)?;
        map.serialize_entry("reversed_payments", &self.reversed_payments)?;
        map.serialize_entry("notices", &self.notices)?;
        map.serialize_entry("sms", &self.sms)?;
        map.end()
    }
}

/// Why a statement could not be made.
#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    #[error("no consumer has account {0}")]
    UnknownAccount(String),
    /// A queued message's text could not be read from the log.
    #[error(transparent)]
    SmsText(Box<dyn std::error::Error + Send + Sync>),
}

fn charge_line(line: &vasooli_domain::ledger::ChargeLine<'_>, date: NaiveDate) -> StatementCharge {
    let (kind, reference) = match &line.kind {
        ChargeKind::Bill { bill_no, period } => ("bill", format!("{bill_no} ({period})")),
        ChargeKind::Surcharge {
            bill_no,
            anniversary,
        } => ("surcharge", format!("{bill_no} #{anniversary}")),
        ChargeKind::Adjustment { adjustment_no } => ("adjustment", adjustment_no.to_string()),
    };
    StatementCharge {
        kind,
        reference,
        booked_on: line.booked_on,
        due_on: line.due_on,
        amount: line.amount,
        unpaid: line.unpaid,
        overdue: line.due_on < date && line.unpaid.is_positive(),
        over_two_years: over_two_years(line.due_on, date),
    }
}

fn credit_line(line: &vasooli_domain::ledger::CreditLine<'_>) -> StatementCredit {
    let (kind, reference) = match &line.kind {
        CreditKind::Payment { receipt_no } => ("payment", receipt_no.to_string()),
        CreditKind::Deposit => ("deposit_under_protest", String::new()),
        CreditKind::Adjustment { adjustment_no } => ("adjustment", adjustment_no.to_string()),
    };
    StatementCredit {
        kind,
        reference,
        on: line.on,
        amount: line.amount,
    }
}

fn sms_line<E: std::error::Error + Send + Sync + 'static>(
    message: &SmsMessage,
    sms_text: &dyn Fn(&SmsMessage) -> Result<String, E>,
) -> Result<StatementSms, StatementError> {
    let text = sms_text(message).map_err(|e| StatementError::SmsText(Box::new(e)))?;
    let (encoding, parts) = encoding_and_parts(&text);
    Ok(StatementSms {
        message_id: message.message_id.to_string(),
        template: message.template.to_string(),
        queued_on: message.queued_on,
        status: sms_status(message),
        encoding: encoding.as_str(),
        parts,
        text,
        attempts: message.attempts,
        detail: message.last_detail.clone(),
        delivery: crate::lists::sms_delivery(message).map_or("", SmsDelivery::as_str),
        delivery_reason: message
            .delivery
            .as_ref()
            .map(|d| d.reason.clone())
            .unwrap_or_default(),
    })
}

/// One consumer's statement as of `date`; `sms_text` reads a queued message's text (kept in
/// the log, not in the world).
pub fn statement<E: std::error::Error + Send + Sync + 'static>(
    world: &World,
    sms_text: &dyn Fn(&SmsMessage) -> Result<String, E>,
    policy: &Policy,
    account_no: &str,
    date: NaiveDate,
) -> Result<Statement, StatementError> {
    let consumer = world
        .consumer(account_no)
        .ok_or_else(|| StatementError::UnknownAccount(account_no.to_string()))?;
    let (ledger, ladder) = assess(&consumer, date, policy);
    let row = row_from(world, &consumer, date, &ledger, &ladder);
    let reversed_payments = consumer
        .payments
        .iter()
        .filter(|p| p.reversed_on.is_some_and(|r| r <= date))
        .map(|p| ReversedPayment {
            receipt_no: p.receipt_no.to_string(),
            amount: p.amount,
            paid_on: p.paid_on,
            reversed_on: p.reversed_on,
        })
        .collect();
    let notices = consumer
        .cases
        .iter()
        .filter(|c| c.issued_on <= date)
        .map(|c| StatementNotice {
            notice_no: c.notice_no.to_string(),
            issued_on: c.issued_on,
            arrears_at_issue: c.overdue_arrears_at_issue,
            served_on: c.served_on,
            mode: c.mode.map(|m| m.to_string()),
            closed_on: c.closed_on,
            close_reason: c.close_reason.map(|r| r.to_string()),
        })
        .collect();
    let sms = consumer
        .sms
        .iter()
        .map(|m| sms_line(m, sms_text))
        .collect::<Result<_, _>>()?;
    Ok(Statement {
        row,
        as_of: date,
        language: consumer.language.as_str(),
        connected_on: consumer.connected_on,
        total_charges: ledger.total_charges,
        total_credits: ledger.total_credits,
        outstanding: ledger.outstanding(),
        advance: ledger.advance(),
        holds: ladder.holds.iter().map(|h| h.as_str()).collect(),
        worklist: ladder.worklist.map(|w| w.as_str()),
        charges: ledger
            .charges
            .iter()
            .map(|c| charge_line(c, date))
            .collect(),
        credits: ledger.credits.iter().map(credit_line).collect(),
        reversed_payments,
        notices,
        sms,
    })
}
