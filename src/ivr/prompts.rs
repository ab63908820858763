//! The shipped voice prompt catalogue: every prompt's name and its text in every language.
//!
//! Contract: the catalogue is `sounds/prompts.tsv`, embedded here at compile time, and is the
//! single source of truth for both `sounds/generate.sh` (which synthesises
//! `sounds/<lang>/<name>.wav` from it) and the code (which refers to prompts by name). One
//! prompt a line, TAB-separated columns `name`, then one text per language in the order of
//! [`LANGUAGES`]; empty lines and lines starting with `#` are comments. A text starting with
//! `@` is a generator directive, not speech (`@beep`: the voicemail tone). Names are
//! lowercase ASCII letters, digits and `-`, and the same in every language. Plural forms
//! are separate prompts named after the CLDR categories (`minute-one`, `minute-few`,
//! `minute-many`). The prompt-coverage test (`prompts/tests.rs`) checks that the catalogue
//! is well-formed and that every name exists as a valid WAV file for every language.
//! No IO: lookups scan the embedded text (about a hundred lines) and allocate nothing.

/// The languages every prompt is shipped in, in catalogue column order.
pub const LANGUAGES: &[&str] = &["en", "ru"];

/// The language used when a requested one is not shipped.
pub const DEFAULT_LANGUAGE: &str = "en";

/// The catalogue text, as shipped in `sounds/prompts.tsv`.
pub const CATALOGUE: &str = include_str!("../../sounds/prompts.tsv");

/// The catalogue rows: (1-based line number, name, texts in [`LANGUAGES`] order).
pub(crate) fn rows() -> impl Iterator<Item = (usize, &'static str, std::str::Split<'static, char>)>
{
    CATALOGUE.lines().enumerate().filter_map(|(i, line)| {
        if line.trim().is_empty() || line.starts_with('#') {
            return None;
        }
        let mut cols = line.split('\t');
        let name = cols.next()?;
        Some((i + 1, name, cols))
    })
}

/// Every prompt name in the catalogue, in catalogue order.
pub fn names() -> impl Iterator<Item = &'static str> {
    rows().map(|(_, name, _)| name)
}

/// Whether `name` is a prompt in the catalogue.
pub fn contains(name: &str) -> bool {
    names().any(|n| n == name)
}

/// The text of prompt `name` in `lang` (exactly one of [`LANGUAGES`]; no fallback), or `None`
/// if either is unknown. A text starting with `@` is a tone, not speech (see the module doc).
pub fn text(lang: &str, name: &str) -> Option<&'static str> {
    let col = LANGUAGES.iter().position(|l| *l == lang)?;
    rows()
        .find(|(_, n, _)| *n == name)
        .and_then(|(_, _, mut cols)| cols.nth(col))
}

/// Whether `lang` is one of the shipped [`LANGUAGES`] (exact, lowercase).
pub fn is_supported(lang: &str) -> bool {
    LANGUAGES.contains(&lang)
}

/// The shipped language to use for `lang`: the language itself, or its primary subtag
/// (`ru-RU`, `RU`, `ru_RU` → `ru`), else [`DEFAULT_LANGUAGE`].
pub fn language(lang: &str) -> &'static str {
    let primary = lang.split(['-', '_']).next().unwrap_or("");
    LANGUAGES
        .iter()
        .copied()
        .find(|l| l.eq_ignore_ascii_case(primary))
        .unwrap_or(DEFAULT_LANGUAGE)
}

/// The path of a prompt's file relative to the sounds directory: `<lang>/<name>.wav`.
pub fn relative_path(lang: &str, name: &str) -> String {
    format!("{lang}/{name}.wav")
}

#[cfg(test)]
mod tests;
