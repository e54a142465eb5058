//! Who a connection's client is: the peer itself, or, from a trusted proxy
//! only, the client its PROXY header or forwarding header names.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

use crate::forwarded::{ForwardedHeader, client_ip};
use crate::trusted::TrustedProxies;

/// The client's address, in each request's extensions (set by [`serve()`](crate::serve())):
/// the peer's, or the one a trusted proxy named. Per-IP caps, logs and the
/// connection span use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// Where a connection's client address comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientSource {
    /// Known for the whole connection: the peer, or a PROXY header's client.
    Fixed(IpAddr),
    /// A trusted HTTP proxy: each request's forwarding header says.
    Forwarded { peer: IpAddr, header: ForwardedHeader },
}

impl ClientSource {
    /// The source for a connection from `peer`; `proxy_client` is what a PROXY
    /// header said (`Some(None)`: a header naming nobody; `None`: no header).
    /// Only a trusted peer is asked: from anyone else the peer is the client,
    /// whatever it sends.
    pub(crate) fn of(
        peer: IpAddr,
        trusted: &TrustedProxies,
        proxy_client: Option<Option<SocketAddr>>,
        header: ForwardedHeader,
    ) -> ClientSource {
        let peer = peer.to_canonical();
        if !trusted.contains(peer) {
            return ClientSource::Fixed(peer);
        }
        match proxy_client {
            Some(client) => ClientSource::Fixed(client.map_or(peer, |c| c.ip().to_canonical())),
            None => ClientSource::Forwarded { peer, header },
        }
    }

    /// The client of a request with `headers` on this connection.
    pub(crate) fn client(&self, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
        match *self {
            ClientSource::Fixed(ip) => ip,
            ClientSource::Forwarded { peer, header } => client_ip(headers, header, peer, trusted),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forged() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.66"));
        h.insert("forwarded", HeaderValue::from_static("for=203.0.113.66"));
        h
    }

    #[test]
    fn from_an_untrusted_peer_neither_a_proxy_header_nor_a_forwarding_header_changes_the_client() {
        let trusted: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        for header in [ForwardedHeader::XForwardedFor, ForwardedHeader::Forwarded] {
            for proxy in [None, Some(None), Some(Some("203.0.113.66:4000".parse().unwrap()))] {
                let source = ClientSource::of(ip("198.51.100.7"), &trusted, proxy, header);
                assert_eq!(source.client(&forged(), &trusted), ip("198.51.100.7"));
            }
        }
        // Trusting nobody (the default) is the same for every peer.
        let nobody = TrustedProxies::none();
        let source = ClientSource::of(ip("10.0.0.2"), &nobody, None, ForwardedHeader::XForwardedFor);
        assert_eq!(source.client(&forged(), &nobody), ip("10.0.0.2"));
    }

    #[test]
    fn from_a_trusted_peer_the_proxy_header_wins_and_else_the_forwarding_header_counts() {
        let trusted: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let via_header = Some(Some("198.51.100.7:4000".parse().unwrap()));
        let source = ClientSource::of(
            ip("10.0.0.2"),
            &trusted,
            via_header,
            ForwardedHeader::XForwardedFor,
        );
        assert_eq!(source.client(&forged(), &trusted), ip("198.51.100.7"));
        let health_check = ClientSource::of(
            ip("10.0.0.2"),
            &trusted,
            Some(None),
            ForwardedHeader::XForwardedFor,
        );
        assert_eq!(health_check.client(&forged(), &trusted), ip("10.0.0.2"));
        let http_proxy = ClientSource::of(ip("10.0.0.2"), &trusted, None, ForwardedHeader::XForwardedFor);
        assert_eq!(http_proxy.client(&forged(), &trusted), ip("203.0.113.66"));
    }
}
