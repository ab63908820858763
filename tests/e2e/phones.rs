//! Real softphones: baresip registers to Zvon and keeps its registration fresh.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Daemon, TestConfig, require};

#[test]
fn baresip_registers_as_1001_and_stays_registered() {
    require("baresip");
    let d = Daemon::start_with_log(
        &TestConfig {
            min_expires: 2,
            ..TestConfig::default()
        },
        Some("info,zvon=debug"),
    );
    let home = d.dir.path().join("baresip");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join("config"),
        "poll_method epoll\nsip_listen 127.0.0.1:0\nmodule_path /usr/lib/baresip/modules\n\
         module g711.so\nmodule account.so\naudio_player nothing\naudio_source nothing\n",
    )
    .unwrap();
    std::fs::write(
        home.join("accounts"),
        format!(
            "<sip:1001@zvon.test>;auth_pass=demo1001;outbound=\"sip:{};transport=udp\";regint=3\n",
            d.udp
        ),
    )
    .unwrap();
    let mut phone = Command::new("baresip")
        .args(["-f", home.to_str().unwrap(), "-t", "9"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = phone.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "baresip did not quit after -t 9");
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = phone.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = status;
    assert!(
        text.contains("200 OK"),
        "baresip did not get 200 OK:\n{text}"
    );
    let log = d.log();
    assert!(
        log.contains("registration changed") && log.contains("baresip"),
        "{log}"
    );
    // regint=3 over 9 s: the phone refreshed at least twice, every refresh accepted.
    let refreshes = log.matches("registration refreshed").count();
    assert!(
        refreshes >= 2,
        "only {refreshes} refreshes:\n{log}\n---\n{text}"
    );
    assert!(
        !text.contains("401 Unauthorized\n") || text.contains("200 OK"),
        "{text}"
    );
}
