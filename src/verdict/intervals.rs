//! Confidence intervals for the change between head and base, built from per-block values: paired
//! and Welch t intervals, Newcombe's interval for two error rates, a Newey–West slope, the
//! Bonferroni level of a family, and how large an effect or how many blocks a run can resolve.

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// Which tail a comparison guards: `Upper` asks whether head is higher (worse) than base, so the
/// interval is `[lo, +inf)`; `Lower` is `(-inf, hi]`; `Both` bounds both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// Bounded below: `[lo, +inf)`; a change is shown when `lo` is past the budget.
    Upper,
    /// Bounded above: `(-inf, hi]`.
    Lower,
    /// Bounded on both sides.
    Both,
}

/// An estimate with its standard error, degrees of freedom and interval at the requested level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The point estimate.
    pub point: f64,
    /// Its standard error.
    pub se: f64,
    /// Degrees of freedom of the t distribution behind the interval.
    pub df: f64,
    /// Lower bound (`-inf` for [`Tail::Lower`]).
    pub lo: f64,
    /// Upper bound (`+inf` for [`Tail::Upper`]).
    pub hi: f64,
}

/// Above this many degrees of freedom statrs' t quantile loses accuracy (1e-4 at 1e6 df) and an
/// expansion around the normal quantile takes over.
const LARGE_DF: f64 = 1e4;

/// The quantile (inverse CDF) of Student's t with `df` degrees of freedom at probability `p`
/// (the normal quantile for infinite `df`).
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if p.is_nan() || df.is_nan() || df <= 0.0 || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    if p == 0.5 {
        return 0.0;
    }
    if df > LARGE_DF {
        // Cornish–Fisher expansion in 1/df (Abramowitz & Stegun 26.7.5); the next term is O(z¹¹/df⁵).
        let z = Normal::new(0.0, 1.0).expect("valid normal").inverse_cdf(p);
        let z2 = z * z;
        let g1 = (z2 + 1.0) * z / 4.0;
        let g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0;
        let g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0;
        let g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0;
        let v = 1.0 / df;
        return z + v * (g1 + v * (g2 + v * (g3 + v * g4)));
    }
    StudentsT::new(0.0, 1.0, df)
        .expect("df checked positive")
        .inverse_cdf(p)
}

/// The t interval of the mean of paired differences (head − base per block); None below 2 values.
pub fn paired(diffs: &[f64], level: f64, tail: Tail) -> Option<Estimate> {
    let (mean, var) = mean_var(diffs)?;
    let n = diffs.len() as f64;
    interval(mean, (var / n).sqrt(), n - 1.0, level, tail)
}

/// The Welch interval of `mean(head) − mean(base)` with Welch–Satterthwaite degrees of freedom;
/// None when either side has fewer than 2 values.
pub fn welch(head: &[f64], base: &[f64], level: f64, tail: Tail) -> Option<Estimate> {
    let (mh, vh) = mean_var(head)?;
    let (mb, vb) = mean_var(base)?;
    let (nh, nb) = (head.len() as f64, base.len() as f64);
    let (qh, qb) = (vh / nh, vb / nb);
    let se2 = qh + qb;
    // With no spread on either side the df is 0/0; any df gives the same zero-width interval.
    let df = if se2 > 0.0 {
        se2 * se2 / (qh * qh / (nh - 1.0) + qb * qb / (nb - 1.0))
    } else {
        nh + nb - 2.0
    };
    interval(mh - mb, se2.sqrt(), df, level, tail)
}

/// Newcombe's hybrid score interval (method 10) of the head − base difference of failure fractions;
/// one-sided intervals are the matching bound of the two-sided one at level `1 − 2α`, the other
/// bound infinite. None when a side has no requests or more failures than requests.
pub fn newcombe(
    fail_base: u64,
    n_base: u64,
    fail_head: u64,
    n_head: u64,
    level: f64,
    tail: Tail,
) -> Option<(f64, f64)> {
    if n_base == 0 || n_head == 0 || fail_base > n_base || fail_head > n_head || !valid_level(level) {
        return None;
    }
    let z = t_quantile(quantile_prob(level, tail), f64::INFINITY);
    let (ph, lh, uh) = wilson(fail_head, n_head, z);
    let (pb, lb, ub) = wilson(fail_base, n_base, z);
    let d = ph - pb;
    let lo = d - ((ph - lh).powi(2) + (ub - pb).powi(2)).sqrt();
    let hi = d + ((uh - ph).powi(2) + (pb - lb).powi(2)).sqrt();
    Some(match tail {
        Tail::Upper => (lo, f64::INFINITY),
        Tail::Lower => (f64::NEG_INFINITY, hi),
        Tail::Both => (lo, hi),
    })
}

/// The OLS slope of `(x, y)` points (in time order) with a Newey–West standard error (Bartlett
/// kernel, `lags` or by default `floor(4 (n/100)^(2/9))`, no small-sample factor) and a t interval
/// with n − 2 df; None below 3 points or when every x is the same.
pub fn newey_west_slope(points: &[(f64, f64)], level: f64, tail: Tail, lags: Option<usize>) -> Option<Estimate> {
    let n = points.len();
    if n < 3 || points.iter().any(|&(x, y)| !x.is_finite() || !y.is_finite()) {
        return None;
    }
    let nf = n as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / nf;
    let my = points.iter().map(|p| p.1).sum::<f64>() / nf;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let slope = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx;
    let intercept = my - slope * mx;
    // The slope is Σ cᵢ yᵢ with cᵢ = (xᵢ − x̄)/Sxx, so its HAC variance is the Bartlett-weighted
    // autocovariance sum of vᵢ = (xᵢ − x̄)·residualᵢ over Sxx².
    let v: Vec<f64> = points
        .iter()
        .map(|&(x, y)| (x - mx) * (y - intercept - slope * x))
        .collect();
    let lags = lags
        .unwrap_or_else(|| (4.0 * (nf / 100.0).powf(2.0 / 9.0)).floor() as usize)
        .min(n - 1);
    let mut s: f64 = v.iter().map(|a| a * a).sum();
    for l in 1..=lags {
        let w = 1.0 - l as f64 / (lags as f64 + 1.0);
        s += 2.0 * w * v[l..].iter().zip(&v[..n - l]).map(|(a, b)| a * b).sum::<f64>();
    }
    interval(slope, s.max(0.0).sqrt() / sxx, nf - 2.0, level, tail)
}

/// The per-comparison confidence level that holds `level` for a family of `m` comparisons.
pub fn bonferroni(level: f64, m: usize) -> f64 {
    1.0 - (1.0 - level) / m.max(1) as f64
}

/// The smallest true effect that an interval with this `se` and `df` excludes zero for with
/// probability `power`: `(t_level + t_power) · se`.
pub fn min_detectable(se: f64, df: f64, level: f64, power: f64, tail: Tail) -> f64 {
    (t_quantile(quantile_prob(level, tail), df) + t_quantile(power, df)) * se
}

/// How many blocks in all would bring the half width of a paired interval (df = blocks − 1) to at
/// most `target_half_width`, given the standard error over `blocks_now` blocks; None when no count
/// up to a billion would.
pub fn blocks_needed(se_now: f64, blocks_now: usize, target_half_width: f64, level: f64, tail: Tail) -> Option<usize> {
    let usable = se_now.is_finite() && se_now >= 0.0 && target_half_width > 0.0 && valid_level(level);
    if blocks_now == 0 || !usable {
        return None;
    }
    let p = quantile_prob(level, tail);
    let half = |b: usize| t_quantile(p, b as f64 - 1.0) * se_now * (blocks_now as f64 / b as f64).sqrt();
    let (mut lo, mut hi) = (1usize, 2usize);
    while half(hi) > target_half_width {
        lo = hi;
        hi = hi.checked_mul(2).filter(|&h| h <= 1 << 30)?;
    }
    // half() falls as blocks grow: the smallest passing count lies in (lo, hi].
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if half(mid) > target_half_width {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(hi)
}

/// Whether a confidence level is a probability strictly between 0 and 1.
fn valid_level(level: f64) -> bool {
    level > 0.0 && level < 1.0
}

/// The probability whose quantile is the critical value: `level` one-sided, `(1 + level)/2` two-sided.
fn quantile_prob(level: f64, tail: Tail) -> f64 {
    match tail {
        Tail::Both => 1.0 - (1.0 - level) / 2.0,
        Tail::Upper | Tail::Lower => level,
    }
}

/// Mean and sample variance (n − 1); None below 2 values or with a non-finite one.
fn mean_var(xs: &[f64]) -> Option<(f64, f64)> {
    if xs.len() < 2 || xs.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    Some((mean, var))
}

/// A t interval around `point`; a zero `se` gives a zero-width one.
fn interval(point: f64, se: f64, df: f64, level: f64, tail: Tail) -> Option<Estimate> {
    if !valid_level(level) {
        return None;
    }
    let half = if se == 0.0 {
        0.0
    } else {
        t_quantile(quantile_prob(level, tail), df) * se
    };
    let (lo, hi) = match tail {
        Tail::Upper => (point - half, f64::INFINITY),
        Tail::Lower => (f64::NEG_INFINITY, point + half),
        Tail::Both => (point - half, point + half),
    };
    Some(Estimate { point, se, df, lo, hi })
}

/// Wilson's score interval of `k` in `n`: `(k/n, lo, hi)`.
fn wilson(k: u64, n: u64, z: f64) -> (f64, f64, f64) {
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = z * z;
    let centre = (k + z2 / 2.0) / (n + z2);
    let half = z * (n * p * (1.0 - p) + z2 / 4.0).sqrt() / (n + z2);
    (p, (centre - half).max(0.0), (centre + half).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts `a` is within `tol` of `b` (relative above 1, absolute below).
    fn close(a: f64, b: f64, tol: f64) {
        assert!(
            (a - b).abs() <= tol * b.abs().max(1.0),
            "{a} is not within {tol} of {b}"
        );
    }

    #[test]
    fn t_quantiles_match_scipy() {
        // scipy.stats.t.ppf(p, df) (scipy 1.17.1), and scipy.stats.norm.ppf(0.975) for df = inf.
        let cases = [
            (0.975, 1.0, 12.706204736174694),
            (0.95, 2.5, 2.5582186141359355),
            (0.975, 9.0, 2.262157162798205),
            (0.05, 14.3, -1.7587028944182703),
            (0.999, 3.0, 10.214531852407383),
            (0.8, 59.0, 0.8477559493813871),
            (0.9999, 7.7, 6.603757334378996),
            (0.975, 3000.0, 1.960755055322458),
            (0.975, 1e5, 1.9599877075346095),
            (0.95, 1e6, 1.6448551507220404),
            (0.999, 3e4, 3.090503999016857),
            (0.975, 1e7, 1.959964221767205),
            (0.975, f64::INFINITY, 1.959963984540054),
            (0.5, 4.0, 0.0),
        ];
        for (p, df, want) in cases {
            close(t_quantile(p, df), want, 1e-9);
        }
        assert_eq!(t_quantile(0.0, 5.0), f64::NEG_INFINITY);
        assert_eq!(t_quantile(1.0, 5.0), f64::INFINITY);
        assert!(t_quantile(0.5, 0.0).is_nan() && t_quantile(1.5, 5.0).is_nan());
    }

    const INF: f64 = f64::INFINITY;

    /// Asserts both bounds are within `tol`, infinities equal.
    fn bounds(got: (f64, f64), want: (f64, f64), tol: f64) {
        for (g, w) in [(got.0, want.0), (got.1, want.1)] {
            if w.is_infinite() {
                assert_eq!(g, w, "{got:?} vs {want:?}");
            } else {
                close(g, w, tol);
            }
        }
    }

    #[test]
    fn paired_matches_scipy_ttest_rel() {
        // h = [10.2, 11.5, 9.8, 12.1, 10.9, 11.7, 10.4, 11.0]
        // b = [9.9, 11.1, 9.9, 11.6, 10.5, 11.9, 10.0, 10.6]
        // scipy.stats.ttest_rel(h, b, alternative=alt).confidence_interval(0.95), df 7.
        let d = [0.3, 0.4, -0.1, 0.5, 0.4, -0.2, 0.4, 0.4];
        let want = [
            (Tail::Both, (0.04386357402348409, 0.48113642597651585)), // alt='two-sided'
            (Tail::Upper, (0.0873246440552086, INF)),                 // alt='greater'
            (Tail::Lower, (-INF, 0.43767535594479134)),               // alt='less'
        ];
        for (tail, w) in want {
            let e = paired(&d, 0.95, tail).unwrap();
            close(e.point, 0.2625, 1e-12);
            assert_eq!(e.df, 7.0);
            bounds((e.lo, e.hi), w, 1e-9);
        }
    }

    #[test]
    fn welch_matches_scipy_ttest_ind() {
        // head = [10.2, 11.5, 9.8, 12.1, 10.9, 11.7]
        // base = [9.6, 10.1, 9.9, 10.4, 9.7, 10.8, 10.0, 9.5, 10.3]
        // r = scipy.stats.ttest_ind(head, base, equal_var=False, alternative=alt)
        // r.confidence_interval(level); r.df = 6.466331111986638.
        let head = [10.2, 11.5, 9.8, 12.1, 10.9, 11.7];
        let base = [9.6, 10.1, 9.9, 10.4, 9.7, 10.8, 10.0, 9.5, 10.3];
        let want = [
            (0.95, Tail::Both, (0.056641966709952474, 1.9433580332900475)),
            (0.90, Tail::Both, (0.2474491599773223, 1.7525508400226775)),
            (0.95, Tail::Upper, (0.24744915997732264, INF)), // alt='greater'
            (0.90, Tail::Upper, (0.44015943655616263, INF)),
            (0.95, Tail::Lower, (-INF, 1.7525508400226775)), // alt='less'
            (0.90, Tail::Lower, (-INF, 1.5598405634438373)),
        ];
        for (level, tail, w) in want {
            let e = welch(&head, &base, level, tail).unwrap();
            close(e.df, 6.466331111986638, 1e-12);
            close(e.point, 11.033333333333333 - 10.033333333333333, 1e-12);
            bounds((e.lo, e.hi), w, 1e-9);
        }
    }

    #[test]
    fn newcombe_matches_statsmodels() {
        // statsmodels.stats.proportion.confint_proportions_2indep(fail_head, n_head, fail_base,
        //     n_base, method='newcomb', compare='diff', alpha=a) (statsmodels 0.15.0); a one-sided
        // 95 % bound is the two-sided alpha=0.10 one. (56, 70, 48, 80) is Newcombe's 1998 example.
        let cases = [
            ((7, 200, 3, 180), 0.05, (-0.017642955276008263, 0.05546527842426545)),
            ((7, 200, 3, 180), 0.10, (-0.010715150083259812, 0.048369210722928414)),
            ((0, 50, 2, 60), 0.05, (-0.11363774274308602, 0.04198873061775186)),
            ((0, 50, 2, 60), 0.10, (-0.09584433533749648, 0.022610770656369426)),
            (
                (30, 1000, 30, 1000),
                0.05,
                (-0.015351118962313096, 0.015351118962313096),
            ),
            ((30, 1000, 30, 1000), 0.10, (-0.01278557081263709, 0.01278557081263709)),
            ((12, 40, 0, 40), 0.05, (0.15201866122437513, 0.45430018818144946)),
            ((12, 40, 0, 40), 0.10, (0.17876296542121872, 0.42870848785434523)),
            ((56, 70, 48, 80), 0.05, (0.05243147240236498, 0.33387265403690614)),
        ];
        for ((fh, nh, fb, nb), alpha, (lo, hi)) in cases {
            if alpha == 0.05 {
                bounds(newcombe(fb, nb, fh, nh, 0.95, Tail::Both).unwrap(), (lo, hi), 1e-9);
            } else {
                bounds(newcombe(fb, nb, fh, nh, 0.95, Tail::Upper).unwrap(), (lo, INF), 1e-9);
                bounds(newcombe(fb, nb, fh, nh, 0.95, Tail::Lower).unwrap(), (-INF, hi), 1e-9);
                bounds(newcombe(fb, nb, fh, nh, 0.90, Tail::Both).unwrap(), (lo, hi), 1e-9);
            }
        }
        assert_eq!(newcombe(0, 0, 1, 10, 0.95, Tail::Both), None);
        assert_eq!(newcombe(11, 10, 1, 10, 0.95, Tail::Both), None);
    }

    #[test]
    fn newey_west_matches_statsmodels_without_correction() {
        // t = np.arange(20.0); y below; X = sm.add_constant(t)
        // sm.OLS(y, X).fit(cov_type='HAC', cov_kwds={'maxlags': L, 'use_correction': False}).bse[1]
        // (statsmodels 0.15.0). Our formula has no small-sample factor, so it matches
        // use_correction=False; use_correction=True multiplies the variance by n/(n-2) (L=2 gives
        // 0.027290938148554163 there). Default lags for n = 20: floor(4*(20/100)**(2/9)) = 2.
        let y = [
            3.4, 3.95, 4.0, 3.65, 3.4, 3.45, 4.2, 4.95, 5.9, 6.35, 6.1, 5.75, 5.5, 5.35, 5.8, 6.55, 7.3, 8.05, 8.1,
            7.85,
        ];
        let pts: Vec<(f64, f64)> = y.iter().enumerate().map(|(i, &y)| (i as f64, y)).collect();
        for (lags, se) in [
            (Some(0), 0.0188131815863433),
            (Some(2), 0.025890457209662945),
            (Some(3), 0.02521555396319419),
            (None, 0.025890457209662945),
        ] {
            let e = newey_west_slope(&pts, 0.95, Tail::Both, lags).unwrap();
            close(e.point, 0.24751879699248122, 1e-12);
            close(e.se, se, 1e-9);
            assert_eq!(e.df, 18.0);
        }
        // The same fit with use_t=True: f.conf_int(0.05)[1] (t with df_resid = 18).
        let e = newey_west_slope(&pts, 0.95, Tail::Both, Some(2)).unwrap();
        bounds((e.lo, e.hi), (0.19312496480878286, 0.3019126291761796), 1e-9);
        let up = newey_west_slope(&pts, 0.95, Tail::Upper, None).unwrap();
        assert!(up.lo > e.lo && up.hi == INF);
    }

    #[test]
    fn family_level_and_effect_sizes() {
        close(bonferroni(0.95, 1), 0.95, 1e-15);
        close(bonferroni(0.95, 10), 0.995, 1e-15);
        close(bonferroni(0.90, 0), 0.90, 1e-15);
        // 0.02*(scipy.stats.t.ppf(0.95,59)+scipy.stats.t.ppf(0.9,59))
        close(
            min_detectable(0.02, 59.0, 0.95, 0.9, Tail::Upper),
            0.05934317514451894,
            1e-9,
        );
        // 0.5*(scipy.stats.t.ppf(0.975,9)+scipy.stats.t.ppf(0.8,9))
        close(
            min_detectable(0.5, 9.0, 0.95, 0.8, Tail::Both),
            1.5727805112418698,
            1e-9,
        );
        // f = lambda b, se, b0, p: scipy.stats.t.ppf(p, b-1)*se*math.sqrt(b0/b)
        // next(b for b in range(2, 10**6) if f(b, se, b0, p) <= target)
        assert_eq!(blocks_needed(0.05, 30, 0.02, 0.95, Tail::Upper), Some(510));
        assert_eq!(blocks_needed(0.05, 30, 0.02, 0.95, Tail::Both), Some(723));
        assert_eq!(blocks_needed(1.0, 3, 0.5, 0.95, Tail::Both), Some(49));
        assert_eq!(blocks_needed(0.0, 30, 0.02, 0.95, Tail::Both), Some(2));
        assert_eq!(blocks_needed(1.0, 30, 1e-9, 0.95, Tail::Both), None);
        assert_eq!(blocks_needed(1.0, 30, 0.0, 0.95, Tail::Both), None);
    }

    #[test]
    fn edge_cases() {
        assert_eq!(paired(&[], 0.95, Tail::Both), None);
        assert_eq!(paired(&[1.0], 0.95, Tail::Both), None);
        assert_eq!(paired(&[1.0, f64::NAN], 0.95, Tail::Both), None);
        assert_eq!(paired(&[1.0, 2.0], 1.0, Tail::Both), None);
        assert_eq!(welch(&[1.0], &[1.0, 2.0], 0.95, Tail::Both), None);
        assert_eq!(welch(&[1.0, 2.0], &[2.0], 0.95, Tail::Both), None);
        assert_eq!(
            newey_west_slope(&[(0.0, 1.0), (1.0, 2.0)], 0.95, Tail::Both, None),
            None
        );
        assert_eq!(
            newey_west_slope(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)], 0.95, Tail::Both, None),
            None
        );

        // No spread: a zero-width interval at the point, not NaN.
        let e = paired(&[0.3; 5], 0.95, Tail::Both).unwrap();
        assert_eq!((e.point, e.se, e.lo, e.hi), (0.3, 0.0, 0.3, 0.3));
        let e = welch(&[2.0; 4], &[1.5; 3], 0.95, Tail::Both).unwrap();
        assert_eq!((e.point, e.se, e.lo, e.hi, e.df), (0.5, 0.0, 0.5, 0.5, 5.0));
        let e = welch(&[2.0; 4], &[1.0, 2.0, 3.0], 0.95, Tail::Both).unwrap();
        assert_eq!(e.df, 2.0, "only base varies: its n - 1");
        let e = newey_west_slope(
            &[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0), (3.0, 7.0)],
            0.95,
            Tail::Upper,
            None,
        )
        .unwrap();
        assert_eq!((e.point, e.lo, e.hi), (2.0, 2.0, INF));
        // No failures on either side: confint_proportions_2indep(0, 10, 0, 10, method='newcomb',
        //     compare='diff', alpha=0.10)[0]
        bounds(
            newcombe(0, 10, 0, 10, 0.95, Tail::Upper).unwrap(),
            (-0.2129419700834071, INF),
            1e-9,
        );

        // One-sided intervals are unbounded on the other side.
        let d = [0.1, 0.2, 0.4];
        let up = paired(&d, 0.95, Tail::Upper).unwrap();
        let down = paired(&d, 0.95, Tail::Lower).unwrap();
        assert!(up.hi == INF && up.lo.is_finite() && down.lo == -INF && down.hi.is_finite());
        let w = welch(&d, &[0.0, 0.1], 0.95, Tail::Lower).unwrap();
        assert!(w.lo == -INF && w.hi.is_finite());
    }

    /// A/A and +10 % comparisons of simulated duet runs, to check the block intervals hold their level.
    mod simulation {
        use super::super::*;
        use rand::rngs::SmallRng;
        use rand::{Rng, SeedableRng};
        use std::sync::OnceLock;

        const TRIALS: usize = 1000;
        const SECONDS: usize = 60;
        const RPS: usize = 50;
        const LEVEL: f64 = 0.95;
        /// The slowdown head gets in the shifted comparisons.
        const SHIFT: f64 = 1.10;
        /// Log-latency sd of the runner noise both sides share.
        const SIGMA_COMMON: f64 = 0.3;
        /// Log-latency sd of each side's own noise.
        const SIGMA_OWN: f64 = 0.3;
        /// Most false alarms allowed in TRIALS A/A runs: 5 % plus 3 binomial sds (about 7.1 %).
        const MAX_FALSE_ALARMS: f64 = 0.05 + 3.0 * 0.006_892_024_376_045_111; // sqrt(0.05 * 0.95 / 1000)

        /// Standard normal draws by Box–Muller.
        struct Gauss {
            rng: SmallRng,
            spare: Option<f64>,
        }

        impl Gauss {
            fn next(&mut self) -> f64 {
                if let Some(z) = self.spare.take() {
                    return z;
                }
                let (u1, u2): (f64, f64) = (self.rng.random::<f64>().max(1e-300), self.rng.random());
                let r = (-2.0 * u1.ln()).sqrt();
                let a = std::f64::consts::TAU * u2;
                self.spare = Some(r * a.sin());
                r * a.cos()
            }
        }

        /// Fills `out` with a stationary AR(1) series of autocorrelation `rho` and marginal sd `sigma`.
        fn ar1(g: &mut Gauss, rho: f64, sigma: f64, out: &mut [f64]) {
            let innovation = sigma * (1.0 - rho * rho).sqrt();
            let mut x = sigma * g.next();
            for v in out {
                *v = x;
                x = rho * x + innovation * g.next();
            }
        }

        fn mean(xs: &[f64]) -> f64 {
            xs.iter().sum::<f64>() / xs.len() as f64
        }

        /// Median of an even-length block, in linear time (sorting is slow in a debug build).
        fn median(xs: &mut [f64]) -> f64 {
            let m = xs.len() / 2;
            let (below, upper, _) = xs.select_nth_unstable_by(m, f64::total_cmp);
            let lower = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (lower + *upper) / 2.0
        }

        /// Whether the one-sided (Tail::Upper) paired interval of head − base log block values
        /// lies wholly above 0: the gate would call head slower.
        fn alarm(head: &[f64], base: &[f64]) -> bool {
            let d: Vec<f64> = head.iter().zip(base).map(|(h, b)| h - b).collect();
            paired(&d, LEVEL, Tail::Upper).expect("60 blocks").lo > 0.0
        }

        /// Alarm rates over TRIALS duet runs.
        #[derive(Debug)]
        struct Rates {
            aa_mean: f64,
            aa_median: f64,
            shift_mean: f64,
            shift_median: f64,
            /// A/A alarms of the per-request interval (each request pair taken as independent).
            aa_naive: f64,
        }

        /// Simulates TRIALS duet runs of SECONDS × RPS requests a side: log-latency is a shared AR(1)
        /// runner noise plus each side's own AR(1), both with autocorrelation `rho` per request.
        fn simulate(rho: f64, seed: u64) -> Rates {
            let mut g = Gauss {
                rng: SmallRng::seed_from_u64(seed),
                spare: None,
            };
            let n = SECONDS * RPS;
            let mu = 20f64.ln(); // a 20 ms median
            let (mut common, mut own_head, mut own_base) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
            // Log block values per statistic (mean, median) and side (base, head, head × SHIFT).
            let mut blocks = [[[0.0; SECONDS]; 3]; 2];
            let mut naive = vec![0.0; n];
            let mut hits = [0usize; 5];
            for _ in 0..TRIALS {
                ar1(&mut g, rho, SIGMA_COMMON, &mut common);
                ar1(&mut g, rho, SIGMA_OWN, &mut own_head);
                ar1(&mut g, rho, SIGMA_OWN, &mut own_base);
                for (k, side) in [&own_base, &own_head].into_iter().enumerate() {
                    // One-second blocks: RPS consecutive requests.
                    for (s, (c, o)) in common.chunks(RPS).zip(side.chunks(RPS)).enumerate() {
                        let mut lat = [0.0; RPS];
                        for (l, (c, o)) in lat.iter_mut().zip(c.iter().zip(o)) {
                            *l = (mu + c + o).exp();
                        }
                        let values = [mean(&lat), median(&mut lat)];
                        for (stat, v) in values.into_iter().enumerate() {
                            blocks[stat][k][s] = v.ln();
                            // Every head latency × SHIFT scales the block mean and median by SHIFT.
                            if k == 1 {
                                blocks[stat][2][s] = (v * SHIFT).ln();
                            }
                        }
                    }
                }
                for (stat, [base, head, slow]) in blocks.iter().enumerate() {
                    hits[stat] += alarm(head, base) as usize;
                    hits[2 + stat] += alarm(slow, base) as usize;
                }
                // Per request: log head − log base, the shared runner noise cancelling.
                for (d, (h, b)) in naive.iter_mut().zip(own_head.iter().zip(&own_base)) {
                    *d = h - b;
                }
                hits[4] += (paired(&naive, LEVEL, Tail::Upper).expect("many requests").lo > 0.0) as usize;
            }
            let rate = |k: usize| hits[k] as f64 / TRIALS as f64;
            let r = Rates {
                aa_mean: rate(0),
                aa_median: rate(1),
                shift_mean: rate(2),
                shift_median: rate(3),
                aa_naive: rate(4),
            };
            errln!("rho {rho}: {r:?}");
            r
        }

        /// The simulation for `rho` (0 or 0.8), run once and shared by the tests.
        fn rates(rho: f64) -> &'static Rates {
            static AR08: OnceLock<Rates> = OnceLock::new();
            static AR0: OnceLock<Rates> = OnceLock::new();
            if rho == 0.8 {
                AR08.get_or_init(|| simulate(0.8, 8))
            } else {
                AR0.get_or_init(|| simulate(0.0, 0))
            }
        }

        fn check_level_and_power(rho: f64) {
            let r = rates(rho);
            for (what, aa, shift) in [
                ("block mean", r.aa_mean, r.shift_mean),
                ("block median", r.aa_median, r.shift_median),
            ] {
                assert!(
                    aa <= MAX_FALSE_ALARMS,
                    "rho {rho}, {what}: A/A false alarms {:.1} % > {:.1} %",
                    aa * 100.0,
                    MAX_FALSE_ALARMS * 100.0
                );
                assert!(
                    shift >= 0.90,
                    "rho {rho}, {what}: +10 % detected in {:.1} % < 90 % (A/A false alarms {:.1} %)",
                    shift * 100.0,
                    aa * 100.0
                );
            }
        }

        #[test]
        fn block_intervals_hold_level_and_detect_10_percent_under_autocorrelation() {
            check_level_and_power(0.8);
        }

        #[test]
        fn block_intervals_hold_level_and_detect_10_percent_without_autocorrelation() {
            check_level_and_power(0.0);
        }

        #[test]
        fn per_request_interval_misses_its_level_under_autocorrelation() {
            let naive = rates(0.8).aa_naive;
            assert!(
                naive > 0.20,
                "per-request A/A false alarms {:.1} % at rho 0.8: expected far above 5 %",
                naive * 100.0
            );
        }
    }
}
