//! The model client against a local server speaking the OpenAI
//! chat-completions protocol: streamed (server-sent events with a usage
//! chunk and `[DONE]`), whole-JSON answers, retries after 5xx, time-outs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use haven_agent::llm::{ChatMessage, LlmClient, LlmError, LlmSettings};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Fake {
    calls: Arc<AtomicUsize>,
    /// Fail this many first calls with 503.
    fail_first: usize,
    /// Answer with one JSON body instead of a stream.
    whole: bool,
    /// Sleep before answering.
    slow: bool,
    bodies: Arc<std::sync::Mutex<Vec<Value>>>,
}

async fn completions(State(f): State<Fake>, headers: HeaderMap, body: axum::Json<Value>) -> Response {
    let n = f.calls.fetch_add(1, Ordering::SeqCst);
    f.bodies.lock().unwrap().push(body.0.clone());
    assert_eq!(headers.get("authorization").and_then(|v| v.to_str().ok()), Some("Bearer sk-test"));
    if n < f.fail_first {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if f.slow {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    if f.whole {
        return axum::Json(json!({
            "id": "x", "object": "chat.completion", "model": "fake-1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Whole answer."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
        }))
        .into_response();
    }
    let chunk = |content: &str| {
        format!(
            "data: {}\n\n",
            json!({"id": "x", "object": "chat.completion.chunk", "model": "fake-1",
                   "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]})
        )
    };
    let mut sse = String::new();
    sse.push_str(&format!(
        "data: {}\n\n",
        json!({"id": "x", "object": "chat.completion.chunk", "model": "fake-1",
               "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": null}]})
    ));
    for piece in ["Flu shots ", "prevent ", "the flu [1]."] {
        sse.push_str(&chunk(piece));
    }
    sse.push_str(&format!(
        "data: {}\n\n",
        json!({"id": "x", "object": "chat.completion.chunk", "model": "fake-1", "choices": [],
               "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}})
    ));
    sse.push_str("data: [DONE]\n\n");
    ([("content-type", "text/event-stream")], sse).into_response()
}

async fn serve(f: Fake) -> String {
    let app = Router::new().route("/v1/chat/completions", post(completions)).with_state(f);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

fn client(endpoint: &str, timeout: Duration) -> LlmClient {
    LlmClient::new(LlmSettings {
        endpoint: endpoint.into(),
        model: "llama-test".into(),
        api_key: Some(haven_core::Secret::new("sk-test".to_string())),
        timeout,
        max_retries: 2,
        allowed: vec![],
    })
    .unwrap()
}

fn ask() -> Vec<ChatMessage> {
    vec![
        ChatMessage { role: "system", content: "Answer from the sources.".into() },
        ChatMessage { role: "user", content: "How do I prevent the flu?".into() },
    ]
}

#[tokio::test]
async fn streams_deltas_and_reports_usage() {
    let fake = Fake::default();
    let url = serve(fake.clone()).await;
    let mut deltas = Vec::new();
    let c = client(&url, Duration::from_secs(5)).complete(&ask(), 64, |d| deltas.push(d.to_string())).await.unwrap();
    assert_eq!(c.text, "Flu shots prevent the flu [1].");
    assert_eq!(deltas, ["Flu shots ", "prevent ", "the flu [1]."]);
    assert_eq!((c.prompt_tokens, c.completion_tokens), (Some(42), Some(7)));
    assert_eq!(c.model, "fake-1");
    let body = fake.bodies.lock().unwrap()[0].clone();
    assert_eq!(body["model"], "llama-test");
    assert_eq!(body["stream"], true);
    assert_eq!(body["messages"][1]["role"], "user");
    assert_eq!(body["max_tokens"], 64);
}

#[tokio::test]
async fn takes_a_whole_json_answer_and_retries_after_5xx() {
    let fake = Fake { whole: true, fail_first: 2, ..Fake::default() };
    let url = serve(fake.clone()).await;
    let c = client(&url, Duration::from_secs(5)).complete(&ask(), 64, |_| {}).await.unwrap();
    assert_eq!(c.text, "Whole answer.");
    assert_eq!(fake.calls.load(Ordering::SeqCst), 3, "two 503s, then the answer");

    let always = Fake { fail_first: 99, ..Fake::default() };
    let url = serve(always.clone()).await;
    let r = client(&url, Duration::from_secs(5)).complete(&ask(), 64, |_| {}).await;
    assert_eq!(r, Err(LlmError::Status { status: 503 }));
    assert_eq!(always.calls.load(Ordering::SeqCst), 3, "max_retries = 2");
}

#[tokio::test]
async fn a_slow_endpoint_times_out() {
    let url = serve(Fake { slow: true, ..Fake::default() }).await;
    let r = client(&url, Duration::from_millis(300)).complete(&ask(), 64, |_| {}).await;
    // The server would answer after 5 s: this error means the client gave up first.
    assert_eq!(r, Err(LlmError::Unreachable("timed out".into())));
}
