CREATE TABLE pending_releases (
    reservation_id TEXT PRIMARY KEY NOT NULL,
    request_id TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    due_at TIMESTAMP NOT NULL
);

CREATE INDEX pending_releases_due ON pending_releases (due_at);

INSERT INTO pending_releases (reservation_id, request_id, attempts, due_at)
SELECT substring(id from 9), request_id, attempts, due_at
FROM effects
WHERE kind = 'release_reservation';

DROP TABLE effects;
