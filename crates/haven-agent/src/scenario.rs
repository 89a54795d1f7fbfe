//! Scenarios: conversations an operator writes as data (YAML), validated
//! when loaded, run one user message at a time.
//!
//! A scenario is a list of steps. Each step does one thing: `say` a
//! message, `ask` a question and wait for the reply (`expect` says what
//! kind of answer, `into` names the variable it fills), or `call` a tool
//! (`with` its arguments, `into` its result). Any step may have an `if`
//! condition (skipped when false), a `goto` (jump after it) or `end`.
//! Messages are templates: `{{var}}`, `{{var.field}}`; `{{list.lines}}`
//! numbers a list's labels one per line.
//!
//! ```yaml
//! id: book-appointment
//! title: Book an appointment
//! roles: [patient]
//! start: { keywords: ["book", "appointment"] }
//! steps:
//!   - call: specialties
//!     into: specialties
//!   - ask: "Which kind of care? ({{specialties.joined}})"
//!     expect: one_of(specialties)
//!     into: specialty
//!     skip_if_set: true
//!   - say: "Looking for {{specialty}}."
//!     end: true
//! ```

use std::collections::{BTreeMap, HashSet};

use haven_core::Role;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::Date;

use crate::extract::{self, Expect};

/// Steps a scenario may run for one message at most (a `goto` loop guard).
const MAX_STEPS_PER_TURN: usize = 64;

/// How many times a question is asked again when the reply does not answer it.
const MAX_RETRIES: u8 = 2;

/// The tools a scenario can call. The server implements the FHIR ones,
/// acting for the signed-in user through the same authorization and audit
/// path as every other request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tool {
    /// The specialties offered (strings).
    Specialties,
    /// Free slots: `specialty`, `when` (a date range) → a list with `label`, `id`.
    FindSlots,
    /// Books a slot for the signed-in patient: `slot` → `{id, label}`.
    BookSlot,
    /// The signed-in patient's upcoming appointments → list with `label`, `id`.
    ListAppointments,
    /// Cancels one of them: `appointment` → `{id, label}`.
    CancelAppointment,
    /// Patients the signed-in clinician cares for → list with `label`, `id`.
    MyPatients,
    /// Facts from a patient's record: `patient`, `kind` → list with `label`, `reference`.
    RecordFacts,
    /// An answer from the knowledge base: `question` → `{reply, citations, grounded}`.
    Answer,
    /// A triage disposition for a symptom description: `text` → `{level, advice, reason}`.
    Triage,
}

impl Tool {
    /// The arguments the tool takes (all required).
    pub fn params(self) -> &'static [&'static str] {
        match self {
            Tool::Specialties | Tool::ListAppointments | Tool::MyPatients => &[],
            Tool::FindSlots => &["specialty", "when"],
            Tool::BookSlot => &["slot"],
            Tool::CancelAppointment => &["appointment"],
            Tool::RecordFacts => &["patient", "kind"],
            Tool::Answer => &["question"],
            Tool::Triage => &["text"],
        }
    }

    fn parse(s: &str) -> Option<Tool> {
        serde_json::from_value(Value::String(s.to_string())).ok()
    }
}

/// A tool failed; the reason is shown to the user, so it never holds PHI.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct ToolError(pub String);

/// Executes tool calls for a scenario.
#[async_trait::async_trait]
pub trait Tools: Send + Sync {
    /// Calls `tool` with `args`.
    async fn call(&self, tool: Tool, args: &Map<String, Value>) -> Result<Value, ToolError>;
}

/// A scenario file that does not make sense; names the file, the step and why.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("scenario {file}{}: {reason}", step.as_ref().map(|s| format!(", step {s}")).unwrap_or_default())]
pub struct ScenarioError {
    /// The file (or name) it came from.
    pub file: String,
    /// The step (its id or 1-based number), if the problem is in one.
    pub step: Option<String>,
    /// What is wrong.
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDef {
    id: String,
    title: String,
    #[serde(default)]
    description: String,
    roles: Vec<String>,
    #[serde(default)]
    visitors: bool,
    #[serde(default)]
    start: StartDef,
    steps: Vec<StepDef>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartDef {
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    symptoms: bool,
    #[serde(default)]
    fallback: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepDef {
    #[serde(default)]
    id: Option<String>,
    #[serde(default, rename = "if")]
    condition: Option<String>,
    #[serde(default)]
    say: Option<String>,
    #[serde(default)]
    ask: Option<String>,
    #[serde(default)]
    expect: Option<String>,
    #[serde(default)]
    into: Option<String>,
    #[serde(default)]
    skip_if_set: bool,
    #[serde(default)]
    call: Option<String>,
    #[serde(default)]
    with: BTreeMap<String, String>,
    #[serde(default, rename = "let")]
    set: BTreeMap<String, Value>,
    #[serde(default)]
    goto: Option<String>,
    #[serde(default)]
    end: bool,
}

/// A condition: `var`, `not var`, `var.empty`, `var == "text"`; `var` may
/// be a path into an object (`info.grounded`).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Condition {
    Set(String),
    Not(Box<Condition>),
    Empty(String),
    Equals(String, String),
}

impl Condition {
    fn parse(s: &str) -> Option<Condition> {
        let s = s.trim();
        if let Some(rest) = s.strip_prefix("not ") {
            return Some(Condition::Not(Box::new(Condition::parse(rest)?)));
        }
        let path_ok = |p: &str| p.trim().split('.').all(extract::valid_var);
        if let Some((var, lit)) = s.split_once("==") {
            let lit = lit.trim();
            let lit = lit.strip_prefix('"').and_then(|l| l.strip_suffix('"'))?;
            return path_ok(var).then(|| Condition::Equals(var.trim().into(), lit.into()));
        }
        if let Some(var) = s.strip_suffix(".empty") {
            return path_ok(var).then(|| Condition::Empty(var.into()));
        }
        path_ok(s).then(|| Condition::Set(s.into()))
    }

    /// The variable the condition reads (the first part of its path).
    fn var(&self) -> &str {
        match self {
            Condition::Set(v) | Condition::Empty(v) | Condition::Equals(v, _) => v.split('.').next().unwrap_or(v),
            Condition::Not(c) => c.var(),
        }
    }

    fn holds(&self, vars: &Map<String, Value>) -> bool {
        let get = |path: &str| {
            let mut parts = path.split('.');
            let mut v = vars.get(parts.next()?)?;
            for p in parts {
                v = v.get(p)?;
            }
            Some(v)
        };
        match self {
            Condition::Set(v) => get(v).is_some_and(truthy),
            Condition::Not(c) => !c.holds(vars),
            Condition::Empty(v) => !get(v).is_some_and(truthy),
            Condition::Equals(v, lit) => get(v).and_then(Value::as_str) == Some(lit.as_str()),
        }
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Array(a) => !a.is_empty(),
        Value::String(s) => !s.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Number(_) => true,
    }
}

#[derive(Clone, Debug)]
enum Action {
    Say(String),
    Ask { prompt: String, expect: Expect, into: String, skip_if_set: bool },
    Call { tool: Tool, args: Vec<(String, String)>, into: Option<String> },
    Set(Vec<(String, Value)>),
    Nothing,
}

#[derive(Clone, Debug)]
struct Step {
    id: String,
    condition: Option<Condition>,
    action: Action,
    goto: Option<usize>,
    end: bool,
}

/// A validated scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// What it does, for operators.
    pub description: String,
    /// Roles it serves.
    pub roles: Vec<Role>,
    /// Phrases (lower case) that start it.
    pub keywords: Vec<String>,
    /// Whether it also starts when a message reports a symptom (triage).
    pub on_symptoms: bool,
    /// Whether it answers messages no other scenario takes.
    pub fallback: bool,
    /// Whether visitors without an account may use it.
    pub visitors: bool,
    steps: Vec<Step>,
}

/// The scenarios Haven ships, in the order they are tried.
pub const BUILTIN: &[(&str, &str)] = &[
    ("patient-record.yaml", include_str!("../scenarios/patient-record.yaml")),
    ("cancel-appointment.yaml", include_str!("../scenarios/cancel-appointment.yaml")),
    ("book-appointment.yaml", include_str!("../scenarios/book-appointment.yaml")),
    ("my-appointments.yaml", include_str!("../scenarios/my-appointments.yaml")),
    ("symptom-triage.yaml", include_str!("../scenarios/symptom-triage.yaml")),
    ("knowledge-qa.yaml", include_str!("../scenarios/knowledge-qa.yaml")),
];

/// The shipped scenarios, parsed (they are tested, so an error here is a build defect).
pub fn builtin() -> Result<Vec<Scenario>, ScenarioError> {
    BUILTIN.iter().map(|(file, yaml)| Scenario::parse(file, yaml)).collect()
}

/// Loads every `*.yaml` file of a directory (sorted by name); the first
/// invalid one stops loading with its error.
pub fn load_dir(dir: &std::path::Path) -> Result<Vec<Scenario>, ScenarioError> {
    let err = |reason: String| ScenarioError { file: dir.display().to_string(), step: None, reason };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| err(e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let name = f.display().to_string();
            let text = std::fs::read_to_string(f).map_err(|e| ScenarioError {
                file: name.clone(),
                step: None,
                reason: e.to_string(),
            })?;
            Scenario::parse(&name, &text)
        })
        .collect()
}

/// Variables every scenario has: the message that started it and the user's role.
pub const BUILTIN_VARS: &[&str] = &["message", "role"];

impl Scenario {
    /// Parses and validates a scenario; `file` names it in errors.
    pub fn parse(file: &str, yaml: &str) -> Result<Scenario, ScenarioError> {
        let err = |step: Option<String>, reason: String| ScenarioError { file: file.to_string(), step, reason };
        let def: FileDef = serde_norway::from_str(yaml).map_err(|e| err(None, e.to_string()))?;
        if def.id.is_empty() || !def.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(err(None, "id must be lower-case letters, digits and dashes".into()));
        }
        if def.title.trim().is_empty() {
            return Err(err(None, "title is empty".into()));
        }
        let mut roles = Vec::new();
        for r in &def.roles {
            roles.push(r.parse::<Role>().map_err(|e| err(None, e.to_string()))?);
        }
        if roles.is_empty() {
            return Err(err(None, "roles is empty: name the roles this scenario serves".into()));
        }
        if def.steps.is_empty() {
            return Err(err(None, "it has no steps".into()));
        }
        let names: Vec<String> =
            def.steps.iter().enumerate().map(|(i, s)| s.id.clone().unwrap_or_else(|| (i + 1).to_string())).collect();
        let mut seen = HashSet::new();
        for n in &names {
            if !seen.insert(n) {
                return Err(err(Some(n.clone()), "two steps have this id".into()));
            }
        }
        // Every variable some step fills; a template or condition may only use these.
        let mut known: HashSet<String> = BUILTIN_VARS.iter().map(|s| s.to_string()).collect();
        for s in &def.steps {
            if let Some(v) = &s.into {
                known.insert(v.clone());
            }
            known.extend(s.set.keys().cloned());
        }
        let mut steps = Vec::with_capacity(def.steps.len());
        for (s, name) in def.steps.into_iter().zip(&names) {
            let at = |reason: String| err(Some(name.clone()), reason);
            let condition = match &s.condition {
                Some(c) => {
                    let c = Condition::parse(c).ok_or_else(|| at(format!("cannot read the condition {c:?}")))?;
                    if !known.contains(c.var()) {
                        return Err(at(format!("the condition uses {}, which no step sets", c.var())));
                    }
                    Some(c)
                }
                None => None,
            };
            let kinds = usize::from(s.say.is_some())
                + usize::from(s.ask.is_some())
                + usize::from(s.call.is_some())
                + usize::from(!s.set.is_empty());
            if kinds > 1 {
                return Err(at("a step does one of say, ask, call or let".into()));
            }
            let check_template = |t: &str| -> Result<(), ScenarioError> {
                for var in template_vars(t) {
                    if !known.contains(&var) {
                        return Err(at(format!("the message uses {{{{{var}}}}}, which no step sets")));
                    }
                }
                Ok(())
            };
            let action = if let Some(text) = s.say {
                check_template(&text)?;
                Action::Say(text)
            } else if let Some(prompt) = s.ask {
                check_template(&prompt)?;
                let e = s.expect.ok_or_else(|| at("ask needs expect (what kind of answer)".into()))?;
                let expect = Expect::parse(&e).ok_or_else(|| {
                    at(format!("unknown expect {e:?}: text, yes_no, date_range, choice(var), one_of(var)"))
                })?;
                if let Some(v) = expect.options_var()
                    && !known.contains(v)
                {
                    return Err(at(format!("expect takes its options from {v}, which no step sets")));
                }
                let into = s.into.ok_or_else(|| at("ask needs into (the variable for the answer)".into()))?;
                if !extract::valid_var(&into) {
                    return Err(at(format!("{into:?} is not a variable name")));
                }
                Action::Ask { prompt, expect, into, skip_if_set: s.skip_if_set }
            } else if let Some(c) = s.call {
                let tool = Tool::parse(&c).ok_or_else(|| at(format!("unknown tool {c:?}")))?;
                for p in tool.params() {
                    if !s.with.contains_key(*p) {
                        return Err(at(format!("{c} needs the argument {p}")));
                    }
                }
                let mut args = Vec::new();
                for (k, v) in s.with {
                    if !tool.params().contains(&k.as_str()) {
                        return Err(at(format!("{c} takes no argument {k}")));
                    }
                    // A variable name, or a quoted literal.
                    let literal = v.len() >= 2 && v.starts_with('"') && v.ends_with('"');
                    if !literal && !known.contains(&v) {
                        return Err(at(format!("argument {k} uses {v}, which no step sets (quote literals)")));
                    }
                    args.push((k, v));
                }
                if let Some(v) = &s.into
                    && !extract::valid_var(v)
                {
                    return Err(at(format!("{v:?} is not a variable name")));
                }
                Action::Call { tool, args, into: s.into }
            } else if !s.set.is_empty() {
                for k in s.set.keys() {
                    if !extract::valid_var(k) {
                        return Err(at(format!("{k:?} is not a variable name")));
                    }
                }
                Action::Set(s.set.into_iter().collect())
            } else {
                if s.goto.is_none() && !s.end {
                    return Err(at("the step does nothing: give it say, ask, call, let, goto or end".into()));
                }
                Action::Nothing
            };
            let goto = match &s.goto {
                Some(g) => {
                    Some(names.iter().position(|n| n == g).ok_or_else(|| at(format!("goto {g}: no such step")))?)
                }
                None => None,
            };
            steps.push(Step { id: name.clone(), condition, action, goto, end: s.end });
        }
        Ok(Scenario {
            id: def.id,
            title: def.title,
            description: def.description,
            roles,
            keywords: def.start.keywords.iter().map(|k| k.to_lowercase()).collect(),
            on_symptoms: def.start.symptoms,
            fallback: def.start.fallback,
            visitors: def.visitors,
            steps,
        })
    }

    /// Whether `message` starts this scenario for a user in `role`: one of
    /// its keywords appears in the message as whole words.
    pub fn starts_on(&self, role: Role, message: &str) -> bool {
        self.roles.contains(&role) && self.starts_on_words(message)
    }

    /// Whether one of the keywords appears in `message` as whole words.
    pub fn starts_on_words(&self, message: &str) -> bool {
        let m = message.to_lowercase();
        self.keywords.iter().any(|k| has_phrase(&m, k))
    }

    /// The state of a new run started by `message`. Questions marked
    /// `skip_if_set` whose answer is already in the message (a date, a
    /// specialty) are filled now, so the user is not asked again.
    pub fn begin(&self, message: &str, role: Role) -> ScenarioState {
        let mut vars = Map::new();
        vars.insert("message".into(), Value::String(message.to_string()));
        vars.insert("role".into(), Value::String(role.as_str().to_string()));
        ScenarioState { scenario: self.id.clone(), step: 0, vars, awaiting: false, retries: 0, prefill: true }
    }

    /// Runs the scenario with one user message until it asks something or
    /// ends. `today` anchors relative dates.
    pub async fn step(
        &self,
        state: &mut ScenarioState,
        message: &str,
        today: Date,
        tools: &dyn Tools,
    ) -> Result<TurnOutput, ToolError> {
        let mut out = TurnOutput::default();
        if state.awaiting {
            let Some(Step { action: Action::Ask { prompt, expect, into, .. }, .. }) = self.steps.get(state.step) else {
                state.awaiting = false;
                out.done = true;
                return Ok(out);
            };
            let options = expect.options_var().and_then(|v| state.vars.get(v));
            match extract::extract(expect, message, today, options) {
                Some(v) => {
                    state.vars.insert(into.clone(), v);
                    state.awaiting = false;
                    state.retries = 0;
                    state.step += 1;
                }
                None if state.retries < MAX_RETRIES => {
                    state.retries += 1;
                    out.say.push(format!("Sorry, I did not understand. {}", render(prompt, &state.vars)));
                    return Ok(out);
                }
                None => {
                    out.say.push("Let's stop here; you can start again at any time.".into());
                    out.done = true;
                    return Ok(out);
                }
            }
        }
        let mut ran = 0;
        while let Some(step) = self.steps.get(state.step) {
            ran += 1;
            if ran > MAX_STEPS_PER_TURN {
                out.say.push("Something went wrong in this conversation; please start again.".into());
                out.done = true;
                return Ok(out);
            }
            if step.condition.as_ref().is_some_and(|c| !c.holds(&state.vars)) {
                state.step += 1;
                continue;
            }
            match &step.action {
                Action::Say(t) => out.say.push(render(t, &state.vars)),
                Action::Ask { prompt, expect, into, skip_if_set } => {
                    if *skip_if_set {
                        if state.vars.get(into).is_some_and(truthy) {
                            state.step += 1;
                            continue;
                        }
                        if state.prefill {
                            let first =
                                state.vars.get("message").and_then(Value::as_str).unwrap_or_default().to_string();
                            let options = expect.options_var().and_then(|v| state.vars.get(v));
                            // Free text is never taken from the opening message.
                            if *expect != Expect::Text
                                && let Some(v) = extract::extract(expect, &first, today, options)
                            {
                                state.vars.insert(into.clone(), v);
                                state.step += 1;
                                continue;
                            }
                        }
                    }
                    out.say.push(render(prompt, &state.vars));
                    state.awaiting = true;
                    return Ok(out);
                }
                Action::Call { tool, args, into } => {
                    let mut a = Map::new();
                    for (k, v) in args {
                        let value = match v.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
                            Some(lit) => Value::String(lit.to_string()),
                            None => state.vars.get(v).cloned().unwrap_or(Value::Null),
                        };
                        a.insert(k.clone(), value);
                    }
                    let result = tools.call(*tool, &a).await?;
                    out.calls.push(ToolCall { tool: *tool, step: step.id.clone(), result: result.clone() });
                    if let Some(v) = into {
                        state.vars.insert(v.clone(), result);
                    }
                }
                Action::Set(values) => {
                    for (k, v) in values {
                        state.vars.insert(k.clone(), v.clone());
                    }
                }
                Action::Nothing => {}
            }
            if step.end {
                out.done = true;
                state.step = self.steps.len();
                return Ok(out);
            }
            state.step = step.goto.unwrap_or(state.step + 1);
            if let Some(target) = step.goto {
                // Jumping to a question asks it again, and the opening
                // message has been used up.
                state.prefill = false;
                if let Some(Step { action: Action::Ask { into, .. }, .. }) = self.steps.get(target) {
                    state.vars.remove(into);
                }
            }
        }
        out.done = true;
        Ok(out)
    }
}

/// Where a conversation is in a scenario; stored with the conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioState {
    /// The scenario's id.
    pub scenario: String,
    /// The step to run (or whose answer is awaited).
    pub step: usize,
    /// Variables.
    pub vars: Map<String, Value>,
    /// Whether the step's question awaits an answer.
    pub awaiting: bool,
    /// Times the current question was asked again.
    pub retries: u8,
    /// Whether questions may still be answered from the opening message.
    pub prefill: bool,
}

/// A tool call made during a turn, with its result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The tool.
    pub tool: Tool,
    /// The step that called it.
    pub step: String,
    /// What it returned.
    pub result: Value,
}

/// What one message produced.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TurnOutput {
    /// Messages to the user, in order.
    pub say: Vec<String>,
    /// Tool calls made.
    pub calls: Vec<ToolCall>,
    /// Whether the scenario ended.
    pub done: bool,
}

fn has_phrase(text: &str, phrase: &str) -> bool {
    text.match_indices(phrase).any(|(i, m)| {
        !text[..i].chars().next_back().is_some_and(char::is_alphanumeric)
            && !text[i + m.len()..].chars().next().is_some_and(char::is_alphanumeric)
    })
}

/// The variables a template names (`{{a}}`, `{{a.b}}` → `a`).
fn template_vars(t: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = t;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else { break };
        let path = after[..j].trim();
        out.push(path.split('.').next().unwrap_or_default().to_string());
        rest = &after[j + 2..];
    }
    out
}

/// Fills a template. `{{x}}` prints a string, number or an object's
/// `label`; `{{x.field}}` a field; `{{x.lines}}` a list as numbered lines;
/// `{{x.joined}}` a list as "a, b and c"; `{{x.count}}` its length.
pub fn render(t: &str, vars: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(t.len());
    let mut rest = t;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else {
            out.push_str(&rest[i..]);
            return out;
        };
        let mut path = after[..j].trim().split('.');
        let var = path.next().unwrap_or_default();
        let value = vars.get(var).cloned().unwrap_or(Value::Null);
        let text = match path.next() {
            None => show(&value),
            Some("lines") => list(&value)
                .iter()
                .enumerate()
                .map(|(n, v)| format!("{}. {}", n + 1, show(v)))
                .collect::<Vec<_>>()
                .join("\n"),
            Some("joined") => joined(&list(&value).iter().map(show).collect::<Vec<_>>()),
            Some("count") => list(&value).len().to_string(),
            Some(field) => show(value.get(field).unwrap_or(&Value::Null)),
        };
        out.push_str(&text);
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    out
}

fn list(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::Object(o) => o.get("label").map(show).unwrap_or_default(),
        Value::Array(a) => joined(&a.iter().map(show).collect::<Vec<_>>()),
        Value::Null => String::new(),
    }
}

fn joined(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;
    use time::macros::date;

    const BOOK: &str = r#"
id: book
title: Book
roles: [patient]
start: { keywords: ["book", "appointment"] }
steps:
  - call: specialties
    into: specialties
  - id: which
    ask: "Which kind of care? ({{specialties.joined}})"
    expect: one_of(specialties)
    into: specialty
    skip_if_set: true
  - id: when
    ask: "When?"
    expect: date_range
    into: when
    skip_if_set: true
  - call: find_slots
    with: { specialty: specialty, when: when }
    into: slots
  - if: slots.empty
    say: "Nothing free {{when.label}}."
    goto: when
  - id: pick
    ask: "Free times:\n{{slots.lines}}\nWhich one?"
    expect: choice(slots)
    into: slot
  - id: confirm
    ask: "Book {{slot}}?"
    expect: yes_no
    into: ok
  - if: not ok
    say: "Nothing was booked."
    end: true
  - call: book_slot
    with: { slot: slot }
    into: booking
  - say: "Booked {{booking.label}} ({{booking.id}})."
    end: true
"#;

    struct Fake;

    #[async_trait::async_trait]
    impl Tools for Fake {
        async fn call(&self, tool: Tool, args: &Map<String, Value>) -> Result<Value, ToolError> {
            Ok(match tool {
                Tool::Specialties => json!(["Cardiology", "Family Medicine"]),
                Tool::FindSlots if args["when"]["label"] == "tomorrow" => json!([]),
                Tool::FindSlots => json!([{"id": "s1", "label": "Mon 09:00"}, {"id": "s2", "label": "Tue 10:00"}]),
                Tool::BookSlot => json!({"id": "a1", "label": args["slot"]["label"]}),
                _ => return Err(ToolError("not here".into())),
            })
        }
    }

    const TODAY: Date = date!(2026 - 12 - 02);

    #[tokio::test]
    async fn a_booking_runs_to_the_end_and_fills_from_the_opening_message() {
        let s = Scenario::parse("book.yaml", BOOK).unwrap();
        assert!(s.starts_on(Role::Patient, "I'd like to book a cardiology visit next week"));
        assert!(!s.starts_on(Role::Clinician, "book"));
        assert!(!s.starts_on(Role::Patient, "bookkeeping"));
        let mut st = s.begin("book cardiology next week", Role::Patient);
        let out = s.step(&mut st, "book cardiology next week", TODAY, &Fake).await.unwrap();
        assert_eq!(
            out.say,
            ["Free times:\n1. Mon 09:00\n2. Tue 10:00\nWhich one?"],
            "specialty and date came with the request"
        );
        let out = s.step(&mut st, "the second", TODAY, &Fake).await.unwrap();
        assert_eq!(out.say, ["Book Tue 10:00?"]);
        let out = s.step(&mut st, "yes", TODAY, &Fake).await.unwrap();
        assert_eq!(out.say, ["Booked Tue 10:00 (a1)."]);
        assert!(out.done);
        assert_eq!(out.calls[0].tool, Tool::BookSlot);
    }

    #[tokio::test]
    async fn questions_repeat_then_give_up_and_branches_loop() {
        let s = Scenario::parse("book.yaml", BOOK).unwrap();
        let mut st = s.begin("appointment please", Role::Patient);
        let out = s.step(&mut st, "appointment please", TODAY, &Fake).await.unwrap();
        assert_eq!(out.say, ["Which kind of care? (Cardiology and Family Medicine)"]);
        let out = s.step(&mut st, "family medicine", TODAY, &Fake).await.unwrap();
        assert_eq!(out.say, ["When?"]);
        let out = s.step(&mut st, "tomorrow", TODAY, &Fake).await.unwrap();
        assert_eq!(out.say, ["Nothing free tomorrow.", "When?"], "no slots: back to the date");
        let out = s.step(&mut st, "next week", TODAY, &Fake).await.unwrap();
        assert!(out.say[0].starts_with("Free times"));
        let out = s.step(&mut st, "hmm", TODAY, &Fake).await.unwrap();
        assert!(out.say[0].starts_with("Sorry, I did not understand."));
        s.step(&mut st, "hmm", TODAY, &Fake).await.unwrap();
        let out = s.step(&mut st, "hmm", TODAY, &Fake).await.unwrap();
        assert!(out.done, "gives up after two retries");
    }

    #[test]
    fn invalid_scenarios_name_the_step_and_the_reason() {
        let bad = |yaml: &str| Scenario::parse("x.yaml", yaml).unwrap_err().to_string();
        let head = "id: x\ntitle: X\nroles: [patient]\nsteps:\n";
        assert!(bad(&format!("{head}  - ask: hi\n    into: a\n")).contains("step 1: ask needs expect"));
        assert!(bad(&format!("{head}  - say: hi\n    goto: nowhere\n")).contains("goto nowhere: no such step"));
        assert!(bad(&format!("{head}  - call: launch_rockets\n")).contains("unknown tool"));
        assert!(bad(&format!("{head}  - call: book_slot\n")).contains("needs the argument slot"));
        assert!(bad(&format!("{head}  - say: \"{{{{ghost}}}}\"\n")).contains("which no step sets"));
        assert!(bad(&format!("{head}  - if: \"x ==\"\n    say: a\n")).contains("cannot read the condition"));
        assert!(bad(&format!("{head}  - say: a\n    ask: b\n")).contains("one of say, ask, call or let"));
        assert!(
            bad(&format!("{head}  - id: a\n    say: a\n  - id: a\n    say: b\n")).contains("two steps have this id")
        );
        assert!(bad("id: x\ntitle: X\nroles: [king]\nsteps:\n  - say: a\n").contains("unknown role"));
        assert!(bad("id: x\ntitle: X\nroles: [patient]\nsteps: []\n").contains("no steps"));
        assert!(bad("id: x\ntitle: X\nroles: [patient]\nstepz: []\n").contains("unknown field"));
        assert!(bad(&format!("{head}  - say: a\n    colour: red\n")).contains("unknown field"));
    }

    #[test]
    fn the_shipped_scenarios_are_valid() {
        let all = builtin().unwrap();
        let ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "patient-record",
                "cancel-appointment",
                "book-appointment",
                "my-appointments",
                "symptom-triage",
                "knowledge-qa"
            ]
        );
        assert!(all.iter().filter(|s| s.fallback).count() == 1);
        let book = &all[2];
        assert!(book.starts_on(Role::Patient, "Can you book a cardiology appointment for me?"));
        assert!(!book.starts_on(Role::Patient, "I read a book about diabetes"));
        assert!(!book.visitors, "booking needs an account");
    }

    #[test]
    fn templates() {
        let vars = json!({"a": "x", "l": [{"label": "one"}, {"label": "two"}, "three"], "o": {"id": 7}});
        let vars = vars.as_object().unwrap();
        assert_eq!(render("{{a}}-{{l.joined}}-{{l.count}}-{{o.id}}-{{missing}}", vars), "x-one, two and three-3-7-");
        assert_eq!(render("{{l.lines}}", vars), "1. one\n2. two\n3. three");
        assert_eq!(render("unclosed {{a", vars), "unclosed {{a");
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(y in "\\PC{0,300}") {
            let _ = Scenario::parse("p.yaml", &y);
        }
    }
}
