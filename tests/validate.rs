//! `perfgate validate` as a new user meets it: every problem of a file at once (up to a cap), the
//! silent mistakes refused (numbers without a unit, an error rate without `%`), a bare string task
//! accepted, an unset `${env:NAME}` warned about, and the effective timeout and defaults printed.

mod common;

use common::{perfgate, TempDir, BIN};
use std::process::{Command, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

/// A gate with eight mistakes, one per line, of the kinds issue 18 lists.
const EIGHT_MISTAKES: &str = "\
version: 1
timeout: 10000
load:
  users: 0
  run_time: 30
scenarios:
  S:
    think_time: 500..1000
    tasks:
      - request: GET /x/{nope}
      - request: PSOT /y
targets:
  - select: total
    error_rate: < 0.01
    avg: < 100
";

#[test]
fn every_problem_in_a_file_is_reported_in_file_order() {
    let dir = TempDir::new("validate-all");
    let file = dir.write("eight.yaml", EIGHT_MISTAKES);
    let path = file.to_str().unwrap();
    let out = perfgate(&["validate", path], None, LIMIT);
    assert_eq!(out.code(), 2, "{}", out.both());
    let at: Vec<String> = out
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("error: "))
        .map(|l| {
            l.strip_prefix(path)
                .unwrap_or(l)
                .split(": ")
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(
        at,
        [":2:10", ":4:10", ":5:13", ":8:17", ":10:18", ":11:18", ":14:17", ":15:10"],
        "{}",
        out.stderr
    );
    for fragment in [
        "`10000` has no unit: write `10000ms` or `10000s`",
        "`30` has no unit: write `30s`",
        "`500..1000` has no units: write `500ms..1000ms`",
        "`error_rate: < 0.01` has no `%`",
        "did you mean `POST`?",
    ] {
        assert!(out.stderr.contains(fragment), "no `{fragment}`:\n{}", out.stderr);
    }
    assert!(
        out.stderr.trim_end().ends_with(&format!("8 problems in {path}")),
        "{}",
        out.stderr
    );
    // `run` refuses the same file with the same diagnostic, before any load.
    let run = perfgate(&["run", path, "--host", "http://127.0.0.1:9"], None, LIMIT);
    assert_eq!(run.code(), 2, "{}", run.both());
    assert_eq!(run.stderr, out.stderr);
}

/// Misspelled keys at every level, block and flow, each with the rest of the file's problems.
const MISSPELLED_KEYS: &str = "\
version: 1
nmae: keys
load: {users: 2, spwan_rate: 1, run_time: 2s}
scenarios:
  S:
    thinktime:
      min: 1s
    tasks:
      - reqest: GET /y
        weight: 2
      - {request: GET /x, wieght: 2}
targets:
  - select: total
    eror_rate: < 1%
    avg: < 100
";

#[test]
fn every_misspelled_key_is_reported_at_once_with_the_other_problems() {
    let dir = TempDir::new("validate-keys");
    let file = dir.write("keys.yaml", MISSPELLED_KEYS);
    let path = file.to_str().unwrap();
    let out = perfgate(&["validate", path], None, LIMIT);
    assert_eq!(out.code(), 2, "{}", out.both());
    let errors: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    for (at, what) in [
        (":2:1:", "unknown key `nmae`"),
        (":3:18:", "unknown key `spwan_rate`"),
        (":6:5:", "unknown key `thinktime`"),
        (":9:9:", "unknown key `reqest`"),
        (":11:27:", "unknown key `wieght`"),
        (":14:5:", "unknown key `eror_rate` in a target"),
        (":15:10:", "with its unit"),
    ] {
        assert!(
            errors
                .iter()
                .any(|l| l.contains(&format!("{path}{at} ")) && l.contains(what)),
            "no `{at} {what}`:\n{}",
            out.stderr
        );
    }
    for hint in [
        "did you mean `name`?",
        "did you mean `spawn_rate`?",
        "did you mean `think_time`?",
        "did you mean `request`?",
        "did you mean `weight`?",
        "did you mean `error_rate`?",
    ] {
        assert!(out.stderr.contains(hint), "no `{hint}`:\n{}", out.stderr);
    }
    // The task whose `request` is misspelled is not also said to lack one.
    assert!(!out.stderr.contains("a task needs `request`"), "{}", out.stderr);
    assert_eq!(errors.len(), 7, "{}", out.stderr);
    // In file order.
    let lines: Vec<u32> = errors
        .iter()
        .filter_map(|l| {
            l.strip_prefix(&format!("error: {path}:"))?
                .split(':')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}\n{}", out.stderr);
}

#[test]
fn more_than_twenty_problems_are_capped_and_counted() {
    let mut text = String::from("version: 1\nload: {users: 1, run_time: 1s}\nscenarios:\n  S:\n    tasks:\n");
    for i in 0..30 {
        text.push_str(&format!("      - GET /x{i}/{{undefined{i}}}\n"));
    }
    let dir = TempDir::new("validate-cap");
    let file = dir.write("many.yaml", &text);
    let path = file.to_str().unwrap();
    let out = perfgate(&["validate", path], None, LIMIT);
    assert_eq!(out.code(), 2, "{}", out.both());
    assert_eq!(out.stderr.lines().filter(|l| l.starts_with("error: ")).count(), 20);
    assert!(
        out.stderr
            .contains(&format!("30 problems in {path}; the first 20 are shown")),
        "{}",
        out.stderr
    );
}

#[test]
fn a_bare_string_task_is_a_request_and_defaults_are_printed() {
    let dir = TempDir::new("validate-defaults");
    let file = dir.write(
        "bare.yaml",
        "version: 1\nload: {users: 2, run_time: 10s}\nscenarios:\n  S:\n    tasks: [GET /posts, \"GET /posts/{id}\"]\n    variables: {id: 1}\n",
    );
    let out = perfgate(&["validate", file.to_str().unwrap()], None, LIMIT);
    assert_eq!(out.code(), 0, "{}", out.both());
    for line in [
        "request names: GET /posts, GET /posts/{id}",
        "timeout: 30s per request (default)",
        "defaults applied (the file leaves these out):",
        "    host: none: give `--host URL`",
        "    load.spawn_rate: all users at once",
        "    load.grace: 5s",
        "    scenarios.S.think_time: none",
        "    scenarios.S.tasks[].weight: 1 for 2 of 2 tasks",
        "    expect: any 2xx or 3xx status is a success (2 requests without `expect`)",
        "    follow_redirects: true: up to 10 redirects to the target's own host are followed",
    ] {
        assert!(out.stdout.contains(line), "no `{line}` in\n{}", out.stdout);
    }
    // A timeout the file sets is shown without `(default)` and not listed among the defaults.
    let file = dir.write(
        "timeout.yaml",
        "version: 1\nhost: http://127.0.0.1:9\ntimeout: 2s\nload: {users: 2, run_time: 10s}\nscenarios:\n  S:\n    tasks: [GET /posts]\n",
    );
    let out = perfgate(&["validate", file.to_str().unwrap()], None, LIMIT);
    assert_eq!(out.code(), 0, "{}", out.both());
    assert!(out.stdout.contains("  timeout: 2s per request\n"), "{}", out.stdout);
    assert!(!out.stdout.contains("host: none"), "{}", out.stdout);
}

#[test]
fn an_unset_env_variable_is_a_warning_at_validate() {
    let dir = TempDir::new("validate-env");
    let file = dir.write(
        "env.yaml",
        "version: 1\nheaders:\n  Authorization: \"Bearer ${env:PERFGATE_TEST_UNSET_TOKEN}\"\nload: {users: 1, run_time: 1s}\nscenarios:\n  S:\n    tasks: [GET /x]\n",
    );
    let path = file.to_str().unwrap();
    let validate = |set: bool| {
        let mut cmd = Command::new(BIN);
        cmd.args(["validate", path])
            .env_remove("PERFGATE_TEST_UNSET_TOKEN")
            .stdin(Stdio::null());
        if set {
            cmd.env("PERFGATE_TEST_UNSET_TOKEN", "secret-value");
        }
        cmd.output().expect("run perfgate")
    };
    let out = validate(false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "warning: {path}:3:26: `${{env:PERFGATE_TEST_UNSET_TOKEN}}` is not set in this environment"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("export PERFGATE_TEST_UNSET_TOKEN="), "{stderr}");
    let out = validate(true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("secret-value"));
    // `run` still refuses it (exit 2).
    let run = perfgate(&["run", path, "--host", "http://127.0.0.1:9"], None, LIMIT);
    assert_eq!(run.code(), 2, "{}", run.both());
}

/// Issue 21, item 2: a source address that is not an address, or not this machine's, is one clear
/// error: the first at validate with its line and column, the second when the run starts (exit 2).
#[test]
fn source_addresses_must_be_addresses_of_this_machine() {
    let dir = TempDir::new("validate-sources");
    let bad = dir.write(
        "bad.yaml",
        "version: 1\nload: {users: 1, run_time: 1s, source_addresses: [127.0.0.2, localhost]}\nscenarios:\n  S:\n    tasks: [GET /x]\n",
    );
    let out = perfgate(&["validate", bad.to_str().unwrap()], None, LIMIT);
    assert_eq!(out.code(), 2, "{}", out.both());
    assert!(
        out.stderr.contains(":2:62: `localhost` is not an IP address"),
        "{}",
        out.stderr
    );
    // 192.0.2.1 (TEST-NET-1) is nobody's address: the run refuses it before sending anything.
    let foreign = dir.write(
        "foreign.yaml",
        "version: 1\nload: {users: 1, run_time: 1s, source_addresses: [192.0.2.1]}\nscenarios:\n  S:\n    tasks: [GET /x]\n",
    );
    let out = perfgate(
        &["run", foreign.to_str().unwrap(), "--host", "http://127.0.0.1:9"],
        None,
        LIMIT,
    );
    assert_eq!(out.code(), 2, "{}", out.both());
    assert!(
        out.stderr
            .contains("load.source_addresses: cannot open connections from 192.0.2.1"),
        "{}",
        out.both()
    );
    // Addresses of both families, or the broadcast address, are refused at validate.
    let mixed = dir.write(
        "mixed.yaml",
        "version: 1\nload: {users: 1, run_time: 1s, source_addresses: [127.0.0.2, '::1', 255.255.255.255]}\nscenarios:\n  S:\n    tasks: [GET /x]\n",
    );
    let out = perfgate(&["validate", mixed.to_str().unwrap()], None, LIMIT);
    assert_eq!(out.code(), 2, "{}", out.both());
    assert!(
        out.stderr
            .contains(":2:62: `::1` is IPv6, `127.0.0.2` before it is IPv4: a connection goes to a target address of its source's family"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("`255.255.255.255` is not an address a connection can come from"),
        "{}",
        out.stderr
    );
    // An IPv6 source for an IPv4 target: refused before the run (was: every request failed as
    // "connect", exit 1, blamed on the service).
    let v6 = dir.write(
        "v6.yaml",
        "version: 1\nload: {users: 1, run_time: 1s, source_addresses: ['::1']}\nscenarios:\n  S:\n    tasks: [GET /x]\n",
    );
    let out = perfgate(
        &["run", v6.to_str().unwrap(), "--host", "http://127.0.0.1:9"],
        None,
        LIMIT,
    );
    assert_eq!(out.code(), 2, "{}", out.both());
    assert!(
        out.stderr
            .contains("load.source_addresses: ::1 is IPv6 but the target http://127.0.0.1:9 is IPv4"),
        "{}",
        out.both()
    );
}
