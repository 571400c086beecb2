//! Statements on hot paths that Diesel would prepare anew every time: it never caches an
//! `UPDATE` (a changeset may vary), and issues savepoints as text. Written out as
//! statements of fixed text with a type of their own, they are prepared once per
//! connection and reused. Each binds its values as Diesel's own queries do.

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression, ValidGrouping, is_aggregate};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{Array, BigInt, Binary, Bool, Text, Timestamp};
use diesel::sqlite::Sqlite;
use diesel::{QueryResult, RunQueryDsl, SqliteConnection};

use super::schema::order_items;

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

/// `order_items.order_id` is one of a page's order ids, as one bind however many there
/// are: Diesel's `IN (?, ?, …)` has as many binds as ids, so it never caches it and
/// SQLite prepared it on every listing. SQLite reads the ids from a JSON array
/// (`json_each`), PostgreSQL from an array (`= ANY`).
#[derive(Debug)]
pub(crate) struct ItemOfOrders {
    ids: Vec<String>,
    as_json: String,
}

impl ItemOfOrders {
    pub(crate) fn new(ids: Vec<String>) -> serde_json::Result<Self> {
        let as_json = serde_json::to_string(&ids)?;
        Ok(Self { ids, as_json })
    }
}

impl Expression for ItemOfOrders {
    type SqlType = Bool;
}

impl AppearsOnTable<order_items::table> for ItemOfOrders {}

impl ValidGrouping<()> for ItemOfOrders {
    type IsAggregate = is_aggregate::Never;
}

impl QueryFragment<Sqlite> for ItemOfOrders {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql("order_items.order_id IN (SELECT value FROM json_each(");
        out.push_bind_param::<Text, _>(self.as_json.as_str())?;
        out.push_sql("))");
        Ok(())
    }
}

impl QueryFragment<Pg> for ItemOfOrders {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("order_items.order_id = ANY(");
        out.push_bind_param::<Array<Text>, _>(&self.ids)?;
        out.push_sql(")");
        Ok(())
    }
}

// The text never varies, so the type alone identifies the prepared statement.
impl QueryId for ItemOfOrders {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}
