-- The search indexes move to a database file of their own (`audit-index.db`
-- beside `audit.db`), written by its own connection: building them never
-- takes the log's write lock, so an append never waits behind the indexer.
-- They are derived data, rebuilt from the records whenever they are missing
-- or belong to another log.
DROP TRIGGER audit_patient_no_update;
DROP TRIGGER audit_patient_no_delete;
DROP TRIGGER audit_actor_no_update;
DROP TRIGGER audit_actor_no_delete;
DROP TABLE audit_patient;
DROP TABLE audit_actor;
DROP TABLE audit_indexed;

-- The log's identity, so an index file is never used for another log (a
-- restored or replaced audit.db).
CREATE TABLE audit_meta (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    log_id TEXT    NOT NULL
);
INSERT INTO audit_meta (id, log_id) VALUES (1, lower(hex(randomblob(16))));
CREATE TRIGGER audit_meta_no_update BEFORE UPDATE ON audit_meta
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_meta_no_delete BEFORE DELETE ON audit_meta
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
