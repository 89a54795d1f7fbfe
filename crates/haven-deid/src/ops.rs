//! The operators and the [`Deidentifier`] that applies a policy to text.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Serialize;

use crate::detect::{Detector, DetectorConfig};
use crate::dict::{self, RESTRICTED_ZIP3};
use crate::policy::{Operator, Policy};
use crate::types::{PhiType, Span};
use crate::vault::{DateOffsets, KeyedDateOffsets, PseudonymKey, TokenVault, VaultError};

/// A de-identification call failed. Never carries PHI.
#[derive(Debug, thiserror::Error)]
pub enum DeidError {
    /// The policy asks for `tokenize` but no token vault was given.
    #[error("the policy tokenizes {0} but no token vault was given")]
    NoVault(PhiType),
    /// A key, vault or offset store failed.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// Per-call inputs besides the text.
#[derive(Default, Clone, Copy)]
pub struct DeidOptions<'a> {
    /// The patient the text is about: date shifts and surrogates follow it.
    pub patient_id: Option<&'a str>,
    /// Where `tokenize` stores its tokens.
    pub vault: Option<&'a dyn TokenVault>,
    /// Per-patient date offsets (default: derived from the key).
    pub offsets: Option<&'a dyn DateOffsets>,
}

impl std::fmt::Debug for DeidOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeidOptions")
            .field("patient_id", &self.patient_id.map(|_| "[REDACTED]"))
            .field("vault", &self.vault.is_some())
            .field("offsets", &self.offsets.is_some())
            .finish()
    }
}

/// What a call did, for the audit log: counts per type, never values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeidReport {
    /// Identifiers found, by type.
    pub counts: BTreeMap<PhiType, usize>,
    /// Identifiers changed, by operator name.
    pub operators: BTreeMap<&'static str, usize>,
}

impl DeidReport {
    /// Adds another report's counts to this one.
    pub fn add(&mut self, other: &DeidReport) {
        for (k, v) in &other.counts {
            *self.counts.entry(*k).or_default() += v;
        }
        for (k, v) in &other.operators {
            *self.operators.entry(k).or_default() += v;
        }
    }

    /// The total number of identifiers found.
    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }
}

/// De-identified text and its report. `Debug` omits the text.
#[derive(Clone)]
pub struct Deidentified {
    /// The de-identified text.
    pub text: String,
    /// Counts per type and operator.
    pub report: DeidReport,
}

impl std::fmt::Debug for Deidentified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deidentified").field("len", &self.text.len()).field("report", &self.report).finish()
    }
}

/// Applies a [`Policy`] with a tenant key. Build once, share across threads.
#[derive(Clone, Debug)]
pub struct Deidentifier {
    detector: Detector,
    policy: Policy,
    pseudonym_key: PseudonymKey,
    surrogate_key: PseudonymKey,
    token_key: PseudonymKey,
    hash_key: PseudonymKey,
    default_offsets: KeyedDateOffsets,
}

fn op_name(op: Operator) -> &'static str {
    match op {
        Operator::Keep => "keep",
        Operator::Redact => "redact",
        Operator::Tag => "tag",
        Operator::Mask => "mask",
        Operator::Surrogate => "surrogate",
        Operator::Pseudonymize => "pseudonymize",
        Operator::Dateshift => "dateshift",
        Operator::Generalize => "generalize",
        Operator::Tokenize => "tokenize",
    }
}

impl Deidentifier {
    /// A de-identifier for `policy` keyed by the tenant's `key`.
    pub fn new(policy: Policy, key: &PseudonymKey) -> Self {
        Deidentifier {
            detector: Detector::new(DetectorConfig { min_score: policy.min_score }),
            default_offsets: KeyedDateOffsets::new(key, policy.date_shift_max_days),
            policy,
            pseudonym_key: key.derive("haven-deid/pseudonym/v1"),
            surrogate_key: key.derive("haven-deid/surrogate/v1"),
            token_key: key.derive("haven-deid/token/v1"),
            hash_key: key.derive("haven-deid/fhir-hash/v1"),
        }
    }

    /// The detector this de-identifier uses.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// The policy it applies.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Detects and de-identifies `text` under the policy.
    pub fn deidentify(&self, text: &str, opts: &DeidOptions<'_>) -> Result<Deidentified, DeidError> {
        let spans = self.detector.detect(text);
        self.apply_spans(text, &spans, opts)
    }

    /// De-identifies `text` given its (sorted, non-overlapping) spans.
    pub fn apply_spans(&self, text: &str, spans: &[Span], opts: &DeidOptions<'_>) -> Result<Deidentified, DeidError> {
        let mut out = String::with_capacity(text.len() + 16);
        let mut report = DeidReport::default();
        let mut pos = 0;
        for s in spans {
            if s.start < pos || s.end > text.len() || !text.is_char_boundary(s.start) || !text.is_char_boundary(s.end) {
                continue;
            }
            self.push_verbatim(&mut out, &text[pos..s.start], opts)?;
            let value = &text[s.start..s.end];
            let op = self.policy.operator_for(s.kind, s.rule);
            *report.counts.entry(s.kind).or_default() += 1;
            *report.operators.entry(op_name(op)).or_default() += 1;
            out.push_str(&self.replace(s.kind, value, op, opts)?);
            pos = s.end;
        }
        self.push_verbatim(&mut out, text.get(pos..).unwrap_or(""), opts)?;
        Ok(Deidentified { text: out, report })
    }

    /// Copies text that no span covers. With a vault (the output may be
    /// re-identified), text already shaped like a token becomes a token of
    /// its own: re-identification then gives back that text, not the value
    /// of the token it looks like (which a sender could have copied from
    /// another de-identified text).
    fn push_verbatim(&self, out: &mut String, piece: &str, opts: &DeidOptions<'_>) -> Result<(), DeidError> {
        let Some(re) = token_regex().filter(|_| opts.vault.is_some()) else {
            out.push_str(piece);
            return Ok(());
        };
        let mut pos = 0;
        for m in re.find_iter(piece) {
            out.push_str(piece.get(pos..m.start()).unwrap_or(""));
            out.push_str(&self.replace(PhiType::OtherId, m.as_str(), Operator::Tokenize, opts)?);
            pos = m.end();
        }
        out.push_str(piece.get(pos..).unwrap_or(""));
        Ok(())
    }

    /// The replacement for one value of `kind` under `op`.
    pub fn replace(
        &self,
        kind: PhiType,
        value: &str,
        op: Operator,
        opts: &DeidOptions<'_>,
    ) -> Result<String, DeidError> {
        Ok(match op {
            Operator::Keep => value.to_string(),
            Operator::Redact => String::new(),
            Operator::Tag => format!("[{kind}]"),
            Operator::Mask => mask(value),
            Operator::Pseudonymize => self.pseudonym(kind, value),
            Operator::Tokenize => {
                let vault = opts.vault.ok_or(DeidError::NoVault(kind))?;
                let token = self.token(kind, value);
                vault.store(&token, kind, value)?;
                format!("[[{token}]]")
            }
            Operator::Dateshift => {
                if kind == PhiType::Date {
                    let days = self.offset(opts)?;
                    shift_date(value, days).unwrap_or_else(|| format!("[{kind}]"))
                } else {
                    format!("[{kind}]")
                }
            }
            Operator::Generalize => generalize(kind, value),
            Operator::Surrogate => self.surrogate(kind, value, opts)?,
        })
    }

    fn offset(&self, opts: &DeidOptions<'_>) -> Result<i32, DeidError> {
        // Without a patient, one tenant-wide offset keeps a document's
        // intervals intact (and every other unattributed document's).
        let patient = opts.patient_id.unwrap_or("");
        Ok(match opts.offsets {
            Some(o) => o.offset_days(patient)?,
            None => self.default_offsets.offset_days(patient)?,
        })
    }

    /// The keyed pseudonym of a value: `NAME_7QK2M4ZPXA`. Spelling variants
    /// (case, spacing, punctuation in numbers) give the same pseudonym.
    pub fn pseudonym(&self, kind: PhiType, value: &str) -> String {
        let norm = normalize(kind, value);
        let h = self.pseudonym_key.mac(kind.as_str().as_bytes(), &[norm.as_bytes()]);
        format!("{kind}_{}", base32(&h[..8]))
    }

    /// The reversible token of a value (without brackets): `NAME_3f9a2b7c01`.
    fn token(&self, kind: PhiType, value: &str) -> String {
        let h = self.token_key.mac(kind.as_str().as_bytes(), &[value.as_bytes()]);
        format!("{kind}_{}", hex::encode(&h[..5]))
    }

    /// A keyed hash for FHIR ids and identifiers: 32 lower-case hex digits.
    pub fn crypto_hash(&self, value: &str) -> String {
        hex::encode(&self.hash_key.mac(b"id", &[value.as_bytes()])[..16])
    }

    /// The per-patient date offset in days (for FHIR dates).
    pub fn date_offset(&self, opts: &DeidOptions<'_>) -> Result<i32, DeidError> {
        self.offset(opts)
    }

    fn surrogate(&self, kind: PhiType, value: &str, opts: &DeidOptions<'_>) -> Result<String, DeidError> {
        let scope = opts.patient_id.unwrap_or("");
        let rng = |label: &str, part: &str| -> u64 {
            let h = self.surrogate_key.mac(label.as_bytes(), &[scope.as_bytes(), part.as_bytes()]);
            u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]])
        };
        Ok(match kind {
            PhiType::Name => surrogate_name(value, &rng),
            PhiType::Date => {
                let days = self.offset(opts)?;
                shift_date(value, days).unwrap_or_else(|| "[DATE]".into())
            }
            PhiType::Age => generalize(kind, value),
            PhiType::Email => {
                let n = rng("email", &value.to_ascii_lowercase());
                let first = pick(first_names_title(), n);
                let last = pick(surnames_title(), n >> 20);
                format!("{}.{}@example.com", first.to_ascii_lowercase(), last.to_ascii_lowercase())
            }
            PhiType::Url => format!("https://example.org/{:08x}", rng("url", value) as u32),
            PhiType::Ip => {
                let n = rng("ip", value);
                if value.contains(':') {
                    format!("2001:db8::{:x}", n as u16)
                } else {
                    format!("192.0.2.{}", 1 + n % 254)
                }
            }
            PhiType::Location => surrogate_location(value, &rng),
            PhiType::Ssn => {
                // A 9xx area is never issued: a surrogate can never be someone's SSN.
                let mut s = shape_digits(value, rng("ssn", &normalize(kind, value)));
                if let Some(i) = s.find(|c: char| c.is_ascii_digit()) {
                    s.replace_range(i..i + 1, "9");
                }
                s
            }
            _ => shape_digits(value, rng(kind.as_str(), &normalize(kind, value))),
        })
    }
}

fn token_regex() -> Option<&'static regex::Regex> {
    static RE: OnceLock<Option<regex::Regex>> = OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"\[?\[?((?:NAME|LOCATION|DATE|AGE|PHONE|FAX|EMAIL|SSN|MRN|HEALTH_PLAN_ID|ACCOUNT|LICENSE|VEHICLE_ID|DEVICE_ID|URL|IP|OTHER_ID)_[0-9a-f]{10})\]?\]?").ok()).as_ref()
}

/// The tokens (`TYPE_hex`, without brackets) that occur in `text`, so a
/// caller can fetch just those vault entries before [`reidentify`].
pub fn find_tokens(text: &str) -> Vec<&str> {
    let Some(re) = token_regex() else { return Vec::new() };
    re.captures_iter(text).filter_map(|c| c.get(1)).map(|m| m.as_str()).collect()
}

/// Restores every `[[TYPE_hex]]` token in `text` that the vault knows.
/// Returns the text and how many tokens were replaced. The caller authorizes
/// and audits this call: it is the only way back from a token to PHI.
pub fn reidentify(text: &str, vault: &dyn TokenVault) -> Result<(String, usize), DeidError> {
    let Some(re) = token_regex() else {
        return Ok((text.to_string(), 0));
    };
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    let mut n = 0;
    for c in re.captures_iter(text) {
        let (Some(m), Some(tok)) = (c.get(0), c.get(1)) else { continue };
        if let Some(v) = vault.lookup(tok.as_str())? {
            out.push_str(&text[pos..m.start()]);
            out.push_str(&v);
            pos = m.end();
            n += 1;
        }
    }
    out.push_str(&text[pos..]);
    Ok((out, n))
}

fn normalize(kind: PhiType, value: &str) -> String {
    match kind {
        PhiType::Name | PhiType::Location | PhiType::Email | PhiType::Url | PhiType::Date => {
            value.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
        }
        _ => value.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect(),
    }
}

fn base32(bytes: &[u8]) -> String {
    const A: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut v = u64::from_be_bytes(bytes.get(..8).and_then(|b| b.try_into().ok()).unwrap_or([0; 8]));
    let mut s = String::with_capacity(10);
    for _ in 0..10 {
        s.push(A[(v % 32) as usize] as char);
        v /= 32;
    }
    s
}

/// `J*** S****`: the first letter of each word stays, every other letter or
/// digit becomes `*`, punctuation and spacing stay.
fn mask(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut word_start = true;
    for c in value.chars() {
        if c.is_alphanumeric() {
            out.push(if word_start && c.is_alphabetic() { c } else { '*' });
            word_start = false;
        } else {
            out.push(c);
            word_start = true;
        }
    }
    out
}

fn generalize(kind: PhiType, value: &str) -> String {
    match kind {
        PhiType::Age => "90+".into(),
        PhiType::Location => {
            let ds: String = value.chars().filter(char::is_ascii_digit).collect();
            let is_zip = (ds.len() == 5 || ds.len() == 9) && value.chars().all(|c| c.is_ascii_digit() || c == '-');
            match ds.get(..3) {
                Some(z3) if is_zip => {
                    if RESTRICTED_ZIP3.contains(&z3) {
                        "000".into()
                    } else {
                        z3.to_string()
                    }
                }
                _ => "[LOCATION]".into(),
            }
        }
        PhiType::Date => parse_date(value).and_then(|d| d.year).map_or_else(|| "[DATE]".into(), |y| y.to_string()),
        _ => format!("[{kind}]"),
    }
}

fn pick<T: Copy>(list: &[T], n: u64) -> T {
    // Lists are never empty (see first_names_title); index 0 is a safe fallback.
    list[(n % list.len().max(1) as u64) as usize]
}

fn title_case(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn first_names_title() -> &'static [&'static str] {
    static L: OnceLock<Vec<&'static str>> = OnceLock::new();
    L.get_or_init(|| {
        let v: Vec<&'static str> = SURROGATE_FIRST.split_whitespace().collect();
        if v.is_empty() { vec!["Alex"] } else { v }
    })
}

fn surnames_title() -> &'static [&'static str] {
    static L: OnceLock<Vec<&'static str>> = OnceLock::new();
    L.get_or_init(|| {
        let v: Vec<&'static str> = SURROGATE_LAST.split_whitespace().collect();
        if v.is_empty() { vec!["Taylor"] } else { v }
    })
}

/// Surrogate pools: common names, so a surrogate never stands out.
const SURROGATE_FIRST: &str = "James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara Richard Susan Joseph \
    Jessica Thomas Sarah Charles Karen Christopher Nancy Daniel Lisa Matthew Betty Anthony Margaret Mark Sandra Donald Ashley \
    Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth Dorothy Kevin Carol Brian Amanda George Melissa Edward \
    Deborah Ronald Stephanie Timothy Rebecca Jason Sharon Jeffrey Laura Ryan Cynthia Jacob Kathleen Gary Amy Nicholas Shirley \
    Eric Angela Jonathan Helen Stephen Anna Larry Brenda Justin Pamela Scott Nicole Brandon Emma Benjamin Samantha Samuel \
    Katherine Gregory Christine Frank Debra Alexander Rachel Raymond Catherine Patrick Carolyn Jack Janet Dennis Ruth Jerry Maria";
const SURROGATE_LAST: &str = "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson \
    Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker \
    Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter \
    Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers \
    Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood \
    James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez Powell";
const SURROGATE_STREETS: &str = "Oak Maple Cedar Pine Elm Willow Birch Chestnut Walnut Spruce Hickory Poplar Magnolia Juniper Laurel \
    Sycamore Aspen Hawthorn Linden Alder Meadow Ridge Brook Lake Hill Park River Spring Valley Forest";
const SURROGATE_CITIES: &str = "Fairview Riverside Franklin Greenville Clinton Springfield Madison Georgetown Salem Arlington \
    Ashland Dover Milton Oxford Burlington Manchester Bristol Clayton Dayton Lebanon Marion Newport Jackson Chester";

fn apply_case(template: &str, word: &str) -> String {
    let letters: Vec<char> = template.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.len() > 1 && letters.iter().all(|c| c.is_uppercase()) {
        word.to_uppercase()
    } else if letters.first().is_some_and(|c| c.is_lowercase()) {
        word.to_lowercase()
    } else {
        title_case(&word.to_lowercase())
    }
}

/// Each word of a name maps to a surrogate of its own, keyed by the word, so
/// "John Smith", "SMITH, JOHN" and "Mr. Smith" stay consistent.
fn surrogate_name(value: &str, rng: &dyn Fn(&str, &str) -> u64) -> String {
    let d = dict::dicts();
    let mut out = String::with_capacity(value.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.is_empty() {
            return;
        }
        let letters: String = word.chars().filter(|c| c.is_alphabetic()).collect();
        let digits: String = word.chars().filter(char::is_ascii_digit).collect();
        let low = letters.to_lowercase();
        let n = rng("name", &low);
        let rep = if letters.chars().count() == 1 {
            // An initial stays an initial.
            ((b'A' + (n % 26) as u8) as char).to_string()
        } else if d.first.contains(low.as_str()) && !d.last.contains_key(low.as_str()) {
            pick(first_names_title(), n).to_string()
        } else {
            pick(surnames_title(), n).to_string()
        };
        out.push_str(&apply_case(&letters, &rep));
        if !digits.is_empty() {
            out.push_str(&shape_digits(&digits, n));
        }
        word.clear();
    };
    for c in value.chars() {
        if c.is_alphanumeric() || c == '\'' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn surrogate_location(value: &str, rng: &dyn Fn(&str, &str) -> u64) -> String {
    const KEEP: &str = "street st avenue ave road rd boulevard blvd lane ln drive dr court ct place pl way terrace ter circle cir \
        parkway pkwy highway hwy square sq trail trl apt apartment suite ste unit room rm floor fl po p.o. box county parish \
        hospital medical center centre clinic health healthcare system infirmary nursing home rehabilitation care urgent \
        hospice memorial pharmacy regional general of the at for and north south east west n s e w";
    let street_like = value.chars().next().is_some_and(|c| c.is_ascii_digit());
    let mut out = String::with_capacity(value.len());
    let mut word = String::new();
    let mut idx = 0u64;
    let mut flush = |word: &mut String, out: &mut String| {
        if word.is_empty() {
            return;
        }
        let low = word.to_lowercase();
        let n = rng("loc", &format!("{low}#{idx}"));
        idx += 1;
        if word.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&shape_digits(word, n));
        } else if KEEP.split_whitespace().any(|k| k == low.trim_end_matches('.'))
            || word.chars().any(|c| c.is_ascii_digit())
        {
            out.push_str(&if word.chars().any(|c| c.is_ascii_digit()) { shape_digits(word, n) } else { word.clone() });
        } else {
            let pool: Vec<&str> = if street_like {
                SURROGATE_STREETS.split_whitespace().collect()
            } else {
                SURROGATE_CITIES.split_whitespace().collect()
            };
            out.push_str(&apply_case(word, pick(&pool, n)));
        }
        word.clear();
    };
    for c in value.chars() {
        if c.is_alphanumeric() || c == '.' && !word.is_empty() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Every digit and letter replaced by a keyed one of the same class;
/// separators stay, so the shape (and any parser of it) survives.
fn shape_digits(value: &str, seed: u64) -> String {
    let mut x = seed | 1;
    let mut next = || {
        // xorshift64: a keyed seed, then a cheap stream
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    value
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                (b'0' + (next() % 10) as u8) as char
            } else if c.is_ascii_uppercase() {
                (b'A' + (next() % 26) as u8) as char
            } else if c.is_ascii_lowercase() {
                (b'a' + (next() % 26) as u8) as char
            } else {
                c
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Dates: parse the parts, shift, write back in the same format.

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

#[derive(Debug, Clone, Copy)]
struct Part {
    start: usize,
    end: usize,
}

#[derive(Debug)]
struct ParsedDate {
    year: Option<i32>,
    month: u8,
    day: Option<u8>,
    y: Option<Part>,
    m: Part,
    d: Option<Part>,
    month_is_name: bool,
}

fn month_of(word: &str) -> Option<u8> {
    let w = word.to_ascii_lowercase();
    let w = w.trim_end_matches('.');
    if w.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| m.starts_with(w) && (w.len() >= 3) && (w.len() == 3 || w == "sept" || *m == w))
        .map(|i| i as u8 + 1)
}

fn parse_date(value: &str) -> Option<ParsedDate> {
    // Split into runs of digits and letters with their byte ranges.
    let mut nums: Vec<(Part, u32, usize)> = Vec::new();
    let mut month: Option<(Part, u8)> = None;
    let b = value.as_bytes();
    let mut i = 0;
    // The date part ends at a time ("T10:30" or " 10:30").
    let date_end = value
        .find(['T', ' '])
        .filter(|&p| {
            value[p + 1..].contains(':')
                && value[..p].bytes().any(|c| c.is_ascii_digit())
                && !value[..p].bytes().any(|c| c.is_ascii_alphabetic())
        })
        .unwrap_or(value.len());
    while i < date_end {
        if b[i].is_ascii_digit() {
            let s = i;
            while i < date_end && b[i].is_ascii_digit() {
                i += 1;
            }
            let v: u32 = value[s..i].parse().ok()?;
            nums.push((Part { start: s, end: i }, v, i - s));
        } else if b[i].is_ascii_alphabetic() {
            let s = i;
            while i < date_end && b[i].is_ascii_alphabetic() {
                i += 1;
            }
            if month.is_none()
                && let Some(m) = month_of(&value[s..i])
            {
                month = Some((Part { start: s, end: i }, m));
            }
        } else {
            i += 1;
        }
    }
    let apostrophe_year = |p: &Part| p.start > 0 && b.get(p.start - 1) == Some(&b'\'');
    if let Some((mp, m)) = month {
        let mut day = None;
        let mut year = None;
        for (p, v, len) in &nums {
            if (*len == 4 || apostrophe_year(p)) && year.is_none() {
                year = Some((*p, if *len == 4 { *v as i32 } else { 2000 + *v as i32 }));
            } else if *len <= 2 && day.is_none() && (1..=31).contains(v) {
                day = Some((*p, *v as u8));
            }
        }
        return Some(ParsedDate {
            year: year.map(|y| y.1),
            month: m,
            day: day.map(|d| d.1),
            y: year.map(|y| y.0),
            m: mp,
            d: day.map(|d| d.0),
            month_is_name: true,
        });
    }
    match nums.as_slice() {
        [(yp, y, 4), (mp, m, _), (dp, d, _), ..] => Some(ParsedDate {
            year: Some(*y as i32),
            month: *m as u8,
            day: Some(*d as u8),
            y: Some(*yp),
            m: *mp,
            d: Some(*dp),
            month_is_name: false,
        }),
        [(ap, a, _), (bp, bv, _), (yp, y, ylen), ..] => {
            let dots = value.contains('.');
            let year = if *ylen == 4 {
                *y as i32
            } else if *y > 30 {
                1900 + *y as i32
            } else {
                2000 + *y as i32
            };
            let (mp, m, dp, d) = if dots { (*bp, *bv, *ap, *a) } else { (*ap, *a, *bp, *bv) };
            Some(ParsedDate {
                year: Some(year),
                month: m as u8,
                day: Some(d as u8),
                y: Some(*yp),
                m: mp,
                d: Some(dp),
                month_is_name: false,
            })
        }
        [(mp, m, _), (dp, d, _)] => Some(ParsedDate {
            year: None,
            month: *m as u8,
            day: Some(*d as u8),
            y: None,
            m: *mp,
            d: Some(*dp),
            month_is_name: false,
        }),
        _ => None,
    }
}

fn ordinal(d: u8) -> &'static str {
    match (d % 10, d % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    }
}

/// `value` shifted by `days`, in the same format; `None` when it is not a
/// date this parser understands.
pub(crate) fn shift_date(value: &str, days: i32) -> Option<String> {
    let p = parse_date(value)?;
    let month = time::Month::try_from(p.month).ok()?;
    // A date without a year is shifted within a leap year, so 29 Feb exists;
    // one without a day is shifted from the middle of its month.
    let year = p.year.unwrap_or(2000);
    let day = p.day.unwrap_or(15);
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let shifted = date.checked_add(time::Duration::days(i64::from(days)))?;
    let mut parts: Vec<(Part, String)> = Vec::new();
    // "03/04/1961" pads both fields; "3/14/61" pads neither; "Feb 02" pads.
    let numeric_padded = !p.month_is_name && [Some(p.m), p.d].iter().flatten().all(|pt| pt.end - pt.start == 2);
    // Month
    let mtxt = &value[p.m.start..p.m.end];
    let new_m = shifted.month() as u8;
    if p.month_is_name {
        let full = MONTHS[usize::from(new_m - 1)];
        // "May" is both the abbreviation and the full name: write it in full.
        let base = if mtxt.len() == 3 && !mtxt.eq_ignore_ascii_case("may") {
            full[..3].to_string()
        } else if mtxt.eq_ignore_ascii_case("sept") {
            if new_m == 9 { "sept".into() } else { full[..3].to_string() }
        } else {
            full.to_string()
        };
        parts.push((p.m, apply_case(mtxt, &base)));
    } else {
        parts.push((p.m, pad(new_m.into(), zero_padded(&value[p.m.start..p.m.end], numeric_padded))));
    }
    if let Some(dp) = p.d {
        let new_d = shifted.day();
        let mut s = pad(new_d.into(), zero_padded(&value[dp.start..dp.end], numeric_padded));
        let after = &value[dp.end..];
        let suffix_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let had_suffix =
            suffix_len == 2 && ["st", "nd", "rd", "th"].contains(&after[..2].to_ascii_lowercase().as_str());
        let mut dp2 = dp;
        if had_suffix {
            let suf = ordinal(new_d);
            s.push_str(&if after[..2].bytes().all(|c| c.is_ascii_uppercase()) {
                suf.to_uppercase()
            } else {
                suf.to_string()
            });
            dp2.end += 2;
        }
        parts.push((dp2, s));
    }
    if let Some(yp) = p.y {
        let len = yp.end - yp.start;
        let y = shifted.year();
        parts.push((yp, if len == 4 { format!("{y:04}") } else { format!("{:02}", y.rem_euclid(100)) }));
    }
    parts.sort_by_key(|(pt, _)| pt.start);
    let mut out = String::with_capacity(value.len() + 4);
    let mut pos = 0;
    for (pt, s) in parts {
        if pt.start < pos {
            return None;
        }
        out.push_str(&value[pos..pt.start]);
        out.push_str(&s);
        pos = pt.end;
    }
    out.push_str(&value[pos..]);
    Some(out)
}

fn zero_padded(original: &str, numeric_padded: bool) -> bool {
    original.starts_with('0') || numeric_padded
}

fn pad(v: u32, padded: bool) -> String {
    if padded { format!("{v:02}") } else { v.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::InMemoryVault;

    fn key() -> PseudonymKey {
        match PseudonymKey::from_bytes(&[42; 32]) {
            Ok(k) => k,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn dates_shift_in_their_own_format() {
        for (v, d, want) in [
            ("2019-02-21", 10, "2019-03-03"),
            ("3/4/61", 1, "3/5/61"),
            ("03/04/1961", -4, "02/28/1961"),
            ("Feb 21", 10, "Mar 2"),
            ("February 21st, 2019", 1, "February 22nd, 2019"),
            ("the 5th of May", 30, "the 4th of June"),
            ("21 FEB 2019", 8, "1 MAR 2019"),
            ("March 2018", 31, "April 2018"),
            ("1992-11-12 07:04:41", 1, "1992-11-13 07:04:41"),
            ("12.05.2019", 1, "13.05.2019"),
        ] {
            assert_eq!(shift_date(v, d).as_deref(), Some(want), "{v}");
        }
        assert_eq!(shift_date("no date", 3), None);
    }

    #[test]
    fn operators() {
        let de = Deidentifier::new(Policy::safe_harbor(), &key());
        let o = DeidOptions::default();
        assert_eq!(de.replace(PhiType::Name, "John Smith", Operator::Mask, &o).ok().as_deref(), Some("J*** S****"));
        assert_eq!(de.replace(PhiType::Name, "John Smith", Operator::Tag, &o).ok().as_deref(), Some("[NAME]"));
        assert_eq!(de.replace(PhiType::Name, "John Smith", Operator::Redact, &o).ok().as_deref(), Some(""));
        assert_eq!(de.replace(PhiType::Age, "94", Operator::Generalize, &o).ok().as_deref(), Some("90+"));
        assert_eq!(de.replace(PhiType::Location, "02115", Operator::Generalize, &o).ok().as_deref(), Some("021"));
        assert_eq!(de.replace(PhiType::Location, "03601", Operator::Generalize, &o).ok().as_deref(), Some("000"));
        let p1 = de.pseudonym(PhiType::Mrn, "MRN-001234");
        assert_eq!(p1, de.pseudonym(PhiType::Mrn, "mrn 001234"));
        assert!(p1.starts_with("MRN_") && p1.len() == 14);
        let other = Deidentifier::new(Policy::safe_harbor(), &key().derive("other tenant"));
        assert_ne!(p1, other.pseudonym(PhiType::Mrn, "MRN-001234"));
        let s = de.replace(PhiType::Name, "SMITH, JOHN", Operator::Surrogate, &o).ok().unwrap_or_default();
        assert!(s.contains(", ") && s == s.to_uppercase() && s != "SMITH, JOHN");
        let ssn = de.replace(PhiType::Ssn, "123-45-6789", Operator::Surrogate, &o).ok().unwrap_or_default();
        assert!(ssn.starts_with('9') && ssn.len() == 11 && ssn.as_bytes()[3] == b'-');
    }

    #[test]
    fn surrogates_are_consistent_per_patient() {
        let de = Deidentifier::new(Policy::safe_harbor(), &key());
        let a = DeidOptions { patient_id: Some("p1"), ..Default::default() };
        let t1 = de.deidentify("Mr. John Smith was seen on 3/4/2019.", &a).ok().map(|d| d.text);
        let t2 = de.deidentify("Mr. John Smith was seen on 3/4/2019.", &a).ok().map(|d| d.text);
        assert_eq!(t1, t2);
        let t1 = t1.unwrap_or_default();
        assert!(!t1.contains("Smith") && !t1.contains("3/4/2019"), "{t1}");
    }

    #[test]
    fn tokenize_round_trip() {
        let de = Deidentifier::new(Policy::llm_round_trip(), &key());
        let vault = InMemoryVault::new();
        let opts = DeidOptions { vault: Some(&vault), ..Default::default() };
        let text = "Jane Doe (MRN 4455667) called 617-555-0134 on 3/4/2021.";
        let d = match de.deidentify(text, &opts) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        assert!(!d.text.contains("Jane") && !d.text.contains("4455667") && d.text.contains("[[NAME_"), "{}", d.text);
        // A model's answer may drop the brackets.
        let answer = d.text.replace("[[", "").replace("]]", "");
        let back = reidentify(&answer, &vault).map(|r| r.0).unwrap_or_default();
        assert_eq!(back, text);
        assert!(matches!(
            Deidentifier::new(Policy::llm_round_trip(), &key()).deidentify(text, &DeidOptions::default()),
            Err(DeidError::NoVault(_))
        ));
        assert_eq!(d.report.counts.get(&PhiType::Name), Some(&1));
    }

    /// A token copied into new text comes back as that text, not as the
    /// value it stands for.
    #[test]
    fn token_shaped_text_survives_a_round_trip() {
        let de = Deidentifier::new(Policy::llm_round_trip(), &key());
        let vault = InMemoryVault::new();
        let opts = DeidOptions { vault: Some(&vault), ..Default::default() };
        let first = match de.deidentify("Jane Doe was seen.", &opts) {
            Ok(d) => d.text,
            Err(e) => panic!("{e}"),
        };
        let token = first.split("[[").nth(1).and_then(|r| r.split("]]").next()).unwrap_or_default().to_string();
        assert!(token.starts_with("NAME_"), "{first}");
        for text in [format!("Ask about {token} today."), format!("Ask about [[{token}]]"), token.clone()] {
            let d = match de.deidentify(&text, &opts) {
                Ok(d) => d,
                Err(e) => panic!("{e}"),
            };
            let back = reidentify(&d.text, &vault).map(|r| r.0).unwrap_or_default();
            assert_eq!(back, text, "{}", d.text);
            assert!(!back.contains("Jane"));
        }
        // Without a vault nothing can be re-identified: the text stays.
        let plain = Deidentifier::new(Policy::safe_harbor(), &key());
        let d = plain.deidentify(&format!("see {token}"), &DeidOptions::default()).map(|d| d.text).unwrap_or_default();
        assert_eq!(d, format!("see {token}"));
    }
}
