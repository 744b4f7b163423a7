//! A utility split into partitions of whole divisions, each with its own data directory,
//! gives headquarters the same rankings and awards, figure for figure, as one process over
//! every event: each partition publishes its subdivisions' figures and headquarters adds
//! them up.

use chrono::NaiveDate;
use vasooli_demo::{Generator, GeneratorConfig};
use vasooli_domain::partition::{Route, Router};
use vasooli_domain::period::Period;
use vasooli_domain::types::Level;
use vasooli_domain::{Command, Policy};
use vasooli_engine::{Engine, Input};
use vasooli_projections::figures::{combine, partition_figures, FiguresError, PartitionFigures};
use vasooli_projections::reports::{self, AwardRow, RankingRow};

const PARTITIONS: usize = 4;

struct Utility {
    whole: Engine,
    parts: Vec<Engine>,
    _dirs: Vec<tempfile::TempDir>,
}

fn open(dirs: &mut Vec<tempfile::TempDir>) -> Engine {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(dir.path(), Policy::default()).expect("open");
    dirs.push(dir);
    engine
}

/// The partition of a division, by a sum of its code's bytes (so that it does not depend
/// on the order divisions appear in).
fn partition_of(division: &str) -> usize {
    division.bytes().map(usize::from).sum::<usize>() % PARTITIONS
}

/// Runs the generated utility into one engine and, routed by division, into four; the
/// nightly run for each month's last day runs in all five.
fn run(config: GeneratorConfig) -> Utility {
    let mut dirs = Vec::new();
    let mut whole = open(&mut dirs);
    let mut parts: Vec<Engine> = (0..PARTITIONS).map(|_| open(&mut dirs)).collect();
    let generator = Generator::new(config);
    let month_ends = generator.month_ends();
    let mut router = Router::new();
    let mut divisions = std::collections::BTreeSet::new();
    let mut month = 0usize;
    generator
        .for_each_month(5_000, &mut |batch| {
            let mut routed: Vec<Vec<Command>> = vec![Vec::new(); PARTITIONS];
            for command in &batch.commands {
                match router.route(command).map_err(|e| e.to_string())? {
                    Route::Everywhere => routed.iter_mut().for_each(|r| r.push(command.clone())),
                    Route::Division(d) => {
                        routed[partition_of(&d)].push(command.clone());
                        divisions.insert(d);
                    }
                }
            }
            whole
                .execute(Input::all_at("whole", batch.commands))
                .map_err(|e| e.to_string())?;
            for (engine, commands) in parts.iter_mut().zip(routed) {
                engine
                    .execute(Input::all_at("part", commands))
                    .map_err(|e| e.to_string())?;
            }
            if batch.last_of_month {
                if batch.month_end.is_some() && month > 0 {
                    let date = month_ends[month - 1];
                    for engine in std::iter::once(&mut whole).chain(parts.iter_mut()) {
                        engine.nightly(date).map_err(|e| e.to_string())?;
                    }
                }
                month += 1;
            }
            Ok(())
        })
        .expect("the generated utility runs");
    assert!(divisions.len() >= PARTITIONS, "{divisions:?}");
    Utility {
        whole,
        parts,
        _dirs: dirs,
    }
}

fn published(utility: &Utility, periods: &[Period]) -> Vec<PartitionFigures> {
    utility
        .parts
        .iter()
        .enumerate()
        .map(|(i, engine)| {
            partition_figures(
                engine.world(),
                engine.policy(),
                &format!("p{i}"),
                engine.world().position,
                periods,
            )
        })
        .collect()
}

fn ranking_lines(rows: &[RankingRow]) -> Vec<String> {
    rows.iter()
        .map(|r| format!("{:?}", r.to_record()))
        .collect()
}

fn award_lines(rows: &[AwardRow]) -> Vec<String> {
    rows.iter()
        .map(|r| format!("{:?}", r.to_record()))
        .collect()
}

#[test]
fn four_partitions_rank_and_award_as_one_process() {
    let utility = run(GeneratorConfig {
        consumers: 3_000,
        months: 6,
        seed: 11,
        start: NaiveDate::from_ymd_opt(2025, 4, 1).expect("date"),
    });
    let consumers: Vec<usize> = utility
        .parts
        .iter()
        .map(|e| e.world().consumers.len())
        .collect();
    assert_eq!(
        consumers.iter().sum::<usize>(),
        utility.whole.world().consumers.len()
    );
    assert!(consumers.iter().all(|&n| n > 0), "{consumers:?}");

    let periods: Vec<Period> = [
        "FY2025-26",
        "FY2025-26-Q2",
        "FY2025-26-Q1",
        "2025-09",
        "2025-08",
    ]
    .iter()
    .map(|p| p.parse().expect("period"))
    .collect();
    let combined = combine(published(&utility, &periods)).expect("combine");
    assert_eq!(combined.manifest.len(), PARTITIONS);
    let (world, policy) = (utility.whole.world(), utility.whole.policy());
    for &period in &periods {
        for level in [
            Level::Zone,
            Level::Circle,
            Level::Division,
            Level::Subdivision,
        ] {
            let one = reports::rankings(world, policy, period, level);
            let summed = reports::rankings_from(
                &combined.offices,
                policy,
                period,
                level,
                combined.period(period).expect("period"),
            );
            assert!(!one.is_empty(), "{period} {level:?}");
            assert_eq!(
                ranking_lines(&one),
                ranking_lines(&summed),
                "{period} {level:?}"
            );
        }
    }
    for period in ["FY2025-26-Q2", "2025-09"] {
        let period: Period = period.parse().expect("period");
        let one = reports::awards(world, policy, period);
        let summed = reports::awards_from(
            &combined.offices,
            policy,
            period,
            combined.period(period).expect("current"),
            combined.period(period.previous()).expect("previous"),
        );
        assert!(!one.is_empty());
        assert_eq!(award_lines(&one), award_lines(&summed), "{period}");
    }

    // What cannot be added up is refused, naming why.
    let mut twice = published(&utility, &periods[..1]);
    let mut copy = twice[0].clone();
    copy.partition = "p9".into();
    twice.push(copy);
    assert!(matches!(
        combine(twice),
        Err(FiguresError::Overlap { first, second, .. }) if first == "p0" && second == "p9"
    ));
    let mut renamed = published(&utility, &periods[..1]);
    let office = renamed[1].offices.values_mut().next().expect("an office");
    office.name.push('!');
    let code = office.code.clone();
    assert_eq!(
        combine(renamed).map(|_| ()),
        Err(FiguresError::Offices {
            first: "p0".into(),
            second: "p1".into(),
            office: code
        })
    );
    let mut short = published(&utility, &periods[..2]);
    short[2].periods.remove("FY2025-26");
    assert!(matches!(
        combine(short),
        Err(FiguresError::MissingPeriod { partition, .. }) if partition == "p2"
    ));
}

#[test]
fn a_partition_names_what_it_holds_with_or_without_its_office_tree() {
    let config = GeneratorConfig {
        consumers: 50,
        months: 1,
        seed: 7,
        start: NaiveDate::from_ymd_opt(2025, 4, 1).expect("a date"),
    };
    let mut dirs = Vec::new();
    let mut engine = open(&mut dirs);
    let mut accounts = Vec::new();
    Generator::new(config)
        .for_each_month(5_000, &mut |batch| {
            for command in &batch.commands {
                if let Command::RegisterConsumer { account_no, .. } = command {
                    accounts.push(account_no.clone());
                }
            }
            engine
                .execute(Input::all_at("one", batch.commands))
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .expect("the generated utility runs");
    let mut lookup = vasooli_domain::partition::Lookup::default();
    lookup.accounts.insert(accounts[0].clone());
    lookup.accounts.insert("UK-NOBODY".to_string());
    let known = engine.known(&lookup).expect("known");
    assert!(!known.offices.is_empty());
    assert_eq!(known.accounts.len(), 1, "{:?}", known.accounts);
    assert!(known.accounts.contains_key(&accounts[0]));
    // Without the tree: the same names, no offices; a request without the flag reads as
    // one that wants the tree, and a request that does not want it says so.
    let bare = vasooli_domain::partition::Lookup {
        without_offices: true,
        ..lookup.clone()
    };
    let names_only = engine.known(&bare).expect("known");
    assert!(names_only.offices.is_empty());
    assert_eq!(names_only.accounts, known.accounts);
    let plain = serde_json::to_string(&lookup).expect("json");
    assert!(!plain.contains("without_offices"), "{plain}");
    assert_eq!(
        serde_json::from_str::<vasooli_domain::partition::Lookup>(&plain).expect("reads"),
        lookup
    );
    assert!(serde_json::to_string(&bare)
        .expect("json")
        .contains("\"without_offices\":true"));
}
