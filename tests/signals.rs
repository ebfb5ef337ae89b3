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
