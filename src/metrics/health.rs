//! Generator health: how late planned sends started, and the CPU the generator used.

use super::results::Generator;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Lateness above this counts a send as late.
pub const LATE: Duration = Duration::from_millis(10);
/// More late sends than this share make the run untrusted.
pub const MAX_LATE_SHARE: f64 = 0.05;
/// A user that begins more than this after its planned start began late.
pub const LATE_START: Duration = Duration::from_secs(1);
/// More CPU than this share of all cores makes the run untrusted.
pub const MAX_CPU_SHARE: f64 = 0.90;

/// Counters the users update; lock-free.
#[derive(Default)]
pub struct Health {
    planned: AtomicU64,
    late: AtomicU64,
    lag_sum_us: AtomicU64,
    lag_max_us: AtomicU64,
    arrivals: AtomicU64,
    dropped: AtomicU64,
    queued: AtomicU64,
    no_descriptors: AtomicU64,
    no_ports: AtomicU64,
    after_unanswered: AtomicU64,
    late_after_unanswered: AtomicU64,
    users_due: AtomicU64,
    users_begun: AtomicU64,
    users_late: AtomicU64,
}

/// A limit of the generator's own machine that failed a connection: never the target's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalLimit {
    /// Out of file descriptors (EMFILE for the process, ENFILE for the system).
    Descriptors,
    /// Out of local (ephemeral) ports (EADDRNOTAVAIL).
    Ports,
}

impl LocalLimit {
    /// The limit an I/O error says was hit, if it is one of the generator's own.
    pub fn of(e: &std::io::Error) -> Option<LocalLimit> {
        match e.raw_os_error()? {
            libc::EMFILE | libc::ENFILE => Some(LocalLimit::Descriptors),
            libc::EADDRNOTAVAIL => Some(LocalLimit::Ports),
            _ => None,
        }
    }
}

/// The soft and hard RLIMIT_NOFILE perfgate started with, before [`raise_open_files_limit`].
static ORIGINAL_NOFILE: std::sync::OnceLock<(libc::rlim_t, libc::rlim_t)> = std::sync::OnceLock::new();

/// The process's (soft, hard) limit on open files.
pub fn open_files_limit() -> Option<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) fills the struct it is given.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0).then_some((lim.rlim_cur, lim.rlim_max))
}

/// Raises the soft limit on open files to the hard limit (as Go and k6 do): every user holds a
/// connection, and a soft limit of 1024 is common. Services perfgate starts get the original back.
pub fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) and setrlimit(2) on a struct owned here.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        let _ = ORIGINAL_NOFILE.set((lim.rlim_cur, lim.rlim_max));
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &raised);
        }
    }
}

/// Puts back the open-files limit perfgate started with; for a started service between fork and exec
/// (setrlimit is async-signal-safe).
pub fn restore_open_files_limit() -> std::io::Result<()> {
    if let Some(&(cur, max)) = ORIGINAL_NOFILE.get() {
        let lim = libc::rlimit {
            rlim_cur: cur,
            rlim_max: max,
        };
        // SAFETY: setrlimit(2) reads the struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

impl Health {
    /// A user is due to start (the scheduler has spawned it).
    pub fn user_due(&self) {
        self.users_due.fetch_add(1, Ordering::Relaxed);
    }

    /// A user began running `lag` after its planned start.
    pub fn user_began(&self, lag: Duration) {
        self.users_begun.fetch_add(1, Ordering::Relaxed);
        if lag > LATE_START {
            self.users_late.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A planned send started `lag` after its planned time.
    #[inline]
    pub fn planned_send(&self, lag: Duration) {
        self.planned_send_after(lag, false);
    }

    /// A planned send started `lag` late; `after_unanswered` when the user's previous request got no
    /// answer (timeout, refused, cut off). Those users wake in herds the service sets off (every
    /// request timing out at once), so their lateness is counted apart and does not make the run
    /// untrusted: a hung service fails the gate instead.
    #[inline]
    pub fn planned_send_after(&self, lag: Duration, after_unanswered: bool) {
        if after_unanswered {
            self.after_unanswered.fetch_add(1, Ordering::Relaxed);
            if lag > LATE {
                self.late_after_unanswered.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        let us = lag.as_micros() as u64;
        self.planned.fetch_add(1, Ordering::Relaxed);
        self.lag_sum_us.fetch_add(us, Ordering::Relaxed);
        self.lag_max_us.fetch_max(us, Ordering::Relaxed);
        if lag > LATE {
            self.late.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The open model's arrivals due before the stop, and how many of them were dropped.
    pub fn arrivals(&self, planned: u64, dropped: u64) {
        self.arrivals.fetch_add(planned, Ordering::Relaxed);
        self.dropped.fetch_add(dropped, Ordering::Relaxed);
    }

    /// An arrival waited this long for a free connection.
    pub fn queued(&self, wait: Duration) {
        if wait > LATE {
            self.queued.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A connection failed on one of the generator's own limits.
    pub fn local_limit(&self, limit: LocalLimit) {
        match limit {
            LocalLimit::Descriptors => self.no_descriptors.fetch_add(1, Ordering::Relaxed),
            LocalLimit::Ports => self.no_ports.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// The summary for the results, with the verdict on whether the numbers can be trusted.
    pub fn summary(&self, cpu_s: Option<f64>, wall_s: f64, cores: usize) -> Generator {
        let planned = self.planned.load(Ordering::Relaxed);
        let late = self.late.load(Ordering::Relaxed);
        let cpu_pct = cpu_s.map(|c| c / (wall_s.max(1e-9) * cores.max(1) as f64) * 100.0);
        let mut g = Generator {
            cpu_s,
            cpu_pct: cpu_pct.map(|p| (p * 10.0).round() / 10.0),
            planned_sends: planned,
            late_sends: late,
            max_lag_ms: self.lag_max_us.load(Ordering::Relaxed) as f64 / 1000.0,
            mean_lag_ms: if planned > 0 {
                self.lag_sum_us.load(Ordering::Relaxed) as f64 / planned as f64 / 1000.0
            } else {
                0.0
            },
            arrivals: self.arrivals.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            queued: self.queued.load(Ordering::Relaxed),
            local_faults: 0,
            after_unanswered: self.after_unanswered.load(Ordering::Relaxed),
            late_after_unanswered: self.late_after_unanswered.load(Ordering::Relaxed),
            untrusted: None,
        };
        let late_share = if planned > 0 { late as f64 / planned as f64 } else { 0.0 };
        let (fds, ports) = (
            self.no_descriptors.load(Ordering::Relaxed),
            self.no_ports.load(Ordering::Relaxed),
        );
        g.local_faults = fds + ports;
        if fds > 0 {
            let limit = match open_files_limit() {
                Some((soft, hard)) => format!("open files limit {soft}, hard limit {hard}"),
                None => "the open files limit".into(),
            };
            g.untrusted = Some(format!(
                "the load generator ran out of file descriptors: {fds} connections failed with \"too many open files\" ({limit}); these failures are the runner's, not the service's. Raise the limit (`ulimit -n` in the job, up to the hard limit; LimitNOFILE= or limits.conf for the hard one), split the users over shards each under the limit (--shard I/N, then perfgate merge), or run fewer users"
            ));
        } else if ports > 0 {
            g.untrusted = Some(format!(
                "the load generator ran out of local ports: {ports} connections failed with \"cannot assign requested address\"; these failures are the runner's, not the service's. Widen net.ipv4.ip_local_port_range, let connections be reused (keep-alive), or run fewer users"
            ));
        } else if let Some(why) = self.users_behind() {
            g.untrusted = Some(why);
        } else if planned >= 20 && late_share > MAX_LATE_SHARE {
            g.untrusted = Some(format!(
                "the load generator could not hold its plan: {late} of {planned} sends ({:.1}%) started more than {} ms late (max {:.0} ms); the numbers describe the runner, not the service",
                late_share * 100.0,
                LATE.as_millis(),
                g.max_lag_ms
            ));
        } else if let Some(p) = cpu_pct.filter(|p| *p >= MAX_CPU_SHARE * 100.0) {
            g.untrusted = Some(format!(
                "the load generator used {p:.0}% of all {cores} cores: it was saturated, so latencies include its own queueing"
            ));
        }
        g
    }
}

impl Health {
    /// Why the run cannot be trusted when more than [`MAX_LATE_SHARE`] of its users began more than
    /// [`LATE_START`] after their planned start, or never ran.
    fn users_behind(&self) -> Option<String> {
        let due = self.users_due.load(Ordering::Relaxed);
        let begun = self.users_begun.load(Ordering::Relaxed);
        let never = due.saturating_sub(begun);
        let behind = never + self.users_late.load(Ordering::Relaxed);
        (due >= 20 && behind as f64 > MAX_LATE_SHARE * due as f64).then(|| {
            format!(
                "the load generator could not start its users: {behind} of {due} began more than {} s after their planned start or not at all ({never} never ran); the numbers describe the runner, not the service. Run fewer users or a lower spawn rate, or use a larger machine (or shards)",
                LATE_START.as_secs()
            )
        })
    }
}

/// CPU time (user + system) this process has used, from /proc/self/stat; None where there is no /proc.
pub fn process_cpu_seconds() -> Option<f64> {
    crate::procfs::stat_fields("self").map(|f| crate::procfs::cpu_seconds(&f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_that_begin_late_or_never_make_a_run_untrusted() {
        let h = Health::default();
        for _ in 0..100 {
            h.user_due();
        }
        for _ in 0..96 {
            h.user_began(Duration::from_millis(200));
        }
        // 4 of 100 never ran, none late: within the 5 % allowance.
        assert!(h.summary(Some(1.0), 10.0, 2).untrusted.is_none());
        h.user_began(Duration::from_secs(2));
        h.user_began(Duration::from_secs(3));
        // 2 never ran and 2 began late: still 4.
        assert!(h.summary(Some(1.0), 10.0, 2).untrusted.is_none());
        for _ in 0..2 {
            h.user_due();
            h.user_began(Duration::from_secs(2));
        }
        let why = h.summary(Some(1.0), 10.0, 2).untrusted.unwrap();
        assert!(
            why.contains("6 of 102 began more than 1 s after their planned start or not at all (2 never ran)"),
            "{why}"
        );
    }

    #[test]
    fn late_sends_make_a_run_untrusted() {
        let h = Health::default();
        for _ in 0..90 {
            h.planned_send(Duration::from_millis(1));
        }
        assert!(h.summary(Some(1.0), 10.0, 2).untrusted.is_none());
        for _ in 0..10 {
            h.planned_send(Duration::from_millis(50));
        }
        let g = h.summary(Some(1.0), 10.0, 2);
        assert_eq!((g.planned_sends, g.late_sends), (100, 10));
        assert!(g.untrusted.unwrap().contains("10 of 100"));
        assert_eq!(g.max_lag_ms, 50.0);
    }

    #[test]
    fn local_limits_are_told_apart_from_the_targets_faults() {
        let e = |code| std::io::Error::from_raw_os_error(code);
        assert_eq!(LocalLimit::of(&e(libc::EMFILE)), Some(LocalLimit::Descriptors));
        assert_eq!(LocalLimit::of(&e(libc::ENFILE)), Some(LocalLimit::Descriptors));
        assert_eq!(LocalLimit::of(&e(libc::EADDRNOTAVAIL)), Some(LocalLimit::Ports));
        assert_eq!(LocalLimit::of(&e(libc::ECONNREFUSED)), None);
        let h = Health::default();
        h.local_limit(LocalLimit::Ports);
        let g = h.summary(Some(1.0), 10.0, 2);
        assert_eq!(g.local_faults, 1);
        assert!(g.untrusted.unwrap().contains("ran out of local ports"));
    }

    #[test]
    fn lateness_after_unanswered_requests_is_set_apart() {
        let h = Health::default();
        for _ in 0..100 {
            h.planned_send_after(Duration::from_millis(50), true);
        }
        for _ in 0..20 {
            h.planned_send_after(Duration::from_millis(1), false);
        }
        let g = h.summary(Some(1.0), 10.0, 2);
        assert!(g.untrusted.is_none(), "{:?}", g.untrusted);
        assert_eq!((g.planned_sends, g.late_sends), (20, 0));
        assert_eq!((g.after_unanswered, g.late_after_unanswered), (100, 100));
    }

    #[test]
    fn saturated_cpu_makes_a_run_untrusted() {
        let h = Health::default();
        assert!(h.summary(Some(19.0), 10.0, 2).untrusted.unwrap().contains("95%"));
        assert!(h.summary(Some(5.0), 10.0, 2).untrusted.is_none());
    }

    #[test]
    fn reads_own_cpu_time() {
        if std::path::Path::new("/proc/self/stat").exists() {
            let a = process_cpu_seconds().unwrap();
            let mut x = 0u64;
            for i in 0..20_000_000u64 {
                x = x.wrapping_add(i * i);
            }
            std::hint::black_box(x);
            assert!(process_cpu_seconds().unwrap() >= a);
        }
    }
}
