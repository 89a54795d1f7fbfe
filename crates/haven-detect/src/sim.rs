//! A seeded hospital simulator and the evaluation of detection on it.
//!
//! [`simulate`] builds a hospital (departments, staff with shifts, patients
//! with conditions, relatives, coworkers, VIPs and the deceased), its
//! relationships over the days simulated (clinic appointments, inpatient
//! and emergency encounters, care teams, consult orders) and an audit log of
//! normal work (sign-ins, chart review, ward rounds, documentation,
//! scheduling, billing, the assistant, a lab interface, night shifts,
//! emergencies with break-the-glass), then injects labelled attacks of every
//! type. [`evaluate`] runs a detector over the log and measures it against
//! the labels. The same seed always gives the same log.
//!
//! Attacks are injected only after a warm-up (baselines and the networks
//! users sign in from need history), and attack targets are chosen so that
//! nothing in the hospital's own data explains the access: an access
//! explained by a real relationship is, by design, not reported.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use haven_audit::{Actor, Outcome, Record};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::alert::{Alert, AlertStatus};
use crate::engine::Detector;
use crate::event::Event;
use crate::explain::{Access, Explainer, LinkKind, PatientProfile, RelationshipIndex, StaffProfile};
use crate::incident::IncidentBook;
use crate::rules::RuleSet;

const MIN: i64 = 60_000_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
/// 2026-01-05T00:00:00Z, a Monday.
const EPOCH: i64 = 1_767_571_200 * 1_000_000;

/// Every attack type the simulator injects (and the rules' `attack` labels).
pub const ATTACK_TYPES: &[&str] = &[
    "brute_force",
    "password_spraying",
    "failures_then_success",
    "mfa_fatigue",
    "mfa_replay",
    "token_new_network",
    "snoop_family",
    "snoop_coworker",
    "snoop_vip",
    "snoop_deceased",
    "snoop_unexplained",
    "exfil_distinct_patients",
    "exfil_bulk",
    "exfil_baseline",
    "btg_misuse",
    "btg_repeated",
    "agent_overreach",
    "agent_injection",
];

/// What to simulate.
#[derive(Clone, Debug, Serialize)]
pub struct SimConfig {
    /// Days of activity.
    pub days: u32,
    /// Staff members.
    pub staff: u32,
    /// Patients.
    pub patients: u32,
    /// Seed of every random choice.
    pub seed: u64,
    /// Attacks of each type per simulated day after the warm-up (at least 3 of each are injected).
    pub attack_rate: f64,
    /// Days without attacks at the start (history for baselines); not measured.
    pub warmup_days: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig { days: 14, staff: 300, patients: 5000, seed: 1, attack_rate: 0.5, warmup_days: 4 }
    }
}

/// One injected attack and the audit records it produced.
#[derive(Clone, Debug, Serialize)]
pub struct AttackLabel {
    /// Attack number.
    pub id: u32,
    /// Its type (one of [`ATTACK_TYPES`]).
    pub kind: &'static str,
    /// The acting account.
    pub actor: String,
    /// Sequence numbers of the attack's records.
    pub seqs: Vec<u64>,
}

/// A simulated hospital: its relationships and its audit log with labels.
pub struct Simulation {
    /// The configuration.
    pub config: SimConfig,
    /// The audit log, in sequence order (record `i` has sequence number `i + 1`).
    pub log: Vec<haven_audit::Event>,
    /// The attacks.
    pub attacks: Vec<AttackLabel>,
    /// Relationships, demographics (hashed) and flags.
    pub index: RelationshipIndex,
    /// Time measurement starts (after the warm-up), unix µs.
    pub eval_start: i64,
    /// End of the simulated period, unix µs.
    pub end: i64,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation").field("records", &self.log.len()).field("attacks", &self.attacks.len()).finish()
    }
}

impl Simulation {
    /// Record `i` (0-based) as the audit log would store it.
    pub fn record(&self, i: usize) -> Option<Record> {
        let event = self.log.get(i)?.clone();
        Some(Record { v: haven_audit::RECORD_VERSION, seq: i as u64 + 1, prev: String::new(), event })
    }

    /// The log as detection events.
    pub fn events(&self) -> Vec<Event> {
        (0..self.log.len()).filter_map(|i| self.record(i)).map(|r| Event::from(&r)).collect()
    }
}

const DEPARTMENTS: &[&str] =
    &["emergency", "cardiology", "oncology", "pediatrics", "surgery", "internal-medicine", "neurology", "orthopedics"];
const ED: usize = 0;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Clinician,
    Nurse,
    Scheduler,
    Billing,
    Admin,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Clinician => "clinician",
            Role::Nurse => "nurse",
            Role::Scheduler => "scheduler",
            Role::Billing => "billing",
            Role::Admin => "admin",
        }
    }
}

struct Staff {
    role: Role,
    dept: usize,
    account: String,
    practitioner: String,
    work_ip: String,
    home_ip: Option<String>,
    /// Hour the shift starts (7 day, 15 evening, 23 night).
    shift: i64,
    relative: Option<usize>,
    own_record: Option<usize>,
}

struct Patient {
    id: String,
    depts: Vec<usize>,
    vip: bool,
    deceased: bool,
    employee: bool,
}

/// Relationships in force, kept for generating accesses.
struct Stay {
    patient: usize,
    dept: usize,
    from: i64,
    to: i64,
    attending: usize,
    /// A consult: only the consulting clinician sees the patient.
    consult: bool,
}

struct Appt {
    patient: usize,
    clinician: usize,
    dept: usize,
    start: i64,
}

struct Gen {
    rng: ChaCha8Rng,
    out: Vec<(i64, u32, Option<u32>, haven_audit::Event)>,
    order: u32,
    counter: u64,
}

impl Gen {
    fn push(&mut self, time: i64, label: Option<u32>, mut e: haven_audit::Event) {
        e.time = time;
        e.normalise();
        self.order += 1;
        self.out.push((time, self.order, label, e));
    }

    fn rid(&mut self, t: &str) -> String {
        self.counter += 1;
        format!("{t}/{}{}", &t[..1].to_ascii_lowercase(), self.counter)
    }
}

fn staff_actor(s: &Staff) -> Actor {
    Actor {
        id: s.account.clone(),
        name: None,
        role: Some(s.role.as_str().into()),
        fhir: Some(s.practitioner.clone()),
        on_behalf_of: None,
    }
}

fn ev(actor: Actor, action: &str, outcome: Outcome, ip: &str) -> haven_audit::Event {
    let mut e = haven_audit::Event::new(actor, action, outcome);
    e.source_ip = Some(ip.to_string());
    e.user_agent = Some("Mozilla/5.0 (Haven workstation)".into());
    e.purpose = None;
    e
}

/// A clinical access by a staff member to one patient.
#[allow(clippy::too_many_arguments)]
fn access(g: &mut Gen, s: &Staff, p: &Patient, time: i64, action: &str, rtype: &str, ip: &str, label: Option<u32>) {
    let mut e = ev(staff_actor(s), action, Outcome::Success, ip);
    e.purpose = Some(if s.role == Role::Billing { "HPAYMT" } else { "TREAT" }.into());
    e.resources = if rtype == "Patient" { vec![format!("Patient/{}", p.id)] } else { vec![g.rid(rtype)] };
    e.patients = vec![p.id.clone()];
    g.push(time, label, e);
}

fn chart(g: &mut Gen, s: &Staff, p: &Patient, time: i64, ip: &str, n: usize, label: Option<u32>) -> i64 {
    const VIEWS: &[(&str, &str)] = &[
        ("fhir.read", "Patient"),
        ("fhir.search", "Observation"),
        ("fhir.search", "MedicationRequest"),
        ("fhir.search", "Condition"),
        ("fhir.read", "DiagnosticReport"),
        ("fhir.search", "AllergyIntolerance"),
    ];
    let mut t = time;
    for i in 0..n {
        let (a, r) = VIEWS[i % VIEWS.len()];
        access(g, s, p, t, a, r, ip, label);
        t += g.rng.gen_range(5_000_000..90_000_000);
    }
    t
}

fn sign_in(g: &mut Gen, s: &Staff, time: i64, ip: &str, benign_noise: bool) -> i64 {
    let mut t = time;
    if benign_noise && g.rng.gen_bool(0.05) {
        for _ in 0..g.rng.gen_range(1..=2) {
            g.push(t, None, ev(staff_actor(s), "auth.login", Outcome::Denied, ip).with_detail("invalid credentials"));
            t += g.rng.gen_range(5_000_000..30_000_000);
        }
    }
    g.push(
        t,
        None,
        ev(staff_actor(s), "auth.login", Outcome::Success, ip).with_detail("password accepted; second factor due"),
    );
    t += g.rng.gen_range(5_000_000..20_000_000);
    if benign_noise && g.rng.gen_bool(0.03) {
        g.push(
            t,
            None,
            ev(staff_actor(s), "auth.mfa.verify", Outcome::Failed, ip).with_detail("invalid or reused code"),
        );
        t += g.rng.gen_range(5_000_000..20_000_000);
    }
    g.push(
        t,
        None,
        ev(staff_actor(s), "auth.mfa.verify", Outcome::Success, ip).with_detail("second factor accepted; signed in"),
    );
    if benign_noise && g.rng.gen_bool(0.005) {
        // A double submission of the same code, from the same workstation.
        g.push(
            t + 2_000_000,
            None,
            ev(staff_actor(s), "auth.mfa.verify", Outcome::Failed, ip).with_detail("code already used"),
        );
    }
    t + g.rng.gen_range(2_000_000..10_000_000)
}

/// Surnames from syllables: a few thousand, like a city's.
fn surname(rng: &mut ChaCha8Rng) -> String {
    const A: &[&str] = &[
        "al", "ber", "car", "dal", "el", "fen", "gor", "har", "ill", "jor", "kel", "lom", "mar", "nor", "ol", "pen",
        "quin", "ros", "sal", "tor",
    ];
    const B: &[&str] =
        &["an", "ba", "ce", "do", "en", "fi", "go", "hu", "in", "jo", "ka", "li", "mo", "nu", "or", "pa"];
    const C: &[&str] = &["son", "berg", "ton", "ez", "ski", "ard", "well", "ley", "man", "ford"];
    format!("{}{}{}", A[rng.gen_range(0..A.len())], B[rng.gen_range(0..B.len())], C[rng.gen_range(0..C.len())])
}

struct Hospital {
    staff: Vec<Staff>,
    patients: Vec<Patient>,
    by_dept: Vec<Vec<usize>>,
    stays: Vec<Stay>,
    appts: Vec<Appt>,
    emergencies: Vec<(usize, usize, i64, bool)>,
}

fn role_of(i: u32, n: u32) -> Role {
    let f = f64::from(i) / f64::from(n.max(1));
    if f < 0.30 {
        Role::Clinician
    } else if f < 0.78 {
        Role::Nurse
    } else if f < 0.88 {
        Role::Scheduler
    } else if f < 0.97 {
        Role::Billing
    } else {
        Role::Admin
    }
}

/// Builds the simulated hospital and its audit log.
pub fn simulate(config: &SimConfig) -> Simulation {
    let mut g = Gen { rng: ChaCha8Rng::seed_from_u64(config.seed), out: Vec::new(), order: 0, counter: 0 };
    let days = i64::from(config.days.max(2));
    let warmup = i64::from(config.warmup_days.min(config.days.saturating_sub(2)));
    let end = EPOCH + days * DAY;
    let mut idx = RelationshipIndex::new();
    let np = config.patients.max(50) as usize;
    let ns = config.staff.max(20);

    // Patients, with conditions treated by one or two departments.
    let mut patients = Vec::with_capacity(np);
    let mut by_dept: Vec<Vec<usize>> = vec![Vec::new(); DEPARTMENTS.len()];
    let mut names = Vec::with_capacity(np);
    for i in 0..np {
        let mut depts = vec![g.rng.gen_range(1..DEPARTMENTS.len())];
        if g.rng.gen_bool(0.3) {
            let d = g.rng.gen_range(1..DEPARTMENTS.len());
            if !depts.contains(&d) {
                depts.push(d);
            }
        }
        let deceased = g.rng.gen_bool(0.02);
        // The dead have no visits in the period: their records stay on file.
        if !deceased {
            for d in &depts {
                by_dept[*d].push(i);
            }
        }
        patients.push(Patient { id: format!("p{i}"), depts, vip: g.rng.gen_bool(0.005), deceased, employee: false });
        names.push((surname(&mut g.rng), format!("{} {} street", g.rng.gen_range(1..999), surname(&mut g.rng))));
    }
    // Staff: roles, departments, shifts, networks; some are patients, some have relatives here.
    let mut staff = Vec::new();
    for i in 0..ns {
        let role = role_of(i, ns);
        let dept = (i as usize) % DEPARTMENTS.len();
        let shift = match role {
            Role::Nurse => [7, 15, 23][(i as usize / DEPARTMENTS.len()) % 3],
            Role::Clinician if dept == ED && i % 3 == 0 => 20,
            _ => 8,
        };
        let home_ip =
            (role == Role::Clinician && g.rng.gen_bool(0.3)).then(|| format!("100.{}.{}.7", 64 + i / 250, i % 250));
        let mut s = Staff {
            role,
            dept,
            account: format!("account:s{i}"),
            practitioner: format!("Practitioner/s{i}"),
            work_ip: format!("10.20.{dept}.{}", 10 + i % 240),
            home_ip,
            shift,
            relative: None,
            own_record: None,
        };
        let (sur, addr) = (surname(&mut g.rng), format!("{} {} road", g.rng.gen_range(1..999), surname(&mut g.rng)));
        if g.rng.gen_bool(0.25) {
            let p = g.rng.gen_range(0..np);
            if !patients[p].employee {
                patients[p].employee = true;
                s.own_record = Some(p);
                names[p] = (sur.clone(), addr.clone());
            }
        }
        if g.rng.gen_bool(0.3) {
            let p = g.rng.gen_range(0..np);
            if !patients[p].employee && s.own_record != Some(p) {
                s.relative = Some(p);
                names[p] = (sur.clone(), addr.clone());
            }
        }
        idx.add_staff(
            &s.practitioner,
            &StaffProfile { surname: Some(&sur), address: Some(&addr), departments: vec![DEPARTMENTS[dept]] },
        );
        staff.push(s);
    }
    let staff_of_patient: HashMap<usize, usize> =
        staff.iter().enumerate().filter_map(|(i, s)| s.own_record.map(|p| (p, i))).collect();
    for (i, p) in patients.iter().enumerate() {
        let conds: Vec<String> = p.depts.iter().map(|d| format!("{}-c{}", DEPARTMENTS[*d], i % 3)).collect();
        let practitioner = staff_of_patient.get(&i).map(|s| staff[*s].practitioner.clone());
        idx.add_patient(
            &p.id,
            &PatientProfile {
                surname: Some(&names[i].0),
                address: Some(&names[i].1),
                vip: p.vip,
                deceased: p.deceased,
                employee: p.employee,
                staff: practitioner.as_deref(),
                conditions: conds.iter().map(String::as_str).collect(),
            },
        );
        idx.link_account(&format!("account:pt{i}"), &format!("Patient/{}", p.id));
    }
    for (d, name) in DEPARTMENTS.iter().enumerate().skip(1) {
        for k in 0..3 {
            idx.add_condition_department(&format!("{name}-c{k}"), name);
        }
        let _ = d;
    }
    let mut h = Hospital { staff, patients, by_dept, stays: Vec::new(), appts: Vec::new(), emergencies: Vec::new() };
    relationships(&mut g, &mut h, &mut idx, days);
    benign_activity(&mut g, &h, days);
    let eval_start = EPOCH + warmup * DAY;
    let attacks = inject_attacks(&mut g, &h, &idx, config, eval_start, end);

    // Order by time (insertion order breaks ties), then number.
    let mut out = std::mem::take(&mut g.out);
    out.sort_by_key(|(t, o, _, _)| (*t, *o));
    let mut seqs: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    let mut log = Vec::with_capacity(out.len());
    for (i, (_, _, label, e)) in out.into_iter().enumerate() {
        if let Some(l) = label {
            seqs.entry(l).or_default().push(i as u64 + 1);
        }
        log.push(e);
    }
    let attacks = attacks
        .into_iter()
        .filter_map(|(id, kind, actor)| seqs.remove(&id).map(|s| AttackLabel { id, kind, actor, seqs: s }))
        .collect();
    Simulation { config: config.clone(), log, attacks, index: idx, eval_start, end }
}

/// Encounters, appointments, emergencies, care teams and consult orders for the whole period.
fn relationships(g: &mut Gen, h: &mut Hospital, idx: &mut RelationshipIndex, days: i64) {
    let np = h.patients.len();
    let clinicians: Vec<Vec<usize>> = (0..DEPARTMENTS.len())
        .map(|d| (0..h.staff.len()).filter(|&i| h.staff[i].role == Role::Clinician && h.staff[i].dept == d).collect())
        .collect();
    let admissions = (np / 800).max(1);
    for day in 0..days {
        let t0 = EPOCH + day * DAY;
        for d in 1..DEPARTMENTS.len() {
            if clinicians[d].is_empty() || h.by_dept[d].is_empty() {
                continue;
            }
            // Inpatient admissions.
            for _ in 0..admissions {
                let p = *h.by_dept[d].choose(&mut g.rng).unwrap_or(&0);
                let from = t0 + g.rng.gen_range(8 * HOUR..20 * HOUR);
                let to = from + g.rng.gen_range(1..=5) * DAY;
                let attending = *clinicians[d].choose(&mut g.rng).unwrap_or(&0);
                let r = g.rid("Encounter");
                idx.add_link(
                    &h.staff[attending].practitioner,
                    &h.patients[p].id,
                    LinkKind::Encounter,
                    from,
                    to,
                    Some(&r),
                );
                idx.add_care(&h.patients[p].id, DEPARTMENTS[d], from, to);
                // A consult from another department, by order.
                if g.rng.gen_bool(0.2) {
                    let other = g.rng.gen_range(1..DEPARTMENTS.len());
                    if let Some(&c) = clinicians[other].choose(&mut g.rng) {
                        let at = from + g.rng.gen_range(HOUR..DAY);
                        let o = g.rid("ServiceRequest");
                        idx.add_link(&h.staff[c].practitioner, &h.patients[p].id, LinkKind::Order, at, at, Some(&o));
                        h.stays.push(Stay {
                            patient: p,
                            dept: other,
                            from: at,
                            to: at + 2 * HOUR,
                            attending: c,
                            consult: true,
                        });
                    }
                }
                h.stays.push(Stay { patient: p, dept: d, from, to, attending, consult: false });
            }
            // Clinic appointments on weekdays.
            if day % 7 < 5 {
                for &c in &clinicians[d] {
                    if !g.rng.gen_bool(0.6) {
                        continue;
                    }
                    for k in 0..g.rng.gen_range(8..=12) {
                        let p = *h.by_dept[d].choose(&mut g.rng).unwrap_or(&0);
                        let start = t0 + 8 * HOUR + k * 30 * MIN;
                        let r = g.rid("Appointment");
                        idx.add_link(
                            &h.staff[c].practitioner,
                            &h.patients[p].id,
                            LinkKind::Appointment,
                            start,
                            start + 30 * MIN,
                            Some(&r),
                        );
                        idx.add_care(&h.patients[p].id, DEPARTMENTS[d], start, start + 30 * MIN);
                        h.appts.push(Appt { patient: p, clinician: c, dept: d, start });
                    }
                }
            }
        }
        // Emergencies, day and night; some need break-the-glass.
        for _ in 0..(np / 1000).max(2) {
            let p = g.rng.gen_range(0..np);
            if h.patients[p].deceased {
                continue;
            }
            let at = t0 + g.rng.gen_range(0..DAY);
            let hour = (at - t0) / HOUR;
            let on_shift: Vec<usize> = clinicians[ED]
                .iter()
                .copied()
                .filter(|&c| {
                    let s = h.staff[c].shift;
                    if s == 20 { !(8..20).contains(&hour) } else { (8..20).contains(&hour) }
                })
                .collect();
            let Some(&c) = on_shift.choose(&mut g.rng) else { continue };
            let r = g.rid("Encounter");
            idx.add_link(
                &h.staff[c].practitioner,
                &h.patients[p].id,
                LinkKind::EmergencyEncounter,
                at,
                at + 6 * HOUR,
                Some(&r),
            );
            idx.add_care(&h.patients[p].id, DEPARTMENTS[ED], at, at + 6 * HOUR);
            let btg = g.rng.gen_bool(0.25);
            h.emergencies.push((p, c, at, btg));
        }
    }
    // Oncology care teams for the whole period.
    for &p in h.by_dept[2].iter().take(np / 50) {
        for &c in clinicians[2].iter().take(2) {
            let r = g.rid("CareTeam");
            idx.add_link(
                &h.staff[c].practitioner,
                &h.patients[p].id,
                LinkKind::CareTeam,
                EPOCH,
                EPOCH + days * DAY,
                Some(&r),
            );
        }
    }
}

fn works(day: i64, i: usize) -> bool {
    (day + i as i64) % 7 < 5
}

/// Normal work: every staff member's shifts, the assistant and the lab interface.
fn benign_activity(g: &mut Gen, h: &Hospital, days: i64) {
    let np = h.patients.len();
    for day in 0..days {
        let t0 = EPOCH + day * DAY;
        let weekday = day % 7 < 5;
        for (i, s) in h.staff.iter().enumerate() {
            if !works(day, i) {
                continue;
            }
            let start = t0 + s.shift * HOUR + g.rng.gen_range(0..20 * MIN);
            let shift_end = start + 8 * HOUR;
            let ip = s.work_ip.clone();
            let mut t = sign_in(g, s, start, &ip, true);
            match s.role {
                Role::Clinician => {
                    // Clinic: chart review, the visit, a note.
                    for a in h.appts.iter().filter(|a| a.clinician == i && a.start >= t0 && a.start < t0 + DAY) {
                        let p = &h.patients[a.patient];
                        let rv = g.rng.gen_range(5 * MIN..40 * MIN);
                        chart(g, s, p, a.start - rv, &ip, 2, None);
                        let rv = g.rng.gen_range(2..5);
                        let t2 = chart(g, s, p, a.start + 2 * MIN, &ip, rv, None);
                        access(g, s, p, t2, "fhir.create", "DocumentReference", &ip, None);
                        if g.rng.gen_bool(0.01) {
                            access(g, s, p, t2 + MIN, "fhir.everything", "Patient", &ip, None);
                        }
                    }
                    // Rounds on the clinician's inpatients and consults.
                    for st in h.stays.iter().filter(|st| st.attending == i && st.from < t0 + DAY && st.to > t0) {
                        let at = (t0 + 7 * HOUR + g.rng.gen_range(0..10 * HOUR)).max(st.from);
                        let p = &h.patients[st.patient];
                        let rv = g.rng.gen_range(2..5);
                        let t2 = chart(g, s, p, at, &ip, rv, None);
                        if g.rng.gen_bool(0.6) {
                            access(g, s, p, t2, "fhir.create", "DocumentReference", &ip, None);
                        }
                    }
                    // Emergencies (the ED), with break-the-glass when needed.
                    for &(pi, c, at, btg) in h.emergencies.iter().filter(|e| e.1 == i && e.2 >= t0 && e.2 < t0 + DAY) {
                        let _ = c;
                        let p = &h.patients[pi];
                        let mut t2 = at + g.rng.gen_range(2 * MIN..15 * MIN);
                        if btg {
                            let mut e = ev(staff_actor(s), "access.break_glass", Outcome::Success, &ip)
                                .with_detail("unconscious patient in resus");
                            e.patients = vec![p.id.clone()];
                            e.purpose = Some("ETREAT".into());
                            g.push(t2, None, e);
                            t2 += MIN;
                        }
                        let rv = g.rng.gen_range(3..7);
                        let t3 = chart(g, s, p, t2, &ip, rv, None);
                        let rv = g.rng.gen_range(30 * MIN..3 * HOUR);
                        access(g, s, p, t3 + rv, "fhir.create", "DocumentReference", &ip, None);
                    }
                    // Evening chart review from home, for some.
                    if let Some(home) = &s.home_ip
                        && g.rng.gen_bool(0.2)
                        && let Some(a) =
                            h.appts.iter().find(|a| a.clinician == i && a.start >= t0 && a.start < t0 + DAY)
                    {
                        let home = home.clone();
                        let rv = g.rng.gen_range(0..HOUR);
                        let th = sign_in(g, s, t0 + 20 * HOUR + rv, &home, true);
                        chart(g, s, &h.patients[a.patient], th, &home, 2, None);
                    }
                }
                Role::Nurse => {
                    // The ward's current patients, several times a shift.
                    let ward: Vec<&Stay> = h
                        .stays
                        .iter()
                        .filter(|st| !st.consult && st.dept == s.dept && st.from < shift_end && st.to > start)
                        .collect();
                    let n = ward.len().min(g.rng.gen_range(4..=9));
                    for st in ward.choose_multiple(&mut g.rng, n) {
                        let p = &h.patients[st.patient];
                        for _ in 0..g.rng.gen_range(1..=3) {
                            let at = (start + g.rng.gen_range(0..8 * HOUR)).max(st.from);
                            let rv = g.rng.gen_range(1..4);
                            let t2 = chart(g, s, p, at, &ip, rv, None);
                            if g.rng.gen_bool(0.4) {
                                access(g, s, p, t2, "fhir.create", "Observation", &ip, None);
                            }
                        }
                    }
                    if s.dept == ED {
                        for &(pi, _, at, _) in h.emergencies.iter().filter(|e| e.2 >= start && e.2 < shift_end) {
                            let rv = g.rng.gen_range(5 * MIN..HOUR);
                            chart(g, s, &h.patients[pi], at + rv, &ip, 2, None);
                        }
                    }
                }
                Role::Scheduler if weekday => {
                    // Booking: upcoming appointments of the department.
                    let upcoming: Vec<&Appt> = h
                        .appts
                        .iter()
                        .filter(|a| a.dept == s.dept && a.start > start && a.start < start + 14 * DAY)
                        .collect();
                    let n = upcoming.len().min(g.rng.gen_range(15..35));
                    for a in upcoming.choose_multiple(&mut g.rng, n) {
                        let at = start + g.rng.gen_range(0..8 * HOUR);
                        let p = &h.patients[a.patient];
                        access(g, s, p, at, "fhir.read", "Patient", &ip, None);
                        access(g, s, p, at + MIN, "fhir.update", "Appointment", &ip, None);
                    }
                }
                Role::Billing if weekday => {
                    let recent: Vec<&Stay> =
                        h.stays.iter().filter(|st| !st.consult && st.to < start && st.to > start - 20 * DAY).collect();
                    let n = recent.len().min(g.rng.gen_range(15..35));
                    for st in recent.choose_multiple(&mut g.rng, n) {
                        let at = start + g.rng.gen_range(0..8 * HOUR);
                        let p = &h.patients[st.patient];
                        access(g, s, p, at, "fhir.search", "Claim", &ip, None);
                        access(g, s, p, at + MIN, "fhir.read", "Encounter", &ip, None);
                    }
                }
                _ => {
                    let mut e = ev(staff_actor(s), "admin.user.list", Outcome::Success, &ip);
                    e.resources = vec!["HavenAccount".into()];
                    g.push(start + HOUR, None, e);
                }
            }
            // A hallway question: one look at a patient nothing explains (rare, benign).
            // Curbside questions are about patients in the hospital now.
            if matches!(s.role, Role::Clinician | Role::Nurse) && g.rng.gen_bool(0.04) {
                let current: Vec<&Stay> =
                    h.stays.iter().filter(|st| !st.consult && st.from < start && st.to > start).collect();
                let pi = current.choose(&mut g.rng).map_or_else(|| g.rng.gen_range(0..np), |st| st.patient);
                let p = &h.patients[pi];
                let rv = g.rng.gen_range(HOUR..7 * HOUR);
                access(g, s, p, start + rv, "fhir.read", "Patient", &ip, None);
            }
            // Token refreshes through the shift, and sign-out.
            while t < shift_end {
                t += g.rng.gen_range(45 * MIN..75 * MIN);
                g.push(t, None, ev(staff_actor(s), "token.refresh", Outcome::Success, &ip));
            }
            let rv = g.rng.gen_range(0..15 * MIN);
            g.push(shift_end + rv, None, ev(staff_actor(s), "auth.logout", Outcome::Success, &ip));
        }
        // The assistant, acting for patients who book visits.
        for _ in 0..(np / 25).max(10) {
            let pi = g.rng.gen_range(0..np);
            if h.patients[pi].deceased {
                continue;
            }
            let at = t0 + g.rng.gen_range(6 * HOUR..23 * HOUR);
            assistant_conversation(g, &h.patients[pi], pi, at, None, false);
        }
        // The lab interface posts results for inpatients.
        for st in h.stays.iter().filter(|st| !st.consult && st.from < t0 + DAY && st.to > t0) {
            let mut e = ev(lab_actor(), "fhir.create", Outcome::Success, "10.30.0.5");
            e.resources = vec![g.rid("Observation")];
            e.patients = vec![h.patients[st.patient].id.clone()];
            let at = t0 + g.rng.gen_range(0..DAY);
            g.push(at, None, e);
        }
    }
}

fn lab_actor() -> Actor {
    Actor { id: "client:lab-interface".into(), name: None, role: None, fhir: None, on_behalf_of: None }
}

fn assistant_actor(pi: usize) -> Actor {
    Actor {
        id: "account:assistant".into(),
        name: None,
        role: Some("agent".into()),
        fhir: None,
        on_behalf_of: Some(format!("account:pt{pi}")),
    }
}

/// A conversation with the assistant; an attack injects prompts (or over-reaches) with `label`.
fn assistant_conversation(g: &mut Gen, p: &Patient, pi: usize, at: i64, label: Option<u32>, injection: bool) -> i64 {
    let ip = format!("198.18.{}.{}", pi % 250, 1 + pi % 200);
    let mut t = at;
    let turns = if injection { g.rng.gen_range(3..=7) } else { g.rng.gen_range(2..=6) };
    for k in 0..turns {
        let mut e = ev(assistant_actor(pi), "http POST /v1/conversations/{id}/messages", Outcome::Success, &ip);
        let verdict = if injection {
            "injection=block"
        } else if g.rng.gen_bool(0.004) {
            "injection=flag"
        } else if g.rng.gen_bool(0.01) {
            "triage=flag"
        } else {
            "all pass"
        };
        e.detail = Some(format!("answerer model; scenario booking; 1 citations; escalation -; safeguards {verdict}"));
        e.resources = vec![g.rid("Conversation")];
        g.push(t, label, e);
        if !injection && k == 0 {
            let mut s = ev(assistant_actor(pi), "fhir.search", Outcome::Success, &ip);
            s.resources = vec!["Slot".into()];
            s.detail = Some("assistant tool find_slots".into());
            g.push(t + 3_000_000, None, s);
            let mut r = ev(assistant_actor(pi), "fhir.read", Outcome::Success, &ip);
            r.resources = vec![format!("Patient/{}", p.id)];
            r.patients = vec![p.id.clone()];
            g.push(t + 4_000_000, None, r);
        }
        if !injection && k == 1 && g.rng.gen_bool(0.5) {
            let mut c = ev(assistant_actor(pi), "fhir.create", Outcome::Success, &ip);
            c.resources = vec![g.rid("Appointment")];
            c.patients = vec![p.id.clone()];
            g.push(t + 5_000_000, None, c);
        }
        t += g.rng.gen_range(20_000_000..180_000_000);
    }
    t
}

fn external_ip(rng: &mut ChaCha8Rng) -> String {
    format!("185.{}.{}.{}", rng.gen_range(100..200), rng.gen_range(0..255), rng.gen_range(1..255))
}

/// Picks a patient for `s` at `t` that nothing explains and that `want` accepts.
fn unexplained_target(
    g: &mut Gen,
    h: &Hospital,
    idx: &RelationshipIndex,
    s: &Staff,
    t: i64,
    want: &dyn Fn(usize) -> bool,
) -> Option<usize> {
    let candidates: Vec<usize> = (0..h.patients.len()).filter(|&p| want(p)).collect();
    for _ in 0..200 {
        let &p = candidates.choose(&mut g.rng)?;
        let a = Access {
            actor: &s.account,
            actor_fhir: Some(&s.practitioner),
            role: Some(s.role.as_str()),
            on_behalf_of: None,
            patient: &h.patients[p].id,
            time: t,
            action: "fhir.read",
        };
        if idx.explain(&a).is_none() && !idx.facts(&a).is_self {
            return Some(p);
        }
    }
    None
}

#[allow(clippy::too_many_lines)]
fn inject_attacks(
    g: &mut Gen,
    h: &Hospital,
    idx: &RelationshipIndex,
    config: &SimConfig,
    eval_start: i64,
    end: i64,
) -> Vec<(u32, &'static str, String)> {
    let eval_days = ((end - DAY - eval_start) / DAY).max(1);
    let per_type = ((config.attack_rate * eval_days as f64).round() as usize).max(3);
    let mut labels = Vec::new();
    let mut next = 0u32;
    let users: Vec<usize> =
        (0..h.staff.len()).filter(|&i| matches!(h.staff[i].role, Role::Clinician | Role::Nurse)).collect();
    let any: Vec<usize> = (0..h.staff.len()).collect();
    let mut used_victims = HashSet::new();
    for &kind in ATTACK_TYPES {
        for _ in 0..per_type {
            let id = next;
            next += 1;
            let l = Some(id);
            // A time in the measured period, leaving a day for absences to show.
            let day = g.rng.gen_range(0..eval_days);
            let t0 = eval_start + day * DAY;
            let pick = |g: &mut Gen, pool: &[usize]| *pool.choose(&mut g.rng).unwrap_or(&0);
            let mut si = pick(g, &users);
            for _ in 0..20 {
                if !used_victims.contains(&si) {
                    break;
                }
                si = pick(g, &users);
            }
            used_victims.insert(si);
            let s = &h.staff[si];
            let shift_t = t0 + s.shift * HOUR + g.rng.gen_range(HOUR..6 * HOUR);
            let ext = external_ip(&mut g.rng);
            let mut actor = s.account.clone();
            match kind {
                "brute_force" => {
                    let mut t = t0 + g.rng.gen_range(0..DAY - HOUR);
                    for _ in 0..g.rng.gen_range(12..30) {
                        g.push(
                            t,
                            l,
                            ev(staff_actor(s), "auth.login", Outcome::Denied, &ext).with_detail("invalid credentials"),
                        );
                        t += g.rng.gen_range(3_000_000..25_000_000);
                    }
                }
                "password_spraying" => {
                    let mut t = t0 + g.rng.gen_range(0..DAY - HOUR);
                    actor = format!("ip {ext}");
                    let n = g.rng.gen_range(12..40);
                    for k in 0..n {
                        let e = if k % 3 == 0 {
                            let a = Actor {
                                id: "anonymous".into(),
                                name: Some(format!("pseud-{}-{k}", g.rng.gen_range(0..1_000_000))),
                                ..Default::default()
                            };
                            ev(a, "auth.login", Outcome::Denied, &ext).with_detail("unknown-user")
                        } else {
                            let v = &h.staff[pick(g, &any)];
                            ev(staff_actor(v), "auth.login", Outcome::Denied, &ext).with_detail("invalid credentials")
                        };
                        g.push(t, l, e);
                        t += g.rng.gen_range(5_000_000..40_000_000);
                    }
                }
                "failures_then_success" => {
                    let mut t = t0 + g.rng.gen_range(0..DAY - HOUR);
                    for _ in 0..g.rng.gen_range(6..12) {
                        g.push(
                            t,
                            l,
                            ev(staff_actor(s), "auth.login", Outcome::Denied, &ext).with_detail("invalid credentials"),
                        );
                        t += g.rng.gen_range(5_000_000..40_000_000);
                    }
                    g.push(
                        t,
                        l,
                        ev(staff_actor(s), "auth.login", Outcome::Success, &ext)
                            .with_detail("password accepted; second factor due"),
                    );
                }
                "mfa_fatigue" => {
                    let mut t = t0 + g.rng.gen_range(0..DAY - HOUR);
                    g.push(
                        t,
                        l,
                        ev(staff_actor(s), "auth.login", Outcome::Success, &ext)
                            .with_detail("password accepted; second factor due"),
                    );
                    for _ in 0..g.rng.gen_range(6..15) {
                        t += g.rng.gen_range(10_000_000..50_000_000);
                        g.push(
                            t,
                            l,
                            ev(staff_actor(s), "auth.mfa.verify", Outcome::Failed, &ext)
                                .with_detail("invalid or reused code"),
                        );
                    }
                }
                "mfa_replay" => {
                    // The victim signs in at work; the intercepted code is replayed from elsewhere.
                    let t = sign_in(g, s, shift_t, &s.work_ip.clone(), false);
                    let e =
                        ev(staff_actor(s), "auth.mfa.verify", Outcome::Failed, &ext).with_detail("code already used");
                    let rv = g.rng.gen_range(20_000_000..4 * MIN);
                    g.push(t + rv, l, e);
                }
                "token_new_network" => {
                    let t = sign_in(g, s, shift_t, &s.work_ip.clone(), false);
                    let mut ta = t + g.rng.gen_range(5 * MIN..50 * MIN);
                    for _ in 0..g.rng.gen_range(3..10) {
                        let p = &h.patients[g.rng.gen_range(0..h.patients.len())];
                        access(g, s, p, ta, "fhir.read", "Patient", &ext, l);
                        ta += g.rng.gen_range(5_000_000..60_000_000);
                    }
                }
                "snoop_family" | "snoop_coworker" | "snoop_vip" | "snoop_deceased" => {
                    // Someone with a relative on file, for the family case.
                    let mut si = si;
                    if kind == "snoop_family" {
                        let rel: Vec<usize> =
                            users.iter().copied().filter(|&i| h.staff[i].relative.is_some()).collect();
                        si = pick(g, &rel);
                    }
                    let s = &h.staff[si];
                    actor = s.account.clone();
                    let target = match kind {
                        "snoop_family" => s.relative.filter(|&p| {
                            let a = Access {
                                actor: &s.account,
                                actor_fhir: Some(&s.practitioner),
                                role: None,
                                on_behalf_of: None,
                                patient: &h.patients[p].id,
                                time: shift_t,
                                action: "fhir.read",
                            };
                            idx.explain(&a).is_none()
                        }),
                        "snoop_coworker" => unexplained_target(g, h, idx, s, shift_t, &|p| h.patients[p].employee),
                        "snoop_vip" => unexplained_target(g, h, idx, s, shift_t, &|p| h.patients[p].vip),
                        _ => unexplained_target(g, h, idx, s, shift_t, &|p| h.patients[p].deceased),
                    };
                    let Some(p) = target else { continue };
                    let rv = g.rng.gen_range(1..4);
                    chart(g, s, &h.patients[p], shift_t, &s.work_ip.clone(), rv, l);
                }
                "snoop_unexplained" => {
                    let mut t = shift_t;
                    for _ in 0..g.rng.gen_range(4..9) {
                        let Some(p) = unexplained_target(g, h, idx, s, t, &|_| true) else { continue };
                        let rv = g.rng.gen_range(1..3);
                        chart(g, s, &h.patients[p], t, &s.work_ip.clone(), rv, l);
                        t += g.rng.gen_range(5 * MIN..40 * MIN);
                    }
                }
                "exfil_distinct_patients" => {
                    let mut t = shift_t;
                    let n = g.rng.gen_range(70..200);
                    let step = 50 * MIN / n;
                    for _ in 0..n {
                        let p = &h.patients[g.rng.gen_range(0..h.patients.len())];
                        access(g, s, p, t, "fhir.read", "Patient", &s.work_ip.clone(), l);
                        t += step;
                    }
                }
                "exfil_bulk" => {
                    let mut t = shift_t;
                    for k in 0..g.rng.gen_range(6..15) {
                        let mut e = ev(
                            staff_actor(s),
                            if k % 2 == 0 { "fhir.everything" } else { "fhir.search" },
                            Outcome::Success,
                            &s.work_ip,
                        );
                        let n = if k % 2 == 0 { 1 } else { g.rng.gen_range(30..100) };
                        e.patients =
                            (0..n).map(|_| h.patients[g.rng.gen_range(0..h.patients.len())].id.clone()).collect();
                        e.resources =
                            vec![if k % 2 == 0 { format!("Patient/{}", e.patients[0]) } else { "Patient".into() }];
                        g.push(t, l, e);
                        t += g.rng.gen_range(MIN..3 * MIN);
                    }
                }
                "exfil_baseline" => {
                    let mut t = shift_t;
                    let n = g.rng.gen_range(20..40);
                    for _ in 0..n {
                        let p = &h.patients[g.rng.gen_range(0..h.patients.len())];
                        access(g, s, p, t, "fhir.read", "Patient", &s.work_ip.clone(), l);
                        t += 55 * MIN / n;
                    }
                }
                "btg_misuse" => {
                    let Some(p) = unexplained_target(g, h, idx, s, shift_t, &|_| true) else { continue };
                    let mut e =
                        ev(staff_actor(s), "access.break_glass", Outcome::Success, &s.work_ip).with_detail("urgent");
                    e.patients = vec![h.patients[p].id.clone()];
                    e.purpose = Some("ETREAT".into());
                    g.push(shift_t, l, e);
                    let rv = g.rng.gen_range(2..5);
                    chart(g, s, &h.patients[p], shift_t + MIN, &s.work_ip.clone(), rv, l);
                }
                "btg_repeated" => {
                    let mut t = shift_t;
                    for _ in 0..g.rng.gen_range(3..6) {
                        let Some(p) = unexplained_target(g, h, idx, s, t, &|_| true) else { continue };
                        let mut e = ev(staff_actor(s), "access.break_glass", Outcome::Success, &s.work_ip)
                            .with_detail("urgent");
                        e.patients = vec![h.patients[p].id.clone()];
                        e.purpose = Some("ETREAT".into());
                        g.push(t, l, e);
                        let t2 = chart(g, s, &h.patients[p], t + MIN, &s.work_ip.clone(), 2, l);
                        // Documented each time: only the repetition gives it away.
                        access(
                            g,
                            s,
                            &h.patients[p],
                            t2 + 10 * MIN,
                            "fhir.create",
                            "DocumentReference",
                            &s.work_ip.clone(),
                            l,
                        );
                        t += g.rng.gen_range(30 * MIN..3 * HOUR);
                    }
                }
                "agent_overreach" => {
                    let pi = g.rng.gen_range(0..h.patients.len());
                    actor = "account:assistant".into();
                    let mut t = t0 + g.rng.gen_range(8 * HOUR..20 * HOUR);
                    t = assistant_conversation(g, &h.patients[pi], pi, t, None, false);
                    let ip = format!("198.18.{}.{}", pi % 250, 1 + pi % 200);
                    for k in 0..g.rng.gen_range(15..40) {
                        let other = &h.patients[g.rng.gen_range(0..h.patients.len())];
                        let rtype = ["Observation", "Condition", "MedicationRequest"][k % 3];
                        let mut e = ev(assistant_actor(pi), "fhir.search", Outcome::Success, &ip);
                        e.resources = vec![g.rid(rtype)];
                        e.patients = vec![other.id.clone()];
                        g.push(t, l, e);
                        t += g.rng.gen_range(5_000_000..60_000_000);
                    }
                }
                "agent_injection" => {
                    let pi = g.rng.gen_range(0..h.patients.len());
                    actor = format!("account:pt{pi}");
                    let t = t0 + g.rng.gen_range(8 * HOUR..22 * HOUR);
                    assistant_conversation(g, &h.patients[pi], pi, t, l, true);
                }
                _ => {}
            }
            labels.push((id, kind, actor));
        }
    }
    labels
}

/// Detection measured against the labels.
#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    /// The configuration simulated.
    pub config: SimConfig,
    /// Audit records in the log.
    pub records: u64,
    /// Records in the measured period.
    pub measured_records: u64,
    /// Attacks injected.
    pub attacks: u64,
    /// Attack type → attacks injected.
    pub attacks_by_type: BTreeMap<String, u64>,
    /// Attack type → fraction detected (an open alert whose evidence includes one of its records).
    pub recall_by_type: BTreeMap<String, f64>,
    /// Fraction of all attacks detected.
    pub recall: f64,
    /// Open alerts in the measured period.
    pub alerts: u64,
    /// Of those, alerts whose evidence includes an attack record.
    pub true_alerts: u64,
    /// Open alerts with no attack record in their evidence.
    pub false_alerts: u64,
    /// `true_alerts / alerts`.
    pub precision: f64,
    /// Rule → false alerts, to see where they come from.
    pub false_alerts_by_rule: BTreeMap<String, u64>,
    /// The summaries of the first false alerts (ids only).
    pub false_alert_examples: Vec<String>,
    /// Alerts auto-resolved by an explanation.
    pub explained_alerts: u64,
    /// Open alerts per 1,000 audit records.
    pub alerts_per_1k_accesses: f64,
    /// Benign successful patient accesses (records touching a patient) in the measured period.
    pub benign_accesses: u64,
    /// False alerts per 10,000 benign accesses.
    pub false_alerts_per_10k_benign: f64,
    /// Benign accesses by staff and agents that an explanation covers (service clients excluded).
    pub explained_benign_rate: f64,
    /// Incidents holding at least one true alert, per detected attack.
    pub incidents_per_true_attack: f64,
    /// Incidents opened in the measured period.
    pub incidents: u64,
    /// Detection throughput of this run, events/s (wall clock; informational).
    pub events_per_second: f64,
}

/// Runs `rules` over the simulated log with the simulation's relationship index and measures it.
pub fn evaluate(sim: &Simulation, rules: RuleSet) -> Evaluation {
    let index: Arc<dyn Explainer> = Arc::new(sim.index.clone());
    let mut detector = Detector::new(rules, index);
    let mut book = IncidentBook::default();
    let events = sim.events();
    let mut label_of: HashMap<u64, usize> = HashMap::new();
    for (i, a) in sim.attacks.iter().enumerate() {
        for s in &a.seqs {
            label_of.insert(*s, i);
        }
    }
    let mut alerts: Vec<Alert> = Vec::new();
    let (mut benign, mut benign_checked, mut benign_explained) = (0u64, 0u64, 0u64);
    let mut measured = 0u64;
    let started = std::time::Instant::now();
    for e in &events {
        let before = detector.stats();
        alerts.extend(detector.observe(e));
        if e.time < sim.eval_start {
            continue;
        }
        measured += 1;
        if e.is_patient_access() && !label_of.contains_key(&e.seq) {
            benign += 1;
            let after = detector.stats();
            let checked = after.accesses_checked - before.accesses_checked;
            if checked > 0 {
                benign_checked += 1;
                if after.accesses_explained - before.accesses_explained == checked {
                    benign_explained += 1;
                }
            }
        }
    }
    alerts.extend(detector.flush(sim.end + 2 * DAY));
    let secs = started.elapsed().as_secs_f64();
    let mut detected = vec![false; sim.attacks.len()];
    let (mut open, mut true_alerts, mut explained_alerts) = (0u64, 0u64, 0u64);
    let mut false_by_rule: BTreeMap<String, u64> = BTreeMap::new();
    let mut false_examples = Vec::new();
    let mut true_incidents = HashSet::new();
    let mut incidents = HashSet::new();
    for a in alerts {
        if a.time < sim.eval_start {
            continue;
        }
        if a.status == AlertStatus::Explained {
            explained_alerts += 1;
            continue;
        }
        open += 1;
        let hits: Vec<usize> = a.evidence.iter().filter_map(|s| label_of.get(s).copied()).collect();
        let is_true = !hits.is_empty();
        for i in hits {
            detected[i] = true;
        }
        if is_true {
            true_alerts += 1;
        } else {
            *false_by_rule.entry(a.rule.clone()).or_default() += 1;
            if false_examples.len() < 10 {
                false_examples.push(format!("seq {:?}: {}", a.evidence.first(), a.summary));
            }
        }
        if let Some(inc) = book.add(a) {
            incidents.insert(inc);
            if is_true {
                true_incidents.insert(inc);
            }
        }
    }
    let mut by_type: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (i, a) in sim.attacks.iter().enumerate() {
        let e = by_type.entry(a.kind.to_string()).or_default();
        e.0 += 1;
        e.1 += u64::from(detected[i]);
    }
    let n_detected = detected.iter().filter(|d| **d).count() as f64;
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let false_alerts = open - true_alerts;
    Evaluation {
        config: sim.config.clone(),
        records: events.len() as u64,
        measured_records: measured,
        attacks: sim.attacks.len() as u64,
        attacks_by_type: by_type.iter().map(|(k, v)| (k.clone(), v.0)).collect(),
        recall_by_type: by_type.iter().map(|(k, v)| (k.clone(), ratio(v.1 as f64, v.0 as f64))).collect(),
        recall: ratio(n_detected, sim.attacks.len() as f64),
        alerts: open,
        true_alerts,
        false_alerts,
        precision: ratio(true_alerts as f64, open as f64),
        false_alerts_by_rule: false_by_rule,
        false_alert_examples: false_examples,
        explained_alerts,
        alerts_per_1k_accesses: ratio(open as f64 * 1000.0, measured as f64),
        benign_accesses: benign,
        false_alerts_per_10k_benign: ratio(false_alerts as f64 * 10_000.0, benign as f64),
        explained_benign_rate: ratio(benign_explained as f64, benign_checked as f64),
        incidents_per_true_attack: ratio(true_incidents.len() as f64, n_detected),
        incidents: incidents.len() as u64,
        events_per_second: ratio(events.len() as f64, secs),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn small(seed: u64) -> SimConfig {
        SimConfig { days: 8, staff: 120, patients: 1500, seed, attack_rate: 0.5, warmup_days: 3 }
    }

    #[test]
    fn deterministic_for_a_seed() {
        let a = simulate(&small(5));
        let b = simulate(&small(5));
        assert_eq!(a.log.len(), b.log.len());
        assert_eq!(a.log[100], b.log[100]);
        assert_ne!(simulate(&small(6)).log.len(), 0);
        for kind in ATTACK_TYPES {
            assert!(a.attacks.iter().any(|x| x.kind == *kind), "no {kind} attack injected");
        }
    }
}
