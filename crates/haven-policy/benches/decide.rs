//! Cost of one authorization decision with the default policies:
//! `cargo bench -p haven-policy` (`haven bench` prints p50/p99 via `haven_policy::measure`).

use std::hint::black_box;

use criterion::{Criterion, criterion_group};
use haven_core::Role;
use haven_policy::{Action, Caller, Facts, PolicyEngine, Target, measure, parse_scopes};

fn decide(c: &mut Criterion) {
    let Ok(engine) = PolicyEngine::new(None) else { return };
    let clinician = Caller {
        account: "dr-alice",
        role: Role::Clinician,
        patient: None,
        practitioner: Some("prac-1"),
        scopes: None,
    };
    let target = Target { rtype: "Observation", patient: Some("pat-1") };
    let care = Facts { care_relationship: true, mfa: true, ..Facts::default() };
    c.bench_function("decide/clinician-read-care-relationship", |b| {
        b.iter(|| engine.decide(black_box(&clinician), Action::Read, black_box(&target), &care))
    });

    let unrelated = Facts { mfa: true, ..Facts::default() };
    c.bench_function("decide/clinician-read-deny", |b| {
        b.iter(|| engine.decide(black_box(&clinician), Action::Read, black_box(&target), &unrelated))
    });

    let Ok(scopes) = parse_scopes("patient/Observation.rs patient/Condition.rs") else { return };
    let agent = Caller {
        account: "agent-1",
        role: Role::Agent,
        patient: Some("pat-1"),
        practitioner: None,
        scopes: Some(&scopes),
    };
    c.bench_function("decide/agent-patient-scope", |b| {
        b.iter(|| engine.decide(black_box(&agent), Action::Read, black_box(&target), &Facts::default()))
    });
}

criterion_group!(benches, decide);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // Criterion reports means; the latency budget is about the tail, so time single decisions too.
    let (p50, p99) = measure(20_000);
    println!("decide/clinician-read-care-relationship single decisions: p50 {p50:.1} µs, p99 {p99:.1} µs");
}
