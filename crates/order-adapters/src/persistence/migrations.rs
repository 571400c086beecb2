//! The schema of each backend, embedded in the binary, and how to tell whether a
//! database has all of it.

use anyhow::{Context, anyhow};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub(crate) const SQLITE_MIGRATIONS: EmbeddedMigrations =
    embed_migrations!("../../migrations/sqlite");
pub(crate) const POSTGRES_MIGRATIONS: EmbeddedMigrations =
    embed_migrations!("../../migrations/postgres");

/// Applies the migrations the database lacks and says which in the log (and how
/// many, none included), so that an operator sees what a start or `migrate` changed.
pub(crate) fn apply_pending<DB: diesel::backend::Backend>(
    conn: &mut impl MigrationHarness<DB>,
    migrations: EmbeddedMigrations,
) -> anyhow::Result<()> {
    let applied = conn
        .run_pending_migrations(migrations)
        .map_err(|e| anyhow!(e))
        .context("cannot apply the database migrations")?;
    for version in &applied {
        tracing::info!(migration = %version, "migration applied");
    }
    tracing::info!(applied = applied.len(), "database schema is current");
    Ok(())
}

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
