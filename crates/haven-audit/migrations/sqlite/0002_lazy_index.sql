-- The search indexes move out of the append path: appends write only the
-- log (sequential pages), and an indexer fills `audit_patient` and
-- `audit_actor` from the records in large sorted batches, before every
-- search and on the writer's timer. Random-key index inserts in every
-- commit cost five times the throughput.
DROP INDEX audit_log_by_actor;
DROP INDEX audit_log_by_fhir_actor;

CREATE TABLE audit_actor (
    actor TEXT    NOT NULL,
    seq   INTEGER NOT NULL,
    PRIMARY KEY (actor, seq)
) WITHOUT ROWID;

CREATE TRIGGER audit_actor_no_update BEFORE UPDATE ON audit_actor
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_actor_no_delete BEFORE DELETE ON audit_actor
WHEN OLD.seq > coalesce((SELECT max(seq) FROM audit_anchor), 0)
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;

-- How far the indexer has got (derived data: the records are the truth).
CREATE TABLE audit_indexed (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);

INSERT INTO audit_actor (actor, seq) SELECT actor, seq FROM audit_log;
INSERT OR IGNORE INTO audit_actor (actor, seq) SELECT fhir_actor, seq FROM audit_log WHERE fhir_actor IS NOT NULL;
INSERT INTO audit_indexed (id, seq) SELECT 1, coalesce(max(seq), 0) FROM audit_log;
