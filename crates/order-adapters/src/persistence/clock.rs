//! The database's own clock, for the times that instances sharing a database must agree
//! on (when a claim counts as abandoned, when an effect falls due): on PostgreSQL the
//! server's clock, so that instances whose clocks disagree never take over each other's
//! work early; on SQLite, whose database only processes of one machine share, that
//! machine's clock.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use diesel::QueryResult;
use diesel::expression::{
    AppearsOnTable, Expression, SelectableExpression, ValidGrouping, is_aggregate,
};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Timestamp};
use diesel::sqlite::Sqlite;

use super::time::DbTime;

/// A time relative to the database's clock's now, as a SQL expression of type
/// `TIMESTAMP` (UTC): `DatabaseNow::plus(lease)` is "now + lease" in the database.
/// On PostgreSQL "now" is the transaction's start, the same in every statement of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DatabaseNow {
    /// The offset from now, in microseconds (negative: before now).
    offset_micros: i64,
    /// SQLite's value, taken from this machine's clock when the expression is built.
    local: DbTime,
}

impl DatabaseNow {
    /// Now.
    pub(crate) fn now() -> Self {
        Self::offset(0)
    }

    /// `wait` from now.
    pub(crate) fn plus(wait: Duration) -> Self {
        Self::offset(micros(wait))
    }

    /// `wait` before now.
    pub(crate) fn minus(wait: Duration) -> Self {
        Self::offset(-micros(wait))
    }

    fn offset(offset_micros: i64) -> Self {
        Self {
            offset_micros,
            local: DbTime((Utc::now() + TimeDelta::microseconds(offset_micros)).naive_utc()),
        }
    }
}

fn micros(wait: Duration) -> i64 {
    i64::try_from(wait.as_micros()).unwrap_or(i64::MAX / 2)
}

impl Expression for DatabaseNow {
    type SqlType = Timestamp;
}

impl<QS> AppearsOnTable<QS> for DatabaseNow {}

impl<QS> SelectableExpression<QS> for DatabaseNow {}

impl<GroupBy> ValidGrouping<GroupBy> for DatabaseNow {
    type IsAggregate = is_aggregate::Never;
}

// The SQL text is the same whatever the offset, which is bound: prepared once.
impl QueryId for DatabaseNow {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for DatabaseNow {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // Columns are TIMESTAMP in UTC; now() is a TIMESTAMPTZ, turned into UTC
        // whatever the session's time zone.
        out.push_sql("((now() AT TIME ZONE 'UTC') + ");
        out.push_bind_param::<BigInt, _>(&self.offset_micros)?;
        out.push_sql(" * INTERVAL '1 microsecond')");
        Ok(())
    }
}

impl QueryFragment<Sqlite> for DatabaseNow {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_bind_param::<Timestamp, _>(&self.local)
    }
}
