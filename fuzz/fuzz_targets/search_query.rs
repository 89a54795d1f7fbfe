//! Arbitrary text through the search-query parser, as the server meets it:
//! `Type?name=value&name:modifier=value...` (pairs split on `&` and the
//! first `=`; percent-decoding is the HTTP layer's job). Every accepted
//! query is then planned (index candidates) and evaluated on a resource.
//! None of it may panic, and a refusal is always a `SearchError`.

#![no_main]

use haven_fhir::search::{self, Handling};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

/// One resource with a bit of everything a clause can look at.
fn resource(rtype: &str) -> Map<String, Value> {
    let v = json!({
        "resourceType": rtype, "id": "r1", "status": "booked",
        "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-1"}],
        "name": [{"family": "Chalmers", "given": ["Peter"]}], "birthDate": "1974-12-25",
        "telecom": [{"system": "phone", "value": "(03) 5555 6473"}],
        "subject": {"reference": "Patient/p1"}, "patient": {"reference": "Patient/p1"},
        "participant": [{"actor": {"reference": "Practitioner/d1"}}, {"actor": {"reference": "Patient/p1"}}],
        "schedule": {"reference": "Schedule/s1"}, "start": "2026-03-05T10:00:00Z", "end": "2026-03-05T10:15:00Z",
        "effectivePeriod": {"start": "2020-01-01"}, "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}
    });
    match v {
        Value::Object(o) => o,
        _ => Map::new(),
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (rtype, query) = text.split_once('?').unwrap_or(("Patient", &*text));
    let pairs: Vec<(String, String)> = query
        .split('&')
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let obj = resource(rtype);
    for handling in [Handling::Strict, Handling::Lenient] {
        let Ok(q) = search::parse_query(rtype, &pairs, handling) else { continue };
        for c in &q.clauses {
            let _ = c.candidate_terms();
            let _ = c.matches(&obj);
        }
        for d in &q.last_updated {
            let _ = d.candidate_terms();
        }
    }
    let _ = search::index_terms(rtype, &obj);
});
