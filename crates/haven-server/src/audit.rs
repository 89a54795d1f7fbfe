//! The request side of the audit log. Every request to an audited route
//! leaves exactly one record, written (durably, by group commit) before its
//! response is sent; when the write fails the request fails (fail closed).
//!
//! Handlers and the layers they run in describe what happened through the
//! request's [`AuditTrail`]: who the caller is (authentication), which
//! patients' data the policy decisions were about (authorization), which
//! resources were returned or changed (handlers). The middleware adds the
//! method, route, status, source address, user agent and request id.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use haven_audit::{Actor, Event, Outcome};
use haven_core::{Principal, Role};

use crate::routes::REQUEST_ID;
use crate::{ApiError, AppState};

/// Routes with nothing to audit: probes and public descriptions.
pub const UNAUDITED_ROUTES: [&str; 4] = ["/healthz", "/readyz", "/openapi.json", "/fhir/metadata"];

/// The most resource references one record keeps (a search page is at most
/// a few hundred; beyond this the record says how many were left out).
const MAX_REFS: usize = 2_000;

/// What one request did, filled in while it runs.
#[derive(Clone, Default)]
pub struct AuditTrail(Arc<Mutex<Note>>);

#[derive(Default)]
struct Note {
    actor: Option<Actor>,
    action: Option<String>,
    purpose: Option<&'static str>,
    detail: Option<String>,
    denied: bool,
    resources: Vec<String>,
    patients: Vec<String>,
    dropped: usize,
}

impl AuditTrail {
    fn with(&self, f: impl FnOnce(&mut Note)) {
        // A poisoned lock means a handler panicked; the panic layer answers 500
        // and the record still goes out with what was noted before.
        if let Ok(mut n) = self.0.lock() {
            f(&mut n);
        }
    }

    /// The authenticated caller.
    pub fn principal(&self, p: &Principal) {
        let actor = actor_of(p);
        // A client acting for a user serves that user's purpose.
        let role = p.on_behalf_of.as_ref().map_or(p.role, |u| u.role);
        self.with(|n| {
            n.actor = Some(actor);
            n.purpose.get_or_insert(purpose_of(role));
        });
    }

    /// A caller known otherwise (a sign-in attempt, a service client).
    pub fn actor(&self, actor: Actor) {
        self.with(|n| n.actor = Some(actor));
    }

    /// Names the action when the route alone does not say it.
    pub fn action(&self, action: &str) {
        self.with(|n| n.action = Some(action.to_owned()));
    }

    /// The purpose of use (HL7 v3 PurposeOfUse), e.g. `ETREAT` under break-the-glass.
    pub fn purpose(&self, code: &'static str) {
        self.with(|n| n.purpose = Some(code));
    }

    /// A short reason, never PHI.
    pub fn detail(&self, detail: impl Into<String>) {
        let d = detail.into();
        self.with(|n| n.detail = Some(d));
    }

    /// A policy decision refused something in this request.
    pub fn denied(&self) {
        self.with(|n| n.denied = true);
    }

    /// A resource (`Type/id`) read, returned or changed.
    pub fn resource(&self, reference: String) {
        self.with(|n| {
            if n.resources.len() < MAX_REFS {
                n.resources.push(reference);
            } else {
                n.dropped += 1;
            }
        });
    }

    /// A patient whose compartment the request touched.
    pub fn patient(&self, id: &str) {
        self.with(|n| {
            if !n.patients.iter().any(|p| p == id) && n.patients.len() < MAX_REFS {
                n.patients.push(id.to_owned());
            }
        });
    }

    fn take(&self) -> Note {
        self.0.lock().map(|mut n| std::mem::take(&mut *n)).unwrap_or_default()
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for AuditTrail {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Outside the audit middleware (unaudited routes) notes go nowhere.
        Ok(parts.extensions.get::<AuditTrail>().cloned().unwrap_or_default())
    }
}

/// The audit actor of an account: its id, role and linked FHIR resource.
fn linked_actor(
    account: &haven_core::ResourceId,
    role: Role,
    practitioner: Option<&haven_core::ResourceId>,
    patient: Option<&haven_core::ResourceId>,
) -> Actor {
    let fhir = match (practitioner, patient) {
        (Some(pr), _) => Some(format!("Practitioner/{pr}")),
        (None, Some(pa)) => Some(format!("Patient/{pa}")),
        _ => None,
    };
    Actor { id: format!("account:{account}"), name: None, role: Some(role.as_str().into()), fhir, on_behalf_of: None }
}

/// The audit actor of an authenticated caller (and whom it acts for).
pub fn actor_of(p: &Principal) -> Actor {
    match &p.on_behalf_of {
        // A delegated session's patient is the user's (its launch context),
        // not the client's own link.
        Some(u) => Actor {
            on_behalf_of: Some(format!("account:{}", u.account)),
            ..linked_actor(&p.account, p.role, p.practitioner.as_ref(), None)
        },
        None => linked_actor(&p.account, p.role, p.practitioner.as_ref(), p.patient.as_ref()),
    }
}

/// The audit actor of an account (after sign-in, before a session exists).
pub fn account_actor(a: &crate::accounts::Account) -> Actor {
    linked_actor(&a.id, a.role, a.practitioner.as_ref(), a.patient.as_ref())
}

/// Whether a record counts as a disclosure of the patient's record: reviews
/// of the audit log itself do not.
pub fn is_disclosure(r: &haven_audit::Record) -> bool {
    !r.event.action.starts_with("audit.")
}

/// The purpose of use a role's requests are presumed to serve.
pub fn purpose_of(role: Role) -> &'static str {
    match role {
        Role::Patient => "PATRQT",
        Role::Clinician | Role::Nurse => "TREAT",
        Role::Billing => "HPAYMT",
        Role::Admin => "HSYSADMIN",
        Role::Scheduler | Role::Auditor | Role::Agent => "HOPERAT",
    }
}

/// The audit action of a route, by method and template. Routes not listed
/// are recorded as `http <METHOD> <route>`; a test keeps this complete.
pub fn action_for(method: &str, route: &str) -> Option<&'static str> {
    Some(match (method, route) {
        ("GET", "/fhir/{rtype}/{id}") => "fhir.read",
        ("GET", "/fhir/{rtype}/{id}/_history/{vid}") => "fhir.vread",
        ("GET", "/fhir/{rtype}/{id}/_history") => "fhir.history",
        ("GET", "/fhir/{rtype}") | ("POST", "/fhir/{rtype}/_search") => "fhir.search",
        ("POST", "/fhir/{rtype}") => "fhir.create",
        ("PUT", "/fhir/{rtype}/{id}") => "fhir.update",
        ("DELETE", "/fhir/{rtype}/{id}") => "fhir.delete",
        ("GET", "/fhir/Patient/{id}/$everything") => "fhir.everything",
        ("POST", "/fhir") | ("POST", "/fhir/") => "fhir.bundle",
        ("POST", "/fhir/$import") => "fhir.import",
        ("POST", "/auth/login") => "auth.login",
        ("POST", "/auth/token") => "auth.token",
        ("POST", "/auth/mfa/verify") => "auth.mfa.verify",
        ("POST", "/auth/mfa/enroll") => "auth.mfa.enroll",
        ("POST", "/auth/mfa/activate") => "auth.mfa.activate",
        ("POST", "/auth/logout") => "auth.logout",
        ("GET", "/v1/admin/keys") => "keys.status",
        ("POST", "/v1/break-glass") => "access.break_glass",
        ("POST", "/v1/assignments") => "access.assign",
        ("GET", "/v1/admin/users") => "admin.user.list",
        ("POST", "/v1/admin/users") => "admin.user.add",
        ("POST", "/v1/admin/users/{id}/disable") => "admin.user.disable",
        ("POST", "/v1/admin/users/{id}/reset-mfa") => "admin.user.reset_mfa",
        ("POST", "/v1/admin/users/{id}/revoke-sessions") => "admin.user.revoke_sessions",
        ("POST", "/v1/admin/clients") => "admin.client.add",
        ("GET", "/v1/audit/disclosures") => "audit.disclosures",
        ("GET", "/v1/audit/status") => "audit.status",
        ("POST", "/v1/conversations") | ("POST", "/v1/visitor/conversations") => "agent.conversation.start",
        ("GET", "/v1/conversations/{id}") => "agent.conversation.read",
        ("POST", "/v1/conversations/{id}/messages") | ("POST", "/v1/visitor/conversations/{id}/messages") => {
            "agent.message"
        }
        ("POST", "/v1/agent/consent") => "agent.consent",
        ("POST", "/v1/feedback") | ("POST", "/v1/visitor/feedback") => "agent.feedback",
        ("GET", "/v1/admin/feedback") => "agent.feedback.report",
        ("GET", "/v1/agent/replies/{id}") => "agent.provenance",
        ("POST", "/v1/deid") => "deid.apply",
        ("GET", "/v1/alerts") => "security.alerts",
        ("GET", "/v1/incidents") => "security.incidents",
        ("GET", "/v1/incidents/export") => "security.export",
        ("GET", "/v1/incidents/{id}") => "security.incident",
        ("POST", "/v1/incidents/{id}") => "security.incident_change",
        ("GET", "/v1/detect/status") => "security.status",
        ("POST", "/v1/reidentify") => "deid.reidentify",
        _ => return crate::routes::web_action_for(method, route),
    })
}

/// The resource a FHIR instance route names (`Patient/123`), from the path.
fn path_resource(route: &str, path: &str) -> Option<String> {
    if route.starts_with("/v1/admin/users/{id}") {
        let id = path.strip_prefix("/v1/admin/users/")?.split('/').next()?;
        return Some(format!("HavenAccount/{id}"));
    }
    if !route.starts_with("/fhir/{rtype}/{id}") && route != "/fhir/Patient/{id}/$everything" {
        return None;
    }
    let mut parts = path.strip_prefix("/fhir/")?.split('/');
    let (t, id) = (parts.next()?, parts.next()?);
    Some(format!("{t}/{id}"))
}

fn header(req: &Request, name: &http::HeaderName) -> Option<String> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).map(|s| haven_audit::truncate(s.to_owned(), 200))
}

/// Writes the request's audit record before its response leaves.
pub async fn record(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_default();
    if UNAUDITED_ROUTES.contains(&route.as_str()) || crate::routes::WEB_UNAUDITED.contains(&route.as_str()) {
        return next.run(req).await;
    }
    let trail = AuditTrail::default();
    req.extensions_mut().insert(trail.clone());
    let method = req.method().as_str().to_owned();
    let user_agent = header(&req, &http::header::USER_AGENT);
    let request_id = header(&req, &REQUEST_ID);
    let source_ip = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
    let from_path = path_resource(&route, req.uri().path());

    let resp = next.run(req).await;

    let note = trail.take();
    let status = resp.status().as_u16();
    let action = match note.action {
        Some(a) => a,
        None => action_for(&method, &route).map_or_else(|| format!("http {method} {route}"), str::to_owned),
    };
    let outcome = if note.denied { Outcome::Denied } else { Outcome::from_status(status) };
    let mut event = Event::new(note.actor.unwrap_or_else(Actor::anonymous), action, outcome);
    event.status = Some(status);
    event.purpose = note.purpose.map(str::to_owned);
    event.detail = note.detail.map(|d| haven_audit::truncate(d, haven_audit::MAX_TEXT));
    if note.dropped > 0 {
        let more = format!("{} more resources not listed", note.dropped);
        event.detail = Some(event.detail.map_or(more.clone(), |d| format!("{d}; {more}")));
    }
    event.resources = note.resources;
    if event.resources.is_empty()
        && let Some(r) = from_path
    {
        event.resources.push(r);
    }
    event.patients = note.patients;
    event.source_ip = source_ip;
    event.user_agent = user_agent;
    event.request_id = request_id;
    match state.audit().record(event).await {
        Ok(_) => resp,
        Err(e) => {
            // Fail closed: an unrecorded access must not complete.
            tracing::error!(error = %e, "audit write failed; refusing the request");
            ApiError::Unavailable.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_paths_name_their_resource() {
        assert_eq!(path_resource("/fhir/{rtype}/{id}", "/fhir/Observation/o1").as_deref(), Some("Observation/o1"));
        assert_eq!(
            path_resource("/fhir/{rtype}/{id}/_history/{vid}", "/fhir/Patient/p/_history/2").as_deref(),
            Some("Patient/p")
        );
        assert_eq!(
            path_resource("/fhir/Patient/{id}/$everything", "/fhir/Patient/p/$everything").as_deref(),
            Some("Patient/p")
        );
        assert_eq!(path_resource("/fhir/{rtype}", "/fhir/Observation"), None);
    }

    #[test]
    fn every_route_has_an_action() {
        for (method, route) in crate::FHIR_ROUTES {
            if !UNAUDITED_ROUTES.contains(&route) {
                assert!(action_for(method, route).is_some(), "{method} {route} has no audit action");
            }
        }
        for (path, item) in crate::api_doc().paths.paths {
            for method in ["get", "post", "put", "delete"] {
                let has = match method {
                    "get" => item.get.is_some(),
                    "post" => item.post.is_some(),
                    "put" => item.put.is_some(),
                    _ => item.delete.is_some(),
                };
                if has && !UNAUDITED_ROUTES.contains(&path.as_str()) {
                    let m = method.to_uppercase();
                    assert!(action_for(&m, &path).is_some(), "{m} {path} has no audit action");
                }
            }
        }
    }
}
