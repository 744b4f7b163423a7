//! Reporting periods: a month (`2026-10`), an Indian financial year (`FY2026-27`, April to
//! March) or a financial quarter (`FY2026-27-Q2`, Q1 being April to June).

use chrono::{Datelike, Months, NaiveDate};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Period {
    Month {
        year: i32,
        month: u32,
    },
    /// The financial year starting in April of `start_year`.
    FinancialYear {
        start_year: i32,
    },
    FinancialQuarter {
        start_year: i32,
        quarter: u32,
    },
}

impl Period {
    pub fn first_day(self) -> NaiveDate {
        let ymd = |y, m| NaiveDate::from_ymd_opt(y, m, 1).expect("month start");
        match self {
            Period::Month { year, month } => ymd(year, month),
            Period::FinancialYear { start_year } => ymd(start_year, 4),
            Period::FinancialQuarter {
                start_year,
                quarter,
            } => ymd(start_year, 4) + Months::new(3 * (quarter - 1)),
        }
    }

    fn length_months(self) -> u32 {
        match self {
            Period::Month { .. } => 1,
            Period::FinancialYear { .. } => 12,
            Period::FinancialQuarter { .. } => 3,
        }
    }

    pub fn last_day(self) -> NaiveDate {
        (self.first_day() + Months::new(self.length_months()))
            .pred_opt()
            .expect("date")
    }

    pub fn contains(self, date: NaiveDate) -> bool {
        self.first_day() <= date && date <= self.last_day()
    }

    /// The period of the same kind just before this one.
    pub fn previous(self) -> Period {
        match self {
            Period::Month { year, month } => {
                if month == 1 {
                    Period::Month {
                        year: year - 1,
                        month: 12,
                    }
                } else {
                    Period::Month {
                        year,
                        month: month - 1,
                    }
                }
            }
            Period::FinancialYear { start_year } => Period::FinancialYear {
                start_year: start_year - 1,
            },
            Period::FinancialQuarter {
                start_year,
                quarter,
            } => {
                if quarter == 1 {
                    Period::FinancialQuarter {
                        start_year: start_year - 1,
                        quarter: 4,
                    }
                } else {
                    Period::FinancialQuarter {
                        start_year,
                        quarter: quarter - 1,
                    }
                }
            }
        }
    }

    /// The month period a date falls in.
    pub fn month_of(date: NaiveDate) -> Period {
        Period::Month {
            year: date.year(),
            month: date.month(),
        }
    }

    /// The financial year a date falls in (April to March).
    pub fn financial_year_of(date: NaiveDate) -> Period {
        Period::FinancialYear {
            start_year: financial_start_year(date),
        }
    }

    /// The financial quarter a date falls in (Q1 is April to June).
    pub fn financial_quarter_of(date: NaiveDate) -> Period {
        Period::FinancialQuarter {
            start_year: financial_start_year(date),
            quarter: (date.month() + 8) % 12 / 3 + 1,
        }
    }
}

/// The calendar year in which the financial year holding `date` starts.
fn financial_start_year(date: NaiveDate) -> i32 {
    if date.month() >= 4 {
        date.year()
    } else {
        date.year() - 1
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Month { year, month } => write!(f, "{year:04}-{month:02}"),
            Period::FinancialYear { start_year } => {
                write!(f, "FY{start_year:04}-{:02}", (start_year + 1) % 100)
            }
            Period::FinancialQuarter {
                start_year,
                quarter,
            } => {
                write!(
                    f,
                    "FY{start_year:04}-{:02}-Q{quarter}",
                    (start_year + 1) % 100
                )
            }
        }
    }
}

impl FromStr for Period {
    type Err = String;
    fn from_str(text: &str) -> Result<Period, String> {
        let bad = || format!("`{text}` is not a period such as 2026-10, FY2026-27 or FY2026-27-Q2");
        let number = |s: &str| -> Result<i32, String> {
            if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() {
                s.parse::<i32>().map_err(|_| bad())
            } else {
                Err(bad())
            }
        };
        if let Some(rest) = text.strip_prefix("FY") {
            let parts: Vec<&str> = rest.split('-').collect();
            if parts.len() < 2 || parts.len() > 3 || parts[0].len() != 4 || parts[1].len() != 2 {
                return Err(bad());
            }
            let start_year = number(parts[0])?;
            if number(parts[1])? != (start_year + 1) % 100 {
                return Err(format!(
                    "`{text}`: a financial year runs from one year into the next"
                ));
            }
            if parts.len() == 2 {
                return Ok(Period::FinancialYear { start_year });
            }
            let quarter = parts[2].strip_prefix('Q').ok_or_else(bad)?;
            let quarter = number(quarter)? as u32;
            if !(1..=4).contains(&quarter) {
                return Err(bad());
            }
            return Ok(Period::FinancialQuarter {
                start_year,
                quarter,
            });
        }
        let (year, month) = text.split_once('-').ok_or_else(bad)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(bad());
        }
        let (year, month) = (number(year)?, number(month)? as u32);
        if !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Period::Month { year, month })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn every_day_falls_in_its_month_quarter_and_financial_year() {
        let mut date = d("2025-01-01");
        while date <= d("2027-12-31") {
            let (quarter, year) = (
                Period::financial_quarter_of(date),
                Period::financial_year_of(date),
            );
            assert!(quarter.contains(date) && year.contains(date), "{date}");
            assert!(year.contains(quarter.first_day()) && year.contains(quarter.last_day()));
            assert!(quarter.contains(Period::month_of(date).first_day()));
            date = date.succ_opt().unwrap();
        }
        assert_eq!(
            Period::financial_quarter_of(d("2026-03-31")).to_string(),
            "FY2025-26-Q4"
        );
        assert_eq!(
            Period::financial_year_of(d("2026-04-01")).to_string(),
            "FY2026-27"
        );
    }

    #[test]
    fn periods_have_their_bounds() {
        let fy: Period = "FY2026-27".parse().unwrap();
        assert_eq!(
            (fy.first_day(), fy.last_day()),
            (d("2026-04-01"), d("2027-03-31"))
        );
        let q2: Period = "FY2026-27-Q2".parse().unwrap();
        assert_eq!(
            (q2.first_day(), q2.last_day()),
            (d("2026-07-01"), d("2026-09-30"))
        );
        let q4: Period = "FY2026-27-Q4".parse().unwrap();
        assert_eq!(
            (q4.first_day(), q4.last_day()),
            (d("2027-01-01"), d("2027-03-31"))
        );
        let feb: Period = "2028-02".parse().unwrap();
        assert_eq!(feb.last_day(), d("2028-02-29"));
        assert_eq!(q4.to_string(), "FY2026-27-Q4");
        assert_eq!(
            "FY2026-27-Q1"
                .parse::<Period>()
                .unwrap()
                .previous()
                .to_string(),
            "FY2025-26-Q4"
        );
        assert_eq!(
            "2026-01".parse::<Period>().unwrap().previous().to_string(),
            "2025-12"
        );
        assert!("FY2026-28".parse::<Period>().is_err());
        assert!("2026-13".parse::<Period>().is_err());
        assert!("FY1999-00".parse::<Period>().is_ok());
    }
}
