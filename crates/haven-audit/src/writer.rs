//! The group-commit writer: one task owns appends. Callers queue events and
//! wait; the task takes everything queued, appends it in one transaction and
//! answers each caller with its sequence number once the batch is durable.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::chain::{PublicKey, Signer};
use crate::record::{Event, RECORD_VERSION, Record};
use crate::store::{AuditStore, CheckpointPolicy};
use crate::{AuditError, Checkpoint};

/// Requests waiting in the queue at most; callers wait when it is full.
const QUEUE: usize = 65_536;

/// How often the writer starts background upkeep of the store (search
/// indexes, WAL checkpoints), if the previous run has finished.
const MAINTAIN_EVERY: Duration = Duration::from_millis(250);

/// Events per transaction at most (a `record_all` is never split, so a
/// batch may exceed this by one request).
const BATCH: usize = 2_000;

type Reply<T> = oneshot::Sender<Result<T, AuditError>>;

// The large variant is the common one: boxing it would add an allocation per record.
#[allow(clippy::large_enum_variant)]
enum Request {
    One(Event, Reply<u64>),
    Many(Vec<Event>, Reply<Vec<u64>>),
    Checkpoint(Reply<Option<Checkpoint>>),
    Close(oneshot::Sender<()>),
}

/// Who waits for what in a batch.
enum Waiter {
    One(Reply<u64>),
    Many(usize, Reply<Vec<u64>>),
    Checkpoint(Reply<Option<Checkpoint>>),
}

struct Inner {
    tx: mpsc::Sender<Request>,
    store: Arc<dyn AuditStore>,
    public_key: PublicKey,
    observer: Arc<OnceLock<Arc<dyn AppendObserver>>>,
}

/// Told of every record once it is durable, in sequence order (live threat
/// detection listens so). It runs on the writer task: it must return at once
/// (hand the records to a queue) and must not log them. The records carry no
/// `prev` hash: the chain is the store's business.
pub trait AppendObserver: Send + Sync {
    /// Records just made durable, ascending and without gaps between calls.
    fn appended(&self, records: Vec<Record>);
}

/// The audit log as the application uses it. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

impl AuditLog {
    /// Starts the writer task (call inside a tokio runtime). Each new
    /// checkpoint is also appended as a JSON line to `publish`, if set, for
    /// copying somewhere the database's administrators cannot rewrite.
    pub fn start(
        store: Arc<dyn AuditStore>,
        signer: Signer,
        policy: CheckpointPolicy,
        publish: Option<PathBuf>,
    ) -> AuditLog {
        let (tx, rx) = mpsc::channel(QUEUE);
        let public_key = signer.public_key();
        let observer: Arc<OnceLock<Arc<dyn AppendObserver>>> = Arc::default();
        let task = Task { store: store.clone(), signer, policy, publish, dirty: false, observer: observer.clone() };
        tokio::spawn(task.run(rx));
        AuditLog { inner: Arc::new(Inner { tx, store, public_key, observer }) }
    }

    /// Sets the observer told of every record appended from now on; false
    /// if one was already set (there is one per log).
    pub fn observe(&self, observer: Arc<dyn AppendObserver>) -> bool {
        self.inner.observer.set(observer).is_ok()
    }

    /// Records one event; resolves with its sequence number once durable.
    pub async fn record(&self, event: Event) -> Result<u64, AuditError> {
        let (tx, rx) = oneshot::channel();
        self.inner.tx.send(Request::One(event, tx)).await.map_err(|_| AuditError::Closed)?;
        rx.await.map_err(|_| AuditError::Closed)?
    }

    /// Records events together (one transaction, consecutive sequence numbers).
    pub async fn record_all(&self, events: Vec<Event>) -> Result<Vec<u64>, AuditError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let (tx, rx) = oneshot::channel();
        self.inner.tx.send(Request::Many(events, tx)).await.map_err(|_| AuditError::Closed)?;
        rx.await.map_err(|_| AuditError::Closed)?
    }

    /// Signs a checkpoint for the head now (after everything queued before),
    /// and returns the checkpoint covering the head; None if the log is empty.
    pub async fn checkpoint_now(&self) -> Result<Option<Checkpoint>, AuditError> {
        let (tx, rx) = oneshot::channel();
        self.inner.tx.send(Request::Checkpoint(tx)).await.map_err(|_| AuditError::Closed)?;
        rx.await.map_err(|_| AuditError::Closed)?
    }

    /// The store, for reads (search, verification, export).
    pub fn store(&self) -> &Arc<dyn AuditStore> {
        &self.inner.store
    }

    /// The key checkpoints are signed with.
    pub fn public_key(&self) -> PublicKey {
        self.inner.public_key
    }

    /// Writes everything queued, signs the head, and stops the task. Later
    /// calls fail with [`AuditError::Closed`].
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inner.tx.send(Request::Close(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

struct Task {
    store: Arc<dyn AuditStore>,
    signer: Signer,
    policy: CheckpointPolicy,
    publish: Option<PathBuf>,
    /// Whether this writer added records that no checkpoint covers yet.
    dirty: bool,
    observer: Arc<OnceLock<Arc<dyn AppendObserver>>>,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        // Tick at half the period so a time-based checkpoint is at most
        // 1.5 periods late.
        let period = (self.policy.every / 2).clamp(Duration::from_millis(10), Duration::from_secs(86_400));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut upkeep = tokio::time::interval_at(tokio::time::Instant::now() + MAINTAIN_EVERY, MAINTAIN_EVERY);
        upkeep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut queue: Vec<Request> = Vec::with_capacity(BATCH);
        // The upkeep run in progress; a close waits for it, so the store's
        // connections are idle once `close` returns.
        let mut upkeep_run: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            tokio::select! {
                biased;
                n = rx.recv_many(&mut queue, BATCH) => {
                    if n == 0 {
                        // Every handle is gone: sign what we wrote and stop.
                        finish(upkeep_run.take()).await;
                        self.final_checkpoint().await;
                        return;
                    }
                    if let Some(closer) = self.process(&mut queue).await {
                        finish(upkeep_run.take()).await;
                        self.final_checkpoint().await;
                        rx.close();
                        // Requests that raced with close get `Closed` when dropped.
                        let _ = closer.send(());
                        return;
                    }
                }
                _ = tick.tick() => {
                    if self.dirty {
                        self.append(Vec::new(), false).await.ok();
                    }
                }
                _ = upkeep.tick() => {
                    // Off the append path: appends go on while it runs.
                    if upkeep_run.as_ref().is_none_or(|h| h.is_finished()) {
                        let store = self.store.clone();
                        upkeep_run = Some(tokio::spawn(async move {
                            if let Err(e) = store.maintain().await {
                                tracing::warn!(error = %e, "audit log upkeep failed; it will be retried");
                            }
                        }));
                    }
                }
            }
        }
    }

    /// Appends one batch and answers its waiters. Returns the closer's
    /// channel if a close request was among them (requests after it are
    /// left unanswered, which tells them the writer stopped).
    async fn process(&mut self, queue: &mut Vec<Request>) -> Option<oneshot::Sender<()>> {
        let mut events = Vec::with_capacity(queue.len());
        let mut waiters = Vec::with_capacity(queue.len());
        let mut force = false;
        let mut closer = None;
        for req in queue.drain(..) {
            match req {
                Request::One(e, tx) => {
                    events.push(e);
                    waiters.push(Waiter::One(tx));
                }
                Request::Many(es, tx) => {
                    waiters.push(Waiter::Many(es.len(), tx));
                    events.extend(es);
                }
                Request::Checkpoint(tx) => {
                    force = true;
                    waiters.push(Waiter::Checkpoint(tx));
                }
                Request::Close(tx) => {
                    closer = Some(tx);
                    break;
                }
            }
        }
        if events.is_empty() && !force {
            return closer;
        }
        // Copies for the observer, only when there is one.
        let observed = self.observer.get().filter(|_| !events.is_empty()).map(|o| (o.clone(), events.clone()));
        let result = self.append(events, force).await;
        if let (Some((observer, events)), Ok(r)) = (observed, &result) {
            let records = (r.first_seq..)
                .zip(events)
                .map(|(seq, event)| Record { v: RECORD_VERSION, seq, prev: String::new(), event })
                .collect();
            observer.appended(records);
        }
        let covering = match &result {
            Ok(r) if force => match &r.checkpoint {
                Some(cp) => Ok(Some(cp.clone())),
                // The head was already signed: report that checkpoint.
                None => self.store.latest_checkpoint().await,
            },
            _ => Ok(None),
        };
        let mut seq = result.as_ref().map_or(0, |r| r.first_seq);
        for w in waiters {
            match (w, &result) {
                (Waiter::One(tx), Ok(_)) => {
                    let _ = tx.send(Ok(seq));
                    seq += 1;
                }
                (Waiter::Many(n, tx), Ok(_)) => {
                    let _ = tx.send(Ok((seq..seq + n as u64).collect()));
                    seq += n as u64;
                }
                (Waiter::Checkpoint(tx), Ok(_)) => {
                    let _ = tx.send(covering.clone());
                }
                (Waiter::One(tx), Err(e)) => {
                    let _ = tx.send(Err(e.clone()));
                }
                (Waiter::Many(_, tx), Err(e)) => {
                    let _ = tx.send(Err(e.clone()));
                }
                (Waiter::Checkpoint(tx), Err(e)) => {
                    let _ = tx.send(Err(e.clone()));
                }
            }
        }
        closer
    }

    async fn append(&mut self, events: Vec<Event>, force: bool) -> Result<crate::AppendResult, AuditError> {
        let added = !events.is_empty();
        let r = self.store.append(events, &self.signer, &self.policy, force).await;
        match &r {
            Ok(r) => {
                if let Some(cp) = &r.checkpoint {
                    self.dirty = false;
                    if let Some(path) = &self.publish {
                        publish(path, cp);
                    }
                } else if added {
                    self.dirty = true;
                } else {
                    // Nothing was due: stop ticking if another writer signed our records.
                    if let Ok(Some(cp)) = self.store.latest_checkpoint().await
                        && cp.seq >= r.last_seq
                    {
                        self.dirty = false;
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "audit append failed"),
        }
        r
    }

    async fn final_checkpoint(&mut self) {
        if self.dirty
            && let Err(e) = self.append(Vec::new(), true).await
        {
            tracing::warn!(error = %e, "could not sign the audit log head on shutdown");
        }
    }
}

/// Waits for a background upkeep run, if any.
async fn finish(run: Option<tokio::task::JoinHandle<()>>) {
    if let Some(h) = run {
        let _ = h.await;
    }
}

/// Appends a checkpoint line; failures are logged, the log itself is safe.
fn publish(path: &Path, cp: &Checkpoint) {
    let line = match serde_json::to_string(&serde_json::json!({ "checkpoint": cp })) {
        Ok(l) => l,
        Err(_) => return,
    };
    let r = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
    if let Err(e) = r {
        tracing::warn!(path = %path.display(), error = %e, "could not publish an audit checkpoint");
    }
}
