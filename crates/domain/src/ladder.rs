//! The recovery ladder (docs/RULES.md): where a consumer stands as of a date, what holds apply,
//! and which worklist the consumer belongs on. The first rule of the table that applies wins.

use crate::ledger::{ledger_as_of, ChargeKind, Charges, LedgerView};
use crate::money::Money;
use crate::policy::Policy;
use crate::state::{Case, Connection, Consumer};
use crate::types::{CaseCloseReason, Category, Hold, Stage, WorklistKind};
use chrono::{Days, NaiveDate};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LadderView {
    pub stage: Stage,
    /// The open case as of the date, if any.
    pub notice_no: Option<String>,
    pub notice_served_on: Option<NaiveDate>,
    pub disconnection_allowed_on: Option<NaiveDate>,
    pub holds: Vec<Hold>,
    pub worklist: Option<WorklistKind>,
    /// Rules 7 and 7a: the open case closes, and why (an unserved notice lapses).
    pub closes_case: Option<CaseCloseReason>,
    /// Rule 11: criteria met with no case; the nightly run issues a notice.
    pub opens_case: bool,
}

/// The first day disconnection is allowed after a notice served on `served_on`.
pub fn disconnection_allowed_on(served_on: NaiveDate, policy: &Policy) -> NaiveDate {
    served_on + Days::new((policy.notice.clear_days + 1).max(0) as u64)
}

/// Whether the notice criteria are met.
pub fn notice_criteria_met(consumer: &Consumer, ledger: &LedgerView, policy: &Policy) -> bool {
    ledger.overdue_arrears >= policy.notice.threshold.for_category(consumer.category)
        && ledger.overdue_arrears.is_positive()
        && ledger.days_overdue >= policy.notice.min_days_overdue
}

pub fn ladder_as_of(
    consumer: &Consumer,
    ledger: &LedgerView,
    date: NaiveDate,
    policy: &Policy,
) -> LadderView {
    let arrears = ledger.overdue_arrears;
    let case: Option<&Case> = consumer.open_case(date);
    let served_on = case.and_then(|c| c.served_by(date));
    let allowed_on = served_on.map(|s| disconnection_allowed_on(s, policy));
    let plan_in_force = consumer.plan_in_force(date).is_some();
    let mut view = LadderView {
        stage: Stage::Clear,
        notice_no: case.map(|c| c.notice_no.to_string()),
        notice_served_on: served_on,
        disconnection_allowed_on: allowed_on,
        holds: Vec::new(),
        worklist: None,
        closes_case: None,
        opens_case: false,
    };
    if consumer.dispute_in_force(date).is_some() {
        view.holds.push(Hold::Dispute);
    }
    if plan_in_force {
        view.holds.push(Hold::InstallmentPlan);
    }
    view.stage = match consumer.connection_as_of(date) {
        Connection::PermanentlyDisconnected {
            rc_issued: true, ..
        } => Stage::RcIssued,
        Connection::PermanentlyDisconnected { .. }
            if arrears >= policy.recovery_certificate.min_arrears =>
        {
            Stage::RcDue
        }
        Connection::PermanentlyDisconnected { .. } => Stage::PermanentlyDisconnected,
        Connection::Disconnected { .. } if arrears == Money::ZERO || plan_in_force => {
            Stage::ReconnectionDue
        }
        Connection::Disconnected { since }
            if (date - since).num_days() >= policy.permanent_disconnection.after_days =>
        {
            Stage::PdDue
        }
        Connection::Disconnected { .. } => Stage::Disconnected,
        Connection::Connected => connected_stage(&mut view, consumer, ledger, case, date, policy),
    };
    if view.closes_case.is_some() {
        view.notice_no = None;
        view.notice_served_on = None;
        view.disconnection_allowed_on = None;
    }
    view.worklist = worklist(&mut view, consumer, date, policy);
    view
}

/// The officers' worklist a consumer is on at its stage, noting the holds that keep it off.
fn worklist(
    view: &mut LadderView,
    consumer: &Consumer,
    date: NaiveDate,
    policy: &Policy,
) -> Option<WorklistKind> {
    match view.stage {
        Stage::NoticeIssued => Some(WorklistKind::ServeNotice),
        Stage::DisconnectionDue => {
            let government = consumer.category == Category::Government;
            if government {
                view.holds.push(Hold::EssentialService);
            }
            let moratorium = policy.in_moratorium(date);
            if moratorium {
                view.holds.push(Hold::Moratorium);
            }
            let personal_hold = view
                .holds
                .iter()
                .any(|h| matches!(h, Hold::Dispute | Hold::InstallmentPlan));
            if personal_hold {
                None
            } else if government {
                Some(WorklistKind::HqEscalation)
            } else if moratorium {
                None
            } else {
                Some(WorklistKind::Disconnection)
            }
        }
        Stage::ReconnectionDue => Some(WorklistKind::Reconnection),
        Stage::PdDue => Some(WorklistKind::PermanentDisconnection),
        Stage::RcDue => Some(WorklistKind::RecoveryCertificate),
        _ => None,
    }
}

/// The stage of a connected consumer, and whether its case closes or a case opens.
fn connected_stage(
    view: &mut LadderView,
    consumer: &Consumer,
    ledger: &LedgerView,
    case: Option<&Case>,
    date: NaiveDate,
    policy: &Policy,
) -> Stage {
    let arrears = ledger.overdue_arrears;
    let threshold = policy.notice.threshold.for_category(consumer.category);
    let served_on = view.notice_served_on;
    let allowed_on = view.disconnection_allowed_on;
    match case {
        Some(_) if arrears < threshold || !arrears.is_positive() => {
            view.closes_case = Some(CaseCloseReason::ArrearsCleared);
            Stage::Clear
        }
        Some(c) if claim_paid(consumer, c, ledger) => {
            view.closes_case = Some(CaseCloseReason::NoticePaid);
            if notice_criteria_met(consumer, ledger, policy) {
                view.opens_case = true;
                Stage::NoticeDue
            } else {
                Stage::Clear
            }
        }
        Some(_) if served_on.is_none() => Stage::NoticeIssued,
        Some(_) if allowed_on.is_some_and(|a| date < a) => Stage::NoticeServed,
        Some(_) => Stage::DisconnectionDue,
        None if notice_criteria_met(consumer, ledger, policy) => {
            view.opens_case = true;
            Stage::NoticeDue
        }
        None => Stage::Clear,
    }
}

/// Rule 7a: whether the sum a case's notice claimed has been paid as of the ledger's date.
///
/// The notice claims the charges that were overdue and unpaid on its issue date (the oldest,
/// since credits cover charges oldest first). The claim is paid once the ledger shows every one
/// of those charges covered; charges booked or fallen due after the notice do not count.
pub fn claim_paid(consumer: &Consumer, case: &Case, ledger: &LedgerView) -> bool {
    let at_issue = ledger_as_of(consumer, case.issued_on, Charges::All, &[]);
    let claimed: Vec<ChargeKind> = at_issue
        .charges
        .iter()
        .filter(|c| c.due_on < case.issued_on && c.unpaid.is_positive())
        .map(|c| c.kind)
        .collect();
    !claimed.is_empty()
        && claimed.iter().all(|kind| {
            ledger
                .charges
                .iter()
                .filter(|c| c.kind == *kind)
                .all(|c| !c.unpaid.is_positive())
        })
}

/// The deterministic number of a consumer's n-th notice (n from 1).
pub fn notice_number(account_no: &str, n: usize) -> String {
    format!("N-{account_no}-{n:03}")
}

/// The account a notice number belongs to.
pub fn account_of_notice(notice_no: &str) -> Option<&str> {
    let rest = notice_no.strip_prefix("N-")?;
    let (account, _) = rest.rsplit_once('-')?;
    Some(account)
}
