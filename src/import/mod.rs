//! Importers: a starter gate from what a team already has (an OpenAPI description, a browser
//! recording). Each format reads its file into a [`Draft`], which renders as gate YAML with comments;
//! the app validates the text before printing it.

pub mod har;
pub mod locust;
pub mod openapi;

use serde_json::Value;
use std::fmt::Write as _;

/// What an importer made: the gate text and notes for the person running it.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The gate file, YAML with comments.
    pub gate: String,
    /// What was left out or guessed, one line each (printed to stderr).
    pub notes: Vec<String>,
}

/// A gate being written: the few settings an importer decides, and its scenarios.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// Comment lines at the top (without `# `).
    pub header: Vec<String>,
    /// `name:`.
    pub name: String,
    /// `host:`.
    pub host: String,
    /// Closed model: users, spawn rate, run time.
    pub users: u32,
    /// Users started per second.
    pub spawn_rate: u32,
    /// `run_time:` as written.
    pub run_time: String,
    /// The user classes.
    pub scenarios: Vec<DraftScenario>,
}

/// One user class.
#[derive(Debug, Clone, Default)]
pub struct DraftScenario {
    /// Its name.
    pub name: String,
    /// Comment lines above it.
    pub comments: Vec<String>,
    /// `think_time:` as written.
    pub think_time: Option<String>,
    /// Initial variables: name, value, and a comment.
    pub variables: Vec<(String, String, Option<String>)>,
    /// The tasks; disabled ones are written as comments.
    pub tasks: Vec<DraftTask>,
    /// `weight:` among scenarios.
    pub weight: Option<u32>,
    /// Requests each user sends once when it starts.
    pub on_start: Vec<DraftRequest>,
    /// Requests each user sends once when it stops.
    pub on_stop: Vec<DraftRequest>,
}

/// One task: a request, or a sequence sent back to back.
#[derive(Debug, Clone, Default)]
pub struct DraftTask {
    /// `name:`.
    pub name: Option<String>,
    /// `weight:`.
    pub weight: u32,
    /// One request (`request:`) or more (`sequence:`).
    pub requests: Vec<DraftRequest>,
    /// Comment lines above it.
    pub comments: Vec<String>,
    /// Written as a comment: the gate runs without it until someone uncomments it.
    pub disabled: bool,
}

/// One request.
#[derive(Debug, Clone, Default)]
pub struct DraftRequest {
    /// HTTP method, upper case.
    pub method: String,
    /// Path template with any query, e.g. `/api/runs/{run_id}?limit=20`.
    pub path: String,
    /// A JSON body.
    pub json: Option<Value>,
    /// A form body: field names and values (templates), empty for none.
    pub form: Vec<(String, String)>,
    /// `name:` in the stats (default: method and path).
    pub name: Option<String>,
    /// Acceptable statuses (empty: perfgate's default, any 2xx or 3xx).
    pub expect: Vec<u16>,
    /// JSON values the answer must hold: path and value.
    pub expect_json: Vec<(String, Value)>,
    /// Request headers.
    pub headers: Vec<(String, String)>,
    /// Variables taken from the answer: name and JSON path.
    pub extract: Vec<(String, String)>,
}

impl DraftRequest {
    /// Whether the short form `METHOD /path` says all of it.
    fn is_short(&self) -> bool {
        self.json.is_none()
            && self.form.is_empty()
            && self.expect.is_empty()
            && self.expect_json.is_empty()
            && self.headers.is_empty()
            && self.extract.is_empty()
            && self.name.is_none()
    }
}

/// A YAML scalar: plain when that is unambiguous, else double-quoted (JSON escaping is valid YAML).
pub fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '/' | '.' | '-' | ':'))
        && !s.contains(": ")
        && !s.ends_with(':')
        && !s.starts_with(['-', ' ', '.'])
        && !s.ends_with(' ')
        && s.parse::<f64>().is_err()
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "~"
        );
    if plain {
        s.to_string()
    } else {
        Value::String(s.to_string()).to_string()
    }
}

/// Words in a form field's name that mark its value as a secret.
const SECRET_WORDS: [&str; 10] = [
    "pass",
    "pwd",
    "secret",
    "token",
    "otp",
    "credential",
    "apikey",
    "api_key",
    "session",
    "csrf",
];

/// A form field as the gate writes it: a secret's value (by the field's name: `password`,
/// `api_token`, ...) is never copied but read from the environment, `${env:PASSWORD}`; the second
/// value is that variable's name.
pub fn form_field(name: &str, value: &str) -> (String, Option<String>) {
    let lower = name.to_ascii_lowercase();
    if SECRET_WORDS.iter().any(|w| lower.contains(w)) {
        let var = ident(name).trim_matches('_').to_ascii_uppercase();
        let var = if var.is_empty() { "FORM_SECRET".to_string() } else { var };
        return (format!("${{env:{var}}}"), Some(var));
    }
    (value.to_string(), None)
}

/// JSON on one line with spaces after `:` and `,`, which YAML reads as a flow collection.
pub fn flow_json(v: &Value) -> String {
    match v {
        Value::Object(o) if o.is_empty() => "{}".into(),
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(o) => {
            let items: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), flow_json(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(flow_json).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

/// A name usable as a `{variable}`: letters, digits and `_`, not starting with a digit.
pub fn ident(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

impl Draft {
    /// The gate file: header comments, settings, scenarios, and a commented `targets:` section.
    pub fn render(&self) -> String {
        let mut o = String::new();
        for c in &self.header {
            let _ = writeln!(o, "# {c}");
        }
        let _ = writeln!(o, "version: 1");
        let _ = writeln!(o, "name: {}", scalar(&self.name));
        let _ = writeln!(o, "host: {}    # `--host URL` overrides it", scalar(&self.host));
        let _ = writeln!(o, "timeout: 10s");
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "load:                          # Locust's users, spawn rate and run time"
        );
        let _ = writeln!(o, "  users: {}", self.users);
        let _ = writeln!(o, "  spawn_rate: {}", self.spawn_rate);
        let _ = writeln!(o, "  run_time: {}", self.run_time);
        let _ = writeln!(o);
        let _ = writeln!(o, "scenarios:");
        for s in &self.scenarios {
            for c in &s.comments {
                let _ = writeln!(o, "  # {c}");
            }
            let _ = writeln!(o, "  {}:", ident(&s.name));
            if let Some(w) = s.weight {
                let _ = writeln!(o, "    weight: {w}");
            }
            if let Some(t) = &s.think_time {
                let _ = writeln!(o, "    think_time: {t}");
            }
            if !s.variables.is_empty() {
                let _ = writeln!(o, "    variables:");
                for (k, v, c) in &s.variables {
                    let comment = c.as_deref().map(|c| format!("    # {c}")).unwrap_or_default();
                    let _ = writeln!(o, "      {k}: {}{comment}", scalar(v));
                }
            }
            write_steps(&mut o, "on_start", &s.on_start);
            let _ = writeln!(o, "    tasks:");
            for t in &s.tasks {
                for c in &t.comments {
                    let _ = writeln!(o, "      # {c}");
                }
                for line in task_lines(t) {
                    if t.disabled {
                        let _ = writeln!(o, "      # {line}");
                    } else {
                        let _ = writeln!(o, "      {line}");
                    }
                }
            }
            write_steps(&mut o, "on_stop", &s.on_stop);
            let _ = writeln!(o);
        }
        let _ = writeln!(
            o,
            "# Targets: uncomment and set them from a first run (`perfgate run` prints the numbers)."
        );
        let _ = writeln!(o, "# targets:");
        let _ = writeln!(o, "#   - select: total");
        let _ = writeln!(o, "#     p95: < 500ms");
        let _ = writeln!(o, "#     error_rate: < 1%");
        let _ = writeln!(o, "#   - select: GET");
        let _ = writeln!(o, "#     avg: < 200ms");
        o
    }
}

/// `on_start:` or `on_stop:` with its requests, when there are any.
fn write_steps(o: &mut String, key: &str, steps: &[DraftRequest]) {
    if steps.is_empty() {
        return;
    }
    let _ = writeln!(o, "    {key}:");
    for r in steps {
        if r.is_short() {
            let _ = writeln!(o, "      - {}", short(r));
        } else {
            for (i, l) in full_lines(r).into_iter().enumerate() {
                let _ = writeln!(o, "      {}{l}", if i == 0 { "- " } else { "  " });
            }
        }
    }
}

/// A task's YAML lines, unindented (the first starts with `- `).
fn task_lines(t: &DraftTask) -> Vec<String> {
    let mut lines = Vec::new();
    let mut first = true;
    let mut push = |lines: &mut Vec<String>, s: String| {
        lines.push(if first { format!("- {s}") } else { format!("  {s}") });
        first = false;
    };
    if let Some(n) = &t.name {
        push(&mut lines, format!("name: {}", scalar(n)));
    }
    push(&mut lines, format!("weight: {}", t.weight.max(1)));
    match t.requests.as_slice() {
        [one] if one.is_short() => push(&mut lines, format!("request: {}", short(one))),
        [one] => {
            push(&mut lines, "request:".into());
            for l in full_lines(one) {
                lines.push(format!("    {l}"));
            }
        }
        many => {
            push(&mut lines, "sequence:".into());
            for r in many {
                if r.is_short() {
                    lines.push(format!("    - {}", short(r)));
                } else {
                    for (i, l) in full_lines(r).into_iter().enumerate() {
                        lines.push(if i == 0 {
                            format!("    - {l}")
                        } else {
                            format!("      {l}")
                        });
                    }
                }
            }
        }
    }
    lines
}

fn short(r: &DraftRequest) -> String {
    scalar(&format!("{} {}", r.method, r.path))
}

/// The full form's lines, unindented.
fn full_lines(r: &DraftRequest) -> Vec<String> {
    let mut out = vec![format!("method: {}", r.method), format!("path: {}", scalar(&r.path))];
    if let Some(n) = &r.name {
        out.push(format!("name: {}", scalar(n)));
    }
    if !r.headers.is_empty() {
        out.push("headers:".into());
        for (k, v) in &r.headers {
            out.push(format!("  {}: {}", scalar(k), scalar(v)));
        }
    }
    if let Some(j) = &r.json {
        out.push(format!("json: {}", flow_json(j)));
    }
    if !r.form.is_empty() {
        out.push("form:".into());
        for (k, v) in &r.form {
            out.push(format!("  {}: {}", scalar(k), scalar(v)));
        }
    }
    let codes = match r.expect.as_slice() {
        [] => None,
        [one] => Some(one.to_string()),
        many => Some(format!(
            "[{}]",
            many.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
        )),
    };
    match (codes, r.expect_json.is_empty()) {
        (None, true) => {}
        (Some(c), true) => out.push(format!("expect: {c}")),
        (codes, false) => {
            out.push("expect:".into());
            if let Some(c) = codes {
                out.push(format!("  status: {c}"));
            }
            out.push("  json:".into());
            for (path, v) in &r.expect_json {
                out.push(format!("    {}: {}", scalar(path), flow_json(v)));
            }
        }
    }
    if !r.extract.is_empty() {
        out.push("extract:".into());
        for (k, v) in &r.extract {
            out.push(format!("  {k}: {}", scalar(v)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_form_fields_are_read_from_the_environment() {
        assert_eq!(form_field("user", "ana"), ("ana".to_string(), None));
        assert_eq!(
            form_field("password", "hunter2"),
            ("${env:PASSWORD}".to_string(), Some("PASSWORD".to_string()))
        );
        assert_eq!(form_field("X-Api-Token", "t").1.as_deref(), Some("X_API_TOKEN"));
        assert_eq!(
            form_field("csrfmiddlewaretoken", "abc").1.as_deref(),
            Some("CSRFMIDDLEWARETOKEN")
        );
        // The template a secret becomes parses as one environment variable.
        let t = crate::gate::template::Template::parse(&form_field("user_pwd", "x").0).unwrap();
        assert_eq!(t.to_string(), "${env:USER_PWD}");
    }

    #[test]
    fn scalars_are_quoted_only_when_needed() {
        assert_eq!(scalar("GET /api/modules"), "GET /api/modules");
        assert_eq!(scalar("GET /api/runs/{run_id}"), "\"GET /api/runs/{run_id}\"");
        assert_eq!(scalar("true"), "\"true\"");
        assert_eq!(scalar("10"), "\"10\"");
        assert_eq!(scalar("a: b"), "\"a: b\"");
        assert_eq!(scalar("http://127.0.0.1:8000"), "http://127.0.0.1:8000");
        assert_eq!(scalar("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(ident("module-id"), "module_id");
        assert_eq!(ident("1x"), "_1x");
        assert_eq!(
            flow_json(&serde_json::json!({"a": [1, "x"], "b": {}})),
            "{\"a\": [1, \"x\"], \"b\": {}}"
        );
    }
}
