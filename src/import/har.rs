//! `perfgate import har FILE`: a starter gate from a browser recording (HAR 1.2, as the browsers'
//! developer tools export it).
//!
//! - One task per page (`log.pages`, in order), its requests a `sequence:` sent back to back; entries
//!   without a page form tasks of their own between the pages they came between.
//! - A gate has one host: the requests of the host that served most of the recording's non-static
//!   requests are kept (`--from-host` picks another); the other hosts (third parties, CDNs) are left
//!   out and counted in a note.
//! - Static assets (scripts, stylesheets, images, fonts, media, source maps: by the browser's resource
//!   type, the answer's content type, or the file extension) are left out unless asked for, as are
//!   CORS preflights (`OPTIONS`, which perfgate's client never needs) and non-HTTP entries.
//! - The think time is the range of the recorded gaps between one page's last answer and the next
//!   page's first request.
//! - A request the recording saw fail (no answer, or 4xx/5xx) is left out with a note.
//! - JSON and form (`application/x-www-form-urlencoded`) bodies are kept, a form field named like a
//!   secret (`password`, `token`, ...) as `${env:NAME}`; a request with another kind of body is left
//!   out with a note. Cookies and `Authorization` are never copied: a recorded session is a secret.

use super::{Draft, DraftRequest, DraftScenario, DraftTask, Imported};
use serde_json::Value;
use std::collections::BTreeMap;

/// What the person importing chose.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Keep this host's requests instead of the busiest one's.
    pub from_host: Option<String>,
    /// Keep static assets too.
    pub keep_static: bool,
}

/// Resource types (Chrome's `_resourceType`) that are static assets.
const STATIC_TYPES: [&str; 7] = [
    "stylesheet",
    "script",
    "image",
    "font",
    "media",
    "manifest",
    "texttrack",
];

/// File extensions of static assets.
const STATIC_EXTENSIONS: [&str; 18] = [
    "js", "mjs", "css", "png", "jpg", "jpeg", "gif", "svg", "ico", "webp", "avif", "woff", "woff2", "ttf", "otf",
    "map", "mp4", "webm",
];

/// A recorded request body.
enum Body {
    /// JSON.
    Json(Value),
    /// `application/x-www-form-urlencoded` fields, decoded.
    Form(Vec<(String, String)>),
    /// Another kind (its description: the media type, or why it is not read).
    Other(String),
}

/// One recorded request, read.
struct Entry {
    page: Option<String>,
    started_ms: f64,
    ended_ms: f64,
    origin: String,
    host: String,
    method: String,
    path: String,
    is_static: bool,
    body: Option<Body>,
    /// The recorded answer's status (0: none, the request did not complete).
    status: u64,
    /// It sent an `Authorization` header (never copied: a secret).
    authorized: bool,
}

/// Reads a HAR file (`file` names it in messages) and drafts a gate.
pub fn import(file: &str, text: &str, opts: &Options) -> Result<Imported, String> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| format!("{file}:{}:{}: not valid JSON: {e}", e.line(), e.column()))?;
    let log = doc
        .get("log")
        .ok_or_else(|| format!("{file}: not a HAR file: it has no `log` (export one from the browser's network panel: \"Save all as HAR\")"))?;
    let raw_entries = log
        .get("entries")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty())
        .ok_or_else(|| format!("{file}: the recording has no `log.entries`: nothing to load"))?;
    let mut notes = Vec::new();
    let mut entries = Vec::new();
    let mut skipped_other = 0;
    for e in raw_entries {
        match entry(e) {
            Some(en) => entries.push(en),
            None => skipped_other += 1,
        }
    }
    if skipped_other > 0 {
        notes.push(format!(
            "left out {skipped_other} {} not an http(s) request with a valid URL and start time (a `data:` URL, say)",
            if skipped_other == 1 {
                "entry that is"
            } else {
                "entries that are"
            }
        ));
    }
    // The host: the one asked for, or the one with the most non-static requests.
    let mut busy: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        let slot = busy.entry(e.host.as_str()).or_insert((0, i));
        if !e.is_static {
            slot.0 += 1;
        }
    }
    let host = match &opts.from_host {
        Some(h) => {
            if !busy.contains_key(h.as_str()) {
                let hosts: Vec<&str> = busy.keys().copied().collect();
                return Err(format!(
                    "{file}: no request of the recording went to `{h}`; its hosts: {}",
                    hosts.join(", ")
                ));
            }
            h.clone()
        }
        None => busy
            .iter()
            .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(b.1 .1.cmp(&a.1 .1)))
            .map(|(h, _)| h.to_string())
            .unwrap_or_default(),
    };
    let mut others: BTreeMap<String, usize> = BTreeMap::new();
    let mut statics = 0;
    let mut preflights = 0;
    let mut kept: Vec<&Entry> = Vec::new();
    for e in &entries {
        if e.host != host {
            *others.entry(e.host.clone()).or_default() += 1;
        } else if e.method == "OPTIONS" {
            preflights += 1;
        } else if e.is_static && !opts.keep_static {
            statics += 1;
        } else {
            kept.push(e);
        }
    }
    if !others.is_empty() {
        let list: Vec<String> = others.iter().map(|(h, n)| format!("{h} ({n})")).collect();
        notes.push(format!(
            "kept the requests to {host}; left out other hosts: {} (`--from-host HOST` picks another)",
            list.join(", ")
        ));
    }
    if statics > 0 {
        notes.push(format!(
            "left out {statics} static asset{} of {host} (scripts, styles, images, fonts; `--keep-static` keeps them)",
            if statics == 1 { "" } else { "s" }
        ));
    }
    if preflights > 0 {
        notes.push(format!(
            "left out {preflights} CORS preflight{} (OPTIONS): perfgate's client sends none",
            if preflights == 1 { "" } else { "s" }
        ));
    }
    if kept.iter().any(|e| e.authorized) {
        notes.push(
            "the recording sends `Authorization`, which is not copied (a secret): add `headers: {Authorization: \"Bearer ${env:API_TOKEN}\"}` to the gate and export API_TOKEN"
                .into(),
        );
    }
    let origin = kept
        .first()
        .map(|e| e.origin.clone())
        .or_else(|| entries.iter().find(|e| e.host == host).map(|e| e.origin.clone()))
        .unwrap_or_default();
    kept.sort_by(|a, b| a.started_ms.total_cmp(&b.started_ms));

    // Pages in order: each a run of consecutive entries of one page (or of none).
    let titles: BTreeMap<String, String> = log
        .get("pages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let id = p.get("id")?.as_str()?.to_string();
            let title = p.get("title").and_then(Value::as_str).unwrap_or(&id).to_string();
            Some((id, title))
        })
        .collect();
    let mut groups: Vec<(Option<String>, Vec<&Entry>)> = Vec::new();
    for e in kept {
        match groups.last_mut() {
            Some((page, list)) if *page == e.page => list.push(e),
            _ => groups.push((e.page.clone(), vec![e])),
        }
    }
    let mut tasks = Vec::new();
    let mut gaps: Vec<f64> = Vec::new();
    let mut last_end: Option<f64> = None;
    let mut unpaged = 0;
    for (page, list) in &groups {
        let first_start = list.first().map_or(0.0, |e| e.started_ms);
        if let Some(end) = last_end {
            gaps.push((first_start - end).max(0.0));
        }
        last_end = list.iter().map(|e| e.ended_ms).reduce(f64::max);
        let mut requests = Vec::new();
        for e in list {
            if e.status == 0 || e.status >= 400 {
                notes.push(format!(
                    "left out {} {}: {} in the recording (a request that failed when recorded would fail in every run)",
                    e.method,
                    e.path,
                    match e.status {
                        0 => "it got no answer".to_string(),
                        s => format!("it was answered {s}"),
                    }
                ));
                continue;
            }
            let (json, form) = match &e.body {
                None => (None, Vec::new()),
                Some(Body::Json(v)) => (Some(v.clone()), Vec::new()),
                Some(Body::Form(fields)) => {
                    let mut form = Vec::new();
                    for (name, value) in fields {
                        let (value, secret) = super::form_field(name, value);
                        if let Some(var) = secret {
                            notes.push(format!(
                                "{} {}: the recorded form field `{name}` is not copied (a secret): the gate reads it from ${{env:{var}}}; export {var} before the run",
                                e.method, e.path
                            ));
                        }
                        form.push((name.clone(), value));
                    }
                    (None, form)
                }
                Some(Body::Other(what)) => {
                    notes.push(format!(
                        "left out {} {}: its body is {what}, which the importer does not translate (JSON and form bodies are kept; write it as `body:` by hand if the gate needs it)",
                        e.method, e.path
                    ));
                    continue;
                }
            };
            requests.push(DraftRequest {
                method: e.method.clone(),
                path: e.path.clone(),
                json,
                form,
                ..DraftRequest::default()
            });
        }
        if requests.is_empty() {
            continue;
        }
        let name = match page {
            Some(id) => titles.get(id).cloned().unwrap_or_else(|| id.clone()),
            None => {
                unpaged += 1;
                format!("requests outside a page {unpaged}")
            }
        };
        let n = requests.len();
        tasks.push(DraftTask {
            name: Some(name),
            weight: 1,
            requests,
            comments: vec![format!(
                "recorded {}: {}",
                page.as_deref()
                    .map_or("outside any page".to_string(), |p| format!("page `{p}`")),
                if n == 1 {
                    "1 request".to_string()
                } else {
                    format!("{n} requests back to back")
                }
            )],
            disabled: false,
        });
    }
    if tasks.is_empty() {
        return Err(format!(
            "{file}: nothing is left to load from {host} once static assets and other hosts are left out (`--keep-static` keeps assets)"
        ));
    }
    let think_time = think_time(&gaps);
    let creator = log
        .pointer("/creator/name")
        .and_then(Value::as_str)
        .unwrap_or("a browser");
    let stem = std::path::Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "recording".into());
    let draft = Draft {
        header: vec![
            format!("Imported by `perfgate import har {file}`: a recording by {creator} of {origin}."),
            "One task per page, its requests back to back; tasks are picked at random by weight, not".into(),
            "in the recorded order. Check the weights, the think time and the load, then validate it.".into(),
        ],
        name: super::ident(&stem),
        host: origin,
        users: 10,
        spawn_rate: 2,
        run_time: "1m".into(),
        scenarios: vec![DraftScenario {
            name: "BrowserUser".into(),
            comments: vec![match &think_time {
                Some(t) => format!("Think time: the recorded gaps between pages ({t})."),
                None => "Think time: the recording has one page, so no gap to take it from.".into(),
            }],
            think_time: Some(think_time.unwrap_or_else(|| "1s..3s".into())),
            variables: Vec::new(),
            tasks,
            ..DraftScenario::default()
        }],
    };
    Ok(Imported {
        gate: draft.render(),
        notes,
    })
}

/// `lo..hi` from the recorded gaps (ms), rounded to 100 ms; None without gaps.
fn think_time(gaps: &[f64]) -> Option<String> {
    let lo = gaps.iter().copied().reduce(f64::min)?;
    let hi = gaps.iter().copied().reduce(f64::max)?;
    let round = |ms: f64| ((ms / 100.0).round() * 100.0) as u64;
    let fmt = |ms: u64| match ms {
        0..1000 => format!("{ms}ms"),
        _ if ms % 1000 == 0 => format!("{}s", ms / 1000),
        _ => format!("{}.{}s", ms / 1000, (ms % 1000) / 100),
    };
    Some(format!("{}..{}", fmt(round(lo)), fmt(round(hi))))
}

/// One HAR entry read, or None when it is not an http(s) request with a start time.
fn entry(e: &Value) -> Option<Entry> {
    let req = e.get("request")?;
    let url = req.get("url")?.as_str()?;
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = path.split('#').next().unwrap_or("/");
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let host = authority.rsplit('@').next()?.to_string();
    if host.is_empty() {
        return None;
    }
    let started_ms = chrono::DateTime::parse_from_rfc3339(e.get("startedDateTime")?.as_str()?)
        .ok()?
        .timestamp_micros() as f64
        / 1000.0;
    let time = e.get("time").and_then(Value::as_f64).unwrap_or(0.0).max(0.0);
    let method = req.get("method")?.as_str()?.to_ascii_uppercase();
    let resource = e.get("_resourceType").and_then(Value::as_str).unwrap_or("");
    let mime = e
        .pointer("/response/content/mimeType")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    let ext = path
        .split('?')
        .next()
        .and_then(|p| p.rsplit('/').next())
        .and_then(|f| f.rsplit_once('.'))
        .map(|(_, x)| x.to_ascii_lowercase())
        .unwrap_or_default();
    let is_static = STATIC_TYPES.contains(&resource)
        || mime.starts_with("image/")
        || mime.starts_with("font/")
        || mime.starts_with("video/")
        || mime.starts_with("audio/")
        || mime.starts_with("text/css")
        || mime.contains("javascript")
        || STATIC_EXTENSIONS.contains(&ext.as_str());
    let body = req.get("postData").and_then(|p| {
        let text = p.get("text").and_then(Value::as_str).unwrap_or("");
        let mime = p.get("mimeType").and_then(Value::as_str).unwrap_or("").to_string();
        if text.is_empty() && p.get("params").and_then(Value::as_array).is_none_or(Vec::is_empty) {
            return None;
        }
        if mime.contains("json") {
            Some(
                serde_json::from_str(text)
                    .map(Body::Json)
                    .unwrap_or_else(|_| Body::Other(format!("`{mime}` that does not parse as JSON"))),
            )
        } else if mime.starts_with("application/x-www-form-urlencoded") {
            // The browser's decoded `params` when it wrote them, else the text itself.
            let params: Option<Vec<(String, String)>> = p.get("params").and_then(Value::as_array).map(|a| {
                a.iter()
                    .filter_map(|f| {
                        let name = f.get("name")?.as_str()?;
                        Some((
                            name.to_string(),
                            f.get("value").and_then(Value::as_str).unwrap_or("").to_string(),
                        ))
                    })
                    .collect()
            });
            let fields = match params {
                Some(p) if !p.is_empty() => p,
                _ => form_urlencoded::parse(text.as_bytes()).into_owned().collect(),
            };
            Some(Body::Form(fields))
        } else {
            Some(Body::Other(if mime.is_empty() {
                "not JSON or a form".to_string()
            } else {
                format!("`{mime}`")
            }))
        }
    });
    let authorized = req
        .get("headers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|h| {
            h.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case("authorization"))
        });
    let status = e
        .get("response")
        .and_then(|r| r.get("status"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Some(Entry {
        status,
        authorized,
        page: e.get("pageref").and_then(Value::as_str).map(str::to_string),
        started_ms,
        ended_ms: started_ms + time,
        origin: format!("{scheme}://{host}"),
        host,
        method,
        path,
        is_static,
        body,
    })
}
