//! The ledger of one consumer as of a date and the late payment surcharge (docs/RULES.md).
//!
//! Charges are ordered by due date, surcharges before other charges of the same due date,
//! then log order; total credits cover that order from the front. The unpaid part of charge
//! i is `clamp(cumulative_i - total_credits, 0, amount_i)`.

use crate::money::Money;
use crate::policy::Policy;
use crate::state::{BillMonth, Consumer, Surcharge};
use crate::types::aging_bucket;
use chrono::{Months, NaiveDate};
use rust_decimal::Decimal;

/// What a charge is. Borrowed from the consumer's history, so computing a ledger allocates
/// no strings (the nightly run computes several ledgers per consumer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChargeKind<'a> {
    Bill { bill_no: &'a str, period: BillMonth },
    Surcharge { bill_no: &'a str, anniversary: u32 },
    Adjustment { adjustment_no: &'a str },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeLine<'a> {
    pub kind: ChargeKind<'a>,
    pub booked_on: NaiveDate,
    pub due_on: NaiveDate,
    pub amount: Money,
    pub unpaid: Money,
    pub position: u64,
}

impl ChargeLine<'_> {
    pub fn is_surcharge(&self) -> bool {
        matches!(self.kind, ChargeKind::Surcharge { .. })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreditKind<'a> {
    Payment { receipt_no: &'a str },
    Deposit,
    Adjustment { adjustment_no: &'a str },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreditLine<'a> {
    pub kind: CreditKind<'a>,
    pub on: NaiveDate,
    pub amount: Money,
}

/// A consumer's ledger as of one date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerView<'a> {
    pub as_of: NaiveDate,
    /// In allocation order.
    pub charges: Vec<ChargeLine<'a>>,
    pub credits: Vec<CreditLine<'a>>,
    pub total_charges: Money,
    pub total_credits: Money,
    pub overdue_arrears: Money,
    pub oldest_overdue_due_on: Option<NaiveDate>,
    pub days_overdue: i64,
}

impl LedgerView<'_> {
    /// Charges less credits; negative when the consumer has paid in advance.
    pub fn balance(&self) -> Money {
        self.total_charges - self.total_credits
    }
    pub fn outstanding(&self) -> Money {
        self.charges.iter().map(|c| c.unpaid).sum()
    }
    pub fn advance(&self) -> Money {
        (self.total_credits - self.total_charges).max(Money::ZERO)
    }
    pub fn aging_bucket(&self) -> &'static str {
        aging_bucket(self.days_overdue)
    }
    /// The unpaid part of bill `bill_no` (nothing when the ledger does not hold it).
    pub fn bill_unpaid(&self, bill_no: &str) -> Money {
        self.charges
            .iter()
            .find(|c| matches!(&c.kind, ChargeKind::Bill { bill_no: b, .. } if *b == bill_no))
            .map_or(Money::ZERO, |c| c.unpaid)
    }
}

/// Which charges to count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charges {
    All,
    /// Leaves surcharges out: the principal arrears of rankings (§10).
    PrincipalOnly,
}

/// Computes the ledger as of `date` from the events dated on or before it, plus `extra`
/// surcharges not yet in the consumer's history (levies being decided in this run).
pub fn ledger_as_of<'a>(
    consumer: &'a Consumer,
    date: NaiveDate,
    which: Charges,
    extra: &'a [Surcharge],
) -> LedgerView<'a> {
    let mut charges = bill_and_surcharge_lines(consumer, date, which, extra);
    let mut credits = Vec::new();
    for a in consumer.adjustments.iter().filter(|a| a.posted_on <= date) {
        if a.amount.is_positive() {
            charges.push(ChargeLine {
                kind: ChargeKind::Adjustment {
                    adjustment_no: &a.adjustment_no,
                },
                booked_on: a.posted_on,
                due_on: a.posted_on,
                amount: a.amount,
                unpaid: Money::ZERO,
                position: a.position,
            });
        } else if !a.amount.is_zero() {
            credits.push(CreditLine {
                kind: CreditKind::Adjustment {
                    adjustment_no: &a.adjustment_no,
                },
                on: a.posted_on,
                amount: -a.amount,
            });
        }
    }
    for p in consumer.payments.iter().filter(|p| p.counts_on(date)) {
        credits.push(CreditLine {
            kind: CreditKind::Payment {
                receipt_no: &p.receipt_no,
            },
            on: p.paid_on,
            amount: p.amount,
        });
    }
    for d in consumer.disputes.iter().filter(|d| d.on <= date) {
        credits.push(CreditLine {
            kind: CreditKind::Deposit,
            on: d.on,
            amount: d.deposit,
        });
    }
    allocate(charges, credits, date)
}

/// The bills issued by `date` at their amounts then, and (for [`Charges::All`]) the
/// surcharges levied by then, `extra` included.
fn bill_and_surcharge_lines<'a>(
    consumer: &'a Consumer,
    date: NaiveDate,
    which: Charges,
    extra: &'a [Surcharge],
) -> Vec<ChargeLine<'a>> {
    let mut charges: Vec<ChargeLine> = Vec::with_capacity(consumer.bills.len() * 2);
    for bill in consumer.bills.iter().filter(|b| b.issued_on <= date) {
        charges.push(ChargeLine {
            kind: ChargeKind::Bill {
                bill_no: &bill.bill_no,
                period: bill.period,
            },
            booked_on: bill.issued_on,
            due_on: bill.due_on,
            amount: bill.amount_as_of(date),
            unpaid: Money::ZERO,
            position: bill.position,
        });
    }
    if which == Charges::All {
        for s in consumer
            .surcharges
            .iter()
            .chain(extra)
            .filter(|s| s.levied_on <= date)
        {
            charges.push(ChargeLine {
                kind: ChargeKind::Surcharge {
                    bill_no: consumer.surcharge_bill_no(s),
                    anniversary: s.anniversary,
                },
                booked_on: s.levied_on,
                due_on: s.levied_on,
                amount: s.amount,
                unpaid: Money::ZERO,
                position: s.position,
            });
        }
    }
    charges
}

fn allocate<'a>(
    mut charges: Vec<ChargeLine<'a>>,
    credits: Vec<CreditLine<'a>>,
    date: NaiveDate,
) -> LedgerView<'a> {
    charges.sort_by_key(|c| (c.due_on, !c.is_surcharge(), c.position));
    let total_credits: Money = credits.iter().map(|c| c.amount).sum();
    let mut cumulative = Money::ZERO;
    let mut overdue_arrears = Money::ZERO;
    let mut oldest_overdue_due_on = None;
    for charge in &mut charges {
        cumulative += charge.amount;
        charge.unpaid =
            (cumulative - total_credits).clamp(Money::ZERO, charge.amount.max(Money::ZERO));
        if charge.due_on < date && charge.unpaid.is_positive() {
            overdue_arrears += charge.unpaid;
            oldest_overdue_due_on.get_or_insert(charge.due_on);
        }
    }
    let total_charges: Money = charges.iter().map(|c| c.amount).sum();
    debug_assert!(
        charges.iter().map(|c| c.unpaid).sum::<Money>()
            == (total_charges - total_credits).max(Money::ZERO)
    );
    let days_overdue = oldest_overdue_due_on.map_or(0, |d| (date - d).num_days());
    LedgerView {
        as_of: date,
        charges,
        credits,
        total_charges,
        total_credits,
        overdue_arrears,
        oldest_overdue_due_on,
        days_overdue,
    }
}

/// The k-th anniversary of a due date: `due_on + k months`, clamped to the month's end.
pub fn anniversary(due_on: NaiveDate, k: u32) -> Option<NaiveDate> {
    due_on.checked_add_months(Months::new(k))
}

/// Decides the surcharges a nightly run on `date` levies for one consumer.
///
/// Anniversaries are assessed once: by the first run dated on or after them that saw the
/// bill in the log. `assessed_through` is the previous run's date for bills that run saw,
/// `None` for bills it did not. Anniversaries are taken in date order, each seeing the
/// levies before it, so one run after a gap levies what daily runs would have.
pub fn surcharges_due(
    consumer: &Consumer,
    date: NaiveDate,
    policy: &Policy,
    assessed_through: impl Fn(u64) -> Option<NaiveDate>,
) -> Vec<Surcharge> {
    let rate = policy.lps_rate();
    if rate.is_zero() {
        // Every levy would be nothing, and a levy of nothing is not recorded.
        return Vec::new();
    }
    let due = anniversaries_due(consumer, date, assessed_through);
    let mut levies: Vec<Surcharge> = Vec::new();
    for day_dues in due.chunk_by(|a, b| a.0 == b.0) {
        let day = day_dues[0].0;
        // One ledger serves every levy of a day. A levy falls due on the day it is levied,
        // and a bill's anniversaries come after its due date, so in the allocation order
        // (due date first) a levy of this day follows every bill levied on this day and
        // leaves what those bills have unpaid as it was.
        let unpaid: Vec<Money> = {
            let ledger = ledger_as_of(consumer, day, Charges::All, &levies);
            day_dues
                .iter()
                .map(|&(_, index, _)| ledger.bill_unpaid(&consumer.bills[index].bill_no))
                .collect()
        };
        for (&due, unpaid_principal) in day_dues.iter().zip(unpaid) {
            levies.extend(levy(due, unpaid_principal, rate, levies.len()));
        }
    }
    levies
}

/// The levy of anniversary `due` (the day, the bill's place, which anniversary) on a bill
/// with `unpaid_principal` unpaid that day, at `rate`, as the run's levy number `earlier`
/// (0 for its first); `None` when it comes to nothing.
pub fn levy(
    (day, index, k): (NaiveDate, usize, u32),
    unpaid_principal: Money,
    rate: Decimal,
    earlier: usize,
) -> Option<Surcharge> {
    let amount = Money::from_decimal_rounded(unpaid_principal.to_decimal() * rate);
    amount.is_positive().then_some(Surcharge {
        bill: index as u32,
        anniversary: k,
        levied_on: day,
        amount,
        // Levies of one run follow everything already in the log.
        position: crate::nightly::RUN_POSITIONS + earlier as u64,
    })
}

/// The anniversaries a run on `date` assesses for one consumer (see [`surcharges_due`]),
/// in date order: (the day, the bill's place in `consumer.bills`, which anniversary).
pub fn anniversaries_due(
    consumer: &Consumer,
    date: NaiveDate,
    assessed_through: impl Fn(u64) -> Option<NaiveDate>,
) -> Vec<(NaiveDate, usize, u32)> {
    let mut due: Vec<(NaiveDate, usize, u32)> = Vec::new();
    for (index, bill) in consumer.bills.iter().enumerate() {
        let after = assessed_through(bill.position);
        for k in after.map_or(1, |a| first_anniversary_from(bill.due_on, a)).. {
            let Some(day) = anniversary(bill.due_on, k) else {
                break;
            };
            if day > date {
                break;
            }
            if after.is_some_and(|a| day <= a) || day < bill.issued_on {
                continue;
            }
            let levied = consumer
                .surcharges
                .iter()
                .any(|s| s.bill == index as u32 && s.anniversary == k);
            if !levied {
                due.push((day, index, k));
            }
        }
    }
    due.sort();
    due
}

/// The first anniversary of `due_on` that may fall after `after`: every earlier one falls in
/// a month before `after`'s, so a run that assessed through `after` assessed it. (The `k`th
/// anniversary falls in the `k`th month after the due date's, its day clamped to the month's
/// end.) The first anniversary after `after` is this one or the next.
pub(crate) fn first_anniversary_from(due_on: NaiveDate, after: NaiveDate) -> u32 {
    use chrono::Datelike;
    let months = |d: NaiveDate| i64::from(d.year()) * 12 + i64::from(d.month0());
    u32::try_from(months(after) - months(due_on))
        .unwrap_or(0)
        .max(1)
}

/// Whether a charge is more than two years past its due date (s.56(2)).
pub fn over_two_years(due_on: NaiveDate, date: NaiveDate) -> bool {
    due_on
        .checked_add_months(Months::new(24))
        .is_some_and(|limit| limit < date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A date from 2000 to about 2060, month ends included.
    fn date() -> impl Strategy<Value = NaiveDate> {
        (2000i32..2060, 1u32..=12, 1u32..=31).prop_map(|(y, m, d)| {
            (0..4)
                .find_map(|back| NaiveDate::from_ymd_opt(y, m, d - back))
                .expect("one of the month's last four days exists")
        })
    }

    proptest! {
        /// Starting at `first_anniversary_from` skips only anniversaries on or before
        /// `after`, and no more than one anniversary short of the first after it.
        #[test]
        fn the_first_anniversary_from_a_date_skips_only_those_on_or_before_it(
            due_on in date(),
            after in date(),
        ) {
            let first = first_anniversary_from(due_on, after);
            let first_after = (1u32..)
                .find(|k| anniversary(due_on, *k).is_none_or(|day| day > after))
                .expect("some anniversary falls after any date");
            prop_assert!(first >= 1);
            prop_assert!(first <= first_after, "{first} skips past {first_after}");
            prop_assert!(first + 1 >= first_after, "{first} starts well before {first_after}");
        }
    }
}
