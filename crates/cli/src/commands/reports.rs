//! Office reports: rankings, awards (CSV, JSON, or one self-contained HTML file), the mobile
//! campaign and the camp report.

use super::{open, open_figures, parse_level, print, usage, Outcome};
use crate::{Cli, Failure, Format};
use anyhow::Context;
use chrono::NaiveDate;
use std::path::Path;
use vasooli_domain::period::Period;
use vasooli_domain::types::Level;
use vasooli_domain::{Policy, World};
use vasooli_projections::lists::check_office;
use vasooli_projections::reports::{self, AwardRow, CampRow, CampaignRow, RankingRow};
use vasooli_render::awards::awards_html;
use vasooli_render::Record;

pub(crate) fn parse_period(text: &str) -> Result<Period, Failure> {
    text.parse::<Period>()
        .map_err(|e| usage(format!("--period: {e}")))
}

/// `--out -`: standard output.
pub fn is_stdout(path: &Path) -> bool {
    path == Path::new("-")
}

pub fn rankings(cli: &Cli, period: &str, level: &str) -> Outcome {
    let period = parse_period(period)?;
    let level = parse_level(level)?;
    let (figures, policy, _) = open_figures(cli, &[period])?;
    let rows = reports::rankings_from(
        &figures.offices,
        &policy,
        period,
        level,
        &figures.periods[0],
    );
    if rows.is_empty() {
        // An empty list is still an answer (a script reads the header), but say why.
        errln!("note: no office was billed in {period}: there is nothing to rank");
    }
    let records: Vec<Record> = rows.iter().map(RankingRow::to_record).collect();
    print(cli, RankingRow::COLUMNS, &records)
}

pub fn awards(cli: &Cli, period: &str, out: Option<&Path>) -> Outcome {
    let period = parse_period(period)?;
    let (figures, policy, today) = open_figures(cli, &[period, period.previous()])?;
    let (current, previous) = (&figures.periods[0], &figures.periods[1]);
    let rows = reports::awards_from(&figures.offices, &policy, period, current, previous);
    if rows.is_empty() {
        return Err(usage(format!(
            "no office was billed in {period}: there is nothing to award"
        )));
    }
    let records: Vec<Record> = rows.iter().map(AwardRow::to_record).collect();
    let html = matches!(
        out.and_then(|p| p.extension()).and_then(|e| e.to_str()),
        Some("html" | "htm")
    );
    let xlsx = cli.format == Format::Xlsx
        || matches!(
            out.and_then(|p| p.extension()).and_then(|e| e.to_str()),
            Some("xlsx")
        );
    if html || cli.format == Format::Html || cli.format == Format::Table && out.is_some() && !xlsx {
        let text = awards_html(&figures.offices, &policy, period, current, today, &rows);
        match out.filter(|path| !is_stdout(path)) {
            Some(path) => {
                std::fs::write(crate::out::resolve(path), text)
                    .with_context(|| format!("writing {}", path.display()))?;
                outln!("wrote {}", path.display());
            }
            None => out!("{text}"),
        }
        return Ok(());
    }
    match out.filter(|path| !is_stdout(path)) {
        Some(path) => {
            let file = std::fs::File::create(crate::out::resolve(path))
                .with_context(|| format!("creating {}", path.display()))?;
            let mut writer = std::io::BufWriter::new(file);
            match cli.format {
                _ if xlsx => vasooli_render::write_sheet(
                    &mut writer,
                    &super::sheet_name(cli),
                    AwardRow::COLUMNS,
                    &records,
                ),
                format => vasooli_render::write_records(
                    &mut writer,
                    format.into(),
                    cli.excel,
                    AwardRow::COLUMNS,
                    &records,
                ),
            }
            .map_err(|e| Failure::Runtime(e.into()))?;
            outln!("wrote {}", path.display());
            Ok(())
        }
        None => print(cli, AwardRow::COLUMNS, &records),
    }
}

pub fn campaign(cli: &Cli, office: &str, reverify: bool) -> Outcome {
    let engine = open(cli)?;
    check_office(engine.world(), office).map_err(usage)?;
    if reverify {
        let rows = reports::mobiles_to_reverify(engine.world(), office, engine.report_date());
        let records: Vec<Record> = rows.iter().map(reports::ReverifyRow::to_record).collect();
        return print(cli, reports::ReverifyRow::COLUMNS, &records);
    }
    let rows = reports::campaign(engine.world(), office, engine.report_date());
    let records: Vec<Record> = rows.iter().map(CampaignRow::to_record).collect();
    print(cli, CampaignRow::COLUMNS, &records)
}

pub fn camps(cli: &Cli, office: &str, period: &str) -> Outcome {
    let period = parse_period(period)?;
    let engine = open(cli)?;
    check_office(engine.world(), office).map_err(usage)?;
    let rows = reports::camps_report(engine.world(), engine.policy(), office, period);
    let records: Vec<Record> = rows.iter().map(CampRow::to_record).collect();
    print(cli, CampRow::COLUMNS, &records)
}

/// The demo's closing view: the circles' ranking for the last month.
pub fn print_demo_rankings(world: &World, policy: &Policy, last_day: NaiveDate) -> Outcome {
    let period = Period::month_of(last_day);
    let rows = reports::rankings(world, policy, period, Level::Circle);
    outln!("\ncircle rankings for {period}:");
    let records: Vec<Record> = rows
        .iter()
        .map(|r| {
            r.to_record()
                .into_iter()
                .filter(|(k, _)| {
                    [
                        "rank",
                        "office_code",
                        "office_name",
                        "collection_efficiency_pct",
                        "arrears_reduction_pct",
                        "score",
                    ]
                    .contains(k)
                })
                .collect()
        })
        .collect();
    vasooli_render::write_records(
        &mut crate::out::stdout(),
        vasooli_render::Format::Table,
        false,
        &[
            "rank",
            "office_code",
            "office_name",
            "collection_efficiency_pct",
            "arrears_reduction_pct",
            "score",
        ],
        &records,
    )
    .map_err(|e| Failure::Runtime(e.into()))?;
    Ok(())
}
