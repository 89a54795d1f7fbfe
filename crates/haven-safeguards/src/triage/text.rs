//! Triage text handling: words with clause numbers, texting shorthand
//! expanded, and misspellings corrected to the rules' vocabulary.

use std::collections::{HashMap, HashSet};

use crate::normalize::normalize;

/// One word of a message and the clause it is in (clauses end at `.`, `!`,
/// `?`, `;`, `,`, a line break, and before "but", "however", "although").
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Word {
    pub text: String,
    pub clause: u32,
}

/// Texting shorthand and contractions, as the words the rules are written in.
const SHORTHAND: &[(&str, &str)] = &[
    ("2day", "today"),
    ("abt", "about"),
    ("b4", "before"),
    ("bc", "because"),
    ("bf", "boyfriend"),
    ("cnt", "cant"),
    ("cud", "could"),
    ("cuz", "because"),
    ("dnt", "dont"),
    ("gf", "girlfriend"),
    ("hr", "hour"),
    ("hrs", "hours"),
    ("hubby", "husband"),
    ("idk", "i dont know"),
    ("im", "i am"),
    ("ive", "i have"),
    ("mins", "minutes"),
    ("mum", "mom"),
    ("n", "and"),
    ("pls", "please"),
    ("plz", "please"),
    ("ppl", "people"),
    ("r", "are"),
    ("rn", "right now"),
    ("tho", "though"),
    ("thru", "through"),
    ("u", "you"),
    ("ur", "your"),
    ("w", "with"),
    ("wk", "week"),
    ("wks", "weeks"),
    ("yr", "year"),
    ("yrs", "years"),
];

/// Words that start a new clause: what follows them is judged on its own.
const CLAUSE_WORDS: &[&str] = &["but", "however", "although", "though", "except", "yet"];

/// Lower-cased, folded words with clause numbers. Apostrophes are dropped
/// ("can't" → "cant"), digits split from letters ("38c" → "38", "c"), and
/// decimal points kept inside numbers.
pub(crate) fn words(text: &str) -> Vec<Word> {
    let folded = normalize(text).text;
    let mut out: Vec<Word> = Vec::new();
    let mut clause = 0u32;
    let mut current = String::new();
    let chars: Vec<char> = folded.chars().collect();
    let flush = |current: &mut String, out: &mut Vec<Word>, clause: &mut u32| {
        if current.is_empty() {
            return;
        }
        let word = std::mem::take(current);
        if CLAUSE_WORDS.contains(&word.as_str()) {
            *clause += 1;
        }
        match SHORTHAND.binary_search_by(|(k, _)| k.cmp(&word.as_str())) {
            Ok(i) => {
                for w in SHORTHAND[i].1.split(' ') {
                    out.push(Word { text: w.to_owned(), clause: *clause });
                }
            }
            Err(_) => out.push(Word { text: word, clause: *clause }),
        }
    };
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|j| chars.get(j)).copied();
        let next = chars.get(i + 1).copied();
        if c.is_alphanumeric() {
            // A change between digits and letters splits a word: "5mg", "38c", "62yo".
            if let Some(last) = current.chars().last()
                && last.is_ascii_digit() != c.is_ascii_digit()
                && last != '.'
            {
                flush(&mut current, &mut out, &mut clause);
            }
            current.push(c);
        } else if c == '.' && prev.is_some_and(|p| p.is_ascii_digit()) && next.is_some_and(|n| n.is_ascii_digit()) {
            current.push(c);
        } else if c == '\'' && prev.is_some_and(char::is_alphanumeric) && next.is_some_and(char::is_alphanumeric) {
            // Dropped: "can't" → "cant", "husband's" → "husbands".
        } else {
            flush(&mut current, &mut out, &mut clause);
            if matches!(c, '.' | '!' | '?' | ';' | ',' | '\n' | ':' | '(' | ')') {
                clause += 1;
            }
        }
    }
    flush(&mut current, &mut out, &mut clause);
    out
}

/// Corrects single-edit misspellings (insertion, deletion, substitution or
/// swap of neighbours) of words of five letters or more to a vocabulary
/// word, with a symmetric-deletion index.
pub(crate) struct Speller {
    vocabulary: HashSet<String>,
    deletions: HashMap<String, Vec<String>>,
}

impl Speller {
    pub fn new(words: impl IntoIterator<Item = String>) -> Self {
        let vocabulary: HashSet<String> = words.into_iter().filter(|w| !w.is_empty()).collect();
        let mut deletions: HashMap<String, Vec<String>> = HashMap::new();
        for w in &vocabulary {
            if w.chars().count() < 5 || !w.chars().all(|c| c.is_ascii_alphabetic()) {
                continue;
            }
            for d in single_deletions(w) {
                deletions.entry(d).or_default().push(w.clone());
            }
            deletions.entry(w.clone()).or_default().push(w.clone());
        }
        for list in deletions.values_mut() {
            list.sort();
            list.dedup();
        }
        Speller { vocabulary, deletions }
    }

    /// The vocabulary word `word` most likely stands for (itself when known or unsure).
    pub fn correct<'a>(&'a self, word: &'a str) -> &'a str {
        if word.len() < 5 || self.vocabulary.contains(word) || !word.chars().all(|c| c.is_ascii_alphabetic()) {
            return word;
        }
        let mut best: Option<&str> = None;
        let mut probe = |key: &str| {
            if let Some(candidates) = self.deletions.get(key) {
                for c in candidates {
                    if osa_distance(word, c) <= 1 && best.is_none_or(|b| c.as_str() < b) {
                        best = Some(c.as_str());
                    }
                }
            }
        };
        probe(word);
        for d in single_deletions(word) {
            probe(&d);
        }
        best.unwrap_or(word)
    }
}

fn single_deletions(word: &str) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    (0..chars.len()).map(|i| chars.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, c)| *c).collect()).collect()
}

/// Optimal string alignment distance (Levenshtein plus swaps of neighbours).
fn osa_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<String> {
        words(s).into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn shorthand_is_sorted() {
        assert!(SHORTHAND.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn splits_words_and_clauses() {
        assert_eq!(
            texts("I can't breathe!! temp 101.5F, u ok?"),
            ["i", "cant", "breathe", "temp", "101.5", "f", "you", "ok"]
        );
        let w = words("No chest pain, but my arm is numb");
        assert_eq!(w[0].clause, w[2].clause);
        assert!(w[3].clause > w[2].clause);
        assert!(w[4].clause > w[2].clause, "but starts a clause");
        assert_eq!(w[4].clause, w[3].clause);
        assert_eq!(texts("my 6wk old"), ["my", "6", "wk", "old"].map(|s| if s == "wk" { "week" } else { s }));
    }

    #[test]
    fn corrects_single_edits_only() {
        let s = Speller::new(["breathing", "unconscious", "seizure", "chest", "stroke"].map(String::from));
        assert_eq!(s.correct("brething"), "breathing");
        assert_eq!(s.correct("unconsious"), "unconscious");
        assert_eq!(s.correct("siezure"), "seizure");
        assert_eq!(s.correct("cheest"), "chest");
        assert_eq!(s.correct("strokes"), "stroke");
        assert_eq!(s.correct("stork"), "stork", "short words are left alone");
        assert_eq!(s.correct("sneezing"), "sneezing");
        assert_eq!(osa_distance("abcd", "acbd"), 1);
    }
}
