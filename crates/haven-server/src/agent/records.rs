//! The agent's records, encrypted in the store like every other: the
//! conversations (erased when they expire), the provenance of every reply
//! (kept for auditors: ids, verdicts and hashes, never text), feedback and
//! the users' acceptance of the disclaimer.

use haven_agent::turn::{ConversationState, Provenance, Reply};
use haven_core::{ResourceId, ResourceType, Role};
use haven_safeguards::Check;
use haven_store::{BatchItem, IndexTerm, Precondition, Store, StoreError};
use serde::{Deserialize, Serialize};

use crate::ApiError;

/// A conversation's record type.
pub const CONVERSATION_TYPE: &str = "HavenConversation";
/// A reply's provenance record type.
pub const REPLY_TYPE: &str = "HavenReply";
/// A feedback record type.
pub const FEEDBACK_TYPE: &str = "HavenFeedback";
/// A user's acceptance of the disclaimer.
pub const CONSENT_TYPE: &str = "HavenAgentConsent";
/// One exchange (the user's message and the whole reply), id = the reply's id.
pub const TURN_TYPE: &str = "HavenAgentTurn";

/// Messages a conversation keeps; older ones are dropped first.
pub const MAX_MESSAGES: usize = 200;
/// Exchanges a conversation keeps (two messages each).
pub const MAX_TURNS: usize = MAX_MESSAGES / 2;

/// One message of a conversation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Message {
    /// Its id (a reply's id is what feedback refers to).
    pub id: String,
    /// `user` or `agent`.
    pub from: String,
    /// The text.
    pub text: String,
    /// Unix seconds.
    pub at: i64,
    /// For the agent's messages: the whole reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Reply>,
}

/// A conversation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Conversation {
    /// `account:<id>`, or `visitor` for an anonymous one.
    pub owner: String,
    /// The owner's role (none for a visitor).
    pub role: Option<Role>,
    /// SHA-256 (hex) of a visitor conversation's secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_secret: Option<String>,
    /// Whether the visitor accepted the disclaimer (accounts consent once, apart).
    #[serde(default)]
    pub visitor_consented: bool,
    /// Unix seconds.
    pub created: i64,
    /// Where the conversation stands.
    pub state: ConversationState,
    /// Messages kept inline by earlier versions, oldest first (new
    /// exchanges are [`Turn`] records: a conversation is rewritten small on
    /// each message instead of whole).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Message>,
    /// Its exchanges' ids (the replies' ids), oldest first.
    #[serde(default)]
    pub turns: Vec<String>,
}

/// One exchange of a conversation, written once.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Turn {
    /// The user's message.
    pub user: Message,
    /// The reply.
    pub agent: Message,
}

/// Every message of a conversation, oldest first.
pub(crate) async fn messages(store: &Store, c: &Conversation) -> Result<Vec<Message>, ApiError> {
    let mut out = c.messages.clone();
    let ids: Vec<ResourceId> = c.turns.iter().filter_map(|t| ResourceId::parse(t).ok()).collect();
    for r in store.read_many(&rtype(TURN_TYPE)?, &ids).await? {
        let t: Turn = serde_json::from_slice(&r.payload).map_err(|e| {
            tracing::error!(error = %e, "stored agent turn does not parse");
            ApiError::Internal
        })?;
        out.push(t.user);
        out.push(t.agent);
    }
    Ok(out)
}

/// Erases a conversation and its exchanges (their provenance records stay).
pub(crate) async fn erase_conversation(store: &Store, id: &ResourceId) -> Result<bool, ApiError> {
    if let Some((c, _)) = load::<Conversation>(store, CONVERSATION_TYPE, id).await? {
        let t = rtype(TURN_TYPE)?;
        for turn in c.turns.iter().filter_map(|t| ResourceId::parse(t).ok()) {
            store.purge(&t, &turn).await?;
        }
    }
    Ok(store.purge(&rtype(CONVERSATION_TYPE)?, id).await?)
}

/// One record of a batch (a new version if it exists).
pub(crate) fn batch_item<T: Serialize>(kind: &str, id: &ResourceId, value: &T) -> Result<BatchItem, ApiError> {
    Ok(BatchItem {
        rtype: rtype(kind)?,
        id: id.clone(),
        precondition: Precondition::None,
        payload: Some(serde_json::to_vec(value).map_err(|_| ApiError::Internal)?),
        terms: Vec::new(),
    })
}

/// What is kept of a reply for auditors: no text, only what produced it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReplyRecord {
    /// The conversation.
    pub conversation: String,
    /// Who was answered (`account:<id>` or `visitor`).
    pub owner: String,
    /// Unix seconds.
    pub at: i64,
    /// What produced it.
    pub provenance: Provenance,
    /// Every check and its verdict.
    pub safeguards: Vec<Check>,
    /// The red-flag rule, when it escalated.
    pub escalation: Option<String>,
    /// Whether a safeguard refused the message.
    pub blocked: bool,
}

/// Feedback on a reply.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Feedback {
    /// The reply.
    pub reply: String,
    /// Who gave it.
    pub by: String,
    /// `up` or `down`.
    pub rating: String,
    /// An optional comment (encrypted like everything else; may hold PHI).
    #[serde(default)]
    pub comment: Option<String>,
    /// The reply's sources, copied so the report needs no other record.
    pub sources: Vec<String>,
    /// The answerer that produced the reply.
    pub answerer: String,
    /// Unix seconds.
    pub at: i64,
}

/// A record type by name (these are Haven's own, always valid).
pub(crate) fn rtype(name: &str) -> Result<ResourceType, ApiError> {
    ResourceType::parse(name).map_err(|_| ApiError::Internal)
}

/// Reads and parses a record; `None` if it does not exist.
pub(crate) async fn load<T: for<'de> Deserialize<'de>>(
    store: &Store,
    kind: &str,
    id: &ResourceId,
) -> Result<Option<(T, haven_store::RecordMeta)>, ApiError> {
    match store.read(&rtype(kind)?, id).await {
        Ok(r) => {
            let v = serde_json::from_slice(&r.payload).map_err(|e| {
                tracing::error!(error = %e, kind, "stored agent record does not parse");
                ApiError::Internal
            })?;
            Ok(Some((v, r.meta)))
        }
        Err(StoreError::NotFound | StoreError::Gone { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Writes a record (a new version if it exists).
pub(crate) async fn save<T: Serialize>(
    store: &Store,
    kind: &str,
    id: &ResourceId,
    value: &T,
    terms: &[IndexTerm],
) -> Result<(), ApiError> {
    let bytes = serde_json::to_vec(value).map_err(|_| ApiError::Internal)?;
    store.update(&rtype(kind)?, id, None, &bytes, terms).await?;
    Ok(())
}

/// Erases conversations whose last message is older than `ttl_secs`;
/// returns how many. Their replies' provenance records stay.
pub async fn sweep_conversations(store: &Store, ttl_secs: i64) -> Result<usize, ApiError> {
    let t = rtype(CONVERSATION_TYPE)?;
    let cutoff = (time::OffsetDateTime::now_utc().unix_timestamp() - ttl_secs) * 1_000_000;
    let mut after: Option<ResourceId> = None;
    let mut erased = 0;
    loop {
        let page = store.list(Some(&t), after.as_ref().map(|a| (&t, a)), 500).await?;
        let Some((_, last, _)) = page.last() else { break };
        after = Some(last.clone());
        for (_, id, head) in &page {
            if head.last_updated < cutoff && erase_conversation(store, id).await? {
                erased += 1;
            }
        }
        if page.len() < 500 {
            break;
        }
    }
    Ok(erased)
}

/// Whether a conversation last touched at `last_updated` (store micros) has expired.
pub fn expired(last_updated: i64, ttl_secs: i64) -> bool {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    last_updated / 1_000_000 + ttl_secs < now
}
