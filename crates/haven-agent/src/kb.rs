//! The knowledge base: the organisation's content as passages in a
//! full-text index (tantivy, BM25), with their source metadata.
//!
//! The index is the only record of what was ingested: each passage stores
//! its source's id and content hash, so re-ingesting an unchanged source is
//! a no-op and a changed one replaces all of its passages in one commit.
//! The content is the organisation's published material, not PHI.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Serialize;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
    Token, TokenFilter, TokenStream, Tokenizer,
};
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument, Term, doc};

use crate::ingest::SourceDoc;
use crate::question::{self, Aspect};
use crate::text;

/// Words per passage: long enough to carry an answer, short enough to quote.
pub const PASSAGE_WORDS: usize = 120;

/// Distinct query terms used at most; the rest of a long message adds cost, not recall.
const MAX_QUERY_TERMS: usize = 32;

/// BM25 candidates re-ranked by [`KnowledgeBase::retrieve`] at least.
const RERANK_POOL: usize = 20;

/// Score factor for a passage whose section is about the question's aspect.
const ASPECT_BOOST: f32 = 1.3;

/// The analyzer's name in the index's tokenizer registry.
const ANALYZER: &str = "haven_en";

/// Field boosts: a match in a document's title or a section heading says
/// more about what the passage is about than one in its body.
const TITLE_BOOST: f32 = 2.0;
const SECTION_BOOST: f32 = 1.5;

/// Why the knowledge base failed.
#[derive(Debug, thiserror::Error)]
pub enum KbError {
    /// The index could not be opened, read or written.
    #[error("knowledge base index: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// The index directory could not be created.
    #[error("knowledge base directory: {0}")]
    Io(#[from] std::io::Error),
    /// The index on disk was built with another schema.
    #[error("the knowledge base index at this path has another layout; remove the directory and ingest again")]
    Schema,
}

/// One searchable passage and where it comes from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Passage {
    /// `{source_id}#{section_key}.{n}`.
    pub id: String,
    /// The source document's id.
    pub source_id: String,
    /// The source document's title.
    pub title: String,
    /// The section heading (may be empty).
    pub section: String,
    /// The section's key within its document.
    pub section_key: String,
    /// The section's position in its document (0 for the first).
    pub section_index: u64,
    /// The passage's position in its section (0 for the first).
    pub passage_index: u64,
    /// The passage text.
    pub text: String,
    /// The source's URL, if any.
    pub url: Option<String>,
    /// Who published the source.
    pub origin: String,
}

/// A passage found by a search, with its BM25 score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Hit {
    /// BM25 score (higher is better; comparable within one search only).
    pub score: f32,
    /// The passage.
    pub passage: Passage,
}

/// What an ingest did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IngestReport {
    /// Sources new to the index.
    pub added: usize,
    /// Sources whose content changed and whose passages were replaced.
    pub replaced: usize,
    /// Sources already indexed with the same content.
    pub unchanged: usize,
    /// Passages written.
    pub passages: usize,
}

/// A source as the index holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceInfo {
    /// The source's id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its URL, if any.
    pub url: Option<String>,
    /// Who published it.
    pub origin: String,
    /// Passages indexed.
    pub passages: usize,
}

#[derive(Clone, Copy)]
struct Fields {
    passage_id: Field,
    source_id: Field,
    source_hash: Field,
    title: Field,
    section: Field,
    section_key: Field,
    section_index: Field,
    passage_index: Field,
    body: Field,
    url: Field,
    origin: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
        .set_stored();
    let fields = Fields {
        passage_id: b.add_text_field("passage_id", STRING | STORED),
        source_id: b.add_text_field("source_id", STRING | STORED),
        source_hash: b.add_text_field("source_hash", STORED),
        title: b.add_text_field("title", text.clone()),
        section: b.add_text_field("section", text.clone()),
        section_key: b.add_text_field("section_key", STORED),
        section_index: b.add_u64_field("section_index", STORED),
        passage_index: b.add_u64_field("passage_index", STORED),
        body: b.add_text_field("body", text),
        url: b.add_text_field("url", STORED),
        origin: b.add_text_field("origin", STORED),
    };
    (b.build(), fields)
}

/// Words that carry no topic. Lucene's English list plus the question
/// words, pronouns and auxiliaries people write to an assistant ("what",
/// "how", "can", "my"): left in, they would count as unmatched question
/// terms and make every honest answer look weak.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "of", "on", "or",
    "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with", "what",
    "whats", "how", "why", "when", "where", "who", "whom", "which", "whose", "do", "does", "did", "done", "can",
    "could", "should", "would", "may", "might", "must", "shall", "i", "im", "me", "my", "mine", "we", "us", "our",
    "you", "your", "he", "him", "his", "she", "her", "its", "them", "am", "been", "being", "were", "have", "has",
    "had", "having", "get", "gets", "got", "about", "tell", "know", "please", "thanks", "thank", "hi", "hello", "some",
    "any", "so", "than", "too", "very", "just", "also", "there", "here", "from", "s", "t",
];

/// English analysis: words, lower case, ASCII folding, stop words removed,
/// Porter stemming ("symptoms" and "symptom" match).
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(StopWordFilter::remove(STOP_WORDS.iter().map(|w| w.to_string())))
        .filter(Stemmer::new(Language::English))
        .filter(SameStem)
        .build()
}

/// Stems the English stemmer leaves apart although readers mean the same
/// thing by them: a question asks how a disease is *treated* and the
/// section is headed *Treatment*.
const SAME_STEM: &[(&str, &str)] = &[
    ("treatment", "treat"),
    ("therapi", "treat"),
    ("diagnosi", "diagnos"),
    ("diagnost", "diagnos"),
    ("management", "manag"),
    ("medic", "medicin"),
    ("medicat", "medicin"),
    ("sign", "symptom"),
    ("genet", "gene"),
];

/// The token filter applying [`SAME_STEM`] after stemming.
#[derive(Clone, Copy)]
struct SameStem;

impl TokenFilter for SameStem {
    type Tokenizer<T: Tokenizer> = SameStemFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> SameStemFilter<T> {
        SameStemFilter(tokenizer)
    }
}

#[derive(Clone)]
struct SameStemFilter<T>(T);

impl<T: Tokenizer> Tokenizer for SameStemFilter<T> {
    type TokenStream<'a> = SameStemStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        SameStemStream(self.0.token_stream(text))
    }
}

struct SameStemStream<S>(S);

impl<S: TokenStream> TokenStream for SameStemStream<S> {
    fn advance(&mut self) -> bool {
        if !self.0.advance() {
            return false;
        }
        let token = self.0.token_mut();
        if let Some((_, to)) = SAME_STEM.iter().find(|(from, _)| *from == token.text) {
            token.text.clear();
            token.text.push_str(to);
        }
        true
    }

    fn token(&self) -> &Token {
        self.0.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.0.token_mut()
    }
}

/// The analyzed terms of `text`, in order (with repeats).
pub fn terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(t) = stream.next() {
        out.push(t.text.clone());
    }
    out
}

/// The knowledge base. Cheap to clone; searches run concurrently.
#[derive(Clone)]
pub struct KnowledgeBase {
    index: Index,
    reader: IndexReader,
    fields: Fields,
}

impl std::fmt::Debug for KnowledgeBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnowledgeBase").field("passages", &self.reader.searcher().num_docs()).finish()
    }
}

impl KnowledgeBase {
    /// Opens the index in `dir`, creating an empty one if there is none.
    pub fn open(dir: &Path) -> Result<Self, KbError> {
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = schema();
        let index = if dir.join("meta.json").exists() {
            let index = Index::open_in_dir(dir)?;
            if index.schema() != schema {
                return Err(KbError::Schema);
            }
            index
        } else {
            Index::create_in_dir(dir, schema)?
        };
        Self::with_index(index, fields)
    }

    /// An empty knowledge base in memory (tests, benchmarks).
    pub fn in_memory() -> Result<Self, KbError> {
        let (schema, fields) = schema();
        Self::with_index(Index::create_in_ram(schema), fields)
    }

    fn with_index(index: Index, fields: Fields) -> Result<Self, KbError> {
        index.tokenizers().register(ANALYZER, analyzer());
        // Another process (`haven kb add`) may write; the server sees its
        // commits shortly after.
        let reader = index.reader_builder().reload_policy(ReloadPolicy::OnCommitWithDelay).try_into()?;
        Ok(KnowledgeBase { index, reader, fields })
    }

    /// Adds or replaces documents: a source whose content is unchanged is
    /// skipped, a changed one loses its old passages. One commit for all.
    pub fn ingest(&self, docs: &[SourceDoc]) -> Result<IngestReport, KbError> {
        let f = self.fields;
        let existing = self.source_hashes()?;
        let mut writer = self.index.writer_with_num_threads(1, 64 << 20)?;
        let mut report = IngestReport::default();
        let mut seen = HashSet::new();
        for d in docs {
            let hash = content_hash(d);
            if !seen.insert(d.id.clone()) {
                // The same id twice in one call: the later one wins.
                writer.delete_term(Term::from_field_text(f.source_id, &d.id));
            }
            match existing.get(&d.id) {
                Some(h) if *h == hash => {
                    report.unchanged += 1;
                    continue;
                }
                Some(_) => {
                    writer.delete_term(Term::from_field_text(f.source_id, &d.id));
                    report.replaced += 1;
                }
                None => report.added += 1,
            }
            for (i, s) in d.sections.iter().enumerate() {
                for (n, body) in text::passages(&s.text, PASSAGE_WORDS).into_iter().enumerate() {
                    let mut doc = doc!(
                        f.passage_id => format!("{}#{}.{}", d.id, s.key, n),
                        f.source_id => d.id.clone(),
                        f.source_hash => hash.clone(),
                        f.title => d.title.clone(),
                        f.section => s.heading.clone(),
                        f.section_key => s.key.clone(),
                        f.section_index => i as u64,
                        f.passage_index => n as u64,
                        f.body => body,
                        f.origin => d.origin.clone(),
                    );
                    if let Some(u) = &d.url {
                        doc.add_text(f.url, u);
                    }
                    writer.add_document(doc)?;
                    report.passages += 1;
                }
            }
        }
        writer.commit()?;
        writer.wait_merging_threads()?;
        self.reader.reload()?;
        Ok(report)
    }

    /// Removes a source and its passages; returns whether it was there.
    pub fn remove(&self, source_id: &str) -> Result<bool, KbError> {
        let term = Term::from_field_text(self.fields.source_id, source_id);
        if self.reader.searcher().doc_freq(&term)? == 0 {
            return Ok(false);
        }
        let mut writer: tantivy::IndexWriter = self.index.writer_with_num_threads(1, 16 << 20)?;
        writer.delete_term(term);
        writer.commit()?;
        self.reader.reload()?;
        Ok(true)
    }

    /// The `limit` best passages for `query` (BM25 over title, section and body).
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Hit>, KbError> {
        let mut analyzer = analyzer();
        let mut unique = Vec::new();
        for t in terms(&mut analyzer, query) {
            if !unique.contains(&t) {
                unique.push(t);
            }
            if unique.len() == MAX_QUERY_TERMS {
                break;
            }
        }
        if unique.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let f = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(unique.len() * 3);
        for t in &unique {
            for (field, boost) in [(f.title, TITLE_BOOST), (f.section, SECTION_BOOST), (f.body, 1.0)] {
                let q = TermQuery::new(Term::from_field_text(field, t), IndexRecordOption::WithFreqs);
                clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(q), boost))));
            }
        }
        let searcher = self.reader.searcher();
        let top = searcher.search(&BooleanQuery::new(clauses), &TopDocs::with_limit(limit).order_by_score())?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            hits.push(Hit { score, passage: self.passage(&doc) });
        }
        Ok(hits)
    }

    /// The `limit` best passages to answer `question`: BM25 candidates,
    /// re-ranked so that a section written about the aspect the question
    /// asks for ("symptoms of", "how is ... treated") comes first, and a
    /// document's opening passage answers "what is ...".
    pub fn retrieve(&self, question: &str, limit: usize) -> Result<Vec<Hit>, KbError> {
        let mut hits = self.search(question, (limit * 4).max(RERANK_POOL))?;
        if let Some(aspect) = question::aspect(question) {
            for h in &mut hits {
                let p = &h.passage;
                let opening = p.section_index == 0 && p.passage_index == 0;
                if question::heading_matches(aspect, &p.section) || (aspect == Aspect::Definition && opening) {
                    h.score *= ASPECT_BOOST;
                }
            }
            hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        }
        hits.truncate(limit);
        Ok(hits)
    }

    /// Inverse document frequency of an analyzed term over passage bodies
    /// (BM25's formula), for weighting words when choosing sentences.
    pub fn idf(&self, term: &str) -> f32 {
        let searcher = self.reader.searcher();
        let n = searcher.num_docs() as f32;
        let df = searcher.doc_freq(&Term::from_field_text(self.fields.body, term)).unwrap_or(0) as f32;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// Passages indexed.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every source with its passage count, sorted by id.
    pub fn sources(&self) -> Result<Vec<SourceInfo>, KbError> {
        let mut by_id: BTreeMap<String, SourceInfo> = BTreeMap::new();
        self.each_doc(|doc| {
            let p = self.passage(doc);
            by_id
                .entry(p.source_id.clone())
                .or_insert(SourceInfo { id: p.source_id, title: p.title, url: p.url, origin: p.origin, passages: 0 })
                .passages += 1;
        })?;
        Ok(by_id.into_values().collect())
    }

    /// Every passage (evaluation, export), in index order.
    pub fn passages(&self) -> Result<Vec<Passage>, KbError> {
        let mut out = Vec::new();
        self.each_doc(|doc| out.push(self.passage(doc)))?;
        Ok(out)
    }

    fn source_hashes(&self) -> Result<BTreeMap<String, String>, KbError> {
        let f = self.fields;
        let mut out = BTreeMap::new();
        self.each_doc(|doc| {
            let id = str_of(doc, f.source_id);
            out.entry(id).or_insert_with(|| str_of(doc, f.source_hash));
        })?;
        Ok(out)
    }

    fn each_doc(&self, mut visit: impl FnMut(&TantivyDocument)) -> Result<(), KbError> {
        let searcher = self.reader.searcher();
        for segment in searcher.segment_readers() {
            let store = segment.get_store_reader(64)?;
            let alive = segment.alive_bitset();
            for doc_id in 0..segment.max_doc() {
                if alive.is_some_and(|a| !a.is_alive(doc_id)) {
                    continue;
                }
                let doc: TantivyDocument = store.get(doc_id)?;
                visit(&doc);
            }
        }
        Ok(())
    }

    fn passage(&self, doc: &TantivyDocument) -> Passage {
        let f = self.fields;
        let url = str_of(doc, f.url);
        Passage {
            id: str_of(doc, f.passage_id),
            source_id: str_of(doc, f.source_id),
            title: str_of(doc, f.title),
            section: str_of(doc, f.section),
            section_key: str_of(doc, f.section_key),
            section_index: u64_of(doc, f.section_index),
            passage_index: u64_of(doc, f.passage_index),
            text: str_of(doc, f.body),
            url: (!url.is_empty()).then_some(url),
            origin: str_of(doc, f.origin),
        }
    }
}

fn u64_of(doc: &TantivyDocument, field: Field) -> u64 {
    doc.get_first(field).and_then(|v| v.as_u64()).unwrap_or_default()
}

fn str_of(doc: &TantivyDocument, field: Field) -> String {
    doc.get_first(field).and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// SHA-256 over the document as JSON: any change in text, title, headings
/// or URL makes a new hash.
fn content_hash(d: &SourceDoc) -> String {
    let json = serde_json::to_vec(d).unwrap_or_default();
    hex::encode(ring::digest::digest(&ring::digest::SHA256, &json).as_ref())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ingest::Section;

    fn doc(id: &str, title: &str, sections: &[(&str, &str)]) -> SourceDoc {
        SourceDoc {
            id: id.into(),
            title: title.into(),
            url: Some(format!("https://example.org/{id}")),
            origin: "test".into(),
            sections: sections
                .iter()
                .enumerate()
                .map(|(i, (h, t))| Section { heading: h.to_string(), text: t.to_string(), key: i.to_string() })
                .collect(),
        }
    }

    fn kb() -> KnowledgeBase {
        let kb = KnowledgeBase::in_memory().unwrap();
        kb.ingest(&[
            doc(
                "flu",
                "Influenza",
                &[
                    ("Symptoms", "Flu symptoms include fever, cough and muscle aches."),
                    ("Prevention", "A yearly flu vaccine is the best way to prevent influenza."),
                ],
            ),
            doc("asthma", "Asthma", &[("Treatment", "Inhalers relieve asthma attacks quickly.")]),
        ])
        .unwrap();
        kb
    }

    #[test]
    fn search_finds_the_section_about_the_question() {
        let kb = kb();
        let hits = kb.search("What are the symptoms of the flu?", 3).unwrap();
        assert_eq!(hits[0].passage.id, "flu#0.0");
        assert_eq!(hits[0].passage.section, "Symptoms");
        assert_eq!(hits[0].passage.url.as_deref(), Some("https://example.org/flu"));
        let hits = kb.search("how do I prevent influenza", 3).unwrap();
        assert_eq!(hits[0].passage.id, "flu#1.0");
        assert!(kb.search("", 3).unwrap().is_empty());
        assert!(kb.search("the of and", 3).unwrap().is_empty(), "stop words alone match nothing");
        assert!(kb.search("flu", 0).unwrap().is_empty());
    }

    #[test]
    fn reingesting_is_idempotent_and_changes_replace() {
        let kb = kb();
        assert_eq!(kb.len(), 3);
        let again = kb
            .ingest(&[doc("asthma", "Asthma", &[("Treatment", "Inhalers relieve asthma attacks quickly.")])])
            .unwrap();
        assert_eq!(again, IngestReport { added: 0, replaced: 0, unchanged: 1, passages: 0 });
        assert_eq!(kb.len(), 3);
        let changed = kb
            .ingest(&[doc("asthma", "Asthma", &[("Treatment", "Use a rescue inhaler."), ("Triggers", "Smoke.")])])
            .unwrap();
        assert_eq!(changed, IngestReport { added: 0, replaced: 1, unchanged: 0, passages: 2 });
        assert_eq!(kb.len(), 4);
        let sources = kb.sources().unwrap();
        assert_eq!(
            sources.iter().map(|s| (s.id.as_str(), s.passages)).collect::<Vec<_>>(),
            [("asthma", 2), ("flu", 2)]
        );
        assert!(kb.remove("flu").unwrap());
        assert!(!kb.remove("flu").unwrap());
        assert_eq!(kb.len(), 2);
    }

    #[test]
    fn index_on_disk_reopens_with_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let kb = KnowledgeBase::open(dir.path()).unwrap();
        kb.ingest(&[doc("a", "Asthma", &[("", "Inhalers help.")])]).unwrap();
        drop(kb);
        let kb = KnowledgeBase::open(dir.path()).unwrap();
        assert_eq!(kb.search("inhaler", 1).unwrap()[0].passage.source_id, "a");
    }

    #[test]
    fn idf_weights_rare_terms_higher() {
        let kb = kb();
        let mut a = analyzer();
        let flu = terms(&mut a, "flu")[0].clone();
        let inhaler = terms(&mut a, "inhalers")[0].clone();
        assert!(kb.idf(&inhaler) > kb.idf(&flu), "inhaler is in one passage, flu in two");
        assert!(kb.idf("zzzz-unknown") > kb.idf(&inhaler));
    }
}
