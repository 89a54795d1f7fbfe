//! LOINC codes: terms `NNNNN-C` (1 to 7 digits, a hyphen and a mod 10 check
//! digit), and the format of part (`LP`), answer (`LA`) and answer-list
//! (`LL`) identifiers.

use std::fmt;

use crate::check_digit::luhn_is_valid;
use crate::error::CheckAlgorithm;
use crate::{CodeError, System};

/// What a LOINC identifier names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A term (`2345-7`, glucose in serum or plasma): check digit verified.
    Term,
    /// A part (`LP14082-9`): format only.
    Part,
    /// An answer (`LA6576-8`): format only.
    Answer,
    /// An answer list (`LL360-9`): format only.
    AnswerList,
}

/// A well-formed LOINC identifier, upper case.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Loinc {
    text: String,
    kind: Kind,
}

const EXPECTED_TERM: &str = "1 to 7 digits, a hyphen and a check digit (2345-7)";
const EXPECTED_ID: &str = "LP, LA or LL, 1 to 8 digits, a hyphen and a digit (LA6576-8)";

impl Loinc {
    /// Checks `input` (trimmed; `la`, `lp` and `ll` may be lower case).
    pub fn parse(input: &str) -> Result<Loinc, CodeError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(CodeError::Empty { system: System::Loinc });
        }
        let digits = |d: &str, max: usize| (1..=max).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit());
        let (body, check) = s.rsplit_once('-').unwrap_or((s, ""));
        let check_ok = check.len() == 1 && digits(check, 1);
        let prefix = body.get(..2).map(str::to_ascii_uppercase);
        let kind = match prefix.as_deref() {
            Some("LP") => Some(Kind::Part),
            Some("LA") => Some(Kind::Answer),
            Some("LL") => Some(Kind::AnswerList),
            _ => None,
        };
        if let Some(kind) = kind {
            let number = body.get(2..).unwrap_or_default();
            if !check_ok || !digits(number, 8) {
                return Err(CodeError::Malformed { system: System::Loinc, expected: EXPECTED_ID });
            }
            return Ok(Loinc { text: s.to_ascii_uppercase(), kind });
        }
        if !check_ok || !digits(body, 7) {
            return Err(CodeError::Malformed { system: System::Loinc, expected: EXPECTED_TERM });
        }
        if body.starts_with('0') {
            return Err(CodeError::LeadingZero { system: System::Loinc });
        }
        // LOINC's mod 10 (double the odd positions from the right, add the
        // digits, take the complement) is the Luhn algorithm.
        let mut all = String::with_capacity(8);
        all.push_str(body);
        all.push_str(check);
        if !luhn_is_valid(&all) {
            return Err(CodeError::CheckDigit { system: System::Loinc, algorithm: CheckAlgorithm::LoincMod10 });
        }
        Ok(Loinc { text: s.to_owned(), kind: Kind::Term })
    }

    /// The identifier, upper case (`2345-7`, `LA6576-8`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// What it names.
    pub fn kind(&self) -> Kind {
        self.kind
    }
}

impl fmt::Display for Loinc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms() {
        // Glucose, hemoglobin A1c, body weight, heart rate, the check-digit example of the LOINC manual.
        for s in ["2345-7", "4548-4", "29463-7", "8867-4", "12345-5", " 2345-7 ", "1-8"] {
            let l = Loinc::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(l.kind(), Kind::Term);
        }
        assert_eq!(
            Loinc::parse("2345-8"),
            Err(CodeError::CheckDigit { system: System::Loinc, algorithm: CheckAlgorithm::LoincMod10 })
        );
        assert_eq!(Loinc::parse("02345-7"), Err(CodeError::LeadingZero { system: System::Loinc }));
        for s in ["2345", "2345-", "2345-77", "-7", "12345678-1", "2345_7", "23a5-7", "2345-7-1", "LOINC"] {
            assert!(matches!(Loinc::parse(s), Err(CodeError::Malformed { .. })), "{s}");
        }
        assert_eq!(Loinc::parse(""), Err(CodeError::Empty { system: System::Loinc }));
    }

    #[test]
    fn parts_and_answers() {
        assert_eq!(Loinc::parse("LP14082-9").map(|l| l.kind()), Ok(Kind::Part));
        assert_eq!(Loinc::parse("la6576-8").map(|l| l.to_string()), Ok("LA6576-8".to_owned()));
        assert_eq!(Loinc::parse("LL360-9").map(|l| l.kind()), Ok(Kind::AnswerList));
        for s in ["LP", "LP-1", "LP123", "LA12x4-1", "LX1234-5", "LA123456789-1", "LA1234-12"] {
            assert!(matches!(Loinc::parse(s), Err(CodeError::Malformed { .. })), "{s}");
        }
    }
}
