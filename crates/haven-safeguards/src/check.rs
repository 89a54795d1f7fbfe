//! The result every safeguard returns: a named verdict with a score and a
//! short reason, serialisable so the agent can return it as `safeguards`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// What the pipeline should do with a turn after one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Nothing found; carry on.
    Pass,
    /// Something suspicious: carry on with care (log it, answer conservatively, show a notice).
    Flag,
    /// Refuse or stop: the turn must not go ahead as it is.
    Block,
}

impl Verdict {
    /// The verdict's name as serialised: `pass`, `flag` or `block`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Flag => "flag",
            Verdict::Block => "block",
        }
    }

    /// True for `flag` and `block`.
    pub fn is_flag_or_block(self) -> bool {
        self != Verdict::Pass
    }
}

/// One check's outcome.
///
/// **Invariant:** `reason` never contains text from the checked input (which
/// may be PHI): only fixed phrases, rule or signal names and numbers. So a
/// `Check` may be logged and returned to any caller as it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// The check's stable name, for example `injection` or `triage`.
    pub name: Cow<'static, str>,
    /// The decision.
    pub verdict: Verdict,
    /// A score in `0..=1`; higher means more concerning (its meaning is the check's own).
    pub score: f32,
    /// A short explanation built from fixed phrases, never from user text.
    pub reason: Cow<'static, str>,
}

impl Check {
    /// A check with a fixed reason.
    pub fn new(name: &'static str, verdict: Verdict, score: f32, reason: impl Into<Cow<'static, str>>) -> Self {
        Check { name: Cow::Borrowed(name), verdict, score: clamp_score(score), reason: reason.into() }
    }

    /// A passing check with score 0.
    pub fn pass(name: &'static str, reason: &'static str) -> Self {
        Check::new(name, Verdict::Pass, 0.0, reason)
    }
}

/// The most severe verdict among `checks` (`pass` when empty).
pub fn worst_verdict<'a>(checks: impl IntoIterator<Item = &'a Check>) -> Verdict {
    checks.into_iter().map(|c| c.verdict).max().unwrap_or(Verdict::Pass)
}

/// Keeps a score inside `0..=1`; NaN becomes 0.
pub(crate) fn clamp_score(score: f32) -> f32 {
    if score.is_nan() { 0.0 } else { score.clamp(0.0, 1.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_the_agent_returns_it() {
        let c = Check::new("limits", Verdict::Block, 1.0, "input longer than the limit");
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"name":"limits","verdict":"block","score":1.0,"reason":"input longer than the limit"}"#);
        let back: Check = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn worst_verdict_orders_pass_flag_block() {
        let checks = [Check::pass("a", "ok"), Check::new("b", Verdict::Flag, 0.5, "x"), Check::pass("c", "ok")];
        assert_eq!(worst_verdict(&checks), Verdict::Flag);
        assert_eq!(worst_verdict(&[]), Verdict::Pass);
        assert_eq!(Check::new("n", Verdict::Pass, f32::NAN, "x").score, 0.0);
        assert_eq!(Check::new("n", Verdict::Pass, 7.0, "x").score, 1.0);
    }
}
