-- Flows, numbers and trunks (issue 5): each resource as JSON, with the
-- columns uniqueness and ordering need. `key` is what must be unique within
-- a kind (a number's number, a trunk's name; a flow's id).

CREATE TABLE resources (
    kind      TEXT NOT NULL,                  -- flow | number | trunk
    id        TEXT NOT NULL,                  -- UUID
    key       TEXT NOT NULL,
    tm_create TEXT NOT NULL,                  -- RFC 3339 UTC fixed width
    body      TEXT NOT NULL,                  -- the resource as JSON (secrets included)
    PRIMARY KEY (kind, id)
);
CREATE UNIQUE INDEX resources_by_key ON resources (kind, key);
CREATE INDEX resources_by_time ON resources (kind, tm_create DESC, id DESC);
