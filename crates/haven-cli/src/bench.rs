//! `haven bench`: benchmarks that print their figures. Each figure that has
//! a target is measured as a ratio against a baseline in the same run, so a
//! noisy machine moves both sides alike.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Subcommand;
use haven_core::{ResourceId, ResourceType, VersionId};
use haven_crypto::{DataKey, LocalKeyring};
use haven_store::{Backend, SqliteBackend, Store, VersionRow};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Encrypted vs. plain store round trips on SQLite, and AES-GCM throughput.
    Store {
        /// Records written and read per side per round.
        #[arg(long, default_value_t = 500)]
        records: usize,
        /// Rounds (the two sides alternate each round).
        #[arg(long, default_value_t = 4)]
        rounds: usize,
        /// Record size in bytes.
        #[arg(long, default_value_t = 2048)]
        size: usize,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Store { records, rounds, size, json } => store(records.max(1), rounds.max(1), size, json).await,
    }
}

/// A JSON document of about `size` bytes, shaped like a FHIR resource.
fn record(i: usize, size: usize) -> Vec<u8> {
    let mut v = serde_json::json!({
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": format!("Patient/p{i}")},
        "valueQuantity": {"value": 60 + (i % 40), "unit": "beats/minute"},
        "note": [{"text": ""}]
    });
    let base = v.to_string().len();
    v["note"][0]["text"] = serde_json::Value::String("x".repeat(size.saturating_sub(base)));
    v.to_string().into_bytes()
}

fn aes_gcm_gbps(seconds: f64) -> Result<(f64, f64)> {
    let key = DataKey::generate()?;
    let data = vec![0x5a_u8; 64 * 1024];
    let sealed = haven_crypto::seal(&key, b"aad", &data)?;
    let measure = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
        let start = Instant::now();
        let mut bytes = 0usize;
        while start.elapsed().as_secs_f64() < seconds {
            for _ in 0..64 {
                f()?;
                bytes += data.len();
            }
        }
        Ok(bytes as f64 / start.elapsed().as_secs_f64() / 1e9)
    };
    let seal = measure(&mut || haven_crypto::seal(&key, b"aad", &data).map(|_| ()).map_err(Into::into))?;
    let open = measure(&mut || haven_crypto::open(&key, b"aad", &sealed).map(|_| ()).map_err(Into::into))?;
    Ok((seal, open))
}

#[derive(Default)]
struct Side {
    write: Duration,
    read: Duration,
    n: usize,
}

impl Side {
    fn per_sec(&self, d: Duration) -> f64 {
        self.n as f64 / d.as_secs_f64()
    }
}

async fn store(records: usize, rounds: usize, size: usize, json: bool) -> Result<()> {
    let dir = tempfile_dir()?;
    let keyring = Arc::new(LocalKeyring::create(&dir.join("keyring.json"))?);
    let backend = Arc::new(SqliteBackend::open(&dir.join("bench.db")).await?);
    let store = Store::new(backend.clone(), keyring).await?;
    let t_plain = ResourceType::parse("Plain")?;
    let t_enc = ResourceType::parse("Observation")?;
    let bodies: Vec<Vec<u8>> = (0..records).map(|i| record(i, size)).collect();
    let (mut plain, mut enc) = (Side::default(), Side::default());

    for round in 0..rounds {
        // Baseline: the same backend path, no encryption.
        let ids: Vec<ResourceId> =
            (0..records).map(|i| ResourceId::parse(&format!("r{round}-{i}"))).collect::<Result<_, _>>()?;
        let start = Instant::now();
        for (id, body) in ids.iter().zip(&bodies) {
            let row = VersionRow {
                rtype: t_plain.clone(),
                id: id.clone(),
                version: VersionId::FIRST,
                deleted: false,
                last_updated: 0,
                kek_version: 1,
                wrapped_key: vec![0; 65],
                payload: body.clone(),
            };
            backend.write(&row, None, &[]).await?;
        }
        plain.write += start.elapsed();
        let start = Instant::now();
        for id in &ids {
            if backend.head(&t_plain, id).await?.is_none() {
                anyhow::bail!("baseline row missing");
            }
            std::hint::black_box(backend.get(&t_plain, id, VersionId::FIRST).await?);
        }
        plain.read += start.elapsed();
        plain.n += records;

        // Encrypted path: seal + write, read + open.
        let start = Instant::now();
        for (id, body) in ids.iter().zip(&bodies) {
            store.create(&t_enc, Some(id.clone()), body, &[]).await?;
        }
        enc.write += start.elapsed();
        let start = Instant::now();
        for id in &ids {
            std::hint::black_box(store.read(&t_enc, id).await?);
        }
        enc.read += start.elapsed();
        enc.n += records;
    }
    let (seal_gbps, open_gbps) = aes_gcm_gbps(1.0)?;
    let write_overhead = enc.write.as_secs_f64() / plain.write.as_secs_f64() - 1.0;
    let read_overhead = enc.read.as_secs_f64() / plain.read.as_secs_f64() - 1.0;
    backend.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "record_bytes": size, "records": plain.n,
                "plain_write_per_sec": plain.per_sec(plain.write), "plain_read_per_sec": plain.per_sec(plain.read),
                "encrypted_write_per_sec": enc.per_sec(enc.write), "encrypted_read_per_sec": enc.per_sec(enc.read),
                "write_overhead": write_overhead, "read_overhead": read_overhead,
                "aes_gcm_seal_gb_per_sec": seal_gbps, "aes_gcm_open_gb_per_sec": open_gbps,
            })
        );
    } else {
        println!("store round trip on SQLite (WAL, synchronous=FULL), {size}-byte records, {} per side", plain.n);
        println!("{:<28}{:>14}{:>14}", "", "write/s", "read/s");
        println!(
            "{:<28}{:>14.0}{:>14.0}",
            "plain (no encryption)",
            plain.per_sec(plain.write),
            plain.per_sec(plain.read)
        );
        println!("{:<28}{:>14.0}{:>14.0}", "encrypted (envelope)", enc.per_sec(enc.write), enc.per_sec(enc.read));
        println!("{:<28}{:>13.1}%{:>13.1}%", "encryption overhead", write_overhead * 100.0, read_overhead * 100.0);
        println!("AES-256-GCM on one core: seal {seal_gbps:.2} GB/s, open {open_gbps:.2} GB/s (64 KiB messages)");
    }
    Ok(())
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let mut b = [0u8; 8];
    haven_crypto::random_bytes(&mut b)?;
    let dir =
        std::env::temp_dir().join(format!("haven-bench-{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
