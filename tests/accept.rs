//! Accepted regressions as code: a gate's `accept:` entry turns a matching regression into an
//! accepted one (exit 0, the reason in every report), one beyond its `up_to` stays a regression,
//! and an entry past its `until` date is invalid input naming it.

use perfgate::demo::{DemoOptions, DemoServer, RouteFactor};
use perfgate::gate::Gate;
use perfgate::http::BaseUrl;
use perfgate::load::{engine, Overrides, Plan};
use perfgate::metrics::results::GateInfo;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

const GATE: &str = r#"
version: 1
name: accept
load: {users: 10, spawn_rate: 50, run_time: 8s}
scenarios:
  Poller:
    think_time: 10ms..20ms
    tasks:
      - request: GET /api/health
regression:
  min_effect: 0.5ms
  budgets:
    - select: GET /api/health
      avg: +20%
"#;

/// A duet of the demo against itself with GET /api/health three times slower on head: base.json
/// and head.json in `dir`.
async fn regressed_pair(dir: &Path) -> (PathBuf, PathBuf) {
    let base = DemoServer::start(DemoOptions::default()).await.unwrap();
    let head = DemoServer::start(DemoOptions {
        slow_routes: vec![RouteFactor {
            route: "GET /api/health".parse().unwrap(),
            factor: 3.0,
        }],
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    let gate = Gate::parse("accept.yaml", GATE).unwrap();
    let plan = Arc::new(
        Plan::new(
            &gate,
            &Overrides {
                host: Some(head.url()),
                seed: Some(5),
                ..Overrides::default()
            },
        )
        .unwrap(),
    );
    let run = engine::run_duet(
        plan.clone(),
        BaseUrl::parse(&base.url()).unwrap(),
        |_| {},
        std::future::pending(),
    );
    let measured = tokio::time::timeout(Duration::from_secs(40), run)
        .await
        .unwrap()
        .unwrap();
    let info = GateInfo {
        file: gate.file.clone(),
        name: gate.name.clone(),
        sha256: gate.sha256.clone(),
    };
    let provenance = perfgate::metrics::assemble::Provenance::new(info, None, perfgate::app::current_environment());
    let mut both = perfgate::metrics::assemble::assemble(&plan.planned(), measured, &provenance).into_iter();
    let (mut h, mut b) = (both.next().unwrap(), both.next().unwrap());
    // A busy runner may mark the run untrusted (exit 3); the acceptance is what is tested here, and
    // a tripled latency stands out of any runner noise.
    h.load.generator.untrusted = None;
    b.load.generator.untrusted = None;
    head.stop().await;
    base.stop().await;
    let (hp, bp) = (dir.join("head.json"), dir.join("base.json"));
    std::fs::write(&hp, serde_json::to_vec_pretty(&h).unwrap()).unwrap();
    std::fs::write(&bp, serde_json::to_vec_pretty(&b).unwrap()).unwrap();
    (bp, hp)
}

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    summary: String,
    junit: String,
}

fn compare(dir: &Path, name: &str, accept: &str, base: &Path, head: &Path) -> Out {
    compare_with(dir, name, accept, base, head, &[], None)
}

/// `perfgate compare` with extra arguments and, when given, a pull_request event with these labels.
fn compare_with(
    dir: &Path,
    name: &str,
    accept: &str,
    base: &Path,
    head: &Path,
    extra: &[&str],
    labels: Option<&[&str]>,
) -> Out {
    let gate = dir.join(format!("{name}.yaml"));
    std::fs::write(&gate, format!("{GATE}{accept}")).unwrap();
    let (summary, junit) = (dir.join(format!("{name}.md")), dir.join(format!("{name}.xml")));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_perfgate"));
    match labels {
        Some(labels) => {
            let event = dir.join(format!("{name}-event.json"));
            let labels: Vec<serde_json::Value> = labels.iter().map(|l| serde_json::json!({"name": l})).collect();
            let payload = serde_json::json!({"pull_request": {"number": 1, "head": {"sha": "abc"}, "labels": labels}});
            std::fs::write(&event, payload.to_string()).unwrap();
            cmd.env("GITHUB_EVENT_PATH", &event)
                .env("GITHUB_EVENT_NAME", "pull_request");
        }
        None => {
            cmd.env_remove("GITHUB_EVENT_PATH");
        }
    }
    let o = cmd
        .arg("compare")
        .arg(base)
        .arg(head)
        .arg("--gate")
        .arg(&gate)
        .arg("--summary")
        .arg(&summary)
        .arg("--junit")
        .arg(&junit)
        .args(extra)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .unwrap();
    Out {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        summary: std::fs::read_to_string(&summary).unwrap_or_default(),
        junit: std::fs::read_to_string(&junit).unwrap_or_default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_regression_passes_with_its_reason_and_an_expired_one_is_refused() {
    let dir = std::env::temp_dir().join(format!("perfgate-accept-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (base, head) = regressed_pair(&dir).await;

    let plain = compare(&dir, "plain", "", &base, &head);
    assert_eq!(
        plain.code,
        Some(1),
        "a tripled latency is a regression: {}",
        plain.stdout
    );
    assert!(plain.stdout.contains("REGRESSION"), "{}", plain.stdout);

    let in_force = "accept:\n  - select: GET /api/health\n    metric: avg\n    up_to: +400%\n    reason: new auth check on every request\n    until: 2999-12-31\n";
    let a = compare(&dir, "in-force", in_force, &base, &head);
    assert_eq!(a.code, Some(0), "{}\n{}", a.stdout, a.stderr);
    for (what, text) in [("terminal", &a.stdout), ("summary", &a.summary), ("junit", &a.junit)] {
        assert!(
            text.contains("accepted") && text.contains("new auth check on every request"),
            "{what}: {text}"
        );
    }
    assert!(a.summary.contains("✅ accepted"), "{}", a.summary);

    // The same entry with a smaller allowance: the regression is beyond it and stays one.
    let small = in_force.replace("+400%", "+20%");
    let b = compare(&dir, "beyond", &small, &base, &head);
    assert_eq!(b.code, Some(1), "{}", b.stdout);
    assert!(b.stdout.contains("is beyond `accept` at line"), "{}", b.stdout);

    // Another metric or subject is not accepted by it.
    let other = in_force.replace("metric: avg", "metric: p95");
    assert_eq!(compare(&dir, "other", &other, &base, &head).code, Some(1));

    // Past its date: invalid input naming the entry, before anything is judged.
    let expired = in_force.replace("2999-12-31", "2020-01-31");
    let e = compare(&dir, "expired", &expired, &base, &head);
    assert_eq!(e.code, Some(2), "{}", e.stderr);
    let line = format!("{GATE}{expired}")
        .lines()
        .position(|l| l == "accept:")
        .map(|i| i + 2)
        .unwrap();
    assert!(
        e.stderr.contains(&format!(
            "expired.yaml:{line}:5: the accepted regression of `GET /api/health` avg"
        )) && e.stderr.contains("expired on 2020-01-31"),
        "{}",
        e.stderr
    );
    // `validate` warns of it (the gate is well formed; a run refuses it), naming the same place.
    let v = Command::new(env!("CARGO_BIN_EXE_perfgate"))
        .arg("validate")
        .arg(dir.join("expired.yaml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&v.stderr);
    assert_eq!(v.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("warning: {}", dir.join("expired.yaml").display()))
            && stderr.contains(&format!("expired.yaml:{line}:5: the accepted regression"))
            && stderr.contains("`perfgate run` would refuse the gate (exit 2)"),
        "{stderr}"
    );

    // --accept-label: the pull request's label accepts every regression, saying so; another label,
    // or none, does not.
    let label = ["--accept-label", "perf-accepted"];
    let l = compare_with(&dir, "label", "", &base, &head, &label, Some(&["bug", "perf-accepted"]));
    assert_eq!(l.code, Some(0), "{}\n{}", l.stdout, l.stderr);
    assert!(
        l.summary.contains("✅ accepted") && l.summary.contains("the pull request has the label `perf-accepted`"),
        "{}",
        l.summary
    );
    let n = compare_with(&dir, "no-label", "", &base, &head, &label, Some(&["bug"]));
    assert_eq!(n.code, Some(1), "{}", n.stdout);

    // Malformed entries are gate errors with file:line:column.
    let bad = "accept:\n  - select: GET /api/health\n    metric: p95\n    up_to: +10%..+20%\n    reason: x\n    until: 2027-02-30\n";
    let g = compare(&dir, "bad", bad, &base, &head);
    assert_eq!(g.code, Some(2));
    assert!(
        g.stderr.contains("`accept.up_to` is one amount") && g.stderr.contains("`accept.until`: expected a date"),
        "{}",
        g.stderr
    );
    std::fs::remove_dir_all(&dir).ok();
}
