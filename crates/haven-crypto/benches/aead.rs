//! AES-256-GCM throughput and the cost of one envelope seal (data key +
//! wrap) for a 2 KB record: `cargo bench -p haven-crypto`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use haven_crypto::{DataKey, Envelope, LocalKeyring, open, seal};

fn aead(c: &mut Criterion) {
    let key = DataKey::from_bytes([9; 32]);
    let mut g = c.benchmark_group("aes-256-gcm");
    for size in [2 * 1024, 64 * 1024] {
        let data = vec![0x5au8; size];
        let sealed = seal(&key, b"aad", &data).unwrap_or_default();
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(format!("seal/{size}"), |b| b.iter(|| seal(&key, b"aad", black_box(&data))));
        g.bench_function(format!("open/{size}"), |b| b.iter(|| open(&key, b"aad", black_box(&sealed))));
    }
    g.finish();

    let dir = tempfile::tempdir().ok();
    let Some(dir) = dir else { return };
    let Ok(ring) = LocalKeyring::create(&dir.path().join("k.json")) else { return };
    let env = Envelope::new(Arc::new(ring));
    let rt = tokio::runtime::Builder::new_current_thread().build();
    let Ok(rt) = rt else { return };
    let record = vec![b'x'; 2048];
    c.bench_function("envelope/seal-2KB", |b| b.iter(|| rt.block_on(env.seal(b"Patient/1/1", black_box(&record)))));
}

criterion_group!(benches, aead);
criterion_main!(benches);
