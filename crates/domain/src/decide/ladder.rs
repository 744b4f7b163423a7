//! Deciding the recovery ladder's commands: serving notices, disconnection, reconnection,
//! permanent disconnection and recovery certificates, disputes and instalment plans.

use super::{need_consumer, not_found, unprocessable, Rejection, StateView};
use crate::command::Command;
use crate::ladder::{account_of_notice, claim_paid, disconnection_allowed_on};
use crate::ledger::{ledger_as_of, Charges};
use crate::money::Money;
use crate::state::Connection;
use chrono::NaiveDate;

/// Checks a ladder command against the rules.
pub(super) fn check(view: &dyn StateView, command: &Command) -> Result<(), Rejection> {
    match command {
        Command::ServeNotice {
            notice_no,
            served_on,
            ..
        } => serve_notice(view, notice_no, *served_on),
        Command::Disconnect { account_no, on, .. } => disconnect(view, account_no, *on),
        Command::Reconnect { account_no, on } => reconnect(view, account_no, *on),
        Command::PermanentlyDisconnect { account_no, on } => {
            permanently_disconnect(view, account_no, *on)
        }
        Command::IssueRecoveryCertificate { account_no, on, .. } => {
            recovery_certificate(view, account_no, *on)
        }
        Command::RaiseDispute {
            account_no,
            on,
            bill_no,
            ..
        } => raise_dispute(view, account_no, *on, bill_no.as_deref()),
        Command::ResolveDispute { account_no, on } => resolve_dispute(view, account_no, *on),
        Command::GrantInstallmentPlan {
            account_no,
            granted_on,
            ..
        } => grant_plan(view, account_no, *granted_on),
        other => unreachable!("not a ladder command: {}", other.type_name()),
    }
}

/// A notice is served once, while it is open, on or after its issue.
fn serve_notice(
    view: &dyn StateView,
    notice_no: &str,
    served_on: NaiveDate,
) -> Result<(), Rejection> {
    let missing = || not_found("notice_no", format!("no notice has number {notice_no}"));
    let account_no = account_of_notice(notice_no).ok_or_else(missing)?;
    let consumer = view.consumer(account_no).ok_or_else(missing)?;
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
    Ok(())
}

/// s.56(1): a connected consumer with an unpaid, served notice whose period has run, no
/// dispute pending and no plan in force.
fn disconnect(view: &dyn StateView, account_no: &str, on: NaiveDate) -> Result<(), Rejection> {
    let refuse = |field: &str, reason: String| Err(unprocessable(field, reason));
    let consumer = need_consumer(view, account_no)?;
    if consumer.connection_as_of(on) != Connection::Connected {
        return refuse(
            "account_no",
            format!("{account_no} is not connected on {on}"),
        );
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
    let allowed = disconnection_allowed_on(served, view.policy());
    if on < allowed {
        return refuse(
            "on",
            format!(
                "notice {} was served on {served}; s.56(1) allows disconnection from {allowed}",
                case.notice_no
            ),
        );
    }
    if consumer.dispute_in_force(on).is_some() {
        return refuse(
            "account_no",
            format!("{account_no} has a dispute pending on {on}"),
        );
    }
    if consumer.plan_in_force(on).is_some() {
        return refuse(
            "account_no",
            format!("{account_no} has an instalment plan in force on {on}"),
        );
    }
    let ledger = ledger_as_of(&consumer, on, Charges::All, &[]);
    if !ledger.overdue_arrears.is_positive() {
        return refuse(
            "account_no",
            format!("{account_no} has no overdue arrears on {on}"),
        );
    }
    if claim_paid(&consumer, case, &ledger) {
        return refuse(
            "account_no",
            format!(
                "the sum notice {} claimed was paid by {on}; a disconnection needs a notice whose sum is unpaid",
                case.notice_no
            ),
        );
    }
    Ok(())
}

/// A disconnected consumer is reconnected once its overdue arrears are paid or a plan is in
/// force.
fn reconnect(view: &dyn StateView, account_no: &str, on: NaiveDate) -> Result<(), Rejection> {
    let consumer = need_consumer(view, account_no)?;
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
    Ok(())
}

/// A consumer disconnected long enough is disconnected permanently.
fn permanently_disconnect(
    view: &dyn StateView,
    account_no: &str,
    on: NaiveDate,
) -> Result<(), Rejection> {
    let consumer = need_consumer(view, account_no)?;
    let Connection::Disconnected { since } = consumer.connection_as_of(on) else {
        return Err(unprocessable(
            "account_no",
            format!("{account_no} is not disconnected on {on}"),
        ));
    };
    let days = (on - since).num_days();
    let after_days = view.policy().permanent_disconnection.after_days;
    if days < after_days {
        return Err(unprocessable(
            "on",
            format!("{account_no} was disconnected on {since}, {days} days before; permanent disconnection needs {after_days}"),
        ));
    }
    Ok(())
}

/// A permanently disconnected consumer gets one recovery certificate.
fn recovery_certificate(
    view: &dyn StateView,
    account_no: &str,
    on: NaiveDate,
) -> Result<(), Rejection> {
    let consumer = need_consumer(view, account_no)?;
    match consumer.connection_as_of(on) {
        Connection::PermanentlyDisconnected {
            rc_issued: false, ..
        } => Ok(()),
        Connection::PermanentlyDisconnected {
            rc_issued: true, ..
        } => Err(unprocessable(
            "account_no",
            format!("{account_no} already has a recovery certificate"),
        )),
        _ => Err(unprocessable(
            "account_no",
            format!("{account_no} is not permanently disconnected on {on}"),
        )),
    }
}

/// One dispute at a time, about a bill of the consumer's when it names one.
fn raise_dispute(
    view: &dyn StateView,
    account_no: &str,
    on: NaiveDate,
    bill_no: Option<&str>,
) -> Result<(), Rejection> {
    let consumer = need_consumer(view, account_no)?;
    if consumer.dispute_in_force(on).is_some() {
        return Err(unprocessable(
            "account_no",
            format!("{account_no} already has a dispute pending on {on}"),
        ));
    }
    if let Some(b) = bill_no {
        if consumer.bill(b).is_none() {
            return Err(not_found(
                "bill_no",
                format!("{account_no} has no bill {b}"),
            ));
        }
    }
    Ok(())
}

/// Only a pending dispute is resolved.
fn resolve_dispute(view: &dyn StateView, account_no: &str, on: NaiveDate) -> Result<(), Rejection> {
    let consumer = need_consumer(view, account_no)?;
    let dispute = consumer.dispute_in_force(on).ok_or_else(|| {
        unprocessable(
            "account_no",
            format!("{account_no} has no dispute pending on {on}"),
        )
    })?;
    debug_assert!(dispute.on <= on);
    Ok(())
}

/// One plan in force at a time.
fn grant_plan(
    view: &dyn StateView,
    account_no: &str,
    granted_on: NaiveDate,
) -> Result<(), Rejection> {
    let consumer = need_consumer(view, account_no)?;
    if consumer.plan_in_force(granted_on).is_some() {
        return Err(unprocessable(
            "account_no",
            format!("{account_no} already has a plan in force on {granted_on}"),
        ));
    }
    Ok(())
}
