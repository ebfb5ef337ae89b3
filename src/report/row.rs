//! The stats table's rows: each request name and the aggregated total, computed once for every format.

use crate::metrics::results::{RequestStats, Results, Stats};

/// The name of the total row.
pub const AGGREGATED: &str = "Aggregated";

/// The numbers of one stats row: counts, latencies in milliseconds and throughput.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsRow<'a> {
    /// Request name, or `Aggregated`.
    pub name: &'a str,
    /// Requests sent.
    pub requests: u64,
    /// Requests that failed.
    pub failures: u64,
    /// Failures as a percentage of requests.
    pub error_rate_pct: f64,
    /// Mean latency.
    pub avg_ms: f64,
    /// Smallest latency.
    pub min_ms: f64,
    /// Largest latency.
    pub max_ms: f64,
    /// Median latency.
    pub p50_ms: f64,
    /// 90th percentile latency.
    pub p90_ms: f64,
    /// 95th percentile latency.
    pub p95_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
    /// 99.9th percentile latency.
    pub p999_ms: f64,
    /// Requests per second over the run.
    pub rps: f64,
}

impl<'a> StatsRow<'a> {
    /// The row of `name` with stats `s` over a run of `secs` seconds.
    pub fn of(name: &'a str, s: &Stats, secs: f64) -> StatsRow<'a> {
        StatsRow {
            name,
            requests: s.requests,
            failures: s.failures,
            error_rate_pct: s.error_rate_pct(),
            avg_ms: s.mean_ms(),
            min_ms: s.min_us as f64 / 1000.0,
            max_ms: s.max_us as f64 / 1000.0,
            p50_ms: s.quantile_ms(0.5),
            p90_ms: s.quantile_ms(0.9),
            p95_ms: s.quantile_ms(0.95),
            p99_ms: s.quantile_ms(0.99),
            p999_ms: s.quantile_ms(0.999),
            rps: per_second(s.requests, secs),
        }
    }

    /// The latency columns in table order, each with its short label (`avg`, `min`, `max`, `p50` …).
    pub fn latencies_ms(&self) -> [(&'static str, f64); 8] {
        [
            ("avg", self.avg_ms),
            ("min", self.min_ms),
            ("max", self.max_ms),
            ("p50", self.p50_ms),
            ("p90", self.p90_ms),
            ("p95", self.p95_ms),
            ("p99", self.p99_ms),
            ("p99.9", self.p999_ms),
        ]
    }
}

/// The wire and timing numbers of one row, next to its total time: bytes each way, new connections
/// and the time they took, and the time to first byte (k6's `data_sent`, `data_received`,
/// `http_req_connecting`, `http_req_waiting`).
#[derive(Debug, Clone, PartialEq)]
pub struct NetRow<'a> {
    /// Request name, or `Aggregated`.
    pub name: &'a str,
    /// Request bytes written.
    pub bytes_sent: u64,
    /// Response bytes read (heads and bodies).
    pub bytes_received: u64,
    /// New connections opened.
    pub connects: u64,
    /// Their mean time to open, ms (None without any).
    pub connect_avg_ms: Option<f64>,
    /// The longest, ms.
    pub connect_max_ms: Option<f64>,
    /// Median time to first byte, ms (None in files without it).
    pub ttfb_p50_ms: Option<f64>,
    /// 95th percentile time to first byte, ms.
    pub ttfb_p95_ms: Option<f64>,
    /// 95th percentile total time (the stats table's p95), ms.
    pub total_p95_ms: f64,
}

impl<'a> NetRow<'a> {
    /// The row of `name` with stats `s`.
    pub fn of(name: &'a str, s: &Stats) -> NetRow<'a> {
        let c = &s.connects;
        NetRow {
            name,
            bytes_sent: s.bytes_sent,
            bytes_received: s.bytes_received,
            connects: c.count,
            connect_avg_ms: (c.count > 0).then(|| c.mean_ms()),
            connect_max_ms: (c.count > 0).then(|| c.max_us as f64 / 1000.0),
            ttfb_p50_ms: s.ttfb_ms(0.5),
            ttfb_p95_ms: s.ttfb_ms(0.95),
            total_p95_ms: s.quantile_ms(0.95),
        }
    }

    /// Whether the row has anything to show (files written before perfgate measured these have not).
    pub fn is_empty(&self) -> bool {
        self.bytes_sent == 0 && self.bytes_received == 0 && self.connects == 0 && self.ttfb_p50_ms.is_none()
    }
}

/// The network rows of a run, in stats table order; empty when the results predate them.
pub fn net_rows<'a>(rows: &[Row<'a>]) -> Vec<NetRow<'a>> {
    let out: Vec<NetRow> = rows.iter().map(|r| NetRow::of(r.values.name, &r.stats)).collect();
    if out.iter().all(NetRow::is_empty) {
        return Vec::new();
    }
    out
}

/// A byte count in SI units as k6 prints it: `512 B`, `12 kB`, `3.4 MB`, `1.2 GB`.
pub fn bytes_text(n: u64) -> String {
    let x = n as f64;
    let (v, unit) = if x >= 1e9 {
        (x / 1e9, "GB")
    } else if x >= 1e6 {
        (x / 1e6, "MB")
    } else if x >= 1e3 {
        (x / 1e3, "kB")
    } else {
        return format!("{n} B");
    };
    if v >= 100.0 {
        format!("{v:.0} {unit}")
    } else {
        format!("{v:.1} {unit}")
    }
}

/// Milliseconds as [`ms`], or `–` when there is no value.
pub fn ms_or_dash(v: Option<f64>) -> String {
    v.map(ms).unwrap_or_else(|| "–".into())
}

/// One entry of the stats table: the request it describes, its stats over every phase, and its row.
pub struct Row<'a> {
    /// The request name's results; None for the aggregated total.
    pub request: Option<&'a RequestStats>,
    /// Its stats over every phase (ramp-up included).
    pub stats: Stats,
    /// Its numbers.
    pub values: StatsRow<'a>,
}

/// The stats table of a run: one row per request name, then the `Aggregated` total.
pub fn rows(r: &Results) -> Vec<Row<'_>> {
    let secs = r.load.duration_s;
    let mut entries: Vec<(Option<&RequestStats>, Stats)> =
        r.requests.iter().map(|q| (Some(q), q.phases.all())).collect();
    entries.push((None, r.total(true)));
    entries
        .into_iter()
        .map(|(request, stats)| {
            let name = request.map_or(AGGREGATED, |q| q.name.as_str());
            let values = StatsRow::of(name, &stats, secs);
            Row { request, stats, values }
        })
        .collect()
}

/// `n` per second over `secs` seconds; 0 for a run that lasted no time.
pub fn per_second(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

/// Milliseconds with a precision that suits their size.
pub fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_row_is_all_zeros_and_a_run_of_no_time_has_no_rate() {
        let v = StatsRow::of("GET /", &Stats::default(), 0.0);
        assert_eq!((v.requests, v.failures, v.rps, v.error_rate_pct), (0, 0, 0.0, 0.0));
        assert!(v.latencies_ms().iter().all(|(_, x)| *x == 0.0));
        assert_eq!(per_second(30, 2.0), 15.0);
        assert_eq!(
            [
                bytes_text(512),
                bytes_text(12_345),
                bytes_text(3_456_789),
                bytes_text(123_456_789_000)
            ],
            ["512 B", "12.3 kB", "3.5 MB", "123 GB"]
        );
        assert!(NetRow::of("GET /", &Stats::default()).is_empty());
        assert_eq!(
            (ms(123.4), ms(12.34), ms(1.234)),
            ("123".into(), "12.3".into(), "1.23".into())
        );
    }
}
