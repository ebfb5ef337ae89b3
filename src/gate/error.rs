//! Gate-file diagnostics: `file:line:column`, what was expected, a snippet and a suggestion.

use std::fmt;

/// A position in the gate file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub col: u32,
}

impl Pos {
    /// The position of a spanned YAML value.
    pub fn of<T>(s: &serde_saphyr::Spanned<T>) -> Pos {
        Pos {
            line: s.referenced.line() as u32,
            col: s.referenced.column() as u32,
        }
    }
}

/// One problem in a gate file.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Where it is (None: the file as a whole).
    pub pos: Option<Pos>,
    /// What is wrong and what was expected.
    pub message: String,
    /// How to fix it, when we can tell.
    pub help: Option<String>,
}

/// Why a gate file could not be used; renders every problem with file:line:column.
#[derive(Debug, Clone)]
pub struct GateError {
    /// The file as the user named it.
    pub file: String,
    /// The file's text, for snippets (empty when it could not be read).
    pub source: String,
    /// The problems found, in file order.
    pub problems: Vec<Problem>,
}

impl GateError {
    /// A single problem.
    pub fn one(file: &str, source: &str, pos: Option<Pos>, message: String, help: Option<String>) -> Self {
        GateError {
            file: file.to_string(),
            source: source.to_string(),
            problems: vec![Problem { pos, message, help }],
        }
    }
}

impl std::error::Error for GateError {}

impl fmt::Display for GateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match p.pos {
                Some(pos) => write!(f, "error: {}:{}:{}: {}", self.file, pos.line, pos.col, p.message)?,
                None => write!(f, "error: {}: {}", self.file, p.message)?,
            }
            if let Some(pos) = p.pos {
                if let Some(text) = self.source.lines().nth(pos.line.saturating_sub(1) as usize) {
                    let text = redact_line(text);
                    let text = text.as_ref();
                    let num = pos.line.to_string();
                    let pad = " ".repeat(num.len());
                    let caret_col = text
                        .chars()
                        .take(pos.col.saturating_sub(1) as usize)
                        .map(|c| if c == '\t' { '\t' } else { ' ' })
                        .collect::<String>();
                    write!(f, "\n{pad} |\n{num} | {text}\n{pad} | {caret_col}^")?;
                }
            }
            if let Some(help) = &p.help {
                write!(f, "\n  = help: {help}")?;
            }
        }
        Ok(())
    }
}

/// Headers whose values are secrets wherever they appear.
pub const SECRET_HEADERS: [&str; 4] = ["authorization", "proxy-authorization", "cookie", "x-api-key"];

/// A gate-file line with the value of a secret header (`Authorization: ...`) replaced, for snippets.
pub fn redact_line(line: &str) -> std::borrow::Cow<'_, str> {
    let lower = line.to_ascii_lowercase();
    for h in SECRET_HEADERS {
        if let Some(i) = lower.find(h) {
            if let Some(colon) = line[i + h.len()..].find(':') {
                let cut = i + h.len() + colon + 1;
                if line[i + h.len()..cut - 1].trim().trim_matches(['"', '\'']).is_empty() {
                    return format!("{} <redacted>", &line[..cut]).into();
                }
            }
        }
    }
    line.into()
}

/// The candidate closest to `word` when it is a plausible misspelling of it.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(&str, f64)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(&word.to_ascii_lowercase(), &c.to_ascii_lowercase());
        if score > 0.8 && best.is_none_or(|(_, b)| score > b) {
            best = Some((c, score));
        }
    }
    best.map(|(c, _)| c)
}

/// Turns a serde-saphyr error into a problem, adding a suggestion for a misspelt key.
pub fn from_yaml(err: &serde_saphyr::Error) -> Problem {
    let pos = err.location().map(|l| Pos {
        line: l.line() as u32,
        col: l.column() as u32,
    });
    let raw = err.without_snippet().to_string();
    let mut message = strip_location_prefix(&raw).to_string();
    let mut help = None;
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((key, expected)) = rest.split_once("`, expected ") {
            let options: Vec<&str> = expected
                .trim_start_matches("one of ")
                .split(", ")
                .map(|s| s.trim_matches('`'))
                .collect();
            help = Some(match closest(key, options.iter().copied()) {
                Some(c) => format!("did you mean `{c}`?"),
                None => format!("valid keys here: {}", options.join(", ")),
            });
            message = format!("unknown key `{key}`");
        }
    } else if message.starts_with("missing field `") {
        message = message.replacen("missing field", "missing key", 1);
    } else if let Some(ty) = message.strip_prefix("invalid ") {
        if matches!(ty, "u32" | "u64" | "u16" | "i64" | "usize") {
            message = "expected a whole number".into();
        } else if matches!(ty, "f64" | "f32") {
            message = "expected a number".into();
        }
    }
    Problem { pos, message, help }
}

fn strip_location_prefix(s: &str) -> &str {
    let s = s.strip_prefix("error: ").unwrap_or(s);
    // serde-saphyr may also end its message with ` at line N, column M`.
    let s = match s.rfind(" at line ") {
        Some(i) if s[i..].contains(", column ") => &s[..i],
        _ => s,
    };
    if let Some(rest) = s.strip_prefix("line ") {
        if let Some(idx) = rest.find(": ") {
            let head = &rest[..idx];
            if head.contains("column") {
                return &rest[idx + 2..];
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_misses_only() {
        assert_eq!(closest("uesrs", ["users", "spawn_rate", "run_time"]), Some("users"));
        assert_eq!(closest("think", ["think_time", "weight"]), Some("think_time"));
        assert_eq!(closest("zzz", ["users", "spawn_rate"]), None);
    }

    #[test]
    fn redacts_secret_headers_in_snippets() {
        assert_eq!(
            redact_line("  Authorization: Bearer abc123"),
            "  Authorization: <redacted>"
        );
        assert_eq!(
            redact_line("  headers: {Cookie: sid=42}"),
            "  headers: {Cookie: <redacted>"
        );
        assert_eq!(redact_line("  users: 10"), "  users: 10");
    }

    #[test]
    fn renders_file_line_column_and_caret() {
        let e = GateError::one(
            "g.yaml",
            "a: 1\nload:\n  uesrs: 10\n",
            Some(Pos { line: 3, col: 3 }),
            "unknown key `uesrs`".into(),
            Some("did you mean `users`?".into()),
        );
        let text = e.to_string();
        assert!(text.starts_with("error: g.yaml:3:3: unknown key `uesrs`"), "{text}");
        assert!(text.contains("3 |   uesrs: 10\n  |   ^"), "{text}");
        assert!(text.contains("help: did you mean `users`?"), "{text}");
    }
}
