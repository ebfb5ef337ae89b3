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
            (ms(123.4), ms(12.34), ms(1.234)),
            ("123".into(), "12.3".into(), "1.23".into())
        );
    }
}
