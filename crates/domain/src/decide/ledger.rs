//! Deciding the ledger's commands: bills, revisions, payments, reversals and adjustments.

use super::{need_account, need_consumer, not_found, unprocessable, Rejection, StateView};
use crate::command::Command;
use crate::money::Money;
use chrono::NaiveDate;

/// Checks a ledger command against the rules.
pub(super) fn check(view: &dyn StateView, command: &Command) -> Result<(), Rejection> {
    match command {
        Command::IssueBill { account_no, .. }
        | Command::ReceivePayment { account_no, .. }
        | Command::PostAdjustment { account_no, .. } => need_account(view, account_no),
        Command::ReviseBill {
            bill_no,
            revised_on,
            new_amount,
            ..
        } => revise_bill(view, bill_no, *revised_on, *new_amount),
        Command::ReversePayment {
            receipt_no,
            reversed_on,
            ..
        } => reverse_payment(view, receipt_no, *reversed_on),
        other => unreachable!("not a ledger command: {}", other.type_name()),
    }
}

/// A revision lowers a bill, dated on or after its issue and its latest revision.
fn revise_bill(
    view: &dyn StateView,
    bill_no: &str,
    revised_on: NaiveDate,
    new_amount: Money,
) -> Result<(), Rejection> {
    let account_no = view
        .account_of_bill(bill_no)
        .ok_or_else(|| not_found("bill_no", format!("no bill has number {bill_no}")))?;
    let consumer = need_consumer(view, &account_no)?;
    let bill = consumer
        .bill(bill_no)
        .ok_or_else(|| not_found("bill_no", format!("no bill has number {bill_no}")))?;
    if revised_on < bill.issued_on {
        return Err(unprocessable(
            "revised_on",
            format!(
                "{revised_on} is before the bill was issued on {}",
                bill.issued_on
            ),
        ));
    }
    if let Some(latest) = bill.revisions.iter().map(|r| r.revised_on).max() {
        if revised_on < latest {
            return Err(unprocessable(
                "revised_on",
                format!("{revised_on} is before the bill's latest revision on {latest}"),
            ));
        }
    }
    let current = bill.current_amount();
    if new_amount >= current {
        return Err(unprocessable(
            "new_amount",
            format!("{new_amount} is not below the bill's amount {current}; bill a shortfall with a supplementary bill"),
        ));
    }
    Ok(())
}

/// A payment is reversed once, on or after the day it was paid.
fn reverse_payment(
    view: &dyn StateView,
    receipt_no: &str,
    reversed_on: NaiveDate,
) -> Result<(), Rejection> {
    let account_no = view
        .account_of_receipt(receipt_no)
        .ok_or_else(|| not_found("receipt_no", format!("no payment has receipt {receipt_no}")))?;
    let consumer = need_consumer(view, &account_no)?;
    let payment = consumer
        .payments
        .iter()
        .find(|p| p.receipt_no == receipt_no)
        .ok_or_else(|| not_found("receipt_no", format!("no payment has receipt {receipt_no}")))?;
    if payment.reversed_on.is_some() {
        return Err(unprocessable(
            "receipt_no",
            format!("payment {receipt_no} is already reversed"),
        ));
    }
    if reversed_on < payment.paid_on {
        return Err(unprocessable(
            "reversed_on",
            format!("{reversed_on} is before the payment on {}", payment.paid_on),
        ));
    }
    Ok(())
}
