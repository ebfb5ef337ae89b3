//! The open model's accounting against a demo that stalls: latency from the planned send, service
//! time kept apart, waits for a connection counted (no coordinated omission).

mod common;

use axum::routing::delete;
use axum::Router;
use common::TestServer;
use perfgate::demo::{DemoOptions, DemoServer};
use perfgate::gate::Gate;
use perfgate::metrics::results::{Results, Stats};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

async fn open_run(opts: DemoOptions, yaml: &str) -> Results {
    let server = DemoServer::start(opts).await.unwrap();
    let results = common::run(&common::gate(yaml), common::at(&server.url(), 11)).await;
    server.stop().await;
    results
}

fn health_stats(r: &Results) -> Stats {
    r.requests
        .iter()
        .find(|q| q.name == "GET /api/health")
        .unwrap()
        .phases
        .all()
}

const GATE: &str = r#"
version: 1
load:
  arrival_rate: 100
  run_time: 5s
  max_connections: 4
  grace: 2s
scenarios:
  Poller:
    tasks:
      - request: GET /api/health
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_latency_from_the_planned_send_but_not_in_service_time() {
    let opts = DemoOptions {
        no_base_latency: true,
        stall_every: Some(Duration::from_secs(2)),
        stall_for: Duration::from_millis(500),
        ..DemoOptions::default()
    };
    let r = open_run(opts, GATE).await;
    assert_eq!(r.load.model, perfgate::metrics::results::LoadModel::Open);
    let s = health_stats(&r);
    let service = s.service_histogram.clone().expect("the open model keeps service time");
    // The plan: 100 arrivals/s for 5 s.
    let g = &r.load.generator;
    assert!((480..=500).contains(&g.arrivals), "{} arrivals planned", g.arrivals);
    assert_eq!(g.dropped, 0);
    assert_eq!(s.requests, g.arrivals, "every arrival was sent once");
    // Four connections are all stuck in each 500 ms stall, so arrivals queue for a connection...
    assert!(g.queued >= 20, "arrivals that waited for a connection: {}", g.queued);
    // ...and their wait is in the latency: a fifth of the arrivals fall in a stall.
    let corrected_p90 = s.quantile_ms(0.90);
    let service_p90 = service.quantile_us(0.90) as f64 / 1000.0;
    assert!(
        corrected_p90 >= 100.0,
        "corrected p90 {corrected_p90} ms should show the stall"
    );
    assert!(
        service_p90 < 50.0,
        "service time p90 {service_p90} ms: only 8 sends sat in a stall"
    );
    // Latency from the planned time is never below the service time, quantile by quantile.
    for q in [0.1, 0.5, 0.9, 0.99, 0.999, 1.0] {
        assert!(
            s.histogram.quantile_us(q) >= service.quantile_us(q),
            "q{q}: corrected {} < service {}",
            s.histogram.quantile_us(q),
            service.quantile_us(q)
        );
    }
    assert!(s.min_us >= service.min(), "min corrected below min service");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_stall_both_measures_agree_and_nothing_waits() {
    let opts = DemoOptions {
        no_base_latency: true,
        ..DemoOptions::default()
    };
    let yaml = GATE.replace("max_connections: 4", "max_connections: 50");
    let r = open_run(opts, &yaml).await;
    let s = health_stats(&r);
    let service = s.service_histogram.clone().unwrap();
    let (c50, s50) = (s.quantile_ms(0.5), service.quantile_us(0.5) as f64 / 1000.0);
    assert!(c50 - s50 < 5.0, "p50 from plan {c50} ms vs service {s50} ms");
    assert!(
        r.load.generator.queued * 20 < r.load.generator.arrivals,
        "{:?}",
        r.load.generator
    );
    assert!(r.load.generator.untrusted.is_none(), "{:?}", r.load.generator);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_ramp_the_arrival_rate() {
    let opts = DemoOptions {
        no_base_latency: true,
        ..DemoOptions::default()
    };
    let yaml = r#"
version: 1
load:
  stages:
    - {duration: 2s, rate: 100}
    - {duration: 2s, rate: 100}
  max_connections: 20
scenarios:
  Poller:
    tasks:
      - request: GET /api/health
"#;
    let r = open_run(opts, yaml).await;
    // 0 -> 100/s over 2 s (100 arrivals) then 100/s for 2 s (200): 300 planned.
    let g = &r.load.generator;
    assert!((295..=300).contains(&g.arrivals), "{}", g.arrivals);
    assert_eq!(r.load.stages.len(), 2);
    assert!(
        (r.load.ramp_up_s - 2.0).abs() < 0.3,
        "the ramp stage is the ramp-up: {}",
        r.load.ramp_up_s
    );
    let s = health_stats(&r);
    assert!(s.requests >= 290);
    let ramp = r.requests[0].phases.ramp_up.requests;
    assert!((80..=120).contains(&ramp), "about 100 arrivals in the ramp: {ramp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_share_the_arrivals_by_weight() {
    let opts = DemoOptions {
        no_base_latency: true,
        ..DemoOptions::default()
    };
    let yaml = r#"
version: 1
load:
  arrival_rate: 200
  run_time: 2s
  max_connections: 8
scenarios:
  Poller:
    weight: 3
    tasks:
      - request: GET /api/health
  Lister:
    weight: 1
    tasks:
      - request: GET /api/modules
"#;
    let r = open_run(opts, yaml).await;
    let count = |name: &str| {
        r.requests
            .iter()
            .find(|q| q.name == name)
            .unwrap()
            .phases
            .all()
            .requests
    };
    let (health, modules) = (count("GET /api/health"), count("GET /api/modules"));
    // 400 arrivals: the pool of 8 is 6 Pollers and 2 Listers, so 300 and 100 (the last may miss).
    assert!((297..=300).contains(&health), "{health}");
    assert!((98..=100).contains(&modules), "{modules}");
    let g = &r.load.generator;
    assert!((398..=401).contains(&g.arrivals), "{}", g.arrivals);
    assert_eq!(g.dropped, 0);
    assert_eq!(health + modules, g.arrivals, "every arrival due was sent once");
}

#[test]
fn open_model_gate_errors_are_located() {
    let both = "version: 1\nload:\n  users: 5\n  arrival_rate: 10\n  run_time: 5s\nscenarios: {A: {tasks: [{request: GET /}]}}\n";
    let e = Gate::parse("g.yaml", both).unwrap_err().to_string();
    assert!(e.contains("g.yaml:3:10") && e.contains("choose one"), "{e}");
    let stages_vs_run_time = "version: 1\nload:\n  stages: [{duration: 5s, rate: 10}]\n  run_time: 1m\nscenarios: {A: {tasks: [{request: GET /}]}}\n";
    let e = Gate::parse("g.yaml", stages_vs_run_time).unwrap_err().to_string();
    assert!(e.contains("differs from the stages' total"), "{e}");
    let neither = "version: 1\nload:\n  run_time: 5s\nscenarios: {A: {tasks: [{request: GET /}]}}\n";
    let e = Gate::parse("g.yaml", neither).unwrap_err().to_string();
    assert!(e.contains("needs `users`"), "{e}");
}

/// Runs an open-model gate whose scenario ends with `on_stop: DELETE /bye` against a loopback server,
/// and returns when each `/bye` arrived, counted from just before the run started.
async fn on_stop_arrivals(load: &str) -> Vec<Duration> {
    let byes: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let log = byes.clone();
    let app = Router::new()
        .route(
            "/bye",
            delete(move || {
                let log = log.clone();
                async move {
                    log.lock().unwrap().push(Instant::now());
                    "bye"
                }
            }),
        )
        .fallback(|| async { "ok" });
    let server = TestServer::start(app).await;
    let yaml = format!(
        "
version: 1
load:
{load}
  max_connections: 2
  grace: 2s
scenarios:
  Poller:
    tasks:
      - request: GET /api/health
    on_stop:
      - {{method: DELETE, path: /bye}}
"
    );
    let gate = common::gate(&yaml);
    let started = Instant::now();
    common::run(&gate, common::at(&server.url(), 11)).await;
    let times = byes
        .lock()
        .unwrap()
        .iter()
        .map(|t| t.duration_since(started))
        .collect::<Vec<_>>();
    times
}

/// Users stay until the run ends even when the arrival schedule ends before it: at 2/s for 3 s the
/// last arrival is planned at 2.5 s, yet `on_stop` waits for the end of the run (3 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_stop_waits_for_the_end_of_the_run_not_of_the_schedule() {
    let byes = on_stop_arrivals("  arrival_rate: 2\n  run_time: 3s").await;
    assert!(!byes.is_empty(), "on_stop never ran");
    let first = byes.iter().min().unwrap();
    assert!(
        *first >= Duration::from_millis(2700),
        "`DELETE /bye` arrived {first:?} into a 3 s run: on_stop ran when the schedule ended"
    );
}

/// The same with stages whose rate falls to 0 for the last second: arrivals end at 2 s, the run at
/// 3 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_stop_waits_for_the_end_of_the_run_after_a_silent_stage() {
    let byes = on_stop_arrivals(
        "  start_rate: 5\n  stages: [{duration: 2s, rate: 5}, {duration: 1ms, rate: 0}, {duration: 999ms, rate: 0}]",
    )
    .await;
    assert!(!byes.is_empty(), "on_stop never ran");
    let first = byes.iter().min().unwrap();
    assert!(
        *first >= Duration::from_millis(2700),
        "`DELETE /bye` arrived {first:?} into a 3 s run: on_stop ran when the schedule ended"
    );
}
