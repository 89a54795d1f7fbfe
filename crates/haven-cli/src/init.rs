//! `haven init`, `haven restore` and the data-directory lock.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use haven_core::{Role, Secret};
use haven_crypto::LocalKeyring;
use haven_server::config::{CONFIG_FILE, Config, KeyProviderKind, StorageLocation};

/// The file `haven init` writes the first administrator's credential to.
pub const CREDENTIAL_FILE: &str = "admin-credential.txt";

/// Writes a new file readable only by its owner.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).with_context(|| format!("cannot write {}", path.display()))
}

/// Creates the data directory (0700), config, keyring, database and the
/// first administrator. Returns the credential file's path.
pub async fn init(dir: &Path, admin_username: &str) -> Result<PathBuf> {
    if dir.join(CONFIG_FILE).exists() {
        bail!("{} is already initialised ({} exists)", dir.display(), CONFIG_FILE);
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    write_private(&dir.join(CONFIG_FILE), Config::default_file_text().as_bytes())?;
    let config = Config::load(dir)?;
    if config.keys.provider == KeyProviderKind::Local {
        LocalKeyring::create(&dir.join(&config.keys.keyring))?;
    }
    let store = haven_server::state::open_store(dir, &config).await?;
    let password = Secret::new(haven_crypto::random_token(18)?);
    let account = haven_server::accounts::create_account(
        &store,
        admin_username,
        Role::Admin,
        &password,
        config.security.password,
    )
    .await
    .context("creating the first administrator")?;
    let cred = dir.join(CREDENTIAL_FILE);
    let text = format!(
        "# Haven's first administrator. Sign in, then delete this file.\nusername = {}\npassword = {}\n",
        account.username,
        password.expose()
    );
    write_private(&cred, text.as_bytes())?;
    Ok(cred)
}

/// An exclusive lock on the data directory, held while a server runs.
pub struct DataDirLock(#[allow(dead_code)] fs::File);

/// Takes the data directory's lock, failing if a server holds it.
pub fn lock_data_dir(dir: &Path) -> Result<DataDirLock> {
    let path = dir.join("haven.lock");
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(DataDirLock(f)),
        Err(_) => bail!("{} is in use by a running Haven server", dir.display()),
    }
}

/// Restores a SQLite backup into the data directory.
pub async fn restore(dir: &Path, from: &Path, force: bool) -> Result<()> {
    let config = Config::load(dir)?;
    let StorageLocation::Sqlite(db) = config.storage_location(dir) else {
        bail!("this data directory uses PostgreSQL: restore with pg_restore (see the README)");
    };
    let _lock = lock_data_dir(dir)?;
    if !from.is_file() {
        bail!("{} is not a backup file", from.display());
    }
    if db.exists() && !force {
        bail!("{} exists; pass --force to replace it", db.display());
    }
    let tmp = db.with_extension("db.restoring");
    let _ = fs::remove_file(&tmp);
    fs::copy(from, &tmp).with_context(|| format!("cannot copy {}", from.display()))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))?;
    for suffix in ["db-wal", "db-shm"] {
        let _ = fs::remove_file(db.with_extension(suffix));
    }
    fs::rename(&tmp, &db)?;
    // Open it once: checks it is a Haven database the keyring can read.
    let store = haven_server::state::open_store(dir, &config).await?;
    let mut checked = 0u64;
    let mut after = None;
    loop {
        let page = store.list(None, after.as_ref().map(|(t, i)| (t, i)), 500).await?;
        let Some(last) = page.last() else { break };
        for (t, i, _) in &page {
            store.read(t, i).await.with_context(|| format!("restored record {t}/{i} cannot be decrypted"))?;
            checked += 1;
        }
        after = Some((last.0.clone(), last.1.clone()));
    }
    let mut e = crate::audit::operator_event("store.restore", haven_audit::Outcome::Success);
    e.detail = Some(format!("record store restored from a backup; {checked} records decrypted"));
    crate::audit::record_operator(dir, &config, e).await?;
    println!("Restored {} ({checked} records decrypted and verified).", db.display());
    Ok(())
}
