//! The shipped dictionaries (names, places, ZIP codes, common words) and the
//! medical allow-list, loaded once on first use.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

/// FxHash: dictionary look-ups happen for every capitalised word, and SipHash's
/// protection against hash flooding buys nothing for a fixed, shipped key set.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut v = 0u64;
            for (i, b) in chunk.iter().enumerate() {
                v |= u64::from(*b) << (8 * i);
            }
            self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(i)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FxSet<T> = HashSet<T, BuildHasherDefault<FxHasher>>;
pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

const FIRST_NAMES: &str = include_str!("../data/first_names.txt");
const FIRST_NAMES_INTL: &str = include_str!("../data/first_names_intl.txt");
const SURNAMES: &str = include_str!("../data/surnames.txt");
const PLACES: &str = include_str!("../data/places.txt");
const COMMON_WORDS: &str = include_str!("../data/common_words.txt");
const ENGLISH_WORDS: &str = include_str!("../data/english_words.txt");
const MEDICAL: &str = include_str!("../data/medical_allow.txt");
const ZIPS: &[u8] = include_bytes!("../data/zips.bin");

/// Words that look like names but, capitalised in clinical text, are
/// headings, titles or ordinary words far more often (kept by hand because
/// MedQuAD's lower-case vocabulary does not cover note structure).
const EXTRA_COMMON: &str = "patient pt history plan assessment chief complaint diagnosis impression \
    exam physical review systems social family medical surgical medications allergies allergy \
    vitals vital signs labs results subjective objective hpi ros pmh psh fh sh note notes \
    discharge admission admit summary follow up instructions procedure procedures findings \
    reason visit clinic hospital doctor nurse md do rn np pa dr mr mrs ms miss sir madam \
    the a an and or but if of in on at to for with from by as is was are were be been \
    he she they we you i it his her their our your my me him them us this that these those \
    no yes not none normal negative positive left right bilateral mild moderate severe \
    today tomorrow yesterday morning evening night daily weekly monthly \
    january february march april may june july august september october november december \
    monday tuesday wednesday thursday friday saturday sunday \
    street avenue road lane drive court place way boulevard suite apt \
    north south east west new old saint st county city state \
    general internal emergency primary care unit department service services center \
    blood pressure heart rate pulse temperature weight height oxygen \
    so well good fine okay ok thank thanks hello hi hey please sure right yeah yep \
    all any some every each other another such only also just still even very much many \
    more most less least few first last next previous prior recent current \
    mother father brother sister son daughter wife husband parent parents child children \
    baby infant spouse partner friend guardian caregiver \
    male female man woman boy girl gentleman lady \
    black white hispanic asian african american caucasian latino \
    medicare medicaid insurance blue cross shield aetna cigna humana united \
    tylenol advil motrin aleve lasix coumadin zoloft prozac xanax valium \
    christian catholic jewish muslim \
    america canada mexico france germany spain italy portugal norway sweden denmark finland iceland ireland \
    england scotland wales britain kingdom netherlands holland belgium switzerland austria poland hungary \
    czech slovakia croatia serbia greece turkey russia ukraine china japan korea india pakistan vietnam \
    thailand philippines indonesia australia zealand brazil argentina chile peru colombia venezuela cuba \
    egypt nigeria kenya ethiopia africa europe asia israel iran iraq syria lebanon jordan morocco \
    german french spanish italian swedish danish norwegian finnish dutch polish hungarian greek russian \
    brazilian portuguese irish british english canadian mexican chinese japanese korean swiss austrian \
    belgian icelandic \
    iban swift credit debit card song album novel prince princess king queen lord royal \
    who what when where why how someone somebody anyone anybody everyone everybody nobody \
    mom mommy dad daddy grandma grandpa granny nana papa symptoms symptom i'm i'd i've i'll you're \
    oh um uh umm hmm mhm mm ah aha wow yup nope huh ugh gosh alright okay";

/// Eponyms and other capitalised medical words that are never names in a note
/// unless a title or label says so.
const EPONYMS: &str = "parkinson parkinsons alzheimer alzheimers crohn crohns hodgkin hodgkins graves addison \
    addisons cushing cushings bell bells down wilson wilsons hashimoto hashimotos raynaud raynauds \
    tourette tourettes huntington huntingtons guillain barre sjogren sjogrens kawasaki marfan \
    meniere menieres paget pagets turner turners klinefelter asperger aspergers babinski apgar \
    glasgow foley whipple nissen roux hartmann kaposi barrett barretts bowen brugada wolff \
    parkinson's alzheimer's crohn's hodgkin's bell's wilson's graves' cushing's addison's \
    epstein barr lou gehrig gehrigs tay sachs ewing ewings wilms burkitt burkitts reye reyes \
    osgood schlatter legg perthes scheuermann bence jones fallot tetralogy homan homans murphy \
    murphys mcburney rovsing kernig brudzinski romberg tinel phalen finkelstein lachman \
    trendelenburg valsalva heimlich doppler holter swan ganz hickman groshong port-a-cath \
    pap gram wright giemsa ziehl neelsen mantoux snellen weber rinne dix hallpike epley \
    allen adson spurling mcmurray thompson hawkins neer jobe yergason speed hoffman \
    lyme rocky mountain west nile ebola marburg coxsackie norwalk norovirus \
    braxton hicks apgars cooley cooleys fanconi gaucher fabry pompe niemann pick \
    dupuytren dupuytrens peyronie peyronies ludwig ludwigs bartholin bartholins \
    achilles colles smith's barton boxer jones monteggia galeazzi salter harris \
    hunter hurler sanfilippo morquio gilbert gilberts dubin johnson rotor \
    stevens lambert eaton myasthenia zollinger ellison conn conns sheehan sheehans \
    kussmaul cheyne stokes korotkoff korsakoff wernicke broca brocas \
    von willebrand willebrands hirschsprung hirschsprungs meckel meckels \
    still stills behcet behcets takayasu wegener churg strauss goodpasture \
    berger bergers alport alports fabrys tietze tietzes dressler dresslers \
    prinzmetal lown ganong levine mallory weiss boerhaave zenker zenkers \
    charcot marie tooth friedreich friedreichs duchenne becker beckers \
    tanner ranson rankin karnofsky wells geneva caprini cha2ds2 hasbled braden morse \
    glasgow-blatchford child pugh meld apache sofa qsofa curb heart timi grace \
    nyha gold asa ecog mallampati";

/// The shipped dictionaries.
pub(crate) struct Dicts {
    pub first: FxSet<&'static str>,
    /// Surnames with their frequency rank (1 = most frequent).
    pub last: FxMap<&'static str, u32>,
    pub places: FxSet<&'static str>,
    /// The longest place name, in words.
    pub place_words: usize,
    pub common: FxSet<&'static str>,
    /// Ordinary English words that no name or place list holds.
    pub english: FxSet<&'static str>,
    pub medical: FxSet<&'static str>,
}

fn lines(s: &'static str) -> impl Iterator<Item = &'static str> {
    s.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// The dictionaries, built on first use (about 20 ms) and shared afterwards.
pub(crate) fn dicts() -> &'static Dicts {
    static D: OnceLock<Dicts> = OnceLock::new();
    D.get_or_init(|| {
        let mut common: FxSet<&'static str> = lines(COMMON_WORDS).collect();
        common.extend(EXTRA_COMMON.split_whitespace());
        let mut medical: FxSet<&'static str> = lines(MEDICAL).flat_map(str::split_whitespace).collect();
        medical.extend(EPONYMS.split_whitespace());
        let places: FxSet<&'static str> = lines(PLACES).collect();
        let place_words = places.iter().map(|p| p.split(' ').count()).max().unwrap_or(1);
        Dicts {
            english: lines(ENGLISH_WORDS).collect(),
            first: lines(FIRST_NAMES).chain(lines(FIRST_NAMES_INTL)).collect(),
            last: lines(SURNAMES).zip(1u32..).collect(),
            places,
            place_words,
            common,
            medical,
        }
    })
}

/// Whether `zip` (five ASCII digits) is a ZIP code the USPS has assigned.
pub(crate) fn is_known_zip(zip: &str) -> bool {
    let Ok(n) = zip.parse::<usize>() else { return false };
    zip.len() == 5 && ZIPS.get(n / 8).is_some_and(|b| b & (1 << (n % 8)) != 0)
}

/// The three-digit ZIP prefixes whose areas held 20,000 people or fewer
/// (HHS de-identification guidance, 2000 census): Safe Harbor requires
/// them to become 000.
pub const RESTRICTED_ZIP3: [&str; 17] = [
    "036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878", "879", "884", "890",
    "893",
];

/// US state names and postal abbreviations (states are not PHI; they anchor
/// city and ZIP detection).
pub(crate) const STATES: &str = "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR";

/// Full state names, lower case.
pub(crate) const STATE_NAMES: [&str; 51] = [
    "alabama",
    "alaska",
    "arizona",
    "arkansas",
    "california",
    "colorado",
    "connecticut",
    "delaware",
    "florida",
    "georgia",
    "hawaii",
    "idaho",
    "illinois",
    "indiana",
    "iowa",
    "kansas",
    "kentucky",
    "louisiana",
    "maine",
    "maryland",
    "massachusetts",
    "michigan",
    "minnesota",
    "mississippi",
    "missouri",
    "montana",
    "nebraska",
    "nevada",
    "new hampshire",
    "new jersey",
    "new mexico",
    "new york",
    "north carolina",
    "north dakota",
    "ohio",
    "oklahoma",
    "oregon",
    "pennsylvania",
    "rhode island",
    "south carolina",
    "south dakota",
    "tennessee",
    "texas",
    "utah",
    "vermont",
    "virginia",
    "washington",
    "west virginia",
    "wisconsin",
    "wyoming",
    "district of columbia",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionaries_load() {
        let d = dicts();
        assert!(d.first.contains("james") && d.first.contains("mary"));
        assert!(d.last.contains_key("smith") && d.last.get("smith") == Some(&1));
        assert!(d.places.contains("boston") && d.places.contains("san francisco"));
        assert!(d.medical.contains("parkinson") && d.medical.contains("metformin"));
        assert!(d.place_words >= 2);
    }

    #[test]
    fn zip_bitmap() {
        assert!(is_known_zip("02115") && is_known_zip("10001"));
        assert!(!is_known_zip("00000") && !is_known_zip("1234") && !is_known_zip("abcde"));
    }
}
