//! Indian rupees with paise, held exactly as a count of paise.
//!
//! Input accepts at most two decimal places: a third decimal is an error, never rounded away.
//! Computed amounts (surcharges) round half away from zero. The persisted form is an `i64` of
//! paise so that the binary codec never needs `deserialize_any`.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};
use std::str::FromStr;

/// Largest amount accepted on input: one lakh crore rupees, far beyond any bill.
pub const MONEY_ABS_PAISE_MAX: i64 = 100_000_000_000_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_paise(paise: i64) -> Money {
        Money(paise)
    }

    pub const fn paise(self) -> i64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, 2)
    }

    /// Rounds a computed amount to paise, half away from zero (not banker's rounding).
    pub fn from_decimal_rounded(value: Decimal) -> Money {
        let rounded = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        let saturated = if value.is_sign_negative() {
            i64::MIN
        } else {
            i64::MAX
        };
        Money(
            rounded
                .checked_mul(Decimal::ONE_HUNDRED)
                .and_then(|paise| paise.to_i64())
                .unwrap_or(saturated),
        )
    }

    /// Parses an amount such as `1234.50`, `700` or `-25.5`. More than two decimal places as
    /// written is an error, trailing zeros included (`100.000`): the scale is checked on the
    /// text as parsed, before anything is normalised.
    pub fn parse(text: &str) -> Result<Money, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("is empty".to_string());
        }
        if text.contains(['e', 'E', '_']) {
            return Err(format!("`{text}` is not a plain decimal amount"));
        }
        let value = Decimal::from_str(text).map_err(|_| format!("`{text}` is not an amount"))?;
        if value.scale() > 2 {
            return Err(format!("`{text}` has more than 2 decimal places"));
        }
        Money::from_decimal_exact(value).map_err(|reason| format!("`{text}` {reason}"))
    }

    /// The amount a decimal value holds, when it is a whole number of paise. Trailing zeros do
    /// not count here (`12.500` is 12.50): this judges a value, and `parse` judges input text.
    pub fn from_decimal_exact(value: Decimal) -> Result<Money, String> {
        let value = value.normalize();
        if value.scale() > 2 {
            return Err("has more than 2 decimal places".to_string());
        }
        // Near Decimal's own limit, multiplying by 100 overflows: that is out of range too.
        let paise = value
            .checked_mul(Decimal::ONE_HUNDRED)
            .and_then(|paise| paise.to_i64())
            .filter(|p| p.abs() <= MONEY_ABS_PAISE_MAX)
            .ok_or_else(|| "is out of range".to_string())?;
        Ok(Money(paise))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0 + rhs.0)
    }
}
impl Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0 - rhs.0)
    }
}
impl AddAssign for Money {
    fn add_assign(&mut self, rhs: Money) {
        self.0 += rhs.0;
    }
}
impl SubAssign for Money {
    fn sub_assign(&mut self, rhs: Money) {
        self.0 -= rhs.0;
    }
}
impl Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(-self.0)
    }
}
impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        Money(iter.map(|m| m.0).sum())
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Money, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_any(HumanMoneyVisitor)
        } else {
            i64::deserialize(deserializer).map(Money)
        }
    }
}

struct HumanMoneyVisitor;

impl serde::de::Visitor<'_> for HumanMoneyVisitor {
    type Value = Money;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an amount as a string such as \"1234.50\" or a number with at most 2 decimals")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Money, E> {
        Money::parse(v).map_err(E::custom)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Money, E> {
        Money::from_decimal_exact(Decimal::from(v)).map_err(E::custom)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Money, E> {
        Money::from_decimal_exact(Decimal::from(v)).map_err(E::custom)
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Money, E> {
        // Rust prints the shortest text that reads back as the same float, which is the
        // literal as written for any amount of up to 15 significant digits.
        let text = format!("{v}");
        Money::parse(&text).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_two_decimals() {
        assert_eq!(Money::parse("1234.5").unwrap().to_string(), "1234.50");
        assert_eq!(Money::parse("700").unwrap().paise(), 70_000);
        assert_eq!(Money::parse("-0.05").unwrap().to_string(), "-0.05");
        assert_eq!(Money::parse("1.10").unwrap().paise(), 110);
        assert_eq!(Money::parse("100.0").unwrap().paise(), 10_000);
        assert!(Money::parse("1.005")
            .unwrap_err()
            .contains("more than 2 decimal"));
        assert!(Money::parse("abc").is_err());
        assert!(Money::parse("1e3").is_err());
    }

    /// A third decimal as written is an error even when it is a zero; the text is
    /// judged before it is normalised.
    #[test]
    fn trailing_zero_decimals_beyond_two_are_rejected() {
        for text in ["100.000", "10.10000", "1.100", "-0.050", " 7.000 ", "0.000"] {
            let reason = Money::parse(text).expect_err(text);
            assert_eq!(
                reason,
                format!("`{}` has more than 2 decimal places", text.trim())
            );
        }
        for (text, paise) in [("100.00", 10_000), ("10.1", 1010), ("0.00", 0), ("7", 700)] {
            assert_eq!(Money::parse(text).map(Money::paise), Ok(paise), "{text}");
        }
        // Values (rather than text) are judged by what they hold.
        assert_eq!(
            Money::from_decimal_exact(Decimal::new(12_500, 3)).map(Money::paise),
            Ok(1250)
        );
    }

    #[test]
    fn json_strings_with_trailing_zero_decimals_are_rejected() {
        let err = serde_json::from_str::<Money>("\"10.10000\"").unwrap_err();
        assert!(
            err.to_string().contains("has more than 2 decimal places"),
            "{err}"
        );
    }

    #[test]
    fn an_amount_near_the_decimal_limit_is_out_of_range_not_a_panic() {
        // Found by fuzzing the JSON commands: 28 digits, times 100, overflows the decimal.
        let text = "1000000639710584329737002941.";
        assert_eq!(
            Money::parse(text),
            Err(format!("`{}` is out of range", text.trim()))
        );
        assert_eq!(Money::from_decimal_rounded(Decimal::MAX).paise(), i64::MAX);
        assert_eq!(Money::from_decimal_rounded(Decimal::MIN).paise(), i64::MIN);
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(
            Money::from_decimal_rounded(Decimal::new(6245, 3)).paise(),
            625
        );
        assert_eq!(
            Money::from_decimal_rounded(Decimal::new(6255, 3)).paise(),
            626
        );
        assert_eq!(
            Money::from_decimal_rounded(Decimal::new(-6255, 3)).paise(),
            -626
        );
    }

    #[test]
    fn json_accepts_strings_and_numbers() {
        let m: Money = serde_json::from_str("\"12.30\"").unwrap();
        assert_eq!(m.paise(), 1230);
        let m: Money = serde_json::from_str("12.3").unwrap();
        assert_eq!(m.paise(), 1230);
        assert!(serde_json::from_str::<Money>("12.345").is_err());
        assert_eq!(
            serde_json::to_string(&Money::from_paise(5)).unwrap(),
            "\"0.05\""
        );
    }
}
