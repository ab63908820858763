//! Small value types of the configuration: networks ([`IpNet`]), secrets ([`Secret`]),
//! log levels ([`LogLevel`]) and the duration syntax (`"500ms"`, `"30s"`, `"10m"`, `"1h"`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::Duration;

/// An IP network in CIDR form (`192.168.1.0/24`, `fd00::/8`); a bare address is a one-host
/// network (`/32` or `/128`). Host bits must be zero: `10.0.0.1/8` is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

/// Why a network did not parse, with a hint for the admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetError {
    pub message: String,
    pub hint: Option<String>,
}

impl IpNet {
    /// Parses `addr/prefix` or a bare address. The error text includes the hint.
    pub fn parse(s: &str) -> Result<IpNet, String> {
        Self::parse_detailed(s).map_err(|e| match e.hint {
            Some(h) => format!("{} ({h})", e.message),
            None => e.message,
        })
    }

    pub(crate) fn parse_detailed(s: &str) -> Result<IpNet, NetError> {
        let err = |message: String, hint: Option<String>| NetError { message, hint };
        let (addr_s, prefix_s) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr_s.parse().map_err(|_| {
            err(
                format!("`{s}` is not a network"),
                Some(
                    "write an address and a prefix length, like \"192.168.1.0/24\" or \"fd00::/8\""
                        .into(),
                ),
            )
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_s {
            None => max,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().unwrap_or(u8::MAX)
            }
            Some(p) => {
                return Err(err(
                    format!("`{p}` is not a prefix length in `{s}`"),
                    Some(format!("the part after `/` is a number from 0 to {max}")),
                ));
            }
        };
        if prefix > max {
            return Err(err(
                format!("prefix /{prefix} is too long in `{s}`"),
                Some(format!(
                    "{} prefixes go from /0 to /{max}",
                    if max == 32 { "IPv4" } else { "IPv6" }
                )),
            ));
        }
        let net = IpNet { addr, prefix };
        let network = net.network();
        if network != addr {
            let host = IpNet { addr, prefix: max };
            return Err(err(
                format!("`{s}` has host bits set"),
                Some(format!(
                    "write the network `{}` (or `{host}` for one host)",
                    IpNet {
                        addr: network,
                        prefix
                    }
                )),
            ));
        }
        Ok(net)
    }

    /// The address with the host bits cleared.
    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask32(self.prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask128(self.prefix))),
        }
    }

    /// Whether `ip` is in this network. IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`, what a
    /// dual-stack socket reports) match IPv4 networks, and IPv4 addresses match the mapped range
    /// of an IPv6 network.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, *ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => v4_in(net, self.prefix, ip),
            (IpAddr::V4(net), IpAddr::V6(ip)) => ip
                .to_ipv4_mapped()
                .is_some_and(|ip| v4_in(net, self.prefix, ip)),
            (IpAddr::V6(net), IpAddr::V6(ip)) => v6_in(net, self.prefix, ip),
            (IpAddr::V6(net), IpAddr::V4(ip)) => v6_in(net, self.prefix, ip.to_ipv6_mapped()),
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p.min(32))),
    }
}

fn mask128(prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p => u128::MAX << (128 - u32::from(p.min(128))),
    }
}

fn v4_in(net: Ipv4Addr, prefix: u8, ip: Ipv4Addr) -> bool {
    let m = mask32(prefix);
    u32::from(net) & m == u32::from(ip) & m
}

fn v6_in(net: Ipv6Addr, prefix: u8, ip: Ipv6Addr) -> bool {
    let m = mask128(prefix);
    u128::from(net) & m == u128::from(ip) & m
}

impl FromStr for IpNet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IpNet::parse(s)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A password. `Debug` and `Display` print `<redacted>`, so a logged `Config` leaks nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself; call only where it is used (digest computation).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `server.log_level`; `RUST_LOG` overrides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub const ALL: [LogLevel; 5] = [
        LogLevel::Error,
        LogLevel::Warn,
        LogLevel::Info,
        LogLevel::Debug,
        LogLevel::Trace,
    ];

    /// The name as written in the config and understood by `tracing` filters.
    pub fn as_str(&self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

impl FromStr for LogLevel {
    type Err = String;
    /// Case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LogLevel::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown log level `{s}`"))
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses `"500ms"`, `"30s"`, `"10m"`, `"1h"` and sums such as `"1h30m"`.
/// Returns `(message, hint)` on error.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, (String, Option<String>)> {
    let bad = |hint: &str| (format!("`{s}` is not a duration"), Some(hint.to_string()));
    let units = "units are ms, s, m and h, like \"500ms\", \"30s\", \"10m\", \"1h\"";
    if s.is_empty() {
        return Err(bad(units));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(&format!(
            "add a unit: \"{s}s\", or write the number without quotes for seconds"
        )));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad(units));
        }
        let (num, tail) = rest.split_at(digits);
        let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(unit_len);
        let n: u64 = num.parse().map_err(|_| bad("the number is too large"))?;
        let part = match unit {
            "ms" => Some(Duration::from_millis(n)),
            "s" => Some(Duration::from_secs(n)),
            "m" => n.checked_mul(60).map(Duration::from_secs),
            "h" => n.checked_mul(3600).map(Duration::from_secs),
            _ => return Err(bad(units)),
        };
        total = part
            .and_then(|p| total.checked_add(p))
            .ok_or_else(|| bad("the duration is too large"))?;
        rest = tail;
    }
    Ok(total)
}

/// Renders a duration the way the config writes it (`500ms`, `30s`, `10m`, `1h`).
pub(crate) fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 != 0 || ms == 0 {
        if ms == 0 {
            "0s".into()
        } else {
            format!("{ms}ms")
        }
    } else {
        let s = ms / 1000;
        if s % 3600 == 0 {
            format!("{}h", s / 3600)
        } else if s % 60 == 0 {
            format!("{}m", s / 60)
        } else {
            format!("{s}s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipnet_parses_cidr_and_bare_addresses() {
        assert_eq!(
            IpNet::parse("192.168.1.0/24").unwrap(),
            IpNet {
                addr: ip("192.168.1.0"),
                prefix: 24
            }
        );
        assert_eq!(IpNet::parse("10.1.2.3").unwrap().prefix, 32);
        assert_eq!(IpNet::parse("fd00::/8").unwrap().prefix, 8);
        assert_eq!(IpNet::parse("::1").unwrap().prefix, 128);
        assert_eq!(IpNet::parse("0.0.0.0/0").unwrap().prefix, 0);
        assert_eq!(
            "127.0.0.0/8".parse::<IpNet>().unwrap().to_string(),
            "127.0.0.0/8"
        );
    }

    #[test]
    fn ipnet_rejects_host_bits_with_the_network_form_as_hint() {
        let e = IpNet::parse_detailed("10.0.0.1/8").unwrap_err();
        assert!(e.message.contains("host bits"), "{e:?}");
        assert!(e.hint.unwrap().contains("10.0.0.0/8"));
        assert!(
            IpNet::parse("10.0.0.1/8")
                .unwrap_err()
                .contains("10.0.0.0/8")
        );
    }

    #[test]
    fn ipnet_rejects_garbage() {
        for s in [
            "",
            "10.0.0.0/",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "host/8",
            "10.0.0.0/+8",
            "10.0.0.0/8/8",
        ] {
            assert!(IpNet::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn ipnet_contains_matches_prefix_and_mapped_addresses() {
        let net = IpNet::parse("192.168.1.0/24").unwrap();
        assert!(net.contains(&ip("192.168.1.200")));
        assert!(!net.contains(&ip("192.168.2.1")));
        assert!(net.contains(&ip("::ffff:192.168.1.7")));
        assert!(!net.contains(&ip("::1")));
        let all = IpNet::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(&ip("8.8.8.8")));
        let v6 = IpNet::parse("fd00::/8").unwrap();
        assert!(v6.contains(&ip("fd12::1")));
        assert!(!v6.contains(&ip("10.0.0.1")));
        let mapped = IpNet::parse("::ffff:10.0.0.0/104").unwrap();
        assert!(mapped.contains(&ip("10.9.9.9")));
    }

    #[test]
    fn secret_is_redacted_in_debug_and_display() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(s.to_string(), "<redacted>");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn log_level_round_trips_case_insensitively() {
        for l in LogLevel::ALL {
            assert_eq!(l.as_str().parse::<LogLevel>().unwrap(), l);
        }
        assert_eq!("INFO".parse::<LogLevel>().unwrap(), LogLevel::Info);
        assert!("verbose".parse::<LogLevel>().is_err());
    }

    #[test]
    fn durations_parse_units_and_sums() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
    }

    #[test]
    fn durations_reject_missing_or_unknown_units_with_hints() {
        let (_, hint) = parse_duration("30").unwrap_err();
        assert!(hint.unwrap().contains("\"30s\""));
        for s in [
            "",
            "5sec",
            "s",
            "1.5s",
            "-1s",
            "10 s",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(s).is_err(), "{s}");
        }
    }

    #[test]
    fn durations_format_back_in_config_syntax() {
        assert_eq!(fmt_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(fmt_duration(Duration::from_secs(30)), "30s");
        assert_eq!(fmt_duration(Duration::from_secs(600)), "10m");
        assert_eq!(fmt_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(fmt_duration(Duration::ZERO), "0s");
    }
}
