//! Number patterns: what a rule's `match` and a caller list accept.
//!
//! # Contract
//!
//! - [`Pattern::parse`] takes the admin's text and either returns a pattern or a message and a
//!   hint. Three forms:
//!   - an exact number: `500`, `*97`, `+4930123456` (digits, `*`, `#`, `+`);
//!   - a range: `2000-2099` (both ends digits of the same length, low ≤ high; matches numbers
//!     of that length between them, inclusive);
//!   - an Asterisk-style pattern starting with `_`: `X` = 0–9, `Z` = 1–9, `N` = 2–9,
//!     `[15-7]` = one of the listed digits or ranges, `.` = one or more characters,
//!     `!` = zero or more characters (`.` and `!` only at the end), other characters
//!     (digits, `*`, `#`, `+`) match themselves. Letters are case-insensitive.
//! - Internally every pattern is a union of alternatives, each a fixed sequence of character
//!   sets plus an optional wildcard tail; a range becomes a few such alternatives
//!   (`2000-2149` = `20XX` ∪ `21[0-4]X`). [`Pattern::covers`] is exact language inclusion over
//!   that representation (a small subset construction), used to find shadowed rules.
//! - [`Pattern::matches`] returns the part matched by the wildcard tail (`""` when the pattern
//!   has none), so `_*72.` on `*721003` yields `1003`.
//! - [`CallerPattern`] is for caller lists: `_` patterns as above, `+7900*` (a trailing `*`
//!   means "followed by anything"), or an exact caller (`anonymous` works too).

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::fmt;

/// Symbols a character set can hold: `0`–`9`, `*`, `#`, `+`.
const SYMBOLS: usize = 13;
/// Bit for "any other character" (only wildcard tails match it).
const OTHER: usize = SYMBOLS;
const DIGITS: u16 = 0x3FF;

fn sym(c: char) -> Option<usize> {
    match c {
        '0'..='9' => Some(c as usize - '0' as usize),
        '*' => Some(10),
        '#' => Some(11),
        '+' => Some(12),
        _ => None,
    }
}

fn digit_set(lo: u8, hi: u8) -> u16 {
    (lo..=hi).fold(0, |m, d| m | 1 << d)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Tail {
    None,
    /// `.`
    OneOrMore,
    /// `!`
    ZeroOrMore,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Alt {
    /// One bit set per symbol allowed at that position.
    elems: Vec<u16>,
    tail: Tail,
}

/// A parsed `match` pattern; `Display` gives back the admin's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    alts: Vec<Alt>,
}

/// Why a pattern did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub message: String,
    pub hint: String,
}

/// The syntax summary every pattern error ends with.
pub const SYNTAX: &str = "write an exact number (\"500\"), a range (\"2000-2099\") or a pattern \
     starting with `_`: X = 0-9, Z = 1-9, N = 2-9, [1-5] = one of, \".\" = one or more, \
     \"!\" = zero or more at the end (\"_1XXX\", \"_0.\")";

fn err(message: String) -> PatternError {
    PatternError {
        message,
        hint: SYNTAX.into(),
    }
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(err("an empty pattern matches nothing".into()));
        }
        let alts = if let Some(body) = t.strip_prefix('_') {
            vec![parse_asterisk(t, body)?]
        } else if let Some((lo, hi)) = t.split_once('-') {
            parse_range(t, lo.trim(), hi.trim())?
        } else {
            let mut elems = Vec::new();
            for c in t.chars() {
                match sym(c) {
                    Some(s) => elems.push(1 << s),
                    None => {
                        let mut e = err(format!("`{t}` is not a number: `{c}` is not allowed"));
                        if t.chars().any(|c| "XZNxzn.![".contains(c)) {
                            e.hint = format!("patterns start with `_`: write \"_{t}\"");
                        }
                        return Err(e);
                    }
                }
            }
            vec![Alt {
                elems,
                tail: Tail::None,
            }]
        };
        Ok(Pattern {
            text: t.to_string(),
            alts,
        })
    }

    /// Whether `number` matches; `Some(tail)` with the part matched by `.`/`!` (else `""`).
    pub fn matches<'n>(&self, number: &'n str) -> Option<&'n str> {
        'alts: for alt in &self.alts {
            let mut chars = number.char_indices();
            for &set in &alt.elems {
                match chars.next() {
                    Some((_, c)) if sym(c).is_some_and(|s| set & (1 << s) != 0) => {}
                    _ => continue 'alts,
                }
            }
            let rest = chars.next().map_or("", |(i, _)| &number[i..]);
            let ok = match alt.tail {
                Tail::None => rest.is_empty(),
                Tail::OneOrMore => !rest.is_empty(),
                Tail::ZeroOrMore => true,
            };
            if ok {
                return Some(rest);
            }
        }
        None
    }

    /// Whether every number `other` matches, `self` matches too (exact).
    pub fn covers(&self, other: &Pattern) -> bool {
        // NFA states: (alternative, position); position len+1 is "inside a `.` tail".
        type St = (usize, usize);
        let step = |alts: &[Alt], (a, pos): St, s: usize| -> Option<St> {
            let alt = &alts[a];
            let len = alt.elems.len();
            if pos < len {
                (s < SYMBOLS && alt.elems[pos] & (1 << s) != 0).then_some((a, pos + 1))
            } else {
                match alt.tail {
                    Tail::None => None,
                    Tail::ZeroOrMore => Some((a, len)),
                    Tail::OneOrMore => Some((a, len + 1)),
                }
            }
        };
        let accepting = |alts: &[Alt], (a, pos): St| {
            let alt = &alts[a];
            let len = alt.elems.len();
            (pos == len && alt.tail != Tail::OneOrMore) || pos == len + 1
        };
        let start_a: BTreeSet<St> = (0..self.alts.len()).map(|a| (a, 0)).collect();
        let mut seen: HashSet<(St, BTreeSet<St>)> = HashSet::new();
        let mut queue: VecDeque<(St, BTreeSet<St>)> = VecDeque::new();
        for b in 0..other.alts.len() {
            queue.push_back(((b, 0), start_a.clone()));
        }
        while let Some((b, a_set)) = queue.pop_front() {
            if !seen.insert((b, a_set.clone())) {
                continue;
            }
            if accepting(&other.alts, b) && !a_set.iter().any(|&a| accepting(&self.alts, a)) {
                return false;
            }
            for s in 0..=OTHER {
                let Some(b2) = step(&other.alts, b, s) else {
                    continue;
                };
                let a2: BTreeSet<St> = a_set
                    .iter()
                    .filter_map(|&a| step(&self.alts, a, s))
                    .collect();
                queue.push_back((b2, a2));
            }
        }
        true
    }

    /// Whether the pattern matches exactly one number (an exact number or a one-number range).
    pub fn exact(&self) -> Option<String> {
        let [alt] = self.alts.as_slice() else {
            return None;
        };
        if alt.tail != Tail::None {
            return None;
        }
        const CHARS: &[u8; SYMBOLS] = b"0123456789*#+";
        alt.elems
            .iter()
            .map(|&set| {
                (set.count_ones() == 1).then(|| CHARS[set.trailing_zeros() as usize] as char)
            })
            .collect()
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_asterisk(text: &str, body: &str) -> Result<Alt, PatternError> {
    if body.is_empty() {
        return Err(err("`_` alone is not a pattern".into()));
    }
    let mut elems = Vec::new();
    let mut tail = Tail::None;
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if tail != Tail::None {
            return Err(err(format!(
                "in `{text}`, `.` and `!` must be the last character"
            )));
        }
        let set = match c.to_ascii_uppercase() {
            'X' => DIGITS,
            'Z' => digit_set(1, 9),
            'N' => digit_set(2, 9),
            '.' => {
                tail = Tail::OneOrMore;
                continue;
            }
            '!' => {
                tail = Tail::ZeroOrMore;
                continue;
            }
            '[' => {
                let mut set = 0u16;
                let mut prev: Option<usize> = None;
                let mut closed = false;
                while let Some(c) = chars.next() {
                    if c == ']' {
                        closed = true;
                        break;
                    }
                    if c == '-' {
                        let (Some(lo), Some(hi)) = (prev, chars.next().and_then(sym)) else {
                            return Err(err(format!(
                                "in `{text}`, a `-` in [...] needs a digit on both sides"
                            )));
                        };
                        if lo > 9 || hi > 9 || lo > hi {
                            return Err(err(format!(
                                "in `{text}`, a range in [...] goes from a lower to a higher digit"
                            )));
                        }
                        set |= digit_set(lo as u8, hi as u8);
                        prev = None;
                        continue;
                    }
                    let Some(s) = sym(c) else {
                        return Err(err(format!("in `{text}`, `{c}` cannot appear in [...]")));
                    };
                    set |= 1 << s;
                    prev = Some(s);
                }
                if !closed {
                    return Err(err(format!("in `{text}`, `[` has no closing `]`")));
                }
                if set == 0 {
                    return Err(err(format!("in `{text}`, `[]` matches nothing")));
                }
                set
            }
            _ => match sym(c) {
                Some(s) => 1 << s,
                None => {
                    return Err(err(format!(
                        "in `{text}`, `{c}` is not a pattern character"
                    )));
                }
            },
        };
        elems.push(set);
    }
    Ok(Alt { elems, tail })
}

fn parse_range(text: &str, lo: &str, hi: &str) -> Result<Vec<Alt>, PatternError> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(lo) || !digits(hi) {
        return Err(err(format!(
            "`{text}` is not a range: both ends must be digits"
        )));
    }
    if lo.len() != hi.len() {
        let mut e = err(format!(
            "`{text}` is not a range: the ends have different lengths"
        ));
        e.hint = "both ends need the same number of digits, like \"2000-2099\"".into();
        return Err(e);
    }
    if lo > hi {
        let mut e = err(format!("`{text}` is an empty range"));
        e.hint = format!("write the lower number first: \"{hi}-{lo}\"");
        return Err(e);
    }
    let lo: Vec<u8> = lo.bytes().map(|b| b - b'0').collect();
    let hi: Vec<u8> = hi.bytes().map(|b| b - b'0').collect();
    Ok(range(&lo, &hi)
        .into_iter()
        .map(|elems| Alt {
            elems,
            tail: Tail::None,
        })
        .collect())
}

/// Sequences of digit sets whose union is exactly the numbers `lo..=hi` (same length).
fn range(lo: &[u8], hi: &[u8]) -> Vec<Vec<u16>> {
    let n = lo.len();
    if n == 0 {
        return vec![vec![]];
    }
    let prefix = |d: u16, rest: Vec<Vec<u16>>| -> Vec<Vec<u16>> {
        rest.into_iter()
            .map(|mut r| {
                r.insert(0, d);
                r
            })
            .collect()
    };
    if lo[0] == hi[0] {
        return prefix(1 << lo[0], range(&lo[1..], &hi[1..]));
    }
    let zeros = vec![0u8; n - 1];
    let nines = vec![9u8; n - 1];
    let mut out = Vec::new();
    let mut first = lo[0];
    let mut last = hi[0];
    if lo[1..] != zeros[..] {
        out.extend(prefix(1 << lo[0], range(&lo[1..], &nines)));
        first += 1;
    }
    let mut upper = Vec::new();
    if hi[1..] != nines[..] {
        upper = prefix(1 << hi[0], range(&zeros, &hi[1..]));
        last -= 1;
    }
    if first <= last {
        let mut full = vec![digit_set(first, last)];
        full.extend(std::iter::repeat_n(DIGITS, n - 1));
        out.push(full);
    }
    out.extend(upper);
    out
}

/// An entry of a caller list (`block`, `vip`, a rule's `when.caller`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerPattern {
    /// `_` syntax, as for `match`.
    Pattern(Pattern),
    /// `+7900*`: starts with this.
    Prefix(String),
    /// Anything else, compared as written.
    Exact(String),
}

impl CallerPattern {
    pub fn parse(text: &str) -> Result<CallerPattern, PatternError> {
        let t = text.trim();
        if t.starts_with('_') {
            return Pattern::parse(t).map(CallerPattern::Pattern);
        }
        let hint = "write a number (\"+4930123456\"), a prefix with a trailing `*` (\"+7900*\") \
                    or a `_` pattern (\"_+49XXX.\")";
        match t.strip_suffix('*') {
            _ if t.is_empty() => Err(PatternError {
                message: "an empty caller pattern".into(),
                hint: hint.into(),
            }),
            Some("") => Err(PatternError {
                message: "`*` alone would match every caller".into(),
                hint: hint.into(),
            }),
            Some(p) if p.contains('*') => Err(PatternError {
                message: format!("`{t}`: only a trailing `*` is a wildcard"),
                hint: hint.into(),
            }),
            Some(p) => Ok(CallerPattern::Prefix(p.to_string())),
            None if t.contains('*') => Err(PatternError {
                message: format!("`{t}`: only a trailing `*` is a wildcard"),
                hint: hint.into(),
            }),
            None => Ok(CallerPattern::Exact(t.to_string())),
        }
    }

    pub fn matches(&self, caller: &str) -> bool {
        match self {
            CallerPattern::Pattern(p) => p.matches(caller).is_some(),
            CallerPattern::Prefix(p) => caller.starts_with(p.as_str()),
            CallerPattern::Exact(e) => caller == e,
        }
    }
}
