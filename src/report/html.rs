//! One self-contained HTML file: verdict, checks, stats and inline SVG charts; no network, no JavaScript.

use super::chart::{self, Line, PALETTE};
use super::{Format, Input};
use crate::metrics::results::{Results, Stats};
use crate::report::row::{ms, per_second, rows, StatsRow};
use crate::verdict::compare::{Mode, Regression};
use crate::verdict::{fmt_value, Outcome};
use minijinja::{context, Environment, Value};

/// The HTML report format.
pub struct Html;

const TEMPLATE: &str = include_str!("html.jinja");

impl Format for Html {
    fn name(&self) -> &'static str {
        "HTML report"
    }

    fn render(&self, input: &Input) -> Result<Vec<u8>, String> {
        render(input).map(String::into_bytes)
    }

    fn render_failed(&self, f: &super::Failed) -> Option<Result<Vec<u8>, String>> {
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
        };
        Some(Ok(format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>perfgate {g}: no results</title></head>\n<body style=\"font-family: system-ui, sans-serif; margin: 2rem\"><h1>❌ perfgate <code>{g}</code>: no results</h1>\n<p>The run of <code>{file}</code> produced no results:</p>\n<pre>{reason}</pre></body></html>\n",
            g = esc(f.gate),
            file = esc(f.gate_file),
            reason = esc(f.reason)
        )
        .into_bytes()))
    }
}

/// A chart for the template: title, anchor and the SVG markup.
fn chart_value(id: &str, title: &str, svg: String) -> Value {
    Value::from_serialize(context! { id => id, title => title, svg => Value::from_safe_string(svg) })
}

/// The report as text.
pub fn render(input: &Input) -> Result<String, String> {
    let r = input.results;
    let v = input.verdict;
    let checks: Vec<Value> = super::checks_failing_first(v)
        .iter()
        .map(|c| {
            let failing = c.outcome == Outcome::Fail || (c.outcome == Outcome::NoData && v.no_data_fails);
            context! {
                name => c.name,
                outcome => c.outcome.label(),
                class => if failing { "fail" } else if matches!(c.outcome, Outcome::NoData | Outcome::Marginal) { "warn" } else { "pass" },
                measured => super::value_or_dash(c.measured, &c.unit),
                limit => format!("{} {}{}", c.op, fmt_value(c.threshold), c.unit),
                samples => c.samples,
                note => c.note.clone().unwrap_or_default(),
                line => c.pos.line,
            }
        })
        .collect();
    let all = rows(r);
    let net: Vec<Value> = crate::report::row::net_rows(&all)
        .iter()
        .map(|n| {
            use crate::report::row::{bytes_text, ms_or_dash};
            context! {
                name => n.name,
                sent => bytes_text(n.bytes_sent),
                received => bytes_text(n.bytes_received),
                connects => n.connects,
                connect_avg => ms_or_dash(n.connect_avg_ms),
                connect_max => ms_or_dash(n.connect_max_ms),
                ttfb_p50 => ms_or_dash(n.ttfb_p50_ms),
                ttfb_p95 => ms_or_dash(n.ttfb_p95_ms),
                total_p95 => ms(n.total_p95_ms),
            }
        })
        .collect();
    let rows: Vec<Value> = all.iter().map(|row| stats_row(&row.values)).collect();

    let mut charts = vec![
        chart_value("throughput", "Throughput", throughput(r)?),
        chart_value("latency", "Latency of all requests", latency_total(r)?),
        chart_value("users", "Active users", users(r)?),
    ];
    let mut per_name = Vec::new();
    for (i, q) in r.requests.iter().enumerate() {
        let s = q.phases.all();
        if s.requests == 0 {
            continue;
        }
        let over_time = chart::lines(
            chart::HALF_WIDTH,
            &format!("{}: latency over time", q.name),
            "seconds",
            "ms",
            &[
                name_line(r, &q.name, "p50", PALETTE[0], |p| p.p50_ms),
                name_line(r, &q.name, "p95", PALETTE[3], |p| p.p95_ms),
                name_line(r, &q.name, "p99", PALETTE[1], |p| p.p99_ms),
            ],
        )?;
        let dist = chart::bars(
            chart::HALF_WIDTH,
            &format!("{}: latency distribution", q.name),
            &bins(&s, 40),
        )?;
        per_name.push(context! {
            name => q.name,
            anchor => format!("req-{i}"),
            charts => vec![
                chart_value(&format!("req-{i}-time"), "latency over time", over_time),
                chart_value(&format!("req-{i}-dist"), "latency distribution", dist),
            ],
        });
    }
    charts.shrink_to_fit();
    let failures = super::terminal::failure_lines(r);
    let meta: Vec<(String, String)> = vec![
        ("Target".into(), r.target.clone()),
        (
            "Gate".into(),
            format!(
                "{} (sha256 {})",
                input.gate_file,
                r.gate.sha256.chars().take(12).collect::<String>()
            ),
        ),
        ("Users".into(), super::load_words(r)),
        (
            "Spawn rate".into(),
            r.load
                .spawn_rate
                .map(|s| format!("{}/s", crate::gate::rate_text(s)))
                .unwrap_or_else(|| "all at once".into()),
        ),
        (
            "Run time".into(),
            format!("{:.1} s of {:.0} s planned", r.load.duration_s, r.load.run_time_s),
        ),
        ("Ramp-up".into(), format!("{:.1} s", r.load.ramp_up_s)),
        ("Seed".into(), r.load.seed.to_string()),
        ("Commit".into(), r.commit.clone().unwrap_or_else(|| "unknown".into())),
        ("Started".into(), r.started_at.clone()),
        (
            "Machine".into(),
            format!(
                "{} {} × {} {}",
                r.environment.os,
                r.environment.arch,
                r.environment.cpus,
                r.environment.cpu_model.clone().unwrap_or_default()
            ),
        ),
        ("perfgate".into(), r.tool.version.clone()),
        (
            "Percentiles".into(),
            "HdrHistogram, 3 significant digits, microseconds".into(),
        ),
    ];
    let compared = match (input.base, &v.regression) {
        (Some(b), Some(reg)) => compared_charts(r, b, reg)?,
        _ => Vec::new(),
    };
    let regression = v.regression.as_ref().map(|reg| {
        use crate::verdict::compare::Change;
        let rows: Vec<Value> = reg
            .comparisons
            .iter()
            .map(|c| {
                let class = match c.change {
                    Change::Regression => "fail",
                    Change::Inconclusive | Change::Marginal if reg.fail_on_inconclusive => "fail",
                    Change::Inconclusive | Change::Marginal | Change::Warn => "warn",
                    _ => "pass",
                };
                context! {
                    class => class,
                    change => c.change.label(),
                    name => format!("{}: {}", c.subject, c.metric),
                    base => super::value_or_dash(c.base, &c.unit),
                    head => super::value_or_dash(c.head, &c.unit),
                    delta => super::delta_text(c),
                    interval => super::interval_text(c),
                    budget => c.budget,
                    reason => c.reason,
                }
            })
            .collect();
        context! {
            charts => compared.clone(),
            mode => match reg.mode { Mode::Duet => "duet: base and head loaded together", Mode::Sequential => "sequential: base ran earlier" },
            confidence => format!("{:.0}%", reg.confidence * 100.0),
            rows => rows,
            notes => reg.notes,
        }
    });
    let status = if r.interrupted {
        "warn"
    } else if v.passed() {
        "pass"
    } else {
        "fail"
    };
    let mut env = Environment::new();
    env.add_template("report.html", TEMPLATE).map_err(|e| e.to_string())?;
    let tmpl = env.get_template("report.html").map_err(|e| e.to_string())?;
    tmpl.render(context! {
        gate => r.gate.name,
        headline => v.headline(),
        status => status,
        interrupted => r.interrupted,
        abandoned => super::terminal::abandoned_line(r),
        checks => checks,
        regression => regression,
        rows => rows,
        net => net,
        charts => charts,
        per_name => per_name,
        failures => failures,
        meta => meta,
    })
    .map_err(|e| e.to_string())
}

fn stats_row(v: &StatsRow) -> Value {
    context! {
        name => v.name,
        requests => v.requests,
        failures => v.failures,
        avg => ms(v.avg_ms),
        min => ms(v.min_ms),
        max => ms(v.max_ms),
        p50 => ms(v.p50_ms),
        p90 => ms(v.p90_ms),
        p95 => ms(v.p95_ms),
        p99 => ms(v.p99_ms),
        p999 => ms(v.p999_ms),
        rps => format!("{:.2}", v.rps),
    }
}

fn throughput(r: &Results) -> Result<String, String> {
    chart::lines(
        chart::WIDTH,
        "Requests and failures per second",
        "seconds",
        "per second",
        &[
            Line {
                label: "requests/s",
                color: PALETTE[0],
                points: r.series.iter().map(|p| (p.t, per_second(p.requests, p.dt))).collect(),
            },
            Line {
                label: "failures/s",
                color: PALETTE[1],
                points: r.series.iter().map(|p| (p.t, per_second(p.failures, p.dt))).collect(),
            },
        ],
    )
}

fn latency_total(r: &Results) -> Result<String, String> {
    let pick = |f: fn(&crate::metrics::results::SeriesPoint) -> f64| -> Vec<(f64, f64)> {
        r.series
            .iter()
            .filter(|p| p.requests > 0)
            .map(|p| (p.t, f(p)))
            .collect()
    };
    chart::lines(
        chart::WIDTH,
        "Latency percentiles, all requests",
        "seconds",
        "ms",
        &[
            Line {
                label: "p50",
                color: PALETTE[0],
                points: pick(|p| p.p50_ms),
            },
            Line {
                label: "p95",
                color: PALETTE[3],
                points: pick(|p| p.p95_ms),
            },
            Line {
                label: "p99",
                color: PALETTE[1],
                points: pick(|p| p.p99_ms),
            },
        ],
    )
}

fn users(r: &Results) -> Result<String, String> {
    chart::lines(
        chart::WIDTH,
        "Active users",
        "seconds",
        "users",
        &[Line {
            label: "users",
            color: PALETTE[2],
            points: r.series.iter().map(|p| (p.t, f64::from(p.users))).collect(),
        }],
    )
}

fn name_line<'a>(
    r: &Results,
    name: &str,
    label: &'a str,
    color: plotters::style::RGBColor,
    f: fn(&crate::metrics::results::NamePoint) -> f64,
) -> Line<'a> {
    Line {
        label,
        color,
        points: r
            .series
            .iter()
            .filter_map(|p| p.names.iter().find(|n| n.name == name).map(|n| (p.t, f(n))))
            .collect(),
    }
}

/// Counts in `n` equal bins from the smallest latency to the 99.9th percentile (the last bin holds the rest).
fn bins(s: &Stats, n: usize) -> Vec<(f64, f64, u64)> {
    let lo = s.min_us as f64 / 1000.0;
    let hi = (s.quantile_ms(0.999)).max(lo + 0.001);
    let width = (hi - lo) / n as f64;
    let mut out: Vec<(f64, f64, u64)> = (0..n)
        .map(|i| (lo + width * i as f64, lo + width * (i + 1) as f64, 0))
        .collect();
    for (v, count) in s.histogram.recorded() {
        let ms = v as f64 / 1000.0;
        let idx = (((ms - lo) / width) as usize).min(n - 1);
        out[idx].2 = out[idx].2.saturating_add(count);
    }
    out
}

/// The subjects of a regression's comparisons that both runs can draw: request names present in
/// both, and `total`; each once, in the comparisons' order.
fn compared_subjects<'a>(head: &Results, base: &Results, reg: &'a Regression) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for c in &reg.comparisons {
        let s = c.subject.as_str();
        let named = |r: &Results| r.requests.iter().any(|q| q.name == s);
        if !out.contains(&s) && (s == "total" || (named(head) && named(base))) {
            out.push(s);
        }
    }
    out
}

/// A subject's steady-state stats (what the comparisons judge): a request name or `total`.
fn subject_stats(r: &Results, subject: &str) -> Stats {
    if subject == "total" {
        return r.total(false);
    }
    r.requests
        .iter()
        .find(|q| q.name == subject)
        .map(|q| q.phases.steady.clone())
        .unwrap_or_default()
}

/// A percentile curve of `s`: latency (ms) at points spaced evenly in nines up to what the sample
/// supports (the 99.99th percentile at most).
fn percentile_curve(s: &Stats) -> Vec<(f64, f64)> {
    if s.requests == 0 {
        return Vec::new();
    }
    let top = (s.requests as f64).log10().clamp(2.0, chart::PERCENTILE_NINES);
    let steps = 80;
    (0..=steps)
        .map(|i| {
            let x = top * i as f64 / steps as f64;
            let q = 1.0 - 10f64.powf(-x);
            (x, s.quantile_ms(q))
        })
        .collect()
}

/// Per compared subject, base against head: both latency distributions as percentile curves and, in
/// duet mode (both loaded in the same seconds), both sides' p95 per second.
fn compared_charts(head: &Results, base: &Results, reg: &Regression) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for (i, subject) in compared_subjects(head, base, reg).into_iter().enumerate() {
        let (b, h) = (subject_stats(base, subject), subject_stats(head, subject));
        if b.requests == 0 && h.requests == 0 {
            continue;
        }
        let mut charts = vec![chart_value(
            &format!("cmp-{i}-pct"),
            "latency by percentile, base vs head",
            chart::percentiles(
                chart::HALF_WIDTH,
                &format!("{subject}: latency by percentile"),
                &[
                    Line {
                        label: "base",
                        color: PALETTE[0],
                        points: percentile_curve(&b),
                    },
                    Line {
                        label: "head",
                        color: PALETTE[3],
                        points: percentile_curve(&h),
                    },
                ],
            )?,
        )];
        if reg.mode == Mode::Duet {
            let p95 = |r: &Results| -> Vec<(f64, f64)> {
                if subject == "total" {
                    r.series
                        .iter()
                        .filter(|p| p.requests > 0)
                        .map(|p| (p.t, p.p95_ms))
                        .collect()
                } else {
                    name_line(r, subject, "", PALETTE[0], |p| p.p95_ms).points
                }
            };
            charts.push(chart_value(
                &format!("cmp-{i}-time"),
                "p95 per second, base vs head",
                chart::lines(
                    chart::HALF_WIDTH,
                    &format!("{subject}: p95 per second"),
                    "seconds",
                    "ms",
                    &[
                        Line {
                            label: "base p95",
                            color: PALETTE[0],
                            points: p95(base),
                        },
                        Line {
                            label: "head p95",
                            color: PALETTE[3],
                            points: p95(head),
                        },
                    ],
                )?,
            ));
        }
        out.push(Value::from_serialize(context! {
            name => subject,
            anchor => format!("cmp-{i}"),
            charts => charts,
        }));
    }
    Ok(out)
}
