//! The order repository and the idempotency store, on either database.

use std::collections::HashMap;

use anyhow::bail;
use async_trait::async_trait;
use diesel::prelude::*;
use order_domain::{
    ClaimOutcome, DueEffect, EffectId, HistoryEntry, IdempotencyClaim, IdempotencyCompletion,
    IdempotencyStore, InsertOutcome, KeyRequest, KeyTaken, Order, OrderChange, OrderId, OrderPage,
    OrderQuery, OrderRepository, PagePosition, PlacedOrder, RefundStatus, RepositoryError,
    Reservation, ReservingOutcome, SaveOutcome, StoredResponse, Subject,
};

use super::clock::DatabaseNow;
use super::database::{Database, on_database};
use super::effects::{effect_row, record_effect};
use super::events::{event_row, record_event};
use super::fixed::{CompleteKey, FixedText, ItemOfOrders, LiteralLimit};
use super::rows::{
    HistoryRow, ItemRow, OrderRow, history_from_row, history_row, order_from_rows, order_rows,
};
use super::schema::{effects, idempotency_keys, order_history, order_items, orders};
use super::stock::{Rollback, reserve_stock, rolled_back};
use super::time::DbTime;

/// The item rows of these orders, by order id, each in line order. A macro so that it
/// runs on either backend's connection.
macro_rules! load_items {
    ($conn:expr, $order_ids:expr) => {{
        let rows: Vec<ItemRow> = order_items::table
            .filter(ItemOfOrders::new($order_ids)?)
            .order((order_items::order_id, order_items::line_no))
            .select(ItemRow::as_select())
            .load($conn)?;
        let mut by_order: HashMap<String, Vec<ItemRow>> = HashMap::new();
        for row in rows {
            by_order.entry(row.order_id.clone()).or_default().push(row);
        }
        by_order
    }};
}

// Rows are looked up by key with `get_result`, never `first`: `first` binds `LIMIT 1`,
// and SQLite re-prepares a statement whenever a bound LIMIT is bound again (it may
// change the plan), which is to say on every execution.

/// The stored owner of an idempotency key: the caller's subject, or `''` for open
/// mode's keys.
fn owner_of(owner: Option<&Subject>) -> String {
    owner.map_or_else(String::new, |subject| subject.as_str().to_owned())
}

/// How often a claim looks at a key afresh when it changed between two statements.
const CLAIM_ROUNDS: usize = 3;

/// Inserts a new order's row, its item rows, its first history entry and its event. A
/// macro so that it runs on either backend's connection.
macro_rules! store_placed {
    ($conn:expr, $order_row:expr, $item_rows:expr, $history:expr, $event:expr) => {{
        FixedText::<OrderRow, _>::new(diesel::insert_into(orders::table).values($order_row))
            .execute($conn)?;
        // One fixed-text statement a line, prepared once and reused, rather than a
        // multi-line insert whose text depends on the number of lines.
        for item in $item_rows {
            FixedText::<ItemRow, _>::new(diesel::insert_into(order_items::table).values(item))
                .execute($conn)?;
        }
        FixedText::<HistoryRow, _>::new(diesel::insert_into(order_history::table).values($history))
            .execute($conn)?;
        record_event!($conn, event_row($event))?;
    }};
}

/// The insert of a key's claim, unfinished ([`FixedText`]'s marker).
enum ClaimKey {}

/// The insert of a key's claim, completed with its order ([`FixedText`]'s marker).
enum ClaimCompletedKey {}

/// Whether a key's row is free to be claimed afresh: the key expired, or its claim was
/// abandoned by a request that never finished.
macro_rules! key_is_free {
    ($now:expr, $abandoned_before:expr) => {
        k::expires_at.le($now).or(k::completed_at
            .is_null()
            .and(k::claimed_at.lt($abandoned_before)))
    };
}

/// Claims an idempotency key for this request, writing `$fresh` (the claim's columns)
/// into its row: evaluates to `None` when claimed, or to what holds the key. Of
/// concurrent claims of one key, across processes too, exactly one succeeds. A macro so
/// that it runs on either backend's connection.
macro_rules! claim_key {
    ($conn:expr, $key:expr, $fingerprint:expr, $fresh:expr, $marker:ty, $now:expr, $abandoned_before:expr) => {{
        let (caller, key): &(String, String) = $key;
        let fingerprint: &str = $fingerprint;
        let mut taken = Some(KeyTaken::InProgress);
        // On PostgreSQL each statement sees the latest commits, so the key's row may
        // change between them: a claim may be abandoned after the insert found it, or
        // completed after it was read. Each step re-checks what it relies on, and a key
        // that changed under it is looked at afresh; one that keeps changing hands is
        // some other request's work in progress.
        for _ in 0..CLAIM_ROUNDS {
            // The primary key makes exactly one of concurrent inserts succeed.
            let inserted = FixedText::<$marker, _>::new(
                diesel::insert_into(k::idempotency_keys)
                    .values((
                        k::caller.eq(caller),
                        k::idempotency_key.eq(key),
                        $fresh.clone(),
                    ))
                    .on_conflict_do_nothing(),
            )
            .execute($conn)?;
            // Only if it is still free when updated: a claim completed or taken over
            // since it was looked at is never wiped.
            let claimed = inserted == 1
                || diesel::update(
                    k::idempotency_keys
                        .find((caller, key))
                        .filter(key_is_free!($now, $abandoned_before)),
                )
                .set($fresh.clone())
                .execute($conn)?
                    == 1;
            if claimed {
                taken = None;
                break;
            }
            let existing = k::idempotency_keys
                .find((caller, key))
                .select(KeyRow::as_select())
                .get_result($conn)
                .optional()?;
            if let Some(existing) = existing {
                taken = Some(existing.taken_by(fingerprint));
                break;
            }
            // Deleted since the insert: insert again.
        }
        taken
    }};
}

/// Orders, their histories, idempotency keys and the effects not yet done, kept in one
/// database (SQLite or PostgreSQL).
#[derive(Debug, Clone)]
pub struct OrderStore {
    pub(crate) db: Database,
}

impl OrderStore {
    /// A store over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = idempotency_keys, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
struct KeyRow {
    fingerprint: String,
    response_body: Option<Vec<u8>>,
    completed_at: Option<chrono::NaiveDateTime>,
}

impl KeyRow {
    /// What a request asking `fingerprint` gets from the key this row holds.
    fn taken_by(self, fingerprint: &str) -> KeyTaken {
        if self.fingerprint != fingerprint {
            return KeyTaken::KeyReused;
        }
        match self.response_body {
            Some(body) if self.completed_at.is_some() => KeyTaken::Replay(StoredResponse(body)),
            _ => KeyTaken::InProgress,
        }
    }
}

#[async_trait]
impl IdempotencyStore for OrderStore {
    async fn claim(&self, claim: &IdempotencyClaim) -> Result<ClaimOutcome, RepositoryError> {
        use idempotency_keys::dsl as k;
        let guard = effect_row(&DueEffect {
            effect: claim.guard.clone(),
            due_in: claim.abandon_after,
        })
        .map_err(RepositoryError::Internal)?;
        let key = (
            owner_of(claim.owner.as_ref()),
            claim.key.as_str().to_owned(),
        );
        let fingerprint = claim.fingerprint.as_str().to_owned();
        let order_id = claim.order_id.to_string();
        let now = DatabaseNow::now();
        let expires_at = DatabaseNow::plus(claim.retention);
        let abandoned_before = DatabaseNow::minus(claim.abandon_after);
        on_database!(self.db, write, |conn| {
            let fresh_claim = (
                k::fingerprint.eq(&fingerprint),
                k::order_id.eq(Some(&order_id)),
                k::response_body.eq(None::<Vec<u8>>),
                k::claimed_at.eq(now),
                k::completed_at.eq(None::<chrono::NaiveDateTime>),
                k::expires_at.eq(expires_at),
            );
            Ok(
                match claim_key!(
                    conn,
                    &key,
                    &fingerprint,
                    fresh_claim,
                    ClaimKey,
                    now,
                    abandoned_before
                ) {
                    None => {
                        record_effect!(conn, &guard)?;
                        ClaimOutcome::Claimed
                    }
                    Some(KeyTaken::Replay(response)) => ClaimOutcome::Replay(response),
                    Some(KeyTaken::InProgress) => ClaimOutcome::InProgress,
                    Some(KeyTaken::KeyReused) => ClaimOutcome::KeyReused,
                },
            )
        })
    }

    async fn recall(&self, request: &KeyRequest) -> Result<Option<KeyTaken>, RepositoryError> {
        use idempotency_keys::dsl as k;
        let key = (
            owner_of(request.owner.as_ref()),
            request.key.as_str().to_owned(),
        );
        let fingerprint = request.fingerprint.as_str().to_owned();
        let now = DatabaseNow::now();
        let abandoned_before = DatabaseNow::minus(request.abandon_after);
        on_database!(self.db, read, |conn| {
            let existing = k::idempotency_keys
                .find((&key.0, &key.1))
                .filter(diesel::dsl::not(key_is_free!(now, abandoned_before)))
                .select(KeyRow::as_select())
                .get_result(conn)
                .optional()?;
            Ok(existing.map(|existing| existing.taken_by(&fingerprint)))
        })
    }

    async fn abandon(&self, claim: &IdempotencyClaim) -> Result<(), RepositoryError> {
        use idempotency_keys::dsl as k;
        let key = (
            owner_of(claim.owner.as_ref()),
            claim.key.as_str().to_owned(),
        );
        let order_id = claim.order_id.to_string();
        on_database!(self.db, write, |conn| {
            diesel::delete(
                k::idempotency_keys
                    .find((&key.0, &key.1))
                    .filter(k::completed_at.is_null())
                    .filter(k::order_id.eq(&order_id)),
            )
            .execute(conn)?;
            Ok(())
        })
    }

    async fn forget_expired(&self, limit: u32) -> Result<u32, RepositoryError> {
        use idempotency_keys::dsl as k;
        let now = DatabaseNow::now();
        on_database!(self.db, write, |conn| {
            let expired: Vec<(String, String)> = k::idempotency_keys
                .select((k::caller, k::idempotency_key))
                .filter(k::expires_at.le(now))
                .limit(i64::from(limit))
                .load(conn)?;
            let mut deleted = 0;
            for key in expired {
                // Expired is checked again on the row itself: on PostgreSQL a key may be
                // claimed afresh between the two statements.
                deleted +=
                    diesel::delete(k::idempotency_keys.find(key).filter(k::expires_at.le(now)))
                        .execute(conn)?;
            }
            Ok(u32::try_from(deleted).unwrap_or(u32::MAX))
        })
    }
}

#[async_trait]
impl OrderRepository for OrderStore {
    async fn insert_placed_order(
        &self,
        placed: &PlacedOrder,
        completion: Option<IdempotencyCompletion>,
        guard: &EffectId,
    ) -> Result<InsertOutcome, RepositoryError> {
        let order = &placed.order;
        let (order_row, item_rows) = order_rows(order);
        let history = history_row(order.id(), &placed.entry).map_err(RepositoryError::Internal)?;
        let completed_at = DbTime(order.created_at().naive_utc());
        let event = placed.event.clone();
        let guard = guard.as_str().to_owned();
        on_database!(self.db, write, |conn| {
            // First, so that a placement whose guard a worker took stores nothing: the
            // row decides between the two, whichever comes first.
            let forgotten =
                diesel::delete(effects::table.find(&guard).filter(effects::taken.eq(0_i64)))
                    .execute(conn)?;
            if forgotten == 0 {
                return Ok(InsertOutcome::GuardTaken);
            }
            store_placed!(conn, &order_row, &item_rows, &history, &event);
            if let Some(completion) = &completion {
                let completed = CompleteKey {
                    caller: owner_of(completion.owner.as_ref()).as_str(),
                    key: completion.key.as_str(),
                    order_id: &order_row.id,
                    response: &completion.response.0,
                    completed_at,
                }
                .execute(conn)?;
                if completed != 1 {
                    bail!("the claim on the idempotency key was taken over by another request");
                }
            }
            Ok(InsertOutcome::Stored)
        })
    }

    async fn insert_reserving(
        &self,
        placed: &PlacedOrder,
        reservation: &Reservation,
        key: Option<(KeyRequest, StoredResponse)>,
    ) -> Result<ReservingOutcome, RepositoryError> {
        use idempotency_keys::dsl as k;
        let order = &placed.order;
        let (order_row, item_rows) = order_rows(order);
        let history = history_row(order.id(), &placed.entry).map_err(RepositoryError::Internal)?;
        let event = placed.event.clone();
        let reservation = reservation.clone();
        let completed_at = DbTime(order.created_at().naive_utc());
        let now = DatabaseNow::now();
        let key = key.map(|(request, response)| {
            let key = (
                owner_of(request.owner.as_ref()),
                request.key.as_str().to_owned(),
            );
            let expires_at = DatabaseNow::plus(request.retention);
            let abandoned_before = DatabaseNow::minus(request.abandon_after);
            (
                key,
                request.fingerprint,
                expires_at,
                abandoned_before,
                response,
            )
        });
        let stored = on_database!(self.db, write, |conn| {
            // The key first: a replay or a reuse must take no stock.
            if let Some((key, fingerprint, expires_at, abandoned_before, response)) = &key {
                // Claimed and completed at once: no other request can see it unfinished.
                let completed = (
                    k::fingerprint.eq(fingerprint.as_str()),
                    k::order_id.eq(Some(&order_row.id)),
                    k::response_body.eq(Some(&response.0)),
                    k::claimed_at.eq(now),
                    k::completed_at.eq(Some(completed_at)),
                    k::expires_at.eq(*expires_at),
                );
                let taken = claim_key!(
                    conn,
                    key,
                    fingerprint.as_str(),
                    completed,
                    ClaimCompletedKey,
                    now,
                    *abandoned_before
                );
                if let Some(taken) = taken {
                    return Ok(ReservingOutcome::KeyTaken(taken));
                }
            }
            reserve_stock!(conn, &reservation);
            store_placed!(conn, &order_row, &item_rows, &history, &event);
            Ok(ReservingOutcome::Stored)
        });
        match rolled_back(stored)? {
            Ok(outcome) => Ok(outcome),
            Err(Rollback::Refused(refusal)) => Ok(ReservingOutcome::Refused(refusal)),
            // The reservation's id is the new order's, which nothing else has reserved.
            Err(already @ Rollback::AlreadyReserved) => {
                Err(RepositoryError::Internal(already.into()))
            }
        }
    }

    async fn save_change(&self, change: &OrderChange) -> Result<SaveOutcome, RepositoryError> {
        let (order_row, _) = order_rows(&change.order);
        let history =
            history_row(change.order.id(), &change.entry).map_err(RepositoryError::Internal)?;
        let previous_version = i64::from(change.previous_version);
        let effects = change
            .effects
            .iter()
            .map(effect_row)
            .collect::<anyhow::Result<Vec<_>>>()
            .map_err(RepositoryError::Internal)?;
        let event = change.event.clone();
        on_database!(self.db, write, |conn| {
            // The version condition makes the update the arbiter between racing
            // changes: only the first one decided on this version matches.
            let updated = diesel::update(
                orders::table
                    .find(&order_row.id)
                    .filter(orders::version.eq(previous_version)),
            )
            .set(&order_row)
            .execute(conn)?;
            if updated == 0 {
                return Ok(SaveOutcome::VersionConflict);
            }
            diesel::insert_into(order_history::table)
                .values(&history)
                .execute(conn)?;
            record_event!(conn, event_row(&event))?;
            for effect in &effects {
                record_effect!(conn, effect)?;
            }
            Ok(SaveOutcome::Saved)
        })
    }

    async fn find_order(&self, id: OrderId) -> Result<Option<Order>, RepositoryError> {
        on_database!(self.db, read, |conn| {
            let row: Option<OrderRow> = orders::table
                .find(id.to_string())
                .select(OrderRow::as_select())
                .get_result(conn)
                .optional()?;
            row.map(|row| {
                // `=` rather than `IN (…)`: a statement of fixed text is prepared once
                // and reused.
                let lines: Vec<ItemRow> = order_items::table
                    .filter(order_items::order_id.eq(&row.id))
                    .order(order_items::line_no)
                    .select(ItemRow::as_select())
                    .load(conn)?;
                order_from_rows(row, lines)
            })
            .transpose()
        })
    }

    async fn list_orders(&self, query: &OrderQuery) -> Result<OrderPage, RepositoryError> {
        let query = query.clone();
        // Every filter has an index to page through (migrations), so a listing is a
        // bounded read like any other.
        on_database!(self.db, read, |conn| {
            let mut select = orders::table
                .select(OrderRow::as_select())
                .filter(orders::deleted_at.is_null())
                .order((orders::created_at.desc(), orders::id.desc()))
                .into_boxed();
            if let Some(customer) = &query.customer_id {
                select = select.filter(orders::customer_id.eq(customer.as_str().to_owned()));
            }
            if let Some(store) = &query.store_id {
                select = select.filter(orders::store_id.eq(store.as_str().to_owned()));
            }
            if let Some(status) = query.status {
                select = select.filter(orders::status.eq(status.as_str()));
            }
            if let Some(after) = query.after {
                let created_at = after.created_at.naive_utc();
                select = select.filter(
                    orders::created_at.lt(created_at).or(orders::created_at
                        .eq(created_at)
                        .and(orders::id.lt(after.id.to_string()))),
                );
            }
            // One more than the page, to learn whether another follows.
            let mut rows: Vec<OrderRow> = LiteralLimit {
                query: select,
                limit: query.limit.get() + 1,
            }
            .load(conn)?;
            let more = rows.len() > query.limit.get() as usize;
            rows.truncate(query.limit.get() as usize);
            let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
            let mut items = load_items!(conn, ids);
            let orders = rows
                .into_iter()
                .map(|row| {
                    let lines = items.remove(&row.id).unwrap_or_default();
                    order_from_rows(row, lines)
                })
                .collect::<anyhow::Result<Vec<Order>>>()?;
            let next = orders.last().filter(|_| more).map(|last| PagePosition {
                created_at: last.created_at(),
                id: last.id(),
            });
            Ok(OrderPage { orders, next })
        })
    }

    async fn mark_refund_failed(&self, id: OrderId) -> Result<(), RepositoryError> {
        on_database!(self.db, write, |conn| {
            diesel::update(
                orders::table
                    .find(id.to_string())
                    .filter(orders::refund_status.eq(RefundStatus::Pending.as_str())),
            )
            .set(orders::refund_status.eq(RefundStatus::Failed.as_str()))
            .execute(conn)?;
            Ok(())
        })
    }

    async fn order_history(&self, id: OrderId) -> Result<Vec<HistoryEntry>, RepositoryError> {
        on_database!(self.db, read, |conn| {
            order_history::table
                .filter(order_history::order_id.eq(id.to_string()))
                .order(order_history::version.asc())
                .select(HistoryRow::as_select())
                .load(conn)?
                .into_iter()
                .map(history_from_row)
                .collect()
        })
    }
}
