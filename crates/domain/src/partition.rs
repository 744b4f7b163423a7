//! Which division a command belongs to, for a utility split into partitions of whole
//! divisions.
//!
//! Every command but an office's registration concerns one consumer, camp or grievance, and
//! so one subdivision and the division above it. A [`Router`] reads commands in the order
//! they are applied and learns what later commands need: the office tree, each account's
//! subdivision, which account a bill or receipt belongs to, and which subdivision a camp or
//! grievance is in.
//!
//! What it learns first stays: a second registration of an office, account, bill, receipt,
//! camp or grievance goes where the first went, so that the partition holding the first
//! refuses it as one process over every event would. A grievance naming an account or camp
//! of another division has no route: one partition could not check it.

use crate::command::Command;
use crate::ladder::account_of_notice;
use crate::types::Level;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

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
    /// Bill number -> account.
    bills: HashMap<String, String>,
    /// Receipt number -> account.
    receipts: HashMap<String, String>,
    /// Camp id -> subdivision.
    camps: HashMap<String, String>,
    /// Grievance id -> subdivision.
    grievances: HashMap<String, String>,
}

/// Records `value` under `key` unless something is recorded there already; the value
/// recorded.
fn first<'m>(map: &'m mut HashMap<String, String>, key: &str, value: &str) -> &'m str {
    map.entry(key.to_string())
        .or_insert_with(|| value.to_string())
        .as_str()
}

fn unrouted(what: &'static str, key: &str) -> Unrouted {
    Unrouted {
        what,
        key: key.to_string(),
    }
}

/// What `map` (bills, receipts, camps or grievances) recorded for `key`.
fn recorded<'m>(
    map: &'m HashMap<String, String>,
    what: &'static str,
    key: &str,
) -> Result<&'m str, Unrouted> {
    map.get(key)
        .map(String::as_str)
        .ok_or_else(|| unrouted(what, key))
}

/// The names a batch of commands refers to that a router must have seen to route them: asked
/// of every partition before a batch is routed, since earlier batches registered them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookup {
    pub accounts: BTreeSet<String>,
    pub bills: BTreeSet<String>,
    pub receipts: BTreeSet<String>,
    pub camps: BTreeSet<String>,
    pub grievances: BTreeSet<String>,
    /// The office tree is not wanted in the answer (a lookup of names alone). Left out of
    /// the request when false, and ignored by a partition that does not know it: the tree
    /// then comes anyway.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub without_offices: bool,
}

impl Lookup {
    /// Notes what `command` names: its own key where it registers one (a repeat goes where
    /// the first went), and the account, bill, receipt, camp or grievance it refers to.
    pub fn note(&mut self, command: &Command) {
        use Command as C;
        let mut account = |a: &str| {
            self.accounts.insert(a.to_string());
        };
        match command {
            C::RegisterOffice { .. } => {}
            C::ServeNotice { notice_no, .. } => {
                if let Some(a) = account_of_notice(notice_no) {
                    account(a);
                }
            }
            C::RegisterConsumer { account_no, .. }
            | C::PostAdjustment { account_no, .. }
            | C::RegisterMobile { account_no, .. }
            | C::Disconnect { account_no, .. }
            | C::Reconnect { account_no, .. }
            | C::PermanentlyDisconnect { account_no, .. }
            | C::IssueRecoveryCertificate { account_no, .. }
            | C::RaiseDispute { account_no, .. }
            | C::ResolveDispute { account_no, .. }
            | C::GrantInstallmentPlan { account_no, .. }
            | C::VoidAction { account_no, .. } => account(account_no),
            C::IssueBill {
                bill_no,
                account_no,
                ..
            } => {
                account(account_no);
                self.bills.insert(bill_no.clone());
            }
            C::ReviseBill { bill_no, .. } => {
                self.bills.insert(bill_no.clone());
            }
            C::ReceivePayment {
                receipt_no,
                account_no,
                ..
            } => {
                account(account_no);
                self.receipts.insert(receipt_no.clone());
            }
            C::ReversePayment { receipt_no, .. } => {
                self.receipts.insert(receipt_no.clone());
            }
            C::ScheduleCamp { camp_id, .. } | C::HoldCamp { camp_id, .. } => {
                self.camps.insert(camp_id.clone());
            }
            C::RegisterGrievance {
                grievance_id,
                account_no,
                camp_id,
                ..
            } => {
                if let Some(a) = account_no {
                    account(a);
                }
                if let Some(c) = camp_id {
                    self.camps.insert(c.clone());
                }
                self.grievances.insert(grievance_id.clone());
            }
            C::ResolveGrievance { grievance_id, .. } => {
                self.grievances.insert(grievance_id.clone());
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
            && self.bills.is_empty()
            && self.receipts.is_empty()
            && self.camps.is_empty()
            && self.grievances.is_empty()
    }
}

/// One office of the tree, as a router needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownOffice {
    pub code: String,
    pub level: Level,
    pub parent: Option<String>,
}

/// What one partition holds of a [`Lookup`]'s names, and its office tree.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Known {
    pub offices: Vec<KnownOffice>,
    /// Account -> subdivision.
    pub accounts: BTreeMap<String, String>,
    /// Bill number -> account.
    pub bills: BTreeMap<String, String>,
    /// Receipt number -> account.
    pub receipts: BTreeMap<String, String>,
    /// Camp id -> subdivision.
    pub camps: BTreeMap<String, String>,
    /// Grievance id -> subdivision.
    pub grievances: BTreeMap<String, String>,
}

impl Router {
    pub fn new() -> Router {
        Router::default()
    }

    /// Learns what a partition holds, as if the commands that registered it had been routed
    /// here (what was learnt first stays).
    pub fn learn(&mut self, known: &Known) {
        for office in &known.offices {
            self.offices
                .entry(office.code.clone())
                .or_insert_with(|| (office.level, office.parent.clone()));
        }
        let pairs = [
            (&mut self.accounts, &known.accounts),
            (&mut self.bills, &known.bills),
            (&mut self.receipts, &known.receipts),
            (&mut self.camps, &known.camps),
            (&mut self.grievances, &known.grievances),
        ];
        for (map, learnt) in pairs {
            for (key, value) in learnt {
                first(map, key, value);
            }
        }
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

    fn in_subdivision(&self, subdivision: &str) -> Result<Route, Unrouted> {
        Ok(Route::Division(self.division_of(subdivision)?))
    }

    /// A grievance's route: its subdivision's division, which its account and camp, when it
    /// names them, must share.
    fn grievance(
        &mut self,
        grievance_id: &str,
        subdivision: &str,
        account_no: Option<&str>,
        camp_id: Option<&str>,
    ) -> Result<Route, Unrouted> {
        let home = first(&mut self.grievances, grievance_id, subdivision).to_string();
        let route = self.in_subdivision(&home)?;
        let account = account_no.map(|a| self.account(a)).transpose()?;
        let camp = match camp_id {
            Some(c) => Some(self.in_subdivision(recorded(&self.camps, "camp", c)?)?),
            None => None,
        };
        if [account, camp].into_iter().flatten().any(|r| r != route) {
            return Err(unrouted(
                "grievance naming an account or camp of another division",
                grievance_id,
            ));
        }
        Ok(route)
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
                self.offices
                    .entry(code.clone())
                    .or_insert_with(|| (*level, parent.clone()));
                Ok(Route::Everywhere)
            }
            C::RegisterConsumer {
                account_no,
                subdivision,
                ..
            } => {
                let home = first(&mut self.accounts, account_no, subdivision).to_string();
                self.in_subdivision(&home)
            }
            C::IssueBill {
                bill_no,
                account_no,
                ..
            } => {
                first(&mut self.bills, bill_no, account_no);
                self.account(recorded(&self.bills, "bill", bill_no)?)
            }
            C::ReceivePayment {
                receipt_no,
                account_no,
                ..
            } => {
                first(&mut self.receipts, receipt_no, account_no);
                self.account(recorded(&self.receipts, "receipt", receipt_no)?)
            }
            C::ReviseBill { bill_no, .. } => self.account(recorded(&self.bills, "bill", bill_no)?),
            C::ReversePayment { receipt_no, .. } => {
                self.account(recorded(&self.receipts, "receipt", receipt_no)?)
            }
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
                let home = first(&mut self.camps, camp_id, subdivision).to_string();
                self.in_subdivision(&home)
            }
            C::HoldCamp { camp_id, .. } => {
                self.in_subdivision(recorded(&self.camps, "camp", camp_id)?)
            }
            C::RegisterGrievance {
                grievance_id,
                subdivision,
                account_no,
                camp_id,
                ..
            } => self.grievance(
                grievance_id,
                subdivision,
                account_no.as_deref(),
                camp_id.as_deref(),
            ),
            C::ResolveGrievance { grievance_id, .. } => {
                self.in_subdivision(recorded(&self.grievances, "grievance", grievance_id)?)
            }
            C::PostAdjustment { account_no, .. }
            | C::RegisterMobile { account_no, .. }
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
        assert_eq!(router.route(&consumer("A-1", "S2")), d2);
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

        // What is learnt first stays: a second registration goes where the first went.
        let d1 = Ok(Route::Division("D1".into()));
        assert_eq!(router.route(&consumer("A-2", "S1")), d1);
        assert_eq!(router.route(&consumer("A-2", "S2")), d1);
        assert_eq!(router.route(&bill("B-9", "A-2")), d1);
        // Numbers of different kinds do not collide: a receipt numbered like a bill.
        let receipt = Command::ReceivePayment {
            receipt_no: "B-1".into(),
            account_no: "A-2".into(),
            amount: Money::from_paise(100),
            paid_on: date(3),
            channel: crate::types::Channel::Upi,
        };
        assert_eq!(router.route(&receipt), d1);
        assert_eq!(router.route(&revise), d2, "bill B-1 is still A-1's");
        // A grievance naming an account of another division has no route.
        let grievance = |id: &str, account: &str| Command::RegisterGrievance {
            grievance_id: id.into(),
            subdivision: "S1".into(),
            category: crate::types::GrievanceCategory::Billing,
            registered_on: date(4),
            account_no: Some(account.into()),
            camp_id: None,
        };
        assert_eq!(router.route(&grievance("G-1", "A-2")), d1);
        assert_eq!(
            router.route(&grievance("G-2", "A-1")).map_err(|e| e.key),
            Err("G-2".to_string())
        );
        assert!(router.division_of("Z").is_err(), "a zone has no division");
    }

    #[test]
    fn a_router_taught_what_partitions_hold_routes_as_one_that_saw_the_registrations() {
        let tree = [
            office("Z", Level::Zone, None),
            office("C", Level::Circle, Some("Z")),
            office("D1", Level::Division, Some("C")),
            office("D2", Level::Division, Some("C")),
            office("S1", Level::Subdivision, Some("D1")),
            office("S2", Level::Subdivision, Some("D2")),
        ];
        let mut seen = Router::new();
        for c in tree
            .iter()
            .chain([&consumer("A-1", "S1"), &bill("B-1", "A-1")])
        {
            seen.route(c).expect("routed");
        }
        // What partition D1 would answer for a batch naming A-1, B-1 and an unknown bill.
        let later = [
            bill("B-1", "A-1"),
            bill("B-2", "A-1"),
            consumer("A-1", "S2"),
        ];
        let mut lookup = Lookup::default();
        for c in &later {
            lookup.note(c);
        }
        assert_eq!(
            lookup.accounts.iter().collect::<Vec<_>>(),
            ["A-1"],
            "every account named, once"
        );
        assert_eq!(lookup.bills.iter().collect::<Vec<_>>(), ["B-1", "B-2"]);
        let known = Known {
            offices: ["Z", "C", "D1", "D2", "S1", "S2"]
                .iter()
                .zip([
                    (Level::Zone, None),
                    (Level::Circle, Some("Z")),
                    (Level::Division, Some("C")),
                    (Level::Division, Some("C")),
                    (Level::Subdivision, Some("D1")),
                    (Level::Subdivision, Some("D2")),
                ])
                .map(|(code, (level, parent))| KnownOffice {
                    code: code.to_string(),
                    level,
                    parent: parent.map(str::to_string),
                })
                .collect(),
            accounts: [("A-1".to_string(), "S1".to_string())].into(),
            bills: [("B-1".to_string(), "A-1".to_string())].into(),
            ..Known::default()
        };
        let mut taught = Router::new();
        taught.learn(&known);
        for c in &later {
            // The second registration of A-1 names S2 yet goes where the first went.
            assert_eq!(taught.route(c), seen.route(c), "{c:?}");
        }
        assert_eq!(
            taught.route(&consumer("A-1", "S2")),
            Ok(Route::Division("D1".into()))
        );
        // Learning again keeps what was learnt first.
        let mut moved = known.clone();
        moved.accounts.insert("A-1".into(), "S2".into());
        taught.learn(&moved);
        assert_eq!(
            taught.route(&bill("B-3", "A-1")),
            Ok(Route::Division("D1".into()))
        );
    }
}
