-- Who made each change: the caller's subject and the scope that allowed it; NULL in
-- open mode and for changes the service makes by itself.
ALTER TABLE order_history ADD COLUMN actor_sub TEXT;
ALTER TABLE order_history ADD COLUMN actor_scope TEXT;

-- Idempotency keys belong to the caller that sent them: the same key from two callers
-- names two requests. Keys stored before belong to the open-mode caller ('').
ALTER TABLE idempotency_keys ADD COLUMN caller TEXT NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys ALTER COLUMN caller DROP DEFAULT;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (caller, idempotency_key);
