//! DEA registration numbers: a registrant-type letter, a second letter (the
//! registrant's initial, or `9`), six digits and a check digit, the last
//! digit of (1st + 3rd + 5th) + 2 × (2nd + 4th + 6th).

use std::fmt;

use crate::check_digit::dea_check_digit;
use crate::error::CheckAlgorithm;
use crate::{CodeError, System};

/// A valid DEA registration number, upper case.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dea([u8; 9]);

impl Dea {
    /// Checks `input` (trimmed; letters may be lower case).
    pub fn parse(input: &str) -> Result<Dea, CodeError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(CodeError::Empty { system: System::Dea });
        }
        let malformed =
            CodeError::Malformed { system: System::Dea, expected: "2 letters (or a letter and 9) and 7 digits" };
        let mut b: [u8; 9] = s.as_bytes().try_into().map_err(|_| malformed)?;
        b[..2].make_ascii_uppercase();
        let shape = b[0].is_ascii_uppercase()
            && (b[1].is_ascii_uppercase() || b[1] == b'9')
            && b[2..].iter().all(u8::is_ascii_digit);
        if !shape {
            return Err(malformed);
        }
        let six = std::str::from_utf8(&b[2..8]).unwrap_or_default();
        if dea_check_digit(six) != Some(b[8] - b'0') {
            return Err(CodeError::CheckDigit { system: System::Dea, algorithm: CheckAlgorithm::Dea });
        }
        Ok(Dea(b))
    }

    /// The number, upper case.
    pub fn as_str(&self) -> &str {
        // Only ASCII is stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for Dea {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Debug` shows the type only, like the errors.
impl fmt::Debug for Dea {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Dea(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples() {
        // Built by the rule: 1+3+5 = 9, 2×(2+4+6) = 24, 33 → 3.
        assert_eq!(Dea::parse("AB1234563").map(|d| d.to_string()), Ok("AB1234563".to_owned()));
        assert_eq!(Dea::parse(" fj1234563").map(|d| d.to_string()), Ok("FJ1234563".to_owned()));
        // Business registrant: 9 as second character. 7+5+3 = 15, 2×(6+4+2) = 24, 39 → 9.
        assert!(Dea::parse("M97654329").is_ok());
        // The PDMP implementation guide's example.
        assert!(Dea::parse("CF1234563").is_ok());
        assert_eq!(
            Dea::parse("AB1234564"),
            Err(CodeError::CheckDigit { system: System::Dea, algorithm: CheckAlgorithm::Dea })
        );
        for s in ["AB123456", "AB12345634", "A11234563", "1B1234563", "AB12345X3", "ÄB123456"] {
            assert!(matches!(Dea::parse(s), Err(CodeError::Malformed { .. })), "{s}");
        }
    }
}
