//! A read-only view of some consumers, for a command about one account (`vasooli
//! statement`) or one office's consumers (`vasooli defaulters`, `vasooli worklist`): it
//! reads the checkpoint's offices, camps and nightly runs, the parts of consumers the
//! checkpoint's directories name for what is asked, and the log after the checkpoint,
//! instead of the whole world. What it answers about those consumers is what the whole
//! world answers.

use std::path::Path;

use chrono::NaiveDate;
use vasooli_domain::state::{SmsMessage, World};
use vasooli_domain::Policy;
use vasooli_store::{LogReader, SideDb};

use crate::engine::{
    as_of, catch_up_world, has_checkpoint, load_checkpoint, load_checkpoint_of, open_projections,
    report_date, save_world, sms_text, EngineError, SmsTextError, Wanted,
};
use crate::Clock;

/// The world as far as some consumers go, read-only.
pub struct ColdView {
    log: LogReader,
    world: World,
    policy: Policy,
    clock: Clock,
    whole: bool,
}

/// `world` (a checkpoint's, or none) brought up to the log's end; a checkpoint ahead of the
/// log is not used.
pub(crate) fn caught_up(log: &LogReader, world: Option<World>) -> Result<World, EngineError> {
    let mut world = world
        .filter(|world| world.position <= log.last_position())
        .unwrap_or_default();
    catch_up_world(log, &mut world)?;
    Ok(world)
}

/// Writes a checkpoint of the whole `world` a cold read has just built, in place of one it
/// could not use. The directory's lock is held: nothing else writes. A failure (a read-only
/// directory) leaves things as they were.
pub(crate) fn renew_checkpoint(projections: &SideDb, world: &World) {
    if let Err(e) = save_world(projections, world) {
        tracing::info!("the checkpoint was not renewed: {e}");
    }
}

impl ColdView {
    /// Opens the data directory for questions about `accounts`: the world it holds has those
    /// consumers (those the log knows), every office, camp and grievance, and the nightly
    /// runs.
    pub fn accounts(
        dir: &Path,
        policy: Policy,
        accounts: &[&str],
    ) -> Result<ColdView, EngineError> {
        ColdView::open(dir, policy, Wanted::Accounts(accounts))
    }

    /// Opens the data directory for questions about the consumers below `office` (at any
    /// level): the world it holds has those consumers, every office, camp and grievance, and
    /// the nightly runs.
    pub fn office(dir: &Path, policy: Policy, office: &str) -> Result<ColdView, EngineError> {
        ColdView::open(dir, policy, Wanted::Office(office))
    }

    /// Without a checkpoint that has directories (one written before it had them, a damaged
    /// part), the whole world is loaded, as [`crate::Engine::open`] does, and a checkpoint
    /// with directories written from it. Writes nothing else, and nothing at all when the
    /// checkpoint served.
    fn open(dir: &Path, policy: Policy, wanted: Wanted<'_>) -> Result<ColdView, EngineError> {
        let log = LogReader::open(dir)?;
        let projections = open_projections(log.dir())?;
        let (world, whole) = match load_checkpoint_of(&projections, wanted) {
            Some(world) => (Some(world), false),
            None => (load_checkpoint(&projections), true),
        };
        let world = caught_up(&log, world)?;
        // A checkpoint this view could not use (of the layout before directories, or with a
        // damaged part) is replaced once, from the whole world just built, so that the next
        // command reads only what it asks for.
        if whole && has_checkpoint(&projections) {
            renew_checkpoint(&projections, &world);
        }
        drop(projections);
        Ok(ColdView {
            log,
            world,
            policy,
            clock: Clock::from_env_or_system(),
            whole,
        })
    }

    /// The world as far as the consumers asked about go.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// Whether the whole world was loaded (no usable directory).
    pub fn loaded_whole(&self) -> bool {
        self.whole
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// As [`crate::Engine::report_date`].
    pub fn report_date(&self) -> NaiveDate {
        report_date(&self.world, &self.clock)
    }

    /// As [`crate::Engine::as_of`]: the last nightly run's date.
    pub fn as_of(&self) -> Result<NaiveDate, EngineError> {
        as_of(&self.world)
    }

    /// As [`crate::Engine::sms_text`].
    pub fn sms_text(&self, message: &SmsMessage) -> Result<String, SmsTextError> {
        sms_text(&self.log, message)
    }
}
