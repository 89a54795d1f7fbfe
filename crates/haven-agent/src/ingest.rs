//! Reading an organisation's content into [`SourceDoc`]s: MedQuAD-style
//! XML, Markdown, HTML and plain text, from files or directory trees.
//!
//! Parsing is pure ([`parse`] takes bytes); only [`load_path`] touches the
//! file system. A file that cannot be read as its format is reported as
//! skipped with the reason, never half-ingested.

use std::path::{Path, PathBuf};

use quick_xml::Reader;
use quick_xml::events::Event;
use serde::Serialize;

use crate::text::squash_whitespace;

/// Largest file ingested; larger ones are skipped with that reason.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// One document of the organisation's content, split into sections.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceDoc {
    /// Stable id: re-ingesting a document with the same id replaces it.
    pub id: String,
    /// The document's title (MedQuAD: its focus, e.g. "Acromegaly").
    pub title: String,
    /// Where a reader can find the original, if known.
    pub url: Option<String>,
    /// Who published it (MedQuAD: its source, e.g. "NIDDK") or the file format.
    pub origin: String,
    /// The sections in order.
    pub sections: Vec<Section>,
}

/// A headed part of a document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Section {
    /// The heading ("Symptoms", "Treatment", a Markdown `##`...); may be empty.
    pub heading: String,
    /// The text, with its own line breaks.
    pub text: String,
    /// The section's key within its document (MedQuAD: the QA pair id),
    /// used by evaluation to tell which passages answer which question.
    pub key: String,
}

/// A question that came with a MedQuAD answer: kept apart from the index
/// (questions are never indexed) so retrieval can be evaluated honestly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeldOutQuestion {
    /// The document the answer is in.
    pub doc_id: String,
    /// The answer's section key.
    pub section_key: String,
    /// The question as written.
    pub question: String,
}

/// The formats Haven reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// MedQuAD-style XML (`<Document><Focus/><QAPairs>...`).
    MedQuad,
    /// Markdown: `#` headings start sections.
    Markdown,
    /// HTML: `<h1>`-`<h6>` start sections; scripts and styles are dropped.
    Html,
    /// Plain text: one section; blank lines separate paragraphs.
    Text,
}

impl Format {
    /// The format a file name implies, if Haven reads it.
    pub fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "xml" => Format::MedQuad,
            "md" | "markdown" => Format::Markdown,
            "html" | "htm" => Format::Html,
            "txt" | "text" => Format::Text,
            _ => return None,
        })
    }
}

/// Why a document could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// Not valid UTF-8.
    #[error("not UTF-8 text")]
    NotUtf8,
    /// The XML is malformed or is not a MedQuAD document.
    #[error("not a MedQuAD XML document: {0}")]
    Xml(String),
    /// Nothing to index in it.
    #[error("no text to index")]
    Empty,
}

/// What [`load_path`] found: documents, and files skipped with the reason.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Documents read.
    pub docs: Vec<SourceDoc>,
    /// Held-out questions of MedQuAD documents (for evaluation only).
    pub questions: Vec<HeldOutQuestion>,
    /// `(path, reason)` of every file not read.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Reads a file, or every file under a directory (sorted, recursively).
/// Ids are the path relative to `path`'s parent, so re-ingesting the same
/// path replaces the same documents.
pub fn load_path(path: &Path) -> std::io::Result<Loaded> {
    let mut files = Vec::new();
    collect(path, &mut files)?;
    files.sort();
    let base = path.parent().unwrap_or(Path::new(""));
    let mut out = Loaded::default();
    for file in files {
        let Some(format) = Format::of(&file) else {
            out.skipped.push((file, "not a format Haven reads (.xml, .md, .html, .txt)".into()));
            continue;
        };
        let len = std::fs::metadata(&file)?.len();
        if len > MAX_FILE_BYTES {
            out.skipped.push((file, format!("larger than {} MiB", MAX_FILE_BYTES >> 20)));
            continue;
        }
        let bytes = std::fs::read(&file)?;
        let rel = file.strip_prefix(base).unwrap_or(&file).to_string_lossy().replace('\\', "/");
        match parse(&rel, format, &bytes) {
            Ok((doc, questions)) => {
                out.docs.push(doc);
                out.questions.extend(questions);
            }
            Err(e) => out.skipped.push((file, e.to_string())),
        }
    }
    Ok(out)
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let meta = std::fs::metadata(path)?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            let name = entry.file_name();
            // Hidden files and folders (editor swap files, .git) are not content.
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            collect(&entry.path(), out)?;
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Parses one document. `id` names it (a relative path for files).
pub fn parse(id: &str, format: Format, bytes: &[u8]) -> Result<(SourceDoc, Vec<HeldOutQuestion>), ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (doc, questions) = match format {
        Format::MedQuad => medquad(text)?,
        Format::Markdown => (markdown(id, text), Vec::new()),
        Format::Html => (html(id, text), Vec::new()),
        Format::Text => (plain(id, text), Vec::new()),
    };
    if doc.sections.iter().all(|s| s.text.trim().is_empty()) {
        return Err(ParseError::Empty);
    }
    Ok((doc, questions))
}

/// The title a file's name gives: `heart-failure_basics.md` → "heart failure basics".
fn title_from_id(id: &str) -> String {
    let name = id.rsplit('/').next().unwrap_or(id);
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    squash_whitespace(&stem.replace(['-', '_'], " "))
}

fn plain(id: &str, text: &str) -> SourceDoc {
    // A first short line followed by a blank line reads as a title.
    let (title, body) = match text.trim_start().split_once("\n\n") {
        Some((first, rest)) if !first.contains('\n') && first.len() <= 120 => (first.trim().to_string(), rest),
        _ => (title_from_id(id), text),
    };
    SourceDoc {
        id: id.to_string(),
        title,
        url: None,
        origin: "text".into(),
        sections: vec![Section { heading: String::new(), text: body.trim().to_string(), key: "0".into() }],
    }
}

fn markdown(id: &str, text: &str) -> SourceDoc {
    use pulldown_cmark::{Event as Md, HeadingLevel, Parser, Tag, TagEnd};
    let mut title = None;
    let mut sections = Vec::new();
    let mut heading = String::new();
    let mut body = String::new();
    let mut in_heading: Option<HeadingLevel> = None;
    let mut heading_text = String::new();
    let flush = |heading: &str, body: &mut String, sections: &mut Vec<Section>| {
        if !body.trim().is_empty() {
            let key = sections.len().to_string();
            sections.push(Section { heading: heading.to_string(), text: body.trim().to_string(), key });
        }
        body.clear();
    };
    for event in Parser::new(text) {
        match event {
            Md::Start(Tag::Heading { level, .. }) => {
                in_heading = Some(level);
                heading_text.clear();
            }
            Md::End(TagEnd::Heading(level)) => {
                in_heading = None;
                let h = squash_whitespace(&heading_text);
                if level == HeadingLevel::H1 && title.is_none() {
                    title = Some(h);
                } else {
                    flush(&heading, &mut body, &mut sections);
                    heading = h;
                }
            }
            Md::Text(t) | Md::Code(t) => {
                if in_heading.is_some() {
                    heading_text.push_str(&t);
                } else {
                    body.push_str(&t);
                }
            }
            Md::SoftBreak => body.push(' '),
            Md::HardBreak => body.push('\n'),
            Md::Start(Tag::Item) => body.push_str("\n- "),
            Md::End(TagEnd::Paragraph | TagEnd::Item | TagEnd::CodeBlock | TagEnd::List(_)) => body.push_str("\n\n"),
            _ => {}
        }
    }
    flush(&heading, &mut body, &mut sections);
    SourceDoc {
        id: id.to_string(),
        title: title.unwrap_or_else(|| title_from_id(id)),
        url: None,
        origin: "markdown".into(),
        sections,
    }
}

/// A tolerant HTML reader: it needs the text and the headings, not a DOM.
/// Tags are skipped, `<script>`/`<style>` with their content, block tags
/// become paragraph breaks, entities are decoded.
fn html(id: &str, text: &str) -> SourceDoc {
    let mut title = None;
    let mut sections = Vec::new();
    let mut heading = String::new();
    let mut body = String::new();
    let mut capture: Option<String> = None; // inside <title> or <hN>
    let mut capture_is_title = false;
    let mut rest = text;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            push_html_text(rest, &mut capture, &mut body);
            break;
        };
        push_html_text(&rest[..lt], &mut capture, &mut body);
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |i| &after[i + 3..]);
            continue;
        }
        let Some(gt) = rest.find('>') else {
            // An unclosed '<' is text.
            push_html_text(rest, &mut capture, &mut body);
            break;
        };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match name.as_str() {
            "script" | "style" | "noscript" | "template" if !closing => {
                let end = format!("</{name}");
                let lower = rest.to_ascii_lowercase();
                rest = lower
                    .find(&end)
                    .and_then(|i| rest.get(i..))
                    .map_or("", |r| r.find('>').map_or("", |j| &r[j + 1..]));
            }
            "title" => {
                if closing {
                    if let (Some(t), true) = (capture.take(), capture_is_title) {
                        title.get_or_insert(squash_whitespace(&t));
                    }
                } else {
                    capture = Some(String::new());
                    capture_is_title = true;
                }
            }
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                if closing {
                    if let Some(h) = capture.take() {
                        let h = squash_whitespace(&h);
                        if name == "h1" && title.is_none() {
                            title = Some(h);
                        } else {
                            if !body.trim().is_empty() {
                                let key = sections.len().to_string();
                                sections.push(Section {
                                    heading: std::mem::take(&mut heading),
                                    text: body.trim().to_string(),
                                    key,
                                });
                            }
                            body.clear();
                            heading = h;
                        }
                    }
                } else {
                    capture = Some(String::new());
                    capture_is_title = false;
                }
            }
            "p" | "div" | "br" | "ul" | "ol" | "table" | "tr" | "section" | "article" | "blockquote" | "pre" => {
                body.push_str("\n\n");
            }
            "li" if !closing => body.push_str("\n- "),
            _ => {}
        }
    }
    if !body.trim().is_empty() {
        let key = sections.len().to_string();
        sections.push(Section { heading, text: body.trim().to_string(), key });
    }
    SourceDoc {
        id: id.to_string(),
        title: title.filter(|t| !t.is_empty()).unwrap_or_else(|| title_from_id(id)),
        url: None,
        origin: "html".into(),
        sections,
    }
}

fn push_html_text(raw: &str, capture: &mut Option<String>, body: &mut String) {
    let decoded = html_escape::decode_html_entities(raw);
    match capture {
        Some(c) => c.push_str(&decoded),
        None => body.push_str(&decoded),
    }
}

/// A MedQuAD `<Document>`: the focus is the title, each QA pair's answer a
/// section headed by its question type; the questions are returned apart.
fn medquad(text: &str) -> Result<(SourceDoc, Vec<HeldOutQuestion>), ParseError> {
    let mut reader = Reader::from_str(text);
    let mut doc_id = None;
    let mut origin = String::from("medquad");
    let mut url = None;
    let mut focus = String::new();
    let mut sections = Vec::new();
    let mut questions = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut pid = String::new();
    let mut qtype = String::new();
    let mut question = String::new();
    let mut answer = String::new();
    let err = |e: &dyn std::fmt::Display| ParseError::Xml(e.to_string());
    loop {
        match reader.read_event().map_err(|e| err(&e))? {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                for a in e.attributes().flatten() {
                    let key = a.key.as_ref().to_vec();
                    let value = a.unescape_value().map_err(|e| err(&e))?.into_owned();
                    match (name.as_str(), key.as_slice()) {
                        ("Document", b"id") => doc_id = Some(value),
                        ("Document", b"source") => origin = value,
                        ("Document", b"url") => url = Some(value).filter(|u| !u.is_empty()),
                        ("QAPair", b"pid") => pid = value,
                        ("Question", b"qtype") => qtype = value,
                        _ => {}
                    }
                }
                if name == "QAPair" {
                    question.clear();
                    answer.clear();
                    qtype.clear();
                }
                path.push(name);
            }
            Event::End(_) => {
                if path.last().map(String::as_str) == Some("QAPair") && !answer.trim().is_empty() {
                    let key = if pid.is_empty() { sections.len().to_string() } else { pid.clone() };
                    sections.push(Section {
                        heading: heading_for(&qtype),
                        text: answer.trim().to_string(),
                        key: key.clone(),
                    });
                    if !question.trim().is_empty() {
                        questions.push(HeldOutQuestion {
                            doc_id: String::new(),
                            section_key: key,
                            question: squash_whitespace(&question),
                        });
                    }
                }
                path.pop();
            }
            Event::Text(t) => {
                let t = t.decode().map_err(|e| err(&e))?;
                let t = quick_xml::escape::unescape(&t).map_err(|e| err(&e))?;
                append_text(path.last().map(String::as_str), &t, &mut focus, &mut question, &mut answer);
            }
            Event::CData(t) => {
                let t = String::from_utf8_lossy(&t).into_owned();
                append_text(path.last().map(String::as_str), &t, &mut focus, &mut question, &mut answer);
            }
            Event::GeneralRef(r) => {
                // Entities outside the five XML ones (`&nbsp;`) are kept as written.
                let name = String::from_utf8_lossy(&r).into_owned();
                let t = match quick_xml::escape::unescape(&format!("&{name};")) {
                    Ok(s) => s.into_owned(),
                    Err(_) => html_escape::decode_html_entities(&format!("&{name};")).into_owned(),
                };
                append_text(path.last().map(String::as_str), &t, &mut focus, &mut question, &mut answer);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let Some(doc_id) = doc_id else { return Err(ParseError::Xml("no <Document id=...>".into())) };
    let id = format!("medquad/{}/{}", origin.to_ascii_lowercase().replace(' ', "-"), doc_id);
    for q in &mut questions {
        q.doc_id = id.clone();
    }
    let title = squash_whitespace(&focus);
    Ok((SourceDoc { id, title, url, origin, sections }, questions))
}

fn append_text(element: Option<&str>, t: &str, focus: &mut String, question: &mut String, answer: &mut String) {
    match element {
        Some("Focus") => focus.push_str(t),
        Some("Question") => question.push_str(t),
        Some("Answer") => answer.push_str(t),
        _ => {}
    }
}

/// A section heading for a MedQuAD question type ("symptoms" → "Symptoms").
fn heading_for(qtype: &str) -> String {
    let h = match qtype {
        "information" => "Overview",
        "susceptibility" => "Who is at risk",
        "exams and tests" => "Diagnosis (exams and tests)",
        "frequency" => "How common it is",
        "outlook" => "Outlook (prognosis)",
        "considerations" => "Considerations",
        "" => "",
        other => {
            let mut c = other.chars();
            return c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default();
        }
    };
    h.to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const MEDQUAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Document id="0000001" source="NIDDK" url="http://example.org/acro">
<Focus>Acromegaly</Focus>
<QAPairs>
  <QAPair pid="1">
    <Question qid="0000001-1" qtype="information">What is (are) Acromegaly ?</Question>
    <Answer>Acromegaly is a hormonal disorder. It is &quot;sneaky&quot;.</Answer>
  </QAPair>
  <QAPair pid="2">
    <Question qid="0000001-2" qtype="symptoms">What are the symptoms of Acromegaly ?</Question>
    <Answer>Swelling of the hands &amp; feet.</Answer>
  </QAPair>
  <QAPair pid="3"><Question qtype="causes">Why?</Question><Answer>  </Answer></QAPair>
</QAPairs>
</Document>"#;

    #[test]
    fn medquad_answers_become_sections_and_questions_are_held_out() {
        let (doc, qs) = parse("x.xml", Format::MedQuad, MEDQUAD.as_bytes()).unwrap();
        assert_eq!(doc.id, "medquad/niddk/0000001");
        assert_eq!(doc.title, "Acromegaly");
        assert_eq!(doc.url.as_deref(), Some("http://example.org/acro"));
        assert_eq!(doc.sections.len(), 2, "the empty answer is dropped");
        assert_eq!(doc.sections[0].heading, "Overview");
        assert_eq!(doc.sections[0].text, "Acromegaly is a hormonal disorder. It is \"sneaky\".");
        assert_eq!(doc.sections[1].heading, "Symptoms");
        assert_eq!(doc.sections[1].text, "Swelling of the hands & feet.");
        assert_eq!(qs.len(), 2);
        assert_eq!((qs[1].doc_id.as_str(), qs[1].section_key.as_str()), ("medquad/niddk/0000001", "2"));
        // Questions never reach the indexed text.
        assert!(doc.sections.iter().all(|s| !s.text.contains("What are")));
    }

    #[test]
    fn broken_xml_is_an_error_not_a_panic() {
        assert!(parse("x.xml", Format::MedQuad, b"<Document id='1'><Focus>x</Foc").is_err());
        assert!(matches!(parse("x.xml", Format::MedQuad, b"<Other/>"), Err(ParseError::Xml(_))));
        assert_eq!(parse("x.txt", Format::Text, &[0xff, 0xfe, 0x00]), Err(ParseError::NotUtf8));
    }

    #[test]
    fn markdown_headings_make_sections() {
        let md = "# Flu shots\n\nIntro text.\n\n## Who should get one\n\nEveryone over *6 months*.\n\n- item one\n- item two\n";
        let (doc, _) = parse("kb/flu.md", Format::Markdown, md.as_bytes()).unwrap();
        assert_eq!(doc.title, "Flu shots");
        assert_eq!(doc.sections.len(), 2);
        assert_eq!(doc.sections[0].text, "Intro text.");
        assert_eq!(doc.sections[1].heading, "Who should get one");
        assert!(doc.sections[1].text.contains("Everyone over 6 months."));
        assert!(doc.sections[1].text.contains("- item two"));
    }

    #[test]
    fn html_drops_scripts_and_uses_headings() {
        let html = "<html><head><title>Clinic hours</title><style>p{}</style></head><body>\
            <script>alert('x<y')</script><h1>Clinic hours</h1><p>We open at 8&nbsp;am.</p>\
            <!-- hidden --><h2>Weekends</h2><ul><li>Saturday 9-12</li></ul></body></html>";
        let (doc, _) = parse("hours.html", Format::Html, html.as_bytes()).unwrap();
        assert_eq!(doc.title, "Clinic hours");
        assert_eq!(doc.sections[0].text, "We open at 8\u{a0}am.");
        assert_eq!(doc.sections[1].heading, "Weekends");
        assert!(doc.sections[1].text.contains("Saturday 9-12"));
        let all: String = doc.sections.iter().map(|s| s.text.as_str()).collect();
        assert!(!all.contains("alert") && !all.contains("hidden"));
    }

    #[test]
    fn plain_text_title_and_empty_files() {
        let (doc, _) = parse("notes/parking.txt", Format::Text, b"Parking\n\nPark in lot B.").unwrap();
        assert_eq!((doc.title.as_str(), doc.sections[0].text.as_str()), ("Parking", "Park in lot B."));
        let (doc, _) = parse("notes/parking-info.txt", Format::Text, b"Park in lot B.\nAsk at the desk.").unwrap();
        assert_eq!(doc.title, "parking info");
        assert_eq!(parse("e.txt", Format::Text, b"  \n"), Err(ParseError::Empty));
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC{0,400}") {
            for f in [Format::MedQuad, Format::Markdown, Format::Html, Format::Text] {
                let _ = parse("p.x", f, s.as_bytes());
            }
        }

        #[test]
        fn html_fragments_never_panic(s in "[<>/a-z!\\- =\"'&;#0-9]{0,200}") {
            let _ = parse("p.html", Format::Html, s.as_bytes());
        }
    }
}
