//! Finds clinical codes in free text, such as a model's reply, and checks them.
//!
//! Two kinds of mention are found:
//!
//! - **Labelled**: a word naming the system ("ICD-10", "ICD-10-CM",
//!   "SNOMED CT", "LOINC", "NPI", "NDC", "CPT", "RxNorm"/"RXCUI", "DEA"),
//!   then optional filler ("code", "number", "concept id", `:`, `#`, `®`...)
//!   and one code, or a list of codes joined by `,` `;` `/` `&` "and" "or".
//!   The verdict is the system's: valid, or invalid with the reason.
//! - **Bare**: an upper-case ICD-10-CM-shaped token with no label: a letter,
//!   two digits, then optionally a dot and up to four more characters
//!   (`E11.9`, `E119`, `S00.01XA`), `M1A.0`-style categories written with
//!   their dot, or a range (`E08-E13`). Valid if in the list; otherwise
//!   [`Verdict::Unknown`], since `B12` or a part number may not be meant as a
//!   code at all.
//!
//! Words naming other systems ("ICD-9", "ICD-11", "ICD-10-PCS", "HCPCS")
//! claim the codes after them, so those are not mistaken for bare ICD-10-CM.
//!
//! The scan is linear in the text: two regexes (which run in linear time)
//! find labels and bare tokens, and each label's list is read once, forward,
//! never re-read by a later label. It never panics: all slicing is at ASCII
//! positions, which are character boundaries.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use crate::{CodeError, System, Validated, validate};

/// A code found in text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mention<'t> {
    /// Byte span of the code in the text.
    pub span: Range<usize>,
    /// The code as written (`&text[span]`).
    pub code: &'t str,
    /// The system it was read as.
    pub system: System,
    /// Byte span of the word that named the system; `None` for a bare ICD-10-CM-shaped token.
    pub label: Option<Range<usize>>,
    /// Whether it is a valid code.
    pub verdict: Verdict,
}

/// Whether a mention is a valid code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Passes every check of its system.
    Valid(Validated),
    /// Fails a check of the system its label named.
    Invalid(CodeError),
    /// A bare ICD-10-CM-shaped token that is not in the list: a code that
    /// does not exist, or not a code at all.
    Unknown,
}

impl Verdict {
    /// True for `Valid`.
    pub fn is_valid(&self) -> bool {
        matches!(self, Verdict::Valid(_))
    }
}

/// Words that name a system, in lower case: the scan runs it over an ASCII
/// lower-cased copy of the text (same byte offsets), because a
/// case-insensitive regex defeats the literal prefilter and runs about a
/// hundred times slower. Classified after matching (see `label_kind`), so
/// it needs no capture groups. ASCII word boundaries keep it on the fast
/// engines for any text; Unicode neighbours are checked by hand.
const LABELS: &str = r"(?-u)\b(?:icd[- ]?(?:10[- ]?pcs|9(?:[- ]?cm)?|11)|hcpcs|icd(?:[- ]?10(?:[- ]?cm)?)?|snomed(?:[- ]?ct)?|sctid|loinc|npi|ndc|cpt|rx[- ]?norm|rxcui|dea)\b";

/// Bare ICD-10-CM shapes: a range; a letter, two digits and up to four more
/// characters after an optional dot; a category with a letter third (`M1A`)
/// only when a dot follows it, as `A1C` alone is too often something else.
const BARE: &str =
    r"(?-u)[A-Z][0-9][0-9A-Z]-[A-Z][0-9][0-9A-Z]|[A-Z][0-9]{2}(?:\.?[0-9A-Z]{1,4})?|[A-Z][0-9][A-Z]\.[0-9A-Z]{1,4}";

static LABEL_RE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(LABELS).ok());
/// A label at the start of the haystack, any case: anchored, so it stops within a few bytes.
static LABEL_AT_START_RE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(&format!("(?i)^{LABELS}")).ok());
static BARE_RE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(BARE).ok());

/// Words allowed between a label and its code ("LOINC code", "NPI number is").
const FILLER_WORDS: [&str; 20] = [
    "code",
    "codes",
    "number",
    "numbers",
    "no",
    "nr",
    "num",
    "id",
    "ids",
    "identifier",
    "concept",
    "concepts",
    "registration",
    "cui",
    "is",
    "are",
    "was",
    "of",
    "value",
    "ct",
];

/// Non-ASCII filler: registered and trade marks, en and em dashes.
const FILLER_SYMBOLS: [&str; 4] = ["\u{ae}", "\u{2122}", "\u{2013}", "\u{2014}"];

/// At most this many filler items between a label and its first code.
const MAX_FILLER: usize = 6;

/// Longer tokens are not codes (the longest, a SNOMED CT id, has 18
/// digits). The cap also keeps the scan linear: a label never reads more
/// than this far into text that a later label may read again.
const MAX_TOKEN: usize = 40;

/// What a label word introduces.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LabelKind {
    Checked(System),
    /// A system this crate does not check (ICD-9, ICD-11, ICD-10-PCS, HCPCS).
    Other,
}

/// Finds and checks every code mention in `text`, in order of position.
pub fn scan(text: &str) -> Vec<Mention<'_>> {
    let mut mentions = Vec::new();
    // Spans taken by labelled codes (and codes of other systems), in order.
    let mut claimed: Vec<Range<usize>> = Vec::new();
    let mut cursor = 0;
    if let Some(re) = LABEL_RE.as_ref() {
        let lower = text.to_ascii_lowercase();
        for m in re.find_iter(&lower) {
            if m.start() < cursor || glued_before(text, m.start()) || glued_after(text, m.end()) {
                continue;
            }
            let kind = label_kind(m.as_str());
            cursor = read_list(text, m.range(), kind, &mut mentions, &mut claimed).max(m.end());
        }
    }
    if let Some(re) = BARE_RE.as_ref() {
        let mut next_claim = 0;
        let mut bare = Vec::new();
        for m in re.find_iter(text) {
            let span = m.range();
            while claimed.get(next_claim).is_some_and(|c| c.end <= span.start) {
                next_claim += 1;
            }
            if claimed.get(next_claim).is_some_and(|c| c.start < span.end) {
                continue;
            }
            if glued_before(text, span.start) || glued_after_token(text, span.end) {
                continue;
            }
            let verdict = match validate(System::Icd10Cm, m.as_str()) {
                Ok(v) => Verdict::Valid(v),
                Err(_) => Verdict::Unknown,
            };
            bare.push(Mention { span, code: m.as_str(), system: System::Icd10Cm, label: None, verdict });
        }
        if !bare.is_empty() {
            mentions.extend(bare);
            mentions.sort_by_key(|m| m.span.start);
        }
    }
    mentions
}

/// What a matched label word introduces.
fn label_kind(label: &str) -> LabelKind {
    let up = label.to_ascii_uppercase();
    let squeezed: String = up.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    match squeezed.as_str() {
        "ICD" | "ICD10" | "ICD10CM" => LabelKind::Checked(System::Icd10Cm),
        s if s.starts_with("ICD") || s == "HCPCS" => LabelKind::Other,
        "SNOMED" | "SNOMEDCT" | "SCTID" => LabelKind::Checked(System::SnomedCt),
        "LOINC" => LabelKind::Checked(System::Loinc),
        "NPI" => LabelKind::Checked(System::Npi),
        "NDC" => LabelKind::Checked(System::Ndc),
        "CPT" => LabelKind::Checked(System::Cpt),
        "DEA" => LabelKind::Checked(System::Dea),
        _ => LabelKind::Checked(System::RxNorm),
    }
}

/// Reads the filler and the list of codes after a label; records mentions
/// and claimed spans. Returns where reading stopped.
fn read_list<'t>(
    text: &'t str,
    label: Range<usize>,
    kind: LabelKind,
    mentions: &mut Vec<Mention<'t>>,
    claimed: &mut Vec<Range<usize>>,
) -> usize {
    let b = text.as_bytes();
    let Some(mut at) = skip_filler(text, label.end) else { return label.end };
    let mut end = label.end;
    // Between ICD-10-CM codes a hyphen separates (`E11.9-E11.65`); in other
    // systems it is part of the code.
    let hyphen_separates = kind == LabelKind::Checked(System::Icd10Cm);
    while let Some((span, consumed)) = token(text, at, kind) {
        claimed.push(span.clone());
        end = consumed;
        if let LabelKind::Checked(system) = kind {
            let code = &text[span.clone()];
            let verdict = match validate(system, code) {
                Ok(v) => Verdict::Valid(v),
                Err(e) => Verdict::Invalid(e),
            };
            mentions.push(Mention { span, code, system, label: Some(label.clone()), verdict });
        }
        match separator(b, end, hyphen_separates) {
            Some(next) => at = next,
            None => break,
        }
    }
    end
}

/// Skips spaces and filler after a label; `None` at a second line break or the end.
fn skip_filler(text: &str, mut at: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut items = 0;
    let mut newlines = 0;
    loop {
        while let Some(&c) = b.get(at) {
            if !c.is_ascii_whitespace() {
                break;
            }
            if c == b'\n' {
                newlines += 1;
                if newlines > 1 {
                    return None;
                }
            }
            at += 1;
        }
        if items == MAX_FILLER {
            return Some(at);
        }
        let c = *b.get(at)?;
        if matches!(c, b':' | b'#' | b'=' | b'(' | b'[' | b'-' | b'*' | b'`' | b'"' | b'\'' | b'.') {
            at += 1;
        } else if let Some(sym) = FILLER_SYMBOLS.iter().find(|s| text.get(at..).is_some_and(|t| t.starts_with(**s))) {
            at += sym.len();
        } else if c.is_ascii_alphabetic() {
            let end = at + b[at..].iter().take_while(|c| c.is_ascii_alphabetic()).count();
            let word = &text[at..end];
            if glued_after(text, end) || !FILLER_WORDS.iter().any(|f| f.eq_ignore_ascii_case(word)) {
                return Some(at);
            }
            at = end;
        } else {
            return Some(at);
        }
        items += 1;
    }
}

/// After a list item: a separator (`,` `;` `/` `&` `+`, `-` if `hyphen`,
/// and/or "and"/"or") and the start of the next item, or `None`.
fn separator(b: &[u8], mut at: usize, hyphen: bool) -> Option<usize> {
    let spaces = |b: &[u8], at: usize| at + b[at..].iter().take_while(|c| matches!(c, b' ' | b'\t')).count();
    let start = at;
    at = spaces(b, at);
    if matches!(b.get(at), Some(b',' | b';' | b'/' | b'&' | b'+')) || (hyphen && b.get(at) == Some(&b'-')) {
        at = spaces(b, at + 1);
    }
    for word in [&b"and"[..], b"or"] {
        let end = at + word.len();
        if b.get(at..end).is_some_and(|w| w.eq_ignore_ascii_case(word))
            && !b.get(end).is_some_and(u8::is_ascii_alphanumeric)
        {
            at = spaces(b, end);
            break;
        }
    }
    let consumed = b[start..at].iter().any(|c| !matches!(c, b' ' | b'\t'));
    consumed.then_some(at)
}

/// The span of a code of `kind` starting at `at`, and where the token ends
/// (after a CPT modifier), if the text there is plausibly such a code: prose,
/// a filler word or another label ends the list.
fn token(text: &str, at: usize, kind: LabelKind) -> Option<(Range<usize>, usize)> {
    let b = text.as_bytes();
    let next_label = LABEL_AT_START_RE.as_ref().zip(text.get(at..)).is_some_and(|(re, rest)| re.is_match(rest));
    if next_label {
        return None;
    }
    let system = match kind {
        LabelKind::Checked(s) => Some(s),
        LabelKind::Other => None,
    };
    // ICD-10-CM tokens do not run on across a hyphen (`E11.9-E11.65` is two
    // codes) except to form a range of two categories (`E08-E13`).
    let joins_hyphens = system != Some(System::Icd10Cm);
    let mut end = token_end(b, at, joins_hyphens);
    if end == at || end - at > MAX_TOKEN {
        return None;
    }
    if system == Some(System::Icd10Cm) && end - at == 3 && b.get(end) == Some(&b'-') {
        let second = token_end(b, end + 1, false);
        if second.saturating_sub(end + 1) == 3 {
            end = second;
        }
    }
    if glued_after_token(text, end) {
        return None;
    }
    let t = &b[at..end];
    let digit = |i: usize| t.get(i).is_some_and(u8::is_ascii_digit);
    let letter = |i: usize| t.get(i).is_some_and(u8::is_ascii_alphabetic);
    let plausible = match system {
        Some(System::Icd10Cm) => {
            letter(0) && (digit(1) || (t.get(..2).is_some_and(|p| p.eq_ignore_ascii_case(b"QA")) && digit(2)))
        }
        Some(System::Loinc) => {
            digit(0)
                || (t.len() > 2 && matches!(t[..2].to_ascii_uppercase()[..], [b'L', b'P' | b'A' | b'L']) && digit(2))
        }
        Some(System::Dea) => letter(0) && (letter(1) || t.get(1) == Some(&b'9')) && digit(2),
        Some(System::SnomedCt | System::Npi | System::Ndc | System::Cpt | System::RxNorm) => digit(0),
        None => t.iter().any(u8::is_ascii_digit),
    };
    if !plausible {
        return None;
    }
    // A CPT modifier (`99213-25`) is not part of the code.
    if system == Some(System::Cpt)
        && let Some(h) = t.iter().position(|&c| c == b'-')
        && t.len() - h == 3
    {
        return Some((at..at + h, end));
    }
    Some((at..end, end))
}

/// End of the token at `at`: ASCII alphanumeric runs joined by single dots
/// (and hyphens when `hyphens`). Reads at most `MAX_TOKEN + 1` bytes, so a
/// result more than `MAX_TOKEN` past `at` means "too long".
fn token_end(b: &[u8], at: usize, hyphens: bool) -> usize {
    let limit = b.len().min(at.saturating_add(MAX_TOKEN + 1));
    let mut i = at;
    loop {
        let run = b.get(i..limit).map_or(0, |r| r.iter().take_while(|c| c.is_ascii_alphanumeric()).count());
        if run == 0 {
            return i;
        }
        i += run;
        let joiner = matches!(b.get(i), Some(b'.')) || (hyphens && matches!(b.get(i), Some(b'-')));
        if joiner && b.get(i + 1).is_some_and(u8::is_ascii_alphanumeric) {
            i += 1;
        } else {
            return i;
        }
    }
}

/// True if the character before byte `at` joins a word starting there: a
/// letter or digit (any script), `_`, or a hyphen after a letter (`HLA-B27`).
fn glued_before(text: &str, at: usize) -> bool {
    let mut before = text.get(..at).unwrap_or_default().chars().rev();
    match before.next() {
        Some(c) if c.is_alphanumeric() || c == '_' => true,
        Some('-') => before.next().is_some_and(char::is_alphabetic),
        _ => false,
    }
}

/// True if the character at byte `at` continues a word: a letter or digit
/// (any script) or `_`.
fn glued_after(text: &str, at: usize) -> bool {
    text.get(at..).unwrap_or_default().chars().next().is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Like `glued_after`, and a dot followed by a letter or digit also
/// continues a code (`E11.9.1` is not `E11.9`).
fn glued_after_token(text: &str, at: usize) -> bool {
    let b = text.as_bytes();
    glued_after(text, at) || (b.get(at) == Some(&b'.') && glued_after(text, at + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Code, system, verdict in short, and whether a label named the system.
    type Found<'t> = (&'t str, System, &'static str, bool);

    /// One `Found` for each mention.
    fn found(text: &str) -> Vec<Found<'_>> {
        scan(text)
            .into_iter()
            .map(|m| {
                assert_eq!(&text[m.span.clone()], m.code);
                let v = match m.verdict {
                    Verdict::Valid(_) => "valid",
                    Verdict::Invalid(_) => "invalid",
                    Verdict::Unknown => "unknown",
                };
                (m.code, m.system, v, m.label.is_some())
            })
            .collect()
    }

    #[test]
    fn regexes_compile() {
        assert!(LABEL_RE.is_some());
        assert!(BARE_RE.is_some());
        assert!(LABEL_AT_START_RE.is_some());
    }

    #[test]
    fn labelled_examples() {
        use System::*;
        let cases: &[(&str, &[Found<'_>])] = &[
            ("ICD-10 E11.9", &[("E11.9", Icd10Cm, "valid", true)]),
            ("ICD-10-CM code E119.", &[("E119", Icd10Cm, "valid", true)]),
            ("the icd10 code e11.95 is", &[("e11.95", Icd10Cm, "invalid", true)]),
            ("LOINC 2345-7", &[("2345-7", Loinc, "valid", true)]),
            ("LOINC code: 2345-8.", &[("2345-8", Loinc, "invalid", true)]),
            ("SNOMED CT 44054006", &[("44054006", SnomedCt, "valid", true)]),
            ("SNOMED-CT concept id 22298007", &[("22298007", SnomedCt, "invalid", true)]),
            ("NPI 1234567893", &[("1234567893", Npi, "valid", true)]),
            ("NPI#: 1234567890", &[("1234567890", Npi, "invalid", true)]),
            ("NDC 0002-7597-01", &[("0002-7597-01", Ndc, "valid", true)]),
            ("CPT 99213", &[("99213", Cpt, "valid", true)]),
            ("CPT\u{ae} code 99213-25 and 3074F", &[("99213", Cpt, "valid", true), ("3074F", Cpt, "valid", true)]),
            ("RxNorm 197361", &[("197361", RxNorm, "valid", true)]),
            ("RXCUI: 0197361", &[("0197361", RxNorm, "invalid", true)]),
            ("DEA number AB1234563", &[("AB1234563", Dea, "valid", true)]),
            ("DEA# AB1234564", &[("AB1234564", Dea, "invalid", true)]),
            (
                "ICD-10 codes: E11.9, I10, and N18.3",
                &[
                    ("E11.9", Icd10Cm, "valid", true),
                    ("I10", Icd10Cm, "valid", true),
                    ("N18.3", Icd10Cm, "valid", true),
                ],
            ),
            ("LOINC 2345-7 or 4548-4", &[("2345-7", Loinc, "valid", true), ("4548-4", Loinc, "valid", true)]),
            ("ICD-10 E08-E13", &[("E08-E13", Icd10Cm, "valid", true)]),
            ("ICD-10 E11.9-E11.65", &[("E11.9", Icd10Cm, "valid", true), ("E11.65", Icd10Cm, "valid", true)]),
            ("**ICD-10:** `E11.9`", &[("E11.9", Icd10Cm, "valid", true)]),
        ];
        for (text, want) in cases {
            assert_eq!(found(text), *want, "{text}");
        }
    }

    #[test]
    fn bare_icd_tokens() {
        use System::Icd10Cm;
        assert_eq!(found("Dx: E11.9 and I10."), [("E11.9", Icd10Cm, "valid", false), ("I10", Icd10Cm, "valid", false)]);
        assert_eq!(found("coded as E11.95"), [("E11.95", Icd10Cm, "unknown", false)]);
        assert_eq!(found("gout M1A.0 vs M1A"), [("M1A.0", Icd10Cm, "valid", false)]);
        assert_eq!(found("M2A.9"), [("M2A.9", Icd10Cm, "unknown", false)]);
        assert_eq!(found("M1A.00X0"), [("M1A.00X0", Icd10Cm, "valid", false)]);
        assert_eq!(found("see S00.01XA."), [("S00.01XA", Icd10Cm, "valid", false)]);
        assert_eq!(found("E08-E13"), [("E08-E13", Icd10Cm, "valid", false)]);
        // Glued to other words, lower case, versions and alleles are not codes.
        for text in ["HLA-B27", "XE11.9", "E11.9x", "e11.9", "E11.9.1", "A1C", "E11.9\u{e9}", "\u{e9}E11.9", "E11_9"] {
            assert_eq!(found(text), [], "{text}");
        }
        assert_eq!(found("vitamin B12"), [("B12", Icd10Cm, "unknown", false)]);
    }

    #[test]
    fn other_systems_claim_their_codes() {
        assert_eq!(found("ICD-9 V45.81"), []);
        assert_eq!(found("ICD-10-PCS 0DTJ4ZZ, HCPCS J1234"), []);
        assert_eq!(found("ICD-11 5A11 and ICD-10 E11.9"), [("E11.9", System::Icd10Cm, "valid", true)]);
    }

    #[test]
    fn labels_need_a_code_nearby() {
        assert_eq!(found("NPI is required"), []);
        assert_eq!(found("the DEA said"), []);
        assert_eq!(found("LOINC\n\n2345-7"), []);
        assert_eq!(found("CPT99213"), []);
        assert_eq!(found("ICD-10 code for diabetes is E11.9"), [("E11.9", System::Icd10Cm, "valid", false)]);
    }

    #[test]
    fn long_tokens_are_not_codes() {
        let digits = "1".repeat(MAX_TOKEN + 1);
        assert_eq!(found(&format!("NPI {digits}")), []);
        assert_eq!(found(&format!("NPI {}", &digits[..19])), [(&digits[..19], System::Npi, "invalid", true)]);
    }

    #[test]
    fn pathological_inputs_stay_linear() {
        // Labels inside one long dotted token, each of which would read the
        // rest of it again if token reading were not capped.
        for unit in ["NPI.x.", "ICD-10 ", "LOINC 1-", "E11.", "NPI 1, ", "DEA AB1234563/"] {
            let text = unit.repeat(200_000 / unit.len());
            let start = std::time::Instant::now();
            let _ = scan(&text);
            assert!(start.elapsed() < std::time::Duration::from_secs(5), "{unit}: {:?}", start.elapsed());
        }
    }

    #[test]
    fn spans_are_byte_offsets() {
        let text = "Überweisung – ICD-10: E11.9; LOINC 2345-7 \u{2014} NDC 0002-7597-01";
        let m = scan(text);
        assert_eq!(m.len(), 3);
        for x in &m {
            assert_eq!(&text[x.span.clone()], x.code);
            assert!(x.verdict.is_valid());
        }
        let label = m[1].label.clone().unwrap_or_default();
        assert_eq!(&text[label], "LOINC");
    }
}
