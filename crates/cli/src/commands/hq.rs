//! A partition's figures for headquarters (`vasooli figures`), and headquarters' rankings and
//! awards from every partition's figures (`vasooli hq`).

use super::parse_level;
use super::reports::{is_stdout, parse_period};
use super::{load_policy, open, print, usage, Outcome, Record};
use crate::{Cli, Failure, Format};
use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};
use vasooli_domain::period::Period;
use vasooli_projections::figures::{combine, partition_figures, Combined, PartitionFigures};
use vasooli_projections::reports::{self, AwardRow, RankingRow};

/// `vasooli figures`: each period asked and the one before it (awards compare the two).
pub fn figures(
    cli: &Cli,
    periods: &[String],
    partition: Option<&str>,
    out: Option<&Path>,
) -> Outcome {
    let mut wanted: Vec<Period> = Vec::new();
    for text in periods {
        let period = parse_period(text)?;
        for p in [period, period.previous()] {
            if !wanted.contains(&p) {
                wanted.push(p);
            }
        }
    }
    let name = match partition {
        Some(name) => name.to_string(),
        None => default_partition_name(&cli.data),
    };
    let engine = open(cli)?;
    let world = engine.world();
    let figures = partition_figures(world, engine.policy(), &name, world.position, &wanted);
    let text = serde_json::to_string_pretty(&figures).context("writing the figures")?;
    match out.filter(|path| !is_stdout(path)) {
        Some(path) => {
            std::fs::write(crate::out::resolve(path), format!("{text}\n"))
                .with_context(|| format!("writing {}", path.display()))?;
            outln!(
                "figures of partition {name} at position {} for {} periods written to {}",
                figures.position,
                figures.periods.len(),
                path.display()
            );
        }
        None => outln!("{text}"),
    }
    Ok(())
}

/// The data directory's own name, for a partition named by nothing else.
fn default_partition_name(dir: &Path) -> String {
    // Relative to the caller's directory, also when the server runs the command.
    let dir = crate::out::resolve(dir);
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".to_string())
}

/// Where headquarters reads the partitions' figures: the cluster's servers, or files.
type Sources<'a> = (&'a [String], &'a [PathBuf]);

/// The partitions' figures of `period`, from the cluster or the files, added up.
fn combined_from(sources: Sources<'_>, period: Period) -> Result<Combined, Failure> {
    match sources {
        (servers, _) if !servers.is_empty() => combined_from_cluster(servers, period),
        (_, files) => combined(files),
    }
}

/// The periods a nightly run of `as_of` publishes: its month, quarter and financial year.
pub fn published_periods(as_of: chrono::NaiveDate) -> [Period; 3] {
    [
        Period::month_of(as_of),
        Period::financial_quarter_of(as_of),
        Period::financial_year_of(as_of),
    ]
}

/// Publishes the partition's figures for a nightly run of `as_of`: for the run's month,
/// quarter and financial year and the period before each, each document holding its
/// period and the one before it (awards compare the two), at the log position the engine
/// has read.
pub async fn publish_figures(
    board: &vasooli_cluster::FiguresBoard,
    engine: &vasooli_engine::SharedEngine,
    partition: &str,
    as_of: chrono::NaiveDate,
) -> Result<(), String> {
    let (engine, name) = (engine.clone(), partition.to_string());
    let documents = tokio::task::spawn_blocking(move || {
        engine.read(|e| {
            let world = e.world();
            // The periods before them too, so that their keys do not keep what an earlier
            // run published once later runs have changed their figures.
            published_periods(as_of)
                .iter()
                .flat_map(|p| [*p, p.previous()])
                .map(|period| {
                    let figures = partition_figures(
                        world,
                        e.policy(),
                        &name,
                        world.position,
                        &[period, period.previous()],
                    );
                    (period.to_string(), serde_json::to_vec(&figures))
                })
                .collect::<Vec<_>>()
        })
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    for (period, document) in documents {
        let document = document.map_err(|e| e.to_string())?;
        board
            .publish(partition, &period, document)
            .await
            .map_err(|e| format!("publishing the figures of {period}: {e}"))?;
    }
    Ok(())
}

/// Every partition's figures of `period` as published in the cluster; a partition of the
/// partition map that published none is refused (exit 3), so that no report leaves one out.
fn combined_from_cluster(servers: &[String], period: Period) -> Result<Combined, Failure> {
    use crate::commands::cluster::{check_servers, cluster_failure, config, runtime};
    check_servers(servers)?;
    let runtime = runtime()?;
    let combined = runtime.block_on(async {
        let log = vasooli_cluster::ClusterLog::connect(config(
            servers,
            std::time::Duration::from_secs(30),
        ))
        .await
        .map_err(cluster_failure)?;
        combined_in_cluster(&log, period).await
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    combined
}

/// [`combined_from_cluster`] over a connection made already.
pub(crate) async fn combined_in_cluster(
    log: &vasooli_cluster::ClusterLog,
    period: Period,
) -> Result<Combined, Failure> {
    use crate::commands::cluster::cluster_failure;
    // While a division moves, its figures move between two partitions' documents.
    let map = vasooli_cluster::PartitionMap::open(log)
        .await
        .map_err(cluster_failure)?;
    if map
        .move_under_way()
        .await
        .map_err(cluster_failure)?
        .is_some()
    {
        return Err(Failure::Rejected(vec![
            "a division is moving between partitions (vasooli cluster move): its figures move \
             with it; ask again once the move has ended"
                .to_string(),
        ]));
    }
    let found = async {
        let board = vasooli_cluster::FiguresBoard::open(log).await?;
        let mut partitions: Vec<String> = map
            .assignments()
            .await?
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        partitions.sort();
        partitions.dedup();
        let mut found = Vec::new();
        for partition in partitions {
            let document = board.read(&partition, &period.to_string()).await?;
            found.push((partition, document));
        }
        Ok::<_, vasooli_cluster::ClusterError>(found)
    }
    .await;
    let found = found.map_err(cluster_failure)?;
    if found.is_empty() {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "no division is assigned to a partition yet (vasooli cluster assign)"
        )));
    }
    let mut parts = Vec::new();
    let mut missing = Vec::new();
    for (partition, document) in found {
        let Some(document) = document else {
            missing.push(format!(
                "partition {partition} has published no figures for {period}: an owner \
                 publishes the month, quarter and financial year of each nightly run and the \
                 period before each; for \
                 another period pass the files `vasooli figures` writes"
            ));
            continue;
        };
        let part: PartitionFigures = serde_json::from_slice(&document).map_err(|e| {
            Failure::Runtime(anyhow::anyhow!(
                "the figures partition {partition} published for {period} do not read: {e}"
            ))
        })?;
        parts.push(part);
    }
    if !missing.is_empty() {
        return Err(Failure::Rejected(missing));
    }
    combine(parts).map_err(|e| Failure::Rejected(vec![e.to_string()]))
}

/// Reads and adds up the figures files; a file that is not figures is rejected (exit 3)
/// with its name, line and column.
fn combined(files: &[PathBuf]) -> Result<Combined, Failure> {
    let mut parts: Vec<PartitionFigures> = Vec::new();
    for file in files {
        let name = file.display();
        let text = std::fs::read_to_string(crate::out::resolve(file))
            .map_err(|e| usage(format!("{name}: {e}")))?;
        let part = serde_json::from_str(&text).map_err(|e| {
            Failure::Rejected(vec![format!(
                "{name}:{}:{}: not the figures `vasooli figures` writes: {e}",
                e.line(),
                e.column()
            )])
        })?;
        parts.push(part);
    }
    combine(parts).map_err(|e| Failure::Rejected(vec![e.to_string()]))
}

/// Says what the report was computed from, on standard error, and in `manifest` when asked.
fn manifest(combined: &Combined, to: Option<&Path>) -> Outcome {
    let parts: Vec<String> = combined
        .manifest
        .iter()
        .map(|e| format!("{} at position {}", e.partition, e.position))
        .collect();
    let noun = if parts.len() == 1 {
        "partition"
    } else {
        "partitions"
    };
    errln!("computed from {} {noun}: {}", parts.len(), parts.join(", "));
    if let Some(path) = to {
        let text = serde_json::to_string_pretty(&combined.manifest).context("the manifest")?;
        let mut file = std::fs::File::create(crate::out::resolve(path))
            .with_context(|| format!("creating {}", path.display()))?;
        writeln!(file, "{text}").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// `vasooli hq rankings`.
pub fn rankings(
    cli: &Cli,
    period: &str,
    level: &str,
    sources: Sources<'_>,
    manifest_to: Option<&Path>,
) -> Outcome {
    let period = parse_period(period)?;
    let level = parse_level(level)?;
    let policy = load_policy(cli)?;
    let combined = combined_from(sources, period)?;
    let figures = combined
        .period(period)
        .map_err(|e| Failure::Rejected(vec![e.to_string()]))?;
    let rows = reports::rankings_from(&combined.offices, &policy, period, level, figures);
    if rows.is_empty() {
        errln!("note: no office was billed in {period}: there is nothing to rank");
    }
    let records: Vec<Record> = rows.iter().map(RankingRow::to_record).collect();
    print(cli, RankingRow::COLUMNS, &records)?;
    manifest(&combined, manifest_to)
}

/// `vasooli hq awards`.
pub fn awards(
    cli: &Cli,
    period: &str,
    sources: Sources<'_>,
    manifest_to: Option<&Path>,
) -> Outcome {
    if cli.format == Format::Html {
        return Err(usage(
            "`hq awards` prints rows: use --format csv, json, table or xlsx",
        ));
    }
    let period = parse_period(period)?;
    let policy = load_policy(cli)?;
    let combined = combined_from(sources, period)?;
    let rejected =
        |e: vasooli_projections::figures::FiguresError| Failure::Rejected(vec![e.to_string()]);
    let current = combined.period(period).map_err(rejected)?;
    let previous = combined.period(period.previous()).map_err(rejected)?;
    let rows = reports::awards_from(&combined.offices, &policy, period, current, previous);
    if rows.is_empty() {
        return Err(usage(format!(
            "no office was billed in {period}: there is nothing to award"
        )));
    }
    let records: Vec<Record> = rows.iter().map(AwardRow::to_record).collect();
    print(cli, AwardRow::COLUMNS, &records)?;
    manifest(&combined, manifest_to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_publishes_its_month_quarter_and_financial_year() {
        let at = |text: &str| {
            published_periods(chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap())
                .map(|p| p.to_string())
        };
        assert_eq!(at("2026-05-31"), ["2026-05", "FY2026-27-Q1", "FY2026-27"]);
        assert_eq!(at("2026-07-01"), ["2026-07", "FY2026-27-Q2", "FY2026-27"]);
        assert_eq!(at("2026-12-04"), ["2026-12", "FY2026-27-Q3", "FY2026-27"]);
        assert_eq!(at("2027-03-31"), ["2027-03", "FY2026-27-Q4", "FY2026-27"]);
        assert_eq!(at("2027-04-01"), ["2027-04", "FY2027-28-Q1", "FY2027-28"]);
    }
}
