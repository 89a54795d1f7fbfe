//! The offline answerer: retrieves passages and answers with the sentences
//! that best support the question, quoted verbatim, each with a citation.
//! When the evidence is weak it says so instead of guessing.
//!
//! The algorithm (documented because a clinical user should be able to
//! check it): analyze the question into stemmed terms weighted by their
//! inverse document frequency; take the BM25 top passages; a passage's
//! *coverage* is the weight of the question's terms it contains (title and
//! heading included) over the weight of all of them. The passage ranked best
//! by BM25 rank and coverage together answers, if its coverage reaches
//! `min_coverage`; the reply is its lead sentence and the following
//! sentences that contain a question term, in their order, up to
//! `max_sentences`. Nothing is paraphrased, so every sentence is exactly
//! supported by the span it cites.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::kb::{self, Hit, KbError, KnowledgeBase};
use crate::text;

/// What the answerer says when the knowledge base does not support an answer.
pub const DONT_KNOW: &str = "I don't know \u{2014} please ask your care team.";

/// Tuning of the answerer.
#[derive(Clone, Debug)]
pub struct AnswerConfig {
    /// Passages retrieved per question.
    pub candidates: usize,
    /// Sentences in a reply at most.
    pub max_sentences: usize,
    /// Characters in a reply at most (whole sentences only).
    pub max_chars: usize,
    /// Share of the question's weight the answering passage must contain.
    pub min_coverage: f32,
}

impl Default for AnswerConfig {
    fn default() -> Self {
        AnswerConfig { candidates: 8, max_sentences: 3, max_chars: 700, min_coverage: 0.55 }
    }
}

/// A source a reply relies on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    /// The source document's id.
    pub source_id: String,
    /// The passage's id.
    pub passage_id: String,
    /// The source's title.
    pub title: String,
    /// The section heading.
    pub section: String,
    /// The source's URL, if any.
    pub url: Option<String>,
    /// The exact text the reply takes from it.
    pub quote: String,
}

/// One sentence of a reply and the citation that supports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Supported {
    /// The sentence.
    pub text: String,
    /// Index into [`Answer::citations`].
    pub citation: usize,
}

/// An answer, or the admission that there is none.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Answer {
    /// The reply text (sentences with `[n]` citation markers), or [`DONT_KNOW`].
    pub reply: String,
    /// Whether the reply is grounded in the knowledge base.
    pub grounded: bool,
    /// The sentences and what supports each.
    pub sentences: Vec<Supported>,
    /// The sources cited.
    pub citations: Vec<Citation>,
    /// Coverage of the answering passage (0 when not grounded).
    pub coverage: f32,
}

impl Answer {
    /// The answer that admits not knowing.
    pub fn dont_know() -> Self {
        Answer {
            reply: DONT_KNOW.to_string(),
            grounded: false,
            sentences: Vec::new(),
            citations: Vec::new(),
            coverage: 0.0,
        }
    }
}

/// The offline, extractive answerer over a knowledge base.
#[derive(Clone, Debug)]
pub struct Answerer {
    kb: KnowledgeBase,
    config: AnswerConfig,
}

impl Answerer {
    /// An answerer over `kb`.
    pub fn new(kb: KnowledgeBase, config: AnswerConfig) -> Self {
        Answerer { kb, config }
    }

    /// The knowledge base.
    pub fn kb(&self) -> &KnowledgeBase {
        &self.kb
    }

    /// Answers `question` from the knowledge base.
    pub fn answer(&self, question: &str) -> Result<Answer, KbError> {
        let mut analyzer = kb::analyzer();
        let mut weights: HashMap<String, f32> = HashMap::new();
        for t in kb::terms(&mut analyzer, question) {
            if let std::collections::hash_map::Entry::Vacant(v) = weights.entry(t) {
                let w = self.kb.idf(v.key());
                v.insert(w);
            }
        }
        let total: f32 = weights.values().sum();
        if weights.is_empty() || total <= 0.0 {
            return Ok(Answer::dont_know());
        }
        let hits = self.kb.retrieve(question, self.config.candidates)?;
        let Some(top_score) = hits.first().map(|h| h.score) else { return Ok(Answer::dont_know()) };
        let covered = |hit: &Hit, analyzer: &mut tantivy::tokenizer::TextAnalyzer| -> f32 {
            let p = &hit.passage;
            let present: HashSet<String> =
                kb::terms(analyzer, &format!("{} {} {}", p.title, p.section, p.text)).into_iter().collect();
            weights.iter().filter(|(t, _)| present.contains(*t)).map(|(_, w)| *w).sum::<f32>() / total
        };
        let mut best: Option<(f32, f32, &Hit)> = None;
        for hit in &hits {
            let coverage = covered(hit, &mut analyzer);
            // BM25 says which passage is most about the question; coverage
            // says whether it speaks to all of it. Both count.
            let rank = hit.score / top_score.max(f32::EPSILON) + coverage;
            if best.is_none_or(|(r, _, _)| rank > r) {
                best = Some((rank, coverage, hit));
            }
        }
        let Some((_, coverage, hit)) = best else { return Ok(Answer::dont_know()) };
        if coverage < self.config.min_coverage {
            return Ok(Answer::dont_know());
        }
        let p = &hit.passage;
        let mut chosen = Vec::new();
        let mut chars = 0;
        for (i, (s, e)) in text::sentences(&p.text).into_iter().enumerate() {
            let sentence = &p.text[s..e];
            let relevant = i == 0 || kb::terms(&mut analyzer, sentence).iter().any(|t| weights.contains_key(t));
            if !relevant {
                continue;
            }
            if !chosen.is_empty() && chars + sentence.len() > self.config.max_chars {
                break;
            }
            chars += sentence.len() + 1;
            chosen.push(sentence.to_string());
            if chosen.len() == self.config.max_sentences {
                break;
            }
        }
        if chosen.is_empty() {
            return Ok(Answer::dont_know());
        }
        let citation = Citation {
            source_id: p.source_id.clone(),
            passage_id: p.id.clone(),
            title: p.title.clone(),
            section: p.section.clone(),
            url: p.url.clone(),
            quote: chosen.join(" "),
        };
        let reply = format!("{} [1]", chosen.join(" "));
        Ok(Answer {
            reply,
            grounded: true,
            sentences: chosen.into_iter().map(|text| Supported { text, citation: 0 }).collect(),
            citations: vec![citation],
            coverage,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ingest::{Section, SourceDoc};

    fn answerer() -> Answerer {
        let kb = KnowledgeBase::in_memory().unwrap();
        let doc = |id: &str, title: &str, heading: &str, text: &str| SourceDoc {
            id: id.into(),
            title: title.into(),
            url: None,
            origin: "test".into(),
            sections: vec![Section { heading: heading.into(), text: text.into(), key: "1".into() }],
        };
        kb.ingest(&[
            doc(
                "acro",
                "Acromegaly",
                "Overview",
                "Acromegaly is a hormonal disorder that results from too much growth hormone. \
                 The pituitary makes growth hormone. Weather was nice that year. \
                 Acromegaly is treatable in most patients.",
            ),
            doc("flu", "Influenza", "Prevention", "A yearly flu vaccine is the best way to prevent the flu."),
            doc("gout", "Gout", "Symptoms", "Gout causes sudden, severe joint pain, often in the big toe."),
        ])
        .unwrap();
        Answerer::new(kb, AnswerConfig::default())
    }

    #[test]
    fn answers_with_quoted_sentences_and_a_citation() {
        let a = answerer().answer("What is acromegaly?").unwrap();
        assert!(a.grounded);
        assert_eq!(a.citations.len(), 1);
        assert_eq!(a.citations[0].source_id, "acro");
        assert!(a.reply.starts_with("Acromegaly is a hormonal disorder"), "{}", a.reply);
        assert!(!a.reply.contains("Weather"), "sentences without a question term are left out");
        assert!(a.reply.ends_with("[1]"));
        for s in &a.sentences {
            assert!(a.citations[s.citation].quote.contains(&s.text), "every sentence is quoted from its source");
        }
    }

    #[test]
    fn weak_evidence_gets_i_dont_know() {
        let ans = answerer();
        for q in ["What is the capital of France?", "Tell me about zorblax syndrome treatment", "", "???"] {
            let a = ans.answer(q).unwrap();
            assert!(!a.grounded, "{q}");
            assert_eq!(a.reply, DONT_KNOW);
            assert!(a.citations.is_empty());
        }
    }

    #[test]
    fn picks_the_passage_about_the_question() {
        let a = answerer().answer("how can I prevent the flu").unwrap();
        assert_eq!(a.citations[0].source_id, "flu");
        let a = answerer().answer("What are the symptoms of gout?").unwrap();
        assert_eq!(a.citations[0].source_id, "gout");
    }
}
