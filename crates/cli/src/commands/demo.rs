//! `vasooli demo`: a generated utility taken month by month through imports, nightly runs and
//! officers' actions (`vasooli-demo`), then the lists an officer and headquarters would look
//! at first.

use super::{engine_failure, usage, Outcome};
use crate::{Cli, Failure};
use chrono::{Datelike, Months, NaiveDate};
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Instant;
use vasooli_demo::{run_demo, DemoError, GeneratorConfig};
use vasooli_domain::types::Level;
use vasooli_engine::log::LogDigest;
use vasooli_projections::lists;
use vasooli_render::{write_records, Format, Record};

pub fn run(cli: &Cli, consumers: usize, months: u32, seed: u64) -> Outcome {
    let started = Instant::now();
    let clock = vasooli_engine::Clock::from_env().map_err(usage)?;
    let mut config = GeneratorConfig {
        consumers,
        months,
        seed,
        ..GeneratorConfig::default()
    };
    config.start = start_for(config.start, months, clock.today());
    config.validate().map_err(usage)?;
    // Held from the check of the directory to the end of the run: no other process opens
    // the directory meanwhile.
    let lock = guard::prepare(&cli.data)?;
    let policy = super::load_policy(cli)?;
    let mut engine = vasooli_engine::Engine::open_locked(&lock, policy).map_err(engine_failure)?;
    let store = engine.store().clone();
    let mut digest = LogDigest::default();
    let mut marker_failure: Option<Failure> = None;
    let bar = ProgressBar::new(months as u64 + 1);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("generating");
    // The marker follows the log month by month, so a demo cut off part-way still leaves a
    // directory a later demo may replace.
    let report = run_demo(&mut engine, config, &mut || {
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
        return Err(failure);
    }
    guard::record(&cli.data, &store, &mut digest)?;
    bar.finish_and_clear();
    drop(store);
    let (final_date, last, summary, actions) = (
        report.final_date,
        report.last_month_end,
        report.final_run,
        report.officers_actions,
    );

    let world = engine.world();
    let policy = engine.policy();
    outln!(
        "vasooli demo: {} consumers, {} months, seed {}",
        consumers,
        months,
        seed
    );
    outln!(
        "{} offices, {} events in the log, {} officers' actions, {:.1} s",
        world.offices.len(),
        engine.store().last_position(),
        actions,
        started.elapsed().as_secs_f64()
    );
    outln!("\nstages as of {final_date}:");
    for (stage, count) in &summary.stages {
        outln!("  {stage:<26} {count}");
    }
    let circle = world
        .offices
        .values()
        .find(|o| o.level == Level::Circle)
        .map(|o| o.code.clone());
    let subdivision = world
        .offices
        .values()
        .find(|o| o.level == Level::Subdivision)
        .map(|o| o.code.clone());
    if let Some(code) = &circle {
        let filter = lists::DefaulterFilter {
            limit: Some(10),
            ..Default::default()
        };
        let rows = lists::defaulters(world, policy, code, final_date, &filter).map_err(usage)?;
        let name = &world.offices[code].name;
        outln!("\ntop defaulters of circle {code} ({name}) as of {final_date}:");
        let records: Vec<Record> = rows
            .iter()
            .map(|r| {
                let full = r.to_record();
                let keep = [
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
                full.into_iter().filter(|(k, _)| keep.contains(k)).collect()
            })
            .collect();
        write_records(
            &mut crate::out::stdout(),
            Format::Table,
            false,
            &[
                "account_no",
                "name",
                "subdivision",
                "overdue_arrears",
                "days_overdue",
                "aging_bucket",
                "stage",
                "notice_no",
                "hold",
            ],
            &records,
        )
        .map_err(|e| Failure::Runtime(e.into()))?;
    }
    if let Some(code) = &subdivision {
        outln!(
            "\nworklists of subdivision {code} ({}):",
            world.offices[code].name
        );
        for kind in vasooli_domain::types::WorklistKind::ALL {
            let rows =
                lists::worklist(world, policy, code, *kind, final_date, None, 0).map_err(usage)?;
            outln!("  {:<26} {}", kind.as_str(), rows.len());
        }
    }
    super::reports::print_demo_rankings(world, policy, last)?;
    outln!("\nnext: vasooli --data {} defaulters --office CODE | worklist --office CODE --kind serve_notice | rankings --period PERIOD --level circle", cli.data.display());
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

/// The demo's guard: it replaces only a directory it made, holding only what it wrote,
/// that no other process has open.
mod guard {
    use super::usage;
    use crate::Failure;
    use std::path::Path;
    use vasooli_engine::log::LogDigest;
    use vasooli_store::{DirLock, Store, StoreError, LOCK_FILE};

    /// The marker the demo keeps in the directory it makes: the events it wrote and their
    /// checksum.
    pub const MARKER: &str = "DEMO";
    /// What the demo makes in its directory, and so may remove: the log, the projections
    /// and its marker. Anything else (a policy file put there) is left alone.
    const MADE: &[&str] = &["log", vasooli_engine::engine::PROJECTIONS_DIR, MARKER];

    fn refuse(dir: &Path, why: &str) -> Failure {
        usage(format!(
            "the demo leaves {} alone: {why}; give the demo a directory of its own with --data DIR",
            dir.display()
        ))
    }

    /// The directory's lock, with the directory empty of what an earlier demo made, or a
    /// refusal naming the directory and why.
    pub fn prepare(dir: &Path) -> Result<DirLock, Failure> {
        let entries: Vec<String> = match std::fs::read_dir(dir) {
            Ok(read) => read
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(usage(format!("{}: {e}", dir.display()))),
        };
        let holds_data = entries.iter().any(|name| name != LOCK_FILE);
        let lock = DirLock::try_take(dir).map_err(|e| match e {
            StoreError::InUse { holder, .. } => refuse(
                dir,
                &format!(
                    "{} has it open",
                    holder.as_deref().unwrap_or("another process")
                ),
            ),
            other => Failure::Runtime(other.into()),
        })?;
        if !holds_data {
            return Ok(lock);
        }
        let marker = dir.join(MARKER);
        let text = match std::fs::read_to_string(&marker) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(refuse(
                    dir,
                    &format!("it holds data the demo did not make (it has no {MARKER} file)"),
                ))
            }
            Err(e) => {
                return Err(refuse(
                    dir,
                    &format!("its {MARKER} file does not read: {e}"),
                ))
            }
        };
        let Some((events, checksum)) = parse(&text) else {
            return Err(refuse(dir, &format!("its {MARKER} file is not the demo's")));
        };
        let store = Store::open_locked(&lock).map_err(|e| Failure::Runtime(e.into()))?;
        let digest = LogDigest::of(&store).map_err(|e| Failure::Runtime(e.into()))?;
        drop(store);
        if digest.events() != events || digest.checksum() != checksum {
            return Err(refuse(
                dir,
                &format!(
                    "its log holds {} events, not the {events} the demo wrote (checksum {:08x}, \
                     the demo's {checksum:08x}): something else wrote to it",
                    digest.events(),
                    digest.checksum()
                ),
            ));
        }
        // sled lets go of its files a moment after the store closes; none of its writes may
        // land after the files are gone.
        for name in ["log", vasooli_engine::engine::PROJECTIONS_DIR] {
            vasooli_store::wait_sled_closed(&dir.join(name))
                .map_err(|e| Failure::Runtime(e.into()))?;
        }
        // The marker goes first: a removal cut off part-way leaves no marker claiming a log.
        for name in MADE.iter().rev() {
            let path = dir.join(name);
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match removed {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Failure::Runtime(anyhow::anyhow!(
                        "removing {}: {e}",
                        path.display()
                    )))
                }
            }
        }
        Ok(lock)
    }

    /// Brings the marker up to the log's end: the events written so far and their checksum.
    /// Written to a new file and renamed over the old, so it is always whole.
    pub fn record(dir: &Path, store: &Store, digest: &mut LogDigest) -> Result<(), Failure> {
        digest
            .update(store)
            .map_err(|e| Failure::Runtime(e.into()))?;
        let text = format!(
            "# Made by `vasooli demo`. A later demo replaces this directory only while its log \
             holds exactly these events\n# and no other process has the directory open.\n\
             events = {}\nchecksum = \"{:08x}\"\n",
            digest.events(),
            digest.checksum()
        );
        let temporary = dir.join(format!("{MARKER}.new"));
        let written = std::fs::write(&temporary, text)
            .and_then(|()| std::fs::File::open(&temporary)?.sync_all())
            .and_then(|()| std::fs::rename(&temporary, dir.join(MARKER)));
        written.map_err(|e| {
            Failure::Runtime(anyhow::anyhow!(
                "writing {}: {e}",
                dir.join(MARKER).display()
            ))
        })
    }

    /// The events and checksum a marker records.
    fn parse(text: &str) -> Option<(u64, u32)> {
        let mut events = None;
        let mut checksum = None;
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match key.trim() {
                "events" => events = value.parse().ok(),
                "checksum" => checksum = u32::from_str_radix(value, 16).ok(),
                _ => {}
            }
        }
        Some((events?, checksum?))
    }
}
