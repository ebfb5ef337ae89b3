//! Faults, bad input and signals: never panic, never hang, never lose a report.
//!
//! Each case runs against a purpose-built loopback server (raw `tokio::net::TcpListener` servers
//! below, or axum from `common`), with a hard deadline around every run and every child process.
//! TLS faults (handshake refused, bad certificate, expired certificate) are NOT covered here: TLS
//! is not implemented yet.
//!
//! Observed on the 2-core machine with a benchmark running beside (debug build); "allowed" kinds
//! are what the test accepts, the counts are what one run saw.
//!
//! | #  | fault                                                   | failure kind counted                        | exit (binary)            | wall observed            |
//! |----|---------------------------------------------------------|---------------------------------------------|--------------------------|--------------------------|
//! | 1a | connection refused (port bound, then released)          | none: preflight fails, no load              | 3, one line names the URL | 0.02 s                  |
//! | 1b | refused mid-run: listener + connections dropped 1.5 s in| connect (read allowed): 77 connect + 0-1 read, 85 ok | -                        | 3.01 s (run 3 s, grace 1 s) |
//! | 2  | status line + part of headers / of body, then FIN / RST | read (57 + 79 + 41 of as many)              | -                        | 1.51 s (run 1.5 s)       |
//! | 3  | accepts, never answers, `timeout: 1s`                   | timeout, 6 of 6, latency 1.000-1.006 s      | -                        | 3.03 s (run 2.5 s, grace 1 s) |
//! | 4  | headers, then 1 of 1000 body bytes per 100 ms, `timeout: 1s` | timeout, 6 of 6, latency 1.000-1.002 s | -                        | 3.02 s (run 2.5 s, grace 1.5 s) |
//! | 5a | 100 MB body, no extract (drained)                       | none: 1 success, 104857600 bytes; RSS +1.9 MB | -                      | 1.01 s (run 1 s; body in 48 ms) |
//! | 5b | 100 MB non-JSON body with an extract                    | extract, 1 of 1; RSS peak +12.3 MB (10 MB kept) | -                    | 1.01 s (run 1 s; body in 56 ms) |
//! | 6  | `garbage\r\n\r\n` instead of HTTP                       | read, 179 of 179, each < 3 ms               | -                        | 1.51 s (run 1.5 s)       |
//! | 7a | every answer 503                                        | status, 311 of 311, 503 counted             | -                        | 1.51 s (run 1.5 s)       |
//! | 7b | every answer 503, target `error_rate: < 1%`             | status                                      | 1                        | 1.06 s (run 1 s)         |
//! | 8  | server dies 1.5 s into a 3 s run, `--out` and `--junit` | connect (read allowed): 81 connect, 81 ok   | 1; results + JUnit read back | 3.04 s (run 3 s, grace 2 s) |
//! | 9  | baseline truncated / not JSON / not results / schema 99 / histogram not decodable / not base64 / missing / a folder | - (no load, no connection) | 2 for `run --baseline`, `compare BAD GOOD`, `compare GOOD BAD` | 0.02 s each |
//! | 10 | `--html` `--csv` `--out` `--junit` `--summary` in /nonexistent; `--html` a folder | - (no load, no connection) | 2              | 0.02 s each              |
//!
//! Whole file: about 13 s (tests run two at a time; the memory tests alone).
//!
//! Memory (5a, 5b) is the test process's own RSS (`/proc/self/status`): its peak is reset through
//! `/proc/self/clear_refs` and also sampled every 5 ms; the instrument is checked first on a 64 MB
//! allocation it must see. The two memory tests take [`EXCLUSIVE`] for writing, every other test
//! takes it for reading, so nothing else allocates in this process while memory is measured.

mod common;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::Router;
use common::*;
use perfgate::metrics::results::Stats;
use perfgate::metrics::{FailureKind, Results};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::task::{AbortHandle, JoinHandle, JoinSet};

/// The run must end by itself: slack on top of run time + grace that absorbs a loaded 2-core machine.
const MARGIN: Duration = Duration::from_secs(2);
/// The binary's run must end by itself: slack on top of run time + grace for process start, reports
/// and exit on a loaded 2-core machine.
const BIN_MARGIN: Duration = Duration::from_secs(4);
/// A command that must fail before any load: generous, but far below any run.
const QUICK: Duration = Duration::from_secs(15);
/// A timed-out request is cut at its timeout: at most this much later (a late timer on a loaded runner).
const LATE_TIMEOUT_US: u64 = 500_000;
/// A refused connection is reported at once; a preflight that waited for an answer instead would take
/// its whole timeout. Process start on a loaded runner fits far below it.
const FAIL_FAST: Duration = perfgate::load::engine::PREFLIGHT_TIMEOUT;

// ---------------------------------------------------------------------------------------------
// Test isolation for memory measurements
// ---------------------------------------------------------------------------------------------

/// Memory tests hold this for writing; all others for reading.
static EXCLUSIVE: RwLock<()> = RwLock::const_new(());

async fn shared() -> RwLockReadGuard<'static, ()> {
    EXCLUSIVE.read().await
}

async fn exclusive() -> RwLockWriteGuard<'static, ()> {
    EXCLUSIVE.write().await
}

// ---------------------------------------------------------------------------------------------
// Raw loopback servers
// ---------------------------------------------------------------------------------------------

/// A connection as the handlers see it.
type Conn = BufReader<TcpStream>;

/// A raw TCP server on 127.0.0.1:0: one task per connection running `handler`. Killing it (or
/// dropping it) drops the listener and every connection at once.
struct RawServer {
    addr: SocketAddr,
    /// Connections accepted.
    accepted: Arc<AtomicUsize>,
    /// Complete request heads read.
    requests: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl RawServer {
    async fn start<F, Fut>(handler: F) -> RawServer
    where
        F: Fn(Conn, Arc<AtomicUsize>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (a, r) = (accepted.clone(), requests.clone());
        let task = tokio::spawn(async move {
            // Dropping the set (when this task is aborted) aborts every connection task.
            let mut conns = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::Relaxed);
                let _ = stream.set_nodelay(true);
                conns.spawn(handler(BufReader::new(stream), r.clone()));
                while conns.try_join_next().is_some() {}
            }
        });
        RawServer {
            addr,
            accepted,
            requests,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Aborting this handle kills the server: listener and connections.
    fn killer(&self) -> AbortHandle {
        self.task.abort_handle()
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request head (and skips its body); its path, or None at EOF or on an error.
async fn read_request(conn: &mut Conn, requests: &AtomicUsize) -> Option<String> {
    let mut line = String::new();
    if conn.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut len = 0usize;
    loop {
        line.clear();
        if conn.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok()?;
            }
        }
    }
    if len > 0 {
        let mut body = vec![0; len];
        conn.read_exact(&mut body).await.ok()?;
    }
    requests.fetch_add(1, Ordering::Relaxed);
    Some(path)
}

/// Keep-alive `200 ok` to every request.
async fn answer_ok(mut c: Conn, n: Arc<AtomicUsize>) {
    while read_request(&mut c, &n).await.is_some() {
        let reply = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok";
        if c.get_mut().write_all(reply).await.is_err() {
            return;
        }
    }
}

/// Answers part of a response, then closes: `/cut-headers` (FIN inside the headers), `/cut-body`
/// (FIN after 10 of 1000 body bytes), `/rst` (RST inside the headers: zero linger).
async fn cut_off(mut c: Conn, n: Arc<AtomicUsize>) {
    let Some(path) = read_request(&mut c, &n).await else {
        return;
    };
    let s = c.get_mut();
    let partial_head: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\nx-par";
    match path.as_str() {
        "/cut-headers" => {
            let _ = s.write_all(partial_head).await;
        }
        "/cut-body" => {
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\n\r\n0123456789")
                .await;
        }
        "/rst" => {
            let _ = s.write_all(partial_head).await;
            let _ = s.set_zero_linger();
        }
        _ => {}
    }
    let _ = s.flush().await;
    // Dropping the stream closes the connection.
}

/// Answers every request with bytes that are not HTTP, and keeps the connection open.
async fn garbage(mut c: Conn, n: Arc<AtomicUsize>) {
    while read_request(&mut c, &n).await.is_some() {
        if c.get_mut().write_all(b"garbage\r\n\r\n").await.is_err() {
            return;
        }
    }
}

/// Sends the head of a 1000-byte body, then one body byte every 100 ms.
async fn trickle(mut c: Conn, n: Arc<AtomicUsize>) {
    if read_request(&mut c, &n).await.is_none() {
        return;
    }
    let s = c.get_mut();
    if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    for _ in 0..1000 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if s.write_all(b"x").await.is_err() {
            return;
        }
    }
}

/// `/slow` answers after 300 ms; `/hang` never answers.
async fn slow_then_hang(mut c: Conn, n: Arc<AtomicUsize>) {
    while let Some(path) = read_request(&mut c, &n).await {
        if path != "/slow" {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let reply = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok";
        if c.get_mut().write_all(reply).await.is_err() {
            return;
        }
    }
}

/// Size of the huge body.
const BIG: u64 = 100 * 1024 * 1024;

/// Keep-alive: every answer is a 100 MB `text/plain` body of `x`, streamed in 64 KiB chunks.
async fn big_body(mut c: Conn, n: Arc<AtomicUsize>) {
    let chunk = vec![b'x'; 64 * 1024];
    while read_request(&mut c, &n).await.is_some() {
        let head = format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {BIG}\r\n\r\n");
        let s = c.get_mut();
        if s.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        for _ in 0..BIG / chunk.len() as u64 {
            if s.write_all(&chunk).await.is_err() {
                return;
            }
        }
    }
}

/// Kills `server` `after` its first request; returns when the first request came and how many
/// requests it had served at the kill (None when no request came within 20 s).
fn kill_after_first_request(server: &RawServer, after: Duration) -> JoinHandle<Option<(Instant, usize)>> {
    let killer = server.killer();
    let requests = server.requests.clone();
    tokio::spawn(async move {
        let waiting = Instant::now();
        while requests.load(Ordering::Relaxed) == 0 {
            if waiting.elapsed() > Duration::from_secs(20) {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let first = Instant::now();
        tokio::time::sleep(after).await;
        killer.abort();
        Some((first, requests.load(Ordering::Relaxed)))
    })
}

// ---------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------

/// A `kB` field of /proc/self/status.
fn status_kb(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    text.lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .strip_prefix(':')?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no `{field}:` in /proc/self/status"))
}

/// Watches this process's resident memory from `start` to `finish`.
struct RssWatch {
    before_kb: u64,
    peak_reset: bool,
    stop: Arc<AtomicBool>,
    /// Samples taken so far.
    samples: Arc<AtomicUsize>,
    sampler: Option<std::thread::JoinHandle<u64>>,
}

impl RssWatch {
    fn start() -> RssWatch {
        // "5" resets VmHWM to the current RSS (Linux ≥ 4.0).
        let peak_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let before_kb = status_kb("VmRSS");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let samples = Arc::new(AtomicUsize::new(0));
        let taken = samples.clone();
        let sampler = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(status_kb("VmRSS"));
                taken.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        });
        RssWatch {
            before_kb,
            peak_reset,
            stop,
            samples,
            sampler: Some(sampler),
        }
    }

    /// Growth of the peak over the start, in MB, and a description for messages.
    fn finish(mut self) -> (f64, String) {
        self.stop.store(true, Ordering::Relaxed);
        let sampled = self.sampler.take().and_then(|t| t.join().ok()).unwrap_or(0);
        let hwm = if self.peak_reset { status_kb("VmHWM") } else { 0 };
        let after = status_kb("VmRSS");
        let peak = sampled.max(hwm).max(after);
        let growth = peak.saturating_sub(self.before_kb) as f64 / 1024.0;
        let text = format!(
            "VmRSS before {} kB, after {after} kB, sampled peak {sampled} kB, VmHWM {} (reset: {}); growth {growth:.1} MB",
            self.before_kb,
            if self.peak_reset { format!("{hwm} kB") } else { "n/a".into() },
            self.peak_reset
        );
        (growth, text)
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Checks that the instrument sees a 64 MB allocation, so a "small growth" result means something.
async fn check_the_instrument() {
    let w = RssWatch::start();
    let v = vec![1u8; 64 * 1024 * 1024];
    std::hint::black_box(&v);
    // Hold it until the sampler has begun a sample after the allocation, however late its thread runs.
    let after = w.samples.load(Ordering::SeqCst) + 2;
    let sampled = tokio::time::timeout(QUICK, async {
        while w.samples.load(Ordering::SeqCst) < after {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(sampled.is_ok(), "the RSS sampler took no sample within {QUICK:?}");
    drop(v);
    let (growth, text) = w.finish();
    assert!(growth >= 50.0, "the RSS instrument missed a 64 MB allocation: {text}");
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Asserts the run ended in time: at least `run_time`, at most run time + grace + margin.
fn assert_on_time(wall: Duration, run_time: Duration, grace: Duration) {
    assert!(
        wall <= run_time + grace + MARGIN,
        "the run did not end by itself: run time {run_time:?} + grace {grace:?}, yet it took {wall:?}"
    );
    assert!(
        wall + Duration::from_millis(100) >= run_time,
        "the run ended early: {wall:?} of {run_time:?}"
    );
}

/// A one-line summary of a stats block for logs and messages (its histogram left out).
fn brief(s: &Stats) -> String {
    format!(
        "{} requests, {} failures {:?}, statuses {:?}, failed statuses {:?}, latency {}..{} µs, {} bytes",
        s.requests, s.failures, s.failures_by_kind, s.status_codes, s.failed_statuses, s.min_us, s.max_us, s.bytes
    )
}

/// Asserts every request of `s` failed, all with `kind`.
fn assert_all_failed(name: &str, s: &Stats, kind: FailureKind, min_requests: u64) {
    assert!(
        s.requests >= min_requests,
        "{name}: only {} requests (expected at least {min_requests})",
        s.requests
    );
    assert_eq!(s.failures, s.requests, "{name}: every request must fail: {}", brief(s));
    assert_eq!(
        s.failures_by_kind,
        BTreeMap::from([(kind, s.requests)]),
        "{name}: every failure must be `{}`",
        kind.label()
    );
}

/// Runs the binary on a blocking thread (the loopback servers live on this runtime).
async fn perfgate_bin(args: &[&str], limit: Duration) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let joined = tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        perfgate(&a, None, limit)
    })
    .await;
    match joined {
        Ok(out) => out,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Asserts a child did not panic.
fn assert_no_panic(out: &Output) {
    assert!(
        !out.stderr.contains("panicked") && !out.stdout.contains("panicked"),
        "perfgate panicked\n{}",
        out.both()
    );
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

// ---------------------------------------------------------------------------------------------
// 1. Connection refused
// ---------------------------------------------------------------------------------------------

const PLAIN_GATE: &str = "
version: 1
host: http://127.0.0.1:9
timeout: 2s
load: {users: 2, run_time: 1s, grace: 1s}
scenarios:
  S:
    think_time: 10ms..20ms
    tasks:
      - request: GET /x
targets:
  - {select: total, error_rate: < 1%}
";

/// 1a. A port that was bound then released: exit 3 at once, one line naming the URL, no load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_target_exits_3_fast_with_one_line_naming_the_url() {
    let _g = shared().await;
    let dir = TempDir::new("refused");
    let gate = dir.write("gate.yaml", PLAIN_GATE);
    let out_file = dir.join("r.json");
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = perfgate_bin(
        &[
            "run",
            path_str(&gate),
            "--host",
            &url,
            "-q",
            "--out",
            path_str(&out_file),
        ],
        QUICK,
    )
    .await;
    eprintln!("refused: exit {:?} in {:?}", out.status.code(), out.elapsed);
    assert_no_panic(&out);
    assert_eq!(out.code(), 3, "an unreachable target exits 3\n{}", out.both());
    assert!(
        out.elapsed < FAIL_FAST,
        "a refused connection must fail at once, not after the {FAIL_FAST:?} preflight timeout; took {:?}",
        out.elapsed
    );
    let naming: Vec<&str> = out.stderr.lines().filter(|l| l.contains(&url)).collect();
    assert_eq!(naming.len(), 1, "exactly one line names {url}\n{}", out.both());
    assert!(naming[0].starts_with("error: "), "{}", naming[0]);
    assert!(
        !out.stderr.contains("perfgate: "),
        "load must not start\n{}",
        out.both()
    );
    assert!(!out_file.exists(), "no results for a run that never started");
}

/// 1b. The server accepts for ~1.5 s, then its listener and connections are gone: later requests
/// are `connect` (or `read`) failures, earlier ones succeeded, and the run still ends on time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_mid_run_counts_connect_failures_and_ends_on_time() {
    let _g = shared().await;
    let server = RawServer::start(answer_ok).await;
    let g = gate(
        "
version: 1
timeout: 2s
load: {users: 2, run_time: 3s, grace: 1s}
scenarios:
  S:
    think_time: 20ms..50ms
    tasks:
      - request: GET /x
",
    );
    let killed = kill_after_first_request(&server, Duration::from_millis(1500));
    let started = Instant::now();
    let (r, wall) = run_timed(&g, at(&server.url(), 1)).await;
    let (kill_at, served) = killed.await.expect("kill task").expect("no request reached the server");
    let kill_rel = kill_at.duration_since(started) + Duration::from_millis(1500);
    let s = stats(&r, "GET /x");
    eprintln!(
        "refused mid-run: {wall:?}, served {served} before the kill, {}",
        brief(&s)
    );

    assert_on_time(wall, Duration::from_secs(3), Duration::from_secs(1));
    let ok = s.status_codes.get(&200).copied().unwrap_or(0);
    assert!(ok >= 10, "requests before the kill must succeed: {:?}", s.status_codes);
    assert!(ok as usize <= served, "{ok} successes but the server answered {served}");
    assert_eq!(
        s.failures + ok,
        s.requests,
        "only successes and failures: {}",
        brief(&s)
    );
    let connect = s.failures_by_kind.get(&FailureKind::Connect).copied().unwrap_or(0);
    assert!(
        connect >= 10,
        "after the kill, new connections are refused: {:?}",
        s.failures_by_kind
    );
    for kind in s.failures_by_kind.keys() {
        assert!(
            matches!(kind, FailureKind::Connect | FailureKind::Read),
            "unexpected failure kind `{}`: {:?}",
            kind.label(),
            s.failures_by_kind
        );
    }
    // No failure in an interval that ended before the kill.
    let before: Vec<_> = r
        .series
        .iter()
        .filter(|p| Duration::from_secs_f64(p.t) + Duration::from_millis(100) < kill_rel)
        .collect();
    assert!(!before.is_empty(), "no series point before the kill at {kill_rel:?}");
    for p in before {
        assert_eq!(p.failures, 0, "failures at t={} before the kill at {kill_rel:?}", p.t);
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Reset mid-response
// ---------------------------------------------------------------------------------------------

/// 2. A status line and part of the headers (or body), then FIN or RST: `read` failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_off_responses_count_read_failures() {
    let _g = shared().await;
    let server = RawServer::start(cut_off).await;
    let g = gate(
        "
version: 1
timeout: 2s
load: {users: 2, run_time: 1500ms, grace: 1s}
scenarios:
  S:
    think_time: 10ms..20ms
    tasks:
      - request: GET /cut-headers
      - request: GET /cut-body
      - request: GET /rst
",
    );
    let (r, wall) = run_timed(&g, at(&server.url(), 2)).await;
    eprintln!("cut off: {wall:?}");
    assert_on_time(wall, Duration::from_millis(1500), Duration::from_secs(1));
    for name in ["GET /cut-headers", "GET /cut-body", "GET /rst"] {
        let s = stats(&r, name);
        eprintln!("  {name}: {} requests, {:?}", s.requests, s.failures_by_kind);
        assert_all_failed(name, &s, FailureKind::Read, 5);
        assert!(
            s.status_codes.is_empty(),
            "{name}: no complete answer: {:?}",
            s.status_codes
        );
    }
    assert!(
        server.accepted.load(Ordering::Relaxed) >= 15,
        "a new connection per request"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. and 4. Timeouts
// ---------------------------------------------------------------------------------------------

/// 3. Accepts and never answers: `timeout` failures whose latency is the gate's timeout, and the
/// run ends within run time + grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_server_counts_timeouts_of_the_gate_timeout() {
    let _g = shared().await;
    let server = HangServer::start().await;
    let g = gate(
        "
version: 1
timeout: 1s
load: {users: 2, run_time: 2500ms, grace: 1s}
scenarios:
  S:
    tasks:
      - request: GET /silent
",
    );
    let (r, wall) = run_timed(&g, at(&server.url(), 3)).await;
    let s = stats(&r, "GET /silent");
    eprintln!("silent: {wall:?}, {}", brief(&s));
    assert_on_time(wall, Duration::from_millis(2500), Duration::from_secs(1));
    // Each user times out at about 1, 2 and 3 s.
    assert_all_failed("GET /silent", &s, FailureKind::Timeout, 4);
    assert!(s.status_codes.is_empty());
    assert!(
        s.min_us >= 990_000,
        "a timeout after {} µs, before `timeout: 1s`",
        s.min_us
    );
    assert!(
        s.max_us <= 1_000_000 + LATE_TIMEOUT_US,
        "a timeout after {} µs, long after `timeout: 1s`",
        s.max_us
    );
    assert_eq!(r.load.abandoned_requests, 0, "the last timeouts fall inside the grace");
    // Every request went out before it timed out: its bytes count as sent (was 0 B).
    assert!(
        s.bytes_sent >= s.requests * "GET /silent HTTP/1.1\r\n".len() as u64,
        "{} bytes sent for {} requests",
        s.bytes_sent,
        s.requests
    );
}

/// Answers with a chunked body of one-byte chunks, sent as fast as the socket takes them, for ever.
async fn endless_tiny_chunks(mut c: Conn, n: Arc<AtomicUsize>) {
    if read_request(&mut c, &n).await.is_none() {
        return;
    }
    let s = c.get_mut();
    if s.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    let burst = b"1\r\ny\r\n".repeat(4096);
    // Yields between bursts so this test server, in perfgate's process, leaves the runtime's timer a
    // turn; the socket stays readable all the time.
    while s.write_all(&burst).await.is_ok() {
        tokio::task::yield_now().await;
    }
}

/// A body that never ends but is always ready to read (tiny chunks as fast as the socket goes) is
/// cut at `timeout` like a silent one. Before: the read never waited, so the timer was never polled
/// (the runtime's budget ran out inside the read first): the request outlived its timeout and the
/// run's grace, came out abandoned, and the user spun a core.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_body_that_is_always_ready_is_cut_at_the_timeout() {
    let _g = shared().await;
    let server = RawServer::start(endless_tiny_chunks).await;
    let g = gate(
        "
version: 1
timeout: 1s
load: {users: 1, run_time: 1500ms, grace: 2s}
scenarios:
  S:
    tasks:
      - request: GET /flood
",
    );
    // The first request starts at 0, the second (if any) when it times out, before the run ends
    // at 1.5 s. Each must end by its timeout, so inside the 2 s grace, even when its timer turn
    // comes late (a CI runner saw 1.28 s, and a 2.5 s run then started a third request that the
    // grace cut off).
    let (r, wall) = run_timed(&g, at(&server.url(), 3)).await;
    let s = stats(&r, "GET /flood");
    eprintln!("flood: {wall:?}, {}", brief(&s));
    assert_on_time(wall, Duration::from_millis(1500), Duration::from_secs(2));
    assert_all_failed("GET /flood", &s, FailureKind::Timeout, 1);
    // The server shares this process's two workers and floods one of them: a timer turn can come
    // late on a loaded runner, but the request ends well before the run does.
    assert!(
        s.max_us <= 1_000_000 + 2 * LATE_TIMEOUT_US,
        "a timeout after {} µs, long after `timeout: 1s`",
        s.max_us
    );
    assert_eq!(r.load.abandoned_requests, 0, "{}", brief(&s));
}

/// The request timeout's timer is kept from request to request: a hang right after a 300 ms answer
/// must still get its full `timeout: 1s`, not what was left of the earlier request's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_counts_from_its_own_request_not_the_one_before() {
    let _g = shared().await;
    let server = RawServer::start(slow_then_hang).await;
    let g = gate(
        "
version: 1
timeout: 1s
load: {users: 1, run_time: 3s, grace: 1500ms}
scenarios:
  S:
    tasks:
      - sequence: [GET /slow, GET /hang]
",
    );
    let (r, _) = run_timed(&g, at(&server.url(), 4)).await;
    let slow = stats(&r, "GET /slow");
    let hang = stats(&r, "GET /hang");
    eprintln!("slow: {}; hang: {}", brief(&slow), brief(&hang));
    assert!(slow.requests >= 2 && slow.failures == 0, "{}", brief(&slow));
    assert_all_failed("GET /hang", &hang, FailureKind::Timeout, 2);
    assert!(
        hang.min_us >= 990_000,
        "a timeout after {} µs: the timer of the 300 ms request before it fired",
        hang.min_us
    );
}

/// 4. Headers, then a body trickling at one byte per 100 ms (1000 bytes): `timeout: 1s` cuts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_body_counts_timeouts() {
    let _g = shared().await;
    let server = RawServer::start(trickle).await;
    let g = gate(
        "
version: 1
timeout: 1s
load: {users: 2, run_time: 2500ms, grace: 1500ms}
scenarios:
  S:
    tasks:
      - request: GET /trickle
",
    );
    let (r, wall) = run_timed(&g, at(&server.url(), 4)).await;
    let s = stats(&r, "GET /trickle");
    eprintln!("trickle: {wall:?}, {}", brief(&s));
    assert_on_time(wall, Duration::from_millis(2500), Duration::from_millis(1500));
    assert_all_failed("GET /trickle", &s, FailureKind::Timeout, 4);
    assert!(s.min_us >= 990_000, "a timeout after {} µs", s.min_us);
    assert!(
        s.max_us <= 1_000_000 + LATE_TIMEOUT_US,
        "a timeout after {} µs, long after `timeout: 1s`",
        s.max_us
    );
    assert!(server.requests.load(Ordering::Relaxed) >= 4);
}

// ---------------------------------------------------------------------------------------------
// 5. A 100 MB body
// ---------------------------------------------------------------------------------------------

/// Largest growth of this process's peak RSS allowed while a 100 MB body passes through.
const MEMORY_LIMIT_MB: f64 = 60.0;

const BIG_GATE: &str = "
version: 1
timeout: 30s
load: {users: 1, run_time: 1s, grace: 30s}
scenarios:
  S:
    think_time: 30s
    tasks:
      - request: GET /big
";

/// 5a. A 100 MB body without an extract is drained: one success of 100 MB, memory stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_megabyte_body_is_drained_in_bounded_memory() {
    let _g = exclusive().await;
    check_the_instrument().await;
    let server = RawServer::start(big_body).await;
    let g = gate(BIG_GATE);
    let watch = RssWatch::start();
    let (r, wall) = run_timed(&g, at(&server.url(), 5)).await;
    let (growth, text) = watch.finish();
    let s = stats(&r, "GET /big");
    eprintln!("100 MB drained: {wall:?}, {text}, {}", brief(&s));
    assert_eq!(s.requests, 1, "one user thinking 30 s sends one request: {}", brief(&s));
    assert_eq!(s.failures, 0, "{:?}", s.failures_by_kind);
    assert_eq!(s.status_codes, BTreeMap::from([(200, 1)]));
    assert_eq!(s.bytes, BIG, "the whole body was read");
    assert_eq!(r.load.abandoned_requests, 0, "the body was read within the grace");
    assert!(
        growth < MEMORY_LIMIT_MB,
        "a drained 100 MB body grew the process by {growth:.1} MB (limit {MEMORY_LIMIT_MB} MB): {text}"
    );
}

/// 5b. The same body with an extract: at most BODY_CAP (10 MB) is kept, it is not JSON, so the
/// request is an `extract` failure, and memory stays bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_megabyte_body_with_extract_fails_extract_in_bounded_memory() {
    let _g = exclusive().await;
    check_the_instrument().await;
    let server = RawServer::start(big_body).await;
    let g = gate(&BIG_GATE.replace(
        "      - request: GET /big\n",
        "      - request:\n          path: /big\n          extract: {id: $.id}\n",
    ));
    let watch = RssWatch::start();
    let (r, wall) = run_timed(&g, at(&server.url(), 6)).await;
    let (growth, text) = watch.finish();
    let s = stats(&r, "GET /big");
    eprintln!("100 MB with extract: {wall:?}, {text}, {}", brief(&s));
    assert_all_failed("GET /big", &s, FailureKind::Extract, 1);
    assert_eq!(s.requests, 1);
    assert_eq!(s.status_codes, BTreeMap::from([(200, 1)]));
    assert_eq!(s.bytes, BIG, "the whole body was read (and all but 10 MB dropped)");
    assert_eq!(r.load.abandoned_requests, 0, "the body was read within the grace");
    assert!(
        growth < MEMORY_LIMIT_MB,
        "a 100 MB body read for an extract grew the process by {growth:.1} MB (limit {MEMORY_LIMIT_MB} MB; BODY_CAP is 10 MB): {text}"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Invalid HTTP
// ---------------------------------------------------------------------------------------------

/// 6. `garbage\r\n\r\n` instead of a status line: `read` failures, and no hang on the open socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_http_counts_read_failures() {
    let _g = shared().await;
    let server = RawServer::start(garbage).await;
    let g = gate(
        "
version: 1
timeout: 2s
load: {users: 2, run_time: 1500ms, grace: 1s}
scenarios:
  S:
    think_time: 10ms..20ms
    tasks:
      - request: GET /garbage
",
    );
    let (r, wall) = run_timed(&g, at(&server.url(), 7)).await;
    let s = stats(&r, "GET /garbage");
    eprintln!("garbage: {wall:?}, {}", brief(&s));
    assert_on_time(wall, Duration::from_millis(1500), Duration::from_secs(1));
    assert_all_failed("GET /garbage", &s, FailureKind::Read, 10);
    assert!(s.status_codes.is_empty(), "{:?}", s.status_codes);
    assert!(
        s.max_us < 1_000_000,
        "a parse error must not wait for the timeout: {} µs",
        s.max_us
    );
}

// ---------------------------------------------------------------------------------------------
// 7. A 5xx storm
// ---------------------------------------------------------------------------------------------

fn storm_server() -> Router {
    Router::new().fallback(|| async { (StatusCode::SERVICE_UNAVAILABLE, "busy") })
}

/// 7a. Every answer is 503: `status` failures, with 503 counted as the status and as the failed status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_of_503_counts_status_failures() {
    let _g = shared().await;
    let server = TestServer::start(storm_server()).await;
    let g = gate(
        "
version: 1
timeout: 2s
load: {users: 2, run_time: 1500ms, grace: 1s}
scenarios:
  S:
    think_time: 5ms..10ms
    tasks:
      - request: GET /busy
",
    );
    let (r, wall) = run_timed(&g, at(&server.url(), 8)).await;
    let s = stats(&r, "GET /busy");
    eprintln!("503 storm: {wall:?}, {} requests", s.requests);
    assert_on_time(wall, Duration::from_millis(1500), Duration::from_secs(1));
    assert_all_failed("GET /busy", &s, FailureKind::Status, 20);
    assert_eq!(s.status_codes, BTreeMap::from([(503, s.requests)]));
    assert_eq!(s.failed_statuses, BTreeMap::from([(503, s.requests)]));
}

/// 7b. Through the binary with `error_rate: < 1%`: the gate fails, exit 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_of_503_fails_the_error_rate_target_with_exit_1() {
    let _g = shared().await;
    let server = TestServer::start(storm_server()).await;
    let dir = TempDir::new("storm");
    let gate = dir.write("gate.yaml", PLAIN_GATE);
    let out_file = dir.join("r.json");
    let out = perfgate_bin(
        &[
            "run",
            path_str(&gate),
            "--host",
            &server.url(),
            "-q",
            "--out",
            path_str(&out_file),
        ],
        Duration::from_secs(2) + BIN_MARGIN + Duration::from_secs(10),
    )
    .await;
    eprintln!("503 storm (binary): exit {:?} in {:?}", out.status.code(), out.elapsed);
    assert_no_panic(&out);
    assert_eq!(out.code(), 1, "a missed error_rate target exits 1\n{}", out.both());
    assert!(
        out.elapsed < Duration::from_secs(2) + BIN_MARGIN,
        "the run did not end by itself: run 1 s + grace 1 s took {:?}",
        out.elapsed
    );
    let failing = out
        .stdout
        .lines()
        .find(|l| l.contains("FAIL") && l.contains("error_rate"))
        .unwrap_or_else(|| panic!("no failing error_rate check\n{}", out.both()));
    assert!(failing.contains("100"), "the error rate is 100 %: {failing}");
    assert!(out.stdout.contains("503"), "the 503s are reported\n{}", out.both());
    let r = Results::read(&out_file).expect("results written");
    let s = r.total(true);
    assert!(s.requests >= 10);
    assert_eq!(s.failures_by_kind, BTreeMap::from([(FailureKind::Status, s.requests)]));
}

// ---------------------------------------------------------------------------------------------
// 8. The server dies mid-run
// ---------------------------------------------------------------------------------------------

/// 8. The server dies 1.5 s into a 3 s run: connect/read failures after that point, the run ends
/// on time, the results file is written and reads back, and the missed target exits 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_dying_mid_run_still_writes_results_and_exits_1() {
    let _g = shared().await;
    let server = RawServer::start(answer_ok).await;
    let dir = TempDir::new("dying");
    let gate = dir.write(
        "gate.yaml",
        &PLAIN_GATE
            .replace("run_time: 1s, grace: 1s", "run_time: 3s, grace: 2s")
            .replace("think_time: 10ms..20ms", "think_time: 20ms..50ms"),
    );
    let out_file = dir.join("r.json");
    let junit = dir.join("j.xml");
    let killed = kill_after_first_request(&server, Duration::from_millis(1500));
    let out = perfgate_bin(
        &[
            "run",
            path_str(&gate),
            "--host",
            &server.url(),
            "-q",
            "--out",
            path_str(&out_file),
            "--junit",
            path_str(&junit),
        ],
        Duration::from_secs(5) + BIN_MARGIN + Duration::from_secs(10),
    )
    .await;
    let (_, served) = killed.await.expect("kill task").expect("no request reached the server");
    eprintln!(
        "dying server (binary): exit {:?} in {:?}, served {served}",
        out.status.code(),
        out.elapsed
    );
    assert_no_panic(&out);
    assert_eq!(out.code(), 1, "the missed error_rate target exits 1\n{}", out.both());
    assert!(
        out.elapsed < Duration::from_secs(5) + BIN_MARGIN,
        "the run did not end by itself: run 3 s + grace 2 s took {:?}",
        out.elapsed
    );
    let r = Results::read(&out_file).unwrap_or_else(|e| panic!("results must be written and read back: {e}"));
    assert!(!r.interrupted);
    assert!(
        (2.9..3.0 + MARGIN.as_secs_f64()).contains(&r.load.duration_s),
        "duration {} s for a 3 s run",
        r.load.duration_s
    );
    let s = stats(&r, "GET /x");
    eprintln!("  {}", brief(&s));
    let ok = s.status_codes.get(&200).copied().unwrap_or(0);
    assert!(ok >= 10, "requests before the death succeed: {:?}", s.status_codes);
    assert!(ok as usize <= served);
    assert!(
        s.failures_by_kind.get(&FailureKind::Connect).copied().unwrap_or(0) >= 10,
        "after the death, connections are refused: {:?}",
        s.failures_by_kind
    );
    for kind in s.failures_by_kind.keys() {
        assert!(
            matches!(kind, FailureKind::Connect | FailureKind::Read),
            "unexpected kind `{}`: {:?}",
            kind.label(),
            s.failures_by_kind
        );
    }
    // The first second is clean; the last second is all failures.
    let first = r.series.first().expect("a series");
    assert!(first.t < 1.3, "first series point at {} s", first.t);
    assert!(first.requests > 0 && first.failures == 0, "first second: {first:?}");
    let last_load = r
        .series
        .iter()
        .rfind(|p| p.requests > 0)
        .expect("a point with requests");
    assert!(last_load.t >= 2.5, "load stopped at {} s", last_load.t);
    assert_eq!(last_load.failures, last_load.requests, "after the death: {last_load:?}");
    let xml = std::fs::read_to_string(&junit).expect("JUnit written too");
    assert!(xml.contains("error_rate"), "{xml}");
}

// ---------------------------------------------------------------------------------------------
// 9. and 10. Bad input, found before any load
// ---------------------------------------------------------------------------------------------

const BASELINE_GATE: &str = "
version: 1
host: http://127.0.0.1:9
timeout: 2s
load: {users: 2, run_time: 1s, grace: 1s}
scenarios:
  S:
    think_time: 10ms..20ms
    tasks:
      - request: GET /x
targets:
  - {select: total, error_rate: < 50%}
regression:
  budgets:
    - {select: total, p95: +50%}
";

/// Replaces the JSON value at `pointer` in a results document.
fn with_value(text: &str, pointer: &str, value: serde_json::Value) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(text).expect("the good results are JSON");
    *doc.pointer_mut(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in the good results")) = value;
    serde_json::to_string_pretty(&doc).expect("serialize")
}

/// 9. A baseline that is truncated, not JSON, not a results file, of another schema version, with a
/// histogram that does not decode (or is not base64), missing, or a folder: `run --baseline` and
/// `compare` (either side) exit 2 before any load, naming the file and what is wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_baseline_exits_2_before_any_load() {
    let _g = shared().await;
    let server = RawServer::start(answer_ok).await;
    let dir = TempDir::new("baseline");
    let gate = dir.write("gate.yaml", BASELINE_GATE);
    let good = dir.join("good.json");
    let url = server.url();

    // A real results file to corrupt.
    let out = perfgate_bin(
        &["run", path_str(&gate), "--host", &url, "-q", "--out", path_str(&good)],
        Duration::from_secs(2) + BIN_MARGIN + Duration::from_secs(10),
    )
    .await;
    assert_eq!(out.code(), 0, "the good run passes\n{}", out.both());
    let text = std::fs::read_to_string(&good).expect("good results written");
    Results::from_json("good", &text).expect("good results read back");
    assert!(server.requests.load(Ordering::Relaxed) > 0);

    let hist = "/requests/0/phases/steady/histogram";
    let steady = "/requests/0/phases/steady";
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let requests = doc
        .pointer(&format!("{steady}/requests"))
        .and_then(|v| v.as_u64())
        .unwrap();
    let bad = [
        ("truncated", text[..text.len() / 2].to_string(), "ends early"),
        ("not-json", "this is not JSON\n".to_string(), "not JSON"),
        (
            "other-schema",
            r#"{"hello": "world"}"#.to_string(),
            "not a perfgate results file",
        ),
        (
            "version-99",
            with_value(&text, "/schema_version", 99.into()),
            "schema version 99",
        ),
        (
            "hist-undecodable",
            with_value(&text, hist, "AAAAAAAAAAAA".into()),
            "histogram does not decode",
        ),
        (
            "hist-not-base64",
            with_value(&text, hist, "%%% not base64 %%%".into()),
            "histogram is not valid base64",
        ),
        // Consistency (issue 15 #16): each names the field's path.
        (
            "failures-above-requests",
            with_value(&text, &format!("{steady}/failures"), (requests + 1).into()),
            "`requests[0].phases.steady.failures` is",
        ),
        (
            "histogram-count-differs",
            with_value(&text, &format!("{steady}/requests"), (requests + 5).into()),
            "`requests[0].phases.steady.histogram` holds",
        ),
        (
            "duration-zero",
            with_value(&text, "/load/duration_s", 0.into()),
            "`load.duration_s` is 0",
        ),
        (
            "run-time-negative",
            with_value(&text, "/load/run_time_s", (-5.0).into()),
            "`load.run_time_s` is -5",
        ),
        (
            "wrong-type",
            with_value(&text, "/load/users", "many".into()),
            "at `load.users`",
        ),
    ];

    let mut cases: Vec<(&str, std::path::PathBuf, &str)> = bad
        .into_iter()
        .map(|(what, body, fragment)| (what, dir.write(&format!("{what}.json"), &body), fragment))
        .collect();
    cases.push(("missing", dir.join("missing.json"), "cannot read"));
    cases.push(("folder", dir.0.clone(), "cannot read"));

    for (what, path, fragment) in &cases {
        let p = path_str(path);
        for args in [
            vec!["run", path_str(&gate), "--host", &url, "-q", "--baseline", p],
            vec!["compare", p, path_str(&good), "--gate", path_str(&gate)],
            vec!["compare", path_str(&good), p, "--gate", path_str(&gate)],
        ] {
            let accepted = server.accepted.load(Ordering::Relaxed);
            let out = perfgate_bin(&args, QUICK).await;
            eprintln!(
                "{what}: `{}` exit {:?} in {:?}",
                args[0],
                out.status.code(),
                out.elapsed
            );
            let cmd = args.join(" ");
            assert_no_panic(&out);
            assert_eq!(out.code(), 2, "{what}: `perfgate {cmd}` must exit 2\n{}", out.both());
            let line = out
                .stderr
                .lines()
                .find(|l| l.contains(p))
                .unwrap_or_else(|| panic!("{what}: no line names {p}\n{}", out.both()));
            assert!(line.contains(fragment), "{what}: `{line}` should say `{fragment}`");
            assert_eq!(
                server.accepted.load(Ordering::Relaxed),
                accepted,
                "{what}: `perfgate {cmd}` connected to the target before rejecting the baseline"
            );
        }
    }

    // Control: the same commands with the good file are not input errors.
    let out = perfgate_bin(
        &["compare", path_str(&good), path_str(&good), "--gate", path_str(&gate)],
        QUICK,
    )
    .await;
    assert!(
        matches!(out.code(), 0 | 1),
        "good vs good is not an input error\n{}",
        out.both()
    );
}

/// 10. A report path in a missing folder (or a report path that is a folder) exits 2 before any
/// load, naming the path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_path_in_missing_folder_exits_2_before_any_load() {
    let _g = shared().await;
    assert!(
        !Path::new("/nonexistent").exists(),
        "the test needs /nonexistent to be missing"
    );
    let server = RawServer::start(answer_ok).await;
    let dir = TempDir::new("reports");
    let gate = dir.write("gate.yaml", PLAIN_GATE);
    let url = server.url();
    for (flag, path) in [
        ("--html", "/nonexistent/x.html"),
        ("--csv", "/nonexistent/p"),
        ("--out", "/nonexistent/r.json"),
        ("--junit", "/nonexistent/j.xml"),
        ("--summary", "/nonexistent/s.md"),
        ("--html", path_str(&dir.0)),
    ] {
        let out = perfgate_bin(&["run", path_str(&gate), "--host", &url, "-q", flag, path], QUICK).await;
        eprintln!("{flag} {path}: exit {:?} in {:?}", out.status.code(), out.elapsed);
        assert_no_panic(&out);
        assert_eq!(out.code(), 2, "{flag} {path} must exit 2\n{}", out.both());
        let line = out
            .stderr
            .lines()
            .find(|l| l.contains(path))
            .unwrap_or_else(|| panic!("{flag}: no line names {path}\n{}", out.both()));
        let why = if path.starts_with("/nonexistent") {
            "does not exist"
        } else {
            "is a folder"
        };
        assert!(line.contains(why), "{flag} {path}: `{line}` should say `{why}`");
        assert!(line.contains(flag), "{flag} {path}: `{line}` should name the flag");
    }
    assert_eq!(
        server.accepted.load(Ordering::Relaxed),
        0,
        "a run with an unwritable report path connected to the target"
    );
}
