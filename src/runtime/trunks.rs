//! Trunk host names → addresses, for the engine (`Input::TrunkAddress`).
//!
//! At start every trunk is resolved once (IP literals need no lookup); host names are looked
//! up again every [`REFRESH`], and the engine hears about it only when the answer changes.
//! Our address towards a provider is the UDP socket of the provider's address family; when
//! that socket listens on a wildcard address, the kernel's choice of source address for the
//! provider (a connected UDP socket, no packet sent) goes into Via and Contact.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::sync::mpsc;

use super::Event;
use crate::core::Input;
use crate::trunk::TrunksConfig;

/// How often host names are looked up again.
const REFRESH: Duration = Duration::from_secs(300);

/// Resolves every trunk now and sends the results; keeps refreshing host names.
pub(crate) fn spawn(
    cfg: &TrunksConfig,
    udp: Vec<SocketAddr>,
    tcp: Vec<SocketAddr>,
    tx: mpsc::Sender<Event>,
) {
    let trunks: Vec<(String, String, u16, bool, bool)> = cfg
        .trunks
        .values()
        .map(|t| {
            (
                t.name.clone(),
                t.host.clone(),
                t.port,
                t.literal_addr().is_some(),
                t.transport.is_reliable(),
            )
        })
        .collect();
    if trunks.is_empty() {
        return;
    }
    tokio::spawn(async move {
        let mut last: HashMap<String, Vec<SocketAddr>> = HashMap::new();
        loop {
            for (name, host, port, _, over_tcp) in &trunks {
                let remote = resolve(host, *port).await;
                if last.get(name) == Some(&remote) {
                    continue;
                }
                let socks = if *over_tcp { &tcp } else { &udp };
                let local = remote.first().and_then(|r| local_towards(socks, *r));
                if local.is_none() && !remote.is_empty() {
                    let t = if *over_tcp { "tcp" } else { "udp" };
                    tracing::warn!(trunk = %name, "no {t} listen address for this trunk ([server] {t}); the trunk is not used");
                }
                if remote.is_empty() {
                    tracing::warn!(trunk = %name, host = %host, "trunk host name does not resolve; retrying in 5 min");
                } else {
                    tracing::info!(trunk = %name, address = %remote[0], "trunk address");
                }
                last.insert(name.clone(), remote.clone());
                let input = Input::TrunkAddress {
                    trunk: name.clone(),
                    remote,
                    local,
                };
                if tx.send(Event::Input(input)).await.is_err() {
                    return;
                }
            }
            if trunks.iter().all(|t| t.3) {
                return;
            }
            tokio::time::sleep(REFRESH).await;
        }
    });
}

async fn resolve(host: &str, port: u16) -> Vec<SocketAddr> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = h.parse::<IpAddr>() {
        return vec![SocketAddr::new(ip, port)];
    }
    match tokio::net::lookup_host((h, port)).await {
        Ok(addrs) => {
            let mut v: Vec<SocketAddr> = addrs.collect();
            // IPv4 first: most providers and NATs are happier with it.
            v.sort_by_key(|a| a.is_ipv6());
            v
        }
        Err(e) => {
            tracing::debug!(host, error = %e, "lookup failed");
            Vec::new()
        }
    }
}

/// Our socket address (UDP, or the TCP listener whose address goes into Contact) as the provider at `remote` will see it.
fn local_towards(udp: &[SocketAddr], remote: SocketAddr) -> Option<SocketAddr> {
    let sock = udp
        .iter()
        .find(|a| a.is_ipv4() == remote.is_ipv4())
        .or_else(|| udp.first())?;
    if !sock.ip().is_unspecified() {
        return Some(*sock);
    }
    let any: SocketAddr = if remote.is_ipv4() {
        "0.0.0.0:0".parse().ok()?
    } else {
        "[::]:0".parse().ok()?
    };
    let probe = std::net::UdpSocket::bind(any).ok()?;
    probe.connect(remote).ok()?;
    let ip = probe.local_addr().ok()?.ip();
    Some(SocketAddr::new(ip, sock.port()))
}
