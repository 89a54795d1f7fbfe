//! Detector and de-identifier throughput on a synthetic clinical note, and
//! on adversarial input (long digit runs, repeated titles) to show the work
//! stays linear.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use haven_deid::{DeidOptions, Deidentifier, Detector, Policy, PseudonymKey};

const NOTE: &str = include_str!("../tests/data/bench_note.txt");

fn bench(c: &mut Criterion) {
    let det = Detector::default();
    Detector::preload();
    let text = NOTE.repeat(20);
    let mut g = c.benchmark_group("deid");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("detect_note", |b| b.iter(|| det.detect(&text)));
    let key = PseudonymKey::from_bytes(&[9; 32]).unwrap_or_else(|_| std::process::abort());
    let de = Deidentifier::new(Policy::safe_harbor(), &key);
    g.bench_function("deidentify_note", |b| b.iter(|| de.deidentify(&text, &DeidOptions::default())));
    for (name, adv) in [
        ("adversarial_digits", "1".repeat(text.len())),
        ("adversarial_titles", "Dr. ".repeat(text.len() / 4)),
        ("adversarial_names", "John Smith ".repeat(text.len() / 11)),
        ("adversarial_dates", "1/1/1 ".repeat(text.len() / 6)),
    ] {
        g.throughput(Throughput::Bytes(adv.len() as u64));
        g.bench_function(name, |b| b.iter(|| det.detect(&adv)));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
