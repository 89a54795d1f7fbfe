//! Policies: which operator each identifier type (or detection rule) gets,
//! and the field rules for FHIR resources. Loaded from TOML or built in.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::types::PhiType;

/// What to do with a detected identifier in text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operator {
    /// Leave it as it is (limited data sets keep dates and towns).
    Keep,
    /// Remove it.
    Redact,
    /// Replace it with its type in brackets: `[NAME]`.
    Tag,
    /// Keep the first letter of each word, star the rest: `J*** S****`.
    Mask,
    /// A realistic fake of the same shape and type, consistent per patient.
    Surrogate,
    /// A keyed, irreversible token: the same value gives the same token everywhere.
    Pseudonymize,
    /// Shift dates by the patient's offset, keeping their format.
    Dateshift,
    /// Ages over 89 become `90+`, ZIP codes their first three digits, dates their year.
    Generalize,
    /// A reversible token kept in the token vault.
    Tokenize,
}

impl FromStr for Operator {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.trim().to_ascii_lowercase()))
            .map_err(|_| PolicyError::Invalid(format!("unknown operator {:?}", s.chars().take(30).collect::<String>())))
    }
}

/// What to do with a structured FHIR element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FhirAction {
    /// Keep the element unchanged.
    Keep,
    /// Remove the element.
    Redact,
    /// Shift dates by the patient's offset (other values: redact).
    Dateshift,
    /// Replace with a keyed hash (ids and references stay consistent).
    CryptoHash,
    /// Generalize (dates to the year, ZIP codes to three digits).
    Generalize,
    /// Replace with a surrogate of the same kind.
    Substitute,
    /// Run the text engine over string values.
    Text,
}

/// One FHIR field rule: `path` is `ResourceType.element.child`, `*` stands for
/// any resource type or any one element; the most specific match wins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FhirRule {
    /// The element path.
    pub path: String,
    /// The action.
    pub action: FhirAction,
}

/// The FHIR part of a policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FhirPolicy {
    /// Field rules by path.
    #[serde(default)]
    pub rules: Vec<FhirRule>,
    /// Action for date-valued elements that no rule names.
    #[serde(default = "default_dates")]
    pub dates: FhirAction,
    /// Action for free-text elements (narrative, notes, attachments) no rule names.
    #[serde(default = "default_text")]
    pub free_text: FhirAction,
}

fn default_dates() -> FhirAction {
    FhirAction::Dateshift
}
fn default_text() -> FhirAction {
    FhirAction::Text
}

/// A policy file is invalid.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The TOML does not parse or names an unknown type or operator.
    #[error("invalid policy: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    name: Option<String>,
    base: Option<String>,
    default: Option<Operator>,
    min_score: Option<f32>,
    date_shift_max_days: Option<u32>,
    #[serde(default)]
    operators: BTreeMap<String, Operator>,
    #[serde(default)]
    rules: BTreeMap<String, Operator>,
    fhir: Option<FhirPolicy>,
}

/// A de-identification policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// A name for reports.
    pub name: String,
    /// The operator for types the policy does not name.
    pub default: Operator,
    /// Operators by type.
    pub operators: BTreeMap<PhiType, Operator>,
    /// Operators by detection rule (`zip`, `street_address`, ...), before types.
    pub rules: BTreeMap<String, Operator>,
    /// Spans scoring below this are ignored.
    pub min_score: f32,
    /// The largest date shift in days (either direction).
    pub date_shift_max_days: u32,
    /// Rules for FHIR resources.
    pub fhir: FhirPolicy,
}

fn rule(path: &str, action: FhirAction) -> FhirRule {
    FhirRule { path: path.into(), action }
}

impl Policy {
    /// Safe Harbor: every identifier goes; names, places and numbers get
    /// consistent surrogates, dates a per-patient shift, ages over 89 `90+`.
    pub fn safe_harbor() -> Self {
        use Operator::*;
        let operators = [
            (PhiType::Name, Surrogate),
            (PhiType::Location, Surrogate),
            (PhiType::Date, Dateshift),
            (PhiType::Age, Generalize),
            (PhiType::Phone, Surrogate),
            (PhiType::Fax, Surrogate),
            (PhiType::Email, Surrogate),
            (PhiType::Ssn, Surrogate),
            (PhiType::Mrn, Pseudonymize),
            (PhiType::HealthPlanId, Pseudonymize),
            (PhiType::Account, Pseudonymize),
            (PhiType::License, Pseudonymize),
            (PhiType::VehicleId, Pseudonymize),
            (PhiType::DeviceId, Pseudonymize),
            (PhiType::Url, Surrogate),
            (PhiType::Ip, Surrogate),
            (PhiType::OtherId, Pseudonymize),
        ]
        .into_iter()
        .collect();
        let mut rules = BTreeMap::new();
        rules.insert("zip".to_string(), Generalize);
        Policy {
            name: "safe-harbor".into(),
            default: Tag,
            operators,
            rules,
            min_score: 0.5,
            date_shift_max_days: 365,
            fhir: FhirPolicy {
                rules: vec![
                    rule("*.id", FhirAction::CryptoHash),
                    rule("*.reference", FhirAction::CryptoHash),
                    rule("*.fullUrl", FhirAction::CryptoHash),
                    rule("*.identifier.value", FhirAction::CryptoHash),
                    rule("*.identifier.assigner", FhirAction::Redact),
                    rule("*.name", FhirAction::Substitute),
                    rule("Organization.name", FhirAction::Substitute),
                    rule("Location.name", FhirAction::Substitute),
                    rule("*.telecom", FhirAction::Redact),
                    rule("*.address.line", FhirAction::Redact),
                    rule("*.address.city", FhirAction::Redact),
                    rule("*.address.district", FhirAction::Redact),
                    rule("*.address.text", FhirAction::Redact),
                    rule("*.address.postalCode", FhirAction::Generalize),
                    rule("*.address.extension", FhirAction::Redact),
                    rule("*.address.state", FhirAction::Keep),
                    rule("*.address.country", FhirAction::Keep),
                    rule("Location.position", FhirAction::Redact),
                    rule("*.photo", FhirAction::Redact),
                    rule("*.contact", FhirAction::Redact),
                    rule("*.text.div", FhirAction::Redact),
                    rule("*.display", FhirAction::Text),
                    rule("*.url", FhirAction::Keep),
                    rule("*.extension.url", FhirAction::Keep),
                    rule("*.extension", FhirAction::Text),
                    rule("*.system", FhirAction::Keep),
                    rule("*.code", FhirAction::Keep),
                    rule("*.content.attachment.url", FhirAction::Redact),
                    rule("*.content.attachment.data", FhirAction::Text),
                    rule("Patient.multipleBirthInteger", FhirAction::Redact),
                    rule("Device.serialNumber", FhirAction::CryptoHash),
                    rule("Device.udiCarrier", FhirAction::Redact),
                    rule("Device.lotNumber", FhirAction::CryptoHash),
                    rule("*.deceasedDateTime", FhirAction::Dateshift),
                ],
                dates: FhirAction::Dateshift,
                free_text: FhirAction::Text,
            },
        }
    }

    /// Limited data set (45 CFR 164.514(e)): dates, towns, states, ZIP codes
    /// and ages stay; names, street addresses, numbers and contacts go.
    pub fn limited_data_set() -> Self {
        let mut p = Policy::safe_harbor();
        p.name = "limited-data-set".into();
        p.operators.insert(PhiType::Date, Operator::Keep);
        p.operators.insert(PhiType::Age, Operator::Keep);
        p.operators.insert(PhiType::Location, Operator::Tag);
        for r in ["zip", "place_state", "place_context", "county"] {
            p.rules.insert(r.into(), Operator::Keep);
        }
        p.fhir.dates = FhirAction::Keep;
        for r in &mut p.fhir.rules {
            if matches!(
                r.path.as_str(),
                "*.address.city" | "*.address.district" | "*.address.postalCode" | "*.deceasedDateTime"
            ) {
                r.action = FhirAction::Keep;
            }
        }
        p
    }

    /// For a round trip through a language model: every identifier becomes a
    /// reversible token, and [`crate::reidentify`] restores the answer.
    pub fn llm_round_trip() -> Self {
        let mut p = Policy::safe_harbor();
        p.name = "llm-round-trip".into();
        p.default = Operator::Tokenize;
        p.operators.clear();
        p.rules.clear();
        p
    }

    /// A built-in policy by name: `safe-harbor`, `limited-data-set`, `llm-round-trip`.
    pub fn builtin(name: &str) -> Option<Self> {
        match name {
            "safe-harbor" => Some(Policy::safe_harbor()),
            "limited-data-set" => Some(Policy::limited_data_set()),
            "llm-round-trip" => Some(Policy::llm_round_trip()),
            _ => None,
        }
    }

    /// Parses a policy file (see `docs/deid.md`). `base` names the built-in
    /// policy it starts from (safe-harbor by default); the file overrides it.
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        let f: PolicyFile = toml::from_str(text).map_err(|e| PolicyError::Invalid(e.message().to_string()))?;
        let base = f.base.as_deref().unwrap_or("safe-harbor");
        let mut p =
            Policy::builtin(base).ok_or_else(|| PolicyError::Invalid(format!("unknown base policy {base:?}")))?;
        if let Some(n) = f.name {
            p.name = n;
        }
        if let Some(d) = f.default {
            p.default = d;
        }
        if let Some(m) = f.min_score {
            if !(0.0..=1.0).contains(&m) {
                return Err(PolicyError::Invalid("min_score must be within 0..=1".into()));
            }
            p.min_score = m;
        }
        if let Some(d) = f.date_shift_max_days {
            p.date_shift_max_days = d.clamp(1, 3650);
        }
        for (k, op) in f.operators {
            let t: PhiType =
                k.parse().map_err(|e: crate::types::UnknownPhiType| PolicyError::Invalid(e.to_string()))?;
            p.operators.insert(t, op);
        }
        p.rules.extend(f.rules);
        if let Some(fh) = f.fhir {
            // File rules come first: the most specific match wins, ties go to the file.
            let mut rules = fh.rules;
            rules.extend(p.fhir.rules);
            p.fhir = FhirPolicy { rules, dates: fh.dates, free_text: fh.free_text };
        }
        Ok(p)
    }

    /// The operator for a span of `kind` found by `rule`.
    pub fn operator_for(&self, kind: PhiType, rule: &str) -> Operator {
        self.rules.get(rule).or_else(|| self.operators.get(&kind)).copied().unwrap_or(self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_policy_file() {
        let p = Policy::from_toml(
            r#"
            name = "research"
            default = "redact"
            [operators]
            NAME = "tag"
            date = "generalize"
            [rules]
            zip = "keep"
            [[fhir.rules]]
            path = "Patient.birthDate"
            action = "generalize"
            "#,
        );
        let p = match p {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(p.operator_for(PhiType::Name, "title"), Operator::Tag);
        assert_eq!(p.operator_for(PhiType::Date, "date"), Operator::Generalize);
        assert_eq!(p.operator_for(PhiType::Location, "zip"), Operator::Keep);
        assert_eq!(p.operator_for(PhiType::Mrn, "mrn_label"), Operator::Pseudonymize);
        assert_eq!(p.fhir.rules[0].path, "Patient.birthDate");
    }

    #[test]
    fn rejects_unknown_names() {
        assert!(Policy::from_toml("[operators]\nPOTATO = \"tag\"").is_err());
        assert!(Policy::from_toml("[operators]\nNAME = \"shred\"").is_err());
        assert!(Policy::from_toml("colour = 1").is_err());
        assert!(Policy::from_toml("base = \"nope\"").is_err());
    }

    #[test]
    fn builtins() {
        for n in ["safe-harbor", "limited-data-set", "llm-round-trip"] {
            assert!(Policy::builtin(n).is_some());
        }
        assert_eq!(Policy::limited_data_set().operator_for(PhiType::Date, "date"), Operator::Keep);
        assert_eq!(Policy::llm_round_trip().operator_for(PhiType::Name, "title"), Operator::Tokenize);
    }
}
