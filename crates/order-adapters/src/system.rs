//! The clock and the id source the service runs on.

use chrono::{DateTime, Utc};
use order_domain::{Clock, EventId, IdSource, OrderId};
use uuid::Uuid;

/// The system clock, truncated to the microsecond so that times survive a round trip
/// through the database unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
    }
}

/// Time-ordered (v7) UUIDs, so that ids sort roughly by creation and index well.
#[derive(Debug, Clone, Copy, Default)]
pub struct UuidV7Ids;

impl IdSource for UuidV7Ids {
    fn next_order_id(&self) -> OrderId {
        OrderId::from_uuid(Uuid::now_v7())
    }

    fn next_event_id(&self) -> EventId {
        EventId::from_uuid(Uuid::now_v7())
    }
}
