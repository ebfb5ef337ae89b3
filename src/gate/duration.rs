//! Human durations as gate files and flags write them: `500ms`, `30s`, `1m`, `1h30m`, `2.5s`.
//!
//! Every duration carries its unit ([`UNITS`]): a bare `500` is refused, because a reader cannot tell
//! whether it means milliseconds or seconds (a think time of `500..1000` once meant 8 minutes). Only
//! `0` needs none.

use std::time::Duration;

/// The units a duration may use, as the README and every message list them.
pub const UNITS: &str = "us, ms, s, m, h; also µs, sec, secs, min, mins, hr, hrs";

/// Parses a duration such as `500ms`, `30s`, `1m30s` or `1h`; a number needs its unit (`0` excepted).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("expected a duration such as `30s`, `500ms` or `1m30s`, found an empty value".into());
    }
    if s.chars().all(|c| c.is_ascii_digit() || c == '.') {
        if nanos(s, 1) == Some(0) {
            return Ok(Duration::ZERO);
        }
        return Err(if s.parse::<f64>().is_ok() {
            no_unit(s)
        } else {
            bad(text)
        });
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(bad(text));
        }
        let number = &rest[..num_len];
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = rest[..unit_len].trim();
        rest = rest[unit_len..].trim_start();
        let per: u128 = match unit {
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" | "sec" | "secs" => NANOS_PER_SEC,
            "m" | "min" | "mins" => 60 * NANOS_PER_SEC,
            "h" | "hr" | "hrs" => 3600 * NANOS_PER_SEC,
            _ => return Err(bad(text)),
        };
        total = total.saturating_add(nanos(number, per).ok_or_else(|| bad(text))?);
    }
    finish(total, text)
}

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// `number` (digits with at most one `.`) times `per` nanoseconds, exactly, in whole nanoseconds.
fn nanos(number: &str, per: u128) -> Option<u128> {
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if (int.is_empty() && frac.is_empty()) || frac.contains('.') || int.len() > 20 {
        return None;
    }
    let whole: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac = &frac[..frac.len().min(18)];
    let part: u128 = if frac.is_empty() { 0 } else { frac.parse().ok()? };
    let scale = 10u128.pow(frac.len() as u32);
    whole.checked_mul(per)?.checked_add(part.checked_mul(per)? / scale)
}

fn finish(nanos: u128, text: &str) -> Result<Duration, String> {
    if nanos > 366 * 86_400 * NANOS_PER_SEC {
        return Err(format!("the duration `{text}` is longer than a year"));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// Parses a think-time range such as `1s..3s`, or a single fixed duration such as `2s`.
pub fn parse_range(text: &str) -> Result<(Duration, Duration), String> {
    match text.split_once("..") {
        Some((lo_text, hi_text)) if lacks_unit(lo_text) && lacks_unit(hi_text) => {
            let (lo_text, hi_text) = (lo_text.trim(), hi_text.trim());
            let unit = if hi_text.parse::<f64>().is_ok_and(|v| v >= 100.0) {
                ["ms", "s"]
            } else {
                ["s", "ms"]
            };
            Err(format!(
                "`{}` has no units: write `{lo_text}{u}..{hi_text}{u}` or `{lo_text}{v}..{hi_text}{v}` (units: {UNITS})",
                text.trim(),
                u = unit[0],
                v = unit[1]
            ))
        }
        Some((lo, hi)) => {
            let lo = parse_duration(lo)?;
            let hi = parse_duration(hi)?;
            if hi < lo {
                return Err(format!(
                    "the range `{text}` runs backwards: its upper bound must not be below its lower bound"
                ));
            }
            Ok((lo, hi))
        }
        None => {
            let d = parse_duration(text).map_err(|e| {
                if lacks_unit(text) {
                    e
                } else {
                    format!("expected a range such as `1s..3s` or a duration such as `2s`, found `{text}`")
                }
            })?;
            Ok((d, d))
        }
    }
}

/// Formats a duration the way this module parses it back: `1m30s`, `250ms`, `2.5s`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return format!("{}us", d.as_micros());
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        let s = format!("{secs:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        return format!("{s}s");
    }
    let whole = d.as_secs();
    let (h, m, s) = (whole / 3600, (whole % 3600) / 60, whole % 60);
    let millis = d.subsec_millis();
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if millis > 0 {
        let secs = format!("{s}.{millis:03}");
        out.push_str(secs.trim_end_matches('0'));
        out.push('s');
    } else if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

fn bad(text: &str) -> String {
    format!("expected a duration such as `30s`, `500ms` or `1m30s` (units: {UNITS}), found `{text}`")
}

/// Whether `text` is a number without a unit (other than zero).
pub fn lacks_unit(text: &str) -> bool {
    let s = text.trim();
    s.chars().all(|c| c.is_ascii_digit() || c == '.') && s.parse::<f64>().is_ok() && nanos(s, 1) != Some(0)
}

/// The message for a number without a unit, with the likelier reading first (`500` as `500ms`,
/// `30` as `30s`).
fn no_unit(n: &str) -> String {
    let (first, second) = if n.parse::<f64>().is_ok_and(|v| v >= 100.0) {
        (format!("{n}ms"), format!("{n}s"))
    } else {
        (format!("{n}s"), format!("{n}ms"))
    };
    format!("`{n}` has no unit: write `{first}` or `{second}` (units: {UNITS})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_compounds() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("2.5s").unwrap(), Duration::from_millis(2500));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("1m 5s").unwrap(), Duration::from_secs(65));
    }

    #[test]
    fn rejects_garbage_with_a_hint() {
        for bad in ["", "abc", "10x", "-5s", "s", "1..2", "1e999"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("expected") || err.contains("year"), "{bad}: {err}");
        }
    }

    #[test]
    fn numbers_need_their_unit() {
        let e = parse_duration("500").unwrap_err();
        assert!(e.starts_with("`500` has no unit: write `500ms` or `500s`"), "{e}");
        let e = parse_duration("30").unwrap_err();
        assert!(e.starts_with("`30` has no unit: write `30s` or `30ms`"), "{e}");
        let e = parse_range("500..1000").unwrap_err();
        assert!(e.starts_with("`500..1000` has no units: write `500ms..1000ms`"), "{e}");
        let e = parse_range("2").unwrap_err();
        assert!(e.contains("`2` has no unit"), "{e}");
        assert!(parse_range("1s..3").unwrap_err().contains("`3` has no unit"));
        for unit in [
            "us", "µs", "ms", "s", "sec", "secs", "m", "min", "mins", "h", "hr", "hrs",
        ] {
            assert!(parse_duration(&format!("2{unit}")).is_ok(), "{unit}");
            assert!(UNITS.contains(unit), "{unit} is listed");
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(
            parse_range("1s..3s").unwrap(),
            (Duration::from_secs(1), Duration::from_secs(3))
        );
        assert_eq!(
            parse_range("500ms..1s").unwrap(),
            (Duration::from_millis(500), Duration::from_secs(1))
        );
        assert_eq!(
            parse_range("2s").unwrap(),
            (Duration::from_secs(2), Duration::from_secs(2))
        );
        assert!(parse_range("3s..1s").unwrap_err().contains("backwards"));
    }

    #[test]
    fn formats_round_trip() {
        for s in ["250ms", "2.5s", "1m30s", "1h", "30s", "1m0.001s", "1h2.5s"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }
}
