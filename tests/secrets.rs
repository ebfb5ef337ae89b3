//! Secrets in headers (`${env:NAME}`, Authorization, Cookie) never reach a report, a log line or an
//! error message; under GitHub Actions they are masked before anything else is printed.

use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use std::process::Command;

const TOKEN: &str = "tok_9f8e7d6c5b4a_SECRET";
const COOKIE: &str = "sid_0123456789_SECRET";

async fn guarded(h: HeaderMap) -> (StatusCode, String) {
    let auth = h.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let cookie = h.get("cookie").and_then(|v| v.to_str().ok()).unwrap_or("");
    if auth == format!("Bearer {TOKEN}") && cookie == format!("sid={COOKIE}") {
        // The answer even echoes the secret: bodies must never be stored or printed.
        (StatusCode::OK, format!("{{\"you\": \"{auth}\"}}"))
    } else {
        (StatusCode::UNAUTHORIZED, "{}".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_output_file_or_line_contains_a_secret() {
    let app = Router::new()
        .route("/private", get(guarded))
        .route("/fail", get(|| async { (StatusCode::FORBIDDEN, "no") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });

    let dir = std::env::temp_dir().join(format!("perfgate-secrets-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let gate = dir.join("g.yaml");
    std::fs::write(
        &gate,
        r#"version: 1
headers:
  Authorization: "Bearer ${env:PG_TEST_TOKEN}"
load: {users: 3, run_time: 2s}
scenarios:
  A:
    think_time: 10ms..20ms
    tasks:
      - request:
          path: /private
          headers: {Cookie: "sid=${env:PG_TEST_COOKIE}"}
          extract: {me: $.you}
      - request: GET /fail
targets:
  - select: GET /fail
    error_rate: < 1%
"#,
    )
    .unwrap();
    let out = |n: &str| dir.join(n).display().to_string();
    let bin = env!("CARGO_BIN_EXE_perfgate");
    let o = tokio::task::spawn_blocking({
        let (gate, out_json, junit, md, html, csv, gh_out, gh_sum) = (
            gate.clone(),
            out("r.json"),
            out("j.xml"),
            out("s.md"),
            out("r.html"),
            out("locust"),
            out("gh_output"),
            out("gh_summary"),
        );
        let host = format!("http://{addr}");
        move || {
            Command::new(bin)
                .arg("run")
                .arg(&gate)
                .args([
                    "--host",
                    &host,
                    "--out",
                    &out_json,
                    "--junit",
                    &junit,
                    "--summary",
                    &md,
                    "--html",
                    &html,
                    "--csv",
                    &csv,
                ])
                .env("PG_TEST_TOKEN", TOKEN)
                .env("PG_TEST_COOKIE", COOKIE)
                .env("GITHUB_ACTIONS", "true")
                .env("GITHUB_OUTPUT", &gh_out)
                .env("GITHUB_STEP_SUMMARY", &gh_sum)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "the failing target decides: {stderr}");
    let r = perfgate::metrics::Results::read(&dir.join("r.json")).unwrap();
    let private = r
        .requests
        .iter()
        .find(|q| q.name == "GET /private")
        .unwrap()
        .phases
        .all();
    assert!(
        private.requests > 0 && private.failures == 0,
        "the secrets were sent: {:?}",
        private.status_codes
    );

    // Masks come first, and are the only lines that carry the values.
    let masks: Vec<&str> = stdout.lines().filter(|l| l.starts_with("::add-mask::")).collect();
    assert_eq!(masks.len(), 2, "{stdout}");
    let first = stdout.lines().next().unwrap_or("");
    assert!(
        first.starts_with("::add-mask::"),
        "masked before anything else: {first}"
    );
    for (name, text) in [
        ("stdout", stdout.replace(&masks.join("\n"), "")),
        ("stderr", stderr.clone()),
    ] {
        assert!(
            !text.contains(TOKEN) && !text.contains(COOKIE),
            "{name} leaks a secret:\n{text}"
        );
    }
    let mut files = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        assert!(
            !text.contains(TOKEN) && !text.contains(COOKIE),
            "{} leaks a secret",
            e.path().display()
        );
        files += 1;
    }
    assert!(files >= 10, "every report was written and searched: {files}");

    // A broken gate echoes its source line in the diagnostic: a literal secret there is redacted.
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, format!("version: 1\nheaders:\n  Authorization: \"Bearer {TOKEN} ${{oops\"\nload: {{users: 1, run_time: 1s}}\nscenarios: {{A: {{tasks: [{{request: GET /}}]}}}}\n")).unwrap();
    let o = Command::new(bin).arg("validate").arg(&bad).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.yaml:3:") && err.contains("<redacted>"), "{err}");
    assert!(!err.contains(TOKEN), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A query value and a JSON body string from `${env:...}`: the query value is percent-encoded like a
/// literal one (no injected parameter, no `+` read as a space, no fragment cut off), and under GitHub
/// Actions both values are masked. Before: `?api_key=k3y+b64/x=&admin=1` was sent and nothing masked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_values_in_queries_are_encoded_and_every_env_value_is_masked() {
    use axum::extract::RawQuery;
    use std::sync::{Arc, Mutex};
    const QUERY: &str = "k3y+b64/x=&admin=1#rest";
    const BODY: &str = "body_secret_42";
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let app = Router::new().route(
        "/q",
        get(move |RawQuery(q): RawQuery| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(q.unwrap_or_default());
                "ok"
            }
        })
        .post(|| async { "ok" }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    let dir = std::env::temp_dir().join(format!("perfgate-secrets-q-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let gate = dir.join("g.yaml");
    std::fs::write(
        &gate,
        r#"version: 1
load: {users: 1, run_time: 1s}
scenarios:
  A:
    think_time: 50ms
    tasks:
      - request:
          path: /q
          query: {api_key: "${env:PG_QUERY}"}
      - request:
          method: POST
          path: /q
          json: {secret: "${env:PG_BODY}"}
"#,
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_perfgate");
    let host = format!("http://{addr}");
    let o = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .arg("run")
            .arg(&gate)
            .args(["--host", &host, "-q"])
            .env("PG_QUERY", QUERY)
            .env("PG_BODY", BODY)
            .env("GITHUB_ACTIONS", "true")
            .env_remove("GITHUB_OUTPUT")
            .env_remove("GITHUB_STEP_SUMMARY")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(matches!(o.status.code(), Some(0 | 3)), "{stderr}");
    let queries = seen.lock().unwrap().clone();
    assert!(!queries.is_empty(), "no GET /q arrived: {stderr}");
    for q in &queries {
        assert_eq!(q, "api_key=k3y%2Bb64%2Fx%3D%26admin%3D1%23rest", "the raw query sent");
    }
    let masks: Vec<&str> = stdout.lines().filter(|l| l.starts_with("::add-mask::")).collect();
    assert!(
        masks.iter().any(|m| m.contains("k3y+b64")),
        "the query secret is masked: {stdout}"
    );
    assert!(
        masks.iter().any(|m| m.contains(BODY)),
        "the body secret is masked: {stdout}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
