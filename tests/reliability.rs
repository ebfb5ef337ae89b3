//! Issue 15, reliability v2: reports are always written, services never orphaned, and the runner's own
//! limits are never blamed on the service. Every test here failed before its fix (README, reliability).

mod common;

use common::{repo_path, ChildGuard, TempDir};
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_perfgate");

const CLOSED: &str = "
version: 1
load: {users: 4, spawn_rate: 100, run_time: 2s}
scenarios:
  Poller:
    think_time: 20ms..40ms
    tasks:
      - request: GET /api/health
";

/// The demo backend as a started service.
fn demo_serve() -> String {
    format!("exec {BIN} serve-demo --port {{port}} --no-base-latency")
}

/// The write end of a pipe whose read end is already closed: every write to it fails with EPIPE.
fn broken_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills two fresh descriptors, each owned once below.
    let rc = unsafe { libc::pipe(fds.as_mut_ptr()) };
    assert_eq!(rc, 0, "pipe(2) failed");
    // SAFETY: fds[0] and fds[1] are open and owned by nothing else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    Stdio::from(write)
}

/// Runs `perfgate ARGS` with the given stdout and stderr; returns the exit status and what stderr
/// said (empty when it is not piped). Killed after `limit`.
fn run_with(args: &[&str], stdout: Stdio, stderr: Stdio, limit: Duration) -> (Option<i32>, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(repo_path(""))
        .env_remove("PERFGATE_HOST")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    let mut guard = ChildGuard(cmd.spawn().expect("start perfgate"));
    let err = guard.0.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = e.read_to_string(&mut s);
            s
        })
    });
    let started = Instant::now();
    let status = loop {
        if let Some(s) = guard.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            started.elapsed() < limit,
            "perfgate {} did not finish within {limit:?}",
            args.join(" ")
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = err.map(|h| h.join().unwrap_or_default()).unwrap_or_default();
    (status.code(), stderr)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

// ---------------------------------------------------------------------------------------------
// 1. A closed standard output loses nothing
// ---------------------------------------------------------------------------------------------

/// `perfgate run ... | true`: before, the first print panicked (exit 101) before any report was written.
#[test]
fn a_closed_stdout_loses_no_report_and_keeps_the_runs_exit_code() {
    let dir = TempDir::new("rel-epipe-run");
    let gate = dir.write("g.yaml", CLOSED);
    let (out, junit, summary) = (dir.join("r.json"), dir.join("j.xml"), dir.join("s.md"));
    let serve = demo_serve();
    let args = [
        "run",
        s(&gate),
        "--serve",
        &serve,
        "-q",
        "--out",
        s(&out),
        "--junit",
        s(&junit),
        "--summary",
        s(&summary),
    ];
    let (code, stderr) = run_with(&args, broken_pipe(), Stdio::piped(), Duration::from_secs(60));
    assert!(!stderr.contains("panicked"), "{stderr}");
    // 0, or 3 when a loaded machine made the generator late: the run's own code either way.
    assert!(matches!(code, Some(0 | 3)), "exit {code:?}: {stderr}");
    perfgate::metrics::Results::read(&out).expect("the results JSON is written");
    assert!(junit.exists() && summary.exists(), "every report is written: {stderr}");
}

/// `perfgate run ... 2>&1 | true`: stderr closed as well.
#[test]
fn closed_stdout_and_stderr_lose_no_report() {
    let dir = TempDir::new("rel-epipe-both");
    let gate = dir.write("g.yaml", CLOSED);
    let (out, junit) = (dir.join("r.json"), dir.join("j.xml"));
    let serve = demo_serve();
    let args = [
        "run",
        s(&gate),
        "--serve",
        &serve,
        "--out",
        s(&out),
        "--junit",
        s(&junit),
    ];
    let (code, _) = run_with(&args, broken_pipe(), broken_pipe(), Duration::from_secs(60));
    assert!(matches!(code, Some(0 | 3)), "exit {code:?}");
    perfgate::metrics::Results::read(&out).expect("the results JSON is written");
    assert!(junit.exists(), "the JUnit report is written");
}

/// `perfgate validate G | true` and `perfgate schema | true` succeed quietly instead of panicking.
#[test]
fn validate_and_schema_ignore_a_closed_stdout() {
    let dir = TempDir::new("rel-epipe-validate");
    let gate = dir.write("g.yaml", CLOSED);
    for args in [vec!["validate", s(&gate)], vec!["schema"]] {
        let (code, stderr) = run_with(&args, broken_pipe(), Stdio::piped(), Duration::from_secs(20));
        assert_eq!(code, Some(0), "perfgate {}: {stderr}", args.join(" "));
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
