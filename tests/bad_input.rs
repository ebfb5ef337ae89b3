//! Bad input, table-driven: invalid gate files (`perfgate validate`) and invalid argument sets
//! (`perfgate run`), each with the diagnostic it must get: exit 2, `error: ` first, the gate file's
//! `FILE:LINE:COL: `, one message for one mistake, and exact fragments naming the key, what was
//! expected and the fix. Nothing may panic, abort or hang: every child runs with a time limit and a
//! 3 GiB address-space limit, so an input that makes perfgate allocate without bound fails the row
//! instead of the machine.
//!
//! Every failing row is reported, not only the first, with the message it got.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TempDir, BIN};

/// A valid gate; most bad gates below are this text with one line changed, so positions hold.
const GOOD: &str = "\
version: 1
host: http://127.0.0.1:9
headers:
  Accept: application/json
timeout: 5s
load:
  users: 10
  spawn_rate: 2
  run_time: 10s
scenarios:
  Web:
    weight: 2
    think_time: 1s..2s
    tasks:
      - name: launch
        weight: 1
        request:
          method: POST
          path: /launch
          expect: 202
          extract:
            run_id: $.run_id
      - request: GET /runs/{run_id}
  Burst:
    tasks:
      - sequence:
          - GET /a
          - GET /b
verdict:
  no_data: fail
targets:
  - select: GET /runs/{run_id}
    avg: < 100ms
  - select: total
    error_rate: < 1%
regression:
  confidence: 95%
  budgets:
    - select: total
      p95: +10%
      rps: -10%
      error_rate: +0.5pp
";

/// A valid open-model gate (constant arrival rate).
const OPEN: &str = "\
version: 1
host: http://127.0.0.1:9
load:
  arrival_rate: 5
  max_connections: 10
  run_time: 10s
scenarios:
  Web:
    tasks:
      - request: GET /a
";

/// A valid open-model gate in stages (15 s in all).
const STAGED: &str = "\
version: 1
host: http://127.0.0.1:9
load:
  stages:
    - {duration: 5s, rate: 5}
    - {duration: 10s, rate: 10}
scenarios:
  Web:
    tasks:
      - request: GET /a
";

/// `base` with the first occurrence of `from` replaced by `to` (which must occur).
fn edit(base: &str, from: &str, to: &str) -> String {
    assert!(base.contains(from), "`{from}` is not in the base gate");
    base.replacen(from, to, 1)
}

fn good(from: &str, to: &str) -> String {
    edit(GOOD, from, to)
}

/// What a row feeds perfgate.
enum Input {
    /// Gate-file text, checked with `perfgate validate FILE`.
    Gate(String),
    /// Arguments after `perfgate run`; `{gate}`, `{open}`, `{staged}` name the valid gates above
    /// and `{dir}` the row's scratch folder.
    Run(&'static [&'static str]),
}

/// One bad input and the diagnostic it must get.
struct Row {
    /// Short name; gate rows are written to `NAME.yaml`.
    name: &'static str,
    input: Input,
    /// Exit code (2: invalid input).
    code: i32,
    /// Where the first problem is (gate files): line and column, from 1.
    at: Option<(u32, u32)>,
    /// Exact fragments of the first problem's message and help: the key, the expectation, the fix.
    says: &'static [&'static str],
}

fn gate(name: &'static str, text: String, at: (u32, u32), says: &'static [&'static str]) -> Row {
    Row {
        name,
        input: Input::Gate(text),
        code: 2,
        at: Some(at),
        says,
    }
}

fn run(name: &'static str, args: &'static [&'static str], says: &'static [&'static str]) -> Row {
    Row {
        name,
        input: Input::Run(args),
        code: 2,
        at: None,
        says,
    }
}

/// Words that never belong in a message to a user: Rust and library internals.
const JARGON: &[&str] = &[
    "panicked",
    "RUST_BACKTRACE",
    "Option<",
    "DuplicateKeyPolicy",
    "unit value",
    "Nodes {",
];

/// The bad gate files: the whole gate surface, one mistake each.
fn gate_rows() -> Vec<Row> {
    vec![
        // version
        gate(
            "version-2",
            good("version: 1", "version: 2"),
            (1, 10),
            &["unsupported gate file version `2`", "`version: 1`"],
        ),
        gate(
            "version-missing",
            good("version: 1\n", ""),
            (1, 1),
            &["missing key `version`"],
        ),
        // host
        gate(
            "host-not-http",
            good("host: http://127.0.0.1:9", "host: ftp://127.0.0.1:9"),
            (2, 7),
            &["`host`", "is not an http:// or https:// URL", "`http://127.0.0.1:8000`"],
        ),
        gate(
            "host-bad-port",
            good("host: http://127.0.0.1:9", "host: http://127.0.0.1:99999"),
            (2, 7),
            &["`host`", "`99999` is not a port (1..65535)"],
        ),
        // headers
        gate(
            "header-bad-name",
            good("  Accept: application/json", "  Bad Header: x"),
            (4, 3),
            &["`Bad Header` is not a valid HTTP header name"],
        ),
        gate(
            "header-bad-env-name",
            good("  Accept: application/json", "  Accept: ${env:BAD-NAME}"),
            (4, 11),
            &["header `Accept`", "`${env:BAD-NAME}`", "letters, digits and `_`"],
        ),
        gate(
            "header-env-without-env",
            good("  Accept: application/json", "  Accept: ${TOKEN}"),
            (4, 11),
            &["header `Accept`", "`${TOKEN}` is not understood", "`${env:NAME}`"],
        ),
        // timeout
        gate(
            "timeout-garbage",
            good("timeout: 5s", "timeout: soon"),
            (5, 10),
            &["`timeout`", "found `soon`", "`500ms`"],
        ),
        gate(
            "timeout-without-unit",
            good("timeout: 5s", "timeout: 10000"),
            (5, 10),
            &["`timeout`", "`10000` has no unit", "write `10000ms` or `10000s`"],
        ),
        gate(
            "grace-without-unit",
            good("  run_time: 10s", "  run_time: 10s\n  grace: 5"),
            (10, 10),
            &["`grace`", "`5` has no unit", "write `5s` or `5ms`"],
        ),
        gate(
            "think-time-without-units",
            good("think_time: 1s..2s", "think_time: 500..1000"),
            (13, 17),
            &["`think_time`", "`500..1000` has no units", "write `500ms..1000ms`"],
        ),
        gate(
            "think-time-fixed-without-unit",
            good("think_time: 1s..2s", "think_time: 2"),
            (13, 17),
            &["`think_time`", "`2` has no unit", "write `2s`"],
        ),
        gate(
            "serve-ready-timeout-without-unit",
            format!("{GOOD}serve:\n  command: run {{port}}\n  ready_timeout: 30\n"),
            (45, 18),
            &["`serve.ready_timeout`", "`30` has no unit", "`30s`"],
        ),
        gate(
            "timeout-zero",
            good("timeout: 5s", "timeout: 0s"),
            (5, 10),
            &["`timeout` must be longer than zero"],
        ),
        // load
        gate(
            "users-zero",
            good("users: 10", "users: 0"),
            (7, 10),
            &["`users` must be at least 1"],
        ),
        gate(
            "users-ten",
            good("users: 10", "users: ten"),
            (7, 10),
            &["`users`", "expected a whole number", "`ten`"],
        ),
        gate(
            "users-beyond-a-u32",
            good("users: 10", "users: 4294967296"),
            (7, 10),
            &["`users`", "a whole number from 0 to 4294967295", "`4294967296`"],
        ),
        gate(
            "framing-header",
            good("  Accept: application/json", "  Content-Length: \"999\""),
            (4, 3),
            &[
                "header `Content-Length` is set by perfgate itself",
                "remove `Content-Length`",
            ],
        ),
        gate(
            "expect-negative",
            good("expect: 202", "expect: -200"),
            (20, 19),
            &["`-200` is not an HTTP status code"],
        ),
        gate(
            "two-documents",
            format!("{GOOD}---\nversion: 1\n"),
            (GOOD.lines().count() as u32 + 2, 1),
            &["more than one YAML document", "a gate file is one document"],
        ),
        gate(
            "users-huge",
            good("users: 10", "users: 4000000000"),
            (7, 10),
            &["`users`"],
        ),
        gate(
            "load-misspelt-key",
            good("  spawn_rate: 2", "  spawn_rat: 2"),
            (8, 3),
            &["unknown key `spawn_rat`", "did you mean `spawn_rate`?"],
        ),
        gate(
            "spawn-rate-negative",
            good("spawn_rate: 2", "spawn_rate: -1"),
            (8, 15),
            &[
                "`spawn_rate` must be a positive number of users per second",
                "found `-1`",
            ],
        ),
        gate(
            "spawn-rate-word",
            good("spawn_rate: 2", "spawn_rate: fast"),
            (8, 15),
            &["`spawn_rate`", "expected a finite number", "`fast`"],
        ),
        gate(
            "spawn-rate-tiny",
            good("spawn_rate: 2", "spawn_rate: 1e-300"),
            (8, 15),
            &["`spawn_rate` must be from 0.000001 users per second", "found `1e-300`"],
        ),
        gate(
            "arrival-rate-huge",
            edit(OPEN, "arrival_rate: 5", "arrival_rate: 1e300"),
            (4, 17),
            &[
                "`arrival_rate` must be from 0 to 1000000 arrivals per second",
                "found `1e300`",
            ],
        ),
        gate(
            "stage-rate-huge",
            edit(STAGED, "rate: 10}", "rate: 1e12}"),
            (6, 29),
            &["`rate` must be from 0 to 1000000 arrivals per second", "found `1e12`"],
        ),
        gate(
            "one-name-two-methods",
            good(
                "          path: /launch",
                "          path: /launch\n          name: GET /a",
            ),
            (28, 13),
            &[
                "the request name `GET /a` is already used by a POST request at FILE:18:11",
                "this one is a GET",
                "give one of them its own `name:`",
            ],
        ),
        gate(
            "abandoned-per-name",
            good("    avg: < 100ms", "    abandoned: < 1%"),
            (33, 16),
            &["`abandoned` is counted for the whole run", "needs `select: total`"],
        ),
        gate(
            "request-name-escape",
            good(
                "          path: /launch",
                "          path: /launch\n          name: \"launch\\e[2J\"",
            ),
            (18, 11),
            &["contains the control character U+001B", "remove it from `name:`"],
        ),
        gate(
            "path-with-space",
            good("          path: /launch", "          path: /launch now"),
            (19, 17),
            &["the path `/launch now` contains a space (write it as `%20`)"],
        ),
        gate(
            "header-value-line-break",
            good(
                "  Accept: application/json",
                "  Accept: \"application/json\\r\\nX-Injected: 1\"",
            ),
            (4, 11),
            &[
                "header `Accept`",
                "contains the control character U+000D",
                "one line of text",
            ],
        ),
        gate(
            "empty-file",
            "# nothing here yet\n\n".to_string(),
            (1, 1),
            &["the gate file is empty", "`version: 1`", "perfgate schema"],
        ),
        gate(
            "run-time-no-unit",
            good("run_time: 10s", "run_time: 1h30"),
            (9, 13),
            &["`run_time`", "found `1h30`", "(units: us, ms, s, m, h;"],
        ),
        gate(
            "run-time-zero",
            good("run_time: 10s", "run_time: 0s"),
            (9, 13),
            &["`run_time` must be longer than zero"],
        ),
        gate(
            "users-and-arrival-rate",
            good("  spawn_rate: 2", "  arrival_rate: 5"),
            (7, 10),
            &["`users` is for the closed model", "choose one", "`max_connections`"],
        ),
        gate(
            "stages-differ-from-run-time",
            edit(
                STAGED,
                "    - {duration: 10s, rate: 10}",
                "    - {duration: 10s, rate: 10}\n  run_time: 10s",
            ),
            (7, 13),
            &[
                "`run_time` (10s) differs from the stages' total (15s)",
                "leave `run_time` out",
            ],
        ),
        gate(
            "stage-duration-zero",
            edit(STAGED, "duration: 5s", "duration: 0s"),
            (5, 18),
            &["a stage's `duration` must be longer than zero"],
        ),
        gate(
            "max-connections-zero",
            edit(OPEN, "max_connections: 10", "max_connections: 0"),
            (5, 20),
            &["`max_connections` must be at least 1"],
        ),
        gate(
            "load-scenarios-misspelt",
            good("  run_time: 10s", "  run_time: 10s\n  scenarios: [Webb]"),
            (10, 15),
            &[
                "`load.scenarios` names `Webb`, which is not a scenario",
                "did you mean `Web`?",
            ],
        ),
        // scenarios
        gate(
            "scenarios-null",
            "version: 1\nhost: http://127.0.0.1:9\nload: {users: 1, run_time: 1s}\nscenarios:\n".into(),
            (4, 10),
            &["`scenarios`", "at least one"],
        ),
        gate(
            "scenario-tasks-misspelt",
            good(
                "    think_time: 1s..2s\n    tasks:",
                "    think_time: 1s..2s\n    taskz:",
            ),
            (14, 5),
            &["unknown key `taskz`", "did you mean `tasks`?"],
        ),
        gate(
            "scenario-weight-zero",
            good("    weight: 2", "    weight: 0"),
            (12, 13),
            &["scenario `Web`: `weight` must be at least 1", "`load.scenarios`"],
        ),
        gate(
            "think-time-backwards",
            good("think_time: 1s..2s", "think_time: 2s..500ms"),
            (13, 17),
            &["`think_time`", "`2s..500ms` runs backwards"],
        ),
        gate(
            "think-time-garbage",
            good("think_time: 1s..2s", "think_time: sometimes"),
            (13, 17),
            &["`think_time`", "expected a range such as `1s..3s`", "found `sometimes`"],
        ),
        gate(
            "scenario-misspelt-key",
            good("    weight: 2", "    wieght: 2"),
            (12, 5),
            &["unknown key `wieght`", "did you mean `weight`?"],
        ),
        // tasks
        gate(
            "task-neither-request-nor-sequence",
            good(
                "      - sequence:\n          - GET /a\n          - GET /b",
                "      - name: idle\n        weight: 2",
            ),
            (26, 9),
            &[
                "a task needs `request` (one request) or `sequence`",
                "`- {weight: 5, request: GET /api/modules}`",
            ],
        ),
        gate(
            "task-request-and-sequence",
            good(
                "      - request: GET /runs/{run_id}",
                "      - request: GET /runs/{run_id}\n        sequence: [GET /x]",
            ),
            (23, 9),
            &["a task has either `request` or `sequence`, not both"],
        ),
        gate(
            "task-empty-sequence",
            good(
                "      - sequence:\n          - GET /a\n          - GET /b",
                "      - sequence: []",
            ),
            (26, 9),
            &["`sequence` is empty"],
        ),
        gate(
            "task-weight-zero",
            good("        weight: 1", "        weight: 0"),
            (16, 17),
            &["task `weight` must be at least 1", "delete the task"],
        ),
        // requests
        gate(
            "method-misspelt",
            good("method: POST", "method: PSOT"),
            (18, 11),
            &[
                "`PSOT` is not an HTTP method",
                "expected one of GET, POST",
                "did you mean `POST`?",
            ],
        ),
        gate(
            "method-transposed-short-form",
            good("GET /a", "GTE /a"),
            (27, 13),
            &["`GTE` is not an HTTP method", "did you mean `GET`?"],
        ),
        gate(
            "path-without-slash",
            good("path: /launch", "path: launch"),
            (19, 17),
            &["the path `launch` must start with `/`", "`host` or `--host`"],
        ),
        gate(
            "path-null",
            good("path: /launch", "path:"),
            (19, 15),
            &["`path`", "expected"],
        ),
        gate(
            "short-form-three-words",
            good("GET /a", "GET /a extra"),
            (27, 13),
            &["`GET /a extra` is not a request", "`METHOD /path`"],
        ),
        gate(
            "undefined-variable-misspelt",
            good("          path: /launch", "          path: /launch?after={run_di}"),
            (18, 11),
            &[
                "uses the variable `{run_di}`, which nothing in scenario `Web` defines",
                "did you mean `{run_id}`?",
            ],
        ),
        gate(
            "undefined-variable-other-scenario",
            good("GET /b", "GET /b/{run_id}"),
            (28, 13),
            &[
                "`{run_id}`",
                "nothing in scenario `Burst` defines",
                "`extract: {run_id: $.run_id}`",
            ],
        ),
        gate(
            "extract-not-a-json-path",
            good("run_id: $.run_id", "run_id: run_id"),
            (22, 21),
            &["extract `run_id`", "it must start with `$`", "`$.modules[0].id`"],
        ),
        gate(
            "expect-status-700",
            good("expect: 202", "expect: 700"),
            (20, 19),
            &["`700` is not an HTTP status code", "100..599"],
        ),
        gate(
            "expect-wrong-type",
            good("expect: 202", "expect: accepted"),
            (20, 11),
            &[
                "\"accepted\"",
                "expected a status code, a list of status codes, or a mapping",
            ],
        ),
        // targets
        gate(
            "target-metric-misspelt",
            good("    avg: < 100ms", "    p955: < 100ms"),
            (33, 5),
            &["unknown key `p955` in a target", "did you mean `p95`?"],
        ),
        gate(
            "target-metric-transposed",
            good("    avg: < 100ms", "    agv: < 100ms"),
            (33, 5),
            &["unknown key `agv` in a target", "did you mean `avg`?"],
        ),
        gate(
            "target-trend-of-an-unstored-percentile",
            good("    avg: < 100ms", "    p75_trend: < 5%/min"),
            (33, 5),
            &["`p75_trend`", "`p50_trend`, `p95_trend` or `p99_trend`"],
        ),
        gate(
            "target-latency-without-unit",
            good("    avg: < 100ms", "    avg: < 100"),
            (33, 10),
            &["`avg`", "with its unit such as `< 100ms`", "found `< 100`"],
        ),
        gate(
            "target-error-rate-without-percent",
            good("error_rate: < 1%", "error_rate: < 0.01"),
            (35, 17),
            &[
                "`error_rate: < 0.01` has no `%`",
                "write `< 0.01%` if you meant 0.01 %",
                "`< 1%` if you meant the fraction 0.01",
            ],
        ),
        gate(
            "target-error-rate-200",
            good("error_rate: < 1%", "error_rate: < 200%"),
            (35, 17),
            &["`error_rate`", "expected a percentage", "found `< 200%`"],
        ),
        gate(
            "target-select-matches-nothing",
            good("  - select: GET /runs/{run_id}", "  - select: GET /run/{run_id}"),
            (32, 13),
            &[
                "`select: GET /run/{run_id}` matches no request name",
                "did you mean `GET /runs/{run_id}`?",
            ],
        ),
        gate(
            "target-without-limits",
            good("  - select: total\n    error_rate: < 1%", "  - select: total"),
            (34, 5),
            &["this target sets no limit", "`p95: < 200ms`"],
        ),
        gate(
            "server-metric-without-select-server",
            good("    error_rate: < 1%", "    rss_max: < 500MB"),
            (35, 14),
            &["`rss_max`", "`select: server`"],
        ),
        // verdict
        gate(
            "verdict-no-data-maybe",
            good("no_data: fail", "no_data: maybe"),
            (30, 12),
            &["`verdict.no_data`", "expected `fail` or `pass`", "found `maybe`"],
        ),
        gate(
            "verdict-flag-not-boolean",
            good("no_data: fail", "include_ramp_up: maybe"),
            (30, 20),
            &["`include_ramp_up`", "true or false"],
        ),
        // regression
        gate(
            "budget-rps-wrong-sign",
            good("rps: -10%", "rps: +10%"),
            (41, 12),
            &["`rps: +10%`", "gets worse by going down", "write `-10%`"],
        ),
        gate(
            "budget-error-rate-percent",
            good("error_rate: +0.5pp", "error_rate: +1%"),
            (42, 19),
            &["`error_rate: +1%`", "percentage points", "`+0.5pp`"],
        ),
        gate(
            "budget-misspelt-metric",
            good("      p95: +10%", "      erorr_rate: +0.5pp"),
            (40, 7),
            &[
                "unknown key `erorr_rate` in a regression budget",
                "did you mean `error_rate`?",
            ],
        ),
        gate(
            "regression-misspelt-key",
            good("  confidence: 95%", "  confidense: 95%"),
            (37, 3),
            &["unknown key `confidense`", "did you mean `confidence`?"],
        ),
        gate(
            "regression-confidence-120",
            good("confidence: 95%", "confidence: 120%"),
            (37, 15),
            &["`regression.confidence`", "from 50 to 99.99", "found `120%`"],
        ),
        // serve
        gate(
            "serve-empty-command",
            format!("{GOOD}serve:\n  command: \"\"\n"),
            (44, 12),
            &["`serve.command` is empty", "{port}"],
        ),
        // YAML syntax
        gate(
            "unclosed-flow-mapping",
            good("    - select: total\n      p95", "    - {select: total\n      p95"),
            (39, 7),
            &["unclosed bracket '{'"],
        ),
        gate(
            "unclosed-flow-sequence",
            good("          - GET /b", "          - [GET /b"),
            (28, 13),
            &["unclosed bracket '['"],
        ),
        gate(
            "tab-indentation",
            good("  users: 10", "\tusers: 10"),
            (7, 2),
            &["tabs", "spaces"],
        ),
        gate(
            "duplicate-key",
            good("  spawn_rate: 2", "  spawn_rate: 2\n  users: 5"),
            (9, 3),
            &["duplicate", "users"],
        ),
        gate("alias-bomb", alias_bomb(), (23, 25), &["alias"]),
    ]
}

/// Nine levels of aliases, each ten times the one before: 10^9 nodes if expanded.
fn alias_bomb() -> String {
    let mut s = String::from("version: 1\nload: {users: 1, run_time: 1s}\nscenarios:\n  S:\n    tasks:\n");
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for (i, n) in names.iter().enumerate() {
        let items = if i == 0 {
            ["x"; 10].join(", ")
        } else {
            vec![format!("*{}", names[i - 1]); 10].join(", ")
        };
        s.push_str(&format!(
            "      - request:\n          path: /\n          json: &{n} [{items}]\n"
        ));
    }
    s
}

/// The bad argument sets of `perfgate run`.
fn run_rows() -> Vec<Row> {
    vec![
        run(
            "users-zero",
            &["{gate}", "--users", "0"],
            &["--users must be at least 1"],
        ),
        run(
            "users-ten",
            &["{gate}", "--users", "ten"],
            &["'ten'", "--users <USERS>"],
        ),
        run("users-huge", &["{gate}", "--users", "4000000000"], &["--users"]),
        run(
            "spawn-rate-negative",
            &["{gate}", "--spawn-rate", "-1"],
            &["--spawn-rate", "positive number of users per second"],
        ),
        run(
            "spawn-rate-zero",
            &["{gate}", "--spawn-rate", "0"],
            &["--spawn-rate must be a positive number of users per second"],
        ),
        run(
            "spawn-rate-tiny",
            &["{gate}", "--spawn-rate", "1e-19"],
            &["--spawn-rate must be from 0.000001 users per second", "found `1e-19`"],
        ),
        run(
            "run-time-words",
            &["{gate}", "--run-time", "10 minutes"],
            &["--run-time", "found `10 minutes`", "(units: us, ms, s, m, h;"],
        ),
        run(
            "run-time-without-unit",
            &["{gate}", "--run-time", "30"],
            &["--run-time", "`30` has no unit", "write `30s`"],
        ),
        run(
            "run-time-zero",
            &["{gate}", "--run-time", "0s"],
            &["--run-time must be longer than zero"],
        ),
        run(
            "host-not-http",
            &["{gate}", "--host", "ftp://x"],
            &["--host", "`ftp://x` is not an http:// or https:// URL"],
        ),
        run(
            "host-port-zero",
            &["{gate}", "--host", "http://127.0.0.1:0"],
            &["--host", "a port from 1 to 65535"],
        ),
        run(
            "scenario-misspelt",
            &["{gate}", "Burts"],
            &["no scenario named `Burts`", "Did you mean `Burst`?"],
        ),
        run(
            "scenario-unknown",
            &["{gate}", "Zzzz"],
            &["no scenario named `Zzzz`", "Web, Burst"],
        ),
        run(
            "baseline-missing",
            &["{gate}", "--baseline", "{dir}/missing.json"],
            &["--baseline", "missing.json", "cannot read"],
        ),
        run(
            "baseline-not-json",
            &["{gate}", "--baseline", "{gate}"],
            &["--baseline", "not JSON"],
        ),
        run(
            "baseline-histogram-claims-4-gib",
            &["{gate}", "--baseline", "{dir}/huge-histogram.json"],
            &["--baseline", "histogram"],
        ),
        run(
            "users-with-open-model",
            &["{open}", "--users", "5"],
            &["--users", "closed model", "arrival rate"],
        ),
        run(
            "run-time-with-stages",
            &["{staged}", "--run-time", "5s"],
            &["--run-time cannot stretch a staged arrival rate"],
        ),
        run(
            "baseline-and-baseline-host",
            &[
                "{gate}",
                "--baseline",
                "{dir}/b.json",
                "--baseline-host",
                "http://127.0.0.1:9",
            ],
            &["'--baseline <FILE>' cannot be used with '--baseline-host <URL>'"],
        ),
        run(
            "serve-and-host",
            &["{gate}", "--serve", "sleep 100", "--host", "http://127.0.0.1:9"],
            &["'--serve <CMD>' cannot be used with '--host <HOST>'"],
        ),
        run(
            "baseline-host-not-http",
            &["{gate}", "--baseline-host", "ftp://x"],
            &["--baseline-host", "`ftp://x` is not an http:// or https:// URL"],
        ),
        run(
            "unknown-flag",
            &["{gate}", "--frobnicate"],
            &["unexpected argument '--frobnicate'"],
        ),
        run(
            "out-in-missing-folder",
            &["{gate}", "--out", "{dir}/no/such/r.json"],
            &["--out ", "no/such", "does not exist", "mkdir -p"],
        ),
        run(
            "two-reports-one-path",
            &["{gate}", "--out", "{dir}/x", "--junit", "./x"],
            &["--out and --junit both write ./x", "give each its own path"],
        ),
        run(
            "retries-unbounded",
            &["{gate}", "--retries", "4294967295"],
            &["--retries", "4294967295 is not in 0..=10"],
        ),
        run(
            "out-is-the-gate",
            &["{gate}", "--junit", "{dir}/./good.yaml"],
            &["--junit", "is the gate file", "give the report its own path"],
        ),
        run(
            "baseline-is-out",
            &["{gate}", "--baseline", "{dir}/b.json", "--out", "b.json"],
            &[
                "is also --out",
                "would overwrite the baseline it is compared with",
                "--out head.json",
            ],
        ),
        run(
            "gate-file-missing",
            &["{dir}/nope.yaml"],
            &[
                "nope.yaml",
                "cannot read the gate file",
                "the gate file is the first argument",
            ],
        ),
    ]
}

/// A results file whose one histogram claims a 4 GiB payload in a 40-byte header.
fn huge_histogram_results() -> String {
    use base64::Engine;
    let mut h = Vec::new();
    h.extend_from_slice(&0x1c84_9313u32.to_be_bytes()); // V2 cookie
    h.extend_from_slice(&0xffff_fff0u32.to_be_bytes()); // payload length
    h.extend_from_slice(&0u32.to_be_bytes()); // normalizing offset
    h.extend_from_slice(&3u32.to_be_bytes()); // significant digits
    h.extend_from_slice(&1u64.to_be_bytes()); // lowest
    h.extend_from_slice(&3_600_000_000u64.to_be_bytes()); // highest
    h.extend_from_slice(&1.0f64.to_be_bytes()); // integer-to-double ratio
    let hist = base64::engine::general_purpose::STANDARD.encode(&h);
    serde_json::json!({
        "schema": "perfgate.results",
        "schema_version": 1,
        "requests": [{
            "name": "GET /a",
            "method": "GET",
            "phases": {"steady": {
                "requests": 1, "failures": 0, "sum_us": 1, "min_us": 1, "max_us": 1,
                "histogram": hist
            }}
        }]
    })
    .to_string()
}

/// What a finished (or stopped) child said.
struct Out {
    code: Option<i32>,
    hung: bool,
    stdout: String,
    stderr: String,
}

/// Runs `perfgate ARGS` in `dir` with a 3 GiB address-space limit; stops it after 20 s.
fn perfgate_limited(args: &[String], dir: &Path) -> Out {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 3145728 && exec \"$0\" \"$@\"")
        .arg(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("PERFGATE_HOST")
        .env_remove("RUST_BACKTRACE")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let started = Instant::now();
    let (status, hung) = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break (Some(s), false);
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            break (None, true);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Out {
        code: status.and_then(|s| s.code()),
        hung,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// Whether a stderr line is part of a source snippet (`  |`, `12 | text`).
fn is_snippet(line: &str) -> bool {
    let t = line.trim_start();
    let rest = t.trim_start_matches(|c: char| c.is_ascii_digit());
    rest.starts_with(" |") || rest.starts_with('|')
}

/// The first problem of a diagnostic, without its snippet: its `error: ` line, help and tips.
fn first_problem(stderr: &str) -> String {
    let mut lines = stderr.lines().skip_while(|l| !l.starts_with("error: "));
    let mut out: Vec<&str> = lines.next().into_iter().collect();
    out.extend(
        lines
            .take_while(|l| !l.starts_with("error: "))
            .filter(|l| !is_snippet(l)),
    );
    out.join("\n")
}

/// Runs a row and returns what is wrong with its diagnostic (nothing when it is right).
fn check(row: &Row, dir: &TempDir) -> Vec<String> {
    let (args, file) = match &row.input {
        Input::Gate(text) => {
            let file = dir.write(&format!("{}.yaml", row.name), text);
            let path = file.to_str().expect("utf-8 path").to_string();
            (vec!["validate".to_string(), path.clone()], Some(path))
        }
        Input::Run(args) => {
            let sub = |a: &str| {
                a.replace("{gate}", dir.join("good.yaml").to_str().expect("utf-8"))
                    .replace("{open}", dir.join("open.yaml").to_str().expect("utf-8"))
                    .replace("{staged}", dir.join("staged.yaml").to_str().expect("utf-8"))
                    .replace("{dir}", dir.0.to_str().expect("utf-8"))
            };
            let mut v = vec!["run".to_string()];
            v.extend(args.iter().map(|a| sub(a)));
            (v, None)
        }
    };
    let out = perfgate_limited(&args, &dir.0);
    // The table as it stands (shown with --nocapture, and with any failure).
    let first = out.stderr.lines().next().unwrap_or("");
    let first = match &file {
        Some(p) => first.replace(p.as_str(), &format!("{}.yaml", row.name)),
        None => first.replace(dir.0.to_str().unwrap_or("?"), "DIR"),
    };
    eprintln!(
        "{:<40} exit {:<4} {first}",
        row.name,
        out.code.map_or("-".into(), |c| c.to_string())
    );
    let mut wrong = Vec::new();
    if out.hung {
        wrong.push("did not finish within 20 s".to_string());
    }
    match out.code {
        Some(101) => wrong.push("panicked (exit 101)".into()),
        Some(c) if c == row.code => {}
        Some(c) => wrong.push(format!("exit {c}, expected {}", row.code)),
        None if !out.hung => wrong.push("killed by a signal (aborted: out of memory?)".into()),
        None => {}
    }
    if !out.stderr.starts_with("error: ") {
        wrong.push("stderr does not start with `error: `".into());
    }
    let errors = out.stderr.lines().filter(|l| l.starts_with("error: ")).count();
    if errors > 1 {
        wrong.push(format!("{errors} `error: ` lines for one mistake"));
    }
    if out.stdout.contains("valid gate") {
        wrong.push("stdout says the gate is valid".into());
    }
    let first_line = out.stderr.lines().next().unwrap_or("");
    if let (Some(path), Some((line, col))) = (&file, row.at) {
        let want = format!("error: {path}:{line}:{col}: ");
        if !first_line.starts_with(&want) {
            wrong.push(format!("the first line does not start with `{want}`"));
        }
    }
    // The fragments are looked for in the message, not in the file name before it.
    let problem = match &file {
        Some(p) => first_problem(&out.stderr).replace(p.as_str(), "FILE"),
        None => first_problem(&out.stderr),
    };
    if file.is_some() && problem.lines().next().unwrap_or("").contains(" at line ") {
        wrong.push("the message repeats the location (`at line`) after its FILE:LINE:COL prefix".into());
    }
    for s in row.says {
        if !problem.contains(s) {
            wrong.push(format!("the message lacks `{s}`"));
        }
    }
    for j in JARGON {
        if out.stderr.contains(j) {
            wrong.push(format!("the message says `{}`", j.trim()));
        }
    }
    if wrong.is_empty() {
        return wrong;
    }
    let shown = match &file {
        Some(p) => out.stderr.replace(p.as_str(), &format!("{}.yaml", row.name)),
        None => out.stderr.clone(),
    };
    vec![format!(
        "{} (perfgate {}): {}\n    got exit {:?}:\n{}",
        row.name,
        args.first().map_or("", String::as_str),
        wrong.join("; "),
        out.code,
        shown
            .lines()
            .take(12)
            .map(|l| format!("      {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    )]
}

/// Runs every row of a table, collecting what is wrong with each.
fn check_table(table: &str, rows: &[Row]) {
    let dir = TempDir::new(table);
    dir.write("good.yaml", GOOD);
    dir.write("open.yaml", OPEN);
    dir.write("staged.yaml", STAGED);
    dir.write("huge-histogram.json", &huge_histogram_results());
    for name in ["good", "open", "staged"] {
        let out = perfgate_limited(
            &[
                "validate".into(),
                dir.join(&format!("{name}.yaml")).display().to_string(),
            ],
            &dir.0,
        );
        assert_eq!(
            out.code,
            Some(0),
            "the base gate `{name}` must be valid:\n{}",
            out.stderr
        );
    }
    let mut names = std::collections::BTreeSet::new();
    for r in rows {
        assert!(names.insert(r.name), "two rows named {}", r.name);
    }
    let wrong: Vec<String> = rows.iter().flat_map(|r| check(r, &dir)).collect();
    assert!(
        wrong.is_empty(),
        "{} of {} {table} rows get the wrong diagnostic:\n\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n\n")
    );
}

/// Bad gate files exit 2 with `FILE:LINE:COL: `, one message, the key, the expectation and
/// the fix.
#[test]
fn bad_gate_files_get_located_messages() {
    let rows = gate_rows();
    assert!(rows.len() >= 30, "the table covers the gate surface");
    check_table("bad-gates", &rows);
}

/// Bad argument sets of `perfgate run` exit 2 before any load, saying which flag and why.
#[test]
fn bad_arguments_get_messages() {
    check_table("bad-args", &run_rows());
}
