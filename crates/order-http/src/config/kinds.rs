//! The kinds of value a variable holds: how its text is parsed, what it accepts, and how
//! a value is shown again with secrets and passwords masked.

use std::fmt;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use order_adapters::{DatabaseUrl, masked_url};
use tracing_subscriber::EnvFilter;

/// How a variable's text becomes a value, and how a value is shown again.
pub trait Kind {
    /// What the variable's text becomes.
    type Value;

    /// What the variable accepts, completing "… is not": for `--help`, the README and
    /// error messages.
    fn accepts(&self) -> String;

    /// The value in `text`.
    ///
    /// # Errors
    /// When `text` is not what [`Kind::accepts`] says, with a detail when there is one
    /// worth adding.
    fn parse(&self, text: &str) -> Result<Self::Value, Option<String>>;

    /// `value` as `check-config` prints it.
    fn show(&self, value: &Self::Value) -> String;

    /// `text` as an error message may quote it: secrets and passwords masked.
    fn mask(&self, text: &str) -> String {
        text.to_owned()
    }

    /// A variable of this kind that takes `default` when unset.
    fn by_default(self, default: Self::Value) -> ByDefault<Self>
    where
        Self: Sized,
    {
        ByDefault {
            kind: self,
            default,
        }
    }

    /// A variable of this kind that may stay unset, which means `meaning`.
    fn unset_means(self, meaning: &'static str) -> Unset<Self>
    where
        Self: Sized,
    {
        Unset {
            kind: self,
            meaning,
        }
    }
}

/// A kind whose unset variable takes a default value.
#[derive(Debug)]
pub struct ByDefault<K: Kind> {
    pub(super) kind: K,
    pub(super) default: K::Value,
}

/// A kind whose variable may stay unset: `None`, with a meaning of its own.
#[derive(Debug)]
pub struct Unset<K> {
    pub(super) kind: K,
    pub(super) meaning: &'static str,
}

/// A whole number within a range.
#[derive(Debug)]
pub struct Whole<T>(pub RangeInclusive<T>);

impl<T: FromStr + PartialOrd + fmt::Display> Kind for Whole<T> {
    type Value = T;

    fn accepts(&self) -> String {
        format!("a whole number from {} to {}", self.0.start(), self.0.end())
    }

    fn parse(&self, text: &str) -> Result<T, Option<String>> {
        text.parse()
            .ok()
            .filter(|number| self.0.contains(number))
            .ok_or(None)
    }

    fn show(&self, value: &T) -> String {
        value.to_string()
    }
}

/// A duration in whole units (milliseconds, hours) within a range.
#[derive(Debug)]
pub struct Span {
    range: RangeInclusive<u64>,
    unit: &'static str,
    millis_per_unit: u64,
}

impl Span {
    /// Whole milliseconds within `range`.
    pub const fn millis(range: RangeInclusive<u64>) -> Self {
        Self {
            range,
            unit: "milliseconds",
            millis_per_unit: 1,
        }
    }

    /// Whole hours within `range`.
    pub const fn hours(range: RangeInclusive<u64>) -> Self {
        Self {
            range,
            unit: "hours",
            millis_per_unit: 3_600_000,
        }
    }
}

impl Kind for Span {
    type Value = Duration;

    fn accepts(&self) -> String {
        format!(
            "a whole number of {} from {} to {}",
            self.unit,
            self.range.start(),
            self.range.end()
        )
    }

    fn parse(&self, text: &str) -> Result<Duration, Option<String>> {
        Whole(self.range.clone())
            .parse(text)
            .map(|count| Duration::from_millis(count.saturating_mul(self.millis_per_unit)))
    }

    fn show(&self, value: &Duration) -> String {
        (value.as_millis() / u128::from(self.millis_per_unit)).to_string()
    }
}

/// An IP address and port.
#[derive(Debug)]
pub struct Address;

impl Kind for Address {
    type Value = SocketAddr;

    fn accepts(&self) -> String {
        "an address and port such as 127.0.0.1:8080".into()
    }

    fn parse(&self, text: &str) -> Result<SocketAddr, Option<String>> {
        text.parse().map_err(|_| None)
    }

    fn show(&self, value: &SocketAddr) -> String {
        value.to_string()
    }
}

/// Where orders are stored; its password is never shown.
#[derive(Debug)]
pub struct Database;

impl Kind for Database {
    type Value = DatabaseUrl;

    fn accepts(&self) -> String {
        "a sqlite://PATH or postgres:// URL".into()
    }

    fn parse(&self, text: &str) -> Result<DatabaseUrl, Option<String>> {
        DatabaseUrl::parse(text).map_err(|_| None)
    }

    fn show(&self, value: &DatabaseUrl) -> String {
        value.masked()
    }

    fn mask(&self, text: &str) -> String {
        masked_url(text)
    }
}

/// A URL with one of these schemes (`http`, say); its password is never shown.
#[derive(Debug)]
pub struct Url(pub &'static [&'static str]);

/// The base URL of a service over HTTP.
pub const HTTP_URL: Url = Url(&["http", "https"]);

impl Kind for Url {
    type Value = String;

    fn accepts(&self) -> String {
        let schemes: Vec<String> = self.0.iter().map(|scheme| format!("{scheme}://")).collect();
        match schemes.split_last() {
            Some((last, rest)) if !rest.is_empty() => {
                format!("a URL starting {} or {last}", rest.join(", "))
            }
            _ => format!("a URL starting {}", schemes.concat()),
        }
    }

    fn parse(&self, text: &str) -> Result<String, Option<String>> {
        let scheme = text.split_once("://").map(|(scheme, _)| scheme);
        if scheme.is_some_and(|scheme| self.0.contains(&scheme)) {
            Ok(text.to_owned())
        } else {
            Err(None)
        }
    }

    fn show(&self, value: &String) -> String {
        masked_url(value)
    }

    fn mask(&self, text: &str) -> String {
        masked_url(text)
    }
}

/// One of a few named values.
#[derive(Debug)]
pub struct OneOf<T: 'static>(pub &'static [(&'static str, T)]);

impl<T: Copy + PartialEq> Kind for OneOf<T> {
    type Value = T;

    fn accepts(&self) -> String {
        let names: Vec<_> = self.0.iter().map(|(name, _)| *name).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.concat(),
        }
    }

    fn parse(&self, text: &str) -> Result<T, Option<String>> {
        self.0
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, value)| *value)
            .ok_or(None)
    }

    fn show(&self, value: &T) -> String {
        self.0
            .iter()
            .find(|(_, named)| named == value)
            .map(|(name, _)| (*name).to_owned())
            .unwrap_or_default()
    }
}

/// Any text, taken as it is.
#[derive(Debug)]
pub struct Text(pub &'static str);

impl Kind for Text {
    type Value = String;

    fn accepts(&self) -> String {
        self.0.to_owned()
    }

    fn parse(&self, text: &str) -> Result<String, Option<String>> {
        Ok(text.to_owned())
    }

    fn show(&self, value: &String) -> String {
        value.clone()
    }
}

/// The path of a file, which must be there.
#[derive(Debug)]
pub struct FilePath;

impl Kind for FilePath {
    type Value = std::path::PathBuf;

    fn accepts(&self) -> String {
        "the path of a readable file".into()
    }

    fn parse(&self, text: &str) -> Result<std::path::PathBuf, Option<String>> {
        let path = std::path::PathBuf::from(text);
        match std::fs::metadata(&path) {
            Ok(metadata) if metadata.is_file() => Ok(path),
            Ok(_) => Err(Some("it is not a file".into())),
            Err(error) => Err(Some(error.to_string())),
        }
    }

    fn show(&self, value: &std::path::PathBuf) -> String {
        value.display().to_string()
    }
}

/// A `tracing` filter, such as `info` or `order_http=debug`.
#[derive(Debug)]
pub struct LogFilter;

impl Kind for LogFilter {
    type Value = String;

    fn accepts(&self) -> String {
        "a log filter such as info or order_http=debug".into()
    }

    fn parse(&self, text: &str) -> Result<String, Option<String>> {
        match EnvFilter::try_new(text) {
            Ok(_) => Ok(text.to_owned()),
            Err(error) => Err(Some(error.to_string())),
        }
    }

    fn show(&self, value: &String) -> String {
        value.clone()
    }
}

/// Text that must never be printed (a key, a password, a token), of at least this many
/// bytes.
#[derive(Debug)]
pub struct SecretText(pub usize);

impl Kind for SecretText {
    type Value = Secret;

    fn accepts(&self) -> String {
        format!("text of at least {} bytes (never shown)", self.0)
    }

    fn parse(&self, text: &str) -> Result<Secret, Option<String>> {
        if text.len() < self.0 {
            return Err(Some(format!("it has {} bytes", text.len())));
        }
        Ok(Secret(text.to_owned()))
    }

    fn show(&self, _: &Secret) -> String {
        Secret::MASK.into()
    }

    fn mask(&self, _: &str) -> String {
        Secret::MASK.into()
    }
}

/// A secret from the configuration. `Debug` and `Display` show `***`, so logging a
/// configuration never leaks it; [`Secret::expose`] is the one way to the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    const MASK: &'static str = "***";

    /// A secret holding `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The secret's text, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "Secret({})", Self::MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(Self::MASK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_never_printed() {
        let secret = Secret::new("hunter2");
        let printed = format!("{secret} {secret:?} {:?}", Some(&secret));
        assert!(!printed.contains("hunter2"), "{printed}");
        assert_eq!(secret.expose(), "hunter2");
        assert_eq!(SecretText(1).show(&secret), "***");
        assert_eq!(SecretText(1).mask("hunter2"), "***");
    }

    #[test]
    fn whole_numbers_outside_their_range_are_refused() {
        let kind = Whole(1..=10_u32);
        assert_eq!(kind.parse("10"), Ok(10));
        for text in ["0", "11", "-1", "1.5", "ten", " 3"] {
            assert_eq!(kind.parse(text), Err(None), "{text}");
        }
        assert_eq!(kind.accepts(), "a whole number from 1 to 10");
    }

    #[test]
    fn spans_are_read_and_shown_in_their_unit() {
        let hours = Span::hours(1..=48);
        assert_eq!(hours.parse("2"), Ok(Duration::from_secs(7200)));
        assert_eq!(hours.show(&Duration::from_secs(7200)), "2");
        assert_eq!(hours.parse("49"), Err(None));
        assert_eq!(hours.accepts(), "a whole number of hours from 1 to 48");
        assert_eq!(
            Span::millis(1..=10).parse("7"),
            Ok(Duration::from_millis(7))
        );
    }

    #[test]
    fn choices_are_listed_as_a_person_would_say_them() {
        assert_eq!(
            OneOf(&[("a", 1), ("b", 2), ("c", 3)]).accepts(),
            "a, b or c"
        );
        assert_eq!(OneOf(&[("json", 1), ("text", 2)]).accepts(), "json or text");
        assert_eq!(OneOf(&[("json", 1)]).accepts(), "json");
    }
}
