//! Haven's agent safeguards: separate, testable checks that every turn of the
//! healthcare agent passes through. Each returns a [`Check`] (a verdict, a
//! score and a reason that never quotes the input).
//!
//! - [`triage`]: red-flag symptoms that escalate at once (call 911, 988,
//!   Poison Control), and a disposition for a symptom description.
//! - [`injection`]: prompt-injection, jailbreak and abuse detection for user
//!   messages, retrieved passages and tool results.
//! - [`evidence`]: whether each sentence of a reply is supported by the
//!   source spans it cites.
//! - [`disclaimer`]: the disclaimer clinical content must carry.
//! - [`limits`]: input length limits.
//! - [`normalize`]: the text folding the injection check relies on.
//! - [`corpus`]: the labelled public corpora and their train/held-out split,
//!   for evaluation and training (parsers only; the caller reads the files).
//!
//! Everything here is a pure function of its input and of data embedded at
//! compile time: no file, network or clock access, no logging.

pub mod check;
pub mod corpus;
pub mod disclaimer;
pub mod evidence;
pub mod injection;
pub mod limits;
pub mod normalize;
pub mod triage;

pub use check::{Check, Verdict, worst_verdict};

use serde::{Deserialize, Serialize};

/// The input checks of one turn, in pipeline order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Screening {
    /// `limits`, then `triage` and `injection` (both skipped when the input is over the limits).
    pub checks: Vec<Check>,
    /// Set when triage found a red flag: answer with this first.
    pub escalation: Option<triage::Escalation>,
    /// The most severe verdict of `checks`.
    pub verdict: Verdict,
}

/// Runs the input checks on a user message: length limits, then triage
/// (before anything else reads the text), then injection and abuse detection.
pub fn screen_message(text: &str, limits: &limits::InputLimits) -> Screening {
    let mut checks = vec![limits::check_length(text, limits)];
    let mut escalation = None;
    if checks[0].verdict != Verdict::Block {
        let assessment = triage::assess(text);
        checks.push(assessment.check());
        escalation = assessment.escalation;
        checks.push(injection::scan(text, injection::InputKind::UserMessage).check());
    }
    let verdict = worst_verdict(&checks);
    Screening { checks, escalation, verdict }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screening_runs_limits_then_triage_then_injection() {
        let s = screen_message("I can't breathe", &limits::InputLimits::default());
        let names: Vec<&str> = s.checks.iter().map(|c| c.name.as_ref()).collect();
        assert_eq!(names, ["limits", "triage", "injection"]);
        assert!(s.escalation.is_some());
        assert_eq!(s.verdict, Verdict::Block);

        let tiny = limits::InputLimits { max_chars: 3, max_bytes: 3 };
        let s = screen_message("I can't breathe", &tiny);
        assert_eq!(s.checks.len(), 1);
        assert_eq!(s.verdict, Verdict::Block);

        let s = screen_message("When is my next appointment?", &limits::InputLimits::default());
        assert_eq!(s.verdict, Verdict::Pass);
        assert!(s.escalation.is_none());
    }
}
