//! Header names and the ordered header list.
//!
//! Names are case-insensitive (RFC 3261 §7.3.1) and compact forms map to the full name
//! (§7.3.3, §20 table; RFC 3265 `o`/`u`, RFC 3515 `r`, RFC 3892 `b`, RFC 4028 `x`, RFC 3841
//! `a`/`j`/`d`). Unknown names are kept as sent in [`HeaderName::Other`] and compare
//! case-insensitively. Values are stored as text: trimmed, line folding replaced by one SP.

use std::hash::{Hash, Hasher};

/// A header field name.
#[derive(Clone, Debug)]
pub enum HeaderName {
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    MaxForwards,
    ContentLength,
    ContentType,
    Expires,
    MinExpires,
    Authorization,
    ProxyAuthorization,
    WwwAuthenticate,
    ProxyAuthenticate,
    Route,
    RecordRoute,
    Supported,
    Require,
    ProxyRequire,
    Unsupported,
    Allow,
    Accept,
    UserAgent,
    Server,
    Event,
    SubscriptionState,
    ReferTo,
    ReferredBy,
    Replaces,
    SessionExpires,
    MinSE,
    Path,
    Date,
    /// Any other name, spelled as received (or, for compact forms without a variant, the full
    /// name: `s` → `Subject`).
    Other(String),
}

impl HeaderName {
    /// Maps a name (full or compact, any case).
    pub fn parse(s: &str) -> HeaderName {
        let mut buf = [0u8; 24];
        let b = s.as_bytes();
        if b.len() > buf.len() {
            return HeaderName::Other(s.to_owned());
        }
        let lower = &mut buf[..b.len()];
        lower.copy_from_slice(b);
        lower.make_ascii_lowercase();
        use HeaderName::*;
        match &*lower {
            b"via" | b"v" => Via,
            b"from" | b"f" => From,
            b"to" | b"t" => To,
            b"call-id" | b"i" => CallId,
            b"cseq" => CSeq,
            b"contact" | b"m" => Contact,
            b"max-forwards" => MaxForwards,
            b"content-length" | b"l" => ContentLength,
            b"content-type" | b"c" => ContentType,
            b"expires" => Expires,
            b"min-expires" => MinExpires,
            b"authorization" => Authorization,
            b"proxy-authorization" => ProxyAuthorization,
            b"www-authenticate" => WwwAuthenticate,
            b"proxy-authenticate" => ProxyAuthenticate,
            b"route" => Route,
            b"record-route" => RecordRoute,
            b"supported" | b"k" => Supported,
            b"require" => Require,
            b"proxy-require" => ProxyRequire,
            b"unsupported" => Unsupported,
            b"allow" => Allow,
            b"accept" => Accept,
            b"user-agent" => UserAgent,
            b"server" => Server,
            b"event" | b"o" => Event,
            b"subscription-state" => SubscriptionState,
            b"refer-to" | b"r" => ReferTo,
            b"referred-by" | b"b" => ReferredBy,
            b"replaces" => Replaces,
            b"session-expires" | b"x" => SessionExpires,
            b"min-se" => MinSE,
            b"path" => Path,
            b"date" => Date,
            b"e" => Other("Content-Encoding".into()),
            b"s" => Other("Subject".into()),
            b"u" => Other("Allow-Events".into()),
            b"a" => Other("Accept-Contact".into()),
            b"j" => Other("Reject-Contact".into()),
            b"d" => Other("Request-Disposition".into()),
            _ => Other(s.to_owned()),
        }
    }

    /// The canonical full name (`Call-ID`, `CSeq`, `WWW-Authenticate`), or an `Other` as stored.
    pub fn as_str(&self) -> &str {
        use HeaderName::*;
        match self {
            Via => "Via",
            From => "From",
            To => "To",
            CallId => "Call-ID",
            CSeq => "CSeq",
            Contact => "Contact",
            MaxForwards => "Max-Forwards",
            ContentLength => "Content-Length",
            ContentType => "Content-Type",
            Expires => "Expires",
            MinExpires => "Min-Expires",
            Authorization => "Authorization",
            ProxyAuthorization => "Proxy-Authorization",
            WwwAuthenticate => "WWW-Authenticate",
            ProxyAuthenticate => "Proxy-Authenticate",
            Route => "Route",
            RecordRoute => "Record-Route",
            Supported => "Supported",
            Require => "Require",
            ProxyRequire => "Proxy-Require",
            Unsupported => "Unsupported",
            Allow => "Allow",
            Accept => "Accept",
            UserAgent => "User-Agent",
            Server => "Server",
            Event => "Event",
            SubscriptionState => "Subscription-State",
            ReferTo => "Refer-To",
            ReferredBy => "Referred-By",
            Replaces => "Replaces",
            SessionExpires => "Session-Expires",
            MinSE => "Min-SE",
            Path => "Path",
            Date => "Date",
            Other(s) => s,
        }
    }
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (HeaderName::Other(a), HeaderName::Other(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}

impl Eq for HeaderName {}

impl Hash for HeaderName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        if let HeaderName::Other(s) = self {
            for b in s.bytes() {
                state.write_u8(b.to_ascii_lowercase());
            }
        }
    }
}

impl std::fmt::Display for HeaderName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: HeaderName,
    /// Trimmed; line folding replaced by one SP.
    pub value: String,
}

/// The header fields of a message, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    /// The value of the first header with this name.
    pub fn get(&self, n: &HeaderName) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.name == *n)
            .map(|h| h.value.as_str())
    }

    /// The values of all headers with this name, in order.
    pub fn get_all<'a>(&'a self, n: &'a HeaderName) -> impl Iterator<Item = &'a str> {
        self.0
            .iter()
            .filter(move |h| h.name == *n)
            .map(|h| h.value.as_str())
    }

    /// How many headers have this name.
    pub fn count(&self, n: &HeaderName) -> usize {
        self.0.iter().filter(|h| h.name == *n).count()
    }

    /// Appends a header.
    pub fn push(&mut self, n: HeaderName, v: impl Into<String>) {
        self.0.push(Header {
            name: n,
            value: v.into(),
        });
    }

    /// Removes every header with this name.
    pub fn remove(&mut self, n: &HeaderName) {
        self.0.retain(|h| h.name != *n);
    }

    /// Replaces all headers with this name by one (at the position of the first, else appended).
    pub fn set(&mut self, n: HeaderName, v: impl Into<String>) {
        let v = v.into();
        match self.0.iter().position(|h| h.name == n) {
            Some(i) => {
                self.0[i].value = v;
                let mut idx = 0;
                self.0.retain(|h| {
                    let keep = idx <= i || h.name != n;
                    idx += 1;
                    keep
                });
            }
            None => self.push(n, v),
        }
    }

    /// Inserts a header at the front (e.g. a proxy's own Via, RFC 3261 §16.6 step 8).
    pub fn push_front(&mut self, n: HeaderName, v: impl Into<String>) {
        self.0.insert(
            0,
            Header {
                name: n,
                value: v.into(),
            },
        );
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_any_case_names_map_to_full_names() {
        for (raw, full) in [
            ("i", "Call-ID"),
            ("m", "Contact"),
            ("e", "Content-Encoding"),
            ("L", "Content-Length"),
            ("c", "Content-Type"),
            ("f", "From"),
            ("s", "Subject"),
            ("k", "Supported"),
            ("T", "To"),
            ("v", "Via"),
            ("o", "Event"),
            ("r", "Refer-To"),
            ("b", "Referred-By"),
            ("x", "Session-Expires"),
            ("u", "Allow-Events"),
            ("cAlL-iD", "Call-ID"),
            ("www-AUTHENTICATE", "WWW-Authenticate"),
            ("cseq", "CSeq"),
            ("min-se", "Min-SE"),
            ("X-Custom", "X-Custom"),
        ] {
            assert_eq!(HeaderName::parse(raw).as_str(), full, "{raw}");
        }
        assert_eq!(HeaderName::parse("s"), HeaderName::Other("SUBJECT".into()));
        assert_ne!(HeaderName::parse("Subject"), HeaderName::parse("Sub"));
        assert_eq!(
            HeaderName::parse("a-very-long-extension-header-name-x").as_str(),
            "a-very-long-extension-header-name-x"
        );
    }

    #[test]
    fn headers_get_set_remove() {
        let mut h = Headers::default();
        h.push(HeaderName::Via, "a");
        h.push(HeaderName::Other("X-A".into()), "1");
        h.push(HeaderName::Via, "b");
        assert_eq!(h.get(&HeaderName::Via), Some("a"));
        assert_eq!(h.get_all(&HeaderName::Via).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(h.get(&HeaderName::Other("x-a".into())), Some("1"));
        h.set(HeaderName::Via, "c");
        assert_eq!(h.get_all(&HeaderName::Via).collect::<Vec<_>>(), ["c"]);
        assert_eq!(h.0[0].value, "c");
        h.set(HeaderName::Expires, "60");
        assert_eq!(h.0.last().unwrap().value, "60");
        h.remove(&HeaderName::Via);
        assert_eq!(h.count(&HeaderName::Via), 0);
        assert_eq!(h.len(), 2);
    }
}
