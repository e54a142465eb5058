//! The client's address from `X-Forwarded-For` or `Forwarded` (RFC 7239),
//! for gateways that speak HTTP to us instead of sending a PROXY header.
//!
//! Each proxy appends the address it accepted the connection from, so the
//! list is only as true as its right end: we walk it from the right, starting
//! at the peer (a trusted proxy), and the client is the first address that is
//! not itself a trusted proxy (nginx's `real_ip_recursive on`). Anything left
//! of that was written by the client and is ignored. Our own parser: both
//! headers are a few lines of syntax and the walk is the point.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

use crate::trusted::TrustedProxies;

/// Which header a trusted HTTP proxy writes the client's address into. Only
/// that one is read: a client could send the other one itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1` (HAProxy's `option forwardfor`, nginx, most balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

/// The client address of a request that came from the trusted proxy `peer`.
/// Falls back to `peer` when the header is missing, and stops at the first
/// entry it cannot read (`unknown`, an obfuscated name, garbage): nothing
/// left of it can be trusted.
pub(crate) fn client_ip(
    headers: &HeaderMap,
    which: ForwardedHeader,
    peer: IpAddr,
    trusted: &TrustedProxies,
) -> IpAddr {
    let name = match which {
        ForwardedHeader::XForwardedFor => "x-forwarded-for",
        ForwardedHeader::Forwarded => "forwarded",
    };
    // Repeated headers are one list, in order (RFC 9110 §5.3).
    let mut entries: Vec<&str> = Vec::new();
    for value in headers.get_all(name) {
        let Ok(value) = value.to_str() else {
            return peer;
        };
        entries.extend(split_list(value));
    }
    let mut client = peer;
    for entry in entries.iter().rev() {
        let address = match which {
            ForwardedHeader::XForwardedFor => parse_node(entry),
            ForwardedHeader::Forwarded => forwarded_for(entry).and_then(parse_node),
        };
        let Some(address) = address else { break };
        client = address;
        if !trusted.contains(address) {
            break;
        }
    }
    client.to_canonical()
}

/// Comma-separated elements, commas inside a quoted string kept.
fn split_list(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim());
    parts.retain(|p| !p.is_empty());
    parts
}

/// The `for=` value of one `Forwarded` element (`for=1.2.3.4;proto=https`), unquoted.
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim().trim_matches('"'))
    })
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:5678`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    node.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(name, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn trusted() -> TrustedProxies {
        "10.0.0.0/8".parse().unwrap()
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client_and_what_the_client_wrote_is_not() {
        // The client forged 6.6.6.6; the edge proxy appended the client's real address.
        let h = headers("x-forwarded-for", &["6.6.6.6, 198.51.100.7, 10.1.1.1"]);
        let client = client_ip(&h, ForwardedHeader::XForwardedFor, ip("10.0.0.2"), &trusted());
        assert_eq!(client, ip("198.51.100.7"));
    }

    #[test]
    fn repeated_headers_are_one_list_and_ports_and_brackets_are_read() {
        let h = headers("x-forwarded-for", &["6.6.6.6", "[2001:db8::7]:443"]);
        assert_eq!(
            client_ip(&h, ForwardedHeader::XForwardedFor, ip("10.0.0.2"), &trusted()),
            ip("2001:db8::7")
        );
        let h = headers("x-forwarded-for", &["198.51.100.7:51000"]);
        assert_eq!(
            client_ip(&h, ForwardedHeader::XForwardedFor, ip("10.0.0.2"), &trusted()),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn forwarded_for_is_read_with_quotes_ports_and_other_parameters() {
        let h = headers(
            "forwarded",
            &[r#"for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, For=10.2.2.2;by=10.0.0.2"#],
        );
        assert_eq!(
            client_ip(&h, ForwardedHeader::Forwarded, ip("10.0.0.2"), &trusted()),
            ip("2001:db8:cafe::17")
        );
    }

    #[test]
    fn only_the_configured_header_counts() {
        let mut h = headers("forwarded", &["for=198.51.100.7"]);
        h.append("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        let peer = ip("10.0.0.2");
        assert_eq!(
            client_ip(&h, ForwardedHeader::XForwardedFor, peer, &trusted()),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(&h, ForwardedHeader::Forwarded, peer, &trusted()),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn an_unreadable_entry_stops_the_walk_at_the_last_address_read() {
        let h = headers("x-forwarded-for", &["198.51.100.7, garbage, 10.1.1.1"]);
        assert_eq!(
            client_ip(&h, ForwardedHeader::XForwardedFor, ip("10.0.0.2"), &trusted()),
            ip("10.1.1.1")
        );
        let h = headers("forwarded", &["for=198.51.100.7, for=unknown"]);
        assert_eq!(
            client_ip(&h, ForwardedHeader::Forwarded, ip("10.0.0.2"), &trusted()),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_ip(
                &HeaderMap::new(),
                ForwardedHeader::XForwardedFor,
                ip("10.0.0.2"),
                &trusted()
            ),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn a_list_of_trusted_hops_only_ends_at_its_left_most_address() {
        let h = headers("x-forwarded-for", &["10.3.3.3, 10.1.1.1"]);
        assert_eq!(
            client_ip(&h, ForwardedHeader::XForwardedFor, ip("10.0.0.2"), &trusted()),
            ip("10.3.3.3")
        );
    }
}
