//! Bodies, template functions, lists with `for_each`, the scenario split and the end of a run,
//! against real loopback servers (issue 18, items 3 and 4).

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, Method, Uri};
use axum::routing::{delete, post};
use axum::{Json, Router};
use common::*;
use perfgate::gate::Gate;
use perfgate::load::Plan;
use serde_json::json;

/// A server that logs method, path and query, content type and body of every request.
fn recorder(seen: Log<(String, String, String, Vec<u8>)>) -> Router {
    Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let seen = seen.clone();
        async move {
            let ctype = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            seen.lock()
                .unwrap()
                .push((method.to_string(), uri.to_string(), ctype, body.to_vec()));
            "ok"
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_and_form_bodies_arrive_with_their_content_type_and_bytes() {
    let seen = log();
    let server = TestServer::start(recorder(seen.clone())).await;
    let g = gate(
        r#"
version: 1
variables: {who: "a b&c"}
load: {users: 1, run_time: 300ms, grace: 2s}
scenarios:
  U:
    think_time: 1s
    tasks:
      - sequence:
          - {method: POST, path: /xml, body: {content_type: application/xml, text: "<who>{who}</who>"}}
          - {method: PUT, path: /plain, body: "plain {who}"}
          - {method: POST, path: /form, form: {name: "{who}", n: 7, "k y": "x=y"}}
"#,
    );
    let _ = run(&g, at(&server.url(), 1)).await;
    let seen = entries(&seen);
    let find = |p: &str| {
        seen.iter()
            .find(|s| s.1 == p)
            .cloned()
            .unwrap_or_else(|| panic!("no {p} in {seen:?}"))
    };
    let xml = find("/xml");
    assert_eq!(
        (xml.2.as_str(), xml.3.as_slice()),
        ("application/xml", &b"<who>a b&c</who>"[..])
    );
    let plain = find("/plain");
    assert_eq!((plain.0.as_str(), plain.2.as_str()), ("PUT", "text/plain"));
    assert_eq!(plain.3, b"plain a b&c");
    let form = find("/form");
    assert_eq!(form.2, "application/x-www-form-urlencoded");
    assert_eq!(String::from_utf8_lossy(&form.3), "name=a%20b%26c&n=7&k%20y=x%3Dy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_values_are_unique_across_users_and_functions_render() {
    let seen = log();
    let server = TestServer::start(recorder(seen.clone())).await;
    let g = gate(
        r#"
version: 1
load: {users: 6, run_time: 600ms, grace: 2s}
scenarios:
  U:
    think_time: 10ms
    tasks:
      - request:
          method: POST
          path: "/c/{counter}"
          query: {r: "{random_int 3 5}", t: "{now}"}
          json: {id: "{uuid}", at: "{now_iso}", n: "{counter}"}
"#,
    );
    let _ = run(&g, at(&server.url(), 9)).await;
    let seen = entries(&seen);
    assert!(seen.len() >= 30, "too few requests: {}", seen.len());
    let mut counters = Vec::new();
    let mut uuids = BTreeSet::new();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    for (_, uri, ctype, body) in &seen {
        assert_eq!(ctype, "application/json");
        let uri: Uri = uri.parse().unwrap();
        counters.push(uri.path().trim_start_matches("/c/").parse::<u64>().unwrap());
        let q: std::collections::HashMap<&str, &str> = uri
            .query()
            .unwrap()
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let r: i64 = q["r"].parse().unwrap();
        assert!((3..=5).contains(&r), "{r}");
        let t: u64 = q["t"].parse().unwrap();
        assert!(
            t <= before && t + 60_000 > before,
            "{t} is not a recent unix time in ms"
        );
        let doc: serde_json::Value = serde_json::from_slice(body).unwrap();
        let id = doc["id"].as_str().unwrap();
        let parsed = uuid_shape(id);
        assert!(parsed, "{id} is not a v4 UUID");
        uuids.insert(id.to_string());
        let at = doc["at"].as_str().unwrap();
        assert!(humantime::parse_rfc3339(at).is_ok() && at.ends_with('Z'), "{at}");
        counters.push(doc["n"].as_str().unwrap().parse().unwrap());
    }
    let distinct: BTreeSet<u64> = counters.iter().copied().collect();
    assert_eq!(distinct.len(), counters.len(), "a counter value repeated");
    assert_eq!(distinct.first(), Some(&1));
    assert_eq!(
        distinct.last(),
        Some(&(counters.len() as u64)),
        "counter values leave gaps"
    );
    assert_eq!(uuids.len(), seen.len(), "a uuid repeated");
}

fn uuid_shape(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 36
        && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-')
        && b[14] == b'4'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
        && s.chars().filter(|&c| c != '-').all(|c| c.is_ascii_hexdigit())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_values_repeat_with_the_seed() {
    let g = gate(
        r#"
version: 1
load: {users: 1, run_time: 400ms, grace: 2s}
scenarios:
  U:
    think_time: 20ms
    tasks: ["GET /r/{random_int 1 1000000}/{uuid}"]
"#,
    );
    let mut firsts = Vec::new();
    for seed in [5, 5, 6] {
        let seen = log();
        let server = TestServer::start(recorder(seen.clone())).await;
        let _ = run(&g, at(&server.url(), seed)).await;
        let paths: Vec<String> = entries(&seen).into_iter().map(|s| s.1).take(5).collect();
        assert_eq!(paths.len(), 5, "{paths:?}");
        firsts.push(paths);
    }
    assert_eq!(firsts[0], firsts[1], "the same seed sends the same values");
    assert_ne!(firsts[0], firsts[2], "another seed sends others");
}

/// The Locust file's pattern: every created id is collected and each is deleted when the user stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_collected_id_is_deleted_at_on_stop() {
    let next = Arc::new(AtomicU64::new(1));
    let created = log();
    let deleted = log();
    let (c, d) = (created.clone(), deleted.clone());
    let app = Router::new()
        .route(
            "/runs",
            post(move || {
                let (next, c) = (next.clone(), c.clone());
                async move {
                    let id = next.fetch_add(1, Ordering::Relaxed);
                    c.lock().unwrap().push(id);
                    Json(json!({"run_id": format!("r{id}")}))
                }
            }),
        )
        .route(
            "/runs/{id}",
            delete(move |Path(id): Path<String>| {
                let d = d.clone();
                async move {
                    d.lock().unwrap().push(id);
                    "gone"
                }
            }),
        );
    let server = TestServer::start(app).await;
    let g = gate(
        r#"
version: 1
load: {users: 3, run_time: 500ms, grace: 4s}
scenarios:
  U:
    think_time: 20ms
    tasks:
      - request: {method: POST, path: /runs, extract: {"runs[]": $.run_id, last: $.run_id}}
    on_stop:
      - {method: DELETE, path: "/runs/{item}", for_each: runs, name: "DELETE /runs/{id}"}
"#,
    );
    let r = run(&g, at(&server.url(), 3)).await;
    let created: BTreeSet<String> = entries(&created).iter().map(|i| format!("r{i}")).collect();
    let deleted_log = entries(&deleted);
    let deleted: BTreeSet<String> = deleted_log.iter().cloned().collect();
    assert!(created.len() >= 6, "too few runs created: {}", created.len());
    assert_eq!(deleted_log.len(), deleted.len(), "an id was deleted twice");
    assert_eq!(deleted, created, "every created run is deleted, once");
    assert_eq!(stats(&r, "DELETE /runs/{id}").requests, created.len() as u64);
    assert_eq!(stats(&r, "DELETE /runs/{id}").failures, 0);
}

/// Users leave their `on_stop` steps spread over the first half of the grace period, not all in the
/// same instant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_stop_requests_are_spread_over_the_grace_period() {
    let times: Log<Instant> = log();
    let t = times.clone();
    let app = Router::new().fallback(move |method: Method| {
        let t = t.clone();
        async move {
            if method == Method::DELETE {
                t.lock().unwrap().push(Instant::now());
            }
            "ok"
        }
    });
    let server = TestServer::start(app).await;
    let g = gate(
        r#"
version: 1
load: {users: 20, run_time: 300ms, grace: 3s}
scenarios:
  U:
    think_time: 50ms
    tasks: [GET /work]
    on_stop: [DELETE /session]
targets:
  - {select: "*", p95: 10s}
"#,
    );
    let r = run(&g, at(&server.url(), 11)).await;
    let mut times = entries(&times);
    times.sort();
    assert_eq!(times.len(), 20, "every user stops once");
    let span = times[19] - times[0];
    // Uniform over 1.5 s: the 20 draws span more than 0.7 s with probability above 1 - 1e-5;
    // sent in the same instant they would span a few milliseconds.
    assert!(span.as_millis() > 700, "on_stop requests span only {span:?}");
    let gaps = times.windows(2).filter(|w| (w[1] - w[0]).as_millis() >= 10).count();
    assert!(gaps >= 5, "the stops come in bunches: {gaps} gaps of 10 ms or more");
    // The stop phase is its own row, which broad selectors leave out.
    let row = r.requests.iter().find(|q| q.name == "DELETE /session").unwrap();
    assert!(row.lifecycle, "on_stop requests are lifecycle rows");
    let v = perfgate::verdict::judge(&g, &r);
    assert_eq!(
        v.checks[0].requests,
        ["GET /work"],
        "`select: \"*\"` leaves the stop phase out"
    );
    assert!(v.notes.iter().any(|n| n.contains("DELETE /session")), "{:?}", v.notes);
}

/// `--users 10` over three equal classes splits as Locust does: by class name, not by file order.
#[test]
fn ten_users_over_three_equal_classes_split_like_locust() {
    let g = gate(
        "version: 1\nload: {users: 10, run_time: 1s}\nscenarios:\n  Charlie: {tasks: [GET /c]}\n  Alpha: {tasks: [GET /a]}\n  Bravo: {tasks: [GET /b]}\n",
    );
    let plan = Plan::new(&g, &at("http://127.0.0.1:1", 1)).unwrap();
    let split = plan.planned().load.users_per_scenario;
    let split: Vec<(&str, u32)> = split.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(split, [("Alpha", 4), ("Bravo", 3), ("Charlie", 3)]);
    let first: Vec<&str> = plan.assignment[..4]
        .iter()
        .map(|&i| plan.scenarios[i].name.as_str())
        .collect();
    assert_eq!(first, ["Alpha", "Bravo", "Charlie", "Alpha"]);
}

fn invalid(yaml: &str) -> String {
    match Gate::parse("g.yaml", yaml) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

const HEAD: &str = "version: 1\nload: {users: 1, run_time: 1s}\nscenarios:\n  U:\n    tasks:\n";

#[test]
fn bad_bodies_functions_and_lists_are_refused_with_where_and_the_fix() {
    let e = invalid(&format!("{HEAD}      - request:\n          method: POST\n          path: /x\n          json: {{a: 1}}\n          form: {{b: 2}}\n"));
    assert!(e.contains("g.yaml:10:17") && e.contains("has `json` and `form`"), "{e}");
    let e = invalid(&format!("{HEAD}      - \"GET /x/{{randon_int 1 5}}\"\n"));
    assert!(
        e.contains("g.yaml:6:9") && e.contains("did you mean `random_int`?"),
        "{e}"
    );
    let e = invalid(&format!("{HEAD}      - \"GET /x/{{uuidd}}\"\n"));
    assert!(e.contains("did you mean `{uuid}`?"), "{e}");
    let e = invalid(&format!(
        "{HEAD}      - request: {{method: POST, path: /r, extract: {{\"ids[]\": $.id}}}}\n    on_stop:\n      - {{method: DELETE, path: \"/r/{{item}}\", for_each: idz}}\n"
    ));
    assert!(
        e.contains("g.yaml:8:55") && e.contains("`for_each: idz` names a list") && e.contains("did you mean `ids`?"),
        "{e}"
    );
    let e = invalid(&format!(
        "{HEAD}      - request: {{method: POST, path: /r, extract: {{\"ids[]\": $.id}}}}\n      - \"DELETE /r/{{ids}}\"\n"
    ));
    assert!(e.contains("is a list") && e.contains("for_each: ids"), "{e}");
    let e = invalid(&format!("{HEAD}      - \"DELETE /r/{{item}}\"\n"));
    assert!(e.contains("set by `for_each"), "{e}");
    let e = invalid(
        "version: 1\nvariables: {now: x}\nload: {users: 1, run_time: 1s}\nscenarios:\n  U:\n    tasks: [GET /x]\n",
    );
    assert!(
        e.contains("g.yaml:2:18") && e.contains("`{now}` would never read it"),
        "{e}"
    );
    let e = invalid(&format!(
        "{HEAD}      - request: {{path: /r, extract: {{counter: $.n}}}}\n"
    ));
    assert!(e.contains("a template function"), "{e}");
    let e = invalid(&format!(
        "{HEAD}      - request: {{method: POST, path: /r, body: {{text: x, content_type: \"a\\nb\"}}}}\n"
    ));
    assert!(e.contains("not a valid header value"), "{e}");
}

/// A server with redirects: within the host, to another host, in a loop, and after a POST.
fn redirecting(landed: Log<(String, Vec<u8>)>, paths: Log<String>) -> Router {
    use axum::http::{header::LOCATION, StatusCode};
    let to = |code: StatusCode, at: &'static str| move || async move { (code, [(LOCATION, at)], "") };
    Router::new()
        .route("/old", axum::routing::get(to(StatusCode::FOUND, "/hop")))
        .route("/hop", axum::routing::get(to(StatusCode::MOVED_PERMANENTLY, "new?x=1")))
        .route(
            "/far",
            axum::routing::get(to(StatusCode::FOUND, "http://example.invalid/x")),
        )
        .route("/loop", axum::routing::get(to(StatusCode::TEMPORARY_REDIRECT, "/loop")))
        .route("/post", post(to(StatusCode::SEE_OTHER, "/landing")))
        .route("/keep", post(to(StatusCode::PERMANENT_REDIRECT, "/landing")))
        .route(
            "/landing",
            axum::routing::any(move |method: Method, body: Bytes| {
                let landed = landed.clone();
                async move {
                    landed.lock().unwrap().push((method.to_string(), body.to_vec()));
                    "landed"
                }
            }),
        )
        .fallback(move |uri: Uri| {
            let paths = paths.clone();
            async move {
                paths.lock().unwrap().push(uri.to_string());
                "ok"
            }
        })
}

const REDIRECTS: &str = r#"
version: 1
load: {users: 1, run_time: 200ms, grace: 3s}
scenarios:
  U:
    think_time: 1s
    tasks:
      - sequence:
          - GET /old
          - GET /far
          - GET /loop
          - {method: POST, path: /post, body: "drop me"}
          - {method: POST, path: /keep, body: "keep me"}
          - {path: /old, name: not followed, follow_redirects: false}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_followed_on_the_host_and_refused_elsewhere() {
    let (landed, paths) = (log(), log());
    let server = TestServer::start(redirecting(landed.clone(), paths.clone())).await;
    let r = run(&gate(REDIRECTS), at(&server.url(), 1)).await;
    let old = stats(&r, "GET /old");
    assert_eq!((old.requests, old.failures), (1, 0));
    assert_eq!(
        old.status_codes.keys().collect::<Vec<_>>(),
        [&200],
        "the final status is shown"
    );
    assert_eq!(entries(&paths), ["/new?x=1"], "two hops, the second relative");
    let far = stats(&r, "GET /far");
    assert_eq!(
        far.failures_by_kind.get(&perfgate::metrics::FailureKind::Redirect),
        Some(&1)
    );
    assert!(
        far.failure_reasons
            .iter()
            .any(|x| x.reason.contains("`http://example.invalid/x`")),
        "{:?}",
        far.failure_reasons
    );
    let lp = stats(&r, "GET /loop");
    assert!(lp
        .failure_reasons
        .iter()
        .any(|x| x.reason.contains("more than 10 redirects")));
    // 303 continues as a GET without the body; 308 repeats the POST with it.
    assert_eq!(
        entries(&landed),
        [
            ("GET".to_string(), Vec::new()),
            ("POST".to_string(), b"keep me".to_vec())
        ]
    );
    let off = stats(&r, "not followed");
    assert_eq!(
        (off.failures, off.status_codes.keys().collect::<Vec<_>>()),
        (0, vec![&302])
    );
    // /old: 2, /loop: 10, /post and /keep: 1 each.
    assert_eq!(r.load.redirects_followed, 14);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_redirects_false_records_the_redirect_itself() {
    let (landed, paths) = (log(), log());
    let server = TestServer::start(redirecting(landed, paths.clone())).await;
    let g = gate("version: 1\nfollow_redirects: false\nload: {users: 1, run_time: 200ms, grace: 2s}\nscenarios:\n  U:\n    think_time: 1s\n    tasks: [{sequence: [GET /old, GET /far]}]\n");
    let r = run(&g, at(&server.url(), 1)).await;
    let old = stats(&r, "GET /old");
    assert_eq!(
        (old.requests, old.failures, old.status_codes.get(&302).copied()),
        (1, 0, Some(1))
    );
    let far = stats(&r, "GET /far");
    assert_eq!((far.failures, far.status_codes.get(&302).copied()), (0, Some(1)));
    assert!(entries(&paths).is_empty(), "nothing followed: {:?}", entries(&paths));
    assert_eq!(r.load.redirects_followed, 0);
}

const USERS_CSV: &str = "user,pass\nu1,p 1\nu2,p2\nu3,p3\n";

fn data_gate(dir: &TempDir, users: u32, mode: &str) -> Gate {
    dir.write("users.csv", USERS_CSV);
    let file = dir.write(
        "gate.yaml",
        &format!(
            "version: 1\nload: {{users: {users}, run_time: 300ms, grace: 2s}}\nscenarios:\n  U:\n    data: {{file: users.csv, mode: {mode}}}\n    think_time: 1s\n    on_start: [\"GET /login/{{user}}?p={{pass}}\"]\n    tasks: [GET /work]\n"
        ),
    );
    Gate::load(&file).unwrap_or_else(|e| panic!("{e}"))
}

fn logins(paths: &[String]) -> Vec<String> {
    let mut v: Vec<String> = paths.iter().filter(|p| p.starts_with("/login/")).cloned().collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_and_unique_data_give_each_user_its_row() {
    let dir = TempDir::new("gate-data-rows");
    let seen = log();
    let server = TestServer::start(recorder(seen.clone())).await;
    let r = run(&data_gate(&dir, 5, "sequential"), at(&server.url(), 1)).await;
    let paths: Vec<String> = entries(&seen).into_iter().map(|s| s.1).collect();
    assert_eq!(
        logins(&paths),
        [
            "/login/u1?p=p%201",
            "/login/u1?p=p%201",
            "/login/u2?p=p2",
            "/login/u2?p=p2",
            "/login/u3?p=p3"
        ]
    );
    assert_eq!(r.load.peak_users, 5);

    let seen = log();
    let server = TestServer::start(recorder(seen.clone())).await;
    let r = run(&data_gate(&dir, 5, "unique"), at(&server.url(), 1)).await;
    let paths: Vec<String> = entries(&seen).into_iter().map(|s| s.1).collect();
    assert_eq!(
        logins(&paths),
        ["/login/u1?p=p%201", "/login/u2?p=p2", "/login/u3?p=p3"]
    );
    assert_eq!(r.load.peak_users, 3, "users beyond the rows do not start");
}

#[test]
fn random_rows_follow_the_seed_and_shards_share_no_unique_row() {
    use perfgate::load::plan::RowPick;
    let dir = TempDir::new("gate-data-random");
    let g = data_gate(&dir, 30, "random");
    let rows = |seed| Plan::new(&g, &at("http://127.0.0.1:1", seed)).unwrap().rows;
    let a = rows(4);
    assert_eq!(a, rows(4), "the same seed picks the same rows");
    assert_ne!(a, rows(5));
    let distinct: BTreeSet<usize> = a
        .iter()
        .map(|p| match p {
            RowPick::Row(i) => *i,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(distinct, BTreeSet::from([0, 1, 2]));

    let g = data_gate(&dir, 5, "unique");
    let whole = Plan::new(&g, &at("http://127.0.0.1:1", 1)).unwrap();
    let mut taken = Vec::new();
    for i in 1..=2 {
        let s = whole.clone().shard(perfgate::load::shard::Shard::new(i, 2).unwrap());
        assert_eq!(s.rows.len(), s.assignment.len());
        taken.extend(s.rows.iter().filter_map(|p| match p {
            RowPick::Row(i) => Some(*i),
            _ => None,
        }));
    }
    taken.sort();
    assert_eq!(taken, [0, 1, 2], "each unique row goes to one user over all shards");
}

#[test]
fn bad_data_files_are_refused_with_where_and_the_fix() {
    let dir = TempDir::new("gate-data-bad");
    let check = |data: &str, csv: Option<&str>, path: &str, wants: &[&str]| {
        if let Some(text) = csv {
            dir.write("d.csv", text);
        }
        let file = dir.write(
            "g.yaml",
            &format!("version: 1\nload: {{users: 1, run_time: 1s}}\nscenarios:\n  U:\n    data: {data}\n    tasks: [\"GET {path}\"]\n"),
        );
        let e = Gate::load(&file)
            .err()
            .unwrap_or_else(|| panic!("accepted {data}"))
            .to_string();
        for w in wants {
            assert!(e.contains(w), "no `{w}` in\n{e}");
        }
    };
    check(
        "{file: missing.csv}",
        None,
        "/x",
        &["g.yaml:5:18", "cannot read the data file", "relative to the gate file"],
    );
    check(
        "{file: d.csv}",
        Some("user,pass\n"),
        "/x",
        &["g.yaml:5:18", "`d.csv` has no rows"],
    );
    check("{file: d.csv}", Some(""), "/x", &["has no rows"]);
    check(
        "{file: d.csv, mode: uniq}",
        Some("user\nu1\n"),
        "/x",
        &["g.yaml:5:31", "not a mode", "did you mean `unique`?"],
    );
    check(
        "{file: d.csv}",
        Some("user,pass\nu1,p1\n"),
        "/x/{usr}",
        &[
            "g.yaml:6:13",
            "nor is it a column of `d.csv` (user, pass)",
            "did you mean `{user}`?",
        ],
    );
    check(
        "{file: d.csv}",
        Some("user,pass\nu1,p1\nu2\n"),
        "/x",
        &["`d.csv:3` is not valid CSV", "as many fields"],
    );
}
