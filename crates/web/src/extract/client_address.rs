//! Where a request comes from: the socket peer, or what a trusted proxy says in
//! `X-Forwarded-For`; and its user agent.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header;
use slugbase_application::ClientInfo;

use super::state::AppState;

impl AppState {
    /// The client address (socket peer, or the right-most untrusted `X-Forwarded-For`
    /// entry when the peer is a trusted proxy) and the user agent.
    pub(crate) fn client(&self, req: &HttpRequest) -> ClientInfo {
        let peer = req.peer_addr().map(|a| a.ip());
        let address = peer.map(|peer| client_address(req, peer, &self.config.trusted_proxies));
        let ua = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok());
        ClientInfo::new(address.map(|a| a.to_string()), ua)
    }
}

/// The client behind `peer`: the peer itself unless it is a trusted proxy; then the
/// right-most `X-Forwarded-For` entry that is not a trusted proxy (entries further left
/// were written by the client and prove nothing), or the left-most one if all are trusted.
fn client_address(req: &HttpRequest, peer: IpAddr, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in req.headers().get_all("x-forwarded-for") {
        let Ok(value) = value.to_str() else { return peer };
        for part in value.split(',') {
            match parse_forwarded_ip(part) {
                Some(ip) => hops.push(ip),
                // A garbled chain cannot be trusted beyond the proxy itself.
                None => return peer,
            }
        }
    }
    let untrusted = hops.iter().rev().find(|ip| !trusted.contains(ip));
    untrusted.or_else(|| hops.first()).copied().unwrap_or(peer)
}

/// One entry of `X-Forwarded-For` (`1.2.3.4`, `2001:db8::1`, `[2001:db8::1]:443`,
/// `1.2.3.4:5678`).
fn parse_forwarded_ip(part: &str) -> Option<IpAddr> {
    let part = part.trim();
    if let Ok(ip) = part.parse() {
        return Some(ip);
    }
    if let Ok(sock) = part.parse::<std::net::SocketAddr>() {
        return Some(sock.ip());
    }
    part.strip_prefix('[').and_then(|p| p.strip_suffix(']')).and_then(|p| p.parse().ok())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
        let req = TestRequest::default()
            .insert_header(("X-Forwarded-For", "1.1.1.1, 203.0.113.9, 10.0.0.2"))
            .to_http_request();
        // From an untrusted peer the header is ignored.
        assert_eq!(client_address(&req, ip("192.0.2.7"), &trusted), ip("192.0.2.7"));
        // From a trusted one: the right-most entry that is not a trusted proxy.
        assert_eq!(client_address(&req, ip("10.0.0.1"), &trusted), ip("203.0.113.9"));
        // No header: the proxy itself.
        let bare = TestRequest::default().to_http_request();
        assert_eq!(client_address(&bare, ip("10.0.0.1"), &trusted), ip("10.0.0.1"));
        // A garbled chain: the proxy itself.
        let garbled = TestRequest::default()
            .insert_header(("X-Forwarded-For", "1.1.1.1, nonsense"))
            .to_http_request();
        assert_eq!(client_address(&garbled, ip("10.0.0.1"), &trusted), ip("10.0.0.1"));
        // Every hop trusted: the left-most.
        let inner = TestRequest::default()
            .insert_header(("X-Forwarded-For", "10.0.0.2, 10.0.0.1"))
            .to_http_request();
        assert_eq!(client_address(&inner, ip("10.0.0.1"), &trusted), ip("10.0.0.2"));
    }

    #[test]
    fn forwarded_entries_parse_with_or_without_ports() {
        assert_eq!(parse_forwarded_ip(" 10.0.0.1"), "10.0.0.1".parse().ok());
        assert_eq!(parse_forwarded_ip("10.0.0.1:80"), "10.0.0.1".parse().ok());
        assert_eq!(parse_forwarded_ip("[2001:db8::1]:443"), "2001:db8::1".parse().ok());
        assert_eq!(parse_forwarded_ip("[2001:db8::1]"), "2001:db8::1".parse().ok());
        assert_eq!(parse_forwarded_ip("unknown"), None);
    }
}
