//! Publishing against a loopback fake of GitHub's REST API that records and checks every request:
//! the sticky comment (create, update, someone else's marker, pagination, size cap, 403, retries),
//! the three event kinds, outputs, annotations, and that the token never reaches the output.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

const TOKEN: &str = "ghs_s3cr3tTokenValue";
const MARKER: &str = "<!-- perfgate:prismq -->";

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: String,
    auth: String,
    agent: String,
    at: std::time::Instant,
    body: Value,
}

#[derive(Clone, Default)]
struct Fake {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Comments on PR 7, in order.
    comments: Arc<Mutex<Vec<Value>>>,
    /// `/user` answers this login, or 403 when None.
    login: Option<String>,
    /// Status codes to answer the next POSTs with, before succeeding.
    post_failures: Arc<Mutex<Vec<u16>>>,
    /// Headers sent with those failures (`retry-after`, `x-ratelimit-*`).
    failure_headers: Vec<(&'static str, String)>,
    /// The failed POSTs created the comment all the same (the answer was lost on the way).
    lost_answers: bool,
    /// The comment list answers 200 with this body instead of the comments.
    junk_list: Option<&'static str>,
    /// Pull requests (`GET /pulls/{n}`, `GET /pulls?head=owner:branch`).
    pulls: Vec<Value>,
}

fn record(f: &Fake, method: Method, uri: &Uri, headers: &HeaderMap, body: Value) {
    f.seen.lock().unwrap().push(Seen {
        method,
        uri: uri.to_string(),
        auth: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        agent: headers
            .get_all("user-agent")
            .iter()
            .map(|v| v.to_str().unwrap_or("?"))
            .collect::<Vec<_>>()
            .join(", "),
        at: std::time::Instant::now(),
        body,
    });
}

async fn user(State(f): State<Fake>, uri: Uri, h: HeaderMap) -> (StatusCode, Json<Value>) {
    record(&f, Method::GET, &uri, &h, Value::Null);
    match &f.login {
        Some(l) => (StatusCode::OK, Json(json!({"login": l}))),
        None => (
            StatusCode::FORBIDDEN,
            Json(json!({"message": "Resource not accessible by integration"})),
        ),
    }
}

async fn list(
    State(f): State<Fake>,
    Path((_o, _r, _pr)): Path<(String, String, u64)>,
    Query(q): Query<HashMap<String, String>>,
    uri: Uri,
    h: HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    record(&f, Method::GET, &uri, &h, Value::Null);
    if let Some(junk) = f.junk_list {
        return (StatusCode::OK, junk).into_response();
    }
    let per: usize = q.get("per_page").and_then(|v| v.parse().ok()).unwrap_or(30);
    let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1);
    let all = f.comments.lock().unwrap().clone();
    Json(Value::Array(all.into_iter().skip((page - 1) * per).take(per).collect())).into_response()
}

async fn create(
    State(f): State<Fake>,
    Path((_o, _r, _pr)): Path<(String, String, u64)>,
    uri: Uri,
    h: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, HeaderMap, Json<Value>) {
    record(&f, Method::POST, &uri, &h, body.clone());
    let fail = {
        let mut q = f.post_failures.lock().unwrap();
        (!q.is_empty()).then(|| q.remove(0))
    };
    let id = {
        let mut c = f.comments.lock().unwrap();
        let id = 1000 + c.len() as u64;
        if fail.is_none() || f.lost_answers {
            let login = f.login.clone().unwrap_or_else(|| "github-actions[bot]".into());
            c.push(json!({"id": id, "body": body["body"], "user": {"login": login}}));
        }
        id
    };
    if let Some(code) = fail {
        let mut headers = HeaderMap::new();
        for (k, v) in &f.failure_headers {
            headers.insert(*k, v.parse().unwrap());
        }
        let message = if code == 403 && !f.failure_headers.is_empty() {
            "You have exceeded a secondary rate limit"
        } else {
            "nope"
        };
        return (
            StatusCode::from_u16(code).unwrap(),
            headers,
            Json(json!({"message": message})),
        );
    }
    (StatusCode::CREATED, HeaderMap::new(), Json(json!({"id": id})))
}

async fn update(
    State(f): State<Fake>,
    Path((_o, _r, id)): Path<(String, String, u64)>,
    uri: Uri,
    h: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    record(&f, Method::PATCH, &uri, &h, body.clone());
    for c in f.comments.lock().unwrap().iter_mut() {
        if c["id"] == id {
            c["body"] = body["body"].clone();
        }
    }
    Json(json!({"id": id}))
}

async fn pull(
    State(f): State<Fake>,
    Path((_o, _r, n)): Path<(String, String, u64)>,
    uri: Uri,
    h: HeaderMap,
) -> (StatusCode, Json<Value>) {
    record(&f, Method::GET, &uri, &h, Value::Null);
    match f.pulls.iter().find(|p| p["number"] == n) {
        Some(p) => (StatusCode::OK, Json(p.clone())),
        None => (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))),
    }
}

async fn pulls(State(f): State<Fake>, Query(q): Query<HashMap<String, String>>, uri: Uri, h: HeaderMap) -> Json<Value> {
    record(&f, Method::GET, &uri, &h, Value::Null);
    let head = q.get("head").cloned().unwrap_or_default();
    Json(Value::Array(
        f.pulls
            .iter()
            .filter(|p| p["head"]["label"] == head.as_str())
            .cloned()
            .collect(),
    ))
}

async fn serve(f: Fake) -> String {
    let app = Router::new()
        .route("/api/v3/user", get(user))
        .route("/api/v3/repos/{o}/{r}/pulls", get(pulls))
        .route("/api/v3/repos/{o}/{r}/pulls/{n}", get(pull))
        .route("/api/v3/repos/{o}/{r}/issues/{pr}/comments", get(list).post(create))
        .route("/api/v3/repos/{o}/{r}/issues/comments/{id}", patch(update))
        .with_state(f);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    // An Enterprise-style API base with a path prefix.
    format!("http://{addr}/api/v3")
}

/// One real results file of the example gate against the demo, made once for every test.
fn results_file() -> PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("perfgate-github-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("r.json");
        let st = Command::new(env!("CARGO_BIN_EXE_perfgate"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args([
                "demo",
                "--run-time",
                "3s",
                "--users",
                "10",
                "--spawn-rate",
                "10",
                "-q",
                "--out",
            ])
            .arg(&out)
            .output()
            .unwrap();
        assert!(out.exists(), "{}", String::from_utf8_lossy(&st.stderr));
        out
    })
    .clone()
}

/// The exit code `report` gives for the results file without publishing anything.
fn plain_code() -> Option<i32> {
    static CODE: OnceLock<Option<i32>> = OnceLock::new();
    *CODE.get_or_init(|| {
        Command::new(env!("CARGO_BIN_EXE_perfgate"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .arg("report")
            .arg(results_file())
            .args(["--gate", "gates/prismq.yaml"])
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY")
            .output()
            .unwrap()
            .status
            .code()
    })
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    outputs: String,
}

fn event_file(kind: &str) -> PathBuf {
    let event = match kind {
        "pull_request" | "pull_request_target" => {
            json!({"pull_request": {"number": 7, "head": {"sha": "headsha7"}, "merge_commit_sha": "mergesha"}})
        }
        // A fork's pull request: GitHub leaves `pull_requests` empty.
        "workflow_run_fork" => json!({"workflow_run": {
            "event": "pull_request", "head_sha": "f0f0f0", "head_branch": "feature",
            "head_repository": {"owner": {"login": "mallory"}}, "pull_requests": []}}),
        _ => json!({"workflow_run": {"head_sha": "headsha7", "pull_requests": [{"number": 7}]}}),
    };
    // One file per call: tests run in parallel, and a file another test is rewriting reads as empty.
    let p = std::env::temp_dir().join(format!(
        "perfgate-event-{kind}-{}-{}.json",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::write(&p, event.to_string()).unwrap();
    p
}

async fn comment(api: &str, kind: &str, token: Option<&str>) -> Run {
    comment_with(api, kind, token, &[], &[]).await
}

/// `perfgate report results.json --comment` with extra arguments and environment.
async fn comment_with(api: &str, kind: &str, token: Option<&str>, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let envs: Vec<(String, String)> = envs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let results = results_file();
    let out = std::env::temp_dir().join(format!("perfgate-gh-out-{}-{}", std::process::id(), rand_suffix()));
    let api = api.to_string();
    let kind = kind.to_string();
    let token = token.map(str::to_string);
    let outc = out.clone();
    let o = tokio::task::spawn_blocking(move || {
        let event = event_file(&kind);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_perfgate"));
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["report"])
            .arg(&results)
            .args(["--gate", "gates/prismq.yaml", "--comment"])
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_REPOSITORY", "octo/shop")
            .env("GITHUB_API_URL", &api)
            .env("GITHUB_EVENT_NAME", &kind)
            .env("GITHUB_EVENT_PATH", &event)
            .env("GITHUB_OUTPUT", &outc)
            .env("PERFGATE_GITHUB_BACKOFF_MS", "10")
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("PERFGATE_COMMENT_AUTHOR")
            .env_remove("GH_TOKEN")
            .args(&args)
            .envs(envs);
        match &token {
            Some(t) => cmd.env("GITHUB_TOKEN", t),
            None => cmd.env_remove("GITHUB_TOKEN"),
        };
        let output = cmd.output().unwrap();
        let _ = std::fs::remove_file(&event);
        output
    })
    .await
    .unwrap();
    let outputs = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    let run = Run {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        outputs,
    };
    assert!(
        !run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN),
        "the token was printed"
    );
    run
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn seen(f: &Fake) -> Vec<Seen> {
    f.seen.lock().unwrap().clone()
}

fn other(id: u64, login: &str, body: &str) -> Value {
    json!({"id": id, "body": body, "user": {"login": login}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_the_comment_when_none_exists() {
    let f = Fake {
        login: Some("perfgate-bot".into()),
        ..Fake::default()
    };
    let api = serve(f.clone()).await;
    let run = comment(&api, "pull_request", Some(TOKEN)).await;
    assert_eq!(run.code, plain_code(), "{}", run.stderr);
    let s = seen(&f);
    let posts: Vec<&Seen> = s.iter().filter(|r| r.method == Method::POST).collect();
    assert_eq!(posts.len(), 1, "{s:?}");
    assert_eq!(posts[0].uri, "/api/v3/repos/octo/shop/issues/7/comments");
    assert_eq!(posts[0].auth, format!("Bearer {TOKEN}"));
    let body = posts[0].body["body"].as_str().unwrap();
    assert!(body.starts_with(MARKER), "{body}");
    assert!(
        body.contains("perfgate `prismq`") && body.contains("headsha7"),
        "{body}"
    );
    assert!(!body.contains("mergesha"), "the head commit, never the merge commit");
    assert!(run.stderr.contains("created comment 1000"), "{}", run.stderr);
    let word = if plain_code() == Some(0) {
        "verdict=pass"
    } else {
        "verdict=fail"
    };
    assert!(run.outputs.contains(word), "{}", run.outputs);
    assert!(matches!(plain_code(), Some(0) | Some(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_our_comment_in_place_with_patch() {
    let f = Fake {
        login: Some("perfgate-bot".into()),
        ..Fake::default()
    };
    f.comments.lock().unwrap().extend([
        other(1, "alice", "LGTM"),
        other(2, "perfgate-bot", &format!("{MARKER}\nold numbers")),
    ]);
    let api = serve(f.clone()).await;
    let run = comment(&api, "pull_request_target", Some(TOKEN)).await;
    assert_eq!(run.code, plain_code(), "{}", run.stderr);
    let s = seen(&f);
    assert!(s.iter().all(|r| r.method != Method::POST), "no new comment: {s:?}");
    let patches: Vec<&Seen> = s.iter().filter(|r| r.method == Method::PATCH).collect();
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].uri, "/api/v3/repos/octo/shop/issues/comments/2");
    assert!(patches[0].body["body"].as_str().unwrap().contains("Per-request stats"));
    assert_eq!(
        f.comments.lock().unwrap()[0]["body"],
        "LGTM",
        "other comments untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaves_alone_a_marker_comment_by_someone_else() {
    // /user is forbidden (a workflow token): we are the Actions bot, and alice's copy of our marker is not ours.
    let f = Fake::default();
    f.comments
        .lock()
        .unwrap()
        .push(other(5, "alice", &format!("quoting {MARKER}")));
    let api = serve(f.clone()).await;
    let run = comment(&api, "workflow_run", Some(TOKEN)).await;
    assert_eq!(run.code, plain_code(), "{}", run.stderr);
    let s = seen(&f);
    assert!(s.iter().all(|r| r.method != Method::PATCH), "{s:?}");
    assert_eq!(s.iter().filter(|r| r.method == Method::POST).count(), 1);
    assert_eq!(f.comments.lock().unwrap()[0]["body"], format!("quoting {MARKER}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_every_page_for_our_comment() {
    let f = Fake {
        login: Some("perfgate-bot".into()),
        ..Fake::default()
    };
    {
        let mut c = f.comments.lock().unwrap();
        for i in 0..200 {
            c.push(other(10 + i, "someone", "chatter"));
        }
        c.push(other(999, "perfgate-bot", &format!("{MARKER}\nold")));
    }
    let api = serve(f.clone()).await;
    let run = comment(&api, "pull_request", Some(TOKEN)).await;
    assert_eq!(run.code, plain_code(), "{}", run.stderr);
    let s = seen(&f);
    let pages: Vec<&str> = s
        .iter()
        .filter(|r| r.method == Method::GET && r.uri.contains("/comments"))
        .map(|r| r.uri.as_str())
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(pages[2].contains("page=3") && pages[2].contains("per_page=100"));
    assert_eq!(
        s.iter()
            .filter(|r| r.method == Method::PATCH)
            .map(|r| r.uri.as_str())
            .collect::<Vec<_>>(),
        ["/api/v3/repos/octo/shop/issues/comments/999"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_is_a_notice_and_the_exit_code_stays() {
    let f = Fake {
        login: Some("perfgate-bot".into()),
        ..Fake::default()
    };
    f.post_failures.lock().unwrap().extend([403]);
    let api = serve(f.clone()).await;
    let run = comment(&api, "pull_request", Some(TOKEN)).await;
    assert_eq!(
        run.code,
        plain_code(),
        "publishing never changes the exit code: {}",
        run.stderr
    );
    assert!(
        run.stdout.contains("::notice title=perfgate::PR comment skipped"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("403"));
    assert_eq!(
        seen(&f).iter().filter(|r| r.method == Method::POST).count(),
        1,
        "a 403 is not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried() {
    let f = Fake {
        login: Some("perfgate-bot".into()),
        ..Fake::default()
    };
    f.post_failures.lock().unwrap().extend([502, 503]);
    let api = serve(f.clone()).await;
    let run = comment(&api, "pull_request", Some(TOKEN)).await;
    assert_eq!(run.code, plain_code());
    assert_eq!(
        seen(&f).iter().filter(|r| r.method == Method::POST).count(),
        3,
        "two 5xx, then success"
    );
    assert!(run.stderr.contains("created comment"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_skips_the_comment_with_a_notice() {
    let f = Fake::default();
    let api = serve(f.clone()).await;
    let run = comment(&api, "pull_request", None).await;
    assert_eq!(run.code, plain_code());
    assert!(run.stdout.contains("no GITHUB_TOKEN"), "{}", run.stdout);
    assert!(seen(&f).is_empty(), "nothing sent without a token");
}

#[test]
fn the_body_is_capped_at_githubs_limit() {
    use perfgate::metrics::results::{Phases, RequestStats};
    let text = std::fs::read_to_string(results_file()).unwrap();
    let mut r = perfgate::metrics::Results::from_json("r.json", &text).unwrap();
    for i in 0..3000 {
        r.requests.push(RequestStats {
            name: format!("GET /api/a/very/long/path/segment/number/{i}/with/more/words"),
            method: perfgate::http::Method::Get,
            lifecycle: false,
            phases: Phases::default(),
        });
    }
    let gate = perfgate::gate::Gate::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/gates/prismq.yaml"
    )))
    .unwrap();
    let v = perfgate::verdict::judge(&gate, &r);
    let input = perfgate::report::Input {
        results: &r,
        verdict: &v,
        base: None,
        gate_file: "gates/prismq.yaml",
    };
    let body = perfgate::github::body::render(&input, &perfgate::github::body::Context::default());
    assert!(body.chars().count() <= 65_536, "{}", body.chars().count());
    assert!(body.contains("more lines cut"));
    assert!(body.starts_with(MARKER));
}

#[test]
fn failing_checks_become_error_annotations_at_the_target_line() {
    let text = std::fs::read_to_string(results_file()).unwrap();
    let r = perfgate::metrics::Results::from_json("r.json", &text).unwrap();
    let yaml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/gates/prismq.yaml"))
        .unwrap()
        .replace("avg: < 100ms", "avg: < 1us");
    let gate = perfgate::gate::Gate::parse("gates/prismq.yaml", &yaml).unwrap();
    let v = perfgate::verdict::judge(&gate, &r);
    let input = perfgate::report::Input {
        results: &r,
        verdict: &v,
        base: None,
        gate_file: "gates/prismq.yaml",
    };
    let lines = perfgate::github::annotations(&input);
    let line_of = yaml.lines().position(|l| l.contains("select: GET")).unwrap() + 1;
    assert!(
        lines.iter().any(|l| l.starts_with(&format!(
            "::error file=gates/prismq.yaml,line={line_of},title=perfgate%3A GET%3A avg < 1us::measured"
        ))),
        "{lines:#?}"
    );
    assert!(lines.len() <= 20);
}

/// An API that accepts connections and never answers.
async fn stalled_api() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let n = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = listener.accept().await {
            n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(c);
        }
    });
    (format!("http://{addr}/api/v3"), accepted)
}

/// `perfgate report --comment` against `api`, with `env` added; the child, not waited for.
fn start_comment(api: &str, env: &[(&str, &str)]) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_perfgate"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("report")
        .arg(results_file())
        .args(["--gate", "gates/prismq.yaml", "--comment"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_REPOSITORY", "octo/shop")
        .env("GITHUB_API_URL", api)
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", event_file("pull_request"))
        .env("GITHUB_TOKEN", TOKEN)
        .env_remove("GITHUB_OUTPUT")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("PERFGATE_COMMENT_AUTHOR")
        .env_remove("PERFGATE_PUBLISH_TIMEOUT")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Waits at most `limit` for the child; kills it and panics past that. Returns its code and stderr.
fn finish_within(mut child: std::process::Child, limit: std::time::Duration) -> (Option<i32>, String) {
    use std::io::Read;
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still publishing {limit:?} later");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let code = child.wait().unwrap().code();
    let mut err = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    (code, err)
}

/// Before: about 3 minutes (3 attempts x 30 s for each API call) after the reports, with SIGTERM
/// ignored; now publishing is cut at PERFGATE_PUBLISH_TIMEOUT, saying so, with the verdict's code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_api_is_cut_off_at_the_publishing_limit() {
    let want = plain_code();
    let (api, _) = stalled_api().await;
    let child = start_comment(&api, &[("PERFGATE_PUBLISH_TIMEOUT", "1s")]);
    let (code, err) = tokio::task::spawn_blocking(move || finish_within(child, std::time::Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(code, want, "publishing never changes the exit code: {err}");
    assert!(err.contains("did not finish within 1s"), "{err}");
}

/// A stop signal while the comment is being posted stops publishing at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_stops_publishing() {
    let want = plain_code();
    let (api, accepted) = stalled_api().await;
    let child = start_comment(&api, &[]);
    let pid = child.id();
    let (code, err) = tokio::task::spawn_blocking(move || {
        let start = std::time::Instant::now();
        while accepted.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "never called the API"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(pid as i32, libc::SIGTERM);
        }
        finish_within(child, std::time::Duration::from_secs(10))
    })
    .await
    .unwrap();
    assert_eq!(code, want, "{err}");
    assert!(err.contains("stopped by a signal"), "{err}");
}

fn posts(f: &Fake) -> Vec<Seen> {
    seen(f).into_iter().filter(|r| r.method == Method::POST).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_says_it_is_perfgate() {
    let f = Fake {
        login: Some("perfgate-bot".into()),
        ..Fake::default()
    };
    let api = serve(f.clone()).await;
    let run = comment(&api, "pull_request", Some(TOKEN)).await;
    assert!(run.stderr.contains("created comment"), "{}", run.stderr);
    let want = format!("perfgate/{}", env!("CARGO_PKG_VERSION"));
    let s = seen(&f);
    assert!(s.len() >= 3, "{s:?}");
    for r in &s {
        assert_eq!(r.agent, want, "{} {}", r.method, r.uri);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secondary_rate_limit_is_waited_out_as_retry_after_says() {
    // GitHub's secondary rate limit: 403 with `retry-after: 1`. The backoff alone would retry after
    // 10 ms; the second POST must come at least a second later.
    let f = Fake {
        login: Some("perfgate-bot".into()),
        failure_headers: vec![("retry-after", "1".into())],
        ..Fake::default()
    };
    f.post_failures.lock().unwrap().extend([403]);
    let api = serve(f.clone()).await;
    let run = comment(&api, "pull_request", Some(TOKEN)).await;
    assert!(run.stderr.contains("created comment"), "{}", run.stderr);
    let p = posts(&f);
    assert_eq!(p.len(), 2, "{p:?}");
    let waited = p[1].at - p[0].at;
    assert!(waited >= std::time::Duration::from_millis(1000), "waited {waited:?}");
    assert!(run.stderr.contains("trying again in 1.0 s"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_primary_rate_limit_waits_until_its_reset() {
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let f = Fake {
        login: Some("perfgate-bot".into()),
        failure_headers: vec![
            ("x-ratelimit-remaining", "0".into()),
            ("x-ratelimit-reset", reset.to_string()),
        ],
        ..Fake::default()
    };
    f.post_failures.lock().unwrap().extend([403]);
    let api = serve(f.clone()).await;
    let run = comment(&api, "pull_request", Some(TOKEN)).await;
    assert!(run.stderr.contains("created comment"), "{}", run.stderr);
    let p = posts(&f);
    assert_eq!(p.len(), 2);
    // The reset is now (rounded down): perfgate waits the second up to it and one more.
    assert!(p[1].at - p[0].at >= std::time::Duration::from_millis(900));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_longer_than_the_cap_gives_up_at_once_with_a_notice() {
    let f = Fake {
        login: Some("perfgate-bot".into()),
        failure_headers: vec![("retry-after", "30".into())],
        ..Fake::default()
    };
    f.post_failures.lock().unwrap().extend([403, 403, 403]);
    let api = serve(f.clone()).await;
    let start = std::time::Instant::now();
    let run = comment_with(
        &api,
        "pull_request",
        Some(TOKEN),
        &[],
        &[("PERFGATE_GITHUB_MAX_WAIT", "2")],
    )
    .await;
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(run.code, plain_code());
    assert_eq!(posts(&f).len(), 1);
    assert!(
        run.stdout.contains("::notice title=perfgate::PR comment skipped")
            && run.stdout.contains("asks to wait 30 s, longer than the 2 s"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_that_is_not_a_list_posts_nothing() {
    for junk in [
        "<!DOCTYPE html><html><body>Unicorn!</body></html>",
        r#"{"message": "Moved Permanently"}"#,
    ] {
        let f = Fake {
            login: Some("perfgate-bot".into()),
            junk_list: Some(junk),
            ..Fake::default()
        };
        let api = serve(f.clone()).await;
        let run = comment(&api, "pull_request", Some(TOKEN)).await;
        assert_eq!(run.code, plain_code());
        assert!(posts(&f).is_empty(), "a duplicate was posted on a junk answer");
        assert!(
            run.stdout.contains("PR comment skipped") && run.stdout.contains("expected a list of comments"),
            "{}",
            run.stdout
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_token_finds_the_comment_its_app_posted() {
    // An installation token may not read GET /user (403): our comment is the one with the marker
    // that was posted through an app, here `perf-app[bot]`; alice's quote of the marker is not.
    let app_comment = |id: u64| {
        json!({"id": id, "body": format!("{MARKER}\nold"), "user": {"login": "perf-app[bot]", "type": "Bot"},
               "performed_via_github_app": {"slug": "perf-app", "id": 42}})
    };
    let f = Fake::default();
    f.comments
        .lock()
        .unwrap()
        .extend([other(4, "alice", &format!("quoting {MARKER}")), app_comment(5)]);
    let api = serve(f.clone()).await;
    let run = comment(&api, "pull_request", Some(TOKEN)).await;
    assert!(run.stderr.contains("updated comment 5"), "{}", run.stderr);
    assert!(posts(&f).is_empty());
    assert_eq!(f.comments.lock().unwrap()[0]["body"], format!("quoting {MARKER}"));

    // PERFGATE_COMMENT_AUTHOR names the author outright, whatever /user says.
    let f = Fake {
        login: Some("someone-else".into()),
        ..Fake::default()
    };
    f.comments.lock().unwrap().push(app_comment(6));
    let api = serve(f.clone()).await;
    let run = comment_with(
        &api,
        "pull_request",
        Some(TOKEN),
        &[],
        &[("PERFGATE_COMMENT_AUTHOR", "perf-app[bot]")],
    )
    .await;
    assert!(run.stderr.contains("updated comment 6"), "{}", run.stderr);
    assert!(posts(&f).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_whose_answer_was_lost_is_not_sent_twice() {
    // The POST created the comment but GitHub answered 502: listing again finds it and updates it.
    let f = Fake {
        login: Some("perfgate-bot".into()),
        lost_answers: true,
        ..Fake::default()
    };
    f.post_failures.lock().unwrap().extend([502]);
    let api = serve(f.clone()).await;
    let run = comment(&api, "pull_request", Some(TOKEN)).await;
    assert_eq!(posts(&f).len(), 1, "{:?}", seen(&f));
    assert!(run.stderr.contains("updated comment 1000"), "{}", run.stderr);
    assert_eq!(f.comments.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_jobs_keep_a_comment_each_by_key() {
    let f = Fake {
        login: Some("perfgate-bot".into()),
        ..Fake::default()
    };
    f.comments
        .lock()
        .unwrap()
        .push(other(1, "perfgate-bot", &format!("{MARKER}\nwithout a key")));
    let api = serve(f.clone()).await;
    for key in ["linux", "macos", "linux"] {
        let run = comment_with(&api, "pull_request", Some(TOKEN), &["--comment-key", key], &[]).await;
        assert!(run.stderr.contains("comment"), "{}", run.stderr);
    }
    let c = f.comments.lock().unwrap().clone();
    assert_eq!(c.len(), 3, "{c:#?}");
    assert_eq!(
        c[0]["body"],
        format!("{MARKER}\nwithout a key"),
        "the keyless comment stays"
    );
    assert!(c[1]["body"]
        .as_str()
        .unwrap()
        .starts_with("<!-- perfgate:prismq key=linux -->"));
    assert!(c[2]["body"]
        .as_str()
        .unwrap()
        .starts_with("<!-- perfgate:prismq key=macos -->"));
    let s = seen(&f);
    assert_eq!(s.iter().filter(|r| r.method == Method::POST).count(), 2);
    assert_eq!(
        s.iter()
            .filter(|r| r.method == Method::PATCH)
            .map(|r| r.uri.as_str())
            .collect::<Vec<_>>(),
        ["/api/v3/repos/octo/shop/issues/comments/1001"]
    );
}

/// `perfgate comment` as a workflow would run it, with or without `--dry-run`.
fn comment_cmd(api: &str, results: &std::path::Path, extra: &[&str], token: Option<&str>) -> std::process::Output {
    comment_cmd_on(api, "pull_request", results, extra, token)
}

fn comment_cmd_on(
    api: &str,
    kind: &str,
    results: &std::path::Path,
    extra: &[&str],
    token: Option<&str>,
) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_perfgate"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("comment")
        .arg(results)
        .args(["--gate", "gates/prismq.yaml"])
        .args(extra)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_REPOSITORY", "octo/shop")
        .env("GITHUB_SERVER_URL", "https://github.example")
        .env("GITHUB_RUN_ID", "4242")
        .env("GITHUB_API_URL", api)
        .env(
            "GITHUB_EVENT_NAME",
            if kind == "workflow_run_fork" {
                "workflow_run"
            } else {
                kind
            },
        )
        .env("GITHUB_EVENT_PATH", event_file(kind))
        .env("PERFGATE_GITHUB_BACKOFF_MS", "10")
        .env_remove("GITHUB_OUTPUT")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("PERFGATE_COMMENT_AUTHOR")
        .env_remove("GH_TOKEN");
    match token {
        Some(t) => cmd.env("GITHUB_TOKEN", t),
        None => cmd.env_remove("GITHUB_TOKEN"),
    };
    cmd.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_prints_exactly_the_body_it_would_post() {
    let f = Fake {
        login: Some("perfgate-bot".into()),
        ..Fake::default()
    };
    let api = serve(f.clone()).await;
    let results = results_file();
    let (api2, r2) = (api.clone(), results.clone());
    let dry = tokio::task::spawn_blocking(move || comment_cmd(&api2, &r2, &["--dry-run"], None))
        .await
        .unwrap();
    assert!(seen(&f).is_empty(), "a dry run sends nothing");
    let printed = String::from_utf8(dry.stdout).unwrap();
    assert!(printed.starts_with(MARKER), "{printed}");
    assert!(
        printed.contains("[workflow run](https://github.example/octo/shop/actions/runs/4242)")
            && printed.contains("(https://github.example/octo/shop/actions/runs/4242#artifacts)"),
        "{printed}"
    );
    let real = tokio::task::spawn_blocking(move || comment_cmd(&api, &results, &[], Some(TOKEN)))
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&real.stderr).contains("created comment"),
        "{}",
        String::from_utf8_lossy(&real.stderr)
    );
    let p = posts(&f);
    assert_eq!(p.len(), 1);
    assert_eq!(
        p[0].body["body"].as_str().unwrap(),
        printed,
        "the dry run printed another body"
    );
    assert_eq!(dry.status.code(), real.status.code());
}

/// The body for a results file, with and without a baseline (the same run as its own base).
fn body_for(r: &perfgate::metrics::Results, gate_file: &str, base: bool) -> String {
    let gate = perfgate::gate::Gate::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/gates/prismq.yaml"
    )))
    .unwrap();
    let v = if base {
        perfgate::verdict::judge_with_baseline(&gate, r, r, perfgate::verdict::compare::Mode::Sequential)
    } else {
        perfgate::verdict::judge(&gate, r)
    };
    let input = perfgate::report::Input {
        results: r,
        verdict: &v,
        base: None,
        gate_file,
    };
    perfgate::github::body::render(
        &input,
        &perfgate::github::body::Context {
            key: None,
            pr_head: Some("0123456789abcdef"),
            base: base.then_some(r),
            run_url: None,
            accept_label: None,
        },
    )
}

#[test]
fn the_body_says_no_baseline_plainly_puts_problems_first_and_keeps_runner_paths_out() {
    let text = std::fs::read_to_string(results_file()).unwrap();
    let mut r = perfgate::metrics::Results::from_json("r.json", &text).unwrap();
    let tmp = std::env::temp_dir().join("perfgate-runner-dir");
    r.commit = Some("0123456789abcdef0123".into());
    r.server = Some(perfgate::metrics::results::ServerInfo {
        command: "uvicorn app:app".into(),
        log: tmp.join("perfgate-service-1.log").display().to_string(),
        samples: vec![],
        exited: Some(format!("the service exited; see {}", tmp.join("x.log").display())),
    });
    let local_gate = "/home/runner/work/shop/shop/gates/prismq.yaml";

    let none = body_for(&r, local_gate, false);
    assert!(
        none.contains("**No baseline found: regressions were not checked.**"),
        "{none}"
    );
    assert!(!none.contains("No regression"), "{none}");
    assert!(none.contains("**Measured** `0123456789ab`"), "{none}");
    for local in [tmp.display().to_string(), "/home/runner".to_string()] {
        assert!(!none.contains(&local), "a runner path in the comment: {local}\n{none}");
    }

    let with = body_for(&r, "gates/prismq.yaml", true);
    assert!(!with.contains("No baseline found"), "{with}");
    assert!(with.contains("against base `0123456789ab`"), "{with}");
    // Above the first fold: only what needs attention (no passing or inconclusive rows).
    let top = with.split("<details>").next().unwrap();
    assert!(!top.contains("| ✅ |") && !top.contains("❔ inconclusive"), "{top}");
    // Below it: the passing checks and the undecided comparisons.
    let folded = &with[top.len()..];
    if r.requests.iter().any(|q| q.phases.steady.requests > 0) {
        assert!(
            folded.contains("| ✅ |") || folded.contains("❔ inconclusive"),
            "{folded}"
        );
    }
}

fn fork_pulls() -> Vec<Value> {
    vec![
        json!({"number": 7, "head": {"sha": "f0f0f0", "label": "mallory:feature"}}),
        json!({"number": 8, "head": {"sha": "0a0a0a", "label": "octo:other"}}),
    ]
}

async fn fork_comment(f: &Fake, pr_file: Option<Value>) -> (std::process::Output, Vec<Seen>) {
    let api = serve(f.clone()).await;
    let results = results_file();
    let file = std::env::temp_dir().join(format!("perfgate-pr-{}-{}.json", std::process::id(), rand_suffix()));
    let mut extra: Vec<String> = Vec::new();
    if let Some(v) = pr_file {
        std::fs::write(&file, v.to_string()).unwrap();
        extra = vec!["--pr-file".into(), file.display().to_string()];
    }
    let o = tokio::task::spawn_blocking(move || {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        comment_cmd_on(&api, "workflow_run_fork", &results, &extra, Some(TOKEN))
    })
    .await
    .unwrap();
    (o, seen(f))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forks_workflow_run_comments_on_the_pull_request_the_artifact_names_once_github_confirms_it() {
    let f = Fake {
        login: Some("perfgate-bot".into()),
        pulls: fork_pulls(),
        ..Fake::default()
    };
    let (o, s) = fork_comment(&f, Some(json!({"number": 7, "head_sha": "f0f0f0"}))).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("PR #7: created comment"),
        "{err}\n{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(s.iter().any(|r| r.uri == "/api/v3/repos/octo/shop/pulls/7"), "{s:?}");
    assert_eq!(
        s.iter()
            .filter(|r| r.method == Method::POST)
            .map(|r| r.uri.as_str())
            .collect::<Vec<_>>(),
        ["/api/v3/repos/octo/shop/issues/7/comments"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forks_workflow_run_without_a_pr_file_finds_the_pull_request_by_its_head_branch() {
    let f = Fake {
        login: Some("perfgate-bot".into()),
        pulls: fork_pulls(),
        ..Fake::default()
    };
    let (o, s) = fork_comment(&f, None).await;
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("PR #7: created comment"), "{err}");
    assert!(
        s.iter()
            .any(|r| r.uri.contains("/pulls?") && r.uri.contains("head=mallory:feature")),
        "{s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pr_file_naming_another_pull_request_is_refused() {
    // The artifact comes from the pull request's own run: it may name any number. #8's head is not
    // the commit the run measured, and a head that is not the run's is refused before any request.
    for (claim, why) in [
        (
            json!({"number": 8, "head_sha": "f0f0f0"}),
            "pull request #8's head is 0a0a0a",
        ),
        (
            json!({"number": 8, "head_sha": "0a0a0a"}),
            "--pr-file names head 0a0a0a but the workflow run measured f0f0f0",
        ),
    ] {
        let f = Fake {
            login: Some("perfgate-bot".into()),
            pulls: fork_pulls(),
            ..Fake::default()
        };
        let (o, s) = fork_comment(&f, Some(claim)).await;
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("PR comment skipped") && out.contains(why), "{out}");
        assert!(s.iter().all(|r| r.method == Method::GET), "nothing written: {s:?}");
    }
}

/// A fake of the Actions API for one run of `perf.yml` on commit `b45e` with the artifact
/// `perfgate-b45e`, whose download redirects to storage on another host (127.0.0.2).
async fn artifact_fake(zip: Vec<u8>) -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    use axum::response::IntoResponse;
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let note = |seen: &Arc<Mutex<Vec<(String, String)>>>, uri: &Uri, h: &HeaderMap| {
        let auth = h
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        seen.lock().unwrap().push((uri.to_string(), auth));
    };
    let blob = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let blob_addr = blob.local_addr().unwrap();
    let s2 = seen.clone();
    let storage = Router::new().route(
        "/blob/9",
        get(move |uri: Uri, h: HeaderMap| {
            let (s2, zip) = (s2.clone(), zip.clone());
            async move {
                note(&s2, &uri, &h);
                zip.into_response()
            }
        }),
    );
    tokio::spawn(async move { axum::serve(blob, storage).await.ok() });
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = api.local_addr().unwrap();
    let (s1, s3, s4) = (seen.clone(), seen.clone(), seen.clone());
    let app = Router::new()
        .route(
            "/api/v3/repos/octo/shop/actions/workflows/perf.yml/runs",
            get(move |Query(q): Query<HashMap<String, String>>, uri: Uri, h: HeaderMap| {
                let s1 = s1.clone();
                async move {
                    note(&s1, &uri, &h);
                    let runs = if q.get("head_sha").map(String::as_str) == Some("b45e") {
                        json!([{"id": 77, "head_sha": "b45e", "html_url": "https://github.example/octo/shop/actions/runs/77"}])
                    } else {
                        json!([])
                    };
                    Json(json!({"total_count": 1, "workflow_runs": runs}))
                }
            }),
        )
        .route(
            "/api/v3/repos/octo/shop/actions/runs/77/artifacts",
            get(move |uri: Uri, h: HeaderMap| {
                let s3 = s3.clone();
                async move {
                    note(&s3, &uri, &h);
                    Json(json!({"artifacts": [
                        {"id": 8, "name": "perfgate-b45e", "expired": true, "archive_download_url": "http://127.0.0.1:1/expired"},
                        {"id": 9, "name": "perfgate-b45e", "expired": false,
                         "archive_download_url": format!("http://{addr}/api/v3/repos/octo/shop/actions/artifacts/9/zip")}
                    ]}))
                }
            }),
        )
        .route(
            "/api/v3/repos/octo/shop/actions/artifacts/9/zip",
            get(move |uri: Uri, h: HeaderMap| {
                let s4 = s4.clone();
                async move {
                    note(&s4, &uri, &h);
                    (StatusCode::FOUND, [("location", format!("http://{blob_addr}/blob/9"))]).into_response()
                }
            }),
        );
    tokio::spawn(async move { axum::serve(api, app).await.ok() });
    (format!("http://{addr}/api/v3"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_baseline_the_cache_evicted_is_fetched_from_the_base_commits_artifact() {
    let results = std::fs::read(results_file()).unwrap();
    let zip = perfgate::github::zip::write(&[("junit.xml", b"<testsuites/>"), ("results.json", &results)]);
    let (api, seen) = artifact_fake(zip).await;
    let dir = std::env::temp_dir().join(format!("perfgate-fetch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fetch = |commit: &str, out: PathBuf| {
        let (api, commit) = (api.clone(), commit.to_string());
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_perfgate"))
                .args(["fetch-baseline", "--commit", &commit, "--workflow", "perf.yml"])
                .args(["--artifact", &format!("perfgate-{commit}"), "--out"])
                .arg(&out)
                .env("GITHUB_ACTIONS", "true")
                .env("GITHUB_REPOSITORY", "octo/shop")
                .env("GITHUB_API_URL", &api)
                .env("GITHUB_TOKEN", TOKEN)
                .env("PERFGATE_GITHUB_BACKOFF_MS", "10")
                .output()
                .unwrap()
        })
    };
    let out = dir.join("base.json");
    let o = fetch("b45e", out.clone()).await.unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(std::fs::read(&out).unwrap(), results);
    assert!(err.contains("from workflow run 77 (artifact `perfgate-b45e`"), "{err}");
    let s = seen.lock().unwrap().clone();
    let blob: Vec<_> = s.iter().filter(|(u, _)| u.starts_with("/blob/")).collect();
    assert_eq!(blob.len(), 1, "{s:?}");
    assert_eq!(blob[0].1, "", "the token never goes to the storage host");
    assert!(
        s.iter()
            .filter(|(u, _)| u.starts_with("/api/"))
            .all(|(_, a)| *a == format!("Bearer {TOKEN}")),
        "{s:?}"
    );

    // No run for that commit: a notice, exit 0, nothing written.
    let none = dir.join("none.json");
    let o = fetch("c0ffee", none.clone()).await.unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(!none.exists());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("::notice title=perfgate::no baseline artifact `perfgate-c0ffee`"),
        "{stdout}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
