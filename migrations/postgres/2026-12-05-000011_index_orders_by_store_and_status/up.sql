-- A store's orders in one status ("what is waiting to ship") page through an index of
-- their own: through the status index the query read every order in that status,
-- millions at scale, to find the store's first twenty.
CREATE INDEX orders_by_store_and_status ON orders (store_id, status, created_at DESC, id DESC) WHERE deleted_at IS NULL;
