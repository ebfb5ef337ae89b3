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

/// Most problems one diagnostic shows; the rest are counted (a file with more has one mistake that
/// caused the others, or is not a gate file at all).
pub const MAX_SHOWN: usize = 20;

impl fmt::Display for GateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().take(MAX_SHOWN).enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let message = shorten_quoted(&p.message);
            match p.pos {
                Some(pos) => write!(f, "error: {}:{}:{}: {message}", self.file, pos.line, pos.col)?,
                None => write!(f, "error: {}: {message}", self.file)?,
            }
            if let Some(pos) = p.pos {
                if let Some(text) = self.source.lines().nth(pos.line.saturating_sub(1) as usize) {
                    let text = redact_line(text);
                    let (text, col) = snippet_window(text.as_ref(), pos.col.saturating_sub(1) as usize);
                    let num = pos.line.to_string();
                    let pad = " ".repeat(num.len());
                    let caret_col = text
                        .chars()
                        .take(col)
                        .map(|c| if c == '\t' { '\t' } else { ' ' })
                        .collect::<String>();
                    write!(f, "\n{pad} |\n{num} | {text}\n{pad} | {caret_col}^")?;
                }
            }
            if let Some(help) = &p.help {
                write!(f, "\n  = help: {}", shorten_quoted(help))?;
            }
        }
        let n = self.problems.len();
        if n > MAX_SHOWN {
            write!(f, "\n\n{n} problems in {}; the first {MAX_SHOWN} are shown", self.file)?;
        } else if n > 1 {
            write!(f, "\n\n{n} problems in {}", self.file)?;
        }
        Ok(())
    }
}

/// Most characters of a `quoted` value a message repeats.
const QUOTED_CHARS: usize = 60;

/// `text` with every backtick-quoted value longer than [`QUOTED_CHARS`] cut to its start and its
/// length (a megabyte of value is shown once, in the snippet's window, not in the message).
fn shorten_quoted(text: &str) -> std::borrow::Cow<'_, str> {
    let parts: Vec<&str> = text.split('`').collect();
    if parts
        .iter()
        .skip(1)
        .step_by(2)
        .all(|q| q.chars().count() <= QUOTED_CHARS)
    {
        return text.into();
    }
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push('`');
        }
        let n = part.chars().count();
        if i % 2 == 1 && n > QUOTED_CHARS && i + 1 < parts.len() {
            out.extend(part.chars().take(QUOTED_CHARS));
            out.push_str(&format!("... ({n} characters)"));
        } else {
            out.push_str(part);
        }
    }
    out.into()
}

/// Whether YAML text refers to an anchor (`*name` after a space, `[`, `,` or `:`).
fn has_alias(source: &str) -> bool {
    let b = source.as_bytes();
    b.windows(3)
        .any(|w| matches!(w[0], b' ' | b'[' | b',' | b':' | b'-') && w[1] == b'*' && w[2].is_ascii_alphanumeric())
}

/// Characters of a source line a snippet shows at most, around the problem's column.
const SNIPPET_CHARS: usize = 120;

/// The part of a long line around column `col` (from 0), with `…` where it was cut, and the column
/// within that part: a 500 KB line is not echoed whole.
fn snippet_window(line: &str, col: usize) -> (String, usize) {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= SNIPPET_CHARS {
        return (line.to_string(), col);
    }
    let col = col.min(chars.len());
    let start = col.saturating_sub(SNIPPET_CHARS / 2);
    let end = (start + SNIPPET_CHARS).min(chars.len());
    let mut out = String::new();
    let mut at = col - start;
    if start > 0 {
        out.push('…');
        at += 1;
    }
    out.extend(&chars[start..end]);
    if end < chars.len() {
        out.push('…');
    }
    (out, at)
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
    let sorted = |s: &str| {
        let mut v: Vec<char> = s.to_ascii_lowercase().chars().collect();
        v.sort_unstable();
        v
    };
    for c in candidates {
        // The same letters in another order (GTE, agv) is a typo too.
        let anagram = word.len() > 1 && sorted(word) == sorted(c);
        let score = if anagram {
            0.99
        } else {
            strsim::jaro_winkler(&word.to_ascii_lowercase(), &c.to_ascii_lowercase())
        };
        if score > 0.8 && best.is_none_or(|(_, b)| score > b) {
            best = Some((c, score));
        }
    }
    best.map(|(c, _)| c)
}

/// Turns a serde-saphyr error into a problem, adding a suggestion for a misspelt key.
pub fn from_yaml(err: &serde_saphyr::Error, source: &str) -> Problem {
    let mut pos = err.location().map(|l| Pos {
        line: l.line() as u32,
        col: l.column() as u32,
    });
    let raw = err.without_snippet().to_string();
    let mut message = strip_location_prefix(&raw).to_string();
    let mut help = None;
    // The key and the value written where the error points, to say which setting is wrong.
    let (key, found) = pos.map(|p| key_and_value(source, p)).unwrap_or_default();
    let key_text = key.as_deref().map(|k| format!("`{k}`: ")).unwrap_or_default();
    let found_text = found
        .as_deref()
        .filter(|f| !f.is_empty())
        .map(|f| format!(", found `{f}`"))
        .unwrap_or_default();
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
    } else if let Some(rest) = message.clone().strip_prefix("missing field `") {
        let missing = rest.split('`').next().unwrap_or("");
        message = format!("missing key `{missing}`");
        if matches!(missing, "version" | "load" | "scenarios") {
            // A top-level key: the file as a whole lacks it, so point at its start.
            pos = Some(Pos { line: 1, col: 1 });
            help = Some(match missing {
                "version" => "start the file with `version: 1`".into(),
                "load" => "add e.g. `load: {users: 10, spawn_rate: 2, run_time: 1m}`".into(),
                _ => "add at least one user class under `scenarios:`".into(),
            });
        }
    } else if let Some(ty) = message.strip_prefix("invalid ") {
        let what = match ty {
            "u8" => Some("a whole number from 0 to 255"),
            "u16" => Some("a whole number from 0 to 65535"),
            "u32" => Some("a whole number from 0 to 4294967295"),
            "u64" | "usize" => Some("a whole number from 0 to 18446744073709551615"),
            "i32" => Some("a whole number from -2147483648 to 2147483647"),
            "i64" => Some("a whole number"),
            "f64" | "f32" | "floating point" => Some("a finite number"),
            "boolean" => Some("true or false"),
            _ => None,
        };
        if let Some(what) = what {
            message = format!("{key_text}expected {what}{found_text}");
        }
    } else if message.starts_with("cannot deserialize null") {
        message = format!("{key_text}expected a value here, found nothing (null)");
    } else if message.starts_with("expected mapping start") {
        message = format!("{key_text}expected a mapping of `key: value` entries{found_text}");
        if key.as_deref() == Some("scenarios") {
            message.push_str("; a gate needs at least one user class");
        }
    } else if message.contains("DuplicateKeyPolicy") {
        message = message
            .split(", set DuplicateKeyPolicy")
            .next()
            .unwrap_or_default()
            .to_string();
        help = Some("each key may appear once in a mapping".into());
    } else if message.starts_with("multiple YAML documents") {
        message =
            "the file holds more than one YAML document (a `---` line starts another): a gate file is one document"
                .into();
        help = Some("remove the `---` line and what follows it, or give the second gate a file of its own".into());
    } else if message.contains("recursion limit exceeded") {
        message = "the YAML nests deeper than the parser allows: a gate file is a few levels deep".into();
    } else if message.contains("recursive references require weak recursion types") {
        message =
            "an alias refers to a node that contains it (a recursive reference): a gate file cannot hold one".into();
        help = Some("write the value out instead of referring to it with `*name`".into());
    } else if message.starts_with("budget breached") {
        message = if message.contains("Depth") {
            "the YAML nests deeper than the parser allows: a gate file is a few levels deep".into()
        } else if message.contains("Alias") || message.contains("Anchor") || has_alias(source) {
            "the YAML expands past the parser's budget (an alias repeated until it multiplies the document): a gate file needs no alias bombs".into()
        } else {
            "the YAML is larger than the parser allows for a gate file (too many values or too much text)".into()
        };
    } else if message.contains("tabs disallowed") {
        help = Some("indent with spaces: YAML does not allow tabs for indentation".into());
    }
    // A syntax error after an unclosed `[` or `{` is that bracket's fault: point at it.
    let is_syntax = !message.starts_with('`') && !message.contains("key") && !message.contains("expected a");
    if let (true, Some(p)) = (is_syntax, pos) {
        if let Some((ch, open)) = unclosed_bracket(source, p.line) {
            if open.line < p.line {
                pos = Some(open);
                message = format!("unclosed bracket '{ch}'");
                help = Some(format!(
                    "close it with '{}' on the same line, or write the entries as an indented block",
                    if ch == '[' { ']' } else { '}' }
                ));
            }
        }
    }
    // A `{`, `[` or `$` inside an unquoted value of a flow collection (`{a: $.b[0]}`): quote it.
    if help.is_none() && message.contains("while parsing a flow") {
        if let Some(quoted) = pos.and_then(|p| quote_flow_value(source, p)) {
            help = Some(format!(
                "quote the value: `{quoted}`; inside `{{...}}` and `[...]` an unquoted `{{`, `[`, `]`, `}}` or `,` is YAML syntax, not text"
            ));
        }
    }
    Problem { pos, message, help }
}

/// The line at `pos` (trimmed, without its comment) with the flow-collection value that holds `pos`
/// quoted, when that value holds `{`, `[` or `$`: `extract: {module_id: "$.modules[0].id"}`.
fn quote_flow_value(source: &str, pos: Pos) -> Option<String> {
    let line: Vec<char> = source.lines().nth(pos.line.checked_sub(1)? as usize)?.chars().collect();
    let at = (pos.col.checked_sub(1)? as usize).min(line.len());
    // The value starts after the nearest `: `, `, ` or opening bracket that starts a collection.
    let mut start = None;
    for i in (0..at).rev() {
        let prev = if i == 0 { ' ' } else { line[i - 1] };
        let opens = matches!(line[i], '[' | '{') && (prev == ' ' || prev == ':');
        if opens || (line[i] == ' ' && matches!(prev, ':' | ',')) {
            start = Some(i + 1);
            break;
        }
    }
    let mut start = start?;
    while line.get(start) == Some(&' ') {
        start += 1;
    }
    // It ends at a `,`, `]` or `}` outside the brackets it opened itself, or at a comment.
    let mut depth = 0usize;
    let mut end = line.len();
    for (i, &c) in line.iter().enumerate().skip(start) {
        match c {
            '[' | '{' => depth += 1,
            ']' | '}' | ',' if depth == 0 => {
                end = i;
                break;
            }
            ']' | '}' => depth -= 1,
            '#' if line[i - 1] == ' ' => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    let value: String = line[start..end].iter().collect::<String>().trim_end().to_string();
    if value.is_empty() || value.starts_with(['"', '\'']) || !value.contains(['{', '[', '$']) {
        return None;
    }
    let before: String = line[..start].iter().collect();
    let after: String = line[start + value.chars().count()..].iter().collect();
    let after = match after.find(" #") {
        Some(i) => after[..i].to_string(),
        None => after,
    };
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    Some(format!("{}\"{escaped}\"{}", before.trim_start(), after.trim_end()))
}

/// The key before a value position on its line (`users` in `  users: ten`) and the value itself.
pub fn key_and_value(source: &str, pos: Pos) -> (Option<String>, Option<String>) {
    let Some(line) = source.lines().nth(pos.line.saturating_sub(1) as usize) else {
        return (None, None);
    };
    let chars: Vec<char> = line.chars().collect();
    let at = (pos.col.saturating_sub(1) as usize).min(chars.len());
    // The position may point at the key's own colon (an empty value): include it.
    let upto = if chars.get(at) == Some(&':') { at + 1 } else { at };
    let before: String = chars[..upto].iter().collect();
    let key = before.rfind(':').and_then(|colon| {
        let head = &before[..colon];
        let start = head
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '-' || *c == '.'))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let k = head[start..].trim();
        (!k.is_empty()).then(|| k.to_string())
    });
    let rest: String = chars[upto..].iter().collect();
    let value = rest
        .split(['#', ',', '}', ']'])
        .next()
        .map(|v| v.trim().trim_matches(['"', '\'']).to_string());
    (key, value)
}

/// The first `[` or `{` still open at the end of line `upto` (outside quotes), with its position.
fn unclosed_bracket(source: &str, upto: u32) -> Option<(char, Pos)> {
    let mut stack: Vec<(char, Pos)> = Vec::new();
    for (i, line) in source.lines().take(upto as usize).enumerate() {
        let mut quote: Option<char> = None;
        for (j, c) in line.chars().enumerate() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '#') => break,
                (None, '"' | '\'') => quote = Some(c),
                (None, '[' | '{') => stack.push((
                    c,
                    Pos {
                        line: i as u32 + 1,
                        col: j as u32 + 1,
                    },
                )),
                (None, ']' | '}') => {
                    stack.pop();
                }
                _ => {}
            }
        }
    }
    stack.first().copied()
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
    fn long_quoted_values_are_cut_in_messages() {
        let long = "x".repeat(1000);
        let m = format!("`{long}` is not a request; found `GET`");
        let short = shorten_quoted(&m);
        assert!(short.len() < 120, "{short}");
        assert!(
            short.contains("... (1000 characters)` is not a request; found `GET`"),
            "{short}"
        );
        assert_eq!(shorten_quoted("`a` and `b`"), "`a` and `b`");
        // An unpaired backtick's tail is not a quoted value.
        assert_eq!(shorten_quoted(&format!("a `{long}")), format!("a `{long}"));
    }

    #[test]
    fn suggests_near_misses_only() {
        assert_eq!(closest("uesrs", ["users", "spawn_rate", "run_time"]), Some("users"));
        assert_eq!(closest("think", ["think_time", "weight"]), Some("think_time"));
        assert_eq!(closest("zzz", ["users", "spawn_rate"]), None);
        assert_eq!(closest("GTE", ["GET", "POST"]), Some("GET"));
        assert_eq!(closest("agv", ["avg", "max"]), Some("avg"));
        assert_eq!(
            key_and_value("  users: ten\n", Pos { line: 1, col: 10 }),
            (Some("users".into()), Some("ten".into()))
        );
        // Found by fuzzing: a multi-byte character before the colon.
        assert_eq!(key_and_value("%¡:", Pos { line: 1, col: 3 }).0, None);
        assert_eq!(key_and_value("  é_x: 1", Pos { line: 1, col: 8 }).0, Some("é_x".into()));
        assert_eq!(
            unclosed_bracket("a: [1, 2\nb: 3\n", 2),
            Some(('[', Pos { line: 1, col: 4 }))
        );
    }

    #[test]
    fn every_problem_is_shown_up_to_a_cap_and_counted() {
        let problems = |n: u32| GateError {
            file: "g.yaml".into(),
            source: String::new(),
            problems: (1..=n)
                .map(|i| Problem {
                    pos: Some(Pos { line: i, col: 1 }),
                    message: format!("problem {i}"),
                    help: None,
                })
                .collect(),
        };
        let one = problems(1).to_string();
        assert_eq!(one, "error: g.yaml:1:1: problem 1");
        let three = problems(3).to_string();
        assert_eq!(three.lines().filter(|l| l.starts_with("error: ")).count(), 3, "{three}");
        assert!(three.ends_with("\n\n3 problems in g.yaml"), "{three}");
        let many = problems(25).to_string();
        assert_eq!(many.lines().filter(|l| l.starts_with("error: ")).count(), MAX_SHOWN);
        assert!(
            many.ends_with("25 problems in g.yaml; the first 20 are shown"),
            "{many}"
        );
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
