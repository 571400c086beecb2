-- Listings filtered by status alone page through this index, as listings by customer
-- or store page through theirs: no listing scans the table.
CREATE INDEX orders_by_status ON orders (status, created_at DESC, id DESC) WHERE deleted_at IS NULL;
