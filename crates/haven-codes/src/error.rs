//! `CodeError`: which check a code failed. Never carries the code itself.

use crate::System;
use crate::snomed::Partition;

/// Why a code is not valid in its system.
///
/// Errors name the system and the rule, never the input: a code next to a
/// patient is PHI, and these messages end up in logs and OperationOutcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeError {
    /// Nothing but whitespace.
    #[error("empty {system} code")]
    Empty {
        /// The system the code was checked against.
        system: System,
    },
    /// Wrong length, characters or layout for the system.
    #[error("malformed {system} code: expected {expected}")]
    Malformed {
        /// The system the code was checked against.
        system: System,
        /// The expected shape, in words.
        expected: &'static str,
    },
    /// A leading zero, which the system never issues.
    #[error("{system} code starts with a zero")]
    LeadingZero {
        /// The system the code was checked against.
        system: System,
    },
    /// The check digit does not match the rest of the code.
    #[error("{system} check digit does not match ({algorithm})")]
    CheckDigit {
        /// The system the code was checked against.
        system: System,
        /// The check-digit algorithm that failed.
        algorithm: CheckAlgorithm,
    },
    /// A well-formed SNOMED CT identifier whose partition is reserved.
    #[error("SNOMED CT partition identifier {partition:02} is reserved")]
    ReservedPartition {
        /// The two partition digits (second and third from the right).
        partition: u8,
    },
    /// A SNOMED CT extension identifier too short to hold its 7-digit namespace.
    #[error("SNOMED CT extension identifier too short to hold a namespace")]
    MissingNamespace,
    /// A valid SNOMED CT identifier of something other than a concept.
    #[error("SNOMED CT identifier is a {partition}, not a concept")]
    NotAConcept {
        /// What the identifier identifies.
        partition: Partition,
    },
    /// Ten digits without hyphens: the NDC layout (4-4-2, 5-3-2 or 5-4-1) is unknowable.
    #[error("NDC of ten digits without hyphens is ambiguous")]
    AmbiguousNdc,
    /// Well-formed, but not in the ICD-10-CM list Haven ships.
    #[error("not in the ICD-10-CM code list ({release})", release = crate::icd10cm::RELEASE)]
    NotInCodeList,
}

/// A check-digit algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CheckAlgorithm {
    /// Verhoeff (SNOMED CT).
    Verhoeff,
    /// Luhn over `80840` and the first nine digits (NPI).
    LuhnNpi,
    /// LOINC's mod 10 (the Luhn algorithm over the digits before the hyphen).
    LoincMod10,
    /// DEA: odd digits plus twice the even ones, last digit.
    Dea,
}

impl std::fmt::Display for CheckAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CheckAlgorithm::Verhoeff => "Verhoeff",
            CheckAlgorithm::LuhnNpi => "Luhn with prefix 80840",
            CheckAlgorithm::LoincMod10 => "LOINC mod 10",
            CheckAlgorithm::Dea => "DEA checksum",
        })
    }
}
