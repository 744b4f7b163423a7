//! Rendering: everything that turns read models into what people read or download. Records as
//! a table, CSV or JSON ([`records`]); printable notices ([`notices`]); the awards report with
//! its chart ([`awards`]). Nothing here decides anything: it is given rows and writes text.

pub mod awards;
pub mod notices;
pub mod records;
pub mod upi;
pub mod words;
pub mod xlsx;

pub use records::{write_records, write_sheet, Format, Record, WriteError};

/// Text made safe to place in HTML content or a double-quoted attribute.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
