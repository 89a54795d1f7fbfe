//! `haven deid detect --jsonl` without the rest of the `haven` binary: reads
//! JSON Lines with a `text` field on stdin, writes `{"spans":[...]}` lines,
//! and prints `detect_seconds=` (detection and output after start-up, the way
//! the peer benchmark times Presidio and scrubadub after their models load)
//! on stderr. `scripts/deid_peers.py --haven-cmd` uses it.

use std::io::{BufRead, Write};
use std::time::Instant;

use haven_deid::{Detector, to_char_spans};

fn main() {
    let det = Detector::default();
    Detector::preload();
    let mut texts = Vec::new();
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let Ok(line) = line else {
            eprintln!("error: line {} is not valid UTF-8", n + 1);
            std::process::exit(1);
        };
        if line.trim().is_empty() {
            continue;
        }
        let Some(text) = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v.get("text")?.as_str().map(str::to_string))
        else {
            eprintln!("error: line {} has no string field \"text\"", n + 1);
            std::process::exit(1);
        };
        texts.push(text);
    }
    let start = Instant::now();
    let mut buf = Vec::with_capacity(texts.len() * 64);
    for text in &texts {
        let spans = to_char_spans(text, &det.detect(text), 0, false);
        if serde_json::to_writer(&mut buf, &serde_json::json!({ "spans": spans })).is_err() {
            std::process::exit(1);
        }
        buf.push(b'\n');
    }
    let secs = start.elapsed().as_secs_f64();
    let mut out = std::io::stdout().lock();
    if out.write_all(&buf).and_then(|()| out.flush()).is_err() {
        std::process::exit(1);
    }
    eprintln!("detect_seconds={secs}");
}
