//! Which division a command belongs to, for a utility split into partitions of whole
//! divisions.
//!
//! Every command but an office's registration concerns one consumer, camp or grievance, and
//! so one subdivision and the division above it. A [`Router`] reads commands in the order
//! they are applied and learns what later commands need: the office tree, each account's
//! subdivision, and which account a bill, receipt or adjustment, or which subdivision a
//! camp or grievance, belongs to.

use crate::command::Command;
use crate::ladder::account_of_notice;
use crate::types::Level;
use std::collections::HashMap;

/// Where a command goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// To every partition: an office's registration (each holds the whole office tree).
    Everywhere,
    /// To the partition holding this division.
    Division(String),
}

/// Why a command has no route: what it names that the router has not seen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} {key} is not known to the router")]
pub struct Unrouted {
    pub what: &'static str,
    pub key: String,
}

/// Learns from the commands it routes; see the module's documentation.
#[derive(Clone, Debug, Default)]
pub struct Router {
    /// Office code -> (level, parent).
    offices: HashMap<String, (Level, Option<String>)>,
    /// Account -> subdivision.
    accounts: HashMap<String, String>,
    /// Bill or receipt number -> account.
    documents: HashMap<String, String>,
    /// Camp or grievance id -> subdivision.
    places: HashMap<String, String>,
}

fn unrouted(what: &'static str, key: &str) -> Unrouted {
    Unrouted {
        what,
        key: key.to_string(),
    }
}

impl Router {
    pub fn new() -> Router {
        Router::default()
    }

    /// The division at or above office `code`.
    pub fn division_of(&self, code: &str) -> Result<String, Unrouted> {
        let mut current = code.to_string();
        // The tree has four levels; a longer climb is a cycle.
        for _ in 0..=Level::ALL.len() {
            let (level, parent) = self
                .offices
                .get(&current)
                .ok_or_else(|| unrouted("office", &current))?;
            if *level == Level::Division {
                return Ok(current);
            }
            current = parent
                .clone()
                .ok_or_else(|| unrouted("division above office", code))?;
        }
        Err(unrouted("division above office", code))
    }

    fn account(&self, account_no: &str) -> Result<Route, Unrouted> {
        let subdivision = self
            .accounts
            .get(account_no)
            .ok_or_else(|| unrouted("account", account_no))?;
        Ok(Route::Division(self.division_of(subdivision)?))
    }

    fn document(&self, what: &'static str, number: &str) -> Result<Route, Unrouted> {
        let account = self
            .documents
            .get(number)
            .ok_or_else(|| unrouted(what, number))?;
        self.account(account)
    }

    fn place(&self, what: &'static str, id: &str) -> Result<Route, Unrouted> {
        let subdivision = self.places.get(id).ok_or_else(|| unrouted(what, id))?;
        Ok(Route::Division(self.division_of(subdivision)?))
    }

    /// Where `command` goes; what it registers is remembered for the commands after it.
    pub fn route(&mut self, command: &Command) -> Result<Route, Unrouted> {
        use Command as C;
        match command {
            C::RegisterOffice {
                code,
                level,
                parent,
                ..
            } => {
                self.offices.insert(code.clone(), (*level, parent.clone()));
                Ok(Route::Everywhere)
            }
            C::RegisterConsumer {
                account_no,
                subdivision,
                ..
            } => {
                let route = Route::Division(self.division_of(subdivision)?);
                self.accounts
                    .insert(account_no.clone(), subdivision.clone());
                Ok(route)
            }
            C::IssueBill {
                bill_no: number,
                account_no,
                ..
            }
            | C::ReceivePayment {
                receipt_no: number,
                account_no,
                ..
            }
            | C::PostAdjustment {
                adjustment_no: number,
                account_no,
                ..
            } => {
                let route = self.account(account_no)?;
                self.documents.insert(number.clone(), account_no.clone());
                Ok(route)
            }
            C::ReviseBill { bill_no, .. } => self.document("bill", bill_no),
            C::ReversePayment { receipt_no, .. } => self.document("receipt", receipt_no),
            C::ServeNotice { notice_no, .. } => {
                let account =
                    account_of_notice(notice_no).ok_or_else(|| unrouted("notice", notice_no))?;
                self.account(account)
            }
            C::ScheduleCamp {
                camp_id,
                subdivision,
                ..
            } => {
                let route = Route::Division(self.division_of(subdivision)?);
                self.places.insert(camp_id.clone(), subdivision.clone());
                Ok(route)
            }
            C::HoldCamp { camp_id, .. } => self.place("camp", camp_id),
            C::RegisterGrievance {
                grievance_id,
                subdivision,
                ..
            } => {
                let route = Route::Division(self.division_of(subdivision)?);
                self.places
                    .insert(grievance_id.clone(), subdivision.clone());
                Ok(route)
            }
            C::ResolveGrievance { grievance_id, .. } => self.place("grievance", grievance_id),
            C::RegisterMobile { account_no, .. }
            | C::Disconnect { account_no, .. }
            | C::Reconnect { account_no, .. }
            | C::PermanentlyDisconnect { account_no, .. }
            | C::IssueRecoveryCertificate { account_no, .. }
            | C::RaiseDispute { account_no, .. }
            | C::ResolveDispute { account_no, .. }
            | C::GrantInstallmentPlan { account_no, .. }
            | C::VoidAction { account_no, .. } => self.account(account_no),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Category, Language};
    use crate::Money;
    use chrono::NaiveDate;

    fn date(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 5, d).expect("a date")
    }

    fn consumer(account: &str, subdivision: &str) -> Command {
        Command::RegisterConsumer {
            account_no: account.into(),
            name: "N".into(),
            category: Category::Domestic,
            subdivision: subdivision.into(),
            load_watts: 1000,
            connected_on: date(1),
            mobile: None,
            language: Language::Hi,
            address: None,
        }
    }

    fn bill(bill_no: &str, account: &str) -> Command {
        Command::IssueBill {
            bill_no: bill_no.into(),
            account_no: account.into(),
            period: "2025-05".into(),
            issued_on: date(2),
            due_on: date(20),
            amount: Money::from_paise(100_000),
        }
    }

    fn office(code: &str, level: Level, parent: Option<&str>) -> Command {
        Command::RegisterOffice {
            code: code.into(),
            name: code.into(),
            level,
            parent: parent.map(Into::into),
        }
    }

    #[test]
    fn commands_follow_their_consumer_camp_or_grievance_to_its_division() {
        let mut router = Router::new();
        for c in [
            office("Z", Level::Zone, None),
            office("C", Level::Circle, Some("Z")),
            office("D1", Level::Division, Some("C")),
            office("D2", Level::Division, Some("C")),
            office("S1", Level::Subdivision, Some("D1")),
            office("S2", Level::Subdivision, Some("D2")),
        ] {
            assert_eq!(router.route(&c), Ok(Route::Everywhere));
        }
        let d2 = Ok(Route::Division("D2".into()));
        let consumer = consumer("A-1", "S2");
        assert_eq!(router.route(&consumer), d2);
        let issued = bill("B-1", "A-1");
        assert_eq!(router.route(&issued), d2);
        let revise = Command::ReviseBill {
            bill_no: "B-1".into(),
            revised_on: date(1),
            new_amount: Money::from_paise(100),
            reason: "meter".into(),
        };
        assert_eq!(router.route(&revise), d2);
        let notice = Command::ServeNotice {
            notice_no: crate::ladder::notice_number("A-1", 1),
            served_on: date(1),
            mode: crate::types::NoticeMode::Hand,
        };
        assert_eq!(router.route(&notice), d2);
        let unknown = bill("B-2", "A-9");
        assert_eq!(
            router.route(&unknown),
            Err(Unrouted {
                what: "account",
                key: "A-9".into()
            })
        );
        assert_eq!(router.division_of("S1"), Ok("D1".into()));
        assert!(router.division_of("Z").is_err(), "a zone has no division");
    }
}
