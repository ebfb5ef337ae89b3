//! Waiting for a planned send time to the microsecond, on the runtime thread that then sends.
//!
//! The runtime's timer has a 1 ms grain, which would charge each open-model arrival up to 1 ms of
//! the generator's lateness. On Linux a [`Pacer`] arms a timerfd the runtime's I/O driver polls with
//! the sockets: the kernel wakes the worker thread at the planned time (a timerfd has no timer
//! slack), the user sends from that same thread, and arrivals that fall due together are handled
//! in one wake-up. No thread of its own, no channel and no lock between the schedule and the send.
//! Elsewhere, or when no timerfd can be made, it falls back to the runtime's timer.

use tokio::time::Instant;

/// A reusable precise sleep; one per open-model user.
pub struct Pacer {
    #[cfg(target_os = "linux")]
    fd: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
}

impl Pacer {
    /// A pacer; it holds one file descriptor on Linux (none if none could be had). Call it inside
    /// the runtime.
    pub fn new() -> Pacer {
        Pacer {
            #[cfg(target_os = "linux")]
            fd: timerfd(),
        }
    }

    /// Whether it wakes to the microsecond (false: the runtime's 1 ms timer).
    pub fn precise(&self) -> bool {
        #[cfg(target_os = "linux")]
        return self.fd.is_some();
        #[cfg(not(target_os = "linux"))]
        false
    }

    /// Returns at `at` (at once if it has passed).
    pub async fn until(&mut self, at: Instant) {
        let now = Instant::now();
        if at <= now {
            return;
        }
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            if arm(fd.get_ref(), at - now) {
                // The runtime registers descriptors edge-triggered and every expiry is an edge, so
                // the expiration count is never read (one system call less per arrival): the
                // clock says whether this is our expiry or one left over from a wait the stop cut
                // short, whose readiness is cleared before waiting again.
                while let Ok(mut ready) = fd.readable().await {
                    ready.clear_ready();
                    let now = Instant::now();
                    if now >= at {
                        return;
                    }
                    // Armed again, so a wait never depends on an edge that came before it.
                    if !arm(fd.get_ref(), at - now) {
                        break;
                    }
                }
            }
        }
        tokio::time::sleep_until(at).await;
    }
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::new()
    }
}

#[cfg(target_os = "linux")]
fn timerfd() -> Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    use std::os::fd::FromRawFd;
    // SAFETY: timerfd_create has no preconditions; a non-negative result is a new descriptor we own.
    let raw = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
    if raw < 0 {
        return None;
    }
    // SAFETY: `raw` is a valid descriptor nobody else owns.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
    // SAFETY: the AsyncFd owns the OwnedFd, which stays open and the same until it is dropped.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.ok()
}

/// Arms the timer to expire once, `after` from now; false if the kernel refused.
#[cfg(target_os = "linux")]
fn arm(fd: &std::os::fd::OwnedFd, after: std::time::Duration) -> bool {
    use std::os::fd::AsRawFd;
    let value = libc::itimerspec {
        it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
        it_value: libc::timespec {
            tv_sec: after.as_secs() as libc::time_t,
            // Never all zero, which would disarm it.
            tv_nsec: after.subsec_nanos().max(1) as libc::c_long,
        },
    };
    // SAFETY: a valid timerfd and a valid itimerspec; the old value is not asked for.
    unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &value, std::ptr::null_mut()) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn it_wakes_at_the_planned_time_not_before() {
        let mut p = Pacer::new();
        assert_eq!(p.precise(), cfg!(target_os = "linux"));
        for us in [300u64, 1500, 50, 0] {
            let at = Instant::now() + Duration::from_micros(us);
            p.until(at).await;
            assert!(Instant::now() >= at, "woke before {us} µs");
        }
        // A wait cut short leaves the timer armed; the next wait is not ended by that old expiry.
        // (The cut wait is long, so that a loaded runner's late first poll still finds it running.)
        let short = tokio::time::timeout(
            Duration::from_millis(1),
            p.until(Instant::now() + Duration::from_millis(200)),
        );
        assert!(short.await.is_err());
        tokio::time::sleep(Duration::from_millis(250)).await;
        let at = Instant::now() + Duration::from_millis(20);
        p.until(at).await;
        assert!(Instant::now() >= at);
    }
}
