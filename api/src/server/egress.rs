//! Outbound requests to tenant-chosen URLs (webhooks) must not reach the service's own network:
//! a tenant admin could otherwise point a webhook at `http://127.0.0.1:8080/...`, a cloud
//! metadata endpoint or a database on the private network (server-side request forgery).
//!
//! Two checks, because a host name can resolve differently later than when it was registered:
//! literal addresses are refused when the webhook is created, and the sender's DNS resolver
//! ([`PublicOnlyResolver`]) drops private addresses at connection time.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

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
        || (segments[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (segments[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (segments[0] & 0xff00) == 0xff00 // multicast
        || (segments[0] == 0x2001 && segments[1] == 0x0db8); // documentation
    !reserved
}

/// The host part of an `http(s)://` URL, without port, user info or IPv6 brackets.
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    if let Some(bracketed) = host_port.strip_prefix('[') {
        return bracketed.split(']').next();
    }
    host_port.split(':').next().filter(|h| !h.is_empty())
}

/// Why `url` may not be a webhook target, when private targets are not allowed: a literal
/// non-public address or `localhost`. Names are checked again when they are resolved.
pub fn refuse_private_target(url: &str) -> Option<String> {
    let host = url_host(url)?;
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return Some(format!("webhook host {host:?} is this machine"));
    }
    match host.parse::<IpAddr>() {
        Ok(ip) if !is_public_ip(ip) => Some(format!("webhook address {ip} is not a public address")),
        _ => None,
    }
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
    fn literal_private_targets_are_refused() {
        assert!(refuse_private_target("http://127.0.0.1:8080/v1/calls").is_some());
        assert!(refuse_private_target("http://[::1]/x").is_some());
        assert!(refuse_private_target("https://user@10.0.0.5/x").is_some());
        assert!(refuse_private_target("http://LOCALHOST/x").is_some());
        assert!(refuse_private_target("http://169.254.169.254/latest/meta-data").is_some());
        assert_eq!(refuse_private_target("https://hooks.example.com/callsight?x=1"), None);
        assert_eq!(refuse_private_target("https://8.8.8.8/x"), None);
    }

    #[tokio::test]
    async fn resolver_drops_loopback_names() {
        let result = PublicOnlyResolver.resolve("localhost".parse().expect("name")).await;
        assert!(result.is_err(), "localhost resolves only to loopback addresses");
    }
}
