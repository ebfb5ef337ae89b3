//! The plan: a validated gate compiled for the engine, with templates resolved to indices once.

use crate::gate::{self, Func, Gate, JsonPath, Part, Template};
use crate::http::BaseUrl;
use crate::http::Method;
use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use rand::rngs::SmallRng;
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Settings from the command line that override the gate file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--host`.
    pub host: Option<String>,
    /// `--users`.
    pub users: Option<u32>,
    /// `--spawn-rate`.
    pub spawn_rate: Option<f64>,
    /// `--run-time`.
    pub run_time: Option<Duration>,
    /// Scenario names given on the command line.
    pub scenarios: Vec<String>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--ca-file` and `--insecure`.
    pub tls: crate::http::TlsOptions,
}

/// A piece of a compiled template.
#[derive(Debug, Clone)]
pub enum Piece {
    /// Literal text, already encoded where it goes in a URL.
    Lit(String),
    /// The user variable with this index.
    Var(usize),
    /// A template function, evaluated per request.
    Func(Func),
}

/// What template functions draw on: the run's counter and the user's seeded stream.
pub struct Dynamic<'a> {
    /// The run's `{counter}`: the next value to hand out.
    pub counter: &'a AtomicU64,
    /// The user's stream for `{uuid}` and `{random_int}` (apart from task choice).
    pub rng: &'a mut SmallRng,
}

impl Dynamic<'_> {
    /// Appends the value of `f`; `encode` percent-encodes it for URLs.
    pub fn write(&mut self, f: Func, encode: bool, out: &mut String) {
        use std::fmt::Write;
        let _ = match f {
            Func::Uuid => {
                let bytes: [u8; 16] = self.rng.random();
                write!(
                    out,
                    "{}",
                    uuid::Builder::from_random_bytes(bytes).into_uuid().hyphenated()
                )
            }
            Func::Counter => write!(out, "{}", self.counter.fetch_add(1, Ordering::Relaxed)),
            Func::RandomInt(a, b) => write!(out, "{}", self.rng.random_range(a..=b)),
            Func::Now => write!(
                out,
                "{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis())
            ),
            Func::NowIso => {
                let t = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
                if encode {
                    percent_encode(&t, out);
                } else {
                    out.push_str(&t);
                }
                Ok(())
            }
        };
    }
}

/// A compiled text template.
#[derive(Debug, Clone, Default)]
pub struct Text {
    /// Pieces in order.
    pub pieces: Vec<Piece>,
}

impl Text {
    /// Appends the rendered text; `encode` percent-encodes variable values for URLs.
    #[inline]
    pub fn render(&self, vars: &[Option<String>], dynamic: &mut Dynamic<'_>, encode: bool, out: &mut String) {
        for p in &self.pieces {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Func(f) => dynamic.write(*f, encode, out),
                Piece::Var(i) => {
                    let v = vars.get(*i).and_then(|v| v.as_deref()).unwrap_or("");
                    if encode {
                        percent_encode(v, out)
                    } else {
                        out.push_str(v)
                    }
                }
            }
        }
    }
}

/// A JSON body: fixed bytes, or a template rendered per request.
#[derive(Debug, Clone)]
pub enum Body {
    /// No body.
    Empty,
    /// The same bytes every time.
    Fixed(Bytes),
    /// JSON whose strings read variables.
    Template(serde_json::Value),
    /// A raw or form body with variables; `encode` percent-encodes their values (a form's).
    Text {
        /// The body's template.
        text: Text,
        /// Whether values are percent-encoded.
        encode: bool,
    },
}

/// The User-Agent sent when the gate sets none.
pub const USER_AGENT: &str = concat!("perfgate/", env!("CARGO_PKG_VERSION"));

/// One compiled request.
#[derive(Debug, Clone)]
pub struct PlannedRequest {
    /// Index of its stats name.
    pub name: usize,
    /// Method.
    pub method: Method,
    /// Path and query with the base prefix, as a template; `fixed_uri` when it has no variables.
    pub uri: Text,
    /// The path and query prepared once when the template is plain text.
    pub fixed_uri: Option<String>,
    /// Header lines without variables (`name: value\r\n`), prepared once; Host is the target's.
    pub fixed_headers: Vec<u8>,
    /// The gate's `Connection: close`: the connection is not reused after this request.
    pub close: bool,
    /// Headers with variables.
    pub var_headers: Vec<(HeaderName, Text)>,
    /// The gate's own `Host` header (a virtual host), sent instead of the target's.
    pub host: Option<Text>,
    /// Body.
    pub body: Body,
    /// Acceptable statuses (empty: 2xx, 3xx).
    pub expect_status: Vec<u16>,
    /// JSON checks.
    pub expect_json: Vec<(JsonPath, serde_json::Value)>,
    /// Variables to set from the answer.
    pub extract: Vec<(usize, JsonPath)>,
    /// Lists to append to from the answer.
    pub append: Vec<(usize, JsonPath)>,
    /// `for_each`: the list whose items it is sent for, and the variable (`item`) each is put in.
    pub for_each: Option<(usize, usize)>,
    /// Whether redirects to the target's host are followed.
    pub follow_redirects: bool,
    /// Variables this request reads.
    pub needs: Vec<usize>,
}

/// Most items a list (`extract: {ids[]: ...}`) holds per user; later items are not kept.
pub const MAX_LIST: usize = 10_000;

impl PlannedRequest {
    /// Whether the answer's body must be kept and parsed.
    pub fn needs_body(&self) -> bool {
        !self.extract.is_empty() || !self.append.is_empty() || !self.expect_json.is_empty()
    }
}

/// One compiled task.
#[derive(Debug, Clone)]
pub struct PlannedTask {
    /// Index into the plan's task list.
    pub id: usize,
    /// Requests back to back.
    pub requests: Vec<PlannedRequest>,
    /// Variables that must be set before the task starts.
    pub needs: Vec<usize>,
}

/// One compiled user class.
#[derive(Debug, Clone)]
pub struct PlannedScenario {
    /// Class name.
    pub name: String,
    /// Think time range.
    pub think_time: (Duration, Duration),
    /// Initial variable values (by index).
    pub initial: Vec<Option<String>>,
    /// Start steps.
    pub on_start: Vec<PlannedRequest>,
    /// Tasks.
    pub tasks: Vec<PlannedTask>,
    /// Cumulative task weights, for picking.
    pub cumulative: Vec<u64>,
    /// Stop steps.
    pub on_stop: Vec<PlannedRequest>,
    /// How many lists a user keeps (`extract: {ids[]: ...}`).
    pub lists: usize,
    /// Test data: the variable of each column (None: no request reads it) and the rows.
    pub data: Option<(Vec<Option<usize>>, Rows)>,
}

/// A data file's rows, shared by every user of the scenario.
pub type Rows = std::sync::Arc<Vec<Vec<String>>>;

/// The data row a user gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowPick {
    /// Its scenario has no data.
    None,
    /// This row.
    Row(usize),
    /// `unique` data ran out of rows before this user: it does not start.
    Exhausted,
}

/// Everything the engine needs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Where load goes.
    pub base: BaseUrl,
    /// Request names, indexed by `PlannedRequest::name`.
    pub names: Vec<String>,
    /// Method of each request name.
    pub methods: Vec<Method>,
    /// Per request name: sent only by `on_start` or `on_stop` steps of the selected scenarios.
    pub lifecycle: Vec<bool>,
    /// `(scenario, task)` names, indexed by `PlannedTask::id`.
    pub tasks: Vec<(String, String)>,
    /// Selected user classes.
    pub scenarios: Vec<PlannedScenario>,
    /// Scenario index of each user, in spawn order.
    pub assignment: Vec<usize>,
    /// Data row of each user, in spawn order (beside `assignment`).
    pub rows: Vec<RowPick>,
    /// Users.
    pub users: u32,
    /// Users per second (infinite: all at once).
    pub spawn_rate: f64,
    /// Run time.
    pub run_time: Duration,
    /// Grace period.
    pub grace: Duration,
    /// Request timeout.
    pub timeout: Duration,
    /// Seed of every random choice.
    pub seed: u64,
    /// The open model's stages and pool, when load is an arrival rate.
    pub open: Option<gate::OpenModel>,
    /// How https targets are verified.
    pub tls: crate::http::TlsOptions,
    /// Local addresses connections are opened from, in turn (empty: the system's choice).
    pub source_addresses: Vec<std::net::IpAddr>,
}

impl Plan {
    /// The load as planned, in the results' terms.
    pub fn planned(&self) -> crate::metrics::assemble::Planned {
        use crate::metrics::results::{LoadInfo, LoadModel, StageInfo};
        crate::metrics::assemble::Planned {
            load: LoadInfo {
                model: if self.open.is_some() {
                    LoadModel::Open
                } else {
                    LoadModel::Closed
                },
                users: self.users,
                spawn_rate: self.spawn_rate.is_finite().then_some(self.spawn_rate),
                run_time_s: self.run_time.as_secs_f64(),
                grace_s: self.grace.as_secs_f64(),
                scenarios: self.scenarios.iter().map(|s| s.name.clone()).collect(),
                users_per_scenario: self.users_per_scenario(),
                seed: self.seed,
                stages: self
                    .open
                    .iter()
                    .flat_map(|o| o.stages.iter())
                    .map(|s| StageInfo {
                        duration_s: s.duration.as_secs_f64(),
                        from_rate: s.from,
                        to_rate: s.to,
                    })
                    .collect(),
                ramp_up_s: 0.0,
                duration_s: 0.0,
                peak_users: 0,
                abandoned_requests: 0,
                redirects_followed: 0,
                generator: Default::default(),
                duet: None,
                rounds: 1,
                shard: None,
                shards: Vec::new(),
            },
            names: self.names.iter().cloned().zip(self.methods.iter().copied()).collect(),
            lifecycle: self.lifecycle.clone(),
            tasks: self.tasks.clone(),
        }
    }

    /// Users per scenario.
    pub fn users_per_scenario(&self) -> BTreeMap<String, u32> {
        let mut m = BTreeMap::new();
        for &s in &self.assignment {
            *m.entry(self.scenarios[s].name.clone()).or_insert(0) += 1;
        }
        m
    }

    /// Compiles a gate with command-line overrides; errors are for the user (exit 2).
    pub fn new(gate: &Gate, o: &Overrides) -> Result<Plan, String> {
        let host = o.host.clone().or_else(|| gate.host.clone()).ok_or_else(|| {
            format!(
                "{}: no target: the gate file has no `host`, and no `--host` was given",
                gate.file
            )
        })?;
        let base = BaseUrl::parse(&host).map_err(|e| format!("--host: {e}"))?;
        let users = o.users.unwrap_or(gate.load.users);
        if users == 0 {
            return Err("--users must be at least 1".into());
        }
        if users > gate::MAX_USERS {
            return Err(format!(
                "--users {users} is more than the {} one perfgate process drives: shard the load across runs",
                gate::MAX_USERS
            ));
        }
        let spawn_rate = o.spawn_rate.unwrap_or(gate.load.spawn_rate);
        if spawn_rate.is_nan() || spawn_rate <= 0.0 {
            return Err("--spawn-rate must be a positive number of users per second".into());
        }
        if spawn_rate < gate::MIN_SPAWN_RATE {
            return Err(format!(
                "--spawn-rate must be from 0.000001 users per second upward (one user every 11.6 days is the slowest the engine schedules), found `{}`",
                gate::short_number(spawn_rate)
            ));
        }
        let run_time = o.run_time.unwrap_or(gate.load.run_time);
        if run_time.is_zero() {
            return Err("--run-time must be longer than zero".into());
        }
        let mut open = gate.load.open.clone();
        if let Some(m) = &mut open {
            if o.users.is_some() || o.spawn_rate.is_some() {
                return Err(format!(
                    "{}: --users and --spawn-rate are for the closed model; this gate's load is an arrival rate (set `max_connections` for the pool)",
                    gate.file
                ));
            }
            if let Some(rt) = o.run_time {
                match m.stages.as_mut_slice() {
                    [only] if only.from == only.to => only.duration = rt,
                    _ => {
                        return Err(format!(
                            "{}: --run-time cannot stretch a staged arrival rate; change the stages' durations",
                            gate.file
                        ))
                    }
                }
            }
        }
        let selected: Vec<&gate::Scenario> = if o.scenarios.is_empty() {
            gate.selected_scenarios()
        } else {
            let mut out = Vec::new();
            for name in &o.scenarios {
                let s = gate.scenarios.iter().find(|s| &s.name == name).ok_or_else(|| {
                    let names: Vec<&str> = gate.scenarios.iter().map(|s| s.name.as_str()).collect();
                    let hint = gate::error::closest(name, names.iter().copied())
                        .map(|c| format!(" Did you mean `{c}`?"))
                        .unwrap_or_else(|| format!(" Scenarios in {}: {}.", gate.file, names.join(", ")));
                    format!("no scenario named `{name}`.{hint}")
                })?;
                out.push(s);
            }
            out
        };

        // Variable table: every name any selected scenario reads or sets.
        let mut var_names: Vec<String> = gate.variables.iter().map(|(k, _)| k.clone()).collect();
        let mut var_idx = |name: &str, var_names: &mut Vec<String>| -> usize {
            match var_names.iter().position(|v| v == name) {
                Some(i) => i,
                None => {
                    var_names.push(name.to_string());
                    var_names.len() - 1
                }
            }
        };
        let mut names: Vec<String> = Vec::new();
        let mut list_names: Vec<String> = Vec::new();
        let mut methods: Vec<Method> = Vec::new();
        let mut tasks = Vec::new();
        let mut scenarios = Vec::new();
        let env = |name: &str| -> Result<String, String> {
            std::env::var(name).map_err(|_| {
                format!(
                    "{}: the environment variable `{name}` is not set (the gate reads it with `${{env:{name}}}`)",
                    gate.file
                )
            })
        };
        for s in &selected {
            let mut compile = |r: &gate::Request, var_names: &mut Vec<String>| -> Result<PlannedRequest, String> {
                let name = match names.iter().position(|n| n == &r.name) {
                    Some(i) => i,
                    None => {
                        names.push(r.name.clone());
                        methods.push(r.method);
                        names.len() - 1
                    }
                };
                let mut p = compile_request(r, name, &base, &gate.headers, var_names, &mut var_idx, &env)?;
                let mut list = |l: &str| match list_names.iter().position(|n| n == l) {
                    Some(i) => i,
                    None => {
                        list_names.push(l.to_string());
                        list_names.len() - 1
                    }
                };
                p.follow_redirects = r.follow_redirects.unwrap_or(gate.follow_redirects);
                p.append = r.append.iter().map(|(l, path)| (list(l), path.clone())).collect();
                if let Some(l) = &r.for_each {
                    let item = var_idx(gate::Request::ITEM, var_names);
                    p.needs.retain(|&n| n != item);
                    p.for_each = Some((list(l), item));
                }
                Ok(p)
            };
            let on_start = s
                .on_start
                .iter()
                .map(|r| compile(r, &mut var_names))
                .collect::<Result<Vec<_>, _>>()?;
            let mut ptasks = Vec::new();
            let mut cumulative = Vec::new();
            let mut acc = 0u64;
            for t in &s.tasks {
                let requests = t
                    .requests
                    .iter()
                    .map(|r| compile(r, &mut var_names))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut needs = Vec::new();
                let mut set_here = Vec::new();
                for r in &requests {
                    for n in &r.needs {
                        if !set_here.contains(n) && !needs.contains(n) {
                            needs.push(*n);
                        }
                    }
                    set_here.extend(r.extract.iter().map(|(v, _)| *v));
                }
                acc += u64::from(t.weight);
                cumulative.push(acc);
                ptasks.push(PlannedTask {
                    id: tasks.len(),
                    requests,
                    needs,
                });
                tasks.push((s.name.clone(), t.name.clone()));
            }
            let on_stop = s
                .on_stop
                .iter()
                .map(|r| compile(r, &mut var_names))
                .collect::<Result<Vec<_>, _>>()?;
            scenarios.push((s, on_start, ptasks, cumulative, on_stop));
        }
        let nvars = var_names.len();
        let nlists = list_names.len();
        let scenarios: Vec<PlannedScenario> = scenarios
            .into_iter()
            .map(|(s, on_start, tasks, cumulative, on_stop)| {
                let mut initial = vec![None; nvars];
                for (k, v) in gate.variables.iter().chain(s.variables.iter()) {
                    if let Some(i) = var_names.iter().position(|n| n == k) {
                        initial[i] = Some(v.clone());
                    }
                }
                PlannedScenario {
                    name: s.name.clone(),
                    think_time: s.think_time,
                    initial,
                    on_start,
                    tasks,
                    cumulative,
                    on_stop,
                    lists: nlists,
                    data: s.data.as_ref().map(|d| {
                        let vars = d
                            .columns
                            .iter()
                            .map(|c| var_names.iter().position(|n| n == c))
                            .collect();
                        (vars, d.rows.clone())
                    }),
                }
            })
            .collect();
        let lifecycle = names
            .iter()
            .map(|n| {
                !selected
                    .iter()
                    .any(|s| s.tasks.iter().any(|t| t.requests.iter().any(|r| &r.name == n)))
            })
            .collect();
        let weights: Vec<u32> = selected.iter().map(|s| s.weight).collect();
        let class_names: Vec<&str> = selected.iter().map(|s| s.name.as_str()).collect();
        let assignment = assign(users, &class_names, &weights);
        let seed = o.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
                ^ u64::from(std::process::id())
        });
        let rows = pick_rows(&assignment, &selected, seed);
        Ok(Plan {
            base,
            names,
            methods,
            lifecycle,
            tasks,
            scenarios,
            assignment,
            rows,
            users,
            spawn_rate,
            run_time,
            grace: gate.load.grace,
            timeout: gate.timeout,
            seed,
            open,
            tls: crate::http::TlsOptions {
                ca_file: o.tls.ca_file.clone().or_else(|| gate.tls.ca_file.clone()),
                insecure: o.tls.insecure || gate.tls.insecure,
            },
            source_addresses: gate.load.source_addresses.clone(),
        })
    }
}

/// Shares `users` among classes as Locust 2.x does (`locust/dispatch.py`): classes sorted by name,
/// weights scaled so the smallest is 2 (rounded half to even, as Python's `round`), then a smooth
/// weighted round-robin (nginx's, as the `roundrobin` package's `smooth`) over them deals the users
/// in spawn order. `names[i]` and `weights[i]` describe class `i`; the result holds class indices.
pub fn assign(users: u32, names: &[&str], weights: &[u32]) -> Vec<usize> {
    let min = weights.iter().copied().filter(|&w| w > 0).min().unwrap_or(0);
    if min == 0 || weights.len() != names.len() {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| names[a].cmp(names[b]));
    // round(2 * w / min), ties to even.
    let scaled: Vec<i64> = order
        .iter()
        .map(|&i| {
            let (num, den) = (2 * u64::from(weights[i]), u64::from(min));
            let (q, r) = (num / den, num % den);
            let up = 2 * r > den || (2 * r == den && q % 2 == 1);
            (q + u64::from(up)) as i64
        })
        .collect();
    let period: i64 = scaled.iter().sum();
    // The smooth weighted round-robin: each step every class gains its weight, the one ahead (the
    // first by name on a tie) is picked and pays back the total. Only the first `users` steps are
    // dealt, so weights like 1 and 4,000,000,000 cost no more than the users they share.
    let steps = period.min(i64::from(users));
    let mut current = vec![0i64; order.len()];
    let mut cycle = Vec::with_capacity(steps as usize);
    for _ in 0..steps {
        let mut total = 0;
        let mut best: Option<usize> = None;
        for k in 0..order.len() {
            current[k] += scaled[k];
            total += scaled[k];
            if best.is_none_or(|b| current[b] < current[k]) {
                best = Some(k);
            }
        }
        if let Some(b) = best {
            current[b] -= total;
            cycle.push(order[b]);
        }
    }
    cycle.iter().copied().cycle().take(users as usize).collect()
}

/// Each user's data row: per scenario, its i-th user gets row i mod n (`sequential`), row i while
/// rows last (`unique`), or a row drawn from the seed and the user's index (`random`).
fn pick_rows(assignment: &[usize], scenarios: &[&gate::Scenario], seed: u64) -> Vec<RowPick> {
    let mut seen = vec![0usize; scenarios.len()];
    let mut rng = <SmallRng as rand::SeedableRng>::seed_from_u64(seed ^ 0xDA7A_5EED_0000_0001);
    assignment
        .iter()
        .map(|&class| {
            let i = seen[class];
            seen[class] += 1;
            let Some(d) = &scenarios[class].data else {
                return RowPick::None;
            };
            let n = d.rows.len();
            match d.mode {
                gate::DataMode::Sequential => RowPick::Row(i % n),
                gate::DataMode::Unique if i < n => RowPick::Row(i),
                gate::DataMode::Unique => RowPick::Exhausted,
                gate::DataMode::Random => RowPick::Row(rng.random_range(0..n)),
            }
        })
        .collect()
}

type VarIdx<'a> = dyn FnMut(&str, &mut Vec<String>) -> usize + 'a;

fn compile_text(
    t: &Template,
    encode_lits: bool,
    vars: &mut Vec<String>,
    idx: &mut VarIdx<'_>,
    env: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Text, String> {
    let mut pieces = Vec::new();
    for p in &t.parts {
        let piece = match p {
            Part::Lit(s) => Piece::Lit(if encode_lits { encode_query_lit(s) } else { s.clone() }),
            Part::Var(v) => Piece::Var(idx(v, vars)),
            Part::Func(f) => Piece::Func(*f),
            // In a query value an environment variable's value is data, encoded like a literal.
            Part::Env(e) => Piece::Lit(if encode_lits {
                encode_query_lit(&env(e)?)
            } else {
                env(e)?
            }),
        };
        match (pieces.last_mut(), piece) {
            (Some(Piece::Lit(prev)), Piece::Lit(s)) => prev.push_str(&s),
            (_, piece) => pieces.push(piece),
        }
    }
    Ok(Text { pieces })
}

fn compile_request(
    r: &gate::Request,
    name: usize,
    base: &BaseUrl,
    _gate_headers: &[(String, Template)],
    vars: &mut Vec<String>,
    idx: &mut VarIdx<'_>,
    env: &dyn Fn(&str) -> Result<String, String>,
) -> Result<PlannedRequest, String> {
    let method = r.method;
    let mut uri = compile_text(&r.path, false, vars, idx, env)?;
    // Literal non-ASCII text in a path is sent UTF-8 and percent-encoded, as variables are.
    for p in &mut uri.pieces {
        if let Piece::Lit(s) = p {
            if !s.is_ascii() {
                *s = encode_non_ascii(s);
            }
        }
    }
    if !base.prefix.is_empty() {
        uri.pieces.insert(0, Piece::Lit(base.prefix.clone()));
    }
    for (i, (k, v)) in r.query.iter().enumerate() {
        uri.pieces.push(Piece::Lit(format!(
            "{}{}=",
            if i == 0 { '?' } else { '&' },
            encode_query_lit(k)
        )));
        uri.pieces.extend(compile_text(v, true, vars, idx, env)?.pieces);
    }
    merge_lits(&mut uri);
    let fixed_uri = match uri.pieces.as_slice() {
        [Piece::Lit(s)] => {
            s.parse::<hyper::Uri>()
                .map_err(|e| format!("request `{}`: invalid path: {e}", r.name))?;
            // A fragment stays with the client; it is never sent.
            Some(s.split('#').next().unwrap_or("/").to_string())
        }
        [] => Some("/".to_string()),
        _ => None,
    };
    // The Host header is the target's, added per request (duet mode has two targets).
    let mut headers = HeaderMap::new();
    let mut var_headers = Vec::new();
    let mut needs: Vec<usize> = Vec::new();
    let mut host = None;
    for (k, v) in &r.headers {
        let hname = HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("invalid header name `{k}`"))?;
        // A gate's Host header names a virtual host: it is sent instead of the target's.
        if hname == hyper::header::HOST {
            host = Some(compile_text(v, false, vars, idx, env)?);
            continue;
        }
        // perfgate frames the body itself (Content-Length).
        if hname == hyper::header::CONTENT_LENGTH || hname == hyper::header::TRANSFER_ENCODING {
            continue;
        }
        // A later header of the same name (in any case) replaces an earlier one.
        headers.remove(&hname);
        var_headers.retain(|(n, _)| n != hname);
        let text = compile_text(v, false, vars, idx, env)?;
        match text.pieces.as_slice() {
            [Piece::Lit(s)] => {
                let hv = HeaderValue::from_str(s)
                    .map_err(|_| format!("header `{k}`: its value is not valid in a header"))?;
                headers.insert(hname, hv);
            }
            [] => {
                headers.insert(hname, HeaderValue::from_static(""));
            }
            _ => var_headers.push((hname, text)),
        }
    }
    let content_type = |headers: &mut HeaderMap, value: &str| -> Result<(), String> {
        if !headers.contains_key(hyper::header::CONTENT_TYPE)
            && !var_headers.iter().any(|(n, _)| n == hyper::header::CONTENT_TYPE)
        {
            let v =
                HeaderValue::from_str(value).map_err(|_| format!("content type `{value}` is not a header value"))?;
            headers.insert(hyper::header::CONTENT_TYPE, v);
        }
        Ok(())
    };
    let text_body = |text: Text, encode: bool| match text.pieces.as_slice() {
        [] => Body::Empty,
        [Piece::Lit(s)] => Body::Fixed(Bytes::from(s.clone())),
        _ => Body::Text { text, encode },
    };
    let body = match (&r.json, &r.raw) {
        (None, Some((ctype, t))) => {
            content_type(&mut headers, ctype)?;
            text_body(compile_text(t, false, vars, idx, env)?, false)
        }
        (None, None) if !r.form.is_empty() => {
            content_type(&mut headers, "application/x-www-form-urlencoded")?;
            let mut text = Text::default();
            for (i, (k, v)) in r.form.iter().enumerate() {
                let sep = if i == 0 { "" } else { "&" };
                text.pieces.push(Piece::Lit(format!("{sep}{}=", encode_query_lit(k))));
                text.pieces.extend(compile_text(v, true, vars, idx, env)?.pieces);
            }
            merge_lits(&mut text);
            text_body(text, true)
        }
        (None, _) => Body::Empty,
        (Some(v), _) => {
            content_type(&mut headers, "application/json")?;
            let mut has_vars = false;
            gate::json_templates(v, &mut |t| has_vars |= !t.is_literal());
            if has_vars {
                let mut ok = Ok(());
                let resolved = resolve_json(v, vars, idx, env, &mut ok);
                ok?;
                Body::Template(resolved)
            } else {
                Body::Fixed(Bytes::from(serde_json::to_vec(v).map_err(|e| e.to_string())?))
            }
        }
    };
    for v in r.vars() {
        needs.push(idx(&v, vars));
    }
    // Like k6 and oha, perfgate names itself unless the gate sets a User-Agent.
    if !headers.contains_key(hyper::header::USER_AGENT)
        && !var_headers.iter().any(|(n, _)| n == hyper::header::USER_AGENT)
    {
        headers.insert(hyper::header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
    }
    let close = headers
        .get(hyper::header::CONNECTION)
        .is_some_and(|v| super::client::contains_token(v.as_bytes(), b"close"));
    let mut fixed_headers = Vec::new();
    for (k, v) in &headers {
        fixed_headers.extend_from_slice(k.as_str().as_bytes());
        fixed_headers.extend_from_slice(b": ");
        fixed_headers.extend_from_slice(v.as_bytes());
        fixed_headers.extend_from_slice(b"\r\n");
    }
    let extract = r.extract.iter().map(|(k, p)| (idx(k, vars), p.clone())).collect();
    Ok(PlannedRequest {
        name,
        method,
        uri,
        fixed_uri,
        fixed_headers,
        close,
        var_headers,
        host,
        body,
        expect_status: r.expect_status.clone(),
        expect_json: r.expect_json.clone(),
        extract,
        append: Vec::new(),
        for_each: None,
        follow_redirects: true,
        needs,
    })
}

/// Rewrites `{name}` in JSON strings to `{#index}` so rendering needs no name lookups.
fn resolve_json(
    v: &serde_json::Value,
    vars: &mut Vec<String>,
    idx: &mut VarIdx<'_>,
    env: &dyn Fn(&str) -> Result<String, String>,
    ok: &mut Result<(), String>,
) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            let t = Template::parse(s).unwrap_or_default();
            let mut out = String::new();
            for p in &t.parts {
                match p {
                    Part::Lit(l) => out.push_str(l),
                    Part::Var(name) => out.push_str(&format!("{{#{}}}", idx(name, vars))),
                    Part::Func(f) => out.push_str(&format!("{{#{f}}}")),
                    Part::Env(e) => match env(e) {
                        Ok(val) => out.push_str(&val),
                        Err(err) => *ok = Err(err),
                    },
                }
            }
            Value::String(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| resolve_json(x, vars, idx, env, ok)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), resolve_json(x, vars, idx, env, ok)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Renders a JSON body template written by `resolve_json` with the user's variables and functions.
pub fn render_json(v: &serde_json::Value, vars: &[Option<String>], dynamic: &mut Dynamic<'_>) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) if s.contains("{#") => {
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            while let Some(i) = rest.find("{#") {
                out.push_str(&rest[..i]);
                let after = &rest[i + 2..];
                match after
                    .find('}')
                    .and_then(|e| after[..e].parse::<usize>().ok().map(|n| (e, n)))
                {
                    Some((e, n)) => {
                        out.push_str(vars.get(n).and_then(|v| v.as_deref()).unwrap_or(""));
                        rest = &after[e + 1..];
                    }
                    None if after
                        .find('}')
                        .is_some_and(|e| matches!(Func::parse(&after[..e]), Ok(Some(_)))) =>
                    {
                        let e = after.find('}').unwrap_or(0);
                        if let Ok(Some(f)) = Func::parse(&after[..e]) {
                            dynamic.write(f, false, &mut out);
                        }
                        rest = &after[e + 1..];
                    }
                    None => {
                        out.push_str("{#");
                        rest = after;
                    }
                }
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| render_json(x, vars, dynamic)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), render_json(x, vars, dynamic)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `s` with every byte outside ASCII percent-encoded (`/café` → `/caf%C3%A9`).
fn encode_non_ascii(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

fn merge_lits(t: &mut Text) {
    let mut out: Vec<Piece> = Vec::with_capacity(t.pieces.len());
    for p in t.pieces.drain(..) {
        match (out.last_mut(), p) {
            (Some(Piece::Lit(prev)), Piece::Lit(s)) => prev.push_str(&s),
            (_, p) => out.push(p),
        }
    }
    t.pieces = out;
}

fn encode_query_lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    percent_encode(s, &mut out);
    out
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(
                char::from_digit(u32::from(b >> 4), 16)
                    .unwrap_or('0')
                    .to_ascii_uppercase(),
            );
            out.push(
                char::from_digit(u32::from(b & 15), 16)
                    .unwrap_or('0')
                    .to_ascii_uppercase(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_follows_locust_sorted_by_class_name() {
        // Written C, A, B in the gate: Locust sorts by name, so A gets the tenth user (4/3/3).
        let a = assign(10, &["C", "A", "B"], &[1, 1, 1]);
        let count = |i| a.iter().filter(|&&x| x == i).count();
        assert_eq!((count(1), count(2), count(0)), (4, 3, 3));
        assert_eq!(&a[..4], &[1, 2, 0, 1]);
        // Locust's own example: A, B weights 5 and 1 deal AAABAAAAABAA.
        let a = assign(12, &["A", "B"], &[5, 1]);
        let s: String = a.iter().map(|&i| if i == 0 { 'A' } else { 'B' }).collect();
        assert_eq!(s, "AAABAAAAABAA");
        // And A, B, C of weights 2, 5, 6: `CBACBCBCBCABC`, then again.
        let a = assign(14, &["A", "B", "C"], &[2, 5, 6]);
        let s: String = a.iter().map(|&i| ['A', 'B', 'C'][i]).collect();
        assert_eq!(s, "CBACBCBCBCABCC");
        assert_eq!(assign(1, &["x", "y"], &[1, 1]), vec![0]);
    }

    #[test]
    fn assignment_deals_only_as_many_steps_as_users() {
        // Weights 1 and u32::MAX make a cycle of 8.6 billion steps; 3 users need 3 of them (the
        // whole cycle was allocated first: 68 GB, found by tests/fuzz.rs).
        assert_eq!(assign(3, &["a", "b"], &[1, u32::MAX]), vec![1, 1, 1]);
        // Fewer users than the cycle: the same prefix as the whole cycle gives.
        let a = assign(5, &["A", "B"], &[5, 1]);
        assert_eq!(a, vec![0, 0, 0, 1, 0]);
        assert!(assign(0, &["a"], &[1]).is_empty());
    }

    #[test]
    fn encodes_and_renders() {
        let mut s = String::new();
        percent_encode("a b/c", &mut s);
        assert_eq!(s, "a%20b%2Fc");
        let v = serde_json::json!({"id": "{#0}", "n": ["x{#1}y", 3], "c": "{#counter}-{#random_int 5 5}"});
        let counter = AtomicU64::new(7);
        let mut rng = <SmallRng as rand::SeedableRng>::seed_from_u64(1);
        let mut dynamic = Dynamic {
            counter: &counter,
            rng: &mut rng,
        };
        let r = render_json(&v, &[Some("m1".into()), None], &mut dynamic);
        assert_eq!(r, serde_json::json!({"id": "m1", "n": ["xy", 3], "c": "7-5"}));
    }
}
