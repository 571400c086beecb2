//! Times as `TIMESTAMP` columns hold them.
//!
//! SQLite has no time type: Diesel stores a `NaiveDateTime` as text, formatted by
//! chrono's `format("%F %T%.f")`, which parses its format string on every call (8% of
//! the SQLite writer's time in a placement, six times per order), and reads it back by
//! trying chrono's parser with one format after another. [`DbTime`] writes the very
//! same text by hand, so that it compares with text Diesel wrote (stored rows, bound
//! parameters) exactly as before, and reads that text back by hand, leaving any other
//! to Diesel.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Timestamp;
use diesel::sqlite::Sqlite;

/// A time in a `TIMESTAMP` column (UTC, no zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, AsExpression, FromSqlRow)]
#[diesel(sql_type = Timestamp)]
pub(crate) struct DbTime(pub NaiveDateTime);

impl ToSql<Timestamp, Sqlite> for DbTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        match sqlite_text(&self.0) {
            Some(text) => {
                out.set_value(text);
                Ok(IsNull::No)
            }
            None => <NaiveDateTime as ToSql<Timestamp, Sqlite>>::to_sql(&self.0, out),
        }
    }
}

impl ToSql<Timestamp, Pg> for DbTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <NaiveDateTime as ToSql<Timestamp, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<Timestamp, Sqlite> for DbTime {
    fn from_sql(mut value: diesel::sqlite::SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        // Diesel tries chrono's parser with one format after another, each parsed
        // afresh: most of the cost of reading a time, several times per order read.
        if let Some(time) = from_sqlite_text(value.read_text()) {
            return Ok(Self(time));
        }
        <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(Self)
    }
}

impl FromSql<Timestamp, Pg> for DbTime {
    fn from_sql(value: diesel::pg::PgValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(Self)
    }
}

/// `time` as chrono's `%F %T%.f` writes it (`2026-12-05 20:50:15.123456`: the fraction
/// in 3, 6 or 9 digits, whichever is exact, or none); `None` where that takes more
/// than this (years outside 0–9999, leap seconds), left to chrono.
fn sqlite_text(time: &NaiveDateTime) -> Option<String> {
    let nanos = time.nanosecond();
    let year = u32::try_from(time.year())
        .ok()
        .filter(|year| *year <= 9999)?;
    if nanos >= 1_000_000_000 {
        return None;
    }
    let mut text = String::with_capacity(29);
    push_digits(&mut text, year, 4);
    text.push('-');
    push_digits(&mut text, time.month(), 2);
    text.push('-');
    push_digits(&mut text, time.day(), 2);
    text.push(' ');
    push_digits(&mut text, time.hour(), 2);
    text.push(':');
    push_digits(&mut text, time.minute(), 2);
    text.push(':');
    push_digits(&mut text, time.second(), 2);
    if nanos != 0 {
        text.push('.');
        if nanos.is_multiple_of(1_000_000) {
            push_digits(&mut text, nanos / 1_000_000, 3);
        } else if nanos.is_multiple_of(1_000) {
            push_digits(&mut text, nanos / 1_000, 6);
        } else {
            push_digits(&mut text, nanos, 9);
        }
    }
    Some(text)
}

/// The time in `text` if it is written as [`sqlite_text`] writes times
/// (`YYYY-MM-DD HH:MM:SS`, then a dot and up to 9 digits, or nothing); `None` for any
/// other text, left to Diesel's parser.
fn from_sqlite_text(text: &str) -> Option<NaiveDateTime> {
    let bytes = text.as_bytes();
    let number = |from: usize, to: usize| -> Option<u32> {
        bytes.get(from..to)?.iter().try_fold(0_u32, |number, byte| {
            byte.is_ascii_digit()
                .then(|| number * 10 + u32::from(byte - b'0'))
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b' '), (13, b':'), (16, b':')];
    if !separators
        .iter()
        .all(|(at, separator)| bytes.get(*at) == Some(separator))
    {
        return None;
    }
    let nanos = match bytes.get(19) {
        None => 0,
        Some(b'.') => {
            let digits = u32::try_from(bytes.len() - 20)
                .ok()
                .filter(|n| (1..=9).contains(n))?;
            number(20, bytes.len())? * 10_u32.pow(9 - digits)
        }
        Some(_) => return None,
    };
    let year = i32::try_from(number(0, 4)?).ok()?;
    NaiveDate::from_ymd_opt(year, number(5, 7)?, number(8, 10)?)?.and_hms_nano_opt(
        number(11, 13)?,
        number(14, 16)?,
        number(17, 19)?,
        nanos,
    )
}

/// Appends the last `width` decimal digits of `value`, zero-padded.
fn push_digits(text: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = value / 10_u32.pow(place) % 10;
        text.push(char::from(b'0' + digit as u8));
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, NaiveDateTime};

    use super::{from_sqlite_text, sqlite_text};

    fn at(year: i32, nanos: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(year, 2, 3)
            .and_then(|day| day.and_hms_nano_opt(4, 5, 6, nanos))
            .unwrap_or_else(|| panic!("{year} {nanos} is not a time"))
    }

    #[test]
    fn the_text_is_chrono_s_to_the_byte() {
        let nanos = [0, 1, 7_000, 120_000_000, 123_000, 123_456_789, 999_999_999];
        for year in [0, 7, 999, 1970, 2026, 9999] {
            for nanos in nanos {
                let time = at(year, nanos);
                assert_eq!(
                    sqlite_text(&time).as_deref(),
                    Some(time.format("%F %T%.f").to_string().as_str()),
                );
            }
        }
    }

    #[test]
    fn what_it_writes_it_reads_back() {
        for year in [0, 7, 1970, 2026, 9999] {
            for nanos in [0, 1, 7_000, 120_000_000, 123_456_789, 999_999_999] {
                let time = at(year, nanos);
                let text = sqlite_text(&time).unwrap_or_default();
                assert_eq!(from_sqlite_text(&text), Some(time), "{text}");
            }
        }
        // A fraction of other lengths, as other writers may leave it.
        assert_eq!(
            from_sqlite_text("2026-02-03 04:05:06.5"),
            Some(at(2026, 500_000_000))
        );
    }

    #[test]
    fn other_text_is_left_to_diesel() {
        for text in [
            "",
            "2026-02-03",
            "2026-02-03T04:05:06",
            "2026-02-03 04:05:06Z",
            "2026-02-03 04:05:06.",
            "2026-02-03 04:05:06.1234567890",
            "2026-02-30 04:05:06",
            "2026-0a-03 04:05:06",
            "2459000.5",
        ] {
            assert_eq!(from_sqlite_text(text), None, "{text:?}");
        }
    }

    #[test]
    fn what_it_cannot_write_is_left_to_chrono() {
        assert_eq!(sqlite_text(&at(10_000, 0)), None);
        assert_eq!(sqlite_text(&at(-1, 0)), None);
        let leap_second = NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|day| day.and_hms_nano_opt(23, 59, 59, 1_500_000_000));
        assert_eq!(leap_second.and_then(|time| sqlite_text(&time)), None);
        assert!(leap_second.is_some());
    }
}
