//! A generated utility taken month by month through the engine: each month's commands are
//! executed, the nightly run is run for the month's last day, and officers act on the lists
//! (serve most notices, carry out many due disconnections, reconnect the paid-up), ending
//! with a run a few days after the last month.

use crate::generate::{Generator, GeneratorConfig};
use chrono::{Days, NaiveDate};
use vasooli_domain::codec::content_hash;
use vasooli_domain::types::{NoticeMode, Stage};
use vasooli_domain::Command;
use vasooli_engine::nightly::NightlySummary;
use vasooli_engine::{Engine, EngineError, Input};
use vasooli_projections::lists;

/// Commands per batch handed to the engine.
const DEMO_BATCH_COMMANDS: usize = 500_000;
/// Days after the last month's end of the demo's final nightly run.
const FINAL_RUN_DAYS_AFTER: u64 = 5;

/// What went wrong in a demo run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// What a demo run did.
#[derive(Debug)]
pub struct DemoReport {
    /// The last month's end.
    pub last_month_end: NaiveDate,
    /// The final nightly run's date, and what it found.
    pub final_date: NaiveDate,
    pub final_run: NightlySummary,
    /// Officers' actions recorded over the run.
    pub officers_actions: usize,
}

/// A deterministic share of consumers, by account.
fn chosen(account: &str, salt: &str, percent: u64) -> bool {
    content_hash(format!("{salt}{account}").as_bytes()) % 100 < percent
}

/// The action an officer takes on a consumer's row, if any.
fn officer_action(row: &lists::ConsumerRow, account: &str, date: NaiveDate) -> Option<Command> {
    match row.stage {
        Stage::NoticeIssued if chosen(account, "serve", 85) => {
            let mode = if chosen(account, "mode", 70) {
                NoticeMode::Hand
            } else {
                NoticeMode::Affixed
            };
            Some(Command::ServeNotice {
                notice_no: row.notice_no.clone().unwrap_or_default(),
                served_on: date,
                mode,
            })
        }
        Stage::DisconnectionDue if row.worklist.is_some() && chosen(account, "disconnect", 60) => {
            Some(Command::Disconnect {
                account_no: account.to_string(),
                on: date,
                order_no: format!("DO-{account}-{}", date.format("%Y%m%d")),
            })
        }
        Stage::ReconnectionDue => Some(Command::Reconnect {
            account_no: account.to_string(),
            on: date,
        }),
        Stage::PdDue if chosen(account, "pd", 50) => Some(Command::PermanentlyDisconnect {
            account_no: account.to_string(),
            on: date,
        }),
        _ => None,
    }
}

/// Officers act on the lists after a run; returns how many actions they recorded.
fn officers_act(engine: &mut Engine, date: NaiveDate) -> Result<usize, EngineError> {
    let world = engine.world();
    let policy = engine.policy();
    let commands: Vec<Command> = world
        .consumers
        .iter()
        .filter_map(|stored| {
            let consumer = &stored.consumer();
            let row = lists::consumer_row(world, consumer, date, policy);
            officer_action(&row, &consumer.account_no, date)
        })
        .collect();
    let count = commands.len();
    engine.execute(Input::all_at("demo officers", commands))?;
    Ok(count)
}

/// Runs the demo into `engine` (a new, empty data directory), calling `month_done` after
/// each month. Checkpoints are deferred during the run and one is saved at its end.
pub fn run_demo(
    engine: &mut Engine,
    config: GeneratorConfig,
    month_done: &mut dyn FnMut(),
) -> Result<DemoReport, DemoError> {
    config.validate().map_err(DemoError::Config)?;
    let generator = Generator::new(config);
    let month_ends = generator.month_ends();
    engine.defer_checkpoints(true);
    let mut month_index = 0usize;
    let mut officers_actions = 0usize;
    let mut failure: Option<EngineError> = None;
    let generated = generator.for_each_month(DEMO_BATCH_COMMANDS, &mut |batch| {
        let step = (|| -> Result<(), EngineError> {
            engine.execute_with_progress(Input::all_at("demo", batch.commands), &mut |_, _| {})?;
            if batch.last_of_month {
                if batch.month_end.is_some() && month_index > 0 {
                    let date = month_ends[month_index - 1];
                    engine.nightly(date)?;
                    officers_actions += officers_act(engine, date)?;
                }
                month_index += 1;
                month_done();
            }
            Ok(())
        })();
        step.map_err(|e| {
            failure = Some(e);
            "the engine refused the demo's work".to_string()
        })
    });
    if let Some(e) = failure {
        return Err(e.into());
    }
    generated.map_err(DemoError::Config)?;
    let last_month_end = month_ends.last().copied().unwrap_or(generator.end_date());
    let final_date = last_month_end + Days::new(FINAL_RUN_DAYS_AFTER);
    let final_run = engine.nightly(final_date)?;
    engine.save_checkpoint()?;
    Ok(DemoReport {
        last_month_end,
        final_date,
        final_run,
        officers_actions,
    })
}
