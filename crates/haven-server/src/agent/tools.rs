//! The assistant's tools: what a scenario may do with the FHIR store, as
//! Haven's assistant acting for the signed-in user. Every read, search and
//! write is decided by Cedar for that delegated principal (the assistant's
//! scopes ∩ the user's rights ∩ consent), and every call leaves an audit
//! record naming the assistant and the user it acted for.

use std::collections::BTreeSet;

use haven_agent::scenario::{Tool, ToolError, Tools};
use haven_audit::{Event, Outcome};
use haven_core::{Principal, ResourceId, ResourceType};
use haven_fhir::search::{Handling, parse_query};
use haven_policy::Action;
use haven_store::{BatchItem, Precondition, Record};
use serde_json::{Map, Value, json};
use time::{Date, OffsetDateTime};

use crate::audit::{AuditTrail, actor_of};
use crate::authz::{self, DecisionFlag};
use crate::{ApiError, AppState, fhir};

/// Options offered at most (free slots, appointments, patients).
const MAX_OPTIONS: usize = 8;

/// Facts of one kind shown at most.
const MAX_FACTS: usize = 15;

/// The tools for one request.
pub struct AgentTools {
    state: AppState,
    user: Principal,
    assistant: Principal,
    trail: AuditTrail,
    request_id: Option<String>,
    source_ip: Option<String>,
    today: Date,
}

impl AgentTools {
    /// Tools acting as `assistant` (which must act for `user`).
    pub fn new(
        state: AppState,
        user: Principal,
        assistant: Principal,
        trail: AuditTrail,
        request_id: Option<String>,
        source_ip: Option<String>,
    ) -> Self {
        let today = OffsetDateTime::now_utc().date();
        AgentTools { state, user, assistant, trail, request_id, source_ip, today }
    }

    async fn require(&self, action: Action, rtype: &str, patient: Option<&str>) -> Result<(), ToolError> {
        let flag = DecisionFlag::default();
        self.state
            .authz()
            .require(self.state.store(), &flag, &self.assistant, action, rtype, patient)
            .await
            .map(drop)
            .map_err(|_| ToolError("that is not something I may do for you".into()))
    }

    async fn allows(&self, action: Action, r: &Record) -> bool {
        let patient = authz::record_patient(r);
        let flag = DecisionFlag::default();
        self.state
            .authz()
            .decide(self.state.store(), &flag, &self.assistant, action, r.meta.rtype.as_str(), patient.as_deref())
            .await
            .is_ok_and(|d| d.allow)
    }

    /// A search as the assistant: only records it may see come back.
    async fn search(&self, rtype: &str, params: &[(&str, String)]) -> Result<Vec<(Record, Value)>, ToolError> {
        let rt = ResourceType::parse(rtype).map_err(|_| internal())?;
        let mut pairs: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        pairs.push(("_count".into(), "200".into()));
        let q = parse_query(rtype, &pairs, Handling::Strict).map_err(|_| internal())?;
        let vis = AsAssistant(self);
        let page = fhir::search(self.state.store(), &rt, &q, Some(&vis)).await.map_err(|_| internal())?;
        let mut out = Vec::with_capacity(page.matches.len());
        for r in page.matches {
            let v = fhir::parse_record(&r).map_err(|_| internal())?;
            out.push((r, v));
        }
        Ok(out)
    }

    async fn read(&self, rtype: &str, id: &str) -> Result<(Record, Value), ToolError> {
        let rt = ResourceType::parse(rtype).map_err(|_| not_found())?;
        let id = ResourceId::parse(id).map_err(|_| not_found())?;
        let r = self.state.store().read(&rt, &id).await.map_err(|_| not_found())?;
        if !self.allows(Action::Read, &r).await {
            return Err(not_found());
        }
        let v = fhir::parse_record(&r).map_err(|_| internal())?;
        Ok((r, v))
    }

    /// One audit record for a tool call, as the assistant acting for the user.
    async fn record(&self, action: &str, tool: Tool, resources: Vec<String>, patients: Vec<String>) {
        for p in &patients {
            self.trail.patient(p);
        }
        let mut e = Event::new(actor_of(&self.assistant), action, Outcome::Success);
        e.purpose = Some(crate::audit::purpose_of(self.user.role).into());
        e.detail = Some(format!("assistant tool {}", tool_name(tool)));
        e.resources = resources;
        e.patients = patients;
        e.request_id = self.request_id.clone();
        e.source_ip = self.source_ip.clone();
        if let Err(err) = self.state.audit().record(e).await {
            tracing::error!(error = %err, "could not record an assistant tool call");
        }
    }

    fn patient_id(&self) -> Result<String, ToolError> {
        self.user
            .patient
            .as_ref()
            .map(|p| p.as_str().to_string())
            .ok_or_else(|| ToolError("only a patient's own account can do that".into()))
    }

    async fn schedules(&self) -> Result<Vec<(Record, Value)>, ToolError> {
        let all = self.search("Schedule", &[]).await?;
        Ok(all.into_iter().filter(|(_, v)| v["active"] != Value::Bool(false)).collect())
    }

    async fn specialties(&self) -> Result<Value, ToolError> {
        let names: BTreeSet<String> = self
            .schedules()
            .await?
            .iter()
            .flat_map(|(_, v)| v["specialty"].as_array().cloned().unwrap_or_default())
            .filter_map(|c| concept_text(&c))
            .collect();
        let refs = vec!["Schedule".to_string()];
        self.record("fhir.search", Tool::Specialties, refs, Vec::new()).await;
        Ok(json!(names.into_iter().collect::<Vec<_>>()))
    }

    async fn find_slots(&self, args: &Map<String, Value>) -> Result<Value, ToolError> {
        let specialty = args.get("specialty").and_then(Value::as_str).unwrap_or_default().to_lowercase();
        let from = field(args, "when", "from").and_then(Value::as_str).unwrap_or_default().to_string();
        let to = field(args, "when", "to").and_then(Value::as_str).unwrap_or_default().to_string();
        if from.is_empty() || to.is_empty() {
            return Err(ToolError("I need a date or a range of dates".into()));
        }
        let now = OffsetDateTime::now_utc();
        let mut options = Vec::new();
        let mut refs = Vec::new();
        for (sched, sv) in self.schedules().await? {
            let offers = sv["specialty"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(concept_text)
                .any(|s| s.to_lowercase() == specialty);
            if !offers {
                continue;
            }
            let who = self.actor_name(&sv).await;
            let params = [
                ("schedule", format!("Schedule/{}", sched.meta.id)),
                ("status", "free".to_string()),
                ("start", format!("ge{from}")),
                ("start", format!("le{to}")),
            ];
            for (slot, v) in self.search("Slot", &params).await? {
                let Some(start) = v["start"].as_str().and_then(parse_instant) else { continue };
                if start <= now {
                    continue;
                }
                refs.push(format!("Slot/{}", slot.meta.id));
                options.push((
                    start,
                    json!({
                        "id": slot.meta.id.as_str(),
                        "label": format!("{} with {who} ({})", when_label(start), title_case(&specialty)),
                        "start": v["start"],
                        "end": v["end"],
                        "schedule": format!("Schedule/{}", sched.meta.id),
                    }),
                ));
            }
        }
        options.sort_by_key(|(t, _)| *t);
        options.truncate(MAX_OPTIONS);
        self.record("fhir.search", Tool::FindSlots, refs, Vec::new()).await;
        Ok(Value::Array(options.into_iter().map(|(_, v)| v).collect()))
    }

    /// The practitioner a schedule is for, by name ("a clinician" if none is readable).
    async fn actor_name(&self, schedule: &Value) -> String {
        for a in schedule["actor"].as_array().into_iter().flatten() {
            let Some(r) = a["reference"].as_str() else { continue };
            if let Some(id) = r.strip_prefix("Practitioner/")
                && let Ok((_, p)) = self.read("Practitioner", id).await
                && let Some(name) = human_name(&p)
            {
                return format!("Dr. {name}");
            }
            if let Some(d) = a["display"].as_str() {
                return d.to_string();
            }
        }
        "a clinician".into()
    }

    async fn book_slot(&self, args: &Map<String, Value>) -> Result<Value, ToolError> {
        let patient = self.patient_id()?;
        let slot_id = field(args, "slot", "id").and_then(Value::as_str).unwrap_or_default();
        let (slot, sv) = self.read("Slot", slot_id).await?;
        if sv["status"] != "free" {
            return Err(ToolError("that time was just taken; please choose another".into()));
        }
        self.require(Action::Create, "Appointment", Some(&patient)).await?;
        let schedule_ref = sv["schedule"]["reference"].as_str().unwrap_or_default().to_string();
        let (_, schedule) = self.read("Schedule", schedule_ref.trim_start_matches("Schedule/")).await?;
        let mut participants =
            vec![json!({"actor": {"reference": format!("Patient/{patient}")}, "status": "accepted"})];
        for a in schedule["actor"].as_array().into_iter().flatten() {
            if let Some(r) = a["reference"].as_str() {
                participants.push(json!({"actor": {"reference": r}, "status": "accepted"}));
            }
        }
        let id = ResourceId::random();
        let appointment = json!({
            "resourceType": "Appointment",
            "status": "booked",
            "serviceType": schedule["specialty"],
            "description": "Booked by the patient through Haven's assistant",
            "start": sv["start"],
            "end": sv["end"],
            "slot": [{"reference": format!("Slot/{}", slot.meta.id)}],
            "created": self.today.to_string(),
            "participant": participants,
        });
        let appointment = strip_nulls(appointment);
        let mut busy = sv.clone();
        busy["status"] = json!("busy");
        let items = [
            item(appointment, &id, Precondition::MustNotExist)?,
            item(busy, &slot.meta.id, Precondition::Version(slot.meta.version))?,
        ];
        self.state.store().write_batch(&items).await.map_err(|e| match e {
            haven_store::StoreError::VersionConflict { .. } => {
                ToolError("that time was just taken; please choose another".into())
            }
            _ => internal(),
        })?;
        let label = sv["start"].as_str().and_then(parse_instant).map(when_label).unwrap_or_default();
        let resources = vec![format!("Appointment/{id}"), format!("Slot/{}", slot.meta.id)];
        for r in &resources {
            self.trail.resource(r.clone());
        }
        self.record("fhir.create", Tool::BookSlot, resources, vec![patient]).await;
        let who = self.actor_name(&schedule).await;
        Ok(json!({"id": id.as_str(), "label": format!("{label} with {who}")}))
    }

    async fn list_appointments(&self) -> Result<Value, ToolError> {
        let patient = self.patient_id()?;
        let found = self
            .search("Appointment", &[("patient", format!("Patient/{patient}")), ("date", format!("ge{}", self.today))])
            .await?;
        let mut options = Vec::new();
        let mut refs = Vec::new();
        for (r, v) in found {
            if !matches!(v["status"].as_str(), Some("booked" | "pending" | "proposed")) {
                continue;
            }
            let Some(start) = v["start"].as_str().and_then(parse_instant) else { continue };
            refs.push(format!("Appointment/{}", r.meta.id));
            let with = self.participant_name(&v).await;
            options.push((start, json!({"id": r.meta.id.as_str(), "label": format!("{} {with}", when_label(start))})));
        }
        options.sort_by_key(|(t, _)| *t);
        options.truncate(MAX_OPTIONS);
        self.record("fhir.search", Tool::ListAppointments, refs, vec![patient]).await;
        Ok(Value::Array(options.into_iter().map(|(_, v)| v).collect()))
    }

    async fn participant_name(&self, appointment: &Value) -> String {
        for p in appointment["participant"].as_array().into_iter().flatten() {
            if let Some(id) = p["actor"]["reference"].as_str().and_then(|r| r.strip_prefix("Practitioner/"))
                && let Ok((_, pr)) = self.read("Practitioner", id).await
                && let Some(name) = human_name(&pr)
            {
                return format!("with Dr. {name}");
            }
        }
        String::new()
    }

    async fn cancel_appointment(&self, args: &Map<String, Value>) -> Result<Value, ToolError> {
        let patient = self.patient_id()?;
        let id = field(args, "appointment", "id").and_then(Value::as_str).unwrap_or_default();
        let (appt, mut v) = self.read("Appointment", id).await?;
        // The appointment must be the user's own, and the user allowed to change it.
        if authz::record_patient(&appt).as_deref() != Some(patient.as_str()) {
            return Err(not_found());
        }
        self.require(Action::Update, "Appointment", Some(&patient)).await?;
        v["status"] = json!("cancelled");
        v["cancelationReason"] = json!({"text": "Cancelled by the patient through Haven's assistant"});
        let mut items = vec![item(v.clone(), &appt.meta.id, Precondition::Version(appt.meta.version))?];
        let mut resources = vec![format!("Appointment/{}", appt.meta.id)];
        for s in v["slot"].as_array().into_iter().flatten() {
            let Some(sid) = s["reference"].as_str().and_then(|r| r.strip_prefix("Slot/")) else { continue };
            // Freeing the slot is part of cancelling, not a separate right of the patient's.
            let Ok(sid) = ResourceId::parse(sid) else { continue };
            let st = ResourceType::parse("Slot").map_err(|_| internal())?;
            if let Ok(slot) = self.state.store().read(&st, &sid).await {
                let mut sv = fhir::parse_record(&slot).map_err(|_| internal())?;
                sv["status"] = json!("free");
                items.push(item(sv, &sid, Precondition::Version(slot.meta.version))?);
                resources.push(format!("Slot/{sid}"));
            }
        }
        self.state.store().write_batch(&items).await.map_err(|_| internal())?;
        for r in &resources {
            self.trail.resource(r.clone());
        }
        self.record("fhir.update", Tool::CancelAppointment, resources, vec![patient]).await;
        let label = v["start"].as_str().and_then(parse_instant).map(when_label).unwrap_or_default();
        Ok(json!({"id": appt.meta.id.as_str(), "label": label}))
    }

    async fn my_patients(&self) -> Result<Value, ToolError> {
        let Some(pr) = &self.user.practitioner else {
            return Err(ToolError("only a clinician's or nurse's account has patients in its care".into()));
        };
        let me = format!("Practitioner/{pr}");
        let mut ids = BTreeSet::new();
        for (rtype, param) in
            [("CareTeam", "participant"), ("Encounter", "practitioner"), ("Appointment", "practitioner")]
        {
            for (r, _) in self.search(rtype, &[(param, me.clone())]).await.unwrap_or_default() {
                if let Some(p) = authz::record_patient(&r) {
                    ids.insert(p);
                }
            }
        }
        for (r, _) in self.search("Patient", &[("general-practitioner", me.clone())]).await.unwrap_or_default() {
            ids.insert(r.meta.id.as_str().to_string());
        }
        let mut options = Vec::new();
        let mut patients = Vec::new();
        for pid in ids {
            // Only patients the assistant may read for this user: the care relationship decides.
            let Ok((_, p)) = self.read("Patient", &pid).await else { continue };
            let name = human_name(&p).unwrap_or_else(|| pid.clone());
            let born = p["birthDate"].as_str().map(|b| format!(" (born {b})")).unwrap_or_default();
            options.push(json!({"id": pid, "label": format!("{name}{born}")}));
            patients.push(pid);
            if options.len() == 20 {
                break;
            }
        }
        let refs = patients.iter().map(|p| format!("Patient/{p}")).collect();
        self.record("fhir.search", Tool::MyPatients, refs, patients).await;
        Ok(Value::Array(options))
    }

    async fn record_facts(&self, args: &Map<String, Value>) -> Result<Value, ToolError> {
        let pid = field(args, "patient", "id").and_then(Value::as_str).unwrap_or_default().to_string();
        let kind = args.get("kind").and_then(Value::as_str).unwrap_or_default();
        let patient_ref = format!("Patient/{pid}");
        self.require(Action::Read, "Patient", Some(&pid)).await.map_err(|_| not_found())?;
        let kinds: &[&str] = match kind {
            "medications" => &["medications"],
            "conditions" => &["conditions"],
            "allergies" => &["allergies"],
            "last encounter" => &["last encounter"],
            "summary" => &["conditions", "medications", "allergies", "last encounter"],
            _ => {
                return Err(ToolError(
                    "I can show medications, conditions, allergies, the last encounter or a summary".into(),
                ));
            }
        };
        let mut facts = Vec::new();
        for k in kinds {
            let mut found = match *k {
                "medications" => self.facts("MedicationRequest", &patient_ref, k, med_label).await?,
                "conditions" => self.facts("Condition", &patient_ref, k, condition_label).await?,
                "allergies" => self.facts("AllergyIntolerance", &patient_ref, k, allergy_label).await?,
                _ => {
                    let mut e = self.facts("Encounter", &patient_ref, k, encounter_label).await?;
                    e.sort_by(|a, b| b.1.cmp(&a.1));
                    e.truncate(1);
                    e
                }
            };
            found.truncate(MAX_FACTS);
            facts.extend(found.into_iter().map(|(f, _)| f));
        }
        let refs = facts.iter().filter_map(|f| f["reference"].as_str().map(str::to_string)).collect();
        self.record("fhir.search", Tool::RecordFacts, refs, vec![pid]).await;
        Ok(Value::Array(facts))
    }

    /// Facts of one resource type about a patient: `(fact, sort key)`, only
    /// current ones (active, not entered in error).
    async fn facts(
        &self,
        rtype: &str,
        patient_ref: &str,
        kind: &str,
        label: fn(&Value) -> Option<(String, String)>,
    ) -> Result<Vec<(Value, String)>, ToolError> {
        let mut out = Vec::new();
        for (r, v) in self.search(rtype, &[("patient", patient_ref.to_string())]).await? {
            let Some((text, sort)) = label(&v) else { continue };
            out.push((json!({"label": format!("{text} ({rtype}/{})", r.meta.id), "reference": format!("{rtype}/{}", r.meta.id), "kind": kind}), sort));
        }
        out.sort_by(|a, b| b.1.cmp(&a.1));
        Ok(out)
    }
}

#[async_trait::async_trait]
impl Tools for AgentTools {
    async fn call(&self, tool: Tool, args: &Map<String, Value>) -> Result<Value, ToolError> {
        match tool {
            Tool::Specialties => self.specialties().await,
            Tool::FindSlots => self.find_slots(args).await,
            Tool::BookSlot => self.book_slot(args).await,
            Tool::ListAppointments => self.list_appointments().await,
            Tool::CancelAppointment => self.cancel_appointment(args).await,
            Tool::MyPatients => self.my_patients().await,
            Tool::RecordFacts => self.record_facts(args).await,
            // The agent answers these itself.
            Tool::Answer | Tool::Triage => Err(internal()),
        }
    }
}

/// Visibility of search matches for the assistant (decided as searches).
struct AsAssistant<'a>(&'a AgentTools);

#[async_trait::async_trait]
impl fhir::Visibility for AsAssistant<'_> {
    async fn visible(&self, r: &Record) -> Result<bool, ApiError> {
        Ok(self.0.allows(Action::Search, r).await)
    }
}

/// `args[a][b]`.
fn field<'a>(args: &'a Map<String, Value>, a: &str, b: &str) -> Option<&'a Value> {
    args.get(a)?.get(b)
}

fn internal() -> ToolError {
    ToolError("something went wrong on our side; please try again".into())
}

fn not_found() -> ToolError {
    ToolError("I could not find that".into())
}

fn tool_name(tool: Tool) -> String {
    serde_json::to_value(tool).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// A batch item for a resource, validated and indexed as the FHIR API would.
fn item(v: Value, id: &ResourceId, precondition: Precondition) -> Result<BatchItem, ToolError> {
    let (rtype, mut obj) = fhir::check_resource(v, None, false).map_err(|_| internal())?;
    obj.insert("id".into(), Value::String(id.as_str().to_string()));
    let terms = fhir::index_terms(&rtype, &obj);
    let payload = fhir::stored_bytes(obj, id).map_err(|_| internal())?;
    Ok(BatchItem { rtype, id: id.clone(), precondition, payload: Some(payload), terms })
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(o) => {
            Value::Object(o.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, strip_nulls(v))).collect())
        }
        other => other,
    }
}

fn parse_instant(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// "Mon 7 Dec 2026, 09:00 UTC".
fn when_label(t: OffsetDateTime) -> String {
    let wd = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][usize::from(t.weekday().number_days_from_monday())];
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        [usize::from(u8::from(t.month()) - 1)];
    let tz = if t.offset().is_utc() { " UTC".to_string() } else { format!(" {}", t.offset()) };
    format!("{wd} {} {month} {}, {:02}:{:02}{tz}", t.day(), t.year(), t.hour(), t.minute())
}

fn title_case(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A CodeableConcept's text, or its first coding's display or code.
fn concept_text(c: &Value) -> Option<String> {
    c["text"]
        .as_str()
        .or_else(|| c["coding"].as_array()?.iter().find_map(|x| x["display"].as_str().or(x["code"].as_str())))
        .map(str::to_string)
}

/// A person's name: `text`, or given and family names.
fn human_name(p: &Value) -> Option<String> {
    let n = p["name"].as_array()?.first()?;
    if let Some(t) = n["text"].as_str() {
        return Some(t.to_string());
    }
    let given: Vec<&str> = n["given"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let family = n["family"].as_str().unwrap_or_default();
    let name = format!("{} {family}", given.join(" ")).trim().to_string();
    (!name.is_empty()).then_some(name)
}

fn active(v: &Value, element: &str) -> bool {
    let status = v[element]["coding"][0]["code"].as_str().or(v[element].as_str());
    !matches!(
        status,
        Some(
            "inactive"
                | "resolved"
                | "remission"
                | "entered-in-error"
                | "stopped"
                | "cancelled"
                | "completed"
                | "refuted"
        )
    )
}

fn med_label(v: &Value) -> Option<(String, String)> {
    if !active(v, "status") {
        return None;
    }
    let name = concept_text(&v["medicationCodeableConcept"])
        .or_else(|| v["medicationReference"]["display"].as_str().map(str::to_string))?;
    let dose = v["dosageInstruction"][0]["text"].as_str().map(|d| format!(", {d}")).unwrap_or_default();
    let since = v["authoredOn"].as_str().unwrap_or_default();
    let when = if since.is_empty() { String::new() } else { format!(", since {}", &since[..since.len().min(10)]) };
    Some((format!("{name}{dose}{when}"), since.to_string()))
}

fn condition_label(v: &Value) -> Option<(String, String)> {
    if !active(v, "clinicalStatus") || !active(v, "verificationStatus") {
        return None;
    }
    let name = concept_text(&v["code"])?;
    let onset = v["onsetDateTime"].as_str().or(v["recordedDate"].as_str()).unwrap_or_default();
    let when = if onset.is_empty() { String::new() } else { format!(", since {}", &onset[..onset.len().min(10)]) };
    Some((format!("{name}{when}"), onset.to_string()))
}

fn allergy_label(v: &Value) -> Option<(String, String)> {
    if !active(v, "clinicalStatus") || !active(v, "verificationStatus") {
        return None;
    }
    let name = concept_text(&v["code"])?;
    let reaction = v["reaction"][0]["manifestation"][0].clone();
    let reaction = concept_text(&reaction).map(|r| format!(" (reaction: {r})")).unwrap_or_default();
    let crit = v["criticality"].as_str().map(|c| format!(", criticality {c}")).unwrap_or_default();
    Some((format!("{name}{reaction}{crit}"), v["recordedDate"].as_str().unwrap_or_default().to_string()))
}

fn encounter_label(v: &Value) -> Option<(String, String)> {
    let start = v["period"]["start"].as_str().unwrap_or_default();
    let kind = v["type"]
        .as_array()
        .and_then(|t| t.first())
        .and_then(concept_text)
        .or_else(|| v["class"]["display"].as_str().or(v["class"]["code"].as_str()).map(str::to_string))?;
    let reason = v["reasonCode"]
        .as_array()
        .and_then(|r| r.first())
        .and_then(concept_text)
        .map(|r| format!(" for {r}"))
        .unwrap_or_default();
    Some((format!("{kind}{reason} on {}", &start[..start.len().min(10)]), start.to_string()))
}
