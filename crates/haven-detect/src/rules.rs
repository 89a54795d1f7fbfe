//! The rule format (Sigma-like YAML) and its loader: every rule is parsed,
//! checked and compiled at load, and a bad rule is refused with its file,
//! line and reason. `docs/detect.md` documents the format.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_norway::Value;

/// The rules Haven ships, embedded in the binary.
pub const DEFAULT_RULES: &[(&str, &str)] = &[
    ("credential_brute_force.yaml", include_str!("../rules/credential_brute_force.yaml")),
    ("credential_password_spraying.yaml", include_str!("../rules/credential_password_spraying.yaml")),
    ("credential_failures_then_success.yaml", include_str!("../rules/credential_failures_then_success.yaml")),
    ("credential_mfa_fatigue.yaml", include_str!("../rules/credential_mfa_fatigue.yaml")),
    ("credential_mfa_replay.yaml", include_str!("../rules/credential_mfa_replay.yaml")),
    ("credential_token_new_network.yaml", include_str!("../rules/credential_token_new_network.yaml")),
    ("snooping_family.yaml", include_str!("../rules/snooping_family.yaml")),
    ("snooping_coworker.yaml", include_str!("../rules/snooping_coworker.yaml")),
    ("snooping_vip.yaml", include_str!("../rules/snooping_vip.yaml")),
    ("snooping_deceased.yaml", include_str!("../rules/snooping_deceased.yaml")),
    ("snooping_unexplained.yaml", include_str!("../rules/snooping_unexplained.yaml")),
    ("exfiltration_distinct_patients.yaml", include_str!("../rules/exfiltration_distinct_patients.yaml")),
    ("exfiltration_bulk.yaml", include_str!("../rules/exfiltration_bulk.yaml")),
    ("exfiltration_baseline.yaml", include_str!("../rules/exfiltration_baseline.yaml")),
    ("exfiltration_unusual_hour.yaml", include_str!("../rules/exfiltration_unusual_hour.yaml")),
    ("break_glass_use.yaml", include_str!("../rules/break_glass_use.yaml")),
    ("break_glass_repeated.yaml", include_str!("../rules/break_glass_repeated.yaml")),
    ("break_glass_undocumented.yaml", include_str!("../rules/break_glass_undocumented.yaml")),
    ("agent_overreach_patients.yaml", include_str!("../rules/agent_overreach_patients.yaml")),
    ("agent_overreach_types.yaml", include_str!("../rules/agent_overreach_types.yaml")),
    ("agent_foreign_patient.yaml", include_str!("../rules/agent_foreign_patient.yaml")),
    ("agent_injection.yaml", include_str!("../rules/agent_injection.yaml")),
];

/// A rule that could not be loaded: where, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct RuleError {
    /// The rule file (its name, or the path it was read from).
    pub file: String,
    /// The 1-based line the problem is on (the rule's first line when no better one is known).
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// How serious an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Worth recording.
    Informational,
    /// Review in the normal course.
    Low,
    /// Review today.
    Medium,
    /// Review now.
    High,
    /// An attack in progress.
    Critical,
}

impl Level {
    /// The name used in rules and exports.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }

    /// The OCSF severity id (1 informational .. 5 critical).
    pub fn ocsf_id(self) -> u8 {
        match self {
            Level::Informational => 1,
            Level::Low => 2,
            Level::Medium => 3,
            Level::High => 4,
            Level::Critical => 5,
        }
    }

    /// One step more serious (for incidents that span several rules).
    pub fn raised(self) -> Level {
        match self {
            Level::Informational => Level::Low,
            Level::Low => Level::Medium,
            Level::Medium => Level::High,
            Level::High | Level::Critical => Level::Critical,
        }
    }
}

/// The family of threat a rule detects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Stolen or guessed credentials.
    Credential,
    /// Curiosity access to records the user has no reason to open.
    Snooping,
    /// Taking data out in bulk.
    Exfiltration,
    /// Emergency access.
    BreakGlass,
    /// Agents and service clients.
    Agent,
}

impl Category {
    /// The name used in rules and exports.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Credential => "credential",
            Category::Snooping => "snooping",
            Category::Exfiltration => "exfiltration",
            Category::BreakGlass => "break_glass",
            Category::Agent => "agent",
        }
    }
}

/// A field a rule can select on or group by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Field {
    Action,
    Outcome,
    Actor,
    ActorName,
    ActorRole,
    ActorFhir,
    ActorKind,
    OnBehalfOf,
    Purpose,
    Detail,
    SourceIp,
    UserAgent,
    ResourceType,
    PatientsCount,
    ResourcesCount,
    /// The source address was never seen for this actor before.
    NetworkNew,
    // Per patient: a selection naming any of these holds if one patient satisfies all of them.
    Patient,
    PatientFamily,
    PatientSameSurname,
    PatientSameAddress,
    PatientCoworker,
    PatientVip,
    PatientDeceased,
    PatientExplained,
    PatientSelf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldType {
    Str,
    Num,
    Bool,
}

impl Field {
    pub(crate) const ALL: &'static [(&'static str, Field)] = &[
        ("action", Field::Action),
        ("outcome", Field::Outcome),
        ("actor", Field::Actor),
        ("actor.name", Field::ActorName),
        ("actor.role", Field::ActorRole),
        ("actor.fhir", Field::ActorFhir),
        ("actor.kind", Field::ActorKind),
        ("actor.on_behalf_of", Field::OnBehalfOf),
        ("purpose", Field::Purpose),
        ("detail", Field::Detail),
        ("source_ip", Field::SourceIp),
        ("user_agent", Field::UserAgent),
        ("resource_type", Field::ResourceType),
        ("patients.count", Field::PatientsCount),
        ("resources.count", Field::ResourcesCount),
        ("network.new", Field::NetworkNew),
        ("patient", Field::Patient),
        ("patient.family", Field::PatientFamily),
        ("patient.same_surname", Field::PatientSameSurname),
        ("patient.same_address", Field::PatientSameAddress),
        ("patient.coworker", Field::PatientCoworker),
        ("patient.vip", Field::PatientVip),
        ("patient.deceased", Field::PatientDeceased),
        ("patient.explained", Field::PatientExplained),
        ("patient.self", Field::PatientSelf),
    ];

    fn parse(s: &str) -> Option<Field> {
        Field::ALL.iter().find(|(n, _)| *n == s).map(|(_, f)| *f)
    }

    pub(crate) fn name(self) -> &'static str {
        Field::ALL.iter().find(|(_, f)| *f == self).map_or("?", |(n, _)| n)
    }

    pub(crate) fn ty(self) -> FieldType {
        match self {
            Field::PatientsCount | Field::ResourcesCount => FieldType::Num,
            Field::NetworkNew
            | Field::PatientFamily
            | Field::PatientSameSurname
            | Field::PatientSameAddress
            | Field::PatientCoworker
            | Field::PatientVip
            | Field::PatientDeceased
            | Field::PatientExplained
            | Field::PatientSelf => FieldType::Bool,
            _ => FieldType::Str,
        }
    }

    /// Whether the field is evaluated per patient of the event.
    pub(crate) fn per_patient(self) -> bool {
        matches!(
            self,
            Field::Patient
                | Field::PatientFamily
                | Field::PatientSameSurname
                | Field::PatientSameAddress
                | Field::PatientCoworker
                | Field::PatientVip
                | Field::PatientDeceased
                | Field::PatientExplained
                | Field::PatientSelf
        )
    }

    /// Fields that can key a correlation (group by, distinct count).
    fn groupable(self) -> bool {
        matches!(
            self,
            Field::Actor
                | Field::ActorName
                | Field::ActorRole
                | Field::ActorFhir
                | Field::OnBehalfOf
                | Field::SourceIp
                | Field::UserAgent
                | Field::Action
                | Field::Patient
                | Field::ResourceType
        )
    }
}

/// How a condition compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Contains,
    StartsWith,
    EndsWith,
    Gte,
    Lte,
}

/// A literal in a selection (strings are kept lower-case: matching ignores ASCII case).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
}

/// `field|op: values` (any value matches).
#[derive(Clone, Debug)]
pub(crate) struct Cond {
    pub field: Field,
    pub op: Op,
    pub values: Vec<Lit>,
}

/// A named selection: alternatives (a YAML list of maps) of conditions that must all hold.
#[derive(Clone, Debug)]
pub(crate) struct Selection {
    pub alternatives: Vec<Vec<Cond>>,
}

/// A condition over named selections.
#[derive(Clone, Debug)]
pub(crate) enum Expr {
    Sel(usize),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// A per-actor statistic that baselines follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// Distinct patients touched in a clock hour.
    DistinctPatientsPerHour,
    /// Distinct patients touched in a (UTC) day.
    DistinctPatientsPerDay,
    /// Resource types touched in a day that the actor's history has never shown.
    NewResourceTypesPerDay,
    /// Distinct patients touched in a clock hour at a time of day (UTC) the
    /// actor, and its peers, are rarely active.
    PatientsAtUnusualHour,
}

impl Feature {
    /// The name used in rules and alerts.
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::DistinctPatientsPerHour => "distinct_patients_per_hour",
            Feature::DistinctPatientsPerDay => "distinct_patients_per_day",
            Feature::NewResourceTypesPerDay => "new_resource_types_per_day",
            Feature::PatientsAtUnusualHour => "patients_at_unusual_hour",
        }
    }

    fn parse(s: &str) -> Option<Feature> {
        [
            Feature::DistinctPatientsPerHour,
            Feature::DistinctPatientsPerDay,
            Feature::NewResourceTypesPerDay,
            Feature::PatientsAtUnusualHour,
        ]
        .into_iter()
        .find(|f| f.as_str() == s)
    }
}

/// What must accumulate before a rule alerts.
#[derive(Clone, Debug)]
pub(crate) enum Correlation {
    /// Every matching event alerts.
    None,
    /// At least `gte` matching events per group within `window` µs.
    EventCount { group: Vec<Field>, window: i64, gte: u64 },
    /// At least `gte` distinct values of `field` per group within `window`.
    ValueCount { group: Vec<Field>, window: i64, field: Field, gte: u64 },
    /// At least `first_gte` events of selection `first`, then one of `then`, within `window`;
    /// the `distinct` fields of the `then` event must differ from every `first` event's.
    Temporal { group: Vec<Field>, window: i64, first: usize, first_gte: u64, then: usize, distinct: Vec<Field> },
    /// An event matching the condition not followed by one matching `follow` within `window`.
    Absence { group: Vec<Field>, window: i64, follow: usize },
    /// The actor's feature far above its own history and its peer group's.
    Baseline { feature: Feature, own_z: f64, peer_z: f64, min_value: f64, min_history: u32 },
}

/// A compiled rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Stable id (`credential.brute_force`).
    pub id: String,
    /// One-line title.
    pub title: String,
    /// What it detects and why it matters.
    pub description: String,
    /// Severity of its alerts.
    pub level: Level,
    /// The family of threat.
    pub category: Category,
    /// The attack type it detects (the simulator's label).
    pub attack: String,
    /// Free tags (ATT&CK ids...).
    pub tags: Vec<String>,
    /// Look for a legitimate reason before raising: explained alerts are auto-resolved.
    pub explain: bool,
    /// The file it came from.
    pub source: String,
    /// A plain-language template for alert summaries (see `docs/detect.md`).
    pub summary: Option<String>,
    pub(crate) names: Vec<String>,
    pub(crate) selections: Vec<Selection>,
    pub(crate) condition: Expr,
    pub(crate) correlation: Correlation,
}

impl Rule {
    /// The names of its selections, in file order.
    pub fn selection_names(&self) -> &[String] {
        &self.names
    }

    /// A short statement of the correlation, for summaries.
    pub fn correlation_text(&self) -> String {
        match &self.correlation {
            Correlation::None => "a single matching event".into(),
            Correlation::EventCount { window, gte, .. } => {
                format!("{gte} or more events within {}", span_text(*window))
            }
            Correlation::ValueCount { window, gte, field, .. } => {
                format!("{gte} or more distinct {} within {}", field.name(), span_text(*window))
            }
            Correlation::Temporal { window, first_gte, .. } => {
                format!("a sequence ({first_gte}+ then 1) within {}", span_text(*window))
            }
            Correlation::Absence { window, .. } => format!("no follow-up within {}", span_text(*window)),
            Correlation::Baseline { feature, .. } => format!("{} far above baseline", feature.as_str()),
        }
    }
}

/// A window in words (`10 min`, `24 h`).
pub(crate) fn span_text(micros: i64) -> String {
    let s = micros / 1_000_000;
    if s % 86_400 == 0 && s >= 86_400 {
        format!("{} d", s / 86_400)
    } else if s % 3600 == 0 && s >= 3600 {
        format!("{} h", s / 3600)
    } else if s % 60 == 0 && s >= 60 {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

/// A loaded, checked set of rules.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    /// The rules, in load order.
    pub rules: Vec<Rule>,
}

impl RuleSet {
    /// The rules Haven ships.
    pub fn defaults() -> Result<RuleSet, RuleError> {
        RuleSet::from_sources(DEFAULT_RULES.iter().map(|(f, t)| (f.to_string(), t.to_string())))
    }

    /// Loads rules from (file name, text) pairs; rule ids must be unique.
    pub fn from_sources(sources: impl IntoIterator<Item = (String, String)>) -> Result<RuleSet, RuleError> {
        let mut rules = Vec::new();
        let mut ids = HashSet::new();
        for (file, text) in sources {
            let rule = parse_rule(&file, &text)?;
            if !ids.insert(rule.id.clone()) {
                return Err(RuleError {
                    line: line_of(&text, "id:"),
                    file,
                    reason: format!("rule id `{}` is used by another rule", rule.id),
                });
            }
            rules.push(rule);
        }
        Ok(RuleSet { rules })
    }

    /// Loads every `*.yaml`/`*.yml` file of a directory, in name order.
    pub fn load_dir(dir: &Path) -> Result<RuleSet, RuleError> {
        let io = |e: std::io::Error| RuleError { file: dir.display().to_string(), line: 0, reason: e.to_string() };
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        files.sort();
        let mut sources = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| RuleError {
                file: f.display().to_string(),
                line: 0,
                reason: e.to_string(),
            })?;
            sources.push((f.display().to_string(), text));
        }
        RuleSet::from_sources(sources)
    }

    /// The rule with this id.
    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    title: String,
    #[serde(default)]
    description: String,
    level: Level,
    category: Category,
    attack: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    explain: bool,
    detection: BTreeMap<String, Value>,
    #[serde(default)]
    correlation: Option<RawCorrelation>,
    #[serde(default)]
    summary: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCorrelation {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    group_by: Vec<String>,
    #[serde(default)]
    timespan: Option<String>,
    #[serde(default)]
    gte: Option<u64>,
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    sequence: Option<Vec<RawStep>>,
    #[serde(default)]
    distinct: Vec<String>,
    #[serde(default)]
    followed_by: Option<String>,
    #[serde(default)]
    feature: Option<String>,
    #[serde(default)]
    own_z: Option<f64>,
    #[serde(default)]
    peer_z: Option<f64>,
    #[serde(default)]
    min_value: Option<f64>,
    #[serde(default)]
    min_history: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    selection: String,
    #[serde(default = "one")]
    gte: u64,
}

fn one() -> u64 {
    1
}

/// The first line containing `needle` (1 if none does).
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).map_or(1, |i| i + 1)
}

/// Parses and compiles one rule file.
pub fn parse_rule(file: &str, text: &str) -> Result<Rule, RuleError> {
    let err = |line: usize, reason: String| RuleError { file: file.to_string(), line, reason };
    let raw: RawRule = serde_norway::from_str(text).map_err(|e| {
        let line = e.location().map_or(1, |l| l.line());
        err(line, e.to_string())
    })?;
    let at = |needle: &str| line_of(text, needle);
    if raw.id.trim().is_empty() || !raw.id.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
        return Err(err(at("id:"), "id must be non-empty and use letters, digits, `.`, `_` or `-`".into()));
    }
    if raw.attack.trim().is_empty() {
        return Err(err(at("attack:"), "attack must name the attack type".into()));
    }
    let mut names = Vec::new();
    let mut selections = Vec::new();
    let mut condition_text = None;
    for (name, value) in &raw.detection {
        if name == "condition" {
            match value {
                Value::String(s) => condition_text = Some(s.clone()),
                _ => return Err(err(at("condition:"), "condition must be a string".into())),
            }
            continue;
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || is_keyword(name) {
            return Err(err(at(&format!("{name}:")), format!("`{name}` is not a valid selection name")));
        }
        let sel = parse_selection(value).map_err(|(needle, reason)| {
            let line = if needle.is_empty() { at(&format!("{name}:")) } else { at(&needle) };
            err(line, format!("selection `{name}`: {reason}"))
        })?;
        names.push(name.clone());
        selections.push(sel);
    }
    if selections.is_empty() {
        return Err(err(at("detection:"), "detection needs at least one named selection".into()));
    }
    let condition_text = condition_text.ok_or_else(|| err(at("detection:"), "detection needs a `condition`".into()))?;
    let condition = parse_condition(&condition_text, &names).map_err(|reason| err(at("condition:"), reason))?;
    let sel_index = |n: &str, key: &str| {
        names.iter().position(|x| x == n).ok_or_else(|| err(at(key), format!("no selection named `{n}`")))
    };
    let correlation = match raw.correlation {
        None => Correlation::None,
        Some(c) => {
            let group = c
                .group_by
                .iter()
                .map(|g| match Field::parse(g) {
                    Some(f) if f.groupable() => Ok(f),
                    _ => Err(err(at("group_by"), format!("`{g}` cannot be grouped by"))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            if group.len() > 3 {
                return Err(err(at("group_by"), "group_by takes at most three fields".into()));
            }
            let window = || -> Result<i64, RuleError> {
                let t = c.timespan.as_deref().ok_or_else(|| err(at("type:"), "timespan is required".into()))?;
                parse_span(t)
                    .ok_or_else(|| err(at("timespan:"), format!("`{t}` is not a timespan like 30s, 10m, 2h, 1d")))
            };
            let gte = || -> Result<u64, RuleError> {
                match c.gte {
                    Some(n) if n >= 1 => Ok(n),
                    Some(_) => Err(err(at("gte:"), "gte must be at least 1".into())),
                    None => Err(err(at("type:"), "gte is required".into())),
                }
            };
            match c.kind.as_str() {
                "event_count" => Correlation::EventCount { group, window: window()?, gte: gte()? },
                "value_count" => {
                    let f = c.field.as_deref().ok_or_else(|| err(at("type:"), "value_count needs a field".into()))?;
                    let field = Field::parse(f)
                        .filter(|f| f.groupable())
                        .ok_or_else(|| err(at("field:"), format!("`{f}` cannot be counted")))?;
                    Correlation::ValueCount { group, window: window()?, field, gte: gte()? }
                }
                "temporal" => {
                    let steps =
                        c.sequence.as_ref().ok_or_else(|| err(at("type:"), "temporal needs a sequence".into()))?;
                    if steps.len() != 2 {
                        return Err(err(at("sequence:"), "a sequence has exactly two steps".into()));
                    }
                    let distinct = c
                        .distinct
                        .iter()
                        .map(|g| {
                            Field::parse(g)
                                .filter(|f| f.groupable())
                                .ok_or_else(|| err(at("distinct"), format!("`{g}` cannot be compared")))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    if steps[0].gte == 0 {
                        return Err(err(at("sequence:"), "a step's gte must be at least 1".into()));
                    }
                    Correlation::Temporal {
                        group,
                        window: window()?,
                        first: sel_index(&steps[0].selection, "sequence:")?,
                        first_gte: steps[0].gte,
                        then: sel_index(&steps[1].selection, "sequence:")?,
                        distinct,
                    }
                }
                "absence" => {
                    let f =
                        c.followed_by.as_deref().ok_or_else(|| err(at("type:"), "absence needs followed_by".into()))?;
                    Correlation::Absence { group, window: window()?, follow: sel_index(f, "followed_by:")? }
                }
                "baseline" => {
                    let f = c.feature.as_deref().ok_or_else(|| err(at("type:"), "baseline needs a feature".into()))?;
                    let feature =
                        Feature::parse(f).ok_or_else(|| err(at("feature:"), format!("unknown feature `{f}`")))?;
                    let own_z = c.own_z.unwrap_or(6.0);
                    let peer_z = c.peer_z.unwrap_or(6.0);
                    if !(own_z.is_finite() && peer_z.is_finite() && own_z > 0.0 && peer_z >= 0.0) {
                        return Err(err(at("_z:"), "own_z must be positive and peer_z not negative".into()));
                    }
                    let min_value = c.min_value.unwrap_or(1.0);
                    if !min_value.is_finite() {
                        return Err(err(at("min_value:"), "min_value must be a number".into()));
                    }
                    Correlation::Baseline { feature, own_z, peer_z, min_value, min_history: c.min_history.unwrap_or(8) }
                }
                other => {
                    return Err(err(
                        at("type:"),
                        format!(
                            "unknown correlation type `{other}` (event_count, value_count, temporal, absence, baseline)"
                        ),
                    ));
                }
            }
        }
    };
    Ok(Rule {
        id: raw.id,
        title: raw.title,
        description: raw.description,
        level: raw.level,
        category: raw.category,
        attack: raw.attack,
        tags: raw.tags,
        explain: raw.explain,
        source: file.to_string(),
        summary: raw.summary,
        names,
        selections,
        condition,
        correlation,
    })
}

fn is_keyword(s: &str) -> bool {
    matches!(s, "and" | "or" | "not")
}

/// `30s`, `10m`, `2h`, `1d` in microseconds.
pub(crate) fn parse_span(s: &str) -> Option<i64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = num.parse().ok().filter(|n| *n > 0)?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(secs)?.checked_mul(1_000_000)
}

/// Parses a selection; errors carry a needle to find the line by.
fn parse_selection(v: &Value) -> Result<Selection, (String, String)> {
    let maps: Vec<&serde_norway::Mapping> = match v {
        Value::Mapping(m) => vec![m],
        Value::Sequence(items) => items
            .iter()
            .map(|i| match i {
                Value::Mapping(m) => Ok(m),
                _ => Err((String::new(), "a list of selections must hold maps".to_string())),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err((String::new(), "a selection is a map of field: value (or a list of such maps)".into())),
    };
    if maps.is_empty() {
        return Err((String::new(), "a selection may not be empty".into()));
    }
    let mut alternatives = Vec::new();
    for m in maps {
        if m.is_empty() {
            return Err((String::new(), "a selection may not be empty".into()));
        }
        let mut conds = Vec::new();
        for (k, val) in m {
            let key = k.as_str().ok_or_else(|| (String::new(), "field names must be strings".to_string()))?;
            let (fname, modifier) = key.split_once('|').unwrap_or((key, ""));
            let field = Field::parse(fname)
                .ok_or_else(|| (key.to_string(), format!("unknown field `{fname}` (known: {})", known_fields())))?;
            let op = match modifier {
                "" => Op::Eq,
                "contains" => Op::Contains,
                "startswith" => Op::StartsWith,
                "endswith" => Op::EndsWith,
                "gte" => Op::Gte,
                "lte" => Op::Lte,
                m => return Err((key.to_string(), format!("unknown modifier `{m}`"))),
            };
            let items: Vec<&Value> = match val {
                Value::Sequence(s) => s.iter().collect(),
                other => vec![other],
            };
            if items.is_empty() {
                return Err((key.to_string(), "an empty list matches nothing".into()));
            }
            let mut values = Vec::new();
            for item in items {
                let lit = match (field.ty(), item) {
                    (FieldType::Str, Value::String(s)) => Lit::Str(s.to_ascii_lowercase()),
                    (FieldType::Str, Value::Number(n)) => Lit::Str(n.to_string()),
                    (FieldType::Num, Value::Number(n)) => {
                        Lit::Num(n.as_f64().ok_or_else(|| (key.to_string(), "not a number".to_string()))?)
                    }
                    (FieldType::Bool, Value::Bool(b)) => Lit::Bool(*b),
                    (t, _) => {
                        return Err((key.to_string(), format!("`{fname}` takes {} values", type_name(t))));
                    }
                };
                values.push(lit);
            }
            let numeric_op = matches!(op, Op::Gte | Op::Lte);
            let string_op = matches!(op, Op::Contains | Op::StartsWith | Op::EndsWith);
            if (numeric_op && field.ty() != FieldType::Num) || (string_op && field.ty() != FieldType::Str) {
                return Err((key.to_string(), format!("modifier `{modifier}` does not apply to `{fname}`")));
            }
            conds.push(Cond { field, op, values });
        }
        // Event-level conditions first: they are cheaper and usually decide.
        conds.sort_by_key(|c| c.field.per_patient());
        alternatives.push(conds);
    }
    Ok(Selection { alternatives })
}

fn type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::Str => "string",
        FieldType::Num => "number",
        FieldType::Bool => "true/false",
    }
}

fn known_fields() -> String {
    Field::ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// Parses `a and not (b or c)`: `not` binds tighter than `and`, `and` than `or`.
fn parse_condition(text: &str, names: &[String]) -> Result<Expr, String> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' || c == ')' {
            tokens.push(c.to_string());
            chars.next();
        } else if c.is_ascii_alphanumeric() || c == '_' {
            let mut end = i;
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_alphanumeric() || d == '_' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            tokens.push(text[i..end].to_string());
        } else {
            return Err(format!("unexpected `{c}` in condition"));
        }
    }
    let mut p = CondParser { tokens, pos: 0, names };
    let e = p.or()?;
    if p.pos != p.tokens.len() {
        return Err(format!("unexpected `{}` in condition", p.tokens[p.pos]));
    }
    Ok(e)
}

struct CondParser<'a> {
    tokens: Vec<String>,
    pos: usize,
    names: &'a [String],
}

impl CondParser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.pos).map(String::as_str)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek() == Some("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.not()?;
        while self.peek() == Some("and") {
            self.pos += 1;
            let right = self.not()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.peek() == Some("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, String> {
        let Some(t) = self.peek().map(str::to_string) else {
            return Err("the condition ends too early".into());
        };
        self.pos += 1;
        if t == "(" {
            let e = self.or()?;
            if self.peek() != Some(")") {
                return Err("missing `)` in condition".into());
            }
            self.pos += 1;
            return Ok(e);
        }
        if t == ")" || is_keyword(&t) {
            return Err(format!("unexpected `{t}` in condition"));
        }
        self.names
            .iter()
            .position(|n| *n == t)
            .map(Expr::Sel)
            .ok_or_else(|| format!("the condition names `{t}`, which is not a selection"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const GOOD: &str = "id: t.one\ntitle: T\nlevel: low\ncategory: credential\nattack: x\ndetection:\n  a:\n    action: auth.login\n  b:\n    outcome: [denied, failed]\n  condition: a and not (b)\n";

    #[test]
    fn default_rules_load() {
        let set = RuleSet::defaults().unwrap();
        assert_eq!(set.rules.len(), DEFAULT_RULES.len());
    }

    #[test]
    fn parses_a_rule() {
        let r = parse_rule("good.yaml", GOOD).unwrap();
        assert_eq!(r.names, ["a", "b"]);
        assert!(matches!(r.condition, Expr::And(..)));
    }

    #[test]
    fn errors_name_file_and_line() {
        let bad = GOOD.replace("action: auth.login", "acton: auth.login");
        let e = parse_rule("bad.yaml", &bad).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("bad.yaml", 8), "{e}");
        assert!(e.reason.contains("unknown field `acton`"), "{e}");

        let e = parse_rule("c.yaml", &GOOD.replace("a and not (b)", "a and c")).unwrap_err();
        assert_eq!(e.line, 11, "{e}");
        assert!(e.reason.contains("`c`"));

        let e = parse_rule("y.yaml", &GOOD.replace("level: low", "level: [low")).unwrap_err();
        assert!(e.line >= 3, "{e}");

        let e = parse_rule("l.yaml", &GOOD.replace("level: low", "level: loud")).unwrap_err();
        assert_eq!(e.line, 3, "{e}");

        let with_corr = format!("{GOOD}correlation:\n  type: event_count\n  timespan: 10x\n  gte: 3\n");
        let e = parse_rule("s.yaml", &with_corr).unwrap_err();
        assert_eq!(e.line, 14, "{e}");
        assert_eq!(e.to_string(), "s.yaml:14: `10x` is not a timespan like 30s, 10m, 2h, 1d");
    }

    #[test]
    fn rejects_type_mismatch_and_duplicates() {
        let bad = GOOD.replace("action: auth.login", "patient.vip: yes please");
        assert!(parse_rule("t.yaml", &bad).unwrap_err().reason.contains("true/false"));
        let e = RuleSet::from_sources([("a.yaml".into(), GOOD.into()), ("b.yaml".into(), GOOD.into())]).unwrap_err();
        assert_eq!(e.file, "b.yaml");
    }

    proptest::proptest! {
        /// The loader refuses garbage with a line inside the text and never panics.
        #[test]
        fn loader_never_panics(text in "\\PC{0,400}") {
            if let Err(e) = parse_rule("p.yaml", &text) {
                proptest::prop_assert!(e.line >= 1 && e.line <= text.lines().count().max(1) + 1);
            }
        }

        /// Cutting or corrupting a shipped rule anywhere gives an error or a rule, never a panic.
        #[test]
        fn mutated_rules_never_panic(which in 0..DEFAULT_RULES.len(), at in 0usize..2000, byte in proptest::prelude::any::<u8>()) {
            let mut text = DEFAULT_RULES[which].1.as_bytes().to_vec();
            let at = at % text.len();
            text[at] = byte;
            let text = String::from_utf8_lossy(&text).into_owned();
            let _ = parse_rule("m.yaml", &text);
            let _ = parse_rule("m.yaml", &text[..text.char_indices().nth(at / 2).map_or(0, |(i, _)| i)]);
        }
    }

    #[test]
    fn spans() {
        assert_eq!(parse_span("10m"), Some(600_000_000));
        assert_eq!(parse_span("1d"), Some(86_400_000_000));
        assert_eq!(parse_span("0s"), None);
        assert_eq!(parse_span("m"), None);
        assert_eq!(span_text(600_000_000), "10 min");
    }
}
