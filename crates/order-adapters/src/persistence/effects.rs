//! The effect outbox: effects outside the database recorded until they are done, on
//! either database.

use async_trait::async_trait;
use diesel::backend::Backend;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Text};
use order_domain::{
    Currency, DueEffect, Effect, EffectId, EffectOutbox, EventId, Money, OrderEvent, OrderId,
    PaymentReference, PendingEffect, RecordedEvent, RepositoryError, RequestId,
};
use serde::{Deserialize, Serialize};

use super::clock::DatabaseNow;
use super::database::on_database;
use super::orders::OrderStore;
use super::schema::effects;

/// An effect as it is read back.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = effects, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
struct EffectRow {
    kind: String,
    payload: String,
    request_id: String,
    attempts: i64,
}

/// An effect as it is recorded (its `taken` count aside, which only workers change).
#[derive(Debug)]
pub(crate) struct NewEffectRow {
    id: String,
    kind: &'static str,
    payload: String,
    request_id: String,
    attempts: i64,
    due_at: DatabaseNow,
    recorded_at: DatabaseNow,
}

/// Records an effect, or records it afresh (its `taken` count kept) when one with its id
/// is there. Fixed text, so that it is prepared once per connection: Diesel prepares
/// an upsert's `DO UPDATE` anew every time, and every placement records one.
#[derive(Debug)]
pub(crate) struct RecordEffect<'a>(pub &'a NewEffectRow);

impl<DB> QueryFragment<DB> for RecordEffect<'_>
where
    DB: Backend,
    str: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    DatabaseNow: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let row = self.0;
        out.push_sql(
            "INSERT INTO effects (id, kind, payload, request_id, attempts, due_at, recorded_at, \
             taken) VALUES (",
        );
        out.push_bind_param::<Text, _>(row.id.as_str())?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(row.kind)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(row.payload.as_str())?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(row.request_id.as_str())?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&row.attempts)?;
        out.push_sql(", ");
        row.due_at.walk_ast(out.reborrow())?;
        out.push_sql(", ");
        row.recorded_at.walk_ast(out.reborrow())?;
        out.push_sql(
            ", 0) ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, payload = \
             excluded.payload, request_id = excluded.request_id, attempts = excluded.attempts, \
             due_at = excluded.due_at, recorded_at = excluded.recorded_at",
        );
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for RecordEffect<'_> {}

// The text never varies, so the type alone identifies the prepared statement.
impl QueryId for RecordEffect<'_> {
    type QueryId = RecordEffect<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

/// The stored payload of a release.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReleasePayload {
    reservation_id: String,
    may_land_late: bool,
}

/// The stored payload of a refund.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefundPayload {
    order_id: String,
    payment_reference: String,
    amount: i64,
    currency: String,
}

/// The stored payload of a notification to try again: the event it is made from.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NotifyPayload {
    event_id: String,
    order_id: String,
    version: u32,
    name: String,
    at: chrono::DateTime<chrono::Utc>,
    /// The event's body, JSON as it was rendered.
    body: String,
}

/// The row that records `due`.
pub(crate) fn effect_row(due: &DueEffect) -> anyhow::Result<NewEffectRow> {
    let pending = &due.effect;
    let payload = match &pending.effect {
        Effect::ReleaseReservation {
            reservation_id,
            may_land_late,
        } => serde_json::to_string(&ReleasePayload {
            reservation_id: reservation_id.to_string(),
            may_land_late: *may_land_late,
        })?,
        Effect::Refund {
            order_id,
            payment_reference,
            amount,
            currency,
        } => serde_json::to_string(&RefundPayload {
            order_id: order_id.to_string(),
            payment_reference: payment_reference.as_str().to_owned(),
            amount: amount.minor_units(),
            currency: currency.to_string(),
        })?,
        Effect::Notify { event } => serde_json::to_string(&NotifyPayload {
            event_id: event.id.to_string(),
            order_id: event.order_id.to_string(),
            version: event.version,
            name: event.name.to_owned(),
            at: event.at,
            body: String::from_utf8(event.body.clone())?,
        })?,
    };
    Ok(NewEffectRow {
        id: pending.effect.id().as_str().to_owned(),
        kind: pending.effect.kind(),
        payload,
        request_id: pending.request_id.as_str().to_owned(),
        attempts: i64::from(pending.attempts),
        due_at: DatabaseNow::plus(due.due_in),
        recorded_at: DatabaseNow::now(),
    })
}

fn pending_from_row(row: EffectRow) -> anyhow::Result<PendingEffect> {
    let effect = match row.kind.as_str() {
        "release_reservation" => {
            let payload: ReleasePayload = serde_json::from_str(&row.payload)?;
            Effect::ReleaseReservation {
                reservation_id: OrderId::parse(&payload.reservation_id)?,
                may_land_late: payload.may_land_late,
            }
        }
        "refund" => {
            let payload: RefundPayload = serde_json::from_str(&row.payload)?;
            Effect::Refund {
                order_id: OrderId::parse(&payload.order_id)?,
                payment_reference: PaymentReference::parse(payload.payment_reference)?,
                amount: Money::from_minor_units(payload.amount)?,
                currency: Currency::parse(&payload.currency)?,
            }
        }
        "notify" => {
            let payload: NotifyPayload = serde_json::from_str(&row.payload)?;
            let name = OrderEvent::NAMES
                .into_iter()
                .find(|name| *name == payload.name)
                .ok_or_else(|| {
                    anyhow::anyhow!("a notification of an unknown event: {}", payload.name)
                })?;
            Effect::Notify {
                event: RecordedEvent {
                    id: EventId::from_uuid(uuid::Uuid::parse_str(&payload.event_id)?),
                    order_id: OrderId::parse(&payload.order_id)?,
                    version: payload.version,
                    name,
                    at: payload.at,
                    body: payload.body.into_bytes(),
                },
            }
        }
        other => anyhow::bail!("an effect of an unknown kind: {other}"),
    };
    Ok(PendingEffect {
        effect,
        request_id: RequestId::parse(&row.request_id)?,
        attempts: u32::try_from(row.attempts)?,
    })
}

/// Records an effect, or replaces the record of it — never making a taken one untaken.
/// A macro so that it runs on either backend's connection, inside a caller's
/// transaction.
macro_rules! record_effect {
    ($conn:expr, $row:expr) => {{
        diesel::RunQueryDsl::execute($crate::persistence::effects::RecordEffect($row), $conn)?;
        anyhow::Ok(())
    }};
}
pub(crate) use record_effect;

#[async_trait]
impl EffectOutbox for OrderStore {
    async fn record_effect(&self, due: &DueEffect) -> Result<(), RepositoryError> {
        let row = effect_row(due).map_err(RepositoryError::Internal)?;
        on_database!(self.db, write, |conn| record_effect!(conn, &row))
    }

    async fn take_effect(
        &self,
        id: &EffectId,
        lease: std::time::Duration,
    ) -> Result<bool, RepositoryError> {
        let id = id.as_str().to_owned();
        let hidden_until = DatabaseNow::plus(lease);
        on_database!(self.db, write, |conn| {
            let taken = diesel::update(effects::table.find(&id).filter(effects::taken.eq(0_i64)))
                .set((
                    effects::taken.eq(effects::taken + 1),
                    effects::due_at.eq(hidden_until),
                ))
                .execute(conn)?;
            Ok(taken == 1)
        })
    }

    async fn take_due_effects(
        &self,
        lease: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<PendingEffect>, RepositoryError> {
        let (now, hidden_until) = (DatabaseNow::now(), DatabaseNow::plus(lease));
        on_database!(self.db, write, |conn| {
            let due: Vec<String> = effects::table
                .select(effects::id)
                .filter(effects::due_at.le(now))
                .order(effects::due_at)
                .limit(i64::from(limit))
                .load(conn)?;
            if due.is_empty() {
                return Ok(Vec::new());
            }
            // Due is checked again on the row itself: on PostgreSQL another instance may
            // take a row between the two statements, and then this update, which waits
            // for the row's lock, finds it hidden and leaves it.
            let rows: Vec<EffectRow> = diesel::update(
                effects::table
                    .filter(effects::id.eq_any(due))
                    .filter(effects::due_at.le(now)),
            )
            .set((
                effects::taken.eq(effects::taken + 1),
                effects::due_at.eq(hidden_until),
            ))
            .returning(EffectRow::as_returning())
            .get_results(conn)?;
            rows.into_iter().map(pending_from_row).collect()
        })
    }

    async fn complete_effect(&self, id: &EffectId) -> Result<(), RepositoryError> {
        let id = id.as_str().to_owned();
        on_database!(self.db, write, |conn| {
            diesel::delete(effects::table.find(&id)).execute(conn)?;
            Ok(())
        })
    }
}
