//! Authorization decisions as data: Haven's rules are Cedar policies
//! ([`PolicyEngine::default_policies_text`]) checked against a Cedar schema
//! ([`PolicyEngine::schema_text`]) when the engine is built, so an operator's
//! extra policies fail at startup, not silently at request time.
//!
//! - The server looks up the [`Facts`] (care relationship, consent, break-glass
//!   grant, MFA) and asks [`PolicyEngine::decide`] about one [`Caller`], one
//!   [`Action`] and one [`Target`].
//! - Any Cedar evaluation error makes the decision a deny: Cedar itself skips a
//!   policy that errors, which would let a broken `forbid` silently let
//!   requests through.
//! - A `forbid` beats every `permit`; nothing is allowed unless permitted.
//! - [`scope`] parses SMART on FHIR scopes, which bound (never extend) the
//!   rights of agents and apps.

mod engine;
pub mod scope;

pub use engine::{Decision, PolicyEngine, PolicyError, measure};
pub use scope::{Scope, ScopeContext, ScopeError, parse_scopes, scopes_allow};

/// What the caller wants to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read one resource.
    Read,
    /// Search a resource type.
    Search,
    /// Create a resource.
    Create,
    /// Update a resource.
    Update,
    /// Delete a resource.
    Delete,
    /// Read a resource's version history.
    History,
    /// `Patient/$everything`: the whole compartment.
    Everything,
    /// Bulk import.
    Import,
    /// Ask for emergency access to a patient's record.
    BreakGlass,
    /// Create, change or disable accounts.
    ManageAccounts,
    /// Rotate or retire encryption keys.
    ManageKeys,
    /// Read the audit log.
    ReadAudit,
    /// Talk to Haven's assistant (what it reaches is decided again per access).
    UseAgent,
    /// Review the assistant: feedback reports, reply provenance.
    ReviewAgent,
    /// De-identify text or FHIR data the caller sends.
    Deidentify,
    /// Turn reversible tokens back into the values they replaced.
    Reidentify,
    /// Read security alerts and incidents.
    ReadAlerts,
    /// Triage, assign and resolve security alerts and incidents.
    ManageAlerts,
}

impl Action {
    /// Every action, in a stable order.
    pub const ALL: [Action; 18] = [
        Action::Read,
        Action::Search,
        Action::Create,
        Action::Update,
        Action::Delete,
        Action::History,
        Action::Everything,
        Action::Import,
        Action::BreakGlass,
        Action::ManageAccounts,
        Action::ManageKeys,
        Action::ReadAudit,
        Action::UseAgent,
        Action::ReviewAgent,
        Action::Deidentify,
        Action::Reidentify,
        Action::ReadAlerts,
        Action::ManageAlerts,
    ];

    /// The Cedar action id, as in `Haven::Action::"read"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Search => "search",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::History => "history",
            Action::Everything => "everything",
            Action::Import => "import",
            Action::BreakGlass => "break_glass",
            Action::ManageAccounts => "manage_accounts",
            Action::ManageKeys => "manage_keys",
            Action::ReadAudit => "read_audit",
            Action::UseAgent => "use_agent",
            Action::ReviewAgent => "review_agent",
            Action::Deidentify => "deidentify",
            Action::Reidentify => "reidentify",
            Action::ReadAlerts => "read_alerts",
            Action::ManageAlerts => "manage_alerts",
        }
    }

    /// Position in [`Action::ALL`].
    fn index(self) -> usize {
        self as usize
    }
}

/// Coarse class of a resource type, which the default policies use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// Patient, RelatedPerson, Person.
    Demographic,
    /// Practitioner, PractitionerRole, Organization, Location, HealthcareService, Endpoint.
    Directory,
    /// Schedule, Slot, Appointment, AppointmentResponse.
    Scheduling,
    /// Coverage, claims, accounts, invoices and payments.
    Financial,
    /// Consent.
    Consent,
    /// AuditEvent, Provenance.
    Audit,
    /// Every other type.
    Clinical,
}

impl Category {
    /// Every category, in a stable order.
    pub const ALL: [Category; 7] = [
        Category::Demographic,
        Category::Directory,
        Category::Scheduling,
        Category::Financial,
        Category::Consent,
        Category::Audit,
        Category::Clinical,
    ];

    /// The value of `resource.category` in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Demographic => "demographic",
            Category::Directory => "directory",
            Category::Scheduling => "scheduling",
            Category::Financial => "financial",
            Category::Consent => "consent",
            Category::Audit => "audit",
            Category::Clinical => "clinical",
        }
    }
}

/// The category of a FHIR resource type; unknown types count as clinical, the most guarded class of PHI.
pub fn category_of(rtype: &str) -> Category {
    match rtype {
        "Patient" | "RelatedPerson" | "Person" => Category::Demographic,
        "Practitioner" | "PractitionerRole" | "Organization" | "Location" | "HealthcareService" | "Endpoint" => {
            Category::Directory
        }
        "Schedule" | "Slot" | "Appointment" | "AppointmentResponse" => Category::Scheduling,
        "Coverage"
        | "Claim"
        | "ClaimResponse"
        | "ExplanationOfBenefit"
        | "Account"
        | "Invoice"
        | "ChargeItem"
        | "PaymentNotice"
        | "PaymentReconciliation"
        | "CoverageEligibilityRequest"
        | "CoverageEligibilityResponse" => Category::Financial,
        "Consent" => Category::Consent,
        "AuditEvent" | "Provenance" => Category::Audit,
        _ => Category::Clinical,
    }
}

/// The caller as policies see it.
#[derive(Clone, Copy, Debug)]
pub struct Caller<'a> {
    /// The account id (the Cedar principal's id).
    pub account: &'a str,
    /// The account's role.
    pub role: haven_core::Role,
    /// The Patient id the account is linked to; for an agent, the launch patient of its `patient/` scopes.
    pub patient: Option<&'a str>,
    /// The Practitioner id the account is linked to.
    pub practitioner: Option<&'a str>,
    /// SMART scopes granted to a service client (agent) or app; they bound what the caller may do.
    pub scopes: Option<&'a [Scope]>,
}

/// The resource as policies see it.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    /// FHIR resource type, e.g. `Observation`.
    pub rtype: &'a str,
    /// The patient compartment the resource belongs to; `None` for non-patient data.
    pub patient: Option<&'a str>,
}

/// Facts the server looked up before asking.
#[derive(Clone, Copy, Debug, Default)]
pub struct Facts {
    /// The caller (a practitioner) has a CareTeam, Encounter, Appointment or assignment with `target.patient`.
    pub care_relationship: bool,
    /// An active Consent of `target.patient` denies this caller.
    pub consent_denies: bool,
    /// The caller holds an active break-glass grant for `target.patient`.
    pub break_glass: bool,
    /// The session passed multi-factor authentication.
    pub mfa: bool,
}
