CREATE INDEX order_events_by_time ON order_events (recorded_at);
