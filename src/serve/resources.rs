//! Resource samples of the service's process tree from /proc: CPU, RSS, open files, threads.

use crate::metrics::results::ServerSample;
use crate::procfs::{cpu_seconds, stat_fields, status_kb};
use std::collections::HashMap;
use std::time::Instant;

/// Totals over a process tree at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// CPU time so far, s (user + system).
    pub cpu_s: f64,
    /// Resident memory, bytes.
    pub rss: u64,
    /// Open file descriptors.
    pub fds: u64,
    /// Threads.
    pub threads: u64,
    /// Processes in the tree.
    pub processes: u64,
}

/// The pids of `root` and all its descendants.
pub fn tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(ppid) = stat_fields(&pid.to_string()).and_then(|f| f.get(1).and_then(|p| p.parse::<u32>().ok()))
            {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(c) = children.get(&out[i]) {
            out.extend(c);
        }
        i += 1;
    }
    out
}

/// Current usage of the tree under `root`; None when the root is gone or there is no /proc.
pub fn usage(root: u32) -> Option<Usage> {
    stat_fields(&root.to_string())?;
    let mut u = Usage::default();
    for pid in tree(root) {
        let Some(f) = stat_fields(&pid.to_string()) else {
            continue;
        };
        u.cpu_s += cpu_seconds(&f);
        u.threads += f.get(17).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        u.rss += status_kb(pid, "VmRSS:").unwrap_or(0) * 1024;
        u.fds += std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count() as u64)
            .unwrap_or(0);
        u.processes += 1;
    }
    Some(u)
}

/// Turns successive usages into per-second samples.
pub struct Sampler {
    root: u32,
    start: Instant,
    last: Option<(Instant, f64)>,
    /// Samples so far.
    pub samples: Vec<ServerSample>,
}

impl Sampler {
    /// A sampler of the tree under `root`, with times counted from `start`.
    pub fn new(root: u32, start: Instant) -> Sampler {
        Sampler {
            root,
            start,
            last: None,
            samples: Vec::new(),
        }
    }

    /// Takes one sample (the first only sets the CPU reference); false once the process is gone.
    pub fn sample(&mut self) -> bool {
        let now = Instant::now();
        let Some(u) = usage(self.root) else { return false };
        if let Some((t0, cpu0)) = self.last {
            let dt = now.duration_since(t0).as_secs_f64();
            if dt > 0.0 && self.samples.len() < crate::metrics::recorder::MAX_SERIES {
                self.samples.push(ServerSample {
                    t: (now.duration_since(self.start).as_secs_f64() * 1000.0).round() / 1000.0,
                    cpu_pct: (((u.cpu_s - cpu0) / dt * 100.0).max(0.0) * 10.0).round() / 10.0,
                    rss_mb: (u.rss as f64 / 1_048_576.0 * 100.0).round() / 100.0,
                    fds: u.fds,
                    threads: u.threads,
                    processes: u.processes,
                });
            }
        }
        self.last = Some((now, u.cpu_s));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_process() {
        if !std::path::Path::new("/proc/self/stat").exists() {
            return;
        }
        let me = std::process::id();
        let u = usage(me).unwrap();
        assert!(u.rss > 1_000_000, "{u:?}");
        assert!(u.threads >= 1 && u.fds >= 3 && u.processes >= 1, "{u:?}");
        assert!(tree(me).contains(&me));
        assert!(usage(u32::MAX - 7).is_none());
    }
}
