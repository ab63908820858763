//! A dialog as one side of the B2BUA sees it (RFC 3261 §12), and the requests it sends.
//!
//! Requests inside a dialog go to the peer's flow (the address its messages came from), not to
//! a DNS lookup of its Contact: that is what keeps phones behind NAT reachable.

use bytes::Bytes;

use crate::sip::msg::{self, HeaderName, Message, Method, StartLine, Uri};
use crate::sip::registrar::Flow;

/// One dialog.
#[derive(Clone, Debug)]
pub struct Dialog {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag (empty until known).
    pub remote_tag: String,
    /// Our URI as name-addr, without tag (From of our requests).
    pub local_uri: String,
    /// The peer's URI as name-addr, without tag (To of our requests).
    pub remote_uri: String,
    /// Where requests go: the peer's Contact URI (RFC 3261 §12.1.1).
    pub remote_target: String,
    /// Route set (RFC 3261 §12.1): Record-Route values, in the order our requests use them.
    pub route_set: Vec<String>,
    /// Our last CSeq number.
    pub local_cseq: u32,
    /// The peer's last CSeq number.
    pub remote_cseq: u32,
    /// The peer's flow.
    pub flow: Flow,
    /// Our Contact URI in this dialog.
    pub contact: String,
}

impl Dialog {
    /// A new in-dialog request with the next CSeq (RFC 3261 §12.2.1.1).
    pub fn request(&mut self, method: Method, branch: &str, user_agent: &str) -> Message {
        self.local_cseq += 1;
        let cseq = self.local_cseq;
        self.request_with_cseq(method, cseq, branch, user_agent)
    }

    /// An in-dialog request with a given CSeq number (ACK reuses the INVITE's).
    pub fn request_with_cseq(
        &self,
        method: Method,
        cseq: u32,
        branch: &str,
        user_agent: &str,
    ) -> Message {
        let uri = Uri::parse(&self.remote_target)
            .or_else(|_| Uri::parse("sip:invalid"))
            .unwrap_or_else(|_| unreachable_uri());
        let name = method.as_str().to_owned();
        let mut m = Message {
            start: StartLine::Request {
                method,
                uri,
                raw_uri: self.remote_target.clone(),
            },
            headers: msg::Headers(Vec::new()),
            body: Bytes::new(),
        };
        m.headers.push(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {};branch={branch};rport",
                self.flow.transport.via_token(),
                self.flow.local
            ),
        );
        m.headers.push(HeaderName::MaxForwards, "70");
        for r in &self.route_set {
            m.headers.push(HeaderName::Route, r.clone());
        }
        m.headers.push(
            HeaderName::From,
            format!("{};tag={}", self.local_uri, self.local_tag),
        );
        if self.remote_tag.is_empty() {
            m.headers.push(HeaderName::To, self.remote_uri.clone());
        } else {
            m.headers.push(
                HeaderName::To,
                format!("{};tag={}", self.remote_uri, self.remote_tag),
            );
        }
        m.headers.push(HeaderName::CallId, self.call_id.clone());
        m.headers.push(HeaderName::CSeq, format!("{cseq} {name}"));
        m.headers.push(HeaderName::UserAgent, user_agent.to_owned());
        m
    }

    /// Learns the peer's target and route set from a message that establishes or refreshes
    /// the dialog (RFC 3261 §12.1.2: a UAC reverses Record-Route).
    pub fn learn(&mut self, m: &Message, we_are_uac: bool) {
        if let Some(c) = m
            .headers
            .get(&HeaderName::Contact)
            .and_then(|v| msg::parse_contact(v).ok())
            .and_then(|c| match c {
                msg::Contact::Addrs(a) => a.into_iter().next(),
                msg::Contact::Star => None,
            })
        {
            self.remote_target = c.addr.uri.to_string();
        }
        let mut rr: Vec<String> = m
            .headers
            .get_all(&HeaderName::RecordRoute)
            .flat_map(|v| msg::parse_name_addr_list(v).unwrap_or_default())
            .map(|n| n.to_string())
            .collect();
        if !rr.is_empty() {
            if we_are_uac {
                rr.reverse();
            }
            self.route_set = rr;
        }
    }
}

fn unreachable_uri() -> Uri {
    Uri {
        scheme: "sip".into(),
        user: None,
        password: None,
        host: "invalid".into(),
        port: None,
        params: Vec::new(),
        headers: None,
    }
}

impl Dialog {
    /// The dialog a UAS creates from a dialog-creating request (RFC 3261 §12.1.1): Call-ID,
    /// the peer's From tag, our new `tag`, the peer's Contact as remote target (falling back to
    /// `user@source`), its Record-Route as route set, and the flow the request came on.
    pub fn uas(req: &Message, flow: Flow, tag: &str, contact: String, fallback_user: &str) -> Self {
        let from = req.from().ok();
        let mut d = Dialog {
            call_id: req.call_id().unwrap_or("").to_owned(),
            local_tag: tag.to_owned(),
            remote_tag: from
                .as_ref()
                .and_then(|f| f.tag().map(str::to_owned))
                .unwrap_or_default(),
            local_uri: req.to().map(|t| format!("<{}>", t.uri)).unwrap_or_default(),
            remote_uri: from
                .as_ref()
                .map(|f| format!("<{}>", f.uri))
                .unwrap_or_default(),
            remote_target: format!("sip:{fallback_user}@{}", flow.remote),
            route_set: Vec::new(),
            local_cseq: 0,
            remote_cseq: req.cseq().map(|c| c.seq).unwrap_or(1),
            flow,
            contact,
        };
        d.learn(req, false);
        d
    }
}
