//! `haven kb ...`: the knowledge base the agent answers from: ingest
//! Markdown, HTML, plain text and MedQuAD-style XML, list and remove sources.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use haven_agent::KnowledgeBase;

use crate::DataDir;

/// Knowledge base commands.
#[derive(Subcommand)]
pub enum KbCommand {
    /// Ingest files or directories (.md, .html, .txt, MedQuAD .xml);
    /// re-ingesting unchanged sources does nothing, changed ones are replaced.
    Add {
        #[command(flatten)]
        dir: DataDir,
        /// Files or directories.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// List the sources with their passage counts.
    List {
        #[command(flatten)]
        dir: DataDir,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a source (its id as `haven kb list` prints it).
    Remove {
        #[command(flatten)]
        dir: DataDir,
        /// The source id.
        id: String,
    },
}

/// The knowledge base of a data directory.
pub fn open(data_dir: &Path) -> Result<KnowledgeBase> {
    let path = haven_server::state::kb_dir(data_dir);
    KnowledgeBase::open(&path).with_context(|| format!("cannot open the knowledge base in {}", path.display()))
}

/// Runs a knowledge base command.
pub async fn run(command: KbCommand) -> Result<()> {
    match command {
        KbCommand::Add { dir, paths } => {
            let config = crate::load_config(&dir.data_dir)?;
            let kb = open(&dir.data_dir)?;
            let mut total = haven_agent::IngestReport::default();
            let mut skipped = 0;
            for path in &paths {
                let loaded =
                    haven_agent::ingest::load_path(path).with_context(|| format!("cannot read {}", path.display()))?;
                for (file, why) in &loaded.skipped {
                    eprintln!("skipped {}: {why}", file.display());
                }
                skipped += loaded.skipped.len();
                let kb = kb.clone();
                let r = tokio::task::spawn_blocking(move || kb.ingest(&loaded.docs)).await??;
                total.added += r.added;
                total.replaced += r.replaced;
                total.unchanged += r.unchanged;
                total.passages += r.passages;
            }
            let mut e = crate::audit::operator_event("kb.ingest", haven_audit::Outcome::Success);
            e.detail = Some(format!(
                "{} sources added, {} replaced, {} unchanged; {} passages",
                total.added, total.replaced, total.unchanged, total.passages
            ));
            crate::audit::record_operator(&dir.data_dir, &config, e).await?;
            println!(
                "Knowledge base: {} sources added, {} replaced, {} unchanged ({} passages written, {} files skipped); {} passages in all.",
                total.added,
                total.replaced,
                total.unchanged,
                total.passages,
                skipped,
                kb.len()
            );
            Ok(())
        }
        KbCommand::List { dir, json } => {
            let kb = open(&dir.data_dir)?;
            for s in kb.sources()? {
                if json {
                    println!("{}", serde_json::to_string(&s)?);
                } else {
                    println!("{:<48} {:>5}  {}", s.id, s.passages, s.title);
                }
            }
            Ok(())
        }
        KbCommand::Remove { dir, id } => {
            let config = crate::load_config(&dir.data_dir)?;
            let kb = open(&dir.data_dir)?;
            if !kb.remove(&id)? {
                anyhow::bail!("no source {id} in the knowledge base (see `haven kb list`)");
            }
            let mut e = crate::audit::operator_event("kb.remove", haven_audit::Outcome::Success);
            e.resources = vec![format!("kb:{id}")];
            crate::audit::record_operator(&dir.data_dir, &config, e).await?;
            println!("Removed {id}.");
            Ok(())
        }
    }
}
