//! The staff console's pages: one function per page, each taking its view
//! model, all inside [`layout`] with the navigation the caller's role may
//! use. Forms that change anything carry the session's CSRF token.

use maud::{DOCTYPE, Markup, PreEscaped, html};

/// One console page: where it is and what it is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// Its path.
    pub href: &'static str,
    /// Its name in the navigation.
    pub label: &'static str,
}

/// The dashboard.
pub const DASHBOARD: Page = Page { href: "/console", label: "Dashboard" };
/// Audit search and accounting of disclosures.
pub const AUDIT: Page = Page { href: "/console/audit", label: "Audit & disclosures" };
/// Alerts and incidents.
pub const ALERTS: Page = Page { href: "/console/alerts", label: "Alerts & incidents" };
/// Users and service clients.
pub const USERS: Page = Page { href: "/console/users", label: "Users & clients" };
/// Feedback on the assistant's replies.
pub const FEEDBACK: Page = Page { href: "/console/feedback", label: "Feedback" };
/// Knowledge base sources.
pub const KNOWLEDGE: Page = Page { href: "/console/knowledge", label: "Knowledge base" };
/// Encryption keys.
pub const KEYS: Page = Page { href: "/console/keys", label: "Keys" };
/// The HIPAA technical-safeguards report.
pub const COMPLIANCE: Page = Page { href: "/console/compliance", label: "Compliance" };

/// Every page, in navigation order.
pub const PAGES: [Page; 8] = [DASHBOARD, AUDIT, ALERTS, USERS, FEEDBACK, KNOWLEDGE, KEYS, COMPLIANCE];

/// Who is signed in and what the navigation offers them.
#[derive(Clone, Debug)]
pub struct Chrome {
    /// The account's username.
    pub username: String,
    /// Its role.
    pub role: String,
    /// The pages the role may use (asked of the policy engine).
    pub nav: Vec<Page>,
    /// The session's CSRF token, for the forms.
    pub csrf: String,
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Haven console" }
            link rel="stylesheet" href="/assets/console.css";
            script src="/assets/console.js" defer {}
        }
    }
}

/// A hidden CSRF field.
pub fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// A page with the top bar and the navigation.
pub fn layout(chrome: &Chrome, current: Page, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(current.label))
            body {
                header.top {
                    span.brand { "Haven console" }
                    span.who { "Signed in as " strong { (chrome.username) } " (" (chrome.role) ")" }
                    form method="post" action="/console/logout" {
                        (csrf_field(&chrome.csrf))
                        button #sign-out type="submit" { "Sign out" }
                    }
                }
                div.frame {
                    nav.side aria-label="Console" {
                        ul {
                            @for p in &chrome.nav {
                                li { a href=(p.href) aria-current=[(*p == current).then_some("page")] { (p.label) } }
                            }
                        }
                    }
                    main #content { (body) }
                }
            }
        }
    }
}

/// A page without navigation (sign-in steps).
fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body { main.login { h1 { (title) } (body) } }
        }
    }
}

fn error_line(error: Option<&str>) -> Markup {
    html! { @if let Some(e) = error { p.error role="alert" { (e) } } }
}

/// Sign-in: username and password.
pub fn login(error: Option<&str>) -> Markup {
    bare(
        "Staff sign-in",
        html! {
            (error_line(error))
            form method="post" action="/console/login" {
                label for="username" { "Username" }
                input #username name="username" autocomplete="username" required;
                label for="password" { "Password" }
                input #password name="password" type="password" autocomplete="current-password" required;
                p { button #sign-in type="submit" { "Sign in" } }
            }
            p.muted { "Staff accounts need a second factor (TOTP). Patients use the chat on the organisation's website." }
        },
    )
}

/// Sign-in, second step: a code from the authenticator app.
pub fn mfa(csrf: &str, error: Option<&str>) -> Markup {
    bare(
        "Second step",
        html! {
            (error_line(error))
            form method="post" action="/console/mfa" {
                (csrf_field(csrf))
                label for="code" { "6-digit code (or a recovery code)" }
                input #code name="code" inputmode="numeric" autocomplete="one-time-code" required;
                p { button #verify type="submit" { "Verify" } }
            }
        },
    )
}

/// TOTP enrolment: the QR code, the key for typing in, and the first code.
pub fn enrol(csrf: &str, qr_svg: &str, secret: &str, error: Option<&str>) -> Markup {
    bare(
        "Set up your second factor",
        html! {
            (error_line(error))
            p { "Staff accounts need a one-time code at every sign-in. Scan this QR code with an authenticator app, or type the key into it." }
            div.qr role="img" aria-label="QR code for the authenticator app" { (PreEscaped(qr_svg)) }
            p { "Key: " code #totp-secret { (secret) } }
            form method="post" action="/console/enrol" {
                (csrf_field(csrf))
                label for="code" { "The app's current 6-digit code" }
                input #code name="code" inputmode="numeric" autocomplete="one-time-code" required;
                p { button #activate type="submit" { "Activate" } }
            }
        },
    )
}

/// The recovery codes, shown once after enrolment.
pub fn recovery(codes: &[String]) -> Markup {
    bare(
        "Your recovery codes",
        html! {
            p { "Each code signs you in once without your authenticator app. Keep them somewhere safe: they are not shown again." }
            ol.mono #recovery-codes { @for c in codes { li { (c) } } }
            p { a.button #continue href="/console" { "Continue to the console" } }
        },
    )
}

/// The audit log's verification, as the server last ran it.
#[derive(Clone, Debug, Default)]
pub struct ChainView {
    /// The newest record's sequence number.
    pub head_seq: Option<u64>,
    /// The last checkpoint the chain verified up to.
    pub verified_seq: Option<u64>,
    /// That checkpoint's time (RFC 3339).
    pub verified_checkpoint_time: Option<String>,
    /// When verification last ran (RFC 3339).
    pub checked_at: Option<String>,
    /// Records verified so far.
    pub records_verified: u64,
    /// What is wrong, if the chain does not verify.
    pub problem: Option<String>,
}

fn chain_status(c: &ChainView) -> Markup {
    html! {
        @if let Some(p) = &c.problem {
            p.bad #chain-status { "The audit chain does not verify: " (p) }
        } @else if let Some(seq) = c.verified_seq {
            p.ok #chain-status {
                "Verified up to checkpoint at record " (seq)
                @if let Some(t) = &c.verified_checkpoint_time { " (" (t) ")" }
                "."
            }
        } @else {
            p.warn #chain-status { "No checkpoint verified yet." }
        }
        p.muted {
            "Newest record: " (c.head_seq.map_or("none".to_string(), |s| s.to_string()))
            "; records verified: " (c.records_verified)
            @if let Some(t) = &c.checked_at { "; last run " (t) }
            "."
        }
    }
}

/// The dashboard's figures.
#[derive(Clone, Debug, Default)]
pub struct Dashboard {
    /// Requests recorded in the audit log over the window.
    pub requests: u64,
    /// The assistant's replies over the window.
    pub agent_replies: u64,
    /// Replies or messages a safeguard blocked.
    pub safeguard_blocks: u64,
    /// Requests the policy denied.
    pub denied: u64,
    /// Open incidents, when threat detection runs.
    pub open_incidents: Option<u64>,
    /// Requests per hour, oldest first.
    pub hourly: Vec<u64>,
    /// How many hours the figures cover.
    pub window_hours: u32,
    /// Whether the figures were cut at the scan limit.
    pub truncated: bool,
    /// The audit chain.
    pub chain: Option<ChainView>,
}

/// Requests over time as bars (inline SVG, no script).
pub fn bar_chart(values: &[u64], label: &str) -> Markup {
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let (w, h, bar) = (values.len().max(1) * 14, 120usize, 10usize);
    html! {
        svg.chart role="img" aria-label=(label) width=(w) height=(h + 14) viewBox=(format!("0 0 {w} {})", h + 14)) {
            title { (label) }
            @for (i, v) in values.iter().enumerate() {
                @let bh = usize::try_from(*v).unwrap_or(usize::MAX).saturating_mul(h) / usize::try_from(max).unwrap_or(1).max(1);
                rect x=(i * 14) y=(h - bh) width=(bar) height=(bh) { title { (v) } }
            }
            text x="0" y=(h + 12) { "-" (values.len()) "h" }
            text x=(w.saturating_sub(20)) y=(h + 12) { "now" }
        }
    }
}

/// The dashboard page's body.
pub fn dashboard(d: Option<&Dashboard>) -> Markup {
    html! {
        h1 { "Dashboard" }
        @if let Some(d) = d {
            div.cards {
                div.card #card-requests { div.n { (d.requests) } div.l { "requests (" (d.window_hours) " h)" } }
                div.card #card-replies { div.n { (d.agent_replies) } div.l { "assistant replies" } }
                div.card #card-blocks { div.n { (d.safeguard_blocks) } div.l { "safeguard blocks" } }
                div.card #card-denied { div.n { (d.denied) } div.l { "policy denials" } }
                div.card #card-incidents {
                    @match d.open_incidents {
                        Some(n) => { div.n { (n) } div.l { "open incidents" } }
                        None => { div.n { "–" } div.l { "open incidents (threat detection not running)" } }
                    }
                }
            }
            @if d.truncated { p.muted { "Figures are from the newest records only (scan limit reached)." } }
            h2 { "Requests per hour" }
            (bar_chart(&d.hourly, "Requests per hour over the last day"))
            @if let Some(c) = &d.chain {
                h2 { "Audit chain" }
                (chain_status(c))
            }
        } @else {
            p { "Your role has no figures to review here. Use the navigation for the pages it may use." }
        }
    }
}

/// One row of a patient's accounting of disclosures.
#[derive(Clone, Debug)]
pub struct DisclosureRow {
    /// When (RFC 3339).
    pub when: String,
    /// Who.
    pub who: String,
    /// Their role.
    pub role: String,
    /// Why (purpose of use).
    pub why: String,
    /// What was done.
    pub what: String,
    /// The record types.
    pub records: String,
    /// The audit record's sequence number.
    pub audit_id: u64,
}

/// One audit record in a search.
#[derive(Clone, Debug)]
pub struct EventRow {
    /// Sequence number.
    pub seq: u64,
    /// When (RFC 3339).
    pub when: String,
    /// The actor.
    pub actor: String,
    /// The action.
    pub action: String,
    /// The outcome.
    pub outcome: String,
    /// Patients concerned.
    pub patients: String,
    /// A short reason.
    pub detail: String,
}

/// The audit page.
#[derive(Clone, Debug, Default)]
pub struct AuditPage {
    /// The patient asked about, if any.
    pub patient: String,
    /// Actor filter.
    pub actor: String,
    /// Action filter.
    pub action: String,
    /// The patient's disclosures (when a patient was given).
    pub disclosures: Option<Vec<DisclosureRow>>,
    /// Matching records, newest first.
    pub events: Vec<EventRow>,
    /// The chain's verification.
    pub chain: ChainView,
    /// A message after "verify chain".
    pub notice: Option<String>,
    /// An error to show.
    pub error: Option<String>,
}

/// The audit page's body.
pub fn audit(v: &AuditPage, csrf: &str) -> Markup {
    html! {
        h1 { "Audit & disclosures" }
        @if let Some(n) = &v.notice { p.notice role="status" { (n) } }
        (error_line(v.error.as_deref()))
        h2 { "Audit chain" }
        (chain_status(&v.chain))
        form method="post" action="/console/audit/verify" {
            (csrf_field(csrf))
            button #verify-chain type="submit" { "Verify chain now" }
        }
        h2 { "Search" }
        form method="get" action="/console/audit" {
            label for="patient" { "Patient id (shows the accounting of disclosures)" }
            input #patient name="patient" value=(v.patient);
            label for="actor" { "Actor (account:ID or Practitioner/ID)" }
            input #actor name="actor" value=(v.actor);
            label for="action" { "Action (e.g. fhir. or auth.login)" }
            input #action name="action" value=(v.action);
            p { button #search type="submit" { "Search" } }
        }
        @if let Some(rows) = &v.disclosures {
            h2 #disclosures-title { "Accounting of disclosures for " (v.patient) }
            @if rows.is_empty() { p { "No disclosures recorded." } } @else {
                table #disclosures {
                    thead { tr { th { "When" } th { "Who" } th { "Role" } th { "Why" } th { "What" } th { "Records" } th { "Audit #" } } }
                    tbody { @for r in rows { tr { td { (r.when) } td { (r.who) } td { (r.role) } td { (r.why) } td { (r.what) } td { (r.records) } td { (r.audit_id) } } } }
                }
            }
        }
        h2 { "Audit records" }
        @if v.events.is_empty() { p { "No matching records." } } @else {
            table #events {
                thead { tr { th { "#" } th { "When" } th { "Actor" } th { "Action" } th { "Outcome" } th { "Patients" } th { "Detail" } } }
                tbody { @for e in &v.events { tr { td { (e.seq) } td { (e.when) } td { (e.actor) } td { (e.action) } td { (e.outcome) } td { (e.patients) } td { (e.detail) } } } }
            }
        }
    }
}

/// A security alert or incident as the queue shows it.
#[derive(Clone, Debug)]
pub struct AlertRow {
    /// Its id.
    pub id: String,
    /// Severity.
    pub severity: String,
    /// What was detected.
    pub title: String,
    /// Why it was raised.
    pub explanation: String,
    /// The evidence, oldest first: (time, what happened).
    pub timeline: Vec<(String, String)>,
    /// Open, or how it was resolved.
    pub status: String,
    /// Where the resolve form posts, for an unresolved incident.
    pub resolve: Option<String>,
}

/// The alerts and incidents page: `None` when no threat detection runs in this server.
pub fn alerts(rows: Option<&[AlertRow]>, csrf: &str, notice: Option<&str>) -> Markup {
    html! {
        h1 { "Alerts & incidents" }
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        @match rows {
            None => {
                p.warn #detection-status { "Threat detection not running in this server." }
                p.muted { "Alerts and incidents appear here once the server's threat detection is enabled. Offline analysis: haven alerts, haven incidents." }
            }
            Some([]) => { p.ok #detection-status { "No open incidents, nothing explained away yet." } }
            Some(rows) => {
                @for a in rows {
                    section.card id=(a.id) {
                        h2 { (a.severity) ": " (a.title) }
                        p { (a.explanation) }
                        h3 { "Evidence" }
                        ol { @for (t, what) in &a.timeline { li { (t) " — " (what) } } }
                        p { "Status: " (a.status) }
                        @if let Some(action) = &a.resolve {
                            form.resolve method="post" action=(action) {
                                (csrf_field(csrf))
                                label { "Resolution "
                                    select name="resolution" {
                                        option value="true_positive" { "True positive" }
                                        option value="benign" { "Benign" }
                                        option value="false_positive" { "False positive" }
                                    }
                                }
                                " "
                                label { "Reason " input type="text" name="reason" required minlength="3" maxlength="2000"; }
                                " "
                                button type="submit" { "Resolve" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// An account as the users page lists it.
#[derive(Clone, Debug)]
pub struct UserRow {
    /// Account id.
    pub id: String,
    /// Username.
    pub username: String,
    /// Role.
    pub role: String,
    /// Whether TOTP is active.
    pub mfa: bool,
    /// Whether the role must use a second factor.
    pub staff: bool,
    /// Whether sign-in is refused.
    pub disabled: bool,
    /// Whether it is a service client.
    pub client: bool,
}

/// The users and clients page's body.
pub fn users(rows: &[UserRow], csrf: &str, notice: Option<&str>) -> Markup {
    let (people, clients): (Vec<&UserRow>, Vec<&UserRow>) = rows.iter().partition(|r| !r.client);
    html! {
        h1 { "Users & clients" }
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        h2 { "Accounts" }
        table #users {
            thead { tr { th { "Username" } th { "Role" } th { "MFA" } th { "State" } th { "Sessions" } } }
            tbody {
                @for u in people {
                    tr {
                        td { (u.username) }
                        td { (u.role) }
                        td {
                            @if u.mfa { span.ok { "enrolled" } }
                            @else if u.staff { span.bad { "not enrolled (required)" } }
                            @else { span.muted { "not enrolled" } }
                        }
                        td { @if u.disabled { span.bad { "disabled" } } @else { "active" } }
                        td {
                            form.inline method="post" action=(format!("/console/users/{}/revoke", u.id)) data-confirm=(format!("End every session of {}?", u.username)) {
                                (csrf_field(csrf))
                                button.danger type="submit" aria-label=(format!("Revoke the sessions of {}", u.username)) { "Revoke sessions" }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Service clients" }
        @if clients.is_empty() { p { "No service clients." } } @else {
            table #clients {
                thead { tr { th { "Name" } th { "Role" } th { "State" } } }
                tbody { @for c in clients { tr { td { (c.username) } td { (c.role) } td { @if c.disabled { "disabled" } @else { "active" } } } } }
            }
        }
        p.muted { "Add accounts and clients with haven user add, haven client add, or the /v1/admin API." }
    }
}

/// Feedback per answer source.
#[derive(Clone, Debug, Default)]
pub struct FeedbackPage {
    /// Thumbs up.
    pub up: u64,
    /// Thumbs down.
    pub down: u64,
    /// With a comment.
    pub with_comment: u64,
    /// Per source: (source, up, down).
    pub sources: Vec<(String, u64, u64)>,
}

/// The feedback page's body.
pub fn feedback(v: &FeedbackPage) -> Markup {
    html! {
        h1 { "Feedback on the assistant" }
        div.cards {
            div.card { div.n { (v.up) } div.l { "helpful" } }
            div.card { div.n { (v.down) } div.l { "not helpful" } }
            div.card { div.n { (v.with_comment) } div.l { "with a comment" } }
        }
        h2 { "Per source" }
        @if v.sources.is_empty() { p { "No feedback yet." } } @else {
            table #feedback {
                thead { tr { th { "Source" } th { "Helpful" } th { "Not helpful" } } }
                tbody { @for (s, u, d) in &v.sources { tr { td { (s) } td { (u) } td { (d) } } } }
            }
        }
    }
}

/// One knowledge source.
#[derive(Clone, Debug)]
pub struct SourceRow {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Publisher.
    pub origin: String,
    /// Address.
    pub url: Option<String>,
    /// Passages indexed.
    pub passages: usize,
}

/// The knowledge base page's body.
pub fn knowledge(rows: &[SourceRow]) -> Markup {
    html! {
        h1 { "Knowledge base" }
        p { (rows.len()) " sources, " (rows.iter().map(|r| r.passages).sum::<usize>()) " passages. Add or remove sources with haven kb." }
        table #sources {
            thead { tr { th { "Title" } th { "Id" } th { "Publisher" } th { "Passages" } } }
            tbody {
                @for r in rows {
                    tr {
                        td { @if let Some(u) = &r.url { a href=(u) rel="noopener noreferrer" { (r.title) } } @else { (r.title) } }
                        td.mono { (r.id) } td { (r.origin) } td { (r.passages) }
                    }
                }
            }
        }
    }
}

/// The keys page.
#[derive(Clone, Debug, Default)]
pub struct KeysPage {
    /// The key provider.
    pub provider: String,
    /// The active KEK version.
    pub active_version: u32,
    /// When the active version was created (the last rotation), if known.
    pub last_rotation: Option<String>,
    /// Days since then.
    pub age_days: Option<i64>,
    /// The rotation policy in days.
    pub policy_days: i64,
    /// Data keys wrapped per KEK version.
    pub wrapped: Vec<(String, u64)>,
    /// Whether the console can rotate (local keyring only).
    pub can_rotate: bool,
    /// A message after rotating.
    pub notice: Option<String>,
}

/// The keys page's body.
pub fn keys(v: &KeysPage, csrf: &str) -> Markup {
    html! {
        h1 { "Encryption keys" }
        @if let Some(n) = &v.notice { p.notice role="status" { (n) } }
        table #keys {
            tbody {
                tr { th { "Provider" } td { (v.provider) } }
                tr { th { "Active KEK version" } td #active-version { (v.active_version) } }
                tr { th { "Last rotation" } td { (v.last_rotation.as_deref().unwrap_or("unknown")) } }
                tr {
                    th { "Rotation policy" }
                    td {
                        "every " (v.policy_days) " days: "
                        @match v.age_days {
                            Some(a) if a <= v.policy_days => span.ok { "within policy (" (a) " days)" },
                            Some(a) => span.bad { "overdue (" (a) " days)" },
                            None => span.warn { "unknown" },
                        }
                    }
                }
            }
        }
        h2 { "Data keys per KEK version" }
        table {
            thead { tr { th { "KEK version" } th { "Wrapped data keys" } } }
            tbody { @for (k, n) in &v.wrapped { tr { td { (k) } td { (n) } } } }
        }
        @if v.can_rotate {
            form method="post" action="/console/keys/rotate" data-confirm="Make a new KEK version active?" {
                (csrf_field(csrf))
                p { button #rotate type="submit" { "Rotate now" } }
            }
            p.muted { "New data keys are wrapped under the new version at once; haven keys rewrap moves the existing ones." }
        }
    }
}

/// The status of one safeguard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The evidence shows it is met.
    Met,
    /// Met in part, or needs a person's attention.
    Attention,
    /// Not met.
    NotMet,
}

/// One line of the compliance report.
#[derive(Clone, Debug)]
pub struct ComplianceItem {
    /// The safeguard (e.g. "Access control").
    pub safeguard: &'static str,
    /// Its citation in the Security Rule.
    pub citation: &'static str,
    /// What is checked.
    pub check: String,
    /// The verdict.
    pub status: Status,
    /// The evidence Haven holds.
    pub evidence: String,
}

/// The compliance report's body (printable).
pub fn compliance(items: &[ComplianceItem], generated: &str) -> Markup {
    html! {
        h1 { "HIPAA Security Rule: technical safeguards" }
        p.muted { "Generated " (generated) " from this server's live state. 45 CFR § 164.312." }
        p.noprint { button type="button" data-print { "Print" } }
        table #compliance {
            thead { tr { th { "Safeguard" } th { "Check" } th { "Status" } th { "Evidence" } } }
            tbody {
                @for i in items {
                    tr {
                        td { (i.safeguard) br; span.muted { (i.citation) } }
                        td { (i.check) }
                        td {
                            @match i.status {
                                Status::Met => span.ok { "met" },
                                Status::Attention => span.warn { "attention" },
                                Status::NotMet => span.bad { "not met" },
                            }
                        }
                        td { (i.evidence) }
                    }
                }
            }
        }
        p.muted { "This report shows evidence for the technical safeguards only; administrative and physical safeguards are the organisation's to document." }
    }
}

/// An error page inside the console.
pub fn message(title: &str, text: &str) -> Markup {
    bare(title, html! { p { (text) } p { a href="/console" { "Back to the console" } } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn navigation_marks_the_current_page_and_escapes_text() {
        let chrome = Chrome {
            username: "<b>eve</b>".into(),
            role: "auditor".into(),
            nav: vec![DASHBOARD, AUDIT],
            csrf: "tok".into(),
        };
        let html = layout(&chrome, AUDIT, html! { p { "x" } }).into_string();
        assert!(html.contains(r#"<a href="/console/audit" aria-current="page">"#), "{html}");
        assert!(html.contains(r#"<a href="/console">Dashboard</a>"#), "{html}");
        assert!(!html.contains("/console/keys"));
        assert!(html.contains("&lt;b&gt;eve"));
        assert!(html.contains(r#"name="csrf" value="tok""#));
        assert!(!html.contains("<script>"), "no inline script");
    }

    #[test]
    fn the_chart_scales_to_the_largest_value() {
        let svg = bar_chart(&[0, 5, 10], "t").into_string();
        assert!(svg.contains(r#"height="120""#) && svg.contains(r#"height="60""#), "{svg}");
    }
}
