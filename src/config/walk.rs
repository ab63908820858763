//! A checked walk over a spanned TOML document (`toml::de::DeTable`): typed getters that record
//! every mistake with its position and keep going, and unknown-key detection with hints.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use super::error::{ConfigError, closest, line_col};
use super::types::{fmt_duration, parse_duration};

pub(crate) type Span = Range<usize>;
pub(crate) type Value<'i> = Spanned<DeValue<'i>>;

/// Error sink for one file.
pub(crate) struct Ctx<'a> {
    pub file: &'a Path,
    pub text: &'a str,
    pub errors: &'a mut Vec<ConfigError>,
}

impl Ctx<'_> {
    pub fn error(
        &mut self,
        span: Span,
        key: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let (line, column) = line_col(self.text, span.start);
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            line,
            column,
            key: key.to_string(),
            message: message.into(),
            hint,
        });
    }

    pub fn position(&self, span: &Span) -> (usize, usize) {
        line_col(self.text, span.start)
    }
}

/// What a getter found.
pub(crate) enum Got<T> {
    Absent,
    Bad,
    Val(T, Span),
}

impl<T> Got<T> {
    /// `Some(default)` when absent, `None` when invalid (the error is already recorded).
    pub fn or(self, default: T) -> Option<T> {
        match self {
            Got::Absent => Some(default),
            Got::Bad => None,
            Got::Val(v, _) => Some(v),
        }
    }

    pub fn val(self) -> Option<T> {
        match self {
            Got::Val(v, _) => Some(v),
            _ => None,
        }
    }

    pub fn span(&self) -> Option<Span> {
        match self {
            Got::Val(_, s) => Some(s.clone()),
            _ => None,
        }
    }
}

/// One TOML table being checked. Every key asked for becomes a known key; [`Section::finish`]
/// reports the others as unknown, suggesting the closest known one.
pub(crate) struct Section<'t, 'i> {
    /// `""` for the document root, `server`, `extension[2]`.
    pub path: String,
    table: &'t DeTable<'i>,
    pub span: Span,
    asked: Vec<&'static str>,
    /// Extra hints for unknown keys that belong elsewhere: (key, hint).
    elsewhere: &'static [(&'static str, &'static str)],
}

impl<'t, 'i> Section<'t, 'i> {
    pub fn new(path: impl Into<String>, table: &'t DeTable<'i>, span: Span) -> Self {
        Section {
            path: path.into(),
            table,
            span,
            asked: Vec::new(),
            elsewhere: &[],
        }
    }

    pub fn with_elsewhere(mut self, elsewhere: &'static [(&'static str, &'static str)]) -> Self {
        self.elsewhere = elsewhere;
        self
    }

    pub fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// How the table reads in a message: `[server]`, `[[extension]] #2`, `the top level`.
    fn header(&self) -> String {
        if self.path.is_empty() {
            return "the top level".into();
        }
        match self.path.strip_suffix(']').and_then(|p| p.rsplit_once('[')) {
            Some((name, index)) if !name.contains('.') => format!("[[{name}]] #{index}"),
            _ => format!("[{}]", self.path),
        }
    }

    /// The raw value of `key`, recording it as known.
    pub fn raw(&mut self, key: &'static str) -> Option<&'t Value<'i>> {
        if !self.asked.contains(&key) {
            self.asked.push(key);
        }
        self.table.get(key)
    }

    /// Converts `key` with `conv` when present.
    pub fn get<T>(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        conv: impl FnOnce(&mut Ctx<'_>, &str, &'t Value<'i>) -> Option<T>,
    ) -> Got<T> {
        let path = self.key_path(key);
        match self.raw(key) {
            None => Got::Absent,
            Some(v) => match conv(ctx, &path, v) {
                Some(t) => Got::Val(t, v.span()),
                None => Got::Bad,
            },
        }
    }

    /// Like [`Section::get`] but a missing key is an error naming the table and the key.
    pub fn require<T>(
        &mut self,
        ctx: &mut Ctx<'_>,
        key: &'static str,
        example: &str,
        conv: impl FnOnce(&mut Ctx<'_>, &str, &'t Value<'i>) -> Option<T>,
    ) -> Option<T> {
        match self.get(ctx, key, conv) {
            Got::Absent => {
                let msg = format!("missing required key `{key}` in {}", self.header());
                let hint = Some(format!("add `{key} = {example}`"));
                ctx.error(self.span.clone(), &self.key_path(key), msg, hint);
                None
            }
            got => got.val(),
        }
    }

    /// Reports every key that was never asked for.
    pub fn finish(self, ctx: &mut Ctx<'_>) {
        for (k, v) in self.table.iter() {
            let name: &str = k.get_ref();
            if self.asked.contains(&name) {
                continue;
            }
            let what = if matches!(v.get_ref(), DeValue::Table(_)) {
                "unknown table"
            } else {
                "unknown key"
            };
            let hint = if let Some((_, h)) = self.elsewhere.iter().find(|(key, _)| *key == name) {
                Some((*h).to_string())
            } else if let Some(best) = closest(name, &self.asked) {
                Some(format!("did you mean `{best}`?"))
            } else {
                let mut known = self.asked.clone();
                known.sort_unstable();
                Some(format!(
                    "known keys in {}: {}",
                    self.header(),
                    known.join(", ")
                ))
            };
            ctx.error(k.span(), &self.key_path(name), what, hint);
        }
    }
}

/// How a value reads to an admin, for "expected X, found Y".
pub(crate) fn describe(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "a number",
        DeValue::Float(_) => "a decimal number",
        DeValue::Boolean(_) => "true/false",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

fn expected(ctx: &mut Ctx<'_>, path: &str, v: &Value<'_>, what: &str, hint: Option<String>) {
    let msg = format!("expected {what}, found {}", describe(v.get_ref()));
    ctx.error(v.span(), path, msg, hint);
}

pub(crate) fn string<'t>(ctx: &mut Ctx<'_>, path: &str, v: &'t Value<'_>) -> Option<&'t str> {
    match v.get_ref() {
        DeValue::String(s) => Some(s.as_ref()),
        _ => {
            expected(
                ctx,
                path,
                v,
                "a string",
                Some("put the value in double quotes".into()),
            );
            None
        }
    }
}

/// A non-empty string.
pub(crate) fn nonempty<'t>(ctx: &mut Ctx<'_>, path: &str, v: &'t Value<'_>) -> Option<&'t str> {
    let s = string(ctx, path, v)?;
    if s.trim().is_empty() {
        ctx.error(v.span(), path, "must not be empty", None);
        return None;
    }
    Some(s)
}

/// A whole number in `min..=max`.
pub(crate) fn uint(
    ctx: &mut Ctx<'_>,
    path: &str,
    v: &Value<'_>,
    min: u64,
    max: u64,
) -> Option<u64> {
    let n = match v.get_ref() {
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
        DeValue::String(s) if s.trim().parse::<u64>().is_ok() => {
            expected(
                ctx,
                path,
                v,
                "a number",
                Some(format!("remove the quotes: {}", s.trim())),
            );
            return None;
        }
        _ => {
            expected(ctx, path, v, "a whole number", None);
            return None;
        }
    };
    match n {
        Some(n) if n >= 0 && (n as u64) >= min && (n as u64) <= max => Some(n as u64),
        _ => {
            let shown = match v.get_ref() {
                DeValue::Integer(i) => i.to_string(),
                _ => String::new(),
            };
            ctx.error(
                v.span(),
                path,
                format!("{shown} is out of range: must be {min} to {max}"),
                None,
            );
            None
        }
    }
}

/// An integer number of seconds or a string like `"30s"`, in `min..=max`.
pub(crate) fn duration(
    ctx: &mut Ctx<'_>,
    path: &str,
    v: &Value<'_>,
    min: Duration,
    max: Duration,
) -> Option<Duration> {
    const EXPECTED: &str = "expected a duration like \"30s\" or a number of seconds";
    let d = match v.get_ref() {
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) if n >= 0 => Duration::from_secs(n as u64),
            _ => {
                ctx.error(
                    v.span(),
                    path,
                    format!("{EXPECTED}, found {i}"),
                    Some("durations cannot be negative".into()),
                );
                return None;
            }
        },
        DeValue::String(s) => match parse_duration(s) {
            Ok(d) => d,
            Err((msg, hint)) => {
                ctx.error(v.span(), path, format!("{msg}: {EXPECTED}"), hint);
                return None;
            }
        },
        DeValue::Float(f) => {
            ctx.error(
                v.span(),
                path,
                format!("{EXPECTED}, found {f}"),
                Some("use a smaller unit instead of a fraction, like \"1500ms\"".into()),
            );
            return None;
        }
        other => {
            ctx.error(
                v.span(),
                path,
                format!("{EXPECTED}, found {}", describe(other)),
                None,
            );
            return None;
        }
    };
    if d < min || d > max {
        let msg = format!(
            "{} is out of range: must be {} to {}",
            fmt_duration(d),
            fmt_duration(min),
            fmt_duration(max)
        );
        ctx.error(v.span(), path, msg, None);
        return None;
    }
    Some(d)
}

/// A list; `example` shows the admin the list syntax.
pub(crate) fn list<'t, 'i>(
    ctx: &mut Ctx<'_>,
    path: &str,
    v: &'t Value<'i>,
    example: &str,
) -> Option<&'t DeArray<'i>> {
    match v.get_ref() {
        DeValue::Array(a) => Some(a),
        _ => {
            let key = path.rsplit('.').next().unwrap_or(path);
            expected(
                ctx,
                path,
                v,
                "a list",
                Some(format!("write `{key} = {example}`")),
            );
            None
        }
    }
}

/// A list whose every element converts with `each`; `None` if any element was bad (all bad
/// elements are reported). Element paths are `key[1]`, `key[2]`, ...
pub(crate) fn list_of<'t, 'i, T>(
    ctx: &mut Ctx<'_>,
    path: &str,
    v: &'t Value<'i>,
    example: &str,
    mut each: impl FnMut(&mut Ctx<'_>, &str, &'t Value<'i>) -> Option<T>,
) -> Option<Vec<T>> {
    let items = list(ctx, path, v, example)?;
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        match each(ctx, &format!("{path}[{}]", i + 1), item) {
            Some(t) => out.push(t),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// A table, with its span (the `[header]` for a standard table).
pub(crate) fn table<'t, 'i>(
    ctx: &mut Ctx<'_>,
    path: &str,
    v: &'t Value<'i>,
) -> Option<&'t DeTable<'i>> {
    match v.get_ref() {
        DeValue::Table(t) => Some(t),
        _ => {
            expected(
                ctx,
                path,
                v,
                "a table",
                Some(format!("start a section with a `[{path}]` line")),
            );
            None
        }
    }
}
