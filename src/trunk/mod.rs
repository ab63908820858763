//! Trunks to the outside world: providers (ITSPs) and gateways, outbound routes, classes of
//! service and toll-fraud limits, from `trunks.toml`.
//!
//! # Contract
//!
//! - No IO and no clock (layering rule 1): registration and health checks are state machines
//!   driven with `now` ([`register`], [`health`]); host names are resolved by the runtime,
//!   which hands the addresses in.
//! - [`route::plan_outbound`] is pure: (dialled number, the caller's class, the config) →
//!   the number to send and the ordered trunks to try, or why the call is refused.
//! - Without `trunks.toml` there are no trunks and no routes: calls stay inside the PBX, and
//!   an `outbound` dial-plan action answers 404.
//!
//! # Syntax (`trunks.toml`)
//!
//! ```toml
//! [numbering]                      # how to turn dialled numbers into E.164
//! country = "49"                   # country code, digits only
//! area = "30"                      # area code for local numbers (optional)
//! national_prefix = "0"            # trunk prefix of national numbers (default "0")
//! international_prefix = "00"      # (default "00")
//!
//! [defaults]
//! class = "national"               # extensions without `class`: internal | local | national
//!                                  # | international | premium (international is denied
//!                                  # unless given)
//!
//! [limits]                         # toll-fraud protection
//! per_extension = 2                # concurrent outbound calls of one extension
//! total = 10                       # concurrent outbound calls in all
//!
//! [emergency]                      # always allowed, never limited, whatever the class
//! numbers = ["112", "110"]
//! trunks = ["provider"]
//!
//! [trunk.provider]
//! host = "sip.provider.example"    # IP or host name
//! # port = 5060
//! # transport = "udp"             # or "tcp"
//! # domain = "provider.example"    # SIP domain in URIs (default: host)
//! username = "4930123450"
//! password = "secret"
//! # auth_username = "..."          # if different from username
//! register = true                  # register Zvon to the provider
//! # expires = "10m"                # registration expiry requested
//! # retry = "30s"                  # first retry after a failure; doubles up to retry_max
//! # retry_max = "10m"
//! # inbound_from = ["192.0.2.0/24"]  # addresses allowed to send calls (IP authentication);
//!                                  # default: the provider's own address
//! context = "from-provider"        # dial-plan context of inbound calls
//! did = "request-uri"              # where the DID is: request-uri | to
//! max_channels = 30                # concurrent calls through the trunk (0 = no limit)
//! caller_id = "+4930123450"        # company number
//! # from_user = "4930123450"       # From user of outbound calls (default: the caller ID)
//! # pai = true                     # send P-Asserted-Identity with the caller ID
//! # number_format = "e164"         # e164 (+4930...) | no-plus (4930...) | national (030...)
//! # qualify = "30s"                # OPTIONS health check interval ("0s" = off)
//! # qualify_failures = 3           # misses before the trunk counts as down
//!
//! [trunk.backup]                   # a gateway that authenticates Zvon by its address
//! host = "192.0.2.10"
//! inbound_from = ["192.0.2.0/24"]
//! context = "from-provider"
//!
//! [[route]]
//! name = "national"
//! match = ["_0Z."]                 # dial-plan patterns of the dialled number
//! # strip = 0                      # digits removed from the front
//! # prepend = ""                   # then put in front
//! e164 = true                      # then normalise with [numbering]
//! trunks = ["provider", "backup"]  # tried in order on 5xx, timeout, channel limit
//! class = "national"               # local | national | international | premium
//! caller_id = "extension"          # extension | company | "+4930123459"
//! ```

pub mod config;
pub mod health;
pub mod register;
pub mod route;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::config::{IpNet, Secret};
use crate::dialplan::{Pattern, Spot};
use crate::sip::Transport;

/// Everything in `trunks.toml`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrunksConfig {
    /// By name.
    pub trunks: BTreeMap<String, Trunk>,
    /// In file order; the first whose pattern matches the dialled number decides.
    pub routes: Vec<OutRoute>,
    pub numbering: Numbering,
    /// The class of extensions that set none.
    pub default_class: Class,
    pub limits: Limits,
    pub emergency: Emergency,
}

/// `[trunk.NAME]`: one provider or gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct Trunk {
    pub name: String,
    /// IP literal or host name (resolved by the runtime).
    pub host: String,
    pub port: u16,
    pub transport: Transport,
    /// The provider's SIP domain, used in Request-URIs, To and From (default: `host`).
    pub domain: String,
    /// Account: the user part of the registration and of digest credentials.
    pub username: Option<String>,
    /// Digest user name when it differs from `username`.
    pub auth_username: Option<String>,
    pub password: Option<Secret>,
    /// Register to the provider.
    pub register: bool,
    /// Registration expiry requested.
    pub expires: Duration,
    /// First retry after a failed registration; doubles up to `retry_max`.
    pub retry: Duration,
    pub retry_max: Duration,
    /// Networks allowed to send calls (IP authentication); empty = the provider's resolved
    /// address.
    pub inbound_from: Vec<IpNet>,
    /// Dial-plan context where inbound calls start.
    pub context: String,
    /// Where the DID of an inbound call is read.
    pub did: DidSource,
    /// Concurrent calls through the trunk; 0 = no limit.
    pub max_channels: u32,
    /// The company number (caller ID policy `company`, and the fallback of `extension`).
    pub caller_id: Option<String>,
    /// From user of outbound calls; default the presented caller ID.
    pub from_user: Option<String>,
    /// Send P-Asserted-Identity with the presented caller ID.
    pub pai: bool,
    /// How E.164 numbers are written to this provider.
    pub number_format: NumberFormat,
    /// OPTIONS interval; zero = no health checks.
    pub qualify: Duration,
    /// Unanswered OPTIONS in a row before the trunk counts as down.
    pub qualify_failures: u32,
    /// The `[trunk.NAME]` header.
    pub at: Spot,
}

impl Trunk {
    /// The digest user name.
    pub fn auth_user(&self) -> Option<&str> {
        self.auth_username.as_deref().or(self.username.as_deref())
    }

    /// The host as an address, when it is an IP literal.
    pub fn literal_addr(&self) -> Option<SocketAddr> {
        let h = self.host.trim_start_matches('[').trim_end_matches(']');
        h.parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, self.port))
    }
}

/// Where an inbound call's DID is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DidSource {
    /// The Request-URI user (providers that send to the registered contact with the DID).
    #[default]
    RequestUri,
    /// The To user (providers that keep the account in the Request-URI).
    To,
}

/// How an E.164 number (`+4930123456`) is written on a trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NumberFormat {
    /// `+4930123456`
    #[default]
    E164,
    /// `4930123456`
    NoPlus,
    /// `030123456` in the home country, `0044...` abroad (with `[numbering]`).
    National,
}

/// `[numbering]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Numbering {
    /// Country code without `+` (empty: numbers are sent as dialled).
    pub country: String,
    /// Area code for local numbers (without the national prefix).
    pub area: Option<String>,
    pub national_prefix: String,
    pub international_prefix: String,
}

impl Default for Numbering {
    fn default() -> Self {
        Numbering {
            country: String::new(),
            area: None,
            national_prefix: "0".into(),
            international_prefix: "00".into(),
        }
    }
}

/// Classes of service, from the narrowest. An extension of a class may call routes of its
/// class and the ones below it; `Internal` calls no route at all (emergency numbers aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Class {
    Internal,
    Local,
    #[default]
    National,
    International,
    Premium,
}

impl Class {
    pub const ALL: &'static [(&'static str, Class)] = &[
        ("internal", Class::Internal),
        ("local", Class::Local),
        ("national", Class::National),
        ("international", Class::International),
        ("premium", Class::Premium),
    ];

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("", |(n, _)| n)
    }

    pub fn parse(s: &str) -> Option<Class> {
        Self::ALL.iter().find(|(n, _)| *n == s).map(|(_, c)| *c)
    }
}

/// `[limits]`: concurrent outbound calls (emergency calls are never limited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Per extension; 0 = no limit.
    pub per_extension: u32,
    /// In all; 0 = no limit.
    pub total: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_extension: 2,
            total: 0,
        }
    }
}

/// `[emergency]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Emergency {
    /// Dialled exactly.
    pub numbers: Vec<String>,
    /// Tried in order; empty = every trunk in name order.
    pub trunks: Vec<String>,
}

/// `[[route]]`: an outbound route.
#[derive(Debug, Clone, PartialEq)]
pub struct OutRoute {
    pub name: String,
    /// Any of them may match the dialled number.
    pub patterns: Vec<Pattern>,
    /// Digits removed from the front.
    pub strip: usize,
    /// Then put in front.
    pub prepend: String,
    /// Then normalised to E.164 with `[numbering]`.
    pub e164: bool,
    /// Tried in order.
    pub trunks: Vec<String>,
    /// The class an extension needs.
    pub class: Class,
    pub caller_id: CallerIdPolicy,
    /// The `name` key.
    pub at: Spot,
}

/// The caller ID a route presents.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CallerIdPolicy {
    /// The extension's `caller_id` (its DID), else the trunk's company number.
    #[default]
    Extension,
    /// The trunk's company number.
    Company,
    /// This number.
    Number(String),
}
