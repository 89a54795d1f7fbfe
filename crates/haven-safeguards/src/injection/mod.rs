//! Prompt-injection, jailbreak and abuse detection for user messages,
//! retrieved passages and tool results.
//!
//! Two layers over [`crate::normalize`]d text: phrase rules (each a named
//! [`Signal`] with a fixed strength) and a small logistic-regression model
//! over hashed word and character n-grams ([`model`], trained offline by
//! `scripts/train-safety-model.py`). Their strengths combine as a noisy-OR
//! into one score in `0..=1`; the verdict compares it with [`Thresholds`].
//! Encoded payloads (base64, hex, percent-encoding, tag characters) are
//! decoded and scanned too, as are the ROT13 and reversed readings.

pub mod features;
pub mod model;
mod rules;

use serde::{Deserialize, Serialize};

use crate::check::{Check, Verdict, clamp_score};
use crate::normalize::{Normalized, normalize, rot13};

pub use rules::Signal;

/// Where a text comes from; passages and tool results are also searched for
/// instructions addressed to the assistant (indirect injection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// A message typed by a patient or clinician.
    UserMessage,
    /// A passage retrieved from the knowledge base or a record.
    RetrievedPassage,
    /// The output of a tool call.
    ToolResult,
}

/// Score thresholds for the verdict.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// At or above this score the verdict is `flag`.
    pub flag: f32,
    /// At or above this score the verdict is `block`.
    pub block: f32,
}

impl Default for Thresholds {
    /// `flag` at 0.5 and `block` at 0.85, chosen on the training half of the corpus.
    fn default() -> Self {
        Thresholds { flag: 0.5, block: 0.85 }
    }
}

/// What the injection check found in one text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InjectionReport {
    /// Combined score in `0..=1`.
    pub score: f32,
    /// The linear model's probability alone.
    pub model_score: f32,
    /// `pass`, `flag` or `block` by [`Thresholds`].
    pub verdict: Verdict,
    /// The signals that fired, strongest first (`model` when the model alone
    /// is at or above the flag threshold).
    pub signals: Vec<Signal>,
}

impl InjectionReport {
    /// The report as the pipeline's shared result type, named `injection`.
    pub fn check(&self) -> Check {
        let reason = if self.signals.is_empty() {
            "no injection or abuse signal".to_owned()
        } else {
            let names: Vec<&str> = self.signals.iter().map(|s| s.as_str()).collect();
            format!("signals: {}", names.join(", "))
        };
        Check::new("injection", self.verdict, self.score, reason)
    }
}

/// Scans `text` with the default thresholds.
pub fn scan(text: &str, kind: InputKind) -> InjectionReport {
    scan_with(text, kind, &Thresholds::default())
}

/// Scans `text` with the given thresholds.
pub fn scan_with(text: &str, kind: InputKind, thresholds: &Thresholds) -> InjectionReport {
    let normalized = normalize(text);
    let mut found = Found::default();
    scan_normalized(&normalized, kind, &mut found);
    let model_score = found.model;
    let mut pass = 1.0 - model_score;
    for &(_, strength) in &found.signals {
        pass *= 1.0 - strength;
    }
    let score = clamp_score(1.0 - pass);
    let verdict = if score >= thresholds.block {
        Verdict::Block
    } else if score >= thresholds.flag {
        Verdict::Flag
    } else {
        Verdict::Pass
    };
    let mut signals = found.signals;
    signals.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut names: Vec<Signal> = Vec::with_capacity(signals.len() + 1);
    if model_score >= thresholds.flag {
        names.push(Signal::Model);
    }
    for (s, _) in signals {
        if !names.contains(&s) {
            names.push(s);
        }
    }
    InjectionReport { score, model_score, verdict, signals: names }
}

/// Signals with their strengths, and the model's probability (the largest
/// over the text and what it hides).
#[derive(Default)]
struct Found {
    signals: Vec<(Signal, f32)>,
    model: f32,
}

impl Found {
    /// Keeps the strongest strength per signal: repeating a phrase adds nothing.
    fn add(&mut self, signal: Signal, strength: f32) {
        match self.signals.iter_mut().find(|(s, _)| *s == signal) {
            Some(entry) => entry.1 = entry.1.max(strength),
            None => self.signals.push((signal, strength)),
        }
    }
}

fn scan_normalized(n: &Normalized, kind: InputKind, found: &mut Found) {
    let o = n.obfuscation;
    for (flag, signal) in [
        (o.invisible, Signal::InvisibleCharacters),
        (o.tag_characters, Signal::TagCharacters),
        (o.confusables, Signal::Homoglyphs),
        (o.spaced_letters, Signal::SpacedLetters),
        (o.leetspeak, Signal::Leetspeak),
        (o.encoded_payload, Signal::EncodedPayload),
    ] {
        if flag {
            found.add(signal, signal.strength(kind));
        }
    }
    scan_text(&n.text, kind, found);
    // What a payload decodes to counts as if it were written out, with the
    // hiding itself as an extra signal.
    for hidden in &n.hidden {
        let before = found.signals.len();
        scan_text(hidden, kind, found);
        if found.signals.len() > before {
            found.add(Signal::EncodedPayload, Signal::EncodedPayload.strength(kind));
        }
    }
    // ROT13 or reversed text that reads as a strong attack phrase.
    if rules::strong_match(&rot13(&n.text)) {
        found.add(Signal::Rot13, Signal::Rot13.strength(kind));
    }
    let reversed: String = n.text.chars().rev().collect();
    if rules::strong_match(&reversed) {
        found.add(Signal::ReversedText, Signal::ReversedText.strength(kind));
    }
}

/// Texts shorter than this many words cannot be blocked by the model alone.
const MODEL_BLOCK_MIN_WORDS: usize = 40;
/// The model's largest contribution for a shorter text: a flag, not a block.
const MODEL_SHORT_CAP: f32 = 0.8;
/// The model's largest contribution for retrieved passages and tool results:
/// below the flag threshold.
const MODEL_DATA_CAP: f32 = 0.4;

fn scan_text(text: &str, kind: InputKind, found: &mut Found) {
    for (signal, strength) in rules::matches(text, kind) {
        found.add(signal, strength);
    }
    if let Ok(m) = model::embedded() {
        let mut p = m.probability(&features::featurize(text));
        // A short message gives the model little evidence, and look-alike
        // questions ("how do I kill a process?") score high on it: on its own
        // the model may flag one, and only a rule (or more signals) blocks it.
        if text.split_whitespace().nth(MODEL_BLOCK_MIN_WORDS - 1).is_none() {
            p = p.min(MODEL_SHORT_CAP);
        }
        // The model learnt from messages people type. Record data and
        // knowledge passages are full of instructions to patients ("take one
        // tablet by mouth daily") that read alike to it, so there it only
        // adds weight to a rule that fired and never flags on its own.
        if kind != InputKind::UserMessage {
            p = p.min(MODEL_DATA_CAP);
        }
        found.model = found.model.max(p);
    }
}

#[cfg(test)]
mod tests;
