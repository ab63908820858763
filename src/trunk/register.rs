//! Outbound registration to a provider (RFC 3261 §10 as a client), sans-IO.
//!
//! One [`Registration`] per trunk with `register = true`. The engine asks it for a REGISTER
//! when [`Registration::poll_timeout`] comes due, sends it in a client transaction and hands
//! back the final response (or the transaction's timeout). The machine:
//!
//! - answers 401/407 with the trunk's credentials (once per challenge; again only when the
//!   provider says `stale=true`); a second challenge for the same credentials is a failure
//!   ("wrong password");
//! - on 200 reads the expiry the provider granted (our Contact's `expires`, else `Expires`)
//!   and refreshes at 4/5 of it, so a lost refresh still has time for retransmissions;
//! - on 423 takes `Min-Expires` and asks again at once;
//! - on any other failure or no answer, retries after `retry`, doubling up to `retry_max`
//!   (a 503's `Retry-After` is honoured when longer). Inbound calls keep working meanwhile:
//!   they are accepted by source address.
//!
//! Call-ID and From tag stay the same for the life of the registration (RFC 3261 §10.2.4);
//! CSeq increases with every request.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Trunk;
use crate::sip::Transport;
use crate::sip::auth;
use crate::sip::msg::{self, Challenge, HeaderName, Message, Method, StartLine, Uri};

/// Where a registration stands, for `zvon status trunks` and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegState {
    /// Not tried yet (waiting for the provider's address).
    Idle,
    /// A REGISTER is out.
    Registering,
    /// Registered until this instant.
    Registered { until: Instant },
    /// The last attempt failed; the next is at `retry_at`.
    Failed {
        /// Final status, `None` when the provider did not answer.
        code: Option<u16>,
        reason: String,
        retry_at: Instant,
    },
}

/// What the engine must put in a REGISTER besides what the machine knows.
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    /// Our address towards the provider (Via, Contact).
    pub local: SocketAddr,
    pub transport: Transport,
    /// A fresh Via branch.
    pub branch: &'a str,
    /// A fresh client nonce (for digest).
    pub cnonce: &'a str,
    pub user_agent: &'a str,
}

/// The result of a response.
#[derive(Debug)]
pub enum Step {
    /// Send this REGISTER now (with credentials, or a new expiry).
    Send(Box<Message>),
    /// Nothing to send; the state changed (registered or failed) or the response was
    /// provisional.
    Wait,
}

#[derive(Debug, Clone)]
pub struct Registration {
    pub state: RegState,
    call_id: String,
    from_tag: String,
    cseq: u32,
    /// The expiry we ask for.
    expires: Duration,
    /// The next REGISTER (refresh or retry); `None` while one is out.
    next: Option<Instant>,
    backoff: Duration,
    /// The nonce we already answered (a second challenge with it means wrong credentials).
    answered_nonce: Option<String>,
    /// The last challenge answered, with the header our answer went in (to authenticate the
    /// unregistration at shutdown without waiting for a new challenge).
    last_challenge: Option<(HeaderName, Challenge)>,
    /// Unregistering (shutdown): responses change nothing.
    leaving: bool,
    nc: u32,
    /// When the last registration succeeded (wall-clock unix seconds are the engine's; this
    /// is monotonic).
    pub registered_since: Option<Instant>,
    /// The expiry the provider granted last.
    pub granted: Option<Duration>,
    /// Consecutive failures.
    pub failures: u32,
}

impl Registration {
    /// A registration that sends its first REGISTER at `now`.
    pub fn new(t: &Trunk, call_id: String, from_tag: String, now: Instant) -> Registration {
        Registration {
            state: RegState::Idle,
            call_id,
            from_tag,
            cseq: 0,
            expires: t.expires,
            next: Some(now),
            backoff: t.retry,
            answered_nonce: None,
            last_challenge: None,
            leaving: false,
            nc: 0,
            registered_since: None,
            granted: None,
            failures: 0,
        }
    }

    /// When the next REGISTER is due (`None` while one is out).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }

    /// Whether the provider currently has us registered.
    pub fn is_registered(&self, now: Instant) -> bool {
        matches!(self.state, RegState::Registered { until } if until > now)
    }

    /// The REGISTER to send when it is due.
    pub fn on_timeout(&mut self, now: Instant, t: &Trunk, env: Env<'_>) -> Option<Message> {
        if self.next.is_none_or(|at| at > now) {
            return None;
        }
        self.next = None;
        self.answered_nonce = None;
        if !matches!(self.state, RegState::Registered { .. }) {
            self.state = RegState::Registering;
        }
        Some(self.request(t, env, None))
    }

    /// The transaction ended without a final response (timeout or transport error).
    pub fn on_no_response(&mut self, now: Instant, t: &Trunk) {
        self.fail(now, t, None, "no answer from the provider".into(), None);
    }

    /// A final response to our REGISTER.
    pub fn on_response(&mut self, now: Instant, rsp: &Message, t: &Trunk, env: Env<'_>) -> Step {
        let Some(code) = rsp.status() else {
            return Step::Wait;
        };
        if code < 200 || self.leaving {
            return Step::Wait;
        }
        match code {
            200..=299 => {
                let granted = granted_expiry(rsp, env.local).unwrap_or(self.expires);
                if granted.is_zero() {
                    self.fail(
                        now,
                        t,
                        Some(code),
                        "provider granted expires=0".into(),
                        None,
                    );
                    return Step::Wait;
                }
                let refresh = (granted * 4 / 5).max(Duration::from_secs(1));
                self.state = RegState::Registered {
                    until: now + granted,
                };
                self.registered_since.get_or_insert(now);
                self.granted = Some(granted);
                self.next = Some(now + refresh);
                self.backoff = t.retry;
                self.failures = 0;
                Step::Wait
            }
            401 | 407 => {
                let header = if code == 401 {
                    HeaderName::WwwAuthenticate
                } else {
                    HeaderName::ProxyAuthenticate
                };
                let (Some(user), Some(pw)) = (t.auth_user(), t.password.as_ref()) else {
                    self.fail(
                        now,
                        t,
                        Some(code),
                        "challenged, but no credentials".into(),
                        None,
                    );
                    return Step::Wait;
                };
                let challenge = rsp
                    .headers
                    .get_all(&header)
                    .filter_map(|v| Challenge::parse(v).ok())
                    .find(|c| {
                        c.is_digest()
                            && c.get("algorithm")
                                .is_none_or(|a| auth::Algorithm::parse(a).is_some())
                    });
                let Some(ch) = challenge else {
                    self.fail(
                        now,
                        t,
                        Some(code),
                        "no digest challenge we can answer".into(),
                        None,
                    );
                    return Step::Wait;
                };
                let nonce = ch.get("nonce").unwrap_or("").to_owned();
                let stale = ch
                    .get("stale")
                    .is_some_and(|s| s.eq_ignore_ascii_case("true"));
                if self.answered_nonce.as_deref() == Some(nonce.as_str())
                    || (self.answered_nonce.is_some() && !stale)
                {
                    self.fail(
                        now,
                        t,
                        Some(code),
                        "credentials rejected (wrong user name or password?)".into(),
                        None,
                    );
                    return Step::Wait;
                }
                self.nc = 1;
                let uri = request_uri(t);
                let Some(value) = auth::answer_challenge(
                    &ch,
                    "REGISTER",
                    &uri,
                    user,
                    pw.expose(),
                    env.cnonce,
                    self.nc,
                ) else {
                    self.fail(
                        now,
                        t,
                        Some(code),
                        "no digest challenge we can answer".into(),
                        None,
                    );
                    return Step::Wait;
                };
                self.answered_nonce = Some(nonce);
                let name = if code == 401 {
                    HeaderName::Authorization
                } else {
                    HeaderName::ProxyAuthorization
                };
                self.last_challenge = Some((name.clone(), ch.clone()));
                Step::Send(Box::new(self.request(t, env, Some((name, value)))))
            }
            423 => {
                let min = rsp
                    .headers
                    .get(&HeaderName::MinExpires)
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                match min {
                    Some(m) if m > self.expires => {
                        self.expires = m;
                        self.answered_nonce = None;
                        Step::Send(Box::new(self.request(t, env, None)))
                    }
                    _ => {
                        self.fail(
                            now,
                            t,
                            Some(code),
                            "423 without a usable Min-Expires".into(),
                            None,
                        );
                        Step::Wait
                    }
                }
            }
            _ => {
                let retry_after = rsp
                    .headers
                    .get(&HeaderName::Other("Retry-After".into()))
                    .and_then(|v| v.split(';').next()?.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let reason = match &rsp.start {
                    StartLine::Response { reason, .. } => reason.clone(),
                    _ => String::new(),
                };
                self.fail(now, t, Some(code), reason, retry_after);
                Step::Wait
            }
        }
    }

    fn fail(
        &mut self,
        now: Instant,
        t: &Trunk,
        code: Option<u16>,
        reason: String,
        after: Option<Duration>,
    ) {
        let wait = after.map_or(self.backoff, |a| {
            a.max(self.backoff).min(t.retry_max.max(a))
        });
        self.failures += 1;
        self.registered_since = None;
        self.state = RegState::Failed {
            code,
            reason,
            retry_at: now + wait,
        };
        self.next = Some(now + wait);
        self.backoff = (self.backoff * 2).min(t.retry_max);
    }

    /// The provider's address came back (its health check answers again): register at once
    /// rather than at the next refresh, in case it restarted and forgot us.
    pub fn refresh_now(&mut self, now: Instant) {
        if self.next.is_some() {
            self.next = Some(now);
        }
    }

    /// At shutdown: a REGISTER with `Expires: 0`, authenticated with the last challenge (the
    /// next nonce count), so the provider stops sending calls here. `None` when Zvon is not
    /// registered.
    pub fn unregister(&mut self, now: Instant, t: &Trunk, env: Env<'_>) -> Option<Message> {
        if !self.is_registered(now) {
            return None;
        }
        self.leaving = true;
        self.next = None;
        self.state = RegState::Idle;
        let auth = match (&self.last_challenge, t.auth_user(), &t.password) {
            (Some((name, ch)), Some(user), Some(pw)) => {
                self.nc += 1;
                auth::answer_challenge(
                    ch,
                    "REGISTER",
                    &request_uri(t),
                    user,
                    pw.expose(),
                    env.cnonce,
                    self.nc,
                )
                .map(|v| (name.clone(), v))
            }
            _ => None,
        };
        self.expires = Duration::ZERO;
        Some(self.request(t, env, auth))
    }

    fn request(&mut self, t: &Trunk, env: Env<'_>, auth: Option<(HeaderName, String)>) -> Message {
        self.cseq += 1;
        let user = t.username.as_deref().unwrap_or("zvon");
        let uri = request_uri(t);
        let mut m = Message {
            start: StartLine::Request {
                method: Method::Register,
                uri: Uri::parse(&uri)
                    .unwrap_or_else(|_| Uri::parse("sip:invalid").expect("literal")),
                raw_uri: uri.clone(),
            },
            headers: msg::Headers(Vec::new()),
            body: Bytes::new(),
        };
        let h = &mut m.headers;
        h.push(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {};branch={};rport",
                env.transport.via_token(),
                env.local,
                env.branch
            ),
        );
        h.push(HeaderName::MaxForwards, "70");
        h.push(
            HeaderName::From,
            format!("<sip:{user}@{}>;tag={}", t.domain, self.from_tag),
        );
        h.push(HeaderName::To, format!("<sip:{user}@{}>", t.domain));
        h.push(HeaderName::CallId, self.call_id.clone());
        h.push(HeaderName::CSeq, format!("{} REGISTER", self.cseq));
        h.push(HeaderName::Contact, format!("<{}>", contact(user, env)));
        h.push(HeaderName::Expires, self.expires.as_secs().to_string());
        h.push(HeaderName::Allow, crate::core::ALLOW);
        h.push(HeaderName::UserAgent, env.user_agent.to_owned());
        if let Some((name, value)) = auth {
            h.push(name, value);
        }
        m
    }
}

/// `sip:domain` (with the port when the provider is not on 5060 and the domain is its host).
pub fn request_uri(t: &Trunk) -> String {
    if t.domain == t.host && t.port != 5060 {
        format!("sip:{}:{}", t.domain, t.port)
    } else {
        format!("sip:{}", t.domain)
    }
}

/// Our Contact towards the provider: inbound calls come to it.
pub fn contact(user: &str, env: Env<'_>) -> String {
    match env.transport {
        Transport::Udp => format!("sip:{user}@{}", env.local),
        t => format!("sip:{user}@{};transport={}", env.local, t.as_str()),
    }
}

/// The expiry the provider granted: our Contact's `expires` parameter, else `Expires`.
fn granted_expiry(rsp: &Message, local: SocketAddr) -> Option<Duration> {
    let ours = rsp
        .headers
        .get_all(&HeaderName::Contact)
        .filter_map(|v| match msg::parse_contact(v) {
            Ok(msg::Contact::Addrs(a)) => Some(a),
            _ => None,
        })
        .flatten()
        .find(|c| c.addr.uri.host_port() == local.to_string())
        .and_then(|c| c.expires());
    ours.map(|s| Duration::from_secs(u64::from(s))).or_else(|| {
        rsp.headers
            .get(&HeaderName::Expires)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::msg::Limits;

    fn trunk() -> Trunk {
        let mut t = crate::trunk::route::tests::trunk("prov");
        t.register = true;
        t.expires = Duration::from_secs(300);
        t.retry = Duration::from_secs(30);
        t.retry_max = Duration::from_secs(100);
        t
    }

    fn env(branch: &str) -> Env<'_> {
        Env {
            local: "127.0.0.1:5060".parse().unwrap(),
            transport: Transport::Udp,
            branch,
            cnonce: "cn1",
            user_agent: "Zvon test",
        }
    }

    /// The provider's answer to `req`, as text: status line, our headers back, and extras.
    fn answer(req: &Message, status: &str, extra: &[&str]) -> Message {
        let mut s = format!("SIP/2.0 {status}\r\n");
        for n in [
            HeaderName::Via,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
            HeaderName::CSeq,
        ] {
            s.push_str(&format!(
                "{}: {}\r\n",
                n.as_str(),
                req.headers.get(&n).unwrap()
            ));
        }
        for e in extra {
            s.push_str(e);
            s.push_str("\r\n");
        }
        s.push_str("Content-Length: 0\r\n\r\n");
        msg::parse(s.as_bytes(), &Limits::default()).unwrap()
    }

    fn auth_of(m: &Message) -> Option<crate::sip::msg::Credentials> {
        m.headers
            .get(&HeaderName::Authorization)
            .map(|v| crate::sip::msg::Credentials::parse(v).unwrap())
    }

    #[test]
    fn registers_with_digest_and_refreshes_before_expiry() {
        let t = trunk();
        let t0 = crate::testkit::origin();
        let s = Duration::from_secs;
        let mut r = Registration::new(&t, "cid@zvon".into(), "ftag".into(), t0);
        assert_eq!(r.poll_timeout(), Some(t0));
        let req = r.on_timeout(t0, &t, env("z9hG4bK1")).unwrap();
        assert_eq!(
            r.poll_timeout(),
            None,
            "nothing due while a REGISTER is out"
        );
        assert_eq!(req.request_uri().unwrap().to_string(), "sip:prov.example");
        assert_eq!(
            req.headers.get(&HeaderName::To),
            Some("<sip:acc@prov.example>")
        );
        assert_eq!(
            req.headers.get(&HeaderName::Contact),
            Some("<sip:acc@127.0.0.1:5060>")
        );
        assert_eq!(req.headers.get(&HeaderName::Expires), Some("300"));
        assert_eq!(req.headers.get(&HeaderName::CSeq), Some("1 REGISTER"));
        assert!(auth_of(&req).is_none());
        let ch = "WWW-Authenticate: Digest realm=\"prov\", nonce=\"abc\", qop=\"auth\"";
        let Step::Send(req2) = r.on_response(
            t0,
            &answer(&req, "401 Unauthorized", &[ch]),
            &t,
            env("z9hG4bK2"),
        ) else {
            panic!("expected an authenticated REGISTER");
        };
        assert_eq!(req2.headers.get(&HeaderName::CSeq), Some("2 REGISTER"));
        assert_eq!(req2.call_id().unwrap(), "cid@zvon");
        let c = auth_of(&req2).unwrap();
        let p = auth::DigestParams::from_credentials(&c);
        assert_eq!(p.uri, "sip:prov.example");
        assert_eq!(auth::verify(&p, "REGISTER", b"", "pw"), auth::Verdict::Ok);
        // The provider grants 120 s on our Contact: refresh at 96 s.
        let ok = answer(
            &req2,
            "200 OK",
            &["Contact: <sip:acc@127.0.0.1:5060>;expires=120"],
        );
        assert!(matches!(
            r.on_response(t0 + s(1), &ok, &t, env("x")),
            Step::Wait
        ));
        assert!(r.is_registered(t0 + s(100)));
        assert!(!r.is_registered(t0 + s(121)));
        assert_eq!(r.granted, Some(s(120)));
        assert_eq!(r.poll_timeout(), Some(t0 + s(1) + s(96)));
        assert!(
            r.on_timeout(t0 + s(96), &t, env("x")).is_none(),
            "not due yet"
        );
        let req3 = r.on_timeout(t0 + s(97), &t, env("z9hG4bK3")).unwrap();
        assert_eq!(req3.headers.get(&HeaderName::CSeq), Some("3 REGISTER"));
        assert!(
            matches!(r.state, RegState::Registered { .. }),
            "still registered while refreshing"
        );
        // Expires header when the Contact has no parameter.
        let ok = answer(&req3, "200 OK", &["Expires: 60"]);
        r.on_response(t0 + s(98), &ok, &t, env("x"));
        assert_eq!(r.poll_timeout(), Some(t0 + s(98) + s(48)));
    }

    #[test]
    fn wrong_password_backoff_and_recovery() {
        let t = trunk();
        let t0 = crate::testkit::origin();
        let s = Duration::from_secs;
        let mut r = Registration::new(&t, "c".into(), "f".into(), t0);
        let req = r.on_timeout(t0, &t, env("b1")).unwrap();
        let ch = "WWW-Authenticate: Digest realm=\"prov\", nonce=\"n1\"";
        let Step::Send(req) =
            r.on_response(t0, &answer(&req, "401 Unauthorized", &[ch]), &t, env("b2"))
        else {
            panic!()
        };
        // Challenged again with the same nonce: our credentials are wrong.
        let step = r.on_response(t0, &answer(&req, "401 Unauthorized", &[ch]), &t, env("b3"));
        assert!(matches!(step, Step::Wait));
        let RegState::Failed {
            code,
            reason,
            retry_at,
        } = r.state.clone()
        else {
            panic!()
        };
        assert_eq!(code, Some(401));
        assert!(reason.contains("credentials rejected"), "{reason}");
        assert_eq!(retry_at, t0 + s(30));
        // Timeouts double the wait: 60, then 100 (retry_max), then 100.
        let mut at = retry_at;
        for wait in [60, 100, 100] {
            assert!(r.on_timeout(at, &t, env("b")).is_some());
            r.on_no_response(at + s(32), &t);
            let RegState::Failed {
                code: None,
                retry_at,
                ..
            } = r.state.clone()
            else {
                panic!()
            };
            assert_eq!(retry_at, at + s(32) + s(wait));
            at = retry_at;
        }
        assert_eq!(r.failures, 4);
        // A stale nonce is answered again, then 200: the backoff resets.
        let req = r.on_timeout(at, &t, env("c1")).unwrap();
        let Step::Send(req) =
            r.on_response(at, &answer(&req, "401 Unauthorized", &[ch]), &t, env("c2"))
        else {
            panic!()
        };
        let stale = "WWW-Authenticate: Digest realm=\"prov\", nonce=\"n2\", stale=true";
        let Step::Send(req) = r.on_response(
            at,
            &answer(&req, "401 Unauthorized", &[stale]),
            &t,
            env("c3"),
        ) else {
            panic!("a stale nonce is answered again")
        };
        assert_eq!(auth_of(&req).unwrap().get("nonce"), Some("n2"));
        r.on_response(at, &answer(&req, "200 OK", &[]), &t, env("c4"));
        assert!(r.is_registered(at));
        assert_eq!(r.failures, 0);
        assert_eq!(
            r.granted,
            Some(s(300)),
            "the requested expiry when none is granted"
        );
        // 503 with Retry-After 50 s; then 423 with Min-Expires asks again at once.
        let req = r.on_timeout(at + s(240), &t, env("d1")).unwrap();
        r.on_response(
            at + s(240),
            &answer(&req, "503 Service Unavailable", &["Retry-After: 50"]),
            &t,
            env("d2"),
        );
        assert_eq!(r.poll_timeout(), Some(at + s(290)));
        let req = r.on_timeout(at + s(290), &t, env("e1")).unwrap();
        let Step::Send(req) = r.on_response(
            at + s(290),
            &answer(&req, "423 Interval Too Brief", &["Min-Expires: 900"]),
            &t,
            env("e2"),
        ) else {
            panic!()
        };
        assert_eq!(req.headers.get(&HeaderName::Expires), Some("900"));
    }

    #[test]
    fn unregisters_at_shutdown_with_the_last_challenge() {
        let t = trunk();
        let t0 = crate::testkit::origin();
        let mut r = Registration::new(&t, "c".into(), "f".into(), t0);
        assert!(
            r.unregister(t0, &t, env("u0")).is_none(),
            "not registered: nothing to undo"
        );
        let mut r = Registration::new(&t, "c".into(), "f".into(), t0);
        let req = r.on_timeout(t0, &t, env("b1")).unwrap();
        let ch = "WWW-Authenticate: Digest realm=\"prov\", nonce=\"n1\", qop=\"auth\"";
        let Step::Send(req) =
            r.on_response(t0, &answer(&req, "401 Unauthorized", &[ch]), &t, env("b2"))
        else {
            panic!()
        };
        r.on_response(t0, &answer(&req, "200 OK", &[]), &t, env("b3"));
        let bye = r
            .unregister(t0 + Duration::from_secs(5), &t, env("b4"))
            .unwrap();
        assert_eq!(bye.headers.get(&HeaderName::Expires), Some("0"));
        let c = auth_of(&bye).expect("authenticated with the last challenge");
        assert_eq!(
            (c.get("nonce"), c.get("nc")),
            (Some("n1"), Some("00000002"))
        );
        let p = auth::DigestParams::from_credentials(&c);
        assert_eq!(auth::verify(&p, "REGISTER", b"", "pw"), auth::Verdict::Ok);
        assert_eq!(r.poll_timeout(), None, "no refresh after leaving");
        assert!(matches!(
            r.on_response(t0, &answer(&bye, "200 OK", &[]), &t, env("b5")),
            Step::Wait
        ));
        assert_eq!(r.poll_timeout(), None);
    }
}
