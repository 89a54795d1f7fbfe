//! Haven's agent safeguards: separate, testable checks that every turn of the
//! healthcare agent passes through. Each returns a [`Check`] (a verdict, a
//! score and a reason that never quotes the input).
//!
//! - [`triage`]: red-flag symptoms that escalate at once (call 911, 988,
//!   Poison Control), and a disposition for a symptom description.
//! - [`injection`]: prompt-injection, jailbreak and abuse detection for user
//!   messages, retrieved passages and tool results.
//! - [`evidence`]: whether each sentence of a reply is supported by the
//!   source spans it cites.
//! - [`disclaimer`]: the disclaimer clinical content must carry.
//! - [`limits`]: input length limits.
//! - [`normalize`]: the text folding the injection check relies on.
//! - [`corpus`]: the labelled public corpora and their train/held-out split,
//!   for evaluation and training (parsers only; the caller reads the files).
//!
//! Everything here is a pure function of its input and of data embedded at
//! compile time: no file, network or clock access, no logging.

pub mod check;
pub mod corpus;
pub mod disclaimer;
pub mod evidence;
pub mod injection;
pub mod limits;
pub mod normalize;
pub mod triage;

pub use check::{Check, Verdict, worst_verdict};
