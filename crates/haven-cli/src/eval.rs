//! `haven eval ...`: measurements of the agent's parts on labelled data.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use haven_agent::KnowledgeBase;

/// Evaluation commands.
#[derive(Subcommand)]
pub enum EvalCommand {
    /// Detection rate on attacks and blocked rate on benign texts of a JSON Lines file
    /// (`{"text": ..., "label": "attack" | "benign"}` per line; optional `source` and `kind`).
    Safety(crate::eval_safety::SafetyArgs),
    /// Retrieval on MedQuAD: index the answers of PATH (never the
    /// questions), ask every question, and print recall@1/@3/@10 and MRR
    /// of the first answer-bearing passage.
    Retrieval {
        /// MedQuAD-style XML files or directories.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Ask at most this many questions (spread evenly over all of them).
        #[arg(long)]
        limit: Option<usize>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an evaluation.
pub async fn run(command: EvalCommand) -> Result<()> {
    match command {
        EvalCommand::Safety(args) => crate::eval_safety::run(args),
        EvalCommand::Retrieval { paths, limit, json } => {
            let started = std::time::Instant::now();
            let kb = KnowledgeBase::in_memory()?;
            let mut questions = Vec::new();
            let mut docs = Vec::new();
            for p in &paths {
                let loaded =
                    haven_agent::ingest::load_path(p).with_context(|| format!("cannot read {}", p.display()))?;
                docs.extend(loaded.docs);
                questions.extend(loaded.questions);
            }
            let ingest = kb.ingest(&docs)?;
            if let Some(n) = limit.filter(|n| *n > 0 && *n < questions.len()) {
                let step = questions.len() as f64 / n as f64;
                questions = (0..n).filter_map(|i| questions.get((i as f64 * step) as usize).cloned()).collect();
            }
            let indexed = started.elapsed().as_secs_f64();
            let t = std::time::Instant::now();
            let r = haven_agent::eval::retrieval(&kb, &questions)?;
            let per_q_ms = t.elapsed().as_secs_f64() * 1e3 / r.questions.max(1) as f64;
            if json {
                let mut v = serde_json::to_value(&r)?;
                v["sources"] = docs.len().into();
                v["passages"] = ingest.passages.into();
                v["ms_per_question"] = per_q_ms.into();
                println!("{v}");
            } else {
                println!(
                    "retrieval: {} sources, {} passages indexed in {indexed:.1} s; {} held-out questions ({per_q_ms:.2} ms each)",
                    docs.len(),
                    ingest.passages,
                    r.questions
                );
                println!("  recall@1  {:.3}", r.recall_at_1);
                println!("  recall@3  {:.3}", r.recall_at_3);
                println!("  recall@10 {:.3}", r.recall_at_10);
                println!("  MRR       {:.3}", r.mrr);
            }
            Ok(())
        }
    }
}
