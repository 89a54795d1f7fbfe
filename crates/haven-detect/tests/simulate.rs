//! The simulator's targets, over several seeds: recall of every attack type,
//! false alerts per benign access and the share of benign accesses explained.

use haven_detect::RuleSet;
use haven_detect::sim::{ATTACK_TYPES, SimConfig, evaluate, simulate};

#[test]
fn targets_hold_across_seeds() {
    for seed in [1, 2, 3] {
        let config = SimConfig { days: 10, staff: 200, patients: 3000, seed, attack_rate: 0.5, warmup_days: 4 };
        let sim = simulate(&config);
        let Ok(rules) = RuleSet::defaults() else { panic!("default rules do not load") };
        let e = evaluate(&sim, rules);
        println!("{}", serde_json::to_string_pretty(&e).unwrap_or_default());
        for kind in ATTACK_TYPES {
            let r = e.recall_by_type.get(*kind).copied().unwrap_or(0.0);
            assert!(r >= 0.95, "seed {seed}: recall of {kind} is {r}");
        }
        assert!(
            e.false_alerts_per_10k_benign <= 1.0,
            "seed {seed}: {} false alerts per 10k benign",
            e.false_alerts_per_10k_benign
        );
        assert!(e.explained_benign_rate >= 0.90, "seed {seed}: explained {}", e.explained_benign_rate);
    }
}
