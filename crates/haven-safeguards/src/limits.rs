//! Input size limits: the first and cheapest check on a turn, so no other
//! check (or model) is handed an unbounded input.

use serde::{Deserialize, Serialize};

use crate::check::{Check, Verdict};

/// The largest input a turn may carry, counted two ways: characters (what a
/// person typed) and UTF-8 bytes (what it costs to store and scan).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputLimits {
    /// Most Unicode scalar values allowed.
    pub max_chars: usize,
    /// Most UTF-8 bytes allowed.
    pub max_bytes: usize,
}

impl Default for InputLimits {
    /// 16,000 characters and 64 KiB: far above a patient's message or a pasted
    /// letter, far below what would slow the other checks down.
    fn default() -> Self {
        InputLimits { max_chars: 16_000, max_bytes: 64 * 1024 }
    }
}

/// Checks `text` against `limits`: `block` when either limit is exceeded.
pub fn check_length(text: &str, limits: &InputLimits) -> Check {
    let bytes = text.len();
    if bytes > limits.max_bytes {
        return Check::new(
            "limits",
            Verdict::Block,
            1.0,
            format!("input is {bytes} bytes; the limit is {}", limits.max_bytes),
        );
    }
    // Bytes bound characters from above, so counting is needed only when the
    // byte length alone does not settle it.
    if bytes > limits.max_chars {
        let chars = text.chars().count();
        if chars > limits.max_chars {
            return Check::new(
                "limits",
                Verdict::Block,
                1.0,
                format!("input is {chars} characters; the limit is {}", limits.max_chars),
            );
        }
    }
    let used = bytes as f32 / limits.max_bytes.max(1) as f32;
    Check::new("limits", Verdict::Pass, used, "input within the length limits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_characters_and_bytes_separately() {
        let limits = InputLimits { max_chars: 5, max_bytes: 12 };
        assert_eq!(check_length("hello", &limits).verdict, Verdict::Pass);
        assert_eq!(check_length("hello!", &limits).verdict, Verdict::Block);
        // Four characters, twelve bytes: within both.
        assert_eq!(check_length("日本語!", &limits).verdict, Verdict::Pass);
        // Five characters, fifteen bytes: over the byte limit only.
        let c = check_length("日本語日本", &limits);
        assert_eq!(c.verdict, Verdict::Block);
        assert!(c.reason.contains("bytes"));
        assert!(!c.reason.contains('日'));
    }

    #[test]
    fn the_default_admits_a_long_message() {
        let text = "my chest hurts ".repeat(500);
        assert_eq!(check_length(&text, &InputLimits::default()).verdict, Verdict::Pass);
        let text = "x".repeat(70_000);
        assert_eq!(check_length(&text, &InputLimits::default()).verdict, Verdict::Block);
    }
}
