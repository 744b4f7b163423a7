//! One consumer as an aggregate: the [`Change`]s an event makes to a consumer's history, and
//! [`Consumer::apply`], the one place a consumer's state changes.
//!
//! The world keeps a consumer's history as a journal of compact records (see `journal`);
//! a record holds exactly one [`Change`], so reading a consumer back is decoding its records
//! and applying them in order. The nightly run applies the changes it decides the same way
//! before its later stages look at the consumer.

use crate::event::Event;
use crate::money::Money;
use crate::state::{
    Adjustment, Bill, BillMonth, Case, ConnectionChange, ConnectionEvent, Consumer, Dispute,
    MobileRegistration, Payment, Plan, Revision, SmsDelivery, SmsMessage, Text,
};
use crate::types::*;
use chrono::NaiveDate;

/// What one event does to a consumer's history: the fields of the event the history keeps.
/// A change says what the event said, not what it did: a revision names its bill, a reversal
/// its receipt, and [`Consumer::apply`] finds them (an event about a bill the consumer does
/// not have changes nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Registered {
        name: Text,
        load_watts: i64,
        language: Language,
        mobile: Option<Text>,
        address: Option<Text>,
    },
    Mobile(MobileRegistration),
    Bill(Bill),
    BillRevised {
        bill_no: Text,
        revision: Revision,
    },
    Payment(Payment),
    PaymentReversed {
        receipt_no: Text,
        reversed_on: NaiveDate,
    },
    Adjustment(Adjustment),
    Surcharge {
        bill_no: Text,
        anniversary: u32,
        levied_on: NaiveDate,
        amount: Money,
        position: u64,
    },
    Notice {
        notice_no: Text,
        issued_on: NaiveDate,
        overdue_arrears: Money,
    },
    NoticeServed {
        notice_no: Text,
        served_on: NaiveDate,
        mode: NoticeMode,
    },
    CaseClosed {
        notice_no: Text,
        closed_on: NaiveDate,
        reason: CaseCloseReason,
    },
    Connection(ConnectionEvent),
    Dispute(Dispute),
    DisputeResolved {
        on: NaiveDate,
    },
    Plan(Plan),
    PlanBroken {
        plan_id: Text,
        on: NaiveDate,
    },
    SmsQueued(SmsMessage),
    SmsAttempted {
        message_id: Text,
        attempt: u32,
        outcome: SmsOutcome,
        detail: String,
    },
    SmsRejected {
        message_id: Text,
        reason: String,
    },
    SmsDelivery {
        message_id: Text,
        delivery: SmsDelivery,
    },
    /// An officer's ladder action voided as a mistake ([`crate::correction`]).
    Voided {
        action: LadderAction,
        action_on: NaiveDate,
    },
}

impl Change {
    /// The change an event at log `position` makes to its consumer's history; `None` for an
    /// event that is not about a consumer's history.
    pub fn of(position: u64, event: &Event) -> Option<Change> {
        Self::of_ledger(position, event)
            .or_else(|| Self::of_ladder(position, event))
            .or_else(|| Self::of_sms(position, event))
    }

    /// Registration, mobiles, bills, payments, adjustments and surcharges.
    fn of_ledger(position: u64, event: &Event) -> Option<Change> {
        Some(match event {
            Event::ConsumerRegistered(e) => Change::Registered {
                name: e.name.as_str().into(),
                load_watts: e.load_watts,
                language: e.language,
                mobile: e.mobile.as_deref().map(Text::from),
                address: e.address.as_deref().map(Text::from),
            },
            Event::MobileRegistered(e) => Change::Mobile(MobileRegistration {
                registered_on: e.registered_on,
                mobile: e.mobile.as_str().into(),
                source: Some(e.source),
            }),
            Event::BillIssued(e) => Change::Bill(Bill {
                bill_no: e.bill_no.as_str().into(),
                period: BillMonth::of_bill(&e.period),
                issued_on: e.issued_on,
                due_on: e.due_on,
                amount: e.amount,
                revisions: Default::default(),
                position,
            }),
            Event::BillRevised(e) => Change::BillRevised {
                bill_no: e.bill_no.as_str().into(),
                revision: Revision {
                    revised_on: e.revised_on,
                    new_amount: e.new_amount,
                },
            },
            Event::PaymentReceived(e) => Change::Payment(Payment {
                receipt_no: e.receipt_no.as_str().into(),
                amount: e.amount,
                paid_on: e.paid_on,
                channel: e.channel,
                reversed_on: None,
                position,
            }),
            Event::PaymentReversed(e) => Change::PaymentReversed {
                receipt_no: e.receipt_no.as_str().into(),
                reversed_on: e.reversed_on,
            },
            Event::AdjustmentPosted(e) => Change::Adjustment(Adjustment {
                adjustment_no: e.adjustment_no.as_str().into(),
                posted_on: e.posted_on,
                amount: e.amount,
                reason: e.reason.clone(),
                position,
            }),
            Event::SurchargeLevied(e) => Change::Surcharge {
                bill_no: e.bill_no.as_str().into(),
                anniversary: e.anniversary,
                levied_on: e.levied_on,
                amount: e.amount,
                position,
            },
            _ => return None,
        })
    }

    /// Notices, cases, the connection, disputes and plans.
    fn of_ladder(position: u64, event: &Event) -> Option<Change> {
        let connection = |on, change| {
            Change::Connection(ConnectionEvent {
                on,
                change,
                position,
            })
        };
        Some(match event {
            Event::NoticeIssued(e) => Change::Notice {
                notice_no: e.notice_no.as_str().into(),
                issued_on: e.issued_on,
                overdue_arrears: e.overdue_arrears,
            },
            Event::NoticeServed(e) => Change::NoticeServed {
                notice_no: e.notice_no.as_str().into(),
                served_on: e.served_on,
                mode: e.mode,
            },
            Event::CaseClosed(e) => Change::CaseClosed {
                notice_no: e.notice_no.as_str().into(),
                closed_on: e.closed_on,
                reason: e.reason,
            },
            Event::Disconnected(e) => connection(
                e.on,
                ConnectionChange::Disconnected {
                    order_no: e.order_no.as_str().into(),
                },
            ),
            Event::Reconnected(e) => connection(e.on, ConnectionChange::Reconnected),
            Event::PermanentlyDisconnected(e) => {
                connection(e.on, ConnectionChange::PermanentlyDisconnected)
            }
            Event::RecoveryCertificateIssued(e) => connection(
                e.on,
                ConnectionChange::RecoveryCertificate {
                    rc_no: e.rc_no.as_str().into(),
                },
            ),
            Event::DisputeRaised(e) => Change::Dispute(Dispute {
                on: e.on,
                deposit: e.deposit,
                bill_no: e.bill_no.as_deref().map(Text::from),
                resolved_on: None,
            }),
            Event::DisputeResolved(e) => Change::DisputeResolved { on: e.on },
            Event::InstallmentPlanGranted(e) => Change::Plan(Plan {
                plan_id: e.plan_id.as_str().into(),
                granted_on: e.granted_on,
                installments: e.installments.clone(),
                broken_on: None,
            }),
            Event::InstallmentPlanBroken(e) => Change::PlanBroken {
                plan_id: e.plan_id.as_str().into(),
                on: e.on,
            },
            Event::ActionVoided(e) => Change::Voided {
                action: e.action,
                action_on: e.action_on,
            },
            _ => return None,
        })
    }

    /// The SMS messages and what became of them.
    fn of_sms(position: u64, event: &Event) -> Option<Change> {
        Some(match event {
            Event::SmsQueued(e) => Change::SmsQueued(SmsMessage {
                message_id: e.message_id.as_str().into(),
                mobile: e.mobile.as_str().into(),
                template: e.template.as_str().into(),
                dlt_template_id: e.dlt_template_id.as_str().into(),
                language: e.language,
                position,
                queued_on: e.queued_on,
                attempts: 0,
                last_outcome: None,
                last_detail: String::new(),
                rejected: false,
                delivery: None,
            }),
            Event::SmsAttempted(e) => Change::SmsAttempted {
                message_id: e.message_id.as_str().into(),
                attempt: e.attempt,
                outcome: e.outcome,
                detail: e.detail.clone(),
            },
            Event::SmsRejected(e) => Change::SmsRejected {
                message_id: e.message_id.as_str().into(),
                reason: e.reason.clone(),
            },
            Event::SmsDeliveryReported(e) => Change::SmsDelivery {
                message_id: e.message_id.as_str().into(),
                delivery: SmsDelivery {
                    delivered: e.delivered,
                    reason: e.reason.clone(),
                },
            },
            _ => return None,
        })
    }
}

impl Consumer {
    /// The consumer a registration at log `position` records; `None` for any other event.
    pub fn registered(position: u64, event: &Event) -> Option<Consumer> {
        let Event::ConsumerRegistered(e) = event else {
            return None;
        };
        let mut consumer = Consumer::empty(&e.account_no, position, e.connected_on);
        consumer.subdivision = e.subdivision.as_str().into();
        consumer.category = e.category;
        consumer.apply(Change::of(position, event)?);
        Some(consumer)
    }

    /// Applies one change to the consumer's history: the only code that changes a consumer.
    /// Changes apply in log order, exactly as they were recorded.
    pub fn apply(&mut self, change: Change) {
        match change {
            Change::Registered {
                name,
                load_watts,
                language,
                mobile,
                address,
            } => {
                self.name = name;
                self.load_watts = load_watts;
                self.language = language;
                if let Some(mobile) = mobile {
                    self.mobiles.push(MobileRegistration {
                        registered_on: self.connected_on,
                        mobile,
                        source: None,
                    });
                }
                if address.is_some() {
                    self.address = address;
                }
            }
            Change::Mobile(m) => self.mobiles.push(m),
            Change::Bill(bill) => self.bills.push(bill),
            Change::Payment(payment) => self.payments.push(payment),
            Change::Adjustment(adjustment) => self.adjustments.push(adjustment),
            Change::Dispute(dispute) => self.disputes.push(dispute),
            Change::Plan(plan) => self.plans.push(plan),
            Change::SmsQueued(message) => self.sms.push(message),
            ledger @ (Change::BillRevised { .. }
            | Change::PaymentReversed { .. }
            | Change::Surcharge { .. }) => self.apply_ledger(ledger),
            sms @ (Change::SmsAttempted { .. }
            | Change::SmsRejected { .. }
            | Change::SmsDelivery { .. }) => self.apply_sms(sms),
            ladder => self.apply_ladder(ladder),
        }
    }

    fn apply_ledger(&mut self, change: Change) {
        match change {
            Change::BillRevised { bill_no, revision } => {
                if let Some(bill) = self.bills.iter_mut().find(|b| b.bill_no == bill_no) {
                    bill.revisions.push(revision);
                }
            }
            Change::PaymentReversed {
                receipt_no,
                reversed_on,
            } => {
                if let Some(p) = self
                    .payments
                    .iter_mut()
                    .find(|p| p.receipt_no == receipt_no)
                {
                    p.reversed_on = Some(reversed_on);
                }
            }
            Change::Surcharge {
                bill_no,
                anniversary,
                levied_on,
                amount,
                position,
            } => {
                // The nightly run levies only on bills in the history.
                if let Some(bill) = self.bill_index(&bill_no) {
                    self.surcharges.push(crate::state::Surcharge {
                        bill,
                        anniversary,
                        levied_on,
                        amount,
                        position,
                    });
                }
            }
            other => unreachable!("not a ledger change: {other:?}"),
        }
    }

    fn apply_ladder(&mut self, change: Change) {
        match change {
            Change::Notice {
                notice_no,
                issued_on,
                overdue_arrears,
            } => self.cases.push(Case {
                notice_no,
                issued_on,
                overdue_arrears_at_issue: overdue_arrears,
                served_on: None,
                mode: None,
                closed_on: None,
                close_reason: None,
            }),
            Change::NoticeServed {
                notice_no,
                served_on,
                mode,
            } => {
                if let Some(case) = self.cases.iter_mut().find(|k| k.notice_no == notice_no) {
                    case.served_on = Some(served_on);
                    case.mode = Some(mode);
                }
            }
            Change::CaseClosed {
                notice_no,
                closed_on,
                reason,
            } => {
                if let Some(case) = self.cases.iter_mut().find(|k| k.notice_no == notice_no) {
                    if case.closed_on.is_none() {
                        case.closed_on = Some(closed_on);
                        case.close_reason = Some(reason);
                    }
                }
            }
            Change::Connection(event) => self.apply_connection(event),
            Change::DisputeResolved { on } => {
                if let Some(d) = self
                    .disputes
                    .iter_mut()
                    .rev()
                    .find(|d| d.resolved_on.is_none())
                {
                    d.resolved_on = Some(on);
                }
            }
            Change::PlanBroken { plan_id, on } => {
                if let Some(p) = self.plans.iter_mut().find(|p| p.plan_id == plan_id) {
                    p.broken_on = Some(on);
                }
            }
            Change::Voided { action, action_on } => self.apply_void(action, action_on),
            other => unreachable!("not a ladder change: {other:?}"),
        }
    }

    /// Undoes the action voided: the service of the notice served that day, or the connection
    /// change made that day (a reconnection voided reopens the cases it closed).
    fn apply_void(&mut self, action: LadderAction, on: NaiveDate) {
        if action == LadderAction::ServeNotice {
            if let Some(case) = self
                .cases
                .iter_mut()
                .rev()
                .find(|k| k.served_on == Some(on))
            {
                case.served_on = None;
                case.mode = None;
            }
            return;
        }
        let Some(index) = self
            .connection
            .iter()
            .rposition(|c| c.on == on && crate::correction::action_of(&c.change) == action)
        else {
            return;
        };
        self.connection.remove(index);
        if action == LadderAction::Reconnect {
            for case in self.cases.iter_mut().filter(|k| {
                k.closed_on == Some(on) && k.close_reason == Some(CaseCloseReason::Reconnected)
            }) {
                case.closed_on = None;
                case.close_reason = None;
            }
        }
    }

    fn apply_connection(&mut self, event: ConnectionEvent) {
        let on = event.on;
        let reconnected = event.change == ConnectionChange::Reconnected;
        self.connection.push(event);
        if reconnected {
            // A reconnection closes the case that led to the disconnection.
            for case in self
                .cases
                .iter_mut()
                .filter(|k| k.closed_on.is_none() && k.issued_on <= on)
            {
                case.closed_on = Some(on);
                case.close_reason = Some(CaseCloseReason::Reconnected);
            }
        }
    }

    fn apply_sms(&mut self, change: Change) {
        let id = match &change {
            Change::SmsAttempted { message_id, .. }
            | Change::SmsRejected { message_id, .. }
            | Change::SmsDelivery { message_id, .. } => message_id,
            other => unreachable!("not an SMS change: {other:?}"),
        };
        let Some(m) = self.sms.iter_mut().find(|m| m.message_id == *id) else {
            return;
        };
        match change {
            Change::SmsAttempted {
                attempt,
                outcome,
                detail,
                ..
            } => {
                m.attempts = m.attempts.max(attempt);
                m.last_outcome = Some(outcome);
                m.last_detail = detail;
            }
            Change::SmsRejected { reason, .. } => {
                m.rejected = true;
                m.last_outcome = Some(SmsOutcome::Failed);
                m.last_detail = reason;
            }
            Change::SmsDelivery { delivery, .. } => m.delivery = Some(delivery),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::*;
    use crate::journal::{self, Base};
    use crate::state::World;
    use proptest::prelude::*;

    use crate::testkit::{day, event, registration, ACCOUNT};

    fn events() -> impl Strategy<Value = (bool, bool, Vec<Event>)> {
        (
            any::<bool>(),
            any::<bool>(),
            prop::collection::vec(
                (any::<u8>(), 0u8..4, -400i64..800, -1_000_000i64..10_000_000)
                    .prop_map(|(kind, n, offset, paise)| event(kind, n, offset, paise)),
                0..60,
            ),
        )
    }

    proptest! {
        /// Every record decodes to the change its event makes, and a consumer read back from
        /// its journal (rebuilt from the log) equals the consumer the changes build one by one.
        #[test]
        fn the_journal_round_trips_and_a_rebuild_equals_applying_one_by_one(
            (mobile, address, history) in events(),
            gaps in prop::collection::vec(1u64..5_000_000_000, 61),
        ) {
            let registered = registration(mobile, address);
            let mut world = World::default();
            let mut incremental = Consumer::registered(gaps[0], &registered).expect("a registration");
            world.apply(gaps[0], &registered);
            let mut position = gaps[0];
            for (event, gap) in history.iter().zip(&gaps[1..]) {
                position += gap;
                world.apply(position, event);
                let base = Base { account_no: ACCOUNT, position: incremental.position, connected_on: day(0) };
                let mut record = Vec::new();
                journal::encode(base, position, event, &mut record);
                let change = Change::of(position, event);
                prop_assert_eq!(record.is_empty(), change.is_none(), "{:?}", event);
                if let Some(change) = change {
                    let mut decoded = Consumer::empty(ACCOUNT, incremental.position, day(0));
                    let mut expected = decoded.clone();
                    prop_assert_eq!(journal::replay(base, &record, &mut decoded), Ok(1));
                    expected.apply(change.clone());
                    prop_assert_eq!(decoded, expected, "{:?}", change);
                    if !matches!(event, Event::ConsumerRegistered(_)) {
                        incremental.apply(change);
                    }
                }
            }
            let stored = world.stored_consumer(ACCOUNT).expect("registered");
            prop_assert_eq!(stored.check(), Ok(()));
            let rebuilt = world.consumer(ACCOUNT).expect("registered");
            prop_assert_eq!(rebuilt, incremental);
        }
    }

    #[test]
    fn a_journal_whose_positions_go_back_does_not_read() {
        let base = Base {
            account_no: ACCOUNT,
            position: 10,
            connected_on: day(0),
        };
        let mut journal = Vec::new();
        let mut record = Vec::new();
        for position in [20, 30] {
            journal::encode(base, position, &event(2, 1, 5, 100), &mut record);
            journal.extend_from_slice(&record);
        }
        assert_eq!(journal::check(base, &journal), Ok(()));
        let mut back = Vec::new();
        for position in [30, 20] {
            journal::encode(base, position, &event(2, 1, 5, 100), &mut record);
            back.extend_from_slice(&record);
        }
        let err = journal::check(base, &back).expect_err("positions go back");
        assert_eq!(err.what, "a position not after the record before");
        assert_eq!(err.at, journal.len() / 2);
    }
}
