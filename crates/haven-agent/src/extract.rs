//! Extractors: turn a user's reply into the value a scenario step expects
//! (a yes or no, a choice from a list, a date range, one of some names).
//! Pure functions of the text, today's date and the options on offer.

use serde_json::{Value, json};
use time::{Date, Duration, Month, Weekday};

/// What a step expects, as written in a scenario (`expect: date_range`,
/// `expect: choice(slots)`, `expect: one_of(specialties)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Any non-empty text.
    Text,
    /// Yes or no.
    YesNo,
    /// A date or a range of dates ("tomorrow", "next week", "Dec 5", "any time").
    DateRange,
    /// One item of the list in a variable, by number, ordinal or label words.
    Choice(String),
    /// One of the strings in a variable's list, named in the text.
    OneOf(String),
}

impl Expect {
    /// Parses the scenario notation.
    pub fn parse(s: &str) -> Option<Expect> {
        let s = s.trim();
        if let Some(var) = s.strip_prefix("choice(").and_then(|r| r.strip_suffix(')')) {
            return valid_var(var).then(|| Expect::Choice(var.trim().to_string()));
        }
        if let Some(var) = s.strip_prefix("one_of(").and_then(|r| r.strip_suffix(')')) {
            return valid_var(var).then(|| Expect::OneOf(var.trim().to_string()));
        }
        Some(match s {
            "text" => Expect::Text,
            "yes_no" => Expect::YesNo,
            "date_range" => Expect::DateRange,
            _ => return None,
        })
    }

    /// The variable holding the options, for choices.
    pub fn options_var(&self) -> Option<&str> {
        match self {
            Expect::Choice(v) | Expect::OneOf(v) => Some(v),
            _ => None,
        }
    }
}

/// Whether `s` is a variable name: `[a-z_][a-z0-9_]*`.
pub fn valid_var(s: &str) -> bool {
    let s = s.trim();
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Extracts the expected value from `text`; None if the text does not say.
/// `options` is the value of the options variable for choices.
pub fn extract(expect: &Expect, text: &str, today: Date, options: Option<&Value>) -> Option<Value> {
    let lower = text.to_lowercase();
    match expect {
        Expect::Text => (!text.trim().is_empty()).then(|| Value::String(text.trim().to_string())),
        Expect::YesNo => yes_no(&lower).map(Value::Bool),
        Expect::DateRange => date_range(&lower, today),
        Expect::Choice(_) => choice(&lower, options?.as_array()?),
        Expect::OneOf(_) => one_of(&lower, options?.as_array()?),
    }
}

fn words(lower: &str) -> Vec<&str> {
    lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect()
}

fn yes_no(lower: &str) -> Option<bool> {
    let w = words(lower);
    let has = |set: &[&str]| w.iter().any(|x| set.contains(x));
    let no = has(&["no", "nope", "nah", "don't", "dont", "not", "stop"]);
    let yes = has(&["yes", "yeah", "yep", "sure", "ok", "okay", "confirm", "please", "correct", "book", "y"]);
    match (yes, no) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
}

const ORDINALS: &[&str] =
    &["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"];

fn choice(lower: &str, options: &[Value]) -> Option<Value> {
    if options.is_empty() {
        return None;
    }
    let w = words(lower);
    // A number on its own ("2", "number 2", "#2", "option 2").
    for word in &w {
        if let Ok(n) = word.parse::<usize>()
            && (1..=options.len()).contains(&n)
            && w.len() <= 3
        {
            return options.get(n - 1).cloned();
        }
    }
    if let Some(i) = w.iter().find_map(|x| ORDINALS.iter().position(|o| o == x)) {
        return options.get(i).cloned();
    }
    if w.contains(&"last") {
        return options.last().cloned();
    }
    // Otherwise the option whose label shares the most words with the reply.
    let mut best: Option<(usize, &Value)> = None;
    for o in options {
        let label = o.get("label").and_then(Value::as_str).or_else(|| o.as_str()).unwrap_or_default().to_lowercase();
        let lw = words(&label);
        let shared = w.iter().filter(|x| x.len() > 1 && lw.contains(x)).count();
        if shared > 0 && best.is_none_or(|(b, _)| shared > b) {
            best = Some((shared, o));
        }
    }
    best.map(|(_, o)| o.clone())
}

fn one_of(lower: &str, options: &[Value]) -> Option<Value> {
    // The longest option named in the text wins ("pediatric cardiology" over "cardiology").
    options
        .iter()
        .filter_map(|o| o.as_str().map(|s| (s, s.to_lowercase())))
        .filter(|(_, l)| !l.is_empty() && contains_phrase(lower, l))
        .max_by_key(|(_, l)| l.len())
        .map(|(s, _)| Value::String(s.to_string()))
}

/// `phrase` occurs in `text` between word boundaries.
fn contains_phrase(text: &str, phrase: &str) -> bool {
    text.match_indices(phrase).any(|(i, m)| {
        let before = text[..i].chars().next_back();
        let after = text[i + m.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

fn range(from: Date, to: Date, label: &str) -> Value {
    json!({ "from": from.to_string(), "to": to.to_string(), "label": label })
}

/// Dates as people write them in a chat.
fn date_range(lower: &str, today: Date) -> Option<Value> {
    let w = words(lower);
    let has = |x: &str| w.contains(&x);
    if contains_phrase(lower, "any time") || contains_phrase(lower, "anytime") || has("whenever") || has("asap") {
        return Some(range(today, today + Duration::days(13), "in the next two weeks"));
    }
    if has("today") {
        return Some(range(today, today, "today"));
    }
    if has("tomorrow") {
        let d = today + Duration::days(1);
        return Some(range(d, d, "tomorrow"));
    }
    if contains_phrase(lower, "next week") {
        let monday = today + Duration::days(7 - i64::from(today.weekday().number_days_from_monday()));
        return Some(range(monday, monday + Duration::days(6), "next week"));
    }
    if contains_phrase(lower, "this week") {
        let sunday = today + Duration::days(6 - i64::from(today.weekday().number_days_from_monday()));
        return Some(range(today, sunday, "this week"));
    }
    if let Some(d) = explicit_date(&w, today) {
        return Some(range(d, d, &format!("on {}", d)));
    }
    // Full names, and the abbreviations that are not also common words.
    const DAYS: [(&str, &[&str], Weekday); 7] = [
        ("monday", &["mon"], Weekday::Monday),
        ("tuesday", &["tue", "tues"], Weekday::Tuesday),
        ("wednesday", &["wed"], Weekday::Wednesday),
        ("thursday", &["thu", "thur", "thurs"], Weekday::Thursday),
        ("friday", &["fri"], Weekday::Friday),
        ("saturday", &[], Weekday::Saturday),
        ("sunday", &[], Weekday::Sunday),
    ];
    for (name, short, day) in DAYS {
        if w.iter().any(|x| *x == name || short.contains(x)) {
            // The next such day after today ("on Friday" said on a Friday means next week's).
            let mut d = today + Duration::days(1);
            while d.weekday() != day {
                d += Duration::days(1);
            }
            return Some(range(d, d, &format!("on {}", capitalise(name))));
        }
    }
    None
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

const MONTHS: [(&str, Month); 12] = [
    ("jan", Month::January),
    ("feb", Month::February),
    ("mar", Month::March),
    ("apr", Month::April),
    ("may", Month::May),
    ("jun", Month::June),
    ("jul", Month::July),
    ("aug", Month::August),
    ("sep", Month::September),
    ("oct", Month::October),
    ("nov", Month::November),
    ("dec", Month::December),
];

/// "2026-12-05", "12/5", "Dec 5", "5 December", "the 5th": the next such
/// date on or after today.
fn explicit_date(w: &[&str], today: Date) -> Option<Date> {
    // ISO: the words split "2026-12-05" into three numbers.
    for win in w.windows(3) {
        if let (Ok(y), Ok(m), Ok(d)) = (win[0].parse::<i32>(), win[1].parse::<u8>(), win[2].parse::<u8>())
            && win[0].len() == 4
            && let Ok(month) = Month::try_from(m)
            && let Ok(date) = Date::from_calendar_date(y, month, d)
        {
            return Some(date);
        }
    }
    let month_of = |x: &str| MONTHS.iter().find(|(m, _)| x.len() >= 3 && x.starts_with(m)).map(|(_, m)| *m);
    let day_of = |x: &str| {
        let digits: String = x.chars().take_while(char::is_ascii_digit).collect();
        let rest = &x[digits.len()..];
        (["", "st", "nd", "rd", "th"].contains(&rest)).then(|| digits.parse::<u8>().ok()).flatten()
    };
    let next = |month: Month, day: u8| -> Option<Date> {
        let this = Date::from_calendar_date(today.year(), month, day).ok()?;
        if this >= today { Some(this) } else { Date::from_calendar_date(today.year() + 1, month, day).ok() }
    };
    for win in w.windows(2) {
        if let (Some(m), Some(d)) = (month_of(win[0]), day_of(win[1])) {
            return next(m, d);
        }
        if let (Some(d), Some(m)) = (day_of(win[0]), month_of(win[1])) {
            return next(m, d);
        }
    }
    for win in w.windows(3) {
        if win[1] == "of"
            && let (Some(d), Some(m)) = (day_of(win[0]), month_of(win[2]))
        {
            return next(m, d);
        }
    }
    // US numeric month/day: "12/5" splits into two numbers.
    for win in w.windows(2) {
        if let (Ok(m), Ok(d)) = (win[0].parse::<u8>(), win[1].parse::<u8>())
            && let Ok(month) = Month::try_from(m)
        {
            return next(month, d);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use time::macros::date;

    // A Wednesday.
    const TODAY: Date = date!(2026 - 12 - 02);

    fn dr(text: &str) -> Option<(String, String)> {
        extract(&Expect::DateRange, text, TODAY, None)
            .map(|v| (v["from"].as_str().unwrap().to_string(), v["to"].as_str().unwrap().to_string()))
    }

    #[test]
    fn dates_people_write() {
        let pair = |a: &str, b: &str| Some((a.to_string(), b.to_string()));
        assert_eq!(dr("tomorrow please"), pair("2026-12-03", "2026-12-03"));
        assert_eq!(dr("sometime next week"), pair("2026-12-07", "2026-12-13"));
        assert_eq!(dr("this week"), pair("2026-12-02", "2026-12-06"));
        assert_eq!(dr("on Friday"), pair("2026-12-04", "2026-12-04"));
        assert_eq!(dr("Dec 10"), pair("2026-12-10", "2026-12-10"));
        assert_eq!(dr("the 3rd of January"), pair("2027-01-03", "2027-01-03"));
        assert_eq!(dr("2026-12-15"), pair("2026-12-15", "2026-12-15"));
        assert_eq!(dr("12/9"), pair("2026-12-09", "2026-12-09"));
        assert_eq!(dr("any time is fine"), pair("2026-12-02", "2026-12-15"));
        assert_eq!(dr("I'm not sure"), None);
        assert_eq!(dr("Feb 30"), None);
    }

    #[test]
    fn choices_and_yes_no() {
        let opts = json!([{"label": "Mon 7 Dec 09:00 with Dr. Rivera"}, {"label": "Tue 8 Dec 14:30 with Dr. Chen"}]);
        let pick = |t: &str| extract(&Expect::Choice("s".into()), t, TODAY, Some(&opts));
        assert_eq!(pick("2").unwrap()["label"], "Tue 8 Dec 14:30 with Dr. Chen");
        assert_eq!(pick("the first one").unwrap()["label"], "Mon 7 Dec 09:00 with Dr. Rivera");
        assert_eq!(pick("the one with chen").unwrap()["label"], "Tue 8 Dec 14:30 with Dr. Chen");
        assert_eq!(pick("7"), None, "out of range");
        assert_eq!(pick("hmm"), None);
        assert_eq!(extract(&Expect::YesNo, "Yes please", TODAY, None), Some(Value::Bool(true)));
        assert_eq!(extract(&Expect::YesNo, "no, don't", TODAY, None), Some(Value::Bool(false)));
        assert_eq!(extract(&Expect::YesNo, "maybe", TODAY, None), None);
        let specs = json!(["Cardiology", "Pediatric Cardiology", "Family Medicine"]);
        let one = |t: &str| extract(&Expect::OneOf("x".into()), t, TODAY, Some(&specs));
        assert_eq!(one("I need pediatric cardiology"), Some(json!("Pediatric Cardiology")));
        assert_eq!(one("family medicine next week"), Some(json!("Family Medicine")));
        assert_eq!(one("cardiologyx"), None);
    }

    #[test]
    fn expect_notation() {
        assert_eq!(Expect::parse("choice(slots)"), Some(Expect::Choice("slots".into())));
        assert_eq!(Expect::parse("one_of(specialties)"), Some(Expect::OneOf("specialties".into())));
        assert_eq!(Expect::parse("date_range"), Some(Expect::DateRange));
        assert_eq!(Expect::parse("choice(Bad-Var)"), None);
        assert_eq!(Expect::parse("colour"), None);
    }

    proptest::proptest! {
        #[test]
        fn extractors_never_panic(t in "\\PC{0,120}") {
            let opts = json!([{"label": "a b"}, "c"]);
            for e in [Expect::Text, Expect::YesNo, Expect::DateRange, Expect::Choice("o".into()), Expect::OneOf("o".into())] {
                let _ = extract(&e, &t, TODAY, Some(&opts));
            }
        }
    }
}
