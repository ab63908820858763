//! What an admin sees from the command line.

use std::path::Path;
use std::process::Command;

fn zvon(args: &[&str]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_zvon"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn shipped() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

#[test]
fn help_and_version_are_useful() {
    let (ok, out, _) = zvon(&["--help"]);
    assert!(ok);
    for want in ["run", "check", "--version", "RUST_LOG"] {
        assert!(out.contains(want), "--help lacks {want}:\n{out}");
    }
    let (ok, out, _) = zvon(&["run", "--help"]);
    assert!(
        ok && out.contains("--state-dir") && out.contains("--config"),
        "{out}"
    );
    let (ok, out, _) = zvon(&["--version"]);
    assert!(
        ok && out.starts_with("zvon ") && out.contains(env!("CARGO_PKG_VERSION")),
        "{out}"
    );
}

#[test]
fn check_accepts_the_shipped_demo() {
    let (ok, out, err) = zvon(&["check", "--config", shipped().to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("OK") && out.contains("4 extensions"), "{out}");
}

/// Copies the shipped config, lets `edit` change one file, runs `zvon check`.
fn check_edited(file: &str, edit: impl FnOnce(String) -> String) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    for f in ["zvon.toml", "extensions.toml"] {
        std::fs::copy(shipped().join(f), dir.path().join(f)).unwrap();
    }
    let p = dir.path().join(file);
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, edit(text)).unwrap();
    let (ok, _, err) = zvon(&["check", "--config", dir.path().to_str().unwrap()]);
    (ok, err)
}

#[test]
fn check_rejects_an_unknown_key_in_every_table_with_file_line_and_hint() {
    let tables = [
        ("zvon.toml", "[server]"),
        ("zvon.toml", "[sip]"),
        ("zvon.toml", "[rtp]"),
        ("zvon.toml", "[registrar]"),
        ("zvon.toml", "[security]"),
        ("zvon.toml", "[calls]"),
        ("zvon.toml", "[features]"),
        ("extensions.toml", "[[extension]]"),
    ];
    for (file, header) in tables {
        let mut line_no = 0;
        let (ok, err) = check_edited(file, |t| {
            let mut out = String::new();
            for (i, l) in t.lines().enumerate() {
                out.push_str(l);
                out.push('\n');
                if l.trim() == header && line_no == 0 {
                    out.push_str("bogus_key = 1\n");
                    line_no = i + 2;
                }
            }
            out
        });
        assert!(!ok, "{file} {header}: zvon check accepted an unknown key");
        let want = format!("{file}:{line_no}:");
        assert!(
            err.contains(&want) && err.contains("bogus_key"),
            "{header}: {err}"
        );
    }
}

#[test]
fn check_names_the_typo_and_suggests_the_key() {
    let (ok, err) = check_edited("extensions.toml", |t| {
        t.replacen("password = \"demo1002\"", "pasword = \"demo1002\"", 1)
    });
    assert!(!ok);
    assert!(
        err.contains("extensions.toml:") && err.contains("pasword"),
        "{err}"
    );
    assert!(err.contains("password"), "no hint: {err}");
    let (ok, err) = check_edited("zvon.toml", |t| {
        t.replacen("log_level = \"info\"", "log_level = \"verbose\"", 1)
    });
    assert!(
        !ok && err.contains("zvon.toml:") && err.contains("debug"),
        "{err}"
    );
}

#[test]
fn run_refuses_a_broken_config_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("zvon.toml"),
        "[server]\nudp = [\"127.0.0.1:0\"]\ndomain = \"x\"\ncolour = 1\n",
    )
    .unwrap();
    let (ok, _, err) = zvon(&["run", "--config", dir.path().to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("zvon.toml:4:") && err.contains("colour"),
        "{err}"
    );
    assert!(err.contains("not started"), "{err}");
}
