-- Webhook outbox (issue 5): one row per event per receiving URL, written
-- before anything is sent, so a restart resumes what was pending.

CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,        -- UUID of the delivery
    event_id         TEXT NOT NULL,           -- the envelope's event_id
    event_type       TEXT NOT NULL,           -- the envelope's type
    call_id          TEXT,                    -- UUID; NULL for an event of no call
    sequence         INTEGER NOT NULL,        -- the envelope's per-call sequence
    url              TEXT NOT NULL,
    body             TEXT NOT NULL,           -- the exact JSON bytes signed and sent
    status           TEXT NOT NULL,           -- pending | delivered | failed
    attempts         INTEGER NOT NULL,
    next_attempt_at  TEXT NOT NULL,           -- RFC 3339 UTC fixed width (sorts as text)
    last_status_code INTEGER,
    last_error       TEXT,
    tm_create        TEXT NOT NULL,           -- RFC 3339 UTC fixed width
    tm_update        TEXT NOT NULL
);
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (tm_create DESC, id DESC);
CREATE INDEX webhook_deliveries_by_call ON webhook_deliveries (call_id, tm_create DESC, id DESC);
CREATE INDEX webhook_deliveries_by_status ON webhook_deliveries (status, tm_create DESC, id DESC);
-- The pending rows of each (url, call) lane in order: the worker sends a
-- lane's first one only.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (url, call_id, sequence)
    WHERE status = 'pending';
-- What the worker polls: pending rows by due time.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
