//! System statistics: sampled over about 100 ms (CPU from `/proc/stat` deltas when available) and cached
//! for 2 s, so the endpoint's latency distribution is bimodal like the reference's.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;

use super::{lock, Demo};

/// How long a sample stays fresh.
pub(crate) const CACHE_FOR: Duration = Duration::from_secs(2);
/// How long a sample takes.
pub(crate) const SAMPLE_FOR: Duration = Duration::from_millis(100);

/// One system sample.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    pub cpu_percent: f64,
    pub memory_percent: f64,
    pub disk_free_gb: f64,
}

/// The last sample and when it was taken.
#[derive(Default)]
pub(crate) struct StatsCache {
    last: Mutex<Option<(Instant, Sample)>>,
}

impl Demo {
    /// The cached sample if it is fresh (`true` = cache hit), otherwise a new one that costs about
    /// 100 ms (scaled by the stats route's slowdown factor).
    pub(crate) async fn system_sample(&self, sample_for: Duration) -> (Sample, bool) {
        if let Some((at, s)) = *lock(&self.stats.last) {
            if fresh(at, Instant::now()) {
                return (s, true);
            }
        }
        let before = cpu_times().await;
        tokio::time::sleep(sample_for).await;
        let after = cpu_times().await;
        let cpu_percent = match (before, after) {
            (Some((busy0, total0)), Some((busy1, total1))) if total1 > total0 => {
                (busy1.saturating_sub(busy0) as f64 / (total1 - total0) as f64 * 100.0).clamp(0.0, 100.0)
            }
            _ => lock(&self.rng).random_range(5.0..35.0),
        };
        let memory_percent = match memory_used().await {
            Some(p) => p,
            None => lock(&self.rng).random_range(40.0..60.0),
        };
        let disk_free_gb = 187.0 + lock(&self.rng).random_range(-0.5..0.5);
        let s = Sample {
            cpu_percent: round1(cpu_percent),
            memory_percent: round1(memory_percent),
            disk_free_gb: round1(disk_free_gb),
        };
        *lock(&self.stats.last) = Some((Instant::now(), s));
        (s, false)
    }
}

/// Whether a sample taken at `taken` may still be served at `now`.
fn fresh(taken: Instant, now: Instant) -> bool {
    now.saturating_duration_since(taken) < CACHE_FOR
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// (busy, total) jiffies from the first line of `/proc/stat`.
async fn cpu_times() -> Option<(u64, u64)> {
    let text = tokio::fs::read_to_string("/proc/stat").await.ok()?;
    let line = text.lines().next()?;
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let values: Vec<u64> = fields.map_while(|f| f.parse().ok()).collect();
    if values.len() < 4 {
        return None;
    }
    let total: u64 = values.iter().take(8).sum();
    // idle + iowait
    let idle = values[3].saturating_add(values.get(4).copied().unwrap_or(0));
    Some((total.saturating_sub(idle), total))
}

/// Used memory in percent from `/proc/meminfo`.
async fn memory_used() -> Option<f64> {
    let text = tokio::fs::read_to_string("/proc/meminfo").await.ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let total = field("MemTotal:")?;
    let available = field("MemAvailable:")?;
    (total > 0.0).then(|| ((total - available) / total * 100.0).clamp(0.0, 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_is_served_for_two_seconds_then_retaken() {
        let taken = Instant::now();
        assert!(fresh(taken, taken));
        assert!(fresh(taken, taken + Duration::from_millis(1_999)));
        assert!(!fresh(taken, taken + CACHE_FOR));
        assert!(!fresh(taken, taken + Duration::from_secs(60)));
    }
}
