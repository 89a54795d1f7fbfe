//! Acceptance: the validator and the pre-parse limits accept every official
//! HL7 R4 example and every Synthea resource in `shared/data/fhir`, and the
//! typed views parse every resource of their type found there.

use std::path::{Path, PathBuf};

use haven_fhir::limits::{self, JsonLimits};
use haven_fhir::model::{AppointmentInfo, CareTeamInfo, ConsentInfo, PatientDemographics, SlotInfo};
use haven_fhir::validate::{self, Options};
use serde_json::{Map, Value};

fn data_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/fhir");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("SKIPPED: ../shared/data/fhir not found");
        None
    }
}

/// Files in `dir` whose name ends in `ext`, sorted so failures are reproducible.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut v: Vec<PathBuf> =
        rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.to_string_lossy().ends_with(ext)).collect();
    v.sort();
    v
}

/// One resource to check: where it came from, the resource, and the options to use.
struct Item {
    origin: String,
    resource: Map<String, Value>,
    opts: Options,
}

fn read(f: &Path) -> Vec<u8> {
    std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()))
}

fn as_object(v: Value, origin: &str) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("{origin}: not a JSON object"),
    }
}

fn parse_checked(bytes: &[u8], origin: &str) -> Map<String, Value> {
    if let Err(e) = limits::check(bytes, &JsonLimits::default()) {
        panic!("{origin}: refused by default JSON limits: {e}");
    }
    let v: Value = serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{origin}: bad JSON: {e}"));
    as_object(v, origin)
}

/// A Bundle's entry resources; conditional references are legal in transaction/batch Bundles.
fn entries(bundle: &Map<String, Value>, origin: &str, out: &mut Vec<Item>) {
    let conditional = matches!(bundle.get("type").and_then(Value::as_str), Some("transaction" | "batch"));
    let Some(list) = bundle.get("entry").and_then(Value::as_array) else { return };
    for (i, e) in list.iter().enumerate() {
        if let Some(Value::Object(r)) = e.get("resource") {
            out.push(Item {
                origin: format!("{origin} entry[{i}]"),
                resource: r.clone(),
                opts: Options { allow_conditional_references: conditional },
            });
        }
    }
}

/// Every resource of the data set, as the acceptance check defines it.
fn all_resources(dir: &Path) -> Vec<Item> {
    let mut out = Vec::new();
    let examples = files(&dir.join("r4-examples"), ".json");
    assert!(!examples.is_empty(), "no official examples found");
    for f in &examples {
        let origin = f.display().to_string();
        let bytes = read(f);
        let r = parse_checked(&bytes, &origin);
        if r.get("resourceType").and_then(Value::as_str) == Some("Bundle") {
            entries(&r, &origin, &mut out);
        }
        out.push(Item { origin, resource: r, opts: Options::default() });
    }
    for f in files(&dir.join("synthea-10"), ".ndjson") {
        if f.file_name().is_some_and(|n| n == "log.ndjson") {
            continue;
        }
        let text = String::from_utf8(read(&f)).unwrap_or_else(|e| panic!("{}: not UTF-8: {e}", f.display()));
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let origin = format!("{}:{}", f.display(), n + 1);
            let resource = parse_checked(line.as_bytes(), &origin);
            // Bulk-export lines carry conditional references (Practitioner?identifier=...).
            out.push(Item { origin, resource, opts: Options { allow_conditional_references: true } });
        }
    }
    for f in files(&dir.join("synthea-bundles"), ".json") {
        let bytes = read(&f);
        if bytes.is_empty() {
            continue;
        }
        let origin = f.display().to_string();
        let bundle = parse_checked(&bytes, &origin);
        entries(&bundle, &origin, &mut out);
    }
    out
}

#[test]
fn every_example_validates_without_errors() {
    let Some(dir) = data_dir() else { return };
    let items = all_resources(&dir);
    let mut failures = Vec::new();
    let mut warnings = 0;
    for item in &items {
        for issue in validate::validate(&item.resource, &item.opts) {
            if issue.is_error() {
                failures.push(format!("{}: {} [{}] {}", item.origin, issue.expression, issue.code, issue.diagnostics));
            } else {
                warnings += 1;
            }
        }
    }
    println!("validated {} resources: {} errors, {warnings} warnings", items.len(), failures.len());
    assert!(items.len() > 10_000, "expected the full data set, found {} resources", items.len());
    assert!(failures.is_empty(), "{} errors:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn typed_views_parse_every_resource_of_their_type() {
    let Some(dir) = data_dir() else { return };
    let mut counts = std::collections::BTreeMap::new();
    let mut failures = Vec::new();
    for item in all_resources(&dir) {
        let r = &item.resource;
        let rt = r.get("resourceType").and_then(Value::as_str).unwrap_or("");
        let result = match rt {
            "Patient" => PatientDemographics::from_json(r).map(drop),
            "Appointment" => AppointmentInfo::from_json(r).map(drop),
            "Slot" => SlotInfo::from_json(r).map(drop),
            "Consent" => ConsentInfo::from_json(r).map(drop),
            "CareTeam" => CareTeamInfo::from_json(r).map(drop),
            _ => continue,
        };
        *counts.entry(rt.to_owned()).or_insert(0) += 1;
        if let Err(e) = result {
            failures.push(format!("{}: {e}", item.origin));
        }
    }
    println!("parsed typed views: {counts:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
