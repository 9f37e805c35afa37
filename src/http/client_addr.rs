//! Who the client is: the peer's address, or, when the peer is one of the `trusted_proxies`, the
//! address the proxy says it forwarded for. Limits, logs and audit all use this one.
//!
//! The forwarding header is a list that each proxy appends to, so only its right-hand end can
//! be believed: the right-most entry was written by the trusted peer itself, and each entry to
//! its left is believed only while the entry to its right is another trusted proxy. The first
//! address from the right that is not a trusted proxy is the client; anything a client wrote
//! itself sits further left and is never read.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, StatusCode};

use crate::config::ForwardedHeader;
use crate::http::AppState;

/// The client's address, as far as it can be known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Worked out once per request by `request_id`, which every route is behind.
        if let Some(origin) = parts.extensions.get::<crate::origin::Origin>() {
            return Ok(ClientAddr(origin.client_addr));
        }
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
            .ok_or((StatusCode::INTERNAL_SERVER_ERROR, "no peer address"))?;
        Ok(ClientAddr(client_addr(
            peer.ip(),
            &parts.headers,
            &state.config.trusted_proxies,
            state.config.forwarded_header,
        )))
    }
}

/// Reads a forwarding header's value into the addresses it lists (`None` for an unreadable one).
type HopParser = fn(&str) -> Vec<Option<IpAddr>>;

/// The client behind `peer`; `peer` itself unless it is trusted and its header says more.
pub fn client_addr(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[ipnet::IpNet],
    header: ForwardedHeader,
) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(&ip));
    if !is_trusted(peer) {
        return peer;
    }
    let (name, parse): (HeaderName, HopParser) = match header {
        ForwardedHeader::XForwardedFor => {
            (HeaderName::from_static("x-forwarded-for"), x_forwarded_for)
        }
        ForwardedHeader::Forwarded => (HeaderName::from_static("forwarded"), forwarded_for),
    };
    // Several header lines are one list, in order (RFC 9110 §5.3).
    let mut hops: Vec<Option<IpAddr>> = Vec::new();
    for value in headers.get_all(&name) {
        match value.to_str() {
            Ok(v) => hops.extend(parse(v)),
            // Not text: nothing in it can be read, so nothing past it can be believed.
            Err(_) => hops.push(None),
        }
    }
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        match hop {
            Some(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            // An entry that is not an address ("unknown", an obfuscated name): who sent it to
            // the last trusted hop is not known, so that hop is the client as far as we know.
            None => break,
        }
    }
    client
}

/// Whether the request reached us over https: only a trusted proxy can say so (this server
/// speaks plain http), in `X-Forwarded-Proto` or, with `forwarded_header = "forwarded"`, in the
/// `proto` of `Forwarded`; the right-most value, the one the proxy wrote, is believed.
pub fn forwarded_https(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[ipnet::IpNet],
    header: ForwardedHeader,
) -> bool {
    let peer = canonical(peer);
    if !trusted.iter().any(|net| net.contains(&peer)) {
        return false;
    }
    let name = match header {
        ForwardedHeader::XForwardedFor => "x-forwarded-proto",
        ForwardedHeader::Forwarded => "forwarded",
    };
    let last = headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .rfind(|entry| !entry.trim().is_empty());
    let proto = match header {
        ForwardedHeader::XForwardedFor => last.map(str::trim),
        ForwardedHeader::Forwarded => last.and_then(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("proto")
                    .then(|| value.trim().trim_matches('"'))
            })
        }),
    };
    proto.is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// IPv4 peers of a dual-stack listener arrive as `::ffff:a.b.c.d`; compare them as IPv4.
pub(super) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// An address as a proxy writes it: bare, `[v6]`, with or without a port.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim().trim_matches('"');
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(addr) = raw.parse::<SocketAddr>() {
        return Some(canonical(addr.ip()));
    }
    // `[2001:db8::1]` without a port.
    raw.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|r| r.parse::<IpAddr>().ok())
        .map(canonical)
}

/// `X-Forwarded-For: client, proxy1, proxy2`.
fn x_forwarded_for(value: &str) -> Vec<Option<IpAddr>> {
    value
        .split(',')
        .filter(|hop| !hop.trim().is_empty())
        .map(parse_node)
        .collect()
}

/// RFC 7239 §4: `Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8::1]:47"`.
/// An element without `for` says nothing about who sent it: it reads as an unknown hop.
fn forwarded_for(value: &str) -> Vec<Option<IpAddr>> {
    value
        .split(',')
        .filter(|element| !element.trim().is_empty())
        .map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| parse_node(value))
            })?
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<ipnet::IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn with(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(name, v.parse().unwrap());
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const XFF: ForwardedHeader = ForwardedHeader::XForwardedFor;

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let headers = with("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(
            client_addr(ip("198.51.100.1"), &headers, &[], XFF),
            ip("198.51.100.1")
        );
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_addr(ip("198.51.100.1"), &headers, &trusted, XFF),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        let trusted = nets(&["10.0.0.0/8"]);
        // The client forged the first entry; the proxy appended the address it saw.
        let headers = with("x-forwarded-for", &["192.0.2.1, 203.0.113.9"]);
        assert_eq!(
            client_addr(ip("10.0.0.2"), &headers, &trusted, XFF),
            ip("203.0.113.9")
        );
        // Two proxies of ours: the address the outer one saw.
        let headers = with("x-forwarded-for", &["192.0.2.1, 203.0.113.9, 10.0.0.7"]);
        assert_eq!(
            client_addr(ip("10.0.0.2"), &headers, &trusted, XFF),
            ip("203.0.113.9")
        );
        // Several header lines are one list.
        let headers = with("x-forwarded-for", &["192.0.2.1", "203.0.113.9, 10.0.0.7"]);
        assert_eq!(
            client_addr(ip("10.0.0.2"), &headers, &trusted, XFF),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn without_a_usable_header_the_trusted_peer_is_the_client() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_addr(ip("10.0.0.2"), &HeaderMap::new(), &trusted, XFF),
            ip("10.0.0.2")
        );
        let headers = with("x-forwarded-for", &["203.0.113.9, unknown"]);
        assert_eq!(
            client_addr(ip("10.0.0.2"), &headers, &trusted, XFF),
            ip("10.0.0.2")
        );
        // Every hop is ours: the left-most is as far as anyone knows.
        let headers = with("x-forwarded-for", &["10.1.1.1, 10.0.0.7"]);
        assert_eq!(
            client_addr(ip("10.0.0.2"), &headers, &trusted, XFF),
            ip("10.1.1.1")
        );
    }

    #[test]
    fn the_forwarded_header_is_read_only_when_configured() {
        let trusted = nets(&["10.0.0.0/8", "fd00::/8"]);
        let headers = with(
            "forwarded",
            &["for=192.0.2.1;proto=https, for=\"[2001:db8:cafe::17]:4711\";by=10.0.0.2"],
        );
        assert_eq!(
            client_addr(
                ip("fd00::1"),
                &headers,
                &trusted,
                ForwardedHeader::Forwarded
            ),
            ip("2001:db8:cafe::17")
        );
        // A proxy that sets X-Forwarded-For passes a client's own `Forwarded` through.
        assert_eq!(
            client_addr(ip("10.0.0.2"), &headers, &trusted, XFF),
            ip("10.0.0.2")
        );
        let headers = with("forwarded", &["for=_hidden, for=203.0.113.4:80"]);
        assert_eq!(
            client_addr(
                ip("10.0.0.2"),
                &headers,
                &trusted,
                ForwardedHeader::Forwarded
            ),
            ip("203.0.113.4")
        );
    }

    #[test]
    fn mapped_ipv4_peers_match_ipv4_networks() {
        let trusted = nets(&["127.0.0.1/32"]);
        let headers = with("x-forwarded-for", &["203.0.113.9"]);
        assert_eq!(
            client_addr(ip("::ffff:127.0.0.1"), &headers, &trusted, XFF),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn only_a_trusted_proxy_says_a_request_came_over_https() {
        let trusted = nets(&["10.0.0.0/8"]);
        let proto = with("x-forwarded-proto", &["https"]);
        assert!(forwarded_https(ip("10.0.0.2"), &proto, &trusted, XFF));
        assert!(!forwarded_https(ip("198.51.100.1"), &proto, &trusted, XFF));
        assert!(!forwarded_https(
            ip("10.0.0.2"),
            &HeaderMap::new(),
            &trusted,
            XFF
        ));
        let plain = with("x-forwarded-proto", &["https, http"]);
        assert!(!forwarded_https(ip("10.0.0.2"), &plain, &trusted, XFF));
        let forwarded = with(
            "forwarded",
            &["for=192.0.2.1;proto=http, for=10.0.0.9;proto=https"],
        );
        assert!(forwarded_https(
            ip("10.0.0.2"),
            &forwarded,
            &trusted,
            ForwardedHeader::Forwarded
        ));
        // The header not configured is not read.
        assert!(!forwarded_https(ip("10.0.0.2"), &forwarded, &trusted, XFF));
    }
}
