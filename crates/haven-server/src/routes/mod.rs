//! The router: every route, its middleware, and the OpenAPI document
//! generated from the same declarations (so a route cannot be missing from
//! it). FHIR routes are not in it: FHIR has its own description format.

mod access;
mod admin;
mod agent;
mod audit;
mod auth;
mod deid;
mod detect;
mod fhir;
mod health;
mod keys;
mod web;

use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::response::IntoResponse;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{ApiError, AppState};

pub(crate) use auth::Authenticated;
pub use auth::PUBLIC_ROUTES;
pub use fhir::ROUTES as FHIR_ROUTES;
pub(crate) use web::UNAUDITED as WEB_UNAUDITED;
pub(crate) use web::{action_for as web_action_for, needs_no_decision as web_needs_no_decision};

/// The request-id header, set on every request and response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(OpenApi)]
#[openapi(
    info(title = "Haven API", description = "Haven's non-FHIR endpoints. FHIR R4 is under /fhir."),
    components(schemas(
        crate::routes::auth::LoginRequest,
        crate::routes::auth::TokenResponse,
        crate::routes::auth::CodeRequest,
        crate::routes::auth::EnrolResponse,
        crate::routes::auth::ActivateResponse,
        crate::routes::auth::TokenRequest,
        crate::routes::access::BreakGlassRequest,
        crate::routes::access::BreakGlassGrant,
        crate::routes::access::AssignmentRequest,
        crate::routes::access::Assignment,
        crate::routes::admin::AccountView,
        crate::routes::admin::NewUser,
        crate::routes::admin::Revoked,
        crate::routes::admin::NewClient,
        crate::routes::admin::ClientCreated,
        crate::routes::audit::Disclosure,
        crate::routes::audit::Disclosures,
        crate::routes::agent::Started,
        crate::routes::agent::ConsentRequest,
        crate::routes::agent::MessageRequest,
        crate::routes::agent::FeedbackRequest,
        crate::routes::agent::VisitorStart,
        crate::routes::detect::IncidentChange
    )),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::openapi_json))
        .routes(routes!(auth::login))
        .routes(routes!(auth::token))
        .routes(routes!(auth::mfa_verify))
        .routes(routes!(auth::mfa_enroll))
        .routes(routes!(auth::mfa_activate))
        .routes(routes!(auth::logout))
        .routes(routes!(keys::key_status))
        .routes(routes!(access::break_glass))
        .routes(routes!(access::assign))
        .routes(routes!(admin::list_users, admin::add_user))
        .routes(routes!(admin::disable_user))
        .routes(routes!(admin::reset_mfa))
        .routes(routes!(admin::revoke_sessions))
        .routes(routes!(admin::add_client))
        .routes(routes!(audit::disclosures))
        .routes(routes!(audit::status))
        .routes(routes!(agent::start))
        .routes(routes!(agent::consent))
        .routes(routes!(agent::get_conversation))
        .routes(routes!(agent::message))
        .routes(routes!(agent::feedback))
        .routes(routes!(agent::feedback_report))
        .routes(routes!(agent::provenance))
        .routes(routes!(agent::visitor_start))
        .routes(routes!(agent::visitor_message))
        .routes(routes!(agent::visitor_feedback))
        .routes(routes!(deid::deidentify))
        .routes(routes!(deid::reidentify))
        .routes(routes!(detect::alerts))
        .routes(routes!(detect::incidents))
        .routes(routes!(detect::export))
        .routes(routes!(detect::incident, detect::change_incident))
        .routes(routes!(detect::status))
}

/// The OpenAPI document of every non-FHIR route.
pub fn api_doc() -> utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| documented().split_for_parts().1).clone()
}

async fn not_found() -> impl IntoResponse {
    ApiError::NotFound
}

/// The whole application as a router.
pub fn app(state: AppState) -> Router {
    let cfg = state.config().server.clone();
    let (api, _) = documented().split_for_parts();
    let middleware = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([http::header::AUTHORIZATION, http::header::COOKIE]))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(
            // Spans carry the method, the route template and the request id;
            // never the query string, headers or bodies (they may hold PHI).
            TraceLayer::new_for_http().make_span_with(|req: &http::Request<_>| {
                let route = req
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map(|m| m.as_str().to_owned())
                    .unwrap_or_default();
                let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                tracing::info_span!("request", method = %req.method(), route = %route, request_id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(CatchPanicLayer::custom(|_| ApiError::Internal.into_response()))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(cfg.request_timeout_secs),
        ))
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes));
    Router::new()
        .merge(api)
        // The browser front-end: the chat widget and the staff console.
        .merge(web::router())
        .nest("/fhir", fhir::router())
        // Transactions go to the base URL; clients differ on the trailing slash.
        .route("/fhir/", axum::routing::post(fhir::bundle))
        // Every route but the public ones needs a valid token: a handler
        // cannot forget authentication.
        // ... and every handler must obtain a policy decision (fail closed).
        .route_layer(axum::middleware::from_fn(crate::authz::require_decision))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_authentication))
        // A panic or a timeout inside a route still ends as a response the
        // audit layer records (the outer layers below cover the rest).
        .route_layer(CatchPanicLayer::custom(|_| ApiError::Internal.into_response()))
        .route_layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(cfg.request_timeout_secs),
        ))
        // ... and every request leaves an audit record before its response
        // is sent, authenticated or not, allowed or not.
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::audit::record))
        .fallback(not_found)
        .route_layer(axum::middleware::from_fn(crate::metrics_layer::track))
        .layer(middleware)
        .layer(axum::middleware::map_response(crate::error::outcome_for_plain_errors))
        .layer(axum::middleware::from_fn_with_state(state.clone(), web::security_headers))
        .with_state(state)
}
