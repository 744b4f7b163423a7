//! Property tests of the ledger (docs/RULES.md) and of the engine's claim that figures are a
//! pure function of the log: incremental projections equal a rebuild, a cold statement equals
//! a warm one, and nightly runs every day levy what one run after a gap levies.

use chrono::{Days, NaiveDate};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use vasooli_domain::event::*;
use vasooli_domain::ledger::{anniversary, ledger_as_of, Charges, LedgerView};
use vasooli_domain::period::Period;
use vasooli_domain::types::{Category, Channel, Language, Level, Stage, WorklistKind};
use vasooli_domain::{Command, Money, Policy, World};
use vasooli_engine::figures::saved_periods;
use vasooli_engine::{ColdView, Engine, Input, OfficeFigures};

mod common;
use common::log_events;
use vasooli_projections::lists::{self, ConsumerRow, DefaulterFilter};

fn base() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date")
}

/// A date `offset` days from 2026-01-01 (negative offsets go back).
fn on(offset: i64) -> NaiveDate {
    if offset >= 0 {
        base() + Days::new(offset as u64)
    } else {
        base() - Days::new(offset.unsigned_abs())
    }
}

fn money(paise: i64) -> Money {
    Money::from_paise(paise)
}

// ---------------------------------------------------------------------------------------------
// a. The ledger of one consumer, built straight from events.
// ---------------------------------------------------------------------------------------------

/// One fact in a consumer's history; indexes pick an earlier bill or payment (modulo).
#[derive(Clone, Debug)]
enum Fact {
    Bill {
        issued: u16,
        due_gap: u8,
        paise: i64,
    },
    Revise {
        bill: usize,
        after: u16,
        percent: i64,
    },
    Pay {
        paid: u16,
        paise: i64,
    },
    Reverse {
        payment: usize,
        after: u16,
    },
    Adjust {
        posted: u16,
        paise: i64,
    },
    Levy {
        bill: usize,
        k: u32,
        paise: i64,
    },
}

fn fact() -> impl Strategy<Value = Fact> {
    prop_oneof![
        4 => (0u16..365, 0u8..45, 1i64..=300_000)
            .prop_map(|(issued, due_gap, paise)| Fact::Bill { issued, due_gap, paise }),
        1 => (any::<usize>(), 0u16..120, 0i64..100)
            .prop_map(|(bill, after, percent)| Fact::Revise { bill, after, percent }),
        3 => (0u16..365, 1i64..=400_000).prop_map(|(paid, paise)| Fact::Pay { paid, paise }),
        1 => (any::<usize>(), 0u16..60).prop_map(|(payment, after)| Fact::Reverse { payment, after }),
        1 => (0u16..365, prop_oneof![-50_000i64..=-1, 1i64..=50_000])
            .prop_map(|(posted, paise)| Fact::Adjust { posted, paise }),
        1 => (any::<usize>(), 1u32..=4, 1i64..=5_000)
            .prop_map(|(bill, k, paise)| Fact::Levy { bill, k, paise }),
    ]
}

/// A bill as the facts issued and revised it.
struct ModelBill {
    bill_no: String,
    issued_on: NaiveDate,
    due_on: NaiveDate,
    amount: Money,
    /// (revised_on, new_amount), dates strictly increasing.
    revisions: Vec<(NaiveDate, Money)>,
}

/// What the facts say, kept independently of the engine's state, to check totals against.
#[derive(Default)]
struct Model {
    bills: Vec<ModelBill>,
    /// paid_on, amount, reversed_on.
    payments: Vec<(NaiveDate, Money, Option<NaiveDate>)>,
    adjustments: Vec<(NaiveDate, Money)>,
    /// bill index, anniversary, levied_on, amount.
    levies: Vec<(usize, u32, NaiveDate, Money)>,
}

impl Model {
    fn bill_amount_as_of(&self, index: usize, date: NaiveDate) -> Money {
        let bill = &self.bills[index];
        bill.revisions
            .iter()
            .rev()
            .find(|(d, _)| *d <= date)
            .map_or(bill.amount, |(_, a)| *a)
    }

    fn total_charges(&self, date: NaiveDate) -> Money {
        let bills: Money = (0..self.bills.len())
            .filter(|i| self.bills[*i].issued_on <= date)
            .map(|i| self.bill_amount_as_of(i, date))
            .sum();
        let levies: Money = self
            .levies
            .iter()
            .filter(|l| l.2 <= date)
            .map(|l| l.3)
            .sum();
        let debits: Money = self
            .adjustments
            .iter()
            .filter(|(d, a)| *d <= date && a.is_positive())
            .map(|(_, a)| *a)
            .sum();
        bills + levies + debits
    }

    fn total_credits(&self, date: NaiveDate) -> Money {
        let payments: Money = self
            .payments
            .iter()
            .filter(|(paid, _, reversed)| *paid <= date && reversed.is_none_or(|r| r > date))
            .map(|(_, a, _)| *a)
            .sum();
        let credits: Money = self
            .adjustments
            .iter()
            .filter(|(d, a)| *d <= date && !a.is_positive())
            .map(|(_, a)| -*a)
            .sum();
        payments + credits
    }
}

/// Applies the facts to a world holding one consumer, as the log would, and returns the
/// world with the model of what was applied.
fn world_of(facts: &[Fact]) -> (World, Model) {
    let mut world = World::default();
    let mut position = 0u64;
    let mut apply = |world: &mut World, event: Event| {
        position += 1;
        world.apply(position, &event);
    };
    for (code, level, parent) in [
        ("Z1", Level::Zone, None),
        ("C1", Level::Circle, Some("Z1")),
        ("DV1", Level::Division, Some("C1")),
        ("SD1", Level::Subdivision, Some("DV1")),
    ] {
        apply(
            &mut world,
            Event::OfficeRegistered(OfficeRegistered {
                code: code.into(),
                name: code.into(),
                level,
                parent: parent.map(str::to_string),
            }),
        );
    }
    apply(
        &mut world,
        Event::ConsumerRegistered(ConsumerRegistered {
            account_no: "P1".into(),
            name: "Property".into(),
            category: Category::Domestic,
            subdivision: "SD1".into(),
            load_watts: 2_000,
            connected_on: on(-30),
            mobile: None,
            language: Language::Hi,
            address: Some("House No. 7, Ward 2, Raipur".into()),
        }),
    );
    let account = || "P1".to_string();
    let mut model = Model::default();
    for fact in facts {
        match fact.clone() {
            Fact::Bill {
                issued,
                due_gap,
                paise,
            } => {
                let bill_no = format!("B{}", model.bills.len() + 1);
                let (issued_on, due_on) = (
                    on(issued.into()),
                    on(i64::from(issued) + i64::from(due_gap)),
                );
                model.bills.push(ModelBill {
                    bill_no: bill_no.clone(),
                    issued_on,
                    due_on,
                    amount: money(paise),
                    revisions: Vec::new(),
                });
                apply(
                    &mut world,
                    Event::BillIssued(BillIssued {
                        bill_no,
                        account_no: account(),
                        period: issued_on.format("%Y-%m").to_string(),
                        issued_on,
                        due_on,
                        amount: money(paise),
                    }),
                );
            }
            Fact::Revise {
                bill,
                after,
                percent,
            } => {
                if model.bills.is_empty() {
                    continue;
                }
                let index = bill % model.bills.len();
                let ModelBill {
                    bill_no,
                    issued_on,
                    amount,
                    revisions,
                    ..
                } = &model.bills[index];
                let revised_on = *issued_on + Days::new(after.into());
                let latest = revisions.last().map_or(*amount, |(_, a)| *a);
                let new_amount = money(latest.paise() * percent / 100);
                if revisions.last().is_some_and(|(d, _)| *d >= revised_on) || new_amount >= latest {
                    continue;
                }
                let bill_no = bill_no.clone();
                model.bills[index].revisions.push((revised_on, new_amount));
                apply(
                    &mut world,
                    Event::BillRevised(BillRevised {
                        bill_no,
                        account_no: account(),
                        revised_on,
                        new_amount,
                        reason: "revised".into(),
                    }),
                );
            }
            Fact::Pay { paid, paise } => {
                let receipt_no = format!("R{}", model.payments.len() + 1);
                model.payments.push((on(paid.into()), money(paise), None));
                apply(
                    &mut world,
                    Event::PaymentReceived(PaymentReceived {
                        receipt_no,
                        account_no: account(),
                        amount: money(paise),
                        paid_on: on(paid.into()),
                        channel: Channel::Upi,
                    }),
                );
            }
            Fact::Reverse { payment, after } => {
                if model.payments.is_empty() {
                    continue;
                }
                let index = payment % model.payments.len();
                let (paid_on, _, reversed) = &mut model.payments[index];
                if reversed.is_some() {
                    continue;
                }
                let reversed_on = *paid_on + Days::new(after.into());
                *reversed = Some(reversed_on);
                apply(
                    &mut world,
                    Event::PaymentReversed(PaymentReversed {
                        receipt_no: format!("R{}", index + 1),
                        account_no: account(),
                        reversed_on,
                        reason: "bounced".into(),
                    }),
                );
            }
            Fact::Adjust { posted, paise } => {
                let adjustment_no = format!("ADJ{}", model.adjustments.len() + 1);
                model.adjustments.push((on(posted.into()), money(paise)));
                apply(
                    &mut world,
                    Event::AdjustmentPosted(AdjustmentPosted {
                        adjustment_no,
                        account_no: account(),
                        posted_on: on(posted.into()),
                        amount: money(paise),
                        reason: "adjusted".into(),
                    }),
                );
            }
            Fact::Levy { bill, k, paise } => {
                if model.bills.is_empty() {
                    continue;
                }
                let index = bill % model.bills.len();
                if model.levies.iter().any(|l| l.0 == index && l.1 == k) {
                    continue;
                }
                let levied_on = anniversary(model.bills[index].due_on, k).expect("in range");
                model.levies.push((index, k, levied_on, money(paise)));
                apply(
                    &mut world,
                    Event::SurchargeLevied(SurchargeLevied {
                        account_no: account(),
                        bill_no: model.bills[index].bill_no.clone(),
                        anniversary: k,
                        levied_on,
                        amount: money(paise),
                    }),
                );
            }
        }
    }
    (world, model)
}

/// Checks §4's allocation rules on one ledger view; returns a description of the first
/// broken rule.
fn check_ledger(view: &LedgerView, model: &Model, date: NaiveDate) -> Result<(), TestCaseError> {
    let total_charges: Money = view.charges.iter().map(|c| c.amount).sum();
    prop_assert_eq!(view.total_charges, total_charges);
    prop_assert_eq!(
        view.total_charges,
        model.total_charges(date),
        "charges as of {}",
        date
    );
    prop_assert_eq!(
        view.total_credits,
        model.total_credits(date),
        "credits as of {}",
        date
    );

    // The unpaid parts sum to what is owed beyond the credits.
    let unpaid: Money = view.charges.iter().map(|c| c.unpaid).sum();
    prop_assert_eq!(
        unpaid,
        (view.total_charges - view.total_credits).max(Money::ZERO)
    );
    prop_assert_eq!(view.outstanding(), unpaid);

    // Allocation order: due date, then surcharges first, then log order.
    for pair in view.charges.windows(2) {
        let key =
            |c: &vasooli_domain::ledger::ChargeLine| (c.due_on, !c.is_surcharge(), c.position);
        prop_assert!(key(&pair[0]) < key(&pair[1]), "order {:?}", pair);
    }

    // Oldest first: each charge is unpaid by clamp(cumulative − credits, 0, amount), so once a
    // charge has something unpaid, every later one is wholly unpaid.
    let mut cumulative = Money::ZERO;
    let mut seen_unpaid = false;
    for charge in &view.charges {
        cumulative += charge.amount;
        prop_assert!(charge.unpaid >= Money::ZERO && charge.unpaid <= charge.amount);
        prop_assert_eq!(
            charge.unpaid,
            (cumulative - view.total_credits).clamp(Money::ZERO, charge.amount)
        );
        if seen_unpaid {
            prop_assert_eq!(
                charge.unpaid,
                charge.amount,
                "a later charge is partly paid"
            );
        }
        seen_unpaid |= charge.unpaid.is_positive();
    }

    // Overdue: the unpaid part of charges due before the date; never above what is owed.
    let overdue: Money = view
        .charges
        .iter()
        .filter(|c| c.due_on < date)
        .map(|c| c.unpaid)
        .sum();
    prop_assert_eq!(view.overdue_arrears, overdue);
    prop_assert!(view.overdue_arrears <= view.outstanding());
    let oldest = view
        .charges
        .iter()
        .filter(|c| c.due_on < date && c.unpaid.is_positive())
        .map(|c| c.due_on)
        .min();
    prop_assert_eq!(view.oldest_overdue_due_on, oldest);
    prop_assert_eq!(
        view.days_overdue,
        oldest.map_or(0, |d| (date - d).num_days())
    );
    prop_assert_eq!(
        view.advance(),
        (view.total_credits - view.total_charges).max(Money::ZERO)
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The content hash the engine gives its events' keys is the one the store leaves out of
    /// its chunks (and computes again from the payload when asked), so no event carries it.
    #[test]
    fn the_engine_hashes_keys_as_the_store_leaves_them_out(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        prop_assert_eq!(
            vasooli_domain::codec::content_hash(&bytes),
            vasooli_store::payload_hash(&bytes)
        );
    }

    /// Proves §4's allocation on random histories (bills, revisions, payments, reversals,
    /// adjustments both ways, surcharges) at random dates and at every due date and the day
    /// after: totals match the facts dated on or before the date, the unpaid parts sum to
    /// max(0, charges − credits), credits cover charges oldest first, and overdue arrears are
    /// the unpaid part of what fell due before the date.
    #[test]
    fn ledger_allocates_oldest_first(
        facts in prop::collection::vec(fact(), 0..40),
        dates in prop::collection::vec(-10i64..480, 1..8),
    ) {
        let (world, model) = world_of(&facts);
        let consumer = world.consumer("P1").expect("registered");
        let mut probe: BTreeSet<NaiveDate> = dates.into_iter().map(on).collect();
        for bill in &model.bills {
            probe.insert(bill.due_on);
            probe.insert(bill.due_on + Days::new(1));
        }
        for date in probe {
            let view = ledger_as_of(&consumer, date, Charges::All, &[]);
            check_ledger(&view, &model, date)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Engine helpers.
// ---------------------------------------------------------------------------------------------

const ACCOUNTS: [(&str, &str, &str); 4] = [
    ("E1", "domestic", "SD1"),
    ("E2", "non_domestic", "SD1"),
    ("E3", "domestic", "SD2"),
    ("E4", "government", "SD2"),
];

fn setup_commands() -> Vec<Value> {
    let mut out = vec![
        json!({"type": "register_office", "code": "Z1", "name": "Zone", "level": "zone"}),
        json!({"type": "register_office", "code": "C1", "name": "Circle", "level": "circle", "parent": "Z1"}),
        json!({"type": "register_office", "code": "DV1", "name": "Division", "level": "division", "parent": "C1"}),
        json!({"type": "register_office", "code": "SD1", "name": "Subdivision 1", "level": "subdivision", "parent": "DV1"}),
        json!({"type": "register_office", "code": "SD2", "name": "Subdivision 2", "level": "subdivision", "parent": "DV1"}),
    ];
    for (account, category, subdivision) in ACCOUNTS {
        out.push(
            json!({"type": "register_consumer", "account_no": account, "name": account,
                        "category": category, "subdivision": subdivision, "load_kw": "3",
                        "connected_on": "2025-06-01"}),
        );
    }
    out
}

fn execute(engine: &mut Engine, commands: &[Value]) {
    if commands.is_empty() {
        return;
    }
    let inputs = commands
        .iter()
        .enumerate()
        .map(|(i, c)| Input {
            location: format!("#{}", i + 1),
            command: Command::from_json(c),
        })
        .collect();
    if let Err(e) = engine.execute(inputs) {
        panic!("refused: {e}\n{commands:#?}");
    }
}

fn paise_text(paise: i64) -> String {
    money(paise).to_string()
}

/// A command of the random workload, turned into JSON against a model of what exists.
#[derive(Clone, Debug)]
enum Op {
    Bill {
        consumer: usize,
        issued: i64,
        due_gap: u8,
        paise: i64,
    },
    Pay {
        consumer: usize,
        paid: i64,
        paise: i64,
    },
    Adjust {
        consumer: usize,
        posted: i64,
        paise: i64,
    },
    Revise {
        bill: usize,
        after: u8,
        percent: i64,
    },
    Reverse {
        payment: usize,
        after: u8,
    },
}

fn op(days: std::ops::Range<i64>) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..4, days.clone(), 0u8..30, 10_000i64..=800_000)
            .prop_map(|(consumer, issued, due_gap, paise)| Op::Bill { consumer, issued, due_gap, paise }),
        3 => (0usize..4, days.clone(), 1_000i64..=600_000)
            .prop_map(|(consumer, paid, paise)| Op::Pay { consumer, paid, paise }),
        1 => (0usize..4, days, prop_oneof![-30_000i64..=-1, 1i64..=30_000])
            .prop_map(|(consumer, posted, paise)| Op::Adjust { consumer, posted, paise }),
        1 => (any::<usize>(), 0u8..60, 0i64..100)
            .prop_map(|(bill, after, percent)| Op::Revise { bill, after, percent }),
        1 => (any::<usize>(), 0u8..40).prop_map(|(payment, after)| Op::Reverse { payment, after }),
    ]
}

/// Numbers the workload's bills, receipts and adjustments, and keeps revisions and reversals
/// valid: one revision per bill (below its amount, not before its issue), one reversal per
/// receipt (not before its payment).
#[derive(Default)]
struct Workload {
    /// bill_no, issued_on, amount, revised.
    bills: Vec<(String, NaiveDate, i64, bool)>,
    /// receipt_no, paid_on, reversed.
    payments: Vec<(String, NaiveDate, bool)>,
    adjustments: usize,
}

impl Workload {
    fn command(&mut self, op: &Op) -> Option<Value> {
        Some(match op.clone() {
            Op::Bill {
                consumer,
                issued,
                due_gap,
                paise,
            } => {
                let bill_no = format!("B{}", self.bills.len() + 1);
                let issued_on = on(issued);
                let due_on = on(issued + i64::from(due_gap));
                self.bills.push((bill_no.clone(), issued_on, paise, false));
                json!({"type": "issue_bill", "bill_no": bill_no, "account_no": ACCOUNTS[consumer].0,
                       "period": issued_on.format("%Y-%m").to_string(), "issued_on": issued_on.to_string(),
                       "due_on": due_on.to_string(), "amount": paise_text(paise)})
            }
            Op::Pay {
                consumer,
                paid,
                paise,
            } => {
                let receipt_no = format!("R{}", self.payments.len() + 1);
                self.payments.push((receipt_no.clone(), on(paid), false));
                json!({"type": "receive_payment", "receipt_no": receipt_no, "account_no": ACCOUNTS[consumer].0,
                       "amount": paise_text(paise), "paid_on": on(paid).to_string(), "channel": "counter_cash"})
            }
            Op::Adjust {
                consumer,
                posted,
                paise,
            } => {
                self.adjustments += 1;
                json!({"type": "post_adjustment", "adjustment_no": format!("ADJ{}", self.adjustments),
                       "account_no": ACCOUNTS[consumer].0, "posted_on": on(posted).to_string(),
                       "amount": paise_text(paise), "reason": "correction"})
            }
            Op::Revise {
                bill,
                after,
                percent,
            } => {
                if self.bills.is_empty() {
                    return None;
                }
                let index = bill % self.bills.len();
                let (bill_no, issued_on, amount, revised) = &mut self.bills[index];
                if *revised {
                    return None;
                }
                *revised = true;
                let revised_on = *issued_on + Days::new(after.into());
                json!({"type": "revise_bill", "bill_no": bill_no, "revised_on": revised_on.to_string(),
                       "new_amount": paise_text(*amount * percent / 100), "reason": "assessment"})
            }
            Op::Reverse { payment, after } => {
                if self.payments.is_empty() {
                    return None;
                }
                let index = payment % self.payments.len();
                let (receipt_no, paid_on, reversed) = &mut self.payments[index];
                if *reversed {
                    return None;
                }
                *reversed = true;
                let reversed_on = *paid_on + Days::new(after.into());
                json!({"type": "reverse_payment", "receipt_no": receipt_no,
                       "reversed_on": reversed_on.to_string(), "reason": "bounced"})
            }
        })
    }
}

/// Everything the lists show, as of the last nightly run.
#[derive(Debug, PartialEq)]
struct Snapshot {
    as_of: Option<NaiveDate>,
    defaulters: Vec<ConsumerRow>,
    rows: Vec<ConsumerRow>,
    statements: Vec<Value>,
    consumers: String,
}

fn snapshot(engine: &Engine) -> Snapshot {
    let world = engine.world();
    let policy = engine.policy();
    let date = world.last_nightly.unwrap_or(base());
    let filter = DefaulterFilter {
        min_arrears: Some(Money::from_paise(1)),
        ..DefaulterFilter::default()
    };
    Snapshot {
        as_of: world.last_nightly,
        defaulters: lists::defaulters(world, policy, "Z1", date, &filter).expect("defaulters"),
        rows: world
            .consumers
            .iter()
            .map(|c| lists::consumer_row(world, &c.consumer(), date, policy))
            .collect(),
        statements: ACCOUNTS
            .iter()
            .map(|(a, _, _)| {
                let statement = vasooli_projections::statement::statement(
                    world,
                    &|m| engine.sms_text(m),
                    policy,
                    a,
                    date,
                )
                .expect("statement");
                serde_json::to_value(statement).expect("a statement serializes")
            })
            .collect(),
        consumers: format!(
            "{:?}",
            world
                .consumers
                .iter()
                .map(|c| c.consumer())
                .collect::<Vec<_>>()
        ),
    }
}

/// The officers' actions after a nightly run: serve notices, disconnect and reconnect those
/// the lists say are due, each on the run's date.
fn officer_actions(engine: &Engine, serve: bool, disconnect: bool) -> Vec<Value> {
    let world = engine.world();
    let date = world.last_nightly.expect("a nightly run");
    let mut out = Vec::new();
    for stored in &world.consumers {
        let consumer = &stored.consumer();
        let row = lists::consumer_row(world, consumer, date, engine.policy());
        match row.stage {
            Stage::NoticeIssued if serve => {
                out.push(
                    json!({"type": "serve_notice", "notice_no": row.notice_no.expect("open notice"),
                                "served_on": date.to_string(), "mode": "affixed"}),
                );
            }
            Stage::DisconnectionDue if disconnect => {
                out.push(json!({"type": "disconnect", "account_no": consumer.account_no,
                                "on": date.to_string(), "order_no": format!("DO-{}", consumer.account_no)}));
            }
            Stage::ReconnectionDue => {
                out.push(
                    json!({"type": "reconnect", "account_no": consumer.account_no,
                                "on": date.to_string()}),
                );
            }
            _ => {}
        }
    }
    out
}

/// One batch of the incremental workload and what follows it.
#[derive(Clone, Debug)]
struct Step {
    ops: Vec<Op>,
    reopen: bool,
    advance_days: u8,
    serve: bool,
    disconnect: bool,
}

fn step() -> impl Strategy<Value = Step> {
    step_of(op(-40..260), 0..12, any::<bool>(), 1u8..60)
}

/// A step of `ops` commands drawn from `op`, reopening when `reopen` says, the next run
/// `advance` days on.
fn step_of(
    op: impl Strategy<Value = Op>,
    ops: std::ops::Range<usize>,
    reopen: impl Strategy<Value = bool>,
    advance: std::ops::Range<u8>,
) -> impl Strategy<Value = Step> {
    (
        prop::collection::vec(op, ops),
        reopen,
        advance,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(ops, reopen, advance_days, serve, disconnect)| Step {
            ops,
            reopen,
            advance_days,
            serve,
            disconnect,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Proves that projections kept incrementally (batches, nightly runs at increasing dates,
    /// officers' actions, the engine closed and reopened from its checkpoint between some
    /// batches) equal the projections rebuilt from the log: the defaulter list of every
    /// office, every consumer's row and statement, and each consumer's whole history.
    #[test]
    fn incremental_projections_equal_a_rebuild(steps in prop::collection::vec(step(), 1..6)) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut engine = Engine::open(dir.path(), Policy::default()).expect("opens");
        execute(&mut engine, &setup_commands());
        let mut workload = Workload::default();
        let mut date = on(10);
        for step in &steps {
            let commands: Vec<Value> = step.ops.iter().filter_map(|o| workload.command(o)).collect();
            execute(&mut engine, &commands);
            if step.reopen {
                drop(engine);
                engine = Engine::open(dir.path(), Policy::default()).expect("reopens");
            }
            date = date + Days::new(step.advance_days.into());
            engine.nightly(date).expect("nightly");
            let actions = officer_actions(&engine, step.serve, step.disconnect);
            execute(&mut engine, &actions);
        }
        let incremental = snapshot(&engine);
        engine.rebuild().expect("rebuild");
        let rebuilt = snapshot(&engine);
        prop_assert_eq!(&incremental, &rebuilt);
        drop(engine);
        let engine = Engine::open(dir.path(), Policy::default()).expect("reopens");
        prop_assert_eq!(&incremental, &snapshot(&engine));
    }
}

/// Each consumer's statement (and an unknown account's refusal) as the whole world answers it.
fn warm_statements(engine: &Engine) -> Vec<Result<Value, String>> {
    let world = engine.world();
    let date = engine.report_date();
    ACCOUNTS
        .iter()
        .map(|(a, _, _)| *a)
        .chain(["E5", "E9"])
        .map(|a| {
            vasooli_projections::statement::statement(
                world,
                &|m| engine.sms_text(m),
                engine.policy(),
                a,
                date,
            )
            .map(|s| serde_json::to_value(s).expect("a statement serializes"))
            .map_err(|e| e.to_string())
        })
        .collect()
}

/// The same statements, each from a process that reads that one consumer.
fn cold_statements(dir: &std::path::Path) -> Vec<Result<Value, String>> {
    ACCOUNTS
        .iter()
        .map(|(a, _, _)| *a)
        .chain(["E5", "E9"])
        .map(|a| {
            let view = ColdView::accounts(dir, Policy::default(), &[a]).expect("opens");
            assert!(
                !view.loaded_whole(),
                "the checkpoint has an account directory"
            );
            vasooli_projections::statement::statement(
                view.world(),
                &|m| view.sms_text(m),
                view.policy(),
                a,
                view.report_date(),
            )
            .map(|s| serde_json::to_value(s).expect("a statement serializes"))
            .map_err(|e| e.to_string())
        })
        .collect()
}

/// Every office's defaulter list and worklists (and an unknown office's refusal), as
/// `world` answers them on its last nightly run's date.
fn office_lists(world: &World, policy: &Policy) -> Vec<Result<Vec<ConsumerRow>, String>> {
    let date = world.last_nightly.expect("a nightly run");
    let filter = DefaulterFilter {
        min_arrears: Some(Money::from_paise(1)),
        ..DefaulterFilter::default()
    };
    let mut out = Vec::new();
    for office in ["Z1", "C1", "DV1", "SD1", "SD2", "NOPE"] {
        out.push(lists::defaulters(world, policy, office, date, &filter));
        for kind in WorklistKind::ALL {
            out.push(lists::worklist(world, policy, office, *kind, date, None, 0));
        }
    }
    out
}

/// The same lists, each office's from a process that reads that office's consumers.
fn cold_office_lists(dir: &std::path::Path) -> Vec<Result<Vec<ConsumerRow>, String>> {
    let mut out = Vec::new();
    for office in ["Z1", "C1", "DV1", "SD1", "SD2", "NOPE"] {
        let view = ColdView::office(dir, Policy::default(), office).expect("opens");
        assert!(
            !view.loaded_whole(),
            "the checkpoint has a subdivision directory"
        );
        let lists = office_lists(view.world(), view.policy());
        let per_office = 1 + WorklistKind::ALL.len();
        let place = out.len() / per_office;
        out.extend(lists.into_iter().skip(place * per_office).take(per_office));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Proves that a cold statement (the checkpoint's offices and one consumer's part, then
    /// the log after the checkpoint) equals the one the whole world answers, and so does
    /// every office's cold defaulter list and worklist (the parts its subdivisions are in),
    /// with the checkpoint taken after any step of the workload.
    #[test]
    fn cold_reads_equal_warm_ones(
        steps in prop::collection::vec(step(), 1..5),
        checkpoint_after in 0usize..5,
    ) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut engine = Engine::open(dir.path(), Policy::default()).expect("opens");
        execute(&mut engine, &setup_commands());
        // A consumer the checkpoint does not hold: a cold read finds it in the log.
        run_steps(&mut engine, &steps, checkpoint_after, |_| new_consumer_e5().to_vec());
        let warm = warm_statements(&engine);
        prop_assert!(warm[..=ACCOUNTS.len()].iter().all(Result::is_ok));
        prop_assert!(warm[ACCOUNTS.len() + 1].is_err(), "E9 is nobody's account");
        let lists = office_lists(engine.world(), engine.policy());
        prop_assert!(lists.last().is_some_and(Result::is_err), "NOPE is no office");
        drop(engine);
        prop_assert_eq!(warm, cold_statements(dir.path()));
        prop_assert_eq!(lists, cold_office_lists(dir.path()));
    }
}

/// Runs the workload's `steps` on `engine` (each: its commands, a nightly run `advance_days`
/// on, the officers' actions) and, after step `checkpoint_after` (the last, when there are
/// fewer), saves a checkpoint and executes what `after_checkpoint` makes of that step's
/// date. Returns the last run's date and the checkpoint's.
fn run_steps(
    engine: &mut Engine,
    steps: &[Step],
    checkpoint_after: usize,
    after_checkpoint: impl Fn(NaiveDate) -> Vec<Value>,
) -> (NaiveDate, NaiveDate) {
    let mut workload = Workload::default();
    let (mut date, mut checkpointed) = (on(10), on(10));
    for (index, step) in steps.iter().enumerate() {
        let commands: Vec<Value> = step
            .ops
            .iter()
            .filter_map(|o| workload.command(o))
            .collect();
        execute(engine, &commands);
        date = date + Days::new(step.advance_days.into());
        engine.nightly(date).expect("nightly");
        let actions = officer_actions(engine, step.serve, step.disconnect);
        execute(engine, &actions);
        if index == checkpoint_after.min(steps.len() - 1) {
            engine.save_checkpoint().expect("checkpoint");
            checkpointed = date;
            execute(engine, &after_checkpoint(date));
        }
    }
    (date, checkpointed)
}

/// A consumer registered and billed (one the checkpoint does not hold when run after it).
fn new_consumer_e5() -> [Value; 2] {
    [
        json!({"type": "register_consumer", "account_no": "E5", "name": "E5",
               "category": "domestic", "subdivision": "SD2", "load_kw": "2",
               "connected_on": "2025-06-01"}),
        json!({"type": "issue_bill", "account_no": "E5", "bill_no": "B-E5",
               "period": "2025-06", "issued_on": on(5).to_string(),
               "due_on": on(20).to_string(), "amount": "2500.00"}),
    ]
}

/// A grievance in SD1, registered on day `day` (and resolved three days later when `resolved`).
fn grievance(id: &str, day: i64, resolved: bool) -> Vec<Value> {
    let mut out = vec![json!({"type": "register_grievance", "grievance_id": id,
        "subdivision": "SD1", "category": "billing", "registered_on": on(day).to_string()})];
    if resolved {
        out.push(json!({"type": "resolve_grievance", "grievance_id": id,
            "resolved_on": on(day + 3).to_string(), "note": "settled"}));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Proves that the figures rankings and awards are computed from, read cold (the
    /// checkpoint's saved figures, then the consumers the log changed after it, and the
    /// grievances), equal those of the whole world for every period the checkpoint saved,
    /// and that any other period is read from the whole world, with the same figures (the
    /// checkpoint replaced when one of the world now would save the period); with
    /// the checkpoint taken after any step of the workload, and consumers registered, billed
    /// and grievances registered and resolved after it.
    #[test]
    fn cold_ranking_figures_equal_warm_ones(
        steps in prop::collection::vec(step(), 1..5),
        checkpoint_after in 0usize..5,
    ) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut engine = Engine::open(dir.path(), Policy::default()).expect("opens");
        execute(&mut engine, &setup_commands());
        execute(&mut engine, &grievance("G1", 12, false));
        let (date, checkpointed) = run_steps(&mut engine, &steps, checkpoint_after, |date| {
            let mut after = grievance("G2", 20, true);
            // Consumers the checkpoint holds change too: a mobile, a digital payment.
            after.extend([
                json!({"type": "register_mobile", "account_no": "E3",
                       "mobile": "9876500099", "registered_on": on(30).to_string(),
                       "source": "online"}),
                json!({"type": "receive_payment", "account_no": "E1",
                       "receipt_no": "R-AFTER", "paid_on": date.to_string(),
                       "amount": "150.00", "channel": "upi"}),
                json!({"type": "resolve_grievance", "grievance_id": "G1",
                       "resolved_on": on(40).to_string(), "note": "late"}),
            ]);
            after.extend(new_consumer_e5());
            after
        });
        let saved = saved_periods(checkpointed);
        let mut periods = saved.clone();
        periods.extend(saved_periods(date));
        periods.push(Period::month_of(date + Days::new(400)));
        let warm = OfficeFigures::of(engine.world(), engine.policy(), &periods);
        let offices = engine.world().offices.clone();
        prop_assert!(warm.periods.iter().any(|figures| figures.values().any(|t| t.grievances_counted > 0)));
        drop(engine);
        // A period the checkpoint did not save that one of the world now would save is read
        // whole once, which replaces the checkpoint.
        let (mut on_disk, now) = (saved.clone(), saved_periods(date));
        for (period, warm) in periods.iter().zip(&warm.periods) {
            let cold = OfficeFigures::read(dir.path(), &Policy::default(), &[*period]).expect("reads");
            prop_assert_eq!(&cold.periods[0], warm, "{}", period);
            prop_assert_eq!(format!("{:?}", cold.offices), format!("{:?}", offices));
            prop_assert_eq!(cold.whole, !on_disk.contains(period), "{}", period);
            if cold.whole && now.contains(period) {
                on_disk = now.clone();
            }
        }
        let (first, last) = (periods[0], periods[periods.len() - 1]);
        let both = OfficeFigures::read(dir.path(), &Policy::default(), &[first, last]).expect("reads");
        prop_assert!(both.whole, "a period not saved reads the whole world");
        prop_assert_eq!(&both.periods[0], &warm.periods[0]);
        prop_assert_eq!(&both.periods[1], &warm.periods[periods.len() - 1]);
    }
}

// ---------------------------------------------------------------------------------------------
// c. Nightly every day versus once after a gap.
// ---------------------------------------------------------------------------------------------

const DAYS: u64 = 120;

/// The levies recorded on every consumer: (account, bill, anniversary, date, amount).
fn levies(engine: &Engine) -> BTreeSet<(String, String, u32, NaiveDate, Money)> {
    engine
        .world()
        .consumers
        .iter()
        .flat_map(|stored| {
            let c = stored.consumer();
            c.surcharges
                .iter()
                .map(|s| {
                    (
                        c.account_no.to_string(),
                        c.surcharge_bill_no(s).to_string(),
                        s.anniversary,
                        s.levied_on,
                        s.amount,
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Proves that with the same bills, payments, reversals, revisions and adjustments in the
    /// log, a nightly run every day for 120 days and a single run on day 120 levy the same
    /// surcharges (bill, anniversary, date, amount) and leave every consumer with the same
    /// overdue arrears, days overdue and aging bucket as of day 120.
    #[test]
    fn daily_runs_equal_one_run_after_a_gap(ops in prop::collection::vec(op(-90..110), 1..25)) {
        let mut workload = Workload::default();
        let mut commands = setup_commands();
        commands.extend(ops.iter().filter_map(|o| workload.command(o)));
        let daily_dir = tempfile::tempdir().expect("a temporary directory");
        let once_dir = tempfile::tempdir().expect("a temporary directory");
        let mut daily = Engine::open(daily_dir.path(), Policy::default()).expect("opens");
        let mut once = Engine::open(once_dir.path(), Policy::default()).expect("opens");
        execute(&mut daily, &commands);
        execute(&mut once, &commands);
        for day in 1..=DAYS {
            daily.nightly(base() + Days::new(day)).expect("nightly");
        }
        let last = base() + Days::new(DAYS);
        once.nightly(last).expect("nightly");

        prop_assert_eq!(levies(&daily), levies(&once));
        for (account, _, _) in ACCOUNTS {
            let row = |engine: &Engine| {
                let world = engine.world();
                let consumer = world.consumer(account).expect("registered");
                let r = lists::consumer_row(world, &consumer, last, engine.policy());
                (r.overdue_arrears, r.days_overdue, r.aging_bucket)
            };
            prop_assert_eq!(row(&daily), row(&once), "{}", account);
        }
    }
}

/// A run's summary without how many consumers it decided and how long it took.
fn outcome(mut summary: vasooli_engine::nightly::NightlySummary) -> String {
    summary.visited = 0;
    summary.elapsed_ms = 0;
    format!("{summary:?}")
}

/// A step of the agenda's workload: few commands, so that most consumers have nothing
/// recorded between runs and the agenda skips them.
fn agenda_step() -> impl Strategy<Value = Step> {
    // An advance of 0: the same date run again.
    step_of(op(-40..400), 0..3, prop::bool::weighted(0.2), 0u8..41)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Proves that a nightly run following the last run's agenda (deciding only consumers
    /// with something due or recorded since) decides exactly what a run over every consumer
    /// decides: the same events in the same order, the same summary, the same lists. Batches,
    /// runs at increasing dates (a day or many apart), officers' actions, mobiles (SMS), a
    /// camp (its announcement) and reopening from the checkpoint (the agenda read back) mix.
    #[test]
    fn a_run_by_agenda_equals_a_run_over_everyone(
        steps in prop::collection::vec(agenda_step(), 1..11),
        short_steps in any::<bool>(),
        periods in (5i64..50, 20i64..70, 0i64..8, 30i64..120),
        surcharges in prop::bool::weighted(0.8),
        mobile_from in 10i64..80,
    ) {
        // The policy's periods drawn too, so that no rule's date hides behind another's.
        let (clear_days, min_days_overdue, reminder_days, after_days) = periods;
        let mut policy = Policy::default();
        policy.notice.clear_days = clear_days;
        policy.notice.min_days_overdue = min_days_overdue;
        policy.sms.reminder_days_before_due = reminder_days;
        policy.permanent_disconnection.after_days = after_days;
        if !surcharges {
            policy.lps.monthly_rate_percent = rust_decimal::Decimal::ZERO;
        }
        let agenda_dir = tempfile::tempdir().expect("a temporary directory");
        let full_dir = tempfile::tempdir().expect("a temporary directory");
        let open = |dir: &std::path::Path, agenda: bool| {
            let mut engine = Engine::open(dir, policy.clone()).expect("opens");
            engine.set_nightly_agenda(agenda);
            // After every run's date, so that none is refused as ahead of the calendar.
            engine.set_clock(vasooli_engine::Clock::Fixed(on(480)));
            engine
        };
        let mut by_agenda = open(agenda_dir.path(), true);
        let mut full = open(full_dir.path(), false);
        let mut setup = setup_commands();
        // The third consumer's mobile starts between the runs, so that what was recorded
        // before it (a payment, a bill) is messaged by the run that sees it start.
        for (i, (account, _, _)) in ACCOUNTS.iter().enumerate().take(3) {
            let from = if i == 2 { mobile_from } else { -60 };
            setup.push(json!({"type": "register_mobile", "account_no": account,
                "mobile": format!("98765000{i:02}"), "registered_on": on(from).to_string(),
                "source": "online"}));
        }
        setup.push(json!({"type": "schedule_camp", "camp_id": "CAMP-1", "subdivision": "SD1",
            "on": on(45).to_string(), "venue": "Panchayat Bhawan"}));
        execute(&mut by_agenda, &setup);
        execute(&mut full, &setup);
        let mut workload = Workload::default();
        let mut date = on(10);
        let mut skipped = 0;
        for step in &steps {
            let commands: Vec<Value> = step.ops.iter().filter_map(|o| workload.command(o)).collect();
            execute(&mut by_agenda, &commands);
            execute(&mut full, &commands);
            if step.reopen {
                drop(by_agenda);
                by_agenda = open(agenda_dir.path(), true);
                drop(full);
                full = open(full_dir.path(), false);
            }
            let advance = if short_steps { step.advance_days % 8 } else { step.advance_days };
            date = date + Days::new(advance.into());
            let a = by_agenda.nightly(date).expect("nightly by agenda");
            let f = full.nightly(date).expect("nightly over everyone");
            skipped += f.visited - a.visited;
            prop_assert_eq!(outcome(a), outcome(f), "the run of {}", date);
            prop_assert_eq!(log_events(&by_agenda), log_events(&full), "the log after {}", date);
            let actions = officer_actions(&full, step.serve, step.disconnect);
            execute(&mut by_agenda, &actions);
            execute(&mut full, &actions);
        }
        prop_assert_eq!(snapshot(&by_agenda), snapshot(&full));
        if std::env::var_os("AGENDA_STATS").is_some() {
            eprintln!("{} runs, {skipped} consumers skipped", steps.len());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// d. The levies a run decides: one ledger a day against one ledger a levy.
// ---------------------------------------------------------------------------------------------

/// The levies due on `date`, each from a ledger worked out afresh with the levies before it,
/// as the rules state them (docs/RULES.md): the reference the run's one ledger a day must
/// equal.
fn levies_one_ledger_each(
    consumer: &vasooli_domain::Consumer,
    date: NaiveDate,
    policy: &Policy,
) -> Vec<vasooli_domain::state::Surcharge> {
    let rate = policy.lps_rate();
    let mut levies: Vec<vasooli_domain::state::Surcharge> = Vec::new();
    for (day, index, k) in vasooli_domain::ledger::anniversaries_due(consumer, date, |_| None) {
        let ledger = ledger_as_of(consumer, day, Charges::All, &levies);
        let unpaid = ledger.bill_unpaid(&consumer.bills[index].bill_no);
        let levy = vasooli_domain::ledger::levy((day, index, k), unpaid, rate, levies.len());
        levies.extend(levy);
    }
    levies
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Proves that the run's levies, decided with one ledger for all the levies of a day,
    /// equal those decided with a ledger worked out afresh for each levy, on random histories
    /// (bills of any due date, so that several fall due on one day; revisions, payments,
    /// reversals, adjustments, levies already recorded) at random dates up to two years on.
    #[test]
    fn one_ledger_a_day_levies_as_one_ledger_a_levy(
        facts in prop::collection::vec(fact(), 0..40),
        dates in prop::collection::vec(0i64..800, 1..4),
    ) {
        let (world, _) = world_of(&facts);
        let consumer = world.consumer("P1").expect("registered");
        let policy = Policy::default();
        for date in dates.into_iter().map(on) {
            let got = vasooli_domain::ledger::surcharges_due(&consumer, date, &policy, |_| None);
            let want = levies_one_ledger_each(&consumer, date, &policy);
            prop_assert_eq!(got, want, "as of {}", date);
        }
    }
}

/// The histories the property above runs on do have days with two levies or more, which is
/// what it tests.
#[test]
fn levies_share_days_in_the_histories_generated() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(64));
    let same_day = std::cell::Cell::new(0usize);
    runner
        .run(
            &(prop::collection::vec(fact(), 0..40), 0i64..800),
            |(facts, date)| {
                let (world, _) = world_of(&facts);
                let consumer = world.consumer("P1").expect("registered");
                let levies = vasooli_domain::ledger::surcharges_due(
                    &consumer,
                    on(date),
                    &Policy::default(),
                    |_| None,
                );
                if levies.windows(2).any(|w| w[0].levied_on == w[1].levied_on) {
                    same_day.set(same_day.get() + 1);
                }
                Ok(())
            },
        )
        .expect("runs");
    assert!(
        same_day.get() > 0,
        "no history of 64 had two levies on one day"
    );
}
