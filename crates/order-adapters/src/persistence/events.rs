//! The event log: every change's event, recorded in the change's transaction and read
//! back in commit order.
//!
//! On SQLite the one writer commits in the order it inserts, so an event's position is
//! assigned by its insert. On PostgreSQL transactions commit in another order than they
//! insert, and a position taken at insert (a sequence) would let a reader pass position
//! 8 while the transaction holding 7 has yet to commit, and skip 7 for good. So there an
//! event gets its position after it committed: before the feed is read, a sequencer
//! (one at a time across instances, under an advisory lock) numbers the committed
//! events that have none yet, in insertion order, after the highest position given so
//! far. An event that commits late is numbered late, after every position a reader may
//! already have passed.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use diesel::prelude::*;
use order_domain::{
    Backlog, EventId, EventLog, FeedError, FeedEvent, FeedPage, FeedStart, OrderId, RecordedEvent,
    RepositoryError,
};

use super::clock::DatabaseNow;
use super::database::on_database;
use super::orders::OrderStore;
use super::schema::{event_consumers, event_feed, order_events};
use super::time::DbTime;

/// Instances numbering events take this advisory lock, so that one numbers at a time
/// and positions never repeat.
const SEQUENCER_LOCK: i64 = 0x6f72_6465_7276;

/// The most events one pass of the sequencer numbers; the next pass numbers the rest.
const SEQUENCED_PER_PASS: i64 = 10_000;

/// An event as it is recorded.
#[derive(Debug, Insertable)]
#[diesel(table_name = order_events, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub(crate) struct NewEventRow<'a> {
    id: String,
    order_id: String,
    version: i64,
    name: &'static str,
    at: DbTime,
    body: &'a [u8],
    recorded_at: DatabaseNow,
}

/// The row that records `event`.
pub(crate) fn event_row(event: &RecordedEvent) -> NewEventRow<'_> {
    NewEventRow {
        id: event.id.to_string(),
        order_id: event.order_id.to_string(),
        version: i64::from(event.version),
        name: event.name,
        at: DbTime(event.at.naive_utc()),
        body: &event.body,
        recorded_at: DatabaseNow::now(),
    }
}

/// An event as it is read back.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = order_events, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
struct EventRow {
    position: Option<i64>,
    id: String,
    order_id: String,
    version: i64,
    name: String,
    at: chrono::NaiveDateTime,
    body: Vec<u8>,
}

fn feed_event(row: EventRow) -> anyhow::Result<FeedEvent> {
    let name = order_domain::OrderEvent::NAMES
        .into_iter()
        .find(|name| *name == row.name)
        .with_context(|| format!("event {} has an unknown name {}", row.id, row.name))?;
    Ok(FeedEvent {
        position: row
            .position
            .and_then(|position| u64::try_from(position).ok())
            .with_context(|| format!("event {} has no position", row.id))?,
        event: RecordedEvent {
            id: EventId::from_uuid(uuid::Uuid::parse_str(&row.id)?),
            order_id: OrderId::parse(&row.order_id)?,
            version: u32::try_from(row.version)?,
            name,
            at: row.at.and_utc(),
            body: row.body,
        },
    })
}

/// Records an event in the caller's transaction. A macro so that it runs on either
/// backend's connection.
macro_rules! record_event {
    ($conn:expr, $row:expr) => {{
        $crate::persistence::fixed::FixedText::<
                $crate::persistence::events::NewEventRow<'static>,
                _,
            >::new(
                diesel::insert_into($crate::persistence::schema::order_events::table).values($row),
            )
            .execute($conn)?;
        anyhow::Ok(())
    }};
}
pub(crate) use record_event;

/// Numbers the committed events that have no position yet, in insertion order, after
/// the highest position given so far (or forgotten). PostgreSQL only: see the module.
pub(crate) fn sequence_events(conn: &mut diesel::PgConnection) -> anyhow::Result<()> {
    diesel::sql_query(format!("SELECT pg_advisory_xact_lock({SEQUENCER_LOCK})")).execute(conn)?;
    diesel::sql_query(format!(
        "WITH unnumbered AS (
             SELECT seq, ROW_NUMBER() OVER (ORDER BY seq) AS n
             FROM order_events WHERE position IS NULL ORDER BY seq LIMIT {SEQUENCED_PER_PASS}
         ), base AS (
             SELECT GREATEST(
                 COALESCE((SELECT MAX(position) FROM order_events), 0),
                 (SELECT expired_through FROM event_feed WHERE id = 1)
             ) AS last
         )
         UPDATE order_events SET position = base.last + unnumbered.n
         FROM unnumbered, base WHERE order_events.seq = unnumbered.seq"
    ))
    .execute(conn)?;
    Ok(())
}

#[async_trait]
impl EventLog for OrderStore {
    async fn read_events(&self, start: FeedStart, limit: u32) -> Result<FeedPage, FeedError> {
        self.db.sequence_events().await?;
        let page = on_database!(self.db, read, |conn| {
            let expired_through: i64 = event_feed::table
                .select(event_feed::expired_through)
                .get_result(conn)?;
            let after = match start {
                FeedStart::Oldest => 0,
                FeedStart::After(after) => {
                    let after = i64::try_from(after).unwrap_or(i64::MAX);
                    if after < expired_through {
                        return Ok(None);
                    }
                    after
                }
                FeedStart::End => {
                    let last: Option<i64> = order_events::table
                        .select(diesel::dsl::max(order_events::position))
                        .get_result(conn)?;
                    let end = last.unwrap_or(expired_through).max(expired_through);
                    return Ok(Some(FeedPage {
                        events: Vec::new(),
                        next_after: u64::try_from(end)?,
                    }));
                }
            };
            let events = order_events::table
                .filter(order_events::position.gt(after))
                .order(order_events::position)
                .limit(i64::from(limit))
                .select(EventRow::as_select())
                .load(conn)?
                .into_iter()
                .map(feed_event)
                .collect::<anyhow::Result<Vec<_>>>()?;
            let next_after = events
                .last()
                .map_or(u64::try_from(after)?, |event| event.position);
            Ok(Some(FeedPage { events, next_after }))
        })?;
        page.ok_or(FeedError::Expired)
    }

    async fn forget_events(&self, retention: Duration, limit: u32) -> Result<u32, RepositoryError> {
        // Only events with a position can be forgotten: what is forgotten is always
        // everything up to a position.
        self.db.sequence_events().await?;
        let cutoff = DatabaseNow::minus(retention);
        on_database!(self.db, write, |conn| {
            // The oldest positions first, up to the first event still within its
            // retention.
            let oldest: Vec<Option<i64>> = order_events::table
                .filter(order_events::position.is_not_null())
                .order(order_events::position)
                .limit(i64::from(limit))
                .select(order_events::position)
                .load(conn)?;
            let candidates: Vec<i64> = oldest.iter().flatten().copied().collect();
            let expired: Vec<i64> = order_events::table
                .filter(order_events::position.eq_any(&candidates))
                .filter(order_events::recorded_at.lt(cutoff))
                .select(order_events::position.assume_not_null())
                .load(conn)?;
            let through = candidates
                .iter()
                .take_while(|position| expired.contains(position))
                .last()
                .copied();
            // Never past a consumer that is still being relayed to (its lease was renewed
            // within the retention): what it has not been sent yet is kept for it.
            let relayed_to: Option<i64> = event_consumers::table
                .filter(event_consumers::lease_until.gt(cutoff))
                .select(diesel::dsl::min(event_consumers::position))
                .get_result(conn)?;
            let Some(through) =
                through.map(|through| relayed_to.map_or(through, |p| through.min(p)))
            else {
                return Ok(0);
            };
            let forgotten =
                diesel::delete(order_events::table.filter(order_events::position.le(through)))
                    .execute(conn)?;
            diesel::update(event_feed::table)
                .set(event_feed::expired_through.eq(through))
                .filter(event_feed::expired_through.lt(through))
                .execute(conn)?;
            Ok(u32::try_from(forgotten).unwrap_or(u32::MAX))
        })
    }

    async fn lease_consumer(
        &self,
        consumer: &str,
        holder: &str,
        lease: Duration,
        start: FeedStart,
    ) -> Result<Option<u64>, RepositoryError> {
        self.db.sequence_events().await?;
        let (consumer, holder) = (consumer.to_owned(), holder.to_owned());
        let (now, until) = (DatabaseNow::now(), DatabaseNow::plus(lease));
        on_database!(self.db, write, |conn| {
            let expired_through: i64 = event_feed::table
                .select(event_feed::expired_through)
                .get_result(conn)?;
            let first = match start {
                FeedStart::Oldest => expired_through,
                FeedStart::After(after) => i64::try_from(after)?,
                FeedStart::End => order_events::table
                    .select(diesel::dsl::max(order_events::position))
                    .get_result::<Option<i64>>(conn)?
                    .unwrap_or(expired_through),
            };
            let created = diesel::insert_into(event_consumers::table)
                .values((
                    event_consumers::name.eq(&consumer),
                    event_consumers::position.eq(first),
                    event_consumers::holder.eq(&holder),
                    event_consumers::lease_until.eq(until),
                ))
                .on_conflict_do_nothing()
                .execute(conn)?;
            if created == 1 {
                return Ok(Some(u64::try_from(first)?));
            }
            // Another holder's lease that ran out is taken over: its holder stopped.
            let leased = diesel::update(
                event_consumers::table.find(&consumer).filter(
                    event_consumers::holder
                        .eq(&holder)
                        .or(event_consumers::lease_until.lt(now)),
                ),
            )
            .set((
                event_consumers::holder.eq(&holder),
                event_consumers::lease_until.eq(until),
            ))
            .execute(conn)?;
            if leased == 0 {
                return Ok(None);
            }
            let position: i64 = event_consumers::table
                .find(&consumer)
                .select(event_consumers::position)
                .get_result(conn)?;
            Ok(Some(u64::try_from(position)?))
        })
    }

    async fn advance_consumer(
        &self,
        consumer: &str,
        holder: &str,
        position: u64,
    ) -> Result<bool, RepositoryError> {
        let (consumer, holder) = (consumer.to_owned(), holder.to_owned());
        let position = i64::try_from(position).map_err(|e| RepositoryError::Internal(e.into()))?;
        let now = DatabaseNow::now();
        on_database!(self.db, write, |conn| {
            let advanced = diesel::update(
                event_consumers::table
                    .find(&consumer)
                    .filter(event_consumers::holder.eq(&holder))
                    .filter(event_consumers::lease_until.ge(now))
                    .filter(event_consumers::position.lt(position)),
            )
            .set(event_consumers::position.eq(position))
            .execute(conn)?;
            Ok(advanced == 1)
        })
    }

    async fn consumer_backlog(&self, consumer: &str) -> Result<Backlog, RepositoryError> {
        let consumer = consumer.to_owned();
        on_database!(self.db, read, |conn| {
            let position: Option<i64> = event_consumers::table
                .find(&consumer)
                .select(event_consumers::position)
                .get_result(conn)
                .optional()?;
            let Some(position) = position else {
                return Ok(Backlog::default());
            };
            // Events not yet numbered (PostgreSQL) wait too.
            let waiting = order_events::table.filter(
                order_events::position
                    .gt(position)
                    .or(order_events::position.is_null()),
            );
            let (count, oldest): (i64, Option<chrono::NaiveDateTime>) = waiting
                .select((
                    diesel::dsl::count_star(),
                    diesel::dsl::min(order_events::recorded_at),
                ))
                .get_result(conn)?;
            Ok(Backlog {
                waiting: u64::try_from(count)?,
                oldest: oldest.map(|at| at.and_utc()),
            })
        })
    }
}
