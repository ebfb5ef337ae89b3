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
    /// Scenario names to run (empty: the gate's selection).
    pub scenarios: Vec<String>,
    /// Load settings.
    pub load: LoadOptions,
    /// What head is compared with.
    pub baseline: Baseline,
    /// In duet mode, also write the base side's results here.
    pub baseline_out: Option<PathBuf>,
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

/// Runs a gate's load profile, judges it and writes the reports.
pub async fn run(gate: &Gate, opts: &RunOptions) -> Result<Outcome, Error> {
    let mut prepared = prepare(gate, opts, false)?;
    let reports = std::mem::take(&mut prepared.reports);
    let base_file = prepared.base_file.take();
    let Measured { head, base } = measure(gate, opts, prepared).await?;
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
    let Measured { head, base } = measure(gate, opts, prepared).await?;
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
    let free_port = || {
        crate::serve::free_port()
            .map_err(|e| Error::untrusted(format_args!("no free loopback port for the service: {e}"), None))
    };
    let head_service = match &opts.host {
        Some(_) => None,
        None => gate.serve_with(opts.serve.as_deref()),
    };
    let head_service = head_service.map(|s| free_port().map(|p| (s, p))).transpose()?;
    let base_service = match &opts.baseline {
        Baseline::Serve(cmd) => gate.serve_with(Some(cmd)),
        // Calibration compares two processes of the same build: a second copy of the service.
        Baseline::None if calibrating => head_service.as_ref().map(|(s, _)| s.clone()),
        _ => None,
    };
    let base_service = base_service.map(|s| free_port().map(|p| (s, p))).transpose()?;
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
    check_no_overwrite(&reports, opts).map_err(Error::input)?;
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
    if !matches!(opts.baseline, Baseline::None) && gate.regression.budgets.is_empty() {
        errln!(
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

/// Refuses a run that would write over its own baseline file, or write the base side's results where
/// a report goes.
fn check_no_overwrite(reports: &Reports, opts: &RunOptions) -> Result<(), String> {
    let outputs: Vec<(&str, &std::path::Path)> = reports
        .paths()
        .chain(opts.baseline_out.as_deref().map(|p| ("--baseline-out", p)))
        .collect();
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

/// Head's results, and base's in a duet.
struct Measured {
    head: Results,
    base: Option<Results>,
}

/// Starts the services (signal handlers first), checks the targets answer, drives the load, and
/// assembles the results; every started service is stopped on every path out.
async fn measure(gate: &Gate, opts: &RunOptions, p: Prepared) -> Result<Measured, Error> {
    let signals = Signals::install();
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
                outln!("{line}");
            }
        }
        outln!("::group::perfgate: load against {}", plan.base);
    }
    errln!(
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
        outln!("::endgroup::");
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
        errln!("error: {note}");
    }
    head.server = head_server;
    if let Some(b) = &mut base {
        b.server = base_server;
    }
    if let (Some(path), Some(b)) = (&opts.baseline_out, &base) {
        let written = serde_json::to_vec_pretty(b)
            .map_err(std::io::Error::other)
            .and_then(|bytes| report::write_report(path, &bytes));
        match written {
            Ok(()) => errln!("wrote base results → {}", path.display()),
            Err(e) => errln!("error: cannot write {}: {e}", path.display()),
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
    knobs.validate().map_err(Error::input)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
        Error::input(format_args!(
            "cannot listen on 127.0.0.1:{port}: {e} (pick another with --port, or --port 0 for any free port)"
        ))
    })?;
    match listener.local_addr() {
        Ok(addr) => errln!("perfgate demo backend listening on http://{addr} (Ctrl-C stops it)"),
        Err(e) => errln!("warning: {e}"),
    }
    let signals = Signals::install();
    signals.on_first_say("perfgate demo backend: stopping (a second signal exits at once)");
    let shutdown = async move { signals.first().await };
    crate::demo::serve(listener, knobs, shutdown)
        .await
        .map_err(|e| Error::untrusted(format_args!("demo backend: {e}"), None))?;
    Ok(Outcome::Pass)
}
