//! Scenario tests: commands in, nightly runs, lists out. Every expected figure is worked out by
//! hand from docs/RULES.md (policy defaults unless a test says otherwise): LPS 1.25% a month on
//! unpaid bill principal, rounded half away from zero; domestic notice threshold 1000.00 after
//! 30 days overdue; 15 clear days after service before disconnection.

use chrono::{Days, NaiveDate};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use tempfile::TempDir;
use vasooli_domain::codec::decode_event;
use vasooli_domain::event::Event;
use vasooli_domain::ledger::{ledger_as_of, ChargeKind, Charges, LedgerView};
use vasooli_domain::types::WorklistKind;
use vasooli_domain::{Command, Consumer, Money, Policy};
use vasooli_engine::engine::SmsTextError;
use vasooli_engine::nightly::NightlySummary;
use vasooli_engine::{Engine, EngineError, ErrorKind, ExecuteReport, Input, RowError};
use vasooli_projections::lists::{self, ConsumerRow, DefaulterFilter};

// ---------------------------------------------------------------------------------------------
// Helpers: a utility in a temporary data directory, and builders for the JSON commands.
// ---------------------------------------------------------------------------------------------

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a YYYY-MM-DD date")
}

/// Every date from `first` to `last`, both included.
fn days(first: &str, last: &str) -> Vec<NaiveDate> {
    let (mut date, last) = (day(first), day(last));
    let mut out = Vec::new();
    while date <= last {
        out.push(date);
        date = date + Days::new(1);
    }
    out
}

/// A surcharge as levied: bill, anniversary, levy date, amount.
type Levy = (String, u32, NaiveDate, String);

fn levy(bill_no: &str, anniversary: u32, levied_on: &str, amount: &str) -> Levy {
    (
        bill_no.to_string(),
        anniversary,
        day(levied_on),
        amount.to_string(),
    )
}

/// An engine over its own temporary data directory, with one office tree registered:
/// zone Z1 → circle C1 → division DV1 → subdivision SD1.
struct Utility {
    // Declared before the directory so that it is dropped first.
    engine: Engine,
    dir: TempDir,
}

impl Utility {
    fn new() -> Utility {
        Utility::with_policy(Policy::default())
    }

    fn with_policy(policy: Policy) -> Utility {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let engine = Engine::open(dir.path(), policy).expect("the engine opens");
        let mut utility = Utility { engine, dir };
        utility.run(offices());
        utility
    }

    fn try_run(&mut self, commands: Vec<Value>) -> Result<ExecuteReport, EngineError> {
        let inputs = commands
            .iter()
            .enumerate()
            .map(|(i, c)| Input {
                location: format!("#{}", i + 1),
                command: Command::from_json(c),
            })
            .collect();
        self.engine.execute(inputs)
    }

    fn run(&mut self, commands: Vec<Value>) -> ExecuteReport {
        self.try_run(commands)
            .unwrap_or_else(|e| panic!("commands refused: {e}"))
    }

    /// Runs a batch that must be refused, checks that nothing was written, and returns why.
    fn refused(&mut self, commands: Vec<Value>) -> Vec<RowError> {
        let before = self.last_position();
        match self.try_run(commands) {
            Err(EngineError::Rejected(errors)) => {
                assert_eq!(
                    self.last_position(),
                    before,
                    "a refused batch writes nothing"
                );
                errors
            }
            other => panic!("expected the batch to be rejected, got {other:?}"),
        }
    }

    fn nightly(&mut self, date: &str) -> NightlySummary {
        self.nightly_on(day(date))
    }

    fn nightly_on(&mut self, date: NaiveDate) -> NightlySummary {
        self.engine
            .nightly(date)
            .unwrap_or_else(|e| panic!("nightly {date}: {e}"))
    }

    /// Closes the engine and opens the data directory again.
    fn reopen(self) -> Utility {
        let policy = self.engine.policy().clone();
        let Utility { engine, dir } = self;
        drop(engine);
        let engine = Engine::open(dir.path(), policy).expect("the engine reopens");
        Utility { engine, dir }
    }

    fn last_position(&self) -> u64 {
        self.engine.store().last_position()
    }

    fn as_of(&self) -> NaiveDate {
        self.engine.as_of().expect("a nightly run has happened")
    }

    /// The consumer's defaulter-list row as of the last nightly run.
    fn row(&self, account: &str) -> ConsumerRow {
        self.row_on(account, self.as_of())
    }

    fn row_on(&self, account: &str, date: NaiveDate) -> ConsumerRow {
        let world = self.engine.world();
        let consumer = world.consumer(account).expect("a registered consumer");
        lists::consumer_row(world, &consumer, date, self.engine.policy())
    }

    /// The consumer with its history, as the world reads it back.
    fn consumer(&self, account: &str) -> Consumer {
        self.engine.world().consumer(account).expect("a consumer")
    }

    /// The statement as the API answers it (JSON).
    fn statement(&self, account: &str) -> Value {
        let statement = vasooli_projections::statement::statement(
            self.engine.world(),
            &|m| self.engine.sms_text(m),
            self.engine.policy(),
            account,
            self.as_of(),
        )
        .expect("a statement");
        serde_json::to_value(statement).expect("a statement serializes")
    }

    /// Accounts on the defaulter list of the whole zone, with an optional minimum.
    fn defaulters(&self, min_arrears: Option<&str>) -> Vec<String> {
        let filter = DefaulterFilter {
            min_arrears: min_arrears.map(|m| Money::parse(m).expect("an amount")),
            ..DefaulterFilter::default()
        };
        lists::defaulters(
            self.engine.world(),
            self.engine.policy(),
            "Z1",
            self.as_of(),
            &filter,
        )
        .expect("the defaulter list")
        .into_iter()
        .map(|r| r.account_no)
        .collect()
    }

    /// Accounts on a worklist of the whole zone as of the last nightly run.
    fn worklist(&self, kind: WorklistKind) -> Vec<String> {
        lists::worklist(
            self.engine.world(),
            self.engine.policy(),
            "Z1",
            kind,
            self.as_of(),
            None,
            0,
        )
        .expect("the worklist")
        .into_iter()
        .map(|r| r.account_no)
        .collect()
    }

    /// The whole log, decoded.
    fn events(&self) -> Vec<Event> {
        self.engine
            .store()
            .read_all(1)
            .map(|r| decode_event(&r.expect("a readable event").payload).expect("decodes"))
            .collect()
    }

    /// Every surcharge levied on a consumer, in log order.
    fn levies(&self, account: &str) -> Vec<Levy> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::SurchargeLevied(s) if s.account_no == account => {
                    Some((s.bill_no, s.anniversary, s.levied_on, s.amount.to_string()))
                }
                _ => None,
            })
            .collect()
    }
}

fn offices() -> Vec<Value> {
    vec![
        json!({"type": "register_office", "code": "Z1", "name": "गढ़वाल ज़ोन", "level": "zone"}),
        json!({"type": "register_office", "code": "C1", "name": "Dehradun Circle", "level": "circle", "parent": "Z1"}),
        json!({"type": "register_office", "code": "DV1", "name": "Dehradun Division", "level": "division", "parent": "C1"}),
        json!({"type": "register_office", "code": "SD1", "name": "Raipur Subdivision", "level": "subdivision", "parent": "DV1"}),
    ]
}

fn consumer(account: &str, category: &str) -> Value {
    json!({"type": "register_consumer", "account_no": account, "name": format!("Consumer {account}"),
           "category": category, "subdivision": "SD1", "load_kw": "2.5", "connected_on": "2025-04-01"})
}

fn consumer_with_mobile(account: &str, mobile: &str) -> Value {
    json!({"type": "register_consumer", "account_no": account, "name": format!("Consumer {account}"),
           "category": "domestic", "subdivision": "SD1", "load_kw": "2.5", "connected_on": "2025-04-01",
           "mobile": mobile, "language": "en"})
}

fn bill(bill_no: &str, account: &str, issued_on: &str, due_on: &str, amount: &str) -> Value {
    json!({"type": "issue_bill", "bill_no": bill_no, "account_no": account, "period": &issued_on[..7],
           "issued_on": issued_on, "due_on": due_on, "amount": amount})
}

fn payment(receipt: &str, account: &str, amount: &str, paid_on: &str) -> Value {
    json!({"type": "receive_payment", "receipt_no": receipt, "account_no": account, "amount": amount,
           "paid_on": paid_on, "channel": "upi"})
}

fn serve(notice_no: &str, served_on: &str) -> Value {
    json!({"type": "serve_notice", "notice_no": notice_no, "served_on": served_on, "mode": "hand"})
}

fn disconnect(account: &str, on: &str, order_no: &str) -> Value {
    json!({"type": "disconnect", "account_no": account, "on": on, "order_no": order_no})
}

fn reconnect(account: &str, on: &str) -> Value {
    json!({"type": "reconnect", "account_no": account, "on": on})
}

fn revise(bill_no: &str, revised_on: &str, new_amount: &str) -> Value {
    json!({"type": "revise_bill", "bill_no": bill_no, "revised_on": revised_on, "new_amount": new_amount,
           "reason": "meter misread"})
}

fn fields(errors: &[RowError]) -> Vec<&str> {
    errors.iter().map(|e| e.field.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// §12: the worked example.
// ---------------------------------------------------------------------------------------------

/// Proves the ledger's worked example of docs/RULES.md figure for figure with a nightly run every day from 2026-07-20 to
/// 2026-09-30: the surcharges and their dates, the overdue arrears and days overdue around the
/// notice, the ladder from notice to disconnection due, the figures as of 2026-09-30; then a
/// disconnection, payment in full, reconnection due, reconnection and a closed case.
#[test]
fn worked_example_of_section_12_day_by_day() {
    let mut u = Utility::new();
    u.run(vec![
        consumer("A1", "domestic"),
        bill("B1", "A1", "2026-07-05", "2026-07-20", "1200.00"),
    ]);
    let mut stages: BTreeMap<NaiveDate, String> = BTreeMap::new();
    let mut levied: BTreeMap<NaiveDate, Vec<Levy>> = BTreeMap::new();
    for date in days("2026-07-20", "2026-09-30") {
        // Each fact is recorded on its own business date, before that night's run.
        match date.to_string().as_str() {
            "2026-08-05" => {
                u.run(vec![bill(
                    "B2",
                    "A1",
                    "2026-08-05",
                    "2026-08-20",
                    "1500.00",
                )]);
            }
            "2026-08-10" => {
                u.run(vec![payment("P1", "A1", "700.00", "2026-08-10")]);
            }
            "2026-08-24" => {
                let notice_no = u.row("A1").notice_no.expect("the notice of 2026-08-21");
                assert_eq!(notice_no, "N-A1-001");
                u.run(vec![serve(&notice_no, "2026-08-24")]);
            }
            _ => {}
        }
        let levies_before = u.levies("A1").len();
        u.nightly_on(date);
        let new_levies = u.levies("A1")[levies_before..].to_vec();
        if !new_levies.is_empty() {
            levied.insert(date, new_levies);
        }
        stages.insert(date, u.row("A1").stage.as_str().to_string());

        match date.to_string().as_str() {
            "2026-08-20" => {
                // B2 and the surcharge fall due today: only B1's unpaid 500.00 is overdue.
                let row = u.row("A1");
                assert_eq!(row.overdue_arrears.to_string(), "500.00");
                assert_eq!(row.days_overdue, 31);
                assert!(u.defaulters(Some("1000.00")).is_empty());
                assert_eq!(u.defaulters(None), vec!["A1"], "a defaulter at 500.00");
            }
            "2026-08-21" => {
                let row = u.row("A1");
                assert_eq!(row.overdue_arrears.to_string(), "2006.25");
                assert_eq!(row.days_overdue, 32);
                assert_eq!(row.oldest_due_on, Some(day("2026-07-20")));
                assert_eq!(row.notice_no.as_deref(), Some("N-A1-001"));
                assert_eq!(u.worklist(WorklistKind::ServeNotice), vec!["A1"]);
                let issued: Vec<_> = u
                    .events()
                    .into_iter()
                    .filter_map(|e| match e {
                        Event::NoticeIssued(n) => Some(n),
                        _ => None,
                    })
                    .collect();
                assert_eq!(issued.len(), 1);
                assert_eq!(issued[0].issued_on, day("2026-08-21"));
                assert_eq!(issued[0].overdue_arrears.to_string(), "2006.25");
                assert_eq!(issued[0].oldest_due_on, day("2026-07-20"));
            }
            "2026-08-24" => {
                let row = u.row("A1");
                assert_eq!(row.notice_served_on, Some(day("2026-08-24")));
                assert_eq!(row.disconnection_allowed_on, Some(day("2026-09-09")));
                assert!(u.worklist(WorklistKind::ServeNotice).is_empty());
            }
            "2026-09-08" => assert!(u.worklist(WorklistKind::Disconnection).is_empty()),
            "2026-09-09" => assert_eq!(u.worklist(WorklistKind::Disconnection), vec!["A1"]),
            _ => {}
        }
    }

    // The surcharges: B1 #1 on its first anniversary; B1 #2 and B2 #1 a month later.
    let expected_levies: BTreeMap<NaiveDate, Vec<Levy>> = [
        (day("2026-08-20"), vec![levy("B1", 1, "2026-08-20", "6.25")]),
        (
            day("2026-09-20"),
            vec![
                levy("B1", 2, "2026-09-20", "6.25"),
                levy("B2", 1, "2026-09-20", "18.75"),
            ],
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(levied, expected_levies);

    // The ladder, day by day.
    for (date, stage) in &stages {
        let expected = if *date <= day("2026-08-20") {
            "clear"
        } else if *date <= day("2026-08-23") {
            "notice_issued"
        } else if *date <= day("2026-09-08") {
            "notice_served"
        } else {
            "disconnection_due"
        };
        assert_eq!(stage, expected, "stage on {date}");
    }

    // As of 2026-09-30.
    let ledger_consumer = u.consumer("A1");
    let ledger = ledger(&ledger_consumer, "2026-09-30");
    assert_eq!(ledger.total_charges.to_string(), "2731.25");
    assert_eq!(ledger.total_credits.to_string(), "700.00");
    assert_eq!(ledger.overdue_arrears.to_string(), "2031.25");
    assert_eq!(ledger.days_overdue, 72);
    assert_eq!(ledger.aging_bucket(), "61-90");
    let statement = u.statement("A1");
    assert_eq!(statement["total_charges"], "2731.25");
    assert_eq!(statement["total_credits"], "700.00");
    assert_eq!(statement["overdue_arrears"], "2031.25");
    assert_eq!(statement["days_overdue"], "72");
    assert_eq!(statement["aging_bucket"], "61-90");
    assert_eq!(statement["stage"], "disconnection_due");

    // The field staff report a disconnection made on 2026-09-10. One dated before the clear
    // days ran out is refused.
    let errors = u.refused(vec![disconnect("A1", "2026-09-08", "DO-17")]);
    assert_eq!(fields(&errors), vec!["on"]);
    u.run(vec![disconnect("A1", "2026-09-10", "DO-17")]);
    assert_eq!(u.row("A1").stage.as_str(), "disconnected");
    assert_eq!(
        u.row_on("A1", day("2026-09-09")).stage.as_str(),
        "disconnection_due"
    );
    // Supply stays off until the sum is paid.
    let errors = u.refused(vec![reconnect("A1", "2026-09-30")]);
    assert_eq!(fields(&errors), vec!["account_no"]);

    // Paid in full: 2731.25 − 700.00.
    u.run(vec![payment("P2", "A1", "2031.25", "2026-10-01")]);
    u.nightly("2026-10-01");
    let row = u.row("A1");
    assert_eq!(row.stage.as_str(), "reconnection_due");
    assert_eq!(row.overdue_arrears, Money::ZERO);
    assert_eq!(u.worklist(WorklistKind::Reconnection), vec!["A1"]);
    assert!(u.defaulters(None).is_empty());

    u.run(vec![reconnect("A1", "2026-10-02")]);
    u.nightly("2026-10-02");
    let row = u.row("A1");
    assert_eq!(row.stage.as_str(), "clear");
    assert_eq!(row.notice_no, None);
    assert!(u.worklist(WorklistKind::Reconnection).is_empty());
    let statement = u.statement("A1");
    assert_eq!(statement["notices"][0]["notice_no"], "N-A1-001");
    assert_eq!(statement["notices"][0]["closed_on"], "2026-10-02");
    assert_eq!(statement["notices"][0]["close_reason"], "reconnected");

    // Nothing is unpaid, so the anniversaries of 2026-10-20 levy nothing.
    u.nightly("2026-10-20");
    assert_eq!(u.levies("A1").len(), 3);
}

// ---------------------------------------------------------------------------------------------
// §4: revisions, reversals, advances.
// ---------------------------------------------------------------------------------------------

/// Proves that a revision lowers a bill from its `revised_on` only: before it the old amount
/// counts, after it the new one; the surcharge already levied on the old amount stays, the next
/// is on the new amount; revising a bill up (or to the same amount) is refused.
#[test]
fn a_revision_lowers_a_bill_from_its_date_on() {
    let mut u = Utility::new();
    u.run(vec![
        consumer("R1", "domestic"),
        bill("B1", "R1", "2026-01-01", "2026-01-10", "2000.00"),
    ]);
    // 1.25% of 2000.00.
    u.nightly("2026-02-10");
    assert_eq!(u.levies("R1"), vec![levy("B1", 1, "2026-02-10", "25.00")]);

    u.run(vec![revise("B1", "2026-02-15", "1200.00")]);
    let before_consumer = u.consumer("R1");
    let before = ledger(&before_consumer, "2026-02-14");
    assert_eq!(before.total_charges.to_string(), "2025.00");
    assert_eq!(before.overdue_arrears.to_string(), "2025.00");
    let after_consumer = u.consumer("R1");
    let after = ledger(&after_consumer, "2026-02-15");
    assert_eq!(after.total_charges.to_string(), "1225.00");
    assert_eq!(after.overdue_arrears.to_string(), "1225.00");
    assert_eq!(after.charges[0].amount.to_string(), "1200.00");
    assert_eq!(
        after.charges[0].due_on,
        day("2026-01-10"),
        "keeps its due date"
    );

    // Up, or to the same amount: a shortfall is billed with a supplementary bill instead.
    for amount in ["1500.00", "1200.00"] {
        let errors = u.refused(vec![revise("B1", "2026-02-20", amount)]);
        assert_eq!(fields(&errors), vec!["new_amount"]);
        assert_eq!(errors[0].kind, ErrorKind::Unprocessable);
    }

    u.nightly("2026-03-10");
    assert_eq!(
        u.levies("R1"),
        vec![
            levy("B1", 1, "2026-02-10", "25.00"),
            levy("B1", 2, "2026-03-10", "15.00"),
        ]
    );
    assert_eq!(
        u.row_on("R1", day("2026-03-11"))
            .overdue_arrears
            .to_string(),
        "1240.00"
    );
}

/// Proves that revisions only ever lower a bill: with a revision to 1000.00 dated 2026-03-01
/// on record, a back-dated revision to 500.00 dated 2026-02-01 is either refused or replaces
/// the amount from 2026-02-01 on; either way the bill never rises from one day to the next.
#[test]
fn a_back_dated_revision_never_lets_a_bill_rise() {
    let mut u = Utility::new();
    u.run(vec![
        consumer("R2", "domestic"),
        bill("B1", "R2", "2026-01-01", "2026-01-10", "2000.00"),
        revise("B1", "2026-03-01", "1000.00"),
    ]);
    if u.try_run(vec![revise("B1", "2026-02-01", "500.00")])
        .is_err()
    {
        return;
    }
    let mut previous: Option<Money> = None;
    for date in days("2026-01-01", "2026-03-31") {
        let amount = ledger_as_of(&u.consumer("R2"), date, Charges::All, &[]).total_charges;
        if let Some(p) = previous {
            assert!(amount <= p, "B1 rises from {p} to {amount} on {date}");
        }
        previous = Some(amount);
    }
    assert_eq!(
        ledger(&u.consumer("R2"), "2026-03-15")
            .total_charges
            .to_string(),
        "500.00"
    );
}

/// Proves that a payment recorded after a levy but dated before its anniversary does not
/// change the levy already made (§5); it pays the bill first, leaving the surcharge owed until
/// an officer waives it with a credit adjustment; later anniversaries levy nothing.
#[test]
fn a_late_recorded_payment_leaves_a_levy_as_it_was() {
    let mut u = Utility::new();
    u.run(vec![
        consumer("L1", "domestic"),
        bill("B1", "L1", "2026-01-01", "2026-01-10", "2000.00"),
    ]);
    u.nightly("2026-02-10");
    u.run(vec![payment("P1", "L1", "2000.00", "2026-02-05")]);
    u.nightly("2026-02-11");
    assert_eq!(u.levies("L1"), vec![levy("B1", 1, "2026-02-10", "25.00")]);
    let row = u.row("L1");
    assert_eq!(row.overdue_arrears.to_string(), "25.00");
    assert_eq!(row.oldest_due_on, Some(day("2026-02-10")));
    assert_eq!(row.days_overdue, 1);

    u.nightly("2026-03-10");
    assert_eq!(u.levies("L1").len(), 1, "B1 is paid: nothing to levy");
    u.run(vec![
        json!({"type": "post_adjustment", "adjustment_no": "W1", "account_no": "L1", "posted_on": "2026-03-12",
               "amount": "-25.00", "reason": "surcharge waived"}),
    ]);
    u.nightly("2026-03-12");
    assert_eq!(u.row("L1").overdue_arrears, Money::ZERO);
}

/// Proves that a bill recorded after the nightly runs have passed its anniversaries is levied
/// for each of them by the next run, each on the unpaid principal of its own date.
#[test]
fn a_late_recorded_bill_is_levied_for_every_anniversary_it_missed() {
    let mut u = Utility::new();
    u.run(vec![consumer("L2", "domestic")]);
    u.nightly("2026-03-15");
    u.run(vec![
        bill("B1", "L2", "2026-01-01", "2026-01-10", "1000.00"),
        payment("P1", "L2", "400.00", "2026-02-20"),
    ]);
    u.nightly("2026-03-16");
    // 02-10: 1.25% of 1000.00; 03-10: of the 600.00 left after the payment of 02-20.
    assert_eq!(
        u.levies("L2"),
        vec![
            levy("B1", 1, "2026-02-10", "12.50"),
            levy("B1", 2, "2026-03-10", "7.50"),
        ]
    );
}

/// Proves that a reversed payment (a bounced cheque) stops counting from its `reversed_on`:
/// the arrears come back on that date and not before, and the next surcharge sees them.
#[test]
fn a_bounced_cheque_counts_until_its_reversal_date() {
    let mut u = Utility::new();
    u.run(vec![
        consumer("V1", "domestic"),
        bill("B1", "V1", "2026-01-01", "2026-01-10", "1000.00"),
        json!({"type": "receive_payment", "receipt_no": "CHQ-1", "account_no": "V1", "amount": "1000.00",
               "paid_on": "2026-01-08", "channel": "counter_cheque"}),
    ]);
    u.nightly("2026-01-15");
    assert_eq!(u.row("V1").overdue_arrears, Money::ZERO);

    u.run(vec![
        json!({"type": "reverse_payment", "receipt_no": "CHQ-1", "reversed_on": "2026-01-20", "reason": "cheque bounced"}),
    ]);
    u.nightly("2026-01-20");
    let on_19th_consumer = u.consumer("V1");
    let on_19th = ledger(&on_19th_consumer, "2026-01-19");
    assert_eq!(on_19th.overdue_arrears, Money::ZERO);
    assert_eq!(on_19th.total_credits.to_string(), "1000.00");
    let on_20th_consumer = u.consumer("V1");
    let on_20th = ledger(&on_20th_consumer, "2026-01-20");
    assert_eq!(on_20th.overdue_arrears.to_string(), "1000.00");
    assert_eq!(on_20th.total_credits, Money::ZERO);
    assert_eq!(on_20th.days_overdue, 10);
    assert_eq!(u.row("V1").last_payment_on, None);
    let statement = u.statement("V1");
    assert_eq!(statement["reversed_payments"][0]["receipt_no"], "CHQ-1");
    assert_eq!(
        statement["reversed_payments"][0]["reversed_on"],
        "2026-01-20"
    );

    // The same cheque cannot bounce twice.
    let errors = u.refused(vec![
        json!({"type": "reverse_payment", "receipt_no": "CHQ-1", "reversed_on": "2026-01-25", "reason": "again"}),
    ]);
    assert_eq!(fields(&errors), vec!["receipt_no"]);

    u.nightly("2026-02-10");
    assert_eq!(u.levies("V1"), vec![levy("B1", 1, "2026-02-10", "12.50")]);
}

/// Proves that credits beyond all charges are an advance that covers later bills as they
/// come: the bills it covers have unpaid 0.00 and draw no surcharge; the first bill it does
/// not cover in full is overdue for the rest only.
#[test]
fn an_advance_covers_later_bills_as_they_come() {
    let mut u = Utility::new();
    u.run(vec![
        consumer("AD1", "domestic"),
        payment("P1", "AD1", "3000.00", "2026-01-02"),
    ]);
    u.nightly("2026-01-02");
    let statement = u.statement("AD1");
    assert_eq!(statement["advance"], "3000.00");
    assert_eq!(statement["outstanding"], "0.00");

    u.run(vec![bill(
        "B1",
        "AD1",
        "2026-01-05",
        "2026-01-15",
        "1000.00",
    )]);
    u.nightly("2026-01-16");
    assert_eq!(u.statement("AD1")["advance"], "2000.00");

    u.run(vec![bill(
        "B2",
        "AD1",
        "2026-02-05",
        "2026-02-15",
        "1500.00",
    )]);
    u.nightly("2026-02-16");
    let statement = u.statement("AD1");
    assert_eq!(statement["charges"][1]["reference"], "B2 (2026-02)");
    assert_eq!(statement["charges"][1]["unpaid"], "0.00");
    assert_eq!(statement["advance"], "500.00");
    assert_eq!(statement["overdue_arrears"], "0.00");

    u.run(vec![bill(
        "B3",
        "AD1",
        "2026-03-05",
        "2026-03-15",
        "800.00",
    )]);
    u.nightly("2026-03-16");
    let ledger_consumer = u.consumer("AD1");
    let ledger = ledger(&ledger_consumer, "2026-03-16");
    let unpaid: Vec<String> = ledger
        .charges
        .iter()
        .map(|c| c.unpaid.to_string())
        .collect();
    assert_eq!(unpaid, vec!["0.00", "0.00", "300.00"]);
    assert_eq!(ledger.overdue_arrears.to_string(), "300.00");
    assert_eq!(ledger.days_overdue, 1);
    assert_eq!(ledger.advance(), Money::ZERO);

    // Only B3 ever had unpaid principal on an anniversary: 1.25% of 300.00.
    u.nightly("2026-04-15");
    assert_eq!(u.levies("AD1"), vec![levy("B3", 1, "2026-04-15", "3.75")]);
}

// ---------------------------------------------------------------------------------------------
// §5: the late payment surcharge.
// ---------------------------------------------------------------------------------------------

/// Proves that anniversaries of a bill due on the 31st clamp to the month's end (2026-02-28,
/// 03-31, 04-30, 05-31: each counted from the due date, not from the previous anniversary),
/// and that the amount rounds half away from zero: 1.25% of 1234.20 = 15.4275 → 15.43; of
/// 2.00 = 0.025 → 0.03 (half to even would give 0.02); of 0.40 = 0.005 → 0.01 (half to even:
/// 0.00, nothing levied); of 0.30 = 0.00375 → 0.00, which is not appended.
#[test]
fn month_end_anniversaries_and_half_away_rounding() {
    let mut u = Utility::new();
    let mut commands = Vec::new();
    for (account, amount) in [
        ("M1", "1234.20"),
        ("M2", "2.00"),
        ("M3", "0.40"),
        ("M4", "0.30"),
    ] {
        commands.push(consumer(account, "domestic"));
        commands.push(bill(
            &format!("B{account}"),
            account,
            "2026-01-20",
            "2026-01-31",
            amount,
        ));
    }
    u.run(commands);
    let mut levy_days = Vec::new();
    for date in [
        "2026-01-31",
        "2026-02-27",
        "2026-02-28",
        "2026-03-30",
        "2026-03-31",
        "2026-04-29",
        "2026-04-30",
        "2026-05-30",
        "2026-05-31",
    ] {
        let summary = u.nightly(date);
        if summary.surcharges > 0 {
            levy_days.push((date, summary.surcharges));
        }
    }
    assert_eq!(
        levy_days,
        vec![
            ("2026-02-28", 3),
            ("2026-03-31", 3),
            ("2026-04-30", 3),
            ("2026-05-31", 3)
        ]
    );
    let anniversaries = ["2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"];
    for (account, amount) in [("M1", "15.43"), ("M2", "0.03"), ("M3", "0.01")] {
        let expected: Vec<Levy> = anniversaries
            .iter()
            .enumerate()
            .map(|(i, d)| levy(&format!("B{account}"), i as u32 + 1, d, amount))
            .collect();
        assert_eq!(u.levies(account), expected, "{account}");
    }
    assert!(u.levies("M4").is_empty());
}

// ---------------------------------------------------------------------------------------------
// §3: input validation and the import's natural keys.
// ---------------------------------------------------------------------------------------------

/// Proves that an amount with a third decimal is a validation error naming the field, as a
/// string or as a JSON number, and that the refused batch writes nothing, not even its good
/// rows.
#[test]
fn a_third_decimal_is_refused_never_rounded() {
    let mut u = Utility::new();
    u.run(vec![consumer("T1", "domestic")]);
    for amount in [json!("700.125"), json!(700.125)] {
        let before = u.last_position();
        let result = u.try_run(vec![
            payment("R-OK", "T1", "100.00", "2026-08-10"),
            json!({"type": "receive_payment", "receipt_no": "R-0001", "account_no": "T1", "amount": amount,
                   "paid_on": "2026-08-10", "channel": "upi"}),
        ]);
        let Err(EngineError::Rejected(errors)) = result else {
            panic!("{amount} was not rejected: {result:?}");
        };
        assert_eq!(fields(&errors), vec!["amount"], "{amount}");
        assert_eq!(errors[0].location, "#2");
        assert_eq!(errors[0].kind, ErrorKind::Unprocessable);
        assert_eq!(u.last_position(), before, "nothing appended for {amount}");
    }
    // Two decimals, as a string or a number, are fine.
    let report = u.run(vec![
        json!({"type": "receive_payment", "receipt_no": "R-0002", "account_no": "T1", "amount": 700.12,
               "paid_on": "2026-08-10", "channel": "upi"}),
        payment("R-0003", "T1", "700.10", "2026-08-10"),
    ]);
    assert_eq!(report.appended, 2);
    let credits = ledger(&u.consumer("T1"), "2026-08-10").total_credits;
    assert_eq!(credits.to_string(), "1400.22");
}

/// Proves that a payment row sent again with the same content is skipped and counted as a
/// duplicate (in a later import or the same one), and that its receipt number with another
/// amount is a conflict that writes nothing.
#[test]
fn duplicate_rows_are_skipped_and_conflicts_refused() {
    let mut u = Utility::new();
    u.run(vec![
        consumer("U1", "domestic"),
        bill("B1", "U1", "2026-01-01", "2026-01-10", "900.00"),
    ]);
    let first = u.run(vec![payment("R1", "U1", "400.00", "2026-01-05")]);
    assert_eq!((first.appended, first.duplicates), (1, 0));

    let again = u.run(vec![payment("R1", "U1", "400.00", "2026-01-05")]);
    assert_eq!((again.read, again.appended, again.duplicates), (1, 0, 1));

    let mixed = u.run(vec![
        payment("R1", "U1", "400.00", "2026-01-05"),
        payment("R2", "U1", "100.00", "2026-01-06"),
        payment("R2", "U1", "100.00", "2026-01-06"),
        bill("B1", "U1", "2026-01-01", "2026-01-10", "900.00"),
    ]);
    assert_eq!((mixed.read, mixed.appended, mixed.duplicates), (4, 1, 3));

    let errors = u.refused(vec![payment("R1", "U1", "450.00", "2026-01-05")]);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind, ErrorKind::Conflict);
    assert_eq!(errors[0].field, "receipt_no");

    // The duplicates counted once.
    assert_eq!(
        ledger(&u.consumer("U1"), "2026-01-31")
            .total_credits
            .to_string(),
        "500.00"
    );
}

// ---------------------------------------------------------------------------------------------
// The nightly run.
// ---------------------------------------------------------------------------------------------

/// Proves that a nightly date before the last run's is a usage error, and that running the
/// same date again appends nothing (no surcharge, notice or SMS twice).
#[test]
fn nightly_refuses_the_past_and_is_idempotent() {
    let mut u = Utility::new();
    u.run(vec![
        consumer_with_mobile("N1", "98765 43210"),
        bill("B1", "N1", "2026-01-01", "2026-01-10", "2500.00"),
        payment("P1", "N1", "100.00", "2026-02-01"),
    ]);
    let first = u.nightly("2026-02-10");
    assert_eq!(first.surcharges, 1);
    assert_eq!(first.notices, 1);
    assert!(first.sms_queued > 0, "the notice SMS at least");
    let position = u.last_position();

    let again = u.nightly("2026-02-10");
    assert_eq!(again.appended, 0);
    assert_eq!(u.last_position(), position);
    let mut u = u.reopen();
    let after_reopen = u.nightly("2026-02-10");
    assert_eq!(after_reopen.appended, 0);
    assert_eq!(u.last_position(), position);

    let earlier = u.engine.nightly(day("2026-02-09"));
    assert!(matches!(earlier, Err(EngineError::Usage(_))), "{earlier:?}");
    assert_eq!(u.last_position(), position);
    assert_eq!(u.as_of(), day("2026-02-10"));
}

#[test]
fn the_nightly_summary_counts_the_rupees_since_the_last_run() {
    let mut u = Utility::new();
    u.run(vec![
        consumer("M1", "domestic"),
        consumer("M2", "domestic"),
        bill("MB1", "M1", "2026-01-05", "2026-01-20", "1000.00"),
        bill("MB2", "M2", "2026-01-05", "2026-01-20", "2000.00"),
        payment("MP1", "M1", "400.00", "2026-01-25"),
        // After the first run's date: counted by the second run only.
        payment("MP2", "M2", "100.00", "2026-02-10"),
        bill("MB3", "M1", "2026-02-05", "2026-02-20", "500.00"),
    ]);
    let first = u.nightly("2026-01-31");
    assert_eq!(first.money.since, None, "a first run counts everything");
    assert_eq!(first.money.billed.to_string(), "3000.00");
    assert_eq!(first.money.collected.to_string(), "400.00");
    assert_eq!(first.money.surcharge_levied.to_string(), "0.00");

    let second = u.nightly("2026-02-28");
    assert_eq!(second.money.since, Some(day("2026-02-01")));
    assert_eq!(second.money.billed.to_string(), "500.00");
    assert_eq!(second.money.collected.to_string(), "100.00");
    let levied: Money = u
        .levies("M1")
        .into_iter()
        .chain(u.levies("M2"))
        .map(|(_, _, _, amount)| Money::parse(&amount).expect("an amount"))
        .sum();
    assert!(
        levied > Money::ZERO,
        "the anniversaries of 20-02 were levied"
    );
    assert_eq!(second.money.surcharge_levied, levied);
    // The arrears by stage are the consumers' own rows, summed by their stage.
    let mut by_stage: BTreeMap<&str, Money> = BTreeMap::new();
    for account in ["M1", "M2"] {
        let row = u.row(account);
        *by_stage.entry(row.stage.as_str()).or_default() += row.overdue_arrears;
    }
    assert_eq!(second.money.arrears_by_stage, by_stage);
    let total: Money = by_stage.values().copied().sum();
    assert!(total > Money::parse("2600.00").expect("an amount"));

    let again = u.nightly("2026-02-28");
    assert_eq!(
        again.money.billed,
        Money::ZERO,
        "a rerun counts nothing new"
    );
    assert_eq!(again.money.collected, Money::ZERO);
    assert_eq!(again.money.surcharge_levied, Money::ZERO);
    assert_eq!(again.money.arrears_by_stage, by_stage);
}

/// The ids of the messages queued for a consumer, in log order.
fn sms_ids(u: &Utility, account: &str) -> Vec<String> {
    u.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::SmsQueued(m) if m.account_no == account => Some(m.message_id),
            _ => None,
        })
        .collect()
}

/// Proves §11's "each disconnection and each payment receipt" for events recorded after the
/// run of their day: a disconnection dated the day of the run that listed it but appended after
/// that run, and payments dated on and before the last run's date but posted after it, are
/// messaged at the next run, once each; a rerun of that date and a rebuild change nothing.
#[test]
fn events_recorded_after_their_days_run_are_still_messaged() {
    let mut u = Utility::new();
    u.run(vec![
        consumer_with_mobile("LR1", "98765 43210"),
        bill("BLR1", "LR1", "2026-01-01", "2026-01-10", "2500.00"),
    ]);
    u.nightly("2026-02-10");
    let notice_no = u.row("LR1").notice_no.expect("a notice on 2026-02-10");
    u.run(vec![serve(&notice_no, "2026-02-11")]);
    u.nightly("2026-02-27");
    assert_eq!(u.row("LR1").stage.as_str(), "disconnection_due");

    // The lineman disconnects on the day of the run that listed the consumer; the order is
    // recorded after that run.
    u.run(vec![disconnect("LR1", "2026-02-27", "DO-LR1")]);
    let summary = u.nightly("2026-02-28");
    assert_eq!(summary.sms_queued, 1);
    assert!(sms_ids(&u, "LR1").contains(&"LR1-disconnection-20260227".to_string()));

    // Payments taken at the counter on the day of a run and the day before, posted after it.
    u.nightly("2026-03-05");
    u.run(vec![
        payment("RLR1", "LR1", "100.00", "2026-03-05"),
        payment("RLR2", "LR1", "50.00", "2026-03-04"),
    ]);
    let summary = u.nightly("2026-03-06");
    assert_eq!(summary.sms_queued, 2);
    let consumer = u.engine.world().consumer("LR1").expect("LR1");
    let receipts: Vec<(&str, NaiveDate)> = consumer
        .sms
        .iter()
        .filter(|m| m.template == "receipt")
        .map(|m| (m.message_id.as_str(), m.queued_on))
        .collect();
    assert_eq!(
        receipts,
        vec![
            ("LR1-receipt-RLR1", day("2026-03-06")),
            ("LR1-receipt-RLR2", day("2026-03-06")),
        ]
    );

    // A rerun of the date appends nothing; later runs queue none of these again.
    let position = u.last_position();
    assert_eq!(u.nightly("2026-03-06").appended, 0);
    assert_eq!(u.last_position(), position);
    u.nightly("2026-03-07");
    let ids = sms_ids(&u, "LR1");
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "no message queued twice: {ids:?}");

    // The world rebuilt from the log holds the same messages.
    let before = format!("{:?}", u.engine.world().consumer("LR1").expect("LR1").sms);
    u.engine.rebuild().expect("rebuild");
    let after = format!("{:?}", u.engine.world().consumer("LR1").expect("LR1").sms);
    assert_eq!(before, after);

    // The world keeps where each text is; the text is the one the log recorded.
    let consumer = u.engine.world().consumer("LR1").expect("LR1");
    let store = u.engine.store();
    for m in &consumer.sms {
        let recorded = store
            .read_all(m.position)
            .next()
            .expect("an event")
            .expect("reads");
        let Event::SmsQueued(queued) = decode_event(&recorded.payload).expect("decodes") else {
            panic!("{} points at another kind of event", m.message_id);
        };
        assert_eq!(queued.message_id, m.message_id.as_str());
        assert!(!queued.text.is_empty());
        assert_eq!(u.engine.sms_text(m).expect("the text"), queued.text);
    }
    // A message pointing at another event is an error naming it, not another text.
    let mut wrong = consumer.sms[0].clone();
    wrong.position = consumer.sms[1].position;
    let error = u
        .engine
        .sms_text(&wrong)
        .expect_err("another message's event");
    assert!(
        matches!(&error, SmsTextError::NotAtPosition { message_id, position }
            if message_id == wrong.message_id.as_str() && *position == wrong.position),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(wrong.message_id.as_str()),
        "{error}"
    );
    wrong.position = u.last_position() + 1;
    assert!(matches!(
        u.engine.sms_text(&wrong),
        Err(SmsTextError::NotAtPosition { .. })
    ));
}

/// The commands of the catch-up scenario: three consumers whose payments land between
/// anniversaries, on an anniversary, and before a second bill.
fn catch_up_commands() -> Vec<Value> {
    vec![
        consumer("X1", "domestic"),
        bill("BX1", "X1", "2026-01-20", "2026-01-31", "1200.00"),
        payment("PX1", "X1", "500.00", "2026-03-15"),
        consumer("X2", "non_domestic"),
        bill("BX2A", "X2", "2026-01-05", "2026-01-15", "800.00"),
        bill("BX2B", "X2", "2026-02-05", "2026-02-15", "900.00"),
        payment("PX2", "X2", "1000.00", "2026-02-20"),
        consumer("X3", "industrial"),
        bill("BX3", "X3", "2026-01-10", "2026-01-25", "40000.00"),
        payment("PX3", "X3", "15000.00", "2026-03-25"),
    ]
}

/// Proves that one nightly run after a gap levies every anniversary it missed, with the
/// same amounts and dates as runs every day would have, and leaves the same arrears, days
/// overdue and aging buckets.
#[test]
fn a_run_after_a_gap_catches_up_like_daily_runs() {
    let mut daily = Utility::new();
    let mut gap = Utility::new();
    daily.run(catch_up_commands());
    gap.run(catch_up_commands());
    for date in days("2026-01-25", "2026-05-31") {
        daily.nightly_on(date);
    }
    gap.nightly("2026-01-25");
    gap.nightly("2026-05-31");

    // X1 by hand: 1.25% of 1200.00 on 02-28; the 500.00 of 03-15 leaves 700.00 of the bill
    // unpaid on every later anniversary (the surcharge comes after the bill in the order).
    let x1 = vec![
        levy("BX1", 1, "2026-02-28", "15.00"),
        levy("BX1", 2, "2026-03-31", "8.75"),
        levy("BX1", 3, "2026-04-30", "8.75"),
        levy("BX1", 4, "2026-05-31", "8.75"),
    ];
    assert_eq!(daily.levies("X1"), x1);
    assert_eq!(gap.levies("X1"), x1);
    // X3 pays on its anniversary: the payment is dated on or before it, so it counts.
    // 02-25: 1.25% of 40000.00 = 500.00; 03-25: 1.25% of 25000.00 = 312.50; then the bill
    // stays 25000.00 unpaid (the 500.00 surcharge is due after it).
    let x3 = vec![
        levy("BX3", 1, "2026-02-25", "500.00"),
        levy("BX3", 2, "2026-03-25", "312.50"),
        levy("BX3", 3, "2026-04-25", "312.50"),
        levy("BX3", 4, "2026-05-25", "312.50"),
    ];
    assert_eq!(daily.levies("X3"), x3);
    assert_eq!(gap.levies("X3"), x3);

    let sorted = |u: &Utility, account: &str| {
        let mut l = u.levies(account);
        l.sort();
        l
    };
    assert_eq!(sorted(&daily, "X2"), sorted(&gap, "X2"));
    for account in ["X1", "X2", "X3"] {
        let (a, b) = (daily.row(account), gap.row(account));
        assert_eq!(a.overdue_arrears, b.overdue_arrears, "{account}");
        assert_eq!(a.days_overdue, b.days_overdue, "{account}");
        assert_eq!(a.aging_bucket, b.aging_bucket, "{account}");
    }
}

// ---------------------------------------------------------------------------------------------
// §6: the recovery ladder.
// ---------------------------------------------------------------------------------------------

/// Proves that no step is skipped: a first run 60 days after the last moves an unpaid
/// consumer only to `notice_issued` (the notice dated on the run), and it stays there, however
/// long the next gap, until the notice is served.
#[test]
fn a_long_gap_moves_a_consumer_one_step_only() {
    let mut u = Utility::new();
    u.run(vec![
        consumer("G1", "domestic"),
        bill("B1", "G1", "2026-01-01", "2026-01-10", "5000.00"),
    ]);
    u.nightly("2026-01-09");
    assert_eq!(u.row("G1").stage.as_str(), "clear");

    u.nightly("2026-03-10");
    let row = u.row("G1");
    assert_eq!(row.stage.as_str(), "notice_issued");
    assert_eq!(row.notice_no.as_deref(), Some("N-G1-001"));
    assert_eq!(row.notice_served_on, None);
    assert_eq!(row.disconnection_allowed_on, None);
    // 5000.00 and the surcharge of 02-10 (62.50); the one levied today is not yet overdue.
    assert_eq!(row.overdue_arrears.to_string(), "5062.50");
    assert_eq!(row.days_overdue, 59);

    u.nightly("2026-06-10");
    assert_eq!(u.row("G1").stage.as_str(), "notice_issued");
    let events = u.events();
    let notices: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::NoticeIssued(n) => Some((n.notice_no.as_str(), n.issued_on)),
            _ => None,
        })
        .collect();
    assert_eq!(notices, vec![("N-G1-001", day("2026-03-10"))]);
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::NoticeServed(_) | Event::Disconnected(_))));
    assert!(u.worklist(WorklistKind::Disconnection).is_empty());
    assert_eq!(u.worklist(WorklistKind::ServeNotice), vec!["G1"]);
}

/// Proves that a case closes when payment brings the arrears below the threshold (stage
/// clear, the unserved notice lapses and can no longer be served) and that arrears building
/// up again open a new case with the next notice number.
#[test]
fn a_case_closes_on_payment_and_a_new_one_gets_the_next_number() {
    let mut u = Utility::new();
    u.run(vec![
        consumer("C2", "domestic"),
        bill("B1", "C2", "2026-01-01", "2026-01-10", "1500.00"),
    ]);
    u.nightly("2026-02-10");
    assert_eq!(u.row("C2").notice_no.as_deref(), Some("N-C2-001"));

    // 1000.00 covers B1 first: 500.00 of it and the 18.75 surcharge of 02-10 remain.
    u.run(vec![payment("P1", "C2", "1000.00", "2026-02-12")]);
    u.nightly("2026-02-12");
    let row = u.row("C2");
    assert_eq!(row.overdue_arrears.to_string(), "518.75");
    assert_eq!(row.stage.as_str(), "clear");
    assert_eq!(row.notice_no, None);
    let closed: Vec<_> = u
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::CaseClosed(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].notice_no, "N-C2-001");
    assert_eq!(closed[0].closed_on, day("2026-02-12"));
    assert_eq!(closed[0].reason.as_str(), "arrears_cleared");
    assert!(closed[0].lapsed, "never served, so it lapses");
    let errors = u.refused(vec![serve("N-C2-001", "2026-02-13")]);
    assert_eq!(fields(&errors), vec!["notice_no"]);

    u.run(vec![bill(
        "B2",
        "C2",
        "2026-02-13",
        "2026-02-15",
        "1000.00",
    )]);
    for date in days("2026-02-13", "2026-02-16") {
        u.nightly_on(date);
    }
    assert_eq!(
        u.row_on("C2", day("2026-02-15")).stage.as_str(),
        "clear",
        "B2 is not overdue on its due date"
    );
    let row = u.row("C2");
    assert_eq!(row.stage.as_str(), "notice_issued");
    assert_eq!(row.notice_no.as_deref(), Some("N-C2-002"));
    assert_eq!(row.overdue_arrears.to_string(), "1518.75");
    assert_eq!(row.days_overdue, 37);
}

/// Brings consumers, given as (account, category, amount), to `disconnection_due` on
/// 2026-02-27: a bill of the amount due 2026-01-10, the notice of 2026-02-10 served on
/// 2026-02-11 (disconnection allowed from 2026-02-27).
fn to_disconnection_due(u: &mut Utility, consumers: &[(&str, &str, &str)]) {
    for (account, category, amount) in consumers {
        u.run(vec![
            consumer(account, category),
            bill(
                &format!("B{account}"),
                account,
                "2026-01-01",
                "2026-01-10",
                amount,
            ),
        ]);
    }
    u.nightly("2026-02-10");
    for (account, _, _) in consumers {
        let notice_no = u.row(account).notice_no.expect("a notice on 2026-02-10");
        u.run(vec![serve(&notice_no, "2026-02-11")]);
    }
    u.nightly("2026-02-27");
    for (account, _, _) in consumers {
        let row = u.row(account);
        assert_eq!(row.stage.as_str(), "disconnection_due");
        assert_eq!(row.disconnection_allowed_on, Some(day("2026-02-27")));
    }
}

/// Proves that a pending dispute keeps a consumer due for disconnection off the disconnection
/// worklist (hold `dispute`, stage unchanged), that its deposit is a credit, that a
/// disconnection is refused while it lasts, and that the consumer returns once it is resolved.
#[test]
fn a_dispute_holds_disconnection_until_resolved() {
    let mut u = Utility::new();
    to_disconnection_due(&mut u, &[("D1", "domestic", "3000.00")]);
    assert_eq!(u.worklist(WorklistKind::Disconnection), vec!["D1"]);

    u.run(vec![
        json!({"type": "raise_dispute", "account_no": "D1", "on": "2026-02-28", "deposit": "300.00", "bill_no": "BD1"}),
    ]);
    u.nightly("2026-02-28");
    let row = u.row("D1");
    assert_eq!(row.stage.as_str(), "disconnection_due");
    assert_eq!(row.hold, "dispute");
    // 3000.00 + 37.50 (02-10) − 300.00 deposit.
    assert_eq!(row.overdue_arrears.to_string(), "2737.50");
    assert!(u.worklist(WorklistKind::Disconnection).is_empty());
    let errors = u.refused(vec![disconnect("D1", "2026-03-01", "DO-1")]);
    assert_eq!(fields(&errors), vec!["account_no"]);

    u.run(vec![
        json!({"type": "resolve_dispute", "account_no": "D1", "on": "2026-03-02"}),
    ]);
    u.nightly("2026-03-02");
    assert_eq!(u.row("D1").hold, "");
    assert_eq!(u.worklist(WorklistKind::Disconnection), vec!["D1"]);
}

/// Proves the instalment plan hold: a plan kept (payments since the grant cover the
/// instalments due 15 days before the run) holds the consumer off the disconnection worklist;
/// a plan not kept is recorded broken on the first run more than 15 days after a missed
/// instalment, and the consumer goes back on the worklist.
#[test]
fn an_instalment_plan_kept_holds_and_one_broken_does_not() {
    let mut u = Utility::new();
    to_disconnection_due(
        &mut u,
        &[("K1", "domestic", "3000.00"), ("K2", "domestic", "3000.00")],
    );
    let plan = |plan_id: &str, account: &str| {
        json!({"type": "grant_installment_plan", "plan_id": plan_id, "account_no": account,
               "granted_on": "2026-03-01", "installments": [
                   {"due_on": "2026-03-15", "amount": "1000.00"},
                   {"due_on": "2026-04-15", "amount": "1000.00"},
                   {"due_on": "2026-05-15", "amount": "1075.00"}]})
    };
    u.run(vec![plan("PL-K1", "K1"), plan("PL-K2", "K2")]);
    u.nightly("2026-03-01");
    for account in ["K1", "K2"] {
        let row = u.row(account);
        assert_eq!(row.stage.as_str(), "disconnection_due", "{account}");
        assert_eq!(row.hold, "installment_plan", "{account}");
    }
    assert!(u.worklist(WorklistKind::Disconnection).is_empty());

    // K1 pays its first instalment the day before it falls due; K2 pays nothing.
    u.run(vec![payment("PK1", "K1", "1000.00", "2026-03-14")]);
    // 03-29 − 15 days = 03-14: nothing was due yet.
    u.nightly("2026-03-29");
    assert_eq!(u.row("K2").hold, "installment_plan");
    // 03-30 − 15 days = 03-15: the first instalment counts.
    let summary = u.nightly("2026-03-30");
    assert_eq!(summary.plans_broken, 1);
    let broken: Vec<_> = u
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::InstallmentPlanBroken(b) => Some((b.plan_id, b.account_no, b.on)),
            _ => None,
        })
        .collect();
    assert_eq!(
        broken,
        vec![("PL-K2".to_string(), "K2".to_string(), day("2026-03-30"))]
    );

    let k1 = u.row("K1");
    assert_eq!(k1.hold, "installment_plan");
    assert_eq!(k1.stage.as_str(), "disconnection_due");
    // 3000.00 + 37.50 + 37.50 (03-10, before the payment) − 1000.00.
    assert_eq!(k1.overdue_arrears.to_string(), "2075.00");
    let k2 = u.row("K2");
    assert_eq!(k2.hold, "");
    assert_eq!(k2.overdue_arrears.to_string(), "3075.00");
    assert_eq!(u.worklist(WorklistKind::Disconnection), vec!["K2"]);
}

/// Proves the essential-service hold: a government consumer due for disconnection goes on the
/// `hq_escalation` worklist instead of `disconnection`.
#[test]
fn a_government_consumer_goes_to_hq_escalation() {
    let mut u = Utility::new();
    // Above the government threshold of 10000.00.
    to_disconnection_due(&mut u, &[("GV1", "government", "12000.00")]);
    let row = u.row("GV1");
    assert_eq!(row.hold, "essential_service");
    // 12000.00 + 150.00 (02-10).
    assert_eq!(row.overdue_arrears.to_string(), "12150.00");
    assert_eq!(u.worklist(WorklistKind::HqEscalation), vec!["GV1"]);
    assert!(u.worklist(WorklistKind::Disconnection).is_empty());
}

/// Proves the moratorium: during a policy's moratorium range (both days included) nobody is
/// put on the disconnection worklist; the stage still says disconnection is due, and the
/// consumer is back on the worklist the day after the range ends.
#[test]
fn a_moratorium_keeps_everyone_off_the_disconnection_worklist() {
    let policy = Policy::from_toml("[moratorium]\nranges = [[\"2026-10-01\", \"2026-10-31\"]]\n")
        .expect("a valid policy");
    let mut u = Utility::with_policy(policy);
    u.run(vec![
        consumer("MO1", "domestic"),
        bill("B1", "MO1", "2026-08-01", "2026-08-10", "3000.00"),
    ]);
    u.nightly("2026-09-10");
    u.run(vec![serve("N-MO1-001", "2026-09-11")]);
    u.nightly("2026-09-30");
    assert_eq!(u.row("MO1").stage.as_str(), "disconnection_due");
    assert_eq!(u.worklist(WorklistKind::Disconnection), vec!["MO1"]);

    for date in ["2026-10-01", "2026-10-31"] {
        u.nightly(date);
        let row = u.row("MO1");
        assert_eq!(row.stage.as_str(), "disconnection_due", "{date}");
        assert_eq!(row.hold, "moratorium", "{date}");
        assert!(u.worklist(WorklistKind::Disconnection).is_empty(), "{date}");
    }
    u.nightly("2026-11-01");
    assert_eq!(u.row("MO1").hold, "");
    assert_eq!(u.worklist(WorklistKind::Disconnection), vec!["MO1"]);
}

/// Proves that the ledger keeps the allocation order of §4 in the statement: surcharges
/// before other charges of the same due date, so a part payment covers the older bill and
/// the surcharge before the bill that fell due on the surcharge's day.
#[test]
fn surcharges_come_before_bills_of_the_same_due_date() {
    let mut u = Utility::new();
    u.run(vec![
        consumer("O1", "domestic"),
        bill("B1", "O1", "2026-07-05", "2026-07-20", "1200.00"),
        bill("B2", "O1", "2026-08-05", "2026-08-20", "1500.00"),
    ]);
    u.nightly("2026-08-20");
    u.run(vec![payment("P1", "O1", "1210.00", "2026-08-21")]);
    let ledger_consumer = u.consumer("O1");
    let ledger = ledger(&ledger_consumer, "2026-08-21");
    let order: Vec<(String, String)> = ledger
        .charges
        .iter()
        .map(|c| {
            let name = match &c.kind {
                ChargeKind::Bill { bill_no, .. } => bill_no.to_string(),
                ChargeKind::Surcharge {
                    bill_no,
                    anniversary,
                } => format!("{bill_no}#{anniversary}"),
                ChargeKind::Adjustment { adjustment_no } => adjustment_no.to_string(),
            };
            (name, c.unpaid.to_string())
        })
        .collect();
    // 1.25% of 1200.00 = 15.00; 1210.00 covers B1 and 10.00 of the surcharge.
    assert_eq!(
        order,
        vec![
            ("B1".to_string(), "0.00".to_string()),
            ("B1#1".to_string(), "5.00".to_string()),
            ("B2".to_string(), "1500.00".to_string()),
        ]
    );
}

/// Proves that the defaulter list of an office covers every consumer below it and only them,
/// keeps those at or above the minimum, sorts by overdue arrears descending then account, and
/// names each consumer's division and circle.
#[test]
fn the_defaulter_list_is_scoped_by_office_and_sorted() {
    let mut u = Utility::new();
    u.run(vec![
        json!({"type": "register_office", "code": "SD2", "name": "Doiwala", "level": "subdivision", "parent": "DV1"}),
        json!({"type": "register_office", "code": "DV2", "name": "Rishikesh", "level": "division", "parent": "C1"}),
        json!({"type": "register_office", "code": "SD3", "name": "Muni Ki Reti", "level": "subdivision", "parent": "DV2"}),
    ]);
    let mut commands = Vec::new();
    for (account, subdivision, amount) in [
        ("S4", "SD1", "300.00"),
        ("S3", "SD3", "800.00"),
        ("S2", "SD2", "1500.00"),
        ("S1", "SD1", "800.00"),
    ] {
        commands.push(
            json!({"type": "register_consumer", "account_no": account, "name": account,
                             "category": "domestic", "subdivision": subdivision, "load_kw": "1",
                             "connected_on": "2025-04-01"}),
        );
        commands.push(bill(
            &format!("B{account}"),
            account,
            "2026-01-01",
            "2026-01-10",
            amount,
        ));
    }
    u.run(commands);
    u.nightly("2026-01-20");
    let list = |office: &str, min: Option<i64>| -> Vec<String> {
        let filter = DefaulterFilter {
            min_arrears: min.map(Money::from_paise),
            ..DefaulterFilter::default()
        };
        lists::defaulters(
            u.engine.world(),
            u.engine.policy(),
            office,
            u.as_of(),
            &filter,
        )
        .expect("a list")
        .into_iter()
        .map(|r| r.account_no)
        .collect()
    };
    assert_eq!(list("Z1", None), vec!["S2", "S1", "S3"]);
    assert_eq!(list("Z1", Some(1)), vec!["S2", "S1", "S3", "S4"]);
    assert_eq!(list("DV1", None), vec!["S2", "S1"]);
    assert_eq!(list("SD1", None), vec!["S1"]);
    assert_eq!(list("DV2", None), vec!["S3"]);
    assert!(lists::defaulters(
        u.engine.world(),
        u.engine.policy(),
        "NOPE",
        u.as_of(),
        &DefaulterFilter::default()
    )
    .is_err());
    let row = u.row("S3");
    assert_eq!(
        (
            row.subdivision.as_str(),
            row.division.as_str(),
            row.circle.as_str()
        ),
        ("SD3", "DV2", "C1")
    );
}

/// Proves the far end of the ladder: permanent disconnection only after 180 days
/// disconnected (`pd_due` on the day, not before), then `rc_due` when the arrears reach
/// 10000.00 and `permanently_disconnected` when they do not, and `rc_issued` once a recovery
/// certificate is recorded. Permanently disconnected consumers leave the `no_mobile` worklist.
#[test]
fn permanent_disconnection_and_recovery_certificate() {
    let mut u = Utility::new();
    to_disconnection_due(
        &mut u,
        &[
            ("F1", "domestic", "12000.00"),
            ("F2", "domestic", "3000.00"),
        ],
    );
    u.run(vec![
        disconnect("F1", "2026-03-01", "DO-F1"),
        disconnect("F2", "2026-03-01", "DO-F2"),
    ]);
    // 2026-08-27 is 179 days after 2026-03-01.
    u.nightly("2026-08-27");
    assert_eq!(u.row("F1").stage.as_str(), "disconnected");
    let errors = u.refused(vec![
        json!({"type": "permanently_disconnect", "account_no": "F1", "on": "2026-08-27"}),
    ]);
    assert_eq!(fields(&errors), vec!["on"]);

    u.nightly("2026-08-28");
    assert_eq!(u.row("F1").stage.as_str(), "pd_due");
    assert_eq!(
        u.worklist(WorklistKind::PermanentDisconnection),
        vec!["F1", "F2"]
    );
    u.run(vec![
        json!({"type": "permanently_disconnect", "account_no": "F1", "on": "2026-08-28"}),
        json!({"type": "permanently_disconnect", "account_no": "F2", "on": "2026-08-28"}),
    ]);
    // Seven anniversaries, 02-10 to 08-10: 7 × 150.00 and 7 × 37.50.
    let f1 = u.row("F1");
    assert_eq!(f1.overdue_arrears.to_string(), "13050.00");
    assert_eq!(f1.stage.as_str(), "rc_due");
    let f2 = u.row("F2");
    assert_eq!(f2.overdue_arrears.to_string(), "3262.50");
    assert_eq!(f2.stage.as_str(), "permanently_disconnected");
    assert_eq!(u.worklist(WorklistKind::RecoveryCertificate), vec!["F1"]);

    u.run(vec![
        json!({"type": "issue_recovery_certificate", "account_no": "F1", "rc_no": "RC-2026-1", "on": "2026-08-29"}),
    ]);
    u.nightly("2026-08-29");
    assert_eq!(u.row("F1").stage.as_str(), "rc_issued");
    assert!(u.worklist(WorklistKind::RecoveryCertificate).is_empty());
    assert!(u.worklist(WorklistKind::NoMobile).is_empty());
}

/// A consumer's ledger as of a date.
fn ledger<'a>(consumer: &'a Consumer, date: &str) -> LedgerView<'a> {
    ledger_as_of(consumer, day(date), Charges::All, &[])
}

// ---------------------------------------------------------------------------------------------
// Rule 7a: a notice claims a sum; once that sum is paid the notice is spent.
// ---------------------------------------------------------------------------------------------

/// The case closings in the log: (notice, date, reason, lapsed).
fn closings(u: &Utility) -> Vec<(String, NaiveDate, String, bool)> {
    u.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::CaseClosed(c) => {
                Some((c.notice_no, c.closed_on, c.reason.to_string(), c.lapsed))
            }
            _ => None,
        })
        .collect()
}

/// Notices issued: (notice, date, overdue arrears claimed).
fn notices(u: &Utility) -> Vec<(String, NaiveDate, String)> {
    u.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::NoticeIssued(n) => {
                Some((n.notice_no, n.issued_on, n.overdue_arrears.to_string()))
            }
            _ => None,
        })
        .collect()
}

/// A domestic consumer with B1 (₹1,500.00 due 2026-01-15) overdue 30 days on 2026-02-14, when
/// notice N-A-001 claims it; B2 (₹1,200.00 due 2026-02-15) comes after the notice.
fn noticed_consumer() -> Utility {
    let mut u = Utility::new();
    u.run(vec![
        consumer("A", "domestic"),
        bill("B1", "A", "2026-01-01", "2026-01-15", "1500.00"),
        bill("B2", "A", "2026-02-01", "2026-02-15", "1200.00"),
    ]);
    u.nightly("2026-02-14");
    assert_eq!(
        notices(&u),
        vec![(
            "N-A-001".to_string(),
            day("2026-02-14"),
            "1500.00".to_string()
        )]
    );
    u.run(vec![serve("N-A-001", "2026-02-16")]);
    u
}

/// Paying the claimed ₹1,500.00 on 2026-03-05 spends the notice although newer charges are
/// overdue (B2 ₹1,200.00 and B1's first surcharge ₹18.75 = ₹1,218.75, only 18 days overdue):
/// without rule 7a the served notice would have made the consumer due for disconnection
/// (clear days ended 2026-03-03). The newer arrears open a new case once they meet the criteria.
#[test]
fn a_paid_notice_is_spent_and_newer_arrears_need_a_new_notice() {
    let mut u = noticed_consumer();
    u.run(vec![payment("P1", "A", "1500.00", "2026-03-05")]);
    u.nightly("2026-03-05");
    assert_eq!(
        closings(&u),
        vec![(
            "N-A-001".to_string(),
            day("2026-03-05"),
            "notice_paid".to_string(),
            false
        )]
    );
    let row = u.row("A");
    assert_eq!(row.stage.to_string(), "clear");
    assert_eq!(row.overdue_arrears.to_string(), "1218.75");
    assert!(u.worklist(WorklistKind::Disconnection).is_empty());

    // 2026-03-17: B2 is 30 days overdue; B2's first surcharge (1.25% of 1,200.00 = 15.00) fell
    // due on 2026-03-15; B1 was paid before its second anniversary, so no levy for it.
    u.nightly("2026-03-17");
    assert_eq!(
        notices(&u)[1..],
        [(
            "N-A-002".to_string(),
            day("2026-03-17"),
            "1233.75".to_string()
        )]
    );
    assert_eq!(u.row("A").stage.to_string(), "notice_issued");
    assert_eq!(u.worklist(WorklistKind::ServeNotice), vec!["A".to_string()]);
}

/// When the newer arrears already meet the criteria on the day the claim is paid, the same run
/// closes the old case and issues the new notice; rerunning the day appends nothing.
#[test]
fn a_paid_notice_and_a_new_one_in_the_same_run() {
    let mut u = noticed_consumer();
    u.run(vec![payment("P1", "A", "1500.00", "2026-03-20")]);
    let summary = u.nightly("2026-03-20");
    assert!(summary.appended > 0);
    assert_eq!(
        closings(&u),
        vec![(
            "N-A-001".to_string(),
            day("2026-03-20"),
            "notice_paid".to_string(),
            false
        )]
    );
    // Overdue on 2026-03-20: S(B1,1) 18.75 + B2 1200.00 + S(B1,2) 18.75 + S(B2,1) 15.00.
    assert_eq!(
        notices(&u)[1..],
        [(
            "N-A-002".to_string(),
            day("2026-03-20"),
            "1252.50".to_string()
        )]
    );
    assert_eq!(u.row("A").stage.to_string(), "notice_issued");
    assert!(u.worklist(WorklistKind::Disconnection).is_empty());
    let before = u.last_position();
    u.nightly("2026-03-20");
    assert_eq!(
        u.last_position(),
        before,
        "a rerun of the same day appends nothing"
    );
}

/// A claim paid only in part leaves the served notice standing: the consumer is due for
/// disconnection on the notice as before.
#[test]
fn a_claim_paid_in_part_keeps_the_notice() {
    let mut u = noticed_consumer();
    u.run(vec![payment("P1", "A", "1499.99", "2026-03-05")]);
    u.nightly("2026-03-05");
    assert!(closings(&u).is_empty());
    assert_eq!(u.row("A").stage.to_string(), "disconnection_due");
    assert_eq!(
        u.worklist(WorklistKind::Disconnection),
        vec!["A".to_string()]
    );
}

/// A disconnection rests on a notice whose claimed sum is unpaid: once the claim is paid, a
/// `disconnect` is refused even before a nightly run has closed the case, and nothing is written.
#[test]
fn a_disconnection_on_a_paid_notice_is_refused() {
    let mut u = noticed_consumer();
    u.run(vec![payment("P1", "A", "1500.00", "2026-03-05")]);
    let errors = u.refused(vec![disconnect("A", "2026-03-05", "DO-1")]);
    assert_eq!(fields(&errors), ["account_no"]);
    assert!(
        errors[0].reason.contains("N-A-001") && errors[0].reason.contains("paid"),
        "{errors:?}"
    );
    // One paisa short of the claim, the served notice still stands.
    let mut u = noticed_consumer();
    u.run(vec![payment("P1", "A", "1499.99", "2026-03-05")]);
    u.run(vec![disconnect("A", "2026-03-05", "DO-1")]);
}

/// Proves that a batch checks each record against the consumer as the batch's earlier records
/// leave it, also for a consumer the batch registers: a second revision is checked against
/// the first, a second reversal of one payment is refused, and nothing of a refused batch is
/// written.
#[test]
fn a_batch_checks_each_record_against_its_earlier_records() {
    let mut u = Utility::new();
    let reverse = |receipt: &str, on: &str| {
        json!({"type": "reverse_payment", "receipt_no": receipt, "reversed_on": on,
               "reason": "cheque bounced"})
    };
    let refused = u.try_run(vec![
        consumer("AB1", "domestic"),
        bill("BAB1", "AB1", "2026-01-01", "2026-01-20", "2000.00"),
        revise("BAB1", "2026-01-05", "1500.00"),
        revise("BAB1", "2026-01-06", "1800.00"),
    ]);
    let Err(EngineError::Rejected(errors)) = refused else {
        panic!("a revision above the bill's revised amount is refused: {refused:?}");
    };
    assert_eq!(fields(&errors), ["new_amount"]);
    assert_eq!(errors[0].location, "#4");
    assert!(errors[0].reason.contains("1500.00"), "{}", errors[0].reason);
    assert!(
        u.engine.world().consumer("AB1").is_none(),
        "nothing written"
    );

    let report = u.run(vec![
        consumer("AB1", "domestic"),
        bill("BAB1", "AB1", "2026-01-01", "2026-01-20", "2000.00"),
        revise("BAB1", "2026-01-05", "1500.00"),
        revise("BAB1", "2026-01-06", "1200.00"),
        payment("RAB1", "AB1", "500.00", "2026-01-10"),
        reverse("RAB1", "2026-01-12"),
    ]);
    assert_eq!(report.appended, 6);
    let refused = u.try_run(vec![
        payment("RAB2", "AB1", "300.00", "2026-01-15"),
        reverse("RAB2", "2026-01-16"),
        reverse("RAB2", "2026-01-17"),
    ]);
    let Err(EngineError::Rejected(errors)) = refused else {
        panic!("a second reversal of one payment is refused: {refused:?}");
    };
    assert_eq!(fields(&errors), ["receipt_no"]);
    assert_eq!(errors[0].location, "#3");
    let c = u.consumer("AB1");
    assert_eq!(c.bills[0].current_amount().to_string(), "1200.00");
    assert_eq!(c.payments.len(), 1, "the refused batch wrote nothing");
    assert!(c.payments[0].reversed_on.is_some());
}
