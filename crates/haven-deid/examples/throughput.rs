//! Single-threaded detection throughput on the shared notes (Synthea,
//! MTS-Dialog, ACI-Bench), and on adversarial input of the same size.
//!
//!     cargo run --release -p haven-deid --example throughput [-- ../shared/data]
//!
//! `haven bench deid` prints the same figures from the installed binary.

use std::time::Instant;

use base64::Engine as _;
use haven_deid::{DeidOptions, Deidentifier, Detector, Policy, PseudonymKey};

fn main() {
    let data = std::env::args().nth(1).unwrap_or_else(|| "../shared/data".into());
    let mut corpus: Vec<String> = Vec::new();
    if let Ok(t) = std::fs::read_to_string(format!("{data}/fhir/synthea-10/DocumentReference.000.ndjson")) {
        for line in t.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            if let Some(d) = v.pointer("/content/0/attachment/data").and_then(|d| d.as_str())
                && let Ok(b) = base64::engine::general_purpose::STANDARD.decode(d)
                && let Ok(s) = String::from_utf8(b)
            {
                corpus.push(s);
            }
        }
    }
    for f in ["notes/mts-dialog/MTS-Dialog-TrainingSet.csv", "notes/aci-bench/train.csv"] {
        if let Ok(t) = std::fs::read_to_string(format!("{data}/{f}")) {
            corpus.extend(t.split("\n\n").filter(|s| s.len() > 200).map(str::to_string));
        }
    }
    if corpus.is_empty() {
        corpus.extend(
            haven_deid::eval::CLINICAL_NOTES.lines().filter_map(|l| {
                serde_json::from_str::<serde_json::Value>(l).ok()?["text"].as_str().map(str::to_string)
            }),
        );
    }
    let bytes: usize = corpus.iter().map(String::len).sum();
    let det = Detector::default();
    Detector::preload();
    let best = |f: &mut dyn FnMut()| {
        f();
        (0..3)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::MAX, f64::min)
    };
    let mut spans = 0;
    let s = best(&mut || spans = corpus.iter().map(|t| det.detect(t).len()).sum());
    println!("corpus: {} notes, {:.1} MB, {spans} spans", corpus.len(), bytes as f64 / 1e6);
    println!("detect:      {:.1} MB/s, {:.0} notes/s", bytes as f64 / s / 1e6, corpus.len() as f64 / s);
    let Ok(key) = PseudonymKey::from_bytes(&[1; 32]) else { return };
    let de = Deidentifier::new(Policy::safe_harbor(), &key);
    let s2 = best(&mut || {
        for t in &corpus {
            let _ = de.deidentify(t, &DeidOptions::default());
        }
    });
    println!("de-identify: {:.1} MB/s, {:.0} notes/s", bytes as f64 / s2 / 1e6, corpus.len() as f64 / s2);
    let normal = corpus.concat();
    let n = normal.len();
    let sn = best(&mut || {
        let _ = det.detect(&normal);
    });
    println!("one {:.1} MB string: {:.1} MB/s", n as f64 / 1e6, n as f64 / sn / 1e6);
    for (name, text) in [
        ("digits", "7".repeat(n)),
        ("titles", "Dr. ".repeat(n / 4)),
        ("names", "John Smith ".repeat(n / 11)),
        ("dates", "1/1/1 ".repeat(n / 6)),
        ("no spaces", "a".repeat(n)),
        ("labels", "MRN: MRN: ".repeat(n / 10)),
        ("phones", "617-555-0123 ".repeat(n / 13)),
    ] {
        let sa = best(&mut || {
            let _ = det.detect(&text);
        });
        println!(
            "adversarial {name:<10} {:>7.1} MB/s  time per byte x{:.2} of the notes",
            text.len() as f64 / sa / 1e6,
            (sa / text.len() as f64) / (sn / n as f64)
        );
    }
}
