//! The journal's records are the checkpoint's layout: the bytes an event encodes to never
//! change (a change would need a new checkpoint layout key). This pins them for one event of
//! every kind.

use chrono::NaiveDate;
use vasooli_domain::event::*;
use vasooli_domain::journal::{encode, Base};
use vasooli_domain::money::Money;
use vasooli_domain::types::*;

const ACCOUNT: &str = "UK0012345";

fn day(offset: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 4, 1).expect("a date") + chrono::Duration::days(offset)
}

fn registration(mobile: bool, address: bool) -> Event {
    Event::ConsumerRegistered(ConsumerRegistered {
        account_no: ACCOUNT.into(),
        name: "राम प्रसाद (Ram Prasad), a name longer than 24 bytes".into(),
        category: Category::NonDomestic,
        subdivision: "S1".into(),
        load_watts: 2_000,
        connected_on: day(0),
        mobile: mobile.then(|| "9876543210".into()),
        language: Language::En,
        address: address.then(|| format!("House 7, near {ACCOUNT} office")),
    })
}

/// One event about the consumer: its kind, a number naming what it is about (a bill,
/// a receipt, a notice, a plan, a message; often one that does not exist), a date and an
/// amount.
fn event(kind: u8, n: u8, offset: i64, paise: i64) -> Event {
    let a = ACCOUNT.to_string();
    let on = day(offset);
    let amount = Money::from_paise(paise);
    let bill_no = format!("B{n}{a}");
    let notice_no = format!("N-{a}-00{n}");
    let message_id = format!("{a}-bill-{n}");
    match kind % 23 {
        0 => Event::BillIssued(BillIssued {
            bill_no,
            account_no: a,
            period: if n == 7 {
                "July".into()
            } else {
                format!("2025-{:02}", n % 12 + 1)
            },
            issued_on: on,
            due_on: day(offset + i64::from(n) - 3),
            amount,
        }),
        1 => Event::BillRevised(BillRevised {
            bill_no,
            account_no: a,
            revised_on: on,
            new_amount: amount,
            reason: "meter".into(),
        }),
        2 => Event::PaymentReceived(PaymentReceived {
            receipt_no: format!("R{n}{a}"),
            account_no: a,
            amount,
            paid_on: on,
            channel: Channel::ALL[usize::from(n) % Channel::ALL.len()],
        }),
        3 => Event::PaymentReversed(PaymentReversed {
            receipt_no: format!("R{n}{a}"),
            account_no: a,
            reversed_on: on,
            reason: "bounced".into(),
        }),
        4 => Event::AdjustmentPosted(AdjustmentPosted {
            adjustment_no: format!("ADJ-{n}"),
            account_no: a,
            posted_on: on,
            amount,
            reason: "rebate of 12345 on 2025-04-01".into(),
        }),
        5 => Event::SurchargeLevied(SurchargeLevied {
            account_no: a,
            bill_no,
            anniversary: u32::from(n),
            levied_on: on,
            amount,
        }),
        6 => Event::NoticeIssued(NoticeIssued {
            notice_no,
            account_no: a,
            issued_on: on,
            overdue_arrears: amount,
            oldest_due_on: day(offset - 30),
        }),
        7 => Event::NoticeServed(NoticeServed {
            notice_no,
            account_no: a,
            served_on: on,
            mode: NoticeMode::ALL[usize::from(n) % NoticeMode::ALL.len()],
        }),
        8 => Event::CaseClosed(CaseClosed {
            notice_no,
            account_no: a,
            closed_on: on,
            reason: CaseCloseReason::ALL[usize::from(n) % CaseCloseReason::ALL.len()],
            lapsed: n.is_multiple_of(2),
        }),
        9 => Event::Disconnected(Disconnected {
            account_no: a,
            on,
            order_no: format!("DO-{n}"),
        }),
        10 => Event::Reconnected(Reconnected { account_no: a, on }),
        11 => Event::PermanentlyDisconnected(PermanentlyDisconnected { account_no: a, on }),
        12 => Event::RecoveryCertificateIssued(RecoveryCertificateIssued {
            account_no: a,
            rc_no: format!("RC/2025/{n}"),
            on,
        }),
        13 => Event::DisputeRaised(DisputeRaised {
            account_no: a,
            on,
            deposit: amount,
            bill_no: n.is_multiple_of(2).then_some(bill_no),
        }),
        14 => Event::DisputeResolved(DisputeResolved { account_no: a, on }),
        15 => Event::InstallmentPlanGranted(InstallmentPlanGranted {
            plan_id: format!("P-{n}"),
            account_no: a,
            granted_on: on,
            installments: (0..n % 4)
                .map(|i| Installment {
                    due_on: day(offset + 30 * i64::from(i)),
                    amount,
                })
                .collect(),
        }),
        16 => Event::InstallmentPlanBroken(InstallmentPlanBroken {
            plan_id: format!("P-{n}"),
            account_no: a,
            on,
        }),
        17 => Event::SmsQueued(SmsQueued {
            message_id,
            account_no: a,
            mobile: "9000000009".into(),
            template: "bill".into(),
            dlt_template_id: "1107160000000012345".into(),
            language: Language::ALL[usize::from(n) % Language::ALL.len()],
            text: "not kept in the journal".into(),
            queued_on: on,
        }),
        18 => Event::SmsAttempted(SmsAttempted {
            message_id,
            account_no: a,
            attempt: u32::from(n),
            outcome: SmsOutcome::ALL[usize::from(n) % SmsOutcome::ALL.len()],
            detail: format!("attempt {n}"),
            at_ms: 7,
        }),
        19 => Event::SmsRejected(SmsRejected {
            message_id,
            account_no: a,
            reason: "not a registered template".into(),
            at_ms: 8,
        }),
        20 => Event::SmsDeliveryReported(SmsDeliveryReported {
            message_id,
            account_no: a,
            gateway: "primary".into(),
            delivered: n.is_multiple_of(2),
            reason: "DELIVRD".into(),
            at_ms: 9,
        }),
        21 => Event::MobileRegistered(MobileRegistered {
            account_no: a,
            mobile: format!("90000000{:02}", n),
            registered_on: on,
            source: MobileSource::ALL[usize::from(n) % MobileSource::ALL.len()],
        }),
        _ => Event::NightlyRunCompleted(NightlyRunCompleted { as_of: on }),
    }
}

#[test]
fn every_kind_of_event_encodes_to_the_same_bytes_as_ever() {
    let base = Base {
        account_no: ACCOUNT,
        position: 1_000,
        connected_on: day(0),
    };
    let mut all = Vec::new();
    let mut record = Vec::new();
    let mut position = 1_000;
    let registrations = [registration(false, false), registration(true, true)];
    let others = (0..23u8).flat_map(|kind| {
        (0..4u8).map(move |n| {
            event(
                kind,
                n,
                i64::from(kind) * 37 - 200,
                i64::from(n) * 12_345 - 1,
            )
        })
    });
    for event in registrations.into_iter().chain(others) {
        encode(base, position, &event, &mut record);
        all.push(record.len() as u8);
        all.extend_from_slice(&record);
        position += 3_000_000_007;
    }
    let hex: String = all.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, EXPECTED, "{hex}");
}

/// The records of the checkpoints already written.
const EXPECTED: &str = concat!(
    "4c0046e0a4b0e0a4bee0a4ae20e0a4aae0a58de0a4b0e0a4b8e0a4bee0a4a6202852616d20507261736164292c206120",
    "6e616d65206c6f6e676572207468616e203234206279746573a01f01006a1546e0a4b0e0a4bee0a4ae20e0a4aae0a58d",
    "e0a4b0e0a4b8e0a4bee0a4a6202852616d20507261736164292c2061206e616d65206c6f6e676572207468616e203234",
    "206279746573a01f010106ffeaadc0e52416486f75736520372c206e65617220fe206f66666963650f028ef882ad1603",
    "4230fe8f03050801110295b4c4c321034231fe8f03030af0c00111029cf085da2c034232fe8f03010ce281031102a3ac",
    "c7f037034233fe8f03000ed4c2040803034230fec502010a03034231fec502f0c0010a03034232fec502e281030a0303",
    "4233fec502d4c2040e04c6d88ee16f035230fe01fb01001004cd94d0f77a035231fef0c001fb01011104d4d0918e8601",
    "035232fee28103fb01021104db8cd3a49101035233fed4c204fb01030705035230feb1010705035231feb10107050352",
    "32feb1010705035233feb1012a06feb89a95c9010541444a2d3067011a726562617465206f6620ffb960206f6e20ffe9",
    "0f2d30342d30312c0685f5dbabd4010541444a2d3167f0c0011a726562617465206f6620ffb960206f6e20ffe90f2d30",
    "342d30312c068cb19dc2df010541444a2d3267e281031a726562617465206f6620ffb960206f6e20ffe90f2d30342d30",
    "312c0693edded8ea010541444a2d3367d4c2041a726562617465206f6620ffb960206f6e20ffe90f2d30342d30310e07",
    "9aa9a0eff501034230fe001d011007a1e5e1858102034231fe011df0c0011007a8a1a39c8c02034232fe021de2810310",
    "07afdde4b29702034233fe031dd4c2040b08074e2dfe2d3030302c010d08074e2dfe2d3030312cf0c0010d08074e2dfe",
    "2d3030322ce281030d08074e2dfe2d3030332cd4c2040b09074e2dfe2d30303076000b09074e2dfe2d30303176010b09",
    "074e2dfe2d30303276020b09074e2dfe2d30303376000c0a074e2dfe2d303030c001000c0a074e2dfe2d303031c00101",
    "0c0a074e2dfe2d303032c001020c0a074e2dfe2d303033c001000e0b8aeab7d7a8038a0204444f2d300e0b91a6f9edb3",
    "038a0204444f2d310e0b98e2ba84bf038a0204444f2d320e0b9f9efc9aca038a0204444f2d33090ca6dabdb1d503d402",
    "090cad96ffc7e003d402090cb4d2c0deeb03d402090cbb8e82f5f603d402090dc2cac38b82049e03090dc98685a28d04",
    "9e03090dd0c2c6b898049e03090dd7fe87cfa3049e03120edebac9e5ae04e8030852432fffe90f2f30120ee5f68afcb9",
    "04e8030852432fffe90f2f31120eecb2cc92c504e8030852432fffe90f2f32120ef3ee8da9d004e8030852432fffe90f",
    "2f33090fb2040101034230fe070fb204f0c001000b0fb204e2810301034232fe070fb204d4c204000310fc040310fc04",
    "0310fc040310fc04081103502d30c605000d1103502d31c60501c605f0c001121103502d32c60502c605e281038206e2",
    "8103171103502d33c60503c605d4c2048206d4c204be06d4c204071203502d309006071203502d319006071203502d32",
    "9006071203502d3390062a13eaebe6a78e0608fe2d62696c6c2d3006ff89b4c4c3210462696c6c0affb9e096ecf684db",
    "ae0f00da062a13f1a7a8be990608fe2d62696c6c2d3106ff89b4c4c3210462696c6c0affb9e096ecf684dbae0f01da06",
    "2a13f8e3e9d4a40608fe2d62696c6c2d3206ff89b4c4c3210462696c6c0affb9e096ecf684dbae0f00da062a13ff9fab",
    "ebaf0608fe2d62696c6c2d3306ff89b4c4c3210462696c6c0affb9e096ecf684dbae0f01da06161408fe2d62696c6c2d",
    "30000009617474656d70742030161408fe2d62696c6c2d31010109617474656d70742031161408fe2d62696c6c2d3202",
    "0209617474656d70742032161408fe2d62696c6c2d33030009617474656d70742033241608fe2d62696c6c2d30196e6f",
    "74206120726567697374657265642074656d706c617465241608fe2d62696c6c2d31196e6f7420612072656769737465",
    "7265642074656d706c617465241608fe2d62696c6c2d32196e6f74206120726567697374657265642074656d706c6174",
    "65241608fe2d62696c6c2d33196e6f74206120726567697374657265642074656d706c617465131708fe2d62696c6c2d",
    "30010744454c49565244131708fe2d62696c6c2d31000744454c49565244131708fe2d62696c6c2d32010744454c4956",
    "5244131708fe2d62696c6c2d33000744454c495652440b01820906ff80b4c4c321000b01820906ff81b4c4c321010b01",
    "820906ff82b4c4c321020b01820906ff83b4c4c3210300000000",
);
