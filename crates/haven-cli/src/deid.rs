//! `haven deid ...`: PHI detection and de-identification of text, JSON Lines
//! and FHIR data; evaluation on labelled data and its converters; and the
//! `haven bench deid` figures.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use haven_deid::eval::{self, Evaluation, Labelled};
use haven_deid::{
    CharSpan, DeidOptions, DeidReport, Deidentifier, Detector, DetectorConfig, InMemoryVault, Operator, PhiType,
    Policy, PseudonymKey, TokenVault, char_spans, to_char_spans,
};
use serde_json::Value;

/// De-identification commands.
#[derive(Subcommand)]
pub enum DeidCommand {
    /// Find PHI: one `{"spans":[{"start","end","type","score"}]}` line per
    /// input, offsets in code points, end exclusive.
    Detect {
        #[command(flatten)]
        input: InputArgs,
        /// Drop spans scoring below this.
        #[arg(long, default_value_t = 0.5)]
        min_score: f32,
        /// Also print the rule that found each span.
        #[arg(long)]
        rules: bool,
        /// Load the patterns and dictionaries first, then print
        /// `detect_seconds=S` on stderr: the time spent reading, detecting
        /// and writing after that (how peers are timed after their models load).
        #[arg(long)]
        timing: bool,
    },
    /// De-identify under a policy (operators per type; see docs/deid.md).
    Apply(ApplyArgs),
    /// Replace every identifier with its type in brackets (`[NAME]`), or
    /// remove it with `--remove`. Needs no key.
    Redact {
        #[command(flatten)]
        input: InputArgs,
        /// Remove identifiers instead of tagging them.
        #[arg(long)]
        remove: bool,
        /// Print the counts per type (never values) on stderr.
        #[arg(long)]
        report: bool,
    },
    /// Restore `[[TYPE_...]]` tokens from a token vault file written by `apply --vault`.
    Reidentify {
        #[command(flatten)]
        input: InputArgs,
        /// The token vault file.
        #[arg(long, value_name = "FILE")]
        vault: PathBuf,
    },
    /// De-identify FHIR data (a resource, a Bundle or NDJSON) for non-production use.
    Fhir {
        /// FHIR JSON or NDJSON file (`-` for stdin).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Write here instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        policy: PolicyArgs,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Precision, recall, F1 and F2 per type on labelled JSON Lines
    /// (`{"text":...,"spans":[{"start","end","type"}]}`).
    Eval {
        /// Labelled JSON Lines files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Drop predicted spans scoring below this.
        #[arg(long, default_value_t = 0.5)]
        min_score: f32,
        /// Print the missed and spurious spans (with their text) on stderr.
        #[arg(long)]
        errors: bool,
    },
    /// Convert the Presidio-research JSON format to Haven's labelled JSON Lines.
    ConvertPresidio {
        /// The Presidio-research JSON file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Labelled JSON Lines for Synthea DocumentReference notes, derived from
    /// the Patient resources (names, birth date, address, phone) and the
    /// notes' dates.
    SyntheaLabels {
        /// DocumentReference NDJSON.
        #[arg(long, value_name = "FILE")]
        docs: PathBuf,
        /// Patient NDJSON.
        #[arg(long, value_name = "FILE")]
        patients: PathBuf,
        /// At most this many notes (spread over the file).
        #[arg(long)]
        limit: Option<usize>,
    },
}

/// Where the input comes from.
#[derive(Args)]
pub struct InputArgs {
    /// Read JSON Lines with a `text` field instead of plain text.
    #[arg(long)]
    jsonl: bool,
    /// Input files (default: stdin). Plain text is streamed in chunks.
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// The policy to apply.
#[derive(Args)]
pub struct PolicyArgs {
    /// A policy file (TOML) or a built-in name: safe-harbor, limited-data-set, llm-round-trip.
    #[arg(long, value_name = "FILE|NAME", default_value = "safe-harbor")]
    policy: String,
}

/// Where the tenant key comes from.
#[derive(Args)]
pub struct KeyArgs {
    /// A file holding 32+ random bytes, or 64+ hex digits.
    #[arg(long, value_name = "FILE", env = "HAVEN_DEID_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Derive the key from this data directory's keyring (and audit the call there).
    #[arg(long, value_name = "DIR", env = "HAVEN_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

/// `haven deid apply`.
#[derive(Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    key: KeyArgs,
    /// The patient the input is about (date shifts and surrogates follow it);
    /// a JSON Lines record's `patient` field takes precedence.
    #[arg(long, value_name = "ID")]
    patient: Option<String>,
    /// Token vault file for `tokenize` (created or extended; mode 0600; holds PHI).
    #[arg(long, value_name = "FILE")]
    vault: Option<PathBuf>,
    /// Print the counts per type (never values) on stderr.
    #[arg(long)]
    report: bool,
}

/// Runs a `haven deid` subcommand.
pub async fn run(cmd: DeidCommand) -> Result<()> {
    match cmd {
        DeidCommand::Detect { input, min_score, rules, timing } => {
            Detector::preload();
            let t = std::time::Instant::now();
            detect(&input, min_score, rules)?;
            if timing {
                eprintln!("detect_seconds={:.6}", t.elapsed().as_secs_f64());
            }
            Ok(())
        }
        DeidCommand::Apply(a) => apply(a).await,
        DeidCommand::Redact { input, remove, report } => {
            let mut p = Policy::safe_harbor();
            p.name = if remove { "redact" } else { "tag" }.into();
            p.default = if remove { Operator::Redact } else { Operator::Tag };
            p.operators.clear();
            p.rules.clear();
            let key = ephemeral_key()?;
            let de = Deidentifier::new(p, &key);
            let total = transform(&input, &|text, _| Ok(de.deidentify(text, &DeidOptions::default())?))?;
            if report {
                eprintln!("{}", serde_json::to_string(&total)?);
            }
            Ok(())
        }
        DeidCommand::Reidentify { input, vault } => {
            let v = load_vault(&vault)?;
            let mut out = BufWriter::new(std::io::stdout().lock());
            for_each_input(&input, &mut |text, record| {
                let (t, _) = haven_deid::reidentify(text, &v)?;
                write_text(&mut out, record, &t)
            })?;
            out.flush()?;
            Ok(())
        }
        DeidCommand::Fhir { file, out, policy, key } => fhir(&file, out.as_deref(), &policy, &key).await,
        DeidCommand::Eval { files, json, min_score, errors } => {
            let ev = evaluate(&files, min_score, errors)?;
            if json {
                println!("{}", eval::to_json(&ev));
            } else {
                print!("{}", eval::to_table(&ev));
            }
            Ok(())
        }
        DeidCommand::ConvertPresidio { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let v: Value = serde_json::from_str(&text).with_context(|| format!("{}: not JSON", file.display()))?;
            let mut out = BufWriter::new(std::io::stdout().lock());
            for l in eval::from_presidio(&v) {
                serde_json::to_writer(&mut out, &l)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
            Ok(())
        }
        DeidCommand::SyntheaLabels { docs, patients, limit } => synthea_labels(&docs, &patients, limit),
    }
}

fn ephemeral_key() -> Result<PseudonymKey> {
    let mut b = [0u8; 32];
    haven_crypto::random_bytes(&mut b)?;
    Ok(PseudonymKey::from_bytes(&b)?)
}

/// The tenant key: from a key file, or derived from the data directory's
/// keyring (its signing seed, through HMAC with a purpose label, so the
/// de-identification key is never the signing key itself).
fn load_key(k: &KeyArgs) -> Result<PseudonymKey> {
    if let Some(f) = &k.key_file {
        let bytes = std::fs::read(f).with_context(|| format!("cannot read key file {}", f.display()))?;
        return PseudonymKey::from_key_file(&bytes).with_context(|| format!("key file {}", f.display()));
    }
    if let Some(dir) = &k.data_dir {
        let config = crate::load_config(dir)?;
        let ring =
            haven_crypto::LocalKeyring::open(&dir.join(&config.keys.keyring)).context("cannot open the keyring")?;
        let seed = ring.signing_seed().context("cannot read the keyring")?;
        let base = PseudonymKey::from_bytes(&seed[..])?;
        return Ok(base.derive("haven-deid/tenant-key/v1"));
    }
    bail!("a key is needed: pass --key-file FILE (32+ random bytes or 64+ hex digits) or --data-dir DIR")
}

fn load_policy(p: &PolicyArgs) -> Result<Policy> {
    if let Some(b) = Policy::builtin(&p.policy) {
        return Ok(b);
    }
    let text = std::fs::read_to_string(&p.policy)
        .with_context(|| format!("{:?} is neither a built-in policy nor a readable file", p.policy))?;
    Policy::from_toml(&text).with_context(|| format!("policy {}", p.policy))
}

/// Plain text is cut into pieces of about this size at line ends, so a
/// 100 MB input never sits in memory whole.
const CHUNK: usize = 1 << 20;

/// Calls `f` on each input: each JSON Lines record (with the record), or
/// each chunk of plain text (without). Invalid UTF-8 is an error naming the byte.
fn for_each_input(input: &InputArgs, f: &mut dyn FnMut(&str, Option<&mut Value>) -> Result<()>) -> Result<()> {
    for_each(input, true, f)
}

/// [`for_each_input`] for callers that need only the text: a JSON Lines
/// record is not built as a tree (the callback gets no record).
fn for_each_text(input: &InputArgs, f: &mut dyn FnMut(&str) -> Result<()>) -> Result<()> {
    for_each(input, false, &mut |text, _| f(text))
}

/// Only the `text` field of a record, borrowed from the line where it has
/// no escapes.
#[derive(serde::Deserialize)]
struct TextOnly<'a> {
    #[serde(borrow)]
    text: std::borrow::Cow<'a, str>,
}

fn for_each(input: &InputArgs, records: bool, f: &mut dyn FnMut(&str, Option<&mut Value>) -> Result<()>) -> Result<()> {
    let sources: Vec<Option<&Path>> =
        if input.files.is_empty() { vec![None] } else { input.files.iter().map(|p| Some(p.as_path())).collect() };
    for src in sources {
        let name = src.map_or_else(|| "stdin".to_string(), |p| p.display().to_string());
        let reader: Box<dyn Read> = match src {
            None => Box::new(std::io::stdin().lock()),
            Some(p) if p == Path::new("-") => Box::new(std::io::stdin().lock()),
            Some(p) => Box::new(std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?),
        };
        let mut reader = BufReader::with_capacity(1 << 16, reader);
        if input.jsonl {
            let mut line = Vec::new();
            let mut n = 0usize;
            loop {
                line.clear();
                if reader.read_until(b'\n', &mut line)? == 0 {
                    break;
                }
                n += 1;
                let s = std::str::from_utf8(&line)
                    .map_err(|e| anyhow::anyhow!("{name}: line {n} is not valid UTF-8 (byte {})", e.valid_up_to()))?;
                if s.trim().is_empty() {
                    continue;
                }
                if !records && let Ok(r) = serde_json::from_str::<TextOnly>(s) {
                    f(&r.text, None)?;
                    continue;
                }
                // The whole record (or, for a line the fast path refused, the
                // exact reason it is refused).
                let mut v: Value = serde_json::from_str(s)
                    .map_err(|e| anyhow::anyhow!("{name}: line {n} is not JSON ({})", e.classify_str()))?;
                let text = v
                    .get("text")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| anyhow::anyhow!("{name}: line {n} has no string field \"text\""))?;
                f(&text, Some(&mut v))?;
            }
        } else {
            let mut carry: Vec<u8> = Vec::new();
            let mut buf = vec![0u8; CHUNK];
            let mut offset = 0usize;
            loop {
                let got = reader.read(&mut buf)?;
                if got > 0 {
                    carry.extend_from_slice(&buf[..got]);
                }
                let eof = got == 0;
                if !eof && carry.len() < CHUNK {
                    continue;
                }
                // Cut after the last line end (or the last space) so no
                // identifier is split; at the end, take everything.
                let cut = if eof {
                    carry.len()
                } else {
                    carry
                        .iter()
                        .rposition(|&b| b == b'\n')
                        .or_else(|| carry.iter().rposition(|&b| b == b' '))
                        .map_or(carry.len(), |p| p + 1)
                };
                let (valid, rest_start) = match std::str::from_utf8(&carry[..cut]) {
                    Ok(s) => (s, cut),
                    Err(e) if e.error_len().is_none() && !eof => {
                        // A character cut by the chunk edge: finish it next round.
                        let v = e.valid_up_to();
                        (std::str::from_utf8(&carry[..v]).unwrap_or_default(), v)
                    }
                    Err(e) => bail!("{name}: not valid UTF-8 at byte {}", offset + e.valid_up_to()),
                };
                if !valid.is_empty() {
                    f(valid, None)?;
                }
                offset += rest_start;
                carry.drain(..rest_start);
                if eof {
                    break;
                }
            }
        }
    }
    Ok(())
}

fn code_points_of(text: &str) -> usize {
    text.chars().count()
}

fn detect(input: &InputArgs, min_score: f32, rules: bool) -> Result<()> {
    let det = Detector::new(DetectorConfig { min_score });
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    // One vector of spans for every text.
    let mut found = Vec::new();
    if input.jsonl {
        for_each_text(input, &mut |text| {
            out.write_all(b"{\"spans\":[")?;
            det.detect_into(text, &mut found);
            for (k, s) in char_spans(text, &found, 0, rules).enumerate() {
                if k > 0 {
                    out.write_all(b",")?;
                }
                s.write_json(&mut out)?;
            }
            out.write_all(b"]}\n")?;
            Ok(())
        })?;
    } else {
        // One object for the whole stream, written as the chunks go by; the
        // opening is written after the first chunk proved to be UTF-8, so bad
        // input leaves no half object behind.
        let mut base = 0usize;
        let mut first = true;
        let mut opened = false;
        for_each_input(input, &mut |text, _| {
            if !opened {
                out.write_all(b"{\"spans\":[")?;
                opened = true;
            }
            det.detect_into(text, &mut found);
            for s in char_spans(text, &found, base, rules) {
                if !first {
                    out.write_all(b",")?;
                }
                first = false;
                s.write_json(&mut out)?;
            }
            base += code_points_of(text);
            Ok(())
        })?;
        if !opened {
            out.write_all(b"{\"spans\":[")?;
        }
        out.write_all(b"]}\n")?;
    }
    out.flush()?;
    Ok(())
}

fn write_text(out: &mut dyn Write, record: Option<&mut Value>, text: &str) -> Result<()> {
    match record {
        Some(v) => {
            v["text"] = Value::String(text.to_string());
            serde_json::to_writer(&mut *out, v)?;
            out.write_all(b"\n")?;
        }
        None => out.write_all(text.as_bytes())?,
    }
    Ok(())
}

type Transform<'a> = dyn Fn(&str, Option<&str>) -> Result<haven_deid::Deidentified> + 'a;

fn transform(input: &InputArgs, f: &Transform<'_>) -> Result<DeidReport> {
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut total = DeidReport::default();
    for_each_input(input, &mut |text, record| {
        let patient = record.as_ref().and_then(|r| r.get("patient")).and_then(Value::as_str).map(str::to_string);
        let d = f(text, patient.as_deref())?;
        total.add(&d.report);
        write_text(&mut out, record, &d.text)
    })?;
    out.flush()?;
    Ok(total)
}

async fn apply(a: ApplyArgs) -> Result<()> {
    let policy = load_policy(&a.policy)?;
    let key = load_key(&a.key)?;
    let de = Deidentifier::new(policy, &key);
    let vault = match &a.vault {
        Some(p) if p.exists() => load_vault(p)?,
        _ => InMemoryVault::new(),
    };
    let total = transform(&a.input, &|text, patient| {
        let opts = DeidOptions { patient_id: patient.or(a.patient.as_deref()), vault: Some(&vault), offsets: None };
        Ok(de.deidentify(text, &opts)?)
    })?;
    if let Some(p) = &a.vault {
        save_vault(p, &vault)?;
    }
    if a.report {
        eprintln!("{}", serde_json::to_string(&total)?);
    }
    audit(&a.key, "deid.apply", de.policy(), &total).await
}

/// Records the call in the data directory's audit log (counts and types,
/// never values) when the key came from one.
async fn audit(key: &KeyArgs, action: &str, policy: &Policy, report: &DeidReport) -> Result<()> {
    let Some(dir) = &key.data_dir else { return Ok(()) };
    if key.key_file.is_some() {
        return Ok(());
    }
    let config = crate::load_config(dir)?;
    let mut e = crate::audit::operator_event(action, haven_audit::Outcome::Success);
    e.detail = Some(format!("policy {}; {}", policy.name, serde_json::to_string(&report.counts)?));
    crate::audit::record_operator(dir, &config, e).await?;
    Ok(())
}

fn load_vault(p: &Path) -> Result<InMemoryVault> {
    let text = std::fs::read_to_string(p).with_context(|| format!("cannot read vault {}", p.display()))?;
    let v: Value = serde_json::from_str(&text).with_context(|| format!("vault {}: not JSON", p.display()))?;
    let vault = InMemoryVault::new();
    for e in v.get("tokens").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
        let (Some(t), Some(k), Some(val)) = (
            e.get("token").and_then(Value::as_str),
            e.get("type").and_then(Value::as_str),
            e.get("value").and_then(Value::as_str),
        ) else {
            bail!("vault {}: malformed entry", p.display())
        };
        let kind: PhiType = k.parse()?;
        vault.store(t, kind, val)?;
    }
    Ok(vault)
}

fn save_vault(p: &Path, vault: &InMemoryVault) -> Result<()> {
    let tokens: Vec<Value> =
        vault.entries().into_iter().map(|(t, k, v)| serde_json::json!({"token": t, "type": k, "value": v})).collect();
    let body = serde_json::to_vec_pretty(&serde_json::json!({ "tokens": tokens }))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(p).with_context(|| format!("cannot write vault {}", p.display()))?;
    f.write_all(&body)?;
    Ok(())
}

async fn fhir(file: &Path, out: Option<&Path>, policy: &PolicyArgs, key: &KeyArgs) -> Result<()> {
    let de = Deidentifier::new(load_policy(policy)?, &load_key(key)?);
    let reader: Box<dyn Read> = if file == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?)
    };
    let mut reader = BufReader::new(reader);
    let mut w: Box<dyn Write> = match out {
        Some(p) => Box::new(BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let mut total = DeidReport::default();
    // NDJSON (one resource a line) or one JSON document: peek at the first line.
    let mut first = String::new();
    reader.read_line(&mut first)?;
    let trimmed = first.trim();
    let one_line_resource = trimmed.starts_with('{') && serde_json::from_str::<Value>(trimmed).is_ok();
    if one_line_resource {
        let mut line = first;
        let mut n = 0;
        loop {
            n += 1;
            if !line.trim().is_empty() {
                let mut v: Value = serde_json::from_str(line.trim())
                    .map_err(|e| anyhow::anyhow!("line {n}: not JSON ({})", e.classify_str()))?;
                total.add(&haven_deid::fhir::deidentify_resource(&de, &mut v, &DeidOptions::default())?);
                serde_json::to_writer(&mut w, &v)?;
                w.write_all(b"\n")?;
            }
            line = String::new();
            if reader.read_line(&mut line)? == 0 {
                break;
            }
        }
    } else {
        let mut rest = first;
        reader.read_to_string(&mut rest)?;
        let mut v: Value = serde_json::from_str(&rest)
            .map_err(|e| anyhow::anyhow!("{}: not JSON ({})", file.display(), e.classify_str()))?;
        total.add(&haven_deid::fhir::deidentify_resource(&de, &mut v, &DeidOptions::default())?);
        serde_json::to_writer_pretty(&mut w, &v)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    eprintln!("{}", serde_json::to_string(&total)?);
    audit(key, "deid.fhir", de.policy(), &total).await
}

trait ClassifyStr {
    fn classify_str(&self) -> &'static str;
}

impl ClassifyStr for serde_json::Error {
    /// The kind of JSON error, without the input text serde may quote.
    fn classify_str(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "unexpected end",
        }
    }
}

fn read_labelled(path: &Path) -> Result<Vec<Labelled>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let l: Labelled = serde_json::from_str(line)
            .map_err(|e| anyhow::anyhow!("{} line {}: {}", path.display(), i + 1, e.classify_str()))?;
        out.push(l);
    }
    Ok(out)
}

fn evaluate(files: &[PathBuf], min_score: f32, errors: bool) -> Result<Evaluation> {
    let det = Detector::new(DetectorConfig { min_score });
    let mut ev = Evaluation::default();
    for f in files {
        for l in read_labelled(f)? {
            let pred = to_char_spans(&l.text, &det.detect(&l.text), 0, errors);
            if errors {
                print_errors(&l.text, &l.spans, &pred);
            }
            eval::score_document(&mut ev, &l.text, &l.spans, &pred);
        }
    }
    Ok(ev)
}

/// Missed and spurious spans with their text, for developers on synthetic
/// or public data only (this prints PHI).
fn print_errors(text: &str, gold: &[CharSpan], pred: &[CharSpan]) {
    let chars: Vec<char> = text.chars().collect();
    let show = |s: &CharSpan| -> String {
        let a = s.start.saturating_sub(25);
        let b = (s.end + 25).min(chars.len());
        let ctx: String = chars[a..b].iter().collect::<String>().replace('\n', "⏎");
        let v: String = chars[s.start.min(chars.len())..s.end.min(chars.len())].iter().collect();
        format!("{:<14} {:<30} | {}", s.kind.as_str(), format!("{v:?}"), ctx)
    };
    for g in gold {
        if !pred.iter().any(|p| p.start < g.end && g.start < p.end) {
            eprintln!("MISS {}", show(g));
        }
    }
    for p in pred {
        if !gold.iter().any(|g| p.start < g.end && g.start < p.end) {
            eprintln!("FP   {} [{}]", show(p), p.rule.as_deref().unwrap_or(""));
        }
    }
}

fn synthea_labels(docs: &Path, patients: &Path, limit: Option<usize>) -> Result<()> {
    let mut pats = BTreeMap::new();
    let ptext = std::fs::read_to_string(patients).with_context(|| format!("cannot read {}", patients.display()))?;
    for line in ptext.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value =
            serde_json::from_str(line).map_err(|e| anyhow::anyhow!("{}: {}", patients.display(), e.classify_str()))?;
        if let Some(id) = v.get("id").and_then(Value::as_str) {
            pats.insert(id.to_string(), v);
        }
    }
    let dtext = std::fs::read_to_string(docs).with_context(|| format!("cannot read {}", docs.display()))?;
    let lines: Vec<&str> = dtext.lines().filter(|l| !l.trim().is_empty()).collect();
    let step = limit.map_or(1, |n| (lines.len() / n.max(1)).max(1));
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut written = 0;
    for line in lines.iter().step_by(step) {
        if limit.is_some_and(|n| written >= n) {
            break;
        }
        let v: Value =
            serde_json::from_str(line).map_err(|e| anyhow::anyhow!("{}: {}", docs.display(), e.classify_str()))?;
        if let Some(l) = eval::synthea_labels(&v, &pats) {
            serde_json::to_writer(&mut out, &l)?;
            out.write_all(b"\n")?;
            written += 1;
        }
    }
    out.flush()?;
    Ok(())
}

// ---------------------------------------------------------------------------
// haven bench deid

/// `haven bench deid`: single-threaded throughput on notes, and on
/// adversarial inputs of the same size (the ratio shows linear time).
pub fn bench(data: &Path, json: bool) -> Result<()> {
    let corpus = bench_corpus(data);
    let bytes: usize = corpus.iter().map(String::len).sum();
    let det = Detector::default();
    Detector::preload();
    let key = ephemeral_key()?;
    let de = Deidentifier::new(Policy::safe_harbor(), &key);
    // The first pass over the notes is timed on its own: it is what a
    // process's first texts cost (words not yet in the per-thread cache,
    // cold processor caches).
    let t = Instant::now();
    std::hint::black_box(corpus.iter().map(|t| det.detect(t).len()).sum::<usize>());
    let first_s = t.elapsed().as_secs_f64();
    let time = |f: &mut dyn FnMut()| -> f64 {
        f();
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            f();
            best = best.min(t.elapsed().as_secs_f64());
        }
        best
    };
    let mut spans = 0usize;
    let detect_s = time(&mut || spans = corpus.iter().map(|t| det.detect(t).len()).sum());
    let deid_s = time(&mut || {
        for t in &corpus {
            let _ = de.deidentify(t, &DeidOptions::default());
        }
    });
    let normal: String = corpus.concat();
    let n = normal.len().max(1);
    let adversarial = [
        ("digits", "7".repeat(n)),
        ("titles", "Dr. ".repeat(n / 4)),
        ("names", "John Smith ".repeat(n / 11)),
        ("dates", "1/1/1 ".repeat(n / 6)),
        ("no spaces", "a".repeat(n)),
        ("labels", "MRN: MRN: ".repeat(n / 10)),
        ("addresses", "12 Main Street ".repeat(n / 15)),
        ("name lists", "Marrero, Jones and Brown were ".repeat(n / 30)),
        ("address blocks", "Gyala Antall\n24 Clarke Avenue\nASKER 1386\n".repeat(n / 41)),
        // A name addressed at a sentence's start: the words after the comma
        // are read, never the rest of the text.
        ("addressed", "Kuba, thanks for that. ".repeat(n / 23)),
    ];
    let normal_s = time(&mut || {
        let _ = det.detect(&normal);
    });
    let mut adv = Vec::new();
    for (name, text) in &adversarial {
        let s = time(&mut || {
            let _ = det.detect(text);
        });
        adv.push((*name, text.len(), s, (s / text.len() as f64) / (normal_s / n as f64)));
    }
    let mbps = |b: usize, s: f64| b as f64 / s / 1e6;
    if json {
        let v = serde_json::json!({
            "notes": corpus.len(), "bytes": bytes, "spans": spans,
            "detect_mb_per_s": mbps(bytes, detect_s), "detect_notes_per_s": corpus.len() as f64 / detect_s,
            "first_pass_mb_per_s": mbps(bytes, first_s),
            "deidentify_mb_per_s": mbps(bytes, deid_s),
            "adversarial": adv.iter().map(|(name, len, s, ratio)| serde_json::json!({"input": name, "bytes": len, "mb_per_s": mbps(*len, *s), "time_per_byte_vs_notes": ratio})).collect::<Vec<_>>(),
        });
        println!("{v}");
    } else {
        println!("corpus: {} notes, {:.1} MB, {} spans (one thread)", corpus.len(), bytes as f64 / 1e6, spans);
        println!("detect        {:>8.1} MB/s {:>10.0} notes/s", mbps(bytes, detect_s), corpus.len() as f64 / detect_s);
        println!("  first pass  {:>8.1} MB/s (a process's first texts)", mbps(bytes, first_s));
        println!("de-identify   {:>8.1} MB/s {:>10.0} notes/s", mbps(bytes, deid_s), corpus.len() as f64 / deid_s);
        println!("adversarial input (same size as the corpus); time per byte relative to the notes:");
        for (name, len, s, ratio) in adv {
            println!("  {name:<15} {:>8.1} MB/s  x{ratio:.2}  ({:.1} MB)", mbps(len, s), len as f64 / 1e6);
        }
    }
    Ok(())
}

/// The notes of the MTS-Dialog and ACI-Bench CSVs and the Synthea notes, or
/// (without them) the crate's own labelled notes.
fn bench_corpus(data: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let docs = data.join("fhir/synthea-10/DocumentReference.000.ndjson");
    if let Ok(t) = std::fs::read_to_string(&docs) {
        use base64::Engine as _;
        for line in t.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
            if let Some(d) = v.pointer("/content/0/attachment/data").and_then(Value::as_str)
                && let Ok(b) = base64::engine::general_purpose::STANDARD.decode(d)
                && let Ok(s) = String::from_utf8(b)
            {
                out.push(s);
            }
        }
    }
    for f in ["notes/mts-dialog/MTS-Dialog-TrainingSet.csv", "notes/aci-bench/train.csv"] {
        if let Ok(t) = std::fs::read_to_string(data.join(f)) {
            // Records split at blank lines keep the corpus note-sized without a CSV parser.
            out.extend(t.split("\n\n").filter(|s| s.len() > 200).map(str::to_string));
        }
    }
    if out.is_empty() {
        out.extend(
            haven_deid::eval::CLINICAL_NOTES
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter_map(|v| v["text"].as_str().map(str::to_string)),
        );
    }
    out
}
