//! The live consumer: detection off the request path. The audit writer
//! offers each stored record to a bounded queue without waiting; when the
//! queue is full the record is not lost but left in the audit store, and the
//! consumer, seeing the gap in sequence numbers (or the overflow flag),
//! reads the missing records back from the store in order. Lag is reported.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use haven_audit::{AuditStore, Record};
use serde::Serialize;
use tokio::sync::{Notify, mpsc};

use crate::alert::Alert;
use crate::engine::Detector;

/// Records read from the store per catch-up page.
const CATCH_UP_PAGE: usize = 1000;

/// How often absences (e.g. break-the-glass without documentation) are
/// checked against the clock when no record arrives to move time on.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Default)]
struct Shared {
    offered: AtomicU64,
    processed_seq: AtomicU64,
    overflows: AtomicU64,
    catch_ups: AtomicU64,
    caught_up_records: AtomicU64,
    last_lag_micros: AtomicI64,
    max_lag_micros: AtomicI64,
    behind: AtomicBool,
    store_errors: AtomicU64,
    wake: Notify,
}

/// How far detection is behind the audit log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LagReport {
    /// Highest sequence number offered.
    pub offered_seq: u64,
    /// Highest sequence number processed.
    pub processed_seq: u64,
    /// Records offered when the queue was full (read back from the store later).
    pub overflows: u64,
    /// Times the consumer read records back from the store.
    pub catch_ups: u64,
    /// Records read back from the store.
    pub caught_up_records: u64,
    /// Audit time to detection of the last record processed, µs.
    pub last_lag_micros: i64,
    /// The largest such lag seen, µs.
    pub max_lag_micros: i64,
    /// Whether records are waiting in the store.
    pub behind: bool,
    /// Store reads that failed (retried).
    pub store_errors: u64,
}

/// The handle the audit writer offers records to. Cheap to clone; never blocks.
#[derive(Clone)]
pub struct DetectionFeed {
    tx: mpsc::Sender<Record>,
    shared: Arc<Shared>,
}

impl haven_audit::AppendObserver for DetectionFeed {
    fn appended(&self, records: Vec<Record>) {
        for r in records {
            self.offer(r);
        }
    }
}

impl DetectionFeed {
    /// Offers a stored record. Never waits: when the queue is full the
    /// consumer is told to read it back from the store instead.
    pub fn offer(&self, record: Record) {
        self.shared.offered.fetch_max(record.seq, Ordering::Relaxed);
        if self.tx.try_send(record).is_err() {
            self.shared.overflows.fetch_add(1, Ordering::Relaxed);
            self.shared.behind.store(true, Ordering::Release);
            self.shared.wake.notify_one();
        }
    }

    /// Lag and overflow figures.
    pub fn lag(&self) -> LagReport {
        self.monitor().lag()
    }

    /// A handle that reads the figures without keeping the consumer alive.
    pub fn monitor(&self) -> LagMonitor {
        LagMonitor(self.shared.clone())
    }
}

/// Reads the consumer's lag figures; unlike a feed, it does not keep the
/// consumer running.
#[derive(Clone)]
pub struct LagMonitor(Arc<Shared>);

impl LagMonitor {
    /// Lag and overflow figures.
    pub fn lag(&self) -> LagReport {
        let s = &self.0;
        LagReport {
            offered_seq: s.offered.load(Ordering::Relaxed),
            processed_seq: s.processed_seq.load(Ordering::Relaxed),
            overflows: s.overflows.load(Ordering::Relaxed),
            catch_ups: s.catch_ups.load(Ordering::Relaxed),
            caught_up_records: s.caught_up_records.load(Ordering::Relaxed),
            last_lag_micros: s.last_lag_micros.load(Ordering::Relaxed),
            max_lag_micros: s.max_lag_micros.load(Ordering::Relaxed),
            behind: s.behind.load(Ordering::Relaxed),
            store_errors: s.store_errors.load(Ordering::Relaxed),
        }
    }
}

/// Starts the consumer task (inside a tokio runtime): it runs `detector` on
/// every record after `after_seq`, in sequence order, and hands the alerts
/// raised to `sink`. `clock` gives the current time in unix µs (for lag and
/// for absences that fall due while the log is quiet). It first reads from
/// the store whatever was appended after `after_seq` before it started.
pub fn spawn_consumer<F>(
    detector: Detector,
    store: Arc<dyn AuditStore>,
    after_seq: u64,
    capacity: usize,
    clock: fn() -> i64,
    sink: F,
) -> (DetectionFeed, tokio::task::JoinHandle<Detector>)
where
    F: FnMut(Vec<Alert>) + Send + 'static,
{
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let shared = Arc::new(Shared::default());
    shared.processed_seq.store(after_seq, Ordering::Relaxed);
    shared.behind.store(true, Ordering::Relaxed);
    let feed = DetectionFeed { tx, shared: shared.clone() };
    let consumer = Consumer { detector, store, rx, shared, next: after_seq + 1, clock, sink };
    (feed, tokio::spawn(consumer.run()))
}

struct Consumer<F> {
    detector: Detector,
    store: Arc<dyn AuditStore>,
    rx: mpsc::Receiver<Record>,
    shared: Arc<Shared>,
    next: u64,
    clock: fn() -> i64,
    sink: F,
}

impl<F: FnMut(Vec<Alert>) + Send + 'static> Consumer<F> {
    /// Runs until every feed is dropped and the queue is drained; returns the detector.
    async fn run(mut self) -> Detector {
        let mut flush = tokio::time::interval_at(tokio::time::Instant::now() + FLUSH_EVERY, FLUSH_EVERY);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if self.shared.behind.swap(false, Ordering::AcqRel) {
                self.catch_up().await;
            }
            tokio::select! {
                biased;
                r = self.rx.recv() => match r {
                    Some(record) => {
                        if record.seq > self.next {
                            // Records in between overflowed: read them from the store first.
                            self.catch_up().await;
                        }
                        if record.seq == self.next {
                            self.process(&record);
                        }
                    }
                    None => break,
                },
                () = self.shared.wake.notified() => {}
                _ = flush.tick() => {
                    let alerts = self.detector.flush((self.clock)());
                    if !alerts.is_empty() {
                        (self.sink)(alerts);
                    }
                }
            }
        }
        // Whatever overflowed last is still in the store.
        self.catch_up().await;
        self.detector
    }

    fn process(&mut self, record: &Record) {
        let alerts = self.detector.observe_record(record);
        self.next = record.seq + 1;
        self.shared.processed_seq.store(record.seq, Ordering::Relaxed);
        let lag = (self.clock)().saturating_sub(record.event.time).max(0);
        self.shared.last_lag_micros.store(lag, Ordering::Relaxed);
        self.shared.max_lag_micros.fetch_max(lag, Ordering::Relaxed);
        if !alerts.is_empty() {
            (self.sink)(alerts);
        }
    }

    /// Reads every record from `next` to the store's head, in order.
    async fn catch_up(&mut self) {
        self.shared.catch_ups.fetch_add(1, Ordering::Relaxed);
        let mut failures = 0u32;
        loop {
            match self.store.records(self.next - 1, CATCH_UP_PAGE).await {
                Ok(page) => {
                    let n = page.len();
                    for stored in page {
                        match Record::decode(&stored.bytes) {
                            Ok(r) if r.seq == self.next => {
                                self.process(&r);
                                self.shared.caught_up_records.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(_) => {}
                            Err(e) => {
                                // A record that does not decode is skipped, and said so: verification reports it.
                                tracing::warn!(seq = stored.seq, error = %e, "detection skipped an undecodable audit record");
                                self.next = stored.seq + 1;
                            }
                        }
                    }
                    if n < CATCH_UP_PAGE {
                        return;
                    }
                }
                Err(e) => {
                    self.shared.store_errors.fetch_add(1, Ordering::Relaxed);
                    failures += 1;
                    tracing::warn!(error = %e, "detection could not read the audit store; retrying");
                    if failures >= 5 {
                        // Still behind: the next wake-up tries again.
                        self.shared.behind.store(true, Ordering::Release);
                        return;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100 * u64::from(failures))).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Mutex;

    use haven_audit::{Actor, AuditLog, CheckpointPolicy, Event, Outcome, Signer, SqliteAuditStore};

    use super::*;
    use crate::explain::NoExplainer;
    use crate::rules::RuleSet;

    #[tokio::test]
    async fn overflow_is_caught_up_from_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn AuditStore> = Arc::new(SqliteAuditStore::open(&dir.path().join("audit.db")).await.unwrap());
        let log =
            AuditLog::start(store.clone(), Signer::from_seed(&[7; 32]).unwrap(), CheckpointPolicy::default(), None);
        let detector = Detector::new(RuleSet::defaults().unwrap(), Arc::new(NoExplainer));
        let alerts = Arc::new(Mutex::new(Vec::new()));
        let sink_alerts = alerts.clone();
        // A queue of one: nearly every offer overflows.
        let (feed, task) = spawn_consumer(detector, store.clone(), 0, 1, haven_audit::now_micros, move |a| {
            sink_alerts.lock().unwrap().extend(a);
        });
        for i in 0..60 {
            let mut e = Event::new(Actor::anonymous(), "auth.login", Outcome::Denied);
            e.actor.name = Some("victim".into());
            e.source_ip = Some(format!("203.0.113.{}", i % 3));
            let seq = log.record(e.clone()).await.unwrap();
            let prev = "0".repeat(64);
            feed.offer(Record { v: 1, seq, prev, event: e });
        }
        let lag = feed.lag();
        drop(feed);
        let detector = task.await.unwrap();
        assert_eq!(detector.stats().events, 60, "{lag:?}");
        assert!(!alerts.lock().unwrap().is_empty());
        log.close().await;
    }
}
