//! `haven ask` and `haven chat`: the assistant from a terminal. Both run
//! in-process through the same HTTP routes as the API (authentication,
//! Cedar decisions, audit, safeguards), with no listener and no network.
//! `--as ACCOUNT` speaks as that account (an operator action, audited);
//! without it the question is a visitor's: general knowledge only.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use clap::Args;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Options shared by `haven ask` and `haven chat`.
#[derive(Args, Clone)]
pub struct AskArgs {
    /// The data directory.
    #[arg(long, env = "HAVEN_DATA_DIR", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Speak as this account (username); without it, as an anonymous visitor.
    #[arg(long = "as", value_name = "ACCOUNT")]
    pub account: Option<String>,
    /// Accept the assistant's disclaimer on the account's behalf (needed once
    /// per disclaimer version; without it the disclaimer is printed and
    /// nothing is sent).
    #[arg(long)]
    pub accept_disclaimer: bool,
    /// Continue this conversation (an id printed by an earlier `haven ask`).
    #[arg(long, value_name = "ID")]
    pub conversation: Option<String>,
}

/// The loopback address in-process requests come from.
const LOCAL: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// A conversation with the assistant over the in-process router.
struct Talk {
    router: Router,
    token: Option<String>,
    visitor_token: Option<String>,
    conversation: String,
}

async fn call(
    router: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Result<(StatusCode, Value)> {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(serde_json::to_vec(&b)?)
        }
        None => Body::empty(),
    };
    let mut req = req.body(body)?;
    req.extensions_mut().insert(ConnectInfo(LOCAL));
    let resp = router.clone().oneshot(req).await.map_err(|e| anyhow!("request failed: {e}"))?;
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 16 << 20).await?;
    let v = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
    Ok((status, v))
}

/// The message of an error response (an OperationOutcome's diagnostics).
fn why(v: &Value) -> String {
    v["issue"][0]["diagnostics"].as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
}

impl Talk {
    async fn open(args: &AskArgs) -> Result<Talk> {
        let mut config = crate::load_config(&args.data_dir)?;
        if args.account.is_none() {
            // An operator at the data directory may ask general questions
            // whether or not the installation admits visitors over the network.
            config.agent.allow_anonymous = true;
        }
        let state = haven_server::serve::open_state(&args.data_dir, config.clone())
            .await
            .context("cannot open the data directory")?;
        let token = match &args.account {
            Some(user) => {
                let (a, t) = haven_server::accounts::operator_token(state.store(), user, 900, None).await?;
                let mut e = crate::audit::operator_event("agent.ask", haven_audit::Outcome::Success);
                e.detail = Some(format!("operator speaks to the assistant as account {}", a.id));
                state.audit().record(e).await.context("cannot write the audit record")?;
                Some(t.token.expose().to_string())
            }
            None => None,
        };
        let router = haven_server::app(state);
        let mut talk = Talk { router, token, visitor_token: None, conversation: String::new() };
        talk.start(args).await?;
        Ok(talk)
    }

    fn auth(&self) -> Vec<(&str, String)> {
        match (&self.token, &self.visitor_token) {
            (Some(t), _) => vec![("authorization", format!("Bearer {t}"))],
            (None, Some(v)) => vec![("x-conversation-token", v.clone())],
            (None, None) => vec![],
        }
    }

    async fn send(&self, method: Method, uri: &str, body: Option<Value>) -> Result<(StatusCode, Value)> {
        let auth = self.auth();
        let headers: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
        call(&self.router, method, uri, &headers, body).await
    }

    async fn start(&mut self, args: &AskArgs) -> Result<()> {
        if self.token.is_none() {
            if args.conversation.is_some() {
                bail!("--conversation needs --as: a visitor's conversation lives only as long as the command");
            }
            let (s, v) =
                self.send(Method::POST, "/v1/visitor/conversations", Some(json!({"accept_disclaimer": true}))).await?;
            if s != StatusCode::CREATED {
                bail!("cannot start a conversation ({s}): {}", why(&v));
            }
            eprintln!("{}", v["disclaimer"].as_str().unwrap_or_default());
            self.visitor_token = v["token"].as_str().map(str::to_string);
            self.conversation = v["id"].as_str().unwrap_or_default().to_string();
            return Ok(());
        }
        let started = match &args.conversation {
            Some(id) => {
                let (s, v) = self.send(Method::GET, &format!("/v1/conversations/{id}"), None).await?;
                if s != StatusCode::OK {
                    bail!("no conversation {id} of this account's ({s}): {}", why(&v));
                }
                self.conversation = id.clone();
                None
            }
            None => {
                let (s, v) = self.send(Method::POST, "/v1/conversations", None).await?;
                if s != StatusCode::CREATED {
                    bail!("cannot start a conversation ({s}): {}", why(&v));
                }
                self.conversation = v["id"].as_str().unwrap_or_default().to_string();
                Some(v)
            }
        };
        if let Some(v) = started
            && v["consent_required"] == json!(true)
        {
            let disclaimer = v["disclaimer"].as_str().unwrap_or_default();
            if !args.accept_disclaimer {
                bail!(
                    "the account has not accepted the assistant's disclaimer:\n\n  {disclaimer}\n\n\
                     Show it to the person and run again with --accept-disclaimer."
                );
            }
            let body = json!({"accept": true, "disclaimer_version": v["disclaimer_version"]});
            let (s, v) = self.send(Method::POST, "/v1/agent/consent", Some(body)).await?;
            if s != StatusCode::NO_CONTENT {
                bail!("cannot record the consent ({s}): {}", why(&v));
            }
            eprintln!("{disclaimer}");
        }
        Ok(())
    }

    async fn ask(&self, text: &str) -> Result<Value> {
        let uri = match self.token {
            Some(_) => format!("/v1/conversations/{}/messages", self.conversation),
            None => format!("/v1/visitor/conversations/{}/messages", self.conversation),
        };
        let (s, v) = self.send(Method::POST, &uri, Some(json!({"text": text}))).await?;
        if s != StatusCode::OK {
            bail!("the assistant refused the message ({s}): {}", why(&v));
        }
        Ok(v)
    }
}

/// `haven ask`: one message; prints the reply as the API returns it.
pub async fn ask(args: AskArgs, question: String) -> Result<()> {
    let talk = Talk::open(&args).await?;
    let reply = talk.ask(&question).await?;
    println!("{}", serde_json::to_string_pretty(&reply)?);
    Ok(())
}

/// `haven chat`: an interactive conversation in the terminal.
pub async fn chat(args: AskArgs) -> Result<()> {
    let talk = Talk::open(&args).await?;
    eprintln!("Conversation {}. Type a message; an empty line or Ctrl-D ends.", talk.conversation);
    let stdin = std::io::stdin();
    let mut line = String::new();
    loop {
        eprint!("> ");
        std::io::stderr().flush().ok();
        line.clear();
        if stdin.lock().read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        match talk.ask(line.trim()).await {
            Ok(reply) => print!("{}", render(&reply)),
            Err(e) => eprintln!("{e:#}"),
        }
    }
    Ok(())
}

/// A reply for a person: escalation first, the text, then the sources.
fn render(reply: &Value) -> String {
    let mut out = String::new();
    if let Some(e) = reply.get("escalation").filter(|e| !e.is_null()) {
        out.push_str(&format!(
            "\n!! {} — {}\n",
            e["level"].as_str().unwrap_or("escalation").to_uppercase(),
            e["advice"].as_str().unwrap_or_default()
        ));
    }
    out.push_str(&format!("\n{}\n", reply["reply"].as_str().unwrap_or_default()));
    for (i, c) in reply["citations"].as_array().into_iter().flatten().enumerate() {
        let section = c["section"].as_str().filter(|s| !s.is_empty()).map(|s| format!(" — {s}")).unwrap_or_default();
        out.push_str(&format!("  [{}] {}{section}\n", i + 1, c["title"].as_str().unwrap_or_default()));
    }
    for a in reply["actions"].as_array().into_iter().flatten() {
        out.push_str(&format!("  done: {}\n", a["label"].as_str().unwrap_or_default()));
    }
    if let Some(d) = reply["disclaimer"].as_str().filter(|d| !d.is_empty()) {
        out.push_str(&format!("  ({d})\n"));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_renders_escalation_first_and_numbers_its_sources() {
        let r = json!({
            "reply": "Take it with food.",
            "escalation": {"level": "emergency", "advice": "Call 911 now"},
            "citations": [{"title": "Metformin", "section": "How to take it"}],
            "actions": [],
            "disclaimer": "Not a medical device."
        });
        let text = render(&r);
        assert!(text.find("EMERGENCY").unwrap() < text.find("Take it with food").unwrap());
        assert!(text.contains("[1] Metformin — How to take it"));
        assert!(text.contains("(Not a medical device.)"));
    }
}
