//! The Cedar-backed decision engine.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Instant;

use cedar_policy::{
    ActionConstraint, Authorizer, Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, Policy, PolicyId,
    PolicySet, PrincipalConstraint, Request, RestrictedExpression, Schema, ValidationMode, Validator,
};
use haven_core::Role;
use miette::Diagnostic;
use serde::Serialize;

use crate::{Action, Caller, Facts, ScopeContext, Target, category_of, scopes_allow};

const SCHEMA: &str = include_str!("schema.cedarschema");
const DEFAULT_POLICIES: &str = include_str!("default.cedar");

/// Top-level elements a `@redact` annotation may name. A fixed list because
/// [`Decision::redact`] hands out `&'static str`, and because a misspelt
/// element would otherwise strip nothing without anyone noticing.
const REDACTABLE: [&str; 22] = [
    "text",
    "note",
    "identifier",
    "name",
    "telecom",
    "address",
    "birthDate",
    "photo",
    "contact",
    "communication",
    "extension",
    "contained",
    "maritalStatus",
    "generalPractitioner",
    "link",
    "subject",
    "patient",
    "performer",
    "supportingInfo",
    "diagnosis",
    "procedure",
    "item",
];

/// The outcome of one authorization question.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allow: bool,
    /// Elements to strip before returning the resource (field-level rules), e.g. `["text", "note"]`.
    pub redact: Vec<&'static str>,
    /// Ids of the policies that determined the decision (for audit/explain); empty for the default deny.
    pub reasons: Vec<String>,
    /// Evaluation errors (which make the decision a deny). Cedar's messages may quote request values such as
    /// account or patient ids, so log them where ids may go.
    pub errors: Vec<String>,
}

impl Decision {
    fn deny_with_error(error: String) -> Self {
        Decision { allow: false, redact: Vec::new(), reasons: Vec::new(), errors: vec![error] }
    }

    /// Both decisions at once: allowed only if both allow, hiding what
    /// either hides (a client acting for a user gets the intersection).
    pub fn and(mut self, other: Decision) -> Decision {
        self.allow &= other.allow;
        for r in other.redact {
            if !self.redact.contains(&r) {
                self.redact.push(r);
            }
        }
        self.reasons.extend(other.reasons);
        self.errors.extend(other.errors);
        self
    }
}

/// Policies that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The built-in schema does not parse (a bug in this crate).
    #[error("the built-in Cedar schema is invalid: {0}")]
    Schema(String),
    /// Policy text does not parse.
    #[error("{origin} policies do not parse: {details}")]
    Parse {
        /// `default` or `operator`.
        origin: &'static str,
        /// Each problem with its line and column.
        details: String,
    },
    /// Policy text parses but does not type-check against the schema.
    #[error("{origin} policies do not match the schema: {details}")]
    Invalid {
        /// `default` or `operator`.
        origin: &'static str,
        /// Each problem with its policy id, line and column.
        details: String,
    },
    /// Policy templates (`?principal`, `?resource`) are not supported.
    #[error("operator policies contain a template ({id}); write static policies")]
    Template {
        /// The template's id.
        id: String,
    },
    /// Two policies share an `@id`.
    #[error("duplicate policy id {0:?}; every @id must be unique across default and operator policies")]
    DuplicateId(String),
    /// A `@redact` annotation names an element Haven does not strip.
    #[error("policy {id:?}: @redact names {element:?}, which is not one of: {known}")]
    Redact {
        /// The policy's id.
        id: String,
        /// The unknown element.
        element: String,
        /// The elements that may be named.
        known: String,
    },
}

/// Decides requests against the default policies plus an operator's; `Send + Sync`, build once and share.
pub struct PolicyEngine {
    /// Every policy, defaults and operator's.
    policies: PolicySet,
    /// The policies that can apply to each (role, action), indexed `role * Action::ALL.len() + action`. Cedar
    /// evaluates every policy it is given; a policy whose scope names another role or action is always false
    /// (scope is checked before the condition, so it cannot error either), and leaving it out makes a decision
    /// several times faster without changing it.
    partitions: Vec<PolicySet>,
    authorizer: Authorizer,
    /// `@redact` elements of each permit that has one, resolved once at load.
    redactions: HashMap<String, Vec<&'static str>>,
    /// Cedar uids of [`Action::ALL`], in that order, so a decision builds none.
    actions: Vec<EntityUid>,
    /// Cedar uids of [`Role::ALL`], in that order: each caller is `in` its role.
    roles: Vec<EntityUid>,
    user_type: EntityTypeName,
    resource_type: EntityTypeName,
    /// Kept so tests can check that every request the engine builds conforms.
    #[cfg_attr(not(test), allow(dead_code))]
    schema: Schema,
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine").field("policies", &self.policies.num_of_policies()).finish_non_exhaustive()
    }
}

impl PolicyEngine {
    /// The default policies, plus an operator's extra policy text (validated against the schema; a parse or
    /// validation error names the problem and line).
    pub fn new(extra: Option<&str>) -> Result<Self, PolicyError> {
        Self::build(extra, true)
    }

    /// `validate` is false only in tests that need a policy the validator would refuse.
    fn build(extra: Option<&str>, validate: bool) -> Result<Self, PolicyError> {
        let (schema, _warnings) =
            Schema::from_cedarschema_str(SCHEMA).map_err(|e| PolicyError::Schema(e.to_string()))?;

        let mut policies = PolicySet::new();
        // Which policy came from which text, to turn error offsets into lines of the right file.
        let mut origin_of: HashMap<String, Origin> = HashMap::new();
        let defaults = parse(DEFAULT_POLICIES, Origin::Default)?;
        let operator = match extra {
            Some(text) => parse(text, Origin::Operator(text))?,
            None => Vec::new(),
        };
        for (policy, origin) in defaults.into_iter().chain(operator) {
            let id = policy.id().to_string();
            if origin_of.insert(id.clone(), origin).is_some() {
                return Err(PolicyError::DuplicateId(id));
            }
            policies.add(policy).map_err(|_| PolicyError::DuplicateId(id))?;
        }

        let validation = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        if validate && !validation.validation_passed() {
            let mut by_origin: Vec<(Origin, String)> = Vec::new();
            for e in validation.validation_errors() {
                let origin = origin_of.get(&e.policy_id().to_string()).copied().unwrap_or(Origin::Default);
                // Cedar's message already names the policy.
                let mut msg = e.to_string();
                if let Some(at) = location(e, origin.text()) {
                    msg = format!("{at}: {msg}");
                }
                if let Some(help) = e.help() {
                    msg = format!("{msg} ({help})");
                }
                by_origin.push((origin, msg));
            }
            // Blame the operator's text first: the defaults are tested to validate on their own.
            let origin =
                if by_origin.iter().any(|(o, _)| matches!(o, Origin::Operator(_))) { "operator" } else { "default" };
            let details = by_origin.into_iter().map(|(_, m)| m).collect::<Vec<_>>().join("; ");
            return Err(PolicyError::Invalid { origin, details });
        }

        let mut redactions = HashMap::new();
        for p in policies.policies() {
            if let Some(list) = p.annotation("redact") {
                let mut elements = Vec::new();
                for element in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                    let known = REDACTABLE.iter().find(|k| **k == element).ok_or_else(|| PolicyError::Redact {
                        id: p.id().to_string(),
                        element: element.to_string(),
                        known: REDACTABLE.join(", "),
                    })?;
                    elements.push(*known);
                }
                redactions.insert(p.id().to_string(), elements);
            }
        }

        let typename = |name: &str| EntityTypeName::from_str(name).map_err(|e| PolicyError::Schema(e.to_string()));
        let action_type = typename("Haven::Action")?;
        let actions: Vec<EntityUid> = Action::ALL
            .iter()
            .map(|a| EntityUid::from_type_name_and_id(action_type.clone(), EntityId::new(a.as_str())))
            .collect();
        let role_type = typename("Haven::Role")?;
        let roles: Vec<EntityUid> = Role::ALL
            .iter()
            .map(|r| EntityUid::from_type_name_and_id(role_type.clone(), EntityId::new(r.as_str())))
            .collect();
        let mut partitions = Vec::with_capacity(roles.len() * actions.len());
        for role in &roles {
            for action in &actions {
                let mut set = PolicySet::new();
                for p in policies.policies().filter(|p| may_apply(p, role, action)) {
                    set.add(p.clone()).map_err(|_| PolicyError::DuplicateId(p.id().to_string()))?;
                }
                partitions.push(set);
            }
        }
        Ok(PolicyEngine {
            policies,
            partitions,
            authorizer: Authorizer::new(),
            redactions,
            actions,
            roles,
            user_type: typename("Haven::User")?,
            resource_type: typename("Haven::Resource")?,
            schema,
        })
    }

    /// Decides one request. Agents (and apps) are bounded by `caller.scopes`; for an agent acting for a user,
    /// the server must also ask as that user and allow only if both decisions allow (then union the redactions).
    ///
    /// A `patient/` scope applies only to resources in the compartment of `caller.patient` (the launch patient);
    /// `user/` and `system/` scopes apply to any resource of their type.
    /// Decides for a service client acting for a user: the client's own
    /// decision (its scopes, with the user's Patient as launch context) and
    /// the user's decision (role, care relationship, consent, break-glass in
    /// `user_facts`), both of which must allow.
    pub fn decide_delegated(
        &self,
        client: &Caller<'_>,
        client_facts: &Facts,
        user: &Caller<'_>,
        user_facts: &Facts,
        action: Action,
        target: &Target<'_>,
    ) -> Decision {
        self.decide(client, action, target, client_facts).and(self.decide(user, action, target, user_facts))
    }

    /// Decides one request.
    pub fn decide(&self, caller: &Caller<'_>, action: Action, target: &Target<'_>, facts: &Facts) -> Decision {
        let partition =
            role_index(caller.role).and_then(|r| self.partitions.get(r * Action::ALL.len() + action.index()));
        let Some(policies) = partition else {
            return Decision::deny_with_error(format!("no policies indexed for role {}", caller.role));
        };
        self.decide_with(policies, caller, action, target, facts)
    }

    fn decide_with(
        &self,
        policies: &PolicySet,
        caller: &Caller<'_>,
        action: Action,
        target: &Target<'_>,
        facts: &Facts,
    ) -> Decision {
        let request = match self.request(caller, action, target, facts) {
            Ok(r) => r,
            Err(e) => return Decision::deny_with_error(e),
        };
        let (request, entities) = request;
        let response = self.authorizer.is_authorized(&request, policies, &entities);
        let diagnostics = response.diagnostics();
        let errors: Vec<String> = diagnostics.errors().map(ToString::to_string).collect();
        if !errors.is_empty() {
            // Cedar skipped the failing policies; a skipped forbid must not turn into an allow.
            let mut reasons: Vec<String> = diagnostics
                .errors()
                .map(|e| match e {
                    cedar_policy::AuthorizationError::PolicyEvaluationError(p) => p.policy_id().to_string(),
                })
                .collect();
            reasons.sort();
            reasons.dedup();
            return Decision { allow: false, redact: Vec::new(), reasons, errors };
        }
        let allow = response.decision() == cedar_policy::Decision::Allow;
        let mut reasons: Vec<String> = diagnostics.reason().map(ToString::to_string).collect();
        // Cedar returns a set; a stable order keeps audit records and tests comparable.
        reasons.sort();
        let mut redact: Vec<&'static str> = Vec::new();
        if allow {
            for id in &reasons {
                for element in self.redactions.get(id).into_iter().flatten() {
                    if !redact.contains(element) {
                        redact.push(element);
                    }
                }
            }
        }
        Decision { allow, redact, reasons, errors }
    }

    /// The Cedar schema (human format) every policy is checked against (for docs and `haven policy show`).
    pub fn schema_text() -> &'static str {
        SCHEMA
    }

    /// The default policies in Cedar (for docs and `haven policy show`).
    pub fn default_policies_text() -> &'static str {
        DEFAULT_POLICIES
    }

    /// Builds the Cedar request and the two entities it mentions; no entity store, nothing re-parsed.
    fn request(
        &self,
        caller: &Caller<'_>,
        action: Action,
        target: &Target<'_>,
        facts: &Facts,
    ) -> Result<(Request, Entities), String> {
        let principal = EntityUid::from_type_name_and_id(self.user_type.clone(), EntityId::new(caller.account));
        let mut attrs = HashMap::with_capacity(3);
        attrs.insert("role".to_string(), string(caller.role.as_str()));
        if let Some(p) = caller.patient {
            attrs.insert("patient".to_string(), string(p));
        }
        if let Some(p) = caller.practitioner {
            attrs.insert("practitioner".to_string(), string(p));
        }
        let role = role_index(caller.role).and_then(|r| self.roles.get(r)).cloned().ok_or("unknown role")?;
        let user = Entity::new(principal.clone(), attrs, HashSet::from([role])).map_err(|e| e.to_string())?;

        let resource = EntityUid::from_type_name_and_id(self.resource_type.clone(), EntityId::new(target.rtype));
        let mut attrs = HashMap::with_capacity(3);
        attrs.insert("rtype".to_string(), string(target.rtype));
        attrs.insert("category".to_string(), string(category_of(target.rtype).as_str()));
        if let Some(p) = target.patient {
            attrs.insert("patient".to_string(), string(p));
        }
        let res = Entity::new(resource.clone(), attrs, HashSet::new()).map_err(|e| e.to_string())?;

        let scope_allows = caller.scopes.is_some_and(|scopes| scopes_allow_here(scopes, caller, action, target));
        let context = Context::from_pairs([
            ("care_relationship".to_string(), RestrictedExpression::new_bool(facts.care_relationship)),
            ("consent_denies".to_string(), RestrictedExpression::new_bool(facts.consent_denies)),
            ("break_glass".to_string(), RestrictedExpression::new_bool(facts.break_glass)),
            ("mfa".to_string(), RestrictedExpression::new_bool(facts.mfa)),
            ("scoped".to_string(), RestrictedExpression::new_bool(caller.scopes.is_some())),
            ("scope_allows".to_string(), RestrictedExpression::new_bool(scope_allows)),
        ])
        .map_err(|e| e.to_string())?;
        let action = self.actions.get(action.index()).cloned().ok_or("unknown action")?;
        // Schema checks are skipped here for speed: the shapes are fixed by this function and a test checks
        // them against the schema.
        let request = Request::new(principal, action, resource, context, None).map_err(|e| e.to_string())?;
        let entities = Entities::from_entities([user, res], None).map_err(|e| e.to_string())?;
        Ok((request, entities))
    }

    /// Test hook: the request and entities `decide` would build, checked against the schema.
    #[cfg(test)]
    fn check_request_shape(&self, caller: &Caller<'_>, action: Action, target: &Target<'_>, facts: &Facts) {
        let (request, entities) = self.request(caller, action, target, facts).unwrap();
        let p = request.principal().unwrap().clone();
        let a = request.action().unwrap().clone();
        let r = request.resource().unwrap().clone();
        let c = request.context().unwrap().clone();
        Request::new(p, a, r, c, Some(&self.schema)).unwrap();
        Entities::from_entities(entities.iter().cloned(), Some(&self.schema)).unwrap();
    }
}

/// Position of `role` in [`Role::ALL`] (which has no index method of its own).
fn role_index(role: Role) -> Option<usize> {
    Role::ALL.iter().position(|r| *r == role)
}

/// Whether `policy` can match a caller in `role` doing `action`, judged from its scope alone; `true` when unsure.
fn may_apply(policy: &Policy, role: &EntityUid, action: &EntityUid) -> bool {
    let principal = match policy.principal_constraint() {
        // A caller is `in` its own role and no other; `in` anything else (a user) is left to Cedar.
        PrincipalConstraint::In(uid) | PrincipalConstraint::IsIn(_, uid) => {
            uid.type_name() != role.type_name() || uid == *role
        }
        PrincipalConstraint::Any | PrincipalConstraint::Eq(_) | PrincipalConstraint::Is(_) => true,
    };
    // The schema declares no action groups, so `action in [..]` is plain membership.
    let action = match policy.action_constraint() {
        ActionConstraint::Any => true,
        ActionConstraint::Eq(uid) => uid == *action,
        ActionConstraint::In(uids) => uids.contains(action),
    };
    principal && action
}

/// Scopes that apply to this target: `patient/` ones only inside the launch patient's compartment.
fn scopes_allow_here(scopes: &[crate::Scope], caller: &Caller<'_>, action: Action, target: &Target<'_>) -> bool {
    let in_launch_compartment = target.patient.is_some() && target.patient == caller.patient;
    if in_launch_compartment || scopes.iter().all(|s| s.context != ScopeContext::Patient) {
        return scopes_allow(scopes, action, target.rtype);
    }
    let applicable: Vec<crate::Scope> = scopes.iter().filter(|s| s.context != ScopeContext::Patient).cloned().collect();
    scopes_allow(&applicable, action, target.rtype)
}

fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_string())
}

/// Where a policy came from, so errors point into the right text.
#[derive(Clone, Copy)]
enum Origin<'t> {
    Default,
    Operator(&'t str),
}

impl<'t> Origin<'t> {
    fn text(self) -> &'t str {
        match self {
            Origin::Default => DEFAULT_POLICIES,
            Origin::Operator(t) => t,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Origin::Default => "default",
            Origin::Operator(_) => "operator",
        }
    }
}

/// Parses policy text, naming each policy by its `@id` (operator policies without one get `operator-policyN`).
fn parse<'t>(text: &str, origin: Origin<'t>) -> Result<Vec<(Policy, Origin<'t>)>, PolicyError> {
    let set = PolicySet::from_str(text).map_err(|errs| {
        let details = errs
            .iter()
            .map(|e| match location(e, text) {
                Some(at) => format!("{at}: {e}"),
                None => e.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; ");
        PolicyError::Parse { origin: origin.name(), details }
    })?;
    if let Some(t) = set.templates().next() {
        return Err(PolicyError::Template { id: t.id().to_string() });
    }
    let mut out = Vec::new();
    for p in set.policies() {
        let id = match (p.annotation("id"), origin) {
            (Some(id), _) => id.to_string(),
            (None, Origin::Operator(_)) => format!("operator-{}", p.id()),
            // Every default policy is meant to carry an @id; a test holds that.
            (None, Origin::Default) => format!("default-{}", p.id()),
        };
        out.push((p.new_id(PolicyId::new(id)), origin));
    }
    // Cedar keeps policies in a hash map; sort so errors and ids come out the same each run.
    out.sort_by_key(|a| a.0.id().to_string());
    Ok(out)
}

/// `line L, column C` of the first labelled span of a Cedar diagnostic.
fn location(d: &dyn Diagnostic, text: &str) -> Option<String> {
    let offset = d.labels()?.next()?.offset();
    let before = text.get(..offset)?;
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some(format!("line {line}, column {column}"))
}

/// Times `iterations` default-policy decisions (a clinician reading an Observation of a patient they care for)
/// one by one; returns (p50, p99) in microseconds, NaN if nothing could be timed.
pub fn measure(iterations: usize) -> (f64, f64) {
    let Ok(engine) = PolicyEngine::new(None) else { return (f64::NAN, f64::NAN) };
    if iterations == 0 {
        return (f64::NAN, f64::NAN);
    }
    let caller = Caller {
        account: "dr-alice",
        role: Role::Clinician,
        patient: None,
        practitioner: Some("prac-1"),
        scopes: None,
    };
    let target = Target { rtype: "Observation", patient: Some("pat-1") };
    let facts = Facts { care_relationship: true, mfa: true, ..Facts::default() };
    // Warm caches and the allocator so the first samples do not skew p99.
    for _ in 0..iterations.min(1000) {
        std::hint::black_box(engine.decide(&caller, Action::Read, &target, &facts));
    }
    let mut micros: Vec<f64> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(engine.decide(&caller, Action::Read, &target, &facts));
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    micros.sort_by(f64::total_cmp);
    let at = |q: f64| micros.get(((micros.len() as f64 * q).ceil() as usize).saturating_sub(1)).copied();
    (at(0.50).unwrap_or(f64::NAN), at(0.99).unwrap_or(f64::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Category, Scope, parse_scopes};

    fn clinician() -> Caller<'static> {
        Caller { account: "dr-a", role: Role::Clinician, patient: None, practitioner: Some("prac-1"), scopes: None }
    }

    const OBS: Target<'static> = Target { rtype: "Observation", patient: Some("pat-1") };
    const CARE: Facts = Facts { care_relationship: true, consent_denies: false, break_glass: false, mfa: true };

    #[test]
    fn engine_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<PolicyEngine>();
    }

    #[test]
    fn every_default_policy_has_an_id() {
        let e = PolicyEngine::new(None).unwrap();
        for p in e.policies.policies() {
            assert!(p.annotation("id").is_some(), "default policy without @id: {}", p.id());
        }
        assert!(e.policies.num_of_policies() > 10);
    }

    #[test]
    fn requests_conform_to_the_schema() {
        let e = PolicyEngine::new(None).unwrap();
        let scopes: Vec<Scope> = parse_scopes("patient/*.rs").unwrap();
        for role in Role::ALL {
            for (patient, practitioner) in [(None, None), (Some("pat-1"), Some("prac-1"))] {
                let scopes = (role == Role::Agent).then_some(scopes.as_slice());
                let caller = Caller { account: "acct \"quoted\"", role, patient, practitioner, scopes };
                for action in Action::ALL {
                    for target in [OBS, Target { rtype: "Slot", patient: None }] {
                        e.check_request_shape(&caller, action, &target, &CARE);
                    }
                }
            }
        }
    }

    /// Cedar skips a policy whose evaluation fails, so this forbid would silently not fire; Haven denies instead.
    #[test]
    fn a_forbid_reading_a_missing_attribute_denies() {
        // The validator refuses this policy (see the operator tests), so build without it to reach evaluation.
        let broken = r#"@id("broken-forbid")
            forbid (principal, action, resource) when { resource.patient == "pat-9" };"#;
        let e = PolicyEngine::build(Some(broken), false).unwrap();
        let d = e.decide(&clinician(), Action::Read, &Target { rtype: "Medication", patient: None }, &CARE);
        assert!(!d.allow, "{d:?}");
        assert_eq!(d.reasons, ["broken-forbid"]);
        assert_eq!(d.errors.len(), 1);
        assert!(d.errors[0].contains("broken-forbid") && d.errors[0].contains("patient"), "{:?}", d.errors);
        assert!(d.redact.is_empty());
        // Without the broken policy the same request is allowed, so the error is what denied it.
        let d = PolicyEngine::new(None).unwrap().decide(
            &clinician(),
            Action::Read,
            &Target { rtype: "Medication", patient: None },
            &CARE,
        );
        assert!(d.allow && d.errors.is_empty(), "{d:?}");
    }

    #[test]
    fn an_erroring_permit_also_denies() {
        let broken = r#"@id("broken-permit")
            permit (principal, action, resource) when { principal.practitioner == "prac-1" };"#;
        let e = PolicyEngine::build(Some(broken), false).unwrap();
        // A patient has no practitioner: the permit errors, and the request would otherwise be allowed.
        let patient =
            Caller { account: "p", role: Role::Patient, patient: Some("pat-1"), practitioner: None, scopes: None };
        let d = e.decide(&patient, Action::Read, &OBS, &Facts::default());
        assert!(!d.allow && !d.errors.is_empty(), "{d:?}");
    }

    /// Indexing policies by role and action must not change a single decision, operator policies included.
    #[test]
    fn partitions_decide_like_the_whole_set() {
        let extra = r#"
            @id("op-forbid") forbid (principal == Haven::User::"dr-a", action == Haven::Action::"update", resource);
            @id("op-permit") permit (principal in Haven::Role::"admin", action in [Haven::Action::"delete"], resource);
            @id("op-any") permit (principal, action, resource) when { principal.role == "auditor" && context.mfa };
        "#;
        let e = PolicyEngine::new(Some(extra)).unwrap();
        let scopes = parse_scopes("patient/*.rs user/Observation.cud").unwrap();
        let mut compared = 0;
        for role in Role::ALL {
            for scoped in [None, Some(scopes.as_slice())] {
                let caller =
                    Caller { account: "dr-a", role, patient: Some("pat-1"), practitioner: None, scopes: scoped };
                for action in Action::ALL {
                    for rtype in ["Patient", "Practitioner", "Slot", "Claim", "Consent", "AuditEvent", "Observation"] {
                        for patient in [None, Some("pat-1"), Some("pat-2")] {
                            for bits in 0..16u8 {
                                let facts = Facts {
                                    care_relationship: bits & 1 != 0,
                                    consent_denies: bits & 2 != 0,
                                    break_glass: bits & 4 != 0,
                                    mfa: bits & 8 != 0,
                                };
                                let target = Target { rtype, patient };
                                let fast = e.decide(&caller, action, &target, &facts);
                                let full = e.decide_with(&e.policies, &caller, action, &target, &facts);
                                assert_eq!(fast, full, "{role} {action:?} {rtype} {patient:?} {facts:?}");
                                compared += 1;
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(compared, Role::ALL.len() * 2 * Action::ALL.len() * 7 * 3 * 16);
        // The index really is smaller than the whole set.
        let biggest = e.partitions.iter().map(PolicySet::num_of_policies).max().unwrap();
        assert!(biggest * 2 < e.policies.num_of_policies(), "{biggest}");
    }

    #[test]
    fn measure_reports_percentiles() {
        let (p50, p99) = measure(200);
        assert!(p50.is_finite() && p99.is_finite() && p50 > 0.0 && p50 <= p99, "{p50} {p99}");
        assert!(measure(0).0.is_nan());
    }

    #[test]
    fn categories_have_distinct_names() {
        let names: HashSet<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), Category::ALL.len());
        for (i, a) in Action::ALL.iter().enumerate() {
            assert_eq!(a.index(), i);
        }
    }
}
