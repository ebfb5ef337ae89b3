//! The job's step summary: markdown appended to the file `GITHUB_STEP_SUMMARY` names.

use std::io::Write;
use std::path::Path;

/// GitHub's limit on one step's summary: a larger one is not shown at all.
pub const MAX_SUMMARY_BYTES: usize = 1024 * 1024;

/// Appends markdown to the file named by `GITHUB_STEP_SUMMARY`, when that is set; says why it could not.
pub fn append_step_summary(markdown: &str) -> Result<bool, String> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(false);
    };
    append_capped(Path::new(&path), markdown, MAX_SUMMARY_BYTES).map(|()| true)
}

/// Appends `markdown` to `path`, cutting whole lines (and saying so) so the file stays within `max`
/// bytes, since GitHub drops a step summary past its limit.
pub fn append_capped(path: &Path, markdown: &str, max: usize) -> Result<(), String> {
    let shown = path.display();
    let used = std::fs::metadata(path).map_or(0, |m| m.len() as usize);
    let room = max.saturating_sub(used + 1);
    let text = if markdown.len() <= room {
        markdown.to_string()
    } else {
        let lines: Vec<&str> = markdown.lines().collect();
        let note = |left: usize| {
            format!("\n_… {left} more lines cut: GitHub shows a step summary only up to 1 MiB; the `--summary` file and the uploaded reports have everything._\n")
        };
        if room < note(lines.len()).len() {
            return Err(format!(
                "GITHUB_STEP_SUMMARY ({shown}) is already at GitHub's 1 MiB limit: perfgate's summary was not added"
            ));
        }
        let mut out = String::new();
        for (i, line) in lines.iter().enumerate() {
            if out.len() + line.len() + 1 + note(lines.len() - i).len() > room {
                out.push_str(&note(lines.len() - i));
                break;
            }
            out.push_str(line);
            out.push('\n');
        }
        out
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open GITHUB_STEP_SUMMARY ({shown}): {e}"))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.write_all(b"\n"))
        .map_err(|e| format!("cannot append to GITHUB_STEP_SUMMARY: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_past_the_limit_is_cut_by_lines_and_says_so() {
        let dir = std::env::temp_dir().join(format!("perfgate-summary-cap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("summary.md");
        let _ = std::fs::remove_file(&p);
        let big: String = (0..5000)
            .map(|i| format!("| row {i} | {} |\n", "x".repeat(40)))
            .collect();
        append_capped(&p, &big, 64 * 1024).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.len() <= 64 * 1024, "{}", text.len());
        assert!(text.contains("more lines cut: GitHub shows a step summary only up to 1 MiB"));
        assert!(text
            .lines()
            .all(|l| l.starts_with("| row") || l.is_empty() || l.starts_with("_…")));
        // Full: nothing more is appended, and the caller is told.
        assert!(append_capped(&p, &big, 64 * 1024).is_err());
        // Small text fits untouched.
        let q = dir.join("small.md");
        let _ = std::fs::remove_file(&q);
        append_capped(&q, "hello", 64 * 1024).unwrap();
        assert_eq!(std::fs::read_to_string(&q).unwrap(), "hello\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
