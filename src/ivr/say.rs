//! Saying numbers, digit strings, counts and durations: text → sequences of prompt names.
//!
//! Contract: pure functions, no IO. Every function takes a language tag, resolved with
//! [`prompts::language`] (so `ru-RU` is Russian and an unknown language is English), and
//! returns the names of catalogue prompts to play in order; the prompt-coverage test checks
//! that every name returned for 0..=999 exists for every language.
//!
//! Grammar:
//! - Numbers are said in words up to 999 999 (`num-0`…`num-19`, tens `num-20`…`num-90`,
//!   hundreds `num-100`…`num-900`, `thousand-*`), without "and" ("one hundred twenty one");
//!   from one million on they are said digit by digit.
//! - Russian numbers agree with the noun's [`Gender`]: `num-1-f` одна / `num-2-f` две
//!   (минута, секунда, тысяча), `num-1-n` одно (сообщение); the masculine forms otherwise.
//! - Nouns after a number take the CLDR plural category of the number ([`plural`]): English
//!   `one` for 1, `many` otherwise; Russian `one` for 1, 21, 31…, `few` for 2–4, 22–24…,
//!   `many` for 0, 5–20, 25–30… (11–14 always `many`).
//! - Durations are rounded to the nearest minute (half up; 90 s is 2 minutes), said as hours
//!   and minutes ("1 hour and 5 minutes"); under 60 s they are "less than a minute".

use super::prompts;

/// Grammatical gender of the noun a number counts (matters in Russian only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Gender {
    /// один, два (час, номер; and bare numbers).
    Masculine,
    /// одна, две (минута, секунда, тысяча).
    Feminine,
    /// одно, два (сообщение).
    Neuter,
}

/// CLDR plural category of an integer, which picks a noun's form after a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Plural {
    /// en 1; ru 1, 21, 31… but not 11.
    One,
    /// ru 2–4, 22–24… but not 12–14 (never in English).
    Few,
    /// Everything else (CLDR `many` in Russian, `other` in English).
    Many,
}

/// A countable noun with a prompt per plural form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// second(s), секунда (feminine).
    Second,
    /// minute(s), минута (feminine).
    Minute,
    /// hour(s), час (masculine).
    Hour,
    /// new message(s), новое сообщение (neuter).
    NewMessage,
    /// old message(s), старое сообщение (neuter).
    OldMessage,
}

impl Unit {
    /// The prompt names for the forms `one`, `few`, `many`.
    fn forms(self) -> [&'static str; 3] {
        match self {
            Unit::Second => ["second-one", "second-few", "second-many"],
            Unit::Minute => ["minute-one", "minute-few", "minute-many"],
            Unit::Hour => ["hour-one", "hour-few", "hour-many"],
            Unit::NewMessage => ["new-message-one", "new-message-few", "new-message-many"],
            Unit::OldMessage => ["old-message-one", "old-message-few", "old-message-many"],
        }
    }

    /// The noun's gender (the Russian one; English ignores gender).
    pub fn gender(self) -> Gender {
        match self {
            Unit::Second | Unit::Minute => Gender::Feminine,
            Unit::Hour => Gender::Masculine,
            Unit::NewMessage | Unit::OldMessage => Gender::Neuter,
        }
    }

    /// The prompt name of this noun's form for `category`.
    pub fn form(self, category: Plural) -> &'static str {
        let [one, few, many] = self.forms();
        match category {
            Plural::One => one,
            Plural::Few => few,
            Plural::Many => many,
        }
    }
}

const ONES: [&str; 20] = [
    "num-0", "num-1", "num-2", "num-3", "num-4", "num-5", "num-6", "num-7", "num-8", "num-9",
    "num-10", "num-11", "num-12", "num-13", "num-14", "num-15", "num-16", "num-17", "num-18",
    "num-19",
];
const TENS: [&str; 10] = [
    "", "", "num-20", "num-30", "num-40", "num-50", "num-60", "num-70", "num-80", "num-90",
];
const HUNDREDS: [&str; 10] = [
    "", "num-100", "num-200", "num-300", "num-400", "num-500", "num-600", "num-700", "num-800",
    "num-900",
];
const THOUSAND: [&str; 3] = ["thousand-one", "thousand-few", "thousand-many"];

/// Language whose grammar is Russian (the others follow English).
fn is_ru(lang: &str) -> bool {
    prompts::language(lang) == "ru"
}

/// The plural category of `n` in `lang` (unknown languages: English).
pub fn plural(lang: &str, n: u64) -> Plural {
    if is_ru(lang) {
        let (d, h) = (n % 10, n % 100);
        if d == 1 && h != 11 {
            Plural::One
        } else if (2..=4).contains(&d) && !(12..=14).contains(&h) {
            Plural::Few
        } else {
            Plural::Many
        }
    } else if n == 1 {
        Plural::One
    } else {
        Plural::Many
    }
}

/// The prompt for a units digit 1..=19 in `gender`.
fn ones(ru: bool, n: u32, gender: Gender, out: &mut Vec<&'static str>) {
    out.push(match (ru, n, gender) {
        (true, 1, Gender::Feminine) => "num-1-f",
        (true, 1, Gender::Neuter) => "num-1-n",
        (true, 2, Gender::Feminine) => "num-2-f",
        _ => ONES[n as usize],
    });
}

/// 1..=999 in words (nothing for 0).
fn under_thousand(ru: bool, n: u32, gender: Gender, out: &mut Vec<&'static str>) {
    let (h, rest) = (n / 100, n % 100);
    if h > 0 {
        out.push(HUNDREDS[h as usize]);
    }
    if rest >= 20 {
        out.push(TENS[(rest / 10) as usize]);
        if rest % 10 > 0 {
            ones(ru, rest % 10, gender, out);
        }
    } else if rest > 0 {
        ones(ru, rest, gender, out);
    }
}

/// The prompts saying `n` as a cardinal number agreeing with a noun of `gender`.
pub fn say_number(lang: &str, n: u32, gender: Gender) -> Vec<&'static str> {
    let ru = is_ru(lang);
    if n == 0 {
        return vec![ONES[0]];
    }
    if n >= 1_000_000 {
        return say_digits(lang, &n.to_string());
    }
    let mut out = Vec::with_capacity(6);
    let (thousands, rest) = (n / 1000, n % 1000);
    if thousands > 0 {
        under_thousand(ru, thousands, Gender::Feminine, &mut out);
        out.push(match plural(lang, u64::from(thousands)) {
            Plural::One => THOUSAND[0],
            Plural::Few => THOUSAND[1],
            Plural::Many => THOUSAND[2],
        });
    }
    under_thousand(ru, rest, gender, &mut out);
    out
}

/// The prompts saying `digits` one character at a time: `0`–`9`, `*` (star), `#` (hash),
/// `+` (plus); any other character (spaces, dashes, letters) is skipped.
pub fn say_digits(_lang: &str, digits: &str) -> Vec<&'static str> {
    digits
        .chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(ONES[(c as u8 - b'0') as usize]),
            '*' => Some("star"),
            '#' => Some("hash"),
            '+' => Some("plus"),
            _ => None,
        })
        .collect()
}

/// The prompts saying `n` followed by `unit` in the form the number requires
/// ("3 minutes", "21 минута", "2 новых сообщения").
pub fn say_count(lang: &str, n: u32, unit: Unit) -> Vec<&'static str> {
    let mut out = say_number(lang, n, unit.gender());
    out.push(unit.form(plural(lang, u64::from(n))));
    out
}

/// The prompts saying a duration of `secs` seconds, rounded to the nearest minute: "less than
/// a minute" under 60 s, else "[H hours] [and] [M minutes]".
pub fn say_duration(lang: &str, secs: u64) -> Vec<&'static str> {
    if secs < 60 {
        return vec!["less-than-a-minute"];
    }
    let minutes = secs.saturating_add(30) / 60;
    let (hours, minutes) = (minutes / 60, (minutes % 60) as u32);
    let mut out = Vec::new();
    if hours > 0 {
        out.extend(say_count(
            lang,
            u32::try_from(hours).unwrap_or(u32::MAX),
            Unit::Hour,
        ));
    }
    if minutes > 0 {
        if hours > 0 {
            out.push("and");
        }
        out.extend(say_count(lang, minutes, Unit::Minute));
    }
    out
}

/// The prompts for "you are caller number N" (ru: "Ваш номер в очереди: N").
pub fn say_position(lang: &str, n: u32) -> Vec<&'static str> {
    let mut out = vec!["you-are-caller-number"];
    out.extend(say_number(lang, n, Gender::Masculine));
    out
}

/// The prompts for "your expected wait time is <duration>".
pub fn say_wait(lang: &str, secs: u64) -> Vec<&'static str> {
    let mut out = vec!["expected-wait-time"];
    out.extend(say_duration(lang, secs));
    out
}

/// The prompts for "you have N new messages [and M old messages]" (the old ones only when
/// there are any).
pub fn say_message_count(lang: &str, new: u32, old: u32) -> Vec<&'static str> {
    let mut out = vec!["vm-you-have"];
    out.extend(say_count(lang, new, Unit::NewMessage));
    if old > 0 {
        out.push("and");
        out.extend(say_count(lang, old, Unit::OldMessage));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Gender::*;

    fn n(lang: &str, v: u32) -> String {
        say_number(lang, v, Masculine).join(" ")
    }

    #[test]
    fn english_numbers() {
        let cases = [
            (0, "num-0"),
            (1, "num-1"),
            (2, "num-2"),
            (5, "num-5"),
            (11, "num-11"),
            (12, "num-12"),
            (19, "num-19"),
            (20, "num-20"),
            (21, "num-20 num-1"),
            (22, "num-20 num-2"),
            (25, "num-20 num-5"),
            (99, "num-90 num-9"),
            (100, "num-100"),
            (101, "num-100 num-1"),
            (110, "num-100 num-10"),
            (111, "num-100 num-11"),
            (121, "num-100 num-20 num-1"),
            (200, "num-200"),
            (999, "num-900 num-90 num-9"),
            (1000, "num-1 thousand-one"),
            (1001, "num-1 thousand-one num-1"),
            (2000, "num-2 thousand-many"),
            (21_512, "num-20 num-1 thousand-many num-500 num-12"),
            (
                999_999,
                "num-900 num-90 num-9 thousand-many num-900 num-90 num-9",
            ),
            (1_000_000, "num-1 num-0 num-0 num-0 num-0 num-0 num-0"),
        ];
        for (v, want) in cases {
            assert_eq!(n("en", v), want, "{v}");
        }
        // English ignores gender.
        assert_eq!(say_number("en", 21, Feminine), ["num-20", "num-1"]);
        assert_eq!(say_number("en", 2, Neuter), ["num-2"]);
    }

    #[test]
    fn russian_numbers_masculine() {
        let cases = [
            (0, "num-0"),
            (1, "num-1"),
            (2, "num-2"),
            (5, "num-5"),
            (11, "num-11"),
            (12, "num-12"),
            (21, "num-20 num-1"),
            (22, "num-20 num-2"),
            (25, "num-20 num-5"),
            (100, "num-100"),
            (101, "num-100 num-1"),
            (111, "num-100 num-11"),
            (121, "num-100 num-20 num-1"),
            (999, "num-900 num-90 num-9"),
        ];
        for (v, want) in cases {
            assert_eq!(n("ru", v), want, "{v}");
        }
    }

    #[test]
    fn russian_numbers_agree_with_gender() {
        let f = |v| say_number("ru", v, Feminine).join(" ");
        let ne = |v| say_number("ru", v, Neuter).join(" ");
        assert_eq!(f(1), "num-1-f");
        assert_eq!(f(2), "num-2-f");
        assert_eq!(f(3), "num-3");
        assert_eq!(f(11), "num-11");
        assert_eq!(f(12), "num-12");
        assert_eq!(f(21), "num-20 num-1-f");
        assert_eq!(f(22), "num-20 num-2-f");
        assert_eq!(f(101), "num-100 num-1-f");
        assert_eq!(f(102), "num-100 num-2-f");
        assert_eq!(f(112), "num-100 num-12");
        assert_eq!(ne(1), "num-1-n");
        assert_eq!(ne(2), "num-2"); // два сообщения
        assert_eq!(ne(31), "num-30 num-1-n");
        // Thousands are feminine and take their own plural forms.
        assert_eq!(n("ru", 1000), "num-1-f thousand-one");
        assert_eq!(n("ru", 2000), "num-2-f thousand-few");
        assert_eq!(n("ru", 5000), "num-5 thousand-many");
        assert_eq!(n("ru", 11_000), "num-11 thousand-many");
        assert_eq!(n("ru", 22_001), "num-20 num-2-f thousand-few num-1");
        assert_eq!(
            say_number("ru", 21_021, Feminine).join(" "),
            "num-20 num-1-f thousand-one num-20 num-1-f"
        );
    }

    #[test]
    fn plural_categories() {
        use Plural::*;
        let ru = [
            (0, Many),
            (1, One),
            (2, Few),
            (4, Few),
            (5, Many),
            (11, Many),
            (12, Many),
            (14, Many),
            (20, Many),
            (21, One),
            (22, Few),
            (25, Many),
            (30, Many),
            (101, One),
            (111, Many),
            (112, Many),
            (122, Few),
            (1001, One),
        ];
        for (v, want) in ru {
            assert_eq!(plural("ru", v), want, "ru {v}");
        }
        for (v, want) in [(0, Many), (1, One), (2, Many), (21, Many), (101, Many)] {
            assert_eq!(plural("en", v), want, "en {v}");
        }
    }

    #[test]
    fn russian_minutes() {
        let m = |v| say_count("ru", v, Unit::Minute).join(" ");
        assert_eq!(m(1), "num-1-f minute-one"); // одна минута
        assert_eq!(m(2), "num-2-f minute-few"); // две минуты
        assert_eq!(m(4), "num-4 minute-few");
        assert_eq!(m(5), "num-5 minute-many"); // пять минут
        assert_eq!(m(11), "num-11 minute-many");
        assert_eq!(m(12), "num-12 minute-many");
        assert_eq!(m(14), "num-14 minute-many");
        assert_eq!(m(20), "num-20 minute-many");
        assert_eq!(m(21), "num-20 num-1-f minute-one"); // двадцать одна минута
        assert_eq!(m(22), "num-20 num-2-f minute-few");
        assert_eq!(m(25), "num-20 num-5 minute-many");
        assert_eq!(m(30), "num-30 minute-many");
        assert_eq!(m(111), "num-100 num-11 minute-many");
        assert_eq!(m(0), "num-0 minute-many");
        let h = |v| say_count("ru", v, Unit::Hour).join(" ");
        assert_eq!(h(1), "num-1 hour-one"); // один час
        assert_eq!(h(2), "num-2 hour-few"); // два часа
        assert_eq!(h(5), "num-5 hour-many"); // пять часов
        let s = |v| say_count("ru", v, Unit::Second).join(" ");
        assert_eq!(s(2), "num-2-f second-few"); // две секунды
    }

    #[test]
    fn durations() {
        let d = |lang, s| say_duration(lang, s).join(" ");
        let en = [
            (0, "less-than-a-minute"),
            (30, "less-than-a-minute"),
            (59, "less-than-a-minute"),
            (60, "num-1 minute-one"),
            (61, "num-1 minute-one"),
            (89, "num-1 minute-one"),
            (90, "num-2 minute-many"),
            (120, "num-2 minute-many"),
            (300, "num-5 minute-many"),
            (1260, "num-20 num-1 minute-many"),
            (3569, "num-50 num-9 minute-many"),
            (3570, "num-1 hour-one"),
            (3600, "num-1 hour-one"),
            (3660, "num-1 hour-one and num-1 minute-one"),
            (5400, "num-1 hour-one and num-30 minute-many"),
            (7200, "num-2 hour-many"),
            (7500, "num-2 hour-many and num-5 minute-many"),
        ];
        for (s, want) in en {
            assert_eq!(d("en", s), want, "en {s}");
        }
        let ru = [
            (30, "less-than-a-minute"),
            (60, "num-1-f minute-one"),
            (61, "num-1-f minute-one"),
            (90, "num-2-f minute-few"),
            (120, "num-2-f minute-few"),
            (300, "num-5 minute-many"),
            (660, "num-11 minute-many"),
            (1260, "num-20 num-1-f minute-one"),
            (1320, "num-20 num-2-f minute-few"),
            (3600, "num-1 hour-one"),
            (3660, "num-1 hour-one and num-1-f minute-one"),
            (7320, "num-2 hour-few and num-2-f minute-few"),
            (18_000, "num-5 hour-many"),
        ];
        for (s, want) in ru {
            assert_eq!(d("ru", s), want, "ru {s}");
        }
        // Absurd durations neither panic nor overflow.
        assert!(!say_duration("en", u64::MAX).is_empty());
    }

    #[test]
    fn digits_positions_and_messages() {
        assert_eq!(
            say_digits("en", "+7 (495) 12-3*#"),
            [
                "plus", "num-7", "num-4", "num-9", "num-5", "num-1", "num-2", "num-3", "star",
                "hash"
            ]
        );
        assert_eq!(say_digits("ru", "01"), ["num-0", "num-1"]);
        assert!(say_digits("en", "").is_empty());
        assert_eq!(say_position("en", 3), ["you-are-caller-number", "num-3"]);
        assert_eq!(
            say_position("ru", 21),
            ["you-are-caller-number", "num-20", "num-1"]
        );
        assert_eq!(
            say_wait("ru", 240),
            ["expected-wait-time", "num-4", "minute-few"]
        );
        assert_eq!(
            say_message_count("ru", 1, 0),
            ["vm-you-have", "num-1-n", "new-message-one"]
        );
        assert_eq!(
            say_message_count("ru", 3, 5),
            [
                "vm-you-have",
                "num-3",
                "new-message-few",
                "and",
                "num-5",
                "old-message-many"
            ]
        );
        assert_eq!(
            say_message_count("en", 0, 1),
            [
                "vm-you-have",
                "num-0",
                "new-message-many",
                "and",
                "num-1",
                "old-message-one"
            ]
        );
    }

    #[test]
    fn language_fallback() {
        assert_eq!(
            say_count("ru-RU", 2, Unit::Minute),
            ["num-2-f", "minute-few"]
        );
        assert_eq!(say_count("RU", 21, Unit::Minute)[2], "minute-one");
        // Unknown languages get English grammar.
        assert_eq!(say_count("de", 2, Unit::Minute), ["num-2", "minute-many"]);
        assert_eq!(say_count("", 1, Unit::Minute), ["num-1", "minute-one"]);
    }
}
