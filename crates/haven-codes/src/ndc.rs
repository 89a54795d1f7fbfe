//! National Drug Codes: the 10-digit layouts 4-4-2, 5-3-2 and 5-4-1 (with
//! hyphens, since without them the layout is unknowable) and the 11-digit
//! 5-4-2 form (hyphenated or bare), all normalised to 11 digits 5-4-2 by
//! left-padding the short segment with a zero, as HIPAA transactions do.

use std::fmt;

use crate::{CodeError, System};

/// How the code was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layout {
    /// 10 digits, labeler-product-package 4-4-2 (`0002-7597-01`).
    L442,
    /// 10 digits, 5-3-2.
    L532,
    /// 10 digits, 5-4-1.
    L541,
    /// 11 digits, 5-4-2, hyphenated or bare.
    L542,
}

/// A well-formed NDC in 11-digit 5-4-2 form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ndc {
    digits: [u8; 11],
    layout: Layout,
}

const EXPECTED: &str = "4-4-2, 5-3-2, 5-4-1 or 5-4-2 digits with hyphens, or 11 digits";

impl Ndc {
    /// Checks `input` (trimmed) and normalises it to 11 digits.
    pub fn parse(input: &str) -> Result<Ndc, CodeError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(CodeError::Empty { system: System::Ndc });
        }
        let malformed = CodeError::Malformed { system: System::Ndc, expected: EXPECTED };
        let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        let mut parts = s.split('-');
        let (a, b, c) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), Some(c), None) => (a, b, c),
            (Some(whole), None, None, None) => {
                return match whole.len() {
                    11 if all_digits(whole) => Ok(Ndc { digits: to_array(whole), layout: Layout::L542 }),
                    10 if all_digits(whole) => Err(CodeError::AmbiguousNdc),
                    _ => Err(malformed),
                };
            }
            _ => return Err(malformed),
        };
        if !(all_digits(a) && all_digits(b) && all_digits(c)) {
            return Err(malformed);
        }
        let layout = match (a.len(), b.len(), c.len()) {
            (4, 4, 2) => Layout::L442,
            (5, 3, 2) => Layout::L532,
            (5, 4, 1) => Layout::L541,
            (5, 4, 2) => Layout::L542,
            _ => return Err(malformed),
        };
        let mut eleven = String::with_capacity(11);
        for (part, width) in [(a, 5), (b, 4), (c, 2)] {
            for _ in part.len()..width {
                eleven.push('0');
            }
            eleven.push_str(part);
        }
        Ok(Ndc { digits: to_array(&eleven), layout })
    }

    /// The 11 digits, bare (`00002759701`).
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are stored.
        std::str::from_utf8(&self.digits).unwrap_or_default()
    }

    /// The 11 digits as 5-4-2 with hyphens (`00002-7597-01`).
    pub fn hyphenated(&self) -> String {
        let s = self.as_str();
        format!("{}-{}-{}", &s[..5], &s[5..9], &s[9..])
    }

    /// How the code was written.
    pub fn layout(&self) -> Layout {
        self.layout
    }
}

/// Copies 11 ASCII digits (checked by the caller) into an array.
fn to_array(s: &str) -> [u8; 11] {
    let mut a = [b'0'; 11];
    for (d, b) in a.iter_mut().zip(s.bytes()) {
        *d = b;
    }
    a
}

impl fmt::Display for Ndc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hyphenated())
    }
}

impl fmt::Debug for Ndc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ndc({:?})", self.layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eleven(s: &str) -> String {
        Ndc::parse(s).map(|n| n.as_str().to_owned()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn normalises_to_eleven_digits() {
        assert_eq!(eleven("0002-7597-01"), "00002759701");
        assert_eq!(eleven("50242-040-62"), "50242004062");
        assert_eq!(eleven("60575-4112-1"), "60575411201");
        assert_eq!(eleven("00002-7597-01"), "00002759701");
        assert_eq!(eleven(" 00002759701 "), "00002759701");
        assert_eq!(Ndc::parse("0002-7597-01").map(|n| n.layout()), Ok(Layout::L442));
        assert_eq!(Ndc::parse("0002-7597-01").map(|n| n.to_string()), Ok("00002-7597-01".to_owned()));
    }

    #[test]
    fn rejects() {
        assert_eq!(Ndc::parse("0002759701"), Err(CodeError::AmbiguousNdc));
        assert_eq!(Ndc::parse(" "), Err(CodeError::Empty { system: System::Ndc }));
        for s in [
            "0002-7597",
            "0002-7597-01-1",
            "000-7597-01",
            "0002-759-01",
            "00002-7597-001",
            "0002--01",
            "0002-75a7-01",
            "000027597011",
            "-0002-7597-01",
            "0002-7597-01-",
            "00002 7597 01",
        ] {
            assert!(matches!(Ndc::parse(s), Err(CodeError::Malformed { .. })), "{s}");
        }
    }
}
