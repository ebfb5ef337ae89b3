//! HTML and CSV reports of real demo runs: the HTML rendered by headless Chromium, the CSV read by a CSV parser.

use perfgate::app::PRISMQ_GATE;
use perfgate::demo::{DemoOptions, DemoServer};
use perfgate::gate::Gate;
use perfgate::load::{self, Overrides, Plan};
use perfgate::metrics::results::{GateInfo, Results};
use perfgate::report::{self, Paths, Reports};
use perfgate::verdict;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The crate's target directory (screenshots for people go under it).
fn common_target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target")
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("perfgate-reports-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs the example gate against the demo for a few seconds and writes the requested reports.
async fn demo_run(opts: DemoOptions, paths: &Paths) -> Results {
    demo_runs(opts, None, paths).await.0
}

/// [`demo_run`], in duet mode when `base` gives the base demo's knobs: head and base loaded in the
/// same seconds, head judged against base and every report drawn with both; returns (head, base).
async fn demo_runs(opts: DemoOptions, base: Option<DemoOptions>, paths: &Paths) -> (Results, Option<Results>) {
    let server = DemoServer::start(opts).await.unwrap();
    let base_server = match base {
        Some(b) => Some(DemoServer::start(b).await.unwrap()),
        None => None,
    };
    let gate = Gate::parse("gates/prismq.yaml", PRISMQ_GATE).unwrap();
    let plan = Plan::new(
        &gate,
        &Overrides {
            host: Some(server.url()),
            users: Some(30),
            spawn_rate: Some(30.0),
            run_time: Some(Duration::from_secs(5)),
            seed: Some(7),
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
    let measured = match &base_server {
        Some(b) => {
            let url = perfgate::http::BaseUrl::parse(&b.url()).unwrap();
            load::engine::run_duet(plan.clone(), url, |_| {}, std::future::pending())
                .await
                .unwrap()
        }
        None => load::run(plan.clone(), |_| {}, std::future::pending()).await.unwrap(),
    };
    let provenance = perfgate::metrics::assemble::Provenance::new(info, None, perfgate::app::current_environment());
    let mut both = perfgate::metrics::assemble::assemble(&plan.planned(), measured, &provenance).into_iter();
    let results = both.next().unwrap();
    let base_results = both.next();
    server.stop().await;
    if let Some(b) = base_server {
        b.stop().await;
    }
    let v = match &base_results {
        Some(b) => verdict::judge_with_baseline(&gate, &results, b, perfgate::verdict::compare::Mode::Duet),
        None => verdict::judge(&gate, &results),
    };
    let reports = Reports::new(paths);
    reports.check().unwrap();
    let written = reports.write(&report::Input {
        results: &results,
        verdict: &v,
        base: base_results.as_ref(),
        gate_file: &gate.file,
    });
    assert!(written.failed.is_empty(), "{:?}", written.failed);
    (results, base_results)
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut rdr = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = rdr.headers().unwrap().iter().map(str::to_string).collect();
    let rows = rdr
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    (headers, rows)
}

const PCTS: [&str; 11] = [
    "50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_files_have_locust_headers_and_agree_with_the_results() {
    let dir = temp_dir("csv");
    let prefix = dir.join("run");
    let opts = DemoOptions {
        error_rate: 0.2,
        no_base_latency: true,
        seed: Some(3),
        ..DemoOptions::default()
    };
    let results = demo_run(
        opts,
        &Paths {
            csv: Some(prefix.clone()),
            ..Paths::default()
        },
    )
    .await;

    let (h, rows) = read_csv(&dir.join("run_stats.csv"));
    let mut want: Vec<&str> = vec![
        "Type",
        "Name",
        "Request Count",
        "Failure Count",
        "Median Response Time",
        "Average Response Time",
        "Min Response Time",
        "Max Response Time",
        "Average Content Size",
        "Requests/s",
        "Failures/s",
    ];
    want.extend(PCTS);
    assert_eq!(h, want);
    assert_eq!(
        rows.len(),
        results.requests.len() + 1,
        "one row per request name and Aggregated"
    );
    for (row, q) in rows.iter().zip(&results.requests) {
        let s = q.phases.all();
        assert_eq!(row[0], q.method.as_str());
        assert_eq!(format!("{} {}", row[0], row[1]), q.name);
        assert_eq!(row[2].parse::<u64>().unwrap(), s.requests, "{}", q.name);
        assert_eq!(row[3].parse::<u64>().unwrap(), s.failures, "{}", q.name);
    }
    let total = results.total(true);
    let agg = rows.last().unwrap();
    assert_eq!(agg[1], "Aggregated");
    assert_eq!(agg[2].parse::<u64>().unwrap(), total.requests);
    assert_eq!(agg[3].parse::<u64>().unwrap(), total.failures);
    assert!(total.failures > 0, "the demo's error rate must show up");
    let avg: f64 = agg[5].parse().unwrap();
    assert!((avg - total.mean_ms()).abs() < 1e-6);

    let (h, rows) = read_csv(&dir.join("run_stats_history.csv"));
    assert_eq!(
        &h[..6],
        &["Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s"]
    );
    assert_eq!(&h[6..17], &PCTS);
    assert_eq!(h[17], "Total Request Count");
    assert_eq!(h.len(), 24);
    assert_eq!(rows.len(), results.series.len());
    let last = rows.last().unwrap();
    assert_eq!(last[3], "Aggregated");
    assert_eq!(
        last[17].parse::<u64>().unwrap(),
        total.requests,
        "running total ends at the total"
    );
    assert_eq!(last[18].parse::<u64>().unwrap(), total.failures);
    let stamps: Vec<u64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "timestamps ascend");

    let (h, rows) = read_csv(&dir.join("run_failures.csv"));
    assert_eq!(h, ["Method", "Name", "Error", "Occurrences"]);
    let occurrences: u64 = rows.iter().map(|r| r[3].parse::<u64>().unwrap()).sum();
    assert_eq!(occurrences, total.failures, "every failure is in failures.csv once");
    assert!(rows.iter().any(|r| r[2] == "unexpected status 500"));

    let (h, rows) = read_csv(&dir.join("run_exceptions.csv"));
    assert_eq!(h, ["Count", "Message", "Traceback", "Nodes"]);
    assert!(rows.is_empty());
    // The header lines byte for byte as Locust 2.x writes them (its csv module quotes minimally:
    // no quotes), from the columns in locust/stats.py.
    let want: Vec<&str> = include_str!("data/locust-2-csv-headers.txt").lines().collect();
    for (file, line) in ["stats", "stats_history", "failures", "exceptions"].iter().zip(want) {
        let text = std::fs::read_to_string(dir.join(format!("run_{file}.csv"))).unwrap();
        assert_eq!(text.lines().next(), Some(line), "run_{file}.csv header");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Chromium from Debian's package or `PERFGATE_CHROMIUM`; None when absent (the test says so and skips).
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PERFGATE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

fn headless(browser: &Path, profile: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args);
    cmd.output().expect("run chromium")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_report_renders_in_chromium_with_non_empty_charts() {
    // A duet: head 30 % slower than base on one route, both loaded in the same seconds, so the report
    // draws base against head as well.
    let dir = temp_dir("html");
    let html = dir.join("report.html");
    let slower = DemoOptions {
        slow_routes: vec![perfgate::demo::parse_route_factor("GET /api/modules=1.3").unwrap()],
        ..DemoOptions::default()
    };
    let (results, base) = demo_runs(
        slower,
        Some(DemoOptions::default()),
        &Paths {
            html: Some(html.clone()),
            ..Paths::default()
        },
    )
    .await;
    let base = base.expect("a duet has a base side");
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(!text.contains("<script"), "the report runs no script");
    for needle in ["http://", "https://"] {
        let outside: Vec<&str> = text
            .match_indices(needle)
            .map(|(i, _)| &text[i..(i + 40).min(text.len())])
            .filter(|s| !s.starts_with("http://www.w3.org/2000/svg") && !s.starts_with("http://127.0.0.1"))
            .collect();
        assert!(outside.is_empty(), "no external references: {outside:?}");
    }
    for q in results.requests.iter().filter(|q| q.phases.all().requests > 0) {
        assert!(text.contains(&q.name.replace('&', "&amp;")), "{} has a section", q.name);
    }

    let Some(browser) = chromium() else {
        eprintln!("SKIPPED: no Chromium found (install Debian's `chromium` or set PERFGATE_CHROMIUM); the report was checked as text only");
        return;
    };
    // Measure every chart's drawn marks as Chromium lays them out: a copy of the report with a probe
    // script appended (the report itself has none), dumped after the script ran.
    let probe = r#"<script>
      const out = [...document.querySelectorAll('figure.chart')].map(f => {
        const marks = [...f.querySelectorAll('svg polyline, svg rect, svg circle')].filter(e => {
          const b = e.getBoundingClientRect(); return b.width > 0 && b.height > 0; });
        const lines = [...f.querySelectorAll('svg polyline')].filter(e => e.points.numberOfItems >= 2).length
          + f.querySelectorAll('svg circle').length;
        const box = f.getBoundingClientRect();
        return f.dataset.chart + ':' + marks.length + ':' + lines + ':' + Math.round(box.width) + 'x' + Math.round(box.height);
      });
      document.body.setAttribute('data-probe', out.join(' '));
    </script>"#;
    let probed = dir.join("probed.html");
    std::fs::write(&probed, text.replace("</body>", &format!("{probe}</body>"))).unwrap();
    let profile = dir.join("profile");
    let out = headless(
        &browser,
        &profile,
        &[
            "--window-size=1200,900",
            "--dump-dom",
            &format!("file://{}", probed.display()),
        ],
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    let probe_attr = dom
        .split("data-probe=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| {
            panic!(
                "Chromium did not run the probe; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let charts: Vec<(&str, usize, usize)> = probe_attr
        .split_whitespace()
        .map(|c| {
            let parts: Vec<&str> = c.split(':').collect();
            (parts[0], parts[1].parse().unwrap(), parts[2].parse().unwrap())
        })
        .collect();
    let ids: Vec<&str> = charts.iter().map(|c| c.0).collect();
    for want in ["throughput", "latency", "users"] {
        assert!(ids.contains(&want), "chart {want} present: {ids:?}");
    }
    for (id, marks, lines) in &charts {
        assert!(*marks > 1, "chart {id} draws marks with a size: {probe_attr}");
        if !id.ends_with("-dist") {
            // A line of at least two points, or dots: a name whose data falls in one second still shows.
            assert!(*lines >= 1, "chart {id} has a line or dots: {probe_attr}");
        }
    }
    let named = results.requests.iter().filter(|q| q.phases.all().requests > 0).count();
    // Base against head: the prismq gate compares each request name (`select: "*"`, each) and the
    // total; a name both sides served in the steady state gets its percentile curves and, in a duet,
    // its p95 per second.
    let compared = results
        .requests
        .iter()
        .filter(|q| {
            q.phases.steady.requests > 0
                && !q.lifecycle
                && base
                    .requests
                    .iter()
                    .any(|b| b.name == q.name && b.phases.steady.requests > 0)
        })
        .count()
        + 1;
    let pct = ids
        .iter()
        .filter(|i| i.starts_with("cmp-") && i.ends_with("-pct"))
        .count();
    let time = ids
        .iter()
        .filter(|i| i.starts_with("cmp-") && i.ends_with("-time"))
        .count();
    assert!(
        pct >= compared,
        "a percentile chart per compared name ({compared}): {ids:?}"
    );
    assert_eq!(pct, time, "a p95-per-second chart beside each: {ids:?}");
    assert_eq!(
        charts.len(),
        3 + 2 * named + pct + time,
        "two charts per request name: {ids:?}"
    );
    for label in ["base", "head", "99%", "latency by percentile", "p95 per second"] {
        assert!(text.contains(label), "the comparison charts say {label}");
    }

    // Screenshots, for people to look at (kept under target/): a wide and a narrow screen.
    let keep = common_target_dir().join("report-screenshots");
    std::fs::create_dir_all(&keep).unwrap();
    let wide = keep.join("report-1400.png");
    headless(
        &browser,
        &profile,
        &[
            "--window-size=1400,2400",
            &format!("--screenshot={}", wide.display()),
            &format!("file://{}", html.display()),
        ],
    );
    assert!(wide.exists(), "wide screenshot written");
    let shot = keep.join("report-400.png");
    let out = headless(
        &browser,
        &profile,
        &[
            "--window-size=400,9000",
            &format!("--screenshot={}", shot.display()),
            &format!("file://{}", html.display()),
        ],
    );
    assert!(
        shot.exists(),
        "screenshot written; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junit_dialects_carry_the_location_where_their_consumers_read_it() {
    // junit10 (the default) stays inside Jenkins' junit-10.xsd: no `skipped` on <testsuites>, no
    // file/line on testcases (the location is in the text); github adds file and line. Both carry
    // the run's time, start and host (consumers showed 0 s before).
    let dir = temp_dir("junit");
    let (strict, github) = (dir.join("strict.xml"), dir.join("github.xml"));
    demo_run(
        DemoOptions::default(),
        &Paths {
            junit: Some(strict.clone()),
            ..Paths::default()
        },
    )
    .await;
    demo_run(
        DemoOptions::default(),
        &Paths {
            junit: Some(github.clone()),
            junit_flavor: report::junit::Flavor::Github,
            ..Paths::default()
        },
    )
    .await;
    let strict = std::fs::read_to_string(&strict).unwrap();
    let github = std::fs::read_to_string(&github).unwrap();
    let testsuites = |xml: &str| xml.lines().find(|l| l.contains("<testsuites")).unwrap().to_string();
    assert!(!testsuites(&strict).contains("skipped="), "{}", testsuites(&strict));
    assert!(
        testsuites(&github).contains("skipped="),
        "quick-junit's own header is kept in the github dialect"
    );
    assert!(!strict.contains(" file=\"") && !strict.contains(" line=\""), "{strict}");
    assert!(strict.contains("location: gates/prismq.yaml:"), "{strict}");
    assert!(github.contains(" file=\"gates/prismq.yaml\" line=\""), "{github}");
    for xml in [&strict, &github] {
        let suite = xml.lines().find(|l| l.contains("<testsuite ")).unwrap();
        assert!(
            suite.contains(" time=\"") && suite.contains(" timestamp=\"") && suite.contains(" hostname=\""),
            "{suite}"
        );
        assert!(!xml.contains("time=\"0.000\""), "every time is the run's: {xml}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_connects_and_time_to_first_byte_are_counted_and_shown_in_every_format() {
    // k6's data_sent / data_received / http_req_connecting / http_req_waiting, from perfgate's own
    // client: counted per name, kept in the results JSON, shown in the terminal, markdown and HTML.
    let dir = temp_dir("net");
    let (json, md, html) = (dir.join("r.json"), dir.join("s.md"), dir.join("r.html"));
    let results = demo_run(
        DemoOptions::default(),
        &Paths {
            out: Some(json.clone()),
            summary: Some(md.clone()),
            html: Some(html.clone()),
            ..Paths::default()
        },
    )
    .await;
    let read = Results::read(&json).unwrap();
    assert_eq!(read.schema_minor, perfgate::metrics::results::SCHEMA_MINOR);
    for q in read.requests.iter().filter(|q| q.phases.all().requests > 0) {
        let s = q.phases.all();
        let answered: u64 = s.status_codes.values().sum();
        // Every request line is at least `GET / HTTP/1.1\r\n`; every answer carries a status line
        // (`HTTP/1.1 200 OK\r\n`) before its body.
        assert!(s.bytes_sent >= s.requests * 16, "{}: {} sent", q.name, s.bytes_sent);
        assert!(
            s.bytes_received >= s.bytes + answered * 17,
            "{}: {} received for {} body bytes",
            q.name,
            s.bytes_received,
            s.bytes
        );
        assert!(
            s.connects.count <= s.requests,
            "{}: a connection is opened by a request",
            q.name
        );
        assert!(s.connects.count == 0 || s.connects.max_us <= s.connects.sum_us);
        let ttfb = s.ttfb_histogram.as_ref().expect("answered requests have a first byte");
        assert_eq!(ttfb.len(), answered, "{}: one first byte per answer", q.name);
        // The first byte comes before the last, and after the send: at every percentile the time to
        // first byte is at most the total time (2 significant digits against 3: within 1 %).
        for p in [0.5, 0.95, 1.0] {
            let (t, total) = (s.ttfb_ms(p).unwrap(), s.quantile_ms(p));
            assert!(
                t <= total * 1.01 + 0.001,
                "{}: ttfb p{p} {t} ms > total {total} ms",
                q.name
            );
        }
    }
    let total = read.total(true);
    let users = u64::from(read.load.users);
    assert!(
        total.connects.count >= users,
        "each of the {users} users opened its connection: {:?}",
        total.connects
    );
    // The same figures in the terminal line, the markdown table and the HTML table.
    use perfgate::report::row::{bytes_text, ms, ms_or_dash};
    let line = perfgate::report::terminal::network_line(&read).expect("a network line");
    let (sent, received) = (bytes_text(total.bytes_sent), bytes_text(total.bytes_received));
    let p95 = ms_or_dash(total.ttfb_ms(0.95));
    for want in [
        &sent,
        &received,
        &format!("{} new connections", total.connects.count),
        &p95,
    ] {
        assert!(line.contains(want.as_str()), "terminal has {want}: {line}");
    }
    let summary = std::fs::read_to_string(&md).unwrap();
    let agg = format!(
        "| `Aggregated` | {sent} | {received} | {} | {} | {} | {} | {p95} | {} |",
        total.connects.count,
        ms(total.connects.mean_ms()),
        ms(total.connects.max_us as f64 / 1000.0),
        ms_or_dash(total.ttfb_ms(0.5)),
        ms(total.quantile_ms(0.95))
    );
    assert!(summary.contains(&agg), "markdown row {agg} in:\n{summary}");
    let page = std::fs::read_to_string(&html).unwrap();
    let cells = format!(
        "<td class=\"name\">Aggregated</td><td>{sent}</td><td>{received}</td><td>{}</td>",
        total.connects.count
    );
    assert!(page.contains(&cells), "HTML network row {cells}");
    assert_eq!(results.requests.len(), read.requests.len());

    // A target judges it (`ttfb_p95`), from the results file as from the run; results without it
    // (written before perfgate timed it) are no data, never a pass.
    let gate = Gate::parse(
        "ttfb.yaml",
        "version: 1\nload: {users: 1, run_time: 1s}\nscenarios:\n  U:\n    tasks:\n      - request: GET /api/health\ntargets:\n  - select: total\n    ttfb_p95: < 60s\n",
    )
    .unwrap();
    let v = verdict::judge(&gate, &read);
    let c = &v.checks[0];
    assert_eq!(c.outcome, perfgate::verdict::Outcome::Pass, "{c:?}");
    assert_eq!(c.measured, read.total(false).ttfb_ms(0.95));
    assert_eq!(c.unit, " ms");
    let mut old = read.clone();
    for q in &mut old.requests {
        q.phases.steady.ttfb_histogram = None;
        q.phases.ramp_up.ttfb_histogram = None;
    }
    let v = verdict::judge(&gate, &old);
    assert_eq!(
        v.checks[0].outcome,
        perfgate::verdict::Outcome::NoData,
        "{:?}",
        v.checks[0]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
