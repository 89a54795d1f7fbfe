//! CPT codes, format only (the code set is licensed by the AMA and not
//! shipped): 5 digits (Category I), or 4 digits and `F` (Category II,
//! performance measures) or `T` (Category III, emerging technology).

use crate::{CodeError, System};

/// The CPT category a well-formed code belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// Five digits (`99213`).
    I,
    /// Four digits and `F` (`3074F`).
    II,
    /// Four digits and `T` (`0042T`).
    III,
}

/// Checks the format of `input` (trimmed; `f`/`t` may be lower case) and
/// returns the code upper-cased with its category.
pub fn parse(input: &str) -> Result<(String, Category), CodeError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(CodeError::Empty { system: System::Cpt });
    }
    let b = s.as_bytes();
    let malformed = CodeError::Malformed { system: System::Cpt, expected: "5 digits, or 4 digits and F or T" };
    if b.len() != 5 || !b[..4].iter().all(u8::is_ascii_digit) {
        return Err(malformed);
    }
    let category = match b[4].to_ascii_uppercase() {
        b'0'..=b'9' => Category::I,
        b'F' => Category::II,
        b'T' => Category::III,
        _ => return Err(malformed),
    };
    Ok((s.to_ascii_uppercase(), category))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples() {
        assert_eq!(parse("99213"), Ok(("99213".to_owned(), Category::I)));
        assert_eq!(parse("3074f "), Ok(("3074F".to_owned(), Category::II)));
        assert_eq!(parse("0042T"), Ok(("0042T".to_owned(), Category::III)));
        for s in ["9921", "992130", "9921A", "A9921", "99-13", "F3074", "9921é"] {
            assert!(matches!(parse(s), Err(CodeError::Malformed { .. })), "{s}");
        }
        assert_eq!(parse(""), Err(CodeError::Empty { system: System::Cpt }));
    }
}
