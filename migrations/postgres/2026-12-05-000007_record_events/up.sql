-- Every change's event, written in the change's transaction. Transactions commit in
-- another order than they insert, so `seq`, taken at insert, is not the feed's order:
-- `position` is assigned after commit, in commit order, by whoever reads the feed (see
-- the event log's sequencer), and stays NULL until then.
CREATE TABLE order_events (
    seq BIGSERIAL PRIMARY KEY,
    position BIGINT UNIQUE,
    id TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    name TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    body BYTEA NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);

CREATE INDEX order_events_unsequenced ON order_events (seq) WHERE position IS NULL;
CREATE INDEX order_events_by_time ON order_events (recorded_at);

-- The feed's own state: the last position forgotten by retention, so that a reader
-- asking for what came after an earlier one learns it missed events (410), and so
-- that positions go on from there when every event has been forgotten.
CREATE TABLE event_feed (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    expired_through BIGINT NOT NULL
);
INSERT INTO event_feed (id, expired_through) VALUES (1, 0);
