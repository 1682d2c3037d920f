-- Recordings (issue 4): the whole resource as JSON, plus the columns
-- filters and ordering use. The WAV files live in <data_dir>/recordings/.

CREATE TABLE recordings (
    id        TEXT PRIMARY KEY,               -- UUID
    call_id   TEXT NOT NULL,                  -- UUID of the recorded call
    status    TEXT NOT NULL,                  -- recording | finished | failed
    tm_create TEXT NOT NULL,                  -- tm_start, RFC 3339 UTC fixed width
    body      TEXT NOT NULL                   -- model::Recording as JSON
);
CREATE INDEX recordings_by_time ON recordings (tm_create DESC, id DESC);
CREATE INDEX recordings_by_call ON recordings (call_id, tm_create DESC, id DESC);
CREATE INDEX recordings_unfinished ON recordings (status) WHERE status = 'recording';
