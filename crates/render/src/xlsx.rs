//! Records as an Excel workbook: one sheet named for the list, the header row frozen and
//! filterable, Hindi text as it is, amounts as numbers shown with ₹ and Indian grouping,
//! percentages and counts as numbers, dates as dates. The cells hold what the CSV holds, so a
//! sum in Excel equals the CSV's.

use crate::records::Record;
use chrono::NaiveDate;
use rust_xlsxwriter::{ExcelDateTime, Format, FormatAlign, Workbook, XlsxError};

/// ₹ with Indian digit grouping (1,23,45,678.00): Excel's own grouping is by thousands, so
/// lakhs and crores are spelled out as conditions.
const RUPEES: &str =
    r###"[>=10000000]"₹"##\,##\,##\,##0.00;[>=100000]"₹"##\,##\,##0.00;"₹"#,##0.00"###;
const PERCENT: &str = "0.00";
const COUNT: &str = "0";
const DATE: &str = "dd-mm-yyyy";
/// Longest sheet name Excel accepts.
const SHEET_NAME_CHARS_MAX: usize = 31;

/// What a column holds, read from its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Rupees,
    Percent,
    Count,
    Date,
    Text,
}

fn kind_of(column: &str) -> Kind {
    const RUPEES_COLUMNS: &[&str] = &[
        "billed",
        "collected",
        "debit",
        "credit",
        "balance",
        "unpaid",
        "amount",
        "deposit",
        "surcharge_levied",
    ];
    const COUNT_COLUMNS: &[&str] = &[
        "rank",
        "days_overdue",
        "parts",
        "attempts",
        // The nightly summary's counts.
        "events_read",
        "events_appended",
        "surcharges",
        "notices",
        "cases_closed",
        "plans_broken",
        "sms_queued",
        "elapsed_ms",
    ];
    const DATE_COLUMNS: &[&str] = &["date", "as_of", "counted_from"];
    if RUPEES_COLUMNS.contains(&column)
        || column.ends_with("_arrears")
        || column.ends_with("_amount")
        || column.ends_with("_billed")
        || column.ends_with("_collected")
    {
        Kind::Rupees
    } else if column.ends_with("_pct") || column == "score" {
        Kind::Percent
    } else if COUNT_COLUMNS.contains(&column)
        || column.ends_with("_consumers")
        || column == "consumers"
        || column.ends_with("_count")
    {
        Kind::Count
    } else if DATE_COLUMNS.contains(&column) || column.ends_with("_on") {
        Kind::Date
    } else {
        Kind::Text
    }
}

/// A sheet name Excel accepts: no `[]:*?/\`, at most 31 characters, not empty.
fn sheet_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| match c {
            '[' | ']' | ':' | '*' | '?' | '/' | '\\' => ' ',
            c => c,
        })
        .take(SHEET_NAME_CHARS_MAX)
        .collect();
    match cleaned.trim() {
        "" => "list".to_string(),
        name => name.to_string(),
    }
}

/// The workbook's bytes: one sheet `sheet` with `columns` as its header and one row per
/// record. A value a numeric or date column cannot read stays text.
pub fn xlsx_bytes(sheet: &str, columns: &[&str], records: &[Record]) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let worksheet = workbook.add_worksheet();
    worksheet.set_name(sheet_name(sheet))?;
    let header = Format::new().set_bold().set_align(FormatAlign::Center);
    let formats = [
        (Kind::Rupees, Format::new().set_num_format(RUPEES)),
        (Kind::Percent, Format::new().set_num_format(PERCENT)),
        (Kind::Count, Format::new().set_num_format(COUNT)),
        (Kind::Date, Format::new().set_num_format(DATE)),
    ];
    let format_of = |kind: Kind| formats.iter().find(|(k, _)| *k == kind).map(|(_, f)| f);
    let kinds: Vec<Kind> = columns.iter().map(|c| kind_of(c)).collect();
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for (col, name) in columns.iter().enumerate() {
        worksheet.write_string_with_format(0, col as u16, *name, &header)?;
    }
    for (index, record) in records.iter().enumerate() {
        let row = index as u32 + 1;
        for (col, column) in columns.iter().enumerate() {
            let Some(Some(text)) = record.iter().find(|(k, _)| k == column).map(|(_, v)| v) else {
                continue;
            };
            let c = col as u16;
            widths[col] = widths[col].max(text.chars().count());
            let kind = kinds[col];
            match (kind, format_of(kind)) {
                (Kind::Rupees | Kind::Percent | Kind::Count, Some(format)) => {
                    match text.parse::<f64>() {
                        Ok(number) => worksheet.write_number_with_format(row, c, number, format)?,
                        Err(_) => worksheet.write_string(row, c, text)?,
                    };
                }
                (Kind::Date, Some(format)) => {
                    match NaiveDate::parse_from_str(text, "%Y-%m-%d")
                        .ok()
                        .and_then(excel_date)
                    {
                        Some(date) => {
                            worksheet.write_datetime_with_format(row, c, &date, format)?
                        }
                        None => worksheet.write_string(row, c, text)?,
                    };
                }
                _ => {
                    worksheet.write_string(row, c, text)?;
                }
            }
        }
    }
    for (col, width) in widths.iter().enumerate() {
        worksheet.set_column_width(col as u16, (*width).clamp(8, 60) as f64 + 2.0)?;
    }
    worksheet.set_freeze_panes(1, 0)?;
    if !columns.is_empty() {
        worksheet.autofilter(0, 0, records.len() as u32, columns.len() as u16 - 1)?;
    }
    workbook.save_to_buffer()
}

fn excel_date(date: NaiveDate) -> Option<ExcelDateTime> {
    use chrono::Datelike;
    ExcelDateTime::from_ymd(date.year() as u16, date.month() as u8, date.day() as u8).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_typed_by_name() {
        assert_eq!(kind_of("overdue_arrears"), Kind::Rupees);
        assert_eq!(kind_of("last_payment_amount"), Kind::Rupees);
        assert_eq!(kind_of("collection_efficiency_pct"), Kind::Percent);
        assert_eq!(kind_of("days_overdue"), Kind::Count);
        assert_eq!(kind_of("oldest_due_on"), Kind::Date);
        assert_eq!(kind_of("account_no"), Kind::Text);
        // The nightly summary: rupees, counts and its dates.
        assert_eq!(kind_of("surcharge_levied"), Kind::Rupees);
        assert_eq!(kind_of("notice_issued_arrears"), Kind::Rupees);
        assert_eq!(kind_of("notice_issued_consumers"), Kind::Count);
        assert_eq!(kind_of("events_appended"), Kind::Count);
        assert_eq!(kind_of("as_of"), Kind::Date);
        assert_eq!(kind_of("counted_from"), Kind::Date);
        assert_eq!(kind_of("mobile_registered"), Kind::Text);
    }

    #[test]
    fn sheet_names_are_ones_excel_takes() {
        assert_eq!(sheet_name("worklist serve_notice"), "worklist serve_notice");
        assert_eq!(sheet_name("a/b:c"), "a b c");
        assert_eq!(sheet_name(&"x".repeat(40)).chars().count(), 31);
        assert_eq!(sheet_name(""), "list");
    }
}
