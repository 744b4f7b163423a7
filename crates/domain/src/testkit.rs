//! Sample events of every kind about one consumer, for the tests of the aggregate and of the
//! journal's bytes (a unit test and an integration test build the same events). Not part of
//! the product's API.

use crate::event::*;
use crate::money::Money;
use crate::types::*;
use chrono::NaiveDate;

pub const ACCOUNT: &str = "UK0012345";

pub fn day(offset: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 4, 1).expect("a date") + chrono::Duration::days(offset)
}

pub fn registration(mobile: bool, address: bool) -> Event {
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
pub fn event(kind: u8, n: u8, offset: i64, paise: i64) -> Event {
    let a = ACCOUNT.to_string();
    let on = day(offset);
    let amount = Money::from_paise(paise);
    let bill_no = format!("B{n}{a}");
    let notice_no = format!("N-{a}-00{n}");
    let message_id = format!("{a}-bill-{n}");
    match kind % 24 {
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
        22 => Event::ActionVoided(ActionVoided {
            account_no: a,
            action: LadderAction::ALL[usize::from(n) % LadderAction::ALL.len()],
            action_on: on,
            voided_on: on,
            reason: "typed wrongly".into(),
        }),
        _ => Event::NightlyRunCompleted(NightlyRunCompleted { as_of: on }),
    }
}
