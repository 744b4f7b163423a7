//! Reading an import file (`vasooli import KIND FILE`, `POST /api/v1/import/{kind}`): the
//! header checked against the kind's columns, then each row turned into the kind's command,
//! located by its physical line, streamed so that a file's rows are never all in memory. The
//! CLI's import and the API's read files through this one reader.

use crate::command::{
    header_problems, import_columns, import_command_type, FieldError, HeaderProblem, LineBreaks,
};
use crate::Command;
use std::io::Read;
use std::sync::{Arc, Mutex, PoisonError};

/// Why an import file's header is refused.
#[derive(Debug)]
pub enum HeaderFault {
    /// The import kind is not one of offices, consumers, bills, payments, mobiles.
    UnknownKind,
    /// The header line itself could not be read as CSV.
    Unreadable(csv::Error),
    /// Columns missing, unknown or named twice.
    Columns(Vec<HeaderProblem>),
}

/// One row of an import file.
#[derive(Debug)]
pub struct CsvRow {
    /// Its physical line (the header is line 1).
    pub line: u64,
    /// The command the row makes, or why it makes none; a record that is not valid CSV (a
    /// wrong field count, invalid UTF-8) is an error on the field `""`.
    pub command: Result<Command, Vec<FieldError>>,
    /// The record itself is not valid CSV.
    pub malformed: bool,
    /// The record's cells by column name, as JSON strings: with the command's type, the JSON
    /// object that makes the same command. Empty when the record is malformed, and unless
    /// the rows were opened with [`CsvRows::keeping_fields`] (the command is read from the
    /// record itself).
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// The rows of an import file as commands, in file order.
pub struct CsvRows<R: Read> {
    reader: csv::Reader<LineCounting<R>>,
    lines: LineIndex,
    headers: Vec<String>,
    command_type: &'static str,
    record: csv::StringRecord,
    stopped: bool,
    /// Whether each row carries its cells as a JSON object too ([`CsvRow::fields`]).
    keep_fields: bool,
}

impl<R: Read> CsvRows<R> {
    /// Reads and checks the header of an import file of `kind`.
    pub fn open(kind: &str, input: R) -> Result<CsvRows<R>, HeaderFault> {
        let command_type = import_command_type(kind).ok_or(HeaderFault::UnknownKind)?;
        let lines = LineIndex::default();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(LineCounting {
                inner: input,
                index: lines.clone(),
            });
        let headers: Vec<String> = reader
            .headers()
            .map_err(HeaderFault::Unreadable)?
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
            .collect();
        let problems = header_problems(kind, &headers);
        if !problems.is_empty() {
            return Err(HeaderFault::Columns(problems));
        }
        Ok(CsvRows {
            reader,
            lines,
            headers,
            command_type,
            record: csv::StringRecord::new(),
            stopped: false,
            keep_fields: false,
        })
    }

    /// Makes every row carry its cells as a JSON object ([`CsvRow::fields`]), for a caller
    /// that passes the rows on as JSON.
    pub fn keeping_fields(mut self) -> CsvRows<R> {
        self.keep_fields = true;
        self
    }
}

impl<R: Read> Iterator for CsvRows<R> {
    type Item = CsvRow;

    fn next(&mut self) -> Option<CsvRow> {
        if self.stopped {
            return None;
        }
        match self.reader.read_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => {
                let line = self
                    .record
                    .position()
                    .map_or(0, |p| self.lines.line_of(p.byte()));
                let mut fields = serde_json::Map::new();
                if self.keep_fields {
                    for (header, value) in self.headers.iter().zip(self.record.iter()) {
                        fields.insert(header.clone(), serde_json::Value::String(value.to_string()));
                    }
                }
                Some(CsvRow {
                    line,
                    command: Command::from_record(self.command_type, &self.headers, &self.record),
                    malformed: false,
                    fields,
                })
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| self.lines.line_of(p.byte()));
                // A read error ends the file; a malformed record does not.
                self.stopped = e.is_io_error();
                Some(CsvRow {
                    line,
                    command: Err(vec![FieldError::new("", csv_reason(&e))]),
                    malformed: true,
                    fields: serde_json::Map::new(),
                })
            }
        }
    }
}

/// A CSV fault in words: a row's field count against the header's, invalid UTF-8.
pub fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("has {len} fields, the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8".to_string(),
        _ => e.to_string(),
    }
}

/// The columns an import kind's file has, for a message about its header.
pub fn columns_of(kind: &str) -> String {
    import_columns(kind).unwrap_or_default().join(",")
}

/// The line breaks of the input read so far, shared between the reader and the rows (and
/// `Send`, so that a file may be parsed on a thread of its own).
#[derive(Clone, Default)]
struct LineIndex(Arc<Mutex<LineBreaks>>);

impl LineIndex {
    fn breaks(&self) -> std::sync::MutexGuard<'_, LineBreaks> {
        // Only ever held for one call that cannot panic half-way through a change.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The line of the record at `offset`; the rows come in order, so the breaks before it
    /// are no longer needed.
    fn line_of(&self, offset: u64) -> u64 {
        let mut breaks = self.breaks();
        let line = breaks.line_of(offset);
        breaks.forget_before(offset);
        line
    }
}

struct LineCounting<R> {
    inner: R,
    index: LineIndex,
}

impl<R: Read> Read for LineCounting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.index.breaks().push(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_carry_their_physical_lines_and_bad_records_are_rows_too() {
        let text = "bill_no,account_no,period,issued_on,due_on,amount\r\nB1,A1,2026-07,2026-07-05,2026-07-20,1200.00\r\n\r\n\"B2\",A1,2026-08,2026-08-05,2026-08-20\r\nB3,A1,2026-09,2026-09-05,2026-09-20,abc\r\n";
        let rows: Vec<CsvRow> = CsvRows::open("bills", text.as_bytes()).unwrap().collect();
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 4, 5]);
        assert!(rows[0].command.is_ok());
        assert!(rows[1].malformed);
        let errors = rows[1].command.as_ref().unwrap_err();
        assert_eq!(errors[0].reason, "has 5 fields, the header has 6");
        assert!(!rows[2].malformed);
        assert_eq!(rows[2].command.as_ref().unwrap_err()[0].field, "amount");
    }

    #[test]
    fn a_header_with_missing_or_unknown_columns_is_refused() {
        let Err(HeaderFault::Columns(problems)) =
            CsvRows::open("payments", "receipt_no,account_no,colour\n".as_bytes())
        else {
            panic!("accepted");
        };
        assert!(!problems.is_empty());
        assert!(matches!(
            CsvRows::open("widgets", "a\n".as_bytes()),
            Err(HeaderFault::UnknownKind)
        ));
    }
}
