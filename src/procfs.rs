//! Linux /proc readers shared by the generator's own health and the service's resource samples.

/// The fields of /proc/PID/stat after the command name (field 3, state, is index 0); `pid` may be `self`.
pub fn stat_fields(pid: &str) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = s.get(s.rfind(')')? + 2..)?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// CPU time (user + system) from stat fields, seconds: utime and stime are fields 14 and 15, counted in
/// clock ticks, and USER_HZ is 100 on every Linux architecture perfgate targets.
pub fn cpu_seconds(fields: &[String]) -> f64 {
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// A `Key:  N kB` value of /proc/PID/status, in kB.
pub fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        if !std::path::Path::new("/proc/self/stat").exists() {
            return;
        }
        let f = stat_fields("self").unwrap();
        // Field 4 (index 1) is the parent's pid.
        assert!(f[1].parse::<u32>().is_ok(), "{f:?}");
        assert!(cpu_seconds(&f) >= 0.0);
        assert!(status_kb(std::process::id(), "VmRSS:").unwrap() > 0);
        assert!(stat_fields("0").is_none());
    }
}
