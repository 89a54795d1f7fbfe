//! The detector: the compiled pattern pass, checksum and context checks,
//! then a token pass for names and places (dictionaries, titles, labels,
//! sections), then one merge into sorted, non-overlapping spans.

use std::sync::OnceLock;

use crate::dict::{self, Dicts, STATE_NAMES, STATES};
use crate::patterns::{Alt, GLUED_STREET_ENDINGS, KEYED, KEYED_REACH, Patterns, floor_char, glued_keys, patterns};
use crate::types::{PhiType, Span};
use regex_automata::util::captures::Captures;

/// Tuning of a [`Detector`].
#[derive(Clone, Debug, PartialEq)]
pub struct DetectorConfig {
    /// Spans scoring below this are dropped (0..=1).
    pub min_score: f32,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig { min_score: 0.5 }
    }
}

/// Finds PHI in text. Cheap to clone; the compiled patterns and dictionaries
/// are shared process-wide and built on first use.
#[derive(Clone, Debug, Default)]
pub struct Detector {
    config: DetectorConfig,
}

/// Text the detector reads once at start-up to build its common DFA states.
const WARMUP: &str = include_str!("../data/warmup.txt");

impl Detector {
    /// A detector with the given tuning.
    pub fn new(config: DetectorConfig) -> Self {
        Detector { config }
    }

    /// Compiles the patterns and loads the dictionaries now rather than on the
    /// first call (servers call this at start-up).
    pub fn preload() {
        let _ = patterns();
        let _ = dict::dicts();
        let _ = lexicon();
        // The pattern DFAs come built with the crate, but the capture
        // engine and the per-thread word cache fill on first use; a pass
        // over a short warm-up text (invented notes, letters, a transcript
        // and messages; in no evaluation set) fills them with the common
        // cases before real input.
        for part in WARMUP.split("\n\n") {
            let _ = Detector::default().detect(part);
        }
    }

    /// Every identifier in `text` as sorted, non-overlapping byte spans on
    /// `char` boundaries. Linear in the length of `text`.
    pub fn detect(&self, text: &str) -> Vec<Span> {
        let mut out = Vec::new();
        self.detect_into(text, &mut out);
        out
    }

    /// [`Detector::detect`] into `out` (cleared first), whose allocation a
    /// caller going through many texts reuses.
    pub fn detect_into(&self, text: &str, out: &mut Vec<Span>) {
        out.clear();
        if text.is_empty() {
            return;
        }
        SCRATCH.with(|slot| match slot.try_borrow_mut() {
            Ok(mut scratch) => {
                if scratch.recent.is_empty() {
                    scratch.recent = vec![(0, WordInfo::default()); WORD_CACHE_SLOTS];
                }
                self.detect_in(text, &mut scratch, out);
                if scratch.words.low_buf.capacity() > SCRATCH_KEEP {
                    scratch.words = Words::default();
                    scratch.scanned = Vec::new();
                    scratch.spans = Vec::new();
                }
            }
            // Re-entered on this thread: buffers of its own.
            Err(_) => self.detect_in(text, &mut Scratch::default(), out),
        })
    }

    fn detect_in(&self, text: &str, scratch: &mut Scratch, out: &mut Vec<Span>) {
        // Spans are gathered in the thread's buffer and the result is
        // reserved once, at its size: a vector grown span by span took a
        // new block at each doubling, and on text the processor has not
        // seen, new blocks are memory misses.
        let spans = &mut scratch.spans;
        spans.clear();
        scratch.words.read(text, &mut scratch.recent);
        if let Some(p) = patterns() {
            pattern_pass(p, text, &scratch.words, &mut scratch.caps, &mut scratch.scanned, spans);
        }
        token_pass(dict::dicts(), text, &scratch.words, spans);
        merge(spans);
        let keep = |s: &&Span| s.score >= self.config.min_score;
        out.reserve_exact(spans.iter().filter(keep).count());
        out.extend(spans.iter().filter(keep).copied());
    }
}

fn push(spans: &mut Vec<Span>, start: usize, end: usize, kind: PhiType, score: f32, rule: &'static str) {
    if start < end {
        spans.push(Span { start, end, kind, score, rule });
    }
}

/// The text before `pos` in lower case, at most `window` bytes back and on
/// the same line. `low` is the text in ASCII lower case ([`Lowered::low`]).
fn words_before(low: &str, pos: usize, window: usize) -> &str {
    let from = floor_char(low, pos.saturating_sub(window));
    let s = low.get(from..pos).unwrap_or("");
    s.rsplit('\n').next().unwrap_or("")
}

/// A text with its ASCII lower-case form, byte for byte at the same
/// offsets (so on the same char boundaries): match handlers compare words
/// in it without a lower-case copy each.
#[derive(Clone, Copy)]
struct Lowered<'a> {
    text: &'a str,
    low: &'a str,
}

fn last_word(s: &str) -> &str {
    s.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
        .rsplit(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or("")
}

/// Words before a number that mark it as a clinical code, a dose or a
/// measurement, never an identifier.
const CODE_CONTEXT: [&str; 16] = [
    "snomed", "loinc", "icd", "icd10", "icd-10", "cpt", "rxnorm", "ndc", "hcpcs", "code", "codes", "rxcui", "cvx",
    "sct", "dx", "ucum",
];

fn is_code_context(before: &str) -> bool {
    let w = last_word(before);
    CODE_CONTEXT.contains(&w)
        || before.trim_end().ends_with("code:")
        || before.contains("snomed")
        || before.contains("loinc")
}

/// The type of identifier a label (in lower case) names.
fn label_kind(l: &str) -> PhiType {
    let has = |w: &str| contains_short(l.as_bytes(), w.as_bytes());
    if has("medical record")
        || has("med rec")
        || has("medical rec")
        || l.starts_with("mrn")
        || l.starts_with("mr") && l.contains('#')
        || has("chart")
        || has("patient")
        || has("hospital")
        || has("unit")
    {
        PhiType::Mrn
    } else if has("member")
        || has("subscriber")
        || has("policy")
        || has("insurance")
        || has("group")
        || has("medicaid")
        || has("medicare")
        || l == "mbi"
        || has("health plan")
        || has("beneficiary")
        || has("plan")
    {
        PhiType::HealthPlanId
    } else if has("account") || has("acct") || has("billing") || has("financial") || has("card") || has("bank") {
        PhiType::Account
    } else if has("vin") || has("vehicle") || has("plate") {
        PhiType::VehicleId
    } else if has("licen")
        || l.starts_with("dl")
        || l.starts_with("dea")
        || l.starts_with("npi")
        || has("certificate")
        || has("cert")
        || has("upin")
    {
        PhiType::License
    } else if has("serial") || has("s/n") || has("device") || l == "udi" || has("implant") || has("model") || has("lot")
    {
        PhiType::DeviceId
    } else if has("ssn") || has("social security") || has("ss#") {
        PhiType::Ssn
    } else {
        PhiType::OtherId
    }
}

/// Whether `hay` contains `needle`, by a plain search: a label is a few
/// words, and setting up a substring searcher for each of the forty words
/// `label_kind` asks about cost more than the searches.
fn contains_short(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else { return true };
    hay.iter().enumerate().any(|(i, &b)| b == first && hay.get(i + 1..).is_some_and(|t| t.starts_with(rest)))
}

fn digits(s: &str) -> impl Iterator<Item = u32> + '_ {
    s.bytes().filter(u8::is_ascii_digit).map(|b| u32::from(b - b'0'))
}

/// Luhn check over the digits of `s`.
pub(crate) fn luhn_ok(s: &str) -> bool {
    let ds: Vec<u32> = digits(s).collect();
    if ds.len() < 2 {
        return false;
    }
    let sum: u32 = ds
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// An NPI is valid when "80840" + its ten digits pass Luhn.
pub(crate) fn npi_ok(s: &str) -> bool {
    let ds: String = s.chars().filter(char::is_ascii_digit).collect();
    ds.len() == 10 && luhn_ok(&format!("80840{ds}"))
}

/// SSA rules: area not 000, 666 or 9xx; group not 00; serial not 0000.
pub(crate) fn ssn_ok(s: &str) -> bool {
    let ds: Vec<u32> = digits(s).collect();
    if ds.len() != 9 {
        return false;
    }
    let area = ds[0] * 100 + ds[1] * 10 + ds[2];
    let group = ds[3] * 10 + ds[4];
    let serial = ds[5] * 1000 + ds[6] * 100 + ds[7] * 10 + ds[8];
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// DEA registration check digit.
pub(crate) fn dea_ok(s: &str) -> bool {
    let ds: Vec<u32> = digits(s).collect();
    if ds.len() != 7 {
        return false;
    }
    let sum = ds[0] + ds[2] + ds[4] + 2 * (ds[1] + ds[3] + ds[5]);
    sum % 10 == ds[6]
}

/// IBAN mod-97 check.
pub(crate) fn iban_ok(s: &str) -> bool {
    let c: Vec<u8> = s.bytes().filter(u8::is_ascii_alphanumeric).map(|b| b.to_ascii_uppercase()).collect();
    if c.len() < 15 || c.len() > 34 {
        return false;
    }
    let mut rem: u32 = 0;
    for &b in c[4..].iter().chain(&c[..4]) {
        let v = if b.is_ascii_digit() { u32::from(b - b'0') } else { u32::from(b - b'A') + 10 };
        rem = if v >= 10 { (rem * 100 + v) % 97 } else { (rem * 10 + v) % 97 };
    }
    rem == 1
}

/// VIN check digit (position 9) per ISO 3779 / 49 CFR 565.
pub(crate) fn vin_ok(s: &str) -> bool {
    const W: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];
    let b = s.as_bytes();
    if b.len() != 17 || !b.iter().any(u8::is_ascii_digit) || !b.iter().any(u8::is_ascii_alphabetic) {
        return false;
    }
    let val = |c: u8| -> u32 {
        match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'H' => u32::from(c - b'A') + 1,
            b'J'..=b'N' => u32::from(c - b'J') + 1,
            b'P' => 7,
            b'R'..=b'Z' => u32::from(c - b'R') + 9,
            _ => 0,
        }
    };
    let sum: u32 = b.iter().zip(W).map(|(&c, w)| val(c) * w).sum();
    let check = sum % 11;
    b[8] == if check == 10 { b'X' } else { b'0' + check as u8 }
}

/// A two-letter US state or territory code, in any case.
fn is_state_code(w: &str) -> bool {
    w.len() == 2
        && STATES.as_bytes().chunks(3).any(|c| c.get(..2).is_some_and(|c| c.eq_ignore_ascii_case(w.as_bytes())))
}

/// Whether `before` (in lower case) ends with a state's code or name.
fn state_before(before: &str) -> bool {
    // "Boston, MA 02115" / "Boston, Massachusetts 02115"
    let t = before.trim_end_matches([' ', '\t', ',']);
    let w = t.rsplit([' ', ',', '\t']).next().unwrap_or("");
    is_state_code(w.trim_end_matches('.')) || STATE_NAMES.iter().any(|s| t.ends_with(s))
}

const DATE_CONTEXT: [&str; 28] = [
    "on",
    "since",
    "from",
    "until",
    "till",
    "to",
    "through",
    "thru",
    "by",
    "before",
    "after",
    "dated",
    "date",
    "dos",
    "dob",
    "seen",
    "of",
    "last",
    "next",
    "starting",
    "started",
    "effective",
    "admitted",
    "discharged",
    "returned",
    "visit",
    "born",
    "between",
];

fn pattern_pass(
    p: &Patterns,
    text: &str,
    words: &Words,
    caps: &mut Vec<Option<Captures>>,
    scanned: &mut Vec<(usize, usize, usize)>,
    spans: &mut Vec<Span>,
) {
    // Capture slots only for the alternatives with groups that match.
    if caps.len() != p.alts.len() {
        caps.clear();
        caps.resize_with(p.alts.len(), || None);
    }
    p.matches_into(text, scanned);
    let src = words.lowered(text);
    for &(k, s0, e0) in scanned.iter() {
        on_match(p, src, k, s0, e0, caps, spans);
    }
    // The keyed alternatives, from their trigger words: each word once per
    // alternative, unless a match already holds it. A label glued to its
    // value ("MRN12345", "mrnr472348") is tried whatever the word.
    let glued = glued_keys();
    let mut done = [0usize; KEYED.len()];
    let mut from = [0usize; KEYED.len()];
    // Matches of keyed alternatives that hide what begins inside them
    // ([`Keyed::consumes`]), in the order found: (trigger word, start, end).
    let mut consumed: Vec<(usize, usize, usize)> = Vec::new();
    for (t, w) in words.toks.iter().zip(&words.info) {
        let mut keys = w.keys | if t.digit_suffix { glued } else { 0 };
        while keys != 0 {
            let j = keys.trailing_zeros() as usize;
            keys &= keys - 1;
            let Some(d) = done.get_mut(j) else { continue };
            if t.start < *d {
                continue;
            }
            let Some(from) = from.get_mut(j) else { continue };
            let Some((k, s, e)) = p.keyed_match(text, j, t.start, t.end, from) else { continue };
            // As in one scan, a match cannot begin inside an earlier scan
            // match: in "www.x.org/mrn12345" the URL holds the label.
            let inside = scanned.partition_point(|&(_, a, _)| a < s);
            if inside > 0 && scanned.get(inside - 1).is_some_and(|&(_, _, b)| s < b) {
                continue;
            }
            // Nor inside an earlier match of a keyed alternative that
            // consumes its text ("459 33 fax\n+41 38 549 02 90 mobile":
            // "fax" ends a number). Trigger words come in order and a match
            // ends within KEYED_REACH of its word: older ones cannot hold `s`.
            if consumed.iter().rev().take_while(|&&(w, _, _)| w + KEYED_REACH > s).any(|&(_, a, b)| a < s && s < b) {
                continue;
            }
            if KEYED.get(j).is_some_and(|key| key.consumes) {
                consumed.push((t.start, s, e));
            }
            *d = e;
            on_match(p, src, k, s, e, caps, spans);
        }
    }
}

/// One match of alternative `k` at `s0..e0`: checks and context, then its span.
fn on_match(
    p: &Patterns,
    src: Lowered<'_>,
    k: usize,
    s0: usize,
    e0: usize,
    caps: &mut [Option<Captures>],
    spans: &mut Vec<Span>,
) {
    use regex_automata::{Anchored, Input};
    let Lowered { text, low } = src;
    // The scan says which alternative matched; only one with groups
    // runs again, anchored on the matched stretch, to find them. A capture
    // run costs some thousands of instructions, so alternatives whose parts
    // the text shows plainly (phone and country-postcode values) have no
    // groups: their handlers read the parts off.
    let Some((alt, r)) = p.alts.get(k).map(|(a, r)| (*a, r)) else { return };
    let (mut s, mut e) = (s0, e0);
    let grouped = r.group_info().all_group_len() > 1;
    // Alternatives cut into parts find their groups part by part.
    let parts = if grouped { p.groups(k, text, s, e) } else { None };
    let c = match caps.get_mut(k) {
        Some(slot) if grouped && parts.is_none() => {
            let c = slot.get_or_insert_with(|| r.create_captures());
            let input = Input::new(text).span(s..e).anchored(Anchored::Yes);
            r.search_captures(&input, c);
            let Some(m) = c.get_match() else { return };
            (s, e) = (m.start(), m.end());
            Some(&*c)
        }
        _ => None,
    };
    let t = text.get(s..e).unwrap_or("");
    let group = |name: &str| {
        let g = match &parts {
            Some(parts) => parts.get(name),
            None => c.and_then(|c| c.get_group_by_name(name)).map(|g| (g.start, g.end)),
        };
        g.map(|(a, b)| (a, b, text.get(a..b).unwrap_or("")))
    };
    match alt {
        Alt::Email => push(spans, s, e, PhiType::Email, 0.99, "email"),
        Alt::Url => push(spans, s, e, PhiType::Url, 0.95, "url"),
        Alt::Domain => {
            // "e.g.", "i.e." and file names are not matched (TLD list);
            // a bare domain with a name part of one letter is too weak.
            if t.split('.').next().is_some_and(|h| h.len() > 1) {
                push(spans, s, e, PhiType::Url, 0.8, "domain");
            }
        }
        Alt::Ipv4 => {
            let before = words_before(low, s, 24);
            // Version numbers and dotted codes: keep addresses that look
            // like addresses (not 1.2.3.4-style small numbers without context).
            let ctx = before.contains("ip")
                || before.contains("address")
                || before.contains("host")
                || before.contains("from");
            let big = t.split('.').filter(|o| o.len() >= 2).count() >= 2;
            if ctx || big {
                push(spans, s, e, PhiType::Ip, if ctx { 0.97 } else { 0.85 }, "ipv4");
            }
        }
        Alt::Ipv6 => {
            // "10:30:00" times are not IPv6: require a hex letter or 4+ groups.
            if t.matches(':').count() >= 3 || t.bytes().any(|b| b.is_ascii_alphabetic()) {
                push(spans, s, e, PhiType::Ip, 0.9, "ipv6");
            }
        }
        Alt::LabelledPhone => {
            // Neither the label nor the gap after it holds a digit, "+" or
            // "(": the number starts at the first of them and ends the match.
            let Some(vs) = t.find(|c: char| c.is_ascii_digit() || c == '+' || c == '(') else { return };
            let v = (s + vs, e, t.get(vs..).unwrap_or(""));
            let n = digits(v.2).count();
            if (7..=15).contains(&n) {
                let fax = t.get(..2).is_some_and(|l| l.eq_ignore_ascii_case("fa"));
                let kind = if fax { PhiType::Fax } else { PhiType::Phone };
                push(spans, v.0, v.1, kind, 0.93, if fax { "fax_label" } else { "phone_label" });
            } else if (13..=19).contains(&n) && luhn_ok(v.2) {
                // "Number is 4081 0802 2543 4352": the label said number,
                // the digits say card.
                push(spans, v.0, v.1, PhiType::Account, 0.95, "card_luhn");
            }
        }
        Alt::LabelledId => {
            let (Some(l), Some(v)) = (group("label"), group("value")) else { return };
            let val = v.2;
            let nd = digits(val).count();
            if nd == 0 || val.len() < 3 {
                return;
            }
            let ll = low.get(l.0..l.1).unwrap_or("");
            let mut kind = label_kind(ll);
            // A bare "ID"/"identifier" label needs a value that looks like one.
            if kind == PhiType::OtherId && (ll == "id" || ll == "identifier") && nd < 4 {
                return;
            }
            if kind == PhiType::Ssn && !ssn_ok(val) {
                kind = PhiType::OtherId;
            }
            let rule = match kind {
                PhiType::Mrn => "mrn_label",
                PhiType::HealthPlanId => "health_plan_label",
                PhiType::Account => "account_label",
                PhiType::VehicleId => "vehicle_label",
                PhiType::License => {
                    if ll.starts_with("npi") && npi_ok(val) || ll.starts_with("dea") && dea_ok(val) {
                        "license_checksum"
                    } else {
                        "license_label"
                    }
                }
                PhiType::DeviceId => "device_label",
                PhiType::Ssn => "ssn_label",
                _ => "id_label",
            };
            push(spans, v.0, v.1, kind, 0.92, rule);
        }
        Alt::Ssn => {
            if ssn_ok(t) {
                let before = words_before(low, s, 30);
                let ctx = before.contains("ssn") || before.contains("social") || before.contains("ss#");
                push(spans, s, e, PhiType::Ssn, if ctx { 0.99 } else { 0.85 }, "ssn");
            }
        }
        Alt::DateIso | Alt::DateNumeric | Alt::DateMonthFirst | Alt::DateDayFirst | Alt::DateMonthYear => {
            // "the 5th of May": the article is part of the phrase, not the date.
            let (s2, t2) = match t.get(..4) {
                Some(p4) if p4.eq_ignore_ascii_case("the ") => (s + 4, &t[4..]),
                _ => (s, t),
            };
            if alt == Alt::DateMonthFirst || alt == Alt::DateDayFirst {
                // "may 5 mg": a modal verb and a dose, not a date.
                if t2.get(..4).is_some_and(|w| w.eq_ignore_ascii_case("may ")) && t2.starts_with('m') {
                    return;
                }
                let after = low.get(e..).unwrap_or("").trim_start();
                let unit = after.split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
                if [
                    "mg", "mcg", "ml", "units", "unit", "g", "kg", "mmol", "meq", "tablets", "tabs", "times", "days",
                    "weeks", "hours", "years",
                ]
                .contains(&unit)
                {
                    return;
                }
            }
            push(spans, s2, e, PhiType::Date, 0.95, "date");
        }
        Alt::DateDots => push(spans, s, e, PhiType::Date, 0.8, "date_dots"),
        Alt::DateMonthDay => {
            let before = words_before(low, s, 24);
            let w = last_word(before);
            let after = text.get(e..).unwrap_or("");
            let followed_by_number = after.trim_start().starts_with(|c: char| c.is_ascii_digit());
            // A past participle before it ("extubated 8/16", "started 3/4")
            // dates it too, except for ratings ("rated 4/10").
            let verb = w.len() > 4
                && w.ends_with("ed")
                && !["rated", "graded", "scored", "measured", "reduced", "increased", "decreased"].contains(&w);
            if (DATE_CONTEXT.contains(&w) || verb || before.trim().is_empty()) && !followed_by_number {
                push(spans, s, e, PhiType::Date, 0.75, "date_month_day");
            }
        }
        Alt::MonthAlone => push(spans, s, e, PhiType::Date, 0.6, "month"),
        Alt::AgeYears | Alt::AgeAged => {
            for g in ["agen1", "agen2"] {
                if let Some(n) = group(g) {
                    push(spans, n.0, n.1, PhiType::Age, 0.9, "age_over_89");
                }
            }
        }
        Alt::Street => push(spans, s, e, PhiType::Location, 0.9, "street_address"),
        Alt::StreetPrefix | Alt::StreetEnding | Alt::AddressLine => {
            // A quoted line starts with "> "; the span starts at the number.
            let s = s + t.find(|c: char| c.is_alphanumeric()).unwrap_or(0);
            let e = s + text.get(s..e).unwrap_or("").trim_end().len();
            if address_words_ok(src, s, e) {
                let (score, rule) = match alt {
                    Alt::StreetPrefix => (0.85, "street_type_first"),
                    Alt::StreetEnding => (0.85, "street_type_last"),
                    _ => (0.75, "address_line"),
                };
                push(spans, s, e, PhiType::Location, score, rule);
            }
        }
        Alt::AddressContext => {
            if let Some(v) = group("addr")
                && address_words_ok(src, v.0, v.1)
            {
                push(spans, v.0, v.1, PhiType::Location, 0.8, "address_context");
            }
        }
        Alt::CityPostal => {
            if let Some(v) = group("city")
                && address_words_ok(src, v.0, v.1)
                && !text.get(v.0..v.1).unwrap_or("").split_whitespace().any(|w| {
                    let l = w.to_lowercase();
                    dict::dicts().common.contains(l.as_str()) || STATE_NAMES.contains(&l.as_str())
                })
            {
                push(spans, v.0, v.1, PhiType::Location, 0.7, "city_postal");
            }
        }
        Alt::StreetNamed => {
            if address_words_ok(src, s, e) {
                push(spans, s, e, PhiType::Location, 0.75, "street_name");
            }
        }
        Alt::Military => push(spans, s, e, PhiType::Location, 0.9, "military_address"),
        Alt::PostalLabel => {
            if let Some(v) = group("postal") {
                push(spans, v.0, v.1, PhiType::Location, 0.9, "postal_label");
            }
        }
        Alt::PostalCountry => {
            // The country's name has no digit: the code starts at the first.
            if let Some(d) = t.find(|c: char| c.is_ascii_digit()) {
                push(spans, s + d, e, PhiType::Location, 0.85, "postal_after_country");
            }
        }
        Alt::PoBox => push(spans, s, e, PhiType::Location, 0.9, "po_box"),
        Alt::Unit => push(spans, s, e, PhiType::Location, 0.75, "unit"),
        Alt::Facility => facility(src, s, e, spans),
        Alt::County => push(spans, s, e, PhiType::Location, 0.85, "county"),
        Alt::Card => {
            let n = digits(t).count();
            if (13..=19).contains(&n) && luhn_ok(t) {
                push(spans, s, e, PhiType::Account, 0.95, "card_luhn");
            } else {
                long_number(low, text, s, e, spans);
            }
        }
        Alt::Iban => {
            if iban_ok(t) {
                push(spans, s, e, PhiType::Account, 0.97, "iban");
            }
        }
        Alt::Phone => {
            let before = words_before(low, s, 20);
            let fax = before.contains("fax");
            push(spans, s, e, if fax { PhiType::Fax } else { PhiType::Phone }, 0.9, if fax { "fax" } else { "phone" });
        }
        Alt::PhoneTrailing => {
            // The number without its trailing label word.
            let num_end = t.rfind(|c: char| c.is_ascii_digit()).map_or(0, |i| i + 1);
            let fax = low.get(s + num_end..e).is_some_and(|w| w.contains("fax"));
            if (7..=15).contains(&digits(t).count()) {
                push(
                    spans,
                    s,
                    s + num_end,
                    if fax { PhiType::Fax } else { PhiType::Phone },
                    0.85,
                    "phone_trailing_label",
                );
            }
        }
        Alt::PhoneIntl => {
            if (8..=15).contains(&digits(t).count()) {
                // "+46 (0)8 928 571 38 fax": the label after it says which.
                let label = text.get(e..).unwrap_or("").trim_start_matches([' ', '\t', '-']);
                let fax = label.get(..3).is_some_and(|w| w.eq_ignore_ascii_case("fax"))
                    && !label.as_bytes().get(3).is_some_and(u8::is_ascii_alphanumeric);
                push(spans, s, e, if fax { PhiType::Fax } else { PhiType::Phone }, 0.85, "phone_intl");
            }
        }
        Alt::Zip => {
            let before = words_before(low, s, 40);
            let zip5 = t.get(..5).unwrap_or(t);
            let label = before.contains("zip") || before.contains("postal");
            if label || (dict::is_known_zip(zip5) && state_before(before)) {
                push(spans, s, e, PhiType::Location, 0.9, "zip");
            }
        }
        Alt::Dea => {
            if dea_ok(t) {
                push(spans, s, e, PhiType::License, 0.85, "dea_checksum");
            }
        }
        Alt::Vin => {
            if vin_ok(t) {
                push(spans, s, e, PhiType::VehicleId, 0.9, "vin_checksum");
            }
        }
        Alt::LongNumber => long_number(low, text, s, e, spans),
        Alt::AlnumId => {
            let before = words_before(low, s, 24);
            if !is_code_context(before) {
                push(spans, s, e, PhiType::OtherId, 0.6, "alnum_id");
            }
        }
    }
}

/// Units and counts that turn "Word 12" into a dose or a measurement.
const AFTER_NUMBER_UNITS: [&str; 22] = [
    "mg", "mcg", "ml", "g", "kg", "units", "unit", "mmol", "meq", "mm", "cm", "tablets", "tabs", "times", "days",
    "weeks", "hours", "years", "months", "minutes", "percent", "puffs",
];

/// An address match made only of place words: no drug, condition or
/// ordinary word, and no unit after its number ("Via IV 2 mg").
fn address_words_ok(src: Lowered<'_>, s: usize, e: usize) -> bool {
    let d = dict::dicts();
    // The lower-case text splits into the same words; only a word with
    // other than ASCII letters needs a full lower-case copy.
    let t = src.low.get(s..e).unwrap_or("");
    let words_ok = t
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| w.len() > 2)
        .all(|w| if w.is_ascii() { !d.medical.contains(w) } else { !d.medical.contains(w.to_lowercase().as_str()) });
    let after = src.low.get(e..).unwrap_or("").trim_start();
    let unit = after.split(|c: char| !c.is_ascii_alphabetic()).next().unwrap_or("");
    let not_time = !t
        .split(|c: char| !c.is_alphabetic())
        .any(|w| ["am", "pm", "north", "south", "east", "west", "floor", "wing"].contains(&w));
    words_ok && not_time && !AFTER_NUMBER_UNITS.contains(&unit)
}

/// Street names with the type glued to the end, before a house number
/// ("Loorenstrasse 149", "24 Præstevænget 15", "Hauptstr. 5"): a
/// capitalised word followed by a number is checked for a street ending.
fn glued_streets(src: Lowered<'_>, toks: &[Tok], spans: &mut Vec<Span>) {
    let text = src.text;
    for t in toks.iter().filter(|t| t.case == Case::Title && !t.digit_suffix && matches!(t.next_char, ' ' | '\t' | '.'))
    {
        // Most capitalised words are followed by a word, not by a number:
        // a look at the bytes settles those.
        let b = text.as_bytes();
        let mut q = t.end + usize::from(b.get(t.end) == Some(&b'.'));
        let blank = q;
        while matches!(b.get(q), Some(b' ' | b'\t')) {
            q += 1;
        }
        if q == blank || !b.get(q).is_some_and(u8::is_ascii_digit) {
            continue;
        }
        let dotted = blank > t.end;
        let number = text.get(q..).unwrap_or("");
        // 1-5 digits, an optional letter ("12a"), then no letter or digit.
        let digits = number.bytes().take_while(u8::is_ascii_digit).count();
        let letter = usize::from(number.as_bytes().get(digits).is_some_and(u8::is_ascii_alphabetic));
        if !(1..=5).contains(&digits) || number.as_bytes().get(digits + letter).is_some_and(u8::is_ascii_alphanumeric) {
            continue;
        }
        let word = text.get(t.start..t.end).unwrap_or("");
        let rest = word.get(word.chars().next().map_or(0, char::len_utf8)..).unwrap_or("");
        let glued = GLUED_STREET_ENDINGS.iter().any(|end| match end.strip_suffix('.') {
            Some(e) => dotted && rest.len() > e.len() && rest.ends_with(e),
            None => !dotted && rest.len() > end.len() && rest.ends_with(end),
        });
        if !glued || text.get(..t.start).unwrap_or("").chars().next_back().is_some_and(char::is_alphanumeric) {
            continue;
        }
        // A house number may come first too ("24 Præstevænget 15").
        let lead = text.get(..t.start).unwrap_or("").trim_end_matches([' ', '\t']);
        let n = lead.len() - lead.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let s = if (1..=6).contains(&n)
            && lead.len() < t.start
            && !lead.get(..lead.len() - n).unwrap_or("").chars().next_back().is_some_and(char::is_alphanumeric)
        {
            lead.len() - n
        } else {
            t.start
        };
        let e = q + digits + letter;
        if address_words_ok(src, s, e) {
            push(spans, s, e, PhiType::Location, 0.85, "street_type_last");
        }
    }
}

/// A postal code on its own line of a multi-line address: in the few lines
/// after a street address, a short line that ends in a postal-code shape
/// ("53650", "ASKER 1386", "Aalborg NO 9100", "840 24", "B0J 2H0").
fn address_block_postcodes(text: &str, spans: &mut Vec<Span>) {
    // The spans found before this pass (it adds after them).
    let found = spans.len();
    let mut next_free = 0;
    for k in 0..found {
        let Some(end) = spans
            .get(k)
            .filter(|s| s.kind == PhiType::Location && s.rule != "zip" && s.rule != "postal_label")
            .map(|s| s.end)
        else {
            continue;
        };
        // Only the next few hundred bytes are looked at: many addresses on
        // one long line must not make this quadratic.
        let limit = floor_char(text, (end + 400).min(text.len()));
        let window = |from: usize| text.get(from..limit).unwrap_or("");
        let Some(nl) = window(end).find('\n') else { continue };
        let mut pos = (end + nl + 1).max(next_free);
        for _ in 0..5 {
            if pos >= limit {
                break;
            }
            let line_end = window(pos).find('\n').map_or(limit, |k| pos + k);
            let line = text.get(pos..line_end).unwrap_or("");
            if line.trim().is_empty() || line.len() > 48 {
                pos = line_end + 1;
                continue;
            }
            if let Some((a, b)) = trailing_postcode(line) {
                push(spans, pos + a, pos + b, PhiType::Location, 0.8, "address_block_postcode");
                next_free = line_end + 1;
                break;
            }
            pos = line_end + 1;
        }
    }
}

/// The byte range of a postal code ending `line`, when the rest of the line
/// is at most four words without digits (a city, a region code, a country).
fn trailing_postcode(line: &str) -> Option<(usize, usize)> {
    let t = line.trim_end();
    let toks: Vec<(usize, &str)> =
        t.split_whitespace().map(|w| (w.as_ptr() as usize - t.as_ptr() as usize, w)).collect();
    let is_num = |w: &str, lo: usize, hi: usize| (lo..=hi).contains(&w.len()) && w.bytes().all(|b| b.is_ascii_digit());
    let canadian = |a: &str, b: &str| {
        let ab = a.as_bytes();
        let bb = b.as_bytes();
        ab.len() == 3
            && bb.len() == 3
            && ab[0].is_ascii_uppercase()
            && ab[1].is_ascii_digit()
            && ab[2].is_ascii_uppercase()
            && bb[0].is_ascii_digit()
            && bb[1].is_ascii_uppercase()
            && bb[2].is_ascii_digit()
    };
    let n = toks.len();
    let (first_code, rest) = match n {
        0 => return None,
        _ if n >= 2
            && (is_num(toks[n - 2].1, 3, 3) && is_num(toks[n - 1].1, 2, 2)
                || canadian(toks[n - 2].1, toks[n - 1].1)) =>
        {
            (n - 2, &toks[..n - 2])
        }
        _ => {
            let w = toks[n - 1].1;
            let dashed = w.split_once('-').is_some_and(|(a, b)| is_num(a, 2, 4) && is_num(b, 3, 4));
            if !(is_num(w, 3, 6) || dashed) {
                return None;
            }
            (n - 1, &toks[..n - 1])
        }
    };
    let words_ok = rest.len() <= 4
        && rest.iter().all(|(_, w)| {
            let w = w.trim_start_matches(['>', '?', ',']).trim_end_matches(',');
            !w.bytes().any(|b| b.is_ascii_digit())
                && (w.is_empty() || w == "nan" || w.chars().next().is_some_and(char::is_uppercase))
        });
    words_ok.then(|| (toks[first_code].0, t.len()))
}

fn long_number(low: &str, text: &str, s: usize, e: usize, spans: &mut Vec<Span>) {
    let before = words_before(low, s, 24);
    if is_code_context(before) {
        return;
    }
    let t = text.get(s..e).unwrap_or("");
    if before.contains("npi") && npi_ok(t) {
        push(spans, s, e, PhiType::License, 0.9, "npi_checksum");
    } else {
        push(spans, s, e, PhiType::OtherId, 0.6, "long_number");
    }
}

/// Words that name a kind of service, not a place: "Cardiology Clinic" and
/// "Mental Health" identify nobody.
const GENERIC_FACILITY_WORDS: &str = "the a an our his her their your my this that at to in from of and or cardiology oncology \
    dermatology pediatric pediatrics family primary urgent walk-in eye dental outpatient inpatient diabetes pain sleep fertility \
    general community regional medical mental public behavioral behavioural women's men's home occupational environmental global \
    oral sexual reproductive population child children's maternal student employee veterans va psychiatric surgical \
    orthopedic neurology gi allergy asthma wound vascular heart cancer kidney liver lung breast spine sports travel \
    vision hearing weight nutrition wellness physical therapy rehab rehabilitation emergency trauma teaching private \
    local nearby new same other another previous prior outside free county state city university good better";

/// Health insurers: their names identify nobody.
const PAYERS: [&str; 14] = [
    "cigna",
    "aetna",
    "humana",
    "anthem",
    "unitedhealthcare",
    "united",
    "blue",
    "kaiser",
    "tricare",
    "medicare",
    "medicaid",
    "molina",
    "centene",
    "wellcare",
];

/// [`GENERIC_FACILITY_WORDS`] as a set: splitting the list for every word
/// of every facility match was a tenth of the work on Haven's notes.
fn generic_facility_words() -> &'static dict::FxSet<&'static str> {
    static SET: OnceLock<dict::FxSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| GENERIC_FACILITY_WORDS.split_whitespace().collect())
}

fn facility(src: Lowered<'_>, s: usize, e: usize, spans: &mut Vec<Span>) {
    let Lowered { text, low } = src;
    let t = low.get(s..e).unwrap_or("");
    // "Tufts Health Plan", "Blue Cross ... Health Insurance": payers, not places.
    let next = text.get(e..).unwrap_or("").trim_start();
    let first = t.split(' ').next().unwrap_or("");
    if ["Plan", "Insurance", "Net", "Alliance", "PLAN", "INSURANCE"].iter().any(|w| next.starts_with(w))
        || PAYERS.contains(&first)
    {
        return;
    }
    let mut start = s;
    let mut meaningful = false;
    let mut stripping = true;
    let mut offset = 0;
    for lw in t.split(' ') {
        let generic = generic_facility_words().contains(lw);
        let keyword = [
            "hospital",
            "clinic",
            "health",
            "medical",
            "center",
            "centre",
            "healthcare",
            "memorial",
            "infirmary",
            "hospice",
            "pharmacy",
            "care",
            "system",
            "group",
            "nursing",
            "home",
            "surgery",
            "urgent",
        ]
        .contains(&lw);
        if stripping && generic && !keyword {
            start = s + offset + lw.len() + 1;
        } else {
            stripping = false;
        }
        if !generic && !keyword && !lw.is_empty() {
            meaningful = true;
        }
        offset += lw.len() + 1;
    }
    if meaningful && start < e {
        push(spans, start, e, PhiType::Location, 0.85, "facility");
    }
}

// ---------------------------------------------------------------------------
// Token pass: names and places.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    Title,
    Upper,
    Lower,
    Other,
}

#[derive(Clone, Copy, Debug)]
struct Tok {
    start: usize,
    /// End of the letters (a Synthea number suffix or "'s" excluded).
    end: usize,
    /// End including a digit suffix ("Sumiko254").
    full_end: usize,
    case: Case,
    digit_suffix: bool,
    /// A single capital, optionally with a dot ("T.").
    initial: bool,
    /// A line break between the previous token and this one.
    newline_before: bool,
    /// The previous non-space character ends a sentence (or there is none).
    sentence_start: bool,
    /// The character right after the token (after its dot for initials).
    next_char: char,
    /// Its letters (`start..end`) are all ASCII.
    ascii: bool,
}

/// A transcript: some speaker label ("Doctor:", "Patient:", "Guest_family:")
/// begins two lines or more that go on in a sentence. A form's labels
/// ("Name:", "DOB:") come once each, or before values, not sentences.
fn is_transcript(text: &str) -> bool {
    let mut seen: Vec<&str> = Vec::new();
    for line in text.lines() {
        let line = line.trim_start_matches([' ', '\t', '"', '>', '[']);
        let Some(colon) = line.get(..24.min(line.len())).and_then(|h| h.find(':')) else { continue };
        let label = &line[..colon];
        if label.is_empty() || !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b' ') {
            continue;
        }
        // Spoken words: at least two lower-case words after the label.
        let spoken = line[colon + 1..]
            .split(|c: char| !c.is_ascii_alphabetic())
            .filter(|w| w.len() >= 2 && w.starts_with(|c: char| c.is_ascii_lowercase()))
            .nth(1)
            .is_some();
        if !spoken {
            continue;
        }
        if seen.contains(&label) {
            return true;
        }
        seen.push(label);
    }
    false
}

/// Transcripts and chat text are often all lower case: there, case says
/// nothing, so lower-case words are looked up like capitalised ones (and only
/// dictionary words may extend a name).
fn all_lower(text: &str) -> bool {
    text.len() >= 8 && !text.bytes().any(|b| b.is_ascii_uppercase())
}

fn tokenize(text: &str, toks: &mut Vec<Tok>, low_buf: &mut String, lows: &mut Vec<(usize, usize)>) {
    toks.clear();
    lows.clear();
    // The whole text in ASCII lower case, at the same offsets: an ASCII
    // token's lower-case form is its own range there, with no copy per
    // token. Forms of other tokens are appended after it.
    low_buf.clear();
    low_buf.push_str(text);
    low_buf.make_ascii_lowercase();
    let all_lower = all_lower(text);
    let b = text.as_bytes();
    let mut i = 0;
    let mut newline = true;
    let mut sentence = true;
    while i < b.len() {
        let c = b[i];
        // A space changes nothing: the most common byte between words.
        if c == b' ' {
            i += 1;
            continue;
        }
        let is_letter_start = c.is_ascii_alphabetic()
            || (c >= 0x80 && text.get(i..).and_then(|s| s.chars().next()).is_some_and(char::is_alphabetic));
        if !is_letter_start {
            match c {
                b'\n' => {
                    newline = true;
                    sentence = true;
                }
                b'.' | b'!' | b'?' | b':' | b';' | b'#' | b'-' | b'*' | b'|' => sentence = true,
                b' ' | b'\t' | b'\r' | b'"' | b'(' | b'[' => {}
                _ => sentence = false,
            }
            i += if c < 0x80 { 1 } else { text.get(i..).and_then(|s| s.chars().next()).map_or(1, char::len_utf8) };
            continue;
        }
        let start = i;
        let mut ascii = true;
        let mut upper = 0usize;
        let mut lower = 0usize;
        let mut first_upper = false;
        let mut n = 0usize;
        while i < b.len() {
            // ASCII letters, the common case, without decoding a char.
            let c = b[i];
            if c.is_ascii_lowercase() {
                // A run of small ASCII letters in one tight loop.
                let run = lower_run(&b[i..]);
                lower += run;
                n += run;
                i += run;
                continue;
            }
            if c.is_ascii_alphabetic() {
                if c.is_ascii_uppercase() {
                    upper += 1;
                    first_upper |= n == 0;
                } else {
                    lower += 1;
                }
                n += 1;
                i += 1;
                continue;
            }
            if c < 0x80 && c != b'\'' && c != b'-' {
                break;
            }
            let ch = match text.get(i..).and_then(|s| s.chars().next()) {
                Some(ch) => ch,
                None => break,
            };
            let apostrophe_inside = (ch == '\'' || ch == '’' || ch == '-')
                && text.get(i + ch.len_utf8()..).and_then(|s| s.chars().next()).is_some_and(char::is_alphabetic)
                && n > 0;
            if ch.is_alphabetic() || apostrophe_inside {
                ascii &= ch.is_ascii();
                if ch.is_uppercase() {
                    upper += 1;
                    if n == 0 {
                        first_upper = true;
                    }
                } else if ch.is_lowercase() {
                    lower += 1;
                }
                n += 1;
                i += ch.len_utf8();
            } else {
                break;
            }
        }
        let mut end = i;
        // Possessive "'s" is not part of the name.
        if n > 3
            && b.get(end - 1) == Some(&b's')
            && let Some(w) = text.get(start..end)
            && (w.ends_with("'s") || w.ends_with("’s"))
        {
            end -= if w.ends_with("'s") { 2 } else { 4 };
        }
        let mut full_end = i;
        let mut digit_suffix = false;
        while full_end < b.len() && b[full_end].is_ascii_digit() {
            full_end += 1;
            digit_suffix = true;
        }
        let case = if first_upper && upper == 1 && lower > 0 {
            Case::Title
        } else if upper >= 1 && lower == 0 {
            Case::Upper
        } else if upper == 0 && all_lower && lower > 1 {
            Case::Title
        } else if upper == 0 {
            Case::Lower
        } else if first_upper {
            // McDonald, DeMarco, O'Brien
            Case::Title
        } else {
            Case::Other
        };
        let mut initial = n == 1 && case == Case::Upper;
        if initial && b.get(full_end) == Some(&b'.') {
            full_end += 1;
            end = full_end;
        } else if n == 1 && case == Case::Upper && b.get(full_end).is_some_and(|c| c.is_ascii_alphanumeric()) {
            initial = false;
        }
        let next_char = match b.get(full_end) {
            Some(&c) if c < 0x80 => char::from(c),
            Some(_) => text.get(full_end..).and_then(|s| s.chars().next()).unwrap_or('\n'),
            None => '\n',
        };
        // Long lower-case words are looked up by no rule.
        if !(matches!(case, Case::Title | Case::Upper) || end - start <= 12) {
            lows.push((start, start));
        } else if ascii {
            lows.push((start, end));
        } else {
            let from = low_buf.len();
            text.get(start..end).unwrap_or("").chars().for_each(|ch| push_lower(low_buf, ch));
            lows.push((from, low_buf.len()));
        }
        toks.push(Tok {
            start,
            end,
            full_end,
            case,
            digit_suffix,
            initial,
            newline_before: newline,
            sentence_start: sentence,
            next_char,
            // (A curly possessive is not part of the token.)
            ascii: ascii || text.as_bytes().get(start..end).is_some_and(<[u8]>::is_ascii),
        });
        newline = false;
        sentence = false;
        i = full_end.max(i);
        if digit_suffix {
            // letters glued to digits: the digits are part of this token
            while i < b.len() && b[i].is_ascii_alphanumeric() {
                i += 1;
            }
        }
    }
}

/// The length of the run of ASCII lower-case letters `b` begins with,
/// read eight bytes at a time (a word's letters are most of the text, and
/// one byte per step was the tokenizer's hottest loop).
fn lower_run(b: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
        let x = u64::from_le_bytes(chunk);
        let low7 = x & !HIGH;
        // Per byte, no carry between bytes: the high bit says ">= 'a'" and
        // "> 'z'" of its low seven bits; a set high bit in `x` is not ASCII.
        let ge_a = low7 + (0x80 - u64::from(b'a')) * ONES;
        let gt_z = low7 + (0x80 - u64::from(b'z') - 1) * ONES;
        let other = !(ge_a & !gt_z & !x) & HIGH;
        if other != 0 {
            return i + (other.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + b.get(i..).map_or(0, |r| r.iter().position(|x| !x.is_ascii_lowercase()).unwrap_or(r.len()))
}

/// Appends the lower-case form of a token's character, with ’ written as '.
fn push_lower(buf: &mut String, ch: char) {
    if ch == '’' {
        buf.push('\'');
    } else if ch.is_ascii() {
        buf.push(ch.to_ascii_lowercase());
    } else {
        buf.extend(ch.to_lowercase());
    }
}

/// Titles before a name (the title itself is not part of the span).
const TITLES: [&str; 16] = [
    "mr",
    "mrs",
    "ms",
    "miss",
    "mx",
    "dr",
    "doctor",
    "prof",
    "professor",
    "nurse",
    "sister",
    "rev",
    "reverend",
    "father",
    "mister",
    "madam",
];

/// Words after an eponym that make it a disease, sign or test ("Wilson
/// disease", "Allen test").
const EPONYM_HEADS: [&str; 24] = [
    "disease",
    "diseases",
    "syndrome",
    "sign",
    "signs",
    "test",
    "tests",
    "palsy",
    "maneuver",
    "manoeuvre",
    "score",
    "criteria",
    "scale",
    "classification",
    "reflex",
    "phenomenon",
    "triad",
    "ulcer",
    "fracture",
    "tube",
    "catheter",
    "procedure",
    "disorder",
    "lymphoma",
];

/// Lower-case words that begin a surname ("van Dijk", "ten Pas", "da Silva").
const SURNAME_PARTICLES: [&str; 12] = ["van", "von", "de", "der", "den", "ten", "ter", "da", "di", "du", "le", "la"];

/// The titles that are abbreviations, written with a dot ("Dr. Smith").
const TITLE_ABBREVIATIONS: [&str; 7] = ["mr", "mrs", "ms", "mx", "dr", "prof", "rev"];

/// Words after which the next capitalised words are a person's name
/// (followed by ":" or in a phrase such as "seen by").
const NAME_LABELS: [&str; 32] = [
    "patient",
    "name",
    "pt",
    "attending",
    "physician",
    "pcp",
    "provider",
    "surgeon",
    "resident",
    "intern",
    "fellow",
    "clinician",
    "author",
    "signed",
    "dictated",
    "transcribed",
    "referred",
    "seen",
    "cc",
    "mother",
    "father",
    "wife",
    "husband",
    "son",
    "daughter",
    "brother",
    "sister",
    "contact",
    "spouse",
    "guardian",
    "dear",
    "consultant",
];

/// Words after which capitalised words are a person's name without a colon
/// ("says Hartvigsson", "named him Luís", "Producer Liviana Palerma").
/// ("called" is not one: drugs and diseases are "called" far more often.)
const NAME_PHRASES: [&str; 10] =
    ["says", "said", "asked", "named", "producer", "director", "kid", "grandson", "granddaughter", "nephew"];

/// Two-word phrases before a name ("call me", "assistant to", "follow up with").
const NAME_PHRASE_PAIRS: [(&str, &str); 22] = [
    ("call", "me"),
    ("calls", "me"),
    ("assistant", "to"),
    ("up", "with"),
    ("speak", "to"),
    ("speak", "with"),
    ("spoke", "to"),
    ("spoke", "with"),
    ("talk", "to"),
    ("talked", "to"),
    ("married", "to"),
    ("add", "to"),
    ("directed", "by"),
    ("written", "by"),
    ("sung", "by"),
    ("produced", "by"),
    ("performed", "by"),
    ("treated", "by"),
    ("accompanied", "by"),
    ("visited", "by"),
    ("also", "features"),
    ("name", "is"),
];

/// Words that make the capitalised words before them an organisation.
const ORG_WORDS: [&str; 44] = [
    "inc",
    "llc",
    "ltd",
    "llp",
    "corp",
    "corporation",
    "company",
    "co",
    "investments",
    "consulting",
    "group",
    "research",
    "partners",
    "orchestra",
    "sons",
    "associates",
    "bank",
    "capital",
    "technologies",
    "systems",
    "solutions",
    "foundation",
    "institute",
    "university",
    "college",
    "school",
    "band",
    "records",
    "media",
    "labs",
    "holdings",
    "industries",
    "international",
    "insurance",
    "pharmaceuticals",
    "pharma",
    "enterprises",
    "agency",
    "services",
    "trust",
    "markets",
    "software",
    "analytics",
    "networks",
];

/// Headings of sections where capitalised words are drugs, tests or results.
const NON_NAME_SECTIONS: [&str; 9] =
    ["medications", "medication", "meds", "allergies", "labs", "laboratory", "results", "vitals", "procedures"];

/// What the dictionaries and word lists say about one lower-case word.
#[derive(Clone, Copy, Default)]
struct WordInfo {
    flags: u16,
    /// Bit `j`: a trigger word of [`KEYED`]`[j]`.
    keys: u16,
    /// Surname frequency rank (1 = most frequent); 0 when not a surname.
    rank: u32,
}

const W_FIRST: u16 = 1;
const W_LAST: u16 = 1 << 1;
const W_COMMON: u16 = 1 << 2;
const W_MEDICAL: u16 = 1 << 3;
const W_TITLE: u16 = 1 << 4;
const W_STOP: u16 = 1 << 5;
const W_ORG: u16 = 1 << 6;
const W_LABEL: u16 = 1 << 7;
const W_PHRASE: u16 = 1 << 8;
/// The second word of a two-word name phrase ("me" of "call me").
const W_PAIR_END: u16 = 1 << 9;
/// The first word of a dictionary place name.
const W_PLACE_START: u16 = 1 << 10;
/// An ordinary English word that no name or place list holds.
const W_ENGLISH: u16 = 1 << 11;
/// A place name of one word.
const W_PLACE: u16 = 1 << 12;
/// A word after the first of a dictionary place name ("francisco").
const W_PLACE_NEXT: u16 = 1 << 13;

/// Every word any dictionary or word list knows, with all it knows about
/// it: one hash look-up per token instead of one per list and question.
///
/// Words of up to 15 bytes (all but a few hundred) are keys by value, so a
/// look-up reads the table and no string elsewhere in memory: on short
/// sentences the look-ups were a sixth of the detector's time, most of it
/// cache misses on the keys' bytes.
struct Lexicon {
    short: dict::FxMap<u128, WordInfo>,
    long: dict::FxMap<&'static str, WordInfo>,
}

impl Lexicon {
    /// A word of 1 to 15 bytes as one number: its bytes, zero-padded, with
    /// the length in the last byte (so distinct words give distinct
    /// numbers, and none is 0, the word cache's empty slot).
    fn short_key(w: &str) -> Option<u128> {
        let b = w.as_bytes();
        let n = b.len();
        // Little-endian loads, the second overlapping the first and shifted
        // past it: no loop and no call for the copy (this runs per token).
        let word = |at: usize| b.get(at..at + 8).and_then(|s| s.try_into().ok()).map_or(0, u64::from_le_bytes);
        let half = |at: usize| b.get(at..at + 4).and_then(|s| s.try_into().ok()).map_or(0, u32::from_le_bytes);
        let (lo, hi) = match n {
            8..=15 => (word(0), word(n - 8).checked_shr(8 * (16 - n) as u32).unwrap_or(0)),
            4..=7 => (u64::from(half(0)) | (u64::from(half(n - 4)) >> (8 * (8 - n))) << 32, 0),
            1..=3 => (b.iter().rev().fold(0, |k, &x| k << 8 | u64::from(x)), 0),
            _ => return None,
        };
        Some(u128::from(lo) | u128::from(hi) << 64 | (n as u128) << 120)
    }

    fn entry(&mut self, w: &'static str) -> &mut WordInfo {
        match Self::short_key(w) {
            Some(k) => self.short.entry(k).or_default(),
            None => self.long.entry(w).or_default(),
        }
    }

    fn get(&self, w: &str) -> Option<WordInfo> {
        match Self::short_key(w) {
            Some(k) => self.short.get(&k).copied(),
            None => self.long.get(w).copied(),
        }
    }

    /// What is known of each word, through `recent` (a thread's cache of
    /// recent look-ups, [`WORD_CACHE_SLOTS`] long; empty for none).
    fn infos<'w>(
        &self,
        words: impl Iterator<Item = &'w str>,
        recent: &mut [(u128, WordInfo)],
        out: &mut Vec<WordInfo>,
    ) {
        out.clear();
        if recent.len() == WORD_CACHE_SLOTS {
            out.extend(words.map(|w| self.get_cached(w, recent)));
        } else {
            out.extend(words.map(|w| self.get(w).unwrap_or_default()));
        }
    }

    fn get_cached(&self, w: &str, cache: &mut [(u128, WordInfo)]) -> WordInfo {
        let Some(k) = Self::short_key(w) else { return self.long.get(w).copied().unwrap_or_default() };
        let h = (k as u64 ^ (k >> 64) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let slot = (h >> (64 - WORD_CACHE_SLOTS.trailing_zeros())) as usize;
        let Some(e) = cache.get_mut(slot) else { return self.get(w).unwrap_or_default() };
        if e.0 != k {
            *e = (k, self.short.get(&k).copied().unwrap_or_default());
        }
        e.1
    }
}

/// Slots of the per-thread word cache (a power of two; 2^13 = 8,192).
const WORD_CACHE_SLOTS: usize = 1 << 13;

fn lexicon() -> &'static Lexicon {
    static L: OnceLock<Lexicon> = OnceLock::new();
    L.get_or_init(|| {
        let d = dict::dicts();
        let mut m = Lexicon { short: dict::FxMap::default(), long: dict::FxMap::default() };
        let mut add = |w: &'static str, f: u16| m.entry(w).flags |= f;
        d.first.iter().for_each(|w| add(w, W_FIRST));
        d.common.iter().for_each(|w| add(w, W_COMMON));
        d.english.iter().for_each(|w| add(w, W_ENGLISH));
        d.medical.iter().for_each(|w| add(w, W_MEDICAL));
        TITLES.iter().for_each(|w| add(w, W_TITLE));
        STOP_AFTER_NAME.iter().for_each(|w| add(w, W_STOP));
        ORG_WORDS.iter().for_each(|w| add(w, W_ORG));
        NAME_LABELS.iter().for_each(|w| add(w, W_LABEL));
        NAME_PHRASES.iter().for_each(|w| add(w, W_PHRASE));
        NAME_PHRASE_PAIRS.iter().for_each(|(_, w)| add(w, W_PAIR_END));
        d.places.iter().filter_map(|p| p.split(' ').next()).for_each(|w| add(w, W_PLACE_START));
        d.places.iter().filter(|p| !p.contains(' ')).for_each(|w| add(w, W_PLACE));
        d.places.iter().flat_map(|p| p.split(' ').skip(1)).for_each(|w| add(w, W_PLACE_NEXT));
        for (j, key) in KEYED.iter().enumerate() {
            key.words.iter().for_each(|w| m.entry(w).keys |= 1 << j);
        }
        for (w, r) in d.last.iter() {
            let e = m.entry(w);
            e.flags |= W_LAST;
            e.rank = *r;
        }
        m
    })
}

struct Ctx<'a> {
    text: &'a str,
    all_lower: bool,
    /// Whether the text is a transcript ("Doctor: ..." / "Patient: ..."
    /// turns), worked out on first need.
    transcript: std::cell::OnceCell<bool>,
    toks: &'a [Tok],
    lows: &'a [(usize, usize)],
    low_buf: &'a str,
    info: &'a [WordInfo],
    d: &'a Dicts,
}

impl Ctx<'_> {
    fn low(&self, i: usize) -> &str {
        self.lows.get(i).and_then(|&(a, b)| self.low_buf.get(a..b)).unwrap_or("")
    }
    /// Words `i..=j` in lower case as one stretch of the lower-case text,
    /// when each is its own range there and one space parts them.
    fn low_run(&self, i: usize, j: usize) -> Option<&str> {
        let lows = self.lows.get(i..=j)?;
        let b = self.low_buf.as_bytes();
        let apart = lows.windows(2).all(|w| w[0].1 + 1 == w[1].0 && b.get(w[0].1) == Some(&b' '));
        let (first, last) = (lows.first()?, lows.last()?);
        apart.then(|| self.low_buf.get(first.0..last.1)).flatten()
    }
    fn cap(&self, i: usize) -> bool {
        self.toks.get(i).is_some_and(|t| matches!(t.case, Case::Title | Case::Upper))
    }
    fn has(&self, i: usize, flag: u16) -> bool {
        self.info.get(i).is_some_and(|w| w.flags & flag != 0)
    }
    fn is_first(&self, i: usize) -> bool {
        self.has(i, W_FIRST)
    }
    fn is_last(&self, i: usize) -> bool {
        self.has(i, W_LAST)
    }
    /// An ordinary word, a medical word or a title.
    fn is_common(&self, i: usize) -> bool {
        self.has(i, W_COMMON | W_MEDICAL | W_TITLE)
    }
    fn is_medical(&self, i: usize) -> bool {
        self.has(i, W_MEDICAL)
    }
    fn is_title(&self, i: usize) -> bool {
        self.has(i, W_TITLE)
    }
    /// Only spaces (no line break, no punctuation but a dot after an initial)
    /// between tokens `i` and `i + 1`.
    fn adjacent(&self, i: usize) -> bool {
        let (Some(a), Some(b)) = (self.toks.get(i), self.toks.get(i + 1)) else { return false };
        let gap = self.text.as_bytes().get(a.full_end..b.start).unwrap_or(b"\n");
        !gap.is_empty() && gap.iter().all(|&c| c == b' ' || c == b'\t')
    }
    /// "Smith, John": only a comma and spaces between.
    fn comma_between(&self, i: usize) -> bool {
        let (Some(a), Some(b)) = (self.toks.get(i), self.toks.get(i + 1)) else { return false };
        let gap = self.text.get(a.full_end..b.start).unwrap_or("");
        gap.trim_start_matches([' ', '\t']).starts_with(',')
            && gap.bytes().all(|c| c == b' ' || c == b',' || c == b'\t')
            && gap.matches(',').count() == 1
    }
    /// A word after the first of a name: an initial, a dictionary name, a
    /// numbered name, or an unknown title-case word (all-caps words must be
    /// in the dictionaries: in an all-caps note every word is capitalised).
    fn name_continues(&self, i: usize) -> bool {
        let Some(t) = self.toks.get(i) else { return false };
        t.initial
            || t.digit_suffix
            || self.is_first(i)
            || self.is_last(i)
            || (t.case == Case::Title && !self.is_common(i))
    }

    /// The word after token `i` makes the run an organisation ("Russell
    /// Investments", "Bertha Inc", "Davis Orchestra").
    fn org_after(&self, i: usize) -> bool {
        let Some(t) = self.toks.get(i + 1) else { return false };
        let gap = self.text.get(self.toks[i].full_end..t.start).unwrap_or("\n");
        gap.len() <= 3 && !gap.contains('\n') && self.has(i + 1, W_ORG)
    }

    /// Tokens `i..=j` name an organisation: an organisation word among them
    /// or right after them.
    fn org_run(&self, i: usize, j: usize) -> bool {
        self.org_after(j) || (i..=j).any(|k| self.has(k, W_ORG))
    }

    /// A token that can be part of a name after a title or label.
    fn namey(&self, i: usize) -> bool {
        let Some(t) = self.toks.get(i) else { return false };
        if t.initial {
            return true;
        }
        if !matches!(t.case, Case::Title | Case::Upper) {
            return false;
        }
        !self.has(i, W_MEDICAL | W_TITLE | W_STOP)
    }
}

/// Capitalised words that end a name run (headings, verbs in all-caps notes).
const STOP_AFTER_NAME: [&str; 43] = [
    "the", "and", "or", "is", "was", "has", "had", "with", "for", "to", "in", "on", "at", "of", "by", "from", "who",
    "he", "she", "they", "patient", "pt", "md", "do", "rn", "np", "pa", "phd", "dds", "mrn", "dob", "age", "sex",
    "date", "today", "history", "plan", "cc", "reports", "presents", "god", "lord", "jesus",
];

/// A text's tokens, their lower-case forms and what the lexicon knows of
/// each: made once, read by both passes.
#[derive(Default)]
struct Words {
    toks: Vec<Tok>,
    /// Each token's lower-case form in `low_buf` (empty for a long
    /// lower-case word, which no rule looks up).
    lows: Vec<(usize, usize)>,
    /// The text in ASCII lower case (an ASCII token's form is its own
    /// range), then the forms of the other tokens.
    low_buf: String,
    info: Vec<WordInfo>,
}

impl Words {
    /// `text` (the text last read) with its ASCII lower-case form.
    fn lowered<'s>(&'s self, text: &'s str) -> Lowered<'s> {
        Lowered { text, low: self.low_buf.get(..text.len()).unwrap_or(text) }
    }

    /// Reads `text` into these buffers (their allocations are reused),
    /// looking words up through `recent` (see [`Lexicon::infos`]).
    fn read(&mut self, text: &str, recent: &mut [(u128, WordInfo)]) {
        let Words { toks, lows, low_buf, info } = self;
        tokenize(text, toks, low_buf, lows);
        lexicon().infos(lows.iter().map(|&(a, b)| low_buf.get(a..b).unwrap_or("")), recent, info);
    }
}

/// A thread's buffers for one text at a time: on short texts, allocating
/// them afresh for every call cost more than reading the words.
#[derive(Default)]
struct Scratch {
    words: Words,
    /// Capture slots per alternative, made on the first match that needs them.
    caps: Vec<Option<Captures>>,
    /// The scan's matches in the text at hand.
    scanned: Vec<(usize, usize, usize)>,
    /// Spans found in the text at hand, before they are merged.
    spans: Vec<Span>,
    /// Recent lexicon look-ups by short key (0: empty). Running text
    /// repeats a few thousand words; this table (256 KB) stays in the
    /// core's cache, the lexicon (megabytes) does not.
    recent: Vec<(u128, WordInfo)>,
}

/// Buffers grown past this (bytes of text) are let go after the call.
const SCRATCH_KEEP: usize = 1 << 20;

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

fn token_pass(d: &Dicts, text: &str, words: &Words, spans: &mut Vec<Span>) {
    let Words { toks, lows, low_buf, info } = words;
    glued_streets(words.lowered(text), toks, spans);
    address_block_postcodes(text, spans);
    // Where the pattern pass found street addresses: the line above one is
    // often the addressee's name.
    let mut address_starts: Vec<usize> = spans
        .iter()
        .filter(|s| s.kind == PhiType::Location && ADDRESS_RULES.contains(&s.rule))
        .map(|s| s.start)
        .collect();
    address_starts.sort_unstable();
    let cx =
        Ctx { text, all_lower: all_lower(text), transcript: std::cell::OnceCell::new(), toks, lows, low_buf, info, d };
    let n = cx.toks.len();
    let mut name_words = NameWords::default();
    let mut section_blocks_names = false;
    let mut i = 0;
    while i < n {
        let t = &cx.toks[i];
        if t.newline_before {
            // A heading line: "Medications:" or "# Medications".
            let l = cx.low(i);
            if t.next_char == ':'
                || text.get(..t.start).is_some_and(|p| {
                    p.trim_end_matches([' ', '#']).ends_with('\n') || p.trim_end_matches([' ', '#']).is_empty()
                })
            {
                if NON_NAME_SECTIONS.contains(&l) {
                    section_blocks_names = true;
                } else if t.next_char == ':'
                    || text.get(t.full_end..).is_some_and(|r| r.starts_with('\n') || r.starts_with(" \n"))
                {
                    section_blocks_names = false;
                }
            }
        }
        let l = cx.low(i);
        // 1. Titles: "Mr. James T.", "DR. SMITH", "Dr Kunze215".
        // A title written out in full ends a sentence when a dot follows it
        // ("Thank you, doctor. Yes, ..."); only abbreviations take one.
        // Read only with `is_title` (most tokens are not titles).
        let abbreviation = cx.is_title(i) && TITLE_ABBREVIATIONS.contains(&l);
        let lower_title = t.case == Case::Lower
            && t.next_char == '.'
            && abbreviation
            && cx.toks.get(i + 1).is_some_and(|u| u.case == Case::Title);
        if cx.is_title(i)
            && (matches!(t.case, Case::Title | Case::Upper) || lower_title)
            && ((t.next_char == '.' && abbreviation) || t.next_char == ' ')
        {
            let mut j = i + 1;
            let mut last = None;
            // After a title an eponym is a surname ("Dr. Wells", "Ms. Jones");
            // in all-lower text ("my father retired") only dictionary names count.
            let after_title = |j: usize| {
                let dict_name = cx.is_first(j) || cx.is_last(j);
                if cx.all_lower {
                    dict_name && cx.namey(j)
                } else {
                    cx.namey(j) || (j == i + 1 && cx.cap(j) && cx.is_last(j) && !cx.is_title(j))
                }
            };
            while j < n && j <= i + 4 && after_title(j) && (j == i + 1 || (cx.adjacent(j - 1) && cx.name_continues(j)))
            {
                if j == i + 1
                    && !cx
                        .text
                        .get(t.full_end..cx.toks[j].start)
                        .is_some_and(|g| g.trim_start_matches('.').bytes().all(|c| c == b' ') && g.len() <= 3)
                {
                    break;
                }
                last = Some(j);
                j += 1;
            }
            if let Some(lj) = last {
                let e =
                    cx.toks[lj].full_end.min(if cx.toks[lj].initial { cx.toks[lj].end } else { cx.toks[lj].full_end });
                let e = if cx.toks[lj].digit_suffix { cx.toks[lj].full_end } else { cx.toks[lj].end.max(e) };
                push(spans, cx.toks[i + 1].start, e, PhiType::Name, 0.95, "title");
                for k in i + 1..=lj {
                    name_words.insert(cx.low(k));
                }
                i = lj + 1;
                continue;
            }
        }
        // 2. Labels: "Patient: SMITH, JOHN", "signed by Jane Doe", "my name is ...".
        let prev = || if i > 0 { cx.low(i - 1) } else { "" };
        // Transcripts in lower case give phrases nothing to go on.
        let phrase_here = !cx.all_lower
            && (cx.has(i, W_PHRASE) || (cx.has(i, W_PAIR_END) && NAME_PHRASE_PAIRS.contains(&(prev(), l))));
        let label_here = cx.has(i, W_LABEL)
            || phrase_here
            || (l == "is" && i > 0 && cx.low(i - 1) == "name")
            || (l == "by"
                && i > 0
                && ["signed", "dictated", "seen", "referred", "transcribed", "reviewed", "examined", "attested"]
                    .contains(&cx.low(i - 1)));
        if label_here && i + 1 < n {
            let gap = text.get(t.full_end..cx.toks[i + 1].start).unwrap_or("");
            // "What's your name? Jildau S Bouts" asks and answers on one line.
            let colon = (gap.trim().starts_with(':') || l == "name" && gap.trim() == "?") && gap.trim().len() <= 2;
            // "Oh, I am sorry dear. So, ..." ends the sentence after the phrase.
            let phrase = (l == "is" || l == "by" || l == "dear" || phrase_here) && !gap.contains(['.', '?', '!']);
            // In all-lower text a phrase vouches only for dictionary names.
            let dict_next = (cx.is_first(i + 1) || cx.is_last(i + 1)) && !cx.is_common(i + 1);
            let phrase_ok = !phrase_here
                || (gap.trim().is_empty()
                    && if cx.all_lower { dict_next } else { cx.toks[i + 1].case == Case::Title || dict_next });
            if (colon || phrase)
                && phrase_ok
                && !gap.contains('\n')
                && (cx.namey(i + 1)
                    || (l == "is" && cx.is_first(i + 1))
                    || (phrase_here && cx.cap(i + 1) && (cx.is_first(i + 1) || cx.is_last(i + 1))))
            {
                let mut j = i + 1;
                let mut last = i;
                while j < n && j <= i + 4 {
                    let dict_name = cx.is_first(j) || cx.is_last(j);
                    let ok = (cx.namey(j) && !(phrase_here && cx.all_lower && !dict_name))
                        || (phrase_here && dict_name && cx.cap(j))
                        || (l == "is" && (cx.is_first(j) || cx.is_last(j)));
                    let joined =
                        j == i + 1 || ((cx.adjacent(j - 1) || cx.comma_between(j - 1)) && cx.name_continues(j));
                    // A label only vouches for words that could be a name.
                    let plausible = cx.is_first(j)
                        || cx.is_last(j)
                        || cx.toks[j].initial
                        || cx.toks[j].digit_suffix
                        || !cx.is_common(j);
                    let medical = cx.is_medical(j) && !(phrase_here && (cx.is_first(j) || cx.is_last(j)));
                    if ok && joined && plausible && !medical {
                        last = j;
                        j += 1;
                    } else {
                        break;
                    }
                }
                // "Patient: No, I did" and "Patient: Have you" are a
                // transcript's speaker label before ordinary words: after a
                // colon a name needs a word that is neither ordinary nor an
                // initial, or two dictionary names ("Will Brown").
                let words = || (i + 1..=last).filter(|&k| !cx.toks[k].initial);
                let two_names = || words().count() >= 2 && words().all(|k| cx.is_first(k) || cx.is_last(k));
                let strong =
                    !colon || words().any(|k| !cx.has(k, W_COMMON | W_MEDICAL | W_TITLE | W_ENGLISH)) || two_names();
                // In a transcript a speaker's turn is an utterance, not a
                // name: only a turn that is a name and nothing else counts.
                let line_start = t.newline_before || i == 0;
                let utterance = colon
                    && line_start
                    && *cx.transcript.get_or_init(|| is_transcript(text))
                    && !(words().count() >= 2
                        && text.get(cx.toks[last].full_end..).is_some_and(|r| {
                            r.trim_start_matches([' ', '.', ',', '"']).starts_with(['\n', '\r']) || r.trim().is_empty()
                        }));
                let strong = strong && !utterance;
                if last > i && strong && !cx.org_after(last) {
                    let e = if cx.toks[last].digit_suffix { cx.toks[last].full_end } else { cx.toks[last].end };
                    let (score, rule) = if phrase_here { (0.8, "name_phrase") } else { (0.9, "name_label") };
                    push(spans, cx.toks[i + 1].start, e, PhiType::Name, score, rule);
                    for k in i + 1..=last {
                        name_words.insert(cx.low(k));
                    }
                    i = last + 1;
                    continue;
                }
            }
        }
        // 3. Synthea-style names: letters glued to a number ("Sumiko254 Larue605").
        // ("CHA2DS2" and "Cha2ds2" are scores: letters after the digits.)
        let clean_suffix = |k: usize| !text.as_bytes().get(cx.toks[k].full_end).is_some_and(u8::is_ascii_alphanumeric);
        if t.digit_suffix
            && t.case == Case::Title
            && t.end - t.start >= 2
            && clean_suffix(i)
            && (!cx.is_medical(i) || cx.is_first(i) || cx.is_last(i))
        {
            let mut j = i;
            while j + 1 < n
                && cx.toks[j + 1].digit_suffix
                && cx.toks[j + 1].case == Case::Title
                && cx.adjacent(j)
                && clean_suffix(j + 1)
            {
                j += 1;
            }
            let dict_hit = (i..=j).any(|k| cx.is_first(k) || cx.is_last(k));
            if j > i || dict_hit {
                push(
                    spans,
                    t.start,
                    cx.toks[j].full_end,
                    PhiType::Name,
                    if j > i { 0.9 } else { 0.7 },
                    "numbered_name",
                );
                for k in i..=j {
                    name_words.insert(cx.low(k));
                }
                i = j + 1;
                continue;
            }
        }
        if !matches!(t.case, Case::Title | Case::Upper) || t.digit_suffix {
            i += 1;
            continue;
        }
        // 3b. "Faina D. Yefremova", "Szabina J Gelencsér": two capitalised
        //     words around a middle initial are a name even when neither is
        //     in the dictionaries.
        if t.case == Case::Title
            && !t.initial
            && i + 2 < n
            && cx.toks[i + 1].initial
            && cx.adjacent(i)
            && cx.adjacent(i + 1)
            && cx.toks[i + 2].case == Case::Title
            && !cx.toks[i + 2].initial
            && ![i, i + 2].iter().any(|&k| cx.is_common(k) || cx.is_medical(k))
            && !cx.org_after(i + 2)
        {
            push(spans, t.start, cx.toks[i + 2].end, PhiType::Name, 0.85, "first_initial_last");
            name_words.insert(cx.low(i));
            name_words.insert(cx.low(i + 2));
            i += 3;
            continue;
        }
        // 4. "Last, First" with both in the dictionaries.
        if cx.is_last(i)
            && !cx.is_common(i)
            && cx.comma_between(i)
            && i + 1 < n
            && cx.cap(i + 1)
            && cx.is_first(i + 1)
            && !cx.is_common(i + 1)
        {
            let mut j = i + 1;
            while j + 1 < n
                && j < i + 3
                && cx.adjacent(j)
                && (cx.toks[j + 1].initial || (cx.is_first(j + 1) && cx.cap(j + 1)))
            {
                j += 1;
            }
            push(spans, t.start, cx.toks[j].end, PhiType::Name, 0.88, "last_comma_first");
            for k in i..=j {
                name_words.insert(cx.low(k));
            }
            i = j + 1;
            continue;
        }
        // 5a. A given name that is also a town, where the sentence says it
        //     is a place ("in Quincy, MA", "a firefighter from Quincy").
        if cx.is_first(i)
            && cx.has(i, W_PLACE_START)
            && !(i + 1 < n && cx.adjacent(i) && cx.is_last(i + 1) && cx.cap(i + 1))
            && let Some(j) = place_at(&cx, i, spans)
        {
            i = j + 1;
            continue;
        }
        // 5. Dictionary first name, extended by initials and surnames.
        if cx.is_first(i) && !cx.is_medical(i) {
            let mut j = i;
            let mut has_last = false;
            while j + 1 < n && j < i + 3 && cx.adjacent(j) {
                let k = j + 1;
                let tk = cx.toks[k];
                let same_case = tk.case == t.case || tk.initial;
                let unknown_ok = !cx.all_lower && !cx.is_common(k) && tk.case == Case::Title;
                // A surname that is also an eponym ("Mary Jones", "Jonathan
                // Reyes") still follows a first name, unless a disease or
                // sign follows it ("Allen test" stays medical).
                let eponym_surname = cx.is_last(k)
                    && cx.is_medical(k)
                    && !EPONYM_HEADS.contains(&cx.low(k + 1))
                    && !cx.is_medical(k + 1);
                let fits = tk.initial
                    || eponym_surname
                    || (cx.is_last(k) && !cx.is_common(k) || cx.is_first(k) && !cx.is_common(k) || unknown_ok)
                        && !cx.is_medical(k);
                if same_case && fits && !cx.has(k, W_STOP) {
                    if cx.is_last(k) || !tk.initial {
                        has_last = true;
                    }
                    j = k;
                } else {
                    break;
                }
            }
            // Trailing initial without a surname: "James T." keeps it.
            let common = cx.is_common(i);
            let last_common = (i + 1..=j).all(|k| cx.is_common(k) || cx.toks[k].initial);
            // A lone first name needs three letters: "Ed", "Na", "Al" are
            // far more often abbreviations than people.
            // In capitals, three letters are an abbreviation ("ANA", "LUE").
            let long_enough = t.end - t.start >= if t.case == Case::Upper { 4 } else { 3 };
            // A first word that is also an ordinary word ("May", "Will", "my")
            // needs a dictionary surname after it.
            let surname_after = (i + 1..=j).any(|k| cx.is_last(k) && !cx.is_common(k));
            let accept = if has_last {
                if common { surname_after && !last_common && !(t.sentence_start && cx.all_lower) } else { true }
            } else {
                !common && !section_blocks_names && long_enough
            };
            if accept && !cx.org_run(i, j) {
                let score = if has_last {
                    0.88
                } else if t.case == Case::Upper {
                    0.6
                } else {
                    0.7
                };
                push(
                    spans,
                    t.start,
                    cx.toks[j].end,
                    PhiType::Name,
                    score,
                    if has_last { "first_last" } else { "first_name" },
                );
                for k in i..=j {
                    if !cx.toks[k].initial {
                        name_words.insert(cx.low(k));
                    }
                }
                i = j + 1;
                continue;
            }
        }
        // 6. Two capitalised words, one spelled with non-English letters and
        //    neither a known word: "Éva Szölösi", "Šárka Ottová".
        if i + 1 < n && cx.adjacent(i) && cx.toks[i + 1].case == Case::Title && t.case == Case::Title {
            let non_ascii = |k: usize| !cx.toks[k].ascii;
            if (non_ascii(i) || non_ascii(i + 1))
                && !cx.is_common(i)
                && !cx.is_common(i + 1)
                && !cx.is_medical(i + 1)
                && !cx.org_after(i + 1)
            {
                push(spans, t.start, cx.toks[i + 1].end, PhiType::Name, 0.65, "foreign_name");
                name_words.insert(cx.low(i));
                name_words.insert(cx.low(i + 1));
                i += 2;
                continue;
            }
        }
        // 7a. Names the sentence shape vouches for: capitalised words that
        //     are in no dictionary, before a verb only people do ("Zak
        //     shouted", "Tosh Olsen lives at"), in a list of people
        //     ("Marrero and Murphy were", "founders: Kónya, Becker and
        //     Vasquez"), or alone on the line above a street address.
        // After a surname particle ("Willemine ten Pas") an English word is
        // still a surname.
        let after_particle = || i > 0 && cx.adjacent(i - 1) && SURNAME_PARTICLES.contains(&cx.low(i - 1));
        if t.case == Case::Title
            && !cx.has(i, W_COMMON | W_TITLE)
            && (!cx.has(i, W_ENGLISH) || after_particle())
            && (!cx.is_medical(i) || cx.is_last(i))
            && let Some((j, list)) = name_by_shape(&cx, i, &address_starts)
        {
            if list {
                // Each person of a list is a span of its own.
                for k in (i..=j).filter(|&k| cx.toks[k].case == Case::Title && cx.low(k) != "and") {
                    push(spans, cx.toks[k].start, cx.toks[k].end, PhiType::Name, 0.75, "name_list");
                }
            } else {
                push(spans, t.start, cx.toks[j].end, PhiType::Name, 0.75, "name_shape");
            }
            for k in i..=j {
                if cx.toks[k].case == Case::Title {
                    name_words.insert(cx.low(k));
                }
            }
            i = j + 1;
            continue;
        }
        // 7. Places from the dictionary, with a state after or a preposition before.
        if let Some(end_tok) = place_at(&cx, i, spans) {
            i = end_tok + 1;
            continue;
        }
        i += 1;
    }
    // 8. Later mentions of a name already found ("Smith" after "John Smith").
    if !name_words.is_empty() {
        for (k, t) in cx.toks.iter().enumerate() {
            if !matches!(t.case, Case::Title | Case::Upper) {
                continue;
            }
            let l = cx.low(k);
            if l.len() >= 3 && name_words.contains(l) && !cx.is_common(k) {
                let e = if t.digit_suffix { t.full_end } else { t.end };
                push(spans, t.start, e, PhiType::Name, 0.8, "name_repeat");
            }
        }
    }
}

/// The words of the names found so far in one text. There are a few, and a
/// list is searched faster than a set is hashed; past a few dozen (a long
/// list of people) they move to a set.
#[derive(Default)]
struct NameWords<'a> {
    list: Vec<&'a str>,
    set: dict::FxSet<&'a str>,
}

impl<'a> NameWords<'a> {
    const LIST_MAX: usize = 32;

    fn insert(&mut self, w: &'a str) {
        if self.set.is_empty() {
            if self.list.contains(&w) {
                return;
            }
            if self.list.len() < Self::LIST_MAX {
                self.list.push(w);
                return;
            }
            self.set.extend(self.list.drain(..));
        }
        self.set.insert(w);
    }

    fn contains(&self, w: &str) -> bool {
        if self.set.is_empty() { self.list.contains(&w) } else { self.set.contains(w) }
    }

    fn is_empty(&self) -> bool {
        self.list.is_empty() && self.set.is_empty()
    }
}

/// Rules of the pattern pass that find street addresses.
const ADDRESS_RULES: [&str; 7] = [
    "street_address",
    "street_type_first",
    "street_type_last",
    "address_line",
    "address_context",
    "po_box",
    "military_address",
];

/// Verbs that, right after capitalised words, say those words are a person.
const PERSON_VERBS: [&str; 20] = [
    "shouted",
    "said",
    "says",
    "spent",
    "listed",
    "began",
    "lives",
    "lived",
    "married",
    "told",
    "asked",
    "wrote",
    "replied",
    "explained",
    "smiled",
    "laughed",
    "whispered",
    "answered",
    "cried",
    "yelled",
];

/// Words before a list of capitalised words that make it a list of
/// organisations, places or drugs, not people ("at Jones, Mitchell and
/// Williams", "taking Advair and Allegra").
const LIST_NOT_PEOPLE: [&str; 16] = [
    "the", "at", "for", "of", "from", "with", "in", "to", "by", "on", "taking", "takes", "take", "using", "uses",
    "like",
];

/// The last token of a name found by the shape of its sentence (see 7a),
/// and whether it ends a list of names.
fn name_by_shape(cx: &Ctx<'_>, i: usize, address_starts: &[usize]) -> Option<(usize, bool)> {
    let n = cx.toks.len();
    let plain = |k: usize| {
        k < n
            && cx.toks[k].case == Case::Title
            && !cx.toks[k].digit_suffix
            && !cx.is_common(k)
            && !cx.is_medical(k)
            && !cx.is_title(k)
    };
    // A run of one to three capitalised words (a medical surname only
    // starts a list).
    let mut j = i;
    while j + 1 < n && j < i + 2 && cx.adjacent(j) && (plain(j + 1) || cx.toks[j + 1].initial) {
        j += 1;
    }
    if cx.toks[j].initial || cx.org_run(i, j) {
        return None;
    }
    // Before a person's verb.
    if !cx.is_medical(i) && j + 1 < n && cx.adjacent(j) && cx.toks[j + 1].case == Case::Lower {
        let v = cx.low(j + 1);
        let pair = (v, cx.low(j + 2));
        if PERSON_VERBS.contains(&v) || [("is", "from"), ("had", "given"), ("will", "be")].contains(&pair) {
            return Some((j, false));
        }
    }
    let t = cx.toks[i];
    // Addressed at the start of a sentence: "Kuba, can I please speak to ...".
    if j == i && t.sentence_start && !cx.is_medical(i) {
        let after = cx.text.get(t.full_end..).unwrap_or("");
        if let Some(rest) = after.strip_prefix(", ") {
            // Only the first words, in any case (a lower-case copy of the
            // rest of the text here made sentences of names quadratic).
            if ["can i ", "can you ", "could you ", "could i ", "would you ", "please "]
                .iter()
                .any(|p| rest.get(..p.len()).is_some_and(|r| r.eq_ignore_ascii_case(p)))
            {
                return Some((j, false));
            }
        }
    }
    // A speaker label of a chat or transcript ("Ubul: What a wife."), when a
    // neighbouring line is spoken by a dictionary given name ("Nicole: ...").
    if j == i && t.newline_before && t.next_char == ':' && !cx.is_medical(i) && speaker_next_to(cx, i) {
        return Some((j, false));
    }
    // Alone on its line (two or three words), above a street address.
    if t.newline_before && j > i && !cx.is_medical(i) {
        let line_end = cx.text.get(cx.toks[j].full_end..).map_or(0, |r| r.find('\n').unwrap_or(r.len()));
        let rest = cx.text.get(cx.toks[j].full_end..cx.toks[j].full_end + line_end).unwrap_or("x");
        let below = cx.toks[j].full_end + line_end;
        // The first street address after this line (sorted starts).
        let next = address_starts.get(address_starts.partition_point(|&a| a <= below));
        let near =
            next.is_some_and(|&a| cx.text.get(below..a).is_some_and(|g| g.len() < 160 && g.matches('\n').count() <= 4));
        if rest.trim().is_empty() && near {
            return Some((j, false));
        }
    }
    // A list of single capitalised words ("A and B", "A, B and C") with
    // most of them in the name dictionaries.
    // (In all-lower text every word looks capitalised; a list alone on its
    // line is a letterhead's firm.)
    if j == i && !cx.all_lower {
        let before = if i > 0 { cx.low(i - 1) } else { "" };
        if LIST_NOT_PEOPLE.contains(&before) {
            return None;
        }
        // In a list of people an eponym is a surname ("Marrero and Murphy").
        let member =
            |k: usize| plain(k) || (k < n && cx.toks[k].case == Case::Title && cx.is_last(k) && !cx.has(k, W_COMMON));
        // At most eight members, kept on the stack.
        let mut list = [i; 8];
        let mut len = 1;
        let mut k = i;
        let mut closed = false;
        while k + 1 < n && len < list.len() {
            let gap = cx.text.get(cx.toks[k].full_end..cx.toks[k + 1].start).unwrap_or("");
            if gap == ", " && member(k + 1) {
                k += 1;
            } else if gap == " " && cx.low(k + 1) == "and" && k + 2 < n && member(k + 2) && cx.adjacent(k + 1) {
                k += 2;
                closed = true;
            } else {
                break;
            }
            if let Some(m) = list.get_mut(len) {
                *m = k;
                len += 1;
            }
            if closed {
                break;
            }
        }
        let members = list.get(..len).unwrap_or(&[]);
        // Most members are in the name dictionaries, one at least outside
        // the medical words ("Patellar and Achilles" is anatomy).
        let known = members.iter().filter(|&&m| cx.is_first(m) || cx.is_last(m)).count();
        let known_plain = members.iter().any(|&m| (cx.is_first(m) || cx.is_last(m)) && !cx.is_medical(m));
        let after = if k + 1 < n { cx.low(k + 1) } else { "" };
        let single_verb = ["is", "has", "was", "does"].contains(&after);
        let adjacent_after = k + 1 < n && cx.adjacent(k);
        let own_line = t.newline_before
            && cx.text.get(cx.toks[k].full_end..).is_some_and(|r| {
                let r = r.trim_start_matches([' ', '\t', '\r']);
                r.is_empty() || r.starts_with('\n')
            });
        if closed
            && members.len() >= 2
            && known * 2 >= members.len()
            && !cx.org_after(k)
            && !(single_verb && adjacent_after)
            && !own_line
            // Two medical words are anatomy or eponyms ("Patellar and
            // Achilles"); three or more names in a row are people.
            && (known_plain || members.len() >= 3)
        {
            return Some((k, true));
        }
    }
    None
}

/// Whether the line before or after token `i`'s line starts with a
/// dictionary given name followed by a colon.
fn speaker_next_to(cx: &Ctx<'_>, i: usize) -> bool {
    // One line break between the two tokens: neighbouring lines.
    let one_line_apart = |a: usize, b: usize| {
        let (a, b) = (a.min(b), a.max(b));
        cx.text.get(cx.toks[a].start..cx.toks[b].start).is_some_and(|g| g.matches('\n').count() == 1)
    };
    let speaker = |k: usize| {
        let t = cx.toks[k];
        t.newline_before && t.next_char == ':' && t.case == Case::Title && cx.is_first(k) && !cx.is_common(k)
    };
    let before = (i.saturating_sub(40)..i).rev().find(|&k| cx.toks[k].newline_before);
    let after = (i + 1..cx.toks.len().min(i + 40)).find(|&k| cx.toks[k].newline_before);
    [before, after].into_iter().flatten().any(|k| speaker(k) && one_line_apart(i, k))
}

const PLACE_PREPS: [&str; 12] =
    ["in", "from", "near", "to", "at", "of", "resides", "lives", "born", "moved", "visiting", "outside"];

fn place_at(cx: &Ctx<'_>, i: usize, spans: &mut Vec<Span>) -> Option<usize> {
    let n = cx.toks.len();
    if !cx.has(i, W_PLACE_START) {
        return None;
    }
    // Longest dictionary place starting at token i. Only words that occur
    // after the first in some place name extend it, and the key is the
    // words' own stretch of the lower-case text when one space parts them
    // (no copy): most capitalised words start some place name, and the
    // look-ups and copies for the word after them were about a quarter of
    // the first pass's memory misses outside the DFAs and the lexicon.
    let mut best = None;
    let mut key = String::new();
    for len in 1..=cx.d.place_words.min(4) {
        let j = i + len - 1;
        if j >= n || !cx.cap(j) || (len > 1 && !(cx.adjacent(j - 1) && cx.has(j, W_PLACE_NEXT))) {
            break;
        }
        let found = if len == 1 {
            cx.has(j, W_PLACE)
        } else {
            match cx.low_run(i, j) {
                Some(run) if key.is_empty() => cx.d.places.contains(run),
                _ => {
                    if key.is_empty() {
                        key.push_str(cx.low(i));
                        for k in i + 1..j {
                            key.push(' ');
                            key.push_str(cx.low(k));
                        }
                    }
                    key.push(' ');
                    key.push_str(cx.low(j));
                    cx.d.places.contains(key.as_str())
                }
            }
        };
        if found {
            best = Some(j);
        }
    }
    let j = best?;
    let t = cx.toks[i];
    let end = cx.toks[j].end;
    let after = cx.text.get(end..).unwrap_or("");
    // ", MA" or ", Massachusetts" after it (any case).
    let state_after = after.strip_prefix(',').map(str::trim_start).is_some_and(|r| {
        let w =
            r.get(..r.bytes().position(|c| !(c.is_ascii_alphabetic() || c == b' ')).unwrap_or(r.len())).unwrap_or("");
        is_state_code(w.split(' ').next().unwrap_or(""))
            || STATE_NAMES.iter().any(|s| w.get(..s.len()).is_some_and(|p| p.eq_ignore_ascii_case(s)))
    });
    let single = i == j;
    // A single word that is also a frequent surname ("Smith", "Jackson") needs
    // a stronger phrase than "in"; rare surnames ("Springfield") do not.
    let frequent_surname = single && cx.info.get(i).is_some_and(|w| w.rank > 0 && w.rank <= 2000);
    let prep = i > 0 && PLACE_PREPS.contains(&cx.low(i - 1)) && cx.toks[i - 1].case == Case::Lower;
    // "lives in Jackson", "from Lincoln": a strong phrase vouches for towns that are also surnames.
    let strong = prep
        && (["from", "near", "outside", "visiting"].contains(&cx.low(i - 1))
            || (i > 1 && ["lives", "resides", "born", "moved", "living", "located", "based"].contains(&cx.low(i - 2))));
    // A lone word that is also a given name needs a strong phrase.
    let all_common = single && (cx.is_common(i) || (cx.is_first(i) && !strong));
    if state_after && !(i..=j).any(|k| cx.is_medical(k)) {
        push(spans, t.start, end, PhiType::Location, 0.9, "place_state");
        Some(j)
    } else if prep
        && !all_common
        && !t.sentence_start
        && !(i..=j).any(|k| cx.is_medical(k))
        && (strong || !frequent_surname)
    {
        push(spans, t.start, end, PhiType::Location, 0.7, "place_context");
        Some(j)
    } else {
        None
    }
}

/// Sorts spans and resolves overlaps: the higher score wins, then the
/// longer span; spans of the same type that overlap or touch are joined.
fn merge(spans: &mut Vec<Span>) {
    spans.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    // In place: each span is folded into the last one kept when they overlap.
    spans.dedup_by(|s, last| {
        if s.start >= last.end {
            return false;
        }
        if s.kind == last.kind {
            last.end = last.end.max(s.end);
            last.score = last.score.max(s.score);
        } else {
            let s_len = s.end - s.start;
            let l_len = last.end - last.start;
            let s_wins = s.score > last.score + 0.05 || (s.score >= last.score - 0.05 && s_len > l_len);
            if s_wins {
                *last = *s;
            }
        }
        true
    });
    // A replacement can start after an earlier kept span ended but overlap
    // the one before it; one more pass keeps the output non-overlapping.
    spans.dedup_by(|s, last| s.start < last.end);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_words_hold_every_word_past_the_list() {
        let words: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
        let mut names = NameWords::default();
        assert!(names.is_empty());
        for w in &words {
            names.insert(w);
            names.insert(w);
        }
        assert!(words.iter().all(|w| names.contains(w)));
        assert!(!names.contains("w100") && !names.contains(""));
        assert_eq!(names.list.len() + names.set.len(), 100);
    }

    fn found(text: &str) -> Vec<(String, PhiType)> {
        Detector::default().detect(text).iter().map(|s| (s.text(text).to_string(), s.kind)).collect()
    }

    fn has(text: &str, what: &str, kind: PhiType) {
        let f = found(text);
        assert!(f.iter().any(|(t, k)| t == what && *k == kind), "{what:?} as {kind} not in {f:?}");
    }

    #[test]
    fn checksums() {
        assert!(luhn_ok("4111 1111 1111 1111") && !luhn_ok("4111 1111 1111 1112"));
        assert!(npi_ok("1234567893") && !npi_ok("1234567890"));
        assert!(ssn_ok("123-45-6789") && !ssn_ok("666-45-6789") && !ssn_ok("923-45-6789") && !ssn_ok("123-00-6789"));
        assert!(dea_ok("AB1234563") && !dea_ok("AB1234567"));
        assert!(iban_ok("GB82 WEST 1234 5698 7654 32") && !iban_ok("GB82 WEST 1234 5698 7654 33"));
        assert!(vin_ok("1M8GDM9AXKP042788") && !vin_ok("1M8GDM9A1KP042788"));
    }

    #[test]
    fn names() {
        has("Seen today with Mr. James T. for follow up.", "James T.", PhiType::Name);
        has("DR. SMITH REVIEWED THE FILM.", "SMITH", PhiType::Name);
        has("Patient: SMITH, JOHN", "SMITH, JOHN", PhiType::Name);
        has("Sarah Connor presents with cough.", "Sarah Connor", PhiType::Name);
        has("Sumiko254 Larue605\n is a 60 year-old", "Sumiko254 Larue605", PhiType::Name);
        has("Smith, John is here. Later Smith said no.", "Smith", PhiType::Name);
        has("Electronically signed by Maria Gonzalez, MD", "Maria Gonzalez", PhiType::Name);
        // Surnames that are also eponyms follow a first name; a given name
        // that is a town is a place where the sentence says so.
        has("Jonathan K. Reyes, MD", "Jonathan K. Reyes", PhiType::Name);
        has("Seen with Sarah Wilson today.", "Sarah Wilson", PhiType::Name);
        has("A retired firefighter from Quincy who was referred.", "Quincy", PhiType::Location);
        has("He lives in Quincy, MA with his wife.", "Quincy", PhiType::Location);
        let f = found("Positive Allen test. Wilson disease ruled out.");
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn names_of_other_countries_and_by_sentence_shape() {
        has("Follow up with Matheus Araujo in a couple of months.", "Matheus Araujo", PhiType::Name);
        has("Seen with Faina D. Yefremova today.", "Faina D. Yefremova", PhiType::Name);
        has("The report was written by Szabina J Gelencsér.", "Szabina J Gelencsér", PhiType::Name);
        has("\"It works,\" says Hartvigsson.", "Hartvigsson", PhiType::Name);
        has("Zak shouted at the nurse.", "Zak", PhiType::Name);
        has("Our founders: Kónya, Becker and Vasquez.", "Becker", PhiType::Name);
        has("For my take on Dr. Wells, see below.", "Wells", PhiType::Name);
        has("Gyala Antall\n24 Clarke Avenue\nSpringfield", "Gyala Antall", PhiType::Name);
        has("Kuba, can I please speak to you?", "Kuba", PhiType::Name);
        has("Kuba, Could you pass the salt?", "Kuba", PhiType::Name);
        has("Ubul: What a day.\nNicole: Indeed.", "Ubul", PhiType::Name);
        has("Our founders: Gerste, Johnson and Johnson.", "Gerste", PhiType::Name);
        // Headings and anatomy are not people.
        for t in ["Assessment: stable.\nPlan: follow up.", "Patellar and Achilles reflexes are brisk."] {
            assert!(!found(t).iter().any(|(_, k)| *k == PhiType::Name), "{t:?} flagged {:?}", found(t));
        }
        // Organisations made of surnames are not people.
        for t in ["Russell Investments is a design agency.", "They played with the Davis Orchestra."] {
            assert!(!found(t).iter().any(|(_, k)| *k == PhiType::Name), "{t:?} flagged {:?}", found(t));
        }
    }

    #[test]
    fn addresses_of_other_countries() {
        for (t, a) in [
            ("She lives at Rua Igreja 25 now", "Rua Igreja 25"),
            ("Send it to ul. Słowicza 10 please", "ul. Słowicza 10"),
            ("moved to 450 Præstevænget 15, København", "450 Præstevænget 15"),
            ("The clinic on Loorenstrasse 149 closed", "Loorenstrasse 149"),
            ("Send it to Hauptstr. 5 in Bonn", "Hauptstr. 5"),
            ("PSC 3294, Box 9168\nAPO AA 61487", "PSC 3294, Box 9168\nAPO AA 61487"),
            ("ZIP: 394 13", "394 13"),
            ("12 Main Street\nMill Village\nNS\nB0J 2H0", "B0J 2H0"),
            ("Brønderslev\nDenmark 35018", "35018"),
        ] {
            let f = found(t);
            assert!(f.iter().any(|(x, k)| x.contains(a) && *k == PhiType::Location), "{a:?} not in {f:?}");
        }
        // A dose after a route is not an address.
        assert!(found("Given via Hickman 2 mg daily.").iter().all(|(_, k)| *k != PhiType::Location));
    }

    #[test]
    fn dates() {
        for (t, d) in [
            ("Admitted on 3/4/61 for chest pain", "3/4/61"),
            ("seen Feb 21 in clinic", "Feb 21"),
            ("born on the 5th of May, doing well", "5th of May"),
            ("DOB: 1961-03-04", "1961-03-04"),
            ("on February 21st, 2019 she fell", "February 21st, 2019"),
            ("discharged 12/05/2019.", "12/05/2019"),
            ("last seen 21 Feb 2019.", "21 Feb 2019"),
            ("since March 2018", "March 2018"),
            // "in" + capitalised words + digits is also the shape of a city
            // and postcode ("in Porto Alegre 95800"); the month still wins.
            ("The patient gave birth in August 2008 and since then", "August 2008"),
        ] {
            has(t, d, PhiType::Date);
        }
    }

    #[test]
    fn identifiers() {
        has("SSN 123-45-6789", "123-45-6789", PhiType::Ssn);
        has("Call (617) 555-0123 today", "(617) 555-0123", PhiType::Phone);
        has("Fax: 617-555-0199", "617-555-0199", PhiType::Fax);
        has("email jane.doe@example.org now", "jane.doe@example.org", PhiType::Email);
        has("MRN: 00123456", "00123456", PhiType::Mrn);
        has("Member ID: XJH123456789", "XJH123456789", PhiType::HealthPlanId);
        has("Account #: 445566778", "445566778", PhiType::Account);
        has("Charge my credit card. Number is 4111111111111111", "4111111111111111", PhiType::Account);
        has("DEA # AB1234563", "AB1234563", PhiType::License);
        has("VIN 1M8GDM9AXKP042788", "1M8GDM9AXKP042788", PhiType::VehicleId);
        has("pacemaker serial number PXR-448812", "PXR-448812", PhiType::DeviceId);
        has("see https://portal.example.com/p/12 now", "https://portal.example.com/p/12", PhiType::Url);
        has("from 192.168.10.24 at night", "192.168.10.24", PhiType::Ip);
        has("She is 94 years old", "94", PhiType::Age);
        has("lives at 24 Clarke Avenue, Apt 3", "24 Clarke Avenue, Apt 3", PhiType::Location);
        has("Boston, MA 02115", "02115", PhiType::Location);
        has("transferred from Newman Regional Hospital today", "Newman Regional Hospital", PhiType::Location);
        has("She lives in Springfield now", "Springfield", PhiType::Location);
    }

    #[test]
    fn transcripts_speak_in_turns_not_names() {
        // A speaker's turn after "Patient:" is an utterance; a sentence
        // ending on a title addresses someone ("Thank you, doctor.").
        let t = "Doctor: What brings you in today, miss? How are you?\nPatient: No, I came for a refill.\n\
                 Doctor: Have you had any fever?\nPatient: Terrible. Fifty two days of it.\n\
                 Doctor: Did it start in October O eight?\nPatient: Yeah, I think so. Thank you, doctor. Yes.\n\
                 Doctor: I am Doctor Kumar. Oh, I am sorry dear. So, let us begin.";
        let f = found(t);
        assert_eq!(
            f,
            vec![("October".to_string(), PhiType::Date), ("Kumar".to_string(), PhiType::Name)],
            "only the month and the doctor's name"
        );
        // A form's label still vouches for a name, also when a label repeats
        // before values, and a roster of turns that are names and nothing
        // else keeps them.
        has(
            "Phone: 617-555-0100\nPatient: Zorbek Quetzalli    MRN: 12345678\nPhone: 617-555-0101",
            "Zorbek Quetzalli",
            PhiType::Name,
        );
        has("Patient: Will Brown\nDOB: 1/2/1950", "Will Brown", PhiType::Name);
        has("Patient: Kowalczyk\nMRN: 12345678", "Kowalczyk", PhiType::Name);
        has("Patient: John Smith\nPatient: Mary Lopez\n", "Mary Lopez", PhiType::Name);
        has("Willemine ten Pas will be talking", "Pas", PhiType::Name);
        for t in ["History of CVA or TIA. Her ANA was 1:40 on the LUE side.", "Patient: Have you seen it?"] {
            let f = found(t);
            assert!(f.is_empty(), "{t:?} flagged {f:?}");
        }
    }

    #[test]
    fn lower_runs_match_a_byte_loop() {
        let naive = |b: &[u8]| b.iter().position(|x| !x.is_ascii_lowercase()).unwrap_or(b.len());
        for s in [
            "",
            "a",
            "abcdefgh",
            "abcdefghi",
            "abcdefgh ",
            "abc def",
            "zzzzzzzzzzzzzzzz{",
            "`abc",
            "abcé",
            "abcdefg\u{7f}",
        ] {
            assert_eq!(lower_run(s.as_bytes()), naive(s.as_bytes()), "{s:?}");
        }
        // Every byte value at every position of a 9-byte run.
        for at in 0..9 {
            for v in 0..=255u8 {
                let mut b = *b"abcdefghi";
                b[at] = v;
                assert_eq!(lower_run(&b), naive(&b), "byte {v} at {at}");
            }
        }
    }

    #[test]
    fn trailing_phone_labels_say_phone_or_fax() {
        let t = "416 60 039 office\n+46 (0)8 928 571 38 fax\n+41 (0)38 549 02 90 mobile\n459 33 12 11 fax\n001-518-640-0854 mobile";
        has(t, "416 60 039", PhiType::Phone);
        has(t, "+46 (0)8 928 571 38", PhiType::Fax);
        // "fax" ends the number before it and labels none after it.
        has(t, "+41 (0)38 549 02 90", PhiType::Phone);
        has(t, "459 33 12 11", PhiType::Fax);
        has(t, "001-518-640-0854", PhiType::Phone);
    }

    proptest::proptest! {
        /// The plain search of labels agrees with the standard library's.
        #[test]
        fn contains_short_is_contains(hay in "[a-c #]{0,12}", needle in "[a-c #]{0,4}") {
            proptest::prop_assert_eq!(contains_short(hay.as_bytes(), needle.as_bytes()), hay.contains(needle.as_str()));
        }

        /// Each token's lower-case form, read off the text lower-cased once
        /// or appended for a non-ASCII token, is the token's own letters in
        /// lower case (’ as '), or empty for a long lower-case word.
        #[test]
        fn lower_case_forms_are_the_tokens_letters(text in proptest::string::string_regex(
            "([A-Za-zÉéÜü’'. -]|[0-9]|\n|Mr\\. |O’Brien’s |Smith's |J\\. |ÉVA |straße ){0,40}"
        ).unwrap_or_else(|_| unreachable!())) {
            let mut w = Words::default();
            w.read(&text, &mut []);
            proptest::prop_assert_eq!(w.toks.len(), w.lows.len());
            for (t, &(a, b)) in w.toks.iter().zip(&w.lows) {
                let letters = &text[t.start..t.end];
                let want: String = if !(matches!(t.case, Case::Title | Case::Upper) || t.end - t.start <= 12) {
                    String::new()
                } else if letters.is_ascii() {
                    letters.to_ascii_lowercase()
                } else {
                    letters.chars().flat_map(|c| if c == '’' { vec!['\''] } else { c.to_lowercase().collect() }).collect()
                };
                proptest::prop_assert_eq!(&w.low_buf[a..b], want.as_str(), "{:?} in {:?}", letters, text);
            }
        }
    }

    #[test]
    fn short_keys_are_the_bytes_and_length() {
        let all = "abcdefghijklmnoz";
        let words = (1..16).filter_map(|n| all.get(..n)).chain(["é", "a\0", "Zürich"]);
        for w in words {
            let mut k = [0u8; 16];
            k[..w.len()].copy_from_slice(w.as_bytes());
            k[15] = w.len() as u8;
            assert_eq!(Lexicon::short_key(w), Some(u128::from_le_bytes(k)), "{w:?}");
        }
        assert_eq!(Lexicon::short_key(""), None);
        assert_eq!(Lexicon::short_key("abcdefghijklmnop"), None, "16 bytes go to the long map");
        assert_ne!(Lexicon::short_key("a"), Lexicon::short_key("a\0"));
    }

    #[test]
    fn medical_words_are_not_flagged() {
        for t in [
            "Parkinson disease, Crohn's disease and Bell's palsy.",
            "Metformin 500 mg PO BID; lisinopril 10 mg daily.",
            "ICD-10 E11.9, LOINC 4548-4, SNOMED 44054006.",
            "Hemoglobin 13.5 g/dL, WBC 7.2, BP 120/80, HR 72.",
            "Strength 5/5 in all extremities. Grade 2/6 murmur.",
            "He is 45 years old. She is 89 years old.",
            "The patient may 2 times daily take it.",
            "Alzheimer's dementia and Hashimoto thyroiditis, Graves disease.",
        ] {
            let f = found(t);
            assert!(f.is_empty(), "{t:?} flagged {f:?}");
        }
    }

    #[test]
    fn the_medical_allow_list_is_never_flagged() {
        // Every listed drug, condition, eponym and unit, capitalised the way
        // notes write them, at a sentence start and mid-sentence.
        let d = dict::dicts();
        let det = Detector::default();
        let mut flagged = Vec::new();
        for w in d.medical.iter() {
            let cap: String = w.chars().take(1).flat_map(char::to_uppercase).chain(w.chars().skip(1)).collect();
            for text in [
                format!("{cap} was started today."),
                format!("History of {cap} and hypertension."),
                format!("Continue {cap} 10 mg daily."),
            ] {
                if !det.detect(&text).is_empty() {
                    flagged.push(text);
                }
            }
        }
        assert!(flagged.is_empty(), "{flagged:?}");
    }

    #[test]
    fn empty_and_odd_input() {
        let d = Detector::default();
        assert!(d.detect("").is_empty());
        let _ = d.detect("\u{0}\u{FFFF}é€𝄞");
        let _ = d.detect(&"9".repeat(10_000));
    }
}
