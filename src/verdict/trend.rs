//! Degradation within a run: the least-squares slope of a value over time, with its interval.

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

/// Ordinary least squares of `(seconds, value)` points; None with fewer than 5 points or no time spread.
pub fn fit(points: &[(f64, f64)], z: f64) -> Option<Slope> {
    let n = points.len();
    if n < 5 {
        return None;
    }
    let nf = n as f64;
    let mt = points.iter().map(|p| p.0).sum::<f64>() / nf;
    let my = points.iter().map(|p| p.1).sum::<f64>() / nf;
    let sxx: f64 = points.iter().map(|p| (p.0 - mt).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mt) * (p.1 - my)).sum();
    let b = sxy / sxx;
    let a = my - b * mt;
    let sse: f64 = points.iter().map(|p| (p.1 - a - b * p.0).powi(2)).sum();
    let se = (sse / (nf - 2.0) / sxx).sqrt();
    Some(Slope {
        per_min: b * 60.0,
        ci: ((b - z * se) * 60.0, (b + z * se) * 60.0),
        mean: my,
        n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_a_line_and_its_noise() {
        let pts: Vec<(f64, f64)> = (0..60).map(|t| (t as f64, 10.0 + 0.5 * t as f64)).collect();
        let s = fit(&pts, 1.96).unwrap();
        assert!((s.per_min - 30.0).abs() < 1e-9);
        assert!((s.ci.1 - s.ci.0).abs() < 1e-6, "a perfect line has no doubt");
        let flat: Vec<(f64, f64)> = (0..60)
            .map(|t| (t as f64, 10.0 + if t % 2 == 0 { 1.0 } else { -1.0 }))
            .collect();
        let s = fit(&flat, 1.96).unwrap();
        assert!(s.ci.0 < 0.0 && s.ci.1 > 0.0, "{s:?}");
        assert!(fit(&pts[..3], 1.96).is_none());
    }
}
