//! The identifier types Haven detects and the spans it reports.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A HIPAA Safe Harbor identifier category that occurs in text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PhiType {
    /// Names of patients, relatives, clinicians and other people.
    Name,
    /// Street addresses, cities, counties, ZIP codes and facility names.
    Location,
    /// Any element of a date more specific than the year.
    Date,
    /// Ages over 89.
    Age,
    /// Telephone numbers.
    Phone,
    /// Fax numbers.
    Fax,
    /// Email addresses.
    Email,
    /// Social security numbers.
    Ssn,
    /// Medical record numbers.
    Mrn,
    /// Health plan beneficiary numbers.
    HealthPlanId,
    /// Account numbers, including payment card and IBAN numbers.
    Account,
    /// Certificate and licence numbers (driver's licence, DEA, NPI).
    License,
    /// Vehicle identifiers and serial numbers, including plates.
    VehicleId,
    /// Device identifiers and serial numbers.
    DeviceId,
    /// Web addresses.
    Url,
    /// IP addresses.
    Ip,
    /// Any other labelled unique identifying number or code.
    OtherId,
}

impl PhiType {
    /// Every type, in a fixed order (tables, reports).
    pub const ALL: [PhiType; 17] = [
        PhiType::Name,
        PhiType::Location,
        PhiType::Date,
        PhiType::Age,
        PhiType::Phone,
        PhiType::Fax,
        PhiType::Email,
        PhiType::Ssn,
        PhiType::Mrn,
        PhiType::HealthPlanId,
        PhiType::Account,
        PhiType::License,
        PhiType::VehicleId,
        PhiType::DeviceId,
        PhiType::Url,
        PhiType::Ip,
        PhiType::OtherId,
    ];

    /// The upper-case name used in JSON, policies and tags (`NAME`, `HEALTH_PLAN_ID`).
    pub fn as_str(self) -> &'static str {
        match self {
            PhiType::Name => "NAME",
            PhiType::Location => "LOCATION",
            PhiType::Date => "DATE",
            PhiType::Age => "AGE",
            PhiType::Phone => "PHONE",
            PhiType::Fax => "FAX",
            PhiType::Email => "EMAIL",
            PhiType::Ssn => "SSN",
            PhiType::Mrn => "MRN",
            PhiType::HealthPlanId => "HEALTH_PLAN_ID",
            PhiType::Account => "ACCOUNT",
            PhiType::License => "LICENSE",
            PhiType::VehicleId => "VEHICLE_ID",
            PhiType::DeviceId => "DEVICE_ID",
            PhiType::Url => "URL",
            PhiType::Ip => "IP",
            PhiType::OtherId => "OTHER_ID",
        }
    }
}

impl fmt::Display for PhiType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A type name that is not one of [`PhiType::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown PHI type {0:?}")]
pub struct UnknownPhiType(pub String);

impl FromStr for PhiType {
    type Err = UnknownPhiType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let up = s.trim().to_ascii_uppercase().replace('-', "_");
        PhiType::ALL.into_iter().find(|t| t.as_str() == up).ok_or_else(|| UnknownPhiType(s.chars().take(40).collect()))
    }
}

/// One detected identifier: a byte range of the input, its type, a
/// confidence in 0..=1 and the rule that fired.
///
/// `Debug` shows offsets only, never the text, so spans can be logged.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Span {
    /// Start byte offset (on a `char` boundary).
    pub start: usize,
    /// End byte offset, exclusive (on a `char` boundary).
    pub end: usize,
    /// The identifier category.
    pub kind: PhiType,
    /// Confidence in 0..=1.
    pub score: f32,
    /// The name of the rule that produced the span.
    pub rule: &'static str,
}

impl Span {
    /// The span's text in `input` (the string it was detected in).
    pub fn text<'a>(&self, input: &'a str) -> &'a str {
        input.get(self.start..self.end).unwrap_or("")
    }
}

/// A span with offsets in Unicode code points (Python string indices), as
/// the CLI and the API report them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CharSpan {
    /// Start code-point offset.
    pub start: usize,
    /// End code-point offset, exclusive.
    pub end: usize,
    /// The identifier category.
    #[serde(rename = "type")]
    pub kind: PhiType,
    /// Confidence in 0..=1 (absent in labelled data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    /// The rule that fired (only when asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// Converts byte-offset spans (sorted by start) of `text` to code-point spans,
/// adding `base` (the code points before `text` in a longer stream).
pub fn to_char_spans(text: &str, spans: &[Span], base: usize, with_rule: bool) -> Vec<CharSpan> {
    char_spans(text, spans, base, with_rule).collect()
}

/// [`to_char_spans`] one span at a time, for a writer that needs no vector.
pub fn char_spans<'a>(
    text: &'a str,
    spans: &'a [Span],
    base: usize,
    with_rule: bool,
) -> impl Iterator<Item = CharSpan> + 'a {
    let mut byte = 0usize;
    let mut chars = 0usize;
    // In ASCII text a byte is a code point: nothing to count.
    let ascii = text.is_ascii();
    let mut advance = move |to: usize| -> usize {
        if ascii {
            to
        } else if to >= byte {
            chars += text.get(byte..to).map_or(0, |s| s.chars().count());
            byte = to;
            chars
        } else {
            text.get(..to).map_or(0, |s| s.chars().count())
        }
    };
    spans.iter().map(move |s| {
        let start = advance(s.start);
        let end = advance(s.end);
        CharSpan {
            start: base + start,
            end: base + end,
            kind: s.kind,
            score: Some((s.score * 100.0).round() / 100.0),
            rule: with_rule.then(|| s.rule.to_string()),
        }
    })
}

impl CharSpan {
    /// Writes this span as the JSON object its `Serialize` gives, without
    /// going through serde: `haven deid detect` writes one per span found,
    /// and on short texts the general serializer was a tenth of the time.
    pub fn write_json<W: std::io::Write>(&self, out: &mut W) -> std::io::Result<()> {
        let mut num = itoa::Buffer::new();
        out.write_all(b"{\"start\":")?;
        out.write_all(num.format(self.start).as_bytes())?;
        out.write_all(b",\"end\":")?;
        out.write_all(num.format(self.end).as_bytes())?;
        out.write_all(b",\"type\":\"")?;
        out.write_all(self.kind.as_str().as_bytes())?;
        out.write_all(b"\"")?;
        if let Some(score) = self.score {
            out.write_all(b",\"score\":")?;
            match cents(score) {
                Some((c, n)) => out.write_all(c.get(..n).unwrap_or(b"0"))?,
                None => serde_json::to_writer(&mut *out, &score)?,
            }
        }
        if let Some(rule) = &self.rule {
            out.write_all(b",\"rule\":")?;
            serde_json::to_writer(&mut *out, rule)?;
        }
        out.write_all(b"}")
    }
}

/// A score that is a whole number of hundredths in 0..=1 (as
/// [`to_char_spans`] rounds them), as serde writes that `f32`: "0.95",
/// "0.8", "1.0".
fn cents(score: f32) -> Option<([u8; 4], usize)> {
    let c = (score * 100.0).round();
    if !(0.0..=100.0).contains(&c) || c / 100.0 != score || score.is_sign_negative() {
        return None;
    }
    let c = c as u8;
    Some(match c {
        100 => (*b"1.0 ", 3),
        _ if c.is_multiple_of(10) => ([b'0', b'.', b'0' + c / 10, b' '], 3),
        _ => ([b'0', b'.', b'0' + c / 10, b'0' + c % 10], 4),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_json_is_what_serde_writes() {
        let mut scores: Vec<Option<f32>> = (0..=100).map(|c| Some(c as f32 / 100.0)).collect();
        scores.extend([None, Some(0.333), Some(1.5), Some(-0.25), Some(-0.0), Some(f32::NAN)]);
        for (i, score) in scores.into_iter().enumerate() {
            for kind in PhiType::ALL {
                for rule in [None, Some("name_label".to_string()), Some("odd \"rule\"\n".to_string())] {
                    let span = CharSpan { start: i * 7, end: i * 7 + 123_456, kind, score, rule };
                    let mut ours = Vec::new();
                    span.write_json(&mut ours).unwrap();
                    let theirs = serde_json::to_vec(&span).unwrap();
                    assert_eq!(String::from_utf8(ours).unwrap(), String::from_utf8(theirs).unwrap());
                }
            }
        }
    }

    #[test]
    fn type_names_round_trip() {
        for t in PhiType::ALL {
            assert_eq!(t.as_str().parse::<PhiType>(), Ok(t));
            assert_eq!(serde_json::to_string(&t).ok(), Some(format!("\"{}\"", t.as_str())));
        }
        assert!("health-plan-id".parse::<PhiType>().is_ok());
        assert!("POTATO".parse::<PhiType>().is_err());
    }

    #[test]
    fn char_offsets_count_code_points() {
        let text = "Zoë Ünal";
        let spans = [Span { start: 5, end: text.len(), kind: PhiType::Name, score: 0.9, rule: "t" }];
        let c = to_char_spans(text, &spans, 10, false);
        assert_eq!((c[0].start, c[0].end), (14, 18));
    }
}
