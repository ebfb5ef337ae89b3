//! Reading on past an unknown key, so one `validate` lists every misspelled key in a file.
//!
//! The gate's serde types refuse unknown keys, and the parser stops at the first. To report the
//! others too, the entry of an unknown key (the key, its value and the value's indented lines) is
//! blanked out with spaces and the file read again: every other line and column stays where it was,
//! so later problems point at the user's own text. An entry that cannot be cut out cleanly (a flow
//! mapping that spans lines) ends the recovery; the problems found so far are reported.

use super::error::Pos;

/// `text` with the entry of `key` at `pos` (the key's first character) replaced by spaces, or None
/// when the key is not there or its entry cannot be cut out on its own.
pub fn blank_entry(text: &str, pos: Pos, key: &str) -> Option<String> {
    let mut lines: Vec<Vec<char>> = text.split('\n').map(|l| l.chars().collect()).collect();
    let li = (pos.line as usize).checked_sub(1)?;
    let ci = (pos.col as usize).checked_sub(1)?;
    let line = lines.get(li)?;
    if !starts_with_key(line.get(ci..)?, key) {
        return None;
    }
    let before: String = line[..ci].iter().collect();
    let opener = before.trim_end().chars().last();
    if before.trim_start_matches([' ', '-']).trim().is_empty() && !before.contains(['{', '[']) {
        block(&mut lines, li, ci);
    } else if matches!(opener, Some('{' | ',')) {
        flow(&mut lines[li], ci)?;
    } else {
        return None;
    }
    Some(
        lines
            .into_iter()
            .map(|l| l.into_iter().collect::<String>())
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Whether `at` begins with `key`, bare or quoted, followed by the `:` of a mapping entry.
fn starts_with_key(at: &[char], key: &str) -> bool {
    let key: Vec<char> = key.chars().collect();
    let rest = match at.first() {
        Some(q @ ('"' | '\'')) if at.get(1..=key.len()) == Some(&key[..]) && at.get(key.len() + 1) == Some(q) => {
            &at[key.len() + 2..]
        }
        _ if at.get(..key.len()) == Some(&key[..]) => &at[key.len()..],
        _ => return false,
    };
    rest.iter().find(|c| **c != ' ') == Some(&':')
}

/// Blanks a block mapping entry: the rest of the key's line and every following line indented more
/// than the key (its nested value), or a block sequence at the key's own indentation.
fn block(lines: &mut [Vec<char>], li: usize, ci: usize) {
    let value_on_line = {
        let l = &lines[li][ci..];
        let colon = l.iter().position(|c| *c == ':').unwrap_or(l.len());
        let after: String = l[(colon + 1).min(l.len())..].iter().collect();
        let after = after.trim();
        !after.is_empty() && !after.starts_with('#')
    };
    for c in &mut lines[li][ci..] {
        *c = ' ';
    }
    let mut end = li;
    for (j, l) in lines.iter().enumerate().skip(li + 1) {
        let text: String = l.iter().collect();
        let trimmed = text.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = l.len() - trimmed.chars().count();
        let sequence_here = !value_on_line && indent == ci && (trimmed == "-" || trimmed.starts_with("- "));
        if indent > ci || sequence_here {
            end = j;
        } else {
            break;
        }
    }
    for l in &mut lines[li + 1..=end] {
        l.iter_mut().for_each(|c| *c = ' ');
    }
}

/// Blanks a flow mapping entry `key: value` that ends on its line, with the comma that separates it.
fn flow(line: &mut [char], ci: usize) -> Option<()> {
    let (mut depth, mut quote, mut end) = (0i32, None::<char>, None);
    for (i, &c) in line.iter().enumerate().skip(ci) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') if depth > 0 => depth -= 1,
            (None, ',' | ']' | '}') if depth == 0 => {
                end = Some((i, c == ','));
                break;
            }
            _ => {}
        }
    }
    let (end, comma) = end?;
    let mut from = ci;
    let to = if comma { end + 1 } else { end };
    if !comma {
        // The last entry: the comma before it goes instead, if there is one.
        if let Some(p) = line[..ci].iter().rposition(|c| *c != ' ') {
            if line[p] == ',' {
                from = p;
            }
        }
    }
    line[from..to].iter_mut().for_each(|c| *c = ' ');
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: u32, col: u32) -> Pos {
        Pos { line, col }
    }

    #[test]
    fn a_block_entry_and_its_nested_lines_become_spaces() {
        let text = "load:\n  users: 2\n  spwan:\n    x: 1\n    y: 2\n  run_time: 1s\nnext: 1";
        let out = blank_entry(text, at(3, 3), "spwan").unwrap();
        assert_eq!(
            out,
            "load:\n  users: 2\n        \n        \n        \n  run_time: 1s\nnext: 1"
        );
        assert_eq!(out.len(), text.len());
    }

    #[test]
    fn a_block_sequence_at_the_keys_indentation_is_its_value() {
        let text = "s:\n  taks:\n  - a\n  - b\n  think: 1s";
        let out = blank_entry(text, at(2, 3), "taks").unwrap();
        assert_eq!(out, "s:\n       \n     \n     \n  think: 1s");
    }

    #[test]
    fn the_first_key_of_a_sequence_item_leaves_the_dash_and_the_items_other_keys() {
        let text = "tasks:\n  - reqest: GET /y\n    weight: 2\n  - request: GET /x";
        let out = blank_entry(text, at(2, 5), "reqest").unwrap();
        assert_eq!(out, "tasks:\n  -               \n    weight: 2\n  - request: GET /x");
    }

    #[test]
    fn a_flow_entry_goes_with_its_comma() {
        let line = "load: {users: 2, spwan_rate: 1, run_time: 2s}";
        assert_eq!(
            blank_entry(line, at(1, 18), "spwan_rate").unwrap(),
            "load: {users: 2,                run_time: 2s}"
        );
        // The last entry takes the comma before it; values with nested brackets and quotes stay whole.
        let line = r#"- {request: GET /x, jsn: {a: [1, 2], b: "x,}"}}"#;
        assert_eq!(
            blank_entry(line, at(1, 21), "jsn").unwrap(),
            "- {request: GET /x                            }"
        );
    }

    #[test]
    fn what_cannot_be_cut_out_cleanly_stops_the_recovery() {
        // Not the key at that place.
        assert_eq!(blank_entry("a: 1", at(1, 1), "b"), None);
        assert_eq!(blank_entry("ab: 1", at(1, 1), "a"), None);
        // A flow mapping that goes on to the next line.
        assert_eq!(blank_entry("x: {a: 1, b: [1,\n 2]}", at(1, 11), "b"), None);
        // Out of the text.
        assert_eq!(blank_entry("a: 1", at(3, 1), "a"), None);
        assert_eq!(blank_entry("a: 1", at(1, 9), "a"), None);
    }

    #[test]
    fn quoted_keys_are_found() {
        assert_eq!(
            blank_entry("\"spwan\": 1\nb: 2", at(1, 1), "spwan").unwrap(),
            "          \nb: 2"
        );
    }
}
