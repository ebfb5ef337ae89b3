//! The gate file as written: serde types that mirror the YAML, with source positions kept.

use crate::metric::{self, Metric, Place};
use indexmap::IndexMap;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::borrow::Cow;
use std::fmt;

/// A YAML value with the line and column where it was written.
pub type At<T> = Spanned<T>;

/// The whole gate file, `version: 1`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "perfgate gate file",
    description = "Load profile, scenarios, targets and regression budgets of one perfgate performance gate."
)]
pub struct GateFile {
    /// Gate file format version; must be 1.
    #[schemars(with = "u32")]
    pub version: At<u32>,
    /// Name of the gate in reports (default: the file name).
    #[serde(default)]
    pub name: Option<String>,
    /// Base URL of the service under test, e.g. `http://127.0.0.1:8000`; `--host` overrides it.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub host: Option<At<String>>,
    /// Headers sent with every request; values may use `${env:NAME}` and `{variable}`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    pub headers: IndexMap<String, At<String>>,
    /// Initial variables of every user, e.g. `module_id: youtube_shorts`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    pub variables: IndexMap<String, At<Scalar>>,
    /// Per-request timeout (default `30s`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<At<String>>,
    /// The load profile.
    #[schemars(with = "LoadSpec")]
    pub load: At<LoadSpec>,
    /// User classes by name, like Locust's `HttpUser` classes.
    #[schemars(with = "IndexMap<String, ScenarioSpec>")]
    pub scenarios: At<IndexMap<String, At<ScenarioSpec>>>,
    /// Absolute targets judged by the verdict: a selector and limits on its metrics.
    #[serde(default)]
    #[schemars(with = "Vec<TargetSchema>")]
    pub targets: Vec<At<IndexMap<String, At<Scalar>>>>,
    /// How the verdict treats ramp-up and thin samples.
    #[serde(default)]
    pub verdict: Option<VerdictSpec>,
    /// Regression budgets against a baseline run.
    #[serde(default)]
    pub regression: Option<RegressionSpec>,
    /// Regressions accepted on purpose, with a reason and an end date: a matching regression up to
    /// `up_to` is reported as accepted and passes; an entry past its date is invalid input.
    #[serde(default)]
    #[schemars(with = "Vec<AcceptSpec>")]
    pub accept: Vec<At<AcceptSpec>>,
    /// How perfgate starts the service under test itself (`--serve` overrides the command).
    #[serde(default)]
    pub serve: Option<ServeSpec>,
    /// How https targets are verified.
    #[serde(default)]
    pub tls: Option<TlsSpec>,
    /// Follow redirects to the target's own host, as Locust and k6 do (default true); a request's
    /// `follow_redirects` overrides it.
    #[serde(default)]
    pub follow_redirects: Option<bool>,
}

/// TLS verification settings.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    /// Also trust the certificates in this PEM file (a private CA or a self-signed service).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Accept any certificate (encryption without authentication; test services only).
    #[serde(default)]
    pub insecure: bool,
}

/// A regression accepted on purpose.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptSpec {
    /// The comparison it accepts: the subject as reports name it (a request name, `total`, a method)
    /// or a glob over subjects, e.g. `GET /api/modules`.
    #[schemars(with = "String")]
    pub select: At<Scalar>,
    /// The budgeted metric, e.g. `p95`, `avg`, `error_rate`.
    #[schemars(with = "String")]
    pub metric: At<Scalar>,
    /// How much worse head may be and still be accepted, in a budget's terms: `+25%`, `+5ms`, `+1pp`.
    #[schemars(with = "String")]
    pub up_to: At<Scalar>,
    /// Why it is accepted; shown in every report.
    #[schemars(with = "String")]
    pub reason: At<Scalar>,
    /// The last day it is accepted (`YYYY-MM-DD`, UTC); later runs refuse the gate until it is removed.
    #[schemars(with = "String")]
    pub until: At<Scalar>,
}

/// The service under test, started by perfgate on a free loopback port.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServeSpec {
    /// Shell command; `{port}` becomes the chosen port (also in `$PORT`), e.g. `uvicorn app:app --port {port}`.
    #[schemars(with = "String")]
    pub command: At<String>,
    /// Working directory, relative to where perfgate runs.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Extra environment variables.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    pub env: IndexMap<String, Scalar>,
    /// Variables of perfgate's own environment the service may inherit although perfgate withholds
    /// them by default (`GITHUB_TOKEN`, `ACTIONS_RUNTIME_TOKEN`, ...); also `--serve-env NAME`.
    #[serde(default)]
    pub pass_env: Vec<String>,
    /// Path that answers (any status below 500) once the service is ready (default: the gate's first GET).
    #[serde(default)]
    pub ready: Option<String>,
    /// How long readiness may take (default `30s`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub ready_timeout: Option<At<String>>,
    /// How long the service may take to exit after SIGTERM before SIGKILL (default `5s`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub stop_grace: Option<At<String>>,
}

/// The load profile: closed (Locust's users, spawn rate, run time) or open (arrival rate in stages).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadSpec {
    /// Closed model: number of concurrent virtual users.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub users: Option<At<u32>>,
    /// Open model: tasks started per second, whatever the service's speed.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub arrival_rate: Option<At<f64>>,
    /// Open model in stages: each ramps linearly from the previous rate (or `start_rate`) to its `rate`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<StageSpec>>")]
    pub stages: Option<At<Vec<At<StageSpec>>>>,
    /// Local addresses connections are opened from, taken in turn (e.g. `[127.0.0.2, 127.0.0.3]`):
    /// each brings its own ephemeral ports, for more connections to one target than one address has.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub source_addresses: Option<At<Vec<At<String>>>>,
    /// Open model: arrival rate at the start of the first stage (default 0).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub start_rate: Option<At<f64>>,
    /// Open model: connections in the pool; an arrival finding none free within the queue is dropped (default 100).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub max_connections: Option<At<u32>>,
    /// Users started per second (default: all at once).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub spawn_rate: Option<At<f64>>,
    /// How long the load runs, e.g. `1m` or `90s` (open model with stages: their total).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub run_time: Option<At<String>>,
    /// Which scenarios run (default: all); users are shared among them by weight.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub scenarios: Option<Vec<At<String>>>,
    /// How long in-flight requests and `on_stop` steps may run after the run time (default `5s`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub grace: Option<At<String>>,
}

/// One stage of the open model.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    /// How long the stage lasts, e.g. `30s`.
    #[schemars(with = "String")]
    pub duration: At<String>,
    /// Arrivals per second at the end of the stage.
    #[schemars(with = "f64")]
    pub rate: At<f64>,
}

/// One user class: weight among classes, think time, start and stop steps, weighted tasks.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// Share of users relative to other scenarios (default 1).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub weight: Option<At<u32>>,
    /// Pause after each task, a range such as `1s..3s` or a fixed `2s` (default none).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub think_time: Option<At<String>>,
    /// Initial variables of this scenario's users.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    pub variables: IndexMap<String, At<Scalar>>,
    /// Test data: a CSV file whose rows bind their columns as variables, one row per user.
    #[serde(default)]
    #[schemars(with = "Option<DataSpec>")]
    pub data: Option<At<DataSpec>>,
    /// Requests each user sends once when it starts.
    #[serde(default)]
    #[schemars(with = "Vec<RequestSchema>")]
    pub on_start: Vec<At<RequestSpec>>,
    /// Weighted tasks; each user picks one at random by weight, runs it, then thinks.
    #[schemars(with = "Vec<TaskSchema>")]
    pub tasks: At<Vec<At<TaskEntry>>>,
    /// Requests each user sends once when the run stops (within the grace period).
    #[serde(default)]
    #[schemars(with = "Vec<RequestSchema>")]
    pub on_stop: Vec<At<RequestSpec>>,
}

/// Test data of a scenario: a CSV file with a header row; each user gets one row.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// The CSV file, relative to the gate file.
    #[schemars(with = "String")]
    pub file: At<String>,
    /// Which row each user gets: `sequential` (user i gets row i mod n, the default), `random`
    /// (seeded), or `unique` (each row once; users beyond the rows do not start).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub mode: Option<At<String>>,
}

/// A task as written: `GET /posts` (a request of weight 1, as in `sequence:`) or the full form.
#[derive(Debug, Clone)]
pub enum TaskEntry {
    /// `"METHOD /path?query"`: the same as `{request: METHOD /path?query}`.
    Short(String),
    /// The full form.
    Full(TaskSpec),
}

/// JSON Schema shape of a task (string shorthand or mapping).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum TaskSchema {
    /// `"METHOD /path"`: a request of weight 1.
    Short(String),
    /// The full form.
    Full(TaskSpec),
}

impl<'de> Deserialize<'de> for TaskEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TaskEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a task: `GET /path` or a mapping with `request` or `sequence`")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<TaskEntry, E> {
                Ok(TaskEntry::Short(s.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<TaskEntry, A::Error> {
                TaskSpec::deserialize(de::value::MapAccessDeserializer::new(m)).map(TaskEntry::Full)
            }
        }
        d.deserialize_any(V)
    }
}

impl TaskEntry {
    /// The full form of a task written at `at`: a bare request becomes `{request: ...}`.
    pub fn full(at: &At<TaskEntry>) -> At<TaskSpec> {
        let spec = match &at.value {
            TaskEntry::Full(t) => t.clone(),
            TaskEntry::Short(s) => TaskSpec {
                name: None,
                weight: None,
                request: Some(Spanned::new(RequestSpec::Short(s.clone()), at.referenced, at.defined)),
                sequence: None,
            },
        };
        Spanned::new(spec, at.referenced, at.defined)
    }
}

/// A weighted task: one request, or a sequence of requests sent back to back.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Task name in reports (default: its first request's name).
    #[serde(default)]
    pub name: Option<String>,
    /// Relative frequency among the scenario's tasks (default 1).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub weight: Option<At<u32>>,
    /// The task's one request.
    #[serde(default)]
    #[schemars(with = "Option<RequestSchema>")]
    pub request: Option<At<RequestSpec>>,
    /// Requests sent back to back without think time (a burst).
    #[serde(default)]
    #[schemars(with = "Option<Vec<RequestSchema>>")]
    pub sequence: Option<Vec<At<RequestSpec>>>,
}

/// One request: `"GET /api/modules"` or a mapping.
#[derive(Debug, Clone)]
pub enum RequestSpec {
    /// `"METHOD /path?query"`.
    Short(String),
    /// The full form.
    Full(Box<RequestFull>),
}

/// The full form of a request.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestFull {
    /// HTTP method (default GET).
    #[serde(default)]
    pub method: Option<String>,
    /// Path template, e.g. `/api/runs/{run_id}`; may carry a query.
    pub path: String,
    /// Stats name (default: method and path template).
    #[serde(default)]
    pub name: Option<String>,
    /// Query parameters; values may use `{variable}`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    pub query: IndexMap<String, Scalar>,
    /// Request headers; values may use `${env:NAME}` and `{variable}`.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// JSON body; strings may use `{variable}`.
    #[serde(default)]
    pub json: Option<serde_json::Value>,
    /// Raw body: text sent as `text/plain`, or `{content_type, text}`; the text may use `{variable}`.
    #[serde(default)]
    #[schemars(with = "Option<BodySchema>")]
    pub body: Option<BodySpec>,
    /// Form body, sent as `application/x-www-form-urlencoded`; values may use `{variable}`.
    #[serde(default)]
    #[schemars(with = "Option<IndexMap<String, String>>")]
    pub form: Option<IndexMap<String, Scalar>>,
    /// Send the request once per item of this list (see `extract: {ids[]: $.id}`), taking the items
    /// out in order; each is `{item}` in the request.
    #[serde(default)]
    pub for_each: Option<String>,
    /// Follow redirects to the target's own host (default: the gate's `follow_redirects`, true).
    #[serde(default)]
    pub follow_redirects: Option<bool>,
    /// What a successful answer looks like (default: any 2xx or 3xx status).
    #[serde(default)]
    #[schemars(with = "Option<ExpectSchema>")]
    pub expect: Option<ExpectSpec>,
    /// Variables taken from the JSON response: `run_id: $.run_id`; a name ending in `[]`
    /// (`ids[]: $.id`) appends to that list instead (at most 10,000 items per user).
    #[serde(default)]
    pub extract: IndexMap<String, String>,
}

/// A raw body as written: the text alone or with its content type.
#[derive(Debug, Clone, PartialEq)]
pub struct BodySpec {
    /// The Content-Type (default `text/plain`).
    pub content_type: Option<String>,
    /// The body's text.
    pub text: String,
}

/// JSON Schema shape of a raw body.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum BodySchema {
    /// The text, sent as `text/plain`.
    Text(String),
    /// The text and its content type.
    Typed {
        /// The Content-Type, e.g. `application/xml` (default `text/plain`).
        content_type: Option<String>,
        /// The body's text; may use `{variable}`.
        text: String,
    },
}

impl<'de> Deserialize<'de> for BodySpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BodySpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a body: its text, or a mapping with `content_type` and `text`")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<BodySpec, E> {
                Ok(BodySpec {
                    content_type: None,
                    text: s.to_string(),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<BodySpec, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Typed {
                    #[serde(default)]
                    content_type: Option<String>,
                    text: String,
                }
                let t = Typed::deserialize(de::value::MapAccessDeserializer::new(m))?;
                Ok(BodySpec {
                    content_type: t.content_type,
                    text: t.text,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A scalar written where text is meant: `limit: 20` and `limit: "20"` are the same.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar(pub String);

/// Expected status codes and JSON values of an answer.
#[derive(Debug, Clone, Default)]
pub struct ExpectSpec {
    /// Acceptable status codes (empty: any 2xx or 3xx).
    pub status: Vec<u16>,
    /// JSON path to the value it must equal.
    pub json: IndexMap<String, serde_json::Value>,
}

/// JSON Schema shape of a request (string shorthand or mapping).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum RequestSchema {
    /// `"METHOD /path"`.
    Short(String),
    /// The full form.
    Full(Box<RequestFull>),
}

/// JSON Schema shape of an expectation.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ExpectSchema {
    /// One status code.
    Status(u16),
    /// Any of these status codes.
    Statuses(Vec<u16>),
    /// Status codes and JSON checks.
    Full {
        /// One status code or a list.
        status: Option<Vec<u16>>,
        /// JSON path to expected value, e.g. `$.status: queued`.
        json: Option<IndexMap<String, serde_json::Value>>,
    },
}

impl<'de> Deserialize<'de> for RequestSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RequestSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a request: `GET /path` or a mapping with `method` and `path`")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RequestSpec, E> {
                Ok(RequestSpec::Short(s.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<RequestSpec, A::Error> {
                let full = RequestFull::deserialize(de::value::MapAccessDeserializer::new(m))?;
                Ok(RequestSpec::Full(Box::new(full)))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Scalar, E> {
                Ok(Scalar(s.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A status code or a list of them.
struct Statuses(Vec<u16>);

impl<'de> Deserialize<'de> for Statuses {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Statuses;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a status code (100..599) or a list of them")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Statuses, E> {
                status(v).map(|s| Statuses(vec![s]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Statuses, E> {
                match u64::try_from(v) {
                    Ok(v) => status(v).map(|s| Statuses(vec![s])),
                    Err(_) => Err(negative_status(v)),
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Statuses, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<u64>()? {
                    out.push(status(v)?);
                }
                if out.is_empty() {
                    return Err(de::Error::custom(
                        "an empty list of status codes accepts nothing: list at least one",
                    ));
                }
                Ok(Statuses(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// The error for a negative status code, quoted as written.
fn negative_status<E: de::Error>(v: i64) -> E {
    E::custom(format!("`{v}` is not an HTTP status code: expected 100..599"))
}

fn status<E: de::Error>(v: u64) -> Result<u16, E> {
    if (100..=599).contains(&v) {
        Ok(v as u16)
    } else {
        Err(E::custom(format!(
            "`{v}` is not an HTTP status code: expected 100..599"
        )))
    }
}

impl<'de> Deserialize<'de> for ExpectSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ExpectSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a status code, a list of status codes, or a mapping with `status` and `json`")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ExpectSpec, E> {
                Ok(ExpectSpec {
                    status: vec![status(v)?],
                    json: IndexMap::new(),
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ExpectSpec, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(negative_status(v)),
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ExpectSpec, A::Error> {
                let s = Statuses::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(ExpectSpec {
                    status: s.0,
                    json: IndexMap::new(),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<ExpectSpec, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Full {
                    #[serde(default)]
                    status: Option<Statuses>,
                    #[serde(default)]
                    json: IndexMap<String, serde_json::Value>,
                }
                let f = Full::deserialize(de::value::MapAccessDeserializer::new(m))?;
                Ok(ExpectSpec {
                    status: f.status.map(|s| s.0).unwrap_or_default(),
                    json: f.json,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Verdict settings.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerdictSpec {
    /// Judge the ramp-up too (default false: only the steady phase).
    #[serde(default)]
    pub include_ramp_up: Option<bool>,
    /// Fewer samples than this make a check no-data (default 1).
    #[serde(default)]
    pub min_samples: Option<u64>,
    /// Whether a no-data check fails the gate (`fail`, the default) or passes it (`pass`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub no_data: Option<At<String>>,
}

/// A key of a target or budget entry that is not a metric: the selector and its settings.
#[derive(Debug, Clone, Copy)]
pub struct EntryKey {
    /// The key as written.
    pub key: &'static str,
    /// JSON Schema type of its value.
    pub json_type: &'static str,
    /// Whether budgets take it too (targets take every entry key).
    pub in_budget: bool,
    /// One line for the JSON Schema.
    pub description: &'static str,
}

/// Every entry key, in help order.
pub const ENTRY_KEYS: [EntryKey; 4] = [
    EntryKey {
        key: "select",
        json_type: "string",
        in_budget: true,
        description: "`total`, `server`, a method (`GET`), a request name, or a glob over names (`GET /api/runs*`)",
    },
    EntryKey {
        key: "each",
        json_type: "boolean",
        in_budget: true,
        description: "Judge each matching request name on its own (default: all matches together)",
    },
    EntryKey {
        key: "min_samples",
        json_type: "integer",
        in_budget: false,
        description: "Fewer samples than this make the check no-data (default: `verdict.min_samples`)",
    },
    EntryKey {
        key: "include_ramp_up",
        json_type: "boolean",
        in_budget: false,
        description: "Judge the ramp-up too (default: `verdict.include_ramp_up`)",
    },
];

/// The entry keys a target (or a budget) takes.
pub fn entry_keys(place: Place) -> impl Iterator<Item = &'static EntryKey> {
    ENTRY_KEYS.iter().filter(move |k| place == Place::Target || k.in_budget)
}

/// JSON Schema of one target or budget entry, generated from the entry keys and the metric registry.
pub fn entry_schema(place: Place) -> serde_json::Value {
    let mut properties = serde_json::Map::new();
    for k in entry_keys(place) {
        properties.insert(
            k.key.into(),
            serde_json::json!({"type": k.json_type, "description": k.description}),
        );
    }
    let what = match place {
        Place::Target => "limit",
        Place::Budget => "budget",
    };
    for (key, description) in metric::keys(place) {
        let example = Metric::parse(&key).map_or("", |m| m.example(place));
        properties.insert(
            key,
            serde_json::json!({
                "type": ["string", "number"],
                "description": format!("{description}; {what}, e.g. `{example}`"),
            }),
        );
    }
    let mut patterns = serde_json::Map::new();
    patterns.insert(
        metric::PERCENTILE_PATTERN.into(),
        serde_json::json!({
            "type": ["string", "number"],
            "description": format!(
                "{}; {what}, e.g. `{}`",
                metric::PERCENTILE_DESCRIPTION,
                Metric::Percentile(75.0).example(place)
            ),
        }),
    );
    let description = match place {
        Place::Target => "A target: a selector and limits on its metrics; server metrics need `select: server`.",
        Place::Budget => "A budget: a selector and, per metric, how much worse head may be than base (`warn..fail`).",
    };
    serde_json::json!({
        "type": "object",
        "description": description,
        "properties": properties,
        "patternProperties": patterns,
        "additionalProperties": false,
    })
}

/// JSON Schema shape of a target, from the metric registry.
pub struct TargetSchema;

impl JsonSchema for TargetSchema {
    fn schema_name() -> Cow<'static, str> {
        "TargetSchema".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        Schema::try_from(entry_schema(Place::Target)).unwrap_or_default()
    }
}

/// JSON Schema shape of a budget, from the metric registry.
pub struct BudgetSchema;

impl JsonSchema for BudgetSchema {
    fn schema_name() -> Cow<'static, str> {
        "BudgetSchema".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        Schema::try_from(entry_schema(Place::Budget)).unwrap_or_default()
    }
}

/// Regression budgets against a baseline run.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegressionSpec {
    /// Confidence of every interval, e.g. `95%` (default), corrected for the number of comparisons.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub confidence: Option<At<Scalar>>,
    /// Latency changes smaller than this never count as regressions: a latency (default `1ms`), a share of base (`3%`), or both (`1ms, 3%`; the larger applies).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub min_effect: Option<At<String>>,
    /// Run-to-run noise allowed for when base and head ran one after the other (default `10%`); duet runs use none.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub noise: Option<At<Scalar>>,
    /// Whether an inconclusive comparison fails the gate (default false: it passes with a warning).
    #[serde(default)]
    pub fail_on_inconclusive: Option<bool>,
    /// Fewer samples on either side make a comparison inconclusive (default 20).
    #[serde(default)]
    pub min_samples: Option<u64>,
    /// When perfgate starts both builds: run the duet in this many rounds, each with a fresh pair of processes (default: one per 5 s of run time, 3 to 10; one under 15 s).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub rounds: Option<At<u32>>,
    /// Re-measure what came out a regression this many times in fresh duet windows, and fail only if every confirmation agrees (default 0).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub confirm: Option<At<u32>>,
    /// Budgets: a selector and, per metric, how much worse head may be than base.
    #[serde(default)]
    #[schemars(with = "Vec<BudgetSchema>")]
    pub budgets: Vec<At<IndexMap<String, At<Scalar>>>>,
}
