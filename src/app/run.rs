//! `perfgate run`, `demo` and calibration: check every input, start the services, drive the load,
//! assemble the results, then judge and report.

use super::conclude::conclude;
use super::console::{print_calibration, ProgressDisplay};
use super::provenance::{current_commit, current_environment};
use super::{Error, Outcome, ReportOptions, PRISMQ_GATE};
use crate::gate::{Gate, Serve};
use crate::http::BaseUrl;
use crate::load::engine::{self, EngineError};
use crate::load::{Overrides, Plan};
use crate::metrics::assemble::{assemble, Provenance};
use crate::metrics::results::{GateInfo, Results, Side};
use crate::report::{self, Reports};
use crate::serve::session::SessionError;
use crate::serve::{Session, Signals};
use crate::verdict::compare::Mode;
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
    let attempts = opts.retries.saturating_add(1);
    let pause = std::env::var("PERFGATE_RETRY_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(5));
    // One set of handlers for every attempt: a second signal must stop the services of the attempt
    // that is running, whichever it is.
    let signals = Signals::install();
    let mut attempt = 1;
    loop {
        let mut this = opts.clone();
        this.reports.retry_left = attempt < attempts;
        let outcome = run_once(gate, &this, &signals).await;
        match outcome {
            Err(Error::Untrusted(why)) if attempt < attempts && !crate::serve::session::signalled() => {
                eprintln!("{why}");
                eprintln!(
                    "perfgate: attempt {attempt} of {attempts} was untrusted (exit 3); running again in {:.0} s",
                    pause.as_secs_f64()
                );
                tokio::time::sleep(pause).await;
                attempt += 1;
                eprintln!("perfgate: attempt {attempt} of {attempts}");
            }
            other => {
                if attempt > 1 {
                    let how = match &other {
                        Ok(_) => "reached a verdict",
                        Err(Error::Untrusted(_)) => "was untrusted too",
                        Err(_) => "stopped",
                    };
                    eprintln!("perfgate: attempt {attempt} of {attempts} {how}");
                }
                return other;
            }
        }
    }
}

async fn run_once(gate: &Gate, opts: &RunOptions, signals: &Signals) -> Result<Outcome, Error> {
    let mut prepared = prepare(gate, opts, false)?;
    let reports = std::mem::take(&mut prepared.reports);
    let base_file = prepared.base_file.take();
    let Measured { head, base } = measure(gate, opts, prepared, signals).await?;
    let base = base
        .map(|b| (b, Mode::Duet))
        .or(base_file.map(|b| (b, Mode::Sequential)));
    conclude(
        gate,
        &head,
        base.as_ref().map(|(b, m)| (b, *m)),
        &reports,
        &opts.reports,
    )
    .await
}

/// A/A calibration: drives the target against itself in duet mode and prints the noise floor each
/// budget faces. The results and other reports are written like any run's.
pub async fn calibrate(gate: &Gate, opts: &RunOptions) -> Result<Outcome, Error> {
    let mut prepared = prepare(gate, opts, true)?;
    let reports = std::mem::take(&mut prepared.reports);
    let Measured { head, base } = measure(gate, opts, prepared, &Signals::install()).await?;
    if let Some(b) = &base {
        print_calibration(gate, b, &head);
    }
    // Calibration measures noise: the targets are judged and reported, but do not fail it.
    conclude(gate, &head, None, &reports, &opts.reports)
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
    run_opts.load.run_time = run_opts.load.run_time.or(Some(Duration::from_secs(20)));
    let outcome = run(&gate, &run_opts).await;
    server.stop().await;
    outcome
}

/// A run whose every input was checked: nothing has started yet.
struct Prepared {
    plan: Arc<Plan>,
    reports: Reports,
    /// The service to start for head, on this port.
    head_service: Option<(Serve, u16)>,
    /// The service to start for base, on this port.
    base_service: Option<(Serve, u16)>,
    /// The base side of a duet.
    base_url: Option<BaseUrl>,
    /// The baseline results file, read and checked.
    base_file: Option<Results>,
    calibrating: bool,
}

/// Checks every input before anything starts: the plan, report paths, the baseline, the duet, TLS.
fn prepare(gate: &Gate, opts: &RunOptions, calibrating: bool) -> Result<Prepared, Error> {
    super::check_acceptances(gate)?;
    let free_port = || {
        crate::serve::free_port()
            .map_err(|e| Error::untrusted(format_args!("no free loopback port for the service: {e}"), None))
    };
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
    let head_service = head_service.map(|s| free_port().map(|p| (s, p))).transpose()?;
    let base_service = match &opts.baseline {
        Baseline::Serve(cmd) => gate.serve_with(Some(cmd)).map(with_env),
        // Calibration compares two processes of the same build: a second copy of the service.
        Baseline::None if calibrating => head_service.as_ref().map(|(s, _)| s.clone()),
        _ => None,
    };
    let base_service = base_service.map(|s| free_port().map(|p| (s, p))).transpose()?;
    let started: Vec<&Serve> = head_service.iter().chain(base_service.iter()).map(|(s, _)| s).collect();
    refuse_pull_request_code(&started)?;
    let overrides = Overrides {
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
    let plan = Plan::new(gate, &overrides).map_err(Error::input)?;
    let reports = Reports::new(&opts.reports.paths);
    reports.check().map_err(Error::input)?;
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
    if !matches!(opts.baseline, Baseline::None) && gate.regression.budgets.is_empty() {
        eprintln!(
            "warning: {} has no `regression.budgets`: nothing will be compared with the baseline",
            gate.file
        );
    }
    Ok(Prepared {
        plan: Arc::new(plan),
        reports,
        head_service,
        base_service,
        base_url,
        base_file,
        calibrating,
    })
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

/// Starts the services (signal handlers first), checks the targets answer, drives the load, and
/// assembles the results; every started service is stopped on every path out.
async fn measure(gate: &Gate, opts: &RunOptions, p: Prepared, signals: &Signals) -> Result<Measured, Error> {
    let mut session = Session::new(signals.clone());
    let log = |name: &str| crate::serve::log_path(opts.reports.paths.out.as_deref(), name);
    let started = |e: SessionError| match e {
        SessionError::Interrupted(_) => Error::untrusted(e, None),
        SessionError::Serve(e) => Error::untrusted(e, None),
    };
    if let Some((spec, port)) = &p.head_service {
        session
            .start(Side::Head, spec, *port, &log("service"))
            .await
            .map_err(started)?;
    }
    if let Some((spec, port)) = &p.base_service {
        session
            .start(Side::Base, spec, *port, &log("base-service"))
            .await
            .map_err(started)?;
    }
    let plan = &p.plan;
    for url in std::iter::once(&plan.base).chain(p.base_url.iter()) {
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
                println!("{line}");
            }
        }
        println!("::group::perfgate: load against {}", plan.base);
    }
    eprintln!(
        "perfgate: {} against {}: {} for {}, seed {}",
        gate.name,
        against(&p),
        load_text(plan),
        crate::gate::duration::format_duration(plan.run_time),
        plan.seed
    );
    let mut display = ProgressDisplay::new(opts.load.quiet, plan.run_time);
    session.start_sampling(std::time::Instant::now());
    let measured = {
        let stop = async {
            tokio::select! {
                _ = signals.first() => {}
                _ = session.exited() => {}
            }
        };
        match &p.base_url {
            Some(url) => engine::run_duet(plan.clone(), url.clone(), |x| display.update(x), stop).await,
            None => engine::run(plan.clone(), |x| display.update(x), stop).await,
        }
    };
    display.finish();
    let (head_server, base_server) = session.finish().await;
    if actions {
        println!("::endgroup::");
    }
    let measured = measured.map_err(|e| match e {
        EngineError::Input(why) => Error::input(why),
        e => Error::untrusted(e, None),
    })?;
    let provenance = Provenance::new(
        GateInfo {
            file: gate.file.clone(),
            name: gate.name.clone(),
            sha256: gate.sha256.clone(),
        },
        current_commit(),
        current_environment(),
    );
    let mut sides = assemble(&plan.planned(), measured, &provenance).into_iter();
    let mut head = sides
        .next()
        .ok_or_else(|| Error::untrusted("the engine returned no results", None))?;
    let mut base = sides.next();
    for note in head_server
        .iter()
        .chain(base_server.iter())
        .filter_map(|s| s.exited.as_ref())
    {
        eprintln!("error: {note}");
    }
    head.server = head_server;
    if let Some(b) = &mut base {
        b.server = base_server;
        if let Some(c) = &opts.baseline_commit {
            b.commit = Some(c.clone());
        }
    }
    if let (Some(path), Some(b)) = (&opts.baseline_out, &base) {
        let written = serde_json::to_vec_pretty(b)
            .map_err(std::io::Error::other)
            .and_then(|bytes| report::write_atomic(path, &bytes));
        match written {
            Ok(()) => eprintln!("wrote base results → {}", path.display()),
            Err(e) => eprintln!("error: cannot write {}: {e}", path.display()),
        }
    }
    Ok(Measured { head, base })
}

/// `URL`, `URL and base URL (duet, interleaved)`, or the calibration's wording.
fn against(p: &Prepared) -> String {
    match &p.base_url {
        Some(b) if p.calibrating => format!(
            "{} and {b} (A/A calibration: two processes of the same build, interleaved)",
            p.plan.base
        ),
        Some(b) => format!("{} and base {b} (duet, interleaved)", p.plan.base),
        None => p.plan.base.to_string(),
    }
}

/// The load in words: users and spawn rate, or the arrival stages.
fn load_text(plan: &Plan) -> String {
    match &plan.open {
        Some(o) => {
            let rates: Vec<String> = o
                .stages
                .iter()
                .map(|s| {
                    if s.from == s.to {
                        format!("{}/s", s.to)
                    } else {
                        format!("{}->{}/s", s.from, s.to)
                    }
                })
                .collect();
            format!(
                "arrivals {} on up to {} connections",
                rates.join(", "),
                o.max_connections
            )
        }
        None if plan.spawn_rate.is_finite() => format!("{} users (spawn {}/s)", plan.users, plan.spawn_rate),
        None => format!("{} users (all at once)", plan.users),
    }
}

/// Serves the embedded demo backend on 127.0.0.1:`port` until a stop signal.
pub async fn serve_demo(port: u16, knobs: crate::demo::DemoOptions) -> Result<Outcome, Error> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
        Error::input(format_args!(
            "cannot listen on 127.0.0.1:{port}: {e} (pick another with --port, or --port 0 for any free port)"
        ))
    })?;
    match listener.local_addr() {
        Ok(addr) => eprintln!("perfgate demo backend listening on http://{addr} (Ctrl-C stops it)"),
        Err(e) => eprintln!("warning: {e}"),
    }
    let signals = Signals::install();
    let shutdown = async move { signals.first().await };
    crate::demo::serve(listener, knobs, shutdown)
        .await
        .map_err(|e| Error::untrusted(format_args!("demo backend: {e}"), None))?;
    Ok(Outcome::Pass)
}
