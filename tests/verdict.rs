//! The verdict, end to end: every limit kind judged against a real loopback server, selectors,
//! no-data, ramp-up exclusion, gates/prismq.yaml against the demo, exit codes of the real binary,
//! JUnit and markdown read back by real parsers, and `perfgate report` re-rendering a saved run.
//!
//! Every server binds 127.0.0.1:0; every engine run and every child process is bounded in time.
//! Helpers live in this file on purpose (tests/common is someone else's piece).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use perfgate::gate::Gate;
use perfgate::load::{Overrides, Plan};
use perfgate::metrics::results::{GateInfo, Stats};
use perfgate::metrics::Results;
use perfgate::report::Format;
use perfgate::verdict::{judge, Check, Outcome, Verdict};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
use tokio::task::JoinHandle;

// ---------------------------------------------------------------------------------------------
// Loopback servers
// ---------------------------------------------------------------------------------------------

/// How long `/slow` sleeps before answering.
const SLOW: Duration = Duration::from_millis(60);

/// An axum app on 127.0.0.1:0 that counts every request it receives; aborted when dropped.
struct Server {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(app: Router<Arc<AtomicUsize>>) -> Server {
        let hits = Arc::new(AtomicUsize::new(0));
        let app = app
            .layer(axum::middleware::from_fn_with_state(hits.clone(), count))
            .with_state(hits.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Server { addr, hits, task }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn count(State(hits): State<Arc<AtomicUsize>>, req: Request, next: Next) -> Response {
    hits.fetch_add(1, Ordering::SeqCst);
    next.run(req).await
}

/// `/fast` answers at once (GET and POST), `/slow` after [`SLOW`], `/err` with a 500.
fn routes() -> Router<Arc<AtomicUsize>> {
    Router::new()
        .route("/fast", get(|| async { "fast" }).post(|| async { "fast" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(SLOW).await;
                "slow"
            }),
        )
        .route(
            "/err",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "injected failure") }),
        )
}

// ---------------------------------------------------------------------------------------------
// Engine runs and checks (library API)
// ---------------------------------------------------------------------------------------------

fn parse(file: &str, yaml: &str) -> Gate {
    Gate::parse(file, yaml).unwrap_or_else(|e| panic!("test gate does not validate:\n{e}\n---\n{yaml}"))
}

/// Runs the gate's load against `host` through `perfgate::load::run` (as `perfgate run` does, minus
/// the preflight); a hard limit of run time + grace + 15 s keeps a broken engine from hanging.
async fn load(gate: &Gate, host: &str, seed: u64) -> Results {
    let o = Overrides {
        host: Some(host.to_string()),
        seed: Some(seed),
        ..Overrides::default()
    };
    let plan = Plan::new(gate, &o).unwrap_or_else(|e| panic!("plan: {e}"));
    let limit = plan.run_time + plan.grace + Duration::from_secs(15);
    let info = GateInfo {
        file: gate.file.clone(),
        name: gate.name.clone(),
        sha256: gate.sha256.clone(),
    };
    let plan = Arc::new(plan);
    let run = perfgate::load::run(plan.clone(), |_| {}, std::future::pending::<()>());
    let measured = tokio::time::timeout(limit, run)
        .await
        .unwrap_or_else(|_| panic!("the engine did not finish within {limit:?}"))
        .unwrap_or_else(|e| panic!("engine error: {e}"));
    let provenance = perfgate::metrics::assemble::Provenance::new(info, None, perfgate::app::current_environment());
    let results = perfgate::metrics::assemble::assemble(&plan.planned(), measured, &provenance).remove(0);
    assert!(!results.interrupted, "the run says it was interrupted");
    results
}

/// The stats row of one request name.
fn row<'a>(r: &'a Results, name: &str) -> &'a perfgate::metrics::results::RequestStats {
    r.requests.iter().find(|q| q.name == name).unwrap_or_else(|| {
        panic!(
            "no request row `{name}`; rows: {:?}",
            r.requests.iter().map(|q| q.name.as_str()).collect::<Vec<_>>()
        )
    })
}

fn steady<'a>(r: &'a Results, name: &str) -> &'a Stats {
    &row(r, name).phases.steady
}

fn names(v: &Verdict) -> Vec<&str> {
    v.checks.iter().map(|c| c.name.as_str()).collect()
}

/// The only check with this display name.
fn check<'a>(v: &'a Verdict, name: &str) -> &'a Check {
    let found: Vec<&Check> = v.checks.iter().filter(|c| c.name == name).collect();
    assert_eq!(found.len(), 1, "expected one check `{name}`; checks: {:#?}", names(v));
    found[0]
}

/// Asserts a check's outcome and that its measured value satisfies `side` (the right side of the limit).
fn expect(v: &Verdict, name: &str, outcome: Outcome, side: &str, holds: impl Fn(f64) -> bool) -> f64 {
    let c = check(v, name);
    let m = c
        .measured
        .unwrap_or_else(|| panic!("`{name}` has no measured value: {}", c.message()));
    assert_eq!(c.outcome, outcome, "`{name}`: {}", c.message());
    assert!(holds(m), "`{name}`: measured {m} should be {side}; {}", c.message());
    m
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

// ---------------------------------------------------------------------------------------------
// The binary
// ---------------------------------------------------------------------------------------------

const BIN: &str = env!("CARGO_BIN_EXE_perfgate");

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Out {
    fn both(&self) -> String {
        format!("--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr)
    }
}

/// Runs `perfgate ARGS` in the crate root with `GITHUB_STEP_SUMMARY` unset unless given; killed after `limit`.
async fn perfgate(args: &[&str], step_summary: Option<&Path>, limit: Duration) -> Out {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args)
        .current_dir(crate_dir())
        .env_remove("PERFGATE_HOST")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(p) = step_summary {
        cmd.env("GITHUB_STEP_SUMMARY", p);
    }
    let started = Instant::now();
    let out = tokio::time::timeout(limit, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("`perfgate {}` did not finish within {limit:?}", args.join(" ")))
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
    let o = Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    };
    assert!(!o.stderr.contains("panicked"), "perfgate panicked:\n{}", o.both());
    o
}

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("perfgate-verdict-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
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

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// The 1-based line of the first line of `yaml` whose trimmed text starts with `start`.
fn line_of(yaml: &str, start: &str) -> u32 {
    let i = yaml
        .lines()
        .position(|l| l.trim_start().starts_with(start))
        .unwrap_or_else(|| panic!("no line starting with `{start}`"));
    i as u32 + 1
}

// ---------------------------------------------------------------------------------------------
// JUnit and markdown readers
// ---------------------------------------------------------------------------------------------

fn junit(text: &str) -> Report {
    Report::deserialize_from_str(text).unwrap_or_else(|e| panic!("the JUnit XML does not parse: {e}\n{text}"))
}

fn is_failure(st: &TestCaseStatus) -> bool {
    matches!(
        st,
        TestCaseStatus::NonSuccess {
            kind: NonSuccessKind::Failure,
            ..
        }
    )
}

fn failure_type(st: &TestCaseStatus) -> Option<&str> {
    match st {
        TestCaseStatus::NonSuccess { ty, .. } => ty.as_deref(),
        _ => None,
    }
}

fn failure_message(st: &TestCaseStatus) -> Option<&str> {
    match st {
        TestCaseStatus::NonSuccess { message, .. } => message.as_deref(),
        _ => None,
    }
}

/// Every GitHub-flavoured table of a markdown text as rows of cell texts (header first). Asserts
/// every row has as many cells as its header.
fn tables(md: &str) -> Vec<Vec<Vec<String>>> {
    let mut out: Vec<Vec<Vec<String>>> = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut cell: Option<String> = None;
    for ev in Parser::new_ext(md, Options::ENABLE_TABLES) {
        match ev {
            Event::Start(Tag::Table(_)) => out.push(Vec::new()),
            Event::Start(Tag::TableHead) | Event::Start(Tag::TableRow) => row = Vec::new(),
            Event::End(TagEnd::TableHead) | Event::End(TagEnd::TableRow) => out
                .last_mut()
                .expect("a row outside a table")
                .push(std::mem::take(&mut row)),
            Event::Start(Tag::TableCell) => cell = Some(String::new()),
            Event::End(TagEnd::TableCell) => row.push(cell.take().expect("cell end without start")),
            Event::Text(t) | Event::Code(t) => {
                if let Some(c) = cell.as_mut() {
                    c.push_str(&t);
                }
            }
            _ => {}
        }
    }
    // pulldown-cmark pads short rows and drops extra cells as GFM says, so the raw rows are counted
    // too: an unescaped `|` in a cell would add a cell that the parsed table hides.
    let raw: Vec<Vec<usize>> = md
        .split("\n\n")
        .map(|block| {
            block
                .lines()
                .filter(|l| l.starts_with('|'))
                .map(raw_cells)
                .collect::<Vec<usize>>()
        })
        .filter(|b| !b.is_empty())
        .collect();
    assert_eq!(raw.len(), out.len(), "raw table blocks vs parsed tables:\n{md}");
    for (i, (t, r)) in out.iter().zip(&raw).enumerate() {
        assert_eq!(r.len(), t.len() + 1, "table {i}: rows (plus the delimiter row)\n{md}");
        assert!(
            r.iter().all(|&n| n == t[0].len()),
            "table {i}: raw rows have {r:?} cells, the header {}:\n{md}",
            t[0].len()
        );
    }
    for (i, t) in out.iter().enumerate() {
        let width = t[0].len();
        for r in t {
            assert_eq!(
                r.len(),
                width,
                "table {i}: a row has {} cells, its header {width}: {r:?}\n{md}",
                r.len()
            );
        }
    }
    out
}

/// Cells of one raw table row such as `| a | b\|c |`: unescaped `|` delimiters minus one.
fn raw_cells(line: &str) -> usize {
    let (mut pipes, mut chars) = (0, line.trim().chars());
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '|' => pipes += 1,
            _ => {}
        }
    }
    pipes - 1
}

// ---------------------------------------------------------------------------------------------
// 1. Every limit kind, passing and failing, against a server slow on one route
// ---------------------------------------------------------------------------------------------

const LIMITS_GATE: &str = r#"
version: 1
name: limits
load:
  users: 4
  run_time: 2500ms
  grace: 2s
scenarios:
  SlowUser:
    tasks:
      - request: GET /slow
  MixedUser:
    think_time: 5ms
    tasks:
      - request: GET /fast
      - request: GET /err
targets:
  - {select: GET /fast, avg: < 30ms}
  - {select: GET /slow, avg: < 30ms}
  - {select: GET /fast, min: < 30ms}
  - {select: GET /slow, min: < 30ms}
  - {select: GET /slow, min: "> 55ms"}
  - {select: GET /slow, max: < 10s}
  - {select: GET /slow, max: < 50ms}
  - {select: GET /fast, p50: < 30ms}
  - {select: GET /slow, p50: < 50ms}
  - {select: GET /fast, p95: < 250ms}
  - {select: GET /slow, p95: < 50ms}
  - {select: GET /slow, p99: < 10s}
  - {select: GET /slow, p99: < 50ms}
  - {select: GET /slow, p99.9: < 10s}
  - {select: GET /slow, p99.9: < 50ms}
  - {select: GET /fast, error_rate: < 1%}
  - {select: GET /err, error_rate: < 50%}
  - {select: GET /slow, rps: "> 2"}
  - {select: GET /slow, rps: "> 40"}
  - {select: GET /slow, rps: 2}
  - {select: GET /slow, rps: 40}
  - {select: GET /slow, requests: 5}
  - {select: GET /slow, requests: 1000000}
"#;

/// Item 1: for each limit kind (avg, min, max, p50/p95/p99/p99.9, error_rate, rps with `>` and the
/// default `>=`, requests) one check passes and one fails, with the measured value on the right side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_limit_kind_passes_and_fails_on_the_right_side_of_its_limit() {
    let server = Server::start(routes()).await;
    let gate = parse("limits.yaml", LIMITS_GATE);
    let r = load(&gate, &server.url(), 11).await;
    let v = judge(&gate, &r);
    assert_eq!(v.checks.len(), 23, "one check per limit: {:#?}", names(&v));

    let slow_ms = SLOW.as_secs_f64() * 1000.0;
    let at_least_slow = |m: f64| m >= slow_ms;
    // HdrHistogram keeps 3 significant digits: a recorded 60 000 µs may read back 0.1 % lower.
    let slow_pct = |m: f64| m >= slow_ms * 0.999;
    use Outcome::{Fail, Pass};

    let fast_avg = expect(&v, "GET /fast: avg < 30ms", Pass, "< 30", |m| m < 30.0);
    let slow_avg = expect(
        &v,
        "GET /slow: avg < 30ms",
        Fail,
        ">= 60 (the route sleeps)",
        at_least_slow,
    );
    expect(&v, "GET /fast: min < 30ms", Pass, "< 30", |m| m < 30.0);
    let slow_min = expect(&v, "GET /slow: min < 30ms", Fail, ">= 60", at_least_slow);
    expect(&v, "GET /slow: min > 55ms", Pass, "> 55", |m| m > 55.0);
    let slow_max = expect(&v, "GET /slow: max < 10s", Pass, "in 60..10000", |m| {
        (slow_ms..10_000.0).contains(&m)
    });
    expect(&v, "GET /slow: max < 50ms", Fail, ">= 60", at_least_slow);
    expect(&v, "GET /fast: p50 < 30ms", Pass, "< 30", |m| m < 30.0);
    expect(&v, "GET /slow: p50 < 50ms", Fail, ">= 60", slow_pct);
    expect(&v, "GET /fast: p95 < 250ms", Pass, "< 250", |m| m < 250.0);
    expect(&v, "GET /slow: p95 < 50ms", Fail, ">= 60", slow_pct);
    expect(&v, "GET /slow: p99 < 10s", Pass, "in 60..10000", |m| {
        (59.9..10_000.0).contains(&m)
    });
    expect(&v, "GET /slow: p99 < 50ms", Fail, ">= 60", slow_pct);
    let p999 = expect(&v, "GET /slow: p99.9 < 10s", Pass, "in 60..10000", |m| {
        (59.9..10_000.0).contains(&m)
    });
    expect(&v, "GET /slow: p99.9 < 50ms", Fail, ">= 60", slow_pct);
    expect(&v, "GET /fast: error_rate < 1%", Pass, "0 (every answer is 200)", |m| {
        m == 0.0
    });
    expect(
        &v,
        "GET /err: error_rate < 50%",
        Fail,
        "100 (every answer is 500)",
        |m| m == 100.0,
    );

    // Two users only ever request /slow, one at a time, so /slow cannot exceed 2 / 60 ms = 33.3 req/s.
    let rps = expect(&v, "GET /slow: rps > 2", Pass, "in 2..34", |m| m > 2.0 && m < 34.0);
    expect(&v, "GET /slow: rps > 40", Fail, "<= 40", |m| m <= 40.0);
    expect(&v, "GET /slow: rps >= 2", Pass, ">= 2", |m| m >= 2.0);
    expect(&v, "GET /slow: rps >= 40", Fail, "< 40", |m| m < 40.0);
    let n = expect(&v, "GET /slow: requests >= 5", Pass, ">= 5", |m| m >= 5.0);
    expect(&v, "GET /slow: requests >= 1000000", Fail, "< 1000000", |m| m < 1e6);

    // The comparison is the one written, or the metric's default.
    assert_eq!(check(&v, "GET /slow: rps > 2").op, ">");
    assert_eq!(check(&v, "GET /slow: rps >= 2").op, ">=");
    assert_eq!(check(&v, "GET /slow: requests >= 5").op, ">=");
    assert_eq!(check(&v, "GET /slow: min > 55ms").op, ">");
    assert_eq!(check(&v, "GET /slow: avg < 30ms").op, "<");

    // The measured values are the steady phase's own numbers (ramp-up left out by default).
    let slow = steady(&r, "GET /slow");
    assert!(slow.requests >= 5, "too few /slow samples: {}", slow.requests);
    assert_eq!(n, slow.requests as f64);
    assert_eq!(check(&v, "GET /slow: avg < 30ms").samples, slow.requests);
    assert!(
        close(slow_avg, slow.sum_us as f64 / slow.requests as f64 / 1000.0),
        "avg {slow_avg}"
    );
    assert!(close(slow_min, slow.min_us as f64 / 1000.0), "min {slow_min}");
    assert!(close(slow_max, slow.max_us as f64 / 1000.0), "max {slow_max}");
    assert!(p999 <= slow_max * 1.001 + 0.001, "p99.9 {p999} above max {slow_max}");
    assert!(fast_avg < slow_avg);
    let window = r.load.duration_s - r.load.ramp_up_s;
    assert!(
        window > 2.0,
        "steady window {window} s of a 2.5 s run with every user at once"
    );
    assert!(
        close(rps, slow.requests as f64 / window),
        "rps {rps} vs {} / {window}",
        slow.requests
    );
    let err = steady(&r, "GET /err");
    assert!(err.requests > 0 && err.failures == err.requests, "/err: {err:?}");

    assert!(!v.passed());
    assert_eq!(v.failing().count(), 11, "{:#?}", names(&v));
    assert_eq!(v.headline(), "FAILED 11 of 23 checks");
}

// ---------------------------------------------------------------------------------------------
// 2. Selectors: each, method, glob, misspelt name
// ---------------------------------------------------------------------------------------------

const SELECT_GATE: &str = r#"
version: 1
name: select
load:
  users: 3
  run_time: 2s
scenarios:
  U:
    think_time: 10ms
    tasks:
      - request: GET /fast
      - request: GET /slow
      - request: GET /err
      - request: POST /fast
targets:
  - select: GET /*
    each: true
    avg: < 10s
  - select: GET
    requests: 1
  - select: GET /*
    requests: 1
  - select: "*fast"
    each: true
    max: < 10s
"#;

/// Item 2: `each: true` gives one check per matching name; a method selector and a glob aggregate
/// the names they match; a misspelt name is a gate error with a suggestion (exit 2 from the binary).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_group_request_names_and_a_misspelt_name_is_a_gate_error() {
    let server = Server::start(routes()).await;
    let gate = parse("select.yaml", SELECT_GATE);
    let r = load(&gate, &server.url(), 12).await;
    let v = judge(&gate, &r);
    let gets = ["GET /fast", "GET /slow", "GET /err"];
    for n in gets.iter().chain(["POST /fast"].iter()) {
        assert!(steady(&r, n).requests > 0, "`{n}` was never requested");
    }
    assert_eq!(
        names(&v),
        [
            "GET /fast: avg < 10s",
            "GET /slow: avg < 10s",
            "GET /err: avg < 10s",
            "GET: requests >= 1",
            "GET /*: requests >= 1",
            "GET /fast: max < 10s",
            "POST /fast: max < 10s",
        ]
    );

    // each: one check per name, judged on that name alone.
    for n in gets {
        let c = check(&v, &format!("{n}: avg < 10s"));
        let st = steady(&r, n);
        assert_eq!(c.subject, n);
        assert_eq!(c.requests, [n]);
        assert_eq!(c.samples, st.requests, "{n}");
        assert!(close(c.measured.unwrap(), st.mean_ms()), "{n}: {}", c.message());
        assert_eq!(c.outcome, Outcome::Pass, "{n}: {}", c.message());
    }
    assert!(
        check(&v, "GET /slow: avg < 10s").measured.unwrap() >= 60.0,
        "each name must be judged alone"
    );

    // A method and a glob aggregate every GET and nothing else.
    let get_total: u64 = gets.iter().map(|n| steady(&r, n).requests).sum();
    let post = steady(&r, "POST /fast").requests;
    for name in ["GET: requests >= 1", "GET /*: requests >= 1"] {
        let c = check(&v, name);
        assert_eq!(c.requests, gets, "{name}");
        assert_eq!(c.samples, get_total, "{name}");
        assert_eq!(
            c.measured,
            Some(get_total as f64),
            "{name}: must not count the {post} POSTs"
        );
        assert_eq!(c.outcome, Outcome::Pass);
    }
    assert_eq!(check(&v, "GET: requests >= 1").subject, "GET");
    assert_eq!(check(&v, "GET /*: requests >= 1").subject, "GET /*");

    // A glob with each: every name it matches, across methods.
    assert_eq!(check(&v, "POST /fast: max < 10s").requests, ["POST /fast"]);
    assert_eq!(check(&v, "POST /fast: max < 10s").samples, post);
    assert!(
        v.passed(),
        "{:#?}",
        v.checks.iter().map(Check::message).collect::<Vec<_>>()
    );

    // A misspelt name: a gate error at the selector, with the closest name as a suggestion.
    let bad = SELECT_GATE.replace("  - select: GET\n", "  - select: GET /slwo\n");
    assert_ne!(bad, SELECT_GATE);
    let line = line_of(&bad, "- select: GET /slwo");
    let err = Gate::parse("bad.yaml", &bad).expect_err("a misspelt request name must not validate");
    assert_eq!(err.problems.len(), 1, "{err}");
    assert_eq!(err.problems[0].pos.map(|p| p.line), Some(line), "{err}");
    let text = err.to_string();
    assert!(text.contains("`select: GET /slwo` matches no request name"), "{text}");
    assert!(text.contains("did you mean `GET /slow`?"), "{text}");

    let dir = TempDir::new("select");
    let file = dir.write("bad.yaml", &bad);
    let url = server.url();
    let before = server.hits();
    for args in [
        vec!["validate", s(&file)],
        vec!["run", s(&file), "--host", &url, "--run-time", "30s"],
    ] {
        let out = perfgate(&args, None, Duration::from_secs(20)).await;
        assert_eq!(out.code, 2, "`perfgate {}` must exit 2\n{}", args.join(" "), out.both());
        assert!(out.stderr.contains(&format!("{}:{line}:", s(&file))), "{}", out.both());
        assert!(out.stderr.contains("did you mean `GET /slow`?"), "{}", out.both());
        assert!(out.elapsed < Duration::from_secs(10), "took {:?}", out.elapsed);
    }
    assert_eq!(server.hits(), before, "an invalid gate must send no request");
}

// ---------------------------------------------------------------------------------------------
// 3. No data
// ---------------------------------------------------------------------------------------------

const NO_DATA_GATE: &str = r#"
version: 1
name: nodata
load:
  users: 2
  run_time: 1500ms
scenarios:
  U:
    think_time: 10ms
    tasks:
      - request: GET /fast
targets:
  - select: GET /nothing*
    avg: < 1s
  - select: GET /nothing*
    each: true
    avg: < 1s
  - select: GET /fast
    min_samples: 1000000
    avg: < 1s
  - select: GET /fast
    avg: < 1s
"#;

/// Item 3: a glob matching nothing and a target short of `min_samples` are no-data; no-data fails
/// the verdict by default and passes with `verdict: {no_data: pass}`, in the verdict and in JUnit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_data_fails_by_default_and_passes_when_the_gate_says_so() {
    let server = Server::start(routes()).await;
    let gate = parse("nodata.yaml", NO_DATA_GATE);
    let r = load(&gate, &server.url(), 13).await;
    let fast = steady(&r, "GET /fast").requests;
    assert!(fast > 0, "no /fast samples");

    let v = judge(&gate, &r);
    assert_eq!(
        names(&v),
        [
            "GET /nothing*: avg < 1s",
            "GET /nothing*: avg < 1s",
            "GET /fast: avg < 1s",
            "GET /fast: avg < 1s"
        ]
    );
    for c in &v.checks[..2] {
        assert_eq!(c.outcome, Outcome::NoData, "{}", c.message());
        assert_eq!(c.measured, None);
        assert_eq!(c.samples, 0);
        assert!(c.requests.is_empty());
        assert!(c.message().contains("matched no request name"), "{}", c.message());
    }
    let thin = &v.checks[2];
    assert_eq!(thin.outcome, Outcome::NoData, "{}", thin.message());
    assert_eq!(thin.measured, None);
    assert_eq!(thin.samples, fast);
    assert!(
        thin.message().contains("fewer than the 1000000 needed"),
        "{}",
        thin.message()
    );
    assert_eq!(v.checks[3].outcome, Outcome::Pass, "{}", v.checks[3].message());
    assert!(!v.passed(), "no-data must fail the gate by default");
    assert_eq!(v.failing().count(), 3);

    let xml = String::from_utf8(
        perfgate::report::junit::Junit {
            flavor: perfgate::report::junit::Flavor::Github,
        }
        .render(&perfgate::report::Input {
            results: &r,
            verdict: &v,
            base: None,
            gate_file: "nodata.yaml",
        })
        .unwrap(),
    )
    .unwrap();
    let rep = junit(&xml);
    assert_eq!((rep.tests, rep.failures, rep.skipped), (4, 3, 0), "{xml}");
    let cases = &rep.test_suites[0].test_cases;
    assert_eq!(failure_type(&cases[0].status), Some("no-data"), "{xml}");

    // `no_data: pass`: the same checks stay no-data but no longer fail the gate.
    let lenient = parse(
        "nodata.yaml",
        &NO_DATA_GATE.replace("targets:\n", "verdict:\n  no_data: pass\ntargets:\n"),
    );
    assert!(!lenient.verdict.no_data_fails);
    let v = judge(&lenient, &r);
    let outcomes: Vec<Outcome> = v.checks.iter().map(|c| c.outcome).collect();
    use Outcome::{NoData, Pass};
    assert_eq!(outcomes, [NoData, NoData, NoData, Pass]);
    assert!(v.passed(), "{}", v.headline());
    assert_eq!(v.failing().count(), 0);
    let xml = String::from_utf8(
        perfgate::report::junit::Junit {
            flavor: perfgate::report::junit::Flavor::Github,
        }
        .render(&perfgate::report::Input {
            results: &r,
            verdict: &v,
            base: None,
            gate_file: "nodata.yaml",
        })
        .unwrap(),
    )
    .unwrap();
    let rep = junit(&xml);
    assert_eq!((rep.tests, rep.failures, rep.skipped), (4, 0, 3), "{xml}");

    // `min_samples` under `verdict:` applies to every target that does not set its own.
    let strict = parse(
        "nodata.yaml",
        &NO_DATA_GATE.replace("targets:\n", "verdict:\n  min_samples: 1000000\ntargets:\n"),
    );
    let v = judge(&strict, &r);
    assert_eq!(v.checks[3].outcome, Outcome::NoData, "{}", v.checks[3].message());
    assert!(!v.passed());
}

// ---------------------------------------------------------------------------------------------
// 4. Ramp-up exclusion
// ---------------------------------------------------------------------------------------------

/// Latency of `/warm` during the server's slow start.
const COLD: Duration = Duration::from_millis(800);
/// How long after the first request the server stays slow (the ramp-up below lasts 3 s).
const COLD_FOR: Duration = Duration::from_millis(1500);

const RAMP_GATE: &str = r#"
version: 1
name: ramp
load:
  users: 4
  spawn_rate: 1
  run_time: 5s
  grace: 3s
scenarios:
  U:
    think_time: 500ms
    tasks:
      - request: GET /warm
targets:
  - select: GET /warm
    avg: < 40ms
"#;

/// Item 4: a server slow (800 ms) for its first 1.5 s, four users spawned at 1/s (ramp-up 3 s) and a
/// 5 s run: `avg < 40ms` passes with the ramp-up left out (the default) and fails when the target
/// or the `verdict:` section includes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ramp_up_is_left_out_of_the_verdict_unless_the_gate_includes_it() {
    let first: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let app = Router::new().route(
        "/warm",
        get(move || {
            let first = first.clone();
            async move {
                let now = Instant::now();
                let t0 = *first.lock().unwrap().get_or_insert(now);
                if now.duration_since(t0) < COLD_FOR {
                    tokio::time::sleep(COLD).await;
                }
                "warm"
            }
        }),
    );
    let server = Server::start(app).await;
    let gate = parse("ramp.yaml", RAMP_GATE);
    let r = load(&gate, &server.url(), 14).await;

    // The premise: every slow answer fell in the ramp-up, none in the steady phase.
    let p = &row(&r, "GET /warm").phases;
    let cold_ms = COLD.as_secs_f64() * 1000.0;
    assert!(
        r.load.ramp_up_s >= 2.9,
        "ramp-up {} s; 4 users at 1/s take 3 s",
        r.load.ramp_up_s
    );
    assert!(
        p.ramp_up.max_us as f64 / 1000.0 >= cold_ms,
        "no slow answer in the ramp-up: {:?}",
        p.ramp_up
    );
    assert!(
        (p.steady.max_us as f64 / 1000.0) < cold_ms,
        "a slow answer leaked into the steady phase: {:?}",
        p.steady
    );
    assert!(p.steady.requests >= 8, "too few steady samples: {}", p.steady.requests);

    let v = judge(&gate, &r);
    assert_eq!(v.checks.len(), 1);
    let c = &v.checks[0];
    assert!(!c.include_ramp_up);
    assert_eq!(c.samples, p.steady.requests);
    assert_eq!(c.outcome, Outcome::Pass, "ramp-up left out: {}", c.message());
    assert!(c.measured.unwrap() < 40.0);

    let in_target = parse(
        "ramp.yaml",
        &RAMP_GATE.replace("    avg: < 40ms", "    include_ramp_up: true\n    avg: < 40ms"),
    );
    let in_verdict = parse(
        "ramp.yaml",
        &RAMP_GATE.replace("targets:\n", "verdict:\n  include_ramp_up: true\ntargets:\n"),
    );
    for (how, g) in [("in the target", &in_target), ("in `verdict:`", &in_verdict)] {
        let v = judge(g, &r);
        assert_eq!(v.checks.len(), 1);
        let c = &v.checks[0];
        assert!(c.include_ramp_up, "{how}");
        assert_eq!(c.samples, p.ramp_up.requests + p.steady.requests, "{how}");
        assert_eq!(c.outcome, Outcome::Fail, "ramp-up included {how}: {}", c.message());
        assert!(c.measured.unwrap() >= 40.0, "{how}: {}", c.message());
        assert!(!v.passed());
    }
}

// ---------------------------------------------------------------------------------------------
// 5 and 9. gates/prismq.yaml against the demo; `perfgate report` re-renders the saved run
// ---------------------------------------------------------------------------------------------

const PREVIOUS_STEP: &str = "## An earlier step\n\nkeep me\n";

/// Items 5 and 9: `perfgate demo` passes gates/prismq.yaml (exit 0, every JUnit testcase passes);
/// `perfgate report` on its results gives the same verdict and byte-identical reports without load;
/// both append their markdown to `GITHUB_STEP_SUMMARY`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prismq_gate_passes_against_the_demo_and_report_rerenders_it() {
    let dir = TempDir::new("demo-pass");
    let (res, j, md, step) = (
        dir.join("r.json"),
        dir.join("j.xml"),
        dir.join("s.md"),
        dir.write("step.md", PREVIOUS_STEP),
    );
    let out = perfgate(
        &[
            "demo",
            "--run-time",
            "10s",
            "--seed",
            "1",
            "--out",
            s(&res),
            "--junit",
            s(&j),
            "--junit-flavor",
            "github",
            "--summary",
            s(&md),
        ],
        Some(&step),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(out.code, 0, "the demo must pass gates/prismq.yaml\n{}", out.both());

    let xml = read(&j);
    let rep = junit(&xml);
    assert_eq!((rep.tests, rep.failures, rep.errors), (7, 0, 0), "{xml}");
    let suite = &rep.test_suites[0];
    let case = suite
        .test_cases
        .iter()
        .find(|c| c.name.as_str() == "GET: avg < 100ms")
        .unwrap_or_else(|| panic!("no `GET: avg < 100ms` testcase:\n{xml}"));
    assert!(matches!(case.status, TestCaseStatus::Success { .. }), "{xml}");
    let prismq = read(&crate_dir().join("gates/prismq.yaml"));
    assert_eq!(
        case.extra.get("line").map(|l| l.as_str()),
        Some(line_of(&prismq, "- select: GET ").to_string().as_str())
    );

    let summary = read(&md);
    let t = tables(&summary);
    assert_eq!(
        t.len(),
        3,
        "a checks table, a stats table and a network table:\n{summary}"
    );
    assert_eq!(t[0].len(), 1 + 7, "header and one row per check:\n{summary}");
    assert_eq!(
        read(&step),
        format!("{PREVIOUS_STEP}{summary}\n"),
        "the run must append to GITHUB_STEP_SUMMARY"
    );

    // `report` judges the saved results again, with no load: same exit code, same reports.
    let (j2, md2) = (dir.join("j2.xml"), dir.join("s2.md"));
    let out = perfgate(
        &[
            "report",
            s(&res),
            "--gate",
            "gates/prismq.yaml",
            "--junit-flavor",
            "github",
            "--junit",
            s(&j2),
            "--summary",
            s(&md2),
        ],
        Some(&step),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.both());
    assert!(
        out.elapsed < Duration::from_secs(5),
        "report ran {:?}: it must not run load",
        out.elapsed
    );
    assert_eq!(read(&j2), xml, "report's JUnit differs from the run's");
    assert_eq!(read(&md2), summary, "report's summary differs from the run's");
    assert_eq!(
        read(&step),
        format!("{PREVIOUS_STEP}{summary}\n{summary}\n"),
        "report must append to GITHUB_STEP_SUMMARY, keeping what was there"
    );
}

/// Item 5 (failing side) and 9: `--slowdown 20` makes every demo route 20 times slower (GET routes
/// average about 10 ms, so about 200 ms): exit 1, the JUnit shows `GET: avg < 100ms` failing, and
/// `perfgate report` on the saved results exits 1 too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prismq_gate_fails_against_the_slowed_down_demo() {
    let dir = TempDir::new("demo-slow");
    let (res, j) = (dir.join("r.json"), dir.join("j.xml"));
    let out = perfgate(
        &[
            "demo",
            "--run-time",
            "10s",
            "--slowdown",
            "20",
            "--seed",
            "2",
            "--out",
            s(&res),
            "--junit",
            s(&j),
        ],
        None,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(out.code, 1, "the slowed-down demo must fail the gate\n{}", out.both());
    assert!(out.stdout.contains("FAIL"), "{}", out.both());

    let xml = read(&j);
    let rep = junit(&xml);
    let case = rep.test_suites[0]
        .test_cases
        .iter()
        .find(|c| c.name.as_str() == "GET: avg < 100ms")
        .unwrap_or_else(|| panic!("no `GET: avg < 100ms` testcase:\n{xml}"));
    assert!(is_failure(&case.status), "GET: avg < 100ms must fail:\n{xml}");
    assert_eq!(failure_type(&case.status), Some("threshold"));
    assert!(
        failure_message(&case.status).is_some_and(|m| m.contains("measured")),
        "{xml}"
    );

    let results = Results::read(&res).unwrap_or_else(|e| panic!("{e}"));
    let gate = Gate::load(&crate_dir().join("gates/prismq.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let v = judge(&gate, &results);
    let get = check(&v, "GET: avg < 100ms");
    assert!(get.measured.unwrap() > 100.0, "{}", get.message());
    assert_eq!(rep.failures, v.failing().count());

    let out = perfgate(
        &["report", s(&res), "--gate", "gates/prismq.yaml"],
        None,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(out.code, 1, "report must give the run's verdict\n{}", out.both());
    assert!(out.stdout.contains("GET: avg < 100ms"), "{}", out.both());
}

// ---------------------------------------------------------------------------------------------
// 6. Exit codes
// ---------------------------------------------------------------------------------------------

const EXIT_GATE: &str = r#"
version: 1
name: exits
load:
  users: 2
  run_time: 1500ms
scenarios:
  U:
    think_time: 10ms
    tasks:
      - request: GET /fast
      - request: GET /slow
targets:
  - select: GET /fast
    avg: < 1s
"#;

/// Item 6: 0 when every check passes, 1 when a target is missed, 2 for an invalid gate file or
/// arguments (before any load starts), 3 for an unreachable target (quickly, one line naming it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_0_1_2_3() {
    let server = Server::start(routes()).await;
    let url = server.url();
    let dir = TempDir::new("exits");
    let pass = dir.write("pass.yaml", EXIT_GATE);
    let fail = dir.write(
        "fail.yaml",
        &EXIT_GATE.replace("select: GET /fast\n    avg: < 1s", "select: GET /slow\n    avg: < 30ms"),
    );
    let invalid = dir.write("invalid.yaml", &EXIT_GATE.replace("avg: < 1s", "avg: < 1"));

    let pass_args = ["run", s(&pass), "--host", &url, "--seed", "1"];
    let fail_args = ["run", s(&fail), "--host", &url, "--seed", "1"];
    let (p, f) = tokio::join!(
        perfgate(&pass_args, None, Duration::from_secs(30)),
        perfgate(&fail_args, None, Duration::from_secs(30)),
    );
    assert_eq!(p.code, 0, "{}", p.both());
    assert!(p.stdout.contains("passed 1 of 1 checks"), "{}", p.both());
    assert_eq!(f.code, 1, "{}", f.both());
    assert!(f.stdout.contains("FAILED 1 of 1 checks"), "{}", f.both());
    assert!(f.stdout.contains("GET /slow: avg < 30ms"), "{}", f.both());
    let hits = server.hits();
    assert!(hits > 0);

    // Invalid input: rejected before any load (a 30 s run time that never starts).
    let missing = "/nonexistent-dir/x.xml";
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "invalid gate",
            vec!["run", s(&invalid), "--host", &url],
            "expected a latency with its unit",
        ),
        (
            "users 0",
            vec!["run", s(&pass), "--host", &url, "--users", "0"],
            "--users",
        ),
        (
            "unwritable junit",
            vec!["run", s(&pass), "--host", &url, "--junit", missing],
            missing,
        ),
    ];
    for (what, mut args, says) in cases {
        args.extend(["--run-time", "30s"]);
        let out = perfgate(&args, None, Duration::from_secs(20)).await;
        assert_eq!(out.code, 2, "{what}: exit 2\n{}", out.both());
        assert!(out.stderr.contains(says), "{what}: no `{says}`\n{}", out.both());
        assert!(out.elapsed < Duration::from_secs(5), "{what}: took {:?}", out.elapsed);
        assert!(!out.stdout.contains("Verdict"), "{what}\n{}", out.both());
    }
    assert!(
        std::fs::metadata("/nonexistent-dir").is_err(),
        "the test needs /nonexistent-dir not to exist"
    );
    assert_eq!(server.hits(), hits, "invalid input must be rejected before any request");
    let out = perfgate(&["validate", s(&invalid)], None, Duration::from_secs(20)).await;
    assert_eq!(out.code, 2, "{}", out.both());
    let at = format!("{}:{}:", s(&invalid), line_of(&read(&invalid), "avg: < 1"));
    assert!(out.stderr.contains(&at), "no `{at}`\n{}", out.both());

    // Unreachable: exit 3 at once, one line naming the URL.
    let dead = "http://127.0.0.1:1";
    let out = perfgate(
        &["run", s(&pass), "--host", dead, "--run-time", "30s"],
        None,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(out.code, 3, "{}", out.both());
    assert!(out.elapsed < Duration::from_secs(5), "took {:?}", out.elapsed);
    let naming: Vec<&str> = out.stderr.lines().filter(|l| l.contains(dead)).collect();
    assert_eq!(naming.len(), 1, "one line naming {dead}:\n{}", out.both());
    assert!(naming[0].starts_with("error: "), "{}", out.both());
    assert!(!out.stdout.contains("Verdict"), "{}", out.both());
}

// ---------------------------------------------------------------------------------------------
// 7. JUnit read back
// ---------------------------------------------------------------------------------------------

const JUNIT_GATE: &str = r#"# JUnit gate: the targets' lines are checked against the testcases' `line`.
version: 1
name: junit
load:
  users: 3
  run_time: 2s
scenarios:
  U:
    think_time: 10ms
    tasks:
      - request: GET /fast
      - request: GET /slow

targets:
  - select: GET
    avg: < 100ms
  - select: GET /slow
    avg: < 30ms
    max: < 10s
  - select: GET /nothing*
    avg: < 1s
"#;

/// Item 7: the JUnit file of a real run has one testcase per check and one failure per failing check,
/// named `GET: avg < 100ms`, with `file` and `line` at the target, run properties, and the stats rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junit_has_one_testcase_per_check_at_its_target_line() {
    let server = Server::start(routes()).await;
    let url = server.url();
    let dir = TempDir::new("junit");
    let gate_path = dir.write("junit.yaml", JUNIT_GATE);
    let (res, j, md) = (dir.join("r.json"), dir.join("j.xml"), dir.join("s.md"));
    let out = perfgate(
        &[
            "run",
            s(&gate_path),
            "--host",
            &url,
            "--seed",
            "42",
            "--out",
            s(&res),
            "--junit",
            s(&j),
            "--junit-flavor",
            "github",
            "--summary",
            s(&md),
        ],
        None,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(out.code, 1, "GET /slow avg and the no-data glob fail\n{}", out.both());

    let results = Results::read(&res).unwrap_or_else(|e| panic!("{e}"));
    let gate = Gate::load(&gate_path).unwrap_or_else(|e| panic!("{e}"));
    let v = judge(&gate, &results);
    let xml = read(&j);
    let rep = junit(&xml);
    assert_eq!(rep.test_suites.len(), 1);
    let suite = &rep.test_suites[0];
    assert_eq!(v.checks.len(), 4);
    assert_eq!((rep.tests, suite.tests, suite.test_cases.len()), (4, 4, 4), "{xml}");
    assert_eq!(v.failing().count(), 2);
    assert_eq!((rep.failures, suite.failures), (2, 2), "{xml}");

    let wanted = [
        ("GET: avg < 100ms", "- select: GET\n", None),
        ("GET /slow: avg < 30ms", "- select: GET /slow", Some("threshold")),
        ("GET /slow: max < 10s", "- select: GET /slow", None),
        ("GET /nothing*: avg < 1s", "- select: GET /nothing*", Some("no-data")),
    ];
    for ((name, target, failure), (case, c)) in wanted.iter().zip(suite.test_cases.iter().zip(&v.checks)) {
        assert_eq!(case.name.as_str(), *name, "{xml}");
        assert_eq!(c.name, *name);
        assert_eq!(failure_type(&case.status), *failure, "{name}:\n{xml}");
        assert_eq!(is_failure(&case.status), failure.is_some(), "{name}");
        assert_eq!(c.outcome != Outcome::Pass, failure.is_some(), "{name}: {}", c.message());
        // The line of the target as written in the file (the `- select:` line).
        let line = JUNIT_GATE
            .lines()
            .position(|l| format!("{}\n", l.trim_start()).starts_with(target))
            .map(|i| i + 1)
            .unwrap();
        assert_eq!(
            case.extra.get("file").map(|f| f.as_str()),
            Some(s(&gate_path)),
            "{name}"
        );
        assert_eq!(
            case.extra.get("line").map(|l| l.as_str()),
            Some(line.to_string().as_str()),
            "{name}"
        );
        let text = case.system_out.as_deref().unwrap_or_default();
        assert!(
            text.contains(&c.message()),
            "{name}: system-out lacks `{}`:\n{text}",
            c.message()
        );
        for n in &c.requests {
            let all = row(&results, n).phases.all();
            let stats = format!("{n}: {} requests, {} failures, avg ", all.requests, all.failures);
            assert!(text.contains(&stats), "{name}: system-out lacks `{stats}`:\n{text}");
        }
    }
    // The stats rows of both names are in the GET check's output.
    assert_eq!(v.checks[0].requests, ["GET /fast", "GET /slow"]);

    let prop = |k: &str| {
        suite
            .properties
            .iter()
            .find(|p| p.name.as_str() == k)
            .map(|p| p.value.as_str().to_string())
            .unwrap_or_else(|| panic!("no property `{k}`:\n{xml}"))
    };
    assert_eq!(prop("target"), url);
    assert_eq!(prop("users"), "3");
    assert_eq!(prop("seed"), "42");
    assert_eq!(prop("gate.sha256"), gate.sha256);

    // The summary of the same run: both tables well formed, one checks row per check.
    let summary = read(&md);
    let t = tables(&summary);
    assert_eq!(t.len(), 3, "checks, stats and network tables:\n{summary}");
    assert_eq!(t[0].len(), 1 + 4, "{summary}");
}

// ---------------------------------------------------------------------------------------------
// 8. Markdown with `|` in a request name
// ---------------------------------------------------------------------------------------------

const PIPE_GATE: &str = r#"
version: 1
name: pipe
load:
  users: 2
  run_time: 1s
scenarios:
  U:
    think_time: 10ms
    tasks:
      - request: {method: GET, path: /fast, name: "GET /a|b"}
targets:
  - select: "GET /a|b"
    avg: < 1s
  - select: "GET /a|*"
    each: true
    requests: 1000000
"#;

/// Item 8: a request named `GET /a|b` still renders GitHub tables whose rows have as many cells as
/// their header, and the cells hold the name intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markdown_tables_survive_a_pipe_in_a_request_name() {
    let server = Server::start(routes()).await;
    let gate = parse("pipe.yaml", PIPE_GATE);
    let r = load(&gate, &server.url(), 15).await;
    assert!(steady(&r, "GET /a|b").requests > 0);
    let v = judge(&gate, &r);
    assert_eq!(names(&v), ["GET /a|b: avg < 1s", "GET /a|b: requests >= 1000000"]);
    let md = perfgate::report::markdown::render(&perfgate::report::Input {
        results: &r,
        verdict: &v,
        base: None,
        gate_file: "pipe.yaml",
    });
    let t = tables(&md);
    assert_eq!(t.len(), 3, "a checks table, a stats table and a network table:\n{md}");
    let (checks, stats) = (&t[0], &t[1]);
    // The network table keeps its nine cells on the row of the name with a `|`.
    assert!(t[2].iter().all(|r| r.len() == 9), "{md}");
    assert!(t[2].iter().any(|r| r[0] == "GET /a|b"), "{md}");
    assert_eq!(checks[0].len(), 5, "{md}");
    assert_eq!(checks.len(), 1 + 2, "{md}");
    for c in &v.checks {
        let r = checks[1..]
            .iter()
            .find(|r| r[1] == c.name)
            .unwrap_or_else(|| panic!("no checks row with the cell `{}`: {checks:?}\n{md}", c.name));
        assert_eq!(r[4], c.samples.to_string(), "the Samples cell of `{}`: {r:?}", c.name);
    }
    assert_eq!(stats[0].len(), 12, "{md}");
    let all = row(&r, "GET /a|b").phases.all();
    let pipe = stats[1..]
        .iter()
        .find(|r| r[0] == "GET /a|b")
        .unwrap_or_else(|| panic!("no stats row for `GET /a|b`: {stats:?}\n{md}"));
    assert_eq!(pipe[1], all.requests.to_string(), "the Requests cell: {pipe:?}");
    assert_eq!(pipe[2], all.failures.to_string(), "the Fails cell: {pipe:?}");
}
