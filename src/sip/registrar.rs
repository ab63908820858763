//! The registrar: bindings of address-of-record → contacts (RFC 3261 §10.3), with the NAT flow
//! each binding was learnt on, expiry, contact limits and persistence commands.
//!
//! Contract: no IO, no clock. Inputs are plain data extracted from an authenticated REGISTER;
//! outputs are the answer to send and [`StoreCommand`]s for the store thread.
//!
//! Policies (where the RFC leaves a choice):
//! * A binding is identified by its Contact URI, or by `+sip.instance` + `reg-id` when the phone
//!   sends them (RFC 5626 §6): a rebooted phone that comes back on a new port replaces its old
//!   binding instead of adding a dead one.
//! * When a new binding would exceed the extension's `max_contacts`, the binding closest to
//!   expiry is evicted (the phone that is registering now is the one that works).
//! * The phone is reached on the flow its REGISTER arrived on (source address, transport, our
//!   local socket), whatever its Contact says: that keeps phones behind NAT working and equals the
//!   Contact for phones that are not.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::sip::Transport;
use crate::store::{BindingRecord, StoreCommand};
use crate::time::Now;

/// Registrar limits from the config.
#[derive(Clone, Copy, Debug)]
pub struct RegistrarPolicy {
    /// Shorter non-zero expiries get 423 (RFC 3261 §10.3 step 7).
    pub min_expires: u32,
    /// Longer expiries are capped.
    pub max_expires: u32,
    /// Used when the REGISTER carries neither an `Expires` header nor parameter.
    pub default_expires: u32,
}

/// Where a phone is reached: the flow its REGISTER arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    /// Transport of the flow.
    pub transport: Transport,
    /// The phone's address as seen by us (after NAT).
    pub remote: SocketAddr,
    /// Our socket the REGISTER arrived on.
    pub local: SocketAddr,
}

/// One contact of a REGISTER.
#[derive(Clone, Debug, PartialEq)]
pub struct ContactReq {
    /// The Contact URI as printed (without the angle brackets).
    pub uri: String,
    /// `expires` parameter.
    pub expires: Option<u32>,
    /// `+sip.instance` (raw, quoted form as sent).
    pub instance: Option<String>,
    /// `reg-id`.
    pub reg_id: Option<u32>,
    /// `q`.
    pub q: Option<f32>,
}

/// What the REGISTER asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Contacts {
    /// No Contact header: a query for the current bindings.
    Query,
    /// `Contact: *` — remove all (only valid with `Expires: 0`).
    Star,
    /// Add, refresh or remove these.
    List(Vec<ContactReq>),
}

/// A REGISTER reduced to what the registrar needs (already authenticated for `aor`).
#[derive(Clone, Debug)]
pub struct RegisterRequest<'a> {
    /// Address-of-record: the extension number.
    pub aor: &'a str,
    /// Call-ID of the REGISTER.
    pub call_id: &'a str,
    /// CSeq number.
    pub cseq: u32,
    /// `Expires` header value.
    pub expires: Option<u32>,
    /// The contacts.
    pub contacts: Contacts,
    /// The flow it arrived on.
    pub flow: Flow,
    /// `User-Agent`, for `zvon status` and logs.
    pub user_agent: Option<&'a str>,
    /// The extension's `max_contacts`.
    pub max_contacts: u32,
}

/// The registrar's answer.
#[derive(Clone, Debug, PartialEq)]
pub enum RegisterOutcome {
    /// 200 OK listing these contacts (full Contact header values, with `;expires=`).
    Ok(Vec<String>),
    /// 423 Interval Too Brief with `Min-Expires`.
    IntervalTooBrief(u32),
    /// 400 with this reason phrase.
    BadRequest(&'static str),
    /// 500: an out-of-order REGISTER (same Call-ID, CSeq not higher; RFC 3261 §10.3 step 7).
    OutOfOrder,
}

/// A registered contact.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    /// Unique id (never reused), keys the expiry index.
    pub id: u64,
    /// The Contact URI.
    pub uri: String,
    /// `+sip.instance`.
    pub instance: Option<String>,
    /// `reg-id`.
    pub reg_id: Option<u32>,
    /// `q`.
    pub q: Option<f32>,
    /// Call-ID of the last REGISTER that refreshed it.
    pub call_id: String,
    /// CSeq of that REGISTER.
    pub cseq: u32,
    /// Monotonic expiry.
    pub expires_at: Instant,
    /// Wall-clock expiry (what is persisted).
    pub expires_wall: u64,
    /// How to reach the phone.
    pub flow: Flow,
    /// `User-Agent` of the phone.
    pub user_agent: Option<String>,
    /// False after `qualify_failures` unanswered OPTIONS pings.
    pub reachable: bool,
    /// Consecutive unanswered qualify pings.
    pub misses: u32,
}

impl Binding {
    /// The Contact header value for a 200 OK, with the remaining lifetime.
    pub fn contact_value(&self, now: Instant) -> String {
        let left = self.expires_at.saturating_duration_since(now).as_secs();
        let mut s = format!("<{}>;expires={left}", self.uri);
        if let Some(i) = &self.instance {
            s.push_str(";+sip.instance=");
            s.push_str(i);
        }
        if let Some(r) = self.reg_id {
            s.push_str(&format!(";reg-id={r}"));
        }
        if let Some(q) = self.q {
            s.push_str(&format!(";q={q}"));
        }
        s
    }

    fn same_identity(&self, c: &ContactReq) -> bool {
        match (&self.instance, &c.instance) {
            (Some(a), Some(b)) => a == b && self.reg_id == c.reg_id,
            _ => uri_eq(&self.uri, &c.uri),
        }
    }

    fn record(&self, aor: &str) -> BindingRecord {
        BindingRecord {
            aor: aor.to_owned(),
            contact: self.uri.clone(),
            instance: self.instance.clone(),
            reg_id: self.reg_id,
            call_id: self.call_id.clone(),
            cseq: self.cseq,
            expires_at: self.expires_wall,
            transport: self.flow.transport.as_str().to_owned(),
            source: self.flow.remote.to_string(),
            local: self.flow.local.to_string(),
            user_agent: self.user_agent.clone(),
            q: self.q,
        }
    }
}

/// URI comparison good enough for binding identity (RFC 3261 §19.1.4 simplified): scheme and
/// host case-insensitive, user part case-sensitive, parameters compared as a set.
fn uri_eq(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> (String, String, Vec<String>) {
        let mut parts = s.split(';');
        let head = parts.next().unwrap_or("");
        let (userinfo, host) = match head.rfind('@') {
            Some(i) => (&head[..i], &head[i + 1..]),
            None => ("", head),
        };
        let mut params: Vec<String> = parts.map(|p| p.to_ascii_lowercase()).collect();
        params.sort();
        let (scheme, user) = match userinfo.find(':') {
            Some(i) => (&userinfo[..i], &userinfo[i + 1..]),
            None => ("", userinfo),
        };
        (
            format!("{}:{user}", scheme.to_ascii_lowercase()),
            host.to_ascii_lowercase(),
            params,
        )
    }
    a == b || norm(a) == norm(b)
}

/// Events the engine logs or acts on.
#[derive(Clone, Debug, PartialEq)]
pub enum RegistrarEvent {
    /// A binding expired without a refresh.
    Expired {
        /// The extension.
        aor: String,
        /// The contact.
        uri: String,
    },
}

/// All bindings, the expiry index and the queued store commands.
#[derive(Debug, Default)]
pub struct Registrar {
    aors: HashMap<String, Vec<Binding>>,
    expiry: BTreeMap<(Instant, u64), String>,
    next_id: u64,
    store: Vec<StoreCommand>,
    events: Vec<RegistrarEvent>,
}

impl Registrar {
    /// An empty registrar.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bindings restored from the store at start; expired ones are dropped.
    pub fn restore(&mut self, now: Now, records: Vec<BindingRecord>) -> usize {
        let mut n = 0;
        for r in records {
            let Some(left) = r.expires_at.checked_sub(now.wall.secs()).filter(|l| *l > 0) else {
                self.store.push(StoreCommand::DeleteBinding {
                    aor: r.aor,
                    contact: r.contact,
                });
                continue;
            };
            let (Ok(remote), Ok(local)) = (r.source.parse(), r.local.parse()) else {
                continue;
            };
            let Some(transport) = Transport::parse(&r.transport) else {
                continue;
            };
            let id = self.alloc_id();
            let b = Binding {
                id,
                uri: r.contact,
                instance: r.instance,
                reg_id: r.reg_id,
                q: r.q,
                call_id: r.call_id,
                cseq: r.cseq,
                expires_at: now.mono + Duration::from_secs(left),
                expires_wall: r.expires_at,
                flow: Flow {
                    transport,
                    remote,
                    local,
                },
                user_agent: r.user_agent,
                reachable: true,
                misses: 0,
            };
            self.expiry.insert((b.expires_at, id), r.aor.clone());
            self.aors.entry(r.aor).or_default().push(b);
            n += 1;
        }
        n
    }

    fn alloc_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The current bindings of an extension.
    pub fn bindings(&self, aor: &str) -> &[Binding] {
        self.aors.get(aor).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every extension with at least one binding, and its bindings.
    pub fn all(&self) -> impl Iterator<Item = (&str, &[Binding])> {
        self.aors.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Number of bindings in total.
    pub fn len(&self) -> usize {
        self.expiry.len()
    }

    /// True when nobody is registered.
    pub fn is_empty(&self) -> bool {
        self.expiry.is_empty()
    }

    /// Handles an authenticated REGISTER (RFC 3261 §10.3 steps 6–8).
    pub fn handle_register(
        &mut self,
        now: Now,
        req: &RegisterRequest<'_>,
        policy: &RegistrarPolicy,
    ) -> RegisterOutcome {
        let list = match &req.contacts {
            Contacts::Query => return RegisterOutcome::Ok(self.contact_values(req.aor, now.mono)),
            Contacts::Star => {
                // Step 6: `*` is only allowed with Expires: 0.
                if req.expires != Some(0) {
                    return RegisterOutcome::BadRequest("Bad Request - Contact * needs Expires: 0");
                }
                if let Some(bs) = self.aors.get(req.aor) {
                    // Step 6: out-of-order protection for `*` as well.
                    if bs
                        .iter()
                        .any(|b| b.call_id == req.call_id && req.cseq <= b.cseq)
                    {
                        return RegisterOutcome::OutOfOrder;
                    }
                }
                if let Some(bs) = self.aors.remove(req.aor) {
                    for b in bs {
                        self.expiry.remove(&(b.expires_at, b.id));
                    }
                    self.store.push(StoreCommand::DeleteAor {
                        aor: req.aor.to_owned(),
                    });
                }
                return RegisterOutcome::Ok(Vec::new());
            }
            Contacts::List(l) => l,
        };
        // Work out every contact's expiry first: a 423 must change nothing (step 7).
        let mut planned = Vec::with_capacity(list.len());
        for c in list {
            let e = c.expires.or(req.expires).unwrap_or(policy.default_expires);
            if e != 0 && e < policy.min_expires {
                return RegisterOutcome::IntervalTooBrief(policy.min_expires);
            }
            planned.push((c, e.min(policy.max_expires)));
        }
        if let Some(bs) = self.aors.get(req.aor) {
            for (c, _) in &planned {
                if let Some(b) = bs.iter().find(|b| b.same_identity(c)) {
                    if b.call_id == req.call_id && req.cseq <= b.cseq {
                        return RegisterOutcome::OutOfOrder;
                    }
                }
            }
        }
        for (c, e) in planned {
            self.apply_contact(now, req, c, e);
        }
        RegisterOutcome::Ok(self.contact_values(req.aor, now.mono))
    }

    fn apply_contact(&mut self, now: Now, req: &RegisterRequest<'_>, c: &ContactReq, e: u32) {
        let bs = self.aors.entry(req.aor.to_owned()).or_default();
        let pos = bs.iter().position(|b| b.same_identity(c));
        if e == 0 {
            if let Some(i) = pos {
                let b = bs.remove(i);
                self.expiry.remove(&(b.expires_at, b.id));
                self.store.push(StoreCommand::DeleteBinding {
                    aor: req.aor.to_owned(),
                    contact: b.uri,
                });
            }
            if bs.is_empty() {
                self.aors.remove(req.aor);
            }
            return;
        }
        let expires_at = now.mono + Duration::from_secs(u64::from(e));
        let expires_wall = now.wall.secs() + u64::from(e);
        let id = match pos {
            Some(i) => {
                let old = bs.remove(i);
                self.expiry.remove(&(old.expires_at, old.id));
                if old.uri != c.uri {
                    // Same instance on a new URI (rebooted phone): the old row goes.
                    self.store.push(StoreCommand::DeleteBinding {
                        aor: req.aor.to_owned(),
                        contact: old.uri,
                    });
                }
                old.id
            }
            None => {
                let limit = req.max_contacts.max(1) as usize;
                while bs.len() >= limit {
                    // Evict the binding closest to expiry.
                    let Some((i, _)) = bs.iter().enumerate().min_by_key(|(_, b)| b.expires_at)
                    else {
                        break;
                    };
                    let old = bs.remove(i);
                    self.expiry.remove(&(old.expires_at, old.id));
                    self.store.push(StoreCommand::DeleteBinding {
                        aor: req.aor.to_owned(),
                        contact: old.uri,
                    });
                }
                self.next_id += 1;
                self.next_id
            }
        };
        let b = Binding {
            id,
            uri: c.uri.clone(),
            instance: c.instance.clone(),
            reg_id: c.reg_id,
            q: c.q,
            call_id: req.call_id.to_owned(),
            cseq: req.cseq,
            expires_at,
            expires_wall,
            flow: req.flow,
            user_agent: req.user_agent.map(str::to_owned),
            reachable: true,
            misses: 0,
        };
        self.store.push(StoreCommand::PutBinding(b.record(req.aor)));
        self.expiry.insert((expires_at, id), req.aor.to_owned());
        bs.push(b);
    }

    fn contact_values(&self, aor: &str, now: Instant) -> Vec<String> {
        self.bindings(aor)
            .iter()
            .map(|b| b.contact_value(now))
            .collect()
    }

    /// Earliest binding expiry.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.expiry.keys().next().map(|(t, _)| *t)
    }

    /// Removes every binding whose expiry is at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(entry) = self.expiry.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, id), aor) = entry.remove_entry();
            if let Some(bs) = self.aors.get_mut(&aor) {
                if let Some(i) = bs.iter().position(|b| b.id == id) {
                    let b = bs.remove(i);
                    self.store.push(StoreCommand::DeleteBinding {
                        aor: aor.clone(),
                        contact: b.uri.clone(),
                    });
                    self.events.push(RegistrarEvent::Expired {
                        aor: aor.clone(),
                        uri: b.uri,
                    });
                }
                if bs.is_empty() {
                    self.aors.remove(&aor);
                }
            }
        }
    }

    /// Records the result of a qualify ping. Returns `Some(reachable)` when the binding's
    /// reachability changed.
    pub fn handle_qualify(
        &mut self,
        aor: &str,
        id: u64,
        answered: bool,
        max_misses: u32,
    ) -> Option<bool> {
        let b = self.aors.get_mut(aor)?.iter_mut().find(|b| b.id == id)?;
        let before = b.reachable;
        if answered {
            b.misses = 0;
            b.reachable = true;
        } else {
            b.misses = b.misses.saturating_add(1);
            if b.misses >= max_misses.max(1) {
                b.reachable = false;
            }
        }
        (before != b.reachable).then_some(b.reachable)
    }

    /// Drains queued store commands.
    pub fn drain_store(&mut self) -> std::vec::Drain<'_, StoreCommand> {
        self.store.drain(..)
    }

    /// Drains queued events.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, RegistrarEvent> {
        self.events.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::SimClock;

    fn policy() -> RegistrarPolicy {
        RegistrarPolicy {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 600,
        }
    }

    fn flow(port: u16) -> Flow {
        Flow {
            transport: Transport::Udp,
            remote: SocketAddr::from(([192, 0, 2, 10], port)),
            local: SocketAddr::from(([127, 0, 0, 1], 5060)),
        }
    }

    fn contact(uri: &str) -> ContactReq {
        ContactReq {
            uri: uri.into(),
            expires: None,
            instance: None,
            reg_id: None,
            q: None,
        }
    }

    fn req<'a>(
        aor: &'a str,
        call_id: &'a str,
        cseq: u32,
        contacts: Contacts,
    ) -> RegisterRequest<'a> {
        RegisterRequest {
            aor,
            call_id,
            cseq,
            expires: None,
            contacts,
            flow: flow(5060),
            user_agent: Some("test"),
            max_contacts: 3,
        }
    }

    #[test]
    fn register_refresh_and_expiry() {
        let clock = SimClock::new();
        let mut r = Registrar::new();
        let c = Contacts::List(vec![contact("sip:1001@192.168.1.5:5060")]);
        let out = r.handle_register(clock.now(), &req("1001", "a", 1, c.clone()), &policy());
        assert_eq!(
            out,
            RegisterOutcome::Ok(vec!["<sip:1001@192.168.1.5:5060>;expires=600".into()])
        );
        assert_eq!(r.drain_store().count(), 1);
        clock.advance(Duration::from_secs(100));
        let out = r.handle_register(clock.now(), &req("1001", "a", 2, c), &policy());
        assert_eq!(
            out,
            RegisterOutcome::Ok(vec!["<sip:1001@192.168.1.5:5060>;expires=600".into()])
        );
        assert_eq!(r.len(), 1);
        assert_eq!(
            r.poll_timeout(),
            Some(clock.now().mono + Duration::from_secs(600))
        );
        clock.advance(Duration::from_secs(599));
        r.handle_timeout(clock.now().mono);
        assert_eq!(r.len(), 1);
        clock.advance(Duration::from_secs(1));
        r.handle_timeout(clock.now().mono);
        assert!(r.is_empty());
        assert_eq!(r.drain_events().count(), 1);
    }

    #[test]
    fn too_brief_changes_nothing_and_names_min() {
        let clock = SimClock::new();
        let mut r = Registrar::new();
        let mut short = contact("sip:1001@h");
        short.expires = Some(30);
        let c = Contacts::List(vec![contact("sip:1001@a"), short]);
        let out = r.handle_register(clock.now(), &req("1001", "a", 1, c), &policy());
        assert_eq!(out, RegisterOutcome::IntervalTooBrief(60));
        assert!(r.is_empty());
        assert_eq!(r.drain_store().count(), 0);
    }

    #[test]
    fn long_expiry_is_capped_and_zero_removes_one() {
        let clock = SimClock::new();
        let mut r = Registrar::new();
        let mut rq = req(
            "1001",
            "a",
            1,
            Contacts::List(vec![contact("sip:1001@a"), contact("sip:1001@b")]),
        );
        rq.expires = Some(90_000);
        let RegisterOutcome::Ok(v) = r.handle_register(clock.now(), &rq, &policy()) else {
            panic!()
        };
        assert!(v.iter().all(|c| c.ends_with("expires=3600")), "{v:?}");
        let mut gone = contact("sip:1001@A");
        gone.expires = Some(0);
        let out = r.handle_register(
            clock.now(),
            &req("1001", "a", 2, Contacts::List(vec![gone])),
            &policy(),
        );
        assert_eq!(
            out,
            RegisterOutcome::Ok(vec!["<sip:1001@b>;expires=3600".into()])
        );
    }

    #[test]
    fn star_needs_expires_zero_and_removes_all() {
        let clock = SimClock::new();
        let mut r = Registrar::new();
        let c = Contacts::List(vec![contact("sip:1001@a"), contact("sip:1001@b")]);
        r.handle_register(clock.now(), &req("1001", "a", 1, c), &policy());
        let out = r.handle_register(clock.now(), &req("1001", "b", 1, Contacts::Star), &policy());
        assert!(matches!(out, RegisterOutcome::BadRequest(_)));
        let mut rq = req("1001", "b", 1, Contacts::Star);
        rq.expires = Some(0);
        assert_eq!(
            r.handle_register(clock.now(), &rq, &policy()),
            RegisterOutcome::Ok(vec![])
        );
        assert!(r.is_empty());
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn out_of_order_cseq_is_rejected() {
        let clock = SimClock::new();
        let mut r = Registrar::new();
        let c = Contacts::List(vec![contact("sip:1001@a")]);
        r.handle_register(clock.now(), &req("1001", "a", 5, c.clone()), &policy());
        let out = r.handle_register(clock.now(), &req("1001", "a", 5, c.clone()), &policy());
        assert_eq!(out, RegisterOutcome::OutOfOrder);
        // A new Call-ID (rebooted phone) may start from any CSeq.
        let out = r.handle_register(clock.now(), &req("1001", "z", 1, c), &policy());
        assert!(matches!(out, RegisterOutcome::Ok(v) if v.len() == 1));
    }

    #[test]
    fn max_contacts_evicts_the_oldest() {
        let clock = SimClock::new();
        let mut r = Registrar::new();
        for (i, host) in ["a", "b", "c", "d"].iter().enumerate() {
            clock.advance(Duration::from_secs(1));
            let c = Contacts::List(vec![contact(&format!("sip:1001@{host}"))]);
            r.handle_register(clock.now(), &req("1001", host, i as u32, c), &policy());
        }
        let uris: Vec<_> = r.bindings("1001").iter().map(|b| b.uri.as_str()).collect();
        assert_eq!(uris, ["sip:1001@b", "sip:1001@c", "sip:1001@d"]);
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn same_instance_on_new_port_replaces_binding() {
        let clock = SimClock::new();
        let mut r = Registrar::new();
        let mk = |uri: &str| ContactReq {
            instance: Some("\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"".into()),
            reg_id: Some(1),
            ..contact(uri)
        };
        r.handle_register(
            clock.now(),
            &req(
                "1001",
                "a",
                1,
                Contacts::List(vec![mk("sip:1001@10.0.0.2:5060;ob")]),
            ),
            &policy(),
        );
        r.drain_store().count();
        r.handle_register(
            clock.now(),
            &req(
                "1001",
                "b",
                1,
                Contacts::List(vec![mk("sip:1001@10.0.0.2:5062;ob")]),
            ),
            &policy(),
        );
        assert_eq!(r.bindings("1001").len(), 1);
        assert_eq!(r.bindings("1001")[0].uri, "sip:1001@10.0.0.2:5062;ob");
        let cmds: Vec<_> = r.drain_store().collect();
        assert!(
            matches!(&cmds[0], StoreCommand::DeleteBinding { contact, .. } if contact.ends_with("5060;ob"))
        );
        assert!(matches!(&cmds[1], StoreCommand::PutBinding(_)));
    }

    #[test]
    fn restore_drops_expired_and_keeps_remaining_time() {
        let clock = SimClock::new();
        let mut r = Registrar::new();
        let c = Contacts::List(vec![contact("sip:1001@a"), contact("sip:1001@b")]);
        r.handle_register(clock.now(), &req("1001", "a", 1, c), &policy());
        let recs: Vec<_> = r
            .drain_store()
            .filter_map(|c| match c {
                StoreCommand::PutBinding(b) => Some(b),
                _ => None,
            })
            .collect();
        let mut recs2 = recs.clone();
        recs2[0].expires_at = clock.now().wall.secs() + 10;
        clock.advance(Duration::from_secs(100));
        let mut fresh = Registrar::new();
        assert_eq!(fresh.restore(clock.now(), recs2), 1);
        let b = &fresh.bindings("1001")[0];
        assert_eq!(
            b.contact_value(clock.now().mono),
            "<sip:1001@b>;expires=500"
        );
        assert_eq!(b.flow, flow(5060));
        assert_eq!(fresh.drain_store().count(), 1);
    }

    #[test]
    fn qualify_marks_unreachable_after_misses() {
        let clock = SimClock::new();
        let mut r = Registrar::new();
        r.handle_register(
            clock.now(),
            &req("1001", "a", 1, Contacts::List(vec![contact("sip:1001@a")])),
            &policy(),
        );
        let id = r.bindings("1001")[0].id;
        assert_eq!(r.handle_qualify("1001", id, false, 2), None);
        assert_eq!(r.handle_qualify("1001", id, false, 2), Some(false));
        assert_eq!(r.handle_qualify("1001", id, false, 2), None);
        assert_eq!(r.handle_qualify("1001", id, true, 2), Some(true));
    }

    #[test]
    fn uri_equality_ignores_case_of_host_and_param_order() {
        assert!(uri_eq(
            "sip:1001@Host.COM;transport=udp;ob",
            "sip:1001@host.com;ob;transport=UDP"
        ));
        assert!(!uri_eq("sip:1001@host", "sip:1002@host"));
    }
}
