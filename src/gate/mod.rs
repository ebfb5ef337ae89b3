//! The gate file: model, parsing, validation and JSON Schema.

pub mod budget;
pub mod duration;
pub mod error;
pub mod model;
mod recover;
pub mod target;
pub mod template;
mod validate;

pub use validate::{short_number, MAX_ARRIVAL_RATE, MAX_USERS, MIN_SPAWN_RATE};

pub use error::{GateError, Pos};
pub use template::{Func, JsonPath, Part, Template, FUNCS};

use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;

/// A validated gate: everything the plan needs, with positions for reports.
#[derive(Debug, Clone)]
pub struct Gate {
    /// The file as the user named it.
    pub file: String,
    /// Gate name for reports.
    pub name: String,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
    /// Base URL from the file, if any.
    pub host: Option<String>,
    /// Headers sent with every request.
    pub headers: Vec<(String, Template)>,
    /// Initial variables of every user.
    pub variables: Vec<(String, String)>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// The load profile.
    pub load: LoadProfile,
    /// User classes in file order.
    pub scenarios: Vec<Scenario>,
    /// Absolute targets, in file order.
    pub targets: Vec<Target>,
    /// Verdict settings.
    pub verdict: VerdictSettings,
    /// Regression budgets against a baseline.
    pub regression: RegressionPolicy,
    /// How to start the service under test, when the gate says.
    pub serve: Option<Serve>,
    /// How https targets are verified.
    pub tls: crate::http::TlsOptions,
    /// Whether requests follow redirects to the target's host unless they say otherwise.
    pub follow_redirects: bool,
    /// The settings the file leaves out, with the value perfgate uses: (`load.grace`, `5s`).
    pub defaults: Vec<(String, String)>,
}

/// One target: a selector and its limits.
#[derive(Debug, Clone)]
pub struct Target {
    /// Which request names it judges.
    pub select: target::Selector,
    /// Judge each matching name alone (else all together).
    pub each: bool,
    /// Limits, in file order.
    pub limits: Vec<target::Limit>,
    /// Fewer samples make a check no-data.
    pub min_samples: u64,
    /// Judge the ramp-up too.
    pub include_ramp_up: bool,
    /// Where the target is written.
    pub pos: Pos,
}

/// How perfgate starts the service under test.
#[derive(Debug, Clone, PartialEq)]
pub struct Serve {
    /// Shell command with `{port}`.
    pub command: String,
    /// Working directory.
    pub cwd: Option<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Withheld variables passed through anyway (`pass_env`, `--serve-env`).
    pub pass_env: Vec<String>,
    /// Readiness path (None: [`Gate::default_ready_path`]).
    pub ready: Option<String>,
    /// Readiness timeout.
    pub ready_timeout: Duration,
    /// SIGTERM to SIGKILL.
    pub stop_grace: Duration,
}

impl Serve {
    /// How long readiness may take when the gate does not say.
    pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
    /// How long the service may take to exit after SIGTERM when the gate does not say.
    pub const STOP_GRACE: Duration = Duration::from_secs(5);
}

impl Gate {
    /// How to start the service under test: the gate's `serve:` with `command` replacing its command
    /// (`--serve`), defaults filled in; None when there is neither.
    pub fn serve_with(&self, command: Option<&str>) -> Option<Serve> {
        let from_gate = self.serve.as_ref();
        let command = command
            .map(str::to_string)
            .or_else(|| from_gate.map(|s| s.command.clone()))?;
        Some(Serve {
            command,
            cwd: from_gate.and_then(|s| s.cwd.clone()),
            env: from_gate.map(|s| s.env.clone()).unwrap_or_default(),
            pass_env: from_gate.map(|s| s.pass_env.clone()).unwrap_or_default(),
            ready: Some(
                from_gate
                    .and_then(|s| s.ready.clone())
                    .unwrap_or_else(|| self.default_ready_path()),
            ),
            ready_timeout: from_gate.map_or(Serve::READY_TIMEOUT, |s| s.ready_timeout),
            stop_grace: from_gate.map_or(Serve::STOP_GRACE, |s| s.stop_grace),
        })
    }

    /// The readiness path when none is given: the first GET without variables or functions, else `/`.
    pub fn default_ready_path(&self) -> String {
        self.scenarios
            .iter()
            .flat_map(|s| s.on_start.iter().chain(s.tasks.iter().flat_map(|t| t.requests.iter())))
            .find(|r| r.method == crate::http::Method::Get && r.vars().is_empty() && r.path.is_literal())
            .map(|r| r.path.to_string())
            .unwrap_or_else(|| "/".into())
    }
}

/// How head is compared with a baseline run.
#[derive(Debug, Clone)]
pub struct RegressionPolicy {
    /// Confidence of the family of intervals (0..1).
    pub confidence: f64,
    /// Latency changes below this many ms never count as regressions.
    pub min_effect_ms: f64,
    /// Latency changes below this fraction of base never count as regressions either (0: none).
    pub min_effect_relative: f64,
    /// Run-to-run noise (fraction) allowed for in sequential comparisons.
    pub noise: f64,
    /// Whether inconclusive comparisons fail the gate.
    pub fail_on_inconclusive: bool,
    /// Fewer samples on either side make a comparison inconclusive.
    pub min_samples: u64,
    /// Duet rounds with fresh process pairs when perfgate starts both builds (None: the default rule).
    pub rounds: Option<u32>,
    /// Confirmation windows for what came out a regression (0: none).
    pub confirm: u32,
    /// The budgets, in file order.
    pub budgets: Vec<budget::Budget>,
    /// Regressions accepted on purpose (`accept:`), in file order.
    pub accept: Vec<Acceptance>,
}

/// A regression accepted on purpose (`accept:`): up to `up_to`, for `reason`, until `until`.
#[derive(Debug, Clone, PartialEq)]
pub struct Acceptance {
    /// The subject as written: a request name, `total`, a method, or a glob over subjects.
    pub select: String,
    /// The metric.
    pub metric: crate::metric::Metric,
    /// How much worse head may be.
    pub up_to: budget::Amount,
    /// `up_to` as written.
    pub up_to_text: String,
    /// Why.
    pub reason: String,
    /// The last day it holds (year, month, day; UTC).
    pub until: (i32, u32, u32),
    /// Where it is written.
    pub pos: Pos,
}

impl Acceptance {
    /// Whether it accepts a comparison of `subject` and `metric`.
    pub fn matches(&self, subject: &str, metric: &str) -> bool {
        let subject_ok = self.select == subject
            || (self.select.eq_ignore_ascii_case("total") && subject == "total")
            || (self.select.contains(['*', '?']) && target::glob(self.select.as_bytes(), subject.as_bytes()));
        subject_ok && self.metric.to_string() == metric
    }

    /// `until` as written, `YYYY-MM-DD`.
    pub fn until_text(&self) -> String {
        let (y, m, d) = self.until;
        format!("{y:04}-{m:02}-{d:02}")
    }
}

/// Today's date in UTC: (year, month, day).
pub fn today_utc() -> (i32, u32, u32) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    civil_from_days((secs / 86_400) as i64)
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

impl RegressionPolicy {
    /// Accepted regressions whose last day is before `today`: each a `file:line: ...` message.
    pub fn expired_acceptances(&self, file: &str, today: (i32, u32, u32)) -> Vec<String> {
        self.accept
            .iter()
            .filter(|a| a.until < today)
            .map(|a| {
                format!(
                    "{file}:{}:{}: the accepted regression of `{}` {} (up to {}: {}) expired on {}",
                    a.pos.line,
                    a.pos.col,
                    a.select,
                    a.metric,
                    a.up_to_text,
                    a.reason,
                    a.until_text()
                )
            })
            .collect()
    }

    /// Why these budgets cannot judge a duet, if they cannot: an `rps` budget never moves there.
    pub fn duet_refusal(&self, file: &str) -> Option<String> {
        let b = self
            .budgets
            .iter()
            .find(|b| b.limits.iter().any(|l| l.metric == crate::metric::Metric::Rps))?;
        Some(format!(
            "{file}:{}:{}: an `rps` budget cannot judge a duet: every user sends each request to base and head in turn, so both get the same count and the change is always 0; keep it for sequential runs (--baseline FILE) in a gate of their own, or remove it",
            b.pos.line,
            b.pos.col
        ))
    }
}

impl Default for RegressionPolicy {
    fn default() -> Self {
        RegressionPolicy {
            confidence: 0.95,
            min_effect_ms: 1.0,
            min_effect_relative: 0.0,
            noise: 0.10,
            fail_on_inconclusive: false,
            min_samples: 20,
            rounds: None,
            confirm: 0,
            budgets: Vec::new(),
            accept: Vec::new(),
        }
    }
}

/// How the verdict treats ramp-up, thin samples and no-data.
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictSettings {
    /// Judge the ramp-up too.
    pub include_ramp_up: bool,
    /// Fewer samples make a check no-data.
    pub min_samples: u64,
    /// Whether a no-data check fails the gate.
    pub no_data_fails: bool,
}

impl Default for VerdictSettings {
    fn default() -> Self {
        VerdictSettings {
            include_ramp_up: false,
            min_samples: 1,
            no_data_fails: true,
        }
    }
}

/// One stage of the open model: the rate ramps linearly from `from` to `to` over `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    /// How long it lasts.
    pub duration: Duration,
    /// Arrivals per second at its start.
    pub from: f64,
    /// Arrivals per second at its end.
    pub to: f64,
}

/// The open model: arrivals at a planned rate, served by a bounded pool of connections.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenModel {
    /// Rate stages, in order; their durations add up to the run time.
    pub stages: Vec<Stage>,
    /// Connections in the pool.
    pub max_connections: u32,
}

/// Arrival rates in words, per stage `(from, to)`: `arrivals 50/s` or `arrivals 0->100/s, 100/s`.
pub fn arrivals_text(stages: &[(f64, f64)]) -> String {
    let rates: Vec<String> = stages
        .iter()
        .map(|&(from, to)| {
            if from == to {
                format!("{}/s", rate_text(to))
            } else {
                format!("{}->{}/s", rate_text(from), rate_text(to))
            }
        })
        .collect();
    format!("arrivals {}", rates.join(", "))
}

/// A rate for people: at most two decimals, none when whole (a shard's third of 5,000/s is 1666.67);
/// below 1/s two significant digits (0.0025).
pub fn rate_text(rate: f64) -> String {
    let decimals = if rate.abs() >= 1.0 || rate == 0.0 || !rate.is_finite() {
        2
    } else {
        (1 - rate.abs().log10().floor() as i32).clamp(2, 9) as usize
    };
    let s = format!("{rate:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

impl OpenModel {
    /// The model in words: `arrivals 50/s on up to 100 connections`.
    pub fn text(&self) -> String {
        let stages: Vec<(f64, f64)> = self.stages.iter().map(|s| (s.from, s.to)).collect();
        format!(
            "{} on up to {} connections",
            arrivals_text(&stages),
            self.max_connections
        )
    }
}

/// The load profile: closed (users) or open (arrival rate).
#[derive(Debug, Clone, PartialEq)]
pub struct LoadProfile {
    /// Closed model: concurrent virtual users (open model: the pool size).
    pub users: u32,
    /// Users started per second (infinite: all at once).
    pub spawn_rate: f64,
    /// How long load runs.
    pub run_time: Duration,
    /// Time allowed after the run time for in-flight requests and `on_stop`.
    pub grace: Duration,
    /// Selected scenario names (None: all).
    pub scenarios: Option<Vec<String>>,
    /// Set for the open model.
    pub open: Option<OpenModel>,
    /// Local addresses connections are opened from, in turn (empty: the system's choice).
    pub source_addresses: Vec<std::net::IpAddr>,
}

/// One user class.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Class name, e.g. `WebClientUser`.
    pub name: String,
    /// Weight among classes.
    pub weight: u32,
    /// Think time range after each task.
    pub think_time: (Duration, Duration),
    /// Initial variables of this class's users.
    pub variables: Vec<(String, String)>,
    /// Test data bound to its users, one row each.
    pub data: Option<DataSet>,
    /// Requests sent once at user start.
    pub on_start: Vec<Request>,
    /// Weighted tasks.
    pub tasks: Vec<Task>,
    /// Requests sent once at user stop.
    pub on_stop: Vec<Request>,
    /// Where the scenario is defined.
    pub pos: Pos,
}

impl Scenario {
    /// Every request of the scenario in file order: `on_start`, the tasks' requests, `on_stop`.
    pub fn requests(&self) -> impl Iterator<Item = &Request> {
        self.on_start
            .iter()
            .chain(self.tasks.iter().flat_map(|t| t.requests.iter()))
            .chain(self.on_stop.iter())
    }
}

/// Which row of a data file each user gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataMode {
    /// User i of the scenario gets row i mod n.
    Sequential,
    /// Each user gets a row drawn with the run's seed.
    Random,
    /// Each row goes to one user; users beyond the rows do not start.
    Unique,
}

/// A scenario's test data: a CSV file's columns and rows.
#[derive(Debug, Clone)]
pub struct DataSet {
    /// The file as the gate names it.
    pub file: String,
    /// Column names, from the header row.
    pub columns: Vec<String>,
    /// The rows (at least one), each with a value per column.
    pub rows: std::sync::Arc<Vec<Vec<String>>>,
    /// Which row each user gets.
    pub mode: DataMode,
}

/// A weighted task: one request or a burst.
#[derive(Debug, Clone)]
pub struct Task {
    /// Task name for reports.
    pub name: String,
    /// Weight among the scenario's tasks.
    pub weight: u32,
    /// Requests sent back to back.
    pub requests: Vec<Request>,
    /// Where the task is defined.
    pub pos: Pos,
}

/// One request template.
#[derive(Debug, Clone)]
pub struct Request {
    /// HTTP method.
    pub method: crate::http::Method,
    /// Path template (without query).
    pub path: Template,
    /// Query parameters.
    pub query: Vec<(String, Template)>,
    /// Request headers (after the gate's defaults).
    pub headers: Vec<(String, Template)>,
    /// JSON body template.
    pub json: Option<serde_json::Value>,
    /// Raw body: its content type and text template.
    pub raw: Option<(String, Template)>,
    /// Form body: field names and value templates (empty: none).
    pub form: Vec<(String, Template)>,
    /// The list whose items this request is sent once for, each as `{item}`.
    pub for_each: Option<String>,
    /// Whether it follows redirects (None: as the gate says).
    pub follow_redirects: Option<bool>,
    /// Stats name.
    pub name: String,
    /// Acceptable statuses (empty: 2xx and 3xx).
    pub expect_status: Vec<u16>,
    /// JSON values the answer must hold.
    pub expect_json: Vec<(JsonPath, serde_json::Value)>,
    /// Variables taken from the answer.
    pub extract: Vec<(String, JsonPath)>,
    /// Lists appended to from the answer (`extract: {ids[]: $.id}`), by list name.
    pub append: Vec<(String, JsonPath)>,
    /// Where the request is defined.
    pub pos: Pos,
}

impl Request {
    /// The variable `for_each` sets to each item.
    pub const ITEM: &'static str = "item";

    /// Every template of the request but the JSON body's: path, query, headers, raw and form body.
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        std::iter::once(&self.path)
            .chain(self.query.iter().map(|(_, t)| t))
            .chain(self.headers.iter().map(|(_, t)| t))
            .chain(self.raw.iter().map(|(_, t)| t))
            .chain(self.form.iter().map(|(_, t)| t))
    }

    /// Every user variable this request reads.
    pub fn vars(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for t in self.templates() {
            out.extend(t.vars().map(str::to_string));
        }
        if let Some(body) = &self.json {
            json_templates(body, &mut |t| out.extend(t.vars().map(str::to_string)));
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Calls `f` with the template of every string inside a JSON value.
pub fn json_templates(v: &serde_json::Value, f: &mut impl FnMut(&Template)) {
    match v {
        serde_json::Value::String(s) => {
            if let Ok(t) = Template::parse(s) {
                f(&t)
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_templates(x, f)),
        serde_json::Value::Object(o) => o.values().for_each(|x| json_templates(x, f)),
        _ => {}
    }
}

impl Gate {
    /// Reads and validates a gate file.
    pub fn load(path: &Path) -> Result<Gate, GateError> {
        if path.as_os_str() == "-" {
            // `-` is standard input, as for most tools.
            let bytes = crate::input::read_capped(std::io::stdin(), crate::input::GATE_MAX).map_err(|e| {
                GateError::one(
                    "<stdin>",
                    "",
                    None,
                    format!("cannot read the gate from standard input: {e}"),
                    None,
                )
            })?;
            let source = String::from_utf8(bytes).map_err(|_| {
                GateError::one(
                    "<stdin>",
                    "",
                    None,
                    "the gate on standard input is not UTF-8 text".into(),
                    None,
                )
            })?;
            return Gate::parse("<stdin>", &source);
        }
        let file = path.display().to_string();
        let bytes = crate::input::read_file(path, crate::input::GATE_MAX).map_err(|e| {
            GateError::one(
                &file,
                "",
                None,
                format!("cannot read the gate file: {e}"),
                Some("check the path: the gate file is the first argument (`perfgate run FILE`, `perfgate validate FILE`)".into()),
            )
        })?;
        let source = String::from_utf8(bytes)
            .map_err(|_| GateError::one(&file, "", None, "the gate file is not UTF-8 text".into(), None))?;
        Gate::parse(&file, &source)
    }

    /// Validates gate-file text; `file` names it in messages.
    pub fn parse(file: &str, source: &str) -> Result<Gate, GateError> {
        if source
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            return Err(GateError::one(
                file,
                source,
                Some(error::Pos { line: 1, col: 1 }),
                "the gate file is empty".into(),
                Some("a gate needs at least `version: 1`, `load` and `scenarios`; `perfgate schema` describes every key, and gates/prismq.yaml is an example".into()),
            ));
        }
        let sha256 = hex(&Sha256::digest(source.as_bytes()));
        // An unknown key is blanked out and the file read again, so every misspelled key is
        // reported at once (`recover`); what the parser cannot read past ends the list.
        let mut text = source.to_string();
        let mut problems: Vec<error::Problem> = Vec::new();
        let mut suggested: Vec<String> = Vec::new();
        let raw = loop {
            match serde_saphyr::from_str::<model::GateFile>(&text) {
                Ok(raw) => break Some(raw),
                Err(e) => {
                    let p = error::from_yaml(&e, source);
                    // A key the misspelling was meant to be is missing because of it: said already.
                    let missing = p
                        .message
                        .strip_prefix("missing key `")
                        .and_then(|m| m.split('`').next());
                    if missing.is_some_and(|m| suggested.iter().any(|s| s == m)) {
                        break None;
                    }
                    let unknown = p
                        .message
                        .strip_prefix("unknown key `")
                        .and_then(|k| k.split('`').next());
                    let next = unknown
                        .zip(p.pos)
                        .and_then(|(key, pos)| recover::blank_entry(&text, pos, key));
                    if let Some(meant) = p
                        .help
                        .as_deref()
                        .and_then(|h| h.strip_prefix("did you mean `"))
                        .and_then(|h| h.split('`').next())
                    {
                        suggested.push(meant.to_string());
                    }
                    problems.push(p);
                    match next {
                        Some(t) if problems.len() < error::MAX_SHOWN => text = t,
                        _ => break None,
                    }
                }
            }
        };
        match raw {
            Some(raw) if problems.is_empty() => validate::validate(file, source, raw, sha256),
            Some(raw) => {
                if let Err(more) = validate::validate(file, &text, raw, sha256) {
                    // A key missing because it was misspelled has been said.
                    let said =
                        |p: &error::Problem| suggested.iter().any(|s| p.message.contains(&format!("needs `{s}`")));
                    problems.extend(more.problems.into_iter().filter(|p| !said(p)));
                }
                problems.sort_by_key(|p| p.pos.map(|p| (p.line, p.col)));
                Err(GateError {
                    file: file.to_string(),
                    source: source.to_string(),
                    problems,
                })
            }
            None => Err(GateError {
                file: file.to_string(),
                source: source.to_string(),
                problems,
            }),
        }
    }

    /// The scenarios selected by the load profile.
    pub fn selected_scenarios(&self) -> Vec<&Scenario> {
        match &self.load.scenarios {
            None => self.scenarios.iter().collect(),
            Some(names) => self.scenarios.iter().filter(|s| names.contains(&s.name)).collect(),
        }
    }

    /// Every environment variable the gate reads (`${env:NAME}`), for masking and redaction.
    pub fn env_vars(&self) -> Vec<String> {
        let mut templates: Vec<Template> = self.headers.iter().map(|(_, t)| t.clone()).collect();
        for r in self.scenarios.iter().flat_map(Scenario::requests) {
            templates.extend(r.templates().cloned());
            if let Some(body) = &r.json {
                json_templates(body, &mut |t| templates.push(t.clone()));
            }
        }
        let mut out: Vec<String> = Vec::new();
        for t in &templates {
            for e in t.envs() {
                if !out.iter().any(|o| o == e) {
                    out.push(e.to_string());
                }
            }
        }
        out
    }

    /// Every distinct request name, in file order.
    pub fn request_names(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        self.scenarios
            .iter()
            .flat_map(Scenario::requests)
            .filter(|r| seen.insert(r.name.as_str()))
            .map(|r| r.name.clone())
            .collect()
    }
}

/// The JSON Schema (draft-07) of the gate file, pretty-printed.
pub fn schema() -> String {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<model::GateFile>();
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::{self, Metric, Place};

    fn min_effect(value: &str) -> Result<(f64, f64), String> {
        let yaml = format!(
            "version: 1\nload: {{users: 1, run_time: 1s}}\nscenarios:\n  S:\n    tasks: [{{request: GET /x}}]\nregression:\n  min_effect: \"{value}\"\n"
        );
        Gate::parse("t.yaml", &yaml)
            .map(|g| (g.regression.min_effect_ms, g.regression.min_effect_relative))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn rates_are_written_with_at_most_two_decimals() {
        assert_eq!(rate_text(5000.0 / 3.0), "1666.67");
        assert_eq!(rate_text(100.0), "100");
        assert_eq!(rate_text(0.5), "0.5");
        assert_eq!(rate_text(0.01 / 4.0), "0.0025");
        assert_eq!(rate_text(0.1234), "0.12");
        assert_eq!(
            arrivals_text(&[(0.0, 1000.0 / 3.0), (20.0, 20.0)]),
            "arrivals 0->333.33/s, 20/s"
        );
    }

    #[test]
    fn rounds_and_confirm_are_read_and_bounded() {
        let gate = |extra: &str| {
            Gate::parse(
                "t.yaml",
                &format!("version: 1\nload: {{users: 1, run_time: 1s}}\nscenarios:\n  S:\n    tasks: [{{request: GET /x}}]\nregression:\n  {extra}\n"),
            )
        };
        let g = gate("rounds: 4\n  confirm: 1").unwrap();
        assert_eq!((g.regression.rounds, g.regression.confirm), (Some(4), 1));
        let g = gate("min_samples: 20").unwrap();
        assert_eq!((g.regression.rounds, g.regression.confirm), (None, 0));
        let e = gate("rounds: 0").unwrap_err().to_string();
        assert!(
            e.contains("t.yaml:7:11") && e.contains("`regression.rounds`: 0 is out of range 1 to 20"),
            "{e}"
        );
        let e = gate("confirm: 9").unwrap_err().to_string();
        assert!(e.contains("`regression.confirm`: 9 is out of range 0 to 3"), "{e}");
    }

    #[test]
    fn a_budget_whose_every_metric_is_wrong_reports_those_and_not_a_missing_metric() {
        let yaml = "version: 1\nload: {users: 1, run_time: 1s}\nscenarios:\n  S:\n    tasks: [{request: GET /x}]\nregression:\n  budgets:\n    - select: GET /x\n      p95: +abc%\n      avg: +10\n";
        let e = Gate::parse("t.yaml", yaml).unwrap_err().to_string();
        assert!(e.contains("t.yaml:9:12") && e.contains("found `+abc%`"), "{e}");
        assert!(e.contains("t.yaml:10:12") && e.contains("needs a unit"), "{e}");
        assert!(!e.contains("sets no metric"), "{e}");
        let none = yaml.replace("      p95: +abc%\n      avg: +10\n", "");
        let e = Gate::parse("t.yaml", &none).unwrap_err().to_string();
        assert!(
            e.contains("t.yaml:8:7") && e.contains("this budget sets no metric"),
            "{e}"
        );
    }

    #[test]
    fn min_effect_is_a_latency_a_share_of_base_or_both() {
        assert_eq!(min_effect("2ms"), Ok((2.0, 0.0)));
        assert_eq!(min_effect("3%"), Ok((0.0, 0.03)));
        assert_eq!(min_effect("1ms, 3%"), Ok((1.0, 0.03)));
        assert_eq!(min_effect("0"), Ok((0.0, 0.0)));
        let e = min_effect("5").unwrap_err();
        assert!(
            e.contains("expected a latency with its unit or a percentage, found `5`"),
            "{e}"
        );
        assert!(min_effect("150%").unwrap_err().contains("not a percentage"));
    }

    /// A regular expression as JSON Schema writes it, for the few constructs the schema uses:
    /// `^ $ ( | ) [a-z] \. ? * +` and literal characters.
    #[derive(Debug)]
    enum Node {
        Start,
        End,
        Char(char),
        Class(Vec<(char, char)>),
        Group(Vec<Vec<Node>>),
        Repeat(Box<Node>, usize, Option<usize>),
    }

    fn parse_alternatives(p: &[char], i: &mut usize) -> Vec<Vec<Node>> {
        let mut alts = vec![Vec::new()];
        while *i < p.len() && p[*i] != ')' {
            let atom = match p[*i] {
                '|' => {
                    *i += 1;
                    alts.push(Vec::new());
                    continue;
                }
                '(' => {
                    *i += 1;
                    let g = parse_alternatives(p, i);
                    assert_eq!(p.get(*i), Some(&')'), "unclosed group");
                    *i += 1;
                    Node::Group(g)
                }
                '[' => {
                    *i += 1;
                    let mut ranges = Vec::new();
                    while p[*i] != ']' {
                        if p.get(*i + 1) == Some(&'-') && p.get(*i + 2) != Some(&']') {
                            ranges.push((p[*i], p[*i + 2]));
                            *i += 3;
                        } else {
                            ranges.push((p[*i], p[*i]));
                            *i += 1;
                        }
                    }
                    *i += 1;
                    Node::Class(ranges)
                }
                '\\' => {
                    *i += 2;
                    Node::Char(p[*i - 1])
                }
                '^' => {
                    *i += 1;
                    Node::Start
                }
                '$' => {
                    *i += 1;
                    Node::End
                }
                c => {
                    assert!(!"{}.".contains(c), "the test matcher does not read `{c}`");
                    *i += 1;
                    Node::Char(c)
                }
            };
            let atom = match p.get(*i) {
                Some('?') => Node::Repeat(Box::new(atom), 0, Some(1)),
                Some('*') => Node::Repeat(Box::new(atom), 0, None),
                Some('+') => Node::Repeat(Box::new(atom), 1, None),
                _ => {
                    alts.last_mut().unwrap().push(atom);
                    continue;
                }
            };
            *i += 1;
            alts.last_mut().unwrap().push(atom);
        }
        alts
    }

    fn walk(nodes: &[Node], s: &[char], at: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
        let Some((first, rest)) = nodes.split_first() else {
            return k(at);
        };
        match first {
            Node::Start => at == 0 && walk(rest, s, at, k),
            Node::End => at == s.len() && walk(rest, s, at, k),
            Node::Char(c) => s.get(at) == Some(c) && walk(rest, s, at + 1, k),
            Node::Class(r) => {
                s.get(at).is_some_and(|c| r.iter().any(|(a, b)| a <= c && c <= b)) && walk(rest, s, at + 1, k)
            }
            Node::Group(alts) => alts.iter().any(|alt| walk(alt, s, at, &mut |p| walk(rest, s, p, k))),
            Node::Repeat(node, min, max) => repeat(node, *min, *max, rest, s, at, k),
        }
    }

    fn repeat(
        node: &Node,
        min: usize,
        max: Option<usize>,
        rest: &[Node],
        s: &[char],
        at: usize,
        k: &mut dyn FnMut(usize) -> bool,
    ) -> bool {
        let more = max != Some(0)
            && walk(std::slice::from_ref(node), s, at, &mut |p| {
                p != at && repeat(node, min.saturating_sub(1), max.map(|m| m - 1), rest, s, p, k)
            });
        more || (min == 0 && walk(rest, s, at, k))
    }

    /// Whether `pattern` finds a match in `s`, as JSON Schema's `patternProperties` reads it.
    fn matches(pattern: &str, s: &str) -> bool {
        let p: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        let alts = parse_alternatives(&p, &mut i);
        assert_eq!(i, p.len(), "unbalanced `)` in {pattern}");
        let s: Vec<char> = s.chars().collect();
        let root = [Node::Group(alts)];
        (0..=s.len()).any(|start| walk(&root, &s, start, &mut |_| true))
    }

    #[test]
    fn the_test_matcher_reads_patterns() {
        assert!(matches("^a(b|c)?d$", "ad") && matches("^a(b|c)?d$", "acd"));
        assert!(!matches("^a(b|c)?d$", "abcd"));
        assert!(matches("^[0-9]+x$", "123x") && !matches("^[0-9]+x$", "x"));
        assert!(matches("b", "abc") && !matches("^b", "abc"));
        assert!(matches(r"^p\.$", "p.") && !matches(r"^p\.$", "px"));
    }

    #[test]
    fn the_percentile_pattern_admits_exactly_the_percentiles_the_parser_reads() {
        let alphabet: Vec<char> = "0123456789.".chars().collect();
        let mut words = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> = words
                .iter()
                .filter(|w| w.len() == words.last().map_or(0, String::len))
                .flat_map(|w| alphabet.iter().map(move |c| format!("{w}{c}")))
                .collect();
            words.extend(longer);
        }
        for w in words {
            let key = format!("p{w}");
            let parsed = matches!(Metric::parse(&key), Some(Metric::Percentile(_)));
            assert_eq!(
                matches(metric::PERCENTILE_PATTERN, &key),
                parsed,
                "`{key}`: the pattern and the parser disagree"
            );
        }
    }

    /// A tiny gate with `key` in one target (or budget).
    fn tiny_gate(place: Place, key: &str) -> String {
        let entry_key = model::entry_keys(place).find(|k| k.key == key);
        let metric = Metric::parse(key);
        let select = if metric.is_some_and(Metric::is_server) {
            "server"
        } else {
            "total"
        };
        let value = match (entry_key, metric) {
            (Some(k), _) if k.json_type == "boolean" => "true".to_string(),
            (Some(k), _) if k.json_type == "integer" => "5".to_string(),
            (Some(_), _) => "total".to_string(),
            (None, Some(m)) => m.example(place).to_string(),
            (None, None) => "1".to_string(),
        };
        let mut entry = vec![format!("{key}: \"{value}\"")];
        if key != "select" {
            entry.push(format!("select: {select}"));
        }
        if entry_key.is_some() {
            entry.push(format!("avg: \"{}\"", Metric::Avg.example(place)));
        }
        let entry = entry.join("\n      ");
        let head = "version: 1\nload: {users: 1, run_time: 1s}\nscenarios:\n  U:\n    tasks: [{request: GET /x}]\n";
        match place {
            Place::Target => format!("{head}targets:\n  - {entry}\n").replace("\n      ", "\n    "),
            Place::Budget => format!("{head}regression:\n  budgets:\n    - {entry}\n"),
        }
    }

    #[test]
    fn the_schema_admits_exactly_the_keys_the_validator_accepts() {
        let schema: serde_json::Value = serde_json::from_str(&schema()).unwrap();
        let mut candidates: Vec<String> = model::ENTRY_KEYS.iter().map(|k| k.key.to_string()).collect();
        candidates.extend(metric::named_keys().iter().map(|n| n.key.to_string()));
        candidates.extend(metric::aliases().into_iter().map(|(a, _)| a));
        candidates.extend(
            [
                "p75",
                "p75_trend",
                "p99.9_trend",
                "p100",
                "p0",
                "p0.5",
                "p05",
                "p99.99",
                "p99.9999",
                "rss",
                "throughput",
                "p99.9",
                "server.rss_max",
                "server.avg",
                "server.",
                "avg_trend",
                "median_trend",
                "mean",
                "latency",
                "error_rate_pct",
            ]
            .map(String::from),
        );
        for (place, def) in [(Place::Target, "TargetSchema"), (Place::Budget, "BudgetSchema")] {
            let item = &schema["definitions"][def];
            assert_eq!(item["additionalProperties"], false, "{def}");
            let patterns = item["patternProperties"].as_object().unwrap();
            for key in &candidates {
                let admitted =
                    item["properties"].get(key.as_str()).is_some() || patterns.keys().any(|p| matches(p, key));
                let gate = tiny_gate(place, key);
                let valid = Gate::parse("g.yaml", &gate);
                assert_eq!(
                    valid.is_ok(),
                    admitted,
                    "{place:?} key `{key}`: the schema {} it, the validator {}:\n{gate}\n{:?}",
                    if admitted { "admits" } else { "refuses" },
                    if valid.is_ok() { "accepts" } else { "refuses" },
                    valid.err().map(|e| e.to_string())
                );
            }
        }
    }
}

#[cfg(test)]
mod date_tests {
    use super::civil_from_days;

    #[test]
    fn days_since_the_epoch_become_calendar_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
