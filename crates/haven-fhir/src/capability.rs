//! The CapabilityStatement, generated from the same tables the server uses,
//! so it cannot claim a parameter the search parser does not know.

use serde_json::{Value, json};

use crate::search::{COMMON_PARAMS, ParamKind, RESOURCE_TYPES, params_for};

/// Interactions every resource type supports (except AuditEvent).
const INTERACTIONS: [&str; 7] = ["read", "vread", "update", "delete", "history-instance", "create", "search-type"];

/// The search parameters of `GET /fhir/AuditEvent`, which Haven serves from
/// its audit log (not the record store): only these, plus `_count`.
pub const AUDIT_EVENT_PARAMS: [(&str, ParamKind, &str); 5] = [
    ("patient", ParamKind::Reference, "A patient whose record the event touched (id or Patient/id)"),
    ("agent", ParamKind::Reference, "Who acted: the Haven account id"),
    ("date", ParamKind::Date, "When the event was recorded (prefixes eq, ge, gt, le, lt)"),
    ("action", ParamKind::Token, "C | R | U | D | E, comma-separated"),
    ("outcome", ParamKind::Token, "0 (success) | 4 (denied or failed) | 8 (error), comma-separated"),
];

/// AuditEvent: Haven's audit log, read and searched only.
fn audit_event_resource() -> Value {
    json!({
        "type": "AuditEvent",
        "documentation": "Haven's tamper-evident audit log seen through FHIR: read and search only; every write is refused. Readable by auditors, and by a patient for events about them alone.",
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "versioning": "no-version",
        "readHistory": false,
        "updateCreate": false,
        "conditionalCreate": false,
        "conditionalUpdate": false,
        "conditionalDelete": "not-supported",
        "searchParam": AUDIT_EVENT_PARAMS
            .iter()
            .map(|(name, kind, doc)| json!({"name": name, "type": kind.as_str(), "documentation": doc}))
            .collect::<Vec<_>>(),
    })
}

/// The server's CapabilityStatement. `software_version` is Haven's version;
/// `instant` the time of the statement (RFC 3339).
pub fn capability_statement(software_version: &str, instant: &str) -> Value {
    let mut resources: Vec<Value> = RESOURCE_TYPES
        .iter()
        .map(|t| {
            let mut params: Vec<Value> = COMMON_PARAMS
                .iter()
                .map(|(name, kind, doc)| json!({"name": name, "type": kind.as_str(), "documentation": doc}))
                .collect();
            params.extend(
                params_for(t)
                    .iter()
                    .map(|d| json!({"name": d.name, "type": d.kind.as_str(), "documentation": d.doc})),
            );
            let includes: Vec<String> = params_for(t)
                .iter()
                .filter(|d| d.kind == ParamKind::Reference)
                .map(|d| format!("{t}:{}", d.name))
                .collect();
            let revincludes: Vec<String> = RESOURCE_TYPES
                .iter()
                .flat_map(|src| {
                    params_for(src)
                        .iter()
                        .filter(|d| d.kind == ParamKind::Reference && d.target.is_none_or(|x| x == *t))
                        .map(move |d| format!("{src}:{}", d.name))
                })
                .collect();
            let mut r = json!({
                "type": t,
                "interaction": INTERACTIONS.iter().map(|i| json!({"code": i})).collect::<Vec<_>>(),
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": true,
                "conditionalCreate": false,
                "conditionalUpdate": false,
                "conditionalDelete": "not-supported",
                "searchInclude": includes,
                "searchRevInclude": revincludes,
                "searchParam": params,
            });
            if *t == "Patient" {
                r["operation"] = json!([{"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}]);
            }
            r
        })
        .collect();
    resources.push(audit_event_resource());
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": instant,
        "publisher": "Haven",
        "kind": "instance",
        "software": {"name": "Haven", "version": software_version},
        "implementation": {"description": "Haven FHIR R4 API on an encrypted store"},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "documentation": "Every other FHIR R4 resource type is stored and read generically: read, vread, create, update, delete, instance history, and search by _id and _lastUpdated. Types that are not FHIR R4 resource types are refused (404 in a URL, 400 in a body). Unknown search parameters are refused unless the request sends Prefer: handling=lenient. _count=0 returns only the total.",
            "security": {"cors": false, "description": "Bearer tokens from POST /auth/login."},
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}],
            "searchParam": COMMON_PARAMS.iter().map(|(name, kind, doc)| json!({"name": name, "type": kind.as_str(), "documentation": doc})).collect::<Vec<_>>(),
            "operation": [{"name": "import", "definition": "https://haven.invalid/OperationDefinition/import"}],
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_type_and_its_parameters() {
        let cs = capability_statement("0.0.0", "2026-01-01T00:00:00Z");
        let resources = cs["rest"][0]["resource"].as_array().unwrap();
        assert_eq!(resources.len(), RESOURCE_TYPES.len() + 1);
        let patient = resources.iter().find(|r| r["type"] == "Patient").unwrap();
        let names: Vec<&str> =
            patient["searchParam"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
        for want in
            ["_id", "_lastUpdated", "identifier", "name", "family", "given", "birthdate", "gender", "phone", "email"]
        {
            assert!(names.contains(&want), "{want}");
        }
        assert!(patient["searchRevInclude"].as_array().unwrap().iter().any(|v| v == "Observation:patient"));
    }

    #[test]
    fn audit_event_is_listed_as_read_and_search_only() {
        let cs = capability_statement("0.0.0", "2026-01-01T00:00:00Z");
        let resources = cs["rest"][0]["resource"].as_array().unwrap();
        let audit = resources.iter().find(|r| r["type"] == "AuditEvent").unwrap();
        let interactions: Vec<&str> =
            audit["interaction"].as_array().unwrap().iter().filter_map(|i| i["code"].as_str()).collect();
        assert_eq!(interactions, ["read", "search-type"]);
        let names: Vec<&str> =
            audit["searchParam"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(names, ["patient", "agent", "date", "action", "outcome"]);
        // The generic promise must not cover it: it names every other type only.
        let doc = cs["rest"][0]["documentation"].as_str().unwrap();
        assert!(doc.starts_with("Every other FHIR R4 resource type"), "{doc}");
    }
}
