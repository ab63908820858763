//! The harness: the real `zvon` binary on loopback with a temporary config and state dir,
//! and real peers (SIPp, baresip) driven as child processes. Every wait is bounded.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Settings the tests vary; the rest is a fixed test config.
pub struct TestConfig {
    pub ban_failures: u32,
    pub trusted: &'static str,
    pub min_expires: u32,
    pub qualify: &'static str,
    pub extra_extensions: String,
    pub max_message_size: usize,
    pub voicemail_1004: bool,
    /// 1004 gets unsolicited MWI NOTIFYs.
    pub mwi_unsolicited_1004: bool,
    /// Adds a dial plan sending 500 to an IVR whose keys 1, 5 and 7 ring 1002.
    pub ivr: bool,
    /// queues.toml; the dial plan then sends 700 to the queue `q`.
    pub queues: Option<String>,
    /// trunks.toml.
    pub trunks: Option<String>,
    /// dialplan.toml; when set, it replaces the dial plans `ivr` and `queues` write.
    pub dialplan: Option<String>,
    /// `[sip] t1` (e.g. "100ms": non-INVITE transactions then time out after 6.4 s).
    pub t1: Option<&'static str>,
    /// Extra keys for the built-in extensions 1001..1004: (number, TOML lines).
    pub extension_keys: &'static [(&'static str, &'static str)],
}

impl Default for TestConfig {
    fn default() -> Self {
        Self {
            ban_failures: 3,
            trusted: r#"["127.0.0.1/32"]"#,
            min_expires: 60,
            qualify: "0s",
            extra_extensions: String::new(),
            max_message_size: 65_535,
            voicemail_1004: false,
            mwi_unsolicited_1004: false,
            ivr: false,
            queues: None,
            trunks: None,
            dialplan: None,
            t1: None,
            extension_keys: &[],
        }
    }
}

pub struct Daemon {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    log: Arc<Mutex<String>>,
    rust_log: Option<String>,
}

/// A private RTP range per daemon, so tests running in parallel never share ports.
fn rtp_base() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    thread_local!(static MINE: u32 = {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        12_000 + (std::process::id() % 4) * 4000 + (n % 10) * 400
    });
    MINE.with(|m| *m)
}

pub fn write_config(dir: &Path, tc: &TestConfig, udp: &str, tcp: &str) {
    let cfg = dir.join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("zvon.toml"),
        format!(
            r#"
[server]
udp = ["{udp}"]
tcp = ["{tcp}"]
domain = "zvon.test"
state_dir = "../state"
sounds_dir = "{sounds}"
log_level = "info"

[sip]
max_message_size = {max_msg}
{t1}

[rtp]
port_min = {rtp_min}
port_max = {rtp_max}

[registrar]
min_expires = {min}
max_expires = 3600
default_expires = 600
qualify = "{qualify}"
qualify_failures = 2

[security]
nonce_ttl = "5m"
ban_failures = {ban}
ban_window = "1m"
ban_time = "1m"
trusted = {trusted}
"#,
            min = tc.min_expires,
            qualify = tc.qualify,
            ban = tc.ban_failures,
            trusted = tc.trusted,
            max_msg = tc.max_message_size,
            t1 = tc.t1.map(|t| format!("t1 = \"{t}\"")).unwrap_or_default(),
            rtp_min = rtp_base(),
            rtp_max = rtp_base() + 400,
            sounds = concat!(env!("CARGO_MANIFEST_DIR"), "/sounds")
        ),
    )
    .unwrap();
    let mut ext = String::new();
    for n in 1001..=1004 {
        ext.push_str(&format!(
            "[[extension]]\nnumber = \"{n}\"\npassword = \"demo{n}\"\nname = \"Test {n}\"\n\n"
        ));
    }
    if tc.voicemail_1004 {
        ext = ext.replace(
            "password = \"demo1004\"",
            "password = \"demo1004\"\nvoicemail_pin = \"4711\"",
        );
    }
    if tc.mwi_unsolicited_1004 {
        ext = ext.replace(
            "password = \"demo1004\"",
            "password = \"demo1004\"\nmwi_unsolicited = true",
        );
    }
    for (n, keys) in tc.extension_keys {
        let pw = format!("password = \"demo{n}\"");
        assert!(ext.contains(&pw), "extension_keys: no extension {n}");
        ext = ext.replace(&pw, &format!("{pw}\n{keys}"));
    }
    ext.push_str(&tc.extra_extensions);
    if tc.ivr {
        std::fs::write(
            cfg.join("dialplan.toml"),
            "timezone = \"Europe/Berlin\"\n[[context]]\nname = \"internal\"\n\
             [[context.rule]]\nmatch = \"500\"\naction = \"ivr\"\ntarget = \"front\"\n\
             [[context.rule]]\nmatch = \"*97\"\naction = \"feature\"\ntarget = \"voicemail\"\n\
             [[context.rule]]\nmatch = \"_1XXX\"\naction = \"extension\"\ntarget = \"${number}\"\n",
        )
        .unwrap();
        std::fs::write(
            cfg.join("ivr.toml"),
            "[ivr.front]\nstart = \"hello\"\n[ivr.front.node.hello]\nplay = [\"welcome\"]\nnext = \"menu\"\n\
             [ivr.front.node.menu]\nmenu = [\"main-menu\"]\n\
             options = { \"1\" = \"extension:1002\", \"5\" = \"extension:1002\", \"7\" = \"extension:1002\" }\n\
             timeout = \"10s\"\nretries = 1\nafter_retries = \"hangup\"\n",
        )
        .unwrap();
    }
    if let Some(q) = &tc.queues {
        std::fs::write(cfg.join("queues.toml"), q).unwrap();
        if !tc.ivr && tc.dialplan.is_none() {
            std::fs::write(
                cfg.join("dialplan.toml"),
                "[[context]]\nname = \"internal\"\n\
                 [[context.rule]]\nmatch = \"700\"\naction = \"queue\"\ntarget = \"q\"\n\
                 [[context.rule]]\nmatch = \"_X.\"\naction = \"extension\"\n",
            )
            .unwrap();
        }
    }
    if let Some(t) = &tc.trunks {
        std::fs::write(cfg.join("trunks.toml"), t).unwrap();
    }
    if let Some(p) = &tc.dialplan {
        std::fs::write(cfg.join("dialplan.toml"), p).unwrap();
    }
    std::fs::write(cfg.join("extensions.toml"), ext).unwrap();
}

impl Daemon {
    pub fn start(tc: &TestConfig) -> Daemon {
        Self::start_with_log(tc, None)
    }

    pub fn start_with_log(tc: &TestConfig, rust_log: Option<&str>) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        write_config(dir.path(), tc, "127.0.0.1:0", "127.0.0.1:0");
        Self::spawn(dir, rust_log.map(str::to_owned))
    }

    pub fn spawn(dir: tempfile::TempDir, rust_log: Option<String>) -> Daemon {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zvon"));
        cmd.arg("run")
            .arg("--config")
            .arg(dir.path().join("config"));
        cmd.env_remove("RUST_LOG");
        if let Some(l) = &rust_log {
            cmd.env("RUST_LOG", l);
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let stderr = child.stderr.take().unwrap();
        let l2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                l2.lock().unwrap().push_str(&line);
                l2.lock().unwrap().push('\n');
                let _ = tx.send(line);
            }
        });
        let (mut udp, mut tcp) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => panic!("zvon did not become ready; log:\n{}", log.lock().unwrap()),
            };
            if line.contains("listening") {
                let addr: SocketAddr = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("addr="))
                    .and_then(|a| a.trim_matches('"').parse().ok())
                    .expect("listening line has addr=");
                if line.contains("udp") {
                    udp = Some(addr);
                } else {
                    tcp = Some(addr);
                }
            }
            if line.contains("zvon ready") {
                break;
            }
        }
        Daemon {
            child: Some(child),
            dir,
            udp: udp.expect("udp address"),
            tcp: tcp.expect("tcp address"),
            log,
            rust_log,
        }
    }

    /// SIGTERM and wait (bounded); returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                // let the log reader finish
                std::thread::sleep(Duration::from_millis(50));
                return st.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("zvon did not stop within 10 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops and starts again on the same config and state (ports keep: written into the
    /// config before the restart).
    pub fn restart(mut self, tc: &TestConfig) -> Daemon {
        assert_eq!(
            self.stop(),
            Some(0),
            "clean exit on SIGTERM; log:\n{}",
            self.log()
        );
        write_config(
            self.dir.path(),
            tc,
            &self.udp.to_string(),
            &self.tcp.to_string(),
        );
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        Daemon::spawn(dir, self.rust_log.clone())
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Runs the CLI against this daemon's control socket; (exit code, stdout, stderr).
    pub fn ctl(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let sock = self.dir.path().join("state").join("zvon.ctl");
        let o = Command::new(env!("CARGO_BIN_EXE_zvon"))
            .args(args)
            .arg("--socket")
            .arg(&sock)
            .env_remove("ZVON_CONFIG")
            .env_remove("ZVON_STATE_DIR")
            .env_remove("ZVON_SOCKET")
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("state").join("zvon.db")
    }

    /// Waits (bounded) until the log contains `needle`.
    pub fn wait_log(&self, needle: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn require(tool: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{tool} is not installed: run the README test command (it installs sip-tester and baresip)"
    );
}

pub fn sipp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp")
}

/// One line of a SIPp injection file: user, password, expires, extra field.
pub fn inf(dir: &Path, name: &str, rows: &[(&str, &str, u32, &str)]) -> PathBuf {
    let mut s = String::from("SEQUENTIAL\n");
    for (u, p, e, x) in rows {
        s.push_str(&format!(
            "{u};[authentication username={u} password={p}];{e};{x}\n"
        ));
    }
    let path = dir.join(name);
    std::fs::write(&path, s).unwrap();
    path
}

pub struct Sipp<'a> {
    pub scenario: &'a str,
    pub target: SocketAddr,
    pub inf: &'a Path,
    pub calls: u32,
    pub transport: &'a str,
    pub local_ip: &'a str,
    pub local_port: Option<u16>,
    pub message_file: Option<&'a Path>,
}

impl<'a> Sipp<'a> {
    pub fn new(scenario: &'a str, target: SocketAddr, inf: &'a Path) -> Self {
        Self {
            scenario,
            target,
            inf,
            calls: 1,
            transport: "u1",
            local_ip: "127.0.0.1",
            local_port: None,
            message_file: None,
        }
    }

    pub fn run(&self) -> Output {
        require("sipp");
        let mut c = Command::new("sipp");
        c.arg(self.target.to_string())
            .arg("-sf")
            .arg(sipp_dir().join(self.scenario))
            .arg("-inf")
            .arg(self.inf)
            .args(["-m", &self.calls.to_string(), "-l", "1", "-r", "50"])
            .args([
                "-t",
                self.transport,
                "-i",
                self.local_ip,
                "-nostdin",
                "-timeout",
                "20s",
            ])
            .args(["-timeout_error", "-max_retrans", "3"])
            .stdin(Stdio::null());
        if let Some(p) = self.local_port {
            c.args(["-p", &p.to_string()]);
        }
        if let Some(f) = self.message_file {
            c.arg("-trace_msg").arg("-message_file").arg(f);
        }
        c.current_dir(self.inf.parent().unwrap());
        c.output().unwrap()
    }

    #[track_caller]
    pub fn expect_ok(&self) {
        let out = self.run();
        assert!(
            out.status.success(),
            "sipp {} failed ({:?}):\n{}\n{}",
            self.scenario,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
