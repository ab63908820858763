//! Configuration errors: every error names a file, a 1-based line and column, the key path and,
//! where we can, a hint. [`ConfigErrors`] carries all errors found in one load.

use std::fmt;
use std::path::PathBuf;

/// One mistake in the configuration.
///
/// `line` and `column` are 1-based; `line == 0` means the error is about a whole file or
/// directory (a missing `zvon.toml`, an unreadable file) and has no position. `key` is the
/// path of the offending key, e.g. `registrar.min_expires` or `extension[2].password`
/// (list indices count from 1, as an admin reading the file would); it is empty for file-level
/// and syntax errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for ConfigError {
    /// `config/extensions.toml:14:1: extension[2].pasword: unknown key (hint: did you mean `password`?)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        f.write_str(": ")?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// All errors of one configuration load, in file order then line order. Never empty when
/// returned as an `Err`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    /// One error per line, then a count line (`2 errors in the configuration`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "{e}")?;
        }
        match self.0.len() {
            1 => write!(f, "1 error in the configuration"),
            n => write!(f, "{n} errors in the configuration"),
        }
    }
}

impl std::error::Error for ConfigErrors {}

/// 1-based (line, column) of a byte offset; the column counts characters, not bytes.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Levenshtein distance over characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The known word closest to `word`: a small edit distance (a typo), or one containing the
/// other (`udp_listen` → `udp`).
pub(crate) fn closest<'k>(word: &str, known: &[&'k str]) -> Option<&'k str> {
    let lower = word.to_ascii_lowercase();
    let by_distance = known
        .iter()
        .map(|k| (edit_distance(&lower, k), *k))
        .filter(|(d, k)| *d <= (k.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k);
    by_distance.or_else(|| {
        known
            .iter()
            .filter(|k| k.len() >= 3 && (lower.contains(*k) || k.contains(lower.as_str())))
            .max_by_key(|k| k.len())
            .copied()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("pasword", "password"), 1);
        assert_eq!(edit_distance("password", "password"), 0);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn closest_prefers_typos_then_substrings() {
        let known = [
            "udp",
            "tcp",
            "domain",
            "state_dir",
            "log_level",
            "user_agent",
        ];
        assert_eq!(closest("domian", &known), Some("domain"));
        assert_eq!(closest("udp_listen", &known), Some("udp"));
        assert_eq!(closest("loglevel", &known), Some("log_level"));
        assert_eq!(closest("zzzzzz", &known), None);
    }

    #[test]
    fn line_col_is_one_based_and_counts_characters() {
        let text = "a = 1\nné = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, text.find('=').unwrap()), (1, 3));
        let second_eq = text.rfind('=').unwrap();
        assert_eq!(line_col(text, second_eq), (2, 4));
    }

    #[test]
    fn display_has_file_position_key_message_hint_and_count() {
        let e = ConfigError {
            file: "config/extensions.toml".into(),
            line: 14,
            column: 1,
            key: "extension[2].pasword".into(),
            message: "unknown key".into(),
            hint: Some("did you mean `password`?".into()),
        };
        assert_eq!(
            e.to_string(),
            "config/extensions.toml:14:1: extension[2].pasword: unknown key (hint: did you mean `password`?)"
        );
        let all = ConfigErrors(vec![e.clone(), e]);
        let text = all.to_string();
        assert_eq!(text.lines().count(), 3);
        assert!(text.ends_with("2 errors in the configuration"));
    }
}
