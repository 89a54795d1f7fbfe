//! `haven bench agent`: message round trips to the assistant over HTTPS
//! against an in-process server holding the demo clinic and a knowledge
//! base (MedQuAD when present), as a signed-in patient: one conversation
//! alone, then many at once; the process's memory before and after.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use haven_server::config::Config;
use serde_json::{Value, json};

/// Where the knowledge base comes from when `--kb` is not given.
pub const DEFAULT_KB: &str = "../shared/data/kb/medquad";

/// Questions for a knowledge base without held-out questions (the demo's).
const DEMO_QUESTIONS: [&str; 8] = [
    "When is the clinic open?",
    "Who should get a flu vaccine?",
    "What are the side effects of the flu shot?",
    "How can I lower my blood pressure without medicine?",
    "How is type 2 diabetes diagnosed?",
    "What are the signs of low blood sugar?",
    "What should I bring to my visit?",
    "How long do blood test results take?",
];

/// Resident and peak memory of this process, in MiB (Linux `/proc`).
fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

struct Phase {
    messages: usize,
    errors: usize,
    secs: f64,
    /// Round-trip times in milliseconds, sorted.
    ms: Vec<f64>,
}

impl Phase {
    fn pct(&self, p: f64) -> f64 {
        crate::bench::percentile(&self.ms, p)
    }

    fn json(&self) -> Value {
        json!({
            "messages": self.messages, "errors": self.errors, "per_sec": self.messages as f64 / self.secs,
            "p50_ms": self.pct(0.5), "p90_ms": self.pct(0.9), "p99_ms": self.pct(0.99),
            "max_ms": self.ms.last().copied().unwrap_or(f64::NAN),
        })
    }

    fn row(&self, label: &str) -> String {
        format!(
            "{label:<28}{:>9}{:>10.0}{:>9.2}{:>9.2}{:>9.2}{:>9.2}{:>8}",
            self.messages,
            self.messages as f64 / self.secs,
            self.pct(0.5),
            self.pct(0.9),
            self.pct(0.99),
            self.ms.last().copied().unwrap_or(f64::NAN),
            self.errors
        )
    }
}

/// How long a person takes, on average, to read a reply and type the next message.
const THINK: Duration = Duration::from_secs(2);

/// Sends messages on `conversations.len()` conversations at once (one task
/// each) for `duration`, after a one-second warm-up: back to back, or with
/// `think` time on average between a reply and the next message (from half
/// to one and a half times it, the first one spread the same way).
async fn phase(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    conversations: &[String],
    questions: Arc<Vec<String>>,
    duration: Duration,
    think: Option<Duration>,
) -> Result<Phase> {
    let measure_from = Instant::now() + Duration::from_secs(1);
    let end = measure_from + duration;
    let mut tasks = Vec::new();
    let conversations_len = conversations.len().max(1);
    for (t, id) in conversations.iter().enumerate() {
        let (client, questions) = (client.clone(), questions.clone());
        let url = format!("{base}/v1/conversations/{id}/messages");
        let token = token.to_string();
        tasks.push(tokio::spawn(async move {
            let (mut ms, mut errors) = (Vec::new(), 0usize);
            let mut i = t * 7919;
            // A cheap, fixed sequence of pauses (no randomness needed to be fair).
            let pause = |i: usize| think.map(|d| d.mul_f64(0.5 + ((i * 2_654_435_761) % 1000) as f64 / 1000.0));
            if let Some(d) = pause(i) {
                tokio::time::sleep(d.mul_f64(t as f64 / conversations_len as f64)).await;
            }
            loop {
                let start = Instant::now();
                if start >= end {
                    break;
                }
                i += 1;
                let text = &questions[i % questions.len()];
                let ok = match client.post(&url).bearer_auth(&token).json(&json!({"text": text})).send().await {
                    Ok(r) => {
                        let status = r.status();
                        r.bytes().await.is_ok() && status == reqwest::StatusCode::OK
                    }
                    Err(_) => false,
                };
                if start >= measure_from {
                    ms.push(start.elapsed().as_secs_f64() * 1000.0);
                    errors += usize::from(!ok);
                }
                if let Some(d) = pause(i) {
                    tokio::time::sleep(d).await;
                }
            }
            (ms, errors)
        }));
    }
    let (mut ms, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (m, e) = t.await.context("a load task failed")?;
        ms.extend(m);
        errors += e;
    }
    ms.sort_by(f64::total_cmp);
    Ok(Phase { messages: ms.len(), errors, secs: duration.as_secs_f64(), ms })
}

/// Runs the benchmark.
pub async fn run(kb: &Path, concurrency: usize, duration: Duration, json_out: bool) -> Result<()> {
    let (rss_start, _) = memory_mib();
    let dir = std::env::temp_dir().join(format!("haven-bench-agent-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _cleanup = crate::bench::RemoveOnDrop(dir.clone());
    let (_, demo_passages) = crate::demo::populate(&dir).await.context("loading the demo clinic")?;

    // The knowledge base: MedQuAD with its held-out questions, or the demo's own.
    let mut questions: Vec<String> = DEMO_QUESTIONS.iter().map(|q| q.to_string()).collect();
    let mut kb_name = format!("demo ({demo_passages} passages)");
    if kb.exists() {
        let loaded = haven_agent::ingest::load_path(kb).with_context(|| format!("reading {}", kb.display()))?;
        if !loaded.questions.is_empty() {
            questions = loaded.questions.iter().map(|q| q.question.clone()).collect();
        }
        let base = crate::kb::open(&dir)?;
        let docs = loaded.docs;
        let passages = tokio::task::spawn_blocking(move || {
            base.ingest(&docs)?;
            Ok::<_, haven_agent::KbError>(base.len())
        })
        .await??;
        kb_name = format!("{} ({passages} passages)", kb.display());
    } else if !json_out {
        eprintln!("{} not found: measuring on the demo knowledge base (pass --kb PATH)", kb.display());
    }
    let questions = Arc::new(questions);

    let mut config = Config::load(&dir)?;
    // The benchmark measures the work of a message, not the rate limit.
    config.agent.messages_per_minute = u32::MAX;
    let store = haven_server::state::open_store(&dir, &config).await?;
    let (_, issued) = haven_server::accounts::operator_token(&store, "maria.demo", 3600, None).await?;
    let token = issued.token.expose().to_string();
    drop(store);
    let server = crate::bench::serve_loopback(&dir, config).await?;
    let base = server.url();
    let (rss_loaded, _) = memory_mib();
    let client = crate::bench::loopback_client(&dir, concurrency)?.build()?;

    let mut conversations = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        let r = client.post(format!("{base}/v1/conversations")).bearer_auth(&token).json(&json!({})).send().await?;
        let started: Value = r.json().await?;
        let Some(id) = started["id"].as_str() else { bail!("cannot start a conversation: {started}") };
        if i == 0 {
            let consent = json!({"accept": true, "disclaimer_version": started["disclaimer_version"]});
            let r = client.post(format!("{base}/v1/agent/consent")).bearer_auth(&token).json(&consent).send().await?;
            if r.status() != reqwest::StatusCode::NO_CONTENT {
                bail!("cannot accept the disclaimer: {}", r.status());
            }
        }
        conversations.push(id.to_string());
    }

    let single = phase(&client, &base, &token, &conversations[..1], questions.clone(), duration, None).await?;
    let many = phase(&client, &base, &token, &conversations, questions.clone(), duration, None).await?;
    let paced = phase(&client, &base, &token, &conversations, questions.clone(), duration, Some(THINK)).await?;
    let (rss_end, rss_peak) = memory_mib();
    server.shutdown();
    server.wait().await;

    if json_out {
        let out = json!({
            "knowledge_base": kb_name, "questions": questions.len(), "concurrency": concurrency,
            "one_conversation": single.json(), "concurrent": many.json(), "concurrent_paced": paced.json(),
            "think_ms": THINK.as_millis() as u64,
            "rss_mib": {"start": rss_start, "loaded": rss_loaded, "end": rss_end, "peak": rss_peak},
        });
        println!("{out}");
        return Ok(());
    }
    println!("Assistant message round trips over HTTPS (patient, offline answerer, durable audit)");
    println!("knowledge base: {kb_name}; {} distinct questions", questions.len());
    println!(
        "{:<28}{:>9}{:>10}{:>9}{:>9}{:>9}{:>9}{:>8}",
        "phase", "messages", "msg/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"
    );
    println!("{}", single.row("1 conversation"));
    println!("{}", many.row(&format!("{concurrency} back to back")));
    println!("{}", paced.row(&format!("{concurrency} at a person's pace")));
    println!(
        "memory (whole process: server, client, knowledge base): RSS {rss_start:.0} MiB at start, \
         {rss_loaded:.0} MiB serving, {rss_end:.0} MiB after load, peak {rss_peak:.0} MiB"
    );
    println!(
        "back to back, {concurrency} messages are always in flight, so latency is {concurrency} / throughput; \
         at a person's pace each conversation waits {:.1} s on average between a reply and its next message",
        THINK.as_secs_f64()
    );
    println!("targets: p50 <= 20 ms, p99 <= 100 ms with {concurrency} conversations; RSS <= 300 MiB");
    Ok(())
}
