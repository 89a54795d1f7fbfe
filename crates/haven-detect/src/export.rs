//! Export for a SIEM: alerts and incidents as OCSF-style Detection Finding
//! (class 2004) and Incident Finding (class 2005) objects, one JSON object
//! per line; and the webhook that posts them.

use std::io::Write;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::alert::{Alert, AlertStatus};
use crate::incident::{Incident, IncidentState, Resolution};

/// The OCSF schema version the objects follow.
pub const OCSF_VERSION: &str = "1.1.0";

fn product() -> Value {
    json!({"product": {"name": "Haven", "vendor_name": "Haven", "feature": {"name": "haven-detect"}}, "version": OCSF_VERSION})
}

/// An alert as an OCSF Detection Finding.
pub fn alert_to_ocsf(a: &Alert) -> Value {
    let (status_id, status) = match a.status {
        AlertStatus::Open => (1, "New"),
        AlertStatus::Explained => (4, "Resolved"),
    };
    json!({
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 200401,
        "time": a.time / 1000,
        "severity_id": a.level.ocsf_id(),
        "severity": a.level.as_str(),
        "status_id": status_id,
        "status": status,
        "message": a.summary,
        "metadata": product(),
        "finding_info": {
            "uid": format!("haven-alert-{}", a.id),
            "title": a.title,
            "desc": a.summary,
            "types": [a.category.as_str(), a.attack],
            "first_seen_time": a.first_time / 1000,
            "last_seen_time": a.time / 1000,
            "analytic": {"uid": a.rule, "name": a.title, "type_id": 1, "type": "Rule"},
        },
        "actor": {"user": {"uid": a.actor, "name": a.actor_name, "type": a.role}},
        "src_endpoint": {"ip": a.source_ip},
        "evidences": [{"data": {"audit_seq": a.evidence, "count": a.count}}],
        "resources": a.patients.iter().map(|p| json!({"type": "Patient", "uid": p})).collect::<Vec<_>>(),
        "unmapped": {
            "deviation": a.deviation,
            "explanations": a.explanations,
        },
    })
}

/// An incident as an OCSF Incident Finding.
pub fn incident_to_ocsf(i: &Incident) -> Value {
    let (status_id, status) = match i.state {
        IncidentState::New => (1, "New"),
        IncidentState::Investigating => (2, "In Progress"),
        IncidentState::Resolved => (4, "Resolved"),
    };
    let verdict = i.resolution.map(|r| match r {
        Resolution::TruePositive => "True Positive",
        Resolution::Benign => "Benign",
        Resolution::FalsePositive => "False Positive",
    });
    json!({
        "class_uid": 2005,
        "class_name": "Incident Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 200501,
        "time": i.updated / 1000,
        "severity_id": i.severity.ocsf_id(),
        "severity": i.severity.as_str(),
        "status_id": status_id,
        "status": status,
        "verdict": verdict,
        "status_detail": i.reason,
        "assignee": {"name": i.assignee},
        "message": i.summary,
        "metadata": product(),
        "finding_info_list": i.timeline.iter().map(|t| json!({
            "uid": format!("haven-alert-{}", t.alert),
            "title": t.rule,
            "desc": t.summary,
            "last_seen_time": t.time / 1000,
        })).collect::<Vec<_>>(),
        "start_time": i.opened / 1000,
        "end_time": i.updated / 1000,
        "unmapped": {
            "incident_uid": format!("haven-incident-{}", i.id),
            "actors": i.actors,
            "source_ips": i.source_ips,
            "patients": i.patients,
            "categories": i.categories,
            "attacks": i.attacks,
            "evidence_audit_seq": i.evidence(),
        },
    })
}

/// Writes OCSF objects as JSON Lines.
pub fn write_jsonl<'a>(
    out: &mut dyn Write,
    alerts: impl IntoIterator<Item = &'a Alert>,
    incidents: impl IntoIterator<Item = &'a Incident>,
) -> std::io::Result<()> {
    for a in alerts {
        serde_json::to_writer(&mut *out, &alert_to_ocsf(a))?;
        out.write_all(b"\n")?;
    }
    for i in incidents {
        serde_json::to_writer(&mut *out, &incident_to_ocsf(i))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// What a webhook receives: one alert or one incident, as OCSF.
#[derive(Clone, Debug, Serialize)]
pub struct WebhookPayload {
    /// `alert` or `incident`.
    pub kind: &'static str,
    /// The OCSF object.
    pub finding: Value,
}

impl WebhookPayload {
    /// The payload for an alert.
    pub fn alert(a: &Alert) -> Self {
        WebhookPayload { kind: "alert", finding: alert_to_ocsf(a) }
    }

    /// The payload for an incident.
    pub fn incident(i: &Incident) -> Self {
        WebhookPayload { kind: "incident", finding: incident_to_ocsf(i) }
    }
}

/// A webhook delivery that failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The URL is not http(s).
    #[error("the webhook URL must be http:// or https://")]
    BadUrl,
    /// Could not connect or send.
    #[error("webhook delivery failed: {0}")]
    Send(String),
    /// The receiver answered with an error status.
    #[error("webhook receiver answered {0}")]
    Status(u16),
}

/// Posts payloads as JSON to one URL, with a time-out and no redirects.
#[derive(Clone, Debug)]
pub struct WebhookSender {
    url: String,
    client: reqwest::Client,
}

impl WebhookSender {
    /// A sender to `url` (http or https).
    pub fn new(url: &str) -> Result<Self, WebhookError> {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(WebhookError::BadUrl);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| WebhookError::Send(e.to_string()))?;
        Ok(WebhookSender { url: url.to_string(), client })
    }

    /// Posts one payload; a 2xx answer is success.
    pub async fn send(&self, payload: &WebhookPayload) -> Result<(), WebhookError> {
        let resp = self
            .client
            .post(&self.url)
            .json(payload)
            .send()
            .await
            .map_err(|e| WebhookError::Send(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) { Ok(()) } else { Err(WebhookError::Status(status)) }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::incident::IncidentBook;
    use crate::rules::{Category, Level};

    fn alert() -> Alert {
        Alert {
            id: 7,
            rule: "snooping.vip".into(),
            title: "VIP".into(),
            attack: "snoop_vip".into(),
            category: Category::Snooping,
            level: Level::High,
            time: 5_000_000,
            first_time: 4_000_000,
            actor: "account:1".into(),
            actor_name: None,
            role: Some("nurse".into()),
            source_ip: Some("10.0.0.1".into()),
            patients: vec!["p1".into()],
            evidence: vec![11],
            count: 1,
            deviation: None,
            status: AlertStatus::Open,
            explanations: vec![],
            summary: "account:1 (nurse) opened patient p1".into(),
        }
    }

    #[test]
    fn ocsf_lines() {
        let mut book = IncidentBook::default();
        book.add(alert());
        let mut buf = Vec::new();
        write_jsonl(&mut buf, [&alert()], book.incidents()).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines[0]["class_uid"], 2004);
        assert_eq!(lines[0]["severity_id"], 4);
        assert_eq!(lines[0]["evidences"][0]["data"]["audit_seq"][0], 11);
        assert_eq!(lines[1]["class_uid"], 2005);
        assert_eq!(lines[1]["unmapped"]["patients"][0], "p1");
    }

    #[tokio::test]
    async fn webhook_posts_to_a_local_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read until the JSON body is complete.
            loop {
                let n = sock.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                if n == 0 || String::from_utf8_lossy(&buf).trim_end().ends_with('}') {
                    break;
                }
            }
            sock.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await.unwrap();
            String::from_utf8(buf).unwrap()
        });
        let sender = WebhookSender::new(&format!("http://{addr}/hook")).unwrap();
        sender.send(&WebhookPayload::alert(&alert())).await.unwrap();
        let req = server.await.unwrap();
        assert!(req.starts_with("POST /hook"));
        assert!(req.contains(r#""kind":"alert""#));
        assert!(WebhookSender::new("ftp://x").is_err());
    }
}
