//! The healthcare agent inside the server: its knowledge base, scenarios
//! and model; conversations, replies, feedback and consent as encrypted
//! records; and the tools through which it touches PHI, as Haven's own
//! assistant acting for the signed-in user (its scopes intersected with
//! the user's rights, every access decided by Cedar and audited).

pub mod records;
mod tools;

use std::path::Path;
use std::sync::Arc;

use haven_agent::answer::{AnswerConfig, Answerer};
use haven_agent::turn::Agent;
use haven_core::{OnBehalfOf, Principal, ResourceId, Role, SessionStage};

use crate::config::Config;
use crate::state::OpenError;

pub use records::{
    CONSENT_TYPE, CONVERSATION_TYPE, Conversation, FEEDBACK_TYPE, Feedback, MAX_MESSAGES, Message, REPLY_TYPE,
    ReplyRecord,
};
pub use tools::AgentTools;

/// The account id Haven's assistant acts under (it has no password and no
/// sessions of its own: it exists only inside a user's request).
pub const ASSISTANT_ACCOUNT: &str = "haven-assistant";

type Limiter = governor::DefaultKeyedRateLimiter<String>;

/// The agent and what it needs at run time. Cheap to share.
pub struct AgentService {
    agent: Agent,
    limiter: Limiter,
    disclaimer_hash: String,
    scopes: String,
    ttl_secs: i64,
    allow_visitors: bool,
}

impl std::fmt::Debug for AgentService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentService").field("agent", &self.agent).finish()
    }
}

impl AgentService {
    /// Opens the knowledge base of the data directory, loads the shipped
    /// scenarios and the operator's, and connects the model if configured.
    pub fn open(data_dir: &Path, config: &Config) -> Result<Arc<Self>, OpenError> {
        let cfg = &config.agent;
        let bad = |reason: String| OpenError::DataDir { path: data_dir.display().to_string(), reason };
        let kb = haven_agent::KnowledgeBase::open(&crate::state::kb_dir(data_dir))
            .map_err(|e| bad(format!("knowledge base: {e}")))?;
        let mut scenarios = Vec::new();
        // The operator's scenarios come first, so one can take a message
        // before a shipped scenario with the same keywords.
        if let Some(dir) = &cfg.scenarios_dir {
            scenarios.extend(haven_agent::scenario::load_dir(&data_dir.join(dir)).map_err(|e| bad(e.to_string()))?);
        }
        scenarios.extend(haven_agent::scenario::builtin().map_err(|e| bad(e.to_string()))?);
        let model = match &cfg.llm {
            Some(llm) => {
                let api_key = match &llm.api_key_env {
                    Some(var) => Some(haven_core::Secret::new(
                        std::env::var(var).map_err(|_| bad(format!("agent.llm.api_key_env: {var} is not set")))?,
                    )),
                    None => None,
                };
                Some(
                    haven_agent::llm::LlmClient::new(haven_agent::llm::LlmSettings {
                        endpoint: llm.endpoint.clone(),
                        model: llm.model.clone(),
                        api_key,
                        timeout: std::time::Duration::from_secs(llm.timeout_secs.max(1)),
                        max_retries: llm.max_retries,
                        allowed: llm.allowed_endpoints.clone(),
                    })
                    .map_err(|e| bad(format!("agent.llm: {e}")))?,
                )
            }
            None => None,
        };
        let agent = Agent::new(
            Answerer::new(kb, AnswerConfig::default()),
            scenarios,
            cfg.disclaimer.clone(),
            cfg.max_message_chars,
            model,
        );
        let per_minute = std::num::NonZeroU32::new(cfg.messages_per_minute).unwrap_or(std::num::NonZeroU32::MIN);
        Ok(Arc::new(AgentService {
            agent,
            limiter: governor::RateLimiter::keyed(governor::Quota::per_minute(per_minute)),
            disclaimer_hash: hex::encode(&haven_crypto::sha256(cfg.disclaimer.as_bytes())[..16]),
            scopes: cfg.scopes.clone(),
            ttl_secs: i64::from(cfg.conversation_ttl_hours) * 3600,
            allow_visitors: cfg.allow_anonymous,
        }))
    }

    /// The agent.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// Whether visitors without an account may converse.
    pub fn allows_visitors(&self) -> bool {
        self.allow_visitors
    }

    /// A short hash naming the disclaimer text a consent was given to.
    pub fn disclaimer_version(&self) -> &str {
        &self.disclaimer_hash
    }

    /// Seconds a conversation lives after its last message.
    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// Takes one message from `key`'s budget; false when it is spent.
    pub fn take_message(&self, key: &str) -> bool {
        self.limiter.check_key(&key.to_owned()).is_ok()
    }

    /// Forgets idle rate-limit keys (called by the sweeper).
    pub fn shrink(&self) {
        self.limiter.retain_recent();
    }

    /// Haven's assistant acting for `user`: its own scopes, the user's
    /// rights, never more than either. Its session id is derived from the
    /// user's so its decisions are cached apart from the user's own.
    /// `None` for an agent or a delegated caller (no agent of an agent).
    pub fn assistant_for(&self, user: &Principal) -> Option<Principal> {
        let account = ResourceId::parse(ASSISTANT_ACCOUNT).ok()?;
        // Session ids are 64 hex characters, the longest an id may be: the
        // assistant's is a hash of the user's, as long and as unguessable.
        let derived = haven_crypto::sha256(format!("assistant:{}", user.session).as_bytes());
        let session = ResourceId::parse(&hex::encode(derived)).ok()?;
        let (role, patient, practitioner, mfa) = match &user.on_behalf_of {
            // Never an agent acting for an agent acting for someone.
            Some(_) => return None,
            None => (user.role, user.patient.clone(), user.practitioner.clone(), user.mfa),
        };
        if role == Role::Agent {
            return None;
        }
        Some(Principal {
            account,
            role: Role::Agent,
            session,
            stage: SessionStage::Full,
            mfa: true,
            mfa_at: None,
            patient: patient.clone(),
            practitioner: None,
            scopes: Some(self.scopes.clone()),
            on_behalf_of: Some(OnBehalfOf { account: user.account.clone(), role, patient, practitioner, mfa }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patient() -> Principal {
        Principal {
            account: ResourceId::parse("acct-1").unwrap(),
            role: Role::Patient,
            // Real session ids are 64 hex characters, the longest id there is.
            session: ResourceId::parse(&"ab".repeat(32)).unwrap(),
            stage: SessionStage::Full,
            mfa: false,
            mfa_at: None,
            patient: Some(ResourceId::parse("pat-1").unwrap()),
            practitioner: None,
            scopes: None,
            on_behalf_of: None,
        }
    }

    #[test]
    fn the_assistant_acts_for_a_user_and_never_for_an_agent() {
        let dir = tempfile::tempdir().unwrap();
        let service = AgentService::open(dir.path(), &Config::default()).unwrap();
        let user = patient();
        let a = service.assistant_for(&user).unwrap();
        assert_eq!(a.role, Role::Agent);
        assert_eq!(a.patient, user.patient);
        assert_ne!(a.session, user.session, "decisions are cached apart from the user's");
        assert_eq!(a.on_behalf_of.as_ref().unwrap().account, user.account);
        assert!(service.assistant_for(&a).is_none(), "no agent of an agent");
        let agent = Principal { role: Role::Agent, ..patient() };
        assert!(service.assistant_for(&agent).is_none());
    }
}
