//! Outbound requests to tenant-chosen URLs (webhooks) must not reach the service's own network:
//! a tenant admin could otherwise point a webhook at `http://127.0.0.1:8080/...`, a cloud
//! metadata endpoint or a database on the private network (server-side request forgery).
//!
//! The checks judge what the HTTP client will actually do, never a second reading of the text:
//! - [`check_webhook_url`] parses with the client's own URL parser ([`reqwest::Url`], WHATWG
//!   rules), so `http://127.1/`, `http://2130706433/`, `http://0x7f000001/`, `http://0177.0.0.1/`,
//!   `http://0/`, `http://127.0.0.1%2e/`, full-width or circled digits and `\` in the authority all
//!   come out as the address the client would connect to. It runs when a webhook is created
//!   (422) and again before every delivery.
//! - [`PublicOnlyResolver`] drops private addresses when a name is resolved at connection time
//!   (a name may resolve differently later than when it was registered).
//! - [`PublicPeerLayer`] wraps the client's connector and refuses every connection whose peer
//!   address (the socket actually connected) is not public, before a byte of the request is
//!   written; it holds whatever the URL or the resolver said.
//!
//! The webhook client also follows no redirects and uses no proxy ([`webhook_client`]).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::connect::{Connection, HttpInfo};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Whether `ip` is reachable on the public internet (not loopback, private, link-local,
/// carrier-grade NAT, multicast, documentation or otherwise reserved).
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let reserved = a == 0 // "this network"
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, cloud metadata endpoints
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224; // multicast, reserved 240/4, broadcast
    !reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [_, _, _, _, _, _, hi, lo] = segments;
        return is_public_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    let reserved = ip.is_unspecified()
        || ip.is_loopback()
        || segments[..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible ::/96 (deprecated)
        || (segments[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (segments[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (segments[0] & 0xff00) == 0xff00 // multicast
        || (segments[0] == 0x2001 && segments[1] == 0x0db8); // documentation
    !reserved
}

/// Why `url` may not be a webhook target, or the parsed URL. Parsed exactly as the sender's
/// HTTP client parses it; with `allow_private_targets` only the form is checked (http(s), a
/// host, no user info), otherwise the host must also be a public address or a name other than
/// `localhost` (names are checked again, address by address, when they are resolved).
pub fn check_webhook_url(url: &str, allow_private_targets: bool) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|error| format!("not a valid URL ({error})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("scheme {:?} is not http or https", parsed.scheme()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("webhook URLs may not carry user info (`user@`); put credentials in the path or use the signature".into());
    }
    let Some(host) = parsed.host_str().filter(|host| !host.is_empty()) else {
        return Err("the URL has no host".into());
    };
    if allow_private_targets {
        return Ok(parsed);
    }
    // The parser has already turned every IPv4 spelling into dotted decimal and put IPv6 in
    // brackets; a host that still is not an address is a DNS name.
    let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    match literal.parse::<IpAddr>() {
        Ok(ip) if !is_public_ip(ip) => Err(format!("address {ip} is not a public address")),
        Ok(_) => Ok(parsed),
        Err(_) => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            if name == "localhost" || name.ends_with(".localhost") {
                Err(format!("host {host:?} is this machine"))
            } else {
                Ok(parsed)
            }
        }
    }
}

/// The HTTP client that sends webhooks: no redirects (a receiver could redirect to an internal
/// address), no proxy (the proxy would make the connection, unchecked), and unless
/// `allow_private_targets`, the [`PublicOnlyResolver`] and the [`PublicPeerLayer`].
pub fn webhook_client(request_timeout: Duration, allow_private_targets: bool) -> reqwest::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .timeout(request_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent("callsight-webhooks/1");
    if allow_private_targets {
        return builder.build();
    }
    builder.dns_resolver(std::sync::Arc::new(PublicOnlyResolver)).connector_layer(PublicPeerLayer).build()
}

/// A DNS resolver that keeps only public addresses, so a name cannot lead the sender into the
/// private network. Fails the lookup when no public address remains.
#[derive(Debug, Default)]
pub struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            // Port 0: the client puts the URL's port in afterwards.
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = addresses.into_iter().filter(|a| is_public_ip(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// A connector layer for the webhook client: every new connection's peer address (the socket
/// actually connected, after the client's own URL parsing and name resolution) must be public,
/// or the connection is dropped before the request is written. Also holds for IP-literal hosts,
/// which never reach a resolver.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicPeerLayer;

impl<S> tower::Layer<S> for PublicPeerLayer {
    type Service = PublicPeerConnector<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PublicPeerConnector { inner }
    }
}

/// The connector [`PublicPeerLayer`] makes.
#[derive(Debug, Clone)]
pub struct PublicPeerConnector<S> {
    inner: S,
}

impl<S, Target> tower::Service<Target> for PublicPeerConnector<S>
where
    S: tower::Service<Target>,
    S::Response: Connection + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, target: Target) -> Self::Future {
        let connecting = self.inner.call(target);
        Box::pin(async move {
            let connection = connecting.await.map_err(Into::into)?;
            let mut extensions = axum::http::Extensions::new();
            connection.connected().get_extras(&mut extensions);
            match extensions.get::<HttpInfo>().map(HttpInfo::remote_addr) {
                Some(peer) if is_public_ip(peer.ip()) => Ok(connection),
                Some(peer) => Err(format!("refused to send to {peer}: not a public address").into()),
                None => Err("refused to send: the connection's peer address is unknown".into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_reserved_addresses_are_not_public() {
        for text in [
            "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
            "224.0.0.1", "255.255.255.255", "::1", "::", "fd00::1", "fe80::1", "::ffff:127.0.0.1", "64:ff9b::a00:1",
        ] {
            let ip: IpAddr = text.parse().expect("address");
            assert!(!is_public_ip(ip), "{text} must not count as public");
        }
        for text in ["8.8.8.8", "1.1.1.1", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            let ip: IpAddr = text.parse().expect("address");
            assert!(is_public_ip(ip), "{text} is public");
        }
    }

    #[test]
    fn every_spelling_of_a_private_address_is_refused() {
        for url in [
            "http://127.0.0.1:8080/v1/calls",
            "http://127.1:9/",
            "http://2130706433:9/",
            "http://0x7f000001:9/",
            "http://0177.0.0.1:9/",
            "http://0:9/",
            "http://127.0.0.1%2e:9/",
            "http://\u{2460}\u{2461}\u{2466}.0.0.1:9/",
            "http://\u{ff11}\u{ff12}\u{ff17}.0.0.1:9/",
            "http://x@127.0.0.1:9\\@8.8.8.8/k",
            "http://127.0.0.1:9\\@8.8.8.8/k",
            "http://[::1]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://[::ffff:7f00:1]/x",
            "http://[::127.0.0.1]/x",
            "http://[fe80::1]/x",
            "http://[fd00::1]/x",
            "https://10.0.0.5/x",
            "http://172.16.3.4/x",
            "http://192.168.1.1/x",
            "http://100.64.0.1/x",
            "http://169.254.169.254/latest/meta-data",
            "http://LOCALHOST/x",
            "http://localhost./x",
            "http://api.localhost/x",
        ] {
            assert!(check_webhook_url(url, false).is_err(), "{url} must be refused");
            assert!(check_webhook_url(url, true).is_ok() || url.contains('@'), "{url} is allowed with private targets");
        }
        for url in ["https://hooks.example.com/callsight?x=1", "https://8.8.8.8/x", "http://[2606:4700::1111]/x"] {
            assert!(check_webhook_url(url, false).is_ok(), "{url} is public");
        }
        for url in ["ftp://8.8.8.8/x", "https://user:pw@hooks.example.com/x", "http://", "not a url"] {
            assert!(check_webhook_url(url, true).is_err(), "{url} is not a webhook URL");
        }
    }

    #[tokio::test]
    async fn resolver_drops_loopback_names() {
        let result = PublicOnlyResolver.resolve("localhost".parse().expect("name")).await;
        assert!(result.is_err(), "localhost resolves only to loopback addresses");
    }
}
