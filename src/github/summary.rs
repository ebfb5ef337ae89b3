//! The job's step summary: markdown appended to the file `GITHUB_STEP_SUMMARY` names.

use std::io::Write;

/// Appends markdown to the file named by `GITHUB_STEP_SUMMARY`, when that is set; says why it could not.
pub fn append_step_summary(markdown: &str) -> Result<bool, String> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(false);
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("cannot open GITHUB_STEP_SUMMARY ({}): {e}", path.to_string_lossy()))?;
    f.write_all(markdown.as_bytes())
        .and_then(|_| f.write_all(b"\n"))
        .map_err(|e| format!("cannot append to GITHUB_STEP_SUMMARY: {e}"))?;
    Ok(true)
}
