//! Deciding the registry's commands: offices, consumers and their mobiles.

use super::{need_account, need_subdivision, not_found, unprocessable, Rejection, StateView};
use crate::command::Command;
use crate::types::Level;

/// Checks a registry command against the rules.
pub(super) fn check(view: &dyn StateView, command: &Command) -> Result<(), Rejection> {
    match command {
        Command::RegisterOffice { level, parent, .. } => office(view, *level, parent.as_deref()),
        Command::RegisterConsumer { subdivision, .. } => need_subdivision(view, subdivision),
        Command::RegisterMobile { account_no, .. } => need_account(view, account_no),
        other => unreachable!("not a registry command: {}", other.type_name()),
    }
}

/// An office's parent is an office one level up; a zone has none.
fn office(view: &dyn StateView, level: Level, parent: Option<&str>) -> Result<(), Rejection> {
    match (level.parent_level(), parent) {
        (None, Some(_)) => Err(unprocessable("parent", "a zone has no parent")),
        (Some(l), None) => Err(unprocessable(
            "parent",
            format!("a {level} needs a parent {l}"),
        )),
        (Some(l), Some(p)) => match view.office_level(p) {
            None => Err(not_found("parent", format!("no office has code {p}"))),
            Some(found) if found != l => Err(unprocessable(
                "parent",
                format!("{p} is a {found}, but a {level}'s parent must be a {l}"),
            )),
            Some(_) => Ok(()),
        },
        (None, None) => Ok(()),
    }
}
