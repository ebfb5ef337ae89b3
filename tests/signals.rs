//! SIGTERM and SIGINT stop the load, write every requested report marked interrupted, and exit 3.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a loaded 2-core runner may take to start perfgate and its load; far below the 60 s runs.
const STARTED_WITHIN: Duration = Duration::from_secs(20);

/// Whether process `pid` has installed handlers for SIGINT (2) and SIGTERM (15): bits 1 and 14 of the
/// `SigCgt` mask in `/proc/PID/status`.
fn catches_int_and_term(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << 1) != 0 && mask & (1 << 14) != 0)
}

/// Polls `ready` every 20 ms until it holds; panics naming `what` after [`STARTED_WITHIN`].
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < STARTED_WITHIN, "not {what} within {STARTED_WITHIN:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal_run(signal: &str) {
    let dir = std::env::temp_dir().join(format!("perfgate-signal-{signal}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("r.json");
    let junit = dir.join("j.xml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_perfgate"))
        .args([
            "demo",
            "--run-time",
            "60s",
            "--users",
            "20",
            "--spawn-rate",
            "20",
            "-q",
            "--out",
        ])
        .arg(&out)
        .arg("--junit")
        .arg(&junit)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A signal before the handlers are installed would kill perfgate outright: wait for them, then let
    // the 20 users (spawned at 20/s) send requests for a second.
    wait_until("catching SIGINT and SIGTERM", || catches_int_and_term(child.id()));
    std::thread::sleep(Duration::from_secs(1));
    let sent = Instant::now();
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Bounded wait: the run must end well before its 60 s run time.
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        if sent.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("perfgate did not stop within 20 s of {signal}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    use std::io::Read;
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(code, Some(3), "interrupted runs exit 3; stderr: {stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let results = perfgate::metrics::Results::read(&out).expect("results written despite the interruption");
    assert!(results.interrupted);
    assert!(
        results.load.duration_s < 10.0,
        "stopped early: {}",
        results.load.duration_s
    );
    assert!(results.total(true).requests > 0);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("name=\"interrupted\" value=\"true\""),
        "JUnit marks the run interrupted"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sigterm_stops_the_run_writes_reports_and_exits_3() {
    signal_run("-TERM");
}

#[test]
fn sigint_stops_the_run_writes_reports_and_exits_3() {
    signal_run("-INT");
}

/// A second signal must end perfgate at once: generous for a loaded runner, far below the 30 s grace
/// the first signal waits for.
const SECOND_SIGNAL_EXIT: Duration = Duration::from_secs(5);

#[test]
fn a_second_signal_exits_at_once() {
    // A target that never answers and a long grace period: the first signal waits for the grace,
    // the second must not.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    let hold = std::thread::spawn(move || {
        let mut held = Vec::new();
        listener.set_nonblocking(true).unwrap();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok((s, _)) = listener.accept() {
                held.push(s);
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let dir = std::env::temp_dir().join(format!("perfgate-signal2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let gate = dir.join("g.yaml");
    std::fs::write(
        &gate,
        "version: 1\nload: {users: 3, run_time: 60s, grace: 30s}\ntimeout: 60s\nscenarios: {A: {tasks: [{request: GET /}]}}\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_perfgate"))
        .arg("run")
        .arg(&gate)
        .args(["--host", &format!("http://127.0.0.1:{port}"), "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Each of the 3 users holds a connection (and a request) the target never answers.
    let users = || accepted.load(std::sync::atomic::Ordering::SeqCst) >= 3;
    wait_until("3 users connected", users);
    wait_until("catching SIGINT and SIGTERM", || catches_int_and_term(child.id()));
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first signal waits for in-flight requests (grace 30 s)"
    );
    let sent = Instant::now();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        if sent.elapsed() > SECOND_SIGNAL_EXIT {
            let _ = child.kill();
            panic!("a second signal did not exit at once: still running {SECOND_SIGNAL_EXIT:?} later");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    use std::io::Read;
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("second signal"), "{stderr}");
    drop(hold);
    std::fs::remove_dir_all(&dir).ok();
}
