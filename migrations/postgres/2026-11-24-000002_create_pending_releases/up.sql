-- Stock releases the inventory has not confirmed yet. A row is written in the same
-- transaction as the change that gives the stock back, and deleted once the inventory
-- confirms, so a release survives an unreachable inventory and a crash.
CREATE TABLE pending_releases (
    reservation_id TEXT PRIMARY KEY NOT NULL,
    request_id TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    due_at TIMESTAMP NOT NULL
);

CREATE INDEX pending_releases_due ON pending_releases (due_at);
