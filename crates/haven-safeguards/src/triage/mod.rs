//! Symptom triage: red flags that escalate at once (call 911, call or text
//! 988, Poison Control) and a disposition for a symptom description.
//!
//! The rules are data (`data/red_flags.toml`, embedded and validated on
//! first use), each with its public source. Matching works on words after
//! shorthand expansion and spelling correction; a match is set aside when it
//! is negated ("no chest pain"), long past ("went away last year") or part of
//! a general question with no person in it ("what are the signs of a
//! stroke?"). Everything else escalates: Haven prefers over-triage, and a
//! symptom no rule knows still gets "see a doctor", never silence.

mod rules;
mod text;

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::check::{Check, Verdict};
use rules::Rule;
pub use rules::{Level, NumericCheck, RuleError, Source};
use text::{Speller, Word, words};

static RULES_TOML: &str = include_str!("../../data/red_flags.toml");

static DEFAULT: LazyLock<Result<Triage, RuleError>> = LazyLock::new(|| Triage::from_toml(RULES_TOML));

/// An escalation: what to tell the person now, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Escalation {
    /// `emergency` or `urgent`.
    pub level: Level,
    /// What to do now ("Call 911 now ...").
    pub advice: String,
    /// The rule's id, e.g. `stroke`.
    pub rule: String,
    /// What the rule recognises (fixed text, never the user's).
    pub title: String,
    /// The public page the rule follows.
    pub source: Source,
}

/// Where a symptom description should go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// No symptom is reported: a general health question or another request.
    Information,
    /// Can be looked after at home; see a doctor if it lasts or worsens.
    SelfCare,
    /// See a doctor within days.
    SeeDoctor,
    /// Get care today: urgent care or a same-day appointment.
    UrgentCare,
    /// Call 911 (or the line in the advice) now.
    Emergency,
}

impl Disposition {
    /// The disposition's name as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Information => "information",
            Disposition::SelfCare => "self_care",
            Disposition::SeeDoctor => "see_doctor",
            Disposition::UrgentCare => "urgent_care",
            Disposition::Emergency => "emergency",
        }
    }
}

/// The triage of one message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    /// Where to go.
    pub disposition: Disposition,
    /// Why, in fixed words (a rule's title or a fixed phrase).
    pub reason: String,
    /// For `emergency` and `urgent_care`: what to say now.
    pub escalation: Option<Escalation>,
    /// Every rule that fired, most urgent first.
    pub rules: Vec<String>,
}

impl Assessment {
    /// The assessment as the pipeline's shared result type, named `triage`:
    /// `block` for an emergency (answer with the escalation, nothing else
    /// first), `flag` for urgent care, `pass` otherwise.
    pub fn check(&self) -> Check {
        let (verdict, score) = match self.disposition {
            Disposition::Emergency => (Verdict::Block, 1.0),
            Disposition::UrgentCare => (Verdict::Flag, 0.75),
            Disposition::SeeDoctor => (Verdict::Pass, 0.5),
            Disposition::SelfCare => (Verdict::Pass, 0.25),
            Disposition::Information => (Verdict::Pass, 0.0),
        };
        let reason = match &self.escalation {
            Some(e) => format!("{}: {} ({})", self.disposition.as_str(), e.rule, e.title),
            None => format!("{}: {}", self.disposition.as_str(), self.reason),
        };
        Check::new("triage", verdict, score, reason)
    }
}

/// A pattern word by id: each distinct pattern word gets one.
type WordId = u32;
/// A compiled pattern: terms, each alternatives, each a run of word ids.
type IdPattern = Vec<Vec<Vec<WordId>>>;

/// A loaded rule set with its spelling vocabulary and word index.
pub struct Triage {
    rules: Vec<Rule>,
    /// Per rule, its patterns as word ids.
    patterns: Vec<Vec<IdPattern>>,
    /// Exact pattern words → ids.
    exact: HashMap<String, WordId>,
    /// Prefix pattern words (`breath*`) with their ids, by their first (up to) three characters.
    prefixes: HashMap<String, Vec<(String, WordId)>>,
    speller: Speller,
}

impl std::fmt::Debug for Triage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Triage").field("rules", &self.rules.len()).finish()
    }
}

/// Assesses `text` with the embedded rules.
pub fn assess(text: &str) -> Assessment {
    match DEFAULT.as_ref() {
        Ok(t) => t.assess(text),
        // Unreachable with a tested build; never silent if it happens.
        Err(_) => Assessment {
            disposition: Disposition::SeeDoctor,
            reason: "triage rules unavailable; not assessed".to_owned(),
            escalation: None,
            rules: Vec::new(),
        },
    }
}

/// The escalation for `text` with the embedded rules, if any (emergency or urgent).
pub fn check(text: &str) -> Option<Escalation> {
    assess(text).escalation
}

/// The embedded rule set, or why it failed to load.
pub fn embedded() -> Result<&'static Triage, &'static RuleError> {
    DEFAULT.as_ref()
}

impl Triage {
    /// Loads and validates a rule file (the format of `data/red_flags.toml`).
    pub fn from_toml(text: &str) -> Result<Self, RuleError> {
        let rules = rules::parse(text)?;
        let mut vocabulary: Vec<String> = Vec::new();
        for rule in &rules {
            for pattern in &rule.patterns {
                for term in pattern {
                    for alt in term {
                        for w in alt {
                            vocabulary.push(w.text.clone());
                            if w.prefix {
                                // Stems are corrected through their common forms.
                                for suffix in ["", "e", "s", "es", "ed", "ing", "y", "ion", "ly"] {
                                    vocabulary.push(format!("{}{suffix}", w.text));
                                }
                            }
                        }
                    }
                }
            }
        }
        vocabulary.extend(SYMPTOM_WORDS.iter().map(|w| (*w).to_owned()));
        let mut exact: HashMap<String, WordId> = HashMap::new();
        let mut prefixes: HashMap<String, WordId> = HashMap::new();
        let mut next: WordId = 0;
        let patterns = rules
            .iter()
            .map(|rule| {
                rule.patterns
                    .iter()
                    .map(|pattern| {
                        pattern
                            .iter()
                            .map(|term| {
                                term.iter()
                                    .map(|alt| {
                                        alt.iter()
                                            .map(|w| {
                                                let map = if w.prefix { &mut prefixes } else { &mut exact };
                                                *map.entry(w.text.clone()).or_insert_with(|| {
                                                    next += 1;
                                                    next
                                                })
                                            })
                                            .collect()
                                    })
                                    .collect()
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let mut by_start: HashMap<String, Vec<(String, WordId)>> = HashMap::new();
        for (p, id) in prefixes {
            by_start.entry(p.chars().take(3).collect()).or_default().push((p, id));
        }
        Ok(Triage { rules, patterns, exact, prefixes: by_start, speller: Speller::new(vocabulary) })
    }

    /// The rules' ids, in file order.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.id.as_str())
    }

    /// Triage of one message.
    pub fn assess(&self, text: &str) -> Assessment {
        let raw = words(text);
        let ws: Vec<Word> = raw
            .into_iter()
            .map(|w| Word { text: self.speller.correct(&w.text).to_owned(), clause: w.clause })
            .collect();
        let topic = is_topic_question(&ws);
        let index = self.index(&ws);
        let mut fired: Vec<&Rule> = Vec::new();
        let mut set_aside_as_topic = false;
        let mut set_aside_as_absent = false;
        for (rule, patterns) in self.rules.iter().zip(&self.patterns) {
            let mut hit = false;
            for pattern in patterns {
                for m in find_matches(&index, pattern, rule.window) {
                    if (rule.negatable && is_negated(&ws, &m)) || (rule.history_exempt && is_past(&ws, &m)) {
                        set_aside_as_absent = true;
                        continue;
                    }
                    hit = true;
                    break;
                }
                if hit {
                    break;
                }
            }
            if !hit && let Some((check, a, b)) = rule.check {
                hit = match check {
                    NumericCheck::InfantFever => infant_fever(&ws, a, b),
                    NumericCheck::BloodSugar => blood_sugar(&ws, a, b),
                };
            }
            if hit && topic && rule.topic_exempt {
                set_aside_as_topic = true;
                continue;
            }
            if hit {
                fired.push(rule);
            }
        }
        fired.sort_by_key(|r| std::cmp::Reverse(r.level));
        let ids = fired.iter().map(|r| r.id.clone()).collect();
        let Some(top) = fired.first() else {
            let (disposition, reason) = if set_aside_as_topic || topic {
                (Disposition::Information, "a general question, not a symptom report")
            } else if set_aside_as_absent {
                (Disposition::Information, "symptoms described as absent or in the past")
            } else if mentions_symptom(&ws) {
                (Disposition::SeeDoctor, "a symptom without a specific rule: see a doctor if it lasts or worsens")
            } else {
                (Disposition::Information, "no symptom reported")
            };
            return Assessment { disposition, reason: reason.to_owned(), escalation: None, rules: ids };
        };
        let disposition = match top.level {
            Level::Emergency => Disposition::Emergency,
            Level::Urgent => Disposition::UrgentCare,
            Level::SeeDoctor => Disposition::SeeDoctor,
            Level::SelfCare => Disposition::SelfCare,
        };
        let escalation = (top.level >= Level::Urgent).then(|| Escalation {
            level: top.level,
            advice: top.advice.clone(),
            rule: top.id.clone(),
            title: top.title.clone(),
            source: top.source.clone(),
        });
        Assessment { disposition, reason: top.title.clone(), escalation, rules: ids }
    }
}

/// A match: for each term, the word range it covers.
type Match = Vec<(usize, usize)>;

/// Which pattern words each message word matches, and where each pattern word occurs.
struct WordIndex {
    at: Vec<Vec<WordId>>,
    positions: HashMap<WordId, Vec<usize>>,
}

impl Triage {
    fn index(&self, ws: &[Word]) -> WordIndex {
        let mut at = Vec::with_capacity(ws.len());
        let mut positions: HashMap<WordId, Vec<usize>> = HashMap::new();
        for (i, w) in ws.iter().enumerate() {
            let mut ids = Vec::new();
            if let Some(&id) = self.exact.get(&w.text) {
                ids.push(id);
            }
            // Prefixes of one to three characters key the candidates.
            for (k, _) in w.text.char_indices().skip(1).take(2).chain(std::iter::once((w.text.len(), ' '))) {
                let key = &w.text[..k];
                if key.chars().count() > 3 {
                    continue;
                }
                if let Some(candidates) = self.prefixes.get(key) {
                    ids.extend(candidates.iter().filter(|(p, _)| w.text.starts_with(p.as_str())).map(|(_, id)| *id));
                }
            }
            if w.text.chars().count() > 3 {
                let key: String = w.text.chars().take(3).collect();
                if let Some(candidates) = self.prefixes.get(&key) {
                    ids.extend(candidates.iter().filter(|(p, _)| w.text.starts_with(p.as_str())).map(|(_, id)| *id));
                }
            }
            ids.sort_unstable();
            ids.dedup();
            for &id in &ids {
                positions.entry(id).or_default().push(i);
            }
            at.push(ids);
        }
        WordIndex { at, positions }
    }
}

/// Every anchor position where all of `terms` occur within `window` words.
fn find_matches(index: &WordIndex, terms: &IdPattern, window: usize) -> Vec<Match> {
    // Most patterns fail on a term none of whose alternatives even starts in the message.
    let present =
        |t: &Vec<Vec<WordId>>| t.iter().any(|alt| alt.first().is_some_and(|f| index.positions.contains_key(f)));
    if !terms.iter().all(present) {
        return Vec::new();
    }
    let occurrences: Vec<Vec<(usize, usize)>> = terms.iter().map(|t| occurrences_of(index, t)).collect();
    if occurrences.iter().any(Vec::is_empty) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for &anchor in &occurrences[0] {
        let mut m: Match = vec![anchor];
        for occ in &occurrences[1..] {
            // The occurrence nearest the anchor.
            let nearest = occ.iter().min_by_key(|(s, _)| s.abs_diff(anchor.0)).copied();
            if let Some(o) = nearest {
                m.push(o);
            }
        }
        let lo = m.iter().map(|r| r.0).min().unwrap_or(0);
        let hi = m.iter().map(|r| r.1).max().unwrap_or(0);
        if hi - lo <= window {
            out.push(m);
        }
    }
    out
}

fn occurrences_of(index: &WordIndex, term: &[Vec<WordId>]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for alt in term {
        let Some((first, rest)) = alt.split_first() else { continue };
        let Some(starts) = index.positions.get(first) else { continue };
        for &i in starts {
            let fits =
                rest.iter().enumerate().all(|(k, id)| index.at.get(i + 1 + k).is_some_and(|ids| ids.contains(id)));
            if fits {
                out.push((i, i + rest.len()));
            }
        }
    }
    out.sort_unstable();
    out.dedup_by_key(|o| o.0);
    out
}

const NEGATIONS: &[&str] = &[
    "no", "not", "dont", "doesnt", "didnt", "isnt", "wasnt", "arent", "werent", "havent", "hasnt", "hadnt", "never",
    "without", "denies", "deny", "denied", "denying", "none", "negative", "nor", "neither", "aint", "free",
];
/// Words after a negation that make it no negation ("not sure", "no idea").
const PSEUDO_NEGATED: &[&str] =
    &["sure", "idea", "clue", "certain", "know", "only", "just", "doubt", "matter", "better"];

/// A negation at most three words before a matched term, in its clause, and not part of the match.
fn is_negated(ws: &[Word], m: &Match) -> bool {
    let inside = |i: usize| m.iter().any(|&(s, e)| (s..=e).contains(&i));
    m.iter().any(|&(start, _)| {
        (start.saturating_sub(3)..start).any(|i| {
            ws[i].clause == ws[start].clause
                && !inside(i)
                && NEGATIONS.contains(&ws[i].text.as_str())
                && !ws.get(i + 1).is_some_and(|n| PSEUDO_NEGATED.contains(&n.text.as_str()))
        })
    })
}

const PAST: &[&[&str]] = &[
    &["years", "ago"],
    &["year", "ago"],
    &["months", "ago"],
    &["month", "ago"],
    &["weeks", "ago"],
    &["last", "year"],
    &["last", "month"],
    &["last", "summer"],
    &["last", "winter"],
    &["last", "spring"],
    &["last", "fall"],
    &["as", "a", "child"],
    &["as", "a", "kid"],
    &["when", "i", "was"],
    &["history", "of"],
    &["used", "to"],
    &["in", "the", "past"],
    &["back", "in"],
    &["died", "of"],
    &["died", "from"],
    &["passed", "away"],
    &["runs", "in"],
    &["family", "history"],
];
const PRESENT: &[&str] = &[
    "now",
    "today",
    "tonight",
    "currently",
    "just",
    "again",
    "still",
    "started",
    "starting",
    "suddenly",
    "sudden",
    "minutes",
    "hour",
    "hours",
    "since",
    "keeps",
    "happening",
    "ongoing",
    "right",
    "morning",
    "yesterday",
];

/// The match's clauses speak of the past (or of a relative's history) and not of now.
fn is_past(ws: &[Word], m: &Match) -> bool {
    let clauses: Vec<u32> = m.iter().map(|&(s, _)| ws[s].clause).collect();
    let scope: Vec<&Word> = ws.iter().filter(|w| clauses.contains(&w.clause)).collect();
    let texts: Vec<&str> = scope.iter().map(|w| w.text.as_str()).collect();
    let past = PAST.iter().any(|p| texts.windows(p.len()).any(|w| w == *p))
        || texts.iter().any(|t| t.len() == 4 && t.parse::<u32>().is_ok_and(|y| (1900..=2099).contains(&y)));
    past && !texts.iter().any(|t| PRESENT.contains(t))
}

/// Words that put a person in the message: the writer, someone they are with, a patient.
const PERSONS: &[&str] = &[
    "i",
    "me",
    "my",
    "mine",
    "myself",
    "we",
    "us",
    "our",
    "he",
    "she",
    "him",
    "her",
    "his",
    "hers",
    "they",
    "them",
    "their",
    "husband",
    "wife",
    "son",
    "daughter",
    "mom",
    "dad",
    "mother",
    "father",
    "baby",
    "babys",
    "child",
    "kid",
    "kids",
    "toddler",
    "infant",
    "newborn",
    "friend",
    "partner",
    "boyfriend",
    "girlfriend",
    "brother",
    "sister",
    "grandma",
    "grandpa",
    "grandmother",
    "grandfather",
    "patient",
    "pt",
    "someone",
    "somebody",
    "roommate",
    "yo",
    "man",
    "woman",
    "guy",
    "girl",
    "boy",
    "neighbor",
    "coworker",
    "am",
    "im",
    "ive",
    "id",
    "you",
];
const QUESTION_STARTS: &[&str] = &[
    "what",
    "whats",
    "how",
    "why",
    "which",
    "who",
    "when",
    "where",
    "is",
    "are",
    "can",
    "could",
    "does",
    "do",
    "should",
    "would",
    "will",
    "tell",
    "explain",
    "define",
    "list",
    "describe",
    "info",
    "information",
];

/// A general question with no person in it ("what are the signs of a stroke?").
fn is_topic_question(ws: &[Word]) -> bool {
    let Some(first) = ws.first() else { return false };
    let asks = QUESTION_STARTS.contains(&first.text.as_str())
        || ws
            .windows(2)
            .any(|w| matches!((w[0].text.as_str(), w[1].text.as_str()), ("signs" | "symptoms" | "causes", "of")));
    // "you" addressing the assistant ("do you have information on...", "can you
    // explain...") puts no person in the message; any other "you" does.
    let addressed = |i: usize| {
        ws[i].text == "you"
            && i.checked_sub(1)
                .is_some_and(|j| matches!(ws[j].text.as_str(), "do" | "can" | "could" | "would" | "will"))
    };
    asks && !ws
        .iter()
        .enumerate()
        .any(|(i, w)| (PERSONS.contains(&w.text.as_str()) && !addressed(i)) || w.text.parse::<f32>().is_ok())
}

/// Words that describe a symptom, for messages no rule matched.
const SYMPTOM_WORDS: &[&str] = &[
    "pain",
    "painful",
    "hurt",
    "hurts",
    "hurting",
    "ache",
    "aches",
    "aching",
    "sore",
    "fever",
    "sick",
    "ill",
    "unwell",
    "bleeding",
    "vomit",
    "vomiting",
    "nausea",
    "nauseous",
    "dizzy",
    "swollen",
    "swelling",
    "cough",
    "coughing",
    "rash",
    "itchy",
    "tired",
    "exhausted",
    "weak",
    "numb",
    "tingling",
    "cramps",
    "cramping",
    "diarrhea",
    "constipated",
    "burning",
    "lump",
    "headache",
    "migraine",
    "infection",
    "discharge",
    "bruise",
    "wound",
    "sprain",
    "injured",
    "fell",
    "symptom",
    "symptoms",
    "feel",
    "feeling",
];

fn mentions_symptom(ws: &[Word]) -> bool {
    ws.iter().any(|w| SYMPTOM_WORDS.contains(&w.text.as_str()))
}

/// A number word, for ages and temperatures.
fn number(w: &Word) -> Option<f32> {
    match w.text.as_str() {
        "one" | "a" | "an" => Some(1.0),
        "two" => Some(2.0),
        "three" => Some(3.0),
        "four" => Some(4.0),
        "five" => Some(5.0),
        "six" => Some(6.0),
        "seven" => Some(7.0),
        "eight" => Some(8.0),
        "nine" => Some(9.0),
        "ten" => Some(10.0),
        "eleven" => Some(11.0),
        "twelve" => Some(12.0),
        t => t.parse::<f32>().ok().filter(|n| n.is_finite()),
    }
}

/// A baby younger than `age_below` days with a temperature of at least `temp_f` °F
/// (or "fever" with no number given, which counts: over-triage).
fn infant_fever(ws: &[Word], age_below: f32, temp_f: f32) -> bool {
    let mut age_days: Option<f32> = None;
    for (i, w) in ws.iter().enumerate() {
        if matches!(w.text.as_str(), "newborn" | "neonate") {
            age_days = Some(age_days.unwrap_or(0.0).min(14.0));
        }
        let unit = match w.text.as_str() {
            "day" | "days" | "dy" => 1.0,
            "week" | "weeks" | "wk" => 7.0,
            "month" | "months" | "mo" | "mos" | "mth" | "mths" | "mon" => 30.4,
            _ => continue,
        };
        let Some(n) = i.checked_sub(1).and_then(|j| number(&ws[j])) else { continue };
        let next = ws.get(i + 1).map(|w| w.text.as_str());
        if next == Some("ago") {
            continue;
        }
        let near_baby = ws[i.saturating_sub(5)..(i + 4).min(ws.len())]
            .iter()
            .any(|w| matches!(w.text.as_str(), "old" | "baby" | "babys" | "infant" | "newborn" | "son" | "daughter"));
        if near_baby {
            let days = n * unit;
            age_days = Some(age_days.map_or(days, |a: f32| a.min(days)));
        }
    }
    let Some(age) = age_days else { return false };
    if age >= age_below {
        return false;
    }
    let mut saw_number = false;
    for (i, w) in ws.iter().enumerate() {
        let Some(n) = number(w) else { continue };
        let next = ws.get(i + 1).map(|w| w.text.as_str());
        let celsius = matches!(next, Some("c" | "celsius" | "degc")) || (35.0..=43.5).contains(&n) && near_temp(ws, i);
        let f = if celsius && (35.0..=43.5).contains(&n) {
            n * 9.0 / 5.0 + 32.0
        } else if (95.0..=110.0).contains(&n) {
            n
        } else {
            continue;
        };
        saw_number = true;
        if f >= temp_f {
            return true;
        }
    }
    // "Fever" said without a number counts, unless negated.
    !saw_number
        && ws.iter().enumerate().any(|(i, w)| {
            matches!(w.text.as_str(), "fever" | "feverish" | "febrile" | "burning")
                && !(i.saturating_sub(3)..i).any(|j| NEGATIONS.contains(&ws[j].text.as_str()))
        })
}

fn near_temp(ws: &[Word], i: usize) -> bool {
    ws[i.saturating_sub(4)..(i + 3).min(ws.len())]
        .iter()
        .any(|w| matches!(w.text.as_str(), "fever" | "temp" | "temperature" | "degrees" | "thermometer"))
}

/// A blood sugar reading at or below `low` or at or above `high` mg/dL
/// (mmol/L readings, below 35 or with "mmol", are converted).
fn blood_sugar(ws: &[Word], low: f32, high: f32) -> bool {
    let mmol = ws.iter().any(|w| w.text.starts_with("mmol"));
    for (i, w) in ws.iter().enumerate() {
        if !matches!(
            w.text.as_str(),
            "sugar" | "sugars" | "glucose" | "bg" | "bgl" | "bs" | "cgm" | "meter" | "glucometer" | "dexcom" | "libre"
        ) {
            continue;
        }
        for v in ws[i + 1..(i + 6).min(ws.len())].iter().filter_map(number) {
            let mg = if mmol || (v < 35.0 && v.fract() != 0.0) { v * 18.0 } else { v };
            if mg >= 10.0 && (mg <= low || mg >= high) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests;
