//! Degradation within a run: the least-squares slope of a value over time, with an interval robust
//! to autocorrelation.

/// A fitted slope.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slope {
    /// Change per minute.
    pub per_min: f64,
    /// Confidence interval of `per_min`.
    pub ci: (f64, f64),
    /// Mean of the values.
    pub mean: f64,
    /// Points fitted.
    pub n: usize,
}

/// Least-squares slope of `(seconds, value)` points with a Newey–West (autocorrelation-robust)
/// interval at the two-sided `level`; None with fewer than 5 points or no time spread. Per-second
/// series are strongly autocorrelated (a memory warm-up, a burst that lasts seconds), which the plain
/// OLS error ignores: it would read noise as a leak.
pub fn fit(points: &[(f64, f64)], level: f64) -> Option<Slope> {
    let n = points.len();
    if n < 5 {
        return None;
    }
    let e = super::intervals::newey_west_slope(points, level, super::intervals::Tail::Both, None)?;
    let mean = points.iter().map(|p| p.1).sum::<f64>() / n as f64;
    Some(Slope {
        per_min: e.point * 60.0,
        ci: (e.lo * 60.0, e.hi * 60.0),
        mean,
        n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_a_line_and_its_noise() {
        let pts: Vec<(f64, f64)> = (0..60).map(|t| (t as f64, 10.0 + 0.5 * t as f64)).collect();
        let s = fit(&pts, 0.95).unwrap();
        assert!((s.per_min - 30.0).abs() < 1e-9);
        assert!((s.ci.1 - s.ci.0).abs() < 1e-6, "a perfect line has no doubt");
        let flat: Vec<(f64, f64)> = (0..60)
            .map(|t| (t as f64, 10.0 + if t % 2 == 0 { 1.0 } else { -1.0 }))
            .collect();
        let s = fit(&flat, 0.95).unwrap();
        assert!(s.ci.0 < 0.0 && s.ci.1 > 0.0, "{s:?}");
        assert!(fit(&pts[..3], 0.95).is_none());
    }
}
