//! Every event type goes through the codec and comes back equal, in binary and in JSON; a
//! flipped version byte is refused.

use chrono::NaiveDate;
use vasooli_domain::codec::{decode_event, encode_event};
use vasooli_domain::event::*;
use vasooli_domain::types::*;
use vasooli_domain::Money;

fn d(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn every_event() -> Vec<Event> {
    let a = || "A1".to_string();
    let m = Money::from_paise(123_456);
    vec![
        Event::OfficeRegistered(OfficeRegistered {
            code: "S1".into(),
            name: "ऋषिकेश".into(),
            level: Level::Subdivision,
            parent: Some("D1".into()),
        }),
        Event::ConsumerRegistered(ConsumerRegistered {
            account_no: a(),
            name: "राम".into(),
            category: Category::Government,
            subdivision: "S1".into(),
            load_watts: 2_500,
            connected_on: d("2020-01-31"),
            mobile: Some("9876543210".into()),
            language: Language::En,
            address: None,
        }),
        Event::MobileRegistered(MobileRegistered {
            account_no: a(),
            mobile: "9876543210".into(),
            registered_on: d("2026-01-01"),
            source: MobileSource::Camp,
        }),
        Event::BillIssued(BillIssued {
            bill_no: "B1".into(),
            account_no: a(),
            period: "2026-07".into(),
            issued_on: d("2026-07-05"),
            due_on: d("2026-07-20"),
            amount: m,
        }),
        Event::BillRevised(BillRevised {
            bill_no: "B1".into(),
            account_no: a(),
            revised_on: d("2026-07-06"),
            new_amount: Money::ZERO,
            reason: "meter".into(),
        }),
        Event::PaymentReceived(PaymentReceived {
            receipt_no: "R1".into(),
            account_no: a(),
            amount: m,
            paid_on: d("2026-07-07"),
            channel: Channel::Bbps,
        }),
        Event::PaymentReversed(PaymentReversed {
            receipt_no: "R1".into(),
            account_no: a(),
            reversed_on: d("2026-07-08"),
            reason: "bounced".into(),
        }),
        Event::AdjustmentPosted(AdjustmentPosted {
            adjustment_no: "J1".into(),
            account_no: a(),
            posted_on: d("2026-07-09"),
            amount: Money::from_paise(-625),
            reason: "waiver".into(),
        }),
        Event::SurchargeLevied(SurchargeLevied {
            account_no: a(),
            bill_no: "B1".into(),
            anniversary: 2,
            levied_on: d("2026-09-20"),
            amount: Money::from_paise(625),
        }),
        Event::NoticeIssued(NoticeIssued {
            notice_no: "N-A1-001".into(),
            account_no: a(),
            issued_on: d("2026-08-21"),
            overdue_arrears: m,
            oldest_due_on: d("2026-07-20"),
        }),
        Event::NoticeServed(NoticeServed {
            notice_no: "N-A1-001".into(),
            account_no: a(),
            served_on: d("2026-08-24"),
            mode: NoticeMode::Affixed,
        }),
        Event::CaseClosed(CaseClosed {
            notice_no: "N-A1-001".into(),
            account_no: a(),
            closed_on: d("2026-09-01"),
            reason: CaseCloseReason::ArrearsCleared,
            lapsed: true,
        }),
        Event::Disconnected(Disconnected {
            account_no: a(),
            on: d("2026-09-10"),
            order_no: "O1".into(),
        }),
        Event::Reconnected(Reconnected {
            account_no: a(),
            on: d("2026-09-11"),
        }),
        Event::PermanentlyDisconnected(PermanentlyDisconnected {
            account_no: a(),
            on: d("2027-03-10"),
        }),
        Event::RecoveryCertificateIssued(RecoveryCertificateIssued {
            account_no: a(),
            rc_no: "RC1".into(),
            on: d("2027-03-11"),
        }),
        Event::DisputeRaised(DisputeRaised {
            account_no: a(),
            on: d("2026-09-01"),
            deposit: m,
            bill_no: None,
        }),
        Event::DisputeResolved(DisputeResolved {
            account_no: a(),
            on: d("2026-09-02"),
        }),
        Event::InstallmentPlanGranted(InstallmentPlanGranted {
            plan_id: "PL1".into(),
            account_no: a(),
            granted_on: d("2026-09-03"),
            installments: vec![Installment {
                due_on: d("2026-10-03"),
                amount: m,
            }],
        }),
        Event::InstallmentPlanBroken(InstallmentPlanBroken {
            plan_id: "PL1".into(),
            account_no: a(),
            on: d("2026-10-20"),
        }),
        Event::CampScheduled(CampScheduled {
            camp_id: "C1".into(),
            subdivision: "S1".into(),
            on: d("2026-10-10"),
            venue: "पंचायत भवन".into(),
        }),
        Event::CampHeld(CampHeld {
            camp_id: "C1".into(),
            held_on: d("2026-10-10"),
            officers_present: vec!["SDO".into(), "JE".into()],
        }),
        Event::GrievanceRegistered(GrievanceRegistered {
            grievance_id: "G1".into(),
            subdivision: "S1".into(),
            account_no: Some(a()),
            camp_id: Some("C1".into()),
            category: GrievanceCategory::Metering,
            registered_on: d("2026-10-10"),
        }),
        Event::GrievanceResolved(GrievanceResolved {
            grievance_id: "G1".into(),
            resolved_on: d("2026-10-12"),
            note: "meter replaced".into(),
        }),
        Event::SmsQueued(SmsQueued {
            message_id: "A1-bill-B1".into(),
            account_no: a(),
            mobile: "9876543210".into(),
            template: "bill".into(),
            dlt_template_id: "1107".into(),
            language: Language::Hi,
            text: "बिल".into(),
            queued_on: d("2026-07-05"),
        }),
        Event::SmsAttempted(SmsAttempted {
            message_id: "A1-bill-B1".into(),
            account_no: a(),
            attempt: 1,
            outcome: SmsOutcome::TimedOut,
            detail: "timed out".into(),
            at_ms: 1_790_000_000_000,
        }),
        Event::NightlyRunCompleted(NightlyRunCompleted {
            as_of: d("2026-09-30"),
        }),
        Event::SmsRejected(SmsRejected {
            message_id: "A1-camp-C1".into(),
            account_no: a(),
            reason: "DLT: variable `venue` is 41 characters, over the 30 allowed".into(),
            at_ms: 1_790_000_000_001,
        }),
        Event::SmsDeliveryReported(SmsDeliveryReported {
            message_id: "A1-bill-B1".into(),
            account_no: a(),
            gateway: "primary".into(),
            delivered: false,
            reason: "ABSENT_SUBSCRIBER".into(),
            at_ms: 1_790_000_000_002,
        }),
        Event::ActionVoided(ActionVoided {
            account_no: a(),
            action: LadderAction::ServeNotice,
            action_on: d("2026-09-30"),
            voided_on: d("2026-10-01"),
            reason: "served on 3 September; the date was typed wrongly".into(),
        }),
    ]
}

#[test]
fn every_event_type_round_trips() {
    let events = every_event();
    let names: std::collections::BTreeSet<&str> = events.iter().map(Event::type_name).collect();
    assert_eq!(names.len(), events.len(), "one of each type");
    for event in events {
        let bytes = encode_event(&event).unwrap();
        assert_eq!(
            decode_event(&bytes).unwrap(),
            event,
            "binary round trip of {}",
            event.type_name()
        );
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            serde_json::from_str::<Event>(&json).unwrap(),
            event,
            "JSON round trip of {json}"
        );
        let mut flipped = bytes.clone();
        flipped[0] = 0xee;
        assert!(decode_event(&flipped).is_err());
    }
}

/// A value with bytes after it (a checkpoint of another layout, say) is refused, not misread.
#[test]
fn values_with_bytes_left_over_are_refused() {
    use vasooli_domain::codec::{decode_value, encode_value};
    let mut bytes = encode_value(&(7u32, "seven".to_string())).unwrap();
    assert_eq!(
        decode_value::<(u32, String)>(&bytes).unwrap(),
        (7, "seven".to_string())
    );
    bytes.push(0);
    assert!(decode_value::<(u32, String)>(&bytes).is_err());
}

/// A registration with an address travels in format 2 and comes back whole, in the binary
/// codec and in JSON; one without keeps format 1 and its bytes, so older logs read as before.
#[test]
fn an_address_travels_in_format_2_and_older_registrations_keep_their_bytes() {
    use vasooli_domain::codec::{EVENT_FORMAT_V1, EVENT_FORMAT_V2};
    let without = ConsumerRegistered {
        account_no: "A1".into(),
        name: "राम सिंह".into(),
        category: Category::Domestic,
        subdivision: "SD1".into(),
        load_watts: 2_000,
        connected_on: NaiveDate::from_ymd_opt(2025, 4, 1).unwrap(),
        mobile: None,
        language: Language::Hi,
        address: None,
    };
    let with = ConsumerRegistered {
        address: Some("मकान नं. 12, वार्ड 3, ऋषिकेश".into()),
        ..without.clone()
    };
    let plain = encode_event(&Event::ConsumerRegistered(without.clone())).unwrap();
    let addressed = encode_event(&Event::ConsumerRegistered(with.clone())).unwrap();
    assert_eq!(plain[0], EVENT_FORMAT_V1);
    assert_eq!(addressed[0], EVENT_FORMAT_V2);
    // Format 2 is format 1's body and then the address: the first body is a prefix.
    assert_eq!(addressed[1..plain.len()], plain[1..]);
    assert_eq!(
        decode_event(&addressed).unwrap(),
        Event::ConsumerRegistered(with.clone())
    );
    assert_eq!(
        decode_event(&plain).unwrap(),
        Event::ConsumerRegistered(without.clone())
    );
    // Format 2 holds registrations only; a cut extension or bytes after it are refused.
    assert!(decode_event(&addressed[..addressed.len() - 1]).is_err());
    let mut longer = addressed.clone();
    longer.push(0);
    assert!(decode_event(&longer).is_err());
    let mut other = encode_event(&Event::NightlyRunCompleted(NightlyRunCompleted {
        as_of: NaiveDate::from_ymd_opt(2026, 9, 30).unwrap(),
    }))
    .unwrap();
    other[0] = EVENT_FORMAT_V2;
    other.push(0);
    assert!(decode_event(&other).is_err());
    // JSON names the address only when there is one.
    let json = serde_json::to_value(Event::ConsumerRegistered(with.clone())).unwrap();
    assert_eq!(
        json["consumer_registered"]["address"],
        "मकान नं. 12, वार्ड 3, ऋषिकेश"
    );
    let back: Event = serde_json::from_value(json).unwrap();
    assert_eq!(back, Event::ConsumerRegistered(with));
    let json = serde_json::to_value(Event::ConsumerRegistered(without)).unwrap();
    assert!(json["consumer_registered"].get("address").is_none());
}

/// New event types are appended after the old ones: every older type keeps its variant
/// index (the byte after the format version), so bytes already on disk decode unchanged.
#[test]
fn new_event_types_come_after_the_old_ones() {
    let events = every_event();
    let index = |name: &str| {
        let event = events.iter().find(|e| e.type_name() == name).unwrap();
        encode_event(event).unwrap()[1]
    };
    assert_eq!(index("sms_attempted"), 25);
    assert_eq!(index("nightly_run_completed"), 26);
    assert_eq!(index("sms_rejected"), 27);
    assert_eq!(index("sms_delivery_reported"), 28);
    assert_eq!(index("action_voided"), 29);
}
