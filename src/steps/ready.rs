//! Readiness probes: a TCP connect, or an HTTP GET whose answer is 2xx or 3xx.
//! The GET is a dozen lines of HTTP/1.0 over a TcpStream: the crate has no HTTP client,
//! and one is not worth its weight for a status line on loopback.

use super::config::Ready;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// Ok when ready; Err with what was seen (for the timeout message).
pub fn probe(addr: SocketAddr, ready: &Ready) -> Result<(), String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, PROBE_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    let Ready::Http(path) = ready else {
        return Ok(());
    };
    let _ = stream.set_read_timeout(Some(PROBE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(PROBE_TIMEOUT));
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut head = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        match stream.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    let line = String::from_utf8_lossy(&head[..got]);
    let status: Option<u16> = line
        .strip_prefix("HTTP/")
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok());
    match status {
        Some(code) if (200..400).contains(&code) => Ok(()),
        Some(code) => Err(format!("answered {code}")),
        None => Err(format!(
            "not an HTTP answer: {:?}",
            line.lines().next().unwrap_or("")
        )),
    }
}
