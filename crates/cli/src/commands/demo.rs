//! `vasooli demo`: a generated utility taken month by month through imports, nightly runs and
//! officers' actions (`vasooli-demo`), then the lists an officer and headquarters would look
//! at first.

use super::{engine_failure, usage, Outcome};
use crate::{Cli, Failure};
use chrono::{Datelike, Months, NaiveDate};
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Instant;
use vasooli_demo::guard::{self, GuardError};
use vasooli_demo::{run_demo, DemoError, DemoReport, GeneratorConfig};
use vasooli_domain::state::World;
use vasooli_domain::types::Level;
use vasooli_domain::Policy;
use vasooli_engine::log::LogDigest;
use vasooli_engine::Engine;
use vasooli_projections::lists;
use vasooli_render::{write_records, Format, Record};

/// The columns of the top defaulters the demo prints.
const DEFAULTER_COLUMNS: [&str; 9] = [
    "account_no",
    "name",
    "subdivision",
    "overdue_arrears",
    "days_overdue",
    "aging_bucket",
    "stage",
    "notice_no",
    "hold",
];

pub fn run(cli: &Cli, consumers: usize, months: u32, seed: u64) -> Outcome {
    let started = Instant::now();
    let config = config(consumers, months, seed)?;
    // Held from the check of the directory to the end of the run: no other process opens
    // the directory meanwhile.
    let lock = guard::prepare(&cli.data).map_err(guard_failure)?;
    let policy = super::load_policy(cli)?;
    let mut engine = Engine::open_locked(&lock, policy).map_err(engine_failure)?;
    let report = generate(cli, &mut engine, config, months)?;
    outln!(
        "vasooli demo: {} consumers, {} months, seed {}",
        consumers,
        months,
        seed
    );
    outln!(
        "{} offices, {} events in the log, {} officers' actions, {:.1} s",
        engine.world().offices.len(),
        engine.store().last_position(),
        report.officers_actions,
        started.elapsed().as_secs_f64()
    );
    let final_date = report.final_date;
    outln!("\nstages as of {final_date}:");
    for (stage, count) in &report.final_run.stages {
        outln!("  {stage:<26} {count}");
    }
    let (world, policy) = (engine.world(), engine.policy());
    print_top_defaulters(world, policy, final_date)?;
    print_worklists(world, policy, final_date)?;
    super::reports::print_demo_rankings(world, policy, report.last_month_end)?;
    outln!("\nnext: vasooli --data {} defaulters --office CODE | worklist --office CODE --kind serve_notice | rankings --period PERIOD --level circle", cli.data.display());
    Ok(())
}

/// The generator's configuration for the flags, its months ending before today.
fn config(consumers: usize, months: u32, seed: u64) -> Result<GeneratorConfig, Failure> {
    let clock = vasooli_engine::Clock::from_env().map_err(usage)?;
    let mut config = GeneratorConfig {
        consumers,
        months,
        seed,
        ..GeneratorConfig::default()
    };
    config.start = start_for(config.start, months, clock.today());
    config.validate().map_err(usage)?;
    Ok(config)
}

/// Runs the demo into `engine` behind a progress bar, the marker following the log.
fn generate(
    cli: &Cli,
    engine: &mut Engine,
    config: GeneratorConfig,
    months: u32,
) -> Result<DemoReport, Failure> {
    let store = engine.store().clone();
    let mut digest = LogDigest::default();
    let mut marker_failure: Option<GuardError> = None;
    let bar = ProgressBar::new(months as u64 + 1);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("generating");
    // The marker follows the log month by month, so a demo cut off part-way still leaves a
    // directory a later demo may replace.
    let report = run_demo(engine, config, &mut || {
        bar.inc(1);
        if marker_failure.is_none() {
            if let Err(e) = guard::record(&cli.data, &store, &mut digest) {
                marker_failure = Some(e);
            }
        }
    })
    .map_err(|e| match e {
        DemoError::Config(m) => usage(m),
        DemoError::Engine(e) => engine_failure(e),
    })?;
    if let Some(failure) = marker_failure {
        return Err(guard_failure(failure));
    }
    guard::record(&cli.data, &store, &mut digest).map_err(guard_failure)?;
    bar.finish_and_clear();
    Ok(report)
}

/// The guard's refusals are usage errors (exit 2); its failures are the machine's (exit 1).
fn guard_failure(e: GuardError) -> Failure {
    match e {
        e if e.is_usage() => usage(e.to_string()),
        GuardError::Store(e) => Failure::Runtime(e.into()),
        GuardError::Digest(e) => Failure::Runtime(e.into()),
        other => Failure::Runtime(other.into()),
    }
}

/// The ten top defaulters of the first circle.
fn print_top_defaulters(world: &World, policy: &Policy, final_date: NaiveDate) -> Outcome {
    let Some(code) = world
        .offices
        .values()
        .find(|o| o.level == Level::Circle)
        .map(|o| o.code.clone())
    else {
        return Ok(());
    };
    let filter = lists::DefaulterFilter {
        limit: Some(10),
        ..Default::default()
    };
    let rows = lists::defaulters(world, policy, &code, final_date, &filter).map_err(usage)?;
    let name = &world.offices[&code].name;
    outln!("\ntop defaulters of circle {code} ({name}) as of {final_date}:");
    let records: Vec<Record> = rows
        .iter()
        .map(|r| {
            let full = r.to_record();
            full.into_iter()
                .filter(|(k, _)| DEFAULTER_COLUMNS.contains(k))
                .collect()
        })
        .collect();
    write_records(
        &mut crate::out::stdout(),
        Format::Table,
        false,
        &DEFAULTER_COLUMNS,
        &records,
    )
    .map_err(|e| Failure::Runtime(e.into()))
}

/// How long each worklist of the first subdivision is.
fn print_worklists(world: &World, policy: &Policy, final_date: NaiveDate) -> Outcome {
    let Some(code) = world
        .offices
        .values()
        .find(|o| o.level == Level::Subdivision)
        .map(|o| o.code.clone())
    else {
        return Ok(());
    };
    outln!(
        "\nworklists of subdivision {code} ({}):",
        world.offices[&code].name
    );
    for kind in vasooli_domain::types::WorklistKind::ALL {
        let rows =
            lists::worklist(world, policy, &code, *kind, final_date, None, 0).map_err(usage)?;
        outln!("  {:<26} {}", kind.as_str(), rows.len());
    }
    Ok(())
}

/// The first bill month: the generator's own, unless its months would run past today (the
/// demo's dates must be within the date windows like anyone's), then the month that makes
/// the demo's last month the one before last, so its final run falls before today.
fn start_for(default_start: NaiveDate, months: u32, today: NaiveDate) -> NaiveDate {
    // The final nightly run is a few days into the month after the last one.
    let runs_until = default_start
        .with_day(1)
        .and_then(|first| first.checked_add_months(Months::new(months + 1)));
    match runs_until {
        Some(end) if end < today => default_start,
        _ => today
            .with_day(1)
            .and_then(|first| first.checked_sub_months(Months::new(months + 1)))
            .unwrap_or(default_start),
    }
}
