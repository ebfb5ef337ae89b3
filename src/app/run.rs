//! `perfgate run`, `demo` and calibration: check every input, start the services, drive the load,
//! assemble the results, then judge and report.

use super::conclude::conclude;
use super::console::{print_calibration, ProgressDisplay};
use super::provenance::{current_commit, current_environment};
use super::{Error, Outcome, ReportOptions, PRISMQ_GATE};
use crate::gate::{Gate, Serve};
use crate::http::BaseUrl;
use crate::load::engine::{self, EngineError};
use crate::load::shard::Shard;
use crate::load::{Overrides, Plan};
use crate::metrics::assemble::{assemble, Measurements, Provenance};
use crate::metrics::results::{GateInfo, Results, ServerInfo, ServerSample, Side};
use crate::report::{self, Reports};
use crate::serve::session::{ServerInfos, SessionError};
use crate::serve::{Session, Signals};
use crate::verdict::compare::{Change, Mode, Regression};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Load settings from the command line (they override the gate file).
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--users`.
    pub users: Option<u32>,
    /// `--spawn-rate`.
    pub spawn_rate: Option<f64>,
    /// `--run-time`.
    pub run_time: Option<Duration>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--ca-file`.
    pub ca_file: Option<PathBuf>,
    /// `--insecure`.
    pub insecure: bool,
    /// `--quiet`: no progress output.
    pub quiet: bool,
}

/// What head is compared with.
#[derive(Debug, Clone, Default)]
pub enum Baseline {
    /// Nothing: targets only.
    #[default]
    None,
    /// A results file of an earlier run (sequential comparison).
    File(PathBuf),
    /// A running base build, loaded in the same window (duet).
    Host(String),
    /// A base build perfgate starts with this command (duet).
    Serve(String),
}

/// Everything `perfgate run` needs besides the gate.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--host` (None: the gate's host, or the started service).
    pub host: Option<String>,
    /// `--serve`: the command that starts the service under test.
    pub serve: Option<String>,
    /// `--serve-env`: withheld variables the started services inherit anyway.
    pub serve_env: Vec<String>,
    /// Scenario names to run (empty: the gate's selection).
    pub scenarios: Vec<String>,
    /// Load settings.
    pub load: LoadOptions,
    /// What head is compared with.
    pub baseline: Baseline,
    /// In duet mode, also write the base side's results here.
    pub baseline_out: Option<PathBuf>,
    /// In duet mode, the base build's commit.
    pub baseline_commit: Option<String>,
    /// `--retries`: how many times an untrusted run is run again.
    pub retries: u32,
    /// Reports.
    pub reports: ReportOptions,
    /// Sharding and a common start.
    pub sharding: Sharding,
    /// `--web`: the live view in the browser.
    pub web: Option<super::WebOptions>,
    /// `perfgate ui`: the page's controls of the running engine.
    pub controls: Option<super::ui::Controls>,
}

/// A sharded run's options as given (`--shard`, `--shards`, `--run-id`, `--start-at`).
#[derive(Debug, Clone, Default)]
pub struct Sharding {
    /// `--shard I/N`.
    pub shard: Option<Shard>,
    /// `--shards N` (I from JOB_COMPLETION_INDEX).
    pub shards: Option<u32>,
    /// `--run-id`.
    pub run_id: Option<String>,
    /// `--start-at`, as written.
    pub start_at: Option<String>,
}

/// How late a shard may start after `--start-at` and still line up with the others.
pub const START_TOLERANCE: Duration = Duration::from_secs(2);

/// The checked sharding of a run.
#[derive(Debug, Clone, Default)]
struct Sharded {
    /// This process's share and the run it belongs to.
    shard: Option<(Shard, String)>,
    /// When load starts, and how it was written (RFC 3339).
    start_at: Option<(std::time::SystemTime, String)>,
}

impl Sharding {
    /// Checks the options: the shard (from JOB_COMPLETION_INDEX with --shards), the start time, the
    /// run id every shard shares.
    fn check(&self) -> Result<Sharded, Error> {
        let shard = match (self.shard, self.shards) {
            (Some(s), _) => Some(s),
            (None, Some(0)) => return Err(Error::input("--shards 0: a run has at least one shard")),
            (None, Some(n)) => {
                let index = std::env::var("JOB_COMPLETION_INDEX").map_err(|_| {
                    Error::input(format_args!(
                        "--shards {n} takes this shard's index from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job sets it), which is not set: give --shard I/{n} instead"
                    ))
                })?;
                Some(Shard::from_completion_index(&index, n).map_err(Error::input)?)
            }
            (None, None) => None,
        };
        let start_at = self
            .start_at
            .as_deref()
            .map(parse_start_at)
            .transpose()
            .map_err(Error::input)?;
        let shard = match shard {
            None => None,
            Some(s) => {
                let github = std::env::var("GITHUB_RUN_ID").ok().map(|id| {
                    format!(
                        "{id}-{}",
                        std::env::var("GITHUB_RUN_ATTEMPT").unwrap_or_else(|_| "1".into())
                    )
                });
                if self.run_id.as_deref().is_some_and(|id| id.trim().is_empty()) {
                    return Err(Error::input(
                        "--run-id is empty (an unset variable?): give every shard of one run the same non-empty id",
                    ));
                }
                // A relative start is each process's own now: it names no moment the shards share.
                if let Some(rel) = self.start_at.as_deref().filter(|t| t.starts_with('+')) {
                    return Err(Error::input(format_args!(
                        "--shard {s}: --start-at {rel} counts from each shard's own start, so the shards would not start together: give every shard one RFC 3339 time, such as {} (START=$(date -u -d '+45 seconds' +%Y-%m-%dT%H:%M:%SZ))",
                        humantime::format_rfc3339_seconds(std::time::SystemTime::now() + Duration::from_secs(120))
                    )));
                }
                let run_id = self
                    .run_id
                    .clone()
                    .or(github)
                    .or_else(|| start_at.as_ref().map(|(_, t)| t.clone()))
                    .ok_or_else(|| {
                        Error::input(format_args!(
                            "--shard {s}: the shards of one run need a shared id: give --run-id ID (the same on every shard) or --start-at TIME"
                        ))
                    })?;
                Some((s, run_id))
            }
        };
        Ok(Sharded { shard, start_at })
    }
}

/// `--start-at`: RFC 3339, or `+DURATION` from now.
fn parse_start_at(text: &str) -> Result<(std::time::SystemTime, String), String> {
    let now = std::time::SystemTime::now();
    let at = if let Some(rel) = text.strip_prefix('+') {
        let d = crate::gate::duration::parse_duration(rel).map_err(|e| format!("--start-at `{text}`: {e}"))?;
        now + d
    } else {
        let t = chrono::DateTime::parse_from_rfc3339(text).map_err(|e| {
            if humantime::parse_rfc3339_weak(text).is_ok() {
                format!("--start-at `{text}` has no time zone: add `Z` for UTC or the offset, such as +01:00")
            } else {
                format!("--start-at `{text}`: {e}: write an RFC 3339 time such as 2026-12-02T10:00:00Z or 2026-12-02T11:00:00+01:00, or +45s from now")
            }
        })?;
        std::time::SystemTime::from(t.with_timezone(&chrono::Utc))
    };
    if at + Duration::from_secs(24 * 3600) < now || at > now + Duration::from_secs(24 * 3600) {
        return Err(format!(
            "--start-at `{text}` is more than a day away from now ({}): check the clock and the time zone (Z is UTC)",
            humantime::format_rfc3339_seconds(now)
        ));
    }
    Ok((at, humantime::format_rfc3339_millis(at).to_string()))
}

impl Sharded {
    /// The plan for these overrides: this shard's share of it, when sharded.
    fn plan(&self, gate: &Gate, overrides: &Overrides) -> Result<Plan, Error> {
        let plan = Plan::new(gate, overrides).map_err(Error::input)?;
        Ok(match &self.shard {
            Some((s, _)) if plan.open.is_none() && plan.users < s.count => {
                return Err(Error::input(format_args!(
                    "--shard {s}: {} users over {} shards leave some shards none, which would send nothing: use at most {} shards, or more users",
                    plan.users, s.count, plan.users
                )));
            }
            Some((s, _)) => plan.shard(*s),
            None => plan,
        })
    }
}

/// The seed of a later window (a round or a confirmation window) of a run seeded `seed`.
///
/// Every window draws its own task and think-time schedule: rounds that replayed the first one's
/// would share which requests collide on which side, an offset common to every round that the
/// rounds' interval cannot see. Derived from the run's seed (splitmix64), so a run stays
/// reproducible.
fn window_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stable seed from a run id: every shard of one run derives the same one.
fn seed_of(run_id: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(run_id.as_bytes());
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// Options of `perfgate demo`.
#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    /// A gate file instead of the embedded gates/prismq.yaml.
    pub gate: Option<PathBuf>,
    /// The run (host and services are the demo's).
    pub run: RunOptions,
    /// The demo backend's knobs.
    pub knobs: crate::demo::DemoOptions,
}

/// Runs a gate's load profile, judges it and writes the reports; an untrusted run (exit 3) is run
/// again up to `--retries` times, each attempt logged, unless a stop signal arrived. An attempt that
/// will be retried writes no report and publishes nothing when its results are untrusted.
pub async fn run(gate: &Gate, opts: &RunOptions) -> Result<Outcome, Error> {
    // One set of handlers for every attempt: a second signal must stop the services of the attempt
    // that is running, whichever it is.
    let signals = Signals::install();
    let web = match &opts.web {
        Some(w) => {
            let target = opts
                .host
                .clone()
                .unwrap_or_else(|| gate.host.clone().unwrap_or_default());
            Some((super::live::start(w, gate, &target).await?, w.linger))
        }
        None => None,
    };
    let outcome = attempts_of(gate, opts, &signals, web.as_ref().map(|((_, feed), _)| feed)).await;
    if let Some(((server, feed), linger)) = &web {
        match &outcome {
            // Invalid input: nothing ran, there is nothing to look at.
            Err(Error::Input(_)) => {}
            Err(e) => {
                feed.say(Some(e.to_string()));
                super::live::linger(server, *linger).await;
            }
            Ok(_) => super::live::linger(server, *linger).await,
        }
    }
    outcome
}

/// Every attempt of `run`, the live view (when open) shown each.
async fn attempts_of(
    gate: &Gate,
    opts: &RunOptions,
    signals: &Signals,
    feed: Option<&crate::web::Feed>,
) -> Result<Outcome, Error> {
    let attempts = opts.retries.saturating_add(1);
    let pause = std::env::var("PERFGATE_RETRY_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(5));
    let mut attempt = 1;
    loop {
        let mut this = opts.clone();
        this.reports.retry_left = attempt < attempts;
        this.reports.web = feed.cloned();
        let outcome = run_once(gate, &this, signals).await;
        match outcome {
            Err(Error::Untrusted(why)) if attempt < attempts && !crate::serve::session::signalled() => {
                errln!("{why}");
                errln!(
                    "perfgate: attempt {attempt} of {attempts} was untrusted (exit 3); running again in {:.0} s",
                    pause.as_secs_f64()
                );
                tokio::time::sleep(pause).await;
                attempt += 1;
                errln!("perfgate: attempt {attempt} of {attempts}");
            }
            other => {
                if attempt > 1 {
                    let how = match &other {
                        Ok(_) => "reached a verdict",
                        Err(Error::Untrusted(_)) => "was untrusted too",
                        Err(_) => "stopped",
                    };
                    errln!("perfgate: attempt {attempt} of {attempts} {how}");
                }
                return other;
            }
        }
    }
}

/// One run of `perfgate ui`: no retries, its files offered on the page instead of written.
pub(super) async fn run_ui(gate: &Gate, opts: &RunOptions, signals: &Signals) -> Result<Outcome, Error> {
    run_once(gate, opts, signals).await
}

async fn run_once(gate: &Gate, opts: &RunOptions, signals: &Signals) -> Result<Outcome, Error> {
    let mut prepared = prepare(gate, opts, false)?;
    let reports = std::mem::take(&mut prepared.reports);
    let base_file = prepared.base_file.take();
    let Measured { head, base } = match measure(gate, opts, &prepared, signals, None).await {
        Ok(m) => m,
        // An attempt that will be retried writes nothing.
        Err(e) if opts.reports.retry_left => return Err(e),
        Err(e) => return Err(without_results(gate, &reports, e)),
    };
    if let (Some(path), Some(b)) = (&opts.baseline_out, &base) {
        let written = serde_json::to_vec_pretty(b)
            .map_err(std::io::Error::other)
            .and_then(|bytes| report::write_report(path, &bytes));
        match written {
            Ok(()) => errln!("wrote base results → {}", path.display()),
            Err(e) => errln!("error: cannot write {}: {e}", path.display()),
        }
    }
    let windows = match &base {
        Some(b) => confirm(gate, opts, &prepared, signals, b, &head).await?,
        None => Vec::new(),
    };
    let base = base
        .map(|b| (b, Mode::Duet))
        .or(base_file.map(|b| (b, Mode::Sequential)));
    conclude(
        gate,
        &head,
        base.as_ref().map(|(b, m)| (b, *m)),
        &windows,
        &reports,
        &opts.reports,
    )
    .await
}

/// A run that ended without results (an unreachable target, a service that did not start): its
/// reports that can still say so are written, so a JUnit publisher shows a red test instead of a
/// missing file. Input errors write nothing: the input is to be fixed first.
fn without_results(gate: &Gate, reports: &Reports, e: Error) -> Error {
    let Error::Untrusted(reason) = &e else {
        return e;
    };
    let written = reports.write_failed(&report::Failed {
        gate: &gate.name,
        gate_file: &gate.file,
        reason,
    });
    written.done.iter().for_each(|d| errln!("wrote {d}"));
    written.failed.iter().for_each(|f| errln!("error: {f}"));
    e
}

/// Confirmation (`regression.confirm: N`): when the duet found regressions, measures N more windows
/// of the same length (fresh processes when perfgate starts them) and judges each against the same
/// budgets; the verdict keeps a regression only if every window agrees.
async fn confirm(
    gate: &Gate,
    opts: &RunOptions,
    p: &Prepared,
    signals: &Signals,
    base: &Results,
    head: &Results,
) -> Result<Vec<Regression>, Error> {
    let n = gate.regression.confirm;
    if n == 0 {
        return Ok(Vec::new());
    }
    let first = crate::verdict::judge_with_baseline(gate, head, base, Mode::Duet);
    let regressed: Vec<String> = first
        .regression
        .iter()
        .flat_map(|r| r.comparisons.iter())
        .filter(|c| c.change == Change::Regression)
        .map(|c| c.name.clone())
        .collect();
    if regressed.is_empty() {
        return Ok(Vec::new());
    }
    let mut windows = Vec::new();
    for w in 1..=n {
        errln!(
            "perfgate: confirming {} regression{} ({}): window {w} of {n}",
            regressed.len(),
            if regressed.len() == 1 { "" } else { "s" },
            regressed.join(", ")
        );
        let Measured { head: h, base: b } = measure(gate, opts, p, signals, Some(w)).await?;
        let Some(b) = b else { break };
        let mut judged =
            crate::verdict::compare::compare(&gate.regression, &b, &h, Mode::Duet, gate.verdict.include_ramp_up);
        judged.comparisons.retain(|c| regressed.contains(&c.name));
        windows.push(judged);
    }
    Ok(windows)
}

/// A/A calibration: drives the target against itself in duet mode and prints the noise floor each
/// budget faces. The results and other reports are written like any run's.
pub async fn calibrate(gate: &Gate, opts: &RunOptions) -> Result<Outcome, Error> {
    let mut prepared = prepare(gate, opts, true)?;
    let reports = std::mem::take(&mut prepared.reports);
    let signals = Signals::install();
    let Measured { head, base } = measure(gate, opts, &prepared, &signals, None).await?;
    if let Some(b) = &base {
        let served = prepared.first.head_service.is_some() && prepared.first.base_service.is_some();
        print_calibration(gate, b, &head, served.then(|| ramp_up(&prepared.first.plan)));
    }
    // Calibration measures noise: the targets are judged and reported, but do not fail it.
    conclude(gate, &head, None, &[], &reports, &opts.reports)
        .await
        .map(|_| Outcome::Pass)
}

/// Starts the demo backend on a free loopback port and runs the gate (gates/prismq.yaml by default)
/// against it.
pub async fn demo(opts: &DemoOptions) -> Result<Outcome, Error> {
    let gate = match &opts.gate {
        Some(p) => Gate::load(p)?,
        None => Gate::parse("gates/prismq.yaml", PRISMQ_GATE)?,
    };
    opts.knobs.validate().map_err(Error::input)?;
    let server = crate::demo::DemoServer::start(opts.knobs.clone())
        .await
        .map_err(|e| Error::untrusted(format_args!("cannot start the demo backend: {e}"), None))?;
    let mut run_opts = opts.run.clone();
    run_opts.host = Some(server.url());
    // The embedded gate runs 20 s unless told otherwise; a gate file keeps its own run time (a staged
    // arrival rate cannot be stretched).
    if opts.gate.is_none() {
        run_opts.load.run_time = run_opts.load.run_time.or(Some(Duration::from_secs(20)));
    }
    let outcome = run(&gate, &run_opts).await;
    server.stop().await;
    outcome
}

/// A run whose every input was checked: nothing has started yet.
struct Prepared {
    /// The first window's load, services and base side.
    first: Window,
    /// The plan's overrides, for the later rounds' fresh ports.
    overrides: Overrides,
    reports: Reports,
    /// The baseline results file, read and checked.
    base_file: Option<Results>,
    calibrating: bool,
    /// Duet rounds, each with a fresh pair of processes (1: one pair).
    rounds: u32,
    /// The whole run time, all rounds together.
    run_time: Duration,
    /// This run's shard and common start.
    sharded: Sharded,
}

/// One measuring window: the plan and where its two sides are.
#[derive(Clone)]
struct Window {
    plan: Arc<Plan>,
    /// The service to start for head, on this port.
    head_service: Option<(Serve, u16)>,
    /// The service to start for base, on this port.
    base_service: Option<(Serve, u16)>,
    /// The base side of a duet.
    base_url: Option<BaseUrl>,
}

/// Distinct free loopback ports for the services perfgate starts: `(head, base)`, each when wanted.
fn service_ports(head: bool, base: bool) -> Result<(Option<u16>, Option<u16>), Error> {
    let ports = crate::serve::free_ports(usize::from(head) + usize::from(base))
        .map_err(|e| Error::untrusted(format_args!("no free loopback port for the service: {e}"), None))?;
    let mut ports = ports.into_iter();
    Ok((
        head.then(|| ports.next()).flatten(),
        base.then(|| ports.next()).flatten(),
    ))
}

/// How long the closed model takes to start every user (zero when all start at once).
fn ramp_up(plan: &Plan) -> Duration {
    if plan.spawn_rate.is_finite() && plan.spawn_rate > 0.0 {
        Duration::from_secs_f64(f64::from(plan.users) / plan.spawn_rate)
    } else {
        Duration::ZERO
    }
}

/// Rounds when perfgate starts both builds and the gate does not say: one per 5 s of steady load, 3
/// to 10; every round ramps its users up again, so a round lasts its ramp-up plus a steady phase as
/// long as the ramp-up and at least 5 s; when fewer than 3 such rounds fit (or the run is under
/// 15 s), one pair.
///
/// Why many short rounds: for a fixed run time the variance of the estimate is `σp²/K + σw²/T`
/// (between-process spread over rounds, within-process noise over the whole time), and the t quantile
/// falls with their K - 1 degrees of freedom (6.3 at 2 rounds, 2.0 at 6). But a round costs a process
/// start, a ramp-up and a cold first second, and with under 5 s of steady load it holds too few
/// requests for a p95 of its own: on the CPU demo, 10 rounds of 3 s decided a +10 % change less often
/// than 5 of 6 s (13/20 against 15/20, bench/README.md).
pub fn default_rounds(run_time: Duration, ramp_up: Duration) -> u32 {
    if run_time < Duration::from_secs(15) {
        return 1;
    }
    let round = ramp_up + ramp_up.max(Duration::from_secs(5));
    let fit = (run_time.as_secs_f64() / round.as_secs_f64()).floor() as u32;
    if fit < 3 {
        return 1;
    }
    fit.min(10)
}

/// The shortest run time that [`default_rounds`] splits into rounds (three of them) at this ramp-up.
pub fn rounds_run_time(ramp_up: Duration) -> Duration {
    (3 * (ramp_up + ramp_up.max(Duration::from_secs(5)))).max(Duration::from_secs(15))
}

impl Prepared {
    /// Window `index` (0: the first): a later one has fresh ports for the services perfgate starts
    /// and its own seed, from [`window_seed`].
    fn window(&self, gate: &Gate, index: u64) -> Result<Window, Error> {
        let w = &self.first;
        if index == 0 {
            return Ok(w.clone());
        }
        let (head_port, base_port) = service_ports(w.head_service.is_some(), w.base_service.is_some())?;
        let head_service = w.head_service.clone().zip(head_port).map(|((s, _), p)| (s, p));
        let base_service = w.base_service.clone().zip(base_port).map(|((s, _), p)| (s, p));
        let mut overrides = self.overrides.clone();
        overrides.seed = Some(window_seed(w.plan.seed, index));
        if let Some((_, port)) = &head_service {
            overrides.host = Some(format!("http://127.0.0.1:{port}"));
        }
        let plan = Arc::new(self.sharded.plan(gate, &overrides)?);
        let base_url = match &base_service {
            Some((_, port)) => Some(BaseUrl::parse(&format!("http://127.0.0.1:{port}")).map_err(Error::input)?),
            None => w.base_url.clone(),
        };
        Ok(Window {
            plan,
            head_service,
            base_service,
            base_url,
        })
    }
}

/// Checks every input before anything starts: the plan, report paths, the baseline, the duet, TLS.
fn prepare(gate: &Gate, opts: &RunOptions, calibrating: bool) -> Result<Prepared, Error> {
    super::check_acceptances(gate)?;
    let head_service = match &opts.host {
        Some(_) => None,
        None => gate.serve_with(opts.serve.as_deref()),
    };
    for name in &opts.serve_env {
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            return Err(Error::input(format_args!(
                "--serve-env `{name}` is not a variable name"
            )));
        }
    }
    let with_env = |mut s: Serve| {
        s.pass_env.extend(opts.serve_env.iter().cloned());
        s
    };
    let head_service = head_service.map(with_env);
    let base_service = match &opts.baseline {
        Baseline::Serve(cmd) => gate.serve_with(Some(cmd)).map(with_env),
        // Calibration compares two processes of the same build: a second copy of the service.
        Baseline::None if calibrating => head_service.clone(),
        _ => None,
    };
    let (head_port, base_port) = service_ports(head_service.is_some(), base_service.is_some())?;
    let head_service = head_service.zip(head_port);
    let base_service = base_service.zip(base_port);
    let started: Vec<&Serve> = head_service.iter().chain(base_service.iter()).map(|(s, _)| s).collect();
    refuse_pull_request_code(&started)?;
    let mut overrides = Overrides {
        host: match &head_service {
            Some((_, port)) => Some(format!("http://127.0.0.1:{port}")),
            None => opts.host.clone(),
        },
        users: opts.load.users,
        spawn_rate: opts.load.spawn_rate,
        run_time: opts.load.run_time,
        scenarios: opts.scenarios.clone(),
        seed: opts.load.seed,
        tls: crate::http::TlsOptions {
            ca_file: opts.load.ca_file.clone(),
            insecure: opts.load.insecure,
        },
    };
    let sharded = opts.sharding.check()?;
    if sharded.start_at.is_some() && opts.retries > 0 {
        return Err(Error::input(
            "--retries with --start-at: a retry would start after that moment, late and untrusted again; drop --retries (rerun the whole run instead)",
        ));
    }
    if let (None, Some((_, run_id))) = (overrides.seed, &sharded.shard) {
        // Every shard derives its own seed from the run's, which all of them must agree on.
        overrides.seed = Some(seed_of(run_id));
    }
    let mut plan = sharded.plan(gate, &overrides)?;
    // Every window (round, confirmation) runs the same task and think-time sequence (a shard's plan
    // carries its own seed, derived from the run's).
    overrides.seed = overrides.seed.or(Some(plan.seed));
    // Rounds need both builds started by perfgate: a fresh pair of processes per round. A calibration
    // with --serve starts two copies of one build, so it runs in rounds too and its noise floor
    // includes the spread between processes that a duet in rounds faces.
    let both_started = head_service.is_some() && base_service.is_some();
    let run_time = plan.run_time;
    let rounds = match (gate.regression.rounds, both_started) {
        (Some(k), true) => k,
        (None, true) => default_rounds(run_time, ramp_up(&plan)),
        (Some(k), false) if k > 1 => {
            errln!(
                "warning: {}: `regression.rounds: {k}` needs both builds started by perfgate (--serve and --baseline-serve): running one window",
                gate.file
            );
            1
        }
        _ => 1,
    };
    if rounds > 1 {
        overrides.run_time = Some(run_time / rounds);
        plan = sharded.plan(gate, &overrides)?;
    }
    let reports = Reports::new(&opts.reports.paths);
    reports.check().map_err(Error::input)?;
    check_no_overwrite(&reports, opts, &gate.file).map_err(Error::input)?;
    let base_file = match &opts.baseline {
        Baseline::File(p) => Some(Results::read(p).map_err(|e| Error::input(format_args!("--baseline {e}")))?),
        _ => None,
    };
    let base_url = match (&opts.baseline, &base_service) {
        (_, Some((_, port))) => Some(BaseUrl::parse(&format!("http://127.0.0.1:{port}")).map_err(Error::input)?),
        (Baseline::Host(h), _) => {
            Some(BaseUrl::parse(h).map_err(|e| Error::input(format_args!("--baseline-host {e}")))?)
        }
        _ if calibrating => {
            return Err(Error::input(
                "--calibrate needs two processes of the same build: start them with --serve (perfgate starts two copies), or give the second one with --baseline-host URL; one process against itself cannot show the noise between processes that a duet faces",
            ))
        }
        _ => None,
    };
    if opts.baseline_commit.is_some() && base_url.is_none() {
        return Err(Error::input(
            "--baseline-commit names the base build of a duet: give it with --baseline-serve or --baseline-host",
        ));
    }
    if let Some(p) = &opts.baseline_out {
        report::check_writable(p).map_err(|e| Error::input(format_args!("--baseline-out {e}")))?;
        if report::is_stdout(p) {
            crate::stdout_is_a_report();
        }
    }
    if let Some(b) = &base_url {
        engine::check_duet(&plan, b).map_err(Error::input)?;
        if let Some(why) = gate.regression.duet_refusal(&gate.file) {
            return Err(Error::input(why));
        }
    }
    for url in std::iter::once(&plan.base).chain(base_url.iter()) {
        engine::check_endpoint(url, &plan.tls).map_err(Error::input)?;
    }
    for url in std::iter::once(&plan.base).chain(base_url.iter()) {
        engine::check_sources(&plan.source_addresses, url).map_err(Error::input)?;
    }
    if !plan.base.tls && !base_url.as_ref().is_some_and(|b| b.tls) {
        let flag = match (&opts.load.ca_file, opts.load.insecure) {
            (Some(_), _) => Some("--ca-file"),
            (None, true) => Some("--insecure"),
            _ => None,
        };
        if let Some(flag) = flag {
            errln!(
                "warning: {flag} is for https targets; {} is plain HTTP, so it is not used (did you mean https://?)",
                plan.base
            );
        }
    }
    if !matches!(opts.baseline, Baseline::None) && gate.regression.budgets.is_empty() {
        errln!(
            "warning: {} has no `regression.budgets`: nothing will be compared with the baseline",
            gate.file
        );
    }
    Ok(Prepared {
        first: Window {
            plan: Arc::new(plan),
            head_service,
            base_service,
            base_url,
        },
        overrides,
        reports,
        base_file,
        calibrating,
        rounds,
        run_time,
        sharded,
    })
}

/// Refuses a run that would write over its own gate file or baseline file, or write the base side's
/// results where a report goes.
fn check_no_overwrite(reports: &Reports, opts: &RunOptions, gate_file: &str) -> Result<(), String> {
    let outputs: Vec<(&str, &std::path::Path)> = reports
        .paths()
        .chain(opts.baseline_out.as_deref().map(|p| ("--baseline-out", p)))
        .collect();
    let gate = std::path::Path::new(gate_file);
    if gate_file != "<stdin>" {
        if let Some((flag, _)) = outputs.iter().find(|(_, p)| report::same_file(gate, p)) {
            return Err(format!(
                "{flag} {gate_file} is the gate file: the run would overwrite it with a report; give the report its own path"
            ));
        }
    }
    if let Baseline::File(base) = &opts.baseline {
        if let Some((flag, _)) = outputs.iter().find(|(_, p)| report::same_file(base, p)) {
            return Err(format!(
                "--baseline {} is also {flag}: the run would overwrite the baseline it is compared with; write the new results elsewhere (e.g. `--out head.json`) and promote them once the gate passes",
                base.display()
            ));
        }
    }
    if let Some(b) = &opts.baseline_out {
        if let Some((flag, _)) = reports.paths().find(|(_, p)| report::same_file(b, p)) {
            return Err(format!(
                "{flag} and --baseline-out both write {}: give the base side's results their own path",
                b.display()
            ));
        }
    }
    Ok(())
}

/// The pwn-request guard: under `pull_request_target`, or a `workflow_run` of a pull request's run,
/// the job has the base repository's secrets and a write token; starting the pull request's own code
/// there hands them to it. Refused (exit 2) when a service would start from a checkout of the pull
/// request's head or merge commit.
fn refuse_pull_request_code(services: &[&Serve]) -> Result<(), Error> {
    if services.is_empty() {
        return Ok(());
    }
    let name = std::env::var("GITHUB_EVENT_NAME").unwrap_or_default();
    if !matches!(name.as_str(), "pull_request_target" | "workflow_run") {
        return Ok(());
    }
    let Ok(event) = crate::github::event::read_env() else {
        return Ok(());
    };
    let theirs = crate::github::event::privileged_pull_request_commits(&name, &event);
    if theirs.is_empty() {
        return Ok(());
    }
    let mut dirs: Vec<Option<PathBuf>> = vec![None];
    dirs.extend(
        services
            .iter()
            .filter_map(|s| s.cwd.clone())
            .map(|d| Some(PathBuf::from(d))),
    );
    for dir in dirs {
        let Some(head) = super::provenance::checked_out(dir.as_deref()) else {
            continue;
        };
        if theirs.contains(&head) {
            let at = dir.map(|d| format!(" in {}", d.display())).unwrap_or_default();
            return Err(Error::Input(format!(
                "error: refusing to start the service under {name}: the commit checked out{at} ({head}) is the pull request's own code, and this event runs with the base repository's secrets and a write token (a \"pwn request\")\n  = help: run the gate on `pull_request` (read-only token, no secrets) and upload its results and the PR number as an artifact; comment from a `workflow_run` workflow that only downloads them and runs `perfgate comment --pr-file` (perf.yml and perf-comment.yml in perfgate's repository; README: fork pull requests)"
            )));
        }
    }
    Ok(())
}

/// Head's results, and base's in a duet.
struct Measured {
    head: Results,
    base: Option<Results>,
}

/// Measures every round (one window, or `rounds` windows each with a fresh pair of processes) and
/// assembles the results; `confirming` numbers a confirmation window.
async fn measure(
    gate: &Gate,
    opts: &RunOptions,
    p: &Prepared,
    signals: &Signals,
    confirming: Option<u32>,
) -> Result<Measured, Error> {
    let mut merged: Option<(Measurements, ServerInfos)> = None;
    if let (Some((shard, run_id)), None) = (&p.sharded.shard, confirming) {
        errln!("perfgate: shard {shard} of run {run_id}: the users and rates below are this shard's share; `perfgate merge` makes the run");
    }
    for round in 0..p.rounds {
        let window = p.window(gate, u64::from(confirming.unwrap_or(0)) << 32 | u64::from(round))?;
        let label = RoundLabel {
            round,
            rounds: p.rounds,
            confirming,
        };
        let start_at = match (round, confirming) {
            (0, None) => p.sharded.start_at.as_ref().map(|(t, _)| *t),
            _ => None,
        };
        let (m, servers) = measure_window(gate, opts, &window, signals, label, p.calibrating, start_at).await?;
        // A service that died or a stop signal ends the run: no further round starts.
        let stop = signals.received()
            || [&servers.0, &servers.1]
                .iter()
                .any(|s| s.as_ref().is_some_and(|s| s.exited.is_some()));
        merged = Some(match merged {
            None => (m, servers),
            Some((mut all, (mut head_server, mut base_server))) => {
                let offset = all.duration_s;
                all.append_round(m, round);
                append_server(&mut head_server, servers.0, offset);
                append_server(&mut base_server, servers.1, offset);
                (all, (head_server, base_server))
            }
        });
        if stop {
            break;
        }
    }
    let (measured, (head_server, base_server)) =
        merged.ok_or_else(|| Error::untrusted("the engine returned no results", None))?;
    let provenance = Provenance::new(
        GateInfo {
            file: gate.file.clone(),
            name: gate.name.clone(),
            sha256: gate.sha256.clone(),
        },
        current_commit(),
        current_environment(),
    );
    let mut planned = p.first.plan.planned();
    planned.load.run_time_s = p.run_time.as_secs_f64();
    planned.load.rounds = p.rounds;
    let mut sides = assemble(&planned, measured, &provenance).into_iter();
    let mut head = sides
        .next()
        .ok_or_else(|| Error::untrusted("the engine returned no results", None))?;
    let mut base = sides.next();
    if let (Some(b), Some(c)) = (&mut base, &opts.baseline_commit) {
        b.commit = Some(c.clone());
    }
    if let Some((shard, run_id)) = &p.sharded.shard {
        head.load.shard = Some(crate::metrics::results::ShardInfo {
            index: shard.index,
            count: shard.count,
            run_id: run_id.clone(),
            run_seed: p.overrides.seed.unwrap_or(head.load.seed),
            start_at: p.sharded.start_at.as_ref().map(|(_, t)| t.clone()),
        });
    }
    head.server = head_server;
    if let Some(b) = &mut base {
        b.server = base_server;
    }
    Ok(Measured { head, base })
}

/// A later round's samples of a service, after the earlier rounds' (times carried on).
fn append_server(all: &mut Option<ServerInfo>, next: Option<ServerInfo>, offset: f64) {
    match (all.as_mut(), next) {
        (Some(a), Some(n)) => {
            a.samples
                .extend(n.samples.into_iter().map(|s| ServerSample { t: s.t + offset, ..s }));
            if a.exited.is_none() {
                a.exited = n.exited;
            }
        }
        (None, n) => *all = n,
        (Some(_), None) => {}
    }
}

/// Which window of a run this is, for the log and the terminal.
#[derive(Debug, Clone, Copy)]
struct RoundLabel {
    round: u32,
    rounds: u32,
    confirming: Option<u32>,
}

impl RoundLabel {
    /// `, round 2 of 5`, `, confirmation window 1`, or nothing.
    fn text(self) -> String {
        let mut t = String::new();
        if let Some(w) = self.confirming {
            t.push_str(&format!(", confirmation window {w}"));
        }
        if self.rounds > 1 {
            t.push_str(&format!(
                ", round {} of {} (fresh processes)",
                self.round + 1,
                self.rounds
            ));
        }
        t
    }

    /// The log file name's suffix: none for the first window.
    fn log_suffix(self) -> String {
        let mut t = String::new();
        if let Some(w) = self.confirming {
            t.push_str(&format!("-confirm{w}"));
        }
        if self.round > 0 {
            t.push_str(&format!("-round{}", self.round + 1));
        }
        t
    }
}

/// Starts one window's services (base first in odd rounds), checks the targets answer, drives the
/// load, and stops the services on every path out.
async fn measure_window(
    gate: &Gate,
    opts: &RunOptions,
    w: &Window,
    signals: &Signals,
    label: RoundLabel,
    calibrating: bool,
    start_at: Option<std::time::SystemTime>,
) -> Result<(Measurements, ServerInfos), Error> {
    let mut session = Session::new(signals.clone());
    let log = |name: &str| {
        crate::serve::log_path(
            opts.reports.paths.out.as_deref(),
            &format!("{name}{}", label.log_suffix()),
        )
    };
    let started = |e: SessionError| match e {
        SessionError::Interrupted(_) => Error::untrusted(e, None),
        SessionError::Serve(e) => Error::untrusted(e, None),
    };
    // The order of starting alternates between rounds: neither build always gets the warmer start.
    let mut order = vec![
        (Side::Head, &w.head_service, "service"),
        (Side::Base, &w.base_service, "base-service"),
    ];
    if label.round % 2 == 1 {
        order.reverse();
    }
    for (side, service, name) in order {
        if let Some((spec, port)) = service {
            session.start(side, spec, *port, &log(name)).await.map_err(started)?;
        }
    }
    let plan = &w.plan;
    for url in std::iter::once(&plan.base).chain(w.base_url.iter()) {
        let reached = tokio::select! {
            r = engine::preflight(url, &plan.tls) => r,
            _ = signals.first() => return Err(Error::untrusted("interrupted before the load started", None)),
        };
        match reached {
            Ok(()) => {}
            Err(EngineError::Input(why)) => return Err(Error::input(why)),
            Err(e) => {
                return Err(Error::untrusted(
                    e,
                    Some("start the service first, or point --host (and --baseline-host) at it"),
                ))
            }
        }
    }
    let actions = crate::github::commands::in_actions();
    if actions {
        // Secrets the gate sends in headers never reach the job's log.
        for name in gate.env_vars() {
            if let Some(line) = std::env::var(&name)
                .ok()
                .and_then(|v| crate::github::commands::mask(&v))
            {
                outln!("{line}");
            }
        }
        outln!("::group::perfgate: load against {}", plan.base);
    }
    errln!(
        "perfgate: {} against {}: {} for {}, seed {}{}",
        gate.name,
        against(plan, w.base_url.as_ref(), calibrating),
        load_text(plan),
        crate::gate::duration::format_duration(plan.run_time),
        plan.seed,
        label.text()
    );
    // A common start (`--start-at`): wait for it; a shard that comes too late is untrusted, its seconds
    // would not line up with the other shards'.
    let mut late = None;
    if let Some(at) = start_at {
        match at.duration_since(std::time::SystemTime::now()) {
            Ok(wait) => {
                errln!(
                    "perfgate: waiting {:.1} s for --start-at {}",
                    wait.as_secs_f64(),
                    humantime::format_rfc3339_millis(at)
                );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = signals.first() => return Err(Error::untrusted("interrupted before the load started", None)),
                }
            }
            Err(e) if e.duration() > START_TOLERANCE => late = Some(e.duration()),
            Err(_) => {}
        }
    }
    let mut display = ProgressDisplay::new(opts.load.quiet, plan.run_time);
    session.start_sampling(std::time::Instant::now());
    let live = opts.reports.web.as_ref().map(|feed| {
        feed.reset();
        let mut planned = plan.planned();
        planned.load.run_time_s = plan.run_time.as_secs_f64();
        super::live::Publisher::spawn(feed.clone(), gate.clone(), planned, session.head_sample())
    });
    let mut progress = |x: &engine::Progress| {
        display.update(x);
        if let Some(l) = &live {
            l.send(x);
        }
    };
    let measured = {
        let ui_stop = opts.controls.as_ref().map(|c| c.stop.clone());
        let stop = async {
            let asked = async {
                match ui_stop {
                    Some(mut rx) => {
                        let _ = rx.wait_for(|s| *s).await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = signals.first() => {}
                _ = session.exited() => {}
                _ = asked => {}
            }
        };
        let commands = opts.controls.as_ref().and_then(|c| c.take_commands());
        match (&w.base_url, commands) {
            (None, Some(commands)) => engine::run_controlled(plan.clone(), &mut progress, stop, commands).await,
            (Some(url), _) => engine::run_duet(plan.clone(), url.clone(), &mut progress, stop).await,
            (None, None) => engine::run(plan.clone(), &mut progress, stop).await,
        }
    };
    drop(live);
    display.finish();
    let servers = session.finish().await;
    if actions {
        outln!("::endgroup::");
    }
    let mut measured = measured.map_err(|e| match e {
        EngineError::Input(why) => Error::input(why),
        e => Error::untrusted(e, None),
    })?;
    if let Some(late) = late {
        let why = format!(
            "the load started {:.1} s after --start-at (tolerance {} s): this shard's seconds do not line up with the other shards'; start every shard earlier or give a later --start-at",
            late.as_secs_f64(),
            START_TOLERANCE.as_secs()
        );
        measured.generator.untrusted = Some(match measured.generator.untrusted.take() {
            Some(prev) => format!("{why}; {prev}"),
            None => why,
        });
    }
    for note in servers
        .0
        .iter()
        .chain(servers.1.iter())
        .filter_map(|s| s.exited.as_ref())
    {
        errln!("error: {note}");
    }
    Ok((measured, servers))
}

/// `URL`, `URL and base URL (duet, interleaved)`, or the calibration's wording.
fn against(plan: &Plan, base_url: Option<&BaseUrl>, calibrating: bool) -> String {
    match base_url {
        Some(b) if calibrating => format!(
            "{} and {b} (A/A calibration: two processes of the same build, interleaved)",
            plan.base
        ),
        Some(b) => format!("{} and base {b} (duet, interleaved)", plan.base),
        None => plan.base.to_string(),
    }
}

/// The load in words: users and spawn rate, or the arrival stages.
fn load_text(plan: &Plan) -> String {
    match &plan.open {
        Some(o) => o.text(),
        None if plan.spawn_rate.is_finite() => format!(
            "{} users (spawn {}/s)",
            plan.users,
            crate::gate::rate_text(plan.spawn_rate)
        ),
        None => format!("{} users (all at once)", plan.users),
    }
}

/// Serves the embedded demo backend on 127.0.0.1:`port` until a stop signal.
pub async fn serve_demo(port: u16, knobs: crate::demo::DemoOptions) -> Result<Outcome, Error> {
    knobs.validate().map_err(Error::input)?;
    // CPU work is calibrated before the port opens, on an idle process, not under the first requests.
    let calibrated = (!knobs.cpu_work.is_zero()).then(crate::demo::knobs::iterations_per_ms);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
        Error::input(format_args!(
            "cannot listen on 127.0.0.1:{port}: {e} (pick another with --port, or --port 0 for any free port)"
        ))
    })?;
    match listener.local_addr() {
        Ok(addr) => errln!("perfgate demo backend listening on http://{addr} (Ctrl-C stops it)"),
        Err(e) => errln!("warning: {e}"),
    }
    if let Some(per_ms) = calibrated {
        errln!(
            "perfgate demo backend: --cpu-work {} is {:.0} iterations of its burn loop (calibrated at start)",
            crate::gate::duration::format_duration(knobs.cpu_work),
            per_ms * knobs.cpu_work.as_secs_f64() * 1000.0
        );
    }
    let signals = Signals::install();
    signals.on_first_say("perfgate demo backend: stopping (a second signal exits at once)");
    let shutdown = async move { signals.first().await };
    crate::demo::serve(listener, knobs, shutdown)
        .await
        .map_err(|e| Error::untrusted(format_args!("demo backend: {e}"), None))?;
    Ok(Outcome::Pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_later_window_has_its_own_reproducible_seed() {
        let seeds: Vec<u64> = (1..=10u64)
            .chain((0..3).map(|r| 1 << 32 | r))
            .map(|i| window_seed(42, i))
            .collect();
        let mut distinct = seeds.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), seeds.len());
        assert!(!seeds.contains(&42));
        assert_eq!(window_seed(42, 3), seeds[2], "the same run seed gives the same windows");
        assert_ne!(window_seed(43, 3), seeds[2]);
    }

    #[test]
    fn start_times_take_any_offset_and_need_one() {
        let now = std::time::SystemTime::now() + Duration::from_secs(60);
        let utc = humantime::format_rfc3339_seconds(now).to_string();
        let (at, text) = parse_start_at(&utc).unwrap();
        // The same moment written at +01:00 (an hour later on the clock) and at -05:00.
        let local = |h: i64| {
            chrono::DateTime::<chrono::Utc>::from(at)
                .with_timezone(&chrono::FixedOffset::east_opt((h * 3600) as i32).unwrap())
                .to_rfc3339()
        };
        for h in [1, -5] {
            let (t, shown) = parse_start_at(&local(h)).unwrap();
            assert_eq!((t, &shown), (at, &text), "{}", local(h));
        }
        let bare = utc.trim_end_matches('Z');
        let e = parse_start_at(bare).unwrap_err();
        assert!(e.contains("has no time zone: add `Z` for UTC"), "{e}");
        let e = parse_start_at("tomorrow").unwrap_err();
        assert!(e.contains("write an RFC 3339 time"), "{e}");
    }

    #[test]
    fn default_rounds_are_one_per_five_seconds_from_three_to_ten() {
        let r = |s| default_rounds(Duration::from_secs(s), Duration::ZERO);
        assert_eq!(
            [r(6), r(14), r(15), r(20), r(30), r(60), r(90), r(600)],
            [1, 1, 3, 4, 6, 10, 10, 10]
        );
    }

    #[test]
    fn every_round_has_steady_load_at_least_as_long_as_its_ramp_up() {
        let r = |s, ramp| default_rounds(Duration::from_secs(s), Duration::from_secs(ramp));
        // The example gate: 150 users at 25/s ramp up in 6 s, so a round is 12 s: 5 in a minute.
        assert_eq!(r(60, 6), 5);
        // A 1 s ramp-up still leaves 5 s rounds of steady load: 6 s rounds.
        assert_eq!([r(30, 1), r(90, 1)], [5, 10]);
        // Fewer than three rounds fit: one pair of processes, judged from time blocks.
        assert_eq!([r(30, 6), r(20, 10)], [1, 1]);
    }

    #[test]
    fn the_run_time_that_gives_rounds_is_the_shortest_that_does() {
        for ramp in [0, 1, 4, 5, 6, 10, 30] {
            let ramp = Duration::from_secs(ramp);
            let t = rounds_run_time(ramp);
            assert_eq!(default_rounds(t, ramp), 3, "ramp-up {ramp:?}");
            assert_eq!(
                default_rounds(t - Duration::from_millis(1), ramp),
                1,
                "ramp-up {ramp:?}"
            );
        }
        assert_eq!(rounds_run_time(Duration::ZERO), Duration::from_secs(15));
        assert_eq!(rounds_run_time(Duration::from_secs(6)), Duration::from_secs(36));
    }
}
