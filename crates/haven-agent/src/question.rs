//! What aspect of a topic a question asks about ("symptoms of gout",
//! "how is gout treated"), so retrieval can prefer the section written
//! about that aspect. Pure, pattern-based and documented: health content
//! is organised by these aspects (MedlinePlus, NIH, NHS pages alike).

/// The aspect of a health topic a question asks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aspect {
    /// What it is ("what is gout", "tell me about gout").
    Definition,
    /// Symptoms and signs.
    Symptoms,
    /// Causes and triggers.
    Causes,
    /// Treatment and management.
    Treatment,
    /// Prevention.
    Prevention,
    /// Who is at risk.
    Risk,
    /// Diagnosis, exams and tests.
    Diagnosis,
    /// Outlook and prognosis.
    Outlook,
    /// Complications.
    Complications,
    /// Research and clinical trials.
    Research,
    /// How common it is.
    Frequency,
    /// What to do: self-care, diet and nutrition.
    SelfCare,
    /// Genetics and inheritance.
    Genetics,
}

/// Question phrasings per aspect (lower case, matched at word starts in the
/// lower-cased question). The aspect whose phrasing comes first in the
/// question wins (people lead with what they ask: "what to do for kidney
/// failure treatment" asks what to do); the definition counts only when no
/// other aspect is named. Ties go to the earlier entry here.
const PATTERNS: &[(Aspect, &[&str])] = &[
    (Aspect::Research, &["research", "clinical trial", "studies", "being done for"]),
    (Aspect::Frequency, &["how many people", "how common", "prevalence", "how often does"]),
    (Aspect::Complications, &["complication"]),
    (Aspect::Genetics, &["inherit", "genetic", "genes", "run in families", "hereditary"]),
    (Aspect::Symptoms, &["symptom", "signs", "sign of", "feel like", "what happens"]),
    (Aspect::Causes, &["cause", "why do", "why does", "reason for", "trigger"]),
    (Aspect::Prevention, &["prevent", "avoid getting", "reduce the risk", "lower my risk", "protect"]),
    (Aspect::Risk, &["at risk", "who gets", "who can get", "risk factor", "susceptib", "more likely"]),
    (Aspect::Diagnosis, &["diagnos", "test for", "tested for", "exam", "detect", "screen"]),
    (Aspect::Treatment, &["treat", "therap", "cure", "medication for", "medicine for", "manage", "get rid of"]),
    (Aspect::Outlook, &["outlook", "prognosis", "life expectancy", "survival", "recover"]),
    (Aspect::SelfCare, &["what to do", "what should i do", "what can i do", "diet", "eat", "nutrition"]),
    (
        Aspect::Definition,
        &["what is", "what are", "what's", "information about", "tell me about", "what does", "define", "meaning of"],
    ),
];

/// Words of a section heading that say it is about each aspect.
const HEADINGS: &[(Aspect, &[&str])] = &[
    (Aspect::Definition, &["overview", "what is", "what are", "about", "introduction", "definition", "summary"]),
    (Aspect::Symptoms, &["symptom", "sign"]),
    (Aspect::Causes, &["cause"]),
    (Aspect::Treatment, &["treat", "therap", "manag"]),
    (Aspect::Prevention, &["prevent"]),
    (Aspect::Risk, &["risk", "who is at", "who gets"]),
    (Aspect::Diagnosis, &["diagnos", "exam", "test"]),
    (Aspect::Outlook, &["outlook", "prognos"]),
    (Aspect::Complications, &["complication"]),
    (Aspect::Research, &["research", "trial"]),
    (Aspect::Frequency, &["how common", "frequen", "how many"]),
    (Aspect::SelfCare, &["consideration", "diet", "nutrition", "eating", "self-care", "what to do", "living with"]),
    (Aspect::Genetics, &["inherit", "genetic", "gene"]),
];

/// The aspect a question asks about, if its wording says.
pub fn aspect(question: &str) -> Option<Aspect> {
    let q = question.to_lowercase();
    let mut best: Option<(usize, Aspect)> = None;
    for (aspect, pats) in PATTERNS {
        if *aspect == Aspect::Definition {
            continue;
        }
        if let Some(at) = pats.iter().filter_map(|p| word_start(&q, p)).min()
            && best.is_none_or(|(b, _)| at < b)
        {
            best = Some((at, *aspect));
        }
    }
    best.map(|(_, a)| a).or_else(|| {
        PATTERNS
            .iter()
            .filter(|(a, _)| *a == Aspect::Definition)
            .any(|(_, pats)| pats.iter().any(|p| word_start(&q, p).is_some()))
            .then_some(Aspect::Definition)
    })
}

/// Whether a section heading is about `aspect`.
pub fn heading_matches(aspect: Aspect, heading: &str) -> bool {
    let h = heading.to_lowercase();
    HEADINGS.iter().filter(|(a, _)| *a == aspect).any(|(_, words)| words.iter().any(|w| h.contains(w)))
}

/// Where `needle` first occurs in `hay` at a word start ("eat" in "what to
/// eat", not in "treat"; "cause" in "causes", not in "because").
fn word_start(hay: &str, needle: &str) -> Option<usize> {
    hay.match_indices(needle)
        .map(|(i, _)| i)
        .find(|&i| i == 0 || !hay[..i].chars().next_back().is_some_and(char::is_alphanumeric))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aspects_of_common_questions() {
        for (q, a) in [
            ("What is (are) Gout ?", Some(Aspect::Definition)),
            ("Tell me about asthma", Some(Aspect::Definition)),
            ("What are the symptoms of gout?", Some(Aspect::Symptoms)),
            ("what are the signs of a stroke", Some(Aspect::Symptoms)),
            ("What causes Cirrhosis ?", Some(Aspect::Causes)),
            ("How is gout treated?", Some(Aspect::Treatment)),
            ("What are the treatments for COPD ?", Some(Aspect::Treatment)),
            ("How to prevent the flu ?", Some(Aspect::Prevention)),
            ("Who is at risk for Heart Attack? ?", Some(Aspect::Risk)),
            ("How to diagnose Anemia ?", Some(Aspect::Diagnosis)),
            ("What is the outlook for Porphyria ?", Some(Aspect::Outlook)),
            ("What to do for Celiac Disease ?", Some(Aspect::SelfCare)),
            ("what research (or clinical trials) is being done for Gaucher Disease ?", Some(Aspect::Research)),
            ("How many people are affected by gout ?", Some(Aspect::Frequency)),
            ("Is gout inherited ?", Some(Aspect::Genetics)),
            ("What to do for Kidney Failure: Choosing a Treatment ?", Some(Aspect::SelfCare)),
            ("What are the treatments for Prevent diabetes problems ?", Some(Aspect::Treatment)),
            ("gout", None),
            ("I have a headache because of stress", None),
        ] {
            assert_eq!(aspect(q), a, "{q}");
        }
    }

    #[test]
    fn headings() {
        assert!(heading_matches(Aspect::Treatment, "Treatment"));
        assert!(heading_matches(Aspect::Symptoms, "Signs and Symptoms"));
        assert!(heading_matches(Aspect::Definition, "Overview"));
        assert!(!heading_matches(Aspect::Treatment, "Causes"));
    }
}
