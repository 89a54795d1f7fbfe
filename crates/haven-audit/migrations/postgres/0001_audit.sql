-- The audit log. `record` holds the canonical encoding, the only
-- authoritative copy of a record; the other columns index it for searches.
CREATE TABLE audit_log (
    seq        BIGINT PRIMARY KEY,
    time       BIGINT NOT NULL,           -- unix microseconds
    actor      TEXT   NOT NULL,
    fhir_actor TEXT,
    action     TEXT   NOT NULL,
    outcome    TEXT   NOT NULL,
    record     BYTEA  NOT NULL
);

CREATE INDEX audit_log_by_actor ON audit_log (actor, seq);
-- Partial: most actors have no FHIR link, and skipping them keeps appends cheap.
CREATE INDEX audit_log_by_fhir_actor ON audit_log (fhir_actor, seq) WHERE fhir_actor IS NOT NULL;

CREATE TABLE audit_patient (
    patient TEXT   NOT NULL,
    seq     BIGINT NOT NULL,
    PRIMARY KEY (patient, seq)
);

CREATE TABLE audit_checkpoint (
    seq       BIGINT PRIMARY KEY,
    time      BIGINT NOT NULL,
    hash      TEXT   NOT NULL,
    key_id    TEXT   NOT NULL,
    signature TEXT   NOT NULL
);

-- Checkpoints the pruned log starts after (retention); the newest is the anchor.
CREATE TABLE audit_anchor (
    seq       BIGINT PRIMARY KEY,
    time      BIGINT NOT NULL,
    hash      TEXT   NOT NULL,
    key_id    TEXT   NOT NULL,
    signature TEXT   NOT NULL
);

-- The functions keep the search_path they were created with, so the guards
-- find this schema's tables whatever the deleting session's search_path is.
CREATE FUNCTION audit_reject() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only';
END
$$;

CREATE FUNCTION audit_prune_guard() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF OLD.seq > COALESCE((SELECT max(seq) FROM audit_anchor), 0) THEN
        RAISE EXCEPTION 'audit log is append-only';
    END IF;
    RETURN OLD;
END
$$;

CREATE FUNCTION audit_anchor_guard() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM audit_checkpoint c
        WHERE c.seq = NEW.seq AND c.hash = NEW.hash AND c.time = NEW.time
          AND c.key_id = NEW.key_id AND c.signature = NEW.signature)
       OR NEW.seq <= COALESCE((SELECT max(seq) FROM audit_anchor), 0) THEN
        RAISE EXCEPTION 'an audit anchor must be a newer signed checkpoint';
    END IF;
    RETURN NEW;
END
$$;

-- Append-only: nothing is ever updated or truncated.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_reject();
CREATE TRIGGER audit_patient_no_update BEFORE UPDATE ON audit_patient
    FOR EACH ROW EXECUTE FUNCTION audit_reject();
CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint
    FOR EACH ROW EXECUTE FUNCTION audit_reject();
CREATE TRIGGER audit_anchor_no_update BEFORE UPDATE ON audit_anchor
    FOR EACH ROW EXECUTE FUNCTION audit_reject();

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject();
CREATE TRIGGER audit_patient_no_truncate BEFORE TRUNCATE ON audit_patient
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject();
CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject();
CREATE TRIGGER audit_anchor_no_truncate BEFORE TRUNCATE ON audit_anchor
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject();

-- Records may only be deleted up to a recorded anchor checkpoint (retention).
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_prune_guard();
CREATE TRIGGER audit_patient_no_delete BEFORE DELETE ON audit_patient
    FOR EACH ROW EXECUTE FUNCTION audit_prune_guard();
CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint
    FOR EACH ROW EXECUTE FUNCTION audit_reject();
CREATE TRIGGER audit_anchor_no_delete BEFORE DELETE ON audit_anchor
    FOR EACH ROW EXECUTE FUNCTION audit_reject();

CREATE TRIGGER audit_anchor_is_checkpoint BEFORE INSERT ON audit_anchor
    FOR EACH ROW EXECUTE FUNCTION audit_anchor_guard();
