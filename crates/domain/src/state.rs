//! The in-memory state built from events: offices, consumers with their full history (kept
//! as a journal of compact records, see `journal`, and read back into a [`Consumer`]), camps
//! and grievances. `World::apply` is the one place an event changes state; everything "as of a
//! date" is computed from a consumer's history by the pure functions in `ledger` and `ladder`.

use crate::event::*;
use crate::journal;
use crate::money::Money;
use crate::types::*;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A short text of a consumer: up to 24 bytes are held inline (account, bill and receipt
/// numbers, periods, mobiles), so reading a history back allocates no heap per string.
pub type Text = compact_str::CompactString;

/// A list of a consumer's history: one pointer wide, and an empty list allocates nothing.
pub type List<T> = thin_vec::ThinVec<T>;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Office {
    pub code: String,
    pub name: String,
    pub level: Level,
    pub parent: Option<String>,
    pub children: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

    /// Months from year 0 to this month (`year × 12 + month − 1`); the month of a malformed
    /// period (`0000-00`) counts as -1.
    pub fn months(self) -> i32 {
        let (year, month) = ((self.0 / 100) as i32, (self.0 % 100) as i32);
        year * 12 + month - 1
    }

    /// The month [`BillMonth::months`] counts; -1 is the malformed period.
    pub fn from_months(months: i32) -> BillMonth {
        if months < 0 {
            return BillMonth(0);
        }
        // A count past year 9999 comes only from a damaged log: the malformed period too.
        if months / 12 > 9999 {
            return BillMonth(0);
        }
        BillMonth((months / 12) as u32 * 100 + (months % 12) as u32 + 1)
    }

    /// The month of a bill recorded in the log. The command that issued it checked the form;
    /// earlier versions also let a sign through before the month (`2026-+7`), read here as
    /// that month. Anything else is a log written by other software: kept as month 0 of year 0.
    pub(crate) fn of_bill(text: &str) -> BillMonth {
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    #[serde(with = "crate::codec::date")]
    pub revised_on: NaiveDate,
    pub new_amount: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Surcharge {
    /// The bill it is levied on: its place in the consumer's `bills`.
    pub bill: u32,
    pub anniversary: u32,
    #[serde(with = "crate::codec::date")]
    pub levied_on: NaiveDate,
    pub amount: Money,
    pub position: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjustment {
    pub adjustment_no: Text,
    #[serde(with = "crate::codec::date")]
    pub posted_on: NaiveDate,
    pub amount: Money,
    pub reason: String,
    pub position: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionEvent {
    #[serde(with = "crate::codec::date")]
    pub on: NaiveDate,
    pub change: ConnectionChange,
    /// Log position: tells a change recorded after a nightly run from one the run saw.
    pub position: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsMessage {
    pub message_id: Text,
    pub mobile: Text,
    pub template: Text,
    pub dlt_template_id: Text,
    pub language: Language,
    /// Log position of the message's `SmsQueued` event, which holds its text: texts are most
    /// of a message's bytes, and a year of messages would be most of the world, so the world
    /// keeps where the text is rather than the text.
    pub position: u64,
    #[serde(with = "crate::codec::date")]
    pub queued_on: NaiveDate,
    pub attempts: u32,
    pub last_outcome: Option<SmsOutcome>,
    pub last_detail: String,
    /// Refused before sending for breaking the DLT rules (`last_detail` says why).
    pub rejected: bool,
    /// The gateway's latest delivery report, when one came.
    pub delivery: Option<SmsDelivery>,
}

/// What a gateway's delivery report said about a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsDelivery {
    pub delivered: bool,
    /// The operator's status or reason.
    pub reason: String,
}

/// A consumer as the world keeps it: what lists and runs select consumers by, and the rest of
/// its history as a journal of compact records (see [`crate::journal`]). [`Self::consumer`]
/// reads it into a [`Consumer`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredConsumer {
    pub account_no: Text,
    pub subdivision: Text,
    pub category: Category,
    #[serde(with = "crate::codec::date")]
    pub connected_on: NaiveDate,
    /// Log position of the registration.
    pub position: u64,
    /// Exactly as long as its records: appending asks the allocator for the new length,
    /// which it grants in place while the block's size class has room (a copy only when the
    /// journal outgrows it), so no spare room is kept beyond the allocator's own rounding.
    journal: Box<[u8]>,
}

impl StoredConsumer {
    fn base(&self) -> journal::Base<'_> {
        journal::Base {
            account_no: &self.account_no,
            position: self.position,
            connected_on: self.connected_on,
        }
    }

    /// The consumer with its full history.
    pub fn consumer(&self) -> Consumer {
        let mut consumer = Consumer::empty(&self.account_no, self.position, self.connected_on);
        consumer.subdivision = self.subdivision.clone();
        consumer.category = self.category;
        let replayed = journal::replay(self.base(), &self.journal, &mut consumer);
        // Journals are written by this process, or read from a checkpoint part whose CRC
        // was checked when it was loaded; each holds at least the registration's record.
        assert!(
            replayed.as_ref().is_ok_and(|records| *records > 0),
            "{}: {replayed:?}",
            self.account_no
        );
        consumer
    }

    /// Checks that the journal reads back whole.
    pub fn check(&self) -> Result<(), journal::JournalError> {
        journal::check(self.base(), &self.journal)
    }

    /// Calls `each` with the kind and length of every record of the journal.
    pub fn journal_record_sizes(
        &self,
        each: impl FnMut(&'static str, usize),
    ) -> Result<(), journal::JournalError> {
        journal::record_sizes(self.base(), &self.journal, each)
    }

    /// Bytes the journal holds.
    pub fn journal_len(&self) -> usize {
        self.journal.len()
    }

    /// Appends the record of `event` to the journal; returns its length (0 when the event
    /// leaves no record).
    fn record(&mut self, position: u64, event: &Event) -> usize {
        JOURNAL_SCRATCH.with_borrow_mut(|record| {
            journal::encode(self.base(), position, event, record);
            if record.is_empty() {
                return 0;
            }
            let mut journal = Vec::from(std::mem::take(&mut self.journal));
            journal.reserve_exact(record.len());
            journal.extend_from_slice(record);
            self.journal = journal.into_boxed_slice();
            record.len()
        })
    }
}

thread_local! {
    /// Where a record is encoded before it is appended to a journal.
    static JOURNAL_SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A consumer with its full history, read from the world's [`StoredConsumer`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumer {
    pub account_no: Text,
    pub name: Text,
    pub category: Category,
    pub subdivision: Text,
    pub load_watts: i64,
    #[serde(with = "crate::codec::date")]
    pub connected_on: NaiveDate,
    pub language: Language,
    /// The postal address notices print, when one was given.
    pub address: Option<Text>,
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
    /// A consumer with its registration's fields set and no history yet: name, load and
    /// language are filled in from the journal's first record.
    pub fn empty(account_no: &str, position: u64, connected_on: NaiveDate) -> Consumer {
        Consumer {
            account_no: account_no.into(),
            name: Text::default(),
            category: Category::Domestic,
            subdivision: Text::default(),
            load_watts: 0,
            connected_on,
            language: Language::Hi,
            address: None,
            mobiles: List::new(),
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

/// Consumers by account number: the number's hash -> the consumer's place in
/// [`World::consumers`], whose account numbers are compared on lookup, so a collision costs a
/// comparison, never a wrong consumer (a second map holds the rare number whose hash another
/// number has). About 12 bytes a consumer, against 40 for a map keyed by the numbers.
#[derive(Clone, Debug, Default)]
pub struct AccountIndex {
    first: rustc_hash::FxHashMap<u64, u32>,
    more: rustc_hash::FxHashMap<Text, u32>,
}

impl AccountIndex {
    fn hash(account_no: &str) -> u64 {
        use std::hash::BuildHasher;
        rustc_hash::FxBuildHasher.hash_one(account_no)
    }

    fn get(&self, consumers: &[StoredConsumer], account_no: &str) -> Option<u32> {
        let place = *self.first.get(&Self::hash(account_no))?;
        if consumers.get(place as usize)?.account_no == account_no {
            Some(place)
        } else {
            self.more.get(account_no).copied()
        }
    }

    fn insert(&mut self, account_no: &str, place: u32) {
        match self.first.entry(Self::hash(account_no)) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(place);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.more.insert(account_no.into(), place);
            }
        }
    }

    /// Accounts indexed.
    pub fn len(&self) -> usize {
        self.first.len() + self.more.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the index's tables take (a control byte and a place per bucket).
    pub fn table_bytes(&self) -> usize {
        self.first.capacity() * (1 + std::mem::size_of::<(u64, u32)>())
            + self.more.capacity() * (1 + std::mem::size_of::<(Text, u32)>())
    }
}

/// Everything the engine knows, built by applying events in log order.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct World {
    pub offices: BTreeMap<String, Office>,
    pub consumers: Vec<StoredConsumer>,
    /// Rebuilt from `consumers` when a checkpoint is read ([`World::index_accounts`]).
    #[serde(skip)]
    pub account_index: AccountIndex,
    pub camps: BTreeMap<String, Camp>,
    pub grievances: BTreeMap<String, Grievance>,
    /// The last nightly run: its date and log position.
    #[serde(with = "crate::codec::date_opt")]
    pub last_nightly: Option<NaiveDate>,
    pub last_nightly_position: u64,
    /// Position of the last event applied.
    pub position: u64,
    /// Bytes appended to journals since they were last compacted, and the growth at which
    /// [`World::apply`] compacts them next ([`World::compact_journals`]).
    #[serde(skip)]
    pub journal_growth: JournalGrowth,
}

/// Journal growth at which journals are compacted however small they are.
pub const JOURNAL_COMPACT_MIN_BYTES: u64 = 4 << 20;

/// How much the world's journals grew since they were last compacted.
#[derive(Clone, Copy, Debug, Default)]
pub struct JournalGrowth {
    /// Bytes appended since the last compaction.
    pub grown: u64,
    /// Bytes the journals held at the last compaction, or when they were read from a
    /// checkpoint, with the first records of consumers registered since.
    pub held: u64,
}

impl JournalGrowth {
    /// Journals just compacted, or just read into blocks of their size: `held` bytes, none
    /// grown since.
    pub fn holding(held: u64) -> JournalGrowth {
        JournalGrowth { grown: 0, held }
    }

    /// Whether the journals are due a compaction: once they grew by a quarter of what they
    /// held at the last one, and at least [`JOURNAL_COMPACT_MIN_BYTES`]. Each compaction
    /// copies what is live (what was held and the growth, at least a quarter of it), so its
    /// cost is at most five bytes copied per byte appended.
    pub fn due(&self) -> bool {
        self.grown >= JOURNAL_COMPACT_MIN_BYTES.max(self.held / 4)
    }
}

impl World {
    /// Copies every journal into a new allocation of its exact size, then frees the old.
    ///
    /// A journal grows by a record at a time, each growth a new block of the next size
    /// class when the old one is full. Journals that stop growing (a consumer who does not
    /// pay, or is not levied on) keep the blocks they were given early, each in a page
    /// shared with many that moved on: those pages stay allocated for a few live bytes,
    /// and the allocator can give their free room only to requests of the same small
    /// size, which the growing journals have left behind. Copying all of them fills the
    /// free room of the pages they now need, and empties the old pages whole, so that
    /// they go back to the system.
    pub fn compact_journals(&mut self) {
        let mut live = 0u64;
        for consumer in &mut self.consumers {
            let copy: Box<[u8]> = Box::from(&*consumer.journal);
            live += copy.len() as u64;
            consumer.journal = copy;
        }
        self.journal_growth = JournalGrowth::holding(live);
    }

    /// A consumer with its full history.
    pub fn consumer(&self, account_no: &str) -> Option<Consumer> {
        self.stored_consumer(account_no)
            .map(StoredConsumer::consumer)
    }

    /// A consumer as the world keeps it.
    pub fn stored_consumer(&self, account_no: &str) -> Option<&StoredConsumer> {
        self.account_index
            .get(&self.consumers, account_no)
            .map(|i| &self.consumers[i as usize])
    }

    pub fn has_consumer(&self, account_no: &str) -> bool {
        self.account_index
            .get(&self.consumers, account_no)
            .is_some()
    }

    fn consumer_mut(&mut self, account_no: &str) -> Option<&mut StoredConsumer> {
        let index = self.account_index.get(&self.consumers, account_no)?;
        Some(&mut self.consumers[index as usize])
    }

    /// Adds a consumer as kept elsewhere (a copy of another world's), unless its account is
    /// here already.
    pub fn add_stored_consumer(&mut self, consumer: StoredConsumer) {
        if !self.has_consumer(&consumer.account_no) {
            self.push_consumer(consumer);
        }
    }

    /// Adds a consumer whose account is not here yet, and indexes it.
    fn push_consumer(&mut self, consumer: StoredConsumer) {
        self.account_index
            .insert(&consumer.account_no, self.consumers.len() as u32);
        self.consumers.push(consumer);
    }

    /// Builds the account index from `consumers` (after reading a checkpoint), and counts
    /// what their journals hold: each was just decoded into a block of its exact size, so
    /// the journals stand as if compacted.
    pub fn index_accounts(&mut self) {
        let mut index = AccountIndex::default();
        index.first.reserve(self.consumers.len());
        let mut live = 0u64;
        for (place, consumer) in self.consumers.iter().enumerate() {
            index.insert(&consumer.account_no, place as u32);
            live += consumer.journal.len() as u64;
        }
        self.account_index = index;
        self.journal_growth = JournalGrowth::holding(live);
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
    /// before they were appended. An event about an unknown consumer is ignored. An event
    /// about a consumer's history is appended to its journal, which [`Consumer::apply`] reads
    /// back.
    pub fn apply(&mut self, position: u64, event: &Event) {
        assert!(position > self.position, "events apply in log order");
        self.position = position;
        match event {
            Event::OfficeRegistered(e) => {
                if let Some(parent) = e.parent.as_ref().and_then(|p| self.offices.get_mut(p)) {
                    if !parent.children.contains(&e.code) {
                        parent.children.push(e.code.clone());
                    }
                }
                self.offices.insert(e.code.clone(), Office::registered(e));
            }
            Event::ConsumerRegistered(e) => {
                if !self.has_consumer(&e.account_no) {
                    let mut stored = StoredConsumer {
                        account_no: e.account_no.as_str().into(),
                        subdivision: e.subdivision.as_str().into(),
                        category: e.category,
                        connected_on: e.connected_on,
                        position,
                        journal: Box::default(),
                    };
                    // A new journal's first block: counted as held, not as growth.
                    let held = stored.record(position, event);
                    self.journal_growth.held += held as u64;
                    self.push_consumer(stored);
                }
            }
            Event::CampScheduled(e) => {
                self.camps.insert(e.camp_id.clone(), Camp::scheduled(e));
            }
            Event::CampHeld(e) => {
                if let Some(camp) = self.camps.get_mut(&e.camp_id) {
                    camp.hold(e);
                }
            }
            Event::GrievanceRegistered(e) => {
                self.grievances
                    .insert(e.grievance_id.clone(), Grievance::registered(e));
            }
            Event::GrievanceResolved(e) => {
                if let Some(g) = self.grievances.get_mut(&e.grievance_id) {
                    g.resolve(e);
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
                let Some(consumer) = self.consumer_mut(account) else {
                    return;
                };
                let grown = consumer.record(position, other);
                self.journal_growth.grown += grown as u64;
                if self.journal_growth.due() {
                    self.compact_journals();
                }
            }
        }
    }
}

impl Office {
    /// The office a registration records (its children come with their own registrations).
    pub fn registered(e: &OfficeRegistered) -> Office {
        Office {
            code: e.code.clone(),
            name: e.name.clone(),
            level: e.level,
            parent: e.parent.clone(),
            children: Vec::new(),
        }
    }
}

impl Camp {
    /// The camp a scheduling records, not yet held.
    pub fn scheduled(e: &CampScheduled) -> Camp {
        Camp {
            camp_id: e.camp_id.clone(),
            subdivision: e.subdivision.clone(),
            on: e.on,
            venue: e.venue.clone(),
            held_on: None,
            officers_present: Vec::new(),
        }
    }

    /// Records the camp as held.
    pub fn hold(&mut self, e: &CampHeld) {
        self.held_on = Some(e.held_on);
        self.officers_present = e.officers_present.clone();
    }
}

impl Grievance {
    /// The grievance a registration records, not yet resolved.
    pub fn registered(e: &GrievanceRegistered) -> Grievance {
        Grievance {
            grievance_id: e.grievance_id.clone(),
            subdivision: e.subdivision.clone(),
            account_no: e.account_no.clone(),
            camp_id: e.camp_id.clone(),
            category: e.category,
            registered_on: e.registered_on,
            resolved_on: None,
        }
    }

    /// Records the grievance as resolved.
    pub fn resolve(&mut self, e: &GrievanceResolved) {
        self.resolved_on = Some(e.resolved_on);
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

    fn registration(account_no: &str) -> Event {
        Event::ConsumerRegistered(ConsumerRegistered {
            account_no: account_no.into(),
            name: format!("name of {account_no}"),
            category: Category::Domestic,
            subdivision: "S1".into(),
            load_watts: 1_000,
            connected_on: NaiveDate::from_ymd_opt(2025, 4, 1).expect("a date"),
            mobile: None,
            language: Language::Hi,
            address: None,
        })
    }

    #[test]
    fn consumers_are_found_by_account_also_when_hashes_collide() {
        let mut world = World::default();
        for (i, account) in ["A1", "A2", "A3"].iter().enumerate() {
            world.apply(i as u64 + 1, &registration(account));
        }
        // "B9" collides with A1: its hash already points at A1's place.
        world
            .account_index
            .first
            .insert(AccountIndex::hash("B9"), 0);
        assert!(!world.has_consumer("B9"));
        world.apply(10, &registration("B9"));
        world.apply(11, &registration("B9"));
        assert_eq!(
            world.consumers.len(),
            4,
            "a second registration adds nothing"
        );
        for (account, position) in [("A1", 1), ("A2", 2), ("A3", 3), ("B9", 10)] {
            let c = world.consumer(account).expect("registered");
            assert_eq!((c.account_no.as_str(), c.position), (account, position));
            assert_eq!(c.name, format!("name of {account}"));
        }
        assert!(world.consumer("A4").is_none());
        // Rebuilt from the consumers, as after reading a checkpoint.
        world.account_index = AccountIndex::default();
        world.index_accounts();
        assert_eq!(world.stored_consumer("B9").map(|c| c.position), Some(10));
        assert_eq!(world.stored_consumer("A1").map(|c| c.position), Some(1));
    }

    fn payment(account_no: &str, n: u64) -> Event {
        Event::PaymentReceived(PaymentReceived {
            receipt_no: format!("R{n:07}"),
            account_no: account_no.into(),
            amount: Money::from_paise(100 + n as i64),
            paid_on: NaiveDate::from_ymd_opt(2025, 4, 2).expect("a date"),
            channel: Channel::Upi,
        })
    }

    /// Bytes every consumer's journal holds.
    fn journal_bytes(world: &World) -> u64 {
        world.consumers.iter().map(|c| c.journal_len() as u64).sum()
    }

    #[test]
    fn journals_are_compacted_once_grown_by_a_quarter_and_keep_every_byte() {
        let accounts: Vec<String> = (0..50).map(|i| format!("A{i:03}")).collect();
        let mut world = World::default();
        let mut position = 0;
        for account in &accounts {
            position += 1;
            world.apply(position, &registration(account));
        }
        let registered = journal_bytes(&world);
        assert_eq!(world.journal_growth.held, registered);
        assert_eq!(
            world.journal_growth.grown, 0,
            "registrations are held, not growth"
        );
        let mut compactions = Vec::new();
        let mut n = 0u64;
        // Until the journals were compacted six times: the first ones at the minimum growth,
        // the last once a quarter of what was live is more than the minimum.
        while compactions.len() < 6 && n < 6_000_000 {
            let before = world.journal_growth;
            position += 1;
            n += 1;
            world.apply(position, &payment(&accounts[(n % 50) as usize], n));
            let after = world.journal_growth;
            assert!(!after.due(), "apply leaves no compaction due");
            if after.held != before.held {
                let live = journal_bytes(&world);
                assert_eq!(after.held, live);
                assert_eq!(after.grown, 0);
                compactions.push((before.grown, before.held));
            }
        }
        assert_eq!(compactions.len(), 6, "compacted within {n} payments");
        // Each was due at the record that made it so, not before.
        assert_eq!(compactions[0].1, registered);
        for &(grown, live) in &compactions {
            let due_at = JOURNAL_COMPACT_MIN_BYTES.max(live / 4);
            assert!(
                grown < due_at && grown + 64 >= due_at,
                "{grown} of {due_at}"
            );
        }
        let (_, last_live) = compactions[5];
        assert!(
            last_live / 4 > JOURNAL_COMPACT_MIN_BYTES,
            "the last was due at a quarter of what was live"
        );
        // Nothing recorded was lost or changed: every payment is read back.
        let mut read = 0;
        for (i, account) in accounts.iter().enumerate() {
            let consumer = world.consumer(account).expect("registered");
            let expected: Vec<u64> = (1..=n).filter(|k| k % 50 == i as u64).collect();
            assert_eq!(consumer.payments.len(), expected.len(), "{account}");
            for (p, k) in consumer.payments.iter().zip(expected) {
                assert_eq!(p.receipt_no.as_str(), format!("R{k:07}"));
                assert_eq!(p.amount, Money::from_paise(100 + k as i64));
            }
            read += consumer.payments.len() as u64;
        }
        assert_eq!(read, n);

        // An explicit compaction copies every journal byte for byte, into new blocks.
        let journals: Vec<(Box<[u8]>, *const u8)> = world
            .consumers
            .iter()
            .map(|c| (c.journal.clone(), c.journal.as_ptr()))
            .collect();
        world.compact_journals();
        for (consumer, (journal, old)) in world.consumers.iter().zip(&journals) {
            assert_eq!(&consumer.journal, journal);
            assert_ne!(consumer.journal.as_ptr(), *old, "a new block");
        }

        // A world read from a checkpoint counts what its journals hold, as if compacted.
        let live = journal_bytes(&world);
        world.journal_growth = JournalGrowth::default();
        world.index_accounts();
        assert_eq!(world.journal_growth.held, live);
        assert_eq!(world.journal_growth.grown, 0);
    }

    #[test]
    fn journals_are_due_a_compaction_at_a_quarter_of_what_was_live_and_at_least_the_minimum() {
        let growth = |grown, held| JournalGrowth { grown, held };
        let min = JOURNAL_COMPACT_MIN_BYTES;
        assert!(!growth(min - 1, 0).due());
        assert!(growth(min, 0).due());
        assert!(
            !growth(min - 1, min).due(),
            "a small world waits for the minimum"
        );
        assert!(!growth(2 * min - 1, 8 * min).due());
        assert!(growth(2 * min, 8 * min).due());
    }
}

#[cfg(test)]
mod bill_month_tests {
    use super::BillMonth;

    #[test]
    fn a_month_count_past_year_9999_is_the_malformed_period_not_an_overflow() {
        // Found by fuzzing a journal: the count times 100 overflowed.
        assert_eq!(BillMonth::from_months(i32::MAX), BillMonth(0));
        assert_eq!(BillMonth::from_months(2026 * 12 + 6), BillMonth(202607));
    }
}
