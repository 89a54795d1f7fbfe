//! Threat detection inside the server. The audit writer hands every durable
//! record to the detection consumer (a bounded queue, off the request path;
//! what overflows is read back from the audit store, never dropped). Alerts
//! are filed into the incident book, saved as encrypted records and posted
//! to the webhook. The relationship index that explains accesses is built
//! from the store's FHIR data at start and kept current by the store's write
//! observer, so an appointment booked a moment ago explains the access that
//! follows it.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use haven_audit::{AuditLog, AuditStore, Record};
use haven_core::{ResourceId, ResourceType};
use haven_detect::export::{WebhookPayload, WebhookSender};
use haven_detect::{
    Alert, AlertStatus, DetectionFeed, Detector, Incident, IncidentBook, IncidentError, LagMonitor, LagReport,
    LinkKind, LiveIndex, Resolution, RuleSet,
};
use haven_store::{BatchItem, Precondition, Store, StoreError};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::state::OpenError;

/// Record type of a saved alert (id: its number).
pub const ALERT_TYPE: &str = "HavenAlert";
/// Record type of a saved incident (id: its number).
pub const INCIDENT_TYPE: &str = "HavenIncident";
/// Record type of detection's progress (id `progress`).
const PROGRESS_TYPE: &str = "HavenDetectProgress";
const PROGRESS_ID: &str = "progress";

/// Alerts kept in memory for the API (the newest; all are in the store).
const RECENT_ALERTS: usize = 10_000;
/// How often progress is saved while running (and always at stop).
const SAVE_PROGRESS_EVERY: Duration = Duration::from_secs(30);
/// How long a stop waits for detection to drain its queue.
const STOP_WAIT: Duration = Duration::from_secs(15);

/// The FHIR types the relationship index reads.
const INDEXED_TYPES: [&str; 13] = [
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Appointment",
    "Encounter",
    "CareTeam",
    "Condition",
    "ServiceRequest",
    "MedicationRequest",
    "DocumentReference",
    "Composition",
    "Observation",
    "DiagnosticReport",
];

/// How far detection got: restarts continue after `seq`.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct Progress {
    seq: u64,
}

/// Where live detection stands, for the status API.
#[derive(Clone, Debug, Serialize)]
pub struct DetectStatus {
    /// Whether the consumer runs (false while the index and baselines are built at start).
    pub running: bool,
    /// Rules loaded.
    pub rules: usize,
    /// Patients the relationship index knows.
    pub index_patients: usize,
    /// Staff members the relationship index knows.
    pub index_staff: usize,
    /// Queue, overflow and lag figures.
    pub lag: LagReport,
    /// Incidents not resolved.
    pub open_incidents: usize,
    /// The number of the latest alert (alerts are numbered from 1, open and explained alike).
    pub alerts: u64,
}

struct Book {
    incidents: IncidentBook,
    recent: VecDeque<Alert>,
    last_alert: u64,
}

/// Live threat detection: the incident book, the relationship index and the
/// consumer's feed.
pub struct DetectService {
    store: Store,
    book: Mutex<Book>,
    index: Arc<LiveIndex>,
    feed: Mutex<Option<DetectionFeed>>,
    monitor: Mutex<Option<LagMonitor>>,
    stopping: tokio::sync::Notify,
    rules: RuleSet,
    webhook: Option<WebhookSender>,
    warmup_records: u64,
    queue: usize,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for DetectService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DetectService").field("rules", &self.rules.rules.len()).finish_non_exhaustive()
    }
}

fn rtype(name: &str) -> Result<ResourceType, StoreError> {
    ResourceType::parse(name).map_err(|_| StoreError::Invalid(format!("bad record type {name}")))
}

fn number_id(n: u64) -> Result<ResourceId, StoreError> {
    ResourceId::parse(&n.to_string()).map_err(|_| StoreError::Invalid("bad record id".into()))
}

/// Every live record of one type: (id, payload).
async fn read_all(store: &Store, t: &ResourceType) -> Result<Vec<(ResourceId, Vec<u8>)>, StoreError> {
    let mut out = Vec::new();
    let mut after: Option<ResourceId> = None;
    loop {
        let page = store.list(Some(t), after.as_ref().map(|a| (t, a)), 500).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.1.clone());
        let ids: Vec<ResourceId> = page.into_iter().filter(|(_, _, h)| !h.deleted).map(|(_, id, _)| id).collect();
        for rec in store.read_many(t, &ids).await? {
            out.push((rec.meta.id, rec.payload));
        }
    }
    Ok(out)
}

/// Saved records of a numbered type, parsed, in number order.
async fn read_numbered<T: for<'de> Deserialize<'de>>(store: &Store, name: &str) -> Result<Vec<(u64, T)>, StoreError> {
    let mut out = Vec::new();
    for (id, payload) in read_all(store, &rtype(name)?).await? {
        let n: u64 = id.as_str().parse().map_err(|_| StoreError::Invalid(format!("{name} id is not a number")))?;
        let v = serde_json::from_slice(&payload).map_err(|e| StoreError::Invalid(format!("{name} {n}: {e}")))?;
        out.push((n, v));
    }
    out.sort_by_key(|(n, _)| *n);
    Ok(out)
}

/// Keeps the live index current with every FHIR write.
struct IndexWrites(Arc<LiveIndex>);

impl haven_store::WriteObserver for IndexWrites {
    fn written(&self, rtype: &ResourceType, id: &ResourceId, payload: &[u8]) {
        if rtype.as_str() == crate::authz::ASSIGNMENT_TYPE {
            self.assignment(id, payload);
            return;
        }
        if !INDEXED_TYPES.contains(&rtype.as_str()) {
            return;
        }
        if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(payload) {
            if let Some(obj) = v.as_object_mut() {
                obj.entry("resourceType").or_insert_with(|| rtype.as_str().into());
            }
            self.0.add_fhir(&v);
        }
    }
}

impl IndexWrites {
    /// An explicit care assignment explains access while it lasts.
    fn assignment(&self, id: &ResourceId, payload: &[u8]) {
        #[derive(Deserialize)]
        struct Assignment {
            practitioner: String,
            patient: String,
            until: i64,
            created: i64,
        }
        if let Ok(a) = serde_json::from_slice::<Assignment>(payload) {
            let micros = |s: i64| s.saturating_mul(1_000_000);
            self.0.add_link(
                &format!("Practitioner/{}", a.practitioner),
                &a.patient,
                LinkKind::Assignment,
                micros(a.created),
                micros(a.until),
                Some(&format!("{}/{}", crate::authz::ASSIGNMENT_TYPE, id.as_str())),
            );
        }
    }
}

/// Hands durable audit records to the consumer, once it runs.
struct FeedRecords(Arc<DetectService>);

impl haven_audit::AppendObserver for FeedRecords {
    fn appended(&self, records: Vec<Record>) {
        if let Some(feed) = self.0.feed.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
            feed.appended(records);
        }
        // Before the consumer runs, records stay in the store: it starts by reading them.
    }
}

fn now_micros() -> i64 {
    haven_audit::now_micros()
}

impl DetectService {
    /// Loads the rules (a malformed rule stops start-up with its file, line
    /// and reason), the saved incidents and alerts, and hooks the index to
    /// the store's writes. Detection starts with [`DetectService::start`].
    pub async fn open(store: &Store, data_dir: &Path, config: &Config) -> Result<Arc<Self>, OpenError> {
        let cfg = &config.detect;
        let rules = match &cfg.rules_dir {
            Some(d) => RuleSet::load_dir(&data_dir.join(d)),
            None => RuleSet::defaults(),
        }
        .map_err(|e| OpenError::Detect(e.to_string()))?;
        let webhook = match &cfg.webhook_url {
            Some(u) => Some(WebhookSender::new(u).map_err(|e| OpenError::Detect(e.to_string()))?),
            None => None,
        };
        let incidents: Vec<Incident> = read_numbered(store, INCIDENT_TYPE).await?.into_iter().map(|(_, i)| i).collect();
        let alerts: Vec<(u64, Alert)> = read_numbered(store, ALERT_TYPE).await?;
        let last_alert = alerts.last().map_or(0, |(n, _)| *n);
        let explained: Vec<Alert> =
            alerts.iter().filter(|(_, a)| a.status == AlertStatus::Explained).map(|(_, a)| a.clone()).collect();
        let window = i64::try_from(cfg.correlation_window_minutes.saturating_mul(60_000_000)).unwrap_or(i64::MAX);
        let book = IncidentBook::restore(window, incidents, explained)
            .map_err(|e| OpenError::Detect(format!("saved incidents: {e}")))?;
        let skip = alerts.len().saturating_sub(RECENT_ALERTS);
        let recent = alerts.into_iter().skip(skip).map(|(_, a)| a).collect();
        let index = Arc::new(LiveIndex::default());
        // Hooked before the index is built from the store: nothing written meanwhile is missed.
        store.observe_writes(Arc::new(IndexWrites(index.clone())));
        Ok(Arc::new(DetectService {
            store: store.clone(),
            book: Mutex::new(Book { incidents: book, recent, last_alert }),
            index,
            feed: Mutex::new(None),
            monitor: Mutex::new(None),
            stopping: tokio::sync::Notify::new(),
            rules,
            webhook,
            warmup_records: cfg.warmup_records,
            queue: cfg.queue,
            task: Mutex::new(None),
        }))
    }

    /// Starts detection in the background: builds the relationship index
    /// from the store, replays recent records to rebuild the baselines, then
    /// runs the consumer from where the last run stopped (or from the head,
    /// the first time). Requests are served meanwhile; records they add wait
    /// in the audit store and are read back.
    pub fn start(self: &Arc<Self>, audit: &AuditLog) {
        audit.observe(Arc::new(FeedRecords(self.clone())));
        let me = self.clone();
        let audit_store = audit.store().clone();
        let task = tokio::spawn(async move {
            if let Err(e) = me.run(audit_store).await {
                tracing::error!(error = %e, "threat detection stopped; it restarts with the server");
            }
        });
        *self.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
    }

    async fn run(self: Arc<Self>, audit_store: Arc<dyn AuditStore>) -> Result<(), String> {
        let started = std::time::Instant::now();
        for name in INDEXED_TYPES.iter().chain([&crate::authz::ASSIGNMENT_TYPE]) {
            let t = rtype(name).map_err(|e| e.to_string())?;
            let writes = IndexWrites(self.index.clone());
            for (id, payload) in read_all(&self.store, &t).await.map_err(|e| e.to_string())? {
                haven_store::WriteObserver::written(&writes, &t, &id, &payload);
            }
        }
        let progress = self.load_progress().await.map_err(|e| e.to_string())?;
        let head = audit_store.head().await.map_err(|e| e.to_string())?.map_or(0, |h| h.seq);
        let after = progress.map_or(head, |p| p.seq.min(head));
        let mut detector = Detector::new(self.rules.clone(), self.index.clone());
        let replayed = warm_up(&mut detector, audit_store.as_ref(), after, self.warmup_records).await?;
        detector.resume_alert_ids(self.book.lock().unwrap_or_else(PoisonError::into_inner).last_alert);
        let (patients, staff) = self.index.len();
        tracing::info!(
            patients,
            staff,
            replayed,
            after,
            millis = started.elapsed().as_millis() as u64,
            "threat detection running"
        );
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<Alert>>();
        let (feed, consumer) =
            haven_detect::spawn_consumer(detector, audit_store, after, self.queue, now_micros, move |alerts| {
                // Alerts are few (rules fire on patterns, not on every access).
                let _ = tx.send(alerts);
            });
        let monitor = feed.monitor();
        *self.monitor.lock().unwrap_or_else(PoisonError::into_inner) = Some(monitor.clone());
        *self.feed.lock().unwrap_or_else(PoisonError::into_inner) = Some(feed);
        let mut save = tokio::time::interval_at(tokio::time::Instant::now() + SAVE_PROGRESS_EVERY, SAVE_PROGRESS_EVERY);
        let mut saved = after;
        loop {
            tokio::select! {
                batch = rx.recv() => match batch {
                    Some(alerts) => self.file(alerts).await,
                    None => break,
                },
                _ = save.tick() => {
                    let done = monitor.lag().processed_seq;
                    if done != saved && self.save_progress(done).await.is_ok() {
                        saved = done;
                    }
                }
                () = self.stopping.notified() => break,
            }
        }
        // Without its feed the consumer drains the queue, reads back what
        // overflowed, and ends; then every alert it raised is filed.
        self.feed.lock().unwrap_or_else(PoisonError::into_inner).take();
        let _ = consumer.await;
        while let Some(alerts) = rx.recv().await {
            self.file(alerts).await;
        }
        self.save_progress(monitor.lag().processed_seq).await.map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Files alerts: into the book, into the store, to the webhook.
    async fn file(&self, alerts: Vec<Alert>) {
        let mut items = Vec::new();
        let mut webhooks = Vec::new();
        {
            let mut b = self.book.lock().unwrap_or_else(PoisonError::into_inner);
            let mut touched: Vec<u64> = Vec::new();
            for a in alerts {
                b.last_alert = b.last_alert.max(a.id);
                if let Ok(bytes) = serde_json::to_vec(&a) {
                    items.push((ALERT_TYPE, a.id, bytes));
                }
                if a.status == AlertStatus::Open {
                    webhooks.push(WebhookPayload::alert(&a));
                }
                b.recent.push_back(a.clone());
                if b.recent.len() > RECENT_ALERTS {
                    b.recent.pop_front();
                }
                let known = b.incidents.incidents().len() as u64;
                if let Some(id) = b.incidents.add(a) {
                    if id > known
                        && let Some(i) = b.incidents.get(id)
                    {
                        webhooks.push(WebhookPayload::incident(i));
                    }
                    if !touched.contains(&id) {
                        touched.push(id);
                    }
                }
            }
            for id in touched {
                if let Some(bytes) = b.incidents.get(id).and_then(|i| serde_json::to_vec(i).ok()) {
                    items.push((INCIDENT_TYPE, id, bytes));
                }
            }
        }
        if let Err(e) = self.save(items).await {
            // Kept in memory and served; saved again with the incident's next change.
            tracing::error!(error = %e, "could not save alerts or incidents");
        }
        if let Some(hook) = self.webhook.clone()
            && !webhooks.is_empty()
        {
            tokio::spawn(async move {
                for p in webhooks {
                    if let Err(e) = hook.send(&p).await {
                        tracing::warn!(error = %e, kind = p.kind, "webhook delivery failed");
                    }
                }
            });
        }
    }

    async fn save(&self, items: Vec<(&'static str, u64, Vec<u8>)>) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let mut batch = Vec::with_capacity(items.len());
        for (t, n, bytes) in items {
            batch.push(BatchItem {
                rtype: rtype(t)?,
                id: number_id(n)?,
                precondition: Precondition::None,
                payload: Some(bytes),
                terms: Vec::new(),
            });
        }
        self.store.write_batch(&batch).await.map(|_| ())
    }

    async fn load_progress(&self) -> Result<Option<Progress>, StoreError> {
        let id = ResourceId::parse(PROGRESS_ID).map_err(|_| StoreError::Invalid("bad id".into()))?;
        match self.store.read(&rtype(PROGRESS_TYPE)?, &id).await {
            Ok(r) => Ok(serde_json::from_slice(&r.payload).ok()),
            Err(StoreError::NotFound | StoreError::Gone { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn save_progress(&self, seq: u64) -> Result<(), StoreError> {
        let id = ResourceId::parse(PROGRESS_ID).map_err(|_| StoreError::Invalid("bad id".into()))?;
        let bytes = serde_json::to_vec(&Progress { seq }).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.store.update(&rtype(PROGRESS_TYPE)?, &id, None, &bytes, &[]).await.map(|_| ())
    }

    /// Stops the consumer after it has processed and filed every record
    /// offered so far, and saves how far it got.
    pub async fn stop(&self) {
        // A stored permit: a start-up still building the index stops as soon as it is done.
        self.stopping.notify_one();
        let task = self.task.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(mut t) = task
            && tokio::time::timeout(STOP_WAIT, &mut t).await.is_err()
        {
            // Whatever is left is read back from the audit store at the next start.
            tracing::warn!("threat detection did not stop in time; it continues from its last saved progress");
            t.abort();
        }
    }

    /// Where detection stands.
    pub fn status(&self) -> DetectStatus {
        let running = self.feed.lock().unwrap_or_else(PoisonError::into_inner).is_some();
        let monitor = self.monitor.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let (index_patients, index_staff) = self.index.len();
        let b = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        DetectStatus {
            running,
            rules: self.rules.rules.len(),
            index_patients,
            index_staff,
            lag: monitor.map(|m| m.lag()).unwrap_or_default(),
            open_incidents: b.incidents.incidents().iter().filter(|i| i.resolution.is_none()).count(),
            alerts: b.last_alert,
        }
    }

    /// The newest alerts first: open ones, explained ones or both.
    pub fn alerts(&self, status: Option<AlertStatus>, limit: usize) -> Vec<Alert> {
        let b = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        b.recent.iter().rev().filter(|a| status.is_none_or(|s| a.status == s)).take(limit).cloned().collect()
    }

    /// The newest incidents first, optionally only unresolved ones.
    pub fn incidents(&self, unresolved_only: bool, limit: usize) -> Vec<Incident> {
        let b = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        b.incidents
            .incidents()
            .iter()
            .rev()
            .filter(|i| !unresolved_only || i.resolution.is_none())
            .take(limit)
            .cloned()
            .collect()
    }

    /// One incident.
    pub fn incident(&self, id: u64) -> Option<Incident> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner).incidents.get(id).cloned()
    }

    /// Changes an incident and saves it; returns it as it now is.
    pub async fn change(&self, id: u64, change: Change<'_>, by: &str) -> Result<Incident, ChangeError> {
        let now = now_micros();
        let (incident, bytes) = {
            let mut b = self.book.lock().unwrap_or_else(PoisonError::into_inner);
            let book = &mut b.incidents;
            match change {
                Change::Assign(who) => book.assign(id, who, by, now),
                Change::Investigate => book.investigate(id, by, now),
                Change::Resolve(r, reason) => book.resolve(id, r, reason, by, now),
                Change::Reopen => book.reopen(id, by, now),
            }
            .map_err(ChangeError::Refused)?;
            let inc = book.get(id).cloned().ok_or(ChangeError::Refused(IncidentError::NotFound(id)))?;
            let bytes = serde_json::to_vec(&inc).map_err(|e| ChangeError::Store(StoreError::Invalid(e.to_string())))?;
            (inc, bytes)
        };
        self.save(vec![(INCIDENT_TYPE, id, bytes)]).await.map_err(ChangeError::Store)?;
        Ok(incident)
    }
}

/// A change of an incident asked for through the API.
#[derive(Clone, Copy, Debug)]
pub enum Change<'a> {
    /// Assign to someone.
    Assign(&'a str),
    /// Start investigating.
    Investigate,
    /// Resolve, with a reason.
    Resolve(Resolution, &'a str),
    /// Reopen.
    Reopen,
}

/// Why an incident could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// Not in a state that allows it, unknown, or without a reason.
    #[error(transparent)]
    Refused(IncidentError),
    /// Changed in memory but not saved.
    #[error("store: {0}")]
    Store(StoreError),
}

/// Replays up to `max` records ending at `upto` through the detector to
/// rebuild its baselines; their alerts were raised before and are dropped.
async fn warm_up(detector: &mut Detector, store: &dyn AuditStore, upto: u64, max: u64) -> Result<u64, String> {
    let mut next = upto.saturating_sub(max);
    let mut replayed = 0;
    while next < upto {
        let page = store.records(next, 1000).await.map_err(|e| e.to_string())?;
        if page.is_empty() {
            break;
        }
        for stored in page {
            if stored.seq > upto {
                return Ok(replayed);
            }
            next = stored.seq;
            if let Ok(r) = Record::decode(&stored.bytes) {
                detector.observe_record(&r);
                replayed += 1;
            }
        }
    }
    Ok(replayed)
}
