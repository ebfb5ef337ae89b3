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
) -> Json<Value> {
    record(&f, Method::GET, &uri, &h, Value::Null);
    let per: usize = q.get("per_page").and_then(|v| v.parse().ok()).unwrap_or(30);
    let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(1);
    let all = f.comments.lock().unwrap().clone();
    Json(Value::Array(all.into_iter().skip((page - 1) * per).take(per).collect()))
}

async fn create(
    State(f): State<Fake>,
    Path((_o, _r, _pr)): Path<(String, String, u64)>,
    uri: Uri,
    h: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    record(&f, Method::POST, &uri, &h, body.clone());
    let fail = {
        let mut q = f.post_failures.lock().unwrap();
        (!q.is_empty()).then(|| q.remove(0))
    };
    if let Some(code) = fail {
        return (StatusCode::from_u16(code).unwrap(), Json(json!({"message": "nope"})));
    }
    let mut c = f.comments.lock().unwrap();
    let id = 1000 + c.len() as u64;
    c.push(json!({"id": id, "body": body["body"], "user": {"login": "perfgate-bot"}}));
    (StatusCode::CREATED, Json(json!({"id": id})))
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

async fn serve(f: Fake) -> String {
    let app = Router::new()
        .route("/api/v3/user", get(user))
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
        _ => json!({"workflow_run": {"head_sha": "headsha7", "pull_requests": [{"number": 7}]}}),
    };
    let p = std::env::temp_dir().join(format!("perfgate-event-{kind}-{}.json", std::process::id()));
    std::fs::write(&p, event.to_string()).unwrap();
    p
}

async fn comment(api: &str, kind: &str, token: Option<&str>) -> Run {
    let results = results_file();
    let out = std::env::temp_dir().join(format!("perfgate-gh-out-{}-{}", std::process::id(), rand_suffix()));
    let api = api.to_string();
    let kind = kind.to_string();
    let token = token.map(str::to_string);
    let outc = out.clone();
    let o = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_perfgate"));
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["report"])
            .arg(&results)
            .args(["--gate", "gates/prismq.yaml", "--comment"])
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_REPOSITORY", "octo/shop")
            .env("GITHUB_API_URL", &api)
            .env("GITHUB_EVENT_NAME", &kind)
            .env("GITHUB_EVENT_PATH", event_file(&kind))
            .env("GITHUB_OUTPUT", &outc)
            .env("PERFGATE_GITHUB_BACKOFF_MS", "10")
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("PERFGATE_COMMENT_AUTHOR")
            .env_remove("GH_TOKEN");
        match &token {
            Some(t) => cmd.env("GITHUB_TOKEN", t),
            None => cmd.env_remove("GITHUB_TOKEN"),
        };
        cmd.output().unwrap()
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
        gate_file: "gates/prismq.yaml",
    };
    let body = perfgate::github::comment_body(&input, "abc");
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
