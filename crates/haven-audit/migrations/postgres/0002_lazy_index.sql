-- The search indexes move out of the append path: appends write only the
-- log, and an indexer fills `audit_patient` and `audit_actor` from the
-- records in large sorted batches, before every search and on the writer's
-- timer.
DROP INDEX audit_log_by_actor;
DROP INDEX audit_log_by_fhir_actor;

CREATE TABLE audit_actor (
    actor TEXT   NOT NULL,
    seq   BIGINT NOT NULL,
    PRIMARY KEY (actor, seq)
);

CREATE TRIGGER audit_actor_no_update BEFORE UPDATE ON audit_actor
    FOR EACH ROW EXECUTE FUNCTION audit_reject();
CREATE TRIGGER audit_actor_no_truncate BEFORE TRUNCATE ON audit_actor
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject();
CREATE TRIGGER audit_actor_no_delete BEFORE DELETE ON audit_actor
    FOR EACH ROW EXECUTE FUNCTION audit_prune_guard();

-- How far the indexer has got (derived data: the records are the truth).
CREATE TABLE audit_indexed (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);

INSERT INTO audit_actor (actor, seq) SELECT actor, seq FROM audit_log;
INSERT INTO audit_actor (actor, seq) SELECT fhir_actor, seq FROM audit_log WHERE fhir_actor IS NOT NULL
    ON CONFLICT DO NOTHING;
INSERT INTO audit_indexed (id, seq) SELECT 1, coalesce(max(seq), 0) FROM audit_log;
