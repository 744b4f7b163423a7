//! Figures as people read them: rupees with ₹ and Indian digit grouping (lakh and crore), and
//! dates as DD-MM-YYYY. Tables and printed pages use these; CSV and JSON keep plain numbers and
//! ISO dates so that programs can read them.

use chrono::NaiveDate;

/// `1234567.5` → `12,34,567.5`: the last three digits of the whole part, then groups of two.
/// Text that is not a plain decimal number is returned as it is.
pub fn indian_grouping(number: &str) -> String {
    let (sign, digits) = match number.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", number),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    if !is_plain_decimal(number) {
        return number.to_string();
    }
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 2 + 4);
    let head_len = whole.len().saturating_sub(3);
    let head = &whole[..head_len];
    for (i, c) in head.chars().enumerate() {
        if i > 0 && (head_len - i) % 2 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if !head.is_empty() {
        grouped.push(',');
    }
    grouped.push_str(&whole[head_len..]);
    match fraction {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// `-168897.93` → `-₹ 1,68,897.93`. Text that is not a plain number is returned as it is.
pub fn rupees(amount: &str) -> String {
    if !is_plain_decimal(amount) {
        return amount.to_string();
    }
    let grouped = indian_grouping(amount);
    match grouped.strip_prefix('-') {
        Some(rest) => format!("-₹ {rest}"),
        None => format!("₹ {grouped}"),
    }
}

/// An optional minus, digits, and optionally a point and digits.
fn is_plain_decimal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    plain(whole) && plain(fraction)
}

/// `2026-04-20` → `20-04-2026`. Text that is not an ISO date is returned as it is.
pub fn date_dmy(text: &str) -> String {
    match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(date) if text.len() == 10 => date.format("%d-%m-%Y").to_string(),
        _ => text.to_string(),
    }
}

/// What a column of a printed table holds, read from its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    Rupees,
    Date,
    Other,
}

/// Columns of amounts in rupees: the amounts of the lists, the reports and the statement.
const RUPEE_COLUMNS: &[&str] = &[
    "amount",
    "unpaid",
    "billed",
    "collected",
    "debit",
    "credit",
    "balance",
    "camp_collections",
    "surcharge_levied",
];

/// The kind of a column by its name: amounts (the names above, and any ending in `_arrears`
/// or `_amount`) and dates (`on` and any name ending in `_on`).
pub fn column_kind(name: &str) -> ColumnKind {
    if RUPEE_COLUMNS.contains(&name) || name.ends_with("_arrears") || name.ends_with("_amount") {
        ColumnKind::Rupees
    } else if name == "on" || name.ends_with("_on") {
        ColumnKind::Date
    } else {
        ColumnKind::Other
    }
}

/// A cell of a printed table as people read it, by its column's kind.
pub fn table_cell(column: &str, text: &str) -> String {
    match column_kind(column) {
        ColumnKind::Rupees => rupees(text),
        ColumnKind::Date => date_dmy(text),
        ColumnKind::Other => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_grouped_in_lakhs_and_crores() {
        assert_eq!(indian_grouping("168897.93"), "1,68,897.93");
        assert_eq!(indian_grouping("12345678.00"), "1,23,45,678.00");
        assert_eq!(indian_grouping("999.99"), "999.99");
        assert_eq!(indian_grouping("1000"), "1,000");
        assert_eq!(indian_grouping("-100000.00"), "-1,00,000.00");
        assert_eq!(indian_grouping("0.00"), "0.00");
        assert_eq!(indian_grouping("n/a"), "n/a");
        assert_eq!(indian_grouping(""), "");
    }

    #[test]
    fn rupees_carry_the_sign_before_the_symbol() {
        assert_eq!(rupees("168897.93"), "₹ 1,68,897.93");
        assert_eq!(rupees("12.50"), "₹ 12.50");
        assert_eq!(rupees("-120.00"), "-₹ 120.00");
        assert_eq!(rupees(""), "");
        assert_eq!(rupees("abc"), "abc");
    }

    #[test]
    fn dates_read_day_first_and_other_text_is_left_alone() {
        assert_eq!(date_dmy("2026-04-20"), "20-04-2026");
        assert_eq!(date_dmy(""), "");
        assert_eq!(date_dmy("2026-13-01"), "2026-13-01");
        assert_eq!(table_cell("oldest_due_on", "2026-01-15"), "15-01-2026");
        assert_eq!(table_cell("overdue_arrears", "1000.00"), "₹ 1,000.00");
        assert_eq!(table_cell("name", "2026-01-15"), "2026-01-15");
        assert_eq!(table_cell("days_overdue", "1000"), "1000");
    }
}
