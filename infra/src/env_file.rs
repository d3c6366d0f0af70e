//! `KEY=VALUE` files as `.env.local` is written and `cargo lambda watch
//! --env-file` reads them: the local stack writes the environment it starts
//! the functions with, and `make doctor` reads that file back.

use std::path::Path;

pub fn parse(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), unquoted(v.trim())))
        .collect()
}

/// A double-quoted value as `render` writes it, or the value as it stands.
fn unquoted(value: &str) -> String {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => value.to_owned(),
    }
}

pub fn read(path: &Path) -> Result<Vec<(String, String)>, String> {
    std::fs::read_to_string(path).map(|text| parse(&text)).map_err(|e| format!("{}: {e}", path.display()))
}

/// The later of two values for one key wins, as in the shell.
pub fn merge(base: Vec<(String, String)>, over: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut merged = base;
    for (key, value) in over {
        merged.retain(|(k, _)| *k != key);
        merged.push((key, value));
    }
    merged
}

/// One `KEY=VALUE` line each; a value with `=`, `#`, quotes or blanks is
/// double-quoted (cargo lambda's env-file reader refuses it bare, e.g. a
/// `RUST_LOG` with per-target levels).
pub fn render(vars: &[(String, String)]) -> String {
    vars.iter()
        .map(|(k, v)| {
            if v.contains(['=', '#', '"', '\'', ' ', '\t', '\\']) {
                format!("{k}=\"{}\"\n", v.replace('\\', "\\\\").replace('"', "\\\""))
            } else {
                format!("{k}={v}\n")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_merges_and_renders() {
        let vars = parse("# comment\nA=1\n\nB = two words\nC=\n");
        assert_eq!(vars, [("A".into(), "1".into()), ("B".into(), "two words".into()), ("C".into(), String::new())]);
        let merged = merge(vars, [("A".to_owned(), "9".to_owned())]);
        assert_eq!(parse(&render(&merged)), merged);
        assert_eq!(merged.last(), Some(&("A".to_owned(), "9".to_owned())));
    }

    #[test]
    fn a_value_with_levels_per_target_is_quoted_and_read_back() {
        let vars = vec![("RUST_LOG".to_owned(), "info,lambda_runtime::runtime=error".to_owned())];
        assert_eq!(render(&vars), "RUST_LOG=\"info,lambda_runtime::runtime=error\"\n");
        assert_eq!(parse(&render(&vars)), vars);
    }
}
