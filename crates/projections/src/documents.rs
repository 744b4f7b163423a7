//! The facts of the papers an officer serves at each step of the recovery ladder: the s.56
//! notice, the disconnection order, the reconnection order, the permanent-disconnection notice
//! and the requisition to the Collector for recovery as arrears of land revenue.
//!
//! Each paper demands (or, for a reconnection order, states) a sum, and carries the bill-wise
//! breakdown of that sum: a row per bill with its unpaid principal and the surcharge levied on
//! it, a row per debit adjustment, the rows adding up to the sum exactly.
//!
//! A notice is fixed when it is issued: its number, its date and the sum it claims come from
//! its `NoticeIssued` event, and its breakdown and the deposit it allows under protest are
//! computed as of its issue date. So a notice reprinted on any later day is the same document,
//! byte for byte. The orders, the permanent-disconnection notice and the requisition are made
//! on the day they are printed (the date of the last nightly run), and demand the overdue
//! arrears of that day; they cite the notice and the orders they rest on.

use chrono::{Months, NaiveDate};
use vasooli_domain::ladder::disconnection_allowed_on;
use vasooli_domain::ledger::{ledger_as_of, ChargeKind, Charges};
use vasooli_domain::state::{Case, ConnectionChange, Consumer, World};
use vasooli_domain::types::{Language, Level, NoticeMode, WorklistKind};
use vasooli_domain::{Money, Policy};

use crate::lists::ConsumerRow;

/// Most rows a breakdown prints: past this, the oldest bills are summed into one row, so that a
/// paper fits its printed page.
pub const BREAKDOWN_ROWS_MAX: usize = 10;

/// How many months of bills the deposit under protest averages (s.56(1) proviso).
pub const DEPOSIT_AVERAGE_MONTHS: u32 = 6;

/// The paper of one ladder step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentKind {
    /// Notice under s.56(1) of the Electricity Act, 2003 (the `serve_notice` worklist).
    Notice,
    /// Order to disconnect, resting on a served notice (the `disconnection` worklist).
    DisconnectionOrder,
    /// Order to reconnect (the `reconnection` worklist).
    ReconnectionOrder,
    /// Notice of permanent disconnection (the `permanent_disconnection` worklist).
    PermanentDisconnectionNotice,
    /// Requisition to the Collector to recover the dues as arrears of land revenue (the
    /// `recovery_certificate` worklist).
    RecoveryRequisition,
}

impl DocumentKind {
    /// The paper a worklist prints, or `None` for a list that has none (`hq_escalation`,
    /// `no_mobile`).
    pub fn for_worklist(kind: WorklistKind) -> Option<DocumentKind> {
        match kind {
            WorklistKind::ServeNotice => Some(DocumentKind::Notice),
            WorklistKind::Disconnection => Some(DocumentKind::DisconnectionOrder),
            WorklistKind::Reconnection => Some(DocumentKind::ReconnectionOrder),
            WorklistKind::PermanentDisconnection => {
                Some(DocumentKind::PermanentDisconnectionNotice)
            }
            WorklistKind::RecoveryCertificate => Some(DocumentKind::RecoveryRequisition),
            WorklistKind::HqEscalation | WorklistKind::NoMobile => None,
        }
    }

    /// The worklists that print a paper, for messages.
    pub const WORKLISTS: &'static [&'static str] = &[
        "serve_notice",
        "disconnection",
        "reconnection",
        "permanent_disconnection",
        "recovery_certificate",
    ];

    /// Whether the paper demands its sum of the consumer (and so carries a payment code and
    /// is printed only for a sum above zero). A reconnection order demands nothing.
    pub fn is_demand(self) -> bool {
        self != DocumentKind::ReconnectionOrder
    }

    /// The prefix of the paper's number; a notice keeps its own number.
    fn number_prefix(self) -> &'static str {
        match self {
            DocumentKind::Notice => "N",
            DocumentKind::DisconnectionOrder => "DO",
            DocumentKind::ReconnectionOrder => "RO",
            DocumentKind::PermanentDisconnectionNotice => "PD",
            DocumentKind::RecoveryRequisition => "RR",
        }
    }
}

/// Why a worklist prints no papers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the {0} worklist has no printable documents; documents are printed for serve_notice \
     (s.56 notices), disconnection, reconnection, permanent_disconnection and \
     recovery_certificate"
)]
pub struct NoDocuments(pub WorklistKind);

/// One row of a breakdown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BreakdownItem {
    /// A bill, with what is unpaid of it and of the surcharges levied on it.
    Bill {
        bill_no: String,
        /// `YYYY-MM`.
        period: String,
        due_on: NaiveDate,
        billed: Money,
        principal_unpaid: Money,
        surcharge_unpaid: Money,
    },
    /// The oldest bills summed into one row (a breakdown longer than
    /// [`BREAKDOWN_ROWS_MAX`]).
    OlderBills {
        count: usize,
        first_period: String,
        last_period: String,
        billed: Money,
        principal_unpaid: Money,
        surcharge_unpaid: Money,
    },
    /// A debit adjustment.
    Adjustment {
        adjustment_no: String,
        due_on: NaiveDate,
        unpaid: Money,
    },
    /// For a notice: entries dated on or before its issue date but recorded after it (a
    /// payment booked late), which the sum it claimed did not yet reflect.
    RecordedLater { amount: Money },
}

impl BreakdownItem {
    /// What the row adds to the sum.
    pub fn total(&self) -> Money {
        match self {
            BreakdownItem::Bill {
                principal_unpaid,
                surcharge_unpaid,
                ..
            }
            | BreakdownItem::OlderBills {
                principal_unpaid,
                surcharge_unpaid,
                ..
            } => *principal_unpaid + *surcharge_unpaid,
            BreakdownItem::Adjustment { unpaid, .. } => *unpaid,
            BreakdownItem::RecordedLater { amount } => *amount,
        }
    }
}

/// The notice a paper rests on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticeFacts {
    pub notice_no: String,
    pub issued_on: NaiveDate,
    /// The sum the notice claimed, as issued.
    pub claimed: Money,
    pub served_on: Option<NaiveDate>,
    pub mode: Option<NoticeMode>,
    /// The last day of the clear days after service, when served.
    pub pay_by: Option<NaiveDate>,
    /// The first day disconnection is allowed, when served.
    pub disconnection_from: Option<NaiveDate>,
}

/// Where the paper comes from and who signs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issuer {
    pub subdivision_code: String,
    pub subdivision_name: String,
    pub division_name: String,
}

/// Everything one paper says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    pub kind: DocumentKind,
    pub number: String,
    pub dated: NaiveDate,
    pub account_no: String,
    pub name: String,
    pub address: Option<String>,
    pub category: String,
    pub language: Language,
    pub issuer: Issuer,
    /// The sum demanded (for a reconnection order: what is still outstanding).
    pub amount: Money,
    /// Rows adding up to `amount`, oldest first.
    pub breakdown: Vec<BreakdownItem>,
    /// The notice the paper is (a notice) or rests on.
    pub notice: Option<NoticeFacts>,
    /// For a disconnection order: what is still unpaid of the notice's claim.
    pub claim_unpaid: Option<Money>,
    /// The last recorded disconnection: its order number and date.
    pub disconnection: Option<(String, NaiveDate)>,
    pub permanently_disconnected_on: Option<NaiveDate>,
    /// The average monthly bill over the six months before the paper's reference date.
    pub average_monthly_charges: Money,
    /// What the consumer may deposit under protest: the lesser of `amount` and the average.
    pub deposit_under_protest: Money,
    /// Clear days of the notice period (policy `notice.clear_days`).
    pub clear_days: i64,
    /// For a reconnection order under an instalment plan: the plan's id.
    pub plan_id: Option<String>,
}

/// The papers of a worklist's rows, one per row whose sum is above zero (every row, for a
/// reconnection order). Rows are taken in the worklist's order.
pub fn documents(
    world: &World,
    policy: &Policy,
    kind: WorklistKind,
    rows: &[ConsumerRow],
    date: NaiveDate,
) -> Result<Vec<Document>, NoDocuments> {
    let document_kind = DocumentKind::for_worklist(kind).ok_or(NoDocuments(kind))?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let consumer = world.consumer(&row.account_no)?;
            document(world, policy, document_kind, &consumer, row, date)
        })
        .filter(|d| !d.kind.is_demand() || d.amount.is_positive())
        .collect())
}

/// The paper of one consumer, or `None` when the consumer's history lacks what the paper
/// rests on (a notice without its case, an order without its disconnection).
pub fn document(
    world: &World,
    policy: &Policy,
    kind: DocumentKind,
    consumer: &Consumer,
    row: &ConsumerRow,
    date: NaiveDate,
) -> Option<Document> {
    let (last_disconnection, disconnections, permanently_disconnected_on) =
        connection_facts(consumer, date);
    // The notice: the row's for a notice or an order to disconnect; the one that led to the
    // last disconnection for the later steps.
    let case: Option<&Case> = match kind {
        DocumentKind::Notice | DocumentKind::DisconnectionOrder => {
            let notice_no = row.notice_no.as_deref()?;
            Some(consumer.cases.iter().find(|c| c.notice_no == notice_no)?)
        }
        _ => {
            let (_, on) = last_disconnection.as_ref()?;
            consumer.cases.iter().rev().find(|c| c.issued_on <= *on)
        }
    };
    let notice = case.map(|c| notice_facts(c, policy));
    let (dated, number) = numbered(kind, case, consumer, date, disconnections)?;
    let (amount, breakdown) = claim(kind, case, consumer, date)?;
    debug_assert_eq!(
        breakdown.iter().map(BreakdownItem::total).sum::<Money>(),
        amount
    );
    let claim_unpaid = match (kind, case) {
        (DocumentKind::DisconnectionOrder, Some(case)) => Some(claim_unpaid(consumer, case, date)),
        _ => None,
    };
    let average = average_monthly_charges(consumer, dated);
    let office_name = |level| {
        world
            .ancestor_at(&consumer.subdivision, level)
            .map(|o| o.name.clone())
            .unwrap_or_default()
    };
    Some(Document {
        kind,
        number,
        dated,
        account_no: consumer.account_no.to_string(),
        name: consumer.name.to_string(),
        address: consumer.address.as_ref().map(|a| a.to_string()),
        category: row.category.clone(),
        language: consumer.language,
        issuer: Issuer {
            subdivision_code: consumer.subdivision.to_string(),
            subdivision_name: office_name(Level::Subdivision),
            division_name: office_name(Level::Division),
        },
        amount,
        breakdown,
        notice,
        claim_unpaid,
        disconnection: last_disconnection,
        permanently_disconnected_on,
        average_monthly_charges: average,
        deposit_under_protest: average.min(amount).max(Money::ZERO),
        clear_days: policy.notice.clear_days,
        plan_id: consumer
            .plan_in_force(date)
            .filter(|_| kind == DocumentKind::ReconnectionOrder)
            .map(|p| p.plan_id.to_string()),
    })
}

/// The consumer's last disconnection (order number and date), how many there were, and the
/// date of a permanent disconnection, all as of `date`.
#[allow(clippy::type_complexity)]
fn connection_facts(
    consumer: &Consumer,
    date: NaiveDate,
) -> (Option<(String, NaiveDate)>, usize, Option<NaiveDate>) {
    let last_disconnection = consumer
        .connection
        .iter()
        .filter(|c| c.on <= date)
        .filter_map(|c| match &c.change {
            ConnectionChange::Disconnected { order_no } => Some((order_no.to_string(), c.on)),
            _ => None,
        })
        .next_back();
    let disconnections = consumer
        .connection
        .iter()
        .filter(|c| c.on <= date && matches!(c.change, ConnectionChange::Disconnected { .. }))
        .count();
    let permanently_disconnected_on = consumer
        .connection
        .iter()
        .filter(|c| c.on <= date && c.change == ConnectionChange::PermanentlyDisconnected)
        .map(|c| c.on)
        .next_back();
    (
        last_disconnection,
        disconnections,
        permanently_disconnected_on,
    )
}

/// A paper's date and number: a notice's own; an order's from its notice; the later steps'
/// from the account and the count of disconnections.
fn numbered(
    kind: DocumentKind,
    case: Option<&Case>,
    consumer: &Consumer,
    date: NaiveDate,
    disconnections: usize,
) -> Option<(NaiveDate, String)> {
    Some(match kind {
        DocumentKind::Notice => {
            let case = case?;
            (case.issued_on, case.notice_no.to_string())
        }
        DocumentKind::DisconnectionOrder => {
            let notice_no = &case?.notice_no;
            let tail = notice_no.strip_prefix("N-").unwrap_or(notice_no);
            (date, format!("{}-{tail}", kind.number_prefix()))
        }
        _ => (
            date,
            format!(
                "{}-{}-{:03}",
                kind.number_prefix(),
                consumer.account_no,
                disconnections.max(1)
            ),
        ),
    })
}

/// The sum a paper claims and its bill-wise breakdown: a notice's as it was issued (what was
/// recorded later for its dates shown on a line of its own), any other paper's as of `date`.
fn claim(
    kind: DocumentKind,
    case: Option<&Case>,
    consumer: &Consumer,
    date: NaiveDate,
) -> Option<(Money, Vec<BreakdownItem>)> {
    Some(match kind {
        DocumentKind::Notice => {
            let case = case?;
            let claimed = case.overdue_arrears_at_issue;
            let mut rows = breakdown(consumer, case.issued_on);
            let shown: Money = rows.iter().map(BreakdownItem::total).sum();
            if shown != claimed {
                rows.push(BreakdownItem::RecordedLater {
                    amount: claimed - shown,
                });
            }
            (claimed, rows)
        }
        _ => {
            let rows = breakdown(consumer, date);
            (rows.iter().map(BreakdownItem::total).sum(), rows)
        }
    })
}

fn notice_facts(case: &Case, policy: &Policy) -> NoticeFacts {
    let clear_days = policy.notice.clear_days.max(0) as u64;
    NoticeFacts {
        notice_no: case.notice_no.to_string(),
        issued_on: case.issued_on,
        claimed: case.overdue_arrears_at_issue,
        served_on: case.served_on,
        mode: case.mode,
        pay_by: case.served_on.map(|s| s + chrono::Days::new(clear_days)),
        disconnection_from: case.served_on.map(|s| disconnection_allowed_on(s, policy)),
    }
}

/// The overdue arrears as of `date`, bill by bill: a row per bill with its unpaid principal
/// and the unpaid surcharges levied on it, a row per unpaid debit adjustment, oldest first.
pub fn breakdown(consumer: &Consumer, date: NaiveDate) -> Vec<BreakdownItem> {
    let ledger = ledger_as_of(consumer, date, Charges::All, &[]);
    let mut rows: Vec<BreakdownItem> = Vec::new();
    let bill_row = |rows: &mut Vec<BreakdownItem>, bill_no: &str| -> Option<usize> {
        rows.iter().position(
            |r| matches!(r, BreakdownItem::Bill { bill_no: b, .. } if b.as_str() == bill_no),
        )
    };
    for charge in ledger
        .charges
        .iter()
        .filter(|c| c.due_on < date && c.unpaid.is_positive())
    {
        match charge.kind {
            ChargeKind::Bill { bill_no, period } => {
                let at = match bill_row(&mut rows, bill_no) {
                    Some(at) => at,
                    None => {
                        rows.push(new_bill_row(consumer, bill_no, date));
                        rows.len() - 1
                    }
                };
                if let BreakdownItem::Bill {
                    principal_unpaid,
                    period: p,
                    due_on,
                    billed,
                    ..
                } = &mut rows[at]
                {
                    *principal_unpaid += charge.unpaid;
                    *p = period.to_string();
                    *due_on = charge.due_on;
                    *billed = charge.amount;
                }
            }
            ChargeKind::Surcharge { bill_no, .. } => {
                let at = match bill_row(&mut rows, bill_no) {
                    Some(at) => at,
                    None => {
                        rows.push(new_bill_row(consumer, bill_no, date));
                        rows.len() - 1
                    }
                };
                if let BreakdownItem::Bill {
                    surcharge_unpaid, ..
                } = &mut rows[at]
                {
                    *surcharge_unpaid += charge.unpaid;
                }
            }
            ChargeKind::Adjustment { adjustment_no } => rows.push(BreakdownItem::Adjustment {
                adjustment_no: adjustment_no.to_string(),
                due_on: charge.due_on,
                unpaid: charge.unpaid,
            }),
        }
    }
    // A bill whose principal is paid shows up first through a later surcharge: put every
    // row in the order of its due date, so the oldest bills come first and fold together.
    rows.sort_by_key(|r| match r {
        BreakdownItem::Bill { due_on, .. } | BreakdownItem::Adjustment { due_on, .. } => *due_on,
        _ => NaiveDate::MAX,
    });
    fold_oldest(rows)
}

/// A bill's row before its charges are added: its own figures as of `date`.
fn new_bill_row(consumer: &Consumer, bill_no: &str, date: NaiveDate) -> BreakdownItem {
    let bill = consumer.bill(bill_no);
    BreakdownItem::Bill {
        bill_no: bill_no.to_string(),
        period: bill.map(|b| b.period.to_string()).unwrap_or_default(),
        due_on: bill.map_or(date, |b| b.due_on),
        billed: bill.map_or(Money::ZERO, |b| b.amount_as_of(date)),
        principal_unpaid: Money::ZERO,
        surcharge_unpaid: Money::ZERO,
    }
}

/// Sums the oldest bills into one row when there are more rows than a page holds.
fn fold_oldest(rows: Vec<BreakdownItem>) -> Vec<BreakdownItem> {
    if rows.len() <= BREAKDOWN_ROWS_MAX {
        return rows;
    }
    let fold = rows.len() - (BREAKDOWN_ROWS_MAX - 1);
    let (mut folded, mut kept) = (Vec::new(), Vec::new());
    for row in rows {
        if folded.len() < fold && matches!(row, BreakdownItem::Bill { .. }) {
            folded.push(row);
        } else {
            kept.push(row);
        }
    }
    let periods: Vec<&str> = folded
        .iter()
        .filter_map(|r| match r {
            BreakdownItem::Bill { period, .. } => Some(period.as_str()),
            _ => None,
        })
        .collect();
    let sum = |f: fn(&BreakdownItem) -> Money| folded.iter().map(f).sum::<Money>();
    let field = |pick: usize| {
        move |r: &BreakdownItem| match r {
            BreakdownItem::Bill {
                billed,
                principal_unpaid,
                surcharge_unpaid,
                ..
            } => [*billed, *principal_unpaid, *surcharge_unpaid][pick],
            _ => Money::ZERO,
        }
    };
    let older = BreakdownItem::OlderBills {
        count: folded.len(),
        first_period: periods
            .iter()
            .min()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        last_period: periods
            .iter()
            .max()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        billed: folded.iter().map(field(0)).sum(),
        principal_unpaid: folded.iter().map(field(1)).sum(),
        surcharge_unpaid: folded.iter().map(field(2)).sum(),
    };
    debug_assert_eq!(older.total(), sum(BreakdownItem::total));
    let mut out = vec![older];
    out.extend(kept);
    out
}

/// What is still unpaid, as of `date`, of the charges a notice claimed (those overdue and
/// unpaid on its issue date).
pub fn claim_unpaid(consumer: &Consumer, case: &Case, date: NaiveDate) -> Money {
    let at_issue = ledger_as_of(consumer, case.issued_on, Charges::All, &[]);
    let now = ledger_as_of(consumer, date, Charges::All, &[]);
    at_issue
        .charges
        .iter()
        .filter(|c| c.due_on < case.issued_on && c.unpaid.is_positive())
        .map(|claimed| {
            now.charges
                .iter()
                .filter(|c| c.kind == claimed.kind)
                .map(|c| c.unpaid)
                .sum::<Money>()
        })
        .sum()
}

/// The average monthly bill before a date: the bills issued in the six months up to and
/// including `date` (as they stood that day), summed and divided by six, rounded half away
/// from zero. This is the measure s.56(1)'s proviso uses for a deposit under protest.
pub fn average_monthly_charges(consumer: &Consumer, date: NaiveDate) -> Money {
    let Some(since) = date.checked_sub_months(Months::new(DEPOSIT_AVERAGE_MONTHS)) else {
        return Money::ZERO;
    };
    let total: Money = consumer
        .bills
        .iter()
        .filter(|b| b.issued_on > since && b.issued_on <= date)
        .map(|b| b.amount_as_of(date))
        .sum();
    Money::from_decimal_rounded(
        total.to_decimal() / rust_decimal::Decimal::from(DEPOSIT_AVERAGE_MONTHS),
    )
}
