//! `perfgate import`: starter gates from an OpenAPI description and from a browser recording (HAR),
//! printed for `perfgate validate` and `perfgate run` to take as they are. The inputs are real files
//! in tests/data/.

mod common;

use common::{free_port, perfgate, repo_path, DemoChild, HangServer, TempDir, TestServer};
use perfgate::gate::Gate;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

/// `perfgate import ARGS`: its stdout, after checking it exited 0 without a warning.
fn import(args: &[&str]) -> (String, String) {
    let mut all = vec!["import"];
    all.extend_from_slice(args);
    let out = perfgate(&all, None, LIMIT);
    assert_eq!(out.code(), 0, "{}", out.both());
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    (out.stdout, out.stderr)
}

/// The gate with its commented-out tasks written back in (the lines that are YAML, not prose).
fn uncommented(gate: &str) -> String {
    gate.lines()
        .map(|l| {
            let t = l.trim_start();
            let indent = &l[..l.len() - t.len()];
            match t.strip_prefix("# ") {
                Some(rest) if indent.len() == 6 && (rest.starts_with("- ") || rest.starts_with("  ")) => {
                    format!("{indent}{rest}")
                }
                _ => l.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn an_openapi_description_of_a_fastapi_service_becomes_a_gate() {
    let (gate, notes) = import(&["openapi", "tests/data/prismq-openapi.json"]);
    let g = Gate::parse("imported.yaml", &gate).unwrap_or_else(|e| panic!("{e}\n{gate}"));
    assert_eq!(g.name, "prismq_web_client_api");
    assert_eq!(g.host.as_deref(), Some("http://127.0.0.1:8000"));
    // Every GET operation is a task of weight 1, named by its summary.
    let s = &g.scenarios[0];
    let tasks: Vec<(&str, u32, &str)> = s
        .tasks
        .iter()
        .map(|t| (t.name.as_str(), t.weight, t.requests[0].name.as_str()))
        .collect();
    assert_eq!(
        tasks,
        [
            ("List Modules", 1, "GET /api/modules"),
            ("Get Module", 1, "GET /api/modules/{module_id}"),
            ("Get Module Config", 1, "GET /api/modules/{module_id}/config"),
            ("List Runs", 1, "GET /api/runs"),
            ("Health", 1, "GET /api/health"),
            ("System Stats", 1, "GET /api/system/stats"),
        ]
    );
    // A path parameter's example is a variable; one without is extracted from the answer that holds
    // it as a field (the launch's `run_id`), and what reads it waits, commented, for that write.
    assert_eq!(s.variables, [("module_id".to_string(), "youtube_shorts".to_string())]);
    assert!(
        gate.contains("#     expect: 202\n      #     extract:\n      #       run_id: \"$.run_id\""),
        "{gate}"
    );
    assert!(
        gate.contains("# needs `{run_id}`, which `Launch Module` extracts: uncomment both\n      # - name: Get Run\n"),
        "{gate}"
    );
    // Writes are comments with their bodies (example, or built from the schema) and success status.
    assert!(gate.contains("# Writes change the service's data"), "{gate}");
    assert!(
        gate.contains(
            "#     json: {\"parameters\": {\"max_results\": 10}, \"save_config\": false}\n      #     expect: 202"
        ),
        "{gate}"
    );
    assert!(gate.contains("#     json: {\"parameters\": {\"max_results\": 50, \"category\": \"Gaming\"}}"));
    assert!(
        gate.contains("# targets:\n#   - select: total\n#     p95: < 500ms"),
        "{gate}"
    );
    // What is a comment is also said on stderr.
    assert!(
        notes.contains("note: 3 writes are comments in the gate (writes change the service's data): uncomment the ones the load test should send: POST /api/modules/{module_id}/config, POST /api/modules/{module_id}/run, DELETE /api/runs/{run_id}")
            && notes.contains("note: 2 GET operations need data the description does not give: comments in the gate, saying what to set: GET /api/runs/{run_id}, GET /api/runs/{run_id}/logs"),
        "{notes}"
    );

    // Uncommented, the writes validate too.
    let all = uncommented(&gate);
    let g = Gate::parse("uncommented.yaml", &all).unwrap_or_else(|e| panic!("{e}\n{all}"));
    let names = g.request_names();
    for n in [
        "GET /api/runs/{run_id}",
        "GET /api/runs/{run_id}/logs",
        "POST /api/modules/{module_id}/config",
        "POST /api/modules/{module_id}/run",
        "DELETE /api/runs/{run_id}",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
    }
    let launch = g.scenarios[0]
        .requests()
        .find(|r| r.name == "POST /api/modules/{module_id}/run")
        .unwrap();
    assert_eq!(launch.expect_status, [202]);
}

/// The imported gates run against the reference backend (the embedded demo) without a failure.
#[test]
fn the_imported_gates_run_against_the_reference_backend() {
    for args in [
        ["openapi", "tests/data/prismq-openapi.json"],
        ["har", "tests/data/prismq-dashboard.har"],
    ] {
        runs_clean(&import(&args).0, args[0], &["GET /api/modules", "GET /api/health"]);
    }
    // The newcomer's path: the description the service serves, fetched by URL, run as it is.
    let demo = DemoChild::start();
    let (gate, notes) = import(&["openapi", &format!("{}/openapi.json", demo.url)]);
    assert!(
        notes
            .lines()
            .all(|l| l.starts_with("note: ") && l.contains(" in the gate")),
        "{notes}"
    );
    assert!(gate.contains(&format!("host: {}", demo.url)), "{gate}");
    runs_clean(&gate, "openapi-url", &["GET /api/modules", "GET /api/system/stats"]);
}

/// Runs `gate` against the embedded demo for 3 s: it exits 0, sends requests, none fails, and the
/// summary names every request of `names`.
fn runs_clean(gate: &str, what: &str, names: &[&str]) {
    let dir = TempDir::new(&format!("import-run-{what}"));
    let file = dir.write("imported.yaml", gate);
    let demo = DemoChild::start();
    let out = perfgate(
        &[
            "run",
            file.to_str().unwrap(),
            "--host",
            &demo.url,
            "--users",
            "4",
            "--spawn-rate",
            "4",
            "--run-time",
            "3s",
            "--quiet",
            "--out",
            dir.join("results.json").to_str().unwrap(),
        ],
        None,
        LIMIT,
    );
    assert_eq!(out.code(), 0, "{}", out.both());
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let (mut sent, mut failed) = (0, 0);
    for r in results["requests"].as_array().unwrap() {
        for phase in r["phases"].as_object().unwrap().values() {
            sent += phase["requests"].as_u64().unwrap_or(0);
            // The reference API answers 400 to cancelling a run that already finished (a demo run
            // lasts a random few hundred ms): the backend's documented answer, which the locustfile
            // does not expect either. CI met it once in a few hundred runs.
            let finished_run = r["name"] == "DELETE /api/runs/{run_id}"
                && phase["failed_statuses"]["400"].as_u64() == phase["failures"].as_u64();
            if !finished_run {
                failed += phase["failures"].as_u64().unwrap_or(0);
            }
        }
    }
    assert!(
        sent > 0 && failed == 0,
        "{what}: {sent} sent, {failed} failed:\n{}",
        out.stdout
    );
    for name in names {
        assert!(out.stdout.contains(name), "{what}: {name}:\n{}", out.stdout);
    }
}

/// `perfgate import openapi URL` fetches the description a running service serves (FastAPI: at
/// /openapi.json) from a real server on loopback; the service's origin is the gate's host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_openapi_description_is_fetched_from_a_url() {
    use axum::http::{header, StatusCode};
    use axum::response::{IntoResponse, Redirect};
    use axum::routing::get;
    let json = std::fs::read_to_string(repo_path("tests/data/prismq-openapi.json")).unwrap();
    let app = axum::Router::new()
        .route(
            "/openapi.json",
            get(move || {
                let json = json.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], json) }
            }),
        )
        .route("/spec", get(|| async { Redirect::permanent("/openapi.json") }))
        .route(
            "/docs",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    "<html>Swagger UI</html>",
                )
            }),
        )
        .route(
            "/broken",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR.into_response() }),
        )
        .route(
            "/binary",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/octet-stream")],
                    vec![0xffu8, 0xfe, 0x00],
                )
            }),
        );
    let server = TestServer::start(app).await;
    let hang = HangServer::start().await;
    let url = server.url();
    let closed = format!("http://127.0.0.1:{}/openapi.json", free_port());
    let hang_url = format!("{}/openapi.json", hang.url());
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            let mut all = vec!["import", "openapi"];
            all.extend(args.iter().map(String::as_str));
            perfgate(&all, None, LIMIT)
        })
    };

    // Straight and through a redirect: the same gate as from the file, with the server as its host.
    let from_file = import(&["openapi", "tests/data/prismq-openapi.json"]).0;
    for path in ["/openapi.json", "/spec"] {
        let out = run(vec![format!("{url}{path}")]).await.unwrap();
        assert_eq!(out.code(), 0, "{path}: {}", out.both());
        assert!(!out.stderr.contains("warning"), "{}", out.stderr);
        let g = Gate::parse("imported.yaml", &out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", out.stdout));
        assert_eq!(g.host.as_deref(), Some(url.as_str()), "{path}");
        let body = |gate: &str| {
            gate.lines()
                .skip_while(|l| !l.starts_with("version:"))
                .skip(3)
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(body(&out.stdout), body(&from_file), "{path}");
    }

    // What is not a description, or no answer at all: exit 2 with the reason, nothing on stdout.
    let cases = [
        (
            format!("{url}/docs"),
            "answered an HTML page, not a JSON or YAML description".to_string(),
        ),
        (
            format!("{url}/broken"),
            "answered 500 Internal Server Error".to_string(),
        ),
        (format!("{url}/missing"), "answered 404 Not Found".to_string()),
        (format!("{url}/binary"), "that is not text".to_string()),
        (closed.clone(), format!("{closed}: cannot fetch it")),
        (hang_url.clone(), format!("{hang_url}: no answer within 10s")),
        ("http://[::1".to_string(), "not a URL".to_string()),
    ];
    for (target, says) in cases {
        let out = run(vec![target.clone()]).await.unwrap();
        assert_eq!(out.code(), 2, "{target}: {}", out.both());
        assert!(out.stderr.starts_with("error: "), "{target}: {}", out.stderr);
        assert!(out.stderr.contains(&says), "{target}: no `{says}` in {}", out.stderr);
        assert!(out.stdout.is_empty(), "{target}: {}", out.stdout);
    }
}

#[test]
fn a_browser_recording_becomes_a_sequence_per_page() {
    let (gate, notes) = import(&["har", "tests/data/prismq-dashboard.har"]);
    let g = Gate::parse("imported.yaml", &gate).unwrap_or_else(|e| panic!("{e}\n{gate}"));
    assert_eq!(g.host.as_deref(), Some("http://127.0.0.1:8000"));
    let s = &g.scenarios[0];
    let tasks: Vec<(&str, Vec<&str>)> = s
        .tasks
        .iter()
        .map(|t| (t.name.as_str(), t.requests.iter().map(|r| r.name.as_str()).collect()))
        .collect();
    assert_eq!(
        tasks,
        [
            (
                "http://localhost:5173/",
                vec!["GET /api/modules", "GET /api/health", "GET /api/system/stats"]
            ),
            (
                "http://localhost:5173/modules/youtube_shorts",
                vec![
                    "GET /api/modules/youtube_shorts/config",
                    "POST /api/modules/youtube_shorts/run",
                    "GET /api/runs?limit=20"
                ]
            ),
            ("http://localhost:5173/runs", vec!["GET /api/runs"]),
        ]
    );
    let launch = s.requests().find(|r| r.method == perfgate::http::Method::Post).unwrap();
    assert_eq!(
        launch.json,
        Some(serde_json::json!({"parameters": {"max_results": 10}, "save_config": false}))
    );
    // The gaps between one page's last answer and the next page's first request: 4268 and 2589 ms.
    use std::time::Duration;
    assert_eq!(s.think_time, (Duration::from_millis(2600), Duration::from_millis(4300)));
    for note in [
        "left out other hosts: fonts.gstatic.com (1), localhost:5173 (3), www.google-analytics.com (1)",
        "left out 1 static asset of 127.0.0.1:8000",
        "left out 1 CORS preflight (OPTIONS)",
        "left out POST /login: it was answered 404 in the recording",
        "left out 1 entry that is not an http(s) request",
        "the recording sends `Authorization`, which is not copied (a secret)",
    ] {
        assert!(notes.contains(note), "no `{note}` in\n{notes}");
    }
    // A recorded session is a secret: no cookie, no form password in the gate.
    for secret in ["c2VjcmV0LXNlc3Npb24", "hunter2", "Cookie", "eyJhbGciOiJIUzI1NiJ9"] {
        assert!(!gate.contains(secret), "{secret} in\n{gate}");
    }
}

/// A recorded form body is kept as `form:`, decoded from the browser's `params` or from the text,
/// and a field named like a secret is read from the environment, never copied.
#[test]
fn a_recorded_form_is_kept_and_its_secret_is_read_from_the_environment() {
    let har: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("tests/data/prismq-dashboard.har").unwrap()).unwrap();
    let dir = TempDir::new("import-har-form");
    for with_params in [true, false] {
        let mut har = har.clone();
        for e in har["log"]["entries"].as_array_mut().unwrap() {
            if e["request"]["url"].as_str().is_some_and(|u| u.ends_with("/login")) {
                e["response"]["status"] = 200.into();
                let post = e["request"]["postData"].as_object_mut().unwrap();
                post.insert("text".into(), "user=ana+b&password=hunter2&next=%2Fruns".into());
                if !with_params {
                    post.remove("params");
                } else {
                    post.insert(
                        "params".into(),
                        serde_json::json!([{"name": "user", "value": "ana b"}, {"name": "password", "value": "hunter2"}, {"name": "next", "value": "/runs"}]),
                    );
                }
            }
        }
        let file = dir.write(&format!("form-{with_params}.har"), &har.to_string());
        let (gate, notes) = import(&["har", file.to_str().unwrap()]);
        let g = Gate::parse("imported.yaml", &gate).unwrap_or_else(|e| panic!("{e}\n{gate}"));
        let login = g.scenarios[0]
            .requests()
            .find(|r| r.name == "POST /login")
            .unwrap_or_else(|| panic!("{gate}"));
        let form: Vec<(String, String)> = login.form.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
        assert_eq!(
            form,
            [
                ("user".to_string(), "ana b".to_string()),
                ("password".to_string(), "${env:PASSWORD}".to_string()),
                ("next".to_string(), "/runs".to_string())
            ],
            "{gate}"
        );
        assert!(!gate.contains("hunter2"), "{gate}");
        assert!(
            notes.contains(
                "the recorded form field `password` is not copied (a secret): the gate reads it from ${env:PASSWORD}"
            ),
            "{notes}"
        );
    }
}

#[test]
fn a_recording_can_keep_another_host_and_its_static_assets() {
    let (gate, _) = import(&[
        "har",
        "tests/data/prismq-dashboard.har",
        "--from-host",
        "localhost:5173",
        "--keep-static",
    ]);
    let g = Gate::parse("imported.yaml", &gate).unwrap_or_else(|e| panic!("{e}\n{gate}"));
    assert_eq!(g.host.as_deref(), Some("http://localhost:5173"));
    assert_eq!(
        g.request_names(),
        ["GET /", "GET /assets/index-4f2a9c.js", "GET /assets/index-81bd20.css"]
    );
    // One page: no gap to take a think time from, so the usual one, said so.
    assert!(gate.contains("the recording has one page"), "{gate}");

    let out = perfgate(
        &[
            "import",
            "har",
            "tests/data/prismq-dashboard.har",
            "--from-host",
            "example.org",
        ],
        None,
        LIMIT,
    );
    assert_eq!(out.code(), 2, "{}", out.both());
    assert!(
        out.stderr
            .contains("no request of the recording went to `example.org`; its hosts: 127.0.0.1:8000, fonts.gstatic.com, localhost:5173"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_yaml_openapi_3_0_description_with_refs_examples_and_a_server_path() {
    let (gate, notes) = import(&["openapi", "tests/data/posts-openapi.yaml"]);
    let g = Gate::parse("imported.yaml", &gate).unwrap_or_else(|e| panic!("{e}\n{gate}"));
    assert_eq!(g.host.as_deref(), Some("https://blog.example.test"));
    let names = g.request_names();
    assert_eq!(
        names,
        ["GET /v2/posts?page-size=20", "GET /v2/posts/{post_id}"],
        "{gate}"
    );
    // `post-id` is not a variable name: it becomes `post_id`, set from the path item's `examples`.
    assert_eq!(g.scenarios[0].variables, [("post_id".to_string(), "1".to_string())]);
    // A variable only a list's first item holds is offered, not extracted (an empty list would fail).
    assert!(
        gate.contains("# needs `{userId}`: `listPosts` answers it as `$[0].userId` when its list is not empty"),
        "{gate}"
    );
    // A required query parameter without an example keeps its task a comment, and says why.
    assert!(
        gate.contains("# needs the query parameter `q`: the description gives no example\n      # - name: search"),
        "{gate}"
    );
    // The write: allOf merged, the required header from the environment, 201 expected.
    let all = uncommented(&gate);
    assert!(
        all.contains("json: {\"title\": \"Load testing in CI\", \"body\": \"string\", \"draft\": true}"),
        "{all}"
    );
    assert!(all.contains("X-Api-Key: \"${env:X_API_KEY}\""), "{all}");
    assert!(all.contains("expect: 201"), "{all}");
    assert_eq!(
        notes.trim(),
        "note: 2 GET operations need data the description does not give: comments in the gate, saying what to set: GET /v2/search?q=VALUE, GET /v2/users/{userId}/posts\n\
         note: 1 write is a comment in the gate (writes change the service's data): uncomment the ones the load test should send: POST /v2/posts"
    );
}

#[test]
fn malformed_inputs_are_refused_with_exit_2() {
    let dir = TempDir::new("import-bad");
    let cases = [
        (
            "swagger.json",
            "{\"swagger\": \"2.0\", \"paths\": {}}",
            "Swagger 2.0 is not OpenAPI 3",
        ),
        (
            "broken.json",
            "{\n  \"openapi\": \"3.1.0\",\n  \"paths\": {,}\n}",
            "broken.json:3:13: not valid JSON",
        ),
        (
            "nopaths.yaml",
            "openapi: 3.1.0\ninfo: {title: x, version: '1'}\n",
            "has no `paths`",
        ),
        ("gate.yaml", "version: 1\n", "not an OpenAPI 3 description"),
        (
            "broken.har",
            "{\"log\": {\"entries\": [}}",
            "broken.har:1:22: not valid JSON",
        ),
        ("nolog.har", "{\"entries\": []}", "not a HAR file: it has no `log`"),
        (
            "empty.har",
            "{\"log\": {\"version\": \"1.2\", \"entries\": []}}",
            "has no `log.entries`",
        ),
    ];
    for (name, text, says) in cases {
        let file = dir.write(name, text);
        let format = if name.ends_with(".har") { "har" } else { "openapi" };
        let out = perfgate(&["import", format, file.to_str().unwrap()], None, LIMIT);
        assert_eq!(out.code(), 2, "{name}: {}", out.both());
        assert!(out.stderr.starts_with("error: "), "{name}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{name}: no `{says}` in {}", out.stderr);
        assert!(out.stdout.is_empty(), "{name}: {}", out.stdout);
    }
    let missing = repo_path("tests/data/no-such-openapi.json");
    let out = perfgate(&["import", "openapi", missing.to_str().unwrap()], None, LIMIT);
    assert_eq!(out.code(), 2, "{}", out.both());
    assert!(
        out.stderr.contains("no-such-openapi.json: cannot read it"),
        "{}",
        out.stderr
    );
}

/// The locustfiles of tests/data/locust/, one style each, with the gate each must import to.
const LOCUSTFILES: [&str; 8] = [
    "prismq",         // the reference: class weights, on_start/on_stop, extract, f-strings
    "tags",           // `@tag` decorators, `params=`, `headers=`, `name=`, a class attribute
    "sequential",     // a SequentialTaskSet and a TaskSet in `tasks = {...}` and `tasks = [...]`
    "catch_response", // status and JSON checks as `expect`, `try`/`except`, `data = r.json()`
    "fasthttp",       // FastHttpUser, task functions of the module, constant_throughput, json.dumps
    "names",          // `name=` grouping, `url=`, constant_pacing, constant attributes
    "forms",          // `data={...}` as `form:`, a literal secret as `${env:NAME}`
    "unsupported",    // what does not translate: listed with file:line
];

/// Every locustfile imports to exactly its golden gate, tests/data/locust/NAME.expected.yaml (after
/// a deliberate change to the importer, `PERFGATE_BLESS=1 cargo test --test import` rewrites the
/// goldens; review their diff before committing). Every note is a comment in the gate too, and every
/// imported gate passes `perfgate validate`.
#[test]
fn locustfiles_import_to_their_expected_gates() {
    let dir = TempDir::new("import-locust-golden");
    let bless = std::env::var_os("PERFGATE_BLESS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for name in LOCUSTFILES {
        let file = format!("tests/data/locust/{name}.py");
        let (gate, notes) = import(&["locust", &file]);
        let golden = repo_path(&format!("tests/data/locust/{name}.expected.yaml"));
        if bless {
            std::fs::write(&golden, &gate).unwrap();
        } else {
            let expected = std::fs::read_to_string(&golden)
                .unwrap_or_else(|e| panic!("{}: {e} (PERFGATE_BLESS=1 writes it)", golden.display()));
            if expected != gate {
                stale.push(format!("--- {}\n+++ imported\n{gate}", golden.display()));
            }
        }
        for note in notes.lines() {
            let text = note
                .strip_prefix("note: ")
                .unwrap_or_else(|| panic!("{name}: `{note}`"));
            assert!(text.contains(&format!("{file}:")), "{name}: no file:line in `{text}`");
            assert!(
                gate.contains(&format!("# {text}")),
                "{name}: `{text}` is no comment in\n{gate}"
            );
        }
        let path = dir.write(&format!("{name}.yaml"), &gate);
        let out = perfgate(&["validate", path.to_str().unwrap()], None, LIMIT);
        assert_eq!(out.code(), 0, "{name}: {}", out.both());
    }
    assert!(
        stale.is_empty(),
        "imported gates differ from their goldens (PERFGATE_BLESS=1 rewrites them):\n{}",
        stale.join("\n")
    );
}

/// The locustfiles written for the reference API run green against it (the embedded demo) for a
/// few seconds: every request sent, none failed.
#[test]
fn the_imported_locust_gates_run_against_the_reference_backend() {
    for (name, sends) in [
        ("prismq", "GET /api/modules"),
        ("tags", "GET /api/runs?limit=20&status=completed"),
        ("sequential", "POST /api/modules/{module_id}/run"),
        ("catch_response", "POST /api/modules/{module_id}/config"),
        ("fasthttp", "runs page"),
        ("names", "/api/runs/[id]/logs"),
    ] {
        let file = format!("tests/data/locust/{name}.py");
        runs_clean(&import(&["locust", &file]).0, name, &[sends]);
    }
}

#[test]
fn the_reference_locustfile_becomes_the_same_load_test() {
    let (gate, notes) = import(&["locust", "tests/data/locust/prismq.py"]);
    assert!(notes.is_empty(), "everything translates: {notes}");
    let g = Gate::parse("imported.yaml", &gate).unwrap_or_else(|e| panic!("{e}\n{gate}"));
    assert_eq!(g.host.as_deref(), Some("http://127.0.0.1:8000"));
    use std::time::Duration;
    let summary: Vec<(&str, u32, (Duration, Duration))> = g
        .scenarios
        .iter()
        .map(|s| (s.name.as_str(), s.weight, s.think_time))
        .collect();
    let s = |a: u64, b: u64| (Duration::from_millis(a), Duration::from_millis(b));
    assert_eq!(
        summary,
        [
            ("WebClientUser", 1, s(1000, 3000)),
            ("HighLoadUser", 2, s(500, 1000)),
            ("BurstUser", 1, s(5000, 10000)),
        ]
    );
    let web = &g.scenarios[0];
    let tasks: Vec<(&str, u32, &str)> = web
        .tasks
        .iter()
        .map(|t| (t.name.as_str(), t.weight, t.requests[0].name.as_str()))
        .collect();
    assert_eq!(
        tasks,
        [
            ("get_modules", 5, "GET /api/modules"),
            ("get_module_config", 3, "/api/modules/[id]/config"),
            ("health_check", 2, "GET /api/health"),
            ("launch_module", 1, "POST /api/modules/{module_id}/run"),
            ("get_logs", 1, "GET /api/runs/{run_id}/logs?tail=100"),
        ]
    );
    // `response.json()[...]` assigned to `self.x` is an `extract` on that request.
    let extract = |r: &perfgate::gate::Request| r.extract.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(extract(&web.on_start[0]), ["module_id"]);
    assert!(gate.contains("module_id: \"$.modules[0].id\""), "{gate}");
    assert_eq!(extract(&web.tasks[3].requests[0]), ["run_id"]);
    assert_eq!(
        web.tasks[3].requests[0].json,
        Some(serde_json::json!({"parameters": {"max_results": 10}, "save_config": false}))
    );
    assert_eq!(web.on_stop[0].name, "DELETE /api/runs/{run_id}");
    // Several requests in one task are a sequence.
    let burst: Vec<&str> = g.scenarios[2].tasks[0]
        .requests
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(
        burst,
        [
            "GET /api/modules",
            "GET /api/runs",
            "GET /api/system/stats",
            "GET /api/health"
        ]
    );
}

#[test]
fn the_styles_of_locustfiles_translate_to_gate_constructs() {
    let parse = |name: &str| {
        let (gate, notes) = import(&["locust", &format!("tests/data/locust/{name}.py")]);
        let g = Gate::parse("imported.yaml", &gate).unwrap_or_else(|e| panic!("{e}\n{gate}"));
        (g, gate, notes)
    };
    // A SequentialTaskSet is one sequence, a `@task(2)` step twice; a TaskSet's tasks join the
    // user's, weighted by the set's weight.
    let (g, _, notes) = parse("sequential");
    let op = &g.scenarios[0];
    let flow: Vec<&str> = op.tasks[0].requests.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        flow,
        [
            "GET /api/modules/{module_id}",
            "GET /api/modules/{module_id}/config",
            "POST /api/modules/{module_id}/run",
            "GET /api/runs/{run_id}",
            "GET /api/runs/{run_id}"
        ]
    );
    let weights: Vec<(&str, u32)> = op.tasks.iter().map(|t| (t.name.as_str(), t.weight)).collect();
    assert_eq!(weights, [("LaunchFlow", 1), ("runs", 9), ("health", 3)]);
    assert!(
        notes.contains("sequential.py:6: the SequentialTaskSet `LaunchFlow` is one `sequence:` task"),
        "{notes}"
    );

    // `catch_response` checks: JSON values and statuses, `or`-ed; a time limit is listed.
    let (g, _, notes) = parse("catch_response");
    let expects: Vec<(Vec<u16>, usize)> = g.scenarios[0]
        .tasks
        .iter()
        .map(|t| (t.requests[0].expect_status.clone(), t.requests[0].expect_json.len()))
        .collect();
    assert_eq!(
        expects,
        [(vec![], 1), (vec![202, 409], 0), (vec![200], 1), (vec![200], 0)]
    );
    assert!(
        notes.contains("catch_response.py:54: `response.elapsed.total_seconds() > 0.5`: only checks"),
        "{notes}"
    );

    // Task functions of the module with a `tasks` dict; `constant_throughput(2)` thinks 500 ms; a
    // helper `on_start` calls is inlined; `data=json.dumps(...)` is a JSON body.
    let (g, gate, _) = parse("fasthttp");
    let s = &g.scenarios[0];
    assert_eq!(s.think_time.0, Duration::from_millis(500));
    let weights: Vec<(&str, u32)> = s.tasks.iter().map(|t| (t.name.as_str(), t.weight)).collect();
    assert_eq!(weights, [("health", 3), ("list_runs", 1)]);
    assert_eq!(s.on_start[0].name, "GET /api/modules");
    assert_eq!(
        s.on_stop[0].json,
        Some(serde_json::json!({"parameters": {"max_results": 25}}))
    );
    assert!(gate.contains("# approximated: tests/data/locust/fasthttp.py:17: `wait_time = constant_throughput(2)`"));

    // Tags stay as comments above their tasks; a loop over literals is unrolled.
    let (g, gate, _) = parse("tags");
    let offsets: Vec<String> = g.scenarios[0].tasks[2]
        .requests
        .iter()
        .flat_map(|r| {
            r.query
                .iter()
                .filter(|(k, _)| k == "offset")
                .map(|(_, v)| v.to_string())
        })
        .collect();
    assert_eq!(offsets, ["0", "20", "40"]);
    // Guards on a variable the request reads are the gate's own skipping.
    let (_, _, notes) = parse("names");
    assert!(
        notes.contains("names.py:32: `if self.first_run:`: the gate skips a task until the variables it reads are set"),
        "{notes}"
    );
    assert!(
        gate.contains("      # Locust tags: list, smoke\n      - name: modules\n"),
        "{gate}"
    );
}

#[test]
fn what_a_locustfile_does_that_a_gate_cannot_is_listed_with_file_and_line() {
    let (gate, notes) = import(&["locust", "tests/data/locust/unsupported.py"]);
    let g = Gate::parse("imported.yaml", &gate).unwrap_or_else(|e| panic!("{e}\n{gate}"));
    let f = "tests/data/locust/unsupported.py";
    for (line, what) in [
        (6, "`@events.test_start.add_listener` on `on_test_start`: event hooks are not translated"),
        (11, "the task set `Orphan` is in no user class's `tasks`: left out"),
        (19, "`fixed_count = 2`"),
        (23, "`for page in range(random.randint(1, 5)):`"),
        (29, "`data=` of `self.client.post`: a form body"),
        (
            33,
            "`self.client.get(\"/search?q=\" + random.choice([\"a\", \"b\"]))`: the URL is computed in a way perfgate cannot read",
        ),
        (40, "`\"ok\" not in response.text`: only checks of the status code and of JSON values"),
        (49, "the method `pick` is no task, nor on_start/on_stop, and no task calls it"),
        (58, "`auth=` of `self.client.request` is not translated"),
    ] {
        let text = format!("not translated: {f}:{line}: {what}");
        assert!(notes.contains(&format!("note: {text}")), "no note `{text}` in\n{notes}");
        assert!(gate.contains(&format!("# {text}")), "no comment `{text}` in\n{gate}");
    }
    // A task with a request that does not translate whole is a comment; the rest run.
    let shop: Vec<&str> = g.scenarios[0].tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(shop, ["check", "order"]);
    assert!(gate.contains("      # - name: login\n"), "{gate}");
    assert!(gate.contains("      # - name: browse\n"), "{gate}");
    // `!= 200` with an `elif` that checks the text: the status is still `expect`.
    let expect: Vec<Vec<u16>> = g.scenarios[0]
        .tasks
        .iter()
        .map(|t| t.requests[0].expect_status.clone())
        .collect();
    assert_eq!(expect, [vec![200], vec![201, 409]]);
    // A user with no task left runs a placeholder, said so.
    assert_eq!(g.scenarios[1].tasks[0].name, "placeholder");
    // No secret of the file reaches the gate or the notes.
    assert!(!gate.contains("hunter2") && !notes.contains("hunter2"));
}

#[test]
fn a_locustfile_that_is_not_python_is_refused_with_its_line() {
    let dir = TempDir::new("import-locust-bad");
    let file = dir.write("bad.py", "from locust import HttpUser\n\nclass U(HttpUser:\n    pass\n");
    let out = perfgate(&["import", "locust", file.to_str().unwrap()], None, LIMIT);
    assert_eq!(out.code(), 2, "{}", out.both());
    assert!(out.stderr.contains("bad.py:3:"), "{}", out.stderr);
    assert!(out.stderr.contains("not valid Python"), "{}", out.stderr);
    let file = dir.write("none.py", "import locust\n\nclass Helper:\n    pass\n");
    let out = perfgate(&["import", "locust", file.to_str().unwrap()], None, LIMIT);
    assert_eq!(out.code(), 2, "{}", out.both());
    assert!(
        out.stderr.contains("no class derives from HttpUser or FastHttpUser"),
        "{}",
        out.stderr
    );
}
