//! Reading variables from an environment. An empty variable counts as unset; every
//! variable read is recorded with its meaning, what it accepts, its default and its
//! value, which is all `check-config`, `--help` and the README's table show.

use std::fmt;

use super::kinds::{ByDefault, Kind, Unset};

/// A variable that is set to something the service cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    /// The environment variable.
    pub variable: &'static str,
    /// What is wrong with its value.
    pub problem: String,
}

/// One variable, as `check-config`, `--help` and the README show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Its name, such as `ORDERS_LISTEN_ADDR`.
    pub name: &'static str,
    /// What it sets (Markdown: `code` in backquotes).
    pub meaning: &'static str,
    /// What it accepts, such as "a whole number from 1 to 512".
    pub accepts: String,
    /// Its value when unset.
    pub default: Shown,
    /// Its effective value.
    pub value: Shown,
}

/// A value as it may be printed: secrets and passwords masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// A value.
    Value(String),
    /// No value, which means what it says, such as "the demo directory".
    Unset(&'static str),
}

impl fmt::Display for Shown {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value(value) => formatter.write_str(value),
            Self::Unset(meaning) => write!(formatter, "(unset: {meaning})"),
        }
    }
}

/// What a variable is when unset, and how its value is parsed and shown: a [`Kind`]
/// with a default ([`Kind::by_default`]) or without ([`Kind::unset_means`]).
pub trait Setting {
    /// What the variable becomes.
    type Value;
    /// The value when unset.
    fn default(&self) -> Self::Value;
    /// What the variable accepts.
    fn accepts(&self) -> String;
    /// The value in `text`; see [`Kind::parse`].
    ///
    /// # Errors
    /// When `text` is not what [`Setting::accepts`] says.
    fn parse(&self, text: &str) -> Result<Self::Value, Option<String>>;
    /// `value` as it may be printed.
    fn show(&self, value: &Self::Value) -> Shown;
    /// `text` as it may be printed.
    fn mask(&self, text: &str) -> String;
}

impl<K: Kind<Value: Clone>> Setting for ByDefault<K> {
    type Value = K::Value;

    fn default(&self) -> K::Value {
        self.default.clone()
    }

    fn accepts(&self) -> String {
        self.kind.accepts()
    }

    fn parse(&self, text: &str) -> Result<K::Value, Option<String>> {
        self.kind.parse(text)
    }

    fn show(&self, value: &K::Value) -> Shown {
        Shown::Value(self.kind.show(value))
    }

    fn mask(&self, text: &str) -> String {
        self.kind.mask(text)
    }
}

impl<K: Kind> Setting for Unset<K> {
    type Value = Option<K::Value>;

    fn default(&self) -> Option<K::Value> {
        None
    }

    fn accepts(&self) -> String {
        self.kind.accepts()
    }

    fn parse(&self, text: &str) -> Result<Option<K::Value>, Option<String>> {
        self.kind.parse(text).map(Some)
    }

    fn show(&self, value: &Option<K::Value>) -> Shown {
        value.as_ref().map_or(Shown::Unset(self.meaning), |value| {
            Shown::Value(self.kind.show(value))
        })
    }

    fn mask(&self, text: &str) -> String {
        self.kind.mask(text)
    }
}

/// Where variables are read from, and what was read.
pub struct Environment<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    variables: Vec<Variable>,
    error: Option<ConfigError>,
}

impl fmt::Debug for Environment<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Environment")
            .field("variables", &self.variables)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<'a> Environment<'a> {
    /// An environment whose variables `lookup` gives.
    pub(super) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            lookup,
            variables: Vec::new(),
            error: None,
        }
    }

    /// The value of variable `name`, which sets what `meaning` says. A value that
    /// cannot be used is kept as the error (the first one wins) and the default is
    /// returned, so that reading goes on and every variable gets recorded.
    pub fn read<S: Setting>(
        &mut self,
        name: &'static str,
        meaning: &'static str,
        setting: S,
    ) -> S::Value {
        let text = (self.lookup)(name).filter(|text| !text.trim().is_empty());
        let value = match text.map(|text| (setting.parse(&text), text)) {
            None => setting.default(),
            Some((Ok(value), _)) => value,
            Some((Err(detail), text)) => {
                let mut problem = format!("{:?} is not {}", setting.mask(&text), setting.accepts());
                if let Some(detail) = detail {
                    problem = format!("{problem}: {detail}");
                }
                self.refuse(name, problem);
                setting.default()
            }
        };
        self.variables.push(Variable {
            name,
            meaning,
            accepts: setting.accepts(),
            default: setting.show(&setting.default()),
            value: setting.show(&value),
        });
        value
    }

    /// Refuses variable `name` with `problem` unless `holds`: for a rule between
    /// variables, such as a cap no less than what it caps.
    pub fn require(&mut self, holds: bool, name: &'static str, problem: &str) {
        if !holds {
            self.refuse(name, problem.to_owned());
        }
    }

    fn refuse(&mut self, variable: &'static str, problem: String) {
        self.error.get_or_insert(ConfigError { variable, problem });
    }

    /// The variables read, in order, and the first that could not be used.
    pub(super) fn finish(self) -> (Vec<Variable>, Option<ConfigError>) {
        (self.variables, self.error)
    }
}
