//! `haven keys`: status, rotation and re-wrapping of data keys.

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Subcommand;
use haven_crypto::{KekState, KekVersion, LocalKeyring};
use haven_server::config::KeyProviderKind;

use crate::{DataDir, load_config};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Show KEK versions and how many data keys each wraps.
    Status {
        #[command(flatten)]
        dir: DataDir,
    },
    /// Add a new active KEK, re-wrap every data key under it while the
    /// server keeps serving, then retire versions nothing uses.
    Rotate {
        #[command(flatten)]
        dir: DataDir,
        /// Data keys re-wrapped per batch.
        #[arg(long, default_value_t = 500)]
        batch: u32,
        /// Keep old versions (decrypt-only) instead of retiring them.
        #[arg(long)]
        keep_old: bool,
    },
    /// Re-wrap data keys under the active KEK (after an external rotation).
    Rewrap {
        #[command(flatten)]
        dir: DataDir,
        /// Data keys re-wrapped per batch.
        #[arg(long, default_value_t = 500)]
        batch: u32,
    },
}

/// Records a key-management action (an operator action) in the audit log.
async fn key_event(dir: &Path, config: &haven_server::config::Config, action: &str, detail: String) -> Result<()> {
    let mut e = crate::audit::operator_event(action, haven_audit::Outcome::Success);
    e.detail = Some(detail);
    crate::audit::record_operator(dir, config, e).await.map(|_| ())
}

pub async fn run(cmd: KeysCommand) -> Result<()> {
    match cmd {
        KeysCommand::Status { dir } => status(&dir.data_dir).await,
        KeysCommand::Rotate { dir, batch, keep_old } => rotate(&dir.data_dir, batch, keep_old).await,
        KeysCommand::Rewrap { dir, batch } => {
            let config = load_config(&dir.data_dir)?;
            let store = haven_server::state::open_store(&dir.data_dir, &config).await?;
            let r = store.rewrap_all(batch).await?;
            key_event(
                &dir.data_dir,
                &config,
                "keys.rewrap",
                format!("{} re-wrapped, {} failed", r.rewrapped, r.failed.len()),
            )
            .await?;
            println!("re-wrapped {} data keys; {} could not be unwrapped", r.rewrapped, r.failed.len());
            Ok(())
        }
    }
}

async fn status(dir: &Path) -> Result<()> {
    let config = load_config(dir)?;
    let store = haven_server::state::open_store(dir, &config).await?;
    let usage = store.kek_usage().await?;
    if config.keys.provider == KeyProviderKind::Local {
        let ring = LocalKeyring::open(&dir.join(&config.keys.keyring))?;
        for k in ring.status()? {
            let n = usage.get(&k.version.get()).copied().unwrap_or(0);
            println!("v{:<4} {:<12} created {}  wraps {n} data keys", k.version, format!("{:?}", k.state), k.created);
        }
    } else {
        for (v, n) in usage {
            println!("v{v:<4} wraps {n} data keys");
        }
    }
    Ok(())
}

async fn rotate(dir: &Path, batch: u32, keep_old: bool) -> Result<()> {
    let config = load_config(dir)?;
    if config.keys.provider != KeyProviderKind::Local {
        bail!(
            "the environment key provider rotates outside Haven: add HAVEN_KEK_<N>, set HAVEN_KEK_ACTIVE, restart, then run `haven keys rewrap`"
        );
    }
    let ring = LocalKeyring::open(&dir.join(&config.keys.keyring))?;
    let store = haven_server::state::open_store(dir, &config).await?;
    // Recorded before the change: a rotation that cannot be audited does not happen.
    key_event(dir, &config, "keys.rotate", "adding a KEK version".into()).await?;
    let new = ring.rotate()?;
    key_event(dir, &config, "keys.rotate", format!("KEK version {new} active")).await?;
    println!("added KEK version {new} (active)");
    // Running servers notice the new keyring within a fraction of a second;
    // wait so no write under the old version is still in flight when we scan.
    tokio::time::sleep(Duration::from_secs(config.keys.rotation_grace_secs)).await;
    let report = store.rewrap_all(batch).await?;
    let detail = format!("{} re-wrapped under version {new}, {} failed", report.rewrapped, report.failed.len());
    key_event(dir, &config, "keys.rewrap", detail).await?;
    println!("re-wrapped {} data keys under version {new}", report.rewrapped);
    for (t, i, v, e) in &report.failed {
        eprintln!("warning: {t}/{i} version {v}: {e}");
    }
    if keep_old {
        return Ok(());
    }
    let usage = store.kek_usage().await?;
    for k in ring.status()? {
        if k.state != KekState::DecryptOnly {
            continue;
        }
        let n = usage.get(&k.version.get()).copied().unwrap_or(0);
        if n == 0 {
            key_event(dir, &config, "keys.retire", format!("KEK version {} retired", k.version)).await?;
            ring.retire(KekVersion::new(k.version.get())?)?;
            println!("retired KEK version {} (nothing wrapped under it)", k.version);
        } else {
            println!("kept KEK version {} ({n} data keys could not be re-wrapped)", k.version);
        }
    }
    Ok(())
}
