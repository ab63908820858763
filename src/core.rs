//! The composed sans-IO engine: [`Pbx::handle_input`] in, [`Pbx::poll_output`] out.
//!
//! The engine owns transactions, registrations, nonces and the auth guard. It never touches a
//! socket, a file or the clock: the runtime stamps every input with [`Now`] and carries every
//! [`Output`] where it belongs. After each input the runtime drains `poll_output` until it
//! returns [`Output::Timeout`], then sleeps until that instant or the next input.
//!
//! What a request meets, in order:
//! 1. The auth guard: datagrams from a banned IP are dropped (counted).
//! 2. The parser with the configured size and header-count limits. Unparseable datagrams are
//!    dropped and counted; a request that parses but lacks a valid mandatory header gets a 400
//!    with the reason (RFC 3261 §8.2).
//! 3. Transaction matching (RFC 3261 §17.2.3): retransmissions are absorbed by the server
//!    transaction, which re-sends its last response.
//! 4. The method: REGISTER (digest auth, then the registrar), OPTIONS (200), CANCEL, and 405/501
//!    for the rest (RFC 3261 §8.2.1).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::{Config, IpNet};
use crate::sip::Transport;
use crate::sip::auth::{self, Algorithm, DigestParams, NonceSource, NonceState, Verdict};
use crate::sip::guard::{AuthGuard, GuardEvent, GuardPolicy};
use crate::sip::msg::{
    self, Contact, Credentials, HeaderName, Limits, Message, Method, StartLine, Uri, Via,
};
use crate::sip::registrar::{
    ContactReq, Contacts, Flow, RegisterOutcome, RegisterRequest, Registrar, RegistrarEvent,
    RegistrarPolicy,
};
use crate::sip::txn::{
    ClientNonInvite, Reliability, ServerInvite, ServerNonInvite, TimerValues, TxnKey, TxnOutput,
};
use crate::store::{BindingRecord, StoreCommand};
use crate::time::{Now, http_date};

/// Methods this build implements, for `Allow` (RFC 3261 §20.5).
pub const ALLOW: &str =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, REFER, NOTIFY, SUBSCRIBE";
/// Option tags we support (RFC 3261 §20.37): session timers (RFC 4028).
const SUPPORTED: &[&str] = &["timer"];
/// Send responses back to the source port even without `rport` (what Asterisk calls
/// `force_rport`): every phone may be behind NAT.
const FORCE_RPORT: bool = true;

/// A datagram or a framed stream message, stamped by the runtime.
#[derive(Clone, Debug)]
pub struct Datagram {
    /// Transport it arrived on.
    pub transport: Transport,
    /// Our socket address.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
    /// The bytes of exactly one message (the runtime frames streams).
    pub data: Bytes,
}

/// Inputs to the engine.
#[derive(Clone, Debug)]
pub enum Input {
    /// A SIP message from the network.
    Datagram(Datagram),
    /// A deadline returned by [`Output::Timeout`] has passed (spurious calls are harmless).
    Timeout,
    /// An event from a media worker.
    Media(crate::media::MediaEvent),
    /// A command from the control socket; answered by [`Output::ControlReply`] with the same
    /// `id` (chosen by the runtime) before `poll_output` next returns [`Output::Timeout`].
    Control {
        /// The runtime's handle for the waiting connection.
        id: u64,
        /// The command.
        request: crate::api::Request,
    },
    /// The runtime resolved a trunk's host: where to send (`remote`, empty when the name did
    /// not resolve) and our address towards it (`local`, the socket the provider talks to).
    /// Sent at start for every trunk, and again when a host name resolves differently.
    TrunkAddress {
        trunk: String,
        remote: Vec<SocketAddr>,
        local: Option<SocketAddr>,
    },
}

/// Something to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Transport to use.
    pub transport: Transport,
    /// Our socket to send from (UDP) — the one the peer talks to.
    pub local: SocketAddr,
    /// Destination (for streams: the connection to this peer).
    pub remote: SocketAddr,
    /// The message bytes.
    pub data: Bytes,
}

/// Effects of the engine.
#[derive(Debug)]
pub enum Output {
    /// Send a message.
    Transmit(Transmit),
    /// A record for the store thread.
    Store(StoreCommand),
    /// A command for the media workers.
    Media(crate::media::MediaCommand),
    /// The answer to [`Input::Control`] `id`, for the waiting control connection.
    ControlReply {
        /// The id of the request.
        id: u64,
        /// The answer.
        response: crate::api::Response,
    },
    /// Nothing more now; call back with [`Input::Timeout`] at this instant.
    Timeout(Instant),
}

/// Counters, for `zvon status` and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages received.
    pub received: u64,
    /// Datagrams dropped because they did not parse (or exceeded the limits).
    pub parse_errors: u64,
    /// Requests answered with 400.
    pub bad_requests: u64,
    /// Retransmitted requests absorbed by a transaction.
    pub retransmissions: u64,
    /// Responses that matched no transaction.
    pub stray_responses: u64,
    /// Messages dropped because the source is banned.
    pub banned_drops: u64,
    /// Successful REGISTERs.
    pub registrations: u64,
    /// Failed authentications.
    pub auth_failures: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct Ext {
    pub(crate) mwi_unsolicited: bool,
    pub(crate) voicemail_pin: Option<String>,
    pub(crate) call_waiting: bool,
    pub(crate) pickup_group: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) password: String,
    pub(crate) allow: Vec<IpNet>,
    pub(crate) max_contacts: u32,
    /// Class of service for outbound calls (`None`: trunks.toml's default).
    pub(crate) class: Option<crate::trunk::Class>,
    /// Outbound caller ID.
    pub(crate) caller_id: Option<String>,
}

/// The engine's view of the config.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) domain: String,
    pub(crate) user_agent: String,
    pub(crate) limits: Limits,
    pub(crate) timers: TimerValues,
    pub(crate) registrar: RegistrarPolicy,
    pub(crate) qualify: Option<Duration>,
    pub(crate) qualify_failures: u32,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) extensions: HashMap<String, Ext>,
}

impl Settings {
    fn from_config(cfg: &Config) -> Self {
        Self {
            domain: cfg.server.domain.clone(),
            user_agent: cfg.server.user_agent.clone(),
            limits: Limits {
                max_size: cfg.sip.max_message_size,
                max_headers: cfg.sip.max_headers,
            },
            timers: TimerValues {
                t1: cfg.sip.t1,
                ..TimerValues::default()
            },
            registrar: RegistrarPolicy {
                min_expires: cfg.registrar.min_expires,
                max_expires: cfg.registrar.max_expires,
                default_expires: cfg.registrar.default_expires,
            },
            qualify: cfg.registrar.qualify,
            qualify_failures: cfg.registrar.qualify_failures,
            algorithms: cfg.security.digest.clone(),
            extensions: cfg
                .extensions
                .iter()
                .map(|e| {
                    (
                        e.number.clone(),
                        Ext {
                            voicemail_pin: e.voicemail_pin.clone(),
                            mwi_unsolicited: e.mwi_unsolicited,
                            call_waiting: e.call_waiting,
                            pickup_group: e.pickup_group.clone(),
                            name: e.name.clone(),
                            password: e.password.expose().to_owned(),
                            allow: e.allow.clone(),
                            max_contacts: e.max_contacts,
                            class: e.class,
                            caller_id: e.caller_id.clone(),
                        },
                    )
                })
                .collect(),
        }
    }
}

pub(crate) enum TxnKind {
    ServerInvite(ServerInvite),
    ServerNonInvite(ServerNonInvite),
    /// An OPTIONS ping of a registered contact.
    Qualify {
        txn: ClientNonInvite,
        aor: String,
        binding: u64,
    },
    /// A B2BUA branch INVITE.
    Invite {
        txn: crate::sip::txn::ClientInvite,
        call: u64,
        branch: usize,
    },
    /// A trunk's REGISTER or OPTIONS.
    Trunk {
        txn: ClientNonInvite,
        trunk: String,
        what: crate::call::trunk::TrunkReq,
    },
    /// A B2BUA request (BYE, CANCEL).
    Request {
        txn: ClientNonInvite,
        /// The call it belongs to (for logs and future use).
        #[allow(dead_code)]
        call: u64,
        #[allow(dead_code)]
        kind: crate::call::b2bua::ReqKind,
    },
}

pub(crate) struct Txn {
    pub(crate) kind: TxnKind,
    pub(crate) key: TxnKey,
    pub(crate) client: bool,
    pub(crate) transport: Transport,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    /// The INVITE server transaction got a final response (CANCEL is too late).
    pub(crate) finalised: bool,
}

impl Txn {
    fn poll_output(&mut self) -> Option<TxnOutput> {
        match &mut self.kind {
            TxnKind::ServerInvite(t) => t.poll_output(),
            TxnKind::ServerNonInvite(t) => t.poll_output(),
            TxnKind::Qualify { txn, .. }
            | TxnKind::Request { txn, .. }
            | TxnKind::Trunk { txn, .. } => txn.poll_output(),
            TxnKind::Invite { txn, .. } => txn.poll_output(),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match &self.kind {
            TxnKind::ServerInvite(t) => t.poll_timeout(),
            TxnKind::ServerNonInvite(t) => t.poll_timeout(),
            TxnKind::Qualify { txn, .. }
            | TxnKind::Request { txn, .. }
            | TxnKind::Trunk { txn, .. } => txn.poll_timeout(),
            TxnKind::Invite { txn, .. } => txn.poll_timeout(),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match &mut self.kind {
            TxnKind::ServerInvite(t) => t.handle_timeout(now),
            TxnKind::ServerNonInvite(t) => t.handle_timeout(now),
            TxnKind::Qualify { txn, .. }
            | TxnKind::Request { txn, .. }
            | TxnKind::Trunk { txn, .. } => txn.handle_timeout(now),
            TxnKind::Invite { txn, .. } => txn.handle_timeout(now),
        }
    }

    pub(crate) fn send_response(&mut self, now: Instant, code: u16, bytes: Bytes) {
        match &mut self.kind {
            TxnKind::ServerInvite(t) => {
                if code >= 200 {
                    self.finalised = true;
                }
                t.send_response(now, code, bytes);
            }
            TxnKind::ServerNonInvite(t) => t.send_response(now, code, bytes),
            TxnKind::Qualify { .. }
            | TxnKind::Invite { .. }
            | TxnKind::Request { .. }
            | TxnKind::Trunk { .. } => {}
        }
    }
}

/// The engine.
pub struct Pbx {
    pub(crate) s: Settings,
    pub(crate) started: Instant,
    pub(crate) last_now: Instant,
    pub(crate) rng: StdRng,
    pub(crate) nonces: NonceSource,
    pub(crate) registrar: Registrar,
    pub(crate) guard: AuthGuard,
    pub(crate) txns: HashMap<u64, Txn>,
    pub(crate) server_keys: HashMap<TxnKey, u64>,
    pub(crate) client_keys: HashMap<TxnKey, u64>,
    pub(crate) timers: BinaryHeap<Reverse<(Instant, u64)>>,
    pub(crate) next_txn: u64,
    pub(crate) qualify_at: Option<Instant>,
    pub(crate) out: VecDeque<Output>,
    pub(crate) stats: Stats,
    /// Wall time of the latest input (for records the engine stamps itself).
    pub(crate) wall_seen: u64,
    /// The B2BUA's calls.
    pub(crate) calls: crate::call::b2bua::Calls,
    /// Free RTP ports.
    pub(crate) ports: crate::call::PortPool,
    /// Codecs offered and accepted, in preference order.
    pub(crate) codecs: Vec<crate::media::Codec>,
    /// Ring time before 480.
    pub(crate) no_answer: Duration,
    /// `rtp.address`.
    pub(crate) media_address: Option<IpAddr>,
    /// Feature codes.
    pub(crate) features: crate::config::Features,
    /// DND and forwarding per extension (config, then feature codes).
    pub(crate) ext_state: HashMap<String, crate::call::features::ExtState>,
    /// Mailbox counts and message-summary subscriptions.
    pub(crate) mwi: crate::call::voicemail::Mwi,
    /// The dial plan.
    pub(crate) dialplan: crate::dialplan::Plan,
    /// IVR flows.
    pub(crate) ivr_flows: crate::ivr::flow::Flows,
    /// Queues and agents.
    pub(crate) acd: crate::acd::Acd,
    /// When the ACD wants to be woken.
    pub(crate) acd_at: Option<Instant>,
    /// When the ACD is next compared with the live calls.
    pub(crate) acd_repair_at: Option<Instant>,
    /// The local day the queue counters count.
    pub(crate) acd_day: Option<jiff::civil::Date>,
    /// Trunks: addresses, registrations, health.
    pub(crate) trunks: crate::call::trunk::Trunks,
}

impl std::fmt::Debug for Pbx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pbx")
            .field("bindings", &self.registrar.len())
            .field("txns", &self.txns.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Pbx {
    /// An engine for `cfg`, started at `now`, with all randomness drawn from `seed`.
    pub fn new(cfg: &Config, now: Now, seed: [u8; 32]) -> Self {
        let mut rng = StdRng::from_seed(seed);
        let secret: [u8; 32] = rng.random();
        let acd_seed: u64 = rng.random();
        let s = Settings::from_config(cfg);
        let qualify_at = s.qualify.map(|d| now.mono + d);
        Self {
            nonces: NonceSource::new(secret, cfg.security.nonce_ttl),
            guard: AuthGuard::new(GuardPolicy {
                failures: cfg.security.ban_failures,
                window: cfg.security.ban_window,
                ban_time: cfg.security.ban_time,
                trusted: cfg.security.trusted.clone(),
            }),
            s,
            started: now.mono,
            last_now: now.mono,
            rng,
            registrar: Registrar::new(),
            txns: HashMap::new(),
            server_keys: HashMap::new(),
            client_keys: HashMap::new(),
            timers: BinaryHeap::new(),
            next_txn: 0,
            qualify_at,
            out: VecDeque::new(),
            stats: Stats::default(),
            wall_seen: now.wall.secs(),
            calls: Default::default(),
            ports: crate::call::PortPool::new(cfg.rtp.port_min, cfg.rtp.port_max),
            codecs: cfg.calls.codecs.clone(),
            no_answer: cfg.calls.no_answer,
            media_address: cfg.rtp.address,
            features: cfg.features.clone(),
            mwi: Default::default(),
            dialplan: cfg.dialplan.clone(),
            ivr_flows: cfg.ivr.clone(),
            acd: crate::acd::Acd::new(&cfg.acd, now, acd_seed),
            acd_at: None,
            acd_day: None,
            trunks: crate::call::trunk::Trunks::new(&cfg.trunks),
            acd_repair_at: (!cfg.acd.queues.is_empty())
                .then(|| now.mono + crate::call::queue::REPAIR_EVERY),
            ext_state: cfg
                .extensions
                .iter()
                .map(|e| {
                    (
                        e.number.clone(),
                        crate::call::features::ExtState {
                            dnd: e.dnd,
                            forward_always: e.forward_always.clone(),
                            forward_busy: e.forward_busy.clone(),
                            forward_noanswer: e.forward_noanswer.clone(),
                        },
                    )
                })
                .collect(),
        }
    }

    /// Restores bindings persisted before a restart. Returns how many are live.
    pub fn restore_bindings(&mut self, now: Now, records: Vec<BindingRecord>) -> usize {
        let n = self.registrar.restore(now, records);
        self.drain_subsystems();
        n
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        let g = self.guard.stats();
        Stats {
            banned_drops: g.dropped,
            auth_failures: g.failures,
            ..self.stats
        }
    }

    /// The registrar (read-only), for status and tests.
    pub fn registrar(&self) -> &Registrar {
        &self.registrar
    }

    /// Live transactions.
    pub fn transactions(&self) -> usize {
        self.txns.len()
    }

    /// Feeds one input.
    pub fn handle_input(&mut self, now: Now, input: Input) {
        self.last_now = now.mono;
        self.wall_seen = now.wall.secs();
        match input {
            Input::Datagram(d) => self.handle_datagram(now, d),
            Input::Timeout => self.handle_timeout(now),
            Input::Media(ev) => self.on_media_event(now, ev),
            Input::Control { id, request } => {
                let response = self.control(now, request);
                self.out.push_back(Output::ControlReply { id, response });
            }
            Input::TrunkAddress {
                trunk,
                remote,
                local,
            } => self.trunk_address(now, &trunk, remote, local),
        }
        self.drain_subsystems();
    }

    /// Pops the next effect; [`Output::Timeout`] means "nothing more until then".
    #[must_use]
    pub fn poll_output(&mut self) -> Output {
        if let Some(o) = self.out.pop_front() {
            return o;
        }
        Output::Timeout(
            self.poll_timeout()
                .unwrap_or(self.last_now + Duration::from_secs(3600)),
        )
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        // Drop heap entries of transactions that are gone or re-armed later.
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            match self.txns.get(&id).and_then(Txn::poll_timeout) {
                Some(t) if t <= at => break,
                Some(t) => {
                    self.timers.pop();
                    self.timers.push(Reverse((t, id)));
                }
                None => {
                    self.timers.pop();
                }
            }
        }
        [
            self.timers.peek().map(|Reverse((t, _))| *t),
            self.registrar.poll_timeout(),
            self.guard.poll_timeout(),
            self.qualify_at,
            self.calls_poll_timeout(),
            self.mwi.poll_timeout(),
            self.acd_at,
            self.acd_repair_at,
            self.trunks_poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn handle_timeout(&mut self, now: Now) {
        let t = now.mono;
        self.registrar.handle_timeout(t);
        self.guard.handle_timeout(t);
        self.calls_handle_timeout(now);
        self.mwi_handle_timeout(now);
        self.acd_handle_timeout(now);
        self.trunks_handle_timeout(now);
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            if at > t {
                break;
            }
            self.timers.pop();
            if let Some(txn) = self.txns.get_mut(&id) {
                if txn.poll_timeout().is_some_and(|d| d <= t) {
                    txn.handle_timeout(t);
                }
                self.pump(now, id);
            }
        }
        if let (Some(at), Some(every)) = (self.qualify_at, self.s.qualify) {
            if at <= t {
                self.qualify_at = Some(t + every);
                self.qualify_all(now);
            }
        }
    }

    fn drain_subsystems(&mut self) {
        for cmd in self.registrar.drain_store() {
            self.out.push_back(Output::Store(cmd));
        }
        for ev in self.registrar.drain_events() {
            let RegistrarEvent::Expired { aor, uri } = ev;
            tracing::info!(ext = %aor, contact = %uri, "registration expired");
        }
        while let Some(ev) = self.guard.poll_event() {
            match ev {
                GuardEvent::Banned {
                    ip,
                    failures,
                    ban_time,
                } => {
                    tracing::warn!(
                        source = %ip,
                        failures,
                        ban_secs = ban_time.as_secs(),
                        "banned: too many failed authentications"
                    );
                    self.out.push_back(Output::Store(StoreCommand::Security(
                        crate::store::SecurityEvent {
                            at: 0,
                            source: ip.to_string(),
                            kind: "ban".into(),
                            detail: format!("{failures} failed authentications"),
                        },
                    )));
                }
                GuardEvent::Unbanned { ip, dropped } => {
                    tracing::info!(source = %ip, dropped, "ban lifted");
                    self.out.push_back(Output::Store(StoreCommand::Security(
                        crate::store::SecurityEvent {
                            at: 0,
                            source: ip.to_string(),
                            kind: "unban".into(),
                            detail: format!("{dropped} messages dropped during the ban"),
                        },
                    )));
                }
            }
        }
        // Stamp wall time on security events here, where we know it.
        let wall = self.wall_now();
        for o in &mut self.out {
            if let Output::Store(StoreCommand::Security(e)) = o {
                if e.at == 0 {
                    e.at = wall;
                }
            }
        }
    }

    fn wall_now(&self) -> u64 {
        self.wall_seen
    }

    /// Moves a transaction's effects into the output queue and re-arms its timer.
    /// Moves a transaction's effects into the output queue and re-arms its timer. Returns
    /// the status codes the transaction delivered to the TU.
    pub(crate) fn pump(&mut self, now: Now, id: u64) -> Vec<u16> {
        let mut terminated = false;
        let mut timed_out = false;
        let mut delivered = Vec::new();
        let Some(txn) = self.txns.get_mut(&id) else {
            return delivered;
        };
        while let Some(o) = txn.poll_output() {
            match o {
                TxnOutput::Transmit(data) => self.out.push_back(Output::Transmit(Transmit {
                    transport: txn.transport,
                    local: txn.local,
                    remote: txn.remote,
                    data,
                })),
                TxnOutput::Deliver(c) => delivered.push(c),
                TxnOutput::Timeout | TxnOutput::TransportError => timed_out = true,
                TxnOutput::Terminated => terminated = true,
            }
        }
        if let Some(t) = txn.poll_timeout() {
            self.timers.push(Reverse((t, id)));
        }
        if timed_out {
            match &txn.kind {
                TxnKind::Qualify { aor, binding, .. } => {
                    let (aor, binding) = (aor.clone(), *binding);
                    self.qualify_result(&aor, binding, false);
                }
                TxnKind::Invite { call, branch, .. } => {
                    let (call, branch) = (*call, *branch);
                    // Timer B: the branch is dead (RFC 3261 §8.1.3.1: treat as 408). A branch
                    // re-sent with credentials has a new transaction: the old one is not it.
                    let current = self
                        .calls
                        .calls
                        .get(&call)
                        .and_then(|c| c.branches.get(branch))
                        .is_some_and(|b| b.txn == id);
                    if current {
                        self.branch_failed(now, call, branch, 408);
                    }
                }
                TxnKind::Trunk { trunk, what, .. } => {
                    let (trunk, what) = (trunk.clone(), *what);
                    self.trunk_no_response(now, &trunk, what);
                }
                _ => {}
            }
        }
        if terminated {
            self.remove_txn(id);
        }
        delivered
    }

    /// Registers a new client transaction towards `flow` and returns its id (the caller pumps).
    pub(crate) fn add_client_txn(&mut self, key: TxnKey, kind: TxnKind, flow: Flow) -> u64 {
        self.next_txn += 1;
        let id = self.next_txn;
        self.txns.insert(
            id,
            Txn {
                kind,
                key: key.clone(),
                client: true,
                transport: flow.transport,
                local: flow.local,
                remote: flow.remote,
                finalised: false,
            },
        );
        self.client_keys.insert(key, id);
        id
    }

    fn remove_txn(&mut self, id: u64) {
        if let Some(t) = self.txns.remove(&id) {
            if t.client {
                self.client_keys.remove(&t.key);
            } else {
                self.server_keys.remove(&t.key);
            }
        }
    }

    fn handle_datagram(&mut self, now: Now, d: Datagram) {
        self.stats.received += 1;
        if self.guard.check(d.remote.ip(), now.mono) {
            return;
        }
        if d.data
            .iter()
            .all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0))
        {
            // UDP keep-alive (CRLF or NUL padding some phones send): nothing to answer.
            return;
        }
        let msg = match msg::parse(&d.data, &self.s.limits) {
            Ok(m) => m,
            Err(e) => {
                self.stats.parse_errors += 1;
                tracing::debug!(source = %d.remote, error = %e, "dropped unparseable message");
                return;
            }
        };
        if msg.is_request() {
            self.handle_request(now, &d, msg);
        } else {
            self.handle_response(now, &d, &msg);
        }
    }

    fn handle_response(&mut self, now: Now, d: &Datagram, rsp: &Message) {
        let (Ok(via), Ok(cseq), Some(code)) = (rsp.top_via(), rsp.cseq(), rsp.status()) else {
            self.stats.stray_responses += 1;
            return;
        };
        let Some(branch) = via.branch() else {
            self.stats.stray_responses += 1;
            return;
        };
        let key = TxnKey::client(branch, cseq.method.as_str());
        let Some(&id) = self.client_keys.get(&key) else {
            self.stats.stray_responses += 1;
            tracing::debug!(source = %d.remote, code, "response matches no transaction");
            return;
        };
        let mut answered = None;
        let mut branch = None;
        let mut trunk = None;
        if let Some(txn) = self.txns.get_mut(&id) {
            match &mut txn.kind {
                TxnKind::Qualify {
                    txn: t,
                    aor,
                    binding,
                } => {
                    t.handle_response(now.mono, code);
                    if code >= 200 {
                        answered = Some((aor.clone(), *binding));
                    }
                }
                TxnKind::Invite {
                    txn: t,
                    call,
                    branch: b,
                } => {
                    branch = Some((*call, *b));
                    let ack = || non2xx_ack(rsp);
                    t.handle_response(now.mono, code, ack);
                }
                TxnKind::Request { txn: t, .. } => t.handle_response(now.mono, code),
                TxnKind::Trunk {
                    txn: t,
                    trunk: n,
                    what,
                } => {
                    t.handle_response(now.mono, code);
                    trunk = Some((n.clone(), *what));
                }
                _ => {}
            }
        }
        if let Some((aor, binding)) = answered {
            // Any final response proves the phone is alive (RFC 3261 §11: even 4xx/5xx).
            self.qualify_result(&aor, binding, true);
        }
        let delivered = self.pump(now, id);
        if let Some((name, what)) = trunk {
            if delivered.iter().any(|c| *c >= 200) {
                self.trunk_response(now, &name, what, rsp);
            }
        }
        if let Some((call, b)) = branch {
            for c in delivered {
                self.on_branch_response(now, call, b, rsp, c);
            }
        }
    }

    fn handle_request(&mut self, now: Now, d: &Datagram, mut req: Message) {
        let via = stamp_via(&mut req, d.remote);
        let dest = response_destination(via.as_ref(), d.remote, d.transport);
        if let Err(e) = msg::validate_request(&req) {
            self.stats.bad_requests += 1;
            tracing::debug!(source = %d.remote, error = %e, "400 to malformed request");
            if via.is_some() {
                let rsp = self.response(&req, 400, e.reason());
                self.send_stateless(d, dest, rsp);
            }
            return;
        }
        let Some(via) = via else { return };
        let Some(method) = req.method().cloned() else {
            return;
        };
        let key = server_key(&req, &via, &method);

        if method == Method::Ack {
            if let Some(&id) = self.server_keys.get(&key) {
                if let Some(Txn {
                    kind: TxnKind::ServerInvite(t),
                    ..
                }) = self.txns.get_mut(&id)
                {
                    t.handle_ack(now.mono);
                }
                self.pump(now, id);
            }
            // An ACK for a 2xx belongs to a dialog (RFC 3261 §13.2.2.4).
            self.on_dialog_request(now, None, d, &req);
            return;
        }
        if let Some(&id) = self.server_keys.get(&key) {
            self.stats.retransmissions += 1;
            if let Some(t) = self.txns.get_mut(&id) {
                match &mut t.kind {
                    TxnKind::ServerInvite(s) => s.handle_request_retransmit(now.mono),
                    TxnKind::ServerNonInvite(s) => s.handle_request_retransmit(now.mono),
                    _ => {}
                }
            }
            self.pump(now, id);
            return;
        }
        let rel = if d.transport.is_reliable() {
            Reliability::Reliable
        } else {
            Reliability::Unreliable
        };
        let kind = if method == Method::Invite {
            TxnKind::ServerInvite(ServerInvite::new(now.mono, rel, self.s.timers))
        } else {
            TxnKind::ServerNonInvite(ServerNonInvite::new(now.mono, rel, self.s.timers))
        };
        self.next_txn += 1;
        let id = self.next_txn;
        self.txns.insert(
            id,
            Txn {
                kind,
                key: key.clone(),
                client: false,
                transport: d.transport,
                local: d.local,
                remote: dest,
                finalised: false,
            },
        );
        self.server_keys.insert(key, id);

        // RFC 3261 §8.2.1: method inspection first.
        if let Method::Other(_) = method {
            let rsp = self
                .response(&req, 501, "Not Implemented")
                .with(HeaderName::Allow, ALLOW);
            return self.reply(now, id, rsp);
        }
        // §8.2.2.3: Require with option tags we do not know → 420 (never for CANCEL/ACK).
        if method != Method::Cancel {
            let unsupported: Vec<&str> = req
                .headers
                .get_all(&HeaderName::Require)
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|t| !t.is_empty() && !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(t)))
                .collect();
            if !unsupported.is_empty() {
                let list = unsupported.join(", ");
                let rsp = self
                    .response(&req, 420, "Bad Extension")
                    .with(HeaderName::Unsupported, &list);
                return self.reply(now, id, rsp);
            }
        }
        match method {
            Method::Register => self.on_register(now, id, d, &req),
            Method::Options => {
                let rsp = self
                    .response(&req, 200, "OK")
                    .with(HeaderName::Allow, ALLOW)
                    .with(HeaderName::Accept, "application/sdp")
                    .with(HeaderName::Supported, &SUPPORTED.join(", "));
                self.reply(now, id, rsp);
            }
            Method::Cancel => self.on_cancel(now, id, &req, &via),
            Method::Subscribe => self.on_subscribe(now, id, d, &req),
            _ if to_tag(&req).is_some() => {
                if !self.on_dialog_request(now, Some(id), d, &req) {
                    let rsp = self.response(&req, 481, "Call/Transaction Does Not Exist");
                    self.reply(now, id, rsp);
                }
            }
            Method::Invite => self.on_invite(now, id, d, &req),
            _ => {
                let rsp = self
                    .response(&req, 405, "Method Not Allowed")
                    .with(HeaderName::Allow, ALLOW);
                self.reply(now, id, rsp);
            }
        }
    }

    /// RFC 3261 §9.2: CANCEL matches the INVITE server transaction with the same branch.
    fn on_cancel(&mut self, now: Now, id: u64, req: &Message, via: &Via) {
        let invite_key = server_key(req, via, &Method::Invite);
        let target = self.server_keys.get(&invite_key).copied();
        match target {
            Some(inv) if self.txns.get(&inv).is_some_and(|t| !t.finalised) => {
                let ok = self.response(req, 200, "OK");
                self.reply(now, id, ok);
                // The INVITE itself gets 487 (RFC 3261 §9.2), from the call.
                self.cancel_call(now, inv);
            }
            _ => {
                let rsp = self.response(req, 481, "Call/Transaction Does Not Exist");
                self.reply(now, id, rsp);
            }
        }
    }

    fn on_register(&mut self, now: Now, id: u64, d: &Datagram, req: &Message) {
        let aor = req
            .to()
            .ok()
            .and_then(|t| t.uri.user.clone())
            .unwrap_or_default();
        let user = match self.authenticate(now, d, req, false) {
            Ok(u) => u,
            Err(rsp) => return self.reply(now, id, *rsp),
        };
        if user != aor {
            // Valid credentials of one extension may not register another's number; the
            // answer is the same as for a wrong password.
            self.guard.record_failure(d.remote.ip(), now.mono);
            let rsp = self.response(req, 403, "Forbidden");
            return self.reply(now, id, rsp);
        }
        let max_contacts = self.s.extensions.get(&user).map_or(1, |e| e.max_contacts);
        let rsp = self.register(now, d, req, &aor, max_contacts);
        self.queue_presence(now, &aor);
        self.reply(now, id, rsp);
    }

    /// Digest authentication of a request (RFC 3261 §22). `proxy` selects 407 with
    /// Proxy-Authenticate/Proxy-Authorization (INVITE and other requests) instead of 401 with
    /// WWW-Authenticate/Authorization (REGISTER). Returns the authenticated extension number,
    /// or the response to send. Unknown users, wrong passwords, wrong networks and algorithms
    /// we do not offer all get the same 403 and count as failures for the ban.
    pub(crate) fn authenticate(
        &mut self,
        now: Now,
        d: &Datagram,
        req: &Message,
        proxy: bool,
    ) -> Result<String, Box<Message>> {
        let ip = d.remote.ip();
        let header = if proxy {
            HeaderName::ProxyAuthorization
        } else {
            HeaderName::Authorization
        };
        let creds = req
            .headers
            .get_all(&header)
            .filter_map(|v| Credentials::parse(v).ok())
            .find(|c| {
                c.scheme.eq_ignore_ascii_case("Digest")
                    && c.get("realm")
                        .is_some_and(|r| r.eq_ignore_ascii_case(&self.s.domain))
            });
        let Some(creds) = creds else {
            return Err(Box::new(self.challenge(req, false, proxy)));
        };
        let p = DigestParams::from_credentials(&creds);
        match self.nonces.check(p.nonce, now.mono - self.started) {
            NonceState::Fresh => {}
            NonceState::Stale => return Err(Box::new(self.challenge(req, true, proxy))),
            NonceState::Unknown => return Err(Box::new(self.challenge(req, false, proxy))),
        }
        let method = req.method().map(Method::as_str).unwrap_or("REGISTER");
        // An unknown user costs the same hashing as a known one and gets the same answer.
        let ext = self.s.extensions.get(p.username);
        let password = ext.map_or("\u{0}no-such-user", |e| e.password.as_str());
        // Only the algorithms we offer are accepted (an admin may retire MD5).
        let offered = p
            .algorithm
            .map_or(Some((Algorithm::Md5, false)), Algorithm::parse)
            .is_some_and(|(a, _)| self.s.algorithms.contains(&a));
        let verdict = if offered {
            auth::verify(&p, method, &req.body, password)
        } else {
            Verdict::Malformed
        };
        let allowed =
            ext.is_some_and(|e| e.allow.is_empty() || e.allow.iter().any(|n| n.contains(&ip)));
        if verdict == Verdict::Ok && allowed {
            return Ok(p.username.to_owned());
        }
        tracing::debug!(source = %ip, "authentication failed");
        self.guard.record_failure(ip, now.mono);
        Err(Box::new(self.response(req, 403, "Forbidden")))
    }

    fn register(
        &mut self,
        now: Now,
        d: &Datagram,
        req: &Message,
        aor: &str,
        max_contacts: u32,
    ) -> Message {
        let expires = match req
            .headers
            .get(&HeaderName::Expires)
            .map(|v| v.trim().parse::<u64>())
        {
            None => None,
            Some(Ok(v)) => Some(v.min(u64::from(u32::MAX)) as u32),
            Some(Err(_)) => return self.response(req, 400, "Bad Request - invalid Expires"),
        };
        let mut star = false;
        let mut list = Vec::new();
        for v in req.headers.get_all(&HeaderName::Contact) {
            match msg::parse_contact(v) {
                Ok(Contact::Star) => star = true,
                Ok(Contact::Addrs(addrs)) => {
                    for a in addrs {
                        let n = &a.addr;
                        list.push(ContactReq {
                            uri: n.uri.to_string(),
                            expires: n
                                .param("expires")
                                .flatten()
                                .and_then(|e| e.trim().parse::<u64>().ok())
                                .map(|e| e.min(u64::from(u32::MAX)) as u32),
                            instance: n.param("+sip.instance").flatten().map(str::to_owned),
                            reg_id: n.param("reg-id").flatten().and_then(|r| r.parse().ok()),
                            q: n.param("q").flatten().and_then(|q| q.parse().ok()),
                        });
                    }
                }
                Err(_) => return self.response(req, 400, "Bad Request - invalid Contact"),
            }
        }
        let contacts = match (star, list.is_empty()) {
            (true, true) => Contacts::Star,
            (true, false) => {
                return self.response(req, 400, "Bad Request - Contact * mixed with addresses");
            }
            (false, true) => Contacts::Query,
            (false, false) => Contacts::List(list),
        };
        let Ok(cseq) = req.cseq() else {
            return self.response(req, 400, "Bad Request - CSeq");
        };
        let rr = RegisterRequest {
            aor,
            call_id: req.call_id().unwrap_or(""),
            cseq: cseq.seq,
            expires,
            contacts,
            flow: Flow {
                transport: d.transport,
                remote: d.remote,
                local: d.local,
            },
            user_agent: req.headers.get(&HeaderName::UserAgent),
            max_contacts,
        };
        let before = self.registrar.bindings(aor).len();
        match self.registrar.handle_register(now, &rr, &self.s.registrar) {
            RegisterOutcome::Ok(contacts) => {
                self.stats.registrations += 1;
                let after = self.registrar.bindings(aor).len();
                if after != before {
                    tracing::info!(
                        ext = %aor,
                        source = %d.remote,
                        transport = d.transport.as_str(),
                        user_agent = rr.user_agent.unwrap_or("-"),
                        contacts = after,
                        "registration changed"
                    );
                } else {
                    tracing::debug!(ext = %aor, source = %d.remote, "registration refreshed");
                }
                let mut rsp = self.response(req, 200, "OK");
                for c in contacts {
                    rsp.headers.push(HeaderName::Contact, c);
                }
                rsp.headers.push(HeaderName::Date, http_date(now.wall));
                rsp
            }
            RegisterOutcome::IntervalTooBrief(min) => self
                .response(req, 423, "Interval Too Brief")
                .with(HeaderName::MinExpires, &min.to_string()),
            RegisterOutcome::BadRequest(reason) => self.response(req, 400, reason),
            RegisterOutcome::OutOfOrder => {
                self.response(req, 500, "Server Internal Error - out of order CSeq")
            }
        }
    }

    fn challenge(&mut self, req: &Message, stale: bool, proxy: bool) -> Message {
        let nonce = self
            .nonces
            .issue(self.last_now - self.started, self.rng.random());
        let (code, reason, header) = if proxy {
            (
                407,
                "Proxy Authentication Required",
                HeaderName::ProxyAuthenticate,
            )
        } else {
            (401, "Unauthorized", HeaderName::WwwAuthenticate)
        };
        let mut rsp = self.response(req, code, reason);
        for alg in &self.s.algorithms {
            rsp.headers.push(
                header.clone(),
                auth::challenge(&self.s.domain, &nonce, *alg, stale),
            );
        }
        rsp
    }

    /// A response to `req` with a fresh To tag and our Server header.
    pub(crate) fn response(&mut self, req: &Message, code: u16, reason: &str) -> Message {
        let tag = format!("{:016x}", self.rng.random::<u64>());
        let mut rsp = msg::response_for(req, code, reason, (code > 100).then_some(tag.as_str()));
        rsp.headers
            .push(HeaderName::Server, self.s.user_agent.clone());
        rsp
    }

    pub(crate) fn reply(&mut self, now: Now, id: u64, rsp: Message) {
        let code = rsp.status().unwrap_or(500);
        let bytes = rsp.to_bytes();
        if let Some(t) = self.txns.get_mut(&id) {
            t.send_response(now.mono, code, bytes);
        }
        self.pump(now, id);
    }

    fn send_stateless(&mut self, d: &Datagram, dest: SocketAddr, rsp: Message) {
        self.out.push_back(Output::Transmit(Transmit {
            transport: d.transport,
            local: d.local,
            remote: dest,
            data: rsp.to_bytes(),
        }));
    }

    fn qualify_all(&mut self, now: Now) {
        let targets: Vec<(String, u64, String, Flow)> = self
            .registrar
            .all()
            .flat_map(|(aor, bs)| {
                bs.iter()
                    .map(move |b| (aor.to_owned(), b.id, b.uri.clone(), b.flow))
            })
            .collect();
        for (aor, binding, uri, flow) in targets {
            self.send_qualify(now, aor, binding, &uri, flow);
        }
    }

    /// A new out-of-dialog request from `from_user` to the contact `uri` over `flow`: Via with a
    /// fresh branch, Max-Forwards, From with a fresh tag, To, a fresh Call-ID, CSeq 1. Returns
    /// it with its branch, or `None` when `uri` does not parse.
    pub(crate) fn out_of_dialog_request(
        &mut self,
        method: Method,
        uri: &str,
        from_user: &str,
        flow: Flow,
        body: Bytes,
    ) -> Option<(Message, String)> {
        let ruri = Uri::parse(uri).ok()?;
        let branch = format!("z9hG4bK{:016x}", self.rng.random::<u64>());
        let cseq = format!("1 {}", method.as_str());
        let mut m = Message {
            start: StartLine::Request {
                method,
                uri: ruri,
                raw_uri: uri.to_owned(),
            },
            headers: msg::Headers(Vec::new()),
            body,
        };
        m.headers.push(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {};branch={branch};rport",
                flow.transport.via_token(),
                flow.local
            ),
        );
        m.headers.push(HeaderName::MaxForwards, "70");
        m.headers.push(
            HeaderName::From,
            format!(
                "<sip:{from_user}@{}>;tag={:016x}",
                self.s.domain,
                self.rng.random::<u64>()
            ),
        );
        m.headers.push(HeaderName::To, format!("<{uri}>"));
        m.headers.push(
            HeaderName::CallId,
            format!("{:032x}@zvon", self.rng.random::<u128>()),
        );
        m.headers.push(HeaderName::CSeq, cseq);
        Some((m, branch))
    }

    fn send_qualify(&mut self, now: Now, aor: String, binding: u64, uri: &str, flow: Flow) {
        let Some((mut m, branch)) =
            self.out_of_dialog_request(Method::Options, uri, "zvon", flow, Bytes::new())
        else {
            return;
        };
        m.headers
            .push(HeaderName::UserAgent, self.s.user_agent.clone());
        let rel = if flow.transport.is_reliable() {
            Reliability::Reliable
        } else {
            Reliability::Unreliable
        };
        let txn = ClientNonInvite::new(now.mono, m.to_bytes(), rel, self.s.timers);
        let key = TxnKey::client(&branch, "OPTIONS");
        let id = self.add_client_txn(key, TxnKind::Qualify { txn, aor, binding }, flow);
        self.pump(now, id);
    }

    fn qualify_result(&mut self, aor: &str, binding: u64, answered: bool) {
        if let Some(reachable) =
            self.registrar
                .handle_qualify(aor, binding, answered, self.s.qualify_failures)
        {
            if reachable {
                tracing::info!(ext = %aor, "contact reachable again");
            } else {
                tracing::warn!(ext = %aor, "contact unreachable: qualify pings unanswered");
            }
        }
    }
}

trait With {
    fn with(self, name: HeaderName, value: &str) -> Self;
}

impl With for Message {
    fn with(mut self, name: HeaderName, value: &str) -> Self {
        self.headers.push(name, value.to_owned());
        self
    }
}

fn to_tag(req: &Message) -> Option<String> {
    req.to().ok().and_then(|t| t.tag().map(str::to_owned))
}

/// RFC 3261 §17.2.3 server transaction key; ACK matches its INVITE. For RFC 2543 peers
/// without the magic cookie, the branch is replaced by Call-ID, CSeq number and From tag.
fn server_key(req: &Message, via: &Via, method: &Method) -> TxnKey {
    let m = match method {
        Method::Ack => "INVITE",
        other => other.as_str(),
    };
    let sent_by = match via.port {
        Some(p) => format!("{}:{p}", via.host.to_ascii_lowercase()),
        None => via.host.to_ascii_lowercase(),
    };
    match via.branch() {
        Some(b) if b.starts_with("z9hG4bK") => TxnKey::server(b, &sent_by, m),
        _ => {
            let from_tag = req
                .from()
                .ok()
                .and_then(|f| f.tag().map(str::to_owned))
                .unwrap_or_default();
            let seq = req.cseq().map(|c| c.seq).unwrap_or(0);
            let b = format!("2543:{}:{seq}:{from_tag}", req.call_id().unwrap_or(""));
            TxnKey::server(&b, &sent_by, m)
        }
    }
}

/// Adds `received` (RFC 3261 §18.2.1) and fills `rport` (RFC 3581 §4) on the top Via of a
/// request, so that responses copy them. Returns the stamped top Via, if it parses.
fn stamp_via(req: &mut Message, src: SocketAddr) -> Option<Via> {
    let hdr = req
        .headers
        .0
        .iter_mut()
        .find(|h| h.name == HeaderName::Via)?;
    let mut vias = msg::parse_via_list(&hdr.value).ok()?;
    let top = vias.first_mut()?;
    let src_ip = src.ip();
    let host_is_src = top
        .host
        .parse::<IpAddr>()
        .is_ok_and(|h| h == src_ip || h.to_canonical() == src_ip.to_canonical());
    if top.rport().is_some() {
        top.set_param("received", Some(src_ip.to_string()));
        top.set_param("rport", Some(src.port().to_string()));
    } else if !host_is_src {
        top.set_param("received", Some(src_ip.to_string()));
    }
    let stamped = top.clone();
    hdr.value = vias
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    Some(stamped)
}

/// Where to send responses (RFC 3261 §18.2.2, RFC 3581 §4). Streams answer on the
/// connection the request came on.
fn response_destination(via: Option<&Via>, src: SocketAddr, transport: Transport) -> SocketAddr {
    let Some(via) = via else { return src };
    if transport.is_reliable() || FORCE_RPORT || via.rport().is_some() {
        return src;
    }
    let ip = via
        .received()
        .and_then(|r| r.parse().ok())
        .or_else(|| via.host.parse().ok())
        .unwrap_or(src.ip());
    SocketAddr::new(ip, via.port.unwrap_or(5060))
}

/// ACK for a non-2xx final response (RFC 3261 §17.1.1.3): Request-URI, Call-ID, From, top
/// Via and CSeq number of the INVITE, To of the response. Built from the response, which
/// carries all of them except the Request-URI; for that we use the To URI (our branches send
/// to the contact directly, with no proxies in between, so the hop is the same).
fn non2xx_ack(rsp: &Message) -> Bytes {
    let uri_text = rsp
        .to()
        .map(|t| t.uri.to_string())
        .unwrap_or_else(|_| "sip:invalid".to_owned());
    let Ok(uri) = Uri::parse(&uri_text) else {
        return Bytes::new();
    };
    let mut m = Message {
        start: StartLine::Request {
            method: Method::Ack,
            uri,
            raw_uri: uri_text,
        },
        headers: msg::Headers(Vec::new()),
        body: Bytes::new(),
    };
    if let Ok(via) = rsp.top_via() {
        let mut via = via;
        via.params.retain(|(k, _)| {
            !k.eq_ignore_ascii_case("received") && !k.eq_ignore_ascii_case("rport")
        });
        via.set_param("rport", None);
        m.headers.push(HeaderName::Via, via.to_string());
    }
    m.headers.push(HeaderName::MaxForwards, "70");
    for name in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
        if let Some(v) = rsp.headers.get(&name) {
            m.headers.push(name, v.to_owned());
        }
    }
    let seq = rsp.cseq().map(|c| c.seq).unwrap_or(1);
    m.headers.push(HeaderName::CSeq, format!("{seq} ACK"));
    m.to_bytes()
}

#[cfg(test)]
mod tests;
