//! Where the orders are kept, as the configuration names it, and how that name is shown
//! without its secrets.

use std::path::PathBuf;

/// Where the orders are kept. Its `Debug` shows the URL [masked](Self::masked).
#[derive(Clone, PartialEq, Eq)]
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

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DatabaseUrl").field(&self.masked()).finish()
    }
}

/// `url` with every credential replaced by `***`: the password of its user, and the
/// value of any query parameter that carries one (libpq takes `password` and
/// `sslpassword` there). Fit for logs and printed configuration.
pub fn masked_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    format!("{scheme}://{authority}{}", masked_query(tail))
}

/// `path?query#fragment` with the values of credential parameters masked.
fn masked_query(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((query, fragment)) => (query, format!("#{fragment}")),
        None => (query, String::new()),
    };
    let parameters: Vec<String> = query
        .split('&')
        .map(|parameter| match parameter.split_once('=') {
            Some((name, _)) if names_a_credential(name) => format!("{name}=***"),
            _ => parameter.to_owned(),
        })
        .collect();
    format!("{path}?{}{fragment}", parameters.join("&"))
}

/// Whether a query parameter's name says it carries a secret. Broader than libpq's
/// own list on purpose: a URL of another service may call it a token or a secret.
fn names_a_credential(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["password", "passwd", "secret", "token"]
        .iter()
        .any(|word| name.contains(word))
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

    #[test]
    fn credentials_in_the_query_are_masked() {
        let url = |text: &str| DatabaseUrl::Postgres(text.to_owned()).masked();
        assert_eq!(
            url("postgres://db/orders?sslmode=require&password=s3cret"),
            "postgres://db/orders?sslmode=require&password=***"
        );
        assert_eq!(
            url("postgres://app:a@db/o?sslpassword=k&Password=b&application_name=x#f"),
            "postgres://app:***@db/o?sslpassword=***&Password=***&application_name=x#f"
        );
        assert_eq!(
            masked_url("https://hooks/notify?token=abc&x=1"),
            "https://hooks/notify?token=***&x=1"
        );
    }

    #[test]
    fn debug_never_shows_a_credential() {
        let url = DatabaseUrl::Postgres("postgres://app:s3cret@db/orders?password=other".into());
        let shown = format!("{url:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("other"),
            "{shown}"
        );
        assert!(shown.contains("db/orders"), "{shown}");
    }
}
