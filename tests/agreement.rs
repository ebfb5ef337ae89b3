//! One figure, one number: a gate run against the demo with a baseline writes the terminal table,
//! the results JSON, JUnit, markdown and HTML, and every figure they share for one request name
//! (its count, its p95, the check's measured p95, the comparison's base, head, change and interval)
//! is read back from each format with that format's parser and must be the JSON's number, rounded as
//! shown, with the same sign.

mod common;

use common::{perfgate, DemoChild, TempDir};
use perfgate::metrics::results::Results;
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use quick_junit::Report;
use std::time::Duration;

const NAME: &str = "GET /api/health";

/// Enough requests in 8 s for the comparison to get an interval from time blocks.
const GATE: &str = r#"
version: 1
name: agree
load: {users: 8, spawn_rate: 100, run_time: 8s}
scenarios:
  Poller:
    think_time: 5ms..10ms
    tasks:
      - request: GET /api/health
targets:
  - select: GET /api/health
    p95: < 2s
regression:
  min_effect: 0.5ms
  budgets:
    - select: GET /api/health
      p95: +10%..+20%
"#;

/// The number a shown figure starts with (`+22.0%` is 22.0, `27.50 ms` is 27.5) and how many
/// decimals it was shown with.
fn shown(text: &str) -> (f64, usize) {
    let t = text.trim();
    let end = t
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || *c == '.' || (*i == 0 && (*c == '+' || *c == '-'))))
        .map_or(t.len(), |(i, _)| i);
    let n = &t[..end];
    let decimals = n.split_once('.').map_or(0, |(_, d)| d.len());
    let v = n
        .parse()
        .unwrap_or_else(|_| panic!("`{text}` does not start with a number"));
    (v, decimals)
}

/// Asserts `text` shows `want`: the same number to the decimals shown, and the same sign.
fn agrees(format: &str, figure: &str, text: &str, want: f64) {
    let (v, decimals) = shown(text);
    let half = 0.5 * 10f64.powi(-(decimals as i32)) + 1e-9;
    assert!(
        (v - want).abs() <= half,
        "{format}: {figure} shows `{text}`, the results JSON has {want}"
    );
    if want.abs() > half {
        assert_eq!(
            v.signum(),
            want.signum(),
            "{format}: {figure} shows `{text}` with the other sign than {want}"
        );
    }
}

/// The `[lo, hi]` of an interval as shown: `[-7.9%, +61.6%]`.
fn interval(text: &str) -> (&str, &str) {
    let inner = text
        .split_once('[')
        .and_then(|(_, r)| r.split_once(']'))
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("no interval in `{text}`"));
    inner
        .split_once(", ")
        .unwrap_or_else(|| panic!("no `lo, hi` in `{inner}`"))
}

/// The text right after `marker` in `text`.
fn after<'a>(text: &'a str, marker: &str) -> &'a str {
    let at = text.find(marker).unwrap_or_else(|| panic!("no `{marker}` in:\n{text}"));
    &text[at + marker.len()..]
}

/// Every table of a markdown text, as rows of cells (pulldown-cmark, GitHub's table extension).
fn md_tables(md: &str) -> Vec<Vec<Vec<String>>> {
    let mut out: Vec<Vec<Vec<String>>> = Vec::new();
    let mut row = Vec::new();
    let mut cell: Option<String> = None;
    for ev in Parser::new_ext(md, Options::ENABLE_TABLES) {
        match ev {
            Event::Start(Tag::Table(_)) => out.push(Vec::new()),
            Event::Start(Tag::TableHead) | Event::Start(Tag::TableRow) => row = Vec::new(),
            Event::End(TagEnd::TableHead) | Event::End(TagEnd::TableRow) => {
                out.last_mut().unwrap().push(std::mem::take(&mut row))
            }
            Event::Start(Tag::TableCell) => cell = Some(String::new()),
            Event::End(TagEnd::TableCell) => row.push(cell.take().unwrap()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(c) = cell.as_mut() {
                    c.push_str(&t);
                }
            }
            _ => {}
        }
    }
    out
}

/// The rows of the HTML table with this class, as cell texts (tags dropped, entities decoded).
fn html_rows(html: &str, class: &str) -> Vec<Vec<String>> {
    let table = after(html, &format!("<table class=\"{class}\">"));
    let table = &table[..table.find("</table>").expect("table end")];
    let body = after(table, "<tbody>");
    body.split("<tr")
        .skip(1)
        .map(|tr| {
            tr.split("<td")
                .skip(1)
                .map(|td| {
                    let inner = &td[td.find('>').unwrap() + 1..td.find("</td>").unwrap_or(td.len())];
                    // The cell's own text, before any nested note.
                    let own = inner.split("<div").next().unwrap_or("");
                    own.replace("&lt;", "<")
                        .replace("&gt;", ">")
                        .replace("&#x2f;", "/")
                        .replace("&#x27;", "'")
                        .replace("&quot;", "\"")
                        .replace("&amp;", "&")
                })
                .collect()
        })
        .collect()
}

fn row_of<'a>(rows: &'a [Vec<String>], first: usize, name: &str, format: &str) -> &'a [String] {
    rows.iter()
        .find(|r| r.get(first).map(|c| c.trim()) == Some(name))
        .unwrap_or_else(|| panic!("{format}: no row for `{name}` in {rows:?}"))
}

#[test]
fn every_format_shows_the_same_figures_with_the_same_sign() {
    let demo = DemoChild::start();
    let dir = TempDir::new("agree");
    let gate = dir.write("agree.yaml", GATE);
    let gate = gate.to_str().unwrap();
    let path = |n: &str| dir.join(n).to_string_lossy().into_owned();
    let limit = Duration::from_secs(60);
    let base = perfgate(
        &[
            "run",
            gate,
            "--host",
            &demo.url,
            "--seed",
            "1",
            "--quiet",
            "--out",
            &path("base.json"),
        ],
        Some(&dir.0),
        limit,
    );
    // A busy machine may make a run untrusted (3): its reports are written all the same, and they are
    // what this test compares.
    assert!([0, 1, 3].contains(&base.code()), "{}", base.both());
    let head = perfgate(
        &[
            "run",
            gate,
            "--host",
            &demo.url,
            "--seed",
            "2",
            "--quiet",
            "--baseline",
            &path("base.json"),
            "--out",
            &path("head.json"),
            "--junit",
            &path("j.xml"),
            "--summary",
            &path("s.md"),
            "--html",
            &path("r.html"),
        ],
        Some(&dir.0),
        limit,
    );
    assert!([0, 1, 3].contains(&head.code()), "{}", head.both());

    // The results JSON: the numbers every other format rounds.
    let json_text = std::fs::read_to_string(dir.join("head.json")).unwrap();
    let results = Results::from_json("head.json", &json_text).unwrap();
    let q = results.requests.iter().find(|q| q.name == NAME).expect("the name ran");
    let all = q.phases.all();
    let count = all.requests as f64;
    let p95 = all.quantile_ms(0.95);
    let verdict = results.verdict.as_ref().expect("the results carry their verdict");
    let check = verdict["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == format!("{NAME}: p95 < 2s"))
        .expect("the check");
    let measured = check["measured"].as_f64().expect("measured");
    let cmp = &verdict["regression"]["comparisons"][0];
    assert_eq!(cmp["subject"], NAME);
    let (cb, ch) = (cmp["base"].as_f64().unwrap(), cmp["head"].as_f64().unwrap());
    let change = cmp["delta_pct"].as_f64().expect("a change");
    let ci = cmp["worse_ci"]
        .as_array()
        .expect("an interval from time blocks (enough requests)");
    let (lo, hi) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
    // `worse_ci` is signed "+ = worse"; every report signs it as the metric moves (for a latency:
    // the same).
    assert_eq!(cmp["higher_is_worse"], true);
    assert!(lo <= change && change <= hi, "the change lies in its interval");

    // Terminal (the binary's standard output).
    let term = &head.stdout;
    let line = term
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{NAME} ")) && l.split_whitespace().count() >= 14)
        .unwrap_or_else(|| panic!("terminal: no stats row for {NAME}:\n{term}"));
    let cols: Vec<&str> = line[line.find(NAME).unwrap() + NAME.len()..]
        .split_whitespace()
        .collect();
    // # reqs, # fails (`0 (0.0%)`), avg, min, max, p50, p90, p95, ...
    agrees("terminal", "count", cols[0], count);
    agrees("terminal", "p95", cols[8], p95);
    agrees(
        "terminal",
        "measured",
        after(term, &format!("{NAME}: p95 < 2s: measured ")),
        measured,
    );
    let cmp_line = after(term, &format!("{NAME}: p95 +10%..+20% vs base: "));
    let cmp_line = cmp_line.lines().next().unwrap();
    agrees("terminal", "base", cmp_line, cb);
    agrees("terminal", "head", after(cmp_line, "-> "), ch);
    agrees("terminal", "change", after(cmp_line, "("), change);
    agrees("terminal", "change in the reason", after(cmp_line, "change "), change);
    let (l, h) = interval(after(cmp_line, "change "));
    agrees("terminal", "interval low", l, lo);
    agrees("terminal", "interval high", h, hi);

    // Markdown summary.
    let md = std::fs::read_to_string(dir.join("s.md")).unwrap();
    let tables = md_tables(&md);
    let checks = row_of(&tables[0], 1, &format!("{NAME}: p95 < 2s"), "markdown");
    agrees("markdown", "measured", &checks[2], measured);
    let reg = row_of(&tables[1], 1, &format!("{NAME}: p95"), "markdown");
    agrees("markdown", "base", &reg[2], cb);
    agrees("markdown", "head", &reg[3], ch);
    agrees("markdown", "change", &reg[4], change);
    let (l, h) = interval(&reg[5]);
    agrees("markdown", "interval low", l, lo);
    agrees("markdown", "interval high", h, hi);
    let stats = row_of(&tables[2], 0, NAME, "markdown");
    agrees("markdown", "count", &stats[1], count);
    agrees("markdown", "p95", &stats[8], p95);

    // HTML report.
    let html = std::fs::read_to_string(dir.join("r.html")).unwrap();
    let checks = html_rows(&html, "checks");
    let c = row_of(&checks, 1, &format!("{NAME}: p95 < 2s"), "HTML");
    agrees("HTML", "measured", &c[2], measured);
    let reg = html_rows(&html, "regression");
    let r = row_of(&reg, 1, &format!("{NAME}: p95"), "HTML");
    agrees("HTML", "base", &r[2], cb);
    agrees("HTML", "head", &r[3], ch);
    agrees("HTML", "change", &r[4], change);
    let (l, h) = interval(&r[5]);
    agrees("HTML", "interval low", l, lo);
    agrees("HTML", "interval high", h, hi);
    let stats = html_rows(&html, "stats");
    let s = row_of(&stats, 0, NAME, "HTML");
    agrees("HTML", "count", &s[1], count);
    agrees("HTML", "p95", &s[8], p95);

    // JUnit (quick-junit's reader).
    let xml = std::fs::read_to_string(dir.join("j.xml")).unwrap();
    let report = Report::deserialize_from_str(&xml).unwrap_or_else(|e| panic!("JUnit: {e}\n{xml}"));
    let cases = &report.test_suites[0].test_cases;
    let text_of = |name: &str| -> String {
        let case = cases
            .iter()
            .find(|c| c.name.as_str() == name)
            .unwrap_or_else(|| panic!("JUnit: no testcase `{name}`:\n{xml}"));
        let mut t = case.system_out.as_ref().map(|s| s.to_string()).unwrap_or_default();
        if let quick_junit::TestCaseStatus::NonSuccess { description, .. } = &case.status {
            t.push_str(description.as_deref().unwrap_or(""));
        }
        t
    };
    let check_text = text_of(&format!("{NAME}: p95 < 2s"));
    agrees("JUnit", "measured", after(&check_text, "measured "), measured);
    let stats_line = after(&check_text, &format!("\n{NAME}: "));
    agrees("JUnit", "count", stats_line, count);
    agrees("JUnit", "p95", after(stats_line, "p95 "), p95);
    let cmp_text = text_of(&format!("{NAME}: p95 +10%..+20% vs base"));
    agrees("JUnit", "base", after(&cmp_text, "\nbase "), cb);
    agrees("JUnit", "head", after(&cmp_text, "head "), ch);
    agrees("JUnit", "change", after(&cmp_text, ", change "), change);
    let (l, h) = interval(after(&cmp_text, ", interval "));
    agrees("JUnit", "interval low", l, lo);
    agrees("JUnit", "interval high", h, hi);
}
