DELETE FROM idempotency_keys WHERE caller <> '';
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys DROP COLUMN caller;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (idempotency_key);

ALTER TABLE order_history DROP COLUMN actor_scope;
ALTER TABLE order_history DROP COLUMN actor_sub;
