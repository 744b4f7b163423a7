//! Rankings and awards do not depend on the nightly run's schedule (docs/RULES.md).
//!
//! The same generated commands go into three data directories. In the first the nightly run
//! runs every day, in the second every seventh day, and in the third never; in the first two,
//! each day's commands are appended before that day's run, as they would be in production.
//! The nightly run adds surcharges, notices, SMS and the like to the log, and that is the
//! point: none of it may move a ranking or an award. So for every month, the financial
//! quarter and the financial year, at circle, division and subdivision level, the rankings
//! and awards written out must be the same in all three directories. A snapshot taken when a
//! month has just been loaded must also match the final figures for that month, because the
//! figures depend only on events dated on or before the period's last day.

use chrono::{Datelike, Days, NaiveDate};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;
use tempfile::TempDir;
use vasooli_demo::{Generator, GeneratorConfig};
use vasooli_domain::codec::decode_event;
use vasooli_domain::event::Event;
use vasooli_domain::period::Period;
use vasooli_domain::types::Level;
use vasooli_domain::{Command, Policy};
use vasooli_engine::{Engine, Input};
use vasooli_projections::reports;

/// Enough consumers to spread over every subdivision with varied payers, few enough that a
/// nightly run for every day of the months stays quick in a debug build.
const CONSUMERS: usize = 1_500;
/// Four months from April: a full financial quarter plus a month of the next one.
const MONTHS: u32 = 4;
const SEED: u64 = 20_250_401;
/// Commands per delivery from the generator.
const BATCH_COMMANDS: usize = 10_000;
/// Days between nightly runs in the weekly schedule.
const WEEKLY_INTERVAL_DAYS: u64 = 7;

const LEVELS: [Level; 3] = [Level::Circle, Level::Division, Level::Subdivision];

/// How often the nightly run runs while the commands are loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Schedule {
    Daily,
    Weekly,
    Never,
}

impl Schedule {
    /// Whether the run for `date` happens, counting days from the first day of the months.
    fn runs_on(self, first_day: NaiveDate, date: NaiveDate) -> bool {
        let day_index = (date - first_day).num_days() as u64;
        match self {
            Schedule::Daily => true,
            Schedule::Weekly => day_index % WEEKLY_INTERVAL_DAYS == WEEKLY_INTERVAL_DAYS - 1,
            Schedule::Never => false,
        }
    }
}

/// Every report compared, keyed by a description (`rankings 2025-04 circle`), as the rows
/// `to_record` writes out.
type Reports = BTreeMap<String, Vec<Vec<(&'static str, Option<String>)>>>;

/// The generated commands: the opening (offices and consumers), then each month's commands
/// with that month's first and last day.
struct Workload {
    opening: Vec<Command>,
    months: Vec<(NaiveDate, NaiveDate, Vec<Command>)>,
}

fn generate() -> Workload {
    let config = GeneratorConfig {
        consumers: CONSUMERS,
        months: MONTHS,
        seed: SEED,
        start: NaiveDate::from_ymd_opt(2025, 4, 1).expect("a valid date"),
    };
    let generator = Generator::new(config);
    let mut opening = Vec::new();
    let mut by_month: BTreeMap<NaiveDate, Vec<Command>> = BTreeMap::new();
    generator
        .for_each_month(BATCH_COMMANDS, &mut |batch| {
            match batch.month_end {
                None => opening.extend(batch.commands),
                Some(end) => by_month.entry(end).or_default().extend(batch.commands),
            }
            Ok(())
        })
        .expect("the generator delivers every month");
    let months = by_month
        .into_iter()
        .map(|(last, commands)| {
            let first = last.with_day(1).expect("every month has a 1st");
            (first, last, commands)
        })
        .collect();
    Workload { opening, months }
}

/// The business date of a command the generator makes. A camp is scheduled when it is
/// announced, a week before it is held, which is also the day that decides the month the
/// generator delivers it in.
fn business_date(command: &Command) -> NaiveDate {
    match command {
        Command::RegisterConsumer { connected_on, .. } => *connected_on,
        Command::RegisterMobile { registered_on, .. } => *registered_on,
        Command::IssueBill { issued_on, .. } => *issued_on,
        Command::ReceivePayment { paid_on, .. } => *paid_on,
        Command::ScheduleCamp { on, .. } => *on - Days::new(7),
        Command::HoldCamp { held_on, .. } => *held_on,
        Command::RegisterGrievance { registered_on, .. } => *registered_on,
        Command::ResolveGrievance { resolved_on, .. } => *resolved_on,
        other => panic!("the generator makes no {}", other.type_name()),
    }
}

fn execute(engine: &mut Engine, commands: Vec<Command>) {
    if commands.is_empty() {
        return;
    }
    engine
        .execute(Input::all_at("generated", commands))
        .expect("the engine accepts generated commands");
}

/// The periods compared: every generated month, the month before them (the previous period
/// of the first month's awards), the complete quarter, the partly covered next one, and the
/// financial year.
fn periods() -> Vec<Period> {
    let mut out: Vec<Period> = ["2025-03", "2025-04", "2025-05", "2025-06", "2025-07"]
        .iter()
        .map(|text| text.parse().expect("a month"))
        .collect();
    out.extend(
        ["FY2025-26-Q1", "FY2025-26-Q2", "FY2025-26"]
            .iter()
            .map(|text| text.parse::<Period>().expect("a financial period")),
    );
    out
}

fn rankings_of(engine: &Engine, period: Period, level: Level, out: &mut Reports) {
    let rows = reports::rankings(engine.world(), engine.policy(), period, level)
        .iter()
        .map(|row| row.to_record())
        .collect();
    out.insert(format!("rankings {period} {}", level.as_str()), rows);
}

fn awards_of(engine: &Engine, period: Period, out: &mut Reports) {
    let rows = reports::awards(engine.world(), engine.policy(), period)
        .iter()
        .map(|row| row.to_record())
        .collect();
    out.insert(format!("awards {period}"), rows);
}

fn all_reports(engine: &Engine) -> Reports {
    let mut out = Reports::new();
    for period in periods() {
        for level in LEVELS {
            rankings_of(engine, period, level, &mut out);
        }
        awards_of(engine, period, &mut out);
    }
    out
}

/// What one schedule produced: the final reports, the reports of each month taken as soon
/// as that month was loaded, and how many nightly runs ran.
struct Outcome {
    reports: Reports,
    snapshots: Reports,
    nightly_runs: usize,
    events: u64,
    /// Surcharges the nightly runs levied: the money they add to the log.
    surcharges: usize,
}

/// Loads the workload day by day under `schedule`, then reopens the data directory (so the
/// figures also come through the checkpoint and replay) and computes every report.
fn load(workload: &Workload, schedule: Schedule, dir: &Path) -> Outcome {
    let mut engine = Engine::open(dir, Policy::default()).expect("a new data directory opens");
    execute(&mut engine, workload.opening.clone());
    let first_day = workload.months[0].0;
    let mut nightly_runs = 0;
    let mut snapshots = Reports::new();
    for (first, last, commands) in &workload.months {
        // A stable sort keeps the generator's order, which puts each command after what it
        // depends on, among the commands of one day.
        let mut by_day: BTreeMap<NaiveDate, Vec<Command>> = BTreeMap::new();
        for command in commands {
            let date = business_date(command);
            assert!(
                (*first..=*last).contains(&date),
                "a {} dated {date} arrived with the month ending {last}",
                command.type_name()
            );
            by_day.entry(date).or_default().push(command.clone());
        }
        for date in first.iter_days().take_while(|d| d <= last) {
            execute(&mut engine, by_day.remove(&date).unwrap_or_default());
            if schedule.runs_on(first_day, date) {
                engine.nightly(date).expect("the nightly run succeeds");
                nightly_runs += 1;
            }
        }
        let month = Period::month_of(*last);
        for level in LEVELS {
            rankings_of(&engine, month, level, &mut snapshots);
        }
        awards_of(&engine, month, &mut snapshots);
    }
    let events = engine.store().last_position();
    let surcharges = engine
        .store()
        .read_all(1)
        .map(|recorded| {
            let recorded = recorded.expect("the log reads back");
            decode_event(&recorded.payload).expect("every event decodes")
        })
        .filter(|event| matches!(event, Event::SurchargeLevied(_)))
        .count();
    drop(engine);
    let engine = Engine::open(dir, Policy::default()).expect("the data directory reopens");
    assert_eq!(
        engine.world().position,
        events,
        "the reopened world is up to date"
    );
    Outcome {
        reports: all_reports(&engine),
        snapshots,
        nightly_runs,
        events,
        surcharges,
    }
}

/// Compares two sets of reports report by report, so that a failure names the first one
/// that differs rather than printing every row of both.
fn assert_same(expected: &Reports, actual: &Reports, what: &str) {
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        actual.keys().collect::<Vec<_>>(),
        "{what}: the same reports"
    );
    for (name, rows) in expected {
        assert_eq!(rows, &actual[name], "{what}: {name}");
    }
}

fn value<'a>(row: &'a [(&'static str, Option<String>)], column: &str) -> Option<&'a str> {
    row.iter()
        .find(|(name, _)| *name == column)
        .and_then(|(_, value)| value.as_deref())
}

#[test]
fn rankings_and_awards_do_not_depend_on_the_nightly_schedule() {
    let started = Instant::now();
    let workload = generate();
    let mut outcomes = Vec::new();
    for schedule in [Schedule::Daily, Schedule::Weekly, Schedule::Never] {
        let dir = TempDir::new().expect("a temporary directory");
        let outcome = load(&workload, schedule, dir.path());
        eprintln!(
            "{schedule:?}: {} nightly runs, {} events, {} surcharges, {:.1} s so far",
            outcome.nightly_runs,
            outcome.events,
            outcome.surcharges,
            started.elapsed().as_secs_f64()
        );
        outcomes.push((schedule, outcome));
    }

    let (_, daily) = &outcomes[0];
    let (_, never) = &outcomes[2];
    // The schedules really differ: the nightly run added events in the first two.
    assert_eq!(
        daily.nightly_runs, 122,
        "one run for every day of April to July"
    );
    assert_eq!(outcomes[1].1.nightly_runs, 17, "one run every seventh day");
    assert_eq!(never.nightly_runs, 0);
    assert!(daily.events > outcomes[1].1.events && outcomes[1].1.events > never.events);
    assert!(daily.surcharges > 0 && outcomes[1].1.surcharges > 0);
    assert_eq!(never.surcharges, 0);

    for (schedule, outcome) in &outcomes[1..] {
        assert_same(&daily.reports, &outcome.reports, &format!("{schedule:?}"));
    }
    for (schedule, outcome) in &outcomes {
        // A month's figures as soon as it was loaded equal those with later months in the log.
        for (name, rows) in &outcome.snapshots {
            assert_eq!(rows, &daily.reports[name], "{schedule:?}: {name} as loaded");
        }
    }

    // The comparison means something only if offices were ranked with differing scores.
    for level in LEVELS {
        for month in ["2025-04", "2025-05", "2025-06", "2025-07"] {
            let rows = &daily.reports[&format!("rankings {month} {}", level.as_str())];
            assert!(rows.len() >= 3, "{month} {level:?}: offices are ranked");
            let scores: std::collections::BTreeSet<&str> =
                rows.iter().filter_map(|row| value(row, "score")).collect();
            assert!(scores.len() > 1, "{month} {level:?}: scores differ");
        }
    }
    assert!(
        daily.reports["rankings 2025-03 circle"].is_empty(),
        "nothing was billed before April"
    );
    // Opening arrears are zero until bills fall overdue, so arrears reduction first counts in
    // a later month; grievances count once one is resolved or out of time.
    let july = &daily.reports["rankings 2025-07 subdivision"];
    for column in [
        "arrears_reduction_pct",
        "grievance_resolution_pct",
        "digital_share_pct",
    ] {
        assert!(
            july.iter().any(|row| value(row, column).is_some()),
            "July's rankings use {column}"
        );
    }
    let awards = &daily.reports["awards 2025-07"];
    assert!(
        awards
            .iter()
            .any(|row| value(row, "award") == Some("most_improved")),
        "July's awards compare with June"
    );
    eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
}
