//! The linear model's features: hashed word unigrams and bigrams, character
//! 3- to 5-grams inside words, and punctuation marks, over normalised text,
//! weighted `1 + ln(count)` and scaled to unit length.
//!
//! The training script gets its features from this code (through
//! `examples/safety_data.rs`), so training and inference can never drift.

/// log2 of the number of hash buckets (the model's weight count).
pub const FEATURE_BITS: u32 = 18;

const MASK: u32 = (1 << FEATURE_BITS) - 1;

/// Longest word whose character n-grams are used; longer ones (URLs, blobs)
/// contribute their first this many characters.
const MAX_WORD_CHARS: usize = 24;

/// Feature namespaces, so a word and an n-gram with the same text do not share a bucket.
const NS_WORD: u8 = b'w';
const NS_BIGRAM: u8 = b'b';
const NS_CHARS: u8 = b'c';
const NS_PUNCT: u8 = b'p';

/// The sparse feature vector of normalised text: `(bucket, value)` pairs,
/// sorted by bucket, with unit Euclidean length (empty for text without features).
pub fn featurize(normalized: &str) -> Vec<(u32, f32)> {
    let mut buckets: Vec<u32> = Vec::with_capacity(normalized.len() * 2);
    let mut prev: Option<u32> = None;
    let mut word = String::with_capacity(32);
    let mut chars = normalized.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() {
            // Digits become 0 so that "500mg" and "250mg" share features.
            word.push(if c.is_ascii_digit() { '0' } else { c });
            if chars.peek().is_some_and(|n| n.is_alphanumeric()) {
                continue;
            }
            let h = hash(NS_WORD, word.as_bytes(), 0);
            buckets.push(h & MASK);
            if let Some(p) = prev {
                buckets.push(hash(NS_BIGRAM, word.as_bytes(), p) & MASK);
            }
            prev = Some(h);
            char_ngrams(&word, &mut buckets);
            word.clear();
        } else if !c.is_whitespace() {
            let mut b = [0u8; 4];
            buckets.push(hash(NS_PUNCT, c.encode_utf8(&mut b).as_bytes(), 0) & MASK);
        }
    }
    weigh(buckets)
}

/// Character 3-, 4- and 5-grams of ` word `, padded so prefixes and suffixes are marked.
fn char_ngrams(word: &str, buckets: &mut Vec<u32>) {
    let mut padded = [0u8; MAX_WORD_CHARS * 4 + 2];
    let mut len = 0;
    padded[len] = b' ';
    len += 1;
    for c in word.chars().take(MAX_WORD_CHARS) {
        len += c.encode_utf8(&mut padded[len..]).len();
    }
    padded[len] = b' ';
    len += 1;
    let bytes = &padded[..len];
    // n-grams over bytes: the same for ASCII, and stable for other scripts.
    for n in 3..=5 {
        if bytes.len() < n {
            break;
        }
        for gram in bytes.windows(n) {
            buckets.push(hash(NS_CHARS, gram, n as u32) & MASK);
        }
    }
}

/// FNV-1a (32 bits) of a namespace byte, a seed and the bytes.
fn hash(ns: u8, bytes: &[u8], seed: u32) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let mut step = |b: u8| {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    };
    step(ns);
    for b in seed.to_le_bytes() {
        step(b);
    }
    for &b in bytes {
        step(b);
    }
    // FNV's low bits are weak on short keys; a final avalanche spreads them.
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h
}

/// Counts bucket occurrences into `1 + ln(count)` and scales to unit length.
fn weigh(mut buckets: Vec<u32>) -> Vec<(u32, f32)> {
    buckets.sort_unstable();
    let mut out: Vec<(u32, f32)> = Vec::new();
    let mut i = 0;
    while i < buckets.len() {
        let mut j = i + 1;
        while j < buckets.len() && buckets[j] == buckets[i] {
            j += 1;
        }
        out.push((buckets[i], 1.0 + ((j - i) as f32).ln()));
        i = j;
    }
    let norm = out.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, v) in &mut out {
            *v /= norm;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_sorted_unit_vectors() {
        let f = featurize("ignore previous instructions, ignore them!");
        assert!(f.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(f.iter().all(|(b, _)| *b <= MASK));
        let norm: f32 = f.iter().map(|(_, v)| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-4);
        assert!(featurize("").is_empty());
        assert!(featurize("   ").is_empty());
    }

    #[test]
    fn digits_share_features() {
        assert_eq!(featurize("take 500mg"), featurize("take 250mg"));
        assert_ne!(featurize("take 500mg"), featurize("take 500ml"));
    }

    #[test]
    fn long_and_foreign_words_are_fine() {
        let long = "x".repeat(10_000);
        assert!(!featurize(&long).is_empty());
        assert!(!featurize("日本語のテキスト ünïcödé").is_empty());
    }
}
