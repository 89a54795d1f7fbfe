//! A client for OpenAI-compatible chat-completions endpoints (vLLM,
//! llama.cpp server, Ollama, Azure OpenAI), streaming, with time-outs,
//! retries and an egress allow-list: it sends to its configured base URL
//! and nowhere else, and follows no redirects.
//!
//! What goes into a prompt is the caller's business; the agent sends only
//! de-identified text (see [`crate::turn`]).

use std::time::Duration;

use futures_util::StreamExt;
use haven_core::Secret;
use serde::Serialize;
use serde_json::{Value, json};

/// Why a model call failed. Never holds prompt or reply text.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum LlmError {
    /// The URL is not on the allow-list, or not http(s).
    #[error("endpoint {0} is not allowed (agent.llm.endpoint and allowed_endpoints)")]
    NotAllowed(String),
    /// The endpoint could not be reached or timed out.
    #[error("model endpoint unreachable: {0}")]
    Unreachable(String),
    /// The endpoint answered with an error status.
    #[error("model endpoint answered {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// The answer was not the chat-completions protocol.
    #[error("model endpoint spoke an unexpected protocol: {0}")]
    Protocol(String),
}

/// One message of a chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: &'static str,
    /// The text.
    pub content: String,
}

/// A finished completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The generated text.
    pub text: String,
    /// The model that answered (as the endpoint names it).
    pub model: String,
    /// Prompt tokens, when the endpoint reports usage.
    pub prompt_tokens: Option<u64>,
    /// Completion tokens, when reported.
    pub completion_tokens: Option<u64>,
}

/// Settings of a client.
#[derive(Clone, Debug)]
pub struct LlmSettings {
    /// Base URL (`…/v1`); requests go to `{endpoint}/chat/completions`.
    pub endpoint: String,
    /// Model name.
    pub model: String,
    /// API key, sent as a bearer token.
    pub api_key: Option<Secret<String>>,
    /// Time-out per attempt.
    pub timeout: Duration,
    /// Retries after a failed attempt.
    pub max_retries: u32,
    /// Base URLs prompts may be sent to besides `endpoint`.
    pub allowed: Vec<String>,
}

/// The client.
#[derive(Clone, Debug)]
pub struct LlmClient {
    http: reqwest::Client,
    url: String,
    settings: LlmSettings,
}

impl LlmClient {
    /// A client; fails if the endpoint is not an http(s) URL.
    pub fn new(settings: LlmSettings) -> Result<Self, LlmError> {
        let base = settings.endpoint.trim_end_matches('/').to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(LlmError::NotAllowed(base));
        }
        let http = reqwest::Client::builder()
            // No redirects: a 3xx could send the prompt somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.timeout)
            .build()
            .map_err(|e| LlmError::Unreachable(e.to_string()))?;
        Ok(LlmClient { http, url: format!("{base}/chat/completions"), settings })
    }

    /// The model name.
    pub fn model(&self) -> &str {
        &self.settings.model
    }

    /// The endpoint's base URL.
    pub fn endpoint(&self) -> &str {
        &self.settings.endpoint
    }

    /// Whether `url` is on the egress allow-list.
    pub fn allows(&self, url: &str) -> bool {
        std::iter::once(&self.settings.endpoint)
            .chain(&self.settings.allowed)
            .any(|base| url.starts_with(base.trim_end_matches('/')))
    }

    /// Streams a completion; `on_delta` sees each piece of text as it
    /// arrives. Retries failed attempts (connection errors, 429, 5xx)
    /// with back-off, but never one that already streamed text.
    pub async fn complete(
        &self,
        messages: &[ChatMessage],
        max_tokens: u32,
        mut on_delta: impl FnMut(&str) + Send,
    ) -> Result<Completion, LlmError> {
        if !self.allows(&self.url) {
            return Err(LlmError::NotAllowed(self.url.clone()));
        }
        let body = json!({
            "model": self.settings.model,
            "messages": messages,
            "stream": true,
            "stream_options": {"include_usage": true},
            "temperature": 0,
            "max_tokens": max_tokens,
        });
        let mut attempt = 0;
        loop {
            let mut streamed = false;
            let mut sink = |d: &str| {
                streamed = true;
                on_delta(d)
            };
            let result = tokio::time::timeout(self.settings.timeout, self.attempt(&body, &mut sink))
                .await
                .unwrap_or_else(|_| Err(LlmError::Unreachable("timed out".into())));
            match result {
                Err(e) if !streamed && attempt < self.settings.max_retries && retryable(&e) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
                }
                other => return other,
            }
        }
    }

    async fn attempt(&self, body: &Value, on_delta: &mut (dyn FnMut(&str) + Send)) -> Result<Completion, LlmError> {
        let mut req = self.http.post(&self.url).json(body).header("accept", "text/event-stream");
        if let Some(key) = &self.settings.api_key {
            req = req.bearer_auth(key.expose()).header("api-key", key.expose());
        }
        let resp = req.send().await.map_err(|e| LlmError::Unreachable(without_url(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(LlmError::Status { status: status.as_u16() });
        }
        let streaming = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        let mut out = Completion {
            text: String::new(),
            model: self.settings.model.clone(),
            prompt_tokens: None,
            completion_tokens: None,
        };
        if !streaming {
            // Some servers ignore `stream`: take the whole answer.
            let v: Value = resp.json().await.map_err(|e| LlmError::Protocol(without_url(&e)))?;
            absorb(&v, &mut out, on_delta, "message")?;
            return Ok(out);
        }
        let mut stream = resp.bytes_stream();
        let mut buf = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| LlmError::Unreachable(without_url(&e)))?;
            buf.extend_from_slice(&chunk);
            // Server-sent events: lines; `data: {...}` carries a chunk.
            while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim();
                let Some(data) = line.strip_prefix("data:") else { continue };
                let data = data.trim();
                if data == "[DONE]" {
                    return Ok(out);
                }
                let v: Value =
                    serde_json::from_str(data).map_err(|_| LlmError::Protocol("a stream chunk is not JSON".into()))?;
                absorb(&v, &mut out, on_delta, "delta")?;
            }
        }
        Ok(out)
    }
}

/// Takes the text and usage out of a response or stream chunk.
fn absorb(v: &Value, out: &mut Completion, on_delta: &mut (dyn FnMut(&str) + Send), key: &str) -> Result<(), LlmError> {
    if let Some(err) = v.get("error") {
        let kind = err.get("type").and_then(Value::as_str).unwrap_or("error");
        return Err(LlmError::Protocol(format!("the endpoint reported an error ({kind})")));
    }
    if let Some(m) = v.get("model").and_then(Value::as_str) {
        out.model = m.to_string();
    }
    if let Some(text) = v.pointer(&format!("/choices/0/{key}/content")).and_then(Value::as_str) {
        out.text.push_str(text);
        on_delta(text);
    }
    if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
        out.prompt_tokens = u.get("prompt_tokens").and_then(Value::as_u64);
        out.completion_tokens = u.get("completion_tokens").and_then(Value::as_u64);
    }
    Ok(())
}

fn retryable(e: &LlmError) -> bool {
    match e {
        LlmError::Unreachable(_) => true,
        LlmError::Status { status } => *status == 429 || *status >= 500,
        _ => false,
    }
}

/// reqwest's message without the URL (which may carry a key in a query).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), "<endpoint>");
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn settings(endpoint: &str) -> LlmSettings {
        LlmSettings {
            endpoint: endpoint.into(),
            model: "m".into(),
            api_key: None,
            timeout: Duration::from_secs(2),
            max_retries: 1,
            allowed: vec!["https://other.example/v1".into()],
        }
    }

    #[test]
    fn the_allow_list_is_the_endpoint_and_the_extras() {
        let c = LlmClient::new(settings("http://127.0.0.1:9/v1/")).unwrap();
        assert!(c.allows("http://127.0.0.1:9/v1/chat/completions"));
        assert!(c.allows("https://other.example/v1/chat/completions"));
        assert!(!c.allows("https://evil.example/v1/chat/completions"));
        assert!(matches!(LlmClient::new(settings("ftp://x")), Err(LlmError::NotAllowed(_))));
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_fails_after_retries() {
        // Port 9 (discard) on loopback: nothing listens there in tests.
        let c = LlmClient::new(settings("http://127.0.0.1:9/v1")).unwrap();
        let r = c.complete(&[ChatMessage { role: "user", content: "hi".into() }], 10, |_| {}).await;
        assert!(matches!(r, Err(LlmError::Unreachable(_))), "{r:?}");
    }
}
