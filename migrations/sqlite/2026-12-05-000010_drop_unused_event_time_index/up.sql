-- Nothing reads events by the time they were recorded (retention and the backlog go by
-- position), and keeping this index cost every change a write to a page of its own.
DROP INDEX order_events_by_time;
