//! `haven audit ...`: verify the chain (in the data directory or an exported
//! file), export it for a SIEM, print checkpoints and the public key, the
//! accounting of disclosures, and pruning. Also how the other operator
//! commands put their actions in the log.

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use haven_audit::{Actor, AuditQuery, Checkpoint, Event, Outcome, PublicKey, Record, VerifyReport};

/// Audit log commands.
#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the whole hash chain and every checkpoint signature; exit 0 only
    /// when everything verifies.
    Verify {
        /// The data directory (its log and its public key).
        #[arg(long, env = "HAVEN_DATA_DIR", value_name = "DIR", required_unless_present = "from")]
        data_dir: Option<PathBuf>,
        /// An exported JSON Lines file instead (needs --public-key).
        #[arg(long, value_name = "FILE", requires = "public_key")]
        from: Option<PathBuf>,
        /// The public key (`ed25519:...`, as `haven audit public-key` prints it).
        #[arg(long, value_name = "KEY")]
        public_key: Option<String>,
        /// A checkpoint you hold from earlier (a JSON file or line, e.g. from
        /// the published checkpoints): the log must still reach and match it.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write records from a sequence number on as JSON Lines (with the
    /// checkpoints), for a SIEM; the file verifies on its own.
    Export {
        /// The data directory.
        #[arg(long, env = "HAVEN_DATA_DIR", value_name = "DIR")]
        data_dir: PathBuf,
        /// First sequence number wanted (the file starts at the checkpoint before it).
        #[arg(long, default_value_t = 1)]
        since: u64,
        /// Output file (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Who accessed a patient's record, when, why and what.
    Disclosures {
        /// The data directory.
        #[arg(long, env = "HAVEN_DATA_DIR", value_name = "DIR")]
        data_dir: PathBuf,
        /// The Patient id.
        #[arg(long)]
        patient: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the public key that verifies checkpoint signatures.
    PublicKey {
        /// The data directory.
        #[arg(long, env = "HAVEN_DATA_DIR", value_name = "DIR")]
        data_dir: PathBuf,
    },
    /// Print checkpoints as JSON lines (to publish outside Haven).
    Checkpoints {
        /// The data directory.
        #[arg(long, env = "HAVEN_DATA_DIR", value_name = "DIR")]
        data_dir: PathBuf,
        /// Only checkpoints after this sequence number.
        #[arg(long, default_value_t = 0)]
        since: u64,
    },
    /// Remove records older than N days, back to a signed checkpoint.
    Prune {
        /// The data directory.
        #[arg(long, env = "HAVEN_DATA_DIR", value_name = "DIR")]
        data_dir: PathBuf,
        /// Keep this many days.
        #[arg(long)]
        keep_days: u32,
    },
}

/// The operator running this command, as an audit actor.
pub fn operator() -> Actor {
    use std::os::unix::fs::MetadataExt;
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| {
        // No login name in the environment (containers, cron): the uid.
        std::fs::metadata("/proc/self").map(|m| format!("uid-{}", m.uid())).unwrap_or_else(|_| "unknown".into())
    });
    Actor {
        id: format!("operator:{}", haven_audit::truncate(user, 64)),
        role: Some("operator".into()),
        ..Default::default()
    }
}

/// Records an operator action, durably, before its effect is shown (fail
/// closed: when the log cannot be written the command fails).
pub async fn record_operator(dir: &Path, config: &haven_server::config::Config, event: Event) -> Result<u64> {
    let log = haven_server::state::open_audit(dir, config).await.context("cannot open the audit log")?;
    let seq = log.record(event).await.context("cannot write the audit record")?;
    log.close().await;
    Ok(seq)
}

/// An operator event with the usual fields.
pub fn operator_event(action: &str, outcome: Outcome) -> Event {
    let mut e = Event::new(operator(), action, outcome);
    e.purpose = Some("HSYSADMIN".into());
    e
}

fn read_checkpoint(path: &Path) -> Result<Checkpoint> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    // The last line: a published checkpoint file grows by lines.
    let Some(line) = text.lines().rev().map(str::trim).find(|l| !l.is_empty()) else {
        bail!("{} holds no checkpoint", path.display())
    };
    let v: serde_json::Value = serde_json::from_str(line).with_context(|| format!("{}: not JSON", path.display()))?;
    let cp = v.get("checkpoint").or_else(|| v.get("anchor")).cloned().unwrap_or(v);
    serde_json::from_value(cp).with_context(|| format!("{}: not a checkpoint", path.display()))
}

fn print_report(r: &VerifyReport, json: bool) {
    if json {
        let v = serde_json::json!({
            "ok": r.ok(),
            "records": r.records,
            "first_seq": r.first_seq,
            "last_seq": r.last_seq,
            "checkpoints": r.checkpoints,
            "last_checkpoint": r.last_checkpoint,
            "unsigned_tail": r.unsigned_tail,
            "problem": r.problem.as_ref().map(|p| serde_json::json!({"seq": p.seq, "what": p.what})),
        });
        println!("{v}");
        return;
    }
    match &r.problem {
        None => {
            println!(
                "audit log verifies: {} records (seq {}..={}), {} checkpoint signatures",
                r.records,
                r.first_seq.unwrap_or(0),
                r.last_seq,
                r.checkpoints
            );
            if let Some(cp) = &r.last_checkpoint {
                println!("last checkpoint: seq {} hash {}", cp.seq, cp.hash);
            }
            if r.unsigned_tail > 0 {
                println!(
                    "{} records after the last checkpoint are chained but not yet signed (the next checkpoint covers them)",
                    r.unsigned_tail
                );
            }
        }
        Some(p) => println!("AUDIT LOG DOES NOT VERIFY: first bad record at seq {}: {}", p.seq, p.what),
    }
}

/// Runs an audit command.
pub async fn run(cmd: AuditCommand) -> Result<()> {
    match cmd {
        AuditCommand::Verify { data_dir, from, public_key, checkpoint, json } => {
            let trusted = checkpoint.as_deref().map(read_checkpoint).transpose()?;
            let report = match (from, data_dir) {
                (Some(file), _) => {
                    let key = PublicKey::parse(public_key.as_deref().unwrap_or_default())
                        .context("--public-key is not an Ed25519 public key")?;
                    let f = std::fs::File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
                    haven_audit::verify_jsonl(BufReader::with_capacity(1 << 20, f), vec![key], trusted)?
                }
                (None, Some(dir)) => {
                    let config = crate::load_config(&dir)?;
                    let signer = haven_server::state::audit_signer(&dir, &config)?;
                    let mut keys = vec![signer.public_key()];
                    if let Some(k) = public_key {
                        keys.push(PublicKey::parse(&k).context("--public-key is not an Ed25519 public key")?);
                    }
                    let store = haven_server::state::open_audit_store(&dir, &config).await?;
                    haven_audit::verify_store(store.as_ref(), keys, None, trusted).await?
                }
                (None, None) => bail!("give --data-dir or --from"),
            };
            print_report(&report, json);
            if !report.ok() {
                std::process::exit(1);
            }
            Ok(())
        }
        AuditCommand::Export { data_dir, since, out } => {
            let config = crate::load_config(&data_dir)?;
            let mut e = operator_event("audit.export", Outcome::Success);
            e.detail = Some(format!("export from seq {since}"));
            record_operator(&data_dir, &config, e).await?;
            let store = haven_server::state::open_audit_store(&data_dir, &config).await?;
            let report = match out {
                Some(path) => {
                    let f =
                        std::fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
                    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                    let r = haven_audit::export_jsonl(store.as_ref(), since, &mut w).await?;
                    w.flush()?;
                    r
                }
                None => {
                    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout());
                    let r = haven_audit::export_jsonl(store.as_ref(), since, &mut w).await?;
                    w.flush()?;
                    r
                }
            };
            eprintln!(
                "exported {} records (seq {:?}..={:?}) and {} checkpoints",
                report.records, report.first_seq, report.last_seq, report.checkpoints
            );
            Ok(())
        }
        AuditCommand::Disclosures { data_dir, patient, json } => disclosures(&data_dir, &patient, json).await,
        AuditCommand::PublicKey { data_dir } => {
            let config = crate::load_config(&data_dir)?;
            println!("{}", haven_server::state::audit_signer(&data_dir, &config)?.public_key());
            Ok(())
        }
        AuditCommand::Checkpoints { data_dir, since } => {
            let config = crate::load_config(&data_dir)?;
            let store = haven_server::state::open_audit_store(&data_dir, &config).await?;
            let mut after = since;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            loop {
                let page = store.checkpoints(after, 1000).await?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                for cp in &page {
                    writeln!(out, "{}", serde_json::json!({ "checkpoint": cp }))?;
                }
            }
            out.flush()?;
            Ok(())
        }
        AuditCommand::Prune { data_dir, keep_days } => {
            if keep_days == 0 {
                bail!("--keep-days must be at least 1");
            }
            let config = crate::load_config(&data_dir)?;
            let store = haven_server::state::open_audit_store(&data_dir, &config).await?;
            let before = haven_audit::days_ago(keep_days);
            let r = store.prune(before).await?;
            let mut e = operator_event("audit.prune", Outcome::Success);
            e.detail = Some(format!("removed {} records before {keep_days} days", r.removed));
            record_operator(&data_dir, &config, e).await?;
            match r.anchor {
                Some(a) => println!("removed {} records; the log now starts after checkpoint seq {}", r.removed, a.seq),
                None => println!("nothing to remove (no checkpoint older than {keep_days} days)"),
            }
            Ok(())
        }
    }
}

async fn disclosures(dir: &Path, patient: &str, json: bool) -> Result<()> {
    let config = crate::load_config(dir)?;
    haven_core::ResourceId::parse(patient).map_err(|e| anyhow::anyhow!("--patient: {e}"))?;
    let mut e = operator_event("audit.disclosures", Outcome::Success);
    e.patients = vec![patient.to_owned()];
    record_operator(dir, &config, e).await?;
    let store = haven_server::state::open_audit_store(dir, &config).await?;
    let q = AuditQuery {
        patient: Some(patient.to_owned()),
        outcome: Some(Outcome::Success),
        limit: 100_000,
        newest_first: true,
        ..AuditQuery::default()
    };
    let rows = store.search(&q).await?;
    let mut out = Vec::with_capacity(rows.len());
    for s in rows {
        let r = Record::decode(&s.bytes)?;
        if haven_server::audit::is_disclosure(&r) {
            out.push(r);
        }
    }
    if json {
        let list: Vec<_> = out
            .iter()
            .map(|r| {
                serde_json::json!({
                    "seq": r.seq,
                    "when": haven_server::fhir::rfc3339(r.event.time),
                    "who": r.event.actor.fhir.clone().unwrap_or_else(|| r.event.actor.id.clone()),
                    "role": r.event.actor.role,
                    "purpose": r.event.purpose,
                    "action": r.event.action,
                    "resources": r.event.resources,
                })
            })
            .collect();
        println!("{}", serde_json::json!({"patient": patient, "disclosures": list}));
        return Ok(());
    }
    println!("Accesses to the record of Patient/{patient}, newest first ({}):", out.len());
    println!("{:<27} {:<40} {:<10} {:<9} {:<18} records", "when", "who", "role", "purpose", "action");
    for r in &out {
        let who = r.event.actor.fhir.clone().unwrap_or_else(|| r.event.actor.id.clone());
        let mut types: Vec<&str> = r.event.resources.iter().map(|x| x.split('/').next().unwrap_or(x)).collect();
        types.dedup();
        println!(
            "{:<27} {:<40} {:<10} {:<9} {:<18} {}",
            haven_server::fhir::rfc3339(r.event.time),
            who,
            r.event.actor.role.as_deref().unwrap_or("-"),
            r.event.purpose.as_deref().unwrap_or("-"),
            r.event.action,
            types.join(",")
        );
    }
    Ok(())
}
