//! Authorization: the facts a decision needs (care relationship, consent,
//! break-the-glass grants), looked up in the store; the Cedar decision from
//! `haven-policy`; and the guard that makes every handler ask.
//!
//! Deny by default: a handler that returns success without having asked
//! ([`DecisionFlag`]) is turned into a 500 by [`require_decision`], so a new
//! route that forgets authorization fails its tests instead of leaking.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use haven_core::{Principal, ResourceId, ResourceType, Role};
use haven_fhir::model::ConsentInfo;
use haven_fhir::search;
use haven_policy::{Action, Caller, Decision, Facts, PolicyEngine, Scope, Target};
use haven_store::{IndexTerm, Record, Store};
use serde_json::{Map, Value};

use crate::ApiError;
use crate::audit::AuditTrail;

/// Set once a handler obtained a policy decision for the request; carries
/// the request's audit trail so decisions note the patients they were about.
#[derive(Clone, Default)]
pub struct DecisionFlag(Arc<AtomicBool>, Option<AuditTrail>);

impl std::fmt::Debug for DecisionFlag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DecisionFlag({})", self.is_set())
    }
}

impl DecisionFlag {
    /// Records that a decision was made.
    pub fn mark(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// The request's audit trail (absent outside a request).
    pub fn trail(&self) -> Option<&AuditTrail> {
        self.1.as_ref()
    }

    fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Routes that act only on the caller's own session or are public; they
/// need no policy decision.
const NO_DECISION: [&str; 13] = [
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/auth/login",
    "/auth/token",
    "/auth/logout",
    "/auth/mfa/verify",
    "/auth/mfa/enroll",
    "/auth/mfa/activate",
    "/fhir/metadata",
    // Visitors have no principal to decide about; their assistant has no tools.
    "/v1/visitor/conversations",
    "/v1/visitor/conversations/{id}/messages",
    "/v1/visitor/feedback",
];

/// Fails closed when a handler succeeded without asking for a decision.
pub async fn require_decision(mut req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_default();
    let flag = DecisionFlag(Arc::default(), req.extensions().get::<AuditTrail>().cloned());
    req.extensions_mut().insert(flag.clone());
    let resp = next.run(req).await;
    if resp.status().is_success()
        && !flag.is_set()
        && !NO_DECISION.contains(&route.as_str())
        && !crate::routes::web_needs_no_decision(&route)
    {
        tracing::error!(route = %route, "a handler returned data without an authorization decision");
        return ApiError::Internal.into_response();
    }
    resp
}

/// How long looked-up facts are reused within one process.
const FACT_TTL: Duration = Duration::from_secs(2);

/// The policy engine and the fact lookups.
pub struct Authz {
    engine: PolicyEngine,
    break_glass_secs: i64,
    /// How long after it ends an Encounter or Appointment still counts.
    care_horizon_secs: i64,
    facts: std::sync::Mutex<HashMap<(ResourceId, String), (Facts, Instant)>>,
    /// Decisions per (session, action, type, patient), reused as long as the
    /// facts they rest on (the same two seconds): a chart read as twenty
    /// requests asks Cedar once.
    decisions: std::sync::Mutex<HashMap<DecisionKey, (Decision, bool, Instant)>>,
}

type DecisionKey = (ResourceId, Action, String, Option<String>);

impl std::fmt::Debug for Authz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authz")
    }
}

/// The person whose rights a decision is about.
struct Subject<'a> {
    account: &'a ResourceId,
    role: Role,
    practitioner: Option<&'a ResourceId>,
    mfa: bool,
}

/// Record type of break-the-glass grants.
pub const BREAK_GLASS_TYPE: &str = "HavenBreakGlass";

fn rtype(s: &str) -> Result<ResourceType, ApiError> {
    ResourceType::parse(s).map_err(|_| ApiError::Internal)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The patient compartment a resource belongs to: a Patient's own id, or
/// the Patient its `patient` search parameter refers to.
pub fn patient_of(rtype: &str, id: Option<&str>, obj: &Map<String, Value>) -> Option<String> {
    if rtype == "Patient" {
        return id.or_else(|| obj.get("id").and_then(Value::as_str)).map(str::to_owned);
    }
    if let Some(def) = search::param(rtype, "patient") {
        return search::references(def, obj).into_iter().find(|(t, _)| *t == "Patient").map(|(_, id)| id.to_owned());
    }
    // The R4 Patient compartment (Schedule.actor, Group.member, Claim.patient...).
    if let Some(first) = haven_fhir::compartment::patient_ids_of(rtype, obj).into_iter().next() {
        return Some(first);
    }
    // Types the compartment leaves out that still name their patient (Task,
    // Device): the usual top-level links. An element may hold one reference
    // or a list (Provenance.target).
    PATIENT_LINKS.iter().find_map(|k| {
        let v = obj.get(*k)?;
        let refs: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        refs.into_iter().find_map(|r| {
            let (t, id) = search::normalise_reference(r.get("reference")?.as_str()?)?;
            (t == "Patient").then(|| id.to_owned())
        })
    })
}

/// Top-level elements that link a resource to its patient, in the order
/// they are tried: `patient`, `subject` and `beneficiary` (most types),
/// `for` (Task), `actor` (AppointmentResponse), `target` (Provenance),
/// `candidate` (EnrollmentRequest), `policyHolder` and `subscriber` (Coverage).
const PATIENT_LINKS: [&str; 9] =
    ["patient", "subject", "beneficiary", "for", "actor", "target", "candidate", "subscriber", "policyHolder"];

impl Authz {
    /// The default policies plus an operator's policy text.
    pub fn new(
        extra_policies: Option<&str>,
        sec: &crate::config::SecurityConfig,
    ) -> Result<Self, haven_policy::PolicyError> {
        let secs = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Ok(Authz {
            engine: PolicyEngine::new(extra_policies)?,
            break_glass_secs: secs(sec.break_glass_minutes.saturating_mul(60)),
            care_horizon_secs: secs(sec.care_relationship_days.saturating_mul(86_400)),
            facts: std::sync::Mutex::new(HashMap::new()),
            decisions: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Decides, looking up the facts about `patient` first. Marks the request as decided.
    pub async fn decide(
        &self,
        store: &Store,
        flag: &DecisionFlag,
        p: &Principal,
        action: Action,
        rtype: &str,
        patient: Option<&str>,
    ) -> Result<Decision, ApiError> {
        self.decide_noting(store, flag, p, action, rtype, patient).await.map(|(d, _)| d)
    }

    /// [`Authz::decide`], also saying whether a break-the-glass grant was in force.
    async fn decide_noting(
        &self,
        store: &Store,
        flag: &DecisionFlag,
        p: &Principal,
        action: Action,
        rtype: &str,
        patient: Option<&str>,
    ) -> Result<(Decision, bool), ApiError> {
        flag.mark();
        let key: DecisionKey = (p.session.clone(), action, rtype.to_owned(), patient.map(str::to_owned));
        if let Ok(cache) = self.decisions.lock()
            && let Some((d, glass, at)) = cache.get(&key)
            && at.elapsed() < FACT_TTL
        {
            return Ok((d.clone(), *glass));
        }
        let scopes: Option<Vec<Scope>> = match &p.scopes {
            Some(s) => Some(haven_policy::parse_scopes(s).map_err(|_| ApiError::Forbidden)?),
            None => None,
        };
        // Whose rights the facts are about: the caller's, or the user's when
        // a client acts for one.
        let who = match &p.on_behalf_of {
            Some(u) => Subject { account: &u.account, role: u.role, practitioner: u.practitioner.as_ref(), mfa: u.mfa },
            None => Subject { account: &p.account, role: p.role, practitioner: p.practitioner.as_ref(), mfa: p.mfa },
        };
        let facts = match patient {
            Some(pid) => self.facts(store, &p.session, &who, pid).await?,
            None => Facts { mfa: who.mfa, ..Facts::default() },
        };
        let caller = Caller {
            account: p.account.as_str(),
            role: p.role,
            patient: p.patient.as_ref().map(ResourceId::as_str),
            practitioner: p.practitioner.as_ref().map(ResourceId::as_str),
            scopes: scopes.as_deref(),
        };
        let target = Target { rtype, patient };
        let d = match &p.on_behalf_of {
            None => self.engine.decide(&caller, action, &target, &facts),
            Some(u) => {
                let user = Caller {
                    account: u.account.as_str(),
                    role: u.role,
                    patient: u.patient.as_ref().map(ResourceId::as_str),
                    practitioner: u.practitioner.as_ref().map(ResourceId::as_str),
                    scopes: None,
                };
                let own = Facts { mfa: p.mfa, ..Facts::default() };
                self.engine.decide_delegated(&caller, &own, &user, &facts, action, &target)
            }
        };
        if !d.errors.is_empty() {
            tracing::error!(errors = d.errors.len(), "policy evaluation error: denied");
        } else if let Ok(mut cache) = self.decisions.lock() {
            if cache.len() > 100_000 {
                cache.clear();
            }
            cache.insert(key, (d.clone(), facts.break_glass, Instant::now()));
        }
        Ok((d, facts.break_glass))
    }

    /// Like [`Authz::decide`], as an error when denied: 404 when the denial
    /// depends on the patient (so existence is not revealed), else 403.
    pub async fn require(
        &self,
        store: &Store,
        flag: &DecisionFlag,
        p: &Principal,
        action: Action,
        rtype: &str,
        patient: Option<&str>,
    ) -> Result<Decision, ApiError> {
        let (d, glass) = self.decide_noting(store, flag, p, action, rtype, patient).await?;
        // What was asked is what the audit record reports, allowed or not.
        if let Some(trail) = flag.trail() {
            if let Some(pid) = patient {
                trail.patient(pid);
            }
            if !d.allow {
                trail.denied();
                trail.detail(format!("policy denied {} on {rtype}", action.as_str()));
            } else if glass && patient.is_some() {
                trail.purpose("ETREAT");
            }
        }
        if d.allow {
            Ok(d)
        } else if patient.is_some() && matches!(action, Action::Read | Action::History | Action::Everything) {
            Err(ApiError::NotFound)
        } else {
            Err(ApiError::Forbidden)
        }
    }

    async fn facts(
        &self,
        store: &Store,
        session: &ResourceId,
        p: &Subject<'_>,
        patient: &str,
    ) -> Result<Facts, ApiError> {
        let key = (session.clone(), patient.to_owned());
        if let Ok(cache) = self.facts.lock()
            && let Some((f, at)) = cache.get(&key)
            && at.elapsed() < FACT_TTL
        {
            return Ok(*f);
        }
        let mut f = Facts { mfa: p.mfa, ..Facts::default() };
        if let Some(pr) = &p.practitioner {
            f.care_relationship = care_relationship(store, pr.as_str(), patient, self.care_horizon_secs).await?;
            f.consent_denies = consent_denies(store, patient, &format!("Practitioner/{}", pr.as_str())).await?;
        } else if p.role != Role::Patient {
            f.consent_denies = consent_denies(store, patient, "").await?;
        }
        f.break_glass = self.break_glass_active(store, p.account, patient).await?;
        if let Ok(mut cache) = self.facts.lock() {
            if cache.len() > 50_000 {
                cache.clear();
            }
            cache.insert(key, (f, Instant::now()));
        }
        Ok(f)
    }

    /// Grants `account` emergency access to `patient` for the configured time.
    pub async fn break_glass(
        &self,
        store: &Store,
        account: &ResourceId,
        patient: &str,
        reason: &str,
    ) -> Result<i64, ApiError> {
        let until = now().saturating_add(self.break_glass_secs);
        let body = serde_json::json!({"account": account, "patient": patient, "reason": reason, "until": until});
        let key = format!("{}|{patient}", account.as_str());
        let bytes = serde_json::to_vec(&body).map_err(|_| ApiError::Internal)?;
        store.create(&rtype(BREAK_GLASS_TYPE)?, None, &bytes, &[IndexTerm::new("grant", key)]).await?;
        self.forget_patient(patient);
        Ok(until)
    }

    /// Explicitly assigns a practitioner to a patient's care until `until`
    /// (unix seconds): a care relationship without a CareTeam, Encounter or
    /// Appointment (a referral, a handover, a shift assignment). `by` names
    /// who assigned it, as an audit actor id.
    pub async fn assign(
        &self,
        store: &Store,
        practitioner: &ResourceId,
        patient: &ResourceId,
        until: i64,
        reason: &str,
        by: &str,
    ) -> Result<ResourceId, ApiError> {
        let id = record_assignment(store, practitioner, patient, until, reason, by).await?;
        self.forget_patient(patient.as_str());
        Ok(id)
    }

    /// Drops cached facts and decisions about a patient (they just changed).
    fn forget_patient(&self, patient: &str) {
        if let Ok(mut cache) = self.facts.lock() {
            cache.retain(|(_, p), _| p != patient);
        }
        if let Ok(mut cache) = self.decisions.lock() {
            cache.retain(|(_, _, _, p), _| p.as_deref() != Some(patient));
        }
    }

    async fn break_glass_active(&self, store: &Store, account: &ResourceId, patient: &str) -> Result<bool, ApiError> {
        let t = rtype(BREAK_GLASS_TYPE)?;
        let ids = store.find(&t, "grant", &format!("{}|{patient}", account.as_str())).await?;
        if ids.is_empty() {
            return Ok(false);
        }
        let now = now();
        Ok(store.read_many(&t, &ids).await?.iter().any(|r| {
            serde_json::from_slice::<Value>(&r.payload)
                .ok()
                .and_then(|v| v.get("until").and_then(Value::as_i64))
                .is_some_and(|until| until > now)
        }))
    }
}

/// The records of type `t` matching every clause (blind-index terms).
async fn matching(store: &Store, t: &str, clauses: &[(&str, String)]) -> Result<Vec<Record>, ApiError> {
    let Ok(rt) = ResourceType::parse(t) else { return Ok(Vec::new()) };
    let c: Vec<(String, Vec<String>)> = clauses.iter().map(|(n, v)| ((*n).to_owned(), vec![v.clone()])).collect();
    let ids = store.search(&rt, &c).await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(store.read_many(&rt, &ids).await?)
}

/// Record type of explicit care assignments (a practitioner to a patient).
pub const ASSIGNMENT_TYPE: &str = "HavenAssignment";

/// Stores an explicit care assignment (see [`Authz::assign`]; a running
/// server sees it within its two-second fact cache).
pub async fn record_assignment(
    store: &Store,
    practitioner: &ResourceId,
    patient: &ResourceId,
    until: i64,
    reason: &str,
    by: &str,
) -> Result<ResourceId, ApiError> {
    let body = serde_json::json!({
        "practitioner": practitioner, "patient": patient, "until": until, "reason": reason, "by": by,
        "created": now(),
    });
    let bytes = serde_json::to_vec(&body).map_err(|_| ApiError::Internal)?;
    let pair = format!("{practitioner}|{patient}");
    let meta = store.create(&rtype(ASSIGNMENT_TYPE)?, None, &bytes, &[IndexTerm::new("pair", pair)]).await?;
    Ok(meta.id)
}

/// Whether a practitioner has a care relationship with a patient: an active
/// CareTeam membership, an explicit assignment, being the patient's
/// nominated general practitioner, or an Encounter or Appointment they take
/// part in that is not cancelled or void and ended at most `horizon`
/// seconds ago.
pub async fn care_relationship(
    store: &Store,
    practitioner: &str,
    patient: &str,
    horizon: i64,
) -> Result<bool, ApiError> {
    let pat = format!("r:Patient/{patient}");
    let pr = format!("r:Practitioner/{practitioner}");
    let reference = format!("Practitioner/{practitioner}");
    let now = now();
    for (t, by) in [("CareTeam", "participant"), ("Encounter", "participant"), ("Appointment", "actor")] {
        for r in matching(store, t, &[("patient", pat.clone()), (by, pr.clone())]).await? {
            let Ok(v) = serde_json::from_slice::<Value>(&r.payload) else { continue };
            if ties(t, &v, &reference, now, horizon) {
                return Ok(true);
            }
        }
    }
    let pair = format!("{practitioner}|{patient}");
    let assignments = store.find(&rtype(ASSIGNMENT_TYPE)?, "pair", &pair).await?;
    if !assignments.is_empty() {
        for r in store.read_many(&rtype(ASSIGNMENT_TYPE)?, &assignments).await? {
            let until = serde_json::from_slice::<Value>(&r.payload).ok().and_then(|v| v.get("until")?.as_i64());
            if until.is_none_or(|u| u > now) {
                return Ok(true);
            }
        }
    }
    let Ok(pt) = ResourceType::parse("Patient") else { return Ok(false) };
    let ids = store.search(&pt, &[("general-practitioner".to_owned(), vec![pr])]).await?;
    Ok(ids.iter().any(|i| i.as_str() == patient))
}

/// The end of a FHIR `period` element as Unix seconds; `None` while open.
fn period_end(v: &Value) -> Option<i64> {
    let end = v.get("period")?.get("end")?.as_str()?;
    haven_fhir::datetime::PartialDateTime::parse_date_time(end).ok().map(|d| d.range().1)
}

/// Whether a CareTeam, Encounter or Appointment that names `practitioner`
/// (a `Practitioner/id` reference) still ties them to its patient at `now`.
fn ties(rtype: &str, v: &Value, practitioner: &str, now: i64, horizon: i64) -> bool {
    let status = v.get("status").and_then(Value::as_str).unwrap_or_default();
    match rtype {
        // A team ties its members while it is proposed, active or suspended
        // and its period (if any) has not ended.
        "CareTeam" => !matches!(status, "inactive" | "entered-in-error") && period_end(v).is_none_or(|end| end > now),
        "Encounter" => {
            !matches!(status, "cancelled" | "entered-in-error")
                && period_end(v).is_none_or(|end| end.saturating_add(horizon) > now)
        }
        "Appointment" => {
            let end = v
                .get("end")
                .and_then(Value::as_str)
                .and_then(|e| haven_fhir::datetime::PartialDateTime::parse_instant(e).ok().map(|d| d.range().1));
            // A practitioner who declined takes no part in it.
            let declined = v.get("participant").and_then(Value::as_array).is_some_and(|ps| {
                ps.iter().any(|p| {
                    p.get("actor").and_then(|a| a.get("reference")).and_then(Value::as_str) == Some(practitioner)
                        && p.get("status").and_then(Value::as_str) == Some("declined")
                })
            });
            !matches!(status, "cancelled" | "noshow" | "entered-in-error")
                && !declined
                && end.is_none_or(|end| end.saturating_add(horizon) > now)
        }
        _ => false,
    }
}

/// Whether an active Consent of the patient denies `actor` (`""`: anyone not named).
pub async fn consent_denies(store: &Store, patient: &str, actor: &str) -> Result<bool, ApiError> {
    let Ok(t) = ResourceType::parse("Consent") else { return Ok(false) };
    let ids = store
        .search(
            &t,
            &[
                ("patient".to_owned(), vec![format!("r:Patient/{patient}")]),
                ("status".to_owned(), vec!["c:active".to_owned()]),
            ],
        )
        .await?;
    if ids.is_empty() {
        return Ok(false);
    }
    for r in store.read_many(&t, &ids).await? {
        let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(&r.payload) else { continue };
        if let Ok(c) = ConsentInfo::from_json(&o)
            && c.denies(actor)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Strips the elements a decision hides and marks the resource as redacted.
pub fn redact(resource: &mut Value, decision: &Decision) {
    redact_elements(resource, &decision.redact);
}

/// Strips the named top-level elements and marks the resource as redacted.
pub fn redact_elements(resource: &mut Value, names: &[&'static str]) {
    if names.is_empty() {
        return;
    }
    let Value::Object(o) = resource else { return };
    let mut removed = false;
    for name in names {
        removed |= o.remove(*name).is_some();
    }
    if removed {
        let meta = o.entry("meta").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(meta) = meta {
            let sec = meta.entry("security").or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(a) = sec {
                a.push(serde_json::json!({
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                    "code": "REDACTED",
                    "display": "redacted"
                }));
            }
        }
    }
}

/// The compartment of a parsed record.
pub fn value_patient(r: &Record, v: &Value) -> Option<String> {
    let o = v.as_object()?;
    patient_of(r.meta.rtype.as_str(), Some(r.meta.id.as_str()), o)
}

/// The compartment of a stored record.
pub fn record_patient(r: &Record) -> Option<String> {
    let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(&r.payload) else { return None };
    patient_of(r.meta.rtype.as_str(), Some(r.meta.id.as_str()), &o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tower::ServiceExt;

    /// A handler that answers without a decision is turned into a 500; one
    /// that asked keeps its answer; errors pass through as they are.
    #[tokio::test]
    async fn a_handler_without_a_decision_fails_closed() {
        use axum::routing::get;
        async fn forgot() -> &'static str {
            "patient data"
        }
        async fn asked(axum::Extension(flag): axum::Extension<DecisionFlag>) -> &'static str {
            flag.mark();
            "patient data"
        }
        async fn refused() -> ApiError {
            ApiError::Forbidden
        }
        let app = axum::Router::new()
            .route("/forgot", get(forgot))
            .route("/asked", get(asked))
            .route("/refused", get(refused))
            .route("/auth/logout", get(forgot))
            .route_layer(axum::middleware::from_fn(require_decision));
        for (path, status) in [("/forgot", 500), ("/asked", 200), ("/refused", 403), ("/auth/logout", 200)] {
            let req = axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap_or_default();
            let resp = app.clone().oneshot(req).await.map(|r| r.status().as_u16()).unwrap_or_default();
            assert_eq!(resp, status, "{path}");
        }
    }

    const DR: &str = "Practitioner/dr";
    const NOW: i64 = 1_790_000_000; // 2026-09-21
    const YEAR: i64 = 365 * 86_400;

    #[test]
    fn every_usual_patient_link_puts_a_resource_in_the_compartment() {
        let of = |t: &str, v: Value| patient_of(t, None, v.as_object().unwrap_or(&Map::new()));
        let p = json!({"reference": "Patient/p1"});
        assert_eq!(of("Observation", json!({"subject": p})).as_deref(), Some("p1"));
        assert_eq!(of("Task", json!({"for": p})).as_deref(), Some("p1"));
        assert_eq!(of("AppointmentResponse", json!({"actor": p})).as_deref(), Some("p1"));
        assert_eq!(of("Provenance", json!({"target": [{"reference": "Encounter/e"}, p]})).as_deref(), Some("p1"));
        assert_eq!(of("Coverage", json!({"beneficiary": p})).as_deref(), Some("p1"));
        assert_eq!(of("Task", json!({"for": {"reference": "Group/g"}})), None);
        assert_eq!(of("Patient", json!({"id": "p9"})).as_deref(), Some("p9"));
        assert_eq!(of("Medication", json!({"code": {}})), None);
        assert_eq!(of("Schedule", json!({"actor": [p]})).as_deref(), Some("p1"), "the R4 compartment");
        assert_eq!(of("Device", json!({"patient": p})).as_deref(), Some("p1"), "outside the compartment, still theirs");
    }

    #[test]
    fn care_teams_tie_while_active_and_in_their_period() {
        let t = |v: Value| ties("CareTeam", &v, DR, NOW, YEAR);
        assert!(t(json!({"status": "active"})));
        assert!(t(json!({})));
        assert!(t(json!({"status": "active", "period": {"end": "2027-01-01"}})));
        assert!(!t(json!({"status": "inactive"})));
        assert!(!t(json!({"status": "entered-in-error"})));
        assert!(!t(json!({"status": "active", "period": {"end": "2026-01-01"}})), "the team's period ended");
    }

    #[test]
    fn encounters_and_appointments_tie_until_the_horizon_after_they_end() {
        let e = |v: Value| ties("Encounter", &v, DR, NOW, YEAR);
        assert!(e(json!({"status": "in-progress"})));
        assert!(e(json!({"status": "finished", "period": {"end": "2026-03-01T10:00:00Z"}})));
        assert!(!e(json!({"status": "finished", "period": {"end": "2024-03-01T10:00:00Z"}})), "ended 2.5 years ago");
        assert!(!e(json!({"status": "cancelled"})));
        assert!(!e(json!({"status": "entered-in-error"})));

        let a = |v: Value| ties("Appointment", &v, DR, NOW, YEAR);
        let me = |status: &str| json!([{"actor": {"reference": DR}, "status": status}]);
        assert!(a(json!({"status": "booked", "participant": me("accepted"), "end": "2026-10-01T09:30:00Z"})));
        assert!(!a(json!({"status": "cancelled", "participant": me("accepted")})));
        assert!(!a(json!({"status": "noshow", "participant": me("accepted")})));
        assert!(!a(json!({"status": "booked", "participant": me("declined")})), "declined");
        assert!(!a(json!({"status": "fulfilled", "participant": me("accepted"), "end": "2020-01-01T09:30:00Z"})));
        assert!(!ties("Observation", &json!({}), DR, NOW, YEAR));
    }
}
