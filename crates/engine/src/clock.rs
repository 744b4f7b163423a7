//! The one place the engine learns today's date.
//!
//! The utility's business dates are its local dates, so "today" is the date in India
//! (UTC+05:30, no daylight saving). Everything that needs it (the date windows of commands and
//! imports, the refusal of a nightly run dated in the future, the date of reports before any
//! nightly run, the awards report's date) asks a [`Clock`]. Tests fix it: the binary and the
//! server read `VASOOLI_TODAY` (`YYYY-MM-DD`) once when they start, and code that builds an
//! engine itself can give it a fixed clock.

use chrono::NaiveDate;

/// The environment variable that fixes today's date (`YYYY-MM-DD`), for tests.
pub const TODAY_ENV: &str = "VASOOLI_TODAY";

/// India's offset from UTC, in minutes.
const INDIA_UTC_OFFSET_MINUTES: i64 = 330;

/// Where today's date comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Clock {
    /// The system's clock, read as the date in India.
    #[default]
    System,
    /// A fixed date.
    Fixed(NaiveDate),
}

impl Clock {
    /// `VASOOLI_TODAY` when set, else the system clock. A value that is not a date is an
    /// error naming it, rather than silently the system's date.
    pub fn from_env() -> Result<Clock, String> {
        match std::env::var(TODAY_ENV) {
            Ok(text) if !text.trim().is_empty() => {
                NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                    .map(Clock::Fixed)
                    .map_err(|e| format!("{TODAY_ENV}: `{text}` is not a date (YYYY-MM-DD): {e}"))
            }
            _ => Ok(Clock::System),
        }
    }

    /// [`Clock::from_env`], falling back to the system clock when the variable is not a date
    /// (the binary and the server check it first and refuse to start).
    pub fn from_env_or_system() -> Clock {
        Clock::from_env().unwrap_or(Clock::System)
    }

    /// Today's date in India.
    pub fn today(&self) -> NaiveDate {
        match self {
            Clock::System => (chrono::Utc::now()
                + chrono::Duration::minutes(INDIA_UTC_OFFSET_MINUTES))
            .date_naive(),
            Clock::Fixed(date) => *date,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_says_its_date_and_the_system_clock_a_date_near_utc() {
        let date = NaiveDate::from_ymd_opt(2026, 9, 30).unwrap();
        assert_eq!(Clock::Fixed(date).today(), date);
        let utc = chrono::Utc::now().date_naive();
        let india = Clock::System.today();
        assert!(
            india == utc || india == utc.succ_opt().unwrap(),
            "{india} {utc}"
        );
    }
}
