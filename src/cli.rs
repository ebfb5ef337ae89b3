//! Command-line arguments and subcommands; each returns an exit code as DESIGN.md defines them.

use crate::demo::{DemoOptions, DemoServer};
use crate::gate::{duration::parse_duration, Gate};
use crate::load::url::BaseUrl;
use crate::load::{self, Overrides, Plan, Progress};
use crate::metrics::results::{GateInfo, Results};
use crate::metrics::results::{ServerInfo, ServerSample};
use crate::report::{self, terminal, Reports};
use crate::serve::{ServeSpec, Service};
use crate::verdict;
use crate::verdict::compare::Mode;
use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Every check passed.
pub const EXIT_PASS: i32 = 0;
/// The gate failed.
pub const EXIT_FAIL: i32 = 1;
/// Invalid input: arguments, gate file, baseline file.
pub const EXIT_INPUT: i32 = 2;
/// The run could not be trusted: unreachable, interrupted, generator overloaded.
pub const EXIT_UNTRUSTED: i32 = 3;

/// The example gate, embedded so `perfgate demo` runs from anywhere.
pub const PRISMQ_GATE: &str = include_str!("../gates/prismq.yaml");

/// perfgate: load an HTTP service, measure it, judge it against targets and a baseline.
#[derive(Debug, Parser)]
#[command(name = "perfgate", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a gate file's load profile against a target and write the results.
    Run(RunArgs),
    /// Check a gate file and print what it would run.
    Validate {
        /// The gate file.
        gate: PathBuf,
    },
    /// Print the gate file's JSON Schema (draft-07) for editors.
    Schema,
    /// Serve the embedded demo backend (the reference PrismQ API) on 127.0.0.1.
    ServeDemo {
        /// Port to listen on (0: any free port).
        #[arg(long, default_value_t = 8000)]
        port: u16,
        /// Demo knobs.
        #[command(flatten)]
        demo: DemoOptions,
    },
    /// Start the demo backend on a free loopback port and run gates/prismq.yaml against it.
    Demo(DemoArgs),
    /// Compare two results files under a gate's regression budgets (and judge head's targets).
    Compare {
        /// The base run's results.
        base: PathBuf,
        /// The head run's results.
        head: PathBuf,
        /// The gate file with the budgets (default: the file named in head's results).
        #[arg(long)]
        gate: Option<PathBuf>,
        /// Report files.
        #[command(flatten)]
        reports: ReportArgs,
    },
    /// Post or update the sticky PR comment for a saved results file (with a baseline: its deltas).
    Comment {
        /// The head run's results.
        results: PathBuf,
        /// The base run's results, for the delta table.
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// The gate file (default: the file named in the results).
        #[arg(long)]
        gate: Option<PathBuf>,
    },
    /// Judge a saved results file against a gate's targets and write reports, without load.
    Report {
        /// The results JSON written by `perfgate run --out`.
        results: PathBuf,
        /// The gate file whose targets judge it (default: the file named in the results).
        #[arg(long)]
        gate: Option<PathBuf>,
        /// Report files.
        #[command(flatten)]
        reports: ReportArgs,
    },
}

/// Options of `perfgate run` that mirror Locust's flags.
#[derive(Debug, Args, Clone)]
pub struct LoadArgs {
    /// Number of concurrent users (overrides `load.users`).
    #[arg(short = 'u', long)]
    pub users: Option<u32>,
    /// Users started per second (overrides `load.spawn_rate`).
    #[arg(short = 'r', long, allow_negative_numbers = true)]
    pub spawn_rate: Option<f64>,
    /// How long to run, e.g. `30s`, `1m` (overrides `load.run_time`).
    #[arg(short = 't', long, value_parser = parse_duration)]
    pub run_time: Option<Duration>,
    /// Seed for a reproducible task and think-time sequence.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Also trust the certificates in this PEM file for https targets (a private CA, a self-signed service).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Accept any TLS certificate (encryption without authentication: test services only).
    #[arg(long)]
    pub insecure: bool,
    /// Only the final table: no progress output.
    #[arg(short, long)]
    pub quiet: bool,
    /// Report files.
    #[command(flatten)]
    pub reports: ReportArgs,
}

/// Report files to write (checked writable before any load starts).
#[derive(Debug, Args, Clone, Default)]
pub struct ReportArgs {
    /// Write the results JSON here (also the baseline format).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write JUnit XML here: one testcase per check.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a markdown summary here (also appended to $GITHUB_STEP_SUMMARY when set).
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Write a self-contained HTML report with charts here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write Locust-compatible CSV files PREFIX_stats.csv, _stats_history.csv, _failures.csv, _exceptions.csv.
    #[arg(long, value_name = "PREFIX")]
    pub csv: Option<PathBuf>,
    /// Post or update one sticky comment on the pull request (GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_EVENT_PATH).
    #[arg(long)]
    pub comment: bool,
}

impl ReportArgs {
    fn reports(&self) -> Reports {
        Reports::new(&report::Paths {
            out: self.out.clone(),
            junit: self.junit.clone(),
            summary: self.summary.clone(),
            html: self.html.clone(),
            csv: self.csv.clone(),
        })
    }
}

/// Arguments of `perfgate run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The gate file (YAML).
    pub gate: PathBuf,
    /// Scenario (user class) names to run; default: the gate's selection, or all.
    pub scenarios: Vec<String>,
    /// Base URL of the target, e.g. http://127.0.0.1:8000 (overrides `host`).
    #[arg(short = 'H', long, env = "PERFGATE_HOST")]
    pub host: Option<String>,
    /// Load settings.
    #[command(flatten)]
    pub load: LoadArgs,
    /// Baseline comparison.
    #[command(flatten)]
    pub baseline: BaselineArgs,
    /// Start the service under test: a shell command with `{port}` (a free loopback port); replaces --host.
    #[arg(long, value_name = "CMD", conflicts_with = "host")]
    pub serve: Option<String>,
}

/// How `perfgate run` compares with a baseline.
#[derive(Debug, Args, Clone, Default)]
pub struct BaselineArgs {
    /// Compare with this results file of another commit (base ran earlier: sequential comparison).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Duet mode: load this base build in the same window, interleaved with --host, and compare them.
    #[arg(long, value_name = "URL", conflicts_with = "baseline")]
    pub baseline_host: Option<String>,
    /// In duet mode, also write the base side's results here.
    #[arg(long, value_name = "FILE", requires = "baseline_host")]
    pub baseline_out: Option<PathBuf>,
    /// A/A calibration: drive the target against itself in duet mode and report the noise floor per budget.
    #[arg(long, conflicts_with_all = ["baseline", "baseline_host"])]
    pub calibrate: bool,
    /// Duet mode with a started base build: a shell command with `{port}`, like --serve.
    #[arg(long, value_name = "CMD", conflicts_with_all = ["baseline", "baseline_host", "calibrate"])]
    pub baseline_serve: Option<String>,
}

/// Arguments of `perfgate demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Gate file to run instead of the embedded gates/prismq.yaml.
    #[arg(long)]
    pub gate: Option<PathBuf>,
    /// Load settings (run time defaults to 20s here).
    #[command(flatten)]
    pub load: LoadArgs,
    /// Demo knobs.
    #[command(flatten)]
    pub demo: DemoOptions,
}

/// Parses arguments, runs, and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_INPUT } else { EXIT_PASS };
            let _ = e.print();
            return code;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return EXIT_UNTRUSTED;
        }
    };
    rt.block_on(dispatch(cli.command))
}

async fn dispatch(cmd: Command) -> i32 {
    match cmd {
        Command::Run(args) => {
            let gate = match Gate::load(&args.gate) {
                Ok(g) => g,
                Err(e) => return input_error(&e.to_string()),
            };
            run_gate(&gate, args.host, args.scenarios, &args.load, &args.baseline, args.serve).await
        }
        Command::Validate { gate } => match Gate::load(&gate) {
            Ok(g) => {
                println!("{}: valid gate `{}`", g.file, g.name);
                print_outline(&g);
                EXIT_PASS
            }
            Err(e) => input_error(&e.to_string()),
        },
        Command::Schema => {
            println!("{}", crate::gate::schema());
            EXIT_PASS
        }
        Command::ServeDemo { port, demo } => serve_demo(port, demo).await,
        Command::Demo(args) => demo(args).await,
        Command::Report { results, gate, reports } => report_cmd(&results, gate, &reports).await,
        Command::Comment {
            results,
            baseline,
            gate,
        } => {
            let args = ReportArgs {
                comment: true,
                ..ReportArgs::default()
            };
            match baseline {
                Some(base) => compare_cmd(&base, &results, gate, &args).await,
                None => report_cmd(&results, gate, &args).await,
            }
        }
        Command::Compare {
            base,
            head,
            gate,
            reports,
        } => compare_cmd(&base, &head, gate, &reports).await,
    }
}

fn input_error(msg: &str) -> i32 {
    eprintln!("{msg}");
    EXIT_INPUT
}

fn print_outline(g: &Gate) {
    let l = &g.load;
    let rate = if l.spawn_rate.is_finite() {
        format!("{}/s", l.spawn_rate)
    } else {
        "all at once".into()
    };
    println!(
        "  load: {} users, spawn {rate}, run {}",
        l.users,
        crate::gate::duration::format_duration(l.run_time)
    );
    for s in g.selected_scenarios() {
        let (lo, hi) = s.think_time;
        println!(
            "  scenario {} (weight {}, think {}..{}): {} tasks",
            s.name,
            s.weight,
            crate::gate::duration::format_duration(lo),
            crate::gate::duration::format_duration(hi),
            s.tasks.len()
        );
    }
    println!("  request names: {}", g.request_names().join(", "));
}

async fn serve_demo(port: u16, demo: DemoOptions) -> i32 {
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on 127.0.0.1:{port}: {e} (pick another with --port, or --port 0 for any free port)");
            return EXIT_INPUT;
        }
    };
    match listener.local_addr() {
        Ok(addr) => eprintln!("perfgate demo backend listening on http://{addr} (Ctrl-C stops it)"),
        Err(e) => eprintln!("warning: {e}"),
    }
    let shutdown = interrupted();
    match crate::demo::serve(listener, demo, shutdown).await {
        Ok(()) => EXIT_PASS,
        Err(e) => {
            eprintln!("error: demo backend: {e}");
            EXIT_UNTRUSTED
        }
    }
}

async fn demo(args: DemoArgs) -> i32 {
    let gate = match &args.gate {
        Some(p) => Gate::load(p),
        None => Gate::parse("gates/prismq.yaml", PRISMQ_GATE),
    };
    let gate = match gate {
        Ok(g) => g,
        Err(e) => return input_error(&e.to_string()),
    };
    let server = match DemoServer::start(args.demo).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot start the demo backend: {e}");
            return EXIT_UNTRUSTED;
        }
    };
    let mut load = args.load.clone();
    load.run_time = load.run_time.or(Some(Duration::from_secs(20)));
    let code = run_gate(
        &gate,
        Some(server.url()),
        Vec::new(),
        &load,
        &BaselineArgs::default(),
        None,
    )
    .await;
    server.stop().await;
    code
}

/// Runs a validated gate with overrides; prints progress and the table; writes results.
pub async fn run_gate(
    gate: &Gate,
    host: Option<String>,
    scenarios: Vec<String>,
    args: &LoadArgs,
    baseline: &BaselineArgs,
    serve: Option<String>,
) -> i32 {
    let serve_spec = |command: Option<&String>, name: &str| -> Option<ServeSpec> {
        let from_gate = gate.serve.as_ref();
        let command = command.cloned().or_else(|| from_gate.map(|s| s.command.clone()))?;
        Some(ServeSpec {
            command,
            cwd: from_gate.and_then(|s| s.cwd.clone()).map(PathBuf::from),
            env: from_gate.map(|s| s.env.clone()).unwrap_or_default(),
            ready: from_gate
                .map(|s| s.ready.clone())
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| gate.default_ready_path()),
            ready_timeout: from_gate.map_or(Duration::from_secs(30), |s| s.ready_timeout),
            stop_grace: from_gate.map_or(Duration::from_secs(5), |s| s.stop_grace),
            log: crate::serve::log_path(args.reports.out.as_deref(), name),
        })
    };
    let head_spec = if host.is_some() {
        None
    } else {
        serve_spec(serve.as_ref(), "service")
    };
    let base_spec = baseline
        .baseline_serve
        .as_ref()
        .and_then(|c| serve_spec(Some(c), "base-service"));
    let mut overrides = Overrides {
        // A placeholder target until the service is up: the plan is checked before anything starts.
        host: if head_spec.is_some() {
            Some("http://127.0.0.1:1".into())
        } else {
            host
        },
        users: args.users,
        spawn_rate: args.spawn_rate,
        run_time: args.run_time,
        scenarios,
        seed: args.seed,
        tls: crate::load::client::TlsOptions {
            ca_file: args.ca_file.clone(),
            insecure: args.insecure,
        },
    };
    let mut plan = match Plan::new(gate, &overrides) {
        Ok(p) => Arc::new(p),
        Err(e) => return input_error(&format!("error: {e}")),
    };
    let reports = args.reports.reports();
    if let Err(e) = reports.check() {
        return input_error(&format!("error: {e}"));
    }
    // Everything that can be wrong with the input is found before any load starts.
    let base_file = match &baseline.baseline {
        Some(p) => match Results::read(p) {
            Ok(r) => Some(r),
            Err(e) => return input_error(&format!("error: --baseline {e}")),
        },
        None => None,
    };
    let base_url = match (&baseline.baseline_host, baseline.calibrate) {
        (Some(h), _) => match BaseUrl::parse(h) {
            Ok(u) => Some(u),
            Err(e) => return input_error(&format!("error: --baseline-host {e}")),
        },
        (None, true) => Some(plan.base.clone()),
        (None, false) => None,
    };
    if let Some(p) = &baseline.baseline_out {
        if let Err(e) = report::check_writable(p) {
            return input_error(&format!("error: --baseline-out {e}"));
        }
    }
    let mut head_service = None;
    let mut base_service = None;
    let mut base_url = base_url;
    if let Some(spec) = &head_spec {
        match start_service(spec, "service").await {
            Ok(s) => head_service = Some(s),
            Err(code) => return code,
        }
    }
    if let Some(spec) = &base_spec {
        match start_service(spec, "base service").await {
            Ok(s) => base_service = Some(s),
            Err(code) => {
                if let Some(s) = head_service.take() {
                    s.stop().await;
                }
                return code;
            }
        }
    }
    if let Some(s) = &head_service {
        overrides.host = Some(s.url.clone());
        plan = match Plan::new(gate, &overrides) {
            Ok(p) => Arc::new(p),
            Err(e) => return input_error(&format!("error: {e}")),
        };
    }
    if let Some(s) = &base_service {
        base_url = BaseUrl::parse(&s.url).ok();
    }
    if (base_file.is_some() || base_url.is_some()) && gate.regression.budgets.is_empty() {
        eprintln!(
            "warning: {} has no `regression.budgets`: nothing will be compared with the baseline",
            gate.file
        );
    }
    for url in std::iter::once(&plan.base).chain(base_url.iter()) {
        if let Err(e) = load::engine::preflight(url, &plan.tls).await {
            if let load::EngineError::Setup(why) = &e {
                // A bad CA file or server name is the input's fault, not the target's.
                return input_error(&format!("error: {why}"));
            }
            eprintln!("error: {e}");
            eprintln!("  = help: start the service first, or point --host (and --baseline-host) at it");
            return EXIT_UNTRUSTED;
        }
    }
    let load_text = match &plan.open {
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
    };
    let against = match &base_url {
        Some(_) if baseline.calibrate => format!("{} (A/A calibration: against itself, interleaved)", plan.base),
        Some(b) => format!("{} and base {b} (duet, interleaved)", plan.base),
        None => plan.base.to_string(),
    };
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
        "perfgate: {} against {against}: {load_text} for {}, seed {}",
        gate.name,
        crate::gate::duration::format_duration(plan.run_time),
        plan.seed
    );
    let info = GateInfo {
        file: gate.file.clone(),
        name: gate.name.clone(),
        sha256: gate.sha256.clone(),
    };
    let mut display = ProgressDisplay::new(args.quiet, plan.run_time);
    let samplers: Vec<_> = [&head_service, &base_service]
        .iter()
        .map(|s| s.as_ref().map(|s| sample_resources(s.pid())))
        .collect();
    let exit_note: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let stop = async {
        tokio::select! {
            _ = interrupted() => {}
            status = watch_exit(&mut head_service) => {
                *exit_note.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("the service exited during the run ({status})"));
            }
            status = watch_exit(&mut base_service) => {
                *exit_note.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("the base service exited during the run ({status})"));
            }
        }
    };
    let outcome = match base_url {
        Some(url) => load::engine::run_duet(plan.clone(), url, info, |p| display.update(p), stop)
            .await
            .map(|(head, base)| (head, Some((base, Mode::Duet)))),
        None => load::run(plan.clone(), info, |p| display.update(p), stop)
            .await
            .map(|head| (head, base_file.map(|b| (b, Mode::Sequential)))),
    };
    display.finish();
    let exit_note = exit_note.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut servers = Vec::new();
    for (service, sampler) in [head_service, base_service].into_iter().zip(samplers) {
        if let (Some(s), Some((task, samples))) = (service, sampler) {
            task.abort();
            let samples = samples.lock().map(|v| v.clone()).unwrap_or_default();
            if exit_note.is_some() {
                eprintln!("  its last output ({}):\n{}", s.log.display(), s.tail());
            }
            servers.push(Some(ServerInfo {
                command: s.command.clone(),
                log: s.log.display().to_string(),
                samples,
                exited: exit_note.clone(),
            }));
            s.stop().await;
        } else {
            servers.push(None);
        }
    }
    if actions {
        println!("::endgroup::");
    }
    let (mut results, mut base) = match outcome {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_UNTRUSTED;
        }
    };
    if let Some(note) = &exit_note {
        eprintln!("error: {note}");
    }
    results.server = servers.first().cloned().flatten();
    if let (Some((b, Mode::Duet)), Some(server)) = (&mut base, servers.get(1).cloned().flatten()) {
        b.server = Some(server);
    }
    if let (Some(p), Some((b, Mode::Duet))) = (&baseline.baseline_out, &base) {
        let written = serde_json::to_vec_pretty(b)
            .map_err(std::io::Error::other)
            .and_then(|bytes| report::write_atomic(p, &bytes));
        match written {
            Ok(()) => eprintln!("wrote base results → {}", p.display()),
            Err(e) => eprintln!("error: cannot write {}: {e}", p.display()),
        }
    }
    if baseline.calibrate {
        if let Some((b, _)) = &base {
            print_calibration(gate, b, &results);
        }
        return if results.interrupted { EXIT_UNTRUSTED } else { EXIT_PASS };
    }
    conclude(
        gate,
        &results,
        base.as_ref().map(|(b, m)| (b, *m)),
        &reports,
        &args.reports,
    )
    .await
}

/// Starts a service and waits until it is ready; an error is printed and becomes exit 3.
async fn start_service(spec: &ServeSpec, which: &str) -> Result<Service, i32> {
    eprintln!(
        "perfgate: starting the {which}: {} (output: {})",
        spec.command,
        spec.log.display()
    );
    Service::start(spec).await.map_err(|e| {
        eprintln!("error: {e}");
        EXIT_UNTRUSTED
    })
}

/// A task sampling a service's process tree every second into the shared list, until aborted.
type Sampling = (tokio::task::JoinHandle<()>, Arc<std::sync::Mutex<Vec<ServerSample>>>);

fn sample_resources(pid: u32) -> Sampling {
    let out = Arc::new(std::sync::Mutex::new(Vec::new()));
    let shared = out.clone();
    let task = tokio::spawn(async move {
        let mut sampler = crate::serve::resources::Sampler::new(pid, std::time::Instant::now());
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if !sampler.sample() {
                break;
            }
            if let Some(last) = sampler.samples.last() {
                shared.lock().unwrap_or_else(|e| e.into_inner()).push(*last);
            }
        }
    });
    (task, out)
}

/// Resolves with the exit status when a started service exits; never without one.
async fn watch_exit(service: &mut Option<Service>) -> String {
    match service {
        Some(s) => s.exited().await,
        None => std::future::pending().await,
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (what CI runners send on cancel); from then on a second
/// signal exits at once, without waiting for in-flight requests or reports.
async fn interrupted() {
    one_signal().await;
    eprintln!("perfgate: stopping: in-flight requests get the grace period, then reports are written (a second signal exits at once)");
    tokio::spawn(async {
        one_signal().await;
        eprintln!("perfgate: second signal: exiting now, reports not written");
        std::process::exit(EXIT_UNTRUSTED);
    });
}

async fn one_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Judges, prints, writes reports and publishes; returns the exit code.
async fn conclude(
    gate: &Gate,
    results: &Results,
    base: Option<(&Results, Mode)>,
    reports: &Reports,
    args: &ReportArgs,
) -> i32 {
    let verdict = match base {
        Some((b, mode)) => verdict::judge_with_baseline(gate, results, b, mode),
        None => verdict::judge(gate, results),
    };
    print_results(results);
    print_verdict(&verdict, &gate.file);
    let input = report::Input {
        results,
        verdict: &verdict,
        gate_file: &gate.file,
    };
    match reports.write(&input) {
        Ok(done) => done.iter().for_each(|d| eprintln!("wrote {d}")),
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_UNTRUSTED;
        }
    }
    let shown = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let paths = crate::github::Paths {
        results: shown(&args.out),
        summary: shown(&args.summary),
        junit: shown(&args.junit),
    };
    crate::github::publish(&input, &paths, args.comment).await;
    if results.interrupted {
        eprintln!("error: the run was interrupted; its numbers describe a partial run");
        return EXIT_UNTRUSTED;
    }
    if let Some(why) = &results.load.generator.untrusted {
        eprintln!("error: {why}");
        eprintln!("  = help: give the generator its own core, lower the load, or raise `max_connections`");
        return EXIT_UNTRUSTED;
    }
    if verdict.passed() {
        EXIT_PASS
    } else {
        EXIT_FAIL
    }
}

/// Loads the gate named by `--gate` or by the results, warning when it changed since the run.
fn gate_for(results: &Results, path: &std::path::Path, gate: Option<PathBuf>) -> Result<Gate, i32> {
    let gate_path = gate.unwrap_or_else(|| PathBuf::from(&results.gate.file));
    let gate = Gate::load(&gate_path).map_err(|e| {
        input_error(&format!(
            "{e}\n  = help: pass the gate file that produced {} with --gate",
            path.display()
        ))
    })?;
    if gate.sha256 != results.gate.sha256 {
        eprintln!(
            "warning: {} has changed since {} was recorded (sha256 differs); its current targets judge the old run",
            gate.file,
            path.display()
        );
    }
    Ok(gate)
}

async fn report_cmd(path: &std::path::Path, gate: Option<PathBuf>, args: &ReportArgs) -> i32 {
    let results = match Results::read(path) {
        Ok(r) => r,
        Err(e) => return input_error(&format!("error: {e}")),
    };
    let gate = match gate_for(&results, path, gate) {
        Ok(g) => g,
        Err(code) => return code,
    };
    let reports = args.reports();
    if let Err(e) = reports.check() {
        return input_error(&format!("error: {e}"));
    }
    conclude(&gate, &results, None, &reports, args).await
}

async fn compare_cmd(
    base_path: &std::path::Path,
    head_path: &std::path::Path,
    gate: Option<PathBuf>,
    args: &ReportArgs,
) -> i32 {
    let (base, head) = match (Results::read(base_path), Results::read(head_path)) {
        (Ok(b), Ok(h)) => (b, h),
        (Err(e), _) | (_, Err(e)) => return input_error(&format!("error: {e}")),
    };
    let gate = match gate_for(&head, head_path, gate) {
        Ok(g) => g,
        Err(code) => return code,
    };
    let reports = args.reports();
    if let Err(e) = reports.check() {
        return input_error(&format!("error: {e}"));
    }
    let mode = match (&base.load.duet, &head.load.duet) {
        (Some(b), Some(h)) if b.id == h.id && b.side != h.side => Mode::Duet,
        _ => Mode::Sequential,
    };
    conclude(&gate, &head, Some((&base, mode)), &reports, args).await
}

/// Prints the noise floor an A/A run measured for every budget, and which budgets it cannot resolve.
fn print_calibration(gate: &Gate, a: &Results, b: &Results) {
    let reg = verdict::compare::compare(&gate.regression, a, b, Mode::Duet, gate.verdict.include_ramp_up);
    println!("{}", terminal::run_summary(b));
    println!("A/A calibration: the same target twice, interleaved. The noise floor is the widest change the intervals allow when nothing changed.");
    if reg.comparisons.is_empty() {
        println!("  the gate has no regression budgets to calibrate");
    }
    for c in &reg.comparisons {
        let floor = c.worse_ci.map(|(lo, hi)| lo.abs().max(hi.abs()));
        let (floor_text, verdict) = match floor {
            Some(f) => {
                let budget = parse_budget_value(&c.budget);
                let ok = budget.is_none_or(|b| b > f);
                (
                    format!("±{f:.1}{}", c.ci_unit),
                    if ok {
                        "resolvable".to_string()
                    } else {
                        format!("WARNING: budget {} is below the noise floor", c.budget)
                    },
                )
            }
            None => ("unknown".into(), format!("inconclusive: {}", c.reason)),
        };
        println!(
            "  {:<50} noise floor {floor_text:<10} {verdict}",
            format!("{} {}", c.subject, c.metric)
        );
    }
}

/// The failing amount of a budget as written (`+10%..+20%` → 20), in its own unit.
fn parse_budget_value(text: &str) -> Option<f64> {
    let fail = text.rsplit("..").next()?.trim();
    let digits: String = fail.chars().filter(|c| c.is_ascii_digit() || *c == '.').collect();
    digits.parse().ok()
}

/// Prints the comparison with the baseline: one line per comparison, regressions first, then notes.
fn print_regression(r: &verdict::compare::Regression, file: &str) {
    println!(
        "Compared with base ({}, {:.0}% confidence for all {} comparisons together):",
        match r.mode {
            Mode::Duet => "duet: loaded together",
            Mode::Sequential => "sequential: base ran earlier",
        },
        r.confidence * 100.0,
        r.comparisons.len()
    );
    let mut comps: Vec<_> = r.comparisons.iter().collect();
    comps.sort_by_key(|c| c.change.rank());
    for c in comps {
        let values = match (c.base, c.head) {
            (Some(b), Some(h)) => format!(
                "{}{} -> {}{}{}",
                verdict::fmt_value(b),
                c.unit,
                verdict::fmt_value(h),
                c.unit,
                c.delta_pct.map(|d| format!(" ({d:+.1}%)")).unwrap_or_default()
            ),
            _ => "-".into(),
        };
        println!(
            "  {:<12} {}: {values}; {}  [{file}:{}]",
            c.change.label(),
            c.name,
            c.reason,
            c.pos.line
        );
    }
    for n in &r.notes {
        println!("  note: {n}");
    }
}

/// Prints the verdict: headline, then every check with failures first.
pub fn print_verdict(v: &verdict::Verdict, file: &str) {
    println!("Verdict: {}", v.headline());
    let mut checks: Vec<_> = v.checks.iter().collect();
    checks.sort_by_key(|c| match c.outcome {
        verdict::Outcome::Fail => 0,
        verdict::Outcome::NoData => 1,
        verdict::Outcome::Pass => 2,
    });
    for c in checks {
        println!(
            "  {:<7} {}: {}  [{file}:{}]",
            c.outcome.label(),
            c.name,
            c.message(),
            c.pos.line
        );
    }
    if let Some(r) = &v.regression {
        print_regression(r, file);
    }
}

/// Prints the run summary, stats table and failure lines.
pub fn print_results(r: &Results) {
    println!("{}", terminal::run_summary(r));
    println!("{}", terminal::generator_line(r));
    if let Some(line) = terminal::server_line(r) {
        println!("{line}");
    }
    println!("{}", terminal::stats_table(r));
    for line in terminal::failure_lines(r) {
        println!("  {line}");
    }
}

/// Live progress: a bar on a terminal, a plain line every 10 s elsewhere (CI logs).
struct ProgressDisplay {
    bar: Option<indicatif::ProgressBar>,
    plain: bool,
    last_plain: Duration,
}

impl ProgressDisplay {
    fn new(quiet: bool, run_time: Duration) -> ProgressDisplay {
        let tty = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let bar = (!quiet && tty).then(|| {
            let bar = indicatif::ProgressBar::new(run_time.as_secs().max(1));
            if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len}s {msg}") {
                bar.set_style(style);
            }
            bar
        });
        ProgressDisplay {
            bar,
            plain: !quiet && !tty,
            last_plain: Duration::ZERO,
        }
    }

    fn update(&mut self, p: &Progress) {
        let msg = format!(
            "users {}/{}, {} requests ({} failed), {:.1} req/s",
            p.users, p.planned_users, p.requests, p.failures, p.rps
        );
        if let Some(bar) = &self.bar {
            bar.set_position(p.elapsed.as_secs().min(p.run_time.as_secs()));
            bar.set_message(msg);
        } else if self.plain && p.elapsed >= self.last_plain + Duration::from_secs(10) {
            self.last_plain = p.elapsed;
            eprintln!("[{:>4}s/{}s] {msg}", p.elapsed.as_secs(), p.run_time.as_secs());
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn arguments_are_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
