//! Check-digit algorithms (Luhn, Verhoeff, DEA) over ASCII digit strings,
//! both to verify a code and to compute the digit that completes one.
//!
//! Every function returns `false` or `None` for anything but ASCII digits,
//! so none of them can panic on input.

/// Digit values of `s`, or `None` if `s` is empty or holds anything but ASCII digits.
fn digits(s: &str) -> Option<impl DoubleEndedIterator<Item = u8> + Clone + '_> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.bytes().map(|b| b - b'0'))
}

/// Luhn sum of digits given from the right; `double_first` doubles the
/// rightmost one (true when computing a check digit that is not there yet).
fn luhn_sum(rev: impl Iterator<Item = u8>, double_first: bool) -> u32 {
    rev.enumerate()
        .map(|(i, d)| {
            let d = u32::from(d);
            if (i % 2 == 0) == double_first {
                let twice = d * 2;
                if twice > 9 { twice - 9 } else { twice }
            } else {
                d
            }
        })
        .sum()
}

/// The digit that closes a Luhn sum of `sum` (the sum of the payload with doubling).
fn luhn_closing(sum: u32) -> u8 {
    // (10 - sum % 10) % 10 is below 10, so the cast is lossless.
    ((10 - sum % 10) % 10) as u8
}

/// True if `digits` (check digit last) passes the Luhn algorithm.
pub fn luhn_is_valid(digits_with_check: &str) -> bool {
    digits(digits_with_check).is_some_and(|d| luhn_sum(d.rev(), false) % 10 == 0)
}

/// The Luhn check digit to append to `payload`.
pub fn luhn_check_digit(payload: &str) -> Option<u8> {
    digits(payload).map(|d| luhn_closing(luhn_sum(d.rev(), true)))
}

/// The digits `8 0 8 4 0` that NPI check digits are computed over (ISO 7812
/// issuer prefix for US health, from the NPI final rule).
const NPI_PREFIX: &str = "80840";

/// True if the 10-digit `npi` passes Luhn over `80840` followed by it.
pub fn npi_is_valid(npi: &str) -> bool {
    match (digits(NPI_PREFIX), digits(npi)) {
        (Some(p), Some(n)) if npi.len() == 10 => luhn_sum(p.chain(n).rev(), false) % 10 == 0,
        _ => false,
    }
}

/// The NPI check digit for its first nine digits.
pub fn npi_check_digit(first_nine: &str) -> Option<u8> {
    match (digits(NPI_PREFIX), digits(first_nine)) {
        (Some(p), Some(n)) if first_nine.len() == 9 => Some(luhn_closing(luhn_sum(p.chain(n).rev(), true))),
        _ => None,
    }
}

/// Verhoeff's multiplication table (the dihedral group D5).
const VERHOEFF_D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];

/// Verhoeff's position permutations, applied by position modulo 8.
const VERHOEFF_P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

/// Inverses in D5.
const VERHOEFF_INV: [u8; 10] = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9];

/// Verhoeff's running check over digits from the right, the first at position `start`.
fn verhoeff_fold(rev: impl Iterator<Item = u8>, start: usize) -> u8 {
    rev.enumerate().fold(0u8, |c, (i, d)| {
        let permuted = VERHOEFF_P[(i + start) % 8][usize::from(d % 10)];
        VERHOEFF_D[usize::from(c % 10)][usize::from(permuted % 10)]
    })
}

/// True if `digits` (check digit last) passes the Verhoeff algorithm.
pub fn verhoeff_is_valid(digits_with_check: &str) -> bool {
    digits(digits_with_check).is_some_and(|d| verhoeff_fold(d.rev(), 0) == 0)
}

/// The Verhoeff check digit to append to `payload`.
pub fn verhoeff_check_digit(payload: &str) -> Option<u8> {
    digits(payload).map(|d| VERHOEFF_INV[usize::from(verhoeff_fold(d.rev(), 1) % 10)])
}

/// The DEA check digit for the six digits before it: the last digit of
/// (1st + 3rd + 5th) + 2 × (2nd + 4th + 6th).
pub fn dea_check_digit(six: &str) -> Option<u8> {
    let d = digits(six)?;
    if six.len() != 6 {
        return None;
    }
    let sum: u32 = d.enumerate().map(|(i, v)| u32::from(v) * if i % 2 == 0 { 1 } else { 2 }).sum();
    // A remainder modulo 10 fits in a u8.
    Some((sum % 10) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_examples() {
        assert!(luhn_is_valid("79927398713"));
        assert!(!luhn_is_valid("79927398710"));
        assert_eq!(luhn_check_digit("7992739871"), Some(3));
        assert_eq!(luhn_check_digit("2345"), Some(7));
        assert!(!luhn_is_valid(""));
        assert!(!luhn_is_valid("12a4"));
        assert_eq!(luhn_check_digit(""), None);
    }

    #[test]
    fn npi_examples() {
        // The worked example of the CMS NPI check-digit document.
        assert!(npi_is_valid("1234567893"));
        assert_eq!(npi_check_digit("123456789"), Some(3));
        assert!(!npi_is_valid("1234567890"));
        assert!(!npi_is_valid("123456789"));
        assert_eq!(npi_check_digit("12345678"), None);
    }

    #[test]
    fn verhoeff_examples() {
        assert_eq!(verhoeff_check_digit("236"), Some(3));
        assert!(verhoeff_is_valid("2363"));
        assert!(verhoeff_is_valid("22298006"));
        assert!(!verhoeff_is_valid("22298007"));
        assert_eq!(verhoeff_check_digit("4405400"), Some(6));
        assert!(!verhoeff_is_valid("x"));
    }

    #[test]
    fn dea_examples() {
        // 1 + 3 + 5 = 9; 2 × (2 + 4 + 6) = 24; 33 → 3.
        assert_eq!(dea_check_digit("123456"), Some(3));
        assert_eq!(dea_check_digit("12345"), None);
        assert_eq!(dea_check_digit("12345x"), None);
    }
}
