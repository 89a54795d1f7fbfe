//! The detection view of an audit record: the fields rules select on, taken
//! from [`haven_audit::Record`] without copying anything the rules never read.

use haven_audit::{Outcome, Record};
use serde::{Deserialize, Serialize};

/// What kind of principal acted, derived from the actor id and role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    /// A person's account (`account:..`).
    User,
    /// A service client (`client:..`).
    Client,
    /// The assistant or another agent acting for a user (role `agent`).
    Agent,
    /// An operator at the console (`operator:..`).
    Operator,
    /// No credentials.
    Anonymous,
}

impl ActorKind {
    /// The name rules use.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Client => "client",
            ActorKind::Agent => "agent",
            ActorKind::Operator => "operator",
            ActorKind::Anonymous => "anonymous",
        }
    }

    /// Classifies an actor id and role.
    pub fn classify(id: &str, role: Option<&str>) -> Self {
        if role == Some("agent") {
            ActorKind::Agent
        } else if id.starts_with("client:") {
            ActorKind::Client
        } else if id.starts_with("account:") {
            ActorKind::User
        } else if id.starts_with("operator:") {
            ActorKind::Operator
        } else {
            ActorKind::Anonymous
        }
    }
}

/// One audit record as the detector sees it. Ids only, never PHI values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The record's sequence number in the audit log (the evidence reference).
    pub seq: u64,
    /// When it happened, unix microseconds.
    pub time: i64,
    /// `account:<id>`, `client:<id>`, `operator:<user>` or `anonymous`.
    pub actor: String,
    /// The sign-in name (or its pseudonym for unknown accounts).
    pub actor_name: Option<String>,
    /// The role the actor acted in.
    pub role: Option<String>,
    /// The FHIR resource the account is linked to (`Practitioner/..`, `Patient/..`).
    pub actor_fhir: Option<String>,
    /// The user an agent or client acted for.
    pub on_behalf_of: Option<String>,
    /// Derived from the actor id and role.
    pub kind: ActorKind,
    /// The dotted action (`fhir.read`, `auth.login`, `access.break_glass`...).
    pub action: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Purpose of use (`TREAT`, `ETREAT`...).
    pub purpose: Option<String>,
    /// The short reason recorded with the event.
    pub detail: Option<String>,
    /// Resource types touched (from `Type/id` or `Type`), de-duplicated.
    pub resource_types: Vec<String>,
    /// How many resources were touched.
    pub resource_count: u32,
    /// Ids of the patients whose compartment was touched.
    pub patients: Vec<String>,
    /// The client's address.
    pub source_ip: Option<String>,
    /// The client's User-Agent.
    pub user_agent: Option<String>,
}

impl Event {
    /// A minimal event, for tests and generators; fill the rest by field.
    pub fn new(seq: u64, time: i64, actor: impl Into<String>, action: impl Into<String>, outcome: Outcome) -> Self {
        let actor = actor.into();
        Event {
            seq,
            time,
            kind: ActorKind::classify(&actor, None),
            actor,
            actor_name: None,
            role: None,
            actor_fhir: None,
            on_behalf_of: None,
            action: action.into(),
            outcome,
            purpose: None,
            detail: None,
            resource_types: Vec::new(),
            resource_count: 0,
            patients: Vec::new(),
            source_ip: None,
            user_agent: None,
        }
    }

    /// Sets the role (and re-derives the actor kind, which depends on it).
    pub fn with_role(mut self, role: impl Into<String>) -> Self {
        let role = role.into();
        self.kind = ActorKind::classify(&self.actor, Some(&role));
        self.role = Some(role);
        self
    }

    /// Sets the resources touched from `Type/id` (or `Type`) strings.
    pub fn set_resources<S: AsRef<str>>(&mut self, resources: &[S]) {
        self.resource_types.clear();
        for r in resources {
            let t = r.as_ref().split('/').next().unwrap_or_default();
            if !t.is_empty() && !self.resource_types.iter().any(|x| x == t) {
                self.resource_types.push(t.to_string());
            }
        }
        self.resource_count = u32::try_from(resources.len()).unwrap_or(u32::MAX);
    }

    /// Whether the event touched patient data successfully.
    pub fn is_patient_access(&self) -> bool {
        self.outcome == Outcome::Success && !self.patients.is_empty()
    }
}

impl From<&Record> for Event {
    fn from(r: &Record) -> Self {
        let e = &r.event;
        let mut out = Event {
            seq: r.seq,
            time: e.time,
            actor: e.actor.id.clone(),
            actor_name: e.actor.name.clone(),
            role: e.actor.role.clone(),
            actor_fhir: e.actor.fhir.clone(),
            on_behalf_of: e.actor.on_behalf_of.clone(),
            kind: ActorKind::classify(&e.actor.id, e.actor.role.as_deref()),
            action: e.action.clone(),
            outcome: e.outcome,
            purpose: e.purpose.clone(),
            detail: e.detail.clone(),
            resource_types: Vec::new(),
            resource_count: 0,
            patients: e.patients.clone(),
            source_ip: e.source_ip.clone(),
            user_agent: e.user_agent.clone(),
        };
        out.set_resources(&e.resources);
        out
    }
}

impl Event {
    /// The audit event this detection event stands for (the simulator writes
    /// its log through the real audit types with this).
    pub fn to_audit_event(&self, resources: Vec<String>) -> haven_audit::Event {
        let mut e = haven_audit::Event::new(
            haven_audit::Actor {
                id: self.actor.clone(),
                name: self.actor_name.clone(),
                role: self.role.clone(),
                fhir: self.actor_fhir.clone(),
                on_behalf_of: self.on_behalf_of.clone(),
            },
            self.action.clone(),
            self.outcome,
        );
        e.time = self.time;
        e.purpose = self.purpose.clone();
        e.detail = self.detail.clone();
        e.resources = resources;
        e.patients = self.patients.clone();
        e.source_ip = self.source_ip.clone();
        e.user_agent = self.user_agent.clone();
        e.normalise();
        e
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn converts_an_audit_record() {
        let mut e = haven_audit::Event::new(
            haven_audit::Actor {
                id: "account:7".into(),
                role: Some("nurse".into()),
                fhir: Some("Practitioner/n7".into()),
                ..Default::default()
            },
            "fhir.search",
            Outcome::Success,
        );
        e.resources = vec!["Observation/1".into(), "Observation/2".into(), "Patient/p1".into()];
        e.patients = vec!["p1".into()];
        let r = Record { v: 1, seq: 42, prev: "0".repeat(64), event: e };
        let d = Event::from(&r);
        assert_eq!(d.seq, 42);
        assert_eq!(d.kind, ActorKind::User);
        assert_eq!(d.resource_types, ["Observation", "Patient"]);
        assert_eq!(d.resource_count, 3);
        assert!(d.is_patient_access());
        let back = d.to_audit_event(r.event.resources.clone());
        assert_eq!(back.actor.fhir.as_deref(), Some("Practitioner/n7"));
    }

    #[test]
    fn classifies_actors() {
        assert_eq!(ActorKind::classify("client:bot", Some("agent")), ActorKind::Agent);
        assert_eq!(ActorKind::classify("client:bot", None), ActorKind::Client);
        assert_eq!(ActorKind::classify("anonymous", None), ActorKind::Anonymous);
    }
}
