//! The one event builder: the event a command records, once its family's module has checked
//! it. Accounts a command names through a bill, receipt or notice are resolved here; no rule
//! is checked.

use super::StateView;
use crate::command::Command;
use crate::event::*;
use crate::ladder::account_of_notice;

/// Builds the event a command would record, resolving accounts but checking no rule; `None`
/// when the bill, receipt or notice a command names is not recorded. [`super::decide`] calls
/// it once a command's rules are checked; the engine also uses it to recognise a command
/// already recorded (same natural key and content), which is then skipped rather than
/// refused by rules its own event has since changed.
pub fn build_event(view: &dyn StateView, command: &Command) -> Option<Event> {
    let command = command.clone();
    match command {
        Command::RegisterOffice { .. }
        | Command::RegisterConsumer { .. }
        | Command::RegisterMobile { .. } => Some(registry_event(command)),
        Command::IssueBill { .. } | Command::ReviseBill { .. } => bill_event(view, command),
        Command::ReceivePayment { .. }
        | Command::ReversePayment { .. }
        | Command::PostAdjustment { .. } => payment_event(view, command),
        Command::ServeNotice { .. }
        | Command::Disconnect { .. }
        | Command::Reconnect { .. }
        | Command::PermanentlyDisconnect { .. }
        | Command::IssueRecoveryCertificate { .. } => connection_event(command),
        Command::RaiseDispute { .. }
        | Command::ResolveDispute { .. }
        | Command::GrantInstallmentPlan { .. } => Some(relief_event(command)),
        Command::ScheduleCamp { .. }
        | Command::HoldCamp { .. }
        | Command::RegisterGrievance { .. }
        | Command::ResolveGrievance { .. } => Some(camp_event(command)),
        Command::VoidAction {
            account_no,
            action,
            action_on,
            voided_on,
            reason,
        } => Some(Event::ActionVoided(ActionVoided {
            account_no,
            action,
            action_on,
            voided_on,
            reason,
        })),
    }
}

/// Offices, consumers and their mobiles.
fn registry_event(command: Command) -> Event {
    match command {
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
        other => unreachable!("{} is built elsewhere", other.type_name()),
    }
}

/// Bills and their revisions.
fn bill_event(view: &dyn StateView, command: Command) -> Option<Event> {
    Some(match command {
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
        other => unreachable!("{} is built elsewhere", other.type_name()),
    })
}

/// Payments, reversals and adjustments.
fn payment_event(view: &dyn StateView, command: Command) -> Option<Event> {
    Some(match command {
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
        other => unreachable!("{} is built elsewhere", other.type_name()),
    })
}

/// Notices served and the connection.
fn connection_event(command: Command) -> Option<Event> {
    Some(match command {
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
        other => unreachable!("{} is built elsewhere", other.type_name()),
    })
}

/// Disputes and instalment plans.
fn relief_event(command: Command) -> Event {
    match command {
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
        other => unreachable!("{} is built elsewhere", other.type_name()),
    }
}

/// Camps and grievances.
fn camp_event(command: Command) -> Event {
    match command {
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
        other => unreachable!("{} is built elsewhere", other.type_name()),
    }
}
