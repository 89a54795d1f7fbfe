//! Events per second through the full default rule set, baselines and
//! explanations, on one core, over a simulated hospital log:
//! `cargo bench -p haven-detect`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use haven_detect::sim::{SimConfig, simulate};
use haven_detect::{Detector, Explainer, RuleSet};

fn detect(c: &mut Criterion) {
    let sim = simulate(&SimConfig { days: 7, staff: 200, patients: 3000, seed: 1, attack_rate: 0.5, warmup_days: 3 });
    let events = sim.events();
    let index: Arc<dyn Explainer> = Arc::new(sim.index);
    let Ok(rules) = RuleSet::defaults() else { return };
    let mut g = c.benchmark_group("detector");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.sample_size(10);
    g.bench_function(format!("observe/{}-events", events.len()), |b| {
        b.iter(|| {
            let mut d = Detector::new(rules.clone(), index.clone());
            let mut n = 0;
            for e in &events {
                n += d.observe(black_box(e)).len();
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, detect);
criterion_main!(benches);
