//! What an audit record says, and its canonical encoding.
//!
//! A record never holds PHI values: only ids (accounts, resources, patients),
//! the action, the outcome and request metadata. The canonical encoding is
//! the exact bytes that are hashed, stored and exported; field order is fixed
//! by the struct declarations and absent optional fields are omitted, so one
//! event has exactly one encoding.

use serde::{Deserialize, Serialize};

use crate::AuditError;

/// Version of the record encoding; part of every record.
pub const RECORD_VERSION: u32 = 1;

/// The longest free-text field kept (break-glass reasons, failure details).
pub const MAX_TEXT: usize = 500;

/// How a request ended, in audit terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Allowed and done.
    Success,
    /// Refused by authentication or policy.
    Denied,
    /// Refused because the request itself was bad (not found, invalid...).
    Failed,
    /// Haven failed.
    Error,
}

impl Outcome {
    /// The name used in the encoding and in searches.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
            Outcome::Error => "error",
        }
    }

    /// Parses the name used in the encoding.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "success" => Outcome::Success,
            "denied" => Outcome::Denied,
            "failed" => Outcome::Failed,
            "error" => Outcome::Error,
            _ => return None,
        })
    }

    /// The outcome an HTTP status implies.
    pub fn from_status(status: u16) -> Self {
        match status {
            200..=399 => Outcome::Success,
            401 | 403 | 429 => Outcome::Denied,
            400..=499 => Outcome::Failed,
            _ => Outcome::Error,
        }
    }
}

/// Who acted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// `account:<id>`, `client:<id>`, `operator:<os user>` or `anonymous`.
    pub id: String,
    /// The account's sign-in name, if any (an identifier, not PHI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The role the actor acted in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The FHIR resource the account is linked to (`Practitioner/..`, `Patient/..`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fhir: Option<String>,
    /// The user an agent or client acted for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
}

impl Actor {
    /// The actor of requests with no credentials.
    pub fn anonymous() -> Self {
        Actor { id: "anonymous".into(), ..Default::default() }
    }
}

/// One auditable event, as the application reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened: unix microseconds (informational; the sequence number orders the log).
    pub time: i64,
    /// Who acted.
    pub actor: Actor,
    /// Purpose of use (HL7 v3 PurposeOfUse code: TREAT, ETREAT, HOPERAT, PATRQT, HPAYMT...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// What was done, dotted: `fhir.read`, `fhir.search`, `auth.login`, `token.issue`...
    pub action: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The HTTP status, for requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// A short reason, never PHI: why it was denied, the break-glass reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Resources touched, as `Type/id` (or `Type` for a search).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Ids of the patients whose compartment was touched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patients: Vec<String>,
    /// The client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// The client's User-Agent header (truncated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// The request id (also in the `x-request-id` response header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Event {
    /// A new event at the current time.
    pub fn new(actor: Actor, action: impl Into<String>, outcome: Outcome) -> Self {
        Event {
            time: now_micros(),
            actor,
            purpose: None,
            action: action.into(),
            outcome,
            status: None,
            detail: None,
            resources: Vec::new(),
            patients: Vec::new(),
            source_ip: None,
            user_agent: None,
            request_id: None,
        }
    }

    /// Sets the short reason, truncated to [`MAX_TEXT`] characters.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(truncate(detail.into(), MAX_TEXT));
        self
    }

    /// Sorts and de-duplicates the resource and patient lists, so that the
    /// same event always encodes the same way.
    pub fn normalise(&mut self) {
        self.resources.sort_unstable();
        self.resources.dedup();
        self.patients.sort_unstable();
        self.patients.dedup();
    }
}

/// Cuts `s` to at most `max` characters, on a character boundary.
pub fn truncate(mut s: String, max: usize) -> String {
    if let Some((i, _)) = s.char_indices().nth(max) {
        s.truncate(i);
    }
    s
}

/// The current time in unix microseconds.
pub fn now_micros() -> i64 {
    let d = time::OffsetDateTime::now_utc() - time::OffsetDateTime::UNIX_EPOCH;
    i64::try_from(d.whole_microseconds()).unwrap_or(i64::MAX)
}

/// The time `days` days ago in unix microseconds (a retention cut-off).
pub fn days_ago(days: u32) -> i64 {
    now_micros().saturating_sub(i64::from(days) * 86_400 * 1_000_000)
}

/// An event placed in the log: its sequence number and the hash of the
/// record before it. This is what is encoded and hashed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Encoding version ([`RECORD_VERSION`]).
    pub v: u32,
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// Hex SHA-256 of the previous record's encoding (64 zeros for the first).
    pub prev: String,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
}

impl Record {
    /// The canonical encoding: compact JSON, fields in declaration order.
    pub fn encode(&self) -> Vec<u8> {
        // Serialising plain strings, numbers and vectors cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses an encoding. It must be canonical: re-encoding gives the same bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, AuditError> {
        let r: Record = serde_json::from_slice(bytes).map_err(|e| AuditError::Malformed(e.to_string()))?;
        if r.v != RECORD_VERSION {
            return Err(AuditError::Malformed(format!("unknown record version {}", r.v)));
        }
        if r.encode() != bytes {
            return Err(AuditError::Malformed("not in canonical form".into()));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample() -> Record {
        let mut e = Event::new(
            Actor { id: "account:1".into(), role: Some("clinician".into()), ..Default::default() },
            "fhir.read",
            Outcome::Success,
        );
        e.time = 1_700_000_000_000_000;
        e.resources = vec!["Observation/b".into(), "Observation/a".into(), "Observation/a".into()];
        e.patients = vec!["p1".into()];
        e.normalise();
        Record { v: RECORD_VERSION, seq: 7, prev: "0".repeat(64), event: e }
    }

    #[test]
    fn encoding_round_trips_and_is_canonical() {
        let r = sample();
        let bytes = r.encode();
        assert!(bytes.starts_with(br#"{"v":1,"seq":7,"prev":"0000"#), "{}", String::from_utf8_lossy(&bytes));
        assert_eq!(Record::decode(&bytes).unwrap(), r);
        assert_eq!(r.event.resources, ["Observation/a", "Observation/b"]);
        // Same content, other spacing: not canonical.
        let spaced = String::from_utf8(bytes).unwrap().replacen(',', ", ", 1);
        assert!(Record::decode(spaced.as_bytes()).is_err());
    }

    #[test]
    fn truncate_cuts_on_characters() {
        assert_eq!(truncate("héllo".into(), 2), "hé");
        assert_eq!(truncate("hi".into(), 5), "hi");
    }

    #[test]
    fn outcome_from_status() {
        assert_eq!(Outcome::from_status(200), Outcome::Success);
        assert_eq!(Outcome::from_status(403), Outcome::Denied);
        assert_eq!(Outcome::from_status(404), Outcome::Failed);
        assert_eq!(Outcome::from_status(500), Outcome::Error);
    }
}
