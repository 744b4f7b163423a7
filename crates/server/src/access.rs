//! Who may do what: the role rules of docs/API.md and the office scope of officer tokens.
//!
//! These checks answer 403 and run before the body or the engine is consulted for anything
//! else, because the documented order puts 403 right after 401. An officer asking about an
//! office or consumer that does not exist gets 403 rather than 404: an unknown office is not
//! within its own, and answering 404 would let it probe which accounts exist elsewhere.

use crate::error::ApiError;
use crate::tokens::{Role, TokenInfo};
use serde_json::Value;
use vasooli_domain::command::{command_kind, COMMAND_KINDS};
use vasooli_domain::ladder::account_of_notice;
use vasooli_domain::state::{Consumer, StoredConsumer};
use vasooli_domain::World;

fn outside_role(caller: &TokenInfo, what: &str) -> ApiError {
    ApiError::forbidden(format!("a {} token may not {what}", caller.role))
}

/// The officer's own office; every officer token has one.
fn officer_office(caller: &TokenInfo) -> &str {
    caller.office.as_deref().unwrap_or("")
}

/// Reads of the utility-wide reports (rankings, awards): headquarters' business, not an
/// office's.
pub fn require_utility_reader(caller: &TokenInfo) -> Result<(), ApiError> {
    match caller.role {
        Role::Admin | Role::Finance | Role::Hq => Ok(()),
        Role::Officer | Role::Ingest => Err(outside_role(caller, "read utility-wide reports")),
    }
}

/// Reads about one office, first half: 403 outside the caller's scope.
pub fn check_office_scope(caller: &TokenInfo, world: &World, code: &str) -> Result<(), ApiError> {
    match caller.role {
        Role::Ingest => Err(outside_role(caller, "read")),
        Role::Officer if !world.is_within(code, officer_office(caller)) => {
            Err(ApiError::forbidden(format!(
                "office {code} is not within office {}",
                officer_office(caller)
            )))
        }
        _ => Ok(()),
    }
}

/// Reads about one office, second half: 404 for an unknown office.
pub fn check_office_exists(world: &World, code: &str) -> Result<(), ApiError> {
    if world.offices.contains_key(code) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("no office has code {code}")))
    }
}

/// Reads before any office is named: everyone but ingest.
pub fn require_reader(caller: &TokenInfo) -> Result<(), ApiError> {
    match caller.role {
        Role::Ingest => Err(outside_role(caller, "read")),
        _ => Ok(()),
    }
}

/// Reads about one consumer: 403 outside the caller's scope, then 404 for an unknown
/// account.
pub fn check_consumer_read(
    caller: &TokenInfo,
    world: &World,
    account_no: &str,
) -> Result<(), ApiError> {
    let consumer = world.stored_consumer(account_no);
    match caller.role {
        Role::Ingest => return Err(outside_role(caller, "read")),
        Role::Officer => {
            let within =
                consumer.is_some_and(|c| world.is_within(&c.subdivision, officer_office(caller)));
            if !within {
                return Err(ApiError::forbidden(format!(
                    "account {account_no} is not within office {}",
                    officer_office(caller)
                )));
            }
        }
        Role::Admin | Role::Finance | Role::Hq => {}
    }
    if consumer.is_some() {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "no consumer has account {account_no}"
        )))
    }
}

/// Whether the caller's role may write at all; checked before the body is read.
pub fn require_writer(caller: &TokenInfo) -> Result<(), ApiError> {
    match caller.role {
        Role::Hq => Err(outside_role(caller, "write")),
        _ => Ok(()),
    }
}

pub fn require_nightly(caller: &TokenInfo) -> Result<(), ApiError> {
    match caller.role {
        Role::Admin | Role::Finance => Ok(()),
        _ => Err(outside_role(caller, "run the nightly run")),
    }
}

/// Imports: admin and finance load any kind, ingest the four kinds of routine data. An
/// unknown kind is a 404, but only once the role could have imported something.
/// Whether an ingest token may load the import kind: its rows are a command ingest may send.
fn ingest_import(kind: &str) -> bool {
    COMMAND_KINDS
        .iter()
        .any(|command| command.import == Some(kind) && command.ingest)
}

pub fn check_import(caller: &TokenInfo, kind: &str) -> Result<(), ApiError> {
    let known = vasooli_domain::command::import_command_type(kind).is_some();
    match caller.role {
        Role::Admin | Role::Finance => {}
        Role::Ingest if ingest_import(kind) || !known => {}
        _ => return Err(outside_role(caller, &format!("import {kind}"))),
    }
    if known {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "`{kind}` is not one of offices, consumers, bills, payments, mobiles"
        )))
    }
}

fn text<'a>(command: &'a Value, key: &str) -> Option<&'a str> {
    command.get(key).and_then(Value::as_str).map(str::trim)
}

/// The subdivision a command acts on, looked up in the world and, for camps and grievances
/// created earlier in the same batch, in the batch.
fn subdivision_of(world: &World, batch: &[Value], command: &Value) -> Option<String> {
    let kind = text(command, "type")?;
    let in_batch = |creator: &str, key: &str, id: &str| {
        batch
            .iter()
            .find(|c| text(c, "type") == Some(creator) && text(c, key) == Some(id))
            .and_then(|c| text(c, "subdivision"))
            .map(str::to_string)
    };
    match kind {
        "schedule_camp" | "register_grievance" => text(command, "subdivision").map(str::to_string),
        "hold_camp" => {
            let id = text(command, "camp_id")?;
            world
                .camps
                .get(id)
                .map(|c| c.subdivision.to_string())
                .or_else(|| in_batch("schedule_camp", "camp_id", id))
        }
        "resolve_grievance" => {
            let id = text(command, "grievance_id")?;
            world
                .grievances
                .get(id)
                .map(|g| g.subdivision.clone())
                .or_else(|| in_batch("register_grievance", "grievance_id", id))
        }
        "serve_notice" => {
            let notice = text(command, "notice_no")?;
            // Notice numbers name their account (`N-<account>-<n>`); any other is looked for
            // in every consumer's cases.
            let has_notice = |c: &Consumer| c.cases.iter().any(|case| case.notice_no == notice);
            account_of_notice(notice)
                .and_then(|account| world.consumer(account))
                .filter(has_notice)
                .or_else(|| {
                    world
                        .consumers
                        .iter()
                        .map(StoredConsumer::consumer)
                        .find(has_notice)
                })
                .map(|c| c.subdivision.to_string())
        }
        _ => {
            let account = text(command, "account_no")?;
            world.consumer(account).map(|c| c.subdivision.to_string())
        }
    }
}

/// Whether the caller's role may send a command of type `kind`; `None` for a type no
/// command has (malformed, whoever sends it).
fn role_may_send(caller: &TokenInfo, kind: &str) -> Option<bool> {
    let known = command_kind(kind)?;
    Some(match caller.role {
        Role::Admin | Role::Finance => true,
        Role::Hq => false,
        Role::Officer => known.officer,
        Role::Ingest => known.ingest,
    })
}

fn may_not_send(caller: &TokenInfo, index: usize, kind: &str) -> ApiError {
    ApiError::forbidden(format!(
        "commands[{index}]: a {} token may not send {kind}",
        caller.role
    ))
}

/// The part of [`check_commands`] that needs no world: whether the caller's role may send
/// each command of the batch (an officer's office is not checked).
pub fn check_command_roles(caller: &TokenInfo, batch: &[Value]) -> Result<(), ApiError> {
    require_writer(caller)?;
    for (index, command) in batch.iter().enumerate() {
        let Some(kind) = text(command, "type") else {
            continue;
        };
        if role_may_send(caller, kind) == Some(false) {
            return Err(may_not_send(caller, index, kind));
        }
    }
    Ok(())
}

/// Checks every command of a batch against the caller's role and, for officers, office.
/// A command whose type cannot be read is left for the parser to reject with 400.
pub fn check_commands(caller: &TokenInfo, world: &World, batch: &[Value]) -> Result<(), ApiError> {
    for (index, command) in batch.iter().enumerate() {
        let Some(kind) = text(command, "type") else {
            continue;
        };
        match role_may_send(caller, kind) {
            Some(true) => {}
            Some(false) => return Err(may_not_send(caller, index, kind)),
            // An unknown type is malformed, whoever sends it.
            None => continue,
        }
        if caller.role == Role::Officer {
            let office = officer_office(caller);
            let within =
                subdivision_of(world, batch, command).is_some_and(|s| world.is_within(&s, office));
            if !within {
                return Err(ApiError::forbidden(format!(
                    "commands[{index}]: {kind} acts outside office {office}"
                )));
            }
            check_references(world, batch, command, kind, office).map_err(|(what, id)| {
                ApiError::forbidden(format!(
                    "commands[{index}]: {what} {id} is not within office {office}"
                ))
            })?;
        }
    }
    Ok(())
}

/// The accounts, camps and grievances an officer's command names besides the one it acts
/// on must be within the officer's office too. One that is elsewhere and one that does not
/// exist answer alike, so that an officer cannot learn what exists outside its office.
fn check_references<'a>(
    world: &World,
    batch: &[Value],
    command: &'a Value,
    kind: &str,
    office: &str,
) -> Result<(), (&'static str, &'a str)> {
    let named = |key: &str| text(command, key).filter(|id| !id.is_empty());
    if let Some(account) = named("account_no") {
        let within = world
            .consumer(account)
            .is_some_and(|c| world.is_within(&c.subdivision, office));
        if !within {
            return Err(("account", account));
        }
    }
    if let Some(camp) = named("camp_id") {
        let stored = world.camps.get(camp).map(|c| c.subdivision.to_string());
        let subdivision = match kind {
            // A new camp is placed by the command itself, which was checked above.
            "schedule_camp" => stored.or_else(|| text(command, "subdivision").map(str::to_string)),
            _ => stored.or_else(|| {
                batch
                    .iter()
                    .find(|c| {
                        text(c, "type") == Some("schedule_camp") && text(c, "camp_id") == Some(camp)
                    })
                    .and_then(|c| text(c, "subdivision"))
                    .map(str::to_string)
            }),
        };
        if !subdivision.is_some_and(|s| world.is_within(&s, office)) {
            return Err(("camp", camp));
        }
    }
    if kind == "register_grievance" {
        if let Some(grievance) = named("grievance_id") {
            if let Some(stored) = world.grievances.get(grievance) {
                if !world.is_within(&stored.subdivision, office) {
                    return Err(("grievance", grievance));
                }
            }
        }
    }
    Ok(())
}

/// An error as the ingest role may see it: ingest feeds data in and reads nothing, so
/// amounts the system holds (a bill's current amount, what an account owes) are masked.
pub fn for_ingest(caller: &TokenInfo, mut error: ApiError) -> ApiError {
    if caller.role != Role::Ingest {
        return error;
    }
    error.message = mask_amounts(&error.message);
    for detail in &mut error.details {
        match detail {
            crate::error::Detail::Row(row) => row.reason = mask_amounts(&row.reason),
            crate::error::Detail::Text(text) => *text = mask_amounts(text),
        }
    }
    error
}

/// `text` with every amount (digits, a point and two digits) replaced by `[amount]`.
pub fn mask_amounts(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit()
            && (i == 0 || !(chars[i - 1].is_ascii_digit() || chars[i - 1] == '.'));
        if starts {
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            let digit = |k: usize| chars.get(k).is_some_and(char::is_ascii_digit);
            let two_decimals = chars.get(j) == Some(&'.')
                && digit(j + 1)
                && digit(j + 2)
                && !digit(j + 3)
                && !(chars.get(j + 3) == Some(&'.') && digit(j + 4));
            if two_decimals {
                out.push_str("[amount]");
                i = j + 3;
                continue;
            }
            out.extend(&chars[i..j]);
            i = j;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::mask_amounts;

    #[test]
    fn amounts_are_masked_and_other_numbers_kept() {
        assert_eq!(
            mask_amounts("900.00 is not below the bill's amount 1200.00; see B1 on 2026-08-10"),
            "[amount] is not below the bill's amount [amount]; see B1 on 2026-08-10"
        );
        assert_eq!(
            mask_amounts("12.345 and 1.5 and v1.20.3"),
            "12.345 and 1.5 and v1.20.3"
        );
        assert_eq!(mask_amounts("-120.00."), "-[amount].");
    }
}
