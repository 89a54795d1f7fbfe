//! Incidents: open alerts deduplicated and correlated (same actor, same
//! patient or same source within a window), with severity, state, assignee,
//! a timeline of evidence and a plain-language summary. Explained alerts are
//! kept apart, resolved as benign with their reasons.

use std::collections::{BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::alert::{Alert, AlertStatus, MAX_EVIDENCE, MAX_PATIENTS};
use crate::rules::{Category, Level};
use crate::summary::patients_text;

/// Alerts within this long of an open incident's latest alert join it (unless configured).
pub const DEFAULT_CORRELATION_WINDOW: i64 = 4 * 3_600_000_000;
/// Explained alerts kept for review.
const MAX_EXPLAINED: usize = 10_000;

/// Where an incident stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    /// Not looked at yet.
    New,
    /// Someone is on it.
    Investigating,
    /// Closed, with a resolution.
    Resolved,
}

/// How an incident was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// Real misuse or attack.
    TruePositive,
    /// What was detected happened, and was legitimate.
    Benign,
    /// The detection was wrong.
    FalsePositive,
}

impl Resolution {
    /// Parses `true_positive`, `benign` or `false_positive`.
    pub fn parse(s: &str) -> Option<Resolution> {
        Some(match s {
            "true_positive" => Resolution::TruePositive,
            "benign" => Resolution::Benign,
            "false_positive" => Resolution::FalsePositive,
            _ => return None,
        })
    }
}

/// A refused change of an incident.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IncidentError {
    /// No incident has this id.
    #[error("no incident {0}")]
    NotFound(u64),
    /// The change does not apply in the incident's state.
    #[error("incident {id} is {state:?}: cannot {action}")]
    InvalidTransition {
        /// The incident.
        id: u64,
        /// Its state.
        state: IncidentState,
        /// What was asked.
        action: &'static str,
    },
    /// A resolution needs a reason.
    #[error("a resolution needs a reason")]
    ReasonRequired,
}

/// One alert's place in an incident's timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// When (unix µs).
    pub time: i64,
    /// The alert.
    pub alert: u64,
    /// Its rule.
    pub rule: String,
    /// Audit sequence numbers.
    pub evidence: Vec<u64>,
    /// How many times this alert (or its duplicates) fired.
    pub repeats: u32,
    /// The alert's summary.
    pub summary: String,
}

/// A change of state, assignee or resolution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When (unix µs).
    pub time: i64,
    /// Who made it.
    pub by: String,
    /// What changed.
    pub change: String,
}

/// Correlated alerts about one actor, patient or source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Unique, increasing.
    pub id: u64,
    /// The highest alert level, raised one step when several kinds of threat meet.
    pub severity: Level,
    /// New, investigating or resolved.
    pub state: IncidentState,
    /// Set once resolved.
    pub resolution: Option<Resolution>,
    /// Why it was resolved so.
    pub reason: Option<String>,
    /// Who works on it.
    pub assignee: Option<String>,
    /// Actors involved.
    pub actors: Vec<String>,
    /// Source addresses involved.
    pub source_ips: Vec<String>,
    /// Patients involved (ids, at most 50).
    pub patients: Vec<String>,
    /// Kinds of threat.
    pub categories: Vec<Category>,
    /// Attack types of the rules that fired.
    pub attacks: Vec<String>,
    /// First alert time (unix µs).
    pub opened: i64,
    /// Latest alert time (unix µs).
    pub updated: i64,
    /// The alerts, deduplicated, in order.
    pub timeline: Vec<TimelineEntry>,
    /// State changes.
    pub history: Vec<HistoryEntry>,
    /// What happened, in plain words.
    pub summary: String,
}

impl Incident {
    /// Every audit sequence number of its evidence, ascending.
    pub fn evidence(&self) -> Vec<u64> {
        let s: BTreeSet<u64> = self.timeline.iter().flat_map(|t| t.evidence.iter().copied()).collect();
        s.into_iter().collect()
    }

    fn resummarise(&mut self) {
        let alerts: u32 = self.timeline.iter().map(|t| t.repeats).sum();
        let mut rules: Vec<&str> = Vec::new();
        for t in &self.timeline {
            if !rules.contains(&t.rule.as_str()) {
                rules.push(&t.rule);
            }
        }
        let who = if self.actors.is_empty() { "an unknown actor".to_string() } else { self.actors.join(", ") };
        let from =
            if self.source_ips.is_empty() { String::new() } else { format!(" from {}", self.source_ips.join(", ")) };
        let first = self.timeline.first().map(|t| t.summary.as_str()).unwrap_or_default();
        self.summary = format!(
            "{who}{from}: {alerts} alert(s) from {} rule(s) ({}) touching {}. First: {first}",
            rules.len(),
            rules.join(", "),
            patients_text(&self.patients)
        );
    }
}

/// All incidents, and the alerts explained away.
#[derive(Clone, Debug)]
pub struct IncidentBook {
    window: i64,
    incidents: Vec<Incident>,
    by_key: HashMap<String, usize>,
    explained: VecDeque<Alert>,
}

impl Default for IncidentBook {
    fn default() -> Self {
        IncidentBook::new(DEFAULT_CORRELATION_WINDOW)
    }
}

fn push_unique<T: PartialEq + Clone>(v: &mut Vec<T>, x: &T, cap: usize) {
    if v.len() < cap && !v.contains(x) {
        v.push(x.clone());
    }
}

impl IncidentBook {
    /// An empty book correlating alerts within `window` µs.
    pub fn new(window: i64) -> Self {
        IncidentBook { window, incidents: Vec::new(), by_key: HashMap::new(), explained: VecDeque::new() }
    }

    /// The keys an alert correlates on: actor, sign-in name, source, patients.
    fn keys(a: &Alert) -> Vec<String> {
        let mut k = Vec::new();
        if a.actor != "anonymous" {
            k.push(format!("actor:{}", a.actor));
        } else if let Some(n) = &a.actor_name {
            k.push(format!("name:{n}"));
        }
        // A source address ties credential attacks together (spraying,
        // guessing from one host); for other alerts it would tie strangers
        // behind one proxy or NAT into one incident.
        if let Some(ip) = a.source_ip.as_ref().filter(|_| a.category == Category::Credential || a.actor == "anonymous")
        {
            k.push(format!("ip:{ip}"));
        }
        for p in &a.patients {
            k.push(format!("patient:{p}"));
        }
        k
    }

    /// Files an alert: an explained one is kept as resolved-benign (None);
    /// an open one joins a matching unresolved incident or opens one, whose id is returned.
    pub fn add(&mut self, alert: Alert) -> Option<u64> {
        if alert.status == AlertStatus::Explained {
            self.explained.push_back(alert);
            if self.explained.len() > MAX_EXPLAINED {
                self.explained.pop_front();
            }
            return None;
        }
        let keys = Self::keys(&alert);
        let found = keys.iter().filter_map(|k| self.by_key.get(k).copied()).find(|&i| {
            let inc = &self.incidents[i];
            inc.state != IncidentState::Resolved && alert.first_time <= inc.updated.saturating_add(self.window)
        });
        let idx = match found {
            Some(i) => i,
            None => {
                let id = self.incidents.len() as u64 + 1;
                self.incidents.push(Incident {
                    id,
                    severity: alert.level,
                    state: IncidentState::New,
                    resolution: None,
                    reason: None,
                    assignee: None,
                    actors: Vec::new(),
                    source_ips: Vec::new(),
                    patients: Vec::new(),
                    categories: Vec::new(),
                    attacks: Vec::new(),
                    opened: alert.first_time,
                    updated: alert.time,
                    timeline: Vec::new(),
                    history: Vec::new(),
                    summary: String::new(),
                });
                self.incidents.len() - 1
            }
        };
        for k in keys {
            self.by_key.insert(k, idx);
        }
        let inc = &mut self.incidents[idx];
        // A duplicate (same rule, actor and patients) adds evidence, not a line.
        let dup = inc.timeline.iter_mut().find(|t| t.rule == alert.rule && t.summary == alert.summary);
        match dup {
            Some(t) => {
                t.repeats += 1;
                for s in &alert.evidence {
                    if t.evidence.len() < MAX_EVIDENCE && !t.evidence.contains(s) {
                        t.evidence.push(*s);
                    }
                }
            }
            None => inc.timeline.push(TimelineEntry {
                time: alert.time,
                alert: alert.id,
                rule: alert.rule.clone(),
                evidence: alert.evidence.clone(),
                repeats: 1,
                summary: alert.summary.clone(),
            }),
        }
        if alert.actor != "anonymous" {
            push_unique(&mut inc.actors, &alert.actor, 20);
        }
        if let Some(ip) = &alert.source_ip {
            push_unique(&mut inc.source_ips, ip, 20);
        }
        for p in &alert.patients {
            push_unique(&mut inc.patients, p, MAX_PATIENTS);
        }
        push_unique(&mut inc.categories, &alert.category, 8);
        push_unique(&mut inc.attacks, &alert.attack, 32);
        inc.opened = inc.opened.min(alert.first_time);
        inc.updated = inc.updated.max(alert.time);
        inc.severity = inc.severity.max(alert.level);
        if inc.categories.len() > 1 && inc.severity < Level::Critical {
            inc.severity = alert.level.max(inc.severity).raised().min(Level::Critical);
        }
        inc.resummarise();
        Some(inc.id)
    }

    /// A book as it was saved: its incidents (in id order, numbered from 1
    /// without gaps) and explained alerts. Unresolved incidents go on
    /// collecting alerts about their actors, sources and patients.
    pub fn restore(window: i64, incidents: Vec<Incident>, explained: Vec<Alert>) -> Result<Self, IncidentError> {
        let mut book = IncidentBook::new(window);
        for (i, inc) in incidents.into_iter().enumerate() {
            if inc.id != i as u64 + 1 {
                return Err(IncidentError::NotFound(i as u64 + 1));
            }
            let keys = inc
                .actors
                .iter()
                .map(|a| format!("actor:{a}"))
                .chain(
                    inc.source_ips
                        .iter()
                        .filter(|_| inc.categories.contains(&Category::Credential))
                        .map(|ip| format!("ip:{ip}")),
                )
                .chain(inc.patients.iter().map(|p| format!("patient:{p}")));
            for k in keys {
                book.by_key.insert(k, i);
            }
            book.incidents.push(inc);
        }
        for a in explained.into_iter().filter(|a| a.status == AlertStatus::Explained) {
            book.add(a);
        }
        Ok(book)
    }

    /// All incidents, oldest first.
    pub fn incidents(&self) -> &[Incident] {
        &self.incidents
    }

    /// The incident with this id.
    pub fn get(&self, id: u64) -> Option<&Incident> {
        id.checked_sub(1).and_then(|i| self.incidents.get(usize::try_from(i).ok()?))
    }

    /// Alerts auto-resolved as benign, with their explanations (the latest 10,000).
    pub fn explained(&self) -> impl Iterator<Item = &Alert> {
        self.explained.iter()
    }

    fn get_mut(&mut self, id: u64) -> Result<&mut Incident, IncidentError> {
        id.checked_sub(1)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.incidents.get_mut(i))
            .ok_or(IncidentError::NotFound(id))
    }

    /// Assigns an unresolved incident.
    pub fn assign(&mut self, id: u64, assignee: &str, by: &str, time: i64) -> Result<(), IncidentError> {
        let inc = self.get_mut(id)?;
        if inc.state == IncidentState::Resolved {
            return Err(IncidentError::InvalidTransition { id, state: inc.state, action: "assign" });
        }
        inc.assignee = Some(assignee.to_string());
        inc.history.push(HistoryEntry { time, by: by.into(), change: format!("assigned to {assignee}") });
        Ok(())
    }

    /// New → investigating.
    pub fn investigate(&mut self, id: u64, by: &str, time: i64) -> Result<(), IncidentError> {
        let inc = self.get_mut(id)?;
        if inc.state != IncidentState::New {
            return Err(IncidentError::InvalidTransition { id, state: inc.state, action: "start investigating" });
        }
        inc.state = IncidentState::Investigating;
        inc.history.push(HistoryEntry { time, by: by.into(), change: "investigating".into() });
        Ok(())
    }

    /// New or investigating → resolved, with a resolution and a reason.
    pub fn resolve(
        &mut self,
        id: u64,
        resolution: Resolution,
        reason: &str,
        by: &str,
        time: i64,
    ) -> Result<(), IncidentError> {
        if reason.trim().is_empty() {
            return Err(IncidentError::ReasonRequired);
        }
        let inc = self.get_mut(id)?;
        if inc.state == IncidentState::Resolved {
            return Err(IncidentError::InvalidTransition { id, state: inc.state, action: "resolve" });
        }
        inc.state = IncidentState::Resolved;
        inc.resolution = Some(resolution);
        inc.reason = Some(reason.to_string());
        inc.history.push(HistoryEntry { time, by: by.into(), change: format!("resolved as {resolution:?}: {reason}") });
        Ok(())
    }

    /// Resolved → investigating (new evidence, a mistaken resolution).
    pub fn reopen(&mut self, id: u64, by: &str, time: i64) -> Result<(), IncidentError> {
        let inc = self.get_mut(id)?;
        if inc.state != IncidentState::Resolved {
            return Err(IncidentError::InvalidTransition { id, state: inc.state, action: "reopen" });
        }
        inc.state = IncidentState::Investigating;
        inc.resolution = None;
        inc.reason = None;
        inc.history.push(HistoryEntry { time, by: by.into(), change: "reopened".into() });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn alert(id: u64, rule: &str, actor: &str, ip: &str, patients: &[&str], time: i64) -> Alert {
        Alert {
            id,
            rule: rule.into(),
            title: rule.into(),
            attack: rule.into(),
            category: match rule.as_bytes()[0] {
                b's' => Category::Snooping,
                b'c' => Category::Credential,
                _ => Category::Exfiltration,
            },
            level: Level::Medium,
            time,
            first_time: time,
            actor: actor.into(),
            actor_name: None,
            role: None,
            source_ip: Some(ip.into()),
            patients: patients.iter().map(|p| p.to_string()).collect(),
            evidence: vec![id * 10],
            count: 1,
            deviation: None,
            status: AlertStatus::Open,
            explanations: vec![],
            summary: format!("{rule} {actor} {patients:?}"),
        }
    }

    #[test]
    fn correlates_dedups_and_escalates() {
        let mut b = IncidentBook::new(1000);
        let i1 = b.add(alert(1, "snoop", "account:1", "10.0.0.1", &["p1"], 0)).unwrap();
        // Same actor: same incident; an exact duplicate adds evidence only.
        assert_eq!(b.add(alert(2, "snoop", "account:1", "10.0.0.1", &["p1"], 10)), Some(i1));
        assert_eq!(b.get(i1).unwrap().timeline.len(), 1);
        assert_eq!(b.get(i1).unwrap().evidence(), [10, 20]);
        // Another kind of threat by the same actor raises the severity.
        b.add(alert(3, "exfil", "account:1", "10.0.0.1", &["p2"], 20)).unwrap();
        let inc = b.get(i1).unwrap();
        assert_eq!(inc.severity, Level::High);
        assert!(inc.summary.contains("account:1"));
        // Someone else on the same patient: same incident. Far later: a new one.
        assert_eq!(b.add(alert(4, "snoop", "account:2", "10.0.0.9", &["p1"], 30)), Some(i1));
        let i2 = b.add(alert(5, "snoop", "account:1", "10.0.0.1", &["p1"], 5000)).unwrap();
        assert_ne!(i1, i2);
        // Explained alerts do not open incidents.
        let mut e = alert(6, "snoop", "account:3", "10.0.0.3", &["p3"], 0);
        e.status = AlertStatus::Explained;
        assert_eq!(b.add(e), None);
        assert_eq!(b.explained().count(), 1);
        // One address ties credential attacks, not strangers behind one proxy.
        let c1 = b.add(alert(7, "cred", "account:7", "10.9.9.9", &[], 5000)).unwrap();
        assert_eq!(b.add(alert(8, "cred", "account:8", "10.9.9.9", &[], 5001)), Some(c1));
        assert_ne!(b.add(alert(9, "exfil", "account:9", "10.9.9.9", &["p9"], 5002)), Some(c1));
    }

    #[test]
    fn a_restored_book_goes_on_correlating() {
        let mut b = IncidentBook::new(1000);
        b.add(alert(1, "snoop", "account:1", "10.0.0.1", &["p1"], 0)).unwrap();
        let resolved = b.add(alert(2, "exfil", "account:2", "10.0.0.2", &["p2"], 0)).unwrap();
        b.resolve(resolved, Resolution::Benign, "audit", "account:9", 5).unwrap();
        let mut explained = alert(3, "snoop", "account:3", "10.0.0.3", &["p3"], 0);
        explained.status = AlertStatus::Explained;
        b.add(explained.clone());
        let mut r = IncidentBook::restore(1000, b.incidents().to_vec(), vec![explained]).unwrap();
        assert_eq!(r.incidents(), b.incidents());
        assert_eq!(r.explained().count(), 1);
        // Same patient, within the window: joins incident 1; the resolved one takes nothing.
        assert_eq!(r.add(alert(4, "snoop", "account:5", "10.0.0.5", &["p1"], 10)), Some(1));
        assert_eq!(r.add(alert(5, "exfil", "account:2", "10.0.0.6", &[], 10)), Some(3));
        // Gaps in the ids are refused.
        let mut gap = b.incidents().to_vec();
        gap.remove(0);
        assert!(IncidentBook::restore(1000, gap, vec![]).is_err());
    }

    #[test]
    fn state_transitions() {
        let mut b = IncidentBook::default();
        let id = b.add(alert(1, "snoop", "account:1", "10.0.0.1", &["p1"], 0)).unwrap();
        b.assign(id, "sec-1", "lead", 1).unwrap();
        b.investigate(id, "sec-1", 2).unwrap();
        assert!(matches!(b.investigate(id, "sec-1", 3), Err(IncidentError::InvalidTransition { .. })));
        assert_eq!(b.resolve(id, Resolution::Benign, " ", "sec-1", 4), Err(IncidentError::ReasonRequired));
        b.resolve(id, Resolution::FalsePositive, "covering colleague on leave", "sec-1", 4).unwrap();
        assert!(b.resolve(id, Resolution::Benign, "x", "sec-1", 5).is_err());
        assert!(b.assign(id, "x", "lead", 5).is_err());
        // A resolved incident takes no new alerts: a new one opens.
        let id2 = b.add(alert(2, "snoop", "account:1", "10.0.0.1", &["p1"], 6)).unwrap();
        assert_ne!(id, id2);
        b.reopen(id, "lead", 7).unwrap();
        let inc = b.get(id).unwrap();
        assert_eq!(inc.state, IncidentState::Investigating);
        assert_eq!(inc.history.len(), 4);
        assert_eq!(b.assign(99, "x", "y", 0), Err(IncidentError::NotFound(99)));
        assert_eq!(Resolution::parse("true_positive"), Some(Resolution::TruePositive));
    }
}
