CREATE TABLE idempotency_keys_by_key (
    idempotency_key TEXT PRIMARY KEY NOT NULL,
    fingerprint TEXT NOT NULL,
    order_id TEXT,
    response_body BLOB,
    claimed_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP,
    expires_at TIMESTAMP NOT NULL
);
INSERT INTO idempotency_keys_by_key
SELECT idempotency_key, fingerprint, order_id, response_body, claimed_at, completed_at, expires_at
FROM idempotency_keys
WHERE caller = '';
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_by_key RENAME TO idempotency_keys;
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);

ALTER TABLE order_history DROP COLUMN actor_scope;
ALTER TABLE order_history DROP COLUMN actor_sub;
