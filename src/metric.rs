//! The metric registry: every metric a target or a budget may name, with its key and aliases, unit,
//! direction, where it may be written, description, and how it is measured.
//!
//! A leaf module: the gate file's validator, its JSON Schema and the verdict all read it, so a
//! metric is described once.

use crate::metrics::results::{ServerSample, Stats};
use std::fmt;

/// What a limit or a budget measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// Mean latency.
    Avg,
    /// Smallest latency.
    Min,
    /// Largest latency.
    Max,
    /// Latency at this percentile (0..100).
    Percentile(f64),
    /// Failed share of requests, percent.
    ErrorRate,
    /// Requests per second.
    Rps,
    /// Number of requests.
    Requests,
    /// Share of the requests sent that were still unanswered when the grace period ended, percent
    /// (a run-level metric: `select: total` only).
    Abandoned,
    /// Slope of a latency percentile over the steady phase, percent of its mean per minute.
    Trend(f64),
    /// Time to first byte at this percentile (50, 95 or 99): from the request's send to the first
    /// byte of its answer (a target only: the per-second series does not keep it).
    Ttfb(f64),
    /// A resource of the service's process tree.
    Server(ServerMetric),
}

/// Resources of the service under test that targets and budgets can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerMetric {
    /// Largest resident memory, MB.
    RssMax,
    /// Mean resident memory, MB.
    RssMean,
    /// Slope of resident memory over the steady phase, MB per minute.
    RssTrend,
    /// Mean CPU, percent of one core.
    CpuMean,
    /// Largest CPU in a second, percent of one core.
    CpuMax,
    /// Most open file descriptors.
    FdsMax,
    /// Most threads.
    ThreadsMax,
}

/// Which way a metric gets worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worse {
    /// Higher is worse (latency, errors, memory).
    Up,
    /// Lower is worse (throughput).
    Down,
}

/// Where in the gate file a metric is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// An absolute limit under `targets:`.
    Target,
    /// A regression budget under `regression.budgets:`.
    Budget,
}

/// A metric key with a name of its own, and what it means.
#[derive(Debug, Clone, Copy)]
pub struct Named {
    /// The key as written, e.g. `p95`.
    pub key: &'static str,
    /// The metric it names.
    pub metric: Metric,
    /// One line for the JSON Schema and help texts.
    pub description: &'static str,
}

const fn named(key: &'static str, metric: Metric, description: &'static str) -> Named {
    Named {
        key,
        metric,
        description,
    }
}

/// Every named key, in the order help texts list them.
const NAMED: [Named; 25] = [
    named("avg", Metric::Avg, "Mean latency"),
    named("min", Metric::Min, "Smallest latency"),
    named("max", Metric::Max, "Largest latency"),
    named("p50", Metric::Percentile(50.0), "Median latency"),
    named("p90", Metric::Percentile(90.0), "90th percentile latency"),
    named("p95", Metric::Percentile(95.0), "95th percentile latency"),
    named("p99", Metric::Percentile(99.0), "99th percentile latency"),
    named("p99.9", Metric::Percentile(99.9), "99.9th percentile latency"),
    named("error_rate", Metric::ErrorRate, "Failed share of requests"),
    named(
        "rps",
        Metric::Rps,
        "Requests per second (a limit without comparison means `>=`)",
    ),
    named("requests", Metric::Requests, "Number of requests"),
    named(
        "abandoned",
        Metric::Abandoned,
        "Share of the requests sent that were still unanswered when the grace period ended (`select: total`)",
    ),
    named(
        "p50_trend",
        Metric::Trend(50.0),
        "Slope of the per-second median latency over the judged phase, percent of its mean per minute",
    ),
    named(
        "p95_trend",
        Metric::Trend(95.0),
        "Slope of the per-second p95 latency over the judged phase, percent of its mean per minute",
    ),
    named(
        "p99_trend",
        Metric::Trend(99.0),
        "Slope of the per-second p99 latency over the judged phase, percent of its mean per minute",
    ),
    named(
        "ttfb_p50",
        Metric::Ttfb(50.0),
        "Median time to first byte: from the request's send to the first byte of its answer",
    ),
    named(
        "ttfb_p95",
        Metric::Ttfb(95.0),
        "95th percentile time to first byte: from the request's send to the first byte of its answer",
    ),
    named(
        "ttfb_p99",
        Metric::Ttfb(99.0),
        "99th percentile time to first byte: from the request's send to the first byte of its answer",
    ),
    named(
        "rss_max",
        Metric::Server(ServerMetric::RssMax),
        "Largest resident memory of the service's process tree (`select: server`)",
    ),
    named(
        "rss_mean",
        Metric::Server(ServerMetric::RssMean),
        "Mean resident memory of the service's process tree (`select: server`)",
    ),
    named(
        "rss_trend",
        Metric::Server(ServerMetric::RssTrend),
        "Slope of the service's resident memory over the judged phase, per minute (`select: server`)",
    ),
    named(
        "cpu_mean",
        Metric::Server(ServerMetric::CpuMean),
        "Mean CPU of the service's process tree, percent of one core (`select: server`)",
    ),
    named(
        "cpu_max",
        Metric::Server(ServerMetric::CpuMax),
        "Largest CPU of the service's process tree in a second, percent of one core (`select: server`)",
    ),
    named(
        "fds_max",
        Metric::Server(ServerMetric::FdsMax),
        "Most open file descriptors of the service's process tree (`select: server`)",
    ),
    named(
        "threads_max",
        Metric::Server(ServerMetric::ThreadsMax),
        "Most threads of the service's process tree (`select: server`)",
    ),
];

/// Other spellings of named keys: `(alias, key)`.
const ALIASES: [(&str, &str); 2] = [("mean", "avg"), ("median", "p50")];

/// Server metrics may also be written with this prefix, e.g. `server.rss_max`.
pub const SERVER_PREFIX: &str = "server.";

/// The percentiles the per-second series stores, so the only ones a `pNN_trend` can judge.
pub const TREND_PERCENTILES: [f64; 3] = [50.0, 95.0, 99.0];

/// JSON Schema pattern of the percentile family: `p` and 0 < NN < 100 with at most three decimals,
/// the last one not 0 (`p75`, `p99.9`, `p0.5`). [`Metric::parse`] reads exactly these.
pub const PERCENTILE_PATTERN: &str = r"^p([1-9][0-9]?(\.[0-9]?[0-9]?[1-9])?|0\.[0-9]?[0-9]?[1-9])$";

/// Description of the percentile family for the JSON Schema.
pub const PERCENTILE_DESCRIPTION: &str = "Latency at any percentile pNN, 0 < NN < 100, e.g. `p75` or `p99.99`";

/// Every named key (aliases aside), in help order.
pub fn named_keys() -> &'static [Named] {
    &NAMED
}

/// Every alias with the named key it stands for, `server.` spellings included.
pub fn aliases() -> Vec<(String, &'static Named)> {
    let mut out: Vec<(String, &'static Named)> = ALIASES
        .iter()
        .filter_map(|(a, k)| NAMED.iter().find(|n| n.key == *k).map(|n| (a.to_string(), n)))
        .collect();
    out.extend(
        NAMED
            .iter()
            .filter(|n| n.metric.is_server())
            .map(|n| (format!("{SERVER_PREFIX}{}", n.key), n)),
    );
    out
}

/// Every key (named keys, then aliases) that may be written at `place`, with its description.
pub fn keys(place: Place) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = NAMED
        .iter()
        .filter(|n| n.metric.allowed_in(place).is_ok())
        .map(|n| (n.key.to_string(), n.description.to_string()))
        .collect();
    out.extend(
        aliases()
            .into_iter()
            .filter(|(_, n)| n.metric.allowed_in(place).is_ok())
            .map(|(a, n)| (a, format!("{} (same as `{}`)", n.description, n.key))),
    );
    out
}

/// Why a key that looks like a metric is refused, when it is: a slope of a percentile the
/// per-second series does not store (`p75_trend`).
pub fn refusal(key: &str) -> Option<String> {
    let p = key.strip_prefix('p')?.strip_suffix("_trend")?;
    percentile(p)?;
    Some(format!(
        "`{key}`: a slope is judged on the per-second series, which stores only the median, p95 and p99: write {}",
        trend_keys()
    ))
}

/// `p50_trend`, `p95_trend` or `p99_trend`, for messages.
fn trend_keys() -> String {
    let keys: Vec<String> = TREND_PERCENTILES.iter().map(|p| format!("`p{p}_trend`")).collect();
    match keys.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => keys.join(""),
    }
}

/// Reads the number of a percentile key (`99.9` of `p99.9`), as [`PERCENTILE_PATTERN`] describes it.
fn percentile(text: &str) -> Option<f64> {
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let int_ok = int == "0" || (digits(int) && int.len() <= 2 && !int.starts_with('0'));
    let frac_ok = match frac {
        None => int != "0",
        Some(f) => digits(f) && f.len() <= 3 && !f.ends_with('0'),
    };
    if !(int_ok && frac_ok) {
        return None;
    }
    text.parse().ok()
}

impl ServerMetric {
    /// Reads `rss_max`, `cpu_mean`, ... (with or without a `server.` prefix).
    pub fn parse(key: &str) -> Option<ServerMetric> {
        let key = key.strip_prefix(SERVER_PREFIX).unwrap_or(key);
        NAMED.iter().find_map(|n| match n.metric {
            Metric::Server(m) if n.key == key => Some(m),
            _ => None,
        })
    }

    /// The key as written.
    pub fn key(self) -> &'static str {
        NAMED
            .iter()
            .find(|n| n.metric == Metric::Server(self))
            .map(|n| n.key)
            .unwrap_or("")
    }

    /// The value over these service samples (None for the slope, or without samples).
    pub fn point(self, samples: &[ServerSample]) -> Option<f64> {
        if samples.is_empty() {
            return None;
        }
        let n = samples.len() as f64;
        let max = |f: fn(&ServerSample) -> f64| samples.iter().map(f).fold(f64::MIN, f64::max);
        let mean = |f: fn(&ServerSample) -> f64| samples.iter().map(f).sum::<f64>() / n;
        Some(match self {
            ServerMetric::RssMax => max(|s| s.rss_mb),
            ServerMetric::RssMean => mean(|s| s.rss_mb),
            ServerMetric::CpuMax => max(|s| s.cpu_pct),
            ServerMetric::CpuMean => mean(|s| s.cpu_pct),
            ServerMetric::FdsMax => max(|s| s.fds as f64),
            ServerMetric::ThreadsMax => max(|s| s.threads as f64),
            ServerMetric::RssTrend => return None,
        })
    }
}

impl Metric {
    /// Reads any key a target or budget may use: named keys, aliases and `pNN` (None otherwise).
    pub fn parse(key: &str) -> Option<Metric> {
        if key.starts_with(SERVER_PREFIX) {
            return ServerMetric::parse(key).map(Metric::Server);
        }
        let key = ALIASES.iter().find(|(a, _)| *a == key).map_or(key, |(_, k)| *k);
        if let Some(n) = NAMED.iter().find(|n| n.key == key) {
            return Some(n.metric);
        }
        percentile(key.strip_prefix('p')?).map(Metric::Percentile)
    }

    /// Whether this metric may be written at `place`, or why not.
    pub fn allowed_in(self, place: Place) -> Result<(), String> {
        match (place, self) {
            (Place::Target, _) => Ok(()),
            (Place::Budget, Metric::Trend(_) | Metric::Server(ServerMetric::RssTrend)) => Err(format!(
                "`{self}` has no regression budget: a slope is judged by a target (`targets:`), which applies to every run"
            )),
            (Place::Budget, Metric::Ttfb(_)) => Err(format!(
                "`{self}` has no regression budget: the per-second series that comparisons are built from does not keep it; judge it with a target, e.g. `{self}: < 100ms`"
            )),
            (Place::Budget, Metric::Abandoned) => Err(format!(
                "`{self}` has no regression budget: judge it with a target, e.g. `abandoned: < 1%`"
            )),
            (Place::Budget, Metric::Min | Metric::Max | Metric::Requests) => Err(format!(
                "`{self}` has no regression budget: min and max are single samples and the request count follows the load; budget `avg`, a percentile, `error_rate` or `rps`"
            )),
            (Place::Budget, _) => Ok(()),
        }
    }

    /// Whether this metric is a latency (milliseconds).
    pub fn is_latency(self) -> bool {
        matches!(
            self,
            Metric::Avg | Metric::Min | Metric::Max | Metric::Percentile(_) | Metric::Ttfb(_)
        )
    }

    /// Whether this metric describes the service's process tree (needs `select: server`).
    pub fn is_server(self) -> bool {
        matches!(self, Metric::Server(_))
    }

    /// Which way the metric gets worse.
    pub fn worse(self) -> Worse {
        match self {
            Metric::Rps => Worse::Down,
            _ => Worse::Up,
        }
    }

    /// Unit for display, with its leading space where one is written.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::ErrorRate | Metric::Abandoned => "%",
            Metric::Rps => " req/s",
            Metric::Requests => "",
            Metric::Trend(_) => " %/min",
            Metric::Server(ServerMetric::RssMax | ServerMetric::RssMean) => " MB",
            Metric::Server(ServerMetric::RssTrend) => " MB/min",
            Metric::Server(ServerMetric::CpuMean | ServerMetric::CpuMax) => "%",
            Metric::Server(_) => "",
            Metric::Avg | Metric::Min | Metric::Max | Metric::Percentile(_) | Metric::Ttfb(_) => " ms",
        }
    }

    /// A typical value at `place`, e.g. `< 100ms` for a latency target or `+10%` for its budget.
    pub fn example(self, place: Place) -> &'static str {
        match (place, self) {
            (Place::Budget, Metric::ErrorRate) => "+0.5pp",
            (Place::Budget, Metric::Rps) => "-10%",
            (Place::Budget, Metric::Avg | Metric::Percentile(_)) => "+10%..+20%",
            (Place::Budget, _) => "+10%",
            (Place::Target, Metric::ErrorRate | Metric::Abandoned) => "< 1%",
            (Place::Target, Metric::Rps) => "> 100",
            (Place::Target, Metric::Requests) => ">= 1000",
            (Place::Target, Metric::Trend(_)) => "< 5%/min",
            (Place::Target, Metric::Server(ServerMetric::RssMax | ServerMetric::RssMean)) => "< 500MB",
            (Place::Target, Metric::Server(ServerMetric::RssTrend)) => "< 10MB/min",
            (Place::Target, Metric::Server(ServerMetric::CpuMean | ServerMetric::CpuMax)) => "< 80%",
            (Place::Target, Metric::Server(_)) => "< 1000",
            (Place::Target, _) => "< 100ms",
        }
    }

    /// The value over merged stats; latencies in ms (slopes, server metrics and `abandoned` come
    /// from the series, the service samples and the load instead, and read 0 here).
    pub fn measure(self, s: &Stats, window_s: f64) -> f64 {
        match self {
            Metric::Trend(_) | Metric::Server(_) | Metric::Abandoned => 0.0,
            Metric::Avg => s.mean_ms(),
            Metric::Min => s.min_us as f64 / 1000.0,
            Metric::Max => s.max_us as f64 / 1000.0,
            Metric::Percentile(p) => s.quantile_ms(p / 100.0),
            Metric::Ttfb(p) => s.ttfb_ms(p / 100.0).unwrap_or(0.0),
            Metric::ErrorRate => s.error_rate_pct(),
            Metric::Rps => s.requests as f64 / window_s,
            Metric::Requests => s.requests as f64,
        }
    }
}

/// Of the percentiles the per-second series stores (`[p50, p95, p99]`), the one a `Trend(p)` judges.
pub fn trend_value(p: f64, stored: [f64; 3]) -> f64 {
    if p <= TREND_PERCENTILES[0] {
        stored[0]
    } else if p <= TREND_PERCENTILES[1] {
        stored[1]
    } else {
        stored[2]
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metric::Percentile(p) => write!(f, "p{p}"),
            Metric::Trend(p) => write!(f, "p{p}_trend"),
            Metric::Server(m) => f.write_str(m.key()),
            m => f.write_str(NAMED.iter().find(|n| n.metric == *m).map_or("", |n| n.key)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_key_reads_back_and_shows_as_itself() {
        for n in named_keys() {
            assert_eq!(Metric::parse(n.key), Some(n.metric), "{}", n.key);
            assert_eq!(n.metric.to_string(), n.key);
        }
        for (alias, n) in aliases() {
            assert_eq!(Metric::parse(&alias), Some(n.metric), "{alias}");
        }
    }

    #[test]
    fn percentiles_are_a_family() {
        assert_eq!(Metric::parse("p99.9"), Some(Metric::Percentile(99.9)));
        assert_eq!(Metric::parse("p75"), Some(Metric::Percentile(75.0)));
        assert_eq!(Metric::parse("p0.5"), Some(Metric::Percentile(0.5)));
        assert_eq!(Metric::parse("p99.999"), Some(Metric::Percentile(99.999)));
        for bad in [
            "p100", "p0", "p0.0", "p", "p05", "p99.", "p.5", "p99.90", "p99.9999", "p1e1", "p+5", "pinf",
        ] {
            assert_eq!(Metric::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_stored_trends_are_read() {
        assert_eq!(Metric::parse("p95_trend"), Some(Metric::Trend(95.0)));
        assert_eq!(Metric::parse("ttfb_p95"), Some(Metric::Ttfb(95.0)));
        assert_eq!(Metric::Ttfb(95.0).to_string(), "ttfb_p95");
        assert!(Metric::Ttfb(95.0).allowed_in(Place::Target).is_ok());
        let why = Metric::Ttfb(99.0).allowed_in(Place::Budget).unwrap_err();
        assert!(why.contains("`ttfb_p99` has no regression budget"), "{why}");
        assert_eq!(Metric::parse("p75_trend"), None);
        assert_eq!(Metric::parse("p99.9_trend"), None);
        let why = refusal("p75_trend").unwrap();
        assert!(why.contains("`p50_trend`, `p95_trend` or `p99_trend`"), "{why}");
        assert_eq!(refusal("avg_trend"), None);
        assert_eq!(refusal("p95"), None);
    }

    #[test]
    fn budgets_take_only_comparable_metrics() {
        let budget: Vec<String> = keys(Place::Budget).into_iter().map(|(k, _)| k).collect();
        for k in ["avg", "mean", "p95", "error_rate", "rps", "rss_max", "server.cpu_mean"] {
            assert!(budget.contains(&k.to_string()), "{k}");
        }
        for k in ["min", "max", "requests", "abandoned", "p95_trend", "rss_trend"] {
            assert!(!budget.contains(&k.to_string()), "{k}");
        }
        assert_eq!(keys(Place::Target).len(), NAMED.len() + aliases().len());
    }

    #[test]
    fn server_points() {
        let s = |rss_mb: f64, cpu_pct: f64| ServerSample {
            t: 1.0,
            cpu_pct,
            rss_mb,
            fds: 3,
            threads: 2,
            processes: 1,
        };
        let samples = [s(100.0, 10.0), s(200.0, 30.0)];
        assert_eq!(ServerMetric::RssMax.point(&samples), Some(200.0));
        assert_eq!(ServerMetric::CpuMean.point(&samples), Some(20.0));
        assert_eq!(ServerMetric::RssTrend.point(&samples), None);
        assert_eq!(ServerMetric::FdsMax.point(&[]), None);
    }
}
