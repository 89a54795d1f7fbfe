//! The disclaimer that clinical content must carry, as a configurable value,
//! and the check that a reply carries it.

use serde::{Deserialize, Serialize};

use crate::check::{Check, Verdict};
use crate::normalize::normalize;

/// Haven's default disclaimer.
pub const DEFAULT_DISCLAIMER: &str = "Haven is not a medical device and does not diagnose; in an emergency call 911.";

/// The disclaimer text an installation uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disclaimer {
    /// The text appended to clinical replies.
    pub text: String,
}

impl Default for Disclaimer {
    fn default() -> Self {
        Disclaimer { text: DEFAULT_DISCLAIMER.to_owned() }
    }
}

impl Disclaimer {
    /// A disclaimer with the given text.
    pub fn new(text: impl Into<String>) -> Self {
        Disclaimer { text: text.into() }
    }

    /// True when `reply` contains the disclaimer, compared without case,
    /// punctuation or spacing differences.
    pub fn is_carried_by(&self, reply: &str) -> bool {
        let want = letters_only(&self.text);
        !want.is_empty() && letters_only(reply).contains(&want)
    }

    /// `reply` with the disclaimer appended on its own paragraph, unless it already carries it.
    pub fn append_to(&self, reply: &str) -> String {
        if self.is_carried_by(reply) { reply.to_owned() } else { format!("{}\n\n{}", reply.trim_end(), self.text) }
    }

    /// Checks a reply, named `disclaimer`: `flag` when it has clinical content
    /// (see [`is_clinical`]) and lacks the disclaimer, else `pass`.
    pub fn check(&self, reply: &str) -> Check {
        if !is_clinical(reply) {
            Check::pass("disclaimer", "no clinical content")
        } else if self.is_carried_by(reply) {
            Check::pass("disclaimer", "clinical content carries the disclaimer")
        } else {
            Check::new("disclaimer", Verdict::Flag, 1.0, "clinical content without the disclaimer")
        }
    }
}

/// Words that make a text clinical even without a drug or condition name.
const CLINICAL_WORDS: &[&str] = &[
    "diagnosis",
    "diagnose",
    "diagnosed",
    "symptom",
    "symptoms",
    "treatment",
    "treat",
    "treated",
    "dose",
    "dosage",
    "doses",
    "medication",
    "medications",
    "medicine",
    "medicines",
    "prescription",
    "prescribed",
    "mg",
    "mcg",
    "side",
    "effects",
    "infection",
    "disease",
    "condition",
    "therapy",
    "surgery",
    "pain",
    "fever",
    "blood",
    "test",
    "results",
    "lab",
    "emergency",
    "911",
    "988",
];

/// True when `text` gives clinical content: a drug or condition name, or
/// words about symptoms, diagnosis, treatment, doses or results.
pub fn is_clinical(text: &str) -> bool {
    if crate::evidence::mentions_medical_term(text) {
        return true;
    }
    let folded = normalize(text).text;
    folded.split(|c: char| !c.is_alphanumeric()).any(|w| CLINICAL_WORDS.contains(&w))
}

fn letters_only(text: &str) -> String {
    normalize(text).text.chars().filter(|c| c.is_alphanumeric()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clinical_replies_need_the_disclaimer() {
        let d = Disclaimer::default();
        let reply = "Ibuprofen can upset the stomach; take it with food.";
        assert_eq!(d.check(reply).verdict, Verdict::Flag);
        let with = d.append_to(reply);
        assert!(with.ends_with(DEFAULT_DISCLAIMER));
        assert_eq!(d.check(&with).verdict, Verdict::Pass);
        assert_eq!(d.append_to(&with), with, "appended once");
        // Spacing and case do not matter.
        assert!(d.is_carried_by("... HAVEN is not a medical device, and does not diagnose. In an emergency: call 911"));
        assert_eq!(d.check("Your appointment is on Tuesday at 10.").verdict, Verdict::Pass);
        let own = Disclaimer::new("Ask your care team before acting on this.");
        assert!(own.is_carried_by("Take it daily. Ask your care team before acting on this."));
        assert!(!Disclaimer::new("").is_carried_by("anything"));
    }
}
