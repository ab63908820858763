//! A report as one table, and its three text forms: an aligned table for people, CSV
//! (RFC 4180) and JSON. Pure.
//!
//! # Value forms
//!
//! | cell | table | CSV | JSON |
//! |---|---|---|---|
//! | count | `12` | `12` | `12` |
//! | total seconds | `1:02:03` | `3723` | `3723` |
//! | average seconds | `12.5` | `12.5` | `12.5` (one decimal) |
//! | rate (a fraction) | `83.3%` | `0.8333` | `0.8333` (four decimals) |
//! | time | `2024-05-06 11:00:00` (local to the report's zone) | `2024-05-06T09:00:00Z` | `"2024-05-06T09:00:00Z"` |
//! | map | `a=1;b=2` | `a=1;b=2` | `{"a": 1, "b": 2}` |
//! | none (undefined: 0 of 0) | `-` | empty | `null` |
//!
//! # JSON
//!
//! ```text
//! {
//!   "report": "queues",
//!   "from": "2024-05-06T00:00:00Z",      (null: from the first record)
//!   "to": "2024-05-07T00:00:00Z",        (null: to the last record; exclusive)
//!   "time_zone": "Europe/Berlin",        (IANA name; null: none applies, forecast --calls)
//!   "parameters": {"short_abandon_s": 5},
//!   "rows": [
//!     {"queue": "support", "offered": 171, ...},
//!     ...
//!   ]
//! }
//! ```
//!
//! Every row has every column, in the documented order.

use std::fmt::Write as _;

use super::period::{self, Period};

/// One value.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Undefined (an average of nothing) or absent.
    Null,
    Int(i64),
    Text(String),
    /// A total in seconds.
    Secs(i64),
    /// An average in seconds (one decimal).
    Avg(Option<f64>),
    /// A fraction 0..1, shown as a percentage in tables (four decimals elsewhere).
    Rate(Option<f64>),
    /// A number with this many decimals.
    Num(f64, usize),
    /// Unix seconds.
    Time(Option<i64>),
    /// Keys with integer values.
    Map(Vec<(String, i64)>),
}

impl Cell {
    /// An optional count.
    pub fn opt_int(v: Option<u64>) -> Cell {
        v.map_or(Cell::Null, |v| Cell::Int(v as i64))
    }

    pub(crate) fn numeric(&self) -> bool {
        matches!(
            self,
            Cell::Int(_) | Cell::Secs(_) | Cell::Avg(_) | Cell::Rate(_) | Cell::Num(..)
        )
    }
}

/// A report, ready to print.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// `summary`, `queues`, ...
    pub report: &'static str,
    /// The period the numbers cover; `None` when they come from no records (`forecast
    /// --calls`).
    pub period: Option<Period>,
    /// The zone the period, local hours and weekdays are read in and the text form shows
    /// times in; `None` when nothing depends on one (`forecast --calls`).
    pub tz: Option<jiff::tz::TimeZone>,
    /// Settings that shaped the numbers (shown in the title, `parameters` in JSON).
    pub parameters: Vec<(&'static str, Cell)>,
    /// Column keys: the CSV header, the JSON keys, the table header.
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

/// The output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    /// A self-contained page ([`super::html`]).
    Html,
}

impl Table {
    /// The table in `format`.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Table => self.text(),
            Format::Csv => self.csv(),
            Format::Json => self.json(),
            Format::Html if self.report == "forecast" => super::html::forecast_page(self),
            Format::Html => super::html::report_page(self),
        }
    }

    /// The title line of the text form.
    pub fn title(&self) -> String {
        let mut t = self.report.to_owned();
        if let Some(p) = &self.period {
            let tz = self.zone();
            let time = |b: Option<i64>, none: &str| {
                b.map_or_else(|| none.to_owned(), |t| period::local_time(t, &tz))
            };
            let from = time(p.from, "the first record");
            let to = time(p.to, "the last record");
            let _ = write!(t, ": {from} to {to} {}", period::tz_name(&tz));
        }
        for (i, (k, v)) in self.parameters.iter().enumerate() {
            let sep = if i == 0 && self.period.is_none() {
                ":"
            } else {
                ","
            };
            let _ = write!(t, "{sep} {k} {}", table_value(v));
        }
        t
    }

    /// The zone of the table ([`Table::tz`]; UTC without one).
    pub fn zone(&self) -> jiff::tz::TimeZone {
        self.tz.clone().unwrap_or(jiff::tz::TimeZone::UTC)
    }

    /// The name of the zone, as the titles print it (`UTC`, `Europe/Berlin`).
    pub fn zone_name(&self) -> String {
        period::tz_name(&self.zone())
    }

    /// Aligned columns for a terminal; times are local to [`Table::tz`].
    pub fn text(&self) -> String {
        let tz = self.zone();
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(|c| local_value(c, &tz)).collect())
            .collect();
        let mut width: Vec<usize> = self.columns.iter().map(|c| c.chars().count()).collect();
        for r in &cells {
            for (w, c) in width.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let right: Vec<bool> = (0..self.columns.len())
            .map(|i| {
                self.rows
                    .iter()
                    .find(|r| !matches!(r[i], Cell::Null))
                    .is_some_and(|r| r[i].numeric())
            })
            .collect();
        let mut out = self.title();
        out.push_str("\n\n");
        let line = |out: &mut String, vals: &[String]| {
            let mut l = String::new();
            for (i, v) in vals.iter().enumerate() {
                if i > 0 {
                    l.push_str("  ");
                }
                let pad = width[i] - v.chars().count();
                if right[i] {
                    l.extend(std::iter::repeat_n(' ', pad));
                    l.push_str(v);
                } else {
                    l.push_str(v);
                    l.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(l.trim_end());
            out.push('\n');
        };
        let header: Vec<String> = self.columns.iter().map(|c| (*c).to_owned()).collect();
        line(&mut out, &header);
        let dashes: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
        line(&mut out, &dashes);
        for r in &cells {
            line(&mut out, r);
        }
        if cells.is_empty() {
            out.push_str("(no rows)\n");
        }
        out
    }

    /// RFC 4180: a header of the column keys, CRLF line ends, fields quoted when needed.
    pub fn csv(&self) -> String {
        let mut out = String::new();
        self.csv_head(&mut out);
        for r in &self.rows {
            csv_row(&mut out, r);
        }
        out
    }

    /// The CSV header line (for rows written one at a time with [`csv_row`]).
    pub fn csv_head(&self, out: &mut String) {
        for (i, c) in self.columns.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_csv_field(out, c, false);
        }
        out.push_str("\r\n");
    }

    /// The documented JSON object, one row per line.
    pub fn json(&self) -> String {
        let mut out = String::new();
        self.json_head(&mut out);
        for (i, r) in self.rows.iter().enumerate() {
            self.json_row(&mut out, i, r);
        }
        Self::json_tail(&mut out, self.rows.len());
        out
    }

    /// The JSON object up to its rows (then [`Table::json_row`] for each row,
    /// [`Table::json_tail`] to end).
    pub fn json_head(&self, out: &mut String) {
        let bound =
            |b: Option<i64>| b.map_or_else(|| "null".to_owned(), |t| json_str(&period::rfc3339(t)));
        out.push_str("{\n");
        let _ = writeln!(out, "  \"report\": {},", json_str(self.report));
        let p = self.period.unwrap_or(Period::ALL);
        let _ = writeln!(out, "  \"from\": {},", bound(p.from));
        let _ = writeln!(out, "  \"to\": {},", bound(p.to));
        let zone = self
            .tz
            .as_ref()
            .map_or_else(|| "null".to_owned(), |tz| json_str(&period::tz_name(tz)));
        let _ = writeln!(out, "  \"time_zone\": {zone},");
        out.push_str("  \"parameters\": {");
        push_json_fields(out, self.parameters.iter().map(|(k, v)| (&**k, v)));
        out.push_str("},\n  \"rows\": [");
    }

    /// Row `i` (0-based) of the JSON object, with this table's columns.
    pub fn json_row(&self, out: &mut String, i: usize, r: &[Cell]) {
        out.push_str(if i == 0 { "\n    {" } else { ",\n    {" });
        push_json_fields(out, self.columns.iter().copied().zip(r));
        out.push('}');
    }

    /// The end of the JSON object after `rows` rows.
    pub fn json_tail(out: &mut String, rows: usize) {
        out.push_str(if rows == 0 { "]\n}\n" } else { "\n  ]\n}\n" });
    }
}

/// One CSV row (after [`Table::csv_head`]). Values are written straight into `out` (the
/// call list writes a million rows).
pub fn csv_row(out: &mut String, r: &[Cell]) {
    for (i, c) in r.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_csv_value(out, c);
    }
    out.push_str("\r\n");
}

/// `h:mm:ss`.
pub fn hms(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    format!("{sign}{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn map_text(m: &[(String, i64)]) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";")
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

/// A cell as the text table shows it, times in `tz`.
pub(crate) fn local_value(c: &Cell, tz: &jiff::tz::TimeZone) -> String {
    match c {
        Cell::Time(Some(t)) => period::local_time(*t, tz),
        c => table_value(c),
    }
}

/// A cell as the text table shows it (times UTC).
pub(crate) fn table_value(c: &Cell) -> String {
    match c {
        Cell::Null => "-".into(),
        Cell::Int(v) => v.to_string(),
        Cell::Text(s) => s
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect(),
        Cell::Secs(s) => hms(*s),
        Cell::Avg(v) => finite(*v).map_or_else(|| "-".into(), |v| format!("{v:.1}")),
        Cell::Rate(v) => finite(*v).map_or_else(|| "-".into(), |v| format!("{:.1}%", v * 100.0)),
        Cell::Num(v, p) => format!("{v:.p$}"),
        Cell::Time(t) => t.map_or_else(|| "-".into(), period::utc_time),
        Cell::Map(m) => map_text(m),
    }
}

/// A cell's CSV field. Numbers and times never need quoting (no comma, quote, line break or
/// edge space); text is defused ([`defuse_formula`]) and quoted when needed.
fn push_csv_value(out: &mut String, c: &Cell) {
    match c {
        Cell::Null => {}
        Cell::Int(v) | Cell::Secs(v) => {
            let _ = write!(out, "{v}");
        }
        Cell::Text(s) => push_csv_field(out, s, true),
        Cell::Avg(v) => {
            if let Some(v) = finite(*v) {
                let _ = write!(out, "{v:.1}");
            }
        }
        Cell::Rate(v) => {
            if let Some(v) = finite(*v) {
                let _ = write!(out, "{v:.4}");
            }
        }
        Cell::Num(v, p) => {
            let _ = write!(out, "{v:.p$}");
        }
        Cell::Time(t) => {
            if let Some(t) = t {
                period::push_rfc3339(out, *t);
            }
        }
        Cell::Map(m) => push_csv_field(out, &map_text(m), true),
    }
}

/// CSV formula injection (OWASP): a text value a spreadsheet would run as a formula — one
/// that begins with `=`, `+`, `-`, `@`, a tab or a carriage return — gets a leading `'`,
/// which spreadsheets show as text. A phone number in E.164 form (`+` and digits only, like
/// `+4930123456`) is left as it is: it is data, not a formula. Numbers (counts, seconds,
/// rates, which may be negative) are never text cells and are never touched.
pub fn defuse_formula(s: &str) -> String {
    if needs_tick(s) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// Whether [`defuse_formula`] puts a `'` before `s`.
fn needs_tick(s: &str) -> bool {
    match s.as_bytes() {
        [b'=' | b'-' | b'@' | b'\t' | b'\r', ..] => true,
        // `+` and digits only is an E.164 number, not a formula.
        [b'+', digits @ ..] => digits.is_empty() || !digits.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// `v` as an RFC 4180 field (defused first when `defuse`): quoted, with quotes doubled, when
/// it holds a comma, quote or line break or begins or ends with a space.
fn push_csv_field(out: &mut String, v: &str, defuse: bool) {
    let tick = defuse && needs_tick(v);
    // The tick is neither a special character nor a space: it only hides a leading space.
    let special = v.bytes().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'));
    let quote = special || (!tick && v.starts_with(' ')) || v.ends_with(' ');
    if quote {
        out.push('"');
    }
    if tick {
        out.push('\'');
    }
    if special && v.contains('"') {
        out.push_str(&v.replace('"', "\"\""));
    } else {
        out.push_str(v);
    }
    if quote {
        out.push('"');
    }
}

/// `"key": value` pairs, comma-separated, appended to `out`.
fn push_json_fields<'a>(out: &mut String, fields: impl Iterator<Item = (&'a str, &'a Cell)>) {
    for (i, (k, v)) in fields.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_json_str(out, k);
        out.push_str(": ");
        push_json_value(out, v);
    }
}

fn push_json_value(out: &mut String, c: &Cell) {
    let null = |out: &mut String| out.push_str("null");
    match c {
        Cell::Null => null(out),
        Cell::Int(v) | Cell::Secs(v) => {
            let _ = write!(out, "{v}");
        }
        Cell::Text(s) => push_json_str(out, s),
        Cell::Avg(v) => match finite(*v) {
            Some(v) => {
                let _ = write!(out, "{v:.1}");
            }
            None => null(out),
        },
        Cell::Rate(v) => match finite(*v) {
            Some(v) => {
                let _ = write!(out, "{v:.4}");
            }
            None => null(out),
        },
        Cell::Num(v, p) if v.is_finite() => {
            let _ = write!(out, "{v:.p$}");
        }
        Cell::Num(..) => null(out),
        Cell::Time(Some(t)) => {
            // RFC 3339 text needs no escaping.
            out.push('"');
            period::push_rfc3339(out, *t);
            out.push('"');
        }
        Cell::Time(None) => null(out),
        Cell::Map(m) => {
            out.push('{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_json_str(out, k);
                let _ = write!(out, ": {v}");
            }
            out.push('}');
        }
    }
}

/// A JSON string literal (RFC 8259 §7).
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_json_str(&mut out, s);
    out
}

/// [`json_str`] appended to `out`.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table {
            report: "demo",
            period: Some(Period {
                from: Some(1_714_521_600),
                to: Some(1_714_608_000),
            }),
            tz: Some(jiff::tz::TimeZone::UTC),
            parameters: vec![("short_abandon_s", Cell::Int(5))],
            columns: vec!["name", "n", "talk_s", "avg_s", "rate", "at", "map"],
            rows: vec![
                vec![
                    Cell::Text("a, \"b\"\nc".into()),
                    Cell::Int(12),
                    Cell::Secs(3723),
                    Cell::Avg(Some(12.25)),
                    Cell::Rate(Some(5.0 / 6.0)),
                    Cell::Time(Some(1_714_554_000)),
                    Cell::Map(vec![("2".into(), 240), ("".into(), 1)]),
                ],
                vec![
                    Cell::Text("ü".into()),
                    Cell::Int(0),
                    Cell::Secs(0),
                    Cell::Avg(None),
                    Cell::Rate(None),
                    Cell::Time(None),
                    Cell::Map(vec![]),
                ],
            ],
        }
    }

    #[test]
    fn text_aligns_numbers_right_and_text_left() {
        assert_eq!(
            table().text(),
            "demo: 2024-05-01 00:00:00 to 2024-05-02 00:00:00 UTC, short_abandon_s 5\n\
             \n\
             name       n   talk_s  avg_s   rate  at                   map\n\
             --------  --  -------  -----  -----  -------------------  --------\n\
             a, \"b\" c  12  1:02:03   12.2  83.3%  2024-05-01 09:00:00  2=240;=1\n\
             ü          0  0:00:00      -      -  -\n"
        );
        let mut empty = table();
        empty.rows.clear();
        empty.period = Some(Period::ALL);
        assert!(
            empty
                .text()
                .starts_with("demo: the first record to the last record UTC, short")
        );
        empty.period = None;
        assert!(empty.text().starts_with("demo: short_abandon_s 5\n"));
        assert!(empty.json().contains("\"from\": null,\n  \"to\": null,"));
        assert!(empty.text().ends_with("(no rows)\n"));
    }

    #[test]
    fn csv_quotes_what_needs_quoting_and_ends_lines_with_crlf() {
        assert_eq!(
            table().csv(),
            "name,n,talk_s,avg_s,rate,at,map\r\n\
             \"a, \"\"b\"\"\nc\",12,3723,12.2,0.8333,2024-05-01T09:00:00Z,2=240;=1\r\n\
             ü,0,0,,,,\r\n"
        );
    }

    #[test]
    fn csv_defuses_formulas_but_not_phone_numbers_or_negative_numbers() {
        let t = Table {
            report: "demo",
            period: None,
            tz: None,
            parameters: Vec::new(),
            columns: vec!["v", "n"],
            rows: [
                "=HYPERLINK(\"http://x\")",
                "+1+cmd|' /C calc'!A0",
                "-2+3",
                "@SUM(A1)",
                "\tx",
                "\rx",
                "+",
                "+49 30 123",
                "+4930123456",
                "4930123456",
                "a=b",
                "",
            ]
            .iter()
            .map(|v| vec![Cell::Text((*v).into()), Cell::Int(-5)])
            .chain([vec![Cell::Map(vec![("=x".into(), 1)]), Cell::Num(-1.5, 1)]])
            .collect(),
        };
        let csv = t.csv();
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(
            lines,
            [
                "v,n",
                "\"'=HYPERLINK(\"\"http://x\"\")\",-5",
                "'+1+cmd|' /C calc'!A0,-5",
                "'-2+3,-5",
                "'@SUM(A1),-5",
                "'\tx,-5",
                "\"'\rx\",-5",
                "'+,-5",
                "'+49 30 123,-5",
                "+4930123456,-5",
                "4930123456,-5",
                "a=b,-5",
                ",-5",
                "'=x=1,-1.5",
                "",
            ]
        );
        // Only CSV: the table and JSON forms show the value as it is.
        assert!(t.json().contains("\"=HYPERLINK("));
    }

    #[test]
    fn json_is_the_documented_object_with_nulls_for_undefined_values() {
        assert_eq!(
            table().json(),
            "{\n  \"report\": \"demo\",\n  \"from\": \"2024-05-01T00:00:00Z\",\n  \
             \"to\": \"2024-05-02T00:00:00Z\",\n  \"time_zone\": \"UTC\",\n  \
             \"parameters\": {\"short_abandon_s\": 5},\n  \
             \"rows\": [\n    {\"name\": \"a, \\\"b\\\"\\nc\", \"n\": 12, \"talk_s\": 3723, \
             \"avg_s\": 12.2, \"rate\": 0.8333, \"at\": \"2024-05-01T09:00:00Z\", \
             \"map\": {\"2\": 240, \"\": 1}},\n    {\"name\": \"ü\", \"n\": 0, \"talk_s\": 0, \
             \"avg_s\": null, \"rate\": null, \"at\": null, \"map\": {}}\n  ]\n}\n"
        );
        assert_eq!(json_str("\u{1}\t\\"), "\"\\u0001\\t\\\\\"");
    }

    #[test]
    fn durations_are_hours_minutes_seconds() {
        assert_eq!(hms(0), "0:00:00");
        assert_eq!(hms(59), "0:00:59");
        assert_eq!(hms(3600 * 27 + 61), "27:01:01");
        assert_eq!(hms(-61), "-0:01:01");
    }
}
