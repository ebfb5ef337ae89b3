//! Helpers shared by the integration tests: gates, engine runs, loopback servers, the binary.
//!
//! Every server here binds 127.0.0.1:0; every run and every child process is bounded in time.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use perfgate::gate::Gate;
use perfgate::load::{Overrides, Plan};
use perfgate::metrics::results::{GateInfo, Stats};
use perfgate::metrics::Results;
use tokio::task::JoinHandle;

// ---------------------------------------------------------------------------------------------
// Gates and engine runs (library API)
// ---------------------------------------------------------------------------------------------

/// Parses and validates gate text, panicking with the rendered diagnostics if it is invalid.
pub fn gate(yaml: &str) -> Gate {
    Gate::parse("test.yaml", yaml).unwrap_or_else(|e| panic!("test gate does not validate:\n{e}\n---\n{yaml}"))
}

/// The example gate shipped in `gates/prismq.yaml`.
pub fn prismq_gate() -> Gate {
    Gate::load(&repo_path("gates/prismq.yaml")).unwrap_or_else(|e| panic!("gates/prismq.yaml does not validate:\n{e}"))
}

/// A path inside the crate.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Overrides that point the gate at `host` and fix the seed.
pub fn at(host: &str, seed: u64) -> Overrides {
    Overrides {
        host: Some(host.to_string()),
        seed: Some(seed),
        ..Overrides::default()
    }
}

/// Runs a gate through the engine (no preflight, never interrupted) and returns the results and the
/// wall time of `perfgate::load::run`. A hard limit of run time + grace + 10 s keeps a broken engine
/// from hanging the suite.
pub async fn run_timed(gate: &Gate, o: Overrides) -> (Results, Duration) {
    let plan = Plan::new(gate, &o).unwrap_or_else(|e| panic!("plan: {e}"));
    let limit = plan.run_time + plan.grace + Duration::from_secs(10);
    let info = GateInfo {
        file: gate.file.clone(),
        name: gate.name.clone(),
        sha256: gate.sha256.clone(),
    };
    let started = Instant::now();
    let plan = Arc::new(plan);
    let run = perfgate::load::run(plan.clone(), |_| {}, std::future::pending::<()>());
    let measured = tokio::time::timeout(limit, run)
        .await
        .unwrap_or_else(|_| panic!("the engine did not finish within {limit:?}"))
        .unwrap_or_else(|e| panic!("engine error: {e}"));
    (assembled(&plan, info, measured).remove(0), started.elapsed())
}

/// The results documents (head first) of what the engine measured, as `perfgate run` assembles them.
pub fn assembled(plan: &Plan, gate: GateInfo, m: perfgate::metrics::assemble::Measurements) -> Vec<Results> {
    let provenance = perfgate::metrics::assemble::Provenance::new(gate, None, perfgate::app::current_environment());
    perfgate::metrics::assemble::assemble(&plan.planned(), m, &provenance)
}

/// The gate's identity as a results file records it.
pub fn info(gate: &Gate) -> GateInfo {
    GateInfo {
        file: gate.file.clone(),
        name: gate.name.clone(),
        sha256: gate.sha256.clone(),
    }
}

/// [`run_timed`] without the wall time.
pub async fn run(gate: &Gate, o: Overrides) -> Results {
    run_timed(gate, o).await.0
}

/// Both phases of one request name; panics listing the names present when it is missing.
pub fn stats(r: &Results, name: &str) -> Stats {
    match r.requests.iter().find(|q| q.name == name) {
        Some(q) => q.phases.all(),
        None => panic!(
            "no request row named `{name}`; rows: {:?}",
            r.requests.iter().map(|q| q.name.as_str()).collect::<Vec<_>>()
        ),
    }
}

/// `(runs, skipped)` of one task.
pub fn task(r: &Results, name: &str) -> (u64, u64) {
    match r.tasks.iter().find(|t| t.task == name) {
        Some(t) => (t.runs, t.skipped),
        None => panic!(
            "no task named `{name}`; tasks: {:?}",
            r.tasks.iter().map(|t| t.task.as_str()).collect::<Vec<_>>()
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Loopback servers
// ---------------------------------------------------------------------------------------------

/// An axum app served on 127.0.0.1:0 (with the peer address available as `ConnectInfo`).
pub struct TestServer {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Binds 127.0.0.1:0 and serves `app` in a background task.
    pub async fn start(app: axum::Router) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
        });
        TestServer { addr, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A server that accepts connections and never answers (nor reads).
pub struct HangServer {
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl HangServer {
    /// Binds 127.0.0.1:0 and holds every accepted connection open without a word.
    pub async fn start() -> HangServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::Relaxed);
                held.push(stream);
            }
        });
        HangServer { addr, accepted, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for HangServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A shared log a test server appends to.
pub type Log<T> = Arc<Mutex<Vec<T>>>;

/// A fresh, empty log.
pub fn log<T>() -> Log<T> {
    Arc::new(Mutex::new(Vec::new()))
}

/// A copy of a log's entries.
pub fn entries<T: Clone>(l: &Log<T>) -> Vec<T> {
    l.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

// ---------------------------------------------------------------------------------------------
// The binary
// ---------------------------------------------------------------------------------------------

/// The `perfgate` binary built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_perfgate");

/// What a finished child process said.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    /// The exit code (panics when killed by a signal).
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal: {:?}\nstderr:\n{}", self.status, self.stderr))
    }

    /// Both streams, for assertion messages.
    pub fn both(&self) -> String {
        format!("--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr)
    }
}

/// Kills and reaps a child when dropped, also while a test panics.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Runs `perfgate ARGS` in `dir` (the crate root when None); kills it and panics after `limit`.
pub fn perfgate(args: &[&str], dir: Option<&Path>, limit: Duration) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir.map(Path::to_path_buf).unwrap_or_else(|| repo_path("")))
        .env_remove("PERFGATE_HOST")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut guard = ChildGuard(cmd.spawn().unwrap_or_else(|e| panic!("cannot start {BIN}: {e}")));
    let out = drain(guard.0.stdout.take().expect("stdout"));
    let err = drain(guard.0.stderr.take().expect("stderr"));
    let status = loop {
        if let Some(s) = guard.0.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > limit {
            let _ = guard.0.kill();
            let _ = guard.0.wait();
            let (o, e) = (out.join().unwrap_or_default(), err.join().unwrap_or_default());
            panic!(
                "`perfgate {}` did not finish within {limit:?}\n--- stdout\n{o}\n--- stderr\n{e}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        elapsed,
    }
}

/// `perfgate serve-demo --port 0` as a child process; killed when dropped.
pub struct DemoChild {
    pub url: String,
    _guard: ChildGuard,
}

impl DemoChild {
    /// Starts the child and waits (at most 15 s) for `listening on http://127.0.0.1:PORT` on stderr.
    pub fn start() -> DemoChild {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve-demo", "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut guard = ChildGuard(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("cannot start {BIN} serve-demo: {e}")),
        );
        let stderr = guard.0.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        // Keeps reading stderr for the child's whole life so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(i) = line.find("listening on http://") {
                        let rest = &line[i + "listening on ".len()..];
                        let url = rest.split_whitespace().next().unwrap_or("").to_string();
                        assert!(url.starts_with("http://127.0.0.1:"), "unexpected address in `{line}`");
                        return DemoChild { url, _guard: guard };
                    }
                    seen.push(line);
                }
                Err(_) => panic!(
                    "serve-demo printed no `listening on http://...` line within 15 s; stderr so far:\n{}",
                    seen.join("\n")
                ),
            }
        }
    }
}

/// A fresh directory under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A directory unique to this process, test name and call.
    pub fn new(test: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("perfgate-it-{}-{test}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        TempDir(dir)
    }

    /// A path inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes a file and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.join(name);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", p.display()));
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Live processes (zombies excluded) whose command line contains `marker`, other than this one.
pub fn alive_with(marker: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            // Zombies have an empty cmdline.
            if String::from_utf8_lossy(&cmd).replace('\0', " ").contains(marker) {
                out.push(pid);
            }
        }
    }
    out
}
