//! Deciding a command against the state it would change: `decide(view, command) -> event`.
//!
//! The caller supplies a [`StateView`] (the world as of the log's end plus whatever earlier
//! commands of the same batch decided), so a whole file can be checked before anything is
//! written. Nothing here does I/O.

use crate::command::Command;
use crate::event::*;
use crate::ladder::{account_of_notice, claim_paid, disconnection_allowed_on};
use crate::ledger::{ledger_as_of, Charges};
use crate::money::Money;
use crate::policy::Policy;
use crate::state::{Camp, Connection, Consumer, Grievance};
use crate::types::Level;
use std::borrow::Cow;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectionKind {
    /// A well-formed value that breaks a rule (HTTP 422).
    Unprocessable,
    /// An unknown office, account, bill, receipt, notice, camp or grievance (HTTP 404).
    NotFound,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub kind: RejectionKind,
    pub field: String,
    pub reason: String,
}

fn unprocessable(field: &str, reason: impl Into<String>) -> Rejection {
    Rejection {
        kind: RejectionKind::Unprocessable,
        field: field.to_string(),
        reason: reason.into(),
    }
}

fn not_found(field: &str, reason: impl Into<String>) -> Rejection {
    Rejection {
        kind: RejectionKind::NotFound,
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// What `decide` may read.
pub trait StateView {
    fn office_level(&self, code: &str) -> Option<Level>;
    fn consumer(&self, account_no: &str) -> Option<Cow<'_, Consumer>>;
    /// Whether a consumer exists; cheaper than `consumer` where only existence matters.
    fn has_consumer(&self, account_no: &str) -> bool {
        self.consumer(account_no).is_some()
    }
    fn camp(&self, camp_id: &str) -> Option<Cow<'_, Camp>>;
    fn grievance(&self, grievance_id: &str) -> Option<Cow<'_, Grievance>>;
    /// The account a bill or receipt number belongs to.
    fn account_of_bill(&self, bill_no: &str) -> Option<String>;
    fn account_of_receipt(&self, receipt_no: &str) -> Option<String>;
    fn policy(&self) -> &Policy;
}

fn need_account(view: &dyn StateView, account_no: &str) -> Result<(), Rejection> {
    if view.has_consumer(account_no) {
        Ok(())
    } else {
        Err(not_found(
            "account_no",
            format!("no consumer has account {account_no}"),
        ))
    }
}

fn need_consumer<'a>(
    view: &'a dyn StateView,
    account_no: &str,
) -> Result<Cow<'a, Consumer>, Rejection> {
    view.consumer(account_no).ok_or_else(|| {
        not_found(
            "account_no",
            format!("no consumer has account {account_no}"),
        )
    })
}

/// Decides one command: the event it records, or why it is refused.
pub fn decide(view: &dyn StateView, command: &Command) -> Result<Event, Rejection> {
    let policy = view.policy();
    Ok(match command.clone() {
        Command::RegisterOffice {
            code,
            name,
            level,
            parent,
        } => {
            match (level.parent_level(), &parent) {
                (None, Some(_)) => return Err(unprocessable("parent", "a zone has no parent")),
                (Some(l), None) => {
                    return Err(unprocessable(
                        "parent",
                        format!("a {level} needs a parent {l}"),
                    ))
                }
                (Some(l), Some(p)) => match view.office_level(p) {
                    None => return Err(not_found("parent", format!("no office has code {p}"))),
                    Some(found) if found != l => {
                        return Err(unprocessable(
                            "parent",
                            format!("{p} is a {found}, but a {level}'s parent must be a {l}"),
                        ))
                    }
                    Some(_) => {}
                },
                (None, None) => {}
            }
            Event::OfficeRegistered(OfficeRegistered {
                code,
                name,
                level,
                parent,
            })
        }
        Command::RegisterConsumer {
            account_no,
            name,
            category,
            subdivision,
            load_watts,
            connected_on,
            mobile,
            language,
            address,
        } => {
            match view.office_level(&subdivision) {
                None => {
                    return Err(not_found(
                        "subdivision",
                        format!("no office has code {subdivision}"),
                    ))
                }
                Some(Level::Subdivision) => {}
                Some(other) => {
                    return Err(unprocessable(
                        "subdivision",
                        format!("{subdivision} is a {other}, not a subdivision"),
                    ))
                }
            }
            Event::ConsumerRegistered(ConsumerRegistered {
                account_no,
                name,
                category,
                subdivision,
                load_watts,
                connected_on,
                mobile,
                language,
                address,
            })
        }
        Command::RegisterMobile {
            account_no,
            mobile,
            registered_on,
            source,
        } => {
            need_account(view, &account_no)?;
            Event::MobileRegistered(MobileRegistered {
                account_no,
                mobile,
                registered_on,
                source,
            })
        }
        Command::IssueBill {
            bill_no,
            account_no,
            period,
            issued_on,
            due_on,
            amount,
        } => {
            need_account(view, &account_no)?;
            Event::BillIssued(BillIssued {
                bill_no,
                account_no,
                period,
                issued_on,
                due_on,
                amount,
            })
        }
        Command::ReviseBill {
            bill_no,
            revised_on,
            new_amount,
            reason,
        } => {
            let account_no = view
                .account_of_bill(&bill_no)
                .ok_or_else(|| not_found("bill_no", format!("no bill has number {bill_no}")))?;
            let consumer = need_consumer(view, &account_no)?;
            let bill = consumer
                .bill(&bill_no)
                .ok_or_else(|| not_found("bill_no", format!("no bill has number {bill_no}")))?;
            if revised_on < bill.issued_on {
                return Err(unprocessable(
                    "revised_on",
                    format!(
                        "{revised_on} is before the bill was issued on {}",
                        bill.issued_on
                    ),
                ));
            }
            if let Some(latest) = bill.revisions.iter().map(|r| r.revised_on).max() {
                if revised_on < latest {
                    return Err(unprocessable(
                        "revised_on",
                        format!("{revised_on} is before the bill's latest revision on {latest}"),
                    ));
                }
            }
            let current = bill.current_amount();
            if new_amount >= current {
                return Err(unprocessable(
                    "new_amount",
                    format!("{new_amount} is not below the bill's amount {current}; bill a shortfall with a supplementary bill"),
                ));
            }
            Event::BillRevised(BillRevised {
                bill_no,
                account_no,
                revised_on,
                new_amount,
                reason,
            })
        }
        Command::ReceivePayment {
            receipt_no,
            account_no,
            amount,
            paid_on,
            channel,
        } => {
            need_account(view, &account_no)?;
            Event::PaymentReceived(PaymentReceived {
                receipt_no,
                account_no,
                amount,
                paid_on,
                channel,
            })
        }
        Command::ReversePayment {
            receipt_no,
            reversed_on,
            reason,
        } => {
            let account_no = view.account_of_receipt(&receipt_no).ok_or_else(|| {
                not_found("receipt_no", format!("no payment has receipt {receipt_no}"))
            })?;
            let consumer = need_consumer(view, &account_no)?;
            let payment = consumer
                .payments
                .iter()
                .find(|p| p.receipt_no == receipt_no)
                .ok_or_else(|| {
                    not_found("receipt_no", format!("no payment has receipt {receipt_no}"))
                })?;
            if payment.reversed_on.is_some() {
                return Err(unprocessable(
                    "receipt_no",
                    format!("payment {receipt_no} is already reversed"),
                ));
            }
            if reversed_on < payment.paid_on {
                return Err(unprocessable(
                    "reversed_on",
                    format!("{reversed_on} is before the payment on {}", payment.paid_on),
                ));
            }
            Event::PaymentReversed(PaymentReversed {
                receipt_no,
                account_no,
                reversed_on,
                reason,
            })
        }
        Command::PostAdjustment {
            adjustment_no,
            account_no,
            posted_on,
            amount,
            reason,
        } => {
            need_account(view, &account_no)?;
            Event::AdjustmentPosted(AdjustmentPosted {
                adjustment_no,
                account_no,
                posted_on,
                amount,
                reason,
            })
        }
        Command::ServeNotice {
            notice_no,
            served_on,
            mode,
        } => {
            let missing = || not_found("notice_no", format!("no notice has number {notice_no}"));
            let account_no = account_of_notice(&notice_no)
                .ok_or_else(missing)?
                .to_string();
            let consumer = view.consumer(&account_no).ok_or_else(missing)?;
            let case = consumer
                .cases
                .iter()
                .find(|c| c.notice_no == notice_no)
                .ok_or_else(missing)?;
            if case.served_on.is_some() {
                return Err(unprocessable(
                    "notice_no",
                    format!("notice {notice_no} was already served"),
                ));
            }
            if served_on < case.issued_on {
                return Err(unprocessable(
                    "served_on",
                    format!(
                        "{served_on} is before the notice was issued on {}",
                        case.issued_on
                    ),
                ));
            }
            if !case.open_on(served_on) {
                return Err(unprocessable(
                    "notice_no",
                    format!("notice {notice_no} is no longer open on {served_on}"),
                ));
            }
            Event::NoticeServed(NoticeServed {
                notice_no,
                account_no,
                served_on,
                mode,
            })
        }
        Command::Disconnect {
            account_no,
            on,
            order_no,
        } => {
            let consumer = need_consumer(view, &account_no)?;
            if consumer.connection_as_of(on) != Connection::Connected {
                return Err(unprocessable(
                    "account_no",
                    format!("{account_no} is not connected on {on}"),
                ));
            }
            let case = consumer.open_case(on).ok_or_else(|| {
                unprocessable(
                    "account_no",
                    format!("{account_no} has no open notice on {on}"),
                )
            })?;
            let served = case.served_by(on).ok_or_else(|| {
                unprocessable(
                    "account_no",
                    format!("notice {} has not been served by {on}", case.notice_no),
                )
            })?;
            let allowed = disconnection_allowed_on(served, policy);
            if on < allowed {
                return Err(unprocessable(
                    "on",
                    format!("notice {} was served on {served}; s.56(1) allows disconnection from {allowed}", case.notice_no),
                ));
            }
            if consumer.dispute_in_force(on).is_some() {
                return Err(unprocessable(
                    "account_no",
                    format!("{account_no} has a dispute pending on {on}"),
                ));
            }
            if consumer.plan_in_force(on).is_some() {
                return Err(unprocessable(
                    "account_no",
                    format!("{account_no} has an instalment plan in force on {on}"),
                ));
            }
            let ledger = ledger_as_of(&consumer, on, Charges::All, &[]);
            if !ledger.overdue_arrears.is_positive() {
                return Err(unprocessable(
                    "account_no",
                    format!("{account_no} has no overdue arrears on {on}"),
                ));
            }
            if claim_paid(&consumer, case, &ledger) {
                return Err(unprocessable(
                    "account_no",
                    format!(
                        "the sum notice {} claimed was paid by {on}; a disconnection needs a notice whose sum is unpaid",
                        case.notice_no
                    ),
                ));
            }
            Event::Disconnected(Disconnected {
                account_no,
                on,
                order_no,
            })
        }
        Command::Reconnect { account_no, on } => {
            let consumer = need_consumer(view, &account_no)?;
            match consumer.connection_as_of(on) {
                Connection::Disconnected { .. } => {}
                Connection::Connected => {
                    return Err(unprocessable(
                        "account_no",
                        format!("{account_no} is connected on {on}"),
                    ))
                }
                Connection::PermanentlyDisconnected { .. } => {
                    return Err(unprocessable(
                        "account_no",
                        format!("{account_no} is permanently disconnected"),
                    ))
                }
            }
            let ledger = ledger_as_of(&consumer, on, Charges::All, &[]);
            if ledger.overdue_arrears > Money::ZERO && consumer.plan_in_force(on).is_none() {
                return Err(unprocessable(
                    "account_no",
                    format!("{account_no} still owes {} overdue on {on}; reconnection needs it paid or a plan in force", ledger.overdue_arrears),
                ));
            }
            Event::Reconnected(Reconnected { account_no, on })
        }
        Command::PermanentlyDisconnect { account_no, on } => {
            let consumer = need_consumer(view, &account_no)?;
            let Connection::Disconnected { since } = consumer.connection_as_of(on) else {
                return Err(unprocessable(
                    "account_no",
                    format!("{account_no} is not disconnected on {on}"),
                ));
            };
            let days = (on - since).num_days();
            if days < policy.permanent_disconnection.after_days {
                return Err(unprocessable(
                    "on",
                    format!("{account_no} was disconnected on {since}, {days} days before; permanent disconnection needs {}", policy.permanent_disconnection.after_days),
                ));
            }
            Event::PermanentlyDisconnected(PermanentlyDisconnected { account_no, on })
        }
        Command::IssueRecoveryCertificate {
            account_no,
            rc_no,
            on,
        } => {
            let consumer = need_consumer(view, &account_no)?;
            match consumer.connection_as_of(on) {
                Connection::PermanentlyDisconnected {
                    rc_issued: false, ..
                } => {}
                Connection::PermanentlyDisconnected {
                    rc_issued: true, ..
                } => {
                    return Err(unprocessable(
                        "account_no",
                        format!("{account_no} already has a recovery certificate"),
                    ))
                }
                _ => {
                    return Err(unprocessable(
                        "account_no",
                        format!("{account_no} is not permanently disconnected on {on}"),
                    ))
                }
            }
            Event::RecoveryCertificateIssued(RecoveryCertificateIssued {
                account_no,
                rc_no,
                on,
            })
        }
        Command::RaiseDispute {
            account_no,
            on,
            deposit,
            bill_no,
        } => {
            let consumer = need_consumer(view, &account_no)?;
            if consumer.dispute_in_force(on).is_some() {
                return Err(unprocessable(
                    "account_no",
                    format!("{account_no} already has a dispute pending on {on}"),
                ));
            }
            if let Some(b) = &bill_no {
                if consumer.bill(b).is_none() {
                    return Err(not_found(
                        "bill_no",
                        format!("{account_no} has no bill {b}"),
                    ));
                }
            }
            Event::DisputeRaised(DisputeRaised {
                account_no,
                on,
                deposit,
                bill_no,
            })
        }
        Command::ResolveDispute { account_no, on } => {
            let consumer = need_consumer(view, &account_no)?;
            let dispute = consumer.dispute_in_force(on).ok_or_else(|| {
                unprocessable(
                    "account_no",
                    format!("{account_no} has no dispute pending on {on}"),
                )
            })?;
            debug_assert!(dispute.on <= on);
            Event::DisputeResolved(DisputeResolved { account_no, on })
        }
        Command::GrantInstallmentPlan {
            plan_id,
            account_no,
            granted_on,
            installments,
        } => {
            let consumer = need_consumer(view, &account_no)?;
            if consumer.plan_in_force(granted_on).is_some() {
                return Err(unprocessable(
                    "account_no",
                    format!("{account_no} already has a plan in force on {granted_on}"),
                ));
            }
            Event::InstallmentPlanGranted(InstallmentPlanGranted {
                plan_id,
                account_no,
                granted_on,
                installments,
            })
        }
        Command::ScheduleCamp {
            camp_id,
            subdivision,
            on,
            venue,
        } => {
            match view.office_level(&subdivision) {
                None => {
                    return Err(not_found(
                        "subdivision",
                        format!("no office has code {subdivision}"),
                    ))
                }
                Some(Level::Subdivision) => {}
                Some(other) => {
                    return Err(unprocessable(
                        "subdivision",
                        format!("{subdivision} is a {other}, not a subdivision"),
                    ))
                }
            }
            Event::CampScheduled(CampScheduled {
                camp_id,
                subdivision,
                on,
                venue,
            })
        }
        Command::HoldCamp {
            camp_id,
            held_on,
            officers_present,
        } => {
            let camp = view
                .camp(&camp_id)
                .ok_or_else(|| not_found("camp_id", format!("no camp has id {camp_id}")))?;
            if camp.held_on.is_some() {
                return Err(unprocessable(
                    "camp_id",
                    format!("camp {camp_id} was already held"),
                ));
            }
            Event::CampHeld(CampHeld {
                camp_id,
                held_on,
                officers_present,
            })
        }
        Command::RegisterGrievance {
            grievance_id,
            subdivision,
            category,
            registered_on,
            account_no,
            camp_id,
        } => {
            match view.office_level(&subdivision) {
                None => {
                    return Err(not_found(
                        "subdivision",
                        format!("no office has code {subdivision}"),
                    ))
                }
                Some(Level::Subdivision) => {}
                Some(other) => {
                    return Err(unprocessable(
                        "subdivision",
                        format!("{subdivision} is a {other}, not a subdivision"),
                    ))
                }
            }
            if let Some(a) = &account_no {
                need_account(view, a)?;
            }
            if let Some(c) = &camp_id {
                if view.camp(c).is_none() {
                    return Err(not_found("camp_id", format!("no camp has id {c}")));
                }
            }
            Event::GrievanceRegistered(GrievanceRegistered {
                grievance_id,
                subdivision,
                account_no,
                camp_id,
                category,
                registered_on,
            })
        }
        Command::ResolveGrievance {
            grievance_id,
            resolved_on,
            note,
        } => {
            let g = view.grievance(&grievance_id).ok_or_else(|| {
                not_found(
                    "grievance_id",
                    format!("no grievance has id {grievance_id}"),
                )
            })?;
            if g.resolved_on.is_some() {
                return Err(unprocessable(
                    "grievance_id",
                    format!("grievance {grievance_id} is already resolved"),
                ));
            }
            if resolved_on < g.registered_on {
                return Err(unprocessable(
                    "resolved_on",
                    format!(
                        "{resolved_on} is before it was registered on {}",
                        g.registered_on
                    ),
                ));
            }
            Event::GrievanceResolved(GrievanceResolved {
                grievance_id,
                resolved_on,
                note,
            })
        }
    })
}

/// Builds the event a command would record, resolving accounts but checking no rule. The
/// caller uses it to recognise a command already recorded (same natural key and content),
/// which is then skipped rather than refused by rules its own event has since changed.
pub fn event_of(view: &dyn StateView, command: &Command) -> Option<Event> {
    Some(match command.clone() {
        Command::RegisterOffice {
            code,
            name,
            level,
            parent,
        } => Event::OfficeRegistered(OfficeRegistered {
            code,
            name,
            level,
            parent,
        }),
        Command::RegisterConsumer {
            account_no,
            name,
            category,
            subdivision,
            load_watts,
            connected_on,
            mobile,
            language,
            address,
        } => Event::ConsumerRegistered(ConsumerRegistered {
            account_no,
            name,
            category,
            subdivision,
            load_watts,
            connected_on,
            mobile,
            language,
            address,
        }),
        Command::RegisterMobile {
            account_no,
            mobile,
            registered_on,
            source,
        } => Event::MobileRegistered(MobileRegistered {
            account_no,
            mobile,
            registered_on,
            source,
        }),
        Command::IssueBill {
            bill_no,
            account_no,
            period,
            issued_on,
            due_on,
            amount,
        } => Event::BillIssued(BillIssued {
            bill_no,
            account_no,
            period,
            issued_on,
            due_on,
            amount,
        }),
        Command::ReviseBill {
            bill_no,
            revised_on,
            new_amount,
            reason,
        } => {
            let account_no = view.account_of_bill(&bill_no)?;
            Event::BillRevised(BillRevised {
                bill_no,
                account_no,
                revised_on,
                new_amount,
                reason,
            })
        }
        Command::ReceivePayment {
            receipt_no,
            account_no,
            amount,
            paid_on,
            channel,
        } => Event::PaymentReceived(PaymentReceived {
            receipt_no,
            account_no,
            amount,
            paid_on,
            channel,
        }),
        Command::ReversePayment {
            receipt_no,
            reversed_on,
            reason,
        } => {
            let account_no = view.account_of_receipt(&receipt_no)?;
            Event::PaymentReversed(PaymentReversed {
                receipt_no,
                account_no,
                reversed_on,
                reason,
            })
        }
        Command::PostAdjustment {
            adjustment_no,
            account_no,
            posted_on,
            amount,
            reason,
        } => Event::AdjustmentPosted(AdjustmentPosted {
            adjustment_no,
            account_no,
            posted_on,
            amount,
            reason,
        }),
        Command::ServeNotice {
            notice_no,
            served_on,
            mode,
        } => {
            let account_no = account_of_notice(&notice_no)?.to_string();
            Event::NoticeServed(NoticeServed {
                notice_no,
                account_no,
                served_on,
                mode,
            })
        }
        Command::Disconnect {
            account_no,
            on,
            order_no,
        } => Event::Disconnected(Disconnected {
            account_no,
            on,
            order_no,
        }),
        Command::Reconnect { account_no, on } => Event::Reconnected(Reconnected { account_no, on }),
        Command::PermanentlyDisconnect { account_no, on } => {
            Event::PermanentlyDisconnected(PermanentlyDisconnected { account_no, on })
        }
        Command::IssueRecoveryCertificate {
            account_no,
            rc_no,
            on,
        } => Event::RecoveryCertificateIssued(RecoveryCertificateIssued {
            account_no,
            rc_no,
            on,
        }),
        Command::RaiseDispute {
            account_no,
            on,
            deposit,
            bill_no,
        } => Event::DisputeRaised(DisputeRaised {
            account_no,
            on,
            deposit,
            bill_no,
        }),
        Command::ResolveDispute { account_no, on } => {
            Event::DisputeResolved(DisputeResolved { account_no, on })
        }
        Command::GrantInstallmentPlan {
            plan_id,
            account_no,
            granted_on,
            installments,
        } => Event::InstallmentPlanGranted(InstallmentPlanGranted {
            plan_id,
            account_no,
            granted_on,
            installments,
        }),
        Command::ScheduleCamp {
            camp_id,
            subdivision,
            on,
            venue,
        } => Event::CampScheduled(CampScheduled {
            camp_id,
            subdivision,
            on,
            venue,
        }),
        Command::HoldCamp {
            camp_id,
            held_on,
            officers_present,
        } => Event::CampHeld(CampHeld {
            camp_id,
            held_on,
            officers_present,
        }),
        Command::RegisterGrievance {
            grievance_id,
            subdivision,
            category,
            registered_on,
            account_no,
            camp_id,
        } => Event::GrievanceRegistered(GrievanceRegistered {
            grievance_id,
            subdivision,
            account_no,
            camp_id,
            category,
            registered_on,
        }),
        Command::ResolveGrievance {
            grievance_id,
            resolved_on,
            note,
        } => Event::GrievanceResolved(GrievanceResolved {
            grievance_id,
            resolved_on,
            note,
        }),
    })
}
