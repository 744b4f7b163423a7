//! The one place that turns events into bytes and back.
//!
//! Every encoded event starts with a format-version byte; the body is bincode 2 over serde.
//! bincode is unmaintained, so nothing else in the code base names it: another codec can take
//! over behind a new version byte while old bytes keep decoding. Dates are persisted as days
//! since the common era and money as paise (`i64`), never through `deserialize_any`.

use crate::event::Event;
use thiserror::Error;

/// The format of event bodies: the event alone.
pub const EVENT_FORMAT_V1: u8 = 1;
/// Format 1's body followed by an extension: the address of a consumer's registration.
/// Only a registration that carries an address is written in format 2, so every other event
/// encodes to the same bytes as before and logs written before addresses keep decoding.
pub const EVENT_FORMAT_V2: u8 = 2;

#[derive(Debug, Error)]
pub enum CodecError {
    #[error("event is empty")]
    Empty,
    #[error("unknown event format version {0}")]
    UnknownVersion(u8),
    #[error("event does not decode: {0}")]
    Decode(String),
    #[error("event does not encode: {0}")]
    Encode(String),
    #[error("{0} trailing bytes after the event")]
    Trailing(usize),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// Upper bound on the bytes one event's decoding may claim (allocate): the store refuses a
/// payload above 16 MiB, so a length prefix claiming more is corrupt, and is refused rather
/// than allocated.
const EVENT_DECODE_BYTES_MAX: usize = 16 * 1024 * 1024;

fn event_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<EVENT_DECODE_BYTES_MAX>()
}

pub fn encode_event(event: &Event) -> Result<Vec<u8>, CodecError> {
    let mut bytes = Vec::with_capacity(64);
    let address = match event {
        Event::ConsumerRegistered(e) => e.address.as_deref(),
        _ => None,
    };
    bytes.push(if address.is_some() {
        EVENT_FORMAT_V2
    } else {
        EVENT_FORMAT_V1
    });
    bincode::serde::encode_into_std_write(event, &mut bytes, config())
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    if let Some(address) = address {
        bincode::serde::encode_into_std_write(address, &mut bytes, config())
            .map_err(|e| CodecError::Encode(e.to_string()))?;
    }
    Ok(bytes)
}

pub fn decode_event(bytes: &[u8]) -> Result<Event, CodecError> {
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    let decode = |bytes: &[u8]| {
        bincode::serde::decode_from_slice::<Event, _>(bytes, event_config())
            .map_err(|e| CodecError::Decode(e.to_string()))
    };
    match version {
        EVENT_FORMAT_V1 => {
            let (event, read) = decode(body)?;
            if read != body.len() {
                return Err(CodecError::Trailing(body.len() - read));
            }
            Ok(event)
        }
        EVENT_FORMAT_V2 => {
            let (mut event, read) = decode(body)?;
            let Event::ConsumerRegistered(registration) = &mut event else {
                return Err(CodecError::Decode(
                    "format 2 carries only a consumer's registration".into(),
                ));
            };
            let (address, extension) =
                bincode::serde::decode_from_slice::<String, _>(&body[read..], event_config())
                    .map_err(|e| CodecError::Decode(e.to_string()))?;
            if read + extension != body.len() {
                return Err(CodecError::Trailing(body.len() - read - extension));
            }
            registration.address = Some(address);
            Ok(event)
        }
        other => Err(CodecError::UnknownVersion(other)),
    }
}

/// Encodes any serde value with the same codec (projection snapshots use this).
pub fn encode_value<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut bytes = vec![EVENT_FORMAT_V1];
    bincode::serde::encode_into_std_write(value, &mut bytes, config())
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    Ok(bytes)
}

pub fn decode_value<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version != EVENT_FORMAT_V1 {
        return Err(CodecError::UnknownVersion(version));
    }
    let (value, read) = bincode::serde::decode_from_slice::<T, _>(body, config())
        .map_err(|e| CodecError::Decode(e.to_string()))?;
    if read != body.len() {
        return Err(CodecError::Decode(format!(
            "{} bytes left over after the value",
            body.len() - read
        )));
    }
    Ok(value)
}

/// A stable 64-bit FNV-1a hash of bytes: the content hash of natural keys.
pub fn content_hash(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
    })
}

/// Serde for `NaiveDate`: `YYYY-MM-DD` in JSON, days since the common era in binary.
pub mod date {
    use chrono::{Datelike, NaiveDate};
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(date: &NaiveDate, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(&date.format("%Y-%m-%d"))
        } else {
            serializer.serialize_i32(date.num_days_from_ce())
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            super::parse_date(&text).map_err(D::Error::custom)
        } else {
            let days = i32::deserialize(deserializer)?;
            NaiveDate::from_num_days_from_ce_opt(days)
                .ok_or_else(|| D::Error::custom(format!("day number {days} is out of range")))
        }
    }
}

/// Serde for `Option<NaiveDate>`, like [`date`].
pub mod date_opt {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Wrapped(#[serde(with = "super::date")] NaiveDate);

    pub fn serialize<S: Serializer>(
        date: &Option<NaiveDate>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        date.map(Wrapped).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<NaiveDate>, D::Error> {
        Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|w| w.0))
    }
}

/// Parses a strict `YYYY-MM-DD` business date.
pub fn parse_date(text: &str) -> Result<chrono::NaiveDate, String> {
    let text = text.trim();
    let well_formed = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !well_formed {
        return Err(format!("`{text}` is not a date of the form YYYY-MM-DD"));
    }
    // Well formed, so every part is ASCII digits: read them directly (a format-driven parse
    // costs more than the rest of a CSV row).
    let number = |range: std::ops::Range<usize>| {
        text.as_bytes()[range]
            .iter()
            .fold(0u32, |n, b| n * 10 + u32::from(b - b'0'))
    };
    chrono::NaiveDate::from_ymd_opt(number(0..4) as i32, number(5..7), number(8..10))
        .ok_or_else(|| format!("`{text}` is not a real calendar date"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_length_prefix_claiming_more_than_an_event_holds_is_refused_not_allocated() {
        // Format 1, then a vector length of about 2^58 (found by fuzzing: it made the decoder
        // try to allocate petabytes).
        let bytes = [1, 1, 0xfd, 1, 3, 0, 0, 0, 1, 0xe9, 0];
        assert!(matches!(
            super::decode_event(&bytes),
            Err(super::CodecError::Decode(_))
        ));
    }

    use super::*;

    #[test]
    fn rejects_unknown_versions_and_garbage() {
        assert!(matches!(decode_event(&[]), Err(CodecError::Empty)));
        assert!(matches!(
            decode_event(&[9, 1, 2]),
            Err(CodecError::UnknownVersion(9))
        ));
        assert!(decode_event(&[EVENT_FORMAT_V1, 200, 200, 200]).is_err());
    }

    #[test]
    fn dates_are_strict() {
        assert!(parse_date("2026-02-30").is_err());
        assert!(parse_date("2026-2-3").is_err());
        assert_eq!(parse_date("2026-08-20").unwrap().to_string(), "2026-08-20");
    }

    #[test]
    fn dates_read_as_the_calendar_has_them() {
        // Every year-month-day text of a few centuries and of the extremes, real or not:
        // read exactly when the calendar has that day, and as that day.
        for year in (1890..2110).chain([0, 1, 1600, 2400, 9999]) {
            for month in 0..=13u32 {
                for day in 0..=32u32 {
                    let text = format!("{year:04}-{month:02}-{day:02}");
                    let calendar = chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok();
                    assert_eq!(parse_date(&text).ok(), calendar, "{text}");
                }
            }
        }
    }
}
