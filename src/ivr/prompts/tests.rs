//! Catalogue format and the prompt-coverage test: every prompt the code can say and every
//! catalogue entry exists as a valid, non-silent 16 kHz mono WAV in every shipped language,
//! and nothing else is shipped.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::*;
use crate::ivr::say::{self, Gender, Unit};

fn sounds() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sounds")
}

#[test]
fn catalogue_is_well_formed() {
    let mut seen = BTreeSet::new();
    for (line, name, cols) in rows() {
        assert!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "prompts.tsv:{line}: bad name {name:?}"
        );
        assert!(seen.insert(name), "prompts.tsv:{line}: duplicate {name}");
        let texts: Vec<&str> = cols.collect();
        assert_eq!(
            texts.len(),
            LANGUAGES.len(),
            "prompts.tsv:{line}: {name} needs one text per language"
        );
        for t in texts {
            assert!(
                !t.is_empty() && t.trim() == t,
                "prompts.tsv:{line}: {name}: empty text or stray spaces"
            );
            assert!(
                !t.starts_with('@') || t == "@beep",
                "prompts.tsv:{line}: unknown directive {t}"
            );
        }
    }
    assert!(seen.len() > 100);
}

#[test]
fn lookups() {
    assert_eq!(text("en", "minute-one"), Some("minute"));
    assert_eq!(text("ru", "minute-one"), Some("минута"));
    assert_eq!(text("ru", "minute-few"), Some("минуты"));
    assert_eq!(text("ru", "minute-many"), Some("минут"));
    assert_eq!(text("ru", "num-2-f"), Some("две"));
    assert_eq!(
        text("en", "welcome"),
        Some("Thank you for calling Zvon demo company.")
    );
    assert_eq!(text("en", "beep"), Some("@beep"));
    assert_eq!(text("de", "welcome"), None);
    assert_eq!(text("en", "no-such-prompt"), None);
    assert!(contains("goodbye") && !contains("good"));
    assert_eq!(names().next(), Some("num-0"));
    assert_eq!(language("ru"), "ru");
    assert_eq!(language("ru-RU"), "ru");
    assert_eq!(language("RU_ru"), "ru");
    assert_eq!(language("en-GB"), "en");
    assert_eq!(language("fr"), "en");
    assert_eq!(language(""), "en");
    assert!(is_supported("en") && !is_supported("EN"));
    assert_eq!(relative_path("ru", "goodbye"), "ru/goodbye.wav");
}

/// Everything the say functions can produce for small values.
fn said() -> BTreeSet<&'static str> {
    let mut all = BTreeSet::new();
    for lang in LANGUAGES {
        for n in 0..=999u32 {
            for g in [Gender::Masculine, Gender::Feminine, Gender::Neuter] {
                all.extend(say::say_number(lang, n, g));
            }
            for u in [
                Unit::Second,
                Unit::Minute,
                Unit::Hour,
                Unit::NewMessage,
                Unit::OldMessage,
            ] {
                all.extend(say::say_count(lang, n, u));
            }
            all.extend(say::say_number(lang, n * 1000 + n, Gender::Masculine));
            all.extend(say::say_position(lang, n));
            all.extend(say::say_message_count(lang, n, n));
            all.extend(say::say_wait(lang, u64::from(n) * 37));
        }
        all.extend(say::say_digits(lang, "0123456789*#+"));
        all.extend(say::say_number(lang, 1_000_000, Gender::Masculine));
    }
    all
}

/// The fmt chunk of a RIFF/WAVE file: (format, channels, rate, bits).
fn wav_format(data: &[u8]) -> Option<(u16, u16, u32, u16)> {
    if data.get(..4)? != b"RIFF" || data.get(8..12)? != b"WAVE" {
        return None;
    }
    let mut pos = 12;
    while pos + 8 <= data.len() {
        let len = u32::from_le_bytes(data[pos + 4..pos + 8].try_into().ok()?) as usize;
        if &data[pos..pos + 4] == b"fmt " {
            let b = data.get(pos + 8..pos + 24)?;
            let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
            let rate = u32::from_le_bytes(b[4..8].try_into().ok()?);
            return Some((u16_at(0), u16_at(2), rate, u16_at(14)));
        }
        pos += 8 + len + (len & 1);
    }
    None
}

fn check_wav(path: &Path) -> Result<(), String> {
    let data = crate::testkit::data::read_file(path).map_err(|e| format!("missing: {e}"))?;
    match wav_format(&data) {
        Some((1, 1, 16_000, 16)) => {}
        other => return Err(format!("not 16 kHz mono 16-bit PCM: {other:?}")),
    }
    let pcm = crate::runtime::wav::parse(&data)?;
    let s = &pcm.samples;
    let secs = s.len() as f64 / 16_000.0;
    if !(0.1..=20.0).contains(&secs) {
        return Err(format!("implausible length {secs:.2} s"));
    }
    let peak = s.iter().map(|x| i32::from(*x).abs()).max().unwrap_or(0);
    let rms = (s.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / s.len() as f64).sqrt();
    // Normalised to about -3 dBFS (the beep: -6 dBFS); speech RMS is well above the noise floor.
    if peak < 12_000 || rms < 1_000.0 {
        return Err(format!("too quiet: peak {peak}, rms {rms:.0}"));
    }
    // Leading and trailing silence is trimmed: sound within the first and last 20 ms.
    let edge = 320.min(s.len());
    let loud = |w: &[i16]| w.iter().any(|x| i32::from(*x).abs() > 150);
    if !loud(&s[..edge]) || !loud(&s[s.len() - edge..]) {
        return Err("leading or trailing silence not trimmed".into());
    }
    Ok(())
}

#[test]
fn prompt_coverage() {
    let catalogue: BTreeSet<&str> = names().collect();
    let said = said();
    let unknown: Vec<_> = said.difference(&catalogue).collect();
    assert!(
        unknown.is_empty(),
        "said but not in prompts.tsv: {unknown:?}"
    );

    let mut errors = Vec::new();
    for lang in LANGUAGES {
        let dir = sounds().join(lang);
        for name in &catalogue {
            let path = dir.join(format!("{name}.wav"));
            if let Err(e) = check_wav(&path) {
                errors.push(format!("{}: {e}", path.display()));
            }
        }
        // Nothing shipped that the catalogue does not know (stale files after a rename).
        for file in crate::testkit::data::file_names(&dir) {
            let known = file
                .strip_suffix(".wav")
                .is_some_and(|n| catalogue.contains(n));
            if !known {
                errors.push(format!("{}/{file}: not in prompts.tsv", dir.display()));
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn readme_lists_every_prompt() {
    let readme = crate::testkit::data::read_text(&sounds().join("README.md"));
    let missing: Vec<_> = names()
        .filter(|n| !readme.contains(&format!("| `{n}` |")))
        .collect();
    assert!(missing.is_empty(), "sounds/README.md lacks {missing:?}");
}
