//! The application layer's contract: every input check runs before anything starts (exit 2), each
//! side of a duet keeps its own service's fate, calibration drives the started service, a report that
//! cannot be written has its own exit code, and the service is sampled off the load runtime.

mod common;

use common::{perfgate, repo_path, TempDir};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_perfgate");

const CLOSED: &str = "
version: 1
load: {users: 4, spawn_rate: 100, run_time: RUNTIME}
scenarios:
  Poller:
    think_time: 20ms..40ms
    tasks:
      - request: GET /api/health
regression:
  budgets:
    - select: GET /api/health
      p50: +50%
";

const OPEN: &str = "
version: 1
load: {arrival_rate: 10, run_time: 2s, max_connections: 4}
scenarios:
  Poller:
    tasks:
      - request: GET /api/health
";

fn closed(dir: &TempDir, run_time: &str) -> String {
    dir.write("closed.yaml", &CLOSED.replace("RUNTIME", run_time))
        .display()
        .to_string()
}

/// A shell command that starts the demo backend on `{port}`, leaving `marker` (a file) behind when it
/// was started at all.
fn demo_serve(marker: &Path) -> String {
    format!(
        "touch {} && exec {BIN} serve-demo --port {{port}} --no-base-latency",
        marker.display()
    )
}

#[test]
fn a_duet_with_the_open_model_is_refused_before_any_service_starts() {
    let dir = TempDir::new("app-open-duet");
    let gate = dir.write("open.yaml", OPEN);
    let (head, base) = (dir.join("head-started"), dir.join("base-started"));
    let out = perfgate(
        &[
            "run",
            gate.to_str().unwrap(),
            "--serve",
            &demo_serve(&head),
            "--baseline-serve",
            &demo_serve(&base),
            "-q",
        ],
        None,
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("duet mode needs the closed model"),
        "{}",
        out.stderr
    );
    assert!(
        !head.exists() && !base.exists(),
        "a service was started: {}",
        out.stderr
    );
}

#[test]
fn a_duet_with_different_path_prefixes_is_refused_before_the_targets_are_contacted() {
    let dir = TempDir::new("app-prefix");
    let gate = closed(&dir, "2s");
    // Port 1 refuses connections: had perfgate tried either target, it would exit 3.
    let out = perfgate(
        &[
            "run",
            &gate,
            "--host",
            "http://127.0.0.1:1/v1",
            "--baseline-host",
            "http://127.0.0.1:1/v2",
            "-q",
        ],
        None,
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("same path prefix"), "{}", out.stderr);
    assert!(!out.stderr.contains("cannot reach"), "{}", out.stderr);
}

#[test]
fn only_the_side_whose_service_died_is_reported_as_exited() {
    let dir = TempDir::new("app-exit-side");
    let gate = closed(&dir, "6s");
    let (head_out, base_out) = (dir.join("head.json"), dir.join("base.json"));
    // Head's service stops itself 2 s after it starts; base's lives until perfgate stops it.
    let head = format!("timeout 2 {BIN} serve-demo --port {{port}} --no-base-latency");
    let base = format!("exec {BIN} serve-demo --port {{port}} --no-base-latency");
    let out = perfgate(
        &[
            "run",
            &gate,
            "--serve",
            &head,
            "--baseline-serve",
            &base,
            "-q",
            "--out",
            head_out.to_str().unwrap(),
            "--baseline-out",
            base_out.to_str().unwrap(),
        ],
        None,
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(3), "{}", out.stderr);
    let h = perfgate::metrics::Results::read(&head_out).expect("head results");
    let b = perfgate::metrics::Results::read(&base_out).expect("base results");
    let exited = |r: &perfgate::metrics::Results| r.server.as_ref().and_then(|s| s.exited.clone());
    assert!(
        exited(&h).is_some_and(|e| e.starts_with("the service exited")),
        "{:?}",
        exited(&h)
    );
    assert_eq!(exited(&b), None, "base's service did not exit: {}", out.stderr);
    assert!(
        out.stderr.contains("error: the service exited during the run"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("the base service exited"), "{}", out.stderr);
}

#[test]
fn calibration_with_a_started_service_drives_that_service_and_writes_its_reports() {
    let dir = TempDir::new("app-calibrate");
    // 8 s: the 6 one-second blocks an interval needs, after the ramp-up.
    let gate = closed(&dir, "8s");
    let results = dir.join("r.json");
    let junit = dir.join("j.xml");
    let out = perfgate(
        &[
            "run",
            &gate,
            "--serve",
            &format!("exec {BIN} serve-demo --port {{port}} --no-base-latency"),
            "--calibrate",
            "-q",
            "--out",
            results.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
        None,
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("A/A calibration: two processes"), "{}", out.stdout);
    assert!(out.stdout.contains("recommended budget"), "{}", out.stdout);
    assert!(!out.stderr.contains("127.0.0.1:1"), "{}", out.stderr);
    // Two copies of the service were started: the base side's log exists beside the head's.
    assert_eq!(
        out.stderr.matches("perfgate: starting the ").count(),
        2,
        "{}",
        out.stderr
    );
    let r = perfgate::metrics::Results::read(&results).expect("calibration writes --out");
    assert!(r.total(true).requests > 0);
    assert!(junit.exists(), "calibration writes the other reports too");
}

#[test]
fn calibration_of_two_started_copies_runs_in_rounds_of_fresh_processes() {
    let dir = TempDir::new("app-calibrate-rounds");
    // Two rounds of 4 s each, set in the gate: each round starts a fresh pair of copies.
    let gate = dir.write(
        "rounds.yaml",
        &CLOSED
            .replace("RUNTIME", "8s")
            .replace("regression:\n", "regression:\n  rounds: 2\n"),
    );
    let results = dir.join("r.json");
    let out = perfgate(
        &[
            "run",
            gate.to_str().unwrap(),
            "--serve",
            &format!("exec {BIN} serve-demo --port {{port}} --no-base-latency"),
            "--calibrate",
            "-q",
            "--out",
            results.to_str().unwrap(),
        ],
        None,
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(0), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        out.stderr.matches("perfgate: starting the ").count(),
        4,
        "two rounds, two copies each: {}",
        out.stderr
    );
    assert!(
        out.stdout.contains("2 rounds, each a fresh pair of processes"),
        "{}",
        out.stdout
    );
    let r = perfgate::metrics::Results::read(&results).expect("calibration writes --out");
    assert_eq!(r.load.rounds, 2);
    assert!(
        r.series.iter().any(|p| p.round == 1),
        "the series keep the second round"
    );
}

#[test]
fn a_report_that_cannot_be_written_exits_4_and_the_others_are_written() {
    let dir = TempDir::new("app-report-fails");
    let gate = closed(&dir, "2s");
    let doomed = dir.join("doomed");
    std::fs::create_dir_all(&doomed).unwrap();
    let junit = doomed.join("j.xml");
    let results = dir.join("r.json");
    // The folder exists when perfgate checks the paths; the service removes it before the reports.
    let serve = format!(
        "rm -rf {} && exec {BIN} serve-demo --port {{port}} --no-base-latency",
        doomed.display()
    );
    let out = perfgate(
        &[
            "run",
            &gate,
            "--serve",
            &serve,
            "-q",
            "--junit",
            junit.to_str().unwrap(),
            "--out",
            results.to_str().unwrap(),
        ],
        None,
        Duration::from_secs(60),
    );
    assert_eq!(out.status.code(), Some(4), "{}", out.stderr);
    assert!(out.stderr.contains("cannot write the JUnit"), "{}", out.stderr);
    assert!(
        results.exists(),
        "the results JSON is written although the JUnit is not"
    );
}

#[test]
fn the_service_is_sampled_on_a_thread_of_its_own() {
    let dir = TempDir::new("app-sampler");
    let gate = closed(&dir, "4s");
    let mut child = Command::new(BIN)
        .current_dir(repo_path(""))
        .args([
            "run",
            &gate,
            "--serve",
            &format!("exec {BIN} serve-demo --port {{port}} --no-base-latency"),
            "-q",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let started = Instant::now();
    let mut seen = false;
    while !seen && started.elapsed() < Duration::from_secs(20) && child.try_wait().unwrap().is_none() {
        seen = std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| {
                d.flatten().any(|t| {
                    std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "perfgate-sample")
                })
            })
            .unwrap_or(false);
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = child.wait().unwrap();
    assert!(seen, "no perfgate-sampler thread while the service was loaded");
    // 0, or 3 when a loaded machine made the generator late: either way the run ended by itself.
    assert!(matches!(status.code(), Some(0 | 3)), "{status:?}");
}

#[test]
fn a_signal_during_the_readiness_wait_stops_the_service() {
    let dir = TempDir::new("app-ready-signal");
    let gate = closed(&dir, "2s");
    let marker = format!("{}", 800_000_000 + std::process::id());
    // Never ready: it does not listen. `sleep MARKER` lets the test find it in the process table.
    let serve = format!("exec sleep {marker}");
    let service = format!("sleep {marker}");
    let running = || {
        common::alive_with(&service)
            .into_iter()
            .any(|pid| cmdline(pid).starts_with("sleep "))
    };
    let mut child = Command::new(BIN)
        .current_dir(repo_path(""))
        .args(["run", &gate, "--serve", &serve, "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !running() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(running(), "the service never started");
    // SAFETY: kill(2) on the child's own pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = child.try_wait().unwrap();
    if status.is_none() {
        let _ = child.kill();
    }
    let mut stderr = String::new();
    use std::io::Read;
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    assert_eq!(status.and_then(|s| s.code()), Some(3), "{stderr}");
    assert!(
        stderr.contains("interrupted while the service was starting"),
        "{stderr}"
    );
    let gone = Instant::now() + Duration::from_secs(5);
    while running() && Instant::now() < gone {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!running(), "the service outlived perfgate");
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .unwrap_or_default()
}

#[test]
fn an_rps_budget_is_refused_in_a_duet_before_anything_starts() {
    let dir = TempDir::new("app-rps-duet");
    let gate = dir.write(
        "rps.yaml",
        &CLOSED.replace("RUNTIME", "2s").replace(
            "      p50: +50%",
            "      p50: +50%\n    - select: total\n      rps: -20%",
        ),
    );
    let out = perfgate(
        &[
            "run",
            gate.to_str().unwrap(),
            "--host",
            "http://127.0.0.1:1",
            "--baseline-host",
            "http://127.0.0.1:1",
            "-q",
        ],
        None,
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("rps.yaml:13:7: an `rps` budget cannot judge a duet"),
        "{}",
        out.stderr
    );
}

#[test]
fn on_start_and_on_stop_requests_are_left_out_of_broad_selections_and_the_report_says_so() {
    let dir = TempDir::new("app-lifecycle");
    let out_file = dir.join("r.json");
    let out = perfgate(
        &["demo", "--run-time", "4s", "-q", "--out", out_file.to_str().unwrap()],
        None,
        Duration::from_secs(60),
    );
    assert!(matches!(out.status.code(), Some(0 | 1 | 3)), "{}", out.stderr);
    let r = perfgate::metrics::Results::read(&out_file).expect("results");
    // The results file carries the verdict it got: every check with its outcome and measured value.
    let written = r.verdict.as_ref().expect("the results carry their verdict");
    let checks = written["checks"].as_array().expect("checks");
    assert!(
        !checks.is_empty() && checks.iter().all(|c| c["outcome"].is_string()),
        "{written}"
    );
    let lifecycle: Vec<&str> = r
        .requests
        .iter()
        .filter(|q| q.lifecycle)
        .map(|q| q.name.as_str())
        .collect();
    // gates/prismq.yaml deletes its runs in on_stop and reads the module list in on_start.
    assert!(lifecycle.iter().any(|n| n.starts_with("DELETE ")), "{lifecycle:?}");
    assert!(
        r.requests.iter().any(|q| !q.lifecycle),
        "tasks' requests are not lifecycle"
    );
    assert!(
        out.stdout.contains("note: on_start and on_stop requests (") && out.stdout.contains("DELETE "),
        "{}",
        out.stdout
    );
    // A graded limit: past the soft limit but within the hard one is marginal, and passes.
    let graded = perfgate::gate::Gate::parse(
        "graded.yaml",
        "version: 1\nload: {users: 1, run_time: 1s}\nscenarios:\n  S:\n    tasks: [{request: GET /api/modules}]\ntargets:\n  - select: GET /api/modules\n    avg: < 1us..1h\n    include_ramp_up: true\n",
    )
    .unwrap();
    let v = perfgate::verdict::judge(&graded, &r);
    assert_eq!(
        v.checks[0].outcome,
        perfgate::verdict::Outcome::Marginal,
        "{:?}",
        v.checks[0]
    );
    assert!(
        v.passed() && v.checks[0].message().starts_with("marginal: measured"),
        "{}",
        v.checks[0].message()
    );
    let gate = perfgate::gate::Gate::parse("gates/prismq.yaml", perfgate::app::PRISMQ_GATE).unwrap();
    let v = perfgate::verdict::judge(&gate, &r);
    for c in v.checks.iter().filter(|c| c.subject == "total" || c.subject == "GET") {
        assert!(
            c.requests.iter().all(|n| !lifecycle.contains(&n.as_str())),
            "{}: {:?}",
            c.name,
            c.requests
        );
    }
}

#[test]
fn calibration_against_one_process_asks_for_a_second_one() {
    let dir = TempDir::new("app-calibrate-host");
    let gate = closed(&dir, "2s");
    let out = perfgate(
        &["run", &gate, "--host", "http://127.0.0.1:1", "--calibrate", "-q"],
        None,
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("--calibrate needs two processes of the same build"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_service_that_logs_bytes_that_are_not_utf8_is_not_killed_by_its_log_pump() {
    let dir = TempDir::new("app-binary-log");
    let gate = closed(&dir, "3s");
    let results = dir.join("r.json");
    // One invalid byte before the service starts: a line-based pump stopped there and closed the pipe,
    // and the service died of SIGPIPE on its next line of output.
    let serve =
        format!("printf '\\377\\376 not utf-8\\n' >&2; exec {BIN} serve-demo --port {{port}} --no-base-latency");
    let out = perfgate(
        &[
            "run",
            &gate,
            "--serve",
            &serve,
            "-q",
            "--out",
            results.to_str().unwrap(),
        ],
        None,
        Duration::from_secs(60),
    );
    let r = perfgate::metrics::Results::read(&results).expect("results");
    let server = r.server.expect("the started service is recorded");
    assert_eq!(server.exited, None, "{}", out.stderr);
    let log = std::fs::read(&server.log).expect("the service log");
    assert!(
        log.starts_with(b"\xff\xfe not utf-8\n"),
        "the log keeps the bytes as written"
    );
}
