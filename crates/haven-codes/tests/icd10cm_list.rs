//! Acceptance: every line of the shared April 2026 ICD-10-CM list (chapters,
//! section ranges, categories and codes) is found in the list compiled into
//! the crate, and the crate's list holds nothing else. Skipped when
//! `../shared/data` is absent.

use std::collections::BTreeSet;
use std::path::Path;

use haven_codes::icd10cm::{self, Kind};

const SHARED: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/codes/icd10cm-code-list-April-2026.txt");

#[test]
fn every_shared_line_is_in_the_shipped_list() {
    let path = Path::new(SHARED);
    let Ok(text) = std::fs::read_to_string(path) else {
        println!("SKIPPED: {} not found", path.display());
        return;
    };
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert!(lines.len() > 98_000, "{} lines", lines.len());
    let mut kinds = [0usize; 4];
    for line in &lines {
        let entry = icd10cm::lookup(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(entry.code().as_str(), *line);
        let slot = match entry.kind() {
            Kind::Billable => 0,
            Kind::Heading => 1,
            Kind::Range => 2,
            Kind::Chapter => 3,
            Kind::Unknown => panic!("{line} is not in the shipped list"),
        };
        kinds[slot] += 1;
    }
    let shared: BTreeSet<&str> = lines.iter().copied().collect();
    let shipped: BTreeSet<&str> = icd10cm::entries().collect();
    assert_eq!(shared, shipped, "the shipped list is exactly the shared one");
    println!("billable {}, headings {}, ranges {}, chapters {}", kinds[0], kinds[1], kinds[2], kinds[3]);
}
