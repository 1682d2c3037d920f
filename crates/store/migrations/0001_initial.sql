-- Dialtone schema, version 1. Migrations are append-only: never edit a
-- released file, add 0002_... instead.

CREATE TABLE extensions (
    id             TEXT PRIMARY KEY,          -- UUID
    number         TEXT NOT NULL UNIQUE,
    password       TEXT NOT NULL,
    name           TEXT NOT NULL,
    static_contact TEXT,
    origin         TEXT NOT NULL,             -- api | config
    tm_create      TEXT NOT NULL,             -- RFC 3339
    tm_update      TEXT NOT NULL
);

-- A call record: the whole resource as JSON, plus the columns filters and
-- ordering use.
CREATE TABLE calls (
    id         TEXT PRIMARY KEY,              -- UUID
    status     TEXT NOT NULL,
    direction  TEXT NOT NULL,
    tm_create  TEXT NOT NULL,                 -- RFC 3339 UTC, fixed width (sorts as text)
    body       TEXT NOT NULL                  -- model::Call as JSON
);
CREATE INDEX calls_by_time ON calls (tm_create DESC, id DESC);
CREATE INDEX calls_active ON calls (status) WHERE status <> 'hangup';

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
