-- The consumers the service relays events to (the broker, the notification service):
-- how far each has been sent, and which instance relays for it until when, so that one
-- instance at a time does and another takes over when it stops.
CREATE TABLE event_consumers (
    name TEXT PRIMARY KEY NOT NULL,
    position BIGINT NOT NULL,
    holder TEXT NOT NULL,
    lease_until TIMESTAMP NOT NULL
);
