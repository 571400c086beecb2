DROP INDEX orders_by_status;
