-- Every effect outside the database (giving stock back, …) is recorded here before it
-- is done and deleted once done, so that none is lost to an unreachable service, a
-- client that hangs up or a process that dies. `taken` counts the times a worker took
-- the effect to carry it out: a placement's guard still untaken (0) can be forgotten by
-- its placement, once taken it cannot (see OrderRepository::insert_placed_order).
CREATE TABLE effects (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    request_id TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    taken BIGINT NOT NULL,
    due_at TIMESTAMP NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);

CREATE INDEX effects_due ON effects (due_at);

INSERT INTO effects (id, kind, payload, request_id, attempts, taken, due_at, recorded_at)
SELECT 'release:' || reservation_id, 'release_reservation',
       '{"reservationId":"' || reservation_id || '","mayLandLate":false}',
       request_id, attempts, 0, due_at, due_at
FROM pending_releases;

DROP TABLE pending_releases;

