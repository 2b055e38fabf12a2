-- Retention (issue 21; latch-core retention.rs): every purge deletes a batch the sub-select finds
-- as a range of one index on its time column, and the sweep finds expired live sessions the same
-- way, instead of reading whole tables. The other purges use indexes that exist already
-- (audit_events_at, redeemed_codes' key, refresh_grants_purge, login_requests_expires,
-- password_resets_expires, revocations_expires, mail_outbox_created).
-- Kept parallel between migrations/sqlite and migrations/postgres.

-- Ended sessions, by when they ended; live ones, by absolute end and by last activity.
CREATE INDEX sessions_ended ON sessions (ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX sessions_live_expires ON sessions (expires_at) WHERE ended_at IS NULL;
CREATE INDEX sessions_live_active ON sessions (last_active_at) WHERE ended_at IS NULL;

CREATE INDEX refresh_grants_revoked ON refresh_grants (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE INDEX invitations_expires ON invitations (expires_at);

-- Finished deliveries only: pending ones are found by backchannel_deliveries_due.
CREATE INDEX backchannel_deliveries_finished ON backchannel_deliveries (created_at)
    WHERE delivered_at IS NOT NULL OR abandoned_at IS NOT NULL;

CREATE INDEX throttles_window ON throttles (window_start);
