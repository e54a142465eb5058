//! The PROXY protocol header (v1 text, v2 binary) a trusted gateway sends
//! before the HTTP request, naming the client it accepted the connection from.
//!
//! The header's syntax is `ppp`'s; what is ours is the framing around it: a
//! trusted peer may or may not send one (HAProxy's health checks do not unless
//! told to), so the first bytes decide, and a header must arrive whole, within
//! the header deadline and [`MAX_HEADER_BYTES`], or the connection is closed.

use std::net::SocketAddr;
use std::time::Duration;

use ppp::{HeaderResult, PartialResult, v1, v2};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The v2 header's first 12 bytes.
const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";
/// The v1 header's first bytes.
const V1_PREFIX: &[u8] = b"PROXY ";
/// v1 lines are at most 107 bytes (the specification's worst case).
const V1_MAX_BYTES: usize = 107;
/// Longest v2 header we read (16 bytes plus addresses and TLVs); HAProxy's
/// `send-proxy-v2` sends 28 (IPv4) or 52 (IPv6) without options.
pub(crate) const MAX_HEADER_BYTES: usize = 1024;

/// What the first bytes of a connection from a trusted peer are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// Too few bytes to tell yet.
    Incomplete,
    /// Not a PROXY header: the HTTP request starts at byte 0.
    NotProxy,
    /// A whole header of `len` bytes; `client` is `None` for a header that
    /// names no client (v2 LOCAL, as health checks send; v1 UNKNOWN).
    Header { len: usize, client: Option<SocketAddr> },
    /// A PROXY header that can never be valid, whatever follows.
    Malformed(String),
}

/// Classify the bytes read so far.
pub(crate) fn parse(buf: &[u8]) -> Parsed {
    let v2 = could_be(buf, V2_SIGNATURE);
    let v1 = could_be(buf, V1_PREFIX);
    if !v1 && !v2 {
        return Parsed::NotProxy;
    }
    if buf.len() < V1_PREFIX.len().min(V2_SIGNATURE.len()) || (v2 && buf.len() < V2_SIGNATURE.len()) {
        return Parsed::Incomplete;
    }
    if v2 {
        return parse_v2(buf);
    }
    parse_v1(buf)
}

/// `buf` and `prefix` agree on their common length.
fn could_be(buf: &[u8], prefix: &[u8]) -> bool {
    let n = buf.len().min(prefix.len());
    buf[..n] == prefix[..n]
}

fn parse_v2(buf: &[u8]) -> Parsed {
    // Bytes 14-15 give the length: refuse an oversized header before waiting for it.
    if buf.len() >= 16 {
        let declared = 16 + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
        if declared > MAX_HEADER_BYTES {
            return Parsed::Malformed(format!(
                "v2 header of {declared} bytes (at most {MAX_HEADER_BYTES})"
            ));
        }
    }
    match HeaderResult::parse(buf) {
        HeaderResult::V2(Ok(header)) => {
            let client = match (header.command, header.addresses) {
                (v2::Command::Local, _) => None,
                (v2::Command::Proxy, v2::Addresses::IPv4(a)) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                (v2::Command::Proxy, v2::Addresses::IPv6(a)) => {
                    Some(SocketAddr::from((a.source_address, a.source_port)))
                }
                (v2::Command::Proxy, v2::Addresses::Unspecified | v2::Addresses::Unix(_)) => None,
            };
            Parsed::Header {
                len: header.len(),
                client,
            }
        }
        HeaderResult::V2(Err(e)) if e.is_incomplete() => Parsed::Incomplete,
        HeaderResult::V2(Err(e)) => Parsed::Malformed(format!("v2: {e}")),
        // `HeaderResult` falls back to v1 when v2 fails outright.
        HeaderResult::V1(_) => Parsed::Malformed("v2 signature with a bad header".to_owned()),
    }
}

fn parse_v1(buf: &[u8]) -> Parsed {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        if buf.len() >= V1_MAX_BYTES {
            return Parsed::Malformed(format!("v1 line longer than {V1_MAX_BYTES} bytes"));
        }
        return Parsed::Incomplete;
    };
    let line = &buf[..end + 2];
    if line.len() > V1_MAX_BYTES {
        return Parsed::Malformed(format!("v1 line longer than {V1_MAX_BYTES} bytes"));
    }
    // The line is whole here: whatever ppp calls missing is missing for good.
    match v1::Header::try_from(line) {
        Ok(header) => {
            let client = match header.addresses {
                v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
                v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
                v1::Addresses::Unknown => None,
            };
            Parsed::Header {
                len: line.len(),
                client,
            }
        }
        Err(e) => Parsed::Malformed(format!("v1: {e}")),
    }
}

/// Why a connection from a trusted peer was closed before its request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyHeaderError {
    /// The header did not arrive whole in time.
    #[error("no whole PROXY header within {0:?}")]
    Timeout(Duration),
    /// The peer closed before the header was whole.
    #[error("connection closed inside the PROXY header")]
    Truncated,
    /// The header is not valid.
    #[error("malformed PROXY header: {0}")]
    Malformed(String),
    /// Reading failed.
    #[error("reading the PROXY header: {0}")]
    Io(#[from] std::io::Error),
}

/// What was read from a trusted peer before HTTP.
#[derive(Debug)]
pub(crate) struct Preface {
    /// The client the header names (`None`: no header, or one naming nobody).
    pub client: Option<SocketAddr>,
    /// Whether a PROXY header was there.
    pub had_header: bool,
    /// Bytes read past the header: the start of the HTTP request.
    pub rest: Vec<u8>,
}

/// Read a PROXY header, if the connection starts with one, within `deadline`.
pub(crate) async fn read_preface<S: AsyncRead + Unpin>(
    stream: &mut S,
    deadline: Duration,
) -> Result<Preface, ProxyHeaderError> {
    let read = async {
        let mut buf = Vec::with_capacity(256);
        let mut chunk = [0u8; 512];
        loop {
            match parse(&buf) {
                Parsed::NotProxy if !buf.is_empty() => {
                    return Ok(Preface {
                        client: None,
                        had_header: false,
                        rest: buf,
                    });
                }
                Parsed::Header { len, client } => {
                    return Ok(Preface {
                        client,
                        had_header: true,
                        rest: buf.split_off(len),
                    });
                }
                Parsed::Malformed(reason) => return Err(ProxyHeaderError::Malformed(reason)),
                Parsed::NotProxy | Parsed::Incomplete => {}
            }
            // Bounded: `parse` decides (header or malformed) by MAX_HEADER_BYTES.
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                if buf.is_empty() {
                    // Closed before sending anything: nothing to serve, nothing wrong.
                    return Ok(Preface {
                        client: None,
                        had_header: false,
                        rest: buf,
                    });
                }
                return Err(ProxyHeaderError::Truncated);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(deadline, read)
        .await
        .map_err(|_| ProxyHeaderError::Timeout(deadline))?
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTTP: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

    fn v2_ipv4(command: u8, source: [u8; 4], port: u16) -> Vec<u8> {
        let mut header = V2_SIGNATURE.to_vec();
        header.push(0x20 | command); // version 2, LOCAL (0) or PROXY (1)
        header.push(0x11); // IPv4, stream
        header.extend_from_slice(&12u16.to_be_bytes());
        header.extend_from_slice(&source);
        header.extend_from_slice(&[10, 0, 0, 1]);
        header.extend_from_slice(&port.to_be_bytes());
        header.extend_from_slice(&8210u16.to_be_bytes());
        header
    }

    #[test]
    fn v1_tcp4_and_tcp6_name_the_client_and_leave_the_request() {
        let line = b"PROXY TCP4 203.0.113.9 10.0.0.1 51000 8210\r\n";
        let input = [line.as_slice(), HTTP].concat();
        assert_eq!(
            parse(&input),
            Parsed::Header {
                len: line.len(),
                client: Some("203.0.113.9:51000".parse().unwrap())
            }
        );
        let line6 = b"PROXY TCP6 2001:db8::9 2001:db8::1 51000 8210\r\n";
        assert_eq!(
            parse(line6),
            Parsed::Header {
                len: line6.len(),
                client: Some("[2001:db8::9]:51000".parse().unwrap())
            }
        );
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n"),
            Parsed::Header {
                len: 15,
                client: None
            }
        );
    }

    #[test]
    fn v2_proxy_names_the_client_and_local_names_nobody() {
        let header = v2_ipv4(1, [198, 51, 100, 4], 40000);
        let input = [header.as_slice(), HTTP].concat();
        assert_eq!(
            parse(&input),
            Parsed::Header {
                len: 28,
                client: Some("198.51.100.4:40000".parse().unwrap())
            }
        );
        assert_eq!(
            parse(&v2_ipv4(0, [198, 51, 100, 4], 40000)),
            Parsed::Header {
                len: 28,
                client: None
            }
        );
    }

    #[test]
    fn a_plain_request_is_not_a_header_from_its_first_differing_byte() {
        assert_eq!(parse(HTTP), Parsed::NotProxy);
        assert_eq!(parse(b"G"), Parsed::NotProxy);
        assert_eq!(parse(b"PR"), Parsed::Incomplete);
        assert_eq!(parse(b"PRX"), Parsed::NotProxy);
        assert_eq!(parse(b"\r\n\r\n"), Parsed::Incomplete);
        assert_eq!(parse(b"\r\n\r\nGET"), Parsed::NotProxy);
    }

    #[test]
    fn truncated_headers_wait_for_more_bytes() {
        let line = b"PROXY TCP4 203.0.113.9 10.0.0.1 51000 8210\r\n";
        for cut in 1..line.len() {
            assert_eq!(parse(&line[..cut]), Parsed::Incomplete, "v1 cut at {cut}");
        }
        let header = v2_ipv4(1, [198, 51, 100, 4], 40000);
        for cut in 1..header.len() {
            assert_eq!(parse(&header[..cut]), Parsed::Incomplete, "v2 cut at {cut}");
        }
    }

    #[test]
    fn malformed_headers_are_refused_without_waiting() {
        for bad in [
            b"PROXY TCP4 203.0.113.9\r\n".as_slice(),
            b"PROXY TCP4 999.0.113.9 10.0.0.1 51000 8210\r\n",
            b"PROXY TCP4 203.0.113.9 10.0.0.1 99999 8210\r\n",
            b"PROXY SCTP 203.0.113.9 10.0.0.1 51000 8210\r\n",
        ] {
            assert!(
                matches!(parse(bad), Parsed::Malformed(_)),
                "{:?}: {:?}",
                String::from_utf8_lossy(bad),
                parse(bad)
            );
        }
        let endless = [b"PROXY TCP4 ".as_slice(), &[b'1'; 120]].concat();
        assert!(matches!(parse(&endless), Parsed::Malformed(_)));
        let mut bad_version = v2_ipv4(1, [1, 2, 3, 4], 1);
        bad_version[12] = 0x31;
        assert!(matches!(parse(&bad_version), Parsed::Malformed(_)));
        let mut huge = v2_ipv4(1, [1, 2, 3, 4], 1);
        huge[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
        assert!(matches!(parse(&huge), Parsed::Malformed(_)));
    }

    #[tokio::test]
    async fn read_preface_keeps_the_bytes_after_the_header_and_refuses_a_cut_one() {
        let header = v2_ipv4(1, [198, 51, 100, 4], 40000);
        let input = [header.as_slice(), HTTP].concat();
        let preface = read_preface(&mut input.as_slice(), Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(preface.client, Some("198.51.100.4:40000".parse().unwrap()));
        assert_eq!(preface.rest, HTTP);

        let plain = read_preface(&mut HTTP.to_vec().as_slice(), Duration::from_secs(1))
            .await
            .unwrap();
        assert!(!plain.had_header && plain.client.is_none());
        assert_eq!(plain.rest, HTTP);

        let cut = read_preface(&mut &header[..20], Duration::from_secs(1)).await;
        assert!(matches!(cut, Err(ProxyHeaderError::Truncated)), "{cut:?}");
    }

    #[tokio::test]
    async fn a_header_that_stops_arriving_times_out() {
        let (mut client, mut server) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut client, b"PROXY TCP4 1.2")
            .await
            .unwrap();
        let read = read_preface(&mut server, Duration::from_millis(100)).await;
        assert!(matches!(read, Err(ProxyHeaderError::Timeout(_))), "{read:?}");
        drop(client);
    }
}
