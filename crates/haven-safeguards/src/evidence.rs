//! Evidence check: is each sentence of a reply supported by the source
//! span(s) it cites?
//!
//! A sentence is supported when (1) its IDF-weighted word overlap with the
//! spans reaches [`EvidenceConfig::min_overlap`], (2) every number it states
//! (with its unit: doses, percentages, ranges, durations) is in a span,
//! (3) every negation it states is in a span, and it does not drop a
//! negation that the best-matching span sentence has, and (4) every drug or
//! condition name it mentions is in a span. Comparisons are on normalised
//! text (case, accents, `500mg` = `500 mg` = `0.5 g`, `two` = `2`).
//!
//! The default IDF table comes from document frequencies of MedQuAD
//! answers (`data/idf.tsv`); callers can pass their own knowledge base's.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::check::{Check, Verdict};
use crate::normalize::normalize;

static IDF_TSV: &str = include_str!("../data/idf.tsv");
static TERMS_TXT: &str = include_str!("../data/medical_terms.txt");

static DEFAULT_IDF: LazyLock<Idf> = LazyLock::new(|| Idf::from_tsv(IDF_TSV));
static TERMS: LazyLock<Terms> = LazyLock::new(|| Terms::from_list(TERMS_TXT));

/// Inverse document frequencies: rare words weigh more than common ones.
#[derive(Clone)]
pub struct Idf {
    documents: f32,
    frequency: HashMap<String, u32>,
}

impl std::fmt::Debug for Idf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idf").field("documents", &self.documents).field("words", &self.frequency.len()).finish()
    }
}

impl Idf {
    /// Builds a table from `# documents\tN` and `word\tcount` lines (the format
    /// of `data/idf.tsv`); malformed lines are skipped.
    pub fn from_tsv(text: &str) -> Self {
        let mut documents = 1.0;
        let mut frequency = HashMap::new();
        for line in text.lines() {
            let mut parts = line.split('\t');
            let (Some(word), Some(n)) = (parts.next(), parts.next()) else { continue };
            let Ok(n) = n.trim().parse::<u32>() else { continue };
            if word == "# documents" {
                documents = n.max(1) as f32;
            } else if !word.starts_with('#') {
                frequency.insert(word.to_owned(), n);
            }
        }
        Idf { documents, frequency }
    }

    /// Builds a table from documents (for example a knowledge base's passages).
    pub fn from_documents<'a>(docs: impl IntoIterator<Item = &'a str>) -> Self {
        let mut documents = 0usize;
        let mut frequency: HashMap<String, u32> = HashMap::new();
        for doc in docs {
            documents += 1;
            let unique: HashSet<String> = tokens(doc).into_iter().collect();
            for w in unique {
                *frequency.entry(w).or_default() += 1;
            }
        }
        Idf { documents: documents.max(1) as f32, frequency }
    }

    /// The embedded default table.
    pub fn embedded() -> &'static Idf {
        &DEFAULT_IDF
    }

    /// True when the table has counted `word` (a correctly spelt word of the corpus).
    pub fn knows(&self, word: &str) -> bool {
        self.frequency.contains_key(word)
    }

    /// The weight of `word`: `ln((N + 1) / (df + 1)) + 1`; an unknown word counts as rare (df = 0).
    pub fn weight(&self, word: &str) -> f32 {
        let df = self.frequency.get(word).copied().unwrap_or(0) as f32;
        ((self.documents + 1.0) / (df + 1.0)).ln() + 1.0
    }
}

/// One sentence of a reply with the text of the span(s) it cites.
#[derive(Clone, Copy)]
pub struct CitedSentence<'a> {
    /// The reply sentence.
    pub sentence: &'a str,
    /// The cited source spans, as plain text.
    pub spans: &'a [&'a str],
}

/// Why a sentence is not supported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unsupported {
    /// The sentence cites no span (or only empty ones).
    NoSource,
    /// Too few of its (weighted) words are in the spans.
    LowOverlap,
    /// A number or quantity it states is not in the spans.
    NumberMissing,
    /// A negation it states is not in the spans.
    NegationMissing,
    /// The best-matching span sentence is negated and the reply sentence is not.
    NegationDropped,
    /// A drug or condition name it mentions is not in the spans.
    TermMissing,
}

impl Unsupported {
    /// The reason's name as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Unsupported::NoSource => "no_source",
            Unsupported::LowOverlap => "low_overlap",
            Unsupported::NumberMissing => "number_missing",
            Unsupported::NegationMissing => "negation_missing",
            Unsupported::NegationDropped => "negation_dropped",
            Unsupported::TermMissing => "term_missing",
        }
    }
}

/// The verdict on one sentence. Never holds text from the reply or the spans.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SentenceVerdict {
    /// The sentence's position in the input.
    pub index: usize,
    /// True when every requirement holds.
    pub supported: bool,
    /// The IDF-weighted overlap in `0..=1`.
    pub overlap: f32,
    /// Every requirement that fails (empty when supported).
    pub reasons: Vec<Unsupported>,
}

/// Settings of the evidence check.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvidenceConfig {
    /// Least IDF-weighted overlap for support.
    pub min_overlap: f32,
}

impl Default for EvidenceConfig {
    /// An overlap of at least 0.6.
    fn default() -> Self {
        EvidenceConfig { min_overlap: 0.6 }
    }
}

/// The verdicts on a whole reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvidenceReport {
    /// One verdict per input sentence, in order.
    pub sentences: Vec<SentenceVerdict>,
}

impl EvidenceReport {
    /// Indices of the unsupported sentences, for the caller to remove or mark.
    pub fn unsupported(&self) -> impl Iterator<Item = usize> + '_ {
        self.sentences.iter().filter(|s| !s.supported).map(|s| s.index)
    }

    /// The report as the pipeline's shared result type, named `evidence`:
    /// `pass` when every sentence is supported, `block` when none is, else `flag`.
    /// The score is the share of unsupported sentences.
    pub fn check(&self) -> Check {
        let total = self.sentences.len();
        let bad = self.unsupported().count();
        let score = if total == 0 { 0.0 } else { bad as f32 / total as f32 };
        let verdict = match bad {
            0 => Verdict::Pass,
            n if n == total => Verdict::Block,
            _ => Verdict::Flag,
        };
        Check::new("evidence", verdict, score, format!("{bad} of {total} sentences unsupported by their cited sources"))
    }
}

/// Checks every sentence against its spans with the embedded IDF table and default settings.
pub fn check_reply(sentences: &[CitedSentence<'_>]) -> EvidenceReport {
    check_reply_with(sentences, Idf::embedded(), &EvidenceConfig::default())
}

/// Checks every sentence against its spans.
pub fn check_reply_with(sentences: &[CitedSentence<'_>], idf: &Idf, config: &EvidenceConfig) -> EvidenceReport {
    let sentences = sentences.iter().enumerate().map(|(i, s)| check_sentence(i, s, idf, config)).collect();
    EvidenceReport { sentences }
}

fn check_sentence(index: usize, cited: &CitedSentence<'_>, idf: &Idf, config: &EvidenceConfig) -> SentenceVerdict {
    let spans: Vec<&str> = cited.spans.iter().copied().filter(|s| !s.trim().is_empty()).collect();
    if spans.is_empty() {
        return SentenceVerdict { index, supported: false, overlap: 0.0, reasons: vec![Unsupported::NoSource] };
    }
    let sentence_tokens = tokens(cited.sentence);
    let span_text = spans.join("\n");
    let span_tokens = tokens(&span_text);
    let span_stems: HashSet<String> = span_tokens.iter().map(|t| stem(t)).collect();

    let overlap = weighted_overlap(&sentence_tokens, &span_stems, idf);
    let mut reasons = Vec::new();
    if overlap < config.min_overlap {
        reasons.push(Unsupported::LowOverlap);
    }

    let span_quantities = quantities(&span_tokens);
    if quantities(&sentence_tokens).iter().any(|q| !span_quantities.iter().any(|s| s.supports(q))) {
        reasons.push(Unsupported::NumberMissing);
    }

    let sentence_negations = negations(&sentence_tokens);
    let span_negations = negations(&span_tokens);
    if sentence_negations.iter().any(|n| !span_negations.contains(n)) {
        reasons.push(Unsupported::NegationMissing);
    }
    if sentence_negations.is_empty() {
        // The span sentence this one paraphrases: if it is negated, so must this be.
        let best = spans
            .iter()
            .flat_map(|s| split_sentences(s))
            .map(|s| {
                let t = tokens(s);
                let stems: HashSet<String> = t.iter().map(|w| stem(w)).collect();
                (weighted_overlap(&sentence_tokens, &stems, idf), t)
            })
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((score, t)) = best
            && score >= config.min_overlap
            && !negations(&t).is_empty()
        {
            reasons.push(Unsupported::NegationDropped);
        }
    }

    let span_terms = TERMS.find(&span_tokens);
    if TERMS.find(&sentence_tokens).iter().any(|t| !span_terms.contains(t)) {
        reasons.push(Unsupported::TermMissing);
    }

    SentenceVerdict { index, supported: reasons.is_empty(), overlap, reasons }
}

/// Splits plain text into sentences at `.`, `!`, `?` and line breaks (not inside numbers).
pub fn split_sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let end = match b {
            b'.' => !(i > 0 && bytes[i - 1].is_ascii_digit() && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)),
            b'!' | b'?' | b'\n' => true,
            _ => false,
        };
        if end {
            let s = text[start..=i].trim();
            if !s.is_empty() {
                out.push(s);
            }
            start = i + 1;
        }
    }
    let s = text[start..].trim();
    if !s.is_empty() {
        out.push(s);
    }
    out
}

/// Lower-case folded words; numbers keep decimal points and lose thousands
/// separators; `%` is a word; apostrophes are dropped ("don't" → "dont");
/// digits are split from letters ("500mg" → "500", "mg").
fn tokens(text: &str) -> Vec<String> {
    let folded = normalize(text).text;
    let chars: Vec<char> = folded.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        let digit_around = prev.is_some_and(|p| p.is_ascii_digit()) && next.is_some_and(|n| n.is_ascii_digit());
        if c.is_alphanumeric() {
            if let Some(last) = cur.chars().last()
                && last.is_ascii_digit() != c.is_ascii_digit()
                && last != '.'
            {
                out.push(std::mem::take(&mut cur));
            }
            cur.push(c);
        } else if c == '.' && digit_around {
            cur.push(c);
        } else if c == ','
            && digit_around
            && chars.get(i + 1..i + 4).is_some_and(|s| s.iter().all(char::is_ascii_digit))
        {
            // A thousands separator: "1,000".
        } else if c == '\'' && prev.is_some_and(char::is_alphanumeric) && next.is_some_and(char::is_alphanumeric) {
        } else {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            if c == '%' {
                out.push("%".to_owned());
            } else if matches!(c, '-' | '\u{2013}' | '\u{2014}') {
                out.push("-".to_owned());
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been", "before", "being",
    "but", "by", "can", "could", "did", "do", "does", "each", "for", "from", "had", "has", "have", "he", "her", "his",
    "how", "i", "if", "in", "into", "is", "it", "its", "may", "might", "more", "most", "much", "must", "my", "of",
    "on", "or", "other", "our", "she", "should", "so", "some", "such", "than", "that", "the", "their", "them", "then",
    "there", "these", "they", "this", "those", "to", "up", "us", "was", "we", "were", "what", "when", "which", "while",
    "who", "will", "with", "would", "you", "your", "-",
];

/// A light stem: plural and common verb endings off, so "tablets" meets "tablet".
fn stem(word: &str) -> String {
    let w = word;
    for suffix in ["ies", "ing", "ed", "es", "s"] {
        if let Some(base) = w.strip_suffix(suffix)
            && base.len() >= 3
            && !w.ends_with("ss")
        {
            return if suffix == "ies" { format!("{base}y") } else { base.to_owned() };
        }
    }
    w.to_owned()
}

fn weighted_overlap(sentence: &[String], span_stems: &HashSet<String>, idf: &Idf) -> f32 {
    let mut seen = HashSet::new();
    let (mut have, mut total) = (0.0f32, 0.0f32);
    for t in sentence {
        // Numbers, units and negations have their own, stricter checks.
        if STOPWORDS.contains(&t.as_str())
            || NEGATION_WORDS.iter().any(|(w, _)| w == t)
            || number_value(t).is_some()
            || unit(t).is_some()
            || !seen.insert(t.as_str())
        {
            continue;
        }
        let w = idf.weight(t);
        total += w;
        if span_stems.contains(&stem(t)) {
            have += w;
        }
    }
    if total == 0.0 { 1.0 } else { have / total }
}

/// Negation words and the class they compare as.
const NEGATION_WORDS: &[(&str, &str)] = &[
    ("aint", "not"),
    ("arent", "not"),
    ("cannot", "not"),
    ("cant", "not"),
    ("couldnt", "not"),
    ("didnt", "not"),
    ("doesnt", "not"),
    ("dont", "not"),
    ("hadnt", "not"),
    ("hasnt", "not"),
    ("havent", "not"),
    ("isnt", "not"),
    ("mustnt", "not"),
    ("neither", "no"),
    ("never", "never"),
    ("no", "no"),
    ("none", "no"),
    ("nor", "no"),
    ("not", "not"),
    ("nothing", "no"),
    ("shouldnt", "not"),
    ("wasnt", "not"),
    ("werent", "not"),
    ("without", "without"),
    ("wont", "not"),
    ("wouldnt", "not"),
];

fn negations(tokens: &[String]) -> HashSet<&'static str> {
    tokens.iter().filter_map(|t| NEGATION_WORDS.iter().find(|(w, _)| w == t).map(|(_, class)| *class)).collect()
}

/// A stated quantity: a value or range with its unit (canonical).
#[derive(Clone, Debug, PartialEq)]
struct Quantity {
    low: f64,
    high: f64,
    unit: Option<&'static str>,
}

impl Quantity {
    /// A span quantity supports a sentence quantity with the same values and
    /// unit; a sentence number with no unit needs only the value; a bare span
    /// number has the unit of the sentence's only if they agree on the value.
    fn supports(&self, q: &Quantity) -> bool {
        let same = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0);
        let values = same(self.low, q.low) && same(self.high, q.high);
        values && (q.unit.is_none() || self.unit.is_none() || self.unit == q.unit)
    }
}

/// A unit word → (canonical unit, factor to it).
fn unit(word: &str) -> Option<(&'static str, f64)> {
    Some(match word {
        "mg" | "milligram" | "milligrams" => ("mg", 1.0),
        "g" | "gram" | "grams" | "gm" => ("mg", 1000.0),
        "mcg" | "ug" | "microgram" | "micrograms" => ("mg", 0.001),
        "kg" | "kilogram" | "kilograms" => ("kg", 1.0),
        "lb" | "lbs" | "pound" | "pounds" => ("lb", 1.0),
        "ml" | "milliliter" | "milliliters" | "millilitre" | "millilitres" | "cc" => ("ml", 1.0),
        "l" | "liter" | "liters" | "litre" | "litres" => ("ml", 1000.0),
        "%" | "percent" | "per cent" => ("%", 1.0),
        "unit" | "units" | "u" => ("unit", 1.0),
        "iu" => ("iu", 1.0),
        "mmol" => ("mmol", 1.0),
        "meq" => ("meq", 1.0),
        "second" | "seconds" | "sec" | "secs" => ("s", 1.0),
        "minute" | "minutes" | "min" | "mins" => ("s", 60.0),
        "hour" | "hours" | "hr" | "hrs" | "h" => ("s", 3600.0),
        "day" | "days" => ("day", 1.0),
        "week" | "weeks" | "wk" | "wks" => ("day", 7.0),
        "month" | "months" => ("month", 1.0),
        "year" | "years" | "yr" | "yrs" => ("month", 12.0),
        "time" | "times" => ("time", 1.0),
        "tablet" | "tablets" | "tab" | "tabs" | "pill" | "pills" | "capsule" | "capsules" | "caps" => ("tablet", 1.0),
        "dose" | "doses" => ("dose", 1.0),
        "drop" | "drops" => ("drop", 1.0),
        "puff" | "puffs" => ("puff", 1.0),
        "f" | "fahrenheit" => ("f", 1.0),
        "c" | "celsius" => ("c", 1.0),
        "mmhg" => ("mmhg", 1.0),
        "bpm" => ("bpm", 1.0),
        _ => return None,
    })
}

fn number_value(word: &str) -> Option<f64> {
    let small =
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"];
    if let Some(i) = small.iter().position(|w| *w == word) {
        return Some(i as f64);
    }
    if word.starts_with(|c: char| c.is_ascii_digit()) {
        return word.parse::<f64>().ok().filter(|v| v.is_finite());
    }
    None
}

/// Quantities in `tokens`: `N [unit]`, `N - M [unit]` and `N to M [unit]`.
fn quantities(tokens: &[String]) -> Vec<Quantity> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let Some(low) = number_value(&tokens[i]) else {
            i += 1;
            continue;
        };
        let mut j = i + 1;
        let mut high = low;
        if let (Some(sep), Some(next)) = (tokens.get(j), tokens.get(j + 1))
            && matches!(sep.as_str(), "-" | "to")
            && let Some(h) = number_value(next)
        {
            high = h;
            j += 2;
        }
        // A unit may follow the number, or each end of a range ("1 g to 2 g").
        let u = tokens.get(j).and_then(|w| unit(w));
        if u.is_some() {
            j += 1;
        }
        let (unit_name, factor) = match u {
            Some((name, f)) => (Some(name), f),
            None => (None, 1.0),
        };
        // "one of", "no one", "a or b": number words without a unit are not quantities.
        let spelled = !tokens[i].starts_with(|c: char| c.is_ascii_digit());
        if !(spelled && unit_name.is_none()) {
            out.push(Quantity { low: low * factor, high: high * factor, unit: unit_name });
            if high != low {
                // Each end of a span range also stands on its own.
                out.push(Quantity { low: low * factor, high: low * factor, unit: unit_name });
                out.push(Quantity { low: high * factor, high: high * factor, unit: unit_name });
            }
        }
        i = j.max(i + 1);
    }
    out
}

/// The drug and condition lexicon, plus drug-name endings.
struct Terms {
    /// Multi-word terms as word lists, longest first.
    phrases: Vec<Vec<String>>,
}

/// Endings of generic drug names (ACE inhibitors, beta blockers, statins, ...).
const DRUG_ENDINGS: &[&str] = &[
    "pril",
    "olol",
    "sartan",
    "statin",
    "dipine",
    "prazole",
    "tidine",
    "floxacin",
    "cycline",
    "mycin",
    "cillin",
    "azole",
    "gliptin",
    "gliflozin",
    "glutide",
    "mab",
    "nib",
    "vir",
    "pam",
    "lam",
    "setron",
    "triptan",
    "parin",
    "xaban",
    "codone",
    "morphone",
    "profen",
    "fenac",
    "oxetine",
    "triptyline",
    "azepam",
    "afil",
    "asone",
    "olone",
    "thiazide",
    "semide",
    "dronate",
    "tinib",
    "lukast",
    "terol",
    "sone",
];

impl Terms {
    fn from_list(text: &str) -> Self {
        let mut phrases: Vec<Vec<String>> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(tokens)
            .filter(|t| !t.is_empty())
            .collect();
        phrases.sort_by_key(|p| std::cmp::Reverse(p.len()));
        Terms { phrases }
    }

    /// The terms in `tokens` (each as its words joined by spaces).
    fn find(&self, tokens: &[String]) -> HashSet<String> {
        let mut out = HashSet::new();
        let mut covered = vec![false; tokens.len()];
        // Where each word occurs: a phrase is tried only where its first
        // word is (the same phrases, in the same order, as a full scan).
        let mut at: HashMap<&str, Vec<usize>> = HashMap::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            at.entry(t.as_str()).or_default().push(i);
        }
        for p in &self.phrases {
            let Some(starts) = at.get(p[0].as_str()) else { continue };
            for &i in starts {
                if i + p.len() <= tokens.len()
                    && covered[i..i + p.len()].iter().all(|c| !c)
                    && tokens[i..i + p.len()] == p[..]
                {
                    covered[i..i + p.len()].iter_mut().for_each(|c| *c = true);
                    out.insert(p.join(" "));
                }
            }
        }
        for (i, t) in tokens.iter().enumerate() {
            if !covered[i] && t.len() >= 7 && DRUG_ENDINGS.iter().any(|e| t.ends_with(e)) {
                out.insert(t.clone());
            }
        }
        out
    }
}

/// True when `text` names a drug or condition of the lexicon (or a drug by its ending).
pub fn mentions_medical_term(text: &str) -> bool {
    !TERMS.find(&tokens(text)).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPAN: &str = "Adults may take 500 mg of acetaminophen every 4 to 6 hours as needed. Do not take more than \
                        3,000 mg in 24 hours. Acetaminophen is not safe for people with severe liver disease.";

    fn one(sentence: &str, span: &str) -> SentenceVerdict {
        check_reply(&[CitedSentence { sentence, spans: &[span] }]).sentences.remove(0)
    }

    #[test]
    fn paraphrases_with_the_same_facts_are_supported() {
        for s in [
            "Adults can take 500mg of acetaminophen every 4-6 hours as needed.",
            "Do not take more than 3000 mg of acetaminophen in 24 hours.",
            "Acetaminophen is not safe for people with severe liver disease.",
            "Adults may take 0.5 g of acetaminophen every four to six hours.",
        ] {
            let v = one(s, SPAN);
            assert!(v.supported, "{s}: {v:?}");
        }
    }

    #[test]
    fn changed_facts_are_caught() {
        let cases = [
            ("Adults may take 1000 mg of acetaminophen every 4 to 6 hours as needed.", Unsupported::NumberMissing),
            ("Adults may take 500 mg of acetaminophen every 2 hours as needed.", Unsupported::NumberMissing),
            ("Do not take more than 4,000 mg in 24 hours.", Unsupported::NumberMissing),
            ("Acetaminophen is safe for people with severe liver disease.", Unsupported::NegationDropped),
            ("Adults may take 500 mg of ibuprofen every 4 to 6 hours as needed.", Unsupported::TermMissing),
            (
                "Adults may take 500 mg of acetaminophen every 4 to 6 hours, about 12% of users.",
                Unsupported::NumberMissing,
            ),
            ("Adults should never take 500 mg of acetaminophen every 4 to 6 hours.", Unsupported::NegationMissing),
            ("Acetaminophen cures migraines in children within minutes.", Unsupported::LowOverlap),
            ("Acetaminophen is not safe for people with kidney disease.", Unsupported::TermMissing),
        ];
        for (s, reason) in cases {
            let v = one(s, SPAN);
            assert!(!v.supported, "{s}");
            assert!(v.reasons.contains(&reason), "{s}: {:?}", v.reasons);
        }
    }

    #[test]
    fn reports_per_sentence_and_as_a_check() {
        let spans = [SPAN];
        let report = check_reply(&[
            CitedSentence { sentence: "Adults may take 500 mg of acetaminophen every 4 to 6 hours.", spans: &spans },
            CitedSentence { sentence: "It is safe with any amount of alcohol.", spans: &spans },
            CitedSentence { sentence: "Take 500 mg.", spans: &[] },
        ]);
        assert_eq!(report.unsupported().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(report.sentences[2].reasons, vec![Unsupported::NoSource]);
        let c = report.check();
        assert_eq!(c.verdict, Verdict::Flag);
        assert_eq!(c.reason, "2 of 3 sentences unsupported by their cited sources");
        assert!(!serde_json::to_string(&report).unwrap().contains("alcohol"));
        assert_eq!(check_reply(&[]).check().verdict, Verdict::Pass);
    }

    #[test]
    fn tokens_and_quantities_normalise() {
        assert_eq!(tokens("Don't take 1,000mg (2-3 tabs)!"), ["dont", "take", "1000", "mg", "2", "-", "3", "tabs"]);
        let q = quantities(&tokens("take two tablets, 5.7 percent, 1 g"));
        assert_eq!(q[0], Quantity { low: 2.0, high: 2.0, unit: Some("tablet") });
        assert_eq!(q[1].unit, Some("%"));
        assert_eq!(q[2], Quantity { low: 1000.0, high: 1000.0, unit: Some("mg") });
        assert!(quantities(&tokens("one of the most common")).is_empty());
        assert_eq!(split_sentences("A1C is 6.5%. Take it daily! Why?"), ["A1C is 6.5%.", "Take it daily!", "Why?"]);
        assert!(mentions_medical_term("Lisinopril lowers blood pressure"));
        assert!(mentions_medical_term("take rosuvastatin at night"));
        assert!(!mentions_medical_term("book an appointment for Tuesday"));
    }

    #[test]
    fn idf_weighs_rare_words_more() {
        let idf = Idf::embedded();
        assert!(idf.weight("acetaminophen") > idf.weight("the"));
        assert!(idf.weight("zzzunknown") >= idf.weight("acetaminophen"));
        let own = Idf::from_documents(["the cat", "the dog", "a bird"]);
        assert!(own.weight("cat") > own.weight("the"));
    }
}
