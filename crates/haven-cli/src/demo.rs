//! `haven demo`: a data directory with the project's own synthetic demo
//! data and demo sign-ins, ready to serve.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use haven_core::{ResourceId, ResourceType, Role, Secret};
use haven_server::config::Config;

/// The synthetic resources every demo starts with (written for Haven; no real person).
const RESOURCES: &str = include_str!("../demo/resources.json");

/// Demo sign-ins: username, role, password. For demonstrations only.
pub const DEMO_LOGINS: [(&str, Role, &str); 3] = [
    ("demo.admin", Role::Admin, "demo-admin-password"),
    ("dr.rivera", Role::Clinician, "demo-clinician-password"),
    ("maria.demo", Role::Patient, "demo-patient-password"),
];

/// Creates or reuses a demo data directory and loads the demo data.
pub async fn prepare(dir: Option<PathBuf>) -> Result<PathBuf> {
    let dir = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("haven-demo-{}", std::process::id())),
    };
    if !dir.join(haven_server::config::CONFIG_FILE).exists() {
        crate::init::init(&dir, "admin").await?;
    }
    let loaded = load(&dir).await?;
    println!("Demo data directory: {}", dir.display());
    println!("Loaded {loaded} demo resources.");
    println!("Demo sign-ins (POST /auth/login):");
    for (user, role, pw) in DEMO_LOGINS {
        println!("  {user:<12} {role:<10} password: {pw}");
    }
    Ok(dir)
}

async fn load(dir: &Path) -> Result<usize> {
    let config = Config::load(dir)?;
    let store = haven_server::state::open_store(dir, &config).await?;
    let resources: Vec<serde_json::Value> = serde_json::from_str(RESOURCES).context("demo data")?;
    for r in &resources {
        let t = r.get("resourceType").and_then(|v| v.as_str()).unwrap_or_default();
        let i = r.get("id").and_then(|v| v.as_str()).unwrap_or_default();
        let (t, i) = (ResourceType::parse(t)?, ResourceId::parse(i)?);
        // Re-running the demo rewrites the same ids: no duplicates.
        store.update(&t, &i, None, r.to_string().as_bytes(), &[]).await?;
    }
    for (user, role, pw) in DEMO_LOGINS {
        if haven_server::accounts::account_by_username(&store, user).await?.is_none() {
            let pw = Secret::new(pw.to_string());
            haven_server::accounts::create_account(&store, user, role, &pw, config.security.password).await?;
        }
    }
    Ok(resources.len())
}
