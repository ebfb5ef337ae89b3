//! Regression budgets as the gate file writes them: how much worse head may be than base, per metric.

use super::target::{Metric, Selector};
use crate::metric::{Place, Worse};
use std::fmt;

/// How much worse, in the metric's bad direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Amount {
    /// A fraction of the base value (`+10%` is 0.10).
    Relative(f64),
    /// Milliseconds for latencies, percentage points for the error rate.
    Absolute(f64),
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Amount::Relative(r) => write!(f, "{}%", trim(r * 100.0)),
            Amount::Absolute(a) => write!(f, "{}", trim(*a)),
        }
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One metric's budget: fail above `fail`, warn above `warn`.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetLimit {
    /// Which metric.
    pub metric: Metric,
    /// Worse than this is reported as a warning (still passes).
    pub warn: Option<Amount>,
    /// Worse than this fails the gate.
    pub fail: Amount,
    /// As written, e.g. `+10%..+20%`.
    pub text: String,
}

impl fmt::Display for BudgetLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.metric, self.text)
    }
}

/// Whether a metric gets worse by going up (latency, errors) or down (throughput).
pub fn worse_is_up(metric: Metric) -> bool {
    metric.worse() == Worse::Up
}

/// Parses `+10%`, `10%`, `+2ms`, `+0.5pp`, `-10%` (rps), or a `warn..fail` pair such as `+10%..+20%`.
pub fn parse_limit(metric: Metric, text: &str) -> Result<BudgetLimit, String> {
    metric.allowed_in(Place::Budget)?;
    let (warn, fail) = match text.split_once("..") {
        Some((w, f)) => (Some(amount(metric, w)?), amount(metric, f)?),
        None => (None, amount(metric, text)?),
    };
    if let Some(w) = warn {
        let ordered = match (w, fail) {
            (Amount::Relative(a), Amount::Relative(b)) | (Amount::Absolute(a), Amount::Absolute(b)) => a < b,
            _ => false,
        };
        if !ordered {
            return Err(format!(
                "`{metric}: {text}`: write `warn..fail` with the same unit and the warning band first, e.g. `+10%..+20%`"
            ));
        }
    }
    Ok(BudgetLimit {
        metric,
        warn,
        fail,
        text: text.trim().to_string(),
    })
}

fn amount(metric: Metric, raw: &str) -> Result<Amount, String> {
    let a = amount_of(metric, raw)?;
    match a {
        Amount::Relative(v) | Amount::Absolute(v) if v.is_finite() => Ok(a),
        _ => Err(format!("`{metric}: {raw}`: a budget must be a finite number")),
    }
}

fn amount_of(metric: Metric, raw: &str) -> Result<Amount, String> {
    let t = raw.trim();
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (Some(1.0), &t[1..]),
        Some(b'-') => (Some(-1.0), &t[1..]),
        _ => (None, t),
    };
    let up = worse_is_up(metric);
    if let Some(s) = sign {
        if (s > 0.0) != up {
            let hint = if up { format!("+{rest}") } else { format!("-{rest}") };
            return Err(format!(
                "`{metric}: {raw}`: a budget says how much worse head may be, and `{metric}` gets worse by going {}; write `{hint}`",
                if up { "up" } else { "down" }
            ));
        }
    }
    let rest = rest.trim();
    let bad = || {
        let example = match metric {
            Metric::ErrorRate => "`+0.5pp` (percentage points)",
            Metric::Rps => "`-10%`",
            _ => "`+10%` or `+2ms`",
        };
        format!("`{metric}`: expected a budget such as {example}, found `{raw}`")
    };
    if let Some(p) = rest.strip_suffix("pp") {
        if metric != Metric::ErrorRate {
            return Err(bad());
        }
        let v: f64 = p.trim().parse().map_err(|_| bad())?;
        return (v >= 0.0).then_some(Amount::Absolute(v)).ok_or_else(bad);
    }
    if let Some(p) = rest.strip_suffix('%') {
        if metric == Metric::ErrorRate {
            return Err(format!(
                "`error_rate: {raw}`: write the budget in percentage points, e.g. `+0.5pp`, so a 0 % base does not make every error infinite"
            ));
        }
        let v: f64 = p.trim().parse().map_err(|_| bad())?;
        return (v >= 0.0).then_some(Amount::Relative(v / 100.0)).ok_or_else(bad);
    }
    if let Metric::Server(_) = metric {
        // Absolute server budgets in the metric's own unit: MB, % of a core, or a count.
        let n = rest.trim_end_matches("MB").trim_end_matches("MiB").trim();
        let v: f64 = n.parse().map_err(|_| bad())?;
        return (v >= 0.0).then_some(Amount::Absolute(v)).ok_or_else(bad);
    }
    if metric.is_latency() {
        if rest.parse::<f64>().is_ok_and(f64::is_finite) {
            let sign = if up { '+' } else { '-' };
            return Err(format!(
                "`{metric}: {raw}`: a budget needs a unit: write `{sign}{rest}%` (relative to base) or `{sign}{rest}ms` (absolute)"
            ));
        }
        let d = crate::gate::duration::parse_duration(rest).map_err(|_| bad())?;
        if !rest.ends_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(bad());
        }
        return Ok(Amount::Absolute(d.as_secs_f64() * 1000.0));
    }
    Err(bad())
}

/// A budget entry: a selector and its metric budgets.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Which request names.
    pub select: Selector,
    /// Compare each matching name on its own.
    pub each: bool,
    /// Budgets per metric.
    pub limits: Vec<BudgetLimit>,
    /// Where it is written.
    pub pos: super::Pos,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_budgets() {
        let b = parse_limit(Metric::Percentile(95.0), "+10%").unwrap();
        assert_eq!(b.fail, Amount::Relative(0.10));
        assert_eq!(b.warn, None);
        let b = parse_limit(Metric::Avg, "+10%..+20%").unwrap();
        assert_eq!((b.warn, b.fail), (Some(Amount::Relative(0.10)), Amount::Relative(0.20)));
        assert_eq!(parse_limit(Metric::Avg, "+2ms").unwrap().fail, Amount::Absolute(2.0));
        assert_eq!(
            parse_limit(Metric::ErrorRate, "+0.5pp").unwrap().fail,
            Amount::Absolute(0.5)
        );
        assert_eq!(parse_limit(Metric::Rps, "-10%").unwrap().fail, Amount::Relative(0.10));
        assert!(parse_limit(Metric::Rps, "+10%").unwrap_err().contains("write `-10%`"));
        assert!(parse_limit(Metric::Avg, "-10%").unwrap_err().contains("write `+10%`"));
        assert!(parse_limit(Metric::ErrorRate, "+1%")
            .unwrap_err()
            .contains("percentage points"));
        assert!(parse_limit(Metric::Avg, "+20%..+10%").is_err());
        assert!(parse_limit(Metric::Max, "+10%").is_err());
        assert!(parse_limit(Metric::Avg, "+10").is_err());
        // YAML reads `+10` as the number 10: the message gives both ways to write it with a unit.
        let e = parse_limit(Metric::Percentile(95.0), "10").unwrap_err();
        assert!(
            e.contains("needs a unit") && e.contains("`+10%`") && e.contains("`+10ms`"),
            "{e}"
        );
    }
}
