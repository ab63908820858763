#![allow(clippy::unwrap_used)] // test harness
//! A simulated world for engine tests: the real [`Pbx`], a virtual clock, and the messages
//! it sends collected for inspection. Nothing here sleeps; time moves by `run_for`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::config::{Config, Extension, IpNet, Secret};
use crate::core::{Datagram, Input, Output, Pbx, Transmit};
use crate::media::{MediaCommand, MediaEvent};
use crate::sip::Transport;
use crate::sip::msg::{self, Limits, Message};
use crate::store::StoreCommand;
use crate::testkit::SimClock;

pub const PBX: &str = "127.0.0.1:5060";

pub fn config(ban: u32, trusted: &[&str]) -> Config {
    let mut c = Config {
        server: crate::config::Server {
            udp: vec![PBX.parse().unwrap()],
            tcp: vec![],
            domain: "zvon.test".into(),
            state_dir: "/nonexistent".into(),
            sounds_dir: "/nonexistent".into(),
            log_level: crate::config::LogLevel::Info,
            user_agent: "Zvon test".into(),
            control_socket: None,
        },
        sip: Default::default(),
        rtp: Default::default(),
        registrar: Default::default(),
        security: Default::default(),
        calls: Default::default(),
        features: Default::default(),
        extensions: vec![],
        dialplan: Default::default(),
        ivr: Default::default(),
        trunks: Default::default(),
        acd: Default::default(),
        dir: "/nonexistent".into(),
    };
    c.security.ban_failures = ban;
    c.security.trusted = trusted
        .iter()
        .map(|t| t.parse::<IpNet>().unwrap())
        .collect();
    c.registrar.qualify = Some(Duration::from_secs(30));
    c.registrar.qualify_failures = 2;
    c.extensions = (1001..=1004)
        .map(|n| Extension {
            number: n.to_string(),
            name: None,
            password: Secret::new(format!("pw{n}")),
            max_contacts: 3,
            allow: if n == 1003 {
                vec!["10.0.0.0/8".parse().unwrap()]
            } else {
                vec![]
            },
            forward_always: None,
            forward_busy: None,
            forward_noanswer: None,
            dnd: false,
            call_waiting: true,
            pickup_group: Some("office".into()),
            voicemail_pin: (n == 1004).then(|| "4711".to_owned()),
            mwi_unsolicited: false,
            class: None,
            caller_id: None,
        })
        .collect();
    c
}

pub struct World {
    pub clock: SimClock,
    pub pbx: Pbx,
    pub sent: Vec<Transmit>,
    pub store: Vec<StoreCommand>,
    pub media: Vec<MediaCommand>,
    /// Answers to control requests, by id.
    pub control: Vec<(u64, crate::api::Response)>,
    next_control: u64,
}

impl World {
    pub fn new(cfg: &Config) -> Self {
        let clock = SimClock::new();
        let pbx = Pbx::new(cfg, clock.now(), [9; 32]);
        Self {
            clock,
            pbx,
            sent: Vec::new(),
            store: Vec::new(),
            media: Vec::new(),
            control: Vec::new(),
            next_control: 0,
        }
    }

    pub fn drain(&mut self) -> Instant {
        loop {
            match self.pbx.poll_output() {
                Output::Transmit(t) => self.sent.push(t),
                Output::Store(s) => self.store.push(s),
                Output::Media(m) => self.media.push(m),
                Output::ControlReply { id, response } => self.control.push((id, response)),
                Output::Timeout(at) => return at,
            }
        }
    }

    pub fn recv(&mut self, from: &str, transport: Transport, data: &str) -> Vec<Message> {
        self.sent.clear();
        let d = Datagram {
            transport,
            local: PBX.parse().unwrap(),
            remote: from.parse().unwrap(),
            data: Bytes::from(data.replace('\n', "\r\n")),
        };
        self.pbx.handle_input(self.clock.now(), Input::Datagram(d));
        self.drain();
        self.sent
            .iter()
            .map(|t| msg::parse(&t.data, &Limits::default()).unwrap())
            .collect()
    }

    /// Sends a control request (as the control socket does) and returns the engine's answer.
    pub fn control(&mut self, request: crate::api::Request) -> crate::api::Response {
        self.next_control += 1;
        let id = self.next_control;
        self.pbx
            .handle_input(self.clock.now(), Input::Control { id, request });
        self.drain();
        let i = self
            .control
            .iter()
            .position(|(got, _)| *got == id)
            .expect("the engine answers a control request before its next Timeout");
        self.control.remove(i).1
    }

    /// Runs the virtual clock up to `now + d`, firing every deadline on the way.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.clock.now().mono + d;
        loop {
            let next = self.drain();
            if next > end {
                self.clock.advance_to(end);
                return;
            }
            self.clock.advance_to(next);
            self.pbx.handle_input(self.clock.now(), Input::Timeout);
        }
    }
}

impl World {
    /// Delivers a message from `from` and returns what Zvon sent in reaction (all of it).
    pub fn recv_any(
        &mut self,
        from: SocketAddr,
        transport: Transport,
        data: &str,
    ) -> Vec<(SocketAddr, Message)> {
        self.sent.clear();
        let d = Datagram {
            transport,
            local: PBX.parse().unwrap(),
            remote: from,
            data: Bytes::from(data.replace("\r\n", "\n").replace('\n', "\r\n")),
        };
        self.pbx.handle_input(self.clock.now(), Input::Datagram(d));
        self.drain();
        self.sent_messages()
    }

    /// Everything sent since the last clear, parsed, with destinations.
    pub fn sent_messages(&self) -> Vec<(SocketAddr, Message)> {
        self.sent
            .iter()
            .map(|t| (t.remote, msg::parse(&t.data, &Limits::default()).unwrap()))
            .collect()
    }

    /// Feeds a media worker event.
    pub fn media_event(&mut self, ev: MediaEvent) {
        self.sent.clear();
        self.pbx.handle_input(self.clock.now(), Input::Media(ev));
        self.drain();
    }

    /// Keeps the `at` of the next deadline without running it.
    pub fn next_deadline(&mut self) -> Instant {
        self.drain()
    }
}

#[allow(dead_code)]
fn _unused(_: Duration) {}
