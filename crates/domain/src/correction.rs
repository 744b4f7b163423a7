//! Corrections: an officer's ladder action recorded by mistake (a notice served "2026-10-30"
//! for "2026-10-03", a disconnection entered on the wrong account) is voided by a later event
//! that names it and gives a reason. The log keeps both; the consumer's history reads as if
//! the action had not been recorded ([`crate::state::Consumer::apply`]), so the lists follow,
//! and the action can then be recorded again as it happened.
//!
//! Only the consumer's latest ladder action may be voided: what came after it was decided on
//! top of it, and is voided first.

use crate::decide::{Rejection, RejectionKind, StateView};
use crate::state::{ConnectionChange, Consumer};
use crate::types::LadderAction;
use chrono::NaiveDate;

/// The action that made a connection change.
pub fn action_of(change: &ConnectionChange) -> LadderAction {
    match change {
        ConnectionChange::Disconnected { .. } => LadderAction::Disconnect,
        ConnectionChange::Reconnected => LadderAction::Reconnect,
        ConnectionChange::PermanentlyDisconnected => LadderAction::PermanentlyDisconnect,
        ConnectionChange::RecoveryCertificate { .. } => LadderAction::IssueRecoveryCertificate,
    }
}

/// The consumer's ladder actions in force, oldest first: notices served, then the connection's
/// changes, by date (a change after a service on the same day comes after it).
pub fn actions(consumer: &Consumer) -> Vec<(LadderAction, NaiveDate)> {
    let mut all: Vec<(NaiveDate, usize, LadderAction)> = consumer
        .cases
        .iter()
        .filter_map(|case| case.served_on)
        .map(|on| (on, 0, LadderAction::ServeNotice))
        .chain(
            consumer
                .connection
                .iter()
                .enumerate()
                .map(|(i, c)| (c.on, i + 1, action_of(&c.change))),
        )
        .collect();
    all.sort();
    all.into_iter()
        .map(|(on, _, action)| (action, on))
        .collect()
}

fn refuse(field: &str, reason: String) -> Rejection {
    Rejection {
        kind: RejectionKind::Unprocessable,
        field: field.to_string(),
        reason,
    }
}

/// Checks a `void_action`: the consumer exists, the action named is its latest in force, and
/// the correction is not dated before the action.
pub(crate) fn check(
    view: &dyn StateView,
    account_no: &str,
    action: LadderAction,
    action_on: NaiveDate,
    voided_on: NaiveDate,
) -> Result<(), Rejection> {
    let consumer = view.consumer(account_no).ok_or_else(|| Rejection {
        kind: RejectionKind::NotFound,
        field: "account_no".into(),
        reason: format!("no consumer has account {account_no}"),
    })?;
    let actions = actions(&consumer);
    if !actions.contains(&(action, action_on)) {
        return Err(refuse(
            "action_on",
            format!("{account_no} has no {action} on {action_on} in force to void"),
        ));
    }
    if let Some((latest, latest_on)) = actions.last().filter(|a| **a != (action, action_on)) {
        return Err(refuse(
            "action",
            format!(
                "only the latest action may be voided: {latest} on {latest_on} came after {action} on {action_on}; void it first"
            ),
        ));
    }
    if voided_on < action_on {
        return Err(refuse(
            "voided_on",
            format!("{voided_on} is before the action it voids ({action_on})"),
        ));
    }
    Ok(())
}
