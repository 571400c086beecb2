-- Expired keys are found and deleted in batches without scanning the table.
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
