DROP TABLE event_feed;
DROP TABLE order_events;
