//! The `haven` command. Every subcommand but `chat` is non-interactive so
//! scripts can drive it; errors are printed with their causes and exit non-zero.

mod ask;
mod audit;
mod bench;
mod bench_agent;
mod bench_audit;
mod deid;
mod demo;
mod demo_data;
mod detect;
mod eval;
mod eval_safety;
mod init;
mod kb;
mod keys;
mod users;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use haven_server::config::Config;
use haven_server::serve::{self, ServeOptions};

/// Haven: a self-hosted, zero-trust healthcare AI agent service.
#[derive(Parser)]
#[command(name = "haven", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct DataDir {
    /// The data directory (config, keyring, database).
    #[arg(long, env = "HAVEN_DATA_DIR", value_name = "DIR")]
    data_dir: PathBuf,
}

#[derive(clap::Args, Clone)]
struct Listen {
    /// Address for the API listener (overrides `server.listen`).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Address for the metrics listener (loopback only).
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Serve plain HTTP instead of HTTPS (development only; logs a warning).
    #[arg(long)]
    insecure_http: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Create a data directory: config, keyring, database and a first admin.
    Init {
        #[command(flatten)]
        dir: DataDir,
        /// Username of the first administrator.
        #[arg(long, default_value = "admin")]
        admin_username: String,
    },
    /// Serve the API (HTTPS by default).
    Serve {
        #[command(flatten)]
        dir: DataDir,
        #[command(flatten)]
        listen: Listen,
    },
    /// Create (or reuse) a data directory with demo data and serve it.
    Demo {
        /// Data directory; a new one under the system temp dir if omitted.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        #[command(flatten)]
        listen: Listen,
        /// Load the demo data and exit without serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// Import FHIR data: bulk-export NDJSON (`Type.000.ndjson`), transaction
    /// Bundles (e.g. Synthea) and single resources; files or directories.
    /// Re-running skips files already imported.
    Import {
        #[command(flatten)]
        dir: DataDir,
        /// Files or directories to import.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Accounts: add, list, disable, reset MFA.
    User {
        #[command(subcommand)]
        command: users::UserCommand,
    },
    /// Service clients (OAuth 2.0 client credentials).
    Client {
        #[command(subcommand)]
        command: users::ClientCommand,
    },
    /// Assign a practitioner to a patient's care (a care relationship
    /// without a CareTeam, Encounter or Appointment), for a number of days.
    Assign(users::AssignArgs),
    /// Operator-issued access tokens.
    Token {
        #[command(subcommand)]
        command: users::TokenCommand,
    },
    /// Key management.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Write a consistent, still-encrypted snapshot of the store while it serves.
    Backup {
        #[command(flatten)]
        dir: DataDir,
        /// The backup file to create.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Restore a backup made by `haven backup` (the server must be stopped).
    Restore {
        #[command(flatten)]
        dir: DataDir,
        /// The backup file.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Replace an existing database.
        #[arg(long)]
        force: bool,
    },
    /// The tamper-evident audit log: verify, export, disclosures, checkpoints.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// The knowledge base the agent answers from.
    Kb {
        #[command(subcommand)]
        command: kb::KbCommand,
    },
    /// Ask the assistant one question; prints the reply as JSON (as the API returns it).
    Ask {
        #[command(flatten)]
        args: ask::AskArgs,
        /// The message.
        #[arg(value_name = "TEXT")]
        text: String,
    },
    /// Talk to the assistant in the terminal.
    Chat {
        #[command(flatten)]
        args: ask::AskArgs,
    },
    /// Measurements of the agent's parts on labelled data.
    Eval {
        #[command(subcommand)]
        command: eval::EvalCommand,
    },
    /// PHI detection and de-identification of text, JSON Lines and FHIR data.
    Deid {
        #[command(subcommand)]
        command: deid::DeidCommand,
    },
    /// Simulate a hospital's access log with labelled attacks and measure threat detection on it.
    Simulate(detect::SimulateArgs),
    /// Threat detection over an exported audit log: the alerts raised.
    Alerts(detect::OfflineArgs),
    /// Threat detection over an exported audit log: alerts correlated into incidents.
    Incidents(detect::OfflineArgs),
    /// Benchmarks that print their figures.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and the keyring; explain any error.
    Check {
        #[command(flatten)]
        dir: DataDir,
    },
    /// Print the documented default configuration.
    Default,
}

// glibc's allocator spends a sixth of a FHIR read's CPU in malloc/free
// across the runtime's threads; mimalloc's thread-local heaps do not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the configuration of a data directory, with a message naming the file.
pub(crate) fn load_config(dir: &Path) -> Result<Config> {
    Config::load(dir).context("invalid configuration")
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Init { dir, admin_username } => {
            let out = init::init(&dir.data_dir, &admin_username).await?;
            println!("Initialised {}", dir.data_dir.display());
            println!("The one-time administrator credential is in {} (mode 0600).", out.display());
            println!("Start the server with: haven serve --data-dir {}", dir.data_dir.display());
            Ok(())
        }
        Command::Serve { dir, listen } => serve_dir(&dir.data_dir, listen).await,
        Command::Ask { args, text } => ask::ask(args, text).await,
        Command::Chat { args } => ask::chat(args).await,
        Command::Demo { data_dir, listen, no_serve } => {
            let dir = demo::prepare(data_dir).await?;
            if no_serve {
                return Ok(());
            }
            serve_dir(&dir, listen).await
        }
        Command::Import { dir, paths } => import(&dir.data_dir, &paths).await,
        Command::User { command } => users::user(command).await,
        Command::Client { command } => users::client(command).await,
        Command::Token { command } => users::token(command).await,
        Command::Assign(args) => users::assign(args).await,
        Command::Keys { command } => keys::run(command).await,
        Command::Config { command } => match command {
            ConfigCommand::Check { dir } => config_check(&dir.data_dir).await,
            ConfigCommand::Default => {
                print!("{}", Config::default_file_text());
                Ok(())
            }
        },
        Command::Backup { dir, out } => {
            let config = load_config(&dir.data_dir)?;
            let store = haven_server::state::open_store(&dir.data_dir, &config).await?;
            store.backend().backup(&out).await.context("backup failed")?;
            let mut e = audit::operator_event("store.backup", haven_audit::Outcome::Success);
            e.detail = Some("encrypted copy of the record store written".into());
            audit::record_operator(&dir.data_dir, &config, e).await?;
            println!(
                "Wrote {} (ciphertext and wrapped keys only; keep the keyring backed up separately).",
                out.display()
            );
            Ok(())
        }
        Command::Restore { dir, from, force } => init::restore(&dir.data_dir, &from, force).await,
        Command::Audit { command } => audit::run(command).await,
        Command::Kb { command } => kb::run(command).await,
        Command::Eval { command } => eval::run(command).await,
        Command::Deid { command } => deid::run(command).await,
        Command::Bench { command } => bench::run(command).await,
        Command::Simulate(args) => detect::simulate_cmd(args).await,
        Command::Alerts(args) => detect::alerts_cmd(args),
        Command::Incidents(args) => detect::incidents_cmd(args),
    }
}

async fn serve_dir(dir: &Path, listen: Listen) -> Result<()> {
    let config = load_config(dir)?;
    serve::init_logging(&config.log);
    let _lock = init::lock_data_dir(dir)?;
    let opts = ServeOptions {
        listen: listen.listen,
        metrics_listen: listen.metrics_listen,
        insecure_http: listen.insecure_http,
    };
    let server = serve::start(dir, config, opts).await?;
    println!("Haven is serving {}", server.url());
    serve::shutdown_signal().await;
    server.shutdown();
    server.wait().await;
    Ok(())
}

async fn import(dir: &Path, paths: &[PathBuf]) -> Result<()> {
    use std::io::IsTerminal;
    let config = load_config(dir)?;
    let store = haven_server::state::open_store(dir, &config).await?;
    let started = std::time::Instant::now();
    // A bar only for a person watching: scripts and logs get the summary alone.
    let bar = if std::io::stderr().is_terminal() { import_bar() } else { indicatif::ProgressBar::hidden() };
    let progress = |p: &haven_server::import::ImportProgress<'_>| {
        if bar.length() != Some(p.total_bytes) {
            bar.set_length(p.total_bytes);
            // Redraws the clock and rate while one large file is being read.
            bar.enable_steady_tick(std::time::Duration::from_millis(250));
        }
        bar.set_position(p.bytes);
        // No file name: Synthea names files after (synthetic) patients.
        bar.set_message(format!("{} resources", p.resources));
    };
    let report = haven_server::import::import_paths(&store, paths, &progress).await;
    bar.finish_and_clear();
    let report = report?;
    let secs = started.elapsed().as_secs_f64();
    let mut e = audit::operator_event("fhir.import", haven_audit::Outcome::Success);
    e.detail = Some(format!(
        "{} resources from {} files ({} already imported)",
        report.total(),
        report.files_imported,
        report.files_already_done
    ));
    audit::record_operator(dir, &config, e).await?;
    println!(
        "Imported {} resources in {secs:.2} s ({:.0}/s) from {} files; {} files were already imported.",
        report.total(),
        report.total() as f64 / secs.max(1e-9),
        report.files_imported,
        report.files_already_done
    );
    for (t, n) in &report.per_type {
        println!("  {t:<24} {n}");
    }
    if report.unresolved_references > 0 {
        println!("Conditional references that matched nothing (kept as written): {}", report.unresolved_references);
    }
    if !report.skipped.is_empty() {
        println!("Skipped {}:", report.skipped.len());
        for (src, why) in &report.skipped {
            println!("  {src}: {why}");
        }
    }
    Ok(())
}

/// The import progress bar on stderr: bytes of all input files, rate, ETA.
fn import_bar() -> indicatif::ProgressBar {
    // The length is set by the first progress report, once the input is sized.
    let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    // The template is a constant; should it ever fail to parse, the default style still shows a bar.
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

async fn config_check(dir: &Path) -> Result<()> {
    let config = load_config(dir)?;
    haven_server::state::check_data_dir(dir)?;
    let keys = haven_server::state::open_key_provider(dir, &config).context("keys")?;
    let active = keys.active_version().await?;
    println!("configuration: ok ({})", dir.join(haven_server::config::CONFIG_FILE).display());
    println!("keys: ok ({} provider, active KEK version {active})", keys.name());
    match config.storage_location(dir) {
        haven_server::config::StorageLocation::Sqlite(p) => println!("storage: sqlite at {}", p.display()),
        haven_server::config::StorageLocation::Postgres(_) => println!("storage: postgres"),
    }
    println!("listen: {} (metrics: {:?})", config.server.listen, config.server.metrics_listen);
    Ok(())
}
