//! The CapabilityStatement, generated from the same tables the server uses,
//! so it cannot claim a parameter the search parser does not know.

use serde_json::{Value, json};

use crate::search::{COMMON_PARAMS, ParamKind, RESOURCE_TYPES, params_for};

/// Interactions every resource type supports.
const INTERACTIONS: [&str; 7] = ["read", "vread", "update", "delete", "history-instance", "create", "search-type"];

/// The server's CapabilityStatement. `software_version` is Haven's version;
/// `instant` the time of the statement (RFC 3339).
pub fn capability_statement(software_version: &str, instant: &str) -> Value {
    let resources: Vec<Value> = RESOURCE_TYPES
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
            "documentation": "Resource types not listed are stored and read generically: read, vread, create, update, delete, instance history, and search by _id and _lastUpdated. Unknown search parameters are refused unless the request sends Prefer: handling=lenient.",
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
        assert_eq!(resources.len(), RESOURCE_TYPES.len());
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
}
