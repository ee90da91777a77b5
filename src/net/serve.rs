//! An axum app served in the background on the shared runtime, until stopped: the call
//! server, the loopback carrier's REST API and the viewer start and stop the same way.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::runtime::runtime;

/// A bound port, not yet served.
pub struct Listener {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
}

impl Listener {
    /// Binds `addr` (port 0: any free port) now, so a busy port is an error before any
    /// serving starts.
    pub fn bind(addr: SocketAddr) -> io::Result<Listener> {
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let listener = {
            let _inside = runtime().enter();
            tokio::net::TcpListener::from_std(std_listener)?
        };
        Ok(Listener { listener, addr })
    }

    /// The address bound, with the port the system chose.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// What one server lets its clients hold.
#[derive(Clone, Copy)]
struct Limits {
    /// How long a client may take to send a request's head. Without it, half-sent heads
    /// held their sockets as long as the client liked (users expose the call server
    /// through a tunnel): 300 of them stopped `trialrun serve` answering webhooks.
    header_read_timeout: Duration,
    /// Most connections served at once; more wait in the listen backlog. Kept under the
    /// usual 1,024 descriptors, so that a flood cannot take the ones the process needs for
    /// files, its store and its own outgoing calls.
    max_connections: usize,
}

const LIMITS: Limits = Limits {
    header_read_timeout: Duration::from_secs(10),
    max_connections: 512,
};

/// Accepts connections until `stop` resolves, serving each with `app` (HTTP/1 and upgrades
/// to WebSocket), then lets the connections being served finish.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    stop: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            () = &mut stop => break,
            accepted = async {
                let slot = Arc::clone(&slots).acquire_owned().await.expect("never closed");
                (slot, listener.accept().await)
            } => accepted,
        };
        let (slot, tcp) = match accepted {
            (slot, Ok((tcp, _))) => (slot, tcp),
            (_, Err(_)) => {
                // Out of descriptors or a connection reset before accept: wait a moment
                // rather than spin on the same error.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Replies and media frames are small writes that must leave at once, not wait for
        // the peer's ACK (Nagle's algorithm).
        let _ = tcp.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(tcp), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// An app being served. Stopping (or dropping) it stops accepting connections, lets the
/// requests in flight finish for up to `grace`, then drops what is left, so the port is
/// released even when a client keeps its connection open.
pub struct Served {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    grace: Duration,
}

impl Served {
    pub fn start(listener: Listener, app: Router, grace: Duration) -> Served {
        Served::start_with(listener, app, grace, LIMITS)
    }

    fn start_with(listener: Listener, app: Router, grace: Duration, limits: Limits) -> Served {
        let Listener { listener, addr } = listener;
        let (stop, mut stopped) = watch::channel(false);
        let task = runtime().spawn(async move {
            accept_loop(listener, app, limits, async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })
            .await;
        });
        Served {
            addr,
            stop,
            task: Some(task),
            grace,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving. Outside the runtime this waits until the port is released; on one of
    /// its threads (which cannot block on its own tasks) the serving ends by itself.
    pub fn stop(&mut self) {
        self.stop.send_replace(true);
        let Some(mut task) = self.task.take() else {
            return;
        };
        let grace = self.grace;
        let ended = async move {
            if tokio::time::timeout(grace, &mut task).await.is_err() {
                task.abort();
                let _ = task.await;
            }
        };
        if tokio::runtime::Handle::try_current().is_err() {
            runtime().block_on(ended);
        } else {
            runtime().spawn(ended);
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_sent_heads_are_dropped_and_cannot_starve_real_requests() {
        let app = Router::new().route("/", axum::routing::get(|| async { "hello" }));
        let listener = Listener::bind((Ipv4Addr::LOCALHOST, 0).into()).unwrap();
        let limits = Limits {
            header_read_timeout: Duration::from_millis(300),
            max_connections: 8,
        };
        let served = Served::start_with(listener, app, Duration::from_secs(1), limits);
        let addr = served.addr();
        // Three times the connection cap, each stuck in the middle of its head.
        let mut stuck: Vec<TcpStream> = (0..24)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                    .unwrap();
                s
            })
            .collect();
        let started = std::time::Instant::now();
        let mut real = TcpStream::connect(addr).unwrap();
        real.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        real.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("hello"), "{answer}");
        // Three rounds of the cap timing out, and then some.
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        // The stuck ones were closed by the server (408 or a bare close), not kept.
        for s in &mut stuck {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut rest = Vec::new();
            match s.read_to_end(&mut rest) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
                Err(e) => panic!("a stuck connection was kept open: {e}"),
            }
            let text = String::from_utf8_lossy(&rest);
            assert!(
                text.is_empty() || text.starts_with("HTTP/1.1 408"),
                "{text}"
            );
        }
    }
    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, TcpStream};

    fn get(addr: SocketAddr) -> io::Result<String> {
        let mut stream = TcpStream::connect(addr)?;
        stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    }

    #[test]
    fn serves_until_stopped_then_releases_the_port_despite_an_idle_client() {
        let listener = Listener::bind((Ipv4Addr::LOCALHOST, 0).into()).unwrap();
        let addr = listener.addr();
        assert_ne!(addr.port(), 0);
        let app = Router::new().route("/", axum::routing::get(|| async { "hello" }));
        let mut served = Served::start(listener, app, Duration::from_millis(200));
        assert!(get(addr).unwrap().ends_with("hello"));
        // A client that keeps a connection open must not hold the port past the grace.
        let idle = TcpStream::connect(addr).unwrap();
        served.stop();
        assert!(get(addr).is_err(), "still serving after stop");
        std::net::TcpListener::bind(addr).expect("the port is released");
        drop(idle);
    }

    #[test]
    fn a_busy_port_is_an_error_at_bind() {
        let first = Listener::bind((Ipv4Addr::LOCALHOST, 0).into()).unwrap();
        let error = Listener::bind(first.addr())
            .err()
            .expect("the port is taken");
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
    }
}
