//! The `perfgate` binary: exit codes and messages for bad gate files and an unreachable target, and
//! the end-to-end run of gates/prismq.yaml against `perfgate serve-demo` in a child process.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::*;
use perfgate::metrics::Results;

/// A valid gate; the bad ones below are this text with one line changed, so line numbers hold.
const GOOD: &str = "\
version: 1
host: http://127.0.0.1:9
load:
  users: 10
  run_time: 10s
scenarios:
  S:
    think_time: 1s..2s
    tasks:
      - request:
          method: POST
          path: /launch
          extract:
            run_id: $.run_id
      - request: GET /runs/{run_id}
";

/// `GOOD` with the first occurrence of `from` replaced by `to` (which must occur).
fn variant(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "`{from}` is not in the good gate");
    GOOD.replacen(from, to, 1)
}

/// The problem lines (`error: FILE:LINE:COL: message`) of a diagnostic.
fn error_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("error: ")).collect()
}

/// Runs `validate` and `run` on a gate file; both must exit 2 with the same diagnostic, which must
/// contain `FILE:LINE:COL: ` (when `at` is given) and every fragment.
fn assert_rejected(file: &Path, at: Option<(u32, u32)>, fragments: &[&str]) {
    let path = file.to_str().expect("utf-8 path");
    let mut seen = Vec::new();
    for args in [vec!["validate", path], vec!["run", path, "--run-time", "1s"]] {
        let out = perfgate(&args, None, Duration::from_secs(20));
        assert_eq!(
            out.code(),
            2,
            "`perfgate {}` must exit 2\n{}",
            args.join(" "),
            out.both()
        );
        assert!(!out.stdout.contains("valid gate"), "{}", out.both());
        assert!(!out.stderr.contains("panicked"), "{}", out.both());
        let first = error_lines(&out.stderr);
        assert!(!first.is_empty(), "no `error: ` line\n{}", out.both());
        if let Some((line, col)) = at {
            let want = format!("error: {path}:{line}:{col}: ");
            assert!(first[0].starts_with(&want), "expected `{want}...`\n{}", out.both());
        }
        for f in fragments {
            assert!(
                out.stderr.contains(f),
                "`perfgate {}`: no `{f}` in\n{}",
                args.join(" "),
                out.stderr
            );
        }
        seen.push(out.stderr);
    }
    assert_eq!(seen[0], seen[1], "`validate` and `run` report the gate differently");
}

/// A bad gate: its name, text, where the first problem is (line, column) and what the message says.
type BadGate = (&'static str, String, Option<(u32, u32)>, Vec<&'static str>);

/// Item 9: bad gate files exit 2 from both `validate` and `run`, naming file:line:column.
#[test]
fn bad_gate_files_exit_2_with_file_line_column() {
    let dir = TempDir::new("bad-gates");
    let good = dir.write("good.yaml", GOOD);
    let out = perfgate(&["validate", good.to_str().unwrap()], None, Duration::from_secs(20));
    assert_eq!(out.code(), 0, "the base gate must be valid:\n{}", out.both());

    let cases: Vec<BadGate> = vec![
        (
            "misspelt-key",
            variant("  users: 10", "  uesrs: 10"),
            Some((4, 3)),
            vec!["unknown key `uesrs`", "did you mean `users`"],
        ),
        ("wrong-type", variant("users: 10", "users: ten"), Some((4, 10)), vec!["4 |   users: ten"]),
        (
            "bad-duration",
            variant("run_time: 10s", "run_time: 10 minutes"),
            Some((5, 13)),
            vec!["run_time", "`10 minutes`"],
        ),
        (
            "undefined-variable",
            variant("GET /runs/{run_id}", "GET /runs/{run_idd}"),
            Some((15, 18)),
            vec!["{run_idd}", "did you mean `{run_id}`"],
        ),
        (
            "backwards-think-time",
            variant("think_time: 1s..2s", "think_time: 3s..1s"),
            Some((8, 17)),
            vec!["think_time", "backwards"],
        ),
        ("unknown-method", variant("method: POST", "method: FETCH"), Some((11, 11)), vec!["`FETCH` is not an HTTP method"]),
        (
            "empty-scenarios",
            "version: 1\nhost: http://127.0.0.1:9\nload:\n  users: 1\n  run_time: 1s\nscenarios: {}\n".into(),
            Some((6, 12)),
            vec!["`scenarios` is empty"],
        ),
        (
            "empty-tasks",
            "version: 1\nhost: http://127.0.0.1:9\nload:\n  users: 1\n  run_time: 1s\nscenarios:\n  S:\n    tasks: []\n".into(),
            Some((8, 12)),
            vec!["scenario `S` has no tasks"],
        ),
        (
            "no-tasks-key",
            "version: 1\nhost: http://127.0.0.1:9\nload:\n  users: 1\n  run_time: 1s\nscenarios:\n  S:\n    think_time: 1s\n".into(),
            None,
            vec![":8:", "`tasks`"],
        ),
        (
            "misspelt-nested-key",
            variant("think_time: 1s..2s", "think_tim: 1s..2s"),
            Some((8, 5)),
            vec!["unknown key `think_tim`", "did you mean `think_time`"],
        ),
    ];
    for (name, text, at, fragments) in &cases {
        let file = dir.write(&format!("{name}.yaml"), text);
        assert_rejected(&file, *at, fragments);
    }
}

/// Item 9: one mistake gives one message, in plain words, and the message does not repeat the location
/// its `file:line:column` prefix already gives.
#[test]
fn gate_messages_are_plain_and_located_once() {
    let dir = TempDir::new("plain-messages");
    let mut wrong = Vec::new();
    for (name, text, at, want) in [
        ("wrong-type", variant("users: 10", "users: ten"), (4, 10), "expected a whole number"),
        (
            "no-tasks-key",
            "version: 1\nhost: http://127.0.0.1:9\nload:\n  users: 1\n  run_time: 1s\nscenarios:\n  S:\n    think_time: 1s\n"
                .to_string(),
            (8, 5),
            "missing key `tasks`",
        ),
    ] {
        let file = dir.write(&format!("{name}.yaml"), &text);
        let path = file.to_str().unwrap();
        let out = perfgate(&["validate", path], None, Duration::from_secs(20));
        assert_eq!(out.code(), 2, "{}", out.both());
        let lines = error_lines(&out.stderr);
        assert_eq!(lines.len(), 1, "{name}: one mistake, one message:\n{}", out.stderr);
        let prefix = format!("error: {path}:{}:{}: ", at.0, at.1);
        let message = lines[0]
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{name}: expected `{prefix}...`:\n{}", out.stderr));
        if !message.contains(want) {
            wrong.push(format!("{name}: expected `{want}` in `{message}`"));
        }
        if message.contains("at line") {
            wrong.push(format!("{name}: the message repeats the location: `{message}`"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Item 9: a request with an unknown method is one error; the variable it extracts still counts as
/// defined, so later requests reading it are not reported too.
#[test]
fn an_invalid_request_does_not_cascade_into_other_errors() {
    let dir = TempDir::new("no-cascade");
    let file = dir.write("m.yaml", &variant("method: POST", "method: FETCH"));
    let out = perfgate(&["validate", file.to_str().unwrap()], None, Duration::from_secs(20));
    assert_eq!(out.code(), 2, "{}", out.both());
    let lines = error_lines(&out.stderr);
    assert_eq!(lines.len(), 1, "one mistake (`FETCH`), yet:\n{}", out.stderr);
    assert!(lines[0].contains("FETCH"), "{}", out.stderr);
}

/// A refused connection is reported at once; a preflight that waited for an answer instead would take
/// its whole timeout, and a run that started would take its 60 s. Process start fits far below both.
const FAIL_FAST: Duration = perfgate::load::engine::PREFLIGHT_TIMEOUT;

/// Item 8 (binary): a target that refuses connections stops the run before load with exit 3 and one
/// error line naming the URL; no results file is written.
#[test]
fn unreachable_target_exits_3_naming_the_url() {
    let dir = TempDir::new("refused");
    let gate = dir.write("g.yaml", GOOD);
    let out_file = dir.join("r.json");
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = perfgate(
        &[
            "run",
            gate.to_str().unwrap(),
            "--host",
            &url,
            "--run-time",
            "60s",
            "--out",
            out_file.to_str().unwrap(),
        ],
        None,
        Duration::from_secs(20),
    );
    assert_eq!(out.code(), 3, "{}", out.both());
    assert!(
        out.elapsed < FAIL_FAST,
        "a refused connection must stop the run at once, before load and before the {FAIL_FAST:?} preflight timeout; took {:?}",
        out.elapsed
    );
    let lines = error_lines(&out.stderr);
    assert_eq!(lines.len(), 1, "one error line:\n{}", out.stderr);
    assert!(lines[0].contains(&url), "the error must name {url}: `{}`", lines[0]);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(!out_file.exists(), "no results from a run that never started");
}

/// Item 10: `perfgate validate gates/prismq.yaml` exits 0.
#[test]
fn example_gate_validates() {
    let out = perfgate(&["validate", "gates/prismq.yaml"], None, Duration::from_secs(20));
    assert_eq!(out.code(), 0, "{}", out.both());
    assert!(out.stdout.contains("valid gate `prismq`"), "{}", out.both());
    for class in ["WebClientUser", "HighLoadUser", "BurstUser"] {
        assert!(out.stdout.contains(class), "the outline lacks {class}:\n{}", out.stdout);
    }
}

/// Item 10: `perfgate schema` prints a JSON Schema describing `scenarios`.
#[test]
fn schema_is_json_with_scenarios() {
    let out = perfgate(&["schema"], None, Duration::from_secs(20));
    assert_eq!(out.code(), 0, "{}", out.both());
    let v: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", out.stdout));
    assert!(
        v["properties"]["scenarios"].is_object(),
        "no properties.scenarios in\n{}",
        out.stdout
    );
    assert!(v["properties"]["load"].is_object());
}

/// The `# reqs` and `# fails` cells of the stdout table row for `name`.
fn table_row(stdout: &str, name: &str) -> (u64, u64) {
    let rows: Vec<(u64, u64)> = stdout
        .lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix(name)?;
            if !rest.starts_with(char::is_whitespace) {
                return None;
            }
            let mut cells = rest.split_whitespace();
            Some((cells.next()?.parse().ok()?, cells.next()?.parse().ok()?))
        })
        .collect();
    assert_eq!(
        rows.len(),
        1,
        "expected one table row for `{name}`, found {rows:?} in\n{stdout}"
    );
    rows[0]
}

/// The end-to-end run must end by itself: slack on top of its 20 s run time and the gate's 5 s grace for
/// process start, reports and a loaded 2-core runner. A run that ignored `--run-time` would take 60 s.
const E2E_STOP_MARGIN: Duration = Duration::from_secs(5);

/// Item 10: the end-to-end run. `perfgate serve-demo --port 0` in a child process, then
/// `perfgate run gates/prismq.yaml --users 10 --spawn-rate 2 --run-time 20s --out r.json`: exit 0, a
/// table row for every request name of the three classes, and a results file whose counts are the rows'.
#[test]
fn end_to_end_run_against_serve_demo() {
    let demo = DemoChild::start();
    let dir = TempDir::new("e2e");
    let out_file = dir.join("r.json");
    let out = perfgate(
        &[
            "run",
            "gates/prismq.yaml",
            "--host",
            &demo.url,
            "--users",
            "10",
            "--spawn-rate",
            "2",
            "--run-time",
            "20s",
            "--seed",
            "2024",
            "--out",
            out_file.to_str().unwrap(),
        ],
        None,
        Duration::from_secs(60),
    );
    // The run itself must succeed: exit 2 (bad input) or 3 (untrusted run) fail the test. The gate's
    // verdict decides between 0 and 1: gates/prismq.yaml carries the reference's `total rps > 100`
    // target, which 10 thinking users (~7 req/s) cannot meet, so with that target the gate fails (1).
    let code = out.code();
    assert!(code == 0 || code == 1, "exit {code}\n{}", out.both());
    assert!(
        out.elapsed < Duration::from_secs(20 + 5) + E2E_STOP_MARGIN,
        "the 20 s run (grace 5 s) did not end by itself: it took {:?}",
        out.elapsed
    );

    let results = Results::read(&out_file).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(results.target, demo.url);
    assert_eq!(results.load.users, 10);
    assert_eq!(results.load.spawn_rate, Some(2.0));
    assert_eq!(results.load.run_time_s, 20.0);
    assert_eq!(results.load.seed, 2024);
    assert!(!results.interrupted);
    assert!(
        (4.3..=5.5).contains(&results.load.ramp_up_s),
        "10 users at 2/s: ramp-up ≈ 4.5 s, got {}",
        results.load.ramp_up_s
    );
    let classes: BTreeSet<&str> = results.load.users_per_scenario.keys().map(String::as_str).collect();
    assert_eq!(classes, BTreeSet::from(["BurstUser", "HighLoadUser", "WebClientUser"]));
    assert_eq!(results.load.users_per_scenario.values().sum::<u32>(), 10);
    for class in &classes {
        let runs: u64 = results
            .tasks
            .iter()
            .filter(|t| t.scenario == *class)
            .map(|t| t.runs)
            .sum();
        assert!(runs > 0, "no task of {class} ran");
    }

    // A row for every request name of the three classes, agreeing with the results file.
    let names = prismq_gate().request_names();
    let in_results: Vec<&str> = results.requests.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(
        in_results.iter().copied().collect::<BTreeSet<_>>(),
        names.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        "the results' request names differ from the gate's"
    );
    let mut sum = 0;
    for name in &names {
        let (reqs, fails) = table_row(&out.stdout, name);
        let s = stats(&results, name);
        assert_eq!(
            (reqs, fails),
            (s.requests, s.failures),
            "row `{name}` disagrees with the results file"
        );
        sum += reqs;
    }
    let total = results.total(true);
    assert_eq!(sum, total.requests, "the rows do not add up to the results' total");
    assert_eq!(table_row(&out.stdout, "Aggregated"), (total.requests, total.failures));
    // With think times of 0.5..10 s, 10 users make tens of requests per second, not thousands.
    assert!(
        (60..=1000).contains(&total.requests),
        "{} requests in 20 s",
        total.requests
    );
}
