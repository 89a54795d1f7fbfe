//! The pattern set as data: the structured identifier forms (emails, URLs,
//! IPs, phone numbers, SSNs, dates, ages, street addresses, facilities,
//! labelled identifiers, ...) as expressions, and the full DFAs they
//! compile into.
//!
//! This file is shared by the crate and its build script. The build script
//! compiles every DFA of [`set`] and embeds them in the library, so that
//! detection never builds DFA states at run time; [`crate::patterns`] loads
//! them and searches with them. Word boundaries are ASCII (`(?-u:\b)`):
//! a Unicode `\b` cannot be compiled into a DFA.

use std::fmt::Write as _;

use regex_automata::MatchKind;
use regex_automata::dfa::{StartKind, dense};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::syntax;

/// `\b` between ASCII word characters: a DFA can compile it, and it stays
/// usable on non-ASCII text.
pub(crate) const B: &str = r"(?-u:\b)";

pub(crate) const MONTH: &str = r"(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)";

/// A label word or phrase naming the identifier that follows (case-insensitive).
/// Longer phrases come first: the first alternative that matches wins.
pub(crate) const ID_LABELS: &str = r"(?i:medical\s+record(?:\s+(?:number|no\.?|num|#))?|med(?:ical)?\s+rec(?:ord)?\s*#|mrn|mr\s*#|chart\s+(?:number|no\.?|#)|patient\s+(?:id|identifier|number|no\.?|#)|hospital\s+(?:number|no\.?|#)|unit\s+(?:number|no\.?)|member\s+(?:id|number|no\.?|#)|subscriber\s+(?:id|number|no\.?|#)|policy\s+(?:id|number|no\.?|#)|insurance\s+(?:id|number|no\.?|#)|group\s+(?:id|number|no\.?|#)|medicaid(?:\s+(?:id|number|no\.?|#))?|medicare(?:\s+(?:beneficiary\s+identifier|id|number|no\.?|#))?|mbi|health\s+plan(?:\s+(?:id|number|no\.?|#))?|beneficiary\s+(?:id|number|no\.?|#)|plan\s+(?:id|number|#)|account(?:\s+(?:number|no\.?|#))?|acct\.?(?:\s*(?:number|no\.?|#))?|billing\s+(?:number|no\.?|#|id)|financial\s+(?:number|no\.?|#)|card\s+(?:number|no\.?|#)|credit\s+card|bank\s+account|vin|vehicle\s+(?:identification\s+number|id|number)|licen[cs]e\s+plate(?:\s+(?:number|no\.?|#))?|plate\s+(?:number|no\.?|#)|(?:driver'?s?\s+)?licen[cs]e(?:\s+(?:number|no\.?|#))?|dl\s*#|dea(?:\s+(?:number|no\.?|#))?|npi(?:\s+(?:number|no\.?|#))?|certificate(?:\s+(?:number|no\.?|#))?|cert\.?\s*#|upin|serial(?:\s+(?:number|no\.?|#))?|s/n|device\s+(?:id|identifier|serial|number|no\.?|#)|udi|implant\s+(?:id|serial|number)|model\s+(?:number|no\.?|#)|lot(?:\s+(?:number|no\.?|#))?|ssn|social\s+security(?:\s+(?:number|no\.?|#))?|ss#|case\s+(?:id|number|no\.?|#)|accession(?:\s+(?:number|no\.?|#))?|specimen(?:\s+(?:id|number|no\.?|#))?|order\s+(?:id|number|no\.?|#)|claim\s+(?:id|number|no\.?|#)|passport(?:\s+(?:number|no\.?|#))?|encounter\s+(?:id|number|no\.?|#)|visit\s+(?:id|number|no\.?|#)|reference\s+(?:number|no\.?|#)|confirmation\s+(?:number|no\.?|#)|employee\s+(?:id|number|no\.?|#)|badge\s+(?:number|no\.?|#)|(?:study|subject|participant)\s+id|tracking\s+(?:number|no\.?|#)|identifier|id)";

pub(crate) const PHONE_LABELS: &str = r"(?i:phone|telephone|tel|cell(?:\s+phone)?|mobile|pager|beeper|fax|facsimile|desk|call\s+(?:me\s+)?(?:at|on)|reach(?:ed)?\s+(?:me\s+|him\s+|her\s+|them\s+)?(?:at|on)|answering\s+at|messages?\s+to|registered|contact\s+(?:number|no\.?)|number\s+is)";

pub(crate) const STREET_SUFFIX: &str = r"(?i:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|way|terrace|ter|circle|cir|parkway|pkwy|highway|hwy|square|sq|trail|trl|loop|row|pike|alley|crossing|plaza|heights|hts|ridge|run|point|park|gardens|mews|crescent|expressway|freeway|turnpike|gateway|isle|island|greens?|mall|club|mills?|coves?|pass|bridge|brook|creek|crest|glen|grove|harbou?r|hills?|hollow|junction|knoll|lakes?|landing|manor|meadows?|orchard|path|port|ranch|shores?|springs?|summit|trace|valley|view|village|vista|walk|close|estates?|fields?|wharf|bypass|causeway|centre)";

pub(crate) const FACILITY: &str = r"(?i:hospital|medical\s+cent(?:er|re)|health\s+cent(?:er|re)|health\s+system|healthcare|health\s+care|clinic|infirmary|nursing\s+home|rehabilitation\s+cent(?:er|re)|rehab\s+cent(?:er|re)|surgery\s+cent(?:er|re)|surgical\s+cent(?:er|re)|care\s+cent(?:er|re)|urgent\s+care|hospice|sanatorium|medical\s+group|health|memorial|pharmacy|associates|partners|physicians)";

/// A Latin letter, with the accented letters of European languages, as
/// bytes (the set compiles without Unicode, see [`bytes`]): an ASCII letter
/// or any two-byte letter from À to ɏ (lead bytes C3 to C9).
pub(crate) const L: &str = r"(?:[A-Za-z]|[\xC3-\xC9][\x80-\xBF])";
/// A Latin capital: an ASCII capital or, as bytes cannot tell the case of
/// an accented letter, any accented letter of [`L`].
pub(crate) const LU: &str = r"(?:[A-Z]|[\xC3-\xC9][\x80-\xBF])";
/// A street word: a capitalised word (with ’ or ' inside), or a particle
/// ("de", "da", "del").
pub(crate) const STREET_WORD: &str = r"(?:(?:[A-Z]|[\xC3-\xC9][\x80-\xBF])(?:[A-Za-z'.-]|[\xC3-\xC9][\x80-\xBF]|\xE2\x80\x99)*|(?:de|do|da|dos|das|del|della|delle|degli|dei|di|des|du|la|le|les|von|van|der|den|e|y|i)(?-u:\b))";

/// Words that begin a street name in languages that put the type first
/// ("Rua Igreja 25", "ul. Słowicza 10", "Rue de Piétrain 371").
pub(crate) const STREET_PREFIX: &str = r"(?:Rua|RUA|rua|Rue|RUE|rue|Via|VIA|Viale|Piazza|Piazzale|Corso|Largo|Avenida|Avda\.|Av\.|Calle|Carrer|Camino|Paseo|Plaza|Travessa|Praça|Praca|ul\.|Ul\.|ulica|Ulica|al\.|Al\.|Aleja|Plac|Odos|Strada|Chaussée|Chemin|Allée|Impasse|Quai|Cesta|Trg|Ulitsa|Avinguda|Rambla)";

/// Endings of street names in languages that glue the type to the name
/// ("Loorenstrasse 149", "Præstevænget 15", "Kiannonkatu 98"). They are
/// found by [`crate::detect`]'s glued-street pass, not by the expression: an
/// ending that may start at any letter of any capitalised word made the
/// scan's DFA track every word's suffixes (when it was a lazy DFA, leaving
/// them out cut its first pass over the general-PII sentences by 43%).
/// Street words written apart ("Trenerys gate 232", "Erzsébet tér 19.")
/// stay in the expression.
pub(crate) const GLUED_STREET_ENDINGS: [&str; 47] = [
    "strasse", "straße", "str.", "weg", "gasse", "platz", "allee", "damm", "ufer", "laan", "straat", "gracht", "plein",
    "dijk", "kade", "singel", "steeg", "vej", "gade", "vænget", "stræde", "gatan", "vägen", "gata", "väg", "gränd",
    "backe", "stigen", "veien", "vei", "vegen", "gate", "gaten", "stien", "tie", "katu", "kuja", "polku", "väylä",
    "tee", "utca", "útja", "braut", "stræti", "straeti", "vegur", "stígur",
];
pub(crate) const STREET_APART: &str =
    r"(?:gate|gata|tee|kapu|u\.|tér|utca|útja|út|vej|gade|straße|strasse|weg|laan|straat|tie|katu|ulica)";

/// The kinds of phone number written after it ("555 0123 office").
pub(crate) const PHONE_KINDS: &str = r"(?:office|fax|mobile|cell|home|work)";

/// Countries written before a postal code at the end of an address.
pub(crate) const COUNTRIES: &str = r"(?:Austria|Belgium|Brazil|Bulgaria|Canada|Croatia|Cyprus|Czech Republic|Czechia|Denmark|Estonia|Finland|France|Germany|Greece|Greenland|Greenlander|Hungary|Iceland|Ireland|Italy|Latvia|Lithuania|Luxembourg|Mexico|Netherlands|New Zealand|Norway|Poland|Portugal|Romania|Slovakia|Slovenia|Spain|Sweden|Switzerland|Tunisia|United Kingdom|Uruguay|Argentina|Australia|Japan|India|Israel|Turkey)";

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

/// The scanned alternatives, split into groups of one full DFA each (the
/// scan merges their matches into those of one alternation, see
/// [`crate::patterns`]). In one DFA the alternatives' partial matches
/// multiply: all of them together make 117,062 states (50 MB); these two
/// groups make 10,021 and 11,396 (4.1 MB each). Alternatives that share
/// digits or word characters at their start went into different groups,
/// one at a time, where each added the fewest states. Three groups would
/// make 6,301 states in all, but every text is read once more: 4–6% more
/// time per pass on the general-PII sentences and Haven's notes.
pub(crate) const SCAN_GROUPS: [&[Alt]; 2] = [
    &[
        Alt::Phone,
        Alt::Email,
        Alt::Domain,
        Alt::Url,
        Alt::Vin,
        Alt::DateNumeric,
        Alt::Military,
        Alt::DateDots,
        Alt::MonthAlone,
        Alt::Ipv6,
        Alt::AgeAged,
        Alt::PoBox,
        Alt::DateMonthFirst,
        Alt::DateMonthYear,
    ],
    &[
        Alt::Card,
        Alt::Iban,
        Alt::PhoneIntl,
        Alt::Ipv4,
        Alt::Ssn,
        Alt::AgeYears,
        Alt::AddressLine,
        Alt::PostalLabel,
        Alt::DateIso,
        Alt::DateDayFirst,
        Alt::AlnumId,
        Alt::Unit,
        Alt::Dea,
        Alt::LongNumber,
        Alt::Zip,
        Alt::DateMonthDay,
    ],
];

/// The most parts an alternative is cut into (checked by [`set`]).
pub(crate) const MAX_PARTS: usize = 3;

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
    /// How its match is found in the window around the word.
    pub find: Find,
}

/// How a keyed alternative finds its match in the window around its word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Find {
    /// One DFA anchored at the window's start: the trigger word is first.
    Anchored,
    /// One unanchored DFA for where the match ends, and a reverse one for
    /// where it starts.
    Reverse,
    /// One DFA anchored at each byte of the window that can begin a match,
    /// left to right: for alternatives whose unanchored DFA is too big
    /// ("+41 38 549 02 90 mobile" alone made 176 MB; anchored, 36 KB).
    Starts,
}

/// The alternatives found from a trigger word rather than by the scan. Each
/// begins or ends its match with a word from a list (a facility or street
/// type, a country, an identifier or phone label), next to a run of
/// capitalised words or a free-form value. In the scan's DFAs such runs and
/// label lists multiply with every other alternative's partial matches
/// (when the scan was one lazy DFA, the first 11 of these made its state
/// table three times as big). Here each runs its own DFAs on a window
/// around a token that the lexicon marks, and only where its number could
/// be ([`Keyed::digit_within`]).
pub(crate) const KEYED: [Keyed; 12] = [
    // "+41 38 549 02 90 mobile": a run of 7 to 18 digits and separators
    // that may start at any of them. Alone, its unanchored full DFA is
    // 176 MB (every scanned alternative alone stays under 200 KB).
    Keyed {
        alt: Alt::PhoneTrailing,
        trigger: Trigger::Last,
        digit_within: 24,
        consumes: true,
        find: Find::Starts,
        words: &["office", "fax", "mobile", "cell", "home", "work"],
    },
    Keyed {
        alt: Alt::Facility,
        trigger: Trigger::Last,
        digit_within: 0,
        consumes: false,
        find: Find::Reverse,
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
        find: Find::Reverse,
        words: &["street", "avenue", "boulevard", "road"],
    },
    Keyed {
        alt: Alt::County,
        trigger: Trigger::Last,
        digit_within: 0,
        consumes: false,
        find: Find::Reverse,
        words: &["county", "parish"],
    },
    Keyed {
        alt: Alt::StreetEnding,
        trigger: Trigger::Last,
        digit_within: 0,
        consumes: false,
        find: Find::Reverse,
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
        find: Find::Starts,
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
        find: Find::Anchored,
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
    Keyed {
        alt: Alt::CityPostal,
        trigger: Trigger::First,
        digit_within: 0,
        consumes: false,
        find: Find::Anchored,
        words: &["in"],
    },
    Keyed {
        alt: Alt::PostalCountry,
        trigger: Trigger::First,
        digit_within: 0,
        consumes: false,
        find: Find::Anchored,
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
        find: Find::Anchored,
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
        find: Find::Anchored,
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
        find: Find::Starts,
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

/// An age from 90 to 149.
const AGE_OVER_89: &str = r"(?:9[0-9]|1[0-4][0-9])";

/// An alternative whose groups its handler reads, cut into consecutive
/// parts, each a group (named) or not (""): the groups are found by
/// matching the parts one after the other (see [`Patterns::groups`]).
pub(crate) fn parts(alt: Alt) -> Vec<(&'static str, String)> {
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
        // Ages, cities and postcodes: the value after its context.
        Alt::AgeYears => vec![
            ("agen1", format!(r"{B}{AGE_OVER_89}")),
            ("", format!(r"(?:(?:[ \t]*-?[ \t]*)(?i:years?|yrs?|yo|y/o|y\.o\.|-year|year)|M|[ \t]?yo[MF]){B}")),
        ],
        Alt::AgeAged => vec![
            ("", format!(r"{B}(?i:aged?|age:|age\s+of)[ \t]*")),
            ("agen2", format!(r"{AGE_OVER_89}{B}")),
        ],
        Alt::CityPostal => vec![
            ("", format!(r"{B}(?:in|IN)[ \t]+")),
            ("city", format!(r"(?:{LU}{L}*[ \t]+){{1,3}}(?:[0-9]{{4,5}}|[0-9]{{3}} [0-9]{{2}}|[0-9]{{4}}-[0-9]{{3}}){B}")),
        ],
        Alt::PostalLabel => vec![
            (
                "",
                format!(
                    r"{B}(?i:zip(?:[ \t]*code)?|postal[ \t]+code|post[ \t]*code)[ \t]*(?:(?i:is)[ \t]+|[:#][ \t]*)?"
                ),
            ),
            (
                "postal",
                format!(r"(?:[0-9][0-9A-Z]{{1,5}}(?:[ -][0-9A-Z]{{2,4}})?|[A-Z][0-9A-Z]{{1,4}}[ -]?[0-9][A-Z0-9]{{1,3}}){B}"),
            ),
        ],
        _ => Vec::new(),
    }
}

/// The expression of consecutive parts, each named part a group.
pub(crate) fn joined(parts: &[(&'static str, String)]) -> String {
    parts.iter().map(|(g, p)| if g.is_empty() { p.clone() } else { format!("(?P<{g}>{p})") }).collect()
}

pub(crate) fn alternatives() -> Vec<(Alt, String)> {
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
        (Alt::AgeYears, joined(&parts(Alt::AgeYears))),
        (Alt::AgeAged, joined(&parts(Alt::AgeAged))),
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
        (Alt::CityPostal, joined(&parts(Alt::CityPostal))),
        (
            Alt::StreetNamed,
            format!(r"{B}(?:[A-Z][a-z]+[ \t]+){{1,3}}(?:Street|Avenue|Boulevard|Road|STREET|AVENUE|ROAD){B}"),
        ),
        (Alt::PostalLabel, joined(&parts(Alt::PostalLabel))),
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
pub(crate) fn bytes() -> syntax::Config {
    syntax::Config::new().unicode(false).utf8(false)
}

/// Makes every `\s` ASCII white space. A Unicode `\s` is a dozen NFA states
/// (NBSP, the em and en spaces, ...) at each of its ~90 uses, and every one
/// of them multiplies DFA states; identifiers are not written with exotic
/// spaces between their words.
pub(crate) fn ascii_spaces(p: &str) -> String {
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
pub(crate) fn utf8_escapes(p: &str) -> String {
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
pub(crate) fn strip_groups(p: &str) -> String {
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

/// What a full DFA of the set is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Scan group `g` of [`SCAN_GROUPS`]: its patterns are the group's scan
    /// patterns, in priority order.
    Scan(usize),
    /// Where a match of scan pattern `i` starts: reverse, anchored at its end.
    Start(usize),
    /// The next part of alternative `k` (an index into [`alternatives`]),
    /// with its group's name ("" for none), anchored.
    Part(usize, &'static str),
    /// Entry `j` of [`KEYED`], forward.
    Keyed(usize),
    /// Where a match of entry `j` of [`KEYED`] starts.
    KeyedStart(usize),
}

/// One full DFA to build: its role, its patterns and how it searches.
pub(crate) struct Spec {
    pub role: Role,
    pub patterns: Vec<String>,
    /// Leftmost-first and unanchored; otherwise anchored (reverse DFAs
    /// report every match, the last being the longest).
    #[cfg_attr(not(test), allow(dead_code, reason = "read by the build script"))]
    pub unanchored: bool,
}

/// The pattern set, ready to compile or to load.
pub(crate) struct Set {
    /// Every alternative and its expression (with its groups), in priority order.
    pub alts: Vec<(Alt, String)>,
    /// The alternative (index into `alts`) of each scan pattern.
    pub scanned: Vec<usize>,
    /// The alternative (index into `alts`) of each entry of [`KEYED`].
    pub keyed: Vec<usize>,
    /// The scan's patterns, without groups: what one alternation would scan.
    pub scan: Vec<String>,
    /// The scan patterns (indexes into `scan`) of each of [`SCAN_GROUPS`].
    pub groups: Vec<Vec<usize>>,
    /// Every full DFA, in the order the build script writes them.
    pub specs: Vec<Spec>,
}

/// The pattern set and its full DFAs, in a fixed order: the build script
/// compiles them in this order and the crate loads them in it.
pub(crate) fn set() -> Result<Set, String> {
    let alts: Vec<(Alt, String)> =
        alternatives().into_iter().map(|(a, p)| (a, utf8_escapes(&ascii_spaces(&p)))).collect();
    let is_keyed = |a: &Alt| KEYED.iter().any(|key| key.alt == *a);
    // Pattern order is priority order (leftmost-first), as in one alternation.
    let scanned: Vec<usize> = (0..alts.len()).filter(|&k| alts.get(k).is_some_and(|(a, _)| !is_keyed(a))).collect();
    let keyed: Vec<usize> = KEYED.iter().filter_map(|key| alts.iter().position(|(a, _)| *a == key.alt)).collect();
    if keyed.len() != KEYED.len() {
        return Err("a keyed alternative is not in the pattern set".into());
    }
    // The scan needs no groups: they would only slow it down.
    let scan: Vec<String> = scanned.iter().filter_map(|&k| alts.get(k)).map(|(_, p)| strip_groups(p)).collect();
    let alt_of = |i: usize| scanned.get(i).and_then(|&k| alts.get(k)).map(|(a, _)| *a);
    let groups: Vec<Vec<usize>> = SCAN_GROUPS
        .iter()
        .map(|group| (0..scan.len()).filter(|&i| alt_of(i).is_some_and(|a| group.contains(&a))).collect())
        .collect();
    for i in 0..scan.len() {
        if groups.iter().filter(|g| g.contains(&i)).count() != 1 {
            return Err(format!("{:?} is not in exactly one of SCAN_GROUPS", alt_of(i)));
        }
    }
    let mut specs = Vec::new();
    for (g, members) in groups.iter().enumerate() {
        let patterns = members.iter().filter_map(|&i| scan.get(i).cloned()).collect();
        specs.push(Spec { role: Role::Scan(g), patterns, unanchored: true });
    }
    for (i, p) in scan.iter().enumerate() {
        specs.push(Spec { role: Role::Start(i), patterns: vec![p.clone()], unanchored: false });
    }
    for (k, (a, _)) in alts.iter().enumerate() {
        let cut = parts(*a);
        if cut.len() > MAX_PARTS {
            return Err(format!("{a:?} is cut into more than {MAX_PARTS} parts"));
        }
        for (name, part) in &cut {
            let part = strip_groups(&utf8_escapes(&ascii_spaces(part)));
            specs.push(Spec { role: Role::Part(k, name), patterns: vec![part], unanchored: false });
        }
    }
    for (j, (key, &k)) in KEYED.iter().zip(&keyed).enumerate() {
        if (key.find == Find::Anchored) != (key.trigger == Trigger::First) {
            return Err(format!("{:?} is found anchored exactly when its trigger word is first", key.alt));
        }
        let Some((_, p)) = alts.get(k) else { continue };
        let p = strip_groups(p);
        let unanchored = key.find == Find::Reverse;
        specs.push(Spec { role: Role::Keyed(j), patterns: vec![p.clone()], unanchored });
        // An anchored search's match starts where it began.
        if unanchored {
            specs.push(Spec { role: Role::KeyedStart(j), patterns: vec![p], unanchored: false });
        }
    }
    Ok(Set { alts, scanned, keyed, scan, groups, specs })
}

/// The largest full DFA the set may compile into: a change to an
/// expression that makes one bigger fails the build, not the scan.
#[cfg_attr(not(test), allow(dead_code, reason = "read by the build script"))]
pub(crate) const MAX_DFA_BYTES: usize = 4 << 20;

/// Compiles one full DFA of the set.
#[cfg_attr(not(test), allow(dead_code, reason = "called by the build script"))]
pub(crate) fn compile(spec: &Spec) -> Result<dense::DFA<Vec<u32>>, Box<dense::BuildError>> {
    let reverse = matches!(spec.role, Role::Start(_) | Role::KeyedStart(_));
    let config = dense::Config::new()
        // Anchored at the end of a match, the longest reverse match is its start.
        .match_kind(if reverse { MatchKind::All } else { MatchKind::LeftmostFirst })
        .start_kind(if spec.unanchored { StartKind::Unanchored } else { StartKind::Anchored })
        // Not minimised: that would cost build time and not search time.
        .minimize(false)
        .dfa_size_limit(Some(MAX_DFA_BYTES))
        .determinize_size_limit(Some(4 * MAX_DFA_BYTES));
    let nfa =
        thompson::Config::new().nfa_size_limit(Some(64 << 20)).which_captures(WhichCaptures::None).reverse(reverse);
    dense::Builder::new().configure(config).syntax(bytes()).thompson(nfa).build_many(&spec.patterns).map_err(Box::new)
}

/// Per entry of [`KEYED`], in order, the bytes no match of it can hold
/// ([`outside_bytes`] of its expression).
#[cfg_attr(not(test), allow(dead_code, reason = "called by the build script"))]
pub(crate) fn keyed_outside(set: &Set) -> Result<Vec<[u64; 4]>, String> {
    let keyed = set.specs.iter().filter_map(|s| match s.role {
        Role::Keyed(_) => s.patterns.first(),
        _ => None,
    });
    keyed.map(|p| outside_bytes(p)).collect()
}

/// The bytes that no match of `expr` can hold, as a bit set: in none of its
/// literals or classes (a Unicode class holds every non-ASCII byte, to be
/// safe). A match lies between the nearest such bytes on either side of
/// any byte of it.
#[cfg_attr(not(test), allow(dead_code, reason = "called by the build script"))]
pub(crate) fn outside_bytes(expr: &str) -> Result<[u64; 4], String> {
    use regex_syntax::hir::{Class, Hir, HirKind};
    fn mark(hir: &Hir, inside: &mut [bool; 256]) {
        match hir.kind() {
            HirKind::Empty | HirKind::Look(_) => {}
            HirKind::Literal(lit) => lit.0.iter().for_each(|&b| inside[usize::from(b)] = true),
            HirKind::Class(Class::Bytes(c)) => {
                for r in c.iter() {
                    (r.start()..=r.end()).for_each(|b| inside[usize::from(b)] = true);
                }
            }
            HirKind::Class(Class::Unicode(c)) => {
                for r in c.iter() {
                    let ascii = u32::from(r.start())..=u32::from(r.end()).min(0x7F);
                    ascii.for_each(|b| inside[b as usize] = true);
                    if u32::from(r.end()) > 0x7F {
                        inside[0x80..].fill(true);
                    }
                }
            }
            HirKind::Repetition(r) => mark(&r.sub, inside),
            HirKind::Capture(c) => mark(&c.sub, inside),
            HirKind::Concat(hs) | HirKind::Alternation(hs) => hs.iter().for_each(|h| mark(h, inside)),
        }
    }
    let hir = syntax::parse_with(expr, &bytes()).map_err(|e| e.to_string())?;
    let mut inside = [false; 256];
    mark(&hir, &mut inside);
    let mut out = [0u64; 4];
    for (b, _) in inside.iter().enumerate().filter(|(_, i)| !**i) {
        out[b / 64] |= 1 << (b % 64);
    }
    Ok(out)
}
