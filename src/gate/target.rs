//! Targets as the gate file writes them: a selector over request names and limits on metrics.

use crate::http::Method;
use std::fmt;

/// Which request names a target judges.
#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    /// Every request.
    Total,
    /// The service under test's process tree (`--serve`), for `server.*` metrics.
    Server,
    /// Every request of one method, e.g. `GET`.
    Method(Method),
    /// One request name, e.g. `GET /api/runs/{run_id}`.
    Name(String),
    /// Request names matching a glob (`*` any text, `?` one character), e.g. `GET /api/runs*`.
    Glob(String),
}

impl Selector {
    /// Reads `total`, a method, a glob or a name.
    pub fn parse(text: &str) -> Selector {
        let t = text.trim();
        if t.eq_ignore_ascii_case("total") || t == "*" {
            Selector::Total
        } else if t.eq_ignore_ascii_case("server") {
            Selector::Server
        } else if let Some(m) = Method::parse(t) {
            Selector::Method(m)
        } else if t.contains(['*', '?']) {
            Selector::Glob(t.to_string())
        } else {
            Selector::Name(t.to_string())
        }
    }

    /// Whether a request with this name and method is selected.
    pub fn matches(&self, name: &str, method: Method) -> bool {
        match self {
            Selector::Total => true,
            Selector::Server => false,
            Selector::Method(m) => *m == method,
            Selector::Name(n) => n == name,
            Selector::Glob(g) => glob(g.as_bytes(), name.as_bytes()),
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Total => f.write_str("total"),
            Selector::Server => f.write_str("server"),
            Selector::Method(m) => f.write_str(m.as_str()),
            Selector::Name(s) | Selector::Glob(s) => f.write_str(s),
        }
    }
}

pub(crate) fn glob(p: &[u8], s: &[u8]) -> bool {
    // Iterative wildcard match with backtracking to the last `*`.
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

pub use crate::metric::{Metric, ServerMetric};

impl Metric {
    /// The comparison used when a limit gives none: latency and errors are upper bounds, throughput a lower one.
    pub fn default_op(self) -> Op {
        match self {
            Metric::Rps | Metric::Requests => Op::Ge,
            _ => Op::Lt,
        }
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    /// Whether `measured op limit` holds.
    pub fn holds(self, measured: f64, limit: f64) -> bool {
        match self {
            Op::Lt => measured < limit,
            Op::Le => measured <= limit,
            Op::Gt => measured > limit,
            Op::Ge => measured >= limit,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        })
    }
}

/// One limit: `avg < 100ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    /// What is measured.
    pub metric: Metric,
    /// How it is compared.
    pub op: Op,
    /// The limit in the metric's unit (ms, %, req/s, count).
    pub value: f64,
    /// A soft limit before the hard one (`< 100ms..300ms`): past it the check is marginal, not failed.
    pub warn: Option<f64>,
    /// The limit as written, e.g. `100ms` or `100ms..300ms`.
    pub text: String,
}

impl Limit {
    /// Parses a limit such as `< 100ms`, `1s`, `< 1%`, `>= 100`, or a graded `< 100ms..300ms` (marginal
    /// past 100 ms, failed past 300 ms), for this metric.
    pub fn parse(metric: Metric, text: &str) -> Result<Limit, String> {
        let Some((soft, hard)) = text.split_once("..") else {
            return Limit::parse_one(metric, text);
        };
        let soft = Limit::parse_one(metric, soft)?;
        // The hard limit takes the soft one's comparison when it writes none.
        let hard_text = hard.trim();
        let hard = if hard_text.starts_with(['<', '>']) {
            Limit::parse_one(metric, hard_text)?
        } else {
            Limit::parse_one(metric, &format!("{} {hard_text}", soft.op))?
        };
        let stricter = match soft.op {
            Op::Lt | Op::Le => soft.value < hard.value,
            Op::Gt | Op::Ge => soft.value > hard.value,
        };
        if soft.op != hard.op || !stricter {
            return Err(format!(
                "`{metric}: {}`: write `soft..hard` with one comparison and the soft limit first, e.g. `< 100ms..300ms` (marginal past 100 ms, failed past 300 ms)",
                text.trim()
            ));
        }
        Ok(Limit {
            warn: Some(soft.value),
            text: format!("{}..{}", soft.text, hard.text),
            ..hard
        })
    }

    /// Parses one limit such as `< 100ms`.
    fn parse_one(metric: Metric, text: &str) -> Result<Limit, String> {
        let t = text.trim();
        let (op, rest) = if let Some(r) = t.strip_prefix("<=") {
            (Op::Le, r)
        } else if let Some(r) = t.strip_prefix(">=") {
            (Op::Ge, r)
        } else if let Some(r) = t.strip_prefix('<') {
            (Op::Lt, r)
        } else if let Some(r) = t.strip_prefix('>') {
            (Op::Gt, r)
        } else {
            (metric.default_op(), t)
        };
        let rest = rest.trim();
        let value = match metric {
            m if m.is_latency() => crate::gate::duration::parse_duration(rest)
                .ok()
                .filter(|_| rest.ends_with(|c: char| c.is_ascii_alphabetic()))
                .map(|d| d.as_secs_f64() * 1000.0)
                .ok_or_else(|| {
                    format!(
                        "`{metric}`: expected a latency with its unit such as `< 100ms` or `< 1.5s`, found `{text}`"
                    )
                })?,
            Metric::ErrorRate | Metric::Abandoned => {
                let Some(n) = rest.strip_suffix('%') else {
                    // `< 0.01` once meant 0.01 %; a reader may take it for a fraction (1 %): say which.
                    return Err(match rest.parse::<f64>() {
                        Ok(v) if (0.0..=100.0).contains(&v) => {
                            let op = match t[..t.len() - rest.len()].trim() {
                                "" => String::new(),
                                op => format!("{op} "),
                            };
                            let as_fraction = if v <= 1.0 {
                                format!(
                                    ", or `{op}{}%` if you meant the fraction {v} of requests",
                                    fmt_pct(v * 100.0)
                                )
                            } else {
                                String::new()
                            };
                            format!(
                                "`{metric}: {}` has no `%`: write `{op}{v}%` if you meant {v} %{as_fraction}",
                                text.trim()
                            )
                        }
                        _ => format!("`{metric}`: expected a percentage such as `< 1%`, found `{text}`"),
                    });
                };
                n.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| (0.0..=100.0).contains(v))
                    .ok_or_else(|| {
                        format!("`{metric}`: expected a percentage from 0 to 100 such as `< 1%`, found `{text}`")
                    })?
            }
            Metric::Rps => {
                let n = rest.trim_end_matches("/s").trim_end_matches("rps").trim();
                n.parse::<f64>()
                    .ok()
                    .filter(|v| *v >= 0.0)
                    .ok_or_else(|| format!("`rps`: expected requests per second such as `>= 100`, found `{text}`"))?
            }
            Metric::Trend(_) => {
                let n = rest
                    .strip_suffix("/min")
                    .map(str::trim)
                    .and_then(|n| n.strip_suffix('%'))
                    .map(str::trim);
                n.and_then(|n| n.parse::<f64>().ok())
                    .ok_or_else(|| format!("`{metric}`: expected a slope such as `< 5%/min`, found `{text}`"))?
            }
            Metric::Server(ServerMetric::RssMax | ServerMetric::RssMean) => megabytes(rest)
                .ok_or_else(|| format!("`{metric}`: expected a size such as `< 500MB` or `< 1GB`, found `{text}`"))?,
            Metric::Server(ServerMetric::RssTrend) => rest
                .strip_suffix("/min")
                .and_then(|n| megabytes(n.trim()))
                .ok_or_else(|| format!("`{metric}`: expected a growth such as `< 10MB/min`, found `{text}`"))?,
            Metric::Server(ServerMetric::CpuMean | ServerMetric::CpuMax) => rest
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<f64>().ok())
                .ok_or_else(|| format!("`{metric}`: expected a share of one core such as `< 80%`, found `{text}`"))?,
            Metric::Server(_) => rest
                .parse::<u64>()
                .map(|v| v as f64)
                .map_err(|_| format!("`{metric}`: expected a count such as `< 1000`, found `{text}`"))?,
            _ => rest
                .parse::<u64>()
                .map(|v| v as f64)
                .map_err(|_| format!("`requests`: expected a count such as `>= 1000`, found `{text}`"))?,
        };
        if !value.is_finite() {
            return Err(format!("`{metric}`: the limit `{text}` is not a finite number"));
        }
        Ok(Limit {
            metric,
            op,
            value,
            warn: None,
            text: rest.to_string(),
        })
    }
}

/// `500MB`, `1.5GB`, `512MiB` in MB (MiB and MB are both 2^20 bytes here, as `ps` and `top` show them).
/// A percentage without float noise: `1`, `0.5`, `12.5`.
fn fmt_pct(v: f64) -> String {
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn megabytes(text: &str) -> Option<f64> {
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic())?;
    let v: f64 = t[..split].trim().parse().ok()?;
    let scale = match t[split..].trim() {
        "KB" | "KiB" | "kB" => 1.0 / 1024.0,
        "MB" | "MiB" => 1.0,
        "GB" | "GiB" => 1024.0,
        _ => return None,
    };
    Some(v * scale)
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.metric, self.op, self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        assert_eq!(Selector::parse("total"), Selector::Total);
        assert_eq!(Selector::parse("get"), Selector::Method(Method::Get));
        let g = Selector::parse("GET /api/runs*");
        assert!(g.matches("GET /api/runs?limit=20", Method::Get));
        assert!(g.matches("GET /api/runs/{run_id}", Method::Get));
        assert!(!g.matches("GET /api/modules", Method::Get));
        assert!(Selector::parse("POST /a/?").matches("POST /a/b", Method::Post));
        assert!(Selector::parse("*/config").matches("POST /api/modules/{id}/config", Method::Post));
        assert!(Selector::parse("GET /x").matches("GET /x", Method::Get));
    }

    #[test]
    fn graded_limits() {
        let l = Limit::parse(Metric::Avg, "< 100ms..300ms").unwrap();
        assert_eq!((l.op, l.warn, l.value), (Op::Lt, Some(100.0), 300.0));
        assert_eq!(l.to_string(), "avg < 100ms..300ms");
        let l = Limit::parse(Metric::Rps, "> 200..> 100").unwrap();
        assert_eq!((l.op, l.warn, l.value), (Op::Gt, Some(200.0), 100.0));
        assert_eq!(Limit::parse(Metric::ErrorRate, "< 0.5%..2%").unwrap().warn, Some(0.5));
        // The soft limit comes first, with the same comparison.
        assert!(Limit::parse(Metric::Avg, "< 300ms..100ms")
            .unwrap_err()
            .contains("soft limit first"));
        assert!(Limit::parse(Metric::Avg, "< 100ms..> 300ms").is_err());
        assert_eq!(Limit::parse(Metric::Avg, "< 1.5s").unwrap().warn, None);
    }

    #[test]
    fn limits() {
        let l = Limit::parse(Metric::Avg, "< 100ms").unwrap();
        assert_eq!((l.op, l.value), (Op::Lt, 100.0));
        assert_eq!(Limit::parse(Metric::Percentile(99.0), "0.5s").unwrap().value, 500.0);
        assert_eq!(Limit::parse(Metric::ErrorRate, "< 1%").unwrap().value, 1.0);
        let l = Limit::parse(Metric::Rps, "> 100").unwrap();
        assert_eq!((l.op, l.value), (Op::Gt, 100.0));
        assert_eq!(Limit::parse(Metric::Rps, "100").unwrap().op, Op::Ge);
        assert!(Limit::parse(Metric::Avg, "< 100").is_err());
        assert!(Limit::parse(Metric::ErrorRate, "200%").is_err());
        let e = Limit::parse(Metric::ErrorRate, "< 0.01").unwrap_err();
        assert_eq!(
            e,
            "`error_rate: < 0.01` has no `%`: write `< 0.01%` if you meant 0.01 %, or `< 1%` if you meant the fraction 0.01 of requests"
        );
        let e = Limit::parse(Metric::ErrorRate, "5").unwrap_err();
        assert_eq!(e, "`error_rate: 5` has no `%`: write `5%` if you meant 5 %");
        assert_eq!(Metric::parse("p99.9"), Some(Metric::Percentile(99.9)));
        assert_eq!(Metric::parse("p100"), None);
        assert_eq!(Limit::parse(Metric::Avg, "< 100ms").unwrap().to_string(), "avg < 100ms");
        assert_eq!(Metric::parse("p95_trend"), Some(Metric::Trend(95.0)));
        assert_eq!(Limit::parse(Metric::Trend(95.0), "< 5%/min").unwrap().value, 5.0);
        let rss = Metric::Server(ServerMetric::RssMax);
        assert_eq!(Limit::parse(rss, "< 1GB").unwrap().value, 1024.0);
        assert!(Limit::parse(rss, "< 100").is_err());
        let trend = Metric::Server(ServerMetric::RssTrend);
        assert_eq!(Limit::parse(trend, "< 10MB/min").unwrap().value, 10.0);
        assert_eq!(ServerMetric::parse("server.cpu_mean"), Some(ServerMetric::CpuMean));
        assert_eq!(Selector::parse("server"), Selector::Server);
    }
}
