//! A consumer's history as the world keeps it in memory: one byte string per consumer, a
//! record appended for each event about the consumer, read back into a [`Consumer`] when one
//! is needed.
//!
//! A utility of 2.75 million consumers holds some 60 charges and credits per consumer after a
//! year; as structs (a 24-byte text, dates, amount and position each) that was 2.3 KiB per
//! consumer and most of the engine's memory. As records it is about a third of that:
//!
//! - numbers are LEB128 varints; amounts and dates signed (zigzag), dates as days from the
//!   consumer's connection date, a due date as days from its issue date;
//! - log positions are counted from the consumer's registration;
//! - a text that contains the account number (`B202504UK0001234`, `N-UK0001234-001`) stores
//!   only what is around it;
//! - vocabularies are one byte (their place in `ALL`).
//!
//! A record holds one [`Change`]: what the event said, not what it did (a revision names its
//! bill, a reversal its receipt). This module only encodes and decodes records; [`replay`]
//! decodes them and applies each with [`Consumer::apply`], the one place a consumer's state
//! changes. So the decoded consumer is a pure function of the consumer's events, and
//! appending never needs to read the journal.
//!
//! The encoding is the engine's own and private to a running process and its checkpoints: a
//! change of it is a change of the checkpoint's layout (its key names the layout), and the
//! log, which does not use it, rebuilds the journals.

use crate::aggregate::Change;
use crate::event::{ConsumerRegistered, Event};
use crate::money::Money;
use crate::state::{
    Adjustment, Bill, BillMonth, ConnectionChange, ConnectionEvent, Consumer, Dispute,
    MobileRegistration, Payment, Plan, Revision, SmsDelivery, SmsMessage, Text,
};
use crate::types::*;
use chrono::{Datelike, NaiveDate};

/// What every record of one consumer's journal is relative to.
#[derive(Clone, Copy, Debug)]
pub struct Base<'a> {
    pub account_no: &'a str,
    /// Log position of the registration.
    pub position: u64,
    pub connected_on: NaiveDate,
}

/// A journal that does not read back: bytes this process did not write.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a consumer's journal does not decode at byte {at}: {what}")]
pub struct JournalError {
    pub at: usize,
    pub what: &'static str,
}

mod tag {
    pub const REGISTERED: u8 = 0;
    pub const MOBILE: u8 = 1;
    pub const BILL: u8 = 2;
    pub const BILL_REVISED: u8 = 3;
    pub const PAYMENT: u8 = 4;
    pub const PAYMENT_REVERSED: u8 = 5;
    pub const ADJUSTMENT: u8 = 6;
    pub const SURCHARGE: u8 = 7;
    pub const NOTICE: u8 = 8;
    pub const NOTICE_SERVED: u8 = 9;
    pub const CASE_CLOSED: u8 = 10;
    pub const DISCONNECTED: u8 = 11;
    pub const RECONNECTED: u8 = 12;
    pub const PERMANENTLY_DISCONNECTED: u8 = 13;
    pub const RECOVERY_CERTIFICATE: u8 = 14;
    pub const DISPUTE: u8 = 15;
    pub const DISPUTE_RESOLVED: u8 = 16;
    pub const PLAN: u8 = 17;
    pub const PLAN_BROKEN: u8 = 18;
    pub const SMS_QUEUED: u8 = 19;
    pub const SMS_ATTEMPTED: u8 = 20;
    /// A registration with a postal address: `REGISTERED`'s fields, then the address.
    pub const REGISTERED_WITH_ADDRESS: u8 = 21;
    pub const SMS_REJECTED: u8 = 22;
    pub const SMS_DELIVERY: u8 = 23;
    /// An officer's ladder action voided: the action, then its date.
    pub const VOIDED: u8 = 24;
}

/// In an encoded text: the account number.
const ACCOUNT: u8 = 0xFE;
/// In an encoded text: a run of digits, its value as a varint follows.
const DIGITS: u8 = 0xFF;
/// Shortest run of digits worth encoding as a number.
const DIGITS_MIN: usize = 4;
/// Longest: 19 digits always fit in 64 bits.
const DIGITS_MAX: usize = 19;

/// Where `needle` first occurs in `haystack` (not when empty). Texts are short, so a plain
/// scan beats setting up a string searcher.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (first, rest) = needle.split_first()?;
    let last_start = haystack.len().checked_sub(needle.len())?;
    (0..=last_start).find(|&i| haystack[i] == *first && haystack[i + 1..i + needle.len()] == *rest)
}

fn push_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Writes one record into `out` (cleared first).
struct Writer<'a> {
    out: &'a mut Vec<u8>,
    base: Base<'a>,
}

impl Writer<'_> {
    fn byte(&mut self, b: u8) {
        self.out.push(b);
    }

    fn varint(&mut self, n: u64) {
        push_varint(self.out, n);
    }

    fn signed(&mut self, n: i64) {
        self.varint(((n << 1) ^ (n >> 63)) as u64);
    }

    fn position(&mut self, position: u64) {
        self.varint(position.saturating_sub(self.base.position));
    }

    fn date(&mut self, date: NaiveDate) {
        self.signed((date - self.base.connected_on).num_days());
    }

    fn money(&mut self, amount: Money) {
        self.signed(amount.paise());
    }

    /// A flag byte, 1 then the text when there is one, else 0.
    fn optional_text(&mut self, text: Option<&str>) {
        match text {
            Some(text) => {
                self.byte(1);
                self.text(text);
            }
            None => self.byte(0),
        }
    }

    /// A text: its encoded length, then its bytes with the account number (its first
    /// occurrence) as [`ACCOUNT`] and each run of 4 to 19 digits not starting with 0 as
    /// [`DIGITS`] and the run's value. Neither byte occurs in UTF-8.
    fn text(&mut self, text: &str) {
        let account = self.base.account_no;
        // The length goes first; one byte holds it for a text of up to 127 encoded bytes,
        // a longer one moves its bytes up to make room.
        let length_at = self.out.len();
        self.out.push(0);
        let encoded = &mut *self.out;
        let bytes = text.as_bytes();
        let account_at = find(bytes, account.as_bytes());
        let mut i = 0;
        while i < bytes.len() {
            if account_at == Some(i) {
                encoded.push(ACCOUNT);
                i += account.len();
                continue;
            }
            let run_end = if bytes[i].is_ascii_digit() && bytes[i] != b'0' {
                let limit = account_at
                    .filter(|at| *at > i)
                    .unwrap_or(bytes.len())
                    .min(i + DIGITS_MAX);
                (i..limit)
                    .find(|j| !bytes[*j].is_ascii_digit())
                    .unwrap_or(limit)
            } else {
                i
            };
            if run_end - i >= DIGITS_MIN {
                let value = bytes[i..run_end]
                    .iter()
                    .fold(0u64, |n, b| n * 10 + u64::from(b - b'0'));
                encoded.push(DIGITS);
                push_varint(encoded, value);
                i = run_end;
            } else {
                encoded.push(bytes[i]);
                i += 1;
            }
        }
        let len = self.out.len() - length_at - 1;
        if len < 0x80 {
            self.out[length_at] = len as u8;
        } else {
            let mut prefix = Vec::with_capacity(3);
            push_varint(&mut prefix, len as u64);
            self.out.splice(length_at..=length_at, prefix);
        }
    }
}

/// Encodes the record an event about a consumer adds to its journal, into `out` (cleared
/// first); leaves `out` empty for an event that does not change a consumer's history.
/// `position` is the event's log position.
pub fn encode(base: Base<'_>, position: u64, event: &Event, out: &mut Vec<u8>) {
    out.clear();
    let mut w = Writer { out, base };
    match event {
        Event::ConsumerRegistered(e) => encode_registration(&mut w, e),
        Event::MobileRegistered(e) => {
            w.byte(tag::MOBILE);
            w.date(e.registered_on);
            w.text(&e.mobile);
            w.byte(e.source.index());
        }
        Event::BillIssued(e) => {
            w.byte(tag::BILL);
            w.position(position);
            w.text(&e.bill_no);
            w.date(e.issued_on);
            w.signed((e.due_on - e.issued_on).num_days());
            // The period as months from the month of issue: usually 0 or -1.
            w.signed(i64::from(BillMonth::of_bill(&e.period).months()) - months(e.issued_on));
            w.money(e.amount);
        }
        Event::BillRevised(e) => {
            w.byte(tag::BILL_REVISED);
            w.text(&e.bill_no);
            w.date(e.revised_on);
            w.money(e.new_amount);
        }
        Event::PaymentReceived(e) => {
            w.byte(tag::PAYMENT);
            w.position(position);
            w.text(&e.receipt_no);
            w.money(e.amount);
            w.date(e.paid_on);
            w.byte(e.channel.index());
        }
        Event::PaymentReversed(e) => {
            w.byte(tag::PAYMENT_REVERSED);
            w.text(&e.receipt_no);
            w.date(e.reversed_on);
        }
        Event::AdjustmentPosted(e) => {
            w.byte(tag::ADJUSTMENT);
            w.position(position);
            w.text(&e.adjustment_no);
            w.date(e.posted_on);
            w.money(e.amount);
            w.text(&e.reason);
        }
        Event::SurchargeLevied(e) => {
            w.byte(tag::SURCHARGE);
            w.position(position);
            w.text(&e.bill_no);
            w.varint(u64::from(e.anniversary));
            w.date(e.levied_on);
            w.money(e.amount);
        }
        _ => encode_ladder(&mut w, position, event),
    }
}

fn encode_registration(w: &mut Writer<'_>, e: &ConsumerRegistered) {
    w.byte(match e.address {
        None => tag::REGISTERED,
        Some(_) => tag::REGISTERED_WITH_ADDRESS,
    });
    w.text(&e.name);
    w.signed(e.load_watts);
    w.byte(e.language.index());
    w.optional_text(e.mobile.as_deref());
    if let Some(address) = &e.address {
        w.text(address);
    }
}

/// Records of notices, the connection, disputes and plans.
fn encode_ladder(w: &mut Writer<'_>, position: u64, event: &Event) {
    match event {
        Event::NoticeIssued(e) => {
            w.byte(tag::NOTICE);
            w.text(&e.notice_no);
            w.date(e.issued_on);
            w.money(e.overdue_arrears);
        }
        Event::NoticeServed(e) => {
            w.byte(tag::NOTICE_SERVED);
            w.text(&e.notice_no);
            w.date(e.served_on);
            w.byte(e.mode.index());
        }
        Event::CaseClosed(e) => {
            w.byte(tag::CASE_CLOSED);
            w.text(&e.notice_no);
            w.date(e.closed_on);
            w.byte(e.reason.index());
        }
        Event::Disconnected(e) => {
            w.byte(tag::DISCONNECTED);
            w.position(position);
            w.date(e.on);
            w.text(&e.order_no);
        }
        Event::Reconnected(e) => {
            w.byte(tag::RECONNECTED);
            w.position(position);
            w.date(e.on);
        }
        Event::PermanentlyDisconnected(e) => {
            w.byte(tag::PERMANENTLY_DISCONNECTED);
            w.position(position);
            w.date(e.on);
        }
        Event::RecoveryCertificateIssued(e) => {
            w.byte(tag::RECOVERY_CERTIFICATE);
            w.position(position);
            w.date(e.on);
            w.text(&e.rc_no);
        }
        Event::DisputeRaised(e) => {
            w.byte(tag::DISPUTE);
            w.date(e.on);
            w.money(e.deposit);
            w.optional_text(e.bill_no.as_deref());
        }
        Event::DisputeResolved(e) => {
            w.byte(tag::DISPUTE_RESOLVED);
            w.date(e.on);
        }
        Event::InstallmentPlanGranted(e) => {
            w.byte(tag::PLAN);
            w.text(&e.plan_id);
            w.date(e.granted_on);
            w.varint(e.installments.len() as u64);
            for installment in &e.installments {
                w.date(installment.due_on);
                w.money(installment.amount);
            }
        }
        Event::InstallmentPlanBroken(e) => {
            w.byte(tag::PLAN_BROKEN);
            w.text(&e.plan_id);
            w.date(e.on);
        }
        _ => encode_sms(w, position, event),
    }
}

/// Records of SMS messages and of corrections; nothing for an event that is not about a
/// consumer's history.
fn encode_sms(w: &mut Writer<'_>, position: u64, event: &Event) {
    match event {
        Event::SmsQueued(e) => {
            w.byte(tag::SMS_QUEUED);
            w.position(position);
            w.text(&e.message_id);
            w.text(&e.mobile);
            w.text(&e.template);
            w.text(&e.dlt_template_id);
            w.byte(e.language.index());
            // The text stays in the log (see `SmsMessage::position`).
            w.date(e.queued_on);
        }
        Event::SmsAttempted(e) => {
            w.byte(tag::SMS_ATTEMPTED);
            w.text(&e.message_id);
            w.varint(u64::from(e.attempt));
            w.byte(e.outcome.index());
            w.text(&e.detail);
        }
        Event::SmsRejected(e) => {
            w.byte(tag::SMS_REJECTED);
            w.text(&e.message_id);
            w.text(&e.reason);
        }
        Event::SmsDeliveryReported(e) => {
            w.byte(tag::SMS_DELIVERY);
            w.text(&e.message_id);
            w.byte(u8::from(e.delivered));
            w.text(&e.reason);
        }
        Event::ActionVoided(e) => {
            w.byte(tag::VOIDED);
            w.byte(e.action.index());
            w.date(e.action_on);
        }
        _ => {}
    }
}

/// The date `days` after the day numbered `day` (from the common era), if there is one.
fn day_after(day: i32, days: i64) -> Option<NaiveDate> {
    let day = i32::try_from(i64::from(day).checked_add(days)?).ok()?;
    NaiveDate::from_num_days_from_ce_opt(day)
}

/// Appends a number's decimal digits.
fn push_decimal(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// A date's month counted from year 0 (`year × 12 + month − 1`).
fn months(date: NaiveDate) -> i64 {
    i64::from(date.year()) * 12 + i64::from(date.month0())
}

/// Reads records back.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    base: Base<'a>,
    /// The connection date as a day number, which dates count from.
    base_day: i32,
    /// Where a text is put back together.
    scratch: Vec<u8>,
}

type Read<T> = Result<T, JournalError>;

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], base: Base<'a>) -> Reader<'a> {
        Reader {
            bytes,
            at: 0,
            base,
            base_day: base.connected_on.num_days_from_ce(),
            scratch: Vec::new(),
        }
    }

    fn fail<T>(&self, what: &'static str) -> Read<T> {
        Err(JournalError { at: self.at, what })
    }

    fn byte(&mut self) -> Read<u8> {
        match self.bytes.get(self.at) {
            Some(b) => {
                self.at += 1;
                Ok(*b)
            }
            None => self.fail("ends inside a record"),
        }
    }

    fn varint(&mut self) -> Read<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        self.fail("a number longer than 64 bits")
    }

    fn signed(&mut self) -> Read<i64> {
        let n = self.varint()?;
        Ok(((n >> 1) as i64) ^ -((n & 1) as i64))
    }

    fn u32(&mut self) -> Read<u32> {
        let n = self.varint()?;
        u32::try_from(n).or_else(|_| self.fail("a count beyond 32 bits"))
    }

    fn position(&mut self) -> Read<u64> {
        let offset = self.varint()?;
        self.base
            .position
            .checked_add(offset)
            .map_or_else(|| self.fail("a position beyond the log"), Ok)
    }

    fn date(&mut self) -> Read<NaiveDate> {
        let days = self.signed()?;
        day_after(self.base_day, days).map_or_else(|| self.fail("a date out of range"), Ok)
    }

    fn due(&mut self, issued_on: NaiveDate) -> Read<NaiveDate> {
        let days = self.signed()?;
        day_after(issued_on.num_days_from_ce(), days)
            .map_or_else(|| self.fail("a due date out of range"), Ok)
    }

    fn money(&mut self) -> Read<Money> {
        Ok(Money::from_paise(self.signed()?))
    }

    fn slice(&mut self, len: u64) -> Read<&'a [u8]> {
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| self.at.checked_add(len))
            .filter(|end| *end <= self.bytes.len());
        match end {
            Some(end) => {
                let slice = &self.bytes[self.at..end];
                self.at = end;
                Ok(slice)
            }
            None => self.fail("a text runs past the end"),
        }
    }

    fn text(&mut self) -> Read<Text> {
        let len = self.varint()?;
        let start = self.at;
        let encoded = self.slice(len)?;
        let not_utf8 = |_| JournalError {
            at: start,
            what: "a text that is not UTF-8",
        };
        if !encoded.iter().any(|b| *b == ACCOUNT || *b == DIGITS) {
            return Text::from_utf8(encoded).map_err(not_utf8);
        }
        let mut text = std::mem::take(&mut self.scratch);
        text.clear();
        let mut i = 0;
        while i < encoded.len() {
            match encoded[i] {
                ACCOUNT => {
                    text.extend_from_slice(self.base.account_no.as_bytes());
                    i += 1;
                }
                DIGITS => {
                    let mut digits = Reader::new(encoded, self.base);
                    digits.at = i + 1;
                    let value = digits.varint().map_err(|e| JournalError {
                        at: start + e.at,
                        what: e.what,
                    })?;
                    push_decimal(&mut text, value);
                    i = digits.at;
                }
                b => {
                    text.push(b);
                    i += 1;
                }
            }
        }
        let decoded = Text::from_utf8(&text).map_err(not_utf8);
        self.scratch = text;
        decoded
    }

    fn vocabulary<T>(&mut self, from_index: fn(u8) -> Option<T>) -> Read<T> {
        let index = self.byte()?;
        from_index(index).map_or_else(|| self.fail("an unknown vocabulary word"), Ok)
    }

    /// What [`Writer::optional_text`] wrote.
    fn optional_text(&mut self) -> Read<Option<Text>> {
        match self.byte()? {
            0 => Ok(None),
            1 => self.text().map(Some),
            _ => self.fail("a flag that is neither 0 nor 1"),
        }
    }
}

/// Reads a journal into `consumer` (whose registration fields are already set): decodes each
/// record and applies its change with [`Consumer::apply`], in order. Returns how many records
/// the journal holds.
pub fn replay(
    base: Base<'_>,
    journal: &[u8],
    consumer: &mut Consumer,
) -> Result<usize, JournalError> {
    let mut records = Records::new(base, journal);
    let mut count = 0;
    while let Some(change) = records.next_change()? {
        consumer.apply(change);
        count += 1;
    }
    // Every record read advances, and reading stops at the end: the journal was read whole.
    assert_eq!(
        records.reader.at,
        journal.len(),
        "a journal reads to its end"
    );
    Ok(count)
}

/// A journal's records, decoded one by one.
struct Records<'a> {
    reader: Reader<'a>,
    /// The log position of the latest record that holds one: positions strictly increase,
    /// records being appended in log order.
    last_position: Option<u64>,
}

impl<'a> Records<'a> {
    fn new(base: Base<'a>, journal: &'a [u8]) -> Records<'a> {
        Records {
            reader: Reader::new(journal, base),
            last_position: None,
        }
    }

    /// The next record's change, `None` at the end of the journal.
    fn next_change(&mut self) -> Read<Option<Change>> {
        if self.reader.at >= self.reader.bytes.len() {
            return Ok(None);
        }
        let start = self.reader.at;
        let change = decode_record(&mut self.reader)?;
        assert!(self.reader.at > start, "a record is at least its tag");
        if let Some(position) = position_of(&change) {
            if self.last_position.is_some_and(|last| position <= last) {
                return Err(JournalError {
                    at: start,
                    what: "a position not after the record before",
                });
            }
            self.last_position = Some(position);
        }
        Ok(Some(change))
    }
}

/// The log position a change records, for those that record one.
fn position_of(change: &Change) -> Option<u64> {
    match change {
        Change::Bill(b) => Some(b.position),
        Change::Payment(p) => Some(p.position),
        Change::Adjustment(a) => Some(a.position),
        Change::Surcharge { position, .. } => Some(*position),
        Change::Connection(c) => Some(c.position),
        Change::SmsQueued(m) => Some(m.position),
        _ => None,
    }
}

/// Calls `each` with the kind and length of every record of a journal, in order (for
/// measuring what the history costs).
pub fn record_sizes(
    base: Base<'_>,
    journal: &[u8],
    mut each: impl FnMut(&'static str, usize),
) -> Result<(), JournalError> {
    let mut records = Records::new(base, journal);
    loop {
        let start = records.reader.at;
        if records.next_change()?.is_none() {
            return Ok(());
        }
        let kind = KINDS
            .get(usize::from(journal[start]))
            .copied()
            .unwrap_or("?");
        each(kind, records.reader.at - start);
    }
}

/// The records' kinds by tag.
const KINDS: [&str; 25] = [
    "registration",
    "mobile",
    "bill",
    "bill revised",
    "payment",
    "payment reversed",
    "adjustment",
    "surcharge",
    "notice",
    "notice served",
    "case closed",
    "disconnected",
    "reconnected",
    "permanently disconnected",
    "recovery certificate",
    "dispute",
    "dispute resolved",
    "plan",
    "plan broken",
    "sms queued",
    "sms attempted",
    "registration",
    "sms rejected",
    "sms delivery",
    "action voided",
];

/// Checks that a journal reads back whole.
pub fn check(base: Base<'_>, journal: &[u8]) -> Result<(), JournalError> {
    let mut records = Records::new(base, journal);
    while records.next_change()?.is_some() {}
    Ok(())
}

/// Decodes one record: the change it holds.
fn decode_record(r: &mut Reader<'_>) -> Read<Change> {
    let tag = r.byte()?;
    match tag {
        tag::REGISTERED | tag::REGISTERED_WITH_ADDRESS => Ok(Change::Registered {
            name: r.text()?,
            load_watts: r.signed()?,
            language: r.vocabulary(Language::from_index)?,
            mobile: r.optional_text()?,
            address: match tag {
                tag::REGISTERED_WITH_ADDRESS => Some(r.text()?),
                _ => None,
            },
        }),
        tag::MOBILE => Ok(Change::Mobile(MobileRegistration {
            registered_on: r.date()?,
            mobile: r.text()?,
            source: Some(r.vocabulary(MobileSource::from_index)?),
        })),
        tag::BILL => decode_bill(r),
        tag::BILL_REVISED => Ok(Change::BillRevised {
            bill_no: r.text()?,
            revision: Revision {
                revised_on: r.date()?,
                new_amount: r.money()?,
            },
        }),
        tag::PAYMENT => Ok(Change::Payment(Payment {
            position: r.position()?,
            receipt_no: r.text()?,
            amount: r.money()?,
            paid_on: r.date()?,
            channel: r.vocabulary(Channel::from_index)?,
            reversed_on: None,
        })),
        tag::PAYMENT_REVERSED => Ok(Change::PaymentReversed {
            receipt_no: r.text()?,
            reversed_on: r.date()?,
        }),
        tag::ADJUSTMENT => Ok(Change::Adjustment(Adjustment {
            position: r.position()?,
            adjustment_no: r.text()?,
            posted_on: r.date()?,
            amount: r.money()?,
            reason: r.text()?.into_string(),
        })),
        tag::SURCHARGE => Ok(Change::Surcharge {
            position: r.position()?,
            bill_no: r.text()?,
            anniversary: r.u32()?,
            levied_on: r.date()?,
            amount: r.money()?,
        }),
        tag::NOTICE..=tag::PLAN_BROKEN => decode_ladder(r, tag),
        _ => decode_sms(r, tag),
    }
}

fn decode_bill(r: &mut Reader<'_>) -> Read<Change> {
    let position = r.position()?;
    let bill_no = r.text()?;
    let issued_on = r.date()?;
    let due_on = r.due(issued_on)?;
    let period = r.signed()?.checked_add(months(issued_on));
    let period = period.and_then(|m| i32::try_from(m).ok()).map_or_else(
        || r.fail("a period out of range"),
        |m| Ok(BillMonth::from_months(m)),
    )?;
    Ok(Change::Bill(Bill {
        bill_no,
        period,
        issued_on,
        due_on,
        amount: r.money()?,
        revisions: Default::default(),
        position,
    }))
}

/// Decodes the rest of a record about notices, the connection, disputes or plans.
fn decode_ladder(r: &mut Reader<'_>, tag: u8) -> Read<Change> {
    let connection = |r: &mut Reader<'_>, change: fn(&mut Reader<'_>) -> Read<ConnectionChange>| {
        let position = r.position()?;
        let on = r.date()?;
        Ok(Change::Connection(ConnectionEvent {
            on,
            change: change(r)?,
            position,
        }))
    };
    Ok(match tag {
        tag::NOTICE => Change::Notice {
            notice_no: r.text()?,
            issued_on: r.date()?,
            overdue_arrears: r.money()?,
        },
        tag::NOTICE_SERVED => Change::NoticeServed {
            notice_no: r.text()?,
            served_on: r.date()?,
            mode: r.vocabulary(NoticeMode::from_index)?,
        },
        tag::CASE_CLOSED => Change::CaseClosed {
            notice_no: r.text()?,
            closed_on: r.date()?,
            reason: r.vocabulary(CaseCloseReason::from_index)?,
        },
        tag::DISCONNECTED => connection(r, |r| {
            Ok(ConnectionChange::Disconnected {
                order_no: r.text()?,
            })
        })?,
        tag::RECONNECTED => connection(r, |_| Ok(ConnectionChange::Reconnected))?,
        tag::PERMANENTLY_DISCONNECTED => {
            connection(r, |_| Ok(ConnectionChange::PermanentlyDisconnected))?
        }
        tag::RECOVERY_CERTIFICATE => connection(r, |r| {
            Ok(ConnectionChange::RecoveryCertificate { rc_no: r.text()? })
        })?,
        tag::DISPUTE => Change::Dispute(Dispute {
            on: r.date()?,
            deposit: r.money()?,
            bill_no: r.optional_text()?,
            resolved_on: None,
        }),
        tag::DISPUTE_RESOLVED => Change::DisputeResolved { on: r.date()? },
        tag::PLAN => decode_plan(r)?,
        _ => Change::PlanBroken {
            plan_id: r.text()?,
            on: r.date()?,
        },
    })
}

fn decode_plan(r: &mut Reader<'_>) -> Read<Change> {
    let plan_id = r.text()?;
    let granted_on = r.date()?;
    let count = r.u32()?;
    let mut installments = Vec::new();
    for _ in 0..count {
        let due_on = r.date()?;
        let amount = r.money()?;
        installments.push(crate::event::Installment { due_on, amount });
    }
    Ok(Change::Plan(Plan {
        plan_id,
        granted_on,
        installments,
        broken_on: None,
    }))
}

/// Decodes the rest of a record about an SMS message or a correction; an unknown tag is an
/// error.
fn decode_sms(r: &mut Reader<'_>, tag: u8) -> Read<Change> {
    Ok(match tag {
        tag::SMS_QUEUED => Change::SmsQueued(SmsMessage {
            position: r.position()?,
            message_id: r.text()?,
            mobile: r.text()?,
            template: r.text()?,
            dlt_template_id: r.text()?,
            language: r.vocabulary(Language::from_index)?,
            queued_on: r.date()?,
            attempts: 0,
            last_outcome: None,
            last_detail: String::new(),
            rejected: false,
            delivery: None,
        }),
        tag::SMS_ATTEMPTED => Change::SmsAttempted {
            message_id: r.text()?,
            attempt: r.u32()?,
            outcome: r.vocabulary(SmsOutcome::from_index)?,
            detail: r.text()?.into_string(),
        },
        tag::SMS_REJECTED => Change::SmsRejected {
            message_id: r.text()?,
            reason: r.text()?.into_string(),
        },
        tag::SMS_DELIVERY => Change::SmsDelivery {
            message_id: r.text()?,
            delivery: SmsDelivery {
                delivered: match r.byte()? {
                    0 => false,
                    1 => true,
                    _ => return r.fail("a delivery flag other than 0 or 1"),
                },
                reason: r.text()?.into_string(),
            },
        },
        tag::VOIDED => Change::Voided {
            action: r.vocabulary(LadderAction::from_index)?,
            action_on: r.date()?,
        },
        _ => {
            r.at -= 1;
            return r.fail("an unknown record");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::*;
    use crate::state::World;
    use proptest::prelude::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a date")
    }

    fn base(account_no: &str) -> Base<'_> {
        Base {
            account_no,
            position: 1_000,
            connected_on: day("2020-06-15"),
        }
    }

    /// A text written as a bill number and read back.
    fn round_trip_text(account_no: &str, text: &str) -> (String, usize) {
        let mut out = Vec::new();
        let mut w = Writer {
            out: &mut out,
            base: base(account_no),
        };
        w.text(text);
        let len = out.len();
        let mut r = Reader::new(&out, base(account_no));
        let back = r.text().expect("reads back").to_string();
        assert_eq!(r.at, len, "reads exactly what was written");
        (back, len)
    }

    #[test]
    fn texts_read_back_exactly() {
        let account = "UK0012345";
        for text in [
            "",
            "0",
            "B202504UK0012345",
            "R202504UK0012345-1",
            "N-UK0012345-001",
            "UK0012345",
            "UK0012345UK0012345",
            "xUK001234",
            "9876543210",
            "0009876543210",
            "123",
            "1234",
            "9999999999999999999",
            "99999999999999999999",
            "18446744073709551615",
            "12345678901234567890123",
            "1000UK00123452000",
            "बिल ₹1234.50 देय 2026-03-31",
        ] {
            assert_eq!(round_trip_text(account, text).0, text, "{text}");
        }
        // An account number made of digits, inside a run of digits.
        for text in ["20251234", "1234", "912345", "12341234"] {
            assert_eq!(round_trip_text("1234", text).0, text, "{text}");
        }
        assert_eq!(round_trip_text("", "B2025").0, "B2025");
        // Longer than a one-byte length holds.
        let long = format!("{}{account}{}", "बकाया ".repeat(20), "7".repeat(300));
        let (back, len) = round_trip_text(account, &long);
        assert_eq!(back, long);
        assert!(len > 0x80 + 2, "{len}");
    }

    #[test]
    fn the_account_number_and_long_numbers_take_a_few_bytes() {
        let account = "UK0012345";
        // Length, `B`, the month as a number (1 + 3 bytes), the account (1).
        assert_eq!(round_trip_text(account, "B202504UK0012345").1, 7);
        // A mobile number: length, marker and a 5-byte varint.
        assert_eq!(round_trip_text(account, "9876543210").1, 7);
        // Short runs and runs with a leading zero stay as they are.
        assert_eq!(round_trip_text(account, "N-001").1, 6);
    }

    proptest! {
        #[test]
        fn any_text_reads_back(
            account in "[A-Z0-9]{0,8}",
            parts in prop::collection::vec(
                prop_oneof![
                    "[0-9]{1,25}",
                    "[a-zA-Z \\-/]{1,6}",
                    "\\PC{1,4}",
                    Just("<account>".to_string()),
                ],
                0..8,
            ),
        ) {
            let text: String = parts
                .iter()
                .map(|p| if p == "<account>" { account.as_str() } else { p.as_str() })
                .collect();
            prop_assert_eq!(round_trip_text(&account, &text).0, text);
        }

        #[test]
        fn numbers_and_dates_read_back(n in any::<i64>(), days in -40_000i64..40_000) {
            let mut out = Vec::new();
            let mut w = Writer { out: &mut out, base: base("A") };
            w.signed(n);
            w.varint(n as u64);
            let date = day("2020-06-15") + chrono::Duration::days(days);
            w.date(date);
            let mut r = Reader::new(&out, base("A"));
            prop_assert_eq!(r.signed().unwrap(), n);
            prop_assert_eq!(r.varint().unwrap(), n as u64);
            prop_assert_eq!(r.date().unwrap(), date);
            prop_assert_eq!(r.at, out.len());
        }
    }

    /// One event of every kind the journal keeps, applied to a world and read back field by
    /// field.
    #[test]
    fn every_kind_of_event_reads_back_as_it_was_applied() {
        let a = "UK0012345".to_string();
        let mut world = World::default();
        let events = vec![
            Event::ConsumerRegistered(ConsumerRegistered {
                account_no: a.clone(),
                name: "राम प्रसाद (Ram Prasad), a name longer than 24 bytes".into(),
                category: Category::Agriculture,
                subdivision: "S-17".into(),
                load_watts: 7_460,
                connected_on: day("2020-06-15"),
                mobile: Some("9876500001".into()),
                language: Language::En,
                address: None,
            }),
            Event::BillIssued(BillIssued {
                bill_no: format!("B202001{a}"),
                account_no: a.clone(),
                // A period before the connection, and a due date before the issue date.
                period: "2019-12".into(),
                issued_on: day("2020-01-03"),
                due_on: day("2019-12-31"),
                amount: Money::from_paise(123_456),
            }),
            Event::BillIssued(BillIssued {
                bill_no: "LEGACY/7".into(),
                account_no: a.clone(),
                period: "July".into(),
                issued_on: day("2026-07-01"),
                due_on: day("2026-07-31"),
                amount: Money::from_paise(-5),
            }),
            Event::BillRevised(BillRevised {
                bill_no: format!("B202001{a}"),
                account_no: a.clone(),
                revised_on: day("2026-02-01"),
                new_amount: Money::from_paise(100_000),
                reason: "meter".into(),
            }),
            Event::BillRevised(BillRevised {
                bill_no: "NO-SUCH-BILL".into(),
                account_no: a.clone(),
                revised_on: day("2026-02-01"),
                new_amount: Money::from_paise(1),
                reason: "ignored".into(),
            }),
            Event::PaymentReceived(PaymentReceived {
                receipt_no: format!("R202602{a}-1"),
                account_no: a.clone(),
                amount: Money::from_paise(50_000),
                paid_on: day("2026-02-10"),
                channel: Channel::Upi,
            }),
            Event::PaymentReversed(PaymentReversed {
                receipt_no: format!("R202602{a}-1"),
                account_no: a.clone(),
                reversed_on: day("2026-02-20"),
                reason: "bounced".into(),
            }),
            Event::AdjustmentPosted(AdjustmentPosted {
                adjustment_no: "ADJ-1".into(),
                account_no: a.clone(),
                posted_on: day("2026-03-01"),
                amount: Money::from_paise(-2_500),
                reason: "rebate".into(),
            }),
            Event::SurchargeLevied(SurchargeLevied {
                account_no: a.clone(),
                bill_no: format!("B202001{a}"),
                anniversary: 3,
                levied_on: day("2020-03-31"),
                amount: Money::from_paise(1_543),
            }),
            Event::SurchargeLevied(SurchargeLevied {
                account_no: a.clone(),
                bill_no: "NO-SUCH-BILL".into(),
                anniversary: 1,
                levied_on: day("2020-03-31"),
                amount: Money::from_paise(1),
            }),
            Event::MobileRegistered(MobileRegistered {
                account_no: a.clone(),
                mobile: "9000000009".into(),
                registered_on: day("2026-03-02"),
                source: MobileSource::Camp,
            }),
            Event::NoticeIssued(NoticeIssued {
                notice_no: format!("N-{a}-001"),
                account_no: a.clone(),
                issued_on: day("2026-03-05"),
                overdue_arrears: Money::from_paise(99_999),
                oldest_due_on: day("2019-12-31"),
            }),
            Event::NoticeServed(NoticeServed {
                notice_no: format!("N-{a}-001"),
                account_no: a.clone(),
                served_on: day("2026-03-06"),
                mode: NoticeMode::Affixed,
            }),
            Event::Disconnected(Disconnected {
                account_no: a.clone(),
                on: day("2026-03-25"),
                order_no: "DO-77".into(),
            }),
            Event::Reconnected(Reconnected {
                account_no: a.clone(),
                on: day("2026-03-28"),
            }),
            Event::NoticeIssued(NoticeIssued {
                notice_no: format!("N-{a}-002"),
                account_no: a.clone(),
                issued_on: day("2026-04-05"),
                overdue_arrears: Money::from_paise(10),
                oldest_due_on: day("2026-03-01"),
            }),
            Event::CaseClosed(CaseClosed {
                notice_no: format!("N-{a}-002"),
                account_no: a.clone(),
                closed_on: day("2026-04-06"),
                reason: CaseCloseReason::ArrearsCleared,
                lapsed: true,
            }),
            Event::PermanentlyDisconnected(PermanentlyDisconnected {
                account_no: a.clone(),
                on: day("2026-06-01"),
            }),
            Event::RecoveryCertificateIssued(RecoveryCertificateIssued {
                account_no: a.clone(),
                rc_no: "RC/2026/1".into(),
                on: day("2026-06-02"),
            }),
            Event::DisputeRaised(DisputeRaised {
                account_no: a.clone(),
                on: day("2026-04-10"),
                deposit: Money::from_paise(20_000),
                bill_no: Some(format!("B202001{a}")),
            }),
            Event::DisputeResolved(DisputeResolved {
                account_no: a.clone(),
                on: day("2026-04-20"),
            }),
            Event::DisputeRaised(DisputeRaised {
                account_no: a.clone(),
                on: day("2026-04-21"),
                deposit: Money::ZERO,
                bill_no: None,
            }),
            Event::InstallmentPlanGranted(InstallmentPlanGranted {
                plan_id: "P-1".into(),
                account_no: a.clone(),
                granted_on: day("2026-05-01"),
                installments: vec![
                    Installment {
                        due_on: day("2026-05-15"),
                        amount: Money::from_paise(30_000),
                    },
                    Installment {
                        due_on: day("2026-06-15"),
                        amount: Money::from_paise(30_001),
                    },
                ],
            }),
            Event::InstallmentPlanBroken(InstallmentPlanBroken {
                plan_id: "P-1".into(),
                account_no: a.clone(),
                on: day("2026-07-01"),
            }),
            Event::SmsQueued(SmsQueued {
                message_id: format!("M-{a}-20260701-bill"),
                account_no: a.clone(),
                mobile: "9000000009".into(),
                template: "bill".into(),
                dlt_template_id: "1107160000000012345".into(),
                language: Language::Hi,
                text: "प्रिय उपभोक्ता, खाता UK0012345 पर ₹1234.56 देय 31-07-2026".into(),
                queued_on: day("2026-07-01"),
            }),
            Event::SmsAttempted(SmsAttempted {
                message_id: format!("M-{a}-20260701-bill"),
                account_no: a.clone(),
                attempt: 2,
                outcome: SmsOutcome::TimedOut,
                detail: "gateway timed out after 5000 ms".into(),
                at_ms: 1,
            }),
        ];
        // Positions far apart, as in a large log.
        let mut position = 1_000;
        for event in &events {
            world.apply(position, event);
            position += 3_000_000_007;
        }
        let pos = |i: u64| 1_000 + i * 3_000_000_007;
        let stored = world.stored_consumer(&a).expect("registered");
        stored.check().expect("well formed");
        let c = world.consumer(&a).expect("registered");
        assert_eq!(c.account_no, a);
        assert_eq!(
            c.name,
            "राम प्रसाद (Ram Prasad), a name longer than 24 bytes"
        );
        assert_eq!(c.category, Category::Agriculture);
        assert_eq!(c.subdivision, "S-17");
        assert_eq!(c.load_watts, 7_460);
        assert_eq!(c.connected_on, day("2020-06-15"));
        assert_eq!(c.language, Language::En);
        assert_eq!(c.position, 1_000);
        let mobiles: Vec<_> = c
            .mobiles
            .iter()
            .map(|m| (m.registered_on, m.mobile.to_string(), m.source))
            .collect();
        assert_eq!(
            mobiles,
            vec![
                (day("2020-06-15"), "9876500001".to_string(), None),
                (
                    day("2026-03-02"),
                    "9000000009".to_string(),
                    Some(MobileSource::Camp)
                ),
            ]
        );
        assert_eq!(c.bills.len(), 2);
        let b = &c.bills[0];
        assert_eq!(b.bill_no, format!("B202001{a}"));
        assert_eq!(b.period.to_string(), "2019-12");
        assert_eq!(
            (b.issued_on, b.due_on),
            (day("2020-01-03"), day("2019-12-31"))
        );
        assert_eq!(b.amount, Money::from_paise(123_456));
        assert_eq!(b.position, pos(1));
        assert_eq!(b.revisions.len(), 1);
        assert_eq!(b.revisions[0].revised_on, day("2026-02-01"));
        assert_eq!(b.revisions[0].new_amount, Money::from_paise(100_000));
        let b = &c.bills[1];
        assert_eq!(b.bill_no, "LEGACY/7");
        assert_eq!(b.period.to_string(), "0000-00");
        assert_eq!(b.amount, Money::from_paise(-5));
        assert_eq!(b.position, pos(2));
        assert!(b.revisions.is_empty());
        assert_eq!(c.payments.len(), 1);
        let p = &c.payments[0];
        assert_eq!(p.receipt_no, format!("R202602{a}-1"));
        assert_eq!(
            (p.amount, p.paid_on),
            (Money::from_paise(50_000), day("2026-02-10"))
        );
        assert_eq!(
            (p.channel, p.reversed_on),
            (Channel::Upi, Some(day("2026-02-20")))
        );
        assert_eq!(p.position, pos(5));
        assert_eq!(c.adjustments.len(), 1);
        let adj = &c.adjustments[0];
        assert_eq!(
            (adj.adjustment_no.as_str(), adj.reason.as_str()),
            ("ADJ-1", "rebate")
        );
        assert_eq!(
            (adj.posted_on, adj.amount),
            (day("2026-03-01"), Money::from_paise(-2_500))
        );
        assert_eq!(adj.position, pos(7));
        assert_eq!(
            c.surcharges.len(),
            1,
            "a levy on an unknown bill is not kept"
        );
        let s = &c.surcharges[0];
        assert_eq!(
            (s.bill, s.anniversary, s.levied_on),
            (0, 3, day("2020-03-31"))
        );
        assert_eq!((s.amount, s.position), (Money::from_paise(1_543), pos(8)));
        assert_eq!(c.cases.len(), 2);
        let k = &c.cases[0];
        assert_eq!(k.notice_no, format!("N-{a}-001"));
        assert_eq!(k.issued_on, day("2026-03-05"));
        assert_eq!(k.overdue_arrears_at_issue, Money::from_paise(99_999));
        assert_eq!(
            (k.served_on, k.mode),
            (Some(day("2026-03-06")), Some(NoticeMode::Affixed))
        );
        assert_eq!(
            (k.closed_on, k.close_reason),
            (Some(day("2026-03-28")), Some(CaseCloseReason::Reconnected)),
            "closed by the reconnection"
        );
        let k = &c.cases[1];
        assert_eq!((k.served_on, k.mode), (None, None));
        assert_eq!(
            (k.closed_on, k.close_reason),
            (
                Some(day("2026-04-06")),
                Some(CaseCloseReason::ArrearsCleared)
            )
        );
        let connection: Vec<_> = c
            .connection
            .iter()
            .map(|e| (e.on, e.change.clone(), e.position))
            .collect();
        assert_eq!(
            connection,
            vec![
                (
                    day("2026-03-25"),
                    ConnectionChange::Disconnected {
                        order_no: "DO-77".into()
                    },
                    pos(13)
                ),
                (day("2026-03-28"), ConnectionChange::Reconnected, pos(14)),
                (
                    day("2026-06-01"),
                    ConnectionChange::PermanentlyDisconnected,
                    pos(17)
                ),
                (
                    day("2026-06-02"),
                    ConnectionChange::RecoveryCertificate {
                        rc_no: "RC/2026/1".into()
                    },
                    pos(18)
                ),
            ]
        );
        let disputes: Vec<_> = c
            .disputes
            .iter()
            .map(|d| (d.on, d.deposit, d.bill_no.clone(), d.resolved_on))
            .collect();
        assert_eq!(
            disputes,
            vec![
                (
                    day("2026-04-10"),
                    Money::from_paise(20_000),
                    Some(Text::from(format!("B202001{a}"))),
                    Some(day("2026-04-20"))
                ),
                (day("2026-04-21"), Money::ZERO, None, None),
            ]
        );
        assert_eq!(c.plans.len(), 1);
        let plan = &c.plans[0];
        assert_eq!(
            (plan.plan_id.as_str(), plan.granted_on),
            ("P-1", day("2026-05-01"))
        );
        assert_eq!(plan.installments.len(), 2);
        assert_eq!(plan.installments[1].due_on, day("2026-06-15"));
        assert_eq!(plan.total(), Money::from_paise(60_001));
        assert_eq!(plan.broken_on, Some(day("2026-07-01")));
        assert_eq!(c.sms.len(), 1);
        let m = &c.sms[0];
        assert_eq!(m.message_id, format!("M-{a}-20260701-bill"));
        assert_eq!(
            (m.mobile.as_str(), m.template.as_str()),
            ("9000000009", "bill")
        );
        assert_eq!(m.dlt_template_id, "1107160000000012345");
        assert_eq!(m.language, Language::Hi);
        assert_eq!(m.position, pos(24), "where the text is");
        assert_eq!(m.queued_on, day("2026-07-01"));
        assert_eq!(
            (m.attempts, m.last_outcome),
            (2, Some(SmsOutcome::TimedOut))
        );
        assert_eq!(m.last_detail, "gateway timed out after 5000 ms");
    }

    #[test]
    fn a_damaged_journal_is_an_error_not_a_panic() {
        let mut out = Vec::new();
        let b = base("UK1");
        let bill = Event::BillIssued(BillIssued {
            bill_no: "B202504UK1".into(),
            account_no: "UK1".into(),
            period: "2025-04".into(),
            issued_on: day("2025-04-01"),
            due_on: day("2025-04-30"),
            amount: Money::from_paise(100),
        });
        encode(b, 5_000, &bill, &mut out);
        assert!(check(b, &out).is_ok());
        for cut in 0..out.len() {
            let err = check(b, &out[..cut]);
            assert!(cut == 0 || err.is_err(), "cut at {cut}");
        }
        let mut unknown = out.clone();
        unknown[0] = 200;
        assert_eq!(
            check(b, &unknown),
            Err(JournalError {
                at: 0,
                what: "an unknown record"
            })
        );
        // Events that are not about a consumer's history add nothing.
        let done = Event::NightlyRunCompleted(NightlyRunCompleted {
            as_of: day("2025-04-01"),
        });
        encode(b, 5_001, &done, &mut out);
        assert!(out.is_empty());
    }
}
