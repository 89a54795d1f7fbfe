//! SNOMED CT identifiers (SCTIDs): 6 to 18 digits, no leading zero, a
//! Verhoeff check digit last, and before it the two-digit partition
//! identifier saying what the identifier names and whether it carries a
//! namespace (extension, "long format").

use std::fmt;

use crate::check_digit::verhoeff_is_valid;
use crate::error::CheckAlgorithm;
use crate::{CodeError, System};

/// What an SCTID identifies, from its partition identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Component {
    /// A concept (partitions 00 and 10).
    Concept,
    /// A description (01, 11).
    Description,
    /// A relationship (02, 12).
    Relationship,
    /// An RF1 subset (03, 13); retired with RF1.
    Subset,
    /// An RF1 cross-map set (04, 14); retired with RF1.
    CrossMapSet,
    /// An RF1 cross-map target (05, 15); retired with RF1.
    CrossMapTarget,
    /// A postcoordinated expression (16).
    Expression,
}

/// A partition identifier: the component type and the format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Partition {
    /// What the identifier identifies.
    pub component: Component,
    /// Long format: an extension identifier with a 7-digit namespace before the partition.
    pub extension: bool,
}

impl Partition {
    /// The partition for the two digits `nn`, or `None` if they are reserved.
    pub fn from_digits(nn: u8) -> Option<Partition> {
        let component = match nn % 10 {
            0 => Component::Concept,
            1 => Component::Description,
            2 => Component::Relationship,
            3 => Component::Subset,
            4 => Component::CrossMapSet,
            5 => Component::CrossMapTarget,
            6 if nn == 16 => Component::Expression,
            _ => return None,
        };
        match nn / 10 {
            0 => Some(Partition { component, extension: false }),
            1 => Some(Partition { component, extension: true }),
            _ => None,
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.component {
            Component::Concept => "concept",
            Component::Description => "description",
            Component::Relationship => "relationship",
            Component::Subset => "subset",
            Component::CrossMapSet => "cross-map set",
            Component::CrossMapTarget => "cross-map target",
            Component::Expression => "postcoordinated expression",
        };
        if self.extension { write!(f, "{what} (extension)") } else { f.write_str(what) }
    }
}

/// A valid SNOMED CT identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SctId(u64);

impl SctId {
    /// Checks `input` (trimmed): digits and length, leading zero, Verhoeff,
    /// partition, and room for a namespace in a long-format identifier.
    pub fn parse(input: &str) -> Result<SctId, CodeError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(CodeError::Empty { system: System::SnomedCt });
        }
        if !(6..=18).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CodeError::Malformed { system: System::SnomedCt, expected: "6 to 18 digits" });
        }
        if s.starts_with('0') {
            return Err(CodeError::LeadingZero { system: System::SnomedCt });
        }
        if !verhoeff_is_valid(s) {
            return Err(CodeError::CheckDigit { system: System::SnomedCt, algorithm: CheckAlgorithm::Verhoeff });
        }
        // 18 digits fit in a u64 (10^18 - 1 < 2^63).
        let value: u64 =
            s.parse().map_err(|_| CodeError::Malformed { system: System::SnomedCt, expected: "6 to 18 digits" })?;
        let id = SctId(value);
        let nn = id.partition_digits();
        let partition = Partition::from_digits(nn).ok_or(CodeError::ReservedPartition { partition: nn })?;
        // Long format: item (at least one digit), namespace (7), partition (2), check (1).
        if partition.extension && s.len() < 11 {
            return Err(CodeError::MissingNamespace);
        }
        Ok(id)
    }

    /// Like [`SctId::parse`], and the identifier must name a concept (partition 00 or 10).
    pub fn parse_concept(input: &str) -> Result<SctId, CodeError> {
        let id = SctId::parse(input)?;
        let partition = id.partition();
        if partition.component == Component::Concept { Ok(id) } else { Err(CodeError::NotAConcept { partition }) }
    }

    /// The identifier as a number.
    pub fn value(self) -> u64 {
        self.0
    }

    fn partition_digits(self) -> u8 {
        // Below 100, so the cast is lossless.
        ((self.0 / 10) % 100) as u8
    }

    /// The partition (always known: `parse` refuses reserved ones).
    pub fn partition(self) -> Partition {
        Partition::from_digits(self.partition_digits())
            .unwrap_or(Partition { component: Component::Concept, extension: false })
    }

    /// The 7-digit namespace of a long-format (extension) identifier.
    pub fn namespace(self) -> Option<u32> {
        // Below 10^7, so the cast is lossless.
        self.partition().extension.then_some(((self.0 / 1000) % 10_000_000) as u32)
    }
}

impl fmt::Display for SctId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_concepts() {
        // Myocardial infarction; type 2 diabetes; clinical finding; the root.
        for s in ["22298006", "44054006", "404684003", "138875005", " 22298006 "] {
            let id = SctId::parse_concept(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(id.partition(), Partition { component: Component::Concept, extension: false });
            assert_eq!(id.namespace(), None);
        }
        // A US extension concept: namespace 1000124, partition 10.
        let us = SctId::parse_concept("731000124108").unwrap();
        assert_eq!(us.namespace(), Some(1_000_124));
        assert!(us.partition().extension);
    }

    #[test]
    fn says_which_check_failed() {
        let err = |s: &str| SctId::parse_concept(s).unwrap_err();
        assert_eq!(
            err("22298007"),
            CodeError::CheckDigit { system: System::SnomedCt, algorithm: CheckAlgorithm::Verhoeff }
        );
        assert_eq!(err(""), CodeError::Empty { system: System::SnomedCt });
        assert!(matches!(err("12345"), CodeError::Malformed { .. }));
        assert!(matches!(err("1234567890123456789"), CodeError::Malformed { .. }));
        assert!(matches!(err("22298006x"), CodeError::Malformed { .. }));
        assert!(matches!(err("-22298006"), CodeError::Malformed { .. }));
        assert_eq!(err("022298006"), CodeError::LeadingZero { system: System::SnomedCt });
        // A description id of the international release (partition 01).
        let description = Partition { component: Component::Description, extension: false };
        assert_eq!(err("37436014"), CodeError::NotAConcept { partition: description });
        // A valid check digit on a reserved partition (20).
        let reserved = format!("100020{}", crate::check_digit::verhoeff_check_digit("100020").unwrap());
        assert_eq!(err(&reserved), CodeError::ReservedPartition { partition: 20 });
        // Partition 10 with only 9 digits: no room for a namespace.
        let short = format!("12345610{}", crate::check_digit::verhoeff_check_digit("12345610").unwrap());
        assert_eq!(err(&short), CodeError::MissingNamespace);
    }

    #[test]
    fn partitions() {
        assert_eq!(Partition::from_digits(16).map(|p| p.component), Some(Component::Expression));
        assert_eq!(Partition::from_digits(6), None);
        assert_eq!(Partition::from_digits(7), None);
        assert_eq!(Partition::from_digits(20), None);
        assert_eq!(Partition::from_digits(13).map(|p| (p.component, p.extension)), Some((Component::Subset, true)));
    }
}
