//! The service under test: started by perfgate on a free loopback port, watched while loaded, stopped after.

pub mod resources;
pub mod session;

pub use session::{Session, Signals};

use crate::gate::Serve;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// Why the service could not be used; each means an untrusted run (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The command could not be started.
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        /// The command.
        command: String,
        /// The cause.
        source: std::io::Error,
    },
    /// It exited before it was ready.
    #[error("`{command}` exited with {status} before it was ready; its last output ({log}):\n{tail}")]
    ExitedEarly {
        /// The command.
        command: String,
        /// Exit status.
        status: String,
        /// Log file.
        log: String,
        /// Last lines of its output.
        tail: String,
    },
    /// It never answered its readiness URL.
    #[error("`{command}` was not ready within {timeout:?}: {url} never answered; its last output ({log}):\n{tail}")]
    NotReady {
        /// The command.
        command: String,
        /// Readiness timeout.
        timeout: Duration,
        /// The URL polled.
        url: String,
        /// Log file.
        log: String,
        /// Last lines of its output.
        tail: String,
    },
    /// Something else (no free port, log file).
    #[error("{0}")]
    Other(String),
}

/// Variables of perfgate's environment a started service does not inherit: the job's tokens and the
/// Actions runtime's credentials. The service is the pull request's own code; these would let it
/// write to the repository, the cache or request OIDC tokens. `pass_env` / `--serve-env NAME`
/// passes one through; `serve.env` sets a value explicitly.
pub const WITHHELD_ENV: &[&str] = &[
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GH_ENTERPRISE_TOKEN",
    "GITHUB_ENTERPRISE_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_RUNTIME_URL",
    "ACTIONS_CACHE_URL",
    "ACTIONS_RESULTS_URL",
    "ACTIONS_ID_TOKEN_REQUEST_*",
];

/// Whether `name` is withheld from a started service (see [`WITHHELD_ENV`]).
pub fn withheld(name: &str) -> bool {
    WITHHELD_ENV.iter().any(|w| match w.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == *w,
    })
}

/// Lines of output kept in memory for error messages.
const TAIL_LINES: usize = 20;

/// A running service; dropped without [`Service::stop`], it kills its whole process group, so no
/// early return, panic or cancelled start leaves it running.
pub struct Service {
    child: Child,
    stopped: bool,
    pid: u32,
    /// Base URL, e.g. `http://127.0.0.1:38211`.
    pub url: String,
    /// The command as run.
    pub command: String,
    /// Its log file.
    pub log: PathBuf,
    tail: Arc<Mutex<VecDeque<String>>>,
    stop_grace: Duration,
}

/// `n` distinct free ports on 127.0.0.1, all bound at once, then released for the services.
///
/// Taking them one at a time releases each before the next is chosen, and the kernel may hand out
/// the same port again: head and base of a duet round were once given one port, and the second
/// service could not listen.
pub fn free_ports(n: usize) -> std::io::Result<Vec<u16>> {
    let held = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    held.iter().map(|l| l.local_addr().map(|a| a.port())).collect()
}

impl Service {
    /// Starts the service on `port` and waits until its readiness path answers (any status below 500);
    /// its output goes to `log`. Cancelling the returned future stops whatever it started.
    pub async fn start(spec: &Serve, port: u16, log: &Path) -> Result<Service, ServeError> {
        let command = spec.command.replace("{port}", &port.to_string());
        let log_file = tokio::fs::File::create(log)
            .await
            .map_err(|e| ServeError::Other(format!("cannot create the service log {}: {e}", log.display())))?;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(&command)
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        cmd.process_group(0);
        // The service gets the open-files limit perfgate was given, not the one it raised for itself.
        // SAFETY: the hook only calls setrlimit(2), which is async-signal-safe.
        #[cfg(unix)]
        unsafe {
            cmd.pre_exec(crate::metrics::health::restore_open_files_limit);
        }
        if let Some(dir) = &spec.cwd {
            cmd.current_dir(dir);
        }
        for (name, _) in std::env::vars_os() {
            if let Some(n) = name.to_str() {
                if withheld(n) && !spec.pass_env.iter().any(|p| p == n) {
                    cmd.env_remove(n);
                }
            }
        }
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|source| ServeError::Spawn {
            command: command.clone(),
            source,
        })?;
        let pid = child.id().unwrap_or(0);
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let sink = Arc::new(tokio::sync::Mutex::new(log_file));
        if let Some(out) = child.stdout.take() {
            tokio::spawn(pump(out, sink.clone(), tail.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pump(err, sink.clone(), tail.clone()));
        }
        let mut service = Service {
            child,
            stopped: false,
            pid,
            url: format!("http://127.0.0.1:{port}"),
            command,
            log: log.to_path_buf(),
            tail,
            stop_grace: spec.stop_grace,
        };
        let ready = spec.ready.as_deref().unwrap_or("/");
        let ready_url = format!("{}{ready}", service.url);
        let deadline = Instant::now() + spec.ready_timeout;
        loop {
            if let Some(status) = service.exit_status() {
                // Give the output pumps a moment to drain the last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Err(ServeError::ExitedEarly {
                    command: service.command.clone(),
                    status,
                    log: service.log.display().to_string(),
                    tail: service.tail(),
                });
            }
            if answers(port, ready).await {
                return Ok(service);
            }
            if Instant::now() >= deadline {
                let err = ServeError::NotReady {
                    command: service.command.clone(),
                    timeout: spec.ready_timeout,
                    url: ready_url,
                    log: service.log.display().to_string(),
                    tail: service.tail(),
                };
                service.stop().await;
                return Err(err);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The service's process id (its process group leader).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The last lines of its output.
    pub fn tail(&self) -> String {
        let t = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        t.iter().map(|l| format!("  | {l}")).collect::<Vec<_>>().join("\n")
    }

    /// Its exit status, once it has exited.
    pub fn exit_status(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(s)) => Some(s.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown status ({e})")),
        }
    }

    /// Resolves when the service exits, with its status.
    pub async fn exited(&mut self) -> String {
        match self.child.wait().await {
            Ok(s) => s.to_string(),
            Err(e) => format!("unknown status ({e})"),
        }
    }

    /// Stops the whole process group: SIGTERM, then SIGKILL after the grace period.
    pub async fn stop(mut self) {
        self.stopped = true;
        if self.exit_status().is_some() {
            signal_group(self.pid, Signal::Kill);
            return;
        }
        signal_group(self.pid, Signal::Term);
        if tokio::time::timeout(self.stop_grace, self.child.wait()).await.is_err() {
            signal_group(self.pid, Signal::Kill);
            let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        } else {
            // Children that ignored the group's SIGTERM go too.
            signal_group(self.pid, Signal::Kill);
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if !self.stopped {
            // No time for a grace period here: the group goes at once.
            signal_group(self.pid, Signal::Kill);
        }
    }
}

/// A signal for a service's process group.
pub(crate) enum Signal {
    Term,
    Kill,
}

/// Sends a signal to the process group `pid` leads.
pub(crate) fn signal_group(pid: u32, sig: Signal) {
    #[cfg(unix)]
    if pid > 0 {
        let sig = match sig {
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
        };
        // SAFETY: kill(2) with a negative pid signals the process group the service leads
        // (created with process_group(0)); it touches no memory of ours.
        unsafe {
            libc::kill(-(pid as i32), sig);
        }
    }
    #[cfg(not(unix))]
    let _ = (pid, sig);
}

/// Whether `GET path` on the port gets an HTTP answer below 500.
async fn answers(port: u16, path: &str) -> bool {
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).await.ok()?;
        let code: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(code < 500)
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// Copies a service's output to its log byte for byte (output that is not UTF-8 included) and keeps
/// its last lines for messages; reads until the service closes the stream, so the pipe stays open as
/// long as the service lives.
async fn pump(
    mut stream: impl AsyncRead + Unpin,
    log: Arc<tokio::sync::Mutex<tokio::fs::File>>,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut line: Vec<u8> = Vec::new();
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let mut f = log.lock().await;
            let _ = f.write_all(&buf[..n]).await;
        }
        for &b in &buf[..n] {
            if b == b'\n' {
                push_tail(&tail, &line);
                line.clear();
            } else if line.len() < 4096 {
                line.push(b);
            }
        }
    }
    if !line.is_empty() {
        push_tail(&tail, &line);
    }
    let _ = log.lock().await.flush().await;
}

fn push_tail(tail: &Mutex<VecDeque<String>>, line: &[u8]) {
    let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
    if t.len() == TAIL_LINES {
        t.pop_front();
    }
    t.push_back(String::from_utf8_lossy(line).trim_end_matches('\r').to_string());
}

/// A log path beside `near` (the results file) or in the temp folder.
pub fn log_path(near: Option<&Path>, name: &str) -> PathBuf {
    // Only beside a results file in a folder of files: not beside `-`, a device or a FIFO (`/dev`).
    let regular = |p: &&Path| p.as_os_str() != "-" && std::fs::metadata(p).map_or(true, |m| m.is_file());
    let dir = near
        .filter(regular)
        .and_then(|p| p.parent())
        // A bare file name's folder is the working directory.
        .map(|d| if d.as_os_str().is_empty() { Path::new(".") } else { d })
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    dir.join(format!("perfgate-{name}-{}.log", std::process::id()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ports_taken_together_are_distinct() {
        // Bound and released one at a time, 200 picks repeat a port more often than not (4 repeats in
        // 200 seen here): the kernel hands a released port out again.
        let mut ports = super::free_ports(200).unwrap();
        assert_eq!(ports.len(), 200);
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 200, "a port was given twice");
        assert!(ports.iter().all(|p| *p > 0));
    }
}
