//! ICD-10-CM: the April 2026 list (chapters, section ranges, categories and
//! codes) embedded at compile time, and lookups that tell a billable code
//! from a heading, a range, a chapter or a code that is not in the list.
//!
//! The list is kept as sorted text (`data/icd10cm-2026.txt`); on first use it
//! is packed into a sorted array of `u64` (each entry is at most 7 ASCII
//! bytes, stored big-endian and zero-padded, so integer order is text order)
//! and looked up by binary search, without allocating.

use std::fmt;
use std::sync::LazyLock;

use crate::{CodeError, System};

/// The release of the embedded list.
pub const RELEASE: &str = "April 2026";

/// The embedded list: one entry a line, sorted by byte value, no duplicates.
const DATA: &str = include_str!("../data/icd10cm-2026.txt");

/// The longest entry (`S0001XA`, `A00-A09`).
const MAX_LEN: usize = 7;

/// What the shape of the input says it is.
const EXPECTED: &str = "a letter and 2 characters, then up to 4 more after an optional dot (E11.9), \
                        a section range (E08-E13) or a chapter number";

/// The list, packed and sorted. Built once, on first use.
static TABLE: LazyLock<Box<[u64]>> = LazyLock::new(|| {
    let mut v: Vec<u64> = DATA.lines().filter_map(|l| pack(l.trim_end_matches('\r').as_bytes())).collect();
    // The file is sorted already; sorting again keeps lookups right even if
    // an edited file is not, and costs one linear pass when it is.
    v.sort_unstable();
    v.dedup();
    v.into_boxed_slice()
});

/// Packs up to 8 bytes big-endian, zero-padded, so `u64` order is byte order.
fn pack(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > MAX_LEN {
        return None;
    }
    let mut buf = [0u8; 8];
    buf[..s.len()].copy_from_slice(s);
    Some(u64::from_be_bytes(buf))
}

/// Builds the table now rather than on the first lookup (a few milliseconds).
pub fn preload() {
    LazyLock::force(&TABLE);
}

/// Number of entries in the embedded list.
pub fn len() -> usize {
    TABLE.len()
}

/// Every entry of the embedded list, in order, as written there (no dots).
pub fn entries() -> impl Iterator<Item = &'static str> {
    DATA.lines().map(|l| l.trim_end_matches('\r')).filter(|l| !l.is_empty())
}

/// A normalised ICD-10-CM entry name: upper case, no dot.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code {
    bytes: [u8; MAX_LEN],
    len: u8,
    shape: Shape,
}

/// The three shapes of names in the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Shape {
    Chapter,
    Range,
    Code,
}

impl Code {
    /// Normalises `input`: trims it, upper-cases it and removes one dot after
    /// the third character (`e11.9 ` becomes `E119`), then checks its shape.
    pub fn parse(input: &str) -> Result<Code, CodeError> {
        let malformed = || CodeError::Malformed { system: System::Icd10Cm, expected: EXPECTED };
        let s = input.trim().as_bytes();
        if s.is_empty() {
            return Err(CodeError::Empty { system: System::Icd10Cm });
        }
        let mut bytes = [0u8; MAX_LEN];
        let mut len = 0usize;
        for (i, &b) in s.iter().enumerate() {
            if b == b'.' && i == 3 && s.len() > 4 {
                continue;
            }
            if len == MAX_LEN || !(b.is_ascii_alphanumeric() || b == b'-') {
                return Err(malformed());
            }
            bytes[len] = b.to_ascii_uppercase();
            len += 1;
        }
        let name = &bytes[..len];
        let alnum = |r: &[u8]| r.iter().all(u8::is_ascii_alphanumeric);
        let category = |c: &[u8]| c.len() == 3 && c[0].is_ascii_uppercase() && alnum(&c[1..]);
        let dotted = s.len() != len;
        let shape = if !dotted && name.len() <= 2 && name.iter().all(u8::is_ascii_digit) {
            Shape::Chapter
        } else if !dotted && name.len() == 7 && name[3] == b'-' && category(&name[..3]) && category(&name[4..]) {
            Shape::Range
        } else if name.len() >= 3 && category(&name[..3]) && alnum(&name[3..]) {
            // The second character is a digit everywhere but in category QA0,
            // so it is only required to be alphanumeric; absent names are
            // reported as not in the list, not as malformed.
            Shape::Code
        } else {
            return Err(malformed());
        };
        // `len` is at most 7.
        Ok(Code { bytes, len: len as u8, shape })
    }

    /// The normalised name as in the list: `E119`, `E08-E13`, `4`.
    pub fn as_str(&self) -> &str {
        // Only ASCII bytes are ever stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }

    /// The name as usually written, with the dot after the third character of
    /// a code longer than a category (`E11.9`), as FHIR codings carry it.
    pub fn dotted(&self) -> String {
        let s = self.as_str();
        match s.split_at_checked(3) {
            Some((head, tail)) if self.shape == Shape::Code && !tail.is_empty() => format!("{head}.{tail}"),
            _ => s.to_owned(),
        }
    }

    fn packed(&self) -> Option<u64> {
        pack(&self.bytes[..usize::from(self.len)])
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.dotted())
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code({})", self.as_str())
    }
}

/// What an ICD-10-CM name is in the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A leaf: a code that can be billed (`E119`, `I10`).
    Billable,
    /// A category or subcategory with codes under it: not billable (`E11`, `E11.6`).
    Heading,
    /// A section: a range of categories (`E08-E13`).
    Range,
    /// A chapter number (`1` to `22`).
    Chapter,
    /// Well-formed but not in the list.
    Unknown,
}

/// The result of a lookup: the normalised name and what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    code: Code,
    kind: Kind,
}

impl Entry {
    /// The normalised name.
    pub fn code(&self) -> Code {
        self.code
    }

    /// What it is in the list.
    pub fn kind(&self) -> Kind {
        self.kind
    }
}

/// Looks `input` up (`E11.9`, `e119`, `E11.9 `, `E08-E13`, `4`).
///
/// Malformed input is an error; a well-formed name that is not in the list
/// is `Kind::Unknown`.
pub fn lookup(input: &str) -> Result<Entry, CodeError> {
    let code = Code::parse(input)?;
    Ok(Entry { code, kind: kind_of(&code) })
}

/// Where `code` is in the table, and what that makes it.
fn kind_of(code: &Code) -> Kind {
    let table = &**TABLE;
    let Some(key) = code.packed() else { return Kind::Unknown };
    let Ok(i) = table.binary_search(&key) else { return Kind::Unknown };
    match code.shape {
        Shape::Chapter => Kind::Chapter,
        Shape::Range => Kind::Range,
        Shape::Code => {
            // Children sort right after their parent, behind any range that
            // starts with it (`-` sorts before digits and letters).
            let name = &code.bytes[..usize::from(code.len)];
            let next = table[i + 1..]
                .iter()
                .map(|&k| k.to_be_bytes())
                .find(|b| !(b.starts_with(name) && b.get(name.len()) == Some(&b'-')));
            match next {
                Some(b) if b.starts_with(name) => Kind::Heading,
                _ => Kind::Billable,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Kind {
        lookup(s).map(|e| e.kind()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn normalises_case_space_and_one_dot() {
        for s in ["E11.9", "e119", "E11.9 ", " e11.9\t", "E119"] {
            let e = lookup(s).unwrap();
            assert_eq!(e.code().as_str(), "E119", "{s}");
            assert_eq!(e.code().to_string(), "E11.9");
            assert_eq!(e.kind(), Kind::Billable, "{s}");
        }
    }

    #[test]
    fn tells_kinds_apart() {
        assert_eq!(kind("I10"), Kind::Billable);
        assert_eq!(kind("A09"), Kind::Billable);
        assert_eq!(kind("U07.1"), Kind::Billable);
        assert_eq!(kind("S00.01XA"), Kind::Billable);
        assert_eq!(kind("E11"), Kind::Heading);
        assert_eq!(kind("E11.6"), Kind::Heading);
        assert_eq!(kind("S00.01"), Kind::Heading);
        assert_eq!(kind("A00"), Kind::Heading);
        assert_eq!(kind("B10"), Kind::Heading);
        assert_eq!(kind("QA0"), Kind::Heading);
        assert_eq!(kind("E08-E13"), Kind::Range);
        assert_eq!(kind("a00-a09"), Kind::Range);
        assert_eq!(kind("4"), Kind::Chapter);
        assert_eq!(kind("22"), Kind::Chapter);
        assert_eq!(kind("23"), Kind::Unknown);
        assert_eq!(kind("E11.95"), Kind::Unknown);
        assert_eq!(kind("E119X"), Kind::Unknown);
        assert_eq!(kind("A01-A03"), Kind::Unknown);
        assert_eq!(kind("E08E13"), Kind::Unknown);
        assert_eq!(kind("Z99.89"), Kind::Billable);
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "  ",
            "E",
            "E1",
            "1E11",
            "E11..9",
            "E1.19",
            "E11.",
            "E11.91234",
            "E11-9",
            "E11 9",
            "E11.9\u{e9}",
            "123",
            "E08-E1",
            "E08-E13.1",
            "E.119",
            "-E11",
        ] {
            assert!(lookup(s).is_err(), "{s:?}");
        }
        assert!(matches!(lookup(" "), Err(CodeError::Empty { .. })));
        assert!(matches!(lookup("E1"), Err(CodeError::Malformed { system: System::Icd10Cm, .. })));
    }

    #[test]
    fn shipped_list_is_sorted_unique_and_well_formed() {
        let lines: Vec<&str> = entries().collect();
        assert_eq!(lines.len(), 98_466);
        assert_eq!(len(), lines.len(), "every line packs");
        assert!(lines.windows(2).all(|w| w[0] < w[1]), "sorted by byte value, no duplicates");
        for l in &lines {
            let e = lookup(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            assert_eq!(e.code().as_str(), *l);
            assert_ne!(e.kind(), Kind::Unknown, "{l}");
        }
        let chapters = lines.iter().filter(|l| l.bytes().all(|b| b.is_ascii_digit())).count();
        assert_eq!(chapters, 22);
    }

    #[test]
    fn dotted_display() {
        assert_eq!(lookup("S0001XA").unwrap().code().dotted(), "S00.01XA");
        assert_eq!(lookup("E11").unwrap().code().dotted(), "E11");
        assert_eq!(lookup("E08-E13").unwrap().code().dotted(), "E08-E13");
        assert_eq!(lookup("7").unwrap().code().dotted(), "7");
    }
}
