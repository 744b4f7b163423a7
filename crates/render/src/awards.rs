//! The awards report as one self-contained HTML page: winners per level with their metrics
//! beside the level's median, and a bar chart of scores (inline SVG, drawn with plotters).
//! Hindi names are written as UTF-8 text; nothing is loaded from another host.

use crate::escape;
use chrono::NaiveDate;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use vasooli_domain::period::Period;
use vasooli_domain::state::Office;
use vasooli_domain::types::Level;
use vasooli_domain::Policy;
use vasooli_projections::reports::{self, Award, AwardRow, RankingRow, Totals};

/// Hindi and English names of a level, for headings.
fn level_names(level: Level) -> (&'static str, &'static str) {
    match level {
        Level::Zone => ("क्षेत्र", "Zone"),
        Level::Circle => ("वृत्त", "Circle"),
        Level::Division => ("खंड", "Division"),
        Level::Subdivision => ("उपखंड", "Sub-division"),
    }
}

/// Hindi and English names of an award.
fn award_names(award: Award) -> (&'static str, &'static str) {
    match award {
        Award::Gold => ("स्वर्ण", "Gold"),
        Award::Silver => ("रजत", "Silver"),
        Award::Bronze => ("कांस्य", "Bronze"),
        Award::MostImproved => ("सर्वाधिक सुधार", "Most improved"),
    }
}

fn pct(value: Option<Decimal>) -> String {
    value.map(reports::format_pct).unwrap_or_else(|| "—".into())
}

/// The median of the values present, two decimals; empty when there are none.
fn median(values: impl Iterator<Item = Option<Decimal>>) -> String {
    let mut values: Vec<Decimal> = values.flatten().collect();
    values.sort();
    match values.len() {
        0 => String::new(),
        n if n % 2 == 1 => reports::format_pct(values[n / 2]),
        n => reports::format_pct((values[n / 2 - 1] + values[n / 2]) / Decimal::TWO),
    }
}

/// One self-contained page, from the offices and every subdivision's figures for `period`
/// (those the awards were made from): for each level the winners with their metrics beside
/// the level's median, and a bar chart of every ranked office's score with the medal winners marked. The
/// page says what the figures reflect: events dated up to `as_of` (the period's last day, or
/// an earlier date while the period is still open, when the report is marked provisional).
/// Labels are in Hindi and English; Hindi names are written as UTF-8 text.
pub fn awards_html(
    offices: &BTreeMap<String, Office>,
    policy: &Policy,
    period: Period,
    figures: &BTreeMap<String, Totals>,
    as_of: NaiveDate,
    awards: &[AwardRow],
) -> String {
    let through = as_of.min(period.last_day());
    let provisional = through < period.last_day();
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"hi\"><head><meta charset=\"utf-8\"><title>पुरस्कार / Awards {period}</title><style>\
body{{font-family:'Noto Sans Devanagari','Noto Sans',sans-serif;margin:2em;color:#222}}\
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #bbb;padding:4px 10px;text-align:left}}\
th{{background:#eee}}svg{{max-width:100%;height:auto}}td.code,td:nth-child(2){{white-space:nowrap}}.gold{{background:#f7e27e}}.silver{{background:#e3e3e3}}.bronze{{background:#e8c39e}}\
.provisional{{border:2px solid #b00;color:#b00;padding:.4em .8em;display:inline-block;font-weight:bold}}.note{{color:#444;font-size:.9em;max-width:60em}}\
</style></head><body>\n<h1>पुरस्कार / Awards — {period}</h1>\n<p>आँकड़े {through_hi} तक / Figures as of {through_en}</p>\n",
        through_hi = through.format("%d-%m-%Y"),
        through_en = through.format("%d-%m-%Y"),
    );
    if provisional {
        html.push_str(&format!(
            "<p class=\"provisional\">अनंतिम: अवधि {period} अभी समाप्त नहीं हुई / Provisional: the period {period} is not over</p>\n"
        ));
    }
    html.push_str(&score_note(policy));
    for level in [Level::Circle, Level::Division, Level::Subdivision] {
        let ranked = reports::rankings_from(offices, policy, period, level, figures);
        let (level_hi, level_en) = level_names(level);
        html.push_str(&format!(
            "<h2>{level_hi} / {level_en}</h2>\n<table><tr><th>पुरस्कार / award</th><th>कार्यालय / office</th><th>अंक / score</th><th>अंकों में परिवर्तन / score change</th><th>संग्रह दक्षता % / collection efficiency %</th><th>माध्यिका % / median %</th><th>बकाया में कमी % / arrears reduction %</th><th>माध्यिका % / median %</th></tr>\n"
        ));
        let efficiency_median = median(ranked.iter().map(|r| r.collection_efficiency_pct));
        let reduction_median = median(ranked.iter().map(|r| r.arrears_reduction_pct));
        for award in awards.iter().filter(|a| a.level == level) {
            let ranking = ranked.iter().find(|r| r.office_code == award.office_code);
            let (award_hi, award_en) = award_names(award.award);
            html.push_str(&format!(
                "<tr class=\"{award_class}\"><td>{award_hi} / {award_en}</td><td>{name} ({code})</td><td>{score}</td><td>{change}</td><td>{eff}</td><td>{eff_med}</td><td>{red}</td><td>{red_med}</td></tr>\n",
                award_class = award.award.as_str(),
                name = escape(&award.office_name),
                code = escape(&award.office_code),
                score = reports::format_pct(award.score),
                change = award.score_change.map(reports::format_pct).unwrap_or_default(),
                eff = pct(ranking.and_then(|r| r.collection_efficiency_pct)),
                eff_med = efficiency_median,
                red = pct(ranking.and_then(|r| r.arrears_reduction_pct)),
                red_med = reduction_median,
            ));
        }
        html.push_str("</table>\n");
        html.push_str(&bar_chart(&ranked, awards, level));
    }
    html.push_str("</body></html>\n");
    html
}

/// How the score is made, with the weights in force, in both languages.
fn score_note(policy: &Policy) -> String {
    let w = &policy.ranking.weights;
    format!(
        "<p class=\"note\">अंक = 100 × Σ(भार × मान) / Σ भार, केवल उपलब्ध मापों पर; प्रत्येक मान 0 से 100 प्रतिशत के बीच सीमित। \
भार: संग्रह दक्षता {ce}, बकाया में कमी {ar}, शिकायत निवारण {gr}, डिजिटल भुगतान {ds}, मोबाइल पंजीकरण {mc}। \
पदक श्रेणी 1 से 3 को; सर्वाधिक सुधार पिछली अवधि से सबसे अधिक अंक-वृद्धि (शून्य से अधिक) को।</p>\n\
<p class=\"note\">Score = 100 × Σ(weight × metric) / Σ weight over the metrics that have a value, each metric \
clamped to 0–100 per cent. Weights: collection efficiency {ce}, arrears reduction {ar}, grievance \
resolution {gr}, digital share {ds}, mobile coverage {mc}. Medals go to ranks 1 to 3; most improved to \
the largest gain in score over the previous period, when above zero.</p>\n",
        ce = w.collection_efficiency,
        ar = w.arrears_reduction,
        gr = w.grievance_resolution,
        ds = w.digital_share,
        mc = w.mobile_coverage,
    )
}

/// The most offices a chart shows; a longer ranking is cut, with a line saying so.
const CHART_ROWS_MAX: usize = 200;
/// Geometry of the chart, in SVG pixels: one row per office, the 0 to 100 scale, the room left
/// of it for the longest label, right of it for a score written at a bar's end, and above and
/// below it for the scale's numbers.
const CHART_ROW_HEIGHT: u32 = 22;
const CHART_SCALE_WIDTH: u32 = 360;
const CHART_LABEL_AREA_MAX: u32 = 400;
const CHART_LABEL_AREA_MIN: u32 = 120;
/// The tick marks at the labels, and the room between a label's end and the axis: plotters
/// leaves twice a tick's length.
const CHART_LABEL_TICK: i32 = 6;
const CHART_LABEL_GAP: u32 = 2 * CHART_LABEL_TICK as u32 + 2;
const CHART_SCORE_ROOM: u32 = 50;
const CHART_AXIS_AREA: u32 = 24;
const CHART_MARGIN: u32 = 6;
/// The size of the chart's text as the browser draws it, in pixels.
const CHART_FONT_PX: f64 = 12.0;
/// Fonts for the chart's text, as a CSS list: the same faces as the page.
const CHART_FONT_FAMILY: &str = "Noto Sans Devanagari, Noto Sans, sans-serif";
const CHART_BAR_COLOUR: RGBColor = RGBColor(0x3a, 0x7b, 0xd5);
const CHART_GOLD_COLOUR: RGBColor = RGBColor(0xd4, 0xa0, 0x17);
const CHART_SILVER_COLOUR: RGBColor = RGBColor(0x9a, 0x9a, 0x9a);
const CHART_BRONZE_COLOUR: RGBColor = RGBColor(0xb0, 0x6a, 0x2b);
const CHART_GRID_COLOUR: RGBColor = RGBColor(0xcc, 0xcc, 0xcc);
const CHART_TEXT_COLOUR: RGBColor = RGBColor(0x22, 0x22, 0x22);

/// A horizontal bar chart of a level's scores, one bar per ranked office in rank order, the
/// medal winners' bars in their medal's colour and the most improved office's label starred.
fn bar_chart(rows: &[RankingRow], awards: &[AwardRow], level: Level) -> String {
    let award_of = |code: &str, wanted: &dyn Fn(Award) -> bool| {
        awards
            .iter()
            .find(|a| a.level == level && a.office_code == code && wanted(a.award))
            .map(|a| a.award)
    };
    let entries: Vec<ChartEntry> = rows
        .iter()
        .map(|r| ChartEntry {
            name: if award_of(&r.office_code, &|a| a == Award::MostImproved).is_some() {
                format!("★ {}", r.office_name)
            } else {
                r.office_name.clone()
            },
            score: r.score.to_f64().unwrap_or(0.0),
            medal: award_of(&r.office_code, &|a| a != Award::MostImproved),
        })
        .collect();
    score_chart(&entries)
}

/// One bar of the chart.
struct ChartEntry {
    name: String,
    score: f64,
    medal: Option<Award>,
}

impl ChartEntry {
    fn colour(&self) -> RGBColor {
        match self.medal {
            Some(Award::Gold) => CHART_GOLD_COLOUR,
            Some(Award::Silver) => CHART_SILVER_COLOUR,
            Some(Award::Bronze) => CHART_BRONZE_COLOUR,
            _ => CHART_BAR_COLOUR,
        }
    }
}

/// The chart of `(office name, score)` in rank order, as inline SVG drawn by plotters, with a
/// line under it when the ranking is longer than the chart. Scores run 0 to 100; each bar has
/// its name, shortened to fit, on the left and its score at its end. Names and numbers are SVG
/// text, so the browser shapes the Devanagari with the page's fonts.
fn score_chart(entries: &[ChartEntry]) -> String {
    let shown = &entries[..entries.len().min(CHART_ROWS_MAX)];
    if shown.is_empty() {
        return "<p>No office is ranked at this level.</p>\n".to_string();
    }
    let mut html = match draw_score_chart(shown) {
        Ok(svg) => svg,
        Err(e) => format!("<p>The chart could not be drawn: {}</p>\n", escape(&e)),
    };
    if entries.len() > shown.len() {
        html.push_str(&format!(
            "<p>The chart shows the first {} of {} ranked offices.</p>\n",
            shown.len(),
            entries.len()
        ));
    }
    html
}

/// The SVG of `score_chart`, for at most `CHART_ROWS_MAX` entries.
fn draw_score_chart(entries: &[ChartEntry]) -> Result<String, String> {
    let n = entries.len();
    let (labels, label_area) = chart_labels(entries);
    let width = 2 * CHART_MARGIN + label_area + CHART_SCALE_WIDTH + CHART_SCORE_ROOM;
    let height = n as u32 * CHART_ROW_HEIGHT + 2 * (CHART_AXIS_AREA + CHART_MARGIN);
    // The y axis counts tenths of a row from the bottom; row i (rank order, best first) is
    // centred at 10(n - i) - 5, so the best office is on top.
    let centre = |i: usize| 10 * (n - i) as i32 - 5;
    let row_at = |y: i32| {
        usize::try_from((y + 5) / 10)
            .ok()
            .and_then(|k| n.checked_sub(k))
    };
    // plotters writes a font size of `size / 1.24` into the SVG.
    let font = (CHART_FONT_FAMILY, CHART_FONT_PX * 1.24)
        .into_font()
        .color(&CHART_TEXT_COLOUR);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .margin(CHART_MARGIN)
            .margin_right(CHART_MARGIN + CHART_SCORE_ROOM)
            .set_label_area_size(LabelAreaPosition::Top, CHART_AXIS_AREA)
            .set_label_area_size(LabelAreaPosition::Bottom, CHART_AXIS_AREA)
            .set_label_area_size(LabelAreaPosition::Left, label_area)
            .build_cartesian_2d(
                0f64..100f64,
                (0..10 * n as i32).with_key_points((0..n).map(centre).collect()),
            )
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .set_tick_mark_size(LabelAreaPosition::Left, CHART_LABEL_TICK)
            .x_labels(11)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| {
                row_at(*y)
                    .and_then(|i| labels.get(i))
                    .cloned()
                    .unwrap_or_default()
            })
            .label_style(font.clone())
            .axis_style(CHART_TEXT_COLOUR)
            .bold_line_style(CHART_GRID_COLOUR)
            .light_line_style(TRANSPARENT)
            .draw()
            .map_err(|e| e.to_string())?;
        draw_bars(&mut chart, entries, centre, &font)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg.replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"scores by office\" ",
        1,
    ))
}

/// Each entry's bar, centred on its row, with its score at the bar's end.
fn draw_bars<DB: DrawingBackend, CT: CoordTranslate<From = (f64, i32)>>(
    chart: &mut ChartContext<'_, DB, CT>,
    entries: &[ChartEntry],
    centre: impl Fn(usize) -> i32,
    font: &TextStyle<'_>,
) -> Result<(), String> {
    let bar_end = |score: f64| score.clamp(0.0, 100.0);
    chart
        .draw_series(entries.iter().enumerate().map(|(i, entry)| {
            let y = centre(i);
            Rectangle::new(
                [(0.0, y - 4), (bar_end(entry.score), y + 4)],
                entry.colour().filled(),
            )
        }))
        .map_err(|e| e.to_string())?;
    let score_font = font.pos(Pos::new(HPos::Left, VPos::Center));
    chart
        .draw_series(entries.iter().enumerate().map(|(i, entry)| {
            EmptyElement::at((bar_end(entry.score), centre(i)))
                + Text::new(format!("{:.2}", entry.score), (4, 0), score_font.clone())
        }))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// The offices' names as the chart labels them (shortened to fit the widest label area),
/// and the width of the label area that fits the widest of them.
fn chart_labels(entries: &[ChartEntry]) -> (Vec<String>, u32) {
    let room_em = f64::from(CHART_LABEL_AREA_MAX - CHART_LABEL_GAP) / CHART_FONT_PX;
    let labels: Vec<String> = entries
        .iter()
        .map(|e| short_label(&e.name, room_em))
        .collect();
    let widest_px = labels
        .iter()
        .map(|l| text_width_em(l) * CHART_FONT_PX)
        .fold(0.0, f64::max);
    let label_area = (widest_px.ceil() as u32 + CHART_LABEL_GAP)
        .clamp(CHART_LABEL_AREA_MIN, CHART_LABEL_AREA_MAX);
    (labels, label_area)
}

/// Width of a text in ems, by `char_width_em`.
fn text_width_em(text: &str) -> f64 {
    text.chars().map(char_width_em).sum()
}

/// Width of a character in ems, estimated on the wide side for the sans-serif faces a browser
/// picks. Devanagari combining signs (virama, nukta, the vowel signs above and below) add
/// nothing; the vowel signs written beside a letter add a little.
fn char_width_em(c: char) -> f64 {
    match c {
        '\u{0900}'..='\u{0902}'
        | '\u{093A}'
        | '\u{093C}'
        | '\u{0941}'..='\u{0948}'
        | '\u{094D}'
        | '\u{0951}'..='\u{0957}'
        | '\u{0962}'..='\u{0963}'
        | '\u{200C}'..='\u{200D}' => 0.0,
        '\u{0903}' | '\u{093B}' | '\u{093E}'..='\u{0940}' | '\u{0949}'..='\u{094C}' => 0.32,
        '\u{094E}'..='\u{094F}' => 0.32,
        '\u{0900}'..='\u{097F}' => 0.75,
        ' ' => 0.3,
        'i' | 'j' | 'l' | 'I' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' => 0.3,
        '(' | ')' | '[' | ']' | '-' | '/' | 'f' | 't' | 'r' => 0.4,
        'm' | 'w' | 'M' | 'W' => 0.95,
        'A'..='Z' => 0.72,
        'a'..='z' | '0'..='9' => 0.6,
        _ => 1.0,
    }
}

/// True where a label may be cut before `next`: not inside a Devanagari cluster (before a
/// combining sign, or after a virama or joiner).
fn cut_allowed(previous: Option<char>, next: char) -> bool {
    let joins_next = matches!(previous, Some('\u{094D}' | '\u{200C}' | '\u{200D}'));
    let attaches = matches!(next, '\u{0900}'..='\u{0903}' | '\u{093A}'..='\u{094F}' | '\u{0951}'..='\u{0957}' | '\u{0962}'..='\u{0963}' | '\u{200C}'..='\u{200D}');
    !joins_next && !attaches
}

/// A label no wider than `room_em`: the whole name when it fits, else its longest start that
/// fits with an ellipsis, cut between letters (never inside a Devanagari cluster) and without a
/// dangling space or bracket.
fn short_label(name: &str, room_em: f64) -> String {
    if text_width_em(name) <= room_em {
        return name.to_string();
    }
    let room = room_em - char_width_em('…');
    let mut width = 0.0;
    let mut cut = 0;
    let mut previous = None;
    for (at, c) in name.char_indices() {
        if cut_allowed(previous, c) {
            cut = at;
        }
        width += char_width_em(c);
        if width > room {
            break;
        }
        previous = Some(c);
    }
    let start = name[..cut].trim_end_matches([' ', '(', '[', '-', '/', ',']);
    format!("{start}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use vasooli_demo::{Generator, GeneratorConfig};
    use vasooli_engine::{Engine, Input};

    /// The contents of the `<text>` elements of `svg` with the given anchor, in order.
    fn texts<'a>(svg: &'a str, anchor: &str) -> Vec<&'a str> {
        let anchor = format!("text-anchor=\"{anchor}\"");
        svg.split("<text ")
            .skip(1)
            .filter(|t| t[..t.find('>').unwrap()].contains(&anchor))
            .map(|t| t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()].trim())
            .collect()
    }

    /// Bars in any of the chart's bar colours (plain, gold, silver, bronze).
    fn bars(svg: &str) -> usize {
        ["#3A7BD5", "#D4A017", "#9A9A9A", "#B06A2B"]
            .iter()
            .map(|colour| svg.matches(&format!("fill=\"{colour}\"")).count())
            .sum()
    }

    /// `label` is `name`, or a start of it followed by an ellipsis.
    fn labels(label: &str, name: &str) -> bool {
        // The most improved office's label starts with a star.
        let label = label.strip_prefix("★ ").unwrap_or(label);
        label == name
            || label
                .strip_suffix('…')
                .is_some_and(|start| !start.is_empty() && name.starts_with(start))
    }

    #[test]
    fn the_awards_chart_has_a_labelled_bar_per_ranked_office() {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = Engine::open(dir.path(), Policy::default()).unwrap();
        let generator = Generator::new(GeneratorConfig {
            consumers: 600,
            months: 2,
            seed: 7,
            ..GeneratorConfig::default()
        });
        generator
            .for_each_batch(100_000, &mut |commands| {
                let inputs = commands
                    .into_iter()
                    .map(|c| Input {
                        location: "test".into(),
                        command: Ok(c),
                    })
                    .collect();
                engine
                    .execute(inputs)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
            .unwrap();
        let last = *generator.month_ends().last().unwrap();
        engine.nightly(last).unwrap();
        let period = Period::month_of(last);
        let awards = reports::awards(engine.world(), engine.policy(), period);
        let figures = reports::subdivision_figures(engine.world(), engine.policy(), period);
        let html = awards_html(
            &engine.world().offices,
            engine.policy(),
            period,
            &figures,
            last,
            &awards,
        );
        let charts: Vec<&str> = html
            .split("<svg ")
            .skip(1)
            .map(|c| &c[..c.find("</svg>").unwrap()])
            .collect();
        assert_eq!(charts.len(), 3, "a chart per level");
        for (chart, level) in
            charts
                .iter()
                .zip([Level::Circle, Level::Division, Level::Subdivision])
        {
            let ranked = reports::rankings(engine.world(), engine.policy(), period, level);
            assert!(
                !ranked.is_empty() && ranked.len() <= CHART_ROWS_MAX,
                "{level}"
            );
            assert_eq!(bars(chart), ranked.len(), "one bar per office at {level}");
            let names = texts(chart, "end");
            assert_eq!(names.len(), ranked.len(), "one label per bar at {level}");
            for (label, row) in names.iter().zip(&ranked) {
                assert!(
                    labels(label, &row.office_name),
                    "{label} for {}",
                    row.office_name
                );
            }
            let scores = texts(chart, "start");
            assert_eq!(scores.len(), ranked.len(), "a score per bar at {level}");
            for (text, row) in scores.iter().zip(&ranked) {
                assert_eq!(*text, reports::format_pct(row.score));
            }
        }
        assert!(html.contains("वृत्त"), "Hindi names as text");
        assert!(!html.contains("&#"), "no character references");
        assert!(
            !html.contains("src=") && !html.contains("href=") && !html.contains("url("),
            "nothing loaded"
        );
    }

    #[test]
    fn a_long_ranking_shows_200_offices_with_labels_that_fit() {
        let names: Vec<String> = (0..250)
            .map(|i| {
                format!(
                    "रुद्रपुर उत्तर-पश्चिम ग्रामीण विद्युत वितरण उपखंड {i} (Rudrapur North-West Rural Electricity Distribution Subdivision {i})"
                )
            })
            .collect();
        let entries: Vec<ChartEntry> = names
            .iter()
            .enumerate()
            .map(|(i, n)| ChartEntry {
                name: n.clone(),
                score: 100.0 - i as f64 * 0.4,
                medal: None,
            })
            .collect();
        let html = score_chart(&entries);
        assert_eq!(bars(&html), 200);
        let shown = texts(&html, "end");
        assert_eq!(shown.len(), 200);
        let room = f64::from(CHART_LABEL_AREA_MAX - CHART_LABEL_GAP) / CHART_FONT_PX;
        for (label, name) in shown.iter().zip(&names) {
            assert!(labels(label, name) && label.ends_with('…'), "{label}");
            assert!(text_width_em(label) <= room, "{label}");
        }
        assert!(html.contains("The chart shows the first 200 of 250 ranked offices."));
        assert!(html.contains("100.00") && html.contains("20.40"));
    }

    #[test]
    fn labels_are_cut_between_letters_never_inside_a_devanagari_cluster() {
        let name = "हरिद्वार द्वितीय क्षेत्रीय उपखंड (Haridwar)";
        assert_eq!(short_label(name, 100.0), name);
        for room in 1..30 {
            let label = short_label(name, f64::from(room) / 2.0);
            let start = label.strip_suffix('…').unwrap();
            assert!(name.starts_with(start));
            assert!(text_width_em(&label) <= f64::from(room) / 2.0 || start.is_empty());
            let next = name[start.len()..].chars().next().unwrap();
            assert!(
                cut_allowed(start.chars().last(), next),
                "{label} splits a cluster"
            );
            assert!(!start.ends_with(' ') && !start.ends_with('('), "{label}");
        }
    }

    #[test]
    fn scores_outside_0_to_100_keep_their_bars_on_the_scale() {
        let entry = |name: &str, score: f64| ChartEntry {
            name: name.to_string(),
            score,
            medal: None,
        };
        let html = score_chart(&[entry("A", 120.0), entry("B", -5.0), entry("C", 50.0)]);
        assert_eq!(bars(&html), 3);
        assert!(html.contains("120.00") && html.contains("-5.00"));
        assert!(score_chart(&[]).contains("No office is ranked"));
    }
}
