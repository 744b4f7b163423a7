//! Plausible business dates: the window each date of a command must fall in.
//!
//! A date can be well formed and still absurd: a payment dated 2062 (a typo of 2026), a bill
//! issued in 1926, a notice served before the consumer was connected. Such a date would sit
//! in the log for good and move every figure computed as of it (surcharges, the ladder,
//! rankings), so it is refused on the way in, like any other value that breaks a rule.
//!
//! The windows, with their policy keys (section `[dates]`; "today" is the date in India):
//!
//! - Every date of a command is no more than `past_years_max` years before today, except a
//!   consumer's `connected_on`, which may be up to `connection_years_max` years back.
//! - What has happened (a bill issued, a payment, a notice served, a disconnection, a camp
//!   held, a connection...) is dated no later than today plus `future_days_max` days.
//! - A bill's `due_on` is at most `due_days_max` days after its `issued_on`; its `period`
//!   (the month billed) begins no more than 31 days after its `issued_on` (a bill is for a
//!   month that has begun, or is about to) and no more than `past_years_max` years back.
//! - An instalment of a plan falls due on or after the grant and at most `plan_years_max`
//!   years after it.
//! - A camp may be scheduled up to `camp_days_ahead_max` days ahead.
//! - With `before_connection_allowed = false`, a consumer's own events (bills, payments,
//!   adjustments, notices, disconnections, disputes, plans) are not dated before the
//!   consumer was connected. Mobiles and grievances may be: a grievance about a new
//!   connection comes before it. Allowed by default, for migrated accounts (see the field).
//!
//! These checks are pure: the caller passes today's date and the consumer's connection date.

use crate::command::{Command, FieldError};
use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

/// The `[dates]` section of the policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatesPolicy {
    /// How many years before today a business date may lie.
    pub past_years_max: u32,
    /// How many days after today something that has happened may be dated.
    pub future_days_max: u32,
    /// How many years before today a consumer may have been connected.
    pub connection_years_max: u32,
    /// How many days after its issue a bill may fall due.
    pub due_days_max: u32,
    /// How many years after its grant an instalment of a plan may fall due.
    pub plan_years_max: u32,
    /// How many days ahead of today a camp may be scheduled.
    pub camp_days_ahead_max: u32,
    /// Whether a consumer's own events may be dated before its `connected_on`. Allowed by
    /// default: accounts migrated from an older billing system often carry the migration
    /// date as their connection date and arrears billed before it.
    pub before_connection_allowed: bool,
}

impl Default for DatesPolicy {
    fn default() -> Self {
        DatesPolicy {
            past_years_max: 10,
            future_days_max: 0,
            connection_years_max: 100,
            due_days_max: 90,
            plan_years_max: 5,
            camp_days_ahead_max: 180,
            before_connection_allowed: true,
        }
    }
}

/// How many days after its issue a bill's period may begin.
pub const PERIOD_AHEAD_DAYS_MAX: u32 = 31;
/// Largest number of years a window may span (keeps date arithmetic in range).
pub const WINDOW_YEARS_MAX: u32 = 1_000;
/// Largest number of days a window may span.
pub const WINDOW_DAYS_MAX: u32 = 36_500;

impl DatesPolicy {
    /// The key and why, for a value out of its range.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        for (key, years) in [
            ("dates.past_years_max", self.past_years_max),
            ("dates.connection_years_max", self.connection_years_max),
            ("dates.plan_years_max", self.plan_years_max),
        ] {
            if years > WINDOW_YEARS_MAX {
                return Some((key, format!("must be at most {WINDOW_YEARS_MAX}")));
            }
        }
        for (key, days) in [
            ("dates.future_days_max", self.future_days_max),
            ("dates.due_days_max", self.due_days_max),
            ("dates.camp_days_ahead_max", self.camp_days_ahead_max),
        ] {
            if days > WINDOW_DAYS_MAX {
                return Some((key, format!("must be at most {WINDOW_DAYS_MAX}")));
            }
        }
        None
    }

    /// The earliest business date accepted as of `today`.
    pub fn earliest(&self, today: NaiveDate) -> NaiveDate {
        years_before(today, self.past_years_max)
    }

    /// The latest date something that has happened may carry as of `today`.
    pub fn latest(&self, today: NaiveDate) -> NaiveDate {
        days_after(today, self.future_days_max)
    }
}

fn years_before(date: NaiveDate, years: u32) -> NaiveDate {
    date.checked_sub_months(Months::new(years * 12))
        .unwrap_or(NaiveDate::MIN)
}

fn years_after(date: NaiveDate, years: u32) -> NaiveDate {
    date.checked_add_months(Months::new(years * 12))
        .unwrap_or(NaiveDate::MAX)
}

fn days_after(date: NaiveDate, days: u32) -> NaiveDate {
    date.checked_add_days(chrono::Days::new(days.into()))
        .unwrap_or(NaiveDate::MAX)
}

/// A date field of a command and what kind of date it is.
enum Dated<'a> {
    /// Something that has happened.
    Fact { field: &'a str, date: NaiveDate },
    /// A consumer's connection.
    Connection { date: NaiveDate },
    /// A bill's due date after its issue.
    Due {
        issued_on: NaiveDate,
        date: NaiveDate,
    },
    /// A bill's period (its first day).
    Period {
        issued_on: NaiveDate,
        date: NaiveDate,
    },
    /// An instalment of a plan.
    Installment {
        field: String,
        granted_on: NaiveDate,
        date: NaiveDate,
    },
    /// A camp being scheduled.
    Camp { date: NaiveDate },
}

fn dated(command: &Command) -> Vec<Dated<'static>> {
    use Command as C;
    let fact = |field: &'static str, date: NaiveDate| Dated::Fact { field, date };
    match command {
        C::RegisterOffice { .. } => vec![],
        C::RegisterConsumer { connected_on, .. } => vec![Dated::Connection {
            date: *connected_on,
        }],
        C::RegisterMobile { registered_on, .. } => vec![fact("registered_on", *registered_on)],
        C::IssueBill {
            period,
            issued_on,
            due_on,
            ..
        } => {
            let mut out = vec![
                fact("issued_on", *issued_on),
                Dated::Due {
                    issued_on: *issued_on,
                    date: *due_on,
                },
            ];
            if let Ok(first) = crate::codec::parse_date(&format!("{period}-01")) {
                out.push(Dated::Period {
                    issued_on: *issued_on,
                    date: first,
                });
            }
            out
        }
        C::ReviseBill { revised_on, .. } => vec![fact("revised_on", *revised_on)],
        C::ReceivePayment { paid_on, .. } => vec![fact("paid_on", *paid_on)],
        C::ReversePayment { reversed_on, .. } => vec![fact("reversed_on", *reversed_on)],
        C::PostAdjustment { posted_on, .. } => vec![fact("posted_on", *posted_on)],
        C::ServeNotice { served_on, .. } => vec![fact("served_on", *served_on)],
        C::VoidAction {
            action_on,
            voided_on,
            ..
        } => vec![fact("action_on", *action_on), fact("voided_on", *voided_on)],
        C::Disconnect { on, .. }
        | C::Reconnect { on, .. }
        | C::PermanentlyDisconnect { on, .. }
        | C::IssueRecoveryCertificate { on, .. }
        | C::RaiseDispute { on, .. }
        | C::ResolveDispute { on, .. } => vec![fact("on", *on)],
        C::GrantInstallmentPlan {
            granted_on,
            installments,
            ..
        } => {
            let mut out = vec![fact("granted_on", *granted_on)];
            for (index, installment) in installments.iter().enumerate() {
                out.push(Dated::Installment {
                    field: format!("installments[{index}].due_on"),
                    granted_on: *granted_on,
                    date: installment.due_on,
                });
            }
            out
        }
        C::ScheduleCamp { on, .. } => vec![Dated::Camp { date: *on }],
        C::HoldCamp { held_on, .. } => vec![fact("held_on", *held_on)],
        C::RegisterGrievance { registered_on, .. } => vec![fact("registered_on", *registered_on)],
        C::ResolveGrievance { resolved_on, .. } => vec![fact("resolved_on", *resolved_on)],
    }
}

/// Every date of `command` outside its window as of `today` (the date in India), one error
/// per field, naming the field, the date, the bound and the policy key that sets it.
pub fn check_windows(command: &Command, policy: &DatesPolicy, today: NaiveDate) -> Vec<FieldError> {
    let window = Window {
        policy,
        today,
        earliest: policy.earliest(today),
        latest: policy.latest(today),
    };
    dated(command)
        .into_iter()
        .filter_map(|item| window.check(item))
        .collect()
}

/// The dates accepted as of today.
struct Window<'a> {
    policy: &'a DatesPolicy,
    today: NaiveDate,
    earliest: NaiveDate,
    latest: NaiveDate,
}

impl Window<'_> {
    fn too_old(&self, field: &str, date: NaiveDate) -> FieldError {
        let (policy, today, earliest) = (self.policy, self.today, self.earliest);
        FieldError::new(
            field,
            format!(
                "{date} is more than {} years before today ({today}); the earliest accepted is \
                 {earliest} (policy dates.past_years_max)",
                policy.past_years_max
            ),
        )
    }

    fn too_late(&self, field: &str, date: NaiveDate) -> FieldError {
        let (policy, today) = (self.policy, self.today);
        FieldError::new(
            field,
            format!(
                "{date} is after today ({today}, India) {}(policy dates.future_days_max)",
                if policy.future_days_max == 0 {
                    String::new()
                } else {
                    format!("by more than {} days ", policy.future_days_max)
                }
            ),
        )
    }

    /// The error of one date outside its window.
    fn check(&self, item: Dated<'_>) -> Option<FieldError> {
        let (policy, today) = (self.policy, self.today);
        match item {
            Dated::Fact { field, date } => self.fact(field, date),
            Dated::Connection { date } => {
                let first = years_before(today, policy.connection_years_max);
                if date < first {
                    Some(FieldError::new(
                        "connected_on",
                        format!(
                            "{date} is more than {} years before today ({today}) (policy \
                             dates.connection_years_max)",
                            policy.connection_years_max
                        ),
                    ))
                } else {
                    (date > self.latest).then(|| self.too_late("connected_on", date))
                }
            }
            Dated::Due { issued_on, date } => (date > days_after(issued_on, policy.due_days_max))
                .then(|| {
                    FieldError::new(
                        "due_on",
                        format!(
                            "{date} is more than {} days after issued_on {issued_on} (policy \
                             dates.due_days_max)",
                            policy.due_days_max
                        ),
                    )
                }),
            Dated::Period { issued_on, date } => self.period(issued_on, date),
            Dated::Installment {
                field,
                granted_on,
                date,
            } => self.installment(&field, granted_on, date),
            Dated::Camp { date } => self.camp(date),
        }
    }

    /// Something that has happened: within the past years, not after the latest day.
    fn fact(&self, field: &str, date: NaiveDate) -> Option<FieldError> {
        if date < self.earliest {
            Some(self.too_old(field, date))
        } else if date > self.latest {
            Some(self.too_late(field, date))
        } else {
            None
        }
    }

    /// A bill's month: within the past years, begun by a month after the issue.
    fn period(&self, issued_on: NaiveDate, date: NaiveDate) -> Option<FieldError> {
        let (policy, today) = (self.policy, self.today);
        let month = date.format("%Y-%m");
        if date < self.earliest.with_day0_of_month() {
            Some(FieldError::new(
                "period",
                format!(
                    "{month} is more than {} years before today ({today}) (policy \
                     dates.past_years_max)",
                    policy.past_years_max
                ),
            ))
        } else if date > days_after(issued_on, PERIOD_AHEAD_DAYS_MAX.max(policy.future_days_max)) {
            Some(FieldError::new(
                "period",
                format!(
                    "{month} begins more than a month after issued_on {issued_on}: a \
                     bill is for a month that has begun"
                ),
            ))
        } else {
            None
        }
    }

    /// An instalment: within the plan's years, not before the earliest day.
    fn installment(
        &self,
        field: &str,
        granted_on: NaiveDate,
        date: NaiveDate,
    ) -> Option<FieldError> {
        let policy = self.policy;
        if date > years_after(granted_on, policy.plan_years_max) {
            Some(FieldError::new(
                field,
                format!(
                    "{date} is more than {} years after granted_on {granted_on} (policy \
                     dates.plan_years_max)",
                    policy.plan_years_max
                ),
            ))
        } else if date < self.earliest {
            Some(self.too_old(field, date))
        } else {
            None
        }
    }

    /// A camp: not before the earliest day, not too far ahead.
    fn camp(&self, date: NaiveDate) -> Option<FieldError> {
        let (policy, today) = (self.policy, self.today);
        if date < self.earliest {
            Some(self.too_old("on", date))
        } else if date > days_after(today, policy.camp_days_ahead_max) {
            Some(FieldError::new(
                "on",
                format!(
                    "{date} is more than {} days after today ({today}, India) (policy \
                     dates.camp_days_ahead_max)",
                    policy.camp_days_ahead_max
                ),
            ))
        } else {
            None
        }
    }
}

/// The consumer's own events are not dated before the consumer was connected: the first
/// such date of `command`, as an error, when `connected_on` is later.
pub fn check_after_connection(command: &Command, connected_on: NaiveDate) -> Option<FieldError> {
    use Command as C;
    let own = matches!(
        command,
        C::IssueBill { .. }
            | C::ReviseBill { .. }
            | C::ReceivePayment { .. }
            | C::ReversePayment { .. }
            | C::PostAdjustment { .. }
            | C::ServeNotice { .. }
            | C::Disconnect { .. }
            | C::Reconnect { .. }
            | C::PermanentlyDisconnect { .. }
            | C::IssueRecoveryCertificate { .. }
            | C::RaiseDispute { .. }
            | C::ResolveDispute { .. }
            | C::GrantInstallmentPlan { .. }
    );
    if !own {
        return None;
    }
    dated(command).into_iter().find_map(|item| match item {
        Dated::Fact { field, date } if date < connected_on => Some(FieldError::new(
            field,
            format!("{date} is before the consumer was connected on {connected_on}"),
        )),
        _ => None,
    })
}

/// Why a nightly run as of `as_of` is refused as of `today` (the date in India): a run dated
/// after today would levy surcharges and move the ladder on days that have not happened.
pub fn check_nightly(as_of: NaiveDate, today: NaiveDate) -> Option<FieldError> {
    (as_of > today).then(|| {
        FieldError::new(
            "as_of",
            format!("{as_of} is after today ({today}, India): a nightly run cannot run ahead of the calendar"),
        )
    })
}

trait FirstOfMonth {
    fn with_day0_of_month(self) -> NaiveDate;
}

impl FirstOfMonth for NaiveDate {
    fn with_day0_of_month(self) -> NaiveDate {
        use chrono::Datelike;
        self.with_day(1).unwrap_or(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Money;
    use crate::types::Channel;

    fn d(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn payment(paid_on: &str) -> Command {
        Command::ReceivePayment {
            receipt_no: "R1".into(),
            account_no: "A1".into(),
            amount: Money::from_paise(100),
            paid_on: d(paid_on),
            channel: Channel::Upi,
        }
    }

    #[test]
    fn a_payment_is_dated_within_ten_years_back_and_not_after_today() {
        let policy = DatesPolicy::default();
        let today = d("2026-12-03");
        assert!(check_windows(&payment("2026-12-03"), &policy, today).is_empty());
        assert!(check_windows(&payment("2016-12-03"), &policy, today).is_empty());
        let late = check_windows(&payment("2026-12-04"), &policy, today);
        assert_eq!(late.len(), 1);
        assert_eq!(late[0].field, "paid_on");
        assert!(late[0].reason.contains("after today"), "{}", late[0].reason);
        let old = check_windows(&payment("2016-12-02"), &policy, today);
        assert_eq!(old[0].field, "paid_on");
        assert!(
            old[0].reason.contains("past_years_max"),
            "{}",
            old[0].reason
        );
        let loose = DatesPolicy {
            future_days_max: 5,
            ..DatesPolicy::default()
        };
        assert!(check_windows(&payment("2026-12-08"), &loose, today).is_empty());
        assert!(!check_windows(&payment("2026-12-09"), &loose, today).is_empty());
    }

    #[test]
    fn a_bill_falls_due_within_its_window_and_bills_a_month_that_has_begun() {
        let policy = DatesPolicy::default();
        let today = d("2026-12-03");
        let bill = |period: &str, issued: &str, due: &str| Command::IssueBill {
            bill_no: "B1".into(),
            account_no: "A1".into(),
            period: period.into(),
            issued_on: d(issued),
            due_on: d(due),
            amount: Money::from_paise(100),
        };
        assert!(
            check_windows(&bill("2026-10", "2026-11-05", "2026-11-20"), &policy, today).is_empty()
        );
        let far = check_windows(&bill("2026-10", "2026-11-05", "2027-11-20"), &policy, today);
        assert_eq!(far.len(), 1);
        assert_eq!(far[0].field, "due_on");
        let ahead = check_windows(&bill("2027-06", "2026-11-05", "2026-11-20"), &policy, today);
        assert_eq!(ahead[0].field, "period");
        let old = check_windows(&bill("1926-10", "2026-11-05", "2026-11-20"), &policy, today);
        assert_eq!(old[0].field, "period");
    }

    #[test]
    fn own_events_come_after_the_connection_and_a_nightly_run_not_after_today() {
        assert!(check_after_connection(&payment("2020-01-01"), d("2020-01-01")).is_none());
        let early = check_after_connection(&payment("2019-12-31"), d("2020-01-01")).unwrap();
        assert_eq!(early.field, "paid_on");
        assert!(check_nightly(d("2026-12-03"), d("2026-12-03")).is_none());
        assert_eq!(
            check_nightly(d("2026-12-04"), d("2026-12-03"))
                .unwrap()
                .field,
            "as_of"
        );
    }
}
