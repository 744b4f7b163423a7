//! Figures a part of a utility publishes for headquarters, and their sum.
//!
//! A utility too large for one process is split into partitions of whole divisions, each with
//! its own log. Rankings and awards need every office of the utility, so each partition
//! publishes, for the periods asked, the additive figures of each of its subdivisions
//! ([`Totals`]) together with the office tree and the log position they reflect.
//! Headquarters adds the parts up ([`combine`]) and ranks from the sum with
//! [`reports::rankings_from`](crate::reports::rankings_from) and
//! [`reports::awards_from`](crate::reports::awards_from): every figure is a sum over
//! consumers or grievances, and each subdivision lives in exactly one partition, so the result
//! is the one a single process over all the events gives. The combined figures name the parts
//! and positions they were computed from (the manifest).

use crate::reports::{subdivision_figures_of, Totals};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use vasooli_domain::period::Period;
use vasooli_domain::policy::Policy;
use vasooli_domain::state::{Office, World};
use vasooli_domain::types::Level;

/// Version of the published document; a reader refuses any other.
pub const FIGURES_FORMAT: u32 = 1;

/// What one partition publishes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PartitionFigures {
    pub format: u32,
    /// The partition's name.
    pub partition: String,
    /// The last position of the partition's log the figures reflect.
    pub position: u64,
    /// The office tree, by code.
    pub offices: BTreeMap<String, Office>,
    /// Per period (as written: `FY2025-26`, `FY2025-26-Q4`, `2026-03`), each subdivision's
    /// figures; subdivisions whose figures are all zero are left out.
    pub periods: BTreeMap<String, BTreeMap<String, Totals>>,
}

/// The figures of `periods` for a partition's world, reflecting log position `position`.
pub fn partition_figures(
    world: &World,
    policy: &Policy,
    partition: &str,
    position: u64,
    periods: &[Period],
) -> PartitionFigures {
    PartitionFigures {
        format: FIGURES_FORMAT,
        partition: partition.to_string(),
        position,
        offices: world.offices.clone(),
        periods: periods
            .iter()
            .map(Period::to_string)
            .zip(subdivision_figures_of(world, policy, periods))
            .collect(),
    }
}

/// One part headquarters' figures were computed from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub partition: String,
    pub position: u64,
}

/// The sum of every partition's figures, and what it was computed from.
#[derive(Clone, Debug)]
pub struct Combined {
    pub offices: BTreeMap<String, Office>,
    /// The parts, in partition name order.
    pub manifest: Vec<ManifestEntry>,
    periods: BTreeMap<String, BTreeMap<String, Totals>>,
}

/// Why parts cannot be added up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FiguresError {
    #[error("no figures to combine")]
    Empty,
    #[error(
        "partition {partition}: figures of format {found}, this version reads {FIGURES_FORMAT}"
    )]
    Format { partition: String, found: u32 },
    #[error("partition {0} is given twice")]
    Repeated(String),
    #[error(
        "partitions {first} and {second} disagree on office {office}: \
         every partition must hold the same office tree"
    )]
    Offices {
        first: String,
        second: String,
        office: String,
    },
    #[error(
        "subdivision {subdivision} has figures in partitions {first} and {second} for \
         {period}: a subdivision belongs to one partition"
    )]
    Overlap {
        subdivision: String,
        first: String,
        second: String,
        period: String,
    },
    #[error("partition {partition} published no figures for {period}")]
    MissingPeriod { partition: String, period: String },
}

/// The first office on which two trees disagree (code, name, level or parent).
fn office_difference(a: &BTreeMap<String, Office>, b: &BTreeMap<String, Office>) -> Option<String> {
    let same = |x: &Office, y: &Office| {
        x.code == y.code && x.name == y.name && x.level == y.level && x.parent == y.parent
    };
    a.keys()
        .chain(b.keys())
        .find(|code| match (a.get(*code), b.get(*code)) {
            (Some(x), Some(y)) => !same(x, y),
            _ => true,
        })
        .cloned()
}

/// Checks one part against the first: its format, its name (parts come sorted by name, so
/// a repeat is the one before), its office tree.
fn check_part(
    first: &PartitionFigures,
    before: Option<&PartitionFigures>,
    part: &PartitionFigures,
) -> Result<(), FiguresError> {
    if part.format != FIGURES_FORMAT {
        return Err(FiguresError::Format {
            partition: part.partition.clone(),
            found: part.format,
        });
    }
    if before.is_some_and(|b| b.partition == part.partition) {
        return Err(FiguresError::Repeated(part.partition.clone()));
    }
    match office_difference(&first.offices, &part.offices) {
        Some(office) => Err(FiguresError::Offices {
            first: first.partition.clone(),
            second: part.partition.clone(),
            office,
        }),
        None => Ok(()),
    }
}

/// Adds the parts up. Every part must be of this format, name a different partition, hold
/// the same office tree and publish the same periods; a subdivision may have figures in
/// one part only.
pub fn combine(mut parts: Vec<PartitionFigures>) -> Result<Combined, FiguresError> {
    parts.sort_by(|a, b| a.partition.cmp(&b.partition));
    let first = parts.first().ok_or(FiguresError::Empty)?;
    let mut periods: BTreeMap<String, BTreeMap<String, Totals>> = BTreeMap::new();
    // Which partition each (period, subdivision) came from.
    let mut owners: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for (i, part) in parts.iter().enumerate() {
        check_part(first, i.checked_sub(1).map(|b| &parts[b]), part)?;
        for (period, subdivisions) in &part.periods {
            let sums = periods.entry(period.clone()).or_default();
            for (code, totals) in subdivisions {
                if let Some(owner) = owners.insert((period, code), &part.partition) {
                    return Err(FiguresError::Overlap {
                        subdivision: code.clone(),
                        first: owner.to_string(),
                        second: part.partition.clone(),
                        period: period.clone(),
                    });
                }
                sums.entry(code.clone()).or_default().add(totals);
            }
        }
    }
    for part in &parts {
        if let Some(period) = periods.keys().find(|p| !part.periods.contains_key(*p)) {
            return Err(FiguresError::MissingPeriod {
                partition: part.partition.clone(),
                period: period.clone(),
            });
        }
    }
    let manifest = parts
        .iter()
        .map(|part| ManifestEntry {
            partition: part.partition.clone(),
            position: part.position,
        })
        .collect();
    Ok(Combined {
        offices: first.offices.clone(),
        manifest,
        periods,
    })
}

impl Combined {
    /// Every subdivision's summed figures for `period`.
    pub fn period(&self, period: Period) -> Result<&BTreeMap<String, Totals>, FiguresError> {
        let key = period.to_string();
        self.periods
            .get(&key)
            .ok_or_else(|| FiguresError::MissingPeriod {
                partition: self
                    .manifest
                    .iter()
                    .map(|e| e.partition.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                period: key,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::rankings_from;
    use vasooli_domain::types::Level;
    use vasooli_domain::Money;

    fn office(code: &str, level: Level, parent: &str) -> (String, Office) {
        let office = Office {
            code: code.into(),
            name: code.into(),
            level,
            parent: Some(parent.into()),
            children: Vec::new(),
        };
        (code.to_string(), office)
    }

    #[test]
    fn an_office_tree_with_a_cycle_ends_the_climb() {
        // A subdivision under a division that names the subdivision as its parent: no
        // circle above either.
        let offices: BTreeMap<String, Office> = [
            office("S1", Level::Subdivision, "D1"),
            office("D1", Level::Division, "S1"),
        ]
        .into_iter()
        .collect();
        let figures: BTreeMap<String, Totals> = [(
            "S1".to_string(),
            Totals {
                billed: Money::from_paise(100),
                ..Totals::default()
            },
        )]
        .into_iter()
        .collect();
        let period = "2026-05".parse().expect("period");
        let policy = Policy::default();
        assert!(rankings_from(&offices, &policy, period, Level::Circle, &figures).is_empty());
        let divisions = rankings_from(&offices, &policy, period, Level::Division, &figures);
        assert_eq!(divisions.len(), 1);
        assert_eq!(divisions[0].billed, Money::from_paise(100));
    }
}

/// Moves the figures of `division`'s subdivisions out of `from` (a partition's published
/// document for one period) into `to`, the receiving partition's document for the same
/// period, or a new document of partition `to_name` holding those figures alone when it has
/// none. A move of a division between partitions rewrites what both published so, so that
/// their sums stay the utility's.
pub fn move_division_figures(
    division: &str,
    from: &mut PartitionFigures,
    to: Option<PartitionFigures>,
    to_name: &str,
) -> PartitionFigures {
    let within = |code: &str| {
        crate::reports::ancestor_at(&from.offices, code, Level::Division)
            .is_some_and(|office| office.code == division)
    };
    let moving: BTreeMap<String, Vec<String>> = from
        .periods
        .iter()
        .map(|(period, subdivisions)| {
            let codes = subdivisions.keys().filter(|c| within(c)).cloned().collect();
            (period.clone(), codes)
        })
        .collect();
    let mut to = to.unwrap_or_else(|| PartitionFigures {
        format: FIGURES_FORMAT,
        partition: to_name.to_string(),
        position: 0,
        offices: from.offices.clone(),
        periods: BTreeMap::new(),
    });
    for (period, codes) in moving {
        let target = to.periods.entry(period.clone()).or_default();
        if let Some(source) = from.periods.get_mut(&period) {
            for code in codes {
                if let Some(totals) = source.remove(&code) {
                    target.insert(code, totals);
                }
            }
        }
    }
    to
}

#[cfg(test)]
mod move_tests {
    use super::*;
    use vasooli_domain::money::Money;

    fn office(code: &str, level: Level, parent: Option<&str>) -> (String, Office) {
        let office = Office {
            code: code.into(),
            name: code.into(),
            level,
            parent: parent.map(Into::into),
            children: Vec::new(),
        };
        (code.to_string(), office)
    }

    fn totals(paise: i64) -> Totals {
        Totals {
            billed: Money::from_paise(paise),
            ..Totals::default()
        }
    }

    fn document(partition: &str, rows: &[(&str, &str, i64)]) -> PartitionFigures {
        let mut periods: BTreeMap<String, BTreeMap<String, Totals>> = BTreeMap::new();
        for (period, code, paise) in rows {
            periods
                .entry(period.to_string())
                .or_default()
                .insert(code.to_string(), totals(*paise));
        }
        PartitionFigures {
            format: FIGURES_FORMAT,
            partition: partition.into(),
            position: 7,
            offices: [
                office("C", Level::Circle, None),
                office("D-N", Level::Division, Some("C")),
                office("D-S", Level::Division, Some("C")),
                office("SD-N1", Level::Subdivision, Some("D-N")),
                office("SD-S1", Level::Subdivision, Some("D-S")),
            ]
            .into_iter()
            .collect(),
            periods,
        }
    }

    #[test]
    fn a_division_s_figures_move_and_the_sums_stay() {
        let mut north = document(
            "north",
            &[
                ("2026-05", "SD-N1", 100),
                ("2026-05", "SD-S1", 200),
                ("2026-04", "SD-S1", 50),
            ],
        );
        let east = document("east", &[("2026-05", "SD-E1", 1), ("2026-04", "SD-E1", 2)]);
        let before = combine(vec![north.clone(), east.clone()]).unwrap();
        let east = move_division_figures("D-S", &mut north, Some(east), "east");
        assert_eq!(
            north.periods["2026-05"].keys().collect::<Vec<_>>(),
            ["SD-N1"]
        );
        assert!(north.periods["2026-04"].is_empty());
        assert_eq!(
            east.periods["2026-05"]["SD-S1"].billed,
            Money::from_paise(200)
        );
        assert_eq!(
            east.periods["2026-04"]["SD-S1"].billed,
            Money::from_paise(50)
        );
        assert_eq!(
            east.position, 7,
            "the receiving document keeps its position"
        );
        let after = combine(vec![north.clone(), east]).unwrap();
        assert_eq!(
            format!("{:?}", before.periods),
            format!("{:?}", after.periods)
        );
        // A partition that published nothing for the period gets a document of its own.
        let mut north = document("north", &[("2026-05", "SD-S1", 200)]);
        let spare = move_division_figures("D-S", &mut north, None, "spare");
        assert_eq!(spare.partition, "spare");
        assert_eq!(office_difference(&spare.offices, &north.offices), None);
        assert_eq!(
            spare.periods["2026-05"]["SD-S1"].billed,
            Money::from_paise(200)
        );
    }
}
