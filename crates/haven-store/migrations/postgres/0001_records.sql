-- Versioned, encrypted records. Only ids, versions, times and key versions
-- are in the clear; payloads and data keys are AES-256-GCM ciphertext.
CREATE TABLE resource_versions (
    rtype        TEXT COLLATE "C" NOT NULL,
    id           TEXT COLLATE "C" NOT NULL,
    version      BIGINT  NOT NULL,
    deleted      BOOLEAN NOT NULL,
    last_updated BIGINT  NOT NULL,          -- unix microseconds
    kek_version  INTEGER NOT NULL,          -- 0 for a deletion marker
    wrapped_key  BYTEA   NOT NULL,
    payload      BYTEA   NOT NULL,
    PRIMARY KEY (rtype, id, version)
);

CREATE INDEX resource_versions_by_kek ON resource_versions (kek_version);

-- Byte-order collation so paging by (rtype, id) matches SQLite's order.
CREATE TABLE resource_heads (
    rtype        TEXT COLLATE "C" NOT NULL,
    id           TEXT COLLATE "C" NOT NULL,
    version      BIGINT  NOT NULL,
    deleted      BOOLEAN NOT NULL,
    last_updated BIGINT  NOT NULL,
    PRIMARY KEY (rtype, id)
);

CREATE TABLE blind_index (
    rtype TEXT  NOT NULL,
    name  TEXT  NOT NULL,
    value BYTEA NOT NULL,
    id    TEXT  NOT NULL,
    PRIMARY KEY (rtype, name, value, id)
);

CREATE INDEX blind_index_by_id ON blind_index (rtype, id);
