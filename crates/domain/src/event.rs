//! The persisted event schema.
//!
//! These types are a contract with data already on disk: variants and fields are only ever
//! appended, never reordered, renamed or removed (the binary codec encodes a variant by its
//! index and fields by their order). In-memory read models live in `state` and elsewhere.

use crate::money::Money;
use crate::types::*;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficeRegistered {
    pub code: String,
    pub name: String,
    pub level: Level,
    pub parent: Option<String>,
}

/// A consumer's registration.
///
/// `address` came after the first logs were written. The binary form keeps the first eight
/// fields exactly as before; the codec carries an address in an extension of its own (event
/// format 2), so registrations without one encode to the same bytes as ever. The JSON form
/// (export and restore) names `address` when there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerRegistered {
    pub account_no: String,
    pub name: String,
    pub category: Category,
    pub subdivision: String,
    /// Sanctioned load in watts (kW with 3 decimals).
    pub load_watts: i64,
    pub connected_on: NaiveDate,
    pub mobile: Option<String>,
    pub language: Language,
    /// The postal address notices print; `None` when not given.
    pub address: Option<String>,
}

/// The serialized shape of a registration: the binary form leaves `address` out.
#[derive(Serialize, Deserialize)]
#[serde(rename = "ConsumerRegistered")]
struct RegistrationFields {
    account_no: String,
    name: String,
    category: Category,
    subdivision: String,
    load_watts: i64,
    #[serde(with = "crate::codec::date")]
    connected_on: NaiveDate,
    mobile: Option<String>,
    language: Language,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    address: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename = "ConsumerRegistered")]
struct RegistrationFieldsBinary {
    account_no: String,
    name: String,
    category: Category,
    subdivision: String,
    load_watts: i64,
    #[serde(with = "crate::codec::date")]
    connected_on: NaiveDate,
    mobile: Option<String>,
    language: Language,
}

impl Serialize for ConsumerRegistered {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let e = self.clone();
        if serializer.is_human_readable() {
            RegistrationFields {
                account_no: e.account_no,
                name: e.name,
                category: e.category,
                subdivision: e.subdivision,
                load_watts: e.load_watts,
                connected_on: e.connected_on,
                mobile: e.mobile,
                language: e.language,
                address: e.address,
            }
            .serialize(serializer)
        } else {
            RegistrationFieldsBinary {
                account_no: e.account_no,
                name: e.name,
                category: e.category,
                subdivision: e.subdivision,
                load_watts: e.load_watts,
                connected_on: e.connected_on,
                mobile: e.mobile,
                language: e.language,
            }
            .serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for ConsumerRegistered {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let f = RegistrationFields::deserialize(deserializer)?;
            Ok(ConsumerRegistered {
                account_no: f.account_no,
                name: f.name,
                category: f.category,
                subdivision: f.subdivision,
                load_watts: f.load_watts,
                connected_on: f.connected_on,
                mobile: f.mobile,
                language: f.language,
                address: f.address,
            })
        } else {
            let f = RegistrationFieldsBinary::deserialize(deserializer)?;
            Ok(ConsumerRegistered {
                account_no: f.account_no,
                name: f.name,
                category: f.category,
                subdivision: f.subdivision,
                load_watts: f.load_watts,
                connected_on: f.connected_on,
                mobile: f.mobile,
                language: f.language,
                address: None,
            })
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MobileRegistered {
    pub account_no: String,
    pub mobile: String,
    #[serde(with = "crate::codec::date")]
    pub registered_on: NaiveDate,
    pub source: MobileSource,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillIssued {
    pub bill_no: String,
    pub account_no: String,
    pub period: String,
    #[serde(with = "crate::codec::date")]
    pub issued_on: NaiveDate,
    #[serde(with = "crate::codec::date")]
    pub due_on: NaiveDate,
    pub amount: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillRevised {
    pub bill_no: String,
    pub account_no: String,
    #[serde(with = "crate::codec::date")]
    pub revised_on: NaiveDate,
    pub new_amount: Money,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentReceived {
    pub receipt_no: String,
    pub account_no: String,
    pub amount: Money,
    #[serde(with = "crate::codec::date")]
    pub paid_on: NaiveDate,
    pub channel: Channel,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentReversed {
    pub receipt_no: String,
    pub account_no: String,
    #[serde(with = "crate::codec::date")]
    pub reversed_on: NaiveDate,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdjustmentPosted {
    pub adjustment_no: String,
    pub account_no: String,
    #[serde(with = "crate::codec::date")]
    pub posted_on: NaiveDate,
    /// Positive: a charge. Negative: a credit.
    pub amount: Money,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurchargeLevied {
    pub account_no: String,
    pub bill_no: String,
    /// Which anniversary of the bill's due date (1, 2, ...).
    pub anniversary: u32,
    #[serde(with = "crate::codec::date")]
    pub levied_on: NaiveDate,
    pub amount: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeIssued {
    pub notice_no: String,
    pub account_no: String,
    #[serde(with = "crate::codec::date")]
    pub issued_on: NaiveDate,
    pub overdue_arrears: Money,
    #[serde(with = "crate::codec::date")]
    pub oldest_due_on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeServed {
    pub notice_no: String,
    pub account_no: String,
    #[serde(with = "crate::codec::date")]
    pub served_on: NaiveDate,
    pub mode: NoticeMode,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseClosed {
    pub notice_no: String,
    pub account_no: String,
    #[serde(with = "crate::codec::date")]
    pub closed_on: NaiveDate,
    pub reason: CaseCloseReason,
    /// True when the notice was never served and so lapsed.
    pub lapsed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disconnected {
    pub account_no: String,
    #[serde(with = "crate::codec::date")]
    pub on: NaiveDate,
    pub order_no: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconnected {
    pub account_no: String,
    #[serde(with = "crate::codec::date")]
    pub on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermanentlyDisconnected {
    pub account_no: String,
    #[serde(with = "crate::codec::date")]
    pub on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCertificateIssued {
    pub account_no: String,
    pub rc_no: String,
    #[serde(with = "crate::codec::date")]
    pub on: NaiveDate,
}

/// An officer's ladder action recorded by mistake, voided: the log keeps both, and the
/// consumer's history reads as if the action had not been recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionVoided {
    pub account_no: String,
    /// The action voided.
    pub action: LadderAction,
    /// Its date (a notice's `served_on`, an action's `on`).
    #[serde(with = "crate::codec::date")]
    pub action_on: NaiveDate,
    /// When the mistake was corrected.
    #[serde(with = "crate::codec::date")]
    pub voided_on: NaiveDate,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputeRaised {
    pub account_no: String,
    #[serde(with = "crate::codec::date")]
    pub on: NaiveDate,
    /// Paid under protest (s.56(1) proviso); a credit dated `on`.
    pub deposit: Money,
    pub bill_no: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputeResolved {
    pub account_no: String,
    #[serde(with = "crate::codec::date")]
    pub on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installment {
    #[serde(with = "crate::codec::date")]
    pub due_on: NaiveDate,
    pub amount: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallmentPlanGranted {
    pub plan_id: String,
    pub account_no: String,
    #[serde(with = "crate::codec::date")]
    pub granted_on: NaiveDate,
    pub installments: Vec<Installment>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallmentPlanBroken {
    pub plan_id: String,
    pub account_no: String,
    #[serde(with = "crate::codec::date")]
    pub on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampScheduled {
    pub camp_id: String,
    pub subdivision: String,
    #[serde(with = "crate::codec::date")]
    pub on: NaiveDate,
    pub venue: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampHeld {
    pub camp_id: String,
    #[serde(with = "crate::codec::date")]
    pub held_on: NaiveDate,
    pub officers_present: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrievanceRegistered {
    pub grievance_id: String,
    pub subdivision: String,
    pub account_no: Option<String>,
    pub camp_id: Option<String>,
    pub category: GrievanceCategory,
    #[serde(with = "crate::codec::date")]
    pub registered_on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrievanceResolved {
    pub grievance_id: String,
    #[serde(with = "crate::codec::date")]
    pub resolved_on: NaiveDate,
    pub note: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsQueued {
    pub message_id: String,
    pub account_no: String,
    pub mobile: String,
    pub template: String,
    pub dlt_template_id: String,
    pub language: Language,
    pub text: String,
    #[serde(with = "crate::codec::date")]
    pub queued_on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsAttempted {
    pub message_id: String,
    pub account_no: String,
    pub attempt: u32,
    pub outcome: SmsOutcome,
    pub detail: String,
    pub at_ms: i64,
}

/// A queued message the sender refused to post because it breaks the DLT rules (a template
/// variable longer than the registration allows, a text that is not its template's): the
/// message ends failed with `reason`, and no attempt is made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsRejected {
    pub message_id: String,
    pub account_no: String,
    pub reason: String,
    pub at_ms: i64,
}

/// A gateway's delivery report for a message it accepted: delivered to the handset or not,
/// with the operator's reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsDeliveryReported {
    pub message_id: String,
    pub account_no: String,
    /// The gateway that reported, as the delivery-report route names it.
    pub gateway: String,
    pub delivered: bool,
    /// The operator's status or reason, as the gateway gave it.
    pub reason: String,
    pub at_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NightlyRunCompleted {
    #[serde(with = "crate::codec::date")]
    pub as_of: NaiveDate,
}

/// Every fact the engine records. Append new variants at the end only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    OfficeRegistered(OfficeRegistered),
    ConsumerRegistered(ConsumerRegistered),
    MobileRegistered(MobileRegistered),
    BillIssued(BillIssued),
    BillRevised(BillRevised),
    PaymentReceived(PaymentReceived),
    PaymentReversed(PaymentReversed),
    AdjustmentPosted(AdjustmentPosted),
    SurchargeLevied(SurchargeLevied),
    NoticeIssued(NoticeIssued),
    NoticeServed(NoticeServed),
    CaseClosed(CaseClosed),
    Disconnected(Disconnected),
    Reconnected(Reconnected),
    PermanentlyDisconnected(PermanentlyDisconnected),
    RecoveryCertificateIssued(RecoveryCertificateIssued),
    DisputeRaised(DisputeRaised),
    DisputeResolved(DisputeResolved),
    InstallmentPlanGranted(InstallmentPlanGranted),
    InstallmentPlanBroken(InstallmentPlanBroken),
    CampScheduled(CampScheduled),
    CampHeld(CampHeld),
    GrievanceRegistered(GrievanceRegistered),
    GrievanceResolved(GrievanceResolved),
    SmsQueued(SmsQueued),
    SmsAttempted(SmsAttempted),
    NightlyRunCompleted(NightlyRunCompleted),
    SmsRejected(SmsRejected),
    SmsDeliveryReported(SmsDeliveryReported),
    /// Last: variants are encoded by their place, so new ones go at the end.
    ActionVoided(ActionVoided),
}

/// A natural key: the identity a user gives a fact, so that the same fact sent twice is
/// recognised. Parts are joined with `|`, which identifiers may not contain.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EventKey {
    pub namespace: KeyNamespace,
    pub key: String,
}

fn key(namespace: KeyNamespace, parts: &[&str]) -> Option<EventKey> {
    Some(EventKey {
        namespace,
        key: parts.join("|"),
    })
}

/// The stream an event is appended to: a consumer's, an office's, a camp's, a grievance's, or
/// the nightly run's. Its name (`consumer-<account>`, `office-<code>`, `camp-<id>`,
/// `grievance-<id>`, `nightly`) is what the store files it under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StreamId<'a> {
    Consumer(&'a str),
    Office(&'a str),
    Camp(&'a str),
    Grievance(&'a str),
    Nightly,
}

impl<'a> StreamId<'a> {
    /// The stream a stored name denotes; `None` for a name no event is filed under.
    pub fn parse(name: &'a str) -> Option<StreamId<'a>> {
        if name == "nightly" {
            return Some(StreamId::Nightly);
        }
        let (prefix, id) = name.split_once('-')?;
        Some(match prefix {
            "consumer" => StreamId::Consumer(id),
            "office" => StreamId::Office(id),
            "camp" => StreamId::Camp(id),
            "grievance" => StreamId::Grievance(id),
            _ => return None,
        })
    }

    /// The consumer whose stream this is.
    pub fn account(self) -> Option<&'a str> {
        match self {
            StreamId::Consumer(account) => Some(account),
            _ => None,
        }
    }
}

impl std::fmt::Display for StreamId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamId::Consumer(a) => write!(f, "consumer-{a}"),
            StreamId::Office(c) => write!(f, "office-{c}"),
            StreamId::Camp(c) => write!(f, "camp-{c}"),
            StreamId::Grievance(g) => write!(f, "grievance-{g}"),
            StreamId::Nightly => f.write_str("nightly"),
        }
    }
}

pub fn consumer_stream(account_no: &str) -> String {
    StreamId::Consumer(account_no).to_string()
}

/// The account in a consumer stream's name.
pub fn account_of_stream(stream: &str) -> Option<&str> {
    StreamId::parse(stream)?.account()
}

impl Event {
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::OfficeRegistered(_) => "office_registered",
            Event::ConsumerRegistered(_) => "consumer_registered",
            Event::MobileRegistered(_) => "mobile_registered",
            Event::BillIssued(_) => "bill_issued",
            Event::BillRevised(_) => "bill_revised",
            Event::PaymentReceived(_) => "payment_received",
            Event::PaymentReversed(_) => "payment_reversed",
            Event::AdjustmentPosted(_) => "adjustment_posted",
            Event::SurchargeLevied(_) => "surcharge_levied",
            Event::NoticeIssued(_) => "notice_issued",
            Event::NoticeServed(_) => "notice_served",
            Event::CaseClosed(_) => "case_closed",
            Event::Disconnected(_) => "disconnected",
            Event::Reconnected(_) => "reconnected",
            Event::PermanentlyDisconnected(_) => "permanently_disconnected",
            Event::RecoveryCertificateIssued(_) => "recovery_certificate_issued",
            Event::DisputeRaised(_) => "dispute_raised",
            Event::DisputeResolved(_) => "dispute_resolved",
            Event::InstallmentPlanGranted(_) => "installment_plan_granted",
            Event::InstallmentPlanBroken(_) => "installment_plan_broken",
            Event::CampScheduled(_) => "camp_scheduled",
            Event::CampHeld(_) => "camp_held",
            Event::GrievanceRegistered(_) => "grievance_registered",
            Event::GrievanceResolved(_) => "grievance_resolved",
            Event::SmsQueued(_) => "sms_queued",
            Event::SmsAttempted(_) => "sms_attempted",
            Event::NightlyRunCompleted(_) => "nightly_run_completed",
            Event::SmsRejected(_) => "sms_rejected",
            Event::SmsDeliveryReported(_) => "sms_delivery_reported",
            Event::ActionVoided(_) => "action_voided",
        }
    }

    /// The consumer the event belongs to, if any.
    pub fn account_no(&self) -> Option<&str> {
        Some(match self {
            Event::ConsumerRegistered(e) => &e.account_no,
            Event::MobileRegistered(e) => &e.account_no,
            Event::BillIssued(e) => &e.account_no,
            Event::BillRevised(e) => &e.account_no,
            Event::PaymentReceived(e) => &e.account_no,
            Event::PaymentReversed(e) => &e.account_no,
            Event::AdjustmentPosted(e) => &e.account_no,
            Event::SurchargeLevied(e) => &e.account_no,
            Event::NoticeIssued(e) => &e.account_no,
            Event::NoticeServed(e) => &e.account_no,
            Event::CaseClosed(e) => &e.account_no,
            Event::Disconnected(e) => &e.account_no,
            Event::Reconnected(e) => &e.account_no,
            Event::PermanentlyDisconnected(e) => &e.account_no,
            Event::RecoveryCertificateIssued(e) => &e.account_no,
            Event::DisputeRaised(e) => &e.account_no,
            Event::DisputeResolved(e) => &e.account_no,
            Event::InstallmentPlanGranted(e) => &e.account_no,
            Event::InstallmentPlanBroken(e) => &e.account_no,
            Event::SmsQueued(e) => &e.account_no,
            Event::SmsAttempted(e) => &e.account_no,
            Event::SmsRejected(e) => &e.account_no,
            Event::SmsDeliveryReported(e) => &e.account_no,
            Event::ActionVoided(e) => &e.account_no,
            Event::OfficeRegistered(_)
            | Event::CampScheduled(_)
            | Event::CampHeld(_)
            | Event::GrievanceRegistered(_)
            | Event::GrievanceResolved(_)
            | Event::NightlyRunCompleted(_) => return None,
        })
    }

    /// The stream the event is appended to.
    pub fn stream_id(&self) -> StreamId<'_> {
        if let Some(account) = self.account_no() {
            return StreamId::Consumer(account);
        }
        match self {
            Event::OfficeRegistered(e) => StreamId::Office(&e.code),
            Event::CampScheduled(e) => StreamId::Camp(&e.camp_id),
            Event::CampHeld(e) => StreamId::Camp(&e.camp_id),
            Event::GrievanceRegistered(e) => StreamId::Grievance(&e.grievance_id),
            Event::GrievanceResolved(e) => StreamId::Grievance(&e.grievance_id),
            _ => StreamId::Nightly,
        }
    }

    /// The name of the stream the event is appended to.
    pub fn stream(&self) -> String {
        self.stream_id().to_string()
    }

    /// The business date (docs/RULES.md); offices have none.
    pub fn business_date(&self) -> Option<NaiveDate> {
        Some(match self {
            Event::OfficeRegistered(_) => return None,
            Event::ConsumerRegistered(e) => e.connected_on,
            Event::MobileRegistered(e) => e.registered_on,
            Event::BillIssued(e) => e.issued_on,
            Event::BillRevised(e) => e.revised_on,
            Event::PaymentReceived(e) => e.paid_on,
            Event::PaymentReversed(e) => e.reversed_on,
            Event::AdjustmentPosted(e) => e.posted_on,
            Event::SurchargeLevied(e) => e.levied_on,
            Event::NoticeIssued(e) => e.issued_on,
            Event::NoticeServed(e) => e.served_on,
            Event::CaseClosed(e) => e.closed_on,
            Event::Disconnected(e) => e.on,
            Event::Reconnected(e) => e.on,
            Event::PermanentlyDisconnected(e) => e.on,
            Event::RecoveryCertificateIssued(e) => e.on,
            Event::DisputeRaised(e) => e.on,
            Event::DisputeResolved(e) => e.on,
            Event::InstallmentPlanGranted(e) => e.granted_on,
            Event::InstallmentPlanBroken(e) => e.on,
            Event::CampScheduled(e) => e.on,
            Event::CampHeld(e) => e.held_on,
            Event::GrievanceRegistered(e) => e.registered_on,
            Event::GrievanceResolved(e) => e.resolved_on,
            Event::SmsQueued(e) => e.queued_on,
            Event::SmsAttempted(_) | Event::SmsRejected(_) | Event::SmsDeliveryReported(_) => {
                return None
            }
            Event::NightlyRunCompleted(e) => e.as_of,
            Event::ActionVoided(e) => e.voided_on,
        })
    }

    /// The natural key under which the store recognises a repeat of this fact.
    pub fn natural_key(&self) -> Option<EventKey> {
        use KeyNamespace as N;
        match self {
            Event::OfficeRegistered(e) => key(N::Office, &[&e.code]),
            Event::ConsumerRegistered(e) => key(N::Consumer, &[&e.account_no]),
            Event::MobileRegistered(e) => key(
                N::Mobile,
                &[&e.account_no, &e.mobile, &e.registered_on.to_string()],
            ),
            Event::BillIssued(e) => key(N::Bill, &[&e.bill_no]),
            Event::BillRevised(e) => key(N::Revision, &[&e.bill_no, &e.revised_on.to_string()]),
            Event::PaymentReceived(e) => key(N::Receipt, &[&e.receipt_no]),
            Event::PaymentReversed(e) => key(N::Reversal, &[&e.receipt_no]),
            Event::AdjustmentPosted(e) => key(N::Adjustment, &[&e.adjustment_no]),
            Event::SurchargeLevied(e) => {
                key(N::Surcharge, &[&e.bill_no, &e.anniversary.to_string()])
            }
            Event::NoticeIssued(e) => key(N::Notice, &[&e.notice_no]),
            // Dated, so that a service voided as a mistake may be recorded again with its
            // right date, while the very same record sent again is still a repeat.
            Event::NoticeServed(e) => {
                key(N::NoticeServed, &[&e.notice_no, &e.served_on.to_string()])
            }
            Event::CaseClosed(e) => key(N::CaseClosed, &[&e.notice_no]),
            Event::Disconnected(e) => key(N::Disconnection, &[&e.account_no, &e.on.to_string()]),
            Event::Reconnected(e) => key(N::Reconnection, &[&e.account_no, &e.on.to_string()]),
            Event::PermanentlyDisconnected(e) => key(
                N::PermanentDisconnection,
                &[&e.account_no, &e.on.to_string()],
            ),
            Event::RecoveryCertificateIssued(e) => key(N::RecoveryCertificate, &[&e.rc_no]),
            Event::DisputeRaised(e) => key(N::Dispute, &[&e.account_no, &e.on.to_string()]),
            Event::DisputeResolved(e) => {
                key(N::DisputeResolved, &[&e.account_no, &e.on.to_string()])
            }
            Event::InstallmentPlanGranted(e) => key(N::Plan, &[&e.plan_id]),
            Event::InstallmentPlanBroken(e) => key(N::PlanBroken, &[&e.plan_id]),
            Event::CampScheduled(e) => key(N::Camp, &[&e.camp_id]),
            Event::CampHeld(e) => key(N::CampHeld, &[&e.camp_id]),
            Event::GrievanceRegistered(e) => key(N::Grievance, &[&e.grievance_id]),
            Event::GrievanceResolved(e) => key(N::GrievanceResolved, &[&e.grievance_id]),
            Event::SmsQueued(e) => key(N::Sms, &[&e.message_id]),
            Event::SmsAttempted(e) => key(N::SmsAttempt, &[&e.message_id, &e.attempt.to_string()]),
            Event::NightlyRunCompleted(_) => None,
            Event::SmsRejected(e) => key(N::SmsRejected, &[&e.message_id]),
            // A gateway may report a message more than once; the receiver skips a report
            // that says what the last one said.
            Event::SmsDeliveryReported(_) => None,
            Event::ActionVoided(e) => key(
                N::Void,
                &[&e.account_no, e.action.as_str(), &e.action_on.to_string()],
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_namespaces_keep_the_names_the_key_index_holds() {
        // The key index stores these names: a rename would make every stored key unknown.
        let names: Vec<&str> = KeyNamespace::ALL.iter().map(|n| n.as_str()).collect();
        assert_eq!(
            names.join(" "),
            "office consumer mobile bill revision receipt reversal adjustment surcharge notice \
             notice_served case_closed disconnection reconnection permanent_disconnection \
             recovery_certificate dispute dispute_resolved plan plan_broken camp camp_held \
             grievance grievance_resolved sms sms_attempt sms_rejected void"
        );
        assert_eq!(KeyNamespace::Revision.field(), "bill_no");
        assert_eq!(KeyNamespace::Void.field(), "account_no");
    }

    #[test]
    fn stream_names_read_back_as_the_streams_they_name() {
        for stream in [
            StreamId::Consumer("9000-01"),
            StreamId::Office("DDN-C"),
            StreamId::Camp("C1"),
            StreamId::Grievance("G-7"),
            StreamId::Nightly,
        ] {
            let name = stream.to_string();
            assert_eq!(StreamId::parse(&name), Some(stream), "{name}");
        }
        assert_eq!(consumer_stream("9000-01"), "consumer-9000-01");
        assert_eq!(account_of_stream("consumer-9000-01"), Some("9000-01"));
        assert_eq!(account_of_stream("office-DDN"), None);
        assert_eq!(StreamId::parse("ledger-1"), None);
        assert_eq!(StreamId::parse("nightly-1"), None);
    }
}
