//! The detector: runs every compiled rule over each event, keeps the
//! correlation windows, the baselines and the pending absences, asks the
//! explainer for legitimate reasons, and returns the alerts raised.
//!
//! Time is the events' own (audit time), so the same log gives the same
//! alerts online and offline.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

use crate::alert::{Alert, AlertStatus, MAX_EVIDENCE, MAX_PATIENTS, PatientExplanation};
use crate::baseline::{Baselines, Deviation};
use crate::event::Event;
use crate::explain::{Access, Explainer, Explanation, ExplanationKind, PatientFacts};
use crate::rules::{Cond, Correlation, Expr, Field, Lit, Op, Rule, RuleSet, Selection, span_text};

const DAY: i64 = 86_400_000_000;
/// An explained access explains the same user's accesses to the same patient for this long.
const REPEAT_WINDOW: i64 = 30 * DAY;
/// Per-patient facts are examined for at most this many patients of one event.
const MAX_SLOTS: usize = 64;
const NONE: u32 = u32::MAX;

type Key = [u32; 3];

/// Counters of what the detector did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DetectorStats {
    /// Events observed.
    pub events: u64,
    /// Alerts raised open.
    pub open_alerts: u64,
    /// Alerts explained away (auto-resolved as benign).
    pub explained_alerts: u64,
    /// Patient accesses by staff checked for a reason.
    pub accesses_checked: u64,
    /// Of those, accesses for which a reason was found.
    pub accesses_explained: u64,
    /// The newest event time seen.
    pub watermark: i64,
}

#[derive(Default)]
struct Interner {
    ids: HashMap<Box<str>, u32>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = u32::try_from(self.ids.len()).unwrap_or(NONE - 1);
        self.ids.insert(s.into(), i);
        i
    }
}

#[derive(Clone, Copy)]
struct Item {
    time: i64,
    seq: u64,
    value: u32,
    distinct: [u32; 2],
}

#[derive(Default)]
struct Window {
    items: VecDeque<Item>,
    values: HashMap<u32, u32>,
    patients: Vec<String>,
}

impl Window {
    fn expire(&mut self, before: i64, count_values: bool) {
        while let Some(front) = self.items.front().copied() {
            if front.time >= before {
                break;
            }
            self.items.pop_front();
            if count_values && let Some(n) = self.values.get_mut(&front.value) {
                *n -= 1;
                if *n == 0 {
                    self.values.remove(&front.value);
                }
            }
        }
    }

    fn clear(&mut self) {
        self.items.clear();
        self.values.clear();
        self.patients.clear();
    }

    fn evidence(&self) -> Vec<u64> {
        let skip = self.items.len().saturating_sub(MAX_EVIDENCE);
        self.items.iter().skip(skip).map(|i| i.seq).collect()
    }
}

struct Pending {
    deadline: i64,
    first_time: i64,
    seq: u64,
    actor: String,
    actor_name: Option<String>,
    role: Option<String>,
    source_ip: Option<String>,
    patients: Vec<String>,
}

/// Per-event lazily computed facts.
struct Ctx<'e> {
    ev: &'e Event,
    valid: u64,
    network_new: bool,
    actor_id: u32,
    patient_ids: Vec<u32>,
    facts: Vec<Option<PatientFacts>>,
    explained: Vec<Option<Option<Explanation>>>,
}

/// Runs a rule set over events. One detector per stream; not shared between threads.
pub struct Detector {
    rules: Arc<[Rule]>,
    explainer: Arc<dyn Explainer>,
    uses_network: bool,
    interner: Interner,
    windows: HashMap<(u16, Key), Window>,
    pending: HashMap<(u16, Key), Pending>,
    deadlines: BinaryHeap<Reverse<(i64, u16, Key)>>,
    baselines: Baselines,
    repeat: HashMap<(u32, u32), i64>,
    next_id: u64,
    stats: DetectorStats,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector").field("rules", &self.rules.len()).field("stats", &self.stats).finish()
    }
}

fn ascii_contains(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

fn str_match(op: Op, value: &str, lit: &Lit) -> bool {
    let Lit::Str(l) = lit else { return false };
    match op {
        Op::Eq => value.eq_ignore_ascii_case(l),
        Op::Contains => ascii_contains(value, l),
        Op::StartsWith => value.len() >= l.len() && value.as_bytes()[..l.len()].eq_ignore_ascii_case(l.as_bytes()),
        Op::EndsWith => {
            value.len() >= l.len() && value.as_bytes()[value.len() - l.len()..].eq_ignore_ascii_case(l.as_bytes())
        }
        Op::Gte | Op::Lte => false,
    }
}

fn num_match(op: Op, value: f64, lit: &Lit) -> bool {
    let Lit::Num(l) = lit else { return false };
    match op {
        Op::Eq => value == *l,
        Op::Gte => value >= *l,
        Op::Lte => value <= *l,
        _ => false,
    }
}

/// The single-valued string of an event field.
fn str_field(ev: &Event, f: Field) -> Option<&str> {
    match f {
        Field::Action => Some(&ev.action),
        Field::Outcome => Some(ev.outcome.as_str()),
        Field::Actor => Some(&ev.actor),
        Field::ActorName => ev.actor_name.as_deref(),
        Field::ActorRole => ev.role.as_deref(),
        Field::ActorFhir => ev.actor_fhir.as_deref(),
        Field::ActorKind => Some(ev.kind.as_str()),
        Field::OnBehalfOf => ev.on_behalf_of.as_deref(),
        Field::Purpose => ev.purpose.as_deref(),
        Field::Detail => ev.detail.as_deref(),
        Field::SourceIp => ev.source_ip.as_deref(),
        Field::UserAgent => ev.user_agent.as_deref(),
        Field::ResourceType => ev.resource_types.first().map(String::as_str),
        _ => None,
    }
}

/// The network an address belongs to: its /24 (IPv4) or /64 (IPv6).
fn network_of(ip: &str) -> &str {
    if ip.contains(':') {
        let mut n = 0;
        for (i, c) in ip.char_indices() {
            if c == ':' {
                n += 1;
                if n == 4 {
                    return &ip[..i];
                }
            }
        }
        ip
    } else {
        ip.rfind('.').map_or(ip, |i| &ip[..i])
    }
}

impl Detector {
    /// A detector over `rules` that asks `explainer` for reasons.
    pub fn new(rules: RuleSet, explainer: Arc<dyn Explainer>) -> Self {
        let uses_network = rules.rules.iter().any(|r| {
            r.selections.iter().any(|s| s.alternatives.iter().flatten().any(|c| c.field == Field::NetworkNew))
        });
        Detector {
            rules: rules.rules.into(),
            explainer,
            uses_network,
            interner: Interner::default(),
            windows: HashMap::new(),
            pending: HashMap::new(),
            deadlines: BinaryHeap::new(),
            baselines: Baselines::default(),
            repeat: HashMap::new(),
            next_id: 1,
            stats: DetectorStats::default(),
        }
    }

    /// The rules it runs.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// What it has done so far.
    pub fn stats(&self) -> DetectorStats {
        self.stats
    }

    /// Numbers the alerts raised from now on after `last` (a restarted
    /// server continues its persisted alerts' numbering).
    pub fn resume_alert_ids(&mut self, last: u64) {
        self.next_id = self.next_id.max(last.saturating_add(1));
    }

    /// Observes an audit record.
    pub fn observe_record(&mut self, record: &haven_audit::Record) -> Vec<Alert> {
        self.observe(&Event::from(record))
    }

    /// Observes one event (in sequence order) and returns the alerts it
    /// raised, open or explained, including absences whose time ran out.
    pub fn observe(&mut self, ev: &Event) -> Vec<Alert> {
        let mut out = Vec::new();
        self.stats.events += 1;
        if ev.time > self.stats.watermark {
            self.stats.watermark = ev.time;
        }
        self.expire_pending(ev.time, &mut out);
        let rules = self.rules.clone();
        let mut ctx = self.context(ev);
        for (ri, rule) in rules.iter().enumerate() {
            let ri = u16::try_from(ri).unwrap_or(u16::MAX);
            self.run_rule(ri, rule, &mut ctx, &mut out);
        }
        self.remember_explained(&ctx);
        out
    }

    /// Fires every pending absence whose deadline is at or before `now`
    /// (call at the end of an offline run, or on a timer when the stream is idle).
    pub fn flush(&mut self, now: i64) -> Vec<Alert> {
        let mut out = Vec::new();
        self.expire_pending(now.saturating_add(1), &mut out);
        out
    }

    fn context<'e>(&mut self, ev: &'e Event) -> Ctx<'e> {
        let slots = ev.patients.len().clamp(1, MAX_SLOTS);
        let valid = if slots == 64 { u64::MAX } else { (1u64 << slots) - 1 };
        // Failed sign-ins to unknown accounts carry only a (pseudonymous) name: that is the account.
        let actor_id = match (&ev.actor_name, ev.actor.as_str()) {
            (Some(name), "anonymous") => self.interner.id(&format!("anonymous:{name}")),
            _ => self.interner.id(&ev.actor),
        };
        let mut network_new = false;
        if self.uses_network
            && let Some(ip) = ev.source_ip.as_deref()
        {
            let net = self.interner.id(network_of(ip));
            network_new = self.baselines.network_is_new(actor_id, net);
        }
        let mut patient_ids = Vec::new();
        if ev.is_patient_access() {
            patient_ids = ev.patients.iter().take(MAX_SLOTS).map(|p| self.interner.id(p)).collect();
            let types: Vec<u32> = ev.resource_types.iter().map(|t| self.interner.id(t)).collect();
            let role = self.interner.id(ev.role.as_deref().unwrap_or("-"));
            // Baselines count every patient, not only the first MAX_SLOTS.
            let all: Vec<u32> = if ev.patients.len() > MAX_SLOTS {
                ev.patients.iter().map(|p| self.interner.id(p)).collect()
            } else {
                patient_ids.clone()
            };
            self.baselines.observe(actor_id, role, ev.time, &all, &types);
        }
        let n = patient_ids.len();
        Ctx { ev, valid, network_new, actor_id, patient_ids, facts: vec![None; n], explained: vec![None; n] }
    }

    fn access<'e>(ctx: &Ctx<'e>, i: usize) -> Access<'e> {
        let ev = ctx.ev;
        Access {
            actor: &ev.actor,
            actor_fhir: ev.actor_fhir.as_deref(),
            role: ev.role.as_deref(),
            on_behalf_of: ev.on_behalf_of.as_deref(),
            patient: &ev.patients[i],
            time: ev.time,
            action: &ev.action,
        }
    }

    fn facts(&self, ctx: &mut Ctx<'_>, i: usize) -> PatientFacts {
        if let Some(f) = ctx.facts[i] {
            return f;
        }
        let f = self.explainer.facts(&Self::access(ctx, i));
        ctx.facts[i] = Some(f);
        f
    }

    fn explanation(&mut self, ctx: &mut Ctx<'_>, i: usize) -> Option<Explanation> {
        if let Some(e) = &ctx.explained[i] {
            return e.clone();
        }
        self.stats.accesses_checked += 1;
        let key = (ctx.actor_id, ctx.patient_ids[i]);
        let mut e = self.explainer.explain(&Self::access(ctx, i));
        if e.is_none() && self.repeat.get(&key).is_some_and(|t| ctx.ev.time - t <= REPEAT_WINDOW) {
            e = Some(Explanation { kind: ExplanationKind::RepeatAccess, reference: None });
        }
        if e.is_some() {
            self.stats.accesses_explained += 1;
        }
        ctx.explained[i] = Some(e.clone());
        e
    }

    fn remember_explained(&mut self, ctx: &Ctx<'_>) {
        for (i, e) in ctx.explained.iter().enumerate() {
            if let Some(Some(e)) = e
                && e.kind != ExplanationKind::RepeatAccess
            {
                self.repeat.insert((ctx.actor_id, ctx.patient_ids[i]), ctx.ev.time);
            }
        }
    }

    fn cond_event(ctx: &Ctx<'_>, c: &Cond) -> bool {
        let ev = ctx.ev;
        match c.field {
            Field::PatientsCount => c.values.iter().any(|l| num_match(c.op, ev.patients.len() as f64, l)),
            Field::ResourcesCount => c.values.iter().any(|l| num_match(c.op, f64::from(ev.resource_count), l)),
            Field::NetworkNew => c.values.contains(&Lit::Bool(ctx.network_new)),
            Field::ResourceType => ev.resource_types.iter().any(|t| c.values.iter().any(|l| str_match(c.op, t, l))),
            f => str_field(ev, f).is_some_and(|v| c.values.iter().any(|l| str_match(c.op, v, l))),
        }
    }

    fn cond_patient(&mut self, ctx: &mut Ctx<'_>, c: &Cond, i: usize) -> bool {
        let b = match c.field {
            Field::Patient => return c.values.iter().any(|l| str_match(c.op, &ctx.ev.patients[i], l)),
            Field::PatientExplained => self.explanation(ctx, i).is_some(),
            Field::PatientFamily => self.facts(ctx, i).family(),
            Field::PatientSameSurname => self.facts(ctx, i).same_surname,
            Field::PatientSameAddress => self.facts(ctx, i).same_address,
            Field::PatientCoworker => self.facts(ctx, i).coworker,
            Field::PatientVip => self.facts(ctx, i).vip,
            Field::PatientDeceased => self.facts(ctx, i).deceased,
            Field::PatientSelf => self.facts(ctx, i).is_self,
            _ => return false,
        };
        c.values.contains(&Lit::Bool(b))
    }

    /// The patients (bit per slot) a selection matches; `valid` if it has no per-patient conditions.
    fn selection(&mut self, ctx: &mut Ctx<'_>, sel: &Selection) -> u64 {
        let mut mask = 0;
        for alt in &sel.alternatives {
            let mut m = ctx.valid;
            for c in alt {
                if !c.field.per_patient() {
                    if !Self::cond_event(ctx, c) {
                        m = 0;
                        break;
                    }
                    continue;
                }
                // Per-patient conditions need patients; only successful accesses have facts.
                if ctx.patient_ids.is_empty() {
                    m = 0;
                    break;
                }
                for i in 0..ctx.patient_ids.len() {
                    if m & (1 << i) != 0 && !self.cond_patient(ctx, c, i) {
                        m &= !(1 << i);
                    }
                }
                if m == 0 {
                    break;
                }
            }
            mask |= m;
            if mask == ctx.valid {
                break;
            }
        }
        mask
    }

    fn expr(&mut self, ctx: &mut Ctx<'_>, rule: &Rule, e: &Expr) -> u64 {
        match e {
            Expr::Sel(i) => self.selection(ctx, &rule.selections[*i]),
            Expr::Not(x) => ctx.valid & !self.expr(ctx, rule, x),
            Expr::And(a, b) => {
                let l = self.expr(ctx, rule, a);
                if l == 0 { 0 } else { l & self.expr(ctx, rule, b) }
            }
            Expr::Or(a, b) => {
                let l = self.expr(ctx, rule, a);
                if l == ctx.valid { l } else { l | self.expr(ctx, rule, b) }
            }
        }
    }

    fn patients_of(ctx: &Ctx<'_>, mask: u64) -> Vec<String> {
        ctx.ev
            .patients
            .iter()
            .take(MAX_SLOTS)
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, p)| p.clone())
            .collect()
    }

    /// Group keys of an event: one, or one per matched patient if grouped by patient.
    fn keys(&mut self, ctx: &Ctx<'_>, group: &[Field], mask: u64) -> Vec<(Key, Option<usize>)> {
        let mut base = [NONE; 3];
        let mut by_patient = None;
        for (k, f) in group.iter().enumerate() {
            if *f == Field::Patient {
                by_patient = Some(k);
            } else {
                base[k] = match *f {
                    Field::Actor => ctx.actor_id,
                    f => str_field(ctx.ev, f).map_or(NONE, |v| self.interner.id(v)),
                };
            }
        }
        match by_patient {
            None => vec![(base, None)],
            Some(k) => (0..ctx.patient_ids.len())
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| {
                    let mut key = base;
                    key[k] = ctx.patient_ids[i];
                    (key, Some(i))
                })
                .collect(),
        }
    }

    fn value_of(&mut self, ctx: &Ctx<'_>, f: Field, slot: Option<usize>, mask: u64) -> Vec<u32> {
        match f {
            Field::Patient => match slot {
                Some(i) => vec![ctx.patient_ids[i]],
                None => {
                    (0..ctx.patient_ids.len()).filter(|i| mask & (1 << i) != 0).map(|i| ctx.patient_ids[i]).collect()
                }
            },
            Field::Actor => vec![ctx.actor_id],
            Field::ResourceType => ctx.ev.resource_types.iter().map(|t| self.interner.id(t)).collect(),
            f => vec![str_field(ctx.ev, f).map_or(NONE, |v| self.interner.id(v))],
        }
    }

    fn run_rule(&mut self, ri: u16, rule: &Rule, ctx: &mut Ctx<'_>, out: &mut Vec<Alert>) {
        match &rule.correlation {
            Correlation::None => {
                let mask = self.expr(ctx, rule, &rule.condition);
                if mask != 0 {
                    let patients = Self::patients_of(ctx, mask);
                    let alert = self.alert(rule, ctx.ev, patients, vec![ctx.ev.seq], 1, ctx.ev.time, None);
                    self.finish(rule, alert, Some((ctx, mask)), out);
                }
            }
            Correlation::EventCount { group, window, gte } => {
                let mask = self.expr(ctx, rule, &rule.condition);
                if mask == 0 {
                    return;
                }
                for (key, slot) in self.keys(ctx, group, mask) {
                    let w = self.windows.entry((ri, key)).or_default();
                    w.expire(ctx.ev.time - window, false);
                    w.items.push_back(Item { time: ctx.ev.time, seq: ctx.ev.seq, value: 0, distinct: [NONE; 2] });
                    add_patients(w, ctx, slot, mask);
                    if w.items.len() as u64 >= *gte {
                        let (ev_seqs, n, first) = (w.evidence(), w.items.len() as u64, w.items[0].time);
                        let patients = std::mem::take(&mut w.patients);
                        w.clear();
                        let alert = self.alert(rule, ctx.ev, patients, ev_seqs, n, first, None);
                        self.finish(rule, alert, None, out);
                    }
                }
            }
            Correlation::ValueCount { group, window, field, gte } => {
                let mask = self.expr(ctx, rule, &rule.condition);
                if mask == 0 {
                    return;
                }
                for (key, slot) in self.keys(ctx, group, mask) {
                    let values = self.value_of(ctx, *field, slot, mask);
                    let w = self.windows.entry((ri, key)).or_default();
                    w.expire(ctx.ev.time - window, true);
                    for v in values {
                        w.items.push_back(Item { time: ctx.ev.time, seq: ctx.ev.seq, value: v, distinct: [NONE; 2] });
                        *w.values.entry(v).or_default() += 1;
                    }
                    add_patients(w, ctx, slot, mask);
                    if w.values.len() as u64 >= *gte {
                        let mut seqs = w.evidence();
                        seqs.dedup();
                        let (n, first) = (w.values.len() as u64, w.items[0].time);
                        let patients = std::mem::take(&mut w.patients);
                        w.clear();
                        let alert = self.alert(rule, ctx.ev, patients, seqs, n, first, None);
                        self.finish(rule, alert, None, out);
                    }
                }
            }
            Correlation::Temporal { group, window, first, first_gte, then, distinct } => {
                let m_then = self.selection(ctx, &rule.selections[*then]);
                let m_first = self.selection(ctx, &rule.selections[*first]);
                if m_then != 0 {
                    for (key, _) in self.keys(ctx, group, m_then) {
                        let d = self.distinct_values(ctx, distinct);
                        let Some(w) = self.windows.get_mut(&(ri, key)) else { continue };
                        w.expire(ctx.ev.time - window, false);
                        let prior: Vec<Item> =
                            w.items.iter().copied().filter(|i| distinct.is_empty() || i.distinct != d).collect();
                        // Every first-step value must differ: the same network once is enough to vouch.
                        let vouched = !distinct.is_empty() && w.items.iter().any(|i| i.distinct == d);
                        if !vouched && prior.len() as u64 >= *first_gte {
                            let mut seqs: Vec<u64> = prior.iter().map(|i| i.seq).collect();
                            seqs.push(ctx.ev.seq);
                            let first_time = prior[0].time;
                            let n = seqs.len() as u64;
                            w.clear();
                            let patients = Self::patients_of(ctx, m_then & ctx.valid);
                            let alert = self.alert(rule, ctx.ev, patients, seqs, n, first_time, None);
                            self.finish(rule, alert, None, out);
                        }
                    }
                }
                if m_first != 0 {
                    let d = self.distinct_values(ctx, distinct);
                    for (key, _) in self.keys(ctx, group, m_first) {
                        let w = self.windows.entry((ri, key)).or_default();
                        w.expire(ctx.ev.time - window, false);
                        w.items.push_back(Item { time: ctx.ev.time, seq: ctx.ev.seq, value: 0, distinct: d });
                        if w.items.len() > MAX_EVIDENCE {
                            w.items.pop_front();
                        }
                    }
                }
            }
            Correlation::Absence { group, window, follow } => {
                let m_follow = self.selection(ctx, &rule.selections[*follow]);
                if m_follow != 0 {
                    for (key, _) in self.keys(ctx, group, m_follow) {
                        self.pending.remove(&(ri, key));
                    }
                }
                let mask = self.expr(ctx, rule, &rule.condition);
                if mask != 0 {
                    for (key, slot) in self.keys(ctx, group, mask) {
                        let deadline = ctx.ev.time.saturating_add(*window);
                        let patients = match slot {
                            Some(i) => vec![ctx.ev.patients[i].clone()],
                            None => Self::patients_of(ctx, mask),
                        };
                        let ev = ctx.ev;
                        self.pending.insert(
                            (ri, key),
                            Pending {
                                deadline,
                                first_time: ev.time,
                                seq: ev.seq,
                                actor: ev.actor.clone(),
                                actor_name: ev.actor_name.clone(),
                                role: ev.role.clone(),
                                source_ip: ev.source_ip.clone(),
                                patients,
                            },
                        );
                        self.deadlines.push(Reverse((deadline, ri, key)));
                    }
                }
            }
            Correlation::Baseline { feature, own_z, peer_z, min_value, min_history } => {
                if ctx.patient_ids.is_empty() {
                    return;
                }
                let mask = self.expr(ctx, rule, &rule.condition);
                if mask == 0 {
                    return;
                }
                let peer = ctx.ev.role.as_deref().unwrap_or("-");
                if let Some(dev) =
                    self.baselines.check(ri, ctx.actor_id, *feature, *min_value, *own_z, *peer_z, *min_history, peer)
                {
                    let patients = Self::patients_of(ctx, mask);
                    let alert = self.alert(rule, ctx.ev, patients, vec![ctx.ev.seq], 1, ctx.ev.time, Some(dev));
                    self.finish(rule, alert, None, out);
                }
            }
        }
    }

    fn distinct_values(&mut self, ctx: &Ctx<'_>, fields: &[Field]) -> [u32; 2] {
        let mut d = [NONE; 2];
        for (k, f) in fields.iter().take(2).enumerate() {
            d[k] = match f {
                Field::SourceIp => ctx.ev.source_ip.as_deref().map_or(NONE, |ip| self.interner.id(network_of(ip))),
                f => str_field(ctx.ev, *f).map_or(NONE, |v| self.interner.id(v)),
            };
        }
        d
    }

    fn expire_pending(&mut self, now: i64, out: &mut Vec<Alert>) {
        while let Some(Reverse((deadline, ri, key))) = self.deadlines.peek().copied() {
            if deadline >= now {
                break;
            }
            self.deadlines.pop();
            let due = self.pending.get(&(ri, key)).is_some_and(|p| p.deadline == deadline);
            if !due {
                continue;
            }
            let Some(p) = self.pending.remove(&(ri, key)) else { continue };
            let rules = self.rules.clone();
            let Some(rule) = rules.get(usize::from(ri)) else { continue };
            let mut ev = Event::new(p.seq, deadline, p.actor, "", haven_audit::Outcome::Success);
            ev.actor_name = p.actor_name;
            ev.role = p.role;
            ev.source_ip = p.source_ip;
            let alert = self.alert(rule, &ev, p.patients, vec![p.seq], 1, p.first_time, None);
            self.finish(rule, alert, None, out);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn alert(
        &mut self,
        rule: &Rule,
        ev: &Event,
        mut patients: Vec<String>,
        mut evidence: Vec<u64>,
        count: u64,
        first_time: i64,
        deviation: Option<Deviation>,
    ) -> Alert {
        patients.truncate(MAX_PATIENTS);
        evidence.sort_unstable();
        evidence.dedup();
        let id = self.next_id;
        self.next_id += 1;
        Alert {
            id,
            rule: rule.id.clone(),
            title: rule.title.clone(),
            attack: rule.attack.clone(),
            category: rule.category,
            level: rule.level,
            time: ev.time,
            first_time,
            actor: ev.actor.clone(),
            actor_name: ev.actor_name.clone(),
            role: ev.role.clone(),
            source_ip: ev.source_ip.clone(),
            patients,
            evidence,
            count,
            deviation,
            status: AlertStatus::Open,
            explanations: Vec::new(),
            summary: String::new(),
        }
    }

    /// Looks for reasons (rules that ask for it), writes the summary, counts it.
    fn finish(&mut self, rule: &Rule, mut alert: Alert, at: Option<(&mut Ctx<'_>, u64)>, out: &mut Vec<Alert>) {
        if rule.explain
            && let Some((ctx, mask)) = at
        {
            let mut unexplained = Vec::new();
            for i in 0..ctx.patient_ids.len() {
                if mask & (1 << i) == 0 {
                    continue;
                }
                match self.explanation(ctx, i) {
                    Some(e) => alert
                        .explanations
                        .push(PatientExplanation { patient: ctx.ev.patients[i].clone(), explanation: e }),
                    None => unexplained.push(ctx.ev.patients[i].clone()),
                }
            }
            if unexplained.is_empty() && !alert.explanations.is_empty() {
                alert.status = AlertStatus::Explained;
            } else if !unexplained.is_empty() {
                alert.patients = unexplained;
            }
        }
        alert.summary = crate::summary::summarize(rule, &alert, span_of(rule));
        match alert.status {
            AlertStatus::Open => self.stats.open_alerts += 1,
            AlertStatus::Explained => self.stats.explained_alerts += 1,
        }
        out.push(alert);
    }
}

fn span_of(rule: &Rule) -> Option<String> {
    match &rule.correlation {
        Correlation::EventCount { window, .. }
        | Correlation::ValueCount { window, .. }
        | Correlation::Temporal { window, .. }
        | Correlation::Absence { window, .. } => Some(span_text(*window)),
        _ => None,
    }
}

fn add_patients(w: &mut Window, ctx: &Ctx<'_>, slot: Option<usize>, mask: u64) {
    let add = |w: &mut Window, p: &String| {
        if w.patients.len() < MAX_PATIENTS && !w.patients.contains(p) {
            w.patients.push(p.clone());
        }
    };
    match slot {
        Some(i) => add(w, &ctx.ev.patients[i]),
        None => {
            for (i, p) in ctx.ev.patients.iter().take(MAX_SLOTS).enumerate() {
                if mask & (1 << i) != 0 && !ctx.patient_ids.is_empty() {
                    add(w, p);
                }
            }
        }
    }
}

impl From<Vec<Rule>> for RuleSet {
    fn from(rules: Vec<Rule>) -> Self {
        RuleSet { rules }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use haven_audit::Outcome;

    use super::*;
    use crate::explain::NoExplainer;

    fn rules(text: &str) -> RuleSet {
        RuleSet::from_sources([("t.yaml".to_string(), text.to_string())]).unwrap()
    }

    #[test]
    fn event_count_fires_once_per_threshold() {
        let set = rules(
            "id: t\ntitle: T\nlevel: high\ncategory: credential\nattack: brute_force\ndetection:\n  f:\n    action: auth.login\n    outcome: [denied, failed]\n  condition: f\ncorrelation:\n  type: event_count\n  group_by: [actor.name]\n  timespan: 5m\n  gte: 3\n",
        );
        let mut d = Detector::new(set, Arc::new(NoExplainer));
        let mut alerts = Vec::new();
        for i in 0..7u64 {
            let mut e = Event::new(i + 1, i as i64 * 1_000_000, "anonymous", "auth.login", Outcome::Denied);
            e.actor_name = Some("alice".into());
            alerts.extend(d.observe(&e));
        }
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].evidence, [1, 2, 3]);
        assert_eq!(alerts[1].evidence, [4, 5, 6]);
        // Spread out beyond the window: silent.
        let mut d = Detector::new(d.rules().to_vec().into_iter().collect::<Vec<_>>().into(), Arc::new(NoExplainer));
        for i in 0..6u64 {
            let mut e = Event::new(i + 1, i as i64 * 200_000_000, "anonymous", "auth.login", Outcome::Denied);
            e.actor_name = Some("alice".into());
            assert!(d.observe(&e).is_empty());
        }
    }

    #[test]
    fn networks() {
        assert_eq!(network_of("10.1.2.3"), "10.1.2");
        assert_eq!(network_of("2001:db8:1:2:3::1"), "2001:db8:1:2");
        assert!(ascii_contains("Safeguards injection=BLOCK", "injection=block"));
    }
}
