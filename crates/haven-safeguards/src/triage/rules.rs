//! The triage rule file: its TOML schema, validation with errors that name
//! the rule, and the compiled patterns.

use serde::{Deserialize, Serialize};

/// How urgent a rule is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// A minor complaint that can be looked after at home.
    SelfCare,
    /// See a doctor within days.
    SeeDoctor,
    /// Get care today (urgent care, the doctor's same-day line).
    Urgent,
    /// Call 911 (or the named line) now.
    Emergency,
}

impl Level {
    /// The level's name as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::SelfCare => "self_care",
            Level::SeeDoctor => "see_doctor",
            Level::Urgent => "urgent",
            Level::Emergency => "emergency",
        }
    }
}

/// The public page a rule follows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Publisher and title, e.g. "CDC: Heart Attack Symptoms".
    pub name: String,
    /// The page's address.
    pub url: String,
}

/// A numeric check done in code for a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumericCheck {
    /// A baby younger than `age_days_below` with a temperature of at least `temp_f_at_least` °F.
    InfantFever,
    /// A blood sugar reading at or below `low_at_most` or at or above `high_at_least` mg/dL.
    BloodSugar,
}

/// One rule as written in the file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    id: String,
    level: Level,
    title: String,
    advice: Option<String>,
    source: Source,
    patterns: Vec<String>,
    window: Option<usize>,
    negatable: Option<bool>,
    topic_exempt: Option<bool>,
    history_exempt: Option<bool>,
    check: Option<NumericCheck>,
    age_days_below: Option<u32>,
    temp_f_at_least: Option<f32>,
    low_at_most: Option<f32>,
    high_at_least: Option<f32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    rule: Vec<RuleSpec>,
}

/// A rule file that cannot be used; every variant names the rule at fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuleError {
    /// Not valid TOML or not the expected shape (serde's message names the key).
    #[error("triage rules: {0}")]
    Syntax(String),
    /// Two rules share an id.
    #[error("triage rule `{0}`: the id is used twice")]
    DuplicateId(String),
    /// An id other than lower case letters, digits and underscores.
    #[error("triage rule `{0}`: ids are lower case letters, digits and underscores")]
    BadId(String),
    /// An emergency or urgent rule without advice.
    #[error("triage rule `{0}`: emergency and urgent rules need `advice`")]
    MissingAdvice(String),
    /// A source without a name or an http(s) URL.
    #[error("triage rule `{0}`: `source` needs a name and an https URL")]
    BadSource(String),
    /// A rule with no pattern and no numeric check.
    #[error("triage rule `{0}`: it has no patterns and no `check`")]
    NoPatterns(String),
    /// A pattern with an empty term or word.
    #[error("triage rule `{rule}`: pattern {index} has an empty term or word")]
    BadPattern {
        /// The rule's id.
        rule: String,
        /// The pattern's position in `patterns`, from 1.
        index: usize,
    },
    /// A numeric check without its thresholds.
    #[error("triage rule `{0}`: `check` needs its thresholds")]
    MissingThreshold(String),
    /// An empty rule list.
    #[error("triage rules: the file has no rules")]
    Empty,
}

/// A word of a pattern: exact, or a prefix (written with a trailing `*`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct WordPat {
    pub text: String,
    pub prefix: bool,
}

/// Alternatives (`|`), each a run of words.
pub(crate) type Term = Vec<Vec<WordPat>>;

/// A compiled rule.
#[derive(Clone, Debug)]
pub(crate) struct Rule {
    pub id: String,
    pub level: Level,
    pub title: String,
    pub advice: String,
    pub source: Source,
    /// Each pattern: terms that must all occur within `window` words.
    pub patterns: Vec<Vec<Term>>,
    pub window: usize,
    pub negatable: bool,
    pub topic_exempt: bool,
    pub history_exempt: bool,
    pub check: Option<(NumericCheck, f32, f32)>,
}

/// Parses and validates a rule file.
pub(crate) fn parse(text: &str) -> Result<Vec<Rule>, RuleError> {
    let file: RuleFile = toml::from_str(text).map_err(|e| RuleError::Syntax(e.message().to_owned()))?;
    if file.rule.is_empty() {
        return Err(RuleError::Empty);
    }
    let mut seen = std::collections::HashSet::new();
    let mut rules = Vec::with_capacity(file.rule.len());
    for spec in file.rule {
        let id = spec.id.clone();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err(RuleError::BadId(id));
        }
        if !seen.insert(id.clone()) {
            return Err(RuleError::DuplicateId(id));
        }
        let advice = spec.advice.unwrap_or_default();
        if spec.level >= Level::Urgent && advice.trim().is_empty() {
            return Err(RuleError::MissingAdvice(id));
        }
        if spec.source.name.trim().is_empty() || !spec.source.url.starts_with("https://") {
            return Err(RuleError::BadSource(id));
        }
        if spec.patterns.is_empty() && spec.check.is_none() {
            return Err(RuleError::NoPatterns(id));
        }
        let mut patterns = Vec::with_capacity(spec.patterns.len());
        for (i, p) in spec.patterns.iter().enumerate() {
            patterns.push(compile(p).ok_or_else(|| RuleError::BadPattern { rule: id.clone(), index: i + 1 })?);
        }
        let check = match spec.check {
            None => None,
            Some(NumericCheck::InfantFever) => match (spec.age_days_below, spec.temp_f_at_least) {
                (Some(a), Some(t)) => Some((NumericCheck::InfantFever, a as f32, t)),
                _ => return Err(RuleError::MissingThreshold(id)),
            },
            Some(NumericCheck::BloodSugar) => match (spec.low_at_most, spec.high_at_least) {
                (Some(l), Some(h)) => Some((NumericCheck::BloodSugar, l, h)),
                _ => return Err(RuleError::MissingThreshold(id)),
            },
        };
        rules.push(Rule {
            id,
            level: spec.level,
            title: spec.title,
            advice,
            source: spec.source,
            patterns,
            window: spec.window.unwrap_or(8),
            negatable: spec.negatable.unwrap_or(true),
            topic_exempt: spec.topic_exempt.unwrap_or(true),
            history_exempt: spec.history_exempt.unwrap_or(true),
            check,
        });
    }
    Ok(rules)
}

/// `a|b c & d*` → terms of alternatives of word runs; `None` for an empty part.
fn compile(pattern: &str) -> Option<Vec<Term>> {
    let mut terms = Vec::new();
    for term in pattern.split('&') {
        let mut alts = Vec::new();
        for alt in term.split('|') {
            let words: Vec<WordPat> = alt
                .split_whitespace()
                .map(|w| match w.strip_suffix('*') {
                    Some(stem) => WordPat { text: stem.to_owned(), prefix: true },
                    None => WordPat { text: w.to_owned(), prefix: false },
                })
                .collect();
            if words.is_empty() || words.iter().any(|w| w.text.is_empty()) {
                return None;
            }
            alts.push(words);
        }
        terms.push(alts);
    }
    Some(terms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[[rule]]
id = "x"
level = "emergency"
title = "t"
advice = "Call 911 now."
source = { name = "n", url = "https://example.org/" }
patterns = ["chest & pain*"]
"#;

    #[test]
    fn validation_errors_name_the_rule() {
        assert_eq!(parse(MINIMAL).unwrap().len(), 1);
        let dup = format!("{MINIMAL}{MINIMAL}");
        assert_eq!(parse(&dup).unwrap_err(), RuleError::DuplicateId("x".into()));
        let no_advice = MINIMAL.replace("advice = \"Call 911 now.\"\n", "");
        assert_eq!(parse(&no_advice).unwrap_err(), RuleError::MissingAdvice("x".into()));
        let http = MINIMAL.replace("https://", "http://");
        assert_eq!(parse(&http).unwrap_err(), RuleError::BadSource("x".into()));
        let bad = MINIMAL.replace("chest & pain*", "chest & | pain");
        assert_eq!(parse(&bad).unwrap_err(), RuleError::BadPattern { rule: "x".into(), index: 1 });
        assert_eq!(parse(&bad).unwrap_err().to_string(), "triage rule `x`: pattern 1 has an empty term or word");
        let id = MINIMAL.replace("id = \"x\"", "id = \"X-1\"");
        assert_eq!(parse(&id).unwrap_err(), RuleError::BadId("X-1".into()));
        let check = MINIMAL.replace("patterns = [\"chest & pain*\"]", "patterns = []\ncheck = \"infant_fever\"");
        assert_eq!(parse(&check).unwrap_err(), RuleError::MissingThreshold("x".into()));
        assert!(matches!(parse("[[rule]]\nid = 3"), Err(RuleError::Syntax(_))));
        let unknown = MINIMAL.replace("title = \"t\"", "title = \"t\"\ncolour = \"red\"");
        assert!(matches!(parse(&unknown), Err(RuleError::Syntax(m)) if m.contains("colour")));
    }

    #[test]
    fn patterns_compile_to_terms() {
        let t = compile("chest|left arm & pain*").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0][1].len(), 2);
        assert!(t[1][0][0].prefix);
        assert!(compile("a & ").is_none());
    }
}
