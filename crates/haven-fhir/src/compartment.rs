//! The FHIR R4 Patient compartment: which resources belong to a patient's
//! record, and through which elements.
//!
//! [`PATIENT_COMPARTMENT`] is the R4 (4.0.1) CompartmentDefinition
//! `http://hl7.org/fhir/CompartmentDefinition/patient`: for each resource
//! type that can be in the compartment, the search parameters it names, each
//! mapped to the element paths of that parameter's R4 expression. A
//! `.where(resolve() is Patient)` in an expression is kept by accepting only
//! references to `Patient`. Types not listed (Practitioner, Device, Task,
//! Slot, ...) are never in the compartment.
//!
//! The functions are pure: the server indexes [`patient_ids`] under
//! [`COMPARTMENT_INDEX`] at write time so `$everything` finds every linked
//! resource, typed or stored generically, with one index lookup per type.

use serde_json::{Map, Value};

use crate::search::{normalise_reference, values_at};

/// One resource type of the compartment: `(type, [(search parameter, element paths)])`.
pub type CompartmentEntry = (&'static str, &'static [(&'static str, &'static [&'static str])]);

/// The index name under which a resource's compartment patients are
/// stored (as `Patient/{id}`). Its leading `_` keeps it out of reach of
/// search queries: no search parameter has this name.
pub const COMPARTMENT_INDEX: &str = "_compartment";

/// The R4 Patient CompartmentDefinition, sorted by type. Paths are the
/// elements of each parameter's R4 search expression (dot-separated; arrays
/// are walked).
pub const PATIENT_COMPARTMENT: &[CompartmentEntry] = &[
    ("Account", &[("subject", &["subject"])]),
    ("AdverseEvent", &[("subject", &["subject"])]),
    ("AllergyIntolerance", &[("patient", &["patient"]), ("recorder", &["recorder"]), ("asserter", &["asserter"])]),
    ("Appointment", &[("actor", &["participant.actor"])]),
    ("AppointmentResponse", &[("actor", &["actor"])]),
    ("AuditEvent", &[("patient", &["agent.who", "entity.what"])]),
    ("Basic", &[("patient", &["subject"]), ("author", &["author"])]),
    ("BodyStructure", &[("patient", &["patient"])]),
    ("CarePlan", &[("patient", &["subject"]), ("performer", &["activity.detail.performer"])]),
    ("CareTeam", &[("patient", &["subject"]), ("participant", &["participant.member"])]),
    ("ChargeItem", &[("subject", &["subject"])]),
    ("Claim", &[("patient", &["patient"]), ("payee", &["payee.party"])]),
    ("ClaimResponse", &[("patient", &["patient"])]),
    ("ClinicalImpression", &[("subject", &["subject"])]),
    ("Communication", &[("subject", &["subject"]), ("sender", &["sender"]), ("recipient", &["recipient"])]),
    (
        "CommunicationRequest",
        &[
            ("subject", &["subject"]),
            ("sender", &["sender"]),
            ("recipient", &["recipient"]),
            ("requester", &["requester"]),
        ],
    ),
    ("Composition", &[("subject", &["subject"]), ("author", &["author"]), ("attester", &["attester.party"])]),
    ("Condition", &[("patient", &["subject"]), ("asserter", &["asserter"])]),
    ("Consent", &[("patient", &["patient"])]),
    (
        "Coverage",
        &[
            ("policy-holder", &["policyHolder"]),
            ("subscriber", &["subscriber"]),
            ("beneficiary", &["beneficiary"]),
            ("payor", &["payor"]),
        ],
    ),
    ("CoverageEligibilityRequest", &[("patient", &["patient"])]),
    ("CoverageEligibilityResponse", &[("patient", &["patient"])]),
    ("DetectedIssue", &[("patient", &["patient"])]),
    ("DeviceRequest", &[("subject", &["subject"]), ("performer", &["performer"])]),
    ("DeviceUseStatement", &[("subject", &["subject"])]),
    ("DiagnosticReport", &[("subject", &["subject"])]),
    ("DocumentManifest", &[("subject", &["subject"]), ("author", &["author"]), ("recipient", &["recipient"])]),
    ("DocumentReference", &[("subject", &["subject"]), ("author", &["author"])]),
    ("Encounter", &[("patient", &["subject"])]),
    ("EnrollmentRequest", &[("subject", &["candidate"])]),
    ("EpisodeOfCare", &[("patient", &["patient"])]),
    ("ExplanationOfBenefit", &[("patient", &["patient"]), ("payee", &["payee.party"])]),
    ("FamilyMemberHistory", &[("patient", &["patient"])]),
    ("Flag", &[("patient", &["subject"])]),
    ("Goal", &[("patient", &["subject"])]),
    ("Group", &[("member", &["member.entity"])]),
    ("ImagingStudy", &[("patient", &["subject"])]),
    ("Immunization", &[("patient", &["patient"])]),
    ("ImmunizationEvaluation", &[("patient", &["patient"])]),
    ("ImmunizationRecommendation", &[("patient", &["patient"])]),
    ("Invoice", &[("subject", &["subject"]), ("patient", &["subject"]), ("recipient", &["recipient"])]),
    ("List", &[("subject", &["subject"]), ("source", &["source"])]),
    ("MeasureReport", &[("patient", &["subject"])]),
    ("Media", &[("subject", &["subject"])]),
    (
        "MedicationAdministration",
        &[("patient", &["subject"]), ("performer", &["performer.actor"]), ("subject", &["subject"])],
    ),
    ("MedicationDispense", &[("subject", &["subject"]), ("patient", &["subject"]), ("receiver", &["receiver"])]),
    ("MedicationRequest", &[("subject", &["subject"])]),
    ("MedicationStatement", &[("subject", &["subject"])]),
    ("MolecularSequence", &[("patient", &["patient"])]),
    ("NutritionOrder", &[("patient", &["patient"])]),
    ("Observation", &[("subject", &["subject"]), ("performer", &["performer"])]),
    ("Patient", &[("link", &["link.other"])]),
    ("Person", &[("patient", &["link.target"])]),
    ("Procedure", &[("patient", &["subject"]), ("performer", &["performer.actor"])]),
    ("Provenance", &[("patient", &["target"])]),
    ("QuestionnaireResponse", &[("subject", &["subject"]), ("author", &["author"])]),
    ("RelatedPerson", &[("patient", &["patient"])]),
    ("RequestGroup", &[("subject", &["subject"]), ("participant", &["action.participant"])]),
    ("ResearchSubject", &[("individual", &["individual"])]),
    ("RiskAssessment", &[("subject", &["subject"])]),
    ("Schedule", &[("actor", &["actor"])]),
    ("ServiceRequest", &[("subject", &["subject"]), ("performer", &["performer"])]),
    ("Specimen", &[("subject", &["subject"])]),
    ("SupplyDelivery", &[("patient", &["patient"])]),
    ("SupplyRequest", &[("subject", &["deliverTo"])]),
    ("VisionPrescription", &[("patient", &["patient"])]),
];

/// The compartment parameters of a type, if it can be in the Patient compartment.
pub fn compartment_params(rtype: &str) -> Option<&'static [(&'static str, &'static [&'static str])]> {
    PATIENT_COMPARTMENT.binary_search_by(|(t, _)| (*t).cmp(rtype)).ok().map(|i| PATIENT_COMPARTMENT[i].1)
}

/// Whether resources of this type can be in a Patient compartment.
pub fn in_patient_compartment(rtype: &str) -> bool {
    compartment_params(rtype).is_some()
}

/// The ids of the Patients whose compartment `resource` (of type `rtype`)
/// is in: every `Patient` reference found through the compartment's
/// element paths, first seen first, without repeats. Contained (`#id`),
/// `urn:` and conditional references name no stored Patient and are
/// skipped. A Patient is also in its own compartment; that is not a
/// reference, so it is not reported here (only `link.other` targets are).
pub fn patient_ids(rtype: &str, resource: &Value) -> Vec<String> {
    resource.as_object().map(|obj| patient_ids_of(rtype, obj)).unwrap_or_default()
}

/// [`patient_ids`] of a resource already held as a JSON object.
pub fn patient_ids_of(rtype: &str, obj: &Map<String, Value>) -> Vec<String> {
    let Some(params) = compartment_params(rtype) else { return Vec::new() };
    let mut out: Vec<String> = Vec::new();
    for (_, paths) in params {
        for path in *paths {
            for v in values_at(obj, path) {
                let Some(reference) = v.get("reference").and_then(Value::as_str) else { continue };
                if let Some(("Patient", id)) = normalise_reference(reference)
                    && !out.iter().any(|x| x == id)
                {
                    out.push(id.to_owned());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use serde_json::json;

    use super::*;
    use crate::resource_types::{R4_RESOURCE_TYPES, is_r4_resource_type};

    /// The types the R4 definition lists as never in the Patient compartment.
    const NEVER: &[&str] = &[
        "ActivityDefinition",
        "Binary",
        "BiologicallyDerivedProduct",
        "Bundle",
        "CapabilityStatement",
        "CatalogEntry",
        "ChargeItemDefinition",
        "CodeSystem",
        "CompartmentDefinition",
        "ConceptMap",
        "Contract",
        "Device",
        "DeviceDefinition",
        "DeviceMetric",
        "EffectEvidenceSynthesis",
        "Endpoint",
        "EnrollmentResponse",
        "EventDefinition",
        "Evidence",
        "EvidenceVariable",
        "ExampleScenario",
        "GraphDefinition",
        "GuidanceResponse",
        "HealthcareService",
        "ImplementationGuide",
        "InsurancePlan",
        "Library",
        "Linkage",
        "Location",
        "Measure",
        "Medication",
        "MedicationKnowledge",
        "MedicinalProduct",
        "MedicinalProductAuthorization",
        "MedicinalProductContraindication",
        "MedicinalProductIndication",
        "MedicinalProductIngredient",
        "MedicinalProductInteraction",
        "MedicinalProductManufactured",
        "MedicinalProductPackaged",
        "MedicinalProductPharmaceutical",
        "MedicinalProductUndesirableEffect",
        "MessageDefinition",
        "MessageHeader",
        "NamingSystem",
        "ObservationDefinition",
        "OperationDefinition",
        "OperationOutcome",
        "Organization",
        "OrganizationAffiliation",
        "Parameters",
        "PaymentNotice",
        "PaymentReconciliation",
        "PlanDefinition",
        "Practitioner",
        "PractitionerRole",
        "Questionnaire",
        "ResearchDefinition",
        "ResearchElementDefinition",
        "ResearchStudy",
        "RiskEvidenceSynthesis",
        "SearchParameter",
        "Slot",
        "SpecimenDefinition",
        "StructureDefinition",
        "StructureMap",
        "Subscription",
        "Substance",
        "SubstanceNucleicAcid",
        "SubstancePolymer",
        "SubstanceProtein",
        "SubstanceReferenceInformation",
        "SubstanceSourceMaterial",
        "SubstanceSpecification",
        "Task",
        "TerminologyCapabilities",
        "TestReport",
        "TestScript",
        "ValueSet",
        "VerificationResult",
    ];

    #[test]
    fn the_definition_covers_every_r4_type_exactly_once() {
        assert!(PATIENT_COMPARTMENT.windows(2).all(|w| w[0].0 < w[1].0), "sorted, for binary search");
        for (t, params) in PATIENT_COMPARTMENT {
            assert!(is_r4_resource_type(t), "{t}");
            assert!(!params.is_empty() && params.iter().all(|(_, paths)| !paths.is_empty()), "{t}");
            assert!(!NEVER.contains(t), "{t}");
        }
        for t in NEVER {
            assert!(is_r4_resource_type(t) && !in_patient_compartment(t), "{t}");
        }
        // In or never in: the definition speaks of all 146 types.
        assert_eq!(PATIENT_COMPARTMENT.len() + NEVER.len(), R4_RESOURCE_TYPES.len());
        assert_eq!(PATIENT_COMPARTMENT.len(), 66);
    }

    #[test]
    fn finds_patients_through_the_definition_paths_only() {
        let obs = json!({"resourceType": "Observation",
            "subject": {"reference": "Patient/p1"},
            "performer": [{"reference": "Practitioner/d1"}, {"reference": "https://x.example/fhir/Patient/p2/_history/3"}],
            "hasMember": [{"reference": "Patient/not-a-path"}]});
        assert_eq!(patient_ids("Observation", &obs), vec!["p1", "p2"]);
        // Group subjects are not patients; a Device is never in the compartment.
        let obs = json!({"resourceType": "Observation", "subject": {"reference": "Group/g"}});
        assert!(patient_ids("Observation", &obs).is_empty());
        let dev = json!({"resourceType": "Device", "patient": {"reference": "Patient/p1"}});
        assert!(patient_ids("Device", &dev).is_empty());
        let appt = json!({"resourceType": "Appointment", "participant": [
            {"actor": {"reference": "Practitioner/d"}}, {"actor": {"reference": "Patient/p3"}}, {"actor": {"reference": "Patient/p3"}}]});
        assert_eq!(patient_ids("Appointment", &appt), vec!["p3"]);
        let claim = json!({"resourceType": "Claim", "patient": {"reference": "Patient/p4"},
            "payee": {"party": {"reference": "Patient/p5"}}});
        assert_eq!(patient_ids("Claim", &claim), vec!["p4", "p5"]);
        for skipped in ["#contained", "urn:uuid:8f0a6a3e-0000-4000-8000-000000000001", "Patient?identifier=x|1"] {
            let c = json!({"resourceType": "Condition", "subject": {"reference": skipped}});
            assert!(patient_ids("Condition", &c).is_empty(), "{skipped}");
        }
        assert!(patient_ids("Observation", &json!("not an object")).is_empty());
        assert!(patient_ids("Foo", &obs).is_empty());
    }

    fn r4_examples() -> Option<PathBuf> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/fhir/r4-examples");
        p.exists().then_some(p)
    }

    fn ids_of(dir: &Path, file: &str) -> Vec<String> {
        let v: Value = serde_json::from_slice(&std::fs::read(dir.join(file)).unwrap()).unwrap();
        patient_ids(v["resourceType"].as_str().unwrap(), &v)
    }

    /// Every resource of a file: the resource itself and, for Bundles, each entry's.
    fn resources(v: &Value, out: &mut Vec<Value>) {
        if let Some(entries) = v.get("entry").and_then(Value::as_array) {
            for e in entries {
                if let Some(r) = e.get("resource") {
                    resources(r, out);
                }
            }
        }
        out.push(v.clone());
    }

    #[test]
    fn official_r4_examples() {
        let Some(dir) = r4_examples() else {
            println!("SKIPPED: ../shared/data/fhir/r4-examples not found (a fresh clone has no shared data)");
            return;
        };
        assert_eq!(ids_of(&dir, "AppointmentResponse-example.json"), vec!["example"]);
        assert_eq!(ids_of(&dir, "Appointment-2docs.json"), vec!["example"]);
        assert_eq!(ids_of(&dir, "CareTeam-example.json"), vec!["example"]);
        // entity.what, once with and once without a version: one patient.
        assert_eq!(ids_of(&dir, "AuditEvent-example-disclosure.json"), vec!["example"]);
        assert!(ids_of(&dir, "AuditEvent-example-login.json").is_empty());
        // Only Consent.patient counts, not a patient named in a provision.
        assert_eq!(ids_of(&dir, "Consent-consent-example-grantor.json"), vec!["f001"]);
        // Provenance is in the compartment of its target; this one signs a Consent.
        assert!(ids_of(&dir, "Provenance-consent-signature.json").is_empty());
        assert_eq!(ids_of(&dir, "Patient-pat1.json"), vec!["pat2"]);
        assert!(ids_of(&dir, "Practitioner-example.json").is_empty());
        assert!(ids_of(&dir, "Slot-example.json").is_empty());

        // Across every example: a Patient named by a top-level `subject` or
        // `patient` of a compartment type is always found; other types never
        // yield a patient.
        let (mut linked, mut total) = (0, 0);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let mut all = Vec::new();
            resources(&v, &mut all);
            for r in all {
                let t = r["resourceType"].as_str().unwrap();
                let ids = patient_ids(t, &r);
                total += 1;
                linked += usize::from(!ids.is_empty());
                if !in_patient_compartment(t) {
                    assert!(ids.is_empty(), "{}: {t}", path.display());
                    continue;
                }
                for key in ["subject", "patient"] {
                    if let Some(("Patient", id)) = r[key]["reference"].as_str().and_then(normalise_reference) {
                        assert!(ids.iter().any(|x| x == id), "{}: {t}.{key}", path.display());
                    }
                }
            }
        }
        println!("{linked} of {total} example resources are in a Patient compartment");
        assert_eq!(linked, 726, "the shared examples are pinned; a change here means the mapping changed");
    }
}
