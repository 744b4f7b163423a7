//! Office reports: rankings, awards (CSV, JSON, or one self-contained HTML file), the mobile
//! campaign and the camp report.

use super::{open, parse_level, print, usage, Outcome};
use crate::output::{Format, Record};
use crate::{Cli, Failure};
use anyhow::Context;
use chrono::NaiveDate;
use std::path::Path;
use vasooli_domain::period::Period;
use vasooli_domain::types::Level;
use vasooli_domain::{Policy, World};
use vasooli_projections::lists::check_office;
use vasooli_projections::reports::{self, AwardRow, CampRow, CampaignRow, RankingRow};

fn parse_period(text: &str) -> Result<Period, Failure> {
    text.parse::<Period>()
        .map_err(|e| usage(format!("--period: {e}")))
}

pub fn rankings(cli: &Cli, period: &str, level: &str) -> Outcome {
    let period = parse_period(period)?;
    let level = parse_level(level)?;
    let engine = open(cli)?;
    let rows = reports::rankings(engine.world(), engine.policy(), period, level);
    let records: Vec<Record> = rows.iter().map(RankingRow::to_record).collect();
    print(cli, RankingRow::COLUMNS, &records)
}

pub fn awards(cli: &Cli, period: &str, out: Option<&Path>) -> Outcome {
    let period = parse_period(period)?;
    let engine = open(cli)?;
    let rows = reports::awards(engine.world(), engine.policy(), period);
    let records: Vec<Record> = rows.iter().map(AwardRow::to_record).collect();
    let html = matches!(
        out.and_then(|p| p.extension()).and_then(|e| e.to_str()),
        Some("html" | "htm")
    );
    if html || cli.format == Format::Html || cli.format == Format::Table && out.is_some() {
        let text = awards_html(engine.world(), engine.policy(), period, &rows);
        match out {
            Some(path) => {
                std::fs::write(path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("wrote {}", path.display());
            }
            None => print!("{text}"),
        }
        return Ok(());
    }
    match out {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            let mut writer = std::io::BufWriter::new(file);
            crate::output::write_records(
                &mut writer,
                cli.format,
                cli.excel,
                AwardRow::COLUMNS,
                &records,
            )?;
            println!("wrote {}", path.display());
            Ok(())
        }
        None => print(cli, AwardRow::COLUMNS, &records),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One self-contained page: winners per level, a bar chart of scores, each winner's metrics
/// beside its level's median. Hindi names are written as UTF-8 text.
pub fn awards_html(world: &World, policy: &Policy, period: Period, awards: &[AwardRow]) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"hi\"><head><meta charset=\"utf-8\"><title>Awards {period}</title><style>\
body{{font-family:'Noto Sans Devanagari','Noto Sans',sans-serif;margin:2em;color:#222}}\
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #bbb;padding:4px 10px;text-align:left}}\
th{{background:#eee}}td.code,td:nth-child(2){{white-space:nowrap}}.gold{{background:#f7e27e}}.silver{{background:#e3e3e3}}.bronze{{background:#e8c39e}}\
</style></head><body>\n<h1>पुरस्कार / Awards — {period}</h1>\n"
    );
    for level in [Level::Circle, Level::Division, Level::Subdivision] {
        let ranked = reports::rankings(world, policy, period, level);
        html.push_str(&format!("<h2>{level}</h2>\n<table><tr><th>award</th><th>office</th><th>score</th><th>score change</th><th>collection efficiency %</th><th>median %</th><th>arrears reduction %</th><th>median %</th></tr>\n"));
        let median = |f: &dyn Fn(&RankingRow) -> Option<String>| -> String {
            let mut values: Vec<f64> = ranked
                .iter()
                .filter_map(|r| f(r).and_then(|v| v.parse().ok()))
                .collect();
            values.sort_by(|a, b| a.total_cmp(b));
            match values.len() {
                0 => String::new(),
                n if n % 2 == 1 => format!("{:.2}", values[n / 2]),
                n => format!("{:.2}", (values[n / 2 - 1] + values[n / 2]) / 2.0),
            }
        };
        let field = |name: &'static str| {
            move |r: &RankingRow| {
                r.to_record()
                    .into_iter()
                    .find(|(k, _)| *k == name)
                    .and_then(|(_, v)| v)
            }
        };
        let efficiency_median = median(&field("collection_efficiency_pct"));
        let reduction_median = median(&field("arrears_reduction_pct"));
        for award in awards.iter().filter(|a| a.level == level) {
            let record = award.to_record();
            let get = |k: &str| {
                record
                    .iter()
                    .find(|(n, _)| *n == k)
                    .and_then(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let ranking = ranked.iter().find(|r| r.office_code == award.office_code);
            let metric =
                |name: &'static str| ranking.and_then(|r| field(name)(r)).unwrap_or_default();
            html.push_str(&format!(
                "<tr class=\"{award_class}\"><td>{award_name}</td><td>{name} ({code})</td><td>{score}</td><td>{change}</td><td>{eff}</td><td>{eff_med}</td><td>{red}</td><td>{red_med}</td></tr>\n",
                award_class = escape(&get("award")),
                award_name = escape(&get("award")),
                name = escape(&award.office_name),
                code = escape(&award.office_code),
                score = get("score"),
                change = get("score_change"),
                eff = metric("collection_efficiency_pct"),
                eff_med = efficiency_median,
                red = metric("arrears_reduction_pct"),
                red_med = reduction_median,
            ));
        }
        html.push_str("</table>\n");
        html.push_str(&bar_chart(&ranked));
    }
    html.push_str("</body></html>\n");
    html
}

/// A horizontal bar chart of scores, as inline SVG.
fn bar_chart(rows: &[RankingRow]) -> String {
    const BAR_HEIGHT: usize = 18;
    const CHART_ROWS_MAX: usize = 200;
    const LABEL_CHARS_MAX: usize = 44;
    let shown = &rows[..rows.len().min(CHART_ROWS_MAX)];
    let height = shown.len() * (BAR_HEIGHT + 4) + 10;
    let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"980\" height=\"{height}\" role=\"img\" aria-label=\"scores by office\">\n");
    for (i, row) in shown.iter().enumerate() {
        let record = row.to_record();
        let score: f64 = record
            .iter()
            .find(|(k, _)| *k == "score")
            .and_then(|(_, v)| v.as_deref())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let y = i * (BAR_HEIGHT + 4) + 5;
        let width = (score.clamp(0.0, 100.0) * 4.5) as usize;
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{ty}\" font-size=\"12\"><title>{full}</title>{name}</text><rect x=\"440\" y=\"{y}\" width=\"{width}\" height=\"{BAR_HEIGHT}\" fill=\"#3a7bd5\"/><text x=\"{tx}\" y=\"{ty}\" font-size=\"12\">{score:.2}</text>\n",
            ty = y + 13,
            full = escape(&row.office_name),
            name = escape(&short_name(&row.office_name, LABEL_CHARS_MAX)),
            tx = 445 + width,
        ));
    }
    svg.push_str("</svg>\n");
    if rows.len() > shown.len() {
        svg.push_str(&format!(
            "<p>The chart shows the first {} of {} ranked offices.</p>\n",
            shown.len(),
            rows.len()
        ));
    }
    svg
}

/// A name cut to `max` characters with an ellipsis, so a label never runs under its bar.
fn short_name(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        name.to_string()
    } else {
        format!("{}…", name.chars().take(max - 1).collect::<String>())
    }
}

fn report_date(engine: &vasooli_projections::Engine) -> NaiveDate {
    engine
        .world()
        .last_nightly
        .unwrap_or_else(|| chrono::Utc::now().date_naive())
}

pub fn campaign(cli: &Cli, office: &str) -> Outcome {
    let engine = open(cli)?;
    check_office(engine.world(), office).map_err(usage)?;
    let rows = reports::campaign(engine.world(), office, report_date(&engine));
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
    println!("\ncircle rankings for {period}:");
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
    let stdout = std::io::stdout();
    crate::output::write_records(
        &mut stdout.lock(),
        Format::Table,
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
    )?;
    Ok(())
}
