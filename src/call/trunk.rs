//! The engine's side of trunks: inbound calls from providers, outbound calls through them
//! (digest answers, failover, channel and toll-fraud limits), and each trunk's registration
//! and health checks.
//!
//! Contract: no IO, no clock. Provider addresses come in as [`crate::core::Input::TrunkAddress`]
//! (the runtime resolves host names); until then a trunk is not used and not registered.
//!
//! - **Inbound.** An INVITE whose source matches a trunk (its `inbound_from` networks, else
//!   exactly the provider's resolved address and port) is a provider call: no digest, no
//!   feature codes; the DID (Request-URI or To user) is routed in the trunk's dial-plan
//!   context. Everyone else must authenticate as an extension.
//! - **Outbound.** [`Pbx::start_outbound`] plans the call ([`crate::trunk::route`]), checks the
//!   class of service and the toll-fraud limits (403 and a FAILED CDR with the reason; a limit
//!   hit is logged at warn and counted), then rings the first usable trunk. A 5xx, a timeout
//!   (408) or a rejected authentication moves on to the next trunk of the route; a trunk at
//!   its channel limit, without an address, or down by its health check is skipped (down
//!   trunks are still tried when no other is left).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::call::b2bua::{BranchState, CallState, LegRef};
use crate::core::{Pbx, TxnKind};
use crate::media::Side;
use crate::sip::auth;
use crate::sip::msg::{Challenge, HeaderName, Message, Method};
use crate::sip::registrar::Flow;
use crate::sip::txn::{ClientInvite, ClientNonInvite, Reliability, TxnKey};
use crate::store::Disposition;
use crate::time::Now;
use crate::trunk::health::{Change, Health};
use crate::trunk::register::{Env, RegState, Registration, Step};
use crate::trunk::route::{self as troute, OutPlan};
use crate::trunk::{Trunk, TrunksConfig};

/// How long an outbound call may ring before Zvon gives up (providers end it themselves
/// normally; the extension-to-extension `no_answer` is too short for the public network).
const OUTBOUND_RING: Duration = Duration::from_secs(180);

/// An outbound call's plan and failover position.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub(crate) plan: OutPlan,
    /// Index in `plan.trunks` of the next trunk to try.
    pub(crate) next: usize,
    /// The extension's own caller ID (`caller_id` in extensions.toml).
    pub(crate) ext_caller_id: Option<String>,
}

/// From, To and extra headers of a branch through a trunk.
#[derive(Debug, Clone)]
pub struct BranchIdent {
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) extra: Vec<(HeaderName, String)>,
    pub(crate) trunk: String,
}

/// What a trunk's client transaction is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrunkReq {
    Register,
    Options,
}

/// Where a trunk stands, for `zvon status trunks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkStatus {
    pub name: String,
    pub host: String,
    /// The provider's address, once resolved.
    pub address: Option<SocketAddr>,
    /// `None` for trunks that do not register.
    pub registration: Option<RegStatus>,
    /// False when health checks say the trunk is down (or it has no address).
    pub up: bool,
    /// Round trip of the last OPTIONS answered.
    pub rtt_ms: Option<u64>,
    pub channels: u32,
    pub max_channels: u32,
}

/// A registration's state, in seconds from now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegStatus {
    Waiting,
    Registering,
    Registered {
        expires_in: u64,
    },
    Failed {
        code: Option<u16>,
        reason: String,
        retry_in: u64,
    },
}

/// Trunk state owned by the engine.
#[derive(Debug, Default)]
pub struct Trunks {
    pub(crate) cfg: TrunksConfig,
    /// Resolved provider addresses (first = where requests go).
    pub(crate) addrs: BTreeMap<String, Vec<SocketAddr>>,
    /// Our address towards each trunk.
    pub(crate) local: BTreeMap<String, SocketAddr>,
    pub(crate) regs: BTreeMap<String, Registration>,
    pub(crate) health: BTreeMap<String, Health>,
    /// Calls refused by a toll-fraud limit.
    pub(crate) limit_alarms: u64,
    /// Calls refused by the class of service.
    pub(crate) denied: u64,
}

impl Trunks {
    pub(crate) fn new(cfg: &TrunksConfig) -> Trunks {
        Trunks {
            cfg: cfg.clone(),
            ..Trunks::default()
        }
    }

    pub(crate) fn is_emergency(&self, dialed: &str) -> bool {
        !self.cfg.trunks.is_empty() && self.cfg.emergency.numbers.iter().any(|n| n == dialed)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.regs
            .values()
            .filter_map(Registration::poll_timeout)
            .chain(self.health.values().filter_map(Health::poll_timeout))
            .min()
    }

    fn usable(&self, name: &str) -> bool {
        self.addrs.get(name).is_some_and(|a| !a.is_empty()) && self.local.contains_key(name)
    }

    fn is_up(&self, name: &str) -> bool {
        self.health.get(name).is_none_or(|h| h.up)
    }
}

/// The caller number of a provider's call: the From user (or `anonymous`).
pub(crate) fn inbound_caller(req: &Message) -> String {
    req.from()
        .ok()
        .and_then(|f| f.uri.user.clone())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "anonymous".into())
}

/// The DID of a provider's call, per the trunk's `did` setting.
pub(crate) fn inbound_did(t: &Trunk, req: &Message) -> String {
    let user = match t.did {
        crate::trunk::DidSource::RequestUri => req.request_uri().and_then(|u| u.user.clone()),
        crate::trunk::DidSource::To => req.to().ok().and_then(|a| a.uri.user.clone()),
    };
    user.unwrap_or_default()
}

impl Pbx {
    /// The trunk a request from `src` belongs to.
    pub(crate) fn trunk_of_source(&self, src: SocketAddr) -> Option<&Trunk> {
        self.trunks.cfg.trunks.values().find(|t| {
            if t.inbound_from.is_empty() {
                self.trunks
                    .addrs
                    .get(&t.name)
                    .is_some_and(|a| a.contains(&src))
            } else {
                t.inbound_from.iter().any(|n| n.contains(&src.ip()))
            }
        })
    }

    /// Calls through a trunk now: inbound calls from it and live branches to it.
    pub(crate) fn trunk_channels(&self, name: &str) -> u32 {
        let n: usize = self
            .calls
            .calls
            .values()
            .filter(|c| c.state != CallState::Ending)
            .map(|c| {
                usize::from(c.inbound_trunk.as_deref() == Some(name))
                    + c.branches
                        .iter()
                        .filter(|b| {
                            b.trunk.as_deref() == Some(name)
                                && !matches!(b.state, BranchState::Failed(_))
                        })
                        .count()
            })
            .sum();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Outbound calls up or ringing: of extension `ext`, and in all (emergency calls aside).
    fn outbound_active(&self, ext: &str) -> (u32, u32) {
        let live = self.calls.calls.values().filter(|c| {
            c.state != CallState::Ending && c.outbound.as_ref().is_some_and(|o| !o.plan.emergency)
        });
        let (mut mine, mut all) = (0u32, 0u32);
        for c in live {
            all += 1;
            if c.caller == ext {
                mine += 1;
            }
        }
        (mine, all)
    }

    /// Sends call `id` out through the trunks (it exists, with no branches yet).
    pub(crate) fn start_outbound(&mut self, now: Now, id: u64, route: Option<&str>) {
        let Some(call) = self.calls.calls.get(&id) else {
            return;
        };
        let (caller, dialed) = (call.caller.clone(), call.dialed.clone());
        let ext = self.s.extensions.get(&caller);
        let class = ext
            .and_then(|e| e.class)
            .unwrap_or(self.trunks.cfg.default_class);
        let ext_caller_id = ext.and_then(|e| e.caller_id.clone());
        let plan = match troute::plan_outbound(&self.trunks.cfg, &dialed, route, class) {
            Ok(p) => p,
            Err(refusal) => {
                let (code, reason, cause) = refusal.answer();
                if code == 403 {
                    self.trunks.denied += 1;
                    tracing::warn!(ext = %caller, dialed = %dialed, "outbound call denied: {cause}");
                } else {
                    tracing::info!(ext = %caller, dialed = %dialed, "outbound call: {cause}");
                }
                self.fail_call(now, id, code, reason, Disposition::Failed, &cause);
                return;
            }
        };
        if !plan.emergency {
            let (mine, all) = self.outbound_active(&caller);
            if let Err(cause) = troute::within_limits(&self.trunks.cfg, mine, all) {
                self.trunks.limit_alarms += 1;
                tracing::warn!(ext = %caller, dialed = %dialed, alarms = self.trunks.limit_alarms, "outbound call refused: {cause}");
                self.fail_call(now, id, 403, "Forbidden", Disposition::Failed, &cause);
                return;
            }
        }
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        call.history.push(format!("outbound:{}", plan.route));
        call.no_answer_at = Some(now.mono + OUTBOUND_RING);
        tracing::info!(call = %call.uniqueid, ext = %caller, number = %plan.number, route = %plan.route, "outbound call");
        call.outbound = Some(Outbound {
            plan,
            next: 0,
            ext_caller_id,
        });
        if !self.outbound_next_trunk(now, id) {
            self.fail_call(
                now,
                id,
                503,
                "Service Unavailable",
                Disposition::Failed,
                "no trunk available (down, unresolved or at its channel limit)",
            );
        } else {
            self.arm_call(id);
        }
    }

    /// Rings the next usable trunk of the call's route. False when none is left.
    pub(crate) fn outbound_next_trunk(&mut self, now: Now, id: u64) -> bool {
        let Some(out) = self.calls.calls.get(&id).and_then(|c| c.outbound.clone()) else {
            return false;
        };
        let rest: Vec<(usize, &String)> =
            out.plan.trunks.iter().enumerate().skip(out.next).collect();
        let has_room = |n: &str| {
            self.trunks
                .cfg
                .trunks
                .get(n)
                .is_some_and(|t| t.max_channels == 0 || self.trunk_channels(n) < t.max_channels)
        };
        let pick = rest
            .iter()
            .find(|(_, n)| self.trunks.usable(n) && has_room(n) && self.trunks.is_up(n))
            .or_else(|| {
                rest.iter()
                    .find(|(_, n)| self.trunks.usable(n) && has_room(n))
            });
        let Some(&(k, name)) = pick else {
            for (_, n) in &rest {
                if self.trunks.usable(n) && !has_room(n) {
                    tracing::warn!(trunk = %n, "trunk at its channel limit: skipped");
                }
            }
            return false;
        };
        let name = name.clone();
        let Some(t) = self.trunks.cfg.trunks.get(&name).cloned() else {
            return false;
        };
        let remote = self.trunks.addrs[&name][0];
        let local = self.trunks.local[&name];
        let number = troute::for_trunk(&t, &self.trunks.cfg.numbering, &out.plan.number);
        let cid = troute::caller_id(&out.plan.caller_id, &t, out.ext_caller_id.as_deref());
        let Some(mut call) = self.calls.calls.remove(&id) else {
            return false;
        };
        let presented = cid.clone().unwrap_or_else(|| call.caller.clone());
        let from_user = t.from_user.clone().unwrap_or_else(|| presented.clone());
        let display = call
            .caller_name
            .as_ref()
            .map(|n| format!("\"{}\" ", n.replace('"', "")))
            .unwrap_or_default();
        let mut extra = Vec::new();
        if t.pai {
            extra.push((
                HeaderName::Other("P-Asserted-Identity".into()),
                format!("{display}<sip:{presented}@{}>", t.domain),
            ));
        }
        let ident = BranchIdent {
            from: format!("{display}<sip:{from_user}@{}>", t.domain),
            to: format!("<sip:{number}@{}>", t.domain),
            extra,
            trunk: name.clone(),
        };
        let uri = format!(
            "sip:{number}@{}",
            crate::trunk::register::request_uri(&t).trim_start_matches("sip:")
        );
        let flow = Flow {
            transport: t.transport,
            remote,
            local,
        };
        let codecs = call.b_codecs.clone();
        let dialed = call.dialed.clone();
        let b = self.new_branch_as(
            now,
            &mut call,
            id,
            &uri,
            flow,
            &codecs,
            &dialed,
            Side::B,
            Some(ident),
        );
        let idx = call.branches.len();
        let txn = b.txn;
        self.calls
            .dialogs
            .insert(b.leg.dialog.call_id.clone(), (id, LegRef::Branch(idx)));
        call.branches.push(b);
        call.history.push(format!("trunk:{name}"));
        if let Some(o) = call.outbound.as_mut() {
            o.next = k + 1;
        }
        tracing::info!(call = %call.uniqueid, trunk = %name, number = %number, caller_id = %presented, "calling out");
        self.calls.calls.insert(id, call);
        self.pump(now, txn);
        true
    }

    /// A 401/407 on a trunk branch: send the INVITE again with the trunk's credentials. True
    /// when it was re-sent.
    pub(crate) fn trunk_branch_challenged(
        &mut self,
        now: Now,
        id: u64,
        i: usize,
        rsp: &Message,
        code: u16,
    ) -> bool {
        let Some(call) = self.calls.calls.get(&id) else {
            return false;
        };
        let b = &call.branches[i];
        let Some(t) = b
            .trunk
            .as_ref()
            .and_then(|n| self.trunks.cfg.trunks.get(n))
            .cloned()
        else {
            return false;
        };
        if b.auth_tries > 0 || b.cancel_pending || call.state == CallState::Ending {
            if b.auth_tries > 0 {
                tracing::warn!(trunk = %t.name, code, "the provider rejected our credentials for a call");
            }
            return false;
        }
        let (Some(user), Some(pw)) = (t.auth_user().map(str::to_owned), t.password.clone()) else {
            tracing::warn!(trunk = %t.name, code, "the provider asks for authentication, but the trunk has no credentials");
            return false;
        };
        let (challenge_h, answer_h) = if code == 401 {
            (HeaderName::WwwAuthenticate, HeaderName::Authorization)
        } else {
            (
                HeaderName::ProxyAuthenticate,
                HeaderName::ProxyAuthorization,
            )
        };
        let Some(ch) = rsp
            .headers
            .get_all(&challenge_h)
            .filter_map(|v| Challenge::parse(v).ok())
            .find(|c| c.is_digest())
        else {
            return false;
        };
        let mut inv = b.invite.clone();
        let flow = b.leg.dialog.flow;
        let cseq = b.leg.dialog.local_cseq + 1;
        let uri = match &inv.start {
            crate::sip::msg::StartLine::Request { raw_uri, .. } => raw_uri.clone(),
            _ => return false,
        };
        let cnonce = format!("{:016x}", rand::Rng::random::<u64>(&mut self.rng));
        let Some(value) =
            auth::answer_challenge(&ch, "INVITE", &uri, &user, pw.expose(), &cnonce, 1)
        else {
            tracing::warn!(trunk = %t.name, "cannot answer the provider's challenge (algorithm?)");
            return false;
        };
        let branch = self.branch_id();
        inv.headers.0.retain(|h| {
            !matches!(
                h.name,
                HeaderName::Via
                    | HeaderName::CSeq
                    | HeaderName::Authorization
                    | HeaderName::ProxyAuthorization
            )
        });
        inv.headers.0.insert(
            0,
            crate::sip::msg::Header {
                name: HeaderName::Via,
                value: format!(
                    "SIP/2.0/{} {};branch={branch};rport",
                    flow.transport.via_token(),
                    flow.local
                ),
            },
        );
        inv.headers.push(HeaderName::CSeq, format!("{cseq} INVITE"));
        inv.headers.push(answer_h, value);
        let bytes = inv.to_bytes();
        let rel = if flow.transport.is_reliable() {
            Reliability::Reliable
        } else {
            Reliability::Unreliable
        };
        let txn = ClientInvite::new(now.mono, bytes, rel, self.s.timers);
        let tid = self.add_client_txn(
            TxnKey::client(&branch, "INVITE"),
            TxnKind::Invite {
                txn,
                call: id,
                branch: i,
            },
            flow,
        );
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return false;
        };
        let b = &mut call.branches[i];
        b.leg.dialog.local_cseq = cseq;
        b.invite = inv;
        b.txn = tid;
        b.auth_tries += 1;
        self.pump(now, tid);
        true
    }

    /// A trunk branch failed with `code`: true when the call moved on to the next trunk.
    pub(crate) fn trunk_failover(&mut self, now: Now, id: u64, i: usize, code: u16) -> bool {
        let Some(call) = self.calls.calls.get(&id) else {
            return false;
        };
        let Some(name) = call.branches[i].trunk.clone() else {
            return false;
        };
        if call.outbound.is_none() || call.state != CallState::Proceeding || call.winner.is_some() {
            return false;
        }
        // 5xx/6xx-from-the-network is the callee's answer; 5xx, a timeout and a rejected
        // authentication are the trunk's failure.
        if !(matches!(code, 500..=599 | 408 | 401 | 407)) {
            return false;
        }
        tracing::info!(trunk = %name, code, "trunk failed the call: trying the next one");
        self.outbound_next_trunk(now, id)
    }

    /// A response on a trunk branch: the provider is alive.
    pub(crate) fn trunk_traffic(&mut self, i: usize, id: u64) {
        let Some(name) = self
            .calls
            .calls
            .get(&id)
            .and_then(|c| c.branches.get(i))
            .and_then(|b| b.trunk.clone())
        else {
            return;
        };
        if let Some(Change::Up) = self
            .trunks
            .health
            .get_mut(&name)
            .and_then(Health::on_traffic)
        {
            tracing::info!(trunk = %name, "trunk up again");
        }
    }

    /// The runtime resolved a trunk's host (`remote` empty: it did not resolve).
    pub(crate) fn trunk_address(
        &mut self,
        now: Now,
        trunk: &str,
        remote: Vec<SocketAddr>,
        local: Option<SocketAddr>,
    ) {
        let Some(t) = self.trunks.cfg.trunks.get(trunk).cloned() else {
            return;
        };
        if remote.is_empty() {
            tracing::warn!(trunk, host = %t.host, "trunk host did not resolve; the trunk is not used");
        }
        let changed = self.trunks.addrs.get(trunk) != Some(&remote);
        self.trunks.addrs.insert(trunk.to_owned(), remote);
        if let Some(l) = local {
            self.trunks.local.insert(trunk.to_owned(), l);
        }
        if !self.trunks.usable(trunk) {
            return;
        }
        if t.register && (changed || !self.trunks.regs.contains_key(trunk)) {
            let call_id = format!("{:032x}@zvon", rand::Rng::random::<u128>(&mut self.rng));
            let tag = self.tag();
            self.trunks.regs.insert(
                trunk.to_owned(),
                Registration::new(&t, call_id, tag, now.mono),
            );
        }
        if !t.qualify.is_zero() && !self.trunks.health.contains_key(trunk) {
            self.trunks.health.insert(
                trunk.to_owned(),
                Health::new(t.qualify, t.qualify_failures, now.mono),
            );
        }
    }

    pub(crate) fn trunks_poll_timeout(&self) -> Option<Instant> {
        self.trunks.poll_timeout()
    }

    pub(crate) fn trunks_handle_timeout(&mut self, now: Now) {
        let names: Vec<String> = self.trunks.regs.keys().cloned().collect();
        for name in names {
            if self.trunks.regs[&name]
                .poll_timeout()
                .is_some_and(|at| at <= now.mono)
            {
                self.send_register(now, &name, None);
            }
        }
        let names: Vec<String> = self.trunks.health.keys().cloned().collect();
        for name in names {
            let due = self
                .trunks
                .health
                .get_mut(&name)
                .is_some_and(|h| h.ping_due(now.mono));
            if due {
                self.send_trunk_options(now, &name);
            }
        }
    }

    fn trunk_env_parts(&mut self, name: &str) -> Option<(Trunk, Flow, String, String)> {
        let t = self.trunks.cfg.trunks.get(name)?.clone();
        let remote = *self.trunks.addrs.get(name)?.first()?;
        let local = *self.trunks.local.get(name)?;
        let branch = self.branch_id();
        let cnonce = format!("{:016x}", rand::Rng::random::<u64>(&mut self.rng));
        let flow = Flow {
            transport: t.transport,
            remote,
            local,
        };
        Some((t, flow, branch, cnonce))
    }

    /// Sends the due REGISTER of trunk `name`, or `rsp`'s follow-up (credentials).
    fn send_register(&mut self, now: Now, name: &str, rsp: Option<&Message>) {
        let Some((t, flow, branch, cnonce)) = self.trunk_env_parts(name) else {
            return;
        };
        let ua = self.s.user_agent.clone();
        let env = env_for(flow, &branch, &cnonce, &ua);
        let Some(reg) = self.trunks.regs.get_mut(name) else {
            return;
        };
        let before = reg.state.clone();
        let msg = match rsp {
            None => reg.on_timeout(now.mono, &t, env),
            Some(r) => match reg.on_response(now.mono, r, &t, env) {
                Step::Send(m) => Some(*m),
                Step::Wait => None,
            },
        };
        let after = reg.state.clone();
        let failures = reg.failures;
        log_registration(name, &before, &after, failures, now.mono);
        if let Some(m) = msg {
            self.send_trunk_request(now, name, TrunkReq::Register, m, flow, &branch);
        }
    }

    fn send_trunk_options(&mut self, now: Now, name: &str) {
        let Some((t, flow, _, _)) = self.trunk_env_parts(name) else {
            return;
        };
        let uri = crate::trunk::register::request_uri(&t);
        let user = t.username.clone().unwrap_or_else(|| "zvon".into());
        let Some((mut m, branch)) =
            self.out_of_dialog_request(Method::Options, &uri, &user, flow, Bytes::new())
        else {
            return;
        };
        m.headers
            .push(HeaderName::UserAgent, self.s.user_agent.clone());
        self.send_trunk_request(now, name, TrunkReq::Options, m, flow, &branch);
    }

    fn send_trunk_request(
        &mut self,
        now: Now,
        name: &str,
        what: TrunkReq,
        m: Message,
        flow: Flow,
        branch: &str,
    ) {
        let method = if what == TrunkReq::Register {
            "REGISTER"
        } else {
            "OPTIONS"
        };
        let rel = if flow.transport.is_reliable() {
            Reliability::Reliable
        } else {
            Reliability::Unreliable
        };
        let txn = ClientNonInvite::new(now.mono, m.to_bytes(), rel, self.s.timers);
        let kind = TxnKind::Trunk {
            txn,
            trunk: name.to_owned(),
            what,
        };
        let id = self.add_client_txn(TxnKey::client(branch, method), kind, flow);
        self.pump(now, id);
    }

    /// A final response to a trunk's REGISTER or OPTIONS.
    pub(crate) fn trunk_response(&mut self, now: Now, name: &str, what: TrunkReq, rsp: &Message) {
        match what {
            TrunkReq::Register => self.send_register(now, name, Some(rsp)),
            TrunkReq::Options => self.trunk_ping_result(now, name, true),
        }
    }

    /// A trunk's REGISTER or OPTIONS got no final response.
    pub(crate) fn trunk_no_response(&mut self, now: Now, name: &str, what: TrunkReq) {
        match what {
            TrunkReq::Register => {
                let Some(t) = self.trunks.cfg.trunks.get(name).cloned() else {
                    return;
                };
                if let Some(reg) = self.trunks.regs.get_mut(name) {
                    let before = reg.state.clone();
                    reg.on_no_response(now.mono, &t);
                    let (after, failures) = (reg.state.clone(), reg.failures);
                    log_registration(name, &before, &after, failures, now.mono);
                }
            }
            TrunkReq::Options => self.trunk_ping_result(now, name, false),
        }
    }

    fn trunk_ping_result(&mut self, now: Now, name: &str, answered: bool) {
        match self
            .trunks
            .health
            .get_mut(name)
            .and_then(|h| h.on_ping_result(now.mono, answered))
        {
            Some(Change::Down) => tracing::warn!(
                trunk = name,
                "trunk down: OPTIONS unanswered; routes use the next trunk"
            ),
            Some(Change::Up) => {
                tracing::info!(trunk = name, "trunk up again");
                if let Some(r) = self.trunks.regs.get_mut(name) {
                    r.refresh_now(now.mono);
                }
            }
            None => {}
        }
    }

    /// At shutdown: unregister from every provider Zvon is registered to.
    pub(crate) fn unregister_trunks(&mut self, now: Now) {
        let names: Vec<String> = self.trunks.regs.keys().cloned().collect();
        for name in names {
            let Some((t, flow, branch, cnonce)) = self.trunk_env_parts(&name) else {
                continue;
            };
            let ua = self.s.user_agent.clone();
            let env = env_for(flow, &branch, &cnonce, &ua);
            let Some(m) = self
                .trunks
                .regs
                .get_mut(&name)
                .and_then(|r| r.unregister(now.mono, &t, env))
            else {
                continue;
            };
            tracing::info!(trunk = %name, "unregistering from the provider");
            self.send_trunk_request(now, &name, TrunkReq::Register, m, flow, &branch);
        }
    }

    /// Every trunk's state, for `zvon status trunks`.
    pub fn trunk_status(&self, now: Now) -> Vec<TrunkStatus> {
        let secs = |at: Instant| at.saturating_duration_since(now.mono).as_secs();
        self.trunks
            .cfg
            .trunks
            .values()
            .map(|t| {
                let registration =
                    t.register
                        .then(|| match self.trunks.regs.get(&t.name).map(|r| &r.state) {
                            None | Some(RegState::Idle) => RegStatus::Waiting,
                            Some(RegState::Registering) => RegStatus::Registering,
                            Some(RegState::Registered { until }) if *until > now.mono => {
                                RegStatus::Registered {
                                    expires_in: secs(*until),
                                }
                            }
                            Some(RegState::Registered { .. }) => RegStatus::Registering,
                            Some(RegState::Failed {
                                code,
                                reason,
                                retry_at,
                            }) => RegStatus::Failed {
                                code: *code,
                                reason: reason.clone(),
                                retry_in: secs(*retry_at),
                            },
                        });
                TrunkStatus {
                    name: t.name.clone(),
                    host: format!("{}:{}", t.host, t.port),
                    address: self
                        .trunks
                        .addrs
                        .get(&t.name)
                        .and_then(|a| a.first().copied()),
                    registration,
                    up: self.trunks.usable(&t.name) && self.trunks.is_up(&t.name),
                    rtt_ms: self
                        .trunks
                        .health
                        .get(&t.name)
                        .and_then(|h| h.rtt)
                        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                    channels: self.trunk_channels(&t.name),
                    max_channels: t.max_channels,
                }
            })
            .collect()
    }

    /// Toll-fraud limit hits and class-of-service refusals since start.
    pub fn trunk_counters(&self) -> (u64, u64) {
        (self.trunks.limit_alarms, self.trunks.denied)
    }
}

/// What a REGISTER needs from the engine: the flow, a fresh branch and client nonce.
fn env_for<'a>(flow: Flow, branch: &'a str, cnonce: &'a str, user_agent: &'a str) -> Env<'a> {
    Env {
        local: flow.local,
        transport: flow.transport,
        branch,
        cnonce,
        user_agent,
    }
}

fn log_registration(name: &str, before: &RegState, after: &RegState, failures: u32, now: Instant) {
    match (before, after) {
        (RegState::Registered { .. }, RegState::Registered { .. }) => {}
        (_, RegState::Registered { until }) => {
            tracing::info!(
                trunk = name,
                expires = until.saturating_duration_since(now).as_secs(),
                "registered to the provider"
            );
        }
        (
            _,
            RegState::Failed {
                code,
                reason,
                retry_at,
            },
        ) => {
            let retry = retry_at.saturating_duration_since(now).as_secs();
            match code {
                Some(c) => tracing::warn!(
                    trunk = name,
                    code = c,
                    failures,
                    retry_in = retry,
                    "registration failed: {reason}"
                ),
                None => tracing::warn!(
                    trunk = name,
                    failures,
                    retry_in = retry,
                    "registration failed: {reason}"
                ),
            }
        }
        _ => {}
    }
}
