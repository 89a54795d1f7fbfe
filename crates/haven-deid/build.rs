//! Compiles the PHI pattern set into full DFAs and embeds them in the
//! library (`$OUT_DIR/patterns.dfa`, indexed by `$OUT_DIR/patterns_index.rs`),
//! so that detection never builds DFA states at run time: the first text
//! a process reads takes the same steps as the thousandth.

use std::error::Error;
use std::fmt::Write as _;
use std::path::PathBuf;

// The build script uses the pattern set's data and compiler, not all of it.
#[allow(dead_code)]
#[path = "src/pattern_set.rs"]
mod pattern_set;

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=src/pattern_set.rs");
    let set = pattern_set::set()?;
    let big_endian = std::env::var("CARGO_CFG_TARGET_ENDIAN").is_ok_and(|e| e == "big");
    let mut blob = Vec::new();
    let mut index = String::from("/// (offset, length) in `patterns.dfa` of each DFA of `pattern_set::set().specs`.\n");
    let _ = writeln!(index, "pub(crate) const DFA_INDEX: [(usize, usize); {}] = [", set.specs.len());
    for spec in &set.specs {
        let dfa = pattern_set::compile(spec).map_err(|e| format!("{:?}: {e}", spec.role))?;
        let (bytes, pad) = if big_endian { dfa.to_bytes_big_endian() } else { dfa.to_bytes_little_endian() };
        let bytes = bytes.get(pad..).ok_or("serialized DFA shorter than its padding")?;
        // Each DFA starts on an 8-byte boundary of a blob that is itself
        // aligned when embedded: DFAs load from aligned `u32`s.
        blob.resize(blob.len().next_multiple_of(8), 0);
        let _ = writeln!(index, "    ({}, {}),", blob.len(), bytes.len());
        blob.extend_from_slice(bytes);
    }
    index.push_str("];\n");
    // Per keyed alternative, the bytes its matches cannot hold (parsing the
    // expressions at start-up took 12M instructions).
    let outside = pattern_set::keyed_outside(&set)?;
    index.push_str("/// Per entry of `KEYED`, the bytes no match of it can hold (a bit per byte).\n");
    let _ = writeln!(index, "pub(crate) const KEYED_OUTSIDE: [[u64; 4]; {}] = [", outside.len());
    for bits in outside {
        let _ = writeln!(index, "    [{:#x}, {:#x}, {:#x}, {:#x}],", bits[0], bits[1], bits[2], bits[3]);
    }
    index.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("patterns.dfa"), &blob)?;
    std::fs::write(out.join("patterns_index.rs"), index)?;
    Ok(())
}
