-- A store's orders in one status ("what is waiting to ship") page through an index of
-- their own: through the status index the query read every order in that status,
-- millions at scale, to find the store's first twenty.
CREATE INDEX orders_by_store_and_status ON orders (store_id, status, created_at DESC, id DESC) WHERE deleted_at IS NULL;

-- Fixed statistics for SQLite's query planner, written by hand as SQLite's documentation
-- allows (https://sqlite.org/fileformat2.html#stat1tab), so that plans do not depend on
-- whether ANALYZE has run: without them the planner treats every index as equally
-- selective and may page a customer's orders in one status through the status index,
-- reading every order in that status (millions at scale) to find the customer's twenty.
-- The numbers are shapes, not counts: a customer has tens of orders, a store thousands,
-- a status a fifth of all of them.
ANALYZE sqlite_schema;
DELETE FROM sqlite_stat1 WHERE tbl = 'orders';
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('orders', 'sqlite_autoindex_orders_1', '10000000 1'),
    ('orders', 'orders_listing', '10000000 1 1'),
    ('orders', 'orders_by_customer', '10000000 50 1 1'),
    ('orders', 'orders_by_store', '10000000 5000 1 1'),
    ('orders', 'orders_by_status', '10000000 2000000 1 1'),
    ('orders', 'orders_by_store_and_status', '10000000 5000 1000 1 1');
