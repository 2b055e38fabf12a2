-- The audit log: who did what, when and from where (never a secret, token or hash).
-- Ids are UUIDv7, so ordering by id is ordering by time; each filter has an index ending in id.
CREATE TABLE audit_events (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    at          BIGINT NOT NULL,
    actor_type  TEXT NOT NULL,
    actor_id    TEXT,
    user_id     TEXT,
    client_id   TEXT,
    session_id  TEXT,
    ip          TEXT,
    success     BOOLEAN NOT NULL,
    reason      TEXT,
    details     TEXT NOT NULL
);
CREATE INDEX audit_events_user ON audit_events (user_id, id);
CREATE INDEX audit_events_client ON audit_events (client_id, id);
CREATE INDEX audit_events_kind ON audit_events (kind, id);
CREATE INDEX audit_events_at ON audit_events (at);
