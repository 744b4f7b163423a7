//! Deciding a command against the state it would change: `decide(view, command) -> event`.
//!
//! The caller supplies a [`StateView`] (the world as of the log's end plus whatever earlier
//! commands of the same batch decided), so a whole file can be checked before anything is
//! written. Nothing here does I/O.
//!
//! Commands come in families ([`Family`]), each decided by its own module that checks its
//! rules: `registry` (offices, consumers, mobiles), `ledger` (bills, payments, adjustments),
//! `ladder` (notices, disconnection, reconnection, recovery certificates, disputes, plans)
//! and `camps` (camps and grievances). Once a command passes, [`build_event`] (module
//! `build`), the one event builder, makes the event it records. A new family is one more
//! [`Family`] variant, its module's `check`, and its commands' arms in [`build_event`].

use crate::command::Command;
use crate::event::Event;
use crate::policy::Policy;
use crate::state::{Camp, Consumer, Grievance};
use crate::types::Level;
use std::borrow::Cow;

mod build;
mod camps;
mod ladder;
mod ledger;
mod registry;

pub use build::build_event;

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

/// A subdivision's code: an office, and at that level.
fn need_subdivision(view: &dyn StateView, subdivision: &str) -> Result<(), Rejection> {
    match view.office_level(subdivision) {
        None => Err(not_found(
            "subdivision",
            format!("no office has code {subdivision}"),
        )),
        Some(Level::Subdivision) => Ok(()),
        Some(other) => Err(unprocessable(
            "subdivision",
            format!("{subdivision} is a {other}, not a subdivision"),
        )),
    }
}

/// The families of commands, each decided by its own module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Offices, consumers and their mobiles.
    Registry,
    /// Bills, revisions, payments, reversals and adjustments.
    Ledger,
    /// Notices served, disconnection, reconnection, permanent disconnection, recovery
    /// certificates, disputes and instalment plans.
    Ladder,
    /// Camps and grievances.
    Camps,
    /// Voiding an officer's action recorded by mistake ([`crate::correction`]).
    Correction,
}

/// The family a command belongs to.
pub fn family(command: &Command) -> Family {
    match command {
        Command::RegisterOffice { .. }
        | Command::RegisterConsumer { .. }
        | Command::RegisterMobile { .. } => Family::Registry,
        Command::IssueBill { .. }
        | Command::ReviseBill { .. }
        | Command::ReceivePayment { .. }
        | Command::ReversePayment { .. }
        | Command::PostAdjustment { .. } => Family::Ledger,
        Command::ServeNotice { .. }
        | Command::Disconnect { .. }
        | Command::Reconnect { .. }
        | Command::PermanentlyDisconnect { .. }
        | Command::IssueRecoveryCertificate { .. }
        | Command::RaiseDispute { .. }
        | Command::ResolveDispute { .. }
        | Command::GrantInstallmentPlan { .. } => Family::Ladder,
        Command::ScheduleCamp { .. }
        | Command::HoldCamp { .. }
        | Command::RegisterGrievance { .. }
        | Command::ResolveGrievance { .. } => Family::Camps,
        Command::VoidAction { .. } => Family::Correction,
    }
}

/// Decides one command: the event it records, or why it is refused. Its family's module
/// checks the rules; the one builder makes the event.
pub fn decide(view: &dyn StateView, command: &Command) -> Result<Event, Rejection> {
    check(view, command)?;
    built(command, build_event(view, command))
}

/// The rules of the command's family: `Ok` when the command may be recorded.
pub fn check(view: &dyn StateView, command: &Command) -> Result<(), Rejection> {
    match family(command) {
        Family::Registry => registry::check(view, command),
        Family::Ledger => ledger::check(view, command),
        Family::Ladder => ladder::check(view, command),
        Family::Camps => camps::check(view, command),
        Family::Correction => match command {
            Command::VoidAction {
                account_no,
                action,
                action_on,
                voided_on,
                ..
            } => crate::correction::check(view, account_no, *action, *action_on, *voided_on),
            _ => Ok(()),
        },
    }
}

/// [`decide`]'s answer for a command that passed [`check`], given what [`build_event`] made
/// of it against the same state (a caller that built the event already reuses it).
pub fn built(command: &Command, event: Option<Event>) -> Result<Event, Rejection> {
    // The checks found what the command names, so the builder resolves it too.
    event.ok_or_else(|| {
        not_found(
            "",
            format!("{} names nothing recorded", command.type_name()),
        )
    })
}
