//! Export to JSON Lines, and verification of such a file.
//!
//! The file verifies on its own: it opens with `{"anchor":{..}}` when it
//! starts after a checkpoint, then has one line per record (its canonical
//! bytes, which never contain a newline) and `{"checkpoint":{..}}` right
//! after the record each checkpoint covers.

use std::io::{BufRead, BufWriter, Write};

use serde::{Deserialize, Serialize};

use crate::store::AuditStore;
use crate::verify::{CheckpointFeed, Problem, Verifier, VerifyReport, page, stream_end};
use crate::{AuditError, Checkpoint, PublicKey};

/// What an export wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// Record lines written.
    pub records: u64,
    /// Checkpoint lines written (not counting the anchor line).
    pub checkpoints: u64,
    /// The first record written.
    pub first_seq: Option<u64>,
    /// The last record written.
    pub last_seq: Option<u64>,
}

/// A non-record line.
#[derive(Serialize, Deserialize)]
enum Line {
    #[serde(rename = "anchor")]
    Anchor(Checkpoint),
    #[serde(rename = "checkpoint")]
    Checkpoint(Checkpoint),
}

fn write_line(w: &mut impl Write, line: &Line) -> Result<(), AuditError> {
    serde_json::to_writer(&mut *w, line).map_err(|e| AuditError::Io(e.to_string()))?;
    w.write_all(b"\n")?;
    Ok(())
}

/// Writes the records from `since` on (and, so that the file verifies on its
/// own, those after the newest checkpoint before `since`) as JSON Lines.
pub async fn export_jsonl(
    store: &dyn AuditStore,
    since: u64,
    out: &mut (dyn Write + Send),
) -> Result<ExportReport, AuditError> {
    let anchor = store.anchor().await?;
    let floor = anchor.as_ref().map_or(0, |a| a.seq);
    let mut start = anchor;
    if since > 1
        && let Some(cp) = store.checkpoint_at_or_before(since - 1).await?
        && cp.seq > floor
    {
        start = Some(cp);
    }
    let end = stream_end(store).await?;
    let mut w = BufWriter::with_capacity(1 << 20, out);
    let mut after = 0;
    if let Some(cp) = start {
        after = cp.seq;
        write_line(&mut w, &Line::Anchor(cp))?;
    }
    let mut report = ExportReport::default();
    let mut cps = CheckpointFeed::new(store, after, end);
    let mut current = page(store, after, end).await?;
    while !current.is_empty() {
        let last = current.last().map_or(after, |r| r.seq);
        for r in &current {
            w.write_all(&r.bytes)?;
            w.write_all(b"\n")?;
            report.records += 1;
            report.first_seq.get_or_insert(r.seq);
            report.last_seq = Some(r.seq);
            while let Some(cp) = cps.next_upto(r.seq).await? {
                write_line(&mut w, &Line::Checkpoint(cp))?;
                report.checkpoints += 1;
            }
        }
        current = page(store, last, end).await?;
    }
    // Checkpoints past the last record are kept: they show truncation.
    while let Some(cp) = cps.next_upto(u64::MAX).await? {
        write_line(&mut w, &Line::Checkpoint(cp))?;
        report.checkpoints += 1;
    }
    w.flush()?;
    Ok(report)
}

/// Verifies an exported file. Read errors are `Err`; problems with the
/// content are in the report.
pub fn verify_jsonl(
    mut reader: impl BufRead,
    keys: Vec<PublicKey>,
    trusted: Option<Checkpoint>,
) -> Result<VerifyReport, AuditError> {
    let mut v = Verifier::new(keys);
    if let Some(t) = trusted {
        v.trust(t);
    }
    let mut buf = Vec::with_capacity(4096);
    let mut line_no = 0u64;
    let mut first = true;
    while v.problem().is_none() {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line_no += 1;
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if line.is_empty() {
            continue;
        }
        let was_first = std::mem::replace(&mut first, false);
        if line.starts_with(br#"{"checkpoint":"#) || line.starts_with(br#"{"anchor":"#) {
            match serde_json::from_slice::<Line>(line) {
                Ok(Line::Checkpoint(cp)) => v.push_checkpoint(cp),
                Ok(Line::Anchor(cp)) if was_first => {
                    let _ = v.start_after(cp);
                }
                Ok(Line::Anchor(_)) => {
                    let seq = v.next_seq();
                    v.fail(Problem { seq, what: format!("line {line_no}: an anchor line may only be the first line") });
                }
                Err(_) => {
                    let seq = v.next_seq();
                    v.fail(Problem { seq, what: format!("line {line_no}: not a valid checkpoint line") });
                }
            }
        } else {
            let _ = v.push_record(None, line);
        }
    }
    Ok(v.finish())
}
