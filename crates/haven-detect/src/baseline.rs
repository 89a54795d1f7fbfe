//! Baselines: per-actor and per-role (peer group) statistics of how many
//! patients and which resource types an actor touches, updated online, with
//! robust scores (median and MAD) so that an alert can say which feature
//! deviated and by how much.

use std::collections::{HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::rules::Feature;

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;
/// Active hours (and days) of history kept per actor.
const OWN_HISTORY: usize = 24 * 30;
/// Histogram bins of the peer groups; larger values share the last bin.
const BINS: usize = 512;
/// A peer histogram is halved past this many values, so that it follows change.
const PEER_CAP: u64 = 200_000;
/// MAD is scaled by this to estimate a standard deviation.
const MAD_SCALE: f64 = 1.4826;

/// How far a feature deviated from the actor's own history and its peers'.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deviation {
    /// The feature.
    pub feature: Feature,
    /// Its current value.
    pub value: f64,
    /// Median of the actor's own history.
    pub own_median: f64,
    /// Robust z-score against the actor's own history.
    pub own_z: f64,
    /// Active periods of own history the score rests on.
    pub own_history: u32,
    /// The peer group (role).
    pub peer_group: String,
    /// Median of the peer group.
    pub peer_median: f64,
    /// Robust z-score against the peer group.
    pub peer_z: f64,
    /// For `patients_at_unusual_hour`: the hour of day (UTC). The medians
    /// are then the percentages of active hours at that time of day (the
    /// hour and its neighbours), and the scores how many times rarer that is
    /// than activity spread evenly over the day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour_utc: Option<u8>,
}

impl Deviation {
    /// The deviation in words.
    pub fn text(&self) -> String {
        if let Some(h) = self.hour_utc {
            return format!(
                "{} patients in the hour from {h:02}:00 UTC, a time of day at which the actor was active in {:.1}% of {} active hours ({:.0} times rarer than an even spread) and {} peers in {:.1}%",
                self.value, self.own_median, self.own_history, self.own_z, self.peer_group, self.peer_median
            );
        }
        format!(
            "{} was {:.0}, against a median of {:.0} in the actor's own history ({} periods; robust z {:.1}) and {:.0} among {} peers (robust z {:.1})",
            self.feature.as_str(),
            self.value,
            self.own_median,
            self.own_history,
            self.own_z,
            self.peer_median,
            self.peer_group,
            self.peer_z
        )
    }
}

/// Median and scale of a sample; the scale never drops below a floor, so a
/// very regular history does not make every small change an outlier.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Robust {
    pub median: f64,
    pub scale: f64,
}

impl Robust {
    fn z(&self, x: f64) -> f64 {
        (x - self.median) / self.scale
    }

    fn from_sorted(sorted: &[u16]) -> Option<Robust> {
        if sorted.is_empty() {
            return None;
        }
        let median = median_sorted(sorted);
        let mut dev: Vec<f64> = sorted.iter().map(|&v| (f64::from(v) - median).abs()).collect();
        dev.sort_by(f64::total_cmp);
        let mad = median_f64(&dev);
        Some(Robust { median, scale: floor_scale(median, mad) })
    }
}

/// Counts vary at least as a Poisson process would (standard deviation
/// √median), and by at least one: below that, MAD would call noise an outlier.
fn floor_scale(median: f64, mad: f64) -> f64 {
    (MAD_SCALE * mad).max(1.0).max(median.sqrt())
}

fn median_sorted(s: &[u16]) -> f64 {
    let n = s.len();
    if n % 2 == 1 { f64::from(s[n / 2]) } else { (f64::from(s[n / 2 - 1]) + f64::from(s[n / 2])) / 2.0 }
}

fn median_f64(s: &[f64]) -> f64 {
    let n = s.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// A histogram of small counts, for a peer group.
#[derive(Clone, Debug)]
struct Hist {
    bins: Vec<u64>,
    total: u64,
    cached: Option<Robust>,
}

impl Hist {
    fn new() -> Self {
        Hist { bins: vec![0; BINS], total: 0, cached: None }
    }

    fn push(&mut self, v: u16) {
        let i = usize::from(v).min(BINS - 1);
        self.bins[i] += 1;
        self.total += 1;
        self.cached = None;
        if self.total > PEER_CAP {
            self.total = 0;
            for b in &mut self.bins {
                *b /= 2;
                self.total += *b;
            }
        }
    }

    fn quantile_bin(bins: &[u64], total: u64, q: f64) -> f64 {
        let target = (total as f64 * q).ceil().max(1.0) as u64;
        let mut acc = 0;
        for (i, b) in bins.iter().enumerate() {
            acc += b;
            if acc >= target {
                return i as f64;
            }
        }
        (bins.len() - 1) as f64
    }

    fn robust(&mut self) -> Option<Robust> {
        if self.total == 0 {
            return None;
        }
        if let Some(r) = self.cached {
            return Some(r);
        }
        let median = Hist::quantile_bin(&self.bins, self.total, 0.5);
        let mut dev = vec![0u64; BINS];
        for (i, b) in self.bins.iter().enumerate() {
            let d = (i as f64 - median).abs() as usize;
            dev[d.min(BINS - 1)] += b;
        }
        let mad = Hist::quantile_bin(&dev, self.total, 0.5);
        let r = Robust { median, scale: floor_scale(median, mad) };
        self.cached = Some(r);
        Some(r)
    }
}

/// One actor's running statistics.
#[derive(Clone, Debug, Default)]
struct ActorStats {
    role: u32,
    hour: i64,
    hour_patients: HashSet<u32>,
    day: i64,
    day_patients: HashSet<u32>,
    day_types: Vec<u32>,
    seen_types: HashSet<u32>,
    days_seen: u32,
    hourly: VecDeque<u16>,
    daily: VecDeque<u16>,
    own_hourly: Option<Robust>,
    own_daily: Option<Robust>,
    networks: HashSet<u32>,
    /// Active hours (with patients touched) by hour of day, UTC.
    hours_of_day: [u32; 24],
    /// Bucket (hour or day index) each baseline rule last alerted for.
    fired: Vec<(u16, i64)>,
}

/// All actors' and peer groups' statistics.
#[derive(Clone, Debug, Default)]
pub(crate) struct Baselines {
    actors: HashMap<u32, ActorStats>,
    peers_hourly: HashMap<u32, Hist>,
    peers_daily: HashMap<u32, Hist>,
    /// Active hours of each peer group by hour of day, UTC.
    peers_hours_of_day: HashMap<u32, [u64; 24]>,
}

/// Hour of day (UTC) of an hour index since the epoch.
fn hour_of_day(hour: i64) -> usize {
    usize::try_from(hour.rem_euclid(24)).unwrap_or(0)
}

/// The share (%) of `counts` at hour `h` and its two neighbours, and the
/// total: an hour next to one's usual ones is not unusual.
fn share_around<T: Copy + Into<u64>>(counts: &[T; 24], h: usize) -> (f64, u64) {
    let total: u64 = counts.iter().map(|&c| c.into()).sum();
    if total == 0 {
        return (0.0, 0);
    }
    let near: u64 = [(h + 23) % 24, h, (h + 1) % 24].iter().map(|&i| counts[i].into()).sum();
    (100.0 * near as f64 / total as f64, total)
}

/// How many times rarer than an even spread (3 hours of 24: 12.5%) a share is.
fn rarity(share_pct: f64) -> f64 {
    12.5 / share_pct.max(0.1)
}

fn push_bounded(q: &mut VecDeque<u16>, v: usize) -> Option<Robust> {
    q.push_back(u16::try_from(v).unwrap_or(u16::MAX));
    if q.len() > OWN_HISTORY {
        q.pop_front();
    }
    let mut s: Vec<u16> = q.iter().copied().collect();
    s.sort_unstable();
    Robust::from_sorted(&s)
}

impl Baselines {
    /// Whether `network` is new for `actor` (and remembers it).
    pub fn network_is_new(&mut self, actor: u32, network: u32) -> bool {
        self.actors.entry(actor).or_default().networks.insert(network)
    }

    /// Counts a patient access (patients and resource types, interned) at `time`.
    pub fn observe(&mut self, actor: u32, role: u32, time: i64, patients: &[u32], types: &[u32]) {
        let a = self.actors.entry(actor).or_default();
        a.role = role;
        let hour = time.div_euclid(HOUR);
        let day = time.div_euclid(DAY);
        if hour != a.hour {
            if !a.hour_patients.is_empty() {
                let n = a.hour_patients.len();
                let h = hour_of_day(a.hour);
                a.hours_of_day[h] += 1;
                self.peers_hours_of_day.entry(a.role).or_insert([0; 24])[h] += 1;
                a.own_hourly = push_bounded(&mut a.hourly, n);
                self.peers_hourly.entry(a.role).or_insert_with(Hist::new).push(u16::try_from(n).unwrap_or(u16::MAX));
                a.hour_patients.clear();
            }
            a.hour = hour;
        }
        if day != a.day {
            if !a.day_patients.is_empty() || !a.day_types.is_empty() {
                let n = a.day_patients.len();
                a.own_daily = push_bounded(&mut a.daily, n);
                self.peers_daily.entry(a.role).or_insert_with(Hist::new).push(u16::try_from(n).unwrap_or(u16::MAX));
                a.day_patients.clear();
                a.seen_types.extend(a.day_types.drain(..));
                a.days_seen += 1;
            }
            a.day = day;
        }
        a.hour_patients.extend(patients.iter().copied());
        a.day_patients.extend(patients.iter().copied());
        for t in types {
            if !a.day_types.contains(t) {
                a.day_types.push(*t);
            }
        }
    }

    /// Scores `feature` for `actor` now; Some if it passes every threshold
    /// and rule `rule` has not alerted for this period yet (it is then marked).
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        &mut self,
        rule: u16,
        actor: u32,
        feature: Feature,
        min_value: f64,
        own_z: f64,
        peer_z: f64,
        min_history: u32,
        peer_name: &str,
    ) -> Option<Deviation> {
        let a = self.actors.get_mut(&actor)?;
        let (value, own, history, bucket, peers) = match feature {
            Feature::DistinctPatientsPerHour => {
                (a.hour_patients.len() as f64, a.own_hourly, a.hourly.len(), a.hour, &mut self.peers_hourly)
            }
            Feature::DistinctPatientsPerDay => {
                (a.day_patients.len() as f64, a.own_daily, a.daily.len(), a.day, &mut self.peers_daily)
            }
            Feature::PatientsAtUnusualHour => {
                let value = a.hour_patients.len() as f64;
                let h = hour_of_day(a.hour);
                let (own_share, active) = share_around(&a.hours_of_day, h);
                if value < min_value || active < u64::from(min_history) || a.fired.contains(&(rule, a.hour)) {
                    return None;
                }
                let oz = rarity(own_share);
                if oz < own_z {
                    return None;
                }
                let (peer_share, peer_total) =
                    self.peers_hours_of_day.get(&a.role).map_or((0.0, 0), |c| share_around(c, h));
                let pz = rarity(peer_share);
                if peer_total == 0 || pz < peer_z {
                    return None;
                }
                let bucket = a.hour;
                a.fired.retain(|(r, b)| *r != rule || *b >= bucket - 1);
                a.fired.push((rule, bucket));
                return Some(Deviation {
                    feature,
                    value,
                    own_median: own_share,
                    own_z: oz,
                    own_history: u32::try_from(active).unwrap_or(u32::MAX),
                    peer_group: peer_name.to_string(),
                    peer_median: peer_share,
                    peer_z: pz,
                    hour_utc: u8::try_from(h).ok(),
                });
            }
            Feature::NewResourceTypesPerDay => {
                let new = a.day_types.iter().filter(|t| !a.seen_types.contains(t)).count() as f64;
                if new < min_value || a.days_seen < min_history || a.fired.contains(&(rule, a.day)) {
                    return None;
                }
                a.fired.push((rule, a.day));
                return Some(Deviation {
                    feature,
                    value: new,
                    own_median: 0.0,
                    own_z: f64::INFINITY,
                    own_history: a.days_seen,
                    peer_group: peer_name.to_string(),
                    peer_median: 0.0,
                    peer_z: 0.0,
                    hour_utc: None,
                });
            }
        };
        if value < min_value || history < min_history as usize {
            return None;
        }
        let own = own?;
        let oz = own.z(value);
        if oz < own_z {
            return None;
        }
        let peer = peers.get_mut(&a.role).and_then(Hist::robust)?;
        let pz = peer.z(value);
        if pz < peer_z || a.fired.contains(&(rule, bucket)) {
            return None;
        }
        a.fired.retain(|(r, b)| *r != rule || *b >= bucket - 1);
        a.fired.push((rule, bucket));
        Some(Deviation {
            feature,
            value,
            own_median: own.median,
            own_z: oz,
            own_history: u32::try_from(history).unwrap_or(u32::MAX),
            peer_group: peer_name.to_string(),
            peer_median: peer.median,
            peer_z: pz,
            hour_utc: None,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn robust_scores() {
        let r = Robust::from_sorted(&[4, 5, 5, 6, 6, 6, 7, 8, 30]).unwrap();
        assert_eq!(r.median, 6.0);
        assert!((r.scale - 6f64.sqrt()).abs() < 1e-9);
        assert!(r.z(30.0) > 9.0);
        // A constant history still has a scale.
        assert!(Robust::from_sorted(&[5; 10]).unwrap().scale >= 1.0);
    }

    #[test]
    fn hist_matches_exact_median() {
        let mut h = Hist::new();
        for v in [4u16, 5, 5, 6, 6, 6, 7, 8, 30] {
            h.push(v);
        }
        let r = h.robust().unwrap();
        assert_eq!(r.median, 6.0);
        assert!((r.scale - 6f64.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn flags_a_spike_once_per_hour() {
        let mut b = Baselines::default();
        // Twenty hours of 5 patients each, for this actor and a peer.
        for h in 0..20i64 {
            for actor in [1u32, 2] {
                let ps: Vec<u32> = (0..5).map(|i| actor * 1000 + i).collect();
                b.observe(actor, 9, h * HOUR, &ps, &[1]);
            }
        }
        let spike: Vec<u32> = (0..40).collect();
        b.observe(1, 9, 21 * HOUR, &spike, &[1]);
        let d = b.check(0, 1, Feature::DistinctPatientsPerHour, 10.0, 5.0, 5.0, 8, "nurse").unwrap();
        assert_eq!(d.value, 40.0);
        assert_eq!(d.own_median, 5.0);
        assert!(d.text().contains("robust z"));
        assert!(b.check(0, 1, Feature::DistinctPatientsPerHour, 10.0, 5.0, 5.0, 8, "nurse").is_none());
        // A normal hour for the peer is silent.
        b.observe(2, 9, 21 * HOUR, &[2000, 2001], &[1]);
        assert!(b.check(0, 2, Feature::DistinctPatientsPerHour, 1.0, 5.0, 5.0, 8, "nurse").is_none());
    }
}
