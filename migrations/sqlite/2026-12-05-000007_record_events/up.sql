-- Every change's event, written in the change's transaction. `position` is the event's
-- place in the feed, in commit order: here SQLite's one writer commits in the order it
-- inserts, so the insert assigns it (AUTOINCREMENT: never reused, even after the
-- oldest events are forgotten). `seq` is the order of insertion, the same thing here.
CREATE TABLE order_events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    seq BIGINT GENERATED ALWAYS AS (position) VIRTUAL,
    id TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    name TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    body BLOB NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);

CREATE INDEX order_events_by_time ON order_events (recorded_at);

-- The feed's own state: the last position forgotten by retention, so that a reader
-- asking for what came after an earlier one learns it missed events (410).
CREATE TABLE event_feed (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    expired_through BIGINT NOT NULL
);
INSERT INTO event_feed (id, expired_through) VALUES (1, 0);
