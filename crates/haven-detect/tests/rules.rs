//! One test per shipped rule: it fires on the attack and stays silent (or
//! is explained away) on the benign twin. Every test runs the full default
//! rule set, so rules are also checked not to get in each other's way.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use haven_audit::Outcome;
use haven_detect::{
    Alert, AlertStatus, Detector, Event, LinkKind, PatientProfile, RelationshipIndex, RuleSet, StaffProfile,
};

const S: i64 = 1_000_000;
const MIN: i64 = 60 * S;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
const T0: i64 = 1_767_571_200 * S;

fn index() -> RelationshipIndex {
    let mut idx = RelationshipIndex::new();
    idx.add_staff(
        "Practitioner/d1",
        &StaffProfile { surname: Some("Okafor"), address: Some("1 Elm St 12345"), departments: vec!["cardiology"] },
    );
    idx.add_staff(
        "Practitioner/d2",
        &StaffProfile { surname: Some("Lind"), departments: vec!["cardiology"], ..Default::default() },
    );
    let plain = PatientProfile::default();
    for i in 0..200 {
        idx.add_patient(&format!("p{i}"), &plain);
    }
    idx.add_patient(
        "rel",
        &PatientProfile { surname: Some("okafor"), address: Some("1 elm st 12345"), ..plain.clone() },
    );
    idx.add_patient("rel2", &PatientProfile { surname: Some("Okafor"), ..plain.clone() });
    idx.add_patient("emp", &PatientProfile { employee: true, staff: Some("Practitioner/d9"), ..plain.clone() });
    idx.add_patient("emp2", &PatientProfile { employee: true, ..plain.clone() });
    idx.add_patient("vip", &PatientProfile { vip: true, ..plain.clone() });
    idx.add_patient("vip2", &PatientProfile { vip: true, ..plain.clone() });
    idx.add_patient("dead", &PatientProfile { deceased: true, ..plain.clone() });
    idx.add_patient("dead2", &PatientProfile { deceased: true, ..plain.clone() });
    // d1 treats rel2, emp2, vip2, dead2 and "appt": the benign twins.
    for p in ["rel2", "emp2", "vip2", "dead2", "appt"] {
        idx.add_patient(p, &plain);
        idx.add_link("Practitioner/d1", p, LinkKind::Appointment, T0, T0 + 30 * DAY, Some("Appointment/a1"));
    }
    idx.add_link("Practitioner/d1", "er", LinkKind::EmergencyEncounter, T0, T0 + 30 * DAY, Some("Encounter/e1"));
    idx.add_patient("er", &plain);
    idx.link_account("account:pt1", "Patient/p1");
    idx
}

fn detector() -> Detector {
    Detector::new(RuleSet::defaults().unwrap(), Arc::new(index()))
}

struct Log {
    d: Detector,
    seq: u64,
    alerts: Vec<Alert>,
}

impl Log {
    fn new() -> Self {
        Log { d: detector(), seq: 0, alerts: Vec::new() }
    }

    fn push(&mut self, mut e: Event) {
        self.seq += 1;
        e.seq = self.seq;
        self.alerts.extend(self.d.observe(&e));
    }

    fn flush(&mut self, t: i64) {
        self.alerts.extend(self.d.flush(t));
    }

    fn open(&self, rule: &str) -> Vec<&Alert> {
        self.alerts.iter().filter(|a| a.rule == rule && a.status == AlertStatus::Open).collect()
    }

    fn explained(&self, rule: &str) -> Vec<&Alert> {
        self.alerts.iter().filter(|a| a.rule == rule && a.status == AlertStatus::Explained).collect()
    }
}

/// A staff user's event: account:<who>, linked to Practitioner/<who>.
fn staff(who: &str, role: &str, t: i64, action: &str, outcome: Outcome, ip: &str) -> Event {
    let mut e = Event::new(0, t, format!("account:{who}"), action, outcome).with_role(role);
    e.actor_fhir = Some(format!("Practitioner/{who}"));
    e.source_ip = Some(ip.into());
    e
}

fn read(who: &str, t: i64, patient: &str, ip: &str) -> Event {
    let mut e = staff(who, "clinician", t, "fhir.read", Outcome::Success, ip);
    e.set_resources(&[format!("Patient/{patient}")]);
    e.patients = vec![patient.into()];
    e
}

fn agent(t: i64, for_patient: usize, action: &str, rtype: &str, patient: Option<&str>) -> Event {
    let mut e = Event::new(0, t, "account:assistant", action, Outcome::Success).with_role("agent");
    e.on_behalf_of = Some(format!("account:pt{for_patient}"));
    e.source_ip = Some("198.18.0.1".into());
    e.set_resources(&[rtype]);
    if let Some(p) = patient {
        e.patients = vec![p.into()];
    }
    e
}

fn logins(log: &mut Log, who: &str, n: usize, outcome: Outcome, ip: &str, start: i64) {
    for i in 0..n {
        log.push(staff(who, "nurse", start + i as i64 * 10 * S, "auth.login", outcome, ip));
    }
}

#[test]
fn brute_force() {
    let mut log = Log::new();
    logins(&mut log, "s1", 12, Outcome::Denied, "185.1.1.1", T0);
    assert_eq!(log.open("credential.brute_force").len(), 1);
    let a = log.open("credential.brute_force")[0];
    assert_eq!(a.evidence.len(), 10);
    assert!(a.summary.contains("account:s1"), "{}", a.summary);

    let mut twin = Log::new();
    logins(&mut twin, "s1", 3, Outcome::Denied, "10.0.0.5", T0);
    assert!(twin.open("credential.brute_force").is_empty());
}

#[test]
fn password_spraying() {
    let mut log = Log::new();
    let mut twin = Log::new();
    for i in 0..12 {
        log.push(staff(&format!("s{i}"), "nurse", T0 + i * 30 * S, "auth.login", Outcome::Denied, "185.1.1.1"));
        twin.push(staff(
            &format!("s{i}"),
            "nurse",
            T0 + i * 30 * S,
            "auth.login",
            Outcome::Denied,
            &format!("10.0.0.{i}"),
        ));
    }
    assert_eq!(log.open("credential.password_spraying").len(), 1);
    assert!(twin.open("credential.password_spraying").is_empty());
}

#[test]
fn failures_then_success() {
    let mut log = Log::new();
    logins(&mut log, "s1", 6, Outcome::Denied, "185.1.1.1", T0);
    log.push(staff("s1", "nurse", T0 + 2 * MIN, "auth.login", Outcome::Success, "185.1.1.1"));
    assert_eq!(log.open("credential.failures_then_success").len(), 1);

    let mut twin = Log::new();
    logins(&mut twin, "s1", 2, Outcome::Denied, "10.0.0.5", T0);
    twin.push(staff("s1", "nurse", T0 + MIN, "auth.login", Outcome::Success, "10.0.0.5"));
    assert!(twin.open("credential.failures_then_success").is_empty());
}

#[test]
fn mfa_fatigue() {
    let mut log = Log::new();
    for i in 0..6 {
        log.push(staff("s1", "nurse", T0 + i * 20 * S, "auth.mfa.verify", Outcome::Failed, "185.1.1.1"));
    }
    assert_eq!(log.open("credential.mfa_fatigue").len(), 1);

    let mut twin = Log::new();
    twin.push(staff("s1", "nurse", T0, "auth.mfa.verify", Outcome::Failed, "10.0.0.5"));
    twin.push(staff("s1", "nurse", T0 + 20 * S, "auth.mfa.verify", Outcome::Success, "10.0.0.5"));
    assert!(twin.open("credential.mfa_fatigue").is_empty());
}

#[test]
fn mfa_replay() {
    let replay = |ip: &str| {
        let mut log = Log::new();
        log.push(staff("s1", "nurse", T0, "auth.mfa.verify", Outcome::Success, "10.0.0.5"));
        let mut e = staff("s1", "nurse", T0 + MIN, "auth.mfa.verify", Outcome::Failed, ip);
        e.detail = Some("code already used".into());
        log.push(e);
        log
    };
    assert_eq!(replay("185.1.1.1").open("credential.mfa_replay").len(), 1);
    // A double submission from the same workstation network.
    assert!(replay("10.0.0.7").open("credential.mfa_replay").is_empty());
}

#[test]
fn token_new_network() {
    let mut log = Log::new();
    log.push(staff("s1", "nurse", T0, "auth.login", Outcome::Success, "10.0.0.5"));
    log.push(read("s1", T0 + 20 * MIN, "p1", "185.1.1.1"));
    assert_eq!(log.open("credential.token_new_network").len(), 1);

    // Signing in from home, then working from home.
    let mut twin = Log::new();
    twin.push(staff("s1", "nurse", T0, "auth.login", Outcome::Success, "10.0.0.5"));
    twin.push(staff("s1", "nurse", T0 + 5 * HOUR, "auth.login", Outcome::Success, "100.64.1.7"));
    twin.push(read("s1", T0 + 5 * HOUR + MIN, "p1", "100.64.1.7"));
    assert!(twin.open("credential.token_new_network").is_empty());
}

/// Opens `patient` as d1; Some(true) if an open alert of `rule` results, Some(false) if explained away.
fn snoop(rule: &str, patient: &str) -> (usize, usize) {
    let mut log = Log::new();
    log.push(read("d1", T0 + DAY, patient, "10.0.0.5"));
    (log.open(rule).len(), log.explained(rule).len())
}

#[test]
fn snooping_family() {
    assert_eq!(snoop("snooping.family", "rel"), (1, 0));
    assert_eq!(snoop("snooping.family", "rel2"), (0, 1));
    assert_eq!(snoop("snooping.family", "p5"), (0, 0));
}

#[test]
fn snooping_coworker() {
    assert_eq!(snoop("snooping.coworker", "emp"), (1, 0));
    assert_eq!(snoop("snooping.coworker", "emp2"), (0, 1));
    // A staff member opening their own record is not snooping on a coworker.
    let mut log = Log::new();
    log.push(read("d9", T0, "emp", "10.0.0.5"));
    assert!(log.open("snooping.coworker").is_empty());
}

#[test]
fn snooping_vip() {
    assert_eq!(snoop("snooping.vip", "vip"), (1, 0));
    assert_eq!(snoop("snooping.vip", "vip2"), (0, 1));
    let mut log = Log::new();
    log.push(read("d1", T0 + DAY, "vip2", "10.0.0.5"));
    let a = log.explained("snooping.vip")[0];
    assert!(a.summary.contains("Auto-resolved as benign"), "{}", a.summary);
    assert!(a.summary.contains("Appointment/a1"), "{}", a.summary);
}

#[test]
fn snooping_deceased() {
    assert_eq!(snoop("snooping.deceased", "dead"), (1, 0));
    assert_eq!(snoop("snooping.deceased", "dead2"), (0, 1));
}

#[test]
fn snooping_unexplained() {
    let mut log = Log::new();
    for (i, p) in ["p1", "p2", "p3"].iter().enumerate() {
        log.push(read("d1", T0 + i as i64 * HOUR, p, "10.0.0.5"));
    }
    assert_eq!(log.open("snooping.unexplained").len(), 1);

    let mut twin = Log::new();
    for (i, p) in ["p1", "appt", "p2", "appt", "rel2"].iter().enumerate() {
        twin.push(read("d1", T0 + i as i64 * HOUR, p, "10.0.0.5"));
    }
    assert!(twin.open("snooping.unexplained").is_empty());
}

#[test]
fn exfiltration_distinct_patients() {
    let run = |n: i64| {
        let mut log = Log::new();
        for i in 0..n {
            log.push(read("d1", T0 + i * 40 * S, &format!("p{i}"), "10.0.0.5"));
        }
        log.open("exfiltration.distinct_patients").len()
    };
    assert_eq!(run(60), 1);
    assert_eq!(run(40), 0);
}

#[test]
fn exfiltration_bulk() {
    let run = |n: i64, wide: usize| {
        let mut log = Log::new();
        for i in 0..n {
            let mut e = staff("d1", "clinician", T0 + i * MIN, "fhir.search", Outcome::Success, "10.0.0.5");
            e.set_resources(&["Patient"]);
            e.patients = (0..wide).map(|k| format!("p{k}")).collect();
            log.push(e);
        }
        log.open("exfiltration.bulk").len()
    };
    assert_eq!(run(5, 40), 1);
    assert_eq!(run(5, 10), 0);
    assert_eq!(run(4, 40), 0);
}

/// Ten hours of five patients an hour for d1 and a peer, then `n` in an hour.
fn baseline_spike(n: usize) -> Log {
    let mut log = Log::new();
    for h in 0..10 {
        for who in ["d1", "d2"] {
            for k in 0..5 {
                log.push(read(
                    who,
                    T0 + h * HOUR + k * MIN,
                    &format!("p{}", (h as usize * 5 + k as usize) % 200),
                    "10.0.0.5",
                ));
            }
        }
    }
    for k in 0..n {
        log.push(read("d1", T0 + 11 * HOUR + k as i64 * MIN, &format!("p{}", 100 + k), "10.0.0.5"));
    }
    log
}

#[test]
fn exfiltration_baseline() {
    let log = baseline_spike(30);
    let alerts = log.open("exfiltration.baseline");
    assert_eq!(alerts.len(), 1);
    let d = alerts[0].deviation.as_ref().unwrap();
    assert_eq!((d.own_median, d.peer_median), (5.0, 5.0));
    assert!(alerts[0].summary.contains("distinct_patients_per_hour"));
    assert!(baseline_spike(8).open("exfiltration.baseline").is_empty());
}

/// Twelve days of day shifts (09:00 to 17:00 UTC) for d1 and d2, and of
/// night shifts (01:00 to 08:00) for the nurse n1, two patients an hour; then
/// `who` touches six patients in the hour from `hour` on the thirteenth day.
fn after_hours(who: &str, role: &str, hour: i64) -> Log {
    let mut log = Log::new();
    let touch = |who: &str, role: &str, t: i64, k: i64| {
        let mut e = staff(who, role, t, "fhir.read", Outcome::Success, "10.0.0.5");
        let p = format!("p{}", k.rem_euclid(200));
        e.set_resources(&[format!("Patient/{p}")]);
        e.patients = vec![p];
        e
    };
    for day in 0..12 {
        for h in 0..24 {
            let t = T0 + day * DAY + h * HOUR;
            for (w, r, on) in [
                ("d1", "clinician", (9..17).contains(&h)),
                ("d2", "clinician", (9..17).contains(&h)),
                ("n1", "nurse", (1..8).contains(&h)),
            ] {
                if on {
                    for k in 0..2 {
                        log.push(touch(w, r, t + k * MIN, h * 7 + k));
                    }
                }
            }
        }
    }
    for k in 0..6 {
        log.push(touch(who, role, T0 + 12 * DAY + hour * HOUR + k * MIN, 120 + k));
    }
    // The next hour closes the last one.
    log.push(touch(who, role, T0 + 12 * DAY + (hour + 1) * HOUR, 199));
    log
}

#[test]
fn exfiltration_unusual_hour() {
    let log = after_hours("d1", "clinician", 3);
    let alerts = log.open("exfiltration.unusual_hour");
    assert_eq!(alerts.len(), 1, "{:?}", log.alerts.iter().map(|a| &a.rule).collect::<Vec<_>>());
    let d = alerts[0].deviation.as_ref().unwrap();
    assert_eq!((d.hour_utc, d.value, d.own_median), (Some(3), 5.0, 0.0), "alerts at the fifth patient");
    assert!(alerts[0].summary.contains("03:00 UTC"), "{}", alerts[0].summary);
    // Within one's own hours, and a night nurse at night: nothing.
    assert!(after_hours("d1", "clinician", 10).open("exfiltration.unusual_hour").is_empty());
    assert!(after_hours("n1", "nurse", 3).open("exfiltration.unusual_hour").is_empty());
    // At the edge of one's hours (08:00, next to 09:00): nothing either.
    assert!(after_hours("d1", "clinician", 8).open("exfiltration.unusual_hour").is_empty());
}

fn btg(who: &str, t: i64, patient: &str) -> Event {
    let mut e = staff(who, "clinician", t, "access.break_glass", Outcome::Success, "10.0.0.5");
    e.patients = vec![patient.into()];
    e.purpose = Some("ETREAT".into());
    e
}

fn note(who: &str, t: i64, patient: &str) -> Event {
    let mut e = staff(who, "clinician", t, "fhir.create", Outcome::Success, "10.0.0.5");
    e.set_resources(&["DocumentReference/n1"]);
    e.patients = vec![patient.into()];
    e
}

#[test]
fn break_glass_use() {
    let mut log = Log::new();
    log.push(btg("d1", T0 + HOUR, "p7"));
    assert_eq!(log.open("break_glass.use").len(), 1);

    // An emergency encounter the user takes part in explains it.
    let mut twin = Log::new();
    twin.push(btg("d1", T0 + HOUR, "er"));
    assert!(twin.open("break_glass.use").is_empty());
    assert_eq!(twin.explained("break_glass.use").len(), 1);
}

#[test]
fn break_glass_repeated() {
    let run = |n: i64| {
        let mut log = Log::new();
        for i in 0..n {
            log.push(btg("d1", T0 + i * 2 * HOUR, &format!("p{i}")));
        }
        log.open("break_glass.repeated").len()
    };
    assert_eq!(run(3), 1);
    assert_eq!(run(2), 0);
}

#[test]
fn break_glass_undocumented() {
    let mut log = Log::new();
    log.push(btg("d1", T0, "p7"));
    log.push(read("d1", T0 + MIN, "p7", "10.0.0.5"));
    assert!(log.open("break_glass.undocumented").is_empty());
    // Time moves on (another event a day later) and the deadline passes.
    log.push(read("d2", T0 + DAY + HOUR, "p8", "10.0.0.6"));
    assert_eq!(log.open("break_glass.undocumented").len(), 1);

    let mut twin = Log::new();
    twin.push(btg("d1", T0, "p7"));
    twin.push(note("d1", T0 + 2 * HOUR, "p7"));
    twin.flush(T0 + 3 * DAY);
    assert!(twin.open("break_glass.undocumented").is_empty());
}

/// Fourteen hours of five patients an hour for the assistant, then `n` in an hour.
fn agent_spike(n: usize) -> Log {
    let mut log = Log::new();
    for h in 0..14 {
        for k in 0..5usize {
            let p = (h as usize * 5 + k) % 200;
            log.push(agent(T0 + h * HOUR + k as i64 * MIN, p, "fhir.read", "Patient", Some(&format!("p{p}"))));
        }
    }
    for k in 0..n {
        let p = 100 + k;
        log.push(agent(T0 + 15 * HOUR + k as i64 * 30 * S, p, "fhir.read", "Patient", Some(&format!("p{p}"))));
    }
    log
}

#[test]
fn agent_overreach_patients() {
    assert_eq!(agent_spike(40).open("agent.overreach_patients").len(), 1);
    assert!(agent_spike(12).open("agent.overreach_patients").is_empty());
}

#[test]
fn agent_overreach_types() {
    let run = |types: &[&str]| {
        let mut log = Log::new();
        for day in 0..4 {
            for t in ["Slot", "Appointment"] {
                log.push(agent(T0 + day * DAY + HOUR, 1, "fhir.search", t, Some("p1")));
            }
        }
        for t in types {
            log.push(agent(T0 + 4 * DAY + 2 * HOUR, 1, "fhir.search", t, Some("p1")));
        }
        log.open("agent.overreach_types").len()
    };
    assert_eq!(run(&["Observation", "Condition"]), 1);
    assert_eq!(run(&["Slot", "Observation"]), 0);
}

#[test]
fn agent_foreign_patient() {
    let mut log = Log::new();
    log.push(agent(T0, 1, "fhir.read", "Observation", Some("p2")));
    assert_eq!(log.open("agent.foreign_patient").len(), 1);

    let mut twin = Log::new();
    twin.push(agent(T0, 1, "fhir.read", "Observation", Some("p1")));
    assert!(twin.open("agent.foreign_patient").is_empty());
}

#[test]
fn agent_injection() {
    let run = |verdicts: &[&str]| {
        let mut log = Log::new();
        for (i, v) in verdicts.iter().enumerate() {
            let mut e =
                agent(T0 + i as i64 * MIN, 3, "http POST /v1/conversations/{id}/messages", "Conversation", None);
            e.detail = Some(format!("answerer model; safeguards {v}"));
            log.push(e);
        }
        log.open("agent.injection").len()
    };
    assert_eq!(run(&["injection=block", "injection=block", "injection=block"]), 1);
    assert_eq!(run(&["injection=block", "all pass", "all pass"]), 0);
}

#[test]
fn every_shipped_rule_has_a_test_here() {
    let source = include_str!("rules.rs");
    for rule in RuleSet::defaults().unwrap().rules {
        assert!(source.contains(&format!("\"{}\"", rule.id)), "rule {} has no test", rule.id);
    }
}
