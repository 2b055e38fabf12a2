-- Failed-attempt counters for abuse limits (accounts, addresses, clients), shared by every node.
CREATE TABLE throttles (
    key          TEXT PRIMARY KEY,
    failures     BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    locks        BIGINT NOT NULL
);
