//! Who is asking: roles and the authenticated principal.

use std::fmt;
use std::str::FromStr;

use crate::ResourceId;

/// A least-privilege role. Every account has exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A patient: their own record only.
    Patient,
    /// A physician or other licensed clinician.
    Clinician,
    /// A nurse.
    Nurse,
    /// Front desk: schedules and demographics.
    Scheduler,
    /// Billing: coverage, claims, demographics.
    Billing,
    /// Accounts, configuration and keys; no PHI by default.
    Admin,
    /// Audit log and reports.
    Auditor,
    /// A service client such as one of Haven's agents.
    Agent,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 8] = [
        Role::Patient,
        Role::Clinician,
        Role::Nurse,
        Role::Scheduler,
        Role::Billing,
        Role::Admin,
        Role::Auditor,
        Role::Agent,
    ];

    /// The role's name as used in configuration and tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Clinician => "clinician",
            Role::Nurse => "nurse",
            Role::Scheduler => "scheduler",
            Role::Billing => "billing",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
            Role::Agent => "agent",
        }
    }

    /// Staff roles must use multi-factor authentication.
    pub fn is_staff(self) -> bool {
        !matches!(self, Role::Patient | Role::Agent)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Not a role name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}; expected one of patient, clinician, nurse, scheduler, billing, admin, auditor, agent")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, UnknownRole> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| UnknownRole(s.to_string()))
    }
}

/// How far a session has got through sign-in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStage {
    /// Signed in: the session may do what its role allows.
    #[default]
    Full,
    /// Password accepted; a one-time code is still due.
    MfaPending,
    /// A staff account without MFA: it may only enrol a second factor.
    Enrolment,
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The account id.
    pub account: ResourceId,
    /// The account's role.
    pub role: Role,
    /// The token's session id (to revoke it).
    pub session: ResourceId,
    /// How far sign-in has got.
    pub stage: SessionStage,
    /// Whether this session passed a second factor (or was issued by an
    /// operator with local access to the data directory).
    pub mfa: bool,
    /// When that second factor was last presented (unix seconds), for
    /// actions that need a fresh one (break-the-glass).
    pub mfa_at: Option<i64>,
    /// The Patient the account belongs to (patients).
    pub patient: Option<ResourceId>,
    /// The Practitioner the account belongs to (clinical staff).
    pub practitioner: Option<ResourceId>,
    /// SMART scopes bounding the session (service clients and scoped tokens).
    pub scopes: Option<String>,
    /// The user a service client acts for (a token exchange): the client
    /// may do only what both its scopes and this user's rights allow.
    pub on_behalf_of: Option<OnBehalfOf>,
}

/// The signed-in user on whose behalf a service client acts.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OnBehalfOf {
    /// The user's account id.
    pub account: ResourceId,
    /// The user's role.
    pub role: Role,
    /// The user's linked Patient.
    pub patient: Option<ResourceId>,
    /// The user's linked Practitioner.
    pub practitioner: Option<ResourceId>,
    /// Whether the user's session passed a second factor.
    pub mfa: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
        assert!(Role::Nurse.is_staff() && !Role::Patient.is_staff());
    }
}
