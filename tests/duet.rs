//! Duet mode end to end: head and base loaded together; a slower head is found, the same build twice is not.

use perfgate::demo::{DemoOptions, DemoServer, RouteFactor};
use perfgate::gate::Gate;
use perfgate::http::BaseUrl;
use perfgate::load::{engine, Overrides, Plan};
use perfgate::metrics::results::{GateInfo, Side};
use perfgate::verdict::compare::{Change, Mode};
use std::sync::Arc;
use std::time::Duration;

const GATE: &str = r#"
version: 1
load: {users: 10, spawn_rate: 50, run_time: 8s}  # 7 blocks of 1 s at least: 6 are needed for an interval
scenarios:
  Poller:
    think_time: 10ms..20ms
    tasks:
      - request: GET /api/health
regression:
  min_effect: 0.5ms
  budgets:
    - select: GET /api/health
      p50: +20%
      avg: +20%
"#;

async fn duet(head_factor: Option<f64>) -> Vec<Change> {
    let base = DemoServer::start(DemoOptions::default()).await.unwrap();
    let head_opts = DemoOptions {
        slow_routes: head_factor
            .map(|f| {
                vec![RouteFactor {
                    route: "GET /api/health".parse().unwrap(),
                    factor: f,
                }]
            })
            .unwrap_or_default(),
        ..DemoOptions::default()
    };
    let head = DemoServer::start(head_opts).await.unwrap();
    let gate = Gate::parse("duet.yaml", GATE).unwrap();
    let plan = Plan::new(
        &gate,
        &Overrides {
            host: Some(head.url()),
            seed: Some(3),
            ..Overrides::default()
        },
    )
    .unwrap();
    let info = GateInfo {
        file: gate.file.clone(),
        name: gate.name.clone(),
        sha256: gate.sha256.clone(),
    };
    let plan = Arc::new(plan);
    let run = engine::run_duet(
        plan.clone(),
        BaseUrl::parse(&base.url()).unwrap(),
        |_| {},
        std::future::pending(),
    );
    let measured = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .unwrap()
        .unwrap();
    let provenance = perfgate::metrics::assemble::Provenance::new(info, None, perfgate::app::current_environment());
    let mut both = perfgate::metrics::assemble::assemble(&plan.planned(), measured, &provenance).into_iter();
    let (h, b) = (both.next().unwrap(), both.next().unwrap());
    head.stop().await;
    base.stop().await;
    assert_eq!(h.load.duet.as_ref().map(|d| d.side), Some(Side::Head));
    assert_eq!(b.load.duet.as_ref().map(|d| d.side), Some(Side::Base));
    let (hs, bs) = (h.requests[0].phases.steady.clone(), b.requests[0].phases.steady.clone());
    // Paired users: both sides get the same number of requests.
    assert!(
        hs.requests.abs_diff(bs.requests) <= 10,
        "{} vs {}",
        hs.requests,
        bs.requests
    );
    let v = perfgate::verdict::judge_with_baseline(&gate, &h, &b, Mode::Duet);
    let reg = v.regression.unwrap();
    eprintln!(
        "{:#?}",
        reg.comparisons
            .iter()
            .map(|c| (&c.name, c.change, &c.reason))
            .collect::<Vec<_>>()
    );
    reg.comparisons.iter().map(|c| c.change).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slower_head_is_a_regression() {
    // GET /api/health's base latency is ~5 ms; twice that is far beyond +20 %.
    assert_eq!(duet(Some(2.0)).await, vec![Change::Regression, Change::Regression]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_build_twice_is_not() {
    let changes = duet(None).await;
    assert!(changes.iter().all(|c| *c != Change::Regression), "{changes:?}");
}
