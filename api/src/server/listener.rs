//! The HTTP listener: accepts TCP connections and serves the API over HTTP/1.1 with the limits
//! that a server facing careless or hostile clients needs and `axum::serve` does not set:
//!
//! - a **header-read timeout**: a client must send a request's whole head (request line and
//!   headers) within [`ConnectionLimits::header_read_timeout`] of starting it, and an idle
//!   keep-alive connection is closed after the same time; a client that sends one header line
//!   every few seconds is disconnected instead of holding a connection for minutes;
//! - a cap on **connections per peer address** ([`ConnectionLimits::max_connections_per_peer`]):
//!   one more is answered `503` with `Retry-After` and closed at once.
//!
//! Graceful shutdown as with `axum::serve`: no new connections once `shutdown` resolves, open
//! ones finish their requests; WebSocket upgrades work (the connection's slot is given back when
//! it is upgraded: live streams have their own limits, see [`super::streams`]). Each request
//! carries `ConnectInfo<SocketAddr>` of its peer.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// Per-connection limits of [`serve`].
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Longest time to receive a request's head, and to wait for the next request on an idle
    /// keep-alive connection.
    pub header_read_timeout: Duration,
    /// Most connections open at once from one peer IP address; 0 = no limit. Behind a reverse
    /// proxy every client has the proxy's address: raise it or set 0 there.
    pub max_connections_per_peer: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits { header_read_timeout: Duration::from_secs(10), max_connections_per_peer: 128 }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves and every open connection has
/// finished (upgraded connections are not waited for: their owners end them).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let peers = PeerConnections::default();
    // Connections wait for `signal` to close (graceful shutdown); the loop waits for `closed` to
    // lose its last receiver (every connection has ended).
    let (signal, signal_receiver) = watch::channel(());
    let signal = Arc::new(signal);
    let (closed, closed_receiver) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = peers.take(peer.ip(), limits.max_connections_per_peer) else {
            tracing::warn!(peer = %peer.ip(), limit = limits.max_connections_per_peer, "connection refused: too many from this address");
            refuse(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(move |mut request: axum::http::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request.map(axum::body::Body::new)
        });
        let signal = signal.clone();
        let closed_receiver = closed_receiver.clone();
        let header_read_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
            let connection =
                builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)).with_upgrades();
            tokio::pin!(connection);
            let mut shutting_down = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(%peer, %error, "connection ended with an error");
                        }
                        break;
                    }
                    () = signal.closed(), if !shutting_down => {
                        shutting_down = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(slot);
            drop(closed_receiver);
        });
    }
    drop(listener);
    drop(signal_receiver);
    drop(closed_receiver);
    closed.closed().await;
}

/// The answer to a connection over the per-peer cap, written without waiting (a new socket's
/// send buffer is empty) before the connection is closed.
const TOO_MANY_CONNECTIONS: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 5\r\nConnection: close\r\nContent-Length: 97\r\n\r\n{\"error\":{\"code\":\"too_many_connections\",\"message\":\"too many open connections from this address\"}}";

fn refuse(stream: TcpStream) {
    let _ = stream.try_write(TOO_MANY_CONNECTIONS);
    drop(stream);
}

/// Open connections per peer address.
#[derive(Clone, Default)]
struct PeerConnections {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One connection's place in [`PeerConnections`], given back when dropped.
struct PeerSlot {
    peers: PeerConnections,
    ip: IpAddr,
}

impl PeerConnections {
    fn take(&self, ip: IpAddr, limit: usize) -> Option<PeerSlot> {
        // A poisoned lock only means a thread panicked mid-update; the counts are still usable.
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = open.entry(ip).or_insert(0);
        if limit > 0 && *count >= limit {
            return None;
        }
        *count += 1;
        Some(PeerSlot { peers: self.clone(), ip })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.peers.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_complete_http_response() {
        let text = std::str::from_utf8(TOO_MANY_CONNECTIONS).expect("ascii");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("Content-Length: "))
            .and_then(|n| n.parse().ok())
            .expect("content length");
        assert_eq!(body.len(), length);
        let json: serde_json::Value = serde_json::from_str(body).expect("json body");
        assert_eq!(json["error"]["code"], "too_many_connections");
    }

    #[test]
    fn slots_are_counted_per_address_and_given_back() {
        let peers = PeerConnections::default();
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        let first = peers.take(a, 2).expect("first");
        let _second = peers.take(a, 2).expect("second");
        assert!(peers.take(a, 2).is_none(), "a third from the same address is refused");
        assert!(peers.take(b, 2).is_some(), "another address has its own count");
        drop(first);
        assert!(peers.take(a, 2).is_some(), "a closed connection gives its slot back");
        let unlimited: Vec<_> = (0..1000).filter_map(|_| peers.take(b, 0)).collect();
        assert_eq!(unlimited.len(), 1000, "0 means no limit");
    }
}
