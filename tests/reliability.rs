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
    run_in(&repo_path(""), args, stdout, stderr, limit)
}

/// [`run_with`] in folder `dir`.
fn run_in(dir: &Path, args: &[&str], stdout: Stdio, stderr: Stdio, limit: Duration) -> (Option<i32>, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
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

// ---------------------------------------------------------------------------------------------
// 2. Report paths that are not regular files
// ---------------------------------------------------------------------------------------------

/// Runs `perfgate ARGS` in `dir`, capturing both streams.
fn run_captured(dir: &Path, args: &[&str]) -> common::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env_remove("PERFGATE_HOST")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut guard = ChildGuard(cmd.spawn().expect("start perfgate"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = r.read_to_end(&mut b);
            String::from_utf8_lossy(&b).into_owned()
        })
    };
    let out = drain(Box::new(guard.0.stdout.take().expect("stdout")));
    let err = drain(Box::new(guard.0.stderr.take().expect("stderr")));
    let status = loop {
        if let Some(s) = guard.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "perfgate {} hung",
            args.join(" ")
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    common::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        elapsed: started.elapsed(),
    }
}

fn make_fifo(p: &Path) {
    let c = std::ffi::CString::new(s(p)).unwrap();
    // SAFETY: mkfifo(3) on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", p.display());
}

/// `-` is standard output (the table moves to stderr), a FIFO is written into (not replaced), and a
/// symbolic link stays a link with its target written. Before: a file named `-`, a FIFO and a link
/// replaced by regular files.
#[test]
fn stdout_fifo_and_symlink_report_paths_are_written_in_place() {
    use std::os::unix::fs::FileTypeExt;
    let dir = TempDir::new("rel-special-paths");
    let gate = dir.write("g.yaml", CLOSED);
    let fifo = dir.join("junit.fifo");
    make_fifo(&fifo);
    let target = dir.join("target.md");
    let link = dir.join("link.md");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    // The FIFO's reader: whatever perfgate writes into it.
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(&fifo).unwrap_or_default())
    };
    let serve = demo_serve();
    let out = run_captured(
        &dir.0,
        &[
            "run",
            s(&gate),
            "--serve",
            &serve,
            "-q",
            "--out",
            "-",
            "--junit",
            s(&fifo),
            "--summary",
            s(&link),
        ],
    );
    // Unblock the reader if perfgate never opened the FIFO.
    if !fifo.exists() || !std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo() {
        let _ = std::fs::OpenOptions::new().write(true).open(&fifo);
    }
    let code = out.status.code();
    assert!(matches!(code, Some(0 | 3)), "exit {code:?}: {}", out.stderr);
    assert!(!dir.join("-").exists(), "`-` is standard output, not a file named `-`");
    let results: perfgate::metrics::Results = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is the results JSON ({e}):\n{}", out.both()));
    assert!(results.total(true).requests > 0);
    assert!(
        out.stderr.contains("Verdict:"),
        "the terminal table goes to stderr: {}",
        out.stderr
    );
    let ft = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(ft.is_fifo(), "the FIFO is still a FIFO");
    let xml = reader.join().unwrap();
    assert!(xml.contains("<testsuites"), "the JUnit went through the FIFO: {xml:?}");
    assert!(
        std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(),
        "the link is still a link"
    );
    let md = std::fs::read_to_string(&target).expect("the link's target is written");
    assert!(md.contains("perfgate"), "{md}");
}

/// A device that is full (`/dev/full`, or a private node of it) is a report that could not be written:
/// exit 4 naming it, the device left a device, the other reports written. Before: exit 0 and the
/// device replaced by a regular file.
#[test]
fn a_full_device_is_a_report_failure_and_stays_a_device() {
    use std::os::unix::fs::FileTypeExt;
    let dir = TempDir::new("rel-dev-full");
    let gate = dir.write("g.yaml", CLOSED);
    // A private node of /dev/full (char 1:7) when allowed, so a regression cannot replace the real one.
    let node = dir.join("full");
    let c = std::ffi::CString::new(s(&node)).unwrap();
    // SAFETY: mknod(2) on a NUL-terminated path.
    let made = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 7)) } == 0;
    let full = if made {
        node
    } else {
        Path::new("/dev/full").to_path_buf()
    };
    let junit = dir.join("j.xml");
    let serve = demo_serve();
    let out = run_captured(
        &dir.0,
        &[
            "run",
            s(&gate),
            "--serve",
            &serve,
            "-q",
            "--out",
            s(&full),
            "--junit",
            s(&junit),
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", out.both());
    assert!(out.stderr.contains("cannot write the results JSON"), "{}", out.stderr);
    assert!(out.stderr.contains("No space left on device"), "{}", out.stderr);
    assert!(
        std::fs::symlink_metadata(&full).unwrap().file_type().is_char_device(),
        "{} is still a device",
        full.display()
    );
    assert!(junit.exists(), "the other reports are written");
}

// ---------------------------------------------------------------------------------------------
// 3. The generator's own descriptor limit is not blamed on the service
// ---------------------------------------------------------------------------------------------

/// 200 users, each holding a keep-alive connection; the error-rate target is what a service is judged by.
const MANY_USERS: &str = "
version: 1
load: {users: 200, run_time: 2s}
scenarios:
  Poller:
    think_time: 20ms..40ms
    tasks:
      - request: GET /
targets:
  - select: total
    error_rate: < 1%
";

/// Runs `perfgate run` against `host` with RLIMIT_NOFILE set to (`soft`, `hard`) in the child.
fn run_with_nofile(dir: &TempDir, host: &str, soft: u64, hard: u64) -> (common::Output, std::path::PathBuf) {
    use std::os::unix::process::CommandExt;
    let gate = dir.write("g.yaml", MANY_USERS);
    let results = dir.join("r.json");
    let mut cmd = Command::new(BIN);
    cmd.args(["run", s(&gate), "--host", host, "-q", "--out", s(&results)])
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit(2) is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let out = cmd.output().expect("run perfgate");
    let out = common::Output {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    };
    (out, results)
}

fn current_nofile() -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) fills the struct.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    (lim.rlim_cur, lim.rlim_max)
}

async fn ok_server() -> common::TestServer {
    common::TestServer::start(axum::Router::new().route("/", axum::routing::get(|| async { "ok" }))).await
}

/// Out of descriptors for good (hard limit 64, 200 users): before, 3/4 of the requests failed as
/// "connect" and the error-rate target failed the service (exit 1); now the run is untrusted (exit 3)
/// and says which limit and what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_out_of_descriptors_is_an_untrusted_run_naming_the_limit() {
    let server = ok_server().await;
    let url = server.url();
    let (out, results, _dir) = tokio::task::spawn_blocking(move || {
        let dir = TempDir::new("rel-nofile-hard");
        let (out, results) = run_with_nofile(&dir, &url, 64, 64);
        (out, results, dir)
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", out.both());
    assert!(out.stderr.contains("ran out of file descriptors"), "{}", out.stderr);
    assert!(
        out.stderr.contains("open files limit 64"),
        "names the limit: {}",
        out.stderr
    );
    assert!(out.stderr.contains("ulimit -n"), "says the fix: {}", out.stderr);
    let r = perfgate::metrics::Results::read(&results).expect("results written");
    assert!(r.load.generator.local_faults > 0);
    assert!(r.load.generator.untrusted.is_some());
}

/// The service perfgate starts keeps the limit perfgate was given, not the one it raised for itself.
#[test]
fn a_started_service_keeps_the_original_descriptor_limit() {
    use std::os::unix::process::CommandExt;
    let (_, hard) = current_nofile();
    if hard <= 256 {
        eprintln!("skipped: the hard RLIMIT_NOFILE here is {hard}");
        return;
    }
    let dir = TempDir::new("rel-nofile-service");
    let gate = dir.write("g.yaml", &CLOSED.replace("run_time: 2s", "run_time: 1s"));
    let seen = dir.join("limit.txt");
    let serve = format!("ulimit -Sn > {} && {}", s(&seen), demo_serve());
    let mut cmd = Command::new(BIN);
    cmd.args(["run", s(&gate), "--serve", &serve, "-q"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit(2) is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: 256,
                rlim_max: hard,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().expect("run perfgate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(0 | 3)), "{stderr}");
    let limit = std::fs::read_to_string(&seen).expect("the service ran");
    assert_eq!(limit.trim(), "256", "{stderr}");
}

/// A low soft limit under a higher hard one (`ulimit -Sn 64`) is raised at start: the same 200 users
/// connect without a failure. Before: most of them failed to connect (EMFILE).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_soft_descriptor_limit_is_raised_to_the_hard_one() {
    let (_, hard) = current_nofile();
    if hard < 1024 {
        eprintln!("skipped: the hard RLIMIT_NOFILE here is {hard}");
        return;
    }
    let server = ok_server().await;
    let url = server.url();
    let (out, results, _dir) = tokio::task::spawn_blocking(move || {
        let dir = TempDir::new("rel-nofile-soft");
        let (out, results) = run_with_nofile(&dir, &url, 64, hard);
        (out, results, dir)
    })
    .await
    .unwrap();
    let r = perfgate::metrics::Results::read(&results).unwrap_or_else(|e| panic!("{e}\n{}", out.both()));
    let total = r.total(true);
    assert!(total.requests > 200, "{}", out.both());
    assert_eq!(total.failures, 0, "{}", out.both());
}

// ---------------------------------------------------------------------------------------------
// 4. No started service outlives perfgate: signals at every phase, a second signal, an unreachable base
// ---------------------------------------------------------------------------------------------

/// The phase of a run a signal arrives in.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// As soon as perfgate catches signals: the service is being (or not yet) started.
    Starting,
    /// The service runs but never becomes ready.
    Readiness,
    /// The load is running against a ready service.
    Steady,
    /// The run is over, its reports written, and the PR comment waits on a GitHub API that never
    /// answers.
    Comment,
}

/// A GitHub API that accepts connections and never answers: its base URL and the connections it took.
fn stalled_github() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = n.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming().flatten() {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(c);
        }
    });
    (url, n)
}

/// A number no other process carries in its command line.
fn marker(case: usize) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}",
        700_000_000 + std::process::id() as usize * 1000 + case * 10 + n % 10
    )
}

/// Whether `pid` catches SIGINT, SIGTERM, SIGHUP and SIGQUIT (the `SigCgt` mask in /proc/PID/status).
fn catches_stop_signals(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let bits = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT]
        .iter()
        .fold(0u64, |m, s| m | 1 << (s - 1));
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & bits == bits)
}

/// Polls `ok` every 20 ms for at most `limit`; whether it came true.
fn eventually(limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if ok() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `perfgate run --serve` (a service carrying a unique marker), sends `signals` at `phase`,
/// and says what went wrong: an exit other than 3, or a process carrying the marker left behind.
fn signal_case(dir: &TempDir, phase: Phase, signals: &[i32], case: usize) -> Option<String> {
    use std::io::BufRead;
    let mark = marker(case);
    let run_time = if matches!(phase, Phase::Comment) { "1s" } else { "60s" };
    let gate = dir.write(
        &format!("g{case}.yaml"),
        &CLOSED.replace("run_time: 2s", &format!("run_time: {run_time}")),
    );
    let serve = match phase {
        // Never ready: nothing listens; `sleep MARKER` is easy to find.
        Phase::Readiness => format!("exec sleep {mark}"),
        Phase::Starting | Phase::Steady | Phase::Comment => {
            format!("exec {BIN} serve-demo --port {{port}} --no-base-latency --demo-seed {mark}")
        }
    };
    let mut cmd = Command::new(BIN);
    cmd.args(["run", s(&gate), "--serve", &serve])
        .current_dir(&dir.0)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("PERFGATE_PUBLISH_TIMEOUT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut api_calls = None;
    if matches!(phase, Phase::Comment) {
        let (api, calls) = stalled_github();
        let event = dir.write(
            &format!("event{case}.json"),
            r#"{"pull_request": {"number": 7, "head": {"sha": "abc"}}}"#,
        );
        cmd.arg("--comment")
            .env("GITHUB_TOKEN", "t0ken")
            .env("GITHUB_REPOSITORY", "octo/shop")
            .env("GITHUB_API_URL", &api)
            .env("GITHUB_EVENT_NAME", "pull_request")
            .env("GITHUB_EVENT_PATH", &event)
            .env("PERFGATE_COMMENT_AUTHOR", "perfgate-bot");
        api_calls = Some(calls);
    }
    let mut child = ChildGuard(cmd.spawn().expect("start perfgate"));
    let pid = child.0.id();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.0.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let limit = Duration::from_secs(20);
    let reached = match phase {
        Phase::Starting => eventually(limit, || catches_stop_signals(pid)),
        Phase::Readiness => {
            eventually(limit, || catches_stop_signals(pid))
                && eventually(limit, || !common::alive_with(&mark).is_empty())
        }
        Phase::Steady => {
            let deadline = Instant::now() + limit;
            let mut loading = false;
            while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                // Printed once the targets answered, just before the load starts.
                if line.starts_with("perfgate: ") && line.contains(" against ") {
                    loading = true;
                    break;
                }
            }
            // Let the users send for a moment.
            std::thread::sleep(Duration::from_millis(300));
            loading
        }
        Phase::Comment => {
            let calls = api_calls.clone().expect("a stalled API");
            eventually(Duration::from_secs(30), || {
                calls.load(std::sync::atomic::Ordering::SeqCst) > 0
            })
        }
    };
    let service_ran = !common::alive_with(&mark).is_empty();
    if !reached || (!service_ran && matches!(phase, Phase::Readiness | Phase::Steady)) {
        return Some(format!("{phase:?} {signals:?}: the phase was never reached"));
    }
    for (i, sig) in signals.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(100));
        }
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(pid as i32, *sig);
        }
    }
    let mut wrong = Vec::new();
    if !eventually(Duration::from_secs(30), || child.0.try_wait().ok().flatten().is_some()) {
        wrong.push("perfgate did not stop within 30 s".to_string());
    }
    let status = child.0.try_wait().ok().flatten();
    let code = status.and_then(|s| s.code());
    // After the comment phase's signal the verdict was reached: a signal only ends publishing (a
    // second one, if perfgate is still there, exits 3 at once).
    let expected: &[i32] = if matches!(phase, Phase::Comment) { &[0, 3] } else { &[3] };
    if !code.is_some_and(|c| expected.contains(&c)) {
        wrong.push(format!("exit {status:?}, expected one of {expected:?}"));
    }
    // The services are killed before perfgate exits; the kernel may take a moment to reap them.
    if !eventually(Duration::from_secs(5), || common::alive_with(&mark).is_empty()) {
        let left = common::alive_with(&mark);
        for p in &left {
            // SAFETY: kill(2) of a leftover of this test.
            unsafe {
                libc::kill(*p as i32, libc::SIGKILL);
            }
        }
        wrong.push(format!("orphaned processes {left:?}"));
    }
    drop(child);
    let stderr = reader.join().unwrap_or_default();
    (!wrong.is_empty()).then(|| format!("{phase:?} {signals:?}: {}\n{stderr}", wrong.join("; ")))
}

/// Every stop signal once, and a second signal, at one phase: the run exits 3 and leaves no process.
fn signal_matrix(phase: Phase) {
    let dir = TempDir::new(&format!("rel-orphans-{phase:?}"));
    let cases: Vec<Vec<i32>> = vec![
        vec![libc::SIGINT],
        vec![libc::SIGTERM],
        vec![libc::SIGHUP],
        vec![libc::SIGQUIT],
        vec![libc::SIGTERM, libc::SIGINT],
    ];
    let wrong: Vec<String> = cases
        .iter()
        .enumerate()
        .filter_map(|(i, sigs)| signal_case(&dir, phase, sigs, i))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} cases:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n\n")
    );
}

#[test]
fn no_orphan_after_a_signal_while_the_service_starts() {
    signal_matrix(Phase::Starting);
}

#[test]
fn no_orphan_after_a_signal_during_the_readiness_wait() {
    signal_matrix(Phase::Readiness);
}

#[test]
fn no_orphan_after_a_signal_during_the_load() {
    signal_matrix(Phase::Steady);
}

/// Before: the run's handlers ignored the signal and the comment held the process about 3 minutes.
#[test]
fn no_orphan_and_no_wait_after_a_signal_while_the_comment_is_posted() {
    signal_matrix(Phase::Comment);
}

/// `--serve` with a `--baseline-host` that does not answer: exit 3, and the started service is stopped.
#[test]
fn no_orphan_when_the_baseline_host_is_unreachable() {
    let dir = TempDir::new("rel-orphan-base-host");
    let mark = marker(9);
    let gate = dir.write("g.yaml", CLOSED);
    let serve = format!("exec {BIN} serve-demo --port {{port}} --no-base-latency --demo-seed {mark}");
    let base = format!("http://127.0.0.1:{}", common::free_port());
    let out = run_captured(
        &dir.0,
        &["run", s(&gate), "--serve", &serve, "--baseline-host", &base, "-q"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", out.both());
    assert!(
        out.stderr.contains(&base),
        "names the base it could not reach: {}",
        out.stderr
    );
    assert!(
        eventually(Duration::from_secs(5), || common::alive_with(&mark).is_empty()),
        "the started service outlived perfgate: {:?}",
        common::alive_with(&mark)
    );
}

// ---------------------------------------------------------------------------------------------
// #10. --host: credentials and queries refused without being printed, strict ports, IPv6, any-case scheme
// ---------------------------------------------------------------------------------------------

/// Before: `http://user:s3cr3t@...` printed the password and exited 3; `?api_key=` was glued in front
/// of every path; `:+18000` and `http://::1:8080` made invalid Host headers; `HTTP://` was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_urls_never_leak_credentials_and_are_parsed_strictly() {
    let server = ok_server().await;
    let dir = TempDir::new("rel-host-urls");
    let gate = dir.write(
        "g.yaml",
        &CLOSED
            .replace("run_time: 2s", "run_time: 1s")
            .replace("/api/health", "/"),
    );
    let port = server.addr.port();
    let bad = [
        (format!("http://user:s3cr3t@127.0.0.1:{port}"), "credentials"),
        (format!("http://127.0.0.1:{port}/?api_key=s3cr3t"), "query"),
        (format!("http://127.0.0.1:+{port}"), "is not a port"),
        (format!("http://::1:{port}"), "IPv6 address goes in brackets"),
        // Before: blamed on `request GET /` ("invalid path"), or "cannot reach" (exit 3).
        (
            format!("http://127.0.0.1:{port}/a b"),
            "the path prefix `/a b` holds ` `",
        ),
        (
            format!("http://exa mple:{port}"),
            "`exa mple` is not a host name or address",
        ),
    ];
    for (host, says) in bad {
        let g = gate.clone();
        let out = tokio::task::spawn_blocking(move || {
            common::perfgate(&["run", s(&g), "--host", &host, "-q"], None, Duration::from_secs(20))
        })
        .await
        .unwrap();
        assert_eq!(out.status.code(), Some(2), "{says}: {}", out.both());
        assert!(out.stderr.contains(says), "{says}: {}", out.stderr);
        assert!(!out.both().contains("s3cr3t"), "a secret was printed: {}", out.both());
    }
    let upper = format!("HTTP://127.0.0.1:{port}");
    let out = tokio::task::spawn_blocking(move || {
        common::perfgate(
            &["run", s(&gate), "--host", &upper, "-q"],
            None,
            Duration::from_secs(30),
        )
    })
    .await
    .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "HTTP:// works: {}",
        out.both()
    );
}

// ---------------------------------------------------------------------------------------------
// #12. Read failures keep their reason
// ---------------------------------------------------------------------------------------------

/// A server whose every answer has a Content-Length that is not a number.
async fn bad_length_server() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut c, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n").await;
            });
        }
    });
    addr
}

/// Before: every such failure read "connection broken while reading the answer" in the terminal and
/// the failures CSV, and the results JSON kept only the kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_failures_keep_their_reason_in_results_terminal_and_csv() {
    let addr = bad_length_server().await;
    let (out, results, csv, _dir) = tokio::task::spawn_blocking(move || {
        let dir = TempDir::new("rel-reasons");
        let gate = dir.write(
            "g.yaml",
            &CLOSED
                .replace("run_time: 2s", "run_time: 1s")
                .replace("/api/health", "/"),
        );
        let (results, csv) = (dir.join("r.json"), dir.join("loc"));
        let out = common::perfgate(
            &[
                "run",
                s(&gate),
                "--host",
                &format!("http://{addr}"),
                "--out",
                s(&results),
                "--csv",
                s(&csv),
            ],
            None,
            Duration::from_secs(30),
        );
        (out, results, dir.join("loc_failures.csv"), dir)
    })
    .await
    .unwrap();
    let reason = "invalid HTTP response: bad content-length `abc`";
    let r = perfgate::metrics::Results::read(&results).unwrap_or_else(|e| panic!("{e}\n{}", out.both()));
    let s = common::stats(&r, "GET /");
    assert!(s.failures > 0, "{}", out.both());
    let kept: u64 = s
        .failure_reasons
        .iter()
        .filter(|x| x.reason == reason)
        .map(|x| x.count)
        .sum();
    assert_eq!(
        kept, s.failures,
        "every failure keeps its reason: {:?}",
        s.failure_reasons
    );
    assert!(out.stdout.contains(reason), "the terminal shows it: {}", out.stdout);
    let csv = std::fs::read_to_string(&csv).expect("failures CSV");
    assert!(csv.contains(reason), "the failures CSV shows it: {csv}");
}

// ---------------------------------------------------------------------------------------------
// #13. Abandoned requests are shown, not only kept in the results JSON
// ---------------------------------------------------------------------------------------------

/// Three users whose requests a server never answers: at the end of the grace period all three are
/// abandoned. Before: only `load.abandoned_requests` in the results JSON said so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_requests_show_in_every_report_and_a_target_judges_them() {
    let server = common::HangServer::start().await;
    let url = server.url();
    let (out, dir) = tokio::task::spawn_blocking(move || {
        let dir = TempDir::new("rel-abandoned");
        let gate = dir.write(
            "g.yaml",
            "version: 1\nload: {users: 3, run_time: 1s, grace: 1s}\ntimeout: 60s\nscenarios: {A: {tasks: [{request: GET /}]}}\ntargets:\n  - {select: total, abandoned: < 1%}\n",
        );
        let out = common::perfgate(
            &[
                "run",
                s(&gate),
                "--host",
                &url,
                "--junit",
                s(&dir.join("j.xml")),
                "--summary",
                s(&dir.join("s.md")),
                "--html",
                s(&dir.join("r.html")),
            ],
            None,
            Duration::from_secs(30),
        );
        (out, dir)
    })
    .await
    .unwrap();
    let says = "abandoned: 3 requests";
    assert!(out.stdout.contains(says), "terminal: {}", out.both());
    // A target judges them: 3 of 3 sent.
    assert_eq!(out.status.code(), Some(1), "{}", out.both());
    assert!(
        out.stdout.contains("FAIL    total: abandoned < 1%: measured 100%"),
        "{}",
        out.stdout
    );
    for f in ["s.md", "r.html", "j.xml"] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
        assert!(text.contains(says), "{f}: {text}");
    }
    let xml = std::fs::read_to_string(dir.join("j.xml")).unwrap();
    assert!(xml.contains("name=\"abandoned_requests\" value=\"3\""), "{xml}");
}

// ---------------------------------------------------------------------------------------------
// #14. A hung service's timeouts are not the generator's lateness
// ---------------------------------------------------------------------------------------------

/// A hung service: a listener with a backlog of 1 that accepts connections and never answers (nor
/// reads); every request times out.
fn hung_listener() -> (tokio::task::JoinHandle<()>, String) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let l = socket.listen(1).unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = l.accept().await {
            held.push(c);
        }
    });
    (task, url)
}

/// 2000 users all time out together (the service is hung), think briefly and wake together: the
/// herd makes their next sends late. Before: exit 3 ("the load generator could not hold its plan"),
/// 3 of 3 runs on a 2-core runner; now the lateness after unanswered requests is set apart and the
/// dead service fails the gate (exit 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_service_fails_the_gate_instead_of_making_the_run_untrusted() {
    let (server, url) = hung_listener();
    let (out, results, _dir) = tokio::task::spawn_blocking(move || {
        let dir = TempDir::new("rel-hung");
        let gate = dir.write(
            "g.yaml",
            "version: 1\nload: {users: 2000, run_time: 4s}\ntimeout: 500ms\nscenarios:\n  A:\n    think_time: 50ms..100ms\n    tasks:\n      - request: GET /\ntargets:\n  - select: total\n    error_rate: < 1%\n",
        );
        let results = dir.join("r.json");
        let out = common::perfgate(
            &["run", s(&gate), "--host", &url, "-q", "--out", s(&results)],
            None,
            Duration::from_secs(60),
        );
        (out, results, dir)
    })
    .await
    .unwrap();
    server.abort();
    assert_eq!(out.status.code(), Some(1), "{}", out.both());
    let r = perfgate::metrics::Results::read(&results).unwrap();
    assert!(r.load.generator.untrusted.is_none());
    assert_eq!(r.total(true).failures, r.total(true).requests);
}

/// The service's log goes beside the results file only when that is a file in a folder of files:
/// with `--out /dev/null` it goes to the temp folder. Before: `/dev/perfgate-service-PID.log`
/// (litter in /dev as root, "cannot create the service log" and exit 3 otherwise).
#[test]
fn the_service_log_never_goes_beside_a_device() {
    let dir = TempDir::new("rel-log-beside-device");
    let gate = dir.write("g.yaml", &CLOSED.replace("run_time: 2s", "run_time: 1s"));
    let serve = demo_serve();
    let out = run_captured(
        &dir.0,
        &["run", s(&gate), "--serve", &serve, "-q", "--out", "/dev/null"],
    );
    assert!(matches!(out.status.code(), Some(0 | 3)), "{}", out.both());
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("starting the service"))
        .unwrap_or_else(|| panic!("{}", out.stderr));
    assert!(!line.contains("(output: /dev/"), "{line}");
}

/// `--out r.json` (a bare file name) puts the service log beside it in the working directory, as
/// `--out DIR/r.json` puts it in DIR. Before: a bare name's empty folder sent it to the temp folder.
#[test]
fn the_service_log_goes_beside_results_given_by_a_bare_name() {
    let dir = TempDir::new("rel-log-bare-name");
    let gate = dir.write("g.yaml", &CLOSED.replace("run_time: 2s", "run_time: 1s"));
    let serve = demo_serve();
    let out = run_captured(&dir.0, &["run", s(&gate), "--serve", &serve, "-q", "--out", "r.json"]);
    assert!(matches!(out.status.code(), Some(0 | 3)), "{}", out.both());
    let logs: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("perfgate-service-") && n.ends_with(".log"))
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}\n{}", out.both());
}

/// A literal non-ASCII path is sent percent-encoded (UTF-8), as a variable's value is. Before: the raw
/// bytes went into the request line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_literal_non_ascii_path_is_percent_encoded() {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |u: axum::http::Uri| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push(u.path().to_string());
            "ok"
        }
    });
    let server = common::TestServer::start(app).await;
    let url = server.url();
    let out = tokio::task::spawn_blocking(move || {
        let dir = TempDir::new("rel-non-ascii");
        let gate = dir.write(
            "g.yaml",
            "version: 1\nload: {users: 1, run_time: 1s}\nscenarios:\n  A:\n    think_time: 100ms\n    tasks:\n      - request: GET /café\n",
        );
        common::perfgate(&["run", s(&gate), "--host", &url, "-q"], None, Duration::from_secs(30))
    })
    .await
    .unwrap();
    let paths = seen.lock().unwrap().clone();
    assert!(!paths.is_empty(), "nothing arrived: {}", out.both());
    assert!(paths.iter().all(|p| p == "/caf%C3%A9"), "{paths:?}");
    assert!(!out.stdout.contains("failed"), "{}", out.stdout);
}

/// `run_time: 0.000000001s` ran 1 ms and a `rps` target judged 24 requests as 24,000 req/s; a rate
/// over less than a second is now no data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_over_less_than_a_second_is_no_data() {
    let server = ok_server().await;
    let url = server.url();
    let out = tokio::task::spawn_blocking(move || {
        let dir = TempDir::new("rel-tiny-run");
        let gate = dir.write(
            "g.yaml",
            "version: 1\nload: {users: 2, run_time: 0.000000001s}\nscenarios: {A: {tasks: [{request: GET /}]}}\ntargets:\n  - {select: total, rps: < 100}\n",
        );
        common::perfgate(&["run", s(&gate), "--host", &url, "-q"], None, Duration::from_secs(30))
    })
    .await
    .unwrap();
    assert!(
        out.stdout.contains("a request rate needs at least 1 s"),
        "{}",
        out.both()
    );
}

/// A gate's `Host` header names a virtual host and is sent (before: silently replaced by the
/// target's, so virtual hosts could not be tested).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_host_header_is_sent() {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |h: axum::http::HeaderMap| {
        let log = log.clone();
        async move {
            let host: Vec<String> = h
                .get_all("host")
                .iter()
                .map(|v| v.to_str().unwrap_or("?").to_string())
                .collect();
            log.lock().unwrap().push(host.join(","));
            "ok"
        }
    });
    let server = common::TestServer::start(app).await;
    let url = server.url();
    let out = tokio::task::spawn_blocking(move || {
        let dir = TempDir::new("rel-vhost");
        let gate = dir.write(
            "g.yaml",
            "version: 1\nheaders: {Host: shop.example.test}\nload: {users: 1, run_time: 1s}\nscenarios:\n  A:\n    think_time: 100ms\n    tasks:\n      - request: GET /\n",
        );
        common::perfgate(&["run", s(&gate), "--host", &url, "-q"], None, Duration::from_secs(30))
    })
    .await
    .unwrap();
    let hosts = seen.lock().unwrap().clone();
    assert!(!hosts.is_empty(), "nothing arrived: {}", out.both());
    assert!(hosts.iter().all(|h| h == "shop.example.test"), "{hosts:?}");
}

/// `perfgate validate -` reads the gate from standard input (before: "No such file or directory").
#[test]
fn a_gate_on_standard_input() {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(["validate", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(CLOSED.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{o}{e}");
    assert!(o.contains("<stdin>: valid gate"), "{o}");
}

/// Extract and check failures say why (before: no reason, an HTML or gzip answer looked like any
/// other): not JSON (HTML, gzip), a value missing, a value other than expected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extract_and_check_failures_say_why() {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/html", get(|| async { "<html>login</html>" }))
        .route(
            "/gzip",
            get(|| async { axum::body::Bytes::from_static(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0]) }),
        )
        .route("/json", get(|| async { r#"{"state": "queued"}"# }));
    let server = common::TestServer::start(app).await;
    let url = server.url();
    let (out, results, _dir) = tokio::task::spawn_blocking(move || {
        let dir = TempDir::new("rel-extract-reasons");
        let gate = dir.write(
            "g.yaml",
            r#"version: 1
load: {users: 1, run_time: 1s}
scenarios:
  A:
    think_time: 50ms
    tasks:
      - request: {path: /html, extract: {id: $.id}}
      - request: {path: /gzip, extract: {id: $.id}}
      - request: {path: /json, extract: {id: $.id}}
      - request: {path: /json, name: state, expect: {json: {$.state: done}}}
"#,
        );
        let results = dir.join("r.json");
        let out = common::perfgate(
            // A fixed seed: the task sequence is the same every run, and it picks every task early in
            // its ~20 runs (a random seed left a task out about one run in 300).
            &[
                "run",
                s(&gate),
                "--host",
                &url,
                "-q",
                "--seed",
                "3",
                "--out",
                s(&results),
            ],
            None,
            Duration::from_secs(30),
        );
        (out, results, dir)
    })
    .await
    .unwrap();
    let r = perfgate::metrics::Results::read(&results).unwrap_or_else(|e| panic!("{e}\n{}", out.both()));
    let reasons = |name: &str| -> Vec<String> {
        common::stats(&r, name)
            .failure_reasons
            .iter()
            .map(|x| x.reason.clone())
            .collect()
    };
    assert_eq!(
        reasons("GET /html"),
        ["the answer is HTML or XML, not JSON"],
        "{}",
        out.stdout
    );
    assert!(
        reasons("GET /gzip")[0].contains("gzip-compressed"),
        "{:?}",
        reasons("GET /gzip")
    );
    assert_eq!(reasons("GET /json"), ["`$.id` is missing from the answer"]);
    assert_eq!(reasons("state"), [r#"`$.state` is "queued", expected "done""#]);
}

/// Arrivals still queued when the run stops are not task runs (before: a user that took one after the
/// stop counted a run whose request was never sent, so runs exceeded requests).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_arrivals_after_the_stop_are_not_counted_as_task_runs() {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            "ok"
        }),
    );
    let server = common::TestServer::start(app).await;
    let url = server.url();
    let (out, results, _dir) = tokio::task::spawn_blocking(move || {
        let dir = TempDir::new("rel-arrivals-after-stop");
        let gate = dir.write(
            "g.yaml",
            "version: 1\nload: {arrival_rate: 400, run_time: 2s, max_connections: 8}\nscenarios:\n  A:\n    tasks:\n      - request: GET /slow\n",
        );
        let results = dir.join("r.json");
        let out = common::perfgate(
            &["run", s(&gate), "--host", &url, "-q", "--out", s(&results)],
            None,
            Duration::from_secs(30),
        );
        (out, results, dir)
    })
    .await
    .unwrap();
    let r = perfgate::metrics::Results::read(&results).unwrap_or_else(|e| panic!("{e}\n{}", out.both()));
    let (runs, _) = common::task(&r, "GET /slow");
    let sent = r.total(true).requests + r.load.abandoned_requests;
    assert_eq!(runs, sent, "every task run sent its one request\n{}", out.stdout);
}

/// A mistake on a 500 KB line shows a short window of it, not the whole line; deep nesting is called
/// deep nesting (before: the whole line echoed, and "alias bombs" blamed for plain nesting).
#[test]
fn diagnostics_stay_short_for_huge_lines_and_name_deep_nesting() {
    let dir = TempDir::new("rel-huge-line");
    let huge = format!("version: 1\nhost: \"{}\" oops\n", "a".repeat(500_000));
    let g = dir.write("huge.yaml", &huge);
    let out = run_captured(&dir.0, &["validate", s(&g)]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        &out.stderr[..out.stderr.len().min(500)]
    );
    assert!(out.stderr.len() < 2_000, "stderr is {} bytes", out.stderr.len());
    let deep = format!(
        "version: 1\nload: {{users: 1, run_time: 1s}}\nscenarios:\n  A:\n    tasks:\n      - request: {{path: /, json: {}{}}}\n",
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    let g = dir.write("deep.yaml", &deep);
    let out = run_captured(&dir.0, &["validate", s(&g)]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        &out.stderr[..out.stderr.len().min(500)]
    );
    assert!(
        out.stderr.contains("nests deeper"),
        "{}",
        &out.stderr[..out.stderr.len().min(500)]
    );
    assert!(
        !out.stderr.contains("alias"),
        "{}",
        &out.stderr[..out.stderr.len().min(500)]
    );
}

/// `perfgate demo --gate FILE` runs the gate's own load: before, the demo's 20 s default replaced its
/// run time, and a staged gate was refused ("--run-time cannot stretch a staged arrival rate").
#[test]
fn demo_with_a_staged_gate_runs_its_stages() {
    let dir = TempDir::new("rel-demo-staged");
    let g = dir.write(
        "staged.yaml",
        "version: 1\nload:\n  stages:\n    - {duration: 1s, rate: 5}\nscenarios:\n  A:\n    tasks:\n      - request: GET /api/health\n",
    );
    let out = run_captured(&dir.0, &["demo", "--gate", s(&g), "-q"]);
    assert!(matches!(out.status.code(), Some(0 | 3)), "{}", out.both());
    assert!(
        out.stderr.contains("for 1s"),
        "the gate's 1 s, not 20 s: {}",
        out.stderr
    );
}

/// `serve-demo --leak-kb` beyond what the demo leaks in all is refused (before: accepted, and the
/// first request asked for one allocation of about 100 TB); serve-demo checks its knobs as demo does.
#[test]
fn serve_demo_checks_its_knobs() {
    let dir = TempDir::new("rel-leak-kb");
    for args in [
        ["serve-demo", "--port", "0", "--leak-kb", "99999999999"],
        ["serve-demo", "--port", "0", "--cpu-work", "5s"],
    ] {
        let out = run_captured(&dir.0, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", out.both());
        assert!(out.stderr.starts_with("error: --"), "{}", out.stderr);
    }
}
