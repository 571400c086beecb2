-- Who made each change: the caller's subject and the scope that allowed it; NULL in
-- open mode and for changes the service makes by itself.
ALTER TABLE order_history ADD COLUMN actor_sub TEXT;
ALTER TABLE order_history ADD COLUMN actor_scope TEXT;

-- Idempotency keys belong to the caller that sent them: the same key from two callers
-- names two requests. Keys stored before belong to the open-mode caller (''). SQLite
-- cannot change a primary key in place, so the table is rebuilt.
CREATE TABLE idempotency_keys_by_caller (
    caller TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    order_id TEXT,
    response_body BLOB,
    claimed_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (caller, idempotency_key)
);
INSERT INTO idempotency_keys_by_caller
SELECT '', idempotency_key, fingerprint, order_id, response_body, claimed_at, completed_at, expires_at
FROM idempotency_keys;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_by_caller RENAME TO idempotency_keys;
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
