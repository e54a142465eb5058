//! The peers whose word on a client's address is taken: gateways, load
//! balancers, ingresses (`--trusted-proxies`). From any other peer a PROXY
//! protocol header or a `Forwarded` / `X-Forwarded-For` header changes nothing.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// Address ranges of trusted proxies; empty: trust nobody (the default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

/// A `--trusted-proxies` entry that is neither an address nor a CIDR range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry:?} is not an IP address or CIDR range (like 10.0.0.0/8 or 192.0.2.7)")]
pub struct BadTrustedProxy {
    /// The entry as given.
    pub entry: String,
}

impl TrustedProxies {
    /// Nobody is trusted.
    pub fn none() -> TrustedProxies {
        TrustedProxies::default()
    }

    /// Whether no range is configured.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `ip` (an IPv4-mapped IPv6 address counts as its IPv4 one) is in a trusted range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(&ip))
    }
}

impl FromStr for TrustedProxies {
    type Err = BadTrustedProxy;

    /// Comma-separated ranges (`10.0.0.0/8, 192.0.2.7, fd00::/8`); a bare address is a range of one.
    fn from_str(list: &str) -> Result<TrustedProxies, BadTrustedProxy> {
        let mut nets = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let net = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| BadTrustedProxy {
                    entry: entry.to_owned(),
                })?;
            nets.push(net.trunc());
        }
        Ok(TrustedProxies { nets })
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.nets.iter().map(IpNet::to_string).collect();
        f.write_str(&list.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_and_bare_addresses_are_trusted_and_nothing_else() {
        let trusted: TrustedProxies = "10.0.0.0/8, 192.0.2.7,fd00::/8".parse().unwrap();
        assert!(trusted.contains(ip("10.200.3.4")));
        assert!(trusted.contains(ip("192.0.2.7")));
        assert!(trusted.contains(ip("fd00::1")));
        assert!(!trusted.contains(ip("192.0.2.8")));
        assert!(!trusted.contains(ip("11.0.0.1")));
        assert!(!trusted.contains(ip("fe80::1")));
    }

    #[test]
    fn an_ipv4_mapped_peer_is_its_ipv4_address() {
        let trusted: TrustedProxies = "127.0.0.1".parse().unwrap();
        assert!(trusted.contains(ip("::ffff:127.0.0.1")));
    }

    #[test]
    fn a_bad_entry_is_refused_by_name_and_empty_trusts_nobody() {
        assert_eq!(
            "10.0.0.0/8,gateway".parse::<TrustedProxies>(),
            Err(BadTrustedProxy {
                entry: "gateway".into()
            })
        );
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        let nobody: TrustedProxies = "".parse().unwrap();
        assert!(nobody.is_empty() && !nobody.contains(ip("127.0.0.1")));
    }
}
