//! Retrieval evaluation: for questions held out from the answers they came
//! with, is an answer-bearing passage among the top results?

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::ingest::HeldOutQuestion;
use crate::kb::{KbError, KnowledgeBase, Passage};
use crate::text::squash_whitespace;

/// Results of a retrieval evaluation.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RetrievalReport {
    /// Questions asked.
    pub questions: usize,
    /// Share with an answer-bearing passage first.
    pub recall_at_1: f64,
    /// Share with one in the top 3.
    pub recall_at_3: f64,
    /// Share with one in the top 10.
    pub recall_at_10: f64,
    /// Mean reciprocal rank of the first answer-bearing passage (0 beyond 10).
    pub mrr: f64,
}

/// Asks every question and checks the ranks. A passage bears the answer if
/// it belongs to the question's answer, or has the same text as a passage
/// that does (MedQuAD repeats some answers word for word across sources).
pub fn retrieval(kb: &KnowledgeBase, questions: &[HeldOutQuestion]) -> Result<RetrievalReport, KbError> {
    let passages = kb.passages()?;
    let mut gold_texts: HashMap<(&str, &str), HashSet<String>> = HashMap::new();
    for p in &passages {
        gold_texts.entry((p.source_id.as_str(), p.section_key.as_str())).or_default().insert(norm(p));
    }
    let mut r = RetrievalReport::default();
    let (mut at1, mut at3, mut at10, mut rr) = (0usize, 0usize, 0usize, 0f64);
    for q in questions {
        let Some(gold) = gold_texts.get(&(q.doc_id.as_str(), q.section_key.as_str())) else {
            // Its answer is not in the index (an empty answer, a file not ingested).
            continue;
        };
        r.questions += 1;
        let hits = kb.retrieve(&q.question, 10)?;
        let rank = hits.iter().position(|h| {
            (h.passage.source_id == q.doc_id && h.passage.section_key == q.section_key)
                || gold.contains(&norm(&h.passage))
        });
        if let Some(i) = rank {
            at1 += usize::from(i == 0);
            at3 += usize::from(i < 3);
            at10 += 1;
            rr += 1.0 / (i + 1) as f64;
        }
    }
    let n = r.questions.max(1) as f64;
    r.recall_at_1 = at1 as f64 / n;
    r.recall_at_3 = at3 as f64 / n;
    r.recall_at_10 = at10 as f64 / n;
    r.mrr = rr / n;
    Ok(r)
}

fn norm(p: &Passage) -> String {
    squash_whitespace(&p.text).to_lowercase()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ingest::{Format, parse};

    #[test]
    fn ranks_are_counted() {
        let kb = KnowledgeBase::in_memory().unwrap();
        let xml = r#"<Document id="1" source="T"><Focus>Gout</Focus><QAPairs>
            <QAPair pid="1"><Question qtype="symptoms">What are the symptoms of gout?</Question>
            <Answer>Gout causes sudden joint pain in the big toe.</Answer></QAPair>
            <QAPair pid="2"><Question qtype="treatment">How is gout treated?</Question>
            <Answer>Medicines lower uric acid.</Answer></QAPair></QAPairs></Document>"#;
        let (doc, mut qs) = parse("g.xml", Format::MedQuad, xml.as_bytes()).unwrap();
        kb.ingest(&[doc]).unwrap();
        qs.push(HeldOutQuestion { doc_id: "nowhere".into(), section_key: "1".into(), question: "x".into() });
        let r = retrieval(&kb, &qs).unwrap();
        assert_eq!(r.questions, 2, "a question whose answer is not indexed is not counted");
        assert_eq!((r.recall_at_1, r.recall_at_3, r.mrr), (1.0, 1.0, 1.0));
    }
}
