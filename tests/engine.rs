//! The engine against real loopback servers (library API): task weights, seeds, think time, spawn
//! rate, run time and grace, extraction and chaining, templated names, skipped tasks, failure kinds.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use common::*;
use perfgate::demo::{DemoOptions, DemoServer};
use perfgate::load::Overrides;
use perfgate::metrics::FailureKind;
use serde_json::json;

/// The run must end by itself: time on top of run time (and grace, where a request may use it) that
/// absorbs a loaded 2-core runner. Each test's grace or run time keeps a run that does not stop
/// (or waits out a grace it does not need) beyond this margin.
const STOP_MARGIN: Duration = Duration::from_secs(2);

/// A server that answers every path with 200 and logs the paths in arrival order.
fn path_logger(paths: Log<String>) -> Router {
    Router::new().fallback(move |uri: Uri| {
        let paths = paths.clone();
        async move {
            paths.lock().unwrap().push(uri.path().to_string());
            "ok"
        }
    })
}

const WEIGHTED: &str = "
version: 1
load:
  users: 2
  run_time: 1500ms
  grace: 2s
scenarios:
  Weighted:
    tasks:
      - {name: a, weight: 1, request: GET /a}
      - {name: b, weight: 3, request: GET /b}
      - {name: c, weight: 6, request: GET /c}
";

/// Item 1: with weights 1:3:6 and no think time, each name's share of the requests is within four
/// binomial standard deviations of 10 %, 30 % and 60 %.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_weights_hold_within_binomial_bounds() {
    let server = TestServer::start(path_logger(log())).await;
    let r = run(&gate(WEIGHTED), at(&server.url(), 42)).await;

    let counts: Vec<(&str, f64, u64)> = [("GET /a", 0.1), ("GET /b", 0.3), ("GET /c", 0.6)]
        .into_iter()
        .map(|(name, p)| (name, p, stats(&r, name).requests))
        .collect();
    let n: u64 = counts.iter().map(|c| c.2).sum();
    eprintln!("weights: {counts:?} of {n}");
    assert!(
        n >= 500,
        "too few requests ({n}) for a statistical check: is the engine idling?"
    );
    for (name, p, k) in &counts {
        let expected = n as f64 * p;
        let sd = (n as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (*k as f64 - expected).abs() <= 4.0 * sd,
            "{name}: {k} of {n} requests, expected {expected:.0} ± {:.0} (4 sd); counts {counts:?}",
            4.0 * sd
        );
        assert_eq!(stats(&r, name).failures, 0, "{name} failed");
    }
    // Task counters agree with the requests (a task picked just as the run stops may send nothing).
    for (t, name) in [("a", "GET /a"), ("b", "GET /b"), ("c", "GET /c")] {
        let (runs, skipped) = task(&r, t);
        let reqs = stats(&r, name).requests;
        assert_eq!(skipped, 0, "task {t} skipped");
        assert!(
            runs >= reqs && runs - reqs <= 2,
            "task {t}: {runs} runs but {reqs} requests"
        );
    }
}

/// Item 1: one user with the same seed sends the same sequence of paths; another seed does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_gives_the_same_task_sequence() {
    const N: usize = 200;
    let paths = log::<String>();
    let server = TestServer::start(path_logger(paths.clone())).await;
    let g = gate(WEIGHTED);
    let mut sequences = Vec::new();
    for seed in [7, 7, 8] {
        paths.lock().unwrap().clear();
        let o = Overrides {
            users: Some(1),
            run_time: Some(Duration::from_millis(1000)),
            ..at(&server.url(), seed)
        };
        let r = run(&g, o).await;
        assert_eq!(r.load.seed, seed, "the results must record the seed used");
        let seen = entries(&paths);
        assert!(
            seen.len() >= N,
            "seed {seed}: only {} requests in 1 s from one user",
            seen.len()
        );
        sequences.push(seen[..N].to_vec());
    }
    assert_eq!(sequences[0], sequences[1], "seed 7 twice gave different task sequences");
    assert_ne!(
        sequences[0], sequences[2],
        "seeds 7 and 8 gave the same {N} tasks: is the seed used at all?"
    );
}

/// Item 2: think time bounds the rate as in Locust. 10 `WebClientUser` users (think 1s..3s) for 20 s
/// against the demo.
///
/// Expected count: a user sends its `on_start` request, then loops "task, think U(1 s, 3 s)"; a task
/// is one request of ~5-30 ms on the demo, so a loop takes ~2.02 s on average and a user picks about
/// 1 + 20 / 2.02 ≈ 11 tasks, of which ~10 % are skipped until it has launched a run (the two tasks
/// reading `{run_id}` have weight 2 of 20). Adding `on_start` and the odd `on_stop` DELETE, that is
/// about 11-12 requests per user, ~115 in all, i.e. ~6 requests/s. Without think time the same
/// users would make thousands. The band 60..=160 allows for the randomness of 10 users × ~10 draws.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_rate_with_think_time_like_locust() {
    let demo = DemoServer::start(DemoOptions {
        seed: Some(3),
        ..DemoOptions::default()
    })
    .await
    .expect("demo starts");
    let o = Overrides {
        users: Some(10),
        run_time: Some(Duration::from_secs(20)),
        scenarios: vec!["WebClientUser".into()],
        ..at(&demo.url(), 11)
    };
    let r = run(&prismq_gate(), o).await;
    demo.stop().await;

    assert_eq!(
        r.load.users_per_scenario,
        BTreeMap::from([("WebClientUser".to_string(), 10)])
    );
    let total = r.total(true);
    eprintln!("think time: {} requests, tasks {:?}", total.requests, r.tasks);
    assert!(
        (60..=160).contains(&total.requests),
        "10 users thinking 1s..3s for 20 s made {} requests; expected about 115",
        total.requests
    );
    // Task picks (runs + skips): about 11 per user.
    let picks: u64 = r.tasks.iter().map(|t| t.runs + t.skipped).sum();
    assert!((70..=150).contains(&picks), "{picks} task picks; expected about 110");
}

/// Item 3: 6 users at 3 users/s: the last user starts at 5/3 s, the series' `users` grows, and
/// samples from the ramp-up are kept apart from the steady ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_rate_ramps_users_up_and_splits_the_phases() {
    let server = TestServer::start(path_logger(log())).await;
    let g = gate(
        "
version: 1
load:
  users: 6
  spawn_rate: 3
  run_time: 4s
  grace: 2s
scenarios:
  S:
    think_time: 50ms..150ms
    tasks:
      - request: GET /x
",
    );
    let r = run(&g, at(&server.url(), 5)).await;

    assert_eq!(r.load.spawn_rate, Some(3.0));
    assert_eq!(r.load.peak_users, 6);
    assert!(
        (1.55..=1.95).contains(&r.load.ramp_up_s),
        "ramp_up_s = {}, expected 5/3 ≈ 1.67 s",
        r.load.ramp_up_s
    );

    // Users per second while load runs (the last point, collected after the stop, has none left).
    eprintln!(
        "spawn: ramp_up_s {} series {:?}",
        r.load.ramp_up_s,
        r.series
            .iter()
            .map(|p| (p.t, p.users, p.ramp_up, p.requests))
            .collect::<Vec<_>>()
    );
    let during: Vec<_> = r.series.iter().filter(|p| p.t < r.load.run_time_s - 0.5).collect();
    let users: Vec<u32> = during.iter().map(|p| p.users).collect();
    assert!(during.len() >= 3, "expected points at about 1, 2 and 3 s: {users:?}");
    assert!(
        users.windows(2).all(|w| w[0] <= w[1]),
        "users must not fall during the run: {users:?}"
    );
    assert!((2..=4).contains(&users[0]), "about 3 users after 1 s at 3/s: {users:?}");
    assert_eq!(*users.last().unwrap(), 6, "all 6 users after the ramp-up: {users:?}");
    assert!(during[0].ramp_up, "the first second is ramp-up");
    for p in r.series.iter().filter(|p| p.t > r.load.ramp_up_s + 0.2) {
        assert!(
            !p.ramp_up,
            "point at t={} after the ramp-up ({} s) is marked ramp-up",
            p.t, r.load.ramp_up_s
        );
    }

    let s = &r.requests[0].phases;
    assert!(
        s.ramp_up.requests > 0 && s.steady.requests > 0,
        "ramp {} steady {}",
        s.ramp_up.requests,
        s.steady.requests
    );
    // Everything in the first second is ramp-up; nothing after the second point is.
    let first_two = during[0].requests + during[1].requests;
    assert!(
        s.ramp_up.requests >= during[0].requests && s.ramp_up.requests <= first_two,
        "ramp-up requests {} must lie between the first second's {} and the first two seconds' {first_two}",
        s.ramp_up.requests,
        during[0].requests
    );
    // Ramp-up holds ~5 user-seconds of 19 (6 users × 4 s − 5): about a quarter of the samples.
    let share = s.ramp_up.requests as f64 / (s.ramp_up.requests + s.steady.requests) as f64;
    assert!(
        (0.12..=0.42).contains(&share),
        "ramp-up share {share:.2}, expected about 0.26"
    );
}

/// Item 4: a 3 s run against a fast server stops by itself at 3 s: it does not wait out its 5 s grace
/// when nothing is in flight (that would take 8 s, beyond [`STOP_MARGIN`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stops_by_itself_at_its_run_time() {
    let server = TestServer::start(path_logger(log())).await;
    let g = gate(
        "
version: 1
load: {users: 2, run_time: 3s, grace: 5s}
scenarios:
  S:
    think_time: 10ms..20ms
    tasks:
      - request: GET /x
",
    );
    let (r, wall) = run_timed(&g, at(&server.url(), 1)).await;
    assert!(
        wall < Duration::from_secs(3) + STOP_MARGIN,
        "a 3 s run did not stop by itself: it took {wall:?}"
    );
    assert!(wall >= Duration::from_millis(2950), "a 3 s run stopped after {wall:?}");
    assert!(
        (2.95..=wall.as_secs_f64()).contains(&r.load.duration_s),
        "duration_s = {} for a 3 s run that took {wall:?}",
        r.load.duration_s
    );
    assert!(!r.interrupted);
    assert!(
        r.total(true).requests > 50,
        "the fast server got only {} requests",
        r.total(true).requests
    );
}

/// Item 4: an interrupt (Ctrl-C in the binary) ends a long run early, marked as interrupted, and the
/// engine reports progress about once a second meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_ends_the_run_early() {
    let server = TestServer::start(path_logger(log())).await;
    let g = gate(
        "
version: 1
load: {users: 2, run_time: 60s, grace: 5s}
scenarios:
  S:
    think_time: 10ms..20ms
    tasks:
      - request: GET /x
",
    );
    let plan = perfgate::load::Plan::new(&g, &at(&server.url(), 1)).expect("plan");
    let info = perfgate::metrics::results::GateInfo {
        file: g.file.clone(),
        name: g.name.clone(),
        sha256: g.sha256.clone(),
    };
    let mut ticks = Vec::new();
    let started = std::time::Instant::now();
    let plan = Arc::new(plan);
    let run = perfgate::load::run(
        plan.clone(),
        |p| ticks.push((p.elapsed, p.requests)),
        tokio::time::sleep(Duration::from_millis(1600)),
    );
    let m = tokio::time::timeout(Duration::from_secs(15), run)
        .await
        .expect("an interrupted run must end")
        .expect("engine");
    let r = assembled(&plan, info, m).remove(0);
    let wall = started.elapsed();
    assert!(r.interrupted, "the results must say the run was interrupted");
    assert!(
        wall < Duration::from_millis(1600) + STOP_MARGIN,
        "interrupted at 1.6 s of a 60 s run, the run ended only after {wall:?}"
    );
    assert!(
        (1.55..=wall.as_secs_f64()).contains(&r.load.duration_s),
        "duration_s = {} for a run interrupted at 1.6 s that took {wall:?}",
        r.load.duration_s
    );
    assert!(r.total(true).requests > 20);
    // About once a second: the first after a second, none closer together, at most one per second run.
    assert!(!ticks.is_empty(), "no progress report in {wall:?}");
    assert!(ticks[0].0 >= Duration::from_millis(990) && ticks[0].1 > 0, "{ticks:?}");
    assert!(
        ticks.windows(2).all(|w| w[1].0 >= w[0].0 + Duration::from_millis(990)),
        "progress more often than once a second: {ticks:?}"
    );
    assert!(
        ticks.len() as f64 <= r.load.duration_s,
        "{} progress reports in a {} s run: {ticks:?}",
        ticks.len(),
        r.load.duration_s
    );
}

/// Item 4: against a server that accepts and never answers, with `timeout: 1s` and `grace: 1s`, the
/// run ends by itself (within run time + grace + [`STOP_MARGIN`]) and counts `timeout` failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_server_times_out_and_the_run_still_ends() {
    let server = HangServer::start().await;
    let g = gate(
        "
version: 1
timeout: 1s
load: {users: 2, run_time: 2500ms, grace: 1s}
scenarios:
  S:
    tasks:
      - request: GET /hang
",
    );
    let (r, wall) = run_timed(&g, at(&server.url(), 1)).await;
    assert!(
        wall < Duration::from_millis(3500) + STOP_MARGIN,
        "a hung server hung the run: run time 2.5 s + grace 1 s, yet it took {wall:?}"
    );
    let s = stats(&r, "GET /hang");
    // Each user times out at about 1, 2 and 3 s (the last one within the grace).
    assert!(s.requests >= 4, "expected ~6 timed-out requests, got {}", s.requests);
    assert_eq!(s.failures, s.requests, "every request to a silent server fails");
    assert_eq!(s.failures_by_kind, BTreeMap::from([(FailureKind::Timeout, s.requests)]));
    assert!(s.status_codes.is_empty(), "no answer, no status: {:?}", s.status_codes);
    // A timeout is about 1 s of latency, not less.
    assert!(s.min_us >= 990_000, "a timed-out request lasted only {} µs", s.min_us);
    assert!(server.accepted.load(Ordering::Relaxed) >= 2);
}

/// Item 4: requests still hanging when the grace period ends are abandoned, and the run ends on time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grace_period_bounds_requests_that_never_finish() {
    let server = HangServer::start().await;
    let g = gate(
        "
version: 1
timeout: 30s
load: {users: 2, run_time: 1500ms, grace: 1s}
scenarios:
  S:
    tasks:
      - request: GET /hang
",
    );
    let (r, wall) = run_timed(&g, at(&server.url(), 1)).await;
    assert!(
        wall < Duration::from_millis(2500) + STOP_MARGIN,
        "requests that never finish were not abandoned at the end of the grace: run time 1.5 s + grace 1 s, yet it took {wall:?}"
    );
    assert!(
        wall >= Duration::from_millis(2400),
        "the grace period was not waited for: {wall:?}"
    );
    assert_eq!(
        r.load.abandoned_requests, 2,
        "both users' requests were still in flight"
    );
    assert_eq!(stats(&r, "GET /hang").requests, 0, "abandoned requests are not counted");
}

// ---------------------------------------------------------------------------------------------
// Extraction and chaining (items 5 and 6)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Event {
    /// `POST /launch` answered this run id on this connection.
    Issued(SocketAddr, String),
    /// `GET /runs/{id}` or `/runs/{id}/logs` arrived with this id on this connection.
    Used(SocketAddr, String),
}

#[derive(Clone)]
struct Runs {
    next: Arc<AtomicU64>,
    events: Log<Event>,
}

async fn launch(
    State(s): State<Runs>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> (StatusCode, Json<serde_json::Value>) {
    let id = format!("r-{}", s.next.fetch_add(1, Ordering::Relaxed));
    s.events.lock().unwrap().push(Event::Issued(peer, id.clone()));
    (StatusCode::ACCEPTED, Json(json!({"run_id": id, "status": "queued"})))
}

async fn use_run(
    State(s): State<Runs>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> Json<serde_json::Value> {
    s.events.lock().unwrap().push(Event::Used(peer, id.clone()));
    Json(json!({"run_id": id}))
}

fn runs_server(events: Log<Event>) -> Router {
    let state = Runs {
        next: Arc::new(AtomicU64::new(1)),
        events,
    };
    Router::new()
        .route("/launch", post(launch))
        .route("/runs/{id}", get(use_run))
        .route("/runs/{id}/logs", get(use_run))
        .with_state(state)
}

const CHAINED: &str = "
version: 1
load: {users: 3, run_time: 1500ms, grace: 2s}
scenarios:
  Launcher:
    think_time: 5ms..15ms
    tasks:
      - name: launch
        weight: 1
        request:
          method: POST
          path: /launch
          json: {module: m1}
          expect: 202
          extract:
            run_id: $.run_id
      - {name: details, weight: 3, request: 'GET /runs/{run_id}'}
      - {name: logs, weight: 1, request: 'GET /runs/{run_id}/logs?tail=100'}
";

/// Item 5: the run id extracted from `POST /launch` is what the same user's later requests use:
/// every id the server receives was issued earlier, on the same connection, and is that user's latest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extracted_run_id_chains_into_later_requests() {
    let events = log::<Event>();
    let server = TestServer::start(runs_server(events.clone())).await;
    let r = run(&gate(CHAINED), at(&server.url(), 9)).await;

    let events = entries(&events);
    eprintln!("chaining: {} events", events.len());
    let issued = events.iter().filter(|e| matches!(e, Event::Issued(..))).count();
    let used = events.iter().filter(|e| matches!(e, Event::Used(..))).count();
    assert!(
        issued >= 10 && used >= 10,
        "issued {issued} ids, {used} uses: too few to tell"
    );
    let mut latest: HashMap<SocketAddr, String> = HashMap::new();
    let mut ever: BTreeSet<String> = BTreeSet::new();
    for e in &events {
        match e {
            Event::Issued(peer, id) => {
                latest.insert(*peer, id.clone());
                ever.insert(id.clone());
            }
            Event::Used(peer, id) => {
                assert!(ever.contains(id), "the server never issued `{id}` before it was used");
                assert_eq!(
                    latest.get(peer),
                    Some(id),
                    "connection {peer} used `{id}`, but the latest id issued to it is {:?}",
                    latest.get(peer)
                );
            }
        }
    }
    assert_eq!(
        r.total(true).failures,
        0,
        "failures: {:?}",
        r.total(true).failures_by_kind
    );
    let uses = stats(&r, "GET /runs/{run_id}").requests + stats(&r, "GET /runs/{run_id}/logs?tail=100").requests;
    assert_eq!(
        uses, used as u64,
        "the results and the server disagree on how many requests used an id"
    );
    assert_eq!(stats(&r, "POST /launch").requests, issued as u64);
}

/// Item 6: many different run ids still make one `GET /runs/{run_id}` row, never one row per id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templated_names_form_one_row() {
    let events = log::<Event>();
    let server = TestServer::start(runs_server(events.clone())).await;
    let r = run(&gate(CHAINED), at(&server.url(), 10)).await;

    let ids: BTreeSet<String> = entries(&events)
        .into_iter()
        .filter_map(|e| match e {
            Event::Used(_, id) => Some(id),
            Event::Issued(..) => None,
        })
        .collect();
    assert!(ids.len() >= 5, "only {} distinct run ids were used", ids.len());
    let names: Vec<&str> = r.requests.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(
        names,
        ["POST /launch", "GET /runs/{run_id}", "GET /runs/{run_id}/logs?tail=100"]
    );
    assert!(stats(&r, "GET /runs/{run_id}").requests > 0);
    for p in &r.series {
        for n in &p.names {
            assert!(
                names.contains(&n.name.as_str()),
                "series point t={} has a row `{}`",
                p.t,
                n.name
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Skipped tasks and failure kinds (items 7 and 8)
// ---------------------------------------------------------------------------------------------

/// Item 7: a task that reads a variable nobody has set yet is skipped, not failed, and sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipped_tasks_are_not_failures() {
    let paths = log::<String>();
    let app = Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route("/login", get(|| async { Json(json!({"token": "t-1"})) }))
        .merge(path_logger(paths.clone()));
    let server = TestServer::start(app).await;
    // `token` is only extracted in `on_stop`, so during the run it is never set.
    let g = gate(
        "
version: 1
load: {users: 2, run_time: 1500ms, grace: 2s}
scenarios:
  S:
    think_time: 5ms..10ms
    tasks:
      - {name: plain, weight: 1, request: GET /ok}
      - {name: needs token, weight: 1, request: 'GET /private/{token}'}
    on_stop:
      - path: /login
        extract:
          token: $.token
",
    );
    let r = run(&g, at(&server.url(), 4)).await;

    let (runs, skipped) = task(&r, "needs token");
    assert_eq!(runs, 0, "a task whose variable is unset must not run");
    assert!(
        skipped >= 20,
        "skipped {skipped} times; expected about half of the picks"
    );
    let private = stats(&r, "GET /private/{token}");
    assert_eq!(
        (private.requests, private.failures),
        (0, 0),
        "a skipped task sends nothing and fails nothing"
    );
    assert!(private.failures_by_kind.is_empty());
    assert!(
        !entries(&paths).iter().any(|p| p.starts_with("/private")),
        "the server received a request of the skipped task"
    );
    assert!(task(&r, "plain").0 >= 20);
    let total = r.total(true);
    assert_eq!(
        total.failures, 0,
        "skips are not failures: {:?}",
        total.failures_by_kind
    );
}

/// Item 8: an unexpected status is a `status` failure with its code; a missing extraction path is an
/// `extract` failure; each kind lands on its own request name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_classified_by_kind() {
    let app = Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route("/boom", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }))
        .route("/plain", post(|| async { Json(json!({"status": "done"})) }))
        .route("/noid", get(|| async { Json(json!({"other": 1})) }));
    let server = TestServer::start(app).await;
    let g = gate(
        "
version: 1
load: {users: 2, run_time: 1500ms, grace: 2s}
scenarios:
  S:
    think_time: 5ms..10ms
    tasks:
      - {name: fine, request: GET /ok}
      - {name: boom, request: GET /boom}
      - name: wrong status
        request: {method: POST, path: /plain, expect: 202}
      - name: no id
        request:
          path: /noid
          extract: {id: $.id}
",
    );
    let r = run(&g, at(&server.url(), 6)).await;

    let ok = stats(&r, "GET /ok");
    assert!(ok.requests > 5);
    assert_eq!(ok.failures, 0, "{:?}", ok.failures_by_kind);
    assert_eq!(ok.status_codes, BTreeMap::from([(200, ok.requests)]));

    for (name, kind, code) in [
        ("GET /boom", FailureKind::Status, 500u16),
        ("POST /plain", FailureKind::Status, 200),
        ("GET /noid", FailureKind::Extract, 200),
    ] {
        let s = stats(&r, name);
        assert!(s.requests > 5, "{name}: only {} requests", s.requests);
        assert_eq!(s.failures, s.requests, "{name}: every request must fail");
        assert_eq!(s.failures_by_kind, BTreeMap::from([(kind, s.requests)]), "{name}");
        assert_eq!(s.status_codes, BTreeMap::from([(code, s.requests)]), "{name}");
    }
    let total = r.total(true);
    assert_eq!(
        total.failures_by_kind.get(&FailureKind::Status).copied(),
        Some(stats(&r, "GET /boom").requests + stats(&r, "POST /plain").requests)
    );
}

/// The engine future dropped mid-run (an open-model run of 60 s at 50 arrivals/s) stops its users:
/// no request reaches the server afterwards, instead of arrivals going on until the run's deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_engine_future_stops_the_open_model_users() {
    let paths = log();
    let server = TestServer::start(path_logger(paths.clone())).await;
    let g = gate(
        "
version: 1
load: {arrival_rate: 50, run_time: 60s, max_connections: 2}
scenarios:
  S:
    tasks:
      - request: GET /x
",
    );
    let plan = perfgate::load::Plan::new(&g, &at(&server.url(), 1)).unwrap_or_else(|e| panic!("plan: {e}"));
    let mut run = Box::pin(perfgate::load::engine::run(
        Arc::new(plan),
        |_| {},
        std::future::pending::<()>(),
    ));
    let count = || paths.lock().unwrap().len();
    // Drive the run until requests arrive (however slowly the machine starts it).
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            tokio::select! {
                _ = &mut run => panic!("a 60 s run ended while the test waited for its requests"),
                _ = tokio::time::sleep(Duration::from_millis(10)) => if count() >= 3 { return },
            }
        }
    })
    .await;
    assert!(seen.is_ok(), "no request within 10 s of the run's start");
    drop(run);
    // A request already on the wire may still land; after that, 1.5 s at 50/s would bring 75 more.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_drop = count();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        count(),
        after_drop,
        "requests kept coming after the engine future was dropped"
    );
}

/// `perfgate ui`'s controls: the user count ramps up and down at the spawn rate while the run goes
/// on, and a reset forgets what was measured before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_engine_ramps_to_a_new_user_count_and_resets_its_numbers() {
    use perfgate::load::engine::{run_controlled, Command};
    let server = TestServer::start(path_logger(log())).await;
    let g = gate(
        "
version: 1
load: {users: 2, spawn_rate: 50, run_time: 4500ms, grace: 1s}
scenarios:
  S:
    think_time: 5ms..10ms
    tasks:
      - request: GET /x
",
    );
    let plan = Arc::new(perfgate::load::Plan::new(&g, &at(&server.url(), 7)).unwrap());
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let mut ticks: Vec<(u32, u64)> = Vec::new();
    let progress = |p: &perfgate::load::Progress| {
        ticks.push((p.users, p.requests));
        match ticks.len() {
            1 => tx.try_send(Command::Users(6)).unwrap(),
            2 => tx.try_send(Command::Users(1)).unwrap(),
            3 => tx.try_send(Command::Reset).unwrap(),
            _ => {}
        }
    };
    let limit = plan.run_time + plan.grace + Duration::from_secs(10);
    let m = tokio::time::timeout(
        limit,
        run_controlled(plan.clone(), progress, std::future::pending(), rx),
    )
    .await
    .expect("the controlled run ends by itself")
    .unwrap();
    assert!(ticks.len() >= 4, "{ticks:?}");
    assert_eq!(ticks[0].0, 2, "the planned users first: {ticks:?}");
    assert_eq!(ticks[1].0, 6, "ramped up to 6 within a second at 50/s: {ticks:?}");
    assert_eq!(ticks[2].0, 1, "ramped down to 1 within a second at 50/s: {ticks:?}");
    assert_eq!(m.peak_users, 6);
    let r = assembled(&plan, info(&g), m).remove(0);
    let before_reset = ticks[2].1;
    let total = r.total(true).requests;
    assert!(total > 0, "the run went on after the reset");
    assert!(
        total < before_reset,
        "the reset forgot what came before it: {total} after, {before_reset} before"
    );
}

/// Issue 21, item 2: `load.source_addresses` opens connections from each listed loopback address
/// in turn (each has its own ephemeral ports), never from the system's default one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_come_from_each_source_address_in_turn() {
    let peers = log::<std::net::IpAddr>();
    let seen = peers.clone();
    let app = Router::new().fallback(move |ConnectInfo(peer): ConnectInfo<SocketAddr>| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(peer.ip());
            "ok"
        }
    });
    let server = TestServer::start(app).await;
    let g = gate(
        "
version: 1
load: {users: 6, run_time: 1s, source_addresses: [127.0.0.2, 127.0.0.3]}
scenarios:
  S:
    think_time: 10ms..20ms
    tasks:
      - request: GET /x
",
    );
    let r = run(&g, at(&server.url(), 5)).await;
    assert_eq!(r.total(true).failures, 0, "{:?}", r.total(true).failure_reasons);
    let mut by_ip: BTreeMap<std::net::IpAddr, usize> = BTreeMap::new();
    for ip in entries(&peers) {
        *by_ip.entry(ip).or_default() += 1;
    }
    let two: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let three: std::net::IpAddr = "127.0.0.3".parse().unwrap();
    assert_eq!(
        by_ip.keys().copied().collect::<Vec<_>>(),
        [two, three],
        "requests came from {by_ip:?}"
    );
    assert!(by_ip.values().all(|n| *n >= 10), "{by_ip:?}");
}
