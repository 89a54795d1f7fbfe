//! ICD-10-CM lookups, one validation per system, and scanning replies for
//! codes: `cargo bench -p haven-codes`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use haven_codes::{System, icd10cm, scan, validate};

/// A reply of the kind the scanner is for: prose with labelled and bare codes.
const REPLY: &str = "Based on the visit note, the assessment is type 2 diabetes mellitus without \
complications (ICD-10-CM E11.9) and essential hypertension (I10). The most recent hemoglobin A1c \
(LOINC 4548-4) was 7.2%, and fasting glucose (LOINC 2345-7) was 142 mg/dL. SNOMED CT 44054006 \
describes the same diagnosis. Metformin 500 mg (RxNorm 861007, NDC 0093-1048-01) was continued. \
The visit was billed as CPT 99213 by the prescriber (NPI 1234567893, DEA AB1234563). Consider \
screening for chronic kidney disease stage 3 (N18.3) and diabetic retinopathy (E11.319) at the next \
visit; vitamin B12 levels may be checked while on metformin. Follow up in three months.\n";

fn icd(c: &mut Criterion) {
    let start = Instant::now();
    icd10cm::preload();
    println!("icd10cm table build (first use): {:?}", start.elapsed());

    // Every 97th entry of the list, written as people write them, plus misses.
    let mut inputs: Vec<String> = icd10cm::entries()
        .step_by(97)
        .map(|e| match e.split_at_checked(3) {
            Some((head, tail)) if !tail.is_empty() && !e.contains('-') => format!("{head}.{}", tail.to_lowercase()),
            _ => e.to_owned(),
        })
        .collect();
    inputs.extend(["E11.95", "Z99.99", "A00.9", "B12"].map(str::to_owned));
    let mut g = c.benchmark_group("icd10cm");
    g.throughput(Throughput::Elements(inputs.len() as u64));
    g.bench_function(format!("lookup/{}", inputs.len()), |b| {
        b.iter(|| inputs.iter().filter(|i| icd10cm::lookup(black_box(i)).is_ok()).count())
    });
    g.finish();

    let mut g = c.benchmark_group("validate");
    for (system, code) in [
        (System::Icd10Cm, "E11.9"),
        (System::SnomedCt, "44054006"),
        (System::Loinc, "2345-7"),
        (System::Npi, "1234567893"),
        (System::Ndc, "0002-7597-01"),
        (System::Dea, "AB1234563"),
    ] {
        g.bench_function(system.name(), |b| b.iter(|| validate(system, black_box(code))));
    }
    g.finish();
}

fn text(c: &mut Criterion) {
    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Bytes(REPLY.len() as u64));
    g.bench_function(format!("reply/{}B", REPLY.len()), |b| b.iter(|| scan(black_box(REPLY))));

    // 64 KiB: the reply among prose with no codes in it at all.
    let prose = "The patient reports feeling better since the last visit and has no new complaints. ";
    let mut long = String::new();
    while long.len() < 64 * 1024 {
        long.push_str(if long.len() % 4096 < prose.len() { REPLY } else { prose });
    }
    g.throughput(Throughput::Bytes(long.len() as u64));
    g.bench_function(format!("notes/{}KiB", long.len() / 1024), |b| b.iter(|| scan(black_box(&long))));
    g.finish();
}

criterion_group!(benches, icd, text);
criterion_main!(benches);
