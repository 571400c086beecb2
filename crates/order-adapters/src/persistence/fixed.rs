//! Statements on hot paths that Diesel would prepare anew every time: it never caches an
//! `UPDATE` (a changeset may vary), and issues savepoints as text. Written out as
//! statements of fixed text with a type of their own, they are prepared once per
//! connection and reused. Each binds its values as Diesel's own queries do.

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Binary, Text, Timestamp};
use diesel::sqlite::Sqlite;
use diesel::{QueryResult, RunQueryDsl, SqliteConnection};

/// A statement of fixed text and no binds, on SQLite.
macro_rules! fixed_statement {
    ($(#[$doc:meta])* $name:ident, $sql:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, QueryId)]
        pub(crate) struct $name;

        impl QueryFragment<Sqlite> for $name {
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
                out.push_sql($sql);
                Ok(())
            }
        }

        impl RunQueryDsl<SqliteConnection> for $name {}
    };
}

fixed_statement!(
    /// Opens the savepoint of one write of a batch.
    Savepoint,
    "SAVEPOINT write"
);
fixed_statement!(
    /// Keeps what the write did.
    Release,
    "RELEASE write"
);
fixed_statement!(
    /// Undoes what the write did.
    RollbackTo,
    "ROLLBACK TO write"
);

/// Takes `quantity` units of a product's demo stock, if that many are there.
#[derive(Debug)]
pub(crate) struct TakeStock<'a> {
    pub product_id: &'a str,
    pub quantity: i64,
}

impl<DB> QueryFragment<DB> for TakeStock<'_>
where
    DB: Backend,
    i64: ToSql<BigInt, DB>,
    str: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE demo_stock SET available = available - ");
        out.push_bind_param::<BigInt, _>(&self.quantity)?;
        out.push_sql(" WHERE product_id = ");
        out.push_bind_param::<Text, _>(self.product_id)?;
        out.push_sql(" AND available >= ");
        out.push_bind_param::<BigInt, _>(&self.quantity)?;
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for TakeStock<'_> {}

// The text never varies, so the type alone identifies the prepared statement.
impl QueryId for TakeStock<'_> {
    type QueryId = TakeStock<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

/// Records an idempotency key's outcome, if the key is still claimed by the request
/// that places `order_id` and not completed.
#[derive(Debug)]
pub(crate) struct CompleteKey<'a> {
    pub caller: &'a str,
    pub key: &'a str,
    pub order_id: &'a str,
    pub response: &'a [u8],
    pub completed_at: NaiveDateTime,
}

impl<DB> QueryFragment<DB> for CompleteKey<'_>
where
    DB: Backend,
    str: ToSql<Text, DB>,
    [u8]: ToSql<Binary, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE idempotency_keys SET response_body = ");
        out.push_bind_param::<Binary, _>(self.response)?;
        out.push_sql(", completed_at = ");
        out.push_bind_param::<Timestamp, _>(&self.completed_at)?;
        out.push_sql(" WHERE caller = ");
        out.push_bind_param::<Text, _>(self.caller)?;
        out.push_sql(" AND idempotency_key = ");
        out.push_bind_param::<Text, _>(self.key)?;
        out.push_sql(" AND completed_at IS NULL AND order_id = ");
        out.push_bind_param::<Text, _>(self.order_id)?;
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for CompleteKey<'_> {}

impl QueryId for CompleteKey<'_> {
    type QueryId = CompleteKey<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

/// `query LIMIT n` with `n` written into the text rather than bound: SQLite re-prepares
/// a statement whenever a bound LIMIT is bound again (it may change the plan), which
/// for a listing was every call, a quarter of its time. Diesel keys the statement by
/// its text, so each page size is prepared once per connection.
#[derive(Debug, Clone)]
pub(crate) struct LiteralLimit<Q> {
    pub query: Q,
    pub limit: u32,
}

impl<Q: Query> Query for LiteralLimit<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, DB> QueryFragment<DB> for LiteralLimit<Q>
where
    DB: Backend,
    Q: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.query.walk_ast(out.reborrow())?;
        out.push_sql(&format!(" LIMIT {}", self.limit));
        Ok(())
    }
}

// Keyed by its text, which holds the limit.
impl<Q> QueryId for LiteralLimit<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q, Conn> RunQueryDsl<Conn> for LiteralLimit<Q> {}
