//! The compiled pattern pass: the structured identifier forms of
//! [`crate::pattern_set`] searched with full DFAs built with the crate.
//!
//! The scan runs the DFAs of the groups of [`SCAN_GROUPS`] side by side
//! and merges their matches into those of one leftmost-first alternation; keyed
//! alternatives run on windows around their trigger words; alternatives
//! with groups find them part by part. The DFAs are compiled by the build
//! script and loaded from the binary, so no search builds states at run
//! time: a lazy DFA built them as each new kind of text came, and a first
//! pass over a few kilobytes of notes took ten times as long as the next.

use std::sync::OnceLock;

use regex_automata::dfa::{Automaton, dense};
use regex_automata::{Anchored, Input, MatchError};

pub(crate) use crate::pattern_set::{Alt, Find, GLUED_STREET_ENDINGS, KEYED, Trigger};
use crate::pattern_set::{MAX_PARTS, Role, SCAN_GROUPS, Set, bytes};

/// The full DFAs, as the build script wrote them.
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/patterns_index.rs"));

    /// Bytes aligned for loading `u32`s in place.
    #[repr(C)]
    pub(super) struct Aligned<B: ?Sized> {
        _align: [u64; 0],
        pub bytes: B,
    }

    pub(super) static BLOB: &Aligned<[u8]> =
        &Aligned { _align: [], bytes: *include_bytes!(concat!(env!("OUT_DIR"), "/patterns.dfa")) };
}

type Dense = dense::DFA<&'static [u32]>;

/// The number of scan groups.
const GROUPS: usize = SCAN_GROUPS.len();

/// The compiled pattern set: a full DFA per scan group, which reports where
/// a match ends and which alternative matched; a small reverse DFA per scan
/// alternative, which finds where that match starts; DFAs for the keyed
/// alternatives and the parts of alternatives with groups; and each
/// alternative on its own as a regex, for its groups when its parts do not
/// find them (and in place of a DFA search that fails: none can on these
/// patterns, as no byte makes them quit).
///
/// One reverse DFA for the whole set would be as big as the forward ones;
/// per alternative, the reverse DFAs stay small.
pub(crate) struct Patterns {
    /// Per scan group, its DFA and the scan index of each of its patterns.
    groups: [(Dense, Vec<usize>); GROUPS],
    /// Per scan pattern, where its match starts (reverse, anchored at its end).
    rev: Vec<Dense>,
    /// The alternative (index into `alts`) of each scan pattern.
    scanned: Vec<usize>,
    /// The alternative (index into `alts`) of each entry of [`KEYED`].
    keyed: Vec<usize>,
    /// The scan's patterns, for [`Patterns::one_regex`].
    scan: Vec<String>,
    /// The same set as one regex, built only should a DFA search fail (none
    /// can on these patterns: no byte makes them quit); this keeps results
    /// exact if one did.
    re: OnceLock<Option<regex_automata::meta::Regex>>,
    pub alts: Vec<(Alt, regex_automata::meta::Regex)>,
    /// Per alternative, its [`parts`](crate::pattern_set::parts) as anchored DFAs (none for most).
    parts: Vec<Vec<(&'static str, Dense)>>,
    /// Per entry of [`KEYED`], its DFAs.
    keyed_dfa: Vec<KeyedDfa>,
}

/// A keyed alternative's DFAs (see [`Find`]).
struct KeyedDfa {
    /// Forward: unanchored for [`Find::Reverse`], anchored otherwise.
    fwd: Dense,
    /// For [`Find::Reverse`], where a match starts.
    start: Option<Dense>,
    /// For [`Find::Starts`], the bytes on which the anchored DFA does not
    /// die at once (whatever comes before): only there can a match begin.
    first: Option<Box<[bool; 256]>>,
    /// The bytes no match can hold (none of the expression's literals and
    /// classes has them): a match around a trigger word lies between the
    /// nearest such bytes on either side of it.
    outside: Box<[bool; 256]>,
}

impl KeyedDfa {
    fn new(fwd: Dense, find: Find, outside: &[u64; 4]) -> Result<KeyedDfa, Box<dyn std::error::Error + Send + Sync>> {
        let outside = Box::new(std::array::from_fn(|b| outside[b / 64] >> (b % 64) & 1 == 1));
        let first = match find {
            Find::Starts => {
                let mut first = Box::new([false; 256]);
                let behind = std::iter::once(None).chain((0..=255u8).map(Some));
                for lb in behind {
                    let config = regex_automata::util::start::Config::new().anchored(Anchored::Yes).look_behind(lb);
                    let sid = fwd.start_state(&config)?;
                    for (b, can) in (0..=255u8).zip(first.iter_mut()) {
                        *can |= !fwd.is_dead_state(fwd.next_state(sid, b));
                    }
                }
                Some(first)
            }
            Find::Anchored | Find::Reverse => None,
        };
        Ok(KeyedDfa { fwd, start: None, first, outside })
    }
}

/// The groups of one match, found by [`Patterns::groups`]: (name, start, end).
pub(crate) struct Groups {
    spans: [(&'static str, usize, usize); MAX_PARTS],
}

impl Groups {
    /// The span of group `name`, if the alternative has it.
    pub fn get(&self, name: &str) -> Option<(usize, usize)> {
        self.spans.iter().find(|(g, _, _)| !g.is_empty() && *g == name).map(|&(_, a, b)| (a, b))
    }
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
        self.scan(text, found);
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
        let mut we = ceil_char(text, ke.saturating_add(after).min(ks.saturating_add(KEYED_REACH)).min(text.len()));
        if anchored == Anchored::No {
            // No match of this alternative starts between the earlier
            // window's start and `from` but those already read.
            if *from > ks {
                return None;
            }
            ws = ws.max(*from);
            // A match that holds the word holds none of the bytes outside
            // its expression: it lies between the nearest ones (a line's
            // end, a comma, a digit for a name), and the search starts
            // after the one before the word. An unanchored DFA would read
            // on to the window's end: it stops at the one after. (Anchored
            // searches die at such a byte by themselves.)
            if let Some(dfa) = self.keyed_dfa.get(j) {
                let b = text.as_bytes();
                if let Some(i) = b.get(ws..ks).and_then(|w| w.iter().rposition(|&c| dfa.outside[usize::from(c)])) {
                    ws = ceil_char(text, ws + i + 1);
                }
                if dfa.first.is_none()
                    && let Some(i) = b.get(ke..we).and_then(|w| w.iter().position(|&c| dfa.outside[usize::from(c)]))
                {
                    we = ke + i;
                }
            }
        }
        let mut pos = ws;
        while let Some((start, end)) = self.keyed_find(j, re, text, pos..we, anchored, ks) {
            if start > ks {
                // Read again from its start next time: the window's end
                // may have cut it short.
                *from = start;
                return None;
            }
            *from = end;
            if end >= ke {
                return Some((k, start, end));
            }
            // No keyed alternative matches the empty string.
            if end <= pos {
                break;
            }
            pos = end;
        }
        *from = (*from).max(ks);
        None
    }

    /// The leftmost-first match of keyed alternative `j` in `window`
    /// (anchored at its start when the trigger word is first), with its DFAs (or its regex `re`, should a DFA search fail). A
    /// [`Find::Starts`] search tries no start past `last_start` and is
    /// `None` if no match starts by then.
    fn keyed_find(
        &self,
        j: usize,
        re: &regex_automata::meta::Regex,
        text: &str,
        window: std::ops::Range<usize>,
        anchored: Anchored,
        last_start: usize,
    ) -> Option<(usize, usize)> {
        let input = Input::new(text).range(window.clone()).anchored(anchored);
        let by_regex = || re.search(&input).map(|m| (m.start(), m.end()));
        let Some(dfa) = self.keyed_dfa.get(j) else { return by_regex() };
        let found = (|| -> Result<Option<(usize, usize)>, MatchError> {
            if let Some(first) = &dfa.first {
                let bytes = text.as_bytes();
                for p in window.start..window.end.min(last_start.saturating_add(1)) {
                    if !bytes.get(p).is_some_and(|&b| first[usize::from(b)]) {
                        continue;
                    }
                    let at = Input::new(text).range(p..window.end).anchored(Anchored::Yes);
                    if let Some(end) = dfa.fwd.try_search_fwd(&at)? {
                        return Ok(Some((p, end.offset())));
                    }
                }
                return Ok(None);
            }
            let Some(end) = dfa.fwd.try_search_fwd(&input)?.map(|m| m.offset()) else { return Ok(None) };
            // Without a reverse DFA the search is anchored: the match starts where it began.
            let Some(rev) = &dfa.start else { return Ok(Some((window.start, end))) };
            let back = Input::new(text).range(window.start..end).anchored(Anchored::Yes);
            Ok(rev.try_search_rev(&back)?.map(|start| (start.offset(), end)))
        })();
        match found {
            Ok(m) => m,
            Err(_) => by_regex(),
        }
    }

    /// The groups of alternative `k`'s match at `s..e`, for an alternative
    /// cut into [`parts`](crate::pattern_set::parts): each part's leftmost-first match, anchored where
    /// the one before it ended. A backtracking capture engine tries paths in
    /// the same order and takes the first that gets through every part, so
    /// when these matches reach `e` exactly its groups are these. `None`
    /// otherwise (the caller runs the capture engine): an alternative
    /// without parts, a part that does not match there, or an end short of
    /// `e` (a later part needed an earlier one to give back).
    ///
    /// A DFA per part costs a few hundred instructions where the capture
    /// engine on the whole expression cost some thousands.
    pub fn groups(&self, k: usize, text: &str, s: usize, e: usize) -> Option<Groups> {
        let parts = self.parts.get(k).filter(|p| !p.is_empty())?;
        let mut out = Groups { spans: [("", 0, 0); MAX_PARTS] };
        let mut at = s;
        for ((name, dfa), span) in parts.iter().zip(out.spans.iter_mut()) {
            let input = Input::new(text).range(at..e).anchored(Anchored::Yes);
            let end = dfa.try_search_fwd(&input).ok()??.offset();
            *span = (name, at, end);
            at = end;
        }
        (at == e).then_some(out)
    }

    /// The leftmost-first match of each group `g` with `need[g]`, searched
    /// from `at`, as (scan index, start, end).
    fn find_in(&self, need: [bool; GROUPS], text: &str, at: usize) -> Result<[Option<ScanMatch>; GROUPS], MatchError> {
        let [d0, d1] = &self.groups;
        let input = Input::new(text).range(at..);
        let ends = match need {
            [true, true] => both(&d0.0, &d1.0, text.as_bytes(), &input)?,
            [true, false] => [d0.0.try_search_fwd(&input)?.map(|m| (m.pattern().as_usize(), m.offset())), None],
            [false, true] => [None, d1.0.try_search_fwd(&input)?.map(|m| (m.pattern().as_usize(), m.offset()))],
            [false, false] => [None, None],
        };
        let mut out = [None; GROUPS];
        for ((o, found), pats) in out.iter_mut().zip(ends).zip([&d0.1, &d1.1]) {
            let Some((pid, e)) = found else { continue };
            let Some(&k) = pats.get(pid) else { continue };
            let Some(rev) = self.rev.get(k) else { continue };
            let back = Input::new(text).range(at..e).anchored(Anchored::Yes);
            *o = rev.try_search_rev(&back)?.map(|start| (k, start.offset(), e));
        }
        Ok(out)
    }

    /// Merges the groups' matches into those of one leftmost-first
    /// alternation of all the scan's patterns: the match that starts
    /// leftmost and, of those starting there, the one whose pattern comes
    /// first. Each group's search gives its own leftmost match, and of its
    /// patterns matching there the first, so the first of those is the
    /// alternation's. A group's next match stays valid until a chosen match
    /// ends past its start; only then is that group searched again (both
    /// at once when both need it, see [`both`]).
    fn scan(&self, text: &str, out: &mut Vec<(usize, usize, usize)>) {
        // Per group: not searched yet (None), no match left (Some(None)),
        // or its next match.
        const UNSEARCHED: Option<Option<(usize, usize, usize)>> = None;
        let mut next = [UNSEARCHED; GROUPS];
        let mut at = 0;
        while at < text.len() {
            let need = next.map(|slot| match slot {
                Some(Some(m)) => m.1 < at,
                Some(None) => false,
                None => true,
            });
            if need.iter().any(|&n| n) {
                match self.find_in(need, text, at) {
                    Ok(found) => {
                        for ((slot, m), n) in next.iter_mut().zip(found).zip(need) {
                            if n {
                                *slot = Some(m);
                            }
                        }
                    }
                    Err(_) => {
                        if let Some(re) = self.one_regex() {
                            let rest = re.find_iter(Input::new(text).range(at..));
                            out.extend(rest.map(|m| (m.pattern().as_usize(), m.start(), m.end())));
                        }
                        return;
                    }
                }
            }
            let mut best: Option<(usize, usize, usize)> = None;
            for m in next.iter().flatten().flatten() {
                if best.is_none_or(|b| (m.1, m.0) < (b.1, b.0)) {
                    best = Some(*m);
                }
            }
            match best {
                Some((k, s, e)) if e > s => {
                    out.push((k, s, e));
                    at = e;
                }
                // No alternative matches the empty string; step over one
                // should a reverse search disagree.
                Some((_, _, e)) => at = next_char(text, e.max(at)),
                None => break,
            }
        }
    }
}

/// A match of a scan group: (pattern of the group, end).
type GroupEnd = Option<(usize, usize)>;

/// A scan match: (scan index, start, end).
type ScanMatch = (usize, usize, usize);

/// The leftmost-first matches of two DFAs searched from the start of
/// `input` (to the end of the text), as (pattern, end).
///
/// The two DFAs read the text together, a byte at a time: each step waits
/// on the load of the state before it, and two independent chains of loads
/// overlap where two searches one after the other would not. Each step is
/// that of `regex-automata`'s own forward search: a match state records a
/// match that ends one byte back, and the search goes on until the DFA
/// dies (leftmost-first), then reads the end of the text.
fn both(d0: &Dense, d1: &Dense, bytes: &[u8], input: &Input<'_>) -> Result<[GroupEnd; 2], MatchError> {
    let (mut s0, mut s1) = (d0.start_state_forward(input)?, d1.start_state_forward(input)?);
    let (mut m0, mut m1) = (None, None);
    let mut i = input.start();
    while let Some(&b) = bytes.get(i) {
        s0 = d0.next_state(s0, b);
        s1 = d1.next_state(s1, b);
        let (dead0, dead1) = (step(d0, s0, b, i, &mut m0)?, step(d1, s1, b, i, &mut m1)?);
        match (dead0, dead1) {
            (false, false) => {}
            (true, true) => return Ok([m0, m1]),
            (true, false) => return Ok([m0, alone(d1, s1, m1, bytes, i + 1)?]),
            (false, true) => return Ok([alone(d0, s0, m0, bytes, i + 1)?, m1]),
        }
        i += 1;
    }
    Ok([end_of_text(d0, s0, m0, bytes.len()), end_of_text(d1, s1, m1, bytes.len())])
}

/// One DFA's search on from byte `i` in state `sid`, as in [`both`].
fn alone(
    dfa: &Dense,
    mut sid: regex_automata::util::primitives::StateID,
    mut mat: GroupEnd,
    bytes: &[u8],
    mut i: usize,
) -> Result<GroupEnd, MatchError> {
    while let Some(&b) = bytes.get(i) {
        sid = dfa.next_state(sid, b);
        if step(dfa, sid, b, i, &mut mat)? {
            return Ok(mat);
        }
        i += 1;
    }
    Ok(end_of_text(dfa, sid, mat, bytes.len()))
}

/// After a step onto `sid` (on byte `b` at `i`): records a match, and says
/// whether the DFA died.
#[inline(always)]
fn step(
    dfa: &Dense,
    sid: regex_automata::util::primitives::StateID,
    b: u8,
    i: usize,
    mat: &mut GroupEnd,
) -> Result<bool, MatchError> {
    if !dfa.is_special_state(sid) {
        return Ok(false);
    }
    if dfa.is_match_state(sid) {
        *mat = Some((dfa.match_pattern(sid, 0).as_usize(), i));
        Ok(false)
    } else if dfa.is_quit_state(sid) {
        Err(MatchError::quit(b, i))
    } else {
        Ok(dfa.is_dead_state(sid))
    }
}

/// The end-of-text step of a DFA still alive after the last byte.
fn end_of_text(dfa: &Dense, sid: regex_automata::util::primitives::StateID, mat: GroupEnd, len: usize) -> GroupEnd {
    let last = dfa.next_eoi_state(sid);
    if dfa.is_match_state(last) { Some((dfa.match_pattern(last, 0).as_usize(), len)) } else { mat }
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

/// Loads the pattern set's full DFAs from the binary, and compiles each
/// alternative on its own as a regex (for groups and the keyed
/// alternatives without full DFAs).
fn build() -> Result<Patterns, Box<dyn std::error::Error + Send + Sync>> {
    let Set { alts, scanned, keyed, scan, groups: members, specs } = crate::pattern_set::set()?;
    if specs.len() != embedded::DFA_INDEX.len() {
        return Err("the embedded DFAs are not those of this pattern set".into());
    }
    let mut groups = Vec::with_capacity(members.len());
    let mut rev = Vec::with_capacity(scan.len());
    let mut cut: Vec<Vec<(&'static str, Dense)>> = alts.iter().map(|_| Vec::new()).collect();
    let mut keyed_dfa: Vec<KeyedDfa> = Vec::with_capacity(KEYED.len());
    for (spec, &(at, len)) in specs.iter().zip(embedded::DFA_INDEX.iter()) {
        let bytes = embedded::BLOB.bytes.get(at..at + len).ok_or("an embedded DFA is out of bounds")?;
        let (dfa, _) = Dense::from_bytes(bytes)?;
        if dfa.pattern_len() != spec.patterns.len() {
            return Err(format!("the embedded DFA {:?} has other patterns", spec.role).into());
        }
        match spec.role {
            Role::Scan(g) => groups.push((dfa, members.get(g).ok_or("a scan group without members")?.clone())),
            Role::Start(_) => rev.push(dfa),
            Role::Part(k, name) => cut.get_mut(k).ok_or("no such alternative")?.push((name, dfa)),
            Role::Keyed(j) => {
                if keyed_dfa.len() != j {
                    return Err("the keyed DFAs are out of order".into());
                }
                let outside = embedded::KEYED_OUTSIDE.get(j).ok_or("a keyed DFA without its outside bytes")?;
                keyed_dfa.push(KeyedDfa::new(dfa, KEYED.get(j).ok_or("no such keyed alternative")?.find, outside)?);
            }
            Role::KeyedStart(j) => {
                let Some(k) = keyed_dfa.get_mut(j) else { return Err("a reverse DFA before its forward one".into()) };
                k.start = Some(dfa);
            }
        }
    }
    if keyed_dfa.len() != KEYED.len() {
        return Err("a keyed alternative has no DFA".into());
    }
    let mut out = Vec::with_capacity(alts.len());
    for (a, p) in alts {
        out.push((a, regex_automata::meta::Regex::builder().syntax(bytes()).build(&p)?));
    }
    let groups = groups.try_into().map_err(|_| "the embedded scan groups are not SCAN_GROUPS")?;
    Ok(Patterns { groups, rev, scanned, keyed, scan, re: OnceLock::new(), alts: out, parts: cut, keyed_dfa })
}

/// The pattern set, compiled on first use.
pub(crate) fn patterns() -> Option<&'static Patterns> {
    static P: OnceLock<Option<Patterns>> = OnceLock::new();
    P.get_or_init(|| build().ok()).as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern_set::*;

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
        for n in ["90", "95", "104", "149"] {
            for after in [" years", "-year", " yo", "yo", "M", " yoF", " - yrs", " y.o."] {
                texts.push((Alt::AgeYears, format!("a {n}{after} old")));
            }
            for before in ["aged ", "Age: ", "age", "age of ", "AGED\t"] {
                texts.push((Alt::AgeAged, format!("{before}{n}.")));
            }
        }
        for city in
            ["Springfield 62704", "New Haven 06511", "Rio De Janeiro 200 40", "Lisboa 1000-001", "Oslo Sentrum 0150"]
        {
            for pre in ["in ", "IN  ", "lives in\t"] {
                texts.push((Alt::CityPostal, format!("Now {pre}{city}.")));
            }
        }
        for label in ["zip", "ZIP code", "zipcode", "postal code", "Post code", "postcode"] {
            for sep in [" ", ": ", " is ", "#", " IS ", ":"] {
                for v in ["02139", "02139-4307", "SW1A 1AA", "K1A0B1", "75008", "1010 AB", "ISA1"] {
                    texts.push((Alt::PostalLabel, format!("{label}{sep}{v} here")));
                }
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
            for name in ["label", "value", "addr", "agen1", "agen2", "city", "postal"] {
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
        for (dfa, _) in &p.groups {
            assert!(dfa.byte_classes().alphabet_len() <= 128, "{:?}", dfa.byte_classes());
        }
    }

    /// The DFAs in the binary are the pattern set compiled now, each within
    /// the size limit, and every keyed alternative meant to have them does.
    #[test]
    fn embedded_dfas_are_the_set_compiled_now() {
        let set = set().expect("pattern set");
        assert_eq!(set.specs.len(), embedded::DFA_INDEX.len());
        for (spec, &(at, len)) in set.specs.iter().zip(embedded::DFA_INDEX.iter()) {
            let dfa = compile(spec).expect("compiles");
            assert!(dfa.memory_usage() <= MAX_DFA_BYTES, "{:?}", spec.role);
            let (bytes, pad) = dfa.to_bytes_native_endian();
            assert!(bytes.get(pad..) == embedded::BLOB.bytes.get(at..at + len), "{:?} differs", spec.role);
        }
        let outside = keyed_outside(&set).expect("parses");
        assert_eq!(outside, embedded::KEYED_OUTSIDE, "the embedded outside bytes are not the set's");
        let p = patterns().expect("patterns");
        assert_eq!(p.keyed_dfa.len(), KEYED.len());
        for (key, dfa) in KEYED.iter().zip(&p.keyed_dfa) {
            assert_eq!(dfa.start.is_some(), key.find == Find::Reverse, "{:?}", key.alt);
            assert_eq!(dfa.first.is_some(), key.find == Find::Starts, "{:?}", key.alt);
        }
    }

    /// The bytes outside an expression are those none of its literals and
    /// classes holds, whatever the case and look-around.
    #[test]
    fn outside_bytes_are_those_no_match_holds() {
        let outside = outside_bytes(r"(?-u:\b)(?i:ab)[0-9]+[\t\n ]\.|é").expect("parses");
        let has = |b: u8| outside[usize::from(b / 64)] >> (b % 64) & 1 == 1;
        for b in [b'a', b'A', b'B', b'0', b'9', b'\t', b'\n', b' ', b'.', 0xC3, 0xA9] {
            assert!(!has(b), "{b:#x}");
        }
        for b in [b'c', b'C', b',', b'\r', b'-', b'_', 0xC2, 0x80] {
            assert!(has(b), "{b:#x}");
        }
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
                    let outside = &p.keyed_dfa[j].outside;
                    assert!(!text.as_bytes()[m.range()].iter().any(|&b| outside[usize::from(b)]), "{text:?}");
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
