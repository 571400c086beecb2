//! The schema of each backend, embedded in the binary, and how to tell whether a
//! database has all of it.

use anyhow::anyhow;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub(crate) const SQLITE_MIGRATIONS: EmbeddedMigrations =
    embed_migrations!("../../migrations/sqlite");
pub(crate) const POSTGRES_MIGRATIONS: EmbeddedMigrations =
    embed_migrations!("../../migrations/postgres");

/// Reads the applied migrations, which also proves the database answers.
pub(crate) fn readiness_of<DB: diesel::backend::Backend>(
    conn: &mut impl MigrationHarness<DB>,
    migrations: EmbeddedMigrations,
) -> anyhow::Result<Readiness> {
    let pending = conn
        .has_pending_migration(migrations)
        .map_err(|e| anyhow!(e))?;
    Ok(Readiness {
        migrations_applied: !pending,
    })
}

/// What a readiness check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    /// Every migration this binary knows is applied.
    pub migrations_applied: bool,
}
