//! Haven's healthcare agent: the organisation's knowledge base (full-text,
//! BM25 over passages), the offline extractive answerer, and the pieces a
//! conversation turn is made of.

pub mod answer;
pub mod eval;
pub mod extract;
pub mod ingest;
pub mod kb;
pub mod llm;
pub mod question;
pub mod scenario;
pub mod text;
pub mod turn;

pub use answer::{Answer, AnswerConfig, Answerer, Citation, DONT_KNOW};
pub use kb::{Hit, IngestReport, KbError, KnowledgeBase, Passage, SourceInfo};
