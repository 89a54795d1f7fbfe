//! RxNorm concept unique identifiers (RXCUI), format only: 1 to 8 digits
//! with no leading zero.

use crate::{CodeError, System};

/// Checks the format of `input` (trimmed) and returns the RXCUI.
pub fn parse(input: &str) -> Result<u32, CodeError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(CodeError::Empty { system: System::RxNorm });
    }
    if s.len() > 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CodeError::Malformed { system: System::RxNorm, expected: "1 to 8 digits" });
    }
    if s.starts_with('0') {
        return Err(CodeError::LeadingZero { system: System::RxNorm });
    }
    s.parse().map_err(|_| CodeError::Malformed { system: System::RxNorm, expected: "1 to 8 digits" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples() {
        assert_eq!(parse("197361"), Ok(197_361));
        assert_eq!(parse(" 1 "), Ok(1));
        assert_eq!(parse("99999999"), Ok(99_999_999));
        assert_eq!(parse("0197361"), Err(CodeError::LeadingZero { system: System::RxNorm }));
        for s in ["123456789", "19736a", "-1", "+1", "1 2"] {
            assert!(matches!(parse(s), Err(CodeError::Malformed { .. })), "{s}");
        }
    }
}
