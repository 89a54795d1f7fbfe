//! National Provider Identifiers: 10 digits, the last a Luhn check digit
//! computed over the prefix `80840` and the first nine.

use std::fmt;

use crate::check_digit::npi_is_valid;
use crate::error::CheckAlgorithm;
use crate::{CodeError, System};

/// A valid NPI.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Npi([u8; 10]);

impl Npi {
    /// Checks `input` (trimmed): 10 digits and the check digit.
    pub fn parse(input: &str) -> Result<Npi, CodeError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(CodeError::Empty { system: System::Npi });
        }
        let bytes: [u8; 10] = s
            .as_bytes()
            .try_into()
            .ok()
            .filter(|b: &[u8; 10]| b.iter().all(u8::is_ascii_digit))
            .ok_or(CodeError::Malformed { system: System::Npi, expected: "10 digits" })?;
        if !npi_is_valid(s) {
            return Err(CodeError::CheckDigit { system: System::Npi, algorithm: CheckAlgorithm::LuhnNpi });
        }
        Ok(Npi(bytes))
    }

    /// The ten digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for Npi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifiers of providers are not PHI, but they are input: `Debug` shows
/// the type only, like the errors.
impl fmt::Debug for Npi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Npi(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples() {
        assert_eq!(Npi::parse(" 1234567893 ").map(|n| n.to_string()), Ok("1234567893".to_owned()));
        assert!(Npi::parse("1669512349").is_ok());
        assert_eq!(
            Npi::parse("1234567890"),
            Err(CodeError::CheckDigit { system: System::Npi, algorithm: CheckAlgorithm::LuhnNpi })
        );
        for s in ["123456789", "12345678930", "123456789a", "1234-56789", "１２３４５６７８９３"] {
            assert!(matches!(Npi::parse(s), Err(CodeError::Malformed { .. })), "{s}");
        }
        assert_eq!(Npi::parse("\t"), Err(CodeError::Empty { system: System::Npi }));
    }
}
