//! Statements on hot paths that Diesel would prepare anew every time: it never caches an
//! `UPDATE` (a changeset may vary), and issues savepoints as text. Written out as
//! statements of fixed text with a type of their own, they are prepared once per
//! connection and reused. Each binds its values as Diesel's own queries do.

use std::marker::PhantomData;

use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression, ValidGrouping, is_aggregate};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{Array, BigInt, Binary, Bool, Text, Timestamp};
use diesel::sqlite::Sqlite;
use diesel::{QueryResult, RunQueryDsl, SqliteConnection};

use super::schema::order_items;
use super::time::DbTime;

/// A Diesel query whose text never varies, identified by a `Marker` type of its own,
/// so that Diesel keys its prepared statement by the type instead of rebuilding the
/// text on every execution to look it up. Diesel cannot tell that of a single-row
/// `INSERT`: a value left to its column's default leaves the column out of the text.
/// So only wrap an insert whose every column is always given: `eq` tuples, or rows
/// with `treat_none_as_default_value = false` (`fixed_text_tests` checks those).
/// The same `Marker` on two queries of different text would run one as the other.
#[derive(Debug)]
pub(crate) struct FixedText<Marker, Q> {
    query: Q,
    marker: PhantomData<Marker>,
}

impl<Marker, Q> FixedText<Marker, Q> {
    pub(crate) fn new(query: Q) -> Self {
        Self {
            query,
            marker: PhantomData,
        }
    }
}

impl<Marker: 'static, Q> QueryId for FixedText<Marker, Q> {
    type QueryId = Marker;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<Marker, Q: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for FixedText<Marker, Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.query.walk_ast(pass)
    }
}

impl<Marker, Q, Conn> RunQueryDsl<Conn> for FixedText<Marker, Q> {}

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
    pub completed_at: DbTime,
}

impl<DB> QueryFragment<DB> for CompleteKey<'_>
where
    DB: Backend,
    str: ToSql<Text, DB>,
    [u8]: ToSql<Binary, DB>,
    DbTime: ToSql<Timestamp, DB>,
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

/// The rows inserted as [`FixedText`] give every column, whichever of their values are
/// `None`: the text of their insert is the same either way.
#[cfg(test)]
mod fixed_text_tests {
    use diesel::pg::Pg;
    use diesel::query_builder::QueryFragment;
    use diesel::sqlite::Sqlite;
    use diesel::{debug_query, insert_into};

    use crate::persistence::rows::{HistoryRow, OrderRow};
    use crate::persistence::schema::{order_history, orders};
    use crate::persistence::time::DbTime;

    /// The text of `query` on both databases, without its bound values.
    fn texts(query: &(impl QueryFragment<Sqlite> + QueryFragment<Pg>)) -> [String; 2] {
        let text = |debug: String| debug.split(" -- binds").next().unwrap_or("").to_owned();
        [
            text(debug_query::<Sqlite, _>(query).to_string()),
            text(debug_query::<Pg, _>(query).to_string()),
        ]
    }

    fn epoch() -> DbTime {
        DbTime(chrono::NaiveDateTime::default())
    }

    fn order_row(given: bool) -> OrderRow {
        let text = || given.then(|| "x".to_owned());
        let time = || given.then(epoch);
        OrderRow {
            id: "o".into(),
            store_id: "s".into(),
            customer_id: "c".into(),
            status: "pending".into(),
            currency: "EUR".into(),
            items_total: 1,
            shipping_cost: 1,
            tax_amount: 1,
            total_amount: 3,
            ship_line1: "l".into(),
            ship_line2: text(),
            ship_city: "c".into(),
            ship_region: text(),
            ship_postal_code: "p".into(),
            ship_country: "US".into(),
            payment_method: text(),
            payment_reference: text(),
            payment_confirmed_at: time(),
            payment_confirmation_reference: text(),
            shipment_carrier: text(),
            shipment_tracking_number: text(),
            shipped_at: time(),
            delivered_at: time(),
            cancel_reason: text(),
            canceled_at: time(),
            refund_status: text(),
            refund_completed_at: time(),
            version: 1,
            created_at: epoch(),
            updated_at: epoch(),
            deleted_at: time(),
        }
    }

    fn history_row(given: bool) -> HistoryRow {
        let text = || given.then(|| "x".to_owned());
        HistoryRow {
            order_id: "o".into(),
            version: 1,
            event: "order_placed".into(),
            from_status: text(),
            to_status: "pending".into(),
            at: epoch(),
            data: "{}".into(),
            actor_sub: text(),
            actor_scope: text(),
        }
    }

    #[test]
    fn an_order_row_s_insert_has_one_text_whatever_is_none() {
        let [with_none, with_some] =
            [false, true].map(|given| texts(&insert_into(orders::table).values(order_row(given))));
        assert_eq!(with_none, with_some);
        assert!(with_none[0].contains("`deleted_at`"), "{}", with_none[0]);
    }

    #[test]
    fn a_history_row_s_insert_has_one_text_whatever_is_none() {
        let [with_none, with_some] = [false, true]
            .map(|given| texts(&insert_into(order_history::table).values(history_row(given))));
        assert_eq!(with_none, with_some);
        assert!(with_none[0].contains("`actor_scope`"), "{}", with_none[0]);
    }
}
