DELETE FROM sqlite_stat1 WHERE tbl = 'orders';
DROP INDEX orders_by_store_and_status;
