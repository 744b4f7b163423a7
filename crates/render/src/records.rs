//! Writes records as a table for people, CSV (RFC 4180, optional BOM for Excel) or JSON.

use serde_json::{Map, Value};
use std::io::Write;

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
}

/// How records are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    /// One self-contained HTML file; only `awards` writes it.
    Html,
}

pub type Record = Vec<(&'static str, Option<String>)>;

pub fn write_records(
    out: &mut dyn Write,
    format: Format,
    excel: bool,
    columns: &[&str],
    records: &[Record],
) -> Result<(), WriteError> {
    match format {
        Format::Html => return Err(WriteError::HtmlNotForRecords),
        Format::Csv => {
            if excel {
                out.write_all("\u{feff}".as_bytes())?;
            }
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record(columns)?;
            for record in records {
                writer.write_record(record.iter().map(|(_, v)| v.as_deref().unwrap_or("")))?;
            }
            writer.flush()?;
        }
        Format::Json => {
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
        }
        Format::Table => {
            let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
            for record in records {
                for (i, (_, v)) in record.iter().enumerate() {
                    if let Some(w) = widths.get_mut(i) {
                        *w = (*w).max(v.as_deref().unwrap_or("").chars().count());
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
            for record in records {
                writeln!(
                    out,
                    "{}",
                    line(
                        record
                            .iter()
                            .map(|(_, v)| v.as_deref().unwrap_or(""))
                            .collect()
                    )
                )?;
            }
            if records.is_empty() {
                writeln!(out, "(no rows)")?;
            }
        }
    }
    Ok(())
}
