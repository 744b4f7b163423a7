//! Deciding the commands of camps and grievances.

use super::{need_account, need_subdivision, not_found, unprocessable, Rejection, StateView};
use crate::command::Command;
use chrono::NaiveDate;

/// Checks a command of camps or grievances against the rules.
pub(super) fn check(view: &dyn StateView, command: &Command) -> Result<(), Rejection> {
    match command {
        Command::ScheduleCamp { subdivision, .. } => need_subdivision(view, subdivision),
        Command::HoldCamp { camp_id, .. } => hold_camp(view, camp_id),
        Command::RegisterGrievance {
            subdivision,
            account_no,
            camp_id,
            ..
        } => register_grievance(view, subdivision, account_no.as_deref(), camp_id.as_deref()),
        Command::ResolveGrievance {
            grievance_id,
            resolved_on,
            ..
        } => resolve_grievance(view, grievance_id, *resolved_on),
        other => unreachable!("not a command of camps: {}", other.type_name()),
    }
}

/// A scheduled camp is held once.
fn hold_camp(view: &dyn StateView, camp_id: &str) -> Result<(), Rejection> {
    let camp = view
        .camp(camp_id)
        .ok_or_else(|| not_found("camp_id", format!("no camp has id {camp_id}")))?;
    if camp.held_on.is_some() {
        return Err(unprocessable(
            "camp_id",
            format!("camp {camp_id} was already held"),
        ));
    }
    Ok(())
}

/// A grievance names a subdivision, and the account and camp it names exist.
fn register_grievance(
    view: &dyn StateView,
    subdivision: &str,
    account_no: Option<&str>,
    camp_id: Option<&str>,
) -> Result<(), Rejection> {
    need_subdivision(view, subdivision)?;
    if let Some(a) = account_no {
        need_account(view, a)?;
    }
    if let Some(c) = camp_id {
        if view.camp(c).is_none() {
            return Err(not_found("camp_id", format!("no camp has id {c}")));
        }
    }
    Ok(())
}

/// A grievance is resolved once, on or after the day it was registered.
fn resolve_grievance(
    view: &dyn StateView,
    grievance_id: &str,
    resolved_on: NaiveDate,
) -> Result<(), Rejection> {
    let g = view.grievance(grievance_id).ok_or_else(|| {
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
    Ok(())
}
