//! The conversation API: start a conversation, accept the disclaimer, send
//! messages (JSON, or server-sent events), give feedback; for reviewers,
//! the feedback report and the provenance of any reply. Visitors without
//! an account may converse through their own routes when the operator
//! allows it (general questions only: the assistant has no tools for them).

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use haven_agent::turn::{Reply, TurnContext};
use haven_core::{Principal, ResourceId};
use haven_policy::Action;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{Authenticated, REQUEST_ID};
use crate::agent::records::{expired, load, save};
use crate::agent::{
    AgentTools, CONSENT_TYPE, CONVERSATION_TYPE, Conversation, FEEDBACK_TYPE, Feedback, MAX_MESSAGES, Message,
    REPLY_TYPE, ReplyRecord,
};
use crate::audit::AuditTrail;
use crate::authz::DecisionFlag;
use crate::{ApiError, AppState};

/// Where a request came from, for the audit records of the assistant's tool calls.
pub struct Origin {
    request_id: Option<String>,
    source_ip: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut http::request::Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Origin {
            request_id: parts.headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_string),
            source_ip: parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()),
        })
    }
}

/// A new conversation.
#[derive(Serialize, ToSchema)]
pub struct Started {
    /// The conversation's id.
    pub id: String,
    /// The disclaimer to show before anything else.
    pub disclaimer: String,
    /// Its version (send it back when accepting).
    pub disclaimer_version: String,
    /// Whether the disclaimer must be accepted before the first message.
    pub consent_required: bool,
    /// For visitors: the secret that authorises this conversation's messages
    /// (`X-Conversation-Token`); shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Acceptance of the disclaimer.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    /// Must be true.
    pub accept: bool,
    /// The version accepted, as `POST /v1/conversations` returned it.
    pub disclaimer_version: String,
}

/// A message to the assistant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    /// The text.
    pub text: String,
}

/// Feedback on a reply.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// The reply's id.
    pub reply: String,
    /// `up` or `down`.
    pub rating: String,
    /// Optional comment (at most 2,000 characters).
    #[serde(default)]
    pub comment: Option<String>,
}

/// A visitor's new conversation.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitorStart {
    /// The visitor accepts the disclaimer (required).
    pub accept_disclaimer: bool,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn owner_of(p: &Principal) -> String {
    format!("account:{}", p.account)
}

fn conversation_id(id: &str) -> Result<ResourceId, ApiError> {
    ResourceId::parse(id).map_err(|_| ApiError::NotFound)
}

async fn use_agent(state: &AppState, flag: &DecisionFlag, p: &Principal) -> Result<(), ApiError> {
    state.authz().require(state.store(), flag, p, Action::UseAgent, "Conversation", None).await.map(drop)
}

async fn has_consented(state: &AppState, p: &Principal) -> Result<bool, ApiError> {
    let Some((v, _)) = load::<Value>(state.store(), CONSENT_TYPE, &p.account).await? else { return Ok(false) };
    Ok(v["disclaimer_version"].as_str() == Some(state.agent().disclaimer_version()))
}

/// Starts a conversation. Until the caller has accepted the current
/// disclaimer (`POST /v1/agent/consent`), messages are refused with 428.
#[utoipa::path(post, path = "/v1/conversations", tag = "agent", security(("bearer" = [])), responses(
    (status = 201, description = "started", body = Started),
    (status = 403, description = "the role may not use the assistant")
))]
pub async fn start(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    trail: AuditTrail,
) -> Result<(StatusCode, Json<Started>), ApiError> {
    use_agent(&state, &flag, &p).await?;
    let id = ResourceId::random();
    let c = Conversation {
        owner: owner_of(&p),
        role: Some(p.role),
        visitor_secret: None,
        visitor_consented: false,
        created: now(),
        state: Default::default(),
        messages: Vec::new(),
        turns: Vec::new(),
    };
    save(state.store(), CONVERSATION_TYPE, &id, &c, &[]).await?;
    trail.resource(format!("{CONVERSATION_TYPE}/{id}"));
    let agent = state.agent();
    Ok((
        StatusCode::CREATED,
        Json(Started {
            id: id.as_str().into(),
            disclaimer: agent.agent().disclaimer().into(),
            disclaimer_version: agent.disclaimer_version().into(),
            consent_required: !has_consented(&state, &p).await?,
            token: None,
        }),
    ))
}

/// Records the caller's acceptance of the disclaimer (once per version).
#[utoipa::path(post, path = "/v1/agent/consent", tag = "agent", request_body = ConsentRequest, security(("bearer" = [])), responses(
    (status = 204, description = "recorded"),
    (status = 400, description = "not accepted, or another version than the current one")
))]
pub async fn consent(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    trail: AuditTrail,
    body: Result<Json<ConsentRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    use_agent(&state, &flag, &p).await?;
    if !req.accept {
        return Err(ApiError::BadRequest("the disclaimer must be accepted (accept: true)".into()));
    }
    if req.disclaimer_version != state.agent().disclaimer_version() {
        return Err(ApiError::BadRequest("the disclaimer has changed: show the current one and accept it".into()));
    }
    let record = json!({"disclaimer_version": req.disclaimer_version, "at": now()});
    save(state.store(), CONSENT_TYPE, &p.account, &record, &[]).await?;
    trail.detail(format!("accepted disclaimer {}", req.disclaimer_version));
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's conversation with its messages.
#[utoipa::path(get, path = "/v1/conversations/{id}", tag = "agent", security(("bearer" = [])), responses(
    (status = 200, description = "the conversation"),
    (status = 404, description = "no such conversation of the caller's (or it expired)")
))]
pub async fn get_conversation(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    use_agent(&state, &flag, &p).await?;
    let id = conversation_id(&id)?;
    let c = owned(&state, &id, &owner_of(&p)).await?;
    let messages = crate::agent::records::messages(state.store(), &c).await?;
    Ok(Json(json!({"id": id.as_str(), "created": c.created, "messages": messages})))
}

/// Loads a conversation that belongs to `owner` and has not expired.
async fn owned(state: &AppState, id: &ResourceId, owner: &str) -> Result<Conversation, ApiError> {
    let Some((c, meta)) = load::<Conversation>(state.store(), CONVERSATION_TYPE, id).await? else {
        return Err(ApiError::NotFound);
    };
    // Someone else's conversation is as invisible as one that does not exist.
    if c.owner != owner {
        return Err(ApiError::NotFound);
    }
    if expired(meta.last_updated, state.agent().ttl_secs()) {
        crate::agent::records::erase_conversation(state.store(), id).await?;
        return Err(ApiError::NotFound);
    }
    Ok(c)
}

/// Sends a message; answers with the reply as JSON, or as server-sent
/// events (`Accept: text/event-stream`: `safeguards`, `delta`s, `done`).
#[utoipa::path(post, path = "/v1/conversations/{id}/messages", tag = "agent", request_body = MessageRequest, security(("bearer" = [])), responses(
    (status = 200, description = "the reply: reply, citations, disclaimer, escalation, actions, safeguards, id"),
    (status = 404, description = "no such conversation of the caller's"),
    (status = 428, description = "the disclaimer has not been accepted"),
    (status = 429, description = "too many messages")
))]
#[allow(clippy::too_many_arguments)]
pub async fn message(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    trail: AuditTrail,
    origin: Origin,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<MessageRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    use_agent(&state, &flag, &p).await?;
    let id = conversation_id(&id)?;
    let owner = owner_of(&p);
    if !state.agent().take_message(&owner) {
        trail.detail("assistant rate limit");
        return Err(ApiError::TooManyRequests);
    }
    let mut c = owned(&state, &id, &owner).await?;
    if !has_consented(&state, &p).await? {
        return Err(ApiError::PreconditionRequired(
            "accept the disclaimer first (POST /v1/agent/consent with the version from POST /v1/conversations)".into(),
        ));
    }
    let assistant = state.agent().assistant_for(&p).ok_or(ApiError::Forbidden)?;
    let tools =
        AgentTools::new(state.clone(), p.clone(), assistant, trail.clone(), origin.request_id, origin.source_ip);
    // A model sees only tokens in place of identifiers; without the guard
    // the agent answers offline.
    let guard = state.deid_guard();
    let ctx = TurnContext {
        role: Some(p.role),
        today: time::OffsetDateTime::now_utc().date(),
        tools: &tools,
        guard: Some(&guard),
    };
    let reply = state.agent().agent().turn(&ctx, &mut c.state, &req.text).await;
    let reply_id = finish(&state, &trail, &id, &mut c, req.text, &reply).await?;
    Ok(respond(&headers, &id, &reply_id, reply))
}

/// Stores the exchange and the reply's provenance, notes the audit detail.
async fn finish(
    state: &AppState,
    trail: &AuditTrail,
    id: &ResourceId,
    c: &mut Conversation,
    text: String,
    reply: &Reply,
) -> Result<ResourceId, ApiError> {
    use crate::agent::records::{MAX_TURNS, TURN_TYPE, Turn, batch_item};
    let reply_id = ResourceId::random();
    let at = now();
    let turn = Turn {
        user: Message { id: ResourceId::random().as_str().into(), from: "user".into(), text, at, reply: None },
        agent: Message {
            id: reply_id.as_str().into(),
            from: "agent".into(),
            text: reply.reply.clone(),
            at,
            reply: Some(reply.clone()),
        },
    };
    c.turns.push(reply_id.as_str().into());
    // The oldest exchanges go first: inline ones from earlier versions, then turns.
    let inline = c.messages.len().min((c.messages.len() + 2 * c.turns.len()).saturating_sub(MAX_MESSAGES));
    c.messages.drain(..inline);
    let dropped: Vec<String> = c.turns.drain(..c.turns.len().saturating_sub(MAX_TURNS)).collect();
    let record = ReplyRecord {
        conversation: id.as_str().into(),
        owner: c.owner.clone(),
        at,
        provenance: reply.provenance.clone(),
        safeguards: reply.safeguards.clone(),
        escalation: reply.escalation.as_ref().map(|e| e.rule.clone()),
        blocked: reply.blocked,
    };
    // One transaction: the exchange, its provenance and the conversation's new state.
    let items = [
        batch_item(TURN_TYPE, &reply_id, &turn)?,
        batch_item(REPLY_TYPE, &reply_id, &record)?,
        batch_item(CONVERSATION_TYPE, id, &*c)?,
    ];
    state.store().write_batch(&items).await?;
    let t = crate::agent::records::rtype(TURN_TYPE)?;
    for old in dropped.iter().filter_map(|d| ResourceId::parse(d).ok()) {
        state.store().purge(&t, &old).await?;
    }
    trail.resource(format!("{CONVERSATION_TYPE}/{id}"));
    trail.resource(format!("{REPLY_TYPE}/{reply_id}"));
    // The audit record says what kind of turn it was, never what was said.
    let verdicts: Vec<String> = reply
        .safeguards
        .iter()
        .filter(|s| s.verdict != haven_safeguards::Verdict::Pass)
        .map(|s| format!("{}={}", s.name, s.verdict.as_str()))
        .collect();
    // A model call is named with its endpoint, prompt hash and token counts.
    let model = match (&reply.provenance.model, &reply.provenance.endpoint) {
        (Some(m), Some(e)) => format!(
            " (model {m} at {e}; prompt sha256 {}; tokens {})",
            reply.provenance.prompt_hash.as_deref().unwrap_or("-"),
            reply.provenance.tokens.map_or("-".to_string(), |(p, c)| format!("{p} in, {c} out"))
        ),
        _ => String::new(),
    };
    trail.detail(format!(
        "answerer {}{model}; scenario {}; {} citations; escalation {}; safeguards {}",
        reply.provenance.answerer,
        reply.provenance.scenario.as_deref().unwrap_or("-"),
        reply.citations.len(),
        reply.escalation.as_ref().map_or("-", |e| e.rule.as_str()),
        if verdicts.is_empty() { "all pass".to_string() } else { verdicts.join(",") }
    ));
    if reply.blocked {
        metrics::counter!("haven_security_events_total", "kind" => "agent_blocked").increment(1);
    }
    Ok(reply_id)
}

fn respond(headers: &HeaderMap, conversation: &ResourceId, reply_id: &ResourceId, reply: Reply) -> Response {
    let mut body = serde_json::to_value(&reply).unwrap_or_else(|_| json!({}));
    if let Some(o) = body.as_object_mut() {
        o.insert("id".into(), json!(reply_id.as_str()));
        o.insert("conversation".into(), json!(conversation.as_str()));
        o.remove("provenance");
    }
    let wants_stream =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/event-stream"));
    if !wants_stream {
        return Json(body).into_response();
    }
    // The reply is checked whole before any of it is shown; it is then sent
    // as it would be read: checks and escalation first, the text sentence
    // by sentence, then everything.
    let mut events = Vec::new();
    if let Some(e) = &reply.escalation {
        events.push(SseEvent::default().event("escalation").json_data(e));
    }
    events.push(SseEvent::default().event("safeguards").json_data(&reply.safeguards));
    for (s, e) in haven_agent::text::sentences(&reply.reply) {
        events.push(Ok(SseEvent::default().event("delta").data(format!("{} ", &reply.reply[s..e]))));
    }
    events.push(SseEvent::default().event("done").json_data(&body));
    let events: Vec<Result<SseEvent, Infallible>> = events.into_iter().filter_map(Result::ok).map(Ok).collect();
    Sse::new(futures::stream::iter(events)).keep_alive(KeepAlive::default()).into_response()
}

/// Feedback on a reply of the caller's own.
#[utoipa::path(post, path = "/v1/feedback", tag = "agent", request_body = FeedbackRequest, security(("bearer" = [])), responses(
    (status = 204, description = "recorded"),
    (status = 400, description = "bad rating or comment"),
    (status = 404, description = "no such reply to the caller")
))]
pub async fn feedback(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    trail: AuditTrail,
    body: Result<Json<FeedbackRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    use_agent(&state, &flag, &p).await?;
    check_feedback(&req)?;
    let reply_id = ResourceId::parse(&req.reply).map_err(|_| ApiError::NotFound)?;
    let Some((r, _)) = load::<ReplyRecord>(state.store(), REPLY_TYPE, &reply_id).await? else {
        return Err(ApiError::NotFound);
    };
    if r.owner != owner_of(&p) {
        return Err(ApiError::NotFound);
    }
    record_feedback(&state, &trail, req, &reply_id, &r, owner_of(&p), "feedback").await
}

/// Stores feedback on a reply whose owner was checked, and notes it for the audit record.
async fn record_feedback(
    state: &AppState,
    trail: &AuditTrail,
    req: FeedbackRequest,
    reply_id: &ResourceId,
    r: &ReplyRecord,
    by: String,
    what: &str,
) -> Result<StatusCode, ApiError> {
    let f = Feedback {
        reply: req.reply,
        by,
        rating: req.rating.clone(),
        comment: req.comment.filter(|c| !c.trim().is_empty()),
        sources: r.provenance.sources.clone(),
        answerer: r.provenance.answerer.clone(),
        at: now(),
    };
    save(state.store(), FEEDBACK_TYPE, &ResourceId::random(), &f, &[]).await?;
    trail.resource(format!("{REPLY_TYPE}/{reply_id}"));
    trail.detail(format!("{what} {}", req.rating));
    Ok(StatusCode::NO_CONTENT)
}

/// Counts a visitor request against the per-address assistant limit.
fn take_visitor_message(state: &AppState, trail: &AuditTrail, origin: &Origin) -> Result<(), ApiError> {
    let key = format!("visitor:{}", origin.source_ip.as_deref().unwrap_or("unknown"));
    if !state.agent().take_message(&key) {
        trail.detail("assistant rate limit");
        return Err(ApiError::TooManyRequests);
    }
    Ok(())
}

/// A visitor conversation, if `X-Conversation-Token` holds its secret.
async fn visitor_conversation(
    state: &AppState,
    id: &ResourceId,
    headers: &HeaderMap,
) -> Result<Conversation, ApiError> {
    let token = headers.get(CONVERSATION_TOKEN).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let c = owned(state, id, "visitor").await?;
    // Only the secret's hash is stored; comparing hashes reveals nothing
    // useful about the secret, so a plain comparison is safe.
    let got = hex::encode(haven_crypto::sha256(token.as_bytes()));
    if token.is_empty() || c.visitor_secret.as_deref() != Some(got.as_str()) {
        return Err(ApiError::NotFound);
    }
    Ok(c)
}

fn check_feedback(req: &FeedbackRequest) -> Result<(), ApiError> {
    if req.rating != "up" && req.rating != "down" {
        return Err(ApiError::BadRequest("rating must be \"up\" or \"down\"".into()));
    }
    if req.comment.as_ref().is_some_and(|c| c.chars().count() > 2000) {
        return Err(ApiError::BadRequest("comment: at most 2000 characters".into()));
    }
    Ok(())
}

/// A visitor's feedback on a reply of their conversation (its secret in
/// `X-Conversation-Token`).
#[utoipa::path(post, path = "/v1/visitor/feedback", tag = "agent", request_body = FeedbackRequest, responses(
    (status = 204, description = "recorded"),
    (status = 400, description = "bad rating or comment"),
    (status = 403, description = "visitors are not allowed on this installation"),
    (status = 404, description = "no such reply in the conversation of this token"),
    (status = 429, description = "too many requests from this address")
))]
pub async fn visitor_feedback(
    State(state): State<AppState>,
    trail: AuditTrail,
    origin: Origin,
    headers: HeaderMap,
    body: Result<Json<FeedbackRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    visitors_allowed(&state)?;
    let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    check_feedback(&req)?;
    take_visitor_message(&state, &trail, &origin)?;
    let reply_id = ResourceId::parse(&req.reply).map_err(|_| ApiError::NotFound)?;
    let Some((r, _)) = load::<ReplyRecord>(state.store(), REPLY_TYPE, &reply_id).await? else {
        return Err(ApiError::NotFound);
    };
    if r.owner != "visitor" {
        return Err(ApiError::NotFound);
    }
    // The reply must be in the conversation this token opens.
    visitor_conversation(&state, &conversation_id(&r.conversation)?, &headers).await?;
    record_feedback(&state, &trail, req, &reply_id, &r, "visitor".into(), "visitor feedback").await
}

/// Feedback per answer source: thumbs up and down, newest comment count.
#[utoipa::path(get, path = "/v1/admin/feedback", tag = "agent", security(("bearer" = [])), responses(
    (status = 200, description = "per source: up, down; and totals"),
    (status = 403, description = "administrators and auditors only")
))]
pub async fn feedback_report(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
) -> Result<Json<Value>, ApiError> {
    state.authz().require(state.store(), &flag, &p, Action::ReviewAgent, "Conversation", None).await?;
    let t = crate::agent::records::rtype(FEEDBACK_TYPE)?;
    let mut per: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    let (mut up, mut down, mut comments) = (0u64, 0u64, 0u64);
    let mut after: Option<ResourceId> = None;
    loop {
        let page = state.store().list(Some(&t), after.as_ref().map(|a| (&t, a)), 500).await?;
        let Some((_, last, _)) = page.last() else { break };
        after = Some(last.clone());
        let ids: Vec<ResourceId> = page.iter().map(|(_, id, _)| id.clone()).collect();
        for r in state.store().read_many(&t, &ids).await? {
            let Ok(f) = serde_json::from_slice::<Feedback>(&r.payload) else { continue };
            let is_up = f.rating == "up";
            if is_up {
                up += 1
            } else {
                down += 1
            }
            comments += u64::from(f.comment.is_some());
            let mut keys: Vec<String> = f
                .sources
                .iter()
                .filter(|s| s.starts_with("kb:"))
                .map(|s| {
                    // A knowledge source, not one passage: `kb:SOURCE#section.n` → `kb:SOURCE`.
                    s.split('#').next().unwrap_or(s).to_string()
                })
                .collect();
            keys.sort();
            keys.dedup();
            if keys.is_empty() {
                keys.push(format!("answerer:{}", f.answerer));
            }
            for k in keys {
                let e = per.entry(k).or_default();
                if is_up { e.0 += 1 } else { e.1 += 1 }
            }
        }
        if page.len() < 500 {
            break;
        }
    }
    let sources: Vec<Value> = per.into_iter().map(|(s, (u, d))| json!({"source": s, "up": u, "down": d})).collect();
    Ok(Json(json!({"up": up, "down": down, "with_comment": comments, "sources": sources})))
}

/// What produced a reply (sources, model, prompt hash, every check's
/// verdict); no text. For auditors and administrators.
#[utoipa::path(get, path = "/v1/agent/replies/{id}", tag = "agent", security(("bearer" = [])), responses(
    (status = 200, description = "the reply's provenance"),
    (status = 403, description = "administrators and auditors only"),
    (status = 404, description = "no such reply")
))]
pub async fn provenance(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Extension(flag): Extension<DecisionFlag>,
    Path(id): Path<String>,
) -> Result<Json<ReplyRecord>, ApiError> {
    state.authz().require(state.store(), &flag, &p, Action::ReviewAgent, "Conversation", None).await?;
    let id = ResourceId::parse(&id).map_err(|_| ApiError::NotFound)?;
    let Some((r, _)) = load::<ReplyRecord>(state.store(), REPLY_TYPE, &id).await? else {
        return Err(ApiError::NotFound);
    };
    Ok(Json(r))
}

/// Header carrying a visitor conversation's secret.
pub const CONVERSATION_TOKEN: &str = "x-conversation-token";

fn visitors_allowed(state: &AppState) -> Result<(), ApiError> {
    if state.agent().allows_visitors() {
        Ok(())
    } else {
        Err(ApiError::Disabled("this installation does not admit visitors (agent.allow_anonymous): sign in".into()))
    }
}

/// Starts a visitor's conversation (when `agent.allow_anonymous` is on):
/// general questions only, no account, no personal data.
#[utoipa::path(post, path = "/v1/visitor/conversations", tag = "agent", request_body = VisitorStart, responses(
    (status = 201, description = "started; keep `token` for the messages", body = Started),
    (status = 400, description = "the disclaimer was not accepted"),
    (status = 403, description = "visitors are not allowed on this installation")
))]
pub async fn visitor_start(
    State(state): State<AppState>,
    trail: AuditTrail,
    body: Result<Json<VisitorStart>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Started>), ApiError> {
    visitors_allowed(&state)?;
    let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if !req.accept_disclaimer {
        return Err(ApiError::BadRequest("the disclaimer must be accepted (accept_disclaimer: true)".into()));
    }
    let token = format!("hvc_{}", haven_crypto::random_token(32).map_err(|_| ApiError::Internal)?);
    let id = ResourceId::random();
    let c = Conversation {
        owner: "visitor".into(),
        role: None,
        visitor_secret: Some(hex::encode(haven_crypto::sha256(token.as_bytes()))),
        visitor_consented: true,
        created: now(),
        state: Default::default(),
        messages: Vec::new(),
        turns: Vec::new(),
    };
    save(state.store(), CONVERSATION_TYPE, &id, &c, &[]).await?;
    trail.resource(format!("{CONVERSATION_TYPE}/{id}"));
    trail.detail(format!("visitor accepted disclaimer {}", state.agent().disclaimer_version()));
    let agent = state.agent();
    Ok((
        StatusCode::CREATED,
        Json(Started {
            id: id.as_str().into(),
            disclaimer: agent.agent().disclaimer().into(),
            disclaimer_version: agent.disclaimer_version().into(),
            consent_required: false,
            token: Some(token),
        }),
    ))
}

/// A visitor's message (the conversation's secret in `X-Conversation-Token`).
#[utoipa::path(post, path = "/v1/visitor/conversations/{id}/messages", tag = "agent", request_body = MessageRequest, responses(
    (status = 200, description = "the reply"),
    (status = 403, description = "visitors are not allowed on this installation"),
    (status = 404, description = "no such conversation, or a wrong token"),
    (status = 429, description = "too many messages from this address")
))]
pub async fn visitor_message(
    State(state): State<AppState>,
    trail: AuditTrail,
    origin: Origin,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<MessageRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    visitors_allowed(&state)?;
    let Json(req) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let id = conversation_id(&id)?;
    take_visitor_message(&state, &trail, &origin)?;
    let mut c = visitor_conversation(&state, &id, &headers).await?;
    let tools = NoTools;
    let guard = state.deid_guard();
    let ctx =
        TurnContext { role: None, today: time::OffsetDateTime::now_utc().date(), tools: &tools, guard: Some(&guard) };
    let reply = state.agent().agent().turn(&ctx, &mut c.state, &req.text).await;
    let reply_id = finish(&state, &trail, &id, &mut c, req.text, &reply).await?;
    Ok(respond(&headers, &id, &reply_id, reply))
}

/// Visitors' assistant has no tools: it reaches no record.
struct NoTools;

#[async_trait::async_trait]
impl haven_agent::scenario::Tools for NoTools {
    async fn call(
        &self,
        _: haven_agent::scenario::Tool,
        _: &serde_json::Map<String, Value>,
    ) -> Result<Value, haven_agent::scenario::ToolError> {
        Err(haven_agent::scenario::ToolError("please sign in for that".into()))
    }
}
