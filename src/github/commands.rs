//! Workflow commands (`::error`, `::warning`, `::group::`, `::add-mask::`) and step outputs, when
//! running under GitHub Actions.

use std::io::Write;

/// At most this many annotations of one kind: GitHub shows no more per step.
pub const MAX_ANNOTATIONS: usize = 10;

/// Whether this process runs as a GitHub Actions step.
pub fn in_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// Escapes a command's message (`%`, CR, LF).
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a command property value (also `:` and `,`).
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// An annotation that points at a line of a file: `::error file=F,line=L,title=T::message`.
pub fn annotation(level: &str, file: &str, line: u32, title: &str, message: &str) -> String {
    format!(
        "::{level} file={},line={line},title={}::{}",
        escape_property(file),
        escape_property(title),
        escape_data(message)
    )
}

/// Hides a secret value in the job's logs from now on.
pub fn mask(value: &str) -> Option<String> {
    (!value.trim().is_empty()).then(|| format!("::add-mask::{}", escape_data(value)))
}

/// Appends `name=value` outputs to the file `GITHUB_OUTPUT` names (multi-line values use a delimiter).
pub fn set_outputs(outputs: &[(&str, String)]) -> Result<(), String> {
    let Some(path) = std::env::var_os("GITHUB_OUTPUT").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let mut text = String::new();
    for (name, value) in outputs {
        if value.contains('\n') {
            let delim = format!("perfgate_{}", std::process::id());
            text.push_str(&format!("{name}<<{delim}\n{value}\n{delim}\n"));
        } else {
            text.push_str(&format!("{name}={value}\n"));
        }
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("cannot append to GITHUB_OUTPUT ({}): {e}", path.to_string_lossy()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_the_toolkit() {
        assert_eq!(escape_data("50% a\nb"), "50%25 a%0Ab");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
        assert_eq!(
            annotation("error", "gates/p.yaml", 98, "GET: avg < 100ms", "measured 120 ms"),
            "::error file=gates/p.yaml,line=98,title=GET%3A avg < 100ms::measured 120 ms"
        );
        assert_eq!(mask(""), None);
        assert_eq!(mask("s3cr%t").unwrap(), "::add-mask::s3cr%25t");
    }
}
