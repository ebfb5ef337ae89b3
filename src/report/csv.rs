//! Locust-compatible CSV: `PREFIX_stats.csv`, `_stats_history.csv`, `_failures.csv`, `_exceptions.csv`.

use super::row::{per_second, rows, StatsRow};
use super::{Format, Input};
use crate::metrics::results::{Stats, LOCUST_PERCENTILES};
use crate::metrics::FailureKind;
use std::fmt::Write;

/// Locust writes its headers with Python's csv module (minimal quoting): no quotes.
const PCT_HEADER: &str = "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%";

/// Quotes a CSV field when it needs it (RFC 4180).
pub fn field(s: &str) -> String {
    // A text that a spreadsheet would read as a formula (`=cmd|...`) gets a leading `'` (OWASP).
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Locust rounds response times for its CSV: whole milliseconds, 2 significant digits above 100.
fn locust_ms(ms: f64) -> String {
    let v = if ms < 100.0 {
        ms.round()
    } else {
        let mag = 10f64.powi(ms.log10().floor() as i32 - 1);
        (ms / mag).round() * mag
    };
    format!("{v:.0}")
}

fn stats_row(out: &mut String, kind: &str, name: &str, v: &StatsRow, s: &Stats, secs: f64) {
    let _ = write!(
        out,
        "{},{},{},{},{},{},{},{},{},{},{}",
        field(kind),
        field(name),
        v.requests,
        v.failures,
        locust_ms(v.p50_ms),
        v.avg_ms,
        v.min_ms,
        v.max_ms,
        if v.requests > 0 {
            s.bytes as f64 / v.requests as f64
        } else {
            0.0
        },
        v.rps,
        per_second(v.failures, secs),
    );
    for q in LOCUST_PERCENTILES {
        let pct = if v.requests == 0 {
            "N/A".into()
        } else {
            locust_ms(s.quantile_ms(q))
        };
        let _ = write!(out, ",{pct}");
    }
    out.push('\n');
}

/// `PREFIX_stats.csv`: one row per request name and an `Aggregated` row.
pub struct StatsCsv;

impl Format for StatsCsv {
    fn name(&self) -> &'static str {
        "Locust stats CSV"
    }

    fn render(&self, input: &Input) -> Result<Vec<u8>, String> {
        let r = input.results;
        let mut out = format!(
            "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,{PCT_HEADER}\n"
        );
        for row in rows(r) {
            let (kind, name) = match row.request {
                Some(q) => (q.method.as_str(), name_without_method(&q.name, q.method.as_str())),
                None => ("", row.values.name),
            };
            stats_row(&mut out, kind, name, &row.values, &row.stats, r.load.duration_s);
        }
        Ok(out.into_bytes())
    }
}

/// Locust's `Name` column holds the path; the method is in `Type`.
fn name_without_method<'a>(name: &'a str, method: &str) -> &'a str {
    name.strip_prefix(method)
        .and_then(|n| n.strip_prefix(' '))
        .unwrap_or(name)
}

/// `PREFIX_stats_history.csv`: one `Aggregated` row per interval, with running totals.
pub struct HistoryCsv;

impl Format for HistoryCsv {
    fn name(&self) -> &'static str {
        "Locust stats history CSV"
    }

    fn render(&self, input: &Input) -> Result<Vec<u8>, String> {
        let r = input.results;
        let start = humantime::parse_rfc3339(&r.started_at)
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let mut out = format!(
            "Timestamp,User Count,Type,Name,Requests/s,Failures/s,{PCT_HEADER},Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,Total Min Response Time,Total Max Response Time,Total Average Content Size\n"
        );
        for p in &r.series {
            let per_s = |n: u64| per_second(n, p.dt);
            let _ = write!(
                out,
                "{},{},,Aggregated,{:.6},{:.6}",
                (start + p.t).floor() as u64,
                p.users,
                per_s(p.requests),
                per_s(p.failures)
            );
            for (i, _) in LOCUST_PERCENTILES.iter().enumerate() {
                match p.total_pct_ms.get(i) {
                    Some(v) if p.requests > 0 => {
                        let _ = write!(out, ",{}", locust_ms(*v));
                    }
                    _ => out.push_str(",N/A"),
                }
            }
            let c = &p.cumulative;
            let _ = writeln!(
                out,
                ",{},{},{},{},{},{},{}",
                c.requests,
                c.failures,
                locust_ms(c.p50_ms),
                c.avg_ms,
                c.min_ms,
                c.max_ms,
                if c.requests > 0 {
                    c.bytes as f64 / c.requests as f64
                } else {
                    0.0
                }
            );
        }
        Ok(out.into_bytes())
    }
}

/// `PREFIX_failures.csv`: occurrences per request name and error.
pub struct FailuresCsv;

impl Format for FailuresCsv {
    fn name(&self) -> &'static str {
        "Locust failures CSV"
    }

    fn render(&self, input: &Input) -> Result<Vec<u8>, String> {
        let mut out = String::from("Method,Name,Error,Occurrences\n");
        for q in &input.results.requests {
            let s = q.phases.all();
            let name = field(name_without_method(&q.name, q.method.as_str()));
            for (code, n) in &s.failed_statuses {
                let _ = writeln!(
                    out,
                    "{},{name},{},{n}",
                    q.method,
                    field(&format!("unexpected status {code}"))
                );
            }
            for (kind, n) in &s.failures_by_kind {
                if *kind == FailureKind::Status {
                    continue;
                }
                let mut explained = 0u64;
                for r in s.failure_reasons.iter().filter(|r| r.kind == *kind) {
                    let _ = writeln!(out, "{},{name},{},{}", q.method, field(&r.reason), r.count);
                    explained = explained.saturating_add(r.count);
                }
                let n = n.saturating_sub(explained);
                if n == 0 {
                    continue;
                }
                let what = match kind {
                    FailureKind::Connect => "connection failed",
                    FailureKind::Timeout => "timed out",
                    FailureKind::Read => "connection broken while reading the answer",
                    FailureKind::Extract => "a value to extract was missing from the answer",
                    FailureKind::Check => "the answer's JSON did not match the expectation",
                    FailureKind::Redirect => "a redirect that was not followed",
                    FailureKind::Status => "",
                };
                let _ = writeln!(out, "{},{name},{},{n}", q.method, field(what));
            }
        }
        Ok(out.into_bytes())
    }
}

/// `PREFIX_exceptions.csv`: Locust's file of user-code exceptions; perfgate runs no user code, so it has only its header.
pub struct ExceptionsCsv;

impl Format for ExceptionsCsv {
    fn name(&self) -> &'static str {
        "Locust exceptions CSV"
    }

    fn render(&self, _input: &Input) -> Result<Vec<u8>, String> {
        Ok(b"Count,Message,Traceback,Nodes\n".to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_like_locust_and_quotes() {
        assert_eq!(locust_ms(12.4), "12");
        assert_eq!(locust_ms(1234.0), "1200");
        assert_eq!(locust_ms(156.0), "160");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(name_without_method("GET /api/x", "GET"), "/api/x");
        assert_eq!(field("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(field("@SUM(1)"), "'@SUM(1)");
    }
}
