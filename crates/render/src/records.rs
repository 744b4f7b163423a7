//! Writes records as a table for people, CSV (RFC 4180, optional BOM for Excel) or JSON.

use serde_json::{Map, Value};
use std::borrow::Cow;
use std::io::Write;

/// A CSV cell safe to open in a spreadsheet. Text that begins with `=`, `+`, `-`, `@`, a tab
/// or a carriage return would be read as a formula, so it gets a leading `'` that shows it as
/// text. A plain number (`-120.00`, an advance) is left as it is: it cannot run anything, and
/// amounts must stay numbers.
pub fn csv_cell(text: &str) -> CsvCell<'_> {
    let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && !is_plain_number(text) {
        CsvCell(Cow::Owned(format!("'{text}")))
    } else {
        CsvCell(Cow::Borrowed(text))
    }
}

/// A cell as [`csv_cell`] makes it, ready for a CSV writer.
#[derive(Debug, PartialEq, Eq)]
pub struct CsvCell<'a>(pub Cow<'a, str>);

impl AsRef<[u8]> for CsvCell<'_> {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// `-120.00`, `+5`, `42`: an optional sign, digits, and optionally a point and digits.
fn is_plain_number(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(whole) && all_digits(fraction)
}

/// Why records could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Csv(#[from] csv::Error),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("--format html is only for `awards`")]
    HtmlNotForRecords,
    #[error("writing the workbook: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
}

/// How records are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    /// One self-contained HTML file; only `awards` writes it.
    Html,
    /// An Excel workbook of one sheet ([`crate::xlsx`]).
    Xlsx,
}

pub type Record = Vec<(&'static str, Option<String>)>;

/// Records as an Excel workbook whose one sheet is named `sheet`.
pub fn write_sheet(
    out: &mut dyn Write,
    sheet: &str,
    columns: &[&str],
    records: &[Record],
) -> Result<(), WriteError> {
    out.write_all(&crate::xlsx::xlsx_bytes(sheet, columns, records)?)?;
    Ok(())
}

pub fn write_records(
    out: &mut dyn Write,
    format: Format,
    excel: bool,
    columns: &[&str],
    records: &[Record],
) -> Result<(), WriteError> {
    match format {
        Format::Html => return Err(WriteError::HtmlNotForRecords),
        Format::Xlsx => write_sheet(out, "list", columns, records)?,
        Format::Csv => write_csv(out, excel, columns, records)?,
        Format::Json => write_json(out, records)?,
        Format::Table => write_table(out, columns, records)?,
    }
    Ok(())
}

fn write_csv(
    out: &mut dyn Write,
    excel: bool,
    columns: &[&str],
    records: &[Record],
) -> Result<(), WriteError> {
    if excel {
        out.write_all("\u{feff}".as_bytes())?;
    }
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(columns)?;
    for record in records {
        writer.write_record(
            record
                .iter()
                .map(|(_, v)| csv_cell(v.as_deref().unwrap_or(""))),
        )?;
    }
    writer.flush()?;
    Ok(())
}

fn write_json(out: &mut dyn Write, records: &[Record]) -> Result<(), WriteError> {
    let array: Vec<Value> = records
        .iter()
        .map(|record| {
            let mut object = Map::new();
            for (key, value) in record {
                object.insert(
                    key.to_string(),
                    value.clone().map_or(Value::Null, Value::String),
                );
            }
            Value::Object(object)
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &Value::Array(array))?;
    writeln!(out)?;
    Ok(())
}

/// Cells keep the plain figures CSV has, so that a table and a CSV of the same list can be
/// compared; the nightly summary and printed papers use `words`.
fn write_table(
    out: &mut dyn Write,
    columns: &[&str],
    records: &[Record],
) -> Result<(), WriteError> {
    let shown: Vec<Vec<String>> = records
        .iter()
        .map(|record| {
            record
                .iter()
                .map(|(_, v)| v.as_deref().unwrap_or("").to_string())
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for record in &shown {
        for (i, v) in record.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(v.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w.saturating_sub(c.chars().count()))))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    writeln!(out, "{}", line(columns.to_vec()))?;
    for record in &shown {
        writeln!(out, "{}", line(record.iter().map(String::as_str).collect()))?;
    }
    if records.is_empty() {
        writeln!(out, "(no rows)")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn formula_text_is_quoted_and_numbers_are_not() {
        for (cell, expected) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+91 98", "'+91 98"),
            ("-cmd", "'-cmd"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("-120.00", "-120.00"),
            ("+5", "+5"),
            ("-", "'-"),
            ("-1.", "'-1."),
            ("Asha", "Asha"),
            ("", ""),
            ("2026-08-10", "2026-08-10"),
        ] {
            assert_eq!(csv_cell(cell).0, expected, "{cell:?}");
        }
    }
}
