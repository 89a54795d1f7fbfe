//! The compiled pattern pass: one regular expression whose alternatives are
//! the structured identifier forms (emails, URLs, IPs, phone numbers, SSNs,
//! dates, ages, street addresses, facilities, labelled identifiers, ...).
//!
//! One expression, not one per type: the lazy DFA then reads the text once
//! for all of them, and the (slower) capture engine only runs on the rare
//! matched stretch to learn which alternative fired. Word boundaries are
//! ASCII (`(?-u:\b)`) because a Unicode `\b` makes the DFA give up on the
//! first non-ASCII byte.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::OnceLock;

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, MatchKind};

/// `\b` that keeps the lazy DFA usable on non-ASCII text.
const B: &str = r"(?-u:\b)";

const MONTH: &str = r"(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)";

/// A label word or phrase naming the identifier that follows (case-insensitive).
/// Longer phrases come first: the first alternative that matches wins.
const ID_LABELS: &str = r"(?i:medical\s+record(?:\s+(?:number|no\.?|num|#))?|med(?:ical)?\s+rec(?:ord)?\s*#|mrn|mr\s*#|chart\s+(?:number|no\.?|#)|patient\s+(?:id|identifier|number|no\.?|#)|hospital\s+(?:number|no\.?|#)|unit\s+(?:number|no\.?)|member\s+(?:id|number|no\.?|#)|subscriber\s+(?:id|number|no\.?|#)|policy\s+(?:id|number|no\.?|#)|insurance\s+(?:id|number|no\.?|#)|group\s+(?:id|number|no\.?|#)|medicaid(?:\s+(?:id|number|no\.?|#))?|medicare(?:\s+(?:beneficiary\s+identifier|id|number|no\.?|#))?|mbi|health\s+plan(?:\s+(?:id|number|no\.?|#))?|beneficiary\s+(?:id|number|no\.?|#)|plan\s+(?:id|number|#)|account(?:\s+(?:number|no\.?|#))?|acct\.?(?:\s*(?:number|no\.?|#))?|billing\s+(?:number|no\.?|#|id)|financial\s+(?:number|no\.?|#)|card\s+(?:number|no\.?|#)|credit\s+card|bank\s+account|vin|vehicle\s+(?:identification\s+number|id|number)|licen[cs]e\s+plate(?:\s+(?:number|no\.?|#))?|plate\s+(?:number|no\.?|#)|(?:driver'?s?\s+)?licen[cs]e(?:\s+(?:number|no\.?|#))?|dl\s*#|dea(?:\s+(?:number|no\.?|#))?|npi(?:\s+(?:number|no\.?|#))?|certificate(?:\s+(?:number|no\.?|#))?|cert\.?\s*#|upin|serial(?:\s+(?:number|no\.?|#))?|s/n|device\s+(?:id|identifier|serial|number|no\.?|#)|udi|implant\s+(?:id|serial|number)|model\s+(?:number|no\.?|#)|lot(?:\s+(?:number|no\.?|#))?|ssn|social\s+security(?:\s+(?:number|no\.?|#))?|ss#|case\s+(?:id|number|no\.?|#)|accession(?:\s+(?:number|no\.?|#))?|specimen(?:\s+(?:id|number|no\.?|#))?|order\s+(?:id|number|no\.?|#)|claim\s+(?:id|number|no\.?|#)|passport(?:\s+(?:number|no\.?|#))?|encounter\s+(?:id|number|no\.?|#)|visit\s+(?:id|number|no\.?|#)|reference\s+(?:number|no\.?|#)|confirmation\s+(?:number|no\.?|#)|employee\s+(?:id|number|no\.?|#)|badge\s+(?:number|no\.?|#)|(?:study|subject|participant)\s+id|tracking\s+(?:number|no\.?|#)|identifier|id)";

const PHONE_LABELS: &str = r"(?i:phone|telephone|tel|cell(?:\s+phone)?|mobile|pager|beeper|fax|facsimile|desk|call\s+(?:me\s+)?(?:at|on)|reach(?:ed)?\s+(?:me\s+|him\s+|her\s+|them\s+)?(?:at|on)|answering\s+at|messages?\s+to|registered|contact\s+(?:number|no\.?)|number\s+is)";

const STREET_SUFFIX: &str = r"(?i:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|way|terrace|ter|circle|cir|parkway|pkwy|highway|hwy|square|sq|trail|trl|loop|row|pike|alley|crossing|plaza|heights|hts|ridge|run|point|park|gardens|mews|crescent|expressway|freeway|turnpike|gateway|isle|island|greens?|mall|club|mills?|coves?|pass|bridge|brook|creek|crest|glen|grove|harbou?r|hills?|hollow|junction|knoll|lakes?|landing|manor|meadows?|orchard|path|port|ranch|shores?|springs?|summit|trace|valley|view|village|vista|walk|close|estates?|fields?|wharf|bypass|causeway|centre)";

const FACILITY: &str = r"(?i:hospital|medical\s+cent(?:er|re)|health\s+cent(?:er|re)|health\s+system|healthcare|health\s+care|clinic|infirmary|nursing\s+home|rehabilitation\s+cent(?:er|re)|rehab\s+cent(?:er|re)|surgery\s+cent(?:er|re)|surgical\s+cent(?:er|re)|care\s+cent(?:er|re)|urgent\s+care|hospice|sanatorium|medical\s+group|health|memorial|pharmacy|associates|partners|physicians)";

/// A Latin letter, with the accented letters of European languages, as
/// bytes (the set compiles without Unicode, see [`bytes`]): an ASCII letter
/// or any two-byte letter from À to ɏ (lead bytes C3 to C9).
const L: &str = r"(?:[A-Za-z]|[\xC3-\xC9][\x80-\xBF])";
/// A Latin capital: an ASCII capital or, as bytes cannot tell the case of
/// an accented letter, any accented letter of [`L`].
const LU: &str = r"(?:[A-Z]|[\xC3-\xC9][\x80-\xBF])";
/// A street word: a capitalised word (with ’ or ' inside), or a particle
/// ("de", "da", "del").
const STREET_WORD: &str = r"(?:(?:[A-Z]|[\xC3-\xC9][\x80-\xBF])(?:[A-Za-z'.-]|[\xC3-\xC9][\x80-\xBF]|\xE2\x80\x99)*|(?:de|do|da|dos|das|del|della|delle|degli|dei|di|des|du|la|le|les|von|van|der|den|e|y|i)(?-u:\b))";

/// Words that begin a street name in languages that put the type first
/// ("Rua Igreja 25", "ul. Słowicza 10", "Rue de Piétrain 371").
const STREET_PREFIX: &str = r"(?:Rua|RUA|rua|Rue|RUE|rue|Via|VIA|Viale|Piazza|Piazzale|Corso|Largo|Avenida|Avda\.|Av\.|Calle|Carrer|Camino|Paseo|Plaza|Travessa|Praça|Praca|ul\.|Ul\.|ulica|Ulica|al\.|Al\.|Aleja|Plac|Odos|Strada|Chaussée|Chemin|Allée|Impasse|Quai|Cesta|Trg|Ulitsa|Avinguda|Rambla)";

/// Endings of street names in languages that glue the type to the name
/// ("Loorenstrasse 149", "Præstevænget 15", "Kiannonkatu 98"). They are
/// found by [`crate::detect`]'s glued-street pass, not by the expression: an
/// ending that may start at any letter of any capitalised word made the
/// lazy DFA track every word's suffixes (without it, the scan's first pass
/// over the general-PII sentences took 43% less time). Street words written apart ("Trenerys gate 232", "Erzsébet tér
/// 19.") stay in the expression.
pub(crate) const GLUED_STREET_ENDINGS: [&str; 47] = [
    "strasse", "straße", "str.", "weg", "gasse", "platz", "allee", "damm", "ufer", "laan", "straat", "gracht", "plein",
    "dijk", "kade", "singel", "steeg", "vej", "gade", "vænget", "stræde", "gatan", "vägen", "gata", "väg", "gränd",
    "backe", "stigen", "veien", "vei", "vegen", "gate", "gaten", "stien", "tie", "katu", "kuja", "polku", "väylä",
    "tee", "utca", "útja", "braut", "stræti", "straeti", "vegur", "stígur",
];
const STREET_APART: &str =
    r"(?:gate|gata|tee|kapu|u\.|tér|utca|útja|út|vej|gade|straße|strasse|weg|laan|straat|tie|katu|ulica)";

/// The kinds of phone number written after it ("555 0123 office").
const PHONE_KINDS: &str = r"(?:office|fax|mobile|cell|home|work)";

/// Countries written before a postal code at the end of an address.
const COUNTRIES: &str = r"(?:Austria|Belgium|Brazil|Bulgaria|Canada|Croatia|Cyprus|Czech Republic|Czechia|Denmark|Estonia|Finland|France|Germany|Greece|Greenland|Greenlander|Hungary|Iceland|Ireland|Italy|Latvia|Lithuania|Luxembourg|Mexico|Netherlands|New Zealand|Norway|Poland|Portugal|Romania|Slovakia|Slovenia|Spain|Sweden|Switzerland|Tunisia|United Kingdom|Uruguay|Argentina|Australia|Japan|India|Israel|Turkey)";

/// Which alternative of the pattern set matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Alt {
    Email,
    Url,
    Domain,
    Ipv4,
    Ipv6,
    LabelledPhone,
    LabelledId,
    Ssn,
    DateIso,
    DateNumeric,
    DateDots,
    DateMonthFirst,
    DateDayFirst,
    DateMonthYear,
    DateMonthDay,
    MonthAlone,
    AgeYears,
    AgeAged,
    Street,
    StreetPrefix,
    StreetEnding,
    Military,
    AddressLine,
    AddressContext,
    CityPostal,
    StreetNamed,
    PostalLabel,
    PostalCountry,
    PoBox,
    Unit,
    Facility,
    County,
    Card,
    Iban,
    Phone,
    PhoneTrailing,
    PhoneIntl,
    Zip,
    Dea,
    Vin,
    LongNumber,
    AlnumId,
}

/// The compiled pattern set: one multi-pattern lazy DFA for the scan,
/// which reports where a match ends and which alternative matched; a small
/// reverse lazy DFA per alternative, which finds where that match starts;
/// and each alternative on its own for its capture groups.
///
/// One reverse DFA for the whole set (what a multi-pattern `meta::Regex`
/// builds) has as many states to build as the forward one, on every new
/// kind of text; per alternative, the reverse DFAs stay small. Capture
/// groups on the combined expression would run a capture engine whose cost
/// grows with the whole expression for every match; the per-alternative
/// expressions run anchored on the matched stretch only.
pub(crate) struct Patterns {
    fwd: DFA,
    rev: Vec<DFA>,
    /// The alternative (index into `alts`) of each scan pattern.
    scanned: Vec<usize>,
    /// The alternative (index into `alts`) of each entry of [`KEYED`].
    keyed: Vec<usize>,
    /// The scan's patterns, for [`Patterns::one_regex`].
    scan: Vec<String>,
    /// The same set as one regex, built only should a lazy DFA give up (it
    /// is configured never to; this keeps results exact if it did).
    re: OnceLock<Option<regex_automata::meta::Regex>>,
    pub alts: Vec<(Alt, regex_automata::meta::Regex)>,
    /// Per alternative, its [`parts`] as anchored lazy DFAs (none for most).
    parts: Vec<Vec<(&'static str, DFA)>>,
}

/// The groups of one match, found by [`Patterns::groups`]: (name, start, end).
pub(crate) struct Groups {
    spans: [(&'static str, usize, usize); MAX_PARTS],
}

/// The most parts an alternative is cut into (checked when the patterns are built).
const MAX_PARTS: usize = 3;

impl Groups {
    /// The span of group `name`, if the alternative has it.
    pub fn get(&self, name: &str) -> Option<(usize, usize)> {
        self.spans.iter().find(|(g, _, _)| !g.is_empty() && *g == name).map(|&(_, a, b)| (a, b))
    }
}

/// One thread's lazy-DFA caches for the scan.
struct ScanCache {
    fwd: Cache,
    rev: Vec<Cache>,
    parts: Vec<Vec<Cache>>,
}

thread_local! {
    static SCAN_CACHE: RefCell<Option<ScanCache>> = const { RefCell::new(None) };
}

impl Patterns {
    /// Every match of the set in `text`, leftmost-first and non-overlapping,
    /// as (alternative index, start, end) - what one alternation would find.
    /// Keyed alternatives ([`KEYED`]) are not scanned: see
    /// [`Patterns::keyed_match`].
    #[cfg(test)]
    pub fn matches(&self, text: &str) -> Vec<(usize, usize, usize)> {
        let mut found = Vec::new();
        self.matches_into(text, &mut found);
        found
    }

    /// [`Patterns::matches`] into `found` (cleared first), whose allocation
    /// is reused from text to text.
    pub fn matches_into(&self, text: &str, found: &mut Vec<(usize, usize, usize)>) {
        found.clear();
        SCAN_CACHE.with(|slot| match slot.try_borrow_mut() {
            Ok(mut slot) => {
                let cache = slot.get_or_insert_with(|| self.cache());
                self.scan(cache, text, found)
            }
            // Re-entered on this thread: a fresh cache for this call.
            Err(_) => self.scan(&mut self.cache(), text, found),
        });
        for m in found.iter_mut() {
            m.0 = self.scanned.get(m.0).copied().unwrap_or(usize::MAX);
        }
    }

    /// The match of keyed alternative `j` (an index into [`KEYED`]) that
    /// holds its trigger word at `ks..ke`, if any, as (alternative index,
    /// start, end). The alternative's own expression runs on a window
    /// around the word, leftmost-first as the scan would.
    ///
    /// `from` carries the search across calls for one text, words in
    /// order: where the last search of this alternative stopped (0 at
    /// first). A window that begins before it resumes there instead of
    /// reading the same bytes again, so street types every few words on one
    /// line cost one pass, not one per word.
    pub fn keyed_match(
        &self,
        text: &str,
        j: usize,
        ks: usize,
        ke: usize,
        from: &mut usize,
    ) -> Option<(usize, usize, usize)> {
        let (k, key) = (*self.keyed.get(j)?, KEYED.get(j)?);
        let (_, re) = self.alts.get(k)?;
        if key.digit_within > 0 {
            let near = match key.trigger {
                Trigger::Last => text.as_bytes().get(ks.saturating_sub(key.digit_within)..ks),
                Trigger::First | Trigger::NearFirst => {
                    text.as_bytes().get(ke..ke.saturating_add(key.digit_within).min(text.len()))
                }
            };
            if !near.is_some_and(|b| b.iter().any(u8::is_ascii_digit)) {
                return None;
            }
        }
        let (before, after, anchored) = match key.trigger {
            Trigger::First => (0, 400, Anchored::Yes),
            Trigger::NearFirst => (16, 400, Anchored::No),
            Trigger::Last => (200, 200, Anchored::No),
        };
        let mut ws = floor_char(text, ks.saturating_sub(before));
        if anchored == Anchored::No {
            // No match of this alternative starts between the earlier
            // window's start and `from` but those already read.
            if *from > ks {
                return None;
            }
            ws = ws.max(*from);
        }
        let we = ceil_char(text, ke.saturating_add(after).min(ks.saturating_add(KEYED_REACH)).min(text.len()));
        let input = Input::new(text).range(ws..we).anchored(anchored);
        for m in re.find_iter(input) {
            if m.start() > ks {
                // Read again from its start next time: the window's end
                // may have cut it short.
                *from = m.start();
                return None;
            }
            *from = m.end();
            if m.end() >= ke {
                return Some((k, m.start(), m.end()));
            }
        }
        *from = (*from).max(ks);
        None
    }

    /// The groups of alternative `k`'s match at `s..e`, for an alternative
    /// cut into [`parts`]: each part's leftmost-first match, anchored where
    /// the one before it ended. A backtracking capture engine tries paths in
    /// the same order and takes the first that gets through every part, so
    /// when these matches reach `e` exactly its groups are these. `None`
    /// otherwise (the caller runs the capture engine): an alternative
    /// without parts, a part that does not match there, or an end short of
    /// `e` (a later part needed an earlier one to give back).
    ///
    /// A lazy DFA per part costs a few hundred instructions where the
    /// capture engine on the whole expression cost some thousands.
    pub fn groups(&self, k: usize, text: &str, s: usize, e: usize) -> Option<Groups> {
        let parts = self.parts.get(k).filter(|p| !p.is_empty())?;
        SCAN_CACHE.with(|slot| {
            let mut slot = slot.try_borrow_mut().ok()?;
            let cache = slot.get_or_insert_with(|| self.cache());
            let caches = cache.parts.get_mut(k)?;
            let mut out = Groups { spans: [("", 0, 0); MAX_PARTS] };
            let mut at = s;
            for ((name, dfa), (c, span)) in parts.iter().zip(caches.iter_mut().zip(out.spans.iter_mut())) {
                let input = Input::new(text).range(at..e).anchored(Anchored::Yes);
                let end = dfa.try_search_fwd(c, &input).ok()??.offset();
                *span = (name, at, end);
                at = end;
            }
            (at == e).then_some(out)
        })
    }

    fn cache(&self) -> ScanCache {
        ScanCache {
            fwd: self.fwd.create_cache(),
            rev: self.rev.iter().map(DFA::create_cache).collect(),
            parts: self.parts.iter().map(|ps| ps.iter().map(|(_, d)| d.create_cache()).collect()).collect(),
        }
    }

    fn scan(&self, cache: &mut ScanCache, text: &str, out: &mut Vec<(usize, usize, usize)>) {
        let mut at = 0;
        while at < text.len() {
            let found = self.fwd.try_search_fwd(&mut cache.fwd, &Input::new(text).range(at..)).and_then(|hm| {
                let Some(hm) = hm else { return Ok(None) };
                let (k, end) = (hm.pattern().as_usize(), hm.offset());
                let (Some(rev), Some(rc)) = (self.rev.get(k), cache.rev.get_mut(k)) else { return Ok(None) };
                let back = Input::new(text).range(at..end).anchored(Anchored::Yes);
                Ok(rev.try_search_rev(rc, &back)?.map(|start| (k, start.offset(), end)))
            });
            match found {
                Ok(Some((k, s, e))) if e > s => {
                    out.push((k, s, e));
                    at = e;
                }
                // No alternative matches the empty string; step over one
                // should a reverse search disagree.
                Ok(Some((_, _, e))) => at = next_char(text, e.max(at)),
                Ok(None) => break,
                Err(_) => {
                    if let Some(re) = self.one_regex() {
                        let rest = re.find_iter(Input::new(text).range(at..));
                        out.extend(rest.map(|m| (m.pattern().as_usize(), m.start(), m.end())));
                    }
                    break;
                }
            }
        }
    }
}

impl Patterns {
    /// The scan's patterns as one leftmost-first regex, compiled on first use.
    fn one_regex(&self) -> Option<&regex_automata::meta::Regex> {
        self.re
            .get_or_init(|| {
                regex_automata::meta::Regex::builder()
                    .syntax(bytes())
                    .configure(
                        regex_automata::meta::Config::new()
                            .nfa_size_limit(Some(64 << 20))
                            .hybrid_cache_capacity(64 << 20)
                            .dfa_size_limit(Some(64 << 20)),
                    )
                    .build_many(&self.scan)
                    .ok()
            })
            .as_ref()
    }
}

/// `i`, or the nearest char boundary before it.
pub(crate) fn floor_char(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// `i`, or the nearest char boundary after it.
fn ceil_char(text: &str, mut i: usize) -> usize {
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

fn next_char(text: &str, i: usize) -> usize {
    text.get(i..).and_then(|r| r.chars().next()).map_or(text.len(), |c| i + c.len_utf8())
}

/// No keyed match ends further than this past its trigger word's start
/// (the search window stops there): the detector's test that a match does
/// not begin inside an earlier one looks back no further.
pub(crate) const KEYED_REACH: usize = 1024;

/// Where a keyed alternative's trigger word stands in its match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// First: the expression runs anchored at the word.
    First,
    /// First but for up to two house numbers before it.
    NearFirst,
    /// Last of the words before an optional tail: the match starts up to a
    /// few words before it.
    Last,
}

/// An alternative found from the words that must occur in it, not by the
/// scan.
pub(crate) struct Keyed {
    pub alt: Alt,
    pub trigger: Trigger,
    /// The trigger words, lower case, as the tokenizer cuts them ("u." is "u").
    pub words: &'static [&'static str],
    /// Bytes after (`First`, `NearFirst`) or before (`Last`) the word that
    /// must hold a digit for a match to be possible; 0 for no such check.
    /// Common words ("patient", "card", "way") are triggers of
    /// alternatives that need a number: the check spares their expression.
    pub digit_within: usize,
    /// Its match hides keyed matches that would begin inside it, as a scan
    /// match does ("459 33 fax\n+41 ...": "fax" ends a number and labels
    /// none after it). A word's alternatives are tried in [`KEYED`] order,
    /// so such an entry comes before the others that share its words.
    pub consumes: bool,
}

/// The alternatives found from a trigger word rather than by the scan. Each
/// begins or ends its match with a word from a list (a facility or street
/// type, a country, an identifier or phone label), next to a run of
/// capitalised words or a free-form value. In the scan's one DFA such runs
/// and label lists multiply with every other alternative's partial matches:
/// with the first 11 of these in the scan, its first pass over new text
/// took 2.2 times as long (general-PII sentences, 47 ms against 21.5 ms;
/// Haven's clinical notes, 9.5 ms against 3 ms) and its state table was
/// three times as big.
/// Here each runs on a window around a token that the lexicon marks, and
/// only where its number could be ([`Keyed::digit_within`]).
pub(crate) const KEYED: [Keyed; 12] = [
    // "+41 38 549 02 90 mobile": a run of 7 to 18 digits and separators
    // that may start at any of them. Alone, it made a 176 MB full DFA
    // (every other scanned alternative stays under 200 KB), and in the scan
    // it was the largest share of new states on numbers.
    Keyed {
        alt: Alt::PhoneTrailing,
        trigger: Trigger::Last,
        digit_within: 24,
        consumes: true,
        words: &["office", "fax", "mobile", "cell", "home", "work"],
    },
    Keyed {
        alt: Alt::Facility,
        trigger: Trigger::Last,
        digit_within: 0,
        consumes: false,
        words: &[
            "hospital",
            "center",
            "centre",
            "system",
            "healthcare",
            "care",
            "clinic",
            "infirmary",
            "home",
            "hospice",
            "sanatorium",
            "group",
            "health",
            "memorial",
            "pharmacy",
            "associates",
            "partners",
            "physicians",
        ],
    },
    Keyed {
        alt: Alt::StreetNamed,
        trigger: Trigger::Last,
        digit_within: 0,
        consumes: false,
        words: &["street", "avenue", "boulevard", "road"],
    },
    Keyed { alt: Alt::County, trigger: Trigger::Last, digit_within: 0, consumes: false, words: &["county", "parish"] },
    Keyed {
        alt: Alt::StreetEnding,
        trigger: Trigger::Last,
        digit_within: 0,
        consumes: false,
        words: &[
            "gate", "gata", "tee", "kapu", "u", "tér", "utca", "útja", "út", "vej", "gade", "straße", "strasse", "weg",
            "laan", "straat", "tie", "katu", "ulica",
        ],
    },
    Keyed {
        alt: Alt::StreetPrefix,
        trigger: Trigger::NearFirst,
        digit_within: 0,
        consumes: false,
        words: &[
            "rua",
            "rue",
            "via",
            "viale",
            "piazza",
            "piazzale",
            "corso",
            "largo",
            "avenida",
            "avda",
            "av",
            "calle",
            "carrer",
            "camino",
            "paseo",
            "plaza",
            "travessa",
            "praça",
            "praca",
            "ul",
            "ulica",
            "al",
            "aleja",
            "plac",
            "odos",
            "strada",
            "chaussée",
            "chemin",
            "allée",
            "impasse",
            "quai",
            "cesta",
            "trg",
            "ulitsa",
            "avinguda",
            "rambla",
        ],
    },
    Keyed {
        alt: Alt::AddressContext,
        trigger: Trigger::First,
        digit_within: 0,
        consumes: false,
        words: &[
            "lives",
            "live",
            "living",
            "located",
            "arrived",
            "meet",
            "drops",
            "sent",
            "return",
            "moved",
            "restaurant",
            "station",
            "office",
            "is",
            "address",
            "corner",
        ],
    },
    Keyed { alt: Alt::CityPostal, trigger: Trigger::First, digit_within: 0, consumes: false, words: &["in"] },
    Keyed {
        alt: Alt::PostalCountry,
        trigger: Trigger::First,
        digit_within: 0,
        consumes: false,
        words: &[
            "austria",
            "belgium",
            "brazil",
            "bulgaria",
            "canada",
            "croatia",
            "cyprus",
            "czech",
            "czechia",
            "denmark",
            "estonia",
            "finland",
            "france",
            "germany",
            "greece",
            "greenland",
            "greenlander",
            "hungary",
            "iceland",
            "ireland",
            "italy",
            "latvia",
            "lithuania",
            "luxembourg",
            "mexico",
            "netherlands",
            "new",
            "norway",
            "poland",
            "portugal",
            "romania",
            "slovakia",
            "slovenia",
            "spain",
            "sweden",
            "switzerland",
            "tunisia",
            "united",
            "uruguay",
            "argentina",
            "australia",
            "japan",
            "india",
            "israel",
            "turkey",
        ],
    },
    Keyed {
        alt: Alt::LabelledPhone,
        trigger: Trigger::First,
        digit_within: 96,
        consumes: false,
        words: &[
            "phone",
            "telephone",
            "tel",
            "cell",
            "mobile",
            "pager",
            "beeper",
            "fax",
            "facsimile",
            "desk",
            "call",
            "reach",
            "reached",
            "answering",
            "message",
            "messages",
            "registered",
            "contact",
            "number",
        ],
    },
    Keyed {
        alt: Alt::LabelledId,
        trigger: Trigger::First,
        digit_within: 96,
        consumes: false,
        words: &[
            "medical",
            "med",
            "mrn",
            "mr",
            "chart",
            "patient",
            "hospital",
            "unit",
            "member",
            "subscriber",
            "policy",
            "insurance",
            "group",
            "medicaid",
            "medicare",
            "mbi",
            "health",
            "beneficiary",
            "plan",
            "account",
            "acct",
            "billing",
            "financial",
            "card",
            "credit",
            "bank",
            "vin",
            "vehicle",
            "licence",
            "license",
            "plate",
            "driver",
            "drivers",
            "dl",
            "dea",
            "npi",
            "certificate",
            "cert",
            "upin",
            "serial",
            "s",
            "device",
            "udi",
            "implant",
            "model",
            "lot",
            "ssn",
            "social",
            "ss",
            "case",
            "accession",
            "specimen",
            "order",
            "claim",
            "passport",
            "encounter",
            "visit",
            "reference",
            "confirmation",
            "employee",
            "badge",
            "study",
            "subject",
            "participant",
            "tracking",
            "identifier",
            "id",
        ],
    },
    Keyed {
        alt: Alt::Street,
        trigger: Trigger::Last,
        digit_within: 120,
        consumes: false,
        words: &[
            "street",
            "st",
            "avenue",
            "ave",
            "road",
            "rd",
            "boulevard",
            "blvd",
            "lane",
            "ln",
            "drive",
            "dr",
            "court",
            "ct",
            "place",
            "pl",
            "way",
            "terrace",
            "ter",
            "circle",
            "cir",
            "parkway",
            "pkwy",
            "highway",
            "hwy",
            "square",
            "sq",
            "trail",
            "trl",
            "loop",
            "row",
            "pike",
            "alley",
            "crossing",
            "plaza",
            "heights",
            "hts",
            "ridge",
            "run",
            "point",
            "park",
            "gardens",
            "mews",
            "crescent",
            "expressway",
            "freeway",
            "turnpike",
            "gateway",
            "isle",
            "island",
            "green",
            "greens",
            "mall",
            "club",
            "mill",
            "mills",
            "cove",
            "coves",
            "pass",
            "bridge",
            "brook",
            "creek",
            "crest",
            "glen",
            "grove",
            "harbor",
            "harbour",
            "hill",
            "hills",
            "hollow",
            "junction",
            "knoll",
            "lake",
            "lakes",
            "landing",
            "manor",
            "meadow",
            "meadows",
            "orchard",
            "path",
            "port",
            "ranch",
            "shore",
            "shores",
            "spring",
            "springs",
            "summit",
            "trace",
            "valley",
            "view",
            "village",
            "vista",
            "walk",
            "close",
            "estate",
            "estates",
            "field",
            "fields",
            "wharf",
            "bypass",
            "causeway",
            "centre",
        ],
    },
];

/// The keyed alternatives (bits of [`KEYED`]) tried at a word glued to
/// digits, whatever the word: labelled identifiers and phone numbers.
pub(crate) fn glued_keys() -> u16 {
    KEYED
        .iter()
        .enumerate()
        .filter(|(_, k)| matches!(k.alt, Alt::LabelledId | Alt::LabelledPhone))
        .fold(0, |bits, (j, _)| bits | 1 << j)
}

// A word's keyed alternatives are bits of a u16 (`WordInfo::keys`).
const _: () = assert!(KEYED.len() <= 16);

/// An alternative whose groups its handler reads, cut into consecutive
/// parts, each a group (named) or not (""): the groups are found by
/// matching the parts one after the other (see [`Patterns::groups`]).
fn parts(alt: Alt) -> Vec<(&'static str, String)> {
    match alt {
        Alt::LabelledId => vec![
            ("label", format!(r"{B}{ID_LABELS}")),
            (
                "",
                r"[ \t]*(?:(?i:number|no\.?|num|is|was|of)[ \t]*)?[:#=.\-]?[ \t]*(?:(?i:number|no\.?|#)[ \t]*)?[:#=]?[ \t]*"
                    .to_string(),
            ),
            ("value", format!(r"(?:[A-Za-z][A-Za-z./-]{{0,14}})?[0-9](?:[A-Za-z0-9./-]{{0,27}}[A-Za-z0-9])?{B}")),
        ],
        Alt::AddressContext => vec![
            (
                "",
                format!(
                    r"{B}(?i:(?:lives?|living|located|arrived|meet[ \t]+me|drops[ \t]+you[ \t]+off|sent|return|moved|restaurant[ \t]+is|station[ \t]+is|office[ \t]+is|is[ \t]+on)[ \t]+(?:at|on|to|in)|address(?:[ \t]+is)?[ \t]*:?|corner[ \t]+of)[ \t]+"
                ),
            ),
            (
                "addr",
                format!(
                    r"(?:[0-9]{{1,6}}[ \t]+(?:[0-9]{{1,5}}[ \t]+)?(?:{L}(?:{L}|['.-]|\xE2\x80\x99)*[ \t]+){{1,3}}[0-9]{{1,5}}[A-Za-z]?{B}|[0-9]{{1,6}}[ \t]+(?:[0-9]{{1,5}}[ \t]+)?(?:{STREET_WORD}[ \t]+){{0,4}}{LU}{L}*{B}|(?:{STREET_WORD}[ \t]+){{0,3}}{LU}{L}*[ \t]+[0-9]{{1,5}}[A-Za-z]?{B}|(?:{STREET_WORD}[ \t]+){{0,3}}{LU}{L}*[ \t]+{STREET_SUFFIX}{B})(?:,?[ \t]*(?i:apt|apartment|suite|ste|unit)\.?[ \t]*#?[ \t]*[A-Za-z0-9-]+)?"
                ),
            ),
        ],
        _ => Vec::new(),
    }
}

/// The expression of consecutive parts, each named part a group.
fn joined(parts: &[(&'static str, String)]) -> String {
    parts.iter().map(|(g, p)| if g.is_empty() { p.clone() } else { format!("(?P<{g}>{p})") }).collect()
}

fn alternatives() -> Vec<(Alt, String)> {
    vec![
        (
            Alt::Email,
            format!(
                r"{B}[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{{2,}}{B}"
            ),
        ),
        (Alt::Url, r#"(?i:https?://|ftp://|www\.)[^\s<>"'()\[\]{}]*[^\s<>"'()\[\]{}.,;:!?]"#.to_string()),
        (
            Alt::Domain,
            format!(
                r"{B}[A-Za-z0-9][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*\.(?i:com|org|net|edu|gov|io|info|biz|us|uk|ca|de|fr|es|it|nl|be|ch|se|no|dk|fi|pt|ee|cy|au|ru|jp|cn|in|br|mx|co|ie|at|pl|cz|nz|za|health)(?:\.[a-z]{{2}})?{B}(?:/[^\s<>\x22']*[^\s<>\x22'.,;:!?])?"
            ),
        ),
        (
            Alt::Ipv4,
            format!(
                r"{B}(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){{3}}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9]){B}"
            ),
        ),
        (
            Alt::Ipv6,
            format!(
                r"{B}(?:(?i:[0-9a-f]{{1,4}}):){{7}}(?i:[0-9a-f]{{1,4}}){B}|{B}(?:(?i:[0-9a-f]{{1,4}}):){{1,6}}:(?:(?i:[0-9a-f]{{1,4}}):){{0,5}}(?i:[0-9a-f]{{1,4}}){B}"
            ),
        ),
        (
            Alt::LabelledPhone,
            format!(
                r"{B}{PHONE_LABELS}{B}[^0-9+(]{{0,24}}(?:\+?\(?[0-9][0-9 ().-]{{4,18}}[0-9](?:\s*(?i:x|ext\.?|extension)\s*[0-9]{{1,6}})?)"
            ),
        ),
        (Alt::LabelledId, joined(&parts(Alt::LabelledId))),
        (Alt::Ssn, format!(r"{B}[0-9]{{3}}-[0-9]{{2}}-[0-9]{{4}}{B}|{B}[0-9]{{3}} [0-9]{{2}} [0-9]{{4}}{B}")),
        (
            Alt::DateIso,
            format!(
                r"{B}(?:1[89]|20)[0-9]{{2}}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12][0-9]|3[01])(?:[T ][0-2][0-9]:[0-5][0-9](?::[0-5][0-9](?:\.[0-9]+)?)?(?:Z|[+-][0-2][0-9]:?[0-5][0-9])?)?{B}"
            ),
        ),
        (
            Alt::DateNumeric,
            format!(
                r"{B}(?:0?[1-9]|1[0-2])[/-](?:0?[1-9]|[12][0-9]|3[01])[/-](?:(?:1[89]|20)[0-9]{{2}}|[0-9]{{2}}){B}"
            ),
        ),
        (
            Alt::DateDots,
            format!(r"{B}(?:0?[1-9]|[12][0-9]|3[01])\.(?:0?[1-9]|1[0-2])\.(?:(?:1[89]|20)[0-9]{{2}}|[0-9]{{2}}){B}"),
        ),
        (
            Alt::DateMonthFirst,
            format!(
                r"{B}{MONTH}\.?[ \t]+(?:the[ \t]+)?(?:0?[1-9]|[12][0-9]|3[01])(?i:st|nd|rd|th)?{B}(?:,?[ \t]*(?:(?:1[89]|20)[0-9]{{2}}|'[0-9]{{2}}){B})?"
            ),
        ),
        (
            Alt::DateDayFirst,
            format!(
                r"{B}(?:(?i:the)[ \t]+)?(?:0?[1-9]|[12][0-9]|3[01])(?i:st|nd|rd|th)?[ \t]*(?:(?i:of)[ \t]+)?{MONTH}{B}\.?(?:,?[ \t]*(?:1[89]|20)[0-9]{{2}}{B})?"
            ),
        ),
        (Alt::DateMonthYear, format!(r"{B}{MONTH}\.?,?[ \t]+(?:(?:1[89]|20)[0-9]{{2}}|'[0-9]{{2}}){B}")),
        (Alt::DateMonthDay, format!(r"{B}(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12][0-9]|3[01]){B}")),
        (
            Alt::MonthAlone,
            format!(
                r"{B}(?:January|February|March|April|June|July|August|September|October|November|December|JANUARY|FEBRUARY|MARCH|APRIL|JUNE|JULY|AUGUST|SEPTEMBER|OCTOBER|NOVEMBER|DECEMBER){B}"
            ),
        ),
        (
            Alt::AgeYears,
            format!(
                r"{B}(?P<agen1>9[0-9]|1[0-4][0-9])(?:(?:[ \t]*-?[ \t]*)(?i:years?|yrs?|yo|y/o|y\.o\.|-year|year)|M|[ \t]?yo[MF]){B}"
            ),
        ),
        (Alt::AgeAged, format!(r"{B}(?i:aged?|age:|age\s+of)[ \t]*(?P<agen2>9[0-9]|1[0-4][0-9]){B}")),
        (
            Alt::Street,
            format!(
                r"{B}[0-9]{{1,6}}(?:-[0-9]+)?[A-Za-z]?[ \t]+(?:(?:[NSEW]\.?|(?i:north|south|east|west))[ \t]+)?(?:[A-Z0-9][A-Za-z0-9'.-]*[ \t]+){{1,4}}{STREET_SUFFIX}\.?{B}(?:,?[ \t]*(?i:apt|apartment|suite|ste|unit|#|room|rm|floor|fl|bldg|building)\.?[ \t]*#?[ \t]*[A-Za-z0-9-]+)?"
            ),
        ),
        (
            Alt::StreetPrefix,
            format!(
                r"{B}(?:[0-9]{{1,6}}[ \t]+){{0,2}}{STREET_PREFIX}[ \t]+(?:{STREET_WORD}[ \t]+){{0,4}}{LU}{L}*[ \t]+[0-9]{{1,5}}[A-Za-z]?{B}"
            ),
        ),
        (
            Alt::StreetEnding,
            format!(
                r"{B}(?:[0-9]{{1,6}}[ \t]+)?(?:{LU}{L}*[ \t]+){{1,2}}{STREET_APART}[ \t]+[0-9]{{1,5}}[A-Za-z]?(?-u:\b)\.?"
            ),
        ),
        (
            Alt::Military,
            format!(
                r"{B}(?:(?:(?i:psc|cmr|unit)[ \t]+[0-9]{{3,5}},?[ \t]+(?i:box)[ \t]+[0-9]{{3,5}}|(?i:usns|usnv|uss|usc?gc)[ \t]+{L}+(?:[ \t]+{L}+)?)[ \t,]*\r?\n?[ \t]*)?(?:APO|FPO|DPO|apo|fpo|dpo)[ \t]+(?:AA|AE|AP|aa|ae|ap)[ \t]+[0-9]{{5}}{B}"
            ),
        ),
        (
            Alt::AddressLine,
            format!(
                r"(?m:^)[ \t>?]*[0-9]{{1,6}}[ \t]+(?:{LU}{L}*[ \t]+){{1,3}}[0-9]{{1,5}}[A-Za-z]?(?:[ \t]+(?:Apt|Suite)\.?[ \t]*[0-9]{{1,5}})?[ \t]*\r?(?m:$)"
            ),
        ),
        (Alt::AddressContext, joined(&parts(Alt::AddressContext))),
        (
            Alt::CityPostal,
            format!(
                r"{B}(?:in|IN)[ \t]+(?P<city>(?:{LU}{L}*[ \t]+){{1,3}}(?:[0-9]{{4,5}}|[0-9]{{3}} [0-9]{{2}}|[0-9]{{4}}-[0-9]{{3}})){B}"
            ),
        ),
        (
            Alt::StreetNamed,
            format!(r"{B}(?:[A-Z][a-z]+[ \t]+){{1,3}}(?:Street|Avenue|Boulevard|Road|STREET|AVENUE|ROAD){B}"),
        ),
        (
            Alt::PostalLabel,
            format!(
                r"{B}(?i:zip(?:[ \t]*code)?|postal[ \t]+code|post[ \t]*code)[ \t]*(?:(?i:is)[ \t]+|[:#][ \t]*)?(?P<postal>[0-9][0-9A-Z]{{1,5}}(?:[ -][0-9A-Z]{{2,4}})?|[A-Z][0-9A-Z]{{1,4}}[ -]?[0-9][A-Z0-9]{{1,3}}){B}"
            ),
        ),
        (Alt::PostalCountry, format!(r"{B}{COUNTRIES}[ \t]+(?:[0-9]{{3,6}}(?:[ -][0-9]{{2,4}})?){B}")),
        (Alt::PoBox, format!(r"{B}(?:(?i:p\.?[ \t]?o\.?[ \t]*box)|PSC)[ \t]+[0-9]+(?:,[ \t]*(?i:box)[ \t]+[0-9]+)?")),
        (Alt::Unit, format!(r"{B}(?:Apt|Apartment|Suite|Ste|APT|SUITE)\.?[ \t]*#?[ \t]*[0-9]+[A-Za-z]?{B}")),
        (
            Alt::Facility,
            format!(
                r"(?:{B}[A-Z][A-Za-z'.&-]*[ \t]+(?:(?:and|of|&)[ \t]+)?){{1,4}}{FACILITY}{B}(?:[ \t]+(?i:of|at|for)[ \t]+[A-Z][A-Za-z'.-]*(?:[ \t]+[A-Z][A-Za-z'.-]*){{0,2}})?"
            ),
        ),
        (Alt::County, format!(r"{B}[A-Z][a-z]+(?:[ \t]+[A-Z][a-z]+)?[ \t]+(?:County|Parish|COUNTY){B}")),
        (Alt::Card, format!(r"{B}[3-6][0-9]{{3}}(?:[ -]?[0-9]){{8,15}}{B}")),
        (
            Alt::Iban,
            format!(r"{B}[A-Za-z]{{2}}[0-9]{{2}}(?:[ ]?[A-Za-z0-9]{{4}}){{2,7}}(?:[ ]?[A-Za-z0-9]{{1,3}})?{B}"),
        ),
        (
            Alt::Phone,
            format!(
                r"(?:\+?1[-. ]?)?(?:\([2-9][0-9]{{2}}\)[ ]?|{B}[2-9][0-9]{{2}}[-. ])[0-9]{{3}}[-. ][0-9]{{4}}(?:[ \t]*(?i:x|ext\.?|extension)[ \t]*[0-9]{{1,6}}|{B})"
            ),
        ),
        (
            Alt::PhoneTrailing,
            format!(r"(?:{B}|\+|\()[0-9(][0-9 ().-]{{5,16}}[0-9](?:[ \t]*-[ \t]*|[ \t]+)(?i:{PHONE_KINDS}){B}"),
        ),
        (Alt::PhoneIntl, r"\+[1-9][0-9]{0,2}(?:[-. ]?\(?[0-9]{1,4}\)?){2,5}[-. ]?[0-9]{2,4}".to_string()),
        (Alt::Zip, format!(r"{B}[0-9]{{5}}(?:-[0-9]{{4}})?{B}")),
        (Alt::Dea, format!(r"{B}[A-Z][A-Z9][0-9]{{7}}{B}")),
        (Alt::Vin, format!(r"{B}[A-HJ-NPR-Z0-9]{{17}}{B}")),
        (Alt::LongNumber, format!(r"{B}[0-9]{{7,}}{B}")),
        (Alt::AlnumId, format!(r"{B}[A-Z]{{1,3}}-?[0-9]{{6,}}[A-Z]?{B}")),
    ]
}

/// The scan's syntax: no Unicode. Its classes then split bytes at ASCII
/// boundaries only, and the DFA's alphabet fits in 128 classes: each
/// state's row of transitions takes half the memory, so twice as many stay
/// in the processor's cache. (Unicode case folding and negated classes
/// alone added some 30 classes for non-ASCII bytes.) Identifiers are
/// ASCII; where letters may be accented, [`L`] says so in bytes.
fn bytes() -> syntax::Config {
    syntax::Config::new().unicode(false).utf8(false)
}

fn build() -> Result<Patterns, Box<dyn std::error::Error + Send + Sync>> {
    let alts: Vec<(Alt, String)> =
        alternatives().into_iter().map(|(a, p)| (a, utf8_escapes(&ascii_spaces(&p)))).collect();
    // The scan needs no groups: they would only slow it down. Pattern
    // order is priority order (leftmost-first), as in one alternation.
    let scanned: Vec<usize> =
        (0..alts.len()).filter(|&k| !KEYED.iter().any(|key| alts.get(k).is_some_and(|(a, _)| *a == key.alt))).collect();
    let keyed: Vec<usize> = KEYED.iter().filter_map(|key| alts.iter().position(|(a, _)| *a == key.alt)).collect();
    let scan: Vec<String> = scanned.iter().filter_map(|&k| alts.get(k)).map(|(_, p)| strip_groups(p)).collect();
    let nfa = || thompson::Config::new().nfa_size_limit(Some(64 << 20)).which_captures(WhichCaptures::None);
    // Never give up on a slow cache: the scan must stay exact, and the
    // capacity is large enough that real text does not fill it.
    let dfa = || DFA::config().cache_capacity(64 << 20).minimum_cache_clear_count(None);
    let fwd = DFA::builder()
        .configure(dfa().match_kind(MatchKind::LeftmostFirst))
        .syntax(bytes())
        .thompson(nfa())
        .build_many(&scan)?;
    // Anchored at the end of a match, the longest reverse match is its start.
    let mut rev = Vec::with_capacity(scan.len());
    for p in &scan {
        rev.push(
            DFA::builder()
                .configure(dfa().match_kind(MatchKind::All).cache_capacity(1 << 20))
                .syntax(bytes())
                .thompson(nfa().reverse(true))
                .build(p)?,
        );
    }
    let mut out = Vec::with_capacity(alts.len());
    let mut cut = Vec::with_capacity(alts.len());
    for (a, p) in alts {
        out.push((a, regex_automata::meta::Regex::builder().syntax(bytes()).build(&p)?));
        let mut dfas = Vec::new();
        for (name, part) in parts(a) {
            let part = utf8_escapes(&ascii_spaces(&part));
            let d = DFA::builder()
                .configure(
                    dfa().match_kind(MatchKind::LeftmostFirst).starts_for_each_pattern(false).cache_capacity(1 << 20),
                )
                .syntax(bytes())
                .thompson(nfa())
                .build(&part)?;
            dfas.push((name, d));
        }
        if dfas.len() > MAX_PARTS {
            return Err(format!("{a:?} is cut into more than {MAX_PARTS} parts").into());
        }
        cut.push(dfas);
    }
    if keyed.len() != KEYED.len() {
        return Err("a keyed alternative is not in the pattern set".into());
    }
    Ok(Patterns { fwd, rev, scanned, keyed, scan, re: OnceLock::new(), alts: out, parts: cut })
}

/// Makes every `\s` ASCII white space. A Unicode `\s` is a dozen NFA states
/// (NBSP, the em and en spaces, ...) at each of its ~90 uses; the smaller
/// NFA makes a first pass over new text a few per cent faster, and
/// identifiers are not written with exotic spaces between their words.
fn ascii_spaces(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 64);
    let mut in_class = false;
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push(c);
                    break;
                };
                match (n, in_class) {
                    ('s', false) => out.push_str("[\\t\\n\\x0B\\x0C\\r ]"),
                    ('s', true) => out.push_str("\\t\\n\\x0B\\x0C\\r "),
                    _ => {
                        out.push(c);
                        out.push(n);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A "]" or "^]" right after "[" is a literal, not the end.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push(']');
                    chars.next();
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Writes each non-ASCII character as its UTF-8 bytes (`é` as `\xC3\xA9`):
/// the set compiles without Unicode, where a literal is bytes. Characters
/// inside a class would become a class of bytes: the expressions keep
/// them out of classes ([`L`] is bytes already).
fn utf8_escapes(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for c in p.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut b = [0u8; 4];
            for byte in c.encode_utf8(&mut b).bytes() {
                let _ = write!(out, "\\x{byte:02X}");
            }
        }
    }
    out
}

/// Turns every capturing group into a non-capturing one.
fn strip_groups(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let b = p.as_bytes();
    let mut i = 0;
    let mut escaped = false;
    let mut in_class = false;
    while i < b.len() {
        let c = b[i];
        if escaped {
            escaped = false;
        } else if c == b'\\' {
            escaped = true;
        } else if in_class {
            if c == b']' {
                in_class = false;
            }
        } else if c == b'[' {
            in_class = true;
        } else if c == b'(' {
            if p[i..].starts_with("(?P<") {
                let close = p[i..].find('>').map_or(i + 1, |k| i + k + 1);
                out.push_str("(?:");
                i = close;
                continue;
            } else if !p[i..].starts_with("(?") {
                out.push_str("(?:");
                i += 1;
                continue;
            }
        }
        // Multi-byte characters are copied whole.
        let ch_len = p[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&p[i..i + ch_len]);
        i += ch_len;
    }
    out
}

/// The pattern set, compiled on first use.
pub(crate) fn patterns() -> Option<&'static Patterns> {
    static P: OnceLock<Option<Patterns>> = OnceLock::new();
    P.get_or_init(|| build().ok()).as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Groups found part by part are the capture engine's groups, and the
    /// usual forms do not fall back to it.
    #[test]
    fn groups_by_parts_are_the_captures() {
        let p = patterns().expect("patterns");
        let labels = [
            "MRN",
            "mrn",
            "Medical record number",
            "Patient ID",
            "SSN",
            "acct",
            "Acct.",
            "member id",
            "NPI no.",
            "DL #",
            "ID",
            "lot",
        ];
        let seps = ["", " ", ": ", " #", " no. ", " number is ", " = ", " - ", ":\t", " of ", " #:"];
        let values = ["12345", "A-77/3", "no12345", "XKB448120937", "4.2.9", "ab1", "12345a", "Z9"];
        let prefixes =
            ["lives at ", "Living in  ", "address: ", "Address is ", "corner of ", "is on at ", "meet me at "];
        let addrs = [
            "12 Main St",
            "1187 Birchwood Avenue, Apt 4B",
            "Rue de la Paix 32",
            "Storgata 14",
            "4 12 Élan Road 9",
            "Elm Street",
        ];
        let mut texts = Vec::new();
        for l in labels {
            for sep in seps {
                for v in values {
                    texts.push((Alt::LabelledId, format!("see {l}{sep}{v}.")));
                }
            }
        }
        for pre in prefixes {
            for a in addrs {
                texts.push((Alt::AddressContext, format!("She {pre}{a} now")));
            }
        }
        let (mut by_parts, mut matched) = (0, 0);
        for (alt, text) in &texts {
            let k = p.alts.iter().position(|(a, _)| a == alt).expect("alternative");
            let re = &p.alts[k].1;
            let mut caps = re.create_captures();
            re.captures(text.as_str(), &mut caps);
            let Some(m) = caps.get_match() else { continue };
            matched += 1;
            let Some(g) = p.groups(k, text, m.start(), m.end()) else { continue };
            by_parts += 1;
            for name in ["label", "value", "addr"] {
                let want = caps.get_group_by_name(name).map(|s| (s.start, s.end));
                assert_eq!(g.get(name), want, "{name} in {text:?}");
            }
        }
        assert!(matched > 500, "{matched} of {} matched", texts.len());
        assert!(by_parts * 10 >= matched * 9, "{by_parts} of {matched} by parts");
    }

    #[test]
    fn pattern_set_compiles() {
        let p = build().map_err(|e| e.to_string());
        let p = match p {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(p.alts.len(), 42);
        let Some(re) = p.one_regex() else { panic!("the set does not compile as one regex") };
        assert_eq!(re.pattern_len() + KEYED.len(), p.alts.len(), "one scan pattern per alternative not keyed");
        assert_eq!(re.group_info().all_group_len(), re.pattern_len(), "the scan patterns have no groups");
        assert_eq!(strip_groups(r"(a)(?P<x>b)(?:c)[(]\(é"), r"(?:a)(?:b)(?:c)[(]\(é");
        assert_eq!(utf8_escapes("Praça|u\\.|’"), r"Pra\xC3\xA7a|u\.|\xE2\x80\x99");
        assert_eq!(
            ascii_spaces(r"a\s+b[^\s<]\\s[]\s]"),
            r"a[\t\n\x0B\x0C\r ]+b[^\t\n\x0B\x0C\r <]\\s[]\t\n\x0B\x0C\r ]"
        );
        assert_eq!(p.rev.len(), re.pattern_len(), "one reverse DFA per scan pattern");
        // Each state's row of transitions is the alphabet rounded up to a
        // power of two: past 128 classes it doubles.
        assert!(p.fwd.byte_classes().alphabet_len() <= 128, "{:?}", p.fwd.byte_classes());
    }

    /// Every match of a keyed alternative's own expression that holds one
    /// of its trigger words is what [`Patterns::keyed_match`] finds from
    /// that word.
    #[test]
    fn keyed_alternatives_are_found_from_their_words() {
        let Some(p) = patterns() else { panic!("the pattern set does not compile") };
        let texts = [
            "Seen at Mount Auburn Hospital of Cambridge, then Boston Medical Center; lives in Middlesex County.",
            "Address: 594 Hegedûs Gyula utca 76. She lives at 12 Rua Igreja 25 and works on Whitchurch Road.",
            "Our offices are located at 9543 1819 St. John Street Suite 056, Tubize, Belgium 4820; in Porto Alegre 95800",
            "New Zealand 6011 / United Kingdom 1234 / ul. Słowicza 10 / Via Roma 5 / the corner of Elm Street",
            "Mass General Hospital Mass General Hospital, St. Mary's Health Care and Rehabilitation Center",
            "12 Main Street 34 Oak Avenue 56 Park Road, 7 Elm Ct, no 8 way; 9 Hill View Lane 10 Court St",
            "+41 38 549 02 90 mobile, 459 33 12 11 fax; (617) 555-0123 - office, 617.555.0199 Home and 5550123 work",
        ];
        let mut found = 0;
        for text in texts {
            // Words as the tokenizer cuts them: letters with inner ' and -.
            let mut words = Vec::new();
            let mut start = None;
            for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
                match (start, c.is_alphabetic()) {
                    (None, true) => start = Some(i),
                    (Some(s), false) => {
                        words.push((s, i, text[s..i].to_lowercase()));
                        start = None;
                    }
                    _ => {}
                }
            }
            for (j, key) in KEYED.iter().enumerate() {
                let re = &p.alts[p.keyed[j]].1;
                for m in re.find_iter(text) {
                    let Some(&(ks, ke, _)) = words
                        .iter()
                        .find(|(s, e, w)| m.start() <= *s && *e <= m.end() && key.words.contains(&w.as_str()))
                    else {
                        continue;
                    };
                    assert_eq!(
                        p.keyed_match(text, j, ks, ke, &mut 0),
                        Some((p.keyed[j], m.start(), m.end())),
                        "{text:?}"
                    );
                    found += 1;
                }
                // Words in order, the search carried from one to the next
                // (as the detector calls it), find the same matches.
                let mut fresh: Vec<_> = words
                    .iter()
                    .filter(|(_, _, w)| key.words.contains(&w.as_str()))
                    .filter_map(|&(ks, ke, _)| p.keyed_match(text, j, ks, ke, &mut 0))
                    .collect();
                // A match that holds two trigger words is found once.
                fresh.dedup();
                let mut from = 0;
                let carried: Vec<_> = words
                    .iter()
                    .filter(|(_, _, w)| key.words.contains(&w.as_str()))
                    .filter_map(|&(ks, ke, _)| p.keyed_match(text, j, ks, ke, &mut from))
                    .collect();
                assert_eq!(carried, fresh, "{text:?}");
            }
        }
        assert!(found >= 12, "only {found} keyed matches in the examples");
    }

    /// The letters that begin each top-level alternative of a word list
    /// such as [`STREET_SUFFIX`] (with `last`, those of its last word), lower
    /// case; none for an alternative that begins with a group.
    fn stems(list: &str, last: bool) -> Vec<String> {
        let inner = list.strip_prefix("(?i:").or_else(|| list.strip_prefix("(?:")).unwrap_or(list);
        let inner = inner.strip_suffix(')').unwrap_or(inner);
        let (mut alts, mut cur, mut depth, mut escaped) = (Vec::new(), String::new(), 0, false);
        for c in inner.chars() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '(' | '[' => depth += 1,
                ')' | ']' => depth -= 1,
                '|' if depth == 0 => {
                    alts.push(std::mem::take(&mut cur));
                    continue;
                }
                _ => {}
            }
            cur.push(c);
        }
        alts.push(cur);
        alts.iter()
            .map(|a| {
                // The last word follows the last `\s` (or space) in it.
                let cut = if last { a.rfind("\\s").map(|i| i + 2).max(a.rfind(' ').map(|i| i + 1)) } else { None };
                let word = a.get(cut.unwrap_or(0)..).unwrap_or("").trim_start_matches(['+', '*']);
                word.chars().take_while(|c| c.is_alphabetic()).collect::<String>().to_lowercase()
            })
            .filter(|w| !w.is_empty())
            .collect()
    }

    /// Each keyed alternative's trigger words cover the word list its
    /// expression is built from: a word added to the list but not to the
    /// triggers would never be found.
    #[test]
    fn consuming_alternatives_are_tried_first_at_their_words() {
        for (i, key) in KEYED.iter().enumerate().filter(|(_, k)| k.consumes) {
            for other in KEYED.iter().take(i) {
                assert!(
                    !other.words.iter().any(|w| key.words.contains(w)),
                    "{:?} shares a word with {:?}, which is tried first",
                    key.alt,
                    other.alt
                );
            }
        }
    }

    #[test]
    fn trigger_words_cover_the_expressions_word_lists() {
        let lists: [(Alt, &str, bool); 8] = [
            (Alt::Facility, FACILITY, true),
            (Alt::Street, STREET_SUFFIX, false),
            (Alt::StreetEnding, STREET_APART, false),
            (Alt::StreetPrefix, STREET_PREFIX, false),
            (Alt::PostalCountry, COUNTRIES, false),
            (Alt::LabelledPhone, PHONE_LABELS, false),
            (Alt::LabelledId, ID_LABELS, false),
            (Alt::PhoneTrailing, PHONE_KINDS, false),
        ];
        for (alt, list, last) in lists {
            let Some(key) = KEYED.iter().find(|k| k.alt == alt) else { panic!("{alt:?} is not keyed") };
            let stems = stems(list, last);
            assert!(stems.len() >= 4, "{alt:?}: {stems:?}");
            for stem in stems {
                assert!(key.words.iter().any(|w| w.starts_with(&stem)), "{alt:?}: no trigger word for {stem:?}");
            }
        }
    }

    /// The scan (forward set DFA, reverse DFA per alternative) finds what
    /// the same set as one leftmost-first regex finds.
    fn same_as_one_regex(p: &Patterns, text: &str) {
        let one: Vec<(usize, usize, usize)> = p.one_regex().map_or_else(Vec::new, |re| {
            re.find_iter(text).map(|m| (p.scanned[m.pattern().as_usize()], m.start(), m.end())).collect()
        });
        assert_eq!(p.matches(text), one, "{text:?}");
    }

    #[test]
    fn the_scan_is_one_leftmost_first_regex() {
        let Some(p) = patterns() else { panic!("the pattern set does not compile") };
        for t in [
            "",
            "Seen 3/4/61 at 12 Main Street, Boston MA 02118; call (617) 555-0123 or jane@example.org.",
            "MRN: 12345678 Acct# 99-1234 DOB 1961-03-04 IP 10.1.2.3 ZIP 02118-1234 SSN 123-45-6789",
            "She lives at Rua Igreja 25 now; APO AE 09012; PSC 1234, Box 5678; Suite 200",
            "https://example.org/a?b=1 www.example.com ftp://x.y 4111 1111 1111 1111 GB82 WEST 1234 5698 7654 32",
            "Mount Auburn Hospital, Middlesex County, aged 93, 101 years old, Feb 21, the 5th of May 2019",
            "7777777777777777 1/1/1 1/1/1 MRN: MRN: Dr. Dr. 12 Main Street 12 Main Street",
            "Æ ø é 日本語 テキスト + 12 Ελλάδα Οδός 5 ul. Słowicza 10, 00-001 Warszawa",
        ] {
            same_as_one_regex(p, t);
        }
        let notes: String = crate::eval::CLINICAL_NOTES.chars().take(20_000).collect();
        same_as_one_regex(p, &notes);
    }

    proptest::proptest! {
        #[test]
        fn the_scan_is_one_regex_on_note_like_text(pieces in proptest::collection::vec(proptest::sample::select(vec![
            "Mr. ", "John ", "Smith", ", ", "MRN: ", "123456", "3/4/61", " on ", "Feb 21", "617-555-0123", "\n",
            "12 ", "Main Street", "Rua ", "Igreja ", "25", "APO AE 09012", "Hospital", "County", "@x.org", "a",
            "www.", "com", " ", ".", "-", "é", "Ø", "ul. ", "10", "(", ")", "+49 ", "the 5th of May", "aged 93",
        ]), 0..40)) {
            if let Some(p) = patterns() {
                same_as_one_regex(p, &pieces.concat());
            }
        }
    }
}
