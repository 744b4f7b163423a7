//! Subdivision figures saved with each checkpoint, so that rankings and awards are answered
//! in a process that holds no world without reading every consumer.
//!
//! Rankings and awards come from every subdivision's figures for a period (and, for awards,
//! the period before) rolled up the office tree
//! ([`vasooli_projections::reports::rankings_from`]). Those figures are sums over consumers
//! and grievances, and a consumer's share depends on its own history alone. So every
//! checkpoint saves the consumers' share for the periods around the world's last nightly run
//! ([`saved_periods`]), and [`OfficeFigures::read`] answers from it: the saved share, plus the
//! share now of the consumers the log changed after the checkpoint, less their share at the
//! checkpoint, plus the grievances' share (the grievances are read whole). Any other period,
//! a log that registered offices after the checkpoint, or a tail that changed more than
//! [`CHANGED_CONSUMERS_MAX`] consumers is answered from the whole world instead.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};
use vasooli_domain::codec::{decode_value, encode_value};
use vasooli_domain::event::Event;
use vasooli_domain::period::Period;
use vasooli_domain::state::{Office, World};
use vasooli_domain::Policy;
use vasooli_projections::reports::{
    consumer_figures, grievance_figures, subdivision_figures_of, Totals,
};
use vasooli_store::{LogReader, SideDb};

use crate::engine::{
    catch_up_world, checkpoint_head, decode_recorded, figures_key, has_checkpoint, load_checkpoint,
    load_checkpoint_of, open_projections, sealed, unsealed, EngineError, Wanted,
};
use crate::view::{caught_up, renew_checkpoint};

/// Periods of each kind a checkpoint saves: the one holding the last nightly run and the
/// ones just before it.
const SAVED_PER_KIND: usize = 3;
/// Most consumers the log may have changed after the checkpoint for its saved figures to
/// serve; past this, the whole world is read.
pub const CHANGED_CONSUMERS_MAX: usize = 50_000;
/// What the saved figures are stored under in a checkpoint's generation. The version changes
/// whenever what they hold or how a consumer's share is computed does: a checkpoint saved by
/// a build with other figures then has none this build reads, and is replaced once.
pub(crate) const FIGURES_KEY_NAME: &[u8] = b"figures-v1";

/// What a checkpoint saves: each period (as written, `FY2025-26`) with the consumers' share
/// of each subdivision's figures.
#[derive(Default, Serialize, Deserialize)]
struct Saved {
    periods: Vec<(String, BTreeMap<String, Totals>)>,
}

impl Saved {
    /// The checkpoint's saved figures, with its log position, if it has whole ones this build
    /// reads.
    fn read(projections: &SideDb) -> Option<(u64, Saved)> {
        let table = projections.table();
        let (generation, _, position) = checkpoint_head(&table)?;
        let bytes = table.get(&figures_key(generation)).ok()??;
        let saved = decode_value::<Saved>(unsealed(&bytes)?).ok()?;
        Some((position, saved))
    }

    fn holds(&self, periods: &[Period]) -> bool {
        periods.iter().all(|period| self.share(*period).is_some())
    }

    /// The consumers' share of `period`.
    fn share(&self, period: Period) -> Option<&BTreeMap<String, Totals>> {
        let text = period.to_string();
        let (_, share) = self.periods.iter().find(|(saved, _)| *saved == text)?;
        Some(share)
    }
}

/// The periods a checkpoint of a world whose last nightly run was on `date` saves: the month,
/// the financial quarter and the financial year holding it, and the two before each (so the
/// year just closed and its awards, which compare it with the year before, are among them).
pub fn saved_periods(date: NaiveDate) -> Vec<Period> {
    [
        Period::month_of(date),
        Period::financial_quarter_of(date),
        Period::financial_year_of(date),
    ]
    .into_iter()
    .flat_map(|period| {
        std::iter::successors(Some(period), |p| Some(p.previous())).take(SAVED_PER_KIND)
    })
    .collect()
}

/// The figures a checkpoint of `world` saves, encoded and sealed: none before the first
/// nightly run.
pub(crate) fn saved(world: &World) -> Result<Vec<u8>, EngineError> {
    let periods = world.last_nightly.map(saved_periods).unwrap_or_default();
    let figures = if periods.is_empty() {
        Vec::new()
    } else {
        consumer_figures(world, &periods)
    };
    let saved = Saved {
        periods: periods.iter().map(Period::to_string).zip(figures).collect(),
    };
    encode_value(&saved)
        .map(sealed)
        .map_err(|e| EngineError::Corrupt(e.to_string()))
}

/// Every subdivision's figures for some periods, and the office tree they roll up into:
/// what rankings and awards are computed from.
pub struct OfficeFigures {
    pub offices: BTreeMap<String, Office>,
    /// For each period asked, in order, the figures of each subdivision that has any.
    pub periods: Vec<BTreeMap<String, Totals>>,
    /// Whether every consumer was read (the saved figures could not serve).
    pub whole: bool,
}

impl OfficeFigures {
    /// The figures of `periods` in a world held in memory.
    pub fn of(world: &World, policy: &Policy, periods: &[Period]) -> OfficeFigures {
        OfficeFigures {
            offices: world.offices.clone(),
            periods: subdivision_figures_of(world, policy, periods),
            whole: true,
        }
    }

    /// The figures of `periods` read from the data directory `dir`: from the checkpoint's
    /// saved figures and the consumers the log changed after it when they serve, else from
    /// the whole world. Either way they equal [`OfficeFigures::of`] the world the log holds.
    pub fn read(dir: &Path, policy: &Policy, periods: &[Period]) -> Result<Self, EngineError> {
        let log = LogReader::open(dir)?;
        let projections = open_projections(log.dir())?;
        if let Some(figures) = from_saved(&log, &projections, policy, periods)? {
            return Ok(figures);
        }
        let world = caught_up(&log, load_checkpoint(&projections))?;
        // The checkpoint is replaced, so that the next report of these periods reads saved
        // figures, when it has none this build reads (saved by an earlier build, or damaged)
        // or when it is older than the last nightly run and a checkpoint of the world now
        // would save the periods asked.
        let renewed_holds = world
            .last_nightly
            .is_some_and(|date| periods.iter().all(|p| saved_periods(date).contains(p)));
        let stale = match Saved::read(&projections) {
            None => true,
            Some((_, saved)) => !saved.holds(periods) && renewed_holds,
        };
        if stale && has_checkpoint(&projections) {
            renew_checkpoint(&projections, &world);
        }
        Ok(OfficeFigures::of(&world, policy, periods))
    }
}

/// [`OfficeFigures::read`] from the checkpoint's saved figures, or `None` when they cannot
/// serve.
fn from_saved(
    log: &LogReader,
    projections: &SideDb,
    policy: &Policy,
    periods: &[Period],
) -> Result<Option<OfficeFigures>, EngineError> {
    let Some((position, saved)) = Saved::read(projections) else {
        return Ok(None);
    };
    if position > log.last_position() || !saved.holds(periods) {
        return Ok(None);
    }
    let shares: Vec<BTreeMap<String, Totals>> = periods
        .iter()
        .filter_map(|p| saved.share(*p).cloned())
        .collect();
    // The consumers the log changed after the checkpoint (those it registered are read from
    // the log whatever is asked).
    let mut changed: FxHashSet<String> = FxHashSet::default();
    for item in log.read_all(position + 1).map(decode_recorded) {
        let (_, event) = item?;
        // An office registered (or registered again) after the checkpoint may change which
        // codes are subdivisions and what they roll up into: the whole world answers.
        if matches!(event, Event::OfficeRegistered(_)) {
            return Ok(None);
        }
        if let Some(account) = event.account_no() {
            if !changed.contains(account) {
                changed.insert(account.to_string());
            }
        }
        if changed.len() > CHANGED_CONSUMERS_MAX {
            return Ok(None);
        }
    }
    let accounts: Vec<&str> = changed.iter().map(String::as_str).collect();
    let Some(before) = load_checkpoint_of(projections, Wanted::Accounts(&accounts)) else {
        return Ok(None);
    };
    let mut after = before.clone();
    catch_up_world(log, &mut after)?;
    let (old, new) = (
        consumer_figures(&before, periods),
        consumer_figures(&after, periods),
    );
    let figures = periods
        .iter()
        .zip(shares)
        .zip(old.into_iter().zip(new))
        .map(|((period, mut share), (old, new))| {
            // Added before anything is taken away: every count stays whole.
            for (code, totals) in new
                .iter()
                .chain(&grievance_figures(&after, policy, *period))
            {
                share.entry(code.clone()).or_default().add(totals);
            }
            for (code, totals) in &old {
                share.entry(code.clone()).or_default().subtract(totals);
            }
            share.retain(|_, totals| *totals != Totals::default());
            share
        })
        .collect();
    Ok(Some(OfficeFigures {
        offices: after.offices,
        periods: figures,
        whole: false,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_after_the_years_last_run_saves_the_closed_year_and_the_one_before() {
        let date = NaiveDate::from_ymd_opt(2026, 4, 30).expect("a date");
        let saved: Vec<String> = saved_periods(date).iter().map(Period::to_string).collect();
        assert_eq!(
            saved,
            [
                "2026-04",
                "2026-03",
                "2026-02",
                "FY2026-27-Q1",
                "FY2025-26-Q4",
                "FY2025-26-Q3",
                "FY2026-27",
                "FY2025-26",
                "FY2024-25",
            ]
        );
    }
}
