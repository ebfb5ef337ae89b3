//! Templates in paths, queries, headers and bodies (`{run_id}`, `${env:TOKEN}`), and JSON paths.

use std::fmt;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Literal text.
    Lit(String),
    /// A user variable, `{name}`.
    Var(String),
    /// An environment variable, `${env:NAME}`, read once before the run.
    Env(String),
    /// A value made afresh for each request: `{uuid}`, `{counter}`, `{random_int 1 100}`, `{now}`.
    Func(Func),
}

/// A template function: a value that makes each request unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// `{uuid}`: a random (version 4) UUID from the user's seeded stream.
    Uuid,
    /// `{counter}`: 1, 2, 3, ... shared by every user of the run (of the shard).
    Counter,
    /// `{random_int A B}`: a whole number from A to B inclusive, from the user's seeded stream.
    RandomInt(i64, i64),
    /// `{now}`: the time of sending, milliseconds since the Unix epoch.
    Now,
    /// `{now_iso}`: the time of sending in RFC 3339, UTC, with milliseconds.
    NowIso,
}

/// The template functions' names, in help order.
pub const FUNCS: [&str; 5] = ["uuid", "counter", "random_int", "now", "now_iso"];

impl Func {
    /// The function written `inner` (what is between the braces), if `inner` is a call: `Ok(None)`
    /// for a variable name or text that is not a call; an error for a bad call.
    pub fn parse(inner: &str) -> Result<Option<Func>, String> {
        let mut words = inner.split_whitespace();
        let Some(name) = words.next() else { return Ok(None) };
        let args: Vec<&str> = words.collect();
        if !is_ident(name) || inner.starts_with(char::is_whitespace) {
            return Ok(None);
        }
        let numbers: Option<Vec<i64>> = args.iter().map(|a| a.parse().ok()).collect();
        let Some(numbers) = numbers else { return Ok(None) };
        let no_args = |f: Func| {
            if numbers.is_empty() {
                Ok(Some(f))
            } else {
                Err(format!(
                    "`{{{inner}}}`: `{name}` takes no arguments; write `{{{name}}}`"
                ))
            }
        };
        match name {
            "uuid" => no_args(Func::Uuid),
            "counter" => no_args(Func::Counter),
            "now" => no_args(Func::Now),
            "now_iso" => no_args(Func::NowIso),
            "random_int" => match numbers.as_slice() {
                [a, b] if a <= b => Ok(Some(Func::RandomInt(*a, *b))),
                [a, b] => Err(format!(
                    "`{{{inner}}}`: the lower bound {a} is above the upper bound {b}; write `{{random_int {b} {a}}}`"
                )),
                _ => Err(format!(
                    "`{{{inner}}}`: `random_int` takes two whole numbers, the lowest and the highest value, e.g. `{{random_int 1 100}}`"
                )),
            },
            // A bare name is a user variable; a name with numbers after it is a call.
            _ if numbers.is_empty() => Ok(None),
            _ => {
                let near = FUNCS
                    .iter()
                    .min_by_key(|f| strsim::levenshtein(f, name))
                    .filter(|f| strsim::levenshtein(f, name) <= 3);
                Err(match near {
                    Some(f) => format!(
                        "`{{{inner}}}`: `{name}` is not a template function; did you mean `{f}`? (the functions: {})",
                        FUNCS.join(", ")
                    ),
                    None => format!(
                        "`{{{inner}}}`: `{name}` is not a template function (the functions: {})",
                        FUNCS.join(", ")
                    ),
                })
            }
        }
    }
}

impl fmt::Display for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Func::Uuid => f.write_str("uuid"),
            Func::Counter => f.write_str("counter"),
            Func::RandomInt(a, b) => write!(f, "random_int {a} {b}"),
            Func::Now => f.write_str("now"),
            Func::NowIso => f.write_str("now_iso"),
        }
    }
}

/// Text with variable references, parsed once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Template {
    /// The pieces in order.
    pub parts: Vec<Part>,
}

impl Template {
    /// Parses `{name}`, `${env:NAME}` and function calls (`{uuid}`, `{random_int 1 9}`); any other
    /// brace is literal.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(idx) = rest.find(['{', '$']) {
            let (before, at) = rest.split_at(idx);
            lit.push_str(before);
            if let Some(after) = at.strip_prefix("${") {
                let end = after
                    .find('}')
                    .ok_or_else(|| format!("`{text}` opens `${{` without a closing `}}`"))?;
                let inner = &after[..end];
                let name = inner.strip_prefix("env:").ok_or_else(|| {
                    format!("`${{{inner}}}` is not understood: write `${{env:NAME}}` for an environment variable or `{{name}}` for a user variable")
                })?;
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!(
                        "`${{env:{name}}}`: an environment variable name has letters, digits and `_`"
                    ));
                }
                flush(&mut parts, &mut lit);
                parts.push(Part::Env(name.to_string()));
                rest = &after[end + 1..];
            } else if let Some(after) = at.strip_prefix('{') {
                let end = after.find('}');
                let call = match end {
                    Some(e) => Func::parse(&after[..e])?,
                    None => None,
                };
                match (end, call) {
                    (Some(end), Some(f)) => {
                        flush(&mut parts, &mut lit);
                        parts.push(Part::Func(f));
                        rest = &after[end + 1..];
                    }
                    (Some(end), None) if is_ident(&after[..end]) => {
                        flush(&mut parts, &mut lit);
                        parts.push(Part::Var(after[..end].to_string()));
                        rest = &after[end + 1..];
                    }
                    _ => {
                        lit.push('{');
                        rest = after;
                    }
                }
            } else {
                lit.push('$');
                rest = &at[1..];
            }
        }
        lit.push_str(rest);
        flush(&mut parts, &mut lit);
        Ok(Template { parts })
    }

    /// The user variables this template reads.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            _ => None,
        })
    }

    /// The environment variables this template reads.
    pub fn envs(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Env(v) => Some(v.as_str()),
            _ => None,
        })
    }

    /// Whether the template is plain text.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.parts {
            match p {
                Part::Lit(s) => f.write_str(s)?,
                Part::Var(v) => write!(f, "{{{v}}}")?,
                Part::Env(v) => write!(f, "${{env:{v}}}")?,
                Part::Func(func) => write!(f, "{{{func}}}")?,
            }
        }
        Ok(())
    }
}

fn flush(parts: &mut Vec<Part>, lit: &mut String) {
    if !lit.is_empty() {
        parts.push(Part::Lit(std::mem::take(lit)));
    }
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// An object member.
    Key(String),
    /// An array element; negative counts from the end.
    Index(i64),
}

/// A JSON path such as `$.modules[0].id`.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    /// The text as written.
    pub text: String,
    /// The steps from the root.
    pub steps: Vec<Step>,
}

impl JsonPath {
    /// Parses `$`, `$.a.b`, `$.a[0]`, `$[-1].id`, `$["odd key"]`.
    pub fn parse(text: &str) -> Result<JsonPath, String> {
        let bad = |why: &str| format!("`{text}` is not a JSON path ({why}); write it like `$.modules[0].id`");
        let mut rest = text
            .trim()
            .strip_prefix('$')
            .ok_or_else(|| bad("it must start with `$`"))?;
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                let key = &after[..end];
                if key.is_empty() {
                    return Err(bad("empty key after `.`"));
                }
                steps.push(Step::Key(key.to_string()));
                rest = &after[end..];
            } else if let Some(after) = rest.strip_prefix('[') {
                let end = after.find(']').ok_or_else(|| bad("`[` without `]`"))?;
                let inner = after[..end].trim();
                if let Some(q) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                    steps.push(Step::Key(q.to_string()));
                } else {
                    let i: i64 = inner.parse().map_err(|_| bad("an index must be a whole number"))?;
                    steps.push(Step::Index(i));
                }
                rest = &after[end + 1..];
            } else {
                return Err(bad("expected `.` or `[`"));
            }
        }
        Ok(JsonPath {
            text: text.to_string(),
            steps,
        })
    }

    /// The value this path points at, if any.
    pub fn find<'v>(&self, root: &'v serde_json::Value) -> Option<&'v serde_json::Value> {
        let mut v = root;
        for s in &self.steps {
            v = match s {
                Step::Key(k) => v.get(k.as_str())?,
                Step::Index(i) => {
                    let arr = v.as_array()?;
                    let idx = if *i < 0 {
                        arr.len().checked_sub(i.unsigned_abs() as usize)?
                    } else {
                        *i as usize
                    };
                    arr.get(idx)?
                }
            };
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let t = Template::parse("/api/runs/{run_id}/logs").unwrap();
        assert_eq!(
            t.parts,
            vec![
                Part::Lit("/api/runs/".into()),
                Part::Var("run_id".into()),
                Part::Lit("/logs".into())
            ]
        );
        let t = Template::parse("Bearer ${env:TOKEN}").unwrap();
        assert_eq!(t.envs().collect::<Vec<_>>(), vec!["TOKEN"]);
        assert!(Template::parse("{not a var} {}").unwrap().is_literal());
        assert!(Template::parse("${TOKEN}").is_err());
        assert_eq!(Template::parse("a{x}b").unwrap().to_string(), "a{x}b");
    }

    #[test]
    fn functions() {
        let t = Template::parse("id-{uuid}-{counter}-{random_int 1 100}-{now}-{now_iso}-{n}").unwrap();
        let funcs: Vec<&Part> = t.parts.iter().filter(|p| matches!(p, Part::Func(_))).collect();
        assert_eq!(
            funcs,
            [
                &Part::Func(Func::Uuid),
                &Part::Func(Func::Counter),
                &Part::Func(Func::RandomInt(1, 100)),
                &Part::Func(Func::Now),
                &Part::Func(Func::NowIso)
            ]
        );
        assert_eq!(t.vars().collect::<Vec<_>>(), ["n"]);
        assert!(!t.is_literal());
        assert_eq!(
            t.to_string(),
            "id-{uuid}-{counter}-{random_int 1 100}-{now}-{now_iso}-{n}"
        );
        let e = Template::parse("{randon_int 1 5}").unwrap_err();
        assert!(e.contains("did you mean `random_int`?"), "{e}");
        assert!(Template::parse("{random_int 9 1}")
            .unwrap_err()
            .contains("above the upper bound"));
        assert!(Template::parse("{random_int 9}")
            .unwrap_err()
            .contains("two whole numbers"));
        assert!(Template::parse("{uuid 4}").unwrap_err().contains("takes no arguments"));
        // Braces around words that are not a call stay text.
        assert!(Template::parse("{not a call} { uuid}").unwrap().is_literal());
    }

    #[test]
    fn json_paths() {
        let doc: serde_json::Value =
            serde_json::json!({"modules": [{"id": "a"}, {"id": "b"}], "run_id": "r1", "odd key": 1});
        let get = |p: &str| JsonPath::parse(p).unwrap().find(&doc).cloned();
        assert_eq!(get("$.modules[0].id"), Some(serde_json::json!("a")));
        assert_eq!(get("$.modules[-1].id"), Some(serde_json::json!("b")));
        assert_eq!(get("$.run_id"), Some(serde_json::json!("r1")));
        assert_eq!(get("$[\"odd key\"]"), Some(serde_json::json!(1)));
        assert_eq!(get("$.modules[5].id"), None);
        assert!(JsonPath::parse("modules[0]").is_err());
        assert!(JsonPath::parse("$.a[x]").is_err());
    }
}
