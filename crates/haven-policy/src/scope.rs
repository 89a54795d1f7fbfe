//! SMART on FHIR scopes (App Launch 1.0 and 2.0 grammar).
//!
//! Grammar accepted for resource scopes: `(patient|user|system)/(Type|*).(perm)`
//! where `perm` is a v1 word (`read` = `rs`, `write` = `cud`, `*` = `cruds`) or
//! a non-empty, in-order subset of the v2 letters `c r u d s`.
//!
//! Tokens that are not about resources (`openid`, `profile`, `fhirUser`,
//! `launch`, `launch/...`, `offline_access`, `online_access`) are skipped.
//! Everything else must parse: a typo such as `patient.Observation.read`
//! is an error rather than a silently dropped grant. v2 query suffixes
//! (`patient/Observation.rs?category=laboratory`) narrow a grant in ways this
//! type cannot express, so they are rejected rather than widened.

use std::fmt;

use crate::Action;

/// Whose data a scope is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScopeContext {
    /// `patient/`: the patient in the launch context only.
    Patient,
    /// `user/`: whatever the signed-in user may see.
    User,
    /// `system/`: a backend service with no user.
    System,
}

impl ScopeContext {
    /// The scope prefix, without the slash.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeContext::Patient => "patient",
            ScopeContext::User => "user",
            ScopeContext::System => "system",
        }
    }
}

/// SMART on FHIR scope (v1 and v2 grammar), e.g. `patient/Observation.rs`, `user/*.read`, `system/Patient.cruds`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    /// `patient/`, `user/` or `system/`.
    pub context: ScopeContext,
    /// The resource type; `None` for `*`.
    pub rtype: Option<String>,
    /// `c`: create.
    pub create: bool,
    /// `r`: read (and history of a known resource).
    pub read: bool,
    /// `u`: update.
    pub update: bool,
    /// `d`: delete.
    pub delete: bool,
    /// `s`: search.
    pub search: bool,
}

impl Scope {
    /// Whether this scope names `rtype` (or every type).
    pub fn covers_type(&self, rtype: &str) -> bool {
        self.rtype.as_deref().is_none_or(|t| t == rtype)
    }
}

impl fmt::Display for Scope {
    /// The canonical v2 form, e.g. `patient/Observation.rs`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}.", self.context.as_str(), self.rtype.as_deref().unwrap_or("*"))?;
        for (on, letter) in
            [(self.create, 'c'), (self.read, 'r'), (self.update, 'u'), (self.delete, 'd'), (self.search, 's')]
        {
            if on {
                write!(f, "{letter}")?;
            }
        }
        Ok(())
    }
}

/// A scope that does not follow the SMART grammar.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid SMART scope {scope:?}: {reason}")]
pub struct ScopeError {
    /// The offending scope (scopes are not PHI), cut to 100 characters.
    pub scope: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl ScopeError {
    fn new(scope: &str, reason: &'static str) -> Self {
        // A hostile token can be arbitrarily long; the error ends up in logs.
        ScopeError { scope: scope.chars().take(100).collect(), reason }
    }
}

/// Tokens granted by an authorization server that say nothing about resources.
const NON_RESOURCE: [&str; 6] = ["openid", "profile", "fhirUser", "launch", "offline_access", "online_access"];

/// Parses a space-separated scope string; non-resource scopes are skipped, malformed ones are an error.
pub fn parse_scopes(s: &str) -> Result<Vec<Scope>, ScopeError> {
    let mut out = Vec::new();
    for token in s.split_ascii_whitespace() {
        if NON_RESOURCE.contains(&token) || token.starts_with("launch/") {
            continue;
        }
        out.push(parse_one(token)?);
    }
    Ok(out)
}

fn parse_one(token: &str) -> Result<Scope, ScopeError> {
    let err = |reason| ScopeError::new(token, reason);
    if token.contains('?') {
        return Err(err("scope parameters (?param=value) are not supported"));
    }
    let (context, rest) = token.split_once('/').ok_or_else(|| err("expected (patient|user|system)/Type.perm"))?;
    let context = match context {
        "patient" => ScopeContext::Patient,
        "user" => ScopeContext::User,
        "system" => ScopeContext::System,
        _ => return Err(err("context must be patient, user or system")),
    };
    let (rtype, perm) =
        rest.split_once('.').ok_or_else(|| err("expected a '.' between the type and the permissions"))?;
    let rtype = match rtype {
        "*" => None,
        t if is_resource_type(t) => Some(t.to_string()),
        _ => return Err(err("resource type must be * or a FHIR type name such as Observation")),
    };
    let (create, read, update, delete, search) = match perm {
        "read" => (false, true, false, false, true),
        "write" => (true, false, true, true, false),
        "*" => (true, true, true, true, true),
        letters => {
            v2_letters(letters).ok_or_else(|| err("permissions must be read, write, * or in-order letters of cruds"))?
        }
    };
    Ok(Scope { context, rtype, create, read, update, delete, search })
}

/// `[A-Z][A-Za-z0-9]*`, at most 64 characters: the shape of every FHIR resource type name.
fn is_resource_type(t: &str) -> bool {
    let mut chars = t.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.all(|c| c.is_ascii_alphanumeric()) && t.len() <= 64
}

/// A non-empty subsequence of `cruds`: each letter at most once and in that order.
fn v2_letters(letters: &str) -> Option<(bool, bool, bool, bool, bool)> {
    if letters.is_empty() {
        return None;
    }
    let mut flags = [false; 5];
    let mut next = 0;
    for c in letters.chars() {
        // Searching only from `next` on rejects both repeats and out-of-order letters.
        let at = "cruds".get(next..)?.find(c)? + next;
        flags[at] = true;
        next = at + 1;
    }
    Some((flags[0], flags[1], flags[2], flags[3], flags[4]))
}

/// Whether any scope grants `action` on `rtype` (context is not checked here; see [`crate::PolicyEngine::decide`]).
///
/// `read` and `history` need `r`, `search` needs `s`, `everything` needs both
/// `r` and `s` (possibly from different scopes), `create`/`update`/`delete`
/// need `c`/`u`/`d`. Scopes never grant break-glass, imports, account, key or
/// audit-log management, the assistant, de-identification or alerts.
pub fn scopes_allow(scopes: &[Scope], action: Action, rtype: &str) -> bool {
    let has = |want: fn(&Scope) -> bool| scopes.iter().any(|s| s.covers_type(rtype) && want(s));
    match action {
        Action::Read | Action::History => has(|s| s.read),
        Action::Search => has(|s| s.search),
        Action::Everything => has(|s| s.read) && has(|s| s.search),
        Action::Create => has(|s| s.create),
        Action::Update => has(|s| s.update),
        Action::Delete => has(|s| s.delete),
        Action::Import
        | Action::BreakGlass
        | Action::ManageAccounts
        | Action::ManageKeys
        | Action::ReadAudit
        | Action::UseAgent
        | Action::ReviewAgent
        | Action::Deidentify
        | Action::Reidentify
        | Action::ReadAlerts
        | Action::ManageAlerts => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Scope {
        let mut v = parse_scopes(s).unwrap();
        assert_eq!(v.len(), 1, "{s}");
        v.remove(0)
    }

    #[test]
    fn v1_words() {
        assert_eq!(one("patient/Observation.read").to_string(), "patient/Observation.rs");
        assert_eq!(one("user/*.write").to_string(), "user/*.cud");
        assert_eq!(one("system/Patient.*").to_string(), "system/Patient.cruds");
        assert_eq!(one("user/*.read").rtype, None);
    }

    #[test]
    fn v2_letters_in_order() {
        for ok in ["c", "r", "u", "d", "s", "rs", "cu", "cruds", "cud", "rus", "crs"] {
            assert_eq!(one(&format!("patient/Observation.{ok}")).to_string(), format!("patient/Observation.{ok}"));
        }
        for bad in ["sr", "rr", "rc", "x", "crudss", "dc", "", "Read", "rw"] {
            let token = format!("user/Observation.{bad}");
            let e = parse_scopes(&token).unwrap_err();
            assert_eq!(e.scope, token);
            assert!(e.to_string().contains(&token), "{e}");
        }
    }

    #[test]
    fn non_resource_scopes_are_skipped() {
        let v = parse_scopes("openid fhirUser launch launch/patient offline_access  patient/*.rs\tprofile").unwrap();
        assert_eq!(v, [one("patient/*.rs")]);
        assert!(parse_scopes("").unwrap().is_empty());
    }

    #[test]
    fn malformed_scopes_name_the_scope() {
        for bad in [
            "patient.Observation.read",
            "patients/Observation.read",
            "patient/observation.read",
            "patient/Observation",
            "patient/.rs",
            "patient/Obs-ervation.rs",
            "patient/Observation.rs?category=laboratory",
            "email",
        ] {
            let e = parse_scopes(&format!("openid {bad}")).unwrap_err();
            assert_eq!(e.scope, bad);
        }
        let long = format!("user/{}.rs", "A".repeat(500));
        assert_eq!(parse_scopes(&long).unwrap_err().scope.len(), 100);
    }

    #[test]
    fn scopes_allow_maps_actions_to_letters() {
        let s = parse_scopes("patient/Observation.r patient/Observation.s user/Appointment.cu").unwrap();
        assert!(scopes_allow(&s, Action::Read, "Observation"));
        assert!(scopes_allow(&s, Action::History, "Observation"));
        assert!(scopes_allow(&s, Action::Search, "Observation"));
        assert!(scopes_allow(&s, Action::Everything, "Observation"));
        assert!(!scopes_allow(&s, Action::Create, "Observation"));
        assert!(!scopes_allow(&s, Action::Read, "Condition"));
        assert!(scopes_allow(&s, Action::Create, "Appointment"));
        assert!(scopes_allow(&s, Action::Update, "Appointment"));
        assert!(!scopes_allow(&s, Action::Delete, "Appointment"));
        let all = parse_scopes("system/*.cruds").unwrap();
        assert!(scopes_allow(&all, Action::Delete, "Anything"));
        for a in [Action::Import, Action::BreakGlass, Action::ManageAccounts, Action::ManageKeys, Action::ReadAudit] {
            assert!(!scopes_allow(&all, a, "Patient"));
        }
        assert!(!scopes_allow(&[], Action::Read, "Patient"));
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(s in ".{0,200}") {
            let _ = parse_scopes(&s);
        }

        #[test]
        fn parsed_scopes_round_trip(s in "(patient|user|system)/(\\*|[A-Z][a-z]{0,8})\\.(c?r?u?d?s?|read|write|\\*)") {
            match parse_scopes(&s) {
                Ok(v) => {
                    let again = parse_scopes(&v[0].to_string()).unwrap();
                    proptest::prop_assert_eq!(again, v);
                }
                // Only the empty permission set is refused.
                Err(e) => proptest::prop_assert!(s.ends_with('.'), "{}", e),
            }
        }
    }
}
