-- The audit log. `record` holds the canonical encoding, the only
-- authoritative copy of a record; the other columns index it for searches.
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,
    time       INTEGER NOT NULL,          -- unix microseconds
    actor      TEXT    NOT NULL,
    fhir_actor TEXT,
    action     TEXT    NOT NULL,
    outcome    TEXT    NOT NULL,
    record     BLOB    NOT NULL
);

CREATE INDEX audit_log_by_actor ON audit_log (actor, seq);
-- Partial: most actors have no FHIR link, and skipping them keeps appends cheap.
CREATE INDEX audit_log_by_fhir_actor ON audit_log (fhir_actor, seq) WHERE fhir_actor IS NOT NULL;

CREATE TABLE audit_patient (
    patient TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    PRIMARY KEY (patient, seq)
) WITHOUT ROWID;

CREATE TABLE audit_checkpoint (
    seq       INTEGER PRIMARY KEY,
    time      INTEGER NOT NULL,
    hash      TEXT    NOT NULL,
    key_id    TEXT    NOT NULL,
    signature TEXT    NOT NULL
);

-- Checkpoints the pruned log starts after (retention); the newest is the anchor.
CREATE TABLE audit_anchor (
    seq       INTEGER PRIMARY KEY,
    time      INTEGER NOT NULL,
    hash      TEXT    NOT NULL,
    key_id    TEXT    NOT NULL,
    signature TEXT    NOT NULL
);

-- Append-only: nothing is ever updated.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_patient_no_update BEFORE UPDATE ON audit_patient
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_anchor_no_update BEFORE UPDATE ON audit_anchor
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;

-- Records may only be deleted up to a recorded anchor checkpoint (retention).
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN OLD.seq > coalesce((SELECT max(seq) FROM audit_anchor), 0)
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_patient_no_delete BEFORE DELETE ON audit_patient
WHEN OLD.seq > coalesce((SELECT max(seq) FROM audit_anchor), 0)
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_anchor_no_delete BEFORE DELETE ON audit_anchor
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;

-- An anchor must be an existing signed checkpoint, newer than the last anchor.
CREATE TRIGGER audit_anchor_is_checkpoint BEFORE INSERT ON audit_anchor
WHEN NOT EXISTS (
        SELECT 1 FROM audit_checkpoint c
        WHERE c.seq = NEW.seq AND c.hash = NEW.hash AND c.time = NEW.time
          AND c.key_id = NEW.key_id AND c.signature = NEW.signature)
     OR NEW.seq <= coalesce((SELECT max(seq) FROM audit_anchor), 0)
BEGIN SELECT RAISE(ABORT, 'an audit anchor must be a newer signed checkpoint'); END;
