//! Loopback tests of the embedded demo backend: the reference API's routes and behaviour, and the knobs.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper_util::rt::TokioIo;
use perfgate::demo::{self, DemoOptions, DemoServer};
use serde_json::{json, Value};
use tokio::net::TcpStream;

/// One answer, with the time from connecting to the last body byte.
struct Resp {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
    elapsed: Duration,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Sends one request on a fresh HTTP/1.1 connection.
async fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Resp {
    let start = Instant::now();
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
        .expect("request");
    let res = sender.send_request(req).await.expect("send");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    Resp {
        status,
        headers,
        body,
        elapsed: start.elapsed(),
    }
}

async fn get(addr: SocketAddr, path: &str) -> Resp {
    call(addr, "GET", path, None).await
}

async fn post(addr: SocketAddr, path: &str, body: &str) -> Resp {
    call(addr, "POST", path, Some(body)).await
}

async fn delete(addr: SocketAddr, path: &str) -> Resp {
    call(addr, "DELETE", path, None).await
}

/// Fast options: no base latencies, fixed seed.
fn quick() -> DemoOptions {
    DemoOptions {
        no_base_latency: true,
        seed: Some(7),
        ..DemoOptions::default()
    }
}

async fn start(opts: DemoOptions) -> DemoServer {
    DemoServer::start(opts).await.expect("demo starts")
}

/// Asserts the reference's error document.
fn assert_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "body: {}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["error_code"], code, "{v}");
    assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
    assert!(v["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{v}");
}

/// Asserts FastAPI's 422 document and returns its first item's `loc`.
fn assert_unprocessable(r: &Resp) -> Value {
    assert_eq!(r.status, 422, "body: {}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    let items = v["detail"]
        .as_array()
        .unwrap_or_else(|| panic!("detail is not a list: {v}"));
    assert!(!items.is_empty());
    for item in items {
        assert!(
            item["type"].is_string() && item["msg"].is_string() && item["loc"].is_array(),
            "{item}"
        );
    }
    items[0]["loc"].clone()
}

async fn launch(addr: SocketAddr, module: &str) -> Value {
    let r = post(
        addr,
        &format!("/api/modules/{module}/run"),
        r#"{"parameters": {"max_results": 10}, "save_config": false}"#,
    )
    .await;
    assert_eq!(r.status, 202, "body: {}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// A run's plan lasts at most 4 s (unit-tested in `demo::runs`); 4 s more absorbs a loaded 2-core runner.
const RUN_ENDS_WITHIN: Duration = Duration::from_secs(8);

/// Polls a run until it leaves queued/running; returns the statuses seen and the final run.
async fn wait_finished(addr: SocketAddr, run_id: &str) -> (Vec<String>, Value) {
    let deadline = Instant::now() + RUN_ENDS_WITHIN;
    let mut seen = Vec::new();
    loop {
        let r = get(addr, &format!("/api/runs/{run_id}")).await;
        assert_eq!(r.status, 200);
        let run = r.json();
        let status = run["status"].as_str().unwrap_or_default().to_string();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if !matches!(status.as_str(), "queued" | "running") {
            return (seen, run);
        }
        assert!(
            Instant::now() < deadline,
            "run {run_id} did not reach a final status by itself within {RUN_ENDS_WITHIN:?}: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn assert_run_id(id: &str, module: &str) {
    let rest = id.strip_prefix("run_").unwrap_or_else(|| panic!("{id}"));
    let (date, rest) = rest.split_at(8);
    assert!(date.chars().all(|c| c.is_ascii_digit()), "{id}");
    let rest = rest.strip_prefix('_').unwrap_or_else(|| panic!("{id}"));
    let (time, rest) = rest.split_at(6);
    assert!(time.chars().all(|c| c.is_ascii_digit()), "{id}");
    let rest = rest
        .strip_prefix(&format!("_{module}_"))
        .unwrap_or_else(|| panic!("{id}"));
    assert_eq!(rest.len(), 8, "{id}");
    assert!(rest.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
}

#[tokio::test]
async fn module_catalogue_has_the_reference_shape() {
    let s = start(quick()).await;
    let r = get(s.addr(), "/api/modules").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "application/json");
    assert!(
        (20_000..=45_000).contains(&r.body.len()),
        "about 30 KB, got {} bytes",
        r.body.len()
    );
    let v = r.json();
    let modules = v["modules"].as_array().expect("modules");
    assert_eq!(v["total"], modules.len());
    assert!((35..=45).contains(&modules.len()), "{}", modules.len());
    let mut ids: Vec<&str> = modules.iter().filter_map(|m| m["id"].as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), modules.len(), "ids are unique");
    let mut types = std::collections::BTreeSet::new();
    for m in modules {
        for key in [
            "id",
            "name",
            "description",
            "category",
            "version",
            "script_path",
            "parameters",
            "tags",
            "status",
            "enabled",
            "last_run",
            "total_runs",
            "success_rate",
        ] {
            assert!(m.get(key).is_some(), "module lacks {key}: {m}");
        }
        for p in m["parameters"].as_array().expect("parameters") {
            for key in [
                "name",
                "type",
                "default",
                "options",
                "required",
                "description",
                "min",
                "max",
            ] {
                assert!(p.get(key).is_some(), "parameter lacks {key}: {p}");
            }
            types.insert(p["type"].as_str().unwrap_or_default().to_string());
        }
    }
    let want: std::collections::BTreeSet<String> = ["text", "number", "select", "checkbox", "password"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(types, want);

    // The reference load test uses the first module with max_results and category=Gaming.
    let first = &modules[0];
    assert_eq!(first["id"], "youtube_shorts");
    let params = first["parameters"].as_array().expect("parameters");
    let max = params.iter().find(|p| p["name"] == "max_results").expect("max_results");
    assert_eq!(
        (max["type"].as_str(), max["min"].as_i64(), max["max"].as_i64()),
        (Some("number"), Some(1), Some(500))
    );
    let cat = params.iter().find(|p| p["name"] == "category").expect("category");
    assert!(cat["options"].as_array().expect("options").contains(&json!("Gaming")));

    let one = get(s.addr(), "/api/modules/youtube_shorts").await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["name"], first["name"]);
    assert_error(
        &get(s.addr(), "/api/modules/no_such_module").await,
        404,
        "MODULE_NOT_FOUND",
    );

    // Deterministic: a second instance serves the same catalogue.
    let s2 = start(quick()).await;
    assert_eq!(get(s2.addr(), "/api/modules").await.body, r.body);
    s.stop().await;
}

#[tokio::test]
async fn module_config_merges_defaults_and_validates() {
    let s = start(quick()).await;
    let a = s.addr();
    let r = get(a, "/api/modules/youtube_shorts/config").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["module_id"], "youtube_shorts");
    assert_eq!(v["parameters"]["max_results"], 50);
    assert_eq!(v["parameters"]["category"], "All");
    assert!(v["updated_at"].is_null());

    let r = post(
        a,
        "/api/modules/youtube_shorts/config",
        r#"{"parameters": {"max_results": 50, "category": "Gaming"}}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["parameters"]["category"], "Gaming");
    assert_eq!(v["parameters"]["include_comments"], false, "defaults are merged in");
    assert!(v["updated_at"].is_string());
    let r = post(
        a,
        "/api/modules/youtube_shorts/config",
        r#"{"parameters": {"max_results": 120}}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    let v = get(a, "/api/modules/youtube_shorts/config").await.json();
    assert_eq!(v["parameters"]["max_results"], 120);
    assert_eq!(v["parameters"]["category"], "All", "a save replaces the saved values");

    for bad in [
        r#"{"max_results": 0}"#,
        r#"{"max_results": 501}"#,
        r#"{"max_results": "abc"}"#,
        r#"{"max_results": 10.5}"#,
        r#"{"category": "Nope"}"#,
        r#"{"include_comments": "yes"}"#,
        r#"{"max_results": null}"#,
    ] {
        let r = post(
            a,
            "/api/modules/youtube_shorts/config",
            &format!(r#"{{"parameters": {bad}}}"#),
        )
        .await;
        assert_error(&r, 400, "INVALID_PARAMETERS");
    }
    assert_eq!(
        get(a, "/api/modules/youtube_shorts/config").await.json()["parameters"]["max_results"],
        120
    );

    assert_error(
        &post(a, "/api/modules/nope/config", r#"{"parameters": {}}"#).await,
        404,
        "MODULE_NOT_FOUND",
    );
    assert_error(&get(a, "/api/modules/nope/config").await, 404, "MODULE_NOT_FOUND");
    assert_eq!(
        assert_unprocessable(&post(a, "/api/modules/youtube_shorts/config", "{}").await),
        json!(["body", "parameters"])
    );
    assert_unprocessable(&post(a, "/api/modules/youtube_shorts/config", r#"{"parameters": 5}"#).await);
    assert_unprocessable(&post(a, "/api/modules/youtube_shorts/config", "not json").await);
    assert_unprocessable(&post(a, "/api/modules/youtube_shorts/config", "[1, 2]").await);
    assert_unprocessable(&post(a, "/api/modules/youtube_shorts/config", "").await);
}

#[tokio::test]
async fn a_launched_run_progresses_to_a_final_status_with_logs() {
    let s = start(quick()).await;
    let a = s.addr();
    let t0 = Instant::now();
    let run = launch(a, "youtube_shorts").await;
    assert_eq!(run["status"], "queued");
    assert_eq!(run["module_id"], "youtube_shorts");
    assert_eq!(run["parameters"]["max_results"], 10);
    assert_eq!(run["items_total"], 10);
    let id = run["run_id"].as_str().expect("run_id").to_string();
    assert_run_id(&id, "youtube_shorts");

    let (seen, done) = wait_finished(a, &id).await;
    let took = t0.elapsed();
    assert!(seen.contains(&"running".to_string()), "{seen:?}");
    // Its plan (drawn from seed 7) lasts about a second; how long plans last is unit-tested in
    // `demo::runs`. Only the lower bound is checked here: sleeps never end early.
    assert!(
        took >= Duration::from_millis(900),
        "the run finished after only {took:?}"
    );
    match done["status"].as_str() {
        Some("completed") => {
            assert_eq!(done["exit_code"], 0);
            assert_eq!(done["progress_percent"], 100);
            assert_eq!(done["items_processed"], 10);
        }
        Some("failed") => {
            assert_eq!(done["exit_code"], 1);
            assert!(done["error_message"].is_string());
        }
        other => panic!("unexpected final status {other:?}"),
    }
    assert!(done["started_at"].is_string() && done["completed_at"].is_string());
    assert!(
        done["duration_seconds"].as_f64().is_some_and(|d| d > 0.5 && d < 4.5),
        "{done}"
    );

    let logs = get(a, &format!("/api/runs/{id}/logs")).await.json();
    let total = logs["total_lines"].as_u64().expect("total_lines");
    assert!(total >= 5, "{logs}");
    assert_eq!(logs["logs"].as_array().map(Vec::len), Some(total as usize));
    assert_eq!(logs["truncated"], false);
    let tail = get(a, &format!("/api/runs/{id}/logs?tail=2")).await.json();
    let lines = tail["logs"].as_array().expect("logs");
    assert_eq!(lines.len(), 2);
    assert_eq!(tail["truncated"], true);
    assert_eq!(tail["run_id"], id.as_str());
    assert_eq!(&lines[1], logs["logs"].as_array().and_then(|l| l.last()).expect("last"));
    for line in lines {
        assert!(line["timestamp"].is_string() && line["level"].is_string() && line["message"].is_string());
    }
    assert_unprocessable(&get(a, &format!("/api/runs/{id}/logs?tail=0")).await);
    assert_unprocessable(&get(a, &format!("/api/runs/{id}/logs?tail=10001")).await);
    assert_error(&get(a, "/api/runs/run_nope/logs").await, 404, "RUN_NOT_FOUND");
    assert_error(&get(a, "/api/runs/run_nope").await, 404, "RUN_NOT_FOUND");

    let stats = get(a, "/api/system/stats").await.json();
    assert_eq!(stats["runs"]["total"], 1);
}

#[tokio::test]
async fn launch_validates_and_limits_active_runs_to_ten() {
    let s = start(quick()).await;
    let a = s.addr();
    assert_error(&post(a, "/api/modules/nope/run", "{}").await, 404, "MODULE_NOT_FOUND");
    assert_unprocessable(&post(a, "/api/modules/youtube_shorts/run", r#"{"parameters": 5}"#).await);
    assert_unprocessable(&post(a, "/api/modules/youtube_shorts/run", r#"{"save_config": "maybe"}"#).await);
    assert_unprocessable(&post(a, "/api/modules/youtube_shorts/run", "{").await);
    assert_error(
        &post(
            a,
            "/api/modules/youtube_shorts/run",
            r#"{"parameters": {"max_results": 0}}"#,
        )
        .await,
        400,
        "INVALID_PARAMETERS",
    );

    let mut ids = Vec::new();
    for i in 0..10 {
        let module = if i % 2 == 0 { "youtube_shorts" } else { "reddit_posts" };
        ids.push(launch(a, module).await["run_id"].as_str().expect("id").to_string());
    }
    let r = post(
        a,
        "/api/modules/youtube_shorts/run",
        r#"{"parameters": {"max_results": 10}}"#,
    )
    .await;
    assert_error(&r, 409, "MAX_CONCURRENT_RUNS");
    let health = get(a, "/api/health").await.json();
    assert_eq!(health["active_runs"], 10);
    let modules = get(a, "/api/modules").await.json();
    assert_eq!(modules["modules"][0]["status"], "running");
    let stats = get(a, "/api/system/stats").await.json();
    assert_eq!(stats["modules"]["active"], 2);

    // Cancelling one frees a slot; save_config defaults to true, as in the reference.
    assert_eq!(delete(a, &format!("/api/runs/{}", ids[0])).await.status, 200);
    let r = post(
        a,
        "/api/modules/youtube_shorts/run",
        r#"{"parameters": {"max_results": 20}}"#,
    )
    .await;
    assert_eq!(r.status, 202);
    assert_error(
        &post(a, "/api/modules/youtube_shorts/run", "{}").await,
        409,
        "MAX_CONCURRENT_RUNS",
    );
    let cfg = get(a, "/api/modules/youtube_shorts/config").await.json();
    assert_eq!(cfg["parameters"]["max_results"], 20);
}

#[tokio::test]
async fn runs_listing_filters_pages_and_sorts_newest_first() {
    let s = start(quick()).await;
    let a = s.addr();
    let r = get(a, "/api/runs").await.json();
    assert_eq!(
        (r["total"].as_u64(), r["limit"].as_u64(), r["offset"].as_u64()),
        (Some(0), Some(50), Some(0))
    );
    let first = launch(a, "youtube_shorts").await["run_id"]
        .as_str()
        .expect("id")
        .to_string();
    let second = launch(a, "reddit_posts").await["run_id"]
        .as_str()
        .expect("id")
        .to_string();
    let third = launch(a, "youtube_shorts").await["run_id"]
        .as_str()
        .expect("id")
        .to_string();
    let ids = |v: &Value| -> Vec<String> {
        v["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .filter_map(|r| r["run_id"].as_str().map(String::from))
            .collect()
    };

    let all = get(a, "/api/runs").await.json();
    assert_eq!(all["total"], 3);
    assert_eq!(ids(&all), vec![third.clone(), second.clone(), first.clone()]);
    let mine = get(a, "/api/runs?module_id=youtube_shorts").await.json();
    assert_eq!(
        (mine["total"].as_u64(), ids(&mine)),
        (Some(2), vec![third.clone(), first.clone()])
    );
    let page = get(a, "/api/runs?limit=1&offset=1").await.json();
    assert_eq!(
        (page["total"].as_u64(), page["limit"].as_u64(), page["offset"].as_u64()),
        (Some(3), Some(1), Some(1))
    );
    assert_eq!(ids(&page), vec![second.clone()]);
    assert_eq!(ids(&get(a, "/api/runs?offset=10").await.json()), Vec::<String>::new());

    assert_eq!(delete(a, &format!("/api/runs/{second}")).await.status, 200);
    let cancelled = get(a, "/api/runs?status=cancelled").await.json();
    assert_eq!(
        (cancelled["total"].as_u64(), ids(&cancelled)),
        (Some(1), vec![second.clone()])
    );
    let none = get(a, "/api/runs?status=cancelled&module_id=youtube_shorts")
        .await
        .json();
    assert_eq!(none["total"], 0);

    assert_eq!(
        assert_unprocessable(&get(a, "/api/runs?limit=0").await),
        json!(["query", "limit"])
    );
    assert_eq!(
        assert_unprocessable(&get(a, "/api/runs?limit=101").await),
        json!(["query", "limit"])
    );
    assert_unprocessable(&get(a, "/api/runs?limit=abc").await);
    assert_unprocessable(&get(a, "/api/runs?offset=-1").await);
    assert_eq!(
        assert_unprocessable(&get(a, "/api/runs?status=bogus").await),
        json!(["query", "status"])
    );
    assert_eq!(get(a, "/api/runs?limit=100").await.status, 200);
}

#[tokio::test]
async fn cancel_answers_200_then_400() {
    let s = start(quick()).await;
    let a = s.addr();
    let id = launch(a, "hacker_news").await["run_id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = delete(a, &format!("/api/runs/{id}")).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["status"], "cancelled");
    assert!(v["completed_at"].is_string());
    assert_error(&delete(a, &format!("/api/runs/{id}")).await, 400, "RUN_NOT_CANCELLABLE");
    assert_error(&delete(a, "/api/runs/run_nope").await, 404, "RUN_NOT_FOUND");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        get(a, &format!("/api/runs/{id}")).await.json()["status"],
        "cancelled",
        "the background task stopped"
    );
    let logs = get(a, &format!("/api/runs/{id}/logs")).await.json();
    assert!(logs["logs"]
        .as_array()
        .expect("logs")
        .iter()
        .any(|l| l["level"] == "WARNING"));
}

#[tokio::test]
async fn health_and_unknown_routes() {
    let s = start(quick()).await;
    let a = s.addr();
    let r = get(a, "/api/health").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["status"], "healthy");
    assert_eq!(v["active_runs"], 0);
    assert_eq!(v["total_modules"], 40);
    assert!(v["version"].is_string() && v["uptime_seconds"].is_u64());
    assert_eq!(get(a, "/health").await.status, 200);
    let nf = get(a, "/api/nothing").await;
    assert_eq!((nf.status, nf.json()), (404, json!({ "detail": "Not Found" })));
    let na = call(a, "PUT", "/api/modules", None).await;
    assert_eq!((na.status, na.json()), (405, json!({ "detail": "Method Not Allowed" })));
}

#[tokio::test]
async fn system_stats_are_slow_on_a_miss_and_cached_for_two_seconds() {
    let s = start(quick()).await;
    let a = s.addr();
    let miss = get(a, "/api/system/stats").await;
    assert_eq!(miss.status, 200);
    assert_eq!(miss.headers["x-demo-cache"], "miss");
    assert!(
        miss.elapsed >= Duration::from_millis(90),
        "a miss samples for 100 ms, yet answered in {:?}",
        miss.elapsed
    );
    // A hit skips the sampling: the fastest of three hits takes well under half the miss. (The 2 s
    // expiry is unit-tested in `demo::stats`.)
    let mut hit = get(a, "/api/system/stats").await;
    for _ in 0..2 {
        let again = get(a, "/api/system/stats").await;
        assert_eq!(again.headers["x-demo-cache"], "hit");
        if again.elapsed < hit.elapsed {
            hit = again;
        }
    }
    assert_eq!(hit.headers["x-demo-cache"], "hit");
    assert!(
        hit.elapsed * 2 < miss.elapsed,
        "a cache hit ({:?}) is not faster than half the miss ({:?}): did it sample again?",
        hit.elapsed,
        miss.elapsed
    );
    let v = hit.json();
    for (group, keys) in [
        ("runs", &["total", "successful", "failed", "success_rate"][..]),
        ("modules", &["total", "active", "idle"][..]),
        ("system", &["cpu_percent", "memory_percent", "disk_free_gb"][..]),
    ] {
        for key in keys {
            assert!(v[group][*key].is_number(), "{group}.{key} in {v}");
        }
    }
    assert_eq!(v["system"], miss.json()["system"], "the hit serves the cached sample");
    let cpu = v["system"]["cpu_percent"].as_f64().unwrap_or(-1.0);
    assert!((0.0..=100.0).contains(&cpu));
}

#[tokio::test]
async fn error_rate_injects_500s() {
    let s = start(DemoOptions {
        error_rate: 1.0,
        ..quick()
    })
    .await;
    assert_error(&get(s.addr(), "/api/health").await, 500, "INTERNAL_ERROR");
    assert_error(&get(s.addr(), "/api/modules").await, 500, "INTERNAL_ERROR");

    let s = start(DemoOptions {
        error_rate: 0.5,
        ..quick()
    })
    .await;
    let mut codes = Vec::new();
    for _ in 0..40 {
        codes.push(get(s.addr(), "/api/health").await.status);
    }
    assert!(codes.contains(&500) && codes.contains(&200), "{codes:?}");
}

#[tokio::test]
async fn latency_adds_a_fixed_delay() {
    let s = start(DemoOptions {
        latency: Duration::from_millis(60),
        ..quick()
    })
    .await;
    for path in ["/api/health", "/api/runs", "/api/nothing"] {
        let r = get(s.addr(), path).await;
        assert!(r.elapsed >= Duration::from_millis(60), "{path}: {:?}", r.elapsed);
    }
}

/// The fastest of three answers of each path, in order.
async fn fastest_of_three<const N: usize>(addr: SocketAddr, paths: [&str; N]) -> [Duration; N] {
    let mut best = [Duration::MAX; N];
    for _ in 0..3 {
        for (b, path) in best.iter_mut().zip(paths) {
            *b = (*b).min(get(addr, path).await.elapsed);
        }
    }
    best
}

/// The exact delays (base latency × jitter × factors) are unit-tested in `demo::knobs`; over HTTP this
/// checks they are wired to the routes, with lower bounds (sleeps never end early) and a ratio.
#[tokio::test]
async fn base_latency_and_slow_route_affect_only_their_route() {
    let slow_modules = || vec![demo::parse_route_factor("GET /api/modules=6").expect("route")];
    let s = start(DemoOptions {
        slow_routes: slow_modules(),
        seed: Some(3),
        ..DemoOptions::default()
    })
    .await;
    let [health, modules, runs] = fastest_of_three(s.addr(), ["/api/health", "/api/modules", "/api/runs"]).await;
    // health 5 ms and runs 10 ms, -20 % jitter at worst; modules 15 ms × 6 (72 ms at worst).
    assert!(
        health >= Duration::from_millis(4),
        "health has no base latency: {health:?}"
    );
    assert!(runs >= Duration::from_millis(8), "runs has no base latency: {runs:?}");
    assert!(
        modules >= Duration::from_millis(70),
        "modules is not slowed ×6: {modules:?}"
    );

    // Without base latencies the same route, with the same knob, skips the sleep: under half as long.
    let fast = start(DemoOptions {
        slow_routes: slow_modules(),
        ..quick()
    })
    .await;
    let [unpaced] = fastest_of_three(fast.addr(), ["/api/modules"]).await;
    assert!(
        unpaced * 2 < modules,
        "--no-base-latency still paces GET /api/modules: {unpaced:?} against {modules:?} with base latencies"
    );
}

/// The window arithmetic is unit-tested in `demo::knobs`; over HTTP this checks a request that
/// arrives in the first window waits for its end, and one sent right after it does not.
#[tokio::test]
async fn stall_windows_delay_requests_that_arrive_in_them() {
    const STALL_FOR: Duration = Duration::from_secs(1);
    let t0 = Instant::now();
    let s = start(DemoOptions {
        stall_every: Some(Duration::from_secs(30)),
        stall_for: STALL_FOR,
        ..quick()
    })
    .await;
    // The first window opens when the server starts (after t0), so its answer comes after t0 + STALL_FOR.
    let stalled = get(s.addr(), "/api/health").await;
    assert_eq!(stalled.status, 200);
    let answered = t0.elapsed();
    assert!(
        answered >= STALL_FOR,
        "a request in the first window was answered {answered:?} after start, before the window's end"
    );
    // The next window opens 30 s after the first: a request now is not held.
    let free = get(s.addr(), "/api/health").await;
    assert_eq!(free.status, 200);
    assert!(
        free.elapsed * 2 < stalled.elapsed,
        "a request between windows ({:?}) was held like one in a window ({:?})",
        free.elapsed,
        stalled.elapsed
    );
}

#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    demo: DemoOptions,
}

#[tokio::test]
async fn options_parse_and_validate() {
    let d = Cli::try_parse_from(["demo"]).expect("defaults").demo;
    let def = DemoOptions::default();
    assert_eq!(
        (
            d.latency,
            d.slowdown,
            d.error_rate,
            d.stall_every,
            d.stall_for,
            d.no_base_latency,
            d.seed
        ),
        (
            def.latency,
            def.slowdown,
            def.error_rate,
            def.stall_every,
            def.stall_for,
            def.no_base_latency,
            def.seed
        )
    );
    assert!(d.slow_routes.is_empty());
    let d = Cli::try_parse_from([
        "demo",
        "--latency",
        "20ms",
        "--slowdown",
        "1.5",
        "--slow-route",
        "GET /api/runs/{id}=1.25",
        "--slow-route",
        "post /api/modules/{id}/run=2",
        "--error-rate",
        "0.1",
        "--stall-every",
        "5s",
        "--stall-for",
        "250ms",
        "--no-base-latency",
        "--demo-seed",
        "42",
    ])
    .expect("flags")
    .demo;
    assert_eq!(d.latency, Duration::from_millis(20));
    assert_eq!(d.slowdown, 1.5);
    assert_eq!(d.slow_routes[0].route, "GET /api/runs/{run_id}");
    assert_eq!(d.slow_routes[0].factor, 1.25);
    assert_eq!(d.slow_routes[1].route, "POST /api/modules/{module_id}/run");
    assert_eq!(
        (d.error_rate, d.stall_every, d.stall_for),
        (0.1, Some(Duration::from_secs(5)), Duration::from_millis(250))
    );
    assert!(d.no_base_latency);
    assert_eq!(d.seed, Some(42));
    assert!(d.validate().is_ok());

    for bad in [
        vec!["demo", "--error-rate", "1.5"],
        vec!["demo", "--slowdown", "0"],
        vec!["demo", "--slow-route", "GET /api/nothing=2"],
        vec!["demo", "--slow-route", "GET /api/modules"],
        vec!["demo", "--slow-route", "GET /api/modules=-1"],
        vec!["demo", "--latency", "soon"],
    ] {
        assert!(Cli::try_parse_from(&bad).is_err(), "{bad:?}");
    }
    let err = demo::parse_route_factor("GET /api/nothing=2").expect_err("unknown");
    assert!(
        err.contains("GET /api/modules/{module_id}/config"),
        "lists the routes: {err}"
    );
    assert!(demo::parse_error_rate("2").expect_err("range").contains("--error-rate"));

    let invalid = [
        DemoOptions {
            error_rate: 1.5,
            ..DemoOptions::default()
        },
        DemoOptions {
            slowdown: 0.0,
            ..DemoOptions::default()
        },
        DemoOptions {
            slowdown: f64::NAN,
            ..DemoOptions::default()
        },
        DemoOptions {
            stall_every: Some(Duration::from_millis(100)),
            ..DemoOptions::default()
        },
    ];
    for opts in invalid {
        assert!(opts.validate().is_err(), "{opts:?}");
        let err = DemoServer::start(opts).await.err().expect("refused");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }
}

#[tokio::test]
async fn serve_stops_when_shutdown_completes() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(demo::serve(listener, quick(), async move {
        let _ = rx.await;
    }));
    assert_eq!(get(addr, "/api/health").await.status, 200);
    launch(addr, "youtube_shorts").await;
    let _ = tx.send(());
    let done = tokio::time::timeout(Duration::from_secs(5), task).await;
    assert!(matches!(done, Ok(Ok(Ok(())))), "{done:?}");
    assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed");

    // DemoServer::url and stop.
    let s = start(quick()).await;
    assert_eq!(s.url(), format!("http://{}", s.addr()));
    let addr = s.addr();
    s.stop().await;
    assert!(TcpStream::connect(addr).await.is_err());

    // The router alone can be served by the caller.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = demo::router(quick());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    assert_eq!(get(addr, "/api/modules").await.status, 200);
    server.abort();
}
