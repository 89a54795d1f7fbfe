//! Plain-language summaries of alerts and incidents. They name ids (accounts,
//! patients, addresses), never names or other PHI values.

use crate::alert::{Alert, AlertStatus};
use crate::rules::Rule;

/// `patient p1`, `3 patients (p1, p2, p3)`, `60 patients (p1, p2, p3, ...)`.
pub(crate) fn patients_text(patients: &[String]) -> String {
    match patients {
        [] => "no patient record".to_string(),
        [p] => format!("patient {p}"),
        ps if ps.len() <= 3 => format!("{} patients ({})", ps.len(), ps.join(", ")),
        ps => format!("{} patients ({}, ...)", ps.len(), ps[..3].join(", ")),
    }
}

fn actor_text(a: &Alert) -> String {
    let mut s = a.actor.clone();
    if let Some(r) = &a.role {
        s.push_str(&format!(" ({r})"));
    }
    if a.actor == "anonymous"
        && let Some(n) = &a.actor_name
    {
        s = format!("sign-in name {n}");
    }
    s
}

/// The summary of an alert: the rule's template if it has one, else a generic sentence.
pub(crate) fn summarize(rule: &Rule, a: &Alert, window: Option<String>) -> String {
    let window = window.unwrap_or_else(|| "-".into());
    let deviation = a.deviation.as_ref().map(|d| d.text()).unwrap_or_default();
    let mut s = match &rule.summary {
        Some(t) => t
            .replace("{actor}", &actor_text(a))
            .replace("{actor_name}", a.actor_name.as_deref().unwrap_or("-"))
            .replace("{role}", a.role.as_deref().unwrap_or("-"))
            .replace("{source_ip}", a.source_ip.as_deref().unwrap_or("an unknown address"))
            .replace("{patients}", &patients_text(&a.patients))
            .replace("{count}", &a.count.to_string())
            .replace("{window}", &window)
            .replace("{deviation}", &deviation),
        None => format!(
            "{}: {} from {}, {} ({}); {}.",
            rule.title,
            actor_text(a),
            a.source_ip.as_deref().unwrap_or("an unknown address"),
            patients_text(&a.patients),
            rule.correlation_text(),
            if deviation.is_empty() { format!("{} events", a.count) } else { deviation },
        ),
    };
    if a.status == AlertStatus::Explained {
        let reasons: Vec<String> =
            a.explanations.iter().map(|e| format!("{}: {}", e.patient, e.explanation.text())).collect();
        s.push_str(&format!(" Auto-resolved as benign: {}.", reasons.join("; ")));
    }
    s.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_patients_briefly() {
        let ps: Vec<String> = (1..=5).map(|i| format!("p{i}")).collect();
        assert_eq!(patients_text(&ps[..1]), "patient p1");
        assert_eq!(patients_text(&ps[..2]), "2 patients (p1, p2)");
        assert_eq!(patients_text(&ps), "5 patients (p1, p2, p3, ...)");
    }
}
