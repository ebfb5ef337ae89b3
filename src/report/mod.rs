//! Reports: renderings of results and verdict for people and tools; one module per format.

pub mod chart;
pub mod csv;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod row;
pub mod terminal;

use crate::metrics::results::{Results, Stats};
use crate::verdict::compare::Comparison;
use crate::verdict::{fmt_value, Check, Outcome, Verdict};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What every format renders from.
pub struct Input<'a> {
    /// The run.
    pub results: &'a Results,
    /// Its verdict.
    pub verdict: &'a Verdict,
    /// The baseline it was compared with (a results file, or the base side of a duet), if any.
    pub base: Option<&'a Results>,
    /// The gate file as named for annotations (`file` attributes).
    pub gate_file: &'a str,
}

/// Why a run has no results, for the reports that still say so.
pub struct Failed<'a> {
    /// The gate's name.
    pub gate: &'a str,
    /// The gate file as named for annotations.
    pub gate_file: &'a str,
    /// The error, as printed.
    pub reason: &'a str,
}

/// One report format.
pub trait Format: Send + Sync {
    /// Human name for messages.
    fn name(&self) -> &'static str;
    /// The file's bytes.
    fn render(&self, input: &Input) -> Result<Vec<u8>, String>;
    /// Writes the file's bytes to `out`; the default renders them whole first, a format whose file
    /// can be large writes as it goes. An error says what went wrong, rendering or writing.
    fn render_to(&self, input: &Input, out: &mut dyn Write) -> Result<(), String> {
        let bytes = self
            .render(input)
            .map_err(|e| format!("cannot render the {}: {e}", self.name()))?;
        out.write_all(&bytes).map_err(|e| e.to_string())
    }
    /// The file's bytes for a run that produced no results; None: this format is not written then.
    fn render_failed(&self, _failed: &Failed) -> Option<Result<Vec<u8>, String>> {
        None
    }
}

/// Where each report goes; None leaves it out.
#[derive(Debug, Clone, Default)]
pub struct Paths {
    /// Results JSON.
    pub out: Option<PathBuf>,
    /// JUnit XML.
    pub junit: Option<PathBuf>,
    /// Its dialect.
    pub junit_flavor: junit::Flavor,
    /// Markdown summary.
    pub summary: Option<PathBuf>,
    /// HTML report.
    pub html: Option<PathBuf>,
    /// Prefix of Locust's CSV files.
    pub csv: Option<PathBuf>,
}

/// The requested report files; checked before the run, written after it.
#[derive(Default)]
pub struct Reports {
    outputs: Vec<(Box<dyn Format>, PathBuf)>,
    /// The flag that named each output's path, in the same order.
    flags: Vec<&'static str>,
}

impl Reports {
    /// Reports for the paths given: `--out`, `--junit`, `--summary`, `--html` and `--csv PREFIX`.
    pub fn new(paths: &Paths) -> Reports {
        let (out, junit, summary, html, csv) = (
            paths.out.as_deref(),
            paths.junit.as_deref(),
            paths.summary.as_deref(),
            paths.html.as_deref(),
            paths.csv.as_deref(),
        );
        let mut r = Reports::default();
        if let Some(p) = html {
            r.push(Box::new(html::Html), p.to_path_buf(), "--html");
        }
        if let Some(prefix) = csv {
            let with = |suffix: &str| {
                let mut s = prefix.as_os_str().to_owned();
                s.push(suffix);
                PathBuf::from(s)
            };
            r.push(Box::new(csv::StatsCsv), with("_stats.csv"), "--csv");
            r.push(Box::new(csv::HistoryCsv), with("_stats_history.csv"), "--csv");
            r.push(Box::new(csv::FailuresCsv), with("_failures.csv"), "--csv");
            r.push(Box::new(csv::ExceptionsCsv), with("_exceptions.csv"), "--csv");
        }
        if let Some(p) = out {
            r.push(Box::new(json::Json), p.to_path_buf(), "--out");
        }
        if let Some(p) = junit {
            r.push(
                Box::new(junit::Junit {
                    flavor: paths.junit_flavor,
                }),
                p.to_path_buf(),
                "--junit",
            );
        }
        if let Some(p) = summary {
            r.push(Box::new(markdown::Markdown), p.to_path_buf(), "--summary");
        }
        if r.outputs.iter().any(|(_, p)| is_stdout(p)) {
            crate::stdout_is_a_report();
        }
        r
    }

    fn push(&mut self, format: Box<dyn Format>, path: PathBuf, flag: &'static str) {
        self.outputs.push((format, path));
        self.flags.push(flag);
    }

    /// Each report's path and the flag that named it.
    pub fn paths(&self) -> impl Iterator<Item = (&'static str, &Path)> {
        self.flags
            .iter()
            .copied()
            .zip(self.outputs.iter().map(|(_, p)| p.as_path()))
    }

    /// Checks every path is writable and no two reports share one, so a long run never ends without
    /// its reports, nor with one written over another.
    pub fn check(&self) -> Result<(), String> {
        let paths: Vec<_> = self.paths().collect();
        for (i, (flag, p)) in paths.iter().enumerate() {
            if let Some((other, _)) = paths[..i].iter().find(|(_, q)| same_file(p, q)) {
                return Err(format!(
                    "{other} and {flag} both write {}: one report would overwrite the other; give each its own path",
                    p.display()
                ));
            }
        }
        for (flag, p) in self.paths() {
            check_writable(p).map_err(|e| format!("{flag} {e}"))?;
        }
        Ok(())
    }

    /// Renders and writes every report (atomically where it is a regular file), each on its own: one that fails does not stop the
    /// others. The results JSON goes first, being the one the next run needs.
    pub fn write(&self, input: &Input) -> Written {
        let mut w = Written::default();
        let mut order: Vec<&(Box<dyn Format>, PathBuf)> = self.outputs.iter().collect();
        order.sort_by_key(|(f, _)| f.name() != json::Json.name());
        for (format, path) in order {
            let mut why = None;
            let written = write_report_with(path, &mut |out| {
                format.render_to(input, out).map_err(|e| {
                    why = Some(e.clone());
                    std::io::Error::other(e)
                })
            });
            let result = written.map_err(|e| match why.take() {
                Some(w) if w.starts_with("cannot render") => w,
                _ => format!("cannot write the {} to {}: {e}", format.name(), path.display()),
            });
            match result {
                Ok(()) => w.done.push(format!("{} → {}", format.name(), path.display())),
                Err(e) => w.failed.push(e),
            }
        }
        w
    }
}

impl Reports {
    /// Writes what a run without results can still say (JUnit: one failing testcase; the markdown
    /// summary and the HTML report: the reason), so a publisher shows a red test, not a missing file.
    pub fn write_failed(&self, failed: &Failed) -> Written {
        let mut w = Written::default();
        for (format, path) in &self.outputs {
            let Some(rendered) = format.render_failed(failed) else {
                continue;
            };
            let result = rendered
                .map_err(|e| format!("cannot render the {}: {e}", format.name()))
                .and_then(|bytes| {
                    write_report(path, &bytes)
                        .map_err(|e| format!("cannot write the {} to {}: {e}", format.name(), path.display()))
                });
            match result {
                Ok(()) => w.done.push(format!("{} → {}", format.name(), path.display())),
                Err(e) => w.failed.push(e),
            }
        }
        w
    }
}

/// What [`Reports::write`] wrote and what it could not.
#[derive(Debug, Default)]
pub struct Written {
    /// `format → path` of each report written.
    pub done: Vec<String>,
    /// Why each other report was not written.
    pub failed: Vec<String>,
}

/// One plain-text stats line for a request name.
pub fn stats_line(name: &str, s: &Stats, secs: f64) -> String {
    use row::ms;
    let v = row::StatsRow::of(name, s, secs);
    let latencies: Vec<String> = v
        .latencies_ms()
        .iter()
        .map(|(label, x)| format!("{label} {} ms", ms(*x)))
        .collect();
    format!(
        "{name}: {} requests, {} failures, {}, {:.2} req/s",
        v.requests,
        v.failures,
        latencies.join(", "),
        v.rps
    )
}

/// A verdict's checks in report order: failures, then checks without data, then marginal ones, then
/// passes.
pub fn checks_failing_first(v: &Verdict) -> Vec<&Check> {
    let mut checks: Vec<_> = v.checks.iter().collect();
    checks.sort_by_key(|c| match c.outcome {
        Outcome::Fail => 0,
        Outcome::NoData => 1,
        Outcome::Marginal => 2,
        Outcome::Pass => 3,
    });
    checks
}

/// The users of each scenario, e.g. `Browse 10, Buy 2`.
pub fn users_per_scenario(r: &Results) -> String {
    let per: Vec<String> = r
        .load
        .users_per_scenario
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    per.join(", ")
}

/// The load in words: `N users (A n, B m)`, or for the open model its arrival rates and pool.
pub fn load_words(r: &Results) -> String {
    let per = users_per_scenario(r);
    let share = match (&r.load.shard, r.load.shards.len()) {
        (Some(s), _) => format!(", shard {}/{} of run {}", s.index, s.count, s.run_id),
        (None, 0) => String::new(),
        (None, 1) => ", merged from 1 shard".to_string(),
        (None, n) => format!(", merged from {n} shards"),
    };
    if r.load.model != crate::metrics::results::LoadModel::Open {
        return format!("{} users ({per}){share}", r.load.users);
    }
    let rates: Vec<(f64, f64)> = r.load.stages.iter().map(|s| (s.from_rate, s.to_rate)).collect();
    format!(
        "{} on up to {} connections ({per}){share}",
        crate::gate::arrivals_text(&rates),
        r.load.users
    )
}

/// A value with its unit, or `–` when there is none.
pub fn value_or_dash(x: Option<f64>, unit: &str) -> String {
    x.map(|x| format!("{}{unit}", fmt_value(x)))
        .unwrap_or_else(|| "–".into())
}

/// A comparison's change from base to head in percent, or `–`.
pub fn delta_text(c: &Comparison) -> String {
    c.delta_pct.map(|d| format!("{d:+.1}%")).unwrap_or_else(|| "–".into())
}

/// A comparison's interval of the change, signed as the metric moves from base to head (`+` = head
/// higher, for every metric), or `–`.
pub fn interval_text(c: &Comparison) -> String {
    c.worse_ci
        .map(|(lo, hi)| if c.higher_is_worse { (lo, hi) } else { (-hi, -lo) })
        .map(|(lo, hi)| format!("[{lo:+.1}{u}, {hi:+.1}{u}]", u = c.ci_unit))
        .unwrap_or_else(|| "–".into())
}

/// What a comparison could see: `detects +4.1% or more (12 blocks of about 2 s)`, when its interval came
/// from time blocks.
pub fn sensitivity_text(c: &Comparison) -> Option<String> {
    let (blocks, secs) = c.blocks?;
    let mde = c.min_detectable?;
    let unit = match c.rounds {
        Some(_) => format!("{blocks} rounds of {secs} s, each a fresh pair of processes"),
        None => format!("{blocks} blocks of about {secs} s"),
    };
    Some(format!("detects {mde:+.1}{} or more at 80 % power ({unit})", c.ci_unit))
}

/// Whether two paths name the same file: the same text, the same place once made absolute (`./r.json`
/// and `DIR/r.json`), or one file reached by two names (links); `-` (standard output) is one place.
pub fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    if is_stdout(a) || is_stdout(b) {
        return false;
    }
    let normal = |p: &Path| -> Option<PathBuf> {
        // A link is where it points, even when that does not exist yet (a report would create it).
        let mut p = p.to_path_buf();
        for _ in 0..8 {
            let Ok(target) = std::fs::read_link(&p) else { break };
            p = match p.parent() {
                Some(dir) if target.is_relative() => dir.join(target),
                _ => target,
            };
        }
        let abs = std::path::absolute(&p).ok()?;
        let mut out = PathBuf::new();
        for c in abs.components() {
            match c {
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir => {
                    out.pop();
                }
                c => out.push(c),
            }
        }
        // The folder as the file system resolves it (links included), the name as given.
        let dir = out.parent().and_then(|d| std::fs::canonicalize(d).ok());
        match (dir, out.file_name()) {
            (Some(d), Some(n)) => Some(d.join(n)),
            _ => Some(out),
        }
    };
    if let (Some(x), Some(y)) = (normal(a), normal(b)) {
        if x == y {
            return true;
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    false
}

/// Whether a report path means standard output (`-`).
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Writes a report: `-` to standard output; a device, FIFO or symbolic link (its target) in place,
/// so `/dev/stdout` stays a link and `/dev/full` a device whose "no space left" is an error; a
/// regular file or a new path atomically ([`write_atomic`]).
pub fn write_report(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_report_with(path, &mut |out| out.write_all(bytes))
}

/// [`write_report`] of what `fill` writes, without holding the whole file in memory.
pub fn write_report_with(
    path: &Path,
    fill: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if is_stdout(path) {
        let mut out = std::io::stdout().lock();
        fill(&mut out)?;
        return out.flush();
    }
    let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let special = std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir());
    if !(link || special) {
        return write_atomic_with(path, fill);
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    {
        let mut w = std::io::BufWriter::new(&mut f);
        fill(&mut w)?;
        w.flush()?;
    }
    if f.metadata().is_ok_and(|m| m.is_file()) {
        f.sync_all()?;
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, synced, then renamed over it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, &mut |out| out.write_all(bytes))
}

/// [`write_atomic`] of what `fill` writes.
pub fn write_atomic_with(
    path: &Path,
    fill: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        {
            let mut w = std::io::BufWriter::new(&mut f);
            fill(&mut w)?;
            w.flush()?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Checks before a long run that `path` can be written: its folder exists and accepts a file.
pub fn check_writable(path: &Path) -> Result<(), String> {
    if is_stdout(path) {
        return Ok(());
    }
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
        || std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
    {
        // Written in place (a device, a FIFO, a link's target): it must accept writing itself.
        return writable_in_place(path);
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if path.is_dir() {
        return Err(format!("{}: is a folder; give a file path", path.display()));
    }
    if !dir.is_dir() {
        return Err(format!(
            "{}: the folder {} does not exist; create it first (mkdir -p {}) or give a path in a folder that exists",
            path.display(),
            dir.display(),
            dir.display()
        ));
    }
    let probe = dir.join(format!(".perfgate-probe.{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(format!("{}: cannot write in {}: {e}", path.display(), dir.display())),
    }
}

/// Whether an existing device, FIFO or link target can be opened for writing (access(2), which
/// does not block on a FIFO without a reader); a dangling link needs its target's folder.
fn writable_in_place(path: &Path) -> Result<(), String> {
    if std::fs::metadata(path).is_err() {
        let target = std::fs::read_link(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let target = match path.parent() {
            Some(dir) => dir.join(target),
            None => target,
        };
        return check_writable(&target).map_err(|e| format!("{} (a link to {e})", path.display()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| format!("{}: the path contains a NUL byte", path.display()))?;
        // SAFETY: access(2) reads a NUL-terminated path that lives through the call.
        if unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0 {
            return Err(format!(
                "{}: cannot write to it: {}",
                path.display(),
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_link_to_a_file_not_yet_written_is_that_file() {
        let dir = std::env::temp_dir().join(format!("perfgate-same-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, link) = (dir.join("a.json"), dir.join("alink.json"));
        std::os::unix::fs::symlink("a.json", &link).unwrap();
        assert!(same_file(&a, &link) && same_file(&link, &a));
        assert!(!same_file(&dir.join("b.json"), &link));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("perfgate-aw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("r.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        assert!(check_writable(&p).is_ok());
        assert!(check_writable(&dir.join("missing/r.json")).is_err());
        assert!(check_writable(&dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
