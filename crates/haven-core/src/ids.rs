//! Resource types, resource ids and version ids, parsed once at the boundary.

use std::fmt;
use std::str::FromStr;

/// Why a string is not a valid type name, id or version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Not a resource type name.
    #[error("resource type must be 1-64 ASCII letters starting with an upper-case letter")]
    BadResourceType,
    /// Not a FHIR id.
    #[error("id must be 1-64 characters of A-Z, a-z, 0-9, '-' and '.'")]
    BadResourceId,
    /// Not a version number.
    #[error("version must be a whole number from 1")]
    BadVersion,
}

/// A resource type name such as `Patient` (FHIR: `[A-Z][A-Za-z]*`, at most 64).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ResourceType(String);

impl ResourceType {
    /// Parses a resource type name.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = (1..=64).contains(&s.len())
            && s.as_bytes()[0].is_ascii_uppercase()
            && s.bytes().all(|b| b.is_ascii_alphabetic());
        if ok { Ok(ResourceType(s.to_owned())) } else { Err(IdError::BadResourceType) }
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A logical resource id (FHIR `id`: `[A-Za-z0-9\-\.]{1,64}`).
///
/// Ids are not PHI: Haven assigns random ones, and imported ids are opaque.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ResourceId(String);

impl ResourceId {
    /// Parses a resource id.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if ok { Ok(ResourceId(s.to_owned())) } else { Err(IdError::BadResourceId) }
    }

    /// A fresh random id (UUID v4).
    pub fn random() -> Self {
        ResourceId(uuid::Uuid::new_v4().to_string())
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A version of a resource; the first version is 1.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct VersionId(u64);

impl VersionId {
    /// The first version of every resource.
    pub const FIRST: VersionId = VersionId(1);

    /// Builds a version from a number; 0 is not a version.
    pub fn new(n: u64) -> Result<Self, IdError> {
        if n == 0 || n > i64::MAX as u64 { Err(IdError::BadVersion) } else { Ok(VersionId(n)) }
    }

    /// Parses `"3"` or an ETag-style `W/"3"`.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let s = s.trim();
        let s = s.strip_prefix("W/").unwrap_or(s);
        let s = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(s);
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::BadVersion);
        }
        s.parse::<u64>().map_err(|_| IdError::BadVersion).and_then(Self::new)
    }

    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }

    /// The version after this one.
    pub fn next(self) -> VersionId {
        VersionId(self.0.saturating_add(1))
    }
}

macro_rules! string_like {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", self.0)
            }
        }
        impl FromStr for $t {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}
string_like!(ResourceType);
string_like!(ResourceId);

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_examples() {
        assert!(ResourceType::parse("Patient").is_ok());
        assert_eq!(ResourceType::parse("patient"), Err(IdError::BadResourceType));
        assert_eq!(ResourceType::parse(""), Err(IdError::BadResourceType));
        assert!(ResourceId::parse("a-1.B").is_ok());
        assert_eq!(ResourceId::parse("a/b"), Err(IdError::BadResourceId));
        assert_eq!(ResourceId::parse(&"x".repeat(65)), Err(IdError::BadResourceId));
        assert_eq!(VersionId::parse("W/\"3\"").map(VersionId::get), Ok(3));
        assert_eq!(VersionId::parse("\"0\""), Err(IdError::BadVersion));
        assert_eq!(VersionId::parse("-1"), Err(IdError::BadVersion));
        assert_eq!(VersionId::parse("99999999999999999999"), Err(IdError::BadVersion));
    }

    proptest! {
        #[test]
        fn parsers_never_panic_and_round_trip(s in "\\PC*") {
            if let Ok(t) = ResourceType::parse(&s) { prop_assert_eq!(t.as_str(), s.as_str()); }
            if let Ok(i) = ResourceId::parse(&s) { prop_assert_eq!(i.as_str(), s.as_str()); }
            let _ = VersionId::parse(&s);
        }

        #[test]
        fn versions_round_trip(n in 1u64..=i64::MAX as u64) {
            prop_assert_eq!(VersionId::parse(&n.to_string()).map(VersionId::get), Ok(n));
        }
    }
}
