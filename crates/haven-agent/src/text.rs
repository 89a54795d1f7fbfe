//! Plain-text helpers shared by ingestion and the answerer: sentence
//! boundaries, whitespace clean-up and passage splitting. Pure functions.

/// Abbreviations after which a period does not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "dr", "mr", "mrs", "ms", "prof", "st", "vs", "etc", "e.g", "i.e", "approx", "no", "fig", "inc", "jr", "sr", "dept",
    "u.s", "mg", "ml", "min", "max", "est", "al",
];

/// Collapses runs of whitespace to one space and trims the ends.
pub fn squash_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Byte ranges of the sentences of `text`, trimmed, in order. A sentence
/// ends at `.`, `!` or `?` followed by whitespace and a capital letter, a
/// digit or an opening quote/bracket, unless the word before the period is
/// a known abbreviation or a single letter (an initial); a line break
/// followed by a list marker or a blank line also ends one.
pub fn sentences(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let boundary = match c {
            b'.' | b'!' | b'?' => {
                // Take closing quotes/brackets with the sentence.
                let mut j = i + 1;
                while j < bytes.len() && matches!(bytes[j], b'"' | b'\'' | b')' | b']') {
                    j += 1;
                }
                if j < bytes.len() && bytes[j].is_ascii_whitespace() {
                    let mut k = j;
                    while k < bytes.len() && bytes[k].is_ascii_whitespace() {
                        k += 1;
                    }
                    let next_ok = k >= bytes.len()
                        || bytes[k].is_ascii_uppercase()
                        || bytes[k].is_ascii_digit()
                        || matches!(bytes[k], b'"' | b'(' | b'[' | b'-' | b'*' | 0xE2);
                    if next_ok && !(c == b'.' && ends_with_abbreviation(&text[start..i])) { Some(j) } else { None }
                } else if j >= bytes.len() {
                    Some(j)
                } else {
                    None
                }
            }
            b'\n' => {
                // A blank line, or a new list item, starts a new sentence.
                let mut k = i + 1;
                while k < bytes.len() && matches!(bytes[k], b' ' | b'\t' | b'\r') {
                    k += 1;
                }
                if k < bytes.len() && (bytes[k] == b'\n' || matches!(bytes[k], b'-' | b'*' | 0xE2)) {
                    Some(i)
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some(end) = boundary {
            push_trimmed(text, start, end, &mut out);
            start = end;
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    push_trimmed(text, start, bytes.len(), &mut out);
    out
}

fn push_trimmed(text: &str, start: usize, end: usize, out: &mut Vec<(usize, usize)>) {
    let Some(slice) = text.get(start..end) else { return };
    let lead = slice.len() - slice.trim_start().len();
    let trimmed = slice.trim();
    // Lines that are only list markers or punctuation are not sentences.
    if trimmed.chars().any(char::is_alphanumeric) {
        let s = start + lead;
        out.push((s, s + trimmed.len()));
    }
}

fn ends_with_abbreviation(before: &str) -> bool {
    let word = before.rsplit(|c: char| c.is_whitespace() || c == '(').next().unwrap_or("");
    let word = word.trim_start_matches(|c: char| !c.is_alphanumeric());
    if word.chars().count() == 1 && word.chars().all(|c| c.is_alphabetic()) {
        return true;
    }
    let lower = word.to_ascii_lowercase();
    ABBREVIATIONS.contains(&lower.as_str())
}

/// Splits a section's text into passages of about `target_words` words at
/// sentence boundaries (never splitting a sentence), so that a search hit
/// points at a span a reader can check and an answer can quote.
pub fn passages(text: &str, target_words: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut words = 0;
    for (s, e) in sentences(text) {
        let sentence = squash_whitespace(&text[s..e]);
        let n = sentence.split(' ').count();
        if words > 0 && words + n > target_words {
            out.push(std::mem::take(&mut current));
            words = 0;
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(&sentence);
        words += n;
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn split(t: &str) -> Vec<&str> {
        sentences(t).into_iter().map(|(s, e)| &t[s..e]).collect()
    }

    #[test]
    fn sentences_respect_abbreviations_and_initials() {
        assert_eq!(
            split("Dr. Smith saw the patient. It went well! Was it? Yes."),
            ["Dr. Smith saw the patient.", "It went well!", "Was it?", "Yes."]
        );
        assert_eq!(
            split("Take 5 mg. daily, e.g. with food. Then rest."),
            ["Take 5 mg. daily, e.g. with food.", "Then rest."]
        );
        assert_eq!(split("J. R. Smith wrote it. Done"), ["J. R. Smith wrote it.", "Done"]);
        assert_eq!(split("Version 2.5 is out. 3 people agree."), ["Version 2.5 is out.", "3 people agree."]);
    }

    #[test]
    fn list_items_and_blank_lines_split() {
        assert_eq!(
            split("Symptoms include:\n- fever\n- cough\n\nSee a doctor"),
            ["Symptoms include:", "- fever", "- cough", "See a doctor"]
        );
    }

    #[test]
    fn passages_keep_sentences_whole() {
        let text = "One two three. Four five six. Seven eight nine. Ten.";
        assert_eq!(passages(text, 6), ["One two three. Four five six.", "Seven eight nine. Ten."]);
        assert_eq!(
            passages("A very long sentence with many words in it.", 3),
            ["A very long sentence with many words in it."]
        );
        assert!(passages("  \n ", 10).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn sentences_are_in_bounds_ordered_and_on_char_boundaries(t in "\\PC{0,300}") {
            let mut last = 0;
            for (s, e) in sentences(&t) {
                proptest::prop_assert!(s >= last && s < e && e <= t.len());
                proptest::prop_assert!(t.is_char_boundary(s) && t.is_char_boundary(e));
                last = e;
            }
        }
    }
}
