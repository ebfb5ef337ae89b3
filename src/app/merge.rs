//! `perfgate merge`: the shard files of one sharded run made one results file, exactly.

use super::{Error, Outcome};
use crate::metrics::merge::merge as merge_results;
use crate::metrics::results::Results;
use crate::report;
use std::path::{Path, PathBuf};

/// Reads every shard file, merges them (refusing missing, duplicate and foreign shards) and writes
/// the merged results to `out`, which `report`, `compare`, `comment` and `--baseline` take as they
/// are.
pub fn merge(shards: &[PathBuf], out: &Path) -> Result<Outcome, Error> {
    report::check_writable(out).map_err(|e| Error::input(format_args!("--out {e}")))?;
    let mut files = Vec::with_capacity(shards.len());
    for p in shards {
        if report::same_file(p, out) {
            return Err(Error::input(format_args!(
                "--out {} is also a shard file: write the merged results elsewhere",
                p.display()
            )));
        }
        let r = Results::read(p).map_err(Error::input)?;
        files.push((p.display().to_string(), r));
    }
    let merged = merge_results(files).map_err(|e| {
        Error::Input(format!(
            "error: {e}\n  = help: give every shard file of one run once (perfgate run --shard I/N writes them)"
        ))
    })?;
    let bytes = serde_json::to_vec_pretty(&merged).map_err(|e| Error::Reports(format!("error: {e}")))?;
    report::write_report(out, &bytes)
        .map_err(|e| Error::Reports(format!("error: cannot write {}: {e}", out.display())))?;
    let total = merged.total(true);
    errln!(
        "merged {} of run {}: {} users, {} requests, {} failures → {}",
        match merged.load.shards.len() {
            1 => "1 shard".to_string(),
            n => format!("{n} shards"),
        },
        shards_run_id(shards).unwrap_or_default(),
        merged.load.users,
        total.requests,
        total.failures,
        out.display()
    );
    if let Some(why) = &merged.load.generator.untrusted {
        errln!("warning: the merged run cannot be trusted: {why}");
    }
    Ok(Outcome::Pass)
}

/// The run id the shard files carry (for the message).
fn shards_run_id(shards: &[PathBuf]) -> Option<String> {
    let r = Results::read(shards.first()?).ok()?;
    r.load.shard.map(|s| s.run_id)
}
