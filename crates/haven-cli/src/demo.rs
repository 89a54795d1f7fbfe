//! `haven demo`: a data directory with the project's own synthetic demo
//! data and demo sign-ins, ready to serve.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use haven_core::{ResourceId, Role, Secret};
use haven_server::config::Config;
use haven_store::{BatchItem, Precondition};

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
    let (loaded, passages) = populate(&dir).await?;
    println!("Demo data directory: {}", dir.display());
    println!("Loaded {loaded} demo resources and {} knowledge documents ({passages} passages).", DEMO_KB.len());
    println!("Demo sign-ins (POST /auth/login; staff enrol a TOTP second factor at first sign-in):");
    for (user, role, pw) in DEMO_LOGINS {
        println!("  {user:<12} {role:<10} password: {pw}");
    }
    Ok(dir)
}

/// Initialises `dir` if needed and loads the demo clinic and its knowledge
/// documents; returns the resources loaded and the knowledge base's passages.
pub async fn populate(dir: &Path) -> Result<(usize, u64)> {
    if !dir.join(haven_server::config::CONFIG_FILE).exists() {
        crate::init::init(dir, "admin").await?;
    }
    Ok((load(dir).await?, load_kb(dir).await?))
}

/// The demo clinic's own patient information, for the assistant to answer from.
const DEMO_KB: [(&str, &str); 5] = [
    ("demo-clinic-visits", include_str!("../demo/kb/clinic-visits.md")),
    ("demo-flu-vaccine", include_str!("../demo/kb/flu-vaccine.md")),
    ("demo-high-blood-pressure", include_str!("../demo/kb/high-blood-pressure.md")),
    ("demo-type-2-diabetes", include_str!("../demo/kb/type-2-diabetes.md")),
    ("demo-emergency-care", include_str!("../demo/kb/emergency-care.md")),
];

/// Ingests the demo documents (unchanged ones are skipped); returns the
/// number of passages in the knowledge base.
async fn load_kb(dir: &Path) -> Result<u64> {
    let mut docs = Vec::new();
    for (id, text) in DEMO_KB {
        let (doc, _) = haven_agent::ingest::parse(id, haven_agent::ingest::Format::Markdown, text.as_bytes())
            .map_err(|e| anyhow::anyhow!("demo document {id}: {e}"))?;
        docs.push(doc);
    }
    let kb = crate::kb::open(dir)?;
    tokio::task::spawn_blocking(move || {
        kb.ingest(&docs)?;
        Ok::<_, haven_agent::KbError>(kb.len())
    })
    .await?
    .context("loading the demo knowledge base")
}

async fn load(dir: &Path) -> Result<usize> {
    let config = Config::load(dir)?;
    let store = haven_server::state::open_store(dir, &config).await?;
    let today = time::OffsetDateTime::now_utc().date();
    let resources = crate::demo_data::demo_resources(today);
    let mut items = Vec::with_capacity(resources.len());
    for r in resources {
        // The demo data goes through the same checks as anything a client sends.
        let (rtype, obj) = haven_server::fhir::check_resource(r, None, false)
            .map_err(|e| anyhow::anyhow!("demo data is invalid: {}", e.outcome()))?;
        let id = obj.get("id").and_then(|v| v.as_str()).unwrap_or_default();
        let id = ResourceId::parse(id).context("demo resource id")?;
        let terms = haven_server::fhir::index_terms(&rtype, &obj);
        let payload = haven_server::fhir::stored_bytes(obj, &id).map_err(|e| anyhow::anyhow!("{e}"))?;
        // Re-running the demo rewrites the same ids: no duplicates.
        items.push(BatchItem { rtype, id, precondition: Precondition::None, payload: Some(payload), terms });
    }
    store.write_batch(&items).await.context("loading demo data")?;
    for (user, role, pw) in DEMO_LOGINS {
        if haven_server::accounts::account_by_username(&store, user).await?.is_none() {
            let pw = Secret::new(pw.to_string());
            // Accounts link to their FHIR records: authorization follows the links.
            let (patient, practitioner) = match role {
                Role::Patient => (Some(ResourceId::parse("demo-patient-maria")?), None),
                Role::Clinician => (None, Some(ResourceId::parse("demo-dr-rivera")?)),
                _ => (None, None),
            };
            let new = haven_server::accounts::NewAccount { username: user, role, password: &pw, patient, practitioner };
            haven_server::accounts::create_linked(&store, new, config.security.password).await?;
        }
    }
    Ok(items.len())
}
