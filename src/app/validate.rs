//! `perfgate validate`: check a gate file and print what it would run, with every default it applied.

use super::{console, Error, Outcome};
use crate::gate::Gate;
use std::path::Path;

/// Validates the gate file at `path`: its problems are an input error (exit 2); a valid gate prints
/// its outline, its effective timeout and defaults, and a warning per `${env:NAME}` that is unset
/// here (a run refuses those, exit 2).
pub fn validate(path: &Path) -> Result<Outcome, Error> {
    let g = Gate::load(path)?;
    outln!("{}: valid gate `{}`", g.file, g.name);
    console::print_outline(&g);
    let source = crate::input::read_text(path, crate::input::GATE_MAX).unwrap_or_default();
    for w in unset_env_warnings(&g, &source, |name| std::env::var_os(name).is_some()) {
        errln!("{w}");
    }
    for w in refusal_warnings(&g, crate::gate::today_utc()) {
        errln!("{w}");
    }
    Ok(Outcome::Pass)
}

/// One `warning: ...` per thing `perfgate run` would refuse in a valid gate: an `accept:` entry past
/// its `until` date (every run), an `rps` budget (a duet).
pub fn refusal_warnings(g: &Gate, today: (i32, u32, u32)) -> Vec<String> {
    let mut out: Vec<String> = g
        .regression
        .expired_acceptances(&g.file, today)
        .into_iter()
        .map(|e| {
            format!(
                "warning: {e}: `perfgate run` would refuse the gate (exit 2)\n  = help: {}",
                super::EXPIRED_HELP
            )
        })
        .collect();
    if let Some(why) = g.regression.duet_refusal(&g.file) {
        out.push(format!(
            "warning: {why} (a duet with --baseline-host or --baseline-serve would refuse the gate, exit 2)"
        ));
    }
    out
}

/// One `warning: FILE:LINE:COL: ...` per environment variable the gate reads that `is_set` says
/// is not set, at its first use in `source`.
pub fn unset_env_warnings(g: &Gate, source: &str, is_set: impl Fn(&str) -> bool) -> Vec<String> {
    g.env_vars()
        .into_iter()
        .filter(|name| !is_set(name))
        .map(|name| {
            let needle = format!("${{env:{name}}}");
            let at = source.lines().enumerate().find_map(|(i, l)| {
                l.find(&needle)
                    .map(|c| format!("{}:{}:{}", g.file, i + 1, l[..c].chars().count() + 1))
            });
            format!(
                "warning: {}: `{needle}` is not set in this environment: `perfgate run` would refuse the gate (exit 2)\n  = help: export {name}=... before the run (in CI: from a secret)",
                at.unwrap_or_else(|| g.file.clone())
            )
        })
        .collect()
}
