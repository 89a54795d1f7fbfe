//! Accuracy measurement on labelled text: precision, recall, F1 and F2 per
//! type and overall, at span level (overlap) and token level; converters
//! from the Presidio-research format and from Synthea's FHIR notes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::types::{CharSpan, PhiType};

/// Haven's own labelled clinical test notes (JSON Lines, synthetic PHI):
/// every identifier type in the writing styles of real notes.
pub const CLINICAL_NOTES: &str = include_str!("../tests/data/clinical_notes.jsonl");

/// One labelled document: text and gold spans in code points.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Labelled {
    /// The text.
    pub text: String,
    /// Gold spans (code-point offsets, end exclusive).
    pub spans: Vec<CharSpan>,
}

/// Counts behind precision and recall.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Predicted items that match gold.
    pub tp: usize,
    /// Predicted items that match no gold.
    pub fp: usize,
    /// Gold items no prediction matched.
    pub fn_: usize,
}

impl Counts {
    /// tp / (tp + fp); 1 when nothing was predicted.
    pub fn precision(&self) -> f64 {
        if self.tp + self.fp == 0 { 1.0 } else { self.tp as f64 / (self.tp + self.fp) as f64 }
    }
    /// tp / (tp + fn); 1 when there is no gold.
    pub fn recall(&self) -> f64 {
        if self.tp + self.fn_ == 0 { 1.0 } else { self.tp as f64 / (self.tp + self.fn_) as f64 }
    }
    /// F-beta.
    pub fn f_beta(&self, beta: f64) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        let b2 = beta * beta;
        if p + r == 0.0 { 0.0 } else { (1.0 + b2) * p * r / (b2 * p + r) }
    }
    fn add(&mut self, o: Counts) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
    }
}

/// The result of an evaluation.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Evaluation {
    /// Documents read.
    pub documents: usize,
    /// Span level, per type. A gold span counts as found when any predicted
    /// span overlaps it (de-identification removes it whatever its label);
    /// a predicted span is correct when it overlaps any gold span.
    pub span_by_type: BTreeMap<PhiType, Counts>,
    /// Span level over all types.
    pub span_overall: Counts,
    /// Token level (runs of letters or digits) over all types.
    pub token_overall: Counts,
    /// Token level per gold (recall) or predicted (precision) type.
    pub token_by_type: BTreeMap<PhiType, Counts>,
    /// Gold spans found with the same type.
    pub typed_matches: usize,
}

fn overlaps(a: &CharSpan, b: &CharSpan) -> bool {
    a.start < b.end && b.start < a.end
}

/// Adds one document's gold and predicted spans to `ev`.
pub fn score_document(ev: &mut Evaluation, text: &str, gold: &[CharSpan], pred: &[CharSpan]) {
    ev.documents += 1;
    for g in gold {
        let c = ev.span_by_type.entry(g.kind).or_default();
        if pred.iter().any(|p| overlaps(p, g)) {
            c.tp += 1;
            ev.span_overall.tp += 1;
            if pred.iter().any(|p| overlaps(p, g) && p.kind == g.kind) {
                ev.typed_matches += 1;
            }
        } else {
            c.fn_ += 1;
            ev.span_overall.fn_ += 1;
        }
    }
    for p in pred {
        if !gold.iter().any(|g| overlaps(p, g)) {
            ev.span_by_type.entry(p.kind).or_default().fp += 1;
            ev.span_overall.fp += 1;
        }
    }
    // Token level: each alphanumeric run is PHI or not, in gold and prediction.
    let label_at =
        |spans: &[CharSpan], s: usize, e: usize| spans.iter().find(|x| x.start < e && s < x.end).map(|x| x.kind);
    let mut start = None;
    let chars: Vec<char> = text.chars().collect();
    for i in 0..=chars.len() {
        let alnum = chars.get(i).is_some_and(|c| c.is_alphanumeric());
        match (alnum, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                let g = label_at(gold, s, i);
                let p = label_at(pred, s, i);
                let mut c = Counts::default();
                match (g, p) {
                    (Some(_), Some(_)) => c.tp = 1,
                    (Some(_), None) => c.fn_ = 1,
                    (None, Some(_)) => c.fp = 1,
                    (None, None) => {}
                }
                ev.token_overall.add(c);
                if let Some(t) = g.or(p) {
                    ev.token_by_type.entry(t).or_default().add(c);
                }
                start = None;
            }
            _ => {}
        }
    }
}

/// The evaluation as a JSON value (per type and overall, four measures each).
pub fn to_json(ev: &Evaluation) -> Value {
    let m = |c: &Counts| serde_json::json!({"tp": c.tp, "fp": c.fp, "fn": c.fn_, "precision": round(c.precision()), "recall": round(c.recall()), "f1": round(c.f_beta(1.0)), "f2": round(c.f_beta(2.0))});
    serde_json::json!({
        "documents": ev.documents,
        "span": {
            "overall": m(&ev.span_overall),
            "by_type": ev.span_by_type.iter().map(|(k, c)| (k.as_str().to_string(), m(c))).collect::<serde_json::Map<_, _>>(),
        },
        "token": {
            "overall": m(&ev.token_overall),
            "by_type": ev.token_by_type.iter().map(|(k, c)| (k.as_str().to_string(), m(c))).collect::<serde_json::Map<_, _>>(),
        },
        "typed_span_matches": ev.typed_matches,
    })
}

fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// The evaluation as a text table.
pub fn to_table(ev: &Evaluation) -> String {
    let mut s = format!("documents: {}\n", ev.documents);
    s.push_str(&format!(
        "{:<16} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7} {:>7}\n",
        "span level", "tp", "fp", "fn", "prec", "recall", "F1", "F2"
    ));
    let row = |name: &str, c: &Counts| {
        format!(
            "{:<16} {:>6} {:>6} {:>6} {:>7.3} {:>7.3} {:>7.3} {:>7.3}\n",
            name,
            c.tp,
            c.fp,
            c.fn_,
            c.precision(),
            c.recall(),
            c.f_beta(1.0),
            c.f_beta(2.0)
        )
    };
    for (k, c) in &ev.span_by_type {
        s.push_str(&row(k.as_str(), c));
    }
    s.push_str(&row("OVERALL", &ev.span_overall));
    s.push_str(&format!("{:<16}\n", "token level"));
    for (k, c) in &ev.token_by_type {
        s.push_str(&row(k.as_str(), c));
    }
    s.push_str(&row("OVERALL", &ev.token_overall));
    s
}

/// Maps a Presidio entity type to Haven's; `None` for types that are not
/// Safe Harbor identifiers (organisations, titles, nationalities, countries).
pub fn presidio_type(entity: &str) -> Option<PhiType> {
    Some(match entity {
        "PERSON" | "PER" | "NAME" => PhiType::Name,
        "STREET_ADDRESS" | "ADDRESS" | "ZIP_CODE" | "LOCATION" => PhiType::Location,
        "DATE_TIME" | "DATE" | "BIRTHDAY" => PhiType::Date,
        "PHONE_NUMBER" | "PHONE" => PhiType::Phone,
        "EMAIL_ADDRESS" | "EMAIL" => PhiType::Email,
        "US_SSN" | "SSN" => PhiType::Ssn,
        "IP_ADDRESS" => PhiType::Ip,
        "DOMAIN_NAME" | "URL" => PhiType::Url,
        "CREDIT_CARD" | "IBAN_CODE" | "US_BANK_NUMBER" => PhiType::Account,
        "US_DRIVER_LICENSE" | "MEDICAL_LICENSE" => PhiType::License,
        "AGE" => PhiType::Age,
        "US_PASSPORT" | "US_ITIN" => PhiType::OtherId,
        _ => return None,
    })
}

/// Whether a gold value of `kind` is PHI under Safe Harbor: ages up to 89,
/// bare years and weekdays are not.
fn is_safe_harbor_phi(kind: PhiType, value: &str) -> bool {
    let v = value.trim();
    match kind {
        PhiType::Age => v.parse::<u32>().is_ok_and(|a| a > 89),
        PhiType::Date => {
            let only_year = v.len() == 4 && v.bytes().all(|b| b.is_ascii_digit());
            let weekday = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
                .contains(&v.to_ascii_lowercase().as_str());
            !(only_year || weekday)
        }
        _ => true,
    }
}

/// Converts the Presidio-research JSON (a list of `{full_text, spans:
/// [{entity_type, start_position, end_position, entity_value}]}`) into
/// labelled documents with Haven's types. Spans of types that are not
/// identifiers are dropped, as are ages up to 89, bare years and weekdays.
pub fn from_presidio(doc: &Value) -> Vec<Labelled> {
    let mut out = Vec::new();
    for item in doc.as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let Some(text) = item.get("full_text").and_then(Value::as_str) else { continue };
        let mut spans = Vec::new();
        for s in item.get("spans").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
            let et = s.get("entity_type").and_then(Value::as_str).unwrap_or("");
            let (Some(start), Some(end)) =
                (s.get("start_position").and_then(Value::as_u64), s.get("end_position").and_then(Value::as_u64))
            else {
                continue;
            };
            let Some(kind) = presidio_type(et) else { continue };
            let value: String = text.chars().skip(start as usize).take((end - start) as usize).collect();
            if is_safe_harbor_phi(kind, &value) {
                spans.push(CharSpan { start: start as usize, end: end as usize, kind, score: None, rule: None });
            }
        }
        spans.sort_by_key(|s| s.start);
        out.push(Labelled { text: text.to_string(), spans });
    }
    out
}

/// Labels for Synthea's DocumentReference notes, from the Patient resources
/// they belong to: every occurrence of the patient's given names, family
/// name, birth date, address parts and phone numbers, the author's and
/// custodian's display names, and every ISO date in the note.
///
/// `patients` maps a Patient id to its resource; each DocumentReference's
/// `subject.reference` names its Patient.
pub fn synthea_labels(doc_ref: &Value, patients: &BTreeMap<String, Value>) -> Option<Labelled> {
    use base64::Engine as _;
    let data = doc_ref.pointer("/content/0/attachment/data")?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(data).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut needles: Vec<(String, PhiType)> = Vec::new();
    let pid =
        doc_ref.pointer("/subject/reference").and_then(Value::as_str).and_then(|r| r.rsplit('/').next()).unwrap_or("");
    if let Some(p) = patients.get(pid) {
        for n in p.get("name").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
            for g in n.get("given").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
                if let Some(g) = g.as_str() {
                    needles.push((g.to_string(), PhiType::Name));
                }
            }
            if let Some(f) = n.get("family").and_then(Value::as_str) {
                needles.push((f.to_string(), PhiType::Name));
            }
        }
        if let Some(b) = p.get("birthDate").and_then(Value::as_str) {
            needles.push((b.to_string(), PhiType::Date));
        }
        for a in p.get("address").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
            for l in a.get("line").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
                if let Some(l) = l.as_str() {
                    needles.push((l.to_string(), PhiType::Location));
                }
            }
            for k in ["city", "postalCode"] {
                if let Some(v) = a.get(k).and_then(Value::as_str) {
                    needles.push((v.to_string(), PhiType::Location));
                }
            }
        }
        for t in p.get("telecom").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
            if let Some(v) = t.get("value").and_then(Value::as_str) {
                needles.push((v.to_string(), PhiType::Phone));
            }
        }
    }
    for a in doc_ref.get("author").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
        if let Some(d) = a.get("display").and_then(Value::as_str) {
            for w in d.split_whitespace().filter(|w| !w.ends_with('.')) {
                needles.push((w.to_string(), PhiType::Name));
            }
        }
    }
    if let Some(d) = doc_ref.pointer("/custodian/display").and_then(Value::as_str) {
        needles.push((d.to_string(), PhiType::Location));
    }
    // Byte ranges of every needle, then every ISO date.
    let mut ranges: Vec<(usize, usize, PhiType)> = Vec::new();
    for (n, kind) in &needles {
        if n.len() < 2 {
            continue;
        }
        for (i, _) in text.match_indices(n.as_str()) {
            let before_ok = text[..i].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
            let after_ok = text[i + n.len()..].chars().next().is_none_or(|c| !c.is_alphanumeric());
            if before_ok && after_ok {
                ranges.push((i, i + n.len(), *kind));
            }
        }
    }
    let b = text.as_bytes();
    let mut i = 0;
    while i + 10 <= b.len() {
        let w = &b[i..i + 10];
        let iso = w[..4].iter().all(u8::is_ascii_digit)
            && w[4] == b'-'
            && w[5..7].iter().all(u8::is_ascii_digit)
            && w[7] == b'-'
            && w[8..].iter().all(u8::is_ascii_digit);
        if iso && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            ranges.push((i, i + 10, PhiType::Date));
            i += 10;
        } else {
            i += 1;
        }
    }
    // Ages over 89 ("is a 91 year-old") are PHI under Safe Harbor too.
    for (i, _) in text.match_indices(" year-old") {
        let head = &text[..i];
        let start = head.rfind(|c: char| !c.is_ascii_digit()).map_or(0, |p| p + 1);
        if head[start..].parse::<u32>().is_ok_and(|a| a > 89) {
            ranges.push((start, i, PhiType::Age));
        }
    }
    // Join adjacent name words ("Sumiko254 Larue605") into one span, drop overlaps.
    ranges.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut merged: Vec<(usize, usize, PhiType)> = Vec::new();
    for r in ranges {
        match merged.last_mut() {
            Some(l) if r.0 < l.1 => l.1 = l.1.max(r.1),
            Some(l) if l.2 == r.2 && text.get(l.1..r.0).is_some_and(|g| g == " ") => l.1 = r.1,
            _ => merged.push(r),
        }
    }
    let spans = merged
        .into_iter()
        .map(|(s, e, kind)| CharSpan {
            start: text[..s].chars().count(),
            end: text[..e].chars().count(),
            kind,
            score: None,
            rule: None,
        })
        .collect();
    Some(Labelled { text, spans })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cs(start: usize, end: usize, kind: PhiType) -> CharSpan {
        CharSpan { start, end, kind, score: None, rule: None }
    }

    #[test]
    fn span_and_token_scores() {
        let mut ev = Evaluation::default();
        let text = "John Smith saw Mary on 3/4/2020 at home";
        let gold = [cs(0, 10, PhiType::Name), cs(15, 19, PhiType::Name), cs(23, 31, PhiType::Date)];
        let pred = [cs(0, 4, PhiType::Name), cs(23, 31, PhiType::Date), cs(35, 39, PhiType::Location)];
        score_document(&mut ev, text, &gold, &pred);
        assert_eq!(ev.span_overall, Counts { tp: 2, fp: 1, fn_: 1 });
        assert_eq!(ev.span_by_type.get(&PhiType::Name), Some(&Counts { tp: 1, fp: 0, fn_: 1 }));
        // tokens: John(tp) Smith(fn) Mary(fn) 3 4 2020 (tp x3) home(fp)
        assert_eq!(ev.token_overall, Counts { tp: 4, fp: 1, fn_: 2 });
        assert!((ev.span_overall.precision() - 2.0 / 3.0).abs() < 1e-9);
        let j = to_json(&ev);
        assert!(j["span"]["by_type"]["NAME"]["recall"].as_f64().is_some());
        assert!(to_table(&ev).contains("OVERALL"));
    }

    #[test]
    fn presidio_conversion() {
        let doc = serde_json::json!([{"full_text": "I am Zoë, 45, born 1990, call 555-1234", "spans": [
            {"entity_type": "PERSON", "start_position": 5, "end_position": 8, "entity_value": "Zoë"},
            {"entity_type": "AGE", "start_position": 10, "end_position": 12, "entity_value": "45"},
            {"entity_type": "DATE_TIME", "start_position": 19, "end_position": 23, "entity_value": "1990"},
            {"entity_type": "PHONE_NUMBER", "start_position": 30, "end_position": 38, "entity_value": "555-1234"},
            {"entity_type": "ORGANIZATION", "start_position": 0, "end_position": 1, "entity_value": "I"}]}]);
        let l = from_presidio(&doc);
        let kinds: Vec<PhiType> = l[0].spans.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, [PhiType::Name, PhiType::Phone]);
    }
}
