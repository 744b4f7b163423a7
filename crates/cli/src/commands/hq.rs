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
    files: &[PathBuf],
    manifest_to: Option<&Path>,
) -> Outcome {
    let period = parse_period(period)?;
    let level = parse_level(level)?;
    let policy = load_policy(cli)?;
    let combined = combined(files)?;
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
pub fn awards(cli: &Cli, period: &str, files: &[PathBuf], manifest_to: Option<&Path>) -> Outcome {
    if cli.format == Format::Html {
        return Err(usage(
            "`hq awards` prints rows: use --format csv, json, table or xlsx",
        ));
    }
    let period = parse_period(period)?;
    let policy = load_policy(cli)?;
    let combined = combined(files)?;
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
