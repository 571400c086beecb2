-- The refund of a paid order that was canceled: pending, completed or failed. Its
-- amount is the order's total and it was requested when the order was canceled, so
-- neither is kept twice.
ALTER TABLE orders ADD COLUMN refund_status TEXT;
ALTER TABLE orders ADD COLUMN refund_completed_at TIMESTAMP;
