//! Wall-clock timestamps as the reference API writes them, without a date library.

use std::time::SystemTime;

/// Microseconds since the Unix epoch, now.
pub(crate) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Splits microseconds since the epoch into (year, month, day, hour, minute, second, microsecond), UTC.
fn civil(micros: u64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let secs = micros / 1_000_000;
    let sub = (micros % 1_000_000) as u32;
    let days = (secs / 86_400) as i64;
    let rem = (secs % 86_400) as u32;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem / 3600, rem / 60 % 60, rem % 60, sub)
}

/// ISO 8601 in UTC with microseconds: `2025-11-06T14:22:33.123456Z`.
pub(crate) fn iso(micros: u64) -> String {
    let (y, mo, d, h, mi, s, us) = civil(micros);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{us:06}Z")
}

/// ISO 8601 for now.
pub(crate) fn iso_now() -> String {
    iso(now_micros())
}

/// The compact stamp used inside run ids: `20251106_142233`.
pub(crate) fn stamp(micros: u64) -> String {
    let (y, mo, d, h, mi, s, _) = civil(micros);
    format!("{y:04}{mo:02}{d:02}_{h:02}{mi:02}{s:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000000Z");
        // 2025-11-06T14:22:33.5Z
        let t = 1_762_438_953_500_000;
        assert_eq!(iso(t), "2025-11-06T14:22:33.500000Z");
        assert_eq!(stamp(t), "20251106_142233");
        // A leap day.
        assert_eq!(iso(951_782_400_000_000), "2000-02-29T00:00:00.000000Z");
    }
}
