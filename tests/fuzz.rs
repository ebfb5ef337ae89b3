//! Fuzzing with proptest: the gate parser, each of its small parsers, and the results reader never
//! panic on any input; they answer Ok or Err, and a rejected gate renders as `f.yaml:LINE:COL: ...`.
//!
//! Every property runs a modest number of cases by default so `cargo test` stays fast;
//! `PROPTEST_CASES=N` sets the number of cases of every property (.ci/run runs a heavier pass).
//! Each property prints its number of cases (`cargo test --test fuzz -- --nocapture` shows them).
//! A failing case is shrunk and printed; none is written to disk.

use std::fmt::Debug;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use perfgate::gate::budget;
use perfgate::gate::duration::{format_duration, parse_duration, parse_range};
use perfgate::gate::target::{Limit, Metric, ServerMetric};
use perfgate::gate::{Gate, GateError, JsonPath, Template};
use perfgate::load::{Overrides, Plan};
use perfgate::metrics::Results;
use perfgate::verdict::compare::Mode;

/// The example gate: the seed of the mutation fuzzers.
const PRISMQ: &str = include_str!("../gates/prismq.yaml");

/// Users above this are not planned: `Plan::new` allocates one slot per user, and 4e9 users abort
/// the process (the `users-huge` rows of tests/bad_input.rs).
const PLAN_USERS_CAP: u32 = 100_000;

// ---------------------------------------------------------------------------------------------
// The runner
// ---------------------------------------------------------------------------------------------

/// Runs `test` on `cases` values of `strategy` (`PROPTEST_CASES` overrides `default_cases`) and
/// prints how many ran; a failure (an `Err` or a panic) is shrunk and fails the test.
fn fuzz<S>(name: &str, default_cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default_cases;
    }
    config.failure_persistence = None;
    let runs = AtomicU64::new(0);
    let started = Instant::now();
    let mut runner = TestRunner::new(config.clone());
    let result = runner.run(&strategy, |v| {
        runs.fetch_add(1, Ordering::Relaxed);
        test(v)
    });
    let executions = runs.load(Ordering::Relaxed);
    match &result {
        Ok(()) => eprintln!(
            "fuzz {name}: {} cases passed ({executions} executions) in {:.1?}",
            config.cases,
            started.elapsed()
        ),
        Err(_) => eprintln!(
            "fuzz {name}: failed after {executions} executions (shrinking included) in {:.1?}",
            started.elapsed()
        ),
    }
    if let Err(e) = result {
        panic!("fuzz {name}: {e}");
    }
}

/// How many inputs a parser accepted and rejected, printed at the end of a property.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    err: AtomicU64,
    unplanned: AtomicU64,
}

impl Tally {
    fn report(&self, name: &str) {
        let unplanned = self.unplanned.load(Ordering::Relaxed);
        eprintln!(
            "fuzz {name}: {} accepted, {} rejected{}",
            self.ok.load(Ordering::Relaxed),
            self.err.load(Ordering::Relaxed),
            if unplanned > 0 {
                format!(" ({unplanned} valid gates with more than {PLAN_USERS_CAP} users not planned)")
            } else {
                String::new()
            }
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Gate files: the checks every input gets
// ---------------------------------------------------------------------------------------------

/// Lines as a YAML parser counts them (`\r\n`, `\r` and `\n` each end one).
fn yaml_lines(text: &str) -> usize {
    let mut breaks = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => breaks += 1,
            '\r' => {
                breaks += 1;
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
            }
            _ => {}
        }
    }
    breaks + 1
}

/// A rejected gate: at least one problem, each rendered with `f.yaml` and, when located,
/// `f.yaml:LINE:COL: ` with a line inside the text.
fn check_error(e: &GateError, source: &str) -> Result<(), TestCaseError> {
    let text = e.to_string();
    prop_assert!(!e.problems.is_empty(), "a GateError without a problem");
    prop_assert!(text.contains("f.yaml"), "the message does not name f.yaml:\n{}", text);
    let lines = yaml_lines(source);
    for p in &e.problems {
        prop_assert!(!p.message.trim().is_empty(), "an empty message in\n{}", text);
        if let Some(pos) = p.pos {
            prop_assert!(
                pos.line >= 1 && pos.line as usize <= lines + 1,
                "line {} is outside the text's {} lines:\n{}",
                pos.line,
                lines,
                text
            );
            prop_assert!(pos.col >= 1, "column {} (columns count from 1):\n{}", pos.col, text);
            let at = format!("f.yaml:{}:{}: ", pos.line, pos.col);
            prop_assert!(text.contains(&at), "no `{}` in\n{}", at, text);
        }
    }
    Ok(())
}

/// An accepted gate: everything the binary does with a gate before load must not panic either.
fn exercise(gate: &Gate, tally: &Tally) -> Result<(), TestCaseError> {
    let _ = gate.request_names();
    let _ = gate.env_vars();
    let _ = gate.default_ready_path();
    let _ = gate.selected_scenarios();
    if gate.load.users > PLAN_USERS_CAP {
        tally.unplanned.fetch_add(1, Ordering::Relaxed);
    } else {
        let o = Overrides {
            host: Some("http://127.0.0.1:9".into()),
            seed: Some(7),
            ..Overrides::default()
        };
        let _ = Plan::new(gate, &o);
    }
    let verdict = perfgate::verdict::judge(gate, &good_results().1);
    let _ = verdict.headline();
    Ok(())
}

fn check_gate_text(source: &str, tally: &Tally) -> Result<(), TestCaseError> {
    match Gate::parse("f.yaml", source) {
        Ok(gate) => {
            tally.ok.fetch_add(1, Ordering::Relaxed);
            exercise(&gate, tally)
        }
        Err(e) => {
            tally.err.fetch_add(1, Ordering::Relaxed);
            check_error(&e, source)
        }
    }
}

/// The lines where `text` differs from `seed` (at most 30 of each side), for failure messages.
fn diff(seed: &str, text: &str) -> String {
    let a: Vec<&str> = seed.split('\n').collect();
    let b: Vec<&str> = text.split('\n').collect();
    let pre = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suf = a[pre..]
        .iter()
        .rev()
        .zip(b[pre..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let mut out = format!("the input differs from the seed at line {}:\n", pre + 1);
    for l in a[pre..a.len() - suf].iter().take(30) {
        out.push_str(&format!("- {l:?}\n"));
    }
    for l in b[pre..b.len() - suf].iter().take(30) {
        out.push_str(&format!("+ {l:?}\n"));
    }
    out
}

/// Runs a check on a mutated `text`, turning a failure or a panic into a failure that shows how
/// the text differs from its seed.
fn in_context(seed: &str, text: &str, check: impl FnOnce() -> Result<(), TestCaseError>) -> Result<(), TestCaseError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(TestCaseError::fail(format!("{e}\n{}", diff(seed, text)))),
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(TestCaseError::fail(format!("panicked: {why}\n{}", diff(seed, text))))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Mutations of a text (gate YAML or results JSON)
// ---------------------------------------------------------------------------------------------

/// Characters that mean something to YAML (and JSON), and a few that do not.
const SPECIAL_CHARS: &[char] = &[
    ':', '-', ' ', '\t', '\n', '\r', '{', '}', '[', ']', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', ',',
    '?', '.', '$', '0', '9', 'e', '\\', '\u{0}', '\u{feff}', 'µ', '\u{85}', '\u{2028}',
];

/// Values that are plausible somewhere in a gate or results file, and values that are nasty anywhere.
const VALUES: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "10",
    "1.5",
    "-0.0",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775809",
    "1e308",
    "1e309",
    "-1e309",
    ".nan",
    ".inf",
    "-.inf",
    "NaN",
    "inf",
    "~",
    "null",
    "true",
    "no",
    "''",
    "\"\"",
    "[]",
    "{}",
    "[1, 2]",
    "{a: 1}",
    "0s",
    "1s",
    "500ms",
    "1m30s",
    "1h",
    "8784h",
    "0.0000001s",
    "1µs",
    "1..2",
    "1s..",
    "..",
    "3s..1s",
    "1s..3s",
    "< 100",
    "< 100ms",
    "<= 1.5s",
    "> 100",
    "\"> 100\"",
    ">= 0",
    "< 1%",
    "< 200%",
    "< 5%/min",
    "< 500MB",
    "< 10MB/min",
    "< 80%",
    "+10%",
    "-10%",
    "+10%..+20%",
    "+20%..+10%",
    "+0.5pp",
    "+1%",
    "+inf%",
    "+2ms",
    "GET",
    "GET /",
    "GTE /x",
    "/",
    "/a/{x}",
    "/a?b={c}&d",
    "{x}",
    "${env:X}",
    "${env:}",
    "${X}",
    "$.",
    "$",
    "$[",
    "$[-1]",
    "$[99999999999999999999]",
    "$[\"k\"]",
    "http://127.0.0.1:9",
    "https://[::1]:65536",
    "ftp://x",
    "http://",
    "total",
    "server",
    "*",
    "POST /api/modules/{module_id}/run",
    "fail",
    "pass",
    "maybe",
    "95%",
    "120%",
    "99.999%",
    "!!binary aGk=",
    "!!str 1",
    "&a 1",
    "*a",
    "*undefined",
    "|",
    ">",
    "'unterminated",
    "\"unterminated",
    "? x",
    "- x",
];

/// Whole lines to insert.
const SNIPPETS: &[&str] = &[
    "version: 1",
    "version: 2",
    "host: ftp://x",
    "  users: 0",
    "  arrival_rate: 5",
    "  stages: [{duration: 1s, rate: 2}]",
    "  max_connections: 0",
    "    - request: GET /x",
    "    - sequence: []",
    "      - {weight: 0, request: GET /y}",
    "  - {select: server, rss_max: < 1GB}",
    "  - {select: total, p95_trend: < 5%/min}",
    "serve: {command: \"\"}",
    "---",
    "...",
    "%YAML 1.2",
    "%TAG ! tag:x,2024:",
    "<<: *a",
    "x: &a {b: *a}",
    "? [complex, key]",
    ": lonely value",
    "\t",
    "# comment",
    "key: !!python/object x",
    "  ",
];

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(Index),
    DuplicateLine(Index),
    SwapLines(Index, Index),
    InsertLine(Index, String),
    ReplaceValue(Index, String),
    Indent(Index, bool),
    ReplaceChar(Index, char),
    InsertChars(Index, String),
    DeleteChars(Index, usize),
    Truncate(Index),
}

fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![3 => prop::sample::select(SPECIAL_CHARS), 1 => any::<char>()]
}

fn value_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(VALUES).prop_map(String::from),
        1 => "[ -~]{0,12}",
        1 => any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => any::<Index>().prop_map(Mutation::DeleteLine),
        2 => any::<Index>().prop_map(Mutation::DuplicateLine),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        2 => (any::<Index>(), prop_oneof![prop::sample::select(SNIPPETS).prop_map(String::from), value_text()])
            .prop_map(|(i, s)| Mutation::InsertLine(i, s)),
        5 => (any::<Index>(), value_text()).prop_map(|(i, s)| Mutation::ReplaceValue(i, s)),
        1 => (any::<Index>(), any::<bool>()).prop_map(|(i, b)| Mutation::Indent(i, b)),
        3 => (any::<Index>(), any_char()).prop_map(|(i, c)| Mutation::ReplaceChar(i, c)),
        2 => (any::<Index>(), prop::collection::vec(any_char(), 1..4).prop_map(String::from_iter))
            .prop_map(|(i, s)| Mutation::InsertChars(i, s)),
        1 => (any::<Index>(), 1usize..40).prop_map(|(i, n)| Mutation::DeleteChars(i, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

/// The byte offset of the `i`-th character (or the end).
fn char_offset(text: &str, i: usize) -> usize {
    text.char_indices().nth(i).map_or(text.len(), |(o, _)| o)
}

/// Applies mutations in order; line operations work on `\n`-separated lines.
fn mutate(seed: &str, mutations: &[Mutation]) -> String {
    let mut text = seed.to_string();
    for m in mutations {
        let mut lines: Vec<String> = text.split('\n').map(String::from).collect();
        let n = lines.len();
        let chars = text.chars().count();
        match m {
            Mutation::DeleteLine(i) => {
                lines.remove(i.index(n));
            }
            Mutation::DuplicateLine(i) => {
                let k = i.index(n);
                let l = lines[k].clone();
                lines.insert(k, l);
            }
            Mutation::SwapLines(a, b) => lines.swap(a.index(n), b.index(n)),
            Mutation::InsertLine(i, s) => lines.insert(i.index(n + 1), s.clone()),
            Mutation::ReplaceValue(i, v) => {
                let line = &mut lines[i.index(n)];
                if let Some(k) = line.find(": ") {
                    line.replace_range(k + 2.., v);
                } else if let Some(k) = line.find("- ") {
                    line.replace_range(k + 2.., v);
                } else {
                    line.push_str(&format!(": {v}"));
                }
            }
            Mutation::Indent(i, deeper) => {
                let line = &mut lines[i.index(n)];
                if *deeper {
                    line.insert_str(0, "  ");
                } else if let Some(rest) = line.strip_prefix("  ") {
                    *line = rest.to_string();
                }
            }
            Mutation::ReplaceChar(i, c) => {
                if chars > 0 {
                    let at = char_offset(&text, i.index(chars));
                    let len = text[at..].chars().next().map_or(0, char::len_utf8);
                    text.replace_range(at..at + len, &c.to_string());
                }
                continue;
            }
            Mutation::InsertChars(i, s) => {
                let at = char_offset(&text, i.index(chars + 1));
                text.insert_str(at, s);
                continue;
            }
            Mutation::DeleteChars(i, len) => {
                let from = char_offset(&text, i.index(chars + 1));
                let to = char_offset(&text, (i.index(chars + 1) + len).min(chars));
                text.replace_range(from..to.max(from), "");
                continue;
            }
            Mutation::Truncate(i) => {
                text.truncate(char_offset(&text, i.index(chars + 1)));
                continue;
            }
        }
        text = lines.join("\n");
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Structured gate files from a grammar of plausible keys and values
// ---------------------------------------------------------------------------------------------

/// A YAML document tree, rendered in block style.
#[derive(Debug, Clone)]
enum Y {
    S(String),
    M(Vec<(String, Y)>),
    L(Vec<Y>),
}

fn render(y: &Y, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match y {
        Y::S(s) => {
            out.push_str(&pad);
            out.push_str(s);
            out.push('\n');
        }
        Y::M(entries) => {
            for (k, v) in entries {
                match v {
                    Y::S(s) => out.push_str(&format!("{pad}{k}: {s}\n")),
                    Y::M(m) if m.is_empty() => out.push_str(&format!("{pad}{k}: {{}}\n")),
                    Y::L(l) if l.is_empty() => out.push_str(&format!("{pad}{k}: []\n")),
                    nested => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        render(nested, indent + 2, out);
                    }
                }
            }
        }
        Y::L(items) => {
            for item in items {
                match item {
                    Y::S(s) => out.push_str(&format!("{pad}- {s}\n")),
                    Y::M(m) if m.is_empty() => out.push_str(&format!("{pad}- {{}}\n")),
                    Y::L(l) if l.is_empty() => out.push_str(&format!("{pad}- []\n")),
                    nested => {
                        out.push_str(&format!("{pad}-\n"));
                        render(nested, indent + 2, out);
                    }
                }
            }
        }
    }
}

/// Values for one key: good ones, and bad ones that a validator must reject or survive.
type Pool = (&'static [&'static str], &'static [&'static str]);

/// A scalar: mostly a good value of `pool` (so that most gates get past validation), now and then
/// a bad one or any value at all.
fn sc(pool: Pool) -> BoxedStrategy<Y> {
    let (good, bad) = pool;
    let bad: &'static [&'static str] = if bad.is_empty() { good } else { bad };
    prop_oneof![
        96 => prop::sample::select(good).prop_map(|s| Y::S(s.to_string())),
        3 => prop::sample::select(bad).prop_map(|s| Y::S(s.to_string())),
        1 => value_text().prop_map(|s| Y::S(serde_json::to_string(&s).unwrap_or(s))),
    ]
    .boxed()
}

/// A mapping whose keys each appear with their probability (percent), plus now and then an unknown key.
fn mapping(fields: Vec<(&'static str, u32, BoxedStrategy<Y>)>) -> BoxedStrategy<Y> {
    let parts: Vec<BoxedStrategy<Option<(String, Y)>>> = fields
        .into_iter()
        .map(|(key, percent, value)| {
            let value = if percent >= 100 {
                value.prop_map(Some).boxed()
            } else {
                prop::option::weighted(f64::from(percent) / 100.0, value).boxed()
            };
            value.prop_map(move |v| v.map(|v| (key.to_string(), v))).boxed()
        })
        .collect();
    let bogus = prop::option::weighted(
        0.01,
        (prop::sample::select(BOGUS_KEYS), value_text()).prop_map(|(k, v)| (k.to_string(), Y::S(v))),
    );
    (parts, bogus, any::<Index>())
        .prop_map(|(parts, bogus, at)| {
            let mut entries: Vec<(String, Y)> = parts.into_iter().flatten().collect();
            if let Some(b) = bogus {
                let i = at.index(entries.len() + 1);
                entries.insert(i, b);
            }
            Y::M(entries)
        })
        .boxed()
}

fn list(item: BoxedStrategy<Y>, len: std::ops::Range<usize>) -> BoxedStrategy<Y> {
    prop::collection::vec(item, len).prop_map(Y::L).boxed()
}

/// A mapping with keys from `keys` and values from `values`.
fn small_map(keys: Pool, values: Pool, len: std::ops::Range<usize>) -> BoxedStrategy<Y> {
    let key = sc(keys).prop_map(|k| match k {
        Y::S(s) => s,
        _ => String::new(),
    });
    prop::collection::vec((key, sc(values)), len)
        .prop_map(|kv| Y::M(kv.into_iter().collect()))
        .boxed()
}

const BOGUS_KEYS: &[&str] = &["uesrs", "taks", "wieght", "thinktime", "agv", "p955", "x", "Users"];
const VERSIONS: Pool = (&["1"], &["2", "0", "-1", "one", "1.0", "\"1\"", "18446744073709551616"]);
const HOSTS: Pool = (
    &["http://127.0.0.1:9", "https://localhost", "http://[::1]:8080/api/"],
    &[
        "ftp://x",
        "http://",
        "http://h:0",
        "127.0.0.1:9",
        "http://[::1",
        "https://h:99999",
    ],
);
const HEADER_NAMES: Pool = (
    &["Accept", "X-Token", "Authorization"],
    &["Bad Header", "\"\"", "ä", "\"a:b\""],
);
const HEADER_VALUES: Pool = (
    &[
        "application/json",
        "Bearer ${env:TOKEN}",
        "\"{run_id}\"",
        "x-{module_id}",
    ],
    &["${env:}", "${TOKEN}", "\"a\\x7fb\"", "${env:A-B}", "\"\""],
);
const VAR_NAMES: Pool = (&["module_id", "run_id", "x"], &["_", "9lives", "\"\"", "a b"]);
const VAR_VALUES: Pool = (&["youtube", "1", "true", "\"{x}\""], &["\"\"", "[1]", "{a: 1}", "~"]);
const DURATIONS: Pool = (
    &["1s", "10s", "1m", "500ms", "1.5s", "2m3s4ms", "1h"],
    &["0s", "0", "-1s", "10 minutes", "1h30", "8785h", "~", "\"\""],
);
const RANGES: Pool = (
    &["1s..3s", "500ms..1s", "2s", "0s..0s", "10ms..20ms"],
    &["3s..1s", "..", "1s..", "x..y", "1s...2s"],
);
const COUNTS: Pool = (
    &["1", "2", "3", "10"],
    &["0", "-1", "ten", "1.5", "4294967295", "4294967296", "~"],
);
const RATES: Pool = (
    &["1", "2.5", "0.5", "10"],
    &["0", "-1", "0.001", ".inf", ".nan", "1e9", "ten", "~"],
);
const SCENARIO_NAMES: Pool = (&["Web", "Burst", "Api"], &["web", "Webb", "\"\"", "\"a: b\""]);
const TASK_NAMES: Pool = (&["get", "launch", "x y"], &["\"\"", "~", "[a]"]);
const SHORT_REQUESTS: Pool = (
    &[
        "GET /a",
        "GET /b",
        "POST /runs",
        "GET /runs/{run_id}",
        "GET /m/{module_id}?tail=100",
        "/only",
    ],
    &[
        "GET",
        "GTE /x",
        "GET a",
        "GET /a b",
        "DELETE /runs/{undefined}",
        "GET /${env:X}",
        "\"\"",
        "~",
    ],
);
const METHODS: Pool = (
    &["GET", "POST", "put", "DELETE", "HEAD"],
    &["PSOT", "\"\"", "~", "GET POST"],
);
const PATHS: Pool = (
    &["/a", "/runs/{run_id}", "/m?x={module_id}&y", "/a/b?c=d"],
    &["a", "\"\"", "~", "/${env:T}", "/{", "/{}", "\"/a b\""],
);
const JSON_BODIES: Pool = (
    &["{a: 1}", "[1, 2]", "\"{run_id}\"", "{x: \"${env:T}\"}", "null", "1"],
    &["{x: \"${nope}\"}", "{x: \"${env:}\"}"],
);
const STATUSES: Pool = (&["200", "202", "404"], &["700", "99", "-1", "ok", "2xx", "~"]);
const JSON_PATHS: Pool = (
    &["$.run_id", "$.modules[0].id", "$[-1]", "$[\"k\"]", "$"],
    &["run_id", "$.", "$[x]", "$["],
);
const JSON_VALUES: Pool = (&["queued", "1", "null", "[1]", "{a: b}"], &[]);
const SELECTS: Pool = (
    &["total", "GET", "*", "POST *", "get", "GET /*"],
    &["server", "GET /nope", "GET /a", "\"\"", "~", "?"],
);
const BOOLS: Pool = (&["true", "false"], &["maybe", "1", "yes", "~"]);
const LATENCY_LIMITS: Pool = (
    &["< 100ms", "<= 1s", "100ms", "\"> 5ms\"", "< 2.5s"],
    &["< 100", "< -1ms", "< 1e400ms", "<", "~"],
);
const PCT_LIMITS: Pool = (&["< 1%", "1", "<= 100%", "< 0.5%"], &["< 200%", "< -1%", "< NaN%", "~"]);
const RPS_LIMITS: Pool = (
    &["\"> 100\"", ">= 1", "100", "5/s", "\">= 10rps\""],
    &["-5", "inf", "NaN", "~"],
);
const COUNT_LIMITS: Pool = (&[">= 1000", "< 10", "\">= 1\""], &["-1", "1.5", "18446744073709551616"]);
const MB_LIMITS: Pool = (
    &["< 500MB", "< 1GB", "< 512MiB"],
    &["< 100", "< 1TB", "< 1e308GB", "< NaNMB"],
);
const CPU_LIMITS: Pool = (&["< 80%", "< 250%"], &["< 80", "< NaN%", "< -5%", "< 1e400%"]);
const TREND_LIMITS: Pool = (&["< 5%/min", "< 0.5%/min"], &["< 5%", "< NaN%/min", "< inf%/min"]);
const RSS_TREND_LIMITS: Pool = (&["< 10MB/min", "< 1GB/min"], &["< 10MB", "< NaNMB/min"]);
const BUDGETS: Pool = (
    &["+10%", "+10%..+20%", "+2ms", "+1ms..+5ms", "10%"],
    &["-10%", "+20%..+10%", "+1%", "+10", "+inf%", "+-1%", "NaN", "inf"],
);
const ERROR_BUDGETS: Pool = (&["+0.5pp", "+1pp", "+0.1pp..+1pp"], &["+1%", "-1pp", "+NaNpp"]);
const RPS_BUDGETS: Pool = (&["-10%", "-5%..-20%", "10%"], &["+10%", "-inf%"]);
const SERVER_BUDGETS: Pool = (&["+50MB", "+10%", "+5"], &["NaN", "inf", "-5", "+1e400"]);
const PERCENTS: Pool = (&["95%", "99%", "90", "10%"], &["120%", "0%", "99.999%", "x", "~"]);
const NO_DATA: Pool = (&["fail", "pass"], &["maybe", "~"]);
const COMMANDS: Pool = (&["\"sleep 100\"", "x {port}"], &["\"\"", "\"  \"", "~"]);
const CWDS: Pool = (&["/tmp", "."], &[]);

fn request() -> BoxedStrategy<Y> {
    let full = mapping(vec![
        ("method", 60, sc(METHODS)),
        ("path", 97, sc(PATHS)),
        ("name", 15, sc(TASK_NAMES)),
        ("query", 15, small_map(VAR_NAMES, VAR_VALUES, 0..3)),
        ("headers", 15, small_map(HEADER_NAMES, HEADER_VALUES, 0..3)),
        ("json", 20, sc(JSON_BODIES)),
        (
            "expect",
            25,
            prop_oneof![
                sc(STATUSES),
                list(sc(STATUSES), 1..3),
                mapping(vec![
                    (
                        "status",
                        60,
                        prop_oneof![sc(STATUSES), list(sc(STATUSES), 1..3)].boxed()
                    ),
                    ("json", 40, small_map(JSON_PATHS, JSON_VALUES, 0..3)),
                ]),
            ]
            .boxed(),
        ),
        ("extract", 25, small_map(VAR_NAMES, JSON_PATHS, 0..3)),
    ]);
    prop_oneof![3 => sc(SHORT_REQUESTS), 2 => full].boxed()
}

fn task() -> BoxedStrategy<Y> {
    prop_oneof![
        8 => mapping(vec![
            ("name", 20, sc(TASK_NAMES)),
            ("weight", 40, sc(COUNTS)),
            ("request", 100, request()),
        ]),
        2 => mapping(vec![
            ("name", 20, sc(TASK_NAMES)),
            ("weight", 40, sc(COUNTS)),
            ("sequence", 100, list(request(), 1..4)),
        ]),
        // Both, neither, an empty sequence.
        1 => mapping(vec![
            ("weight", 50, sc(COUNTS)),
            ("request", 50, request()),
            ("sequence", 50, list(request(), 0..2)),
        ]),
    ]
    .boxed()
}

fn scenario() -> BoxedStrategy<Y> {
    mapping(vec![
        ("weight", 30, sc(COUNTS)),
        ("think_time", 40, sc(RANGES)),
        ("variables", 15, small_map(VAR_NAMES, VAR_VALUES, 0..3)),
        ("on_start", 20, list(request(), 0..3)),
        (
            "tasks",
            98,
            prop_oneof![20 => list(task(), 1..4), 1 => list(task(), 0..1)].boxed(),
        ),
        ("on_stop", 15, list(request(), 0..2)),
    ])
}

fn load() -> BoxedStrategy<Y> {
    let stage = mapping(vec![("duration", 98, sc(DURATIONS)), ("rate", 98, sc(RATES))]);
    prop_oneof![
        // Closed model.
        6 => mapping(vec![
            ("users", 97, sc(COUNTS)),
            ("spawn_rate", 50, sc(RATES)),
            ("run_time", 97, sc(DURATIONS)),
            ("grace", 20, sc(DURATIONS)),
            ("scenarios", 5, list(sc(SCENARIO_NAMES), 0..3)),
            ("arrival_rate", 2, sc(RATES)),
            ("max_connections", 2, sc(COUNTS)),
        ]),
        // Open model, constant rate.
        2 => mapping(vec![
            ("arrival_rate", 98, sc(RATES)),
            ("max_connections", 40, sc(COUNTS)),
            ("run_time", 97, sc(DURATIONS)),
            ("grace", 20, sc(DURATIONS)),
            ("users", 2, sc(COUNTS)),
            ("spawn_rate", 2, sc(RATES)),
            ("stages", 2, list(stage.clone(), 1..2)),
        ]),
        // Open model in stages.
        2 => mapping(vec![
            ("stages", 98, prop_oneof![20 => list(stage.clone(), 1..4), 1 => list(stage, 0..1)].boxed()),
            ("start_rate", 30, sc(RATES)),
            ("max_connections", 40, sc(COUNTS)),
            ("run_time", 3, sc(DURATIONS)),
            ("grace", 20, sc(DURATIONS)),
        ]),
    ]
    .boxed()
}

fn target() -> BoxedStrategy<Y> {
    prop_oneof![
        5 => mapping(vec![
            ("select", 70, sc(SELECTS)),
            ("each", 15, sc(BOOLS)),
            ("min_samples", 10, sc(COUNTS)),
            ("include_ramp_up", 10, sc(BOOLS)),
            ("avg", 30, sc(LATENCY_LIMITS)),
            ("p95", 90, sc(LATENCY_LIMITS)),
            ("p99.9", 10, sc(LATENCY_LIMITS)),
            ("max", 10, sc(LATENCY_LIMITS)),
            ("error_rate", 25, sc(PCT_LIMITS)),
            ("rps", 20, sc(RPS_LIMITS)),
            ("requests", 10, sc(COUNT_LIMITS)),
            ("p95_trend", 8, sc(TREND_LIMITS)),
            ("rss_max", 1, sc(MB_LIMITS)),
        ]),
        1 => mapping(vec![
            ("select", 97, sc((&["server"], &["total"]))),
            ("rss_max", 60, sc(MB_LIMITS)),
            ("rss_mean", 20, sc(MB_LIMITS)),
            ("cpu_mean", 30, sc(CPU_LIMITS)),
            ("cpu_max", 10, sc(CPU_LIMITS)),
            ("fds_max", 10, sc(COUNT_LIMITS)),
            ("threads_max", 10, sc(COUNT_LIMITS)),
            ("rss_trend", 20, sc(RSS_TREND_LIMITS)),
            ("avg", 1, sc(LATENCY_LIMITS)),
        ]),
    ]
    .boxed()
}

fn regression() -> BoxedStrategy<Y> {
    let budget = prop_oneof![
        5 => mapping(vec![
            ("select", 70, sc(SELECTS)),
            ("each", 20, sc(BOOLS)),
            ("avg", 30, sc(BUDGETS)),
            ("p95", 80, sc(BUDGETS)),
            ("error_rate", 30, sc(ERROR_BUDGETS)),
            ("rps", 30, sc(RPS_BUDGETS)),
            ("max", 1, sc(BUDGETS)),
            ("p95_trend", 1, sc(BUDGETS)),
        ]),
        1 => mapping(vec![
            ("select", 97, sc((&["server"], &["total"]))),
            ("rss_max", 70, sc(SERVER_BUDGETS)),
            ("cpu_mean", 40, sc(SERVER_BUDGETS)),
            ("fds_max", 10, sc(SERVER_BUDGETS)),
            ("rss_trend", 3, sc(SERVER_BUDGETS)),
        ]),
    ];
    mapping(vec![
        ("confidence", 40, sc(PERCENTS)),
        ("min_effect", 30, sc(DURATIONS)),
        ("noise", 30, sc(PERCENTS)),
        ("fail_on_inconclusive", 20, sc(BOOLS)),
        ("min_samples", 20, sc(COUNTS)),
        ("budgets", 70, list(budget.boxed(), 0..3)),
    ])
}

fn gate_tree() -> BoxedStrategy<Y> {
    let scenarios = mapping(vec![
        ("Web", 95, scenario()),
        ("Burst", 40, scenario()),
        ("Api", 20, scenario()),
    ]);
    let variables = mapping(vec![
        ("module_id", 90, sc(VAR_VALUES)),
        ("run_id", 90, sc(VAR_VALUES)),
        ("x", 30, sc(VAR_VALUES)),
    ]);
    mapping(vec![
        ("version", 98, sc(VERSIONS)),
        ("name", 15, sc(TASK_NAMES)),
        ("host", 60, sc(HOSTS)),
        ("headers", 25, small_map(HEADER_NAMES, HEADER_VALUES, 0..3)),
        ("variables", 90, variables),
        ("timeout", 25, sc(DURATIONS)),
        ("load", 99, load()),
        ("scenarios", 99, scenarios),
        ("targets", 50, list(target(), 0..4)),
        (
            "verdict",
            20,
            mapping(vec![
                ("include_ramp_up", 50, sc(BOOLS)),
                ("min_samples", 50, sc(COUNTS)),
                ("no_data", 50, sc(NO_DATA)),
            ]),
        ),
        ("regression", 30, regression()),
        (
            "serve",
            10,
            mapping(vec![
                ("command", 97, sc(COMMANDS)),
                ("cwd", 20, sc(CWDS)),
                ("env", 20, small_map(VAR_NAMES, VAR_VALUES, 0..2)),
                ("ready", 20, sc(PATHS)),
                ("ready_timeout", 20, sc(DURATIONS)),
                ("stop_grace", 20, sc(DURATIONS)),
            ]),
        ),
    ])
}

fn gate_text() -> impl Strategy<Value = String> {
    gate_tree().prop_map(|y| {
        let mut out = String::new();
        render(&y, 0, &mut out);
        out
    })
}

// ---------------------------------------------------------------------------------------------
// A real results file
// ---------------------------------------------------------------------------------------------

/// A results file from `perfgate demo --run-time 2s --users 5` (run once per test process), and
/// the example gate that judged it.
fn good_results() -> &'static (String, Results, Gate) {
    static GOOD: OnceLock<(String, Results, Gate)> = OnceLock::new();
    GOOD.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("perfgate-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let out = dir.join("demo.json");
        let mut child = Command::new(env!("CARGO_BIN_EXE_perfgate"))
            .args([
                "demo",
                "--run-time",
                "2s",
                "--users",
                "5",
                "--seed",
                "1",
                "--quiet",
                "--out",
            ])
            .arg(&out)
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start perfgate demo");
        let started = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("perfgate demo --run-time 2s did not finish within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // The example gate's `rps > 100` fails five users: exit 1 is a finished run too.
        assert!(matches!(status.code(), Some(0 | 1)), "perfgate demo: {status:?}");
        let text = std::fs::read_to_string(&out).expect("demo results written");
        let _ = std::fs::remove_dir_all(&dir);
        let results = Results::from_json("demo.json", &text).expect("the demo's results read back");
        let gate = Gate::parse("gates/prismq.yaml", PRISMQ).expect("the example gate is valid");
        (text, results, gate)
    })
}

/// Everything the binary does with a results file it accepted (verdict, comparison, reports).
fn exercise_results(r: &Results) -> Result<(), TestCaseError> {
    let (_, good, gate) = good_results();
    let verdict = perfgate::verdict::judge(gate, r);
    let _ = verdict.headline();
    for (head, base) in [(r, good), (good, r)] {
        for mode in [Mode::Sequential, Mode::Duet] {
            let v = perfgate::verdict::judge_with_baseline(gate, head, base, mode);
            let _ = v.headline();
            if mode == Mode::Duet && std::ptr::eq(head, r) {
                // The base-vs-head charts read both files' histograms and series.
                let _ = perfgate::report::html::render(&perfgate::report::Input {
                    results: head,
                    verdict: &v,
                    base: Some(base),
                    gate_file: "gates/prismq.yaml",
                });
            }
        }
    }
    use perfgate::report::terminal;
    let _ = terminal::stats_table(r);
    let _ = terminal::failure_lines(r);
    let _ = terminal::generator_line(r);
    let _ = terminal::server_line(r);
    let _ = terminal::run_summary(r);
    let input = perfgate::report::Input {
        results: r,
        verdict: &verdict,
        base: None,
        gate_file: "gates/prismq.yaml",
    };
    let _ = perfgate::report::markdown::render(&input);
    Ok(())
}

fn check_results_text(text: &str, tally: &Tally) -> Result<(), TestCaseError> {
    match Results::from_json("r.json", text) {
        Ok(r) => {
            tally.ok.fetch_add(1, Ordering::Relaxed);
            exercise_results(&r)
        }
        Err(e) => {
            tally.err.fetch_add(1, Ordering::Relaxed);
            let msg = e.to_string();
            prop_assert!(msg.contains("r.json"), "the error does not name the file: {}", msg);
            Ok(())
        }
    }
}

/// Every JSON pointer in a document.
fn pointers(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(x, p, out);
            }
        }
        _ => {}
    }
}

/// JSON values to put anywhere in a results document.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    prop_oneof![
        prop::sample::select(vec![
            json!(null),
            json!(true),
            json!(0),
            json!(1),
            json!(-1),
            json!(u64::MAX),
            json!(u64::MAX - 1),
            json!(i64::MIN),
            json!(1e308),
            json!(-1e308),
            json!(0.5),
            json!(-0.0),
            json!(""),
            json!("x"),
            json!("AAAA"),
            json!([]),
            json!({}),
            json!([0]),
            json!({"requests": u64::MAX}),
            json!(65535),
            json!(65536),
            json!(4_294_967_296u64),
        ]),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        ".{0,8}".prop_map(serde_json::Value::from),
    ]
}

/// One edit of a results document, at JSON pointers of the seed (an edit whose pointer an earlier
/// edit removed does nothing).
#[derive(Debug, Clone)]
enum JsonEdit {
    Replace(String, serde_json::Value),
    Remove(String),
    CopyOver(String, String),
}

fn json_edit(seed: &str) -> impl Strategy<Value = JsonEdit> {
    let doc: serde_json::Value = serde_json::from_str(seed).expect("the seed is JSON");
    let mut ps = Vec::new();
    pointers(&doc, String::new(), &mut ps);
    let at = prop::sample::select(ps);
    prop_oneof![
        5 => (at.clone(), json_value()).prop_map(|(p, v)| JsonEdit::Replace(p, v)),
        2 => at.clone().prop_map(JsonEdit::Remove),
        2 => (at.clone(), at).prop_map(|(a, b)| JsonEdit::CopyOver(a, b)),
    ]
}

fn apply_json_edits(text: &str, edits: &[JsonEdit]) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(text).expect("the seed is JSON");
    for e in edits {
        match e {
            JsonEdit::Replace(p, v) => {
                if let Some(slot) = doc.pointer_mut(p) {
                    *slot = v.clone();
                }
            }
            JsonEdit::Remove(p) => {
                let (parent, last) = p.rsplit_once('/').unwrap_or(("", p));
                let key = last.replace("~1", "/").replace("~0", "~");
                match doc.pointer_mut(parent) {
                    Some(serde_json::Value::Object(m)) => {
                        m.remove(&key);
                    }
                    Some(serde_json::Value::Array(a)) => {
                        if let Ok(k) = key.parse::<usize>() {
                            if k < a.len() {
                                a.remove(k);
                            }
                        }
                    }
                    _ => {}
                }
            }
            JsonEdit::CopyOver(from, to) => {
                let v = doc.pointer(from).cloned();
                if let (Some(v), Some(slot)) = (v, doc.pointer_mut(to)) {
                    *slot = v;
                }
            }
        }
    }
    serde_json::to_string_pretty(&doc).expect("serialize")
}

/// A latency histogram as the hdrhistogram V2 format encodes it, then damaged: random values and
/// counts, header fields set to anything (but a payload length below 1 MiB), bytes flipped or cut.
#[derive(Debug, Clone)]
struct HistogramEdit {
    target: Index,
    values: Vec<(u64, u64)>,
    header: Vec<(usize, u8)>,
    flips: Vec<(Index, u8)>,
    cut: Option<Index>,
    deflate: bool,
}

fn histogram_edit() -> impl Strategy<Value = HistogramEdit> {
    (
        any::<Index>(),
        prop::collection::vec(
            (
                prop_oneof![1u64..10_000_000, any::<u64>()],
                prop_oneof![1u64..100, any::<u64>()],
            ),
            0..6,
        ),
        prop::collection::vec((8usize..40, any::<u8>()), 0..3),
        prop::collection::vec((any::<Index>(), any::<u8>()), 0..3),
        prop::option::weighted(0.2, any::<Index>()),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(target, values, header, flips, cut, deflate)| HistogramEdit {
            target,
            values,
            header,
            flips,
            cut,
            deflate,
        })
}

fn apply_histogram_edit(text: &str, e: &HistogramEdit) -> String {
    use base64::Engine;
    use hdrhistogram::serialization::{Serializer, V2DeflateSerializer, V2Serializer};
    let mut h = hdrhistogram::Histogram::<u64>::new(3).expect("histogram");
    for &(v, n) in &e.values {
        let _ = h.record_n(v, n);
    }
    let mut bytes = Vec::new();
    if e.deflate {
        let _ = V2DeflateSerializer::new().serialize(&h, &mut bytes);
    } else {
        let _ = V2Serializer::new().serialize(&h, &mut bytes);
        for &(at, b) in &e.header {
            if at < bytes.len() {
                bytes[at] = b;
            }
        }
        // Never a payload length of 1 MiB or more: the decoder allocates it before reading
        // (the `baseline-histogram-claims-4-gib` row of tests/bad_input.rs).
        if bytes.len() >= 8 {
            bytes[4] = 0;
            bytes[5] = bytes[5].min(0x0f);
        }
    }
    let len = bytes.len();
    if len > 0 {
        for (i, b) in &e.flips {
            let k = i.index(len);
            if e.deflate || !(4..8).contains(&k) {
                bytes[k] ^= *b;
            }
        }
    }
    if let Some(c) = &e.cut {
        bytes.truncate(c.index(len + 1));
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let mut doc: serde_json::Value = serde_json::from_str(text).expect("the seed is JSON");
    let mut ps = Vec::new();
    pointers(&doc, String::new(), &mut ps);
    let hists: Vec<&String> = ps.iter().filter(|p| p.ends_with("histogram")).collect();
    if !hists.is_empty() {
        let p = hists[e.target.index(hists.len())].clone();
        if let Some(slot) = doc.pointer_mut(&p) {
            *slot = serde_json::Value::String(encoded);
        }
    }
    serde_json::to_string_pretty(&doc).expect("serialize")
}

// ---------------------------------------------------------------------------------------------
// Gate properties
// ---------------------------------------------------------------------------------------------

/// (a) Any text: Ok or a located Err, never a panic.
#[test]
fn gate_parse_arbitrary_text() {
    let tally = Tally::default();
    let text = prop_oneof![
        any::<String>(),
        "[ -~\t\n]{0,200}",
        prop::collection::vec(
            prop_oneof![
                prop::sample::select(SNIPPETS).prop_map(String::from),
                value_text(),
                "[a-z_]{1,10}: [ -~]{0,12}",
            ],
            0..12
        )
        .prop_map(|lines| lines.join("\n")),
    ];
    fuzz("gate_parse_arbitrary_text", 256, text, |s| check_gate_text(&s, &tally));
    tally.report("gate_parse_arbitrary_text");
}

/// (b) gates/prismq.yaml with lines deleted, duplicated, swapped, inserted or re-indented, values
/// replaced, characters replaced, inserted or deleted, and the text cut short.
#[test]
fn gate_parse_mutated_example() {
    let tally = Tally::default();
    fuzz(
        "gate_parse_mutated_example",
        256,
        prop::collection::vec(mutation(), 1..5),
        |m| {
            let s = mutate(PRISMQ, &m);
            in_context(PRISMQ, &s, || check_gate_text(&s, &tally))
        },
    );
    tally.report("gate_parse_mutated_example");
}

/// (c) Gate files built from a grammar of plausible keys and values, good and bad.
#[test]
fn gate_parse_structured() {
    let tally = Tally::default();
    fuzz("gate_parse_structured", 256, gate_text(), |s| {
        check_gate_text(&s, &tally)
    });
    tally.report("gate_parse_structured");
    let (ok, err) = (tally.ok.load(Ordering::Relaxed), tally.err.load(Ordering::Relaxed));
    assert!(
        ok > 0 || ok + err < 100,
        "the grammar never produced a valid gate in {err} tries: it no longer reaches past validation"
    );
}

// ---------------------------------------------------------------------------------------------
// The small parsers
// ---------------------------------------------------------------------------------------------

fn small_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9.:<>=+%a-z /µ-]{0,16}",
        value_text(),
        (value_text(), value_text()).prop_map(|(a, b)| format!("{a}..{b}")),
    ]
}

/// `parse_duration` and `parse_range` on any text: Ok or Err; what they accept is at most a year
/// and ranges do not run backwards.
#[test]
fn durations_and_ranges_never_panic() {
    fuzz("durations_and_ranges", 1024, small_text(), |s| {
        if let Ok(d) = parse_duration(&s) {
            prop_assert!(d <= Duration::from_secs(366 * 86400 + 1), "`{}` gave {:?}", s, d);
            let _ = format_duration(d);
        }
        if let Ok((lo, hi)) = parse_range(&s) {
            prop_assert!(lo <= hi, "`{}` gave {:?}..{:?}", s, lo, hi);
        }
        Ok(())
    });
}

/// A duration in whole milliseconds (up to a year) written in one of the ways the parser reads.
fn duration_text() -> impl Strategy<Value = (u64, String)> {
    let year_ms = 366 * 86_400_000u64;
    (prop_oneof![0..120_000u64, 0..year_ms], 0..4u8).prop_map(|(ms, style)| {
        let text = match style {
            0 => format!("{ms}ms"),
            1 => format!("{}s", ms as f64 / 1000.0),
            2 => {
                let (h, m, s, rest) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
                format!("{h}h{m}m{s}s{rest}ms")
            }
            _ => format_duration(Duration::from_millis(ms)),
        };
        (ms, text)
    })
}

/// `format_duration` writes what `parse_duration` reads back to the same duration (the module's
/// contract: "formats a duration the way this module parses it back"), to the millisecond.
#[test]
fn format_duration_round_trips() {
    fuzz("format_duration_round_trips", 1024, duration_text(), |(ms, text)| {
        let d = parse_duration(&text).map_err(|e| TestCaseError::fail(format!("`{text}` ({ms} ms): {e}")))?;
        prop_assert_eq!(d, Duration::from_millis(ms), "`{}` parsed as {:?}", text, d);
        let shown = format_duration(d);
        let back = parse_duration(&shown);
        prop_assert_eq!(
            back.clone(),
            Ok(d),
            "{:?} is shown as `{}`, which reads back as {:?}",
            d,
            shown,
            back
        );
        Ok(())
    });
}

fn metric() -> impl Strategy<Value = Metric> {
    let server = prop::sample::select(vec![
        ServerMetric::RssMax,
        ServerMetric::RssMean,
        ServerMetric::RssTrend,
        ServerMetric::CpuMean,
        ServerMetric::CpuMax,
        ServerMetric::FdsMax,
        ServerMetric::ThreadsMax,
    ]);
    prop_oneof![
        Just(Metric::Avg),
        Just(Metric::Min),
        Just(Metric::Max),
        (0.001f64..99.999).prop_map(Metric::Percentile),
        Just(Metric::Percentile(99.9)),
        Just(Metric::ErrorRate),
        Just(Metric::Rps),
        Just(Metric::Requests),
        (0.001f64..99.999).prop_map(Metric::Trend),
        server.prop_map(Metric::Server),
    ]
}

fn limit_text() -> impl Strategy<Value = String> {
    let op = prop::sample::select(vec!["", "<", "<=", ">", ">=", "< ", ">= ", "<<", "=", "=="]);
    let unit = prop::sample::select(vec![
        "", "ms", "s", "%", "%/min", "MB", "GB", "KiB", "MB/min", "rps", "/s", " ms", "us", "µs", "h", "TB",
    ]);
    let number = prop_oneof![
        prop::sample::select(vec![
            "0",
            "1",
            "100",
            "1.5",
            "-1",
            "-0",
            "1e3",
            "1e400",
            "inf",
            "NaN",
            "infinity",
            "+5",
            ".5",
            "5.",
            "",
            "18446744073709551616",
        ])
        .prop_map(String::from),
        any::<f64>().prop_map(|f| f.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
    ];
    prop_oneof![
        4 => (op, number, unit).prop_map(|(o, n, u)| format!("{o}{n}{u}")),
        1 => small_text(),
    ]
}

/// `Limit::parse` for every metric on any text: Ok or Err, and what it accepts is a finite number
/// (a NaN or infinite limit can never be met, or is always met, whatever the run measures).
#[test]
fn target_limits_never_panic() {
    fuzz("target_limits", 2048, (metric(), limit_text()), |(m, s)| {
        if let Ok(l) = Limit::parse(m, &s) {
            prop_assert!(l.value.is_finite(), "`{}: {}` was accepted as {:?}", m, s, l);
            let _ = l.to_string();
        }
        Ok(())
    });
}

/// `budget::parse_limit` for every metric on any text: Ok or Err, with finite amounts.
#[test]
fn budget_limits_never_panic() {
    let text = prop_oneof![
        (
            prop::sample::select(vec!["", "+", "-", "+-", "--"]),
            limit_text(),
            prop::option::of((prop::sample::select(vec!["", "+", "-"]), limit_text())),
        )
            .prop_map(|(sign, a, b)| match b {
                Some((s2, b)) => format!("{sign}{a}..{s2}{b}"),
                None => format!("{sign}{a}"),
            }),
        small_text(),
    ];
    fuzz("budget_limits", 2048, (metric(), text), |(m, s)| {
        if let Ok(b) = budget::parse_limit(m, &s) {
            for a in b.warn.iter().chain([&b.fail]) {
                let v = match a {
                    budget::Amount::Relative(v) | budget::Amount::Absolute(v) => *v,
                };
                prop_assert!(v.is_finite() && v >= 0.0, "`{}: {}` was accepted as {:?}", m, s, b);
            }
            let _ = b.to_string();
        }
        Ok(())
    });
}

/// `Template::parse` on any text: Ok or Err; what it accepts prints back as text that parses to the
/// same template.
#[test]
fn templates_never_panic_and_round_trip() {
    let text = prop_oneof![
        small_text(),
        "[{}$a-z:_.0-9 -]{0,24}",
        prop::collection::vec(
            prop::sample::select(vec![
                "{", "}", "$", "${", "${env:", "env:", "x", "_a1", "-", " ", "{{", "}}", "µ"
            ]),
            0..12
        )
        .prop_map(|v| v.concat()),
    ];
    fuzz("templates", 2048, text, |s| {
        if let Ok(t) = Template::parse(&s) {
            let shown = t.to_string();
            let again = Template::parse(&shown);
            prop_assert_eq!(again, Ok(t.clone()), "`{}` -> {:?} -> `{}`", s, t, shown);
            let _ = t.vars().count() + t.envs().count();
        }
        Ok(())
    });
}

/// `JsonPath::parse` on any text: Ok or Err; an accepted path looks values up without panicking.
#[test]
fn json_paths_never_panic() {
    let text = prop_oneof![
        small_text(),
        "\\$[.\\[\\]a-z0-9\"-]{0,20}",
        prop::collection::vec(
            prop_oneof![
                prop::sample::select(vec![
                    ".a", ".modules", "[0]", "[-1]", "[\"k\"]", "[", "]", ".", "[x]", "[ 1 ]"
                ])
                .prop_map(String::from),
                any::<i64>().prop_map(|i| format!("[{i}]")),
            ],
            0..6
        )
        .prop_map(|v| format!("${}", v.concat())),
    ];
    let doc = serde_json::json!({"a": [1, {"b": null}], "modules": [{"id": "x"}], "k": {"": [[]]}});
    fuzz("json_paths", 2048, text, |s| {
        if let Ok(p) = JsonPath::parse(&s) {
            let _ = p.find(&doc);
            let _ = p.find(&serde_json::json!([]));
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------------------------
// Results files
// ---------------------------------------------------------------------------------------------

/// A real results file with its text mutated (lines, characters, truncation): Ok or Err naming the
/// file; an accepted file goes through the verdict, the comparison and the reports.
#[test]
fn results_mutated_text() {
    let tally = Tally::default();
    let (seed, _, _) = good_results();
    fuzz(
        "results_mutated_text",
        128,
        prop::collection::vec(mutation(), 1..4),
        |m| {
            let s = mutate(seed, &m);
            in_context(seed, &s, || check_results_text(&s, &tally))
        },
    );
    tally.report("results_mutated_text");
}

/// A real results file with values replaced (wrong types, huge or negative numbers), removed or
/// copied elsewhere.
#[test]
fn results_mutated_values() {
    let tally = Tally::default();
    let (seed, _, _) = good_results();
    fuzz(
        "results_mutated_values",
        128,
        prop::collection::vec(json_edit(seed), 1..4),
        |e| {
            let s = apply_json_edits(seed, &e);
            in_context(seed, &s, || check_results_text(&s, &tally))
        },
    );
    tally.report("results_mutated_values");
}

/// A real results file with one latency histogram replaced by a damaged encoding.
#[test]
fn results_damaged_histograms() {
    let tally = Tally::default();
    let (seed, _, _) = good_results();
    fuzz("results_damaged_histograms", 128, histogram_edit(), |e| {
        let s = apply_histogram_edit(seed, &e);
        in_context(seed, &s, || check_results_text(&s, &tally))
    });
    tally.report("results_damaged_histograms");
}

// ---------------------------------------------------------------------------------------------
// What the fuzzers found, replayed on the minimal inputs
// ---------------------------------------------------------------------------------------------

/// Calls `f`, turning a panic into its message.
fn no_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default()
    })
}

/// The smallest inputs the properties above shrank their failures to, checked every run (the
/// properties draw random cases, so they may miss a rare input on a given run). Each line of the
/// failure names the file and function at fault.
#[test]
fn inputs_found_by_fuzzing() {
    let (seed, _, _) = good_results();
    let mut wrong = Vec::new();

    // A results file whose counters add up past u64::MAX (a corrupt or hand-edited baseline) is
    // accepted, then `Stats::merge` (src/metrics/results.rs) overflows while the verdict merges phases.
    let huge = apply_json_edits(
        seed,
        &[JsonEdit::Replace(
            "/requests/0/phases/steady/requests".into(),
            serde_json::Value::from(u64::MAX),
        )],
    );
    if let Ok(r) = Results::from_json("r.json", &huge) {
        if let Err(p) = no_panic(|| exercise_results(&r)) {
            wrong.push(format!(
                "Stats::merge: requests = u64::MAX in one phase of r.json: panicked: {p}"
            ));
        }
    }

    // A histogram whose counts add up past u64::MAX (5 and three times i64::MAX): `Hist::decode` (src/metrics/hist.rs) accepts it,
    // and hdrhistogram's `value_at_quantile` overflows under `terminal::stats_table`.
    {
        use base64::Engine;
        use hdrhistogram::serialization::{Serializer, V2Serializer};
        let mut h = hdrhistogram::Histogram::<u64>::new(3).expect("histogram");
        h.record_n(1000, 5).expect("record");
        for v in [2000, 3000, 4000] {
            h.record_n(v, i64::MAX as u64).expect("record");
        }
        let mut bytes = Vec::new();
        V2Serializer::new().serialize(&h, &mut bytes).expect("serialize");
        let text = apply_json_edits(
            seed,
            &[JsonEdit::Replace(
                "/requests/0/phases/steady/histogram".into(),
                serde_json::Value::from(base64::engine::general_purpose::STANDARD.encode(&bytes)),
            )],
        );
        if let Ok(r) = Results::from_json("r.json", &text) {
            if let Err(p) = no_panic(|| exercise_results(&r)) {
                wrong.push(format!(
                    "Hist::decode accepts counts of 5 and 3 x i64::MAX, then Hist::quantile_us panics: {p}"
                ));
            }
        }
    }

    // A negative latency in a per-second point: the HTML report's latency-over-time chart handed it
    // to plotters, whose pixel arithmetic overflowed (src/report/chart.rs, `draw`).
    {
        let text = apply_json_edits(
            seed,
            &[JsonEdit::Replace(
                "/series/0/names/4/p50_ms".into(),
                serde_json::Value::from(-174880307),
            )],
        );
        if let Ok(r) = Results::from_json("r.json", &text) {
            if let Err(p) = no_panic(|| exercise_results(&r)) {
                wrong.push(format!(
                    "html::render charts a negative p50 of a second and panics: {p}"
                ));
            }
        }
    }

    // Text that is not ASCII where a hash is expected (a hand-edited or damaged baseline, still
    // valid JSON): `short` (src/verdict/compare.rs), markdown::render and html::render
    // (src/report/) cut the gate's sha256 and the commit at byte 12, inside a character.
    let (_, good, gate) = good_results();
    for pointer in ["/gate/sha256", "/commit"] {
        let odd = apply_json_edits(
            seed,
            &[JsonEdit::Replace(
                pointer.into(),
                serde_json::Value::from("a\u{10000}\u{10000}\u{10000}"),
            )],
        );
        let Ok(r) = Results::from_json("r.json", &odd) else {
            continue;
        };
        let verdict = perfgate::verdict::judge(gate, &r);
        let input = perfgate::report::Input {
            results: &r,
            verdict: &verdict,
            base: None,
            gate_file: "gates/prismq.yaml",
        };
        let steps: [(&str, &dyn Fn()); 3] = [
            ("verdict::judge_with_baseline", &|| {
                let _ = perfgate::verdict::judge_with_baseline(gate, good, &r, Mode::Sequential);
            }),
            ("report::markdown::render", &|| {
                let _ = perfgate::report::markdown::render(&input);
            }),
            ("report::html::render", &|| {
                let _ = perfgate::report::html::render(&input);
            }),
        ];
        for (what, step) in steps {
            if let Err(p) = no_panic(step) {
                wrong.push(format!(
                    "{pointer} = \"a\\u{{10000}}...\" in r.json: {what} panicked: {p}"
                ));
            }
        }
    }

    // Status counts that add up past u64::MAX: `Stats::merge` (src/metrics/results.rs) again.
    let counts = apply_json_edits(
        seed,
        &[
            JsonEdit::Replace(
                "/requests/0/phases/ramp_up/status_codes".into(),
                serde_json::json!({"200": u64::MAX}),
            ),
            JsonEdit::Replace(
                "/requests/0/phases/steady/status_codes".into(),
                serde_json::json!({"200": u64::MAX}),
            ),
        ],
    );
    if let Ok(r) = Results::from_json("r.json", &counts) {
        if let Err(p) = no_panic(|| exercise_results(&r)) {
            wrong.push(format!(
                "Stats::merge: status_codes {{\"200\": u64::MAX}} in both phases of r.json: panicked: {p}"
            ));
        }
    }

    // Per-second counts of two names that add up past u64::MAX: `rps_series`
    // (src/verdict/compare.rs) and `Seconds::of` (src/verdict/blocks.rs) summed them unchecked.
    {
        let second = serde_json::from_str::<serde_json::Value>(seed).expect("seed is JSON");
        let names = second["series"][0]["names"].as_array().map_or(0, Vec::len);
        assert!(names >= 2, "the demo's first second has {names} names");
        let edits: Vec<JsonEdit> = (0..2)
            .flat_map(|i| {
                ["requests", "failures", "sum_us"]
                    .map(|k| JsonEdit::Replace(format!("/series/0/names/{i}/{k}"), serde_json::Value::from(u64::MAX)))
            })
            .collect();
        let text = apply_json_edits(seed, &edits);
        if let Ok(r) = Results::from_json("r.json", &text) {
            if let Err(p) = no_panic(|| exercise_results(&r)) {
                wrong.push(format!(
                    "verdict: requests, failures and sum_us = u64::MAX for two names of one second of r.json: panicked: {p}"
                ));
            }
        }
    }

    // Class weights 1 and 4294967295: `plan::assign` (src/load/plan.rs) allocated the whole
    // smooth round-robin cycle (2 + 8,589,934,590 steps, 68 GB) to deal 2 users.
    {
        let text = "version: 1\nhost: http://127.0.0.1:9\nload: {users: 2, spawn_rate: 2, run_time: 1s}\n\
                    scenarios:\n  a: {weight: 1, tasks: [{request: GET /a}]}\n  \
                    b: {weight: 4294967295, tasks: [{request: GET /b}]}\n";
        match Gate::parse("f.yaml", text) {
            Ok(gate) => {
                let o = Overrides {
                    host: Some("http://127.0.0.1:9".into()),
                    seed: Some(7),
                    ..Overrides::default()
                };
                if let Err(p) = no_panic(|| {
                    let _ = Plan::new(&gate, &o);
                }) {
                    wrong.push(format!("Plan::new with weights 1 and 4294967295: panicked: {p}"));
                }
            }
            Err(e) => wrong.push(format!("the two-weight gate no longer parses: {e}")),
        }
    }

    // `format_duration` (src/gate/duration.rs) drops the milliseconds of durations of a minute or
    // more, so `run_time (1m) differs from the stages' total (1m)` can happen.
    for ms in [60_001u64, 90_500, 3_600_250] {
        let d = Duration::from_millis(ms);
        let shown = format_duration(d);
        if parse_duration(&shown) != Ok(d) {
            wrong.push(format!(
                "format_duration({d:?}) = `{shown}`, which reads back as {:?}",
                parse_duration(&shown)
            ));
        }
    }

    // `Limit::parse` (src/gate/target.rs) accepts limits that are not finite numbers.
    for (m, text) in [
        (Metric::Rps, "1e400"),
        (Metric::Rps, ">= inf"),
        (Metric::Server(ServerMetric::CpuMean), "< 1e400%"),
        (Metric::Trend(95.0), "< NaN%/min"),
        (Metric::Server(ServerMetric::RssMax), "< 1e400GB"),
    ] {
        if let Ok(l) = Limit::parse(m, text) {
            wrong.push(format!("Limit::parse accepts `{m}: {text}` as {}", l.value));
        }
    }

    // `budget::parse_limit` (src/gate/budget.rs) accepts budgets that are not finite numbers.
    for (m, text) in [
        (Metric::Percentile(95.0), "+inf%"),
        (Metric::Server(ServerMetric::RssMax), "NaN"),
        (Metric::Server(ServerMetric::CpuMean), "inf"),
    ] {
        if let Ok(b) = budget::parse_limit(m, text) {
            wrong.push(format!("budget::parse_limit accepts `{m}: {text}` as {:?}", b.fail));
        }
    }

    // A server-metric budget with a sign inside the number (`rss_max: +-1`): `parse_limit`
    // (src/gate/budget.rs) took it as an allowance of -1 MB.
    for m in [
        perfgate::gate::target::Metric::Server(perfgate::gate::target::ServerMetric::RssMax),
        perfgate::gate::target::Metric::Server(perfgate::gate::target::ServerMetric::CpuMean),
    ] {
        if let Ok(b) = budget::parse_limit(m, "+-1") {
            wrong.push(format!("parse_limit: `{m}: +-1` was accepted as {b:?}"));
        }
    }

    assert!(wrong.is_empty(), "{} defects:\n  {}", wrong.len(), wrong.join("\n  "));
}
