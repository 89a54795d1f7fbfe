//! FHIR date, dateTime and instant values, parsed with their precision.
//!
//! A FHIR date-like value stands for an interval: `2024` is the whole year,
//! `2024-03-05T10:00:00Z` one second. Search compares intervals, so the
//! parsed value keeps its precision and can give its interval.

use std::fmt;

/// Why a string is not a FHIR date, dateTime or instant. Carries no part of
/// the input: dates can be PHI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// Not of the right shape.
    #[error("not a valid FHIR {0} (expected {1})")]
    Format(&'static str, &'static str),
    /// A field is out of range (month 13, 31 February, hour 25...).
    #[error("not a valid FHIR {0}: a field is out of range")]
    Range(&'static str),
}

/// How much of a date-time is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Precision {
    /// `YYYY`
    Year,
    /// `YYYY-MM`
    Month,
    /// `YYYY-MM-DD`
    Day,
    /// `YYYY-MM-DDThh:mm` (search values only)
    Minute,
    /// `YYYY-MM-DDThh:mm:ss[.fff]`
    Second,
}

/// A parsed FHIR date/dateTime/instant. Dates without a time zone are read
/// as UTC (FHIR leaves them to the server's zone; Haven's is UTC).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PartialDateTime {
    /// Start of the interval, Unix seconds.
    start: i64,
    /// End of the interval (exclusive), Unix seconds.
    end: i64,
    precision: Precision,
}

impl fmt::Debug for PartialDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Dates of birth and of care are PHI.
        write!(f, "PartialDateTime({:?}, [REDACTED])", self.precision)
    }
}

fn digits(s: &str, n: usize) -> Option<u32> {
    if s.len() == n && s.bytes().all(|b| b.is_ascii_digit()) { s.parse().ok() } else { None }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Which lexical forms a parse accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Date,
    DateTime,
    Instant,
    /// Search values: a dateTime that may stop at minutes.
    Search,
}

impl Form {
    fn name(self) -> &'static str {
        match self {
            Form::Date => "date",
            Form::DateTime | Form::Search => "dateTime",
            Form::Instant => "instant",
        }
    }
    fn expected(self) -> &'static str {
        match self {
            Form::Date => "YYYY, YYYY-MM or YYYY-MM-DD",
            Form::DateTime | Form::Search => "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss with a time zone",
            Form::Instant => "YYYY-MM-DDThh:mm:ss[.fff] with a time zone",
        }
    }
}

impl PartialDateTime {
    /// Parses a FHIR `date`.
    pub fn parse_date(s: &str) -> Result<Self, DateError> {
        parse(s, Form::Date)
    }

    /// Parses a FHIR `dateTime`.
    pub fn parse_date_time(s: &str) -> Result<Self, DateError> {
        parse(s, Form::DateTime)
    }

    /// Parses a FHIR `instant`.
    pub fn parse_instant(s: &str) -> Result<Self, DateError> {
        parse(s, Form::Instant)
    }

    /// Parses a search value: a dateTime that may also stop at minutes.
    pub fn parse_search(s: &str) -> Result<Self, DateError> {
        parse(s, Form::Search)
    }

    /// The instant interval `[start, end)` in Unix seconds.
    pub fn range(&self) -> (i64, i64) {
        (self.start, self.end)
    }

    /// The precision given.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// A value covering exactly `[start, end)` (Unix seconds).
    pub fn from_range(start: i64, end: i64) -> Self {
        PartialDateTime { start, end: end.max(start + 1), precision: Precision::Second }
    }
}

fn parse(s: &str, form: Form) -> Result<PartialDateTime, DateError> {
    let bad = DateError::Format(form.name(), form.expected());
    let range = DateError::Range(form.name());
    let (date, rest) = match s.find('T') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let year = parts.next().and_then(|p| digits(p, 4)).ok_or(bad)?;
    let month = parts.next().map(|p| digits(p, 2).ok_or(bad)).transpose()?;
    let day = parts.next().map(|p| digits(p, 2).ok_or(bad)).transpose()?;
    if parts.next().is_some() || (day.is_some() && month.is_none()) {
        return Err(bad);
    }
    let year = i32::try_from(year).map_err(|_| bad)?;
    if let Some(m) = month
        && !(1..=12).contains(&m)
    {
        return Err(range);
    }
    if let (Some(m), Some(d)) = (month, day)
        && !(1..=days_in_month(year, m)).contains(&d)
    {
        return Err(range);
    }
    let Some(time) = rest else {
        if form == Form::Instant {
            return Err(bad);
        }
        let (start, end, precision) = match (month, day) {
            (None, _) => (days_from_civil(year, 1, 1), days_from_civil(year + 1, 1, 1), Precision::Year),
            (Some(m), None) => {
                let (ny, nm) = if m == 12 { (year + 1, 1) } else { (year, m + 1) };
                (days_from_civil(year, m, 1), days_from_civil(ny, nm, 1), Precision::Month)
            }
            (Some(m), Some(d)) => {
                let s = days_from_civil(year, m, d);
                (s, s + 1, Precision::Day)
            }
        };
        return Ok(PartialDateTime { start: start * 86_400, end: end * 86_400, precision });
    };
    if form == Form::Date {
        return Err(bad);
    }
    let (Some(m), Some(d)) = (month, day) else { return Err(bad) };
    // hh:mm[:ss[.f+]] followed by Z or ±hh:mm (required except in search values).
    let tz_at = time.find(['Z', '+', '-']).unwrap_or(time.len());
    let (clock, tz) = time.split_at(tz_at);
    let mut c = clock.split(':');
    let hour = c.next().and_then(|p| digits(p, 2)).ok_or(bad)?;
    let minute = c.next().and_then(|p| digits(p, 2)).ok_or(bad)?;
    let (second, precision) = match c.next() {
        Some(sec) => {
            let (whole, frac) = match sec.split_once('.') {
                Some((w, f)) => (w, Some(f)),
                None => (sec, None),
            };
            if let Some(f) = frac
                && (f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(bad);
            }
            (digits(whole, 2).ok_or(bad)?, Precision::Second)
        }
        None if form == Form::Search => (0, Precision::Minute),
        None => return Err(bad),
    };
    if c.next().is_some() {
        return Err(bad);
    }
    // FHIR allows 24:00:00 only as the end of a day; leap seconds as :60.
    if hour > 24 || minute > 59 || second > 60 || (hour == 24 && (minute, second) != (0, 0)) {
        return Err(range);
    }
    let offset = match tz {
        "Z" => 0,
        "" if form == Form::Search => 0,
        "" => return Err(bad),
        _ => {
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            let (h, mm) = tz[1..].split_once(':').ok_or(bad)?;
            let (h, mm) = (digits(h, 2).ok_or(bad)?, digits(mm, 2).ok_or(bad)?);
            if h > 14 || mm > 59 {
                return Err(range);
            }
            sign * i64::from(h * 3600 + mm * 60)
        }
    };
    let secs = days_from_civil(year, m, d) * 86_400 + i64::from(hour * 3600 + minute * 60 + second.min(59)) - offset;
    let len = if precision == Precision::Minute { 60 } else { 1 };
    Ok(PartialDateTime { start: secs, end: secs + len, precision })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_intervals() {
        let y = PartialDateTime::parse_date("2024").unwrap();
        assert_eq!(y.range(), (1_704_067_200, 1_735_689_600));
        let m = PartialDateTime::parse_date("2024-02").unwrap();
        assert_eq!(m.range().1 - m.range().0, 29 * 86_400);
        let d = PartialDateTime::parse_date("1970-01-02").unwrap();
        assert_eq!(d.range(), (86_400, 172_800));
    }

    #[test]
    fn date_times_need_a_zone_and_seconds() {
        let t = PartialDateTime::parse_date_time("2024-03-05T10:00:00+01:00").unwrap();
        assert_eq!(t.range().0, PartialDateTime::parse_date_time("2024-03-05T09:00:00Z").unwrap().range().0);
        assert!(PartialDateTime::parse_date_time("2024-03-05T10:00:00").is_err());
        assert!(PartialDateTime::parse_date_time("2024-03-05T10:00Z").is_err());
        assert!(PartialDateTime::parse_date_time("2024-03-05T10:00:00.123456Z").is_ok());
        assert!(PartialDateTime::parse_search("2024-03-05T10:00").is_ok());
        assert!(PartialDateTime::parse_instant("2024-03-05").is_err());
        assert!(PartialDateTime::parse_date("2024-03-05T10:00:00Z").is_err());
    }

    #[test]
    fn out_of_range_fields_are_rejected() {
        for bad in ["2023-02-29", "2024-13", "2024-00-10", "2024-04-31", "24", "2024-1-01", "2024--01", ""] {
            assert!(PartialDateTime::parse_date(bad).is_err(), "{bad}");
        }
        assert!(PartialDateTime::parse_date("2024-02-29").is_ok());
        assert!(PartialDateTime::parse_date_time("2024-03-05T25:00:00Z").is_err());
        assert!(PartialDateTime::parse_date_time("2024-03-05T10:00:00+15:00").is_err());
    }

    #[test]
    fn errors_do_not_echo_input() {
        let e = PartialDateTime::parse_date("1961-03-04x").unwrap_err().to_string();
        assert!(!e.contains("1961"), "{e}");
        let d = PartialDateTime::parse_date("1961-03-04").unwrap();
        assert!(!format!("{d:?}").contains("1961"));
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = PartialDateTime::parse_date(&s);
            let _ = PartialDateTime::parse_date_time(&s);
            let _ = PartialDateTime::parse_instant(&s);
            let _ = PartialDateTime::parse_search(&s);
        }

        #[test]
        fn valid_days_parse(y in 1i32..9999, m in 1u32..=12, d in 1u32..=28) {
            let s = format!("{y:04}-{m:02}-{d:02}");
            let p = PartialDateTime::parse_date(&s).unwrap();
            prop_assert_eq!(p.range().1 - p.range().0, 86_400);
        }
    }
}
