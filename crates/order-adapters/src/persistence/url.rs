//! Where the orders are kept, as the configuration names it, and how that name is shown
//! without its secrets.

use std::path::PathBuf;

/// Where the orders are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An embedded SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server (`postgres://…`, libpq's URL syntax).
    Postgres(String),
}

impl DatabaseUrl {
    /// Parses `sqlite://PATH` (relative, or absolute as `sqlite:///PATH`), `sqlite:PATH`,
    /// or `postgres://…` / `postgresql://…`.
    ///
    /// # Errors
    /// When the URL has none of these forms.
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        url.strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .filter(|path| !path.is_empty())
            .map(|path| Self::Sqlite(PathBuf::from(path)))
            .ok_or_else(|| "is neither a sqlite://PATH nor a postgres:// URL".to_owned())
    }

    /// The URL with any password replaced by `***`, for logs and `check-config`.
    pub fn masked(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
            Self::Postgres(url) => masked_url(url),
        }
    }
}

/// `url` with the password of its user, if any, replaced by `***`: fit for logs and
/// printed configuration.
pub fn masked_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_the_backend() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://orders.db"),
            Ok(DatabaseUrl::Sqlite("orders.db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/orders.db"),
            Ok(DatabaseUrl::Sqlite("/var/lib/orders.db".into()))
        );
        assert!(matches!(
            DatabaseUrl::parse("postgresql://db/orders"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(DatabaseUrl::parse("mysql://db").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn passwords_are_masked() {
        let url = |text: &str| DatabaseUrl::Postgres(text.to_owned()).masked();
        assert_eq!(
            url("postgres://app:s3cret@db:5432/orders?sslmode=require"),
            "postgres://app:***@db:5432/orders?sslmode=require"
        );
        assert_eq!(url("postgres://app@db/orders"), "postgres://app@db/orders");
        assert_eq!(url("postgres://db/orders"), "postgres://db/orders");
    }
}
