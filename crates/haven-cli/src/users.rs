//! `haven user ...`, `haven client add` and `haven token issue`: account
//! administration for operators with local access to the data directory.
//! Non-interactive: passwords come from files, secrets go to stdout once.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use haven_core::{ResourceId, Role, Secret};
use haven_server::accounts::{self, NewAccount};
use haven_server::config::Config;

/// Account commands.
#[derive(Subcommand)]
pub enum UserCommand {
    /// Create an account (non-interactive: the password comes from a file).
    Add {
        /// The data directory.
        #[arg(long, env = "HAVEN_DATA_DIR", value_name = "DIR")]
        data_dir: PathBuf,
        /// Username (3-64 of a-z, 0-9, '.', '_', '-', '@').
        #[arg(long)]
        username: String,
        /// Role: patient, clinician, nurse, scheduler, billing, admin, auditor.
        #[arg(long)]
        role: Role,
        /// The Patient this account belongs to (role patient).
        #[arg(long, value_name = "ID", conflicts_with = "practitioner")]
        patient: Option<String>,
        /// The Practitioner this account belongs to (clinical staff).
        #[arg(long, value_name = "ID")]
        practitioner: Option<String>,
        /// A file whose first line is the password (at least 12 characters).
        #[arg(long, value_name = "FILE")]
        password_file: PathBuf,
    },
    /// List accounts: id, username, role, links, MFA, disabled.
    List {
        /// The data directory.
        #[arg(long, env = "HAVEN_DATA_DIR", value_name = "DIR")]
        data_dir: PathBuf,
    },
    /// Disable an account and revoke its sessions.
    Disable {
        /// The data directory.
        #[arg(long, env = "HAVEN_DATA_DIR", value_name = "DIR")]
        data_dir: PathBuf,
        /// Username.
        #[arg(long)]
        username: String,
    },
    /// Remove an account's second factor (it enrols again at next sign-in) and revoke its sessions.
    ResetMfa {
        /// The data directory.
        #[arg(long, env = "HAVEN_DATA_DIR", value_name = "DIR")]
        data_dir: PathBuf,
        /// Username.
        #[arg(long)]
        username: String,
    },
}

/// Explicit care assignments.
#[derive(clap::Args)]
pub struct AssignArgs {
    /// The data directory.
    #[arg(long, env = "HAVEN_DATA_DIR", value_name = "DIR")]
    data_dir: PathBuf,
    /// The Practitioner id to assign.
    #[arg(long, value_name = "ID")]
    practitioner: String,
    /// The Patient id.
    #[arg(long, value_name = "ID")]
    patient: String,
    /// Why (at least 10 characters); kept in the audit log.
    #[arg(long)]
    reason: String,
    /// How many days the assignment lasts (1-365).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=365))]
    days: u32,
}

/// Assigns a practitioner to a patient's care (an operator action).
pub async fn assign(a: AssignArgs) -> Result<()> {
    let practitioner = ResourceId::parse(&a.practitioner).context("--practitioner")?;
    let patient = ResourceId::parse(&a.patient).context("--patient")?;
    let reason = a.reason.trim();
    if reason.chars().count() < 10 {
        bail!("--reason must be at least 10 characters");
    }
    let (store, config) = open(&a.data_dir).await?;
    let until = time::OffsetDateTime::now_utc().unix_timestamp() + i64::from(a.days) * 86_400;
    let by = crate::audit::operator().id;
    let id = haven_server::authz::record_assignment(&store, &practitioner, &patient, until, reason, &by)
        .await
        .map_err(|e| anyhow::anyhow!("cannot store the assignment: {e}"))?;
    let mut e = crate::audit::operator_event("access.assign", haven_audit::Outcome::Success);
    e.resources =
        vec![format!("{}/{id}", haven_server::authz::ASSIGNMENT_TYPE), format!("Practitioner/{practitioner}")];
    e.patients = vec![patient.as_str().to_owned()];
    e.detail = Some(haven_audit::truncate(format!("for {} days: {reason}", a.days), haven_audit::MAX_TEXT));
    crate::audit::record_operator(&a.data_dir, &config, e).await?;
    println!("assigned Practitioner/{practitioner} to Patient/{patient} for {} days ({id})", a.days);
    Ok(())
}

/// Service client commands.
#[derive(Subcommand)]
pub enum ClientCommand {
    /// Register a service client (OAuth 2.0 client credentials); prints its secret once.
    Add {
        /// The data directory.
        #[arg(long, env = "HAVEN_DATA_DIR", value_name = "DIR")]
        data_dir: PathBuf,
        /// Client id (3-64 of a-z, 0-9, '.', '_', '-', '@').
        #[arg(long)]
        name: String,
        /// SMART scopes it may be granted, e.g. "system/Patient.rs system/Observation.rs".
        #[arg(long)]
        scopes: String,
        /// Authenticate with JWTs signed by this key's private half
        /// (`private_key_jwt`, PEM: EC P-256/P-384 or RSA) instead of a secret.
        #[arg(long, value_name = "PEM_FILE")]
        public_key: Option<PathBuf>,
    },
}

/// Token commands.
#[derive(Subcommand)]
pub enum TokenCommand {
    /// Print a short-lived access token for an account (an operator action).
    Issue {
        /// The data directory.
        #[arg(long, env = "HAVEN_DATA_DIR", value_name = "DIR")]
        data_dir: PathBuf,
        /// Username (or client id).
        #[arg(long)]
        user: String,
        /// Lifetime, e.g. 900, 15m, 2h (at most 24h).
        #[arg(long, default_value = "15m")]
        ttl: String,
        /// SMART scopes bounding the token.
        #[arg(long)]
        scope: Option<String>,
    },
}

async fn open(dir: &Path) -> Result<(haven_store::Store, Config)> {
    let config = Config::load(dir).context("invalid configuration")?;
    let store = haven_server::state::open_store(dir, &config).await?;
    Ok((store, config))
}

fn parse_ttl(s: &str) -> Result<u64> {
    let (num, mult) = match s.chars().last() {
        Some('s') => (&s[..s.len() - 1], 1),
        Some('m') => (&s[..s.len() - 1], 60),
        Some('h') => (&s[..s.len() - 1], 3600),
        _ => (s, 1),
    };
    let n: u64 = num.parse().with_context(|| format!("--ttl {s:?}: expected seconds, or a number with s, m or h"))?;
    let secs = n.saturating_mul(mult);
    if secs == 0 || secs > 24 * 3600 {
        bail!("--ttl must be between 1 second and 24 hours");
    }
    Ok(secs)
}

fn id_arg(flag: &str, v: Option<String>) -> Result<Option<ResourceId>> {
    v.map(|s| ResourceId::parse(&s).with_context(|| format!("--{flag}"))).transpose()
}

async fn by_username(store: &haven_store::Store, username: &str) -> Result<accounts::Account> {
    accounts::account_by_username(store, username).await?.with_context(|| format!("no account named {username:?}"))
}

/// Records an operator action on an account.
async fn audit(dir: &Path, config: &Config, action: &str, account: &ResourceId, detail: String) -> Result<()> {
    let mut e = crate::audit::operator_event(action, haven_audit::Outcome::Success);
    e.resources = vec![format!("HavenAccount/{account}")];
    e.detail = Some(detail);
    crate::audit::record_operator(dir, config, e).await.map(|_| ())
}

/// Runs a user command.
pub async fn user(cmd: UserCommand) -> Result<()> {
    match cmd {
        UserCommand::Add { data_dir, username, role, patient, practitioner, password_file } => {
            if role == Role::Agent {
                bail!("service clients are created with `haven client add`");
            }
            let text = std::fs::read_to_string(&password_file)
                .with_context(|| format!("cannot read {}", password_file.display()))?;
            let password = Secret::new(text.lines().next().unwrap_or_default().to_owned());
            let (store, config) = open(&data_dir).await?;
            let new = NewAccount {
                username: &username,
                role,
                password: &password,
                patient: id_arg("patient", patient)?,
                practitioner: id_arg("practitioner", practitioner)?,
            };
            let a = accounts::create_linked(&store, new, config.security.password).await?;
            audit(&data_dir, &config, "admin.user.add", &a.id, format!("role {}", a.role)).await?;
            println!("created account {} ({})", a.id, a.role);
            if a.role.is_staff() {
                println!("staff accounts enrol a second factor (TOTP) at their first sign-in");
            }
            Ok(())
        }
        UserCommand::List { data_dir } => {
            let (store, _) = open(&data_dir).await?;
            println!("{:<38} {:<24} {:<10} {:<6} {:<9} link", "id", "username", "role", "mfa", "disabled");
            for a in accounts::list_accounts(&store).await? {
                let link = match (&a.patient, &a.practitioner, a.is_client) {
                    (Some(p), _, _) => format!("Patient/{p}"),
                    (_, Some(p), _) => format!("Practitioner/{p}"),
                    (_, _, true) => "service client".to_owned(),
                    _ => String::new(),
                };
                let mfa = if a.mfa_active { "yes" } else { "no" };
                println!("{:<38} {:<24} {:<10} {:<6} {:<9} {link}", a.id, a.username, a.role, mfa, a.disabled);
            }
            Ok(())
        }
        UserCommand::Disable { data_dir, username } => {
            let (store, config) = open(&data_dir).await?;
            let a = by_username(&store, &username).await?;
            let n = accounts::set_disabled(&store, &a.id, true).await?;
            audit(&data_dir, &config, "admin.user.disable", &a.id, format!("revoked {n} sessions")).await?;
            println!("disabled {}; revoked {n} sessions", a.id);
            Ok(())
        }
        UserCommand::ResetMfa { data_dir, username } => {
            let (store, config) = open(&data_dir).await?;
            let a = by_username(&store, &username).await?;
            let n = accounts::reset_mfa(&store, &a.id).await?;
            audit(&data_dir, &config, "admin.user.reset_mfa", &a.id, format!("revoked {n} sessions")).await?;
            println!("second factor removed from {}; revoked {n} sessions", a.id);
            Ok(())
        }
    }
}

/// Runs a client command.
pub async fn client(cmd: ClientCommand) -> Result<()> {
    match cmd {
        ClientCommand::Add { data_dir, name, scopes, public_key } => {
            haven_policy::parse_scopes(&scopes).context("--scopes")?;
            let (store, config) = open(&data_dir).await?;
            if let Some(path) = public_key {
                let pem = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
                let a = accounts::create_key_client(&store, &name, &scopes, &pem).await?;
                audit(&data_dir, &config, "admin.client.add", &a.id, format!("private_key_jwt; scopes {scopes}"))
                    .await?;
                println!("client_id = {}", a.username);
                eprintln!("The client authenticates with private_key_jwt; there is no secret.");
                return Ok(());
            }
            let (a, secret) = accounts::create_client(&store, &name, &scopes).await?;
            audit(&data_dir, &config, "admin.client.add", &a.id, format!("client secret; scopes {scopes}")).await?;
            println!("client_id = {}", a.username);
            println!("client_secret = {}", secret.expose());
            eprintln!("The secret is shown once; store it in the client's secret store.");
            Ok(())
        }
    }
}

/// Runs a token command.
pub async fn token(cmd: TokenCommand) -> Result<()> {
    match cmd {
        TokenCommand::Issue { data_dir, user, ttl, scope } => {
            let ttl = parse_ttl(&ttl)?;
            if let Some(s) = &scope {
                haven_policy::parse_scopes(s).context("--scope")?;
            }
            let (store, config) = open(&data_dir).await?;
            let (a, t) = accounts::operator_token(&store, &user, ttl, scope.clone()).await?;
            // An operator action, in the audit log before the token is shown
            // (if the log cannot be written, no token is printed).
            let detail = format!("{ttl}-second token{}", scope.map(|s| format!("; scope {s}")).unwrap_or_default());
            audit(&data_dir, &config, "token.issue", &a.id, detail).await?;
            eprintln!("issued a {ttl}-second token for account {} ({}) as an operator action", a.id, a.role);
            println!("{}", t.token.expose());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_parse() {
        assert_eq!(parse_ttl("15m").unwrap(), 900);
        assert_eq!(parse_ttl("2h").unwrap(), 7200);
        assert_eq!(parse_ttl("90").unwrap(), 90);
        assert!(parse_ttl("0").is_err() && parse_ttl("25h").is_err() && parse_ttl("x").is_err());
    }
}
