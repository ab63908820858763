//! STAND-IN for the prompts helper's `say` module (numbers, durations, digits → prompt names).
//! Only what the interpreter and its tests need; the lead drops this file at merge.

/// Grammatical gender of the counted noun (Russian: один / одна / одно).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gender {
    Masculine,
    Feminine,
    Neuter,
}

const SMALL: [&str; 20] = [
    "n_0", "n_1", "n_2", "n_3", "n_4", "n_5", "n_6", "n_7", "n_8", "n_9", "n_10", "n_11", "n_12",
    "n_13", "n_14", "n_15", "n_16", "n_17", "n_18", "n_19",
];
const TENS: [&str; 10] = [
    "", "", "n_20", "n_30", "n_40", "n_50", "n_60", "n_70", "n_80", "n_90",
];
const DIGITS: [&str; 10] = [
    "digit_0", "digit_1", "digit_2", "digit_3", "digit_4", "digit_5", "digit_6", "digit_7",
    "digit_8", "digit_9",
];

/// `n` as prompt names (stand-in: ignores language and gender, caps at 999).
pub fn say_number(_lang: &str, n: u64, _gender: Gender) -> Vec<&'static str> {
    let n = n.min(999) as usize;
    let mut out = Vec::new();
    if n >= 100 {
        out.push(SMALL[n / 100]);
        out.push("n_hundred");
    }
    let r = n % 100;
    if r >= 20 {
        out.push(TENS[r / 10]);
        if r % 10 != 0 {
            out.push(SMALL[r % 10]);
        }
    } else if r != 0 || out.is_empty() {
        out.push(SMALL[r]);
    }
    out
}

/// `secs` as minutes (rounded up), stand-in: `<number> minutes`.
pub fn say_duration(lang: &str, secs: u64) -> Vec<&'static str> {
    let mins = secs.div_ceil(60).max(1);
    let mut out = say_number(lang, mins, Gender::Feminine);
    out.push(if mins == 1 { "minute" } else { "minutes" });
    out
}

/// Each digit of `s`; other characters are skipped.
pub fn say_digits(_lang: &str, s: &str) -> Vec<&'static str> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| DIGITS[usize::from(b - b'0')])
        .collect()
}
