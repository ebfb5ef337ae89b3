//! SIGTERM and SIGINT stop the load, write every requested report marked interrupted, and exit 3.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    std::thread::sleep(Duration::from_secs(3));
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

#[test]
fn a_second_signal_exits_at_once() {
    // A target that never answers and a long grace period: the first signal waits for the grace,
    // the second must not.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = std::thread::spawn(move || {
        let mut held = Vec::new();
        listener.set_nonblocking(true).unwrap();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok((s, _)) = listener.accept() {
                held.push(s);
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
    std::thread::sleep(Duration::from_secs(2));
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
        if sent.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            panic!("a second signal did not exit at once");
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
