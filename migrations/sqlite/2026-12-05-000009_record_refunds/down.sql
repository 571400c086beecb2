ALTER TABLE orders DROP COLUMN refund_completed_at;
ALTER TABLE orders DROP COLUMN refund_status;
