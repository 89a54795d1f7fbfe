//! `haven deid detect` as scripts use it: the output contract (code-point
//! offsets), invalid UTF-8, and large input streamed in bounded memory.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::BIN;

fn detect(args: &[&str], input: &[u8]) -> (bool, String, String) {
    let mut child = Command::new(BIN)
        .args(["deid", "detect"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn offsets_are_code_points_like_python_string_indices() {
    let text = "Café visit: Éva Szölösi, seen 3/4/61.";
    let (ok, out, err) = detect(&[], text.as_bytes());
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let chars: Vec<char> = text.chars().collect();
    let spans: Vec<(String, String)> = v["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let (a, b) = (s["start"].as_u64().unwrap() as usize, s["end"].as_u64().unwrap() as usize);
            (chars[a..b].iter().collect(), s["type"].as_str().unwrap().to_string())
        })
        .collect();
    assert!(spans.contains(&("Éva Szölösi".into(), "NAME".into())), "{spans:?}");
    assert!(spans.contains(&("3/4/61".into(), "DATE".into())), "{spans:?}");
}

#[test]
fn json_lines_give_one_object_per_record_and_bad_input_is_named() {
    let (ok, out, err) = detect(&["--jsonl"], b"{\"text\":\"Mr. James T. called\"}\n{\"text\":\"nothing here\"}\n");
    assert!(ok, "{err}");
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["spans"][0]["type"], "NAME");
    assert_eq!(lines[1]["spans"].as_array().unwrap().len(), 0);

    let (ok, _, err) = detect(&[], b"Seen by Dr. Smith \xff\xfe today");
    assert!(!ok);
    assert!(err.contains("not valid UTF-8 at byte 18"), "{err}");
    let (ok, _, err) = detect(&["--jsonl"], b"{\"text\":\"a\"}\n{\"txt\":\"b\"}\n");
    assert!(!ok);
    assert!(err.contains("line 2") && err.contains("\"text\""), "{err}");
}

/// Peak resident memory (kB) of `haven deid detect` reading `mb` blocks of
/// about a megabyte of notes from a pipe, and the number of spans it reported.
fn peak_rss_streaming(mb: usize) -> (u64, usize) {
    let mut child = Command::new(BIN)
        .args(["deid", "detect"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let writer = std::thread::spawn(move || {
        let note = "Patient Sarah Connor (MRN 00123456) seen 3/4/2019 at 24 Clarke Avenue; call (617) 555-0123.\n";
        let block = note.repeat((1 << 20) / note.len()).into_bytes();
        for _ in 0..mb {
            stdin.write_all(&block).unwrap();
        }
    });
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        stdout.read_to_string(&mut out).unwrap();
        out
    });
    // VmHWM is the process's peak; read it until the process is gone.
    let status = format!("/proc/{pid}/status");
    let mut peak = 0u64;
    while let Ok(s) = std::fs::read_to_string(&status) {
        if let Some(kb) = s.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
            peak = peak.max(kb.trim().trim_end_matches("kB").trim().parse().unwrap_or(0));
        }
        if s.lines().any(|l| l.starts_with("State:") && l.contains('Z')) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    writer.join().unwrap();
    let out = reader.join().unwrap();
    assert!(child.wait().unwrap().success());
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    (peak, v["spans"].as_array().unwrap().len())
}

#[test]
fn large_input_is_streamed_in_bounded_memory() {
    if !std::path::Path::new("/proc/self/status").exists() {
        println!("SKIPPED: no /proc to read peak memory from");
        return;
    }
    // Eight times the input costs about the same peak memory: the text is
    // read in pieces, never whole (loading it would add 28 MB and more).
    let (small_kb, small_spans) = peak_rss_streaming(4);
    let (large_kb, large_spans) = peak_rss_streaming(32);
    println!("peak RSS: 4 MB input {small_kb} kB, 32 MB input {large_kb} kB");
    assert!(large_spans > small_spans * 7, "{small_spans} then {large_spans} spans");
    assert!(large_kb < small_kb + 16 * 1024, "peak grew from {small_kb} kB to {large_kb} kB");
}
