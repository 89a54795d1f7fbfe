//! Clinical code validation for Haven's safeguards: is a code that a reply
//! or an agent's FHIR write contains a real code of its system?
//!
//! - [`validate`] checks one code against one [`System`]: ICD-10-CM against
//!   the April 2026 list embedded in the crate ([`icd10cm`]); SNOMED CT,
//!   LOINC, NPI and DEA by their check digits; NDC, CPT and RxNorm by format.
//! - [`fhir`] checks Codings, CodeableConcepts and whole resources, and
//!   reports every invalid coding by its path.
//! - [`scan()`] finds codes in free text, by the words that name their system
//!   ("LOINC 2345-7") and by the shape of ICD-10-CM codes ("E11.9").
//!
//! The crate is pure: no IO beyond the list compiled into it, no logging,
//! and errors name the system and the rule, never the code.

pub mod check_digit;
pub mod cpt;
pub mod dea;
mod error;
pub mod fhir;
pub mod icd10cm;
pub mod loinc;
pub mod ndc;
pub mod npi;
#[cfg(test)]
mod props;
pub mod rxnorm;
pub mod scan;
pub mod snomed;

use std::fmt;

pub use error::{CheckAlgorithm, CodeError};
pub use fhir::{Finding, NotChecked, Outcome, Problem, ResourceReport, check_resource, validate_coding};
pub use scan::{Mention, Verdict, scan};

/// A code system Haven can check, with its FHIR system URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum System {
    /// ICD-10-CM diagnoses (`http://hl7.org/fhir/sid/icd-10-cm`).
    Icd10Cm,
    /// SNOMED CT concepts (`http://snomed.info/sct`).
    SnomedCt,
    /// LOINC (`http://loinc.org`).
    Loinc,
    /// National Provider Identifiers (`http://hl7.org/fhir/sid/us-npi`).
    Npi,
    /// National Drug Codes (`http://hl7.org/fhir/sid/ndc`).
    Ndc,
    /// CPT procedure codes (`http://www.ama-assn.org/go/cpt`).
    Cpt,
    /// RxNorm concept ids (`http://www.nlm.nih.gov/research/umls/rxnorm`).
    RxNorm,
    /// DEA registration numbers (`http://terminology.hl7.org/NamingSystem/USDEANumber`).
    Dea,
}

impl System {
    /// Every system, in declaration order.
    pub const ALL: [System; 8] = [
        System::Icd10Cm,
        System::SnomedCt,
        System::Loinc,
        System::Npi,
        System::Ndc,
        System::Cpt,
        System::RxNorm,
        System::Dea,
    ];

    /// The FHIR system URI.
    pub fn uri(self) -> &'static str {
        match self {
            System::Icd10Cm => "http://hl7.org/fhir/sid/icd-10-cm",
            System::SnomedCt => "http://snomed.info/sct",
            System::Loinc => "http://loinc.org",
            System::Npi => "http://hl7.org/fhir/sid/us-npi",
            System::Ndc => "http://hl7.org/fhir/sid/ndc",
            System::Cpt => "http://www.ama-assn.org/go/cpt",
            System::RxNorm => "http://www.nlm.nih.gov/research/umls/rxnorm",
            System::Dea => "http://terminology.hl7.org/NamingSystem/USDEANumber",
        }
    }

    /// The system of a FHIR system URI (exact match; for DEA also the
    /// lower-case spelling that US implementation guides use).
    pub fn from_uri(uri: &str) -> Option<System> {
        if uri == "http://terminology.hl7.org/NamingSystem/usdeanumber" {
            return Some(System::Dea);
        }
        System::ALL.into_iter().find(|s| s.uri() == uri)
    }

    /// The system's usual name (`ICD-10-CM`, `SNOMED CT`).
    pub fn name(self) -> &'static str {
        match self {
            System::Icd10Cm => "ICD-10-CM",
            System::SnomedCt => "SNOMED CT",
            System::Loinc => "LOINC",
            System::Npi => "NPI",
            System::Ndc => "NDC",
            System::Cpt => "CPT",
            System::RxNorm => "RxNorm",
            System::Dea => "DEA",
        }
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What else validation learnt about a code, per system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Detail {
    /// An ICD-10-CM name in the list: billable, heading, range or chapter (never `Unknown`).
    Icd10Cm(icd10cm::Kind),
    /// A SNOMED CT concept: its partition (00 or 10; `extension` for 10).
    SnomedCt(snomed::Partition),
    /// A LOINC term, part, answer or answer list.
    Loinc(loinc::Kind),
    /// An NPI.
    Npi,
    /// An NDC and how it was written.
    Ndc(ndc::Layout),
    /// A CPT code and its category.
    Cpt(cpt::Category),
    /// An RxNorm RXCUI.
    RxNorm,
    /// A DEA registration number.
    Dea,
}

/// A code that passed every check of its system, in canonical form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Validated {
    system: System,
    code: String,
    detail: Detail,
}

impl Validated {
    /// The system.
    pub fn system(&self) -> System {
        self.system
    }

    /// The code in canonical form: trimmed and upper case; ICD-10-CM with its
    /// dot (`E11.9`), as FHIR carries it; NDC as 11 bare digits (`00002759701`).
    pub fn code(&self) -> &str {
        &self.code
    }

    /// What else validation learnt.
    pub fn detail(&self) -> Detail {
        self.detail
    }
}

/// Checks `code` as a code of `system`.
///
/// ICD-10-CM codes must be in the embedded list (a heading, a range or a
/// chapter number is valid too; [`Detail::Icd10Cm`] says which); SNOMED CT
/// identifiers must name a concept.
pub fn validate(system: System, code: &str) -> Result<Validated, CodeError> {
    let (code, detail) = match system {
        System::Icd10Cm => {
            let entry = icd10cm::lookup(code)?;
            if entry.kind() == icd10cm::Kind::Unknown {
                return Err(CodeError::NotInCodeList);
            }
            (entry.code().dotted(), Detail::Icd10Cm(entry.kind()))
        }
        System::SnomedCt => {
            let id = snomed::SctId::parse_concept(code)?;
            (id.to_string(), Detail::SnomedCt(id.partition()))
        }
        System::Loinc => {
            let l = loinc::Loinc::parse(code)?;
            let kind = l.kind();
            (l.as_str().to_owned(), Detail::Loinc(kind))
        }
        System::Npi => (npi::Npi::parse(code)?.to_string(), Detail::Npi),
        System::Ndc => {
            let n = ndc::Ndc::parse(code)?;
            (n.as_str().to_owned(), Detail::Ndc(n.layout()))
        }
        System::Cpt => {
            let (c, category) = cpt::parse(code)?;
            (c, Detail::Cpt(category))
        }
        System::RxNorm => (rxnorm::parse(code)?.to_string(), Detail::RxNorm),
        System::Dea => (dea::Dea::parse(code)?.to_string(), Detail::Dea),
    };
    Ok(Validated { system, code, detail })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip() {
        for s in System::ALL {
            assert_eq!(System::from_uri(s.uri()), Some(s));
        }
        assert_eq!(System::from_uri("http://hl7.org/fhir/sid/icd-10"), None);
        assert_eq!(System::from_uri("http://snomed.info/sct/"), None);
        assert_eq!(System::from_uri("http://terminology.hl7.org/NamingSystem/usdeanumber"), Some(System::Dea));
    }

    #[test]
    fn validates_each_system() {
        let ok = |s: System, c: &str| validate(s, c).unwrap_or_else(|e| panic!("{s} {c}: {e}"));
        assert_eq!(ok(System::Icd10Cm, "e119").code(), "E11.9");
        assert_eq!(ok(System::Icd10Cm, "E11").detail(), Detail::Icd10Cm(icd10cm::Kind::Heading));
        assert_eq!(ok(System::SnomedCt, "22298006").code(), "22298006");
        assert_eq!(ok(System::Loinc, "2345-7").detail(), Detail::Loinc(loinc::Kind::Term));
        assert_eq!(ok(System::Npi, "1234567893").code(), "1234567893");
        assert_eq!(ok(System::Ndc, "0002-7597-01").code(), "00002759701");
        assert_eq!(ok(System::Cpt, "99213").detail(), Detail::Cpt(cpt::Category::I));
        assert_eq!(ok(System::RxNorm, "197361").code(), "197361");
        assert_eq!(ok(System::Dea, "ab1234563").code(), "AB1234563");

        assert_eq!(validate(System::Icd10Cm, "E11.95"), Err(CodeError::NotInCodeList));
        assert!(matches!(validate(System::SnomedCt, "22298007"), Err(CodeError::CheckDigit { .. })));
        assert!(matches!(validate(System::Loinc, "2345-8"), Err(CodeError::CheckDigit { .. })));
        assert!(matches!(validate(System::Npi, "1234567894"), Err(CodeError::CheckDigit { .. })));
        assert!(matches!(validate(System::Cpt, "9921"), Err(CodeError::Malformed { .. })));
    }

    #[test]
    fn errors_do_not_echo_input() {
        let inputs = ["E11.95", "22298007", "37436014", "2345-8", "1234567894", "0002759701", "99X13", "0197361"];
        for s in System::ALL {
            for input in inputs {
                if let Err(e) = validate(s, input) {
                    let shown = format!("{e} {e:?}");
                    assert!(!shown.contains(input), "{s} {input}: {shown}");
                    assert!(!shown.contains(input.trim_start_matches('0')), "{s} {input}: {shown}");
                }
            }
        }
    }
}
