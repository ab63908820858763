//! SIP: messages, framing, transactions (RFC 3261 §17), registrar and digest auth.
//! No IO, no clock: everything here takes `now` as a parameter.

pub mod auth;
pub mod guard;
pub mod msg;
pub mod registrar;
pub mod txn;

/// A SIP transport (RFC 3261 §18).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// UDP: unreliable, datagram.
    Udp,
    /// TCP: reliable, stream.
    Tcp,
    /// TLS over TCP.
    Tls,
}

impl Transport {
    /// Lower-case name as stored and logged.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
        }
    }

    /// Upper-case token as in a Via header.
    pub fn via_token(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
        }
    }

    /// Parses `udp`/`tcp`/`tls`, case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "udp" => Some(Self::Udp),
            "tcp" => Some(Self::Tcp),
            "tls" => Some(Self::Tls),
            _ => None,
        }
    }

    /// Reliable transports turn off retransmission timers (RFC 3261 §17).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Self::Udp)
    }
}
