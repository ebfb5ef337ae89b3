//! Per-request intervals from saved histograms (order statistics for quantiles, normal approximations
//! for means), used for files that keep no per-second histograms, and the normal quantile function.

use crate::metrics::results::Stats;

/// The standard normal quantile (inverse CDF), Acklam's rational approximation (|error| < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let lo = 0.02425;
    if p < lo {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - lo {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}

/// The two-sided critical value for confidence `level` (e.g. 1.96 for 0.95).
pub fn z_for(level: f64) -> f64 {
    normal_quantile(1.0 - (1.0 - level) / 2.0)
}

/// A confidence interval; `hi` may be infinite when the data cannot bound it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

/// Interval for the `q` quantile (0..1) in ms from the ranks `nq ± z·sqrt(nq(1-q))` (distribution-free).
pub fn quantile_ci(s: &Stats, q: f64, z: f64) -> Option<Interval> {
    let n = s.histogram.len();
    if n == 0 {
        return None;
    }
    let nf = n as f64;
    let half = z * (nf * q * (1.0 - q)).sqrt();
    let lo_rank = (nf * q - half).floor();
    let hi_rank = (nf * q + half).ceil() + 1.0;
    let at_rank = |rank: f64| s.histogram.quantile_us((rank / nf).clamp(0.0, 1.0)) as f64 / 1000.0;
    let lo = if lo_rank < 1.0 {
        s.min_us as f64 / 1000.0
    } else {
        at_rank(lo_rank)
    };
    let hi = if hi_rank > nf { f64::INFINITY } else { at_rank(hi_rank) };
    Some(Interval { lo, hi })
}

/// Interval for the mean latency in ms: mean ± z·sd/√n (sd from the histogram).
pub fn mean_ci(s: &Stats, z: f64) -> Option<Interval> {
    if s.requests < 2 {
        return None;
    }
    let half = z * (s.histogram.stdev() / 1000.0) / (s.requests as f64).sqrt();
    let m = s.mean_ms();
    Some(Interval {
        lo: m - half,
        hi: m + half,
    })
}

/// Interval for the mean of per-interval values (e.g. requests per second): mean ± z·sd/√k.
pub fn series_mean_ci(values: &[f64], z: f64) -> Option<Interval> {
    let k = values.len();
    if k < 3 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / k as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (k as f64 - 1.0);
    let half = z * (var / k as f64).sqrt();
    Some(Interval {
        lo: mean - half,
        hi: mean + half,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::hist::Hist;

    fn stats(values: impl Iterator<Item = u64>) -> Stats {
        let mut s = Stats {
            histogram: Hist::new(),
            ..Stats::default()
        };
        for v in values {
            s.histogram.record(v);
            s.min_us = if s.requests == 0 { v } else { s.min_us.min(v) };
            s.max_us = s.max_us.max(v);
            s.requests += 1;
            s.sum_us += v;
        }
        s
    }

    #[test]
    fn normal_quantiles() {
        assert!((z_for(0.95) - 1.959964).abs() < 1e-5);
        assert!((z_for(0.99) - 2.575829).abs() < 1e-5);
        assert!((normal_quantile(0.5)).abs() < 1e-9);
        assert!((normal_quantile(0.001) + 3.090232).abs() < 1e-5);
    }

    #[test]
    fn quantile_interval_brackets_the_quantile_and_shrinks_with_n() {
        let small = stats((1..=100).map(|v| v * 1000));
        let big = stats((1..=10_000).map(|v| v * 10));
        let a = quantile_ci(&small, 0.5, 1.96).unwrap();
        assert!(a.lo < 50.0 && a.hi > 50.0, "{a:?}");
        let b = quantile_ci(&big, 0.5, 1.96).unwrap();
        assert!(b.lo < 50.0 && b.hi > 50.0, "{b:?}");
        assert!((b.hi - b.lo) / 50.0 < (a.hi - a.lo) / 50.0);
        // Too few samples to bound a high quantile from above.
        let tiny = stats([1000u64, 2000, 3000].into_iter());
        assert!(quantile_ci(&tiny, 0.99, 1.96).unwrap().hi.is_infinite());
    }

    #[test]
    fn means_and_series() {
        let m = mean_ci(&stats((1..=1000).map(|v| v * 1000)), 1.96).unwrap();
        assert!(m.lo < 500.5 && m.hi > 500.5);
        assert!(series_mean_ci(&[1.0, 2.0], 1.96).is_none());
    }
}
