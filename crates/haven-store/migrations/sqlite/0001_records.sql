-- Versioned, encrypted records. Only ids, versions, times and key versions
-- are in the clear; payloads and data keys are AES-256-GCM ciphertext.
CREATE TABLE resource_versions (
    rtype        TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    deleted      INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,          -- unix microseconds
    kek_version  INTEGER NOT NULL,          -- 0 for a deletion marker
    wrapped_key  BLOB    NOT NULL,
    payload      BLOB    NOT NULL,
    PRIMARY KEY (rtype, id, version)
) WITHOUT ROWID;

CREATE INDEX resource_versions_by_kek ON resource_versions (kek_version);

-- The newest version of each record: the compare-and-set target for
-- optimistic concurrency.
CREATE TABLE resource_heads (
    rtype        TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    deleted      INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    PRIMARY KEY (rtype, id)
) WITHOUT ROWID;

-- Keyed HMAC values of searchable identifiers (never plaintext).
CREATE TABLE blind_index (
    rtype TEXT NOT NULL,
    name  TEXT NOT NULL,
    value BLOB NOT NULL,
    id    TEXT NOT NULL,
    PRIMARY KEY (rtype, name, value, id)
) WITHOUT ROWID;

CREATE INDEX blind_index_by_id ON blind_index (rtype, id);
