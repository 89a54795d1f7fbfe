//! A check against a shipped list of common and breached passwords (NIST SP 800-63B §5.1.1.2 asks verifiers to
//! refuse these).
//!
//! Source: `src/passwords.json` of the npm package `@zxcvbn-ts/language-common` 4.1.3 (MIT licence, zxcvbn-ts
//! and Dropbox; see `data/COMMON-PASSWORDS-LICENSE`), a frequency-ranked list of leaked passwords. Shipped as
//! `data/common-passwords.txt`: 49,233 entries, lower-cased, trimmed, de-duplicated and sorted, one per line.
//! The list is compiled in so the check works offline and never sends a password anywhere.

use std::sync::OnceLock;

/// The shipped list, one password per line.
const LIST: &str = include_str!("../data/common-passwords.txt");

/// The list as a sorted slice, built on first use.
fn list() -> &'static [&'static str] {
    static SORTED: OnceLock<Vec<&'static str>> = OnceLock::new();
    SORTED.get_or_init(|| {
        let mut v: Vec<&'static str> = LIST.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        // The file is already sorted; sorting again keeps binary search correct if someone edits it by hand.
        v.sort_unstable();
        v.dedup();
        v
    })
}

/// Whether `password` is on the shipped list of common/breached passwords (case-insensitive).
pub fn is_common(password: &str) -> bool {
    // Surrounding whitespace is trimmed like the list's entries, so " password " is caught too.
    let lowered = haven_core::Secret::new(password.trim().to_lowercase());
    list().binary_search(&lowered.expose().as_str()).is_ok()
}

/// How many passwords the shipped list holds.
pub fn count() -> usize {
    list().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_passwords_are_common() {
        for p in ["password", "123456", "qwerty", "letmein", "iloveyou"] {
            assert!(is_common(p), "{p}");
        }
    }

    #[test]
    fn check_is_case_insensitive() {
        assert!(is_common("PASSWORD"));
        assert!(is_common("QwErTy"));
        assert!(is_common("  Password "));
    }

    #[test]
    fn random_strings_are_not_common() {
        assert!(!is_common("vT9#qLx2!mZp8@rKw4$e"));
        let token = crate::random_token(15).unwrap_or_default();
        assert_eq!(token.len(), 20);
        assert!(!is_common(&token));
        assert!(!is_common(""));
    }

    #[test]
    fn list_is_sizeable_sorted_and_normalised() {
        assert!((10_000..=100_000).contains(&count()), "{}", count());
        assert!(LIST.len() <= 1024 * 1024);
        let lines: Vec<&str> = LIST.lines().collect();
        assert_eq!(lines.len(), count(), "the file holds no blanks or duplicates");
        assert!(lines.windows(2).all(|w| w[0] < w[1]), "the file is sorted and unique");
        assert!(lines.iter().all(|l| *l == l.trim() && *l == l.to_lowercase()));
    }
}
