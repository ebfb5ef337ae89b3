//! Where a run ran, gathered at the edge: the commit under test and the machine.

use crate::metrics::results::Environment;

/// The commit under test: `git rev-parse HEAD` in the working directory (what is checked out: under a
/// `pull_request` event `GITHUB_SHA` is GitHub's merge commit even when the workflow checked out the
/// pull request's head), else `GITHUB_SHA`.
pub fn current_commit() -> Option<String> {
    checked_out(None).or_else(|| std::env::var("GITHUB_SHA").ok().filter(|s| !s.is_empty()))
}

/// `git rev-parse HEAD` in `dir` (None: the working directory), when it is a git checkout.
pub fn checked_out(dir: Option<&std::path::Path>) -> Option<String> {
    let mut cmd = std::process::Command::new("git");
    cmd.args(["rev-parse", "HEAD"]).stderr(std::process::Stdio::null());
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The machine this process runs on.
pub fn current_environment() -> Environment {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    });
    Environment {
        os: std::env::consts::OS.to_string(),
        arch: std::env::consts::ARCH.to_string(),
        cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        cpu_model,
        boot_id: std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        host_cpus: online_cpus(),
    }
}

/// The machine's online CPUs (`sysconf(_SC_NPROCESSORS_ONLN)`), whatever this process may use.
fn online_cpus() -> Option<usize> {
    #[cfg(unix)]
    {
        // SAFETY: sysconf(3) reads a system value; no memory is passed.
        let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        usize::try_from(n).ok().filter(|&n| n > 0)
    }
    #[cfg(not(unix))]
    None
}
