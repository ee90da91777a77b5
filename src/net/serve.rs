//! An axum app served in the background on the shared runtime, until stopped: the call
//! server, the loopback carrier's REST API and the viewer start and stop the same way.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::serve::ListenerExt;
use axum::Router;
use tokio::sync::watch;
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
        let Listener { listener, addr } = listener;
        let (stop, mut stopped) = watch::channel(false);
        let task = runtime().spawn(async move {
            // Replies and media frames are small writes that must leave at once, not wait
            // for the peer's ACK (Nagle's algorithm).
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            });
            let _ = serve.await;
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
