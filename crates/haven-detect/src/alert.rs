//! Alerts: what a rule raised, on what evidence, and in plain words.

use serde::{Deserialize, Serialize};

use crate::baseline::Deviation;
use crate::explain::Explanation;
use crate::rules::{Category, Level};

/// Whether an alert needs a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Raised: goes to an incident.
    Open,
    /// A legitimate reason was found for every patient: resolved as benign, with the reason recorded.
    Explained,
}

/// A patient and the reason found for accessing them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientExplanation {
    /// The patient id.
    pub patient: String,
    /// The reason.
    pub explanation: Explanation,
}

/// One alert raised by one rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Unique within the detector that raised it, increasing.
    pub id: u64,
    /// The rule's id.
    pub rule: String,
    /// The rule's title.
    pub title: String,
    /// The attack type the rule detects.
    pub attack: String,
    /// The family of threat.
    pub category: Category,
    /// Severity.
    pub level: Level,
    /// When the deciding event happened (or the deadline passed), unix µs.
    pub time: i64,
    /// The earliest evidence, unix µs.
    pub first_time: i64,
    /// The actor id.
    pub actor: String,
    /// The sign-in name (or pseudonym).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_name: Option<String>,
    /// The role acted in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The source address of the deciding event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// Patients concerned (ids), at most 50.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patients: Vec<String>,
    /// Audit sequence numbers of the evidence, ascending, at most 200.
    pub evidence: Vec<u64>,
    /// How many events fed the alert.
    pub count: u64,
    /// For baseline rules: what deviated, by how much.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deviation: Option<Deviation>,
    /// Open, or explained away.
    pub status: AlertStatus,
    /// The reasons found (all patients for an explained alert, some for an open one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub explanations: Vec<PatientExplanation>,
    /// What happened, in plain words (ids only, never names).
    pub summary: String,
}

/// Most evidence sequence numbers an alert carries.
pub const MAX_EVIDENCE: usize = 200;
/// Most patients an alert names.
pub const MAX_PATIENTS: usize = 50;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn alert_round_trips_as_json() {
        let a = Alert {
            id: 1,
            rule: "r".into(),
            title: "t".into(),
            attack: "x".into(),
            category: Category::Snooping,
            level: Level::High,
            time: 2,
            first_time: 1,
            actor: "account:1".into(),
            actor_name: None,
            role: None,
            source_ip: None,
            patients: vec!["p1".into()],
            evidence: vec![5],
            count: 1,
            deviation: None,
            status: AlertStatus::Open,
            explanations: vec![],
            summary: "s".into(),
        };
        let j = serde_json::to_string(&a).unwrap();
        assert!(j.contains(r#""category":"snooping""#));
        assert_eq!(serde_json::from_str::<Alert>(&j).unwrap(), a);
    }
}
