//! The results document: versioned JSON, also the baseline and shard format.

use super::hist::Hist;
use super::FailureKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Name of the results schema.
pub const SCHEMA: &str = "perfgate.results";
/// Version of the results schema this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;
/// Minor version of the results schema this build writes: fields added within [`SCHEMA_VERSION`]
/// (1: bytes sent and received, connect times, time to first byte; 2: the machine's boot id and
/// online CPUs). Files
/// of any minor version are read; a field a file lacks reads as empty.
pub const SCHEMA_MINOR: u32 = 2;

/// Counts and latency of one request name over one phase (or merged phases).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Requests completed (successes and failures).
    pub requests: u64,
    /// Requests that failed.
    pub failures: u64,
    /// Sum of latencies in µs, for an exact mean.
    pub sum_us: u64,
    /// Smallest latency in µs (0 when empty).
    pub min_us: u64,
    /// Largest latency in µs.
    pub max_us: u64,
    /// Response body bytes received.
    #[serde(default)]
    pub bytes: u64,
    /// Request bytes written (line, headers and body), every attempt counted.
    #[serde(default)]
    pub bytes_sent: u64,
    /// Response bytes read (heads and bodies as they came off the connection), of answered requests.
    #[serde(default)]
    pub bytes_received: u64,
    /// Connections opened for this name's requests and how long opening them took (TCP, and TLS for
    /// https); requests on a reused connection add nothing.
    #[serde(default, skip_serializing_if = "Connects::is_empty")]
    pub connects: Connects,
    /// Time to first byte of answered requests, µs: from the request's send to the first byte of its
    /// answer (2 significant digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfb_histogram: Option<Hist>,
    /// Failures by kind.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failures_by_kind: BTreeMap<FailureKind, u64>,
    /// Answers by status code (requests that got no answer are absent).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub status_codes: BTreeMap<u16, u64>,
    /// Statuses of answers that failed for their status.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failed_statuses: BTreeMap<u16, u64>,
    /// Why requests failed, as the client said it (at most [`MAX_REASONS`] distinct reasons; the rest
    /// are counted under [`OTHER_REASONS`] of their kind). Status failures are in `failed_statuses`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failure_reasons: Vec<Reason>,
    /// Latency histogram of every completed request, µs (open model: from the intended send time).
    pub histogram: Hist,
    /// Open model: service time from the actual send, µs (what a tool with coordinated omission reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_histogram: Option<Hist>,
}

/// New connections and the time they took to open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Connects {
    /// Connections opened.
    pub count: u64,
    /// Time opening them, µs in all.
    pub sum_us: u64,
    /// The longest, µs.
    pub max_us: u64,
}

impl Connects {
    /// Whether no connection was opened.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Mean time to open a connection, ms (0 when none was opened).
    pub fn mean_ms(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_us as f64 / self.count as f64 / 1000.0
        }
    }

    /// Adds another block's connections (saturating: a damaged file must not overflow).
    pub fn merge(&mut self, o: &Connects) {
        self.count = self.count.saturating_add(o.count);
        self.sum_us = self.sum_us.saturating_add(o.sum_us);
        self.max_us = self.max_us.max(o.max_us);
    }
}

/// Distinct failure reasons kept per request name and phase.
pub const MAX_REASONS: usize = 10;
/// The reason failures beyond [`MAX_REASONS`] distinct ones are counted under.
pub const OTHER_REASONS: &str = "(other reasons)";

/// How often requests failed for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// The kind of failure.
    pub kind: FailureKind,
    /// What the client said, e.g. `invalid HTTP response: bad content-length `abc``.
    pub reason: String,
    /// Occurrences.
    pub count: u64,
}

/// Adds `count` failures of `kind` for `reason` to `reasons`, keeping at most [`MAX_REASONS`]
/// distinct reasons (the rest go to [`OTHER_REASONS`] of their kind).
pub fn add_reason(reasons: &mut Vec<Reason>, kind: FailureKind, reason: &str, count: u64) {
    if let Some(r) = reasons.iter_mut().find(|r| r.kind == kind && r.reason == reason) {
        r.count = r.count.saturating_add(count);
        return;
    }
    let reason = if reasons.len() < MAX_REASONS || reason == OTHER_REASONS {
        reason
    } else {
        OTHER_REASONS
    };
    match reasons.iter_mut().find(|r| r.kind == kind && r.reason == reason) {
        Some(r) => r.count = r.count.saturating_add(count),
        None => reasons.push(Reason {
            kind,
            reason: reason.to_string(),
            count,
        }),
    }
}

impl Stats {
    /// Counts one completed request (`service`: keep its service time apart, the open model).
    pub fn record(&mut self, x: &super::recorder::Sample, service: bool) {
        let us = x.us;
        self.bytes = self.bytes.saturating_add(x.bytes);
        self.bytes_sent = self.bytes_sent.saturating_add(x.sent);
        self.bytes_received = self.bytes_received.saturating_add(x.received);
        if let Some(c) = x.connect_us {
            self.connects.merge(&Connects {
                count: 1,
                sum_us: c,
                max_us: c,
            });
        }
        if let Some(t) = x.ttfb_us {
            self.ttfb_histogram.get_or_insert_with(Hist::coarse).record(t);
        }
        self.min_us = if self.requests == 0 { us } else { self.min_us.min(us) };
        self.max_us = self.max_us.max(us);
        self.requests += 1;
        self.sum_us = self.sum_us.saturating_add(us);
        if let Some(k) = x.failure {
            self.failures += 1;
            *self.failures_by_kind.entry(k).or_default() += 1;
            if k == FailureKind::Status {
                *self.failed_statuses.entry(x.status).or_default() += 1;
            }
        }
        if x.status != 0 {
            *self.status_codes.entry(x.status).or_default() += 1;
        }
        self.histogram.record(us);
        if service {
            self.service_histogram
                .get_or_insert_with(Hist::new)
                .record(x.service_us);
        }
    }

    /// The failure reasons, most frequent first.
    pub fn top_reasons(&self) -> Vec<&Reason> {
        let mut v: Vec<&Reason> = self.failure_reasons.iter().collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
        v
    }

    /// Adds another stats block (exact: histograms add).
    pub fn merge(&mut self, o: &Stats) {
        if o.requests == 0 {
            return;
        }
        for r in &o.failure_reasons {
            add_reason(&mut self.failure_reasons, r.kind, &r.reason, r.count);
        }
        self.min_us = if self.requests == 0 {
            o.min_us
        } else {
            self.min_us.min(o.min_us)
        };
        self.max_us = self.max_us.max(o.max_us);
        // Saturating: a corrupt results file must not overflow (counts this large are never real).
        self.requests = self.requests.saturating_add(o.requests);
        self.failures = self.failures.saturating_add(o.failures);
        self.sum_us = self.sum_us.saturating_add(o.sum_us);
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.bytes_sent = self.bytes_sent.saturating_add(o.bytes_sent);
        self.bytes_received = self.bytes_received.saturating_add(o.bytes_received);
        self.connects.merge(&o.connects);
        match (&mut self.ttfb_histogram, &o.ttfb_histogram) {
            (Some(a), Some(b)) => a.add(b),
            (None, Some(b)) => self.ttfb_histogram = Some(b.clone()),
            _ => {}
        }
        for (k, v) in &o.failures_by_kind {
            let e = self.failures_by_kind.entry(*k).or_default();
            *e = e.saturating_add(*v);
        }
        for (k, v) in &o.status_codes {
            let e = self.status_codes.entry(*k).or_default();
            *e = e.saturating_add(*v);
        }
        for (k, v) in &o.failed_statuses {
            let e = self.failed_statuses.entry(*k).or_default();
            *e = e.saturating_add(*v);
        }
        self.histogram.add(&o.histogram);
        match (&mut self.service_histogram, &o.service_histogram) {
            (Some(a), Some(b)) => a.add(b),
            (None, Some(b)) => self.service_histogram = Some(b.clone()),
            _ => {}
        }
    }

    /// Mean latency in milliseconds (0 when empty).
    pub fn mean_ms(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.sum_us as f64 / self.requests as f64 / 1000.0
        }
    }

    /// Latency at quantile `q` (0..=1) in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.histogram.quantile_us(q) as f64 / 1000.0
    }

    /// Time to first byte at quantile `q` (0..=1) in milliseconds; None when none was recorded.
    pub fn ttfb_ms(&self, q: f64) -> Option<f64> {
        self.ttfb_histogram
            .as_ref()
            .filter(|h| !h.is_empty())
            // The middle of its 2-digit bucket (not the top, as for latencies): half the rounding.
            .map(|h| h.median_equivalent(h.quantile_us(q)) as f64 / 1000.0)
    }

    /// Failed share of requests, in percent.
    pub fn error_rate_pct(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.failures as f64 * 100.0 / self.requests as f64
        }
    }
}

/// Both phases of a request name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Phases {
    /// While users were still being spawned.
    pub ramp_up: Stats,
    /// After every user was running.
    pub steady: Stats,
}

impl Phases {
    /// Both phases merged.
    pub fn all(&self) -> Stats {
        let mut s = self.ramp_up.clone();
        s.merge(&self.steady);
        s
    }
}

/// Stats of one request name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestStats {
    /// Stats key, e.g. `GET /api/runs/{run_id}`.
    pub name: String,
    /// HTTP method.
    pub method: crate::http::Method,
    /// Sent only by `on_start` or `on_stop` steps (never by a task): left out of `total`, method and
    /// glob selections unless selected by name.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lifecycle: bool,
    /// Per phase.
    pub phases: Phases,
}

/// How often a task ran, and how often it was skipped for a missing variable.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskStats {
    /// Scenario name.
    pub scenario: String,
    /// Task name.
    pub task: String,
    /// Times it ran.
    pub runs: u64,
    /// Times it was skipped because a variable it reads was unset.
    pub skipped: u64,
}

/// One request name in one second of the series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamePoint {
    /// Request name.
    pub name: String,
    /// Requests completed in the interval.
    pub requests: u64,
    /// Failures in the interval.
    pub failures: u64,
    /// p50 latency, ms.
    pub p50_ms: f64,
    /// p95 latency, ms.
    pub p95_ms: f64,
    /// p99 latency, ms.
    pub p99_ms: f64,
    /// Sum of latencies in the interval, µs (the interval's exact mean with `requests`).
    #[serde(default)]
    pub sum_us: u64,
    /// The interval's latencies as a [`super::coarse::Coarse`] histogram (empty in files written before
    /// perfgate kept them): what the verdict builds time blocks from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hist: String,
}

/// One interval (about a second) of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// End of the interval, seconds since the start.
    pub t: f64,
    /// Interval length, seconds.
    pub dt: f64,
    /// Users running at the end of the interval.
    pub users: u32,
    /// Whether the interval is part of the ramp-up.
    pub ramp_up: bool,
    /// Requests completed in the interval.
    pub requests: u64,
    /// Failures in the interval.
    pub failures: u64,
    /// p50 latency of all requests, ms.
    pub p50_ms: f64,
    /// p95 latency of all requests, ms.
    pub p95_ms: f64,
    /// p99 latency of all requests, ms.
    pub p99_ms: f64,
    /// Latency of all requests in the interval at [`LOCUST_PERCENTILES`], ms.
    #[serde(default)]
    pub total_pct_ms: Vec<f64>,
    /// Response bytes in the interval.
    #[serde(default)]
    pub bytes: u64,
    /// Everything from the start to the end of the interval.
    #[serde(default)]
    pub cumulative: Cumulative,
    /// Per request name (names with no request in the interval left out).
    pub names: Vec<NamePoint>,
    /// The round of a duet run in rounds (each with a fresh pair of processes), from 0; 0 otherwise.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub round: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// The percentiles Locust's CSV files report, as fractions.
pub const LOCUST_PERCENTILES: [f64; 11] = [0.5, 0.66, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0];

/// Totals from the start of the run to a point of the series.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cumulative {
    /// Requests.
    pub requests: u64,
    /// Failures.
    pub failures: u64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// Mean latency, ms.
    pub avg_ms: f64,
    /// Smallest latency, ms.
    pub min_ms: f64,
    /// Largest latency, ms.
    pub max_ms: f64,
    /// Response bytes.
    pub bytes: u64,
}

/// The tool that wrote a results file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    /// Always `perfgate`.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// Which gate file produced a results file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GateInfo {
    /// The path as given.
    pub file: String,
    /// The gate name.
    pub name: String,
    /// SHA-256 of the gate file.
    pub sha256: String,
}

/// The machine a run ran on, to warn when a baseline came from another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// Operating system.
    pub os: String,
    /// CPU architecture.
    pub arch: String,
    /// Logical CPUs.
    pub cpus: usize,
    /// CPU model name, when known.
    pub cpu_model: Option<String>,
    /// The running kernel's boot id (Linux): shards that carry the same one shared the machine's CPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// The machine's online CPUs, beyond this process's share (`cpus` follows affinity and quotas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_cpus: Option<usize>,
}

/// How well the load generator held its plan, and what it cost.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Generator {
    /// CPU time the perfgate process used, seconds (user + system), when the OS tells.
    pub cpu_s: Option<f64>,
    /// That CPU time as a share of all cores over the run, percent.
    pub cpu_pct: Option<f64>,
    /// Sends that had a planned time (after think time, or an arrival).
    pub planned_sends: u64,
    /// Of those, sends that started more than 10 ms after their planned time.
    pub late_sends: u64,
    /// Largest lateness, ms.
    pub max_lag_ms: f64,
    /// Mean lateness, ms.
    pub mean_lag_ms: f64,
    /// Open model: arrivals planned.
    pub arrivals: u64,
    /// Open model: arrivals dropped because every connection was busy and the queue full.
    pub dropped: u64,
    /// Open model: arrivals that waited more than 10 ms for a free connection (the target was slow).
    pub queued: u64,
    /// Connections the generator's own limits failed (out of file descriptors or local ports): these
    /// failures are the runner's, and the run is untrusted.
    #[serde(default)]
    pub local_faults: u64,
    /// Planned sends after a request the service left unanswered (timeout, refused, cut off): not in
    /// `planned_sends`, since a hung service sets off their herds.
    #[serde(default)]
    pub after_unanswered: u64,
    /// Of those, sends that started more than 10 ms late.
    #[serde(default)]
    pub late_after_unanswered: u64,
    /// Why the run cannot be trusted, when the generator could not hold the plan.
    pub untrusted: Option<String>,
}

/// The load model of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadModel {
    /// Users with think time (Locust's model).
    Closed,
    /// Arrivals at a planned rate, whatever the service's speed.
    Open,
}

/// Which side of a duet a results file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The build under test.
    Head,
    /// The build it is compared with.
    Base,
}

/// Planned and achieved load.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadInfo {
    /// `closed` (users with think time) or `open` (arrival rate).
    pub model: LoadModel,
    /// Planned users.
    pub users: u32,
    /// Planned spawn rate, users/s (None: all at once).
    pub spawn_rate: Option<f64>,
    /// Planned run time, s.
    pub run_time_s: f64,
    /// Grace period after the run time, s.
    pub grace_s: f64,
    /// Scenarios that ran.
    pub scenarios: Vec<String>,
    /// Users per scenario.
    pub users_per_scenario: BTreeMap<String, u32>,
    /// Seed of the task and think-time sequence.
    pub seed: u64,
    /// Seconds from start until every user was running.
    pub ramp_up_s: f64,
    /// Seconds during which load ran (start to the run time, or to an interruption).
    pub duration_s: f64,
    /// Most users running at once.
    pub peak_users: u32,
    /// Requests still in flight when the grace period ended (not counted).
    pub abandoned_requests: u64,
    /// Redirects followed to the target's own host (each request's row has the final status).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub redirects_followed: u64,
    /// Open model: the stages as planned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<StageInfo>,
    /// How well the generator held the plan.
    #[serde(default)]
    pub generator: Generator,
    /// Set when this run was one side of a duet (head and base loaded together).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duet: Option<Duet>,
    /// Duet rounds, each with a fresh pair of processes (1: one pair; the series tags each point
    /// with its round).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub rounds: u32,
    /// Set when this file is one shard of a sharded run (`--shard I/N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// Set when this file is the merge of a sharded run's files: each shard, in index order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardSummary>,
}

/// Which share of a sharded run a results file is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// From 1 to `count`.
    pub index: u32,
    /// Shards in the run.
    pub count: u32,
    /// Shared by every shard of one run (`--run-id`, or derived from the gate, seed and start).
    pub run_id: String,
    /// The run's seed (each shard's own is derived from it).
    pub run_seed: u64,
    /// The planned common start (`--start-at`), RFC 3339, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
}

/// One shard of a merged run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardSummary {
    /// From 1.
    pub index: u32,
    /// Its start, RFC 3339.
    pub started_at: String,
    /// The machine it ran on.
    pub environment: Environment,
    /// How well its generator held its plan.
    pub generator: Generator,
    /// Its users.
    pub users: u32,
    /// Its requests.
    pub requests: u64,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// The service perfgate started and watched (`--serve`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerInfo {
    /// The command as run.
    pub command: String,
    /// Where its output went.
    pub log: String,
    /// One sample per second of its process tree.
    pub samples: Vec<ServerSample>,
    /// Set when it exited during the run: its status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exited: Option<String>,
}

/// The service's process tree at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerSample {
    /// Seconds since the load started.
    pub t: f64,
    /// CPU over the last interval, percent of one core.
    pub cpu_pct: f64,
    /// Resident memory, MiB.
    pub rss_mb: f64,
    /// Open file descriptors.
    pub fds: u64,
    /// Threads.
    pub threads: u64,
    /// Processes.
    pub processes: u64,
}

impl ServerInfo {
    /// Samples after `from` seconds (the steady phase when `from` is the ramp-up).
    pub fn after(&self, from: f64) -> Vec<ServerSample> {
        self.samples.iter().copied().filter(|s| s.t > from).collect()
    }
}

/// One open-model stage as planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageInfo {
    /// Length, s.
    pub duration_s: f64,
    /// Arrivals per second at its start.
    pub from_rate: f64,
    /// Arrivals per second at its end.
    pub to_rate: f64,
}

/// Which duet a results file belongs to, and which side it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Duet {
    /// Shared by both sides of one duet run.
    pub id: String,
    /// `head` or `base`.
    pub side: Side,
}

/// One run's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The schema version, [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The minor version, [`SCHEMA_MINOR`] (0 in files written before there was one).
    #[serde(default)]
    pub schema_minor: u32,
    /// The writer.
    pub tool: Tool,
    /// The gate file.
    pub gate: GateInfo,
    /// Git commit of the working directory, when known.
    pub commit: Option<String>,
    /// The machine.
    pub environment: Environment,
    /// Start, RFC 3339 UTC.
    pub started_at: String,
    /// End, RFC 3339 UTC.
    pub finished_at: String,
    /// Base URL of the target.
    pub target: String,
    /// Planned and achieved load.
    pub load: LoadInfo,
    /// Whether the run was stopped early.
    pub interrupted: bool,
    /// Per request name, in first-seen order of the gate file.
    pub requests: Vec<RequestStats>,
    /// Per task.
    pub tasks: Vec<TaskStats>,
    /// Per interval.
    pub series: Vec<SeriesPoint>,
    /// The service under test, when perfgate started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerInfo>,
    /// The verdict this run got when it was written: every check and comparison with its outcome,
    /// measured value, interval, minimum detectable effect and reason (informational: a later
    /// `report` or `compare` judges again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<serde_json::Value>,
}

/// Why a results file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a results document of this schema.
    #[error("{path}: {why}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
}

impl Results {
    /// All requests merged, over the given phases.
    pub fn total(&self, include_ramp_up: bool) -> Stats {
        let mut t = Stats::default();
        for r in &self.requests {
            if include_ramp_up {
                t.merge(&r.phases.ramp_up);
            }
            t.merge(&r.phases.steady);
        }
        t
    }

    /// Reads and checks a results file.
    pub fn read(path: &Path) -> Result<Results, ResultsError> {
        let p = path.display().to_string();
        let text = crate::input::read_text(path, crate::input::RESULTS_MAX).map_err(|source| ResultsError::Io {
            path: p.clone(),
            source,
        })?;
        Results::from_json(&p, &text)
    }

    /// Parses results text; `path` names it in errors.
    pub fn from_json(path: &str, text: &str) -> Result<Results, ResultsError> {
        let invalid = |why: String| ResultsError::Invalid {
            path: path.to_string(),
            why,
        };
        // A byte-order mark (some editors write one) is not part of the JSON.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            invalid(if e.is_eof() {
                format!(
                    "the file ends early (line {}): it was probably cut off while being written",
                    e.line()
                )
            } else {
                format!("not JSON: {e}")
            })
        })?;
        let schema = value.get("schema").and_then(|v| v.as_str());
        let version = value.get("schema_version").and_then(|v| v.as_u64());
        match (schema, version) {
            (Some(SCHEMA), Some(v)) if v == u64::from(SCHEMA_VERSION) => {}
            (Some(SCHEMA), Some(v)) => {
                return Err(invalid(format!(
                    "results schema version {v}, but this perfgate reads version {SCHEMA_VERSION}: re-run the baseline with this version"
                )))
            }
            (Some(SCHEMA), None) => {
                return Err(invalid(format!(
                    "`schema_version` is {}, not a whole number: the file was edited or damaged; re-run to record it again",
                    value.get("schema_version").map_or("missing".into(), |v| v.to_string())
                )))
            }
            _ => return Err(invalid(format!("not a perfgate results file (no `\"schema\": \"{SCHEMA}\"`)"))),
        }
        let results: Results = serde_path_to_error::deserialize(value).map_err(|e| {
            let at = e.path().to_string();
            let inner = e.into_inner();
            invalid(if at == "." {
                format!("invalid results: {inner}")
            } else {
                format!("invalid results at `{at}`: {inner}")
            })
        })?;
        results
            .check_consistency()
            .map_err(|why| invalid(format!("inconsistent results: {why}; re-run to record it again")))?;
        Ok(results)
    }

    /// Checks what the schema cannot: counts that agree and durations above zero, so a tampered or
    /// damaged file is refused instead of judged (NaN intervals, shares above 100 %). The error names
    /// the field's path, e.g. `requests[0].phases.steady.failures`.
    pub fn check_consistency(&self) -> Result<(), String> {
        let positive = |x: f64, at: &str| -> Result<(), String> {
            if x.is_finite() && x > 0.0 {
                Ok(())
            } else {
                Err(format!("`{at}` is {x}; a duration must be above 0"))
            }
        };
        let not_negative = |x: f64, at: &str| -> Result<(), String> {
            if x.is_finite() && x >= 0.0 {
                Ok(())
            } else {
                Err(format!("`{at}` is {x}; it must be 0 or more"))
            }
        };
        let counts = |requests: u64, failures: u64, at: &str| -> Result<(), String> {
            if failures > requests {
                Err(format!(
                    "`{at}.failures` is {failures}, more than its {requests} requests"
                ))
            } else {
                Ok(())
            }
        };
        let l = &self.load;
        positive(l.duration_s, "load.duration_s")?;
        positive(l.run_time_s, "load.run_time_s")?;
        not_negative(l.ramp_up_s, "load.ramp_up_s")?;
        not_negative(l.grace_s, "load.grace_s")?;
        for (i, st) in l.stages.iter().enumerate() {
            positive(st.duration_s, &format!("load.stages[{i}].duration_s"))?;
        }
        for (i, r) in self.requests.iter().enumerate() {
            for (phase, st) in [("ramp_up", &r.phases.ramp_up), ("steady", &r.phases.steady)] {
                let at = format!("requests[{i}].phases.{phase}");
                counts(st.requests, st.failures, &at)?;
                let by_kind: u64 = st.failures_by_kind.values().fold(0, |a, b| a.saturating_add(*b));
                if by_kind > st.failures {
                    return Err(format!(
                        "`{at}.failures_by_kind` adds up to {by_kind}, more than its {} failures",
                        st.failures
                    ));
                }
                if st.histogram.len() != st.requests {
                    return Err(format!(
                        "`{at}.histogram` holds {} latencies for {} requests",
                        st.histogram.len(),
                        st.requests
                    ));
                }
                if let Some(h) = &st.ttfb_histogram {
                    if h.len() > st.requests {
                        return Err(format!(
                            "`{at}.ttfb_histogram` holds {} times for {} requests",
                            h.len(),
                            st.requests
                        ));
                    }
                }
                if st.connects.count > 0 && st.connects.max_us > st.connects.sum_us {
                    return Err(format!(
                        "`{at}.connects.max_us` ({}) is above their `sum_us` ({})",
                        st.connects.max_us, st.connects.sum_us
                    ));
                }
                if st.requests > 0 && st.min_us > st.max_us {
                    return Err(format!(
                        "`{at}.min_us` ({}) is above its `max_us` ({})",
                        st.min_us, st.max_us
                    ));
                }
            }
        }
        for (i, p) in self.series.iter().enumerate() {
            let at = format!("series[{i}]");
            not_negative(p.t, &format!("{at}.t"))?;
            not_negative(p.dt, &format!("{at}.dt"))?;
            counts(p.requests, p.failures, &at)?;
            for (j, n) in p.names.iter().enumerate() {
                counts(n.requests, n.failures, &format!("{at}.names[{j}]"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_is_read_past_and_a_bad_schema_version_is_named() {
        let text = include_str!("../../tests/data/minimal-results.json");
        assert!(Results::from_json("bom", &format!("\u{feff}{text}")).is_ok());
        for bad in ["\"1\"", "-1", "1.5", "null"] {
            let edited = text.replacen("\"schema_version\": 1", &format!("\"schema_version\": {bad}"), 1);
            assert_ne!(edited, text, "the fixture writes `\"schema_version\": 1`");
            let e = Results::from_json("v", &edited).unwrap_err().to_string();
            assert!(
                e.contains(&format!("`schema_version` is {bad}, not a whole number")),
                "{e}"
            );
        }
    }

    #[test]
    fn a_file_of_minor_version_0_reads_without_network_fields_and_a_new_one_round_trips() {
        let old = Results::from_json("min", include_str!("../../tests/data/minimal-results.json")).unwrap();
        assert_eq!(old.schema_minor, 0, "no `schema_minor`: written before there was one");
        let s = old.total(true);
        assert_eq!((s.bytes_sent, s.bytes_received), (0, 0));
        assert!(s.connects.is_empty() && s.ttfb_ms(0.5).is_none());

        let mut new = old.clone();
        new.schema_minor = SCHEMA_MINOR;
        let mut hist = Hist::new();
        (0..3).for_each(|_| hist.record(5_000));
        new.requests.push(RequestStats {
            name: "GET /".into(),
            method: crate::http::Method::Get,
            lifecycle: false,
            phases: Phases {
                ramp_up: Stats::default(),
                steady: Stats {
                    requests: 3,
                    sum_us: 15_000,
                    min_us: 5_000,
                    max_us: 5_000,
                    histogram: hist,
                    ..Stats::default()
                },
            },
        });
        let steady = &mut new.requests[0].phases.steady;
        steady.bytes_sent = 1234;
        steady.bytes_received = 56_789;
        steady.connects = Connects {
            count: 2,
            sum_us: 900,
            max_us: 600,
        };
        let mut ttfb = Hist::coarse();
        for _ in 0..steady.requests {
            ttfb.record(4_321);
        }
        steady.ttfb_histogram = Some(ttfb);
        let text = serde_json::to_string(&new).unwrap();
        let back = Results::from_json("new", &text).unwrap();
        let b = &back.requests[0].phases.steady;
        assert_eq!(back.schema_minor, SCHEMA_MINOR);
        assert_eq!(
            (b.bytes_sent, b.bytes_received, b.connects),
            (1234, 56_789, new.requests[0].phases.steady.connects)
        );
        // 4321 µs kept at 2 significant digits: 4.3 ms.
        let p50 = b.ttfb_ms(0.5).unwrap();
        assert!((p50 - 4.32).abs() < 0.05, "{p50}");
        // A file claiming more first-byte times than requests is refused, naming the field.
        let mut bad = new.clone();
        let h = bad.requests[0].phases.steady.ttfb_histogram.as_mut().unwrap();
        h.record(1);
        let err = Results::from_json("bad", &serde_json::to_string(&bad).unwrap()).unwrap_err();
        assert!(
            err.to_string().contains("requests[0].phases.steady.ttfb_histogram"),
            "{err}"
        );
    }
}
